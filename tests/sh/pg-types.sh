#!/usr/bin/env bash
# pg-types.sh — a table ferry creates in another engine takes its types from the values as well
# as the declaration (issue #16, docs/ENGINES.md "Types from the values"): SQLite's loose
# columns into PostgreSQL, computed and default-only columns, the plan's type:, NULL in a key,
# values unchanged (no padding, dates stay dates, a midnight into a date, text that is not
# UTF-8), --types=declared, and round trips SQLite -> PostgreSQL -> SQLite and PostgreSQL ->
# SQLite -> PostgreSQL with the schema compared. Each copy is compared value for value by
# sqlite3 and psql queries and by ferry verify --full.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../pg/pg.sh"
cd "$T"

pgtype() { # pgtype DB TABLE COLUMN: format_type of the column
	pgq "$1" "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = '\"$2\"'::regclass AND attname = '$3'"
}
verify_full() { # verify_full NAME ARGS...: ferry verify --full says OK
	local out
	if out=$("$FERRY" verify --full "${@:2}" 2>&1); then ok "$1: verify --full"; else fail "$1: verify --full: $out"; fi
}
note() { # note NAME FILE TEXT: the summary holds the note
	if grep -qF -- "$3" "$2"; then ok "$1"; else fail "$1: no note [$3] in $(cat "$2")"; fi
}

# ---- SQLite -> PostgreSQL, no plan: SQLite's loose typing -----------------------------
sqlite3 src.db <<'SQL'
CREATE TABLE loose(id INTEGER PRIMARY KEY, untyped, reals, mixed INTEGER, misspelt INTEGR,
  word STRING, mood mood, bytes, fixed CHAR(3), short VARCHAR(5), long VARCHAR(3),
  money NUMERIC(10,2), wide NUMERIC(4,1), days DATETIME, stamps DATETIME, both DATETIME,
  big INTEGER, flag BOOLEAN);
INSERT INTO loose VALUES
  (1, 1, 2.5, 7, 10, 'a', 'ok', x'00ff', 'ab', 'abc', 'abcdef', 12.5, 1.25, '2017-08-08',
   '2020-01-01 10:00:00', '2020-01-01', 1, 1),
  (2, -9000000000, 3, 'seven', 20, 'b', 'bad', x'01', 'abc', 'abcde', 'x', 7, 100, '2017-08-09',
   '1950-06-30 23:59:59.25', '2020-01-01 10:00:00', 2.5, 0),
  (3, NULL, -0.125, 7.5, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 100.25, NULL, NULL, NULL,
   NULL, 9007199254740993, NULL);
CREATE TABLE genre(GenreId INTEGER PRIMARY KEY, Name NVARCHAR(120));
INSERT INTO genre VALUES (1, 'Rock'), (2, 'Jazz'), (25, 'Opera');
CREATE TABLE invoice(InvoiceId INTEGER PRIMARY KEY, Total NUMERIC(10,2) NOT NULL);
INSERT INTO invoice VALUES (1, 1.98), (2, 13.86), (3, 3.96), (4, 0.99);
CREATE TABLE k(code TEXT PRIMARY KEY, v INTEGER);
INSERT INTO k VALUES ('a', 1), (NULL, 2), (NULL, 3), ('b', 4);
CREATE TABLE kref(id INTEGER PRIMARY KEY, code TEXT REFERENCES k(code));
INSERT INTO kref VALUES (1, 'a'), (2, 'b');
SQL
pg_newdb db1
"$FERRY" copy --json src.db "$(pg_url "$db1")" > s1.json 2> e1.txt
check "loose types: every row arrives" "3 3 4 4 2" \
	"$(pgq "$db1" "SELECT (SELECT count(*) FROM loose) || ' ' || (SELECT count(*) FROM genre) || ' ' || (SELECT count(*) FROM invoice) || ' ' || (SELECT count(*) FROM k) || ' ' || (SELECT count(*) FROM kref)")"
