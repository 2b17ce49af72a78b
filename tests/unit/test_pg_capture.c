/* test_pg_capture.c — the PostgreSQL change capture (pg_capture.c) against the server
 * FERRY_TEST_PG names (tests/sh/pg-capture.sh provides one): the exported snapshot against
 * the stream, every kind of change and key, transactions, markers, resume from an
 * acknowledged position, lost positions, refused tables, DDL during the stream, teardown,
 * and a stream of many small transactions. */
#include <libpq-fe.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "ferry_int.h"
#include "check.h"
#include "engine_io.h"

/* How long a test waits for changes it expects: a new slot decodes from the WAL position
 * where it started waiting for the transactions then running, so on a busy shared server
 * its first change may take seconds to arrive. */
#define WAIT_S 60

static const ferry_engine *E = &ferry__postgres_engine;
static const ferry_engine_capture *C = &ferry__pg_capture;
static char base_url[512], db_name[64], db_url[600];
static PGconn *admin, *db_conn;

/* ---- helpers ----------------------------------------------------------------------- */

/* FERRY_TEST_PG with its database replaced by db. */
static void url_for(char *out, size_t cap, const char *db)
{
	const char *s = strstr(base_url, "://");
	const char *auth = s ? s + 3 : base_url;
	const char *slash = strchr(auth, '/'), *qm = strchr(auth, '?');
	size_t head = slash ? (size_t)(slash - base_url) : qm ? (size_t)(qm - base_url) : strlen(base_url);
	snprintf(out, cap, "%.*s/%s%s", (int)head, base_url, db, qm ? qm : "");
}

static void sql(const char *s)
{
	PGresult *r = PQexec(db_conn, s);
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
		check_failed++;
		fprintf(stderr, "sql failed: %s\n    %s", s, PQerrorMessage(db_conn));
	}
	PQclear(r);
}

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
	ferry_conn *c = NULL;
	ferry_err err = {0};
	if (!OK(E->core->connect(&c, db_url, flags, &err)))
		exit(1);
	return c;
}

/* A fresh run id (32 hex digits), so runs of concurrent tests never share a slot. */
static void new_run(char *out)
{
	static unsigned n;
	char seed[64];
	snprintf(seed, sizeof(seed), "%d-%ld-%u", (int)getpid(), (long)time(NULL), ++n);
	ferry__hash128_hex(out, seed, strlen(seed));
}

/* Rows of pg_replication_slots / pg_publication belonging to run (by the names' prefix). */
static int installed(const char *run, const char *what)
{
	char q[300];
	if (strcmp(what, "slot") == 0)
		snprintf(q, sizeof(q), "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'ferry_%.16s%%'", run);
	else
		snprintf(q, sizeof(q), "SELECT count(*) FROM pg_publication WHERE pubname = 'ferry_%.16s'", run);
	return atoi(q1(q));
}

static void render_value(ferry_buf *b, const ferry_value *v)
{
	switch (v->type) {
	case FERRY_NULL: ferry_buf_puts(b, "null"); break;
	case FERRY_INT: ferry_buf_printf(b, "%lld", (long long)v->v.i); break;
	case FERRY_BOOL: ferry_buf_puts(b, v->v.i ? "true" : "false"); break;
	case FERRY_FLOAT: ferry_buf_printf(b, "%.17g", v->v.f); break;
	case FERRY_BLOB:
		ferry_buf_puts(b, "x");
		for (uint32_t i = 0; i < v->len; i++)
			ferry_buf_printf(b, "%02x", v->v.b[i]);
		break;
	default:
		ferry_buf_printf(b, "%s:%.*s", ferry_type_name((ferry_type)v->type), (int)v->len, v->v.s);
	}
}

/* One change as a line: "U t old=(1) new=(2)", "T t", "M 'text'", with " ;" after the
 * last change of a transaction. */
static void render(const ferry_capture_table *tabs, const ferry_change *ch, ferry_buf *b)
{
	static const char ops[] = "?IUDTM";
	ferry_buf_printf(b, "%c", ops[ch->op <= 5 ? ch->op : 0]);
	if (ch->op == FERRY_CHANGE_MARKER)
		ferry_buf_printf(b, " '%s'", ch->marker ? ch->marker : "(null)");
	else
		ferry_buf_printf(b, " %s", tabs[ch->table].table);
	const ferry_value *keys[2] = {ch->old_key, ch->new_key};
	for (int k = 0; k < 2; k++) {
		if (!keys[k])
			continue;
		ferry_buf_printf(b, " %s=(", k ? "new" : "old");
		for (size_t i = 0; i < tabs[ch->table].nkeys; i++) {
			if (i)
				ferry_buf_puts(b, ",");
			render_value(b, &keys[k][i]);
		}
		ferry_buf_puts(b, ")");
	}
	if (ch->txn_end)
		ferry_buf_puts(b, " ;");
}

/* What a stream delivered: the lines, and each change's position and flags. */
typedef struct got {
	ferry_buf text;       /* lines joined with '\n' */
	size_t n;
	uint64_t pos[64];
	int end[64];
	int64_t us[64];
} got;

/* Read until want changes arrived (or WAIT_S passed), with max changes per call. */
static int drain(ferry_capture *cap, const ferry_capture_table *tabs, size_t want, size_t max,
                 got *g, ferry_err *err)
{
	ferry_change out[64];
	double until = ferry__now() + WAIT_S;
	while (g->n < want && ferry__now() < until) {
		size_t n = 0;
		int rc = C->next(cap, out, max, &n, 200, err);
		if (rc)
			return rc;
		for (size_t i = 0; i < n; i++) {
			if (g->n < 64) {
				g->pos[g->n] = out[i].pos;
				g->end[g->n] = out[i].txn_end;
				g->us[g->n] = out[i].commit_us;
			}
			g->n++;
			render(tabs, &out[i], &g->text);
			ferry_buf_puts(&g->text, "\n");
		}
	}
	return 0;
}

