/* sqlite_capture.c — change capture of the SQLite engine for ferry sync (DESIGN.md §8,
 * docs/ONLINE.md): triggers on the captured tables write the keys of every changed row into
 * a change log inside the source file itself, so the writes of every process are captured;
 * ferry reads the log in sequence order on a connection of its own and trims what the target
 * has committed. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include "sqlite_int.h"

/* More key columns than any real primary key has; each is two columns of the log. */
#define CAP_MAX_KEYS 32
/* A trim deletes at most this many rows per transaction, at most once per interval, so it
 * never holds the write lock long enough for an application's writer to notice. */
#define CAP_TRIM_ROWS 2000
#define CAP_TRIM_BATCHES 4
#define CAP_TRIM_EVERY 1.0
#define CAP_TRIM_BUSY_MS 50
/* Waiting for the write lock to install or remove the capture. */
#define CAP_INSTALL_BUSY_MS 10000
/* The longest sleep between two looks at PRAGMA data_version while next() waits. */
#define CAP_POLL_MAX_MS 20

/* The op column of the log: ferry_change_op; markers have tbl = -1. */
#define NOW_US "CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)"

typedef struct cap_table {
	char *name;
	size_t nkeys;
	char *keys_text;   /* the key columns as the meta table stores them: "k1","k2" */
	char *sig;         /* CREATE sql of the table and of its unique indexes, for DDL checks */
	size_t caller;     /* index in the caller's tables (the log's tbl is the install's) */
} cap_table;

struct ferry_capture {
	sqlite3 *db;           /* ferry's own connection: reads the log, trims it */
	char *path;
	char *run_id;
	char hex[17];          /* the run's names: ferry_changes_<hex>, ferry_<hex>_<n>_... */
	char *log_q;           /* "ferry_changes_<hex>", quoted */
	size_t ntables;
	cap_table *tables;
	size_t width;          /* key columns per side (o1..oW, n1..nW) */
	uint64_t snap_pos;     /* what snapshot() reports */
	uint64_t acked;        /* acknowledged by the caller */
	uint64_t trimmed;      /* persisted: positions up to here may be gone from the log */
	double last_trim;
	int started;
	uint64_t pos;          /* the last position delivered */
	int64_t data_version;
	int64_t schema_version;
	sqlite3_stmt *st_next;
	ferry_value *vals;     /* 2 x width values per change of the last next() */
	size_t nvals;
	ferry_arena *arena;    /* texts and blobs of the last next() */
};

/* ---- small helpers ----------------------------------------------------------------- */

static int oom(ferry_err *err)
{
	return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
}

static void names_of(const char *run_id, char hex[17])
{
	uint64_t h = ferry__hash64(run_id, strlen(run_id), 0);
	snprintf(hex, 17, "%016llx", (unsigned long long)h);
}

static int db_fail(sqlite3 *db, const char *path, int rc, ferry_err *err, const char *what)
{
	int code = (rc & 0xff) == SQLITE_NOMEM ? FERRY_ENOMEM
	         : (rc & 0xff) == SQLITE_CORRUPT ? FERRY_ECORRUPT : FERRY_ERROR;
	return ferry_err_set(err, code, "could not %s on \"%s\": %s", what, path,
	                     db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

static int db_exec(sqlite3 *db, const char *path, const char *sql, ferry_err *err,
                   const char *what)
{
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : db_fail(db, path, rc, err, what);
}

static void db_rollback(sqlite3 *db)
{
	if (!sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

/* One integer from sql with up to two text parameters; *found = 0 (and *out 0) when no row. */
static int db_int(sqlite3 *db, const char *path, const char *sql, const char *p1,
                  const char *p2, int64_t *out, int *found, ferry_err *err, const char *what)
{
	sqlite3_stmt *st = NULL;
	*out = 0;
	if (found)
		*found = 0;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK) {
		if (p1)
			sqlite3_bind_text(st, 1, p1, -1, SQLITE_STATIC);
		if (p2)
			sqlite3_bind_text(st, 2, p2, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
	}
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int64(st, 0);
		if (found)
			*found = 1;
		rc = SQLITE_DONE;
	}
	if (rc != SQLITE_DONE) {
		db_fail(db, path, rc, err, what);
		sqlite3_finalize(st);
		return err->code;
	}
	sqlite3_finalize(st);
	return 0;
}

static int64_t pragma_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t v = -1;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* The database file of a connection, refusing one only this process can see. */
static int file_of(ferry_conn *c, const char **path, ferry_err *err)
{
	sq_conn *s = SQ(c);
	*path = s->path;
	if (s->memory || !s->path[0])
		return ferry_err_set(err, FERRY_EUSAGE,
		                     "cannot capture changes of \"%s\": only a database file on disk can "
		                     "be shared with the application", s->path);
	return 0;
}

static int open_own(sqlite3 **out, const char *path, ferry_err *err)
{
	*out = NULL;
	int rc = sqlite3_open_v2(path, out, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		db_fail(*out, path, rc, err, "open the database for change capture");
		sqlite3_close(*out);
		*out = NULL;
		return err->code;
	}
	sqlite3_extended_result_codes(*out, 1);
	sqlite3_busy_timeout(*out, CAP_INSTALL_BUSY_MS);
	if (sqlite3_db_readonly(*out, "main") == 1) {
		sqlite3_close(*out);
		*out = NULL;
		return ferry_err_set(err, FERRY_ERROR,
		                     "cannot capture changes of \"%s\": the file is read-only, and the "
		                     "capture writes its change log into it", path);
	}
	return 0;
}

/* ---- what a table's unique constraints evict --------------------------------------- */

/* Skip a quoted string or identifier, or a comment, starting at s[i]; returns the index
 * after it, or i when none starts there. *comment is set for a comment. */
static size_t skip_lexeme(const char *s, size_t i, int *comment)
{
	char q = s[i];
	*comment = 0;
	if (q == '\'' || q == '"' || q == '`' || q == '[') {
		char end = q == '[' ? ']' : q;
		for (i++; s[i]; i++) {
			if (s[i] != end)
				continue;
			if (end != ']' && s[i + 1] == end) {
				i++;
				continue;
			}
			return i + 1;
		}
		return i;
	}
	if (q == '-' && s[i + 1] == '-') {
		*comment = 1;
		while (s[i] && s[i] != '\n')
			i++;
		return i;
	}
	if (q == '/' && s[i + 1] == '*') {
		*comment = 1;
		for (i += 2; s[i] && !(s[i] == '*' && s[i + 1] == '/'); i++)
			;
		return s[i] ? i + 2 : i;
	}
	return i;
}

static int is_word_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '_' || ch == '$' || (unsigned char)ch >= 0x80;
}

/* Drop a final ASC or DESC (an index's order says nothing about equality). */
static void strip_order(char *t)
{
	size_t n = strlen(t);
	while (n && (t[n - 1] == ' ' || t[n - 1] == '\t' || t[n - 1] == '\n' || t[n - 1] == '\r'))
		t[--n] = '\0';
	static const char *const words[] = {"asc", "desc"};
	for (size_t w = 0; w < 2; w++) {
		size_t k = strlen(words[w]);
		if (n > k && strcasecmp(t + n - k, words[w]) == 0 && !is_word_char(t[n - k - 1]) &&
		    t[n - k - 1] != '"' && t[n - k - 1] != ']' && t[n - k - 1] != '`') {
			t[n - k] = '\0';
			return;
		}
	}
}

/* Split CREATE [UNIQUE] INDEX ... ON t (term, ...) [WHERE pred] into its terms and its
 * predicate (comments become spaces). Returns the number of terms, or -1 (out of memory or
 * not understood). */
static int parse_index(const char *sql, char ***terms, char **where)
{
	*terms = NULL;
	*where = NULL;
	ferry_buf cur = FERRY_BUF_INIT;
	char **out = NULL;
	size_t n = 0, cap = 0;
	int depth = 0, done = 0;
	size_t i = 0;
	while (sql[i] && !done) {
		int comment;
		size_t j = skip_lexeme(sql, i, &comment);
		if (j != i) {
			if (depth > 0)
				ferry_buf_add(&cur, comment ? " " : sql + i, comment ? 1 : j - i);
			i = j;
			continue;
		}
		char ch = sql[i++];
		if (depth == 0) {
			if (ch == '(')
				depth = 1;
			continue;
		}
		if (ch == '(')
			depth++;
		if (ch == ')' && --depth == 0)
			done = 1;
		if ((ch == ',' && depth == 1) || done) {
			if (ferry__grow(&out, &cap, n + 1, sizeof(char *)) != 0)
				goto fail;
			out[n] = cur.data ? ferry_buf_detach(&cur) : ferry__strdup("");
			if (!out[n])
				goto fail;
			strip_order(out[n++]);
			continue;
		}
		ferry_buf_add(&cur, &ch, 1);
	}
	if (!done || cur.failed)
		goto fail;
	/* What follows the terms: nothing, or WHERE and the predicate. */
	while (sql[i]) {
		int comment;
		size_t j = skip_lexeme(sql, i, &comment);
		if (j != i && comment) {
			i = j;
			continue;
		}
		if (sql[i] == ' ' || sql[i] == '\t' || sql[i] == '\n' || sql[i] == '\r') {
			i++;
			continue;
		}
		break;
	}
	if (sql[i]) {
		if (strncasecmp(sql + i, "where", 5) != 0 || is_word_char(sql[i + 5]))
			goto fail;
		ferry_buf w = FERRY_BUF_INIT;
		for (i += 5; sql[i];) {
			int comment;
			size_t j = skip_lexeme(sql, i, &comment);
			if (j != i) {
				ferry_buf_add(&w, comment ? " " : sql + i, comment ? 1 : j - i);
				i = j;
			} else {
				ferry_buf_add(&w, sql + i++, 1);
			}
		}
		if (w.failed || !w.data)
			goto fail;
		*where = ferry_buf_detach(&w);
	}
	*terms = out;
	return (int)n;
fail:
	ferry_buf_free(&cur);
	for (size_t k = 0; k < n; k++)
		free(out[k]);
	free(out);
	return -1;
}

/* The columns of a table (pragma table_xinfo order) and facts the triggers need. */
typedef struct tinfo {
	size_t ncols;
	char **cols;
	int npk;
	int has_pk_index;    /* the primary key is an index (not the rowid itself) */
	char *ipk;           /* the INTEGER PRIMARY KEY column (the rowid's alias), or NULL */
	int rowid;           /* a rowid table */
	const char *rowid_name; /* how to name the rowid in SQL, NULL when every alias is a column */
} tinfo;

static void tinfo_free(tinfo *t)
{
	for (size_t i = 0; i < t->ncols; i++)
		free(t->cols[i]);
	free(t->cols);
	free(t->ipk);
	memset(t, 0, sizeof(*t));
}

static int read_tinfo(sqlite3 *db, const char *path, const char *table, tinfo *t,
                      ferry_err *err)
{
	memset(t, 0, sizeof(*t));
	sqlite3_stmt *st = NULL;
	size_t cap = 0;
	char *pk1 = NULL;
	int rc = sqlite3_prepare_v2(db, "SELECT name, pk FROM pragma_table_xinfo(?1) WHERE hidden <> 1 ORDER BY cid",
	                            -1, &st, NULL);
	if (rc == SQLITE_OK)
		sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		if (ferry__grow(&t->cols, &cap, t->ncols + 1, sizeof(char *)) != 0 ||
		    !(t->cols[t->ncols] = ferry__strdup(name ? name : ""))) {
			sqlite3_finalize(st);
			free(pk1);
			tinfo_free(t);
			return oom(err);
		}
		t->ncols++;
		if (sqlite3_column_int(st, 1) > 0) {
			t->npk++;
			if (!pk1)
				pk1 = ferry__strdup(name ? name : "");
		}
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		free(pk1);
		tinfo_free(t);
		return db_fail(db, path, rc, err, "read the columns of a captured table");
	}
	int64_t v;
	int found;
	rc = db_int(db, path, "SELECT count(*) FROM pragma_index_list(?1) WHERE origin = 'pk'", table,
	            NULL, &v, NULL, err, "read the indexes of a captured table");
	t->has_pk_index = v > 0;
	if (rc == 0)
		rc = db_int(db, path, "SELECT wr FROM pragma_table_list(?1) WHERE schema = 'main'", table,
		            NULL, &v, &found, err, "read a captured table");
	if (rc) {
		free(pk1);
		tinfo_free(t);
		return rc;
	}
	t->rowid = found && v == 0;
	if (t->rowid && t->npk == 1 && !t->has_pk_index)
		t->ipk = pk1;
	else
		free(pk1);
	static const char *const aliases[] = {"rowid", "_rowid_", "oid"};
	for (size_t a = 0; t->rowid && !t->rowid_name && a < 3; a++) {
		int shadowed = 0;
		for (size_t i = 0; i < t->ncols; i++)
			shadowed |= strcasecmp(t->cols[i], aliases[a]) == 0;
		if (!shadowed)
			t->rowid_name = aliases[a];
	}
	return 0;
}

/* One unique constraint of a table as two SQL conditions: `match`, true for the rows of the
 * table that clash with NEW (the rows a REPLACE evicts), and `same`, true when an UPDATE
 * leaves the constraint's values as they were (NULL when some term is an expression). */
typedef struct uniq {
	char *match;
	char *same;
} uniq;

static void uniqs_free(uniq *u, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(u[i].match);
		free(u[i].same);
	}
	free(u);
}

