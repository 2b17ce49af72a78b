#!/usr/bin/env bash
# resume.sh — kill -9 at several points of a copy, rerun the same command, and prove that no
# row was lost or duplicated and that the result equals an uninterrupted run.
source "$(dirname "$0")/lib.sh"

resume_source "$T/src.db" 20000 60000 15000

# The reference: one uninterrupted run.
"$FERRY" copy --quiet --chunk-rows 1000 "$T/src.db" "$T/ref.db" > /dev/null
check "uninterrupted run copies every child row" "60000 60000 0 0" "$(same_rows "$T/ref.db" child "$T/src.db" child)"

for point in kill-before-commit:1 kill-after-commit:1 kill-before-commit:7 kill-after-commit:23 kill-before-commit:50 kill-after-commit:95; do
	rm -f "$T"/dst.db*
	set +e
	FERRY_FAULT="$point" "$FERRY" copy --quiet --chunk-rows 1000 -j 2 "$T/src.db" "$T/dst.db" > /dev/null 2>&1
	code=$?
	set -e
	check "$point: the process was killed" "137" "$code"
	# A second kill further on, then the resume to the end.
	set +e
	FERRY_FAULT="kill-before-commit:3" "$FERRY" copy --quiet --chunk-rows 1000 "$T/src.db" "$T/dst.db" > /dev/null 2>&1
	set -e
	"$FERRY" copy --quiet --json --chunk-rows 1000 "$T/src.db" "$T/dst.db" > "$T/out.json"
	for t in parent child nokey; do
		check "$point: $t equals the source" "$(same_rows "$T/src.db" $t "$T/src.db" $t)" "$(same_rows "$T/dst.db" $t "$T/src.db" $t)"
	done
	check "$point: the index made after the load exists (an earlier process created the table)" "parent_name" \
		"$(sqlite3 "$T/dst.db" "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'parent'")"
	dups=$(sqlite3 "$T/dst.db" "SELECT count(*) FROM nokey")
	check "$point: table without key has no duplicate or lost row" "15000" "$dups"
	total=$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s["totals"]["written"])' "$T/out.json")
	check "$point: summary after resume counts every row once" "95000" "$total"
	again=$("$FERRY" copy --json --chunk-rows 1000 "$T/src.db" "$T/dst.db" | python3 -c 'import json,sys; print(json.load(sys.stdin)["already_complete"])')
	check "$point: a finished run run again says so" "True" "$again"
done
check "rerun of a finished run changes nothing" "60000 60000 0 0" "$(same_rows "$T/dst.db" child "$T/ref.db" child)"
set +e
"$FERRY" copy --quiet --truncate --chunk-rows 1000 "$T/src.db" "$T/dst.db" > /dev/null 2> "$T/trunc.err"
code=$?
set -e
check "--truncate on a finished run is refused (exit 2), not a silent no-op" "2" "$code"
check "... saying why and what starts a new run" "1" "$(grep -c -- '--truncate: this plan.s run into the target already finished .*a changed plan or another target starts a new run' "$T/trunc.err")"
finish
