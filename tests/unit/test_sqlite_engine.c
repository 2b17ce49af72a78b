/* test_sqlite_engine.c — unit tests of the SQLite engine through its engine table: connect
 * and its messages, introspection and DDL round trips, chunking, reading, writing with
 * rejects and merge rules, the run state, snapshots and durability. */
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "ferry_int.h"
#include "check.h"
#include "engine_io.h"
#include "pipeline/state.h"

static const ferry_engine *E = &ferry__sqlite_engine;
static char dir[256];

/* ---- helpers ----------------------------------------------------------------------- */

static char *path_of(const char *name)
{
	static char bufs[8][512];
	static int next;
	char *p = bufs[next++ % 8];
	snprintf(p, 512, "%s/%s", dir, name);
	return p;
}

/* Run SQL on a file with a plain sqlite3 connection (the test's own view of the data). */
static void sql_on(const char *path, const char *sql)
{
	sqlite3 *db;
	char *msg = NULL;
	sqlite3_open(path, &db);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		fprintf(stderr, "setup sql failed: %s\n  %s\n", msg, sql);
		check_failed++;
	}
	sqlite3_free(msg);
	sqlite3_close(db);
}

/* The first column of the first row as text (static buffer), or "(none)". */
static const char *query_text(const char *path, const char *sql)
{
	static char out[4][512];
	static int next;
	char *o = out[next++ % 4];
	sqlite3 *db;
	sqlite3_stmt *st = NULL;
	sqlite3_open(path, &db);
	snprintf(o, 512, "(none)");
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		snprintf(o, 512, "(error: %s)", sqlite3_errmsg(db));
	else if (sqlite3_step(st) == SQLITE_ROW)
		snprintf(o, 512, "%s", sqlite3_column_type(st, 0) == SQLITE_NULL
		                           ? "NULL" : (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return o;
}

static long long query_int(const char *path, const char *sql)
{
	return atoll(query_text(path, sql));
}

static ferry_conn *open_db(const char *path, int flags)
{
	ferry_conn *c = NULL;
	ferry_err err = {0};
	if (!OK(E->core->connect(&c, path, flags, &err)))
		return NULL;
	return c;
}

static ferry_value v_int(int64_t i)
{
	ferry_value v = {.type = FERRY_INT};
	v.v.i = i;
	return v;
}

static ferry_value v_text(const char *s)
{
	ferry_value v = {.type = FERRY_TEXT, .len = (uint32_t)strlen(s)};
	v.v.s = s;
	return v;
}

static ferry_value v_null(void)
{
	ferry_value v = {.type = FERRY_NULL};
	return v;
}

#define read_all(...) engine_read_all(E, __VA_ARGS__)

/* ---- connect ----------------------------------------------------------------------- */

static void test_connect(void)
{
	ferry_err err = {0};
	ferry_conn *c = NULL;
	char want[1024];

	const char *missing = path_of("missing.db");
	CHECK_INT(E->core->connect(&c, missing, FERRY_CONNECT_READONLY, &err), FERRY_ENOTFOUND);
	CHECK(c == NULL);
	snprintf(want, sizeof(want), "could not open source database \"%s\": no such file", missing);
	CHECK_STR(err.msg, want);

	/* The sqlite: scheme forms name the path only. */
	char url[600];
	snprintf(url, sizeof(url), "sqlite://%s", missing);
	CHECK_INT(E->core->connect(&c, url, FERRY_CONNECT_READONLY, &err), FERRY_ENOTFOUND);
	CHECK_STR(err.msg, want);

	const char *junk = path_of("junk.db");
	FILE *f = fopen(junk, "w");
	for (int i = 0; i < 50; i++)
		fputs("this is not a database at all, just some text\n", f);
	fclose(f);
	snprintf(want, sizeof(want), "could not open database \"%s\": file is not a database", junk);
	CHECK(E->core->connect(&c, junk, FERRY_CONNECT_READONLY, &err) < 0);
	CHECK_STR(err.msg, want);
	CHECK(E->core->connect(&c, junk, FERRY_CONNECT_CREATE, &err) < 0);
	CHECK_STR(err.msg, want);
	CHECK(c == NULL);

	/* A target is created, in WAL for the load; finish restores the journal mode. */
	const char *newdb = path_of("new.db");
	snprintf(url, sizeof(url), "sqlite:%s", newdb);
	c = open_db(url, FERRY_CONNECT_CREATE);
	CHECK(c != NULL);
	if (c) {
		/* WAL from the first commit on: a run refused before it leaves the file as it was. */
		CHECK_STR(query_text(newdb, "PRAGMA journal_mode"), "delete");
		OK(E->core->begin(c, &err));
		OK(E->core->exec(c, "CREATE TABLE t(a)", &err));
		OK(E->core->commit(c, &err));
		CHECK_STR(query_text(newdb, "PRAGMA journal_mode"), "wal");
		OK(E->write->finish(c, &err));
		E->core->close(c);
		CHECK_STR(query_text(newdb, "PRAGMA journal_mode"), "delete");
	}
	/* Another connection holding the file keeps it in WAL until the last one closes. */
	ferry_conn *c2 = open_db(newdb, FERRY_CONNECT_CREATE);
	c = open_db(newdb, FERRY_CONNECT_CREATE);
	if (c && c2) {
		OK(E->core->begin(c2, &err));
		OK(E->core->commit(c2, &err));
		OK(E->core->begin(c, &err));
		OK(E->core->commit(c, &err));
		CHECK_STR(query_text(newdb, "PRAGMA journal_mode"), "wal");
		OK(E->write->finish(c2, &err));
		OK(E->write->finish(c, &err));
		CHECK_STR(query_text(newdb, "PRAGMA journal_mode"), "wal");
		E->core->close(c);
		E->core->close(c2);
		CHECK_STR(query_text(newdb, "PRAGMA journal_mode"), "delete");
	}
	/* A source connection cannot write. */
	c = open_db(newdb, FERRY_CONNECT_READONLY);
	if (c) {
		CHECK(E->core->exec(c, "INSERT INTO t VALUES (1)", &err) < 0);
		CHECK(strstr(err.msg, newdb) != NULL);
		E->core->close(c);
	}
	/* A missing target without CREATE is not made up. */
	CHECK_INT(E->core->connect(&c, path_of("nocreate.db"), 0, &err), FERRY_ENOTFOUND);

	/* A write-protected target fails at connect, naming the file (root ignores modes). */
	if (geteuid() != 0) {
		chmod(newdb, 0444);
		CHECK(E->core->connect(&c, newdb, FERRY_CONNECT_CREATE, &err) < 0);
		CHECK(strstr(err.msg, newdb) != NULL);
		chmod(newdb, 0644);
	}

	c = open_db(":memory:", FERRY_CONNECT_CREATE);
	CHECK(c != NULL);
	if (c)
		E->core->close(c);
}

static void test_quote(void)
{
	char buf[64];
	CHECK_INT(E->core->quote_ident(buf, sizeof(buf), "my \"odd\" table"), 18);
	CHECK_STR(buf, "\"my \"\"odd\"\" table\"");
	CHECK_INT(E->core->quote_ident(buf, 4, "abcdef"), 8);
	CHECK_STR(buf, "\"ab");
	CHECK_INT(E->core->quote_ident(NULL, 0, "user"), 6);
}

/* ---- introspection and DDL --------------------------------------------------------- */

static const char schema_sql[] =
	"CREATE TABLE \"user\"(id INTEGER PRIMARY KEY, name TEXT NOT NULL DEFAULT 'x' COLLATE nocase, "
	"  email VARCHAR(80) UNIQUE COLLATE BINARY, created TEXT DEFAULT CURRENT_TIMESTAMP COLLATE RTRIM);"
	"CREATE TABLE \"order\"(a INT, b TEXT, qty NUMERIC(10,2) DEFAULT (1+2), "
	"  PRIMARY KEY(b, a), FOREIGN KEY(a) REFERENCES \"user\" ON DELETE CASCADE);"
	"CREATE TABLE \"references\"(x, y, z INT, FOREIGN KEY(x, y) REFERENCES \"order\"(a, b) "
	"  ON UPDATE SET NULL, UNIQUE(z, y));"
	"CREATE TABLE \"my \"\"odd\"\" table\"(\"col one\" TEXT, \"we\"\"ird\" INT);"
	"CREATE TABLE nopk(a, b);"
	"CREATE TABLE wr(k TEXT PRIMARY KEY, v) WITHOUT ROWID;"
	"CREATE TABLE st(id INTEGER PRIMARY KEY, v TEXT, n ANY) STRICT;"
	"CREATE TABLE gen(a INT, b INT GENERATED ALWAYS AS (a * 2) VIRTUAL, "
	"  c INT AS (a + 1) STORED, d REAL);"
	"CREATE UNIQUE INDEX nopk_ab ON nopk(a, b);"
	"CREATE INDEX gen_expr ON gen(a + 1, d);"
	"CREATE INDEX gen_part ON gen(a) WHERE a > 0 AND d IS NOT NULL;"
	"CREATE INDEX \"my idx\" ON \"my \"\"odd\"\" table\"(\"we\"\"ird\", \"col one\");"
	"CREATE TABLE ferry_progress(x);"
	"CREATE TABLE Ferry_Runs(x);"
	"CREATE VIRTUAL TABLE vt USING fts5(body);";

static ferry_table *find(ferry_schema *s, const char *name)
{
	ferry_table *t = ferry_schema_find(s, name);
	if (!t)
		fprintf(stderr, "table %s not found\n", name);
	return t;
}

static ferry_index *find_index(ferry_table *t, const char *name)
{
	for (size_t i = 0; i < t->nidx; i++)
		if (strcmp(t->idx[i].name, name) == 0)
			return &t->idx[i];
	fprintf(stderr, "index %s not found on %s\n", name, t->name);
	return NULL;
}

/* What an engine's note callback heard: how many, and the last one's parts. */
typedef struct collation_notes {
	int n;
	char code[64], column[64], line[600];
} collation_notes;

static void collation_note(void *ud, const char *code, const char *column, const char *line)
{
	collation_notes *cn = ud;
	cn->n++;
	snprintf(cn->code, sizeof(cn->code), "%s", code ? code : "");
	snprintf(cn->column, sizeof(cn->column), "%s", column ? column : "");
	snprintf(cn->line, sizeof(cn->line), "%s", line);
}

static void test_introspect(void)
{
	ferry_err err = {0};
	const char *p = path_of("schema.db");
	sql_on(p, schema_sql);
	ferry_conn *c = open_db(p, FERRY_CONNECT_READONLY);
	if (!c)
		return;
	ferry_schema *s = ferry__schema_new();
	OK(E->core->introspect(c, s, &err));
	E->core->close(c);
	CHECK_INT(ferry_schema_count(s), 8);
	CHECK_STR(ferry_schema_table(s, 0)->name, "user");
	CHECK_STR(ferry_schema_table(s, 7)->name, "gen");

	ferry_table *t = find(s, "user");
	if (t && CHECK_INT(t->ncols, 4)) {
		CHECK(t->has_rowid && !t->strict);
		CHECK_INT(t->npk, 1);
		CHECK_INT(t->pk[0], 0);
		CHECK_INT(t->cols[0].pk_pos, 1);
		CHECK_STR(t->cols[0].decl_type, "INTEGER");
		CHECK_INT(t->cols[0].type, FERRY_INT);
		CHECK(t->cols[1].notnull);
		CHECK_STR(t->cols[1].default_sql, "'x'");
		CHECK_STR(t->cols[2].decl_type, "VARCHAR(80)");
		CHECK_INT(t->cols[2].type, FERRY_TEXT);
		CHECK(t->cols[2].default_sql == NULL);
		CHECK_STR(t->cols[3].default_sql, "CURRENT_TIMESTAMP");
		/* Collations as declared; BINARY (the default) is none. */
		CHECK(t->cols[0].collation == NULL);
		CHECK_STR(t->cols[1].collation, "nocase");
		CHECK(t->cols[2].collation == NULL);
		CHECK_STR(t->cols[3].collation, "RTRIM");
		CHECK_INT(t->est_rows, -1);
		if (CHECK_INT(t->nidx, 1)) {
			CHECK(t->idx[0].unique);
			CHECK_INT(t->idx[0].ncols, 1);
			CHECK_STR(t->idx[0].cols[0], "email");
			CHECK(t->idx[0].sql == NULL);
			CHECK(!t->idx[0].exprs && !t->idx[0].where);
		}
	}
	t = find(s, "order");
	if (t && CHECK_INT(t->ncols, 3)) {
		CHECK_INT(t->npk, 2);
		CHECK_INT(t->pk[0], 1); /* b */
		CHECK_INT(t->pk[1], 0); /* a */
		CHECK_INT(t->cols[1].pk_pos, 1);
		CHECK_INT(t->cols[0].pk_pos, 2);
		CHECK_INT(t->cols[2].type, FERRY_NUMERIC);
		CHECK_STR(t->cols[2].default_sql, "1+2");
		CHECK_INT(t->nidx, 0);
		if (CHECK_INT(t->nfks, 1)) {
			CHECK_STR(t->fks[0].ref_table, "user");
			CHECK_INT(t->fks[0].ncols, 1);
			CHECK_STR(t->fks[0].cols[0], "a");
			CHECK(t->fks[0].ref_cols[0] == NULL);
			CHECK_STR(t->fks[0].on_delete, "CASCADE");
			CHECK(t->fks[0].on_update == NULL);
		}
	}
	t = find(s, "references");
	if (t && CHECK_INT(t->nfks, 1)) {
		CHECK_STR(t->cols[0].decl_type, "");
		CHECK_INT(t->cols[0].type, FERRY_BLOB);
		CHECK_INT(t->npk, 0);
		CHECK_INT(t->fks[0].ncols, 2);
		CHECK_STR(t->fks[0].cols[1], "y");
		CHECK_STR(t->fks[0].ref_cols[0], "a");
		CHECK_STR(t->fks[0].ref_cols[1], "b");
		CHECK_STR(t->fks[0].on_update, "SET NULL");
		CHECK(t->fks[0].on_delete == NULL);
		if (CHECK_INT(t->nidx, 1)) {
			CHECK(t->idx[0].unique);
			CHECK_STR(t->idx[0].cols[0], "z");
			CHECK_STR(t->idx[0].cols[1], "y");
		}
	}
	t = find(s, "my \"odd\" table");
	if (t && CHECK_INT(t->ncols, 2)) {
		CHECK_STR(t->cols[0].name, "col one");
		CHECK_STR(t->cols[1].name, "we\"ird");
		ferry_index *x = find_index(t, "my idx");
		if (x && CHECK_INT(x->ncols, 2)) {
			CHECK_STR(x->cols[0], "we\"ird");
			CHECK(!x->unique && !x->exprs && !x->where);
			CHECK(x->sql != NULL);
		}
	}
	t = find(s, "nopk");
	if (t) {
		CHECK_INT(t->npk, 0);
		CHECK(t->has_rowid);
		ferry_index *x = find_index(t, "nopk_ab");
		CHECK(x && x->unique && x->ncols == 2);
	}
	t = find(s, "wr");
	if (t) {
		CHECK(!t->has_rowid);
		CHECK_INT(t->npk, 1);
	}
	t = find(s, "st");
	if (t) {
		CHECK(t->strict && t->has_rowid);
		CHECK_STR(t->cols[2].decl_type, "ANY");
	}
	t = find(s, "gen");
	if (t && CHECK_INT(t->ncols, 4)) {
		CHECK(!t->cols[0].generated);
		CHECK(t->cols[1].generated);
		CHECK(t->cols[2].generated);
		CHECK(!t->cols[3].generated);
		CHECK_STR(t->cols[1].decl_type, "INT");
		ferry_index *x = find_index(t, "gen_expr");
		if (x && CHECK_INT(x->ncols, 2)) {
			CHECK(x->exprs);
			CHECK_STR(x->cols[0], "a + 1");
			CHECK_STR(x->cols[1], "d");
			CHECK(x->where == NULL);
		}
		x = find_index(t, "gen_part");
		if (x && CHECK_INT(x->ncols, 1)) {
			CHECK(!x->exprs);
			CHECK_STR(x->where, "a > 0 AND d IS NOT NULL");
			CHECK_STR(x->cols[0], "a");
		}
	}

	/* Verbatim: a definition carrying the engine's own text is replayed as written. */
	{
		const char *vq = path_of("schema_verbatim.db");
		ferry_conn *vc = open_db(vq, FERRY_CONNECT_CREATE);
		ferry_table *gen = ferry_schema_find(s, "gen");
		if (vc && gen && CHECK(gen->sql != NULL)) {
			OK(E->write->create_table(vc, gen, &err));
			OK(E->write->create_indexes(vc, gen, &err));
			OK(E->write->create_indexes(vc, gen, &err)); /* twice is harmless */
			ferry_schema *vs = ferry__schema_new();
			OK(E->core->introspect(vc, vs, &err));
			ferry_table *back = ferry_schema_find(vs, "gen");
			if (CHECK(back != NULL)) {
				CHECK_STR(back->sql, gen->sql);
				CHECK_INT(back->ncols, gen->ncols);
				CHECK_INT(back->nidx, gen->nidx);
			}
			ferry__schema_free(vs);
		}
		if (vc)
			E->core->close(vc);
	}

	/* Recreate every table from its column list in a new file and read the copy back: the
	 * same definitions (the path for tables that change on the way). */
	for (size_t i = 0; i < ferry_schema_count(s); i++) {
		free(ferry_schema_table(s, i)->sql);
		ferry_schema_table(s, i)->sql = NULL;
	}
	const char *q = path_of("schema_copy.db");
	c = open_db(q, FERRY_CONNECT_CREATE);
	if (!c) {
		ferry__schema_free(s);
		return;
	}
	for (size_t i = 0; i < ferry_schema_count(s); i++)
		OK(E->write->create_table(c, ferry_schema_table(s, i), &err));
	for (size_t i = 0; i < ferry_schema_count(s); i++)
		OK(E->write->create_indexes(c, ferry_schema_table(s, i), &err));
	/* Twice is harmless (a resumed run). */
	for (size_t i = 0; i < ferry_schema_count(s); i++)
		OK(E->write->create_indexes(c, ferry_schema_table(s, i), &err));
	ferry_schema *s2 = ferry__schema_new();
	OK(E->core->introspect(c, s2, &err));
	CHECK_INT(ferry_schema_count(s2), ferry_schema_count(s));
	for (size_t i = 0; i < ferry_schema_count(s); i++) {
		ferry_table *a = ferry_schema_table(s, i);
		ferry_table *b = ferry_schema_find(s2, a->name);
		if (!CHECK(b != NULL))
			continue;
		CHECK_INT(b->has_rowid, a->has_rowid);
		CHECK_INT(b->strict, a->strict);
		CHECK_INT(b->npk, a->npk);
		size_t j = 0;
		for (size_t k = 0; k < a->ncols; k++) {
			const ferry_column *ca = &a->cols[k];
			if (ca->generated)
				continue; /* not carried: never written */
			if (!CHECK(j < b->ncols))
				break;
			const ferry_column *cb = &b->cols[j++];
			CHECK_STR(cb->name, ca->name);
			CHECK_STR(cb->decl_type, ca->decl_type);
			CHECK_INT(cb->type, ca->type);
			CHECK_INT(cb->notnull, ca->notnull);
			CHECK_INT(cb->pk_pos, ca->pk_pos);
			CHECK_STR(cb->default_sql, ca->default_sql);
			CHECK_STR(cb->collation, ca->collation);
		}
		CHECK_INT(j, b->ncols);
		if (CHECK_INT(b->nfks, a->nfks))
			for (size_t f = 0; f < a->nfks; f++) {
				CHECK_STR(b->fks[f].ref_table, a->fks[f].ref_table);
				CHECK_INT(b->fks[f].ncols, a->fks[f].ncols);
				for (size_t k = 0; k < a->fks[f].ncols; k++) {
					CHECK_STR(b->fks[f].cols[k], a->fks[f].cols[k]);
					CHECK_STR(b->fks[f].ref_cols[k], a->fks[f].ref_cols[k]);
				}
				CHECK_STR(b->fks[f].on_delete, a->fks[f].on_delete);
				CHECK_STR(b->fks[f].on_update, a->fks[f].on_update);
			}
		if (CHECK_INT(b->nidx, a->nidx))
			for (size_t x = 0; x < a->nidx; x++) {
				const ferry_index *ia = &a->idx[x], *ib = &b->idx[x];
				if (strncmp(ia->name, "sqlite_", 7) != 0)
					CHECK_STR(ib->name, ia->name);
				CHECK_INT(ib->unique, ia->unique);
				CHECK_INT(ib->exprs, ia->exprs);
				CHECK_STR(ib->where, ia->where);
				if (CHECK_INT(ib->ncols, ia->ncols))
					for (size_t k = 0; k < ia->ncols; k++)
						CHECK_STR(ib->cols[k], ia->cols[k]);
			}
	}
	/* A UNIQUE constraint stays one: a UNIQUE clause of the table, not an index of its own. */
	ferry_table *u = ferry_schema_find(s2, "user");
	if (u && CHECK_INT(u->nidx, 1)) {
		CHECK(u->idx[0].constraint);
		CHECK(strncmp(u->idx[0].name, "sqlite_autoindex_user_", 22) == 0);
	}
	/* WITHOUT ROWID and INTEGER PRIMARY KEY survive as such. */
	CHECK_STR(query_text(q, "SELECT sql FROM sqlite_schema WHERE name = 'wr'"),
	          "CREATE TABLE \"wr\"(\"k\" TEXT NOT NULL, \"v\", PRIMARY KEY(\"k\")) WITHOUT ROWID");
	OK(E->core->exec(c, "INSERT INTO \"user\"(name) VALUES ('a')", &err));
	CHECK_STR(query_text(q, "SELECT rowid = id FROM \"user\""), "1");

	/* A collation SQLite does not know (an application's, registered on its own connections)
	 * would fail CREATE TABLE: the column is created without it, with a note naming it. */
	ferry_table *uu = ferry_schema_find(s, "user");
	if (uu) {
		ferry_schema *one = ferry__schema_new();
		ferry_table *d = one ? ferry__schema_copy_table(one, uu, "user_foo") : NULL;
		if (CHECK(d != NULL)) {
			free(d->cols[1].collation);
			d->cols[1].collation = ferry__strdup("app_order");
			collation_notes cn = {0};
			d->note = collation_note;
			d->note_ud = &cn;
			OK(E->write->create_table(c, d, &err));
			CHECK_INT(cn.n, 1);
			CHECK_STR(cn.code, "collation_not_created");
			CHECK_STR(cn.column, "name");
			CHECK_HAS(cn.line, "collation app_order of column \"name\" of \"user_foo\" is not created");
			CHECK_STR(query_text(q, "SELECT sql FROM sqlite_schema WHERE name = 'user_foo'"),
			          "CREATE TABLE \"user_foo\"(\"id\" INTEGER, \"name\" TEXT NOT NULL DEFAULT ('x'), "
			          "\"email\" VARCHAR(80), \"created\" TEXT DEFAULT (CURRENT_TIMESTAMP) COLLATE RTRIM, "
			          "PRIMARY KEY(\"id\"), UNIQUE(\"email\"))");
		}
		ferry__schema_free(one);
	}

	/* An index name held by another table is an error, not a silent skip. */
	ferry_table *g = ferry_schema_find(s, "nopk");
	if (g) {
		ferry_table copy = *g;
		copy.name = "st";
		CHECK(E->write->create_indexes(c, &copy, &err) < 0);
		CHECK(strstr(err.msg, "an index of that name exists on table \"nopk\"") != NULL);
	}
	/* Expression and partial indexes of a renamed table are skipped (the caller reports). */
	g = ferry_schema_find(s, "gen");
	if (g && find_index(g, "gen_expr") && find_index(g, "gen_part")) {
		OK(E->core->exec(c, "CREATE TABLE gen2(a INT, d REAL)", &err));
		ferry_table copy = *g;
		copy.name = "gen2";
		copy.nidx = 0;
		ferry_index only[2];
		only[0] = *find_index(g, "gen_expr");
		only[1] = *find_index(g, "gen_part");
		copy.idx = only;
		copy.nidx = 2;
		OK(E->write->create_indexes(c, &copy, &err));
		CHECK_INT(query_int(q, "SELECT count(*) FROM sqlite_schema WHERE tbl_name = 'gen2' "
		                       "AND type = 'index'"), 0);
	}
	E->core->close(c);
	ferry__schema_free(s2);
	ferry__schema_free(s);
}

/* ---- chunks ------------------------------------------------------------------------ */

typedef struct chunk_list {
	size_t n;
	int64_t est[256];
	uint8_t *lo[256], *hi[256];
	size_t lo_len[256], hi_len[256];
	int64_t chunk[256];
	int bad_job;
	int est_loose; /* a ranged plan: the ends hold rows outside the range it counted */
} chunk_list;

static int collect_chunk(void *ud, const ferry_chunk_rec *r)
{
	chunk_list *l = ud;
	if (l->n >= 256)
		return FERRY_ERROR;
	size_t i = l->n++;
	l->est[i] = r->est_rows;
	l->chunk[i] = r->chunk;
	l->bad_job |= r->job != 0 || r->job_name != NULL || r->done;
	l->lo[i] = r->lo ? malloc(r->lo_len) : NULL;
	l->hi[i] = r->hi ? malloc(r->hi_len) : NULL;
	if (r->lo)
		memcpy(l->lo[i], r->lo, r->lo_len);
	if (r->hi)
		memcpy(l->hi[i], r->hi, r->hi_len);
	l->lo_len[i] = r->lo ? r->lo_len : 0;
	l->hi_len[i] = r->hi ? r->hi_len : 0;
	return 0;
}

static void chunks_free(chunk_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->lo[i]);
		free(l->hi[i]);
	}
	memset(l, 0, sizeof(*l));
}

