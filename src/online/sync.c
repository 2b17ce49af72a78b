/* sync.c — ferry sync (DESIGN.md §8, docs/ONLINE.md). Change capture starts on every source
 * first; then the snapshot copy runs through ferry_copy's pipeline (its readers join the
 * capture's snapshot, or, where the engine has none, converge through the replay); then the
 * captured changes are applied through the plan: the keys a change touched are re-read
 * through the job's own select list and upserted, or deleted from the target when the source
 * no longer has them or the plan's where no longer takes them. The stream's position commits
 * in the same target transaction as the rows it covers, so a replay is harmless. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include "online.h"
#include "../history/history.h"
#include "../pipeline/lease.h"

/* ---- status ---------------------------------------------------------------------------- */

static int cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;
	return x < y ? -1 : x > y;
}

/* p50 and p99 of the lags kept (a copy sorted: the ring stays in arrival order). */
static void lag_quantiles(sync_state *s)
{
	size_t n = s->nlags < FERRY_ARRAY_LEN(s->lags) ? s->nlags : FERRY_ARRAY_LEN(s->lags);
	s->st.lag_p50 = s->st.lag_p99 = -1;
	if (n == 0)
		return;
	float sorted[FERRY_ARRAY_LEN(s->lags)];
	memcpy(sorted, s->lags, n * sizeof(float));
	qsort(sorted, n, sizeof(float), cmp_float);
	s->st.lag_p50 = sorted[(n - 1) / 2];
	s->st.lag_p99 = sorted[(size_t)((double)(n - 1) * 0.99)];
}

static void status(sync_state *s, int force)
{
	double now = ferry__now();
	double every = s->o->status_interval > 0 ? s->o->status_interval : 1.0;
	if (!s->o->status || (!force && now - s->last_status < every))
		return;
	if (now > s->rate_t) {
		s->st.apply_rate = (double)(s->st.changes_applied - s->rate_n) / (now - s->rate_t);
		s->rate_n = s->st.changes_applied;
		s->rate_t = now;
	}
	s->last_status = now;
	s->st.elapsed = now - s->started;
	lag_quantiles(s);
	s->st.lag_changes = -1;
	for (size_t i = 0; s->os && i < s->plan->nsources; i++) {
		osource *o = &s->os[i];
		int64_t n = 0;
		if (o->cap && o->started && o->eng->capture->backlog &&
		    o->eng->capture->backlog(o->cap, o->pos, &n, &(ferry_err){0}) == 0)
			s->st.lag_changes = (s->st.lag_changes < 0 ? 0 : s->st.lag_changes) + n;
	}
	snprintf(s->posbuf, sizeof(s->posbuf), "%llu", s->os ? (unsigned long long)s->os[0].pos : 0ULL);
	s->st.position = s->posbuf;
	if (s->peer && !s->back) { /* both ways: one report of both directions */
		ferry_sync_status st = s->st;
		st.both_ways = 1;
		st.conflicts += s->peer->st.conflicts;
		st.lag_back = s->peer->st.lag_seconds;
		lag_quantiles(s->peer);
		st.lag_back_p50 = s->peer->st.lag_p50;
		st.lag_back_p99 = s->peer->st.lag_p99;
		st.changes_applied += s->peer->st.changes_applied;
		st.rows_upserted += s->peer->st.rows_upserted;
		st.rows_deleted += s->peer->st.rows_deleted;
		st.rows_rejected += s->peer->st.rows_rejected;
		s->o->status(s->o->status_ud, &st);
	} else {
		s->o->status(s->o->status_ud, &s->st);
	}
	s->st.message = NULL;
}

void ferry__sync_note(sync_state *s, const char *msg)
{
	s->st.message = msg;
	status(s, 1);
}

/* ---- resolution: what each job and target table needs online ---------------------------- */

static otarget *target_for(sync_state *s, const char *name, size_t *idx)
{
	for (size_t i = 0; i < s->ntargets; i++)
		if (strcmp(s->targets[i].name, name) == 0) {
			*idx = i;
			return &s->targets[i];
		}
	if (ferry__grow(&s->targets, &s->tcap, s->ntargets + 1, sizeof(otarget)) != 0)
		return NULL;
	otarget *t = &s->targets[s->ntargets];
	memset(t, 0, sizeof(*t));
	t->name = name;
	*idx = s->ntargets++;
	return t;
}

static const ferry_table *target_def(sync_state *s, const char *name)
{
	const ferry_table *t = ferry_schema_find(s->tschema, name);
	if (!t && s->js.created)
		t = ferry_schema_find(s->js.created, name);
	return t;
}

