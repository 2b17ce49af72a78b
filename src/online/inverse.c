/* inverse.c — the way back (docs/ONLINE.md, "The way back"): the plan that carries the new
 * version's changes back into the old one after a cut-over, derived from the forward plan as
 * the forward sync resolved it. A column carried as it is (or renamed, or with a default for
 * its NULLs) goes back to the column it came from; a column the new version computes or
 * defaults is not written back; a column the forward plan dropped keeps its old value (and
 * its default on an insert). Where nothing inverts — a merge, an expr whose inputs are not
 * carried — the entry's `reverse:` rules say how, or the cut-over refuses with the reason. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include "online.h"

static const ferry_plan_column *rule_for(const ferry_plan_table *e, const char *tcol)
{
	for (size_t i = 0; e && i < e->ncols; i++)
		if (!e->cols[i].drop && strcmp(e->cols[i].name, tcol) == 0)
			return &e->cols[i];
	return NULL;
}

static const ferry_plan_column *rev_for(const ferry_plan_table *e, const char *scol)
{
	for (size_t i = 0; e && i < e->nrev; i++)
		if (strcmp(e->rev[i].name, scol) == 0)
			return &e->rev[i];
	return NULL;
}

/* The source column forward column c of job j carries as it is, or NULL (an expr, a plain
 * default, a constant). */
static const char *carried_from(const ferry_engine *seng, const job *j, size_t c)
{
	const ferry_plan_column *pc = rule_for(j->entry, j->tcols[c]);
	if (pc && pc->from)
		return pc->from;
	if (pc && pc->expr)
		return NULL;
	char *q = ferry__qident(seng, j->tcols[c]);
	int same = q && strcmp(q, j->exprs[c]) == 0;
	free(q);
	return same ? j->tcols[c] : NULL;
}

static int add_rule(ferry_plan_table *t, size_t *cap, const char *name, const char *from,
                    const char *expr, int drop)
{
	if (ferry__grow(&t->cols, cap, t->ncols + 1, sizeof(*t->cols)) != 0)
		return FERRY_ENOMEM;
	ferry_plan_column *c = &t->cols[t->ncols++];
	memset(c, 0, sizeof(*c));
	c->name = ferry__strdup(name);
	c->from = from ? ferry__strdup(from) : NULL;
	c->expr = expr ? ferry__strdup(expr) : NULL;
	c->drop = drop;
	return !c->name || (from && !c->from) || (expr && !c->expr) ? FERRY_ENOMEM : 0;
}

static int no_way(ferry_err *err, const job *j, const char *why)
{
	return ferry_err_set(err, FERRY_EUSAGE,
	                     "no way back for %s: %s (give the entry `reverse:` rules, see docs/ONLINE.md, or cut over with --no-way-back)",
	                     j->name, why);
}

/* Entry t of the inverse plan: target table j->dst_table back into j->src_table. */
static int inverse_entry(sync_state *f, const job *j, const ferry_table *tt, ferry_plan_table *t,
                         ferry_err *err)
{
	const ferry_engine *seng = f->os[j->src].eng;
	const ferry_plan_table *e = j->entry;
	size_t cap = 0;
	t->table = ferry__strdup(j->dst_table);
	t->rename = ferry__strdup(j->src_table);
	t->stage = ferry__strdup(ferry__plan_default_stage);
	if (!t->table || !t->rename || !t->stage)
		return OOM(err);
	for (size_t i = 0; e && i < e->nrev; i++) {
		const ferry_plan_column *r = &e->rev[i];
		if (r->drop || r->conflict != FERRY_CONFLICT_NONE || (r->from && r->expr))
			return ferry_err_set(err, FERRY_EUSAGE,
			                     "%s:%d:%d: a reverse: rule takes from, expr or default (column \"%s\")",
			                     f->plan->path ? f->plan->path : "plan", r->line, r->col, r->name);
		if (add_rule(t, &cap, r->name, r->from, r->expr, 0) != 0)
			return OOM(err);
		ferry_plan_column *c = &t->cols[t->ncols - 1];
		c->line = r->line;
		c->col = r->col;
		c->def_null = r->def_null;
		if (r->def && !(c->def = ferry__strdup(r->def)))
			return OOM(err);
	}
	/* Every target column either goes back to the column it came from, or is dropped on the
	 * way back (so that a same-named old column is never filled from it by accident). */
	for (size_t k = 0; k < tt->ncols; k++) {
		const char *tc = tt->cols[k].name;
		const char *from = NULL;
		for (size_t c = 0; c < j->ntcols && !from; c++)
			if (strcmp(j->tcols[c], tc) == 0)
				from = carried_from(seng, j, c);
		if (tt->cols[k].generated)
			continue;
		int rc = from && !rev_for(e, from) ? add_rule(t, &cap, from, tc, NULL, 0)
		                                  : add_rule(t, &cap, tc, NULL, NULL, 1);
		if (rc)
			return OOM(err);
	}
	return 0;
}

