#!/usr/bin/env bash
# verify.sh — ferry verify on SQLite: a migration to a new schema version (rename, expression,
# filter, default, merge) verifies clean, sampled and full; each planted defect (a missing
# row, an extra row, one changed value, two values swapped, a duplicated row, a NULL turned
# into '') is found, with its key and columns; coverage rules apply in their documented
# order; a label verifies without its source; copy and import --verify put the verdict in
# their summary and in ferry_history.
source "$(dirname "$0")/lib.sh"
cd "$T"

verify_people src.db
sqlite3 src.db <<'SQL'
CREATE TABLE big(k TEXT PRIMARY KEY, v INTEGER);
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 2000)
INSERT INTO big SELECT 'key-' || i, i * i FROM s;
SQL
cat > schema.sql <<'SQL'
CREATE TABLE persons(id INTEGER PRIMARY KEY, full_name TEXT NOT NULL, note TEXT, double_score NUMERIC,
  born TIMESTAMP, status TEXT NOT NULL DEFAULT 'new', origin TEXT);
CREATE TABLE log(msg TEXT, n INTEGER);
CREATE TABLE big(k TEXT PRIMARY KEY, v INTEGER);
SQL
cat > plan.yaml <<'EOF2'
source: sqlite:src.db
target: sqlite:dst.db
target_schema: schema.sql
tables:
  - table: people
    rename: persons
    where: "id <= 50"
    columns:
      full_name: name
      double_score: { expr: "score * 2" }
      origin: { default: v1 }
EOF2

"$FERRY" copy -q -p plan.yaml > copy.out 2>&1 || { cat copy.out; fail "copy failed"; }
cp dst.db clean.db

check "a migration with rename, expression, filter and defaults verifies clean (sampled)" "exit=0" "$(vj -p plan.yaml)"
check "... and in full" "exit=0" "$(vj --full -p plan.yaml)"
"$FERRY" verify -p plan.yaml > text.out 2> /dev/null
check "the text report ends with the verdict" "verify: OK, 3 tables, 475 rows compared (sampled)" "$(tail -1 text.out)"
check "the column the target's default decides is named as not compared" \
	'persons: not compared (the target'"'"'s default decides): "status"' "$(grep 'not compared' text.out)"
check "a table without a key is matched by its rows" "log: no key; rows are matched by all their values" "$(grep 'no key' text.out)"

# plant DEFECT SQL: a fresh copy of the clean target with one defect
plant() {
	cp clean.db dst.db
	sqlite3 dst.db "$1"
}
for mode in sampled full; do
	f=""
	[ $mode = full ] && f="--full"
	plant "DELETE FROM persons WHERE id = 7"
	check "$mode: a missing row" 'exit=5 persons m1 e0 d0 counts [missing:{"id": 7}]' "$(vj $f -p plan.yaml)"
	plant "INSERT INTO persons(id, full_name) VALUES (99, 'intruder')"
	check "$mode: an extra row" 'exit=5 persons m0 e1 d0 counts [extra:{"id": 99}]' "$(vj $f -p plan.yaml)"
	plant "UPDATE persons SET double_score = 9.5 WHERE id = 3"
	check "$mode: one changed value" 'exit=5 persons m0 e0 d1 [different:{"id": 3}/double_score="9">"9.5"]' "$(vj $f -p plan.yaml)"
	plant "UPDATE persons SET full_name = CASE id WHEN 4 THEN 'person 5' ELSE 'person 4' END WHERE id IN (4, 5)"
	check "$mode: two values swapped between two rows" \
		'exit=5 persons m0 e0 d2 [different:{"id": 4}/full_name="person 4">"person 5",different:{"id": 5}/full_name="person 5">"person 4"]' \
		"$(vj $f -p plan.yaml)"
	plant "INSERT INTO log SELECT * FROM log WHERE rowid = 1"
	check "$mode: a duplicated row" 'exit=5 log m0 e1 d0 counts [duplicate:{"msg": "m1", "n": 1}]' "$(vj $f -p plan.yaml)"
	plant "UPDATE persons SET note = '' WHERE id = 6"
	check "$mode: a NULL turned into ''" 'exit=5 persons m0 e0 d1 [different:{"id": 6}/note=null>""]' "$(vj $f -p plan.yaml)"
