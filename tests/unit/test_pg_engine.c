/* test_pg_engine.c — unit tests of the PostgreSQL engine through its engine table, against
 * the server FERRY_TEST_PG names (tests/sh/pg-engine.sh provides one): connect and its
 * messages, introspection, every type written and read back, conversions refused, rejects
 * found exactly, merges, chunks, snapshots, the run state, the migration callbacks. */
#include <libpq-fe.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "ferry_int.h"
#include "check.h"
#include "engine_io.h"
#include "pipeline/state.h"

static const ferry_engine *E = &ferry__postgres_engine;
static char base_url[512], db_name[64];
static PGconn *admin;

/* ---- helpers ----------------------------------------------------------------------- */

/* FERRY_TEST_PG with its database replaced by db (and query q appended). */
static void url_for(char *out, size_t cap, const char *db, const char *q)
{
	const char *s = strstr(base_url, "://");
	const char *auth = s ? s + 3 : base_url;
	const char *slash = strchr(auth, '/'), *qm = strchr(auth, '?');
	size_t head = slash ? (size_t)(slash - base_url) : qm ? (size_t)(qm - base_url) : strlen(base_url);
	const char *query = qm ? qm + 1 : "";
	snprintf(out, cap, "%.*s/%s%s%s%s%s", (int)head, base_url, db, *query || (q && *q) ? "?" : "",
	         query, *query && q && *q ? "&" : "", q ? q : "");
}

static PGconn *db_conn;

/* Run SQL on the test database (fails the test when it fails). */
static void sql(const char *s)
{
	PGresult *r = PQexec(db_conn, s);
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
		check_failed++;
		fprintf(stderr, "sql failed: %s\n    %s", s, PQerrorMessage(db_conn));
	}
	PQclear(r);
}

/* The first value of a query, as text (static buffer). */
static const char *q1(const char *s)
{
	static char buf[8192];
	PGresult *r = PQexec(db_conn, s);
	buf[0] = '\0';
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0)
		snprintf(buf, sizeof(buf), "%s", PQgetisnull(r, 0, 0) ? "(null)" : PQgetvalue(r, 0, 0));
	else if (PQresultStatus(r) != PGRES_TUPLES_OK)
		snprintf(buf, sizeof(buf), "error: %s", PQerrorMessage(db_conn));
	PQclear(r);
	return buf;
}

static ferry_conn *open_db(int flags)
{
	char url[600];
	url_for(url, sizeof(url), db_name, NULL);
	ferry_conn *c = NULL;
	ferry_err err = {0};
	if (!OK(E->core->connect(&c, url, flags, &err)))
		exit(1);
	return c;
}

static ferry_value v_int(int64_t i) { ferry_value v = {.type = FERRY_INT, .v.i = i}; return v; }
static ferry_value v_float(double f) { ferry_value v = {.type = FERRY_FLOAT, .v.f = f}; return v; }
static ferry_value v_null(void) { ferry_value v = {.type = FERRY_NULL}; return v; }

static ferry_value v_typed(ferry_type t, const char *s)
{
	ferry_value v = {.type = (uint8_t)t, .len = (uint32_t)strlen(s), .v.s = s};
	return v;
}

static ferry_value v_text(const char *s) { return v_typed(FERRY_TEXT, s); }

typedef struct rejects {
	size_t n;
	size_t rows[64];
	char reasons[64][600];
} rejects;

static int on_reject(void *ud, size_t row, const char *reason)
{
	rejects *r = ud;
	if (r->n < 64) {
		r->rows[r->n] = row;
		snprintf(r->reasons[r->n], sizeof(r->reasons[0]), "%s", reason);
	}
	r->n++;
	return 0;
}

/* Write one row of n values into table (columns cols) with a fresh writer. */
static int write_rows(ferry_conn *c, const char *table, size_t ncols, const char *const *cols,
                      const ferry_value *vals, size_t nrows, rejects *rj, ferry_err *err)
{
	size_t map[32];
	ferry_type types[32];
	for (size_t i = 0; i < ncols; i++) {
		map[i] = i;
		types[i] = FERRY_TEXT;
	}
	ferry_write_spec spec = {.table = table, .ncols = ncols, .cols = cols, .types = types, .map = map};
	ferry_writer *w;
	int rc = E->write->writer_open(&w, c, &spec, err);
	if (rc)
		return rc;
	ferry_batch *b = ferry__batch_new(ncols, nrows + 1);
	for (size_t r = 0; r < nrows; r++) {
		ferry_value *row = ferry_batch_add_row(b);
		for (size_t i = 0; i < ncols; i++)
			row[i] = vals[r * ncols + i];
	}
	rc = E->write->writer_write(w, b, on_reject, rj, err);
	E->write->writer_close(w);
	ferry__batch_free(b);
	return rc;
}

#define read_all(...) engine_read_all(E, __VA_ARGS__)

/* Rows rendered as "v1|v2;v1|v2;" with type letters: i: f: n: t: b: B: d: T: z: u: j: -. */
typedef struct rows_text {
	char s[16384];
} rows_text;

static void render(void *ud, const ferry_value *row, size_t ncols)
{
	rows_text *t = ud;
	size_t n = strlen(t->s);
	for (size_t i = 0; i < ncols && n < sizeof(t->s) - 200; i++) {
		const ferry_value *v = &row[i];
		static const char letter[] = "-ifntbBdhTzuj";
		n += (size_t)snprintf(t->s + n, sizeof(t->s) - n, "%s%c:", i ? "|" : "", letter[v->type]);
		switch (v->type) {
		case FERRY_NULL: break;
		case FERRY_INT: case FERRY_BOOL:
			n += (size_t)snprintf(t->s + n, sizeof(t->s) - n, "%lld", (long long)v->v.i);
			break;
		case FERRY_FLOAT:
			n += (size_t)snprintf(t->s + n, sizeof(t->s) - n, "%.17g%s", v->v.f,
			                      v->v.f == 0 && signbit(v->v.f) ? "(neg)" : "");
			break;
		case FERRY_BLOB:
			for (uint32_t k = 0; k < v->len && k < 16; k++)
				n += (size_t)snprintf(t->s + n, sizeof(t->s) - n, "%02x", v->v.b[k]);
			if (v->len > 16)
				n += (size_t)snprintf(t->s + n, sizeof(t->s) - n, "..(%u)", v->len);
			break;
		default:
			n += (size_t)snprintf(t->s + n, sizeof(t->s) - n, "%.*s", (int)(v->len < 120 ? v->len : 120), v->v.s);
		}
	}
	if (n < sizeof(t->s) - 2) {
		t->s[n++] = ';';
		t->s[n] = '\0';
	}
}

static const char *read_text(ferry_conn *c, const char *table, size_t n, const char *const *exprs)
{
	static rows_text t;
	t.s[0] = '\0';
	ferry_read_spec spec = {.table = table, .nexprs = n, .exprs = exprs};
	ferry_err err = {0};
	OK(read_all(c, &spec, 7, render, &t, &err));
	return t.s;
}

/* ---- connect ----------------------------------------------------------------------- */

