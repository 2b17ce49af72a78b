#!/usr/bin/env bash
# pg-schema.sh — constraints and indexes across engines (issue #16 item 4): CHECK constraints
# (column, table, named, IN lists), partial, expression and DESC indexes and unique
# constraints created in the target, SQLite -> PostgreSQL and PostgreSQL -> SQLite, and
# round trips both ways with the schema compared through the catalogs (sqlite_master,
# pg_catalog) and the rows by an independent comparison and ferry verify --full. What the
# target's SQL cannot say is one note each, never silently dropped.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/../pg/pg.sh"
cd "$T"

# Rows of a table as text lines, from either engine, for an independent comparison.
pg_rows() { pgq "$1" "SELECT id, email, status, qty, (total * 100)::bigint FROM orders ORDER BY id"; }
lite_rows() { sqlite3 -separator '|' "$1" "SELECT id, email, status, qty, CAST(total * 100 AS INTEGER) FROM orders ORDER BY id"; }
# "refused" when command $@ fails, "accepted" when it does not.
refused() { if "$@" > /dev/null 2>&1; then echo accepted; else echo refused; fi; }
# The indexes of orders in PostgreSQL: definition without the schema, one a line, sorted.
pg_indexes() { pgq "$1" "SELECT regexp_replace(indexdef, ' ON public\.', ' ON ') FROM pg_indexes WHERE tablename = 'orders' ORDER BY indexname"; }
pg_checks() { pgq "$1" "SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'orders'::regclass AND contype = 'c' ORDER BY conname"; }
# The indexes of orders in SQLite: name (UNIQUE for a table's UNIQUE clause), unique,
# partial, then each key column (or expression) with its order, from the pragmas.
lite_indexes() {
	sqlite3 "$1" "SELECT CASE il.origin WHEN 'u' THEN 'UNIQUE' ELSE il.name END || ' u' || il.\"unique\" || ' p' || il.partial || ' ' ||
	  (SELECT group_concat(coalesce(x.name, '<expr>') || CASE WHEN x.\"desc\" THEN ' desc' ELSE '' END, ',')
	   FROM pragma_index_xinfo(il.name) AS x WHERE x.key = 1)
	  FROM pragma_index_list('orders') AS il WHERE il.origin <> 'pk' ORDER BY il.name"
}

# ---- SQLite -> PostgreSQL ---------------------------------------------------------------
sqlite3 src.db <<'SQL'
CREATE TABLE orders(id INTEGER PRIMARY KEY, email TEXT UNIQUE,
  status TEXT NOT NULL CHECK (status IN ('new', 'paid', 'shipped')),
  qty INTEGER CONSTRAINT qty_pos CHECK(qty > 0), total REAL,
  CHECK (total >= 0 OR total IS NULL));
CREATE INDEX orders_open ON orders(status) WHERE status <> 'shipped';
CREATE INDEX orders_lower_email ON orders(lower(email));
CREATE INDEX orders_total_desc ON orders(total DESC, id);
CREATE UNIQUE INDEX orders_qty_email ON orders(qty, email);
CREATE TABLE odd(id INTEGER PRIMARY KEY, v TEXT CHECK (typeof(v) = 'text'), w TEXT);
CREATE INDEX odd_glob ON odd(w) WHERE w GLOB 'a*';
CREATE INDEX odd_nocase ON odd(w COLLATE NOCASE, id);
CREATE TABLE flags(id INTEGER PRIMARY KEY, ok BOOLEAN CHECK (ok IN (0, 1)), name TEXT CHECK (abs(name) >= 0));
CREATE INDEX flags_ok ON flags(id) WHERE ok = 1;
CREATE VIEW open_orders AS SELECT * FROM orders WHERE status <> 'shipped';
CREATE TRIGGER orders_touch AFTER UPDATE ON orders BEGIN SELECT 1; END;
INSERT INTO orders VALUES (1, 'A@x', 'new', 2, 10.5), (2, 'b@x', 'shipped', 1, NULL),
  (3, 'c@x', 'paid', 5, 3), (4, NULL, 'new', 7, 0);
INSERT INTO odd VALUES (1, 'x', 'abc'), (2, 'y', 'b');
INSERT INTO flags VALUES (1, 1, 'a'), (2, 0, 'b');
SQL
pg_newdb db1
"$FERRY" copy --json src.db "$(pg_url "$db1")" > s1.json 2> e1.txt || fail "sqlite -> postgres copy failed: $(cat e1.txt)"
check "sqlite -> postgres: checks created, named or as PostgreSQL names them" \
"orders_status_check CHECK ((status = ANY (ARRAY['new'::text, 'paid'::text, 'shipped'::text])))
orders_total_check CHECK (((total >= (0)::double precision) OR (total IS NULL)))
qty_pos CHECK ((qty > 0))" "$(pg_checks "$db1")"
check "sqlite -> postgres: unique, partial, expression and DESC indexes" \
"CREATE UNIQUE INDEX orders_email_key ON orders USING btree (email)
CREATE INDEX orders_lower_email ON orders USING btree (lower(email))
CREATE INDEX orders_open ON orders USING btree (status) WHERE (status <> 'shipped'::text)
CREATE UNIQUE INDEX orders_pkey ON orders USING btree (id)
CREATE UNIQUE INDEX orders_qty_email ON orders USING btree (qty, email)
CREATE INDEX orders_total_desc ON orders USING btree (total DESC, id)" "$(pg_indexes "$db1")"
notes=$(python3 -c 'import json,sys; print("\n".join(n["message"] if isinstance(n, dict) else n for n in json.load(open(sys.argv[1]))["notes"]))' s1.json)
grep -q 'check constraint of "odd" is not created in "odd": CHECK (typeof(v) = '"'"'text'"'"') uses function typeof' <<< "$notes" \
	&& ok "a CHECK PostgreSQL cannot say is one note" || fail "no note for the typeof check: $notes"
grep -q 'index "odd_glob" of "odd" is not created in "odd": .*GLOB' <<< "$notes" \
	&& ok "a partial index PostgreSQL cannot say is one note" || fail "no note for odd_glob: $notes"
grep -q 'index "odd_nocase" of "odd" is not created in "odd": .*COLLATE' <<< "$notes" \
	&& ok "an expression index PostgreSQL cannot say is one note" || fail "no note for odd_nocase: $notes"
check "sqlite -> postgres: a boolean column's 0 and 1 are false and true" \
	"flags_ok_check CHECK ((ok = ANY (ARRAY[false, true])))|CREATE INDEX flags_ok ON public.flags USING btree (id) WHERE (ok = true)" \
	"$(pgq "$db1" "SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'flags'::regclass AND contype = 'c'")|$(pgq "$db1" "SELECT indexdef FROM pg_indexes WHERE indexname = 'flags_ok'")"
check "sqlite -> postgres: a view and a trigger are one note each" \
"view \"open_orders\" of source \"source\" is not copied: ferry copies tables (create it in a target_schema)
trigger \"orders_touch\" of source \"source\" is not copied: ferry copies tables (create it in a target_schema)" \
	"$(echo "$notes" | grep ' is not copied: ')"
grep -q 'check constraint of "flags" is not created: PostgreSQL refused CHECK (abs("name") >= 0): function abs(text) does not exist' <<< "$notes" \
	&& ok "a CHECK PostgreSQL refuses when created is one note with its reason" || fail "no note for the abs check: $notes"
check "sqlite -> postgres: rows as the source holds them" "$(lite_rows src.db)" "$(pg_rows "$db1")"
check "sqlite -> postgres: ferry verify --full" "exit=0" "$(vj --full src.db "$(pg_url "$db1")")"
check "sqlite -> postgres: the checks hold in the target" "refused refused accepted" \
	"$(refused pgq "$db1" "INSERT INTO orders VALUES (9, 'z@x', 'lost', 1, 1)") $(refused pgq "$db1" "INSERT INTO orders VALUES (9, 'z@x', 'new', 0, 1)") $(refused pgq "$db1" "BEGIN; INSERT INTO orders VALUES (9, 'z@x', 'new', 1, 1); ROLLBACK")"

# ---- SQLite -> PostgreSQL -> SQLite ------------------------------------------------------
"$FERRY" copy -q "$(pg_url "$db1")" back.db > /dev/null 2> e2.txt || fail "postgres -> sqlite copy failed: $(cat e2.txt)"
check "the source's indexes" \
"orders_lower_email u0 p0 <expr>
orders_open u0 p1 status
orders_qty_email u1 p0 qty,email
orders_total_desc u0 p0 total desc,id
UNIQUE u1 p0 email" "$(lite_indexes src.db)"
check "sqlite -> postgres -> sqlite: the same indexes (unique constraint, partial, expression, DESC)" \
	"$(lite_indexes src.db)" "$(lite_indexes back.db)"
check "sqlite -> postgres: the UNIQUE clause is a unique constraint" "orders_email_key UNIQUE (email)" \
	"$(pgq "$db1" "SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'orders'::regclass AND contype = 'u'")"
check "sqlite -> postgres -> sqlite: the checks, as SQLite's text" \
"CONSTRAINT \"orders_status_check\" CHECK ((\"status\" IN ('new', 'paid', 'shipped')))
CONSTRAINT \"orders_total_check\" CHECK (((\"total\" >= (0)) OR (\"total\" IS NULL)))
CONSTRAINT \"qty_pos\" CHECK ((\"qty\" > 0))" \
	"$(sqlite3 back.db "SELECT sql FROM sqlite_master WHERE name = 'orders'" | grep -o 'CONSTRAINT "[a-z_]*" CHECK ((.*' | sed 's/), CONSTRAINT/)\nCONSTRAINT/g; s/)$//')"
check "sqlite -> postgres -> sqlite: the partial index's predicate" \
	"CREATE INDEX \"orders_open\" ON \"orders\"(\"status\") WHERE (\"status\" <> 'shipped')" \
	"$(sqlite3 back.db "SELECT sql FROM sqlite_master WHERE name = 'orders_open'")"
check "sqlite -> postgres -> sqlite: rows (independent comparison)" "$(lite_rows src.db)" "$(lite_rows back.db)"
check "sqlite -> postgres -> sqlite: ferry verify --full" "exit=0" "$(vj --full "$(pg_url "$db1")" back.db)"
check "sqlite -> postgres -> sqlite: checks and unique constraints hold" "refused refused refused accepted" \
	"$(refused sqlite3 back.db "INSERT INTO orders VALUES (9, 'z@x', 'lost', 1, 1)") $(refused sqlite3 back.db "INSERT INTO orders VALUES (9, 'z@x', 'new', -1, 1)") $(refused sqlite3 back.db "INSERT INTO orders VALUES (9, 'A@x', 'new', 1, 1)") $(refused sqlite3 back.db "BEGIN; INSERT INTO orders VALUES (9, 'z@x', 'new', 1, 1); ROLLBACK")"

# ---- PostgreSQL -> SQLite -> PostgreSQL --------------------------------------------------
pg_newdb pgsrc
pgq "$pgsrc" "CREATE TABLE orders(id bigint PRIMARY KEY, email text UNIQUE,
  status text NOT NULL CHECK (status IN ('new', 'paid', 'shipped')),
  qty bigint CONSTRAINT qty_pos CHECK (qty > 0), total double precision,
  CONSTRAINT total_ok CHECK (total >= 0 OR total IS NULL),
  CONSTRAINT short_email CHECK (char_length(email) < 40));
