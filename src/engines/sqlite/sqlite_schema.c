/* sqlite_schema.c — the SQLite engine's schema side: introspection through the pragma
 * table-valued functions (table names are always bound, never spliced), and the DDL that
 * recreates a table and its indexes from a definition. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "sqlite_int.h"

/* ---- a small SQL scanner, enough to take CREATE INDEX statements apart -------------- */

enum { T_END, T_WORD, T_QUOTED, T_STRING, T_PUNCT };

typedef struct tok {
	int kind;
	const char *s;
	size_t n;
} tok;

static int word_char(char ch)
{
	unsigned char u = (unsigned char)ch;
	return isalnum(u) || u == '_' || u == '$' || u >= 0x80;
}

/* Read the token at p into t, skipping blanks and comments; returns the end of it. */
static const char *next_tok(const char *p, tok *t)
{
	for (;;) {
		while (isspace((unsigned char)*p))
			p++;
		if (p[0] == '-' && p[1] == '-') {
			while (*p && *p != '\n')
				p++;
		} else if (p[0] == '/' && p[1] == '*') {
			const char *e = strstr(p + 2, "*/");
			p = e ? e + 2 : p + strlen(p);
		} else {
			break;
		}
	}
	t->s = p;
	if (!*p) {
		t->kind = T_END;
	} else if (*p == '"' || *p == '`' || *p == '\'') {
		char q = *p++;
		while (*p) {
			if (*p == q && p[1] == q) {
				p += 2;
			} else if (*p++ == q) {
				break;
			}
		}
		t->kind = q == '\'' ? T_STRING : T_QUOTED;
	} else if (*p == '[') {
		const char *e = strchr(p, ']');
		p = e ? e + 1 : p + strlen(p);
		t->kind = T_QUOTED;
	} else if (word_char(*p)) {
		while (word_char(*p))
			p++;
		t->kind = T_WORD;
	} else {
		p++;
		t->kind = T_PUNCT;
	}
	t->n = (size_t)(p - t->s);
	return p;
}

static int is_kw(const tok *t, const char *kw)
{
	return t->kind == T_WORD && strlen(kw) == t->n && strncasecmp(t->s, kw, t->n) == 0;
}

static int is_punct(const tok *t, char ch)
{
	return t->kind == T_PUNCT && t->s[0] == ch;
}

/* The name a token spells, without its quotes, into out (cap bytes). */
static void tok_name(const tok *t, char *out, size_t cap)
{
	size_t o = 0;
	const char *s = t->s, *e = t->s + t->n;
	char q = 0;
	if (t->kind == T_QUOTED || t->kind == T_STRING) {
		q = *s == '[' ? ']' : *s;
		s++;
		if (e > s && e[-1] == q)
			e--;
	}
	for (; s < e && o + 1 < cap; s++) {
		out[o++] = *s;
		if (q && q != ']' && *s == q && s + 1 < e && s[1] == q)
			s++;
	}
	out[o] = '\0';
}

typedef struct index_sql {
	char table[256];       /* the table after ON, unquoted */
	size_t nelem;
	const char *elem[64];  /* the key list's elements: [elem[i], elem_end[i]) */
	const char *elem_end[64];
	const char *where;     /* the text after WHERE, or NULL */
} index_sql;

/* Take `CREATE [UNIQUE] INDEX ... ON [schema.]table(elem, ...) [WHERE expr]` apart;
 * 0 or -1 when the text does not look like that. */
static int parse_index_sql(const char *sql, index_sql *out)
{
	memset(out, 0, sizeof(*out));
	tok t;
	const char *p = sql;
	do {
		p = next_tok(p, &t);
	} while (t.kind != T_END && !is_kw(&t, "ON"));
	if (t.kind == T_END)
		return -1;
	tok name;
	p = next_tok(p, &name);
	const char *q = next_tok(p, &t);
	if (is_punct(&t, '.')) {
		p = next_tok(q, &name);
		q = next_tok(p, &t);
	}
	if (name.kind != T_WORD && name.kind != T_QUOTED && name.kind != T_STRING)
		return -1;
	tok_name(&name, out->table, sizeof(out->table));
	if (!is_punct(&t, '('))
		return -1;
	p = q;
	int depth = 1;
	const char *start = p;
	while (depth > 0) {
		const char *tok_start;
		p = next_tok(p, &t);
		tok_start = t.s;
		if (t.kind == T_END)
			return -1;
		if (is_punct(&t, '('))
			depth++;
		else if (is_punct(&t, ')'))
			depth--;
		if ((depth == 0 || (depth == 1 && is_punct(&t, ','))) &&
		    out->nelem < FERRY_ARRAY_LEN(out->elem)) {
			while (isspace((unsigned char)*start))
				start++;
			const char *end = tok_start;
			while (end > start && isspace((unsigned char)end[-1]))
				end--;
			out->elem[out->nelem] = start;
			out->elem_end[out->nelem++] = end;
			start = p;
		}
	}
	p = next_tok(p, &t);
	if (is_kw(&t, "WHERE")) {
		while (isspace((unsigned char)*p))
			p++;
		out->where = p;
	}
	return 0;
}

