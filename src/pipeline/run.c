/* run.c — ferry_copy, the one pipeline, as a composition: connect, prepare the target,
 * resolve the jobs, run each stage's chunks through the scheduler (sched.c), finish. Copy,
 * export and import are this with other ends. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "../history/history.h"
#include "../verify/verify.h"
#include "lease.h"
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

/* --join, after a stage: a joiner's figures become its share (what it committed); the
 * holder's, the whole run's, from the checkpoints every process wrote. */
static int add_stage_chunk(void *ud, const ferry_chunk_rec *rec)
{
	copy_state *cs = ud;
	if (rec->job < 0 || (size_t)rec->job >= cs->js.njobs || !rec->done)
		return 0;
	job *j = &cs->js.jobs[rec->job];
	if (!j->started_stage)
		return 0;
	j->rows_read += rec->rows_read;
	j->rows_written += rec->rows_written;
	j->rows_rejected += rec->rows_rejected;
	j->rows_skipped += rec->rows_skipped;
	j->chunks_done++;
	return 0;
}

static int join_figures(copy_state *cs, const char *stage, const int64_t *base)
{
	jobset *js = &cs->js;
	for (size_t i = 0; i < js->njobs; i++) {
		job *j = &js->jobs[i];
		j->started_stage = strcmp(j->stage, stage) == 0;
		if (!j->started_stage)
			continue;
		if (cs->joiner) {
			j->rows_read -= base[i * 4];
			j->rows_written -= base[i * 4 + 1];
			j->rows_rejected -= base[i * 4 + 2];
			j->rows_skipped -= base[i * 4 + 3];
			j->chunks_done -= j->chunks_resumed;
			j->chunks_resumed = 0;
			j->rows_resumed = 0;
		} else {
			j->rows_read = j->rows_written = j->rows_rejected = j->rows_skipped = 0;
			j->chunks_done = 0;
		}
	}
	int rc = cs->joiner ? 0 : ferry__state_load(cs->teng, cs->tconn, cs->plan->run_digest,
	                                            add_stage_chunk, cs, &cs->err);
	for (size_t i = 0; i < js->njobs; i++)
		js->jobs[i].started_stage = 0;
	return rc;
}

/* A joiner that took the run over at its end: its summary becomes the whole run's. */
static int recount_run(copy_state *cs)
{
	jobset *js = &cs->js;
	for (size_t i = 0; i < js->njobs; i++) {
		job *j = &js->jobs[i];
		j->started_stage = !cs->opts->stage || strcmp(cs->opts->stage, j->stage) == 0;
		if (j->started_stage) {
			j->rows_read = j->rows_written = j->rows_rejected = j->rows_skipped = 0;
			j->chunks_done = 0;
		}
	}
	int rc = ferry__state_load(cs->teng, cs->tconn, cs->plan->run_digest, add_stage_chunk, cs, &cs->err);
	for (size_t i = 0; i < js->njobs; i++)
		js->jobs[i].started_stage = 0;
	return rc;
}

/* Has every job of stage (NULL: any job) chunks recorded? Joiners wait for the holder to
 * plan them; a joiner never plans. */
typedef struct planned_ctx {
	copy_state *cs;
	const char *stage;
	int *has;
} planned_ctx;

static int planned_row(void *ud, const ferry_chunk_rec *rec)
{
	planned_ctx *pc = ud;
	if (rec->job >= 0 && (size_t)rec->job < pc->cs->js.njobs)
		pc->has[rec->job] = 1;
	else if (rec->job >= 0 && !pc->stage)
		pc->has[0] = 1;
	return 0;
}

static int is_planned(copy_state *cs, const char *stage, int *out)
{
	*out = 0;
	int *has = ferry__calloc(cs->js.njobs + 1, sizeof(int));
	if (!has)
		return ferry_err_set(&cs->err, FERRY_ENOMEM, "out of memory");
	planned_ctx pc = {cs, stage, has};
	int rc = ferry__state_load(cs->teng, cs->tconn, cs->plan->run_digest, planned_row, &pc, &cs->err);
	int all = 1, any = 0;
	for (size_t i = 0; i < cs->js.njobs; i++) {
		any |= has[i];
		if (stage && strcmp(cs->js.jobs[i].stage, stage) == 0 && !has[i])
			all = 0;
	}
	*out = rc == 0 && (stage ? all : any || has[0]);
	free(has);
	return rc;
}

