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
finish
