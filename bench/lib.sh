# bench/lib.sh: helpers shared by the benchmarks in bench/*/run.sh. Source it:
#   . "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
# shellcheck shell=bash

# The repository root and bench/out, from this file's location.
bench_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench_out=$bench_root/bench/out

bench_die() { echo "bench: $*" >&2; exit 1; }

# bench_need CMD...: every command must be on PATH.
bench_need() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null || bench_die "$c not found"
    done
}

# bench_ferry: prints the ferry binary to use ($FERRY, default build/ferry), or dies.
bench_ferry() {
    local f=${FERRY:-$bench_root/build/ferry}
    [[ -x $f ]] || bench_die "no ferry at $f; build it first (cmake -S . -B build && cmake --build build) or set FERRY"
    printf '%s\n' "$f"
}

# bench_need_time: GNU time (/usr/bin/time, Debian/Ubuntu package "time") measures wall time
# and peak RSS; the shell keyword does not.
bench_need_time() {
    if ! [[ -x /usr/bin/time ]] || ! /usr/bin/time -f '%e %M' true >/dev/null 2>&1; then
        bench_die "/usr/bin/time (GNU time) is missing; install it (apt-get install time)"
    fi
}

# bench_time LOG CMD...: runs CMD with its output in LOG; prints "SECONDS MAX_RSS_KB" and
# returns CMD's exit code.
bench_time() {
    local log=$1 tf rc=0
    shift
    tf=$(mktemp)
    /usr/bin/time -f '%e %M' -o "$tf" "$@" >"$log" 2>&1 || rc=$?
    # GNU time writes "Command exited with non-zero status N" before its line on failure.
    tail -n 1 "$tf"
    rm -f "$tf"
    return "$rc"
}

# bench_result_open NAME: start bench/out/NAME.txt (overwritten); bench_say then prints a line
# and appends it there.
bench_result_open() {
    mkdir -p "$bench_out"
    bench_result_file=$bench_out/$1.txt
    : >"$bench_result_file"
}
bench_say() {
    printf '%s\n' "$*"
    if [[ -n ${bench_result_file:-} ]]; then printf '%s\n' "$*" >>"$bench_result_file"; fi
}