CREATE INDEX orders_open ON orders(status) WHERE status <> 'shipped';
CREATE INDEX orders_lower_email ON orders(lower(email));
CREATE INDEX orders_total_desc ON orders(total DESC, id);
CREATE INDEX orders_like ON orders(email) WHERE email LIKE '%@x';
CREATE TABLE odd(id bigint PRIMARY KEY, d date CHECK (d > '2000-01-01'::date), w text);
CREATE INDEX odd_re ON odd(w) WHERE w ~ '^a';
INSERT INTO orders VALUES (1, 'A@x', 'new', 2, 10.5), (2, 'b@x', 'shipped', 1, NULL),
  (3, 'c@y', 'paid', 5, 3), (4, NULL, 'new', 7, 0);
INSERT INTO odd VALUES (1, '2020-01-01', 'abc');
INSERT INTO odd VALUES (2, '2021-01-01', 'b'), (3, '2022-01-01', 'c');
ALTER TABLE odd ADD CONSTRAINT w_short CHECK (length(w) > 1) NOT VALID;
CREATE INDEX orders_qty_incl ON orders(qty) INCLUDE (email);
CREATE INDEX odd_hash ON odd USING hash (w);
CREATE VIEW big_orders AS SELECT * FROM orders WHERE qty > 3;
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';
CREATE TRIGGER orders_touch BEFORE UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION touch();
COMMENT ON TABLE orders IS 'what was bought';
COMMENT ON COLUMN orders.email IS 'the buyer';
ALTER TABLE odd ALTER COLUMN w TYPE text COLLATE \"C\";
ALTER TABLE odd ADD CONSTRAINT odd_excl EXCLUDE USING btree (id WITH =);" > /dev/null
"$FERRY" copy --json "$(pg_url "$pgsrc")" mid.db > s3.json 2> e3.txt || fail "postgres -> sqlite copy failed: $(cat e3.txt)"
check "postgres -> sqlite: the indexes" \
"orders_like u0 p1 email
orders_lower_email u0 p0 <expr>
orders_open u0 p1 status
orders_qty_incl u0 p0 qty
orders_total_desc u0 p0 total desc,id
UNIQUE u1 p0 email" "$(lite_indexes mid.db)"
sqlite3 mid.db "SELECT sql FROM sqlite_master WHERE name = 'orders'" | grep -q "CONSTRAINT \"short_email\" CHECK ((length(\"email\") < 40))" \
	&& ok "postgres -> sqlite: char_length is SQLite's length" || fail "short_email: $(sqlite3 mid.db "SELECT sql FROM sqlite_master WHERE name = 'orders'")"
