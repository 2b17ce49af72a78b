/* test_sqlite_capture.c — the SQLite engine's change capture (ferry sync): what the triggers
 * log for each kind of write of an application connection (REPLACE evictions among them),
 * positions, ack and trim across a reopen, the refusals, damage and DDL detection, markers,
 * teardown, the both-ways touch, writes of another process and an application writer never
 * blocked. */
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "ferry_int.h"
#include "check.h"

static const ferry_engine *E = &ferry__sqlite_engine;
static const ferry_engine_capture *C;
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

/* The application: a plain connection of its own, in WAL mode. */
static sqlite3 *app_open(const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_open(path, &db);
	sqlite3_busy_timeout(db, 5000);
	sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
	return db;
}

#define APP(db, sql) app_sql((db), (sql), __FILE__, __LINE__)
static int app_sql(sqlite3 *db, const char *sql, const char *file, int line)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		fprintf(stderr, "%s:%d: application sql failed: %s\n  %s\n", file, line, msg, sql);
		check_failed++;
	}
	sqlite3_free(msg);
	return rc;
}

static long long query_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	long long v = -1;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void hex_of(const char *run_id, char hex[17])
{
	snprintf(hex, 17, "%016llx", (unsigned long long)ferry__hash64(run_id, strlen(run_id), 0));
}

/* A key as text: i1, t'abc', b'00ff', f1.5, n (NULL), comma-separated. */
static void key_text(char *out, size_t cap, const ferry_value *k, size_t n)
{
	size_t len = 0;
	out[0] = '\0';
	for (size_t i = 0; k && i < n && len < cap; i++) {
		const ferry_value *v = &k[i];
		const char *sep = i ? "," : "";
		switch (v->type) {
		case FERRY_INT:
			len += (size_t)snprintf(out + len, cap - len, "%si%lld", sep, (long long)v->v.i);
			break;
		case FERRY_FLOAT:
			len += (size_t)snprintf(out + len, cap - len, "%sf%g", sep, v->v.f);
			break;
		case FERRY_TEXT:
			len += (size_t)snprintf(out + len, cap - len, "%st'%.*s'", sep, (int)v->len, v->v.s);
			break;
		case FERRY_BLOB:
			len += (size_t)snprintf(out + len, cap - len, "%sb'", sep);
			for (uint32_t j = 0; j < v->len && len < cap; j++)
				len += (size_t)snprintf(out + len, cap - len, "%02x", v->v.b[j]);
			len += (size_t)snprintf(out + len, cap - len, "'");
			break;
		default:
			len += (size_t)snprintf(out + len, cap - len, "%sn", sep);
			break;
		}
	}
}

static const size_t *g_nkeys; /* key count of each captured table of the current test */

/* A change as one line: "<table> I >new", "<table> U old>new" (old empty when the key did
 * not change), "<table> D old>", "M text". */
static void change_text(char *out, size_t cap, const ferry_change *ch)
{
	if (ch->op == FERRY_CHANGE_MARKER) {
		snprintf(out, cap, "M %s", ch->marker ? ch->marker : "(null)");
		return;
	}
	char o[256], n[256];
	size_t nk = g_nkeys[ch->table];
	key_text(o, sizeof(o), ch->old_key, nk);
	key_text(n, sizeof(n), ch->new_key, nk);
	static const char ops[] = "?IUDTM";
	snprintf(out, cap, "%zu %c %s>%s", ch->table, ops[ch->op <= 5 ? ch->op : 0], o, n);
}

/* Everything the capture has now, as lines joined by "; ", checking that positions
 * strictly increase from *last (updated), and that every change has txn_end and a time. */
static const char *drain(ferry_capture *cap, uint64_t *last)
{
	static char out[8192];
	ferry_change ch[7];
	ferry_err err = {0};
	size_t len = 0;
	out[0] = '\0';
	for (;;) {
		size_t n = 0;
		if (!OK(C->next(cap, ch, FERRY_ARRAY_LEN(ch), &n, 0, &err)) || n == 0)
			break;
		for (size_t i = 0; i < n; i++) {
			char line[600];
			change_text(line, sizeof(line), &ch[i]);
			len += (size_t)snprintf(out + len, sizeof(out) - len, "%s%s", len ? "; " : "", line);
			CHECK(ch[i].pos > *last);
			*last = ch[i].pos;
			CHECK_INT(ch[i].txn_end, 1);
			CHECK(ch[i].commit_us > 1700000000000000LL);
		}
	}
	return out;
}

static ferry_conn *ferry_open(const char *path)
{
	ferry_conn *c = NULL;
	ferry_err err = {0};
	OK(E->core->connect(&c, path, 0, &err));
	return c;
}

/* ---- what is logged ---------------------------------------------------------------- */

static const char *const keys_t[] = {"id"};
static const char *const keys_c[] = {"a", "b", "r"};
static const char *const keys_s[] = {"k"};
static const char *const keys_e[] = {"id"};