done
# A row outside the 21% sample of big: the sample does not hold it, the count gives it away.
cp clean.db dst.db
plant "DELETE FROM big WHERE k = 'key-1' OR k = 'key-2' OR k = 'key-3' OR k = 'key-4' OR k = 'key-5'"
out=$(vj -p plan.yaml)
case "$out" in
"exit=5 big m"*" counts ["*) ok "sampled: rows deleted in and out of the sample are caught by the count" ;;
*) fail "sampled: deleted rows of big not caught: $out" ;;
esac
check "full: every one of them is listed" \
	'exit=5 big m5 e0 d0 counts [missing:{"k": "key-1"},missing:{"k": "key-2"},missing:{"k": "key-3"},missing:{"k": "key-4"},missing:{"k": "key-5"}]' \
	"$(vj --full -p plan.yaml)"

# Sampling is by key hash: the same rows every time, whatever the order on disk.
cp clean.db dst.db
a=$("$FERRY" verify --json -p plan.yaml | python3 -c 'import json,sys; print([t["compared"] for t in json.load(sys.stdin)["tables"]])')
b=$("$FERRY" verify --json -p plan.yaml | python3 -c 'import json,sys; print([t["compared"] for t in json.load(sys.stdin)["tables"]])')
check "the sample is the same on every run" "$a" "$b"

# Coverage rules: rules naming a table first, then rules by row count, each in the order
# written; the first match wins; the default where none matches.
cat plan.yaml > cov.yaml
cat >> cov.yaml <<'EOF2'
verify:
  - rows: { max: 1000 }
    percent: 50
  - table: persons
    percent: 100
  - rows: { min: 5000 }
    percent: 1
  - table: persons
    percent: 2
  - rows: { min: 0 }
    percent: 33.25
EOF2
check "coverage: the table rule before the row rules, the first match wins, then the row rules in order" \
	"persons 100 (rule at cov.yaml:15)|big 33.25 (rule at cov.yaml:21)|log 50 (rule at cov.yaml:13)" \
	"$("$FERRY" verify --json -p cov.yaml | python3 -c 'import json,sys; print("|".join("%s %g %s" % (t["table"], t["percent"], t["coverage"].split("% ",1)[1]) for t in json.load(sys.stdin)["tables"]))')"
cat plan.yaml > cov2.yaml
cat >> cov2.yaml <<'EOF2'
verify:
  - rows: { min: 10, max: 30 }
    percent: 7