static void test_connect(void)
{
	ferry_err err = {0};
	ferry_conn *c = NULL;
	char url[600];

	url_for(url, sizeof(url), "ferry_no_such_db", NULL);
	CHECK_INT(E->core->connect(&c, url, FERRY_CONNECT_CREATE, &err), FERRY_ENOTFOUND);
	CHECK(c == NULL);
	CHECK(strstr(err.msg, "database \"ferry_no_such_db\"") != NULL);
	CHECK(strstr(err.msg, "does not exist") != NULL);

	/* A password in the URL never shows, even when libpq quotes the bad part of it. */
	const char *s = strstr(base_url, "://");
	const char *auth = s + 3;
	const char *at = strchr(auth, '@');
	const char *hostpart = at ? at + 1 : auth;
	size_t hl = strcspn(hostpart, "/?");
	snprintf(url, sizeof(url), "postgresql://someone:Sekr%%zzit@%.*s/x", (int)hl, hostpart);
	memset(&err, 0, sizeof(err));
	CHECK(E->core->connect(&c, url, 0, &err) != 0);
	CHECK(strstr(err.msg, "Sekr") == NULL);
	CHECK(strstr(err.msg, "zzit") == NULL);

	/* A conninfo string reaches libpq as it is. */
	url_for(url, sizeof(url), db_name, NULL);
	PQconninfoOption *opts = PQconninfoParse(url, NULL);
	char ci[600] = "";
	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		if (o->val && *o->val && (strcmp(o->keyword, "host") == 0 || strcmp(o->keyword, "port") == 0 ||
		                          strcmp(o->keyword, "user") == 0 || strcmp(o->keyword, "dbname") == 0))
			snprintf(ci + strlen(ci), sizeof(ci) - strlen(ci), "%s='%s' ", o->keyword, o->val);
	PQconninfoFree(opts);
	memset(&err, 0, sizeof(err));
	if (OK(E->core->connect(&c, ci, 0, &err)))
		E->core->close(c);

	/* A schema named by search_path: a target creates it, a source must find it. */
	url_for(url, sizeof(url), db_name, "options=-csearch_path%3Dnew_schema");
	CHECK_INT(E->core->connect(&c, url, FERRY_CONNECT_READONLY, &err), FERRY_ENOTFOUND);
	CHECK(strstr(err.msg, "schema \"new_schema\"") != NULL);
	if (OK(E->core->connect(&c, url, FERRY_CONNECT_CREATE, &err)))
		E->write->discard(c); /* created and empty: dropped again */
	CHECK_STR(q1("SELECT count(*) FROM pg_namespace WHERE nspname = 'new_schema'"), "0");

	/* A source is read-only. */
	c = open_db(FERRY_CONNECT_READONLY);
	CHECK(E->core->exec(c, "CREATE TABLE nope(a int)", &err) != 0);
	CHECK(strstr(err.msg, "read-only") != NULL);
	E->core->close(c);
}

static void test_quote(void)
{
	char buf[64];
	CHECK_INT(E->core->quote_ident(buf, sizeof(buf), "a\"b"), 6);
	CHECK_STR(buf, "\"a\"\"b\"");
}

/* ---- introspection ----------------------------------------------------------------- */

static ferry_table *find(ferry_schema *s, const char *name)
{
	ferry_table *t = ferry_schema_find(s, name);
	if (!t) {
		check_failed++;
		fprintf(stderr, "table %s not found\n", name);
	}
	return t;
}

static void test_introspect(void)
{
	sql("CREATE TYPE color AS ENUM ('red', 'green');"
	    "CREATE DOMAIN short_text AS varchar(10);"
	    "CREATE TABLE \"Mixed Case\"(\"Id\" bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
	    " s smallint NOT NULL DEFAULT 3, n numeric(10,2), f real, d date, t time(3),"
	    " ts timestamp(3) with time zone, b bytea, j jsonb, u uuid, c color, a int[], iv interval,"
	    " st short_text, g int GENERATED ALWAYS AS (s * 2) STORED, dropped int);"
	    "ALTER TABLE \"Mixed Case\" DROP COLUMN dropped;"
	    "CREATE TABLE kid(k1 int, k2 text COLLATE \"C\", parent bigint REFERENCES \"Mixed Case\"(\"Id\") ON DELETE CASCADE,"
	    " PRIMARY KEY (k2, k1), UNIQUE (parent));"
	    "CREATE INDEX kid_expr ON kid (lower(k2)) WHERE k1 > 0;"
	    "CREATE TABLE heap(x int);"
	    "CREATE TABLE part(k int, v text) PARTITION BY LIST (k);"
	    "CREATE TABLE part_1 PARTITION OF part FOR VALUES IN (1);"
	    "CREATE TABLE ferry_runs(x int);");
	ferry_conn *c = open_db(FERRY_CONNECT_READONLY);
	ferry_schema *s = ferry__schema_new();
	ferry_err err = {0};
	OK(E->core->introspect(c, s, &err));
	CHECK(ferry_schema_find(s, "part_1") == NULL);
	CHECK(ferry_schema_find(s, "ferry_runs") == NULL);
	ferry_table *t = find(s, "Mixed Case");
	if (t) {
		static const struct { const char *name, *decl; ferry_type type; } want[] = {
			{"Id", "bigint", FERRY_INT}, {"s", "smallint", FERRY_INT},
			{"n", "numeric(10,2)", FERRY_NUMERIC}, {"f", "real", FERRY_FLOAT},
			{"d", "date", FERRY_DATE}, {"t", "time(3)", FERRY_TIME},
			{"ts", "timestamptz(3)", FERRY_TIMESTAMPTZ}, {"b", "bytea", FERRY_BLOB},
			{"j", "jsonb", FERRY_JSON}, {"u", "uuid", FERRY_UUID}, {"c", "color", FERRY_TEXT},
			{"a", "integer[]", FERRY_TEXT}, {"iv", "interval", FERRY_TEXT},
			{"st", "short_text", FERRY_TEXT}, {"g", "integer", FERRY_INT}};
		CHECK_INT(t->ncols, FERRY_ARRAY_LEN(want));
		for (size_t i = 0; i < t->ncols && i < FERRY_ARRAY_LEN(want); i++) {
			CHECK_STR(t->cols[i].name, want[i].name);
			CHECK_STR(t->cols[i].decl_type, want[i].decl);
			CHECK_INT(t->cols[i].type, want[i].type);
		}
		CHECK_INT(t->npk, 1);
		CHECK_INT(t->has_rowid, 0);
		CHECK_STR(t->origin, "postgres");
		CHECK(t->cols[0].default_sql && strstr(t->cols[0].default_sql, "nextval(") != NULL);
		CHECK_INT(t->cols[1].notnull, 1);
		CHECK_STR(t->cols[1].default_sql, "3");
		CHECK_INT(t->cols[14].generated, 1);
		CHECK(t->cols[14].default_sql == NULL);
	}
	t = find(s, "kid");
	if (t) {
		CHECK_INT(t->npk, 2);
		CHECK_STR(t->cols[t->pk[0]].name, "k2");
		CHECK_STR(t->cols[t->pk[1]].name, "k1");
		/* A column's own collation, as COLLATE names it; none for the type's. */
		CHECK_STR(t->cols[1].collation, "\"C\"");
		CHECK(t->cols[0].collation == NULL && t->cols[2].collation == NULL);
		CHECK_INT(t->nfks, 1);
		if (t->nfks) {
			CHECK_STR(t->fks[0].ref_table, "Mixed Case");
			CHECK_STR(t->fks[0].cols[0], "parent");
			CHECK_STR(t->fks[0].ref_cols[0], "Id");
			CHECK_STR(t->fks[0].on_delete, "CASCADE");
			CHECK(t->fks[0].on_update == NULL);
		}
		CHECK_INT(t->nidx, 2);
		for (size_t i = 0; i < t->nidx; i++) {
			if (strcmp(t->idx[i].name, "kid_expr") == 0) {
				CHECK_INT(t->idx[i].exprs, 1);
				CHECK_STR(t->idx[i].cols[0], "lower(k2)");
				CHECK_STR(t->idx[i].where, "(k1 > 0)");
				CHECK(strstr(t->idx[i].sql, "CREATE INDEX kid_expr ON public.kid") == t->idx[i].sql);
			} else {
				CHECK_STR(t->idx[i].name, "kid_parent_key");
				CHECK_INT(t->idx[i].unique, 1);
				CHECK_STR(t->idx[i].cols[0], "parent");
			}
		}
	}
	t = find(s, "heap");
	if (t)
		CHECK_INT(t->has_rowid, 1);
	t = find(s, "part");
	if (t)
		CHECK_INT(t->ncols, 2);
	ferry__schema_free(s);
	E->core->close(c);
	sql("DROP TABLE ferry_runs");
}

/* ---- values -------------------------------------------------------------------------- */

