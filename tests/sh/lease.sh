#!/usr/bin/env bash
# lease.sh — one holder per run (SQLite target): a second copy of the same run is refused at
# once with the holder named and the target left as it was; standbys take over from a holder
# killed with -9 (repeatedly) and from one that was paused, which then stops with a clear
# error and commits nothing; ferry runs shows who holds what. Every run ends exact, checked
# by SQL independent of ferry (counts, sums, EXCEPT both ways, duplicates of a keyless table).
source "$(dirname "$0")/lib.sh"
cd "$T"

sqlite3 src.db <<'SQL'
CREATE TABLE big(id INTEGER PRIMARY KEY, a INTEGER, s TEXT);
CREATE TABLE bag(a INTEGER, b TEXT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 120000)
INSERT INTO big SELECT i, (i * 2654435761) % 1000003, 's' || i FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 30000)
INSERT INTO bag SELECT i % 7, 'same' FROM n;
SQL
bag_want="$(sqlite3 src.db 'SELECT count(*) || "/" || group_concat(n) FROM (SELECT a, count(*) n FROM bag GROUP BY a ORDER BY a)')"
exact() { # exact DB: "big=same bag=same" when the target holds the source exactly once
	local b g
	b="$(same_rows "$1" big src.db big)"
	g="$(sqlite3 "$1" 'SELECT count(*) || "/" || group_concat(n) FROM (SELECT a, count(*) n FROM bag GROUP BY a ORDER BY a)')"
	[ "$b" = "120000 120000 0 0" ] && b=same
	[ "$g" = "$bag_want" ] && g=same
	echo "big=$b bag=$g"
}
holder_pid() { sqlite3 "$1" "SELECT substr(holder, instr(holder, ':') + 1) FROM ferry_leases WHERE state = 'held'" 2> /dev/null || true; }
COPY=("$FERRY" copy --quiet --chunk-rows 1000 -j 1) # not a function: $! must be ferry's pid
run_copy() { "${COPY[@]}" "$@"; }
done_chunks() { sqlite3 "$1" 'SELECT count(*) FROM ferry_progress WHERE done = 1' 2> /dev/null || echo 0; }

# ---- 1. A second process of the same run is refused at once, naming the holder ------------
# The holder pauses after its second commit until the test lets it go (go1), so the second
# comes while it runs, however slow the machine.
set +e
FERRY_FAULT="exec-after-commit:2:$(until_go "$T/go1")" "${COPY[@]}" src.db t1.db > /dev/null 2> h1.err &
h=$!
for _ in $(seq 1 100); do [ -n "$(holder_pid t1.db)" ] && [ "$(sqlite3 t1.db 'SELECT count(*) FROM ferry_progress WHERE done = 1' 2> /dev/null)" -ge 2 ] 2> /dev/null && break; sleep 0.05; done
before="$(sqlite3 t1.db 'SELECT (SELECT count(*) FROM big) || " " || (SELECT count(*) FROM ferry_progress WHERE done = 1) || " " || (SELECT epoch || beats FROM ferry_leases)')"
t0=$(date +%s.%N)
run_copy src.db t1.db > r1.out 2> r1.err
code=$?
t1=$(date +%s.%N)
after="$(sqlite3 t1.db 'SELECT (SELECT count(*) FROM big) || " " || (SELECT count(*) FROM ferry_progress WHERE done = 1) || " " || (SELECT epoch || beats FROM ferry_leases)')"
touch "$T/go1"
wait $h
hcode=$?
set -e
check "the second process exits 6 (held)" "6" "$code"
check "... at once (well inside the lease's 10 s)" "1" "$(python3 -c "print(int($t1 - $t0 < 5.0))")"
check "... with one line naming the holder, since when, the expiry and the hints" "1" \
	"$(grep -cE "^ferry: run [0-9a-f]{12}… is held by $(hostname):$h since [0-9]{2}:[0-9]{2}:[0-9]{2} UTC \(lease expires in [0-9]+ s\); --standby waits to take over, --join shares its work$" r1.err)"
check "... and nothing else on stderr" "1" "$(wc -l < r1.err)"
check "the target was not touched by the refused process" "$before" "$after"
check "the holder finished" "0" "$hcode"
check "the holder's run is exact" "big=same bag=same" "$(exact t1.db)"
check "the lease was released at the end" "released" "$(sqlite3 t1.db 'SELECT state FROM ferry_leases')"

