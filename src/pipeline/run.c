/* run.c — ferry_copy, the one pipeline, as a composition: connect, prepare the target,
 * resolve the jobs, run each stage's chunks through the scheduler (sched.c), finish. Copy,
 * export and import are this with other ends. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "../history/history.h"
#include "../verify/verify.h"
#include "sched.h"
#include "state.h"

#define MAX_THREADS 64

/* How many readers and writers a stage gets: threads readers (one when a source cannot
 * share its snapshot), never more than there is work; as many writers as the target takes. */
static void worker_counts(const copy_state *cs, size_t nwork, int *nreaders, int *nwriters)
{
	*nreaders = cs->threads;
	*nwriters = cs->teng->max_writers;
	for (size_t s = 0; s < cs->plan->nsources; s++)
		if (!cs->sources[s].token && !cs->sources[s].nojoin) /* no other connection can share its snapshot */
			*nreaders = 1;
	if ((size_t)*nreaders > nwork)
		*nreaders = (int)nwork;
	if (*nwriters > cs->threads)
		*nwriters = cs->threads;
}

/* Run one stage's pending chunks through the scheduler. */
static int run_stage(copy_state *cs, const char *stage)
{
	jobset *js = &cs->js;
	ferry_chunk_list cl;
	int rc = ferry__chunks_build(&cl, cs, stage);
	if (rc) {
		ferry__chunks_clear(&cl);
		return rc;
	}
	for (size_t i = 0; i < js->njobs; i++)
		if (strcmp(js->jobs[i].stage, stage) == 0) {
			js->jobs[i].started = ferry__now();
			ferry__sched_emit(cs->opts, FERRY_PROGRESS_START, &js->jobs[i], NULL);
		}
	if (cl.nwork > 0) {
		ferry_sched_config cfg = {
			.ctx = cs->ctx, .plan = cs->plan, .run_id = cs->plan->run_digest,
			.sources = cs->sources, .teng = cs->teng, .js = js, .stage = stage, .opts = cs->opts,
		};
		worker_counts(cs, cl.nwork, &cfg.nreaders, &cfg.nwriters);
		ferry_work_source src;
		ferry__chunks_source(&cl, &src);
		if (cs->hooks && cs->hooks->wrap)
			cs->hooks->wrap(cs->hooks->ud, &src);
		rc = ferry__sched_run(&cfg, &src, &cs->err);
	}
	for (size_t i = 0; i < js->njobs; i++) {
		job *j = &js->jobs[i];
		if (strcmp(j->stage, stage) != 0 || j->done_flag)
			continue;
		j->seconds = ferry__now() - j->started;
		if (rc == 0) {
			j->done_flag = 1;
			ferry__sched_emit(cs->opts, FERRY_PROGRESS_DONE, j, NULL);
		}
	}
	ferry__chunks_clear(&cl);
	return rc;
}

/* ---- ferry_copy ----------------------------------------------------------------------- */

/* Stages in the order they run: each after the stages it names (the plan checked that
 * there are no cycles). out holds nstages indexes. */
static void stage_order(const ferry_plan *p, size_t *out)
{
	size_t n = 0;
	int *placed = ferry__calloc(p->nstages + 1, sizeof(int));
	if (!placed) {
		for (size_t i = 0; i < p->nstages; i++)
			out[i] = i;
		return;
	}
	while (n < p->nstages) {
		size_t before = n;
		for (size_t i = 0; i < p->nstages; i++) {
			if (placed[i])
				continue;
			int ready = 1;
			for (size_t a = 0; a < p->stages[i].nafter && ready; a++)
				for (size_t k = 0; k < p->nstages; k++)
					if (strcmp(p->stages[k].name, p->stages[i].after[a]) == 0 && !placed[k])
						ready = 0;
			if (ready) {
				placed[i] = 1;
				out[n++] = i;
			}
		}
		if (n == before) /* a cycle the checker missed: keep the written order */
			for (size_t i = 0; i < p->nstages; i++)
				if (!placed[i]) {
					placed[i] = 1;
					out[n++] = i;
				}
	}
	free(placed);
}

