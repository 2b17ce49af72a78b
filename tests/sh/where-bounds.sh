#!/usr/bin/env bash
# where-bounds.sh — a plan's where (and later:) on the integer key bounds the chunks planned
# (issue #16 item 8): planning walks only the keys in the range (the first chunk ends
# chunk_rows keys into it, the last is the one reaching its end), so the job reads the rows
# it writes, not every row, planning included; rows, verify --full, a resumed run and the
# backfill of the rows that wait are unchanged; conditions that are not a bound (OR, another
# column, text) plan every chunk.
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
check "where 2500 < id AND id <= 4200: two chunks, from the range's first key" "2" "$(chunks mid.db | cut -d' ' -f1)"
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
"$FERRY" copy --json -p later.yaml > later.json 2> /dev/null
check "later: id < 7001: the rows that wait, counted within their key range" "7000" \
	"$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["tables"][0]["waiting"])' later.json)"
check "later: id < 7001: the copy plans only the chunks of the rows moved now" "3 3000:7001-10000" \
	"$(chunks later.db | cut -d' ' -f1) $(rows later.db | cut -d' ' -f1)"
"$FERRY" backfill -q -p later.yaml > /dev/null 2> bf.err || fail "backfill: $(cat bf.err)"
check "the backfill carries the rows that waited: every row once" "10000:1-10000" "$(rows later.db | cut -d' ' -f1)"
check "the backfill planned only the chunks of the rows that wait" "7" \
	"$(sqlite3 later.db "SELECT count(*) FROM ferry_progress WHERE run_id <> (SELECT run_id FROM ferry_progress ORDER BY rowid LIMIT 1) AND job_name LIKE '%events%'")"
check "after the backfill: ferry verify --full" "exit=0" "$(vj --full -p later.yaml)"

# SQLite keeps 7000.5 in an INTEGER key column that is not the rowid's alias: `k < 7001`
# holds for it, so its range ends at 7001, not 7000; the copy and the backfill of a later:
# carry each row once, and a where between two integers finds it.
sqlite3 real.db "CREATE TABLE r(k INTEGER NOT NULL PRIMARY KEY, v TEXT) WITHOUT ROWID;
  WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000)
  INSERT INTO r SELECT i, 'r' || i FROM n;
  INSERT INTO r VALUES (7000.5, 'half'), (7001.5, 'half too'), (0.5, 'low'), (10000.5, 'high');"
rplan() { printf 'source: real.db\ntarget: %s\nchunk_rows: 1000\ntables:\n  - table: r\n    %s: "%s"\n' "$1" "$2" "$3" > "$1.yaml"; }
rexact() { sqlite3 "$1" "ATTACH 'real.db' AS s; SELECT count(*) || ' ' || (SELECT count(*) FROM (SELECT * FROM s.r WHERE $2 EXCEPT SELECT * FROM main.r)) || ' ' || (SELECT count(*) FROM (SELECT * FROM main.r EXCEPT SELECT * FROM s.r WHERE $2)) FROM main.r"; }
rplan rl.db later "k < 7001"
"$FERRY" copy -q -p rl.db.yaml > /dev/null
check "later: k < 7001 with 7000.5 and 7001.5 in the key: the rows moved now" "3002 0 0" "$(rexact rl.db "NOT k < 7001")"
"$FERRY" backfill -q -p rl.db.yaml > /dev/null 2> bf.err || fail "backfill: $(cat bf.err)"
check "... and after the backfill every row once, 7000.5 too" "10004 0 0" "$(rexact rl.db "1")"
rplan rw.db where "k > 7000 AND k < 7001"
"$FERRY" copy -q -p rw.db.yaml > /dev/null
check "where k > 7000 AND k < 7001: the one row between" "1 0 0" "$(rexact rw.db "k > 7000 AND k < 7001")"

# What planning reads, on a table of 200,000 rows: the bytes the process read (read(2),
# which is how SQLite reads pages here; /proc/PID/io's rchar) by its first chunk's commit,
# i.e. planning and about one chunk. The reference plans every chunk: it walks the whole
# rowid tree, which is the table.
sqlite3 big.db "CREATE TABLE events(id INTEGER PRIMARY KEY, v TEXT);
  WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000)
  INSERT INTO events SELECT i, printf('%.60c', 'x') || i FROM n;"
