#!/usr/bin/env bash
# pg-collate.sh — columns' collations across engines (issue #16: nothing of the schema
# vanishes without a note). SQLite NOCASE/RTRIM -> PostgreSQL: not created, one note each
# (code, table, column), every row there and verified; PostgreSQL "C"/"POSIX" -> PostgreSQL
# carried (pg_attribute.attcollation), -> SQLite as BINARY; a collation the target database
# lacks: one note, the column gets its type's default; carried once the target has it.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../pg/pg.sh"
cd "$T"

# The collation notes of a --json summary, "table.column: message" one a line, sorted.
coll_notes() {
	python3 - "$1" <<'PY'
import json, sys
notes = json.load(open(sys.argv[1]))["notes"]
print("\n".join(sorted("%s.%s: %s" % (n["table"], n["column"], n["message"]) for n in notes
                       if n["code"] == "collation_not_created")))
PY
}
# Every note of a --json summary whose message mentions a collation, counted.
coll_mentions() {
	python3 -c 'import json,sys; print(sum("collation" in n["message"].lower() for n in json.load(open(sys.argv[1]))["notes"]))' "$1"
}
# Each column of table $2 in database $1 with its own collation ("-" for the type's default).
pg_colls() {
	pgq "$1" "SELECT a.attname || ' ' || CASE WHEN a.attcollation = t.typcollation THEN '-' ELSE
	  (SELECT CASE WHEN n.nspname = 'pg_catalog' THEN '' ELSE n.nspname || '.' END || l.collname
	   FROM pg_collation l JOIN pg_namespace n ON n.oid = l.collnamespace WHERE l.oid = a.attcollation) END
	  FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
	  WHERE a.attrelid = '$2'::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"
}

# ---- SQLite -> PostgreSQL -> SQLite -------------------------------------------------------
sqlite3 src.db <<'SQL'
CREATE TABLE words(id INTEGER PRIMARY KEY, ci TEXT COLLATE NOCASE, tr TEXT COLLATE RTRIM,
  bin TEXT COLLATE BINARY, plain TEXT);
INSERT INTO words VALUES (1, 'Apple', 'a  ', 'x', 'p'), (2, 'apple', 'a', 'X', 'P'),
  (3, 'ÄPFEL', 'b ', NULL, NULL), (4, NULL, NULL, 'y', 'q');
CREATE TABLE tags(name TEXT PRIMARY KEY COLLATE NOCASE, n INTEGER) WITHOUT ROWID;
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 500)
INSERT INTO tags SELECT CASE WHEN i % 2 THEN 'Tag' ELSE 'tag_' END || i, i FROM s;
INSERT INTO tags VALUES ('ÄÖ', 1000), ('äö', 1001), ('Zeta', 1002), ('alpha', 1003);
SQL
pg_newdb db1
cat > up.yaml <<EOF
source: src.db
target: $(pg_url "$db1")
chunk_rows: 100
EOF
"$FERRY" copy --json -p up.yaml > s1.json 2> e1.txt || fail "sqlite -> postgres copy failed: $(cat e1.txt)"
check "sqlite -> postgres: NOCASE and RTRIM are one note each, naming table.column and what to do" \
'tags.name: collation NOCASE of column "name" of "tags" is not created in "tags": PostgreSQL has no such collation (declare the column in a target_schema as citext, or with a nondeterministic ICU collation)
words.ci: collation NOCASE of column "ci" of "words" is not created in "words": PostgreSQL has no such collation (declare the column in a target_schema as citext, or with a nondeterministic ICU collation)
words.tr: collation RTRIM of column "tr" of "words" is not created in "words": PostgreSQL has no such collation (trailing blanks count there: declare the column in a target_schema, or compare rtrim() of it)' \
	"$(coll_notes s1.json)"
check "sqlite -> postgres: no other note of a collation (BINARY is both engines' plain order)" "3" "$(coll_mentions s1.json)"
check "sqlite -> postgres: the tables are created, every column with its type's collation" \
	"id -|ci -|tr -|bin -|plain -|name -|n -" "$(pg_colls "$db1" words | paste -sd '|')|$(pg_colls "$db1" tags | paste -sd '|')"
check "sqlite -> postgres: every row arrives, values unchanged" \
	"$(sqlite3 -separator '|' src.db "SELECT id, ci, tr, bin, plain FROM words ORDER BY id")|$(sqlite3 src.db "SELECT count(*), sum(n) FROM tags" | tr '|' ' ')" \
	"$(pgq "$db1" "SELECT id, ci, tr, bin, plain FROM words ORDER BY id")|$(pgq "$db1" "SELECT count(*), sum(n) FROM tags" | tr '|' ' ')"
check "sqlite -> postgres: the case variants of a NOCASE key are kept apart in PostgreSQL" \
	"ÄÖ|äö" "$(pgq "$db1" "SELECT name FROM tags WHERE name IN ('ÄÖ', 'äö') ORDER BY n" | paste -sd '|')"
check "sqlite -> postgres: ferry verify --full (a NOCASE key compared as values)" "exit=0" "$(vj --full -p up.yaml)"
"$FERRY" copy -q "$(pg_url "$db1")" back.db > /dev/null 2> e2.txt || fail "postgres -> sqlite copy failed: $(cat e2.txt)"
check "sqlite -> postgres -> sqlite: the rows come back the same" "4 4 0 0|504 504 0 0" \
	"$(same_rows src.db words back.db words)|$(same_rows src.db tags back.db tags)"
