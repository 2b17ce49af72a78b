/* state.c — a run's bookkeeping in its target, once for every engine: tables made with
 * portable DDL through exec, rows written with exec_params ($1, $2, ...) and read through
 * the engine's own reader, as src/history/table.c keeps ferry_history. An engine that keeps
 * its record elsewhere (a label: its manifest and chunk files) supplies e->state instead.
 *
 * Layout (the same on every engine; SQLite reads the types by affinity):
 *   ferry_runs(run_id, flag, set_at)                         a set flag is a row
 *   ferry_progress(run_id, job, chunk, job_name, target, lo, hi, est_rows, done,
 *                  rows_read, rows_written, rows_rejected, rows_skipped, done_at)
 *   ferry_rejects(run_id, job, chunk, table_name, row_key, reason)   in insertion order
 *   ferry_positions(run_id, source, pos, updated_at)        pos: uint64 as int64 bits
 *   ferry_leases(run_id, holder, epoch, heartbeat, expires, since, expires_ms, ttl_ms,
 *                beats, state, kind, plan)    one holder per run (lease.c takes, renews and
 *       fences by epoch; times as ISO text for people and expires_ms for arithmetic)
 *   ferry_claims(run_id, job, chunk, holder)   --join: a chunk is claimed by locking its row
 *       (join.c) */
#include <stdlib.h>
#include <string.h>
#include "state.h"

#define OOM(err) ferry_err_set((err), FERRY_ENOMEM, "out of memory")

/* The lease table. Its first layout (five columns) was created but never written: a
 * target that has it gets this one instead (state_init drops the empty old table). */
#define LEASES_DDL \
	"CREATE TABLE IF NOT EXISTS ferry_leases(run_id text NOT NULL PRIMARY KEY, " \
	"holder text NOT NULL, epoch bigint NOT NULL, heartbeat text NOT NULL, " \
	"expires text NOT NULL, since text NOT NULL, expires_ms bigint NOT NULL, " \
	"ttl_ms bigint NOT NULL, beats bigint NOT NULL, state text NOT NULL, " \
	"kind text NOT NULL, plan text)"

/* bytea: PostgreSQL's binary type; to SQLite a name with NUMERIC affinity, which stores a
 * blob as it is (files made before this kept BLOB: the same values). */
static const char *const ddl[] = {
	"CREATE TABLE IF NOT EXISTS ferry_runs(run_id text NOT NULL, flag text NOT NULL, "
	"set_at text NOT NULL, PRIMARY KEY (run_id, flag))",
	"CREATE TABLE IF NOT EXISTS ferry_progress(run_id text NOT NULL, job bigint NOT NULL, "
	"chunk bigint NOT NULL, job_name text NOT NULL, target text, lo bytea, hi bytea, "
	"est_rows bigint NOT NULL, done integer NOT NULL DEFAULT 0, "
	"rows_read bigint NOT NULL DEFAULT 0, rows_written bigint NOT NULL DEFAULT 0, "
	"rows_rejected bigint NOT NULL DEFAULT 0, rows_skipped bigint NOT NULL DEFAULT 0, "
	"done_at text, PRIMARY KEY (run_id, job, chunk))",
	"CREATE TABLE IF NOT EXISTS ferry_rejects(run_id text NOT NULL, job bigint NOT NULL, "
	"chunk bigint NOT NULL, table_name text NOT NULL, row_key text, reason text NOT NULL, "
	"row_values text)",
	"CREATE TABLE IF NOT EXISTS ferry_positions(run_id text NOT NULL, source bigint NOT NULL, "
	"pos bigint NOT NULL, updated_at text NOT NULL, PRIMARY KEY (run_id, source))",
	LEASES_DDL,
	"CREATE TABLE IF NOT EXISTS ferry_claims(run_id text NOT NULL, job bigint NOT NULL, "
	"chunk bigint NOT NULL, holder text, PRIMARY KEY (run_id, job, chunk))",
};