/* Nothing more arrives within ms. */
static void check_quiet(ferry_capture *cap, int ms)
{
	ferry_change out[8];
	size_t n = 99;
	ferry_err err = {0};
	OK(C->next(cap, out, 8, &n, ms, &err));
	CHECK_INT(n, 0);
}

/* The one row of table matching filter, read through the engine's reader (the values
 * stay in *keep, which the caller frees). */
static void read_row(ferry_conn *reader, const char *table, const char *filter,
                     const char *const *cols, size_t n, ferry_value *out, ferry_batch **keep)
{
	ferry_err err = {0};
	ferry_read_spec spec = {.table = table, .nexprs = n, .exprs = cols, .filter = filter};
	ferry_reader *r = NULL;
	*keep = ferry__batch_new(n, 4);
	if (!OK(E->read->reader_open(&r, reader, &spec, &err)))
		return;
	int eof = 0;
	OK(E->read->reader_next(r, *keep, &eof, &err));
	if (CHECK_INT(ferry_batch_nrows(*keep), 1))
		memcpy(out, ferry_batch_crow(*keep, 0), n * sizeof(*out));
	E->read->reader_close(r);
}

/* ---- the exported snapshot against the stream -------------------------------------- */

static void test_snapshot(void)
{
	ferry_err err = {0};
	char run[33];
	new_run(run);
	sql("CREATE TABLE snap (id int PRIMARY KEY, v text)");
	sql("INSERT INTO snap SELECT g, 'before' FROM generate_series(1, 3) g");
	ferry_conn *c = open_db(FERRY_CONNECT_READONLY);
	const char *keys[] = {"id"};
	ferry_capture_table tabs[] = {{"snap", 1, keys}};
	ferry_capture *cap = NULL;
	if (!OK(C->setup(&cap, c, db_url, run, tabs, 1, &err)))
		return;
	uint64_t pos = 0;
	const char *token = C->snapshot(cap, &pos);
	CHECK(token != NULL);
	CHECK(pos > 0);
	/* Committed right after setup: in the stream, not in the snapshot. */
	sql("INSERT INTO snap VALUES (4, 'after')");
	sql("UPDATE snap SET v = 'changed' WHERE id = 1");
	sql("INSERT INTO snap VALUES (5, 'after')");

	ferry_conn *reader = open_db(FERRY_CONNECT_READONLY);
	if (OK(E->read->snapshot_join(reader, token, &err))) {
		int64_t rows = 0;
		OK(E->write->table_rows(reader, "snap", &rows, &err));
		CHECK_INT(rows, 3);
		/* The update committed after setup is not seen either. */
		const char *ex[] = {"id", "v"};
		ferry_value row[2];
		ferry_batch *b = NULL;
		read_row(reader, "snap", "id = 1", ex, 2, row, &b);
		if (b && ferry_batch_nrows(b) == 1)
			CHECK(row[1].len == 6 && memcmp(row[1].v.s, "before", 6) == 0);
		ferry__batch_free(b);
		ferry_err e2 = {0};
		E->core->rollback(reader, &e2);
	}
	E->core->close(reader);
	CHECK_STR(q1("SELECT count(*) FROM snap"), "5");

	got g = {FERRY_BUF_INIT, 0, {0}, {0}, {0}};
	if (OK(C->start(cap, pos, &err)) && OK(drain(cap, tabs, 3, 64, &g, &err))) {
		CHECK_STR(g.text.data, "I snap new=(4) ;\nU snap new=(1) ;\nI snap new=(5) ;\n");
		CHECK(g.pos[0] > pos && g.pos[1] > g.pos[0] && g.pos[2] > g.pos[1]);
		CHECK(g.us[0] > INT64_C(1600000000000000));
		check_quiet(cap, 300);
	}
	ferry_buf_free(&g.text);
	C->close(cap);
	OK(C->teardown(c, db_url, run, &err));
	E->core->close(c);
}

/* ---- every kind of change ---------------------------------------------------------- */

