#!/usr/bin/env bash
# bench/both-ways/backlog.sh [CHANGES]
#
# ferry sync --both-ways catching up a backlog on both sides at once (docs/ONLINE.md, "Both
# versions live"), SQLite <-> SQLite on tests/sh/both-lib.sh's plan: with the sync stopped,
# CHANGES (default 50000) updates on each version (disjoint keys, 1,000 rows a transaction),
# then `ferry sync --both-ways --until-caught-up` timed; then the same with the changes on
# the old version only and on the new version only. Each apply checks its keys against the
# other direction's queue: the first figure against the other two is what that check costs
# with a large queue on both sides. Prints "backlog ..." lines; the same lines go to
# bench/out/both-backlog.txt.
#
# Env: FERRY (default build/ferry; use a Release build), BENCH_TMPDIR.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$here/../lib.sh"
# shellcheck source-path=SCRIPTDIR source=../../tests/sh/sync-lib.sh
. "$bench_root/tests/sh/sync-lib.sh"
# shellcheck source-path=SCRIPTDIR source=../../tests/sh/both-lib.sh
. "$bench_root/tests/sh/both-lib.sh"

n=${1:-50000}
bench_need sqlite3
ferry=$(bench_ferry)
work=$(mktemp -d "${BENCH_TMPDIR:-${TMPDIR:-/tmp}}/ferry-backlog.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$bench_root/bench/out"
out="$bench_root/bench/out/both-backlog.txt"
: > "$out"

# updates DB TABLE COLUMN FIRST: n updates of rows FIRST.., 1,000 a transaction.
updates() {
	local i sql=""
	for ((i = 0; i < n; i += 1000)); do
		sql+="BEGIN; UPDATE $2 SET $3 = $3 + 1 WHERE id >= $(($4 + i)) AND id < $(($4 + i + 1000)) AND id < $(($4 + n)); COMMIT;"
	done
	sqlite3 "$1" "$sql"
}

# round NAME OLD NEW: a fresh pair (both ways started), the backlog written on the old
# version (OLD=1) and the new one (NEW=1), the catch-up timed.
round() {
	local d="$work/$1"
	mkdir -p "$d"
	cd "$d"
	sync_sqlite_source "$d/src.db" $((2 * n))
	both_plan "$d" "sqlite:src.db" "sqlite:dst.db"
	FERRY="$ferry"
	"$ferry" sync -q -p plan.yaml --both-ways --until-caught-up > /dev/null
	[ "$2" = 1 ] && updates src.db items qty 1
	[ "$3" = 1 ] && updates dst.db products qty $((n + 1))
	local t0 t1
	t0=$(date +%s.%N)
	"$ferry" sync -q -p plan.yaml --both-ways --until-caught-up > /dev/null
	t1=$(date +%s.%N)
	[ "$(both_compare sqlite:src.db sqlite:dst.db)" = equal ] || { echo "$1: the versions differ" >&2; exit 1; }
	awk -v a="$t0" -v b="$t1" -v name="$1" -v n="$n" \
		'BEGIN { printf "backlog %s changes=%d seconds=%.2f\n", name, n, b - a }' | tee -a "$out"
	cd "$work"
}

round both-sides 1 1
round old-only 1 0
round new-only 0 1
