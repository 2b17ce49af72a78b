/* pg.c — the PostgreSQL engine (libpq): the engine table, connections and their schema,
 * transactions, the exported snapshot, and helpers shared by the engine's other files
 * (pg_schema.c, pg_rw.c, pg_types.c, pg_sql.c). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include "pg_int.h"

/* ---- helpers shared by the engine's files ------------------------------------------ */

size_t ferry_pg__quote_ident(char *buf, size_t cap, const char *ident)
{
	return ferry__quote_ident_std(buf, cap, ident);
}

int ferry_pg__buf_ident(ferry_buf *b, const char *ident)
{
	return ferry_buf_ident(b, ident);
}

int ferry_pg__buf_table(ferry_buf *b, const pg_conn *c, const char *table)
{
	ferry_pg__buf_ident(b, c->schema);
	ferry_buf_add(b, ".", 1);
	return ferry_pg__buf_ident(b, table);
}

/* Every session runs with standard_conforming_strings on (setup), so a literal only needs
 * its quotes doubled; text never holds NUL (the writer refuses it). */
int ferry_pg__buf_literal(ferry_buf *b, const char *s, size_t len)
{
	int rc = ferry_buf_add(b, "'", 1);
	const char *start = s, *end = s + len;
	for (const char *p = s; p < end && rc == 0; p++)
		if (*p == '\'') {
			rc = ferry_buf_add(b, start, (size_t)(p - start) + 1);
			if (rc == 0)
				rc = ferry_buf_add(b, "'", 1);
			start = p + 1;
		}
	if (rc == 0 && end > start)
		rc = ferry_buf_add(b, start, (size_t)(end - start));
	return rc ? rc : ferry_buf_add(b, "'", 1);
}

/* Copy the first line of s (without "ERROR:  " and the like) to out, spaces squeezed. */
static void one_line(const char *s, char *out, size_t cap)
{
	static const char *const pfx[] = {"ERROR:  ", "FATAL:  ", "PANIC:  "};
	for (size_t i = 0; i < FERRY_ARRAY_LEN(pfx); i++)
		if (strncmp(s, pfx[i], strlen(pfx[i])) == 0)
			s += strlen(pfx[i]);
	size_t o = 0;
	for (; *s && *s != '\n' && o + 1 < cap; s++) {
		if (*s == '\r' || *s == '\t')
			continue;
		out[o++] = *s;
	}
	while (o && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
}

void ferry_pg__message(pg_conn *c, const PGresult *res, char *out, size_t cap)
{
	const char *prim = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	if (prim) {
		char p[600], d[400] = "";
		one_line(prim, p, sizeof(p));
		const char *det = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
		if (det)
			one_line(det, d, sizeof(d));
		snprintf(out, cap, "%s%s%s%s", p, d[0] ? " (" : "", d, d[0] ? ")" : "");
		return;
	}
	const char *m = res ? PQresultErrorMessage(res) : NULL;
	if (!m || !*m)
		m = c && c->db ? PQerrorMessage(c->db) : "";
	if (!*m)
		m = "the connection to the server was lost";
	one_line(m, out, cap);
}

static int code_of(pg_conn *c, const PGresult *res)
{
	const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	if (!st || (c && c->db && PQstatus(c->db) != CONNECTION_OK))
		return FERRY_ERROR;
	if (strcmp(st, "42P01") == 0 || strcmp(st, "3F000") == 0)
		return FERRY_ENOTFOUND;
	if (strncmp(st, "42", 2) == 0)
		return FERRY_EUSAGE;
	if (strcmp(st, "53200") == 0)
		return FERRY_ENOMEM;
	return FERRY_ERROR;
}

int ferry_pg__fail(pg_conn *c, const PGresult *res, ferry_err *err, const char *fmt, ...)
{
	char what[400], msg[700];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	ferry_pg__message(c, res, msg, sizeof(msg));
	return ferry_err_set(err, code_of(c, res), "could not %s in %s: %s", what,
	                     c && c->label ? c->label : "postgresql", msg);
}

int ferry_pg__row_error(const PGresult *res)
{
	const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	if (!st)
		return 0;
	/* 54001 (stack depth limit exceeded) is a value nested too deeply for the server to
	 * parse, such as JSON 100,000 levels deep: that row's fault, not the run's. */
	return strncmp(st, "22", 2) == 0 || strncmp(st, "23", 2) == 0 ||
	       strncmp(st, "P0", 2) == 0 || strncmp(st, "44", 2) == 0 || strcmp(st, "54001") == 0;
}

int ferry_pg__exec(pg_conn *c, const char *sql, ferry_err *err, const char *what)
{
	if (c->broken)
		return ferry_err_set(err, FERRY_ERROR, "could not %s in %s: an abandoned read left the session unusable",
		                     what, c->label);
	PGresult *res = PQexec(c->db, sql);
	ExecStatusType st = PQresultStatus(res);
	int rc = 0;
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY)
		rc = ferry_pg__fail(c, res, err, "%s", what);
	PQclear(res);
	return rc;
}

