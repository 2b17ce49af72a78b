/* plan.c — the plan model: loading a plan file, the plan of `ferry copy SRC DST`, URL
 * resolution, the run digest and the checks that need no database. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "../ferry_int.h"
#include "plan_int.h"

#define PLAN_MAX_BYTES ((size_t)16 << 20)


const char *ferry_plan_target(const ferry_plan *p)
{
	return p->target;
}

void ferry_plan_free(ferry_plan *p)
{
	if (!p)
		return;
	free(p->path);
	free(p->dir);
	for (size_t i = 0; i < p->nsources; i++) {
		free(p->sources[i].name);
		free(p->sources[i].url);
	}
	free(p->sources);
	free(p->target);
	free(p->label);
	for (size_t i = 0; i < p->nschema; i++)
		free(p->schema_files[i]);
	free(p->schema_files);
	for (size_t i = 0; i < p->nstages; i++) {
		ferry_plan_stage *s = &p->stages[i];
		free(s->name);
		for (size_t j = 0; j < s->nafter; j++)
			free(s->after[j]);
		free(s->after);
	}
	free(p->stages);
	for (size_t i = 0; i < p->ntables; i++) {
		ferry_plan_table *t = &p->tables[i];
		free(t->source);
		free(t->table);
		free(t->rename);
		free(t->where);
		free(t->later);
		free(t->stage);
		free(t->origin);
		for (size_t j = 0; j < t->ncols + t->nrev; j++) {
			ferry_plan_column *c = j < t->ncols ? &t->cols[j] : &t->rev[j - t->ncols];
			free(c->name);
			free(c->from);
			free(c->expr);
			free(c->def);
			free(c->type);
		}
		free(t->cols);
		free(t->rev);
	}
	free(p->tables);
	for (size_t i = 0; i < p->nverify; i++)
		free(p->verify[i].table);
	free(p->verify);
	free(p);
}

static int fail_ctx(ferry_ctx *ctx, const ferry_err *err)
{
	if (ctx)
		return ferry__ctx_fail(ctx, err);
	ferry__error_set_last(err->msg);
	return err->code ? err->code : FERRY_ERROR;
}

int ferry_plan_load(ferry_plan **out, ferry_ctx *ctx, const char *path)
{
	ferry_err err = {0, ""};
	char *text = NULL;
	size_t len = 0;
	*out = NULL;
	if (!path || !*path) {
		ferry_err_set(&err, FERRY_EUSAGE, "no plan file given");
		return fail_ctx(ctx, &err);
	}
	struct stat st;
	if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size > PLAN_MAX_BYTES) {
		ferry_err_set(&err, FERRY_EUSAGE, "%s: the plan is larger than %zu MiB", path,
		              PLAN_MAX_BYTES >> 20);
		return fail_ctx(ctx, &err);
	}
	int rc = ferry__read_file(&text, &len, path, PLAN_MAX_BYTES, &err);
	if (rc == FERRY_ENOTFOUND)
		ferry_err_set(&err, FERRY_ENOTFOUND, "plan \"%s\" does not exist", path);
	if (rc != 0)
		return fail_ctx(ctx, &err);
	rc = ferry__plan_parse_ex(out, ctx, path, text, len, 1, &err);
	free(text);
	if (rc != 0)
		return fail_ctx(ctx, &err);
	return 0;
}

/* A database's address as its engine connects with it. A label is the other end of export
 * and import, which make their own plans: a copy from or to one would read its jobs as
 * tables, or write one nobody described. */
static int database_url(char **out, const ferry_ctx *ctx, const char *url, ferry_err *err)
{
	*out = NULL;
	const ferry_engine *e = ferry__engine_for(ctx, url, err);
	if (!e)
		return err->code;
	if (e->flags & FERRY_ENGINE_LABEL) {
		char *masked = ferry_url_mask(url);
		ferry_err_set(err, FERRY_EUSAGE,
		              "\"%s\" is a label, not a database: ferry export writes a label, ferry import reads one",
		              masked ? masked : "?");
		free(masked);
		return FERRY_EUSAGE;
	}
	return ferry__url_resolve_by(out, e, url, NULL, err);
}

