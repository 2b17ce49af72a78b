/* pg_sql.c — the PostgreSQL engine's callbacks for versioned migrations: statements with
 * bound parameters, the migration lock (a session advisory lock), a script splitter that
 * knows PostgreSQL's quoting (E'', dollar quotes, nested comments, BEGIN ATOMIC bodies),
 * and which statements cannot run inside a transaction. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "pg_int.h"

/* The advisory lock key: "ferry" in ASCII, as one bigint (pg_locks shows it as classid
 * 0x66, objid 0x65727279, objsubid 1). */
#define LOCK_KEY "439788663417"

/* ---- bound statements -------------------------------------------------------------- */

int ferry_pg__exec_params(ferry_conn *conn, const char *sql, size_t nparams,
                          const ferry_value *params, int64_t *changed, ferry_err *err)
{
	pg_conn *c = PGC(conn);
	if (changed)
		*changed = 0;
	if (nparams > 65535)
		return ferry_err_set(err, FERRY_EUSAGE, "cannot run a statement with %zu parameters", nparams);
	size_t n = nparams ? nparams : 1;
	Oid *types = ferry__calloc(n, sizeof(Oid));
	const char **vals = ferry__calloc(n, sizeof(char *));
	int *lens = ferry__calloc(n, sizeof(int)), *fmts = ferry__calloc(n, sizeof(int));
	char (*num)[40] = ferry__calloc(n, sizeof(*num));
	int rc = types && vals && lens && fmts && num ? 0 : OOM(err);
	for (size_t i = 0; rc == 0 && i < nparams; i++) {
		const ferry_value *v = &params[i];
		switch (v->type) {
		case FERRY_NULL:
			break;
		case FERRY_INT:
			types[i] = PG_INT8;
			snprintf(num[i], sizeof(num[i]), "%lld", (long long)v->v.i);
			vals[i] = num[i];
			break;
		case FERRY_BOOL:
			types[i] = PG_BOOL;
			vals[i] = v->v.i ? "t" : "f";
			break;
		case FERRY_FLOAT:
			types[i] = PG_FLOAT8;
			if (v->v.f != v->v.f)
				snprintf(num[i], sizeof(num[i]), "NaN");
			else if (v->v.f > 1.7976931348623157e308 || v->v.f < -1.7976931348623157e308)
				snprintf(num[i], sizeof(num[i]), v->v.f > 0 ? "Infinity" : "-Infinity");
			else
				snprintf(num[i], sizeof(num[i]), "%.17g", v->v.f);
			vals[i] = num[i];
			break;
		case FERRY_BLOB:
			types[i] = PG_BYTEA;
			vals[i] = v->len ? (const char *)v->v.b : "";
			lens[i] = (int)v->len;
			fmts[i] = 1;
			break;
		default:
			/* Text values take the type their place in the statement gives them; the
			 * typed canonical ones say what they are. */
			types[i] = v->type == FERRY_NUMERIC ? PG_NUMERIC : v->type == FERRY_DATE ? PG_DATE
			         : v->type == FERRY_TIME ? PG_TIME : v->type == FERRY_TIMESTAMP ? PG_TIMESTAMP
			         : v->type == FERRY_TIMESTAMPTZ ? PG_TIMESTAMPTZ : v->type == FERRY_UUID ? PG_UUID : 0;
			if (memchr(v->v.s, '\0', v->len)) {
				rc = ferry_err_set(err, FERRY_EUSAGE, "cannot bind parameter $%zu: its text holds a NUL byte", i + 1);
				break;
			}
			vals[i] = v->v.s ? v->v.s : "";
			lens[i] = (int)v->len;
			fmts[i] = 0;
			break;
		}
	}
	/* Text parameters are read up to their NUL: the values are NUL-terminated copies. */
	char **own = rc == 0 ? ferry__calloc(n, sizeof(char *)) : NULL;
	if (rc == 0 && !own)
		rc = OOM(err);
	for (size_t i = 0; rc == 0 && i < nparams; i++)
		if (vals[i] && fmts[i] == 0 && params[i].type != FERRY_INT && params[i].type != FERRY_BOOL &&
		    params[i].type != FERRY_FLOAT) {
			if (!(own[i] = ferry__strndup(vals[i], (size_t)lens[i])))
				rc = OOM(err);
			vals[i] = own[i];
		}
	if (rc == 0) {
		PGresult *res = PQexecParams(c->db, sql, (int)nparams, types, vals, lens, fmts, 0);
		ExecStatusType st = PQresultStatus(res);
		if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
			rc = ferry_pg__fail(c, res, err, "run sql");
		else if (changed)
			*changed = strtoll(PQcmdTuples(res), NULL, 10);
		PQclear(res);
	}
	for (size_t i = 0; own && i < nparams; i++)
		free(own[i]);
	free(own);
	free(types);
	free(vals);
	free(lens);
	free(fmts);
	free(num);
	return rc;
}

/* ---- the migration lock ------------------------------------------------------------ */