/* The target's key columns, and for each the job's source key column carried into it as is. */
static int map_keys(sync_state *s, ojob *oj, otarget *t, const ferry_table *tt)
{
	job *j = oj->j;
	ferry_err *err = &s->err;
	const ferry_engine *seng = s->os[j->src].eng;
	if (j->nkeys == 0)
		return ferry_err_set(err, FERRY_EUSAGE,
		                     "cannot sync source table \"%s\": it has no primary key, so a change cannot name the row it touched (add one, or leave the table out with skip: true)",
		                     j->src_table);
	/* Without a primary key, a unique index of plain columns names a row as well (the
	 * table ferry creates when SQLite's key holds NULL); a NULL in it is refused per change
	 * (apply.c). */
	const ferry_index *ux = NULL;
	for (size_t i = 0; tt->npk == 0 && !ux && i < tt->nidx; i++) {
		const ferry_index *x = &tt->idx[i];
		if (x->unique && !x->exprs && !x->where && x->ncols == j->nkeys)
			ux = x;
	}
	if (tt->npk == 0 && !ux)
		return ferry_err_set(err, FERRY_EUSAGE,
		                     "cannot sync target table \"%s\": it has no primary key or unique index, so a change cannot name the row it touched (give it one in the target schema)",
		                     t->name);
	if (!t->tk) {
		t->ntk = ux ? ux->ncols : tt->npk;
		if (!(t->tk = ferry__calloc(t->ntk, sizeof(char *))) ||
		    !(t->tktypes = ferry__calloc(t->ntk, sizeof(ferry_type))))
			return OOM(err);
		for (size_t k = 0; k < t->ntk; k++) {
			int ci = ux ? ferry_table_column(tt, ux->cols[k]) : (int)tt->pk[k];
			if (ci < 0)
				return ferry_err_set(err, FERRY_ECORRUPT, "unique index \"%s\" of table \"%s\" names no column \"%s\"",
				                     ux->name, t->name, ux->cols[k]);
			const ferry_column *c = &tt->cols[ci];
			t->tk[k] = c->name;
			t->tktypes[k] = c->type;
		}
	}
	if (!(oj->src_of_tk = ferry__calloc(t->ntk, sizeof(size_t))))
		return OOM(err);
	for (size_t k = 0; k < t->ntk; k++) {
		size_t c = 0;
		while (c < j->ntcols && strcmp(j->tcols[c], t->tk[k]) != 0)
			c++;
		size_t m = j->nkeys;
		for (size_t q = 0; c < j->ntcols && q < j->nkeys; q++) {
			char *qi = ferry__qident(seng, j->keynames[q]);
			if (!qi)
				return OOM(err);
			if (strcmp(j->exprs[c], qi) == 0)
				m = q;
			free(qi);
		}
		if (m == j->nkeys)
			return ferry_err_set(err, FERRY_EUSAGE,
			                     "cannot sync %s: key column \"%s\" of target table \"%s\" is not a key column of source table \"%s\" carried as it is, so a change cannot name the target row it touched",
			                     j->name, t->tk[k], t->name, j->src_table);
		oj->src_of_tk[k] = m;
	}
	if (j->nkeys != t->ntk)
		return ferry_err_set(err, FERRY_EUSAGE,
		                     "cannot sync %s: source table \"%s\" has %zu key columns and target table \"%s\" %zu, so a change cannot name the target row it touched",
		                     j->name, j->src_table, j->nkeys, t->name, t->ntk);
	return 0;
}

/* The upsert's rules: the target's key, every other column taken from the source row; a
 * merge keeps its own rules (its rows are rebuilt from every source). */
static int job_rules(sync_state *s, ojob *oj, otarget *t)
{
	job *j = oj->j;
	if (!(oj->rules = ferry__calloc(j->ntcols ? j->ntcols : 1, 1)))
		return OOM(&s->err);
	for (size_t c = 0; c < j->ntcols; c++) {
		if (j->merge) {
			oj->rules[c] = j->conflict[c];
			continue;
		}
		/* A column only the target has (the plan's default fills it) keeps the target's
		 * value on an update: the new version's applications may have written it. */
		oj->rules[c] = strcmp(j->exprs[c], "?") == 0 ? FERRY_CONFLICT_FIRST : FERRY_CONFLICT_LAST;
		for (size_t k = 0; k < t->ntk; k++)
			if (strcmp(j->tcols[c], t->tk[k]) == 0)
				oj->rules[c] = FERRY_CONFLICT_KEY;
	}
	if (j->merge)
		t->rebuild = 1;
	return 0;
}

static int add_index(size_t **arr, size_t *n, size_t *cap, size_t v)
{
	if (ferry__grow(arr, cap, *n + 1, sizeof(size_t)) != 0)
		return FERRY_ENOMEM;
	(*arr)[(*n)++] = v;
	return 0;
}