static ferry_value v_text(const char *s)
{
	ferry_value v;
	memset(&v, 0, sizeof(v));
	v.type = s ? FERRY_TEXT : FERRY_NULL;
	v.v.s = s;
	v.len = s ? (uint32_t)strlen(s) : 0;
	return v;
}

static ferry_value v_int(int64_t i)
{
	ferry_value v;
	memset(&v, 0, sizeof(v));
	v.type = FERRY_INT;
	v.v.i = i;
	return v;
}

static ferry_value v_blob(const uint8_t *p, size_t n)
{
	ferry_value v;
	memset(&v, 0, sizeof(v));
	if (!p || !n)
		return v; /* FERRY_NULL: unbounded */
	v.type = FERRY_BLOB;
	v.v.b = p;
	v.len = (uint32_t)n;
	return v;
}

static int64_t as_int(const ferry_value *v)
{
	return v->type == FERRY_INT || v->type == FERRY_BOOL ? v->v.i : 0;
}

/* A text cell as a C string in buf (cap bytes); NULL for SQL NULL. */
static const char *as_text(const ferry_value *v, char *buf, size_t cap)
{
	if (v->type == FERRY_NULL)
		return NULL;
	size_t n = v->len < cap - 1 ? v->len : cap - 1;
	memcpy(buf, v->v.s ? v->v.s : "", n);
	buf[n] = '\0';
	return buf;
}

/* ---- the generic read ------------------------------------------------------------- */

typedef int (*row_cb)(void *ud, const ferry_value *row);

typedef struct query {
	const char *table;
	const char *const *exprs;
	size_t nexprs;
	const char *filter;          /* with `?` for params, in order */
	const ferry_value *params;
	size_t nparams;
	const char *const *order;    /* ORDER BY these columns; NULL: as stored */
	size_t norder;
} query;

/* Visit every row of q; a missing table has none. A non-zero cb return stops the visit
 * (and is returned) but the read still goes to its end: a read abandoned half-way costs
 * PostgreSQL's engine its session. */
static int read_rows(const ferry_engine *e, ferry_conn *c, const query *q, row_cb cb, void *ud,
                     ferry_err *err)
{
	ferry_read_spec spec;
	memset(&spec, 0, sizeof(spec));
	spec.table = q->table;
	spec.nexprs = q->nexprs;
	spec.exprs = q->exprs;
	spec.filter = q->filter;
	spec.nkeys = q->norder;
	spec.keys = q->order;
	spec.nparams = q->nparams;
	spec.params = q->params;
	ferry_reader *r = NULL;
	int rc = e->read->reader_open(&r, c, &spec, err);
	if (rc == FERRY_ENOTFOUND) {
		memset(err, 0, sizeof(*err));
		return 0;
	}
	if (rc)
		return rc;
	ferry_batch *b = ferry__batch_new(q->nexprs, 256);
	int eof = 0, stop = 0;
	if (!b)
		rc = OOM(err);
	while (rc == 0 && !eof) {
		ferry__batch_reset(b);
		rc = e->read->reader_next(r, b, &eof, err);
		for (size_t i = 0; rc == 0 && !stop && i < ferry_batch_nrows(b); i++)
			stop = cb(ud, ferry_batch_crow(b, i));
	}
	e->read->reader_close(r);
	ferry__batch_free(b);
	return rc ? rc : stop;
}

int ferry__state_query(const ferry_engine *e, ferry_conn *c, const char *table,
                       const char *const *exprs, size_t nexprs, const char *filter,
                       const ferry_value *params, size_t nparams, const char *const *order,
                       size_t norder, int (*cb)(void *ud, const ferry_value *row), void *ud,
                       ferry_err *err)
{
	query q = {.table = table, .exprs = exprs, .nexprs = nexprs, .filter = filter,
	           .params = params, .nparams = nparams, .order = order, .norder = norder};
	return read_rows(e, c, &q, cb, ud, err);
}

static int need_sql(const ferry_engine *e, const char *what, ferry_err *err)
{
	if (e->core->exec_params)
		return 0;
	return ferry_err_set(err, FERRY_EUSAGE, "cannot keep %s in engine \"%s\": it has no exec_params",
	                     what, e->name);
}

