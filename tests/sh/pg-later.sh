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

# The application writes the new version: a key that waits, inserted; a fetched row, updated.
"$FERRY" fetch -q -p plan.yaml ev 100
pgq "$dst" "INSERT INTO ev VALUES (200, 200, 'app-new'); UPDATE ev SET body = 'app' WHERE id = 100" > /dev/null

# Backfill killed after its third chunk, then resumed while four fetchers race it.
set +e
FERRY_FAULT=kill-after-commit:3 "$FERRY" backfill -q -p plan.yaml --chunk-rows 1000 -j 1 > /dev/null 2>&1
check "the backfill was killed mid-run" "137" "$?"
set -e
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
check "every row once" "20000 20000 2000" \
	"$(pgq "$dst" "SELECT count(*), count(DISTINCT id) FROM ev" | tr '|' ' ') $(pgq "$dst" "SELECT count(*) FROM billing")"
check "the application's rows are kept" "app app-new" "$(pgq "$dst" "SELECT body FROM ev WHERE id IN (100, 200) ORDER BY id" | paste -sd' ')"
set +e; "$FERRY" verify -q --full -p plan.yaml > v.out 2>&1; rc=$?; set -e
check "verify after the backfill: only the application's two rows differ" "5 2" "$rc $(grep -c '^ev: different' v.out)"
finish
