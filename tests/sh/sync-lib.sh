# sync-lib.sh — the online tests' shared parts: the source schema the random writer knows
# (tests/sh/writer.py), the new version's schema, the plan, and an independent comparison of
# the target with the source through the plan's rules, in plain SQL. Source after lib.sh.
# shellcheck shell=bash

# Debian's python3, which has psycopg2 (a python3 earlier on PATH may not).
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
WRITER="$(dirname "${BASH_SOURCE[0]}")/writer.py"

# The old version: items (a rowid key), users (a secondary UNIQUE that REPLACE evicts
# through), pairs (a composite text/integer key, WITHOUT ROWID, blob values).
SYNC_SRC_SQL="
CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT NOT NULL, price REAL, qty INTEGER,
                   secret TEXT, cat TEXT);
CREATE TABLE users(id INTEGER PRIMARY KEY, email TEXT UNIQUE, score INTEGER);
CREATE TABLE pairs(a TEXT, b INTEGER, v BLOB, PRIMARY KEY (a, b)) WITHOUT ROWID;
"

# sync_pg_source_sql ITEMS: the same old version for PostgreSQL, as SQL (every tests/sh/pg-*
# online test and bench/sync, bench/cutover make their sources with it).
sync_pg_source_sql() {
	cat <<SQL
CREATE TABLE items(id bigint PRIMARY KEY, name text NOT NULL, price double precision,
                   qty integer, secret text, cat text);
CREATE TABLE users(id bigint PRIMARY KEY, email text UNIQUE, score integer);
CREATE TABLE pairs(a text, b integer, v bytea, PRIMARY KEY (a, b));
INSERT INTO items SELECT i, 'item ' || i, (i % 97) * 1.25, (i % 23) - 3, 'x' || i,
  CASE i % 4 WHEN 0 THEN NULL ELSE 'cat' || (i % 4) END FROM generate_series(1, $1) i;
INSERT INTO users SELECT i, 'u' || i || '@example.org', i % 50 FROM generate_series(1, 200) i;
INSERT INTO pairs SELECT 'a', i, decode(repeat('ab', i % 5), 'hex') FROM generate_series(0, 29) i;
SQL
}

# sync_sqlite_source DB ITEMS: the old version in WAL mode with ITEMS items.
sync_sqlite_source() {
	sqlite3 "$1" "PRAGMA journal_mode=WAL;" > /dev/null
	sqlite3 "$1" "$SYNC_SRC_SQL
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < $2)
INSERT INTO items SELECT i, 'item ' || i, (i % 97) * 1.25, (i % 23) - 3, 'x' || i,
  CASE i % 4 WHEN 0 THEN NULL ELSE 'cat' || (i % 4) END FROM s;
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 200)
INSERT INTO users SELECT i, 'u' || i || '@example.org', i % 50 FROM s;
WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < 29)
INSERT INTO pairs SELECT 'a', i, randomblob(i % 5) FROM s;"
}

# sync_plan DIR SOURCE_URL TARGET_URL: the new version's schema (DIR/v2.sql) and the plan
# (DIR/plan.yaml): items renamed with a renamed, a dropped and a computed column, a default,
# and a where that updates move rows into and out of; users and pairs as they are.
# sync_v2_schema DIR TARGET_URL: the new version's schema as DIR/v2.sql, in TARGET_URL's
# engine's words (BLOB for SQLite).
sync_v2_schema() {
	cat > "$1/v2.sql" <<'SQL'
CREATE TABLE products(id BIGINT PRIMARY KEY, title TEXT NOT NULL, price DOUBLE PRECISION,
                      qty INTEGER, cat TEXT, total DOUBLE PRECISION, status TEXT DEFAULT 'new');
CREATE TABLE users(id BIGINT PRIMARY KEY, email TEXT UNIQUE, score INTEGER);
CREATE TABLE pairs(a TEXT, b INTEGER, v BYTEA, PRIMARY KEY (a, b));
SQL
	if [ "${2#sqlite:}" != "$2" ]; then sed -i 's/BYTEA/BLOB/' "$1/v2.sql"; fi
}

sync_plan() {
	sync_v2_schema "$1" "$3"
	cat > "$1/plan.yaml" <<YAML
source: $2
target: $3
target_schema: v2.sql
chunk_rows: 200
tables:
  - table: items
    rename: products
    where: "qty >= 0"
    columns:
      title: name
      secret: { drop: true }
      total: { expr: "price * qty" }
      status: { default: "new" }
others: copy
YAML
}

# The independent check (tests/sh/sync-compare.py): "equal", or the differences.
sync_compare() { $PY "$(dirname "${BASH_SOURCE[0]}")/sync-compare.py" "$1" "$2"; }
