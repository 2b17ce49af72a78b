#!/usr/bin/env bash
# pg-both.sh — ferry sync --both-ways with PostgreSQL: SQLite -> PostgreSQL and PostgreSQL ->
# PostgreSQL. A writer on each version with the same keys, a conflict made by hand, a kill -9
# of the sync, the cut-over ending it and the way back; after each, the independent comparison
# and ferry verify --full both ways; --finish leaves no slot and no publication. Then a key
# change that loses a conflict, each way.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../pg/pg.sh"
source "$(dirname "$0")/sync-lib.sh"
source "$(dirname "$0")/both-lib.sh"
cd "$T"
nslots() { pgq "$1" "SELECT (SELECT count(*) FROM pg_replication_slots WHERE database = current_database()) || ' ' || (SELECT count(*) FROM pg_publication)"; }

# sqlq ENGINE URL SQL: one value through the engine's own client.
sqlq() {
	if [ "$1" = sqlite ]; then sqlite3 "${2#sqlite:}" "$3"; else PGCONNECT_TIMEOUT=10 psql -X -qAt -v ON_ERROR_STOP=1 "$2" -c "$3"; fi
}

# round NAME OLD_ENGINE OLD_URL NEW_URL (the plan is in NAME/; the new version is PostgreSQL)
round() {
	local n=$1 oe=$2 old=$3 new=$4 wold=$3 sp w1 w2
	[ "$oe" = sqlite ] && wold=${old#sqlite:}
	cd "$T/$n"
	"$FERRY" sync -q -p plan.yaml --both-ways --until-caught-up 2> s.err || { cat s.err; fail "$n: start"; }
	check "$n: started both ways: equal" "equal" "$(both_compare "$old" "$new")"
	# Disjoint keys: no conflict.
	"$FERRY" sync -q -p plan.yaml --both-ways > /dev/null 2> bg.err &
	sp=$!
	$PY "$WRITER" "$oe" "$wold" --seconds 2 --seed 39 --ids 1:1000000 > w1.out 2> w1.err &
	w1=$!
	$PY "$WRITER" postgres "$new" --seconds 2 --seed 40 --new --only items --ids 2000000000000:2001000000000 > w2.out 2> w2.err &
	w2=$!
	wait $w1 || { cat w1.err; fail "$n: old writer"; }
	wait $w2 || { cat w2.err; fail "$n: new writer"; }
	kill -INT $sp; wait $sp || true
	"$FERRY" sync -q -p plan.yaml --both-ways --until-caught-up 2> cu.err || { cat cu.err; fail "$n: catch up"; }
	check "$n: disjoint keys: equal, no conflict" "equal 0" \
		"$(both_compare "$old" "$new") $(($(sqlq "$oe" "$old" "SELECT count(*) FROM ferry_conflicts") + $(sqlq postgres "$new" "SELECT count(*) FROM ferry_conflicts")))"
	# The same keys on both sides, the sync running, killed once with kill -9 on the way.
	"$FERRY" sync -q -p plan.yaml --both-ways > /dev/null 2> bg.err &
	sp=$!
	$PY "$WRITER" "$oe" "$wold" --seconds 3 --seed 41 --only items --ids 1:200 > w1.out 2> w1.err &
	w1=$!
	$PY "$WRITER" postgres "$new" --seconds 3 --seed 42 --new --only items --ids 1:200 > w2.out 2> w2.err &
	w2=$!
	sleep 1.5
	kill -9 $sp
	wait $sp 2> /dev/null || true
	"$FERRY" sync -q -p plan.yaml --both-ways > /dev/null 2> bg2.err &
	sp=$!
	wait $w1 || { cat w1.err; fail "$n: old writer"; }
	wait $w2 || { cat w2.err; fail "$n: new writer"; }
	kill -INT $sp; wait $sp || true
	"$FERRY" sync -q -p plan.yaml --both-ways --until-caught-up 2> cu.err || { cat cu.err; fail "$n: catch up"; }
	check "$n: the same keys and a kill -9: equal" "equal" "$(both_compare "$old" "$new")"
	check "$n: ... ferry verify --full agrees both ways" "0 0" "$(both_verify)"
	# Each rule on a conflict made by hand: last_commit (the new version later), owner: old
	# (the new version later), new_wins (the old version later).
	local k u b
	k=$(sqlq "$oe" "$old" "SELECT min(id) FROM items")
	u=$(sqlq "$oe" "$old" "SELECT min(id) FROM users")
	b=$(sqlq "$oe" "$old" "SELECT min(b) FROM pairs WHERE a = 'a'")
	sqlq "$oe" "$old" "UPDATE items SET name = 'old first' WHERE id = $k" > /dev/null
	sqlq "$oe" "$old" "UPDATE users SET score = 1009 WHERE id = $u" > /dev/null
	sqlq postgres "$new" "UPDATE pairs SET v = '\\x0a0a' WHERE a = 'a' AND b = $b" > /dev/null
	sleep 0.05
	sqlq postgres "$new" "UPDATE products SET title = 'new later' WHERE id = $k" > /dev/null
	sqlq postgres "$new" "UPDATE users SET score = 9001 WHERE id = $u" > /dev/null
	if [ "$oe" = sqlite ]; then sqlq "$oe" "$old" "UPDATE pairs SET v = x'0b0b' WHERE a = 'a' AND b = $b" > /dev/null
	else sqlq "$oe" "$old" "UPDATE pairs SET v = '\\x0b0b' WHERE a = 'a' AND b = $b" > /dev/null; fi
	"$FERRY" sync -q -p plan.yaml --both-ways --until-caught-up 2> h.err || { cat h.err; fail "$n: hand"; }
	check "$n: last_commit: the later write (new) on both sides" "new later|new later" \
		"$(sqlq "$oe" "$old" "SELECT name FROM items WHERE id = $k")|$(sqlq postgres "$new" "SELECT title FROM products WHERE id = $k")"
	check "$n: owner: old wins on both sides" "1009|1009" \
		"$(sqlq "$oe" "$old" "SELECT score FROM users WHERE id = $u")|$(sqlq postgres "$new" "SELECT score FROM users WHERE id = $u")"
	check "$n: new_wins: the new version's value on both sides" "equal 0a0a" \
		"$(both_compare "$old" "$new") $(sqlq postgres "$new" "SELECT encode(v, 'hex') FROM pairs WHERE a = 'a' AND b = $b")"
	# Which direction saw each conflict depends on which applied first: look in both.
	conf() { # TABLE_OLD TABLE_NEW KEY_JSON
		{ sqlq "$oe" "$old" "SELECT at || ' ' || rule || '|' || winner FROM ferry_conflicts WHERE tbl = '$1' AND key_json = '$3'"
		  sqlq postgres "$new" "SELECT at || ' ' || rule || '|' || winner FROM ferry_conflicts WHERE tbl = '$2' AND key_json = '$3'"; } | sort | tail -n 1 | cut -d' ' -f2
	}
	check "$n: ... each listed in ferry_conflicts" "last_commit|new old_wins|old new_wins|new" \
		"$(conf items products "[$k]") $(conf users users "[$u]") $(conf pairs pairs "[\"a\",$b]")"
	check "$n: ferry runs lists them" "1" "$({ "$FERRY" runs -p plan.yaml; "$FERRY" runs "$old"; } | grep -c -m 1 'conflicts settled')"
	# The cut-over ends both ways; the way back carries what the new version wrote.
	"$FERRY" sync -q -p plan.yaml --both-ways > /dev/null 2> bg.err &
	sp=$!
	$PY "$WRITER" "$oe" "$wold" --seconds 60 --seed 43 --only items --ids 1:200 > w1.out 2> w1.err &
	w1=$!
	$PY "$WRITER" postgres "$new" --seconds 3 --seed 44 --new --only items --ids 1:200 > w2.out 2> w2.err &
	w2=$!
	sleep 1
	kill -INT $sp; wait $sp || true
	"$FERRY" cutover -q -p plan.yaml --max-pause 30000 > /dev/null 2> co.err || { cat co.err; fail "$n: cutover"; }
	wait $w1 $w2 || true
	check "$n: the cut-over fenced the old version's writer" "1" "$(grep -c '^fenced: ' w1.err)"
	"$FERRY" sync -q -p plan.yaml --until-caught-up 2> back.err || { cat back.err; fail "$n: the way back"; }
	check "$n: after the cut-over and the way back: equal" "equal" "$(both_compare "$old" "$new")"
	check "$n: ... ferry verify --full agrees both ways" "0 0" "$(both_verify)"
	"$FERRY" sync -q -p plan.yaml --finish 2> fin.err || { cat fin.err; fail "$n: finish"; }
	cd "$T"
}

pg_newdb d1
mkdir sp
sync_sqlite_source "$T/sp/src.db" 300
both_plan "$T/sp" "sqlite:src.db" "$(pg_url "$d1")"
round sp sqlite "sqlite:$T/sp/src.db" "$(pg_url "$d1")"
check "sp: --finish left no slot and no publication in the new version" "0 0" "$(nslots "$d1")"
check "sp: --finish left no capture trigger in the old version" "0" \
	"$(sqlite3 sp/src.db "SELECT count(*) FROM sqlite_master WHERE name LIKE 'ferry_changes%' OR (type = 'trigger' AND name NOT LIKE 'ferry_fence%')")"

pg_newdb s2
pg_newdb d2
sync_pg_source_sql 300 | PGCONNECT_TIMEOUT=10 psql -X -q -v ON_ERROR_STOP=1 "$(pg_url "$s2")" > /dev/null
mkdir pp
both_plan "$T/pp" "$(pg_url "$s2")" "$(pg_url "$d2")"
round pp postgres "$(pg_url "$s2")" "$(pg_url "$d2")"
check "pp: --finish left no slot and no publication on either side" "0 0 0 0" "$(nslots "$s2") $(nslots "$d2")"

# A key change against an update of its old key on the other side (docs/ONLINE.md, "Both
# versions live": a key change is one unit): row 1 moved to 100 on the old version, then
# updated on the new one (the new version wins, so the old version's row 100 goes: a change
# handed to the new version's capture inside ferry's own transaction there); row 2 moved to
# 200 on the new version, then updated on the old one (the old version wins: handed to the
# old version's capture). A unique email would refuse the row twice forever otherwise.
# kmove NAME OLD_ENGINE OLD_URL NEW_URL
kmove() {
	local n=$1 oe=$2 old=$3 new=$4 ddl="CREATE TABLE items(id bigint PRIMARY KEY, email text UNIQUE, name text);"
	mkdir "$T/$n"
	cd "$T/$n"
	sqlq "$oe" "$old" "$ddl INSERT INTO items VALUES (1, 'a', 'one'), (2, 'b', 'two'), (3, 'c', 'three');" > /dev/null
	echo "$ddl" > v2.sql
	printf 'source: %s\ntarget: %s\ntarget_schema: v2.sql\ntables: [{table: items, both_ways: {conflict: last_commit}}]\n' "$old" "$new" > plan.yaml
	"$FERRY" sync -q -p plan.yaml --both-ways --until-caught-up 2> s.err || { cat s.err; fail "$n: start"; }
	sqlq "$oe" "$old" "UPDATE items SET id = 100 WHERE id = 1" > /dev/null
	sleep 0.05
	sqlq postgres "$new" "UPDATE items SET name = 'new' WHERE id = 1" > /dev/null
	sqlq postgres "$new" "UPDATE items SET id = 200 WHERE id = 2" > /dev/null
	sleep 0.05
	sqlq "$oe" "$old" "UPDATE items SET name = 'old' WHERE id = 2" > /dev/null
	local c=0 rows="SELECT string_agg(id || ':' || email || ':' || name, ' ' ORDER BY id) FROM items"
	"$FERRY" sync -q -p plan.yaml --both-ways --until-caught-up 2> m.err || c=$?
	"$FERRY" sync -q -p plan.yaml --both-ways --until-caught-up 2>> m.err || c=$((c + $?))
	[ "$c" = 0 ] || cat m.err
	[ "$oe" = sqlite ] && rows="SELECT group_concat(id || ':' || email || ':' || name, ' ') FROM (SELECT * FROM items ORDER BY id)"
	check "$n: a key change that loses a conflict leaves one row on both sides" \
		"0 1:a:new 2:b:old 3:c:three|1:a:new 2:b:old 3:c:three" \
		"$c $(sqlq "$oe" "$old" "$rows")|$(sqlq postgres "$new" "SELECT string_agg(id || ':' || email || ':' || name, ' ' ORDER BY id) FROM items")"
	check "$n: ... two conflicts, each listed once" "[1]new [2]old" \
		"$(echo $( { sqlq "$oe" "$old" "SELECT key_json || winner FROM ferry_conflicts"; sqlq postgres "$new" "SELECT key_json || winner FROM ferry_conflicts"; } | sort))"
	"$FERRY" sync -q -p plan.yaml --finish 2> fin.err || { cat fin.err; fail "$n: finish"; }
	cd "$T"
}
pg_newdb d3
kmove ks sqlite "sqlite:$T/ks/src.db" "$(pg_url "$d3")"
pg_newdb s4
pg_newdb d4
kmove kp postgres "$(pg_url "$s4")" "$(pg_url "$d4")"
finish
