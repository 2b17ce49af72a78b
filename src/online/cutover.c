/* cutover.c — ferry cutover (DESIGN.md §8): catch up, block writes on every source, drain
 * the stream to the exact point where writes stopped (PostgreSQL: a marker through the
 * stream; SQLite: the log read to its end under the write lock), re-read what the drain
 * wrote on both sides, record the cut-over in ferry_history of both versions, fence the old
 * version and release the block. A pause that would pass its budget is released with
 * nothing changed and tried again after another catch-up. */
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include "online.h"
#include "../history/history.h"

static double ms_since(double t)
{
	return (ferry__now() - t) * 1000.0;
}

/* Release every source frozen so far; commit keeps what was done inside the freeze. */
static int thaw_all(sync_state *s, int commit)
{
	int rc = 0;
	for (size_t i = 0; i < s->plan->nsources; i++) {
		osource *o = &s->os[i];
		if (!o->frozen)
			continue;
		ferry_err e = {0};
		int r = o->eng->capture->thaw(o->admin, commit, &e);
		o->frozen = 0;
		if (r && rc == 0) {
			rc = r;
			s->err = e;
		}
	}
	return rc;
}

static int freeze_all(sync_state *s, int wait_ms)
{
	for (size_t i = 0; i < s->plan->nsources; i++) {
		osource *o = &s->os[i];
		if (!o->cap)
			continue;
		o->drained = 0;
		o->freeze_seen = 0;
		int rc = o->eng->capture->freeze(o->admin, s->splan.run_digest, o->tables, o->ntables,
		                                 wait_ms, s->freeze_text, &o->freeze_pos, &s->err);
		if (rc)
			return rc;
		o->frozen = 1;
	}
	return 0;
}

/* Apply until every source has delivered everything committed before its freeze: the
 * freeze's marker came through (PostgreSQL), or the log has nothing more (SQLite: nothing
 * can be committed while frozen). Returns 1 in *late when budget_ms passed first. */
static int drain(sync_state *s, ferry_change *ch, double t0, int budget_ms, int *late)
{
	*late = 0;
	for (;;) {
		int all = 1;
		for (size_t i = 0; i < s->plan->nsources; i++) {
			osource *o = &s->os[i];
			if (!o->cap || o->drained)
				continue;
			size_t n = 0;
			int rc = o->eng->capture->next(o->cap, ch, CHANGES_MAX, &n, 5, &s->err);
			if (rc == 0 && n)
				rc = ferry__sync_apply(s, i, ch, n);
			if (rc)
				return rc;
			if (o->freeze_seen || (n == 0 && o->pos + 1 >= o->freeze_pos))
				o->drained = 1;
			all &= o->drained;
		}
		if (all)
			return 0;
		if (ms_since(t0) > budget_ms) {
			*late = 1;
			return 0;
		}
	}
}

/* The cut-over's row in ferry_history, through c inside its open transaction. */
static int record(sync_state *s, const ferry_engine *e, ferry_conn *c, const char *side,
                  double pause_ms, const char *pos)
{
	char *from = ferry_url_mask(s->plan->nsources ? s->plan->sources[0].url : "");
	char *to = ferry_url_mask(s->plan->target);
	char *desc = from && to ? ferry__sprintf("cutover from %s%s to %s (%s side)", from,
	                                         s->plan->nsources > 1 ? " and more" : "", to, side)
	                        : NULL;
	char *verdict = ferry__sprintf("writes stopped at position %s; pause %.1f ms%s", pos, pause_ms,
	                               s->co->keep_old_writable ? "; old version left writable" : "; old version fenced");
	int rc = desc && verdict ? ferry__hist_ensure(c, e, &s->err) : OOM(&s->err);
	if (rc == 0) {
		ferry_hist_row row;
		memset(&row, 0, sizeof(row));
		row.description = desc;
		row.kind = (char *)"cutover";
		row.duration_ms = (int64_t)pause_ms;
		row.success = 1;
		row.run_id = s->splan.run_digest;
		row.rows_moved = -1;
		row.verdict = verdict;
		rc = ferry__hist_insert(c, e, &row, &s->err);
	}
	free(from);
	free(to);
	free(desc);
	free(verdict);
	return rc;
}

/* Inside the freeze: each source's record and fence, in the freeze's transaction, so they
 * commit with its release (a kill before that leaves the old version as it was). */
