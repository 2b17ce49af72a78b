/* sqlite.c — the SQLite engine: the engine table, connections, transactions, the source
 * snapshot, and helpers shared by the engine's other files (sqlite_schema.c, sqlite_rw.c,
 * sqlite_migrate.c). */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include "sqlite_int.h"

/* ---- helpers shared by the engine's files ------------------------------------------ */

size_t ferry_sqlite__quote_ident(char *buf, size_t cap, const char *ident)
{
	return ferry__quote_ident_std(buf, cap, ident);
}

int ferry_sqlite__buf_ident(ferry_buf *b, const char *ident)
{
	return ferry_buf_ident(b, ident);
}

int ferry_sqlite__bind(sqlite3_stmt *st, int i, const ferry_value *v, int copy)
{
	sqlite3_destructor_type how = copy ? SQLITE_TRANSIENT : SQLITE_STATIC;
	switch (v->type) {
	case FERRY_NULL:
		return sqlite3_bind_null(st, i);
	case FERRY_INT:
	case FERRY_BOOL:
		return sqlite3_bind_int64(st, i, v->v.i);
	case FERRY_FLOAT:
		return sqlite3_bind_double(st, i, v->v.f);
	case FERRY_BLOB:
		if (v->len == 0 || !v->v.b)
			return sqlite3_bind_zeroblob(st, i, 0);
		return sqlite3_bind_blob(st, i, v->v.b, (int)v->len, how);
	default:
		/* A NULL pointer would bind SQL NULL: an empty string stays a string. */
		return sqlite3_bind_text(st, i, v->v.s ? v->v.s : "", (int)v->len, how);
	}
}

void ferry_sqlite__column(sqlite3_stmt *st, int i, ferry_value *out)
{
	memset(out, 0, sizeof(*out));
	switch (sqlite3_column_type(st, i)) {
	case SQLITE_INTEGER:
		out->type = FERRY_INT;
		out->v.i = sqlite3_column_int64(st, i);
		break;
	case SQLITE_FLOAT:
		out->type = FERRY_FLOAT;
		out->v.f = sqlite3_column_double(st, i);
		break;
	case SQLITE_TEXT:
		out->type = FERRY_TEXT;
		out->v.s = (const char *)sqlite3_column_text(st, i);
		out->len = (uint32_t)sqlite3_column_bytes(st, i);
		if (!out->v.s)
			out->v.s = "";
		break;
	case SQLITE_BLOB:
		out->type = FERRY_BLOB;
		out->v.b = sqlite3_column_blob(st, i);
		out->len = (uint32_t)sqlite3_column_bytes(st, i);
		if (!out->v.b)
			out->v.b = (const uint8_t *)"";
		break;
	default:
		out->type = FERRY_NULL;
		break;
	}
}

static int code_of(int rc, const char *msg)
{
	switch (rc & 0xff) {
	case SQLITE_NOMEM:
		return FERRY_ENOMEM;
	case SQLITE_CORRUPT:
		return FERRY_ECORRUPT;
	case SQLITE_ERROR:
		/* A failed prepare: the SQL (a plan expression, a table name) is wrong. */
		return msg && strncmp(msg, "no such table", 13) == 0 ? FERRY_ENOTFOUND : FERRY_EUSAGE;
	default:
		return FERRY_ERROR;
	}
}

int ferry_sqlite__fail(sq_conn *c, int rc, ferry_err *err, const char *fmt, ...)
{
	char what[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	const char *msg = c && c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc);
	int code = code_of(rc, msg);
	/* Runtime SQL errors (SQLITE_ERROR from a step) are not usage errors. */
	if (code == FERRY_EUSAGE)
		code = FERRY_ERROR;
	return ferry_err_set(err, code, "%s: %s", what, msg);
}

