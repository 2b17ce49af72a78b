#!/usr/bin/env bash
# demo.sh — the README's demo migration (examples/shop) end to end on a private copy, proven
# by the independent checker (sqlite3 only); then a few older events fetched on demand and the
# rest carried by ferry backfill (the plan's later:), and a rerun of the finished plan that
# changes nothing.
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
check "demo's independent check passes" "1" "$(grep -c '^shop check: OK' "$T/demo.out")"
check "demo prints the summary" "1" "$(grep -c '^total ' "$T/demo.out")"
check "demo's ferry verify --full passes" "1" "$(grep -c '^verify: OK, 4 tables, .* rows compared (full)$' "$T/demo.out")"
check "demo's online part: the pause of the cut-over is printed" "1" "$(grep -c '^cut over: writes paused [0-9.]* ms' "$T/demo.out")"
check "demo's online part: the application was fenced by the switch" "1" "$(grep -c '^application: [0-9]* writes, then: ferry: this database was upgraded' "$T/demo.out")"
check "demo's online part: every write before the switch is in v2" "1" "$(grep -c ' 0 differ: every write' "$T/demo.out")"
check "demo's way back: v2's writes are in v1" "1" "$(grep -c '^v1 now holds: .*Renamed in v2.*Made in v2\|^v1 now holds: .*Made in v2.*Renamed in v2' "$T/demo.out")"
check "demo's rollback: its pause is printed" "1" "$(grep -c '^rolled back: writes paused [0-9.]* ms' "$T/demo.out")"

check "demo's copy says how many events wait" "1" "$(grep -c '^waiting: events: 500000 rows of catalog.events wait for ferry backfill' "$T/demo.out")"
check "an older event fetched on demand" "events: 2 loaded, 1 already there, 0 not found" \
	"$("$FERRY" fetch -p "$T/shop/plan.yaml" events 7 8 500001 | sed 's/ (.*//')"
"$FERRY" backfill --quiet -p "$T/shop/plan.yaml" > /dev/null
check "the backfill carries the older events, the fetched ones once" "520000 520000" \
	"$(sqlite3 -separator ' ' "$T/shop/out/v2/shop.db" "SELECT count(*), count(DISTINCT id) FROM events")"
set +e
"$FERRY" verify --full --json -p "$T/shop/plan.yaml" > "$T/v-later.json" 2>/dev/null
vcode=$?
set -e
check "after the backfill, verify --full expects and finds every event" "0" "$vcode"
check "the older events pass the independent check" "OK" "$(bash "$T/shop/check.sh" --events-from 1 "$T/shop/out/v1" "$T/shop/out/v2/shop.db" | grep -o 'shop check: OK' | cut -d' ' -f3)"

before=$(sqlite3 "$T/shop/out/v2/shop.db" "SELECT count(*) FROM items")
again=$("$FERRY" copy --json -p "$T/shop/plan.yaml" | python3 -c 'import json,sys; print(json.load(sys.stdin)["already_complete"])')
check "the finished plan run again says so" "True" "$again"
check "and changes nothing" "$before" "$(sqlite3 "$T/shop/out/v2/shop.db" "SELECT count(*) FROM items")"
finish
