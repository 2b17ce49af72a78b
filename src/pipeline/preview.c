/* preview.c — what a run would do, for --check and --dry-run (issue #17 item 2): the DDL
 * (the target schema's files, the tables ferry creates), each target table with its
 * columns, their types and where each value comes from (a source column, an expr, a
 * default, the target's own default), the row estimates and chunks, the stages and what
 * waits for what, and what is dropped. Built inside the prepare transaction of a check,
 * before it is rolled back; kept on the summary as text and as JSON. */
#include <stdlib.h>
#include <string.h>
#include "pipeline.h"

/* Rows of a source table: the engine's estimate, else counted (inside the snapshot). */
static int64_t source_rows(copy_state *cs, const job *j)
{
	const ferry_source_conn *s = &cs->sources[j->src];
	const ferry_table *t = ferry_schema_find(s->schema, j->src_table);
	if (t && t->est_rows >= 0)
		return t->est_rows;
	if (s->eng->flags & FERRY_ENGINE_LABEL)
		return -1;
	static const char *const cnt[] = {"count(*)"};
	ferry_read_spec spec;
	memset(&spec, 0, sizeof(spec));
	spec.table = j->src_table;
	spec.nexprs = 1;
	spec.exprs = cnt;
	ferry_reader *r = NULL;
	ferry_err e = {0};
	int64_t n = -1;
	if (s->eng->read->reader_open(&r, s->conn, &spec, &e) != 0)
		return -1;
	ferry_batch *b = ferry__batch_new(1, 4);
	int eof = 0;
	while (b && !eof && s->eng->read->reader_next(r, b, &eof, &e) == 0)
		if (ferry_batch_nrows(b) > 0 && ferry_batch_crow(b, 0)[0].type == FERRY_INT)
			n = ferry_batch_crow(b, 0)[0].v.i;
	s->eng->read->reader_close(r);
	ferry__batch_free(b);
	return n;
}

static const char *type_of(const ferry_column *c)
{
	return c->decl_type && *c->decl_type ? c->decl_type : ferry_type_name(c->type);
}

/* Where target column tc of job j takes its value: kind ("column", "expr", "default",
 * "target default") and the text. */
static void origin(const job *j, const ferry_column *tc, const char **kind, const char **text)
{
	const ferry_plan_table *e = j->entry;
	const ferry_plan_column *pc = NULL;
	for (size_t k = 0; e && k < e->ncols && !pc; k++)
		if (!e->cols[k].drop && strcmp(e->cols[k].name, tc->name) == 0)
			pc = &e->cols[k];
	int in_list = 0;
	for (size_t i = 0; i < j->ntcols && !in_list; i++)
		in_list = strcmp(j->tcols[i], tc->name) == 0;
	if (!in_list) {
		*kind = "target default";
		*text = tc->default_sql ? tc->default_sql : "NULL";
	} else if (pc && pc->expr) {
		*kind = "expr";
		*text = pc->expr;
	} else if (pc && pc->from) {
		*kind = "column";
		*text = pc->from;
	} else if (pc && (pc->def || pc->def_null)) {
		*kind = "default";
		*text = pc->def_null ? "null" : pc->def;
	} else {
		*kind = "column";
		*text = tc->name;
	}
}

