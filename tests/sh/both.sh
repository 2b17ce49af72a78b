#!/usr/bin/env bash
# both.sh — ferry sync --both-ways, SQLite -> SQLite: refusals that change nothing; a writer
# on each version with disjoint keys (no conflicts), then with the same keys (conflicts, each
# settled by its table's rule and counted once); each rule on a conflict made by hand;
# kill -9 of the sync at random moments; the cut-over ending it; --finish. At every step the
# independent comparison (both-compare.py) and ferry verify --full both ways. Then key
# changes against the other side's writes, each rule, and kill -9 while one is settled.
# (SQLite -> PostgreSQL and PostgreSQL -> PostgreSQL: pg-both.sh.)
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sync-lib.sh"
source "$(dirname "$0")/both-lib.sh"
# Every settle checks the other side's queued keys, kept across settles under takes and
# push-backs, against a rebuild from the whole queue (an error if they differ).
export FERRY_CHECK_THEIRS=1
cd "$T"
sync_sqlite_source "$T/src.db" 500
both_plan "$T" "sqlite:src.db" "sqlite:dst.db"

# 1. Refusals before anything is installed (exit 2, nothing changed).
grep -v "owner: old" plan.yaml > norule.yaml
sum0=$(sha256sum src.db | cut -c1-64)
set +e
"$FERRY" sync -q -p norule.yaml --both-ways > /dev/null 2> e1.err
c1=$?
sed 's/owner: old/owner: both/' plan.yaml > badrule.yaml
"$FERRY" sync -q -p badrule.yaml --both-ways > /dev/null 2> e2.err
c2=$?
sed 's/    rename: products/    rename: products\n    where: "qty >= 0"/' plan.yaml > where.yaml
"$FERRY" sync -q -p where.yaml --both-ways > /dev/null 2> e3.err
c3=$?
set -e
check "a where: refused both ways (the new version's rows under a key it leaves out would vanish)" "2 1" \
	"$c3 $(grep -c 'where.yaml:[0-9]*:[0-9]*: --both-ways: .*items.* has a where: a row the new version writes under a key the where leaves out would be deleted' e3.err)"
check "a table without a rule: exit 2, naming the entry and the rules" "2 1" \
	"$c1 $(grep -c 'norule.yaml:[0-9]*:[0-9]*: --both-ways: .*users.* has no rule.*both_ways: {conflict: old_wins | new_wins | last_commit}' e1.err)"
check "a bad owner: exit 2 at its line and column" "2 1" "$c2 $(grep -c 'badrule.yaml:[0-9]*:[0-9]*: expected old or new for "owner"' e2.err)"
check "... the old version is byte for byte the same, no new version made" "$sum0 no" \
	"$(sha256sum src.db | cut -c1-64) $([ -e dst.db ] && echo yes || echo no)"

# The plan's own both_ways: is the rule of every entry without one.
{ echo "both_ways: { conflict: new_wins }"; sed 's/sqlite:dst.db/sqlite:top.db/' norule.yaml; } > top.yaml
"$FERRY" sync -q -p top.yaml --both-ways --until-caught-up 2> top.err || { cat top.err; fail "a plan-wide rule"; }
check "a plan-wide both_ways: covers the entries without a rule" "equal" "$(both_compare sqlite:src.db sqlite:top.db)"
"$FERRY" sync -q -p top.yaml --finish 2> top.err || { cat top.err; fail "finish"; }

# 2. The start: snapshot, capture on both sides.
"$FERRY" sync -p plan.yaml --both-ways --until-caught-up > /dev/null 2> start.err || { cat start.err; fail "start"; }
check "both ways: caught up" "1" "$(grep -c 'caught up both ways' start.err)"
check "the version rules are said once per column" "1 1" \
	"$(grep -c 'column "products"."status" is not in the old version' start.err) $(grep -c 'column "items"."secret" is not in the new version' start.err)"
check "the new version equals the old one" "equal" "$(both_compare sqlite:src.db sqlite:dst.db)"

