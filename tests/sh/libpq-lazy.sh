#!/usr/bin/env bash
# libpq-lazy.sh — ferry does not link libpq: the PostgreSQL engine loads it on its first
# connection (src/engines/postgres/pq_lazy.c). A run without PostgreSQL never loads it; a
# libpq that cannot be loaded ($FERRY_LIBPQ names the file) is a one-line error, exit 1.
source "$(dirname "$0")/lib.sh"
cd "$T"
if command -v readelf > /dev/null; then
	needed=$(readelf -d "$FERRY" | grep NEEDED)
	check "the ferry binary links sqlite3 but not libpq" "yes no" \
		"$(grep -q libsqlite3 <<< "$needed" && echo yes || echo no) $(grep -q libpq <<< "$needed" && echo yes || echo no)"
fi
sqlite3 s.db "CREATE TABLE t(id INTEGER PRIMARY KEY, a TEXT); INSERT INTO t VALUES (1, 'x');"
export FERRY_LIBPQ="$T/absent/libpq.so.5"
set +e
"$FERRY" copy -q s.db c.db > out.txt 2> err.txt
code=$?
set -e
check "an SQLite copy never loads libpq" "0 1" "$code $(sqlite3 c.db 'SELECT count(*) FROM t')"

# one_error NAME EXPECTED_MESSAGE CMD...: CMD exits 1 with exactly one line on stderr.
one_error() {
	local name=$1 want=$2
	shift 2
	set +e
	"$@" > out.txt 2> err.txt
	local code=$?
	set -e
	check "$name: exit 1" "1" "$code"
	check "$name: one line on stderr" "1" "$(wc -l < err.txt)"
	check "$name: the message" "$want" "$(cat err.txt)"
}
one_error "no libpq (copy to a conninfo target)" \
	"ferry: PostgreSQL support needs libpq.so.5: $T/absent/libpq.so.5: cannot open shared object file: No such file or directory" \
	"$FERRY" copy -q s.db "host=127.0.0.1 port=1 dbname=nowhere"
one_error "no libpq (migrate a postgresql:// URL)" \
	"ferry: PostgreSQL support needs libpq.so.5: $T/absent/libpq.so.5: cannot open shared object file: No such file or directory" \
	"$FERRY" migrate postgresql://127.0.0.1:1/nowhere -d "$T"

# A library that is not libpq: the first function ferry needs is missing.
lib=$(ldd "$FERRY" | awk '$1 ~ /^libsqlite3\.so/ { print $3 }')
if [ -n "$lib" ]; then
	export FERRY_LIBPQ="$lib"
	one_error "a library without libpq's functions" \
		"ferry: PostgreSQL support needs libpq.so.5: $lib: undefined symbol: PQcancel" \
		"$FERRY" copy -q s.db "postgresql://127.0.0.1:1/nowhere"
fi
check "no file was created for the PostgreSQL addresses" "c.db s.db" "$(echo ./*.db | sed 's|\./||g')"
finish