/* A generic CREATE TABLE for a definition that carries no text of its own engine. */
static void ddl_of(ferry_buf *b, const ferry_engine *e, const ferry_table *t)
{
	if (t->sql) {
		ferry_buf_printf(b, "%s;", t->sql);
		return;
	}
	char *q = ferry__qident(e, t->name);
	ferry_buf_printf(b, "CREATE TABLE %s (", q ? q : t->name);
	free(q);
	for (size_t i = 0; i < t->ncols; i++) {
		const ferry_column *c = &t->cols[i];
		char *qc = ferry__qident(e, c->name);
		ferry_buf_printf(b, "%s%s %s%s%s%s", i ? ", " : "", qc ? qc : c->name, type_of(c),
		                 c->collation ? " COLLATE " : "", c->collation ? c->collation : "",
		                 c->notnull ? " NOT NULL" : "");
		if (c->default_sql)
			ferry_buf_printf(b, " DEFAULT %s", c->default_sql);
		free(qc);
	}
	for (size_t i = 0; i < t->npk; i++) {
		char *qc = ferry__qident(e, t->cols[t->pk[i]].name);
		ferry_buf_printf(b, "%s%s", i ? ", " : ", PRIMARY KEY (", qc ? qc : "?");
		free(qc);
	}
	if (t->npk)
		ferry_buf_puts(b, ")");
	for (size_t i = 0; i < t->nchecks; i++)
		ferry_buf_printf(b, ", CHECK (%s)", t->checks[i].expr);
	ferry_buf_puts(b, ");");
}