static int connect_all(copy_state *cs)
{
	ferry_err *err = &cs->err;
	const ferry_plan *p = cs->plan;
	cs->sources = ferry__calloc(p->nsources + 1, sizeof(ferry_source_conn));
	if (!cs->sources)
		return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	for (size_t i = 0; i < p->nsources; i++) {
		ferry_source_conn *s = &cs->sources[i];
		s->eng = ferry__engine_for(cs->ctx, p->sources[i].url, err);
		if (!s->eng)
			return err->code;
		int rc = s->eng->core->connect(&s->conn, p->sources[i].url, FERRY_CONNECT_READONLY, err);
		if (rc == 0 && cs->hooks && cs->hooks->tokens) {
			/* ferry sync: the capture chose the snapshot, or none (the replay converges). */
			s->token = cs->hooks->tokens[i];
			s->nojoin = !s->token;
			if (s->token)
				rc = s->eng->read->snapshot_join(s->conn, s->token, err);
		} else if (rc == 0) {
			rc = s->eng->read->snapshot_export(s->conn, &s->token, err);
		}
		if (rc == 0 && !(s->schema = ferry__schema_new()))
			rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
		if (rc == 0)
			rc = s->eng->core->introspect(s->conn, s->schema, err);
		if (rc)
			return rc;
	}
	cs->teng = ferry__engine_for(cs->ctx, p->target, err);
	if (!cs->teng)
		return err->code;
	return cs->teng->core->connect(&cs->tconn, p->target, FERRY_CONNECT_CREATE, err);
}

static int stage_done(copy_state *cs, const char *stage, int *out)
{
	char flag[600];
	snprintf(flag, sizeof(flag), "stage:%s", stage);
	return ferry__state_get(cs->teng, cs->tconn, cs->plan->run_digest, flag, out, &cs->err);
}

/* Options and plan checks that need no database; fills cs's settings. */
static int check_options(copy_state *cs, int64_t *max_rejects, int *strict)
{
	const ferry_plan *plan = cs->plan;
	const ferry_copy_options *opts = cs->opts;
	ferry_err *err = &cs->err;
	if (opts->version != FERRY_COPY_OPTIONS_VERSION)
		return ferry_err_set(err, FERRY_EUSAGE, "unknown ferry_copy_options version %u", opts->version);
	if (opts->truncate && opts->append)
		return ferry_err_set(err, FERRY_EUSAGE, "--truncate and --append cannot be used together");
	cs->threads = opts->threads >= 0 ? opts->threads : plan->threads;
	if (cs->threads == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		cs->threads = n > 0 ? (int)n : 1;
	}
	if (cs->threads > MAX_THREADS)
		cs->threads = MAX_THREADS;
	cs->chunk_rows = opts->chunk_rows > 0 ? opts->chunk_rows : plan->chunk_rows > 0 ? plan->chunk_rows : 50000;
	*max_rejects = opts->max_rejects >= 0 ? opts->max_rejects : plan->max_rejects;
	*strict = opts->strict || plan->strict;
	if (opts->stage) {
		int found = 0;
		for (size_t i = 0; i < plan->nstages; i++)
			found |= strcmp(plan->stages[i].name, opts->stage) == 0;
		if (!found)
			return ferry_err_set(err, FERRY_EUSAGE, "the plan has no stage \"%s\"", opts->stage);
	}
	for (size_t i = 0; i < plan->nsources; i++)
		if (strcmp(plan->sources[i].url, plan->target) == 0) {
			char *m = ferry_url_mask(plan->target);
			ferry_err_set(err, FERRY_EUSAGE, "source \"%s\" and the target are the same database \"%s\"",
			              plan->sources[i].name, m ? m : "?");
			free(m);
			return FERRY_EUSAGE;
		}
	return 0;
}

/* Refusals that need the target's state, before anything changes: --truncate or --append
 * on a finished run, a stage run before the stages it comes after. */