static void test_values(void)
{
	sql("CREATE TABLE vals(id int PRIMARY KEY, i2 smallint, i4 int, i8 bigint, f4 real,"
	    " f8 double precision, n numeric, n2 numeric(6,2), t text, vc varchar(3), bp char(3),"
	    " b bytea, bo boolean, d date, tm time, ts timestamp, tz timestamptz, u uuid, j json,"
	    " jb jsonb, e color, arr int[], iv interval)");
	ferry_conn *c = open_db(0);
	ferry_err err = {0};
	static const char *const cols[] = {"id", "i2", "i4", "i8", "f4", "f8", "n", "n2", "t", "vc",
	                                   "bp", "b", "bo", "d", "tm", "ts", "tz", "u", "j", "jb", "e",
	                                   "arr", "iv"};
	enum { NC = 23 };
	ferry_value rows[3 * NC];
	ferry_value blob = {.type = FERRY_BLOB, .len = 3, .v.b = (const uint8_t *)"\x00\xff\x01"};
	ferry_value r1[NC] = {
		v_int(1), v_int(-32768), v_int(2147483647), v_int(INT64_MIN), v_float(0.5), v_float(-0.0),
		v_typed(FERRY_NUMERIC, "-123456789012345678901234567890.000001"), v_text("12.5"),
		v_text(""), v_text("äbc"), v_text("ab"), blob, v_int(1), v_text("0044-03-15 BC"),
		v_text("23:59:59.999999"), v_text("1969-12-31 23:59:59.5"),
		v_text("2040-06-30T12:34:56+02:00"), v_text("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"),
		v_text("{\"a\": 1}"), v_text("[1, \"x\"]"), v_text("green"), v_text("{1,2,NULL}"),
		v_text("1 day 02:00:00")};
	ferry_value r2[NC] = {
		v_int(2), v_null(), v_float(7.0), v_text("9223372036854775807"), v_float(NAN),
		v_float(INFINITY), v_float(0.1), v_int(-9999), v_typed(FERRY_TEXT, "\xf0\x9f\x98\x80"),
		v_null(), v_null(), v_text("raw"), v_text("off"), v_text("infinity"), v_text("00:00"),
		v_text("-infinity"), v_text("1901-12-13 20:45:51Z"), v_null(), v_int(5), v_float(1.5),
		v_null(), v_null(), v_null()};
	ferry_value r3[NC] = {
		v_int(3), v_null(), v_null(), v_null(), v_float(-INFINITY), v_float(4.9406564584124654e-324),
		v_float(NAN), v_null(), v_null(), v_null(), v_null(), v_null(), v_null(), v_text("9999-12-31"),
		v_null(), v_text("294276-12-31 23:59:59.999999"), v_null(), v_null(), v_null(), v_null(),
		v_null(), v_null(), v_null()};
	memcpy(rows, r1, sizeof(r1));
	memcpy(rows + NC, r2, sizeof(r2));
	memcpy(rows + 2 * NC, r3, sizeof(r3));
	rejects rj = {0};
	OK(E->core->begin(c, &err));
	OK(write_rows(c, "vals", NC, cols, rows, 3, &rj, &err));
	OK(E->core->commit(c, &err));
	CHECK_INT(rj.n, 0);
	for (size_t i = 0; i < rj.n && i < 4; i++)
		fprintf(stderr, "    unexpected reject %zu: %s\n", rj.rows[i], rj.reasons[i]);
	const char *got = read_text(c, "vals", NC, cols);
	CHECK_STR(got,
	          "i:1|i:-32768|i:2147483647|i:-9223372036854775808|f:0.5|f:-0(neg)|"
	          "n:-123456789012345678901234567890.000001|n:12.50|t:|t:äbc|t:ab |b:00ff01|B:1|"
	          "d:0044-03-15 BC|h:23:59:59.999999|T:1969-12-31 23:59:59.5|z:2040-06-30 10:34:56+00|"
	          "u:a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11|j:{\"a\": 1}|j:[1, \"x\"]|t:green|t:{1,2,NULL}|"
	          "t:1 day 02:00:00;"
	          "i:2|-:|i:7|i:9223372036854775807|f:nan|f:inf|n:0.1|n:-9999.00|t:\xf0\x9f\x98\x80|-:|-:|"
	          "b:726177|B:0|d:infinity|h:00:00:00|T:-infinity|z:1901-12-13 20:45:51+00|-:|j:5|j:1.5|-:|-:|-:;"
	          "i:3|-:|-:|-:|f:-inf|f:4.9406564584124654e-324|n:NaN|-:|-:|-:|-:|-:|-:|d:9999-12-31|-:|"
	          "T:294276-12-31 23:59:59.999999|-:|-:|-:|-:|-:|-:|-:;");

	/* Values that would change are refused, with the column named; the rest of the batch
	 * arrives. */
	static const char *const c2[] = {"id", "i2", "i4", "f4", "n2", "vc", "d", "ts", "u", "bo", "t", "b"};
	ferry_value bad[] = {
		v_int(10), v_int(40000), v_null(), v_null(), v_null(), v_null(), v_null(), v_null(), v_null(), v_null(), v_null(), v_null(),
		v_int(11), v_null(), v_float(1.5), v_null(), v_null(), v_null(), v_null(), v_null(), v_null(), v_null(), v_null(), v_null(),
		v_int(12), v_null(), v_null(), v_float(0.1), v_null(), v_null(), v_null(), v_null(), v_null(), v_null(), v_null(), v_null(),
		v_int(13), v_null(), v_null(), v_null(), v_text("1.234"), v_null(), v_null(), v_null(), v_null(), v_null(), v_null(), v_null(),
		v_int(14), v_null(), v_null(), v_null(), v_null(), v_text("abcd"), v_null(), v_null(), v_null(), v_null(), v_null(), v_null(),
		v_int(15), v_null(), v_null(), v_null(), v_null(), v_null(), v_text("2021-02-29"), v_null(), v_null(), v_null(), v_null(), v_null(),
		v_int(16), v_null(), v_null(), v_null(), v_null(), v_null(), v_null(), v_text("2020-01-01 10:00:00+02"), v_null(), v_null(), v_null(), v_null(),
		v_int(17), v_null(), v_null(), v_null(), v_null(), v_null(), v_null(), v_null(), v_text("not-a-uuid"), v_null(), v_null(), v_null(),
		v_int(18), v_null(), v_null(), v_null(), v_null(), v_null(), v_null(), v_null(), v_null(), v_int(2), v_null(), v_null(),
		v_int(19), v_null(), v_null(), v_null(), v_null(), v_null(), v_null(), v_null(), v_null(), v_null(), v_typed(FERRY_TEXT, "\xff\xfe"), v_null(),
		v_int(20), v_null(), v_null(), v_null(), v_typed(FERRY_NUMERIC, "12345.6"), v_null(), v_null(), v_null(), v_null(), v_null(), v_null(), v_null(),
		v_int(21), v_null(), v_null(), v_null(), v_null(), v_null(), v_null(), v_text("2020-01-01 00:00:00.0000001"), v_null(), v_null(), v_null(), v_null(),
		v_int(22), v_null(), v_null(), v_null(), v_null(), v_null(), v_null(), v_null(), v_null(), v_null(), blob, v_null(),
		v_int(23), v_null(), v_int(-7), v_float(2.5), v_text("-0.50"), v_text("ab"), v_text("2020-1-5"), v_text("2020-01-01"), v_null(), v_text("yes"), v_float(0.1), v_text("tx"),
	};
	memset(&rj, 0, sizeof(rj));
	OK(E->core->begin(c, &err));
	OK(write_rows(c, "vals", 12, c2, bad, 14, &rj, &err));
	OK(E->core->commit(c, &err));
	CHECK_INT(rj.n, 13);
	static const char *const want[] = {
		"integer 40000 is out of range for smallint column \"i2\"",
		"float 1.5 has a fraction or is not finite; it does not fit integer column \"i4\"",
		"float 0.10000000000000001 would be rounded in real column \"f4\"",
		"text '1.234' has more decimal places than the scale of numeric column \"n2\"",
		"text 'abcd' is longer than the length of text column \"vc\"",
		"text '2021-02-29' is not a valid ISO 8601 value for date column \"d\"",
		"text '2020-01-01 10:00:00+02' carries a time zone that would be dropped by timestamp column \"ts\"",
		"text 'not-a-uuid' is not a uuid for uuid column \"u\"",
		"integer 2 is not a truth value for boolean column \"bo\"",
		"is not valid UTF-8 (or holds a NUL byte) for text column \"t\"",
		"numeric '12345.6' is too large for the precision of numeric column \"n2\"",
		"has more than microsecond precision; it would be rounded by timestamp column \"ts\"",
		"blob <blob of 3 bytes> cannot be stored in (convert it with an expr rule) text column \"t\""};
	for (size_t i = 0; i < rj.n && i < FERRY_ARRAY_LEN(want); i++) {
		CHECK_INT(rj.rows[i], i);
		if (!strstr(rj.reasons[i], want[i]))
			CHECK_STR(rj.reasons[i], want[i]);
	}
	CHECK_STR(q1("SELECT i4 || '|' || f4 || '|' || n2 || '|' || vc || '|' || d || '|' || ts || '|' || bo || '|' || t || '|' || encode(b, 'escape') FROM vals WHERE id = 23"),
	          "-7|2.5|-0.50|ab|2020-01-05|2020-01-01 00:00:00|true|0.1|tx");
	E->core->close(c);
}

