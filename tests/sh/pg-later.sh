#!/usr/bin/env bash
# pg-later.sh — rows that wait with PostgreSQL at both ends (docs/LATER.md): later: through
# copy with verify clean, a fetch of a composite key, four fetchers racing the backfill on the
# same keys (each row once), a kill -9 of the backfill then a resume, and the application's
# rows left as they are.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../pg/pg.sh"
cd "$T"
pg_newdb src
pg_newdb dst
pgq "$src" "CREATE TABLE ev(id bigint PRIMARY KEY, ts int NOT NULL, body text);
	INSERT INTO ev SELECT x, x, 'e' || x FROM generate_series(1, 20000) x;
	CREATE TABLE bill(a int, b text, cents int, PRIMARY KEY (a, b));
	INSERT INTO bill SELECT x, 'k' || x, x * 3 FROM generate_series(1, 2000) x;" > /dev/null
cat > plan.yaml <<YAML
source: $(pg_url "$src")
target: $(pg_url "$dst")
tables:
  - table: ev
    later: "ts < 15000"
  - table: bill
    rename: billing
    later: true
YAML
json_field() { python3 -c "import json,sys; d=json.load(open('$1')); print($2)"; }

"$FERRY" copy -q --json -p plan.yaml > copy.json
check "copy carries what does not wait" "5001 0" "$(pgq "$dst" "SELECT (SELECT count(*) FROM ev), (SELECT count(*) FROM billing)" | tr '|' ' ')"
check "the summary counts what waits" "14999 2000" \
	"$(json_field copy.json "' '.join(str({t['target']: t for t in d['tables']}[n]['waiting']) for n in ('ev', 'billing'))")"
set +e; "$FERRY" verify -q --full -p plan.yaml > /dev/null 2>&1; rc=$?; set -e
check "verify compares what was carried" "0" "$rc"

set +e; "$FERRY" fetch -p plan.yaml --json billing 7 k7 8 k8 9 nope > f.json 2> f.err; rc=$?; set -e
check "fetch of a composite key: two loaded, one not found (exit 7)" "7 2 0 1" \
	"$rc $(json_field f.json "'%d %d %d' % (d['loaded'], d['present'], d['missing'])")"
check "the fetched rows went through the plan's rename" "21 24" "$(pgq "$dst" "SELECT cents FROM billing ORDER BY a" | paste -sd' ')"

# The application writes the new version: a key that waits, inserted; a fetched row, updated;
# one fetched and deleted (it must stay deleted: no way back runs); one fetched, deleted and
# inserted again (its row stays); a billing row fetched and deleted by key of two columns.
"$FERRY" fetch -q -p plan.yaml ev 100 300 301
pgq "$dst" "INSERT INTO ev VALUES (200, 200, 'app-new'); UPDATE ev SET body = 'app' WHERE id = 100;
	DELETE FROM ev WHERE id IN (300, 301); INSERT INTO ev VALUES (301, 301, 'app-again');
	DELETE FROM billing WHERE a = 7" > /dev/null
check "the application's deletes are recorded" "billing:(7,k7) ev:(300) ev:(301)" \
	"$(pgq "$dst" "SELECT tbl || ':' || k FROM ferry_later_deleted ORDER BY 1" | paste -sd' ')"
set +e; "$FERRY" fetch -q -p plan.yaml ev 300 2> /dev/null; rc=$?; set -e
check "a fetch does not bring back a row the application deleted (exit 7)" "7 0" "$rc $(pgq "$dst" "SELECT count(*) FROM ev WHERE id = 300")"

# Backfill killed after its third chunk, then resumed while four fetchers race it.
set +e
FERRY_FAULT=kill-after-commit:3 "$FERRY" backfill -q -p plan.yaml --chunk-rows 1000 -j 1 > /dev/null 2>&1
check "the backfill was killed mid-run" "137" "$?"
set -e
# Verify half-way: the rows that wait and arrived are compared, the others are not missing.
partial=$(pgq "$dst" "SELECT count(*) FROM ev")
vj --full -p plan.yaml > v.out
check "verify half-way through the backfill: only the application's rows differ" \
	"exit=5 ev m0 e0 d3 [different:{\"id\": 100}/body=\"e100\">\"app\",different:{\"id\": 200}/body=\"e200\">\"app-new\",different:{\"id\": 301}/body=\"e301\">\"app-again\"]" \
	"$(cat v.out)"
check "verify half-way: the expected count is what arrived" "$partial $partial False" \
	"$(json_field v.json "' '.join(str(x) for x in [[t for t in d['tables'] if t['table'] == 'ev'][0][k] for k in ('rows_expected', 'rows_target', 'counts_differ')])")"
"$FERRY" backfill -q -p plan.yaml --chunk-rows 1000 --rate 40000 > /dev/null 2> bf.err &
bf=$!
racefail=0
for w in 1 2 3 4; do
	( for k in $(seq $((w * 7)) 331 14999); do "$FERRY" fetch -q -p plan.yaml ev "$k" $((k + 1)) || exit 1; done ) 2>> race.err &