conflicts() { # rows of ferry_conflicts in both versions
	echo $(($(sqlite3 src.db "SELECT count(*) FROM ferry_conflicts") + $(sqlite3 dst.db "SELECT count(*) FROM ferry_conflicts")))
}
# run_both SECONDS OLD_WRITER_ARGS -- NEW_WRITER_ARGS: a sync in the background while a
# writer writes each version; then stopped, and caught up by a second process.
run_both() {
	local secs=$1
	shift
	local old=() new=()
	while [ "$1" != "--" ]; do old+=("$1"); shift; done
	shift
	new=("$@")
	"$FERRY" sync -p plan.yaml --both-ways --json > bg.json 2> bg.err &
	local sp=$!
	sleep 0.3
	$PY "$WRITER" sqlite src.db --seconds "$secs" "${old[@]}" > w1.out 2> w1.err &
	local w1=$!
	$PY "$WRITER" sqlite dst.db --seconds "$secs" --new "${new[@]}" > w2.out 2> w2.err &
	local w2=$!
	wait $w1 || { cat w1.err; fail "the old version's writer failed"; }
	wait $w2 || { cat w2.err; fail "the new version's writer failed"; }
	kill -INT $sp
	wait $sp || true
	"$FERRY" sync -p plan.yaml --both-ways --until-caught-up --json > cu.json 2> cu.err || { cat cu.err; fail "catch up"; }
}
last_conflicts() { $PY -c "import json,sys; print([json.loads(l) for l in open(sys.argv[1]) if l.strip()][-1].get('conflicts', 0))" "$1"; }

# 3. Disjoint keys: the old version's application everywhere below 10^6, the new one's own
# products above 2*10^12: no conflict, every write on both sides.
run_both 3 --seed 1 --ids 1:1000000 -- --seed 2 --only items --ids 2000000000000:2001000000000
check "disjoint keys: both versions hold every write of both" "equal" "$(both_compare sqlite:src.db sqlite:dst.db)"
check "... no conflict" "0" "$(conflicts)"
check "... ferry verify --full agrees both ways" "0 0" "$(both_verify)"
# Nothing ferry wrote is captured back: a second catch-up finds nothing to write.
"$FERRY" sync -p plan.yaml --both-ways --until-caught-up --json > echo.json 2> echo.err || { cat echo.err; fail "sync"; }
check "... nothing ferry wrote came back (a rerun writes no row)" "0 0" \
	"$($PY -c "import json,sys; l=[json.loads(x) for x in open('echo.json') if x.strip()][-1]; print(l['rows_upserted'], l['rows_deleted'])")"
check "... the new version's own rows reached the old one" "1" \
	"$([ "$(sqlite3 src.db "SELECT count(*) FROM items WHERE id >= 2000000000000")" -gt 0 ] && echo 1 || echo 0)"

# 4. Each rule on a conflict made by hand while the sync is stopped.
k1=$(sqlite3 src.db "SELECT min(id) FROM items")
k2=$(sqlite3 src.db "SELECT max(id) FROM items WHERE id < 1000000")
u=$(sqlite3 src.db "SELECT min(id) FROM users")
pb=$(sqlite3 src.db "SELECT min(b) FROM pairs WHERE a = 'a'")
before=$(conflicts)
sqlite3 dst.db "UPDATE products SET title = 'new, earlier' WHERE id = $k1"
sqlite3 src.db "UPDATE items SET name = 'old, earlier' WHERE id = $k2"
sqlite3 dst.db "UPDATE users SET score = 9001 WHERE id = $u; UPDATE pairs SET v = x'0a0a' WHERE a = 'a' AND b = $pb"
sleep 0.05
sqlite3 src.db "UPDATE items SET name = 'old, later' WHERE id = $k1; UPDATE users SET score = 1009 WHERE id = $u"
sqlite3 src.db "UPDATE pairs SET v = x'0b0b' WHERE a = 'a' AND b = $pb"
sqlite3 dst.db "UPDATE products SET title = 'new, later' WHERE id = $k2"
"$FERRY" sync -p plan.yaml --both-ways --until-caught-up --json > hand.json 2> hand.err || { cat hand.err; fail "sync"; }
check "last_commit: the later write wins on both sides (old later, new later)" "old, later|old, later|new, later|new, later" \
	"$(sqlite3 src.db "SELECT name FROM items WHERE id = $k1")|$(sqlite3 dst.db "SELECT title FROM products WHERE id = $k1")|$(sqlite3 src.db "SELECT name FROM items WHERE id = $k2")|$(sqlite3 dst.db "SELECT title FROM products WHERE id = $k2")"
check "owner: old wins although the new version wrote later" "1009 1009" \
	"$(sqlite3 src.db "SELECT score FROM users WHERE id = $u") $(sqlite3 dst.db "SELECT score FROM users WHERE id = $u")"
