#!/usr/bin/env bash
# pg-identity.sh — one run however a PostgreSQL target is spelled (issue #17 "Why" 2, #18 1):
# a URL with the port in its host part, the same URL with the port as a parameter, and a
# libpq conninfo string name the same database, so the same run: complete, nothing doubled.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../pg/pg.sh"
cd "$T"

resume_source src.db 300 1000 500
pg_newdb db
user=$(pgq "$db" "SELECT current_user")
port=$(pgq "$db" "SELECT inet_server_port()")
hostport="${PG_BASE#*://}"
hostport="${hostport#*@}"
host="${hostport%%:*}"
complete() { # "exit=N complete=BOOL" of ferry copy --json ARGS
	set +e
	"$FERRY" copy --json "$@" > c.json 2> c.err
	local code=$?
	set -e
	echo "exit=$code complete=$(python3 -c 'import json,sys; print(json.load(open("c.json"))["already_complete"])' 2> /dev/null || cat c.err)"
}
counts() { pgq "$db" "SELECT (SELECT count(*) FROM parent) || ' ' || (SELECT count(*) FROM child) || ' ' || (SELECT count(*) FROM nokey)"; }

if [ -n "$pg_query" ]; then
	echo "skipped: FERRY_TEST_PG has parameters ($pg_query) the spellings below would have to carry"
	finish
	exit 0
fi
"$FERRY" copy -q src.db "postgresql://$user@$host:$port/$db"
check "the first run loads every row" "300 1000 500" "$(counts)"
check "the port as a parameter: the same run" "exit=0 complete=True" "$(complete src.db "postgresql://$user@$host/$db?port=$port")"
check "a conninfo string: the same run" "exit=0 complete=True" "$(complete src.db "host=$host port=$port dbname=$db user=$user")"
check "a conninfo string with settings that do not choose the database: the same run" "exit=0 complete=True" \
	"$(complete "./src.db" "host=$host  port=$port dbname=$db user=$user connect_timeout=7 application_name=x")"
check "nothing was loaded twice" "300 1000 500" "$(counts)"
check "PostgreSQL's ferry_history reads in the same ISO 8601 UTC form as SQLite's" "True" \
	"$("$FERRY" history --json "$(pg_url "$db")" | python3 -c 'import json,re,sys; h=json.load(sys.stdin)["history"]; print(len(h) > 0 and all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r["applied_at"]) for r in h))')"

# A crash, then the rerun spelled as conninfo resumes it.
pg_newdb db2
set +e
FERRY_FAULT=kill-after-commit:2 "$FERRY" copy -q -j 1 --chunk-rows 100 src.db "postgresql://$user@$host:$port/$db2" > /dev/null 2>&1
code=$?
set -e
check "the first run was killed" "137" "$code"
"$FERRY" copy -q -j 1 --chunk-rows 100 "sqlite:$T/src.db" "host=$host port=$port dbname=$db2 user=$user"
check "the rerun spelled as conninfo resumes: every row once" "300 1000 500" \
	"$(pgq "$db2" "SELECT (SELECT count(*) FROM parent) || ' ' || (SELECT count(*) FROM child) || ' ' || (SELECT count(*) FROM nokey)")"

# The reject file of a PostgreSQL target: beside the plan (plan.yaml: plan.rejects.jsonl), with
# the refused row's values (issue #17 "Why" 7: it went to ferry-HASH.rejects.jsonl in the
# working directory, key and reason only).
pg_newdb db3
pgq "$db3" "CREATE TABLE items(id bigint PRIMARY KEY, price bigint CHECK (price < 100))" > /dev/null
sqlite3 r.db "CREATE TABLE items(id INTEGER PRIMARY KEY, price INTEGER); INSERT INTO items VALUES (1, 5), (2, 500);"
mkdir plans
printf 'source: ../r.db\ntarget: %s\nmax_rejects: 5\n' "$(pg_url "$db3")" > plans/load.yaml
"$FERRY" copy -q --append -p plans/load.yaml > /dev/null 2>&1
check "the reject file of a server target is beside the plan, with the row's values" '{"id": 2, "price": 500}' \
	"$(python3 -c 'import json; print(json.dumps(json.loads(open("plans/load.rejects.jsonl").readline())["values"], sort_keys=True))' 2>&1)"
check "nothing in the working directory" "0" "$(ls ferry-*.rejects.jsonl 2> /dev/null | wc -l)"
finish