/* ---- introspection ----------------------------------------------------------------- */

#define OOM(err) ferry_err_set((err), FERRY_ENOMEM, "out of memory")

static int step_fail(sq_conn *c, int rc, ferry_err *err, const char *table)
{
	return ferry_sqlite__fail(c, rc, err, "could not read the schema of table \"%s\" in \"%s\"",
	                          table, c->path);
}

static int prep(sq_conn *c, sqlite3_stmt **st, const char *sql, ferry_err *err)
{
	char what[300];
	snprintf(what, sizeof(what), "read the schema of \"%s\"", c->path);
	return ferry_sqlite__prepare(c, st, sql, 0, err, what);
}

typedef struct pk_ent {
	int pos;
	size_t col;
} pk_ent;

static int cmp_pk(const void *a, const void *b)
{
	return ((const pk_ent *)a)->pos - ((const pk_ent *)b)->pos;
}

static int load_columns(sq_conn *c, ferry_schema *s, ferry_table *t, ferry_err *err)
{
	sqlite3_stmt *st;
	int rc = prep(c, &st,
	              "SELECT name, type, \"notnull\", dflt_value, pk, hidden "
	              "FROM pragma_table_xinfo(?1, 'main') ORDER BY cid", err);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, t->name, -1, SQLITE_STATIC);
	pk_ent pk[64];
	size_t npk = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int hidden = sqlite3_column_int(st, 5);
		if (hidden == 1)
			continue; /* a virtual table's hidden column */
		const char *name = (const char *)sqlite3_column_text(st, 0);
		const char *decl = (const char *)sqlite3_column_text(st, 1);
		size_t idx = t->ncols;
		/* In a STRICT table ANY keeps every value exactly as given: no affinity. */
		ferry_type ty = t->strict && decl && strcasecmp(decl, "ANY") == 0
		                    ? FERRY_BLOB : ferry__type_from_decl(decl ? decl : "");
		ferry_column *col = ferry_table_add_column(s, t, name, decl ? decl : "", ty);
		if (!col) {
			sqlite3_finalize(st);
			return OOM(err);
		}
		col->notnull = sqlite3_column_int(st, 2) != 0;
		col->generated = hidden == 2 || hidden == 3;
		/* The column's collation (COLLATE in its definition); BINARY is the default. */
		const char *coll = NULL;
		int mrc = sqlite3_table_column_metadata(c->db, "main", t->name, name, NULL, &coll, NULL,
		                                        NULL, NULL);
		if (mrc == SQLITE_NOMEM) {
			sqlite3_finalize(st);
			return OOM(err);
		}
		if (mrc == SQLITE_OK && coll && sqlite3_stricmp(coll, "BINARY") != 0 &&
		    !(col->collation = ferry_schema_strdup(s, coll))) {
			sqlite3_finalize(st);
			return OOM(err);
		}
		if (sqlite3_column_type(st, 3) != SQLITE_NULL &&
		    !(col->default_sql =
		          ferry_schema_strdup(s, (const char *)sqlite3_column_text(st, 3)))) {
			sqlite3_finalize(st);
			return OOM(err);
		}
		int pos = sqlite3_column_int(st, 4);
		if (pos > 0) {
			if (npk == FERRY_ARRAY_LEN(pk)) {
				sqlite3_finalize(st);
				return ferry_err_set(err, FERRY_EUSAGE,
				                     "cannot read table \"%s\": its primary key has more "
				                     "than %zu columns", t->name, FERRY_ARRAY_LEN(pk));
			}
			pk[npk].pos = pos;
			pk[npk++].col = idx;
		}
	}
	if (rc != SQLITE_DONE) {
		rc = step_fail(c, rc, err, t->name);
		sqlite3_finalize(st);
		return rc;
	}
	sqlite3_finalize(st);
	qsort(pk, npk, sizeof(pk[0]), cmp_pk);
	size_t cols[64];
	for (size_t i = 0; i < npk; i++)
		cols[i] = pk[i].col;
	if (npk && ferry_table_set_pk(s, t, cols, npk) != 0)
		return OOM(err);
	return 0;
}

