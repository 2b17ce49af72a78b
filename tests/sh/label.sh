#!/usr/bin/env bash
# label.sh — the two-step migration: export (read step) into a label, import (write step)
# from it, possibly after moving it; resume of both after kill -9; stage order; refusal of
# incomplete and damaged labels naming the file; version resolution on import; file modes.
source "$(dirname "$0")/lib.sh"
cd "$T"
sqlite3 v1.db <<'SQL'
CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT NOT NULL, legacy TEXT, price REAL);
CREATE TABLE notes(item_id INTEGER REFERENCES items(id), body TEXT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
INSERT INTO items SELECT i, 'item ' || i, 'x', i * 0.25 FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
INSERT INTO notes SELECT 1 + i % 20000, CASE WHEN i % 3 = 0 THEN NULL ELSE 'note ' || i END FROM n;
SQL
cat > v2.sql <<'SQL'
CREATE TABLE products(id INTEGER PRIMARY KEY, title TEXT NOT NULL, price REAL, currency TEXT NOT NULL DEFAULT 'EUR');
CREATE TABLE notes(item_id INTEGER REFERENCES products(id), body TEXT);
SQL
cat > plan.yaml <<'YAML'
source: sqlite:v1.db
target: sqlite:v2.db
target_schema: v2.sql
label: shop.label
chunk_rows: 1000
stages:
  - name: catalog
  - name: extras
    after: [catalog]
tables:
  - table: items
    stage: catalog
    rename: products
    columns:
      title: name
      legacy: { drop: true }
  - table: notes
    stage: extras
YAML
expect_same() { # the v2 target holds exactly the v1 rows, renamed
	check "$1: products" "20000|20000|0" "$(sqlite3 v2.db "ATTACH 'v1.db' AS o;
		SELECT (SELECT count(*) FROM products), (SELECT count(*) FROM o.items),
		(SELECT count(*) FROM (SELECT id, name, price FROM o.items EXCEPT SELECT id, title, price FROM products))")"
	check "$1: notes" "5000|0" "$(sqlite3 v2.db "ATTACH 'v1.db' AS o; SELECT (SELECT count(*) FROM notes),
		(SELECT count(*) FROM (SELECT * FROM o.notes EXCEPT SELECT * FROM notes))")"
}

# Export with a kill -9 in the middle, then resume it.
set +e
FERRY_FAULT=kill-before-commit:7 "$FERRY" export -q -p plan.yaml > /dev/null 2>&1
check "export killed mid-way" "137" "$?"
"$FERRY" import -q -p plan.yaml > out.txt 2> err.txt
code=$?
set -e
check "import refuses a label whose read step is incomplete" "2" "$code"
check "... naming the stage and its tables" "1" "$(grep -c 'stage "catalog" was not completely read (missing chunks of products)' err.txt)"
[ ! -e v2.db ] && ok "... and creates no target" || fail "a refused import created the target"
[ -z "$(find shop.label -name '*.tmp')" ] || true
"$FERRY" export -q --json -p plan.yaml > export.json
check "export resumed to the end: every row once" "25000" "$(python3 -c 'import json; print(json.load(open("export.json"))["totals"]["written"])')"
"$FERRY" label verify shop.label > verify.txt
check "label verify passes" "1" "$(grep -c 'every block and checksum is right' verify.txt)"
check "label directories are 0700" "700" "$(stat -c %a shop.label shop.label/catalog | sort -u)"
check "label files are 0600" "600" "$(find shop.label -type f -exec stat -c %a {} + | sort -u)"
"$FERRY" label inspect --json shop.label > inspect.json
check "inspect --json counts rows" "25000" "$(python3 -c 'import json; print(json.load(open("inspect.json"))["rows"])')"

# Move the label, then import stage by stage, the second one killed and resumed.
mv shop.label moved.label
set +e
"$FERRY" import -q -p plan.yaml --label moved.label --stage extras > /dev/null 2> err.txt
check "a stage before the stage it comes after is refused" "2" "$?"
set -e
check "... saying which" "1" "$(grep -c 'comes after stage "catalog"' err.txt)"
"$FERRY" import -q -p plan.yaml --label moved.label --stage catalog > /dev/null
set +e
FERRY_FAULT=kill-after-commit:2 "$FERRY" import -q -p plan.yaml --label moved.label --stage extras > /dev/null 2>&1
check "import killed mid-way" "137" "$?"
set -e
"$FERRY" import -q -p plan.yaml --label moved.label > /dev/null
expect_same "import after a move and a kill"
again=$("$FERRY" import --json -p plan.yaml --label moved.label | python3 -c 'import json,sys; print(json.load(sys.stdin)["already_complete"])')
check "a finished import run again says so" "True" "$again"

# Version resolution: the label's rows into a target one version further on.
cat > v3.sql <<'SQL'
CREATE TABLE products(id INTEGER PRIMARY KEY, title TEXT NOT NULL, stock INTEGER DEFAULT 0);
CREATE TABLE notes(item_id INTEGER, body TEXT);
SQL
rm -f v3.db*
"$FERRY" import --check moved.label v3.db > check.txt 2>&1 || true
sqlite3 v3.db < v3.sql
"$FERRY" import --check moved.label v3.db > check.txt 2>&1
check "--check reports the column the target lacks" "1" "$(grep -c 'column "price" is not in the target table; dropped' check.txt)"
check "--check reports the column the label lacks" "1" "$(grep -c 'column "stock" is not in the source; it takes the target' check.txt)"
check "--check writes nothing" "0" "$(sqlite3 v3.db 'SELECT count(*) FROM products')"
set +e
"$FERRY" import -q --strict moved.label v3.db > /dev/null 2> err.txt
check "--strict refuses the drop" "2" "$?"
set -e
"$FERRY" import -q moved.label v3.db > /dev/null
check "import into the next version: rows arrive, new column defaulted" "20000|0" "$(sqlite3 v3.db 'SELECT count(*), max(stock) FROM products')"

# One label, several read steps at different times, one stage each; a conversion is reported.
rm -rf staged.label staged.db*
"$FERRY" export -q -p plan.yaml --label staged.label --stage catalog > /dev/null
check "after the first read step, only its stage is in the label" "catalog" "$(python3 -c 'import json; print(",".join(s["name"] for s in json.load(open("staged.label/manifest.json"))["stages"]))')"
"$FERRY" export -q -p plan.yaml --label staged.label --stage extras > /dev/null
"$FERRY" label verify staged.label > /dev/null && ok "the second read step added its stage; the label verifies" || fail "staged label does not verify"
sqlite3 staged.db "CREATE TABLE products(id INTEGER PRIMARY KEY, title TEXT NOT NULL, price TEXT); CREATE TABLE notes(item_id INTEGER, body TEXT);"
"$FERRY" import --check staged.label staged.db > check.txt 2>&1
check "--check reports a converted column" "1" "$(grep -c 'column "price" is converted from float to text' check.txt)"
"$FERRY" import -q staged.label staged.db > /dev/null
check "both stages arrive" "20000|5000" "$(sqlite3 staged.db 'SELECT (SELECT count(*) FROM products), (SELECT count(*) FROM notes)')"

# Damage: each is refused with the file named, and nothing of the bad chunk is loaded.
damage() { # NAME EXPECTED-MESSAGE-PART LO HI COMMAND... (ids LO..HI are the damaged chunk's)
	local name=$1 want=$2 lo=$3 hi=$4
	shift 4
	rm -rf bad.label bad.db*
	cp -r moved.label bad.label
	"$@"
	set +e
	"$FERRY" import -q bad.label bad.db > /dev/null 2> err.txt
	local code=$?
	set -e
	check "$name: import fails" "1" "$([ "$code" -ne 0 ] && echo 1 || echo 0)"
	check "$name: one line naming it" "1" "$(grep -c "$want" err.txt)"
	if [ -f bad.db ]; then
		check "$name: no row of the damaged chunk was loaded" "0" \
			"$(sqlite3 bad.db "SELECT count(*) FROM products WHERE id BETWEEN $lo AND $hi" 2> /dev/null || echo 0)"
	fi
	check "$name: label verify fails too" "1" "$("$FERRY" label verify bad.label > /dev/null 2>&1 && echo 0 || echo 1)"
}
chunk=bad.label/catalog/000000-products/000003.chunk
damage "truncated chunk" "000003.chunk" 3001 4000 truncate -s -20 "$chunk"
damage "flipped byte" "000003.chunk" 3001 4000 python3 -c "
import sys; p='$chunk'; b=bytearray(open(p,'rb').read()); b[len(b)//2]^=0x40; open(p,'wb').write(b)"
damage "missing chunk" "000003.chunk" 3001 4000 rm "$chunk"
damage "hand-edited manifest" "manifest.json" 1 20000 sed -i 's/"rows": 1000/"rows": 999/' bad.label/manifest.json
other=$(mktemp -d)
"$FERRY" export -q v1.db "$other/other.label" > /dev/null
damage "chunk from another label" "000000.chunk" 1 1000 cp "$other/other.label/main/000000-items/000000.chunk" bad.label/catalog/000000-products/000000.chunk
rm -rf "$other"
# label inspect: names whole (they were cut at 32 characters), each table's columns and
# types, and the chunks an export that stopped left on disk before its manifest recorded
# them (it said 0 of N while the files were there).
long=a_table_whose_name_is_much_longer_than_thirty_two_characters
sqlite3 long.db "CREATE TABLE $long(id INTEGER PRIMARY KEY, v TEXT NOT NULL, n REAL);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 3000)
INSERT INTO $long SELECT i, 'v' || i, i * 0.5 FROM c;"
set +e
FERRY_FAULT=kill-after-commit:3 "$FERRY" export -q -j 1 --chunk-rows 500 long.db long.label > /dev/null 2>&1
set -e
"$FERRY" label inspect long.label > insp.txt
check "inspect shows the whole name" "1" "$(grep -c "^  $long  *1500  *3/6 " insp.txt)"
check "inspect shows the columns with their types" "1" \
	"$(grep -c '^    columns: id integer (INTEGER, primary key), v text (TEXT, not null), n float (REAL)$' insp.txt)"
check "inspect counts the chunk files the manifest does not record yet" "1" \
	"$(grep -c '3 of 6 chunks written, 3 of them on disk but not yet in the manifest' insp.txt)"
"$FERRY" label inspect --json long.label > insp.json
check "inspect --json: chunks written, recorded and not, columns" "1500 3 0 3 id:integer:True v:text" \
	"$(python3 -c '
import json; t = json.load(open("insp.json"))["stages"][0]["tables"][0]
c = t["columns"]
print(t["rows"], t["chunks_written"], t["chunks_recorded"], t["chunks_unrecorded"],
      "%s:%s:%s" % (c[0]["name"], c[0]["type"], c[0]["primary_key"]), "%s:%s" % (c[1]["name"], c[1]["type"]))')"
"$FERRY" export -q -j 1 --chunk-rows 500 long.db long.label
"$FERRY" label inspect long.label > insp2.txt
check "after the export resumed: complete, every row" "1" "$(grep -c "^  $long  *3000  *6/6 " insp2.txt)"

finish
