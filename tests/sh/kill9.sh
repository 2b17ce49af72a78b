#!/usr/bin/env bash
# kill9.sh — kill -9 at arbitrary moments (not only at commit points): run the copy in the
# background, kill it after a varying delay, repeat until a run finishes, and prove the target
# equals the source with no row lost or duplicated.
source "$(dirname "$0")/lib.sh"

sqlite3 "$T/src.db" <<'SQL'
CREATE TABLE big(id INTEGER PRIMARY KEY, a INTEGER, s TEXT, x REAL);
CREATE TABLE bag(a INTEGER, b TEXT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300000)
INSERT INTO big SELECT i, (i * 2654435761) % 1000003, 's' || i, i * 0.5 FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40000)
INSERT INTO bag SELECT i % 7, 'same' FROM n;
SQL

delays=(0.05 0.2 0.35 0.5 0.8 1.1 1.5 2.0)
kills=0
done_run=0
for d in "${delays[@]}" "${delays[@]}" "${delays[@]}"; do
	"$FERRY" copy --quiet --chunk-rows 5000 "$T/src.db" "$T/dst.db" > /dev/null 2>&1 &
	pid=$!
	sleep "$d"
	if kill -9 "$pid" 2> /dev/null; then
		kills=$((kills + 1))
		wait "$pid" 2> /dev/null || true
	else
		wait "$pid" && { done_run=1; break; }
	fi
done
[ "$done_run" = 1 ] || "$FERRY" copy --quiet --chunk-rows 5000 "$T/src.db" "$T/dst.db" > /dev/null
echo "killed $kills times before a run finished"
[ "$kills" -ge 1 ] && ok "at least one run was killed mid-copy" || fail "no run was killed (the copy finished too fast)"
check "big equals the source" "300000 300000 0 0" "$(same_rows "$T/dst.db" big "$T/src.db" big)"
check "bag (no key) has every row exactly once" "40000" "$(sqlite3 "$T/dst.db" 'SELECT count(*) FROM bag')"
check "bag's duplicates kept exactly" "$(sqlite3 "$T/src.db" 'SELECT group_concat(n) FROM (SELECT a, count(*) n FROM bag GROUP BY a ORDER BY a)')" \
	"$(sqlite3 "$T/dst.db" 'SELECT group_concat(n) FROM (SELECT a, count(*) n FROM bag GROUP BY a ORDER BY a)')"
check "the target database is intact" "ok" "$(sqlite3 "$T/dst.db" 'PRAGMA integrity_check')"

# Ctrl-C stops at a chunk boundary: exit 130, one line saying so, and the rerun resumes.
rm -f "$T"/int.db*
"$FERRY" copy --quiet --chunk-rows 2000 -j 1 "$T/src.db" "$T/int.db" > /dev/null 2> "$T/int.err" &
pid=$!
sleep 0.4
kill -INT "$pid" 2> /dev/null || true
set +e
wait "$pid"
code=$?
set -e
if [ "$code" = 0 ]; then
	ok "SIGINT came after the copy had finished (nothing to check)"
else
	check "SIGINT exits 130" "130" "$code"
	check "SIGINT says why in one line" "1" "$(grep -c '^ferry: interrupted' "$T/int.err")"
fi
"$FERRY" copy --quiet --chunk-rows 2000 "$T/src.db" "$T/int.db" > /dev/null
check "after SIGINT the rerun completes the copy" "300000 300000 0 0" "$(same_rows "$T/int.db" big "$T/src.db" big)"
finish
