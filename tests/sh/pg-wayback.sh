#!/usr/bin/env bash
# pg-wayback.sh — the way back with PostgreSQL: PostgreSQL -> PostgreSQL and SQLite ->
# PostgreSQL (the way back then runs PostgreSQL -> SQLite). An application writes at full
# speed across the cut-over, the way back, the rollback and a second cut-over; after each the
# independent comparison and ferry verify --full agree; --finish leaves no slot and no
# publication on either side.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../pg/pg.sh"
source "$(dirname "$0")/sync-lib.sh"
cd "$T"

# round NAME OLD_ENGINE OLD_URL NEW_ENGINE NEW_URL (the plan is in NAME/)
round() {
	local n=$1 oe=$2 old=$3 ne=$4 new=$5 wpid
	local wold=$old wnew=$new
	[ "$oe" = sqlite ] && wold=${old#sqlite:}
	[ "$ne" = sqlite ] && wnew=${new#sqlite:}
	"$FERRY" sync -q -p "$n/plan.yaml" --until-caught-up > /dev/null 2> "$n/s.err" || { cat "$n/s.err"; fail "$n: sync"; }
	$PY "$WRITER" "$oe" "$wold" --seconds 60 --seed 31 > "$n/w.out" 2> "$n/w.err" &
	wpid=$!
	sleep 1
	"$FERRY" cutover --max-pause 30000 -q -p "$n/plan.yaml" > /dev/null 2> "$n/co.err" || { cat "$n/co.err"; fail "$n: cutover"; }
	wait "$wpid" || { cat "$n/w.err"; fail "$n: writer 1"; }
	check "$n: cut-over: the old version's writer was fenced" "1" "$(grep -c '^fenced: ' "$n/w.err")"
	check "$n: cut-over: equal" "equal" "$(sync_compare "$old" "$new")"
	# The way back, running while the new version's application writes.
	"$FERRY" sync -q -p "$n/plan.yaml" > /dev/null 2> "$n/back.err" &
	local spid=$!
	$PY "$WRITER" "$ne" "$wnew" --new --seconds 3 --seed 32 > "$n/w.out" 2> "$n/w.err" || { cat "$n/w.err"; fail "$n: writer 2"; }
	kill -TERM "$spid" 2> /dev/null || true; wait "$spid" 2> /dev/null || true
	"$FERRY" sync -q -p "$n/plan.yaml" --until-caught-up > /dev/null 2> "$n/back.err" || { cat "$n/back.err"; fail "$n: the way back"; }
	check "$n: the way back: equal" "equal" "$(sync_compare "$old" "$new")"
	check "$n: the way back: ferry verify --full agrees" "exit=0" "$(vj --full -p "$n/plan.yaml")"
	# A lock held on the new version past --max-pause: the rollback gives up, nothing changed.
	if [ "$ne" = postgres ]; then
		# It commits when the test lets it (go.lock), not after a fixed time.
		rm -f "$n/go.lock"
		{ echo "BEGIN; LOCK TABLE users IN ROW EXCLUSIVE MODE;"; await_go "$n/go.lock"; echo "COMMIT;"; } |
			PGCONNECT_TIMEOUT=10 PGAPPNAME=ferry-test-lock psql -X -q "$new" > /dev/null 2>&1 &
		local lpid=$!
		wait_lock "$new"
		local code=0
		"$FERRY" rollback -q -p "$n/plan.yaml" --max-pause 200 --attempts 2 > /dev/null 2> "$n/lock.err" || code=$?
		touch "$n/go.lock"
		wait "$lpid" || true
		check "$n: a held lock: the rollback gives up (exit 1), nothing lost" "1 1" \
			"$code $(grep -c 'could not roll back within --max-pause 200 ms in 2 attempts.*nothing lost' "$n/lock.err")"
		check "$n: a held lock: the new version is still the live one" "0" \
			"$(set +e; psql -X -qAt -v ON_ERROR_STOP=1 "$new" -c "INSERT INTO users VALUES (9999999, NULL, 1)" > /dev/null 2>&1; echo $?)"
	fi
	# Rollback with the new version's application writing.
	$PY "$WRITER" "$ne" "$wnew" --new --seconds 60 --seed 33 > "$n/w.out" 2> "$n/w.err" &
	wpid=$!
	sleep 1
	"$FERRY" rollback --max-pause 30000 -q -p "$n/plan.yaml" > /dev/null 2> "$n/rb.err" || { cat "$n/rb.err"; fail "$n: rollback"; }
	wait "$wpid" || { cat "$n/w.err"; fail "$n: writer 3"; }
	check "$n: rollback: the new version's writer was fenced" "1" "$(grep -c '^fenced: .*rolled back' "$n/w.err")"
	check "$n: rollback: equal" "equal" "$(sync_compare "$old" "$new")"
	check "$n: rollback: ferry verify --full agrees" "exit=0" "$(vj --full -p "$n/plan.yaml")"
	# Forward again, then the second cut-over.
	$PY "$WRITER" "$oe" "$wold" --seconds 2 --seed 34 > "$n/w.out" 2> "$n/w.err" || { cat "$n/w.err"; fail "$n: writer 4"; }
	"$FERRY" sync -q -p "$n/plan.yaml" --until-caught-up > /dev/null 2> "$n/f.err" || { cat "$n/f.err"; fail "$n: forward"; }
	$PY "$WRITER" "$oe" "$wold" --seconds 60 --seed 35 > "$n/w.out" 2> "$n/w.err" &
	wpid=$!
	sleep 1
	"$FERRY" cutover --max-pause 30000 -q -p "$n/plan.yaml" > /dev/null 2> "$n/co2.err" || { cat "$n/co2.err"; fail "$n: cutover 2"; }
	wait "$wpid" || { cat "$n/w.err"; fail "$n: writer 5"; }
	check "$n: cut-over 2: equal" "equal" "$(sync_compare "$old" "$new")"
	check "$n: cut-over 2: ferry verify --full agrees" "exit=0" "$(vj --full -p "$n/plan.yaml")"
	"$FERRY" sync -q -p "$n/plan.yaml" --finish > /dev/null 2> "$n/fin.err" || { cat "$n/fin.err"; fail "$n: --finish"; }
}

pg_source() { pgq "$1" "$(sync_pg_source_sql 1000)" > /dev/null; } # DB
# wait_lock URL: until the session named ferry-test-lock holds its lock (it sleeps in it).
wait_lock() {
	for _ in $(seq 100); do
		[ "$(psql -X -qAt "$1" -c "SELECT (count(*) > 0)::int FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'ferry-test-lock' AND l.mode = 'RowExclusiveLock' AND l.granted")" = 1 ] && return 0
		sleep 0.1
	done
}
nslots() { pgq "$1" "SELECT (SELECT count(*) FROM pg_replication_slots WHERE database = current_database()) || ' ' || (SELECT count(*) FROM pg_publication)"; }

pg_newdb s1
pg_newdb d1
pg_source "$s1"
mkdir pp
sync_plan "$T/pp" "$(pg_url "$s1")" "$(pg_url "$d1")"
round pp postgres "$(pg_url "$s1")" postgres "$(pg_url "$d1")"
check "pp: --finish left no slot and no publication on either side" "0 0 0 0" "$(nslots "$s1") $(nslots "$d1")"
check "pp: --finish: of ferry's tables the old version keeps only the record" "ferry_history ferry_runs" \
	"$(pgq "$s1" "SELECT string_agg(tablename, ' ' ORDER BY tablename) FROM pg_tables WHERE tablename LIKE 'ferry%'")"

pg_newdb d2
mkdir sp
sync_sqlite_source "$T/sp/src.db" 1000
sync_plan "$T/sp" "sqlite:src.db" "$(pg_url "$d2")"
round sp sqlite "sqlite:$T/sp/src.db" postgres "$(pg_url "$d2")"
check "sp: --finish left no slot and no publication in the new version" "0 0" "$(nslots "$d2")"
check "sp: --finish left no capture trigger in the old version" "0" \
	"$(sqlite3 sp/src.db "SELECT count(*) FROM sqlite_master WHERE name LIKE 'ferry_changes%' OR (type = 'trigger' AND name NOT LIKE 'ferry_fence%')")"

# kill -9 at each phase of a PostgreSQL cut-over and rollback: the rerun completes it, the way
# back carries what the new version's application wrote after the switch, nothing is lost.
for phase in frozen drained fenced released; do
	pg_newdb ks
	pg_newdb kd
	pgq "$ks" "$(sync_pg_source_sql 300)" > /dev/null
	pgq "$ks" "UPDATE items SET qty = abs(qty)" > /dev/null
	mkdir "k-$phase"
	o=$(pg_url "$ks") nv=$(pg_url "$kd")
	sync_plan "$T/k-$phase" "$o" "$nv"
	"$FERRY" sync -q -p "k-$phase/plan.yaml" --until-caught-up > /dev/null 2> "k-$phase/s.err" || { cat "k-$phase/s.err"; fail "$phase: sync"; }
	code=0
	(FERRY_FAULT="kill-in-cutover:$phase" "$FERRY" cutover --max-pause 30000 -q -p "k-$phase/plan.yaml") > /dev/null 2> "k-$phase/kco.err" || code=$?
	[ "$code" = 137 ] || cat "k-$phase/kco.err"
	check "pg: kill -9 in the cut-over at $phase" "137" "$code"
	if [ "$phase" = released ]; then
		$PY "$WRITER" postgres "$nv" --new --seconds 1 --seed 51 > "k-$phase/w.out" 2> "k-$phase/w.err" || { cat "k-$phase/w.err"; fail "$phase: writer"; }
	fi
	"$FERRY" cutover --max-pause 30000 -q -p "k-$phase/plan.yaml" > /dev/null 2> "k-$phase/co.err" || { cat "k-$phase/co.err"; fail "$phase: the cut-over's rerun"; }
	"$FERRY" sync -q -p "k-$phase/plan.yaml" --until-caught-up > /dev/null 2> "k-$phase/b.err" || { cat "k-$phase/b.err"; fail "$phase: the way back"; }
	check "pg: kill -9 in the cut-over at $phase: the way back carried everything" "equal" "$(sync_compare "$o" "$nv")"
	# At a rate the apply keeps ahead of on a loaded machine: flat out, a sanitized ferry
	# sharing two cores could not catch up before the writer's minute ran out (never fenced).
	$PY "$WRITER" postgres "$nv" --new --seconds 60 --rate 400 --seed 52 > "k-$phase/w.out" 2> "k-$phase/w.err" &
	wpid=$!
	sleep 0.5
	code=0
	(FERRY_FAULT="kill-in-rollback:$phase" "$FERRY" rollback --max-pause 30000 -q -p "k-$phase/plan.yaml") > /dev/null 2> "k-$phase/krb.err" || code=$?
	[ "$code" = 137 ] || cat "k-$phase/krb.err"
	check "pg: kill -9 in the rollback at $phase" "137" "$code"
	"$FERRY" rollback --max-pause 30000 -q -p "k-$phase/plan.yaml" > /dev/null 2> "k-$phase/rb.err" || { cat "k-$phase/rb.err"; fail "$phase: the rollback's rerun"; }
	wait "$wpid" || { cat "k-$phase/w.err"; fail "$phase: the writer"; }
	check "pg: kill -9 in the rollback at $phase: the writer was fenced, nothing lost" "1 equal" \
		"$(grep -c '^fenced: ' "k-$phase/w.err") $(sync_compare "$o" "$nv")"
	"$FERRY" sync -q -p "k-$phase/plan.yaml" --finish > /dev/null 2>&1 || true
done

finish
