/* probe.c — every piece of SQL the plan hands a source (each job's select list: its
 * columns, exprs and defaults; and its where) is run against the real source, reading no
 * row, before anything is committed to the target: a typo in a where or an expr is a plan
 * mistake (exit 2, nothing changed) told at its place in the plan, not a failure once the
 * first tables are loaded. */
#include <stdlib.h>
#include <string.h>
#include "pipeline.h"

/* The `?` placeholders of an SQL text, outside quotes and comments, as the engines count
 * them when they bind the job's values. */
static size_t count_params(const char *p)
{
	size_t n = 0;
	while (*p) {
		if (*p == '\'' || *p == '"') {
			char q = *p++;
			while (*p && !(*p == q && p[1] != q)) {
				if (*p == q)
					p++;
				p++;
			}
			if (*p)
				p++;
		} else if (p[0] == '-' && p[1] == '-') {
			while (*p && *p != '\n')
				p++;
		} else if (p[0] == '/' && p[1] == '*') {
			const char *e = strstr(p + 2, "*/");
			p = e ? e + 2 : p + strlen(p);
		} else {
			n += *p++ == '?';
		}
	}
	return n;
}

/* Run spec (whose filter reads no row) through a reader to its end: 0, or the engine's
 * error. */
static int probe(const ferry_engine *e, ferry_conn *c, const ferry_read_spec *spec, ferry_err *err)
{
	ferry_reader *r = NULL;
	int rc = e->read->reader_open(&r, c, spec, err);
	if (rc)
		return rc;
	ferry_batch *b = ferry__batch_new(spec->nexprs, 16);
	int eof = 0;
	if (!b)
		rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	while (rc == 0 && !eof) {
		ferry__batch_reset(b);
		rc = e->read->reader_next(r, b, &eof, err);
	}
	e->read->reader_close(r);
	ferry__batch_free(b);
	return rc;
}

static const char *plan_file(const ferry_plan *p)
{
	return p->path ? p->path : "<plan>";
}

/* err = "PLAN:LINE:COL: what could not be read from SOURCE: why" (FERRY_EUSAGE). */
static int blame(ferry_err *err, const ferry_plan *p, int line, int col, const char *what,
                 const job *j, const ferry_err *why)
{
	if (line > 0)
		return ferry_err_set(err, FERRY_EUSAGE, "%s:%d:%d: %s cannot be read from source \"%s\": %.700s",
		                     plan_file(p), line, col, what, j->source_name, why->msg);
	return ferry_err_set(err, FERRY_EUSAGE, "%s cannot be read from source \"%s\": %.700s", what,
	                     j->source_name, why->msg);
}

/* The select list and filter of job j failed on c with first; find the part that fails and
 * name its place. */
