#!/usr/bin/env bash
# bench/later/run.sh [EVENTS]
#
# What `later:` saves (docs/LATER.md), on each target engine: a store with EVENTS events
# (default 2000000; nine in ten old) and EVENTS/4 billing records beside a small items table,
# SQLite -> SQLite, then PostgreSQL -> PostgreSQL (skipped without psql).
#   write step  ferry copy with every row (the plan without later:) against ferry copy with
#               the old events and the whole billing table delayed: the downtime saved, as a
#               ratio (the Content Delivery Server seed reports about 5x)
#   backfill    ferry backfill of what waits: rows/s, against the copy's own rows/s; with
#               BENCH_FERRY_BASE (another ferry binary, e.g. a build before a change) the same
#               backfill by it too, on the same target reset to the copy's state: the gain
#   fetch       ferry fetch of one waiting key while a backfill runs (--rate), BENCH_FETCHES
#               (default 200) times: p50 and p99 of the library's time and of the command's
#               wall time (which adds the process start, the plan load and the connections);
#               first the same through a kept ferry_fetcher (bench/later/fetcher.c), as an
#               application that fetches per request does
# Prints "ratio ..." lines; the same lines go to bench/out/later.txt.
#
# Env: FERRY (default build/ferry; use a Release build), BENCH_FERRY_BASE, BENCH_TMPDIR
# (default $TMPDIR or /tmp), FERRY_BENCH_PG (a URL to a database whose role may create
# databases; without it a private server is started, see bench/lib.sh).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$here/../lib.sh"

events=${1:-2000000}
[[ $events =~ ^[1-9][0-9]{0,9}$ ]] || { echo "usage: ${0##*/} [EVENTS]" >&2; exit 2; }
fetches=${BENCH_FETCHES:-200}
bench_need sqlite3 python3
bench_need_time
ferry=$(bench_ferry)
base=${BENCH_FERRY_BASE:-}
work=$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/ferry-later.XXXXXX")
pgdbs=()
cleanup() {
    local d
    for d in "${pgdbs[@]}"; do bench_pgq postgres "DROP DATABASE IF EXISTS $d" > /dev/null 2>&1 || true; done
    bench_pg_stop
    rm -rf "$work"
}
trap cleanup EXIT
cut=$((events / 10 * 9))
bills=$((events / 4))

bench_result_open later
bench_say "$(bench_env "$ferry")"
bench_say "# source: items 10000, events $events (ids below $cut wait), billing $bills (waits whole)"

# The fetcher (a kept ferry_fetcher), built against the library beside the ferry binary.
lib=$(dirname "$ferry")/libferry.a
if [[ -f $lib ]] && cc -O2 -I "$bench_root/include" "$here/fetcher.c" "$lib" -lsqlite3 -lyaml -lxxhash -lzstd \
    -ljansson -lnettle -lm -ldl -lpthread -o "$work/fetcher" 2> "$work/fetcher.log"; then :; else
    echo "bench: the fetcher did not build; only the command is timed ($(tail -n 1 "$work/fetcher.log" 2>/dev/null))" >&2
fi

cat > "$work/fetch.py" <<'PY'
import json, random, subprocess, sys, time
ferry, plan, n, cut = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rnd = random.Random(7)
lib, wall = [], []
for i in range(n):
    key = str(rnd.randrange(1, cut))
    t0 = time.monotonic()
    out = subprocess.run([ferry, "fetch", "--json", "-p", plan, "events", key],
                         capture_output=True, text=True, check=True).stdout
    wall.append(time.monotonic() - t0)
    lib.append(json.loads(out)["seconds"])
def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p / 100 * len(v)))] * 1000
print(f"{pct(lib, 50):.2f} {pct(lib, 99):.2f} {pct(wall, 50):.2f} {pct(wall, 99):.2f}")
PY

echo "generating ..." >&2
sqlite3 "$work/src.db" "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
	CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT NOT NULL);
	WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 10000)
	INSERT INTO items SELECT x, 'item ' || x FROM c;
	CREATE TABLE events(id INTEGER PRIMARY KEY, item_id INTEGER NOT NULL, at TEXT NOT NULL, payload TEXT);
	WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < $events)
	INSERT INTO events SELECT x, x % 10000 + 1, datetime(1600000000 + x * 60, 'unixepoch'),
	       '{\"kind\":\"view\",\"n\":' || x || '}' FROM c;
	CREATE TABLE billing(id INTEGER PRIMARY KEY, item_id INTEGER NOT NULL, cents INTEGER, note TEXT);
	WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < $bills)
	INSERT INTO billing SELECT x, x % 10000 + 1, x * 13 % 100000, 'invoice ' || x FROM c;" > /dev/null