typedef struct seen {
	int count[1000];
	int64_t rows;
	int order_ok;
	int64_t last;
} seen;

static void see_row(void *ud, const ferry_value *row, size_t ncols)
{
	seen *s = ud;
	(void)ncols;
	int64_t id = row[0].type == FERRY_INT ? row[0].v.i : -1;
	if (id >= 0 && id < 1000)
		s->count[id]++;
	if (id <= s->last)
		s->order_ok = 0;
	s->last = id;
	s->rows++;
}

/* Read every chunk of l through the reader; each id must turn up exactly once, and each
 * chunk must hold exactly its est_rows. */
static void read_chunks(ferry_conn *c, const char *table, size_t nk, const char *const *keys,
                        const char *idexpr, chunk_list *l, int64_t nrows)
{
	ferry_err err = {0};
	seen s;
	memset(&s, 0, sizeof(s));
	int64_t before = 0;
	for (size_t i = 0; i < l->n; i++) {
		ferry_value lo[4], hi[4];
		size_t want = nk ? nk : 1;
		CHECK(!l->lo[i] || ferry_value_decode_row(lo, 4, l->lo[i], l->lo_len[i]) == (int)want);
		CHECK(!l->hi[i] || ferry_value_decode_row(hi, 4, l->hi[i], l->hi_len[i]) == (int)want);
		const char *exprs[1] = {idexpr};
		ferry_read_spec spec = {.table = table, .nexprs = 1, .exprs = exprs, .nkeys = nk,
		                        .keys = keys, .lo = l->lo[i] ? lo : NULL,
		                        .hi = l->hi[i] ? hi : NULL};
		s.last = -1;
		s.order_ok = 1;
		OK(read_all(c, &spec, 7, see_row, &s, &err));
		if (!l->est_loose)
			CHECK_INT(s.rows - before, l->est[i]);
		if (nk < 2)
			CHECK(s.order_ok);
		before = s.rows;
	}
	CHECK_INT(s.rows, nrows);
	int once = 1;
	for (int64_t i = 1; i <= nrows; i++)
		once &= s.count[i] == 1;
	CHECK(once);
}