static void test_writes(void)
{
	const char *path = path_of("writes.db");
	sqlite3 *app = app_open(path);
	APP(app, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT, u TEXT UNIQUE);"
	         "CREATE TABLE \"we\"\"ird.c\"(a TEXT, b BLOB, r REAL, v, PRIMARY KEY(a, b, r)) WITHOUT ROWID;"
	         "CREATE TABLE s(k TEXT PRIMARY KEY, v TEXT COLLATE NOCASE);"
	         "CREATE UNIQUE INDEX s_v ON s(v);"
	         "CREATE TABLE e(id INTEGER PRIMARY KEY, email TEXT, code INTEGER);"
	         "CREATE UNIQUE INDEX e_lower ON e(lower(email) DESC) /* case-blind */;"
	         "CREATE UNIQUE INDEX e_code ON e(code) WHERE code > 0;"
	         "INSERT INTO t VALUES (1000, 'before', 'b');");
	ferry_capture_table tables[] = {
		{"t", 1, keys_t}, {"we\"ird.c", 3, keys_c}, {"s", 1, keys_s}, {"e", 1, keys_e}};
	static const size_t nkeys[] = {1, 3, 1, 1};
	g_nkeys = nkeys;
	ferry_conn *c = ferry_open(path);
	ferry_capture *cap = NULL;
	ferry_err err = {0};
	if (!c || !OK(C->setup(&cap, c, path, "run-writes", tables, 4, &err)))
		goto out;
	/* What the capture installed is not the application's: introspection leaves it out. */
	ferry_schema *sch = ferry__schema_new();
	if (sch && OK(E->core->introspect(c, sch, &err))) {
		CHECK_INT(ferry_schema_count(sch), 4);
		for (size_t i = 0; i < ferry_schema_count(sch); i++)
			CHECK(strncmp(ferry_schema_table(sch, i)->name, "ferry", 5) != 0);
	}
	ferry__schema_free(sch);
	uint64_t pos = 99;
	CHECK(C->snapshot(cap, &pos) == NULL);
	CHECK_INT(pos, 0);
	OK(C->start(cap, 0, &err));
	uint64_t last = 0;
	CHECK_STR(drain(cap, &last), "");

	/* Inserts, updates, deletes, a key update. */
	APP(app, "INSERT INTO t VALUES (1, 'a', 'u1')");
	APP(app, "UPDATE t SET v = 'b' WHERE id = 1");
	APP(app, "UPDATE t SET id = 2 WHERE id = 1");
	APP(app, "DELETE FROM t WHERE id = 2");
	CHECK_STR(drain(cap, &last), "0 I >i1; 0 U >i1; 0 U i1>i2; 0 D i2>");

	/* Composite keys of every storage class keep it exactly. */
	APP(app, "INSERT INTO \"we\"\"ird.c\" VALUES ('x', x'00ff', 1.5, 1)");
	APP(app, "UPDATE \"we\"\"ird.c\" SET r = -2.25 WHERE a = 'x'");
	APP(app, "UPDATE \"we\"\"ird.c\" SET v = 2");
	APP(app, "DELETE FROM \"we\"\"ird.c\"");
	CHECK_STR(drain(cap, &last),
	          "1 I >t'x',b'00ff',f1.5; 1 U t'x',b'00ff',f1.5>t'x',b'00ff',f-2.25; "
	          "1 U >t'x',b'00ff',f-2.25; 1 D t'x',b'00ff',f-2.25>");

	/* INSERT OR REPLACE evicting through the primary key (the rowid) and through a UNIQUE
	 * constraint: the evicted rows are logged as deletes before the insert. */
	APP(app, "INSERT INTO t VALUES (3, 'c', 'u3')");
	APP(app, "INSERT INTO t VALUES (4, 'e', 'u4')");
	CHECK_STR(drain(cap, &last), "0 I >i3; 0 I >i4");
	APP(app, "INSERT OR REPLACE INTO t VALUES (3, 'd', 'u9')");
	CHECK_STR(drain(cap, &last), "0 D i3>; 0 I >i3");
	APP(app, "REPLACE INTO t VALUES (5, 'f', 'u4')");
	CHECK_STR(drain(cap, &last), "0 D i4>; 0 I >i5");
	CHECK_INT(query_int(app, "SELECT count(*) FROM t WHERE id = 4"), 0);

	/* UPDATE OR REPLACE evicting row 3 through u. */
	APP(app, "UPDATE OR REPLACE t SET u = 'u9' WHERE id = 5");
	CHECK_STR(drain(cap, &last), "0 D i3>; 0 U >i5");
	/* A key update by REPLACE onto an existing key. */
	APP(app, "INSERT INTO t VALUES (6, 'g', 'u6')");
	APP(app, "UPDATE OR REPLACE t SET id = 6 WHERE id = 5");
	CHECK_STR(drain(cap, &last), "0 I >i6; 0 D i6>; 0 U i5>i6");

	/* An upsert and INSERT OR IGNORE: the row that stays is logged as a (spurious) delete,
	 * harmless because the apply re-reads it. */
	APP(app, "INSERT INTO t VALUES (6, 'h', 'zz') ON CONFLICT(id) DO UPDATE SET v = excluded.v");
	CHECK_STR(drain(cap, &last), "0 D i6>; 0 U >i6");
	APP(app, "INSERT OR IGNORE INTO t VALUES (6, 'i', 'yy')");
	CHECK_STR(drain(cap, &last), "0 D i6>");
	/* A plain INSERT that fails logs nothing: its statement is rolled back with the log. */
	CHECK(sqlite3_exec(app, "INSERT INTO t VALUES (6, 'j', 'xx')", NULL, NULL, NULL) != SQLITE_OK);
	CHECK_STR(drain(cap, &last), "");

	/* A rolled-back transaction logs nothing. */
	APP(app, "BEGIN; INSERT INTO t VALUES (100, 'x', 'x100'); DELETE FROM t WHERE id = 6; ROLLBACK");
	CHECK_STR(drain(cap, &last), "");
	/* A transaction's changes come in order, each its own. */
	APP(app, "BEGIN; INSERT INTO t VALUES (7, 'x', 'x7'); DELETE FROM t WHERE id = 7; COMMIT");
	CHECK_STR(drain(cap, &last), "0 I >i7; 0 D i7>");

	/* Text keys; a REPLACE through a unique index with its own collation (NOCASE). */
	APP(app, "INSERT INTO s VALUES ('k1', 'Vee')");
	APP(app, "INSERT OR REPLACE INTO s VALUES ('k2', 'vEE')");
	CHECK_STR(drain(cap, &last), "2 I >t'k1'; 2 D t'k1'>; 2 I >t'k2'");
	CHECK_INT(query_int(app, "SELECT count(*) FROM s"), 1);

	/* Through an expression index and a partial index. */
	APP(app, "INSERT INTO e VALUES (1, 'A@x.org', 5), (2, 'b@x.org', 0), (3, 'c@x.org', NULL)");
	CHECK_STR(drain(cap, &last), "3 I >i1; 3 I >i2; 3 I >i3");
	APP(app, "INSERT OR REPLACE INTO e VALUES (4, 'a@X.ORG', 6)");
	CHECK_STR(drain(cap, &last), "3 D i1>; 3 I >i4");
	APP(app, "INSERT OR REPLACE INTO e VALUES (5, 'd@x.org', 6)");
	CHECK_STR(drain(cap, &last), "3 D i4>; 3 I >i5");
	/* code 0 is outside the partial index: no clash, nothing evicted. */
	APP(app, "INSERT OR REPLACE INTO e VALUES (6, 'e@x.org', 0)");
	CHECK_STR(drain(cap, &last), "3 I >i6");
	CHECK_INT(query_int(app, "SELECT count(*) FROM e"), 4);

	/* With recursive triggers on, REPLACE's delete also fires the delete trigger: logged
	 * twice, still harmless. */
	APP(app, "PRAGMA recursive_triggers = ON; REPLACE INTO t VALUES (6, 'k', 'zz')");
	CHECK_STR(drain(cap, &last), "0 D i6>; 0 D i6>; 0 I >i6");
	APP(app, "PRAGMA recursive_triggers = OFF");

	/* The application's own view of its writes is unchanged by the triggers' inserts. */
	APP(app, "INSERT INTO t(v, u) VALUES ('auto', 'auto')");
	CHECK_INT(sqlite3_last_insert_rowid(app), 1001);
	CHECK_INT(sqlite3_changes(app), 1);
	CHECK_STR(drain(cap, &last), "0 I >i1001");
	APP(app, "DELETE FROM t WHERE id = 1001");
	CHECK_INT(sqlite3_changes(app), 1);
	CHECK_STR(drain(cap, &last), "0 D i1001>");
	/* Nothing of the log is visible to the application's queries of its tables. */
	CHECK_INT(query_int(app, "SELECT count(*) FROM t"), 2);