# bench_env FERRY: one line describing where the numbers come from.
bench_env() {
    local ver rev
    ver=$("$1" --version 2>/dev/null | head -n 1) || ver=
    rev=$(git -C "$bench_root" rev-parse --short HEAD 2>/dev/null) || rev=
    ver=${ver//[[:space:]]/_}
    printf 'env date=%s host=%s cpus=%s sqlite=%s ferry=%s commit=%s\n' \
        "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(uname -n)" "$(nproc 2>/dev/null || echo '?')" \
        "$(sqlite3 --version | cut -d' ' -f1)" "${ver:-unknown}" "${rev:-none}"
}

# ---- the SQLite source of the copy and verify benchmarks ----

bench_sqlite_table_sql='CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER, s TEXT, x REAL);'

# bench_sqlite_gen FILE N: the source table t with N rows. id: bigint key; a: bigint
# (negative too); s: text of ~11 characters; x: double, NULL in every 97th row.
bench_sqlite_gen() {
    sqlite3 -bail "$1" >/dev/null <<SQL
PRAGMA journal_mode = OFF;
PRAGMA synchronous = OFF;
$bench_sqlite_table_sql
WITH RECURSIVE seq(id) AS (SELECT 1 UNION ALL SELECT id + 1 FROM seq WHERE id < $2)
INSERT INTO t (id, a, s, x)
SELECT id,
       (id * 2654435761 % 4294967291) * 1000003 - 2000000000000000,
       'k' || (id * 2654435761 % 4294967291),
       CASE WHEN id % 97 = 0 THEN NULL ELSE (id * 7919 % 1000003) / 7.0 END
FROM seq;
SQL
}

# bench_median N...: the median; bench_maxof N...: the largest.
bench_median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
bench_maxof() { printf '%s\n' "$@" | sort -n | tail -n 1; }

# ---- PostgreSQL (bench/copy-postgres, bench/label/postgres.sh) ----
# Not tests/pg/pg.sh: that server runs with fsync=off and its own pg_hba, and owns the EXIT trap.

bench_pg_bin=""
bench_pg_dir=""
bench_pg_base=""
bench_as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# bench_pg DIR [SETTING...]: the benchmark's PostgreSQL server; sets bench_pg_base, its URL
# without a database. FERRY_BENCH_PG names one (a URL to a database whose role may create
# databases); without it a private server is started: initdb into DIR/pgdata, a free port on
# 127.0.0.1, the socket in DIR, shared_buffers=1GB, max_wal_size=16GB and each SETTING
# ("name=value"). Call bench_pg_stop from the script's EXIT trap, before DIR is removed.
bench_pg() {
    local dir=$1 opts s port
    shift
    if [[ -n ${FERRY_BENCH_PG:-} ]]; then
        bench_pg_base=${FERRY_BENCH_PG%/*}
        return 0
    fi
    # shellcheck disable=SC2012 # the paths are plain; sort -V picks the newest major version
    bench_pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [[ -n $bench_pg_bin ]] || bench_die "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin"
    bench_need python3
    # As root the server runs as user postgres, which must reach DIR (its socket lives there).
    chmod 755 "$dir"
    chown postgres "$dir" 2>/dev/null || true
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    opts="-c listen_addresses=127.0.0.1 -p $port -k $dir -c shared_buffers=1GB -c max_wal_size=16GB"
    for s in "$@"; do opts+=" -c $s"; done
    bench_pg_dir=$dir
    (cd / && bench_as_pg "$bench_pg_bin/initdb" -D "$dir/pgdata" -A trust -U postgres >/dev/null)
    (cd / && bench_as_pg "$bench_pg_bin/pg_ctl" -D "$dir/pgdata" -l "$dir/pg.log" -w -o "$opts" start >/dev/null)
    bench_pg_base="postgresql://postgres@127.0.0.1:$port"
}

# bench_pg_stop: stops the private server bench_pg started, if any.
bench_pg_stop() {
    [[ -n $bench_pg_dir ]] || return 0
    (cd / && bench_as_pg "$bench_pg_bin/pg_ctl" -D "$bench_pg_dir/pgdata" -m fast -w stop >/dev/null 2>&1) || true
    bench_pg_dir=""
}

# bench_pg_online: the online benchmarks' server (bench/sync, bench/cutover, bench/both-ways):
# sets bench_pg_base from FERRY_BENCH_PG, or the dev server (wal_level=logical) on port 55440.
bench_pg_online() {
    bench_pg_base=${FERRY_BENCH_PG:-postgresql://postgres@127.0.0.1:55440/postgres}
    bench_pg_base=${bench_pg_base%/*}
}

# bench_pgq DB SQL: psql against database DB of the server (rows unaligned, '|' between columns).
bench_pgq() { psql -X -qAt -v ON_ERROR_STOP=1 "$bench_pg_base/$1" -c "$2"; }

# bench_pg_fresh DB: drops database DB if it exists and creates it empty.
bench_pg_fresh() {
    bench_pgq postgres "DROP DATABASE IF EXISTS $1" >/dev/null 2>&1
    bench_pgq postgres "CREATE DATABASE $1" >/dev/null
}

# bench_online_cleanup_on_exit: on exit, drop every PostgreSQL database named in the array
# pgdbs (their inactive replication slots first) and remove $work (bench/sync, bench/cutover).
pgdbs=()
bench_online_cleanup_on_exit() {
    _bench_online_cleanup() {
        local d
        for d in "${pgdbs[@]}"; do
            bench_pgq postgres "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
                                WHERE database = '$d' AND NOT active" >/dev/null 2>&1 || true
            bench_pgq postgres "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1 || true
        done
        rm -rf "$work"
    }
    trap _bench_online_cleanup EXIT
}
