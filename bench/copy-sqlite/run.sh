#!/usr/bin/env bash
# bench/copy-sqlite/run.sh [ROWS | both] [--memory]
#
# Copies one SQLite table of ROWS rows (default 5000000) three ways, in the same run, and
# compares wall time and peak RSS:
#   limit     the engine's own limit: sqlite3 runs INSERT INTO main.t SELECT * FROM s.t on an
#             ATTACHed source into a fresh table of the same definition (SQLite copies the
#             stored records without decoding them: its transfer optimization)
#   rowwise   the same statement with a WHERE clause, which turns the optimization off: SQLite
#             reads and writes row by row, as any client does (for reference)
#   ferry     ferry copy SRC TARGET: no plan, ferry creates the table
# and checks that all targets hold the source's rows, value for value (ATTACH + EXCEPT).
#
# --memory (or ROWS = both): also runs ferry on 1M and 5M rows and prints both peak RSS, which
# should be about the same: ferry streams in chunks.
#
# Env: FERRY (default build/ferry), FERRY_ARGS (extra ferry copy arguments, e.g. "--threads 4"),
# BENCH_TMPDIR (where the data goes, default $TMPDIR or /tmp; needs ~1 GB for 5M rows).
# Prints one "copy-sqlite tool=..." line per run and ends with "ratio ferry/limit: X.XX";
# the same lines go to bench/out/copy-sqlite.txt.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$here/../lib.sh"

usage() { echo "usage: ${0##*/} [ROWS | both] [--memory]" >&2; exit 2; }

rows=${ROWS:-5000000}
memory=0
for arg in "$@"; do
    case $arg in
        --memory) memory=1 ;;
        both) memory=1; rows=5000000 ;;
        -h|--help) usage ;;
        *) [[ $arg =~ ^[1-9][0-9]{0,9}$ ]] || usage; rows=$arg ;;
    esac
done
if [[ $rows == both ]]; then memory=1; rows=5000000; fi
[[ $rows =~ ^[1-9][0-9]{0,9}$ ]] || usage

bench_need sqlite3
bench_need_time
ferry=$(bench_ferry)
read -r -a ferry_args <<<"${FERRY_ARGS:-}"

base=${BENCH_TMPDIR:-${TMPDIR:-/tmp}}
work=$(mktemp -d "$base/ferry-bench-copy-sqlite.XXXXXX")
trap 'rm -rf "$work"' EXIT

table_sql=$bench_sqlite_table_sql
gen() { bench_sqlite_gen "$@"; }

# same A B: table t of database A and of database B hold the same rows, with the same storage
# classes (EXCEPT both ways); prints what differs otherwise.
same() {
    local r n1 n2 miss extra
    r=$(sqlite3 -bail "$1" <<SQL
ATTACH '$2' AS b;
SELECT (SELECT count(*) FROM main.t), (SELECT count(*) FROM b.t),
  (SELECT count(*) FROM (
     SELECT id, typeof(id), a, typeof(a), s, typeof(s), x, typeof(x) FROM main.t EXCEPT
     SELECT id, typeof(id), a, typeof(a), s, typeof(s), x, typeof(x) FROM b.t)),
  (SELECT count(*) FROM (
     SELECT id, typeof(id), a, typeof(a), s, typeof(s), x, typeof(x) FROM b.t EXCEPT
     SELECT id, typeof(id), a, typeof(a), s, typeof(s), x, typeof(x) FROM main.t));
SQL
    )
    IFS='|' read -r n1 n2 miss extra <<<"$r"
    if [[ $n1 != "$n2" || $miss != 0 || $extra != 0 ]]; then
        echo "bench: ${2##*/} differs from ${1##*/}: rows $n2 vs $n1, $miss missing, $extra extra" >&2
        return 1
    fi
}

# sums DB: count and sums over every column of t; a cheaper fingerprint for the sqlite3 copies.
sums() {
    sqlite3 -bail "$1" "SELECT count(*), sum(id), sum(a % 1000000007), total(a), total(x), count(x), sum(length(s)),
        group_concat(DISTINCT typeof(a) || typeof(s) || typeof(x)) FROM t"
}

