/* schema.c — the schema model: tables, columns, keys, foreign keys and indexes, built by
 * engines through the builders of ferry/engine.h; foreign-key load order; canonical types
 * from declared SQL types. A schema owns every string and array in it. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "ferry_int.h"

struct ferry_schema {
	ferry_table *tables;
	size_t ntables, cap;
	size_t *col_caps;  /* capacity of each table's column array */
	size_t *fk_caps;
	size_t *idx_caps;
	size_t caps_cap;
	char **others;     /* kind, name, kind, name, ... (ferry_schema_add_other) */
	size_t nothers, others_cap;
};

ferry_schema *ferry__schema_new(void)
{
	return ferry__calloc(1, sizeof(ferry_schema));
}

static void free_strv(char **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void ferry__schema_free(ferry_schema *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->ntables; i++) {
		ferry_table *t = &s->tables[i];
		free(t->name);
		for (size_t c = 0; c < t->ncols; c++) {
			free(t->cols[c].name);
			free(t->cols[c].decl_type);
			free(t->cols[c].default_sql);
			free(t->cols[c].collation);
		}
		free(t->cols);
		free(t->pk);
		for (size_t f = 0; f < t->nfks; f++) {
			free(t->fks[f].ref_table);
			free_strv(t->fks[f].cols, t->fks[f].ncols);
			free_strv(t->fks[f].ref_cols, t->fks[f].ncols);
			free(t->fks[f].on_delete);
			free(t->fks[f].on_update);
		}
		free(t->fks);
		for (size_t x = 0; x < t->nidx; x++) {
			free(t->idx[x].name);
			free_strv(t->idx[x].cols, t->idx[x].ncols);
			free(t->idx[x].where);
			free(t->idx[x].sql);
			free(t->idx[x].opts);
		}
		free(t->idx);
		for (size_t k = 0; k < t->nchecks; k++) {
			free(t->checks[k].name);
			free(t->checks[k].expr);
		}
		free(t->checks);
		free(t->sql);
	}
	free_strv(s->others, s->nothers);
	free(s->tables);
	free(s->col_caps);
	free(s->fk_caps);
	free(s->idx_caps);
	free(s);
}

int ferry_schema_add_other(ferry_schema *s, const char *kind, const char *name)
{
	char *k = ferry__strdup(kind), *n = ferry__strdup(name);
	if (!k || !n || ferry__grow(&s->others, &s->others_cap, s->nothers + 2, sizeof(char *)) != 0) {
		free(k);
		free(n);
		return FERRY_ENOMEM;
	}
	s->others[s->nothers++] = k;
	s->others[s->nothers++] = n;
	return 0;
}

const char *ferry_schema_other(const ferry_schema *s, size_t i, const char **name)
{
	if (2 * i + 1 >= s->nothers)
		return NULL;
	*name = s->others[2 * i + 1];
	return s->others[2 * i];
}

char *ferry_schema_strdup(ferry_schema *s, const char *str)
{
	(void)s;
	return str ? ferry__strdup(str) : NULL;
}

static size_t table_index(const ferry_schema *s, const ferry_table *t)
{
	return (size_t)(t - s->tables);
}

ferry_table *ferry_schema_add_table(ferry_schema *s, const char *name)
{
	if (ferry__grow(&s->tables, &s->cap, s->ntables + 1, sizeof(ferry_table)) != 0)
		return NULL;
	size_t c1 = s->caps_cap, c2 = s->caps_cap, c3 = s->caps_cap;
	if (ferry__grow(&s->col_caps, &c1, s->ntables + 1, sizeof(size_t)) != 0 ||
	    ferry__grow(&s->fk_caps, &c2, s->ntables + 1, sizeof(size_t)) != 0 ||
	    ferry__grow(&s->idx_caps, &c3, s->ntables + 1, sizeof(size_t)) != 0)
		return NULL;
	/* The three arrays grew from the same capacity by the same rule. */
	s->caps_cap = c1;
	ferry_table *t = &s->tables[s->ntables];
	memset(t, 0, sizeof(*t));
	t->name = ferry__strdup(name);
	if (!t->name)
		return NULL;
	t->has_rowid = 1;
	t->est_rows = -1;
	s->col_caps[s->ntables] = s->fk_caps[s->ntables] = s->idx_caps[s->ntables] = 0;
	s->ntables++;
	return t;
}

