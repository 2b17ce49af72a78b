#!/usr/bin/env bash
# pg-verify.sh — ferry verify with PostgreSQL: no false difference on the torture table
# (SQLite -> PostgreSQL and PostgreSQL -> SQLite, values compared by the target's types:
# timestamps in zones, numerics by scale, -0.0, NaN, infinities, 10 MB blobs, uuids, json);
# each planted defect found in a PostgreSQL target, sampled and full; a transformed plan
# into PostgreSQL verifies clean.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../pg/pg.sh"
cd "$T"

planes=$(python3 -c 'print("".join(chr(p * 0x10000 + 0x41) for p in range(17)) + "é中😀")')

# ---- the torture table, SQLite -> PostgreSQL ------------------------------------------
sqlite3 src.db <<SQL
CREATE TABLE "Torture Table"("Id" INTEGER PRIMARY KEY, "Big Int" INTEGER, "MixedCase Dbl" REAL,
  "num text" TEXT, "Ts" TIMESTAMP, "Ts Zone" TIMESTAMPTZ, "Txt" TEXT, "Bin" BLOB,
  "Exact Dbl" FLOAT8_BLOB, "Exact Num" NUMERIC_TEXT(30,10), "Price" DECIMAL(10,2), "Flag" BOOLEAN);
INSERT INTO "Torture Table" VALUES
  (1, -9223372036854775808, 4.9406564584124654e-324, '123456789012345678901234567890', '1969-12-31 23:59:59.999999', '1901-12-13T22:45:51+02:00', '', x'', -0.0, '12345678901234567890.0123456789', 12.5, 1),
  (2, 9223372036854775807, 2.2250738585072009e-308, '-0.000000000000000000000000000001', '2038-01-19 03:14:08', '2040-06-30 12:34:56.5Z', NULL, NULL, 'NaN', '-0.0000000001', '7', 0),
  (3, 0, 9e999, '1e-30', '0001-01-01 00:00:00', '1960-02-29 00:00:00+00', '$planes', x'00ff', 9e999, '0.0000000000', 0.1, NULL),
  (4, -1, -9e999, NULL, '9999-12-31T23:59:59', NULL, 'tab	new
line "quote" '' \\back', zeroblob(0), 4.9406564584124654e-324, '-99999999999999999999.9999999999', 1e3, 'true'),
  (5, NULL, 1.7976931348623157e308, '99999999999999999999999999999.9', '2100-03-01 12:00:00.5', '2100-03-01 13:00:00.123456+01', ' ', x'0102030405', 0.1, NULL, NULL, 'f');
INSERT INTO "Torture Table"("Id", "Bin") VALUES (6, randomblob(10 * 1024 * 1024));
SQL
pg_newdb mid
"$FERRY" copy -q src.db "$(pg_url "$mid")" > out1.txt 2>&1 || { cat out1.txt; fail "sqlite -> postgres copy failed"; }
check "sqlite -> postgres: the torture table verifies in full, no false difference" "exit=0" \
	"$(vj --full src.db "$(pg_url "$mid")")"
check "sqlite -> postgres: ... and sampled" "exit=0" "$(vj src.db "$(pg_url "$mid")")"
pgq "$mid" "UPDATE \"Torture Table\" SET \"Exact Dbl\" = 0 WHERE \"Id\" = 1" > /dev/null
check "-0.0 turned into 0 is a difference" \
	'exit=5 Torture Table m0 e0 d1 [different:{"Id": 1}/Exact Dbl=-0.0>0.0]' "$(vj --full src.db "$(pg_url "$mid")")"
pgq "$mid" "UPDATE \"Torture Table\" SET \"Exact Dbl\" = '-0', \"Ts Zone\" = '1901-12-13 20:45:52+00' WHERE \"Id\" = 1" > /dev/null
check "a timestamp one second off, in another zone, is a difference" \
	'exit=5 Torture Table m0 e0 d1 [different:{"Id": 1}/Ts Zone="1901-12-13 20:45:51Z">"1901-12-13 20:45:52Z"]' \
	"$(vj --full src.db "$(pg_url "$mid")")"

# ---- PostgreSQL -> SQLite ------------------------------------------------------------------
pg_newdb pgsrc
pgq "$pgsrc" "CREATE TABLE t(id bigint PRIMARY KEY, d double precision, r real, n numeric, nf numeric(30,10),
  ts timestamp, tz timestamptz, day date, tm time, flag boolean, u uuid, j jsonb, b bytea, s text);
