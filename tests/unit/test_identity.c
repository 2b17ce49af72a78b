/* test_identity.c — one run however it is spelled (issue #17): the canonical address of a
 * database (SQLite paths and symlinks, PostgreSQL URLs and conninfo strings), and a run an
 * earlier ferry started under the identity it gave the plan (its bytes) resuming. */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "ferry_int.h"
#include "check.h"

static char dir[256];

static char *at(const char *name)
{
	return ferry__sprintf("%s/%s", dir, name);
}

static char *ident(const char *url)
{
	char *out = NULL;
	ferry_err err = {0};
	if (ferry__url_identity(&out, NULL, url, &err) != 0) {
		fprintf(stderr, "identity of %s: %s\n", url, err.msg);
		return NULL;
	}
	return out;
}

/* Every spelling in the list names the same database as the first. */
static void same(const char *const *urls, size_t n)
{
	char *first = ident(urls[0]);
	CHECK(first != NULL);
	for (size_t i = 1; first && i < n; i++) {
		char *o = ident(urls[i]);
		if (!CHECK_STR(o, first))
			fprintf(stderr, "    spelling: %s\n", urls[i]);
		free(o);
	}
	free(first);
}

static void differ(const char *a, const char *b)
{
	char *x = ident(a), *y = ident(b);
	CHECK(x && y && strcmp(x, y) != 0);
	free(x);
	free(y);
}

static void test_sqlite(void)
{
	char *db = at("t.db"), *link = at("link.db"), *sub = at("sub");
	FILE *f = fopen(db, "w");
	if (f)
		fclose(f);
	CHECK(mkdir(sub, 0700) == 0);
	CHECK(symlink(db, link) == 0);
	char cwd[512];
	CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
	CHECK(chdir(dir) == 0);
	char *abs = ferry__sprintf("sqlite:%s", db), *dotdot = ferry__sprintf("%s/../t.db", sub);
	const char *const urls[] = {"t.db", "./t.db", "sqlite:t.db", "sqlite:./sub/../t.db", abs, dotdot,
	                            "link.db", "sqlite://t.db"};
	same(urls, FERRY_ARRAY_LEN(urls));
	/* A file that does not exist yet (a target ferry creates) too. */
	const char *const fresh[] = {"new.db", "./sub/../new.db", "sqlite:new.db"};
	same(fresh, FERRY_ARRAY_LEN(fresh));
	differ("t.db", "new.db");
	char *m = ident(":memory:");
	CHECK_STR(m, "sqlite::memory:");
	free(m);
	CHECK(chdir(cwd) == 0);
	free(abs);
	free(dotdot);
	free(db);
	free(link);
	free(sub);
}

static void test_postgres(void)
{
	/* No server is needed: the address is read, not connected to. */
	const char *const urls[] = {
		"postgresql://ferry@db.example:55433/shop",
		"postgresql://ferry@db.example/shop?port=55433",
		"postgres://ferry:secret@DB.example:55433/shop",
		"host=db.example port=55433 dbname=shop user=ferry",
		"host=db.example port=55433 dbname=shop user=ferry password='other' connect_timeout=5",
		"postgresql:///shop?host=db.example&port=55433&user=ferry&application_name=x",
	};
	same(urls, FERRY_ARRAY_LEN(urls));
	differ("postgresql://ferry@db.example:55433/shop", "postgresql://ferry@db.example:55434/shop");
	differ("postgresql://ferry@db.example:55433/shop", "postgresql://ferry@db.example:55433/shop2");
	differ("postgresql://ferry@db.example:55433/shop", "postgresql://other@db.example:55433/shop");
	/* The database named after the user when none is given, as libpq does. */
	const char *const bare[] = {"postgresql://ferry@db.example:55433", "postgresql://ferry@db.example:55433/ferry"};
	same(bare, FERRY_ARRAY_LEN(bare));
	char *s = ident("postgresql://ferry:secret@db.example:55433/shop");
	CHECK(s && !strstr(s, "secret"));
	free(s);
}

