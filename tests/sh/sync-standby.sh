#!/usr/bin/env bash
# sync-standby.sh — ferry sync --standby (SQLite -> SQLite) with the application writing: the
# standby waits while the sync streams, takes the run over when the holder is killed with -9,
# and continues the stream from the committed position; once the writer stops, the standby
# alone brings the target to the source through the plan, nothing lost.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sync-lib.sh"
cd "$T"
sync_sqlite_source "$T/src.db" 1500
sync_plan "$T" "sqlite:src.db" "sqlite:dst.db"
"$FERRY" sync -q -p plan.yaml --until-caught-up > /dev/null 2> sync.err || { cat sync.err; exit 1; }

$PY "$WRITER" sqlite src.db --seconds 5 --seed 11 > writer.out 2> writer.err &
wpid=$!
"$FERRY" sync -q -p plan.yaml > /dev/null 2> holder.err &
hpid=$!
for _ in $(seq 1 200); do
	[ "$(sqlite3 dst.db "SELECT count(*) FROM ferry_leases WHERE state = 'held' AND holder LIKE '%:$hpid'" 2> /dev/null)" = 1 ] && break
	sleep 0.02
done
# A second sync without --standby is refused (the target's lock, as before).
set +e
"$FERRY" sync -q -p plan.yaml --until-caught-up > /dev/null 2> second.err
code=$?
set -e
check "a second sync is refused while one streams" "2" "$code"
"$FERRY" sync -p plan.yaml --standby --lease 1s > /dev/null 2> standby.err &
spid=$!
for _ in $(seq 1 300); do grep -q 'standby: run .* is held by' standby.err && break; sleep 0.05; done
check "the standby waits, saying for whom" "1" "$(grep -c "standby: run .* is held by $(hostname):$hpid since" standby.err)"
kill -9 "$hpid"
wait "$hpid" 2> /dev/null || true
for _ in $(seq 1 200); do grep -q 'took over run' standby.err && break; sleep 0.05; done
check "the standby took over from the killed sync" "1" "$(grep -c "took over run .* from $(hostname):$hpid (that process is gone)" standby.err)"
wait "$wpid" || { cat writer.err; fail "the writer failed"; }
check "the writer wrote while the holder was killed" "1" "$([ "$(cat writer.out)" -gt 100 ] && echo 1 || echo 0)"
# Only the standby applies now: wait until it has brought the target to the source.
result=""
for _ in $(seq 1 100); do
	result="$(sync_compare sqlite:src.db sqlite:dst.db)"
	[ "$result" = equal ] && break
	sleep 0.2
done
check "the standby continued the stream: the target equals the source through the plan" "equal" "$result"
check "ferry runs: the sync is running, held by the standby" "sync running $(hostname):$spid" \
	"$("$FERRY" runs --json dst.db | $PY -c 'import json,sys; r=[x for x in json.load(sys.stdin)["runs"] if x["kind"] == "sync"][0]; print(r["kind"], r["state"], r["lease"]["holder"])')"
kill -TERM "$spid"
set +e
wait "$spid"
code=$?
set -e
check "the standby stops cleanly on SIGTERM (130)" "130" "$code"
check "ferry verify --full agrees" "exit=0" "$(vj --full -p plan.yaml)"
check "after it stopped, the lease is released" "released" "$(sqlite3 dst.db "SELECT state FROM ferry_leases WHERE kind = 'sync'")"
finish
