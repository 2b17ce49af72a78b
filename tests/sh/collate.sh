#!/usr/bin/env bash
# collate.sh — SQLite columns' collations SQLite -> SQLite (issue #16): NOCASE, RTRIM and
# BINARY kept whether the table is copied as written or rebuilt from its columns (renamed),
# in effect in the target (comparisons), shown by --check, and a NOCASE key verified.
source "$(dirname "$0")/lib.sh"
cd "$T"

sqlite3 src.db <<'SQL'
CREATE TABLE words(id INTEGER PRIMARY KEY, ci TEXT COLLATE NOCASE, tr TEXT COLLATE RTRIM,
  bin TEXT COLLATE BINARY, plain TEXT);
INSERT INTO words VALUES (1, 'Apple', 'a  ', 'x', 'p'), (2, 'apple', 'a', 'X', 'P'),
  (3, 'APPLE', 'b ', NULL, NULL), (4, NULL, NULL, 'y', 'q');
CREATE TABLE tags(name TEXT PRIMARY KEY COLLATE NOCASE, n INTEGER) WITHOUT ROWID;
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 700)
INSERT INTO tags SELECT CASE WHEN i % 2 THEN 'Tag' ELSE 'tag_' END || i, i FROM s;
INSERT INTO tags VALUES ('Zeta', 1000), ('alpha', 1001), ('_under', 1002), ('[bracket', 1003);
SQL
cat > same.yaml <<'EOF'
source: src.db
target: same.db
chunk_rows: 100
EOF
"$FERRY" copy -q -p same.yaml > /dev/null 2> e1.txt || fail "copy failed: $(cat e1.txt)"
check "sqlite -> sqlite: the tables as written, collations and all" \
	"$(sqlite3 src.db "SELECT sql FROM sqlite_master WHERE type = 'table' ORDER BY name")" \
	"$(sqlite3 same.db "SELECT sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'ferry%' AND name NOT LIKE 'sqlite%' ORDER BY name")"
check "sqlite -> sqlite: every row" "4 4 0 0|704 704 0 0" "$(same_rows src.db words same.db words)|$(same_rows src.db tags same.db tags)"
check "sqlite -> sqlite: ferry verify --full (a NOCASE key)" "exit=0" "$(vj --full -p same.yaml)"

# Renamed: the tables are rebuilt from their columns, which carry their collations.
cat > ren.yaml <<'EOF'
source: src.db
target: ren.db
chunk_rows: 100
tables:
  - table: words
    rename: terms
    columns:
      folded: ci
  - table: tags
    rename: labels
EOF
"$FERRY" copy --check --json -p ren.yaml > c2.json 2> e2c.txt || fail "--check failed: $(cat e2c.txt)"
check "sqlite -> sqlite renamed, --check: the DDL shows the collations" \
	'CREATE TABLE "labels" ("name" TEXT COLLATE NOCASE NOT NULL, "n" INTEGER, PRIMARY KEY ("name"));
CREATE TABLE "terms" ("id" INTEGER, "folded" TEXT COLLATE NOCASE, "tr" TEXT COLLATE RTRIM, "bin" TEXT, "plain" TEXT, PRIMARY KEY ("id"));' \
	"$(python3 -c 'import json,sys; print("\n".join(sorted(json.load(open(sys.argv[1]))["preview"]["ddl"])))' c2.json)"
"$FERRY" copy --json -p ren.yaml > s2.json 2> e2.txt || fail "renamed copy failed: $(cat e2.txt)"
check "sqlite -> sqlite renamed: the rebuilt tables keep NOCASE and RTRIM (BINARY is the default)" \
'CREATE TABLE "labels"("name" TEXT NOT NULL COLLATE NOCASE, "n" INTEGER, PRIMARY KEY("name")) WITHOUT ROWID
CREATE TABLE "terms"("id" INTEGER, "folded" TEXT COLLATE NOCASE, "tr" TEXT COLLATE RTRIM, "bin" TEXT, "plain" TEXT, PRIMARY KEY("id"))' \
	"$(sqlite3 ren.db "SELECT sql FROM sqlite_master WHERE name IN ('terms', 'labels') ORDER BY name")"
check "sqlite -> sqlite renamed: the collations are in effect (NOCASE, RTRIM, BINARY equalities)" \
	"3|2|1" \
	"$(sqlite3 ren.db "SELECT count(*) FROM terms WHERE folded = 'aPPle'")|$(sqlite3 ren.db "SELECT count(*) FROM terms WHERE tr = 'a'")|$(sqlite3 ren.db "SELECT count(*) FROM terms WHERE bin = 'x'")"
check "sqlite -> sqlite renamed: the NOCASE key refuses a case variant, as in the source" \
	"refused" "$(sqlite3 ren.db "INSERT INTO labels VALUES ('TAG1', 0)" > /dev/null 2>&1 && echo accepted || echo refused)"
check "sqlite -> sqlite renamed: no note of a collation" "0" \
	"$(python3 -c 'import json,sys; print(sum("collation" in n["message"].lower() for n in json.load(open(sys.argv[1]))["notes"]))' s2.json)"
check "sqlite -> sqlite renamed: every row" "4 4 0 0|704 704 0 0" "$(same_rows src.db words ren.db terms)|$(same_rows src.db tags ren.db labels)"
check "sqlite -> sqlite renamed: ferry verify --full (a NOCASE key)" "exit=0" "$(vj --full -p ren.yaml)"

# A label keeps rows and column types, not collations: an export says so of each.
"$FERRY" export --json src.db lab > s3.json 2> e3.txt || fail "export failed: $(cat e3.txt)"
check "sqlite -> label: one note per collation left behind" \
'tags.name: collation NOCASE of column "name" of "tags" is not created in "tags": a label keeps no collation (give the column its collation in the importing target'"'"'s target_schema)
words.ci: collation NOCASE of column "ci" of "words" is not created in "words": a label keeps no collation (give the column its collation in the importing target'"'"'s target_schema)
words.tr: collation RTRIM of column "tr" of "words" is not created in "words": a label keeps no collation (give the column its collation in the importing target'"'"'s target_schema)' \
	"$(python3 -c 'import json,sys; print("\n".join(sorted("%s.%s: %s" % (n["table"], n["column"], n["message"]) for n in json.load(open(sys.argv[1]))["notes"] if n["code"] == "collation_not_created")))' s3.json)"

finish
