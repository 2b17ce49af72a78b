#!/usr/bin/env bash
# errors.sh — every way a command can fail before or while opening its databases: missing or
# unusable source and target, missing and malformed plans, bad flags. Each must end with the
# right exit code, exactly one line on stderr that starts with "ferry: ", nothing changed in
# the target, and no sanitizer report.
source "$(dirname "$0")/lib.sh"
cd "$T"

sqlite3 src.db "CREATE TABLE a(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO a VALUES (1, 'x'), (2, 'y');"
echo "this is not a database" > notdb.txt
mkdir adir emptydir
all_err="$T/all-stderr.txt"
: > "$all_err"

# run_ferry ARGS... : runs ferry, leaving the exit code in $code, stderr in $T/err, stdout in $T/out.
run_ferry() {
	set +e
	"$FERRY" "$@" > "$T/out" 2> "$T/err"
	code=$?
	set -e
	cat "$T/err" >> "$all_err"
}
# one_line NAME PREFIX: stderr is exactly one line and starts with PREFIX (literally).
one_line() {
	local lines first
	lines=$(wc -l < "$T/err")
	first=$(head -n 1 "$T/err")
	if [ "$lines" = 1 ] && [ "${first#"$2"}" != "$first" ]; then
		ok "$1: one line starting with [$2]"
	else
		fail "$1: expected one line starting with [$2], got $lines line(s): $(head -c 400 "$T/err")"
	fi
}
# expect_error NAME CODE PREFIX ARGS...
expect_error() {
	local name="$1" want="$2" prefix="$3"
	shift 3
	run_ferry "$@"
	check "$name: exit code" "$want" "$code"
	one_line "$name" "$prefix"
}

# --- sources ----------------------------------------------------------------------------------
# A path that does not exist is a command-line mistake: nothing ran, a rerun resumes nothing.
expect_error "missing source" 2 'ferry: ' copy nosuch.db t-missing.db
grep -q 'nosuch.db' "$T/err" && ok "missing source: the message names the path" || fail "missing source: the message names the path: $(cat "$T/err")"
check "missing source: no target created" "no" "$([ -e t-missing.db ] && echo yes || echo no)"
expect_error "source is a text file" 2 'ferry: ' copy notdb.txt t-notdb.db
grep -q 'not a database' "$T/err" && ok "source is a text file: says so" || fail "source is a text file: says so: $(cat "$T/err")"
check "source is a text file: no target created" "no" "$([ -e t-notdb.db ] && echo yes || echo no)"
check "source is a text file: the file is untouched" "this is not a database" "$(cat notdb.txt)"
expect_error "source is a directory" 2 'ferry: ' copy adir t-adir.db
expect_error "source and target are the same file" 2 'ferry: ' copy src.db src.db
check "source and target are the same file: source untouched" "2" "$(sqlite3 src.db 'SELECT count(*) FROM a')"
check "source and target are the same file: no state tables" "0" "$(sqlite3 src.db "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'ferry_%'")"

# --- targets ----------------------------------------------------------------------------------
expect_error "target in a directory that does not exist" 2 'ferry: ' copy src.db nodir/t.db
check "target in a missing directory: the directory is not created" "no" "$([ -e nodir ] && echo yes || echo no)"
expect_error "target is a directory" 2 'ferry: ' copy src.db adir
check "target is a directory: left empty" "" "$(ls -A adir)"
expect_error "target with an unknown URL scheme" 2 'ferry: ' copy src.db ftp://host/t.db
expect_error "target with a scheme but no //" 2 'ferry: ' copy src.db mysql:shop
grep -q 'unknown scheme "mysql"' "$T/err" && ok "scheme without //: says so" || fail "scheme without //: says so: $(cat "$T/err")"
# A label is the other end of export and import, not a database a copy reads or writes.
expect_error "a label as a copy's source" 2 'ferry: ' copy label:some/dir t-label.db
grep -q 'is a label, not a database' "$T/err" && ok "a label as a copy's source: says so" || fail "a label as a copy's source: says so: $(cat "$T/err")"
check "a label as a copy's source: no target created" "no" "$([ -e t-label.db ] && echo yes || echo no)"