/* ---- init ------------------------------------------------------------------------- */

static int count_row(void *ud, const ferry_value *row)
{
	(void)row;
	(*(int64_t *)ud)++;
	return 0;
}

/* Does table have column col? Files made before a column was written on every engine lack
 * it. Asked under a savepoint: a failed read spoils PostgreSQL's transaction. */
static int has_column(const ferry_engine *e, ferry_conn *c, const char *table, const char *col,
                      int *out, ferry_err *err)
{
	*out = 0;
	int rc = e->core->exec(c, "SAVEPOINT ferry_state_probe", err);
	if (rc)
		return rc;
	const char *const cols[] = {col};
	query q = {.table = table, .exprs = cols, .nexprs = 1, .filter = "1 = 0"};
	int64_t n = 0;
	ferry_err e2 = {0};
	int got = read_rows(e, c, &q, count_row, &n, &e2);
	if (got == FERRY_ENOMEM) {
		e->core->exec(c, "ROLLBACK TO SAVEPOINT ferry_state_probe", &(ferry_err){0});
		e->core->exec(c, "RELEASE SAVEPOINT ferry_state_probe", &(ferry_err){0});
		return ferry__err_copy(err, &e2);
	}
	*out = got == 0;
	if (got)
		rc = e->core->exec(c, "ROLLBACK TO SAVEPOINT ferry_state_probe", err);
	if (rc == 0)
		rc = e->core->exec(c, "RELEASE SAVEPOINT ferry_state_probe", err);
	return rc;
}

int ferry__state_init(const ferry_engine *e, ferry_conn *c, ferry_err *err)
{
	if (e->state)
		return e->state->init(c, err);
	int rc = need_sql(e, "a run's state", err);
	for (size_t i = 0; rc == 0 && i < FERRY_ARRAY_LEN(ddl); i++)
		rc = e->core->exec(c, ddl[i], err);
	int have = 0;
	if (rc == 0)
		rc = has_column(e, c, "ferry_progress", "target", &have, err);
	/* SQLite files of earlier versions: the column every engine now writes. */
	if (rc == 0 && !have)
		rc = e->core->exec(c, "ALTER TABLE ferry_progress ADD COLUMN target text", err);
	/* The lease table's first layout was never written to: replaced, not altered. */
	if (rc == 0)
		rc = has_column(e, c, "ferry_leases", "beats", &have, err);
	if (rc == 0 && !have)
		rc = e->core->exec(c, "DROP TABLE ferry_leases", err);
	if (rc == 0 && !have)
		rc = e->core->exec(c, LEASES_DDL, err);
	if (rc == 0)
		rc = has_column(e, c, "ferry_rejects", "row_values", &have, err);
	if (rc == 0 && !have)
		rc = e->core->exec(c, "ALTER TABLE ferry_rejects ADD COLUMN row_values text", err);
	if (rc) {
		char keep[sizeof(err->msg)];
		memcpy(keep, err->msg, sizeof(keep));
		ferry_err_set(err, rc, "could not create ferry's state tables: %.900s", keep);
	}
	return rc;
}

/* ---- chunks ----------------------------------------------------------------------- */

typedef struct load_ctx {
	ferry_chunk_cb cb;
	void *ud;
} load_ctx;

static int load_row(void *ud, const ferry_value *v)
{
	load_ctx *lc = ud;
	ferry_chunk_rec rec;
	char name[1024];
	memset(&rec, 0, sizeof(rec));
	rec.job = as_int(&v[0]);
	rec.chunk = as_int(&v[1]);
	rec.job_name = as_text(&v[2], name, sizeof(name));
	if (v[3].type != FERRY_NULL && v[3].len) {
		rec.lo = v[3].v.b;
		rec.lo_len = v[3].len;
	}
	if (v[4].type != FERRY_NULL && v[4].len) {
		rec.hi = v[4].v.b;
		rec.hi_len = v[4].len;
	}
	rec.est_rows = as_int(&v[5]);
	rec.done = as_int(&v[6]) != 0;
	rec.rows_read = as_int(&v[7]);
	rec.rows_written = as_int(&v[8]);
	rec.rows_rejected = as_int(&v[9]);
	rec.rows_skipped = as_int(&v[10]);
	return lc->cb(lc->ud, &rec);
}