printf 'source: src.db\ntarget: full.db\n' > "$work/full.yaml"
cat > "$work/later.yaml" <<YAML
source: src.db
target: later.db
tables:
  - table: events
    later: "id < $cut"
  - table: billing
    later: true
YAML

# measure ENGINE: the three measures with $work/full.yaml and $work/later.yaml; reset_later
# (a function) brings later.yaml's target back to an empty database, events_once checks
# that each event is in it once.
measure() {
    local eng=$1 t_full t_later s_full s_later all t_bf s_bf waited rate bf still t_base s_base
    # l50 l99 w50 w99 stay set after the call (the PostgreSQL connect ratio reads w50)
    reset_full
    reset_later
    t_full=$(bench_time "$work/full.log" "$ferry" copy -q -p "$work/full.yaml") || { cat "$work/full.log" >&2; bench_die "copy failed"; }
    t_later=$(bench_time "$work/later.log" "$ferry" copy -q -p "$work/later.yaml") || { cat "$work/later.log" >&2; bench_die "copy failed"; }
    s_full=${t_full% *}
    s_later=${t_later% *}
    all=$((10000 + events + bills))
    bench_say "$eng write-step full=${s_full}s later=${s_later}s rows_full=$all rows_now=$((10000 + events - cut + 1))"
    bench_say "ratio $eng write-step full/later $(python3 -c "print(f'{$s_full / max($s_later, 0.001):.2f}')")x (the downtime saved)"

    waited=$((cut - 1 + bills))
    if [[ -n $base ]]; then
        # The baseline first, on the copy just made; then the target again as the copy left it.
        t_base=$(bench_time "$work/base.log" "$base" backfill -q -p "$work/later.yaml") || { cat "$work/base.log" >&2; bench_die "baseline backfill failed"; }
        s_base=${t_base% *}
        reset_later
        "$ferry" copy -q -p "$work/later.yaml"
    fi
    t_bf=$(bench_time "$work/bf.log" "$ferry" backfill -q -p "$work/later.yaml") || { cat "$work/bf.log" >&2; bench_die "backfill failed"; }
    s_bf=${t_bf% *}
    bench_say "$eng backfill ${s_bf}s rows=$waited rows/s=$(python3 -c "print(int($waited / max($s_bf, 0.001)))") copy_rows/s=$(python3 -c "print(int($all / max($s_full, 0.001)))")"
    bench_say "ratio $eng backfill/copy rows/s $(python3 -c "print(f'{($waited / max($s_bf, 0.001)) / ($all / max($s_full, 0.001)):.2f}')")"
    if [[ -n $base ]]; then
        bench_say "$eng backfill-base ${s_base}s rows/s=$(python3 -c "print(int($waited / max($s_base, 0.001)))") ($base)"
        bench_say "ratio $eng backfill this/base rows/s $(python3 -c "print(f'{max($s_base, 0.001) / max($s_bf, 0.001):.2f}')")x"
    fi

    # Fetch latency while a backfill runs: a fresh target, the backfill paced to run throughout.
    reset_later
    "$ferry" copy -q -p "$work/later.yaml"
    rate=$(python3 -c "print(max(1000, int($waited / max($s_bf, 0.001) / 4)))")
    "$ferry" backfill -q -p "$work/later.yaml" --rate "$rate" > "$work/bf2.log" 2>&1 &
    bf=$!
    # First through a kept fetcher (bench/later/fetcher.c: connections and resolution paid
    # once, as an application holds them), then through the command.
    fk=""
    if [[ -x $work/fetcher ]]; then
        fk=$("$work/fetcher" "$work/later.yaml" events "$fetches" "$cut") || bench_die "$eng: the fetcher failed"
    fi
    python3 "$work/fetch.py" "$ferry" "$work/later.yaml" "$fetches" "$cut" > "$work/fetch.txt"
    still=0
    kill -0 "$bf" 2>/dev/null && still=1
    wait "$bf" || bench_die "the paced backfill failed: $(cat "$work/bf2.log")"
    read -r l50 l99 w50 w99 < "$work/fetch.txt"
    if [[ -n $fk ]]; then
        bench_say "$eng fetcher during-backfill=$([[ $still = 1 ]] && echo yes || echo no) n=$fetches p50=${fk% *}ms p99=${fk#* }ms (ferry_fetcher_fetch, connections kept)"
    fi
    bench_say "$eng fetch during-backfill=$([[ $still = 1 ]] && echo yes || echo no) rate=$rate n=$fetches lib_p50=${l50}ms lib_p99=${l99}ms wall_p50=${w50}ms wall_p99=${w99}ms"
    [[ $(events_once) = 1 ]] || bench_die "$eng: events after fetches and backfill: not each row once"
    bench_say "ratio $eng fetch p99/p50 (library) $(python3 -c "print(f'{$l99 / max($l50, 0.001):.2f}')")"
}

