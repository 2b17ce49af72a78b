/* jobs.c — resolution: turn the plan and the schemas of sources and target into jobs, one
 * per source table and target table, with the select list pushed into the source, the
 * version-resolution rules of DESIGN.md §2 applied, and every drop and default noted. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "pipeline.h"

/* A note's one allocation: message, code, table and column, each ending in NUL. */
static int note_vadd(char ***notes, size_t *n, size_t *cap, const char *code, const char *table,
                     const char *column, const char *fmt, va_list ap)
{
	va_list aq;
	va_copy(aq, ap);
	int len = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	size_t lc = strlen(code ? code : "note"), lt = table ? strlen(table) : 0, lk = column ? strlen(column) : 0;
	if (len < 0 || ferry__grow(notes, cap, *n + 1, sizeof(char *)) != 0)
		return FERRY_ENOMEM;
	char *s = ferry__malloc((size_t)len + lc + lt + lk + 4);
	if (!s)
		return FERRY_ENOMEM;
	vsnprintf(s, (size_t)len + 1, fmt, ap);
	char *at = s + len + 1;
	memcpy(at, code ? code : "note", lc + 1);
	at += lc + 1;
	memcpy(at, table ? table : "", lt + 1);
	at += lt + 1;
	memcpy(at, column ? column : "", lk + 1);
	(*notes)[(*n)++] = s;
	return 0;
}

int ferry__note_at(char ***notes, size_t *n, size_t *cap, const char *code, const char *table,
                   const char *column, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = note_vadd(notes, n, cap, code, table, column, fmt, ap);
	va_end(ap);
	return rc;
}

int ferry__note(char ***notes, size_t *n, size_t *cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = note_vadd(notes, n, cap, NULL, NULL, NULL, fmt, ap);
	va_end(ap);
	return rc;
}

const char *ferry__note_field(const char *note, int field)
{
	for (int i = 0; i < field; i++)
		note += strlen(note) + 1;
	return note;
}

int ferry__note_copy(char ***notes, size_t *n, size_t *cap, const char *note)
{
	const char *f = ferry__note_field(note, FERRY_NOTE_TABLE), *c = ferry__note_field(note, FERRY_NOTE_COLUMN);
	return ferry__note_at(notes, n, cap, ferry__note_field(note, FERRY_NOTE_CODE), *f ? f : NULL, *c ? c : NULL,
	                      "%s", note);
}

void ferry__note_json(ferry_buf *b, const char *note)
{
	static const char *const keys[] = {"message", "code", "table", "column"};
	ferry_buf_puts(b, "{");
	for (int i = FERRY_NOTE_CODE; i <= FERRY_NOTE_COLUMN + 1; i++) {
		int k = i % 4; /* code, table, column, then the message */
		const char *v = ferry__note_field(note, k);
		ferry_buf_printf(b, "%s\"%s\":", k == FERRY_NOTE_CODE ? "" : ",", keys[k]);
		if (k != 0 && k != FERRY_NOTE_CODE && !*v)
			ferry_buf_puts(b, "null");
		else
			ferry_buf_json_str(b, v, strlen(v));
	}
	ferry_buf_puts(b, "}");
}

char *ferry__qident(const ferry_engine *e, const char *name)
{
	size_t need = e->core->quote_ident(NULL, 0, name);
	char *d = ferry__malloc(need + 1);
	if (d)
		e->core->quote_ident(d, need + 1, name);
	return d;
}

static const char *plan_path(const ferry_plan *p)
{
	return p->path ? p->path : "<plan>";
}

