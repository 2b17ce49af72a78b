#!/usr/bin/env bash
# wayback.sh — the way back, SQLite -> SQLite, with an application writing at full speed at
# every step: cut-over, the new version's changes carried back into the old one through the
# plan's inverse (renamed, dropped, computed and defaulted columns; rows outside the where
# left alone), rollback (the new version fenced, the old one writable again), the forward
# stream resumed, and a second cut-over. After each: the independent comparison, and
# ferry verify --full. Also: the plans that have no inverse are refused before anything is
# blocked, reverse: rules, --no-way-back, and --finish on both sides.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sync-lib.sh"
cd "$T"
sync_sqlite_source "$T/src.db" 2000
# A row the plan's where never carries (qty < 0): the way back must leave it as it is.
sqlite3 src.db "INSERT INTO items VALUES (900000, 'outside', 1.5, -7, 'keep me', 'book')"
sync_plan "$T" "sqlite:src.db" "sqlite:dst.db"
"$FERRY" sync -q -p plan.yaml --until-caught-up > /dev/null 2> sync.err || { cat sync.err; fail "sync"; }

# 1. The cut-over, with the old version's application writing.
$PY "$WRITER" sqlite src.db --seconds 60 --seed 21 --log old1.log > w.out 2> w.err &
wpid=$!
sleep 1
"$FERRY" cutover --max-pause 30000 -q -p plan.yaml --json > co1.json 2> co1.err || { cat co1.err; fail "cutover 1"; }
wait "$wpid" || { cat w.err; fail "writer 1"; }
check "cut-over 1: the old version's writer was fenced" "1" "$(grep -c '^fenced: ' w.err)"
check "cut-over 1: every write before it is in the new version" "equal" "$(sync_compare sqlite:src.db sqlite:dst.db)"
check "cut-over 1: --json says the way back started" "true" \
	"$($PY -c 'import json; print(str(json.load(open("co1.json"))["way_back"]).lower())')"

# 2. The way back: the new version's application writes while ferry sync carries it back.
"$FERRY" sync -q -p plan.yaml > back.out 2> back.err &
spid=$!
$PY "$WRITER" sqlite dst.db --new --seconds 4 --seed 22 --log new1.log > w.out 2> w.err || { cat w.err; fail "writer 2"; }
# The colliding key: the new version inserts (and then deletes) a product under the key of
# the old row outside the where; the way back refuses it by name instead of overwriting.
sqlite3 -cmd ".timeout 20000" dst.db "INSERT INTO products(id, title, price, qty, cat, total, status) VALUES (900000, 'new one', 1, 1, NULL, 1, 'new')"
# The way back reaches the key after the writer's backlog: wait for it to stop by itself
# (a loaded machine took longer than a fixed second and a half), at most a minute.
for _ in $(seq 1 600); do
	kill -0 "$spid" 2> /dev/null || break
	grep -q 'outside the plan.s where' back.err && break
	sleep 0.1
done
kill -TERM "$spid" 2> /dev/null || true; wait "$spid" 2> /dev/null || true
check "the way back stopped on the colliding key, naming it and the where" "1" \
	"$(grep -c 'outside the plan.s where (qty >= 0)' back.err)"
sqlite3 dst.db "DELETE FROM products WHERE id = 900000"
"$FERRY" sync -q -p plan.yaml --until-caught-up --max-rejects 1 > /dev/null 2> back2.err || { cat back2.err; fail "the way back, caught up"; }
check "the way back: the new version's writes are in the old one" "equal" "$(sync_compare sqlite:src.db sqlite:dst.db)"
check "the way back: the old row outside the where is untouched" "outside|-7|keep me" \
	"$(sqlite3 src.db "SELECT name, qty, secret FROM items WHERE id = 900000")"
check "the way back: ferry verify --full agrees" "exit=0" "$(vj --full -p plan.yaml)"
check "the writer wrote to the new version" "1" "$([ "$(wc -l < new1.log)" -gt 20 ] && echo 1 || echo 0)"
set +e
sqlite3 src.db "INSERT INTO users VALUES (777777, 'x@example.org', 1)" 2> late.err
code=$?
set -e
check "the old version stays fenced while the way back writes into it" "1" "$([ "$code" -ne 0 ] && echo 1 || echo 0)"

