#!/usr/bin/env bash
# pg-copy.sh — ferry copy with PostgreSQL at either end: SQLite -> PostgreSQL (types for
# SQLite's loose typing, rejects instead of changed values, identity past the loaded keys),
# PostgreSQL -> SQLite, PostgreSQL -> PostgreSQL between two databases and between two
# schemas of one database (enums, arrays, intervals, domains, partitions, identity, foreign
# keys, indexes), chunks by key and by ctid with a filter, merges into PostgreSQL.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../pg/pg.sh"
cd "$T"

# ---- SQLite -> PostgreSQL -------------------------------------------------------------
sqlite3 src.db <<'SQL'
CREATE TABLE parent(id INTEGER PRIMARY KEY, name TEXT NOT NULL DEFAULT 'none', born DATETIME,
  seen DATETIME, ok BOOLEAN DEFAULT 0, price DECIMAL(10,2));
CREATE TABLE child(id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id), note VARCHAR(5));
CREATE TABLE bag(a INTEGER, b TEXT);
CREATE UNIQUE INDEX parent_name ON parent(name);
INSERT INTO parent VALUES (1, 'a', '2020-01-01 10:00:00', '2020-01-01', 1, 12.5),
  (2, 'b', '1950-06-30 23:59:59.25', 'yesterday', 0, '7'),
  (3, 'c', NULL, '2021-02-30', NULL, 'abc'),
  (40, 'd', '2001-01-01', NULL, 1, 1e3);
INSERT INTO child VALUES (1, 1, 'x'), (2, 40, NULL), (3, 9, 'dangle'), (4, 2, 'toolongvalue');
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
INSERT INTO bag SELECT i % 10, 'r' || i FROM n;
SQL
pg_newdb db1
set +e
# --types=declared: the types the declarations alone give (tests/sh/pg-types.sh: from the values)
"$FERRY" copy --json --types=declared --chunk-rows 500 --rejects rej1.jsonl src.db "$(pg_url "$db1")" > s1.json 2> e1.txt
code=$?
set -e
check "sqlite -> postgres: rows refused and a dangling key give exit 3" "3" "$code"
check "INTEGER PRIMARY KEY becomes a bigint identity" "bigint|d" \
	"$(pgq "$db1" "SELECT format_type(atttypid, atttypmod) || '|' || attidentity::text FROM pg_attribute WHERE attrelid = 'parent'::regclass AND attname = 'id'")"
check "a DATETIME column whose values all parse is a timestamp" "timestamp without time zone" \
	"$(pgq "$db1" "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'parent'::regclass AND attname = 'born'")"
check "a DATETIME column with values that do not parse is text" "text" \
	"$(pgq "$db1" "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'parent'::regclass AND attname = 'seen'")"
grep -q 'column \\"seen\\" of \\"parent\\" is declared DATETIME but not every value is a valid timestamp' s1.json \
	&& ok "the summary warns about the DATETIME column made text" || fail "no warning about column seen: $(cat s1.json)"
check "values as the source held them" "1|a|2020-01-01 10:00:00|2020-01-01|t|12.5
2|b|1950-06-30 23:59:59.25|yesterday|f|7
40|d|2001-01-01 00:00:00||t|1000" \
	"$(pgq "$db1" "SELECT id, name, born, seen, ok, price FROM parent ORDER BY id")"
check "a text that is not a number is rejected, not stored" \
	'{"table":"parent","key":{"id":3},"reason":"text '"'"'abc'"'"' is not a number for numeric column \"price\"","values":{"id":3,"name":"c","born":null,"seen":"2021-02-30","ok":null,"price":"abc"}}' \
	"$(grep '"id":3' rej1.jsonl)"
check "VARCHAR(5) becomes text: SQLite never enforced the length, so no value is cut" "toolongvalue" \
	"$(pgq "$db1" "SELECT note FROM child WHERE id = 4")"
check "defaults survive as PostgreSQL defaults" "'none'::text|false" \
	"$(pgq "$db1" "SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum WHERE d.adrelid = 'parent'::regclass ORDER BY a.attnum" | tr '\n' '|' | sed 's/|$//')"
