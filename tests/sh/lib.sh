# lib.sh — helpers shared by the shell tests: a temp dir, assertions, a pass/fail tally that
# ends with the plain "N passed, N failed" line.
set -euo pipefail
FERRY="${1:?usage: $0 PATH_TO_FERRY}"
T="$(mktemp -d)"
trap 'rm -rf "$T"' EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok - $*"; }
fail() { failed=$((failed + 1)); echo "FAIL - $*"; }
check() { # check NAME EXPECTED ACTUAL
	if [ "$2" = "$3" ]; then ok "$1"; else fail "$1: expected [$2], got [$3]"; fi
}
finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
}
# Rows of table $2 in db $1 not in table $4 of db $3 (both directions) plus the counts.
same_rows() {
	sqlite3 "$1" "ATTACH '$3' AS o;
		SELECT (SELECT count(*) FROM main.\"$2\") || ' ' || (SELECT count(*) FROM o.\"$4\") || ' ' ||
		(SELECT count(*) FROM (SELECT * FROM main.\"$2\" EXCEPT SELECT * FROM o.\"$4\")) || ' ' ||
		(SELECT count(*) FROM (SELECT * FROM o.\"$4\" EXCEPT SELECT * FROM main.\"$2\"));"
}