int ferry_sqlite__prepare(sq_conn *c, sqlite3_stmt **out, const char *sql, int persistent,
                          ferry_err *err, const char *what)
{
	*out = NULL;
	int rc = sqlite3_prepare_v3(c->db, sql, -1, persistent ? SQLITE_PREPARE_PERSISTENT : 0,
	                            out, NULL);
	if (rc == SQLITE_OK)
		return 0;
	const char *msg = sqlite3_errmsg(c->db);
	return ferry_err_set(err, code_of(rc, msg), "could not %s: %s", what, msg);
}

int ferry_sqlite__exec(sq_conn *c, const char *sql, ferry_err *err)
{
	int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return ferry_sqlite__fail(c, rc, err, "could not run sql on \"%s\"", c->path);
	return 0;
}

/* Run a one-value query and copy its text result (lowercased) into out. */
static int query_word(sq_conn *c, sqlite3 *db, const char *sql, char *out, size_t cap,
                      ferry_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		int code = ferry_err_set(err, (rc & 0xff) == SQLITE_NOMEM ? FERRY_ENOMEM : FERRY_ERROR,
		                         "could not run \"%s\" on \"%s\": %s", sql, c->path,
		                         sqlite3_errmsg(db));
		sqlite3_finalize(st);
		return code;
	}
	const char *s = (const char *)sqlite3_column_text(st, 0);
	size_t i = 0;
	for (; s && s[i] && i + 1 < cap; i++)
		out[i] = (char)tolower((unsigned char)s[i]);
	out[i] = '\0';
	sqlite3_finalize(st);
	return 0;
}

/* ---- connections ------------------------------------------------------------------- */

static const char *url_path(const char *url)
{
	if (strncmp(url, "sqlite://", 9) == 0)
		return url + 9;
	if (strncmp(url, "sqlite:", 7) == 0)
		return url + 7;
	return url;
}

/* sqlite:PATH and sqlite://PATH are ours; so is any address without a scheme:// of
 * another engine (a bare path, ":memory:"), unless an engine claims it more surely (a
 * libpq conninfo string, "label:DIR"). */
static int sq_claim(const char *url)
{
	size_t n = ferry_url_scheme(url);
	if (n == 6 && strncmp(url, "sqlite", 6) == 0)
		return FERRY_CLAIM_SCHEME;
	if (n)
		return FERRY_CLAIM_NONE;
	return FERRY_CLAIM_FALLBACK;
}

/* Always "sqlite:PATH", so the address says its engine; a relative path is made relative to
 * the plan's directory. */
static int sq_url_resolve(char **out, const char *url, const char *base_dir, ferry_err *err)
{
	*out = NULL;
	const char *path = url_path(url);
	if (!*path)
		return ferry_err_set(err, FERRY_EUSAGE, "no database path in \"%s\"", url);
	if (path[0] == '/' || strcmp(path, ":memory:") == 0 || !base_dir || !*base_dir ||
	    strcmp(base_dir, ".") == 0) {
		*out = ferry__sprintf("sqlite:%s", path);
	} else {
		char *full = ferry__path_join(base_dir, path);
		*out = full ? ferry__sprintf("sqlite:%s", full) : NULL;
		free(full);
	}
	return *out ? 0 : ferry_err_set(err, FERRY_ENOMEM, "out of memory");
}

/* The database file, beside which a copy's rejects file goes; none for memory. */
static char *sq_url_path(const char *url)
{
	const char *path = url_path(url);
	while (path[0] == '/' && path[1] == '/')
		path++;
	if (!*path || strcmp(path, ":memory:") == 0)
		return NULL;
	return ferry__strdup(path);
}

/* The file with every symlink resolved, so ./t.db, t.db and a link to it are one database;
 * ":memory:" stays itself. */
