/* resume.c — a stage's chunks as the scheduler's work source. What earlier runs of the plan
 * recorded is read back (done chunks are counted, pending ones queued); fresh jobs are
 * planned now, inside the source's snapshot, and stored before any row moves, so a chunk is
 * the same set of keys in every run. Queue order: foreign-key level, job, chunk. */
#include <stdlib.h>
#include <string.h>
#include "lease.h"
#include "sched.h"
#include "state.h"

/* Copy n bytes (NULL stays NULL; an empty bound stays non-NULL). */
static int dup_bound(uint8_t **out, const uint8_t *p, size_t n)
{
	*out = NULL;
	if (!p)
		return 0;
	if (!(*out = ferry__malloc(n ? n : 1)))
		return FERRY_ENOMEM;
	if (n)
		memcpy(*out, p, n);
	return 0;
}

typedef struct load_ctx {
	ferry_chunk_list *cl;
	jobset *js;
	const char *stage;        /* only this stage's jobs are counted and queued */
	int *has_chunks;          /* per job id, whatever its stage */
	ferry_err *err;
} load_ctx;

/* A recorded (or just planned) chunk: counted when done, queued when pending. */
static int add_chunk(void *ud, const ferry_chunk_rec *rec)
{
	load_ctx *lc = ud;
	ferry_chunk_list *cl = lc->cl;
	if (rec->job < 0 || (size_t)rec->job >= lc->js->njobs)
		return ferry_err_set(lc->err, FERRY_ECORRUPT,
		                     "run state in the target names job %lld, which this plan does not have",
		                     (long long)rec->job);
	job *j = &lc->js->jobs[rec->job];
	lc->has_chunks[rec->job] = 1;
	if (strcmp(j->stage, lc->stage) != 0)
		return 0;
	j->chunks++;
	j->rows_est += rec->est_rows;
	if (rec->done) {
		j->chunks_done++;
		j->chunks_resumed++;
		j->rows_resumed += rec->rows_read;
		j->rows_read += rec->rows_read;
		j->rows_written += rec->rows_written;
		j->rows_rejected += rec->rows_rejected;
		j->rows_skipped += rec->rows_skipped;
		return 0;
	}
	if (ferry__grow(&cl->work, &cl->cap, cl->nwork + 1, sizeof(ferry_work)) != 0 ||
	    ferry__grow(&cl->ordered, &cl->ocap, cl->nwork + 1, 1) != 0)
		return ferry_err_set(lc->err, FERRY_ENOMEM, "out of memory");
	ferry_work *w = &cl->work[cl->nwork++];
	memset(w, 0, sizeof(*w));
	w->j = j;
	w->chunk = rec->chunk;
	w->est_rows = rec->est_rows;
	w->lo_len = rec->lo_len;
	w->hi_len = rec->hi_len;
	if (dup_bound(&w->lo, rec->lo, rec->lo_len) || dup_bound(&w->hi, rec->hi, rec->hi_len))
		return ferry_err_set(lc->err, FERRY_ENOMEM, "out of memory");
	return 0;
}

typedef struct plan_ctx {
	ferry_chunk_rec *recs;
	size_t n, cap;
	job *j;
	ferry_err *err;
} plan_ctx;

static int plan_row(void *ud, const ferry_chunk_rec *rec)
{
	plan_ctx *pc = ud;
	if (ferry__grow(&pc->recs, &pc->cap, pc->n + 1, sizeof(ferry_chunk_rec)) != 0)
		return ferry_err_set(pc->err, FERRY_ENOMEM, "out of memory");
	ferry_chunk_rec *d = &pc->recs[pc->n++];
	*d = *rec;
	d->job = (int64_t)pc->j->id;
	d->job_name = pc->j->name;
	d->stage = pc->j->stage;
	d->table = pc->j->dst_table;
	d->done = 0;
	uint8_t *lo = NULL, *hi = NULL;
	d->lo = d->hi = NULL;
	if (dup_bound(&lo, rec->lo, rec->lo_len) || dup_bound(&hi, rec->hi, rec->hi_len)) {
		free(lo);
		return ferry_err_set(pc->err, FERRY_ENOMEM, "out of memory");
	}
	d->lo = lo;
	d->hi = hi;
	return 0;
}

/* The key of a chunk bound as an integer: 1 with *v, 0 when unbounded or not one integer. */
static int bound_int(const uint8_t *b, size_t len, int64_t *v)
{
	ferry_value k[2];
	if (!b || len == 0 || ferry_value_decode_row(k, 2, b, len) != 1 || k[0].type != FERRY_INT)
		return 0;
	*v = k[0].v.i;
	return 1;
}

