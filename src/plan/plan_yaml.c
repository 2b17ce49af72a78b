/* plan_yaml.c — the plan loader: YAML text (through libyaml's event API) into a node tree
 * with positions, then into struct ferry_plan; every error names path:line:column. */
#include <assert.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>
#include "../ferry_int.h"
#include "plan_int.h"


#define MAX_DEPTH 64   /* a plan needs 6 levels; deeper input is refused, not recursed */
#define SHOW_MAX 100   /* a buffer for one value in a message */

/* ---- the node tree ------------------------------------------------------------------ */

enum { N_SCALAR, N_SEQ, N_MAP };

typedef struct ynode {
	int kind;
	int line, col;        /* 1-based */
	int plain;            /* a plain (unquoted) scalar: may be null, a number, a bool */
	char *s;              /* scalar text, NUL-free */
	size_t len;
	struct ynode **kids;  /* sequence items, or mapping key, value, key, value ... */
	size_t n, cap;
} ynode;

static void node_free(ynode *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n; i++)
		node_free(n->kids[i]);
	free(n->kids);
	free(n->s);
	free(n);
}

/* The parser's state: where messages point, and the nodes kept for the later passes. */
typedef struct pstate {
	const char *path;        /* for messages: the plan file, or "<plan>" */
	const char *base;        /* the directory URLs resolve against; NULL: as given */
	const ferry_ctx *ctx;    /* whose engines claim the URLs; NULL: the built-in ones */
	ferry_err *err;
	ferry_plan *p;
	const ynode *source_key, *sources_key, *target_val, *schema_val, *stages_val,
	            *tables_val;
	char *schema;            /* target_schema as written */
	size_t src_cap;          /* allocated p->sources */
} pstate;

static int fail(pstate *P, const ynode *at, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 3, 4)))
#endif
	;

static int fail(pstate *P, const ynode *at, const char *fmt, ...)
{
	char msg[900];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (at)
		return ferry_err_set(P->err, FERRY_EUSAGE, "%s:%d:%d: %s", P->path, at->line, at->col,
		                     msg);
	return ferry_err_set(P->err, FERRY_EUSAGE, "%s: %s", P->path, msg);
}

static int nomem(pstate *P)
{
	return ferry_err_set(P->err, FERRY_ENOMEM, "%s: out of memory while loading the plan",
	                     P->path);
}

/* s as a quoted string for a message: clipped at a character boundary, control characters
 * shown as '?'. buf holds SHOW_MAX bytes. */
static const char *clip(char *buf, const char *s, size_t len)
{
	size_t o = 0, i = 0;
	buf[o++] = '"';
	while (i < len && o < 80) {
		unsigned char c = (unsigned char)s[i];
		size_t cl = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
		if (i + cl > len)
			break;
		if (c < 0x20 || c == 0x7f) {
			buf[o++] = '?';
			i++;
			continue;
		}
		memcpy(buf + o, s + i, cl);
		o += cl;
		i += cl;
	}
	buf[o++] = '"';
	if (i < len) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	return buf;
}

static const char *clips(char *buf, const char *s)
{
	return clip(buf, s, strlen(s));
}

static int is_null(const ynode *n)
{
	if (n->kind != N_SCALAR || !n->plain)
		return 0;
	return n->len == 0 || strcmp(n->s, "~") == 0 || strcmp(n->s, "null") == 0 ||
	       strcmp(n->s, "Null") == 0 || strcmp(n->s, "NULL") == 0;
}

/* What a node is, for "found ..." and "not ...": a quoted value or the kind of node. */
static const char *show(char *buf, const ynode *n, const char *if_null)
{
	if (n->kind == N_MAP)
		return "a mapping";
	if (n->kind == N_SEQ)
		return "a sequence";
	if (is_null(n))
		return if_null;
	if (n->len == 0)
		return "an empty string";
	return clip(buf, n->s, n->len);
}

static int is_str(const ynode *n)
{
	return n->kind == N_SCALAR && !is_null(n) && n->len > 0;
}

/* The value of key name in mapping m (the first one), or NULL. */
static const ynode *map_get(const ynode *m, const char *name)
{
	if (!m || m->kind != N_MAP)
		return NULL;
	for (size_t i = 0; i + 1 < m->n; i += 2)
		if (m->kids[i]->kind == N_SCALAR && strcmp(m->kids[i]->s, name) == 0)
			return m->kids[i + 1];
	return NULL;
}

/* ---- YAML text into nodes ------------------------------------------------------------ */

static int yaml_fail(pstate *P, const yaml_parser_t *yp, const char *text, size_t len)
{
	if (yp->error == YAML_MEMORY_ERROR)
		return nomem(P);
	const char *problem = yp->problem ? yp->problem : "unknown error";
	int line, col;
	if (yp->error == YAML_READER_ERROR) {
		/* Reader errors carry a byte offset, not a mark. */
		size_t off = yp->problem_offset < len ? yp->problem_offset : len;
		line = 1;
		col = 1;
		for (size_t i = 0; i < off; i++) {
			unsigned char c = (unsigned char)text[i];
			if (c == '\n') {
				line++;
				col = 1;
			} else if ((c & 0xc0) != 0x80) {
				col++;
			}
		}
		if (yp->problem_value != -1)
			return ferry_err_set(P->err, FERRY_EUSAGE, "%s:%d:%d: invalid YAML: %s (0x%x)",
			                     P->path, line, col, problem, (unsigned)yp->problem_value);
		return ferry_err_set(P->err, FERRY_EUSAGE, "%s:%d:%d: invalid YAML: %s", P->path,
		                     line, col, problem);
	}
	line = (int)yp->problem_mark.line + 1;
	col = (int)yp->problem_mark.column + 1;
	if (yp->context)
		return ferry_err_set(P->err, FERRY_EUSAGE, "%s:%d:%d: invalid YAML: %s (%s)", P->path,
		                     line, col, problem, yp->context);
	return ferry_err_set(P->err, FERRY_EUSAGE, "%s:%d:%d: invalid YAML: %s", P->path, line,
	                     col, problem);
}

/* ${NAME} and ${NAME:-default} in a scalar, from the environment; "$${" is a literal "${".
 * An unset NAME without a default is an error naming it where the scalar is written. Only
 * the braced form: SQL's $1 and $$ quoting pass untouched. */