out:
	C->close(cap);
	if (c)
		E->core->close(c);
	sqlite3_close(app);
}

/* ---- positions: ack, trim, reopen -------------------------------------------------- */

static void test_resume(void)
{
	const char *path = path_of("resume.db");
	sqlite3 *app = app_open(path);
	APP(app, "CREATE TABLE t(id INTEGER PRIMARY KEY, v)");
	ferry_capture_table tables[] = {{"t", 1, keys_t}};
	static const size_t nkeys[] = {1};
	g_nkeys = nkeys;
	char hex[17], sql[200];
	hex_of("run-resume", hex);
	ferry_conn *c = ferry_open(path);
	ferry_capture *cap = NULL;
	ferry_err err = {0};
	if (!c || !OK(C->setup(&cap, c, path, "run-resume", tables, 1, &err)))
		goto out;
	OK(C->start(cap, 0, &err));
	for (int i = 1; i <= 10; i++) {
		snprintf(sql, sizeof(sql), "INSERT INTO t VALUES (%d, 'x')", i);
		APP(app, sql);
	}
	ferry_change ch[20];
	size_t n = 0;
	OK(C->next(cap, ch, 20, &n, 1000, &err));
	CHECK_INT(n, 10);
	uint64_t p[11] = {0};
	for (size_t i = 0; i < n && i < 10; i++)
		p[i + 1] = ch[i].pos;
	/* Acknowledged up to the 5th: trimmed at once (the first trim), kept in the record. */
	OK(C->ack(cap, p[5], &err));
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM \"ferry_changes_%s\"", hex);
	CHECK_INT(query_int(app, sql), 5);
	CHECK_INT(query_int(app, "SELECT acked FROM ferry_capture WHERE tbl = -1"), (long long)p[5]);
	C->close(cap);
	cap = NULL;

	/* Reopened: the same run, the same tables. The snapshot position is where the log now
	 * starts; starting there delivers exactly the rest. */
	if (!OK(C->setup(&cap, c, path, "run-resume", tables, 1, &err)))
		goto out;
	uint64_t pos = 0;
	CHECK(C->snapshot(cap, &pos) == NULL);
	CHECK_INT(pos, p[5]);
	CHECK_INT(C->start(cap, p[3], &err), FERRY_ECORRUPT);
	CHECK_HAS(err.msg, "was trimmed up to");
	OK(C->start(cap, p[5], &err));
	uint64_t last = p[5];
	CHECK_STR(drain(cap, &last), "0 I >i6; 0 I >i7; 0 I >i8; 0 I >i9; 0 I >i10");
	/* Everything acknowledged: close trims all but the highest row, so the sequence goes
	 * on from there and never reuses a position. */
	OK(C->ack(cap, p[10], &err));
	C->close(cap);
	cap = NULL;
	CHECK_INT(query_int(app, sql), 1);
	APP(app, "INSERT INTO t VALUES (11, 'x')");
	if (!OK(C->setup(&cap, c, path, "run-resume", tables, 1, &err)))
		goto out;
	OK(C->start(cap, p[10], &err));
	last = p[10];
	CHECK_STR(drain(cap, &last), "0 I >i11");
	CHECK(last > p[10]);
	/* A position past the log's end (a log installed again) is refused. */
	CHECK_INT(C->start(cap, last + 100, &err), FERRY_ECORRUPT);
	CHECK_HAS(err.msg, "the change log ends at");
	C->close(cap);
	cap = NULL;

	/* The same run with other tables is refused. */
	APP(app, "CREATE TABLE u(id INTEGER PRIMARY KEY)");
	ferry_capture_table other[] = {{"t", 1, keys_t}, {"u", 1, keys_t}};
	CHECK_INT(C->setup(&cap, c, path, "run-resume", other, 2, &err), FERRY_EUSAGE);
	CHECK(cap == NULL);
	CHECK_HAS(err.msg, "was installed for other tables");

	/* The log's rows deleted by hand: the reopen says the changes are lost. */
	snprintf(sql, sizeof(sql), "DELETE FROM \"ferry_changes_%s\"", hex);
	APP(app, sql);
	CHECK_INT(C->setup(&cap, c, path, "run-resume", tables, 1, &err), FERRY_ECORRUPT);
	CHECK_HAS(err.msg, "are lost");
