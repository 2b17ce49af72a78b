/* sqlport.c — a CHECK expression, an index expression or a partial index's predicate said in
 * another engine's SQL: the subset both SQLite and PostgreSQL read the same way (columns,
 * literals, comparisons, AND/OR/NOT, IN, BETWEEN, LIKE, CASE, arithmetic and a few common
 * functions), with the columns renamed as the target names them. Anything else is refused
 * with the reason, for the caller to note: an expression is carried exactly or not at all. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "pipeline.h"

enum { K_END, K_WORD, K_QUOTED, K_STRING, K_NUMBER, K_OP, K_OPEN, K_CLOSE, K_COMMA, K_LBRACK,
       K_RBRACK, K_CAST, K_DOT };

typedef struct ptok {
	int kind;
	const char *s;
	size_t n;
} ptok;

typedef struct port {
	const ptok *t;
	size_t nt;
	int from_pg, to_pg, cross;
	ferry_port_col col;
	void *ud;
	ferry_buf *out;
	char *why;
	size_t cap;
	int fn;        /* a function's name was put last: its '(' follows without a blank */
	int boolean;   /* SQLite -> PostgreSQL: a boolean column is being compared, so its 0 and
	                  1 are false and true (SQLite has no booleans; PostgreSQL does not compare
	                  them with integers) */
} port;

static int ident_char(int c)
{
	return isalnum(c) || c == '_' || c == '$' || c >= 0x80;
}

/* Tokens of expr into *out (caller frees); -1 when out of memory, -2 when expr holds what
 * no token here reads (a comment, an unterminated quote). */
static int lex(ptok **out, size_t *n, const char *expr)
{
	size_t cap = 0;
	*out = NULL;
	*n = 0;
	const char *p = expr;
	for (;;) {
		while (isspace((unsigned char)*p))
			p++;
		if (!*p)
			break;
		if (ferry__grow(out, &cap, *n + 1, sizeof(ptok)) != 0)
			return -1;
		ptok *k = &(*out)[(*n)++];
		k->s = p;
		unsigned char c = (unsigned char)*p;
		if (c == '\'' || c == '"' || c == '`' || c == '[') {
			/* '[' opens a SQLite quoted name only where a name can stand; PostgreSQL's
			 * ARRAY[ is told apart by the word before it. */
			if (c == '[' && *n >= 2 && (*out)[*n - 2].kind == K_WORD &&
			    (*out)[*n - 2].n == 5 && strncasecmp((*out)[*n - 2].s, "ARRAY", 5) == 0) {
				k->kind = K_LBRACK;
				p++;
			} else {
				char q = c == '[' ? ']' : (char)c;
				p++;
				for (;;) {
					if (!*p)
						return -2;
					if (*p == q && q != ']' && p[1] == q) {
						p += 2;
						continue;
					}
					if (*p++ == q)
						break;
				}
				k->kind = c == '\'' ? K_STRING : K_QUOTED;
			}
		} else if (isdigit(c) || (c == '.' && isdigit((unsigned char)p[1]))) {
			while (isalnum((unsigned char)*p) || *p == '.' ||
			       ((*p == '+' || *p == '-') && (p[-1] == 'e' || p[-1] == 'E')))
				p++;
			k->kind = K_NUMBER;
		} else if (ident_char(c)) {
			while (ident_char((unsigned char)*p))
				p++;
			k->kind = K_WORD;
		} else if (c == '(' || c == ')' || c == ',' || c == ']' || c == '.') {
			k->kind = c == '(' ? K_OPEN : c == ')' ? K_CLOSE : c == ',' ? K_COMMA
			          : c == ']' ? K_RBRACK : K_DOT;
			p++;
		} else if (c == ':' && p[1] == ':') {
			k->kind = K_CAST;
			p += 2;
		} else if ((c == '-' && p[1] == '-') || (c == '/' && p[1] == '*')) {
			return -2;
		} else {
			while (*p && strchr("<>=!~*+-/%|&^#@?", *p))
				p++;
			if (p == k->s)
				return -2;
			k->kind = K_OP;
		}
		k->n = (size_t)(p - k->s);
	}
	return 0;
}

static int is_word(const ptok *k, const char *w)
{
	return k->kind == K_WORD && k->n == strlen(w) && strncasecmp(k->s, w, k->n) == 0;
}

static int in_list(const ptok *k, const char *const *list)
{
	for (size_t i = 0; list[i]; i++)
		if (is_word(k, list[i]))
			return 1;
	return 0;
}

