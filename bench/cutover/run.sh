#!/usr/bin/env bash
# bench/cutover/run.sh [--n N | --20]
#
# ferry cutover (block writes, drain, check, fence; docs/ONLINE.md) and ferry rollback: N
# (default 10; --20 for 20) cut-overs and N rollbacks, SQLite->SQLite and
# PostgreSQL->PostgreSQL side by side, each on a fresh small source (tests/sh/sync-lib.sh's
# schema, 2,000 items) and target, under tests/sh/writer.py at about 1,000 transactions/s
# (--rate BENCH_RATE, default 1400: writer.py sleeps 1/rate after each): `ferry sync
# --until-caught-up`, start the writer on the old version, `ferry cutover --json`; then the
# writer on the new version (writer.py --new), `ferry rollback --json`. Records each pause_ms.
# Reports pause p50, p99 (nearest rank: with N < 100, the max), max, and the writes lost,
# checked by tests/sh/sync-compare.py printing "equal" after each switch.
# Goals: SQLite p99 <= 50 ms, PostgreSQL p99 <= 300 ms.
# Prints "ratio ..." lines; the same lines go to bench/out/cutover.txt.
#
# Env: FERRY (default build/ferry; use a Release build), BENCH_TMPDIR, FERRY_BENCH_PG (a
# server whose role may create databases; default the dev server below; databases named
# ferry_bcut_* are created and dropped), BENCH_ENGINES (default "sqlite postgres").
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$here/../lib.sh"
# shellcheck source-path=SCRIPTDIR source=../../tests/sh/sync-lib.sh
. "$bench_root/tests/sh/sync-lib.sh"

n=10
case ${1:-} in
    "") ;;
    --20) n=20 ;;
    --n) n=${2:-}; [[ $n =~ ^[1-9][0-9]{0,3}$ ]] || { echo "usage: ${0##*/} [--n N | --20]" >&2; exit 2; } ;;
    *) echo "usage: ${0##*/} [--n N | --20]" >&2; exit 2 ;;
esac
bench_need sqlite3 psql
ferry=$(bench_ferry)
bench_pg_online
work=$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/ferry-cutover.XXXXXX")
bench_online_cleanup_on_exit

pg_source() { # DB
    bench_pg_fresh "$1"
    pgdbs+=("$1")
    bench_pgq "$1" "$(sync_pg_source_sql 2000)" >/dev/null
}

# pct P V...: the nearest-rank P-th percentile.
pct() { local p=$1; shift; printf '%s\n' "$@" | sort -n | awk -v p="$p" '{ v[NR] = $1 } END { r = int((p * NR + 99) / 100); if (r < 1) r = 1; print v[r] }'; }

# switch_once CMD DB SEED TAG WOUT [WRITER_ARGS]: the writer on DB at the bench's rate, then
# ferry CMD --json (cutover or rollback); sets p to its pause, adds the writer's transactions
# to wrote, counts a round that is not `equal` in lost. Uses eng, i, d, src, dst.
switch_once() {
    local cmd=$1 db=$2 seed=$3 tag=$4 wout=$5 wpid c
    shift 5
    "$PY" "$WRITER" "$eng" "$db" "$@" --seconds 30 --rate "${BENCH_RATE:-1400}" --seed "$seed" >"$d/$wout.out" 2>"$d/$wout.err" &
    wpid=$!
    sleep 1.5
    "$ferry" "$cmd" -p "$d/plan.yaml" --json >"$d/$tag.json" 2>"$d/$tag.err" ||
        { kill "$wpid" 2>/dev/null || true; wait "$wpid" || true; cat "$d/$tag.err" >&2; bench_die "$eng #$i: $cmd failed"; }
    # The fence stops the writer; kill it only if it somehow kept going.
    for _ in $(seq 50); do kill -0 "$wpid" 2>/dev/null || break; sleep 0.1; done
    kill "$wpid" 2>/dev/null || true
    wait "$wpid" || true
    p=$(grep -o '"pause_ms":[0-9.]*' "$d/$tag.json" | tail -n 1 | cut -d: -f2)
    [[ -n $p ]] || { cat "$d/$tag.json" >&2; bench_die "$eng #$i: no pause_ms in $cmd --json"; }
    # A pause past the goal: say where its time went.
    awk -v a="$p" -v g="$([[ $eng == postgres ]] && echo 300 || echo 50)" 'BEGIN { exit !(a > g) }' &&
        bench_say "$eng #$i $cmd past the goal: $(cat "$d/$tag.json")"
    wrote=$((wrote + $(head -n 1 "$d/$wout.out" 2>/dev/null || echo 0)))
    c=$(sync_compare "$src" "$dst" 2>&1 || true)
    [[ $c == equal ]] || { lost=$((lost + 1)); echo "$eng #$i $cmd: $c" >&2; }
}