EOF2
check "coverage: the defaults where no rule matches (100% up to 100 rows, 21% to 10,000)" \
	"persons 100 default for up to 100 rows)|big 21 default for 101-10,000 rows)|log 7 rule at cov2.yaml:13)" \
	"$("$FERRY" verify --json -p cov2.yaml | python3 -c 'import json,sys; print("|".join("%s %g %s" % (t["table"], t["percent"], t["coverage"].split("% (",1)[1]) for t in json.load(sys.stdin)["tables"]))')"

# Bad rules are refused with file:line:col.
printf 'verify:\n  - table: persons\n    percent: 101\n' >> bad1.yaml
cat plan.yaml bad1.yaml > bad.yaml
set +e
"$FERRY" verify -p bad.yaml > /dev/null 2> bad.err
code=$?
set -e
check "a percent above 100 is refused (exit 2)" "2" "$code"
check "... naming file, line and column" "ferry: bad.yaml:14:14: \"percent\" in rule 1 of \"verify\" must be a number above 0 and up to 100 with at most two decimals, not \"101\"" "$(cat bad.err)"

# --table: only the tables named.
cp clean.db dst.db
sqlite3 dst.db "DELETE FROM persons WHERE id = 7"
check "--table: another table is not looked at" "exit=0 log" \
	"$(vj --full --table log -p plan.yaml) $(python3 -c 'import json; print(" ".join(t["table"] for t in json.load(open("v.json"))["tables"]))')"
check "--table: the one named is" 'exit=5 persons m1 e0 d0 counts [missing:{"id": 7}]' "$(vj --full -t persons -t log -p plan.yaml)"
check "--table: a table the plan does not write is refused" \
	'exit=2 no json: ferry: --table people: the plan writes no target table of that name' "$(vj --table people -p plan.yaml)"

# Two ends without a plan: every table as it is.
cp clean.db dst.db
cp clean.db copy2.db
check "two databases, no plan" "exit=0" "$(vj --full dst.db copy2.db)"
sqlite3 copy2.db "UPDATE big SET v = -1 WHERE k = 'key-10'"
check "two databases, no plan: a changed value" 'exit=5 big m0 e0 d1 [different:{"k": "key-10"}/v=100>-1]' "$(vj --full dst.db copy2.db)"

# A label verifies without its source; import --verify puts the verdict in the summary.
cp clean.db dst.db
"$FERRY" export -q -p plan.yaml --label lab > /dev/null
rm -f imp.db
"$FERRY" import -q --verify=full --json lab imp.db > imp.json 2> imp.err || { cat imp.err; fail "import --verify failed"; }
check "import --verify: the verdict is in the summary" "True full" \
	"$(python3 -c 'import json; v=json.load(open("imp.json"))["verify"]; print(v["ok"], v["mode"])')"
mv src.db src.away
check "verify --label needs no source" "exit=0" "$(vj --full --label lab imp.db)"
sqlite3 imp.db "UPDATE persons SET born = '1911-01-02 03:04:06' WHERE id = 11"
check "verify --label finds a changed timestamp" \
	'exit=5 persons m0 e0 d1 [different:{"id": 11}/born="1911-01-02 03:04:05">"1911-01-02 03:04:06"]' "$(vj --full --label lab imp.db)"
mv src.away src.db

# copy --verify: the verdict in ferry_history.
rm -f dst.db
"$FERRY" copy -q --verify -p plan.yaml > cv.out 2>&1 || { cat cv.out; fail "copy --verify failed"; }
check "copy --verify: ferry_history records the verdict" "all rows arrived; verified (sampled): 475 rows compared, all match" \
	"$(sqlite3 dst.db "SELECT verdict FROM ferry_history WHERE kind = 'data'")"

# Many differences spread over every range: the rows of the differing ranges are compared in
# rounds of bounded memory (FERRY_VERIFY_ROUND_ROWS makes rounds small here: one round, one
# pass spilling 64 rounds to files, and several such passes), and the counts stay exact.
sqlite3 many.db "CREATE TABLE t(id INTEGER PRIMARY KEY, a INTEGER, s TEXT);
	WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 3000) INSERT INTO t SELECT i, i * 7, 'row ' || i FROM c;"
"$FERRY" copy -q many.db many2.db > /dev/null
sqlite3 many2.db "UPDATE t SET a = a + 1 WHERE id % 3 = 0; DELETE FROM t WHERE id % 7 = 0;
	INSERT INTO t SELECT id + 100000, a, s FROM t WHERE id % 11 = 0;"
want="$(python3 -c 'r = range(1, 3001); print(sum(i % 7 == 0 for i in r), sum(i % 11 == 0 and i % 7 > 0 for i in r), sum(i % 3 == 0 and i % 7 > 0 for i in r))')"
for rr in 0 500 7; do
	got=$({ FERRY_VERIFY_ROUND_ROWS=$rr "$FERRY" verify --full --json many.db many2.db 2>/dev/null || true; } |
		python3 -c 'import json,sys; t = json.load(sys.stdin)["tables"][0]; print(t["missing"], t["extra"], t["different"])')
	check "rounds of ${rr/#0/200000} rows: missing, extra and different counted exactly" "$want" "$got"
done

# Unions and merges of sources that do not all have every column: a column a source lacks
# takes the target's default, so verify expects exactly that (no false difference), and a
# changed count is still caught when sampled.
sqlite3 ua.db "CREATE TABLE t(id INTEGER PRIMARY KEY, v INTEGER);
	WITH RECURSIVE s(i) AS (SELECT 2 UNION ALL SELECT i + 1 FROM s WHERE i < 20001) INSERT INTO t SELECT i, i FROM s;
	CREATE TABLE k(v INTEGER); INSERT INTO k VALUES (1), (2);"
sqlite3 ub.db "CREATE TABLE t(id INTEGER PRIMARY KEY, v INTEGER, w TEXT); INSERT INTO t VALUES (1, 10, 'b1'), (2, 5, 'b2');
	CREATE TABLE k(v INTEGER, w TEXT); INSERT INTO k VALUES (3, 'x');"
