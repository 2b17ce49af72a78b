#!/usr/bin/env bash
# bench/later/run.sh [EVENTS]
#
# What `later:` saves (docs/LATER.md), SQLite -> SQLite: a store with EVENTS events (default
# 2000000; nine in ten old) and EVENTS/4 billing records beside a small items table.
#   write step  ferry copy with every row (the plan without later:) against ferry copy with
#               the old events and the whole billing table delayed: the downtime saved, as a
#               ratio (the Content Delivery Server seed reports about 5x)
#   backfill    ferry backfill of what waits: rows/s, against the copy's own rows/s
#   fetch       ferry fetch of one waiting key while a backfill runs (--rate), BENCH_FETCHES
#               (default 200) times: p50 and p99 of the library's time and of the command's
#               wall time (which adds the process start, the plan load and the connections)
# Prints "ratio ..." lines; the same lines go to bench/out/later.txt.
#
# Env: FERRY (default build/ferry; use a Release build), BENCH_TMPDIR (default $TMPDIR or /tmp).
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
work=$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/ferry-later.XXXXXX")
trap 'rm -rf "$work"' EXIT
cut=$((events / 10 * 9))
bills=$((events / 4))

bench_result_open later
bench_say "$(bench_env "$ferry")"
bench_say "# source: items 10000, events $events (ids below $cut wait), billing $bills (waits whole)"

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

t_full=$(bench_time "$work/full.log" "$ferry" copy -q -p "$work/full.yaml") || { cat "$work/full.log" >&2; bench_die "copy failed"; }
t_later=$(bench_time "$work/later.log" "$ferry" copy -q -p "$work/later.yaml") || { cat "$work/later.log" >&2; bench_die "copy failed"; }
s_full=${t_full% *}
s_later=${t_later% *}
all=$((10000 + events + bills))
bench_say "write-step full=${s_full}s later=${s_later}s rows_full=$all rows_now=$((10000 + events - cut + 1))"
bench_say "ratio write-step full/later $(python3 -c "print(f'{$s_full / max($s_later, 0.001):.2f}')")x (the downtime saved)"

t_bf=$(bench_time "$work/bf.log" "$ferry" backfill -q -p "$work/later.yaml") || { cat "$work/bf.log" >&2; bench_die "backfill failed"; }
s_bf=${t_bf% *}
waited=$((cut - 1 + bills))
bench_say "backfill ${s_bf}s rows=$waited rows/s=$(python3 -c "print(int($waited / max($s_bf, 0.001)))") copy_rows/s=$(python3 -c "print(int($all / max($s_full, 0.001)))")"
bench_say "ratio backfill/copy rows/s $(python3 -c "print(f'{($waited / max($s_bf, 0.001)) / ($all / max($s_full, 0.001)):.2f}')")"

# Fetch latency while a backfill runs: a fresh target, the backfill paced to run throughout.
rm -f "$work/later.db"*
"$ferry" copy -q -p "$work/later.yaml"
rate=$(python3 -c "print(max(1000, int($waited / max($s_bf, 0.001) / 4)))")
"$ferry" backfill -q -p "$work/later.yaml" --rate "$rate" > "$work/bf2.log" 2>&1 &
bf=$!
python3 - "$ferry" "$work" "$fetches" "$cut" > "$work/fetch.txt" <<'PY'
import json, random, subprocess, sys, time
ferry, work, n, cut = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rnd = random.Random(7)
lib, wall = [], []
for i in range(n):
    key = str(rnd.randrange(1, cut))
    t0 = time.monotonic()
    out = subprocess.run([ferry, "fetch", "--json", "-p", f"{work}/later.yaml", "events", key],
                         capture_output=True, text=True, check=True).stdout
    wall.append(time.monotonic() - t0)
    lib.append(json.loads(out)["seconds"])
def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p / 100 * len(v)))] * 1000
print(f"{pct(lib, 50):.2f} {pct(lib, 99):.2f} {pct(wall, 50):.2f} {pct(wall, 99):.2f}")
PY
still=0
kill -0 "$bf" 2>/dev/null && still=1
wait "$bf" || bench_die "the paced backfill failed: $(cat "$work/bf2.log")"
read -r l50 l99 w50 w99 < "$work/fetch.txt"
bench_say "fetch during-backfill=$([[ $still = 1 ]] && echo yes || echo no) rate=$rate n=$fetches lib_p50=${l50}ms lib_p99=${l99}ms wall_p50=${w50}ms wall_p99=${w99}ms"
check=$(sqlite3 "$work/later.db" "SELECT count(*) = count(DISTINCT id) AND count(*) = $events FROM events")
[[ $check = 1 ]] || bench_die "events after fetches and backfill: not each row once"
bench_say "ratio fetch p99/p50 (library) $(python3 -c "print(f'{$l99 / max($l50, 0.001):.2f}')")"
