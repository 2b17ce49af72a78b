#!/usr/bin/env bash
# bench/join/run.sh [ROWS]
#
# One table of ROWS rows (default 5000000: bigint key, bigint, short text, double) copied from
# SQLite into PostgreSQL by
#   one     one ferry process:        ferry copy -j 1 --join src.db postgresql://.../db
#   joined  two ferry processes of the same run, started together, sharing its chunks
#           (claimed from the target with FOR UPDATE SKIP LOCKED): wall time to the last exit
# each process with one reader and one writer (-j 1), as two machines would each run one.
# Prints the median seconds of each and the ratio one/joined (> 1: joining is faster), and
# checks that every target holds the source's rows (count and sums of every column) and one
# ferry_history row counting all of them. On one machine both processes share its CPUs and
# the server's: the ratio is a floor for what two machines gain.
#
# The server: FERRY_BENCH_PG (a URL to a database whose role may create databases), or a
# private one. Env: FERRY (default build/ferry), BENCH_REPS (default 3), BENCH_TMPDIR.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$here/../lib.sh"

usage() { echo "usage: ${0##*/} [ROWS]" >&2; exit 2; }
rows=${ROWS:-5000000}
for arg in "$@"; do
    case $arg in
        -h|--help) usage ;;
        *) [[ $arg =~ ^[1-9][0-9]{0,9}$ ]] || usage; rows=$arg ;;
    esac
done

bench_need sqlite3 psql python3
ferry=$(bench_ferry)
reps=${BENCH_REPS:-3}
base=${BENCH_TMPDIR:-${TMPDIR:-/tmp}}
work=$(mktemp -d "$base/ferry-bench-join.XXXXXX")
cleanup() { bench_pg_stop; rm -rf "$work"; }
trap cleanup EXIT
bench_pg "$work" checkpoint_timeout=30min maintenance_work_mem=512MB
pgbase=$bench_pg_base
fingerprint() {
    bench_pgq "$1" "SELECT count(*), sum(id), sum(a), sum(length(s)), sum(x::numeric), count(x) FROM t"
}

bench_result_open join
bench_say "$(bench_env "$ferry") postgres=$(bench_pgq postgres 'SHOW server_version' | cut -d' ' -f1)"
bench_say "# source: t(id bigint key, a bigint, s text, x double) rows=$rows; every process -j 1"

echo "generating $rows rows ..." >&2
bench_sqlite_gen "$work/src.db" "$rows"
want=""
now() { python3 -c 'import time; print(time.monotonic())'; }
check() { # check DB: every row (count and sums equal to the first target's) and one ferry_history row counting them
    local got rec
    got=$(fingerprint "$1")
    [[ ${got%%|*} == "$rows" ]] || bench_die "$1 holds ${got%%|*} rows, not $rows"
    [[ -z $want ]] && want=$got
    [[ $got == "$want" ]] || bench_die "$1 holds $got, the first target $want"
    rec=$(bench_pgq "$1" "SELECT count(*) || ' ' || sum(rows_moved) FROM ferry_history WHERE kind = 'data'")
    [[ $rec == "1 $rows" ]] || bench_die "$1: ferry_history has $rec, not one row of $rows"
}
one=() joined=()
for ((round = 1; round <= reps; round++)); do
    bench_pg_fresh j_one
    sync
    t0=$(now)
    "$ferry" copy -q -j 1 --join "$work/src.db" "$pgbase/j_one" > "$work/one.log" 2>&1 || { cat "$work/one.log" >&2; bench_die "one process failed"; }
    t1=$(now)
    check j_one
    one+=("$(python3 -c "print(round($t1 - $t0, 2))")")

    bench_pg_fresh j_two
    sync
    t0=$(now)
    "$ferry" copy -q -j 1 --join "$work/src.db" "$pgbase/j_two" > "$work/a.log" 2>&1 &
    a=$!
    "$ferry" copy -q -j 1 --join "$work/src.db" "$pgbase/j_two" > "$work/b.log" 2>&1 &
    b=$!
    wait "$a" || { cat "$work/a.log" >&2; bench_die "joined process a failed"; }
    wait "$b" || { cat "$work/b.log" >&2; bench_die "joined process b failed"; }
    t1=$(now)
    check j_two
    joined+=("$(python3 -c "print(round($t1 - $t0, 2))")")
    shares=$(grep -ho 'committed [0-9]* chunks' "$work/a.log" "$work/b.log" | awk '{print $2}' | paste -sd/)
    echo "round $round: one ${one[-1]} s, joined ${joined[-1]} s (chunks per process $shares)" >&2
done
m1=$(bench_median "${one[@]}")
m2=$(bench_median "${joined[@]}")
bench_say "join one      rows=$rows seconds=$m1"
bench_say "join joined   rows=$rows seconds=$m2 processes=2"
bench_say "join ratio    one/joined=$(python3 -c "print(round($m1 / $m2, 2))")"
