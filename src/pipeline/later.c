/* later.c — the rows a plan's `later:` delays (docs/LATER.md): counted after a copy, carried
 * by ferry_backfill while the new version is live, and loaded on demand by ferry_fetch. The
 * backfill is the ordinary pipeline under a run of its own; the fetch reads the named keys
 * through the same jobs. Both write a row only where its key is absent. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include "sched.h"
#include "state.h"

/* *filter (owned, not NULL) narrowed by the range of the keys of j's rows that wait
 * (bounds.c), said as comparisons of the key an index serves: the filter's CASE alone makes
 * the count read every row of the table. Unchanged when there is no such range, or no key
 * name to say it with (a rowid table without an INTEGER PRIMARY KEY). */
static int bound_filter(char **filter, const ferry_source_conn *s, const job *j)
{
	const ferry_table *st = ferry_schema_find(s->schema, j->src_table);
	int64_t lo, hi;
	if ((s->eng->flags & FERRY_ENGINE_LABEL) ||
	    !ferry__jobs_key_range(j, FERRY_LATER_ONLY, st, &lo, &hi))
		return 0;
	const char *key = NULL;
	if (j->nchunk_keys == 1)
		key = j->chunk_keys[0];
	else if (st->has_rowid && st->npk == 1 &&
	         strcasecmp(st->cols[st->pk[0]].decl_type, "INTEGER") == 0)
		key = st->cols[st->pk[0]].name; /* the rowid's alias */
	if (!key)
		return 0;
	char q[600];
	if (s->eng->core->quote_ident(q, sizeof(q), key) >= sizeof(q))
		return 0;
	ferry_buf b = FERRY_BUF_INIT;
	ferry_buf_printf(&b, "(%s)", *filter);
	if (lo != INT64_MIN)
		ferry_buf_printf(&b, " AND %s >= %lld", q, (long long)lo);
	if (hi != INT64_MAX)
		ferry_buf_printf(&b, " AND %s <= %lld", q, (long long)hi);
	if (b.failed)
		return FERRY_ENOMEM;
	char *f = ferry_buf_detach(&b);
	if (!f)
		return FERRY_ENOMEM;
	free(*filter);
	*filter = f;
	return 0;
}

/* One count(*) of job j's rows that wait, in its source s. */
static int count_waiting(const ferry_source_conn *s, const job *j, int64_t *out, ferry_err *err)
{
	const ferry_engine *e = s->eng;
	ferry_conn *c = s->conn;
	char *filter = NULL;
	if (ferry__jobs_later_filter(&filter, FERRY_LATER_ONLY, j->entry) != 0 ||
	    (filter && bound_filter(&filter, s, j) != 0)) {
		free(filter);
		return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	}
	static const char *const cnt[] = {"count(*)"};
	ferry_read_spec spec;
	memset(&spec, 0, sizeof(spec));
	spec.table = j->src_table;
	spec.nexprs = 1;
	spec.exprs = cnt;
	spec.filter = filter;
	ferry_reader *r = NULL;
	int rc = e->read->reader_open(&r, c, &spec, err);
	ferry_batch *b = rc ? NULL : ferry__batch_new(1, 4);
	if (rc == 0 && !b)
		rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	int eof = 0;
	*out = 0;
	while (rc == 0 && !eof) {
		ferry__batch_reset(b);
		rc = e->read->reader_next(r, b, &eof, err);
		if (rc == 0 && ferry_batch_nrows(b) > 0)
			*out = ferry_batch_crow(b, 0)[0].v.i;
	}
	if (r)
		e->read->reader_close(r);
	ferry__batch_free(b);
	free(filter);
	return rc;
}

int ferry__later_count(copy_state *cs)
{
	if (cs->plan->later_mode != FERRY_LATER_NOW)
		return 0;
	for (size_t i = 0; i < cs->js.njobs; i++) {
		job *j = &cs->js.jobs[i];
		if (!j->later || (cs->opts->stage && strcmp(cs->opts->stage, j->stage) != 0))
			continue;
		const ferry_source_conn *s = &cs->sources[j->src];
		int rc = count_waiting(s, j, &j->rows_waiting, &cs->err);
		if (rc)
			return rc;
	}
	return 0;
}