static void test_chunks(void)
{
	ferry_err err = {0};
	const char *p = path_of("chunks.db");
	sql_on(p, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);"
	          "CREATE TABLE c(a INT NOT NULL, b TEXT NOT NULL, id INT, PRIMARY KEY(a, b));"
	          "CREATE TABLE shadow(rowid, _rowid_, oid);"
	          "CREATE TABLE half(rowid INT, x);"
	          "CREATE TABLE w(k TEXT PRIMARY KEY, id INT) WITHOUT ROWID;"
	          "CREATE TABLE nk(k TEXT PRIMARY KEY, id INT);"
	          "INSERT INTO half VALUES (10, 1), (20, 2), (30, 3);"
	          "INSERT INTO nk VALUES ('a', 1), (NULL, 2);");
	ferry_conn *c = open_db(p, FERRY_CONNECT_READONLY);
	ferry_conn *wc = open_db(p, FERRY_CONNECT_CREATE);
	if (!c || !wc)
		return;
	static const struct {
		int rows;
		size_t nchunks;
		int64_t last;
	} cases[] = {{0, 1, 0}, {1, 1, 1}, {10, 1, 10}, {11, 2, 1}, {95, 10, 5}, {100, 10, 10}};
	const char *idk[] = {"id"};
	for (size_t k = 0; k < FERRY_ARRAY_LEN(cases); k++) {
		OK(E->core->exec(wc, "DELETE FROM t", &err));
		char sql[200];
		snprintf(sql, sizeof(sql),
		         "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d) "
		         "INSERT INTO t SELECT i, 'v' || i FROM n WHERE %d > 0", cases[k].rows,
		         cases[k].rows);
		OK(E->core->exec(wc, sql, &err));
		for (int bykey = 0; bykey < 2; bykey++) {
			chunk_list l;
			memset(&l, 0, sizeof(l));
			OK(E->read->plan_chunks(c, "t", bykey, idk, 10, NULL, collect_chunk, &l, &err));
			if (CHECK_INT(l.n, cases[k].nchunks)) {
				CHECK_INT(l.est[l.n - 1], cases[k].last);
				CHECK(l.lo[0] == NULL && l.hi[l.n - 1] == NULL);
				int seq = 1;
				for (size_t i = 0; i < l.n; i++)
					seq &= l.chunk[i] == (int64_t)i && (i + 1 == l.n || l.est[i] == 10);
				CHECK(seq);
				CHECK(!l.bad_job);
				read_chunks(c, "t", bykey, idk, "id", &l, cases[k].rows);
			}
			chunks_free(&l);
		}
	}
	/* A composite key: row values, key order. */
	OK(E->core->exec(wc, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 49) "
	               "INSERT INTO c SELECT i % 7, 'k' || (i / 7), i FROM n", &err));
	const char *ck[] = {"a", "b"};
	chunk_list l;
	memset(&l, 0, sizeof(l));
	OK(E->read->plan_chunks(c, "c", 2, ck, 5, NULL, collect_chunk, &l, &err));
	CHECK_INT(l.n, 10);
	read_chunks(c, "c", 2, ck, "id", &l, 49);
	chunks_free(&l);
	/* The same table by row id. */
	OK(E->read->plan_chunks(c, "c", 0, NULL, 5, NULL, collect_chunk, &l, &err));
	CHECK_INT(l.n, 10);
	read_chunks(c, "c", 0, NULL, "id", &l, 49);
	chunks_free(&l);
	/* WITHOUT ROWID by its key; text keys. */
	OK(E->core->exec(wc, "INSERT INTO w SELECT printf('%04d', id), id FROM c", &err));
	const char *wk[] = {"k"};
	OK(E->read->plan_chunks(c, "w", 1, wk, 8, NULL, collect_chunk, &l, &err));
	CHECK_INT(l.n, 7);
	read_chunks(c, "w", 1, wk, "id", &l, 49);
	chunks_free(&l);
	CHECK_INT(E->read->plan_chunks(c, "w", 0, NULL, 8, NULL, collect_chunk, &l, &err), FERRY_EUSAGE);

	/* Row id names shadowed by columns. */
	CHECK_INT(E->read->plan_chunks(c, "shadow", 0, NULL, 10, NULL, collect_chunk, &l, &err), FERRY_EUSAGE);
	CHECK_STR(err.msg, "cannot chunk table \"shadow\": rowid, _rowid_ and oid are all column names");
	OK(E->read->plan_chunks(c, "half", 0, NULL, 2, NULL, collect_chunk, &l, &err));
	CHECK_INT(l.n, 2);
	read_chunks(c, "half", 0, NULL, "x", &l, 3);
	chunks_free(&l);
	/* A NULL in a key column would fall outside every range. */
	CHECK_INT(E->read->plan_chunks(c, "nk", 1, wk, 10, NULL, collect_chunk, &l, &err), FERRY_EUSAGE);
	CHECK(strstr(err.msg, "NULL") != NULL);
	CHECK_INT(E->read->plan_chunks(c, "nosuch", 0, NULL, 10, NULL, collect_chunk, &l, &err), FERRY_ENOTFOUND);
	chunks_free(&l);
	E->core->close(wc);
	E->core->close(c);
}

