#!/usr/bin/env bash
# pg-lease.sh — one holder per run with a PostgreSQL target, where the lease is renewed by a
# heartbeat thread as well as by commits: a second copy is refused at once; standbys take
# over from holders killed with -9; a holder paused (SIGSTOP) is taken over and, resumed,
# stops with exit 6 having committed nothing. Exactness is checked by SQL of its own.
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
state() { pgq "$1" "SELECT (SELECT count(*) FROM big) || ' ' || (SELECT count(*) FROM bag) || ' ' || (SELECT count(*) FROM ferry_progress WHERE done = 1) || ' ' || (SELECT count(*) FROM ferry_history)"; }
holder_pid() { pgq "$1" "SELECT split_part(holder, ':', 2) FROM ferry_leases WHERE state = 'held'" 2> /dev/null || true; }
done_chunks() { pgq "$1" "SELECT count(*) FROM ferry_progress WHERE done = 1" 2> /dev/null || echo 0; }
COPY=("$FERRY" copy --quiet --chunk-rows 500 -j 1)

# ---- a second process is refused at once -------------------------------------------------
pg_newdb db
url="$(pg_url "$db")"
# The holder pauses after its second commit until the test lets it go (go-pl).
FERRY_FAULT="exec-after-commit:2:$(until_go "$T/go-pl")" "${COPY[@]}" src.db "$url" > /dev/null 2> h.err &
h=$!
for _ in $(seq 1 200); do [ "$(done_chunks "$db")" -ge 2 ] && break; sleep 0.02; done
set +e
"${COPY[@]}" src.db "$url" > /dev/null 2> r.err
code=$?
touch "$T/go-pl"
wait $h
hcode=$?
set -e
check "the second process exits 6" "6" "$code"
check "... naming the holder, since when and the expiry" "1" \
	"$(grep -cE "^ferry: run [0-9a-f]{12}… is held by $(hostname):$h since [0-9:]{8} UTC \(lease expires in [0-9]+ s\); --standby waits to take over, --join shares its work$" r.err)"
check "the holder finished exactly" "0 $want" "$hcode $(fingerprint "$db")"
check "ferry runs: finished, released, 160 chunks" "copy finished False 160/160" \
	"$("$FERRY" runs --json "$url" | python3 -c 'import json,sys; r=json.load(sys.stdin)["runs"][0]; print(r["kind"], r["state"], r["lease"]["held"], "%d/%d" % (r["chunks_done"], r["chunks"]))')"

# ---- kill -9 of successive holders with standbys waiting ---------------------------------
for round in 1 2; do
	pg_newdb db
	url="$(pg_url "$db")"
	pids=()
	"${COPY[@]}" src.db "$url" > /dev/null 2>&1 &
	pids+=($!)
	for _ in $(seq 1 200); do [ -n "$(holder_pid "$db")" ] && break; sleep 0.02; done
	"${COPY[@]}" --standby --lease 2s src.db "$url" > /dev/null 2> s1.err &
	pids+=($!)
	"${COPY[@]}" --standby --lease 2s src.db "$url" > /dev/null 2> s2.err &
	pids+=($!)
	kills=0
	for at in $((round * 8)) $((round * 8 + 16)); do
		for _ in $(seq 1 500); do [ "$(done_chunks "$db")" -ge "$at" ] && break; sleep 0.02; done
		hp="$(holder_pid "$db")"
		if [ -n "$hp" ] && kill -9 "$hp" 2> /dev/null; then kills=$((kills + 1)); fi
		for _ in $(seq 1 200); do
			[ -n "$(holder_pid "$db")" ] && [ "$(holder_pid "$db")" != "$hp" ] && break
			alive=0 # the run may have ended: then no holder comes (each poll is a psql, slow when loaded)
			for p in "${pids[@]}"; do kill -0 "$p" 2> /dev/null && alive=1; done
			[ "$alive" = 1 ] || break
			sleep 0.02
		done
	done
	codes=""
	set +e
	for p in "${pids[@]}"; do
		wait "$p" 2> /dev/null
		codes="$codes $?"
	done
	set -e
	echo "round $round: exit codes$codes"
	check "kill -9 round $round: holders killed ($kills; two unless the run ended first)" "1" "$([ "$kills" -ge 1 ] && echo 1 || echo 0)"
	check "kill -9 round $round: the last standby finished exactly" "$want" "$(fingerprint "$db")"
	check "kill -9 round $round: recorded once in ferry_history" "1" "$(pgq "$db" "SELECT count(*) FROM ferry_history WHERE kind = 'data'")"
done

# ---- a paused holder: taken over; resumed, it commits nothing ----------------------------
pg_newdb db
url="$(pg_url "$db")"
FERRY_FAULT='exec-after-commit:3:kill -STOP $PPID' "${COPY[@]}" --lease 1s src.db "$url" > /dev/null 2> old.err &
old=$!
for _ in $(seq 1 300); do [ "$(awk '{print $3}' "/proc/$old/stat")" = T ] && break; sleep 0.02; done
check "the holder is paused" "T" "$(awk '{print $3}' "/proc/$old/stat")"
check "ferry runs names it as the holder" "1" "$("$FERRY" runs "$url" | grep -c " $(hostname):$old ")"
set +e
"$FERRY" copy --chunk-rows 500 -j 1 --standby --json src.db "$url" > sb.json 2> sb.err
scode=$?
set -e
check "the standby finished" "0" "$scode"
check "... having said that it took over after the lease lapsed" "1" \
	"$(grep -cE "took over run .* from $(hostname):$old \(its lease lapsed: no heartbeat for [0-9.]+ s\)" sb.err)"
snapshot="$(state "$db")"
kill -CONT "$old"
set +e
wait "$old"
ocode=$?
set -e
check "the resumed holder stops with exit 6" "6" "$ocode"
check "... saying it was taken over" "1" "$(grep -c "was taken over by $(hostname):" old.err)"
check "... and committed nothing" "$snapshot" "$(state "$db")"
check "the run is exact" "$want" "$(fingerprint "$db")"
finish