/* Whether plan's backfill has finished, read on the target connection c. */
static int backfill_done(const ferry_engine *e, ferry_conn *c, const ferry_plan *plan, int *done,
                         ferry_err *err)
{
	char bid[33];
	ferry__later_backfill_id(bid, plan);
	*done = 0;
	return ferry__state_get(e, c, bid, "finished", done, err);
}

/* Target table tt's primary key as a capture table (names borrowed from tt). */
static int key_of(ferry_capture_table *out, const char **names, const ferry_table *tt)
{
	if (!tt || tt->npk == 0 || tt->npk > 64)
		return -1;
	for (size_t k = 0; k < tt->npk; k++)
		names[k] = tt->cols[tt->pk[k]].name;
	out->table = tt->name;
	out->nkeys = tt->npk;
	out->keys = names;
	return 0;
}

int ferry__later_track(copy_state *cs)
{
	const ferry_engine *e = cs->teng;
	if (cs->plan->later_mode != FERRY_LATER_NOW || !ferry__later_any(cs->plan) || cs->joiner ||
	    !e->write->later_track || !cs->tschema)
		return 0;
	ferry_capture_table *t = ferry__calloc(cs->js.njobs + 1, sizeof(*t));
	const char **names = ferry__calloc(64 * (cs->js.njobs + 1), sizeof(char *));
	size_t n = 0;
	int rc = t && names ? 0 : ferry_err_set(&cs->err, FERRY_ENOMEM, "out of memory");
	for (size_t i = 0; rc == 0 && i < cs->js.njobs; i++) {
		const job *j = &cs->js.jobs[i];
		int dup = !j->later;
		for (size_t k = 0; k < n && !dup; k++)
			dup = strcmp(t[k].table, j->dst_table) == 0;
		/* A table this run created is in js.created, not in the schema read before. */
		const ferry_table *tt = ferry_schema_find(cs->tschema, j->dst_table);
		if (!tt && cs->js.created)
			tt = ferry_schema_find(cs->js.created, j->dst_table);
		if (!dup && key_of(&t[n], names + 64 * n, tt) == 0)
			n++;
	}
	/* Not again once the backfill has finished (a rerun of the finished copy). */
	int done = 0;
	if (rc == 0 && n > 0)
		rc = backfill_done(e, cs->tconn, cs->plan, &done, &cs->err);
	if (rc == 0 && n > 0 && !done)
		rc = e->write->later_track(cs->tconn, t, n, &cs->err);
	free(t);
	free(names);
	return rc;
}

/* ---- ferry_backfill -------------------------------------------------------------------- */

/* --rate: a work source handing out chunks no faster than rate rows a second (by each
 * chunk's planned rows: the rows scanned, an upper bound of those that wait). */
typedef struct rate_source {
	ferry_work_source in;
	double rate, t0;
	int64_t handed;
} rate_source;

static int rate_next(void *ud, ferry_work **out, int *done, int timeout_ms, ferry_err *err)
{
	rate_source *r = ud;
	double due = r->t0 + (double)r->handed / r->rate, now = ferry__now();
	if (now < due) {
		double wait = due - now, most = timeout_ms / 1000.0;
		wait = wait < most ? wait : most;
		struct timespec ts = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
		nanosleep(&ts, NULL);
		if (ferry__now() < due) {
			*out = NULL;
			*done = 0;
			return 0;
		}
	}
	int rc = r->in.next(r->in.ud, out, done, timeout_ms, err);
	if (rc == 0 && *out)
		r->handed += (*out)->est_rows > 0 ? (*out)->est_rows : 1;
	return rc;
}

static int rate_may_write(void *ud, const ferry_work *w)
{
	rate_source *r = ud;
	return r->in.may_write ? r->in.may_write(r->in.ud, w) : 1;
}

static void rate_committed(void *ud, ferry_work *w)
{
	rate_source *r = ud;
	if (r->in.committed)
		r->in.committed(r->in.ud, w);
}

static int rate_read(void *ud, ferry_work *w, ferry_batch *b, int *eof, ferry_err *err)
{
	rate_source *r = ud;
	return r->in.read(r->in.ud, w, b, eof, err);
}

static void rate_wrap(void *ud, ferry_work_source *src)
{
	rate_source *r = ud;
	if (r->rate <= 0)
		return;
	r->in = *src;
	r->t0 = ferry__now();
	r->handed = 0;
	src->ud = r;
	src->next = rate_next;
	src->may_write = src->may_write ? rate_may_write : NULL;
	src->committed = src->committed ? rate_committed : NULL;
	src->read = src->read ? rate_read : NULL;
}

