#!/usr/bin/env bash
# stages.sh — `ferry copy --stage NAME` runs one stage: a stage whose prerequisites are not
# done is refused (exit 2, nothing loaded); run in order, each loads its own tables only; a
# whole run afterwards finds nothing left to do and loads nothing twice.
source "$(dirname "$0")/lib.sh"
cd "$T"

sqlite3 src.db <<'SQL'
CREATE TABLE countries(code TEXT PRIMARY KEY, name TEXT NOT NULL);
INSERT INTO countries VALUES ('FR', 'France'), ('JP', 'Japan');
CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT, country TEXT REFERENCES countries(code));
INSERT INTO customers VALUES (1, 'ann', 'FR'), (2, 'bob', 'JP'), (3, 'cy', NULL);
CREATE TABLE orders(id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers(id), total INTEGER);
INSERT INTO orders VALUES (100, 1, 50), (101, 1, 70), (102, 3, 5);
CREATE TABLE notes(t TEXT);
INSERT INTO notes VALUES ('a'), ('a');
SQL
cat > plan.yaml <<'YAML'
source: src.db
target: dst.db
stages:
  - name: reference
  - name: customers
    after: reference
  - name: orders
    after: [reference, customers]
tables:
  - table: countries
    stage: reference
  - table: customers
    stage: customers
  - table: orders
    stage: orders
YAML

# run NAME ARGS...: exit code in $code, stderr in err.txt, stdout in out.json
run() {
	set +e
	"$FERRY" copy --quiet --json -p plan.yaml "$@" > out.json 2> err.txt
	code=$?
	set -e
}
count() { # count TABLE: rows in dst.db, or "none" when the table does not exist
	sqlite3 dst.db "SELECT count(*) FROM \"$1\"" 2> /dev/null || echo none
}
# The summary counts the whole run (every invocation of it), as after a resume.
written() { # written: the JSON summary's total written
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["totals"]["written"])' out.json
}
fresh() { # fresh: chunks this invocation loaded (chunks not resumed from an earlier one)
	python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["tables"]; print(sum(x["chunks"] - x["chunks_resumed"] for x in t))' out.json
}
complete() {
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["already_complete"])' out.json
}

run --stage orders
check "orders before its prerequisites: exit code" "2" "$code"
check "orders before its prerequisites: one line" "1" "$(wc -l < err.txt)"
grep -q '^ferry: stage "orders" comes after stage "reference", which is not done yet' err.txt \
	&& ok "orders before its prerequisites: names the missing stage" \
	|| fail "orders before its prerequisites: names the missing stage: $(cat err.txt)"
check "orders before its prerequisites: no orders loaded" "none" "$(count orders)"

run --stage customers
check "customers before reference: exit code" "2" "$code"
grep -q 'reference' err.txt && ok "customers before reference: names reference" || fail "customers before reference: $(cat err.txt)"

run --stage nosuch
check "unknown stage: exit code" "2" "$code"
grep -q '^ferry: .*nosuch' err.txt && ok "unknown stage: named" || fail "unknown stage: named: $(cat err.txt)"

run --stage reference
check "reference: exit code" "0" "$code"
check "reference: writes its 2 rows (and the unnamed table notes, in the first stage)" "4" "$(written)"
check "reference: countries loaded" "2" "$(count countries)"
check "reference: customers not loaded" "0" "$(count customers | sed 's/none/0/')"
check "reference: orders not loaded" "0" "$(count orders | sed 's/none/0/')"

run --stage orders
check "orders after reference only: exit code" "2" "$code"
grep -q 'customers' err.txt && ok "orders after reference only: names customers" || fail "orders after reference only: $(cat err.txt)"

run --stage reference
check "reference again: exit code" "0" "$code"
check "reference again: loads no chunk" "0" "$(fresh)"
check "reference again: the summary still counts the stage's rows" "4" "$(written)"
check "reference again: countries not doubled" "2" "$(count countries)"

run --stage customers
check "customers: exit code" "0" "$code"
check "customers: writes 3" "3" "$(written)"
check "customers: loaded" "3" "$(count customers)"
check "customers: orders still empty" "0" "$(count orders | sed 's/none/0/')"

run --stage orders
check "orders: exit code" "0" "$code"
check "orders: writes 3" "3" "$(written)"
check "orders: loaded" "3" "$(count orders)"

run
check "whole run after every stage: exit code" "0" "$code"
check "whole run after every stage: already complete" "True" "$(complete)"
check "whole run after every stage: loads no chunk" "0" "$(fresh)"
check "whole run after every stage: the summary counts every stage's rows" "10" "$(written)"
for t in countries customers orders notes; do
	check "after all: $t equals the source" "$(same_rows src.db $t src.db $t)" "$(same_rows dst.db $t src.db $t)"
done
check "after all: no dangling foreign key" "0" "$(sqlite3 dst.db 'SELECT count(*) FROM pragma_foreign_key_check')"
finish