# Root ignores file permissions: run the read-only cases as nobody when we are root.
as_user=()
if [ "$(id -u)" = 0 ]; then
	if command -v setpriv > /dev/null && setpriv --reuid=65534 --regid=65534 --clear-groups true 2> /dev/null; then
		as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups)
	else
		as_user=(skip)
	fi
fi
if [ "${as_user[0]:-}" = skip ]; then
	echo "# skipped: read-only target cases (running as root and cannot drop privileges)"
else
	chmod 755 "$T"
	mkdir ro rw
	cp src.db ro/src.db
	sqlite3 ro/t.db "CREATE TABLE a(id INTEGER PRIMARY KEY, v TEXT);"
	sqlite3 rw/t.db "CREATE TABLE a(id INTEGER PRIMARY KEY, v TEXT);"
	chmod 444 ro/src.db ro/t.db rw/t.db
	chmod 555 ro
	chmod 777 rw
	set +e
	"${as_user[@]}" "$FERRY" copy --quiet ro/src.db ro/new.db > "$T/out" 2> "$T/err"
	code=$?
	set -e
	cat "$T/err" >> "$all_err"
	[ "$code" = 1 ] || [ "$code" = 2 ] && ok "target in a read-only directory: exit $code" || fail "target in a read-only directory: exit code $code"
	one_line "target in a read-only directory" 'ferry: '
	check "target in a read-only directory: nothing created" "no" "$([ -e ro/new.db ] && echo yes || echo no)"
	for t in ro/t.db rw/t.db; do
		set +e
		"${as_user[@]}" "$FERRY" copy --quiet ro/src.db "$t" > "$T/out" 2> "$T/err"
		code=$?
		set -e
		cat "$T/err" >> "$all_err"
		[ "$code" = 1 ] || [ "$code" = 2 ] && ok "read-only target file $t: exit $code" || fail "read-only target file $t: exit code $code"
		one_line "read-only target file $t" 'ferry: '
		check "read-only target file $t: unchanged" "0 0" "$(sqlite3 "$t" "SELECT count(*) FROM a; SELECT count(*) FROM sqlite_schema WHERE name LIKE 'ferry_%'" | tr '\n' ' ' | sed 's/ $//')"
	done
	set +e
	"${as_user[@]}" "$FERRY" copy --quiet --rejects ro/rejects.jsonl ro/src.db rw/new.db > "$T/out" 2> "$T/err"
	code=$?
	set -e
	cat "$T/err" >> "$all_err"
	# The rejects file is only written when there are rejects; this run has none, so it succeeds.
	check "rejects file in a read-only directory with no rejects: exit" "0" "$code"
	chmod 755 ro
fi

# --- plans ------------------------------------------------------------------------------------
expect_error "plan file missing" 2 'ferry: ' copy -p nosuch.yaml
grep -q 'nosuch.yaml' "$T/err" && ok "plan file missing: the message names the path" || fail "plan file missing: names the path: $(cat "$T/err")"
expect_error "plan is a directory" 2 'ferry: ' copy -p adir
expect_error "plan and SOURCE TARGET both" 2 'ferry: ' copy -p nosuch.yaml src.db t.db