/* ---- rejects: a refused batch is cut down to exactly the refused rows ---------------- */

static void test_rejects(void)
{
	sql("CREATE TABLE uniq(id int PRIMARY KEY, v int CHECK (v >= 0), u text UNIQUE);"
	    "INSERT INTO uniq VALUES (5, 0, 'taken')");
	ferry_conn *c = open_db(0);
	ferry_err err = {0};
	static const char *const cols[] = {"id", "v", "u"};
	enum { N = 100 };
	ferry_value rows[N * 3];
	char us[N][16];
	for (int i = 0; i < N; i++) {
		snprintf(us[i], sizeof(us[i]), "u%d", i);
		rows[i * 3] = v_int(i);
		rows[i * 3 + 1] = v_int(i == 40 ? -1 : i);
		rows[i * 3 + 2] = v_text(i == 77 ? "taken" : i == 78 ? "u3" : us[i]);
	}
	rejects rj = {0};
	OK(E->core->begin(c, &err));
	OK(write_rows(c, "uniq", 3, cols, rows, N, &rj, &err));
	OK(E->core->commit(c, &err));
	CHECK_INT(rj.n, 4);
	size_t want[] = {5, 40, 77, 78};
	for (size_t i = 0; i < rj.n && i < 4; i++)
		CHECK_INT(rj.rows[i], want[i]);
	CHECK(strstr(rj.reasons[0], "duplicate key value violates unique constraint \"uniq_pkey\"") != NULL);
	CHECK(strstr(rj.reasons[1], "violates check constraint") != NULL);
	CHECK_STR(q1("SELECT count(*) || ' ' || sum(id) FROM uniq"), "97 4755");
	/* Not inside a transaction: each COPY stands alone and the bad row still goes alone. */
	ferry_value more[] = {v_int(200), v_int(1), v_text("a"), v_int(201), v_int(1), v_text("a")};
	memset(&rj, 0, sizeof(rj));
	OK(write_rows(c, "uniq", 3, cols, more, 2, &rj, &err));
	CHECK_INT(rj.n, 1);
	CHECK_INT(rj.rows[0], 1);
	E->core->close(c);
}

/* ---- merges ------------------------------------------------------------------------ */

static void test_merge(void)
{
	sql("CREATE TABLE m(k text PRIMARY KEY, lo int, hi int, s int, f text, l text, e text)");
	ferry_conn *c = open_db(0);
	ferry_err err = {0};
	static const char *const cols[] = {"k", "lo", "hi", "s", "f", "l", "e"};
	size_t map[7] = {0, 1, 2, 3, 4, 5, 6};
	ferry_type types[7] = {FERRY_TEXT, FERRY_INT, FERRY_INT, FERRY_INT, FERRY_TEXT, FERRY_TEXT, FERRY_TEXT};
	uint8_t rules[7] = {FERRY_CONFLICT_KEY, FERRY_CONFLICT_MIN, FERRY_CONFLICT_MAX, FERRY_CONFLICT_SUM,
	                    FERRY_CONFLICT_FIRST, FERRY_CONFLICT_LAST, FERRY_CONFLICT_ERROR};
	ferry_write_spec spec = {.table = "m", .ncols = 7, .cols = cols, .types = types, .map = map,
	                         .merge = 1, .conflict = rules};
	ferry_writer *w;
	if (!OK(E->write->writer_open(&w, c, &spec, &err)))
		return;
	ferry_batch *b = ferry__batch_new(7, 8);
	ferry_value data[][7] = {
		{v_text("a"), v_int(5), v_int(5), v_int(1), v_text("f1"), v_text("l1"), v_text("e")},
		{v_text("a"), v_int(3), v_null(), v_int(2), v_text("f2"), v_text("l2"), v_text("e")},
		{v_text("a"), v_null(), v_int(9), v_null(), v_text("f3"), v_text("l3"), v_text("E!")},
		{v_text("b"), v_int(1), v_int(1), v_int(1), v_text("x"), v_text("y"), v_null()},
		{v_text("b"), v_int(0), v_int(0), v_int(1), v_text("x2"), v_text("y2"), v_null()},
		{v_text("c"), v_text("bad"), v_null(), v_null(), v_null(), v_null(), v_null()},
	};
	for (size_t r = 0; r < 6; r++)
		memcpy(ferry_batch_add_row(b), data[r], sizeof(data[r]));
	rejects rj = {0};
	OK(E->core->begin(c, &err));
	OK(E->write->writer_write(w, b, on_reject, &rj, &err));
	OK(E->core->commit(c, &err));
	CHECK_INT(rj.n, 2);
	CHECK_INT(rj.rows[0], 5);
	CHECK(strstr(rj.reasons[0], "is not a whole number for integer column \"lo\"") != NULL);
	CHECK_INT(rj.rows[1], 2);
	CHECK(strstr(rj.reasons[1], "column(s) e (rule error)") != NULL);
	CHECK_STR(q1("SELECT string_agg(concat_ws(',', k, lo, hi, s, f, l, e), ';' ORDER BY k) FROM m"),
	          "a,3,5,3,f1,l2,e;b,0,1,2,x,y2");
	E->write->writer_close(w);
	ferry__batch_free(b);
	E->core->close(c);
}

/* ---- chunks and reading ----------------------------------------------------------------- */

typedef struct chunk_list {
	size_t n;
	int64_t est[64];
	int has_lo[64], has_hi[64];
	ferry_value lo[64][2], hi[64][2];
	uint8_t *buf[64][2];
} chunk_list;

static int collect(void *ud, const ferry_chunk_rec *r)
{
	chunk_list *l = ud;
	if (l->n >= 64)
		return 0;
	size_t i = l->n++;
	l->est[i] = r->est_rows;
	l->has_lo[i] = r->lo != NULL;
	l->has_hi[i] = r->hi != NULL;
	if (r->lo) {
		l->buf[i][0] = malloc(r->lo_len);
		memcpy(l->buf[i][0], r->lo, r->lo_len);
		ferry_value_decode_row(l->lo[i], 2, l->buf[i][0], r->lo_len);
	}
	if (r->hi) {
		l->buf[i][1] = malloc(r->hi_len);
		memcpy(l->buf[i][1], r->hi, r->hi_len);
		ferry_value_decode_row(l->hi[i], 2, l->buf[i][1], r->hi_len);
	}
	return 0;
}

static void count_rows(void *ud, const ferry_value *row, size_t ncols)
{
	(void)row;
	(void)ncols;
	(*(int64_t *)ud)++;
}

/* Read every chunk and check each holds what planning counted and all hold the table. */
static void read_chunks(ferry_conn *c, const char *table, size_t nk, const char *const *keys,
                        const chunk_list *l, const char *filter, int64_t want_total)
{
	ferry_err err = {0};
	int64_t total = 0;
	static const char *const exprs[] = {"1"};
	for (size_t i = 0; i < l->n; i++) {
		int64_t n = 0;
		ferry_read_spec spec = {.table = table, .nexprs = 1, .exprs = exprs, .filter = filter,
		                        .nkeys = nk, .keys = keys, .lo = l->has_lo[i] ? l->lo[i] : NULL,
		                        .hi = l->has_hi[i] ? l->hi[i] : NULL};
		OK(read_all(c, &spec, 100, count_rows, &n, &err));
		if (!filter)
			CHECK_INT(n, l->est[i]);
		total += n;
	}
	CHECK_INT(total, want_total);
}

static void chunks_free(chunk_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->buf[i][0]);
		free(l->buf[i][1]);
	}
}

/* A key range walks only its keys (int4 key, int8 bounds past its type's range too): the
 * first chunk ends chunk_rows keys into it, the last is the first reaching its upper end;
 * the chunks, open at both ends, still hold every row once. */