check "new_wins: the new version's value although the old one wrote later" "0a0a 0a0a" \
	"$(sqlite3 src.db "SELECT lower(hex(v)) FROM pairs WHERE a = 'a' AND b = $pb") $(sqlite3 dst.db "SELECT lower(hex(v)) FROM pairs WHERE a = 'a' AND b = $pb")"
check "four conflicts, each counted once (ferry_conflicts and --json)" "4 4" "$(($(conflicts) - before)) $(last_conflicts hand.json)"
check "... listed with table, key, rule and winner" "products|[$k1]|last_commit|old products|[$k2]|last_commit|new users|[$u]|old_wins|old pairs|[\"a\",$pb]|new_wins|new" \
	"$(for q in "products|[$k1]" "products|[$k2]" "users|[$u]" "pairs|[\"a\",$pb]"; do sqlite3 dst.db "SELECT tbl || '|' || key_json || '|' || rule || '|' || winner FROM ferry_conflicts WHERE tbl || '|' || key_json = '$q' ORDER BY rowid DESC LIMIT 1"; done | tr '\n' ' ' | sed 's/ $//')"
check "... and both versions agree" "equal" "$(both_compare sqlite:src.db sqlite:dst.db)"
"$FERRY" runs -p plan.yaml > runs.txt
"$FERRY" runs --json -p plan.yaml > runs.json
check "ferry runs counts and shows them" "4 conflicts settled 1" \
	"$(grep -o '[0-9]* conflicts settled' runs.txt) $(grep -c "users \[$u\]  old wins by old_wins" runs.txt)"
check "... and --json lists them" "4 old_wins" \
	"$($PY -c "import json; r=[x for x in json.load(open('runs.json'))['runs'] if x['conflicts']][0]; print(r['conflicts'], [c['rule'] for c in r['conflicts_newest'] if c['table']=='users'][0])")"

# 5. The same keys on both sides, writers flat out: conflicts, every one settled and counted.
before=$(conflicts)
run_both 3 --seed 3 --only items --ids 1:300 -- --seed 4 --only items --ids 1:300
check "the same keys: both versions agree after the writers stop" "equal" "$(both_compare sqlite:src.db sqlite:dst.db)"
got=$(($(conflicts) - before))
check "... conflicts happened, each a row of ferry_conflicts and counted in --json" "1 $got" \
	"$([ "$got" -gt 0 ] && echo 1 || echo 0) $(($(last_conflicts bg.json) + $(last_conflicts cu.json)))"
check "... ferry verify --full agrees both ways" "0 0" "$(both_verify)"

# 6. kill -9 of the sync at random moments, writers going on, five times (each restart
# while both applications write).
$PY "$WRITER" sqlite src.db --seconds 8 --seed 5 --only items --ids 1:300 > w1.out 2> w1.err &
w1=$!
$PY "$WRITER" sqlite dst.db --seconds 8 --seed 6 --new --only items --ids 1:300 > w2.out 2> w2.err &
w2=$!
for i in 1 2 3 4 5; do
	"$FERRY" sync -q -p plan.yaml --both-ways > /dev/null 2> k$i.err &
	sp=$!
	sleep "0.$((RANDOM % 9 + 3))"
	kill -9 $sp 2> /dev/null || fail "kill -9 round $i: the sync had stopped already: $(cat k$i.err)"
	wait $sp 2> /dev/null || true
done
wait $w1 $w2
"$FERRY" sync -q -p plan.yaml --both-ways --until-caught-up 2> cu.err || { cat cu.err; fail "catch up after kill -9"; }
check "kill -9 five times: both versions agree" "equal" "$(both_compare sqlite:src.db sqlite:dst.db)"
check "... ferry verify --full agrees both ways" "0 0" "$(both_verify)"

