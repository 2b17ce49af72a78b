#!/usr/bin/env bash
# demo.sh — the README's demo migration (examples/shop) end to end on a private copy, proven
# by the independent checker (sqlite3 only): the copy leaves the older events and the billing
# records waiting (later:), two records are fetched on demand, ferry backfill carries the rest,
# and the checker proves every row; then a fetch after the backfill, verify --full, and a rerun
# of the finished plan that changes nothing.
source "$(dirname "$0")/lib.sh"
src="${FERRY_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}"
cp -r "$src/examples/shop" "$T/shop"
rm -rf "$T/shop/out"
# 520,000 events: the cut key 500,001 leaves 20,000 to move now and 500,000 for later.
set +e
FERRY="$FERRY" bash "$T/shop/demo.sh" 3000 520000 > "$T/demo.out" 2>&1
code=$?
set -e
check "demo exits 0" "0" "$code"
check "demo's independent check passes, after the copy and after the backfill" "2" "$(grep -c '^shop check: OK' "$T/demo.out")"
check "demo prints the summaries of the copy and of the backfill" "2" "$(grep -c '^total ' "$T/demo.out")"
check "demo's ferry verify --full passes" "1" "$(grep -c '^verify: OK, 5 tables, .* rows compared (full)$' "$T/demo.out")"
check "demo's online part: the pause of the cut-over is printed" "1" "$(grep -c '^cut over: writes paused [0-9.]* ms' "$T/demo.out")"
check "demo's online part: the application was fenced by the switch" "1" "$(grep -c '^application: [0-9]* writes, then: ferry: this database was upgraded' "$T/demo.out")"
check "demo's online part: every write before the switch is in v2" "1" "$(grep -c ' 0 differ: every write' "$T/demo.out")"
check "demo's way back: v2's writes are in v1" "1" "$(grep -c '^v1 now holds: .*Renamed in v2.*Made in v2\|^v1 now holds: .*Made in v2.*Renamed in v2' "$T/demo.out")"
check "demo's rollback: its pause is printed" "1" "$(grep -c '^rolled back: writes paused [0-9.]* ms' "$T/demo.out")"

check "demo's copy says how many events wait" "1" "$(grep -c '^waiting: events: 500000 rows of catalog.events wait for ferry backfill' "$T/demo.out")"
check "demo's copy says the whole billing table waits" "1" "$(grep -c '^waiting: billing_infos: 52000 rows of catalog.billing_infos wait for ferry backfill' "$T/demo.out")"
check "after the copy, v2 holds no billing record" "1" "$(grep -c '^shop check: OK (.*, billing_infos 0; events from id 500001)' "$T/demo.out")"
check "demo fetches two billing records on demand" "1" "$(grep -c '^billing_infos: 2 loaded, 0 already there, 0 not found' "$T/demo.out")"
check "the fetched records went through the plan (cents)" "2" "$(grep -c '│ \(42\|4711\) *│ [0-9]* *│ INV-0000\(0042\|4711\) │' "$T/demo.out")"
check "demo's backfill carries the rest; the independent check proves every row" "1" \
	"$(grep -c '^shop check: OK (.*, events 520000, billing_infos 52000; events from id 1)' "$T/demo.out")"
check "the backfill carried the fetched records once" "52000 52000" \
	"$(sqlite3 -separator ' ' "$T/shop/out/v2/shop.db" "SELECT count(*), count(DISTINCT id) FROM billing_infos")"
check "a fetch after the backfill: already there" "events: 0 loaded, 2 already there, 0 not found" \
	"$("$FERRY" fetch -p "$T/shop/plan.yaml" events 7 500001 | sed 's/ (.*//')"
set +e
"$FERRY" verify --full --json -p "$T/shop/plan.yaml" > "$T/v-later.json" 2>/dev/null
vcode=$?
set -e
check "after the backfill, verify --full expects and finds every event" "0" "$vcode"
check "the older events and the billing records pass the independent check" "OK" "$(bash "$T/shop/check.sh" --after-backfill "$T/shop/out/v1" "$T/shop/out/v2/shop.db" | grep -o 'shop check: OK' | cut -d' ' -f3)"

before=$(sqlite3 "$T/shop/out/v2/shop.db" "SELECT count(*) FROM items")
again=$("$FERRY" copy --json -p "$T/shop/plan.yaml" | python3 -c 'import json,sys; print(json.load(sys.stdin)["already_complete"])')
check "the finished plan run again says so" "True" "$again"
check "and changes nothing" "$before" "$(sqlite3 "$T/shop/out/v2/shop.db" "SELECT count(*) FROM items")"
finish