static int expand_env(pstate *P, const ynode *at, char **s, size_t *len)
{
	if (!strstr(*s, "${"))
		return 0;
	ferry_buf b = FERRY_BUF_INIT;
	b.max = (size_t)16 << 20;
	const char *p = *s;
	while (*p) {
		if (p[0] == '$' && p[1] == '$' && p[2] == '{') {
			ferry_buf_add(&b, "${", 2);
			p += 3;
			continue;
		}
		if (p[0] != '$' || p[1] != '{') {
			ferry_buf_add(&b, p++, 1);
			continue;
		}
		const char *name = p + 2, *e = name;
		if ((*e >= 'A' && *e <= 'Z') || (*e >= 'a' && *e <= 'z') || *e == '_')
			for (e++; (*e >= 'A' && *e <= 'Z') || (*e >= 'a' && *e <= 'z') || (*e >= '0' && *e <= '9') || *e == '_'; e++)
				;
		const char *def = NULL, *close;
		if (e > name && e[0] == ':' && e[1] == '-') {
			def = e + 2;
			close = strchr(def, '}');
		} else {
			close = *e == '}' ? e : NULL;
		}
		if (e == name || !close) {
			char show[SHOW_MAX];
			ferry_buf_free(&b);
			return fail(P, at, "%s is not a variable of the environment: write ${NAME} or ${NAME:-default} (NAME of letters, digits and _), or $${ for a literal ${",
			            clip(show, p, strcspn(p, "}") + (strchr(p, '}') ? 1 : 0)));
		}
		char *var = ferry__strndup(name, (size_t)(e - name));
		if (!var) {
			ferry_buf_free(&b);
			return nomem(P);
		}
		const char *val = getenv(var);
		if (!val && !def) {
			int rc = fail(P, at, "environment variable \"%s\" is not set (${%s} in the plan; ${%s:-default} gives a default)",
			              var, var, var);
			free(var);
			ferry_buf_free(&b);
			return rc;
		}
		free(var);
		if (val)
			ferry_buf_puts(&b, val);
		else
			ferry_buf_add(&b, def, (size_t)(close - def));
		p = close + 1;
	}
	if (b.failed) {
		ferry_buf_free(&b);
		return nomem(P);
	}
	if (!b.data)
		ferry_buf_puts(&b, "");
	if (memchr(b.data, '\0', b.len)) {
		ferry_buf_free(&b);
		return fail(P, at, "a value holds a NUL character");
	}
	free(*s);
	*len = b.len;
	*s = ferry_buf_detach(&b);
	return *s ? 0 : nomem(P);
}

static ynode *node_new(int kind, yaml_mark_t m)
{
	ynode *n = ferry__calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->kind = kind;
	n->line = m.line + 1 > INT_MAX ? INT_MAX : (int)m.line + 1;
	n->col = m.column + 1 > INT_MAX ? INT_MAX : (int)m.column + 1;
	return n;
}

static int build_tree(pstate *P, const char *text, size_t len, ynode **root)
{
	yaml_parser_t yp;
	yaml_event_t ev;
	ynode *stack[MAX_DEPTH];
	int depth = 0, ndocs = 0, rc = 0, done = 0;
	*root = NULL;
	if (!yaml_parser_initialize(&yp))
		return nomem(P);
	yaml_parser_set_input_string(&yp, (const unsigned char *)text, len);
	while (!done && rc == 0) {
		if (!yaml_parser_parse(&yp, &ev)) {
			rc = yaml_fail(P, &yp, text, len);
			break;
		}
		ynode *n = NULL;
		ynode at = {0};
		at.line = (int)ev.start_mark.line + 1;
		at.col = (int)ev.start_mark.column + 1;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++ndocs > 1)
				rc = fail(P, &at, "the plan holds more than one YAML document");
			break;
		case YAML_ALIAS_EVENT:
			rc = fail(P, &at, "aliases (*%.60s) are not supported in a plan",
			          (const char *)ev.data.alias.anchor);
			break;
		case YAML_SCALAR_EVENT:
			if (memchr(ev.data.scalar.value, '\0', ev.data.scalar.length)) {
				rc = fail(P, &at, "a value holds a NUL character");
				break;
			}
			n = node_new(N_SCALAR, ev.start_mark);
			if (!n || !(n->s = ferry__strndup((const char *)ev.data.scalar.value,
			                                   ev.data.scalar.length))) {
				rc = nomem(P);
				break;
			}
			n->len = ev.data.scalar.length;
			n->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
			rc = expand_env(P, &at, &n->s, &n->len);
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (depth == MAX_DEPTH) {
				rc = fail(P, &at, "the plan nests deeper than %d levels", MAX_DEPTH);
				break;
			}
			n = node_new(ev.type == YAML_MAPPING_START_EVENT ? N_MAP : N_SEQ, ev.start_mark);
			if (!n)
				rc = nomem(P);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		default:
			break;
		}
		if (rc == 0 && n) {
			if (depth == 0) {
				*root = n;
			} else {
				ynode *up = stack[depth - 1];
				if (ferry__grow(&up->kids, &up->cap, up->n + 1, sizeof(ynode *)) != 0) {
					node_free(n);
					rc = nomem(P);
				} else {
					up->kids[up->n++] = n;
				}
			}
			if (rc == 0 && n->kind != N_SCALAR)
				stack[depth++] = n;
		} else if (n) {
			node_free(n); /* never attached */
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&yp);
	if (rc != 0) {
		node_free(*root);
		*root = NULL;
	}
	return rc;
}

/* ---- typed values ------------------------------------------------------------------- */

/* A key as the messages name it: "from" in the rule for column "x". */
static const char *key_label(char *buf, size_t size, const char *name, const char *where)
{
	if (where)
		snprintf(buf, size, "\"%s\" in %s", name, where);
	else
		snprintf(buf, size, "\"%s\"", name);
	return buf;
}

static int get_str(pstate *P, const ynode *val, const char *name, const char *where,
                   const char *expected, char **out)
{
	char b[SHOW_MAX], lb[300];
	if (!is_str(val))
		return fail(P, val, "expected %s for %s, found %s", expected,
		            key_label(lb, sizeof(lb), name, where), show(b, val, "nothing"));
	*out = ferry__strndup(val->s, val->len);
	return *out ? 0 : nomem(P);
}

/* A whole number in [min, max]. */
static int get_int(pstate *P, const ynode *val, const char *name, const char *where,
                   int64_t min, int64_t max, int64_t *out)
{
	char b[SHOW_MAX], lb[300];
	int ok = val->kind == N_SCALAR && !is_null(val);
	int64_t v = 0;
	if (ok) {
		const char *s = val->s;
		int neg = 0;
		if (*s == '-' || *s == '+')
			neg = *s++ == '-';
		ok = *s != '\0';
		for (; ok && *s; s++) {
			if (*s < '0' || *s > '9') {
				ok = 0;
				break;
			}
			int d = *s - '0';
			if (v > (INT64_MAX - d) / 10) {
				ok = 0; /* out of range: "must be a whole number" still says it */
				break;
			}
			v = v * 10 + d;
		}
		if (neg)
			v = -v;
	}
	key_label(lb, sizeof(lb), name, where);
	if (!ok || v < min)
		return fail(P, val, "%s must be a whole number >= %lld, not %s", lb, (long long)min,
		            show(b, val, "an empty value"));
	if (v > max)
		return fail(P, val, "%s must be at most %lld, not %s", lb, (long long)max,
		            show(b, val, "an empty value"));
	*out = v;
	return 0;
}

