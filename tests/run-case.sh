#!/usr/bin/env bash
# run-case.sh FERRY CASE_DIR — run one golden end-to-end case and compare with its expected
# output. A case directory holds:
#   source*.sql    SQL that builds each source database (source.sql -> source.db, ...)
#   target.sql     optional SQL that builds the target before the run
#   plan.yaml      optional plan (paths relative to the case directory)
#   args           optional arguments for `ferry copy` (default: -p plan.yaml, or source.db target.db)
#   check.sql      queries run on target.db after the run (sqlite3, .mode quote is set)
#   expected       the expected output: exit code, error line, summary totals, check.sql output
# With FERRY_UPDATE_GOLDEN=1 the expected file is (re)written instead.
set -euo pipefail
ferry="$1"
case_dir="$(cd "$2" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -r "$case_dir"/. "$work"/
cd "$work"
for f in source*.sql; do
	[ -e "$f" ] || continue
	sqlite3 -bail "${f%.sql}.db" < "$f"
done
[ -f target.sql ] && sqlite3 -bail target.db < target.sql
if [ -f args ]; then
	read -r -a argv < args
elif [ -f plan.yaml ]; then
	argv=(-p plan.yaml)
else
	argv=(source.db target.db)
fi
set +e
"$ferry" copy --quiet --json "${argv[@]}" > out.json 2> err.txt
code=$?
set -e
{
	echo "exit: $code"
	grep '^ferry: ' err.txt | sed "s#$work/##g; s#$work#.#g" || true
	if [ -s out.json ]; then
		python3 - out.json <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
if "error" in s:  # a failure's --json object: the message is on stderr already
    sys.exit(0)
for t in s["tables"]:
    print("table %s <- %s: read %d written %d rejected %d skipped %d fk %d" % (
        t["target"], t["source"], t["read"], t["written"], t["rejected"], t["skipped"], t["fk_violations"]))
for n in s["notes"]:
    # A note is {code, table, column, message}: the message as the terminal shows it.
    assert set(n) == {"code", "table", "column", "message"}, n
    print("note:", n["message"])
PY
	fi
	if [ -f rejects.jsonl ]; then echo "rejects:"; cat rejects.jsonl; fi
	if [ -f target.db.rejects.jsonl ]; then echo "rejects:"; cat target.db.rejects.jsonl; fi
	if [ -f check.sql ] && [ -f target.db ]; then
		{ echo ".mode quote"; cat check.sql; } | sqlite3 -batch target.db 2>&1
	fi
} > actual 2>&1
if [ "${FERRY_UPDATE_GOLDEN:-0}" = 1 ]; then
	cp actual "$case_dir/expected"
	echo "updated $case_dir/expected"
	exit 0
fi
if ! diff -u "$case_dir/expected" actual; then
	echo "case $(basename "$case_dir"): output differs (FERRY_UPDATE_GOLDEN=1 rewrites it after review)" >&2
	echo "--- stderr ---" >&2; cat err.txt >&2
	exit 1
fi
echo "case $(basename "$case_dir"): ok"