static int sq_url_identity(char **out, const char *url, ferry_err *err)
{
	*out = NULL;
	const char *path = url_path(url);
	while (path[0] == '/' && path[1] == '/')
		path++;
	if (!*path)
		return ferry_err_set(err, FERRY_EUSAGE, "no database path in \"%s\"", url);
	if (strcmp(path, ":memory:") == 0) {
		*out = ferry__strdup("sqlite::memory:");
	} else {
		char *real = ferry__path_canonical(path);
		*out = real ? ferry__sprintf("sqlite:%s", real) : NULL;
		free(real);
	}
	return *out ? 0 : ferry_err_set(err, FERRY_ENOMEM, "out of memory");
}

static void restore_journal(sq_conn *c, int wait_ms);

static void conn_free(sq_conn *c)
{
	if (!c)
		return;
	if (c->finished && c->db && sqlite3_get_autocommit(c->db))
		restore_journal(c, 0);
	if (c->lock_db)
		sqlite3_close(c->lock_db);
	ferry_sqlite__migrate_free(c);
	if (c->db) {
		int rc = sqlite3_close(c->db);
		/* Busy means a reader or writer of this connection was not closed: a bug. */
		assert(rc != SQLITE_BUSY);
		if (rc != SQLITE_OK)
			sqlite3_close_v2(c->db);
	}
	free(c->path);
	free(c);
}

/* Settings of a target: foreign keys are checked after the load (fk_check), and the load
 * runs in WAL mode so a committed chunk survives a crash of the process cheaply. The switch
 * to WAL waits for the first commit (switch_to_wal): a run refused before it (a plan
 * mistake) leaves the file as it was, byte for byte. */
static int setup_target(sq_conn *c, ferry_err *err)
{
	int rc = ferry_sqlite__exec(c, "PRAGMA foreign_keys=OFF; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-16384", err);
	if (rc || c->memory)
		return rc;
	c->wal_pending = 1;
	return 0;
}

/* After the first commit, outside any transaction. A file that cannot switch (another
 * process holds it) goes on in its own mode, which is slower, not wrong. */