static int get_bool(pstate *P, const ynode *val, const char *name, const char *where, int *out)
{
	static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"};
	static const char *const no[] = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"};
	char b[SHOW_MAX], lb[300];
	if (val->kind == N_SCALAR) {
		for (size_t i = 0; i < FERRY_ARRAY_LEN(yes); i++) {
			if (strcmp(val->s, yes[i]) == 0) {
				*out = 1;
				return 0;
			}
			if (strcmp(val->s, no[i]) == 0) {
				*out = 0;
				return 0;
			}
		}
	}
	return fail(P, val, "%s must be true or false, not %s",
	            key_label(lb, sizeof(lb), name, where), show(b, val, "an empty value"));
}

static int expect_kind(pstate *P, const ynode *val, int kind, const char *what)
{
	char b[SHOW_MAX];
	if (val->kind == kind)
		return 0;
	return fail(P, val, "expected %s for %s, found %s", kind == N_MAP ? "a mapping" : "a sequence",
	            what, show(b, val, "nothing"));
}

/* ---- mappings with known keys (one declarative table per mapping) -------------------- */

/* K_SETTING: a setting of ferry__plan_settings (kind, field and bounds from there). */
enum { K_FN, K_STR, K_INT, K_INT64, K_BOOL, K_SETTING };

typedef int (*key_fn)(pstate *P, void *obj, const ynode *key, const ynode *val,
                      const char *where);

typedef struct key_def {
	const char *name;
	int kind;
	size_t off;            /* K_STR, K_INT, K_INT64, K_BOOL: the field in obj */
	int64_t min, max;      /* K_INT, K_INT64 */
	const char *expected;  /* K_STR: what the string is, for messages */
	key_fn fn;             /* K_FN */
	const char *alias_of;  /* K_STR: another name for this key */
} key_def;

/* Keys of mapping m are scalars and unique; the error names the second of a pair. */
static int check_keys(pstate *P, const ynode *m, const char *where)
{
	char b[SHOW_MAX];
	size_t nk = m->n / 2;
	for (size_t i = 0; i < nk; i++) {
		const ynode *k = m->kids[2 * i];
		if (!is_str(k))
			return fail(P, k, "expected a key name in %s, found %s", where,
			            show(b, k, "nothing"));
	}
	if (nk < 2)
		return 0;
	name_ix *ix = ferry__calloc(nk, sizeof(*ix));
	if (!ix)
		return nomem(P);
	for (size_t i = 0; i < nk; i++) {
		ix[i].name = m->kids[2 * i]->s;
		ix[i].ix = i;
	}
	qsort(ix, nk, sizeof(*ix), ferry__plan_cmp_name_ix);
	long dup = -1, first = -1;
	for (size_t i = 0; i < nk;) {
		size_t j = i + 1;
		while (j < nk && strcmp(ix[j].name, ix[i].name) == 0)
			j++;
		/* Equal names sort by position: report the earliest second occurrence. */
		if (j - i >= 2 && (dup < 0 || (long)ix[i + 1].ix < dup)) {
			dup = (long)ix[i + 1].ix;
			first = (long)ix[i].ix;
		}
		i = j;
	}
	free(ix);
	if (dup < 0)
		return 0;
	const ynode *k = m->kids[2 * dup];
	return fail(P, k, "duplicate key %s in %s (first at line %d)", clip(b, k->s, k->len), where,
	            m->kids[2 * first]->line);
}