check "each column the narrowest type holding its values" \
	"bigint|bigint|double precision|text|bigint|text|text|bytea|character varying(3)|character varying(5)|text|numeric(10,2)|numeric|date|timestamp without time zone|text|numeric|boolean" \
	"$(pgq "$db1" "SELECT string_agg(format_type(atttypid, atttypmod), '|' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'loose'::regclass AND attnum > 0")"
note "an untyped column of integers is noted" s1.json 'column \"untyped\" of \"loose\" is declared without a type but holds only integers: created as bigint in \"loose\"'
note "an INTEGER column holding text is noted" s1.json 'column \"mixed\" of \"loose\" is declared INTEGER but holds text and numbers: created as text in \"loose\"'
note "CHAR(n) is created as varchar(n), with a note" s1.json 'column \"fixed\" of \"loose\" is declared CHAR(3) but is char(n), which pads its values: created as varchar(3)'
note "a DATETIME of dates becomes date" s1.json 'column \"days\" of \"loose\" is declared DATETIME but holds only dates: created as date'
note "dates beside timestamps stay text" s1.json 'holds dates beside timestamps (a date would gain a time of day): created as text'
note "numbers past NUMERIC(4,1)" s1.json 'column \"wide\" of \"loose\" is declared NUMERIC(4,1) but holds numbers past its precision or scale: created as numeric'
check "loose values as SQLite holds them (psql)" \
	"1|1|2.5|7|10|a|ok|00ff|ab|abc|abcdef|12.50|1.25|2017-08-08|2020-01-01 10:00:00|2020-01-01|1|t
2|-9000000000|3|seven|20|b|bad|01|abc|abcde|x|7.00|100|2017-08-09|1950-06-30 23:59:59.25|2020-01-01 10:00:00|2.5|f
3||-0.125|7.5||||||||100.25|||||9007199254740993|" \
	"$(pgq "$db1" "SELECT id, untyped, reals, mixed, misspelt, word, mood, encode(bytes, 'hex'), fixed, short, long, money, wide, days, stamps, \"both\", big, flag FROM loose ORDER BY id")"
check "loose values as SQLite holds them (sqlite3)" \
	"1|1|2.5|7|10|a|ok|00ff|ab|abc|abcdef|12.50|1.25|2017-08-08|2020-01-01 10:00:00|2020-01-01|1|t
2|-9000000000|3|seven|20|b|bad|01|abc|abcde|x|7.00|100|2017-08-09|1950-06-30 23:59:59.25|2020-01-01 10:00:00|2.5|f
3||-0.125|7.5||||||||100.25|||||9007199254740993|" \
	"$(sqlite3 src.db "SELECT id, untyped, CASE WHEN reals = CAST(reals AS INTEGER) THEN CAST(reals AS INTEGER) ELSE reals END, mixed, misspelt, word, mood, lower(hex(bytes)), fixed, short, long, printf('%.2f', money), wide, days, stamps, both, big, CASE flag WHEN 1 THEN 't' WHEN 0 THEN 'f' END FROM loose ORDER BY id")"
check "NULL in a text key: a unique index instead of the primary key, NULLs kept" "k_key|0|2" \
	"$(pgq "$db1" "SELECT (SELECT indexname FROM pg_indexes WHERE tablename = 'k') || '|' || (SELECT count(*) FROM pg_constraint WHERE conrelid = 'k'::regclass AND contype = 'p') || '|' || (SELECT count(*) FROM k WHERE code IS NULL)")"
note "the summary says the key became a unique index" s1.json 'table \"k\" holds NULL in its primary key (\"code\"), which SQLite allows: \"k\" is created with a unique index \"k_key\" on those columns instead of a primary key'
check "the foreign key to that unique key holds" "1" \
	"$(pgq "$db1" "SELECT count(*) FROM pg_constraint WHERE conrelid = 'kref'::regclass AND contype = 'f' AND convalidated")"
verify_full "sqlite -> postgres, no plan" src.db "$(pg_url "$db1")"

# ---- SQLite -> label -> PostgreSQL: the same types, read from the label -----------------------
"$FERRY" export -q src.db lbl 2> el.txt
pg_newdb dbl
"$FERRY" import -q lbl "$(pg_url "$dbl")" 2> el2.txt
typesof() { pgq "$1" "SELECT string_agg(format_type(atttypid, atttypmod), '|' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'loose'::regclass AND attnum > 0"; }
check "through a label the values give the same types" "$(typesof "$db1")" "$(typesof "$dbl")"
verify_full "label -> postgres" --label lbl "$(pg_url "$dbl")"

# ---- --types=declared: the declarations alone, as before ----------------------------------
pg_newdb db0
set +e
"$FERRY" copy -q --types=declared --rejects rej0.jsonl src.db "$(pg_url "$db0")" 2> e0.txt
code=$?
set -e
check "--types=declared: an untyped column is bytea and its integers are refused (exit 3)" "3|bytea|bigint" \
	"$code|$(pgtype "$db0" loose untyped)|$(pgtype "$db0" loose mixed)"
check "--types=declared refuses the rows the declared types cannot hold" "3" "$(grep -c '"table":"loose"' rej0.jsonl)"
set +e
"$FERRY" copy -q --types=guess src.db "$(pg_url "$db0")" 2> e0b.txt
code=$?
set -e
check "--types takes declared or values" "2|ferry: --types must be declared or values, not \"guess\"" "$code|$(cat e0b.txt)"

# ---- SQLite -> PostgreSQL -> SQLite: keys, numeric(p,s), varchar(n) -----------------------
"$FERRY" copy -q "$(pg_url "$db1")" back.db 2> e2.txt
check "round trip: the rowid alias, NUMERIC(10,2) and the length come back" \
	"genre:GenreId:INTEGER:1|genre:Name:character varying(120):0|invoice:InvoiceId:INTEGER:1|invoice:Total:NUMERIC(10,2):0" \
	"$(sqlite3 back.db "SELECT group_concat(t || ':' || name || ':' || type || ':' || pk, '|') FROM (SELECT 'genre' t, * FROM pragma_table_info('genre') UNION ALL SELECT 'invoice', * FROM pragma_table_info('invoice'))")"
check "round trip: an INSERT without the key numbers the row (rowid alias)" "26" \
	"$(sqlite3 back.db "INSERT INTO genre(Name) VALUES ('Polka'); SELECT GenreId FROM genre WHERE Name = 'Polka'")"
check "round trip: Total sorts as a number" "13.86 3.96 1.98 0.99" \
	"$(sqlite3 back.db "SELECT group_concat(Total, ' ') FROM (SELECT Total FROM invoice ORDER BY Total DESC)")"
sqlite3 back.db "DELETE FROM genre WHERE Name = 'Polka'"
check "round trip: the same rows" "3 3 0 0|4 4 0 0" "$(same_rows src.db genre back.db genre)|$(same_rows src.db invoice back.db invoice)"
verify_full "postgres -> sqlite (round trip)" "$(pg_url "$db1")" back.db

# ---- with a plan computing columns ----------------------------------------------------------
sqlite3 plan.db <<'SQL'
CREATE TABLE track(id INTEGER PRIMARY KEY, first TEXT, last TEXT, ms INTEGER, price NUMERIC(10,2));
INSERT INTO track VALUES (1, 'Ada', 'Lovelace', 343719, 0.99), (2, 'Alan', 'Turing', 1500, 1.99),
  (3, 'Grace', NULL, NULL, NULL);
SQL
pg_newdb db3
cat > plan.yaml <<YAML
source: plan.db
target: $(pg_url "$db3")
tables:
  - table: track
    columns:
      duration_s: {expr: "ms / 1000.0"}
      full_name: {expr: "first || ' ' || last"}
      twice: {expr: "ms * 2"}
      flag: {default: 1}
      label: {default: new}
      cents: {expr: "price * 100", type: "numeric(12,0)"}
      ms: {type: integer}
      empty: {default: null}
YAML
"$FERRY" copy --json -p plan.yaml > s3.json 2> e3.txt
check "computed and default-only columns take the type of their values; type: says it" \
	"id:bigint|first:text|last:text|ms:integer|price:numeric(10,2)|duration_s:double precision|full_name:text|twice:bigint|flag:bigint|label:text|cents:numeric(12,0)|empty:text" \
	"$(pgq "$db3" "SELECT string_agg(attname || ':' || format_type(atttypid, atttypmod), '|' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'track'::regclass AND attnum > 0")"
note "a computed column's type is noted" s3.json 'column \"duration_s\" of \"track\" is computed by the plan: created as double precision'
check "computed values (psql)" "1|343.719|Ada Lovelace|687438|1|new|99
2|1.5|Alan Turing|3000|1|new|199
3||||1|new|" \
	"$(pgq "$db3" "SELECT id, duration_s, full_name, twice, flag, label, cents FROM track ORDER BY id")"
check "computed values (sqlite3)" "1|343.719|Ada Lovelace|687438|1|new|99
2|1.5|Alan Turing|3000|1|new|199
3||||1|new|" \
	"$(sqlite3 plan.db "SELECT id, ms / 1000.0, first || ' ' || last, ms * 2, 1, 'new', CAST(price * 100 AS INTEGER) FROM track ORDER BY id")"
verify_full "sqlite -> postgres with computed columns" -p plan.yaml
cat > bad.yaml <<YAML
source: plan.db
target: $(pg_url "$db3")
tables:
  - table: track
    columns:
      ms: {type: "integr"}
YAML
set +e
"$FERRY" copy -q -p bad.yaml 2> eb.txt
code=$?
set -e
check "an unknown type: is a plan mistake at its place (exit 2)" "2|ferry: bad.yaml:6:18: unknown type \"integr\"" \
	"$code|$(sed 's/ for .*//' eb.txt)"

# ---- values unchanged: a midnight into a date, text that is not UTF-8 -----------------------
sqlite3 val.db <<'SQL'
CREATE TABLE d(id INTEGER PRIMARY KEY, day DATETIME);
INSERT INTO d VALUES (1, '2020-01-01 00:00:00'), (2, '2020-01-02'), (3, '2020-01-03 10:00:00');
CREATE TABLE u(id INTEGER PRIMARY KEY, s TEXT);
INSERT INTO u VALUES (1, 'fine'), (2, CAST(x'ff41' AS TEXT));
CREATE TABLE raw(id INTEGER PRIMARY KEY, s TEXT);
INSERT INTO raw VALUES (1, CAST(x'c328' AS TEXT)), (2, CAST(x'80' AS TEXT));
CREATE TABLE fkp(id INTEGER PRIMARY KEY);
INSERT INTO fkp VALUES (1);
CREATE TABLE fkc(id INTEGER PRIMARY KEY, pid INTEGER REFERENCES fkp(id));
INSERT INTO fkc VALUES (1, 1), (2, 'x');
SQL
pg_newdb db4
pgq "$db4" "CREATE TABLE d(id bigint PRIMARY KEY, day date)" > /dev/null
set +e
"$FERRY" copy --json --rejects rej4.jsonl val.db "$(pg_url "$db4")" > s4.json 2> e4.txt
code=$?
set -e
check "a midnight converts into an existing date column; a time of day is refused" "3|1 2020-01-01,2 2020-01-02" \
	"$code|$(pgq "$db4" "SELECT string_agg(id || ' ' || day, ',' ORDER BY id) FROM d")"
check "the refused time of day says why" "timestamp" "$(grep -c 'has a time of day that would be dropped by date column' rej4.jsonl | sed 's/^1$/timestamp/')"
check "text that is not UTF-8 is refused by name with the rule that carries it" "1" \
	"$(grep -c '"table":"u".*is not valid UTF-8 (or holds a NUL byte) for text column \\"s\\" (a rule carries it as bytes into a column ferry creates: s: {type: bytea})' rej4.jsonl)"
check "a column of texts that are all not UTF-8 is bytea, every byte kept" "bytea|1 c328,2 80" \
	"$(pgtype "$db4" raw s)|$(pgq "$db4" "SELECT string_agg(id || ' ' || encode(s, 'hex'), ',' ORDER BY id) FROM raw")"
check "a foreign-key column keeps its declared kind, so the key is created; its text is refused" "bigint|1|1" \
	"$(pgtype "$db4" fkc pid)|$(pgq "$db4" "SELECT count(*) FROM pg_constraint WHERE conrelid = 'fkc'::regclass AND contype = 'f'")|$(grep -c '"table":"fkc".*is not a whole number for bigint column' rej4.jsonl)"
note "the foreign-key column's choice is noted" s4.json 'column \"pid\" of \"fkc\" is declared INTEGER but holds text and numbers; it is part of a foreign key, so it is created as bigint (a value that does not fit is rejected)'
note "the bytea choice is noted" s4.json 'column \"s\" of \"raw\" is declared TEXT but holds only text that is not valid UTF-8: created as bytea'
pg_newdb db5
cat > utf.yaml <<YAML
source: val.db
target: $(pg_url "$db5")
tables:
  - table: u
    columns:
      s: {type: bytea}
others: skip
YAML
"$FERRY" copy -q -p utf.yaml 2> e5.txt
check "the rule carries it: bytea, every byte" "1 66696e65,2 ff41" \
	"$(pgq "$db5" "SELECT string_agg(id || ' ' || encode(s, 'hex'), ',' ORDER BY id) FROM u")"

# ---- PostgreSQL -> SQLite -> PostgreSQL: the schema comes back ----------------------------
pg_newdb pgs
pgq "$pgs" "CREATE TYPE mood AS ENUM ('ok', 'bad', '1.0');
CREATE TABLE genre(id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name varchar(120) NOT NULL,
  total numeric(10,2), m mood DEFAULT 'ok'::mood, r tstzrange, big numeric(30,10), day date,
  at timestamp, f float8, b boolean, u uuid, j jsonb, n integer);
INSERT INTO genre(name, total, m, r, big, day, at, f, b, u, j, n) VALUES
  ('Rock', 10.50, 'ok', '[2020-01-01,2020-02-01)', 1.5, '2017-08-08', '2020-01-01 10:00:00', -0.0, true,
   'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{\"a\": 1}', 7),
  ('Jazz', 9.99, '1.0', NULL, NULL, NULL, NULL, 1e300, false, NULL, NULL, NULL),
  ('Pop', 100, 'bad', 'empty', 12345678901234567890.0123456789, '0001-01-01', '1950-06-30 23:59:59.25', 0.1, NULL, NULL, '[1, 2]', -1);" > /dev/null
"$FERRY" copy -q "$(pg_url "$pgs")" mid.db 2> e6.txt
check "postgres -> sqlite: the identity key is the rowid alias, enum and range are TEXT, numeric(10,2) NUMERIC(10,2)" \
	"id:INTEGER:1|name:character varying(120):0|total:NUMERIC(10,2):0|m:TEXT:0|r:TEXT:0|big:NUMERIC_TEXT(30,10):0" \
	"$(sqlite3 mid.db "SELECT group_concat(name || ':' || type || ':' || pk, '|') FROM pragma_table_info('genre') WHERE cid < 6")"
check "an enum label that looks like a number stays text" "text|1.0" "$(sqlite3 mid.db "SELECT typeof(m) || '|' || m FROM genre WHERE name = 'Jazz'")"
verify_full "postgres -> sqlite" "$(pg_url "$pgs")" mid.db
pg_newdb pgb
"$FERRY" copy -q mid.db "$(pg_url "$pgb")" 2> e7.txt
check "postgres -> sqlite -> postgres: the types come back (enum and range as text)" \
	"$(pgq "$pgs" "SELECT string_agg(attname || ':' || CASE WHEN attname IN ('m', 'r') THEN 'text' ELSE format_type(atttypid, atttypmod) END, '|' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'genre'::regclass AND attnum > 0")" \
	"$(pgq "$pgb" "SELECT string_agg(attname || ':' || format_type(atttypid, atttypmod), '|' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'genre'::regclass AND attnum > 0")"
check "... the identity key and the primary key come back" "d|id" \
	"$(pgq "$pgb" "SELECT attidentity FROM pg_attribute WHERE attrelid = 'genre'::regclass AND attname = 'id'")|$(pgq "$pgb" "SELECT a.attname FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey) WHERE c.conrelid = 'genre'::regclass AND c.contype = 'p'")"
check "... every value as it was" \
	"$(pgq "$pgs" "SET extra_float_digits = 3; SELECT id, name, total, m::text, r::text, big, day, at, f, b, u, j, n FROM genre ORDER BY id")" \
	"$(pgq "$pgb" "SET extra_float_digits = 3; SELECT id, name, total, m, r, big, day, at, f, b, u, j, n FROM genre ORDER BY id")"
check "... the enum's default without its cast" "'ok'::text" \
	"$(pgq "$pgb" "SELECT pg_get_expr(adbin, adrelid) FROM pg_attrdef WHERE adrelid = 'genre'::regclass AND adnum = 4")"
verify_full "sqlite -> postgres (round trip)" mid.db "$(pg_url "$pgb")"

# ---- PostgreSQL -> PostgreSQL with a plan computing columns: the types of their values ------
pg_newdb pgd
cat > pgplan.yaml <<YAML
source: $(pg_url "$pgs")
target: $(pg_url "$pgd")
tables:
  - table: genre
    rename: album
    columns:
      twice: {expr: "total * 2"}
      next_day: {expr: "day + 1"}
      loud: {expr: "upper(name)"}
      pricey: {expr: "total > 50"}
      half: {expr: "f / 2"}
      m: {expr: "m::text"}
      r: {expr: "r::text"}
others: skip
YAML
"$FERRY" copy -q -p pgplan.yaml 2> e9.txt
check "postgres: computed columns take their values' types" "numeric|date|text|boolean|double precision" \
	"$(pgtype "$pgd" album twice)|$(pgtype "$pgd" album next_day)|$(pgtype "$pgd" album loud)|$(pgtype "$pgd" album pricey)|$(pgtype "$pgd" album half)"
check "postgres: computed values" \
	"$(pgq "$pgs" "SELECT id, total * 2, day + 1, upper(name), total > 50 FROM genre ORDER BY id")" \
	"$(pgq "$pgd" "SELECT id, twice, next_day, loud, pricey FROM album ORDER BY id")"
verify_full "postgres -> postgres with computed columns" -p pgplan.yaml

# ---- PostgreSQL -> PostgreSQL: a default cast to a type the target lacks ----------------------
pg_newdb pgc
"$FERRY" copy -q "$(pg_url "$pgs")" "$(pg_url "$pgc")" 2> e8.txt
check "an enum column with DEFAULT 'ok'::mood into a database without mood: text, default 'ok'" "text|'ok'::text|3" \
	"$(pgtype "$pgc" genre m)|$(pgq "$pgc" "SELECT pg_get_expr(adbin, adrelid) FROM pg_attrdef WHERE adrelid = 'genre'::regclass AND adnum = 4")|$(pgq "$pgc" "SELECT count(*) FROM genre")"
verify_full "postgres -> postgres without the enum" "$(pg_url "$pgs")" "$(pg_url "$pgc")"

finish