int ferry_plan_simple(ferry_plan **out, ferry_ctx *ctx, const char *source_url,
                      const char *target_url)
{
	ferry_err err = {0, ""};
	*out = NULL;
	if (!source_url || !*source_url) {
		ferry_err_set(&err, FERRY_EUSAGE, "no source database given");
		return fail_ctx(ctx, &err);
	}
	if (!target_url || !*target_url) {
		ferry_err_set(&err, FERRY_EUSAGE, "no target database given");
		return fail_ctx(ctx, &err);
	}
	ferry_plan *p = ferry__calloc(1, sizeof(*p));
	if (!p)
		goto nomem;
	ferry__plan_settings_init(p, NULL);
	p->dir = ferry__strdup(".");
	p->sources = ferry__calloc(1, sizeof(*p->sources));
	p->stages = ferry__calloc(1, sizeof(*p->stages));
	if (!p->dir || !p->sources || !p->stages)
		goto nomem;
	p->nsources = 1;
	p->sources[0].name = ferry__strdup("source");
	p->nstages = 1;
	p->stages[0].name = ferry__strdup(ferry__plan_default_stage);
	if (!p->sources[0].name || !p->stages[0].name)
		goto nomem;
	int rc = database_url(&p->sources[0].url, ctx, source_url, &err);
	if (rc == 0)
		rc = database_url(&p->target, ctx, target_url, &err);
	if (rc) {
		ferry_plan_free(p);
		return fail_ctx(ctx, &err);
	}
	if (ferry__plan_digest(p, ctx, NULL, 0) != 0)
		goto nomem;
	*out = p;
	return 0;
nomem:
	ferry_plan_free(p);
	ferry_err_set(&err, FERRY_ENOMEM, "out of memory");
	return fail_ctx(ctx, &err);
}

/* ---- digest ------------------------------------------------------------------------- */

/* The digest of ferry 0.x before the plan's meaning was its identity: the plan's bytes, its
 * resolved URLs, its schema files' names and texts. Kept so that a run an earlier ferry
 * left unfinished still resumes (run.c adopts it when only that one is known). */
static int legacy_digest(ferry_plan *p, const char *text, size_t len)
{
	ferry_buf b = FERRY_BUF_INIT;
	b.max = PLAN_MAX_BYTES + ((size_t)1 << 20);
	int rc = text ? ferry_buf_add(&b, text, len) : ferry_buf_puts(&b, "simple");
	rc = rc ? rc : ferry_buf_add(&b, "", 1);
	for (size_t i = 0; i < p->nsources && rc == 0; i++) {
		const char *u = p->sources[i].url ? p->sources[i].url : "";
		rc = ferry_buf_add(&b, u, strlen(u) + 1);
	}
	if (rc == 0) {
		const char *u = p->target ? p->target : "";
		rc = ferry_buf_add(&b, u, strlen(u) + 1);
	}
	for (size_t i = 0; i < p->nschema && rc == 0; i++) {
		char *sql = NULL;
		size_t n = 0;
		ferry_err ignore;
		rc = ferry_buf_add(&b, p->schema_files[i], strlen(p->schema_files[i]) + 1);
		if (rc == 0 && ferry__read_file(&sql, &n, p->schema_files[i], (size_t)64 << 20, &ignore) == 0) {
			b.max += n;
			rc = ferry_buf_add(&b, sql, n + 1);
		}
		free(sql);
	}
	if (rc == 0)
		ferry__hash128_hex(p->legacy_digest, b.data, b.len);
	ferry_buf_free(&b);
	return rc ? FERRY_ENOMEM : 0;
}