static int refuse(port *pt, const char *fmt, const ptok *k)
{
	snprintf(pt->why, pt->cap, fmt, (int)(k ? k->n : 0), k ? k->s : "");
	return 1;
}

/* Words both engines read alike in an expression. */
static const char *const keywords[] = {"AND", "OR", "NOT", "NULL", "TRUE", "FALSE", "IN",
                                       "BETWEEN", "LIKE", "CASE", "WHEN", "THEN", "ELSE", "END",
                                       "ESCAPE", "IS", NULL};
/* Functions both engines have, with the same meaning for the values a column holds. */
static const char *const functions[] = {"lower", "upper", "length", "abs", "coalesce", "nullif",
                                        "trim", "ltrim", "rtrim", "replace", "substr", "round",
                                        NULL};
/* PostgreSQL casts that change nothing SQLite would see: dropped on the way to SQLite. */
static const char *const loose_types[] = {"text", "character", "varying", "varchar", "bpchar",
                                          "integer", "bigint", "smallint", "int", "int4", "int8",
                                          "numeric", "double", "precision", "real", "boolean",
                                          NULL};

static int emit_range(port *pt, size_t lo, size_t hi);

/* The index of the token closing the group opened at t[i] (an OPEN or LBRACK), or nt. */
static size_t closing(const port *pt, size_t i)
{
	int depth = 0;
	for (size_t k = i; k < pt->nt; k++) {
		int kind = pt->t[k].kind;
		if (kind == K_OPEN || kind == K_LBRACK)
			depth++;
		else if ((kind == K_CLOSE || kind == K_RBRACK) && --depth == 0)
			return k;
	}
	return pt->nt;
}

static void put(port *pt, const char *s, size_t n)
{
	ferry_buf *b = pt->out;
	char last = b->len ? b->data[b->len - 1] : '(';
	int call = pt->fn && n == 1 && s[0] == '(';
	pt->fn = 0;
	if (n && last != '(' && !call && !(n == 1 && (s[0] == ')' || s[0] == ',')))
		ferry_buf_add(b, " ", 1);
	ferry_buf_add(b, s, n);
}

/* A PostgreSQL cast at t[i] (K_CAST): its type's tokens end where the returned index is;
 * *loose says whether SQLite loses nothing by dropping it. */
static size_t cast_end(const port *pt, size_t i, int *loose)
{
	size_t k = i + 1;
	*loose = 1;
	while (k < pt->nt && (pt->t[k].kind == K_WORD || pt->t[k].kind == K_QUOTED)) {
		if (!in_list(&pt->t[k], loose_types))
			*loose = 0;
		k++;
		if (k < pt->nt && pt->t[k].kind == K_OPEN)
			k = closing(pt, k) + 1;
	}
	while (k + 1 < pt->nt && pt->t[k].kind == K_LBRACK && pt->t[k + 1].kind == K_RBRACK)
		k += 2;
	if (k < pt->nt && pt->t[k].kind == K_OP && pt->t[k].n == 2 && memcmp(pt->t[k].s, "[]", 2) == 0)
		k++;
	return k == i + 1 ? 0 : k;
}

/* PostgreSQL's rendering of IN: `x = ANY (ARRAY[...])` (`<> ALL` for NOT IN), the array
 * possibly in parentheses and cast. t[i] is ANY or ALL; the operator before it was not put
 * yet. Returns 0 with *next set, or 1 refused. */
static int emit_any(port *pt, size_t i, int negate, size_t *next)
{
	if (i + 1 >= pt->nt || pt->t[i + 1].kind != K_OPEN)
		return refuse(pt, "%.*s is not an IN list", &pt->t[i]);
	size_t end = closing(pt, i + 1);
	size_t a = i + 2;
	while (a < end && pt->t[a].kind == K_OPEN)
		a++;
	if (a + 1 >= end || !is_word(&pt->t[a], "ARRAY") || pt->t[a + 1].kind != K_LBRACK)
		return refuse(pt, "%.*s is not an IN list", &pt->t[i]);
	size_t close = closing(pt, a + 1);
	if (close >= end)
		return refuse(pt, "%.*s is not an IN list", &pt->t[i]);
	put(pt, negate ? "NOT IN (" : "IN (", negate ? 8 : 4);
	int rc = emit_range(pt, a + 2, close);
	if (rc)
		return rc;
	put(pt, ")", 1);
	*next = end + 1;
	return 0;
}