/* Which captured table of source src, adding it with the job's key columns when new. */
static int capture_table(sync_state *s, size_t src, job *j, size_t *out)
{
	osource *o = &s->os[src];
	for (size_t i = 0; i < o->ntables; i++)
		if (strcmp(o->otables[i].name, j->src_table) == 0) {
			*out = i;
			return 0;
		}
	size_t cap = o->tcap;
	if (ferry__grow(&o->otables, &o->tcap, o->ntables + 1, sizeof(otable)) != 0 ||
	    ferry__grow(&o->tables, &cap, o->ntables + 1, sizeof(ferry_capture_table)) != 0)
		return OOM(&s->err);
	o->tcap = cap < o->tcap ? cap : o->tcap;
	memset(&o->otables[o->ntables], 0, sizeof(otable));
	o->otables[o->ntables].name = j->src_table;
	o->tables[o->ntables] = (ferry_capture_table){
		.table = j->src_table, .nkeys = j->nkeys, .keys = (const char *const *)j->keynames};
	*out = o->ntables++;
	return 0;
}

static int resolve_online(sync_state *s)
{
	ferry_err *err = &s->err;
	size_t njobs = s->js.njobs;
	if (!(s->ojobs = ferry__calloc(njobs ? njobs : 1, sizeof(ojob))))
		return OOM(err);
	for (size_t i = 0; i < njobs; i++) {
		ojob *oj = &s->ojobs[i];
		oj->j = &s->js.jobs[i];
		const ferry_table *tt = target_def(s, oj->j->dst_table);
		size_t ti = 0;
		otarget *t = target_for(s, oj->j->dst_table, &ti);
		if (!t)
			return OOM(err);
		if (!tt)
			return ferry_err_set(err, FERRY_ENOTFOUND, "cannot sync %s: target table \"%s\" is not defined",
			                     oj->j->name, oj->j->dst_table);
		oj->target = ti;
		t->level = oj->j->level;
		int rc = map_keys(s, oj, t, tt);
		if (rc == 0)
			rc = job_rules(s, oj, t);
		if (rc == 0 && add_index(&t->jobs, &t->njobs, &t->jcap, i) != 0)
			rc = OOM(err);
		size_t ct = 0;
		if (rc == 0)
			rc = capture_table(s, oj->j->src, oj->j, &ct);
		otable *ot = rc ? NULL : &s->os[oj->j->src].otables[ct];
		if (rc == 0 && add_index(&ot->jobs, &ot->njobs, &ot->jcap, i) != 0)
			rc = OOM(err);
		if (rc)
			return rc;
	}
	for (size_t i = 0; i < s->plan->nsources; i++)
		if (s->os[i].ntables && !s->os[i].eng->capture)
			return ferry_err_set(err, FERRY_EUSAGE,
			                     "cannot sync from source \"%s\": its engine (%s) cannot capture changes",
			                     s->plan->sources[i].name, s->os[i].eng->name);
	return 0;
}

/* ---- connections ----------------------------------------------------------------------- */

/* The engines of every end and a connection to the target; the sources are read by the
 * copy and, once capture is open, by the capture's own connections. */
static int connect_all(sync_state *s)
{
	ferry_err *err = &s->err;
	const ferry_plan *p = s->plan;
	if (!(s->os = ferry__calloc(p->nsources + 1, sizeof(osource))))
		return OOM(err);
	for (size_t i = 0; i < p->nsources; i++)
		if (!(s->os[i].eng = ferry__engine_for(s->ctx, p->sources[i].url, err)))
			return err->code;
	if (!(s->teng = ferry__engine_for(s->ctx, p->target, err)))
		return err->code;
	return s->teng->core->connect(&s->tconn, p->target, FERRY_CONNECT_CREATE, err);
}

/* Open the capture of every source that has captured tables (installed, or reopened on a
 * rerun), each with its own read-write connection. */
int ferry__sync_open_captures(sync_state *s)
{
	ferry_err *err = &s->err;
	for (size_t i = 0; i < s->plan->nsources; i++) {
		osource *o = &s->os[i];
		if (!o->ntables)
			continue;
		const char *url = s->plan->sources[i].url;
		int rc = o->eng->core->connect(&o->admin, url, FERRY_CONNECT_LIVE, err);
		if (rc == 0)
			rc = o->eng->capture->setup(&o->cap, o->admin, url, s->splan.run_digest, o->tables,
			                            o->ntables, err);
		if (rc == 0)
			rc = o->eng->core->connect(&o->reread, url, FERRY_CONNECT_READONLY, err);
		if (rc == 0)
			rc = ferry__state_position_get(s->teng, s->tconn, s->splan.run_digest, i, &o->pos, err);
		if (rc)
			return rc;
	}
	return 0;
}

