#!/usr/bin/env bash
# migrate-docs.sh — the examples of docs/MIGRATIONS.md and of the README's migrations section
# run as written (each ```sh block after a "<!-- migrate-docs: NAME" marker), so they cannot
# rot; then what they did is checked.
source "$(dirname "$0")/lib.sh"
src="${FERRY_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}"
export FERRY_CACHE_DIR="$T/cache"
FERRY="$(cd "$(dirname "$FERRY")" && pwd)/$(basename "$FERRY")" # the blocks run elsewhere

# block FILE NAME: the ```sh block after the marker "<!-- migrate-docs: NAME" in FILE.
block() {
	awk -v m="<!-- migrate-docs: $2" '
		index($0, m) == 1 { want = 1; next }
		want && /^```sh/ { on = 1; next }
		on && /^```/ { exit }
		on { print }' "$1"
}

# run_block FILE NAME DIR: run the block in DIR with `ferry` meaning this build's binary.
run_block() {
	local code
	mkdir -p "$3"
	block "$1" "$2" > "$T/$2.sh"
	[ -s "$T/$2.sh" ] || { fail "no block \"$2\" in $1"; return; }
	set +e
	(cd "$3" && ferry() { "$FERRY" "$@"; } && set -e && source "$T/$2.sh") > "$T/$2.out" 2>&1
	code=$?
	set -e
	check "$(basename "$1") block \"$2\" runs as written" "0" "$code"
	[ "$code" = 0 ] || cat "$T/$2.out"
}

run_block "$src/docs/MIGRATIONS.md" quickstart "$T/q"
check "quickstart: app.db is back at the newest version" "1|create users,1.1|add email,1.1|down: add email,1.1|add email" \
	"$(sqlite3 "$T/q/app.db" "SELECT version || '|' || description FROM ferry_history ORDER BY installed_rank" | paste -sd, -)"
check "quickstart: the dry run printed the statements" "1" "$(grep -c '^ALTER TABLE users ADD COLUMN email TEXT;$' "$T/quickstart.out")"
check "quickstart: the email column is there again" "1" "$(sqlite3 "$T/q/app.db" "SELECT count(*) FROM pragma_table_info('users') WHERE name = 'email'")"

run_block "$src/docs/MIGRATIONS.md" gate "$T/q"
check "gate: says up to date" "up to date" "$(tail -n 1 "$T/gate.out")"

run_block "$src/README.md" readme "$T/r"
check "README: the shop database is at version 2" "2" "$(sqlite3 "$T/r/shop.db" "SELECT max(CAST(version AS INTEGER)) FROM ferry_history WHERE success")"
finish
