#!/usr/bin/env bash
# migrate-race.sh — the migration lock and crashes: two to four `ferry migrate` processes
# racing on one database apply each version exactly once; a waiting process says once who
# holds the lock; --lock-timeout 0 fails at once naming the holder; kill -9 in the middle of
# a migration rolls it back (a rerun applies it once), and in the middle of one that runs
# outside a transaction leaves a failed row that stops migrate until repair. SQLite, and
# PostgreSQL (see tests/migrate/lib.sh).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../migrate/lib.sh"

# wait_for SQL WANT: poll the database until the query prints WANT (30 s at most: a loaded
# machine running ASan builds is slow, and a pass returns at once).
wait_for() {
	local i
	for i in $(seq 1 600); do
		[ "$(mig_q "$1" 2> /dev/null || true)" = "$2" ] && return 0
		sleep 0.05
	done
	return 1
}

t_race() {
	local n=$1
	mig_new "race$n"
	mig_dir "race$n"
	local v
	for v in 1 2 3; do
		mig_put "V${v}__slow_$v.sql" "CREATE TABLE s$v(x INTEGER);
$(mig_slow "s$v" 300000);"
	done
	local pids=() i
	for i in $(seq 1 "$n"); do
		"$FERRY" migrate "$DB" -d "$D" > "$T/race$n.$i.out" 2> "$T/race$n.$i.err" &
		pids+=($!)
	done
	local codes=""
	for i in "${pids[@]}"; do
		set +e
		wait "$i"
		codes="$codes$?"
		set -e
	done
	check "$B: $n racing migrates all exit 0" "$(printf '0%.0s' $(seq 1 "$n"))" "$codes"
	check "$B: $n racing: each version recorded exactly once" "1|1|1,2|1|1,3|1|1" \
		"$(mig_q "SELECT version || '|' || count(*) || '|' || sum(CASE WHEN success THEN 1 ELSE 0 END) FROM ferry_history GROUP BY version ORDER BY version" | paste -sd, -)"
	check "$B: $n racing: each script ran once" "300000 300000 300000" \
		"$(mig_q "SELECT count(*) FROM s1") $(mig_q "SELECT count(*) FROM s2") $(mig_q "SELECT count(*) FROM s3")"
	check "$B: $n racing: exactly one process applied them" "1" \
		"$(cat "$T"/race"$n".*.out | grep -c '^applied 3 migrations')"
	local waited
	waited=$(cat "$T"/race"$n".*.err | grep -c '^ferry: waiting for the migration lock of ' || true)
	[ "$waited" -ge 1 ] && ok "$B: $n racing: the others said they were waiting ($waited)" ||
		fail "$B: $n racing: nobody said it was waiting"
	for i in $(seq 1 "$n"); do
		local c
		c=$(grep -c 'waiting for the migration lock' "$T/race$n.$i.err" || true)
		[ "$c" -le 1 ] || fail "$B: process $i said it was waiting $c times"
	done
}

t_holder() {
	mig_new holder
	mig_dir holder
	mig_put V1__held.sql "CREATE TABLE h(x INTEGER);"
	# The holder keeps the lock until the test lets it go (a test-only fault), however fast or
	# loaded the machine: a slow script raced the waiters' timeouts.
	rm -f "$T/go.holder"
	FERRY_FAULT="migrate-hold:$T/go.holder" "$FERRY" migrate "$DB" -d "$D" > "$T/holder.out" 2>&1 &
	local pid=$!
	# The lock is taken before the first statement: wait until it is held (the lock file names
	# its holder; PostgreSQL lists the advisory lock). Probing with ferry itself could win it.
	local i
	for i in $(seq 1 600); do
		if [ "$B" = sqlite ]; then
			[ -s "$DB.ferry-lock" ] && break
		else
			[ "$(mig_q "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")" = 1 ] && break
		fi
		sleep 0.05
	done
	mig_run migrate "$DB" -d "$D" --lock-timeout 0
	check "$B: --lock-timeout 0 fails at once (exit 1)" "1" "$CODE"
	check "$B: ... naming the holder" "1" "$(has "$ERR" 'could not take the migration lock of')"
	if [ "$B" = sqlite ]; then
		check "$B: the holder is the other process, with its host and user" "1 1" \
			"$(has "$ERR" "held by pid $pid on $(hostname)") $(has "$ERR" "user $(id -un), since 20")"
	fi
	mig_run migrate "$DB" -d "$D" --lock-timeout 1
	check "$B: --lock-timeout 1 gives up after waiting (exit 1)" "1" "$CODE"
	check "$B: the waiting process says so once, naming the holder" "1" \
		"$(grep -c "^ferry: waiting for the migration lock of \".*\": held by " "$T/err")"
	if [ "$B" = sqlite ]; then
		check "$B: ... the holder's pid" "1" "$(has "$ERR" "held by pid $pid ")"
	fi
	# A waiter with the default timeout, let go once it says it waits.
	set +e
	"$FERRY" migrate "$DB" -d "$D" > "$T/wait.out" 2> "$T/wait.err" &
	local waiter=$!
	for i in $(seq 1 600); do
		grep -q 'waiting for the migration lock' "$T/wait.err" && break
		sleep 0.05
	done
	touch "$T/go.holder"
	wait "$waiter"
	CODE=$?
	set -e
	check "$B: the default timeout waits for the holder, then finds nothing to do" "0 1 1" \
		"$CODE $(grep -c 'waiting for the migration lock' "$T/wait.err") $(has "$(cat "$T/wait.out")" "up to date at version 1")"
	wait "$pid"
	check "$B: the holder applied it once" "1" "$(mig_q "SELECT count(*) FROM ferry_history")"
	if [ "$B" = sqlite ]; then
		check "$B: the lock file names nobody once released" "0" "$(wc -c < "$DB.ferry-lock")"
	fi
}

