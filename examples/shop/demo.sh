#!/usr/bin/env bash
# demo.sh [ITEMS] [EVENTS]
#
# The ferry demo: a v1 content store (three SQLite databases) upgraded to schema v2 with one
# plan. Generates examples/shop/out/v1 afresh, runs `ferry copy -p examples/shop/plan.yaml`,
# shows what arrived, and checks it with check.sh. Builds nothing: ferry is taken from $FERRY,
# default build/ferry. Then proves it twice: `ferry verify --full` (every row of v2 against v1
# through the plan) and the independent SQL of check.sh. The billing records and the older
# events wait (later:): two records are fetched on demand, `ferry backfill` carries the rest,
# and check.sh proves every row. Exit code: ferry copy's (0 all rows arrived, 3 rows
# rejected, ...), else ferry verify's (5: a difference), fetch's or backfill's, or 1 when they
# said 0 but check.sh found a difference.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
FERRY=${FERRY:-$repo/build/ferry}
items=${1:-20000}
events=${2:-1000000}

if [[ ! -x $FERRY ]]; then
    echo "demo: no ferry at $FERRY; build it first (cmake -S . -B build && cmake --build build)" >&2
    echo "      or point FERRY at it" >&2
    exit 1
fi
command -v sqlite3 >/dev/null || { echo "demo: sqlite3 not found" >&2; exit 1; }

out=$here/out
v1=$out/v1
v2=$out/v2/shop.db
rel() { echo "${1#"$repo"/}"; }

rm -rf "$out"
mkdir -p "$v1" "$out/v2"

echo "== v1: generating the content store ($items items, $events events) in $(rel "$v1")"
"$here/generate.sh" "$v1" "$items" "$events"

echo
echo "== ferry copy -p $(rel "$here/plan.yaml")"
rc=0
"$FERRY" copy -p "$here/plan.yaml" || rc=$?
if [[ $rc -ne 0 && $rc -ne 3 ]]; then
    echo "demo: ferry failed (exit $rc)" >&2
    exit "$rc"
fi

q() {
    sqlite3 -bail -cmd ".mode box" -cmd "ATTACH '$v1/catalog.db' AS c" \
        -cmd "ATTACH '$v1/vending-a.db' AS a" -cmd "ATTACH '$v1/vending-b.db' AS b" \
        "$v2" "$1"
}

echo
echo "== what arrived in $(rel "$v2")"
q "
SELECT v1_table AS 'v1 table', v1_rows AS 'rows', v2_table AS 'v2 table', v2_rows AS 'rows',
       rule
FROM (
  SELECT 1 AS k, 'content_items' AS v1_table, (SELECT count(*) FROM c.content_items) AS v1_rows,
         'items' AS v2_table, (SELECT count(*) FROM main.items) AS v2_rows,
         'renamed; slug computed; legacy_flags dropped' AS rule
  UNION ALL
  SELECT 2, 'item_prices', (SELECT count(*) FROM c.item_prices),
         'item_pricing', (SELECT count(*) FROM main.item_pricing),
         'one pricing model per item'
  UNION ALL
  SELECT 3, 'trial_settings (A+B)',
         (SELECT count(*) FROM a.trial_settings) + (SELECT count(*) FROM b.trial_settings),
         'item_trials', (SELECT count(*) FROM main.item_trials),
         'A and B merged: min over enabled'
  UNION ALL
  SELECT 4, 'events', (SELECT count(*) FROM c.events),
         'events', (SELECT count(*) FROM main.events),
         'id >= ' || coalesce((SELECT min(id) FROM main.events), '-') || ' now, the rest later'
  UNION ALL
  SELECT 5, 'billing_infos', (SELECT count(*) FROM c.billing_infos),
         'billing_infos', (SELECT count(*) FROM main.billing_infos),
         'the whole table later; euros -> cents'
  UNION ALL
  SELECT 6, 'legacy_sessions', (SELECT count(*) FROM c.legacy_sessions), '', '', 'retired'
) ORDER BY k;"

# Three items, one per pricing model v2 chose, each with more than one v1 price row and known
# to both vending databases: v1 rows on the left, v2 on the right.
echo
echo "== three items: v1 rows -> v2"
q "
WITH cand AS (
  SELECT ip.item_id, ip.model
  FROM main.item_pricing ip
  WHERE (SELECT count(*) FROM c.item_prices p WHERE p.item_id = ip.item_id) > 1
    AND ip.item_id IN (SELECT item_id FROM a.trial_settings)
    AND ip.item_id IN (SELECT item_id FROM b.trial_settings)
),
pick AS (SELECT min(item_id) AS id FROM cand GROUP BY model)
SELECT i.id AS item,
       (SELECT group_concat(x, ', ') FROM
          (SELECT pricing_model || ' ' || printf('%.2f', price) AS x
           FROM c.item_prices WHERE item_id = i.id ORDER BY id)) AS 'v1 prices (in row order)',
       coalesce(ip.model || ' ' || printf('%.2f', ip.price) || ' ' || ip.currency, '-')
           AS 'v2 pricing',
       (SELECT CASE trials_enabled WHEN 1 THEN 'on ' ELSE 'off ' END || trial_count
        FROM a.trial_settings WHERE item_id = i.id) AS 'vending A',
       (SELECT CASE trials_enabled WHEN 1 THEN 'on ' ELSE 'off ' END || trial_count
        FROM b.trial_settings WHERE item_id = i.id) AS 'vending B',
       coalesce((SELECT trials FROM main.item_trials WHERE item_id = i.id), '-') AS 'v2 trials'
