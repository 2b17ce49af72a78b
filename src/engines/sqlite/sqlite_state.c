/* sqlite_state.c — ferry's run state in an SQLite target: ferry_runs (run-level flags),
 * ferry_progress (one row per chunk, marked done in the chunk's own transaction) and
 * ferry_rejects. Statements are prepared once per connection and finalized in close. */
#include <string.h>
#include "sqlite_int.h"

static const char *const state_sql[SQ_ST_COUNT] = {
	[SQ_ST_LOAD] = "SELECT job, chunk, job_name, lo, hi, est_rows, done, rows_read, "
	               "rows_written, rows_rejected, rows_skipped FROM ferry_progress "
	               "WHERE run_id = ?1 ORDER BY job, chunk",
	[SQ_ST_ADD] = "INSERT INTO ferry_progress(run_id, job, chunk, job_name, lo, hi, est_rows, "
	              "done, rows_read, rows_written, rows_rejected, rows_skipped) "
	              "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
	/* done = 0: a chunk is recorded done exactly once. */
	[SQ_ST_DONE] = "UPDATE ferry_progress SET done = 1, rows_read = ?4, rows_written = ?5, "
	               "rows_rejected = ?6, rows_skipped = ?7, done_at = ?8 "
	               "WHERE run_id = ?1 AND job = ?2 AND chunk = ?3 AND done = 0",
	[SQ_ST_REJECT] = "INSERT INTO ferry_rejects(run_id, job, chunk, table_name, row_key, reason) "
	                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[SQ_ST_REJECTS] = "SELECT table_name, row_key, reason FROM ferry_rejects "
	                  "WHERE run_id = ?1 ORDER BY rowid",
	[SQ_ST_GET] = "SELECT 1 FROM ferry_runs WHERE run_id = ?1 AND flag = ?2",
	[SQ_ST_SET] = "INSERT OR IGNORE INTO ferry_runs(run_id, flag, set_at) VALUES (?1, ?2, ?3)",
};

static const char state_ddl[] =
	"CREATE TABLE IF NOT EXISTS ferry_runs(run_id TEXT NOT NULL, flag TEXT NOT NULL, "
	"set_at TEXT NOT NULL, PRIMARY KEY(run_id, flag));"
	"CREATE TABLE IF NOT EXISTS ferry_progress(run_id TEXT NOT NULL, job INTEGER NOT NULL, "
	"chunk INTEGER NOT NULL, job_name TEXT NOT NULL, lo BLOB, hi BLOB, "
	"est_rows INTEGER NOT NULL, done INTEGER NOT NULL DEFAULT 0, "
	"rows_read INTEGER NOT NULL DEFAULT 0, rows_written INTEGER NOT NULL DEFAULT 0, "
	"rows_rejected INTEGER NOT NULL DEFAULT 0, rows_skipped INTEGER NOT NULL DEFAULT 0, "
	"done_at TEXT, PRIMARY KEY(run_id, job, chunk));"
	"CREATE TABLE IF NOT EXISTS ferry_rejects(run_id TEXT NOT NULL, job INTEGER NOT NULL, "
	"chunk INTEGER NOT NULL, table_name TEXT NOT NULL, row_key TEXT, reason TEXT NOT NULL);";

/* The cached statement id, reset with fresh bindings. *out is NULL (and 0 returned) when
 * `missing_ok` and the state tables do not exist yet: reading a target never set up finds
 * an empty state. */
static int stmt(sq_conn *c, int id, int missing_ok, sqlite3_stmt **out, ferry_err *err)
{
	*out = NULL;
	if (!c->st[id]) {
		char what[300];
		snprintf(what, sizeof(what), "use the run state in \"%s\"", c->path);
		int rc = ferry_sqlite__prepare(c, &c->st[id], state_sql[id], 1, err, what);
		if (rc == FERRY_ENOTFOUND && missing_ok) {
			memset(err, 0, sizeof(*err));
			return 0;
		}
		if (rc)
			return rc;
	}
	*out = c->st[id];
	return 0;
}

