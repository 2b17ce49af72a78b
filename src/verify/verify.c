/* verify.c — ferry_verify (DESIGN.md §7, docs/VERIFY.md): compare what the target should hold
 * (the sources through the plan's jobs, or a label) with what it holds, table by table.
 *
 * Rows are matched by key: the target's primary key (or the source key the jobs carry, or
 * the whole row). Each row becomes canonical cells by the target column types (canon.c); its
 * key hash picks a bucket (the top 16 bits: a range of the key's hash, the same on both sides
 * whatever the engines' collations) and decides the sample (hash mod 10,000 < percent x 100).
 * This file connects both ends, resolves the jobs with the pipeline's own resolution and
 * groups them by target table; compare.c compares each table. */
#include <stdlib.h>
#include <string.h>
#include "verify.h"
#include "../pipeline/state.h"

static int add_note(ferry_verify_report *r, const char *s)
{
	return ferry__note_copy(&r->notes, &r->nnotes, &r->notes_cap, s);
}

static int wanted_table(const ferry_verify_options *o, const char *table)
{
	for (size_t k = 0; k < o->ntables; k++)
		if (strcmp(table, o->tables[k]) == 0)
			return 1;
	return o->ntables == 0;
}

/* Open every source read-only and read its schema into sources[i]. */
static int open_sources(ferry_source_conn *sources, ferry_ctx *ctx, const ferry_plan *plan,
                        ferry_err *err)
{
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < plan->nsources; i++) {
		ferry_source_conn *s = &sources[i];
		s->eng = ferry__engine_for(ctx, plan->sources[i].url, err);
		if (!s->eng)
			return err->code;
		rc = s->eng->core->connect(&s->conn, plan->sources[i].url, FERRY_CONNECT_READONLY, err);
		if (rc == 0 && !(s->schema = ferry__schema_new()))
			rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
		if (rc == 0)
			rc = s->eng->core->introspect(s->conn, s->schema, err);
	}
	return rc;
}

/* Open the target read-only into sd and read its schema; errors say it is the target. */
static int open_target(vsides *sd, ferry_ctx *ctx, const ferry_plan *plan, ferry_schema *tschema,
                       ferry_err *err)
{
	if (!(sd->teng = ferry__engine_for(ctx, plan->target, err)))
		return err->code;
	int rc = sd->teng->core->connect(&sd->tconn, plan->target, FERRY_CONNECT_READONLY, err);
	if (rc == FERRY_ENOTFOUND) {
		/* Opened read-only, an engine names it a source: say which end it is. */
		char *m = ferry_url_mask(plan->target);
		rc = ferry_err_set(err, rc, "the target database %s does not exist", m ? m : "?");
		free(m);
	} else if (rc) {
		char msg[sizeof(err->msg)];
		snprintf(msg, sizeof(msg), "%s", err->msg);
		rc = ferry_err_set(err, rc, "target: %s", msg);
	}
	if (rc == 0)
		rc = sd->teng->core->introspect(sd->tconn, tschema, err);
	return rc;
}

/* The names the options and the plan's coverage rules give must be tables the plan writes,
 * and each table to compare must exist in the target. */
static int check_tables(const jobset *js, const ferry_plan *plan, const ferry_verify_options *o,
                        ferry_err *err)
{
	for (size_t k = 0; k < o->ntables; k++) {
		int found = 0;
		for (size_t i = 0; i < js->njobs && !found; i++)
			found = strcmp(js->jobs[i].dst_table, o->tables[k]) == 0;
		if (!found)
			return ferry_err_set(err, FERRY_EUSAGE, "--table %s: the plan writes no target table of that name",
			                     o->tables[k]);
	}
	for (size_t r = 0; r < plan->nverify; r++) {
		const ferry_plan_verify_rule *vr = &plan->verify[r];
		int found = !vr->table;
		for (size_t i = 0; i < js->njobs && !found; i++)
			found = strcmp(js->jobs[i].dst_table, vr->table) == 0;
		if (!found)
			return ferry_err_set(err, FERRY_EUSAGE, "%s:%d:%d: verify rule names table \"%s\", which the plan does not write",
			                     plan->path ? plan->path : "<plan>", vr->line, vr->col, vr->table);
	}
	for (size_t i = 0; i < js->njobs; i++)
		if (js->jobs[i].creates_table && wanted_table(o, js->jobs[i].dst_table)) {
			char *m = ferry_url_mask(plan->target);
			int rc = ferry_err_set(err, FERRY_ENOTFOUND, "target table \"%s\" does not exist in %s (has the plan run?)",
			                       js->jobs[i].dst_table, m ? m : "the target");
			free(m);
			return rc;
		}
	return 0;
}