static void test_changes(void)
{
	ferry_err err = {0};
	char run[33], other[33];
	new_run(run);
	new_run(other);
	sql("CREATE TABLE k1 (id int PRIMARY KEY, v text)");
	sql("CREATE TABLE \"K 2\" (a text, b uuid, v int, PRIMARY KEY (a, b))");
	sql("CREATE TABLE kfull (x int, y text)");
	sql("ALTER TABLE kfull REPLICA IDENTITY FULL");
	sql("CREATE TABLE ktypes (d date, ts timestamptz, n numeric(10, 2), bt bytea, f float8, "
	    "ok boolean, big bigint, big_text text, PRIMARY KEY (d, ts, n, bt, f, ok, big), v int)");
	sql("ALTER TABLE ktypes ALTER COLUMN big_text SET STORAGE EXTERNAL");
	ferry_conn *c = open_db(FERRY_CONNECT_READONLY);
	const char *k1[] = {"id"}, *k2[] = {"a", "b"}, *kf[] = {"x"},
	           *kt[] = {"d", "ts", "n", "bt", "f", "ok", "big"};
	ferry_capture_table tabs[] = {{"k1", 1, k1}, {"K 2", 2, k2}, {"kfull", 1, kf}, {"ktypes", 7, kt}};
	ferry_capture *cap = NULL;
	if (!OK(C->setup(&cap, c, db_url, run, tabs, 4, &err)))
		return;
	uint64_t pos = 0;
	C->snapshot(cap, &pos);
	if (!OK(C->start(cap, pos, &err))) {
		C->close(cap);
		return;
	}
	sql("INSERT INTO k1 VALUES (1, 'a')");
	sql("UPDATE k1 SET v = 'b' WHERE id = 1");
	sql("UPDATE k1 SET id = 10 WHERE id = 1");
	sql("DELETE FROM k1 WHERE id = 10");
	sql("INSERT INTO \"K 2\" VALUES ('x''y', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 1)");
	sql("UPDATE \"K 2\" SET a = 'z' WHERE a = 'x''y'");
	sql("INSERT INTO kfull VALUES (1, 'x')");
	sql("UPDATE kfull SET y = 'z'");
	sql("UPDATE kfull SET x = 2");
	sql("DELETE FROM kfull");
	/* A multi-statement transaction: one position, txn_end on its last change only. */
	sql("BEGIN; INSERT INTO k1 VALUES (20, 'a'); INSERT INTO k1 VALUES (21, 'a'); "
	    "UPDATE k1 SET v = 'c' WHERE id = 21; COMMIT");
	sql("BEGIN; INSERT INTO k1 VALUES (30, 'gone'); ROLLBACK");
	sql("TRUNCATE k1");
	/* Key values of every canonical kind, and a large value that is not a key (TOAST). */
	sql("INSERT INTO ktypes VALUES ('2024-02-29', '2024-05-06 07:08:09.5+02', 12.50, '\\x00ff', "
	    "0.1, true, 9007199254740993, repeat('t', 100000), 1)");
	sql("UPDATE ktypes SET v = 2");
	uint64_t mpos = 0;
	OK(C->marker(c, run, "hello", &mpos, &err));
	OK(C->marker(c, other, "not ours", NULL, &err));

	got g = {FERRY_BUF_INIT, 0, {0}, {0}, {0}};
	if (OK(drain(cap, tabs, 17, 64, &g, &err))) {
		CHECK_STR(g.text.data,
		          "I k1 new=(1) ;\n"
		          "U k1 new=(1) ;\n"
		          "U k1 old=(1) new=(10) ;\n"
		          "D k1 old=(10) ;\n"
		          "I K 2 new=(text:x'y,uuid:a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11) ;\n"
		          "U K 2 old=(text:x'y,uuid:a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11) "
		          "new=(text:z,uuid:a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11) ;\n"
		          "I kfull new=(1) ;\n"
		          "U kfull new=(1) ;\n"
		          "U kfull old=(1) new=(2) ;\n"
		          "D kfull old=(2) ;\n"
		          "I k1 new=(20)\n"
		          "I k1 new=(21)\n"
		          "U k1 new=(21) ;\n"
		          "T k1 ;\n"
		          "I ktypes new=(date:2024-02-29,timestamptz:2024-05-06 05:08:09.5+00,numeric:12.50,x00ff,"
		          "0.10000000000000001,true,9007199254740993) ;\n"
		          "U ktypes new=(date:2024-02-29,timestamptz:2024-05-06 05:08:09.5+00,numeric:12.50,x00ff,"
		          "0.10000000000000001,true,9007199254740993) ;\n"
		          "M 'hello' ;\n");
		CHECK_INT(g.n, 17);
		/* One position per transaction, rising; the marker's own LSN precedes its commit. */
		CHECK(g.pos[10] == g.pos[11] && g.pos[11] == g.pos[12]);
		for (size_t i = 1; i < 17 && i < g.n; i++)
			CHECK(g.pos[i] >= g.pos[i - 1]);
		CHECK(g.pos[16] >= mpos && mpos > g.pos[15]);
		check_quiet(cap, 300);
	}
	ferry_buf_free(&g.text);

	/* Both ways: in ferry's own transaction (origin) a write is skipped, but a touch is an
	 * update of its key, each value as its column's type gives it; a rolled back one is
	 * nothing. */
	ferry_conn *w = open_db(0);
	ferry_value t1 = {.type = FERRY_INT, .v.i = 41};
	ferry_value t2[2] = {{.type = FERRY_TEXT, .v.s = "q'r", .len = 3},
	                     {.type = FERRY_TEXT, .v.s = "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A12", .len = 36}};
	OK(E->core->begin(w, &err));
	OK(C->origin(w, run, NULL, 0, 1, &err));
	OK(E->core->exec(w, "INSERT INTO k1 VALUES (40, 'own')", &err));
	OK(C->touch(w, run, "k1", k1, 1, &t1, &err));
	OK(C->touch(w, run, "K 2", k2, 2, t2, &err));
	const char *nope[] = {"nope"};
	CHECK_INT(C->touch(w, run, "k1", nope, 1, &t1, &err), FERRY_ENOTFOUND);
	OK(E->core->commit(w, &err));
	OK(E->core->begin(w, &err));
	OK(C->touch(w, run, "k1", k1, 1, &t1, &err));
	E->core->rollback(w, &err);
	got h = {FERRY_BUF_INIT, 0, {0}, {0}, {0}};
	if (OK(drain(cap, tabs, 2, 64, &h, &err))) {
		CHECK_STR(h.text.data, "U k1 new=(41)\n"
		                       "U K 2 new=(text:q'r,uuid:a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12) ;\n");
		check_quiet(cap, 300);
	}
	ferry_buf_free(&h.text);
	E->core->close(w);

	C->close(cap);
	OK(C->teardown(c, db_url, run, &err));
	E->core->close(c);
	sql("DROP TABLE k1, \"K 2\", kfull, ktypes");
}