int ferry__state_load(const ferry_engine *e, ferry_conn *c, const char *run_id,
                      ferry_chunk_cb cb, void *ud, ferry_err *err)
{
	if (e->state)
		return e->state->load(c, run_id, cb, ud, err);
	static const char *const cols[] = {"job", "chunk", "job_name", "lo", "hi", "est_rows",
	                                   "done", "rows_read", "rows_written", "rows_rejected",
	                                   "rows_skipped"};
	static const char *const order[] = {"job", "chunk"};
	ferry_value id = v_text(run_id);
	query q = {.table = "ferry_progress", .exprs = cols, .nexprs = FERRY_ARRAY_LEN(cols),
	           .filter = "run_id = ?", .params = &id, .nparams = 1,
	           .order = order, .norder = 2};
	load_ctx lc = {cb, ud};
	return read_rows(e, c, &q, load_row, &lc, err);
}

int ferry__state_add_chunks(const ferry_engine *e, ferry_conn *c, const char *run_id,
                            const ferry_chunk_rec *recs, size_t n, ferry_err *err)
{
	if (e->state)
		return e->state->add_chunks(c, run_id, recs, n, err);
	static const char sql[] =
		"INSERT INTO ferry_progress(run_id, job, chunk, job_name, lo, hi, est_rows, done, "
		"rows_read, rows_written, rows_rejected, rows_skipped, target) "
		"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";
	int rc = need_sql(e, "a run's state", err);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		const ferry_chunk_rec *r = &recs[i];
		ferry_value p[13] = {
			v_text(run_id), v_int(r->job), v_int(r->chunk),
			v_text(r->job_name ? r->job_name : ""), v_blob(r->lo, r->lo_len),
			v_blob(r->hi, r->hi_len), v_int(r->est_rows), v_int(r->done != 0),
			v_int(r->rows_read), v_int(r->rows_written), v_int(r->rows_rejected),
			v_int(r->rows_skipped), v_text(r->table),
		};
		rc = e->core->exec_params(c, sql, 13, p, NULL, err);
	}
	return rc;
}

int ferry__state_chunk_done(const ferry_engine *e, ferry_conn *c, const char *run_id,
                            const ferry_chunk_rec *rec, int *done_elsewhere, ferry_err *err)
{
	if (done_elsewhere)
		*done_elsewhere = 0;
	if (e->state)
		return e->state->chunk_done(c, run_id, rec, err);
	/* done = 0: a chunk is recorded done exactly once. */
	static const char sql[] =
		"UPDATE ferry_progress SET done = 1, rows_read = $4, rows_written = $5, "
		"rows_rejected = $6, rows_skipped = $7, done_at = $8 "
		"WHERE run_id = $1 AND job = $2 AND chunk = $3 AND done = 0";
	int rc = need_sql(e, "a run's state", err);
	if (rc)
		return rc;
	char now[32];
	ferry__utc_iso(now);
	ferry_value p[8] = {v_text(run_id), v_int(rec->job), v_int(rec->chunk),
	                    v_int(rec->rows_read), v_int(rec->rows_written),
	                    v_int(rec->rows_rejected), v_int(rec->rows_skipped), v_text(now)};
	int64_t changed = 0;
	rc = e->core->exec_params(c, sql, 8, p, &changed, err);
	if (rc) {
		char keep[sizeof(err->msg)];
		memcpy(keep, err->msg, sizeof(keep));
		return ferry_err_set(err, rc, "could not record chunk %lld of table \"%s\" as done: %.800s",
		                     (long long)rec->chunk,
		                     rec->table ? rec->table : rec->job_name ? rec->job_name : "?", keep);
	}
	if (changed != 1 && done_elsewhere) {
		*done_elsewhere = 1;
		return 0;
	}
	if (changed != 1)
		return ferry_err_set(err, FERRY_ECORRUPT,
		                     "could not mark chunk %lld of job %lld done: it is not a pending "
		                     "chunk of run %s", (long long)rec->chunk, (long long)rec->job, run_id);
	return 0;
}

