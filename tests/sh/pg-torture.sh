#!/usr/bin/env bash
# pg-torture.sh — the torture table round trips SQLite -> PostgreSQL -> SQLite and
# PostgreSQL -> SQLite -> PostgreSQL, every table created by ferry on the way: int64 limits,
# -0.0, NaN, infinities, subnormal doubles, 30-digit numerics, timestamps before 1970 and
# after 2038 with and without zone, empty text and NULL, text from every Unicode plane, a
# 10 MB blob, identifiers in mixed case and with spaces. Values come back identical, down to
# the sign of -0.0, NaN and every digit: tables ferry creates in SQLite for PostgreSQL's
# floats and decimals are declared FLOAT8_BLOB, FLOAT4_BLOB and NUMERIC_TEXT(p,s), whose
# affinity keeps such values exactly (docs/ENGINES.md).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../pg/pg.sh"
cd "$T"

# Text with one character from each of the 17 Unicode planes (U+0041, U+10041, ... U+100041).
planes=$(python3 -c 'print("".join(chr(p * 0x10000 + 0x41) for p in range(17)) + "é中😀")')

# Every value of a SQLite database with its storage class; floats by their exact repr, so
# -0.0 shows its sign (the sqlite3 shell prints it as 0.0).
sqlite_values() { # sqlite_values DB TABLE COLUMN...
	python3 - "$@" <<'PY'
import sqlite3, sys
db, table, cols = sys.argv[1], sys.argv[2], sys.argv[3:]
q = lambda n: '"' + n.replace('"', '""') + '"'
c = sqlite3.connect(db)
for row in c.execute("SELECT %s FROM %s ORDER BY 1" % (", ".join(q(n) for n in cols), q(table))):
	print("|".join("%s:%r" % (type(v).__name__, v) for v in row))
PY
}

# ---- SQLite -> PostgreSQL -> SQLite -------------------------------------------------------
# SQLite cannot hold NaN (it stores NULL) nor -0.0 (it stores 0) in a REAL column, and its
# NUMERIC affinity rounds a 30-digit number: "num text" carries such values as text, and
# the columns declared with ferry's exact types hold them as themselves (-0.0 as a REAL,
# NaN as the text 'NaN', a decimal as its canonical text).
sqlite3 src.db <<SQL
CREATE TABLE "Torture Table"(
  "Id" INTEGER PRIMARY KEY,
  "Big Int" INTEGER,
  "MixedCase Dbl" REAL,
  "num text" TEXT,
  "Ts" TIMESTAMP,
  "Ts Zone" TIMESTAMPTZ,
  "Txt" TEXT,
  "Bin" BLOB,
  "Exact Dbl" FLOAT8_BLOB,
  "Exact Num" NUMERIC_TEXT(30,10));
INSERT INTO "Torture Table" VALUES
  (1, -9223372036854775808, 4.9406564584124654e-324, '123456789012345678901234567890', '1969-12-31 23:59:59.999999', '1901-12-13 20:45:51+00', '', x'', -0.0, '12345678901234567890.0123456789'),
  (2, 9223372036854775807, 2.2250738585072009e-308, '-0.000000000000000000000000000001', '2038-01-19 03:14:08', '2040-06-30 12:34:56.5+00', NULL, NULL, 'NaN', '-0.0000000001'),
  (3, 0, 9e999, '1e-30', '0001-01-01 00:00:00', '1960-02-29 00:00:00+00', '$planes', x'00ff', 9e999, '0.0000000000'),
  (4, -1, -9e999, NULL, '9999-12-31 23:59:59', NULL, 'tab	new
line "quote" '' \\back', zeroblob(0), 4.9406564584124654e-324, '-99999999999999999999.9999999999'),
  (5, NULL, 1.7976931348623157e308, '99999999999999999999999999999.9', '2100-03-01 12:00:00.5', '2100-03-01 12:00:00.123456+00', ' ', x'0102030405', 0.1, NULL);
INSERT INTO "Torture Table"("Id", "Bin") VALUES (6, randomblob(10 * 1024 * 1024));
SQL

pg_newdb mid
"$FERRY" copy -q src.db "$(pg_url "$mid")" > out1.txt 2>&1 || { cat out1.txt; fail "sqlite -> postgres copy failed"; }
"$FERRY" copy -q "$(pg_url "$mid")" back.db > out2.txt 2>&1 || { cat out2.txt; fail "postgres -> sqlite copy failed"; }

check "postgres holds the types the SQLite declarations ask for" \
	"Id:bigint Big Int:bigint MixedCase Dbl:double precision num text:text Ts:timestamp without time zone Ts Zone:timestamp with time zone Txt:text Bin:bytea Exact Dbl:double precision Exact Num:numeric(30,10)" \
	"$(pgq "$mid" "SELECT string_agg(attname || ':' || format_type(atttypid, atttypmod), ' ' ORDER BY attnum) FROM pg_attribute WHERE attrelid = '\"Torture Table\"'::regclass AND attnum > 0")"
check "postgres reads the values as values" \
	"1|-9223372036854775808|5e-324|1969-12-31 23:59:59.999999|1901-12-13 20:45:51+00|t
2|9223372036854775807|2.225073858507201e-308|2038-01-19 03:14:08|2040-06-30 12:34:56.5+00|f
3|0|Infinity|0001-01-01 00:00:00|1960-02-29 00:00:00+00|f
4|-1|-Infinity|9999-12-31 23:59:59||f
5||1.7976931348623157e+308|2100-03-01 12:00:00.5|2100-03-01 12:00:00.123456+00|f
6|||||f" \
	"$(pgq "$mid" "SET extra_float_digits = 3; SET TimeZone = 'UTC'; SELECT \"Id\", \"Big Int\", \"MixedCase Dbl\", \"Ts\", \"Ts Zone\", \"Txt\" IS NOT DISTINCT FROM '' FROM \"Torture Table\" ORDER BY 1")"
check "the 10 MB blob arrives whole in postgres" "10485760" \
	"$(pgq "$mid" "SELECT length(\"Bin\") FROM \"Torture Table\" WHERE \"Id\" = 6")"
check "every plane's character arrives in postgres" "$planes" \
	"$(pgq "$mid" "SELECT \"Txt\" FROM \"Torture Table\" WHERE \"Id\" = 3")"