# 3. Rollback, with the new version's application writing flat out.
$PY "$WRITER" sqlite dst.db --new --seconds 60 --seed 23 --log new2.log > w.out 2> w.err &
wpid=$!
sleep 1
"$FERRY" rollback --max-pause 30000 -p plan.yaml --json > rb.json 2> rb.err || { cat rb.err; fail "rollback"; }
wait "$wpid" || { cat w.err; fail "writer 3"; }
check "rollback: the new version's writer was fenced" "1" "$(grep -c '^fenced: .*rolled back' w.err)"
check "rollback: every write before it is in the old version" "equal" "$(sync_compare sqlite:src.db sqlite:dst.db)"
check "rollback: --json reports the pause" "ok" \
	"$($PY -c 'import json; r=json.load(open("rb.json")); print("ok" if r["ok"] and r["pause_ms"] > 0 and r["new_version"] == "fenced" else r)')"
check "rollback: both histories record it" "1 1" \
	"$(sqlite3 src.db "SELECT count(*) FROM ferry_history WHERE kind = 'rollback'") $(sqlite3 dst.db "SELECT count(*) FROM ferry_history WHERE kind = 'rollback'")"
check "rollback: ferry verify --full agrees" "exit=0" "$(vj --full -p plan.yaml)"
check "rollback again: refused, already rolled back" "2" \
	"$(set +e; "$FERRY" rollback --max-pause 30000 -q -p plan.yaml > /dev/null 2>&1; echo $?)"

# 4. The old version is live again: its writes flow forward; then the second cut-over.
$PY "$WRITER" sqlite src.db --seconds 3 --seed 24 --log old2.log > w.out 2> w.err || { cat w.err; fail "writer 4"; }
"$FERRY" sync -q -p plan.yaml --until-caught-up > /dev/null 2> fwd.err || { cat fwd.err; fail "forward again"; }
check "forward again: the old version's new writes are in the new one" "equal" "$(sync_compare sqlite:src.db sqlite:dst.db)"
$PY "$WRITER" sqlite src.db --seconds 60 --seed 25 > w.out 2> w.err &
wpid=$!
sleep 1
"$FERRY" cutover --max-pause 30000 -q -p plan.yaml --verify=full > /dev/null 2> co2.err || { cat co2.err; fail "cutover 2"; }
wait "$wpid" || { cat w.err; fail "writer 5"; }
check "cut-over 2: the old version's writer was fenced" "1" "$(grep -c '^fenced: ' w.err)"
check "cut-over 2: every write is in the new version" "equal" "$(sync_compare sqlite:src.db sqlite:dst.db)"
check "cut-over 2: ferry verify --full agrees" "exit=0" "$(vj --full -p plan.yaml)"
$PY "$WRITER" sqlite dst.db --new --seconds 2 --seed 26 > w.out 2> w.err || { cat w.err; fail "writer 6"; }
"$FERRY" sync -q -p plan.yaml --until-caught-up > /dev/null 2> back3.err || { cat back3.err; fail "the way back 2"; }
check "the second way back: equal" "equal" "$(sync_compare sqlite:src.db sqlite:dst.db)"
check "cut-over again: nothing to do, exit 0" "0" "$(set +e; "$FERRY" cutover --max-pause 30000 -q -p plan.yaml > /dev/null 2>&1; echo $?)"

# 5. --finish ends the way back on both sides; the fence of the old version stays.
"$FERRY" sync -q -p plan.yaml --finish > /dev/null 2> fin.err || { cat fin.err; fail "--finish"; }
check "--finish: no change log or capture trigger left in the old version" "0" \
	"$(sqlite3 src.db "SELECT count(*) FROM sqlite_master WHERE name LIKE 'ferry_changes%' OR name LIKE 'ferry_origin%' OR (type = 'trigger' AND name NOT LIKE 'ferry_fence%')")"
check "--finish: none in the new version either (nor a fence)" "0" \
	"$(sqlite3 dst.db "SELECT count(*) FROM sqlite_master WHERE name LIKE 'ferry_changes%' OR name LIKE 'ferry_origin%' OR type = 'trigger'")"
check "--finish: of ferry's tables the old version keeps only the record" "ferry_history ferry_runs" \
	"$(sqlite3 src.db "SELECT group_concat(name, ' ') FROM (SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'ferry%' ORDER BY name)")"
check "--finish: the old version's fence stays" "1" \
	"$(set +e; sqlite3 src.db "INSERT INTO users VALUES (888888, NULL, 1)" 2>&1 | grep -c "read-only now")"