static void close_all(sync_state *s)
{
	for (size_t i = 0; s->ojobs && i < s->js.njobs; i++) {
		if (s->ojobs[i].w)
			s->teng->write->writer_close(s->ojobs[i].w);
		for (size_t k = 0; k < s->ojobs[i].nheld; k++)
			ferry__batch_free(s->ojobs[i].held[k]);
		free(s->ojobs[i].held);
		ferry__batch_free(s->ojobs[i].retry);
		ferry__batch_free(s->ojobs[i].retry2);
		free(s->ojobs[i].src_of_tk);
		free(s->ojobs[i].rules);
	}
	free(s->ojobs);
	for (size_t i = 0; i < s->ntargets; i++) {
		free(s->targets[i].tk);
		free(s->targets[i].tktypes);
		free(s->targets[i].jobs);
		free(s->targets[i].found);
		ferry__keyset_free(&s->targets[i].touched);
		ferry__keyset_free(&s->targets[i].drained);
		ferry__keyset_free(&s->targets[i].again);
		ferry__keyset_free(&s->targets[i].outside);
	}
	free(s->targets);
	for (size_t i = 0; s->os && i < s->plan->nsources; i++) {
		osource *o = &s->os[i];
		if (o->cap)
			o->eng->capture->close(o->cap);
		if (o->admin)
			o->eng->core->close(o->admin);
		if (o->reread)
			o->eng->core->close(o->reread);
		for (size_t t = 0; t < o->ntables; t++)
			free(o->otables[t].jobs);
		free(o->otables);
		free(o->tables);
	}
	free(s->os);
	/* Refused before capture started: leave no new target database behind. */
	if (s->tconn && !s->installed && (s->err.code == FERRY_EUSAGE || s->err.code == FERRY_ENOTFOUND) &&
	    s->teng->write->discard)
		s->teng->write->discard(s->tconn);
	else if (s->tconn)
		s->teng->core->close(s->tconn);
	ferry__schema_free(s->tschema);
	ferry__jobs_free(&s->js);
	ferry_buf_free(&s->cells);
	ferry_buf_free(&s->sql);
	free(s->match);
}


/* ---- the phases ------------------------------------------------------------------------ */

/* The pre-flight copy's resolution, kept: the jobs against the target as its target schema
 * makes it, checked for what cannot work online before anything is installed. */
static int take_jobs(void *ud, jobset *js, ferry_schema **tschema, ferry_err *err)
{
	sync_state *s = ud;
	s->js = *js;
	memset(js, 0, sizeof(*js));
	s->tschema = *tschema;
	*tschema = NULL;
	int rc = resolve_online(s);
	if (rc)
		ferry__err_copy(err, &s->err);
	return rc;
}

/* The snapshot copy: ferry_copy's pipeline under the sync's run id, each source's readers
 * joined to its capture's snapshot (or none), with no history row of its own. check_only
 * resolves and checks the target without writing (the pre-flight before capture starts). */
static int snapshot_copy(sync_state *s, int check_only)
{
	const ferry_plan *p = s->plan;
	const char **tokens = ferry__calloc(p->nsources + 1, sizeof(char *));
	if (!tokens)
		return OOM(&s->err);
	for (size_t i = 0; i < p->nsources; i++) {
		uint64_t pos = 0;
		osource *o = &s->os[i];
		tokens[i] = o->cap ? o->eng->capture->snapshot(o->cap, &pos) : NULL;
	}
	ferry__copy_hooks hooks = {.tokens = tokens, .no_history = 1,
	                           .resolved = check_only ? take_jobs : NULL, .ud = s,
	                           .lease = s->lease};
	ferry_copy_options co = s->o->copy;
	co.check_only = check_only;
	ferry_summary *sum = NULL;
	int rc = ferry__copy_hooked(&sum, s->ctx, &s->splan, &co, &hooks);
	free(tokens);
	for (size_t i = 0; sum && !check_only && i < ferry_summary_count(sum); i++) {
		ferry_table_stats t;
		if (ferry_summary_table(&t, sum, i) == 0)
			s->st.rows_copied += t.rows_written;
	}
	ferry_summary_free(sum);
	if (rc)
		ferry_err_set(&s->err, rc, "%s", ferry_errmsg(s->ctx));
	return rc;
}

static int send_heartbeat(sync_state *s, int wait_for_it)
{
	char text[32];
	snprintf(text, sizeof(text), "hb %lld", (long long)ferry__wall_us());
	for (size_t i = 0; i < s->plan->nsources; i++) {
		osource *o = &s->os[i];
		if (!o->cap)
			continue;
		int rc = o->eng->capture->marker(o->admin, s->splan.run_digest, text, NULL, &s->err);
		if (rc)
			return rc;
		if (wait_for_it)
			o->beat_seen = 0;
	}
	if (wait_for_it)
		snprintf(s->beat_sent, sizeof(s->beat_sent), "%s", text);
	s->last_beat = ferry__now();
	return 0;
}

static int caught_up(sync_state *s)
{
	if (!s->beat_sent[0])
		return 0;
	for (size_t i = 0; i < s->plan->nsources; i++)
		if (s->os[i].cap && !s->os[i].beat_seen)
			return 0;
	double bound = s->o->max_lag > 0 ? s->o->max_lag : 1.0;
	return s->st.lag_seconds >= 0 && s->st.lag_seconds <= bound;
}