/* One report table per wanted target table, with every job that writes it. */
static int group_tables(ferry_verify_report *rep, jobset *js, const ferry_verify_options *o,
                        ferry_err *err)
{
	rep->tables = ferry__calloc(js->njobs + 1, sizeof(vtable));
	if (!rep->tables)
		return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	for (size_t i = 0; i < js->njobs; i++) {
		job *j = &js->jobs[i];
		vtable *vt = NULL;
		if (!wanted_table(o, j->dst_table))
			continue;
		for (size_t t = 0; t < rep->ntables && !vt; t++)
			if (strcmp(rep->tables[t].name, j->dst_table) == 0)
				vt = &rep->tables[t];
		if (!vt) {
			vt = &rep->tables[rep->ntables++];
			if (!(vt->name = ferry__strdup(j->dst_table)) ||
			    !(vt->jobs = ferry__calloc(js->njobs + 1, sizeof(job *))))
				return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
		}
		vt->jobs[vt->njobs++] = j;
		char *s = vt->sources ? ferry__sprintf("%s + %s.%s", vt->sources, j->source_name, j->src_table)
		                      : ferry__sprintf("%s.%s", j->source_name, j->src_table);
		free(vt->sources);
		vt->sources = s;
		if (!s)
			return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	}
	/* Nothing to compare is not a match: a wrong URL or search_path would read as one. */
	if (rep->ntables == 0)
		return ferry_err_set(err, FERRY_EUSAGE,
		                     "nothing to verify: the plan carries no table from its sources (check their URLs, and a PostgreSQL search_path)");
	return 0;
}

static void progress(const ferry_verify_options *o, int kind, const vtable *vt, int64_t done,
                     int64_t total)
{
	if (!o->progress)
		return;
	ferry_progress ev = {.kind = kind, .stage = "verify", .table = vt->name, .source = vt->sources,
	                     .rows_done = done, .rows_total = total};
	o->progress(o->progress_ud, &ev);
}

/* Forget vt's results (its differences too) for a second comparison. */
static void reset_results(vtable *vt)
{
	for (size_t i = 0; i < vt->ndiffs; i++) {
		free(vt->diffs[i].key);
		free(vt->diffs[i].cols);
		free(vt->diffs[i].text);
	}
	free(vt->diffs);
	vt->diffs = NULL;
	vt->ndiffs = vt->diffs_cap = 0;
	vt->exp_total = vt->act_total = vt->compared = vt->matched = 0;
	vt->missing = vt->extra = vt->different = 0;
	vt->count_differs = 0;
	vt->now_total = vt->wait_total = vt->arrived = vt->waiting = 0;
}

/* A table with rows that wait, while the backfill has not finished: first compared with
 * only the rows that do not wait (the copy's own filter), which reads no waiting row; only
 * when the target holds more (the backfill began, or a fetch) again with every row, each
 * saying whether it waits. */
static int compare_waiting(vtable *vt, const vsides *sd, ferry_err *err)
{
	char **saved = ferry__calloc(vt->njobs + 1, sizeof(char *));
	char **now = ferry__calloc(vt->njobs + 1, sizeof(char *));
	int rc = saved && now ? 0 : ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	for (size_t i = 0; rc == 0 && i < vt->njobs; i++)
		if (ferry__jobs_later_filter(&now[i], FERRY_LATER_NOW, vt->jobs[i]->entry) != 0)
			rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	if (rc == 0) {
		for (size_t i = 0; i < vt->njobs; i++) {
			saved[i] = vt->jobs[i]->filter;
			vt->jobs[i]->filter = now[i];
		}
		vt->waitmark = 0;
		rc = ferry_verify__table(vt, sd, err);
		vt->waitmark = 1;
		for (size_t i = 0; i < vt->njobs; i++)
			vt->jobs[i]->filter = saved[i];
		if (rc == 0 && (vt->extra || vt->count_differs)) {
			reset_results(vt);
			rc = ferry_verify__table(vt, sd, err);
		} else if (rc == 0) {
			/* Nothing arrived: every row that waits is still waiting. */
			vt->now_total = vt->exp_total;
		}
	}
	for (size_t i = 0; now && i < vt->njobs; i++)
		free(now[i]);
	free(now);
	free(saved);
	return rc;
}