check "after --finish a sync is refused with the reason" "2" \
	"$(set +e; "$FERRY" sync -q -p plan.yaml --until-caught-up > /dev/null 2>&1; echo $?)"
check "after --finish a rollback is refused with the reason" "2 1" \
	"$(set +e; "$FERRY" rollback --max-pause 30000 -q -p plan.yaml > /dev/null 2> fin-rb.err; echo $?) $(grep -c 'was finished' fin-rb.err)"

# 6. kill -9 at each phase of a rollback, with the new version's application writing, and
# of a cut-over with the way back: the rerun completes the switch; nothing is lost either way.
for phase in frozen drained fenced released; do
	d="k-$phase"
	mkdir "$d"
	sync_sqlite_source "$T/$d/src.db" 300
	sqlite3 "$d/src.db" "UPDATE items SET qty = abs(qty)"
	sync_plan "$T/$d" "sqlite:src.db" "sqlite:dst.db"
	"$FERRY" sync -q -p "$d/plan.yaml" --until-caught-up > /dev/null 2> "$d/s.err" || { cat "$d/s.err"; fail "$d: sync"; }
	set +e
	(FERRY_FAULT="kill-in-cutover:$phase" "$FERRY" cutover --max-pause 30000 -q -p "$d/plan.yaml") > /dev/null 2> "$d/ck.err"
	code=$?
	set -e
	check "kill -9 in the cut-over at $phase" "137" "$code"
	[ "$code" = 137 ] || cat "$d/ck.err"
	# The application may already write to the new version; the rerun completes the switch
	# (or makes it), and the way back then carries every one of those writes.
	# (Killed before "released", nothing committed: the rerun is the cut-over.)
	if [ "$phase" = released ]; then
		$PY "$WRITER" sqlite "$d/dst.db" --new --seconds 1 --seed 41 > "$d/w.out" 2> "$d/w.err" || { cat "$d/w.err"; fail "$d: writer on the new version"; }
	fi
	# After "released" the switch committed: ferry sync completes its second half itself.
	if [ "$phase" != released ]; then
		"$FERRY" cutover --max-pause 30000 -q -p "$d/plan.yaml" > /dev/null 2> "$d/co.err" || { cat "$d/co.err"; fail "$d: the cut-over's rerun"; }
	fi
	"$FERRY" sync -q -p "$d/plan.yaml" --until-caught-up > /dev/null 2> "$d/b.err" || { cat "$d/b.err"; fail "$d: the way back"; }
	check "kill -9 in the cut-over at $phase: both versions record it" "1 1" \
		"$(sqlite3 "$d/src.db" "SELECT count(*) FROM ferry_history WHERE kind = 'cutover'") $(sqlite3 "$d/dst.db" "SELECT count(*) FROM ferry_history WHERE kind = 'cutover'")"
	check "kill -9 in the cut-over at $phase: the way back carried everything" "equal" \
		"$(sync_compare "sqlite:$d/src.db" "sqlite:$d/dst.db")"
	$PY "$WRITER" sqlite "$d/dst.db" --new --seconds 60 --rate 400 --seed 42 > "$d/w.out" 2> "$d/w.err" &
	wpid=$!
	sleep 0.5
	set +e
	(FERRY_FAULT="kill-in-rollback:$phase" "$FERRY" rollback --max-pause 30000 -q -p "$d/plan.yaml") > /dev/null 2> "$d/rk.err"
	code=$?
	set -e
	check "kill -9 in the rollback at $phase" "137" "$code"
	[ "$code" = 137 ] || cat "$d/rk.err"
	"$FERRY" rollback --max-pause 30000 -q -p "$d/plan.yaml" > /dev/null 2> "$d/rb.err" || { cat "$d/rb.err"; fail "$d: the rollback's rerun"; }
	wait "$wpid" || { cat "$d/w.err"; fail "$d: the writer"; }
	check "kill -9 in the rollback at $phase: the new version's writer was fenced" "1" "$(grep -c '^fenced: ' "$d/w.err")"
	check "kill -9 in the rollback at $phase: every write is in the old version" "equal" \
		"$(sync_compare "sqlite:$d/src.db" "sqlite:$d/dst.db")"
	check "kill -9 in the rollback at $phase: the old version takes writes again" "0" \
		"$(set +e; sqlite3 "$d/src.db" "INSERT INTO users VALUES (999999, NULL, 1)" > /dev/null 2>&1; echo $?)"
	"$FERRY" sync -q -p "$d/plan.yaml" --until-caught-up > /dev/null 2> "$d/f.err" || { cat "$d/f.err"; fail "$d: forward again"; }
	check "kill -9 in the rollback at $phase: forward again, equal" "equal" "$(sync_compare "sqlite:$d/src.db" "sqlite:$d/dst.db")"