/* One field of the identity: a tag, then the text and its NUL, so no two different plans
 * serialize alike ("N" for an absent one). */
static void id_str(ferry_buf *b, char tag, const char *s)
{
	ferry_buf_add(b, &tag, 1);
	if (s)
		ferry_buf_add(b, s, strlen(s) + 1);
	else
		ferry_buf_add(b, "N", 1);
}

static void id_int(ferry_buf *b, char tag, int64_t v)
{
	char n[32];
	snprintf(n, sizeof(n), "%lld", (long long)v);
	id_str(b, tag, n);
}

/* An address by the database it names (ferry__url_identity), or as resolved when no engine
 * can say (an engine that cannot be loaded: the run is then keyed on the spelling). */
static void id_url(ferry_buf *b, char tag, const ferry_ctx *ctx, const char *url)
{
	char *canon = NULL;
	ferry_err e = {0};
	int rc = url ? ferry__url_identity(&canon, ctx, url, &e) : 0;
	if (rc == FERRY_ENOMEM)
		b->failed = 1;
	else if (rc == 0 && canon)
		id_str(b, tag, canon);
	else
		id_str(b, tag, url);
	free(canon);
}

int ferry__plan_digest(ferry_plan *p, const ferry_ctx *ctx, const char *text, size_t len)
{
	/* The run is what the plan means, not how it is written: the databases (each by its
	 * canonical identity), the target schema's text, and every rule that decides which rows
	 * go where and how, in the order they are written (a job's number is its place). Not:
	 * comments, layout, quoting, key order, a password, the plan's own path, nor the
	 * settings that change how but not what (threads, chunk_rows, max_rejects, strict,
	 * verify's coverage). */
	ferry_buf b = FERRY_BUF_INIT;
	b.max = PLAN_MAX_BYTES + ((size_t)1 << 20);
	id_str(&b, 'V', "ferry plan identity 1");
	id_int(&b, 'n', (int64_t)p->nsources);
	for (size_t i = 0; i < p->nsources; i++) {
		id_str(&b, 's', p->sources[i].name);
		id_url(&b, 'u', ctx, p->sources[i].url);
	}
	id_url(&b, 't', ctx, p->target);
	for (size_t i = 0; i < p->nschema; i++) {
		char *sql = NULL;
		size_t n = 0;
		ferry_err ignore;
		if (ferry__read_file(&sql, &n, p->schema_files[i], (size_t)64 << 20, &ignore) == 0) {
			char h[33];
			ferry__hash128_hex(h, sql, n);
			id_str(&b, 'S', h);
		} else {
			char *real = ferry__path_canonical(p->schema_files[i]);
			id_str(&b, 'F', real ? real : p->schema_files[i]);
			free(real);
		}
		free(sql);
	}
	id_int(&b, 'o', p->copy_others);
	for (size_t i = 0; i < p->nstages; i++) {
		const ferry_plan_stage *st = &p->stages[i];
		id_str(&b, 'g', st->name);
		for (size_t k = 0; k < st->nafter; k++)
			id_str(&b, 'a', st->after[k]);
	}
	for (size_t i = 0; i < p->ntables; i++) {
		const ferry_plan_table *t = &p->tables[i];
		id_str(&b, 'T', t->table);
		id_str(&b, 'r', t->source);
		id_str(&b, 'R', t->rename);
		id_str(&b, 'w', t->where);
		id_str(&b, 'G', t->stage);
		id_int(&b, 'k', t->skip);
		for (size_t k = 0; k < t->ncols; k++) {
			const ferry_plan_column *c = &t->cols[k];
			id_str(&b, 'c', c->name);
			id_str(&b, 'f', c->from);
			id_str(&b, 'e', c->expr);
			id_str(&b, 'd', c->def);
			id_int(&b, 'D', (int64_t)c->def_null * 2 + c->drop);
			id_int(&b, 'x', (int64_t)c->conflict);
			if (c->type)
				id_str(&b, 'y', c->type);
		}
	}
	int failed = b.failed;
	if (!failed)
		ferry__hash128_hex(p->run_digest, b.data, b.len);
	ferry_buf_free(&b);
	if (failed)
		return FERRY_ENOMEM;
	return legacy_digest(p, text, len);
}

