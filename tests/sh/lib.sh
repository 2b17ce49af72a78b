# lib.sh — helpers shared by the shell tests: a temp dir, assertions, a pass/fail tally that
# ends with the plain "N passed, N failed" line.
set -euo pipefail
FERRY="${1:?usage: $0 PATH_TO_FERRY}"
T="$(mktemp -d)"
trap 'rm -rf "$T"' EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok - $*"; }
fail() { failed=$((failed + 1)); echo "FAIL - $*"; }
check() { # check NAME EXPECTED ACTUAL
	if [ "$2" = "$3" ]; then ok "$1"; else fail "$1: expected [$2], got [$3]"; fi
}
finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
}
# until_go FILE: a shell command (for sh -c, as in FERRY_FAULT=exec-after-commit:N:CMD) that
# waits until FILE exists, at most a minute: a paused process or an open transaction that the
# test lets go of with `touch FILE` once it has checked what it must, however slow the machine.
until_go() { printf "for i in \$(seq 1 1200); do [ -e '%s' ] && break; sleep 0.05; done" "$1"; }
# await_go FILE: the same wait here (e.g. in a holder's { echo BEGIN; ...; echo COMMIT; } | psql).
await_go() { sh -c "$(until_go "$1")"; }
# Rows of table $2 in db $1 not in table $4 of db $3 (both directions) plus the counts.
same_rows() {
	sqlite3 "$1" "ATTACH '$3' AS o;
		SELECT (SELECT count(*) FROM main.\"$2\") || ' ' || (SELECT count(*) FROM o.\"$4\") || ' ' ||
		(SELECT count(*) FROM (SELECT * FROM main.\"$2\" EXCEPT SELECT * FROM o.\"$4\")) || ' ' ||
		(SELECT count(*) FROM (SELECT * FROM o.\"$4\" EXCEPT SELECT * FROM main.\"$2\"));"
}
# vj ARGS...: run ferry verify --json ARGS; print "exit=N", then for each table that differs
# "TABLE mMISSING eEXTRA dDIFFERENT [counts] [kind:key/column=expected>target,...]" (sorted)
vj() {
	set +e
	"$FERRY" verify --json "$@" > v.json 2> v.err
	local code=$?
	set -e
	python3 - "$code" <<'PY'
import json, sys
code = sys.argv[1]
try:
    r = json.load(open("v.json"))
except Exception:
    print("exit=" + code, "no json:", open("v.err").read().strip()); sys.exit()
out = ["exit=" + code]
for t in r["tables"]:
    if t["ok"]:
        continue
    d = ",".join(sorted(x["kind"] + ":" + json.dumps(x["key"], sort_keys=True) +
                 ("".join("/" + c["column"] + "=" + json.dumps(c["expected"]) + ">" + json.dumps(c["target"])
                          for c in x.get("columns", []))) for x in t["differences"]))
    out.append("%s m%d e%d d%d%s [%s]" % (t["table"], t["missing"], t["extra"], t["different"],
               " counts" if t["counts_differ"] else "", d))
print(" ".join(out))
PY
}
# verify_people DB: the source of the verify tests: people (60 rows, a NULL note every third)
# and log (20 rows, no key, repeated rows).
verify_people() {
	sqlite3 "$1" <<'SQL'
CREATE TABLE people(id INTEGER PRIMARY KEY, name TEXT NOT NULL, note TEXT, score REAL, born TEXT);
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 60)
INSERT INTO people SELECT i, 'person ' || i, CASE WHEN i % 3 = 0 THEN NULL ELSE 'note ' || i END,
  i * 1.5, printf('19%02d-01-02 03:04:05', i) FROM s;
CREATE TABLE log(msg TEXT, n INTEGER);
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 20)
INSERT INTO log SELECT 'm' || (i % 7), i % 4 FROM s;
SQL
}
# resume_source DB PARENTS CHILDREN NOKEY: the source of the resume tests: parent, child
# (foreign key to parent, a REAL, NULL notes) and nokey (no key, repeated rows).
resume_source() {
	sqlite3 "$1" <<SQL
CREATE TABLE parent(id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE child(id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id), v REAL, note TEXT);
CREATE TABLE nokey(a INTEGER, b TEXT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $2)
INSERT INTO parent SELECT i, 'p' || i FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $3)
INSERT INTO child SELECT i, 1 + (i * 7919) % $2, i / 3.0, CASE WHEN i % 5 = 0 THEN NULL ELSE 'n' || i END FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $4)
INSERT INTO nokey SELECT i % 100, 'dup' FROM n;
CREATE UNIQUE INDEX parent_name ON parent(name);
SQL
}
