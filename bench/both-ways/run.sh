#!/usr/bin/env bash
# bench/both-ways/run.sh [ITEMS]
#
# ferry sync --both-ways (docs/ONLINE.md), SQLite->SQLite and PostgreSQL->PostgreSQL side by
# side, on tests/sh/both-lib.sh's plan with ITEMS (default 20000) items:
#   a. a writer on each version asked for ~500 transactions/s (--rate BENCH_RATE, default
#      650: writer.py sleeps 1/rate after each transaction), on disjoint keys, for
#      BENCH_SECONDS (default 10): the rate each reached, ferry's changes applied over the
#      seconds against the transactions written ("ratio apply/write"), and lag p50/p99 each
#      way (the last --json status line: old->new lag_p*, new->old lag_back_p*)
#   b. what both ways cost the new version's application: its flat-out transactions/s
#      while the sync runs both ways, over the same with the sync stopped (capture installed)
# Prints "ratio ..." lines; the same lines go to bench/out/both-ways.txt.
#
# Env: FERRY (default build/ferry; use a Release build), BENCH_TMPDIR, FERRY_BENCH_PG (a
# server whose role may create databases; default the dev server below; databases named
# ferry_bboth_* are created and dropped).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$here/../lib.sh"
# shellcheck source-path=SCRIPTDIR source=../../tests/sh/sync-lib.sh
. "$bench_root/tests/sh/sync-lib.sh"
# shellcheck source-path=SCRIPTDIR source=../../tests/sh/both-lib.sh
. "$bench_root/tests/sh/both-lib.sh"

items=${1:-20000}
secs=${BENCH_SECONDS:-10}
rate=${BENCH_RATE:-650}
bench_need sqlite3 psql
ferry=$(bench_ferry)
bench_pg_online
work=$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/ferry-both.XXXXXX")
bench_online_cleanup_on_exit

jfield() { grep -o "\"$2\":[^,}]*" "$1" | tail -n 1 | cut -d: -f2 | tr -d '"'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }'; }
writer() { "$PY" "$WRITER" "$@"; }

# setup ENGINE: a fresh old version (and, for PostgreSQL, an empty new one) and the plan;
# sets old, new (URLs), wold, wnew (the writers' arguments), plan.
setup() {
    local d=$work/$1
    mkdir -p "$d"
    if [[ $1 == sqlite ]]; then
        sync_sqlite_source "$d/src.db" "$items"
        old=sqlite:$d/src.db new=sqlite:$d/dst.db wold=$d/src.db wnew=$d/dst.db
    else
        bench_pg_fresh ferry_bboth_old
        bench_pg_fresh ferry_bboth_new
        pgdbs+=(ferry_bboth_old ferry_bboth_new)
        bench_pgq ferry_bboth_old "$(sync_pg_source_sql "$items")" >/dev/null
        old=$bench_pg_base/ferry_bboth_old new=$bench_pg_base/ferry_bboth_new wold=$old wnew=$new
    fi
    both_plan "$d" "$old" "$new"
    plan=$d/plan.yaml
}

bench_result_open both-ways
bench_say "$(bench_env "$ferry")"
bench_say "# tests/sh/both-lib.sh plan, items=$items; writers: tests/sh/writer.py, --rate $rate per side, ${secs}s, disjoint keys"

for eng in sqlite postgres; do
    setup "$eng"
    "$ferry" sync -q -p "$plan" --both-ways --until-caught-up >/dev/null 2>"$work/s.err" || { cat "$work/s.err" >&2; bench_die "$eng: start failed"; }
    # a. ~500/s on each side.
    "$ferry" sync -p "$plan" --both-ways --json >"$work/a.json" 2>"$work/a.err" &
    spid=$!
    sleep 1
    writer "$eng" "$wold" --seconds "$secs" --rate "$rate" --seed 1 --ids 1:1000000 >"$work/w1.out" &
    w1=$!
    writer "$eng" "$wnew" --seconds "$secs" --rate "$rate" --seed 2 --new --only items --ids 2000000000000:2001000000000 >"$work/w2.out" &
    w2=$!
    wait "$w1" "$w2"
    sleep 1
    kill -INT "$spid" 2>/dev/null || true
    wait "$spid" || true
    n1=$(cat "$work/w1.out") n2=$(cat "$work/w2.out")
    applied=$(jfield "$work/a.json" changes_applied)
    bench_say "$eng both ways: old writer $((n1 / secs)) txn/s, new writer $((n2 / secs)) txn/s; ferry applied ${applied:-?} changes ($(awk -v n="${applied:-0}" -v s="$secs" 'BEGIN { printf "%.0f", n / s }')/s)"
    bench_say "$eng lag old->new p50 $(jfield "$work/a.json" lag_p50) s p99 $(jfield "$work/a.json" lag_p99) s; new->old p50 $(jfield "$work/a.json" lag_back_p50) s p99 $(jfield "$work/a.json" lag_back_p99) s"
    bench_say "ratio $eng apply/write $(ratio "${applied:-0}" "$((n1 + n2))") (changes applied per transaction written, both sides)"
    "$ferry" sync -q -p "$plan" --both-ways --until-caught-up >/dev/null 2>"$work/s.err" || { cat "$work/s.err" >&2; bench_die "$eng: catch-up failed"; }
    [[ $(both_compare "$old" "$new") == equal ]] || bench_die "$eng: the versions differ after the run"
    # b. the new version's application flat out, with and without the sync running.
    nstop=$(writer "$eng" "$wnew" --seconds 3 --seed 3 --new --only items --ids 2001000000000:2002000000000)
    "$ferry" sync -q -p "$plan" --both-ways >/dev/null 2>"$work/b.err" &
    spid=$!
    sleep 1
    nrun=$(writer "$eng" "$wnew" --seconds 3 --seed 4 --new --only items --ids 2002000000000:2003000000000)
    kill -INT "$spid" 2>/dev/null || true
    wait "$spid" || true
    bench_say "$eng new version's writer flat out: $((nrun / 3)) txn/s with both ways running, $((nstop / 3)) txn/s with the sync stopped"
    bench_say "ratio $eng writer with/without both ways $(ratio "$nrun" "$nstop")"
    "$ferry" sync -q -p "$plan" --finish >/dev/null 2>&1 || true
done
