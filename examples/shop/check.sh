#!/usr/bin/env bash
# check.sh [--events-from KEY | --after-backfill] [V1DIR [V2DB]]
#
# Checks the shop demo's v2 database against the v1 databases, independently of ferry (sqlite3
# only): computes what v2 must hold from v1 with plain SQL and compares it, both ways, with what
# is there. Prints "shop check: OK ..." or the differences, and exits 1 when anything differs.
#
#   V1DIR   catalog.db, vending-a.db, vending-b.db      (default: out/v1 next to this script)
#   V2DB    the target of plan.yaml                      (default: out/v2/shop.db)
#   --events-from KEY   lowest event id expected in v2   (default: plan.yaml's cut key)
#   --after-backfill    ferry backfill ran: every event and every billing record expected
#                       (without it billing_infos, whose whole table waits, must be empty)
#
# Checked: the v2 tables, columns (type, NOT NULL, default, key) and indexes are those of
# schema-v2.sql, no other table is there (ferry's own ferry_* tables aside), foreign keys hold,
# and every table holds exactly the expected rows, values and storage types.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

usage() { echo "usage: ${0##*/} [--events-from KEY | --after-backfill] [V1DIR [V2DB]]" >&2; exit 2; }

cut=
billing=none
args=()
while [[ $# -gt 0 ]]; do
    case $1 in
        --events-from) [[ $# -ge 2 ]] || usage; cut=$2; shift 2 ;;
        --events-from=*) cut=${1#*=}; shift ;;
        --after-backfill) cut=1; billing=all; shift ;;
        -h|--help) usage ;;
        -*) usage ;;
        *) args+=("$1"); shift ;;
    esac
