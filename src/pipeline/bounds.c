/* bounds.c — the key range a job's rows can lie in, from its plan entry: a `where` whose
 * conjuncts compare the integer chunking key with a number (`id >= 500001`, `id BETWEEN 1
 * AND 9`), and a `later:` condition of that form (negated for the rows moved now). Chunks
 * wholly outside it are not planned, so such a job reads the rows it writes instead of every
 * row of the table, filtered (issue #16 item 8). Anything else bounds nothing. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "pipeline.h"

typedef struct range {
	int64_t lo, hi; /* inclusive */
	int integral;   /* the key holds integers only: `< v` ends at v - 1, else at v */
} range;

static const char *skip_ws(const char *p, const char *e)
{
	while (p < e && isspace((unsigned char)*p))
		p++;
	return p;
}

static const char *trim_end(const char *p, const char *e)
{
	while (e > p && isspace((unsigned char)e[-1]))
		e--;
	return e;
}

/* Whether [p, e) is one parenthesized group: "( ... )" whose first parenthesis closes last. */
static int wrapped(const char *p, const char *e)
{
	if (e - p < 2 || *p != '(' || e[-1] != ')')
		return 0;
	int depth = 0;
	char q = 0;
	for (const char *s = p; s < e; s++) {
		if (q) {
			if (*s == q)
				q = 0;
			continue;
		}
		if (*s == '\'' || *s == '"')
			q = *s;
		else if (*s == '(')
			depth++;
		else if (*s == ')' && --depth == 0 && s != e - 1)
			return 0;
	}
	return 1;
}

/* The name at [p, e): a bare word or a "quoted" name (no doubled quotes), compared with key
 * (a bare word without regard to case). */
static const char *name_at(const char *p, const char *e, const char *key, int *match)
{
	*match = 0;
	size_t kn = strlen(key);
	if (p < e && *p == '"') {
		const char *q = memchr(p + 1, '"', (size_t)(e - p - 1));
		if (!q || (q + 1 < e && q[1] == '"'))
			return NULL;
		*match = (size_t)(q - p - 1) == kn && memcmp(p + 1, key, kn) == 0;
		return q + 1;
	}
	const char *s = p;
	while (s < e && (isalnum((unsigned char)*s) || *s == '_'))
		s++;
	if (s == p || isdigit((unsigned char)*p))
		return NULL;
	*match = (size_t)(s - p) == kn && strncasecmp(p, key, kn) == 0;
	return s;
}

/* An integer literal at [p, e) with an optional sign; the end of it, or NULL. */
static const char *int_at(const char *p, const char *e, int64_t *v)
{
	const char *s = p;
	if (s < e && (*s == '-' || *s == '+'))
		s++;
	const char *d = s;
	while (s < e && isdigit((unsigned char)*s))
		s++;
	if (s == d || s - p > 20 || (s < e && (isalnum((unsigned char)*s) || *s == '.' || *s == '_')))
		return NULL;
	size_t used = 0;
	if (ferry__int_parse(p, (size_t)(s - p), v, &used) != 0 || used != (size_t)(s - p))
		return NULL;
	return s;
}

static const char *op_at(const char *p, const char *e, char op[3])
{
	size_t n = 0;
	while (p + n < e && n < 2 && strchr("<>=!", p[n]))
		n++;
	memcpy(op, p, n);
	op[n] = '\0';
	return n ? p + n : NULL;
}

/* Narrow r by one comparison of key at [p, e) ("key OP n", "n OP key", "key BETWEEN a AND
 * b"); negate: by its negation. 1 when it was such a comparison, 0 when not (r unchanged). */
static int compare(const char *p, const char *e, const char *key, int negate, range *r)
{
	p = skip_ws(p, e);
	e = trim_end(p, e);
	while (wrapped(p, e)) {
		p = skip_ws(p + 1, e - 1);
		e = trim_end(p, e - 1);
	}
	int match = 0;
	int64_t v = 0, v2 = 0;
	char op[3];
	const char *s = name_at(p, e, key, &match);
	int flip = 0;
	if (!s || !match) {
		/* n OP key */
		if (!(s = int_at(p, e, &v)))
			return 0;
		s = skip_ws(s, e);
		if (!(s = op_at(s, e, op)))
			return 0;
		s = skip_ws(s, e);
		if (!(s = name_at(s, e, key, &match)) || !match || skip_ws(s, e) != e)
			return 0;
		flip = 1;
	} else {
		s = skip_ws(s, e);
		if ((size_t)(e - s) > 8 && strncasecmp(s, "BETWEEN", 7) == 0 && isspace((unsigned char)s[7])) {
			if (negate)
				return 0; /* NOT BETWEEN is two ranges */
			s = skip_ws(s + 7, e);
			if (!(s = int_at(s, e, &v)))
				return 0;
			s = skip_ws(s, e);
			if ((size_t)(e - s) < 4 || strncasecmp(s, "AND", 3) != 0 || !isspace((unsigned char)s[3]))
				return 0;
			s = skip_ws(s + 3, e);
			if (!(s = int_at(s, e, &v2)) || skip_ws(s, e) != e)
				return 0;
			if (v > r->lo)
				r->lo = v;
			if (v2 < r->hi)
				r->hi = v2;
			return 1;
		}
		if (!(s = op_at(s, e, op)))
			return 0;
		s = skip_ws(s, e);
		if (!(s = int_at(s, e, &v)) || skip_ws(s, e) != e)
			return 0;
	}
	/* key OP v, with OP mirrored when written v OP key, then negated for NOT. */
	int lt = strcmp(op, "<") == 0, le = strcmp(op, "<=") == 0, gt = strcmp(op, ">") == 0,
	    ge = strcmp(op, ">=") == 0, eq = strcmp(op, "=") == 0 || strcmp(op, "==") == 0;
	if (!(lt || le || gt || ge || eq))
		return 0;
	if (flip) {
		int t = lt;
		lt = gt;
		gt = t;
		t = le;
		le = ge;
		ge = t;
	}
	if (negate) {
		if (eq)
			return 0;
		int nlt = ge, nle = gt, ngt = le, nge = lt;
		lt = nlt, le = nle, gt = ngt, ge = nge;
	}
	/* A strict comparison excludes v itself; the next integer is the bound only when no
	 * value lies between (SQLite keeps 7000.5 in an INTEGER column that is not the rowid,
	 * and `id < 7001` holds for it). */
	int64_t lo = INT64_MIN, hi = INT64_MAX;
	if (eq)
		lo = hi = v;
	else if (lt)
		hi = v == INT64_MIN || !r->integral ? v : v - 1;
	else if (le)
		hi = v;
	else if (gt)
		lo = v == INT64_MAX || !r->integral ? v : v + 1;
	else
		lo = v;
	if (lt && v == INT64_MIN)
		lo = 1, hi = 0; /* nothing */
	if (gt && v == INT64_MAX)
		lo = 1, hi = 0;
	if (lo > r->lo)
		r->lo = lo;
	if (hi < r->hi)
		r->hi = hi;
	return 1;
}