/* Finish a statement: reset it (so it holds no lock) and fill err on a failed step. */
static int done(sq_conn *c, sqlite3_stmt *st, int rc, ferry_err *err)
{
	int ok = rc == SQLITE_DONE || rc == SQLITE_ROW || rc == SQLITE_OK;
	if (!ok)
		ferry_sqlite__fail(c, rc, err, "could not update the run state in \"%s\"", c->path);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return ok ? 0 : err->code;
}

static void bind_str(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

static void bind_bytes(sqlite3_stmt *st, int i, const uint8_t *p, size_t n)
{
	if (p && n)
		sqlite3_bind_blob64(st, i, p, n, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

int ferry_sqlite__state_init(ferry_conn *conn, ferry_err *err)
{
	sq_conn *c = SQ(conn);
	int own = sqlite3_get_autocommit(c->db);
	int rc;
	if (own && (rc = ferry_sqlite__exec(c, "BEGIN", err)) != 0)
		return rc;
	rc = ferry_sqlite__exec(c, state_ddl, err);
	if (own) {
		if (rc == 0)
			rc = ferry_sqlite__exec(c, "COMMIT", err);
		if (rc && !sqlite3_get_autocommit(c->db))
			sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	}
	return rc;
}

int ferry_sqlite__state_load(ferry_conn *conn, const char *run_id, ferry_chunk_cb cb, void *ud,
                             ferry_err *err)
{
	sq_conn *c = SQ(conn);
	sqlite3_stmt *st;
	int rc = stmt(c, SQ_ST_LOAD, 1, &st, err);
	if (rc || !st)
		return rc;
	bind_str(st, 1, run_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		ferry_chunk_rec rec;
		memset(&rec, 0, sizeof(rec));
		rec.job = sqlite3_column_int64(st, 0);
		rec.chunk = sqlite3_column_int64(st, 1);
		rec.job_name = (const char *)sqlite3_column_text(st, 2);
		rec.lo = sqlite3_column_blob(st, 3);
		rec.lo_len = (size_t)sqlite3_column_bytes(st, 3);
		rec.hi = sqlite3_column_blob(st, 4);
		rec.hi_len = (size_t)sqlite3_column_bytes(st, 4);
		if (!rec.lo_len)
			rec.lo = NULL;
		if (!rec.hi_len)
			rec.hi = NULL;
		rec.est_rows = sqlite3_column_int64(st, 5);
		rec.done = sqlite3_column_int(st, 6) != 0;
		rec.rows_read = sqlite3_column_int64(st, 7);
		rec.rows_written = sqlite3_column_int64(st, 8);
		rec.rows_rejected = sqlite3_column_int64(st, 9);
		rec.rows_skipped = sqlite3_column_int64(st, 10);
		int stop = cb(ud, &rec);
		if (stop) {
			done(c, st, SQLITE_DONE, err);
			return stop;
		}
	}
	return done(c, st, rc, err);
}

int ferry_sqlite__state_add_chunks(ferry_conn *conn, const char *run_id,
                                   const ferry_chunk_rec *recs, size_t n, ferry_err *err)
{
	sq_conn *c = SQ(conn);
	sqlite3_stmt *st;
	int rc = stmt(c, SQ_ST_ADD, 0, &st, err);
	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++) {
		const ferry_chunk_rec *r = &recs[i];
		bind_str(st, 1, run_id);
		sqlite3_bind_int64(st, 2, r->job);
		sqlite3_bind_int64(st, 3, r->chunk);
		bind_str(st, 4, r->job_name ? r->job_name : "");
		bind_bytes(st, 5, r->lo, r->lo_len);
		bind_bytes(st, 6, r->hi, r->hi_len);
		sqlite3_bind_int64(st, 7, r->est_rows);
		sqlite3_bind_int(st, 8, r->done != 0);
		sqlite3_bind_int64(st, 9, r->rows_read);
		sqlite3_bind_int64(st, 10, r->rows_written);
		sqlite3_bind_int64(st, 11, r->rows_rejected);
		sqlite3_bind_int64(st, 12, r->rows_skipped);
		if ((rc = done(c, st, sqlite3_step(st), err)) != 0)
			return rc;
	}
	return 0;
}

int ferry_sqlite__state_chunk_done(ferry_conn *conn, const char *run_id,
                                   const ferry_chunk_rec *rec, ferry_err *err)
{
	sq_conn *c = SQ(conn);
	sqlite3_stmt *st;
	int rc = stmt(c, SQ_ST_DONE, 0, &st, err);
	if (rc)
		return rc;
	char now[32];
	ferry__utc_iso(now);
	bind_str(st, 1, run_id);
	sqlite3_bind_int64(st, 2, rec->job);
	sqlite3_bind_int64(st, 3, rec->chunk);
	sqlite3_bind_int64(st, 4, rec->rows_read);
	sqlite3_bind_int64(st, 5, rec->rows_written);
	sqlite3_bind_int64(st, 6, rec->rows_rejected);
	sqlite3_bind_int64(st, 7, rec->rows_skipped);
	bind_str(st, 8, now);
	if ((rc = done(c, st, sqlite3_step(st), err)) != 0)
		return rc;
	if (sqlite3_changes(c->db) != 1)
		return ferry_err_set(err, FERRY_ECORRUPT,
		                     "could not mark chunk %lld of job %lld done in \"%s\": it is not a "
		                     "pending chunk of run %s", (long long)rec->chunk, (long long)rec->job,
		                     c->path, run_id);
	return 0;
}

int ferry_sqlite__state_reject(ferry_conn *conn, const char *run_id, int64_t job, int64_t chunk,
                               const char *table, const char *key, const char *reason,
                               ferry_err *err)
{
	sq_conn *c = SQ(conn);
	sqlite3_stmt *st;
	int rc = stmt(c, SQ_ST_REJECT, 0, &st, err);
	if (rc)
		return rc;
	bind_str(st, 1, run_id);
	sqlite3_bind_int64(st, 2, job);
	sqlite3_bind_int64(st, 3, chunk);
	bind_str(st, 4, table);
	bind_str(st, 5, key);
	bind_str(st, 6, reason ? reason : "");
	return done(c, st, sqlite3_step(st), err);
}

int ferry_sqlite__state_rejects(ferry_conn *conn, const char *run_id,
                                int (*cb)(void *ud, const char *table, const char *key,
                                          const char *reason),
                                void *ud, ferry_err *err)
{
	sq_conn *c = SQ(conn);
	sqlite3_stmt *st;
	int rc = stmt(c, SQ_ST_REJECTS, 1, &st, err);
	if (rc || !st)
		return rc;
	bind_str(st, 1, run_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int stop = cb(ud, (const char *)sqlite3_column_text(st, 0),
		              (const char *)sqlite3_column_text(st, 1),
		              (const char *)sqlite3_column_text(st, 2));
		if (stop) {
			done(c, st, SQLITE_DONE, err);
			return stop;
		}
	}
	return done(c, st, rc, err);
}

int ferry_sqlite__state_get(ferry_conn *conn, const char *run_id, const char *flag, int *out,
                            ferry_err *err)
{
	sq_conn *c = SQ(conn);
	sqlite3_stmt *st;
	*out = 0;
	int rc = stmt(c, SQ_ST_GET, 1, &st, err);
	if (rc || !st)
		return rc;
	bind_str(st, 1, run_id);
	bind_str(st, 2, flag);
	rc = sqlite3_step(st);
	*out = rc == SQLITE_ROW;
	return done(c, st, rc, err);
}

int ferry_sqlite__state_set(ferry_conn *conn, const char *run_id, const char *flag,
                            ferry_err *err)
{
	sq_conn *c = SQ(conn);
	sqlite3_stmt *st;
	int rc = stmt(c, SQ_ST_SET, 0, &st, err);
	if (rc)
		return rc;
	char now[32];
	ferry__utc_iso(now);
	bind_str(st, 1, run_id);
	bind_str(st, 2, flag);
	bind_str(st, 3, now);
	return done(c, st, sqlite3_step(st), err);
}
