# tests/migrate/lib.sh — helpers for the migration shell tests (tests/sh/migrate*.sh), sourced
# after tests/sh/lib.sh. Each test runs once per backend: SQLite, then PostgreSQL on the
# server of FERRY_TEST_PG or on a private one (tests/pg/pg.sh), a fresh database per case.
# The PostgreSQL half is skipped, with the reason printed, only when this ferry has no
# PostgreSQL engine or there is neither FERRY_TEST_PG nor a server to start.
# shellcheck shell=bash

# The checksum cache goes to the test's own directory, not the user's.
export FERRY_CACHE_DIR="$T/cache"

# mig_pg_setup: decide whether the PostgreSQL half runs (MIG_BACKENDS), starting its server.
# Call at the top level of the script (pg.sh sets the exit trap that stops the server).
mig_pg_setup() {
	MIG_BACKENDS="sqlite"
	mkdir -p "$T/.empty"
	local out
	out=$("$FERRY" status "postgresql://localhost/x" -d "$T/.empty" 2>&1 || true)
	if printf '%s' "$out" | grep -q "no engine"; then
		echo "skip - postgresql: this ferry has no PostgreSQL engine ($(printf '%s' "$out" | head -n 1))"
		return 0
	fi
	if [ -z "${FERRY_TEST_PG:-}" ] && ! ls -d /usr/lib/postgresql/*/bin > /dev/null 2>&1; then
		echo "skip - postgresql: FERRY_TEST_PG is not set and no server binaries to start one"
		return 0
	fi
	command -v psql > /dev/null || { echo "skip - postgresql: psql is not installed"; return 0; }
	# shellcheck source=../pg/pg.sh
	source "$(dirname "${BASH_SOURCE[0]}")/../pg/pg.sh"
	MIG_BACKENDS="sqlite pg"
}

# mig_new NAME: a fresh, empty database for backend $B in $DB (SQLite: a file that does not
# exist yet; PostgreSQL: a new database, dropped at exit).
mig_new() {
	if [ "$B" = pg ]; then
		pg_newdb MIG_PGDB
		DB="$(pg_url "$MIG_PGDB")"
	else
		DB="$T/$1.db"
		rm -f "$DB" "$DB"-wal "$DB"-shm "$DB"-journal "$DB".ferry-lock
	fi
}

# mig_q SQL: one query on $DB, rows as a|b|c lines.
mig_q() {
	if [ "$B" = pg ]; then
		PGCONNECT_TIMEOUT=10 psql -XAtq -v ON_ERROR_STOP=1 "$DB" -c "$1"
	else
		sqlite3 "$DB" "$1"
	fi
}

# mig_has_table NAME: prints 1 when $DB has the table, else 0.
mig_has_table() {
	if [ "$B" = pg ]; then
		mig_q "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_name = '$1'"
	else
		mig_q "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = '$1'"
	fi
}

# mig_dir NAME: a fresh migration directory $T/NAME, its path in $D.
mig_dir() {
	D="$T/$1"
	rm -rf "$D"
	mkdir -p "$D"
}

# mig_put FILE SQL: write one migration file into $D.
mig_put() {
	printf '%s\n' "$2" > "$D/$1"
}

# mig_slow TABLE N: SQL that fills TABLE (created before) with N rows, slowly enough to be
# caught in the middle (about half a second per 400,000 rows on SQLite).
mig_slow() {
	if [ "$B" = pg ]; then
		echo "WITH s AS (SELECT pg_sleep($2 / 2000000.0)) INSERT INTO $1 SELECT i FROM generate_series(1, $2) AS i, s"
	else
		echo "INSERT INTO $1 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $2) SELECT i FROM n"
	fi
}

# mig_lock_wait: a --lock-timeout long enough for a killed client's lock to go away (a
# PostgreSQL backend notices its client is gone only when its statement ends).
mig_lock_wait() {
	if [ "$B" = pg ]; then echo 60; else echo 0; fi
}

# mig_autocommit TABLE: a statement the backend cannot run inside a transaction.
mig_autocommit() {
	if [ "$B" = pg ]; then
		echo "CREATE INDEX CONCURRENTLY IF NOT EXISTS $1_x ON $1 (x)"
	else
		echo "VACUUM"
	fi
}

# mig_run ARGS...: ferry with stdout in $OUT, stderr in $ERR, exit code in $CODE.
mig_run() {
	set +e
	"$FERRY" "$@" > "$T/out" 2> "$T/err"
	CODE=$?
	set -e
	OUT=$(cat "$T/out")
	ERR=$(cat "$T/err")
}

# has TEXT NEEDLE: 1 when TEXT contains NEEDLE.
has() {
	case "$1" in *"$2"*) echo 1 ;; *) echo 0 ;; esac
}