static void sql(const char *path, const char *text)
{
	sqlite3 *h = NULL;
	char *msg = NULL;
	if (sqlite3_open(path, &h) != SQLITE_OK || sqlite3_exec(h, text, NULL, NULL, &msg) != SQLITE_OK) {
		fprintf(stderr, "%s: %s\n", path, msg ? msg : sqlite3_errmsg(h));
		check_failed++;
	}
	sqlite3_free(msg);
	sqlite3_close(h);
}

static long long one(const char *path, const char *q)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	long long v = -1;
	if (sqlite3_open(path, &h) == SQLITE_OK && sqlite3_prepare_v2(h, q, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(h);
	return v;
}

/* A run an earlier ferry began (its first stage loaded under the identity of the plan's
 * bytes) goes on under that identity: its rows are not refused as another run's. */
static void test_earlier_run(void)
{
	char *src = at("src.db"), *dst = at("dst.db"), *plan_path = at("plan.yaml");
	sql(src, "CREATE TABLE a(id INTEGER PRIMARY KEY, v TEXT);"
	         "CREATE TABLE b(id INTEGER PRIMARY KEY, v TEXT);"
	         "INSERT INTO a VALUES (1, 'x'), (2, 'y'); INSERT INTO b VALUES (1, 'z');");
	FILE *f = fopen(plan_path, "w");
	if (f) {
		fputs("source: src.db\ntarget: dst.db\nstages:\n  - name: one\n  - name: two\n    after: [one]\n"
		      "tables:\n  - table: a\n    stage: one\n  - table: b\n    stage: two\n", f);
		fclose(f);
	}
	ferry_ctx *ctx = NULL;
	ferry_plan *p = NULL;
	CHECK(ferry_ctx_new(&ctx) == 0);
	if (!CHECK(ctx && ferry_plan_load(&p, ctx, plan_path) == 0)) {
		ferry_ctx_free(ctx);
		return;
	}
	CHECK(strcmp(p->run_digest, p->legacy_digest) != 0);
	/* The earlier ferry: its identity was the digest of the bytes. */
	ferry_plan old = *p;
	memcpy(old.run_digest, p->legacy_digest, sizeof(old.run_digest));
	ferry_copy_options o = FERRY_COPY_OPTIONS_INIT;
	o.stage = "one";
	ferry_summary *sum = NULL;
	CHECK(ferry_copy(&sum, ctx, &old, &o) == 0);
	ferry_summary_free(sum);
	sum = NULL;
	/* Today's ferry, the same plan: stage two runs, stage one is not refused. */
	int rc = ferry_copy(&sum, ctx, p, NULL);
	if (!CHECK(rc == 0))
		fprintf(stderr, "    %s\n", ferry_errmsg(ctx));
	ferry_summary_free(sum);
	CHECK(one(dst, "SELECT count(*) FROM a") == 2);
	CHECK(one(dst, "SELECT count(*) FROM b") == 1);
	char *q = ferry__sprintf("SELECT count(*) FROM ferry_history WHERE kind = 'data' AND run_id = '%s'",
	                         p->legacy_digest);
	CHECK(one(dst, q) == 1);
	free(q);
	CHECK(one(dst, "SELECT count(DISTINCT run_id) FROM ferry_progress") == 1);
	/* And a third time: finished, nothing to do. */
	sum = NULL;
	CHECK(ferry_copy(&sum, ctx, p, NULL) == 0);
	CHECK(sum && ferry_summary_was_complete(sum));
	ferry_summary_free(sum);
	ferry_plan_free(p);
	ferry_ctx_free(ctx);
	free(src);
	free(dst);
	free(plan_path);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/ferry-identity-XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	test_sqlite();
	test_postgres();
	test_earlier_run();
	char *cmd = ferry__sprintf("rm -rf '%s'", dir);
	if (cmd && system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	free(cmd);
	return check_summary();
}