/* ---- another run's rows --------------------------------------------------------- */

typedef struct writer_ctx {
	char *run_id;
} writer_ctx;

static int first_writer(void *ud, const ferry_value *v)
{
	writer_ctx *w = ud;
	char id[64];
	if (w->run_id || !as_text(&v[0], id, sizeof(id)))
		return 0;
	w->run_id = ferry__strdup(id);
	return w->run_id ? 0 : FERRY_ENOMEM;
}

int ferry__state_table_writer(const ferry_engine *e, ferry_conn *c, const char *table,
                              const char *not_run, char **run_id, ferry_err *err)
{
	*run_id = NULL;
	if (e->state)
		return 0;
	static const char *const cols[] = {"run_id"};
	ferry_value p[2] = {v_text(table), v_text(not_run)};
	query q = {.table = "ferry_progress", .exprs = cols, .nexprs = 1,
	           .filter = "target = ? AND run_id <> ? AND done = 1", .params = p, .nparams = 2};
	writer_ctx w = {NULL};
	int rc = read_rows(e, c, &q, first_writer, &w, err);
	if (rc == FERRY_ENOMEM && !err->code)
		rc = OOM(err);
	if (rc) {
		free(w.run_id);
		return rc;
	}
	*run_id = w.run_id;
	return 0;
}

/* ---- rejects ---------------------------------------------------------------------- */

int ferry__state_reject(const ferry_engine *e, ferry_conn *c, const char *run_id, int64_t job,
                        int64_t chunk, const char *table, const char *key, const char *reason,
                        ferry_err *err)
{
	return ferry__state_reject_row(e, c, run_id, job, chunk, table, key, NULL, reason, err);
}

int ferry__state_reject_row(const ferry_engine *e, ferry_conn *c, const char *run_id, int64_t job,
                            int64_t chunk, const char *table, const char *key, const char *values,
                            const char *reason, ferry_err *err)
{
	/* (An engine with its own record keeps the key and the reason.) */
	if (e->state)
		return e->state->reject(c, run_id, job, chunk, table, key, reason, err);
	static const char sql[] =
		"INSERT INTO ferry_rejects(run_id, job, chunk, table_name, row_key, reason, row_values) "
		"VALUES ($1, $2, $3, $4, $5, $6, $7)";
	int rc = need_sql(e, "a run's state", err);
	if (rc)
		return rc;
	ferry_value p[7] = {v_text(run_id), v_int(job), v_int(chunk), v_text(table ? table : ""),
	                    v_text(key), v_text(reason ? reason : ""), v_text(values)};
	return e->core->exec_params(c, sql, 7, p, NULL, err);
}

typedef struct rejects_ctx {
	int (*cb)(void *ud, const char *table, const char *key, const char *reason);
	int (*cb4)(void *ud, const char *table, const char *key, const char *values, const char *reason);
	void *ud;
	ferry_err *err;
} rejects_ctx;

/* Row cells are not NUL-terminated: copied (a reason or key may be long). */
static int rejects_row(void *ud, const ferry_value *v)
{
	rejects_ctx *rc = ud;
	char *s[4] = {NULL, NULL, NULL, NULL};
	for (int i = 0; i < 4; i++)
		if (v[i].type != FERRY_NULL && !(s[i] = ferry__strndup(v[i].v.s ? v[i].v.s : "", v[i].len))) {
			for (int k = 0; k < i; k++)
				free(s[k]);
			return OOM(rc->err);
		}
	int stop = rc->cb4 ? rc->cb4(rc->ud, s[0] ? s[0] : "", s[1], s[3], s[2] ? s[2] : "")
	                   : rc->cb(rc->ud, s[0] ? s[0] : "", s[1], s[2] ? s[2] : "");
	for (int i = 0; i < 4; i++)
		free(s[i]);
	return stop;
}