static int walk_map(pstate *P, const ynode *m, const char *where, const key_def *defs,
                    size_t ndefs, void *obj)
{
	char b[SHOW_MAX];
	int rc = check_keys(P, m, where);
	if (rc)
		return rc;
	for (size_t i = 0; i + 1 < m->n; i += 2) {
		const ynode *k = m->kids[i], *v = m->kids[i + 1];
		const key_def *d = NULL;
		for (size_t j = 0; j < ndefs && !d; j++)
			if (strcmp(defs[j].name, k->s) == 0)
				d = &defs[j];
		if (!d) {
			ferry_buf list = FERRY_BUF_INIT;
			for (size_t j = 0; j < ndefs; j++)
				ferry_buf_printf(&list, "%s%s", j ? ", " : "", defs[j].name);
			rc = fail(P, k, "unknown key %s in %s (expected one of: %s)", clip(b, k->s, k->len),
			          where, list.data ? list.data : "");
			ferry_buf_free(&list);
			return rc;
		}
		const char *w = obj == P->p ? NULL : where;
		void *field = (char *)obj + d->off;
		int64_t v64;
		switch (d->kind) {
		case K_FN:
			rc = d->fn(P, obj, k, v, w);
			break;
		case K_STR:
			if (*(char **)field) {
				/* Only an alias gets here: the duplicate check saw the same name. */
				return fail(P, k, "\"%s\" is another name for \"%s\", given already in %s",
				            d->name, d->alias_of ? d->alias_of : "?", where);
			}
			rc = get_str(P, v, d->name, w, d->expected, (char **)field);
			break;
		case K_INT:
			if ((rc = get_int(P, v, d->name, w, d->min, d->max, &v64)) == 0)
				*(int *)field = (int)v64;
			break;
		case K_INT64:
			rc = get_int(P, v, d->name, w, d->min, d->max, (int64_t *)field);
			break;
		case K_BOOL:
			rc = get_bool(P, v, d->name, w, (int *)field);
			break;
		case K_SETTING: {
			const ferry_plan_setting *s = ferry__plan_setting(d->name);
			int flag = 0;
			assert(s && obj == P->p);
			if (s->kind == FERRY_SETTING_BOOL) {
				rc = get_bool(P, v, d->name, w, &flag);
				v64 = flag;
			} else
				rc = get_int(P, v, d->name, w, s->min, s->max, &v64);
			if (rc == 0)
				ferry__plan_setting_put(P->p, s, v64);
			break;
		}
		}
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- the plan's keys ---------------------------------------------------------------- */

/* A database URL or path, resolved against the plan's directory. */
static int get_url(pstate *P, const ynode *val, const char *name, const char *where,
                   char **out)
{
	char b[SHOW_MAX], lb[300];
	char *raw = NULL;
	int rc = get_str(P, val, name, where, "a database URL or path", &raw);
	if (rc)
		return rc;
	/* An address no engine claims is a mistake in the plan, told where it is. */
	const ferry_engine *e = ferry__engine_claim(P->ctx, raw);
	if (!e) {
		int n = (int)ferry_url_scheme(raw);
		if (n)
			rc = fail(P, val, "unknown database URL scheme \"%.*s\" for %s (no engine of ferry takes it)",
			          n > 40 ? 40 : n, raw, key_label(lb, sizeof(lb), name, where));
		else
			rc = fail(P, val, "no engine of ferry takes %s for %s", show(b, val, "it"),
			          key_label(lb, sizeof(lb), name, where));
		free(raw);
		return rc;
	}
	if (e->flags & FERRY_ENGINE_LABEL) {
		rc = fail(P, val, "%s for %s is a label, not a database: a plan's label goes under \"label:\" (ferry export writes it, ferry import reads it)",
		          show(b, val, "it"), key_label(lb, sizeof(lb), name, where));
		free(raw);
		return rc;
	}
	ferry_err e2 = {0};
	rc = ferry__url_resolve_by(out, e, raw, P->base, &e2);
	free(raw);
	if (rc == FERRY_ENOMEM)
		return nomem(P);
	if (rc)
		return fail(P, val, "expected a database URL or path for %s, found %s",
		            key_label(lb, sizeof(lb), name, where), show(b, val, "nothing"));
	return 0;
}

static int add_source(pstate *P, const ynode *at, const char *name, size_t nlen, char *url)
{
	ferry_plan *p = P->p;
	if (ferry__grow(&p->sources, &P->src_cap, p->nsources + 1, sizeof(*p->sources)) != 0) {
		free(url);
		return nomem(P);
	}
	ferry_plan_source *s = &p->sources[p->nsources++];
	s->url = url;
	s->name = ferry__strndup(name, nlen);
	s->line = at->line;
	s->col = at->col;
	return s->name ? 0 : nomem(P);
}

static int k_version(pstate *P, void *obj, const ynode *key, const ynode *val, const char *w)
{
	char b[SHOW_MAX];
	(void)obj;
	(void)key;
	(void)w;
	if (val->kind != N_SCALAR || strcmp(val->s, "1") != 0)
		return fail(P, val, "unknown plan version %s (expected 1)", show(b, val, "nothing"));
	return 0;
}

static int both_sources(pstate *P, const ynode *key)
{
	return fail(P, key, "the plan has both \"source\" and \"sources\" (expected exactly one)");
}

static int k_source(pstate *P, void *obj, const ynode *key, const ynode *val, const char *w)
{
	char *url = NULL;
	(void)obj;
	if (P->sources_key)
		return both_sources(P, key);
	P->source_key = key;
	int rc = get_url(P, val, "source", w, &url);
	return rc ? rc : add_source(P, val, "source", 6, url);
}

static int k_sources(pstate *P, void *obj, const ynode *key, const ynode *val, const char *w)
{
	(void)obj;
	(void)w;
	if (P->source_key)
		return both_sources(P, key);
	P->sources_key = key;
	if (is_null(val) || (val->kind == N_MAP && val->n == 0))
		return fail(P, val, "\"sources\" names no source (expected a mapping of names to "
		                    "database URLs)");
	int rc = expect_kind(P, val, N_MAP, "\"sources\"");
	if (rc || (rc = check_keys(P, val, "\"sources\"")) != 0)
		return rc;
	for (size_t i = 0; i + 1 < val->n; i += 2) {
		const ynode *k = val->kids[i];
		char *url = NULL;
		/* The message names the source: expected ... for "catalog" in "sources". */
		if ((rc = get_url(P, val->kids[i + 1], k->len < 80 ? k->s : "...", "\"sources\"",
		                  &url)) != 0 ||
		    (rc = add_source(P, k, k->s, k->len, url)) != 0)
			return rc;
	}
	return 0;
}

static int k_target(pstate *P, void *obj, const ynode *key, const ynode *val, const char *w)
{
	(void)obj;
	(void)key;
	P->target_val = val;
	return get_url(P, val, "target", w, &P->p->target);
}

static int k_target_schema(pstate *P, void *obj, const ynode *key, const ynode *val,
                           const char *w)
{
	(void)obj;
	(void)key;
	P->schema_val = val;
	return get_str(P, val, "target_schema", w, "a .sql file or a directory", &P->schema);
}

static int k_label(pstate *P, void *obj, const ynode *key, const ynode *val, const char *w)
{
	char *raw = NULL;
	(void)obj;
	(void)key;
	int rc = get_str(P, val, "label", w, "a directory", &raw);
	if (rc)
		return rc;
	P->p->label = P->base ? ferry__path_join(P->base, raw) : ferry__strdup(raw);
	free(raw);
	return P->p->label ? 0 : nomem(P);
}

static int k_others(pstate *P, void *obj, const ynode *key, const ynode *val, const char *w)
{
	char b[SHOW_MAX];
	(void)obj;
	(void)key;
	(void)w;
	if (val->kind == N_SCALAR && strcmp(val->s, "copy") == 0)
		P->p->copy_others = 1;
	else if (val->kind == N_SCALAR && strcmp(val->s, "skip") == 0)
		P->p->copy_others = 0;
	else
		return fail(P, val, "unknown value %s for \"others\" (expected copy or skip)",
		            show(b, val, "nothing"));
	return 0;
}

/* The start of a key holding a list of mappings (stages, tables, verify): a null or empty
 * value is no list (*out NULL); anything else must be a sequence, whose array of elements
 * of size elem is allocated zeroed. */
static int list_start(pstate *P, const ynode *val, const char *what, size_t elem, void **out)
{
	*out = NULL;
	if (is_null(val))
		return 0;
	int rc = expect_kind(P, val, N_SEQ, what);
	if (rc || val->n == 0)
		return rc;
	*out = ferry__calloc(val->n, elem);
	return *out ? 0 : nomem(P);
}

/* ---- stages ------------------------------------------------------------------------- */

static int k_after(pstate *P, void *obj, const ynode *key, const ynode *val, const char *w)
{
	ferry_plan_stage *s = obj;
	char b[SHOW_MAX], lb[300];
	(void)key;
	if (is_null(val))
		return 0;
	const ynode *one = val;
	size_t n = val->kind == N_SEQ ? val->n : 1;
	if (val->kind == N_MAP)
		return fail(P, val, "expected a stage name or a list of them for %s, found a mapping",
		            key_label(lb, sizeof(lb), "after", w));
	s->after = ferry__calloc(n, sizeof(char *));
	if (!s->after)
		return nomem(P);
	for (size_t i = 0; i < n; i++) {
		const ynode *it = val->kind == N_SEQ ? val->kids[i] : one;
		if (!is_str(it))
			return fail(P, it, "expected a stage name in %s, found %s",
			            key_label(lb, sizeof(lb), "after", w), show(b, it, "nothing"));
		if (!(s->after[i] = ferry__strndup(it->s, it->len)))
			return nomem(P);
		s->nafter = i + 1;
	}
	return 0;
}

static const key_def stage_keys[] = {
	{"name", K_STR, offsetof(ferry_plan_stage, name), 0, 0, "a stage name", NULL, NULL},
	{"after", K_FN, 0, 0, 0, NULL, k_after, NULL},
};

static int stage_name_ok(const char *s)
{
	if (s[0] == '.')
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '_' || *s == '-' || *s == '.'))
			return 0;
	return 1;
}