int ferry_pg__query(pg_conn *c, PGresult **out, const char *sql, int nparams,
                    const char *const *params, ferry_err *err, const char *what)
{
	*out = NULL;
	if (c->broken)
		return ferry_err_set(err, FERRY_ERROR, "could not %s in %s: an abandoned read left the session unusable",
		                     what, c->label);
	PGresult *res = PQexecParams(c->db, sql, nparams, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		int rc = ferry_pg__fail(c, res, err, "%s", what);
		PQclear(res);
		return rc;
	}
	*out = res;
	return 0;
}

int ferry_pg__touch(pg_conn *c, const char *table)
{
	for (size_t i = 0; i < c->ntouched; i++)
		if (strcmp(c->touched[i], table) == 0)
			return 0;
	if (ferry__grow(&c->touched, &c->touched_cap, c->ntouched + 1, sizeof(char *)) != 0)
		return FERRY_ENOMEM;
	if (!(c->touched[c->ntouched] = ferry__strdup(table)))
		return FERRY_ENOMEM;
	c->ntouched++;
	return 0;
}

/* ---- connections ------------------------------------------------------------------- */

static void quiet_notices(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* Replace every occurrence of secret (at least 1 byte) in msg by ***. */
static void scrub(char *msg, size_t cap, const char *secret, size_t n)
{
	if (n == 0)
		return;
	char *p;
	while ((p = memmem(msg, strlen(msg), secret, n)) != NULL) {
		size_t tail = strlen(p + n);
		if (n >= 3) {
			memcpy(p, "***", 3);
			memmove(p + 3, p + n, tail + 1);
		} else if (strlen(msg) + 3 - n < cap) {
			memmove(p + 3, p + n, tail + 1);
			memcpy(p, "***", 3);
		} else {
			memset(p, '*', n);
		}
	}
}

/* Remove whatever could be a password of url from msg (ferry__url_secrets' spans): as
 * written, percent-decoded, and unquoted as libpq reads a conninfo value. libpq's parse
 * errors quote pieces of the string they could not read. */
static void scrub_password(char *msg, size_t cap, const char *url)
{
	size_t sp[32][2];
	size_t n = ferry__url_secrets(url, sp, 32);
	for (size_t i = 0; i < n; i++) {
		const char *v = url + sp[i][0];
		size_t len = sp[i][1] - sp[i][0];
		char raw[512], dec[512], unq[512];
		if (len >= sizeof(raw))
			continue;
		memcpy(raw, v, len);
		raw[len] = '\0';
		size_t o = 0, u = 0;
		for (size_t k = 0; k < len; k++) {
			if (raw[k] == '%' && ferry__hex_digit((unsigned char)raw[k + 1]) >= 0 &&
			    ferry__hex_digit((unsigned char)raw[k + 2]) >= 0) {
				dec[o++] = (char)(ferry__hex_digit((unsigned char)raw[k + 1]) * 16 +
				                  ferry__hex_digit((unsigned char)raw[k + 2]));
				k += 2;
			} else {
				dec[o++] = raw[k];
			}
		}
		dec[o] = '\0';
		for (size_t k = 0; k < len; k++) {
			if (raw[k] == '\'' && (k == 0 || k == len - 1))
				continue;
			if (raw[k] == '\\' && k + 1 < len)
				k++;
			unq[u++] = raw[k];
		}
		unq[u] = '\0';
		scrub(msg, cap, raw, len);
		scrub(msg, cap, dec, o);
		scrub(msg, cap, unq, u);
	}
}

/* 1 when libpq would read url's user-info differently from ferry__url_userinfo_end: libpq
 * stops at the first '@' or '/', so an unencoded '@' or '/' in the password would send part
 * of it to the server as a host name or database (and into error messages). */
static int userinfo_ambiguous(const char *url)
{
	size_t n = ferry_url_scheme(url);
	if (!n || strncmp(url + n, "://", 3) != 0)
		return 0;
	const char *auth = url + n + 3;
	const char *ours = ferry__url_userinfo_end(auth);
	if (!ours || !memchr(auth, ':', (size_t)(ours - auth)))
		return 0;
	const char *theirs = auth + strcspn(auth, "@/");
	return theirs != ours;
}

static void conn_free(pg_conn *c)
{
	if (!c)
		return;
	if (c->db)
		PQfinish(c->db);
	free(c->label);
	free(c->schema);
	free(c->token);
	for (size_t i = 0; i < c->ntouched; i++)
		free(c->touched[i]);
	free(c->touched);
	for (size_t i = 0; i < c->nfks; i++) {
		free(c->fks[i].table);
		free(c->fks[i].name);
		free(c->fks[i].sql);
	}
	free(c->fks);
	free(c->desc_key);
	free(c->desc_oids);
	free(c);
}

/* The schema named first in search_path: "$user" counts when that schema exists; the
 * first other name counts whether it exists or not (connect creates it in a target). */
static int pick_schema(pg_conn *c, char **out, int *exists, ferry_err *err)
{
	*out = NULL;
	*exists = 0;
	PGresult *res;
	int rc = ferry_pg__query(c, &res, "SELECT current_setting('search_path'), current_user", 0,
	                         NULL, err, "read the search_path");
	if (rc)
		return rc;
	char *path = ferry__strdup(PQgetvalue(res, 0, 0));
	char *user = ferry__strdup(PQgetvalue(res, 0, 1));
	PQclear(res);
	if (!path || !user) {
		free(path);
		free(user);
		return OOM(err);
	}
	rc = 0;
	const char *p = path;
	while (*p && !*out && rc == 0) {
		while (*p == ' ' || *p == ',')
			p++;
		if (!*p)
			break;
		char name[256];
		size_t n = 0;
		int quoted = *p == '"';
		if (quoted) {
			p++;
			while (*p && !(*p == '"' && p[1] != '"')) {
				if (*p == '"')
					p++;
				if (n + 1 < sizeof(name))
					name[n++] = *p;
				p++;
			}
			if (*p == '"')
				p++;
		} else {
			while (*p && *p != ',') {
				if (n + 1 < sizeof(name))
					name[n++] = (char)tolower((unsigned char)*p);
				p++;
			}
			while (n && name[n - 1] == ' ')
				n--;
		}
		name[n] = '\0';
		/* PostgreSQL's default is "$user", public: quoted or not, $user is the role. */
		int is_user = strcmp(name, "$user") == 0;
		const char *cand = is_user ? user : name;
		if (!*cand)
			continue;
		const char *params[1] = {cand};
		rc = ferry_pg__query(c, &res, "SELECT 1 FROM pg_namespace WHERE nspname = $1", 1, params,
		                     err, "read the schemas");
		if (rc)
			break;
		int found = PQntuples(res) > 0;
		PQclear(res);
		if (found || !is_user) {
			*out = ferry__strdup(cand);
			*exists = found;
			if (!*out)
				rc = OOM(err);
		}
	}
	free(path);
	free(user);
	if (rc == 0 && !*out)
		rc = ferry_err_set(err, FERRY_EUSAGE, "cannot use %s: its search_path names no schema",
		                   c->label);
	return rc;
}

static int pg_connect(ferry_conn **out, const char *url, int flags, ferry_err *err)
{
	*out = NULL;
	int loaded = ferry_pg__pq_load(err);   /* the first connection loads libpq */
	if (loaded)
		return loaded;
	int ro = (flags & FERRY_CONNECT_READONLY) != 0;
	pg_conn *c = ferry__calloc(1, sizeof(*c));
	if (!c)
		return OOM(err);
	c->readonly = ro;
	if (userinfo_ambiguous(url)) {
		char *m = ferry_url_mask(url);
		ferry_err_set(err, FERRY_EUSAGE,
		              "could not connect to \"%s\": its password holds an unencoded \"@\" or \"/\", "
		              "which libpq would read as the host or database (write them as %%40 and %%2F)",
		              m ? m : "?");
		free(m);
		conn_free(c);
		return FERRY_EUSAGE;
	}
	/* Later keywords win: the session always speaks UTF-8 whatever the URL says. */
	const char *const kw[] = {"dbname", "fallback_application_name", "client_encoding", NULL};
	const char *const val[] = {url, "ferry", "UTF8", NULL};
	c->db = PQconnectdbParams(kw, val, 1);
	if (!c->db) {
		conn_free(c);
		return OOM(err);
	}
	const char *db = PQdb(c->db), *host = PQhost(c->db), *port = PQport(c->db);
	c->label = ferry__sprintf("database \"%s\" on %s%s%s", db ? db : "?",
	                          host && *host ? host : "localhost", port && *port ? ":" : "",
	                          port ? port : "");
	if (!c->label) {
		conn_free(c);
		return OOM(err);
	}
	if (PQstatus(c->db) != CONNECTION_OK) {
		char msg[800];
		one_line(PQerrorMessage(c->db), msg, sizeof(msg));
		/* libpq puts the reason after the last "failed: ". */
		const char *why = msg;
		for (const char *p = strstr(msg, "failed: "); p; p = strstr(p + 1, "failed: "))
			why = p + 8;
		char reason[800];
		one_line(why, reason, sizeof(reason));
		scrub_password(reason, sizeof(reason), url);
		if (!db || !*db) {
			/* libpq could not read the URL at all: show it, masked. */
			char *m = ferry_url_mask(url);
			ferry_err_set(err, FERRY_EUSAGE, "could not connect to \"%s\": %s", m ? m : "?", reason);
			free(m);
			conn_free(c);
			return FERRY_EUSAGE;
		}
		int missing = strstr(reason, "does not exist") && strstr(reason, "database");
		ferry_err_set(err, missing ? FERRY_ENOTFOUND : FERRY_ERROR, "could not connect to %s: %s%s",
		              c->label, reason,
		              missing && (flags & FERRY_CONNECT_CREATE) ? " (ferry does not create databases: create it first)" : "");
		conn_free(c);
		return err->code;
	}
	PQsetNoticeProcessor(c->db, quiet_notices, NULL);
	int rc = ferry_pg__exec(c,
	                        "SET client_min_messages = warning; SET DateStyle = 'ISO, YMD'; "
	                        "SET IntervalStyle = 'postgres'; SET extra_float_digits = 3; "
	                        "SET TimeZone = 'UTC'; SET bytea_output = 'hex'; "
	                        "SET standard_conforming_strings = on", err, "set up the session");
	if (rc == 0 && ro)
		rc = ferry_pg__exec(c, "SET default_transaction_read_only = on", err,
		                    "set up the session");
	int exists = 0;
	if (rc == 0)
		rc = pick_schema(c, &c->schema, &exists, err);
	if (rc == 0 && !exists) {
		if (ro || !(flags & FERRY_CONNECT_CREATE)) {
			rc = ferry_err_set(err, FERRY_ENOTFOUND, "schema \"%s\" (first in search_path) does not exist in %s",
			                   c->schema, c->label);
		} else {
			ferry_buf b = FERRY_BUF_INIT;
			ferry_buf_puts(&b, "CREATE SCHEMA IF NOT EXISTS ");
			ferry_pg__buf_ident(&b, c->schema);
			rc = b.failed ? OOM(err) : ferry_pg__exec(c, b.data, err, "create the schema");
			ferry_buf_free(&b);
			c->created_schema = rc == 0;
		}
	}
	if (rc) {
		conn_free(c);
		return rc;
	}
	*out = (ferry_conn *)(void *)c;
	return 0;
}

static void pg_close(ferry_conn *conn)
{
	conn_free(PGC(conn));
}

/* A run refused before it changed anything: drop the schema connect created (only if
 * empty: RESTRICT). */
static void pg_discard(ferry_conn *conn)
{
	pg_conn *c = PGC(conn);
	if (c->created_schema && PQstatus(c->db) == CONNECTION_OK) {
		ferry_err ignored;
		if (PQtransactionStatus(c->db) != PQTRANS_IDLE)
			ferry_pg__exec(c, "ROLLBACK", &ignored, "roll back");
		ferry_buf b = FERRY_BUF_INIT;
		ferry_buf_puts(&b, "DROP SCHEMA ");
		ferry_pg__buf_ident(&b, c->schema);
		if (!b.failed)
			ferry_pg__exec(c, b.data, &ignored, "drop the schema");
		ferry_buf_free(&b);
	}
	conn_free(c);
}

/* ---- SQL and transactions ---------------------------------------------------------- */

static int pg_exec(ferry_conn *conn, const char *sql, ferry_err *err)
{
	return ferry_pg__exec(PGC(conn), sql, err, "run sql");
}

static int pg_begin(ferry_conn *conn, ferry_err *err)
{
	pg_conn *c = PGC(conn);
	c->sp_open = 0;
	/* A writer's connection names the table it wrote last: a server that died between two
	 * chunks is reported with the table the load was at. */
	if (c->wrote[0]) {
		char what[400];
		snprintf(what, sizeof(what), "begin a transaction after writing table \"%s\"", c->wrote);
		return ferry_pg__exec(c, "BEGIN", err, what);
	}
	return ferry_pg__exec(c, "BEGIN", err, "begin a transaction");
}

/* The chunk whose rows follow: its table names the errors of this transaction. */
static int pg_chunk_begin(ferry_conn *conn, const ferry_chunk_rec *rec, ferry_err *err)
{
	(void)err;
	if (rec->table)
		snprintf(PGC(conn)->wrote, sizeof(PGC(conn)->wrote), "%s", rec->table);
	return 0;
}

static int pg_commit(ferry_conn *conn, ferry_err *err)
{
	pg_conn *c = PGC(conn);
	c->sp_open = 0;
	PGresult *res = PQexec(c->db, "COMMIT");
	int rc = 0;
	if (PQresultStatus(res) != PGRES_COMMAND_OK && c->wrote[0])
		rc = ferry_pg__fail(c, res, err, "commit the rows of table \"%s\"", c->wrote);
	else if (PQresultStatus(res) != PGRES_COMMAND_OK)
		rc = ferry_pg__fail(c, res, err, "commit");
	else if (strcmp(PQcmdStatus(res), "COMMIT") != 0)
		rc = ferry_err_set(err, FERRY_ERROR, "could not commit in %s: the transaction had failed and was rolled back",
		                   c->label);
	PQclear(res);
	return rc;
}

static int pg_rollback(ferry_conn *conn, ferry_err *err)
{
	pg_conn *c = PGC(conn);
	c->sp_open = 0;
	if (PQstatus(c->db) != CONNECTION_OK || PQtransactionStatus(c->db) == PQTRANS_IDLE)
		return 0;
	return ferry_pg__exec(c, "ROLLBACK", err, "roll back");
}

/* ---- snapshot ---------------------------------------------------------------------- */

static int pg_snapshot_export(ferry_conn *conn, const char **token, ferry_err *err)
{
	pg_conn *c = PGC(conn);
	*token = NULL;
	if (c->token) {
		*token = c->token;
		return 0;
	}
	if (PQtransactionStatus(c->db) != PQTRANS_IDLE)
		return ferry_err_set(err, FERRY_EUSAGE, "cannot export a snapshot of %s: a transaction is open",
		                     c->label);
	int rc = ferry_pg__exec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err,
	                        "begin a read transaction");
	PGresult *res = NULL;
	if (rc == 0)
		rc = ferry_pg__query(c, &res, "SELECT pg_export_snapshot()", 0, NULL, err,
		                     "export a snapshot");
	if (rc == 0) {
		c->token = ferry__strdup(PQgetvalue(res, 0, 0));
		PQclear(res);
		if (!c->token)
			rc = OOM(err);
	}
	if (rc) {
		ferry_err ignored;
		pg_rollback(conn, &ignored);
		return rc;
	}
	*token = c->token;
	return 0;
}