printf 'CREATE TABLE t(id INTEGER PRIMARY KEY, v INTEGER, w TEXT);\nCREATE TABLE k(v INTEGER, w TEXT DEFAULT %s);\n' "'d'" > u.sql
cat > union.yaml <<'EOF2'
sources: { a: sqlite:ua.db, b: sqlite:ub.db }
target: sqlite:u.db
target_schema: u.sql
tables:
  - { table: t, source: a, where: "id > 2" }
  - { table: t, source: b, where: "id = 1" }
  - { table: k, source: a }
  - { table: k, source: b }
EOF2
"$FERRY" copy -q -p union.yaml > u.out 2>&1 || { cat u.out; fail "union copy failed"; }
check "a union where one source lacks a column (its default) verifies clean" "exit=0" "$(vj --full -p union.yaml)"
sqlite3 u.db "DELETE FROM t WHERE id = 1"
case "$(vj -p union.yaml)" in
"exit=5 t m"*" counts ["*) ok "... and a deleted row is caught by the count when sampled" ;;
*) fail "a deleted row of a union was not caught when sampled: $(vj -p union.yaml)" ;;
esac
cat > merge2.yaml <<'EOF2'
sources: { a: sqlite:ua.db, b: sqlite:ub.db }
target: sqlite:m2.db
target_schema: u.sql
tables:
  - { table: t, source: a, where: "id = 2", columns: { v: { conflict: sum } } }
  - { table: t, source: b, where: "id = 2", columns: { v: { conflict: sum }, w: { conflict: first } } }
EOF2
"$FERRY" copy -q --verify=full -p merge2.yaml > m2.out 2>&1
check "copy --verify of a merge where the first source lacks a column: exit 0" "0" "$?"
check "... and in rounds of one row, through spill files" "exit=0" "$(FERRY_VERIFY_ROUND_ROWS=1 vj --full -p merge2.yaml)"
check "... the target holds the sum and the default" "2|7|" "$(sqlite3 m2.db "SELECT * FROM t")"

# Several rows of one key (SQLite lets NULL repeat in a text primary key): compared as a set.
sqlite3 nk.db "CREATE TABLE t(k TEXT PRIMARY KEY, v TEXT); INSERT INTO t VALUES (NULL, 'a'), (NULL, 'b'), ('x', 'c');"
"$FERRY" copy -q nk.db nk2.db > /dev/null
check "NULL keys: the same rows verify clean" "exit=0" "$(vj --full nk.db nk2.db)"
sqlite3 nk2.db "UPDATE t SET v = 'a' WHERE v = 'b'"
check "NULL keys: the second row of a key changed is found" 'exit=5 t m0 e0 d2 [different:{"k": null}]' "$(vj --full nk.db nk2.db)"

# Rows of one key that differ in count: none is taken for matched.
sqlite3 nk3.db "CREATE TABLE t(k TEXT PRIMARY KEY, v TEXT); INSERT INTO t VALUES (NULL, 'a'), (NULL, 'c'), (NULL, 'd');"
sqlite3 nk4.db "CREATE TABLE t(k TEXT PRIMARY KEY, v TEXT); INSERT INTO t VALUES (NULL, 'a'), (NULL, 'b');"
check "NULL keys, two rows against three: two different and one extra" 'exit=5 t m0 e1 d2 counts [different:{"k": null},duplicate:{"k": null}]' \
	"$(FERRY_VERIFY_ROUND_ROWS=3 vj --full nk4.db nk3.db)"

# A merge where a key is NULL: ON CONFLICT never matches NULL, so the target keeps each row.
sqlite3 mn1.db "CREATE TABLE t(k TEXT PRIMARY KEY, v INTEGER); INSERT INTO t VALUES (NULL, 1), ('x', 2);"
sqlite3 mn2.db "CREATE TABLE t(k TEXT PRIMARY KEY, v INTEGER); INSERT INTO t VALUES (NULL, 5), ('x', 3);"
cat > mnull.yaml <<'EOF2'
sources: { a: sqlite:mn1.db, b: sqlite:mn2.db }
target: sqlite:mn.db
tables:
  - { table: t, source: a, columns: { v: { conflict: sum } } }
  - { table: t, source: b, columns: { v: { conflict: sum } } }