out:
	C->close(cap);
	OK(C->teardown(c, path, "run-resume", &err));
	if (c)
		E->core->close(c);
	sqlite3_close(app);
}

/* A backlog is trimmed a few batches per ack, and the rest at the next ack, not later. */
static void test_trim_backlog(void)
{
	const char *path = path_of("backlog.db");
	sqlite3 *app = app_open(path);
	APP(app, "CREATE TABLE t(id INTEGER PRIMARY KEY, v)");
	ferry_capture_table tables[] = {{"t", 1, keys_t}};
	char hex[17], sql[200];
	hex_of("run-backlog", hex);
	ferry_conn *c = ferry_open(path);
	ferry_capture *cap = NULL;
	ferry_err err = {0};
	if (!c || !OK(C->setup(&cap, c, path, "run-backlog", tables, 1, &err)) ||
	    !OK(C->start(cap, 0, &err)))
		goto out;
	APP(app, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000) "
	         "INSERT INTO t SELECT i, 'x' FROM n");
	ferry_change ch[512];
	size_t n = 0, total = 0;
	uint64_t last = 0;
	do {
		if (!OK(C->next(cap, ch, 512, &n, 0, &err)))
			break;
		total += n;
		if (n)
			last = ch[n - 1].pos;
	} while (n);
	CHECK_INT(total, 10000);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM \"ferry_changes_%s\"", hex);
	OK(C->ack(cap, last, &err));
	CHECK_INT(query_int(app, sql), 2000);
	CHECK_INT(query_int(app, "SELECT acked FROM ferry_capture WHERE tbl = -1"), 8000);
	OK(C->ack(cap, last, &err));
	CHECK_INT(query_int(app, sql), 1);
	CHECK_INT(query_int(app, "SELECT acked FROM ferry_capture WHERE tbl = -1"), (long long)last);
