#!/usr/bin/env bash
# later.sh — rows that wait (docs/LATER.md): later: through copy and export/import with
# verify clean, ferry fetch (loaded, already there, not found: exit 7), ferry backfill never
# overwriting what the application wrote, a kill -9 of the backfill then a resume, fetch and
# backfill racing on the same keys (each row once), and later: with a merge refused.
source "$(dirname "$0")/lib.sh"
SRC="${FERRY_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}"
FERRY="$(cd "$(dirname "$FERRY")" && pwd)/$(basename "$FERRY")"
cd "$T"

mk_old() { # mk_old DB: events (3000, ts = id), billing (500), customers (10)
	sqlite3 "$1" "CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT NOT NULL);
		WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 10)
		INSERT INTO customers SELECT x, 'c' || x FROM c;
		CREATE TABLE events(id INTEGER PRIMARY KEY, ts INTEGER, body TEXT);
		WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000)
		INSERT INTO events SELECT x, x, 'e' || x FROM c;
		CREATE TABLE billing(id INTEGER PRIMARY KEY, customer INTEGER, cents INTEGER);
		WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 500)
		INSERT INTO billing SELECT x, x % 10 + 1, x * 7 FROM c;"
}
plan() { # plan FILE TARGET
	cat > "$1" <<YAML
source: old.db
target: $2
label: lbl
tables:
  - table: events
    rename: event_log
    later: "ts < 2000"
  - table: billing
    later: true
YAML
}
q() { sqlite3 -separator ' ' "$@" | paste -sd' '; }
json_field() { python3 -c "import json,sys; d=json.load(open('$1')); print($2)"; }

mk_old old.db
plan plan.yaml new.db

# ---- copy: all but the rows that wait; the summary counts them; verify is clean ----------
"$FERRY" copy -q --json -p plan.yaml > copy.json
check "copy carries the rows that do not wait" "1001 0 10" \
	"$(q new.db 'SELECT (SELECT count(*) FROM event_log), (SELECT count(*) FROM billing), (SELECT count(*) FROM customers)')"
check "the summary says how many rows wait, per table" "1999 500 absent" \
	"$(json_field copy.json "' '.join(str({t['target']: t for t in d['tables']}[n].get('waiting', 'absent')) for n in ('event_log', 'billing', 'customers'))")"
check "no waiting row is counted as skipped" "0" "$(json_field copy.json "d['totals']['skipped']")"
set +e; "$FERRY" verify -q --full -p plan.yaml > /dev/null 2>&1; rc=$?; set -e
check "verify compares what was carried: clean" "0" "$rc"
"$FERRY" copy -p plan.yaml > text.out 2> /dev/null
grep -q "waiting: event_log: 1999 rows of source.events wait for ferry backfill" text.out &&
	ok "the text summary lists what waits" || fail "the text summary lists what waits: $(cat text.out)"

# ---- fetch -------------------------------------------------------------------------------
set +e; "$FERRY" fetch -p plan.yaml --json event_log 5 6 5 7 2500 99999 > f1.json 2> f1.err; rc=$?; set -e
check "fetch: a key not in the source exits 7" "7" "$rc"
check "fetch: 3 loaded, 1 already carried, 1 missing, duplicates once" "5 3 1 1" \
	"$(json_field f1.json "'%d %d %d %d' % (d['requested'], d['loaded'], d['present'], d['missing'])")"
grep -q 'key 99999 of table "event_log" not found' f1.err && ok "fetch names the missing key" || fail "fetch names the missing key: $(cat f1.err)"
check "fetched rows are there, through the plan" "3 e5" \
	"$(q new.db 'SELECT count(*) FROM event_log WHERE id IN (5,6,7); SELECT body FROM event_log WHERE id = 5')"
set +e; "$FERRY" fetch -p plan.yaml --json events 5 > f2.json; rc=$?; set -e
check "fetch again (by the source name): a no-op" "0 0 1" "$rc $(json_field f2.json "'%d %d' % (d['loaded'], d['present'])")"
set +e; "$FERRY" fetch -p plan.yaml customers 1 > /dev/null 2> f3.err; rc=$?; set -e
check "fetch from a table without later: is refused" "2" "$rc"
"$FERRY" fetch -q -p plan.yaml billing 42
check "fetch from a later: true table" "1 294" "$(q new.db 'SELECT count(*), max(cents) FROM billing')"