check "the identity continues after the highest loaded key" "41" \
	"$(pgq "$db1" "INSERT INTO parent(name) VALUES ('new') RETURNING id")"
check "the unique index is created after the load" "1" \
	"$(pgq "$db1" "SELECT count(*) FROM pg_indexes WHERE tablename = 'parent' AND indexdef LIKE 'CREATE UNIQUE INDEX parent_name %'")"
check "foreign keys are added and the dangling row counted" "1|f" \
	"$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print([t for t in s["tables"] if t["target"]=="child"][0]["fk_violations"])' s1.json)|$(pgq "$db1" "SELECT convalidated FROM pg_constraint WHERE conrelid = 'child'::regclass AND contype = 'f'")"
check "a keyless table arrives whole" "3000" "$(pgq "$db1" "SELECT count(*) FROM bag")"
check "ferry's state and record of upgrades live beside the tables" "4" "$(pgq "$db1" "SELECT count(*) FROM pg_tables WHERE tablename IN ('ferry_runs', 'ferry_progress', 'ferry_rejects', 'ferry_history')")"

# ---- PostgreSQL -> SQLite -------------------------------------------------------------
pg_newdb pgsrc
pgq "$pgsrc" "
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
CREATE TABLE \"Person\"(id serial PRIMARY KEY, \"Full Name\" varchar(40) NOT NULL, m mood,
  tags text[], span interval, n posint, born timestamptz, price numeric(8,2),
  code char(3), created timestamp(3) DEFAULT now(), g int GENERATED ALWAYS AS (id * 2) STORED);