/* A key range walks only its keys: the first chunk ends chunk_rows keys into the range, the
 * last one is the first reaching its upper end (its rows counted to there), and the chunks
 * still hold every row of the table once, the ends open. */
static void test_chunks_range(void)
{
	ferry_err err = {0};
	const char *p = path_of("range.db");
	sql_on(p, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);"
	          "CREATE TABLE w(id INT PRIMARY KEY, v TEXT) WITHOUT ROWID;"
	          "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100) "
	          "INSERT INTO t SELECT i, 'v' || i FROM n;"
	          "INSERT INTO w SELECT id, v FROM t;");
	ferry_conn *c = open_db(p, FERRY_CONNECT_READONLY);
	if (!c)
		return;
	static const struct {
		int64_t lo, hi;
		size_t nchunks;
		int64_t his[4]; /* the chunks' upper bounds, 0: open */
		int64_t est[4];
	} cases[] = {
		{35, 62, 3, {44, 54, 0}, {10, 10, 8}},
		{35, 54, 2, {44, 0}, {10, 10}},        /* the range's end closes a chunk */
		{91, INT64_MAX, 1, {0}, {10}},
		{INT64_MIN, 25, 3, {10, 20, 0}, {10, 10, 5}},
		{INT64_MIN, INT64_MAX, 10, {10, 20, 30, 40}, {10, 10, 10, 10}},
		{1, 0, 1, {0}, {0}},                   /* no key */
		{-50, -1, 1, {0}, {0}},                /* below every key */
		{500, 600, 1, {0}, {0}},               /* above every key */
		{100, 100, 1, {0}, {1}},
	};
	const char *idk[] = {"id"};
	for (size_t k = 0; k < FERRY_ARRAY_LEN(cases); k++) {
		for (int how = 0; how < 3; how++) {
			const char *table = how == 2 ? "w" : "t";
			size_t nk = how ? 1 : 0; /* the row id, its alias, a WITHOUT ROWID key */
			ferry_key_range r = {cases[k].lo, cases[k].hi};
			chunk_list l;
			memset(&l, 0, sizeof(l));
			OK(E->read->plan_chunks(c, table, nk, idk, 10, &r, collect_chunk, &l, &err));
			if (!CHECK_INT(l.n, cases[k].nchunks)) {
				chunks_free(&l);
				continue;
			}
			CHECK(l.lo[0] == NULL && l.hi[l.n - 1] == NULL);
			for (size_t i = 0; i < l.n && i < 4; i++) {
				ferry_value v[2];
				int64_t hi = 0;
				if (l.hi[i] && ferry_value_decode_row(v, 2, l.hi[i], l.hi_len[i]) == 1)
					hi = v[0].v.i;
				CHECK_INT(hi, cases[k].his[i]);
				CHECK_INT(l.est[i], cases[k].est[i]);
				CHECK_INT(l.chunk[i], (int64_t)i);
			}
			l.est_loose = 1;
			read_chunks(c, table, nk, idk, "id", &l, 100);
			chunks_free(&l);
		}
	}
	/* A composite key has no range: every chunk, as without one. */
	sql_on(p, "CREATE TABLE c(a INT NOT NULL, b INT NOT NULL, PRIMARY KEY(a, b));"
	          "INSERT INTO c SELECT id % 3, id FROM t;");
	const char *ck[] = {"a", "b"};
	ferry_key_range r = {40, 50};
	chunk_list l;
	memset(&l, 0, sizeof(l));
	OK(E->read->plan_chunks(c, "c", 2, ck, 10, &r, collect_chunk, &l, &err));
	CHECK_INT(l.n, 10);
	chunks_free(&l);
	E->core->close(c);
}

/* ---- reading ----------------------------------------------------------------------- */

typedef struct got_rows {
	size_t n;
	char text[16][64];
} got_rows;

static void row_text(void *ud, const ferry_value *row, size_t ncols)
{
	got_rows *g = ud;
	if (g->n >= 16)
		return;
	char *o = g->text[g->n++];
	o[0] = '\0';
	for (size_t i = 0; i < ncols; i++) {
		char part[40];
		const ferry_value *v = &row[i];
		switch (v->type) {
		case FERRY_INT: snprintf(part, sizeof(part), "%lld", (long long)v->v.i); break;
		case FERRY_FLOAT: snprintf(part, sizeof(part), "%g", v->v.f); break;
		case FERRY_TEXT: snprintf(part, sizeof(part), "'%.*s'", (int)v->len, v->v.s); break;
		case FERRY_NULL: snprintf(part, sizeof(part), "NULL"); break;
		default: snprintf(part, sizeof(part), "?"); break;
		}
		strncat(o, i ? "|" : "", 63 - strlen(o));
		strncat(o, part, 63 - strlen(o));
	}
}

static void test_reader(void)
{
	ferry_err err = {0};
	const char *p = path_of("reader.db");
	sql_on(p, "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, score REAL);"
	          "INSERT INTO t VALUES (1, 'ann', 5), (2, 'bob', 12.5), (3, NULL, 20), (4, 'dee', 30);");
	ferry_conn *c = open_db(p, FERRY_CONNECT_READONLY);
	if (!c)
		return;
	const char *exprs[] = {"id", "upper(name)", "score * ?", "? || 'x'"};
	ferry_value params[] = {v_int(2), v_text("p"), v_int(10)};
	ferry_value lo[] = {v_int(1)}, hi[] = {v_int(3)};
	ferry_read_spec spec = {.table = "t", .nexprs = 4, .exprs = exprs, .filter = "score > ?",
	                        .lo = lo, .hi = hi, .nparams = 3, .params = params};
	got_rows g;
	memset(&g, 0, sizeof(g));
	OK(read_all(c, &spec, 1, row_text, &g, &err));
	if (CHECK_INT(g.n, 2)) {
		CHECK_STR(g.text[0], "2|'BOB'|25|'px'");
		CHECK_STR(g.text[1], "3|NULL|40|'px'");
	}
	/* Without bounds every row, in row id order. */
	spec.lo = spec.hi = NULL;
	spec.filter = NULL;
	spec.nparams = 2;
	memset(&g, 0, sizeof(g));
	OK(read_all(c, &spec, 3, row_text, &g, &err));
	CHECK_INT(g.n, 4);
	/* A wrong count of parameters is the caller's mistake. */
	spec.nparams = 3;
	ferry_reader *r = NULL;
	CHECK_INT(E->read->reader_open(&r, c, &spec, &err), FERRY_EUSAGE);
	CHECK(r == NULL);
	const char *bad[] = {"id", "nope"};
	ferry_read_spec sb = {.table = "t", .nexprs = 2, .exprs = bad};
	CHECK_INT(E->read->reader_open(&r, c, &sb, &err), FERRY_EUSAGE);
	CHECK_STR(err.msg, "could not read table \"t\": no such column: nope");
	sb.table = "nosuch";
	CHECK(E->read->reader_open(&r, c, &sb, &err) < 0);
	/* A runtime error is not a usage error. */
	const char *boom[] = {"CASE WHEN id = 3 THEN json('{') ELSE id END"};
	ferry_read_spec sr = {.table = "t", .nexprs = 1, .exprs = boom};
	memset(&g, 0, sizeof(g));
	CHECK_INT(read_all(c, &sr, 10, row_text, &g, &err), FERRY_ERROR);
	CHECK(strstr(err.msg, "could not read table \"t\"") != NULL);
	int64_t n = 0;
	OK(E->write->table_rows(c, "t", &n, &err));
	CHECK_INT(n, 4);
	CHECK_INT(E->write->table_rows(c, "nosuch", &n, &err), FERRY_ENOTFOUND);
	E->core->close(c);
}

/* ---- writing ----------------------------------------------------------------------- */

typedef struct rejects {
	size_t n;
	size_t row[64];
	char reason[64][160];
} rejects;

static int on_reject(void *ud, size_t row, const char *reason)
{
	rejects *r = ud;
	if (r->n < 64) {
		r->row[r->n] = row;
		snprintf(r->reason[r->n], sizeof(r->reason[0]), "%s", reason);
	}
	r->n++;
	return 0;
}