size=$(stat -c %s big.db)
# bigplan FILE TARGET WHERE [LATER]
bigplan() {
	{
		echo "source: big.db"
		echo "target: $2"
		echo "chunk_rows: 1000"
		echo "tables:"
		echo "  - table: events"
		[ -z "$3" ] || echo "    where: \"$3\""
		[ -z "${4:-}" ] || echo "    later: \"$4\""
	} > "$1"
}
# reads PLAN: rchar by the first commit (the copy then goes on to the end).
reads() {
	FERRY_FAULT='exec-after-commit:1:sed -n "s/^rchar: //p" /proc/$PPID/io > io.txt' \
		"$FERRY" copy -q -p "$1" > /dev/null 2> copy.err || fail "copy $1: $(cat copy.err)"
	cat io.txt
}
# exact DB COND: the target's events are the source's rows where COND, each once
# (independent of ferry: sqlite3 over both files).
exact() {
	sqlite3 "$1" "ATTACH 'big.db' AS s;
	  SELECT (SELECT count(*) FROM main.events) || ' ' || (SELECT count(DISTINCT id) FROM main.events) || ' ' ||
	    (SELECT count(*) FROM s.events WHERE $2) || ' ' ||
	    (SELECT count(*) FROM (SELECT * FROM main.events EXCEPT SELECT * FROM s.events WHERE $2)) || ' ' ||
	    (SELECT count(*) FROM (SELECT * FROM s.events WHERE $2 EXCEPT SELECT * FROM main.events))"
}
want() { local n; n=$(sqlite3 big.db "SELECT count(*) FROM events WHERE $1"); echo "$n $n $n 0 0"; }
# est DB: the chunks planned and the rows they counted (the rows planning walked, to within
# one per chunk).
est() { sqlite3 "$1" "SELECT count(*) || ' ' || sum(est_rows) FROM ferry_progress"; }
if [ -r /proc/self/io ]; then
	bigplan b-all.yaml b-all.db ""
	all=$(reads b-all.yaml)
	[ "$all" -ge $((size / 2)) ] && ok "planning every chunk reads the table ($all bytes of $size)" ||
		fail "planning every chunk read $all bytes of a $size-byte table: the measure does not see it"
	for c in "id >= 199001" "id BETWEEN 100001 AND 101000" "id <= 1000" "id < 0" "id > 1000000" "id BETWEEN 10 AND 5"; do
		bigplan b.yaml b.db "$c"
		rm -f b.db*
		n=$(reads b.yaml)
		[ "$n" -lt $((size / 10)) ] && ok "where $c: planning reads the range ($n bytes, the whole plan $all)" ||
			fail "where $c: $n bytes read by the first commit, the whole plan $all"
		check "where $c: each selected row once, none else" "$(want "$c")" "$(exact b.db "$c")"
	done
	bigplan b-later.yaml b-later.db "" "id < 199001"
	n=$(reads b-later.yaml)
	[ "$n" -lt $((size / 10)) ] && ok "later: id < 199001: planning reads the rows moved now ($n bytes)" ||
		fail "later: id < 199001: $n bytes read by the first commit, the whole plan $all"
else
	ok "skipped: no /proc/self/io to count the bytes planning reads"
	bigplan b-later.yaml b-later.db "" "id < 199001"
	"$FERRY" copy -q -p b-later.yaml > /dev/null
fi
check "later: id < 199001: the rows moved now, each once" "$(want "id >= 199001")" "$(exact b-later.db "id >= 199001")"
check "later: id < 199001: 1 chunk planned, counting the 1000 rows" "1 1000" "$(est b-later.db)"
"$FERRY" backfill -q -p b-later.yaml > /dev/null 2> bf.err || fail "backfill: $(cat bf.err)"
check "later: id < 199001 and its backfill: every row once" "$(want "1")" "$(exact b-later.db "1")"
check "the backfill planned 199 chunks counting its 199,000 rows" "200 200000" "$(est b-later.db)"

# The chunks planned count the rows of the range: planning started at its first key.
bigplan b.yaml b-mid.db "id > 50500 AND id <= 53000"
"$FERRY" copy -q -p b.yaml > /dev/null
check "where id > 50500 AND id <= 53000: 3 chunks counting its 2500 rows" "3 2500" "$(est b-mid.db)"

# Killed after its first chunk, rows added (one in the range above every key, which the
# last chunk, open above, holds; one below every key, outside it), then the same command
# again: the rest of the range, each selected row once.
bigplan k.yaml k.db "id >= 150001"
set +e
FERRY_FAULT=kill-after-commit:1 "$FERRY" copy -q -p k.yaml > /dev/null 2>&1
code=$?
set -e
check "killed after the first chunk" "137" "$code"
check "the killed run planned the range only: 50 chunks, 1 done" "50 1" "$(sqlite3 k.db "SELECT count(*) || ' ' || sum(done) FROM ferry_progress")"
sqlite3 big.db "INSERT INTO events VALUES (300000, 'above'), (0, 'below')"
"$FERRY" copy -q -p k.yaml > /dev/null 2> k.err || fail "resume: $(cat k.err)"
check "resumed: each row of the range once, the one added above every key too" "$(want "id >= 150001")" "$(exact k.db "id >= 150001")"
check "resumed: the row added above arrived" "above" "$(sqlite3 k.db "SELECT v FROM events WHERE id = 300000")"
check "resumed: verify --full" "exit=0" "$(vj --full -p k.yaml)"
sqlite3 big.db "DELETE FROM events WHERE id IN (0, 300000)"

finish