int ferry_pg__lock_try(ferry_conn *conn, int *got, char *holder, size_t cap, ferry_err *err)
{
	pg_conn *c = PGC(conn);
	*got = 0;
	if (holder && cap)
		holder[0] = '\0';
	if (c->lock_held) {
		*got = 1;
		return 0;
	}
	PGresult *res;
	int rc = ferry_pg__query(c, &res, "SELECT pg_try_advisory_lock(" LOCK_KEY ")", 0, NULL, err,
	                         "take the migration lock");
	if (rc)
		return rc;
	*got = PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	if (*got) {
		c->lock_held = 1;
		return 0;
	}
	rc = ferry_pg__query(c, &res,
	                     "SELECT a.pid, coalesce(a.usename, '?'), coalesce(a.application_name, ''), "
	                     "coalesce(host(a.client_addr), 'local socket'), "
	                     "to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
	                     "coalesce(to_char(a.query_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '') "
	                     "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
	                     "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 102 "
	                     "AND l.objid = 1701999225 AND l.objsubid = 1 "
	                     "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
	                     0, NULL, err, "read who holds the migration lock");
	if (rc)
		return rc;
	if (holder && cap) {
		if (PQntuples(res) == 0)
			snprintf(holder, cap, "another session (it could not be identified)");
		else
			snprintf(holder, cap, "pid %s (user %s%s%s, from %s, connected since %s%s%s)",
			         PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1),
			         PQgetvalue(res, 0, 2)[0] ? ", application " : "", PQgetvalue(res, 0, 2),
			         PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 4),
			         PQgetvalue(res, 0, 5)[0] ? ", last query at " : "", PQgetvalue(res, 0, 5));
	}
	PQclear(res);
	return 0;
}

int ferry_pg__lock_release(ferry_conn *conn, ferry_err *err)
{
	pg_conn *c = PGC(conn);
	if (!c->lock_held)
		return 0;
	c->lock_held = 0;
	PGresult *res;
	int rc = ferry_pg__query(c, &res, "SELECT pg_advisory_unlock(" LOCK_KEY ")", 0, NULL, err,
	                         "release the migration lock");
	if (rc == 0)
		PQclear(res);
	return rc;
}

/* ---- splitting scripts ------------------------------------------------------------- */

static int ident_char(char ch)
{
	unsigned char u = (unsigned char)ch;
	return isalnum(u) || u == '_' || u == '$' || u >= 0x80;
}

/* Skip blanks and comments from p, counting lines; NULL on an unterminated comment. */
static const char *skip_blank(const char *p, int *line)
{
	for (;;) {
		if (*p == '\n') {
			(*line)++;
			p++;
		} else if (isspace((unsigned char)*p)) {
			p++;
		} else if (p[0] == '-' && p[1] == '-') {
			while (*p && *p != '\n')
				p++;
		} else if (p[0] == '/' && p[1] == '*') {
			int depth = 1;
			p += 2;
			while (*p && depth > 0) {
				if (p[0] == '/' && p[1] == '*') {
					depth++;
					p += 2;
				} else if (p[0] == '*' && p[1] == '/') {
					depth--;
					p += 2;
				} else {
					if (*p == '\n')
						(*line)++;
					p++;
				}
			}
			if (depth > 0)
				return NULL;
		} else {
			return p;
		}
	}
}

static int word_is(const char *p, size_t n, const char *w)
{
	return strlen(w) == n && strncasecmp(p, w, n) == 0;
}

/* The word at p (letters, digits, _), or 0. */
static size_t word_len(const char *p)
{
	size_t n = 0;
	if (!isalpha((unsigned char)p[0]) && p[0] != '_')
		return 0;
	while (ident_char(p[n]))
		n++;
	return n;
}