static void test_values(void)
{
	ferry_err err = {0};
	const char *p = path_of("values.db");
	ferry_conn *c = open_db(p, FERRY_CONNECT_CREATE);
	if (!c)
		return;
	OK(E->core->exec(c, "CREATE TABLE v(id INTEGER PRIMARY KEY, i INT, f REAL, t TEXT, b BLOB, x)",
	           &err));
	static const char utf8[] = "h\xc3\xa9llo \xe2\x80\x94 \xe6\x97\xa5\xe6\x9c\xac "
	                           "\xf0\x9f\x9a\x80";
	static const uint8_t bytes[] = {0, 1, 0, 255};
	/* Batch columns in another order than the target's: map does the wiring. */
	ferry_batch *b = ferry__batch_new(6, 8);
	for (int r = 0; r < 5; r++) {
		ferry_value *row = ferry_batch_add_row(b);
		row[5] = v_int(r + 1); /* id */
		for (int k = 0; k < 5; k++)
			row[k] = v_null();
		if (r == 1) {
			row[0] = v_int(INT64_MIN);
			row[1].type = FERRY_FLOAT;
			row[1].v.f = 1.5;
			row[2] = v_text("");
			row[3].type = FERRY_BLOB;
			row[3].len = 0;
			row[3].v.b = NULL;
			row[4].type = FERRY_BOOL;
			row[4].v.i = 1;
		} else if (r == 2) {
			row[0] = v_int(INT64_MAX);
			row[1].type = FERRY_FLOAT;
			row[1].v.f = -0.25;
			row[2] = v_text(utf8);
			row[3].type = FERRY_BLOB;
			row[3].len = sizeof(bytes);
			row[3].v.b = bytes;
			row[4].type = FERRY_DATE;
			row[4].v.s = "2024-02-29";
			row[4].len = 10;
		} else if (r == 3) {
			/* Text with an embedded NUL keeps its length. */
			row[2].type = FERRY_TEXT;
			row[2].v.s = "a\0b";
			row[2].len = 3;
		} else if (r == 4) {
			row[2].type = FERRY_TEXT; /* empty text given as a NULL pointer */
			row[2].v.s = NULL;
			row[2].len = 0;
		}
	}
	const char *cols[] = {"id", "i", "f", "t", "b", "x"};
	const size_t map[] = {5, 0, 1, 2, 3, 4};
	ferry_write_spec ws = {.table = "v", .ncols = 6, .cols = cols, .map = map};
	ferry_writer *w = NULL;
	rejects rj;
	memset(&rj, 0, sizeof(rj));
	OK(E->core->begin(c, &err));
	if (OK(E->write->writer_open(&w, c, &ws, &err))) {
		OK(E->write->writer_write(w, b, on_reject, &rj, &err));
		E->write->writer_close(w);
	}
	OK(E->core->commit(c, &err));
	CHECK_INT(rj.n, 0);
	CHECK_STR(query_text(p, "SELECT typeof(t) || typeof(b) || typeof(x) FROM v WHERE id = 1"),
	          "nullnullnull");
	CHECK_STR(query_text(p, "SELECT typeof(t) || length(t) || typeof(b) || length(b) FROM v "
	                        "WHERE id = 2"), "text0blob0");
	CHECK_STR(query_text(p, "SELECT i FROM v WHERE id = 2"), "-9223372036854775808");
	CHECK_STR(query_text(p, "SELECT i FROM v WHERE id = 3"), "9223372036854775807");
	CHECK_STR(query_text(p, "SELECT t FROM v WHERE id = 3"), utf8);
	CHECK_STR(query_text(p, "SELECT hex(b) || x FROM v WHERE id = 3"), "000100FF2024-02-29");
	CHECK_STR(query_text(p, "SELECT length(CAST(t AS BLOB)) FROM v WHERE id = 4"), "3");
	CHECK_STR(query_text(p, "SELECT typeof(t) FROM v WHERE id = 5"), "text");

	/* And back through the reader, type by type. */
	const char *exprs[] = {"i", "f", "t", "b", "x"};
	ferry_read_spec rs = {.table = "v", .nexprs = 5, .exprs = exprs};
	ferry_reader *r;
	ferry_batch *rb = ferry__batch_new(5, 16);
	int eof = 0;
	if (OK(E->read->reader_open(&r, c, &rs, &err))) {
		OK(E->read->reader_next(r, rb, &eof, &err));
		CHECK(eof);
		if (CHECK_INT(ferry_batch_nrows(rb), 5)) {
			const ferry_value *r0 = ferry_batch_crow(rb, 0), *r1 = ferry_batch_crow(rb, 1),
			                  *r2 = ferry_batch_crow(rb, 2);
			CHECK(r0[2].type == FERRY_NULL && r0[3].type == FERRY_NULL);
			CHECK(r1[0].type == FERRY_INT && r1[0].v.i == INT64_MIN);
			CHECK(r1[1].type == FERRY_FLOAT && r1[1].v.f == 1.5);
			CHECK(r1[2].type == FERRY_TEXT && r1[2].len == 0 && r1[2].v.s != NULL);
			CHECK(r1[3].type == FERRY_BLOB && r1[3].len == 0);
			CHECK(r1[4].type == FERRY_INT && r1[4].v.i == 1);
			CHECK(r2[0].v.i == INT64_MAX);
			CHECK(r2[2].type == FERRY_TEXT && r2[2].len == strlen(utf8) &&
			      memcmp(r2[2].v.s, utf8, r2[2].len) == 0);
			CHECK(r2[3].type == FERRY_BLOB && r2[3].len == 4 &&
			      memcmp(r2[3].v.b, bytes, 4) == 0);
			CHECK(r2[4].type == FERRY_TEXT && r2[4].len == 10);
		}
		OK(E->read->reader_next(r, rb, &eof, &err));
		CHECK(eof);
		E->read->reader_close(r);
	}
	ferry__batch_free(rb);
	ferry__batch_free(b);
	E->core->close(c);
}

/* ferry's exact types (FLOAT8_BLOB, FLOAT4_BLOB, NUMERIC_TEXT): -0.0 keeps its sign, NaN is
 * stored as the text 'NaN' and read back as NaN, a float into NUMERIC_TEXT becomes its
 * shortest exact text; a plain REAL column is left to SQLite (the pipeline refuses NaN). */
static void test_exact_types(void)
{
	ferry_err err = {0};
	const char *p = path_of("exact.db");
	ferry_conn *c = open_db(p, FERRY_CONNECT_CREATE);
	if (!c)
		return;
	OK(E->core->exec(c, "CREATE TABLE e(id INTEGER PRIMARY KEY, d FLOAT8_BLOB, f float4_blob, "
	              "n NUMERIC_TEXT(30,10), r REAL)", &err));
	ferry_schema *s = ferry__schema_new();
	if (OK(E->core->introspect(c, s, &err))) {
		ferry_table *t = ferry_schema_find(s, "e");
		if (CHECK(t && t->ncols == 5)) {
			CHECK_INT(t->cols[1].type, FERRY_FLOAT);
			CHECK_INT(t->cols[2].type, FERRY_FLOAT);
			CHECK_INT(t->cols[3].type, FERRY_NUMERIC);
			CHECK_STR(t->cols[3].decl_type, "NUMERIC_TEXT(30,10)");
		}
	}
	ferry__schema_free(s);
	static const double d[] = {-0.0, NAN, INFINITY, 4.9406564584124654e-324, 0.1};
	ferry_batch *b = ferry__batch_new(5, 8);
	for (int i = 0; i < 5; i++) {
		ferry_value *row = ferry_batch_add_row(b);
		row[0] = v_int(i + 1);
		for (int k = 1; k <= 3; k++) {
			row[k].type = FERRY_FLOAT;
			row[k].v.f = d[i];
		}
		row[4] = v_null();
	}
	ferry_value *row = ferry_batch_add_row(b);
	row[0] = v_int(6);
	row[1] = v_text("NaN");
	row[2] = v_null();
	row[3].type = FERRY_NUMERIC;
	row[3].v.s = "-123456789012345678901234567890.5";
	row[3].len = (uint32_t)strlen(row[3].v.s);
	row[4].type = FERRY_FLOAT;
	row[4].v.f = -0.0;
	const char *cols[] = {"id", "d", "f", "n", "r"};
	const size_t map[] = {0, 1, 2, 3, 4};
	const ferry_type types[] = {FERRY_INT, FERRY_FLOAT, FERRY_FLOAT, FERRY_NUMERIC, FERRY_FLOAT};
	ferry_write_spec ws = {.table = "e", .ncols = 5, .cols = cols, .types = types, .map = map};
	ferry_writer *w = NULL;
	rejects rj;
	memset(&rj, 0, sizeof(rj));
	OK(E->core->begin(c, &err));
	if (OK(E->write->writer_open(&w, c, &ws, &err))) {
		OK(E->write->writer_write(w, b, on_reject, &rj, &err));
		E->write->writer_close(w);
	}
	OK(E->core->commit(c, &err));
	CHECK_INT(rj.n, 0);
	CHECK_STR(query_text(p, "SELECT group_concat(typeof(d) || ':' || typeof(f) || ':' || "
	                        "quote(n), ' ') FROM e"),
	          "real:real:'-0' text:text:'NaN' real:real:'Infinity' "
	          "real:real:'5e-324' real:real:'0.1' "
	          "text:null:'-123456789012345678901234567890.5'");
	CHECK_STR(query_text(p, "SELECT d FROM e WHERE id = 2"), "NaN");
	/* A REAL column is SQLite's: -0.0 becomes 0 (the pipeline refuses it before). */
	CHECK_STR(query_text(p, "SELECT quote(r) FROM e WHERE id = 6"), "0.0");

	/* Read back: 'NaN' of a float column is NaN again; an expression's text stays text. */
	const char *exprs[] = {"\"d\"", "f", "n", "d || ''"};
	ferry_read_spec rs = {.table = "e", .nexprs = 4, .exprs = exprs};
	ferry_reader *r;
	ferry_batch *rb = ferry__batch_new(4, 16);
	int eof = 0;
	if (OK(E->read->reader_open(&r, c, &rs, &err))) {
		OK(E->read->reader_next(r, rb, &eof, &err));
		if (CHECK_INT(ferry_batch_nrows(rb), 6)) {
			const ferry_value *r0 = ferry_batch_crow(rb, 0), *r1 = ferry_batch_crow(rb, 1),
			                  *r3 = ferry_batch_crow(rb, 3), *r5 = ferry_batch_crow(rb, 5);
			CHECK(r0[0].type == FERRY_FLOAT && r0[0].v.f == 0.0 && signbit(r0[0].v.f));
			CHECK(r0[1].type == FERRY_FLOAT && signbit(r0[1].v.f));
			CHECK(r1[0].type == FERRY_FLOAT && isnan(r1[0].v.f));
			CHECK(r1[1].type == FERRY_FLOAT && isnan(r1[1].v.f));
			CHECK(r1[2].type == FERRY_TEXT && r1[2].len == 3);
			CHECK(r1[3].type == FERRY_TEXT && r1[3].len == 3);
			CHECK(r3[0].type == FERRY_FLOAT && r3[0].v.f == 4.9406564584124654e-324);
			CHECK(r5[0].type == FERRY_FLOAT && isnan(r5[0].v.f));
			CHECK(r5[2].type == FERRY_TEXT && r5[2].len == 33);
		}
		E->read->reader_close(r);
	}
	ferry__batch_free(rb);

	/* SQLite cannot merge decimals kept as text exactly (nor add a 'NaN'): refused. */
	const uint8_t conflict[] = {FERRY_CONFLICT_KEY, FERRY_CONFLICT_MAX, FERRY_CONFLICT_LAST,
	                            FERRY_CONFLICT_MAX, FERRY_CONFLICT_SUM};
	ws.merge = 1;
	ws.conflict = conflict;
	CHECK_INT(E->write->writer_open(&w, c, &ws, &err), FERRY_EUSAGE);
	CHECK_STR(err.msg, "cannot merge column \"n\" of table \"e\" with rule max: SQLite cannot "
	                   "compute it exactly on a column of ferry's exact NUMERIC_TEXT type "
	                   "(declare the column in a target_schema)");
	const uint8_t conflict2[] = {FERRY_CONFLICT_KEY, FERRY_CONFLICT_MAX, FERRY_CONFLICT_LAST,
	                             FERRY_CONFLICT_LAST, FERRY_CONFLICT_SUM};
	ws.conflict = conflict2;
	if (OK(E->write->writer_open(&w, c, &ws, &err)))
		E->write->writer_close(w);
	ferry__batch_free(b);
	E->core->close(c);
}