static void test_chunks_range(void)
{
	sql("CREATE TABLE rg(id int PRIMARY KEY, v text);"
	    "INSERT INTO rg SELECT i, 'v' || i FROM generate_series(1, 100) i;"
	    "CREATE TABLE rg2(a int, b int, PRIMARY KEY (a, b));"
	    "INSERT INTO rg2 SELECT i % 3, i FROM generate_series(1, 100) i");
	ferry_conn *c = open_db(FERRY_CONNECT_READONLY);
	ferry_err err = {0};
	static const struct {
		int64_t lo, hi;
		size_t nchunks;
		int64_t his[3]; /* the chunks' upper bounds, 0: open */
		int64_t est[3];
	} cases[] = {
		{35, 62, 3, {44, 54, 0}, {10, 10, 8}},
		{35, 54, 2, {44, 0}, {10, 10}},
		{91, INT64_MAX, 1, {0}, {10}},
		{INT64_MIN, 25, 3, {10, 20, 0}, {10, 10, 5}},
		{-3, 5, 1, {0}, {5}},
		{1, 0, 1, {0}, {0}},
		{-50, -1, 1, {0}, {0}},
		{500, 600, 1, {0}, {0}},
		{INT64_C(5000000000), INT64_MAX, 1, {0}, {0}},
		{INT64_MIN, INT64_C(-5000000000), 1, {0}, {0}},
	};
	static const char *const keys[] = {"id"};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		ferry_key_range r = {cases[k].lo, cases[k].hi};
		chunk_list l = {0};
		OK(E->read->plan_chunks(c, "rg", 1, keys, 10, &r, collect, &l, &err));
		if (CHECK_INT(l.n, cases[k].nchunks)) {
			CHECK(!l.has_lo[0] && !l.has_hi[l.n - 1]);
			for (size_t i = 0; i < l.n; i++) {
				CHECK_INT(l.has_hi[i] ? l.hi[i][0].v.i : 0, cases[k].his[i]);
				CHECK_INT(l.est[i], cases[k].est[i]);
			}
			read_chunks(c, "rg", 1, keys, &l, "true", 100);
		}
		chunks_free(&l);
	}
	/* A composite key has no range: every chunk. */
	static const char *const ck[] = {"a", "b"};
	ferry_key_range r = {40, 50};
	chunk_list l = {0};
	OK(E->read->plan_chunks(c, "rg2", 2, ck, 10, &r, collect, &l, &err));
	CHECK_INT(l.n, 10);
	read_chunks(c, "rg2", 2, ck, &l, NULL, 100);
	chunks_free(&l);
	E->core->close(c);
}

static void test_chunks(void)
{
	sql("CREATE TABLE ck(a text, b int, v text, PRIMARY KEY (a, b));"
	    "INSERT INTO ck SELECT chr(65 + i % 5), i, 'v' || i FROM generate_series(1, 1000) i;"
	    "CREATE TABLE nk(v int);"
	    "INSERT INTO nk SELECT i FROM generate_series(1, 5000) i;"
	    "DELETE FROM nk WHERE v BETWEEN 1000 AND 2500;"
	    "CREATE TABLE pp(k int, v int) PARTITION BY RANGE (k);"
	    "CREATE TABLE pp1 PARTITION OF pp FOR VALUES FROM (0) TO (100);"
	    "CREATE TABLE pp2 PARTITION OF pp FOR VALUES FROM (100) TO (1000);"
	    "INSERT INTO pp SELECT i % 1000, i FROM generate_series(1, 3000) i;"
	    "CREATE TABLE empty(x int)");
	ferry_conn *c = open_db(FERRY_CONNECT_READONLY);
	ferry_err err = {0};
	static const char *const keys[] = {"a", "b"};
	chunk_list l = {0};
	OK(E->read->plan_chunks(c, "ck", 2, keys, 300, NULL, collect, &l, &err));
	CHECK_INT(l.n, 4);
	CHECK_INT(l.est[0] + l.est[1] + l.est[2] + l.est[3], 1000);
	CHECK_INT(l.est[3], 100);
	CHECK(!l.has_lo[0] && l.has_hi[0] && l.has_lo[3] && !l.has_hi[3]);
	read_chunks(c, "ck", 2, keys, &l, NULL, 1000);
	chunks_free(&l);

	memset(&l, 0, sizeof(l));
	OK(E->read->plan_chunks(c, "nk", 0, NULL, 700, NULL, collect, &l, &err));
	CHECK(l.n >= 4);
	int64_t sum = 0;
	for (size_t i = 0; i < l.n; i++)
		sum += l.est[i];
	CHECK_INT(sum, 3499);
	read_chunks(c, "nk", 0, NULL, &l, NULL, 3499);
	read_chunks(c, "nk", 0, NULL, &l, "v % 2 = 0", 1749);
	chunks_free(&l);

	memset(&l, 0, sizeof(l));
	OK(E->read->plan_chunks(c, "pp", 0, NULL, 500, NULL, collect, &l, &err));
	read_chunks(c, "pp", 0, NULL, &l, NULL, 3000);
	chunks_free(&l);

	memset(&l, 0, sizeof(l));
	OK(E->read->plan_chunks(c, "empty", 0, NULL, 500, NULL, collect, &l, &err));
	CHECK_INT(l.n, 1);
	CHECK_INT(l.est[0], 0);
	chunks_free(&l);

	/* Parameters of the plan's expressions are written in as literals; a wrong count of
	 * them is refused. */
	static const char *const ex[] = {"coalesce(NULL, ?)", "? || 'x'", "'?'", "b"};
	ferry_value params[] = {v_int(-5), v_text("it's")};
	ferry_read_spec spec = {.table = "ck", .nexprs = 4, .exprs = ex, .filter = "b = 7",
	                        .nparams = 2, .params = params};
	rows_text t = {{0}};
	OK(read_all(c, &spec, 10, render, &t, &err));
	CHECK_STR(t.s, "i:-5|t:it'sx|t:?|i:7;");
	spec.nparams = 1;
	ferry_reader *r;
	CHECK_INT(E->read->reader_open(&r, c, &spec, &err), FERRY_EUSAGE);
	CHECK(strstr(err.msg, "2 parameters but 1 values") != NULL);
	E->core->close(c);
}

/* A 10 MB value streams through (batches stop growing past their byte cap). */
static void test_big_value(void)
{
	sql("CREATE TABLE big(id int PRIMARY KEY, b bytea);"
	    "INSERT INTO big SELECT i, decode(repeat('ab', 10 * 1024 * 1024 / (i % 3 + 1)), 'hex')"
	    " FROM generate_series(1, 12) i");
	ferry_conn *c = open_db(0);
	ferry_err err = {0};
	static const char *const ex[] = {"id", "b"};
	ferry_read_spec spec = {.table = "big", .nexprs = 2, .exprs = ex};
	ferry_reader *r;
	if (!OK(E->read->reader_open(&r, c, &spec, &err)))
		return;
	ferry_batch *b = ferry__batch_new(2, 4096);
	int eof = 0, batches = 0;
	int64_t rows = 0, bytes = 0;
	while (!eof) {
		ferry__batch_reset(b);
		if (!OK(E->read->reader_next(r, b, &eof, &err)))
			break;
		batches += ferry_batch_nrows(b) > 0;
		for (size_t i = 0; i < ferry_batch_nrows(b); i++)
			bytes += ferry_batch_crow(b, i)[1].len;
		rows += (int64_t)ferry_batch_nrows(b);
	}
	E->read->reader_close(r);
	CHECK_INT(rows, 12);
	CHECK(batches >= 2);
	CHECK_INT(bytes, 4 * (10 * 1024 * 1024 / 2 + 10 * 1024 * 1024 / 3 + 10 * 1024 * 1024));
	ferry__batch_free(b);
	E->core->close(c);
}

/* ---- snapshots ---------------------------------------------------------------------- */

static void test_snapshot(void)
{
	sql("CREATE TABLE snap(x int); INSERT INTO snap VALUES (1), (2)");
	ferry_conn *coord = open_db(FERRY_CONNECT_READONLY), *rd = open_db(FERRY_CONNECT_READONLY);
	ferry_err err = {0};
	const char *tok = NULL;
	OK(E->read->snapshot_export(coord, &tok, &err));
	CHECK(tok && strlen(tok) > 5);
	sql("INSERT INTO snap VALUES (3)");
	OK(E->read->snapshot_join(rd, tok, &err));
	static const char *const ex[] = {"count(*)"};
	CHECK_STR(read_text(rd, "snap", 1, ex), "i:2;");
	CHECK_INT(E->read->snapshot_join(rd, "x'; DROP TABLE snap; --", &err), FERRY_EUSAGE);
	E->core->close(rd);
	E->core->close(coord);
	CHECK_STR(q1("SELECT count(*) FROM snap"), "3");
}

