#!/usr/bin/env bash
# sync.sh — ferry sync SQLite -> SQLite with a random application writing through the
# snapshot and the stream (inserts, updates, deletes, key updates, REPLACE evictions, rows
# moving across the plan's where), kill -9 of the sync at random moments, then resume; at
# the end the target must equal the source through the plan, by ferry verify --full and by
# an independent SQL comparison. Also: refusals that change nothing, and --finish.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sync-lib.sh"

cd "$T"
sync_sqlite_source "$T/src.db" 3000
sync_plan "$T" "sqlite:src.db" "sqlite:dst.db"

# 1. Nothing writes: the sync catches up at once and the target is the source through the plan.
"$FERRY" sync -q -p plan.yaml --until-caught-up > /dev/null 2> sync.err || { cat sync.err; exit 1; }
check "quiet source: target equals the source through the plan" "equal" "$(sync_compare sqlite:src.db sqlite:dst.db)"
check "ferry verify --full agrees" "exit=0" "$(vj --full -p plan.yaml)"
check "capture installed on the source (triggers)" "1" \
	"$(sqlite3 src.db "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'ferry%'")"

# A second sync (or a cut-over) of the plan while one streams is refused with the holder.
"$FERRY" sync -q -p plan.yaml > /dev/null 2>> sync.err &
spid=$!
for _ in $(seq 1 600); do # until it holds the run (its lease names its pid)
	[ "$(sqlite3 dst.db "SELECT count(*) FROM ferry_leases WHERE state = 'held' AND holder LIKE '%:$spid'" 2> /dev/null)" = 1 ] && break
	sleep 0.05
done
set +e
"$FERRY" sync -q -p plan.yaml --until-caught-up > /dev/null 2> second.err
code=$?
set -e
kill -TERM "$spid" 2> /dev/null || true
wait "$spid" 2> /dev/null || true
check "a second sync of the plan is refused (exit 2) naming the holder" "2 1" \
	"$code $(grep -c "another ferry process holds target .*pid $spid" second.err)"

# 2. A writer running through the stream; the sync killed at random moments and rerun.
$PY "$WRITER" sqlite src.db --seconds 6 --seed 7 > writer.out 2> writer.err &
wpid=$!
for round in 1 2 3; do
	"$FERRY" sync -q -p plan.yaml > /dev/null 2>> sync.err &
	spid=$!
	sleep "0.$((RANDOM % 9 + 5))"
	kill -9 "$spid" 2> /dev/null || true
	wait "$spid" 2> /dev/null || true
done
# A sync that streams while the writer finishes, stopped cleanly by SIGTERM.
"$FERRY" sync -q -p plan.yaml > /dev/null 2>> sync.err &
spid=$!
wait "$wpid" || { cat writer.err; fail "the writer failed"; }
kill -TERM "$spid" 2> /dev/null || true
set +e
wait "$spid"
code=$?
set -e
check "SIGTERM stops the sync cleanly (exit 130, a rerun resumes)" "130" "$code"
[ "$code" = 130 ] || tail -3 sync.err
check "the writer wrote" "1" "$([ "$(cat writer.out)" -gt 100 ] && echo 1 || echo 0)"
"$FERRY" sync -q -p plan.yaml --until-caught-up > /dev/null 2>> sync.err || { cat sync.err; exit 1; }
check "after kills and a writer: target equals the source through the plan" "equal" "$(sync_compare sqlite:src.db sqlite:dst.db)"
check "after kills and a writer: ferry verify --full agrees" "exit=0" "$(vj --full -p plan.yaml)"

# 3. A writer while the snapshot copy itself runs (fresh target), killed during the copy.
"$FERRY" sync -q -p plan.yaml --finish > /dev/null 2>> sync.err || { cat sync.err; exit 1; }
rm -f dst.db*
$PY "$WRITER" sqlite src.db --seconds 4 --seed 11 > writer.out 2> writer.err &
wpid=$!
set +e
FERRY_FAULT=kill-after-commit:3 "$FERRY" sync -q --chunk-rows 100 -p plan.yaml > /dev/null 2>> sync.err
code=$?
set -e
check "the sync was killed inside its snapshot copy" "137" "$code"
"$FERRY" sync -q --chunk-rows 100 -p plan.yaml > /dev/null 2>> sync.err &
spid=$!
wait "$wpid"
sleep 0.5
kill -TERM "$spid" 2> /dev/null || true; wait "$spid" 2> /dev/null || true
"$FERRY" sync -q -p plan.yaml --until-caught-up > /dev/null 2>> sync.err || { cat sync.err; exit 1; }
check "writer during the snapshot: target equals the source" "equal" "$(sync_compare sqlite:src.db sqlite:dst.db)"
check "writer during the snapshot: ferry verify --full agrees" "exit=0" "$(vj --full -p plan.yaml)"

