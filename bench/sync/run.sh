#!/usr/bin/env bash
# bench/sync/run.sh [ITEMS]
#
# ferry sync (capture + snapshot + stream, docs/ONLINE.md), SQLite->SQLite and
# PostgreSQL->PostgreSQL side by side, on tests/sh/sync-lib.sh's schema with ITEMS (default
# 20000) items, under tests/sh/writer.py (the random application: small transactions of
# inserts, updates, deletes, key updates, upserts):
#   a. the writer flat out for BENCH_SECONDS (default 10) while a sync streams: the
#      application's write rate and ferry's mean apply rate (changes applied over the seconds), as
#      "ratio apply/write"; then how long `ferry sync --until-caught-up` takes to catch up
#   b. lag p50/p99 (last --json status line) with the writer asked for ~1,000/s (--rate BENCH_RATE, default 1400), and the rate
#      it reached
#   c. the capture's cost to the application: writer transactions/s on a source with the
#      capture installed (no sync running) over the same on an identical source without it
#   d. peak RSS of `ferry sync --until-caught-up` after 100k vs 500k changes made while no
#      sync ran (bulk UPDATEs of items, 100k rows each): flat is the goal
# Prints "ratio ..." lines; the same lines go to bench/out/sync.txt.
#
# Env: FERRY (default build/ferry; use a Release build), BENCH_TMPDIR, FERRY_BENCH_PG (a
# server whose role may create databases; default the dev server below; databases named
# ferry_bsync_* are created and dropped).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$here/../lib.sh"
# shellcheck source-path=SCRIPTDIR source=../../tests/sh/sync-lib.sh
. "$bench_root/tests/sh/sync-lib.sh"

items=${1:-20000}
secs=${BENCH_SECONDS:-10}
# writer.py sleeps 1/rate after each transaction, on top of the transaction itself: asking for
# 1400/s reaches about 1,000/s here; the rate reached is reported.
wrate_arg=${BENCH_RATE:-1400}
bench_need sqlite3 psql
bench_need_time
ferry=$(bench_ferry)
bench_pg_online
work=$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/ferry-sync.XXXXXX")
bench_online_cleanup_on_exit

# pg_source DB ITEMS: the writer's schema in PostgreSQL (as tests/sh/pg-cutover.sh).
pg_source() { # DB ITEMS
    bench_pg_fresh "$1"
    pgdbs+=("$1")
    bench_pgq "$1" "$(sync_pg_source_sql "$2")" >/dev/null
}
pg_target() { bench_pg_fresh "$1"; pgdbs+=("$1"); }

# setup ENGINE NAME ITEMS: a fresh source and target in $work/NAME, its plan; sets src, dst
# (URLs), wsrc (the writer's argument) and plan.
setup() {
    local d=$work/$2
    mkdir -p "$d"
    if [[ $1 == sqlite ]]; then
        sync_sqlite_source "$d/src.db" "$3"
        src=sqlite:$d/src.db dst=sqlite:$d/dst.db wsrc=$d/src.db
    else
        pg_source "ferry_bsync_$2_s" "$3"
        pg_target "ferry_bsync_$2_d"
        src=$bench_pg_base/ferry_bsync_$2_s dst=$bench_pg_base/ferry_bsync_$2_d wsrc=$src
    fi
    sync_plan "$d" "$src" "$dst"
    plan=$d/plan.yaml
}

# jfield FILE KEY: KEY's value in FILE's last --json line that has it.
jfield() { grep -o "\"$2\":[^,}]*" "$1" | tail -n 1 | cut -d: -f2 | tr -d '"'; }
ms() { date +%s%3N; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }'; }
writer() { "$PY" "$WRITER" "$@"; }

bench_result_open sync
bench_say "$(bench_env "$ferry")"
bench_say "# source: tests/sh/sync-lib.sh schema, items=$items; writer: tests/sh/writer.py; flat out ${secs}s"