/* A joiner waits until the holder has planned what it shares (stage NULL: anything, so its
 * target schema and tables are in); if the holder is gone meanwhile, it takes the run's lease
 * and goes on as the holder. */
static int take_lease(copy_state *cs, ferry_summary *sum);
static int joiner_wait(copy_state *cs, const char *stage, ferry_summary *sum)
{
	for (int round = 0; cs->joiner; round++) {
		int ok = 0;
		int rc = is_planned(cs, stage, &ok);
		if (rc || ok)
			return rc;
		if (round % 10 == 9) { /* every two seconds: is the holder still there? */
			cs->joiner = 0;
			if ((rc = take_lease(cs, sum)) != 0)
				return rc;
			if (!cs->joiner)
				return 0; /* the holder now: it plans */
		}
		if (ferry__interrupted(cs->ctx))
			return ferry_err_set(&cs->err, FERRY_EINTR, "interrupted while waiting for the holder of run %.12s to plan its chunks", cs->plan->run_digest);
		struct timespec ts = {0, 200 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return 0;
}

/* Run one stage's pending chunks through the scheduler. */
static int run_stage(copy_state *cs, const char *stage, ferry_summary *sum)
{
	jobset *js = &cs->js;
	ferry_chunk_list cl;
	memset(&cl, 0, sizeof(cl));
	int rc = cs->joiner ? joiner_wait(cs, stage, sum) : 0;
	if (rc == 0)
		rc = ferry__chunks_build(&cl, cs, stage);
	if (rc) {
		ferry__chunks_clear(&cl);
		return rc;
	}
	for (size_t i = 0; i < js->njobs; i++)
		if (strcmp(js->jobs[i].stage, stage) == 0) {
			js->jobs[i].started = ferry__now();
			ferry__sched_emit(cs->opts, FERRY_PROGRESS_START, &js->jobs[i], NULL);
		}
	int64_t *base = NULL; /* a joiner's figures before the stage: its share is the rest */
	if (rc == 0 && cs->join && !(base = ferry__calloc(js->njobs * 4 + 1, sizeof(int64_t))))
		rc = ferry_err_set(&cs->err, FERRY_ENOMEM, "out of memory");
	for (size_t i = 0; base && i < js->njobs; i++) {
		base[i * 4] = js->jobs[i].rows_read;
		base[i * 4 + 1] = js->jobs[i].rows_written;
		base[i * 4 + 2] = js->jobs[i].rows_rejected;
		base[i * 4 + 3] = js->jobs[i].rows_skipped;
	}
	if (rc == 0 && cl.nwork > 0) {
		ferry_sched_config cfg = {
			.ctx = cs->ctx, .plan = cs->plan, .run_id = cs->plan->run_digest,
			.sources = cs->sources, .teng = cs->teng, .js = js, .stage = stage, .opts = cs->opts,
			.lease = cs->lease, .shared = cs->join != NULL,
		};
		worker_counts(cs, cl.nwork, &cfg.nreaders, &cfg.nwriters);
		ferry_work_source src;
		if (cs->join)
			rc = ferry__join_stage(cs->join, &cl, stage, cs->tconn, &src, &cs->err);
		else
			ferry__chunks_source(&cl, &src);
		if (rc == 0 && cs->hooks && cs->hooks->wrap)
			cs->hooks->wrap(cs->hooks->ud, &src);
		if (rc == 0)
			rc = ferry__sched_run(&cfg, &src, &cs->err);
	}
	if (base) {
		for (size_t i = 0; i < js->njobs; i++)
			if (strcmp(js->jobs[i].stage, stage) == 0)
				cs->join_rows += js->jobs[i].rows_written - base[i * 4 + 1];
		if (rc == 0)
			rc = join_figures(cs, stage, base);
		free(base);
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
 * there are no cycles). out holds nstages indexes; FERRY_ENOMEM when out of memory (the
 * written order would run a stage before the ones it comes after). */
static int stage_order(const ferry_plan *p, size_t *out)
{
	size_t n = 0;
	int *placed = ferry__calloc(p->nstages + 1, sizeof(int));
	if (!placed)
		return FERRY_ENOMEM;
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
	return 0;
}

/* The target first: the run's lease is taken before any source is touched (a standby may
 * wait for hours, and a source's exported snapshot would hold back its cleanup that long). */
static int connect_target(copy_state *cs)
{
	cs->teng = ferry__engine_for(cs->ctx, cs->plan->target, &cs->err);
	if (!cs->teng)
		return cs->err.code;
	return cs->teng->core->connect(&cs->tconn, cs->plan->target, FERRY_CONNECT_CREATE, &cs->err);
}

static void lease_note(void *ud, const char *msg)
{
	copy_state *cs = ud;
	ferry__sched_emit(cs->opts, FERRY_PROGRESS_LEASE, NULL, msg);
}

/* The run's lease: one holder per run (lease.c). Not for --check (it writes nothing), nor for
 * a target that keeps its record itself (a label: export), nor inside ferry sync (whose
 * lease this copy uses). */
static int take_lease(copy_state *cs, ferry_summary *sum)
{
	const ferry_copy_options *o = cs->opts;
	if (cs->hooks) {
		cs->lease = cs->hooks->lease;
		return 0;
	}
	if (o->check_only)
		return 0;
	if (cs->teng->state || !cs->teng->core->exec_params) {
		if (o->standby || o->join)
			return ferry_err_set(&cs->err, FERRY_EUSAGE,
			                     "--standby and --join need a target database that keeps the run's lease: the target \"%s\" keeps its record in its own files (export's chunk files), so two exports of one label must not run at once",
			                     cs->teng->name);
		return 0;
	}
	if (o->join && (cs->teng->flags & FERRY_ENGINE_ONE_WRITER))
		return ferry_err_set(&cs->err, FERRY_EUSAGE,
		                     "--join needs a target that takes several writers at once (PostgreSQL): the target \"%s\" has one writer at a time, so joined processes would only queue behind each other",
		                     cs->teng->name);
	const ferry_engine *se = NULL;
	if (cs->plan->nsources && !(se = ferry__engine_for(cs->ctx, cs->plan->sources[0].url, &cs->err)))
		return cs->err.code;
	int import = se && (se->flags & FERRY_ENGINE_LABEL), joined = 0;
	ferry_lease_config lc = {
		.url = cs->plan->target, .run_id = cs->plan->run_digest,
		.kind = o->join ? (import ? "import+join" : "copy+join") : import ? "import" : "copy",
		.plan = cs->plan->path, .ttl_ms = o->lease_ms, .standby = o->standby, .ctx = cs->ctx,
		.join = o->join, .joined = &joined, .note = lease_note, .note_ud = cs,
	};
	int rc = ferry__lease_take(&cs->lease, cs->teng, &lc, &cs->err);
	if (rc)
		return rc;
	if (joined) {
		char msg[200];
		snprintf(msg, sizeof(msg), "--join: run %.12s\xe2\x80\xa6 is held by another process that shares it: claiming its chunks beside it",
		         cs->plan->run_digest);
		if (!cs->join_said)
			ferry__sched_emit(o, FERRY_PROGRESS_LEASE, NULL, msg);
		cs->join_said = 1;
		cs->joiner = 1;
		return 0;
	}
	cs->own_lease = 1;
	int shared = 0;
	rc = ferry__lease_visible(cs->lease, cs->tconn, &shared, &cs->err);
	if (rc == 0 && !shared) {
		/* Its connections do not share one database (in-memory): nobody else can come. */
		rc = ferry__lease_release(cs->lease, 1, &cs->err);
		cs->lease = NULL;
		cs->own_lease = 0;
	}
	const char *note = ferry__lease_note(cs->lease);
	if (rc == 0 && note && ferry__summary_note_at(sum, "lease", NULL, NULL, note) != 0)
		rc = ferry_err_set(&cs->err, FERRY_ENOMEM, "out of memory");
	return rc;
}

static int connect_sources(copy_state *cs)
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
	return 0;
}

static int stage_done(copy_state *cs, const char *stage, int *out)
{
	char flag[600];
	snprintf(flag, sizeof(flag), "stage:%s", stage);
	return ferry__state_get(cs->teng, cs->tconn, cs->plan->run_digest, flag, out, &cs->err);
}

static int count_rec(void *ud, const ferry_chunk_rec *rec)
{
	(void)rec;
	(*(int64_t *)ud)++;
	return 0;
}

/* 1 when the target holds anything of run id: its chunks or its end. A record the target
 * refuses to read for that id (a label another plan wrote) counts as nothing. */
static int run_known(copy_state *cs, const char *id, int *out)
{
	ferry_err e = {0};
	int finished = 0;
	int64_t chunks = 0;
	*out = 0;
	int rc = ferry__state_get(cs->teng, cs->tconn, id, "finished", &finished, &e);
	if (rc == 0 && !finished)
		rc = ferry__state_load(cs->teng, cs->tconn, id, count_rec, &chunks, &e);
	if (rc == FERRY_ENOMEM)
		return ferry__err_copy(&cs->err, &e);
	*out = rc == 0 && (finished || chunks > 0);
	return 0;
}

/* A run an earlier ferry started under the identity it gave the plan (its bytes) goes on
 * under that identity, so its chunks resume instead of being refused as another run's;
 * only when the target knows nothing of the plan's identity of today. A sync keeps its own
 * identity (its capture is named after it). */
static int adopt_earlier_identity(copy_state *cs, ferry_plan *local, ferry_summary *sum)
{
	const ferry_plan *p = cs->plan;
	if (cs->hooks || !p->legacy_digest[0] || strcmp(p->legacy_digest, p->run_digest) == 0)
		return 0;
	int now = 0, earlier = 0;
	int rc = run_known(cs, p->run_digest, &now);
	if (rc == 0 && !now)
		rc = run_known(cs, p->legacy_digest, &earlier);
	if (rc || !earlier)
		return rc;
	*local = *p;
	memcpy(local->run_digest, p->legacy_digest, sizeof(local->run_digest));
	memcpy(sum->run_id, p->legacy_digest, sizeof(sum->run_id));
	cs->plan = local;
	return 0;
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
	for (size_t i = 0; i < plan->nsources; i++) {
		int same = ferry__same_database(cs->ctx, plan->sources[i].url, plan->target);
		if (same < 0)
			return ferry_err_set(err, same, "out of memory");
		if (same) {
			char *m = ferry_url_mask(plan->target);
			ferry_err_set(err, FERRY_EUSAGE, "source \"%s\" and the target are the same database \"%s\"",
			              plan->sources[i].name, m ? m : "?");
			free(m);
			return FERRY_EUSAGE;
		}
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
static int run_stages(copy_state *cs, ferry_summary *sum)
{
	const ferry_plan *plan = cs->plan;
	size_t *order = ferry__calloc(plan->nstages + 1, sizeof(size_t));
	if (!order || stage_order(plan, order) != 0) {
		free(order);
		return ferry_err_set(&cs->err, FERRY_ENOMEM, "out of memory");
	}
	int rc = 0;
	for (size_t k = 0; rc == 0 && k < plan->nstages; k++) {
		const ferry_plan_stage *st = &plan->stages[order[k]];
		if ((cs->opts->stage && strcmp(cs->opts->stage, st->name) != 0) || st->absent)
			continue;
		rc = run_stage(cs, st->name, sum);
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
		if (ferry__summary_note_at(sum, "verify_waits", NULL, NULL, wait) != 0)
			return ferry_err_set(&cs->err, FERRY_ENOMEM, "out of memory");
		ferry__sched_emit_note(cs->opts, sum->notes[sum->nnotes - 1]);
	}
	if (rc == 0 && cs->opts->verify && all) {
		ferry_verify_options vo = FERRY_VERIFY_OPTIONS_INIT;
		vo.full = cs->opts->verify >= 2;
		vo.progress = cs->opts->progress;
		vo.progress_ud = cs->opts->progress_ud;
		ferry__target_phase(cs, "verify");
		rc = ferry__verify_run(&sum->verify, cs->ctx, cs->plan, &vo, &cs->err);
	}
	if (rc == 0 && !finished && all)
		rc = ferry__target_finish_run(cs, sum->verify);
	return rc;
}

/* --join: what this process did of the shared run, in its summary. */
static int join_note(copy_state *cs, ferry_summary *sum)
{
	int64_t chunks = 0, rows = 0;
	ferry__join_share(cs->join, &chunks, &rows);
	char msg[300];
	snprintf(msg, sizeof(msg),
	         "--join: this process committed %lld chunks (%lld rows) of run %.12s\xe2\x80\xa6; %s",
	         (long long)chunks, (long long)cs->join_rows, cs->plan->run_digest,
	         cs->joiner ? "its holder finishes the run and records it once"
	                    : "the figures above are the whole run's, every process's chunks");
	ferry__sched_emit(cs->opts, FERRY_PROGRESS_LEASE, NULL, msg);
	return ferry__summary_note_at(sum, "join_share", NULL, NULL, msg) ? ferry_err_set(&cs->err, FERRY_ENOMEM, "out of memory") : 0;
}

/* The summary's figures, the reject file, the engine's finish; then every connection. */
static int close_run(copy_state *cs, int rc, ferry_summary *sum)
{
	const ferry_copy_options *opts = cs->opts;
	/* What `later:` leaves for ferry backfill, counted in the source for the summary. */
	if (rc == 0 && !opts->check_only && cs->sources)
		rc = ferry__later_count(cs);
	if (rc == 0 && !opts->check_only && cs->tconn)
		rc = ferry__later_track(cs);
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
	/* Given up before the target's connection goes (a new file may be discarded), and
	 * whatever the outcome, so a standby or a rerun takes over at once. */
	ferry__join_close(cs->join);
	cs->join = NULL;
	int held = cs->own_lease;
	if (cs->own_lease) {
		ferry_err e2 = {0};
		int r2 = ferry__lease_release(cs->lease, !cs->changed, &e2);
		if (r2 && rc == 0)
			rc = ferry__err_copy(&cs->err, &e2);
	}
	cs->lease = NULL;
	/* Refused into a target that held nothing: leave nothing of ferry's there either (only
	 * the lease's holder: a process refused for another's lease must not touch its tables). */
	if (rc && held && !cs->changed && cs->was_empty && cs->tconn)
		ferry__state_drop_empty(cs->teng, cs->tconn, 1, &(ferry_err){0});
	if (cs->tconn) {
		if (rc == 0 && cs->teng->write->finish && !opts->check_only) {
			ferry__target_phase(cs, "analyze");
			rc = cs->teng->write->finish(cs->tconn, &cs->err);
		}
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

/* The target's preparation as --check runs it (every refusal, nothing committed), before
 * the run writes anything of its own; what it resolved is dropped, prepare runs again. */
static int precheck(copy_state *cs, int strict)
{
	ferry_copy_options o = *cs->opts;
	o.check_only = 1;
	const ferry_copy_options *keep = cs->opts;
	ferry_summary *scratch = ferry__summary_new(cs->plan->run_digest);
	if (!scratch)
		return ferry_err_set(&cs->err, FERRY_ENOMEM, "out of memory");
	o.progress = NULL; /* its notes come again from the real preparation */
	cs->opts = &o;
	int rc = ferry__target_prepare(cs, strict, scratch);
	cs->opts = keep;
	ferry__jobs_free(&cs->js);
	memset(&cs->js, 0, sizeof(cs->js));
	ferry__schema_free(cs->tschema);
	cs->tschema = NULL;
	ferry_summary_free(scratch);
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
	cs.started = ferry__now();
	int64_t max_rejects = 0;
	int strict = 0, finished = 0;
	int rc = check_options(&cs, &max_rejects, &strict);
	ferry_summary *sum = rc ? NULL : ferry__summary_new(plan->run_digest);
	if (rc == 0 && !sum)
		rc = ferry_err_set(&cs.err, FERRY_ENOMEM, "out of memory");
	if (rc)
		return ferry__ctx_fail(ctx, &cs.err);
	sum->max_rejects = max_rejects;
	ferry__utc_iso(sum->started_at);
	if (!(sum->target = ferry_url_mask(plan->target))) {
		ferry_summary_free(sum);
		return ferry__ctx_fail(ctx, &(ferry_err){FERRY_ENOMEM, "out of memory"});
	}
	ferry_plan earlier;
	rc = connect_target(&cs);
	/* The run's identity first (an earlier ferry's run of this plan goes on under its
	 * own), then its lease, then the sources. */
	if (rc == 0)
		rc = adopt_earlier_identity(&cs, &earlier, sum);
	plan = cs.plan;
	/* A standby or a joiner waits for the lease before touching the sources; any other run
	 * checks the whole plan first (rolled back), so that a plan mistake leaves the target
	 * as it was, the lease's row included (exit 2 means nothing changed). */
	int early = opts->standby || opts->join || opts->check_only || hooks;
	if (rc == 0 && early)
		rc = take_lease(&cs, sum);
	if (rc == 0)
		rc = connect_sources(&cs);
	if (rc == 0)
		rc = ferry__state_get(cs.teng, cs.tconn, plan->run_digest, "finished", &finished, &cs.err);
	if (rc == 0)
		rc = check_run(&cs, finished);
	/* A target that holds no table yet has nothing to keep as it was (a new SQLite file is
	 * removed on a refusal), and two processes of a run starting at once into it must not
	 * both check it: the lease decides between them first. */
	if (rc == 0 && !early) {
		ferry_schema *ts = ferry_schema_new();
		rc = ts ? cs.teng->core->introspect(cs.tconn, ts, &cs.err) : ferry_err_set(&cs.err, FERRY_ENOMEM, "out of memory");
		early = cs.was_empty = rc == 0 && ferry_schema_count(ts) == 0;
		ferry_schema_free(ts);
		if (rc == 0 && early)
			rc = take_lease(&cs, sum);
	}
	if (rc == 0 && !early)
		rc = precheck(&cs, strict);
	if (rc == 0 && !early)
		rc = take_lease(&cs, sum);
	if (rc == 0 && cs.joiner) /* the holder's target schema and tables first */
		rc = joiner_wait(&cs, NULL, sum);
	if (rc == 0)
		rc = ferry__target_prepare(&cs, strict, sum);
	if (rc == 0 && !opts->check_only) {
		sum->was_complete = finished;
		if (opts->truncate && !finished)
			rc = ferry__target_truncate(&cs);
		if (rc == 0 && opts->join)
			rc = ferry__join_open(&cs.join, cs.teng, plan->target, plan->run_digest, &cs.js, &cs.err);
		if (rc == 0)
			rc = run_stages(&cs, sum);
		/* A joiner whose holder is gone takes the run over to finish it; else the holder
		 * finishes it and the joiner reports its share. */
		if (rc == 0 && cs.joiner) {
			cs.joiner = 0;
			rc = take_lease(&cs, sum);
			if (rc == 0 && !cs.joiner)
				rc = recount_run(&cs);
		}
		if (rc == 0 && cs.join)
			rc = join_note(&cs, sum);
		if (rc == 0 && !cs.joiner)
			rc = finish(&cs, finished, sum);
	}
	rc = close_run(&cs, rc, sum);
	sum->elapsed = ferry__now() - cs.started;
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