static int k_stages(pstate *P, void *obj, const ynode *key, const ynode *val, const char *w)
{
	ferry_plan *p = P->p;
	char b[SHOW_MAX], wb[SHOW_MAX + 20];
	(void)obj;
	(void)key;
	(void)w;
	void *arr;
	int rc = list_start(P, val, "\"stages\"", sizeof(*p->stages), &arr);
	if (rc)
		return rc;
	if (!is_null(val))
		P->stages_val = val;
	if (!(p->stages = arr))
		return 0;
	for (size_t i = 0; i < val->n; i++) {
		const ynode *it = val->kids[i];
		ferry_plan_stage *s = &p->stages[i];
		p->nstages = i + 1;
		if (it->kind != N_MAP)
			return fail(P, it, "expected a mapping for stage %zu of \"stages\", found %s", i + 1,
			            show(b, it, "nothing"));
		const ynode *nm = map_get(it, "name");
		if (nm && is_str(nm))
			snprintf(wb, sizeof(wb), "stage %s", clip(b, nm->s, nm->len));
		else
			snprintf(wb, sizeof(wb), "stage %zu", i + 1);
		if ((rc = walk_map(P, it, wb, stage_keys, FERRY_ARRAY_LEN(stage_keys), s)) != 0)
			return rc;
		if (!nm)
			return fail(P, it, "stage %zu has no \"name\"", i + 1);
		if (!stage_name_ok(s->name))
			return fail(P, nm, "stage name %s may hold only letters, digits, \"_\", \"-\" and "
			                   "\".\", and must not start with \".\"", clip(b, nm->s, nm->len));
		s->line = nm->line;
		s->col = nm->col;
	}
	return 0;
}

/* ---- table entries and their columns -------------------------------------------------- */

static int k_conflict(pstate *P, void *obj, const ynode *key, const ynode *val, const char *w)
{
	static const struct {
		const char *name;
		ferry_conflict c;
	} rules[] = {
		{"min", FERRY_CONFLICT_MIN},     {"max", FERRY_CONFLICT_MAX},
		{"first", FERRY_CONFLICT_FIRST}, {"last", FERRY_CONFLICT_LAST},
		{"sum", FERRY_CONFLICT_SUM},     {"error", FERRY_CONFLICT_ERROR},
	};
	ferry_plan_column *c = obj;
	char b[SHOW_MAX], nb[SHOW_MAX];
	(void)key;
	(void)w;
	if (val->kind == N_SCALAR)
		for (size_t i = 0; i < FERRY_ARRAY_LEN(rules); i++)
			if (strcmp(val->s, rules[i].name) == 0) {
				c->conflict = rules[i].c;
				return 0;
			}
	return fail(P, val, "unknown conflict rule %s for column %s (expected min, max, first, "
	                    "last, sum or error)", show(b, val, "nothing"), clips(nb, c->name));
}

static int k_default(pstate *P, void *obj, const ynode *key, const ynode *val, const char *w)
{
	ferry_plan_column *c = obj;
	char b[SHOW_MAX], lb[300];
	(void)key;
	if (val->kind != N_SCALAR)
		return fail(P, val, "expected a value for %s, found %s",
		            key_label(lb, sizeof(lb), "default", w), show(b, val, "nothing"));
	if (is_null(val)) {
		c->def_null = 1;
		return 0;
	}
	c->def = ferry__strndup(val->s, val->len);
	return c->def ? 0 : nomem(P);
}

/* type: a column type ferry knows (ferry__coltype_parse), kept in its one spelling. */
static int k_type(pstate *P, void *obj, const ynode *key, const ynode *val, const char *w)
{
	ferry_plan_column *c = obj;
	char b[SHOW_MAX], lb[300], out[64];
	ferry_type t;
	(void)key;
	if (val->kind != N_SCALAR || is_null(val))
		return fail(P, val, "expected a type for %s, found %s",
		            key_label(lb, sizeof(lb), "type", w), show(b, val, "nothing"));
	if (ferry__coltype_parse(val->s, out, sizeof(out), &t) != 0)
		return fail(P, val, "unknown type %s for %s (expected bigint, integer, smallint, "
		                    "double precision, real, numeric[(p[,s])], text, varchar(n), bytea, "
		                    "boolean, date, time, timestamp, timestamptz, uuid, json or jsonb)",
		            show(b, val, "nothing"), key_label(lb, sizeof(lb), "type", w));
	c->type = ferry__strdup(out);
	return c->type ? 0 : nomem(P);
}

static const key_def rule_keys[] = {
	{"from", K_STR, offsetof(ferry_plan_column, from), 0, 0, "a source column name", NULL, NULL},
	{"expr", K_STR, offsetof(ferry_plan_column, expr), 0, 0, "an SQL expression", NULL, NULL},
	{"default", K_FN, 0, 0, 0, NULL, k_default, NULL},
	{"drop", K_BOOL, offsetof(ferry_plan_column, drop), 0, 1, NULL, NULL, NULL},
	{"conflict", K_FN, 0, 0, 0, NULL, k_conflict, NULL},
	{"type", K_FN, 0, 0, 0, NULL, k_type, NULL},
};

/* A mapping of column names to rules (columns:, reverse:) into *cols. */
static int parse_rules(pstate *P, const ynode *val, const char *name, const char *w,
                       ferry_plan_column **cols, size_t *ncols)
{
	char b[SHOW_MAX], wb[SHOW_MAX + 40], lb[300];
	if (is_null(val))
		return 0;
	int rc = expect_kind(P, val, N_MAP, key_label(lb, sizeof(lb), name, w));
	if (rc || (rc = check_keys(P, val, lb)) != 0)
		return rc;
	size_t n = val->n / 2;
	if (n == 0)
		return 0;
	*cols = ferry__calloc(n, sizeof(**cols));
	if (!*cols)
		return nomem(P);
	for (size_t i = 0; i < n; i++) {
		const ynode *k = val->kids[2 * i], *v = val->kids[2 * i + 1];
		ferry_plan_column *c = &(*cols)[i];
		*ncols = i + 1;
		c->line = k->line;
		c->col = k->col;
		if (!(c->name = ferry__strndup(k->s, k->len)))
			return nomem(P);
		snprintf(wb, sizeof(wb), "the rule for column %s", clip(b, k->s, k->len));
		if (v->kind == N_SCALAR && is_str(v)) {
			if (!(c->from = ferry__strndup(v->s, v->len)))
				return nomem(P);
		} else if (v->kind == N_MAP) {
			if ((rc = walk_map(P, v, wb, rule_keys, FERRY_ARRAY_LEN(rule_keys), c)) != 0)
				return rc;
		} else {
			return fail(P, v, "expected a source column name or a rule for column %s, found %s",
			            clip(b, k->s, k->len), show(lb, v, "nothing"));
		}
	}
	return 0;
}

static int k_columns(pstate *P, void *obj, const ynode *key, const ynode *val, const char *w)
{
	ferry_plan_table *t = obj;
	(void)key;
	return parse_rules(P, val, "columns", w, &t->cols, &t->ncols);
}

/* reverse: the way back's rules, by the same syntax with the roles swapped: a column of the
 * source table, filled from the target table's columns (in the target's dialect). */