# 4. --finish removes everything ferry installed on the source and records the run.
"$FERRY" sync -q -p plan.yaml --finish > /dev/null 2>> sync.err || { cat sync.err; exit 1; }
check "--finish: nothing of ferry's left in the source" "0" \
	"$(sqlite3 src.db "SELECT count(*) FROM sqlite_master WHERE name LIKE 'ferry%'")"
check "--finish: the run is in the target's ferry_history" "1" \
	"$(sqlite3 dst.db "SELECT count(*) FROM ferry_history WHERE description LIKE 'ferry sync -p %'")"

# 5. Interleavings of a change and the copy of its chunk: the source changed right after the
# first chunk committed (chunks of 100 rows, one reader): a row of a chunk already copied, a
# row of a chunk not copied yet, the highest key deleted, a key moved past the last chunk, a
# row moved out of and one into the where, a new row past the end.
sync_sqlite_source "$T/ia.db" 500
mkdir -p il
sync_plan "$T/il" "sqlite:$T/ia.db" "sqlite:$T/il/dst.db"
cat > il/change.sql <<'SQL'
UPDATE items SET name = 'copied, then changed' WHERE id = 5;
UPDATE items SET name = 'changed before its chunk' WHERE id = 450;
DELETE FROM items WHERE id = (SELECT max(id) FROM items);
UPDATE items SET id = 9000 WHERE id = 7;
UPDATE items SET qty = -1 WHERE id = 8;
UPDATE items SET qty = 5 WHERE id = (SELECT min(id) FROM items WHERE qty < 0);
INSERT INTO items VALUES (9500, 'new past the end', 1.5, 2, 's', NULL);
SQL
FERRY_FAULT="exec-after-commit:1:sqlite3 $T/ia.db < $T/il/change.sql" \
	"$FERRY" sync -q -j 1 --chunk-rows 100 -p il/plan.yaml --until-caught-up > /dev/null 2> il.err || cat il.err
check "interleavings: the change ran between two chunks" "1" "$(sqlite3 ia.db "SELECT count(*) FROM items WHERE id = 9500")"
check "interleavings: target equals the source" "equal" "$(sync_compare sqlite:ia.db sqlite:il/dst.db)"
check "interleavings: the highest key's delete arrived" "0" "$(sqlite3 il/dst.db "SELECT count(*) FROM products WHERE id = 500")"
check "interleavings: the moved key left its old place" "0 1" \
	"$(sqlite3 il/dst.db "SELECT (SELECT count(*) FROM products WHERE id = 7) || ' ' || (SELECT count(*) FROM products WHERE id = 9000)")"

# 6. A merged table fed by two sources (min over the rows that enable trials), both written
# while the sync streams: each touched row is rebuilt from both sources by its rule.
for x in a b; do
	sqlite3 "m$x.db" "PRAGMA journal_mode=WAL;" > /dev/null
	sqlite3 "m$x.db" "CREATE TABLE trial(item_id INTEGER PRIMARY KEY, trials INTEGER, enabled INTEGER);
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 300)
INSERT INTO trial SELECT i, abs(random()) % 50, abs(random()) % 3 > 0 FROM s;"
done
cat > merge.sql <<'SQL'
CREATE TABLE item_trials(item_id INTEGER PRIMARY KEY, trials INTEGER);
SQL
cat > merge.yaml <<'YAML'
sources:
  a: sqlite:ma.db
  b: sqlite:mb.db
target: sqlite:mdst.db
target_schema: merge.sql
tables:
  - { table: trial, source: a, rename: item_trials, where: "enabled = 1",
      columns: { trials: { conflict: min }, enabled: { drop: true } } }
  - { table: trial, source: b, rename: item_trials, where: "enabled = 1",
      columns: { trials: { conflict: min }, enabled: { drop: true } } }
