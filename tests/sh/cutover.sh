#!/usr/bin/env bash
# cutover.sh — ferry cutover SQLite -> SQLite with the application writing at full speed:
# every write the application saw succeed is in the new version, the last rows before the
# block arrive, writes after the switch fail on the fenced old version with a message naming
# the new one, both histories record it. (A lock held past --max-pause: pg-cutover.sh.)
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sync-lib.sh"
cd "$T"
sync_sqlite_source "$T/src.db" 2000
sync_plan "$T" "sqlite:src.db" "sqlite:dst.db"
"$FERRY" sync -q -p plan.yaml --until-caught-up > /dev/null 2> sync.err || { cat sync.err; exit 1; }

# 1. A drain that cannot reach the point where writes stopped within --max-pause (a test
# fault makes it take 300 ms, with the application writing): every attempt is released with
# nothing changed, the old version stays writable, and the refusal says so.
$PY "$WRITER" sqlite src.db --seconds 3 --seed 6 > writer.out 2> writer.err &
wpid=$!
sleep 0.5
set +e
FERRY_FAULT=drain-delay:300 "$FERRY" cutover -q -p plan.yaml --max-pause 200 --attempts 2 > /dev/null 2> late.err
code=$?
set -e
wait "$wpid" || { cat writer.err; fail "the writer failed"; }
said=$(grep -c 'could not cut over within --max-pause 200 ms in 2 attempts.*nothing lost' late.err || true)
[ "$said" = 1 ] || said="0 ($(tail -n 1 late.err))" # what it said instead, for the log
check "a drain past --max-pause: the cut-over gives up (exit 1), saying nothing was lost" "1 1" "$code $said"
check "... the application was never fenced" "0" "$(grep -c '^fenced: ' writer.err)"
check "... no switch was recorded" "0 0" \
	"$(sqlite3 src.db "SELECT count(*) FROM sqlite_master WHERE name = 'ferry_history'") $(sqlite3 dst.db "SELECT count(*) FROM ferry_history WHERE kind = 'cutover'")"

# 2. The cut-over with the application writing flat out.
$PY "$WRITER" sqlite src.db --seconds 60 --seed 5 --log writes.log > writer.out 2> writer.err &
wpid=$!
sleep 1.5
"$FERRY" cutover -p plan.yaml --json --max-pause 30000 > co.json 2> co.err || { cat co.err; fail "cutover"; }
wait "$wpid" || { cat writer.err; fail "the writer failed"; }
check "the writer was fenced by the cut-over (writes after the switch fail)" "1" "$(grep -c '^fenced: ' writer.err)"
check "the fence's message names the new version" "1" "$(grep -c 'write to the new version at .*dst.db' writer.err)"
check "the writer wrote before the switch" "1" "$([ "$(wc -l < writes.log)" -gt 20 ] && echo 1 || echo 0)"
check "every write before the switch is in the new version" "equal" "$(sync_compare sqlite:src.db sqlite:dst.db)"
check "ferry verify --full agrees" "exit=0" "$(vj --full -p plan.yaml)"
pause=$($PY -c 'import json,sys; r=json.load(open("co.json")); print("ok" if r["ok"] and r["pause_ms"] > 0 and r["old_version"] == "fenced" else r)')
check "--json reports the pause and the fenced old version" "ok" "$pause"
check "the cutover row in the new version's ferry_history" "1" \
	"$(sqlite3 dst.db "SELECT count(*) FROM ferry_history WHERE kind = 'cutover'")"
check "the cutover row in the old version's ferry_history" "1" \
	"$(sqlite3 src.db "SELECT count(*) FROM ferry_history WHERE kind = 'cutover'")"
set +e
sqlite3 src.db "INSERT INTO users VALUES (100001, 'late@example.org', 1)" 2> late.err
code=$?
set -e
check "a write to the old version after the switch fails" "1" "$([ "$code" -ne 0 ] && echo 1 || echo 0)"
check "... with the fence's message" "1" "$(grep -c 'this database was upgraded' late.err)"
check "reads of the old version go on" "1" "$([ "$(sqlite3 src.db 'SELECT count(*) FROM items')" -gt 0 ] && echo 1 || echo 0)"

# 3. --finish removes the capture; the fence stays (the old version must not take writes).
"$FERRY" sync -q -p plan.yaml --finish > /dev/null 2> fin.err || { cat fin.err; fail "--finish"; }
check "--finish: the change log and its triggers are gone" "0" \
	"$(sqlite3 src.db "SELECT count(*) FROM sqlite_master WHERE name LIKE 'ferry_changes%' OR (type = 'trigger' AND name NOT LIKE 'ferry_fence%')")"

# 4. kill -9 at each phase of the pause, with the application writing: the rerun completes;
# never both versions writable after it, nothing lost.
for phase in frozen drained fenced released; do
	rm -rf "k-$phase" && mkdir "k-$phase"
	sync_sqlite_source "$T/k-$phase/src.db" 500
	sync_plan "$T/k-$phase" "sqlite:src.db" "sqlite:dst.db"
	"$FERRY" sync -q -p "k-$phase/plan.yaml" --until-caught-up > /dev/null 2> "k-$phase/sync.err" || { cat "k-$phase/sync.err"; fail "$phase: sync"; }
	$PY "$WRITER" sqlite "k-$phase/src.db" --seconds 60 --rate 400 --seed 3 > "k-$phase/w.out" 2> "k-$phase/w.err" &
	wpid=$!
	sleep 0.5
	set +e
	FERRY_FAULT="kill-in-cutover:$phase" "$FERRY" cutover --max-pause 30000 -q -p "k-$phase/plan.yaml" > /dev/null 2>&1
	code=$?
	set -e
	check "kill -9 $phase: the cut-over was killed" "137" "$code"
	"$FERRY" cutover --max-pause 30000 -q -p "k-$phase/plan.yaml" > /dev/null 2> "k-$phase/co.err" || { cat "k-$phase/co.err"; fail "$phase: the rerun"; }
	wait "$wpid" || { cat "k-$phase/w.err"; fail "$phase: the writer failed"; }
	check "kill -9 $phase: the rerun fenced the old version" "1" "$(grep -c '^fenced: ' "k-$phase/w.err")"
	check "kill -9 $phase: every write before the switch is in the new version" "equal" \
		"$(sync_compare "sqlite:k-$phase/src.db" "sqlite:k-$phase/dst.db")"
	check "kill -9 $phase: the new version records the cut-over" "1" \
		"$([ "$(sqlite3 "k-$phase/dst.db" "SELECT count(*) FROM ferry_history WHERE kind = 'cutover'")" -ge 1 ] && echo 1 || echo 0)"
done

finish