FROM pick JOIN main.items i ON i.id = pick.id
LEFT JOIN main.item_pricing ip ON ip.item_id = i.id
ORDER BY i.id;"

# ferry's own proof: every row of v2 against v1 through the plan (docs/VERIFY.md).
echo
echo "== ferry verify --full -p $(rel "$here/plan.yaml")"
vrc=0
"$FERRY" verify --full -p "$here/plan.yaml" || vrc=$?
if [[ $vrc -ne 0 && $rc -eq 0 ]]; then
    rc=$vrc
fi

echo
if "$here/check.sh" "$v1" "$v2"; then
    :
elif [[ $rc -eq 0 ]]; then
    rc=1
fi

# ---- later: v2 is live; what waits is loaded on demand, then in the background -------------
[[ $rc -eq 0 ]] || exit "$rc"
echo
echo "== v2 is live; the billing records and the older events still wait in v1 (later:)"
echo "-- $(rel "$FERRY") fetch -p $(rel "$here/plan.yaml") billing_infos 42 4711   # needed now"
"$FERRY" fetch -p "$here/plan.yaml" billing_infos 42 4711 || rc=$?
q "SELECT id, amount_cents, invoice FROM billing_infos ORDER BY id"
echo "-- $(rel "$FERRY") backfill -p $(rel "$here/plan.yaml")                      # the rest"
"$FERRY" backfill -p "$here/plan.yaml" || rc=$?
if "$here/check.sh" --after-backfill "$v1" "$v2"; then
    :
elif [[ $rc -eq 0 ]]; then
    rc=1
fi

# ---- online: the application keeps writing to v1 while v2 is loaded and switched to ------
[[ $rc -eq 0 ]] || exit "$rc"
online=$here/plan-online.yaml
py=python3
[[ -x /usr/bin/python3 ]] && py=/usr/bin/python3
echo
echo "== online: an application writes to v1's content_items while ferry syncs and cuts over"
mkdir -p "$out/live"
sqlite3 "$v1/catalog.db" ".backup '$out/live/catalog.db'"
sqlite3 "$out/live/catalog.db" "PRAGMA journal_mode=WAL" > /dev/null
# The application: new items, renamed items, deleted items, one small transaction each, until
# the cut-over fences v1 (its writes then fail with a message naming v2).
"$py" - "$out/live/catalog.db" > "$out/app.log" 2>&1 <<'PY' &
import random, sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
rnd, n, end = random.Random(1), 0, time.time() + 60
while time.time() < end:
    top = db.execute("SELECT max(id) FROM content_items").fetchone()[0]
    try:
        k = rnd.random()
        if k < 0.5:
            db.execute("INSERT INTO content_items VALUES (?, ?, 'app', '2026-12-03T10:00:00Z', 0)",
                       (top + 1, "New item %d" % (top + 1)))
        elif k < 0.9:
            db.execute("UPDATE content_items SET name = ? WHERE id = ?", ("Renamed %d" % n, rnd.randrange(1, top)))
        else:
            db.execute("DELETE FROM content_items WHERE id = ?", (rnd.randrange(1, top),))
        n += 1
    except sqlite3.DatabaseError as e:
        print("application: %d writes, then: %s" % (n, e))
        break
    time.sleep(0.002)
PY
app=$!
echo "-- $(rel "$FERRY") sync -p $(rel "$online") --until-caught-up"
"$FERRY" sync -p "$online" --until-caught-up || rc=$?
sleep 1
echo "-- $(rel "$FERRY") cutover -p $(rel "$online")"
"$FERRY" cutover -p "$online" || rc=$?
wait "$app" || true
cat "$out/app.log"
sqlite3 -bail "$out/v2/shop-online.db" "ATTACH '$out/live/catalog.db' AS c;
SELECT 'v1 ' || (SELECT count(*) FROM c.content_items) || ' items, v2 ' || (SELECT count(*) FROM main.items) ||
       ' items, ' || (SELECT count(*) FROM (SELECT id, name FROM c.content_items EXCEPT SELECT id, title FROM main.items)) ||
       ' differ: every write the application made before the switch is in v2';"
# ---- the way back: v2 is live; its changes flow back into v1, so a rollback loses nothing --
echo
echo "== the way back: v2's application writes; ferry sync carries its changes into the fenced v1"
sqlite3 -bail "$out/v2/shop-online.db" "
INSERT INTO items(id, title, category, created_at, slug)
  VALUES ((SELECT max(id) + 1 FROM items), 'Made in v2', 'app', '2026-12-03T11:00:00Z', 'made-in-v2');
UPDATE items SET title = 'Renamed in v2' WHERE id = (SELECT min(id) FROM items);"
echo "-- $(rel "$FERRY") sync -p $(rel "$online") --until-caught-up"
"$FERRY" sync -q -p "$online" --until-caught-up || rc=$?
sqlite3 -bail "$out/live/catalog.db" "SELECT 'v1 now holds: ' || group_concat(id || ' ' || name, ', ') FROM content_items WHERE name LIKE '% in v2'"
echo "-- $(rel "$FERRY") rollback -p $(rel "$online")      # v1 live again, v2 fenced"
"$FERRY" rollback -p "$online" || rc=$?
echo "-- $(rel "$FERRY") sync -p $(rel "$online") --finish"
"$FERRY" sync -q -p "$online" --finish || rc=$?
exit "$rc"