notes=$(python3 -c 'import json,sys; print("\n".join(n["message"] if isinstance(n, dict) else n for n in json.load(open(sys.argv[1]))["notes"]))' s3.json)
grep -q 'check constraint "odd_d_check" of "odd" is not created in "odd": .*a cast to date' <<< "$notes" \
	&& ok "postgres -> sqlite: a check with a date cast is one note" || fail "no note for odd_d_check: $notes"
grep -q 'index "odd_re" of "odd" is not created in "odd": .*operator ~' <<< "$notes" \
	&& ok "postgres -> sqlite: a regular-expression predicate is one note" || fail "no note for odd_re: $notes"
grep -q 'check constraint "w_short" of "odd" is not created in "odd": it is NOT VALID in the source' <<< "$notes" \
	&& ok "postgres -> sqlite: a NOT VALID check is one note, not rejected rows" || fail "no note for w_short: $notes"
check "postgres -> sqlite: a view, a trigger, an exclusion constraint and comments are one note each" \
"comment \"orders\" of source \"source\" is not copied: ferry copies tables (create it in a target_schema)
comment \"orders.email\" of source \"source\" is not copied: ferry copies tables (create it in a target_schema)
exclusion constraint \"odd.odd_excl\" of source \"source\" is not copied: ferry copies tables (create it in a target_schema)
trigger \"orders_touch\" of source \"source\" is not copied: ferry copies tables (create it in a target_schema)
view \"big_orders\" of source \"source\" is not copied: ferry copies tables (create it in a target_schema)" \
	"$(echo "$notes" | grep ' is not copied: ')"