int ferry__sync_stream(sync_state *s, int until_caught_up)
{
	ferry_change *ch = ferry__calloc(CHANGES_MAX, sizeof(ferry_change));
	if (!ch)
		return OOM(&s->err);
	int rc = 0;
	size_t ncap = 0;
	for (size_t i = 0; rc == 0 && i < s->plan->nsources; i++) {
		osource *o = &s->os[i];
		if (!o->cap)
			continue;
		ncap++;
		if (o->started) /* a cut-over catching up again after a released attempt */
			continue;
		rc = o->eng->capture->start(o->cap, o->pos, &s->err);
		o->started = rc == 0;
	}
	double every = s->o->heartbeat > 0 ? s->o->heartbeat : 1.0;
	if (rc == 0)
		rc = send_heartbeat(s, until_caught_up);
	s->st.phase = FERRY_SYNC_STREAMING;
	ferry__sync_note(s, s->back ? "the way back: applying the new version's changes to the old one"
	                            : "streaming: applying the changes captured since the snapshot");
	int wait_ms = ncap ? (int)(200 / ncap) : 200;
	while (rc == 0) {
		if (ferry__interrupted(s->ctx)) {
			rc = ferry_err_set(&s->err, FERRY_EINTR, "interrupted");
			break;
		}
		for (size_t i = 0; rc == 0 && i < s->plan->nsources; i++) {
			osource *o = &s->os[i];
			size_t n = 0;
			if (!o->cap)
				continue;
			rc = ferry__sync_next(s, i, ch, CHANGES_MAX, &n, wait_ms);
			if (rc == 0 && n)
				rc = ferry__sync_apply(s, i, ch, n);
		}
		if (rc == 0 && ferry__now() - s->last_beat >= every)
			rc = send_heartbeat(s, until_caught_up && !s->beat_sent[0]);
		status(s, 0);
		if (rc == 0 && until_caught_up && caught_up(s)) {
			s->st.phase = FERRY_SYNC_CAUGHT_UP;
			ferry__sync_note(s, s->back ? "caught up: the old version holds every change of the new one, the lag under the bound"
			                            : "caught up: the snapshot is in and the lag is under the bound");
			break;
		}
	}
	free(ch);
	return rc;
}

static int add_rows(void *ud, const ferry_chunk_rec *rec)
{
	*(int64_t *)ud += rec->rows_written;
	return 0;
}

/* --finish: remove the capture from every source (and the way back's from the target), then
 * record the run in the target. The fence of a version a switch left behind stays: that
 * version must not take writes nobody carries. */
static int finish(sync_state *s)
{
	ferry_err *err = &s->err;
	const ferry_plan *p = s->plan;
	for (size_t i = 0; i < p->nsources; i++) {
		osource *o = &s->os[i];
		if (!o->ntables)
			continue;
		ferry_conn *c = NULL;
		int rc = o->eng->core->connect(&c, p->sources[i].url, FERRY_CONNECT_LIVE, err);
		if (rc == 0)
			rc = o->eng->capture->teardown(c, p->sources[i].url, s->splan.run_digest, err);
		if (c)
			o->eng->core->close(c);
		if (rc)
			return rc;
	}
	/* The way back: its capture of the new version, its position in the old one. */
	char back[33];
	ferry__back_run_id(back, s);
	int rc = s->teng->capture ? s->teng->capture->teardown(s->tconn, p->target, back, err) : 0;
	if (rc == 0 && p->nsources == 1 && s->os[0].eng->core->exec_params) {
		ferry_conn *c = NULL;
		ferry_value v = {.type = FERRY_TEXT, .v.s = back, .len = 32};
		int made = 0;
		rc = s->os[0].eng->core->connect(&c, p->sources[0].url, FERRY_CONNECT_LIVE, err);
		if (rc == 0)
			rc = ferry__state_get(s->os[0].eng, c, s->splan.run_digest, "switch:1", &made, err);
		if (rc == 0 && made)
			rc = s->os[0].eng->core->exec_params(c, "DELETE FROM ferry_positions WHERE run_id = $1", 1, &v, NULL, err);
		/* The way back's lease, released by now (a version with no lease table has none). */
		if (rc == 0 && made &&
		    s->os[0].eng->core->exec_params(c, "DELETE FROM ferry_leases WHERE run_id = $1", 1, &v, NULL, err) != 0)
			memset(err, 0, sizeof(*err));
		if (rc == 0 && made)
			rc = ferry__state_drop_empty(s->os[0].eng, c, 0, err);
		if (c)
			s->os[0].eng->core->close(c);
	}
	if (rc)
		return rc;
	int64_t rows = 0;
	uint64_t pos = 0;
	rc = ferry__state_load(s->teng, s->tconn, s->splan.run_digest, add_rows, &rows, err);
	if (rc == 0)
		rc = ferry__state_position_get(s->teng, s->tconn, s->splan.run_digest, 0, &pos, err);
	char *desc = p->path ? ferry__sprintf("ferry sync -p %s", p->path)
	                     : ferry__sprintf("ferry sync of %zu source%s", p->nsources, p->nsources == 1 ? "" : "s");
	char *verdict = ferry__sprintf("sync finished at position %llu; capture removed from the sources",
	                               (unsigned long long)pos);
	if (rc == 0 && (!desc || !verdict))
		rc = OOM(err);
	if (rc == 0)
		rc = s->teng->core->begin(s->tconn, err);
	if (rc == 0) {
		rc = ferry__history_record_data(s->tconn, s->teng, s->splan.run_digest, desc, rows, verdict,
		                                (int64_t)((ferry__now() - s->started) * 1000), err);
		if (rc == 0)
			rc = ferry__state_set(s->teng, s->tconn, s->splan.run_digest, "sync-finished", err);
		rc = rc ? rc : s->teng->core->commit(s->tconn, err);
		if (rc)
			s->teng->core->rollback(s->tconn, &(ferry_err){0});
	}
	free(desc);
	free(verdict);
	if (rc == 0) {
		s->st.phase = FERRY_SYNC_FINISHED;
		ferry__sync_note(s, "finished: capture removed from the sources and the run recorded in ferry_history");
	}
	return rc;
}