/* NEW's values as a one-row table with the table's column names, so that an index
 * expression evaluated over it gives the expression of the row being written. */
static void new_row(ferry_buf *b, const tinfo *t)
{
	ferry_buf_puts(b, "(SELECT ");
	for (size_t i = 0; i < t->ncols; i++) {
		ferry_buf_puts(b, i ? ", NEW." : "NEW.");
		ferry_buf_ident(b, t->cols[i]);
		ferry_buf_puts(b, " AS ");
		ferry_buf_ident(b, t->cols[i]);
	}
	ferry_buf_puts(b, ")");
}

/* The conditions of one unique index. */
static int index_uniq(sqlite3 *db, const char *path, const char *table, const char *index,
                      int partial, const tinfo *t, uniq *out, ferry_err *err)
{
	memset(out, 0, sizeof(*out));
	char **terms = NULL, *where = NULL;
	int nterms = -1, has_expr = 0;
	/* The index's own text, needed only for expressions and predicates. */
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, "SELECT sql FROM sqlite_schema WHERE type = 'index' AND name = ?1",
	                            -1, &st, NULL);
	char *isql = NULL;
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, index, -1, SQLITE_STATIC);
		if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			if (sqlite3_column_type(st, 0) != SQLITE_NULL &&
			    !(isql = ferry__strdup((const char *)sqlite3_column_text(st, 0)))) {
				sqlite3_finalize(st);
				return oom(err);
			}
			rc = SQLITE_DONE;
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return db_fail(db, path, rc, err, "read a unique index of a captured table");

	ferry_buf m = FERRY_BUF_INIT, s = FERRY_BUF_INIT;
	size_t k = 0;
	rc = sqlite3_prepare_v2(db, "SELECT cid, name, coll FROM pragma_index_xinfo(?1) WHERE key ORDER BY seqno",
	                        -1, &st, NULL);
	if (rc == SQLITE_OK)
		sqlite3_bind_text(st, 1, index, -1, SQLITE_STATIC);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		rc = SQLITE_OK;
		int cid = sqlite3_column_int(st, 0);
		const char *name = (const char *)sqlite3_column_text(st, 1);
		const char *coll = (const char *)sqlite3_column_text(st, 2);
		if (m.len)
			ferry_buf_puts(&m, " AND ");
		if (cid >= 0 && name) {
			ferry_buf_ident(&m, name);
			ferry_buf_puts(&m, " COLLATE ");
			ferry_buf_ident(&m, coll ? coll : "BINARY");
			ferry_buf_puts(&m, " = NEW.");
			ferry_buf_ident(&m, name);
			if (s.len)
				ferry_buf_puts(&s, " AND ");
			ferry_buf_puts(&s, "NEW.");
			ferry_buf_ident(&s, name);
			ferry_buf_puts(&s, " IS OLD.");
			ferry_buf_ident(&s, name);
		} else {
			/* An expression (or the rowid of a partial index): its text from the index. */
			if (nterms < 0 && isql)
				nterms = parse_index(isql, &terms, &where);
			if (nterms < 0 || k >= (size_t)nterms || cid != -2) {
				rc = SQLITE_MISUSE;
				break;
			}
			ferry_buf_printf(&m, "(%s) COLLATE ", terms[k]);
			ferry_buf_ident(&m, coll ? coll : "BINARY");
			ferry_buf_printf(&m, " = (SELECT (%s) FROM ", terms[k]);
			new_row(&m, t);
			ferry_buf_puts(&m, ")");
			has_expr = 1; /* no cheap "unchanged" test for an expression */
		}
		k++;
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE && partial) {
		if (nterms < 0 && isql)
			nterms = parse_index(isql, &terms, &where);
		if (!where)
			rc = SQLITE_MISUSE;
		else
			ferry_buf_printf(&m, " AND (%s)", where);
	}
	for (int i = 0; i < nterms; i++)
		free(terms[i]);
	free(terms);
	free(where);
	free(isql);
	if (rc == SQLITE_MISUSE) {
		ferry_buf_free(&m);
		ferry_buf_free(&s);
		return ferry_err_set(err, FERRY_EUSAGE,
		                     "cannot capture changes of table \"%s\" in \"%s\": ferry does not "
		                     "understand the definition of its unique index \"%s\"",
		                     table, path, index);
	}
	if (rc != SQLITE_DONE) {
		ferry_buf_free(&m);
		ferry_buf_free(&s);
		return db_fail(db, path, rc, err, "read a unique index of a captured table");
	}
	if (m.failed || !m.data) {
		ferry_buf_free(&s);
		return oom(err);
	}
	if (s.failed) {
		ferry_buf_free(&m);
		return oom(err);
	}
	out->match = ferry_buf_detach(&m);
	out->same = has_expr || !s.data ? NULL : ferry_buf_detach(&s);
	ferry_buf_free(&s);
	return 0;
}