# ---- the application writes the new version before the backfill reaches its rows ----------
# id 10: fetched, then updated; id 20: inserted by the application with a key that waits;
# id 6: fetched then deleted in the new version only (no way back runs: the copy's record of
# the application's deletes keeps it deleted); id 7: deleted in both; id 8: fetched, deleted,
# then inserted again by the application (its row stays).
"$FERRY" fetch -q -p plan.yaml event_log 10 8
sqlite3 new.db "UPDATE event_log SET body = 'app' WHERE id = 10;
	INSERT INTO event_log VALUES (20, 20, 'app-new'); DELETE FROM event_log WHERE id IN (6, 7, 8);
	INSERT INTO event_log VALUES (8, 8, 'app-again')"
sqlite3 old.db "DELETE FROM events WHERE id = 7"
check "the application's deletes are recorded (not ferry's)" "6 7 8" \
	"$(q new.db "SELECT k FROM ferry_later_deleted WHERE tbl = 'event_log' ORDER BY k")"
set +e; "$FERRY" fetch -p plan.yaml event_log 6 > f6.out 2>&1; rc=$?; set -e
check "a fetch does not bring back a row the application deleted: not found (exit 7)" "7 0" \
	"$rc $(q new.db 'SELECT count(*) FROM event_log WHERE id = 6')"

# ---- backfill, killed after its second chunk, then resumed ----------------------------------
set +e
FERRY_FAULT=kill-after-commit:2 "$FERRY" backfill -q -p plan.yaml --chunk-rows 300 -j 1 > /dev/null 2>&1
rc=$?
set -e
[ "$rc" -ne 0 ] && ok "the backfill was killed mid-run (exit $rc)" || fail "the backfill was not killed"
partial=$(sqlite3 new.db 'SELECT count(*) FROM event_log')
[ "$partial" -gt 1003 ] && [ "$partial" -lt 2999 ] && ok "part of the backfill committed ($partial rows)" ||
	fail "part of the backfill committed: $partial rows"
# Verify half-way: the rows that wait and arrived are compared (10 and 20 are the application's),
# those not yet carried are neither missing nor extra; sampled, full, and in spilled rounds.
vj --full -p plan.yaml > v.out
check "verify half-way through the backfill: no row missing or extra" \
	"exit=5 event_log m0 e0 d3 [different:{\"id\": 10}/body=\"e10\">\"app\",different:{\"id\": 20}/body=\"e20\">\"app-new\",different:{\"id\": 8}/body=\"e8\">\"app-again\"]" \
	"$(cat v.out)"
check "verify half-way: the expected count is what arrived" "$partial $partial False" \
	"$(json_field v.json "' '.join(str(x) for x in [[t for t in d['tables'] if t['table'] == 'event_log'][0][k] for k in ('rows_expected', 'rows_target', 'counts_differ')])")"
FERRY_VERIFY_ROUND_ROWS=50 vj --full -p plan.yaml > v2.out
check "verify half-way, in spilled rounds: the same" "$(cat v.out)" "$(cat v2.out)"
sqlite3 new.db "DELETE FROM event_log WHERE id = 2500; UPDATE event_log SET body = 'x' WHERE id = (SELECT min(id) FROM event_log WHERE ts < 2000 AND id > 20)"
vj --full -p plan.yaml > v3.out
check "verify half-way still finds a missing row and a changed arrived one" "m1 e0 d4" \
	"$(cut -d' ' -f3-5 v3.out)"
sqlite3 new.db "INSERT INTO event_log SELECT id, ts, body FROM (SELECT 2500 AS id, 2500 AS ts, 'e2500' AS body);
	UPDATE event_log SET body = 'e' || id WHERE body = 'x'"
vj -p plan.yaml > /dev/null
check "verify half-way, sampled: nothing missing or extra, the count agrees" "0 0 False" \
	"$(json_field v.json "' '.join(str(x) for x in [[t for t in d['tables'] if t['table'] == 'event_log'][0][k] for k in ('missing', 'extra', 'counts_differ')])")"
"$FERRY" backfill -q --json -p plan.yaml --chunk-rows 300 > bf.json
check "resumed: every row once" "2998 2998 500 500" \
	"$(q new.db 'SELECT count(*), count(DISTINCT id) FROM event_log; SELECT count(*), count(DISTINCT id) FROM billing')"
check "the application's update and inserts are kept" "app-again app app-new" \
	"$(q new.db "SELECT body FROM event_log WHERE id IN (8, 10, 20) ORDER BY id")"
check "rows deleted in both versions, or in the new one only, stay deleted" "0 0" \
	"$(q new.db 'SELECT count(*) FROM event_log WHERE id = 7; SELECT count(*) FROM event_log WHERE id = 6')"
check "every other row is the source's" "0" \
	"$(q new.db "ATTACH 'old.db' AS o; SELECT count(*) FROM (SELECT id, ts, body FROM o.events WHERE id NOT IN (6, 8, 10, 20) EXCEPT SELECT id, ts, body FROM event_log)")"
