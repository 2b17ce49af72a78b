#!/usr/bin/env bash
# pg-resume.sh — kill -9 a copy into PostgreSQL at chunk commits (FERRY_FAULT) and at
# arbitrary moments, rerun the same command, and prove that no row was lost or duplicated:
# the chunk's rows and its checkpoint commit together in the target.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../pg/pg.sh"
cd "$T"

resume_source src.db 8000 30000 6000
want="8000 32004000|30000 450015000 $(sqlite3 src.db "SELECT printf('%.2f', sum(v)) FROM child")|6000 297000"
fingerprint() { # counts and sums of the three tables in database $1
	pgq "$1" "SELECT (SELECT count(*) || ' ' || sum(id) FROM parent) || '|' ||
		(SELECT count(*) || ' ' || sum(id) || ' ' || round(sum(v)::numeric, 2) FROM child) || '|' ||
		(SELECT count(*) || ' ' || sum(a) FROM nokey)"
}
summary_written() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["totals"]["written"])' "$1"; }

for point in kill-before-commit:2 kill-after-commit:5 kill-before-commit:17; do
	pg_newdb db
	set +e
	# One writer: FERRY_FAULT counts commits, which several writers could pass together.
	FERRY_FAULT="$point" "$FERRY" copy -q --chunk-rows 1000 -j 1 src.db "$(pg_url "$db")" > /dev/null 2>&1
	code=$?
	set -e
	check "$point: the process was killed" "137" "$code"
	"$FERRY" copy -q --json --chunk-rows 1000 src.db "$(pg_url "$db")" > out.json
	check "$point: every row once after the resume" "$want" "$(fingerprint "$db")"
	check "$point: the keys ferry builds after the load exist" "2" \
		"$(pgq "$db" "SELECT count(*) FROM pg_constraint WHERE contype = 'p' AND conrelid IN ('parent'::regclass, 'child'::regclass)")"
	check "$point: the foreign key and the index made after the load exist too (an earlier process created the tables)" "1 1" \
		"$(pgq "$db" "SELECT (SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conrelid = 'child'::regclass) || ' ' || (SELECT count(*) FROM pg_indexes WHERE indexname = 'parent_name')")"
	check "$point: the resumed run's summary counts every row once" "44000" "$(summary_written out.json)"
	again=$("$FERRY" copy --json --chunk-rows 1000 src.db "$(pg_url "$db")" | python3 -c 'import json,sys; print(json.load(sys.stdin)["already_complete"])')
	check "$point: a finished run run again says so" "True" "$again"
done

# kill -9 at arbitrary moments until a run finishes.
pg_newdb db
kills=0
for d in 0.2 0.5 0.9 1.4 2.0 3.0 4.0 6.0; do
	"$FERRY" copy -q -j 2 --chunk-rows 2000 src.db "$(pg_url "$db")" > /dev/null 2>&1 &
	pid=$!
	sleep "$d"
	if kill -9 "$pid" 2> /dev/null; then
		kills=$((kills + 1))
		wait "$pid" 2> /dev/null || true
	else
		wait "$pid" && break
	fi
done
"$FERRY" copy -q --chunk-rows 2000 src.db "$(pg_url "$db")" > /dev/null
check "kill -9 at arbitrary moments ($kills kills): every row once" "$want" "$(fingerprint "$db")"
check "kill -9 at arbitrary moments: ferry verify --full agrees, value for value" "exit=0" "$(vj --full src.db "$(pg_url "$db")")"

# PostgreSQL -> PostgreSQL with a kill in the middle.
pg_newdb db2
set +e
FERRY_FAULT=kill-after-commit:4 "$FERRY" copy -q -j 1 --chunk-rows 1500 "$(pg_url "$db")" "$(pg_url "$db2")" > /dev/null 2>&1
set -e
"$FERRY" copy -q --chunk-rows 1500 "$(pg_url "$db")" "$(pg_url "$db2")" > /dev/null
check "postgres -> postgres resumed: every row once" "$want" "$(fingerprint "$db2")"
check "postgres -> postgres resumed: ferry verify --full agrees" "exit=0" "$(vj --full "$(pg_url "$db")" "$(pg_url "$db2")")"
# A half-loaded run abandoned by its owner (the tables dropped): its pending keys do not make
# every later copy into the database fail.
pg_newdb db3
set +e
FERRY_FAULT=kill-after-commit:2 "$FERRY" copy -q -j 1 --chunk-rows 1000 src.db "$(pg_url "$db3")" > /dev/null 2>&1
set -e
pgq "$db3" "DROP TABLE parent, child, nokey CASCADE" > /dev/null
sqlite3 other.db "CREATE TABLE other(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO other VALUES (1, 'x');"
set +e
"$FERRY" copy -q other.db "$(pg_url "$db3")" > other.out 2>&1
code=$?
set -e
check "after an abandoned half-loaded run, another copy into the database works" "0|1" "$code|$(pgq "$db3" "SELECT count(*) FROM other")"
# Another run (an edited plan) appending to a table whose primary key a crashed run left
# pending: the key is built first, so the rows already there are refused, not duplicated.
sqlite3 cust.db "CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT);
	WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000) INSERT INTO customers SELECT i, 'c' || i FROM n;"
pg_newdb db4
printf 'source: sqlite:cust.db\ntarget: %s\nchunk_rows: 1000\nthreads: 1\n' "$(pg_url "$db4")" > p4.yaml
set +e
FERRY_FAULT=kill-after-commit:2 "$FERRY" copy -q -p p4.yaml > /dev/null 2>&1
printf 'tables:\n  - table: customers\n    where: "id > 0"\n' >> p4.yaml # another rule: a new run
"$FERRY" copy -q --append -p p4.yaml > p4.out 2>&1
code=$?
set -e
check "a second run appending where a crashed run left its key pending: the rows there are refused (exit 3), no key twice" \
	"3|5000|5000" "$code|$(pgq "$db4" "SELECT count(*) || '|' || count(DISTINCT id) FROM customers")"
# --truncate into tables with a foreign key between them: emptied together, children first
# (the parent "a" comes first by name and by load order).
sqlite3 fk.db "CREATE TABLE a(id INTEGER PRIMARY KEY); CREATE TABLE b(id INTEGER PRIMARY KEY, a_id INTEGER REFERENCES a(id));
	INSERT INTO a VALUES (1), (2); INSERT INTO b VALUES (10, 1), (11, 2), (12, 2);"
pg_newdb db5
pgq "$db5" "CREATE TABLE a(id bigint PRIMARY KEY); CREATE TABLE b(id bigint PRIMARY KEY, a_id bigint REFERENCES a(id))" > /dev/null
"$FERRY" copy -q --append fk.db "$(pg_url "$db5")" > /dev/null 2>&1
# (a rule of its own: the plan-less copy's plan, written out, would be the same run)
printf 'source: sqlite:fk.db\ntarget: %s\ntables:\n  - table: b\n    where: "id > 0"\n' "$(pg_url "$db5")" > p5.yaml
set +e
"$FERRY" copy -q --truncate -p p5.yaml > p5.out 2>&1
code=$?
set -e
check "--truncate of tables with a foreign key between them (PostgreSQL): emptied and reloaded once" "0|2 3" \
	"$code|$(pgq "$db5" "SELECT (SELECT count(*) FROM a) || ' ' || (SELECT count(*) FROM b)")"
finish