/* Every unique constraint of a table, the rowid among them. */
static int table_uniqs(sqlite3 *db, const char *path, const char *table, const tinfo *t,
                       uniq **out, size_t *n, ferry_err *err)
{
	*out = NULL;
	*n = 0;
	size_t cap = 0;
	uniq *u = NULL;
	/* The rowid: its alias column, or the rowid named explicitly by an INSERT. */
	const char *rid = t->ipk ? t->ipk : t->rowid_name;
	if (t->rowid && rid) {
		ferry_buf m = FERRY_BUF_INIT, s = FERRY_BUF_INIT;
		ferry_buf_ident(&m, rid);
		ferry_buf_puts(&m, " = NEW.");
		ferry_buf_ident(&m, rid);
		ferry_buf_puts(&s, "NEW.");
		ferry_buf_ident(&s, rid);
		ferry_buf_puts(&s, " IS OLD.");
		ferry_buf_ident(&s, rid);
		if (m.failed || s.failed || ferry__grow(&u, &cap, 1, sizeof(uniq)) != 0) {
			ferry_buf_free(&m);
			ferry_buf_free(&s);
			return oom(err);
		}
		u[0].match = ferry_buf_detach(&m);
		u[0].same = ferry_buf_detach(&s);
		*n = 1;
	}
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, "SELECT name, partial FROM pragma_index_list(?1) WHERE \"unique\" ORDER BY name",
	                            -1, &st, NULL);
	if (rc == SQLITE_OK)
		sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		rc = SQLITE_OK;
		if (ferry__grow(&u, &cap, *n + 1, sizeof(uniq)) != 0) {
			rc = SQLITE_NOMEM;
			break;
		}
		int r = index_uniq(db, path, table, (const char *)sqlite3_column_text(st, 0),
		                   sqlite3_column_int(st, 1), t, &u[*n], err);
		if (r) {
			sqlite3_finalize(st);
			uniqs_free(u, *n);
			*n = 0;
			return r;
		}
		(*n)++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		uniqs_free(u, *n);
		*n = 0;
		return rc == SQLITE_NOMEM ? oom(err)
		                          : db_fail(db, path, rc, err, "read the unique indexes of a captured table");
	}
	*out = u;
	return 0;
}

/* ---- signatures: the definition that a DDL statement would change ------------------ */

/* The table's CREATE sql and the name and sql of each of its unique indexes; *out NULL
 * (and 0 returned) when the table does not exist. */
static int table_sig(sqlite3 *db, const char *path, const char *table, char **out,
                     ferry_err *err)
{
	*out = NULL;
	ferry_buf b = FERRY_BUF_INIT;
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?1",
	                            -1, &st, NULL);
	int found = 0;
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
		if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			found = 1;
			const char *sql = (const char *)sqlite3_column_text(st, 0);
			ferry_buf_puts(&b, sql ? sql : "");
			rc = SQLITE_DONE;
		}
	}
	sqlite3_finalize(st);
	st = NULL;
	if (rc == SQLITE_DONE && found)
		rc = sqlite3_prepare_v2(db,
		                        "SELECT m.name, m.sql FROM pragma_index_list(?1) AS l "
		                        "JOIN sqlite_schema AS m ON m.type = 'index' AND m.name = l.name "
		                        "WHERE l.\"unique\" AND m.sql IS NOT NULL ORDER BY m.name",
		                        -1, &st, NULL);
	if (st) {
		sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW)
			ferry_buf_printf(&b, "\n%s: %s", (const char *)sqlite3_column_text(st, 0),
			                 (const char *)sqlite3_column_text(st, 1));
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		ferry_buf_free(&b);
		return db_fail(db, path, rc, err, "read the definition of a captured table");
	}
	if (!found) {
		ferry_buf_free(&b);
		return 0;
	}
	if (b.failed || !(*out = ferry_buf_detach(&b)))
		return oom(err);
	return 0;
}

/* ---- install ----------------------------------------------------------------------- */

static const char meta_ddl[] =
	"CREATE TABLE IF NOT EXISTS ferry_capture(run_id TEXT NOT NULL, tbl INTEGER NOT NULL, "
	"name TEXT NOT NULL, keys TEXT NOT NULL, sig TEXT NOT NULL, acked INTEGER NOT NULL DEFAULT 0, "
	"PRIMARY KEY(run_id, tbl))";

static void put_cols(ferry_buf *b, const char *prefix, size_t n)
{
	for (size_t i = 1; i <= n; i++)
		ferry_buf_printf(b, ", %s%zu", prefix, i);
}

static void put_keys(ferry_buf *b, const char *row, const ferry_capture_table *t)
{
	for (size_t i = 0; i < t->nkeys; i++) {
		ferry_buf_puts(b, ", ");
		if (row)
			ferry_buf_printf(b, "%s.", row);
		ferry_buf_ident(b, t->keys[i]);
	}
}

/* The start of a trigger: CREATE TRIGGER "ferry_<hex>_<n>_<what>" <when> ON "t" WHEN ...
 * BEGIN; writes of ferry's own connection (a row in the origin table, inside its
 * transaction) are not captured. */
static void trigger_head(ferry_buf *b, const ferry_capture *cap, size_t n, const char *what,
                         const char *when, const char *table)
{
	char name[64];
	snprintf(name, sizeof(name), "ferry_%s_%zu_%s", cap->hex, n, what);
	ferry_buf_puts(b, "CREATE TRIGGER ");
	ferry_buf_ident(b, name);
	ferry_buf_printf(b, " %s ON ", when);
	ferry_buf_ident(b, table);
	ferry_buf_printf(b, " WHEN NOT EXISTS (SELECT 1 FROM \"ferry_origin_%s\") BEGIN ", cap->hex);
}