static int check_run(copy_state *cs, int finished)
{
	const ferry_plan *plan = cs->plan;
	const ferry_copy_options *opts = cs->opts;
	/* --truncate and --append act at the start of a run: on a finished one they would do
	 * nothing, which a nightly reload must not take for success. */
	if (finished && (opts->truncate || opts->append) && !opts->check_only)
		return ferry_err_set(&cs->err, FERRY_EUSAGE,
		                     "%s: this plan's run into the target already finished (run %s), so nothing would be %s; a changed plan or another target starts a new run",
		                     opts->truncate ? "--truncate" : "--append", plan->run_digest,
		                     opts->truncate ? "emptied or reloaded" : "added");
	int rc = 0;
	for (size_t k = 0; rc == 0 && opts->stage && k < plan->nstages; k++) {
		const ferry_plan_stage *st = &plan->stages[k];
		if (strcmp(opts->stage, st->name) != 0)
			continue;
		for (size_t a = 0; rc == 0 && a < st->nafter; a++) {
			int d = 0;
			rc = stage_done(cs, st->after[a], &d);
			if (rc == 0 && !d)
				rc = ferry_err_set(&cs->err, FERRY_EUSAGE,
				                   "stage \"%s\" comes after stage \"%s\", which is not done yet (run it first: --stage %s)",
				                   st->name, st->after[a], st->after[a]);
		}
	}
	return rc;
}

/* Every stage the run covers, in dependency order, each flagged done when it is. */
static int run_stages(copy_state *cs)
{
	const ferry_plan *plan = cs->plan;
	size_t *order = ferry__calloc(plan->nstages + 1, sizeof(size_t));
	if (!order)
		return ferry_err_set(&cs->err, FERRY_ENOMEM, "out of memory");
	stage_order(plan, order);
	int rc = 0;
	for (size_t k = 0; rc == 0 && k < plan->nstages; k++) {
		const ferry_plan_stage *st = &plan->stages[order[k]];
		if ((cs->opts->stage && strcmp(cs->opts->stage, st->name) != 0) || st->absent)
			continue;
		rc = run_stage(cs, st->name);
		char flag[600];
		snprintf(flag, sizeof(flag), "stage:%s", st->name);
		if (rc == 0)
			rc = ferry__state_set(cs->teng, cs->tconn, plan->run_digest, flag, &cs->err);
	}
	free(order);
	return rc;
}

/* After the stages: indexes and foreign keys, --verify once every stage is in (before the
 * run's record is written, so the record carries the verdict), the record itself. */
static int finish(copy_state *cs, int finished, ferry_summary *sum)
{
	int rc = ferry__target_finish_tables(cs, sum);
	int all = 1;
	for (size_t k = 0; rc == 0 && k < cs->plan->nstages; k++) {
		int d = 0;
		rc = stage_done(cs, cs->plan->stages[k].name, &d);
		all &= d;
	}
	if (rc == 0 && cs->opts->verify && !all) {
		static const char wait[] = "--verify waits until every stage of the plan is done: it runs at the end of the run that completes them";
		if (ferry__summary_note(sum, wait) != 0)
			return ferry_err_set(&cs->err, FERRY_ENOMEM, "out of memory");
		ferry__sched_emit(cs->opts, FERRY_PROGRESS_NOTE, NULL, wait);
	}
	if (rc == 0 && cs->opts->verify && all) {
		ferry_verify_options vo = FERRY_VERIFY_OPTIONS_INIT;
		vo.full = cs->opts->verify >= 2;
		vo.progress = cs->opts->progress;
		vo.progress_ud = cs->opts->progress_ud;
		rc = ferry__verify_run(&sum->verify, cs->ctx, cs->plan, &vo, &cs->err);
	}
	if (rc == 0 && !finished && all)
		rc = ferry__target_finish_run(cs, sum->verify);
	return rc;
}

