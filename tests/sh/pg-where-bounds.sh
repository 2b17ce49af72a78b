#!/usr/bin/env bash
# pg-where-bounds.sh — a where on PostgreSQL's integer primary key bounds the chunks planned
# (issue #16 item 8), into PostgreSQL and into SQLite: fewer chunks, the same rows.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../pg/pg.sh"
cd "$T"

pg_newdb src
pgq "$src" "CREATE TABLE events(id bigint PRIMARY KEY, v text);
  INSERT INTO events SELECT i, 'e' || i FROM generate_series(1, 20000) AS i;
  CREATE TABLE uuids(id uuid PRIMARY KEY, n int);
  INSERT INTO uuids SELECT md5(i::text)::uuid, i FROM generate_series(1, 3000) AS i; ANALYZE" > /dev/null
pg_newdb dst
cat > plan.yaml <<YAML
source: $(pg_url "$src")
target: $(pg_url "$dst")
chunk_rows: 2000
tables:
  - table: events
    where: "id > 15000"
  - table: uuids
    where: "n >= 2001"
YAML
"$FERRY" copy -q -p plan.yaml > /dev/null 2> e1.txt || fail "copy: $(cat e1.txt)"
all=$(pgq "$src" "SELECT count(*) FROM events") # the planner's chunks without a where
check "postgres: the rows of the where (independent count)" "5000 15001 20000 1000" \
	"$(pgq "$dst" "SELECT count(*) || ' ' || min(id) || ' ' || max(id) FROM events") $(pgq "$dst" "SELECT count(*) FROM uuids")"
n=$(pgq "$dst" "SELECT count(*) FROM ferry_progress WHERE job_name LIKE '%events%'")
[ "$n" -ge 1 ] && [ "$n" -le 4 ] && ok "postgres: where id > 15000 plans at most 4 of the 10 chunks ($n)" || fail "postgres: $n chunks planned for a quarter of $all rows"
check "postgres: ferry verify --full" "exit=0" "$(vj --full -p plan.yaml)"
sed "s|target: .*|target: lite2.db|" plan.yaml > plan2.yaml
"$FERRY" copy -q -p plan2.yaml > /dev/null 2> e3.txt || fail "to sqlite: $(cat e3.txt)"
check "postgres -> sqlite with the where: the same rows" "5000|15001|20000" "$(sqlite3 lite2.db "SELECT count(*), min(id), max(id) FROM events")"
check "postgres -> sqlite with the where: ferry verify --full" "exit=0" "$(vj --full -p plan2.yaml)"
finish
