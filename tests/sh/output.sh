#!/usr/bin/env bash
# output.sh — what a run prints: the --json summary (per table and totals), one progress line
# per table on stderr when piped, silence with --quiet, and a private rejects file.
source "$(dirname "$0")/lib.sh"
cd "$T"

sqlite3 src.db <<'SQL'
CREATE TABLE a(id INTEGER PRIMARY KEY, v TEXT);
INSERT INTO a VALUES (1, 'one'), (2, 'two'), (3, 'three'), (4, 'four'), (5, 'five');
CREATE TABLE b(id INTEGER PRIMARY KEY, name TEXT);
INSERT INTO b VALUES (1, 'x'), (2, NULL), (3, 'z');
CREATE TABLE c(id INTEGER PRIMARY KEY);
SQL
cat > schema.sql <<'SQL'
CREATE TABLE a(id INTEGER PRIMARY KEY, v TEXT);
CREATE TABLE b(id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE c(id INTEGER PRIMARY KEY);
SQL
cat > plan.yaml <<'YAML'
source: src.db
target: dst.db
target_schema: schema.sql
max_rejects: 1
tables:
  - table: a
    where: "v NOT IN ('one', 'two')"
YAML

# --- --json -----------------------------------------------------------------------------------
set +e
"$FERRY" copy --json -p plan.yaml > out.json 2> err.txt
code=$?
set -e
check "json run: exit 0 (one reject allowed)" "0" "$code"
summary=$(python3 - out.json <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
rows = []
for t in sorted(s["tables"], key=lambda t: t["target"]):
    rows.append("%s:%d/%d/%d/%d" % (t["target"], t["read"], t["written"], t["rejected"], t["skipped"]))
tot = s["totals"]
rows.append("totals:%d/%d/%d/%d" % (tot["read"], tot["written"], tot["rejected"], tot["skipped"]))
sums = [sum(t[k] for t in s["tables"]) for k in ("read", "written", "rejected", "skipped")]
rows.append("sums-match:%s" % (sums == [tot["read"], tot["written"], tot["rejected"], tot["skipped"]]))
rows.append("arrived:%s" % s["all_rows_arrived"])
rows.append("complete:%s" % s["already_complete"])
rows.append("rejects:%s" % (s["rejects_file"] is not None))
print(" ".join(rows))
PY
)
check "json: per-table read/written/rejected/skipped and totals" \
	"a:5/3/0/2 b:3/2/1/0 c:0/0/0/0 totals:8/5/1/2 sums-match:True arrived:False complete:False rejects:True" "$summary"
check "json: stdout holds the JSON object only" "1" "$(python3 -c 'import json,sys; json.load(open(sys.argv[1])); print(1)' out.json 2>&1)"
check "rejects file: mode 0600" "600" "$(stat -c %a dst.db.rejects.jsonl)"
check "rejects file: one line, the row of b with key 2" "b {'id': 2}" \
	"$(python3 -c 'import json,sys; [print(r["table"], r["key"]) for r in map(json.loads, open(sys.argv[1]))]' dst.db.rejects.jsonl)"

# A finished run, run again: valid JSON that says so, and it changes nothing.
set +e
"$FERRY" copy --json --quiet -p plan.yaml > again.json 2> err2.txt
code=$?
set -e
check "json rerun: exit code" "0" "$code"
check "json rerun: already complete" "True" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["already_complete"])' again.json)"
check "json rerun: rows unchanged" "3 2 0" "$(sqlite3 dst.db 'SELECT (SELECT count(*) FROM a), (SELECT count(*) FROM b), (SELECT count(*) FROM c)' | tr '|' ' ')"

# --rejects FILE: the given path, also 0600, even with a permissive umask.
rm -f dst.db* custom-rejects.jsonl
set +e
(umask 000; "$FERRY" copy --quiet --rejects custom-rejects.jsonl -p plan.yaml > /dev/null 2>&1)
code=$?
set -e
check "--rejects FILE: exit code" "0" "$code"
check "--rejects FILE: mode 0600 under umask 000" "600" "$([ -f custom-rejects.jsonl ] && stat -c %a custom-rejects.jsonl)"
check "--rejects FILE: the default file is not written" "no" "$([ -e dst.db.rejects.jsonl ] && echo yes || echo no)"