static int k_reverse(pstate *P, void *obj, const ynode *key, const ynode *val, const char *w)
{
	ferry_plan_table *t = obj;
	(void)key;
	return parse_rules(P, val, "reverse", w, &t->rev, &t->nrev);
}

/* later: true (the whole table waits) or an SQL condition (the rows matching it wait);
 * false is the same as no key. */
static int k_later(pstate *P, void *obj, const ynode *key, const ynode *val, const char *w)
{
	ferry_plan_table *t = obj;
	(void)key;
	if (val->kind == N_SCALAR && val->plain) {
		int flag = -1;
		static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "YES"};
		static const char *const no[] = {"false", "False", "FALSE", "no", "No", "NO"};
		for (size_t i = 0; i < FERRY_ARRAY_LEN(yes); i++) {
			if (strcmp(val->s, yes[i]) == 0)
				flag = 1;
			if (strcmp(val->s, no[i]) == 0)
				flag = 0;
		}
		if (flag >= 0) {
			t->later_all = flag;
			return 0;
		}
	}
	return get_str(P, val, "later", w, "true or an SQL condition", &t->later);
}

/* both_ways: {conflict: old_wins | new_wins | last_commit} and owner: old | new, for ferry
 * sync --both-ways (docs/ONLINE.md). */
static int both_word(pstate *P, const ynode *val, const char *what, const char *const *words,
                     size_t nwords, int *out)
{
	char b[SHOW_MAX];
	if (val->kind == N_SCALAR && !is_null(val))
		for (size_t i = 0; i < nwords; i++)
			if (strlen(words[i]) == val->len && strncmp(val->s, words[i], val->len) == 0) {
				*out = (int)i + 1;
				return 0;
			}
	return fail(P, val, "expected %s for %s, found %s", nwords == 2 ? "old or new" : "old_wins, new_wins or last_commit",
	            what, show(b, val, "nothing"));
}

static int k_owner(pstate *P, void *obj, const ynode *key, const ynode *val, const char *w)
{
	ferry_plan_table *t = obj;
	static const char *const words[] = {"old", "new"};
	(void)w;
	if (t->both)
		return fail(P, key, "an entry takes both_ways: or owner:, not both");
	t->both_line = key->line;
	t->both_col = key->col;
	return both_word(P, val, "\"owner\"", words, 2, &t->owner);
}

static int k_both_conflict(pstate *P, void *obj, const ynode *key, const ynode *val, const char *w)
{
	static const char *const words[] = {"old_wins", "new_wins", "last_commit"};
	(void)key;
	(void)w;
	return both_word(P, val, "\"conflict\" of both_ways", words, 3, obj);
}

static const key_def both_keys[] = {
	{"conflict", K_FN, 0, 0, 0, NULL, k_both_conflict, NULL},
};

/* both_ways: at the top of the plan: the rule of the entries that give none. */
static int k_plan_both_ways(pstate *P, void *obj, const ynode *key, const ynode *val, const char *w)
{
	ferry_plan *p = obj;
	char b[SHOW_MAX];
	(void)key;
	(void)w;
	if (val->kind != N_MAP)
		return fail(P, val, "expected a mapping for \"both_ways\" ({conflict: old_wins | new_wins | last_commit}), found %s",
		            show(b, val, "nothing"));
	int rc = walk_map(P, val, "\"both_ways\"", both_keys, FERRY_ARRAY_LEN(both_keys), &p->both);
	if (rc == 0 && !p->both)
		rc = fail(P, val, "\"both_ways\" needs conflict: old_wins, new_wins or last_commit");
	return rc;
}

static int k_both_ways(pstate *P, void *obj, const ynode *key, const ynode *val, const char *w)
{
	ferry_plan_table *t = obj;
	char b[SHOW_MAX];
	(void)w;
	if (t->owner)
		return fail(P, key, "an entry takes both_ways: or owner:, not both");
	if (val->kind != N_MAP)
		return fail(P, val, "expected a mapping for \"both_ways\" ({conflict: old_wins | new_wins | last_commit}), found %s",
		            show(b, val, "nothing"));
	t->both_line = key->line;
	t->both_col = key->col;
	int rc = walk_map(P, val, "\"both_ways\"", both_keys, FERRY_ARRAY_LEN(both_keys), &t->both);
	if (rc == 0 && !t->both)
		rc = fail(P, val, "\"both_ways\" needs conflict: old_wins, new_wins or last_commit");
	return rc;
}

static const key_def entry_keys[] = {
	{"table", K_STR, offsetof(ferry_plan_table, table), 0, 0, "the source table name", NULL, NULL},
	{"source", K_STR, offsetof(ferry_plan_table, source), 0, 0, "a source name", NULL, NULL},
	{"stage", K_STR, offsetof(ferry_plan_table, stage), 0, 0, "a stage name", NULL, NULL},
	{"rename", K_STR, offsetof(ferry_plan_table, rename), 0, 0, "a target table name", NULL,
	 "target"},
	{"target", K_STR, offsetof(ferry_plan_table, rename), 0, 0, "a target table name", NULL,
	 "rename"},
	{"where", K_STR, offsetof(ferry_plan_table, where), 0, 0, "an SQL condition", NULL, NULL},
	{"skip", K_BOOL, offsetof(ferry_plan_table, skip), 0, 1, NULL, NULL, NULL},
	{"columns", K_FN, 0, 0, 0, NULL, k_columns, NULL},
	{"reverse", K_FN, 0, 0, 0, NULL, k_reverse, NULL},
	{"later", K_FN, 0, 0, 0, NULL, k_later, NULL},
	{"both_ways", K_FN, 0, 0, 0, NULL, k_both_ways, NULL},
	{"owner", K_FN, 0, 0, 0, NULL, k_owner, NULL},
};

static int k_tables(pstate *P, void *obj, const ynode *key, const ynode *val, const char *w)
{
	ferry_plan *p = P->p;
	char b[SHOW_MAX], wb[SHOW_MAX + 40];
	(void)obj;
	(void)key;
	(void)w;
	void *arr;
	int rc = list_start(P, val, "\"tables\"", sizeof(*p->tables), &arr);
	if (rc)
		return rc;
	if (!is_null(val))
		P->tables_val = val;
	if (!(p->tables = arr))
		return 0;
	for (size_t i = 0; i < val->n; i++) {
		const ynode *it = val->kids[i];
		ferry_plan_table *t = &p->tables[i];
		p->ntables = i + 1;
		t->line = it->line;
		t->col = it->col;
		if (it->kind != N_MAP)
			return fail(P, it, "expected a mapping for entry %zu of \"tables\", found %s", i + 1,
			            show(b, it, "nothing"));
		const ynode *tn = map_get(it, "table");
		if (tn && is_str(tn))
			snprintf(wb, sizeof(wb), "the entry for table %s", clip(b, tn->s, tn->len));
		else
			snprintf(wb, sizeof(wb), "entry %zu of \"tables\"", i + 1);
		if ((rc = walk_map(P, it, wb, entry_keys, FERRY_ARRAY_LEN(entry_keys), t)) != 0)
			return rc;
		const ynode *wv = map_get(it, "where");
		if (wv) {
			t->where_line = wv->line;
			t->where_col = wv->col;
		}
		if (!tn)
			return fail(P, it, "entry %zu of \"tables\" has no \"table\" (expected the source "
			                   "table name)", i + 1);
	}
	return 0;
}