check "the finished backfill removed the record of deletes and its triggers" "0 0" \
	"$(q new.db "SELECT count(*) FROM sqlite_schema WHERE name = 'ferry_later_deleted'; SELECT count(*) FROM sqlite_schema WHERE type = 'trigger' AND name GLOB 'ferry_later_*'")"
set +e; "$FERRY" fetch -p plan.yaml event_log 6 > /dev/null 2>&1; rc=$?; set -e
check "a fetch after the backfill loads nothing: the deleted row stays deleted (exit 7)" "7 0" \
	"$rc $(q new.db 'SELECT count(*) FROM event_log WHERE id = 6')"
"$FERRY" backfill -q --json -p plan.yaml > bf2.json
check "a finished backfill changes nothing" "True" "$(json_field bf2.json "d['already_complete']")"
"$FERRY" copy -q -p plan.yaml > /dev/null
check "a rerun of the finished copy does not record deletes again" "0" \
	"$(q new.db "SELECT count(*) FROM sqlite_schema WHERE name = 'ferry_later_deleted' OR name GLOB 'ferry_later_*'")"
vj --full -p plan.yaml > v.out
check "verify after the backfill expects every row: the application's rows differ, its delete is missing" \
	"exit=5 event_log m1 e0 d3 counts [different:{\"id\": 10}/body=\"e10\">\"app\",different:{\"id\": 20}/body=\"e20\">\"app-new\",different:{\"id\": 8}/body=\"e8\">\"app-again\",missing:{\"id\": 6}]" \
	"$(cat v.out)"

# ---- fetch and backfill racing on the same keys: each row once ----------------------------
rm -f old.db new.db* lbl -r; mk_old old.db; plan plan.yaml new.db
"$FERRY" copy -q -p plan.yaml
"$FERRY" backfill -q -p plan.yaml --rate 4000 --chunk-rows 200 > /dev/null 2> race.err &
bf=$!
racefail=0
for k in $(seq 100 97 1999); do
	"$FERRY" fetch -q -p plan.yaml event_log "$k" $((k + 1)) 2>> race.err || racefail=1
done
wait "$bf" || racefail=1
check "racing fetches and backfill all succeeded" "0" "$racefail"
[ "$racefail" = 0 ] || cat race.err >&2
check "racing: every row once" "3000 3000 500" \
	"$(q new.db 'SELECT count(*), count(DISTINCT id) FROM event_log; SELECT count(*) FROM billing')"
set +e; "$FERRY" verify -q --full -p plan.yaml > /dev/null 2>&1; rc=$?; set -e
check "racing: verify --full is clean" "0" "$rc"

# ---- export / import: the label holds what does not wait; the backfill carries the rest ----
rm -rf lbl new.db*
"$FERRY" export -q -p plan.yaml
"$FERRY" import -q -p plan.yaml
check "export/import carries the rows that do not wait" "1001 0" \
	"$(q new.db 'SELECT count(*) FROM event_log; SELECT count(*) FROM billing')"
set +e; "$FERRY" verify -q --full -p plan.yaml > /dev/null 2>&1; rc=$?; set -e
check "export/import: verify is clean" "0" "$rc"
"$FERRY" backfill -q -p plan.yaml
check "backfill after an import" "3000 500" \
	"$(q new.db 'SELECT count(*) FROM event_log; SELECT count(*) FROM billing')"
set +e; "$FERRY" verify -q --full -p plan.yaml > /dev/null 2>&1; rc=$?; set -e
check "export/import + backfill: verify is clean" "0" "$rc"

# ---- sync: the stream carries only rows that do not wait; the way back; then the backfill --
mkdir sync && cd sync
sqlite3 old.db "CREATE TABLE events(id INTEGER PRIMARY KEY, ts INTEGER, body TEXT);
	WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000)
	INSERT INTO events SELECT x, x, 'e' || x FROM c;"
printf 'source: old.db\ntarget: new.db\ntables:\n  - table: events\n    later: "ts < 2000"\n' > plan.yaml
"$FERRY" sync -q -p plan.yaml --until-caught-up 2> sync.err || { cat sync.err >&2; fail "sync"; }
check "sync: the snapshot leaves the rows that wait" "1001" "$(q new.db 'SELECT count(*) FROM events')"
# A new row carried, a new row that waits, a row updated into the wait, one out of it.
sqlite3 old.db "INSERT INTO events VALUES (5001, 5001, 'n'), (5002, 1, 'w');
	UPDATE events SET ts = 10 WHERE id = 2500; UPDATE events SET ts = 3000 WHERE id = 50;"