# bad_plan NAME PREFIX_AFTER_FERRY FRAGMENT YAML: the message names the file, line and column
# (or the file alone when nothing can be pointed at) and says what is wrong.
n=0
bad_plan() {
	n=$((n + 1))
	local f="bad$n.yaml"
	printf '%s' "$4" > "$f"
	rm -f t.db t.db-journal
	run_ferry copy --quiet -p "$f"
	check "plan $n ($1): exit code" "2" "$code"
	one_line "plan $n ($1)" "ferry: $f$2"
	grep -qF -- "$3" "$T/err" && ok "plan $n ($1): says [$3]" || fail "plan $n ($1): expected [$3] in: $(cat "$T/err")"
	check "plan $n ($1): no target created" "no" "$([ -e t.db ] && echo yes || echo no)"
}
H=$'source: src.db\ntarget: t.db\n'
bad_plan "unknown key" ":3:1: " 'unknown key "treads"' "${H}treads: 4"$'\n'
bad_plan "threads not a number" ":3:10: " '"threads" must be a whole number' "${H}threads: many"$'\n'
bad_plan "chunk_rows 0" ":3:13: " '"chunk_rows" must be a whole number >= 1' "${H}chunk_rows: 0"$'\n'
bad_plan "negative max_rejects" ":3:14: " '"max_rejects" must be a whole number >= 0' "${H}max_rejects: -1"$'\n'
bad_plan "strict not a boolean" ":3:9: " '"strict" must be true or false' "${H}strict: perhaps"$'\n'
bad_plan "unknown others" ":3:9: " '"maybe"' "${H}others: maybe"$'\n'
bad_plan "unknown conflict rule" ":6:22: " 'unknown conflict rule "smallest"' "${H}"$'tables:\n  - table: a\n    columns:\n      v: { conflict: smallest }\n'
bad_plan "after names no stage" ":6:12: " '"three", which is not a stage' "${H}"$'stages:\n  - name: one\n  - name: two\n    after: three\n'
bad_plan "target_schema missing" ":3:16: " 'target_schema "nosuch.sql" does not exist' "${H}target_schema: nosuch.sql"$'\n'
bad_plan "target_schema directory without .sql" ":3:16: " 'emptydir' "${H}target_schema: emptydir"$'\n'
bad_plan "invalid YAML" ":4:1: " 'invalid YAML' "${H}tables: ["$'\n'
bad_plan "tab indentation" ":3:1: " 'invalid YAML' "${H}"$'\tthreads: 1\n'
bad_plan "no target" ": " 'the plan names no target' $'source: src.db\n'
bad_plan "empty file" ": " 'empty' ''
bad_plan "source and sources" ":2:1: " '"source" and "sources"' $'source: src.db\nsources:\n  x: src.db\ntarget: t.db\n'
bad_plan "alias" ":2:9: " 'aliases' $'source: &s src.db\ntarget: *s\n'
bad_plan "duplicate key" ":3:1: " 'duplicate key "target"' "${H}target: u.db"$'\n'
bad_plan "version 2" ":1:10: " 'version "2"' $'version: 2\n'"${H}"
bad_plan "skip with where" ":4:5: " 'cannot have "where"' "${H}"$'tables:\n  - table: a\n    skip: true\n    where: "id > 1"\n'
bad_plan "from and expr" ":6:7: " 'both "from" and "expr"' "${H}"$'tables:\n  - table: a\n    columns:\n      v: { from: v, expr: "1" }\n'
bad_plan "drop with default" ":6:7: " 'cannot have "default"' "${H}"$'tables:\n  - table: a\n    columns:\n      v: { drop: true, default: 1 }\n'
bad_plan "stage cycle" ":4:11: " 'cycle' "${H}"$'stages:\n  - name: x\n    after: y\n  - name: y\n    after: x\n'
bad_plan "duplicate stage" ":5:11: " 'duplicate stage name "x"' "${H}"$'stages:\n  - name: x\n  - name: x\n'
bad_plan "stage name with a slash" ":4:11: " 'stage name "a/b"' "${H}"$'stages:\n  - name: a/b\n'
bad_plan "entry without table" ":4:5: " 'has no "table"' "${H}"$'tables:\n  - rename: b\n'
bad_plan "entry without source among several" ":6:5: " 'must name its source' $'sources:\n  one: src.db\n  two: src.db\ntarget: t.db\ntables:\n  - table: a\n'
bad_plan "entry naming an unknown source" ":6:13: " '"two", which is not a source' $'sources:\n  one: src.db\ntarget: t.db\ntables:\n  - table: a\n    source: two\n'
bad_plan "entry in an unknown stage" ":5:12: " '"nowhere", which is not a stage' "${H}"$'tables:\n  - table: a\n    stage: nowhere\n'
bad_plan "tables not a list" ":3:9: " 'expected a sequence for "tables"' "${H}tables: a"$'\n'
bad_plan "unknown rule key" ":6:12: " 'unknown key "frm"' "${H}"$'tables:\n  - table: a\n    columns:\n      v: { frm: v }\n'
bad_plan "columns not a mapping" ":5:14: " 'expected a mapping for "columns"' "${H}"$'tables:\n  - table: a\n    columns: [v]\n'
bad_plan "plan is a list" ":1:1: " 'expected a mapping for the plan' $'- just\n- a list\n'
bad_plan "target with an unknown scheme" ":2:9: " 'ftp' $'source: src.db\ntarget: ftp://host/t.db\n'
bad_plan "target that is a label" ":2:9: " 'is a label, not a database' $'source: src.db\ntarget: label:out\n'
bad_plan "source table that does not exist" ":4:5: " '"nosuch"' "${H}"$'tables:\n  - table: nosuch\n'
bad_plan "source column that does not exist" ":6:7: " '"nosuch"' "${H}"$'tables:\n  - table: a\n    columns:\n      w: { from: nosuch }\n'