static int in_list(size_t v, const size_t *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (list[i] == v)
			return 1;
	return 0;
}

static void test_rejects(void)
{
	ferry_err err = {0};
	const char *p = path_of("rejects.db");
	ferry_conn *c = open_db(p, FERRY_CONNECT_CREATE);
	if (!c)
		return;
	OK(E->core->exec(c, "CREATE TABLE r(id INTEGER PRIMARY KEY, name TEXT NOT NULL, code TEXT UNIQUE, "
	              "n INT CHECK (n >= 0))", &err));
	static const size_t nulls[] = {5, 42, 79, 130, 197};     /* NOT NULL name */
	static const size_t dups[] = {21, 100, 150, 199};        /* code of an earlier row */
	static const size_t negs[] = {64};                       /* CHECK */
	char codes[200][16];
	ferry_batch *b = ferry__batch_new(4, 200);
	for (size_t i = 0; i < 200; i++) {
		ferry_value *row = ferry_batch_add_row(b);
		row[0] = v_int((int64_t)i + 1);
		row[1] = in_list(i, nulls, 5) ? v_null() : v_text("name");
		snprintf(codes[i], sizeof(codes[i]), "c%zu", i == 21 ? 20 : in_list(i, dups, 4) ? 10 : i);
		row[2] = v_text(codes[i]);
		row[3] = v_int(in_list(i, negs, 1) ? -1 : (int64_t)i);
	}
	const char *cols[] = {"id", "name", "code", "n"};
	const size_t map[] = {0, 1, 2, 3};
	ferry_write_spec ws = {.table = "r", .ncols = 4, .cols = cols, .map = map};
	ferry_writer *w = NULL;
	rejects rj;
	memset(&rj, 0, sizeof(rj));
	OK(E->core->begin(c, &err));
	if (OK(E->write->writer_open(&w, c, &ws, &err))) {
		OK(E->write->writer_write(w, b, on_reject, &rj, &err));
		E->write->writer_close(w);
	}
	OK(E->core->commit(c, &err));
	if (CHECK_INT(rj.n, 10)) {
		int exact = 1;
		for (size_t i = 0; i < rj.n; i++) {
			size_t row = rj.row[i];
			const char *want = in_list(row, nulls, 5) ? "NOT NULL constraint failed: r.name"
			                 : in_list(row, dups, 4) ? "UNIQUE constraint failed: r.code"
			                 : in_list(row, negs, 1) ? "CHECK constraint failed: n >= 0" : "?";
			if (strcmp(rj.reason[i], want) != 0) {
				fprintf(stderr, "row %zu: %s\n", row, rj.reason[i]);
				exact = 0;
			}
			exact &= i == 0 || rj.row[i] > rj.row[i - 1];
		}
		CHECK(exact);
	}
	CHECK_INT(query_int(p, "SELECT count(*) FROM r"), 190);
	CHECK_INT(query_int(p, "SELECT count(*) FROM r WHERE id IN (6, 22, 65, 101, 200)"), 0);
	CHECK_INT(query_int(p, "SELECT count(*) FROM r WHERE id IN (1, 21, 64, 100, 199)"), 5);

	/* A reject callback that says stop stops the write with its code. */
	ferry__batch_reset(b);
	ferry_value *row = ferry_batch_add_row(b);
	row[0] = v_int(1);
	row[1] = v_text("again");
	row[2] = v_text("zz");
	row[3] = v_int(0);
	if (OK(E->write->writer_open(&w, c, &ws, &err))) {
		CHECK_INT(E->write->writer_write(w, b, NULL, NULL, &err), FERRY_EREJECT);
		E->write->writer_close(w);
	}
	/* Any other failure stops the write, naming the table and the file. */
	OK(E->core->exec(c, "PRAGMA query_only = 1", &err));
	ferry__batch_reset(b);
	row = ferry_batch_add_row(b);
	row[0] = v_int(1000);
	row[1] = v_text("new");
	row[2] = v_text("new");
	row[3] = v_int(0);
	if (OK(E->write->writer_open(&w, c, &ws, &err))) {
		memset(&rj, 0, sizeof(rj));
		CHECK_INT(E->write->writer_write(w, b, on_reject, &rj, &err), FERRY_ERROR);
		char want[700];
		snprintf(want, sizeof(want), "could not write to table \"r\" in \"%s\": attempt to "
		         "write a readonly database", p);
		CHECK_STR(err.msg, want);
		CHECK_INT(rj.n, 0);
		E->write->writer_close(w);
	}
	OK(E->core->exec(c, "PRAGMA query_only = 0", &err));
	/* Writing to a missing column is the caller's mistake. */
	const char *badcols[] = {"id", "nope"};
	ferry_write_spec bad = {.table = "r", .ncols = 2, .cols = badcols, .map = map};
	CHECK_INT(E->write->writer_open(&w, c, &bad, &err), FERRY_EUSAGE);
	CHECK(strstr(err.msg, "no column named nope") != NULL);
	ferry__batch_free(b);
	E->core->close(c);
}

/* Merge one row (k, mn, mx, fi, la, su, er) into m. */
static void merge_row(ferry_conn *c, ferry_writer *w, ferry_batch *b, rejects *rj, int64_t k,
                      const ferry_value *vals)
{
	ferry_err err = {0};
	ferry__batch_reset(b);
	ferry_value *row = ferry_batch_add_row(b);
	row[0] = v_int(k);
	for (int i = 0; i < 6; i++)
		row[i + 1] = vals[i];
	OK(E->core->begin(c, &err));
	OK(E->write->writer_write(w, b, on_reject, rj, &err));
	OK(E->core->commit(c, &err));
}

static void test_merge(void)
{
	ferry_err err = {0};
	const char *p = path_of("merge.db");
	ferry_conn *c = open_db(p, FERRY_CONNECT_CREATE);
	if (!c)
		return;
	OK(E->core->exec(c, "CREATE TABLE m(k INTEGER PRIMARY KEY, mn INT, mx INT, fi TEXT, la TEXT, "
	              "su INT, er TEXT NOT NULL);"
	              "CREATE TABLE m2(k TEXT PRIMARY KEY, v TEXT);"
	              "CREATE TABLE m3(k INT PRIMARY KEY, e TEXT)", &err));
	const char *cols[] = {"k", "mn", "mx", "fi", "la", "su", "er"};
	const size_t map[] = {0, 1, 2, 3, 4, 5, 6};
	const uint8_t rules[] = {FERRY_CONFLICT_KEY, FERRY_CONFLICT_MIN, FERRY_CONFLICT_MAX,
	                         FERRY_CONFLICT_FIRST, FERRY_CONFLICT_LAST, FERRY_CONFLICT_SUM,
	                         FERRY_CONFLICT_ERROR};
	ferry_write_spec ws = {.table = "m", .ncols = 7, .cols = cols, .map = map, .merge = 1,
	                       .conflict = rules};
	ferry_writer *w = NULL;
	if (!OK(E->write->writer_open(&w, c, &ws, &err))) {
		E->core->close(c);
		return;
	}
	ferry_batch *b = ferry__batch_new(7, 4);
	rejects rj;
	memset(&rj, 0, sizeof(rj));
	const char *row_sql = "SELECT mn || ',' || mx || ',' || fi || ',' || la || ',' || su || ',' "
	                      "|| er FROM m WHERE k = 1";
	merge_row(c, w, b, &rj, 1, (ferry_value[]){v_int(5), v_int(5), v_text("a"), v_text("a"),
	                                           v_int(10), v_text("x")});
	CHECK_STR(query_text(p, row_sql), "5,5,a,a,10,x");
	merge_row(c, w, b, &rj, 1, (ferry_value[]){v_int(3), v_int(9), v_text("b"), v_text("b"),
	                                           v_int(5), v_text("x")});
	CHECK_STR(query_text(p, row_sql), "3,9,a,b,15,x");
	merge_row(c, w, b, &rj, 1, (ferry_value[]){v_null(), v_null(), v_text("c"), v_text("c"),
	                                           v_null(), v_text("x")});
	CHECK_STR(query_text(p, row_sql), "3,9,a,c,15,x");
	merge_row(c, w, b, &rj, 1, (ferry_value[]){v_int(4), v_int(8), v_text("d"), v_text("d"),
	                                           v_int(1), v_text("x")});
	CHECK_STR(query_text(p, row_sql), "3,9,a,d,16,x");
	CHECK_INT(rj.n, 0);
	/* A different value under the error rule: rejected, the row untouched. */
	merge_row(c, w, b, &rj, 1, (ferry_value[]){v_int(1), v_int(1), v_text("e"), v_text("e"),
	                                           v_int(1), v_text("y")});
	CHECK_STR(query_text(p, row_sql), "3,9,a,d,16,x");
	if (CHECK_INT(rj.n, 1))
		CHECK_STR(rj.reason[0], "key conflicts with an existing row with a different value in "
		                        "column(s) er (rule error)");
	/* A constraint failure in merge mode is a reject too; a new key is an insert. */
	merge_row(c, w, b, &rj, 2, (ferry_value[]){v_int(1), v_int(1), v_text("e"), v_text("e"),
	                                           v_int(1), v_null()});
	CHECK_INT(rj.n, 2);
	CHECK_STR(rj.reason[1], "NOT NULL constraint failed: m.er");
	merge_row(c, w, b, &rj, 3, (ferry_value[]){v_null(), v_int(1), v_text("f"), v_text("l"),
	                                           v_null(), v_text("z")});
	CHECK_STR(query_text(p, "SELECT typeof(mn) || mx || fi || la || typeof(su) FROM m "
	                        "WHERE k = 3"), "null1flnull");
	CHECK_INT(rj.n, 2);
	E->write->writer_close(w);
	ferry__batch_free(b);

	/* Only first: DO NOTHING, and a conflict is no reject. */
	const char *c2[] = {"k", "v"};
	const uint8_t r2[] = {FERRY_CONFLICT_KEY, FERRY_CONFLICT_FIRST};
	ferry_write_spec w2 = {.table = "m2", .ncols = 2, .cols = c2, .map = map, .merge = 1,
	                       .conflict = r2};
	b = ferry__batch_new(2, 4);
	const char *vals[] = {"one", "two", "three"};
	memset(&rj, 0, sizeof(rj));
	if (OK(E->write->writer_open(&w, c, &w2, &err))) {
		for (int i = 0; i < 3; i++) {
			ferry_value *row = ferry_batch_add_row(b);
			row[0] = v_text("k");
			row[1] = v_text(vals[i]);
		}
		OK(E->write->writer_write(w, b, on_reject, &rj, &err));
		E->write->writer_close(w);
	}
	CHECK_STR(query_text(p, "SELECT v FROM m2"), "one");
	CHECK_INT(rj.n, 0);
	ferry__batch_free(b);

	/* Key and error only (NONE counts as error): equal values pass, others are refused. */
	const uint8_t r3[] = {FERRY_CONFLICT_KEY, FERRY_CONFLICT_NONE};
	const char *c3[] = {"k", "e"};
	ferry_write_spec w3 = {.table = "m3", .ncols = 2, .cols = c3, .map = map, .merge = 1,
	                       .conflict = r3};
	b = ferry__batch_new(2, 4);
	const char *ev[] = {"same", "same", "other"};
	if (OK(E->write->writer_open(&w, c, &w3, &err))) {
		for (int i = 0; i < 3; i++) {
			ferry_value *row = ferry_batch_add_row(b);
			row[0] = v_int(7);
			row[1] = v_text(ev[i]);
		}
		OK(E->write->writer_write(w, b, on_reject, &rj, &err));
		E->write->writer_close(w);
	}
	if (CHECK_INT(rj.n, 1)) {
		CHECK_INT(rj.row[0], 2);
		CHECK_STR(rj.reason[0], "key conflicts with an existing row with a different value in "
		                        "column(s) e (rule error)");
	}
	CHECK_STR(query_text(p, "SELECT e FROM m3"), "same");
	ferry__batch_free(b);
	/* No key column: cannot merge. */
	const uint8_t r4[] = {FERRY_CONFLICT_LAST, FERRY_CONFLICT_LAST};
	w3.conflict = r4;
	CHECK_INT(E->write->writer_open(&w, c, &w3, &err), FERRY_EUSAGE);
	E->core->close(c);
}

