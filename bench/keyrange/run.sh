#!/usr/bin/env bash
# bench/keyrange/run.sh [EVENTS]
#
# What a `where` or `later:` on the integer key costs the source (docs/BENCHMARKS.md, "A
# `where` or `later:` on the key"): a PostgreSQL table of EVENTS events (default 2000000),
# copied into SQLite by two jobs that each select the upper half of the keys,
#   later   later: "id < EVENTS/2+1"   (the copy moves the rest; the rows that wait are counted)
#   where   where: "id >= EVENTS/2+1"
# and a SQLite -> SQLite copy of the same rows with the where, for its wall time. Counted by
# PostgreSQL itself, reset before each run (pg_stat_user_tables and pg_stat_user_indexes):
# seq_tup_read (rows of sequential scans), idx_tup_fetch (rows fetched through an index) and
# idx_tup_read (index entries read; planning's walk of the key is index only). ferry against
# BENCH_FERRY_BASE (another ferry binary, e.g. a build before a change) when given, rounds
# alternating, medians; prints "ratio ..." lines (rows read per row selected: 1.00 would be
# reading each selected row once and nothing else), also written to bench/out/keyrange.txt.
# Every run's target is checked: exactly the selected keys.
#
# Env: FERRY (default build/ferry; use a Release build), BENCH_FERRY_BASE, BENCH_ROUNDS
# (default 3), BENCH_TMPDIR, FERRY_BENCH_PG (see bench/lib.sh; without it a private server).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$here/../lib.sh"

events=${1:-2000000}
[[ $events =~ ^[1-9][0-9]{0,9}$ ]] || { echo "usage: ${0##*/} [EVENTS]" >&2; exit 2; }
rounds=${BENCH_ROUNDS:-3}
bench_need sqlite3 psql python3
bench_need_time
ferry=$(bench_ferry)
base=${BENCH_FERRY_BASE:-}
[[ -z $base || -x $base ]] || bench_die "BENCH_FERRY_BASE=$base is not an executable"
work=$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/ferry-keyrange.XXXXXX")
db=ferry_keyrange_src
cleanup() {
    bench_pgq postgres "DROP DATABASE IF EXISTS $db" > /dev/null 2>&1 || true
    bench_pg_stop
    rm -rf "$work"
}
trap cleanup EXIT
half=$((events / 2 + 1))
selected=$((events - half + 1))

bench_pg "$work"
bench_result_open keyrange
bench_say "$(bench_env "$ferry")"
bench_say "# source: PostgreSQL events, $events rows (VACUUM ANALYZE after the load); each job selects $selected rows (id >= $half)"

bench_pgq postgres "DROP DATABASE IF EXISTS $db" > /dev/null
bench_pgq postgres "CREATE DATABASE $db" > /dev/null
bench_pgq "$db" "CREATE TABLE events(id bigint PRIMARY KEY, item_id bigint NOT NULL, at timestamp NOT NULL, payload text);
    INSERT INTO events SELECT x, x % 10000 + 1, to_timestamp(1600000000 + x * 60) AT TIME ZONE 'UTC',
           '{\"kind\":\"view\",\"n\":' || x || '}' FROM generate_series(1, $events) x" > /dev/null
bench_pgq "$db" "VACUUM ANALYZE events" > /dev/null
sqlite3 "$work/src.db" "PRAGMA journal_mode = OFF; CREATE TABLE events(id INTEGER PRIMARY KEY, item_id INTEGER NOT NULL, at TEXT NOT NULL, payload TEXT);
    WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < $events)
    INSERT INTO events SELECT x, x % 10000 + 1, datetime(1600000000 + x * 60, 'unixepoch'), '{\"kind\":\"view\",\"n\":' || x || '}' FROM c" > /dev/null

# plan FILE SOURCE TARGET KEY COND
plan() { printf 'source: %s\ntarget: %s\ntables:\n  - table: events\n    %s: "%s"\n' "$2" "$3" "$4" "$5" > "$1"; }

