/* cutover.c — ferry cutover (DESIGN.md §8): catch up, block writes on every source, drain
 * the stream to the exact point where writes stopped (PostgreSQL: a marker through the
 * stream; SQLite: the log read to its end under the write lock), re-read what the drain
 * wrote on both sides, record the cut-over in ferry_history of both versions, fence the old
 * version and release the block. A pause that would pass its budget is released with
 * nothing changed and tried again after another catch-up. */
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <time.h>
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
	/* Test-only: FERRY_FAULT=drain-delay:MS makes every drain take that long (a stream that
	 * cannot reach the point where writes stopped within --max-pause). */
	const char *f = getenv("FERRY_FAULT");
	if (f && strncmp(f, "drain-delay:", 12) == 0) {
		long ms = strtol(f + 12, NULL, 10);
		struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
		nanosleep(&ts, NULL);
	}
	for (;;) {
		int all = 1;
		for (size_t i = 0; i < s->plan->nsources; i++) {
			osource *o = &s->os[i];
			if (!o->cap || o->drained)
				continue;
			size_t n = 0;
			int rc = ferry__sync_next(s, i, ch, CHANGES_MAX, &n, 5);
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

/* The switch's row in ferry_history, through c inside its open transaction. */
static int record(sync_state *s, const ferry_engine *e, ferry_conn *c, const char *kind,
                  const char *side, double pause_ms, const char *pos)
{
	/* A rollback completed by the forward sync's state names its ends the other way. */
	int swap = strcmp(kind, "rollback") == 0 && !s->back;
	const char *src = s->plan->nsources ? s->plan->sources[0].url : "";
	char *from = ferry_url_mask(swap ? s->plan->target : src);
	char *to = ferry_url_mask(swap ? src : s->plan->target);
	char *desc = from && to ? ferry__sprintf("%s from %s%s to %s (%s side)", kind, from,
	                                         s->plan->nsources > 1 ? " and more" : "", to, side)
	                        : NULL;
	char *verdict = ferry__sprintf("writes stopped at position %s; pause %.1f ms%s%s", pos, pause_ms,
	                               s->co && s->co->keep_old_writable ? "; left writable" : "; fenced",
	                               s->way ? "" : "; no way back");
	int rc = desc && verdict ? ferry__hist_ensure(c, e, &s->err) : OOM(&s->err);
	if (rc == 0) {
		ferry_hist_row row;
		memset(&row, 0, sizeof(row));
		row.description = desc;
		row.kind = (char *)kind;
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

/* ---- the switch's number: which version is live ------------------------------------------
 * Every cut-over and rollback of a plan has a number: odd for a cut-over, even for a
 * rollback. It commits as the flag "switch:N" of the forward sync's run, first in the
 * version the switch fences (inside its freeze, with the fence), then in the other. So the
 * larger number on either side says which version is live, and a side that lags names the
 * half of a switch a kill interrupted. */

static int epoch_of(const ferry_engine *e, ferry_conn *c, const char *run, int *n, ferry_err *err)
{
	*n = 0;
	for (;;) {
		char flag[32];
		int set = 0;
		snprintf(flag, sizeof(flag), "switch:%d", *n + 1);
		int rc = ferry__state_get(e, c, run, flag, &set, err);
		if (rc || !set)
			return rc;
		(*n)++;
	}
}

static int set_epoch(const ferry_engine *e, ferry_conn *c, const char *run, int n, ferry_err *err)
{
	char flag[32];
	snprintf(flag, sizeof(flag), "switch:%d", n);
	int rc = ferry__state_init(e, c, err);
	return rc ? rc : ferry__state_set(e, c, run, flag, err);
}

int ferry__switch_epochs(sync_state *f, int *n_old, int *n_new)
{
	*n_old = *n_new = 0;
	const char *run = f->splan.run_digest;
	int rc = epoch_of(f->teng, f->tconn, run, n_new, &f->err);
	osource *o = &f->os[0];
	ferry_conn *c = o->admin;
	if (rc == 0 && !c)
		rc = o->eng->core->connect(&c, f->plan->sources[0].url, FERRY_CONNECT_LIVE, &f->err);
	if (rc == 0)
		rc = epoch_of(o->eng, c, run, n_old, &f->err);
	if (c && c != o->admin)
		o->eng->core->close(c);
	return rc;
}

void ferry__back_run_id(char out[33], const sync_state *f)
{
	char id[64];
	int n = snprintf(id, sizeof(id), "%s:back", f->splan.run_digest);
	ferry__hash128_hex(out, id, (size_t)n);
}

/* The second half of switch n, in the version it made live (conn c of engine e): its fence
 * from an earlier switch lifted (unfence_run: the run that fenced it), then its record. A
 * rerun after a kill between the halves does the same. */
static int live_side(sync_state *s, const ferry_engine *e, ferry_conn *c, const char *unfence_run,
                     int n, const char *kind, double pause_ms, const char *pos, int unfence_only)
{
	int rc = 0;
	if (unfence_run && e->capture && e->capture->unfence)
		rc = e->capture->unfence(c, unfence_run, &s->err);
	if (rc || unfence_only)
		return rc;
	rc = e->core->begin(c, &s->err);
	if (rc == 0)
		rc = record(s, e, c, kind, "live version", pause_ms, pos);
	if (rc == 0)
		rc = set_epoch(e, c, s->fwd_run, n, &s->err);
	if (rc == 0)
		rc = ferry__state_set(e, c, s->splan.run_digest, kind, &s->err);
	if (rc == 0)
		return e->core->commit(c, &s->err);
	e->core->rollback(c, &(ferry_err){0});
	return rc;
}

int ferry__switch_complete(sync_state *f, int n_old, int n_new)
{
	/* The way back's run fenced the new version; the forward sync's fenced the old. */
	char back[33];
	ferry__back_run_id(back, f);
	if (n_old > n_new) { /* a cut-over committed in the old version: the new one is live */
		ferry__sync_note(f, "completing the cut-over an earlier process committed");
		return live_side(f, f->teng, f->tconn, back, n_old, "cutover", 0, "?", 0);
	}
	if (n_new > n_old) { /* a rollback committed in the new version: the old one is live */
		osource *o = &f->os[0];
		ferry_conn *c = o->admin;
		int rc = c ? 0 : o->eng->core->connect(&c, f->plan->sources[0].url, FERRY_CONNECT_LIVE, &f->err);
		ferry__sync_note(f, "completing the rollback an earlier process committed");
		if (rc == 0)
			rc = live_side(f, o->eng, c, f->splan.run_digest, n_new, "rollback", 0, "?", 0);
		if (c && c != o->admin)
			o->eng->core->close(c);
		return rc;
	}
	return 0;
}

/* Inside the freeze: each source's record and fence, the switch's number and the position
 * the stream the other way starts from, in the freeze's transaction, so that they commit
 * with its release (a kill before that leaves every version as it was). */
static int record_and_fence(sync_state *s, double pause_ms, int n, const char *kind,
                            uint64_t back_pos)
{
	char pos[32];
	snprintf(pos, sizeof(pos), "%llu", (unsigned long long)s->os[0].pos);
	int rc = 0;
	char *to = ferry_url_mask(s->plan->target);
	char *msg = !to ? NULL
	            : n % 2 ? ferry__sprintf("ferry: this database was upgraded and is read-only now: write to the new version at %s (run %s)",
	                                     to, s->splan.run_digest)
	                    : ferry__sprintf("ferry: this database was rolled back and is read-only now: write to the version at %s (run %s)",
	                                     to, s->splan.run_digest);
	free(to);
	for (size_t i = 0; rc == 0 && i < s->plan->nsources; i++) {
		osource *o = &s->os[i];
		if (!o->cap)
			continue;
		rc = record(s, o->eng, o->admin, kind, n % 2 ? "old version" : "new version", pause_ms, pos);
		if (rc == 0 && !s->co->keep_old_writable)
			rc = msg ? o->eng->capture->fence(o->admin, s->splan.run_digest, o->tables, o->ntables, msg, &s->err)
			         : OOM(&s->err);
		if (rc == 0)
			rc = set_epoch(o->eng, o->admin, s->fwd_run, n, &s->err);
		/* The stream the other way writes into this version from the marker on (after
		 * both ways it runs already, from its own position). */
		if (rc == 0 && s->way && !s->both)
			rc = ferry__state_position_set(o->eng, o->admin, s->way->splan.run_digest, 0, back_pos, &s->err);
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

/* Test-only: FERRY_FAULT=kill-in-cutover:PHASE kills the process at that point of the
 * pause (frozen, drained, fenced, released), for the tests that prove a rerun completes. */
static void fault_point(const char *phase)
{
	const char *f = getenv("FERRY_FAULT");
	if (f && (strncmp(f, "kill-in-cutover:", 16) == 0 || strncmp(f, "kill-in-rollback:", 17) == 0) &&
	    strcmp(strchr(f, ':') + 1, phase) == 0)
		raise(SIGKILL);
}

/* --verify inside the pause: the forward plan compared, old version against new, while
 * neither takes writes. A difference releases everything with nothing switched. */
static int verify_in_pause(sync_state *s, int64_t *rows)
{
	ferry_verify_options vo = FERRY_VERIFY_OPTIONS_INIT;
	vo.full = s->co->verify >= 2;
	ferry_verify_report *rep = NULL;
	int rc = ferry_verify(&rep, s->ctx, s->fwd_plan, &vo);
	if (rc)
		return ferry_err_set(&s->err, rc, "--verify: %s", ferry_errmsg(s->ctx));
	for (size_t i = 0; i < ferry_verify_report_count(rep); i++) {
		ferry_verify_table t;
		if (ferry_verify_report_table(&t, rep, i) == 0)
			*rows += t.compared;
	}
	if (!ferry_verify_report_ok(rep)) {
		ferry_verify_table t = {0};
		for (size_t i = 0; i < ferry_verify_report_count(rep); i++)
			if (ferry_verify_report_table(&t, rep, i) == 0 && (t.missing || t.extra || t.different || t.counts_differ))
				break;
		rc = ferry_err_set(&s->err, FERRY_ECORRUPT,
		                   "--verify found differences inside the pause (table \"%s\": %lld missing, %lld extra, %lld different); nothing was switched and writes were released: run ferry verify -p PLAN --full for the list",
		                   t.table ? t.table : "?", (long long)t.missing, (long long)t.extra,
		                   (long long)t.different);
	}
	ferry_verify_report_free(rep);
	return rc;
}

/* One try of switch n: block, drain, check, start the way back, record, fence, release.
 * *late when the budget ran out (everything released, nothing changed). */
static int attempt(sync_state *s, ferry_cutover_result *r, ferry_change *ch, int budget_ms,
                   int n, const char *kind, int *late)
{
	*late = 0;
	snprintf(s->freeze_text, sizeof(s->freeze_text), "%s %d %lld", kind, r->attempts,
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
		/* After both ways the new version has writes of its own the drain's keys may hold:
		 * the way back carries them, and ferry verify compares once it is caught up. */
		rc = s->both ? 0 : ferry__sync_check(s, &r->rows_checked);
		/* The budget bounds the pause, not only the drain: past it, release and try again. */
		if (rc == 0 && ms_since(t0) > budget_ms)
			*late = 1;
		if (rc == 0 && !*late && s->co->verify)
			rc = verify_in_pause(s, &r->rows_checked);
		r->check_ms = ms_since(t2);
	}
	s->checking = 0;
	/* The way back starts at a marker in the version about to go live, put there while
	 * nothing but ferry has written to it since the drain. */
	uint64_t back_pos = 0;
	if (rc == 0 && !*late && s->way) {
		rc = s->teng->capture->marker(s->tconn, s->way->splan.run_digest, s->freeze_text, &back_pos, &s->err);
		if (rc == 0 && back_pos == 0)
			rc = ferry_err_set(&s->err, FERRY_ERROR, "engine %s gave no position for the way back's start", s->teng->name);
	}
	if (rc || *late) {
		ferry_err keep = s->err;
		thaw_all(s, 0);
		release_pooler(s);
		s->err = keep;
		return rc;
	}
	fault_point("drained");
	double t3 = ferry__now();
	rc = record_and_fence(s, ms_since(t0), n, kind, back_pos);
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
	/* The version going live was fenced by the switch before this one: lift it before the
	 * pooler lets the applications through. */
	if (rc == 0 && s->way)
		rc = live_side(s, s->teng, s->tconn, s->way->splan.run_digest, n, kind, 0, "", 1);
	if (rc == 0 && s->sw)
		rc = s->sw->resume(s->swh, &s->err);
	r->pause_ms = ms_since(t0);
	if (rc == 0)
		fault_point("released");
	/* After the pause: what the record's tables still wait for in the version just fenced
	 * (PostgreSQL builds ferry_history's key after its first rows, as for any table ferry
	 * creates). */
	for (size_t i = 0; rc == 0 && i < s->plan->nsources; i++)
		if (s->os[i].cap && s->os[i].eng->write->finish)
			rc = s->os[i].eng->write->finish(s->os[i].admin, &s->err);
	snprintf(r->position, sizeof(r->position), "%llu", (unsigned long long)s->os[0].pos);
	if (rc == 0)
		rc = live_side(s, s->teng, s->tconn, NULL, n, kind, r->pause_ms, r->position, 0);
	return rc;
}

/* Catch up and switch, trying again while the pause would pass its budget. s is started. */
static int run_switch(sync_state *s, ferry_cutover_result *r, int n, const char *kind)
{
	int budget = s->co->max_pause_ms > 0 ? s->co->max_pause_ms : 2000;
	int tries = s->co->attempts > 0 ? s->co->attempts : 3;
	ferry_change *ch = ferry__calloc(CHANGES_MAX, sizeof(ferry_change));
	if (!ch)
		return OOM(&s->err);
	double t = ferry__now();
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < s->plan->nsources; i++)
		if (s->os[i].cap && !s->os[i].eng->capture->freeze)
			rc = ferry_err_set(&s->err, FERRY_EUSAGE, "cannot %s source \"%s\": its engine (%s) cannot block writes",
			                   n % 2 ? "cut over" : "roll back", s->plan->sources[i].name, s->os[i].eng->name);
	int late = 1;
	while (rc == 0 && late && r->attempts < tries) {
		rc = ferry__sync_stream(s, 1);
		if (r->attempts == 0)
			r->catchup_ms = ms_since(t);
		r->attempts++;
		if (rc == 0) {
			ferry__sync_note(s, n % 2 ? "cut-over: blocking writes on the sources"
			                          : "rollback: blocking writes on the new version");
			rc = attempt(s, r, ch, budget, n, kind, &late);
		}
		if (rc == 0 && late)
			ferry__sync_note(s, "the pause would pass --max-pause; writes released, nothing lost; catching up to try again");
	}
	if (rc == 0 && late)
		rc = ferry_err_set(&s->err, FERRY_ERROR,
		                   "could not %s within --max-pause %d ms in %d attempts (writes were released each time, nothing lost, the %s version is still the live one): raise --max-pause, or try when writes are fewer",
		                   n % 2 ? "cut over" : "roll back", budget, tries, n % 2 ? "old" : "new");
	free(ch);
	return rc;
}

/* ferry cutover (rollback 0) and ferry rollback (rollback 1) share everything but the
 * direction: the stream that is caught up, frozen and drained, and the one started the
 * other way. */
static int run_cutover(sync_state *f, sync_state *b, ferry_cutover_result *r, int rollback)
{
	const ferry_cutover_options *co = f->co;
	/* A version left writable takes writes nobody carries once the other stream writes into
	 * it too: the way back (or, after a rollback, the forward stream) would overwrite them. */
	if (co->keep_old_writable && (rollback || !co->no_way_back))
		return ferry_err_set(&f->err, FERRY_EUSAGE, rollback
		                     ? "--keep-old-writable cannot be used with ferry rollback: the forward stream writes into the new version from the rollback on, so it must not take the applications' writes"
		                     : "--keep-old-writable needs --no-way-back: the way back writes into the old version, so it must not take the applications' writes too");
	int rc = co->switch_url ? open_switch(f, co->switch_url) : 0;
	if (rc == 0)
		rc = ferry__sync_prepare(f);
	int n_old = 0, n_new = 0;
	if (rc == 0)
		rc = ferry__switch_epochs(f, &n_old, &n_new);
	int n = n_old > n_new ? n_old : n_new;
	int done = 0;
	if (rc == 0 && n)
		rc = ferry__state_get(f->teng, f->tconn, f->splan.run_digest, "sync-finished", &done, &f->err);
	if (rc == 0 && done)
		return ferry_err_set(&f->err, FERRY_EUSAGE,
		                     "this plan's sync was finished after its cut-over (ferry sync --finish): nothing carries changes between the versions any more, so there is nothing to %s",
		                     rollback ? "roll back" : "cut over");
	if (rc == 0 && n_old != n_new) { /* a kill between the halves of switch n */
		rc = ferry__switch_complete(f, n_old, n_new);
		if (rc == 0 && (n % 2 == 1) == !rollback) {
			r->completed = 1;
			return 0;
		}
	}
	if (rc == 0 && !rollback && n % 2 == 1) {
		r->completed = 1; /* already cut over: nothing to do */
		ferry__sync_note(f, "already cut over: the new version is live (ferry rollback goes back)");
		return 0;
	}
	if (rc == 0 && rollback && n % 2 == 0)
		return ferry_err_set(&f->err, FERRY_EUSAGE, n ? "already rolled back: the old version is live (ferry cutover switches again)"
		                                             : "nothing to roll back: this plan was never cut over (ferry cutover first)");
	int way = rc == 0 && !(co->no_way_back && !rollback);
	if (rc == 0 && rollback) {
		int none = 0;
		rc = ferry__state_get(f->teng, f->tconn, f->splan.run_digest, "no-way-back", &none, &f->err);
		if (rc == 0 && none)
			rc = ferry_err_set(&f->err, FERRY_EUSAGE, "cannot roll back: the cut-over ran with --no-way-back, so the old version did not follow the new one");
	}
	/* The way back: its plan and capture, before anything is blocked. Its resolution reads
	 * the new version's tables, so a cut-over that runs the first sync itself opens the
	 * forward stream first (a refusal then leaves that sync in place, which a rerun or
	 * ferry sync --finish takes from there: exit 1, not 2). */
	uint64_t synced = 0;
	if (rc == 0 && !rollback)
		rc = ferry__state_position_get(f->teng, f->tconn, f->splan.run_digest, 0, &synced, &f->err);
	if (rc == 0 && way && !rollback && !synced) {
		ferry_plan *probe = NULL;
		rc = ferry__inverse_plan(&probe, f, &f->err); /* what needs no table refuses now */
		ferry_plan_free(probe);
		if (rc == 0)
			rc = ferry__sync_open(f);
		if (rc == 0 && (rc = ferry__back_open(b, f)) == FERRY_EUSAGE)
			rc = f->err.code = FERRY_ERROR;
	} else {
		if (rc == 0 && way)
			rc = ferry__back_open(b, f);
		if (rc == 0 && !rollback)
			rc = ferry__sync_open(f);
	}
	if (rc)
		return rc;
	/* After ferry sync --both-ways the way back is running: the cut-over's drain keeps
	 * to its rules (both.c), and the way back goes on from where it is. */
	int both = 0;
	if (rc == 0 && !rollback)
		rc = ferry__state_get(f->teng, f->tconn, f->splan.run_digest, "both-ways", &both, &f->err);
	if (rc == 0 && both && (!way || co->verify))
		rc = ferry_err_set(&f->err, FERRY_EUSAGE, !way
		                   ? "--no-way-back after ferry sync --both-ways would drop the new version's changes the way back has not carried yet: cut over without it"
		                   : "--verify cannot compare inside the pause after ferry sync --both-ways: the new version takes writes of its own; run ferry verify once ferry sync has caught up");
	if (rc == 0 && both)
		rc = ferry__both_link(f, b);
	if (rc)
		return rc;
	sync_state *s = rollback ? b : f;
	s->way = way ? (rollback ? f : b) : NULL;
	if (s->way)
		s->way->installed = 1;
	if (rollback) { /* the forward stream's capture of the old version must still be there */
		rc = ferry__sync_lease(b);
		if (rc == 0)
			rc = ferry__sync_open_captures(f);
		if (rc)
			return rc;
		s->sw = f->sw;
		s->swh = f->swh;
	}
	rc = run_switch(s, r, n + 1, rollback ? "rollback" : "cutover");
	if (rc)
		ferry__err_copy(&f->err, &s->err);
	if (rc == 0 && !way)
		rc = ferry__state_set(f->teng, f->tconn, f->splan.run_digest, "no-way-back", &f->err);
	return rc;
}

static int switch_main(ferry_cutover_result *out, ferry_ctx *ctx, const ferry_plan *plan,
                       const ferry_cutover_options *opts, int rollback)
{
	ferry_cutover_options defaults = FERRY_CUTOVER_OPTIONS_INIT;
	ferry_cutover_result r;
	memset(&r, 0, sizeof(r));
	if (!opts)
		opts = &defaults;
	sync_state *f = ferry__calloc(2, sizeof(*f));
	if (!f)
		return ferry__ctx_fail(ctx, &(ferry_err){FERRY_ENOMEM, "out of memory"});
	sync_state *b = &f[1];
	int rc = opts->version == FERRY_CUTOVER_OPTIONS_VERSION
	             ? ferry__sync_init(f, ctx, plan, &opts->sync)
	             : ferry_err_set(&f->err, FERRY_EUSAGE, "unknown ferry_%s_options version %u",
	                             rollback ? "rollback" : "cutover", opts->version);
	f->co = opts;
	if (rc == 0)
		rc = run_cutover(f, b, &r, rollback);
	if (rc == 0) {
		f->st.phase = FERRY_SYNC_FINISHED;
		ferry__sync_note(f, rollback ? "rolled back: the old version is live again; the new one is fenced and follows it (ferry sync carries its changes)"
		                 : opts->keep_old_writable ? "cut over: the new version is live; the old one is still writable"
		                 : opts->no_way_back ? "cut over: the new version is live; the old one is fenced (no way back)"
		                                     : "cut over: the new version is live; the old one is fenced and follows it (ferry sync carries the way back)");
	}
	if (f->sw && f->swh)
		f->sw->close(f->swh);
	if (b->plan) {
		ferry__sync_close(b);
		ferry_plan_free(b->inv);
	}
	ferry__sync_close(f);
	if (rc)
		rc = ferry__ctx_fail(ctx, &f->err);
	free(f);
	if (out)
		*out = r;
	return rc;
}

int ferry_cutover(ferry_cutover_result *out, ferry_ctx *ctx, const ferry_plan *plan,
                  const ferry_cutover_options *opts)
{
	return switch_main(out, ctx, plan, opts, 0);
}

int ferry_rollback(ferry_cutover_result *out, ferry_ctx *ctx, const ferry_plan *plan,
                   const ferry_cutover_options *opts)
{
	return switch_main(out, ctx, plan, opts, 1);
}
