#!/usr/bin/env bash
# pg-both-lock.sh — ferry sync --both-ways and the applications' transactions on a PostgreSQL
# new version (old: SQLite): a deferral's later round takes no new lock (the application is
# never the deadlock victim); an application's transaction held open makes one direction wait
# while the other goes on, --until-caught-up names the holder and ends once it lets go,
# SIGTERM stops it at once; a queue served for longer than wal_sender_timeout keeps the stream;
# the other direction's backlog is read before the locks are taken.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../pg/pg.sh"
cd "$T"
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3

sq() { sqlite3 -cmd ".timeout 5000" "$T/old.db" "$1"; }

pg_newdb dn
URL=$(pg_url "$dn" "options=-cwal_sender_timeout%3D3s")
newq() { PGCONNECT_TIMEOUT=10 psql -X -qAt -v ON_ERROR_STOP=1 "$URL" -c "$1"; }

sqlite3 old.db <<'SQL'
CREATE TABLE a(id INTEGER PRIMARY KEY, email TEXT, v TEXT);
CREATE TABLE b(id INTEGER PRIMARY KEY, v TEXT);
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 10)
INSERT INTO a SELECT i, 'e' || i, 'v' || i FROM s;
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 10)
INSERT INTO b SELECT i, 'v' || i FROM s;
SQL
# UNIQUE(email) on the new version's a only: a row the old version gives a taken email is
# refused there, and the apply goes round after round waiting for the change that frees it.
cat > v2.sql <<'SQL'
CREATE TABLE a(id BIGINT PRIMARY KEY, email TEXT UNIQUE, v TEXT);
CREATE TABLE b(id BIGINT PRIMARY KEY, v TEXT);
SQL
cat > plan.yaml <<YAML
source: sqlite:old.db
target: $URL
target_schema: v2.sql
both_ways: { conflict: last_commit }
max_rejects: 100
tables:
  - table: a
  - table: b
YAML
"$FERRY" sync -q -p plan.yaml --both-ways --until-caught-up 2> s.err || { cat s.err; fail "start"; }
check "started both ways: the new version has the rows" "10 10" "$(newq "SELECT (SELECT count(*) FROM a) || ' ' || (SELECT count(*) FROM b)")"

# wait_for WHAT SECONDS COMMAND...: until COMMAND prints 1.
wait_for() {
	local what=$1 n=$(($2 * 10)); shift 2
	while [ "$n" -gt 0 ]; do
		[ "$("$@")" = 1 ] && return 0
		sleep 0.1
		n=$((n - 1))
	done
	echo "timed out waiting for $what"
	return 1
}
# holder_open WHAT: wait_for the psql session named holder to sit in its open transaction.
holder_open() {
	wait_for "$1" 30 newq "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'holder' AND state = 'idle in transaction'"
}

# 1. The deadlock: an application's transaction on the new version writes b and stays open;
# the old version gives a.1 the email a new-only row holds (refused: rounds), then writes b;
# the application then writes a. Before, a later round locked b while holding a, and the
# application's write of a was the deadlock victim.
"$FERRY" sync -q -p plan.yaml --both-ways > /dev/null 2> bg.err &
sp=$!
newq "INSERT INTO a VALUES (1000, 'taken', 'new only')"
wait_for "the new-only row on the old version" 10 sq "SELECT count(*) FROM a WHERE id = 1000" || fail "new-only row"
{ echo "BEGIN; UPDATE b SET v = 'app' WHERE id = 1;"; sleep 0.5
  sq "UPDATE a SET email = 'taken' WHERE id = 1"; sleep 0.1
  sq "UPDATE b SET v = 'old' WHERE id = 2"; sleep 1
  echo "UPDATE a SET v = 'app' WHERE id = 3;"; sleep 1.5
  echo "COMMIT;"; } | PGAPPNAME=app PGCONNECT_TIMEOUT=10 psql -X -q -v ON_ERROR_STOP=1 "$URL" > app.out 2> app.err && app=0 || app=$?
check "deadlock: the application's transaction commits" "0 0" "$app $(grep -c deadlock app.err || true)"
wait_for "the application's write on the old version" 15 sq "SELECT count(*) FROM a WHERE id = 3 AND v = 'app'" || fail "app write back"
wait_for "the old version's write of b on the new one" 15 newq "SELECT count(*) FROM b WHERE id = 2 AND v = 'old'" || fail "old write of b"
kill -TERM $sp 2> /dev/null || cat bg.err
wait $sp && rc=0 || rc=$?
check "deadlock: the sync ran on (stopped by SIGTERM: 130)" "130" "$rc"
# The refused a.1 waits for its email (a reject, as before); give it back.
sq "UPDATE a SET email = 'e1' WHERE id = 1"

# 2. An application's transaction held open on the new version: the old version's changes
# wait (no failure), the new version's go on meanwhile, and everything arrives once it ends.
"$FERRY" sync -q -p plan.yaml --both-ways > /dev/null 2> bg.err &
sp=$!
sleep 1
# The holder commits when the test lets it (go.held), not after a fixed time: a loaded
# machine took longer than that to reach the check below.
rm -f go.held
{ echo "BEGIN; UPDATE b SET v = 'held' WHERE id = 3;"; await_go go.held; echo "COMMIT;"; } |
	PGAPPNAME=holder PGCONNECT_TIMEOUT=10 psql -X -q -v ON_ERROR_STOP=1 "$URL" > h.out 2> h.err &