/* One applier per target: the sync (or cut-over) holds the target's lock while it runs, so
 * a second one, or a migration, is refused with who holds it instead of applying twice. The
 * lock goes with the connection, so a killed holder frees it. */
static int hold_target(sync_state *s)
{
	if (!s->teng->migrate)
		return 0;
	char holder[256] = "";
	int got = 0;
	int rc = s->teng->migrate->lock_try(s->tconn, &got, holder, sizeof(holder), &s->err);
	if (rc == 0 && !got) {
		char *m = ferry_url_mask(s->plan->target);
		rc = ferry_err_set(&s->err, FERRY_EUSAGE,
		                   "another ferry process holds target %s (%s): stop it first; a sync and a cut-over of one plan cannot run at once",
		                   m ? m : "?", holder[0] ? holder : "its holder is unknown");
		free(m);
	}
	return rc;
}

static void lease_note(void *ud, const char *msg)
{
	ferry__sync_note(ud, msg);
}

/* The run's lease (one applier per run, fenced at every commit; see lease.h). A standby
 * waits for it first, then for the target's lock, which its old holder keeps until it
 * finds itself fenced and stops; a plain start is refused by the lock as before. */
static int take_lease(sync_state *s)
{
	if (s->teng->state || !s->teng->core->exec_params)
		return 0;
	ferry_lease_config lc = {
		.url = s->plan->target, .run_id = s->splan.run_digest, .kind = "sync",
		.plan = s->plan->path, .ttl_ms = s->o->copy.lease_ms, .standby = s->o->copy.standby,
		.ctx = s->ctx, .note = lease_note, .note_ud = s,
	};
	return ferry__lease_take(&s->lease, s->teng, &lc, &s->err);
}