/* ---- verify: coverage rules ---------------------------------------------------------- */

typedef struct vrule_parse {
	ferry_plan_verify_rule *r;
	int has_rows, has_percent;
} vrule_parse;

static int k_vrows(pstate *P, void *obj, const ynode *key, const ynode *val, const char *w)
{
	vrule_parse *vp = obj;
	char lb[300];
	(void)key;
	int rc = expect_kind(P, val, N_MAP, key_label(lb, sizeof(lb), "rows", w));
	if (rc)
		return rc;
	static const key_def keys[] = {
		{"min", K_INT64, offsetof(ferry_plan_verify_rule, min_rows), 0, INT64_MAX, NULL, NULL, NULL},
		{"max", K_INT64, offsetof(ferry_plan_verify_rule, max_rows), 0, INT64_MAX, NULL, NULL, NULL},
	};
	if ((rc = walk_map(P, val, lb, keys, FERRY_ARRAY_LEN(keys), vp->r)) != 0)
		return rc;
	if (vp->r->max_rows >= 0 && vp->r->max_rows < vp->r->min_rows)
		return fail(P, val, "%s: max (%lld) is below min (%lld)", lb, (long long)vp->r->max_rows,
		            (long long)vp->r->min_rows);
	vp->has_rows = 1;
	return 0;
}

static int k_vpercent(pstate *P, void *obj, const ynode *key, const ynode *val, const char *w)
{
	vrule_parse *vp = obj;
	char b[SHOW_MAX], lb[300];
	(void)key;
	key_label(lb, sizeof(lb), "percent", w);
	/* Above 0, up to 100, with at most two decimals: the sample is hash mod 10,000 < percent
	 * x 100. 0 would leave only the row counts, and a count is never the verdict of a match. */
	int ok = val->kind == N_SCALAR && val->len > 0, v = 0, frac = -1, digits = 0;
	const char *s = val->s;
	/* "21%" is taken as 21. */
	for (size_t i = 0; ok && i < val->len; i++) {
		char c = s[i];
		if (c == '%' && i == val->len - 1)
			break;
		if (c == '.' && frac < 0 && i > 0) {
			frac = 0;
		} else if (c >= '0' && c <= '9' && frac < 2) {
			v = v * 10 + (c - '0');
			digits++;
			if (frac >= 0)
				frac++;
			if (v > 1000000)
				ok = 0;
		} else {
			ok = 0;
		}
	}
	if (ok)
		for (int f = frac < 0 ? 0 : frac; f < 2; f++)
			v *= 10;
	if (!ok || !digits || v == 0 || v > 10000)
		return fail(P, val, "%s must be a number above 0 and up to 100 with at most two decimals, not %s",
		            lb, show(b, val, "an empty value"));
	vp->r->per10k = v;
	vp->has_percent = 1;
	return 0;
}

static int k_vtable(pstate *P, void *obj, const ynode *key, const ynode *val, const char *w)
{
	vrule_parse *vp = obj;
	(void)key;
	return get_str(P, val, "table", w, "a target table name", &vp->r->table);
}

static int k_verify(pstate *P, void *obj, const ynode *key, const ynode *val, const char *w)
{
	ferry_plan *p = P->p;
	char b[SHOW_MAX], wb[SHOW_MAX + 40];
	(void)obj;
	(void)key;
	(void)w;
	void *arr;
	int rc = list_start(P, val, "\"verify\" (a list of coverage rules)", sizeof(*p->verify), &arr);
	if (rc || !(p->verify = arr))
		return rc;
	static const key_def keys[] = {
		{"table", K_FN, 0, 0, 0, NULL, k_vtable, NULL},
		{"rows", K_FN, 0, 0, 0, NULL, k_vrows, NULL},
		{"percent", K_FN, 0, 0, 0, NULL, k_vpercent, NULL},
	};
	for (size_t i = 0; i < val->n; i++) {
		const ynode *it = val->kids[i];
		ferry_plan_verify_rule *r = &p->verify[i];
		p->nverify = i + 1;
		r->line = it->line;
		r->col = it->col;
		r->max_rows = -1;
		if (it->kind != N_MAP)
			return fail(P, it, "expected a mapping for rule %zu of \"verify\" (table or rows, and "
			                   "percent), found %s", i + 1, show(b, it, "nothing"));
		snprintf(wb, sizeof(wb), "rule %zu of \"verify\"", i + 1);
		vrule_parse vp = {r, 0, 0};
		if ((rc = walk_map(P, it, wb, keys, FERRY_ARRAY_LEN(keys), &vp)) != 0)
			return rc;
		if (!vp.has_percent)
			return fail(P, it, "rule %zu of \"verify\" has no \"percent\"", i + 1);
		if (!!r->table == vp.has_rows)
			return fail(P, it, "rule %zu of \"verify\" needs either \"table\" or \"rows\" (not both)",
			            i + 1);
	}
	return 0;
}

static const key_def plan_keys[] = {
	{"version", K_FN, 0, 0, 0, NULL, k_version, NULL},
	{"source", K_FN, 0, 0, 0, NULL, k_source, NULL},
	{"sources", K_FN, 0, 0, 0, NULL, k_sources, NULL},
	{"target", K_FN, 0, 0, 0, NULL, k_target, NULL},
	{"target_schema", K_FN, 0, 0, 0, NULL, k_target_schema, NULL},
	{"label", K_FN, 0, 0, 0, NULL, k_label, NULL},
	{"threads", K_SETTING, 0, 0, 0, NULL, NULL, NULL},
	{"chunk_rows", K_SETTING, 0, 0, 0, NULL, NULL, NULL},
	{"max_rejects", K_SETTING, 0, 0, 0, NULL, NULL, NULL},
	{"strict", K_SETTING, 0, 0, 0, NULL, NULL, NULL},
	{"others", K_FN, 0, 0, 0, NULL, k_others, NULL},
	{"stages", K_FN, 0, 0, 0, NULL, k_stages, NULL},
	{"tables", K_FN, 0, 0, 0, NULL, k_tables, NULL},
	{"verify", K_FN, 0, 0, 0, NULL, k_verify, NULL},
	{"both_ways", K_FN, 0, 0, 0, NULL, k_plan_both_ways, NULL},
};

/* ---- after the keys: defaults, references, files ------------------------------------ */