check "-0.0, NaN and the exact decimals arrive in postgres as themselves" \
	"1|-0|12345678901234567890.0123456789
2|NaN|-0.0000000001
3|Infinity|0.0000000000
4|5e-324|-99999999999999999999.9999999999
5|0.1|
6||" \
	"$(pgq "$mid" "SET extra_float_digits = 3; SELECT \"Id\", \"Exact Dbl\", \"Exact Num\" FROM \"Torture Table\" ORDER BY 1")"

# Every value, with its storage class, equal after the round trip (EXCEPT both ways).
cols='"Id", typeof("Id"), "Big Int", typeof("Big Int"), "MixedCase Dbl", typeof("MixedCase Dbl"), "num text", typeof("num text"), "Ts", typeof("Ts"), "Ts Zone", typeof("Ts Zone"), "Txt", typeof("Txt"), "Bin", typeof("Bin"), "Exact Dbl", typeof("Exact Dbl"), "Exact Num", typeof("Exact Num")'
diff1=$(sqlite3 back.db "ATTACH 'src.db' AS s;
	SELECT count(*) FROM (SELECT $cols FROM main.\"Torture Table\" EXCEPT SELECT $cols FROM s.\"Torture Table\");
	SELECT count(*) FROM (SELECT $cols FROM s.\"Torture Table\" EXCEPT SELECT $cols FROM main.\"Torture Table\");
	SELECT count(*) FROM main.\"Torture Table\";")
check "sqlite -> postgres -> sqlite: every value identical (missing, extra, rows)" "0
0
6" "$diff1"
check "sqlite -> postgres -> sqlite: the 10 MB blob is byte for byte the same" "1" \
	"$(sqlite3 back.db "ATTACH 'src.db' AS s; SELECT (SELECT \"Bin\" FROM main.\"Torture Table\" WHERE \"Id\" = 6) = (SELECT \"Bin\" FROM s.\"Torture Table\" WHERE \"Id\" = 6)")"
# SQL's = takes -0.0 for 0.0: compare the exact columns by their repr, sign included.
check "sqlite -> postgres -> sqlite: -0.0, NaN and decimals identical, sign and digits" \
	"$(sqlite_values src.db "Torture Table" Id "Exact Dbl" "Exact Num" "MixedCase Dbl")" \
	"$(sqlite_values back.db "Torture Table" Id "Exact Dbl" "Exact Num" "MixedCase Dbl")"
check "sqlite -> postgres -> sqlite: the exact types are declared again" "FLOAT8_BLOB NUMERIC_TEXT(30,10)" \
	"$(sqlite3 back.db "SELECT group_concat(type, ' ') FROM pragma_table_info('Torture Table') WHERE name LIKE 'Exact%'")"

# ---- PostgreSQL -> SQLite -> PostgreSQL ---------------------------------------------------
pg_newdb src
pgq "$src" "CREATE TABLE \"Torture Table\"(
  \"Id\" bigint PRIMARY KEY,
  \"Big Int\" bigint,
  \"MixedCase Dbl\" double precision,
  \"Ts\" timestamp,
  \"Ts Zone\" timestamptz,
  \"Txt\" text,
  \"Bin\" bytea,
  \"Day\" date,
  \"Flag\" boolean,
  \"U\" uuid,
  \"J\" jsonb,
  \"Real\" real,
  \"Num\" numeric,
  \"Num Fixed\" numeric(30,10));
INSERT INTO \"Torture Table\" VALUES
  (1, -9223372036854775808, 4.9406564584124654e-324, '1969-12-31 23:59:59.999999', '1901-12-13 20:45:51+00', '', '\\x', '1969-07-20', true, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{\"a\": [1, 2.5, null]}', '-0', 123456789012345678901234567890, 12345678901234567890.0123456789),
  (2, 9223372036854775807, 2.2250738585072009e-308, '2038-01-19 03:14:08', '2040-06-30 12:34:56.5+00', NULL, NULL, '2038-01-20', false, NULL, '\"text\"', 'NaN', -0.000000000000000000000000000001, -0.0000000001),
  (3, 0, 'Infinity', '0001-01-01 00:00:00', '1960-02-29 00:00:00+00', '$planes', '\\x00ff', '0001-01-01', NULL, '00000000-0000-0000-0000-000000000000', 'null', 'Infinity', 'NaN', 'NaN'),
  (4, -1, '-Infinity', '9999-12-31 23:59:59', NULL, E'tab\\tnew\\nline \"quote\" '' \\\\back', '\\x', '9999-12-31', true, NULL, NULL, 1.4e-45, 'Infinity', -99999999999999999999.9999999999),
  (5, NULL, 1.7976931348623157e308, '2100-03-01 12:00:00.5', '2100-03-01 12:00:00.123456+00', ' ', '\\x0102030405', NULL, NULL, NULL, '[]', 3.4028235e38, '-Infinity', 0),
  (7, 1, '-0', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 1.50, 1.5),
  (8, 2, 'NaN', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '-Infinity', -123456789012345.678901234567890123, NULL);
INSERT INTO \"Torture Table\"(\"Id\", \"Bin\") SELECT 6, decode(string_agg(lpad(to_hex((i::bigint * 7919) % 256), 2, '0'), ''), 'hex') FROM generate_series(1, 10 * 1024 * 1024) i;" > /dev/null
"$FERRY" copy -q "$(pg_url "$src")" mid.db > out3.txt 2>&1 || { cat out3.txt; fail "postgres -> sqlite copy failed"; }
# Back into a second schema of the same database, so SQL can compare the two tables.
"$FERRY" copy -q mid.db "$(pg_url "$src" "options=-csearch_path%3Dback")" > out4.txt 2>&1 || { cat out4.txt; fail "sqlite -> postgres copy failed"; }
check "sqlite holds the text every plane" "$planes" "$(sqlite3 mid.db "SELECT \"Txt\" FROM \"Torture Table\" WHERE \"Id\" = 3")"
check "sqlite declares the floats and decimals with ferry's exact types" \
	"MixedCase Dbl:FLOAT8_BLOB Real:FLOAT4_BLOB Num:NUMERIC_TEXT Num Fixed:NUMERIC_TEXT(30,10)" \
	"$(sqlite3 mid.db "SELECT group_concat(name || ':' || type, ' ') FROM pragma_table_info('Torture Table') WHERE name IN ('MixedCase Dbl', 'Real', 'Num', 'Num Fixed')")"
check "sqlite holds -0.0 with its sign, NaN as 'NaN', decimals as their exact text" \
	"int:1|float:5e-324|float:-0.0|str:'123456789012345678901234567890'|str:'12345678901234567890.0123456789'
int:2|float:2.225073858507201e-308|str:'NaN'|str:'-0.000000000000000000000000000001'|str:'-0.0000000001'
int:3|float:inf|float:inf|str:'NaN'|str:'NaN'
int:4|float:-inf|float:1.401298464324817e-45|str:'Infinity'|str:'-99999999999999999999.9999999999'
int:5|float:1.7976931348623157e+308|float:3.4028234663852886e+38|str:'-Infinity'|str:'0.0000000000'
int:6|NoneType:None|NoneType:None|NoneType:None|NoneType:None
int:7|float:-0.0|NoneType:None|str:'1.50'|str:'1.5000000000'
int:8|str:'NaN'|float:-inf|str:'-123456789012345.678901234567890123'|NoneType:None" \
	"$(sqlite_values mid.db "Torture Table" Id "MixedCase Dbl" Real Num "Num Fixed")"
# Compared as text, where -0 differs from 0 and NaN is spelled out.
tcols='"Id", "Big Int", "MixedCase Dbl"::text, "Ts"::text, "Ts Zone"::text, "Txt", "Bin", "Day"::text, "Flag"::text, "U"::text, "J"::text, "Real"::text, "Num"::text, "Num Fixed"::text'
diff2=$(pgq "$src" "SET extra_float_digits = 3; SET TimeZone = 'UTC';
	SELECT (SELECT count(*) FROM (SELECT $tcols FROM public.\"Torture Table\" EXCEPT SELECT $tcols FROM back.\"Torture Table\") x) || ' ' ||
	       (SELECT count(*) FROM (SELECT $tcols FROM back.\"Torture Table\" EXCEPT SELECT $tcols FROM public.\"Torture Table\") x) || ' ' ||
	       (SELECT count(*) FROM back.\"Torture Table\")")
check "postgres -> sqlite -> postgres: every value identical (missing, extra, rows)" "0 0 8" "$diff2"
check "postgres -> sqlite -> postgres: -0, NaN, infinities and 30 digits, as postgres prints them" \
	"1|5e-324|-0|123456789012345678901234567890|12345678901234567890.0123456789
2|2.225073858507201e-308|NaN|-0.000000000000000000000000000001|-0.0000000001
3|Infinity|Infinity|NaN|NaN
4|-Infinity|1e-45|Infinity|-99999999999999999999.9999999999
5|1.7976931348623157e+308|3.4028235e+38|-Infinity|0.0000000000
6||||
7|-0||1.50|1.5000000000
8|NaN|-Infinity|-123456789012345.678901234567890123|" \
	"$(pgq "$src" "SET extra_float_digits = 1; SELECT \"Id\", \"MixedCase Dbl\", \"Real\", \"Num\", \"Num Fixed\" FROM back.\"Torture Table\" ORDER BY 1")"
check "postgres -> sqlite -> postgres: every column has its type again" \
	"$(pgq "$src" "SELECT string_agg(attname || ':' || format_type(atttypid, atttypmod), ' ' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'public.\"Torture Table\"'::regclass AND attnum > 0")" \
	"$(pgq "$src" "SELECT string_agg(attname || ':' || format_type(atttypid, atttypmod), ' ' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'back.\"Torture Table\"'::regclass AND attnum > 0")"
check "postgres -> sqlite -> postgres: the 10 MB blob is byte for byte the same" "t" \
	"$(pgq "$src" "SELECT (SELECT \"Bin\" FROM public.\"Torture Table\" WHERE \"Id\" = 6) = (SELECT \"Bin\" FROM back.\"Torture Table\" WHERE \"Id\" = 6)")"

# Values a REAL or NUMERIC column cannot hold (NaN, -0.0, 30 digits): in a table ferry
# creates they arrive exactly; in the user's own REAL and NUMERIC columns they are refused
# (reject file, with the reason), never changed.
pgq "$src" "CREATE TABLE odd(id bigint PRIMARY KEY, d double precision, n numeric);
	INSERT INTO odd VALUES (1, 'NaN', 1), (2, '-0', 2), (3, 1.5, 123456789012345678901234567890.5), (4, 2.5, 4.25)" > /dev/null
"$FERRY" copy -q --rejects odd.jsonl "$(pg_url "$src")" odd.db > out5.txt 2>&1 || { cat out5.txt; fail "odd values into a created table: not all arrived"; }
check "odd values arrive exactly in a table ferry creates" \
	"int:1|str:'NaN'|str:'1'
int:2|float:-0.0|str:'2'
int:3|float:1.5|str:'123456789012345678901234567890.5'
int:4|float:2.5|str:'4.25'" "$(sqlite_values odd.db odd id d n)"
check "no row was rejected" "no reject file" "$([ -s odd.jsonl ] && cat odd.jsonl || echo no reject file)"
sqlite3 own.db "CREATE TABLE odd(id INTEGER PRIMARY KEY, d REAL, n NUMERIC);"
set +e
"$FERRY" copy -q --rejects own.jsonl "$(pg_url "$src")" own.db > out6.txt 2>&1
code=$?
set -e
check "the user's REAL and NUMERIC columns refuse them (exit 3)" "3" "$code"
check "only the row they hold arrives" "int:4|float:2.5|float:4.25" "$(sqlite_values own.db odd id d n)"
cat > own.want <<'EOF'
{"table":"odd","key":{"id":1},"reason":"float NaN cannot be stored (it would become NULL) in float column \"d\" (convert it with an expr rule)"}
{"table":"odd","key":{"id":2},"reason":"float -0.0 would lose its sign in float column \"d\" (convert it with an expr rule)"}
{"table":"odd","key":{"id":3},"reason":"numeric '123456789012345678901234567890.5' would change value in numeric column \"n\" (convert it with an expr rule)"}
EOF
check "each refusal names the value, the column and why" "$(cat own.want)" "$(sed 's/,"values":{.*}}$/}/' own.jsonl)"
check "each refusal holds the row's values" "3" "$(grep -c '"values":{"id":' own.jsonl)"
finish