static char *action(ferry_schema *s, sqlite3_stmt *st, int i)
{
	const char *a = (const char *)sqlite3_column_text(st, i);
	if (!a || strcasecmp(a, "NO ACTION") == 0)
		return NULL;
	return ferry_schema_strdup(s, a);
}

static int load_fkeys(sq_conn *c, ferry_schema *s, ferry_table *t, ferry_err *err)
{
	sqlite3_stmt *st;
	/* SQLite numbers foreign keys from the last declared: id DESC is declaration order. */
	int rc = prep(c, &st,
	              "SELECT id, seq, \"table\", \"from\", \"to\", on_update, on_delete, "
	              "count(*) OVER (PARTITION BY id) "
	              "FROM pragma_foreign_key_list(?1, 'main') ORDER BY id DESC, seq", err);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, t->name, -1, SQLITE_STATIC);
	ferry_fkey *fk = NULL;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int seq = sqlite3_column_int(st, 1);
		if (seq == 0) {
			int n = sqlite3_column_int(st, 7);
			fk = ferry_table_add_fkey(s, t, (const char *)sqlite3_column_text(st, 2),
			                          (size_t)n);
			if (!fk)
				goto oom;
			fk->on_update = action(s, st, 5);
			fk->on_delete = action(s, st, 6);
		}
		if (!fk || seq < 0 || (size_t)seq >= fk->ncols)
			continue;
		const char *from = (const char *)sqlite3_column_text(st, 3);
		const char *to = (const char *)sqlite3_column_text(st, 4);
		if (!(fk->cols[seq] = ferry_schema_strdup(s, from ? from : "")))
			goto oom;
		if (to && !(fk->ref_cols[seq] = ferry_schema_strdup(s, to)))
			goto oom;
	}
	if (rc != SQLITE_DONE) {
		rc = step_fail(c, rc, err, t->name);
		sqlite3_finalize(st);
		return rc;
	}
	sqlite3_finalize(st);
	return 0;
oom:
	sqlite3_finalize(st);
	return OOM(err);
}

/* The length of an index element's expression without its trailing ASC or DESC (which
 * pragma_index_xinfo reports on its own). */
static size_t elem_len(const char *s, const char *e)
{
	static const char *const kws[] = {"ASC", "DESC"};
	for (size_t k = 0; k < 2; k++) {
		size_t n = strlen(kws[k]);
		if ((size_t)(e - s) > n && strncasecmp(e - n, kws[k], n) == 0 &&
		    !word_char(e[-(ptrdiff_t)n - 1])) {
			e -= n;
			while (e > s && isspace((unsigned char)e[-1]))
				e--;
			break;
		}
	}
	return (size_t)(e - s);
}

/* Does an index element say COLLATE? */
static int elem_has_collate(const char *s, const char *e)
{
	tok t;
	const char *p = s;
	while (p < e && (p = next_tok(p, &t), t.kind != T_END) && t.s < e)
		if (is_kw(&t, "COLLATE"))
			return 1;
	return 0;
}

/* The CHECK constraints of CREATE TABLE text sql, column and table constraints alike (a
 * column's CHECK may name other columns too), with the name a CONSTRAINT clause gives. */
static int load_checks(ferry_schema *s, ferry_table *t, const char *sql, ferry_err *err)
{
	tok tk, prev = {T_END, "", 0}, name = {T_END, "", 0};
	const char *p = sql;
	int depth = 0;
	while ((p = next_tok(p, &tk)), tk.kind != T_END) {
		if (is_punct(&tk, '('))
			depth++;
		else if (is_punct(&tk, ')'))
			depth--;
		else if (depth == 1 && is_kw(&prev, "CONSTRAINT"))
			name = tk;
		else if (depth == 1 && is_kw(&tk, "CHECK")) {
			tok open;
			const char *q = next_tok(p, &open);
			if (!is_punct(&open, '('))
				return 0;
			/* The expression: everything to the matching parenthesis. */
			const char *start = q, *end = q;
			int d = 1;
			while (d > 0) {
				tok x;
				const char *after = next_tok(end, &x);
				if (x.kind == T_END)
					return 0; /* SQLite accepted it, so this does not happen */
				if (is_punct(&x, '('))
					d++;
				else if (is_punct(&x, ')') && --d == 0) {
					end = x.s;
					p = after;
					break;
				}
				end = after;
			}
			while (start < end && isspace((unsigned char)*start))
				start++;
			while (end > start && isspace((unsigned char)end[-1]))
				end--;
			char nm[256] = "";
			if (name.kind != T_END)
				tok_name(&name, nm, sizeof(nm));
			char *expr = ferry__strndup(start, (size_t)(end - start));
			ferry_check *k = expr ? ferry_table_add_check(s, t, nm[0] ? nm : NULL, expr) : NULL;
			free(expr);
			if (!k)
				return OOM(err);
			name.kind = T_END;
			prev = tk;
			continue;
		}
		if (depth == 1 && is_punct(&tk, ','))
			name.kind = T_END;
		prev = tk;
	}
	return 0;
}