static void test_canonical(void)
{
	ferry_err err = {0};
	char run[33];
	new_run(run);
	sql("CREATE DOMAIN dint AS int");
	sql("CREATE TYPE mood AS ENUM ('sad', 'ok')");
	sql("CREATE TABLE canon (a dint, b timestamp, c time, d jsonb, e mood, f real, g numeric, "
	    "h varchar(5), i uuid, j date, PRIMARY KEY (a, b, c, e, f, g, h, i, j), v int)");
	sql("ALTER TABLE canon REPLICA IDENTITY FULL");
	ferry_conn *c = open_db(FERRY_CONNECT_READONLY);
	const char *keys[] = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"};
	ferry_capture_table tabs[] = {{"canon", 10, keys}};
	ferry_capture *cap = NULL;
	if (!OK(C->setup(&cap, c, db_url, run, tabs, 1, &err)))
		return;
	uint64_t pos;
	C->snapshot(cap, &pos);
	OK(C->start(cap, pos, &err));
	sql("INSERT INTO canon VALUES (-7, '1999-12-31 23:59:59.999999', '24:00:00', '{\"b\": [1, 2.50], \"a\": null}', "
	    "'ok', 'NaN', '-0.000100', 'héllo', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', '0044-03-15 BC', 1)");
	sql("DELETE FROM canon");
	ferry_change out[4];
	size_t n = 0, total = 0;
	ferry_value keys_in[10], keys_del[10];
	double until = ferry__now() + WAIT_S;
	while (total < 2 && ferry__now() < until && OK(C->next(cap, out, 1, &n, 200, &err))) {
		for (size_t i = 0; i < n; i++, total++) {
			const ferry_value *k = total == 0 ? out[i].new_key : out[i].old_key;
			if (CHECK(k != NULL))
				memcpy(total == 0 ? keys_in : keys_del, k, sizeof(keys_in));
			/* With max 1 the insert came from the previous call, whose values stay
			 * valid until the call after this one. */
			if (total == 1) {
				for (int j = 0; j < 10; j++)
					CHECK(ferry__value_equal(&keys_in[j], &keys_del[j]) || !"insert and delete keys differ");
			}
		}
	}
	CHECK_INT(total, 2);
	C->close(cap);
	OK(C->teardown(c, db_url, run, &err));
	/* The insert's keys against the reader's values (insert again, capture again). */
	new_run(run);
	if (OK(C->setup(&cap, c, db_url, run, tabs, 1, &err))) {
		C->snapshot(cap, &pos);
		OK(C->start(cap, pos, &err));
		sql("INSERT INTO canon VALUES (-7, '1999-12-31 23:59:59.999999', '24:00:00', '{\"b\": [1, 2.50], \"a\": null}', "
		    "'ok', 'NaN', '-0.000100', 'héllo', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', '0044-03-15 BC', 1)");
		n = 0;
		until = ferry__now() + WAIT_S;
		while (n == 0 && ferry__now() < until && OK(C->next(cap, out, 4, &n, 200, &err)))
			;
		if (CHECK_INT(n, 1) && CHECK(out[0].new_key != NULL)) {
			ferry_conn *reader = open_db(FERRY_CONNECT_READONLY);
			ferry_value row[10];
			ferry_batch *b = NULL;
			read_row(reader, "canon", NULL, keys, 10, row, &b);
			for (int j = 0; j < 10; j++) {
				int same = ferry__value_equal(&out[0].new_key[j], &row[j]);
				if (!CHECK(same)) {
					ferry_buf x = FERRY_BUF_INIT, y = FERRY_BUF_INIT;
					render_value(&x, &out[0].new_key[j]);
					render_value(&y, &row[j]);
					fprintf(stderr, "    column %s: stream %s, reader %s\n", keys[j], x.data, y.data);
					ferry_buf_free(&x);
					ferry_buf_free(&y);
				}
			}
			ferry__batch_free(b);
			E->core->close(reader);
		}
		C->close(cap);
		OK(C->teardown(c, db_url, run, &err));
	}
	OK(C->teardown(c, db_url, tabs[0].table, &err));   /* nothing installed: not an error */
	E->core->close(c);
	sql("DROP TABLE canon; DROP TYPE mood; DROP DOMAIN dint");
}

/* ---- resume ------------------------------------------------------------------------ */

static uint64_t slot_confirmed(const char *run)
{
	char q[300];
	snprintf(q, sizeof(q), "SELECT confirmed_flush_lsn - '0/0' FROM pg_replication_slots WHERE slot_name LIKE 'ferry_%.16s%%'",
	         run);
	return strtoull(q1(q), NULL, 10);
}