/* ---- the run state ---------------------------------------------------------------------- */

typedef struct loaded {
	int n, done;
	int64_t rows_written;
	size_t lo_len;
} loaded;

static int on_loaded(void *ud, const ferry_chunk_rec *r)
{
	loaded *l = ud;
	l->n++;
	l->done += r->done;
	l->rows_written += r->rows_written;
	if (r->chunk == 1)
		l->lo_len = r->lo_len;
	return 0;
}

static int on_rej(void *ud, const char *table, const char *key, const char *reason)
{
	char *out = ud;
	snprintf(out + strlen(out), 512 - strlen(out), "%s %s %s;", table, key ? key : "-", reason);
	return 0;
}

static void test_state(void)
{
	ferry_conn *c = open_db(FERRY_CONNECT_CREATE);
	ferry_err err = {0};
	loaded l = {0};
	OK(ferry__state_load(E, c, "run1", on_loaded, &l, &err));
	CHECK_INT(l.n, 0);
	int got = 1;
	OK(ferry__state_get(E, c, "run1", "finished", &got, &err));
	CHECK_INT(got, 0);
	OK(E->core->begin(c, &err));
	OK(ferry__state_init(E, c, &err));
	OK(E->core->commit(c, &err));
	uint8_t key[3] = {1, 0, 200};
	ferry_chunk_rec recs[2] = {
		{.job = 0, .chunk = 0, .job_name = "main/s.t->t", .hi = key, .hi_len = 3, .est_rows = 10},
		{.job = 0, .chunk = 1, .job_name = "main/s.t->t", .lo = key, .lo_len = 3, .est_rows = 4}};
	OK(ferry__state_add_chunks(E, c, "run1", recs, 2, &err));
	OK(E->core->begin(c, &err));
	ferry_chunk_rec d = {.job = 0, .chunk = 1, .done = 1, .rows_read = 4, .rows_written = 3, .rows_rejected = 1};
	OK(ferry__state_reject(E, c, "run1", 0, 1, "t", "{\"id\":3}", "bad", &err));
	OK(ferry__state_chunk_done(E, c, "run1", &d, NULL, &err));
	OK(E->core->commit(c, &err));
	CHECK_INT(ferry__state_chunk_done(E, c, "run1", &d, NULL, &err), FERRY_ECORRUPT);
	OK(ferry__state_load(E, c, "run1", on_loaded, &l, &err));
	CHECK_INT(l.n, 2);
	CHECK_INT(l.done, 1);
	CHECK_INT(l.rows_written, 3);
	CHECK_INT(l.lo_len, 3);
	char out[512] = "";
	OK(ferry__state_rejects(E, c, "run1", on_rej, out, &err));
	CHECK_STR(out, "t {\"id\":3} bad;");
	OK(ferry__state_set(E, c, "run1", "finished", &err));
	OK(ferry__state_set(E, c, "run1", "finished", &err));
	OK(ferry__state_get(E, c, "run1", "finished", &got, &err));
	CHECK_INT(got, 1);
	E->core->close(c);
}

/* Stream positions on PostgreSQL: every uint64 round-trips through bigint; a position
 * commits or rolls back with the transaction that wrote it. */
static void test_positions(void)
{
	ferry_conn *c = open_db(FERRY_CONNECT_CREATE);
	ferry_err err = {0};
	uint64_t pos = 5;
	sql("DROP TABLE IF EXISTS ferry_positions");
	OK(ferry__state_position_get(E, c, "run1", 0, &pos, &err));
	CHECK(pos == 0);
	OK(E->core->begin(c, &err));
	OK(ferry__state_init(E, c, &err));
	OK(ferry__state_position_set(E, c, "run1", 0, 42, &err));
	OK(ferry__state_position_set(E, c, "run1", 3, UINT64_MAX, &err));
	OK(ferry__state_position_set(E, c, "run2", 0, (uint64_t)1 << 63, &err));
	OK(E->core->commit(c, &err));
	OK(E->core->begin(c, &err));
	OK(ferry__state_position_set(E, c, "run1", 0, 43, &err));
	OK(E->core->commit(c, &err));
	OK(ferry__state_position_get(E, c, "run1", 0, &pos, &err));
	CHECK(pos == 43);
	OK(ferry__state_position_get(E, c, "run1", 3, &pos, &err));
	CHECK(pos == UINT64_MAX);
	OK(ferry__state_position_get(E, c, "run2", 0, &pos, &err));
	CHECK(pos == (uint64_t)1 << 63);
	OK(ferry__state_position_get(E, c, "run2", 3, &pos, &err));
	CHECK(pos == 0);
	OK(E->core->begin(c, &err));
	OK(ferry__state_position_set(E, c, "run1", 0, 99, &err));
	OK(E->core->rollback(c, &err));
	OK(ferry__state_position_get(E, c, "run1", 0, &pos, &err));
	CHECK(pos == 43);
	CHECK_STR(q1("SELECT pos FROM ferry_positions WHERE run_id = 'run1' AND source = 3"), "-1");
	CHECK_STR(q1("SELECT count(*) FROM ferry_leases"), "0");
	E->core->close(c);
}

/* Tables the per-engine state code of earlier versions made (an identity id on the rejects,
 * integer done) still resume: rows read back, new ones land beside, rejects in order. */
static void test_state_legacy(void)
{
	sql("DROP TABLE IF EXISTS ferry_runs, ferry_progress, ferry_rejects");
	sql("CREATE TABLE ferry_runs(run_id text NOT NULL, flag text NOT NULL, set_at text NOT NULL, "
	    "PRIMARY KEY (run_id, flag))");
	sql("CREATE TABLE ferry_progress(run_id text NOT NULL, job bigint NOT NULL, chunk bigint NOT NULL, "
	    "job_name text NOT NULL, target text, lo bytea, hi bytea, est_rows bigint NOT NULL, "
	    "done integer NOT NULL DEFAULT 0, rows_read bigint NOT NULL DEFAULT 0, "
	    "rows_written bigint NOT NULL DEFAULT 0, rows_rejected bigint NOT NULL DEFAULT 0, "
	    "rows_skipped bigint NOT NULL DEFAULT 0, done_at text, PRIMARY KEY (run_id, job, chunk))");
	sql("CREATE TABLE ferry_rejects(id bigint GENERATED ALWAYS AS IDENTITY, run_id text NOT NULL, "
	    "job bigint NOT NULL, chunk bigint NOT NULL, table_name text NOT NULL, row_key text, "
	    "reason text NOT NULL)");
	sql("INSERT INTO ferry_runs VALUES ('r', 'schema', '2026-01-01T00:00:00Z')");
	sql("INSERT INTO ferry_progress(run_id, job, chunk, job_name, target, hi, est_rows, done, rows_written) "
	    "VALUES ('r', 0, 0, 'main/a->a', 'a', '\\x0114', 5, 1, 5), ('r', 0, 1, 'main/a->a', 'a', NULL, 3, 0, 0)");
	sql("INSERT INTO ferry_rejects(run_id, job, chunk, table_name, row_key, reason) "
	    "VALUES ('r', 0, 0, 'a', '{\"id\":1}', 'first')");
	ferry_conn *c = open_db(0);
	ferry_err err = {0};
	OK(E->core->begin(c, &err));
	OK(ferry__state_init(E, c, &err));
	OK(E->core->commit(c, &err));
	int flag = 0;
	OK(ferry__state_get(E, c, "r", "schema", &flag, &err));
	CHECK_INT(flag, 1);
	loaded l = {0};
	OK(ferry__state_load(E, c, "r", on_loaded, &l, &err));
	CHECK_INT(l.n, 2);
	CHECK_INT(l.done, 1);
	CHECK_INT(l.rows_written, 5);
	ferry_chunk_rec d = {.job = 0, .chunk = 1, .done = 1, .rows_read = 3, .rows_written = 2, .rows_rejected = 1};
	OK(E->core->begin(c, &err));
	OK(ferry__state_reject(E, c, "r", 0, 1, "a", NULL, "second", &err));
	OK(ferry__state_chunk_done(E, c, "r", &d, NULL, &err));
	OK(E->core->commit(c, &err));
	char out[512] = "";
	OK(ferry__state_rejects(E, c, "r", on_rej, out, &err));
	CHECK_STR(out, "a {\"id\":1} first;a - second;");
	CHECK_STR(q1("SELECT count(*) FROM ferry_progress WHERE done = 1"), "2");
	E->core->close(c);
}

