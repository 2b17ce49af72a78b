#!/usr/bin/env bash
# pg-long-names.sh — names longer than PostgreSQL's 63 bytes (issue #16 item 5, #18 item 5):
# a table, two columns sharing their first 63 bytes, an index and a foreign key are created
# under short forms (a prefix and a hash), each noted; a rerun, verify, an export and import
# through a label, and a sync all find them under the same names; the way back to SQLite
# keeps the short names; two names that would be one in the target are refused before
# anything is created.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../pg/pg.sh"
cd "$T"

long_t=orders_with_a_name_far_longer_than_postgresql_keeps_for_any_identifier_x
long_a=amount_in_the_currency_of_the_customer_at_the_time_of_the_order_was_placed
long_b=amount_in_the_currency_of_the_customer_at_the_time_of_the_order_was_refunded
sqlite3 src.db <<SQL
CREATE TABLE $long_t(id INTEGER PRIMARY KEY, $long_a INTEGER, $long_b TEXT);
CREATE INDEX index_of_the_order_amounts_with_a_name_that_is_also_longer_than_63_bytes ON $long_t($long_a);
CREATE TABLE line_items_pointing_at_the_long_orders(
  id INTEGER PRIMARY KEY, order_id INTEGER REFERENCES $long_t(id));
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2500)
INSERT INTO $long_t SELECT i, i * 3, 'r' || i FROM n;
INSERT INTO line_items_pointing_at_the_long_orders VALUES (1, 1), (2, 2500);
SQL
pg_newdb db1
"$FERRY" copy --json --chunk-rows 1000 src.db "$(pg_url "$db1")" > s1.json 2> e1.txt \
	&& ok "a copy with names over 63 bytes succeeds" || fail "copy: $(cat e1.txt)"
tables=$(pgq "$db1" "SELECT relname FROM pg_class WHERE relkind = 'r' AND relname NOT LIKE 'ferry%' ORDER BY relname")
st=$(echo "$tables" | grep '^orders_with')
check "the long table name is shortened to 63 bytes: a prefix, '_' and 8 hex digits" "63 ${long_t:0:54}" \
	"${#st} $(echo "$st" | sed -E 's/_[0-9a-f]{8}$//')"
check "both long columns exist, distinct, under short names" \
	"$(printf '%s\n%s\n%s' id "${long_a:0:54}" "${long_b:0:54}")" \
	"$(pgq "$db1" "SELECT regexp_replace(attname, '_[0-9a-f]{8}$', '') FROM pg_attribute WHERE attrelid = '\"$st\"'::regclass AND attnum > 0 ORDER BY attnum")"
check "both primary keys, the index and the foreign key to it exist (no name taken twice)" "p p f i" \
	"$(pgq "$db1" "SELECT (SELECT string_agg(contype::text, ' ' ORDER BY contype DESC) FROM pg_constraint WHERE conrelid IN ('\"$st\"'::regclass, 'line_items_pointing_at_the_long_orders'::regclass) AND contype IN ('p', 'f')) || ' ' || (SELECT CASE WHEN count(*) = 1 THEN 'i' END FROM pg_indexes WHERE tablename = '$st' AND NOT indexdef LIKE '% UNIQUE %')")"
notes=$(python3 -c 'import json,sys; print("\n".join(n["message"] if isinstance(n, dict) else n for n in json.load(open(sys.argv[1]))["notes"]))' s1.json)
check "each shortened name is one note" "3" "$(echo "$notes" | grep -c 'is longer than the target.s 63 bytes: it is named')"
check "every row, by an independent comparison" "2500 $(sqlite3 src.db "SELECT sum($long_a), sum(length($long_b))FROM $long_t")" \
	"$(pgq "$db1" "SELECT count(*) || ' ' || sum(\"$(pgq "$db1" "SELECT attname FROM pg_attribute WHERE attrelid = '\"$st\"'::regclass AND attnum = 2")\") || '|' || sum(length(\"$(pgq "$db1" "SELECT attname FROM pg_attribute WHERE attrelid = '\"$st\"'::regclass AND attnum = 3")\")) FROM \"$st\"")"