CREATE TABLE pet(id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  owner int REFERENCES \"Person\"(id), name text UNIQUE);
CREATE TABLE log(at timestamptz, msg text);
CREATE TABLE meas(city int NOT NULL, day date NOT NULL, v float4, PRIMARY KEY (city, day))
  PARTITION BY RANGE (day);
CREATE TABLE meas_2020 PARTITION OF meas FOR VALUES FROM ('2020-01-01') TO ('2021-01-01');
CREATE TABLE meas_2021 PARTITION OF meas FOR VALUES FROM ('2021-01-01') TO ('2022-01-01');
CREATE INDEX person_lower ON \"Person\"(lower(\"Full Name\")) WHERE price > 0;
INSERT INTO \"Person\"(\"Full Name\", m, tags, span, n, born, price, code) VALUES
  ('Ada', 'happy', '{a,\"b c\"}', '1 year 2 mons 3 days 04:05:06.5', 7, '1815-12-10 12:00:00+00', 1.50, 'abc'),
  ('Zoë', NULL, '{}', '-00:00:01', NULL, NULL, NULL, 'x');
INSERT INTO pet(owner, name) VALUES (1, 'rex'), (2, 'tom');
INSERT INTO log SELECT timestamptz '2020-01-01 00:00:00+00' + i * interval '1 minute', 'm' || i
  FROM generate_series(1, 2500) i;
INSERT INTO meas SELECT 1 + i % 3, date '2020-06-01' + i, i / 4.0 FROM generate_series(0, 399) i;
ANALYZE;" > /dev/null
"$FERRY" copy -q --chunk-rows 300 "$(pg_url "$pgsrc")" pg.db
check "postgres -> sqlite: rows of every table" "2 2 2500 400" \
	"$(sqlite3 pg.db 'SELECT (SELECT count(*) FROM "Person") || " " || (SELECT count(*) FROM pet) || " " || (SELECT count(*) FROM log) || " " || (SELECT count(*) FROM meas)')"
check "enum, array, interval, domain, zone, numeric(8,2) (a number: NUMERIC(8,2)) and char values as text" \
	"1|Ada|happy|{a,\"b c\"}|1 year 2 mons 3 days 04:05:06.5|7|1815-12-10 12:00:00+00|1.5|abc" \
	"$(sqlite3 pg.db 'SELECT id, "Full Name", m, tags, span, n, born, price, code FROM "Person" WHERE id = 1')"
check "partitioned table read through its parent, partitions not listed" "meas" \
	"$(sqlite3 pg.db "SELECT group_concat(name) FROM sqlite_schema WHERE name LIKE 'meas%' AND type = 'table'")"
check "float4 values exact" "0.0|0.25|99.75" "$(sqlite3 pg.db 'SELECT min(v) || "|" || (SELECT v FROM meas WHERE day = "2020-06-02") || "|" || max(v) FROM meas')"

# ---- PostgreSQL -> PostgreSQL, two databases --------------------------------------------
pg_newdb db2
pgq "$db2" "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy'); CREATE DOMAIN posint AS integer CHECK (VALUE > 0);" > /dev/null
"$FERRY" copy -q --chunk-rows 300 "$(pg_url "$pgsrc")" "$(pg_url "$db2")"
# Generated columns are not created by ferry (a note says so): Person is compared without g.
pcols='(id, "Full Name", m, tags, span, n, born, price, code, created)::text'
same_pg() { # same_pg DB1 SCHEMA1 DB2 SCHEMA2 TABLE [COLUMNS]: rows as text, equal
	local a b
	local cols="${6:-t::text}"
	a=$(pgq "$1" "SET extra_float_digits = 3; SET TimeZone = 'UTC'; SELECT $cols FROM \"$2\".\"$5\" t ORDER BY 1" | md5sum)
	b=$(pgq "$3" "SET extra_float_digits = 3; SET TimeZone = 'UTC'; SELECT $cols FROM \"$4\".\"$5\" t ORDER BY 1" | md5sum)
	[ "$a" = "$b" ] && echo same || echo "differ"
}
for t in Person pet log meas; do
	check "postgres -> postgres: table $t equal" "same" "$(same_pg "$pgsrc" public "$db2" public "$t" "$([ $t = Person ] && echo "$pcols")")"
done
check "types, identity and the generated column recreated" \
	"id:integer:d|Full Name:character varying(40):|m:mood:|tags:text[]:|span:interval:|n:posint:|born:timestamp with time zone:|price:numeric(8,2):|code:character(3):|created:timestamp(3) without time zone:" \
	"$(pgq "$db2" "SELECT string_agg(attname || ':' || format_type(atttypid, atttypmod) || ':' || attidentity::text, '|' ORDER BY attnum) FROM pg_attribute WHERE attrelid = '\"Person\"'::regclass AND attnum > 0 AND NOT attisdropped")"
check "the expression index is rebuilt on the new table" "1" \
	"$(pgq "$db2" "SELECT count(*) FROM pg_indexes WHERE indexname = 'person_lower' AND indexdef LIKE '%lower((\"Full Name\")::text)%WHERE (price > %'")"
check "sequences continue after the loaded keys" "3|3" \
	"$(pgq "$db2" "INSERT INTO \"Person\"(\"Full Name\") VALUES ('new') RETURNING id")|$(pgq "$db2" "INSERT INTO pet(name) VALUES ('new') RETURNING id")"
check "the foreign key is valid after the load" "t" \
	"$(pgq "$db2" "SELECT convalidated FROM pg_constraint WHERE conrelid = 'pet'::regclass AND contype = 'f'")"

# ---- PostgreSQL -> PostgreSQL, two schemas of one database --------------------------------
"$FERRY" copy -q --chunk-rows 700 "$(pg_url "$pgsrc")" "$(pg_url "$pgsrc" "options=-csearch_path%3Dv2")"
for t in Person pet log meas; do
	check "schema public -> schema v2: table $t equal" "same" "$(same_pg "$pgsrc" public "$pgsrc" v2 "$t" "$([ $t = Person ] && echo "$pcols")")"
done
check "the source schema is untouched by ferry's state" "0" \
	"$(pgq "$pgsrc" "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 'ferry\_%'")"

# ---- a filter on a table without a key (ctid chunks): counts stay exact --------------------
cat > plan.yaml <<EOF
source: $(pg_url "$pgsrc")
target: $(pg_url "$pgsrc" "options=-csearch_path%3Dv3")
chunk_rows: 400
tables:
  - table: log
    where: "msg LIKE 'm1%'"
  - table: Person
    columns:
      n: { default: 5 }
EOF
"$FERRY" copy --json -p plan.yaml > s3.json
check "ctid chunks with a filter: read, written, skipped" "2500 1111 1389" \
	"$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); t=[t for t in s["tables"] if t["target"]=="log"][0]; print(t["read"], t["written"], t["skipped"])' s3.json)"