done
for job in $(jobs -p); do [ "$job" = "$bf" ] || wait "$job" || racefail=1; done
wait "$bf" || racefail=1
check "fetchers and the resumed backfill all succeeded" "0" "$racefail"
[ "$racefail" = 0 ] || cat race.err bf.err >&2
check "every row once, the deleted ones aside" "19999 19999 1999" \
	"$(pgq "$dst" "SELECT count(*), count(DISTINCT id) FROM ev" | tr '|' ' ') $(pgq "$dst" "SELECT count(*) FROM billing")"
check "the application's rows are kept, its deletes too" "app app-new app-again 0 0" \
	"$(pgq "$dst" "SELECT body FROM ev WHERE id IN (100, 200, 301) ORDER BY id" | paste -sd' ') $(pgq "$dst" "SELECT count(*) FROM ev WHERE id = 300") $(pgq "$dst" "SELECT count(*) FROM billing WHERE a = 7")"
check "the finished backfill removed the record and its triggers" " 0" \
	"$(pgq "$dst" "SELECT to_regclass('ferry_later_deleted')") $(pgq "$dst" "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'ferry_later%'")"
set +e; "$FERRY" verify -q --full -p plan.yaml > v.out 2>&1; rc=$?; set -e
check "verify after the backfill: the application's three rows differ" "5 3" "$rc $(grep -c '^ev: different' v.out)"

# A batch the table refuses goes row by row: exactly the refused row is rejected.
pgq "$src" "CREATE TABLE chk(id int PRIMARY KEY, v int); INSERT INTO chk SELECT x, x FROM generate_series(1, 3000) x" > /dev/null
printf 'source: %s\ntarget: %s\nothers: skip\ntables:\n  - table: chk\n    later: "id > 10"\n' "$(pg_url "$src")" "$(pg_url "$dst")" > chk.yaml
"$FERRY" copy -q -p chk.yaml
pgq "$dst" "ALTER TABLE chk ADD CONSTRAINT no1234 CHECK (v <> 1234) NOT VALID" > /dev/null
# A second plan into the same target (its table dl, used below) is recorded too.
pgq "$src" "CREATE TABLE dl(id int PRIMARY KEY, v text); INSERT INTO dl SELECT x, 'v' || x FROM generate_series(1, 500) x" > /dev/null
printf 'source: %s\ntarget: %s\nothers: skip\ntables:\n  - table: dl\n    later: true\n' "$(pg_url "$src")" "$(pg_url "$dst")" > dl.yaml
"$FERRY" copy -q -p dl.yaml
set +e; "$FERRY" backfill -q --json -p chk.yaml > chk.json 2> chk.err; rc=$?; set -e
check "a refused row in a batch: exit 3, that row rejected, the others loaded" "3 1 2999 0" \
	"$rc $(json_field chk.json "d['totals']['rejected']") $(pgq "$dst" "SELECT count(*) FROM chk") $(pgq "$dst" "SELECT count(*) FROM chk WHERE id = 1234")"
check "the finished backfill of one plan keeps the other plan's record" "0 3 ferry_later_deleted" \
	"$(pgq "$dst" "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'chk'::regclass AND tgname LIKE 'ferry_later%'") $(pgq "$dst" "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'dl'::regclass AND tgname LIKE 'ferry_later%'") $(pgq "$dst" "SELECT to_regclass('ferry_later_deleted')")"

# A delete that commits while the backfill writes the same key: the backfill's insert waits
# for the deleting transaction, then goes in; its guard then sees the record and removes it.
"$FERRY" fetch -q -p dl.yaml dl 250
# Count the backfill's INSERT statements: by batches, not one per row.
pgq "$dst" "CREATE TABLE stmts(n int); CREATE FUNCTION count_stmt() RETURNS trigger LANGUAGE plpgsql AS
	\$\$ BEGIN INSERT INTO stmts VALUES (1); RETURN NULL; END \$\$;
	CREATE TRIGGER count_stmt AFTER INSERT ON dl FOR EACH STATEMENT EXECUTE FUNCTION count_stmt()" > /dev/null
psql -X -qAt "$(pg_url "$dst")" -c "BEGIN" -c "DELETE FROM dl WHERE id = 250" -c "SELECT pg_sleep(3)" -c "COMMIT" > /dev/null &
app=$!
sleep 1
"$FERRY" backfill -q -p dl.yaml > /dev/null
wait "$app"
check "a delete committed while the backfill waited on its row: the row stays deleted" "499 0" \
	"$(pgq "$dst" "SELECT count(*) FROM dl") $(pgq "$dst" "SELECT count(*) FROM dl WHERE id = 250")"
stmts=$(pgq "$dst" "SELECT count(*) FROM stmts")
[ "$stmts" -ge 1 ] && [ "$stmts" -le 5 ] && ok "the backfill inserted 499 rows in $stmts statements (batches)" ||
	fail "the backfill inserted 499 rows in $stmts statements, expected batches (1 to 5)"
finish