static int pg_snapshot_join(ferry_conn *conn, const char *token, ferry_err *err)
{
	pg_conn *c = PGC(conn);
	int ok = token && *token && strlen(token) < 64;
	for (const char *p = token; ok && *p; p++)
		ok = isxdigit((unsigned char)*p) || *p == '-';
	if (!ok)
		return ferry_err_set(err, FERRY_EUSAGE, "cannot join snapshot \"%s\" in %s",
		                     token ? token : "(null)", c->label);
	char sql[128];
	snprintf(sql, sizeof(sql), "SET TRANSACTION SNAPSHOT '%s'", token);
	int rc = ferry_pg__exec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err,
	                        "begin a read transaction");
	if (rc == 0 && (rc = ferry_pg__exec(c, sql, err, "join the snapshot")) != 0) {
		ferry_err ignored;
		pg_rollback(conn, &ignored);
	}
	return rc;
}

/* ---- small queries ----------------------------------------------------------------- */

static int pg_table_rows(ferry_conn *conn, const char *table, int64_t *out, ferry_err *err)
{
	pg_conn *c = PGC(conn);
	*out = 0;
	ferry_buf b = FERRY_BUF_INIT;
	ferry_buf_puts(&b, "SELECT count(*) FROM ");
	ferry_pg__buf_table(&b, c, table);
	if (b.failed)
		return OOM(err);
	char what[300];
	snprintf(what, sizeof(what), "count the rows of table \"%s\"", table);
	PGresult *res;
	int rc = ferry_pg__query(c, &res, b.data, 0, NULL, err, what);
	ferry_buf_free(&b);
	if (rc)
		return rc;
	*out = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return ferry_pg__touch(c, table) ? OOM(err) : 0;
}