out:
	C->close(cap);
	if (c) {
		OK(C->teardown(c, path, "run-backlog", &err));
		E->core->close(c);
	}
	sqlite3_close(app);
}

/* ---- refusals, damage and DDL ------------------------------------------------------ */

static void test_refusals(void)
{
	const char *path = path_of("refuse.db");
	sqlite3 *app = app_open(path);
	APP(app, "CREATE TABLE nopk(a, b); CREATE TABLE t(id INTEGER PRIMARY KEY, v)");
	ferry_conn *c = ferry_open(path);
	ferry_capture *cap = NULL;
	ferry_err err = {0};
	char want[1024];

	static const char *const keys_a[] = {"a"};
	ferry_capture_table rowid_only[] = {{"t", 1, keys_t}, {"nopk", 1, keys_a}};
	CHECK_INT(C->setup(&cap, c, path, "run-refuse", rowid_only, 2, &err), FERRY_EUSAGE);
	snprintf(want, sizeof(want),
	         "cannot capture changes of table \"nopk\" in \"%s\": it has no primary key, and its "
	         "rowids may change (VACUUM renumbers them); give the table a primary key (an "
	         "INTEGER PRIMARY KEY column keeps its rowids)", path);
	CHECK_STR(err.msg, want);
	CHECK(cap == NULL);
	/* Nothing was left of the refused install. */
	CHECK_INT(query_int(app, "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'ferry%'"), 0);

	const char *many[33];
	for (int i = 0; i < 33; i++)
		many[i] = "id";
	ferry_capture_table wide[] = {{"t", 33, many}};
	CHECK_INT(C->setup(&cap, c, path, "run-refuse", wide, 1, &err), FERRY_EUSAGE);
	CHECK_HAS(err.msg, "its key has 33 columns, more than the 32 the change log holds");

	static const char *const keys_x[] = {"nope"};
	ferry_capture_table badkey[] = {{"t", 1, keys_x}};
	CHECK_INT(C->setup(&cap, c, path, "run-refuse", badkey, 1, &err), FERRY_ENOTFOUND);
	CHECK_HAS(err.msg, "it has no key column \"nope\"");
	ferry_capture_table missing[] = {{"gone", 1, keys_t}};
	CHECK_INT(C->setup(&cap, c, path, "run-refuse", missing, 1, &err), FERRY_ENOTFOUND);
	CHECK_HAS(err.msg, "\"gone\"");

	ferry_conn *mem = NULL;
	if (OK(E->core->connect(&mem, ":memory:", 0, &err))) {
		ferry_capture_table one[] = {{"t", 1, keys_t}};
		CHECK_INT(C->setup(&cap, mem, ":memory:", "run-refuse", one, 1, &err), FERRY_EUSAGE);
		CHECK_HAS(err.msg, "only a database file on disk");
		E->core->close(mem);
	}
	CHECK_INT(query_int(app, "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'ferry%'"), 0);
	if (c)
		E->core->close(c);
	sqlite3_close(app);
}