EOF2
"$FERRY" copy -q -p mnull.yaml > /dev/null 2>&1
check "a merge with NULL keys verifies as the target holds it (both NULL rows, x summed)" "exit=0|1 5 x:5" \
	"$(vj --full -p mnull.yaml)|$(sqlite3 mn.db "SELECT group_concat(coalesce(k || ':', '') || v, ' ') FROM (SELECT * FROM t ORDER BY k, v)")"

# Defaults: computed ones are not guessed; literals are expected as the target stores them.
sqlite3 da.db "CREATE TABLE t(id INTEGER PRIMARY KEY, v INTEGER); INSERT INTO t VALUES (1, 1), (2, 2);
	CREATE TABLE k(m TEXT, v INTEGER); INSERT INTO k VALUES ('a', 1), ('b', 2);"
sqlite3 db_.db "CREATE TABLE t(id INTEGER PRIMARY KEY, v INTEGER, c TEXT, b TEXT, e TEXT, f TEXT); INSERT INTO t VALUES (3, 3, 'x', 'y', 'z', 'w');
	CREATE TABLE k(m TEXT, v INTEGER, ts TEXT); INSERT INTO k VALUES ('c', 3, '2020-01-01');"
cat > dflt.sql <<'SQL'
CREATE TABLE t(id INTEGER PRIMARY KEY, v INTEGER, c TEXT DEFAULT ('a' || 'b'), b TEXT DEFAULT TRUE, e TEXT DEFAULT 1e3, f TEXT DEFAULT 1.50);
CREATE TABLE k(m TEXT, v INTEGER, ts TEXT DEFAULT CURRENT_TIMESTAMP);
SQL
cat > dflt.yaml <<'EOF2'
sources: { a: sqlite:da.db, b: sqlite:db_.db }
target: sqlite:dflt.db
target_schema: dflt.sql
tables:
  - { table: t, source: a }
  - { table: t, source: b }
  - { table: k, source: a }
  - { table: k, source: b }
EOF2
"$FERRY" copy -q -p dflt.yaml > /dev/null 2>&1
check "defaults: an expression, TRUE, 1e3 and 1.50 in text columns, CURRENT_TIMESTAMP without a key" "exit=0" "$(vj --full -p dflt.yaml)"
sqlite3 dflt.db "UPDATE t SET e = '1e3' WHERE id = 1; UPDATE k SET v = 9 WHERE m = 'a'"
check "... and a literal default changed, and a keyless row changed, are found" \
	'exit=5 t m0 e0 d1 [different:{"id": 1}/e="1000.0">"1e3"] k m1 e1 d0 [extra:{"m": "a", "ts": "TS", "v": 9},missing:{"m": "a", "ts": "(any)", "v": 1}]' \
	"$(vj --full -p dflt.yaml | sed -E 's/"ts": "[0-9]{4}-[0-9-]+ [0-9:]+"/"ts": "TS"/')"

# A spill file that cannot be created: one line, exit 1, no crash.
set +e
TMPDIR=/nonexistent/dir FERRY_VERIFY_ROUND_ROWS=1 "$FERRY" verify --full many.db many2.db > /dev/null 2> spill.err
code=$?
set -e
check "no place for spill files: exit 1 and one line naming the directory" \
	"1|ferry: cannot create a spill file for verify in /nonexistent/dir: No such file or directory" "$code|$(cat spill.err)"

# A REAL stored in a TEXT column reads as SQLite writes it (100.0, 1.0e+20).
sqlite3 rt.db "CREATE TABLE t(id INTEGER PRIMARY KEY, x REAL); INSERT INTO t VALUES (1, 100.0), (2, 1e20), (3, 0.1);"
sqlite3 rt2.db "CREATE TABLE t(id INTEGER PRIMARY KEY, x TEXT);"
"$FERRY" copy -q --append rt.db rt2.db > /dev/null
check "a REAL into a TEXT column: no false difference" "exit=0|100.0 1.0e+20 0.1" \
	"$(vj --full rt.db rt2.db)|$(sqlite3 rt2.db "SELECT group_concat(x, ' ') FROM t")"