int ferry__later_any(const ferry_plan *p)
{
	for (size_t i = 0; i < p->ntables; i++)
		if (!p->tables[i].skip && (p->tables[i].later || p->tables[i].later_all))
			return 1;
	return 0;
}

/* The backfill's plan: a shallow copy reading only what waits, under its own run id, with
 * no target schema (the copy applied it; the backfill's run would apply it again). */
static void backfill_plan(ferry_plan *bp, const ferry_plan *plan)
{
	*bp = *plan;
	bp->later_mode = FERRY_LATER_ONLY;
	bp->nschema = 0;
	bp->schema_files = NULL;
	ferry__later_backfill_id(bp->run_digest, plan);
}

void ferry__later_backfill_id(char out[33], const ferry_plan *p)
{
	char id[64];
	int n = snprintf(id, sizeof(id), "%s:backfill", p->run_digest);
	ferry__hash128_hex(out, id, (size_t)n);
}

/* Once every row that waits is carried, the record of deletes has no more use: a fetch
 * then loads nothing (a key absent is one the application deleted). */
static int later_untrack_done(ferry_ctx *ctx, const ferry_plan *plan, ferry_err *err)
{
	const ferry_engine *e = ferry__engine_for(ctx, plan->target, err);
	if (!e)
		return err->code;
	if (!e->write->later_untrack)
		return 0;
	ferry_capture_table *t = ferry__calloc(plan->ntables + 1, sizeof(*t));
	size_t n = 0;
	if (!t)
		return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	for (size_t i = 0; i < plan->ntables; i++) {
		const ferry_plan_table *pt = &plan->tables[i];
		if (!pt->skip && (pt->later || pt->later_all))
			t[n++].table = pt->rename ? pt->rename : pt->table;
	}
	ferry_conn *c = NULL;
	int done = 0;
	int rc = e->core->connect(&c, plan->target, 0, err);
	if (rc == 0)
		rc = backfill_done(e, c, plan, &done, err);
	if (rc == 0 && done)
		rc = e->write->later_untrack(c, t, n, err);
	if (c)
		e->core->close(c);
	free(t);
	return rc;
}

int ferry_backfill(ferry_summary **out, ferry_ctx *ctx, const ferry_plan *plan,
                   const ferry_backfill_options *opts)
{
	*out = NULL;
	ferry_err err = {0, ""};
	if (!opts || opts->version != FERRY_BACKFILL_OPTIONS_VERSION ||
	    opts->copy.version != FERRY_COPY_OPTIONS_VERSION)
		ferry_err_set(&err, FERRY_EUSAGE, "unknown ferry_backfill_options version %u",
		              opts ? opts->version : 0);
	else if (opts->copy.truncate || opts->copy.append || opts->copy.verify || opts->copy.check_only)
		ferry_err_set(&err, FERRY_EUSAGE, "ferry backfill writes beside the new version's rows: --truncate, --append, --verify and --check do not apply (run ferry verify after it)");
	else if (!ferry__later_any(plan))
		ferry_err_set(&err, FERRY_EUSAGE, "the plan delays nothing: no table entry has later:");
	else if (opts->rate < 0)
		ferry_err_set(&err, FERRY_EUSAGE, "--rate must be a positive number of rows per second");
	if (err.code)
		return ferry__ctx_fail(ctx, &err);
	ferry_plan bp;
	backfill_plan(&bp, plan);
	ferry_copy_options co = opts->copy;
	/* About a second of rows per chunk, so that the rate is kept without long bursts. */
	if (opts->rate > 0 && co.chunk_rows <= 0)
		co.chunk_rows = opts->rate < 100 ? 100 : opts->rate > 50000 ? 50000 : (int64_t)opts->rate;
	rate_source rs;
	memset(&rs, 0, sizeof(rs));
	rs.rate = opts->rate;
	ferry__copy_hooks hooks = {.tokens = NULL, .wrap = rate_wrap, .ud = &rs};
	int rc = ferry__copy_hooked(out, ctx, &bp, &co, &hooks);
	/* A run that finished with rejected rows has finished too: its record goes as well. */
	if (co.check_only || (rc != 0 && rc != FERRY_EREJECT))
		return rc;
	ferry_err uerr = {0, ""};
	int urc = later_untrack_done(ctx, plan, &uerr);
	if (urc && rc == 0) {
		ferry_summary_free(*out);
		*out = NULL;
		return ferry__ctx_fail(ctx, &uerr);
	}
	return rc;
}