static void test_damage(void)
{
	const char *path = path_of("damage.db");
	sqlite3 *app = app_open(path);
	APP(app, "CREATE TABLE t(id INTEGER PRIMARY KEY, v); CREATE TABLE \"o t\"(id INTEGER PRIMARY KEY, v)");
	ferry_capture_table tables[] = {{"t", 1, keys_t}, {"o t", 1, keys_t}};
	static const size_t nkeys[] = {1, 1};
	g_nkeys = nkeys;
	char hex[17], sql[300];
	hex_of("run-damage", hex);
	ferry_conn *c = ferry_open(path);
	ferry_capture *cap = NULL;
	ferry_err err = {0};
	size_t n = 0;
	ferry_change ch[4];

	/* DDL on a captured table stops the stream, naming the table. */
	if (!OK(C->setup(&cap, c, path, "run-damage", tables, 2, &err)) || !OK(C->start(cap, 0, &err)))
		goto out;
	APP(app, "ALTER TABLE \"o t\" ADD COLUMN w");
	CHECK_INT(C->next(cap, ch, 4, &n, 100, &err), FERRY_ERROR);
	CHECK_HAS(err.msg, "table \"o t\" in \"");
	CHECK_HAS(err.msg, "was changed (ALTER TABLE, DROP or a new unique index)");
	C->close(cap);
	cap = NULL;
	OK(C->teardown(c, path, "run-damage", &err));

	/* So does a new unique index (a REPLACE could evict through it unseen); an ordinary
	 * index does not. */
	if (!OK(C->setup(&cap, c, path, "run-damage", tables, 2, &err)) || !OK(C->start(cap, 0, &err)))
		goto out;
	APP(app, "CREATE INDEX t_v ON t(v); INSERT INTO t VALUES (1, 1)");
	OK(C->next(cap, ch, 4, &n, 1000, &err));
	CHECK_INT(n, 1);
	APP(app, "CREATE UNIQUE INDEX t_vu ON t(v)");
	CHECK_INT(C->next(cap, ch, 4, &n, 100, &err), FERRY_ERROR);
	CHECK_HAS(err.msg, "table \"t\" in \"");
	C->close(cap);
	cap = NULL;
	OK(C->teardown(c, path, "run-damage", &err));
	APP(app, "DROP INDEX t_vu");

	/* A trigger dropped under the stream: changes are lost, and the message says so. */
	if (!OK(C->setup(&cap, c, path, "run-damage", tables, 2, &err)) || !OK(C->start(cap, 0, &err)))
		goto out;
	snprintf(sql, sizeof(sql), "DROP TRIGGER \"ferry_%s_1_del\"", hex);
	APP(app, sql);
	CHECK_INT(C->next(cap, ch, 4, &n, 100, &err), FERRY_ECORRUPT);
	CHECK_HAS(err.msg, "is damaged: trigger \"ferry_");
	CHECK_HAS(err.msg, "_1_del\" of table \"o t\" is gone, so changes made since were not captured and are lost");
	C->close(cap);
	cap = NULL;
	/* ... and the reopen of the run refuses it too. */
	CHECK_INT(C->setup(&cap, c, path, "run-damage", tables, 2, &err), FERRY_ECORRUPT);
	CHECK_HAS(err.msg, "is gone");
	OK(C->teardown(c, path, "run-damage", &err));

	/* The log dropped (a hand-made cleanup): found on reopen. */
	if (!OK(C->setup(&cap, c, path, "run-damage", tables, 2, &err)))
		goto out;
	C->close(cap);
	cap = NULL;
	snprintf(sql, sizeof(sql), "DROP TABLE \"ferry_changes_%s\"", hex);
	APP(app, sql);
	CHECK_INT(C->setup(&cap, c, path, "run-damage", tables, 2, &err), FERRY_ECORRUPT);
	CHECK_HAS(err.msg, "its change log \"ferry_changes_");
	CHECK_HAS(err.msg, "ferry sync --finish");
out:
	C->close(cap);
	OK(C->teardown(c, path, "run-damage", &err));
	CHECK_INT(query_int(app, "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'ferry%'"), 0);
	if (c)
		E->core->close(c);
	sqlite3_close(app);
}

/* ---- markers, ferry's own writes, teardown ----------------------------------------- */