bench_result_open cutover
bench_say "$(bench_env "$ferry")"
bench_say "# $n cut-overs and $n rollbacks per engine, each on a fresh source (2000 items, tests/sh/sync-lib.sh schema) under writer.py --rate ${BENCH_RATE:-1400} (about 1,000 transactions/s reached)"

for eng in ${BENCH_ENGINES:-sqlite postgres}; do
    pauses=() rpauses=() lost=0 wrote=0
    for ((i = 1; i <= n; i++)); do
        d=$work/$eng$i
        mkdir -p "$d"
        if [[ $eng == sqlite ]]; then
            sync_sqlite_source "$d/src.db" 2000
            src=sqlite:$d/src.db dst=sqlite:$d/dst.db wsrc=$d/src.db
        else
            pg_source "ferry_bcut_s$i"
            bench_pg_fresh "ferry_bcut_d$i"
            pgdbs+=("ferry_bcut_d$i")
            src=$bench_pg_base/ferry_bcut_s$i dst=$bench_pg_base/ferry_bcut_d$i wsrc=$src
        fi
        sync_plan "$d" "$src" "$dst"
        "$ferry" sync -q -p "$d/plan.yaml" --until-caught-up >/dev/null 2>"$d/sync.err" ||
            { cat "$d/sync.err" >&2; bench_die "$eng #$i: sync failed"; }
        switch_once cutover "$wsrc" "$i" co w
        pauses+=("$p")
        # The rollback, with the new version's application writing at the same rate.
        wdst=$dst
        [[ $eng == sqlite ]] && wdst=$d/dst.db
        switch_once rollback "$wdst" "$((i + 100))" rb w2 --new
        rpauses+=("$p")
        "$ferry" sync -q -p "$d/plan.yaml" --finish >/dev/null 2>&1 || true
    done
    bench_say "$eng rollback pause_ms: ${rpauses[*]}"
    bench_say "$eng rollback pause p50 $(pct 50 "${rpauses[@]}") ms, p99 $(pct 99 "${rpauses[@]}") ms, max $(bench_maxof "${rpauses[@]}") ms"
    bench_say "$eng pause_ms: ${pauses[*]}"
    bench_say "$eng pause p50 $(pct 50 "${pauses[@]}") ms, p99 $(pct 99 "${pauses[@]}") ms, max $(bench_maxof "${pauses[@]}") ms; writer transactions before the fences: $wrote"
    bench_say "$eng writes lost: $lost switches of $((2 * n)) not equal (sync-compare.py)"
    goal=50; [[ $eng == postgres ]] && goal=300
    bench_say "ratio $eng pause p99/goal($goal ms) $(awk -v a="$(pct 99 "${pauses[@]}")" -v b=$goal 'BEGIN { printf "%.2f", a / b }')"
    bench_say "ratio $eng rollback pause p99/goal($goal ms) $(awk -v a="$(pct 99 "${rpauses[@]}")" -v b=$goal 'BEGIN { printf "%.2f", a / b }')"
done