done

# --keep-old-writable: refused with the way back (it would write into a version applications
# write too), and with --no-way-back the old version stays writable.
mkdir kw && sync_sqlite_source "$T/kw/src.db" 100 && sync_plan "$T/kw" "sqlite:src.db" "sqlite:dst.db"
"$FERRY" sync -q -p kw/plan.yaml --until-caught-up > /dev/null 2> kw/s.err || { cat kw/s.err; fail "kw: sync"; }
check "--keep-old-writable without --no-way-back: refused (exit 2) with the reason" "2 1" \
	"$(set +e; "$FERRY" cutover -q -p kw/plan.yaml --keep-old-writable > /dev/null 2> kw/co.err; echo $?) $(grep -c 'needs --no-way-back' kw/co.err)"
"$FERRY" cutover --max-pause 30000 -q -p kw/plan.yaml --keep-old-writable --no-way-back > /dev/null 2> kw/co.err || { cat kw/co.err; fail "kw: cutover"; }
check "--keep-old-writable --no-way-back: the old version still takes writes" "0" \
	"$(set +e; sqlite3 kw/src.db "INSERT INTO users VALUES (555555, NULL, 1)" > /dev/null 2>&1; echo $?)"
check "... and its history says so" "1" "$(sqlite3 kw/src.db "SELECT count(*) FROM ferry_history WHERE kind = 'cutover' AND verdict LIKE '%left writable%'")"

# 7. --verify inside the pause finds a row the stream would never fix (changed by hand in the
# new version): exit 5, nothing switched, the old version still writable.
mkdir vf && cd vf
sqlite3 a.db "PRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);
INSERT INTO t VALUES (1, 'one'), (2, 'two'), (3, 'three');" > /dev/null
printf 'source: sqlite:a.db\ntarget: sqlite:b.db\n' > plan.yaml
"$FERRY" sync -q -p plan.yaml --until-caught-up > /dev/null 2> s.err || { cat s.err; fail "vf: sync"; }
sqlite3 b.db "UPDATE t SET v = 'changed by hand' WHERE id = 2"
set +e
"$FERRY" cutover --max-pause 30000 -q -p plan.yaml --verify=full > /dev/null 2> co.err
code=$?
set -e
check "--verify=full finds the difference inside the pause: exit 5, naming the table" "5 1" "$code $(grep -c 'verify found differences inside the pause (table "t"' co.err)"
check "... nothing switched: the old version takes writes" "0" \
	"$(set +e; sqlite3 a.db "INSERT INTO t VALUES (4, 'four')" > /dev/null 2>&1; echo $?)"
sqlite3 b.db "UPDATE t SET v = 'two' WHERE id = 2"
"$FERRY" cutover --max-pause 30000 -q -p plan.yaml --verify > /dev/null 2> co.err || { cat co.err; fail "vf: cutover --verify"; }
check "once fixed, the cut-over with --verify goes through" "1|one 2|two 3|three 4|four" \
	"$(sqlite3 b.db "SELECT id || '|' || v FROM t ORDER BY id" | tr '\n' ' ' | sed 's/ $//')"
cd ..

# A cut-over with no sync before it runs the first one itself; the way back works after it.
mkdir first && sync_sqlite_source "$T/first/src.db" 300 && sync_plan "$T/first" "sqlite:src.db" "sqlite:dst.db"
"$FERRY" cutover --max-pause 30000 -q -p first/plan.yaml > /dev/null 2> first/co.err || { cat first/co.err; fail "first: cutover with no sync before"; }
$PY "$WRITER" sqlite first/dst.db --new --seconds 1 --seed 61 > first/w.out 2> first/w.err || { cat first/w.err; fail "first: writer"; }
"$FERRY" sync -q -p first/plan.yaml --until-caught-up > /dev/null 2> first/b.err || { cat first/b.err; fail "first: the way back"; }
check "a cut-over with no sync before it: the way back carries the new version's writes" "equal" \
	"$(sync_compare sqlite:first/src.db sqlite:first/dst.db)"

