#!/usr/bin/env bash
# dry-run.sh — a preview of the run (issue #17 "Why" 4: --check printed "total 0 0 0 0" and
# notes, and `copy --dry-run` was an unknown option): --check and --dry-run of copy, export
# and import print the DDL, each target table with its columns, types and where each value
# comes from, the row estimates and chunks, the stages and what waits, what is dropped; as
# JSON too; and write nothing.
source "$(dirname "$0")/lib.sh"
cd "$T"

sqlite3 src.db <<'SQL'
CREATE TABLE customer(id INTEGER PRIMARY KEY, name TEXT NOT NULL, legacy TEXT);
CREATE TABLE orders(id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customer(id), total REAL);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 120)
INSERT INTO customer SELECT i, 'c' || i, 'x' FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 250)
INSERT INTO orders SELECT i, 1 + i % 120, i * 2.5 FROM n;
SQL
cat > schema.sql <<'SQL'
CREATE TABLE customers(id INTEGER PRIMARY KEY, title TEXT NOT NULL, slug TEXT NOT NULL, tier TEXT NOT NULL DEFAULT 'basic', currency TEXT NOT NULL);
CREATE TABLE orders(id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers(id), total REAL);
SQL
cat > plan.yaml <<'YAML'
source: src.db
target: out.db
target_schema: schema.sql
chunk_rows: 100
stages:
  - name: people
  - name: sales
    after: [people]
tables:
  - table: customer
    stage: people
    rename: customers
    columns:
      title: name
      slug: { expr: "lower(name)" }
      currency: { default: EUR }
      legacy: { drop: true }
  - table: orders
    stage: sales
    where: "total > 10"
YAML

for opt in --dry-run --check; do
	set +e
	"$FERRY" copy $opt -p plan.yaml > out.txt 2> err.txt
	code=$?
	set -e
	check "copy $opt: exit 0" "0" "$code"
	check "copy $opt: nothing written" "" "$(ls | grep '^out\.db' || true)"
done
has() { grep -qF -- "$2" out.txt && ok "$1" || fail "$1: no [$2] in: $(cat out.txt)"; }
has "the target schema's DDL" "CREATE TABLE customers(id INTEGER PRIMARY KEY"
has "a column from a renamed source column" "column name"
has "a column from an expr" "expr lower(name)"
has "a column from the plan's default" "default EUR"
has "a column taking the target's default" "target default 'basic'"
has "the types" "TEXT"
has "row estimates and chunks" "120 rows in the source, 2 chunks of up to 100"
has "the where" "where total > 10"
has "what waits" "stage sales (waits for people)"
has "what is dropped" 'column "legacy" dropped by the plan'
grep -q 'total  *0  *0' out.txt && fail "the figures of nothing are printed" || ok "no figures of rows that did not move"

"$FERRY" copy --dry-run --json -p plan.yaml > out.json
check "--json: the preview as JSON" "customers:slug:expr:lower(name) orders:250:3:total > 10 1" "$(python3 - <<'PY'
import json
d = json.load(open("out.json"))["preview"]
t = [t for s in d["stages"] for t in s["tables"]]
c = [c for c in t[0]["columns"] if c["name"] == "slug"][0]
print("%s:%s:%s:%s %s:%d:%d:%s %d" % (t[0]["target"], c["name"], c["from"], c["value"],
      t[1]["target"], t[1]["est_rows"], t[1]["est_chunks"], t[1]["where"], len(d["ddl"])))
PY
)"

"$FERRY" copy --dry-run src.db plain.db > out.txt
has "the DDL of a table ferry creates" 'CREATE TABLE orders(id INTEGER PRIMARY KEY'
check "a plan-less --dry-run writes nothing" "" "$(ls | grep '^plain\.db' || true)"

"$FERRY" export --dry-run -p plan.yaml --label "$T/l.label" > out.txt
has "export --dry-run: the label's tables" "customers <- source.customer: 120 rows in the source"
check "export --dry-run: no label directory" "" "$(ls | grep 'l\.label' || true)"
"$FERRY" export -q -p plan.yaml --label "$T/l.label"
"$FERRY" import --dry-run -p plan.yaml --label "$T/l.label" > out.txt
has "import --dry-run: the columns of the target" "slug"
check "import --dry-run: nothing written" "" "$(ls | grep '^out\.db' || true)"

# Once the target's ferry_history holds the target schema (a run applied it), a dry-run of
# another run shows no DDL it would not execute: the note says it is not applied again.
"$FERRY" copy -q -p plan.yaml
sed 's/lower(name)/upper(name)/' plan.yaml > plan-b.yaml
"$FERRY" copy --dry-run --truncate -p plan-b.yaml > out.txt
check "dry-run of another run: the applied target schema is not shown as DDL" "0 1" \
	"$(grep -c 'target schema schema.sql' out.txt) $(grep -c 'note: target schema "schema.sql" is in the target already' out.txt)"
"$FERRY" copy --dry-run --truncate --json -p plan-b.yaml > out.json
check "... nor in --json" "0" "$(python3 -c 'import json; print(sum("CREATE TABLE customers" in d for d in json.load(open("out.json"))["preview"]["ddl"]))')"
finish
