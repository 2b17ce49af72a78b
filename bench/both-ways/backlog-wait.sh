#!/usr/bin/env bash
# bench/both-ways/backlog-wait.sh [ROWS]
#
# What an application on the new version waits while ferry sync --both-ways reads a large
# backlog of that version (docs/ONLINE.md, "Both versions live": the sync point reads the
# other direction's backlog before it takes the locks). SQLite old, PostgreSQL new, one
# table b; both ways started. Then:
#   alone:   the application's UPDATE of one row of b, in a loop for 3 s with no sync running
#            (the engine's own latency, the floor);
#   backlog: ROWS (default 160000) rows inserted on the new version, one update on the old,
#            `ferry sync --both-ways --until-caught-up` started, and the same loop run until
#            the old version's update arrives in the new one.
# Reports each loop's p50, p99 and max wait and the ratio of the backlog's max to the floor's.
# With BENCH_FERRY_BASE (another ferry binary, e.g. a build before the backlog was read
# ahead of the locks) the backlog round runs with it too, side by side.
# Prints "wait ..." lines; the same lines go to bench/out/both-backlog-wait.txt.
#
# Env: FERRY (default build/ferry; use a Release build), BENCH_FERRY_BASE, BENCH_TMPDIR,
# FERRY_BENCH_PG (a server whose role may create databases; default the dev server;
# databases named ferry_bwait_* are created and dropped).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$here/../lib.sh"

rows=${1:-160000}
[[ $rows =~ ^[1-9][0-9]{0,7}$ ]] || { echo "usage: ${0##*/} [ROWS]" >&2; exit 2; }
bench_need sqlite3 psql python3
ferry=$(bench_ferry)
bench_pg_online
work=$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/ferry-bwait.XXXXXX")
bench_online_cleanup_on_exit
# psycopg2 is Debian's (python3-psycopg2): its python3, not one earlier on PATH.
py=python3
[[ -x /usr/bin/python3 ]] && py=/usr/bin/python3
bench_result_open both-backlog-wait
bench_say "$(bench_env "$ferry")"

# app URL SECONDS UNTIL: the application's loop; UNTIL=1 ends when b.7 reads 'after the bulk'.
# Prints "p50 p99 max n" in milliseconds.
app() {
    "$py" - "$@" <<'PY'
import sys, time, psycopg2
url, seconds, until = sys.argv[1], float(sys.argv[2]), sys.argv[3] == "1"
con = psycopg2.connect(url, application_name="app")
con.autocommit = True
cur = con.cursor()
waits, end = [], time.time() + seconds
while time.time() < end:
    t = time.time()
    cur.execute("UPDATE b SET v = %s WHERE id = 8", ("app %d" % len(waits),))
    waits.append((time.time() - t) * 1000)
    if until:
        cur.execute("SELECT v FROM b WHERE id = 7")
        if cur.fetchone()[0] == "after the bulk":
            break
    time.sleep(0.01)
if until and time.time() >= end:
    sys.exit("the old version's update never arrived")
waits.sort()
pick = lambda q: waits[min(len(waits) - 1, int(q * len(waits)))]
print("%.1f %.1f %.1f %d" % (pick(0.5), pick(0.99), waits[-1], len(waits)))
PY
}

# round NAME FERRY: a fresh pair, both ways started, the floor then the backlog measured.
round() {
    local name=$1 f=$2 db=ferry_bwait_$1 d=$work/$1
    mkdir -p "$d"
    pgdbs+=("$db")
    bench_pg_fresh "$db"
    local url=$bench_pg_base/$db
    sqlite3 "$d/old.db" "CREATE TABLE b(id INTEGER PRIMARY KEY, v TEXT);
        WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 10)
        INSERT INTO b SELECT i, 'v' || i FROM s;"
    echo "CREATE TABLE b(id BIGINT PRIMARY KEY, v TEXT);" > "$d/v2.sql"
    cat > "$d/plan.yaml" <<YAML
source: sqlite:$d/old.db
target: $url
target_schema: $d/v2.sql
both_ways: { conflict: last_commit }
tables:
  - table: b
YAML
    "$f" sync -q -p "$d/plan.yaml" --both-ways --until-caught-up 2> "$d/s.err" || { cat "$d/s.err"; bench_die "$name: start"; }
    local floor
    floor=$(app "$url" 3 0)
    bench_pgq "$db" "INSERT INTO b SELECT i, 'bulk' FROM generate_series(100000, $((100000 + rows - 1))) i"
    sqlite3 "$d/old.db" "UPDATE b SET v = 'after the bulk' WHERE id = 7"
    "$f" sync -q -p "$d/plan.yaml" --both-ways --until-caught-up 2> "$d/k.err" &
    local sp=$! got
    got=$(app "$url" 120 1) || { kill $sp 2> /dev/null; cat "$d/k.err"; bench_die "$name: the application"; }
    wait $sp || { cat "$d/k.err"; bench_die "$name: the catch-up"; }
    "$f" sync -q -p "$d/plan.yaml" --finish 2> /dev/null || true
    read -r fp50 fp99 fmax fn <<< "$floor"
    read -r bp50 bp99 bmax bn <<< "$got"
    bench_say "$(awk -v n="$name" -v r="$rows" -v fp50="$fp50" -v fp99="$fp99" -v fmax="$fmax" -v fn="$fn" \
        -v bp50="$bp50" -v bp99="$bp99" -v bmax="$bmax" -v bn="$bn" 'BEGIN {
        printf "wait %s backlog=%d alone: p50=%sms p99=%sms max=%sms (%d updates); during the catch-up: p50=%sms p99=%sms max=%sms (%d updates); max ratio %.1f\n",
            n, r, fp50, fp99, fmax, fn, bp50, bp99, bmax, bn, bmax / (fmax > 0 ? fmax : 1) }')"
}

round ferry "$ferry"
if [[ -n ${BENCH_FERRY_BASE:-} ]]; then
    round base "$BENCH_FERRY_BASE"
fi