hp=$!
holder_open "the holder's open transaction" || fail "held: the holder never began"
sq "UPDATE b SET v = 'old while held' WHERE id = 4"
sleep 0.3
newq "INSERT INTO a VALUES (2000, 'x2000', 'new while held')"
wait_for "the new version's row on the old one while the holder is open" 4 sq "SELECT count(*) FROM a WHERE id = 2000" &&
	ok "held: the new version's changes go on while the old version's wait" || fail "held: the way back stopped"
check "held: the old version's write waits for the holder" "0" "$(newq "SELECT count(*) FROM b WHERE id = 4 AND v = 'old while held'")"
touch go.held
wait $hp || { cat h.err; fail "held: holder"; }
wait_for "the old version's write once the holder ended" 10 newq "SELECT count(*) FROM b WHERE id = 4 AND v = 'old while held'" &&
	ok "held: it arrives once the holder ends" || fail "held: it never arrived"
kill -0 $sp 2> /dev/null && ok "held: the sync still runs" || { cat bg.err; fail "held: the sync stopped"; }
kill -TERM $sp
wait $sp && rc=0 || rc=$?
check "held: SIGTERM stops it (130)" "130" "$rc"

# --until-caught-up while a holder stays: it waits, says who holds the tables, and ends
# once the holder lets go; SIGTERM during such a wait stops it at once.
# The holder lets go once the wait was said (after 10 s of it), or after 40 s.
rm -f cu.err
{ echo "BEGIN; UPDATE b SET v = 'held' WHERE id = 5;"; sleep 3
  for _ in $(seq 1 370); do grep -q 'waited' cu.err 2> /dev/null && break; sleep 0.1; done
  echo "COMMIT;"; } |
	PGAPPNAME=holder PGCONNECT_TIMEOUT=10 psql -X -q -v ON_ERROR_STOP=1 "$URL" > h.out 2> h.err &
hp=$!
holder_open "the second holder's open transaction" || fail "held: the second holder never began"
sq "UPDATE b SET v = 'old, caught up' WHERE id = 6"
"$FERRY" sync -p plan.yaml --both-ways > /dev/null 2> t.err &
tp=$!
sleep 2
t0=$(date +%s%N)
kill -TERM $tp
wait $tp && rc=0 || rc=$?
check "held: SIGTERM while waiting stops it at once (130, under 3 s)" "130 1" "$rc $(( ($(date +%s%N) - t0) < 3000000000 ))"
"$FERRY" sync -p plan.yaml --both-ways --until-caught-up > /dev/null 2> cu.err && rc=0 || rc=$?
check "held: --until-caught-up ends once the holder lets go" "0 old, caught up" "$rc $(newq "SELECT v FROM b WHERE id = 6")"
check "held: ... and said who held the tables" "1" \
	"$(grep -c 'waited [0-9]* s for the tables of the new version: .*process [0-9]* (application "holder", idle in transaction, its transaction open [0-9]* s) holds' cu.err)"
check "held: ... naming no value of the holder's query" "0" "$(grep -c "UPDATE\|'held'" cu.err || true)"
wait $hp || { cat h.err; fail "held: holder"; }

# 3. Many rows written on the new version, then one on the old: the forward's sync point has
# them all to read into the way back's queue. It reads them before it takes the locks, so an
# application's update on the new version meanwhile waits for the locks' short remainder
# only; the way back then serves that queue, without reading the new version's stream, for
# longer than wal_sender_timeout (3 s), and keeps the stream alive.
newq "INSERT INTO b SELECT i, 'bulk' FROM generate_series(100000, 259999) i"
sq "UPDATE b SET v = 'after the bulk' WHERE id = 7"
"$FERRY" sync -q -p plan.yaml --both-ways --until-caught-up 2> k.err &
sp=$!
$PY - "$URL" > lat.out 2> lat.err <<'PY' || { cat lat.err; fail "backlog: the application"; }
import sys, time, psycopg2
con = psycopg2.connect(sys.argv[1], application_name="app")
con.autocommit = True
cur = con.cursor()
worst, n, end = 0.0, 0, time.time() + 30
while time.time() < end:
    t = time.time()
    cur.execute("UPDATE b SET v = %s WHERE id = 8", ("app %d" % n,))
    worst = max(worst, time.time() - t)
    n += 1
    cur.execute("SELECT v FROM b WHERE id = 7")
    if cur.fetchone()[0] == "after the bulk":
        break
    time.sleep(0.02)
print("arrived" if time.time() < end else "never arrived")
print("# the application's longest update while the backlog was read: %.2f s" % worst, file=sys.stderr)
PY
# How long the application waited is a figure, not a test (no timed assertions: a loaded
# machine would fail it); it is printed, and bench/both-ways measures it.
cat lat.err
check "backlog: an application updating the new version throughout sees the old version's write arrive" "arrived" "$(cat lat.out)"
wait $sp && rc=0 || rc=$?
check "keepalive: the stream outlives wal_sender_timeout while a queue is served" "0" "$rc"
[ "$rc" = 0 ] || cat k.err
"$FERRY" sync -q -p plan.yaml --both-ways --until-caught-up 2> k.err || { cat k.err; fail "keepalive: catch up"; }
check "keepalive: everything arrived both ways" "160010 160000 160010 160000 after the bulk" \
	"$(sq "SELECT count(*) || ' ' || sum(v = 'bulk') FROM b") $(newq "SELECT count(*) || ' ' || sum((v = 'bulk')::int) || ' ' || (SELECT v FROM b WHERE id = 7) FROM b")"
"$FERRY" sync -q -p plan.yaml --finish 2> fin.err || { cat fin.err; fail "finish"; }
finish
