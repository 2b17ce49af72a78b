#!/usr/bin/env bash
# bench/label/run.sh [ROWS] — the two-step migration against its peers, in one run:
# `ferry export` then `ferry import` of ROWS rows (default 5,000,000; bigint key, bigint,
# short text, double) versus `sqlite3 .dump` then loading the dump into a new database, and
# the size of the label versus the dump (plain and zstd-compressed). Prints ratios; writes
# bench/out/label.txt. PostgreSQL's side (pg_dump -Fd / pg_restore) comes with its engine.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
rows=${1:-5000000}
ferry=$(bench_ferry)
bench_need sqlite3 zstd
bench_need_time
work=$(mktemp -d "${BENCH_TMPDIR:-/tmp}/ferry-bench-label.XXXXXX")
trap 'rm -rf "$work"' EXIT

bench_result_open label
bench_say "$(bench_env "$ferry")"
bench_say "# rows=$rows; table t(id INTEGER PRIMARY KEY, a INTEGER, s TEXT, x REAL)"
echo "generating $rows rows ..." >&2
sqlite3 "$work/src.db" "CREATE TABLE t(id INTEGER PRIMARY KEY, a INTEGER, s TEXT, x REAL);
	WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $rows)
	INSERT INTO t SELECT i, (i * 2654435761) % 1000000007, printf('s%08d', i), i * 0.37 FROM n;"
size() { du -sb "$1" | cut -f1; }

sync
t_export=$(bench_time "$work/export.log" "$ferry" export -q "$work/src.db" "$work/t.label") ||
	{ cat "$work/export.log" >&2; bench_die "ferry export failed"; }
sync
t_import=$(bench_time "$work/import.log" "$ferry" import -q "$work/t.label" "$work/ferry.db") ||
	{ cat "$work/import.log" >&2; bench_die "ferry import failed"; }
sync
t_dump=$(bench_time "$work/dump.log" sh -c "sqlite3 '$work/src.db' .dump > '$work/dump.sql'") ||
	bench_die "sqlite3 .dump failed"
sync
t_zstd=$(bench_time "$work/zstd.log" zstd -q -3 -T1 "$work/dump.sql" -o "$work/dump.sql.zst") ||
	bench_die "zstd failed"
sync
t_load=$(bench_time "$work/load.log" sh -c "sqlite3 '$work/dump.db' < '$work/dump.sql'") ||
	bench_die "loading the dump failed"

echo "verifying ..." >&2
same=$(sqlite3 "$work/ferry.db" "ATTACH '$work/dump.db' AS d;
	SELECT (SELECT count(*) FROM t) = (SELECT count(*) FROM d.t) AND
	(SELECT count(*) FROM (SELECT * FROM t EXCEPT SELECT * FROM d.t)) = 0;")
[[ $same == 1 ]] || bench_die "ferry's import differs from the dump's load"
"$ferry" label verify "$work/t.label" > /dev/null || bench_die "label verify failed"
bench_say "# verified: import = dump loaded (count, EXCEPT); label verify passes"

s_label=$(size "$work/t.label")
s_dump=$(size "$work/dump.sql")
s_zst=$(size "$work/dump.sql.zst")
bench_say "label tool=ferry-export rows=$rows seconds=${t_export% *} max_rss_kb=${t_export#* } bytes=$s_label"
bench_say "label tool=ferry-import rows=$rows seconds=${t_import% *} max_rss_kb=${t_import#* }"
bench_say "label tool=sqlite3-dump rows=$rows seconds=${t_dump% *} max_rss_kb=${t_dump#* } bytes=$s_dump zstd_bytes=$s_zst zstd_seconds=${t_zstd% *}"
bench_say "label tool=sqlite3-load rows=$rows seconds=${t_load% *} max_rss_kb=${t_load#* }"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
bench_say "ratio export/dump time: $(ratio "${t_export% *}" "${t_dump% *}")"
bench_say "ratio export/(dump+zstd) time: $(ratio "${t_export% *}" "$(awk -v a="${t_dump% *}" -v b="${t_zstd% *}" 'BEGIN { print a + b }')")"
bench_say "ratio import/load time: $(ratio "${t_import% *}" "${t_load% *}")"
bench_say "ratio label/dump size: $(ratio "$s_label" "$s_dump")"
bench_say "ratio label/dump.zst size: $(ratio "$s_label" "$s_zst")"