/* ---- checks ------------------------------------------------------------------------- */

const char *ferry__conflict_name(ferry_conflict c)
{
	switch (c) {
	case FERRY_CONFLICT_NONE: return "none";
	case FERRY_CONFLICT_KEY: return "key";
	case FERRY_CONFLICT_MIN: return "min";
	case FERRY_CONFLICT_MAX: return "max";
	case FERRY_CONFLICT_FIRST: return "first";
	case FERRY_CONFLICT_LAST: return "last";
	case FERRY_CONFLICT_SUM: return "sum";
	case FERRY_CONFLICT_ERROR: return "error";
	}
	return "unknown";
}

int ferry__plan_cmp_name_ix(const void *a, const void *b)
{
	const name_ix *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	if (c)
		return c;
	return x->ix < y->ix ? -1 : x->ix > y->ix;
}

long ferry__plan_find_name(const name_ix *ix, size_t n, const char *name)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(ix[mid].name, name);
		if (c == 0) {
			while (mid > 0 && strcmp(ix[mid - 1].name, name) == 0)
				mid--;
			return (long)ix[mid].ix;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static int fail_at(ferry_err *err, const ferry_plan *p, int line, int col, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 5, 6)))
#endif
	;

static int fail_at(ferry_err *err, const ferry_plan *p, int line, int col, const char *fmt, ...)
{
	char msg[900];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	const char *path = p->path ? p->path : "<plan>";
	if (line > 0)
		return ferry_err_set(err, FERRY_EUSAGE, "%s:%d:%d: %s", path, line, col, msg);
	return ferry_err_set(err, FERRY_EUSAGE, "%s: %s", path, msg);
}

/* Sort names into ix; on a duplicate, *dup is the later index and *first the earlier. */
static void sort_names(name_ix *ix, size_t n, long *dup, long *first)
{
	*dup = -1;
	*first = -1;
	qsort(ix, n, sizeof(*ix), ferry__plan_cmp_name_ix);
	for (size_t i = 1; i < n; i++) {
		if (strcmp(ix[i].name, ix[i - 1].name) != 0)
			continue;
		/* The earliest second occurrence in declaration order wins, for a stable message. */
		size_t j = i;
		while (j > 0 && strcmp(ix[j - 1].name, ix[i].name) == 0)
			j--;
		if (*dup < 0 || (long)ix[i].ix < *dup) {
			*dup = (long)ix[i].ix;
			*first = (long)ix[j].ix;
		}
	}
}