/* Set each table up against the target's schema, choose its sample and compare it. */
static int run_tables(ferry_verify_report *rep, const ferry_plan *plan, const vsides *sd,
                      const ferry_schema *tschema, ferry_err *err)
{
	const ferry_verify_options *o = sd->o;
	for (size_t t = 0; t < rep->ntables; t++) {
		vtable *vt = &rep->tables[t];
		const ferry_table *tt = ferry_schema_find(tschema, vt->name);
		int rc = ferry_verify__table_setup(vt, tt, sd->teng, err);
		/* The coverage rules need the exact count; --full needs only an estimate for progress. */
		if (rc == 0 && !o->full)
			rc = sd->teng->write->table_rows(sd->tconn, vt->name, &vt->target_rows, err);
		else if (rc == 0)
			vt->target_rows = tt->est_rows;
		if (rc == 0 && ferry_verify__coverage(vt, plan, o->full) != 0)
			rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
		if (rc)
			return rc;
		progress(o, FERRY_PROGRESS_START, vt, 0, vt->target_rows ? vt->target_rows : -1);
		if ((rc = vt->waitmark ? compare_waiting(vt, sd, err) : ferry_verify__table(vt, sd, err)) != 0)
			return rc;
		/* Rows the target holds beyond what the plan selects may be another load's (a
		 * split load): only then are the rows the filters leave out read, and the table
		 * compared again without those of them the target holds. A table that matches
		 * costs nothing more. */
		if ((vt->extra > 0 || vt->act_total > vt->exp_total) &&
		    (rc = ferry_verify__outside_keys(vt, sd, err)) != 0)
			return rc;
		if (vt->noutside > 0) {
			ferry_verify__table_reset(vt);
			if ((rc = ferry_verify__table(vt, sd, err)) != 0)
				return rc;
		}
		progress(o, FERRY_PROGRESS_DONE, vt, vt->exp_total, vt->exp_total);
	}
	rep->ok = 1;
	for (size_t t = 0; t < rep->ntables; t++) {
		vtable *vt = &rep->tables[t];
		if (vt->missing || vt->extra || vt->different || vt->count_differs)
			rep->ok = 0;
	}
	return 0;
}

int ferry__verify_run(ferry_verify_report **out, ferry_ctx *ctx, const ferry_plan *plan,
                      const ferry_verify_options *o, ferry_err *err)
{
	*out = NULL;
	ferry_verify_report *rep = ferry__calloc(1, sizeof(*rep));
	ferry_source_conn *sources = ferry__calloc(plan->nsources + 1, sizeof(*sources));
	ferry_schema *tschema = ferry__schema_new();
	vsides sd = {.sources = sources, .ctx = ctx, .o = o,
	             .max_listed = o->max_listed > 0 ? (size_t)o->max_listed : 10};
	jobset js;
	memset(&js, 0, sizeof(js));
	int rc = 0;
	if (!rep || !sources || !tschema)
		rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	if (rc == 0) {
		rep->full = o->full;
		rep->target = ferry_url_mask(plan->target);
		rc = rep->target ? open_sources(sources, ctx, plan, err) : ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	}
	if (rc == 0)
		rc = open_target(&sd, ctx, plan, tschema, err);
	/* Every row is expected once ferry backfill has finished; until then a row that waits
	 * (later:) is expected only if it arrived (by the backfill so far, or a fetch): each
	 * row read says whether it waits (waitmark). */
	ferry_plan vplan = *plan;
	int waitmark = 0;
	if (rc == 0 && plan->later_mode == FERRY_LATER_NOW && ferry__later_any(plan)) {
		char bid[33];
		int done = 0;
		ferry__later_backfill_id(bid, plan);
		rc = ferry__state_get(sd.teng, sd.tconn, bid, "finished", &done, err);
		vplan.later_mode = FERRY_LATER_ALL;
		waitmark = !done;
	}
	if (rc == 0)
		rc = ferry__jobs_build(&js, ctx, &vplan, sources, sd.teng, tschema, 0, err);
	if (rc == 0)
		rc = check_tables(&js, plan, o, err);
	for (size_t i = 0; rc == 0 && i < js.nnotes; i++)
		if ((rc = add_note(rep, js.notes[i])) != 0)
			ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	if (rc == 0)
		rc = group_tables(rep, &js, o, err);
	for (size_t t = 0; rc == 0 && waitmark && t < rep->ntables; t++)
		for (size_t i = 0; i < rep->tables[t].njobs; i++)
			rep->tables[t].waitmark |= rep->tables[t].jobs[i]->later;
	if (rc == 0)
		rc = run_tables(rep, plan, &sd, tschema, err);
	ferry__jobs_free(&js);
	if (sd.tconn)
		sd.teng->core->close(sd.tconn);
	ferry__schema_free(tschema);
	for (size_t i = 0; sources && i < plan->nsources; i++) {
		if (sources[i].conn)
			sources[i].eng->core->close(sources[i].conn);
		ferry__schema_free(sources[i].schema);
	}
	free(sources);
	if (rc) {
		ferry_verify_report_free(rep);
		return rc;
	}
	*out = rep;
	return 0;
}