/* The five triggers of table n. */
static int install_triggers(ferry_capture *cap, size_t n, const ferry_capture_table *t,
                            ferry_err *err)
{
	tinfo ti;
	int rc = read_tinfo(cap->db, cap->path, t->table, &ti, err);
	if (rc)
		return rc;
	if (ti.npk == 0) {
		tinfo_free(&ti);
		return ferry_err_set(err, FERRY_EUSAGE,
		                     "cannot capture changes of table \"%s\" in \"%s\": it has no primary "
		                     "key, and its rowids may change (VACUUM renumbers them); give the "
		                     "table a primary key (an INTEGER PRIMARY KEY column keeps its rowids)",
		                     t->table, cap->path);
	}
	for (size_t k = 0; k < t->nkeys; k++) {
		int known = 0;
		for (size_t i = 0; i < ti.ncols; i++)
			known |= strcmp(ti.cols[i], t->keys[k]) == 0;
		if (!known) {
			tinfo_free(&ti);
			return ferry_err_set(err, FERRY_ENOTFOUND,
			                     "cannot capture changes of table \"%s\" in \"%s\": it has no "
			                     "key column \"%s\"", t->table, cap->path, t->keys[k]);
		}
	}
	uniq *u = NULL;
	size_t nu = 0;
	if ((rc = table_uniqs(cap->db, cap->path, t->table, &ti, &u, &nu, err)) != 0) {
		tinfo_free(&ti);
		return rc;
	}

	ferry_buf b = FERRY_BUF_INIT;
	char log_cols[64];
	snprintf(log_cols, sizeof(log_cols), "INSERT INTO \"ferry_changes_%s\"(tbl, op, at", cap->hex);
	/* AFTER INSERT / UPDATE / DELETE: the key of the row written. */
	trigger_head(&b, cap, n, "ins", "AFTER INSERT", t->table);
	ferry_buf_puts(&b, log_cols);
	put_cols(&b, "n", t->nkeys);
	ferry_buf_printf(&b, ") VALUES (%zu, %d, " NOW_US, n, FERRY_CHANGE_INSERT);
	put_keys(&b, "NEW", t);
	ferry_buf_puts(&b, "); END;\n");

	trigger_head(&b, cap, n, "upd", "AFTER UPDATE", t->table);
	ferry_buf_puts(&b, log_cols);
	put_cols(&b, "o", t->nkeys);
	put_cols(&b, "n", t->nkeys);
	ferry_buf_printf(&b, ") VALUES (%zu, %d, " NOW_US, n, FERRY_CHANGE_UPDATE);
	put_keys(&b, "OLD", t);
	put_keys(&b, "NEW", t);
	ferry_buf_puts(&b, "); END;\n");

	trigger_head(&b, cap, n, "del", "AFTER DELETE", t->table);
	ferry_buf_puts(&b, log_cols);
	put_cols(&b, "o", t->nkeys);
	ferry_buf_printf(&b, ") VALUES (%zu, %d, " NOW_US, n, FERRY_CHANGE_DELETE);
	put_keys(&b, "OLD", t);
	ferry_buf_puts(&b, "); END;\n");

	/* BEFORE INSERT / UPDATE: the rows a REPLACE would evict through a unique constraint,
	 * which it deletes without firing delete triggers (unless recursive_triggers is on). A
	 * write that does not evict them (a plain INSERT that fails, OR IGNORE, an upsert) logs
	 * them anyway: a spurious entry costs a re-read, a missing one would lose a delete. */
	for (int upd = 0; upd < 2; upd++) {
		trigger_head(&b, cap, n, upd ? "bupd" : "bins", upd ? "BEFORE UPDATE" : "BEFORE INSERT",
		             t->table);
		for (size_t i = 0; i < nu; i++) {
			ferry_buf_puts(&b, log_cols);
			put_cols(&b, "o", t->nkeys);
			ferry_buf_printf(&b, ") SELECT %zu, %d, " NOW_US, n, FERRY_CHANGE_DELETE);
			put_keys(&b, NULL, t);
			ferry_buf_puts(&b, " FROM ");
			ferry_buf_ident(&b, t->table);
			ferry_buf_printf(&b, " WHERE (%s)", u[i].match);
			if (upd) {
				/* Not the row being updated, and only when the constraint's values change. */
				if (u[i].same)
					ferry_buf_printf(&b, " AND NOT (%s)", u[i].same);
				ferry_buf_puts(&b, " AND NOT (");
				for (size_t k = 0; k < t->nkeys; k++) {
					if (k)
						ferry_buf_puts(&b, " AND ");
					ferry_buf_ident(&b, t->keys[k]);
					ferry_buf_puts(&b, " IS OLD.");
					ferry_buf_ident(&b, t->keys[k]);
				}
				ferry_buf_puts(&b, ")");
			}
			ferry_buf_puts(&b, ";\n");
		}
		ferry_buf_puts(&b, "END;\n");
	}
	uniqs_free(u, nu);

	/* Triggers are compiled when a statement that fires them is prepared: prepare one of
	 * each kind now, so that a trigger SQLite would refuse fails the install, never the
	 * application's writes. */
	ferry_buf probe = FERRY_BUF_INIT;
	if (!b.failed && b.data) {
		ferry_buf_puts(&probe, "INSERT OR REPLACE INTO ");
		ferry_buf_ident(&probe, t->table);
		ferry_buf_puts(&probe, " DEFAULT VALUES;\nUPDATE OR REPLACE ");
		ferry_buf_ident(&probe, t->table);
		ferry_buf_puts(&probe, " SET ");
		ferry_buf_ident(&probe, t->keys[0]);
		ferry_buf_puts(&probe, " = ");
		ferry_buf_ident(&probe, t->keys[0]);
		ferry_buf_puts(&probe, ";\nDELETE FROM ");
		ferry_buf_ident(&probe, t->table);
		ferry_buf_puts(&probe, ";\n");
	}
	tinfo_free(&ti);
	if (b.failed || !b.data || probe.failed || !probe.data) {
		ferry_buf_free(&b);
		ferry_buf_free(&probe);
		return oom(err);
	}
	char what[300];
	snprintf(what, sizeof(what), "install the change capture triggers of table \"%s\"", t->table);
	rc = db_exec(cap->db, cap->path, b.data, err, what);
	for (const char *p = probe.data; rc == 0 && *p;) {
		sqlite3_stmt *st = NULL;
		const char *tail = NULL;
		int r = sqlite3_prepare_v2(cap->db, p, -1, &st, &tail);
		sqlite3_finalize(st);
		if (r != SQLITE_OK)
			rc = db_fail(cap->db, cap->path, r, err, what);
		p = tail && tail > p ? tail : p + strlen(p);
		while (*p == '\n')
			p++;
	}
	ferry_buf_free(&b);
	ferry_buf_free(&probe);
	return rc;
}

static char *keys_text(const ferry_capture_table *t)
{
	ferry_buf b = FERRY_BUF_INIT;
	for (size_t k = 0; k < t->nkeys; k++) {
		if (k)
			ferry_buf_puts(&b, ",");
		ferry_buf_ident(&b, t->keys[k]);
	}
	return b.failed ? NULL : ferry_buf_detach(&b);
}

static int check_tables(const ferry_capture_table *tables, size_t n, const char *path,
                        ferry_err *err)
{
	if (n == 0)
		return ferry_err_set(err, FERRY_EUSAGE, "cannot capture changes of \"%s\": no table given",
		                     path);
	for (size_t i = 0; i < n; i++) {
		if (!tables[i].table || tables[i].nkeys == 0)
			return ferry_err_set(err, FERRY_EUSAGE,
			                     "cannot capture changes of table \"%s\" in \"%s\": no key columns "
			                     "given", tables[i].table ? tables[i].table : "(null)", path);
		if (tables[i].nkeys > CAP_MAX_KEYS)
			return ferry_err_set(err, FERRY_EUSAGE,
			                     "cannot capture changes of table \"%s\" in \"%s\": its key has %zu "
			                     "columns, more than the %d the change log holds",
			                     tables[i].table, path, tables[i].nkeys, CAP_MAX_KEYS);
		for (size_t j = 0; j < i; j++)
			if (strcmp(tables[i].table, tables[j].table) == 0)
				return ferry_err_set(err, FERRY_EUSAGE,
				                     "cannot capture changes of table \"%s\" in \"%s\": it is "
				                     "given twice", tables[i].table, path);
	}
	return 0;
}

static void cap_free(ferry_capture *cap)
{
	if (!cap)
		return;
	sqlite3_finalize(cap->st_next);
	if (cap->db) {
		db_rollback(cap->db);
		sqlite3_close_v2(cap->db);
	}
	for (size_t i = 0; i < cap->ntables; i++) {
		free(cap->tables[i].name);
		free(cap->tables[i].keys_text);
		free(cap->tables[i].sig);
	}
	free(cap->tables);
	free(cap->vals);
	ferry_arena_free(cap->arena);
	free(cap->log_q);
	free(cap->path);
	free(cap->run_id);
	free(cap);
}

/* A damaged install of a resumed run: what was lost, and what to do. */
static int lost(const ferry_capture *cap, ferry_err *err, const char *what)
{
	return ferry_err_set(err, FERRY_ECORRUPT,
	                     "change capture of run %s on \"%s\" is damaged: %s, so changes made "
	                     "since were not captured and are lost; remove the capture (ferry sync "
	                     "--finish) and start the sync again", cap->run_id, cap->path, what);
}

static int ddl_changed(const ferry_capture *cap, const char *table, ferry_err *err)
{
	return ferry_err_set(err, FERRY_ERROR,
	                     "table \"%s\" in \"%s\" was changed (ALTER TABLE, DROP or a new unique "
	                     "index) while ferry sync captured its changes; remove the capture "
	                     "(ferry sync --finish) and start the sync again with a plan for the new "
	                     "definition", table, cap->path);
}

/* Is everything this run installed still there, and are the tables' definitions as they
 * were? Called on reopen and whenever the schema changed. */
