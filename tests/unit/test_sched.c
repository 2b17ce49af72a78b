/* test_sched.c — the scheduler driven by a synthetic stream: items that arrive over time
 * (the source is sometimes empty), are read by two readers in any order, commit strictly in
 * order with their stream position in the same transaction, and end when the source says
 * so, or at an interrupt, with rows and position agreeing. */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"
#include "pipeline/sched.h"
#include "pipeline/state.h"

static char dir[256];

/* A stream of n items; item i (position 100 + i) carries rows i*10 .. i*10 + 2. Every third
 * ask finds nothing ready, as a change stream waiting for commits would. */
typedef struct synth {
	ferry_work *items;
	size_t n, next, asks;
	job *j;
	ferry_ctx *ctx;
	size_t interrupt_at;      /* > 0: interrupt once this many items were handed out */
	int *read_pos;            /* per item: rows handed out so far */
} synth;

static int synth_next(void *ud, ferry_work **out, int *done, int timeout_ms, ferry_err *err)
{
	(void)err;
	synth *s = ud;
	*out = NULL;
	*done = 0;
	if (s->interrupt_at && s->next == s->interrupt_at)
		ferry_interrupt(s->ctx);
	if (++s->asks % 3 == 0) {
		usleep((useconds_t)(timeout_ms > 5 ? 5 : timeout_ms) * 1000);
		return 0;
	}
	if (s->next == s->n) {
		*done = 1;
		return 0;
	}
	*out = &s->items[s->next++];
	return 0;
}

static int synth_read(void *ud, ferry_work *w, ferry_batch *b, int *eof, ferry_err *err)
{
	(void)err;
	synth *s = ud;
	size_t i = (size_t)(w - s->items);
	/* Two batches per item, so a reader hands a ring more than once. */
	int from = s->read_pos[i], to = from == 0 ? 2 : 3;
	for (int r = from; r < to; r++) {
		ferry_value *v = ferry_batch_add_row(b);
		v[0].type = FERRY_INT;
		v[0].v.i = (int64_t)i * 10 + r;
		v[1].type = FERRY_INT;
		v[1].v.i = (int64_t)w->pos;
	}
	s->read_pos[i] = to;
	*eof = to == 3;
	return 0;
}

static long long query_int(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st = NULL;
	long long v = -1;
	sqlite3_open(path, &db);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	else
		fprintf(stderr, "query failed: %s: %s\n", sql, sqlite3_errmsg(db));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static char *tcols[] = {"id", "pos"};
static ferry_type ttypes[] = {FERRY_INT, FERRY_INT};
static uint8_t texact[] = {0, 0};
static size_t map[] = {0, 1};

/* Run a stream of n items into a fresh target; interrupt_at > 0 interrupts it there. */
static int run_stream(const char *path, size_t n, size_t interrupt_at, ferry_err *err)
{
	const ferry_engine *E = &ferry__sqlite_engine;
	ferry_ctx *ctx = NULL;
	if (ferry_ctx_new(&ctx) != 0)
		return FERRY_ENOMEM;
	ferry_conn *c = NULL;
	int rc = E->core->connect(&c, path, FERRY_CONNECT_CREATE, err);
	if (rc == 0)
		rc = E->core->exec(c, "CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, pos INTEGER NOT NULL)", err);
	if (rc == 0)
		rc = E->core->begin(c, err);
	if (rc == 0)
		rc = ferry__state_init(E, c, err);
	if (rc == 0)
		rc = E->core->commit(c, err);
	if (c)
		E->core->close(c);
	job j;
	memset(&j, 0, sizeof(j));
	j.stage = "sync";
	j.name = (char *)"sync/s.t->t";
	j.source_name = "s";
	j.src_table = (char *)"t";
	j.dst_table = (char *)"t";
	j.nexprs = j.ntcols = 2;
	j.tcols = tcols;
	j.ttypes = ttypes;
	j.texact = texact;
	j.map = map;
	jobset js;
	memset(&js, 0, sizeof(js));
	js.jobs = &j;
	js.njobs = 1;
	ferry_plan plan;
	memset(&plan, 0, sizeof(plan));
	plan.target = (char *)path;
	synth s;
	memset(&s, 0, sizeof(s));
	s.items = calloc(n, sizeof(ferry_work));
	s.read_pos = calloc(n, sizeof(int));
	s.n = n;
	s.j = &j;
	s.ctx = ctx;
	s.interrupt_at = interrupt_at;
	for (size_t i = 0; i < n; i++) {
		s.items[i].j = &j;
		s.items[i].pos = 100 + i;
		s.items[i].source = 0;
	}
	ferry_work_source src = {.ud = &s, .flags = FERRY_WORK_IN_ORDER, .next = synth_next,
	                         .read = synth_read};
	ferry_sched_config cfg = {.ctx = ctx, .plan = &plan, .run_id = "stream-run", .teng = E,
	                          .js = &js, .stage = "sync", .nreaders = 2, .nwriters = 1};
	if (rc == 0)
		rc = ferry__sched_run(&cfg, &src, err);
	CHECK_INT(j.chunks_done, query_int(path, "SELECT count(*) FROM t") / 3);
	free(s.items);
	free(s.read_pos);
	ferry_ctx_free(ctx);
	return rc;
}

static void test_stream_ends(void)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/stream.db", dir);
	ferry_err err = {0};
	OK(run_stream(path, 40, 0, &err));
	CHECK_INT(query_int(path, "SELECT count(*) FROM t"), 120);
	CHECK_INT(query_int(path, "SELECT pos FROM ferry_positions WHERE run_id = 'stream-run' AND source = 0"), 139);
	/* In order: each item's rows carry its position, and the positions rise with the ids. */
	CHECK_INT(query_int(path, "SELECT count(*) FROM t WHERE pos <> 100 + id / 10"), 0);
	CHECK_INT(query_int(path, "SELECT count(*) FROM ferry_progress"), 0);
}

static void test_stream_interrupted(void)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/stream-int.db", dir);
	ferry_err err = {0};
	CHECK_INT(run_stream(path, 1000, 25, &err), FERRY_EINTR);
	long long rows = query_int(path, "SELECT count(*) FROM t");
	long long pos = query_int(path, "SELECT coalesce(max(pos), 0) FROM ferry_positions");
	/* Stopped early, and what committed is a prefix whose last item is the position. */
	CHECK(rows < 3000 && rows % 3 == 0);
	CHECK_INT(rows == 0 ? 0 : pos, rows == 0 ? 0 : 100 + rows / 3 - 1);
	CHECK_INT(query_int(path, "SELECT count(*) FROM t WHERE id / 10 >= (SELECT count(*) FROM t) / 3"), 0);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/ferry-test-sched-XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_stream_ends();
	test_stream_interrupted();
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return check_summary();
}