YAML
"$FERRY" sync -q -p merge.yaml > /dev/null 2> merge.err &
spid=$!
mpids=()
for x in a b; do
	$PY - "m$x.db" "$x" <<'PY' &
import random, sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
rnd = random.Random(sys.argv[2])
end = time.time() + 3
while time.time() < end:
    i = rnd.randrange(1, 330)
    k = rnd.random()
    if k < 0.5:
        db.execute("INSERT OR REPLACE INTO trial VALUES (?, ?, ?)", (i, rnd.randrange(50), rnd.randrange(2)))
    elif k < 0.8:
        db.execute("UPDATE trial SET enabled = 1 - enabled WHERE item_id = ?", (i,))
    else:
        db.execute("DELETE FROM trial WHERE item_id = ?", (i,))
    time.sleep(0.002)
PY
	mpids+=($!)
done
wait "${mpids[@]}"
sleep 1
kill -TERM "$spid" 2> /dev/null || true
wait "$spid" 2> /dev/null || true
"$FERRY" sync -q -p merge.yaml --until-caught-up > /dev/null 2>> merge.err || cat merge.err
expect=$(sqlite3 ma.db "ATTACH 'mb.db' AS b; SELECT item_id || ':' || min(trials) FROM
  (SELECT item_id, trials FROM main.trial WHERE enabled = 1 UNION ALL SELECT item_id, trials FROM b.trial WHERE enabled = 1)
  GROUP BY item_id ORDER BY item_id" | md5sum)
check "a merged table through the stream: every row rebuilt by its rule from both sources" "$expect" 	"$(sqlite3 mdst.db "SELECT item_id || ':' || trials FROM item_trials ORDER BY item_id" | md5sum)"
check "a merged table: ferry verify --full agrees" "exit=0" "$(vj --full -p merge.yaml)"
"$FERRY" sync -q -p merge.yaml --finish > /dev/null 2>> merge.err || cat merge.err

# 7. Refusals change nothing: a source table without a primary key.
sqlite3 nokey.db "PRAGMA journal_mode=WAL; CREATE TABLE log(msg TEXT, n INTEGER); INSERT INTO log VALUES ('a', 1);" > /dev/null
before=$(sqlite3 nokey.db .dump | md5sum)
set +e
"$FERRY" sync -q nokey.db nokey-dst.db --until-caught-up > /dev/null 2> refuse.err
code=$?
set -e
check "a table without a key is refused (exit 2)" "2" "$code"
check "the refusal names the table and the reason" "1" "$(grep -c 'source table "log": it has no primary key' refuse.err)"
check "the refused source is unchanged" "$before" "$(sqlite3 nokey.db .dump | md5sum)"
check "the refused run left no target behind" "0" "$(ls nokey-dst.db 2> /dev/null | wc -l)"

# 8. Unique values moved around a cycle between rows of one batch (Q: E -> X, R: F -> E,
# Q: X -> F): each re-read row holds its final value and meets the other's old one; the
# apply writes both anyway, rejecting nothing.
sqlite3 cyc.db "PRAGMA journal_mode=WAL; CREATE TABLE u(id INTEGER PRIMARY KEY, email TEXT UNIQUE);
INSERT INTO u VALUES (1, 'e'), (2, 'f'), (3, 'g');" > /dev/null
"$FERRY" sync -q cyc.db cyc-dst.db --until-caught-up > /dev/null 2> cyc.err || { cat cyc.err; fail "cycle: sync"; }
sqlite3 cyc.db "UPDATE u SET email = 'x' WHERE id = 1; UPDATE u SET email = 'e' WHERE id = 2;
UPDATE u SET email = 'y' WHERE id = 3; UPDATE u SET email = 'f' WHERE id = 1; UPDATE u SET email = 'g' WHERE id = 2;
UPDATE u SET email = 'e' WHERE id = 3;"
"$FERRY" sync -q cyc.db cyc-dst.db --until-caught-up > /dev/null 2> cyc.err || { cat cyc.err; fail "cycle: the stream"; }
check "unique values moved around a cycle: applied, nothing rejected" "1|f 2|g 3|e" \
	"$(sqlite3 cyc-dst.db "SELECT id || '|' || email FROM u ORDER BY id" | tr '\n' ' ' | sed 's/ $//')"

# The snapshot copy's notes (a column dropped, one set by the plan, one not in the target):
# sync prints no summary, so --json gives each as a line {"event":"note", code, table, column,
# message} (they were not shown at all), and the text mode as "note: ..." on stderr.
mkdir notes && sync_sqlite_source "$T/notes/src.db" 50 && sync_plan "$T/notes" "sqlite:src.db" "sqlite:dst.db"
sqlite3 notes/src.db "ALTER TABLE items ADD COLUMN extra TEXT"
"$FERRY" sync --json -p notes/plan.yaml --until-caught-up > notes/out.json 2> notes/err.txt || { cat notes/err.txt; fail "notes: sync"; }
check "sync --json: the notes as objects" "column_dropped:products:secret column_not_in_target:products:extra column_set_by_plan:products:status" \
	"$($PY -c '
import json, sys
ns = [json.loads(l) for l in open(sys.argv[1]) if json.loads(l)["event"] == "note"]
assert all(n["message"] for n in ns)
print(" ".join(sorted("%s:%s:%s" % (n["code"], n["table"], n["column"]) for n in ns)))' notes/out.json)"
mkdir notes2 && sync_sqlite_source "$T/notes2/src.db" 50 && sync_plan "$T/notes2" "sqlite:src.db" "sqlite:dst.db"
"$FERRY" sync -p notes2/plan.yaml --until-caught-up > /dev/null 2> notes2/err.txt || { cat notes2/err.txt; fail "notes2: sync"; }
check "sync: the notes on stderr" "1" "$(grep -c '^note: .*column "secret" dropped by the plan$' notes2/err.txt)"

# 9. NULL in a text primary key (SQLite allows it outside the rowid alias): the snapshot
# carries those rows; a later change to one cannot name its row in the target, so it is a
# reject (recorded, counted, the sync stops at --max-rejects) and never vanishes; the other
# rows' changes go on.
sqlite3 nk.db "PRAGMA journal_mode=WAL; CREATE TABLE k(code TEXT PRIMARY KEY, v INT);
INSERT INTO k VALUES ('a', 1), (NULL, 2), (NULL, 3), ('b', 4);" > /dev/null
"$FERRY" sync -q nk.db nk-dst.db --until-caught-up > /dev/null 2> nk.err || { cat nk.err; fail "null key: sync"; }
check "null key: the snapshot carries the NULL-key rows" "a|1 b|4 |2 |3" \
	"$(sqlite3 nk-dst.db "SELECT ifnull(code, '') || '|' || v FROM k ORDER BY 1" | tr '\n' ' ' | sed 's/ $//')"
sqlite3 nk.db "UPDATE k SET v = 7 WHERE code = 'a'; UPDATE k SET v = v + 10 WHERE code IS NULL; INSERT INTO k VALUES ('c', 5)"
code=0
"$FERRY" sync -q nk.db nk-dst.db --until-caught-up > /dev/null 2> nk.err || code=$?
check "null key: a change of a NULL-key row stops the sync (exit 3, a reject)" "3" "$code"
check "null key: the message names the table and the key" "1" \
	"$(grep -c 'a change of table "k" has NULL in its key ("code"), which SQLite allows' nk.err)"
check "null key: nothing of that batch was applied" "a|1" "$(sqlite3 nk-dst.db "SELECT code || '|' || v FROM k WHERE code = 'a'")"
"$FERRY" sync -q nk.db nk-dst.db --until-caught-up --max-rejects 5 > /dev/null 2> nk.err || { cat nk.err; fail "null key: --max-rejects"; }
check "null key: with --max-rejects the other changes apply" "a|7 b|4 c|5 |2 |3" \
	"$(sqlite3 nk-dst.db "SELECT ifnull(code, '') || '|' || v FROM k ORDER BY 1" | tr '\n' ' ' | sed 's/ $//')"
check "null key: each rejected change is in ferry_rejects with its key" "2 [null]" \
	"$(sqlite3 nk-dst.db "SELECT count(*) || ' ' || min(row_key) FROM ferry_rejects WHERE table_name = 'k'")"
code=0
"$FERRY" verify -q --full nk.db nk-dst.db > /dev/null 2>&1 || code=$?
check "null key: verify still sees the NULL-key rows differ (exit 5)" "5" "$code"

finish