/* The summary's figures, the reject file, the engine's finish; then every connection. */
static int close_run(copy_state *cs, int rc, ferry_summary *sum)
{
	const ferry_copy_options *opts = cs->opts;
	/* What `later:` leaves for ferry backfill, counted in the source for the summary. */
	if (rc == 0 && !opts->check_only && cs->sources)
		rc = ferry__later_count(cs);
	for (size_t i = 0; i < cs->js.njobs; i++) {
		job *j = &cs->js.jobs[i];
		if (opts->stage && strcmp(opts->stage, j->stage) != 0)
			continue;
		if (!opts->check_only && ferry__summary_add(sum, j) != 0 && rc == 0)
			rc = ferry_err_set(&cs->err, FERRY_ENOMEM, "out of memory");
		sum->total_rejected += j->rows_rejected;
	}
	if (rc == 0 && sum->total_rejected > 0)
		rc = ferry__target_rejects_file(cs, sum);
	if (cs->tconn) {
		if (rc == 0 && cs->teng->write->finish && !opts->check_only)
			rc = cs->teng->write->finish(cs->tconn, &cs->err);
		/* Refused before anything was committed: leave no new database behind. */
		if (!cs->changed && (opts->check_only || rc == FERRY_EUSAGE || rc == FERRY_ENOTFOUND) &&
		    cs->teng->write->discard)
			cs->teng->write->discard(cs->tconn);
		else
			cs->teng->core->close(cs->tconn);
	}
	for (size_t i = 0; cs->sources && i < cs->plan->nsources; i++) {
		if (cs->sources[i].conn)
			cs->sources[i].eng->core->close(cs->sources[i].conn);
		ferry__schema_free(cs->sources[i].schema);
	}
	free(cs->sources);
	ferry__schema_free(cs->tschema);
	ferry__jobs_free(&cs->js);
	if (rc == 0 && sum->total_rejected > sum->max_rejects) {
		ferry_err_set(&cs->err, FERRY_EREJECT, "%lld rows were rejected (allowed: %lld); see %s",
		              (long long)sum->total_rejected, (long long)sum->max_rejects,
		              sum->rejects_path ? sum->rejects_path : "the reject file");
		rc = FERRY_EREJECT;
	}
	return rc;
}

int ferry_copy(ferry_summary **out, ferry_ctx *ctx, const ferry_plan *plan,
               const ferry_copy_options *opts)
{
	return ferry__copy_hooked(out, ctx, plan, opts, NULL);
}

int ferry__copy_hooked(ferry_summary **out, ferry_ctx *ctx, const ferry_plan *plan,
                       const ferry_copy_options *opts, const ferry__copy_hooks *hooks)
{
	*out = NULL;
	ferry_copy_options defaults = FERRY_COPY_OPTIONS_INIT;
	if (!opts)
		opts = &defaults;
	if (opts->version == FERRY_COPY_OPTIONS_VERSION && opts->summary_on_failure)
		*opts->summary_on_failure = NULL;
	copy_state cs;
	memset(&cs, 0, sizeof(cs));
	cs.ctx = ctx;
	cs.plan = plan;
	cs.opts = opts;
	cs.hooks = hooks;
	int64_t max_rejects = 0;
	int strict = 0, finished = 0;
	int rc = check_options(&cs, &max_rejects, &strict);
	ferry_summary *sum = rc ? NULL : ferry__summary_new(plan->run_digest);
	if (rc == 0 && !sum)
		rc = ferry_err_set(&cs.err, FERRY_ENOMEM, "out of memory");
	if (rc)
		return ferry__ctx_fail(ctx, &cs.err);
	sum->max_rejects = max_rejects;
	rc = connect_all(&cs);
	if (rc == 0)
		rc = ferry__state_get(cs.teng, cs.tconn, plan->run_digest, "finished", &finished, &cs.err);
	if (rc == 0)
		rc = check_run(&cs, finished);
	if (rc == 0)
		rc = ferry__target_prepare(&cs, strict, sum);
	if (rc == 0 && !opts->check_only) {
		sum->was_complete = finished;
		if (opts->truncate && !finished)
			rc = ferry__target_truncate(&cs);
		if (rc == 0)
			rc = run_stages(&cs);
		if (rc == 0)
			rc = finish(&cs, finished, sum);
	}
	rc = close_run(&cs, rc, sum);
	if (rc == 0) {
		*out = sum;
		return 0;
	}
	/* *out stays NULL on failure; the caller who asked gets what was done. */
	if (opts->summary_on_failure)
		*opts->summary_on_failure = sum;
	else
		ferry_summary_free(sum);
	return ferry__ctx_fail(ctx, &cs.err);
}