/* Fill one index's key columns from pragma_index_xinfo; expression columns take their text
 * from the CREATE INDEX statement. */
static int load_index_cols(sq_conn *c, ferry_schema *s, ferry_table *t, const char *name,
                           int unique, int partial, const char *sql, ferry_err *err)
{
	sqlite3_stmt *st;
	int rc = prep(c, &st,
	              "SELECT cid, name, count(*) OVER (), \"desc\", coll FROM pragma_index_xinfo(?1, 'main') "
	              "WHERE key = 1 ORDER BY seqno", err);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	index_sql parsed;
	int have_sql = sql && parse_index_sql(sql, &parsed) == 0;
	ferry_index *x = NULL;
	size_t i = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (!x) {
			x = ferry_table_add_index(s, t, name, (size_t)sqlite3_column_int(st, 2));
			if (!x)
				goto oom;
		}
		if (i >= x->ncols)
			break;
		int cid = sqlite3_column_int(st, 0);
		const char *col = (const char *)sqlite3_column_text(st, 1);
		char *v;
		if (sqlite3_column_int(st, 3))
			x->opts[i] |= FERRY_INDEX_DESC;
		/* A column under a collation of the index's own (w COLLATE NOCASE) is said by its
		 * text, as an expression is, so that the collation is carried or noted. */
		const char *coll = (const char *)sqlite3_column_text(st, 4);
		int own_coll = cid >= 0 && coll && sqlite3_stricmp(coll, "BINARY") != 0 && have_sql &&
		               i < parsed.nelem && elem_has_collate(parsed.elem[i], parsed.elem_end[i]);
		if (cid == -2 || own_coll) {
			x->exprs = 1;
			x->opts[i] |= FERRY_INDEX_EXPR;
			if (have_sql && i < parsed.nelem)
				v = ferry__strndup(parsed.elem[i], elem_len(parsed.elem[i], parsed.elem_end[i]));
			else
				v = ferry_schema_strdup(s, "<expression>");
		} else {
			v = ferry_schema_strdup(s, col ? col : "rowid");
		}
		if (!v)
			goto oom;
		x->cols[i++] = v;
	}
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		rc = step_fail(c, rc, err, t->name);
		sqlite3_finalize(st);
		return rc;
	}
	sqlite3_finalize(st);
	if (!x)
		return 0;
	x->unique = unique;
	if (sql && !(x->sql = ferry_schema_strdup(s, sql)))
		return OOM(err);
	if (partial) {
		const char *w = have_sql && parsed.where ? parsed.where : "1";
		size_t n = strlen(w);
		while (n && (isspace((unsigned char)w[n - 1]) || w[n - 1] == ';'))
			n--;
		if (!(x->where = ferry__strndup(w, n)))
			return OOM(err);
	}
	return 0;
oom:
	sqlite3_finalize(st);
	return OOM(err);
}

static int load_indexes(sq_conn *c, ferry_schema *s, ferry_table *t, ferry_err *err)
{
	sqlite3_stmt *st;
	int rc = prep(c, &st,
	              "SELECT il.name, il.\"unique\", il.partial, sm.sql, il.origin = 'u' "
	              "FROM pragma_index_list(?1, 'main') AS il "
	              "LEFT JOIN sqlite_schema AS sm ON sm.type = 'index' AND sm.name = il.name "
	              "WHERE il.origin <> 'pk' ORDER BY sm.rowid", err);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, t->name, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		size_t before = t->nidx;
		rc = load_index_cols(c, s, t, (const char *)sqlite3_column_text(st, 0),
		                     sqlite3_column_int(st, 1) != 0, sqlite3_column_int(st, 2) != 0,
		                     (const char *)sqlite3_column_text(st, 3), err);
		if (rc == 0 && t->nidx > before)
			t->idx[t->nidx - 1].constraint = sqlite3_column_int(st, 4) != 0;
		if (rc) {
			sqlite3_finalize(st);
			return rc;
		}
	}
	if (rc != SQLITE_DONE) {
		rc = step_fail(c, rc, err, t->name);
		sqlite3_finalize(st);
		return rc;
	}
	sqlite3_finalize(st);
	return 0;
}