static void test_marker_origin_teardown(void)
{
	const char *path = path_of("marker.db");
	sqlite3 *app = app_open(path);
	APP(app, "CREATE TABLE t(id INTEGER PRIMARY KEY, v)");
	ferry_capture_table tables[] = {{"t", 1, keys_t}};
	static const size_t nkeys[] = {1};
	g_nkeys = nkeys;
	char hex[17], sql[400];
	hex_of("run-marker", hex);
	ferry_conn *c = ferry_open(path);
	ferry_capture *cap = NULL, *cap2 = NULL;
	ferry_err err = {0};
	uint64_t last = 0, mpos = 0;

	CHECK_INT(C->marker(c, "run-marker", "hb", &mpos, &err), FERRY_ENOTFOUND);
	CHECK_HAS(err.msg, "no change capture of run run-marker is installed");
	if (!OK(C->setup(&cap, c, path, "run-marker", tables, 1, &err)) || !OK(C->start(cap, 0, &err)))
		goto out;
	APP(app, "INSERT INTO t VALUES (1, 'a')");
	OK(C->marker(c, "run-marker", "hb 42", &mpos, &err));
	APP(app, "INSERT INTO t VALUES (2, 'b')");
	CHECK_STR(drain(cap, &last), "0 I >i1; M hb 42; 0 I >i2");
	CHECK(mpos > 0 && mpos < last);

	/* ferry's own writes: a row in the run's origin table, inside the writing transaction,
	 * turns the triggers off for that transaction only (no other writer can run meanwhile,
	 * and no reader ever sees the row). */
	snprintf(sql, sizeof(sql),
	         "BEGIN; INSERT INTO \"ferry_origin_%s\" VALUES (1); INSERT INTO t VALUES (3, 'c'); "
	         "DELETE FROM t WHERE id = 1; DELETE FROM \"ferry_origin_%s\"; COMMIT", hex, hex);
	sqlite3 *own = app_open(path);
	APP(own, sql);
	APP(app, "INSERT INTO t VALUES (4, 'd')");
	CHECK_STR(drain(cap, &last), "0 I >i4");
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM \"ferry_origin_%s\"", hex);
	CHECK_INT(query_int(app, sql), 0);
	sqlite3_close(own);

	/* A touch in ferry's own transaction is delivered as an update of that key, with the
	 * commit; rolled back, nothing; a table or key the run does not capture, an error. */
	ferry_value k7 = {.type = FERRY_INT, .v.i = 7}, k8 = {.type = FERRY_INT, .v.i = 8};
	static const char *const keys_x[] = {"v"};
	OK(E->core->begin(c, &err));
	OK(C->origin(c, "run-marker", NULL, 0, 1, &err));
	OK(C->touch(c, "run-marker", "t", keys_t, 1, &k7, &err));
	CHECK_INT(C->touch(c, "run-marker", "nope", keys_t, 1, &k7, &err), FERRY_ENOTFOUND);
	CHECK_HAS(err.msg, "captures no such table with key (\"id\")");
	CHECK_INT(C->touch(c, "run-marker", "t", keys_x, 1, &k7, &err), FERRY_ENOTFOUND);
	OK(C->origin(c, "run-marker", NULL, 0, 0, &err));
	OK(E->core->commit(c, &err));
	OK(E->core->begin(c, &err));
	OK(C->touch(c, "run-marker", "t", keys_t, 1, &k8, &err));
	E->core->rollback(c, &err);
	APP(app, "INSERT INTO t VALUES (9, 'i')");
	CHECK_STR(drain(cap, &last), "0 U >i7; 0 I >i9");

	/* A second run beside the first; each teardown removes its own. */
	if (!OK(C->setup(&cap2, c, path, "run-other", tables, 1, &err)))
		goto out;
	C->close(cap2);
	C->close(cap);
	cap = NULL;
	OK(C->teardown(c, path, "run-marker", &err));
	CHECK_INT(query_int(app, "SELECT count(*) FROM ferry_capture"), 2);
	CHECK_INT(query_int(app, "SELECT count(*) FROM sqlite_schema WHERE type = 'trigger'"), 5);
	OK(C->teardown(c, path, "run-other", &err));
	CHECK_INT(query_int(app, "SELECT count(*) FROM sqlite_schema WHERE name LIKE '%ferry%' "
	                         "OR sql LIKE '%ferry%'"), 0);
	CHECK_INT(query_int(app, "SELECT count(*) FROM sqlite_schema"), 1);
	/* Nothing installed is not an error; the application writes as before. */
	OK(C->teardown(c, path, "run-marker", &err));
	APP(app, "INSERT INTO t VALUES (5, 'e'); REPLACE INTO t VALUES (5, 'f')");
out:
	C->close(cap);
	if (c)
		E->core->close(c);
	sqlite3_close(app);
}

/* ---- other processes, and writers never blocked ------------------------------------ */

static void test_other_process(void)
{
	const char *path = path_of("proc.db");
	sqlite3 *app = app_open(path);
	APP(app, "CREATE TABLE t(id INTEGER PRIMARY KEY, v)");
	ferry_capture_table tables[] = {{"t", 1, keys_t}};
	static const size_t nkeys[] = {1};
	g_nkeys = nkeys;
	ferry_conn *c = ferry_open(path);
	ferry_capture *cap = NULL;
	ferry_err err = {0};
	if (!OK(C->setup(&cap, c, path, "run-proc", tables, 1, &err)) || !OK(C->start(cap, 0, &err)))
		goto out;
	sqlite3_close(app);
	app = NULL;
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		sqlite3 *db = NULL;
		int bad = sqlite3_open(path, &db) != SQLITE_OK;
		sqlite3_busy_timeout(db, 5000);
		bad |= sqlite3_exec(db, "INSERT INTO t VALUES (1, 'a'); UPDATE t SET id = 2 WHERE id = 1; "
		                        "INSERT OR REPLACE INTO t VALUES (2, 'b')", NULL, NULL, NULL) != SQLITE_OK;
		sqlite3_close(db);
		_exit(bad);
	}
	int status = -1;
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	uint64_t last = 0;
	CHECK_STR(drain(cap, &last), "0 I >i1; 0 U i1>i2; 0 D i2>; 0 I >i2");
out:
	C->close(cap);
	if (c) {
		OK(C->teardown(c, path, "run-proc", &err));
		E->core->close(c);
	}
	sqlite3_close(app);
}

typedef struct writer_arg {
	const char *path;
	int rows;
	int busy;    /* writes refused because something held the lock */
	int failed;
} writer_arg;

/* An application writer that never waits for a lock: any lock held by the capture while it
 * writes would fail a write with SQLITE_BUSY. */