# --- flags ------------------------------------------------------------------------------------
rm -f t.db
expect_error "--threads -1" 2 'ferry: --threads' copy --threads -1 src.db t.db
expect_error "--threads abc" 2 'ferry: --threads' copy --threads abc src.db t.db
expect_error "--chunk-rows 0" 2 'ferry: --chunk-rows' copy --chunk-rows 0 src.db t.db
expect_error "--chunk-rows -5" 2 'ferry: --chunk-rows' copy --chunk-rows -5 src.db t.db
expect_error "--chunk-rows 1x" 2 'ferry: --chunk-rows' copy --chunk-rows 1x src.db t.db
expect_error "--max-rejects -3" 2 'ferry: --max-rejects' copy --max-rejects -3 src.db t.db
expect_error "unknown option" 2 'ferry: ' copy --bogus src.db t.db
grep -q -- '--bogus' "$T/err" && ok "unknown option: named" || fail "unknown option: named: $(cat "$T/err")"
expect_error "missing value at the end" 2 'ferry: ' copy src.db t.db --chunk-rows
expect_error "missing value for -p" 2 'ferry: ' copy -p
expect_error "only SOURCE" 2 'ferry: ' copy src.db
expect_error "no arguments to copy" 2 'ferry: ' copy
expect_error "three positional arguments" 2 'ferry: ' copy src.db t.db u.db
expect_error "unknown stage" 2 'ferry: ' copy --stage nosuch src.db t.db
expect_error "--truncate and --append together" 2 'ferry: ' copy --truncate --append src.db t.db
expect_error "unknown command" 2 'ferry: ' frobnicate
expect_error "help for an unknown command" 2 'ferry: ' help frobnicate
check "flag mistakes: no target created" "no" "$([ -e t.db ] && echo yes || echo no)"

# --- help -------------------------------------------------------------------------------------
for argv in "--help" "copy --help" "help copy" "help" "copy -h"; do
	# shellcheck disable=SC2086
	run_ferry $argv
	check "ferry $argv: exit code" "0" "$code"
	check "ferry $argv: nothing on stderr" "" "$(cat "$T/err")"
	if grep -qi 'exit codes' "$T/out" && grep -q '130' "$T/out" && grep -q '^ *3 ' "$T/out"; then
		ok "ferry $argv: mentions the exit codes"
	else
		fail "ferry $argv: does not mention the exit codes"
	fi
done
run_ferry version
check "ferry version: exit code" "0" "$code"

# --- sanitizers ---------------------------------------------------------------------------------
if grep -qE 'runtime error|AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer' "$all_err"; then
	fail "sanitizer reports: $(grep -E 'runtime error|Sanitizer' "$all_err" | head -n 3)"
else
	ok "no sanitizer report in any stderr"
fi
finish