int ferry_sqlite__introspect(ferry_conn *conn, ferry_schema *out, ferry_err *err)
{
	sq_conn *c = SQ(conn);
	sqlite3_stmt *st;
	/* Ordinary tables only: virtual tables and their shadow tables cannot be recreated
	 * from columns; ferry's own state tables are not data. */
	int rc = prep(c, &st,
	              "SELECT sm.name, tl.wr, tl.strict, sm.sql FROM sqlite_schema AS sm "
	              "JOIN pragma_table_list AS tl ON tl.schema = 'main' AND tl.name = sm.name "
	              "WHERE sm.type = 'table' AND tl.type = 'table' "
	              "AND sm.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
	              "AND lower(sm.name) NOT IN ('ferry_runs', 'ferry_progress', 'ferry_rejects', "
	              "'ferry_history', 'ferry_changes', 'ferry_capture', 'ferry_positions', 'ferry_leases', "
	              "'ferry_claims', 'ferry_conflicts', 'ferry_later_deleted') "
	              /* the change log and origin flag of a capture (sqlite_capture.c) */
	              "AND NOT ((sm.name GLOB 'ferry_changes_*' AND length(sm.name) = 30 "
	              "OR sm.name GLOB 'ferry_origin_*' AND length(sm.name) = 29) "
	              "AND substr(sm.name, -16) NOT GLOB '*[^0-9a-f]*') "
	              "ORDER BY sm.rowid", err);
	if (rc)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		ferry_table *t = ferry_schema_add_table(out, (const char *)sqlite3_column_text(st, 0));
		if (!t) {
			sqlite3_finalize(st);
			return OOM(err);
		}
		t->has_rowid = sqlite3_column_int(st, 1) == 0;
		t->strict = sqlite3_column_int(st, 2) != 0;
		t->origin = "sqlite";
		if (sqlite3_column_text(st, 3) &&
		    !(t->sql = ferry__strdup((const char *)sqlite3_column_text(st, 3)))) {
			sqlite3_finalize(st);
			return OOM(err);
		}
		t->est_rows = -1;
		if ((rc = load_columns(c, out, t, err)) != 0 || (rc = load_fkeys(c, out, t, err)) != 0 ||
		    (rc = load_indexes(c, out, t, err)) != 0 ||
		    (t->sql && (rc = load_checks(out, t, t->sql, err)) != 0)) {
			sqlite3_finalize(st);
			return rc;
		}
	}
	if (rc != SQLITE_DONE) {
		rc = ferry_sqlite__fail(c, rc, err, "could not read the schema of \"%s\"", c->path);
		sqlite3_finalize(st);
		return rc;
	}
	sqlite3_finalize(st);
	/* Views and triggers are not copied; the run says so of each (ferry's own capture
	 * and fence triggers are not the application's). */
	rc = prep(c, &st,
	          "SELECT type, name FROM sqlite_schema WHERE type IN ('view', 'trigger') "
	          "AND name NOT LIKE 'ferry\\_%' ESCAPE '\\' ORDER BY rowid", err);
	if (rc)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (ferry_schema_add_other(out, (const char *)sqlite3_column_text(st, 0),
		                           (const char *)sqlite3_column_text(st, 1)) != 0) {
			sqlite3_finalize(st);
			return OOM(err);
		}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return ferry_sqlite__fail(c, rc, err, "could not read the schema of \"%s\"", c->path);
	return 0;
}

/* ---- DDL --------------------------------------------------------------------------- */

static int run_ddl(sq_conn *c, ferry_buf *sql, ferry_err *err, const char *what,
                   const char *name)
{
	if (sql->failed || !sql->data)
		return OOM(err);
	int rc = sqlite3_exec(c->db, sql->data, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return ferry_sqlite__fail(c, rc, err, "could not create %s \"%s\" in \"%s\"", what,
		                          name, c->path);
	return 0;
}

static void ident_list(ferry_buf *b, char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (i)
			ferry_buf_puts(b, ", ");
		ferry_sqlite__buf_ident(b, names[i]);
	}
}

