#!/usr/bin/env bash
# pg-cutover.sh — ferry cutover PostgreSQL -> PostgreSQL: a lock held past --max-pause makes
# the cut-over give up with nothing changed; with the application writing, every write it saw
# succeed is in the new version and later writes fail on the fenced old version; through
# PgBouncer, a client keeps writing across the cut-over with the same connection string and
# ends up on the new version.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../pg/pg.sh"
source "$(dirname "$0")/sync-lib.sh"
cd "$T"

pg_source() { pgq "$1" "$(sync_pg_source_sql 1000)" > /dev/null; } # DB

pg_newdb s1
pg_newdb d1
pg_source "$s1"
sync_plan "$T" "$(pg_url "$s1")" "$(pg_url "$d1")"
"$FERRY" sync -q -p plan.yaml --until-caught-up > /dev/null 2> sync.err || { cat sync.err; exit 1; }

# 1. A transaction that holds a write lock on items past --max-pause: each attempt is
# released, nothing changes, the old version stays writable. (LOCK TABLE, not an UPDATE: a
# transaction with a transaction id makes a new walsender wait for it before it can decode,
# so the cut-over's catch-up would outlast the lock instead of meeting it at the block.)
# It commits when the test lets it (go.lock), not after a fixed time a slow cut-over may outlast.
{ echo "BEGIN; LOCK TABLE items IN ROW EXCLUSIVE MODE;"; await_go go.lock; echo "COMMIT;"; } |
	PGCONNECT_TIMEOUT=10 PGAPPNAME=ferry-test-lock psql -X -q "$(pg_url "$s1")" > /dev/null 2>&1 &
lpid=$!
for _ in $(seq 100); do # until the lock is held (the session sleeps in its transaction)
	[ "$(pgq "$s1" "SELECT (count(*) > 0)::int FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'ferry-test-lock' AND l.mode = 'RowExclusiveLock' AND l.granted")" = 1 ] && break
	sleep 0.1
done
set +e
"$FERRY" cutover -q -p plan.yaml --max-pause 200 --attempts 2 > co.out 2> co.err
code=$?
set -e
touch go.lock
wait "$lpid" || true
check "a held lock: the cut-over gives up (exit 1)" "1" "$code"
check "a held lock: the message says nothing was lost" "1" \
	"$(grep -c 'could not cut over within --max-pause 200 ms in 2 attempts.*nothing lost' co.err)"
pgq "$s1" "INSERT INTO users VALUES (100000, 'after-refusal@example.org', 1)"
check "a held lock: the old version is still writable" "1" "$(pgq "$s1" "SELECT count(*) FROM users WHERE id = 100000")"

# 2. The cut-over with the application writing flat out.
$PY "$WRITER" postgres "$(pg_url "$s1")" --seconds 60 --seed 4 --log writes.log > writer.out 2> writer.err &
wpid=$!
sleep 1.5
"$FERRY" cutover --max-pause 30000 -p plan.yaml --json > co.json 2> co.err || { cat co.err; fail "cutover"; }
wait "$wpid" || { cat writer.err; fail "the writer failed"; }
check "the writer was fenced by the cut-over" "1" "$(grep -c '^fenced: ' writer.err)"
check "every write before the switch is in the new version" "equal" "$(sync_compare "$(pg_url "$s1")" "$(pg_url "$d1")")"
check "ferry verify --full agrees" "exit=0" "$(vj --full -p plan.yaml)"
check "the cutover row in both versions' ferry_history" "1 1" \
	"$(pgq "$d1" "SELECT count(*) FROM ferry_history WHERE kind = 'cutover'") $(pgq "$s1" "SELECT count(*) FROM ferry_history WHERE kind = 'cutover'")"
set +e
pgq "$s1" "INSERT INTO users VALUES (100001, 'late@example.org', 1)" 2> late.err
code=$?
set -e
check "a write to the old version after the switch fails with the fence's message" "1 1" \
	"$([ "$code" -ne 0 ] && echo 1 || echo 0) $(grep -c 'this database was upgraded' late.err)"
"$FERRY" sync -q -p plan.yaml --finish > /dev/null 2> fin.err || { cat fin.err; fail "--finish"; }
check "--finish left no slot and no publication" "0 0" \
	"$(pgq "$s1" "SELECT (SELECT count(*) FROM pg_replication_slots WHERE database = current_database()) || ' ' || (SELECT count(*) FROM pg_publication)")"

# 3. PgBouncer: the application's entry is repointed inside the pause.
if command -v pgbouncer > /dev/null || [ -x /usr/sbin/pgbouncer ]; then
	pgb=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
	pg_newdb s2
	pg_newdb d2
	pg_source "$s2"
	pgb_port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	chmod 755 "$T" # PgBouncer runs as postgres: it reads its files here
	mkdir -p bouncer && chmod 777 bouncer
	pg_hostport="${PG_BASE#*@}"
	cat > bouncer/pgbouncer.ini <<INI