int ferry__state_rejects(const ferry_engine *e, ferry_conn *c, const char *run_id,
                         int (*cb)(void *ud, const char *table, const char *key,
                                   const char *reason),
                         void *ud, ferry_err *err)
{
	if (e->state)
		return e->state->rejects(c, run_id, cb, ud, err);
	static const char *const cols[] = {"table_name", "row_key", "reason", "row_values"};
	ferry_value id = v_text(run_id);
	query q = {.table = "ferry_rejects", .exprs = cols, .nexprs = 4, .filter = "run_id = ?",
	           .params = &id, .nparams = 1};
	rejects_ctx rc = {cb, NULL, ud, err};
	return read_rows(e, c, &q, rejects_row, &rc, err);
}

typedef struct rejects3 {
	int (*cb)(void *ud, const char *table, const char *key, const char *values, const char *reason);
	void *ud;
} rejects3;

/* An engine with its own record gives no values. */
static int without_values(void *ud, const char *table, const char *key, const char *reason)
{
	rejects3 *r = ud;
	return r->cb(r->ud, table, key, NULL, reason);
}

int ferry__state_reject_rows(const ferry_engine *e, ferry_conn *c, const char *run_id,
                             int (*cb)(void *ud, const char *table, const char *key,
                                       const char *values, const char *reason),
                             void *ud, ferry_err *err)
{
	if (e->state) {
		rejects3 r = {cb, ud};
		return e->state->rejects(c, run_id, without_values, &r, err);
	}
	static const char *const cols[] = {"table_name", "row_key", "reason", "row_values"};
	ferry_value id = v_text(run_id);
	query q = {.table = "ferry_rejects", .exprs = cols, .nexprs = 4, .filter = "run_id = ?",
	           .params = &id, .nparams = 1};
	rejects_ctx rc = {NULL, cb, ud, err};
	return read_rows(e, c, &q, rejects_row, &rc, err);
}

/* ---- flags ------------------------------------------------------------------------ */

int ferry__state_get(const ferry_engine *e, ferry_conn *c, const char *run_id,
                     const char *flag, int *out, ferry_err *err)
{
	*out = 0;
	if (e->state)
		return e->state->get(c, run_id, flag, out, err);
	static const char *const cols[] = {"flag"};
	ferry_value p[2] = {v_text(run_id), v_text(flag)};
	query q = {.table = "ferry_runs", .exprs = cols, .nexprs = 1,
	           .filter = "run_id = ? AND flag = ?", .params = p, .nparams = 2};
	int64_t n = 0;
	int rc = read_rows(e, c, &q, count_row, &n, err);
	*out = rc == 0 && n > 0;
	return rc;
}

int ferry__state_set(const ferry_engine *e, ferry_conn *c, const char *run_id,
                     const char *flag, ferry_err *err)
{
	if (e->state)
		return e->state->set(c, run_id, flag, err);
	/* Set once: a flag already there keeps its first time. Processes of one run (--join)
	 * may set the same flag at once: the conflict, not a check before it, decides. */
	static const char sql[] =
		"INSERT INTO ferry_runs(run_id, flag, set_at) VALUES ($1, $2, $3) "
		"ON CONFLICT (run_id, flag) DO NOTHING";
	int rc = need_sql(e, "a run's state", err);
	if (rc)
		return rc;
	char now[32];
	ferry__utc_iso(now);
	ferry_value p[3] = {v_text(run_id), v_text(flag), v_text(now)};
	return e->core->exec_params(c, sql, 3, p, NULL, err);
}

/* ---- stream positions ------------------------------------------------------------- */

static int no_positions(const ferry_engine *e, ferry_err *err)
{
	return ferry_err_set(err, FERRY_EUSAGE, "cannot keep a stream position in engine \"%s\"",
	                     e->name);
}

typedef struct pos_ctx {
	uint64_t pos;
	int found;
} pos_ctx;