ferry_column *ferry_table_add_column(ferry_schema *s, ferry_table *t, const char *name,
                                     const char *decl_type, ferry_type type)
{
	size_t ti = table_index(s, t);
	if (ferry__grow(&t->cols, &s->col_caps[ti], t->ncols + 1, sizeof(ferry_column)) != 0)
		return NULL;
	ferry_column *c = &t->cols[t->ncols];
	memset(c, 0, sizeof(*c));
	c->name = ferry__strdup(name);
	c->decl_type = ferry__strdup(decl_type ? decl_type : "");
	c->type = type;
	if (!c->name || !c->decl_type) {
		free(c->name);
		free(c->decl_type);
		return NULL;
	}
	t->ncols++;
	return c;
}

int ferry_table_set_pk(ferry_schema *s, ferry_table *t, const size_t *cols, size_t n)
{
	(void)s;
	free(t->pk);
	t->pk = NULL;
	t->npk = 0;
	if (n == 0)
		return 0;
	t->pk = ferry__malloc(n * sizeof(size_t));
	if (!t->pk)
		return FERRY_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		t->pk[i] = cols[i];
		if (cols[i] < t->ncols)
			t->cols[cols[i]].pk_pos = (int)i + 1;
	}
	t->npk = n;
	return 0;
}

ferry_fkey *ferry_table_add_fkey(ferry_schema *s, ferry_table *t, const char *ref_table,
                                 size_t ncols)
{
	size_t ti = table_index(s, t);
	if (ferry__grow(&t->fks, &s->fk_caps[ti], t->nfks + 1, sizeof(ferry_fkey)) != 0)
		return NULL;
	ferry_fkey *f = &t->fks[t->nfks];
	memset(f, 0, sizeof(*f));
	f->ref_table = ferry__strdup(ref_table);
	f->cols = ferry__calloc(ncols ? ncols : 1, sizeof(char *));
	f->ref_cols = ferry__calloc(ncols ? ncols : 1, sizeof(char *));
	if (!f->ref_table || !f->cols || !f->ref_cols) {
		free(f->ref_table);
		free(f->cols);
		free(f->ref_cols);
		return NULL;
	}
	f->ncols = ncols;
	t->nfks++;
	return f;
}

ferry_index *ferry_table_add_index(ferry_schema *s, ferry_table *t, const char *name,
                                   size_t ncols)
{
	size_t ti = table_index(s, t);
	if (ferry__grow(&t->idx, &s->idx_caps[ti], t->nidx + 1, sizeof(ferry_index)) != 0)
		return NULL;
	ferry_index *x = &t->idx[t->nidx];
	memset(x, 0, sizeof(*x));
	x->name = ferry__strdup(name);
	x->cols = ferry__calloc(ncols ? ncols : 1, sizeof(char *));
	x->opts = ferry__calloc(ncols ? ncols : 1, 1);
	if (!x->name || !x->cols || !x->opts) {
		free(x->name);
		free(x->cols);
		free(x->opts);
		return NULL;
	}
	x->ncols = ncols;
	t->nidx++;
	return x;
}

ferry_check *ferry_table_add_check(ferry_schema *s, ferry_table *t, const char *name,
                                   const char *expr)
{
	(void)s;
	/* Few per table: the array grows by one each time. */
	size_t cap = t->nchecks;
	if (ferry__grow(&t->checks, &cap, t->nchecks + 1, sizeof(ferry_check)) != 0)
		return NULL;
	ferry_check *k = &t->checks[t->nchecks];
	k->name = name ? ferry__strdup(name) : NULL;
	k->expr = ferry__strdup(expr ? expr : "");
	k->unvalidated = 0;
	if ((name && !k->name) || !k->expr) {
		free(k->name);
		free(k->expr);
		return NULL;
	}
	t->nchecks++;
	return k;
}

size_t ferry_schema_count(const ferry_schema *s) { return s->ntables; }

ferry_table *ferry_schema_table(const ferry_schema *s, size_t i)
{
	return i < s->ntables ? &s->tables[i] : NULL;
}

ferry_table *ferry_schema_find(const ferry_schema *s, const char *name)
{
	for (size_t i = 0; i < s->ntables; i++)
		if (strcmp(s->tables[i].name, name) == 0)
			return &s->tables[i];
	return NULL;
}