t_kill() {
	mig_new kill
	mig_dir kill
	mig_put V1__quick.sql "CREATE TABLE q(x INTEGER);"
	mig_put V2__slow.sql "CREATE TABLE k(x INTEGER);
$(mig_slow k 3000000);"
	mig_put V3__after.sql "CREATE TABLE after3(x INTEGER);"
	"$FERRY" migrate "$DB" -d "$D" > /dev/null 2>&1 &
	local pid=$!
	wait_for "SELECT count(*) FROM ferry_history WHERE version = '1'" 1 ||
		fail "$B: version 1 never showed up"
	sleep 0.3
	if kill -9 "$pid" 2> /dev/null; then
		ok "$B: killed ferry -9 in the middle of version 2"
	else
		fail "$B: ferry finished before it could be killed (make V2 slower)"
	fi
	wait "$pid" 2> /dev/null || true
	check "$B: after kill -9 version 2 has no row" "0" "$(mig_q "SELECT count(*) FROM ferry_history WHERE version = '2'")"
	check "$B: ... and none of its statements stayed" "0" "$(mig_has_table k)"
	mig_run migrate "$DB" -d "$D" --lock-timeout "$(mig_lock_wait)"
	check "$B: the killed process's lock went with it; the rerun applies the rest" "0" "$CODE"
	check "$B: each version exactly once" "1|1,2|1,3|1" \
		"$(mig_q "SELECT version || '|' || count(*) FROM ferry_history WHERE success GROUP BY version ORDER BY version" | paste -sd, -)"
	check "$B: version 2's rows once" "3000000" "$(mig_q "SELECT count(*) FROM k")"
	if [ "$B" = sqlite ]; then
		check "$B: the database is intact" "ok" "$(mig_q "PRAGMA integrity_check")"
	fi
}

t_kill_outside() {
	mig_new killout
	mig_dir killout
	mig_put V1__quick.sql "CREATE TABLE q(x INTEGER);"
	mig_put V2__outside.sql "CREATE TABLE o(x INTEGER);
$(mig_autocommit o);
$(mig_slow o 3000000);"
	"$FERRY" migrate "$DB" -d "$D" > /dev/null 2>&1 &
	local pid=$!
	wait_for "SELECT count(*) FROM ferry_history WHERE version = '2'" 1 ||
		fail "$B: version 2's row never showed up"
	sleep 0.4
	kill -9 "$pid" 2> /dev/null && ok "$B: killed ferry -9 inside a migration that runs outside a transaction" ||
		fail "$B: ferry finished before it could be killed"
	wait "$pid" 2> /dev/null || true
	check "$B: the version is recorded as failed" "0" "$(mig_q "SELECT CASE WHEN success THEN 1 ELSE 0 END FROM ferry_history WHERE version = '2'")"
	mig_run migrate "$DB" -d "$D"
	check "$B: migrate refuses until repair (exit 2)" "2 1" "$CODE $(has "$ERR" "then run 'ferry repair'")"
	mig_q "DROP TABLE o" > /dev/null
	mig_run repair "$DB" -d "$D"
	mig_run migrate "$DB" -d "$D"
	check "$B: after repair the rerun applies it once" "0 3000000 1" \
		"$CODE $(mig_q "SELECT count(*) FROM o") $(mig_q "SELECT count(*) FROM ferry_history WHERE version = '2'")"
}

mig_pg_setup
for B in $MIG_BACKENDS; do
	echo "# backend: $B"
	t_race 2
	t_race 4
	t_holder
	t_kill
	t_kill_outside
done
finish