static int diagnose(copy_state *cs, const ferry_engine *e, ferry_conn *c, const job *j,
                    const ferry_err *first)
{
	const ferry_plan *p = cs->plan;
	const ferry_plan_table *t = j->entry;
	ferry_err why = {0};
	char what[400];
	static const char *const one[] = {"1"};
	ferry_read_spec spec;
	memset(&spec, 0, sizeof(spec));
	spec.table = j->src_table;
	spec.nexprs = 1;
	spec.exprs = one;
	spec.filter = "1 = 0";
	/* The table itself cannot be read: not the plan's SQL; the error as it is. */
	int rc = probe(e, c, &spec, &why);
	if (rc)
		return ferry__err_copy(&cs->err, &why);
	if (j->filter) {
		char *f = ferry__sprintf("(%s) AND 1 = 0", j->filter);
		if (!f)
			return ferry_err_set(&cs->err, FERRY_ENOMEM, "out of memory");
		spec.filter = f;
		rc = probe(e, c, &spec, &why);
		free(f);
		spec.filter = "1 = 0";
		if (rc == FERRY_ENOMEM)
			return ferry__err_copy(&cs->err, &why);
		if (rc) {
			snprintf(what, sizeof(what), "the where of table \"%s\"", j->src_table);
			return blame(&cs->err, p, t ? t->where_line : 0, t ? t->where_col : 0, what, j, &why);
		}
	}
	size_t used = 0;
	for (size_t i = 0; i < j->nexprs; i++) {
		size_t n = count_params(j->exprs[i]);
		const char *ex[] = {j->exprs[i]};
		spec.exprs = ex;
		spec.params = used + n <= j->nparams ? j->params + used : NULL;
		spec.nparams = used + n <= j->nparams ? n : 0;
		used += n;
		rc = probe(e, c, &spec, &why);
		if (rc == FERRY_ENOMEM)
			return ferry__err_copy(&cs->err, &why);
		if (rc == 0)
			continue;
		const ferry_plan_column *pc = NULL;
		for (size_t k = 0; t && i < j->ntcols && k < t->ncols && !pc; k++)
			if (!t->cols[k].drop && strcmp(t->cols[k].name, j->tcols[i]) == 0)
				pc = &t->cols[k];
		if (i < j->ntcols)
			snprintf(what, sizeof(what), "the value of column \"%s\" of target table \"%s\" (%s)",
			         j->tcols[i], j->dst_table, pc && pc->expr ? pc->expr : pc && pc->from ? pc->from : j->exprs[i]);
		else
			snprintf(what, sizeof(what), "the key of table \"%s\"", j->src_table);
		return blame(&cs->err, p, pc ? pc->line : t ? t->line : 0, pc ? pc->col : t ? t->col : 0,
		             what, j, &why);
	}
	snprintf(what, sizeof(what), "table \"%s\" as the plan reads it", j->src_table);
	return blame(&cs->err, p, t ? t->line : 0, t ? t->col : 0, what, j, first);
}

int ferry__jobs_probe(copy_state *cs)
{
	const ferry_plan *p = cs->plan;
	ferry_conn **conns = ferry__calloc(p->nsources + 1, sizeof(ferry_conn *));
	if (!conns)
		return ferry_err_set(&cs->err, FERRY_ENOMEM, "out of memory");
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < cs->js.njobs; i++) {
		const job *j = &cs->js.jobs[i];
		const ferry_engine *e = cs->sources[j->src].eng;
		/* Only the SQL the plan writes needs running: plain columns were found in the
		 * source's schema by the resolution, and an engine that speaks no SQL (a label,
		 * an engine of the application's) is asked for none. */
		int sql = j->filter != NULL || j->nparams > 0;
		for (size_t k = 0; j->entry && k < j->entry->ncols && !sql; k++)
			sql = j->entry->cols[k].expr != NULL;
		if (!sql || (e->flags & FERRY_ENGINE_LABEL))
			continue;
		/* A connection of its own per source: a failed statement must not spoil the
		 * coordinator's snapshot transaction (PostgreSQL aborts it). */
		if (!conns[j->src]) {
			rc = e->core->connect(&conns[j->src], p->sources[j->src].url, FERRY_CONNECT_READONLY, &cs->err);
			if (rc)
				break;
		}
		ferry_read_spec spec;
		memset(&spec, 0, sizeof(spec));
		spec.table = j->src_table;
		spec.nexprs = j->nexprs;
		spec.exprs = (const char *const *)j->exprs;
		spec.nparams = j->nparams;
		spec.params = j->params;
		char *f = j->filter ? ferry__sprintf("(%s) AND 1 = 0", j->filter) : ferry__strdup("1 = 0");
		if (!f) {
			rc = ferry_err_set(&cs->err, FERRY_ENOMEM, "out of memory");
			break;
		}
		spec.filter = f;
		ferry_err first = {0};
		rc = probe(e, conns[j->src], &spec, &first);
		free(f);
		if (rc == FERRY_ENOMEM)
			rc = ferry__err_copy(&cs->err, &first);
		else if (rc)
			rc = diagnose(cs, e, conns[j->src], j, &first);
	}
	for (size_t s = 0; s < p->nsources; s++)
		if (conns[s])
			cs->sources[s].eng->core->close(conns[s]);
	free(conns);
	return rc;
}