check "ferry verify --full finds the table and its columns" "exit=0" "$(vj --full src.db "$(pg_url "$db1")")"
"$FERRY" copy -q src.db "$(pg_url "$db1")" > r1.txt 2>&1 \
	&& ok "a rerun is the same run, complete" || fail "rerun: $(cat r1.txt)"
grep -q "already exists" r1.txt && fail "rerun: $(cat r1.txt)" || ok "the rerun says nothing of a key that exists"

# A killed run resumes under the same names.
pg_newdb db2
set +e
FERRY_FAULT=kill-after-commit:2 "$FERRY" copy -q --chunk-rows 1000 src.db "$(pg_url "$db2")" > /dev/null 2>&1
code=$?
set -e
check "a copy killed after its second chunk" "137" "$code"
"$FERRY" copy -q --chunk-rows 1000 src.db "$(pg_url "$db2")" > /dev/null 2> e2.txt || fail "rerun after kill: $(cat e2.txt)"
check "its rerun finishes it under the same names" "2500" "$(pgq "$db2" "SELECT count(*) FROM \"$st\"")"

# Through a label: export keeps the long names (a label has no limit), import shortens them alike.
"$FERRY" export -q src.db long.label > /dev/null 2> e3.txt || fail "export: $(cat e3.txt)"
pg_newdb db3
"$FERRY" import -q long.label "$(pg_url "$db3")" > /dev/null 2> e4.txt || fail "import: $(cat e4.txt)"
check "import names the table as copy does" "$st 2500" "$(pgq "$db3" "SELECT '$st' || ' ' || count(*) FROM \"$st\"")"
check "ferry verify --full of the label against the import" "exit=0" "$(vj --full --label long.label "$(pg_url "$db3")")"

# Back to SQLite: the short names are the table's names now.
"$FERRY" copy -q "$(pg_url "$db1")" back.db > /dev/null 2> e5.txt || fail "back: $(cat e5.txt)"
check "postgres -> sqlite keeps the short names and every row" "2500" "$(sqlite3 back.db "SELECT count(*) FROM \"$st\"")"
check "postgres -> sqlite: ferry verify --full" "exit=0" "$(vj --full "$(pg_url "$db1")" back.db)"

# A sync finds the table by the same short names and applies changes to it.
pg_newdb db4
cp src.db live.db
"$FERRY" sync -q --until-caught-up live.db "$(pg_url "$db4")" > sync1.txt 2>&1 || fail "sync: $(cat sync1.txt)"
sqlite3 live.db "UPDATE $long_t SET $long_b = 'changed' WHERE id = 7; DELETE FROM $long_t WHERE id = 8; INSERT INTO $long_t VALUES (9999, 1, 'new');"
"$FERRY" sync -q --until-caught-up live.db "$(pg_url "$db4")" > sync2.txt 2>&1 || fail "sync again: $(cat sync2.txt)"
b=$(pgq "$db4" "SELECT attname FROM pg_attribute WHERE attrelid = '\"$st\"'::regclass AND attnum = 3")
check "sync applies changes to the shortened table and column" "changed|0|new|2500" \
	"$(pgq "$db4" "SELECT (SELECT \"$b\" FROM \"$st\" WHERE id = 7) || '|' || (SELECT count(*) FROM \"$st\" WHERE id = 8) || '|' || (SELECT \"$b\" FROM \"$st\" WHERE id = 9999) || '|' || (SELECT count(*) FROM \"$st\")")"

# Two names that would be one in the target: refused before anything is created.
sa=$(pgq "$db1" "SELECT attname FROM pg_attribute WHERE attrelid = '\"$st\"'::regclass AND attnum = 2")
sqlite3 clash.db "CREATE TABLE clash(id INTEGER PRIMARY KEY, $long_a INTEGER, \"$sa\" INTEGER); INSERT INTO clash VALUES (1, 2, 3);"
pg_newdb db5
set +e
"$FERRY" copy clash.db "$(pg_url "$db5")" > c.out 2> c.err
code=$?
set -e
check "two columns that would share one name: exit 2" "2" "$code"
grep -q "two of its columns would be named \\\\\?\"$sa" c.err && ok "the refusal names the clash" || fail "refusal: $(cat c.err)"
check "nothing was created" "0" "$(pgq "$db5" "SELECT count(*) FROM pg_class WHERE relname = 'clash'")"

finish