check "sqlite -> postgres -> sqlite: the collations PostgreSQL could not hold stay behind (noted on the way there)" \
	"0" "$(sqlite3 back.db "SELECT count(*) FROM sqlite_master WHERE sql LIKE '%COLLATE%'")"
check "sqlite -> postgres -> sqlite: ferry verify --full" "exit=0" "$(vj --full "$(pg_url "$db1")" back.db)"

# ---- PostgreSQL -> PostgreSQL and -> SQLite -----------------------------------------------
pg_newdb pgsrc
pgq "$pgsrc" "CREATE COLLATION public.\"Mine C\" (locale = 'C');
CREATE TABLE p(id bigint PRIMARY KEY, c text COLLATE \"C\", px varchar(20) COLLATE \"POSIX\",
  mine text COLLATE public.\"Mine C\", plain text);
CREATE TABLE k(code text COLLATE \"C\" PRIMARY KEY, v int);
INSERT INTO p VALUES (1, 'b', 'B', 'x', 'p'), (2, 'a', 'A', 'X', 'P'), (3, 'é', NULL, NULL, 'q');
INSERT INTO k SELECT 'k' || i, i FROM generate_series(1, 300) i;
INSERT INTO k VALUES ('K1', -1), ('é', -2);" > /dev/null
pg_newdb pgdst
cat > pp.yaml <<EOF
source: $(pg_url "$pgsrc")
target: $(pg_url "$pgdst")
chunk_rows: 100
EOF
"$FERRY" copy --check --json -p pp.yaml > c3.json 2> e3c.txt || fail "postgres -> postgres --check failed: $(cat e3c.txt)"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("\n".join(d.get("ddl", d.get("preview", {}).get("ddl", []))))' c3.json > ddl3.txt 2>/dev/null || true
grep -q 'COLLATE "C"' ddl3.txt && grep -q 'COLLATE public."Mine C"' ddl3.txt \
	&& ok "postgres -> postgres --check: the DDL shows the collations" || fail "--check DDL: $(cat c3.json)"
"$FERRY" copy --json -p pp.yaml > s3.json 2> e3.txt || fail "postgres -> postgres copy failed: $(cat e3.txt)"
check "postgres -> postgres: C and POSIX carried; a collation the target lacks is the type's default" \
	"id -|c C|px POSIX|mine -|plain -|code C|v -" "$(pg_colls "$pgdst" p | paste -sd '|')|$(pg_colls "$pgdst" k | paste -sd '|')"
n3=$(coll_notes s3.json)
case "$n3" in
"p.mine: collation public.\"Mine C\" of column \"mine\" of \"p\" is not created: database \"$pgdst\" "*" has no such collation (the column has its type's default; CREATE COLLATION in the target before the copy, or declare the column in a target_schema)")
	ok "postgres -> postgres: the missing collation is one note, naming table.column and the target" ;;
*) fail "postgres -> postgres: the note of the missing collation: [$n3]" ;;
esac
check "postgres -> postgres: no blanket note of the collations carried" "1" "$(coll_mentions s3.json)"
check "postgres -> postgres: every row" "3|302" "$(pgq "$pgdst" "SELECT count(*) FROM p")|$(pgq "$pgdst" "SELECT count(*) FROM k")"
check "postgres -> postgres: ferry verify --full" "exit=0" "$(vj --full -p pp.yaml)"
pg_newdb pghas
pgq "$pghas" "CREATE COLLATION public.\"Mine C\" (locale = 'C')" > /dev/null
"$FERRY" copy --json "$(pg_url "$pgsrc")" "$(pg_url "$pghas")" > s4.json 2> e4.txt || fail "postgres -> postgres (with the collation) failed: $(cat e4.txt)"
check "postgres -> postgres: a schema's own collation is carried where the target has it" \
	"id -|c C|px POSIX|mine public.Mine C|plain -|0" "$(pg_colls "$pghas" p | paste -sd '|')|$(coll_mentions s4.json)"

"$FERRY" copy --json "$(pg_url "$pgsrc")" low.db > s5.json 2> e5.txt || fail "postgres -> sqlite copy failed: $(cat e5.txt)"
check "postgres -> sqlite: C and POSIX are SQLite's BINARY (the same byte order); another collation is not" \
	"CREATE TABLE \"p\"(\"id\" bigint NOT NULL, \"c\" text COLLATE BINARY, \"px\" character varying(20) COLLATE BINARY, \"mine\" text, \"plain\" text, PRIMARY KEY(\"id\"))" \
	"$(sqlite3 low.db "SELECT sql FROM sqlite_master WHERE name = 'p'")"
check "postgres -> sqlite: the collation SQLite lacks is one note" \
	"p.mine: collation public.\"Mine C\" of column \"mine\" of \"p\" is not created in \"p\": SQLite knows only BINARY, NOCASE and RTRIM (the column compares byte by byte; declare it in a target_schema with NOCASE if that fits)" \
	"$(coll_notes s5.json)"
check "postgres -> sqlite: every row, the key's order by bytes as in the source" \
	"$(pgq "$pgsrc" "SELECT string_agg(code, ',' ORDER BY code) FROM k")" \
	"$(sqlite3 low.db "SELECT group_concat(code, ',') FROM (SELECT code FROM k ORDER BY code)")"
check "postgres -> sqlite: ferry verify --full" "exit=0" "$(vj --full "$(pg_url "$pgsrc")" low.db)"

finish