/* ---- ferry_fetch ----------------------------------------------------------------------- */

typedef struct fetch_state {
	ferry_ctx *ctx;
	ferry_plan fp;
	ferry_source_conn *sources;
	const ferry_engine *teng;
	ferry_conn *tconn;
	ferry_schema *tschema;
	jobset js;
	ferry_err err;
	char reject[300];         /* the first refused row's reason */
	int rejected;
} fetch_state;

static int fetch_connect(fetch_state *f)
{
	const ferry_plan *p = &f->fp;
	ferry_err *err = &f->err;
	f->sources = ferry__calloc(p->nsources + 1, sizeof(ferry_source_conn));
	if (!f->sources)
		return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	for (size_t i = 0; i < p->nsources; i++) {
		ferry_source_conn *s = &f->sources[i];
		if (!(s->eng = ferry__engine_for(f->ctx, p->sources[i].url, err)))
			return err->code;
		int rc = s->eng->core->connect(&s->conn, p->sources[i].url, FERRY_CONNECT_READONLY, err);
		if (rc == 0 && !(s->schema = ferry__schema_new()))
			rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
		if (rc == 0)
			rc = s->eng->core->introspect(s->conn, s->schema, err);
		if (rc)
			return rc;
	}
	if (!(f->teng = ferry__engine_for(f->ctx, p->target, err)))
		return err->code;
	int rc = f->teng->core->connect(&f->tconn, p->target, 0, err);
	if (rc == 0 && !(f->tschema = ferry__schema_new()))
		rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	return rc ? rc : f->teng->core->introspect(f->tconn, f->tschema, err);
}

static void fetch_close(fetch_state *f)
{
	if (f->tconn)
		f->teng->core->close(f->tconn);
	for (size_t i = 0; f->sources && i < f->fp.nsources; i++) {
		if (f->sources[i].conn)
			f->sources[i].eng->core->close(f->sources[i].conn);
		ferry__schema_free(f->sources[i].schema);
	}
	free(f->sources);
	ferry__schema_free(f->tschema);
	ferry__jobs_free(&f->js);
}

/* How many of the nkeys keys (match, nk values each) target table tt holds. */
static int fetch_present(fetch_state *f, const ferry_table *tt, const char *const *pk,
                         const ferry_value *match, size_t nkeys, size_t *out)
{
	const char *exprs[64];
	char *q[64];
	size_t nk = tt->npk;
	for (size_t k = 0; k < nk; k++)
		exprs[k] = q[k] = ferry__qident(f->teng, pk[k]);
	ferry_read_spec spec = {.table = tt->name, .nexprs = nk, .exprs = exprs, .nkeys = nk,
	                        .keys = pk, .nmatch = nkeys, .match = match};
	int rc = 0;
	for (size_t k = 0; k < nk; k++)
		if (!q[k])
			rc = ferry_err_set(&f->err, FERRY_ENOMEM, "out of memory");
	ferry_reader *r = NULL;
	if (rc == 0)
		rc = f->teng->read->reader_open(&r, f->tconn, &spec, &f->err);
	ferry_batch *b = rc ? NULL : ferry__batch_new(nk, 256);
	if (rc == 0 && !b)
		rc = ferry_err_set(&f->err, FERRY_ENOMEM, "out of memory");
	int eof = 0;
	*out = 0;
	while (rc == 0 && !eof) {
		ferry__batch_reset(b);
		rc = f->teng->read->reader_next(r, b, &eof, &f->err);
		*out += ferry_batch_nrows(b);
	}
	if (r)
		f->teng->read->reader_close(r);
	ferry__batch_free(b);
	for (size_t k = 0; k < nk; k++)
		free(q[k]);
	return rc;
}

static int fetch_reject(void *ud, size_t row, const char *reason)
{
	fetch_state *f = ud;
	(void)row;
	if (!f->rejected++)
		snprintf(f->reject, sizeof(f->reject), "%s", reason);
	return 0;
}

/* Job j's rows among the keys (smatch: nkeys tuples in the source key's order), read
 * through its select list and filter, written where absent. */