"$FERRY" sync -q -p plan.yaml --until-caught-up 2> sync.err || { cat sync.err >&2; fail "sync 2"; }
check "sync: the stream carries what does not wait, and removes a row updated into the wait" "1002 1 0 0 1" \
	"$(q new.db 'SELECT count(*), sum(id = 5001), sum(id = 5002), sum(id = 2500), sum(id = 50) FROM events')"
"$FERRY" cutover -q --max-pause 30000 -p plan.yaml 2> co.err || { cat co.err >&2; fail "cutover"; }
sqlite3 new.db "DELETE FROM events WHERE id = 3000; UPDATE events SET body = 'app' WHERE id = 2999"
"$FERRY" sync -q -p plan.yaml --until-caught-up 2> back.err || { cat back.err >&2; fail "the way back"; }
check "the way back carries the new version's delete and update" "0 app" \
	"$(q old.db 'SELECT count(*) FROM events WHERE id = 3000; SELECT body FROM events WHERE id = 2999')"
"$FERRY" backfill -q -p plan.yaml
check "after the switch, the backfill carries what waits" "3001" "$(q new.db 'SELECT count(*) FROM events')"
set +e; "$FERRY" verify -q --full -p plan.yaml > /dev/null 2>&1; rc=$?; set -e
check "sync + cut-over + backfill: verify --full is clean" "0" "$rc"
cd "$T"

# ---- refusals ---------------------------------------------------------------------------
cat > merge.yaml <<'YAML'
source: old.db
target: m.db
tables:
  - table: events
    rename: t
    later: "ts < 10"
    columns: { ts: { from: ts, conflict: max } }
  - table: billing
    rename: t
    columns: { ts: { from: cents, conflict: max } }
YAML
set +e; "$FERRY" copy -q -p merge.yaml > /dev/null 2> merge.err; rc=$?; set -e
check "later: with a merge is refused" "2" "$rc"
grep -q 'later: cannot delay rows of target table "t", which is a merge' merge.err &&
	ok "the refusal says why" || fail "the refusal says why: $(cat merge.err)"
[ ! -e m.db ] && ok "nothing was created" || fail "m.db was created"
rm -rf new.db*
set +e; "$FERRY" backfill -q -p plan.yaml > /dev/null 2> early.err; rc=$?; set -e
check "a backfill before the copy is refused" "2" "$rc"
grep -q 'target table "event_log" does not exist: the rows that wait are carried after the copy' early.err &&
	ok "and says to run the copy first" || fail "and says to run the copy first: $(cat early.err)"
[ ! -e new.db ] && ok "the refused backfill left no target behind" || fail "the refused backfill left new.db"
printf 'source: old.db\ntarget: n.db\n' > none.yaml
set +e; "$FERRY" backfill -q -p none.yaml 2> none.err; rc=$?; set -e
check "backfill of a plan that delays nothing: exit 2" "2" "$rc"
printf 'source: old.db\ntarget: n.db\ntables:\n  - table: events\n    later: [1]\n' > bad.yaml
set +e; "$FERRY" copy -q -p bad.yaml 2> bad.err; rc=$?; set -e
check "a later: that is neither true nor a condition: exit 2" "2" "$rc"
grep -q 'bad.yaml:5:12: expected true or an SQL condition for "later"' bad.err &&
	ok "its message points at it" || fail "its message points at it: $(cat bad.err)"
# ---- the C example of docs/LATER.md, built with pkg-config against the installed library ----
build="$(dirname "$FERRY")"
cmake --install "$build" --prefix "$T/prefix" > /dev/null
pc=$(find "$T/prefix" -name ferry.pc | head -n 1)
python3 - "$SRC/docs/LATER.md" > fetch.c <<'PY'
import re, sys
print(re.search(r"```c\n(.*?)```", open(sys.argv[1]).read(), re.S).group(1))
PY
san=""
if nm "$T/prefix"/lib*/libferry.a 2> /dev/null | grep -c __asan > /dev/null; then san="-fsanitize=address,undefined"; fi
# shellcheck disable=SC2046
if PKG_CONFIG_PATH="$(dirname "$pc")" cc -std=c11 -pedantic -Wall -Wextra -Werror $san -o fetch fetch.c \
	$(PKG_CONFIG_PATH="$(dirname "$pc")" pkg-config --cflags --libs --static ferry); then
	ok "the docs' C example builds with pkg-config"
	rm -f new.db*; "$FERRY" copy -q -p plan.yaml
	check "the docs' C example loads a row" "1 loaded, 0 already there, 0 not found" "$(./fetch plan.yaml event_log 5)"
	set +e; ./fetch plan.yaml event_log 5 99999 > c.out; rc=$?; set -e
	check "the docs' C example: present and not found" "7 0 loaded, 1 already there, 1 not found" "$rc $(cat c.out)"
else
	fail "the docs' C example does not build"
fi
finish