static void *writer(void *p)
{
	writer_arg *a = p;
	sqlite3 *db = NULL;
	sqlite3_open(a->path, &db);
	sqlite3_busy_timeout(db, 0);
	for (int i = 0; i < a->rows; i++) {
		char sql[100];
		snprintf(sql, sizeof(sql), "INSERT INTO t VALUES (%d, 'w'); UPDATE t SET v = 'x' WHERE id = %d",
		         1000 + i, 1000 + i);
		int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
		if ((rc & 0xff) == SQLITE_BUSY)
			a->busy++;
		else if (rc != SQLITE_OK)
			a->failed++;
		usleep(500);
	}
	sqlite3_close(db);
	return NULL;
}

static void test_writer_not_blocked(void)
{
	const char *path = path_of("wal.db");
	sqlite3 *app = app_open(path);
	APP(app, "CREATE TABLE t(id INTEGER PRIMARY KEY, v)");
	CHECK_INT(query_int(app, "SELECT count(*) FROM pragma_journal_mode WHERE journal_mode = 'wal'"), 1);
	ferry_capture_table tables[] = {{"t", 1, keys_t}};
	ferry_conn *c = ferry_open(path);
	ferry_capture *cap = NULL;
	ferry_err err = {0};
	if (!OK(C->setup(&cap, c, path, "run-wal", tables, 1, &err)) || !OK(C->start(cap, 0, &err)))
		goto out;
	writer_arg a = {path, 300, 0, 0};
	pthread_t th;
	pthread_create(&th, NULL, writer, &a);
	/* Read the log while the writer writes; every change arrives, in order. */
	size_t got = 0;
	uint64_t last = 0;
	ferry_change ch[16];
	for (int spins = 0; got < 600 && spins < 2000; spins++) {
		size_t n = 0;
		if (!OK(C->next(cap, ch, 16, &n, 50, &err)))
			break;
		for (size_t i = 0; i < n; i++) {
			CHECK(ch[i].pos > last);
			last = ch[i].pos;
			int64_t id = ch[i].new_key ? ch[i].new_key[0].v.i : -1;
			CHECK_INT(id, 1000 + (int64_t)(got / 2));
			got++;
		}
	}
	pthread_join(th, NULL);
	CHECK_INT(a.busy, 0);
	CHECK_INT(a.failed, 0);
	CHECK_INT(got, 600);
out:
	C->close(cap);
	if (c) {
		OK(C->teardown(c, path, "run-wal", &err));
		E->core->close(c);
	}
	sqlite3_close(app);
}

/* In rollback-journal mode too (the capture never changes the journal mode; the connection
 * given to setup may be read-only), and the application's writes go on between reads. */
static void test_rollback_journal(void)
{
	const char *path = path_of("journal.db");
	sqlite3 *app = NULL;
	sqlite3_open(path, &app);
	sqlite3_busy_timeout(app, 5000);
	APP(app, "PRAGMA journal_mode=DELETE; CREATE TABLE t(id INTEGER PRIMARY KEY, v)");
	ferry_capture_table tables[] = {{"t", 1, keys_t}};
	static const size_t nkeys[] = {1};
	g_nkeys = nkeys;
	ferry_conn *c = NULL;
	ferry_capture *cap = NULL;
	ferry_err err = {0};
	uint64_t last = 0;
	if (!OK(E->core->connect(&c, path, FERRY_CONNECT_READONLY, &err)) ||
	    !OK(C->setup(&cap, c, path, "run-journal", tables, 1, &err)) || !OK(C->start(cap, 0, &err)))
		goto out;
	APP(app, "INSERT INTO t VALUES (1, 'a'); UPDATE t SET v = 'b'");
	CHECK_STR(drain(cap, &last), "0 I >i1; 0 U >i1");
	APP(app, "DELETE FROM t");
	CHECK_STR(drain(cap, &last), "0 D i1>");
	CHECK_INT(query_int(app, "SELECT count(*) FROM pragma_journal_mode WHERE journal_mode = 'delete'"), 1);
	OK(C->ack(cap, last, &err));
out:
	C->close(cap);
	if (c)
		E->core->close(c);
	/* Removal needs a connection that writes. */
	if (OK(E->core->connect(&c, path, 0, &err))) {
		OK(C->teardown(c, path, "run-journal", &err));
		E->core->close(c);
	}
	CHECK_INT(query_int(app, "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'ferry%'"), 0);
	sqlite3_close(app);
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
	snprintf(dir, sizeof(dir), "%s/ferry-sqlcap-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	C = E->capture;
	if (!CHECK(C != NULL && C->version == FERRY_ENGINE_VERSION))
		return check_summary();
	test_writes();
	test_resume();
	test_trim_backlog();
	test_refusals();
	test_damage();
	test_marker_origin_teardown();
	test_other_process();
	test_writer_not_blocked();
	test_rollback_journal();
	if (check_failed == 0)
		remove_dir();
	else
		fprintf(stderr, "files kept in %s\n", dir);
	return check_summary();
}