static int check_stages(const ferry_plan *p, const name_ix *six, ferry_err *err)
{
	/* Kahn's algorithm on "after" edges (every name is known by now); what remains
	 * holds a cycle. */
	size_t n = p->nstages, nedges = 0;
	for (size_t i = 0; i < n; i++)
		nedges += p->stages[i].nafter;
	size_t *left = ferry__calloc(n, sizeof(size_t));
	size_t *queue = ferry__calloc(n, sizeof(size_t));
	size_t *start = ferry__calloc(n + 1, sizeof(size_t));
	size_t *deps = ferry__calloc(nedges, sizeof(size_t));
	int rc = 0;
	if (!left || !queue || !start || !deps) {
		rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	/* deps[start[k] .. start[k+1]) = the stages that are after stage k. */
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < p->stages[i].nafter; j++)
			start[ferry__plan_find_name(six, n, p->stages[i].after[j]) + 1]++;
	for (size_t k = 0; k < n; k++)
		start[k + 1] += start[k];
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < p->stages[i].nafter; j++) {
			size_t k = (size_t)ferry__plan_find_name(six, n, p->stages[i].after[j]);
			deps[start[k] + left[k]++] = i;
		}
	}
	size_t qn = 0;
	for (size_t i = 0; i < n; i++) {
		left[i] = p->stages[i].nafter;
		if (left[i] == 0)
			queue[qn++] = i;
	}
	for (size_t qi = 0; qi < qn; qi++) {
		size_t k = queue[qi];
		for (size_t e = start[k]; e < start[k + 1]; e++)
			if (--left[deps[e]] == 0)
				queue[qn++] = deps[e];
	}
	if (qn == n)
		goto out;
	/* A stage not released is after another not released: walk such edges from the
	 * first one until a stage repeats. left[] is reused as "position in the walk + 1". */
	size_t cur = 0;
	while (left[cur] == 0)
		cur++;
	for (size_t k = 0; k < n; k++)
		left[k] = left[k] ? (size_t)-1 : 0;
	size_t step = 0;
	while (left[cur] == (size_t)-1) {
		left[cur] = step + 1;
		queue[step++] = cur;
		size_t next = cur;
		for (size_t j = 0; j < p->stages[cur].nafter; j++) {
			size_t k = (size_t)ferry__plan_find_name(six, n, p->stages[cur].after[j]);
			if (left[k] != 0) {
				next = k;
				break;
			}
		}
		cur = next;
	}
	size_t from = left[cur] - 1, len = step - from;
	/* Name the cycle from its earliest-declared stage. */
	size_t first = from;
	for (size_t s = from; s < step; s++)
		if (queue[s] < queue[first])
			first = s;
	ferry_buf b = FERRY_BUF_INIT;
	for (size_t s = 0; s <= len; s++) {
		size_t at = from + (first - from + s) % len;
		if (b.len > 400) {
			ferry_buf_puts(&b, " after ...");
			break;
		}
		ferry_buf_printf(&b, "%s%.100s", s ? " after " : "", p->stages[queue[at]].name);
	}
	const ferry_plan_stage *st = &p->stages[queue[first]];
	rc = fail_at(err, p, st->line, st->col, "stage \"%s\" is after itself through a cycle: %s",
	             st->name, b.data ? b.data : "...");
	ferry_buf_free(&b);
out:
	free(left);
	free(queue);
	free(start);
	free(deps);
	return rc;
}

static int check_column(const ferry_plan *p, const ferry_plan_table *t,
                        const ferry_plan_column *c, ferry_err *err)
{
	if (!c->name || !*c->name)
		return fail_at(err, p, c->line, c->col, "a column of table \"%s\" has no name",
		               t->table);
	if (c->from && c->expr)
		return fail_at(err, p, c->line, c->col,
		               "column \"%s\" has both \"from\" and \"expr\" (expected one of them)",
		               c->name);
	if (c->drop && (c->from || c->expr || c->def || c->def_null || c->conflict || c->type)) {
		const char *what = c->from ? "from" : c->expr ? "expr" :
		                   (c->def || c->def_null) ? "default" : c->type ? "type" : "conflict";
		return fail_at(err, p, c->line, c->col,
		               "column \"%s\" is dropped, so it cannot have \"%s\"", c->name, what);
	}
	return 0;
}