static int check_install(ferry_capture *cap, ferry_err *err)
{
	int64_t v;
	int found;
	char name[64];
	snprintf(name, sizeof(name), "ferry_changes_%s", cap->hex);
	int rc = db_int(cap->db, cap->path, "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?1",
	                name, NULL, &v, &found, err, "check the change log");
	if (rc)
		return rc;
	if (!found) {
		char what[128];
		snprintf(what, sizeof(what), "its change log \"%s\" is gone", name);
		return lost(cap, err, what);
	}
	snprintf(name, sizeof(name), "ferry_origin_%s", cap->hex);
	if ((rc = db_int(cap->db, cap->path, "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?1",
	                 name, NULL, &v, &found, err, "check the change log")) != 0)
		return rc;
	if (!found) {
		char what[128];
		snprintf(what, sizeof(what), "its table \"%s\" is gone", name);
		return lost(cap, err, what);
	}
	static const char *const kinds[] = {"ins", "upd", "del", "bins", "bupd"};
	for (size_t i = 0; i < cap->ntables; i++) {
		char *sig = NULL;
		if ((rc = table_sig(cap->db, cap->path, cap->tables[i].name, &sig, err)) != 0)
			return rc;
		if (!sig || strcmp(sig, cap->tables[i].sig) != 0) {
			free(sig);
			return ddl_changed(cap, cap->tables[i].name, err);
		}
		free(sig);
		for (size_t k = 0; k < FERRY_ARRAY_LEN(kinds); k++) {
			snprintf(name, sizeof(name), "ferry_%s_%zu_%s", cap->hex, i, kinds[k]);
			rc = db_int(cap->db, cap->path,
			            "SELECT 1 FROM sqlite_schema WHERE type = 'trigger' AND name = ?1 AND tbl_name = ?2",
			            name, cap->tables[i].name, &v, &found, err, "check the capture triggers");
			if (rc)
				return rc;
			if (!found) {
				char what[300];
				snprintf(what, sizeof(what), "trigger \"%s\" of table \"%s\" is gone", name,
				         cap->tables[i].name);
				return lost(cap, err, what);
			}
		}
	}
	cap->schema_version = pragma_int(cap->db, "PRAGMA schema_version");
	return 0;
}

/* A resumed run: the install's tables must be the caller's. */
static int reopen(ferry_capture *cap, const ferry_capture_table *tables, size_t n,
                  ferry_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(cap->db,
	                            "SELECT tbl, name, keys, sig, acked FROM ferry_capture WHERE run_id = ?1 ORDER BY tbl",
	                            -1, &st, NULL);
	size_t count = 0;
	int mismatch = 0;
	if (rc == SQLITE_OK)
		sqlite3_bind_text(st, 1, cap->run_id, -1, SQLITE_STATIC);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		rc = SQLITE_OK;
		int64_t tbl = sqlite3_column_int64(st, 0);
		if (tbl < 0) {
			cap->trimmed = (uint64_t)sqlite3_column_int64(st, 4);
			continue;
		}
		const char *name = (const char *)sqlite3_column_text(st, 1);
		const char *keys = (const char *)sqlite3_column_text(st, 2);
		const char *sig = (const char *)sqlite3_column_text(st, 3);
		if ((size_t)tbl != count || count >= n) {
			mismatch = 1;
			break;
		}
		size_t j = 0;
		while (j < n && strcmp(tables[j].table, name ? name : "") != 0)
			j++;
		char *want = j < n ? keys_text(&tables[j]) : NULL;
		if (j == n || !want || strcmp(want, keys ? keys : "") != 0) {
			free(want);
			mismatch = 1;
			break;
		}
		free(want);
		cap_table *ct = &cap->tables[count++];
		ct->caller = j;
		ct->nkeys = tables[j].nkeys;
		if (!(ct->name = ferry__strdup(name)) || !(ct->keys_text = ferry__strdup(keys)) ||
		    !(ct->sig = ferry__strdup(sig ? sig : ""))) {
			cap->ntables = count;
			sqlite3_finalize(st);
			return oom(err);
		}
		cap->ntables = count;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE && !mismatch)
		return db_fail(cap->db, cap->path, rc, err, "read the change capture's record");
	if (mismatch || count != n)
		return ferry_err_set(err, FERRY_EUSAGE,
		                     "change capture of run %s on \"%s\" was installed for other tables or "
		                     "keys; remove it (ferry sync --finish) or resume with the same plan",
		                     cap->run_id, cap->path);
	if ((rc = check_install(cap, err)) != 0)
		return rc;
	/* The log keeps its highest row through trims (see ack), so an emptied log is one that
	 * was emptied by someone else. */
	int64_t top;
	int found;
	char *sql = ferry__sprintf("SELECT max(seq) FROM %s", cap->log_q);
	if (!sql)
		return oom(err);
	rc = db_int(cap->db, cap->path, sql, NULL, NULL, &top, &found, err, "read the change log");
	free(sql);
	if (rc)
		return rc;
	if (cap->trimmed > 0 && (uint64_t)top < cap->trimmed)
		return lost(cap, err, "rows of its change log were deleted");
	cap->snap_pos = cap->trimmed;
	return 0;
}

static int install(ferry_capture *cap, const ferry_capture_table *tables, size_t n,
                   ferry_err *err)
{
	ferry_buf b = FERRY_BUF_INIT;
	ferry_buf_printf(&b, "%s;\nCREATE TABLE %s(seq INTEGER PRIMARY KEY, tbl INTEGER NOT NULL, "
	                 "op INTEGER NOT NULL, at INTEGER NOT NULL",
	                 meta_ddl, cap->log_q);
	/* Key columns without a declared type: no affinity, so every value keeps its storage
	 * class (an integer, a real, a text, a blob) exactly. */
	put_cols(&b, "o", cap->width);
	put_cols(&b, "n", cap->width);
	ferry_buf_printf(&b, ", marker TEXT);\nCREATE TABLE \"ferry_origin_%s\"(x);\n", cap->hex);
	if (b.failed || !b.data)
		return oom(err);
	int rc = db_exec(cap->db, cap->path, b.data, err, "create the change log");
	ferry_buf_free(&b);
	if (rc)
		return rc;

	sqlite3_stmt *st = NULL;
	rc = sqlite3_prepare_v2(cap->db, "INSERT INTO ferry_capture(run_id, tbl, name, keys, sig, acked) VALUES (?1, ?2, ?3, ?4, ?5, 0)",
	                        -1, &st, NULL);
	if (rc != SQLITE_OK)
		return db_fail(cap->db, cap->path, rc, err, "record the change capture");
	sqlite3_bind_text(st, 1, cap->run_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, -1);
	sqlite3_bind_text(st, 3, cap->log_q, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, "", -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) != SQLITE_DONE) {
		sqlite3_finalize(st);
		return db_fail(cap->db, cap->path, rc, err, "record the change capture");
	}
	for (size_t i = 0; i < n; i++) {
		const ferry_capture_table *t = &tables[i];
		cap_table *ct = &cap->tables[i];
		cap->ntables = i + 1;
		ct->caller = i;
		ct->nkeys = t->nkeys;
		if (!(ct->name = ferry__strdup(t->table)) || !(ct->keys_text = keys_text(t))) {
			sqlite3_finalize(st);
			return oom(err);
		}
		int64_t v;
		int found;
		rc = db_int(cap->db, cap->path,
		            "SELECT sql LIKE 'CREATE VIRTUAL%' FROM sqlite_schema WHERE type = 'table' AND name = ?1",
		            t->table, NULL, &v, &found, err, "find a captured table");
		if (rc == 0 && !found)
			rc = ferry_err_set(err, FERRY_ENOTFOUND,
			                   "cannot capture changes of table \"%s\" in \"%s\": no such table",
			                   t->table, cap->path);
		if (rc == 0 && v)
			rc = ferry_err_set(err, FERRY_EUSAGE,
			                   "cannot capture changes of table \"%s\" in \"%s\": it is a virtual "
			                   "table, which cannot have triggers", t->table, cap->path);
		if (rc == 0)
			rc = install_triggers(cap, i, t, err);
		/* The definition after the triggers: creating them changes no table's sql. */
		if (rc == 0)
			rc = table_sig(cap->db, cap->path, t->table, &ct->sig, err);
		if (rc == 0 && !ct->sig)
			rc = ferry_err_set(err, FERRY_ENOTFOUND, "no such table \"%s\"", t->table);
		if (rc) {
			sqlite3_finalize(st);
			return rc;
		}
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 2, (int64_t)i);
		sqlite3_bind_text(st, 3, ct->name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, ct->keys_text, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, ct->sig, -1, SQLITE_STATIC);
		if ((rc = sqlite3_step(st)) != SQLITE_DONE) {
			sqlite3_finalize(st);
			return db_fail(cap->db, cap->path, rc, err, "record the change capture");
		}
	}
	sqlite3_finalize(st);
	cap->snap_pos = 0; /* a new log: the first change will be 1 */
	return 0;
}