# 8. Plans without an inverse: refused before anything is blocked (exit 2, nothing changed),
# unless reverse: rules say how or --no-way-back.
mkdir nw && cd nw
sqlite3 a.db "CREATE TABLE people(id INTEGER PRIMARY KEY, first TEXT, last TEXT);
INSERT INTO people VALUES (1, 'Ann', 'Dupont'), (2, 'Kenji', 'Sato');"
cat > v2.sql <<'SQL'
CREATE TABLE people(id INTEGER PRIMARY KEY, full_name TEXT);
SQL
cat > plan.yaml <<'YAML'
source: sqlite:a.db
target: sqlite:b.db
target_schema: v2.sql
tables:
  - table: people
    columns:
      full_name: { expr: "first || ' ' || last" }
      first: { drop: true }
      last: { drop: true }
YAML
"$FERRY" sync -q -p plan.yaml --until-caught-up > /dev/null 2> s.err || { cat s.err; fail "nw: sync"; }
sqlite3 a.db .dump > before.sql
set +e
"$FERRY" cutover --max-pause 30000 -q -p plan.yaml > /dev/null 2> co.err
code=$?
set -e
check "no inverse: the cut-over is refused (exit 2)" "2" "$code"
check "... naming the column and the way out" "1" \
	"$(grep -c 'no way back for .*people.*computed from source column "first".*reverse:.*--no-way-back' co.err)"
check "... and nothing of the old version changed" "same" \
	"$(sqlite3 a.db .dump | cmp -s - before.sql && echo same || echo changed)"
cd ..

# reverse: rules say how the way back fills what does not invert.
mkdir nwr && cd nwr
cp ../nw/v2.sql .
sqlite3 a.db "CREATE TABLE people(id INTEGER PRIMARY KEY, first TEXT, last TEXT);
INSERT INTO people VALUES (1, 'Ann', 'Dupont'), (2, 'Kenji', 'Sato');"
cat ../nw/plan.yaml - > plan.yaml <<'YAML'
    reverse:
      first: { expr: "substr(full_name, 1, instr(full_name, ' ') - 1)" }
      last: { expr: "substr(full_name, instr(full_name, ' ') + 1)" }
YAML
"$FERRY" sync -q -p plan.yaml --until-caught-up > /dev/null 2> s.err || { cat s.err; fail "nwr: sync with reverse"; }
"$FERRY" cutover --max-pause 30000 -q -p plan.yaml > /dev/null 2> co.err || { cat co.err; fail "nwr: cutover with reverse rules"; }
sqlite3 b.db "UPDATE people SET full_name = 'Mere Ngata' WHERE id = 2; INSERT INTO people VALUES (3, 'Ana Lima')"
"$FERRY" sync -q -p plan.yaml --until-caught-up > /dev/null 2> s.err || { cat s.err; fail "nwr: the way back"; }
check "reverse: rules carry the computed column back" "1|Ann|Dupont 2|Mere|Ngata 3|Ana|Lima" \
	"$(sqlite3 a.db "SELECT id, first, last FROM people ORDER BY id" | tr '\n' ' ' | sed 's/ $//')"
"$FERRY" sync -q -p plan.yaml --finish > /dev/null 2> s.err || { cat s.err; fail "nwr: finish"; }
cd ..

mkdir nwb && cd nwb
cp ../nw/v2.sql .
sqlite3 a.db "CREATE TABLE people(id INTEGER PRIMARY KEY, first TEXT, last TEXT); INSERT INTO people VALUES (1, 'Ann', 'Dupont');"
cp ../nw/plan.yaml .
"$FERRY" sync -q -p plan.yaml --until-caught-up > /dev/null 2> s.err || { cat s.err; fail "nwb: sync"; }
"$FERRY" cutover --max-pause 30000 -q -p plan.yaml --no-way-back > /dev/null 2> co.err || { cat co.err; fail "nwb: --no-way-back"; }
check "--no-way-back: the old version is fenced all the same" "1" \
	"$(set +e; sqlite3 a.db "INSERT INTO people VALUES (9, 'x', 'y')" 2>&1 | grep -c 'read-only now')"
check "--no-way-back: no capture of the new version" "0" \
	"$(sqlite3 b.db "SELECT count(*) FROM sqlite_master WHERE type = 'trigger'")"
set +e
"$FERRY" rollback --max-pause 30000 -q -p plan.yaml > /dev/null 2> rb.err
code=$?
set -e
check "--no-way-back: rollback refused with the reason" "2 1" "$code $(grep -c 'no-way-back' rb.err)"
cd ..

finish