static int record_and_fence(sync_state *s, double pause_ms)
{
	char pos[32];
	snprintf(pos, sizeof(pos), "%llu", (unsigned long long)s->os[0].pos);
	int rc = 0;
	char *to = ferry_url_mask(s->plan->target);
	char *msg = to ? ferry__sprintf("ferry: this database was upgraded and is read-only now: write to the new version at %s (run %s)",
	                                to, s->splan.run_digest)
	               : NULL;
	free(to);
	for (size_t i = 0; rc == 0 && i < s->plan->nsources; i++) {
		osource *o = &s->os[i];
		if (!o->cap)
			continue;
		rc = record(s, o->eng, o->admin, "old version", pause_ms, pos);
		if (rc == 0 && !s->co->keep_old_writable)
			rc = msg ? o->eng->capture->fence(o->admin, s->splan.run_digest, o->tables, o->ntables, msg, &s->err)
			         : OOM(&s->err);
	}
	free(msg);
	return rc;
}

/* Let the applications' pooled connections go on (after a released attempt). */
static void release_pooler(sync_state *s)
{
	if (s->sw)
		s->sw->resume(s->swh, &(ferry_err){0});
}

/* The --switch pooler: an engine that declares its scheme opens it. */
static int open_switch(sync_state *s, const char *url)
{
	for (size_t i = 0; i < s->ctx->nengines; i++) {
		const ferry_engine_switch *sw = s->ctx->engines[i]->pool_switch;
		size_t n = sw ? strlen(sw->scheme) : 0;
		if (sw && strncmp(url, sw->scheme, n) == 0 && strncmp(url + n, "://", 3) == 0) {
			s->sw = sw;
			return sw->open(&s->swh, url, &s->err);
		}
	}
	return ferry_err_set(&s->err, FERRY_EUSAGE, "--switch \"%s\": no engine knows this kind of pooler (pgbouncer://...)", url);
}

/* After the release: the new version's record. A kill before it leaves the old version
 * fenced and this row missing; a rerun of the cut-over (the fence is idempotent) adds it. */
static int record_target(sync_state *s, double pause_ms)
{
	char pos[32];
	snprintf(pos, sizeof(pos), "%llu", (unsigned long long)s->os[0].pos);
	int rc = s->teng->core->begin(s->tconn, &s->err);
	if (rc == 0)
		rc = record(s, s->teng, s->tconn, "new version", pause_ms, pos);
	if (rc == 0)
		rc = ferry__state_set(s->teng, s->tconn, s->splan.run_digest, "cutover", &s->err);
	if (rc == 0)
		return s->teng->core->commit(s->tconn, &s->err);
	s->teng->core->rollback(s->tconn, &(ferry_err){0});
	return rc;
}

/* Test-only: FERRY_FAULT=kill-in-cutover:PHASE kills the process at that point of the
 * pause (frozen, drained, fenced, released), for the tests that prove a rerun completes. */
static void fault_point(const char *phase)
{
	const char *f = getenv("FERRY_FAULT");
	if (f && strncmp(f, "kill-in-cutover:", 16) == 0 && strcmp(f + 16, phase) == 0)
		raise(SIGKILL);
}

/* One try: block, drain, check, record, fence, release. *late when the budget ran out
 * (everything released, nothing changed). */
static int attempt(sync_state *s, ferry_cutover_result *r, ferry_change *ch, int budget_ms, int *late)
{
	*late = 0;
	snprintf(s->freeze_text, sizeof(s->freeze_text), "cutover %d %lld", r->attempts,
	         (long long)ferry__wall_us());
	double t0 = ferry__now();
	int rc = s->sw ? s->sw->pause(s->swh, &s->err) : 0;
	if (rc)
		return rc;
	rc = freeze_all(s, budget_ms);
	if (rc) {
		thaw_all(s, 0);
		release_pooler(s);
		*late = 1; /* the lock could not be had in time: try again */
		return 0;
	}
	r->lock_ms = ms_since(t0);
	fault_point("frozen");
	double t1 = ferry__now();
	s->checking = 1;
	rc = drain(s, ch, t0, budget_ms, late);
	r->drain_ms = ms_since(t1);
	if (rc == 0 && !*late) {
		double t2 = ferry__now();
		rc = ferry__sync_check(s, &r->rows_checked);
		r->check_ms = ms_since(t2);
	}
	s->checking = 0;
	if (rc || *late) {
		ferry_err keep = s->err;
		thaw_all(s, 0);
		release_pooler(s);
		s->err = keep;
		return rc;
	}
	fault_point("drained");
	double t3 = ferry__now();
	rc = record_and_fence(s, ms_since(t0));
	if (rc == 0)
		fault_point("fenced");
	/* The applications' entry points at the new version before anything is released. */
	if (rc == 0 && s->sw)
		rc = s->sw->repoint(s->swh, s->plan->target, &s->err);
	r->record_ms = ms_since(t3);
	if (rc) {
		ferry_err keep = s->err;
		thaw_all(s, 0);
		release_pooler(s);
		s->err = keep;
		return rc;
	}
	rc = thaw_all(s, 1);
	if (rc == 0 && s->sw)
		rc = s->sw->resume(s->swh, &s->err);
	r->pause_ms = ms_since(t0);
	if (rc == 0)
		fault_point("released");
	if (rc == 0)
		rc = record_target(s, r->pause_ms);
	snprintf(r->position, sizeof(r->position), "%llu", (unsigned long long)s->os[0].pos);
	return rc;
}