static size_t pg_quote_ident(char *buf, size_t cap, const char *ident)
{
	return ferry_pg__quote_ident(buf, cap, ident);
}

static const char *const pg_schemes[] = {"postgresql", "postgres", NULL};

/* A libpq conninfo string ("host=h dbname=d ..."): a keyword and '=' first, no scheme. */
static int is_conninfo(const char *s)
{
	if (strstr(s, "://"))
		return 0;
	while (*s == ' ' || *s == '\t')
		s++;
	const char *k = s;
	while ((*s >= 'a' && *s <= 'z') || *s == '_')
		s++;
	if (s == k)
		return 0;
	while (*s == ' ' || *s == '\t')
		s++;
	return *s == '=';
}

/* One value of an address, escaped so that no value can pass for the separators. */
static void ident_put(ferry_buf *b, const char *s, int lower)
{
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '%' || c == '@' || c == ':' || c == '/' || c == '?' || c == '&' || c == '=' ||
		    c <= ' ' || c >= 0x7f)
			ferry_buf_printf(b, "%%%02X", c);
		else
			ferry_buf_printf(b, "%c", lower && c >= 'A' && c <= 'Z' ? c + 32 : c);
	}
}

/* The database as libpq would reach it, whatever the spelling (a URL or a conninfo string,
 * the port in the host part or in a parameter), with what the address leaves out taken
 * from the environment and libpq's defaults as libpq takes it (PGHOST, PGPORT, the login
 * name, the database named after the user); the password and the settings that do not
 * choose the database are left out. */