/* ---- DDL, foreign keys, finish ---------------------------------------------------------- */

/* What an engine's note callback heard: how many, and the last one's parts. */
typedef struct heard {
	int n;
	char code[64], column[64], line[600];
} heard;

static void hear(void *ud, const char *code, const char *column, const char *line)
{
	heard *h = ud;
	h->n++;
	snprintf(h->code, sizeof(h->code), "%s", code ? code : "");
	snprintf(h->column, sizeof(h->column), "%s", column ? column : "");
	snprintf(h->line, sizeof(h->line), "%s", line);
}

/* A PostgreSQL definition's collations: created when this database has them and the type
 * takes one; otherwise one note each and the type's default, never a failed table. */
static void test_ddl_collation(void)
{
	ferry_conn *c = open_db(FERRY_CONNECT_CREATE);
	ferry_err err = {0};
	ferry_schema *s = ferry__schema_new();
	ferry_table *t = ferry_schema_add_table(s, "coll");
	t->origin = "postgres";
	ferry_table_add_column(s, t, "c", "text", FERRY_TEXT)->collation = ferry__strdup("\"POSIX\"");
	ferry_table_add_column(s, t, "gone", "text", FERRY_TEXT)->collation = ferry__strdup("nowhere.\"Not Here\"");
	ferry_table_add_column(s, t, "n", "integer", FERRY_INT)->collation = ferry__strdup("\"C\"");
	heard h = {0};
	t->note = hear;
	t->note_ud = &h;
	OK(E->write->create_table(c, t, &err));
	CHECK_INT(h.n, 2);
	CHECK_STR(h.code, "collation_not_created");
	CHECK_STR(h.column, "n");
	CHECK_HAS(h.line, "collation \"C\" of column \"n\" of \"coll\" is not created: its type integer takes no collation");
	CHECK_STR(q1("SELECT string_agg(attname || ' ' || coalesce((SELECT collname FROM pg_collation WHERE oid = attcollation), '-'), ', ' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'coll'::regclass AND attnum > 0"),
	          "c POSIX, gone default, n -");
	sql("DROP TABLE coll");
	ferry__schema_free(s);
	E->core->close(c);
}

static void test_ddl(void)
{
	ferry_conn *c = open_db(FERRY_CONNECT_CREATE);
	ferry_err err = {0};
	ferry_schema *s = ferry__schema_new();
	/* A definition from SQLite: canonical types, the rowid alias becomes an identity. */
	ferry_table *p = ferry_schema_add_table(s, "p");
	p->origin = "sqlite";
	ferry_table_add_column(s, p, "id", "INTEGER", FERRY_INT);
	ferry_column *nm = ferry_table_add_column(s, p, "name", "VARCHAR(9)", FERRY_TEXT);
	nm->default_sql = ferry__strdup("'x'");
	ferry_column *fl = ferry_table_add_column(s, p, "flag", "BOOLEAN", FERRY_BOOL);
	fl->default_sql = ferry__strdup("1");
	ferry_table_add_column(s, p, "raw", "bytea", FERRY_NUMERIC);
	size_t pk = 0;
	ferry_table_set_pk(s, p, &pk, 1);
	ferry_index *x = ferry_table_add_index(s, p, "sqlite_autoindex_p_1", 1);
	x->unique = 1;
	x->cols[0] = ferry__strdup("name");
	ferry_table *k = ferry_schema_add_table(s, "k");
	k->origin = "sqlite";
	ferry_table_add_column(s, k, "pid", "INTEGER", FERRY_INT);
	ferry_fkey *fk = ferry_table_add_fkey(s, k, "p", 1);
	fk->cols[0] = ferry__strdup("pid");
	p = ferry_schema_find(s, "p");
	OK(E->core->begin(c, &err));
	OK(E->write->create_table(c, k, &err));
	OK(E->write->create_table(c, p, &err));
	OK(E->core->commit(c, &err));
	CHECK_STR(q1("SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod) || ' ' || attidentity::text, ', ' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'p'::regclass AND attnum > 0"),
	          "id bigint d, name text , flag boolean , raw bytea ");
	CHECK_STR(q1("SELECT string_agg(pg_get_expr(adbin, adrelid), ', ' ORDER BY adnum) FROM pg_attrdef WHERE adrelid = 'p'::regclass"),
	          "'x'::text, true");
	sql("INSERT INTO p VALUES (7, 'a', true, NULL), (8, 'b', true, NULL); INSERT INTO k VALUES (7), (9)");
	/* The child's key waits for the parent's index; both come after the rows. */
	OK(E->write->create_indexes(c, k, &err));
	OK(E->write->create_indexes(c, p, &err));
	int64_t v = -1;
	OK(E->write->fk_check(c, "k", &v, &err));
	CHECK_INT(v, 1);
	CHECK_STR(q1("SELECT convalidated FROM pg_constraint WHERE conname = 'k_pid_fkey'"), "f");
	sql("DELETE FROM k WHERE pid = 9");
	OK(E->write->fk_check(c, "k", &v, &err));
	CHECK_INT(v, 0);
	CHECK_STR(q1("SELECT convalidated FROM pg_constraint WHERE conname = 'k_pid_fkey'"), "t");
	CHECK_STR(q1("SELECT indexdef FROM pg_indexes WHERE tablename = 'p' AND indexname = 'p_name_key'"),
	          "CREATE UNIQUE INDEX p_name_key ON public.p USING btree (name)");
	OK(E->write->create_indexes(c, p, &err)); /* again after a resume: nothing new, no error */
	OK(E->write->finish(c, &err));
	CHECK_STR(q1("INSERT INTO p(name) VALUES ('new') RETURNING id"), "9");
	ferry__schema_free(s);
	E->core->close(c);
}

/* ferry_keys dropped by one process's finish while another's transaction records a key in it
 * (--join: a joiner ends while the holder creates ferry_history): the finish leaves the
 * table, so the key is neither lost with it nor refused; nor does it wait on a reader. */
typedef struct finish_arg {
	ferry_conn *c;
	int rc;
	char msg[sizeof(((ferry_err *)0)->msg)];
} finish_arg;

static void *finish_thread(void *ud)
{
	finish_arg *a = ud;
	ferry_err err = {0};
	a->rc = E->write->finish(a->c, &err);
	snprintf(a->msg, sizeof(a->msg), "%s", err.msg);
	return NULL;
}

static void test_keys_race(void)
{
	ferry_conn *a = open_db(FERRY_CONNECT_CREATE), *b = open_db(FERRY_CONNECT_CREATE);
	ferry_err err = {0};
	ferry_schema *s = ferry__schema_new();
	ferry_table *t1 = ferry_schema_add_table(s, "race_one");
	t1->origin = "sqlite";
	ferry_table_add_column(s, t1, "id", "INTEGER", FERRY_INT);
	size_t pk = 0;
	ferry_table_set_pk(s, t1, &pk, 1);
	ferry_table *t2 = ferry_schema_add_table(s, "race_two");
	t2->origin = "sqlite";
	ferry_table_add_column(s, t2, "id", "INTEGER", FERRY_INT);
	ferry_table_set_pk(s, t2, &pk, 1);
	/* ferry_keys exists, empty, committed: the first table's key was built. */
	OK(E->write->create_table(a, t1, &err));
	OK(E->write->create_indexes(a, t1, &err));
	CHECK_STR(q1("SELECT count(*) FROM ferry_keys"), "0");
	/* A transaction records the second table's key; before it commits, another finishes. */
	OK(E->core->begin(a, &err));
	OK(E->write->create_table(a, t2, &err));
	finish_arg fa = {b, -1, ""};
	pthread_t th;
	CHECK_INT(pthread_create(&th, NULL, finish_thread, &fa), 0);
	usleep(400 * 1000);
	OK(E->core->commit(a, &err));
	pthread_join(th, NULL);
	CHECK_INT(fa.rc, 0);
	CHECK_STR(fa.msg, "");
	CHECK_STR(q1("SELECT string_agg(table_name, ',') FROM ferry_keys"), "race_two");
	/* A transaction that read the table: the finish neither waits for it nor drops. */
	OK(E->write->create_indexes(a, t2, &err));
	sql("BEGIN");
	CHECK_STR(q1("SELECT count(*) FROM ferry_keys"), "0");
	OK(E->write->finish(b, &err));
	sql("COMMIT");
	CHECK_STR(q1("SELECT to_regclass('ferry_keys') IS NOT NULL"), "t");
	OK(E->write->finish(b, &err));
	CHECK_STR(q1("SELECT to_regclass('ferry_keys') IS NULL"), "t");
	CHECK_STR(q1("SELECT count(*) FROM pg_constraint WHERE contype = 'p' AND conrelid IN ('race_one'::regclass, 'race_two'::regclass)"), "2");
	sql("DROP TABLE race_one; DROP TABLE race_two");
	ferry__schema_free(s);
	E->core->close(a);
	E->core->close(b);
}