# --- piped progress: one line per table, nothing on stdout ----------------------------------------
sqlite3 src2.db <<'SQL'
CREATE TABLE p(id INTEGER PRIMARY KEY, v TEXT);
CREATE TABLE q(id INTEGER PRIMARY KEY, v TEXT);
CREATE TABLE r(k TEXT, v TEXT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
INSERT INTO p SELECT i, 'p' || i FROM n;
INSERT INTO q VALUES (1, 'q');
INSERT INTO r VALUES ('a', 'b'), ('a', 'b');
SQL
set +e
"$FERRY" copy --chunk-rows 500 src2.db dst2.db > out2.txt 2> err2.txt
code=$?
set -e
check "piped: exit code" "0" "$code"
check "piped: stdout holds the summary table, with its total line" "total 3003 3003 0 0" "$(grep '^total ' out2.txt | tr -s ' ')"
check "piped: one stderr line per table" "3" "$(wc -l < err2.txt)"
for t in p q r; do
	check "piped: a line for $t" "1" "$(grep -c "^$t <- " err2.txt)"
done
grep -q '^p <- .*3000 rows' err2.txt && ok "piped: p's line counts its 3000 rows" || fail "piped: p's line counts its 3000 rows: $(cat err2.txt)"
if grep -q $'\r' err2.txt || grep -q $'\e\[' err2.txt; then
	fail "piped: no carriage returns or terminal escapes"
else
	ok "piped: no carriage returns or terminal escapes"
fi

# --- --quiet: nothing on stderr on success --------------------------------------------------------
set +e
"$FERRY" copy --quiet src2.db dst3.db > out3.txt 2> err3.txt
code=$?
set -e
check "--quiet: exit code" "0" "$code"
check "--quiet: stderr is empty" "" "$(cat err3.txt)"
check "--quiet: stdout is empty" "" "$(cat out3.txt)"
set +e
"$FERRY" copy -q --json src2.db dst4.db > out4.json 2> err4.txt
code=$?
set -e
check "-q --json: exit code" "0" "$code"
check "-q --json: stderr is empty" "" "$(cat err4.txt)"
check "-q --json: stdout is the summary" "3003" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["totals"]["written"])' out4.json)"

# --quiet also silences the notes of a successful run (they are in the --json summary).
sqlite3 dst5.db "CREATE TABLE q(id INTEGER PRIMARY KEY, v TEXT, extra TEXT DEFAULT 'e'); CREATE TABLE p(id INTEGER PRIMARY KEY); CREATE TABLE r(k TEXT, v TEXT);"
set +e
"$FERRY" copy --quiet --json src2.db dst5.db > out5.json 2> err5.txt
code=$?
set -e
check "--quiet with notes: exit code" "0" "$code"
check "--quiet with notes: stderr is empty" "" "$(cat err5.txt)"
check "--quiet with notes: the notes are in the JSON" "2" "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["notes"]))' out5.json)"
# Notes in --json are objects: a stable code, the target table and column they are about,
# and the message (they were free text), in copy's summary, a check's and verify's report.
notes_of() { # notes_of FILE [KEY]: code:table:column of each note, sorted
	python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
if len(sys.argv) > 2: d = d[sys.argv[2]]
ns = d["notes"]
assert all(set(n) == {"code", "table", "column", "message"} and n["message"] for n in ns), ns
print(" ".join(sorted("%s:%s:%s" % (n["code"], n["table"], n["column"]) for n in ns)))' "$@"
}
check "copy --json: notes are objects" "column_defaulted:q:extra column_not_in_target:p:v" "$(notes_of out5.json)"
sqlite3 dst6.db "CREATE TABLE q(id INTEGER PRIMARY KEY, v TEXT, extra TEXT DEFAULT 'e'); CREATE TABLE p(id INTEGER PRIMARY KEY); CREATE TABLE r(k TEXT, v TEXT);"
"$FERRY" copy --check --json src2.db dst6.db > out6.json 2> /dev/null
check "copy --check --json: notes are objects" "column_defaulted:q:extra column_not_in_target:p:v" "$(notes_of out6.json)"
set +e
"$FERRY" verify --json src2.db dst5.db > out7.json 2> /dev/null
set -e
check "verify --json: notes are objects" "column_defaulted:q:extra column_not_in_target:p:v" "$(notes_of out7.json)"
"$FERRY" copy -q --json --verify src2.db dst6.db > out8.json 2> /dev/null
check "copy --verify --json: the verify report's notes too" "column_defaulted:q:extra column_not_in_target:p:v" "$(notes_of out8.json verify)"

if grep -qE 'runtime error|AddressSanitizer|LeakSanitizer' err.txt err2.txt err3.txt err4.txt err5.txt; then
	fail "sanitizer report on stderr"
else
	ok "no sanitizer report"
fi
finish