/* An index made as a UNIQUE clause of the table it is created with. */
static int unique_clause(const ferry_index *x)
{
	return x->constraint && x->unique && !x->exprs && !x->where && !x->sql;
}

/* A note of def to whoever listens, with its code and column (NULL: of the table). */
static void sq_vnote(const ferry_table *def, const char *code, const char *column,
                     const char *fmt, va_list ap)
{
	if (!def->note)
		return;
	char line[1200];
	vsnprintf(line, sizeof(line), fmt, ap);
	def->note(def->note_ud, code, column, line);
}

/* Tell whoever listens (def->note) that part of def was not created, and why. */
static void sq_note(const ferry_table *def, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	sq_vnote(def, NULL, NULL, fmt, ap);
	va_end(ap);
}

/* The same of a column's part, with the note's code. */
static void sq_note_col(const ferry_table *def, const char *code, const char *column,
                        const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	sq_vnote(def, code, column, fmt, ap);
	va_end(ap);
}

/* SQLite's own collations; another name (an application's, registered on its connections)
 * would make CREATE TABLE fail here, where it is not registered. */
static int builtin_collation(const char *name)
{
	return sqlite3_stricmp(name, "BINARY") == 0 || sqlite3_stricmp(name, "NOCASE") == 0 ||
	       sqlite3_stricmp(name, "RTRIM") == 0;
}

/* Does SQLite take expr over def's columns (names and functions known)? 1 yes, 0 no (why
 * says), or a negative code. A CHECK is part of CREATE TABLE, so one it refuses would lose
 * the whole table: each is tried alone first. */
static int expr_ok(sq_conn *c, const ferry_table *def, const char *expr, char *why, size_t cap,
                   ferry_err *err)
{
	ferry_buf b = FERRY_BUF_INIT;
	ferry_buf_puts(&b, "SELECT 1 FROM (SELECT ");
	for (size_t i = 0; i < def->ncols; i++) {
		ferry_buf_puts(&b, i ? ", NULL AS " : "NULL AS ");
		ferry_sqlite__buf_ident(&b, def->cols[i].name);
	}
	if (def->ncols == 0)
		ferry_buf_puts(&b, "NULL");
	ferry_buf_printf(&b, ") WHERE (%s)", expr);
	if (b.failed)
		return OOM(err);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(c->db, b.data, -1, &st, NULL);
	ferry_buf_free(&b);
	sqlite3_finalize(st);
	if (rc == SQLITE_OK)
		return 1;
	if (rc == SQLITE_NOMEM)
		return OOM(err);
	snprintf(why, cap, "%s", sqlite3_errmsg(c->db));
	return 0;
}