# settle: a backend's counts reach the statistics when it exits.
settle() {
    local i
    for i in $(seq 200); do
        [[ $(bench_pgq postgres "SELECT count(*) FROM pg_stat_activity WHERE datname = '$db'") = 0 ]] && return 0
        sleep 0.1
    done
    bench_die "backends of $db still open"
}
reset_stats() {
    settle
    bench_pgq "$db" "SELECT count(pg_stat_reset_single_table_counters(oid)) FROM pg_class
        WHERE oid = 'events'::regclass OR oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = 'events'::regclass)" > /dev/null
    settle
}
# stats: "SEQ FETCH IDXREAD"
stats() {
    settle
    bench_pgq "$db" "SELECT t.seq_tup_read || ' ' || coalesce(t.idx_tup_fetch, 0) || ' ' ||
        (SELECT coalesce(sum(i.idx_tup_read), 0) FROM pg_stat_user_indexes i WHERE i.relid = t.relid)
        FROM pg_stat_user_tables t WHERE t.relid = 'events'::regclass"
}
# check TARGET: exactly the selected keys, once each.
check() {
    local got
    got=$(sqlite3 "$1" "SELECT count(*) || ' ' || count(DISTINCT id) || ' ' || min(id) || ' ' || max(id) FROM events")
    [[ $got = "$selected $selected $half $events" ]] || bench_die "$1: got rows $got, not $selected from $half to $events"
}

declare -A secs rd seqs fetch idxr chunks
# one TOOL BIN JOB ROUND
one() {
    local tool=$1 bin=$2 job=$3 r=$4 t out key cond src
    t=$work/$tool-$job-$r.db
    rm -f "$t"*
    case $job in
        later) key=later cond="id < $half" src="$bench_pg_base/$db" ;;
        where) key=where cond="id >= $half" src="$bench_pg_base/$db" ;;
        sqlite) key=where cond="id >= $half" src="$work/src.db" ;;
    esac
    plan "$work/p.yaml" "$src" "$t" "$key" "$cond"
    sync
    [[ $job = sqlite ]] || reset_stats
    out=$(bench_time "$work/log" "$bin" copy -q -p "$work/p.yaml") || bench_die "$tool $job: $(tail -n 3 "$work/log")"
    check "$t"
    local s=${out%% *} st=(0 0 0)
    [[ $job = sqlite ]] || read -r -a st <<< "$(stats)"
    local c
    c=$(sqlite3 "$t" "SELECT count(*) FROM ferry_progress")
    bench_say "keyrange tool=$tool job=$job round=$r seconds=$s seq_tup_read=${st[0]} idx_tup_fetch=${st[1]} idx_tup_read=${st[2]} read=$((st[0] + st[1] + st[2])) chunks=$c"
    secs[$tool-$job]+=" $s"
    rd[$tool-$job]+=" $((st[0] + st[1] + st[2]))"
    seqs[$tool-$job]+=" $((st[0] + st[1]))"
    chunks[$tool-$job]=$c
    rm -f "$t"*
}

tools=(ferry)
[[ -z $base ]] || tools+=(base)
for r in $(seq "$rounds"); do
    for job in later where sqlite; do
        for tool in "${tools[@]}"; do
            bin=$ferry
            [[ $tool = ferry ]] || bin=$base
            one "$tool" "$bin" "$job" "$r"
        done
    done
done
for job in later where sqlite; do
    for tool in "${tools[@]}"; do
        # shellcheck disable=SC2086 # the lists are numbers
        bench_say "median tool=$tool job=$job seconds=$(bench_median ${secs[$tool-$job]}) read=$(bench_median ${rd[$tool-$job]}) seq_tup_read+idx_tup_fetch=$(bench_median ${seqs[$tool-$job]}) chunks=${chunks[$tool-$job]}"
    done
    [[ $job = sqlite ]] && continue
    # shellcheck disable=SC2086
    bench_say "ratio read/selected job=$job ferry=$(python3 -c "print('%.2f' % ($(bench_median ${rd[ferry-$job]}) / $selected))")$([[ -z $base ]] || echo " base=$(python3 -c "print('%.2f' % ($(bench_median ${rd[base-$job]}) / $selected))")")"
done
if [[ -n $base ]]; then
    for job in later where sqlite; do
        # shellcheck disable=SC2086
        bench_say "ratio seconds ferry/base job=$job: $(python3 -c "print('%.2f' % ($(bench_median ${secs[ferry-$job]}) / $(bench_median ${secs[base-$job]})))")"
    done
fi