static name_ix *sorted_names(size_t n, const char *(*get)(const ferry_plan *, size_t),
                             const ferry_plan *p)
{
	name_ix *ix = ferry__calloc(n, sizeof(*ix));
	if (!ix)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		ix[i].name = get(p, i);
		ix[i].ix = i;
	}
	qsort(ix, n, sizeof(*ix), ferry__plan_cmp_name_ix);
	return ix;
}

static const char *stage_name(const ferry_plan *p, size_t i) { return p->stages[i].name; }
static const char *source_name(const ferry_plan *p, size_t i) { return p->sources[i].name; }

/* Names that refer to stages and sources, checked where they are written. */
static int check_refs(pstate *P)
{
	ferry_plan *p = P->p;
	char b1[SHOW_MAX], b2[SHOW_MAX];
	int rc = 0;
	name_ix *six = sorted_names(p->nstages, stage_name, p);
	name_ix *rix = sorted_names(p->nsources, source_name, p);
	if (!six || !rix) {
		rc = nomem(P);
		goto out;
	}
	for (size_t i = 0; P->stages_val && i < P->stages_val->n && rc == 0; i++) {
		const ynode *after = map_get(P->stages_val->kids[i], "after");
		const ferry_plan_stage *s = &p->stages[i];
		for (size_t j = 0; after && j < s->nafter && rc == 0; j++) {
			const ynode *at = after->kind == N_SEQ ? after->kids[j] : after;
			if (strcmp(s->after[j], s->name) == 0)
				rc = fail(P, at, "stage %s is after itself", clips(b1, s->name));
			else if (ferry__plan_find_name(six, p->nstages, s->after[j]) < 0)
				rc = fail(P, at, "stage %s is after %s, which is not a stage",
				          clips(b1, s->name), clips(b2, s->after[j]));
		}
	}
	for (size_t i = 0; P->tables_val && i < P->tables_val->n && rc == 0; i++) {
		const ynode *it = P->tables_val->kids[i];
		const ferry_plan_table *t = &p->tables[i];
		const ynode *sv = map_get(it, "source"), *gv = map_get(it, "stage");
		if (t->source && ferry__plan_find_name(rix, p->nsources, t->source) < 0)
			rc = fail(P, sv, "table %s names source %s, which is not a source",
			          clips(b1, t->table), clips(b2, t->source));
		else if (!t->source && p->nsources > 1)
			rc = fail(P, it, "table %s must name its source (the plan has %zu sources)",
			          clips(b1, t->table), p->nsources);
		else if (gv && ferry__plan_find_name(six, p->nstages, t->stage) < 0)
			rc = fail(P, gv, "table %s is in stage %s, which is not a stage",
			          clips(b1, t->table), clips(b2, t->stage));
	}
out:
	free(six);
	free(rix);
	return rc;
}

static int resolve_schema(pstate *P, int check_files)
{
	ferry_plan *p = P->p;
	char b[SHOW_MAX];
	struct stat st;
	char *full = P->base ? ferry__path_join(P->base, P->schema) : ferry__strdup(P->schema);
	if (!full)
		return nomem(P);
	int exists = stat(full, &st) == 0;
	if (exists && S_ISDIR(st.st_mode)) {
		ferry_err lerr;
		int rc = ferry__list_dir(&p->schema_files, &p->nschema, full, ".sql", &lerr);
		free(full);
		if (rc)
			return fail(P, P->schema_val, "could not read target_schema %s: %s",
			            clips(b, P->schema), lerr.msg);
		if (check_files && p->nschema == 0)
			return fail(P, P->schema_val, "target_schema %s holds no .sql files",
			            clips(b, P->schema));
		return 0;
	}
	if (check_files && !exists) {
		free(full);
		return fail(P, P->schema_val, "target_schema %s does not exist", clips(b, P->schema));
	}
	p->schema_files = ferry__calloc(1, sizeof(char *));
	if (!p->schema_files) {
		free(full);
		return nomem(P);
	}
	p->schema_files[0] = full;
	p->nschema = 1;
	return 0;
}

/* The nodes are complete; fill what the keys left out and check it all. */
static int finish(pstate *P, int check_files)
{
	ferry_plan *p = P->p;
	int rc;
	if (p->nsources == 0)
		return fail(P, NULL, "the plan names no source (expected \"source\" or \"sources\")");
	if (!p->target)
		return fail(P, NULL, "the plan names no target");
	if (p->nstages == 0) {
		p->stages = ferry__calloc(1, sizeof(*p->stages));
		if (!p->stages || !(p->stages[0].name = ferry__strdup(ferry__plan_default_stage)))
			return nomem(P);
		p->nstages = 1;
	}
	for (size_t i = 0; i < p->ntables; i++)
		if (!p->tables[i].stage && !(p->tables[i].stage = ferry__strdup(p->stages[0].name)))
			return nomem(P);
	if ((rc = check_refs(P)) != 0 || (rc = ferry__plan_check(p, P->err)) != 0)
		return rc;
	if (P->schema && (rc = resolve_schema(P, check_files)) != 0)
		return rc;
	return 0;
}

int ferry__plan_parse_ex(ferry_plan **out, const ferry_ctx *ctx, const char *path, const char *text,
                         size_t len, int check_files, ferry_err *err)
{
	pstate st = {0};
	pstate *P = &st;
	ynode *root = NULL;
	int rc;
	*out = NULL;
	P->path = path ? path : "<plan>";
	P->err = err;
	P->ctx = ctx;
	P->p = ferry__calloc(1, sizeof(*P->p));
	if (!P->p)
		return nomem(P);
	ferry_plan *p = P->p;
	ferry__plan_settings_init(p, NULL);
	if (path) {
		if (!(p->path = ferry__strdup(path)) || !(p->dir = ferry__dirname(path))) {
			rc = nomem(P);
			goto fail;
		}
		P->base = p->dir;
	} else if (!(p->dir = ferry__strdup("."))) {
		rc = nomem(P);
		goto fail;
	}
	if ((rc = build_tree(P, text, len, &root)) != 0)
		goto fail;
	if (!root || is_null(root)) {
		rc = fail(P, NULL, "the plan is empty");
		goto fail;
	}
	if (root->kind != N_MAP) {
		char b[SHOW_MAX];
		rc = fail(P, root, "expected a mapping for the plan, found %s", show(b, root, "nothing"));
		goto fail;
	}
	if ((rc = walk_map(P, root, "the plan", plan_keys, FERRY_ARRAY_LEN(plan_keys), p)) != 0 ||
	    (rc = finish(P, check_files)) != 0)
		goto fail;
	if (ferry__plan_digest(p, ctx, text, len) != 0) {
		rc = nomem(P);
		goto fail;
	}
	node_free(root);
	free(P->schema);
	*out = p;
	return 0;
fail:
	node_free(root);
	free(P->schema);
	ferry_plan_free(P->p);
	return rc;
}

int ferry__plan_parse(ferry_plan **out, const char *path, const char *text, size_t len,
                      ferry_err *err)
{
	return ferry__plan_parse_ex(out, NULL, path, text, len, 0, err);
}