int ferry_table_column(const ferry_table *t, const char *name)
{
	for (size_t i = 0; i < t->ncols; i++)
		if (strcmp(t->cols[i].name, name) == 0)
			return (int)i;
	return -1;
}

static char **dup_strv(char *const *v, size_t n)
{
	char **d = ferry__calloc(n ? n : 1, sizeof(char *));
	if (!d)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (v[i] && !(d[i] = ferry__strdup(v[i]))) {
			free_strv(d, n);
			return NULL;
		}
	return d;
}

ferry_table *ferry__schema_copy_table(ferry_schema *s, const ferry_table *src, const char *name)
{
	ferry_table *t = ferry_schema_add_table(s, name ? name : src->name);
	if (!t)
		return NULL;
	t->has_rowid = src->has_rowid;
	t->strict = src->strict;
	t->est_rows = src->est_rows;
	t->origin = src->origin;
	if (src->sql && !(t->sql = ferry__strdup(src->sql)))
		return NULL;
	for (size_t i = 0; i < src->ncols; i++) {
		const ferry_column *c = &src->cols[i];
		ferry_column *d = ferry_table_add_column(s, t, c->name, c->decl_type, c->type);
		if (!d)
			return NULL;
		d->notnull = c->notnull;
		d->generated = c->generated;
		d->chosen = c->chosen;
		if (c->default_sql && !(d->default_sql = ferry__strdup(c->default_sql)))
			return NULL;
		if (c->collation && !(d->collation = ferry__strdup(c->collation)))
			return NULL;
	}
	if (ferry_table_set_pk(s, t, src->pk, src->npk) != 0)
		return NULL;
	for (size_t f = 0; f < src->nfks; f++) {
		const ferry_fkey *k = &src->fks[f];
		ferry_fkey *d = ferry_table_add_fkey(s, t, k->ref_table, k->ncols);
		if (!d)
			return NULL;
		free(d->cols);
		free(d->ref_cols);
		d->cols = dup_strv(k->cols, k->ncols);
		d->ref_cols = dup_strv(k->ref_cols, k->ncols);
		d->on_delete = ferry__strdup(k->on_delete);
		d->on_update = ferry__strdup(k->on_update);
		if (!d->cols || !d->ref_cols)
			return NULL;
	}
	for (size_t x = 0; x < src->nidx; x++) {
		const ferry_index *k = &src->idx[x];
		ferry_index *d = ferry_table_add_index(s, t, k->name, k->ncols);
		if (!d)
			return NULL;
		free(d->cols);
		d->cols = dup_strv(k->cols, k->ncols);
		d->unique = k->unique;
		d->exprs = k->exprs;
		d->where = ferry__strdup(k->where);
		d->sql = ferry__strdup(k->sql);
		if (!d->cols)
			return NULL;
		memcpy(d->opts, k->opts, k->ncols);
		d->constraint = k->constraint;
	}
	for (size_t k = 0; k < src->nchecks; k++) {
		ferry_check *d = ferry_table_add_check(s, t, src->checks[k].name, src->checks[k].expr);
		if (!d)
			return NULL;
		d->unvalidated = src->checks[k].unvalidated;
	}
	return t;
}

void ferry__schema_fk_levels(const ferry_schema *s, int *level)
{
	size_t n = s->ntables;
	for (size_t i = 0; i < n; i++)
		level[i] = 0;
	/* Relax up to n rounds: a level can only rise; a cycle stops rising after n rounds and
	 * its tables keep whatever level they reached, which is harmless because the load
	 * checks foreign keys at the end instead of relying on order alone. */
	for (size_t round = 0; round < n; round++) {
		int changed = 0;
		for (size_t i = 0; i < n; i++) {
			const ferry_table *t = &s->tables[i];
			for (size_t f = 0; f < t->nfks; f++) {
				for (size_t j = 0; j < n; j++) {
					if (j == i || strcmp(s->tables[j].name, t->fks[f].ref_table) != 0)
						continue;
					if (level[i] < level[j] + 1 && level[j] + 1 <= (int)n) {
						level[i] = level[j] + 1;
						changed = 1;
					}
				}
			}
		}
		if (!changed)
			break;
	}
}

static int has_word(const char *up, const char *w)
{
	return strstr(up, w) != NULL;
}

