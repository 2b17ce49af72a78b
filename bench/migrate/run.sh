#!/usr/bin/env bash
# bench/migrate/run.sh [ROUNDS]
#
# Versioned migrations against the engine doing the same work, in the same run:
#   apply-1000  1,000 small migrations (CREATE TABLE + one INSERT each) applied to a fresh
#               database. ferry: `ferry migrate`. sqlite3: one sqlite3 process running the same
#               statements, each migration in its own transaction together with its
#               ferry_history row (checksums computed beforehand), with the journal settings
#               ferry uses for a target (WAL, synchronous=NORMAL).
#   noop-10000  `ferry migrate` when all of 10,000 versions are applied (10,000 files, 10,000
#               history rows): it reads the history, checks every file's checksum (unchanged
#               files from the checksum cache, a stat each) and does nothing. sqlite3: open the
#               database and read the whole history table (`SELECT * FROM ferry_history`).
#               Target: ferry within 3x. Also shown: ferry without its checksum cache
#               (FERRY_CACHE_DIR=), reading and hashing all 10,000 files.
# With FERRY_BENCH_PG=postgresql://... (a scratch database: its public schema is emptied)
# and a ferry that has the PostgreSQL engine, the same two cases run against psql too.
#
# Each case alternates the tools for ROUNDS rounds (default 11; apply-1000: a third of
# them) and reports medians. Prints one "migrate case=... tool=..." line per figure and the
# ratios; the same lines go to bench/out/migrate.txt.
# Env: FERRY (default build/ferry), BENCH_TMPDIR (default $TMPDIR or /tmp).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$here/../lib.sh"

rounds=${1:-11}
[[ $rounds =~ ^[1-9][0-9]{0,2}$ ]] || { echo "usage: ${0##*/} [ROUNDS]" >&2; exit 2; }
bench_need sqlite3 sha256sum awk
ferry=$(bench_ferry)
base=${BENCH_TMPDIR:-${TMPDIR:-/tmp}}
work=$(mktemp -d "$base/ferry-bench-migrate.XXXXXX")
trap 'rm -rf "$work"' EXIT
export FERRY_CACHE_DIR="$work/cache"