for eng in sqlite postgres; do
    # a. flat out while a sync streams.
    setup "$eng" "${eng}_a" "$items"
    "$ferry" sync -q -p "$plan" --until-caught-up >/dev/null 2>"$work/a.err" || { cat "$work/a.err" >&2; bench_die "$eng: sync failed"; }
    "$ferry" sync -p "$plan" --json >"$work/a.json" 2>"$work/a.err" &
    spid=$!
    sleep 1
    n=$(writer "$eng" "$wsrc" --seconds "$secs" --seed 1)
    sleep 1
    kill -TERM "$spid" 2>/dev/null || true
    wait "$spid" || true
    wrate=$(awk -v n="$n" -v s="$secs" 'BEGIN { printf "%.0f", n / s }')
    # Status lines come every few seconds: the mean over the run is the changes applied
    # (including the second after the writer stopped) over the writer's seconds; the peak is the
    # highest apply_rate a status line reported. A transaction is 1-3 changes (mostly 1).
    applied=$(jfield "$work/a.json" changes_applied)
    arate=$(awk -v n="${applied:-0}" -v s="$secs" 'BEGIN { printf "%.0f", n / s }')
    peak=$(grep -o '"apply_rate":[0-9.]*' "$work/a.json" | cut -d: -f2 | sort -n | tail -n 1)
    t0=$(ms)
    "$ferry" sync -q -p "$plan" --until-caught-up >/dev/null 2>"$work/a.err" || { cat "$work/a.err" >&2; bench_die "$eng: catch-up failed"; }
    t1=$(ms)
    bench_say "$eng flat-out: writer ${wrate} txn/s (${n} in ${secs}s), ferry applied ${applied:-?} changes (mean ${arate}/s, peak apply_rate ${peak:-?}/s), lag at stop $(jfield "$work/a.json" lag_seconds)s, catch-up $((t1 - t0)) ms"
    bench_say "ratio $eng apply/write $(ratio "$arate" "$wrate") (changes applied per transaction written)"

    # b. lag at ~1,000 writes/s.
    "$ferry" sync -p "$plan" --json >"$work/b.json" 2>"$work/b.err" &
    spid=$!
    sleep 1
    n=$(writer "$eng" "$wsrc" --seconds 5 --rate "$wrate_arg" --seed 2)
    sleep 1
    kill -TERM "$spid" 2>/dev/null || true
    wait "$spid" || true
    bench_say "$eng at --rate $wrate_arg: writer reached $((n / 5)) txn/s; lag p50 $(jfield "$work/b.json" lag_p50) s, p99 $(jfield "$work/b.json" lag_p99) s"

    # c. the capture's cost: the captured source (a's, caught up, no sync running) vs a fresh one.
    "$ferry" sync -q -p "$plan" --until-caught-up >/dev/null 2>"$work/c.err" || { cat "$work/c.err" >&2; bench_die "$eng: sync failed"; }
    ncap=$(writer "$eng" "$wsrc" --seconds 3 --seed 3)
    capsrc=$wsrc
    setup "$eng" "${eng}_c" "$items"
    nraw=$(writer "$eng" "$wsrc" --seconds 3 --seed 3)
    bench_say "$eng capture cost: writer $((ncap / 3)) txn/s captured vs $((nraw / 3)) txn/s without"
    bench_say "ratio $eng captured/uncaptured writer throughput $(ratio "$ncap" "$nraw")"
    "$ferry" sync -q -p "$plan" --finish >/dev/null 2>&1 || true
    wsrc=$capsrc

    # d. peak RSS of the catch-up after 100k vs 500k changes.
    for k in 1 5; do
        setup "$eng" "${eng}_d$k" 100000
        "$ferry" sync -q -p "$plan" --until-caught-up >/dev/null 2>"$work/d.err" || { cat "$work/d.err" >&2; bench_die "$eng: sync failed"; }
        for ((i = 0; i < k; i++)); do
            if [[ $eng == sqlite ]]; then sqlite3 "$wsrc" "UPDATE items SET qty = qty + 1"
            else bench_pgq "${wsrc##*/}" "UPDATE items SET qty = qty + 1" >/dev/null; fi
        done
        r=$(bench_time "$work/d.log" "$ferry" sync -q -p "$plan" --until-caught-up) || { cat "$work/d.log" >&2; bench_die "$eng: catch-up of $((k * 100))k changes failed"; }
        rss[k]=${r#* }
        bench_say "$eng catch-up of $((k * 100))k changes: ${r% *} s, peak RSS ${rss[k]} KB"
        "$ferry" sync -q -p "$plan" --finish >/dev/null 2>&1 || true
    done
    bench_say "ratio $eng rss 500k/100k $(ratio "${rss[5]}" "${rss[1]}")"
    # a's source: finish its capture too before the databases go.
    "$ferry" sync -q -p "$work/${eng}_a/plan.yaml" --finish >/dev/null 2>&1 || true
done