SET TimeZone = 'America/New_York';
INSERT INTO t VALUES
  (1, '-0', 1.5, 123456789012345678901234567890, 1.5, '1969-12-31 23:59:59.999999', '1901-12-13 20:45:51+00', '1969-07-20', '23:59:59.5', true, 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', '{\"b\": [1, 2.5, null], \"a\": \"x\"}', '\\x00ff', ''),
  (2, 'NaN', 'NaN', 'NaN', -0.0000000001, '2038-01-19 03:14:08', '2040-06-30 12:34:56.5-07', '2038-01-20', '00:00:00', false, NULL, '\"text\"', '\\x', NULL),
  (3, 'Infinity', '-Infinity', 1.50, 0, NULL, NULL, NULL, NULL, NULL, NULL, '[]', NULL, '$planes');" > /dev/null
"$FERRY" copy -q "$(pg_url "$pgsrc")" back.db > out2.txt 2>&1 || { cat out2.txt; fail "postgres -> sqlite copy failed"; }
check "postgres -> sqlite: every type verifies in full" "exit=0" "$(vj --full "$(pg_url "$pgsrc")" back.db)"
sqlite3 back.db "UPDATE t SET n = '1.5' WHERE id = 3; UPDATE t SET j = '{\"a\":\"x\",\"b\":[1,2.5,null]}' WHERE id = 1"
check "postgres -> sqlite: 1.50 against 1.5 and json by meaning are the same" "exit=0" "$(vj --full "$(pg_url "$pgsrc")" back.db)"
sqlite3 back.db "UPDATE t SET u = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12' WHERE id = 1"
check "postgres -> sqlite: a changed uuid is a difference" \
	'exit=5 t m0 e0 d1 [different:{"id": 1}/u="a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11">"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12"]' \
	"$(vj --full "$(pg_url "$pgsrc")" back.db)"

# Into PostgreSQL's own kinds: char(n) comes back blank-padded, jsonb keeps numbers as
# numerics (1e2 is 100), 24:00:00 is the next day. None of it is a difference.
sqlite3 kinds.db "CREATE TABLE k(id INTEGER PRIMARY KEY, c TEXT, j TEXT, ts TEXT);
	INSERT INTO k VALUES (1, 'ab', '[1.0, 1e2, {\"b\": 1, \"a\": 12345678901234567890}]', '2020-01-01 24:00:00');"
pg_newdb kinds
pgq "$kinds" "CREATE TABLE k(id bigint PRIMARY KEY, c char(5), j jsonb, ts timestamp)" > /dev/null
"$FERRY" copy -q --append kinds.db "$(pg_url "$kinds")" > out2a.txt 2>&1 || { cat out2a.txt; fail "copy into char(n) and jsonb failed"; }
check "char(n), jsonb numbers and 24:00:00: no false difference" "exit=0" "$(vj --full kinds.db "$(pg_url "$kinds")")"
pgq "$kinds" "UPDATE k SET j = '[1.0, 1e2, {\"b\": 1, \"a\": 12345678901234567891}]'" > /dev/null
check "... but a 20-digit json number one off is found" \
	'exit=5 k m0 e0 d1 [different:{"id": 1}/j="[1,100,{\"a\":12345678901234567890,\"b\":1}]">"[1,100,{\"a\":12345678901234567891,\"b\":1}]"]' \
	"$(vj --full kinds.db "$(pg_url "$kinds")")"

# Two sources, one without most columns: the target's defaults fill them. Literal defaults
# (with their casts, a char(n)'s padding, a numeric's scale) are expected as stored; computed
# ones ('a' || 'b', a date plus one, bytea's '\x..', now()) are not guessed.
sqlite3 d1.db "CREATE TABLE t(id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1), (2);"
sqlite3 d2.db "CREATE TABLE t(id INTEGER PRIMARY KEY, c TEXT, d TEXT, b BLOB, ch TEXT, n TEXT, s TEXT, w TEXT);
	INSERT INTO t VALUES (3, 'x', '2021-01-01', x'ff', 'zz', '2', 'y', '2021-01-01 00:00:00+00');"
pg_newdb dfl
pgq "$dfl" "CREATE TABLE t(id bigint PRIMARY KEY, c text DEFAULT ('a'::text || 'b'::text),
	d date DEFAULT ('2020-01-01'::date + 1), b bytea DEFAULT '\\x0102', ch char(5) DEFAULT 'ab  ',
	n numeric DEFAULT 1.50, s text DEFAULT 'it''s'::text, w timestamptz DEFAULT now())" > /dev/null
cat > dfl.yaml <<EOF2
sources: { a: sqlite:d1.db, b: sqlite:d2.db }
target: $(pg_url "$dfl")
tables:
  - { table: t, source: a }
  - { table: t, source: b }
EOF2
"$FERRY" copy -q -p dfl.yaml > dfl.out 2>&1 || { cat dfl.out; fail "copy with defaults failed"; }
check "defaults of PostgreSQL, literal and computed: no false difference" "exit=0" "$(vj --full -p dfl.yaml)"
pgq "$dfl" "UPDATE t SET s = 'its', n = 1.5 WHERE id = 1" > /dev/null
check "... a literal default changed is found (1.50 = 1.5 by value)" \
	'exit=5 t m0 e0 d1 [different:{"id": 1}/s="it'"'"'s">"its"]' "$(vj --full -p dfl.yaml)"

# copy --verify into PostgreSQL with a target schema (which creates ferry_history first),
# then a second copy into the same database: each run finishes, with its verdict recorded.
sqlite3 rj.db "CREATE TABLE e(id INTEGER PRIMARY KEY, p REAL); INSERT INTO e VALUES (1, 1.5), (2, 0.13);"
sqlite3 rj2.db "CREATE TABLE f(id INTEGER PRIMARY KEY, s TEXT); INSERT INTO f VALUES (1, 'a');"
echo "CREATE TABLE e(id bigint PRIMARY KEY, p numeric(10,2));" > rjs.sql
pg_newdb hist
printf 'source: sqlite:rj.db\ntarget: %s\ntarget_schema: rjs.sql\n' "$(pg_url "$hist")" > hist.yaml
set +e
"$FERRY" copy -q --verify -p hist.yaml > hist.out 2>&1
c1=$?
"$FERRY" copy -q --verify rj2.db "$(pg_url "$hist")" >> hist.out 2>&1
c2=$?
set -e
check "copy --verify into PostgreSQL with a target schema, then a second copy: both exit 0" "0 0" "$c1 $c2"
check "... each recorded in ferry_history with its verdict" \
	"all rows arrived; verified (sampled): 1 rows compared, all match|all rows arrived; verified (sampled): 2 rows compared, all match" \
	"$(pgq "$hist" "SELECT string_agg(verdict, '|' ORDER BY verdict) FROM ferry_history WHERE kind = 'data'")"

# PostgreSQL -> PostgreSQL: two databases of one server.
pg_newdb pgcopy
"$FERRY" copy -q "$(pg_url "$pgsrc")" "$(pg_url "$pgcopy")" > out2b.txt 2>&1 || { cat out2b.txt; fail "postgres -> postgres copy failed"; }
check "postgres -> postgres: every type verifies in full" "exit=0" "$(vj --full "$(pg_url "$pgsrc")" "$(pg_url "$pgcopy")")"
pgq "$pgcopy" "UPDATE t SET tz = tz + interval '1 microsecond' WHERE id = 2" > /dev/null
check "postgres -> postgres: one microsecond off is a difference" \
	'exit=5 t m0 e0 d1 [different:{"id": 2}/tz="2040-06-30 19:34:56.5Z">"2040-06-30 19:34:56.500001Z"]' \
	"$(vj --full "$(pg_url "$pgsrc")" "$(pg_url "$pgcopy")")"

# ---- a plan into PostgreSQL, and each defect planted there ----------------------------------
verify_people people.db
pg_newdb tgt
pgq "$tgt" "CREATE TABLE persons(id bigint PRIMARY KEY, full_name text NOT NULL, note text, double_score numeric(12,2),
  status text NOT NULL DEFAULT 'new'); CREATE TABLE log(msg text, n bigint);" > /dev/null