done
[[ ${#args[@]} -le 2 ]] || usage
v1=${args[0]:-$here/out/v1}
v2=${args[1]:-$here/out/v2/shop.db}

if [[ -z $cut ]]; then
    # The events entry's delay in plan.yaml: later: "id < KEY"
    cut=$(sed -n 's/^ *later: *"id < \([0-9][0-9]*\)".*/\1/p' "$here/plan.yaml" | head -n 1)
    [[ -n $cut ]] || { echo "check.sh: no 'later: \"id < KEY\"' in plan.yaml" >&2; exit 2; }
fi
[[ $cut =~ ^[0-9]+$ ]] || usage

command -v sqlite3 >/dev/null || { echo "check.sh: sqlite3 not found" >&2; exit 1; }
for f in "$v1/catalog.db" "$v1/vending-a.db" "$v1/vending-b.db" "$v2"; do
    [[ -f $f ]] || { echo "shop check: FAILED: $f does not exist" >&2; exit 1; }
done

sqlq() { local s=${1//\'/\'\'}; printf "'%s'" "$s"; }

# compare TABLE "COL ..." EXPECTED-SELECT
# Emits SQL printing "DIFF|TABLE|missing|row" for expected rows v2 lacks, "DIFF|TABLE|extra|row"
# for v2 rows not expected (at most 5 each), a count difference, and "COUNT|TABLE|n" otherwise.
# Rows are compared with each column's storage class, so 1.5 and '1.5' differ.
compare() {
    local t=$1 exp=$3 c sel=
    for c in $2; do sel+="${sel:+, }$c, typeof($c)"; done
    cat <<SQL
SELECT 'DIFF', '$t', 'missing', * FROM
    (SELECT $sel FROM ($exp) EXCEPT SELECT $sel FROM v2.$t) LIMIT 5;
SELECT 'DIFF', '$t', 'extra', * FROM
    (SELECT $sel FROM v2.$t EXCEPT SELECT $sel FROM ($exp)) LIMIT 5;
SELECT CASE WHEN e = a THEN 'COUNT' ELSE 'DIFF' END, '$t',
       CASE WHEN e = a THEN a ELSE 'count: expected ' || e || ', found ' || a END
FROM (SELECT (SELECT count(*) FROM ($exp)) AS e, (SELECT count(*) FROM v2.$t) AS a);
SQL
}

# What v2 must hold, computed from v1 with plain SQL (not with the plan's expressions where the
# rule allows another formulation).
exp_items="SELECT id, name AS title, kind AS category, created AS created_at,
                  lower(replace(name, ' ', '-')) AS slug
           FROM v1.content_items"

# Per item: the first usage row priced > 0, else the first subscription row priced > 0, else the
# first first-download row (any price); none of these: no row.
exp_pricing="WITH usage AS (SELECT item_id, min(id) AS id FROM v1.item_prices
                           WHERE pricing_model = 'usage' AND price > 0 GROUP BY item_id),
                 sub AS (SELECT item_id, min(id) AS id FROM v1.item_prices
                         WHERE pricing_model = 'subscription' AND price > 0 GROUP BY item_id),
                 fd AS (SELECT item_id, min(id) AS id FROM v1.item_prices
                        WHERE pricing_model = 'first-download' GROUP BY item_id),
                 pick AS (SELECT coalesce(usage.id, sub.id, fd.id) AS id
                          FROM v1.content_items i
                          LEFT JOIN usage ON usage.item_id = i.id
                          LEFT JOIN sub ON sub.item_id = i.id
                          LEFT JOIN fd ON fd.item_id = i.id)
             SELECT p.item_id, p.pricing_model AS model, p.price, 'EUR' AS currency
             FROM pick JOIN v1.item_prices p ON p.id = pick.id"

exp_trials="SELECT item_id, min(trial_count) AS trials
            FROM (SELECT item_id, trial_count FROM va.trial_settings WHERE trials_enabled = 1
                  UNION ALL
                  SELECT item_id, trial_count FROM vb.trial_settings WHERE trials_enabled = 1)
            GROUP BY item_id"

exp_events="SELECT id, item_id, kind, happened AS occurred_at, payload, 'web' AS channel
            FROM v1.events WHERE id >= $cut"

# Billing records wait whole (later: true): none before the backfill, all after it; cents from
# euros (amounts have two decimals, so adding a half and truncating rounds them).
exp_billing="SELECT id, item_id, CAST(amount * 100 + 0.5 AS INTEGER) AS amount_cents, billed_at, invoice
             FROM v1.billing_infos WHERE '$billing' = 'all'"

# main: an in-memory database holding schema-v2.sql, the reference for v2's shape.
report=$(
    {
        echo ".bail on"
        cat "$here/schema-v2.sql"
        cat <<SQL
ATTACH $(sqlq "$v1/catalog.db") AS v1;
ATTACH $(sqlq "$v1/vending-a.db") AS va;
ATTACH $(sqlq "$v1/vending-b.db") AS vb;
ATTACH $(sqlq "$v2") AS v2;
.mode list
.separator " | "
.headers off

-- shape: tables, columns, indexes
SELECT 'DIFF', 'schema', 'missing column', * FROM (
    SELECT m.name, c.name, c.type, c."notnull", c.dflt_value, c.pk
    FROM main.sqlite_schema m, pragma_table_info(m.name, 'main') c WHERE m.type = 'table'
    EXCEPT
    SELECT m.name, c.name, c.type, c."notnull", c.dflt_value, c.pk
    FROM v2.sqlite_schema m, pragma_table_info(m.name, 'v2') c WHERE m.type = 'table');
SELECT 'DIFF', 'schema', 'unexpected column', * FROM (
    SELECT m.name, c.name, c.type, c."notnull", c.dflt_value, c.pk
    FROM v2.sqlite_schema m, pragma_table_info(m.name, 'v2') c
    WHERE m.type = 'table' AND m.name IN (SELECT name FROM main.sqlite_schema)
    EXCEPT
    SELECT m.name, c.name, c.type, c."notnull", c.dflt_value, c.pk
    FROM main.sqlite_schema m, pragma_table_info(m.name, 'main') c WHERE m.type = 'table');
SELECT 'DIFF', 'schema', 'unexpected table', name FROM v2.sqlite_schema
WHERE type = 'table' AND name NOT LIKE 'ferry\_%' ESCAPE '\' AND name NOT LIKE 'sqlite\_%' ESCAPE '\'
  AND name NOT IN (SELECT name FROM main.sqlite_schema WHERE type = 'table');
SELECT 'DIFF', 'schema', 'missing index', * FROM (
    SELECT name, tbl_name FROM main.sqlite_schema WHERE type = 'index'
    EXCEPT SELECT name, tbl_name FROM v2.sqlite_schema WHERE type = 'index');
SELECT 'DIFF', 'foreign key', "table", rowid, parent FROM pragma_foreign_key_check(NULL, 'v2');
SQL
        compare items "id title category created_at slug" "$exp_items"
        compare item_pricing "item_id model price currency" "$exp_pricing"
        compare item_trials "item_id trials" "$exp_trials"
        compare events "id item_id kind occurred_at payload channel" "$exp_events"
        compare billing_infos "id item_id amount_cents billed_at invoice" "$exp_billing"
    } | sqlite3 -bail :memory: 2>&1
) || { printf '%s\n' "$report" >&2; echo "shop check: FAILED (sqlite3 error)" >&2; exit 1; }

if grep -q '^DIFF' <<<"$report"; then
    echo "shop check: FAILED, v2 differs from what v1 and the rules give:"
    grep '^DIFF' <<<"$report" | sed 's/^DIFF | /  /'
    exit 1
fi
counts=$(sed -n 's/^COUNT | \([a-z_]*\) | \([0-9]*\)$/\1 \2/p' <<<"$report" | paste -sd, - | sed 's/,/, /g')
echo "shop check: OK ($counts; events from id $cut)"
