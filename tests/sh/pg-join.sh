#!/usr/bin/env bash
# pg-join.sh — --join: three processes share one run's chunks into PostgreSQL, claiming them
# from the target (FOR UPDATE SKIP LOCKED); one is killed with -9 mid-run (a joiner, then in
# another round the holder) and the others finish it exactly: counts, sums, no duplicate
# (a keyless table's groups), the run recorded once in ferry_history with every row, each
# process's share printed. A SQLite target refuses --join.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../pg/pg.sh"
cd "$T"

sqlite3 src.db <<'SQL'
CREATE TABLE big(id INTEGER PRIMARY KEY, a INTEGER, s TEXT);
CREATE TABLE bag(a INTEGER, b TEXT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 60000)
INSERT INTO big SELECT i, (i * 2654435761) % 1000003, 's' || i FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
INSERT INTO bag SELECT i % 7, 'same' FROM n;
SQL
want="$(sqlite3 src.db "SELECT (SELECT count(*) || ' ' || sum(id) || ' ' || sum(a) || ' ' || count(DISTINCT id) FROM big) || '|' || (SELECT group_concat(n) FROM (SELECT a, count(*) n FROM bag GROUP BY a ORDER BY a))")"
fingerprint() {
	pgq "$1" "SELECT (SELECT count(*) || ' ' || sum(id) || ' ' || sum(a) || ' ' || count(DISTINCT id) FROM big) || '|' || (SELECT string_agg(n::text, ',' ORDER BY a) FROM (SELECT a, count(*) n FROM bag GROUP BY a) x)"
}
holder_pid() { pgq "$1" "SELECT split_part(holder, ':', 2) FROM ferry_leases WHERE state = 'held'" 2> /dev/null || true; }
done_chunks() { pgq "$1" "SELECT count(*) FROM ferry_progress WHERE done = 1" 2> /dev/null || echo 0; }
JOIN=("$FERRY" copy --join --json --chunk-rows 250 -j 1) # 320 chunks: killed well before the end

for victim in joiner holder; do
	pg_newdb db
	url="$(pg_url "$db")"
	pids=()
	for i in 0 1 2; do
		"${JOIN[@]}" src.db "$url" > "o$i.json" 2> "e$i.err" &
		pids+=($!)
		sleep 0.1
	done
	for _ in $(seq 1 500); do [ "$(done_chunks "$db")" -ge 40 ] && break; sleep 0.02; done
	hp="$(holder_pid "$db")"
	kill_pid=""
	for p in "${pids[@]}"; do
		if [ "$victim" = holder ] && [ "$p" = "$hp" ]; then kill_pid=$p; fi
		if [ "$victim" = joiner ] && [ "$p" != "$hp" ] && [ -z "$kill_pid" ]; then kill_pid=$p; fi
	done
	kill -9 "$kill_pid"
	codes=""
	set +e
	for p in "${pids[@]}"; do
		wait "$p" 2> /dev/null
		codes="$codes $?"
	done
	set -e
	echo "$victim killed: exit codes$codes"
	for i in 0 1 2; do grep -v -- '--join' "e$i.err" | sed "s/^/process $i: /" || true; done
	check "$victim killed: the others finished (exit 0), it was killed (137)" "0 0 137" \
		"$(echo $codes | tr ' ' '\n' | sort -n | tr '\n' ' ' | sed 's/ $//')"
	check "$victim killed: the run is exact" "$want" "$(fingerprint "$db")"
	check "$victim killed: recorded once in ferry_history, every row" "1 80000" \
		"$(pgq "$db" "SELECT count(*) || ' ' || sum(rows_moved) FROM ferry_history WHERE kind = 'data'")"
	shares=0
	whole=0
	for i in 0 1 2; do
		[ -s "o$i.json" ] || continue
		n="$(python3 -c 'import json,re,sys; s=json.load(open(sys.argv[1])); m=[re.match(r"--join: this process committed (\d+) chunks", x["message"]) for x in s["notes"]]; print([int(x.group(1)) for x in m if x][0])' "o$i.json")"
		shares=$((shares + n))
		if grep -q 'the figures above are the whole run' "o$i.json"; then
			whole="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["totals"]["written"])' "o$i.json")"
		fi
	done
	check "$victim killed: each survivor printed its share, and they did some of the work" "1" "$([ "$shares" -gt 0 ] && [ "$shares" -le 320 ] && echo 1 || echo 0)"
	check "$victim killed: the finishing process's summary counts the whole run" "80000" "$whole"
	check "$victim killed: ferry runs says finished" "finished" \
		"$("$FERRY" runs --json "$url" | python3 -c 'import json,sys; print(json.load(sys.stdin)["runs"][0]["state"])')"
	# Keys wait in ferry_keys until after the load; whichever process finishes last builds them
	# and drops that table, whatever the order the others finished in.
	check "$victim killed: big's primary key built, ferry_keys gone" "1 0" \
		"$(pgq "$db" "SELECT count(*) FROM pg_constraint WHERE contype = 'p' AND conrelid = 'big'::regclass") $(pgq "$db" "SELECT count(*) FROM pg_tables WHERE tablename = 'ferry_keys'")"
done
echo "joined processes print:"; cat e0.err e1.err e2.err | grep -- '--join' | head -4

# A holder started without --join does not share its run: a joiner is refused (exit 6).
pg_newdb db
url="$(pg_url "$db")"
FERRY_FAULT="exec-after-commit:2:$(until_go "$T/go-nj")" "$FERRY" copy -q --chunk-rows 5000 -j 1 src.db "$url" > /dev/null 2>&1 &
plain=$!
for _ in $(seq 1 200); do [ "$(done_chunks "$db")" -ge 2 ] && break; sleep 0.02; done
set +e
"$FERRY" copy -q --join src.db "$url" > /dev/null 2> nj.err
code=$?
touch "$T/go-nj"
wait "$plain"
pcode=$?
set -e
check "a joiner of a holder that does not share is refused (exit 6), saying so; the holder finishes" "6 1 0" \
	"$code $(grep -c "held by $(hostname):$plain since .* which does not share its work" nj.err) $pcode"

set +e
"$FERRY" copy --join src.db dst.db > /dev/null 2> sq.err
code=$?
set -e
check "a SQLite target refuses --join (exit 2), saying why" "2 1" "$code $(grep -c 'one writer at a time' sq.err)"
finish