static void test_resume(void)
{
	ferry_err err = {0};
	char run[33];
	new_run(run);
	sql("CREATE TABLE res (id int PRIMARY KEY)");
	ferry_conn *c = open_db(FERRY_CONNECT_READONLY);
	const char *keys[] = {"id"};
	ferry_capture_table tabs[] = {{"res", 1, keys}};
	ferry_capture *cap = NULL;
	if (!OK(C->setup(&cap, c, db_url, run, tabs, 1, &err)))
		return;
	uint64_t pos;
	C->snapshot(cap, &pos);
	OK(C->start(cap, pos, &err));
	sql("INSERT INTO res VALUES (1)");
	sql("INSERT INTO res VALUES (2)");
	sql("INSERT INTO res VALUES (3)");
	got g = {FERRY_BUF_INIT, 0, {0}, {0}, {0}};
	OK(drain(cap, tabs, 3, 1, &g, &err));
	CHECK_STR(g.text.data, "I res new=(1) ;\nI res new=(2) ;\nI res new=(3) ;\n");
	uint64_t p1 = g.pos[0], p2 = g.pos[1];
	ferry_buf_free(&g.text);
	/* A position not delivered yet cannot be acknowledged. */
	CHECK(C->ack(cap, g.pos[2] + 1000, &err) == FERRY_EUSAGE);
	CHECK_HAS(err.msg, "delivered changes up to");
	OK(C->ack(cap, p2, &err));
	C->close(cap);
	CHECK_INT(slot_confirmed(run), p2 + 1);
	sql("INSERT INTO res VALUES (4)");

	/* Reopened: no snapshot; from the acknowledged position, the rest and nothing else. */
	cap = NULL;
	if (OK(C->setup(&cap, c, db_url, run, tabs, 1, &err))) {
		uint64_t p = 99;
		CHECK(C->snapshot(cap, &p) == NULL);
		CHECK_INT(p, 0);
		got h = {FERRY_BUF_INIT, 0, {0}, {0}, {0}};
		if (OK(C->start(cap, p2, &err)) && OK(drain(cap, tabs, 2, 64, &h, &err))) {
			CHECK_STR(h.text.data, "I res new=(3) ;\nI res new=(4) ;\n");
			check_quiet(cap, 300);
		}
		ferry_buf_free(&h.text);
		C->close(cap);
	}

	/* A position the slot has moved past is refused, not silently skipped. */
	if (OK(C->setup(&cap, c, db_url, run, tabs, 1, &err))) {
		CHECK(C->start(cap, p1, &err) != 0);
		CHECK_HAS(err.msg, "are lost");
		CHECK_HAS(err.msg, "past that position");
		C->close(cap);
	}

	/* The slot dropped between setup and start. */
	if (OK(C->setup(&cap, c, db_url, run, tabs, 1, &err))) {
		char q[200];
		snprintf(q, sizeof(q), "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE 'ferry_%.16s%%'", run);
		sql(q);
		CHECK(C->start(cap, p2, &err) != 0);
		CHECK_HAS(err.msg, "no longer exists");
		CHECK_HAS(err.msg, "changes committed since then are lost");
		CHECK_HAS(err.msg, "ferry sync --finish");
		C->close(cap);
	}
	/* The slot gone at setup: a new one is made, and the old position is refused. */
	if (OK(C->setup(&cap, c, db_url, run, tabs, 1, &err))) {
		uint64_t p;
		CHECK(C->snapshot(cap, &p) != NULL);
		CHECK(C->start(cap, p2, &err) != 0);
		CHECK_HAS(err.msg, "was gone");
		CHECK_HAS(err.msg, "are lost");
		C->close(cap);
	}
	/* Another table set for the same run is refused. */
	sql("CREATE TABLE res2 (id int PRIMARY KEY)");
	ferry_capture_table two[] = {{"res", 1, keys}, {"res2", 1, keys}};
	CHECK(C->setup(&cap, c, db_url, run, two, 2, &err) != 0);
	CHECK(cap == NULL);
	CHECK_HAS(err.msg, "covers other tables");
	OK(C->teardown(c, db_url, run, &err));
	CHECK_INT(installed(run, "slot"), 0);
	CHECK_INT(installed(run, "pub"), 0);
	E->core->close(c);
	sql("DROP TABLE res, res2");
}

/* ---- refusals ---------------------------------------------------------------------- */

static void test_refusals(void)
{
	ferry_err err = {0};
	char run[33];
	new_run(run);
	sql("CREATE TABLE nokey (a int, b text)");
	sql("CREATE TABLE nothing (a int PRIMARY KEY)");
	sql("ALTER TABLE nothing REPLICA IDENTITY NOTHING");
	sql("CREATE TABLE partkey (a int PRIMARY KEY, b int)");
	ferry_conn *c = open_db(FERRY_CONNECT_READONLY);
	const char *ka[] = {"a"}, *kb[] = {"b"}, *kz[] = {"zz"};
	ferry_capture *cap = (ferry_capture *)1;
	ferry_capture_table t1[] = {{"nokey", 1, ka}};
	CHECK(C->setup(&cap, c, db_url, run, t1, 1, &err) == FERRY_EUSAGE);
	CHECK(cap == NULL);
	CHECK_HAS(err.msg, "cannot capture table \"nokey\": it has no primary key and its replica identity is DEFAULT");
	CHECK_HAS(err.msg, "ALTER TABLE \"nokey\" REPLICA IDENTITY FULL");
	ferry_capture_table t2[] = {{"nothing", 1, ka}};
	CHECK(C->setup(&cap, c, db_url, run, t2, 1, &err) == FERRY_EUSAGE);
	CHECK_HAS(err.msg, "its replica identity is NOTHING");
	ferry_capture_table t3[] = {{"partkey", 1, kb}};
	CHECK(C->setup(&cap, c, db_url, run, t3, 1, &err) == FERRY_EUSAGE);
	CHECK_HAS(err.msg, "key column \"b\" is not part of its replica identity");
	ferry_capture_table t4[] = {{"partkey", 1, kz}};
	CHECK(C->setup(&cap, c, db_url, run, t4, 1, &err) == FERRY_EUSAGE);
	CHECK_HAS(err.msg, "has no column \"zz\"");
	ferry_capture_table t5[] = {{"absent", 1, ka}};
	CHECK(C->setup(&cap, c, db_url, run, t5, 1, &err) == FERRY_ENOTFOUND);
	CHECK_HAS(err.msg, "does not exist");
	/* Refused before anything was installed. */
	CHECK_INT(installed(run, "slot"), 0);
	CHECK_INT(installed(run, "pub"), 0);
	/* REPLICA IDENTITY FULL is the documented fix. */
	sql("ALTER TABLE nokey REPLICA IDENTITY FULL");
	if (OK(C->setup(&cap, c, db_url, run, t1, 1, &err))) {
		C->close(cap);
		OK(C->teardown(c, db_url, run, &err));
	}
	E->core->close(c);
	sql("DROP TABLE nokey, nothing, partkey");
}

