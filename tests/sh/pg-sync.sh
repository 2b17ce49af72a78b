#!/usr/bin/env bash
# pg-sync.sh — ferry sync with PostgreSQL at either end: SQLite -> PostgreSQL,
# PostgreSQL -> PostgreSQL and PostgreSQL -> SQLite, each with a random application writing
# through the snapshot and the stream and the sync killed with kill -9 and rerun; at the end
# ferry verify --full and an independent comparison agree; --finish leaves no slot,
# publication or trigger behind.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../pg/pg.sh"
source "$(dirname "$0")/sync-lib.sh"
cd "$T"

pg_source() { pgq "$1" "$(sync_pg_source_sql "$2")" > /dev/null; } # DB ITEMS

# pair NAME SRC_URL DST_URL WRITER_ENGINE WRITER_DB
pair() {
	local name=$1 src=$2 dst=$3 weng=$4 wdb=$5
	mkdir -p "$name"
	sync_plan "$T/$name" "$src" "$dst"
	"$FERRY" sync -q -p "$name/plan.yaml" --until-caught-up > /dev/null 2> "$name/sync.err" ||
		{ cat "$name/sync.err"; fail "$name: first sync"; return; }
	check "$name: quiet source, target equals the source" "equal" "$(sync_compare "$src" "$dst")"
	$PY "$WRITER" "$weng" "$wdb" --seconds 5 --seed 3 > "$name/writer.out" 2> "$name/writer.err" &
	local wpid=$! spid
	for round in 1 2; do
		"$FERRY" sync -q -p "$name/plan.yaml" > /dev/null 2>> "$name/sync.err" &
		spid=$!
		sleep "0.$((RANDOM % 9 + 6))"
		kill -9 "$spid" 2> /dev/null || true
		wait "$spid" 2> /dev/null || true
	done
	"$FERRY" sync -q -p "$name/plan.yaml" > /dev/null 2>> "$name/sync.err" &
	spid=$!
	wait "$wpid" || { cat "$name/writer.err"; fail "$name: the writer failed"; }
	kill -TERM "$spid" 2> /dev/null || true
	local code=0
	wait "$spid" 2> /dev/null || code=$?
	check "$name: a sync streaming through the writer stops on SIGTERM (130)" "130" "$code"
	[ "$code" = 130 ] || tail -3 "$name/sync.err"
	"$FERRY" sync -q -p "$name/plan.yaml" --until-caught-up > /dev/null 2>> "$name/sync.err" ||
		{ cat "$name/sync.err"; fail "$name: catching up"; return; }
	check "$name: after a writer and kills, target equals the source" "equal" "$(sync_compare "$src" "$dst")"
	check "$name: ferry verify --full agrees" "exit=0" "$(vj --full -p "$name/plan.yaml")"
	"$FERRY" sync -q -p "$name/plan.yaml" --finish > /dev/null 2>> "$name/sync.err" ||
		{ cat "$name/sync.err"; fail "$name: --finish"; }
}

pg_newdb s1
pg_newdb d1
sqlite_src="$T/s2l/src.db"
mkdir -p s2l
sync_sqlite_source "$sqlite_src" 2000
pair s2l "sqlite:$sqlite_src" "$(pg_url "$d1")" sqlite "$sqlite_src"
check "sqlite -> pg: --finish removed the triggers" "0" \
	"$(sqlite3 "$sqlite_src" "SELECT count(*) FROM sqlite_master WHERE name LIKE 'ferry%'")"

pg_newdb s2
pg_newdb d2
pg_source "$s2" 2000
pair p2p "$(pg_url "$s2")" "$(pg_url "$d2")" postgres "$(pg_url "$s2")"
check "pg -> pg: --finish left no replication slot" "0" \
	"$(pgq "$s2" "SELECT count(*) FROM pg_replication_slots WHERE database = current_database()")"
check "pg -> pg: --finish left no publication" "0" "$(pgq "$s2" "SELECT count(*) FROM pg_publication")"

pg_newdb s3
pg_source "$s3" 2000
pair p2l "$(pg_url "$s3")" "sqlite:$T/p2l/dst.db" postgres "$(pg_url "$s3")"

# A table PostgreSQL cannot name rows of is refused before anything is installed.
pg_newdb s4
pgq "$s4" "CREATE TABLE log(msg text, n int); INSERT INTO log VALUES ('a', 1);" > /dev/null
set +e
"$FERRY" sync -q "$(pg_url "$s4")" "sqlite:$T/nokey.db" --until-caught-up > /dev/null 2> nokey.err
code=$?
set -e
check "pg: a table without a key is refused (exit 2)" "2" "$code"
check "pg: the refusal installed nothing" "0 0" \
	"$(pgq "$s4" "SELECT (SELECT count(*) FROM pg_replication_slots WHERE database = current_database()) || ' ' || (SELECT count(*) FROM pg_publication)")"

# NULL in a SQLite text key: PostgreSQL gets the table with a unique index "k_key" instead of
# a primary key (pg-types.sh); the stream names rows by that index, and a change of a
# NULL-key row is a reject, never lost.
pg_newdb d5
sqlite3 "$T/nk.db" "PRAGMA journal_mode=WAL; CREATE TABLE k(code TEXT PRIMARY KEY, v INT);
INSERT INTO k VALUES ('a', 1), (NULL, 2), (NULL, 3), ('b', 4);" > /dev/null
"$FERRY" sync -q "sqlite:$T/nk.db" "$(pg_url "$d5")" --until-caught-up > /dev/null 2> nk.err ||
	{ cat nk.err; fail "null key: sync into PostgreSQL"; }
check "null key: created with the unique index, no primary key" "k_key 0" \
	"$(pgq "$d5" "SELECT (SELECT indexname FROM pg_indexes WHERE tablename = 'k') || ' ' || (SELECT count(*) FROM pg_constraint WHERE conrelid = 'k'::regclass AND contype = 'p')")"
sqlite3 "$T/nk.db" "UPDATE k SET v = 7 WHERE code = 'a'; INSERT INTO k VALUES ('c', 5); DELETE FROM k WHERE code = 'b';
UPDATE k SET code = 'd' WHERE code = 'c';"
"$FERRY" sync -q "sqlite:$T/nk.db" "$(pg_url "$d5")" --until-caught-up > /dev/null 2> nk.err ||
	{ cat nk.err; fail "null key: the stream into the unique index"; }
check "null key: updates, an insert, a delete and a key update applied by the unique index" "a|7 d|5 |2 |3" \
	"$(pgq "$d5" "SELECT coalesce(code, '') || '|' || v FROM k ORDER BY code NULLS LAST, v" | tr '\n' ' ' | sed 's/ $//')"
sqlite3 "$T/nk.db" "UPDATE k SET v = v + 10 WHERE code IS NULL"
code=0
"$FERRY" sync -q "sqlite:$T/nk.db" "$(pg_url "$d5")" --until-caught-up > /dev/null 2> nk.err || code=$?
check "null key: a change of a NULL-key row is a reject (exit 3), named" "3 1" \
	"$code $(grep -c 'a change of table "k" has NULL in its key ("code")' nk.err)"
check "null key: nothing of that batch was applied, nothing lost silently" "|2 |3" \
	"$(pgq "$d5" "SELECT coalesce(code, '') || '|' || v FROM k WHERE code IS NULL ORDER BY v" | tr '\n' ' ' | sed 's/ $//')"
"$FERRY" sync -q "sqlite:$T/nk.db" "$(pg_url "$d5")" --finish > /dev/null 2> nk.err || { cat nk.err; fail "null key: --finish"; }

finish