int ferry_sqlite__create_table(ferry_conn *conn, const ferry_table *def, ferry_err *err)
{
	sq_conn *c = SQ(conn);
	ferry_buf b = FERRY_BUF_INIT;
	const char *sep = "";
	if (def->sql) {
		/* Copied unchanged from another SQLite database: its own text keeps what a column
		 * list cannot say (generated columns, CHECK, COLLATE, AUTOINCREMENT). */
		ferry_buf_puts(&b, def->sql);
		if (b.failed)
			return OOM(err);
		int rc = run_ddl(c, &b, err, "table", def->name);
		ferry_buf_free(&b);
		return rc;
	}
	ferry_buf_puts(&b, "CREATE TABLE ");
	ferry_sqlite__buf_ident(&b, def->name);
	ferry_buf_puts(&b, "(");
	for (size_t i = 0; i < def->ncols; i++) {
		const ferry_column *col = &def->cols[i];
		if (col->generated)
			continue;
		ferry_buf_puts(&b, sep);
		sep = ", ";
		ferry_sqlite__buf_ident(&b, col->name);
		if (col->decl_type && col->decl_type[0])
			ferry_buf_printf(&b, " %s", col->decl_type);
		if (col->notnull)
			ferry_buf_puts(&b, " NOT NULL");
		if (col->default_sql)
			ferry_buf_printf(&b, " DEFAULT (%s)", col->default_sql);
		if (col->collation && builtin_collation(col->collation))
			ferry_buf_printf(&b, " COLLATE %s", col->collation);
		else if (col->collation)
			sq_note_col(def, "collation_not_created", col->name,
			            "collation %s of column \"%s\" of \"%s\" is not created: SQLite knows only BINARY, NOCASE and RTRIM (the column compares byte by byte)",
			            col->collation, col->name, def->name);
	}
	if (def->npk) {
		/* As a table constraint an INTEGER key still aliases the rowid. */
		ferry_buf_puts(&b, ", PRIMARY KEY(");
		for (size_t i = 0; i < def->npk; i++) {
			if (i)
				ferry_buf_puts(&b, ", ");
			ferry_sqlite__buf_ident(&b, def->cols[def->pk[i]].name);
		}
		ferry_buf_puts(&b, ")");
	}
	for (size_t f = 0; f < def->nfks; f++) {
		const ferry_fkey *fk = &def->fks[f];
		int parent_cols = fk->ncols > 0;
		for (size_t i = 0; i < fk->ncols; i++)
			parent_cols &= fk->ref_cols[i] != NULL;
		ferry_buf_puts(&b, ", FOREIGN KEY(");
		ident_list(&b, fk->cols, fk->ncols);
		ferry_buf_puts(&b, ") REFERENCES ");
		ferry_sqlite__buf_ident(&b, fk->ref_table);
		if (parent_cols) {
			ferry_buf_puts(&b, "(");
			ident_list(&b, fk->ref_cols, fk->ncols);
			ferry_buf_puts(&b, ")");
		}
		if (fk->on_delete)
			ferry_buf_printf(&b, " ON DELETE %s", fk->on_delete);
		if (fk->on_update)
			ferry_buf_printf(&b, " ON UPDATE %s", fk->on_update);
	}
	/* UNIQUE constraints are clauses of the table (SQLite adds none later), so they stay
	 * constraints both ways; rows that break one are rejected as they load. */
	for (size_t k = 0; k < def->nidx; k++) {
		const ferry_index *x = &def->idx[k];
		if (!unique_clause(x))
			continue;
		ferry_buf_puts(&b, ", UNIQUE(");
		ident_list(&b, x->cols, x->ncols);
		ferry_buf_puts(&b, ")");
	}
	for (size_t k = 0; k < def->nchecks; k++) {
		const ferry_check *ck = &def->checks[k];
		char why[400] = "";
		int ok = expr_ok(c, def, ck->expr, why, sizeof(why), err);
		if (ok < 0) {
			ferry_buf_free(&b);
			return ok;
		}
		if (!ok) {
			sq_note(def, "check constraint %s%s%sof \"%s\" is not created: SQLite refused CHECK (%s): %s",
			        ck->name ? "\"" : "", ck->name ? ck->name : "", ck->name ? "\" " : "",
			        def->name, ck->expr, why);
			continue;
		}
		ferry_buf_puts(&b, ", ");
		if (ck->name) {
			ferry_buf_puts(&b, "CONSTRAINT ");
			ferry_sqlite__buf_ident(&b, ck->name);
			ferry_buf_puts(&b, " ");
		}
		ferry_buf_printf(&b, "CHECK (%s)", ck->expr);
	}
	ferry_buf_puts(&b, ")");
	/* WITHOUT ROWID needs a primary key; a definition from another engine may lack one. */
	sep = " ";
	if (!def->has_rowid && def->npk) {
		ferry_buf_puts(&b, " WITHOUT ROWID");
		sep = ", ";
	}
	if (def->strict)
		ferry_buf_printf(&b, "%sSTRICT", sep);
	int rc = run_ddl(c, &b, err, "table", def->name);
	ferry_buf_free(&b);
	return rc;
}



/* Whether an index name is taken in the target: 0 no, 1 by table, 2 by another table
 * (named in other), or a negative code. */
static int index_owner(sq_conn *c, const char *name, const char *table, char *other,
                       size_t cap, ferry_err *err)
{
	sqlite3_stmt *st;
	int rc = prep(c, &st,
	              "SELECT tbl_name FROM sqlite_schema WHERE type = 'index' "
	              "AND name = ?1 COLLATE NOCASE", err);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *tbl = (const char *)sqlite3_column_text(st, 0);
		snprintf(other, cap, "%s", tbl ? tbl : "");
		rc = tbl && sqlite3_stricmp(tbl, table) == 0 ? 1 : 2;
	} else if (rc == SQLITE_DONE) {
		rc = 0;
	} else {
		rc = ferry_sqlite__fail(c, rc, err, "could not read the schema of \"%s\"", c->path);
	}
	sqlite3_finalize(st);
	return rc;
}