/* ---- migration callbacks ------------------------------------------------------------- */

typedef struct split_out {
	char s[4096];
} split_out;

static int on_stmt(void *ud, const char *stmt, size_t len, int line)
{
	split_out *o = ud;
	snprintf(o->s + strlen(o->s), sizeof(o->s) - strlen(o->s), "%d<%.*s>", line, (int)len, stmt);
	return 0;
}

static void test_sql(void)
{
	ferry_err err = {0};
	split_out o = {{0}};
	const char *script =
		"-- header; not a statement\n"
		"CREATE TABLE a(x text DEFAULT 'semi;colon');\n"
		"/* outer /* nested; */ still; */ INSERT INTO a VALUES (E'it\\'s;'), ('x''y;');\n"
		"CREATE FUNCTION f() RETURNS int AS $fn$ SELECT 1; $fn$ LANGUAGE sql;\n"
		"DO $$ BEGIN PERFORM 1; END $$;\n"
		"CREATE FUNCTION g(int) RETURNS int LANGUAGE sql\n"
		"BEGIN ATOMIC SELECT CASE WHEN $1 > 0 THEN 1 ELSE 2 END; SELECT 3; END;\n"
		"SELECT \"we;ird\" FROM a;;\n"
		"SELECT $1";
	OK(E->migrate->split_sql(script, on_stmt, &o, &err));
	CHECK_STR(o.s,
	          "2<CREATE TABLE a(x text DEFAULT 'semi;colon')>"
	          "3<INSERT INTO a VALUES (E'it\\'s;'), ('x''y;')>"
	          "4<CREATE FUNCTION f() RETURNS int AS $fn$ SELECT 1; $fn$ LANGUAGE sql>"
	          "5<DO $$ BEGIN PERFORM 1; END $$>"
	          "6<CREATE FUNCTION g(int) RETURNS int LANGUAGE sql\n"
	          "BEGIN ATOMIC SELECT CASE WHEN $1 > 0 THEN 1 ELSE 2 END; SELECT 3; END>"
	          "8<SELECT \"we;ird\" FROM a>"
	          "9<SELECT $1>");
	CHECK(E->migrate->split_sql("SELECT 'open", on_stmt, &o, &err) == FERRY_EUSAGE);
	CHECK(strstr(err.msg, "line 1") != NULL);

	static const struct { const char *s; int want; } ac[] = {
		{"CREATE INDEX CONCURRENTLY i ON t(x)", 1}, {"create unique index concurrently i on t(x)", 1},
		{"CREATE INDEX i ON t(x)", 0}, {"DROP INDEX CONCURRENTLY i", 1}, {"VACUUM t", 1},
		{"/* c */ vacuum (analyze) t", 1}, {"REINDEX (VERBOSE) TABLE CONCURRENTLY t", 1},
		{"REINDEX TABLE t", 0}, {"CREATE DATABASE d", 1}, {"ALTER SYSTEM SET x = 1", 1},
		{"ALTER TYPE mood ADD VALUE 'meh'", 1}, {"ALTER TYPE mood RENAME VALUE 'a' TO 'b'", 0},
		{"ALTER TABLE t DETACH PARTITION p CONCURRENTLY", 1}, {"SELECT 'VACUUM'", 0}};
	for (size_t i = 0; i < FERRY_ARRAY_LEN(ac); i++)
		if (!CHECK_INT(E->migrate->needs_autocommit(ac[i].s, strlen(ac[i].s)), ac[i].want))
			fprintf(stderr, "    for: %s\n", ac[i].s);

	ferry_conn *c = open_db(FERRY_CONNECT_CREATE), *c2 = open_db(0);
	sql("CREATE TABLE hist(v int, s text, b bytea, d date, f float8)");
	ferry_value p[] = {v_int(4), v_text("x"), {.type = FERRY_BLOB, .len = 2, .v.b = (const uint8_t *)"\0\1"},
	                   v_typed(FERRY_DATE, "2020-02-29"), v_float(0.25)};
	int64_t changed = -1;
	OK(E->core->exec_params(c, "INSERT INTO hist VALUES ($1, $2, $3, $4, $5)", 5, p, &changed, &err));
	CHECK_INT(changed, 1);
	OK(E->core->exec_params(c, "UPDATE hist SET v = v + $1 WHERE s = $2", 2, p, &changed, &err));
	CHECK_INT(changed, 1);
	CHECK_STR(q1("SELECT v || s || encode(b, 'hex') || d || f FROM hist"), "8x00012020-02-290.25");

	int got = 0;
	char holder[256];
	OK(E->migrate->lock_try(c, &got, holder, sizeof(holder), &err));
	CHECK_INT(got, 1);
	OK(E->migrate->lock_try(c2, &got, holder, sizeof(holder), &err));
	CHECK_INT(got, 0);
	CHECK(strncmp(holder, "pid ", 4) == 0 && strstr(holder, "application ferry") != NULL);
	OK(E->migrate->lock_release(c, &err));
	OK(E->migrate->lock_try(c2, &got, holder, sizeof(holder), &err));
	CHECK_INT(got, 1);
	E->core->close(c2); /* the lock goes with the connection (once its backend has exited) */
	for (int i = 0; i < 50 && OK(E->migrate->lock_try(c, &got, holder, sizeof(holder), &err)) && !got; i++)
		usleep(100 * 1000);
	CHECK_INT(got, 1);
	E->core->close(c);
}

int main(void)
{
	const char *u = getenv("FERRY_TEST_PG");
	if (!u || !*u) {
		fprintf(stderr, "test_pg_engine: FERRY_TEST_PG is not set (run it through tests/sh/pg-engine.sh)\n");
		return 1;
	}
	snprintf(base_url, sizeof(base_url), "%s", u);
	admin = PQconnectdb(base_url);
	if (PQstatus(admin) != CONNECTION_OK) {
		fprintf(stderr, "test_pg_engine: cannot connect to FERRY_TEST_PG: %s", PQerrorMessage(admin));
		return 1;
	}
	snprintf(db_name, sizeof(db_name), "t_unit_%d_%d", (int)getpid(), rand() % 100000);
	char q[200];
	snprintf(q, sizeof(q), "CREATE DATABASE %s", db_name);
	PQclear(PQexec(admin, q));
	char url[600];
	url_for(url, sizeof(url), db_name, NULL);
	db_conn = PQconnectdb(url);
	if (PQstatus(db_conn) != CONNECTION_OK) {
		fprintf(stderr, "test_pg_engine: cannot create the test database: %s", PQerrorMessage(db_conn));
		return 1;
	}
	PQclear(PQexec(db_conn, "SET extra_float_digits = 3"));

	test_connect();
	test_quote();
	test_introspect();
	test_ddl_collation();
	test_values();
	test_rejects();
	test_merge();
	test_chunks();
	test_chunks_range();
	test_big_value();
	test_snapshot();
	test_state();
	test_positions();
	test_state_legacy();
	test_ddl();
	test_keys_race();
	test_sql();

	PQfinish(db_conn);
	snprintf(q, sizeof(q), "DROP DATABASE %s WITH (FORCE)", db_name);
	PQclear(PQexec(admin, q));
	PQfinish(admin);
	return check_summary();
}