static int fetch_job(fetch_state *f, job *j, ferry_writer *w, const ferry_value *smatch,
                     size_t nkeys)
{
	ferry_source_conn *s = &f->sources[j->src];
	ferry_read_spec rs = {.table = j->src_table, .nexprs = j->nexprs,
	                      .exprs = (const char *const *)j->exprs, .filter = j->filter,
	                      .nkeys = j->nkeys, .keys = (const char *const *)j->keynames,
	                      .nparams = j->nparams, .params = j->params, .nmatch = nkeys,
	                      .match = smatch};
	ferry_reader *r = NULL;
	int rc = s->eng->read->reader_open(&r, s->conn, &rs, &f->err);
	ferry_batch *b = rc ? NULL : ferry__batch_new(j->nexprs, 256);
	if (rc == 0 && !b)
		rc = ferry_err_set(&f->err, FERRY_ENOMEM, "out of memory");
	int eof = 0;
	while (rc == 0 && !eof) {
		ferry__batch_reset(b);
		rc = s->eng->read->reader_next(r, b, &eof, &f->err);
		if (rc == 0 && (f->teng->flags & FERRY_ENGINE_NUMERIC_AFFINITY))
			rc = ferry__guard_check(j, b, fetch_reject, f, &f->err);
		if (rc == 0 && ferry_batch_nrows(b) > 0)
			rc = f->teng->write->writer_write(w, b, fetch_reject, f, &f->err);
	}
	if (r)
		s->eng->read->reader_close(r);
	ferry__batch_free(b);
	if (rc == 0 && f->rejected)
		rc = ferry_err_set(&f->err, FERRY_EREJECT, "could not load a row of table \"%s\": %s",
		                   j->dst_table, f->reject);
	return rc;
}

/* Where each target key column comes from among job j's source key columns: it must be
 * one carried as it is (the caller gives target keys; the source is read by its own). */
static int fetch_key_map(fetch_state *f, const job *j, const ferry_table *tt, size_t *src_of)
{
	const ferry_engine *seng = f->sources[j->src].eng;
	if (tt->npk != j->nkeys || tt->npk > 64)
		return ferry_err_set(&f->err, FERRY_EUSAGE,
		                     "cannot fetch from table \"%s\": its primary key is not the source table's", tt->name);
	for (size_t k = 0; k < tt->npk; k++) {
		const char *tn = tt->cols[tt->pk[k]].name;
		size_t c = 0;
		while (c < j->ntcols && strcmp(j->tcols[c], tn) != 0)
			c++;
		int found = 0;
		for (size_t s = 0; c < j->ntcols && !found && s < j->nkeys; s++) {
			char *q = ferry__qident(seng, j->keynames[s]);
			if (!q)
				return ferry_err_set(&f->err, FERRY_ENOMEM, "out of memory");
			if (strcmp(q, j->exprs[c]) == 0) {
				src_of[k] = s;
				found = 1;
			}
			free(q);
		}
		if (!found)
			return ferry_err_set(&f->err, FERRY_EUSAGE,
			                     "cannot fetch from table \"%s\": its key column \"%s\" is not a source key column carried as it is",
			                     tt->name, tn);
	}
	return 0;
}

static int same_key(const char *const *a, const char *const *b, size_t nk)
{
	for (size_t k = 0; k < nk; k++)
		if (strcmp(a[k], b[k]) != 0)
			return 0;
	return 1;
}

/* A fetcher: the connections, schemas and jobs of a plan's fetch, kept between calls. */
struct ferry_fetcher {
	fetch_state f;
	const ferry_plan *plan;
};

int ferry_fetcher_open(ferry_fetcher **out, ferry_ctx *ctx, const ferry_plan *plan)
{
	*out = NULL;
	ferry_fetcher *h = ferry__calloc(1, sizeof(*h));
	if (!h)
		return ferry__ctx_fail(ctx, &(ferry_err){FERRY_ENOMEM, "out of memory"});
	fetch_state *f = &h->f;
	h->plan = plan;
	f->ctx = ctx;
	f->fp = *plan;
	f->fp.later_mode = FERRY_LATER_ONLY;
	int rc = 0;
	if (!ferry__later_any(plan))
		rc = ferry_err_set(&f->err, FERRY_EUSAGE, "the plan delays nothing: no table entry has later:");
	if (rc == 0)
		rc = fetch_connect(f);
	if (rc == 0)
		rc = ferry__jobs_build(&f->js, ctx, &f->fp, f->sources, f->teng, f->tschema, 0, &f->err);
	if (rc) {
		ferry_err keep = f->err;
		fetch_close(f);
		free(h);
		return ferry__ctx_fail(ctx, &keep);
	}
	*out = h;
	return 0;
}

