#!/usr/bin/env bash
# merge-order.sh — merges follow the plan's order, not thread timing: two sources with the
# same keys into one table with first/last rules give the same result run after run, with
# small chunks and several reader threads.
source "$(dirname "$0")/lib.sh"
for s in a b; do
	sqlite3 "$T/$s.db" "CREATE TABLE t(id INTEGER PRIMARY KEY, f TEXT, l TEXT, n INTEGER);
		WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 3000)
		INSERT INTO t SELECT i, '$s' || i, '$s' || i, 1 FROM k;"
done
cat > "$T/plan.yaml" <<'YAML'
sources:
  a: sqlite:a.db
  b: sqlite:b.db
target: sqlite:out.db
chunk_rows: 100
threads: 4
tables:
  - table: t
    source: a
    columns: { f: { conflict: first }, l: { conflict: last }, n: { conflict: sum } }
  - table: t
    source: b
    columns: { f: { conflict: first }, l: { conflict: last }, n: { conflict: sum } }
YAML
for i in 1 2 3 4 5 6; do
	rm -f "$T"/out.db*
	"$FERRY" copy --quiet -p "$T/plan.yaml" > /dev/null
	got=$(sqlite3 "$T/out.db" "SELECT count(*), sum(f LIKE 'a%'), sum(l LIKE 'b%'), sum(n) FROM t")
	check "run $i: first keeps source a, last takes source b, sum adds both" "3000|3000|3000|6000" "$got"
done
finish