int ferry__inverse_plan(ferry_plan **out, sync_state *f, ferry_err *err)
{
	*out = NULL;
	const ferry_plan *p = f->plan;
	if (p->nsources != 1)
		return ferry_err_set(err, FERRY_EUSAGE,
		                     "no way back for a plan of %zu sources: the way back carries the new version into one old database (cut over with --no-way-back)",
		                     p->nsources);
	for (size_t i = 0; i < f->js.njobs; i++) {
		const job *j = &f->js.jobs[i];
		if (j->merge)
			return no_way(err, j, "its rows are merged by conflict rules, so a row of the new version cannot be split back into the rows it came from");
		for (size_t k = 0; k < i; k++)
			if (strcmp(f->js.jobs[k].dst_table, j->dst_table) == 0)
				return no_way(err, j, "another entry also fills its target table, so a row of the new version cannot be told apart");
	}
	ferry_plan *b = ferry__calloc(1, sizeof(*b));
	if (!b)
		return OOM(err);
	ferry__plan_settings_init(b, p);
	b->copy_others = 0;
	b->max_rejects = p->max_rejects;
	b->path = p->path ? ferry__strdup(p->path) : NULL;
	b->dir = ferry__strdup(p->dir ? p->dir : ".");
	b->sources = ferry__calloc(1, sizeof(*b->sources));
	b->stages = ferry__calloc(1, sizeof(*b->stages));
	b->tables = ferry__calloc(f->js.njobs + 1, sizeof(*b->tables));
	b->target = ferry__strdup(p->sources[0].url);
	int rc = (p->path && !b->path) || !b->dir || !b->sources || !b->stages || !b->tables || !b->target
	             ? OOM(err)
	             : 0;
	if (rc == 0) {
		b->nsources = 1;
		b->nstages = 1;
		b->sources[0].name = ferry__strdup("new");
		b->sources[0].url = ferry__strdup(p->target);
		b->stages[0].name = ferry__strdup(ferry__plan_default_stage);
		if (!b->sources[0].name || !b->sources[0].url || !b->stages[0].name)
			rc = OOM(err);
	}
	for (size_t i = 0; rc == 0 && i < f->js.njobs; i++) {
		const job *j = &f->js.jobs[i];
		const ferry_table *tt = ferry_schema_find(f->tschema, j->dst_table);
		if (!tt && f->js.created)
			tt = ferry_schema_find(f->js.created, j->dst_table);
		if (!tt) {
			rc = ferry_err_set(err, FERRY_ENOTFOUND, "no way back for %s: target table \"%s\" is not defined", j->name, j->dst_table);
			break;
		}
		b->ntables = i + 1;
		rc = inverse_entry(f, j, tt, &b->tables[i], err);
	}
	if (rc) {
		ferry_plan_free(b);
		return rc;
	}
	char id[64];
	int n = snprintf(id, sizeof(id), "%s:back", f->splan.run_digest);
	ferry__hash128_hex(b->run_digest, id, (size_t)n);
	*out = b;
	return 0;
}