# Text that is not UTF-8 in a key: the JSON report stays valid.
sqlite3 bad8.db "CREATE TABLE t(k TEXT PRIMARY KEY, v INTEGER); INSERT INTO t VALUES (CAST(x'ff41' AS TEXT), 1);"
"$FERRY" copy -q bad8.db bad8b.db > /dev/null
sqlite3 bad8b.db "UPDATE t SET v = 2"
check "a key that is not UTF-8 is shown as bytes in valid JSON" 'exit=5 t m0 e0 d1 [different:{"k": "(not UTF-8) \\xff41"}/v=1>2]' \
	"$(vj --full bad8.db bad8b.db)"

# --table ignores the other tables entirely, even a missing one.
sqlite3 part.db "ATTACH 'clean.db' AS c; CREATE TABLE log AS SELECT * FROM c.log"
check "--table: tables the target lacks do not matter when not asked for" "exit=0" "$(vj --full --table log src.db part.db)"
cat plan.yaml > cov3.yaml
printf 'verify:\n  - table: nosuch\n    percent: 50\n' >> cov3.yaml
check "a coverage rule for a table the plan does not write is refused" \
	'exit=2 no json: ferry: cov3.yaml:13:5: verify rule names table "nosuch", which the plan does not write' "$(vj -p cov3.yaml)"

# Stages read into a label at different times: the run is the plan's, so it is finished (and
# verified, and recorded) only when its last stage is imported.
cat > st.yaml <<'EOF2'
source: sqlite:src.db
target: sqlite:st.db
stages:
  - name: small
  - name: large
    after: [small]
tables:
  - { table: log, stage: small }
  - { table: people, stage: large }
  - { table: big, stage: large }
EOF2
rm -rf stl st.db
"$FERRY" export -q -p st.yaml --label stl --stage small > /dev/null
"$FERRY" import -q --json -p st.yaml --label stl --stage small --verify > st1.json 2> st1.err || { cat st1.err; fail "import of the first stage failed"; }
check "the first stage's import: --verify waits, and says so in the summary" "None 1" \
	"$(python3 -c 'import json; s = json.load(open("st1.json")); print(s["verify"], sum("--verify waits" in n["message"] for n in s["notes"]))')"
check "... and the run is not recorded as finished yet" "0" "$(sqlite3 st.db "SELECT count(*) FROM sqlite_master WHERE name = 'ferry_history'")"
"$FERRY" export -q -p st.yaml --label stl --stage large > /dev/null
"$FERRY" import -q --json -p st.yaml --label stl --stage large --verify > st2.json 2> st2.err || { cat st2.err; fail "import of the last stage failed"; }
check "the last stage's import: verified, not 'already complete'" "True False" \
	"$(python3 -c 'import json; s = json.load(open("st2.json")); print(s["verify"]["ok"], s["already_complete"])')"
check "... and recorded once, as an import, with its verdict" \
	"ferry import -p st.yaml|2080|all rows arrived; verified (sampled): 485 rows compared, all match" \
	"$(sqlite3 st.db "SELECT description, rows_moved, verdict FROM ferry_history WHERE kind = 'data'")"

# Nothing to compare is not a verdict of a match.
sqlite3 empty1.db "CREATE TABLE x(a); DROP TABLE x;"
sqlite3 empty2.db "CREATE TABLE x(a); DROP TABLE x;"
check "two databases without tables: nothing to verify is an error, not OK" \
	"exit=2 no json: ferry: nothing to verify: the plan carries no table from its sources (check their URLs, and a PostgreSQL search_path)" \
	"$(vj empty1.db empty2.db)"