int ferry_sqlite__create_indexes(ferry_conn *conn, const ferry_table *def, ferry_err *err)
{
	sq_conn *c = SQ(conn);
	ferry_buf b = FERRY_BUF_INIT;
	for (size_t i = 0; i < def->nidx; i++) {
		const ferry_index *x = &def->idx[i];
		int rc = 0;
		ferry_buf_reset(&b);
		if (def->sql) {
			/* Verbatim table: UNIQUE constraints came with it; others replay their own
			 * text (DESC, COLLATE, expressions, WHERE). */
			if (!x->sql)
				continue;
			ferry_buf_puts(&b, x->sql);
		} else if (unique_clause(x)) {
			continue; /* made with the table */
		} else if (x->sql && (x->exprs || x->where)) {
			/* The engine's own text fits when the table kept its name. */
			index_sql parsed;
			if (parse_index_sql(x->sql, &parsed) != 0 ||
			    sqlite3_stricmp(parsed.table, def->name) != 0) {
				sq_note(def, "index \"%s\" of \"%s\" is not created: its definition names another table",
				        x->name, def->name);
				continue;
			}
			ferry_buf_puts(&b, x->sql);
		} else {
			ferry_buf_printf(&b, "CREATE %sINDEX IF NOT EXISTS ", x->unique ? "UNIQUE " : "");
			if (sqlite3_strnicmp(x->name, "sqlite_", 7) == 0) {
				/* A UNIQUE constraint's automatic index: names starting with sqlite_ are
				 * reserved, so name it after the table and its columns. */
				ferry_buf b2 = FERRY_BUF_INIT;
				ferry_buf_puts(&b2, def->name);
				for (size_t k = 0; k < x->ncols; k++)
					ferry_buf_printf(&b2, "_%s", x->cols[k]);
				ferry_buf_puts(&b2, "_key");
				if (b2.failed) {
					ferry_buf_free(&b);
					return OOM(err);
				}
				ferry_sqlite__buf_ident(&b, b2.data);
				ferry_buf_free(&b2);
			} else {
				ferry_sqlite__buf_ident(&b, x->name);
			}
			ferry_buf_puts(&b, " ON ");
			ferry_sqlite__buf_ident(&b, def->name);
			ferry_buf_puts(&b, "(");
			for (size_t k = 0; k < x->ncols; k++) {
				if (k)
					ferry_buf_puts(&b, ", ");
				if (x->opts[k] & FERRY_INDEX_EXPR)
					ferry_buf_printf(&b, "(%s)", x->cols[k]);
				else
					ferry_sqlite__buf_ident(&b, x->cols[k]);
				if (x->opts[k] & FERRY_INDEX_DESC)
					ferry_buf_puts(&b, " DESC");
			}
			ferry_buf_puts(&b, ")");
			if (x->where)
				ferry_buf_printf(&b, " WHERE %s", x->where);
		}
		if (b.failed) {
			ferry_buf_free(&b);
			return OOM(err);
		}
		/* An index of that name may exist: ours from an earlier attempt (fine), or one on
		 * another table, which would make IF NOT EXISTS skip ours silently. */
		if (sqlite3_strnicmp(x->name, "sqlite_", 7) != 0) {
			char other[256];
			rc = index_owner(c, x->name, def->name, other, sizeof(other), err);
			if (rc < 0) {
				ferry_buf_free(&b);
				return rc;
			}
			if (rc == 1)
				continue;
			if (rc == 2) {
				ferry_buf_free(&b);
				return ferry_err_set(err, FERRY_ERROR,
				                     "could not create index \"%s\" on table \"%s\" in \"%s\": "
				                     "an index of that name exists on table \"%s\"",
				                     x->name, def->name, c->path, other);
			}
		}
		if (!def->sql && !x->sql && (x->exprs || x->where)) {
			/* Expressions another engine's definition gave in SQLite's dialect: one SQLite
			 * refuses is noted, not fatal. */
			if (sqlite3_exec(c->db, b.data, NULL, NULL, NULL) != SQLITE_OK)
				sq_note(def, "index \"%s\" of \"%s\" is not created: SQLite refused %s: %s",
				        x->name, def->name, b.data, sqlite3_errmsg(c->db));
			continue;
		}
		if ((rc = run_ddl(c, &b, err, "index", x->name)) != 0) {
			ferry_buf_free(&b);
			return rc;
		}
	}
	ferry_buf_free(&b);
	return 0;
}