cat > plan.yaml <<EOF2
source: sqlite:people.db
target: $(pg_url "$tgt")
tables:
  - table: people
    rename: persons
    where: "id <= 50"
    columns:
      full_name: name
      double_score: { expr: "score * 2" }
EOF2
"$FERRY" copy -q -p plan.yaml > out3.txt 2>&1 || { cat out3.txt; fail "plan into postgres failed"; }
check "a plan into postgres verifies clean (full)" "exit=0" "$(vj --full -p plan.yaml)"
# plant SQL: restore the clean target, then one defect
pgq "$tgt" "CREATE TABLE clean_p AS SELECT * FROM persons; CREATE TABLE clean_l AS SELECT * FROM log" > /dev/null
plant() {
	pgq "$tgt" "TRUNCATE persons, log; INSERT INTO persons SELECT * FROM clean_p; INSERT INTO log SELECT * FROM clean_l; $1" > /dev/null
}
for mode in sampled full; do
	f=""
	[ $mode = full ] && f="--full"
	plant "DELETE FROM persons WHERE id = 7"
	check "postgres, $mode: a missing row" 'exit=5 persons m1 e0 d0 counts [missing:{"id": 7}]' "$(vj $f -p plan.yaml)"
	plant "INSERT INTO persons(id, full_name) VALUES (99, 'intruder')"
	check "postgres, $mode: an extra row" 'exit=5 persons m0 e1 d0 counts [extra:{"id": 99}]' "$(vj $f -p plan.yaml)"
	plant "UPDATE persons SET double_score = 9.5 WHERE id = 3"
	check "postgres, $mode: one changed value" 'exit=5 persons m0 e0 d1 [different:{"id": 3}/double_score="9">"9.5"]' "$(vj $f -p plan.yaml)"
	plant "UPDATE persons SET full_name = CASE id WHEN 4 THEN 'person 5' ELSE 'person 4' END WHERE id IN (4, 5)"
	check "postgres, $mode: two values swapped between two rows" \
		'exit=5 persons m0 e0 d2 [different:{"id": 4}/full_name="person 4">"person 5",different:{"id": 5}/full_name="person 5">"person 4"]' \
		"$(vj $f -p plan.yaml)"
	plant "INSERT INTO log SELECT * FROM log WHERE msg = 'm1' AND n = 1 LIMIT 1"
	check "postgres, $mode: a duplicated row" 'exit=5 log m0 e1 d0 counts [duplicate:{"msg": "m1", "n": 1}]' "$(vj $f -p plan.yaml)"
	plant "UPDATE persons SET note = '' WHERE id = 6"
	check "postgres, $mode: a NULL turned into ''" 'exit=5 persons m0 e0 d1 [different:{"id": 6}/note=null>""]' "$(vj $f -p plan.yaml)"
done

# A dead server: a clear error, exit 1, the password masked.
set +e
"$FERRY" verify people.db "postgresql://u:secret@127.0.0.1:1/db" > dead.out 2> dead.err
code=$?
set -e
check "a dead server: exit 1" "1" "$code"
check "a dead server: one line, no password" "1 0" "$(wc -l < dead.err) $(grep -c secret dead.err || true)"
finish