int ferry_pg__split_sql(const char *sql, int (*cb)(void *ud, const char *stmt, size_t len,
                                                   int line),
                        void *ud, ferry_err *err)
{
	const char *p = sql;
	int line = 1;
	for (;;) {
		const char *q = skip_blank(p, &line);
		if (!q)
			return ferry_err_set(err, FERRY_EUSAGE, "unterminated comment at line %d", line);
		p = q;
		if (!*p)
			return 0;
		if (*p == ';') {
			p++;
			continue;
		}
		const char *start = p;
		int start_line = line, atomic = 0;
		char prev = ' ';
		while (*p && !(*p == ';' && atomic == 0)) {
			if (*p == '\n') {
				line++;
				prev = *p++;
			} else if ((p[0] == '-' && p[1] == '-') || (p[0] == '/' && p[1] == '*')) {
				int at = line;
				if (!(q = skip_blank(p, &line)))
					return ferry_err_set(err, FERRY_EUSAGE, "unterminated comment starting at line %d", at);
				p = q;
				prev = ' ';
			} else if (*p == '\'' || *p == '"') {
				char quote = *p;
				int esc = quote == '\'' && (prev == 'E' || prev == 'e') &&
				          (p - 1 == start || !ident_char(p[-2]));
				int at = line;
				p++;
				for (;;) {
					if (!*p)
						return ferry_err_set(err, FERRY_EUSAGE, "unterminated %s starting at line %d",
						                     quote == '\'' ? "string" : "quoted identifier", at);
					if (*p == '\n')
						line++;
					if (esc && *p == '\\' && p[1]) {
						if (p[1] == '\n')
							line++;
						p += 2;
						continue;
					}
					if (*p == quote) {
						if (p[1] == quote) {
							p += 2;
							continue;
						}
						p++;
						break;
					}
					p++;
				}
				prev = quote;
			} else if (*p == '$' && !ident_char(prev) && (p[1] == '$' || isalpha((unsigned char)p[1]) || p[1] == '_')) {
				/* $tag$ ... $tag$ (a $1 parameter is not a quote) */
				const char *t = p + 1;
				while (*t && *t != '$' && (isalnum((unsigned char)*t) || *t == '_' || (unsigned char)*t >= 0x80))
					t++;
				if (*t != '$') {
					prev = *p++;
					continue;
				}
				size_t tl = (size_t)(t - p) + 1;
				const char *body = t + 1, *end = body;
				int at = line;
				for (;;) {
					end = strstr(end, "$");
					if (!end)
						return ferry_err_set(err, FERRY_EUSAGE, "unterminated dollar-quoted string starting at line %d", at);
					if (strncmp(end, p, tl) == 0)
						break;
					end++;
				}
				for (const char *k = body; k < end; k++)
					line += *k == '\n';
				p = end + tl;
				prev = '$';
			} else if (!ident_char(prev) && word_len(p)) {
				size_t n = word_len(p);
				if (word_is(p, n, "BEGIN")) {
					int l2 = line;
					const char *nx = skip_blank(p + n, &l2);
					size_t m = nx ? word_len(nx) : 0;
					if ((nx && word_is(nx, m, "ATOMIC")) || atomic > 0)
						atomic++;
				} else if (atomic > 0 && word_is(p, n, "CASE")) {
					atomic++;
				} else if (atomic > 0 && word_is(p, n, "END")) {
					atomic--;
				}
				p += n;
				prev = p[-1];
			} else {
				prev = *p++;
			}
		}
		size_t len = (size_t)(p - start);
		while (len && isspace((unsigned char)start[len - 1]))
			len--;
		if (len) {
			int rc = cb(ud, start, len, start_line);
			if (rc)
				return rc;
		}
		if (*p == ';')
			p++;
	}
}

/* ---- statements outside a transaction ---------------------------------------------- */

int ferry_pg__needs_autocommit(const char *stmt, size_t len)
{
	/* The first words, upper-cased, skipping comments and parenthesized options. */
	char words[12][24];
	int nw = 0, line = 0, depth = 0;
	const char *p = stmt, *end = stmt + len;
	while (p < end && nw < 12) {
		const char *q = skip_blank(p, &line);
		if (!q || q >= end)
			break;
		p = q;
		if (*p == '(') {
			depth++;
			p++;
			continue;
		}
		if (*p == ')') {
			depth -= depth > 0;
			p++;
			continue;
		}
		size_t n = word_len(p);
		if (!n) {
			p++;
			continue;
		}
		if (depth == 0) {
			size_t k = n < sizeof(words[0]) - 1 ? n : sizeof(words[0]) - 1;
			for (size_t i = 0; i < k; i++)
				words[nw][i] = (char)toupper((unsigned char)p[i]);
			words[nw][k] = '\0';
			nw++;
		}
		p += n;
	}
#define W(i, s) (nw > (i) && strcmp(words[i], (s)) == 0)
	if (W(0, "VACUUM") || (W(0, "CREATE") && (W(1, "DATABASE") || W(1, "TABLESPACE"))) ||
	    (W(0, "DROP") && (W(1, "DATABASE") || W(1, "TABLESPACE"))) || (W(0, "ALTER") && W(1, "SYSTEM")))
		return 1;
	if (W(0, "CREATE") && ((W(1, "INDEX") && W(2, "CONCURRENTLY")) ||
	                       (W(1, "UNIQUE") && W(2, "INDEX") && W(3, "CONCURRENTLY"))))
		return 1;
	if (W(0, "DROP") && W(1, "INDEX") && W(2, "CONCURRENTLY"))
		return 1;
	if (W(0, "REINDEX")) {
		if (W(1, "DATABASE") || W(1, "SYSTEM"))
			return 1;
		for (int i = 1; i < nw; i++)
			if (strcmp(words[i], "CONCURRENTLY") == 0)
				return 1;
	}
	if (W(0, "ALTER") && W(1, "TYPE"))
		for (int i = 2; i + 1 < nw; i++)
			if (strcmp(words[i], "ADD") == 0 && strcmp(words[i + 1], "VALUE") == 0)
				return 1;
	if (W(0, "ALTER") && W(1, "TABLE"))
		for (int i = 2; i + 2 < nw; i++)
			if (strcmp(words[i], "DETACH") == 0 && strcmp(words[i + 1], "PARTITION") == 0)
				for (int k = i + 2; k < nw; k++)
					if (strcmp(words[k], "CONCURRENTLY") == 0)
						return 1;
#undef W
	return 0;
}