/* Drop the planned chunks no key of range can be in, and number the rest from 0. A chunk
 * holds the keys in (lo, hi]; the first is open below and the last open above, and stay so
 * when kept. SQLite and PostgreSQL plan only the range (nothing to drop then); this is what
 * bounds the chunks of an engine that ignores the range (a label, an extension engine). */
static void plan_bound(plan_ctx *pc, const ferry_key_range *range)
{
	int64_t lo = range->lo, hi = range->hi;
	size_t n = 0;
	for (size_t i = 0; i < pc->n; i++) {
		ferry_chunk_rec *r = &pc->recs[i];
		int64_t rl, rh;
		int below = bound_int(r->hi, r->hi_len, &rh) && rh < lo;
		int above = bound_int(r->lo, r->lo_len, &rl) && rl >= hi;
		/* Keep at least one chunk, so that the job still has its chunk to record. */
		if ((below || above) && !(n == 0 && i + 1 == pc->n)) {
			free((void *)r->lo);
			free((void *)r->hi);
			continue;
		}
		pc->recs[n] = *r;
		pc->recs[n].chunk = (int64_t)n;
		n++;
	}
	pc->n = n;
}

static void plan_ctx_clear(plan_ctx *pc)
{
	for (size_t i = 0; i < pc->n; i++) {
		free((void *)pc->recs[i].lo);
		free((void *)pc->recs[i].hi);
	}
	free(pc->recs);
	memset(pc, 0, sizeof(*pc));
}

/* Plan a fresh job's chunks in the source and store them in one target transaction with the
 * refusal of (or --truncate's emptying of) rows it did not write, then queue them. The
 * transaction checks the run's lease: a holder paused here cannot empty a table after
 * another process took over and loaded it. */
static int plan_job(copy_state *cs, job *j, int sibling, load_ctx *lc)
{
	ferry_err *err = &cs->err;
	plan_ctx pc = {0};
	pc.j = j;
	pc.err = err;
	const ferry_engine *seng = cs->sources[j->src].eng;
	int rc = cs->teng->core->begin(cs->tconn, err);
	if (rc)
		return rc;
	rc = ferry__target_check_empty(cs, j, sibling);
	if (rc == 0)
		rc = ferry__target_note_data(cs, j);
	/* The engine plans only the keys the job's where / later: admit. */
	if (rc == 0)
		rc = seng->read->plan_chunks(cs->sources[j->src].conn, j->src_table, j->nchunk_keys,
		                             (const char *const *)j->chunk_keys, cs->chunk_rows,
		                             j->bounded ? &j->range : NULL, plan_row, &pc, err);
	if (rc == 0 && j->bounded)
		plan_bound(&pc, &j->range);
	if (rc == 0)
		rc = ferry__state_add_chunks(cs->teng, cs->tconn, cs->plan->run_digest, pc.recs, pc.n, err);
	if (rc == 0)
		rc = ferry__lease_fence(cs->lease, cs->tconn, err);
	if (rc == 0)
		rc = cs->teng->core->commit(cs->tconn, err);
	else
		cs->teng->core->rollback(cs->tconn, &(ferry_err){0});
	for (size_t c = 0; rc == 0 && c < pc.n; c++)
		rc = add_chunk(lc, &pc.recs[c]);
	plan_ctx_clear(&pc);
	return rc;
}

static int cmp_work(const void *a, const void *b)
{
	const ferry_work *x = a, *y = b;
	if (x->j->level != y->j->level)
		return x->j->level < y->j->level ? -1 : 1;
	if (x->j->id != y->j->id)
		return x->j->id < y->j->id ? -1 : 1;
	return x->chunk < y->chunk ? -1 : x->chunk > y->chunk;
}

/* Queue order, and which chunks wait for the earlier ones of their table: a merge, or a
 * table fed by several jobs, takes its chunks in the plan's order, so that first/last rules
 * and duplicate-key rejects do not depend on which reader was faster. */
static int order_work(ferry_chunk_list *cl, const jobset *js, const char *stage, ferry_err *err)
{
	if (cl->nwork > 1)
		qsort(cl->work, cl->nwork, sizeof(ferry_work), cmp_work);
	int maxl = 0;
	for (size_t i = 0; i < cl->nwork; i++) {
		const job *j = cl->work[i].j;
		int shared = 0;
		for (size_t k = 0; k < js->njobs && !shared; k++)
			shared = &js->jobs[k] != j && strcmp(js->jobs[k].stage, stage) == 0 &&
			         strcmp(js->jobs[k].dst_table, j->dst_table) == 0;
		cl->ordered[i] = j->merge || shared;
		if (j->level > maxl)
			maxl = j->level;
	}
	cl->nlevels = maxl + 1;
	cl->level_left = ferry__calloc((size_t)cl->nlevels, sizeof(int64_t));
	if (!cl->level_left)
		return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	for (size_t i = 0; i < cl->nwork; i++)
		cl->level_left[cl->work[i].j->level]++;
	return 0;
}