void ferry_fetcher_close(ferry_fetcher *h)
{
	if (!h)
		return;
	fetch_close(&h->f);
	free(h);
}

int ferry_fetch(ferry_fetch_result *out, ferry_ctx *ctx, const ferry_plan *plan,
                const char *table, size_t nvalues, const char *const *values)
{
	memset(out, 0, sizeof(*out));
	ferry_fetcher *h = NULL;
	int rc = ferry_fetcher_open(&h, ctx, plan);
	if (rc == 0)
		rc = ferry_fetcher_fetch(h, out, table, nvalues, values);
	ferry_fetcher_close(h);
	return rc;
}

int ferry_fetcher_fetch(ferry_fetcher *h, ferry_fetch_result *out, const char *table,
                        size_t nvalues, const char *const *values)
{
	memset(out, 0, sizeof(*out));
	double t0 = ferry__now();
	fetch_state *fs = &h->f;
	const ferry_plan *plan = h->plan;
	ferry_ctx *ctx = fs->ctx;
	memset(&fs->err, 0, sizeof(fs->err));
	fs->rejected = 0;
	fs->reject[0] = '\0';
	ferry_value *tmatch = NULL, *smatch = NULL;
	const char **keys = NULL;
	size_t nkeys = 0, *src_of = ferry__calloc(65, sizeof(size_t));
	int rc = src_of ? 0 : ferry_err_set(&fs->err, FERRY_ENOMEM, "out of memory");
	/* The table by its target name, else by its source name. */
	const char *dst = NULL;
	for (int pass = 0; rc == 0 && pass < 2 && !dst; pass++)
		for (size_t i = 0; i < fs->js.njobs && !dst; i++)
			if (strcmp(pass ? fs->js.jobs[i].src_table : fs->js.jobs[i].dst_table, table) == 0)
				dst = fs->js.jobs[i].dst_table;
	if (rc == 0 && !dst)
		rc = ferry_err_set(&fs->err, FERRY_EUSAGE,
		                   "table \"%s\" has no rows that wait: its plan entry has no later: (or the plan has no such table)", table);
	const ferry_table *tt = rc == 0 ? ferry_schema_find(fs->tschema, dst) : NULL;
	if (rc == 0 && !tt)
		rc = ferry_err_set(&fs->err, FERRY_ENOTFOUND, "target table \"%s\" does not exist (run the copy first)", dst);
	size_t nk = tt ? tt->npk : 0;
	if (rc == 0 && (nk == 0 || nk > 64))
		rc = ferry_err_set(&fs->err, FERRY_EUSAGE, "cannot fetch from table \"%s\": it has no primary key", dst);
	if (rc == 0 && (nvalues == 0 || nvalues % nk != 0))
		rc = ferry_err_set(&fs->err, FERRY_EUSAGE,
		                   "table \"%s\" has a key of %zu columns: give its values one key after another (%zu values given)",
		                   dst, nk, nvalues);
	/* Distinct keys, as texts in the target key's order. */
	if (rc == 0 && !(keys = ferry__calloc(nvalues + 1, sizeof(char *))))
		rc = ferry_err_set(&fs->err, FERRY_ENOMEM, "out of memory");
	for (size_t i = 0; rc == 0 && i < nvalues / nk; i++) {
		int dup = 0;
		for (size_t k = 0; k < nkeys && !dup; k++)
			dup = same_key(values + i * nk, keys + k * nk, nk);
		if (!dup)
			memcpy(keys + nkeys++ * nk, values + i * nk, nk * sizeof(char *));
	}
	const char *pk[64];
	for (size_t k = 0; rc == 0 && k < nk; k++)
		pk[k] = tt->cols[tt->pk[k]].name;
	if (rc == 0 && (!(tmatch = ferry__calloc(nkeys * nk + 1, sizeof(ferry_value))) ||
	                !(smatch = ferry__calloc(nkeys * nk + 1, sizeof(ferry_value)))))
		rc = ferry_err_set(&fs->err, FERRY_ENOMEM, "out of memory");
	for (size_t i = 0; rc == 0 && i < nkeys * nk; i++) {
		tmatch[i].type = FERRY_TEXT;
		tmatch[i].v.s = keys[i];
		tmatch[i].len = (uint32_t)strlen(keys[i]);
	}
	/* Writers open before the transaction (they read the table's definition): a transaction
	 * that reads first could not write after a concurrent commit (SQLite's snapshot), while
	 * one that writes first waits its turn. */
	ferry_writer **ws = rc == 0 ? ferry__calloc(fs->js.njobs + 1, sizeof(*ws)) : NULL;
	if (rc == 0 && !ws)
		rc = ferry_err_set(&fs->err, FERRY_ENOMEM, "out of memory");
	for (size_t i = 0; rc == 0 && i < fs->js.njobs; i++) {
		job *j = &fs->js.jobs[i];
		if (strcmp(j->dst_table, dst) != 0)
			continue;
		ferry_write_spec spec = {.table = j->dst_table, .ncols = j->ntcols,
		                         .cols = (const char *const *)j->tcols, .types = j->ttypes,
		                         .map = j->map, .merge = j->merge, .conflict = j->conflict,
		                         .guard_deleted = j->guard_deleted};
		if ((rc = fetch_key_map(fs, j, tt, src_of)) == 0)
			rc = fs->teng->write->writer_open(&ws[i], fs->tconn, &spec, &fs->err);
	}
	size_t before = 0, after = 0;
	int began = 0, done = 0;
	if (rc == 0)
		rc = backfill_done(fs->teng, fs->tconn, plan, &done, &fs->err);
	if (rc == 0)
		rc = fetch_present(fs, tt, pk, tmatch, nkeys, &before);
	if (rc == 0 && (rc = fs->teng->core->begin(fs->tconn, &fs->err)) == 0)
		began = 1;
	for (size_t i = 0; rc == 0 && i < fs->js.njobs; i++) {
		job *j = &fs->js.jobs[i];
		if (strcmp(j->dst_table, dst) != 0)
			continue;
		if ((rc = fetch_key_map(fs, j, tt, src_of)) != 0)
			break;
		for (size_t m = 0; m < nkeys; m++)
			for (size_t k = 0; k < nk; k++)
				smatch[m * nk + src_of[k]] = tmatch[m * nk + k];
		/* After the backfill every row that waits was carried: one absent now is one the
		 * application deleted, which a fetch must not bring back. */
		if (!done)
			rc = fetch_job(fs, j, ws[i], smatch, nkeys);
	}
	if (rc == 0)
		rc = fetch_present(fs, tt, pk, tmatch, nkeys, &after);
	if (rc == 0 && after < nkeys) {
		/* Name the first key still absent, for the message. */
		size_t got = 1;
		for (size_t m = 0; rc == 0 && m < nkeys && got; m++) {
			rc = fetch_present(fs, tt, pk, tmatch + m * nk, 1, &got);
			if (rc == 0 && !got) {
				ferry_buf b = FERRY_BUF_INIT;
				for (size_t k = 0; k < nk; k++)
					ferry_buf_printf(&b, "%s%s", k ? "," : "", keys[m * nk + k]);
				snprintf(out->first_missing, sizeof(out->first_missing), "%s", b.data ? b.data : "?");
				ferry_buf_free(&b);
			}
		}
	}
	if (began && rc == 0)
		rc = fs->teng->core->commit(fs->tconn, &fs->err);
	else if (began) {
		ferry_err keep = fs->err;
		fs->teng->core->rollback(fs->tconn, &fs->err);
		fs->err = keep;
	}
	if (rc == 0) {
		/* A row the backfill wrote meanwhile counts as loaded: it was absent at the start. */
		before = before < after ? before : after;
		out->requested = nkeys;
		out->present = before;
		out->loaded = after - before;
		out->missing = nkeys - after;
		out->seconds = ferry__now() - t0;
	} else {
		memset(out, 0, sizeof(*out));
	}
	for (size_t i = 0; ws && i < fs->js.njobs; i++)
		if (ws[i])
			fs->teng->write->writer_close(ws[i]);
	free(ws);
	free(tmatch);
	free(smatch);
	free(keys);
	free(src_of);
	return rc ? ferry__ctx_fail(ctx, &fs->err) : 0;
}