check "a plan default is bound as a literal" "7|5" \
	"$(pgq "$pgsrc" "SELECT string_agg(n::text, '|' ORDER BY id) FROM v3.\"Person\"")"

# ---- merges into PostgreSQL ---------------------------------------------------------------
sqlite3 a.db "CREATE TABLE item(sku TEXT PRIMARY KEY, qty INTEGER, price REAL, note TEXT);
	INSERT INTO item VALUES ('x', 1, 2.0, 'a'), ('y', 5, 1.0, 'b');"
sqlite3 b.db "CREATE TABLE item(sku TEXT PRIMARY KEY, qty INTEGER, price REAL, note TEXT);
	INSERT INTO item VALUES ('x', 2, 3.0, 'a'), ('z', 1, 1.0, 'c'), ('y', 1, 0.5, 'B');"
pg_newdb db3
pgq "$db3" "CREATE TABLE item(sku text PRIMARY KEY, qty bigint, price float8, note text)" > /dev/null
cat > merge.yaml <<EOF
sources:
  a: $T/a.db
  b: $T/b.db
target: $(pg_url "$db3")
tables:
  - source: a
    table: item
    columns:
      qty: { conflict: sum }
      price: { conflict: max }
      note: { conflict: error }
  - source: b
    table: item
    columns:
      qty: { conflict: sum }
      price: { conflict: max }
      note: { conflict: error }
EOF
set +e
"$FERRY" copy -q --rejects merge.jsonl -p merge.yaml > merge.out 2>&1
code=$?
set -e
check "merge: sum, max, and the error rule's conflict rejected" "3|x:3:3:a y:5:1:b z:1:1:c" \
	"$code|$(pgq "$db3" "SELECT string_agg(sku || ':' || qty || ':' || price || ':' || note, ' ' ORDER BY sku) FROM item")"
grep -q '"key":{"sku":"y"},"reason":"key conflicts with an existing row with a different value in column(s) note (rule error)"' merge.jsonl \
	&& ok "merge: the conflicting row is in the reject file" || fail "merge rejects: $(cat merge.jsonl)"

# The same merge into a table ferry creates (its key is built before the merge needs it).
pg_newdb db4
sed "s|$(pg_url "$db3")|$(pg_url "$db4")|" merge.yaml > merge4.yaml
set +e
"$FERRY" copy -q --rejects merge4.jsonl -p merge4.yaml > /dev/null 2>&1
code=$?
set -e
check "merge into a created table: same result" "3|x:3:3:a y:5:1:b z:1:1:c" \
	"$code|$(pgq "$db4" "SELECT string_agg(sku || ':' || qty || ':' || price || ':' || note, ' ' ORDER BY sku) FROM item")"

# Two sources into one created table without rules: the second's duplicate keys are refused
# row by row, as with a key that exists before the load.
sed 's/^      [a-z]*: { conflict: [a-z]* }$//; s/^    columns:$//' merge.yaml | sed "s|$(pg_url "$db3")|$(pg_url "$db4")_2|" > two.yaml
pg_newdb db5
sed -i "s|$(pg_url "$db4")_2|$(pg_url "$db5")|" two.yaml
set +e
"$FERRY" copy -q --rejects two.jsonl -p two.yaml > /dev/null 2>&1
code=$?
set -e
check "two sources, one created table: exit 3, rows of the first source, duplicates rejected" "3|x:1 y:5 z:1|2" \
	"$code|$(pgq "$db5" "SELECT string_agg(sku || ':' || qty, ' ' ORDER BY sku) FROM item")|$(grep -c 'duplicate key value violates unique constraint' two.jsonl)"
check "created tables have their primary keys after the load, and no pending-key table is left" "1|1|0" \
	"$(pgq "$db1" "SELECT count(*) FROM pg_constraint WHERE contype = 'p' AND conrelid = 'parent'::regclass")|$(pgq "$db5" "SELECT count(*) FROM pg_constraint WHERE contype = 'p' AND conrelid = 'item'::regclass")|$(pgq "$db1" "SELECT count(*) FROM pg_tables WHERE tablename = 'ferry_keys'")"
finish