# Errors: a missing target table, a dead source.
rm -f empty.db
sqlite3 empty.db "CREATE TABLE persons(id INTEGER PRIMARY KEY)"
set +e
"$FERRY" verify src.db empty.db > /dev/null 2> e1.err
c1=$?
set -e
set +e
"$FERRY" verify src.db nowhere.db > /dev/null 2> e2.err
c2=$?
set -e
check "a target that does not exist: exit 2, named as the target" "2|ferry: the target database sqlite:nowhere.db does not exist" "$c2|$(cat e2.err)"
check "... and not created" "no" "$([ -e nowhere.db ] && echo yes || echo no)"
check "a target without the table: exit 2, named" "2|ferry: target table \"big\" does not exist in sqlite:empty.db (has the plan run?)" "$c1|$(cat e1.err)"
# A split load: two plans with complementary filters into one table, the second with
# --append --verify. Verify of each part judges only the rows its filter selects; the other
# part's rows are counted as left out, not reported "extra" (the correct second run said
# "found differences" and exited 5). A wrong row of either part is still found.
sqlite3 split-src.db "CREATE TABLE ev(id INTEGER PRIMARY KEY, v TEXT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
INSERT INTO ev SELECT i, 'e' || i FROM n;
CREATE TABLE log(n INTEGER, v TEXT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400)
INSERT INTO log SELECT i, 'l' || i FROM n;"
split_plan() { # split_plan FILE FILTER: both tables (log has no key) with the filter
	printf 'sources:\n  s: sqlite:split-src.db\ntarget: sqlite:split.db\ntables:\n  - table: ev\n    source: s\n    where: "id %s"\n  - table: log\n    source: s\n    where: "n %s"\n' "$2" "$2" > "$1"
}
split_plan split-now.yaml ">= 2001"
split_plan split-later.yaml "< 2001"
"$FERRY" copy -q --verify=full -p split-now.yaml
set +e
"$FERRY" copy --append --verify=full --json -p split-later.yaml > split.json 2> split.err
c=$?
set -e
check "the later part with --append --verify=full: exit 0" "0" "$c"
check "... each table judged on its own rows, the earlier part left out" "ev 2000 2000 1000 0 0 0|log 400 400 0 0 0 0" \
	"$(python3 -c '
import json; r = json.load(open("split.json"))["verify"]
print("|".join("%s %s %s %s %s %s %s" % (t["table"], t["rows_expected"], t["rows_target"], t["rows_outside"],
      t["missing"], t["extra"], t["different"]) for t in r["tables"]))')"
check "... ferry_history records a match" "1 0" \
	"$(sqlite3 split.db "SELECT count(*) FILTER (WHERE verdict LIKE '%all match%'), count(*) FILTER (WHERE verdict LIKE '%found differences%') FROM ferry_history WHERE kind = 'data' AND description LIKE '%split-later%'" | tr '|' ' ')"
sqlite3 split.db "UPDATE ev SET v = 'wrong' WHERE id = 5; DELETE FROM ev WHERE id = 2500; INSERT INTO ev VALUES (9999, 'stray');"
set +e
"$FERRY" verify --full -p split-later.yaml > sv1.out 2>&1
c1=$?
"$FERRY" verify --full -p split-now.yaml > sv2.out 2>&1
c2=$?
set -e
check "a wrong row of the later part is still found" "5 1 1" \
	"$c1 $(grep -c 'different {"id": 5}' sv1.out) $(grep -c 'extra {"id": 9999}' sv1.out)"
check "a missing row of the earlier part is still found" "5 1 1" \
	"$c2 $(grep -c 'missing {"id": 2500}' sv2.out) $(grep -c 'extra {"id": 9999}' sv2.out)"

# A filter that picks one row of several per target key (the key is not the source's): the
# rows it leaves out share their keys with the rows it picks, which are still judged.
sqlite3 pick-src.db "CREATE TABLE prices(id INTEGER PRIMARY KEY, item INTEGER, price INTEGER);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300)
INSERT INTO prices SELECT i, i % 100, i FROM n;"
sqlite3 pick.db "CREATE TABLE prices(item INTEGER PRIMARY KEY, price INTEGER);"
printf 'sources:\n  s: sqlite:pick-src.db\ntarget: sqlite:pick.db\ntables:\n  - table: prices\n    source: s\n    where: "id IN (SELECT min(id) FROM prices GROUP BY item)"\n    columns:\n      id: { drop: true }\n' > pick.yaml
"$FERRY" copy -q --append -p pick.yaml
check "one row per key picked: verify --full judges every picked row" "1" \
	"$("$FERRY" verify --full -p pick.yaml | grep -c '^verify: OK, 1 table, 100 rows compared (full)$')"
sqlite3 pick.db "UPDATE prices SET price = -1 WHERE item = 7"
set +e
"$FERRY" verify --full -p pick.yaml > pick.out 2>&1
cp=$?
set -e
check "... and a wrong one is found" "5 1" "$cp $(grep -c 'different {"item": 7}' pick.out)"

finish