static int emit_range(port *pt, size_t lo, size_t hi)
{
	for (size_t i = lo; i < hi; i++) {
		const ptok *k = &pt->t[i];
		const ptok *nx = i + 1 < hi ? &pt->t[i + 1] : NULL;
		switch (k->kind) {
		case K_CAST: {
			int loose = 0;
			size_t e = cast_end(pt, i, &loose);
			if (!e)
				return refuse(pt, "a cast it cannot read%.*s", NULL);
			if (pt->cross && pt->from_pg) {
				if (!loose)
					return refuse(pt, "a cast to %.*s, which SQLite does not have", &pt->t[i + 1]);
			} else if (pt->cross) {
				return refuse(pt, "a cast%.*s", NULL);
			} else {
				/* as written, right after what it casts */
				const char *end = pt->t[e - 1].s + pt->t[e - 1].n;
				ferry_buf_add(pt->out, k->s, (size_t)(end - k->s));
				pt->fn = 0;
			}
			i = e - 1;
			break;
		}
		case K_WORD:
		case K_QUOTED: {
			int quoted = k->kind == K_QUOTED;
			char name[256];
			size_t n = quoted ? k->n - 2 : k->n;
			const char *src = quoted ? k->s + 1 : k->s;
			if (n >= sizeof(name))
				return refuse(pt, "the name %.*s", k);
			/* a doubled quote inside a quoted name stands for one */
			size_t o = 0;
			for (size_t c = 0; c < n; c++) {
				name[o++] = src[c];
				if (quoted && src[c] == k->s[0] && c + 1 < n && src[c + 1] == k->s[0])
					c++;
			}
			name[o] = '\0';
			if (!quoted && nx && nx->kind == K_OPEN && !in_list(k, keywords)) {
				if (pt->cross && !in_list(k, functions) &&
				    !(pt->from_pg && is_word(k, "char_length")))
					return refuse(pt, "function %.*s, which the other engine lacks or reads differently", k);
				if (pt->cross && is_word(k, "char_length"))
					put(pt, "length", 6);
				else {
					char lower[256];
					for (size_t c = 0; c <= o; c++)
						lower[c] = pt->cross ? (char)tolower((unsigned char)name[c]) : name[c];
					put(pt, lower, o);
				}
				pt->fn = 1;
				break;
			}
			const char *to = NULL;
			int is_bool = 0;
			int col = pt->col(pt->ud, name, quoted, &to, &is_bool);
			if (col) {
				pt->boolean = is_bool && pt->cross && pt->to_pg;
				if (!to)
					return refuse(pt, "column %.*s, which the target table does not have", k);
				ferry_buf tmp = FERRY_BUF_INIT;
				ferry_buf_puts(&tmp, "\"");
				for (const char *c = to; *c; c++) {
					ferry_buf_add(&tmp, c, 1);
					if (*c == '"')
						ferry_buf_add(&tmp, "\"", 1);
				}
				ferry_buf_puts(&tmp, "\"");
				if (tmp.failed) {
					ferry_buf_free(&tmp);
					return -1;
				}
				put(pt, tmp.data, tmp.len);
				ferry_buf_free(&tmp);
				break;
			}
			if (!pt->cross) {
				put(pt, k->s, k->n);
				break;
			}
			if (pt->from_pg && (is_word(k, "ANY") || is_word(k, "ALL")))
				return refuse(pt, "%.*s without = or <> before it", k);
			if (!quoted && in_list(k, keywords)) {
				if (is_word(k, "IS")) {
					/* SQLite's IS compares any two values; PostgreSQL's takes NULL, TRUE
					 * and FALSE only. */
					size_t a = i + 1;
					if (a < hi && is_word(&pt->t[a], "NOT"))
						a++;
					if (a >= hi || !(is_word(&pt->t[a], "NULL") || is_word(&pt->t[a], "TRUE") ||
					                 is_word(&pt->t[a], "FALSE")))
						return refuse(pt, "IS between two values%.*s", NULL);
				}
				char up[16];
				for (size_t c = 0; c < k->n && c < sizeof(up) - 1; c++)
					up[c] = (char)toupper((unsigned char)k->s[c]);
				put(pt, up, k->n);
				if (is_word(k, "AND") || is_word(k, "OR") || is_word(k, "WHEN") ||
				    is_word(k, "THEN") || is_word(k, "ELSE") || is_word(k, "END"))
					pt->boolean = 0;
				break;
			}
			return refuse(pt, "%.*s, which the other engine does not read the same way", k);
		}
		case K_STRING:
			/* A backslash is itself in both (PostgreSQL's standard_conforming_strings). */
			put(pt, k->s, k->n);
			break;
		case K_NUMBER:
			if (pt->cross && (k->n > 1 && (k->s[1] == 'x' || k->s[1] == 'X')))
				return refuse(pt, "the hexadecimal number %.*s", k);
			if (pt->boolean && k->n == 1 && (k->s[0] == '0' || k->s[0] == '1'))
				put(pt, k->s[0] == '1' ? "true" : "false", k->s[0] == '1' ? 4 : 5);
			else
				put(pt, k->s, k->n);
			break;
		case K_OP: {
			if (!pt->cross) {
				put(pt, k->s, k->n);
				break;
			}
			char op[8];
			snprintf(op, sizeof(op), "%.*s", (int)(k->n < 7 ? k->n : 7), k->s);
			if (pt->from_pg && nx && (is_word(nx, "ANY") || is_word(nx, "ALL"))) {
				int any = is_word(nx, "ANY");
				if (!((any && strcmp(op, "=") == 0) || (!any && strcmp(op, "<>") == 0)))
					return refuse(pt, "%.*s ANY or ALL other than IN", k);
				size_t next = 0;
				int rc = emit_any(pt, i + 1, !any, &next);
				if (rc)
					return rc;
				i = next - 1;
				break;
			}
			if (pt->from_pg && strcmp(op, "~~") == 0)
				put(pt, "LIKE", 4);
			else if (pt->from_pg && strcmp(op, "!~~") == 0)
				put(pt, "NOT LIKE", 8);
			else if (!pt->from_pg && strcmp(op, "==") == 0)
				put(pt, "=", 1);
			else if (strcmp(op, "=") == 0 || strcmp(op, "<>") == 0 || strcmp(op, "!=") == 0 ||
			         strcmp(op, "<") == 0 || strcmp(op, ">") == 0 || strcmp(op, "<=") == 0 ||
			         strcmp(op, ">=") == 0 || strcmp(op, "+") == 0 || strcmp(op, "-") == 0 ||
			         strcmp(op, "*") == 0 || strcmp(op, "/") == 0 || strcmp(op, "%") == 0 ||
			         strcmp(op, "||") == 0)
				put(pt, op, strlen(op));
			else
				return refuse(pt, "the operator %.*s", k);
			break;
		}
		case K_OPEN:
			put(pt, "(", 1);
			break;
		case K_CLOSE:
			put(pt, ")", 1);
			break;
		case K_COMMA:
			put(pt, ",", 1);
			break;
		default:
			if (pt->cross)
				return refuse(pt, "%.*s, which the other engine does not read the same way", k);
			put(pt, k->s, k->n);
			break;
		}
	}
	return 0;
}