[databases]
app = host=${pg_hostport%:*} port=${pg_hostport##*:} dbname=$s2 user=postgres

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $pgb_port
unix_socket_dir =
auth_type = trust
auth_file = $T/bouncer/users.txt
admin_users = postgres
pool_mode = transaction
logfile = $T/bouncer/pgbouncer.log
pidfile = $T/bouncer/pgbouncer.pid
INI
	echo '"postgres" ""' > bouncer/users.txt
	chmod 666 bouncer/pgbouncer.ini bouncer/users.txt
	if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$pgb" -d "$T/bouncer/pgbouncer.ini"; else "$pgb" -d "$T/bouncer/pgbouncer.ini"; fi
	sleep 0.5
	app="postgresql://postgres@127.0.0.1:$pgb_port/app"
	"$FERRY" sync -q "$(pg_url "$s2")" "$(pg_url "$d2")" --until-caught-up > /dev/null 2> sync2.err || { cat sync2.err; fail "sync through bouncer"; }
	$PY "$WRITER" postgres "$app" --seconds 5 --seed 9 --log app.log > app.out 2> app.err &
	wpid=$!
	sleep 1.5
	"$FERRY" cutover --max-pause 30000 -q "$(pg_url "$s2")" "$(pg_url "$d2")" \
		--switch "pgbouncer://postgres@127.0.0.1:$pgb_port/app?config=$T/bouncer/pgbouncer.ini" > co2.out 2> co2.err ||
		{ cat co2.err; fail "cutover with --switch"; }
	wait "$wpid" || { cat app.err; fail "the client through PgBouncer failed"; }
	check "the client through PgBouncer was never fenced (it moved to the new version)" "0" "$(grep -c '^fenced: ' app.err)"
	# Writes through the entry after the switch, whether or not the writer above outlasted it.
	$PY "$WRITER" postgres "$app" --seconds 1 --seed 11 > app1b.out 2> app1b.err || { cat app1b.err; fail "the client after the switch"; }
	check "... a client after the switch is not fenced either" "0" "$(grep -c '^fenced: ' app1b.err)"
	check "the entry now names the new version" "1" "$(grep -c "^app = .*dbname=$d2" bouncer/pgbouncer.ini)"
	newer=$(pgq "$d2" "SELECT count(*) FROM users") older=$(pgq "$s2" "SELECT count(*) FROM users")
	moved=$(pgq "$d2" "SELECT count(*) FROM items") kept=$(pgq "$s2" "SELECT count(*) FROM items")
	check "the client's later writes landed in the new version" "1" \
		"$([ "$newer" != "$older" ] || [ "$moved" != "$kept" ] && echo 1 || echo 0)"
	# And back: the rollback repoints the entry to the old version inside its pause; the
	# client keeps writing through it and ends up on the old version, never fenced.
	$PY "$WRITER" postgres "$app" --seconds 5 --seed 10 --log app2.log > app2.out 2> app2.err &
	wpid=$!
	sleep 1.5
	"$FERRY" rollback --max-pause 30000 -q "$(pg_url "$s2")" "$(pg_url "$d2")" \
		--switch "pgbouncer://postgres@127.0.0.1:$pgb_port/app?config=$T/bouncer/pgbouncer.ini" > rb2.out 2> rb2.err ||
		{ cat rb2.err; fail "rollback with --switch"; }
	wait "$wpid" || { cat app2.err; fail "the client through PgBouncer failed (rollback)"; }
	check "rollback: the client through PgBouncer was never fenced" "0" "$(grep -c '^fenced: ' app2.err)"
	$PY "$WRITER" postgres "$app" --seconds 1 --seed 12 > app2b.out 2> app2b.err || { cat app2b.err; fail "the client after the rollback"; }
	check "rollback: ... a client after it is not fenced either" "0" "$(grep -c '^fenced: ' app2b.err)"
	check "rollback: the entry names the old version again" "1" "$(grep -c "^app = .*dbname=$s2" bouncer/pgbouncer.ini)"
	check "rollback: the old version took the client's later writes" "1" \
		"$([ "$(pgq "$s2" "SELECT count(*) FROM users")" != "$(pgq "$d2" "SELECT count(*) FROM users")" ] || [ "$(pgq "$s2" "SELECT count(*) FROM items")" != "$(pgq "$d2" "SELECT count(*) FROM items")" ] && echo 1 || echo 0)"
	kill "$(cat bouncer/pgbouncer.pid)" 2> /dev/null || true
	"$FERRY" sync -q "$(pg_url "$s2")" "$(pg_url "$d2")" --finish > /dev/null 2>&1 || true
else
	ok "pgbouncer is not installed: the switch test is skipped (scripts/install-deps.sh installs it)"
fi

finish
