#!/usr/bin/env bash
# conninfo.sh — a libpq conninfo string is a PostgreSQL address, never a file name: a copy to
# one that cannot be reached fails naming the database, creates no file, and prints no
# password. Values SQLite would change (-0.0 into a typed column, a 30-digit number) are
# refused with their reason rather than stored changed.
source "$(dirname "$0")/lib.sh"
cd "$T"
sqlite3 s.db "CREATE TABLE t(id INTEGER PRIMARY KEY, a); INSERT INTO t VALUES (1, 'x');"
set +e
"$FERRY" copy -q s.db "host=127.0.0.1 port=1 user=u password=sekrit dbname=nowhere" > out.txt 2> err.txt
code=$?
set -e
check "an unreachable conninfo target fails at runtime" "1" "$code"
check "no file was created" "0" "$(ls | grep -c 'host=' || true)"
check "the password is never printed" "0" "$(cat out.txt err.txt | grep -c sekrit || true)"
check "the error names the database" "1" "$(grep -c 'database "nowhere"' err.txt)"

sqlite3 v.db "CREATE TABLE t(id INTEGER PRIMARY KEY, r, n);
	INSERT INTO t VALUES (1, -0.0, '1'), (2, 0.5, '123456789012345678901234567890'), (3, 2.5, '7');"
sqlite3 w.db "CREATE TABLE t(id INTEGER PRIMARY KEY, r REAL, n NUMERIC);"
set +e
"$FERRY" copy -q --rejects rej.jsonl v.db w.db > /dev/null 2>&1
code=$?
set -e
check "rows SQLite would change are refused (exit 3)" "3" "$code"
check "only the good row arrived" "3" "$(sqlite3 w.db 'SELECT group_concat(id) FROM t')"
check "-0.0 is refused for losing its sign" "1" "$(grep -c 'float -0.0 would lose its sign in float column' rej.jsonl)"
check "a 30-digit number is refused" "1" "$(grep -c 'would change value in numeric column' rej.jsonl)"
finish