/* The identifiers an SQL expression names (words outside quotes, and "quoted" names). */
static int names_column(const char *expr, const char *col)
{
	size_t cl = strlen(col);
	for (const char *s = expr; *s;) {
		if (*s == '\'') { /* a string literal: '' escapes a quote */
			for (s++; *s && !(*s == '\'' && s[1] != '\''); s += *s == '\'' ? 2 : 1)
				;
			s += *s != '\0';
		} else if (*s == '"') {
			const char *q = ++s;
			while (*s && *s != '"')
				s++;
			if ((size_t)(s - q) == cl && strncmp(q, col, cl) == 0)
				return 1;
			s += *s != '\0';
		} else if (isalpha((unsigned char)*s) || *s == '_') {
			const char *w = s;
			while (isalnum((unsigned char)*s) || *s == '_' || *s == '$')
				s++;
			if ((size_t)(s - w) == cl && strncasecmp(w, col, cl) == 0)
				return 1;
		} else {
			s++;
		}
	}
	return 0;
}

int ferry__inverse_check(sync_state *f, sync_state *b, ferry_err *err)
{
	for (size_t i = 0; i < f->js.njobs; i++) {
		const job *j = &f->js.jobs[i];
		const ferry_plan_table *e = j->entry;
		const job *back = NULL;
		for (size_t k = 0; k < b->js.njobs && !back; k++)
			if (strcmp(b->js.jobs[k].dst_table, j->src_table) == 0)
				back = &b->js.jobs[k];
		const ferry_table *old = ferry_schema_find(b->tschema, j->src_table);
		if (!back || !old)
			return no_way(err, j, "the way back does not reach its source table");
		for (size_t c = 0; e && c < e->ncols; c++) {
			const ferry_plan_column *pc = &e->cols[c];
			if (!pc->expr)
				continue;
			for (size_t k = 0; k < old->ncols; k++) {
				int written = 0;
				for (size_t w = 0; w < back->ntcols && !written; w++)
					written = strcmp(back->tcols[w], old->cols[k].name) == 0;
				if (written || !names_column(pc->expr, old->cols[k].name))
					continue;
				char why[600];
				snprintf(why, sizeof(why),
				         "column \"%s\" is computed from source column \"%s\", which the new version does not carry, so a change to it cannot be written back",
				         pc->name, old->cols[k].name);
				return no_way(err, j, why);
			}
		}
	}
	return 0;
}

int ferry__back_open(sync_state *b, sync_state *f)
{
	ferry_plan *inv = NULL;
	int rc = ferry__inverse_plan(&inv, f, &f->err);
	if (rc)
		return rc;
	rc = ferry__sync_init(b, f->ctx, inv, f->o);
	b->inv = inv;
	b->o_back = *f->o;
	b->o_back.copy.append = 1; /* its resolution against the old version, which holds rows */
	b->o = &b->o_back;
	b->back = 1;
	b->co = f->co;
	b->fwd_run = f->fwd_run;
	b->fwd_plan = f->fwd_plan;
	b->st.way_back = 1;
	ferry__back_run_id(b->splan.run_digest, f);
	if (rc == 0) {
		rc = ferry__sync_prepare(b);
		if (rc == FERRY_EUSAGE || rc == FERRY_ENOTFOUND) {
			char msg[sizeof(b->err.msg)];
			snprintf(msg, sizeof(msg), "%s", b->err.msg);
			ferry_err_set(&b->err, rc, "no way back: %s (give the plan's entry reverse: rules, or cut over with --no-way-back)", msg);
		}
	}
	if (rc == 0)
		rc = ferry__inverse_check(f, b, &b->err);
	/* Rows of the old version that the forward plan's where never carried stay as they are;
	 * rows its later: delays are carried by the backfill, so the way back writes them. */
	for (size_t i = 0; rc == 0 && i < b->ntargets; i++)
		for (size_t k = 0; k < f->js.njobs; k++)
			if (strcmp(f->js.jobs[k].src_table, b->targets[i].name) == 0)
				b->targets[i].guard = f->js.jobs[k].later ? f->js.jobs[k].entry->where
				                                          : f->js.jobs[k].filter;
	if (rc == 0)
		rc = ferry__sync_open(b);
	if (rc)
		ferry__err_copy(&f->err, &b->err);
	return rc;
}