int ferry__preview_build(copy_state *cs, ferry_summary *sum)
{
	const ferry_plan *p = cs->plan;
	jobset *js = &cs->js;
	ferry_buf t = FERRY_BUF_INIT, j = FERRY_BUF_INIT, line = FERRY_BUF_INIT;
	char *target = ferry_url_mask(p->target);
	ferry_buf_printf(&t, "would run: %s (run %.12s), nothing written\n", target ? target : "?", p->run_digest);
	ferry_buf_puts(&j, "{\"target\":");
	ferry_buf_json_str(&j, target ? target : "", target ? strlen(target) : 0);
	free(target);
	ferry_buf_puts(&j, ",\"ddl\":[");
	int nddl = 0;
	/* The DDL: the target schema as written, then the tables ferry creates. */
	for (size_t i = 0; i < p->nschema; i++) {
		char *sql = NULL;
		size_t n = 0;
		ferry_err e = {0};
		/* A file the run would not apply (a note says why) is not DDL it would execute. */
		if (cs->schema_kept & ((uint64_t)1 << (i < 63 ? i : 63)))
			continue;
		if (ferry__read_file(&sql, &n, p->schema_files[i], 64u << 20, &e) != 0)
			continue;
		ferry_buf_printf(&t, "-- target schema %s\n%s%s", p->schema_files[i], sql,
		                 n && sql[n - 1] == '\n' ? "" : "\n");
		ferry_buf_puts(&j, nddl++ ? "," : "");
		ferry_buf_json_str(&j, sql, n);
		free(sql);
	}
	size_t ncreated = ferry_schema_count(js->created);
	if (ncreated)
		ferry_buf_puts(&t, "-- tables ferry creates (keys, indexes and foreign keys after the rows)\n");
	for (size_t i = 0; i < ncreated; i++) {
		line.len = 0;
		ddl_of(&line, cs->teng, ferry_schema_table(js->created, i));
		if (line.data) {
			ferry_buf_printf(&t, "%s\n", line.data);
			ferry_buf_puts(&j, nddl++ ? "," : "");
			ferry_buf_json_str(&j, line.data, line.len);
		}
	}
	ferry_buf_puts(&j, "],\"stages\":[");
	for (size_t s = 0; s < p->nstages; s++) {
		const ferry_plan_stage *st = &p->stages[s];
		ferry_buf_printf(&t, "stage %s", st->name);
		ferry_buf_puts(&j, s ? ",{\"name\":" : "{\"name\":");
		ferry_buf_json_str(&j, st->name, strlen(st->name));
		ferry_buf_puts(&j, ",\"after\":[");
		for (size_t a = 0; a < st->nafter; a++) {
			ferry_buf_printf(&t, "%s%s", a ? ", " : " (waits for ", st->after[a]);
			ferry_buf_puts(&j, a ? "," : "");
			ferry_buf_json_str(&j, st->after[a], strlen(st->after[a]));
		}
		ferry_buf_printf(&t, "%s%s:\n", st->nafter ? ")" : "",
		                 cs->opts->stage && strcmp(cs->opts->stage, st->name) != 0 ? " — not in this run (--stage)" : "");
		ferry_buf_puts(&j, "],\"tables\":[");
		int nt = 0;
		for (size_t k = 0; k < js->njobs; k++) {
			const job *jb = &js->jobs[k];
			if (strcmp(jb->stage, st->name) != 0)
				continue;
			const ferry_table *tt = ferry_schema_find(js->created, jb->dst_table);
			int creates = tt != NULL;
			if (!tt)
				tt = ferry_schema_find(cs->tschema, jb->dst_table);
			int64_t rows = source_rows(cs, jb);
			int64_t chunks = rows < 0 ? -1 : rows == 0 ? 1 : (rows + cs->chunk_rows - 1) / cs->chunk_rows;
			ferry_buf_printf(&t, "  %s <- %s.%s: ", jb->dst_table, jb->source_name, jb->src_table);
			if (rows >= 0)
				ferry_buf_printf(&t, "%lld rows in the source, %lld chunk%s of up to %lld", (long long)rows,
				                 (long long)chunks, chunks == 1 ? "" : "s", (long long)cs->chunk_rows);
			else
				ferry_buf_puts(&t, "rows unknown");
			ferry_buf_printf(&t, "%s%s\n", creates ? "; ferry creates the table" : "",
			                 jb->merge ? "; merged by its key" : "");
			if (jb->filter)
				ferry_buf_printf(&t, "      where %s\n", jb->filter);
			ferry_buf_puts(&j, nt++ ? ",{\"target\":" : "{\"target\":");
			ferry_buf_json_str(&j, jb->dst_table, strlen(jb->dst_table));
			ferry_buf_puts(&j, ",\"source\":");
			ferry_buf_json_str(&j, jb->source_name, strlen(jb->source_name));
			ferry_buf_puts(&j, ",\"source_table\":");
			ferry_buf_json_str(&j, jb->src_table, strlen(jb->src_table));
			ferry_buf_printf(&j, ",\"creates_table\":%s,\"merge\":%s,\"est_rows\":%lld,\"est_chunks\":%lld,\"where\":",
			                 creates ? "true" : "false", jb->merge ? "true" : "false", (long long)rows,
			                 (long long)chunks);
			if (jb->filter)
				ferry_buf_json_str(&j, jb->filter, strlen(jb->filter));
			else
				ferry_buf_puts(&j, "null");
			ferry_buf_puts(&j, ",\"columns\":[");
			int ncol = 0;
			for (size_t c = 0; tt && c < tt->ncols; c++) {
				const ferry_column *tc = &tt->cols[c];
				if (tc->generated)
					continue;
				const char *kind, *text;
				origin(jb, tc, &kind, &text);
				ferry_buf_printf(&t, "      %-24s %-18s %s %s\n", tc->name, type_of(tc), kind, text);
				ferry_buf_puts(&j, ncol++ ? ",{\"name\":" : "{\"name\":");
				ferry_buf_json_str(&j, tc->name, strlen(tc->name));
				ferry_buf_puts(&j, ",\"type\":");
				ferry_buf_json_str(&j, type_of(tc), strlen(type_of(tc)));
				ferry_buf_puts(&j, ",\"from\":");
				ferry_buf_json_str(&j, kind, strlen(kind));
				ferry_buf_puts(&j, ",\"value\":");
				ferry_buf_json_str(&j, text, strlen(text));
				ferry_buf_puts(&j, "}");
			}
			ferry_buf_puts(&j, "]}");
		}
		ferry_buf_puts(&j, "]}");
	}
	ferry_buf_puts(&j, "]}");
	ferry_buf_free(&line);
	if (t.failed || j.failed || !t.data || !j.data) {
		ferry_buf_free(&t);
		ferry_buf_free(&j);
		return ferry_err_set(&cs->err, FERRY_ENOMEM, "out of memory");
	}
	sum->preview_text = ferry_buf_detach(&t);
	sum->preview_json = ferry_buf_detach(&j);
	return 0;
}