check "postgres -> sqlite: a column's collation \"C\" is SQLite's BINARY (the same order), no note" \
	"1|0" "$(sqlite3 mid.db "SELECT sql LIKE '%\"w\" text COLLATE BINARY%' FROM sqlite_master WHERE name = 'odd'")|$(echo "$notes" | grep -c 'collation' || true)"
check "postgres -> sqlite: an index's INCLUDE columns and access method are noted" \
"index \"odd_hash\" of \"odd\" is a hash index in the source: created in \"odd\" as an ordinary one
index \"orders_qty_incl\" of \"orders\" is created in \"orders\" without its INCLUDE columns" \
	"$(echo "$notes" | grep -E 'INCLUDE|a hash index' | sort)"
check "postgres -> sqlite: the rows that break the NOT VALID check arrive" "3" "$(sqlite3 mid.db "SELECT count(*) FROM odd")"
check "postgres -> sqlite: rows (independent comparison)" "$(pg_rows "$pgsrc")" "$(lite_rows mid.db)"
check "postgres -> sqlite: ferry verify --full" "exit=0" "$(vj --full "$(pg_url "$pgsrc")" mid.db)"
pg_newdb pgback
"$FERRY" copy -q mid.db "$(pg_url "$pgback")" > /dev/null 2> e4.txt || fail "sqlite -> postgres copy failed: $(cat e4.txt)"
check "postgres -> sqlite -> postgres: the same check constraints" "$(pg_checks "$pgsrc" | sed 's/char_length/length/')" "$(pg_checks "$pgback")"
check "postgres -> sqlite -> postgres: the same indexes (but the INCLUDE columns, noted)" \
	"$(pg_indexes "$pgsrc" | sed 's/ INCLUDE (email)//')" "$(pg_indexes "$pgback")"