/* Does decl (case aside) equal name, optionally followed by a type modifier "(p[,s])"?
 * *mod (may be NULL) receives the modifier, or "" when there is none. */
static int decl_is(const char *decl, const char *name, int with_mod, const char **mod)
{
	size_t n = strlen(name);
	if (strncasecmp(decl, name, n) != 0)
		return 0;
	const char *p = decl + n;
	while (*p == ' ')
		p++;
	if (*p == '\0') {
		if (mod)
			*mod = "";
		return 1;
	}
	if (!with_mod || *p != '(' || p[strlen(p) - 1] != ')' || strspn(p + 1, "0123456789, ") != strlen(p) - 2)
		return 0;
	if (mod)
		*mod = p;
	return 1;
}

int ferry__exact_kind(const char *decl, const char **mod)
{
	if (mod)
		*mod = "";
	if (!decl)
		return FERRY_EXACT_NONE;
	if (decl_is(decl, "FLOAT8_BLOB", 0, NULL))
		return FERRY_EXACT_FLOAT8;
	if (decl_is(decl, "FLOAT4_BLOB", 0, NULL))
		return FERRY_EXACT_FLOAT4;
	if (decl_is(decl, "NUMERIC_TEXT", 1, mod))
		return FERRY_EXACT_NUMERIC;
	return FERRY_EXACT_NONE;
}

const char *ferry__exact_decl(const ferry_column *c, char *buf, size_t cap)
{
	const char *d = c->decl_type ? c->decl_type : "", *mod = "";
	if (c->type == FERRY_FLOAT)
		return decl_is(d, "real", 0, NULL) || decl_is(d, "float4", 0, NULL) ? "FLOAT4_BLOB"
		                                                                    : "FLOAT8_BLOB";
	if (c->type != FERRY_NUMERIC)
		return d;
	if (!decl_is(d, "numeric", 1, &mod) && !decl_is(d, "decimal", 1, &mod))
		mod = "";
	if ((size_t)snprintf(buf, cap, "NUMERIC_TEXT%s", mod) >= cap)
		return "NUMERIC_TEXT";
	return buf;
}

ferry_type ferry__type_from_decl(const char *decl)
{
	char up[128];
	size_t i = 0;
	if (!decl)
		decl = "";
	/* ferry's own names for exact floats and decimals (ferry__exact_decl). */
	switch (ferry__exact_kind(decl, NULL)) {
	case FERRY_EXACT_FLOAT8:
	case FERRY_EXACT_FLOAT4:
		return FERRY_FLOAT;
	case FERRY_EXACT_NUMERIC:
		return FERRY_NUMERIC;
	default:
		break;
	}
	for (; decl[i] && i < sizeof(up) - 1; i++)
		up[i] = (char)toupper((unsigned char)decl[i]);
	up[i] = '\0';
	/* Names SQLite's affinity rules would misfile come first. */
	if (has_word(up, "TIMESTAMPTZ") || has_word(up, "WITH TIME ZONE"))
		return strncmp(up, "TIME ", 5) == 0 || strcmp(up, "TIMETZ") == 0 ? FERRY_TIME
		                                                             : FERRY_TIMESTAMPTZ;
	if (has_word(up, "TIMESTAMP") || has_word(up, "DATETIME"))
		return FERRY_TIMESTAMP;
	if (strcmp(up, "DATE") == 0)
		return FERRY_DATE;
	if (strcmp(up, "TIME") == 0 || strncmp(up, "TIME(", 5) == 0)
		return FERRY_TIME;
	if (has_word(up, "BOOL"))
		return FERRY_BOOL;
	if (strcmp(up, "UUID") == 0)
		return FERRY_UUID;
	if (strcmp(up, "JSON") == 0 || strcmp(up, "JSONB") == 0)
		return FERRY_JSON;
	/* SQLite's affinity rules, in its order (https://sqlite.org/datatype3.html 3.1). */
	if (has_word(up, "INT"))
		return FERRY_INT;
	if (has_word(up, "CHAR") || has_word(up, "CLOB") || has_word(up, "TEXT"))
		return FERRY_TEXT;
	if (up[0] == '\0' || has_word(up, "BLOB"))
		return FERRY_BLOB;
	if (has_word(up, "REAL") || has_word(up, "FLOA") || has_word(up, "DOUB"))
		return FERRY_FLOAT;
	return FERRY_NUMERIC;
}