/* ---- run state --------------------------------------------------------------------- */

typedef struct loaded {
	size_t n;
	ferry_chunk_rec rec[8];
	char name[8][32];
	uint8_t lo[8][16];
	int stop_at;
} loaded;

static int on_loaded(void *ud, const ferry_chunk_rec *r)
{
	loaded *l = ud;
	if (l->stop_at && (int)l->n == l->stop_at)
		return 42;
	if (l->n < 8) {
		l->rec[l->n] = *r;
		snprintf(l->name[l->n], 32, "%s", r->job_name);
		if (r->lo && r->lo_len <= 16)
			memcpy(l->lo[l->n], r->lo, r->lo_len);
	}
	l->n++;
	return 0;
}

typedef struct rej_list {
	size_t n;
	char line[8][128];
} rej_list;

static int on_rej(void *ud, const char *table, const char *key, const char *reason)
{
	rej_list *l = ud;
	if (l->n < 8)
		snprintf(l->line[l->n], 128, "%s %s %s", table, key ? key : "-", reason);
	l->n++;
	return 0;
}

static void test_state(void)
{
	ferry_err err = {0};
	const char *p = path_of("state.db");
	ferry_conn *c = open_db(p, FERRY_CONNECT_CREATE);
	if (!c)
		return;
	/* Before state_init a target simply has no state. */
	int flag = -1;
	OK(ferry__state_get(E, c, "run1", "schema", &flag, &err));
	CHECK_INT(flag, 0);
	loaded l;
	memset(&l, 0, sizeof(l));
	OK(ferry__state_load(E, c, "run1", on_loaded, &l, &err));
	CHECK_INT(l.n, 0);

	OK(E->core->begin(c, &err));
	OK(ferry__state_init(E, c, &err));
	OK(ferry__state_init(E, c, &err));
	OK(E->core->commit(c, &err));
	static const uint8_t lo1[] = {1, 20};
	ferry_chunk_rec recs[3] = {
		{.job = 1, .chunk = 0, .job_name = "main/a->a", .hi = lo1, .hi_len = 2, .est_rows = 10},
		{.job = 1, .chunk = 1, .job_name = "main/a->a", .lo = lo1, .lo_len = 2, .est_rows = 3},
		{.job = 0, .chunk = 0, .job_name = "main/b->b", .est_rows = 0},
	};
	OK(E->core->begin(c, &err));
	OK(ferry__state_add_chunks(E, c, "run1", recs, 3, &err));
	OK(ferry__state_add_chunks(E, c, "run2", recs, 1, &err));
	OK(E->core->commit(c, &err));
	OK(ferry__state_load(E, c, "run1", on_loaded, &l, &err));
	if (CHECK_INT(l.n, 3)) {
		CHECK(l.rec[0].job == 0 && l.rec[1].job == 1 && l.rec[2].chunk == 1);
		CHECK_STR(l.name[1], "main/a->a");
		CHECK(l.rec[1].lo == NULL && l.rec[1].hi != NULL && l.rec[1].hi_len == 2);
		CHECK(l.rec[2].lo_len == 2 && memcmp(l.lo[2], lo1, 2) == 0 && l.rec[2].hi == NULL);
		CHECK_INT(l.rec[1].est_rows, 10);
		CHECK(!l.rec[1].done);
	}
	/* Done, with counts and rejects, in the chunk's transaction. */
	ferry_chunk_rec d = recs[0];
	d.rows_read = 10;
	d.rows_written = 8;
	d.rows_rejected = 1;
	d.rows_skipped = 1;
	OK(E->core->begin(c, &err));
	OK(ferry__state_reject(E, c, "run1", 1, 0, "a", "[1]", "NOT NULL constraint failed: a.x", &err));
	OK(ferry__state_reject(E, c, "run1", 1, 0, "a", NULL, "second", &err));
	OK(ferry__state_reject(E, c, "run2", 1, 0, "a", "[9]", "other run", &err));
	OK(ferry__state_chunk_done(E, c, "run1", &d, NULL, &err));
	OK(E->core->commit(c, &err));
	/* Exactly once: a second time is refused, as is an unknown chunk. */
	CHECK_INT(ferry__state_chunk_done(E, c, "run1", &d, NULL, &err), FERRY_ECORRUPT);
	d.chunk = 9;
	CHECK_INT(ferry__state_chunk_done(E, c, "run1", &d, NULL, &err), FERRY_ECORRUPT);
	memset(&l, 0, sizeof(l));
	OK(ferry__state_load(E, c, "run1", on_loaded, &l, &err));
	if (CHECK_INT(l.n, 3)) {
		CHECK(l.rec[1].done && !l.rec[2].done);
		CHECK(l.rec[1].rows_read == 10 && l.rec[1].rows_written == 8 &&
		      l.rec[1].rows_rejected == 1 && l.rec[1].rows_skipped == 1);
	}
	CHECK_INT(query_int(p, "SELECT count(*) FROM ferry_progress WHERE done_at LIKE '20%Z'"), 1);
	memset(&l, 0, sizeof(l));
	l.stop_at = 2;
	CHECK_INT(ferry__state_load(E, c, "run1", on_loaded, &l, &err), 42);
	rej_list rl;
	memset(&rl, 0, sizeof(rl));
	OK(ferry__state_rejects(E, c, "run1", on_rej, &rl, &err));
	if (CHECK_INT(rl.n, 2)) {
		CHECK_STR(rl.line[0], "a [1] NOT NULL constraint failed: a.x");
		CHECK_STR(rl.line[1], "a - second");
	}
	OK(ferry__state_get(E, c, "run1", "schema", &flag, &err));
	CHECK_INT(flag, 0);
	OK(ferry__state_set(E, c, "run1", "schema", &err));
	OK(ferry__state_set(E, c, "run1", "schema", &err));
	OK(ferry__state_get(E, c, "run1", "schema", &flag, &err));
	CHECK_INT(flag, 1);
	OK(ferry__state_get(E, c, "run2", "schema", &flag, &err));
	CHECK_INT(flag, 0);
	/* The state tables are not data. */
	ferry_schema *s = ferry__schema_new();
	OK(E->core->introspect(c, s, &err));
	CHECK_INT(ferry_schema_count(s), 0);
	ferry__schema_free(s);
	E->core->close(c);
}

/* Stream positions: none, set, replaced, per (run, source), every uint64 exactly, and only
 * with the transaction that wrote them. */
static void test_positions(void)
{
	ferry_err err = {0};
	const char *p = path_of("positions.db");
	ferry_conn *c = open_db(p, FERRY_CONNECT_CREATE);
	if (!c)
		return;
	uint64_t pos = 7;
	/* Before the tables exist: no position. */
	OK(ferry__state_position_get(E, c, "run1", 0, &pos, &err));
	CHECK(pos == 0);
	OK(E->core->begin(c, &err));
	OK(ferry__state_init(E, c, &err));
	OK(E->core->commit(c, &err));
	OK(ferry__state_position_get(E, c, "run1", 0, &pos, &err));
	CHECK(pos == 0);
	OK(E->core->begin(c, &err));
	OK(ferry__state_position_set(E, c, "run1", 0, 42, &err));
	OK(ferry__state_position_set(E, c, "run1", 1, UINT64_MAX, &err));
	OK(ferry__state_position_set(E, c, "run2", 0, (uint64_t)1 << 63, &err));
	OK(E->core->commit(c, &err));
	OK(E->core->begin(c, &err));
	OK(ferry__state_position_set(E, c, "run1", 0, 43, &err));
	OK(E->core->commit(c, &err));
	OK(ferry__state_position_get(E, c, "run1", 0, &pos, &err));
	CHECK(pos == 43);
	OK(ferry__state_position_get(E, c, "run1", 1, &pos, &err));
	CHECK(pos == UINT64_MAX);
	OK(ferry__state_position_get(E, c, "run2", 0, &pos, &err));
	CHECK(pos == (uint64_t)1 << 63);
	OK(ferry__state_position_get(E, c, "run2", 1, &pos, &err));
	CHECK(pos == 0);
	/* Rolled back with its rows. */
	OK(E->core->begin(c, &err));
	OK(ferry__state_position_set(E, c, "run1", 0, 99, &err));
	OK(E->core->rollback(c, &err));
	OK(ferry__state_position_get(E, c, "run1", 0, &pos, &err));
	CHECK(pos == 43);
	CHECK_INT(ferry__state_position_set(E, c, "run1", 0, 0, &err), FERRY_EUSAGE);
	CHECK_INT(query_int(p, "SELECT count(*) FROM ferry_positions"), 3);
	CHECK_INT(query_int(p, "SELECT count(*) FROM ferry_leases"), 0);
	E->core->close(c);
}

