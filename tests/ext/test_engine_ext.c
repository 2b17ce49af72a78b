/* test_engine_ext.c — an engine from outside the tree (demo_engine.c, built against the
 * public headers only) registers on a context, claims its URLs, and is the source of a real
 * ferry_copy into SQLite that ferry_verify then finds identical, row for row. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sqlite3.h>
#include <ferry.h>
#include "../unit/check.h"
#include "demo_engine.h"

static long long query_int(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	long long v = -1;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static char *query_text(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char *v = NULL;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW &&
	    sqlite3_column_text(st, 0))
		v = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* Before registration no engine takes "demo:"; after it, the demo engine does. */
static void test_claim(ferry_ctx *ctx)
{
	ferry_plan *p = NULL;
	CHECK_INT(ferry_plan_simple(&p, ctx, "demo:10", "sqlite::memory:"), FERRY_EUSAGE);
	CHECK_HAS(ferry_errmsg(ctx), "unknown scheme \"demo\"");
	CHECK(p == NULL);

	/* Registration checks the mandatory callbacks of an engine from outside too. */
	ferry_engine broken = demo_engine;
	ferry_engine_read read = *demo_engine.read;
	read.reader_next = NULL;
	broken.read = &read;
	CHECK_INT(ferry_engine_register(ctx, &broken), FERRY_EUSAGE);
	CHECK_HAS(ferry_errmsg(ctx), "reader_next is missing");

	CHECK_INT(ferry_engine_register(ctx, &demo_engine), 0);
	CHECK_INT(ferry_plan_simple(&p, ctx, "demo:10", "sqlite::memory:"), 0);
	ferry_plan_free(p);
}

static void test_copy_and_verify(ferry_ctx *ctx, const char *dir)
{
	char db[512], target[600];
	snprintf(db, sizeof(db), "%s/out.db", dir);
	snprintf(target, sizeof(target), "sqlite:%s", db);
	ferry_plan *p = NULL;
	if (!CHECK_INT(ferry_plan_simple(&p, ctx, "demo:1000", target), 0))
		return;

	/* Four chunks over two readers, which join the demo's snapshot. */
	ferry_copy_options o = FERRY_COPY_OPTIONS_INIT;
	o.chunk_rows = 300;
	o.threads = 2;
	ferry_summary *sum = NULL;
	int rc = ferry_copy(&sum, ctx, p, &o);
	if (!CHECK_INT(rc, 0))
		fprintf(stderr, "    %s\n", ferry_errmsg(ctx));
	ferry_table_stats ts;
	if (CHECK(sum && ferry_summary_count(sum) == 1) && CHECK_INT(ferry_summary_table(&ts, sum, 0), 0)) {
		CHECK_STR(ts.target, "items");
		CHECK_INT(ts.rows_read, 1000);
		CHECK_INT(ts.rows_written, 1000);
		CHECK_INT(ts.rows_rejected, 0);
		CHECK_INT(ts.chunks, 4);
	}
	ferry_summary_free(sum);

	/* What SQLite holds, read by SQLite itself. */
	CHECK_INT(query_int(db, "SELECT count(*) FROM items"), 1000);
	CHECK_INT(query_int(db, "SELECT sum(id) FROM items"), 500500);
	CHECK_INT(query_int(db, "SELECT count(name) FROM items"), 1000 - 1000 / 7);
	CHECK_INT(query_int(db, "SELECT count(*) FROM items WHERE name = 'item ' || id"), 1000 - 1000 / 7);
	CHECK_INT(query_int(db, "SELECT count(*) FROM items WHERE price = id / 4.0 AND typeof(price) = 'real'"), 1000);
	/* The demo engine declares no affinity (flags 0): its floats get SQLite's exact type. */
	char *decl = query_text(db, "SELECT type FROM pragma_table_info('items') WHERE name = 'price'");
	CHECK_STR(decl, "FLOAT8_BLOB");
	free(decl);

	/* Every row compared, through both engines' readers. */
	ferry_verify_options vo = FERRY_VERIFY_OPTIONS_INIT;
	vo.full = 1;
	ferry_verify_report *r = NULL;
	rc = ferry_verify(&r, ctx, p, &vo);
	if (!CHECK_INT(rc, 0))
		fprintf(stderr, "    %s\n", ferry_errmsg(ctx));
	ferry_verify_table vt;
	if (CHECK(r && ferry_verify_report_ok(r)) && CHECK_INT(ferry_verify_report_table(&vt, r, 0), 0)) {
		CHECK_INT(vt.rows_expected, 1000);
		CHECK_INT(vt.rows_target, 1000);
		CHECK_INT(vt.compared, 1000);
		CHECK_INT(vt.missing + vt.extra + vt.different, 0);
	}
	ferry_verify_report_free(r);
	ferry_plan_free(p);
}

/* The engine's own refusals reach the caller as one-line errors. */
static void test_refusals(ferry_ctx *ctx, const char *dir)
{
	char src[600];
	snprintf(src, sizeof(src), "sqlite:%s/out.db", dir);
	ferry_plan *p = NULL;
	ferry_summary *sum = NULL;
	if (CHECK_INT(ferry_plan_simple(&p, ctx, src, "demo:5"), 0)) {
		CHECK(ferry_copy(&sum, ctx, p, NULL) < 0);
		CHECK_HAS(ferry_errmsg(ctx), "a demo database is read-only");
		ferry_summary_free(sum);
		ferry_plan_free(p);
	}
	sum = NULL;
	if (CHECK_INT(ferry_plan_simple(&p, ctx, "demo:x", "sqlite::memory:"), 0)) {
		CHECK_INT(ferry_copy(&sum, ctx, p, NULL), FERRY_EUSAGE);
		CHECK_HAS(ferry_errmsg(ctx), "no row count in \"demo:x\"");
		ferry_summary_free(sum);
		ferry_plan_free(p);
	}
}

int main(void)
{
	char dir[] = "/tmp/ferry-ext-XXXXXX";
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	ferry_ctx *ctx = NULL;
	if (!CHECK_INT(ferry_ctx_new(&ctx), 0))
		return check_summary();
	test_claim(ctx);
	test_copy_and_verify(ctx, dir);
	test_refusals(ctx, dir);
	ferry_ctx_free(ctx);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return check_summary();
}