static void free_strv(char **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void job_free(job *j)
{
	free(j->src_table);
	free(j->dst_table);
	free(j->name);
	free(j->filter);
	free_strv(j->exprs, j->nexprs);
	for (size_t i = 0; i < j->nparams; i++)
		if (j->params[i].type != FERRY_INT && j->params[i].type != FERRY_FLOAT)
			free((void *)j->params[i].v.s);
	free(j->params);
	free_strv(j->tcols, j->ntcols);
	free(j->ttypes);
	free(j->texact);
	free(j->conflict);
	free(j->map);
	free_strv(j->keynames, j->nkeys);
	free_strv(j->chunk_keys, j->nchunk_keys);
}

void ferry__jobs_free(jobset *js)
{
	for (size_t i = 0; i < js->njobs; i++)
		job_free(&js->jobs[i]);
	free(js->jobs);
	ferry__schema_free(js->created);
	ferry__schema_free(js->again);
	free_strv(js->notes, js->nnotes);
	free_strv(js->longs, js->nlongs);
	memset(js, 0, sizeof(*js));
}

/* Does the SQL text mention identifier name (bare as a whole word, or quoted)? Used to tell
 * a source column consumed by an expression from one that is dropped. */
static int sql_mentions(const char *sql, const char *name)
{
	size_t n = strlen(name);
	if (!sql || n == 0)
		return 0;
	for (const char *p = sql; (p = strcasestr(p, name)) != NULL; p++) {
		int before = p > sql && (isalnum((unsigned char)p[-1]) || p[-1] == '_');
		int after = isalnum((unsigned char)p[n]) || p[n] == '_';
		if (!before && !after)
			return 1;
	}
	return 0;
}

static int add_str(char ***v, size_t *n, size_t *cap, char *s)
{
	if (!s || ferry__grow(v, cap, *n + 1, sizeof(char *)) != 0) {
		free(s);
		return FERRY_ENOMEM;
	}
	(*v)[(*n)++] = s;
	return 0;
}

/* A plan `default:` scalar as a bound value: whole numbers and decimals as numbers, the rest
 * as text. The value's string is owned by the job. */
int ferry__jobs_default_value(ferry_value *out, const ferry_plan_column *pc)
{
	memset(out, 0, sizeof(*out));
	if (pc->def_null || !pc->def) {
		out->type = FERRY_NULL;
		return 0;
	}
	char *end;
	const char *s = pc->def;
	if (*s && !isspace((unsigned char)*s)) {
		long long ll = strtoll(s, &end, 10);
		if (*end == '\0') {
			out->type = FERRY_INT;
			out->v.i = ll;
			return 0;
		}
		double d = strtod(s, &end);
		if (*end == '\0' && strpbrk(s, "0123456789") && !strpbrk(s, "xXnN")) {
			out->type = FERRY_FLOAT;
			out->v.f = d;
			return 0;
		}
	}
	out->type = FERRY_TEXT;
	out->v.s = ferry__strdup(s);
	out->len = (uint32_t)strlen(s);
	return out->v.s ? 0 : FERRY_ENOMEM;
}

static const ferry_plan_column *rule_for(const ferry_plan_table *e, const char *tcol)
{
	if (!e)
		return NULL;
	for (size_t i = 0; i < e->ncols; i++)
		if (!e->cols[i].drop && strcmp(e->cols[i].name, tcol) == 0)
			return &e->cols[i];
	return NULL;
}

static int dropped_by_rule(const ferry_plan_table *e, const char *scol)
{
	if (!e)
		return 0;
	for (size_t i = 0; i < e->ncols; i++)
		if (e->cols[i].drop && strcmp(e->cols[i].name, scol) == 0)
			return 1;
	return 0;
}

/* The target name of source table `table` of source `src` under the plan's renames. */
static const char *renamed(const ferry_plan *p, size_t src, const char *table)
{
	for (size_t i = 0; i < p->ntables; i++) {
		const ferry_plan_table *e = &p->tables[i];
		size_t es = 0;
		for (size_t k = 0; e->source && k < p->nsources; k++)
			if (strcmp(p->sources[k].name, e->source) == 0)
				es = k;
		if (es == src && strcmp(e->table, table) == 0 && !e->skip)
			return e->rename ? e->rename : e->table;
	}
	return table;
}

/* The name a source column takes in a table ferry creates, or NULL when not carried. */
static const char *created_name(const ferry_plan_table *e, const ferry_table *st, const char *sc)
{
	if (dropped_by_rule(e, sc))
		return NULL;
	if (e)
		for (size_t i = 0; i < e->ncols; i++)
			if (!e->cols[i].drop && e->cols[i].from && strcmp(e->cols[i].from, sc) == 0)
				return e->cols[i].name;
	const ferry_plan_column *own = rule_for(e, sc);
	if (own && own->expr)
		return NULL; /* an expression replaces the source column of that name */
	(void)st;
	return sc;
}

/* Only casts ("::text", "::character varying(5)", "::\"T\"") in s[0..n): what may follow a
 * literal that is still the literal; an operator after a cast ("::date + 1") is not. */
static int only_casts(const char *s, size_t n)
{
	size_t i = 0;
	while (i < n && s[i] == ' ')
		i++;
	while (i < n) {
		if (i + 1 >= n || s[i] != ':' || s[i + 1] != ':')
			return 0;
		i += 2;
		while (i < n && !(s[i] == ':' && i + 1 < n && s[i + 1] == ':')) {
			if (!(isalnum((unsigned char)s[i]) || strchr("_ \"(),[].", s[i])))
				return 0;
			i++;
		}
	}
	return 1;
}

/* Across engines (and for verify's expected defaults) a default written in the source's SQL is kept only when it is a plain
 * literal both dialects read alike (a number, a string, TRUE/FALSE, CURRENT_TIMESTAMP and
 * its kin); casts around it ('x'::text) are dropped. Returns the literal (caller frees),
 * NULL with *keep = 0 when it cannot be carried, NULL with *keep = 1 for no default. */
char *ferry__sql_literal(const char *d, int *keep)
{
	*keep = 1;
	size_t n = strlen(d);
	while (n && isspace((unsigned char)*d)) {
		d++;
		n--;
	}
	while (n && isspace((unsigned char)d[n - 1]))
		n--;
	for (int changed = 1; changed && n;) {
		changed = 0;
		if (d[0] == '(' && d[n - 1] == ')') {
			int depth = 0, outer = 1;
			for (size_t i = 0; i < n - 1 && outer; i++) {
				depth += d[i] == '(' ? 1 : d[i] == ')' ? -1 : 0;
				outer = depth > 0;
			}
			if (outer) {
				d++;
				n -= 2;
				changed = 1;
			}
		}
		/* A trailing ::type outside quotes. */
		int inq = 0;
		size_t cast = 0;
		for (size_t i = 0; i + 1 < n; i++) {
			if (d[i] == '\'')
				inq = !inq;
			else if (!inq && d[i] == ':' && d[i + 1] == ':')
				cast = i;
		}
		if (cast && !inq && only_casts(d + cast, n - cast)) {
			n = cast;
			changed = 1;
		}
	}
	char *lit = ferry__strndup(d, n);
	if (!lit)
		return NULL;
	ferry_dec num;
	if (ferry__dec_parse(lit, n, &num) == 0 && !num.special)
		return lit;
	if (n >= 2 && lit[0] == '\'' && lit[n - 1] == '\'') {
		int ok = 1;
		for (size_t i = 1; i + 1 < n && ok; i++)
			if (lit[i] == '\'') {
				ok = lit[i + 1] == '\'' && i + 2 < n;
				i++;
			}
		if (ok)
			return lit;
	}
	static const char *const words[] = {"TRUE", "FALSE", "CURRENT_TIMESTAMP", "CURRENT_DATE",
	                                    "CURRENT_TIME"};
	for (size_t i = 0; i < FERRY_ARRAY_LEN(words); i++)
		if (strcasecmp(lit, words[i]) == 0) {
			strcpy(lit, words[i]);
			return lit;
		}
	if (strcasecmp(lit, "now()") == 0) {
		free(lit);
		return ferry__strdup("CURRENT_TIMESTAMP");
	}
	int null = strcasecmp(lit, "NULL") == 0;
	free(lit);
	*keep = null;
	return NULL;
}

/* Does a table ferry creates take types from the values (a target that types strictly,
 * --types=declared not given)? Its computed columns then; across engines its columns too. */
static int profiles(const jobset *js)
{
	return !js->types_declared && !(js->tflags & (FERRY_ENGINE_NUMERIC_AFFINITY | FERRY_ENGINE_LABEL));
}

/* The collation column c of st (named name in created table dst) takes: the same between
 * two databases of one engine (the target's engine tells of one its database lacks);
 * PostgreSQL's byte-order collations become SQLite's BINARY, which orders UTF-8 alike; any
 * other is noted and the column takes the target's default. *out NULL when none; 0, or -1
 * when out of memory. */
static int created_collation(jobset *js, const ferry_table *st, const ferry_column *c,
                             const char *dst, const char *name, const char **out)
{
	*out = NULL;
	const char *from = st->origin ? st->origin : "", *to = js->teng_name;
	const char *k = c->collation;
	if (!k)
		return 0;
	if (strcmp(from, to) == 0) {
		*out = k;
		return 0;
	}
	int pg = strcmp(from, "postgres") == 0;
	if (pg && strcmp(to, "sqlite") == 0 &&
	    (strcmp(k, "\"C\"") == 0 || strcmp(k, "\"POSIX\"") == 0 || strcmp(k, "ucs_basic") == 0)) {
		*out = "BINARY";
		return 0;
	}
	const char *why;
	if (js->tflags & FERRY_ENGINE_LABEL)
		why = "a label keeps no collation (give the column its collation in the importing target's target_schema)";
	else if (strcmp(to, "postgres") == 0 && strcasecmp(k, "NOCASE") == 0)
		why = "PostgreSQL has no such collation (declare the column in a target_schema as citext, or with a nondeterministic ICU collation)";
	else if (strcmp(to, "postgres") == 0 && strcasecmp(k, "RTRIM") == 0)
		why = "PostgreSQL has no such collation (trailing blanks count there: declare the column in a target_schema, or compare rtrim() of it)";
	else if (strcmp(to, "postgres") == 0)
		why = "PostgreSQL has no such collation (declare the column in a target_schema)";
	else if (strcmp(to, "sqlite") == 0)
		why = "SQLite knows only BINARY, NOCASE and RTRIM (the column compares byte by byte; declare it in a target_schema with NOCASE if that fits)";
	else
		why = "the target's engine has no such collation";
	return ferry__note_at(&js->notes, &js->nnotes, &js->notes_cap, "collation_not_created", dst, name,
	                      "collation %s of column \"%s\" of \"%s\" is not created in \"%s\": %s",
	                      k, c->name, st->name, dst, why) != 0 ? -1 : 0;
}

/* Add to created table t the columns of st that survive entry e (with their types, notes and
 * defaults as define_created describes) and the plan's own new columns; 0, or -1 on failure. */
static int created_columns(jobset *js, ferry_table *t, const ferry_table *st,
                           const ferry_plan_table *e, const char *dst, int same_engine,
                           int exact, const ferry_source_conn *sc, ferry_err *err)
{
	ferry_schema *s = js->created;
	for (size_t i = 0; i < st->ncols; i++) {
		const ferry_column *c = &st->cols[i];
		if (c->generated &&
		    ferry__note_at(&js->notes, &js->nnotes, &js->notes_cap, "generated_not_created", dst, c->name,
		                "generated column \"%s\" of \"%s\" is not created in \"%s\": its expression cannot be carried to another definition",
		                c->name, st->name, dst) != 0)
			return -1;
		const char *name = c->generated ? NULL : created_name(e, st, c->name);
		if (!name)
			continue;
		if (!(name = ferry__jobs_short(js, name, "column", st->name)))
			return -1;
		ferry_type type = c->type;
		if (!same_engine && sc->eng->types && !profiles(js) &&
		    (type == FERRY_DATE || type == FERRY_TIME || type == FERRY_TIMESTAMP ||
		     type == FERRY_TIMESTAMPTZ)) {
			int all = 1;
			if (sc->eng->types->probe_type(sc->conn, st->name, c->name, type, &all, err) != 0)
				return -1;
			if (!all) {
				type = FERRY_TEXT;
				if (ferry__note_at(&js->notes, &js->nnotes, &js->notes_cap, "created_as_text", dst, c->name,
				                "column \"%s\" of \"%s\" is declared %s but not every value is a valid %s: created as text in \"%s\"",
				                c->name, st->name, c->decl_type, ferry_type_name(c->type), dst) != 0)
					return -1;
			}
		}
		char buf[64];
		const char *decl = type != c->type ? "TEXT"
		                   : exact ? ferry__exact_decl(c, buf, sizeof(buf)) : c->decl_type;
		const char *coll;
		if (created_collation(js, st, c, dst, name, &coll) != 0)
			return -1;
		ferry_column *d = ferry_table_add_column(s, t, name, decl, type);
		if (!d || (coll && !(d->collation = ferry__strdup(coll))))
			return -1;
		d->notnull = c->notnull;
		if (c->default_sql && same_engine) {
			if (!(d->default_sql = ferry__strdup(c->default_sql)))
				return -1;
		} else if (c->default_sql) {
			int keep;
			d->default_sql = ferry__sql_literal(c->default_sql, &keep);
			if (!d->default_sql && keep == 0 &&
			    ferry__note_at(&js->notes, &js->nnotes, &js->notes_cap, "default_not_created", dst, c->name,
			                "default %s of column \"%s\" of \"%s\" is not created in \"%s\": it is SQL of the source's engine",
			                c->default_sql, c->name, st->name, dst) != 0)
				return -1;
		}
	}
	if (e)
		for (size_t i = 0; i < e->ncols; i++) {
			const ferry_plan_column *pc = &e->cols[i];
			if (pc->drop || ferry_table_column(t, pc->name) >= 0)
				continue;
			if (!ferry_table_add_column(s, t, pc->name, "", FERRY_BLOB))
				return -1;
		}
	return 0;
}

/* The name source column sc takes in a created table (short when the target needs it),
 * NULL when it is not carried; *oom set when out of memory. */
static const char *carried(jobset *js, const ferry_plan_table *e, const ferry_table *st,
                           const char *sc, int *oom)
{
	const char *n = created_name(e, st, sc);
	const char *s = n ? ferry__jobs_short(js, n, "column", st->name) : NULL;
	if (n && !s)
		*oom = 1;
	return s;
}

/* What ferry__sql_port asks of a CHECK or index expression: is a name a column of st, and
 * what is it called in the created table. */
typedef struct port_cols {
	jobset *js;
	const ferry_plan_table *e;
	const ferry_table *st;
	int oom;
} port_cols;

static int port_col(void *ud, const char *name, int quoted, const char **to, int *is_bool)
{
	port_cols *pc = ud;
	for (size_t i = 0; i < pc->st->ncols; i++) {
		const char *cn = pc->st->cols[i].name;
		if (quoted ? strcmp(cn, name) == 0 : strcasecmp(cn, name) == 0) {
			*is_bool = pc->st->cols[i].type == FERRY_BOOL;
			*to = pc->st->cols[i].generated ? NULL : carried(pc->js, pc->e, pc->st, cn, &pc->oom);
			return 1;
		}
	}
	return 0;
}

/* An expression of st in the created table's SQL: 0 with *out, 1 when it cannot be carried
 * (why), -1 out of memory. */
static int port_expr(jobset *js, const ferry_plan_table *e, const ferry_table *st,
                     const char *expr, char **out, char *why, size_t cap)
{
	port_cols pc = {js, e, st, 0};
	int rc = ferry__sql_port(out, expr, st->origin, js->teng_name, port_col, &pc, why, cap);
	if (pc.oom) {
		free(*out);
		*out = NULL;
		return -1;
	}
	return rc;
}

/* Give created table t index k of st through entry e: its columns renamed, its expressions
 * and predicate in the target's SQL, DESC kept. The engine's own text is kept when nothing
 * of it changes (same engine, same table and column names); an index that cannot be carried
 * is noted. 0, or -1 when out of memory. */
static int created_index(jobset *js, ferry_table *t, const ferry_table *st,
                         const ferry_plan_table *e, const char *dst, int same_engine,
                         const ferry_index *k)
{
	char why[400] = "";
	int keep_sql = same_engine && k->sql && strcmp(dst, st->name) == 0;
	for (size_t c = 0; keep_sql && c < st->ncols; c++) {
		const char *n = created_name(e, st, st->cols[c].name);
		keep_sql = n && strcmp(n, st->cols[c].name) == 0 &&
		           (js->ident_max == 0 || strlen(n) <= js->ident_max);
	}
	char **cols = ferry__calloc(k->ncols ? k->ncols : 1, sizeof(char *));
	char *where = NULL;
	int rc = cols ? 0 : -1;
	for (size_t c = 0; rc == 0 && c < k->ncols; c++) {
		if (keep_sql || !(k->opts[c] & FERRY_INDEX_EXPR)) {
			int oom = 0;
			const char *n = keep_sql ? k->cols[c] : carried(js, e, st, k->cols[c], &oom);
			if (oom)
				rc = -1;
			else if (!n) {
				snprintf(why, sizeof(why), "its column \"%s\" is not carried", k->cols[c]);
				rc = 1;
			} else if (!(cols[c] = ferry__strdup(n)))
				rc = -1;
		} else {
			rc = port_expr(js, e, st, k->cols[c], &cols[c], why, sizeof(why));
		}
	}
	if (rc == 0 && k->where)
		rc = keep_sql ? ((where = ferry__strdup(k->where)) ? 0 : -1)
		              : port_expr(js, e, st, k->where, &where, why, sizeof(why));
	ferry_index *d = NULL;
	if (rc == 0 && !(d = ferry_table_add_index(js->created, t, k->name, k->ncols)))
		rc = -1;
	if (rc == 0) {
		d->unique = k->unique;
		d->exprs = k->exprs;
		d->constraint = k->constraint;
		d->where = where;
		where = NULL;
		if (keep_sql && !(d->sql = ferry__strdup(k->sql)))
			rc = -1;
		memcpy(d->opts, k->opts, k->ncols);
		free(d->cols);
		d->cols = cols;
		cols = NULL;
	}
	if (cols)
		for (size_t c = 0; c < k->ncols; c++)
			free(cols[c]);
	free(cols);
	free(where);
	if (rc == 1)
		rc = ferry__note_at(&js->notes, &js->nnotes, &js->notes_cap, "index_not_created", dst, NULL,
		                    "index \"%s\" of \"%s\" is not created in \"%s\": %s", k->name,
		                    st->name, dst, why) != 0 ? -1 : 0;
	/* What a PostgreSQL index says beyond its keys, which only its own text carries: an
	 * access method other than btree and INCLUDE columns. Rebuilt from its parts, the
	 * index keeps its keys; what it loses is said. */
	const char *using = d && !keep_sql && k->sql ? strstr(k->sql, " USING ") : NULL;
	if (rc == 0 && using && strncmp(using, " USING btree ", 13) != 0) {
		size_t n = strcspn(using + 7, " (");
		rc = ferry__note(&js->notes, &js->nnotes, &js->notes_cap,
		                 "index \"%s\" of \"%s\" is a %.*s index in the source: created in \"%s\" as an ordinary one",
		                 k->name, st->name, (int)n, using + 7, dst) != 0 ? -1 : 0;
	}
	if (rc == 0 && using && strstr(using, " INCLUDE ("))
		rc = ferry__note(&js->notes, &js->nnotes, &js->notes_cap,
		                 "index \"%s\" of \"%s\" is created in \"%s\" without its INCLUDE columns",
		                 k->name, st->name, dst) != 0 ? -1 : 0;
	return rc;
}

/* Give created table t the primary key, foreign keys, indexes and CHECK constraints of st
 * that survive entry e, noting each one left behind; 0, or -1 on failure. */
static int created_keys(jobset *js, ferry_table *t, const ferry_plan *p, size_t src,
                        const ferry_table *st, const ferry_plan_table *e, const char *dst,
                        int same_engine)
{
	ferry_schema *s = js->created;
	int oom = 0;
	size_t pk[64], npk = 0;
	for (size_t i = 0; i < st->npk && i < 64; i++) {
		const char *n = carried(js, e, st, st->cols[st->pk[i]].name, &oom);
		int ci = n ? ferry_table_column(t, n) : -1;
		if (ci < 0) {
			npk = 0;
			break;
		}
		pk[npk++] = (size_t)ci;
	}
	if (oom || (npk == st->npk && ferry_table_set_pk(s, t, pk, npk) != 0))
		return -1;
	if (npk != st->npk || (!st->has_rowid && npk == 0))
		t->has_rowid = 1;
	for (size_t f = 0; f < st->nfks; f++) {
		const ferry_fkey *k = &st->fks[f];
		int ok = 1;
		for (size_t c = 0; c < k->ncols; c++)
			if (!created_name(e, st, k->cols[c]))
				ok = 0;
		if (!ok)
			continue;
		const char *ref = ferry__jobs_short(js, renamed(p, src, k->ref_table), "table", NULL);
		ferry_fkey *d = ref ? ferry_table_add_fkey(s, t, ref, k->ncols) : NULL;
		if (!d)
			return -1;
		for (size_t c = 0; c < k->ncols; c++) {
			d->cols[c] = ferry__strdup(carried(js, e, st, k->cols[c], &oom));
			d->ref_cols[c] = ferry__strdup(ferry__jobs_short(js, k->ref_cols[c], "column", k->ref_table));
		}
		d->on_delete = ferry__strdup(k->on_delete);
		d->on_update = ferry__strdup(k->on_update);
		if (oom)
			return -1;
	}
	for (size_t x = 0; x < st->nidx; x++)
		if (created_index(js, t, st, e, dst, same_engine, &st->idx[x]) != 0)
			return -1;
	for (size_t x = 0; x < st->nchecks; x++) {
		const ferry_check *k = &st->checks[x];
		char why[400] = "", *expr = NULL;
		if (k->unvalidated) {
			/* Rows the source kept may break it: created, it would reject them. */
			if (ferry__note(&js->notes, &js->nnotes, &js->notes_cap,
			                "check constraint %s%s%sof \"%s\" is not created in \"%s\": it is NOT VALID in the source (rows there may break it)",
			                k->name ? "\"" : "", k->name ? k->name : "", k->name ? "\" " : "",
			                st->name, dst) != 0)
				return -1;
			continue;
		}
		int rc = port_expr(js, e, st, k->expr, &expr, why, sizeof(why));
		if (rc < 0)
			return -1;
		if (rc == 0) {
			ferry_check *d = ferry_table_add_check(s, t, k->name, expr);
			free(expr);
			if (!d)
				return -1;
		} else if (ferry__note(&js->notes, &js->nnotes, &js->notes_cap,
		                       "check constraint %s%s%sof \"%s\" is not created in \"%s\": CHECK (%s) uses %s",
		                       k->name ? "\"" : "", k->name ? k->name : "", k->name ? "\" " : "",
		                       st->name, dst, k->expr, why) != 0) {
			return -1;
		}
	}
	return 0;
}

/* Define the target table ferry creates when the target lacks it and the plan gives no
 * target schema: the source's definition through the entry's renames and rules. Across
 * engines (sc->eng is not the target's) the definition carries only what both understand:
 * the target picks its own row identity, defaults must be plain literals, and a date or
 * time column becomes text when the source's probe_type finds values that do not parse.
 * With exact set (wants_exact) the floats and decimals get ferry's exact types, which keep
 * -0.0, NaN and every digit. */
static ferry_table *define_created(jobset *js, const ferry_plan *p, size_t src,
                                   const ferry_table *st, const ferry_plan_table *e,
                                   const char *dst, int same_engine, int exact,
                                   const ferry_source_conn *sc, ferry_err *err)
{
	ferry_schema *s = js->created;
	/* Unchanged, between two databases of one engine: keep the engine's own DDL. */
	int verbatim = st->sql && same_engine && strcmp(dst, st->name) == 0 && (!e || e->ncols == 0);
	for (size_t f = 0; verbatim && f < st->nfks; f++)
		verbatim = strcmp(renamed(p, src, st->fks[f].ref_table), st->fks[f].ref_table) == 0;
	if (verbatim)
		return ferry__schema_copy_table(s, st, NULL);
	ferry_table *t = ferry_schema_add_table(s, dst);
	if (!t)
		return NULL;
	t->origin = st->origin;
	t->has_rowid = same_engine ? st->has_rowid : 1;
	t->strict = st->strict;
	if (created_columns(js, t, st, e, dst, same_engine, exact, sc, err) != 0)
		return NULL;
	/* Loosely typed: SQLite's values, and a label's read from anything but PostgreSQL. */
	int loose = (sc->eng->flags & FERRY_ENGINE_NUMERIC_AFFINITY) ||
	            ((sc->eng->flags & FERRY_ENGINE_LABEL) && (!st->origin || strcmp(st->origin, "postgres") != 0));
	int null_key;
	if (ferry__infer_types(js, t, st, e, sc, profiles(js), !same_engine, loose, &null_key, err) != 0)
		return NULL;
	/* Keys, foreign keys and indexes survive when all their columns do. */
	if (created_keys(js, t, p, src, st, e, dst, same_engine) != 0)
		return NULL;
	/* Two names that shorten alike (or a short form equal to another column's name): the
	 * table cannot be created with both, so nothing is. */
	for (size_t i = 0; i < t->ncols; i++)
		for (size_t k = 0; k < i; k++)
			if (strcmp(t->cols[i].name, t->cols[k].name) == 0) {
				ferry_err_set(err, FERRY_EUSAGE,
				              "cannot create table \"%s\": two of its columns would be named \"%s\" in the target (rename one in the plan)",
				              dst, t->cols[i].name);
				return NULL;
			}
	if (null_key && t->npk && ferry__infer_null_key(js, t, st) != 0)
		return NULL;
	return t;
}

static int entry_err(ferry_err *err, const ferry_plan *p, const ferry_plan_table *e,
                     const ferry_plan_column *pc, const char *msg)
{
	/* Entries made by the program (an import's plan from a label) have no place in a file. */
	if (pc && pc->line > 0)
		return ferry_err_set(err, FERRY_EUSAGE, "%s:%d:%d: %s", plan_path(p), pc->line, pc->col, msg);
	if (e && e->line > 0)
		return ferry_err_set(err, FERRY_EUSAGE, "%s:%d:%d: %s", plan_path(p), e->line, e->col, msg);
	return ferry_err_set(err, FERRY_EUSAGE, "%s", msg);
}

/* Check that entry e's rules name real columns (a drop one of st, any other one of tt and its
 * from one of st), marking each dropped source column consumed and noting it; 0 or an error. */
static int check_rules(jobset *js, const job *j, const ferry_plan *p, const ferry_table *st,
                       const ferry_table *tt, int *consumed, ferry_err *err)
{
	const ferry_plan_table *e = j->entry;
	char msg[900];
	for (size_t i = 0; e && i < e->ncols; i++) {
		const ferry_plan_column *pc = &e->cols[i];
		if (pc->drop) {
			if (ferry_table_column(st, pc->name) < 0) {
				snprintf(msg, sizeof(msg), "cannot drop column \"%s\": source table \"%s\" has no such column",
				         pc->name, st->name);
				return entry_err(err, p, e, pc, msg);
			}
			consumed[ferry_table_column(st, pc->name)] = 1;
			if (ferry__note_at(&js->notes, &js->nnotes, &js->notes_cap, "column_dropped", j->dst_table, pc->name, "%s: column \"%s\" dropped by the plan",
			                j->name, pc->name) != 0)
				return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
			continue;
		}
		int ti = ferry_table_column(tt, pc->name);
		if (ti < 0 || tt->cols[ti].generated) {
			snprintf(msg, sizeof(msg), "column \"%s\" is not a column of target table \"%s\"",
			         pc->name, tt->name);
			return entry_err(err, p, e, pc, msg);
		}
		if (pc->from && ferry_table_column(st, pc->from) < 0) {
			snprintf(msg, sizeof(msg), "column \"%s\" not found in source table \"%s\"", pc->from,
			         st->name);
			return entry_err(err, p, e, pc, msg);
		}
	}
	return 0;
}

/* Resolve target column ti of tt for job j: find what supplies it (a rule, the source column
 * of its name, the plan's default or the target's own), append its expression, parameter and
 * types to j, mark the source column consumed and note what changes; 0 or an error. */
static int resolve_target_column(jobset *js, job *j, const ferry_plan *p, const ferry_engine *seng,
                                 const ferry_table *st, const ferry_table *tt, size_t ti,
                                 int strict, int *consumed, size_t *ecap, size_t *tcap,
                                 size_t *pcap, ferry_err *err)
{
	const ferry_plan_table *e = j->entry;
	char msg[900];
	const ferry_column *tc = &tt->cols[ti];
	const ferry_plan_column *pc = rule_for(e, tc->name);
	char *expr = NULL;
	int use_default = 0;
	int from_col = -1;
	if (pc && pc->from) {
		from_col = ferry_table_column(st, pc->from);
		consumed[from_col] = 1;
		expr = ferry__qident(seng, pc->from);
	} else if (pc && pc->expr) {
		expr = ferry__sprintf("(%s)", pc->expr);
	} else {
		int sc = ferry__jobs_src_column(js, st, tc->name);
		if (sc >= 0 && !dropped_by_rule(e, st->cols[sc].name) && !st->cols[sc].generated) {
			consumed[sc] = 1;
			from_col = sc;
			expr = ferry__qident(seng, st->cols[sc].name);
		} else if (pc && (pc->def || pc->def_null)) {
			use_default = 1;
			if (ferry__note_at(&js->notes, &js->nnotes, &js->notes_cap, "column_set_by_plan", j->dst_table, tc->name,
			                "%s: column \"%s\" is not in the source; set to %s by the plan",
			                j->name, tc->name, pc->def_null ? "null" : pc->def) == 0)
				expr = ferry__strdup("?");
		} else {
			/* Nothing supplies it: the target's own default, if it has one. */
			int rowid_alias = tt->npk == 1 && tc->pk_pos == 1 && tc->type == FERRY_INT;
			if (tc->notnull && !tc->default_sql && !rowid_alias) {
				snprintf(msg, sizeof(msg),
				         "target column \"%s\".\"%s\" is NOT NULL without a default and source table \"%s\" has no value for it (give it a rule in the plan: from, expr or default)",
				         tt->name, tc->name, st->name);
				return entry_err(err, p, e, pc, msg);
			}
			if (strict) {
				snprintf(msg, sizeof(msg),
				         "--strict: target column \"%s\".\"%s\" has no value in source table \"%s\" and would take its default",
				         tt->name, tc->name, st->name);
				return entry_err(err, p, e, pc, msg);
			}
			if (ferry__note_at(&js->notes, &js->nnotes, &js->notes_cap, "column_defaulted", j->dst_table, tc->name,
			                "%s: column \"%s\" is not in the source; it takes the target's default%s%s",
			                j->name, tc->name, tc->default_sql ? " " : "",
			                tc->default_sql ? tc->default_sql : " (null)") != 0)
				return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
			return 0;
		}
	}
	if (!expr)
		return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	/* A column whose declared kind changes on the way: each value is converted by the
	 * target, and one that would not survive is refused (reject file), never altered. */
	if (from_col >= 0 && st->cols[from_col].type != tc->type && st->cols[from_col].type != FERRY_BLOB &&
	    tc->type != FERRY_BLOB && tc->chosen != 1 /* chosen to hold every value */ &&
	    ferry__note_at(&js->notes, &js->nnotes, &js->notes_cap, "column_converted", j->dst_table, tc->name,
	                "%s: column \"%s\" is converted from %s to %s; a value that does not convert is rejected",
	                j->name, tc->name, ferry_type_name(st->cols[from_col].type), ferry_type_name(tc->type)) != 0) {
		free(expr);
		return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	}
	if (pc && (pc->def || pc->def_null) && !use_default) {
		char *c = ferry__sprintf("coalesce(%s, ?)", expr);
		free(expr);
		if (!c)
			return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
		expr = c;
		use_default = 1;
	}
	if (use_default) {
		if (ferry__grow(&j->params, pcap, j->nparams + 1, sizeof(ferry_value)) != 0 ||
		    ferry__jobs_default_value(&j->params[j->nparams], pc) != 0) {
			free(expr);
			return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
		}
		j->nparams++;
	}
	size_t k = j->ntcols;
	if (add_str(&j->exprs, &j->nexprs, ecap, expr) != 0 ||
	    add_str(&j->tcols, &j->ntcols, tcap, ferry__strdup(tc->name)) != 0)
		return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	j->ttypes[k] = tc->type;
	j->texact[k] = (uint8_t)ferry__exact_kind(tc->decl_type, NULL);
	j->map[k] = k;
	j->conflict[k] = pc ? (uint8_t)pc->conflict : FERRY_CONFLICT_NONE;
	if (pc && pc->conflict != FERRY_CONFLICT_NONE)
		j->merge = 1;
	return 0;
}

/* Mark the key columns of tt among job j's target columns as the merge's conflict key,
 * refusing a merge into a table without a primary key or without a value for one of its
 * key columns; 0 or an error. */
static int merge_keys(job *j, const ferry_plan *p, const ferry_table *tt, ferry_err *err)
{
	const ferry_plan_table *e = j->entry;
	char msg[900];
	if (tt->npk == 0) {
		snprintf(msg, sizeof(msg), "conflict rules need a primary key on target table \"%s\"", tt->name);
		return entry_err(err, p, e, NULL, msg);
	}
	for (size_t k = 0; k < tt->npk; k++) {
		const char *kn = tt->cols[tt->pk[k]].name;
		size_t c = 0;
		while (c < j->ntcols && strcmp(j->tcols[c], kn) != 0)
			c++;
		if (c == j->ntcols) {
			snprintf(msg, sizeof(msg), "conflict rules need a value for key column \"%s\" of \"%s\"",
			         kn, tt->name);
			return entry_err(err, p, e, NULL, msg);
		}
		j->conflict[c] = FERRY_CONFLICT_KEY;
	}
	return 0;
}

/* Backfill and fetch write a row only where its key is absent (a merge whose every other
 * column keeps the value already there: ON CONFLICT DO NOTHING), so a row the application
 * wrote in the new version since is never overwritten. */
static int later_insert_if_absent(job *j, const ferry_plan *p, const ferry_table *tt, ferry_err *err)
{
	for (size_t c = 0; c < j->ntcols; c++)
		j->conflict[c] = FERRY_CONFLICT_FIRST;
	j->merge = 1;
	j->guard_deleted = 1;
	return merge_keys(j, p, tt, err);
}

/* Note each source column of st that nothing consumed and neither the filter nor a rule's
 * expression mentions as dropped (refuse it with strict); 0 or an error. */
static int note_unconsumed(jobset *js, const job *j, const ferry_plan *p, const ferry_table *st,
                           const ferry_table *tt, int strict, const int *consumed, ferry_err *err)
{
	const ferry_plan_table *e = j->entry;
	char msg[900];
	for (size_t sc = 0; sc < st->ncols; sc++) {
		if (consumed[sc] || st->cols[sc].generated)
			continue;
		int used = sql_mentions(j->filter, st->cols[sc].name);
		for (size_t k = 0; !used && e && k < e->ncols; k++)
			used = e->cols[k].expr && sql_mentions(e->cols[k].expr, st->cols[sc].name);
		if (used)
			continue;
		if (strict) {
			snprintf(msg, sizeof(msg),
			         "--strict: source column \"%s\".\"%s\" is not in target table \"%s\" and would be dropped",
			         st->name, st->cols[sc].name, tt->name);
			return entry_err(err, p, e, NULL, msg);
		}
		if (ferry__note_at(&js->notes, &js->nnotes, &js->notes_cap, "column_not_in_target", j->dst_table, st->cols[sc].name,
		                "%s: column \"%s\" is not in the target table; dropped", j->name, st->cols[sc].name) != 0)
			return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	}
	return 0;
}

/* Resolve one job's columns against source table st and target table tt. */
static int resolve_columns(jobset *js, job *j, const ferry_plan *p, const ferry_engine *seng,
                           const ferry_table *st, const ferry_table *tt, int strict,
                           ferry_err *err)
{
	const ferry_plan_table *e = j->entry;
	char msg[900];
	size_t ecap = 0, tcap = 0;
	int *consumed = ferry__calloc(st->ncols + 1, sizeof(int));
	size_t pcap = 0;
	int rc = 0;
	if (!consumed)
		return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	j->ttypes = ferry__calloc(tt->ncols + 1, sizeof(ferry_type));
	j->texact = ferry__calloc(tt->ncols + 1, 1);
	j->conflict = ferry__calloc(tt->ncols + 1, 1);
	j->map = ferry__calloc(tt->ncols + 1, sizeof(size_t));
	if (!j->ttypes || !j->texact || !j->conflict || !j->map) {
		rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}

	if ((rc = check_rules(js, j, p, st, tt, consumed, err)) != 0)
		goto out;

	for (size_t ti = 0; ti < tt->ncols; ti++) {
		if (tt->cols[ti].generated)
			continue;
		if ((rc = resolve_target_column(js, j, p, seng, st, tt, ti, strict, consumed, &ecap, &tcap,
		                                &pcap, err)) != 0)
			goto out;
	}
	if (j->ntcols == 0) {
		snprintf(msg, sizeof(msg), "nothing to write: no column of source table \"%s\" reaches target table \"%s\"",
		         st->name, tt->name);
		rc = entry_err(err, p, e, NULL, msg);
		goto out;
	}

	/* Merges resolve conflicts on the target's primary key. */
	if (j->merge && (rc = merge_keys(j, p, tt, err)) != 0)
		goto out;

	/* Source columns nothing consumed are dropped: say so (or refuse, with --strict). */
	if ((rc = note_unconsumed(js, j, p, st, tt, strict, consumed, err)) != 0)
		goto out;

	/* The reporting key (for rejects) and the chunking key. */
	size_t kcap = 0, ccap = 0;
	for (size_t k = 0; k < st->npk; k++) {
		const char *kn = st->cols[st->pk[k]].name;
		if (add_str(&j->exprs, &j->nexprs, &ecap, ferry__qident(seng, kn)) != 0 ||
		    add_str(&j->keynames, &j->nkeys, &kcap, ferry__strdup(kn)) != 0) {
			rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
		if (!st->has_rowid &&
		    add_str(&j->chunk_keys, &j->nchunk_keys, &ccap, ferry__strdup(kn)) != 0) {
			rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
	}
out:
	free(consumed);
	return rc;
}

/* Written with CASE so that a NULL condition counts as false on every
 * engine: such a row is carried now. */
int ferry__jobs_later_filter(char **out, int mode, const ferry_plan_table *e)
{
	*out = NULL;
	if (!e)
		return 0;
	const char *w = e->where;
	int only = mode == FERRY_LATER_ONLY;
	if ((!e->later && !e->later_all) || mode == FERRY_LATER_ALL || (e->later_all && only))
		*out = w ? ferry__strdup(w) : NULL;
	else if (e->later_all) /* nothing is read now; the table is still created */
		*out = ferry__strdup("1 = 0");
	else if (w)
		*out = ferry__sprintf("(%s) AND CASE WHEN (%s) THEN 1 ELSE 0 END = %d", w, e->later, only);
	else
		*out = ferry__sprintf("CASE WHEN (%s) THEN 1 ELSE 0 END = %d", e->later, only);
	int needed = w || ((e->later || e->later_all) && mode != FERRY_LATER_ALL && !(e->later_all && only));
	return needed && !*out ? -1 : 0;
}

static job *new_job(jobset *js, const ferry_plan *p, const ferry_plan_table *e, size_t src,
                    const char *stable, const char *dst, const char *stage)
{
	if (ferry__grow(&js->jobs, &js->cap, js->njobs + 1, sizeof(job)) != 0)
		return NULL;
	job *j = &js->jobs[js->njobs];
	memset(j, 0, sizeof(*j));
	j->id = js->njobs;
	j->entry = e;
	j->src = src;
	j->stage = stage;
	j->source_name = p->sources[src].name;
	j->src_table = ferry__strdup(stable);
	dst = ferry__jobs_short(js, dst, "table", NULL);
	if (!dst)
		return NULL;
	j->dst_table = ferry__strdup(dst);
	j->name = ferry__sprintf("%s/%s.%s->%s", stage, j->source_name, stable, dst);
	j->later = e && (e->later || e->later_all);
	j->rows_waiting = -1;
	int frc = ferry__jobs_later_filter(&j->filter, p->later_mode, e);
	js->njobs++;
	if (!j->src_table || !j->dst_table || !j->name || frc != 0)
		return NULL;
	return j;
}

/* Does a job of entry e (NULL: a table the plan does not name) run in p's later mode? */
static int later_wanted(const ferry_plan *p, const ferry_plan_table *e)
{
	return p->later_mode != FERRY_LATER_ONLY || (e && (e->later || e->later_all));
}

/* `later:` rules that need the target: a key to insert where absent, and no merge (the rows
 * that wait would have to be folded into rows the application may have changed since). */
static int later_check(const jobset *js, const job *j, const ferry_plan *p, const ferry_table *st,
                       const ferry_table *tt, ferry_err *err)
{
	char msg[900];
	if (!j->later)
		return 0;
	if (st->npk == 0 || tt->npk == 0) {
		snprintf(msg, sizeof(msg), "later: needs a primary key on %s table \"%s\" (the rows that wait are loaded where their key is absent)",
		         st->npk == 0 ? "source" : "target", st->npk == 0 ? st->name : tt->name);
		return entry_err(err, p, j->entry, NULL, msg);
	}
	for (size_t i = 0; i < js->njobs; i++)
		if (js->jobs[i].merge && strcmp(js->jobs[i].dst_table, j->dst_table) == 0) {
			snprintf(msg, sizeof(msg), "later: cannot delay rows of target table \"%s\", which is a merge (conflict rules): a row that waits would have to be merged into one the application may have changed since",
			         j->dst_table);
			return entry_err(err, p, j->entry, NULL, msg);
		}
	return 0;
}

static size_t entry_source(const ferry_plan *p, const ferry_plan_table *e)
{
	for (size_t k = 0; e->source && k < p->nsources; k++)
		if (strcmp(p->sources[k].name, e->source) == 0)
			return k;
	return 0;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp((*(ferry_table *const *)a)->name, (*(ferry_table *const *)b)->name);
}

/* Does a table created in teng from st declare its floats and decimals with ferry's exact
 * types? When teng stores values by affinity (SQLite) and st is known to come from another
 * engine, one without that affinity. A label keeps the declared types of whatever it was
 * read from, SQLite's included, so a label's table whose origin is unknown (the label
 * itself) keeps its types too. */
static int wants_exact(const ferry_ctx *ctx, const ferry_table *st, const ferry_engine *teng,
                       int same_engine)
{
	if (!(teng->flags & FERRY_ENGINE_NUMERIC_AFFINITY) || same_engine)
		return 0;
	const ferry_engine *o = ferry__engine_named(ctx, st->origin);
	return o && !(o->flags & (FERRY_ENGINE_NUMERIC_AFFINITY | FERRY_ENGINE_LABEL));
}

/* A plan entry that renames its table onto one the target already holds, of another shape
 * and with no column rules, would merge two different tables: source columns dropped and
 * target columns defaulted with notes only. Refused: the plan must say how the columns map
 * (columns:), or the target table be made by its target schema. Same names are the version
 * rules (drops and defaults reported); an import's entries are made by the program. */
static int rename_onto(jobset *js, const ferry_plan *p, const ferry_plan_table *e,
                       const ferry_table *st, const ferry_table *tt, ferry_err *err)
{
	if (!e || !e->rename || strcmp(e->rename, e->table) == 0 || e->ncols > 0 || e->line <= 0)
		return 0;
	ferry_buf only_src = FERRY_BUF_INIT, only_dst = FERRY_BUF_INIT;
	for (size_t i = 0; i < st->ncols; i++) {
		char sn[256];
		const char *n = st->cols[i].name;
		if (js->ident_max && js->ident_max < sizeof(sn) &&
		    ferry__ident_short(sn, sizeof(sn), n, js->ident_max) == 1)
			n = sn; /* the name a table ferry created holds */
		if (!st->cols[i].generated && ferry_table_column(tt, n) < 0)
			ferry_buf_printf(&only_src, "%s\"%s\"", only_src.len ? ", " : "", st->cols[i].name);
	}
	for (size_t i = 0; i < tt->ncols; i++)
		if (!tt->cols[i].generated && ferry__jobs_src_column(js, st, tt->cols[i].name) < 0)
			ferry_buf_printf(&only_dst, "%s\"%s\"", only_dst.len ? ", " : "", tt->cols[i].name);
	int rc = 0;
	if (only_src.failed || only_dst.failed) {
		rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	} else if (only_src.len || only_dst.len) {
		char msg[900];
		snprintf(msg, sizeof(msg),
		         "table \"%s\" is renamed onto existing target table \"%s\" of another shape "
		         "(only in the source: %s; only in the target: %s): say how the columns map (columns:) or rename it to a new table",
		         e->table, e->rename, only_src.len ? only_src.data : "none", only_dst.len ? only_dst.data : "none");
		rc = entry_err(err, p, e, NULL, msg);
	}
	ferry_buf_free(&only_src);
	ferry_buf_free(&only_dst);
	return rc;
}

int ferry__jobs_build(jobset *js, const ferry_ctx *ctx, const ferry_plan *p,
                      ferry_source_conn *sources, const ferry_engine *teng,
                      const ferry_schema *tschema, int strict, ferry_err *err)
{
	char msg[900];
	memset(js, 0, sizeof(*js));
	js->ident_max = teng->max_ident;
	js->teng_name = teng->name;
	js->types_declared = (strict & FERRY_JOBS_TYPES_DECLARED) != 0;
	js->tflags = teng->flags;
	strict &= 1;
	js->created = ferry__schema_new();
	if (!js->created)
		return ferry_err_set(err, FERRY_ENOMEM, "out of memory");

	for (size_t i = 0; i < p->ntables; i++) {
		const ferry_plan_table *e = &p->tables[i];
		size_t src = entry_source(p, e);
		if (!ferry_schema_find(sources[src].schema, e->table)) {
			snprintf(msg, sizeof(msg), "table \"%s\" not found in source \"%s\"", e->table,
			         p->sources[src].name);
			return entry_err(err, p, e, NULL, msg);
		}
		if (e->skip) {
			if (ferry__note_at(&js->notes, &js->nnotes, &js->notes_cap, "table_skipped", NULL, NULL, "%s.%s: skipped by the plan",
			                p->sources[src].name, e->table) != 0)
				return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
			continue;
		}
		if (!later_wanted(p, e))
			continue;
		if (!new_job(js, p, e, src, e->table, e->rename ? e->rename : e->table, e->stage))
			return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	}
	/* Views and triggers: ferry copies tables; say so of each, once per source. */
	for (size_t s = 0; s < p->nsources && p->later_mode != FERRY_LATER_ONLY; s++) {
		const char *kind, *name;
		for (size_t i = 0; (kind = ferry_schema_other(sources[s].schema, i, &name)) != NULL; i++)
			if (ferry__note(&js->notes, &js->nnotes, &js->notes_cap,
			                "%s \"%s\" of source \"%s\" is not copied: ferry copies tables (create it in a target_schema)",
			                kind, name, p->sources[s].name) != 0)
				return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	}
	if (p->copy_others && p->later_mode != FERRY_LATER_ONLY) {
		for (size_t s = 0; s < p->nsources; s++) {
			size_t n = ferry_schema_count(sources[s].schema);
			ferry_table **order = ferry__calloc(n + 1, sizeof(*order));
			if (!order)
				return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
			for (size_t t = 0; t < n; t++)
				order[t] = ferry_schema_table(sources[s].schema, t);
			qsort(order, n, sizeof(*order), cmp_name);
			for (size_t t = 0; t < n; t++) {
				int named = 0;
				for (size_t i = 0; i < p->ntables && !named; i++)
					named = entry_source(p, &p->tables[i]) == s &&
					        strcmp(p->tables[i].table, order[t]->name) == 0;
				if (!named && !new_job(js, p, NULL, s, order[t]->name, order[t]->name,
				                       p->stages[0].name)) {
					free(order);
					return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
				}
			}
			free(order);
		}
	}

	for (size_t i = 0; i < js->njobs; i++) {
		job *j = &js->jobs[i];
		const ferry_table *st = ferry_schema_find(sources[j->src].schema, j->src_table);
		const ferry_table *tt = ferry_schema_find(tschema, j->dst_table);
		if (!tt)
			tt = ferry_schema_find(js->created, j->dst_table);
		if (!tt && p->later_mode == FERRY_LATER_ONLY) {
			snprintf(msg, sizeof(msg), "target table \"%s\" does not exist: the rows that wait are carried after the copy (or the sync) that creates it",
			         j->dst_table);
			return entry_err(err, p, j->entry, NULL, msg);
		}
		if (!tt && p->nschema > 0) {
			snprintf(msg, sizeof(msg), "target table \"%s\" does not exist after the target schema is applied",
			         j->dst_table);
			return entry_err(err, p, j->entry, NULL, msg);
		}
		if (!tt) {
			err->code = 0;
			int same = sources[j->src].eng == teng;
			tt = define_created(js, p, j->src, st, j->entry, j->dst_table, same,
			                    wants_exact(ctx, st, teng, same), &sources[j->src], err);
			if (!tt)
				return err->code ? err->code : ferry_err_set(err, FERRY_ENOMEM, "out of memory");
		}
		j->creates_table = ferry_schema_find(js->created, j->dst_table) != NULL;
		int rc = !j->creates_table && p->nschema == 0 ? rename_onto(js, p, j->entry, st, tt, err) : 0;
		if (rc == 0)
			rc = resolve_columns(js, j, p, sources[j->src].eng, st, tt, strict, err);
		if (rc)
			return rc;
	}
	for (size_t i = 0; i < js->njobs; i++) {
		job *j = &js->jobs[i];
		const ferry_table *st = ferry_schema_find(sources[j->src].schema, j->src_table);
		const ferry_table *tt = ferry_schema_find(tschema, j->dst_table);
		if (!tt)
			tt = ferry_schema_find(js->created, j->dst_table);
		int rc = later_check(js, j, p, st, tt, err);
		if (rc == 0 && j->later && p->later_mode == FERRY_LATER_ONLY)
			rc = later_insert_if_absent(j, p, tt, err);
		if (rc)
			return rc;
	}

	/* Foreign-key levels over every target table this run writes. */
	ferry_schema *all = ferry__schema_new();
	if (!all)
		return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	for (size_t i = 0; i < ferry_schema_count(tschema); i++)
		if (!ferry__schema_copy_table(all, ferry_schema_table(tschema, i), NULL))
			goto nomem;
	for (size_t i = 0; i < ferry_schema_count(js->created); i++)
		if (!ferry__schema_copy_table(all, ferry_schema_table(js->created, i), NULL))
			goto nomem;
	int *level = ferry__calloc(ferry_schema_count(all) + 1, sizeof(int));
	if (!level)
		goto nomem;
	ferry__schema_fk_levels(all, level);
	for (size_t i = 0; i < js->njobs; i++)
		for (size_t t = 0; t < ferry_schema_count(all); t++)
			if (strcmp(ferry_schema_table(all, t)->name, js->jobs[i].dst_table) == 0)
				js->jobs[i].level = level[t];
	free(level);
	ferry__schema_free(all);
	return 0;
nomem:
	ferry__schema_free(all);
	return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
}

int ferry__jobs_define_again(jobset *js, const ferry_ctx *ctx, const ferry_plan *p,
                             ferry_source_conn *sources, const ferry_engine *teng,
                             const char *dst, ferry_err *err)
{
	if (!js->again && !(js->again = ferry__schema_new()))
		return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	if (ferry_schema_find(js->again, dst) || ferry_schema_find(js->created, dst))
		return 0;
	for (size_t i = 0; i < js->njobs; i++) {
		job *j = &js->jobs[i];
		const ferry_table *st = ferry_schema_find(sources[j->src].schema, j->src_table);
		if (strcmp(j->dst_table, dst) != 0 || !st)
			continue;
		/* The same definition as the first process made, into js->again. */
		ferry_schema *keep = js->created;
		js->created = js->again;
		err->code = 0;
		int same = sources[j->src].eng == teng;
		const ferry_table *t = define_created(js, p, j->src, st, j->entry, dst, same,
		                                      wants_exact(ctx, st, teng, same), &sources[j->src], err);
		js->created = keep;
		if (!t)
			return err->code ? err->code : ferry_err_set(err, FERRY_ENOMEM, "out of memory");
		return 0;
	}
	return 0;
}