static int sq_cap_setup(ferry_capture **out, ferry_conn *c, const char *url, const char *run_id,
                        const ferry_capture_table *tables, size_t ntables, ferry_err *err)
{
	(void)url;
	*out = NULL;
	const char *path;
	int rc = file_of(c, &path, err);
	if (rc == 0 && (!run_id || !*run_id))
		rc = ferry_err_set(err, FERRY_EUSAGE, "cannot capture changes of \"%s\": no run id", path);
	if (rc == 0)
		rc = check_tables(tables, ntables, path, err);
	if (rc)
		return rc;
	ferry_capture *cap = ferry__calloc(1, sizeof(*cap));
	if (!cap || !(cap->path = ferry__strdup(path)) || !(cap->run_id = ferry__strdup(run_id)) ||
	    !(cap->tables = ferry__calloc(ntables, sizeof(cap_table))) ||
	    !(cap->arena = ferry_arena_new(16384))) {
		cap_free(cap);
		return oom(err);
	}
	names_of(run_id, cap->hex);
	if (!(cap->log_q = ferry__sprintf("\"ferry_changes_%s\"", cap->hex))) {
		cap_free(cap);
		return oom(err);
	}
	for (size_t i = 0; i < ntables; i++)
		if (tables[i].nkeys > cap->width)
			cap->width = tables[i].nkeys;
	if ((rc = open_own(&cap->db, path, err)) != 0) {
		cap_free(cap);
		return rc;
	}
	/* One transaction, taken for writing at once: the install appears whole or not at all,
	 * and no write of the application falls between the triggers of two tables. */
	rc = db_exec(cap->db, path, "BEGIN IMMEDIATE", err, "begin installing the change capture");
	int64_t v;
	int found = 0;
	if (rc == 0)
		rc = db_int(cap->db, path,
		            "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'ferry_capture'",
		            NULL, NULL, &v, &found, err, "read the change capture's record");
	if (rc == 0 && found)
		rc = db_int(cap->db, path, "SELECT 1 FROM ferry_capture WHERE run_id = ?1 AND tbl = -1",
		            run_id, NULL, &v, &found, err, "read the change capture's record");
	if (rc == 0)
		rc = found ? reopen(cap, tables, ntables, err) : install(cap, tables, ntables, err);
	if (rc == 0)
		rc = db_exec(cap->db, path, "COMMIT", err, "commit the change capture");
	if (rc) {
		db_rollback(cap->db);
		cap_free(cap);
		return rc;
	}
	cap->acked = cap->trimmed;
	cap->last_trim = -CAP_TRIM_EVERY; /* the first ack trims at once */
	cap->schema_version = pragma_int(cap->db, "PRAGMA schema_version");
	sqlite3_busy_timeout(cap->db, CAP_INSTALL_BUSY_MS);
	*out = cap;
	return 0;
}

/* ---- streaming --------------------------------------------------------------------- */

static const char *sq_cap_snapshot(ferry_capture *cap, uint64_t *pos)
{
	/* No shared snapshot without SQLITE_ENABLE_SNAPSHOT: each chunk is read in its own short
	 * read transaction, and the replay of every change after pos makes the copy converge. */
	*pos = cap->snap_pos;
	return NULL;
}

static int sq_cap_start(ferry_capture *cap, uint64_t from, ferry_err *err)
{
	int rc = check_install(cap, err);
	if (rc)
		return rc;
	int64_t trimmed, top;
	int found;
	rc = db_int(cap->db, cap->path, "SELECT acked FROM ferry_capture WHERE run_id = ?1 AND tbl = -1",
	            cap->run_id, NULL, &trimmed, &found, err, "read the change capture's record");
	if (rc == 0 && !found)
		rc = lost(cap, err, "its record in ferry_capture is gone");
	char *sql = rc == 0 ? ferry__sprintf("SELECT max(seq) FROM %s", cap->log_q) : NULL;
	if (rc == 0 && !sql)
		rc = oom(err);
	if (rc == 0)
		rc = db_int(cap->db, cap->path, sql, NULL, NULL, &top, NULL, err, "read the change log");
	free(sql);
	if (rc)
		return rc;
	if (from < (uint64_t)trimmed)
		return ferry_err_set(err, FERRY_ECORRUPT,
		                     "cannot stream the changes of \"%s\" from position %llu: the change log "
		                     "was trimmed up to %llu, so the changes in between are lost; remove "
		                     "the capture (ferry sync --finish) and start the sync again",
		                     cap->path, (unsigned long long)from, (unsigned long long)trimmed);
	if (trimmed > 0 && (uint64_t)top < (uint64_t)trimmed)
		return lost(cap, err, "rows of its change log were deleted");
	if (from > (uint64_t)top)
		return ferry_err_set(err, FERRY_ECORRUPT,
		                     "cannot stream the changes of \"%s\" from position %llu: the change log "
		                     "ends at %llu (it was removed and installed again), so changes are "
		                     "lost; remove the capture (ferry sync --finish) and start the sync "
		                     "again", cap->path, (unsigned long long)from, (unsigned long long)top);
	if (!cap->st_next) {
		ferry_buf b = FERRY_BUF_INIT;
		ferry_buf_puts(&b, "SELECT seq, tbl, op, at, marker");
		put_cols(&b, "o", cap->width);
		put_cols(&b, "n", cap->width);
		ferry_buf_printf(&b, " FROM %s WHERE seq > ?1 ORDER BY seq LIMIT ?2", cap->log_q);
		if (b.failed || !b.data)
			return oom(err);
		int r = sqlite3_prepare_v3(cap->db, b.data, -1, SQLITE_PREPARE_PERSISTENT, &cap->st_next,
		                           NULL);
		ferry_buf_free(&b);
		if (r != SQLITE_OK)
			return db_fail(cap->db, cap->path, r, err, "read the change log");
	}
	cap->pos = from;
	cap->data_version = pragma_int(cap->db, "PRAGMA data_version");
	cap->started = 1;
	return 0;
}

static int same_value(const ferry_value *a, const ferry_value *b)
{
	if (a->type != b->type)
		return 0;
	switch (a->type) {
	case FERRY_NULL:
		return 1;
	case FERRY_INT:
		return a->v.i == b->v.i;
	case FERRY_FLOAT:
		return memcmp(&a->v.f, &b->v.f, sizeof(double)) == 0;
	default:
		return a->len == b->len && (a->len == 0 || memcmp(a->v.s, b->v.s, a->len) == 0);
	}
}

/* Column i of the current row as a value whose bytes live in the capture's arena. */
static int column_copy(ferry_capture *cap, sqlite3_stmt *st, int i, ferry_value *out)
{
	ferry_sqlite__column(st, i, out);
	if ((out->type == FERRY_TEXT || out->type == FERRY_BLOB)) {
		char *p = ferry_arena_alloc(cap->arena, (size_t)out->len + 1);
		if (!p)
			return FERRY_ENOMEM;
		memcpy(p, out->v.s, out->len);
		p[out->len] = '\0';
		out->v.s = p;
	}
	return 0;
}

/* Read up to max changes after cap->pos (one short read transaction). */
static int read_log(ferry_capture *cap, ferry_change *out, size_t max, size_t *n, ferry_err *err)
{
	sqlite3_stmt *st = cap->st_next;
	size_t w = cap->width;
	if (ferry__grow(&cap->vals, &cap->nvals, max * 2 * w, sizeof(ferry_value)) != 0)
		return oom(err);
	sqlite3_bind_int64(st, 1, (int64_t)cap->pos);
	sqlite3_bind_int64(st, 2, (int64_t)max);
	int rc;
	size_t got = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		ferry_change *ch = &out[got];
		memset(ch, 0, sizeof(*ch));
		ch->pos = (uint64_t)sqlite3_column_int64(st, 0);
		int64_t tbl = sqlite3_column_int64(st, 1);
		ch->op = (uint8_t)sqlite3_column_int(st, 2);
		ch->commit_us = sqlite3_column_int64(st, 3);
		ch->txn_end = 1;
		if (ch->op == FERRY_CHANGE_MARKER) {
			ch->table = SIZE_MAX;
			const char *m = (const char *)sqlite3_column_text(st, 4);
			if (!(ch->marker = ferry_arena_strdup(cap->arena, m ? m : ""))) {
				sqlite3_reset(st);
				return oom(err);
			}
		} else {
			if (tbl < 0 || (size_t)tbl >= cap->ntables ||
			    (ch->op != FERRY_CHANGE_INSERT && ch->op != FERRY_CHANGE_UPDATE &&
			     ch->op != FERRY_CHANGE_DELETE)) {
				sqlite3_reset(st);
				return ferry_err_set(err, FERRY_ECORRUPT,
				                     "change log %s of \"%s\" holds a bad entry at position %llu",
				                     cap->log_q, cap->path, (unsigned long long)ch->pos);
			}
			const cap_table *ct = &cap->tables[tbl];
			ch->table = ct->caller;
			ferry_value *o = cap->vals + got * 2 * w, *nw = o + w;
			for (size_t k = 0; k < ct->nkeys; k++) {
				if (column_copy(cap, st, 5 + (int)k, &o[k]) != 0 ||
				    column_copy(cap, st, 5 + (int)(w + k), &nw[k]) != 0) {
					sqlite3_reset(st);
					return oom(err);
				}
			}
			if (ch->op != FERRY_CHANGE_INSERT)
				ch->old_key = o;
			if (ch->op != FERRY_CHANGE_DELETE)
				ch->new_key = nw;
			if (ch->op == FERRY_CHANGE_UPDATE) {
				int same = 1;
				for (size_t k = 0; k < ct->nkeys && same; k++)
					same = same_value(&o[k], &nw[k]);
				if (same)
					ch->old_key = NULL;
			}
		}
		got++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return db_fail(cap->db, cap->path, rc, err, "read the change log");
	if (got)
		cap->pos = out[got - 1].pos;
	*n = got;
	return 0;
}