# Started together: exactly one runs, the other is refused, and the result is exact.
for i in 1 2 3; do
	rm -f t2.db*
	set +e
	"${COPY[@]}" src.db t2.db > /dev/null 2> a.err &
	a=$!
	"${COPY[@]}" src.db t2.db > /dev/null 2> b.err &
	b=$!
	wait $a
	ca=$?
	wait $b
	cb=$?
	set -e
	check "started together ($i): one finishes, the other is refused (exit 6)" "0 6" "$(printf '%s\n' $ca $cb | sort | tr '\n' ' ' | sed 's/ $//')"
	check "started together ($i): exact" "big=same bag=same" "$(exact t2.db)"
done

# The exit code is documented.
check "exit 6 is in --help" "1" "$("$FERRY" copy --help | grep -c '^  6 ')"
set +e
"$FERRY" export --standby src.db lbl > /dev/null 2> ex.err
code=$?
set -e
check "export refuses --standby (a label keeps no lease), exit 2" "2" "$code"
check "... saying why" "1" "$(grep -c 'a label keeps its record in its own files' ex.err)"

# ---- 2. kill -9 of the holder with standbys waiting, repeated ----------------------------
# Each round kills whoever holds the run at two moments (by chunks committed, different in
# every round); the last process standing finishes it.
SMALL=("$FERRY" copy --quiet --chunk-rows 500 -j 1) # 300 chunks: time to kill two holders
for round in 1 2 3; do
	rm -f t3.db*
	pids=()
	"${SMALL[@]}" src.db t3.db > /dev/null 2> p0.err &
	pids+=($!)
	for _ in $(seq 1 100); do [ -n "$(holder_pid t3.db)" ] && break; sleep 0.02; done
	"${SMALL[@]}" --standby --lease 1s src.db t3.db > /dev/null 2> p1.err &
	pids+=($!)
	"${SMALL[@]}" --standby --lease 1s src.db t3.db > /dev/null 2> p2.err &
	pids+=($!)
	kills=0
	for at in $((round * 17)) $((round * 17 + 45)); do
		for _ in $(seq 1 500); do [ "$(done_chunks t3.db)" -ge "$at" ] && break; sleep 0.01; done
		hp="$(holder_pid t3.db)"
		if [ -n "$hp" ] && kill -9 "$hp" 2> /dev/null; then kills=$((kills + 1)); fi
		# the next holder: a standby takes over within a poll (the pid is gone)
		for _ in $(seq 1 100); do [ -n "$(holder_pid t3.db)" ] && [ "$(holder_pid t3.db)" != "$hp" ] && break; sleep 0.02; done
	done
	codes=""
	set +e
	for p in "${pids[@]}"; do
		wait "$p"
		codes="$codes $?"
	done
	set -e
	echo "round $round: killed $kills holders; exit codes$codes"
	check "kill -9 round $round: holders were killed ($kills; two unless the run ended first)" "1" "$([ "$kills" -ge 1 ] && echo 1 || echo 0)"
	check "kill -9 round $round: the survivor finished the run exactly" "big=same bag=same" "$(exact t3.db)"
	check "kill -9 round $round: every process was killed (137) or finished (0)" "" "$(echo "$codes" | tr ' ' '\n' | grep -vE '^(0|137|)$' || true)"
	check "kill -9 round $round: a standby said it took over" "1" "$(cat p1.err p2.err | grep -c 'took over run .* (that process is gone); resuming from its checkpoints' | awk '{print ($1 >= 1)}')"
	check "kill -9 round $round: the run is recorded once in ferry_history" "1" "$(sqlite3 t3.db "SELECT count(*) FROM ferry_history WHERE kind = 'data'")"
	check "kill -9 round $round: ferry runs says finished" "finished" \
		"$("$FERRY" runs --json t3.db | python3 -c 'import json,sys; print(json.load(sys.stdin)["runs"][0]["state"])')"
done