# 7. A plain ferry sync goes on both ways; the cut-over ends it.
"$FERRY" sync -p plan.yaml --until-caught-up > /dev/null 2> plain.err
check "after --both-ways, ferry sync goes on both ways" "1" "$(grep -c 'caught up both ways' plain.err)"
"$FERRY" sync -q -p plan.yaml --both-ways > /dev/null 2> bg.err &
sp=$!
$PY "$WRITER" sqlite src.db --seconds 60 --seed 7 --only items --ids 1:300 > w1.out 2> w1.err &
w1=$!
$PY "$WRITER" sqlite dst.db --seconds 3 --seed 8 --new --only items --ids 1:300 > w2.out 2> w2.err &
w2=$!
sleep 1.2
kill -INT $sp
wait $sp || true
"$FERRY" cutover -q -p plan.yaml --max-pause 30000 > /dev/null 2> co.err || { cat co.err; fail "cutover"; }
wait $w1 $w2 || true
check "the cut-over fenced the old version's writer" "1" "$(grep -c '^fenced: ' w1.err)"
set +e
"$FERRY" sync -q -p plan.yaml --both-ways > /dev/null 2> after.err
c=$?
set -e
check "--both-ways after the cut-over is refused (exit 2)" "2 1" "$c $(grep -c 'ends at the cut-over' after.err)"
"$FERRY" sync -q -p plan.yaml --until-caught-up 2> back.err || { cat back.err; fail "the way back"; }
check "the way back carries the rest: both versions agree" "equal" "$(both_compare sqlite:src.db sqlite:dst.db)"
check "... ferry verify --full agrees both ways" "0 0" "$(both_verify)"

# 8. --finish: the capture goes from both versions; the list of conflicts stays.
"$FERRY" sync -q -p plan.yaml --finish 2> fin.err || { cat fin.err; fail "finish"; }
check "--finish: no change log or capture trigger left in either version" "0 0" \
	"$(sqlite3 src.db "SELECT count(*) FROM sqlite_master WHERE name GLOB 'ferry_changes_*' OR (type = 'trigger' AND name NOT GLOB 'ferry_fence_*')") $(sqlite3 dst.db "SELECT count(*) FROM sqlite_master WHERE name GLOB 'ferry_changes_*' OR type = 'trigger'")"
check "... ferry_conflicts keeps its rows" "1" "$([ "$(conflicts)" -gt 0 ] && echo 1 || echo 0)"
# 9. A key change is one unit in a conflict: all its keys win or all lose, and the losing
# side's moved row goes (no row becomes two). Fresh versions kold.db and knew.db, one table
# with a unique email, one row (1, 'a', 'one') and a bystander (2, 'b', 'two'), per case.
# kc_start RULE [SCHEMA]: the versions made and synced once with the table's rule RULE.
kc_start() {
	rm -f kold.db knew.db kold.db-* knew.db-*
	local ddl=${2:-"CREATE TABLE items(id INTEGER PRIMARY KEY, email TEXT UNIQUE, name TEXT);"}
	sqlite3 kold.db "$ddl INSERT INTO items VALUES (1, 'a', 'one'), (2, 'b', 'two');"
	echo "$ddl" > kv2.sql
	printf 'source: sqlite:kold.db\ntarget: sqlite:knew.db\ntarget_schema: kv2.sql\ntables: [{table: items, both_ways: {conflict: %s}}]\n' "$1" > kplan.yaml
	"$FERRY" sync -q -p kplan.yaml --both-ways --until-caught-up 2> ks.err || { cat ks.err; fail "start ($1)"; }
}
# kc_sync: catch up both ways; its exit code.
kc_sync() {
	local c=0
	"$FERRY" sync -q -p kplan.yaml --both-ways --until-caught-up 2> kc.err || c=$?
	echo $c
}
# kc_rows DB: the rows by plain SQL, one line.
kc_rows() { sqlite3 "$1" "SELECT group_concat(id || ':' || email || ':' || name, ' ') FROM (SELECT * FROM items ORDER BY id)"; }
# kc_winners: the winner of each row of ferry_conflicts in both versions with its key.
kc_winners() {
	echo $( (sqlite3 kold.db "SELECT key_json || winner FROM ferry_conflicts"; sqlite3 knew.db "SELECT key_json || winner FROM ferry_conflicts") | sort)
}
# kc_case NAME RULE OLD_SQL NEW_SQL FIRST EXPECTED_ROWS EXPECTED_CONFLICTS: OLD_SQL on the old
# version and NEW_SQL on the new one (FIRST of old|new first, the other 50 ms later), then
# a catch-up: both versions hold EXPECTED_ROWS (plain SQL, each side on its own), and a
# second catch-up changes nothing.
kc_case() {
	kc_start "$2" "${8:-}"
	if [ "$5" = old ]; then
		sqlite3 kold.db "$3"; sleep 0.05; sqlite3 knew.db "$4"
	else
		sqlite3 knew.db "$4"; sleep 0.05; sqlite3 kold.db "$3"
	fi
	local c1 c2
	c1=$(kc_sync)
	c2=$(kc_sync)
	check "$1 ($2): both versions end with the same rows, the moved one once" "0 0 $6|$6|$7" \
		"$c1 $c2 $(kc_rows kold.db)|$(kc_rows knew.db)|$(kc_winners)"
}
MOVE="UPDATE items SET id = 100 WHERE id = 1"
TOUCH="UPDATE items SET name = 'new' WHERE id = 1"
kc_case "a move on the old version, an update of its old key on the new one later" last_commit \
	"$MOVE" "$TOUCH" old "1:a:new 2:b:two" "[1]new"