static int hold_target_waiting(sync_state *s)
{
	int said = 0;
	for (;;) {
		int rc = hold_target(s);
		if (rc != FERRY_EUSAGE || !s->o->copy.standby)
			return rc;
		if (!said)
			ferry__sync_note(s, "standby: waiting for the target's lock, which the old holder keeps until it stops");
		said = 1;
		memset(&s->err, 0, sizeof(s->err));
		if (ferry__interrupted(s->ctx))
			return ferry_err_set(&s->err, FERRY_EINTR, "interrupted");
		struct timespec ts = {0, 200 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

int ferry__sync_prepare(sync_state *s)
{
	int rc = connect_all(s);
	/* The way back takes its lease when it applies (ferry__sync_lease): a cut-over that
	 * prepares it and then refuses must leave the old version as it was. */
	if (rc == 0 && !s->o->copy.check_only && s->o->copy.standby && !s->back) {
		rc = take_lease(s);
		if (rc == 0)
			rc = hold_target_waiting(s);
	} else if (rc == 0 && !s->o->copy.check_only) {
		rc = s->back && s->o->copy.standby ? hold_target_waiting(s) : hold_target(s);
		if (rc == 0 && !s->back)
			rc = take_lease(s);
	}
	/* Resolution and everything the copy would refuse, before the sources are touched. */
	if (rc == 0)
		rc = snapshot_copy(s, 1);
	if (rc == 0 && !s->js.jobs)
		rc = ferry_err_set(&s->err, FERRY_EUSAGE, "the plan carries no table: nothing to sync");
	return rc;
}

int ferry__sync_open(sync_state *s)
{
	s->st.phase = FERRY_SYNC_CAPTURE;
	if (s->back)
		ferry__sync_note(s, "the way back: capturing every change to the new version (the old one follows it)");
	else
		ferry__sync_note(s, "capture: recording every change to the sources from now on");
	s->installed = 1;
	int rc = ferry__sync_open_captures(s);
	/* The way back writes into the old version, which the cut-over fenced; after a
	 * rollback the forward stream writes into the new one, which the rollback fenced. */
	if (rc == 0 && s->teng->capture && s->teng->capture->fence_exempt)
		rc = s->teng->capture->fence_exempt(s->tconn, &s->err);
	if (rc || s->back) /* the way back starts equal: the cut-over compared both sides */
		return rc;
	s->st.phase = FERRY_SYNC_SNAPSHOT;
	ferry__sync_note(s, "snapshot: copying the sources through the plan");
	return snapshot_copy(s, 0);
}

int ferry__sync_lease(sync_state *s)
{
	return s->lease ? 0 : take_lease(s);
}

int ferry__sync_start(sync_state *s)
{
	int rc = ferry__sync_prepare(s);
	if (rc || s->o->copy.check_only || s->o->finish)
		return rc;
	return ferry__sync_open(s);
}

int ferry__sync_init(sync_state *s, ferry_ctx *ctx, const ferry_plan *plan,
                     const ferry_sync_options *opts)
{
	memset(s, 0, sizeof(*s));
	s->ctx = ctx;
	s->plan = plan;
	s->o = opts;
	if (opts->version != FERRY_SYNC_OPTIONS_VERSION || opts->copy.version != FERRY_COPY_OPTIONS_VERSION)
		return ferry_err_set(&s->err, FERRY_EUSAGE, "unknown ferry_sync_options version %u", opts->version);
	s->splan = *plan;
	/* The sync is its own run: a copy of the same plan into the same target is another. */
	char id[64];
	int n = snprintf(id, sizeof(id), "%s:sync", plan->run_digest);
	ferry__hash128_hex(s->splan.run_digest, id, (size_t)n);
	s->fwd_run = s->splan.run_digest;
	s->fwd_plan = plan;
	s->max_rejects = opts->copy.max_rejects >= 0 ? opts->copy.max_rejects : plan->max_rejects;
	s->st.lag_seconds = -1;
	s->st.lag_back = -1;
	s->started = s->rate_t = ferry__now();
	return 0;
}

void ferry__sync_close(sync_state *s)
{
	status(s, 1);
	ferry__both_free(s);
	/* Refused before capture started: the lease's row goes with it, and so do the tables
	 * it made in a target that had none (close_all then removes a new file). */
	int refused = !s->installed && (s->err.code == FERRY_EUSAGE || s->err.code == FERRY_ENOTFOUND);
	int held = s->lease != NULL;
	ferry__lease_release(s->lease, refused, NULL);
	s->lease = NULL;
	if (refused && held && s->tconn && s->teng->write->discard)
		ferry__state_drop_empty(s->teng, s->tconn, 1, &(ferry_err){0});
	close_all(s);
}

/* --both-ways: both directions in one loop, each apply seeing the other's queue. */
static int both_stream(sync_state *f, sync_state *b, int until_caught_up)
{
	ferry_change *ch = ferry__calloc(CHANGES_MAX, sizeof(ferry_change));
	if (!ch)
		return OOM(&f->err);
	sync_state *both[2] = {f, b};
	int rc = send_heartbeat(f, until_caught_up);
	if (rc == 0 && (rc = send_heartbeat(b, until_caught_up)) != 0)
		ferry__err_copy(&f->err, &b->err);
	f->st.phase = b->st.phase = FERRY_SYNC_STREAMING;
	ferry__sync_note(f, "both ways: applying the old version's changes to the new one and the new version's to the old one");
	double every = f->o->heartbeat > 0 ? f->o->heartbeat : 1.0;
	while (rc == 0) {
		if (ferry__interrupted(f->ctx)) {
			rc = ferry_err_set(&f->err, FERRY_EINTR, "interrupted");
			break;
		}
		for (int d = 0; rc == 0 && d < 2; d++) {
			sync_state *s = both[d];
			size_t n = 0;
			rc = ferry__sync_next(s, 0, ch, CHANGES_MAX, &n, 50);
			if (rc == 0 && n)
				rc = ferry__sync_apply(s, 0, ch, n);
			/* Keys handed over to the other direction are changes on its source committed
			 * after its heartbeat: it is caught up once a new one comes back. */
			if (rc == 0 && s->handed && until_caught_up) {
				rc = send_heartbeat(s->peer, 1);
				if (rc)
					ferry__err_copy(&s->err, &s->peer->err);
			}
			s->handed = 0;
			if (rc == 0 && ferry__now() - s->last_beat >= every)
				rc = send_heartbeat(s, until_caught_up && !s->beat_sent[0]);
			if (rc && s == b)
				ferry__err_copy(&f->err, &b->err);
		}
		status(f, 0);
		if (rc == 0 && until_caught_up && caught_up(f) && caught_up(b)) {
			f->st.phase = FERRY_SYNC_CAUGHT_UP;
			ferry__sync_note(f, "caught up both ways: each version holds the other's changes, the lags under the bound");
			break;
		}
	}
	free(ch);
	return rc;
}

static int both_run(sync_state *f, sync_state *b)
{
	/* Everything that can refuse without a table of the new version refuses first. */
	int rc = ferry__both_check(f);
	if (rc == 0 && f->plan->nsources != 1)
		rc = ferry_err_set(&f->err, FERRY_EUSAGE, "--both-ways carries one old database and one new one; this plan has %zu sources",
		                   f->plan->nsources);
	ferry_plan *probe = NULL;
	if (rc == 0)
		rc = ferry__inverse_plan(&probe, f, &f->err);
	ferry_plan_free(probe);
	if (rc == 0 && (!f->teng->capture || !f->teng->capture->origin || !f->os[0].eng->capture->origin))
		rc = ferry_err_set(&f->err, FERRY_EUSAGE, "--both-ways needs engines that can tell ferry's own writes apart (%s, %s)",
		                   f->os[0].eng->name, f->teng->name);
	if (rc == 0)
		rc = ferry__sync_open(f);
	if (rc == 0)
		rc = ferry__back_open(b, f);
	if (rc == 0 && (rc = ferry__sync_lease(b)) != 0)
		ferry__err_copy(&f->err, &b->err);
	if (rc == 0)
		rc = ferry__both_link(f, b);
	return rc ? rc : both_stream(f, b, f->o->until_caught_up);
}

/* Which way to stream: forward until a cut-over, back after one (and forward again after a
 * rollback); a switch a kill interrupted is completed first. */
static int sync_run(sync_state *f, sync_state *b)
{
	int rc = ferry__sync_prepare(f);
	if (rc || f->o->copy.check_only)
		return rc;
	int n_old = 0, n_new = 0, done = 0, none = 0;
	rc = ferry__switch_epochs(f, &n_old, &n_new);
	if (rc == 0 && n_old != n_new)
		rc = ferry__switch_complete(f, n_old, n_new);
	int n = n_old > n_new ? n_old : n_new;
	if (rc == 0 && n)
		rc = ferry__state_get(f->teng, f->tconn, f->splan.run_digest, "sync-finished", &done, &f->err);
	if (rc == 0 && done && !f->o->finish)
		return ferry_err_set(&f->err, FERRY_EUSAGE,
		                     "this plan's sync was finished after its cut-over (ferry sync --finish): nothing captures changes any more; a new sync needs a new target");
	if (rc || f->o->finish)
		return rc ? rc : finish(f);
	if (f->o->both_ways && n % 2)
		return ferry_err_set(&f->err, FERRY_EUSAGE,
		                     "--both-ways ends at the cut-over: the old version is fenced now (ferry sync carries the way back; ferry rollback goes back)");
	/* Once both ways ran, the new version takes writes: every sync until the cut-over
	 * carries them back too. */
	int both = f->o->both_ways;
	if (rc == 0 && n % 2 == 0 && !both)
		rc = ferry__state_get(f->teng, f->tconn, f->splan.run_digest, "both-ways", &both, &f->err);
	if (rc == 0 && n % 2 == 0 && both)
		return both_run(f, b);
	if (n % 2 == 0) {
		rc = ferry__sync_open(f);
		return rc ? rc : ferry__sync_stream(f, f->o->until_caught_up);
	}
	rc = ferry__state_get(f->teng, f->tconn, f->splan.run_digest, "no-way-back", &none, &f->err);
	if (rc == 0 && none)
		return ferry_err_set(&f->err, FERRY_EUSAGE,
		                     "this plan was cut over with --no-way-back: there is no way back to carry (ferry sync --finish removes the capture)");
	if (rc == 0)
		rc = ferry__back_open(b, f);
	if (rc == 0)
		rc = ferry__sync_lease(b);
	if (rc == 0) {
		rc = ferry__sync_stream(b, f->o->until_caught_up);
		if (rc)
			ferry__err_copy(&f->err, &b->err);
		f->st.phase = b->st.phase;
	}
	return rc;
}

int ferry_sync(ferry_ctx *ctx, const ferry_plan *plan, const ferry_sync_options *opts)
{
	ferry_sync_options defaults = FERRY_SYNC_OPTIONS_INIT;
	sync_state *s = ferry__calloc(2, sizeof(*s));
	if (!s)
		return ferry__ctx_fail(ctx, &(ferry_err){FERRY_ENOMEM, "out of memory"});
	sync_state *b = &s[1];
	int rc = ferry__sync_init(s, ctx, plan, opts ? opts : &defaults);
	if (rc == 0)
		rc = sync_run(s, b);
	sync_state *live = b->plan ? b : s;
	if (rc == FERRY_EINTR) {
		live->st.phase = FERRY_SYNC_STOPPED;
		ferry__sync_note(live, "stopped: everything applied so far is committed; rerun to resume");
	}
	if (b->plan) {
		ferry__sync_close(b);
		ferry_plan_free(b->inv);
	}
	ferry__sync_close(s);
	if (rc)
		rc = ferry__ctx_fail(ctx, &s->err);
	free(s);
	return rc;
}