# ms CMD...: run CMD (output discarded), print its wall time in milliseconds.
ms() {
	local s e
	s=$EPOCHREALTIME
	"$@" > /dev/null 2>&1 || { echo "bench: failed: $*" >&2; return 1; }
	e=$EPOCHREALTIME
	awk -v s="$s" -v e="$e" 'BEGIN { printf "%.2f", (e - s) * 1000 }'
}
median() { bench_median "$@"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

# The ferry_history table as ferry creates it on SQLite (checked against ferry's below).
history_ddl='CREATE TABLE "ferry_history"("installed_rank" INTEGER NOT NULL, "version" TEXT, "description" TEXT NOT NULL, "kind" TEXT NOT NULL, "script" TEXT, "checksum" TEXT, "checksum_algo" TEXT, "applied_at" TIMESTAMPTZ NOT NULL, "applied_by" TEXT NOT NULL, "duration_ms" INTEGER NOT NULL, "success" BOOLEAN NOT NULL, "ferry_version" TEXT NOT NULL, "run_id" TEXT, "rows_moved" INTEGER, "verdict" TEXT, PRIMARY KEY("installed_rank"))'

# gen_apply DIR SQLFILE: 1,000 migration files in DIR, and SQLFILE: the same work for sqlite3.
gen_apply() {
	mkdir -p "$1"
	local i f sum user
	user=$(id -un)
	{
		echo "PRAGMA journal_mode = WAL;"
		echo "PRAGMA synchronous = NORMAL;"
		echo "$history_ddl;"
	} > "$2"
	for ((i = 1; i <= 1000; i++)); do
		f="V${i}__table_$i.sql"
		printf "CREATE TABLE t_%d(id INTEGER PRIMARY KEY, v TEXT);\nINSERT INTO t_%d VALUES (1, 'x');\n" "$i" "$i" > "$1/$f"
	done
	(cd "$1" && sha256sum V*.sql) | while read -r sum f; do
		i=${f#V}
		i=${i%%__*}
		printf "BEGIN;\n%sINSERT INTO ferry_history VALUES (%d, '%d', 'table %d', 'schema', '%s', '%s', 'sha256', strftime('%%Y-%%m-%%dT%%H:%%M:%%SZ'), '%s', 0, 1, '0.1.0', NULL, NULL, NULL);\nCOMMIT;\n" \
			"$(cat "$1/$f")" "$i" "$i" "$i" "$f" "$sum" "$user"
	done >> "$2"
}

# gen_noop DIR: 10,000 small migrations on a one-table schema.
gen_noop() {
	mkdir -p "$1"
	echo "CREATE TABLE s(v INTEGER); INSERT INTO s VALUES (0);" > "$1/V1__create.sql"
	local i
	for ((i = 2; i <= 10000; i++)); do
		printf 'UPDATE s SET v = %d;\n' "$i" > "$1/V${i}__set_$i.sql"
	done
}

bench_result_open migrate
bench_say "$(bench_env "$ferry")"
bench_say "# $rounds rounds (apply-1000: $(((rounds + 2) / 3))); each figure is the median wall time in ms"

echo "generating 1,000 and 10,000 migrations ..." >&2
gen_apply "$work/m1000" "$work/apply.sql"
gen_noop "$work/m10000"

# ---- apply-1000 -------------------------------------------------------------------------
declare -a a_ferry=() a_sqlite=()
for ((r = 1; r <= (rounds + 2) / 3; r++)); do
	rm -f "$work"/af.db* "$work"/as.db*
	sync
	a_ferry+=("$(ms "$ferry" migrate "$work/af.db" -d "$work/m1000" -q)")
	sync
	a_sqlite+=("$(ms sqlite3 -bail "$work/as.db" ".read $work/apply.sql")")
	echo "apply-1000 round $r: ferry ${a_ferry[-1]} ms, sqlite3 ${a_sqlite[-1]} ms" >&2
done
# Same result: the same tables and history rows (but for times and users).
q_tables="SELECT group_concat(name) FROM (SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name)"
q_hist="SELECT count(*), group_concat(version || script || checksum || kind || success, ',') FROM (SELECT * FROM ferry_history ORDER BY installed_rank)"
[[ $(sqlite3 "$work/af.db" "$q_tables") == "$(sqlite3 "$work/as.db" "$q_tables")" ]] ||
	bench_die "apply-1000: ferry and sqlite3 made different tables"
[[ $(sqlite3 "$work/af.db" "$q_hist") == "$(sqlite3 "$work/as.db" "$q_hist")" ]] ||
	bench_die "apply-1000: ferry and sqlite3 recorded different history rows"
[[ $(sqlite3 "$work/af.db" "SELECT sql FROM sqlite_schema WHERE name = 'ferry_history'") == "$history_ddl" ]] ||
	bench_die "apply-1000: ferry_history is not defined as this script assumes"
bench_say "# verified: both databases hold the same 1,001 tables and the same 1,000 history rows"
t_af=$(median "${a_ferry[@]}")
t_as=$(median "${a_sqlite[@]}")
bench_say "migrate case=apply-1000 tool=sqlite3 ms=$t_as"
bench_say "migrate case=apply-1000 tool=ferry ms=$t_af"

# ---- noop-10000 -------------------------------------------------------------------------
echo "applying 10,000 migrations for the no-op case ..." >&2
"$ferry" migrate "$work/noop.db" -d "$work/m10000" -q
[[ $(sqlite3 "$work/noop.db" "SELECT count(*) FROM ferry_history") == 10000 ]] ||
	bench_die "noop-10000: the history does not have 10,000 rows"
sleep 2.2 # files must be 2 s old before their checksums are cached (see src/history/sums.c)
"$ferry" migrate "$work/noop.db" -d "$work/m10000" -q   # warms the page cache and fills the
"$ferry" migrate "$work/noop.db" -d "$work/m10000" -q   # checksum cache
sqlite3 "$work/noop.db" "SELECT * FROM ferry_history" > /dev/null
before=$(sha256sum < "$work/noop.db")
declare -a n_ferry=() n_nocache=() n_sqlite=()
for ((r = 1; r <= rounds; r++)); do
	n_sqlite+=("$(ms sqlite3 "$work/noop.db" "SELECT * FROM ferry_history")")
	n_ferry+=("$(ms "$ferry" migrate "$work/noop.db" -d "$work/m10000" -q)")
	n_nocache+=("$(FERRY_CACHE_DIR='' ms "$ferry" migrate "$work/noop.db" -d "$work/m10000" -q)")
	echo "noop-10000 round $r: sqlite3 ${n_sqlite[-1]} ms, ferry ${n_ferry[-1]} ms, ferry without cache ${n_nocache[-1]} ms" >&2
done
[[ $(sha256sum < "$work/noop.db") == "$before" ]] || bench_die "noop-10000: the no-op changed the database"
bench_say "# verified: the no-op runs left the database byte-identical"
t_ns=$(median "${n_sqlite[@]}")
t_nf=$(median "${n_ferry[@]}")
t_nn=$(median "${n_nocache[@]}")
bench_say "migrate case=noop-10000 tool=sqlite3 ms=$t_ns"
bench_say "migrate case=noop-10000 tool=ferry ms=$t_nf"
bench_say "migrate case=noop-10000 tool=ferry-nocache ms=$t_nn"

# ---- PostgreSQL (optional) --------------------------------------------------------------
if [[ -n ${FERRY_BENCH_PG:-} ]]; then
	if "$ferry" status "$FERRY_BENCH_PG" -d "$work/m1000" 2>&1 | grep -q "no engine"; then
		bench_say "# postgresql: skipped, this ferry has no PostgreSQL engine"
	elif ! command -v psql > /dev/null; then
		bench_say "# postgresql: skipped, psql is not installed"
	else
		pg_reset() { psql "$FERRY_BENCH_PG" -Xq -c "DROP SCHEMA public CASCADE; CREATE SCHEMA public" > /dev/null 2>&1; }
		# The sqlite3 script minus its pragmas, with PostgreSQL's types and clock.
		sed -e '/^PRAGMA/d' -e 's/TIMESTAMPTZ/timestamptz/; s/strftime([^)]*)/now()/; s/, 0, 1, /, 0, true, /' \
			"$work/apply.sql" > "$work/apply-pg.sql"
		declare -a p_ferry=() p_psql=() q_ferry=() q_psql=()
		for ((r = 1; r <= (rounds + 2) / 3; r++)); do
			pg_reset
			p_ferry+=("$(ms "$ferry" migrate "$FERRY_BENCH_PG" -d "$work/m1000" -q)")
			pg_reset
			p_psql+=("$(ms psql "$FERRY_BENCH_PG" -Xq -v ON_ERROR_STOP=1 -f "$work/apply-pg.sql")")
		done
		pg_reset
		"$ferry" migrate "$FERRY_BENCH_PG" -d "$work/m10000" -q
		"$ferry" migrate "$FERRY_BENCH_PG" -d "$work/m10000" -q
		for ((r = 1; r <= rounds; r++)); do
			q_psql+=("$(ms psql "$FERRY_BENCH_PG" -XAtq -c "SELECT * FROM ferry_history")")
			q_ferry+=("$(ms "$ferry" migrate "$FERRY_BENCH_PG" -d "$work/m10000" -q)")
		done
		bench_say "migrate case=apply-1000 tool=psql ms=$(median "${p_psql[@]}")"
		bench_say "migrate case=apply-1000 tool=ferry-pg ms=$(median "${p_ferry[@]}")"
		bench_say "migrate case=noop-10000 tool=psql ms=$(median "${q_psql[@]}")"
		bench_say "migrate case=noop-10000 tool=ferry-pg ms=$(median "${q_ferry[@]}")"
		bench_say "ratio apply-1000 ferry/psql: $(ratio "$(median "${p_ferry[@]}")" "$(median "${p_psql[@]}")")"
		bench_say "ratio noop-10000 ferry/psql: $(ratio "$(median "${q_ferry[@]}")" "$(median "${q_psql[@]}")")"
		pg_reset
	fi
fi

bench_say "ratio apply-1000 ferry/sqlite3: $(ratio "$t_af" "$t_as")"
bench_say "ratio noop-10000 ferry-nocache/sqlite3: $(ratio "$t_nn" "$t_ns")"
bench_say "ratio noop-10000 ferry/sqlite3: $(ratio "$t_nf" "$t_ns") (target: 3.00 or less)"