reset_full() { rm -f "$work/full.db"*; }
reset_later() { rm -f "$work/later.db"*; }
events_once() { sqlite3 "$work/later.db" "SELECT count(*) = count(DISTINCT id) AND count(*) = $events FROM events"; }
measure sqlite

# ---- PostgreSQL -> PostgreSQL: the same tables, generated in the server ----------------------
if ! command -v psql > /dev/null; then
    bench_say "# postgresql: skipped (no psql)"
    exit 0
fi
bench_pg "$work"
bench_say "# postgresql $(bench_pgq postgres 'SHOW server_version' | cut -d' ' -f1) at ${bench_pg_base%%@*}@..."
pgdbs=(ferry_later_src ferry_later_full ferry_later_dst)
bench_pg_fresh ferry_later_src
bench_pgq ferry_later_src "CREATE TABLE items(id bigint PRIMARY KEY, name text NOT NULL);
    INSERT INTO items SELECT x, 'item ' || x FROM generate_series(1, 10000) x;
    CREATE TABLE events(id bigint PRIMARY KEY, item_id bigint NOT NULL, at timestamp NOT NULL, payload text);
    INSERT INTO events SELECT x, x % 10000 + 1, to_timestamp(1600000000 + x * 60) AT TIME ZONE 'UTC',
           '{\"kind\":\"view\",\"n\":' || x || '}' FROM generate_series(1, $events) x;
    CREATE TABLE billing(id bigint PRIMARY KEY, item_id bigint NOT NULL, cents bigint, note text);
    INSERT INTO billing SELECT x, x % 10000 + 1, x * 13 % 100000, 'invoice ' || x FROM generate_series(1, $bills) x;" > /dev/null
bench_pgq ferry_later_src "VACUUM ANALYZE" > /dev/null
printf 'source: %s\ntarget: %s\n' "$bench_pg_base/ferry_later_src" "$bench_pg_base/ferry_later_full" > "$work/full.yaml"
cat > "$work/later.yaml" <<YAML
source: $bench_pg_base/ferry_later_src
target: $bench_pg_base/ferry_later_dst
tables:
  - table: events
    later: "id < $cut"
  - table: billing
    later: true
YAML
reset_full() { bench_pg_fresh ferry_later_full; }
reset_later() { bench_pg_fresh ferry_later_dst; }
events_once() { bench_pgq ferry_later_dst "SELECT (count(*) = count(DISTINCT id) AND count(*) = $events)::int FROM events"; }
measure postgresql
# The floor of a fetch that connects each time: one connection and one query, by psql.
python3 - "$bench_pg_base/ferry_later_dst" > "$work/connect.txt" <<'PY'
import subprocess, sys, time
v = []
for i in range(50):
    t0 = time.monotonic()
    subprocess.run(["psql", "-X", "-qAt", sys.argv[1], "-c", "SELECT 1"], capture_output=True, check=True)
    v.append(time.monotonic() - t0)
v.sort()
print(f"{v[len(v) // 2] * 1000:.2f}")
PY
read -r c50 < "$work/connect.txt"
bench_say "postgresql connect psql_select1_p50=${c50}ms (a process, a connection, one query)"
bench_say "ratio postgresql fetch wall p50 / psql p50 $(python3 -c "print(f'{$w50 / max($c50, 0.001):.2f}')")"