static int pg_url_identity(char **out, const char *url, ferry_err *err)
{
	*out = NULL;
	int rc = ferry_pg__pq_load(err);
	if (rc)
		return rc;
	char *msg = NULL;
	PQconninfoOption *given = PQconninfoParse(url, &msg);
	if (!given) {
		char *m = ferry_url_mask(url);
		char why[400];
		one_line(msg ? msg : "out of memory", why, sizeof(why));
		rc = ferry_err_set(err, msg ? FERRY_EUSAGE : FERRY_ENOMEM, "cannot read the address \"%s\": %s",
		                   m ? m : "?", why);
		free(m);
		PQfreemem(msg);
		return rc;
	}
	PQconninfoOption *defs = PQconndefaults();
	enum { HOST, HOSTADDR, PORT, DBNAME, USER, OPTIONS, SERVICE, NKEYS };
	static const char *const keys[NKEYS] = {"host", "hostaddr", "port", "dbname", "user", "options", "service"};
	const char *val[NKEYS] = {0};
	for (int pass = 0; pass < 2; pass++)
		for (PQconninfoOption *o = pass ? defs : given; o && o->keyword; o++)
			for (int k = 0; k < NKEYS; k++)
				if (!val[k] && strcmp(o->keyword, keys[k]) == 0 && o->val && *o->val)
					val[k] = o->val;
	if (!val[DBNAME])
		val[DBNAME] = val[USER];
	ferry_buf b = FERRY_BUF_INIT;
	ferry_buf_puts(&b, "postgresql://");
	ident_put(&b, val[USER], 0);
	ferry_buf_puts(&b, "@");
	ident_put(&b, val[HOST], 1);
	ferry_buf_puts(&b, ":");
	ident_put(&b, val[PORT], 0);
	ferry_buf_puts(&b, "/");
	ident_put(&b, val[DBNAME], 0);
	for (int k = HOSTADDR; k < NKEYS; k++) {
		if (k == PORT || k == DBNAME || k == USER || !val[k])
			continue;
		ferry_buf_printf(&b, "%s%s=", b.data && strchr(b.data, '?') ? "&" : "?", keys[k]);
		ident_put(&b, val[k], 0);
	}
	PQconninfoFree(given);
	if (defs)
		PQconninfoFree(defs);
	if (b.failed) {
		ferry_buf_free(&b);
		return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	}
	*out = ferry_buf_detach(&b);
	return 0;
}