int ferry__chunks_build(ferry_chunk_list *cl, copy_state *cs, const char *stage)
{
	ferry_err *err = &cs->err;
	jobset *js = &cs->js;
	memset(cl, 0, sizeof(*cl));
	int *has_chunks = ferry__calloc(js->njobs + 1, sizeof(int));
	if (!has_chunks)
		return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	for (size_t i = 0; i < js->njobs; i++)
		if (strcmp(js->jobs[i].stage, stage) == 0) {
			job *j = &js->jobs[i];
			/* The keys its where / later: admit (bounds.c), for planning and reading. A
			 * label's chunk bounds are chunk numbers, not keys. */
			const ferry_source_conn *sc = &cs->sources[j->src];
			const ferry_table *st = ferry_schema_find(sc->schema, j->src_table);
			j->bounded = !(sc->eng->flags & FERRY_ENGINE_LABEL) &&
			             ferry__jobs_key_range(j, cs->plan->later_mode, st, &j->range.lo,
			                                   &j->range.hi);
			j->chunks = j->chunks_done = j->chunks_resumed = 0;
			j->rows_est = j->rows_resumed = j->rows_read = j->rows_written = j->rows_rejected = j->rows_skipped = 0;
		}
	/* What earlier runs of this plan already did, for this stage's jobs. */
	load_ctx lc = {cl, js, stage, has_chunks, err};
	int rc = ferry__state_load(cs->teng, cs->tconn, cs->plan->run_digest, add_chunk, &lc, err);
	/* Fresh jobs: refuse to mix with rows already in the target, then plan their chunks. */
	for (size_t i = 0; rc == 0 && i < js->njobs; i++) {
		job *j = &js->jobs[i];
		if (strcmp(j->stage, stage) != 0 || has_chunks[i])
			continue;
		int sibling = 0;
		for (size_t k = 0; k < js->njobs; k++)
			if (k != i && has_chunks[k] && strcmp(js->jobs[k].dst_table, j->dst_table) == 0)
				sibling = 1;
		rc = plan_job(cs, j, sibling, &lc);
		if (rc == 0)
			has_chunks[i] = 1;
	}
	free(has_chunks);
	if (rc == 0)
		rc = order_work(cl, js, stage, err);
	return rc;
}

/* ---- the work source ---------------------------------------------------------------- */

static int chunks_next(void *ud, ferry_work **out, int *done, int timeout_ms, ferry_err *err)
{
	(void)timeout_ms;
	(void)err;
	ferry_chunk_list *cl = ud;
	*out = cl->next < cl->nwork ? &cl->work[cl->next++] : NULL;
	*done = *out == NULL;
	return 0;
}

static int min_level(const ferry_chunk_list *cl)
{
	for (int l = 0; l < cl->nlevels; l++)
		if (cl->level_left[l] > 0)
			return l;
	return cl->nlevels;
}

/* Parents before children: only chunks of the lowest foreign-key level not fully committed;
 * and an ordered chunk only after every earlier chunk of its table. */
static int chunks_may_write(void *ud, const ferry_work *w)
{
	const ferry_chunk_list *cl = ud;
	if (w->j->level != min_level(cl))
		return 0;
	size_t idx = (size_t)(w - cl->work);
	if (!cl->ordered[idx])
		return 1;
	for (const ferry_work *e = cl->work; e < w; e++)
		if (!e->committed && strcmp(e->j->dst_table, w->j->dst_table) == 0)
			return 0;
	return 1;
}

static void chunks_committed(void *ud, ferry_work *w)
{
	ferry_chunk_list *cl = ud;
	cl->level_left[w->j->level]--;
}

void ferry__chunks_source(ferry_chunk_list *cl, ferry_work_source *out)
{
	memset(out, 0, sizeof(*out));
	out->ud = cl;
	out->next = chunks_next;
	out->may_write = chunks_may_write;
	out->committed = chunks_committed;
}

void ferry__chunks_clear(ferry_chunk_list *cl)
{
	for (size_t i = 0; i < cl->nwork; i++) {
		free(cl->work[i].lo);
		free(cl->work[i].hi);
	}
	free(cl->work);
	free(cl->ordered);
	free(cl->level_left);
	memset(cl, 0, sizeof(*cl));
}