static int sq_cap_next(ferry_capture *cap, ferry_change *out, size_t max, size_t *n,
                       int timeout_ms, ferry_err *err)
{
	*n = 0;
	if (!cap->started)
		return ferry_err_set(err, FERRY_EUSAGE, "change capture of \"%s\" was not started",
		                     cap->path);
	if (max == 0)
		return 0;
	ferry_arena_reset(cap->arena);
	double deadline = ferry__now() + (timeout_ms > 0 ? timeout_ms / 1000.0 : 0);
	int nap = 1;
	for (;;) {
		/* The version first: a commit after this read is seen by the next look. */
		int64_t dv = pragma_int(cap->db, "PRAGMA data_version");
		int64_t sv = pragma_int(cap->db, "PRAGMA schema_version");
		if (sv != cap->schema_version) {
			int rc = check_install(cap, err);
			if (rc)
				return rc;
		}
		int rc = read_log(cap, out, max, n, err);
		if (rc || *n)
			return rc;
		cap->data_version = dv;
		/* Nothing: wait for another connection's commit, looking at the data version (a
		 * read of the database header, no lock held between looks), backing off. */
		for (;;) {
			double left = deadline - ferry__now();
			if (left <= 0)
				return 0;
			int ms = nap < left * 1000 ? nap : (int)(left * 1000) + 1;
			sleep_ms(ms);
			if (nap < CAP_POLL_MAX_MS)
				nap *= 2;
			if (pragma_int(cap->db, "PRAGMA data_version") != cap->data_version)
				break;
		}
		nap = 1;
	}
}

/* Delete a bounded batch of acknowledged rows in one short transaction, never waiting long
 * for the write lock: when the application holds it, the trim waits for a later ack. The
 * log's highest row is kept, so the next sequence never goes back (SQLite gives a new row
 * max(seq) + 1). *more is set when acknowledged rows remain. */
static int trim_batch(ferry_capture *cap, int *more, ferry_err *err)
{
	*more = 0;
	int rc = sqlite3_exec(cap->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if ((rc & 0xff) == SQLITE_BUSY)
		return 0;
	if (rc != SQLITE_OK)
		return db_fail(cap->db, cap->path, rc, err, "trim the change log");
	char *sql = ferry__sprintf("SELECT max(seq), count(*), (SELECT max(seq) FROM %s) FROM "
	                           "(SELECT seq FROM %s WHERE seq <= ?1 AND seq < (SELECT max(seq) "
	                           "FROM %s) ORDER BY seq LIMIT %d)",
	                           cap->log_q, cap->log_q, cap->log_q, CAP_TRIM_ROWS);
	char *del = ferry__sprintf("DELETE FROM %s WHERE seq <= ?1 AND seq < (SELECT max(seq) FROM %s)",
	                           cap->log_q, cap->log_q);
	sqlite3_stmt *st = NULL;
	uint64_t upto = cap->acked;
	if (!sql || !del) {
		rc = SQLITE_NOMEM;
	} else if ((rc = sqlite3_prepare_v2(cap->db, sql, -1, &st, NULL)) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, (int64_t)cap->acked);
		if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			/* A full batch: the log is trimmed up to its last row deleted. */
			if (sqlite3_column_int64(st, 1) == CAP_TRIM_ROWS) {
				upto = (uint64_t)sqlite3_column_int64(st, 0);
				*more = upto < cap->acked;
			}
			/* Never past the log's end. */
			if (upto > (uint64_t)sqlite3_column_int64(st, 2))
				upto = (uint64_t)sqlite3_column_int64(st, 2);
			rc = SQLITE_OK;
		}
		sqlite3_finalize(st);
		st = NULL;
	}
	if (rc == SQLITE_OK && (rc = sqlite3_prepare_v2(cap->db, del, -1, &st, NULL)) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, (int64_t)upto);
		rc = sqlite3_step(st);
		rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
		sqlite3_finalize(st);
		st = NULL;
	}
	free(sql);
	free(del);
	if (rc == SQLITE_OK &&
	    (rc = sqlite3_prepare_v2(cap->db, "UPDATE ferry_capture SET acked = ?2 WHERE run_id = ?1 AND tbl = -1",
	                             -1, &st, NULL)) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, cap->run_id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (int64_t)upto);
		rc = sqlite3_step(st);
		rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
		sqlite3_finalize(st);
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(cap->db, "COMMIT", NULL, NULL, NULL);
	int ret = 0;
	if (rc == SQLITE_OK)
		cap->trimmed = upto;
	else if ((rc & 0xff) == SQLITE_BUSY)
		*more = 0;
	else
		ret = db_fail(cap->db, cap->path, rc, err, "trim the change log");
	db_rollback(cap->db);
	return ret;
}

/* Trim what was acknowledged: a few batches, each its own transaction so the application's
 * writers get the lock in between; a backlog left over is trimmed at the next ack rather
 * than a second later, so the trim keeps up with any write rate the apply keeps up with. */
static int trim(ferry_capture *cap, ferry_err *err)
{
	if (cap->acked <= cap->trimmed)
		return 0;
	cap->last_trim = ferry__now();
	sqlite3_busy_timeout(cap->db, CAP_TRIM_BUSY_MS);
	int rc = 0, more = 1;
	for (int i = 0; rc == 0 && more && i < CAP_TRIM_BATCHES; i++)
		rc = trim_batch(cap, &more, err);
	sqlite3_busy_timeout(cap->db, CAP_INSTALL_BUSY_MS);
	if (more)
		cap->last_trim = -CAP_TRIM_EVERY;
	return rc;
}

static int sq_cap_ack(ferry_capture *cap, uint64_t pos, ferry_err *err)
{
	/* Nothing past what was delivered: that is all the target can have committed. */
	if (pos > cap->pos)
		pos = cap->pos;
	if (pos > cap->acked)
		cap->acked = pos;
	if (ferry__now() - cap->last_trim < CAP_TRIM_EVERY)
		return 0;
	return trim(cap, err);
}

static void sq_cap_close(ferry_capture *cap)
{
	if (!cap)
		return;
	/* What the caller acknowledged is kept only as a trim: a last one, if the lock is free. */
	ferry_err ignored = {0};
	trim(cap, &ignored);
	cap_free(cap);
}

/* ---- markers and removal ----------------------------------------------------------- */

static int sq_cap_marker(ferry_conn *c, const char *run_id, const char *text, uint64_t *pos,
                         ferry_err *err)
{
	sq_conn *s = SQ(c);
	char hex[17];
	names_of(run_id, hex);
	char sql[160];
	snprintf(sql, sizeof(sql), "INSERT INTO \"ferry_changes_%s\"(tbl, op, at, marker) VALUES (-1, %d, " NOW_US ", ?1)",
	         hex, FERRY_CHANGE_MARKER);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK) {
		const char *msg = sqlite3_errmsg(s->db);
		if (strncmp(msg, "no such table", 13) == 0)
			return ferry_err_set(err, FERRY_ENOTFOUND,
			                     "could not put a marker into \"%s\": no change capture of run %s is "
			                     "installed", s->path, run_id);
		return ferry_sqlite__fail(s, rc, err, "could not put a marker into \"%s\"", s->path);
	}
	sqlite3_bind_text(st, 1, text ? text : "", -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE) {
		ferry_sqlite__fail(s, rc, err, "could not put a marker into \"%s\"", s->path);
		sqlite3_finalize(st);
		return err->code;
	}
	sqlite3_finalize(st);
	if (pos)
		*pos = (uint64_t)sqlite3_last_insert_rowid(s->db);
	return 0;
}