int ferry__sql_port(char **out, const char *expr, const char *from, const char *to,
                    ferry_port_col col, void *ud, char *why, size_t cap)
{
	*out = NULL;
	if (cap)
		why[0] = '\0';
	int from_pg = from && strcmp(from, "postgres") == 0;
	int to_pg = to && strcmp(to, "postgres") == 0;
	int known_from = from_pg || (from && strcmp(from, "sqlite") == 0);
	int known_to = to_pg || (to && strcmp(to, "sqlite") == 0);
	int cross = known_from && known_to ? from_pg != to_pg
	            : !(from && to && strcmp(from, to) == 0) && known_to;
	if (cross && !(known_from && known_to)) {
		snprintf(why, cap, "it is SQL of engine %s", from ? from : "(unknown)");
		return 1;
	}
	ptok *t = NULL;
	size_t nt = 0;
	int rc = lex(&t, &nt, expr);
	if (rc == -1) {
		free(t);
		return -1;
	}
	if (rc == -2) {
		free(t);
		snprintf(why, cap, "it holds text ferry does not read (a comment or an open quote)");
		return 1;
	}
	ferry_buf b = FERRY_BUF_INIT;
	port pt = {t, nt, from_pg, to_pg, cross, col, ud, &b, why, cap, 0, 0};
	rc = emit_range(&pt, 0, nt);
	free(t);
	if (rc == 0 && b.failed)
		rc = -1;
	if (rc) {
		ferry_buf_free(&b);
		return rc;
	}
	*out = ferry_buf_detach(&b);
	return *out ? 0 : -1;
}