static int run_cutover(sync_state *s, ferry_cutover_result *r)
{
	int budget = s->co->max_pause_ms > 0 ? s->co->max_pause_ms : 2000;
	int tries = s->co->attempts > 0 ? s->co->attempts : 3;
	ferry_change *ch = ferry__calloc(CHANGES_MAX, sizeof(ferry_change));
	if (!ch)
		return OOM(&s->err);
	double t = ferry__now();
	int rc = s->co->switch_url ? open_switch(s, s->co->switch_url) : 0;
	if (rc == 0)
		rc = ferry__sync_start(s);
	for (size_t i = 0; rc == 0 && i < s->plan->nsources; i++)
		if (s->os[i].cap && !s->os[i].eng->capture->freeze)
			rc = ferry_err_set(&s->err, FERRY_EUSAGE, "cannot cut over source \"%s\": its engine (%s) cannot block writes",
			                   s->plan->sources[i].name, s->os[i].eng->name);
	int late = 1;
	while (rc == 0 && late && r->attempts < tries) {
		rc = ferry__sync_stream(s, 1);
		if (r->attempts == 0)
			r->catchup_ms = ms_since(t);
		r->attempts++;
		if (rc == 0) {
			ferry__sync_note(s, "cut-over: blocking writes on the sources");
			rc = attempt(s, r, ch, budget, &late);
		}
		if (rc == 0 && late)
			ferry__sync_note(s, "cut-over: the pause would pass --max-pause; writes released, nothing lost; catching up to try again");
	}
	if (rc == 0 && late)
		rc = ferry_err_set(&s->err, FERRY_ERROR,
		                   "could not cut over within --max-pause %d ms in %d attempts (writes were released each time, nothing lost, the old version is still writable): raise --max-pause, or cut over when writes are fewer",
		                   budget, tries);
	free(ch);
	return rc;
}

int ferry_cutover(ferry_cutover_result *out, ferry_ctx *ctx, const ferry_plan *plan,
                  const ferry_cutover_options *opts)
{
	ferry_cutover_options defaults = FERRY_CUTOVER_OPTIONS_INIT;
	ferry_cutover_result r;
	memset(&r, 0, sizeof(r));
	if (!opts)
		opts = &defaults;
	sync_state *s = ferry__calloc(1, sizeof(*s));
	if (!s)
		return ferry__ctx_fail(ctx, &(ferry_err){FERRY_ENOMEM, "out of memory"});
	int rc = opts->version == FERRY_CUTOVER_OPTIONS_VERSION
	             ? ferry__sync_init(s, ctx, plan, &opts->sync)
	             : ferry_err_set(&s->err, FERRY_EUSAGE, "unknown ferry_cutover_options version %u", opts->version);
	s->co = opts;
	if (rc == 0)
		rc = run_cutover(s, &r);
	if (rc == 0) {
		s->st.phase = FERRY_SYNC_FINISHED;
		ferry__sync_note(s, opts->keep_old_writable ? "cut over: the new version is live; the old one is still writable"
		                                             : "cut over: the new version is live; the old one is fenced");
	}
	if (s->sw && s->swh)
		s->sw->close(s->swh);
	ferry__sync_close(s);
	if (rc)
		rc = ferry__ctx_fail(ctx, &s->err);
	free(s);
	if (out)
		*out = r;
	return rc;
}
