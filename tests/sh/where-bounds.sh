#!/usr/bin/env bash
# where-bounds.sh — a plan's where (and later:) on the integer key bounds the chunks planned
# (issue #16 item 8): chunks wholly outside the range are not planned, so the job reads the
# rows it writes, not every row; rows, verify --full and the backfill of the rows that wait
# are unchanged; conditions that are not a bound (OR, another column, text) plan every chunk.
source "$(dirname "$0")/lib.sh"
cd "$T"

sqlite3 src.db "CREATE TABLE events(id INTEGER PRIMARY KEY, v TEXT);
  WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000)
  INSERT INTO events SELECT i, 'e' || i FROM n;
  CREATE TABLE keyed(k INTEGER NOT NULL PRIMARY KEY, v TEXT) WITHOUT ROWID;
  INSERT INTO keyed SELECT id * 2, v FROM events;"
# plan FILE TARGET WHERE [LATER]
plan() {
	{
		echo "source: src.db"
		echo "target: $2"
		echo "chunk_rows: 1000"
		echo "tables:"
		echo "  - table: events"
		[ -z "$3" ] || echo "    where: \"$3\""
		[ -z "${4:-}" ] || echo "    later: \"$4\""
		echo "  - table: keyed"
		[ -z "$3" ] || echo "    where: \"$(echo "$3" | sed 's/\bid\b/k/g')\""
	} > "$1"
}
chunks() { sqlite3 "$1" "SELECT group_concat(n, ' ') FROM (SELECT count(*) AS n FROM ferry_progress GROUP BY job ORDER BY job)"; }
rows() { sqlite3 "$1" "SELECT (SELECT count(*) || ':' || coalesce(min(id), '') || '-' || coalesce(max(id), '') FROM events) || ' ' || (SELECT count(*) FROM keyed)"; }

# Every row: 10 chunks each.
plan all.yaml all.db ""
"$FERRY" copy -q -p all.yaml > /dev/null
check "no where: every chunk is planned" "10 10" "$(chunks all.db)"

# id >= 5001 (k >= 5001 for the WITHOUT ROWID table): half the chunks.
plan half.yaml half.db "id >= 5001 AND v <> 'x'"
"$FERRY" copy -q -p half.yaml > /dev/null
check "where id >= 5001: only the chunks that can hold such rows" "5 8" "$(chunks half.db)"
check "where id >= 5001: the rows (independent count)" "5000:5001-10000 $(sqlite3 src.db "SELECT count(*) FROM keyed WHERE k >= 5001")" "$(rows half.db)"
check "where id >= 5001: ferry verify --full" "exit=0" "$(vj --full -p half.yaml)"

# Both sides, written both ways round, BETWEEN.
plan mid.yaml mid.db "(2500 < id) AND id <= 4200"
"$FERRY" copy -q -p mid.yaml > /dev/null
check "where 2500 < id AND id <= 4200" "1700:2501-4200" "$(rows mid.db | cut -d' ' -f1)"
check "where 2500 < id AND id <= 4200: three chunks" "3" "$(chunks mid.db | cut -d' ' -f1)"
plan btw.yaml btw.db "id BETWEEN 9990 AND 20000"
"$FERRY" copy -q -p btw.yaml > /dev/null
check "where id BETWEEN 9990 AND 20000: the last chunk only" "1 11:9990-10000" "$(chunks btw.db | cut -d' ' -f1) $(rows btw.db | cut -d' ' -f1)"
plan none.yaml none.db "id > 99999"
"$FERRY" copy -q -p none.yaml > /dev/null
check "where id > 99999: one (empty) chunk, no row" "1 0:-" "$(chunks none.db | cut -d' ' -f1) $(rows none.db | cut -d' ' -f1)"
check "where id > 99999: ferry verify --full" "exit=0" "$(vj --full -p none.yaml)"

# Not a bound: every chunk, the rows still right.
plan or.yaml or.db "id >= 5001 OR v = 'e7'"
"$FERRY" copy -q -p or.yaml > /dev/null
check "an OR bounds nothing" "10 5001:7-10000" "$(chunks or.db | cut -d' ' -f1) $(rows or.db | cut -d' ' -f1)"
plan txt.yaml txt.db "id >= '5001'"
"$FERRY" copy -q -p txt.yaml > /dev/null
check "a text literal bounds nothing (SQLite compares it as text)" "10 $(sqlite3 src.db "SELECT count(*) FROM events WHERE id >= '5001'")" "$(chunks txt.db | cut -d' ' -f1) $(rows txt.db | cut -d' ' -f1 | cut -d: -f1)"

# later: the rows moved now are bounded by its negation, the backfill by the condition.
plan later.yaml later.db "" "id < 7001"
"$FERRY" copy -q -p later.yaml > /dev/null
check "later: id < 7001: the copy plans only the chunks of the rows moved now" "3 3000:7001-10000" \
	"$(chunks later.db | cut -d' ' -f1) $(rows later.db | cut -d' ' -f1)"
"$FERRY" backfill -q -p later.yaml > /dev/null 2> bf.err || fail "backfill: $(cat bf.err)"
check "the backfill carries the rows that waited: every row once" "10000:1-10000" "$(rows later.db | cut -d' ' -f1)"
check "the backfill planned only the chunks of the rows that wait" "7" \
	"$(sqlite3 later.db "SELECT count(*) FROM ferry_progress WHERE run_id <> (SELECT run_id FROM ferry_progress ORDER BY rowid LIMIT 1) AND job_name LIKE '%events%'")"
check "after the backfill: ferry verify --full" "exit=0" "$(vj --full -p later.yaml)"

finish