static int pos_row(void *ud, const ferry_value *v)
{
	pos_ctx *pc = ud;
	pc->pos = (uint64_t)as_int(&v[0]);
	pc->found = 1;
	return 0;
}

int ferry__state_position_get(const ferry_engine *e, ferry_conn *c, const char *run_id,
                              size_t source, uint64_t *pos, ferry_err *err)
{
	*pos = 0;
	if (e->state || !e->core->exec_params)
		return no_positions(e, err);
	static const char *const cols[] = {"pos"};
	ferry_value p[2] = {v_text(run_id), v_int((int64_t)source)};
	query q = {.table = "ferry_positions", .exprs = cols, .nexprs = 1,
	           .filter = "run_id = ? AND source = ?", .params = p, .nparams = 2};
	pos_ctx pc = {0, 0};
	int rc = read_rows(e, c, &q, pos_row, &pc, err);
	if (rc == 0)
		*pos = pc.pos;
	return rc;
}

int ferry__state_position_set(const ferry_engine *e, ferry_conn *c, const char *run_id,
                              size_t source, uint64_t pos, ferry_err *err)
{
	if (e->state || !e->core->exec_params)
		return no_positions(e, err);
	if (pos == 0)
		return ferry_err_set(err, FERRY_EUSAGE, "cannot record stream position 0 of run %s", run_id);
	/* An upsert both engines speak: update, else insert. One writer applies a stream, so
	 * nothing inserts the same (run, source) between the two. */
	static const char upd[] =
		"UPDATE ferry_positions SET pos = $3, updated_at = $4 WHERE run_id = $1 AND source = $2";
	static const char ins[] =
		"INSERT INTO ferry_positions(run_id, source, pos, updated_at) VALUES ($1, $2, $3, $4)";
	char now[32];
	ferry__utc_iso(now);
	ferry_value p[4] = {v_text(run_id), v_int((int64_t)source), v_int((int64_t)pos), v_text(now)};
	int64_t changed = 0;
	int rc = e->core->exec_params(c, upd, 4, p, &changed, err);
	if (rc == 0 && changed == 0)
		rc = e->core->exec_params(c, ins, 4, p, NULL, err);
	return rc;
}

int ferry__state_drop_empty(const ferry_engine *e, ferry_conn *c, int with_runs, ferry_err *err)
{
	static const char *const tables[] = {"ferry_positions", "ferry_progress", "ferry_rejects",
	                                     "ferry_leases", "ferry_claims", "ferry_keys", "ferry_conflicts", "ferry_runs"};
	static const char *const one[] = {"1"};
	size_t n = FERRY_ARRAY_LEN(tables) - (with_runs ? 0 : 1);
	for (size_t i = 0; i < n; i++) {
		ferry_read_spec spec = {.table = tables[i], .nexprs = 1, .exprs = one};
		ferry_reader *r = NULL;
		int rc = e->read->reader_open(&r, c, &spec, err);
		if (rc == FERRY_ENOTFOUND) {
			memset(err, 0, sizeof(*err));
			continue;
		}
		if (rc)
			return rc;
		ferry_batch *b = ferry__batch_new(1, 16);
		int eof = 0;
		size_t rows = 0;
		if (!b)
			rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
		while (rc == 0 && !eof) { /* read to the end: an abandoned read costs PostgreSQL its session */
			rc = e->read->reader_next(r, b, &eof, err);
			rows += ferry_batch_nrows(b);
			ferry__batch_reset(b);
		}
		e->read->reader_close(r);
		ferry__batch_free(b);
		if (rc == 0 && rows == 0) {
			ferry_buf sql = FERRY_BUF_INIT;
			ferry_buf_puts(&sql, "DROP TABLE ");
			ferry_buf_ident(&sql, tables[i]);
			rc = sql.failed ? ferry_err_set(err, FERRY_ENOMEM, "out of memory") : e->core->exec(c, sql.data, err);
			ferry_buf_free(&sql);
		}
		if (rc)
			return rc;
	}
	return 0;
}