/* ---- DDL during the stream --------------------------------------------------------- */

static void test_ddl(void)
{
	ferry_err err = {0};
	char run[33];
	new_run(run);
	sql("CREATE TABLE ddl (id int PRIMARY KEY, v text)");
	ferry_conn *c = open_db(FERRY_CONNECT_READONLY);
	const char *keys[] = {"id"};
	ferry_capture_table tabs[] = {{"ddl", 1, keys}};
	ferry_capture *cap = NULL;
	if (!OK(C->setup(&cap, c, db_url, run, tabs, 1, &err)))
		return;
	uint64_t pos;
	C->snapshot(cap, &pos);
	OK(C->start(cap, pos, &err));
	sql("INSERT INTO ddl VALUES (1, 'a')");
	sql("ALTER TABLE ddl ADD COLUMN w int");
	sql("INSERT INTO ddl VALUES (2, 'b', 3)");
	got g = {FERRY_BUF_INIT, 0, {0}, {0}, {0}};
	int rc = drain(cap, tabs, 5, 64, &g, &err);
	CHECK(rc != 0);
	CHECK_STR(g.text.data, "I ddl new=(1) ;\n");
	CHECK_HAS(err.msg, "table \"ddl\" of database");
	CHECK_HAS(err.msg, "changed during the sync");
	/* The error stays: the stream is not read past it. */
	ferry_change out[4];
	size_t n = 7;
	ferry_err e2 = {0};
	CHECK(C->next(cap, out, 4, &n, 10, &e2) == rc);
	CHECK_INT(n, 0);
	CHECK_STR(e2.msg, err.msg);
	ferry_buf_free(&g.text);
	C->close(cap);
	OK(C->teardown(c, db_url, run, &err));
	E->core->close(c);
	sql("DROP TABLE ddl");
}

/* ---- teardown ---------------------------------------------------------------------- */

static void test_teardown(void)
{
	ferry_err err = {0};
	char run[33];
	new_run(run);
	sql("CREATE TABLE td (id int PRIMARY KEY)");
	ferry_conn *c = open_db(FERRY_CONNECT_READONLY);
	const char *keys[] = {"id"};
	ferry_capture_table tabs[] = {{"td", 1, keys}};
	ferry_capture *cap = NULL;
	if (!OK(C->setup(&cap, c, db_url, run, tabs, 1, &err)))
		return;
	CHECK_INT(installed(run, "slot"), 1);
	CHECK_INT(installed(run, "pub"), 1);
	uint64_t pos;
	C->snapshot(cap, &pos);
	OK(C->start(cap, pos, &err));
	/* Streaming: the walsender holding the slot is ferry's own, so teardown stops it. */
	ferry_conn *other = open_db(FERRY_CONNECT_READONLY);
	OK(C->teardown(other, db_url, run, &err));
	CHECK_INT(installed(run, "slot"), 0);
	CHECK_INT(installed(run, "pub"), 0);
	/* The capture whose connection went away fails cleanly and closes. */
	ferry_change out[4];
	size_t n = 0;
	sql("INSERT INTO td VALUES (1)");
	CHECK(C->next(cap, out, 4, &n, 2000, &err) != 0);
	C->close(cap);
	OK(C->teardown(other, db_url, run, &err));   /* nothing left: not an error */

	/* A slot held by a process that is not ferry's is not taken from it. */
	if (OK(C->setup(&cap, c, db_url, run, tabs, 1, &err))) {
		C->close(cap);
		char url[700], q[300];
		snprintf(url, sizeof(url), "%s%sreplication=database&application_name=someone", db_url,
		         strchr(db_url, '?') ? "&" : "?");
		PGconn *foreign = PQconnectdb(url);
		snprintf(q, sizeof(q), "SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE 'ferry_%.16s%%'", run);
		char slot[80];
		snprintf(slot, sizeof(slot), "%s", q1(q));
		snprintf(q, sizeof(q), "START_REPLICATION SLOT \"%s\" LOGICAL 0/0 (proto_version '1', publication_names 'ferry_%.16s')",
		         slot, run);
		PGresult *r = PQexec(foreign, q);
		CHECK(PQresultStatus(r) == PGRES_COPY_BOTH);
		PQclear(r);
		CHECK(C->teardown(other, db_url, run, &err) == FERRY_EUSAGE);
		CHECK_HAS(err.msg, "(application \"someone\") is using it and is not ferry's");
		CHECK_INT(installed(run, "slot"), 1);
		PQfinish(foreign);
		/* Its walsender exits a moment after the connection closes. */
		snprintf(q, sizeof(q), "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'ferry_%.16s%%' "
		         "AND active_pid IS NOT NULL", run);
		for (int i = 0; i < 100 && strcmp(q1(q), "0") != 0; i++)
			usleep(100 * 1000);
		OK(C->teardown(other, db_url, run, &err));
		CHECK_INT(installed(run, "slot"), 0);
		CHECK_INT(installed(run, "pub"), 0);
	}
	E->core->close(other);
	E->core->close(c);
	sql("DROP TABLE td");
}