# report TOOL ROWS "SECONDS RSS_KB"
report() {
    local secs=${3% *} rss=${3#* } rate
    rate=$(awk -v n="$2" -v s="$secs" 'BEGIN { printf "%d", (s > 0 ? n / s : 0) }')
    bench_say "copy-sqlite tool=$1 rows=$2 seconds=$secs max_rss_kb=$rss rows_per_s=$rate"
}

# run_ferry SRC TARGET LOG: prints "SECONDS MAX_RSS_KB"
run_ferry() {
    if ! bench_time "$3" "$ferry" copy "${ferry_args[@]}" "$1" "$2"; then
        echo "bench: ferry copy failed; its output:" >&2
        cat "$3" >&2
        return 1
    fi
}

bench_result_open copy-sqlite
bench_say "$(bench_env "$ferry")"
bench_say "# source: $table_sql rows=$rows; ferry args: ${FERRY_ARGS:-none}"

echo "generating $rows rows ..." >&2
gen "$work/src.db" "$rows"

# Each timed run starts with the page cache's dirty pages written out (sync), so one run does
# not pay for the writes of the one before. The three tools take turns, $reps rounds, and
# each reports its median time (this machine's disk is noisy) and its highest peak RSS.
reps=${BENCH_REPS:-3}
median() { bench_median "$@"; }
maxof() { bench_maxof "$@"; }
declare -a s_limit=() s_rowwise=() s_ferry=() m_limit=() m_rowwise=() m_ferry=()
for ((round = 1; round <= reps; round++)); do
    rm -f "$work"/limit.db* "$work"/rowwise.db* "$work"/ferry.db*
    # (a) the engine's own limit
    sqlite3 "$work/limit.db" "$table_sql"
    sync
    t=$(bench_time "$work/limit.log" sqlite3 -bail "$work/limit.db" \
        "ATTACH '$work/src.db' AS s; INSERT INTO main.t SELECT * FROM s.t;") ||
        { cat "$work/limit.log" >&2; bench_die "sqlite3 copy failed"; }
    s_limit+=("${t% *}"); m_limit+=("${t#* }")
    # (a') row by row: the WHERE clause (true for every row) disables the transfer optimization
    sqlite3 "$work/rowwise.db" "$table_sql"
    sync
    t=$(bench_time "$work/rowwise.log" sqlite3 -bail "$work/rowwise.db" \
        "ATTACH '$work/src.db' AS s; INSERT INTO main.t SELECT id, a, s, x FROM s.t WHERE id > 0;") ||
        { cat "$work/rowwise.log" >&2; bench_die "sqlite3 copy failed"; }
    s_rowwise+=("${t% *}"); m_rowwise+=("${t#* }")
    # (b) ferry, into a database that does not exist yet
    sync
    t=$(run_ferry "$work/src.db" "$work/ferry.db" "$work/ferry.log") || exit 1
    s_ferry+=("${t% *}"); m_ferry+=("${t#* }")
    echo "round $round: limit ${s_limit[-1]} s, rowwise ${s_rowwise[-1]} s, ferry ${s_ferry[-1]} s" >&2
done
t_limit="$(median "${s_limit[@]}") $(maxof "${m_limit[@]}")"
t_rowwise="$(median "${s_rowwise[@]}") $(maxof "${m_rowwise[@]}")"
t_ferry="$(median "${s_ferry[@]}") $(maxof "${m_ferry[@]}")"
bench_say "# $reps rounds; each figure is the median time and the highest peak RSS"

echo "verifying ..." >&2
want=$(sums "$work/src.db")
for db in limit rowwise; do
    [[ $(sums "$work/$db.db") == "$want" ]] || bench_die "$db.db differs from the source"
done
same "$work/limit.db" "$work/ferry.db"
bench_say "# verified: ferry's target = limit's (EXCEPT both ways, with storage classes); limit, rowwise = source (count, sums)"
bench_say "# ferry created: $(sqlite3 "$work/ferry.db" "SELECT sql FROM sqlite_schema WHERE name = 't'" | tr -s ' \n' '  ' | sed 's/ $//')"

report limit "$rows" "$t_limit"
report rowwise "$rows" "$t_rowwise"
report ferry "$rows" "$t_ferry"

if [[ $memory -eq 1 ]]; then
    declare -A rss=()
    for n in 1000000 5000000; do
        if [[ $n -eq $rows ]]; then
            rss[$n]=${t_ferry#* }
            continue
        fi
        echo "memory: generating $n rows ..." >&2
        rm -f "$work"/m.db "$work"/m-ferry.db
        gen "$work/m.db" "$n"
        sync
        t_m=$(run_ferry "$work/m.db" "$work/m-ferry.db" "$work/m-ferry.log") || exit 1
        same "$work/m.db" "$work/m-ferry.db"
        report ferry "$n" "$t_m"
        rss[$n]=${t_m#* }
        rm -f "$work"/m.db "$work"/m-ferry.db
    done
    bench_say "memory ferry max_rss_kb: 1M rows ${rss[1000000]}, 5M rows ${rss[5000000]} (5M/1M: $(
        awk -v a="${rss[5000000]}" -v b="${rss[1000000]}" 'BEGIN { printf "%.2f", a / b }'))"
fi

bench_say "ratio ferry/rowwise: $(awk -v f="${t_ferry% *}" -v l="${t_rowwise% *}" \
    'BEGIN { printf "%.2f", (l > 0 ? f / l : 0) }')"
bench_say "ratio ferry/limit: $(awk -v f="${t_ferry% *}" -v l="${t_limit% *}" \
    'BEGIN { printf "%.2f", (l > 0 ? f / l : 0) }')"
