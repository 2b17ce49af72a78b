#!/usr/bin/env bash
# pg-label.sh — the label with PostgreSQL at both ends: export from PostgreSQL (its exported
# snapshot, binary COPY) into a label, import into another PostgreSQL database and into
# SQLite, resume of the import after kill -9, and equality of values through it all.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../pg/pg.sh"
cd "$T"
pg_newdb src
pgq "$src" "CREATE TABLE items(id bigint PRIMARY KEY, name text NOT NULL, price numeric(12,2),
	at timestamptz, blob bytea, flag boolean);
	INSERT INTO items SELECT i, 'item ' || i, i * 1.25, timestamptz '2001-02-03 04:05:06+00' + i * interval '1 minute',
	CASE WHEN i % 7 = 0 THEN NULL ELSE decode(md5(i::text), 'hex') END, i % 2 = 0
	FROM generate_series(1, 30000) i;
	CREATE TABLE bag(a int, b text); INSERT INTO bag SELECT i % 5, 'b' FROM generate_series(1, 4000) i;" > /dev/null
"$FERRY" export -q --chunk-rows 2000 "$(pg_url "$src")" pg.label > /dev/null
"$FERRY" label verify pg.label > /dev/null && ok "a label read from PostgreSQL verifies" || fail "label verify failed"
check "the label holds every row" "34000" "$("$FERRY" label inspect --json pg.label | python3 -c 'import json,sys; print(json.load(sys.stdin)["rows"])')"

pg_newdb dst
set +e
FERRY_FAULT=kill-after-commit:5 "$FERRY" import -q pg.label "$(pg_url "$dst")" > /dev/null 2>&1
check "import into PostgreSQL killed mid-way" "137" "$?"
set -e
"$FERRY" import -q pg.label "$(pg_url "$dst")" > /dev/null
check "PostgreSQL -> label -> PostgreSQL: every row once after the kill" "30000" "$(pgq "$dst" "SELECT count(*) FROM items")"
# Compare the two databases' rows through a text rendering of every value.
h_src=$(pgq "$src" "SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM items t")
h_dst=$(pgq "$dst" "SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM items t")
check "every value of items equal after the round trip" "$h_src" "$h_dst"
check "the table without a key keeps its duplicates" "4000" "$(pgq "$dst" "SELECT count(*) FROM bag")"

"$FERRY" import -q pg.label lite.db > /dev/null
check "PostgreSQL -> label -> SQLite: rows arrive" "30000|4000" "$(sqlite3 lite.db 'SELECT (SELECT count(*) FROM items), (SELECT count(*) FROM bag)')"
check "numeric and text survive into SQLite" "item 7|8.75" "$(sqlite3 lite.db 'SELECT name, price FROM items WHERE id = 7')"
check "PostgreSQL -> label -> SQLite: ferry verify --label agrees, every row" "exit=0" "$(vj --full --label pg.label lite.db)"

# Through a label too, the tables ferry creates in SQLite for PostgreSQL's floats and decimals
# get the exact types (the label records the engine it was read from): NaN, -0.0 and 30
# digits arrive as themselves, not rejected.
pg_newdb odd
pgq "$odd" "CREATE TABLE odd(id bigint PRIMARY KEY, d double precision, n numeric);
	INSERT INTO odd VALUES (1, 'NaN', 1), (2, '-0', 123456789012345678901234567890.5), (3, 1.5, 'NaN')" > /dev/null
"$FERRY" export -q "$(pg_url "$odd")" odd.label > /dev/null
"$FERRY" import -q --rejects odd.jsonl odd.label odd.db > odd.out 2>&1 || { cat odd.out; fail "PostgreSQL -> label -> SQLite: odd values refused"; }
check "PostgreSQL -> label -> SQLite: the exact types" "d:FLOAT8_BLOB n:NUMERIC_TEXT" \
	"$(sqlite3 odd.db "SELECT group_concat(name || ':' || type, ' ') FROM pragma_table_info('odd') WHERE name IN ('d', 'n')")"
check "PostgreSQL -> label -> SQLite: NaN, -0.0 and 30 digits as themselves" \
	"1|text:NaN|text:1 2|real:-0.0|text:123456789012345678901234567890.5 3|real:1.5|text:NaN" \
	"$(python3 -c 'import sqlite3; c = sqlite3.connect("odd.db"); print(" ".join("%d|%s:%r|%s:%s" % (i, type(d).__name__.replace("str", "text").replace("float", "real"), d, type(n).__name__.replace("str", "text"), n) for i, d, n in c.execute("SELECT id, d, n FROM odd ORDER BY id")).replace("\x27", ""))')"
check "PostgreSQL -> label -> SQLite: verify agrees with the source, in full" "exit=0" "$(vj --full "$(pg_url "$odd")" odd.db)"

# Types of the source database the target does not have (an enum, a domain): the tables ferry
# creates declare the kind the values are read as (text, the base type), directly and through
# a label, instead of failing on CREATE TABLE.
pg_newdb typed
pgq "$typed" "CREATE TYPE mood AS ENUM ('sad', 'ok'); CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
	CREATE TABLE e(id bigint PRIMARY KEY, m mood, p posint, a int[]); INSERT INTO e VALUES (1, 'ok', 5, '{1,2}'), (2, 'sad', 7, NULL)" > /dev/null
"$FERRY" export -q "$(pg_url "$typed")" typed.label > /dev/null
for how in copy import; do
	pg_newdb fresh
	if [ $how = copy ]; then
		"$FERRY" copy -q "$(pg_url "$typed")" "$(pg_url "$fresh")" > t.out 2>&1 || { cat t.out; fail "copy of an enum and a domain into a fresh database"; }
	else
		"$FERRY" import -q typed.label "$(pg_url "$fresh")" > t.out 2>&1 || { cat t.out; fail "import of an enum and a domain into a fresh database"; }
	fi
	check "$how into a database without the source's enum and domain: text and the base type" \
		"id:bigint m:text p:bigint a:integer[]" \
		"$(pgq "$fresh" "SELECT string_agg(attname || ':' || format_type(atttypid, atttypmod), ' ' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'e'::regclass AND attnum > 0")"
	check "$how: every value arrives, verified in full" "exit=0" "$(vj --full "$(pg_url "$typed")" "$(pg_url "$fresh")")"
done
finish