kc_case "... the same" new_wins "$MOVE" "$TOUCH" old "1:a:new 2:b:two" "[1]new"
kc_case "... the move wins" old_wins "$MOVE" "$TOUCH" old "2:b:two 100:a:one" "[1]old"
kc_case "... the move later wins" last_commit "$MOVE" "$TOUCH" new "2:b:two 100:a:one" "[1]old"
kc_case "... without the unique email" new_wins "$MOVE" "$TOUCH" old "1:a:new 2:b:two" "[1]new" \
	"CREATE TABLE items(id INTEGER PRIMARY KEY, email TEXT, name TEXT);"
kc_case "a move on the new version, an update on the old one later" last_commit \
	"UPDATE items SET name = 'old' WHERE id = 1" "$MOVE" new "1:a:old 2:b:two" "[1]old"
kc_case "... the move wins" new_wins "UPDATE items SET name = 'old' WHERE id = 1" "$MOVE" new \
	"2:b:two 100:a:one" "[1]new"
kc_case "both versions move the same row to different keys" last_commit \
	"$MOVE" "UPDATE items SET id = 200 WHERE id = 1" old "2:b:two 200:a:one" "[1]new"
kc_case "... the same" old_wins "$MOVE" "UPDATE items SET id = 200 WHERE id = 1" old "2:b:two 100:a:one" "[1]old"
kc_case "... the same" new_wins "$MOVE" "UPDATE items SET id = 200 WHERE id = 1" new "2:b:two 200:a:one" "[1]new"
kc_case "a chain of moves in one batch (1 -> 100 -> 7)" last_commit \
	"$MOVE; UPDATE items SET id = 7 WHERE id = 100" "$TOUCH" old "1:a:new 2:b:two" "[1]new"
kc_case "... the chain wins" old_wins "$MOVE; UPDATE items SET id = 7 WHERE id = 100" "$TOUCH" old \
	"2:b:two 7:a:one" "[1]old"
kc_case "a chain against the other side's move" new_wins \
	"$MOVE; UPDATE items SET id = 7 WHERE id = 100" "UPDATE items SET id = 200 WHERE id = 1" old \
	"2:b:two 200:a:one" "[1]new"

# The sync running while the two writes come 5 to 9 ms apart (so their commit times differ),
# so either direction may settle the conflict first (with the other's change still in its queue), or the move
# is carried before the update, which then finds no row: one row, the same on both sides,
# and the later write's when a conflict was settled.
# The writes wait for the sync's own transactions (the CLI's default is to fail at once).
kw() { sqlite3 -cmd ".timeout 20000" "$@"; }
for i in 1 2 3 4 5 6; do
	kc_start last_commit
	"$FERRY" sync -q -p kplan.yaml --both-ways > /dev/null 2> kb.err &
	sp=$!
	sleep 0.3
	if [ $((i % 2)) = 1 ]; then
		kw knew.db "$MOVE"; sleep "0.00$((RANDOM % 5 + 5))"; kw kold.db "UPDATE items SET name = 'old' WHERE id = 1"
		want="1:a:old 2:b:two"
	else
		kw kold.db "$MOVE"; sleep "0.00$((RANDOM % 5 + 5))"; kw knew.db "$TOUCH"
		want="1:a:new 2:b:two"
	fi
	sleep 0.3
	kill -INT $sp
	wait $sp || true
	c=$(kc_sync)
	[ -n "$(kc_winners)" ] || want="2:b:two 100:a:one"
	check "writes a few ms apart while the sync runs ($i): one row, the same on both sides" \
		"0 $want|$want" "$c $(kc_rows kold.db)|$(kc_rows knew.db)"
done