int ferry__plan_check(const ferry_plan *p, ferry_err *err)
{
	int rc = 0;
	name_ix *six = NULL, *rix = NULL;
	long dup, first;
	if (p->nsources == 0)
		return fail_at(err, p, 0, 0, "the plan names no source (expected \"source\" or \"sources\")");
	if (!p->target || !*p->target)
		return fail_at(err, p, 0, 0, "the plan names no target");
	if (p->nstages == 0)
		return fail_at(err, p, 0, 0, "the plan has no stage");

	rix = ferry__calloc(p->nsources, sizeof(*rix));
	six = ferry__calloc(p->nstages, sizeof(*six));
	if (!rix || !six) {
		rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < p->nsources; i++) {
		const ferry_plan_source *s = &p->sources[i];
		if (!s->name || !*s->name || !s->url || !*s->url) {
			rc = fail_at(err, p, s->line, s->col, "source %zu has no %s", i + 1,
			             !s->name || !*s->name ? "name" : "URL");
			goto out;
		}
		rix[i].name = s->name;
		rix[i].ix = i;
	}
	sort_names(rix, p->nsources, &dup, &first);
	if (dup >= 0) {
		const ferry_plan_source *s = &p->sources[dup];
		rc = fail_at(err, p, s->line, s->col,
		             "two sources are named \"%s\" (the first at line %d)", s->name,
		             p->sources[first].line);
		goto out;
	}

	for (size_t i = 0; i < p->nstages; i++) {
		const ferry_plan_stage *s = &p->stages[i];
		if (!s->name || !*s->name) {
			rc = fail_at(err, p, s->line, s->col, "stage %zu has no name", i + 1);
			goto out;
		}
		six[i].name = s->name;
		six[i].ix = i;
	}
	sort_names(six, p->nstages, &dup, &first);
	if (dup >= 0) {
		const ferry_plan_stage *s = &p->stages[dup];
		rc = fail_at(err, p, s->line, s->col, "duplicate stage name \"%s\" (first at line %d)",
		             s->name, p->stages[first].line);
		goto out;
	}
	for (size_t i = 0; i < p->nstages; i++) {
		const ferry_plan_stage *s = &p->stages[i];
		for (size_t j = 0; j < s->nafter; j++) {
			if (strcmp(s->after[j], s->name) == 0) {
				rc = fail_at(err, p, s->line, s->col, "stage \"%s\" is after itself", s->name);
				goto out;
			}
			if (ferry__plan_find_name(six, p->nstages, s->after[j]) < 0) {
				rc = fail_at(err, p, s->line, s->col,
				             "stage \"%s\" is after \"%s\", which is not a stage", s->name,
				             s->after[j]);
				goto out;
			}
		}
	}
	if ((rc = check_stages(p, six, err)) != 0)
		goto out;

	for (size_t i = 0; i < p->ntables; i++) {
		const ferry_plan_table *t = &p->tables[i];
		if (!t->table || !*t->table) {
			rc = fail_at(err, p, t->line, t->col,
			             "table entry %zu has no \"table\" (expected the source table name)",
			             i + 1);
			goto out;
		}
		if (t->source && ferry__plan_find_name(rix, p->nsources, t->source) < 0) {
			rc = fail_at(err, p, t->line, t->col,
			             "table \"%s\" names source \"%s\", which is not a source", t->table,
			             t->source);
			goto out;
		}
		if (!t->source && p->nsources > 1) {
			rc = fail_at(err, p, t->line, t->col,
			             "table \"%s\" must name its source (the plan has %zu sources)",
			             t->table, p->nsources);
			goto out;
		}
		if (t->stage && ferry__plan_find_name(six, p->nstages, t->stage) < 0) {
			rc = fail_at(err, p, t->line, t->col,
			             "table \"%s\" is in stage \"%s\", which is not a stage", t->table,
			             t->stage);
			goto out;
		}
		if (t->skip && (t->ncols || t->where || t->rename || t->nrev || t->later || t->later_all)) {
			const char *what = t->ncols ? "columns" : t->where ? "where" : t->rename ? "rename" : t->nrev ? "reverse" : "later";
			rc = fail_at(err, p, t->line, t->col,
			             "table \"%s\" is skipped, so it cannot have \"%s\"", t->table, what);
			goto out;
		}
		for (size_t j = 0; j < t->ncols; j++)
			if ((rc = check_column(p, t, &t->cols[j], err)) != 0)
				goto out;
	}
out:
	free(rix);
	free(six);
	return rc;
}