/* postgresql:// and postgres:// URLs, and conninfo strings, which go to libpq as they are:
 * never a file name, for a conninfo string may hold a password. */
static int pg_claim(const char *url)
{
	size_t n = ferry_url_scheme(url);
	for (const char *const *s = pg_schemes; n && *s; s++)
		if (strlen(*s) == n && strncmp(*s, url, n) == 0)
			return FERRY_CLAIM_SCHEME;
	return is_conninfo(url) ? FERRY_CLAIM_FORM : FERRY_CLAIM_NONE;
}

static const ferry_engine_core pg_core = {
	.connect = pg_connect,
	.close = pg_close,
	.introspect = ferry_pg__introspect,
	.quote_ident = pg_quote_ident,
	.exec = pg_exec,
	.begin = pg_begin,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.exec_params = ferry_pg__exec_params,
};

static const ferry_engine_read pg_read = {
	.snapshot_export = pg_snapshot_export,
	.snapshot_join = pg_snapshot_join,
	.plan_chunks = ferry_pg__plan_chunks,
	.reader_open = ferry_pg__reader_open,
	.reader_next = ferry_pg__reader_next,
	.reader_close = ferry_pg__reader_close,
};

static const ferry_engine_write pg_write = {
	.writer_open = ferry_pg__writer_open,
	.chunk_begin = pg_chunk_begin,
	.writer_write = ferry_pg__writer_write,
	.writer_close = ferry_pg__writer_close,
	.create_table = ferry_pg__create_table,
	.create_indexes = ferry_pg__create_indexes,
	.table_rows = pg_table_rows,
	.fk_check = ferry_pg__fk_check,
	.finish = ferry_pg__finish,
	.discard = pg_discard,
	.later_track = ferry_pg__later_track,
	.later_untrack = ferry_pg__later_untrack,
};

static const ferry_engine_migrate pg_migrate = {
	.lock_try = ferry_pg__lock_try,
	.lock_release = ferry_pg__lock_release,
	.split_sql = ferry_pg__split_sql,
	.needs_autocommit = ferry_pg__needs_autocommit,
};

const ferry_engine ferry__postgres_engine = {
	.version = FERRY_ENGINE_VERSION,
	.name = "postgres",
	.schemes = pg_schemes,
	.max_writers = 4,
	.flags = FERRY_ENGINE_BLANK_PADDED_CHAR,
	.claim = pg_claim,
	.url_identity = pg_url_identity,
	.core = &pg_core,
	.read = &pg_read,
	.write = &pg_write,
	.migrate = &pg_migrate,
	.capture = &ferry__pg_capture,
	.pool_switch = &ferry__pg_bouncer,
	.max_ident = 63, /* NAMEDATALEN - 1 */
};