/* ---- a conninfo string instead of a URL ------------------------------------------- */

static void test_conninfo(void)
{
	ferry_err err = {0};
	char run[33], conninfo[1000] = "";
	new_run(run);
	/* The test URL's own settings, written as keyword=value pairs. */
	PQconninfoOption *opts = PQconninfoParse(db_url, NULL);
	size_t len = 0;
	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		if (o->val && *o->val)
			len += (size_t)snprintf(conninfo + len, sizeof(conninfo) - len, "%s%s='%s'", len ? " " : "",
			                        o->keyword, o->val);
	PQconninfoFree(opts);
	sql("CREATE TABLE ci (id int PRIMARY KEY)");
	ferry_conn *c = NULL;
	if (!OK(E->core->connect(&c, conninfo, FERRY_CONNECT_READONLY, &err)))
		return;
	const char *keys[] = {"id"};
	ferry_capture_table tabs[] = {{"ci", 1, keys}};
	ferry_capture *cap = NULL;
	if (OK(C->setup(&cap, c, conninfo, run, tabs, 1, &err))) {
		uint64_t pos;
		CHECK(C->snapshot(cap, &pos) != NULL);
		got g = {FERRY_BUF_INIT, 0, {0}, {0}, {0}};
		if (OK(C->start(cap, pos, &err))) {
			sql("INSERT INTO ci VALUES (7)");
			if (OK(drain(cap, tabs, 1, 8, &g, &err)))
				CHECK_STR(g.text.data, "I ci new=(7) ;\n");
		}
		ferry_buf_free(&g.text);
		C->close(cap);
		OK(C->teardown(c, conninfo, run, &err));
	}
	CHECK_INT(installed(run, "slot"), 0);
	E->core->close(c);
	sql("DROP TABLE ci");
}

/* ---- a writer running through setup ---------------------------------------------- */

typedef struct writer {
	volatile int stop;
	int last;             /* the highest id committed */
	int failed;
} writer;

static void *writer_run(void *arg)
{
	writer *w = arg;
	PGconn *db = PQconnectdb(db_url);
	w->failed = PQstatus(db) != CONNECTION_OK;
	for (int id = 1; !w->stop && !w->failed; id++) {
		char q[100];
		snprintf(q, sizeof(q), "INSERT INTO conc VALUES (%d)", id);
		PGresult *r = PQexec(db, q);
		w->failed = PQresultStatus(r) != PGRES_COMMAND_OK;
		PQclear(r);
		if (!w->failed)
			w->last = id;
	}
	PQfinish(db);
	return NULL;
}

static void collect_ids(void *ud, const ferry_value *row, size_t ncols)
{
	(void)ncols;
	unsigned char *seen = ud;
	if (row[0].type == FERRY_INT && row[0].v.i > 0 && row[0].v.i < 1000000)
		seen[row[0].v.i]++;
}

/* Every row committed while setup ran is either in the snapshot or in the stream, never
 * in both and never in neither. */
static void test_concurrent(void)
{
	ferry_err err = {0};
	char run[33];
	new_run(run);
	sql("CREATE TABLE conc (id int PRIMARY KEY)");
	ferry_conn *c = open_db(FERRY_CONNECT_READONLY);
	const char *keys[] = {"id"};
	ferry_capture_table tabs[] = {{"conc", 1, keys}};
	writer w = {0};
	pthread_t th;
	pthread_create(&th, NULL, writer_run, &w);
	usleep(100 * 1000);
	ferry_capture *cap = NULL;
	int rc = C->setup(&cap, c, db_url, run, tabs, 1, &err);
	usleep(100 * 1000);
	w.stop = 1;
	pthread_join(th, NULL);
	CHECK(!w.failed);
	if (!OK(rc))
		return;
	unsigned char *seen = ferry__calloc(1000000, 1);
	uint64_t pos;
	const char *token = C->snapshot(cap, &pos);
	ferry_conn *reader = open_db(FERRY_CONNECT_READONLY);
	const char *ex[] = {"id"};
	ferry_read_spec spec = {.table = "conc", .nexprs = 1, .exprs = ex};
	size_t in_snapshot = 0, in_stream = 0;
	if (OK(E->read->snapshot_join(reader, token, &err)) &&
	    OK(engine_read_all(E, reader, &spec, 256, collect_ids, seen, &err))) {
		for (int i = 1; i <= w.last; i++)
			in_snapshot += seen[i];
	}
	E->core->close(reader);
	if (OK(C->start(cap, pos, &err))) {
		ferry_change out[256];
		size_t n = 1;
		/* Until every row is seen once (a loaded server decodes slowly: a quiet half second
		 * is not the end of the stream), or 60 s. */
		double until = ferry__now() + 60;
		while (in_snapshot + in_stream < (size_t)w.last && ferry__now() < until &&
		       OK(C->next(cap, out, 256, &n, 500, &err)))
			for (size_t i = 0; i < n; i++) {
				CHECK(out[i].op == FERRY_CHANGE_INSERT && out[i].pos > pos);
				seen[out[i].new_key[0].v.i]++;
				in_stream++;
			}
		/* Nothing more may come: a row twice would show here. */
		while (OK(C->next(cap, out, 256, &n, 300, &err)) && n > 0)
			for (size_t i = 0; i < n; i++) {
				seen[out[i].new_key[0].v.i]++;
				in_stream++;
			}
	}
	int exact = 1;
	for (int i = 1; i <= w.last; i++)
		exact &= seen[i] == 1;
	CHECK(exact);
	CHECK(in_snapshot > 0 && in_stream > 0);
	CHECK_INT(in_snapshot + in_stream, w.last);
	free(seen);
	C->close(cap);
	OK(C->teardown(c, db_url, run, &err));
	E->core->close(c);
	sql("DROP TABLE conc");
}