# A holder killed with no standby: ferry runs says the run is stalled (the pid is gone), and
# a plain rerun takes over at once.
rm -f t5.db*
"${COPY[@]}" src.db t5.db > /dev/null 2>&1 &
k=$!
for _ in $(seq 1 300); do [ "$(done_chunks t5.db)" -ge 5 ] && break; sleep 0.02; done
kill -9 "$k"
wait "$k" 2> /dev/null || true
check "ferry runs: a run whose holder was killed is stalled" "stalled $(hostname):$k" \
	"$("$FERRY" runs --json t5.db | python3 -c 'import json,sys; r=json.load(sys.stdin)["runs"][0]; print(r["state"], r["lease"]["holder"])')"
"${COPY[@]}" src.db t5.db > /dev/null 2> t5.err
check "a plain rerun takes over at once and finishes exactly" "1 big=same bag=same" \
	"$(grep -c "took over run .* from $(hostname):$k (that process is gone)" t5.err) $(exact t5.db)"

# ---- 3. A paused holder: the standby takes over; resumed, the old one commits nothing ----
rm -f t4.db*
# The holder stops itself (SIGSTOP) right after its third commit, between two transactions.
FERRY_FAULT='exec-after-commit:3:kill -STOP $PPID' "${COPY[@]}" --lease 1s src.db t4.db > /dev/null 2> old.err &
old=$!
for _ in $(seq 1 200); do [ "$(awk '{print $3}' "/proc/$old/stat")" = T ] && break; sleep 0.02; done
check "the holder is paused" "T" "$(awk '{print $3}' "/proc/$old/stat")"
runs_paused="$("$FERRY" runs t4.db)"
check "ferry runs names the paused holder" "1" "$(echo "$runs_paused" | grep -c "copy .* $(hostname):$old ")"
done_at_pause="$(sqlite3 t4.db 'SELECT count(*) FROM ferry_progress WHERE done = 1')"
set +e
run_copy --standby --json src.db t4.db > sb.json 2> sb.err
scode=$?
set -e
check "the standby finished the run" "0" "$scode"
check "the standby said it waited, then took over after the lease lapsed" "2" \
	"$(grep -cE 'standby: run .* is held by .*:'"$old"' since|took over run .* from .*:'"$old"' \(its lease lapsed: no heartbeat for [0-9.]+ s\); resuming from its checkpoints' sb.err)"
check "... and its summary says so, resuming after the paused holder's chunks" "1 $done_at_pause" \
	"$(python3 -c 'import json; s=json.load(open("sb.json")); print(sum(n["message"].startswith("took over run") for n in s["notes"]), sum(t["chunks_resumed"] for t in s["tables"]))')"
snapshot="$(sqlite3 t4.db 'SELECT (SELECT count(*) FROM big) || " " || (SELECT count(*) FROM bag) || " " || (SELECT count(*) FROM ferry_progress WHERE done = 1) || " " || (SELECT count(*) FROM ferry_history)')"
kill -CONT "$old"
set +e
wait "$old"
ocode=$?
set -e
check "the resumed old holder stops with exit 6" "6" "$ocode"
check "... saying it was taken over and commits nothing more" "1" \
	"$(grep -cE "^ferry: run [0-9a-f]{12}… was taken over by $(hostname):[0-9]+ at .* it stops and commits nothing more$" old.err)"
check "... and it committed nothing" "$snapshot" \
	"$(sqlite3 t4.db 'SELECT (SELECT count(*) FROM big) || " " || (SELECT count(*) FROM bag) || " " || (SELECT count(*) FROM ferry_progress WHERE done = 1) || " " || (SELECT count(*) FROM ferry_history)')"
check "the run is exact" "big=same bag=same" "$(exact t4.db)"

# ---- 4. ferry runs ------------------------------------------------------------------------
"$FERRY" runs --json t4.db > runs.json
check "ferry runs --json: one run, finished, with its lease and progress" "copy finished 2 False 150 150 150000" \
	"$(python3 -c 'import json; r=json.load(open("runs.json"))["runs"][0]; l=r["lease"]; print(r["kind"], r["state"], l["epoch"], l["held"], r["chunks"], r["chunks_done"], r["rows_written"])')"
check "ferry runs on a target with no runs says so" "no runs recorded in this target" "$("$FERRY" runs src.db)"
set +e
"$FERRY" runs nothere.db > /dev/null 2>&1
code=$?
set -e
check "ferry runs of a missing file fails (exit 2)" "2" "$code"
finish
