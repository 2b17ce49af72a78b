#!/usr/bin/env bash
# progress-tty.sh — the progress display in an 80-column terminal (issue #17 "Why" 5: bars
# about 105 characters wide wrapped and the redraw left stale lines; after the rows ferry was
# silent while it built keys and indexes). tmux runs ferry copy in an 80x24 window; the screen
# is captured while it runs: no bar wider than 80 (wrapped lines joined by capture-pane -J),
# the steps after the rows shown, and at the end no bar left on the screen.
source "$(dirname "$0")/lib.sh"
cd "$T"
command -v tmux > /dev/null || { echo "skipped: no tmux"; finish; exit 0; }

sqlite3 src.db <<'SQL'
CREATE TABLE a_table_with_a_rather_long_name_for_the_bar(id INTEGER PRIMARY KEY, k TEXT, v TEXT, w INTEGER);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300000)
INSERT INTO a_table_with_a_rather_long_name_for_the_bar SELECT i, hex(randomblob(8)), 'value ' || i, i % 977 FROM n;
CREATE INDEX idx_k ON a_table_with_a_rather_long_name_for_the_bar(k);
CREATE INDEX idx_v ON a_table_with_a_rather_long_name_for_the_bar(v);
CREATE INDEX idx_w ON a_table_with_a_rather_long_name_for_the_bar(w, k);
CREATE TABLE small(id INTEGER PRIMARY KEY, x TEXT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000)
INSERT INTO small SELECT i, 'x' || i FROM n;
SQL

sock="ferry-test-$$"
tm() { tmux -L "$sock" "$@"; }
trap 'tm kill-server 2> /dev/null || true; rm -rf "$T"' EXIT
tm -f /dev/null new-session -d -x 80 -y 24 -s p "env TERM=xterm COLUMNS= '$FERRY' copy -j 2 --chunk-rows 20000 src.db dst.db > out.txt; echo FERRY-DONE; sleep 60"
tm set-option -t p status off > /dev/null 2>&1 || true
wide=0 phases=0 bars=0
for _ in $(seq 1 1200); do
	tm capture-pane -p -J -t p > screen.txt 2> /dev/null || break
	# The lines redrawn in place (bars, the step after the rows); a finished table's line is
	# printed once and may wrap like any text.
	w=$({ grep -E 'ETA|after the rows' screen.txt || true; } | awk '{ n = length($0); if (n > m) m = n } END { print m + 0 }')
	[ "$w" -gt 80 ] && wide=$w
	grep -q 'after the rows:' screen.txt && phases=$((phases + 1))
	grep -q 'ETA' screen.txt && bars=$((bars + 1))
	grep -q FERRY-DONE screen.txt && break
	sleep 0.05
done
check "ferry finished" "1" "$(grep -c FERRY-DONE screen.txt)"
check "no bar or status line wider than the 80-column terminal" "0" "$wide"
[ "$bars" -gt 0 ] && ok "bars were drawn ($bars captures)" || fail "no bar was ever drawn"
[ "$phases" -gt 0 ] && ok "the steps after the rows were shown ($phases captures)" || fail "the steps after the rows were never shown"
check "no bar left on the screen at the end" "0" "$(grep -c 'ETA' screen.txt || true)"
check "the finished tables are listed once each" "1 1" \
	"$(grep -c '^a_table_with_a_rather_long_name_for_the_bar <- ' screen.txt) $(grep -c '^small <- ' screen.txt)"
check "every row arrived" "300000" "$(sqlite3 dst.db 'SELECT count(*) FROM a_table_with_a_rather_long_name_for_the_bar')"
finish
