# tests/pg/pg.sh — a PostgreSQL server for the tests that need one; source it after
# tests/sh/lib.sh. FERRY_TEST_PG names a server (a URL whose role may create databases);
# without it, or with PG_OWN=1 (tests that stop and restart the server), a private server is
# started: initdb into a temporary directory, a free port on 127.0.0.1, the socket in that
# directory, stopped and removed on exit. Each test makes its own databases (pg_newdb) and
# they are dropped on exit.
# shellcheck shell=bash

pg_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
PG_DIR=""
PG_PRIVATE=0
pg_dbs=()

pg_as() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# psql against database $1: pgq DB SQL (prints rows unaligned, '|' between columns).
pgq() {
	local db=$1
	shift
	PGCONNECT_TIMEOUT=10 psql -X -qAt -v ON_ERROR_STOP=1 "$(pg_url "$db")" -c "$*"
}

# The URL of database $1 (optionally with a query string $2, e.g. "options=-csearch_path%3Ds").
pg_url() {
	local q="${2:-}"
	if [ -n "$pg_query" ]; then
		echo "$PG_BASE/$1?${pg_query}${q:+&$q}"
	else
		echo "$PG_BASE/$1${q:+?$q}"
	fi
}

# pg_newdb VAR: a fresh database, dropped on exit; its name goes to variable VAR.
pg_newdb() {
	local name
	name="t_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
	pgq "$pg_admin_db" "CREATE DATABASE $name" >/dev/null
	pg_dbs+=("$name")
	printf -v "$1" '%s' "$name"
}

pg_start() {
	(cd / && pg_as "$pg_bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w -t 60 \
		-o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR -c fsync=off -c full_page_writes=off -c max_connections=100 -c wal_level=logical -c max_replication_slots=40 -c max_wal_senders=40" \
		start >/dev/null)
}

# Stop the private server at once (as a crash would); pg_start brings it back.
pg_crash() {
	(cd / && pg_as "$pg_bin/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop >/dev/null 2>&1) || true
}

pg_cleanup() {
	if [ "$PG_PRIVATE" = 1 ]; then
		pg_crash
		rm -rf "$PG_DIR"
	else
		for d in "${pg_dbs[@]}"; do
			# A logical replication slot left on a database keeps it from being dropped.
			pgq "$pg_admin_db" "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = '$d'" >/dev/null 2>&1 || true
			pgq "$pg_admin_db" "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1 || true
		done
	fi
}

if [ -n "${FERRY_TEST_PG:-}" ] && [ "${PG_OWN:-0}" != 1 ]; then
	# postgresql://user@host:port/db?query -> base, admin database, query
	pg_rest="${FERRY_TEST_PG#*://}"
	pg_scheme="${FERRY_TEST_PG%%://*}"
	pg_query=""
	case "$pg_rest" in *\?*) pg_query="${pg_rest#*\?}"; pg_rest="${pg_rest%%\?*}" ;; esac
	pg_auth="${pg_rest%%/*}"
	pg_admin_db="postgres"
	case "$pg_rest" in */?*) pg_admin_db="${pg_rest#*/}" ;; esac
	PG_BASE="$pg_scheme://$pg_auth"
else
	[ -n "$pg_bin" ] || { echo "no PostgreSQL server binaries (/usr/lib/postgresql/*/bin)"; exit 1; }
	PG_PRIVATE=1
	PG_DIR="$(mktemp -d)"
	chmod 755 "$PG_DIR"
	chown postgres "$PG_DIR" 2>/dev/null || true
	PG_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	(cd / && pg_as "$pg_bin/initdb" -D "$PG_DIR/data" -A trust -U postgres >/dev/null)
	# Role "secret_user" logs in with a password (for the masking tests); all else trusts.
	printf 'host all secret_user 127.0.0.1/32 scram-sha-256\nhost all all 127.0.0.1/32 trust\nlocal all all trust\n' \
		| pg_as tee "$PG_DIR/data/pg_hba.conf" >/dev/null
	pg_start
	pg_query=""
	pg_admin_db="postgres"
	PG_BASE="postgresql://postgres@127.0.0.1:$PG_PORT"
fi
trap 'pg_cleanup; rm -rf "$T"' EXIT
pgq "$pg_admin_db" "SELECT 1" >/dev/null || { echo "cannot reach PostgreSQL at $PG_BASE"; exit 1; }