/* Narrow r by the conjuncts of cond (top-level AND only; a top-level OR bounds nothing).
 * negate (a later: condition for the rows moved now) narrows only a single comparison. */
static void narrow(const char *cond, const char *key, int negate, range *r)
{
	const char *p = cond, *e = cond + strlen(cond);
	p = skip_ws(p, e);
	e = trim_end(p, e);
	while (wrapped(p, e)) {
		p = skip_ws(p + 1, e - 1);
		e = trim_end(p, e - 1);
	}
	/* Split at top-level AND (not the AND of a BETWEEN), refusing a top-level OR. */
	const char *parts[32], *ends[32];
	size_t n = 0;
	int depth = 0, between = 0;
	char q = 0;
	const char *start = p;
	for (const char *s = p; s < e; s++) {
		if (q) {
			if (*s == q)
				q = 0;
			continue;
		}
		if (*s == '\'' || *s == '"') {
			q = *s;
			continue;
		}
		if (*s == '(')
			depth++;
		else if (*s == ')')
			depth--;
		if (depth || (s > p && (isalnum((unsigned char)s[-1]) || s[-1] == '_')))
			continue;
		if (strncasecmp(s, "BETWEEN", 7) == 0 && !isalnum((unsigned char)s[7]))
			between = 1;
		else if (strncasecmp(s, "OR", 2) == 0 && !isalnum((unsigned char)s[2]) && s[2] != '_')
			return;
		else if (strncasecmp(s, "AND", 3) == 0 && !isalnum((unsigned char)s[3]) && s[3] != '_') {
			if (between) {
				between = 0;
				continue;
			}
			if (n == 32)
				return;
			parts[n] = start;
			ends[n++] = s;
			start = s + 3;
		}
	}
	if (n == 32)
		return;
	parts[n] = start;
	ends[n++] = e;
	if (negate && n > 1)
		return;
	for (size_t i = 0; i < n; i++)
		compare(parts[i], ends[i], key, negate, r);
}

int ferry__jobs_key_range(const job *j, int later_mode, const ferry_table *st, int64_t *lo,
                          int64_t *hi)
{
	*lo = INT64_MIN;
	*hi = INT64_MAX;
	const ferry_plan_table *e = j->entry;
	if (!e || !st)
		return 0;
	/* The chunking key: a single integer key column, or the rowid and its alias. */
	const char *keys[2] = {NULL, NULL};
	if (j->nchunk_keys == 1) {
		int c = ferry_table_column(st, j->chunk_keys[0]);
		if (c < 0 || st->cols[c].type != FERRY_INT)
			return 0;
		keys[0] = j->chunk_keys[0];
	} else if (j->nchunk_keys == 0 && st->has_rowid && st->origin &&
	           strcmp(st->origin, "sqlite") == 0) {
		keys[0] = "rowid";
		if (st->npk == 1 && strcasecmp(st->cols[st->pk[0]].decl_type, "INTEGER") == 0)
			keys[1] = st->cols[st->pk[0]].name;
	} else {
		return 0;
	}
	/* SQLite stores any value in a column that is not the rowid (or its alias);
	 * PostgreSQL's integer types hold integers. */
	int alias = st->has_rowid && st->npk == 1 &&
	            strcasecmp(st->cols[st->pk[0]].decl_type, "INTEGER") == 0 &&
	            strcmp(st->cols[st->pk[0]].name, keys[0]) == 0;
	range r = {INT64_MIN, INT64_MAX,
	           !st->origin || strcmp(st->origin, "sqlite") != 0 || j->nchunk_keys == 0 || alias};
	for (size_t k = 0; k < 2 && keys[k]; k++) {
		if (e->where)
			narrow(e->where, keys[k], 0, &r);
		if (e->later && later_mode != FERRY_LATER_ALL)
			narrow(e->later, keys[k], later_mode == FERRY_LATER_NOW, &r);
	}
	*lo = r.lo;
	*hi = r.hi;
	return r.lo != INT64_MIN || r.hi != INT64_MAX;
}