static int sq_cap_teardown(ferry_conn *c, const char *url, const char *run_id, ferry_err *err)
{
	(void)url;
	sq_conn *s = SQ(c);
	char hex[17];
	names_of(run_id, hex);
	sqlite3 *db = s->db;
	int rc = db_exec(db, s->path, "BEGIN IMMEDIATE", err, "begin removing the change capture");
	if (rc)
		return rc;
	/* Triggers first: once gone, no write of the application refers to the log. */
	ferry_buf b = FERRY_BUF_INIT;
	sqlite3_stmt *st = NULL;
	char pattern[64];
	snprintf(pattern, sizeof(pattern), "ferry_%s_*", hex);
	int r = sqlite3_prepare_v2(db, "SELECT name FROM sqlite_schema WHERE type = 'trigger' AND name GLOB ?1",
	                           -1, &st, NULL);
	if (r == SQLITE_OK)
		sqlite3_bind_text(st, 1, pattern, -1, SQLITE_STATIC);
	while (r == SQLITE_OK && (r = sqlite3_step(st)) == SQLITE_ROW) {
		r = SQLITE_OK;
		ferry_buf_puts(&b, "DROP TRIGGER ");
		ferry_buf_ident(&b, (const char *)sqlite3_column_text(st, 0));
		ferry_buf_puts(&b, ";\n");
	}
	sqlite3_finalize(st);
	if (r != SQLITE_DONE) {
		ferry_buf_free(&b);
		db_fail(db, s->path, r, err, "remove the change capture");
		db_rollback(db);
		return err->code;
	}
	ferry_buf_printf(&b, "DROP TABLE IF EXISTS \"ferry_changes_%s\";\n"
	                     "DROP TABLE IF EXISTS \"ferry_origin_%s\";\n", hex, hex);
	if (b.failed) {
		db_rollback(db);
		return oom(err);
	}
	rc = db_exec(db, s->path, b.data, err, "remove the change capture");
	ferry_buf_free(&b);
	int64_t v;
	int found = 0;
	if (rc == 0)
		rc = db_int(db, s->path, "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'ferry_capture'",
		            NULL, NULL, &v, &found, err, "remove the change capture");
	if (rc == 0 && found) {
		st = NULL;
		r = sqlite3_prepare_v2(db, "DELETE FROM ferry_capture WHERE run_id = ?1", -1, &st, NULL);
		if (r == SQLITE_OK) {
			sqlite3_bind_text(st, 1, run_id, -1, SQLITE_STATIC);
			r = sqlite3_step(st);
		}
		sqlite3_finalize(st);
		if (r != SQLITE_DONE)
			rc = db_fail(db, s->path, r, err, "remove the change capture's record");
		if (rc == 0)
			rc = db_int(db, s->path, "SELECT count(*) FROM ferry_capture", NULL, NULL, &v, NULL, err,
			            "remove the change capture's record");
		if (rc == 0 && v == 0)
			rc = db_exec(db, s->path, "DROP TABLE ferry_capture", err,
			             "remove the change capture's record");
	}
	if (rc == 0)
		rc = db_exec(db, s->path, "COMMIT", err, "commit the removal of the change capture");
	if (rc)
		db_rollback(db);
	return rc;
}

/* The position of the last change run_id's log holds (0: none), on an ordinary connection
 * (the cut-over's freeze reads it under the write lock). */
int ferry_sqlite__capture_last(sq_conn *c, const char *run_id, uint64_t *pos, ferry_err *err)
{
	char hex[17], sql[128];
	names_of(run_id, hex);
	snprintf(sql, sizeof(sql), "SELECT coalesce(max(seq), 0) FROM \"ferry_changes_%s\"", hex);
	int64_t v = 0;
	int rc = db_int(c->db, c->path, sql, NULL, NULL, &v, NULL, err, "read the end of the change log");
	*pos = (uint64_t)v;
	return rc;
}

/* Both ways: a row in run_id's origin table, first in c's transaction, takes the database's
 * write lock (every other writer waits for the commit) and keeps the triggers from logging
 * what c writes until it is deleted again just before the commit; other connections never
 * see the row. */
static int sq_cap_origin(ferry_conn *conn, const char *run_id, const char *const *tables,
                         size_t ntables, int on, ferry_err *err)
{
	(void)tables;
	(void)ntables;
	sq_conn *c = SQ(conn);
	char hex[17], sql[96];
	names_of(run_id, hex);
	snprintf(sql, sizeof(sql), on ? "INSERT INTO \"ferry_origin_%s\"(x) VALUES (1)" : "DELETE FROM \"ferry_origin_%s\"", hex);
	return ferry_sqlite__exec(c, sql, err);
}

/* Both ways: a row in run_id's log, written directly (the triggers are off in an origin
 * transaction), that reads back as an update of key in table: it commits or rolls back with
 * c's transaction. The log's table number and key columns are the meta table's, so a table
 * or key order the capture does not hold writes nothing and is an error. */
static int sq_cap_touch(ferry_conn *conn, const char *run_id, const char *table, const char *const *keys,
                        size_t nkeys, const ferry_value *key, ferry_err *err)
{
	sq_conn *c = SQ(conn);
	char hex[17];
	names_of(run_id, hex);
	ferry_capture_table t = {.table = table, .nkeys = nkeys, .keys = keys};
	char *kt = keys_text(&t);
	ferry_buf q = FERRY_BUF_INIT;
	ferry_buf_printf(&q, "INSERT INTO \"ferry_changes_%s\"(tbl, op, at", hex);
	put_cols(&q, "o", nkeys);
	put_cols(&q, "n", nkeys);
	ferry_buf_printf(&q, ") SELECT tbl, %d, " NOW_US, FERRY_CHANGE_UPDATE);
	for (int side = 0; side < 2; side++)
		for (size_t k = 0; k < nkeys; k++)
			ferry_buf_printf(&q, ", $%zu", k + 4);
	ferry_buf_puts(&q, " FROM ferry_capture WHERE run_id = $1 AND tbl >= 0 AND name = $2 AND keys = $3");
	ferry_value *v = ferry__calloc(nkeys + 3, sizeof(*v));
	if (!kt || q.failed || !v) {
		free(kt);
		free(v);
		ferry_buf_free(&q);
		return oom(err);
	}
	const char *text[3] = {run_id, table, kt};
	for (size_t i = 0; i < 3; i++)
		v[i] = (ferry_value){.type = FERRY_TEXT, .v.s = text[i], .len = (uint32_t)strlen(text[i])};
	memcpy(v + 3, key, nkeys * sizeof(*v));
	int64_t n = 0;
	int rc = ferry_sqlite__exec_params(conn, q.data, nkeys + 3, v, &n, err);
	if (rc == 0 && n != 1)
		rc = ferry_err_set(err, FERRY_ENOTFOUND,
		                   "could not put a change of table \"%s\" into the change log of \"%s\": run %s "
		                   "captures no such table with key (%s)", table, c->path, run_id, kt);
	free(kt);
	free(v);
	ferry_buf_free(&q);
	return rc;
}

/* The changes after pos in the log: a range count on its key. */
static int sq_cap_backlog(ferry_capture *cap, uint64_t pos, int64_t *n, ferry_err *err)
{
	char num[24];
	snprintf(num, sizeof(num), "%llu", (unsigned long long)pos);
	char *sql = ferry__sprintf("SELECT count(*) FROM %s WHERE seq > CAST(?1 AS INTEGER) AND op <> %d",
	                           cap->log_q, FERRY_CHANGE_MARKER);
	if (!sql)
		return oom(err);
	int rc = db_int(cap->db, cap->path, sql, num, NULL, n, NULL, err, "count the changes not applied");
	free(sql);
	return rc;
}

const ferry_engine_capture ferry_sqlite__capture = {
	.version = FERRY_ENGINE_VERSION,
	.setup = sq_cap_setup,
	.snapshot = sq_cap_snapshot,
	.start = sq_cap_start,
	.next = sq_cap_next,
	.ack = sq_cap_ack,
	.close = sq_cap_close,
	.marker = sq_cap_marker,
	.teardown = sq_cap_teardown,
	.backlog = sq_cap_backlog,
	.freeze = ferry_sqlite__freeze,
	.fence = ferry_sqlite__fence,
	.thaw = ferry_sqlite__thaw,
	.unfence = ferry_sqlite__unfence,
	.fence_exempt = ferry_sqlite__fence_exempt,
	.origin = sq_cap_origin,
	.one_writer = 1,
	.touch = sq_cap_touch,
};
