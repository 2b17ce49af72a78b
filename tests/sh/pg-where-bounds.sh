#!/usr/bin/env bash
# pg-where-bounds.sh — a where on PostgreSQL's integer primary key bounds the chunks planned
# (issue #16 item 8), into PostgreSQL and into SQLite: fewer chunks, the same rows, and the
# rows the source reads (planning included) are about the rows selected, not the table.
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

# What the source reads, counted by PostgreSQL (pg_stat_user_tables and _indexes: rows read
# by sequential scans, index entries read, rows fetched by index), reset before each run: a
# where on the key reads about its rows, not the table. Planning walks each selected key
# once (entry and row: the table is not vacuumed), the last chunk's count once more, and
# reading reads them: at most 5 per selected row. 100,000 rows, chunks of 2,000, into SQLite.
pg_newdb big
pgq "$big" "CREATE TABLE events(id bigint PRIMARY KEY, v text);
  INSERT INTO events SELECT i, 'e' || i FROM generate_series(1, 100000) AS i; ANALYZE events" > /dev/null
# settle: a backend's figures reach the statistics when it exits.
settle() {
	for _ in $(seq 100); do
		[ "$(pgq "$pg_admin_db" "SELECT count(*) FROM pg_stat_activity WHERE datname = '$big'")" = 0 ] && return
		sleep 0.1
	done
	fail "backends of $big still open"
}
reset_stats() {
	settle
	pgq "$big" "SELECT count(pg_stat_reset_single_table_counters(oid)) FROM pg_class
	  WHERE oid = 'events'::regclass OR oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = 'events'::regclass)" > /dev/null
	settle
}
source_reads() {
	settle
	pgq "$big" "SELECT t.seq_tup_read + coalesce(t.idx_tup_fetch, 0) +
	  (SELECT coalesce(sum(i.idx_tup_read), 0) FROM pg_stat_user_indexes i WHERE i.relid = t.relid)
	  FROM pg_stat_user_tables t WHERE t.relid = 'events'::regclass"
}
# bplan FILE TARGET KEY COND: a plan of events with `KEY: "COND"` (none when COND is empty).
bplan() {
	printf 'source: %s\ntarget: %s\nchunk_rows: 2000\ntables:\n  - table: events\n' "$(pg_url "$big")" "$2" > "$1"
	[ -z "$4" ] || printf '    %s: "%s"\n' "$3" "$4" >> "$1"
}
# measured PLAN: the copy, and the rows it read in the source.
measured() {
	reset_stats
	"$FERRY" copy -q -p "$1" > /dev/null 2> m.err || fail "copy $1: $(cat m.err)"
	source_reads
}
# same COND DB: the rows where COND, in the source (psql) and in the SQLite target (each once:
# count, distinct keys, sums), and the target's rows outside COND.
fig="count(*) || ' ' || count(DISTINCT id) || ' ' || coalesce(sum(id), 0) || ' ' || coalesce(sum(length(v)), 0)"
same() {
	check "$3: each selected row once, none else" "$(pgq "$big" "SELECT $fig FROM events WHERE $1") 0" \
		"$(sqlite3 "$2" "SELECT $fig FROM events") $(sqlite3 "$2" "SELECT count(*) FROM events WHERE NOT ($1)")"
}
bplan ball.yaml ball.db where ""
all=$(measured ball.yaml)
[ "$all" -ge 100000 ] && ok "postgres: every chunk planned and read: $all rows read" ||
	fail "postgres: a copy of the whole table read $all rows: the statistics do not see it"
i=0
for c in "id > 95000" "id BETWEEN 40001 AND 45000" "id <= 5000" "id < 0" "id > 1000000" "id BETWEEN 10 AND 5"; do
	i=$((i + 1))
	bplan "b$i.yaml" "b$i.db" where "$c"
	n=$(measured "b$i.yaml")
	sel=$(pgq "$big" "SELECT count(*) FROM events WHERE $c")
	[ "$n" -le $((5 * sel + 100)) ] && ok "postgres: where $c: $n rows read for $sel selected (the whole table: $all)" ||
		fail "postgres: where $c: $n rows read for $sel selected (the whole table: $all)"
	same "$c" "b$i.db" "postgres: where $c"
done

# later: the rows moved now are planned and read as a where's; the count of the ones that
# wait is bounded by their keys (here 95% of the table: PostgreSQL scans it once); then the
# backfill.
bplan blater.yaml blater.db later "id <= 95000"
n=$(measured blater.yaml)
[ "$n" -le $((5 * 5000 + 100000 + 100)) ] && ok "postgres: later: id <= 95000: $n rows read (5,000 moved, 95,000 counted)" ||
	fail "postgres: later: id <= 95000: $n rows read (5,000 moved, 95,000 counted; the whole table: $all)"
bplan blater2.yaml blater2.db later "id <= 5000"
n=$(measured blater2.yaml)
[ "$n" -le $((4 * 95000 + 3 * 5000 + 1000)) ] &&
	ok "postgres: later: id <= 5000: $n rows read (95,000 moved, 5,000 counted by the key)" ||
	fail "postgres: later: id <= 5000: $n rows read (95,000 moved, 5,000 counted; the whole table: $all)"
same "id > 5000" blater2.db "postgres: later: id <= 5000, the copy"
same "id > 95000" blater.db "postgres: later: id <= 95000, the copy"
"$FERRY" backfill -q -p blater.yaml > /dev/null 2> bf.err || fail "backfill: $(cat bf.err)"
same "true" blater.db "postgres: later: id <= 95000 and its backfill"

# Killed after its first chunk; rows added in the range above every key (the last chunk is
# open above) and below it; the same command again carries the rest, each row once.
bplan bk.yaml bk.db where "id > 90000"
set +e
FERRY_FAULT=kill-after-commit:1 "$FERRY" copy -q -p bk.yaml > /dev/null 2>&1
code=$?
set -e
check "postgres: killed after the first chunk" "137" "$code"
check "postgres: the killed run planned the range: 5 chunks, 1 done" "5 1" "$(sqlite3 bk.db "SELECT count(*) || ' ' || sum(done) FROM ferry_progress")"
pgq "$big" "INSERT INTO events VALUES (500000, 'above'), (0, 'below')" > /dev/null
"$FERRY" copy -q -p bk.yaml > /dev/null 2> bk.err || fail "resume: $(cat bk.err)"
same "id > 90000" bk.db "postgres: resumed"
check "postgres: resumed: the row added above every key arrived" "above" "$(sqlite3 bk.db "SELECT v FROM events WHERE id = 500000")"
check "postgres: resumed: verify --full" "exit=0" "$(vj --full -p bk.yaml)"
finish