static void switch_to_wal(sq_conn *c)
{
	c->wal_pending = 0;
	char mode[16], now[16] = "";
	ferry_err ignored = {0};
	if (query_word(c, c->db, "PRAGMA journal_mode", mode, sizeof(mode), &ignored) != 0 ||
	    strcmp(mode, "wal") == 0)
		return;
	/* Changing the journal mode takes the file's lock without the busy handler: a second
	 * process of the run (refused by its lease a moment later) may hold it now, so retry
	 * for as long as the busy timeout would wait. */
	for (int waited = 0;; waited += 20) {
		int rc = query_word(c, c->db, "PRAGMA journal_mode=WAL", now, sizeof(now), &ignored);
		int busy = (sqlite3_errcode(c->db) & 0xff) == SQLITE_BUSY ||
		           (sqlite3_errcode(c->db) & 0xff) == SQLITE_LOCKED;
		if (rc == 0 || !busy || waited >= 30000)
			break;
		memset(&ignored, 0, sizeof(ignored));
		struct timespec ts = {0, 20 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	if (strcmp(now, "wal") == 0)
		memcpy(c->old_journal, mode, sizeof(mode));
}

static int sq_connect(ferry_conn **out, const char *url, int flags, ferry_err *err)
{
	*out = NULL;
	const char *path = url_path(url);
	int ro = (flags & FERRY_CONNECT_READONLY) != 0;
	int create = !ro && (flags & FERRY_CONNECT_CREATE);
	if (!*path)
		return ferry_err_set(err, FERRY_EUSAGE, "no database path in \"%s\"", url);
	int memory = strcmp(path, ":memory:") == 0;
	/* Each connection to ":memory:" opens a database of its own, new and empty: read, it
	 * would be a source without tables, "copied" in full with nothing carried. */
	if (memory && ro)
		return ferry_err_set(err, FERRY_EUSAGE,
		                     "cannot read database \":memory:\": an in-memory database is new and empty for each "
		                     "connection, so it holds nothing to read (give a file)");
	struct stat sb;
	if (!memory && stat(path, &sb) != 0) {
		if (errno == ENOENT && !create)
			return ferry_err_set(err, FERRY_ENOTFOUND,
			                     "could not open %sdatabase \"%s\": no such file",
			                     ro ? "source " : "", path);
	} else if (!memory && S_ISDIR(sb.st_mode)) {
		return ferry_err_set(err, FERRY_EUSAGE, "could not open database \"%s\": is a directory",
		                     path);
	} else if (!memory && !S_ISREG(sb.st_mode)) {
		/* Judged before opening: SQLite would block opening a FIFO (retrying through
		 * signals), and reads /dev/zero or /dev/null as an empty database. */
		return ferry_err_set(err, FERRY_EUSAGE, "could not open database \"%s\": %s, not a database file",
		                     path, S_ISFIFO(sb.st_mode) ? "is a FIFO" : S_ISCHR(sb.st_mode) ? "is a character device"
		                     : S_ISBLK(sb.st_mode) ? "is a block device" : S_ISSOCK(sb.st_mode) ? "is a socket"
		                     : "is not a regular file");
	} else if (!memory && ro && sb.st_size == 0) {
		/* SQLite reads an empty file as a database without tables (even beside a WAL
		 * file): a source "copied" in full. Not found, as no database is there yet: a
		 * migrate racing the one that just created the file then opens it to create. */
		return ferry_err_set(err, FERRY_ENOTFOUND, "could not open source database \"%s\": the file is empty, not a database",
		                     path);
	}

	int created = 0;
	if (create && !memory && stat(path, &sb) != 0 && errno == ENOENT) {
		char *dir = ferry__dirname(path);
		struct stat db;
		if (!dir)
			return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
		int ok = dir && stat(dir, &db) == 0 && S_ISDIR(db.st_mode);
		if (!ok && dir) {
			ferry_err_set(err, FERRY_ENOTFOUND,
			              "could not create database \"%s\": directory \"%s\" does not exist", path, dir);
			free(dir);
			return FERRY_ENOTFOUND;
		}
		free(dir);
		created = 1;
	}
	sq_conn *c = ferry__calloc(1, sizeof(*c));
	if (!c || !(c->path = ferry__strdup(path))) {
		free(c);
		return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	}
	c->readonly = ro;
	c->memory = memory;
	c->created = created;
	int oflags = SQLITE_OPEN_NOMUTEX |
	             (ro ? SQLITE_OPEN_READONLY
	                 : SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0));
	int rc = sqlite3_open_v2(path, &c->db, oflags, NULL);
	if (rc != SQLITE_OK) {
		ferry_err_set(err, rc == SQLITE_NOMEM ? FERRY_ENOMEM : FERRY_ERROR,
		              "could not open database \"%s\": %s", path,
		              c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
		conn_free(c);
		return err->code;
	}
	sqlite3_extended_result_codes(c->db, 1);
	sqlite3_busy_timeout(c->db, 30000);

	/* Opening is lazy: read the schema now so a file that is not a database fails here. */
	sqlite3_stmt *st = NULL;
	rc = sqlite3_prepare_v2(c->db, "SELECT count(*) FROM sqlite_schema", -1, &st, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
		rc = SQLITE_OK;
	if (rc != SQLITE_OK) {
		int code = (rc & 0xff) == SQLITE_NOTADB ? FERRY_EUSAGE
		         : (rc & 0xff) == SQLITE_NOMEM ? FERRY_ENOMEM : FERRY_ERROR;
		ferry_err_set(err, code, "could not open database \"%s\": %s", path,
		              sqlite3_errmsg(c->db));
		sqlite3_finalize(st);
		conn_free(c);
		return code;
	}
	sqlite3_finalize(st);

	if (!ro) {
		/* SQLite silently opens a write-protected file read-only. */
		if (sqlite3_db_readonly(c->db, "main") == 1) {
			ferry_err_set(err, FERRY_ERROR,
			              "could not open database \"%s\" for writing: the file is read-only",
			              path);
			conn_free(c);
			return FERRY_ERROR;
		}
		if (!(flags & FERRY_CONNECT_LIVE) && (rc = setup_target(c, err)) != 0) {
			conn_free(c);
			return rc;
		}
	}
	*out = (ferry_conn *)(void *)c;
	return 0;
}

/* Remove a database this connection created, with its WAL and journal files. */
static void sq_discard(ferry_conn *conn)
{
	sq_conn *c = SQ(conn);
	/* Only a file this connection created and nothing has written a table into since: two
	 * processes may have opened one new file at once, and the other's load is not ours to
	 * remove. */
	int tables = 1;
	sqlite3_stmt *st = NULL;
	if (c->created && c->db && sqlite3_prepare_v2(c->db, "SELECT count(*) FROM sqlite_master", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		tables = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	char *path = c->created && tables == 0 ? ferry__strdup(c->path) : NULL;
	conn_free(c);
	if (!path)
		return;
	static const char *const sfx[] = {"", "-wal", "-shm", "-journal"};
	for (size_t i = 0; i < FERRY_ARRAY_LEN(sfx); i++) {
		char *f = ferry__sprintf("%s%s", path, sfx[i]);
		if (f)
			unlink(f);
		free(f);
	}
	free(path);
}

static void sq_close(ferry_conn *conn)
{
	conn_free(SQ(conn));
}

/* ---- SQL and transactions ---------------------------------------------------------- */

static int sq_exec(ferry_conn *conn, const char *sql, ferry_err *err)
{
	return ferry_sqlite__exec(SQ(conn), sql, err);
}

static int sq_begin(ferry_conn *conn, ferry_err *err)
{
	sq_conn *c = SQ(conn);
	/* The write lock at once on a connection that may write: in WAL mode a deferred
	 * transaction that reads first fails with "database is locked", without waiting, when
	 * another connection commits before its first write, and the version ferry writes may
	 * take the applications' writes too (both ways, the way back, a live target). */
	int rc = sqlite3_exec(c->db, sqlite3_db_readonly(c->db, "main") == 1 ? "BEGIN" : "BEGIN IMMEDIATE",
	                      NULL, NULL, NULL);
	/* Busy past the busy timeout: an application holds the write lock; both ways tries
	 * again later. */
	if ((rc & 0xff) == SQLITE_BUSY)
		return ferry_err_set(err, FERRY_EBUSY,
		                     "could not begin a transaction on \"%s\": another connection holds the database's write lock",
		                     c->path);
	if (rc != SQLITE_OK)
		return ferry_sqlite__fail(c, rc, err, "could not begin a transaction on \"%s\"",
		                          c->path);
	return 0;
}

static int sq_commit(ferry_conn *conn, ferry_err *err)
{
	sq_conn *c = SQ(conn);
	int rc = sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return ferry_sqlite__fail(c, rc, err, "could not commit on \"%s\"", c->path);
	if (c->wal_pending && sqlite3_get_autocommit(c->db))
		switch_to_wal(c);
	return 0;
}

static int sq_rollback(ferry_conn *conn, ferry_err *err)
{
	sq_conn *c = SQ(conn);
	/* SQLite may have rolled back already (after an I/O error or SQLITE_FULL). */
	if (sqlite3_get_autocommit(c->db))
		return 0;
	int rc = sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return ferry_sqlite__fail(c, rc, err, "could not roll back on \"%s\"", c->path);
	return 0;
}

/* ---- snapshot ---------------------------------------------------------------------- */

/* Begin a read transaction and read, so that it holds its snapshot (WAL) or its SHARED
 * lock (rollback journal) from now on. */
static int begin_read(sq_conn *c, ferry_err *err)
{
	int rc = sqlite3_exec(c->db, "BEGIN; SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		ferry_sqlite__fail(c, rc, err, "could not begin a read transaction on \"%s\"", c->path);
		if (!sqlite3_get_autocommit(c->db))
			sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
		return err->code;
	}
	return 0;
}

/* Without sqlite3_snapshot, readers see one state only when no writer can commit while
 * they start: a rollback-journal database is held by our SHARED lock ("shared"); a WAL
 * database needs a write lock held by a second connection ("locked"); failing that no
 * connection can share our state (token NULL), and the pipeline reads with one. */
static int sq_snapshot_export(ferry_conn *conn, const char **token, ferry_err *err)
{
	sq_conn *c = SQ(conn);
	*token = NULL;
	if (c->exported) {
		*token = c->token;
		return 0;
	}
	if (!sqlite3_get_autocommit(c->db))
		return ferry_err_set(err, FERRY_EUSAGE,
		                     "cannot export a snapshot of \"%s\": a transaction is open", c->path);
	char mode[16];
	int rc = query_word(c, c->db, "PRAGMA journal_mode", mode, sizeof(mode), err);
	if (rc)
		return rc;
	const char *tok = "shared";
	if (c->memory) {
		tok = NULL;
	} else if (strcmp(mode, "wal") == 0) {
		/* The write lock first, then the read: no commit can fall between them. */
		tok = NULL;
		if (sqlite3_open_v2(c->path, &c->lock_db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
		                    NULL) == SQLITE_OK) {
			sqlite3_busy_timeout(c->lock_db, 1000);
			if (sqlite3_exec(c->lock_db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK)
				tok = "locked";
		}
		if (!tok && c->lock_db) {
			sqlite3_close(c->lock_db);
			c->lock_db = NULL;
		}
	}
	if ((rc = begin_read(c, err)) != 0) {
		if (c->lock_db) {
			sqlite3_close(c->lock_db);
			c->lock_db = NULL;
		}
		return rc;
	}
	c->token = tok;
	c->exported = 1;
	*token = tok;
	return 0;
}

static int sq_snapshot_join(ferry_conn *conn, const char *token, ferry_err *err)
{
	sq_conn *c = SQ(conn);
	/* NULL: the one reader of a database no other connection could share a state of. */
	if (token && strcmp(token, "shared") != 0 && strcmp(token, "locked") != 0)
		return ferry_err_set(err, FERRY_EUSAGE, "cannot join snapshot \"%s\" on \"%s\"",
		                     token ? token : "(null)", c->path);
	return begin_read(c, err);
}

/* ---- small queries ----------------------------------------------------------------- */

static int count_query(sq_conn *c, const char *sql, const char *bind, int64_t *out,
                       ferry_err *err, const char *what)
{
	sqlite3_stmt *st;
	int rc = ferry_sqlite__prepare(c, &st, sql, 0, err, what);
	if (rc)
		return rc;
	if (bind)
		sqlite3_bind_text(st, 1, bind, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int64(st, 0);
		rc = 0;
	} else {
		rc = ferry_sqlite__fail(c, rc, err, "could not %s", what);
	}
	sqlite3_finalize(st);
	return rc;
}

static int sq_table_rows(ferry_conn *conn, const char *table, int64_t *out, ferry_err *err)
{
	sq_conn *c = SQ(conn);
	ferry_buf sql = FERRY_BUF_INIT;
	ferry_buf_puts(&sql, "SELECT count(*) FROM ");
	if (ferry_sqlite__buf_ident(&sql, table) != 0)
		return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	char what[300];
	snprintf(what, sizeof(what), "count the rows of table \"%s\"", table);
	*out = 0;
	int rc = count_query(c, sql.data, NULL, out, err, what);
	ferry_buf_free(&sql);
	return rc;
}

static int sq_fk_check(ferry_conn *conn, const char *table, int64_t *violations, ferry_err *err)
{
	char what[300];
	snprintf(what, sizeof(what), "check the foreign keys of table \"%s\"", table);
	*violations = 0;
	return count_query(SQ(conn), "SELECT count(*) FROM pragma_foreign_key_check(?1, 'main')",
	                   table, violations, err, what);
}

/* Switch back to the journal mode the target had before the load. Leaving WAL needs the
 * file to ourselves; when another connection holds it open the target stays in WAL, which
 * is harmless, and close tries once more. */
static void restore_journal(sq_conn *c, int wait_ms)
{
	if (!c->old_journal[0])
		return;
	for (const char *p = c->old_journal; *p; p++)
		if (!islower((unsigned char)*p))
			return;
	char sql[64], now[16];
	snprintf(sql, sizeof(sql), "PRAGMA journal_mode=%s", c->old_journal);
	sqlite3_busy_timeout(c->db, wait_ms);
	ferry_err ignored = {0};
	if (query_word(c, c->db, sql, now, sizeof(now), &ignored) == 0 &&
	    strcmp(now, c->old_journal) == 0)
		c->old_journal[0] = '\0';
	sqlite3_busy_timeout(c->db, 30000);
}

/* After a load: restore the journal mode and let SQLite analyze what changed. */
static int sq_finish(ferry_conn *conn, ferry_err *err)
{
	sq_conn *c = SQ(conn);
	c->finished = 1;
	restore_journal(c, 1000);
	return ferry_sqlite__exec(c, "PRAGMA optimize", err);
}

static size_t sq_quote_ident(char *buf, size_t cap, const char *ident)
{
	return ferry_sqlite__quote_ident(buf, cap, ident);
}

static const char *const sq_schemes[] = {"sqlite", NULL};

static const ferry_engine_core sq_core = {
	.connect = sq_connect,
	.close = sq_close,
	.introspect = ferry_sqlite__introspect,
	.quote_ident = sq_quote_ident,
	.exec = sq_exec,
	.begin = sq_begin,
	.commit = sq_commit,
	.rollback = sq_rollback,
	.exec_params = ferry_sqlite__exec_params,
};

static const ferry_engine_read sq_read = {
	.snapshot_export = sq_snapshot_export,
	.snapshot_join = sq_snapshot_join,
	.plan_chunks = ferry_sqlite__plan_chunks,
	.reader_open = ferry_sqlite__reader_open,
	.reader_next = ferry_sqlite__reader_next,
	.reader_close = ferry_sqlite__reader_close,
};

static const ferry_engine_write sq_write = {
	.writer_open = ferry_sqlite__writer_open,
	.writer_write = ferry_sqlite__writer_write,
	.writer_close = ferry_sqlite__writer_close,
	.create_table = ferry_sqlite__create_table,
	.create_indexes = ferry_sqlite__create_indexes,
	.table_rows = sq_table_rows,
	.fk_check = sq_fk_check,
	.finish = sq_finish,
	.discard = sq_discard,
	.later_track = ferry_sqlite__later_track,
	.later_untrack = ferry_sqlite__later_untrack,
};

static const ferry_engine_migrate sq_migrate = {
	.lock_try = ferry_sqlite__lock_try,
	.lock_release = ferry_sqlite__lock_release,
	.split_sql = ferry_sqlite__split_sql,
	.needs_autocommit = ferry_sqlite__needs_autocommit,
};

static const ferry_engine_types sq_types = {
	.probe_type = ferry_sqlite__probe_type,
};

const ferry_engine ferry__sqlite_engine = {
	.version = FERRY_ENGINE_VERSION,
	.name = "sqlite",
	.schemes = sq_schemes,
	.max_writers = 1,
	.flags = FERRY_ENGINE_NUMERIC_AFFINITY | FERRY_ENGINE_TEXT_FLOATS | FERRY_ENGINE_ONE_WRITER,
	.claim = sq_claim,
	.url_resolve = sq_url_resolve,
	.url_path = sq_url_path,
	.url_identity = sq_url_identity,
	.core = &sq_core,
	.read = &sq_read,
	.write = &sq_write,
	.migrate = &sq_migrate,
	.types = &sq_types,
	.capture = &ferry_sqlite__capture,
};