/* ---- many small transactions ------------------------------------------------------- */

static void test_many(void)
{
	ferry_err err = {0};
	char run[33];
	new_run(run);
	sql("CREATE TABLE many (id int PRIMARY KEY)");
	ferry_conn *c = open_db(FERRY_CONNECT_READONLY);
	const char *keys[] = {"id"};
	ferry_capture_table tabs[] = {{"many", 1, keys}};
	ferry_capture *cap = NULL;
	if (!OK(C->setup(&cap, c, db_url, run, tabs, 1, &err)))
		return;
	uint64_t pos;
	C->snapshot(cap, &pos);
	OK(C->start(cap, pos, &err));
	/* 20,000 transactions of one row each. */
	sql("DO $$ BEGIN FOR i IN 1..20000 LOOP INSERT INTO many VALUES (i); COMMIT; END LOOP; END $$");
	ferry_change out[512];
	size_t total = 0, ends = 0, in_order = 1, calls = 0;
	double t0 = ferry__now();
	int64_t expect = 1;
	uint64_t last = pos;
	double until = ferry__now() + 5 * WAIT_S;
	while (total < 20000 && ferry__now() < until) {
		size_t n = 0;
		if (!OK(C->next(cap, out, 512, &n, 1000, &err)))
			break;
		for (size_t i = 0; i < n; i++) {
			in_order &= out[i].op == FERRY_CHANGE_INSERT && out[i].new_key &&
			            out[i].new_key[0].v.i == expect++ && out[i].pos > last;
			last = out[i].pos;
			ends += out[i].txn_end != 0;
		}
		total += n;
		calls++;
		if (n)
			OK(C->ack(cap, out[n - 1].pos, &err));
	}
	/* For the record only: the stream's rate is not asserted. */
	printf("20000 one-row transactions read in %.2f s after the writer finished, %zu calls of next\n", ferry__now() - t0, calls);
	CHECK_INT(total, 20000);
	CHECK_INT(ends, 20000);
	CHECK(in_order);
	C->close(cap);
	CHECK_INT(slot_confirmed(run), last + 1);
	OK(C->teardown(c, db_url, run, &err));
	E->core->close(c);
	sql("DROP TABLE many");
}

/* Drop every slot left in the test database (a failed test), so it can be dropped. */
static void drop_slots(void)
{
	char q[400];
	for (int i = 0; i < 50; i++) {
		snprintf(q, sizeof(q), "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots "
		         "WHERE database = '%s' AND active_pid IS NOT NULL", db_name);
		PQclear(PQexec(admin, q));
		snprintf(q, sizeof(q), "SELECT count(pg_drop_replication_slot(slot_name)) FROM pg_replication_slots "
		         "WHERE database = '%s' AND active_pid IS NULL", db_name);
		PQclear(PQexec(admin, q));
		snprintf(q, sizeof(q), "SELECT count(*) FROM pg_replication_slots WHERE database = '%s'", db_name);
		PGresult *r = PQexec(admin, q);
		int left = PQresultStatus(r) == PGRES_TUPLES_OK ? atoi(PQgetvalue(r, 0, 0)) : 0;
		PQclear(r);
		if (!left)
			return;
		usleep(200 * 1000);
	}
}

int main(void)
{
	const char *u = getenv("FERRY_TEST_PG");
	if (!u || !*u) {
		fprintf(stderr, "test_pg_capture: FERRY_TEST_PG is not set (run it through tests/sh/pg-capture.sh)\n");
		return 1;
	}
	snprintf(base_url, sizeof(base_url), "%s", u);
	admin = PQconnectdb(base_url);
	if (PQstatus(admin) != CONNECTION_OK) {
		fprintf(stderr, "test_pg_capture: cannot connect to FERRY_TEST_PG: %s", PQerrorMessage(admin));
		return 1;
	}
	srand((unsigned)getpid());
	snprintf(db_name, sizeof(db_name), "t_cap_%d_%d", (int)getpid(), rand() % 100000);
	char q[200];
	snprintf(q, sizeof(q), "CREATE DATABASE %s", db_name);
	PQclear(PQexec(admin, q));
	url_for(db_url, sizeof(db_url), db_name);
	db_conn = PQconnectdb(db_url);
	if (PQstatus(db_conn) != CONNECTION_OK) {
		fprintf(stderr, "test_pg_capture: cannot create the test database: %s", PQerrorMessage(db_conn));
		return 1;
	}
	PGresult *r = PQexec(db_conn, "SHOW wal_level");
	int logical = PQresultStatus(r) == PGRES_TUPLES_OK && strcmp(PQgetvalue(r, 0, 0), "logical") == 0;
	PQclear(r);
	if (!CHECK(logical))
		fprintf(stderr, "test_pg_capture: the server needs wal_level = logical\n");
	else {
		test_snapshot();
		test_concurrent();
		test_conninfo();
		test_changes();
		test_canonical();
		test_resume();
		test_refusals();
		test_ddl();
		test_teardown();
		test_many();
	}
	PQfinish(db_conn);
	drop_slots();
	snprintf(q, sizeof(q), "DROP DATABASE %s WITH (FORCE)", db_name);
	PQclear(PQexec(admin, q));
	PQfinish(admin);
	return check_summary();
}
