#!/usr/bin/env bash
# bench/verify/run.sh [ROWS]
#
# ferry verify --full over ROWS (default 5000000) identical rows (bench_sqlite_gen's table t:
# bigint key, bigint, short text, double), in one run, against what reading both tables once
# costs:
#   sqlite-sqlite   ferry verify --full src.db dst.db
#                   read-once: sqlite3 reads every row of both (SELECT * to /dev/null)
#                   read-min: sqlite3 decodes every value of both without printing them
#                   (SELECT count(id), count(a), count(s), count(x)): the engine's own limit
#                   sqldiff --table t (Debian sqlite3-tools): SQLite's own comparison
#   sqlite-postgres ferry verify --full src.db postgresql://.../t
#                   read-once: sqlite3 reads the source, COPY TO STDOUT (psql) the target
#                   read-min: sqlite3 decodes the source without printing, COPY TO the target
# Each figure is the median of BENCH_REPS (default 3) rounds; peak RSS is the highest.
# Prints "ratio ..." lines; the same lines go to bench/out/verify.txt.
#
# Env: FERRY (default build/ferry; use a Release build), BENCH_TMPDIR (default $TMPDIR or
# /tmp; needs ~1.5 GB for 5M rows), FERRY_BENCH_PG (a server to use instead of a private one).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$here/../lib.sh"

rows=${1:-5000000}
[[ $rows =~ ^[1-9][0-9]{0,9}$ ]] || { echo "usage: ${0##*/} [ROWS]" >&2; exit 2; }
reps=${BENCH_REPS:-3}
bench_need sqlite3 sqldiff psql
bench_need_time
ferry=$(bench_ferry)
work=$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/ferry-verify.XXXXXX")
trap 'bench_pg_stop; rm -rf "$work"' EXIT

bench_result_open verify
bench_say "$(bench_env "$ferry")"
bench_say "# source: $bench_sqlite_table_sql rows=$rows; $reps rounds, median time, highest peak RSS"

echo "generating $rows rows ..." >&2
bench_sqlite_gen "$work/src.db" "$rows"
"$ferry" copy -q "$work/src.db" "$work/dst.db" >/dev/null
bench_pg "$work"
bench_pg_fresh bench_verify
pg="$bench_pg_base/bench_verify"
"$ferry" copy -q "$work/src.db" "$pg" >/dev/null

# timed NAME CMD...: one timed run, appended to the arrays s_NAME and m_NAME
declare -A secs=() rss=()
timed() {
    local name=$1 t
    shift
    sync
    t=$(bench_time "$work/$name.log" "$@") || { cat "$work/$name.log" >&2; bench_die "$name failed"; }
    secs[$name]+="${t% *} "
    rss[$name]+="${t#* } "
}
for ((round = 1; round <= reps; round++)); do
    timed read_ss bash -c "sqlite3 '$work/src.db' 'SELECT * FROM t' >/dev/null && sqlite3 '$work/dst.db' 'SELECT * FROM t' >/dev/null"
    timed readmin_ss bash -c "sqlite3 '$work/src.db' 'SELECT count(id), count(a), count(s), count(x) FROM t' >/dev/null && sqlite3 '$work/dst.db' 'SELECT count(id), count(a), count(s), count(x) FROM t' >/dev/null"
    timed ferry_ss "$ferry" verify -q --full "$work/src.db" "$work/dst.db"
    timed sqldiff sqldiff --table t "$work/src.db" "$work/dst.db"
    timed read_sp bash -c "sqlite3 '$work/src.db' 'SELECT * FROM t' >/dev/null && psql -X -q '$pg' -c 'COPY t TO STDOUT' >/dev/null"
    timed readmin_sp bash -c "sqlite3 '$work/src.db' 'SELECT count(id), count(a), count(s), count(x) FROM t' >/dev/null && psql -X -q '$pg' -c 'COPY t TO STDOUT' >/dev/null"
    timed ferry_sp "$ferry" verify -q --full "$work/src.db" "$pg"
    echo "round $round of $reps done" >&2
done
[[ ! -s $work/sqldiff.log ]] || bench_die "sqldiff reports differences: $(head -c 300 "$work/sqldiff.log")"
"$ferry" verify --full "$work/src.db" "$work/dst.db" >/dev/null || bench_die "ferry verify reports differences (sqlite)"
"$ferry" verify --full "$work/src.db" "$pg" >/dev/null || bench_die "ferry verify reports differences (postgres)"

# shellcheck disable=SC2086 # word splitting of the lists is wanted
med() { bench_median ${secs[$1]}; }
# shellcheck disable=SC2086
peak() { bench_maxof ${rss[$1]}; }
for n in read_ss readmin_ss ferry_ss sqldiff read_sp readmin_sp ferry_sp; do
    bench_say "verify tool=$n rows=$rows seconds=$(med $n) max_rss_kb=$(peak $n)"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
bench_say "ratio sqlite-sqlite ferry/read-once: $(ratio "$(med ferry_ss)" "$(med read_ss)") (target <= 2)"
bench_say "ratio sqlite-sqlite ferry/read-min: $(ratio "$(med ferry_ss)" "$(med readmin_ss)")"
bench_say "ratio sqlite-sqlite ferry/sqldiff: $(ratio "$(med ferry_ss)" "$(med sqldiff)")"
bench_say "ratio sqlite-postgres ferry/read-once: $(ratio "$(med ferry_sp)" "$(med read_sp)") (target <= 2)"
bench_say "ratio sqlite-postgres ferry/read-min: $(ratio "$(med ferry_sp)" "$(med readmin_sp)")"
