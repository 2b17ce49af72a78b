#!/usr/bin/env bash
# bench/label/postgres.sh [ROWS] — the two-step migration from and to PostgreSQL against
# pg_dump -Fd / pg_restore, in one run: `ferry export` of ROWS rows (default 5,000,000; bigint
# key, bigint, short text, double) from a database into a label, `ferry import` of the label
# into a new database; `pg_dump -Fd -j2` (gzip, the only compression of Debian 12's pg_dump 15)
# and `pg_restore -j2` into another new database. Times, sizes and ratios; both targets are
# checked equal to the source. Server: FERRY_BENCH_PG (a URL whose role may create databases)
# or a private one. Results in bench/out/label-postgres.txt.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
rows=${1:-5000000}
ferry=$(bench_ferry)
bench_need psql pg_dump pg_restore
bench_need_time
work=$(mktemp -d "${BENCH_TMPDIR:-/tmp}/ferry-bench-label-pg.XXXXXX")
cleanup() { bench_pg_stop; rm -rf "$work"; }
trap cleanup EXIT
bench_pg "$work"
pgbase=$bench_pg_base
fingerprint() { bench_pgq "$1" "SELECT count(*), sum(id), sum(a), sum(length(s)), sum(x::numeric) FROM t"; }
size() { du -sb "$1" | cut -f1; }

bench_result_open label-postgres
bench_say "$(bench_env "$ferry")"
bench_say "# rows=$rows; table t(id bigint PRIMARY KEY, a bigint, s text, x double precision); $(psql --version)"
echo "generating $rows rows ..." >&2
bench_pg_fresh src
bench_pgq src "CREATE TABLE t(id bigint PRIMARY KEY, a bigint, s text, x double precision);
	INSERT INTO t SELECT i, (i * 2654435761) % 1000000007, 's' || lpad(i::text, 8, '0'), i * 0.37
	FROM generate_series(1, $rows) i;"
bench_pgq src "VACUUM ANALYZE t"
want=$(fingerprint src)

sync
t_export=$(bench_time "$work/export.log" "$ferry" export -q "$pgbase/src" "$work/t.label") ||
	{ cat "$work/export.log" >&2; bench_die "ferry export failed"; }
bench_pg_fresh dst1
sync
t_import=$(bench_time "$work/import.log" "$ferry" import -q "$work/t.label" "$pgbase/dst1") ||
	{ cat "$work/import.log" >&2; bench_die "ferry import failed"; }
sync
t_dump=$(bench_time "$work/dump.log" pg_dump -Fd -j2 -f "$work/dump.d" "$pgbase/src") ||
	{ cat "$work/dump.log" >&2; bench_die "pg_dump failed"; }
bench_pg_fresh dst2
sync
t_restore=$(bench_time "$work/restore.log" pg_restore -j2 -d "$pgbase/dst2" "$work/dump.d") ||
	{ cat "$work/restore.log" >&2; bench_die "pg_restore failed"; }

[[ $(fingerprint dst1) == "$want" ]] || bench_die "ferry's import differs from the source"
[[ $(fingerprint dst2) == "$want" ]] || bench_die "pg_restore's database differs from the source"
bench_say "# verified: both targets match the source (count and sums of every column)"
s_label=$(size "$work/t.label")
s_dump=$(size "$work/dump.d")
bench_say "label-postgres tool=ferry-export rows=$rows seconds=${t_export% *} max_rss_kb=${t_export#* } bytes=$s_label"
bench_say "label-postgres tool=ferry-import rows=$rows seconds=${t_import% *} max_rss_kb=${t_import#* }"
bench_say "label-postgres tool=pg_dump-Fd-j2 rows=$rows seconds=${t_dump% *} max_rss_kb=${t_dump#* } bytes=$s_dump"
bench_say "label-postgres tool=pg_restore-j2 rows=$rows seconds=${t_restore% *} max_rss_kb=${t_restore#* }"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
bench_say "ratio export/pg_dump time: $(ratio "${t_export% *}" "${t_dump% *}")"
bench_say "ratio import/pg_restore time: $(ratio "${t_import% *}" "${t_restore% *}")"
bench_say "ratio label/pg_dump size: $(ratio "$s_label" "$s_dump")"