check "postgres -> sqlite -> postgres: the same unique constraints" \
	"$(pgq "$pgsrc" "SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'orders'::regclass AND contype = 'u'")" \
	"$(pgq "$pgback" "SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'orders'::regclass AND contype = 'u'")"
check "postgres -> sqlite -> postgres: rows (independent comparison)" "$(pg_rows "$pgsrc")" "$(pg_rows "$pgback")"
check "postgres -> sqlite -> postgres: ferry verify --full" "exit=0" "$(vj --full mid.db "$(pg_url "$pgback")")"

# ---- PostgreSQL -> PostgreSQL with a renamed table and column: rebuilt from their parts --
pg_newdb pgren
cat > ren.yaml <<EOF
source: $(pg_url "$pgsrc")
target: $(pg_url "$pgren")
tables:
  - table: orders
    rename: purchases
    columns:
      state: status
EOF
"$FERRY" copy -q -p ren.yaml > /dev/null 2> e5.txt || fail "renamed copy failed: $(cat e5.txt)"
check "a renamed table and column keep their checks and indexes, renamed" \
"orders_lower_email|CREATE INDEX orders_lower_email ON public.purchases USING btree (lower(email))
orders_open|CREATE INDEX orders_open ON public.purchases USING btree (state) WHERE (state <> 'shipped'::text)
orders_status_check|CHECK ((state = ANY (ARRAY['new'::text, 'paid'::text, 'shipped'::text])))" \
	"$(pgq "$pgren" "SELECT indexname || '|' || indexdef FROM pg_indexes WHERE tablename = 'purchases' AND indexname IN ('orders_open', 'orders_lower_email') UNION ALL SELECT conname || '|' || pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'purchases'::regclass AND conname = 'orders_status_check' ORDER BY 1")"

finish