/* A target written by the per-engine state code of earlier versions (its exact DDL) still
 * resumes: its chunks, flags and rejects read back, and chunks recorded now land beside. */
static void test_state_legacy(void)
{
	ferry_err err = {0};
	const char *p = path_of("legacy-state.db");
	sql_on(p,
	       "CREATE TABLE ferry_runs(run_id TEXT NOT NULL, flag TEXT NOT NULL, "
	       "set_at TEXT NOT NULL, PRIMARY KEY(run_id, flag));"
	       "CREATE TABLE ferry_progress(run_id TEXT NOT NULL, job INTEGER NOT NULL, "
	       "chunk INTEGER NOT NULL, job_name TEXT NOT NULL, lo BLOB, hi BLOB, "
	       "est_rows INTEGER NOT NULL, done INTEGER NOT NULL DEFAULT 0, "
	       "rows_read INTEGER NOT NULL DEFAULT 0, rows_written INTEGER NOT NULL DEFAULT 0, "
	       "rows_rejected INTEGER NOT NULL DEFAULT 0, rows_skipped INTEGER NOT NULL DEFAULT 0, "
	       "done_at TEXT, PRIMARY KEY(run_id, job, chunk));"
	       "CREATE TABLE ferry_rejects(run_id TEXT NOT NULL, job INTEGER NOT NULL, "
	       "chunk INTEGER NOT NULL, table_name TEXT NOT NULL, row_key TEXT, reason TEXT NOT NULL);"
	       "INSERT INTO ferry_runs VALUES ('r', 'schema', '2026-01-01T00:00:00Z');"
	       "INSERT INTO ferry_progress(run_id, job, chunk, job_name, hi, est_rows, done, rows_read, "
	       "rows_written) VALUES ('r', 0, 0, 'main/a->a', x'0114', 5, 1, 5, 5);"
	       "INSERT INTO ferry_progress(run_id, job, chunk, job_name, lo, est_rows) "
	       "VALUES ('r', 0, 1, 'main/a->a', x'0114', 3);"
	       "INSERT INTO ferry_rejects VALUES ('r', 0, 0, 'a', '{\"id\":1}', 'first');"
	       "INSERT INTO ferry_rejects VALUES ('r', 0, 0, 'a', NULL, 'second');");
	ferry_conn *c = open_db(p, 0);
	if (!c)
		return;
	OK(E->core->begin(c, &err));
	OK(ferry__state_init(E, c, &err));
	OK(E->core->commit(c, &err));
	int flag = 0;
	OK(ferry__state_get(E, c, "r", "schema", &flag, &err));
	CHECK_INT(flag, 1);
	loaded l;
	memset(&l, 0, sizeof(l));
	OK(ferry__state_load(E, c, "r", on_loaded, &l, &err));
	if (CHECK_INT(l.n, 2)) {
		CHECK(l.rec[0].done && l.rec[0].rows_written == 5 && l.rec[0].hi_len == 2);
		CHECK(!l.rec[1].done && l.rec[1].lo_len == 2 && memcmp(l.lo[1], "\x01\x14", 2) == 0);
	}
	ferry_chunk_rec d = {.job = 0, .chunk = 1, .done = 1, .rows_read = 3, .rows_written = 3};
	OK(E->core->begin(c, &err));
	OK(ferry__state_reject(E, c, "r", 0, 1, "a", NULL, "third", &err));
	OK(ferry__state_chunk_done(E, c, "r", &d, NULL, &err));
	ferry_chunk_rec more = {.job = 1, .chunk = 0, .job_name = "main/b->b", .table = "b", .est_rows = 1};
	OK(ferry__state_add_chunks(E, c, "r", &more, 1, &err));
	OK(E->core->commit(c, &err));
	rej_list rl;
	memset(&rl, 0, sizeof(rl));
	OK(ferry__state_rejects(E, c, "r", on_rej, &rl, &err));
	if (CHECK_INT(rl.n, 3)) {
		CHECK_STR(rl.line[0], "a {\"id\":1} first");
		CHECK_STR(rl.line[2], "a - third");
	}
	CHECK_INT(query_int(p, "SELECT count(*) FROM ferry_progress WHERE target = 'b'"), 1);
	E->core->close(c);
}

/* ---- snapshots, foreign keys, durability ------------------------------------------- */

static void test_snapshot(void)
{
	ferry_err err = {0};
	const char *tok = NULL;
	/* Rollback journal: our SHARED lock holds writers off. */
	const char *p = path_of("snap.db");
	sql_on(p, "CREATE TABLE t(a); INSERT INTO t VALUES (1), (2);");
	ferry_conn *c = open_db(p, FERRY_CONNECT_READONLY), *r = open_db(p, FERRY_CONNECT_READONLY);
	if (!c || !r)
		return;
	OK(E->read->snapshot_export(c, &tok, &err));
	CHECK_STR(tok, "shared");
	OK(E->read->snapshot_join(r, tok, &err));
	sqlite3 *db;
	sqlite3_open(p, &db);
	CHECK(sqlite3_exec(db, "INSERT INTO t VALUES (3)", NULL, NULL, NULL) == SQLITE_BUSY);
	int64_t n = 0;
	OK(E->write->table_rows(r, "t", &n, &err));
	CHECK_INT(n, 2);
	CHECK_INT(E->read->snapshot_join(r, "bogus", &err), FERRY_EUSAGE);
	E->core->close(r);
	E->core->close(c);
	CHECK(sqlite3_exec(db, "INSERT INTO t VALUES (3)", NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(db);

	/* WAL: a second connection holds the write lock for the run. */
	p = path_of("snapwal.db");
	sql_on(p, "PRAGMA journal_mode=WAL; CREATE TABLE t(a); INSERT INTO t VALUES (1), (2);");
	c = open_db(p, FERRY_CONNECT_READONLY);
	if (!c)
		return;
	OK(E->read->snapshot_export(c, &tok, &err));
	CHECK_STR(tok, "locked");
	sqlite3_open(p, &db);
	CHECK(sqlite3_exec(db, "INSERT INTO t VALUES (3)", NULL, NULL, NULL) == SQLITE_BUSY);
	r = open_db(p, FERRY_CONNECT_READONLY);
	if (r) {
		OK(E->read->snapshot_join(r, tok, &err));
		OK(E->write->table_rows(r, "t", &n, &err));
		CHECK_INT(n, 2);
		E->core->close(r);
	}
	E->core->close(c);
	CHECK(sqlite3_exec(db, "INSERT INTO t VALUES (3)", NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(db);

	/* A second writer already holding the lock: one reader only. */
	sqlite3_open(p, &db);
	sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	c = open_db(p, FERRY_CONNECT_READONLY);
	if (c) {
		OK(E->read->snapshot_export(c, &tok, &err));
		CHECK(tok == NULL); /* no other connection can share the state: one reader */
		E->core->close(c);
	}
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(db);
	/* An in-memory database read is new and empty: refused, not read as a database
	 * without tables. */
	c = NULL;
	CHECK_INT(E->core->connect(&c, ":memory:", FERRY_CONNECT_READONLY, &err), FERRY_EUSAGE);
	CHECK(c == NULL);
	CHECK(strstr(err.msg, "an in-memory database is new and empty") != NULL);
}

static void test_fk_check(void)
{
	ferry_err err = {0};
	const char *p = path_of("fk.db");
	ferry_conn *c = open_db(p, FERRY_CONNECT_CREATE);
	if (!c)
		return;
	/* Foreign keys are off during the load: the dangling rows get in and are counted. */
	OK(E->core->exec(c, "CREATE TABLE p(id INTEGER PRIMARY KEY);"
	              "CREATE TABLE \"my child\"(x INT REFERENCES p(id), y INT REFERENCES p);"
	              "INSERT INTO p VALUES (1);"
	              "INSERT INTO \"my child\" VALUES (1, 1), (2, 1), (1, 3), (NULL, NULL)", &err));
	int64_t n = -1;
	OK(E->write->fk_check(c, "my child", &n, &err));
	CHECK_INT(n, 2);
	OK(E->write->fk_check(c, "p", &n, &err));
	CHECK_INT(n, 0);
	E->core->close(c);
}

/* A committed transaction survives kill -9 of the writing process. */
static void test_durability(void)
{
	const char *p = path_of("durable.db");
	pid_t pid = fork();
	if (pid == 0) {
		ferry_err err = {0};
		ferry_conn *c = NULL;
		if (E->core->connect(&c, p, FERRY_CONNECT_CREATE, &err) != 0)
			_exit(2);
		E->core->exec(c, "CREATE TABLE t(a)", &err);
		E->core->begin(c, &err);
		E->core->exec(c, "INSERT INTO t VALUES (1), (2), (3)", &err);
		E->core->commit(c, &err);
		E->core->begin(c, &err);
		E->core->exec(c, "INSERT INTO t VALUES (4)", &err); /* never committed */
		raise(SIGKILL);
		_exit(3);
	}
	int status = 0;
	waitpid(pid, &status, 0);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	CHECK_INT(query_int(p, "SELECT count(*) FROM t"), 3);
}

static void remove_dir(void)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/ferry-sqlite-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_connect();
	test_quote();
	test_introspect();
	test_chunks();
	test_chunks_range();
	test_reader();
	test_values();
	test_exact_types();
	test_rejects();
	test_merge();
	test_state();
	test_positions();
	test_state_legacy();
	test_snapshot();
	test_fk_check();
	test_durability();
	if (check_failed == 0)
		remove_dir();
	else
		fprintf(stderr, "files kept in %s\n", dir);
	return check_summary();
}