# kill -9 of the sync at a random moment while it settles a losing move, then a rerun:
# the hand-over to the other direction commits with the winner's transaction, so the moved
# row still goes.
for i in 1 2 3 4 5 6; do
	kc_start new_wins
	sqlite3 kold.db "$MOVE"
	sqlite3 knew.db "$TOUCH"
	"$FERRY" sync -q -p kplan.yaml --both-ways > /dev/null 2> kk.err &
	sp=$!
	sleep "0.$((RANDOM % 30))"
	kill -9 $sp 2> /dev/null || true
	wait $sp 2> /dev/null || true
	c=$(kc_sync)
	check "kill -9 at a random moment ($i), then a rerun: one row, the same on both sides" \
		"0 1:a:new 2:b:two|1:a:new 2:b:two" "$c $(kc_rows kold.db)|$(kc_rows knew.db)"
done

# 10. Cases made by hand, each in its own pair of databases (items: a key and a UNIQUE email).
# small RULE SETUP_SQL: old.db and new.db of one table, caught up both ways under RULE.
small() {
	rm -rf small && mkdir small && (
		cd small
		echo "CREATE TABLE items(id INTEGER PRIMARY KEY, email TEXT UNIQUE, score INT);" > v2.sql
		sqlite3 old.db "PRAGMA journal_mode=WAL; $(cat v2.sql) $2" > /dev/null
		printf 'source: sqlite:old.db\ntarget: sqlite:new.db\ntarget_schema: v2.sql\ntables:\n  - table: items\n    both_ways: { conflict: %s }\n' "$1" > plan.yaml
		"$FERRY" sync -q -p plan.yaml --both-ways --until-caught-up 2> s.err || cat s.err
	)
}
small_sync() { (cd small && "$FERRY" sync -q -p plan.yaml --both-ways --until-caught-up > /dev/null 2> s.err; echo $?); }
small_rows() { sqlite3 "small/$1.db" "SELECT group_concat(id || '|' || email || '|' || score, ' ') FROM (SELECT * FROM items ORDER BY id)"; }
small_conflicts() { echo "$(sqlite3 small/old.db 'SELECT count(*) FROM ferry_conflicts') $(sqlite3 small/new.db 'SELECT count(*) FROM ferry_conflicts')"; }

# An INSERT OR IGNORE or an upsert that writes nothing: SQLite's BEFORE trigger logs the row
# it clashes with as a delete (it cannot know the statement will not replace it). That is no
# write: it must neither beat nor lose to the other side's real change of the row.
for rule in last_commit old_wins new_wins; do
	small "$rule" "INSERT INTO items VALUES (5, 'u5', 1);"
	if [ "$rule" = new_wins ]; then
		sqlite3 small/old.db "UPDATE items SET score = 777 WHERE id = 5"
		sleep 0.05
		sqlite3 small/new.db "INSERT INTO items VALUES (5, 'zz', 0) ON CONFLICT(id) DO NOTHING; INSERT OR IGNORE INTO items VALUES (9, 'u5', 0)"
	else
		sqlite3 small/new.db "UPDATE items SET score = 777 WHERE id = 5"
		sleep 0.05
		sqlite3 small/old.db "INSERT OR IGNORE INTO items VALUES (5, 'zz', 0); INSERT OR IGNORE INTO items VALUES (9, 'u5', 0)"
	fi
	check "$rule: a write that wrote nothing does not undo the other side's change, nor count as a conflict" \
		"0 5|u5|777 5|u5|777 0 0" "$(small_sync) $(small_rows old) $(small_rows new) $(small_conflicts)"
done

# A row refused for now (a unique value the other side still holds) is applied again with its
# own commit time: the old version's later write wins under last_commit and is refused by
# the new version's row holding its email (a reject, exit 3), never dropped as if it lost.
small last_commit "INSERT INTO items VALUES (1, 'a', 1), (2, 'b', 2), (3, 'c', 3);"
sqlite3 small/old.db "UPDATE items SET score = 10 WHERE id = 1"
sleep 0.05
sqlite3 small/new.db "INSERT INTO items VALUES (50, 'z', 0); UPDATE items SET score = 30 WHERE id = 3"
sleep 0.05
sqlite3 small/old.db "UPDATE items SET score = 31, email = 'z' WHERE id = 3"
check "a deferred row keeps its commit time: the later write is refused by name, not lost (exit 3)" "3 1" \
	"$(small_sync) $(grep -c 'UNIQUE constraint failed: items.email' small/s.err)"
check "... and the old version keeps its write" "1|a|10 2|b|2 3|z|31" "$(small_rows old)"
finish
