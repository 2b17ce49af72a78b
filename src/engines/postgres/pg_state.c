/* pg_state.c — ferry's run state in a PostgreSQL target, in the target schema: ferry_runs
 * (run-level flags), ferry_progress (one row per chunk, marked done in the chunk's own
 * transaction) and ferry_rejects. Chunk bounds travel as binary bytea parameters. */
#include <stdlib.h>
#include <string.h>
#include "pg_int.h"

static const char *const state_ddl[] = {
	"CREATE TABLE IF NOT EXISTS %s.ferry_runs(run_id text NOT NULL, flag text NOT NULL, "
	"set_at text NOT NULL, PRIMARY KEY (run_id, flag))",
	"CREATE TABLE IF NOT EXISTS %s.ferry_progress(run_id text NOT NULL, job bigint NOT NULL, "
	"chunk bigint NOT NULL, job_name text NOT NULL, target text, lo bytea, hi bytea, est_rows bigint NOT NULL, "
	"done integer NOT NULL DEFAULT 0, rows_read bigint NOT NULL DEFAULT 0, "
	"rows_written bigint NOT NULL DEFAULT 0, rows_rejected bigint NOT NULL DEFAULT 0, "
	"rows_skipped bigint NOT NULL DEFAULT 0, done_at text, PRIMARY KEY (run_id, job, chunk))",
	"CREATE TABLE IF NOT EXISTS %s.ferry_rejects(id bigint GENERATED ALWAYS AS IDENTITY, "
	"run_id text NOT NULL, job bigint NOT NULL, chunk bigint NOT NULL, table_name text NOT NULL, "
	"row_key text, reason text NOT NULL)",
};

/* The schema, quoted, for the statements above. */
static char *qschema(pg_conn *c)
{
	ferry_buf b = FERRY_BUF_INIT;
	ferry_pg__buf_ident(&b, c->schema);
	return ferry_buf_detach(&b);
}

static char *state_sql(pg_conn *c, const char *fmt)
{
	char *q = qschema(c);
	if (!q)
		return NULL;
	char *sql = ferry__sprintf(fmt, q);
	free(q);
	return sql;
}

/* Does the state table exist yet? A target never set up has an empty state. */
static int have_table(pg_conn *c, const char *table, int *out, ferry_err *err)
{
	*out = 0;
	ferry_buf b = FERRY_BUF_INIT;
	ferry_pg__buf_table(&b, c, table);
	if (b.failed)
		return OOM(err);
	const char *params[1] = {b.data};
	PGresult *res;
	int rc = ferry_pg__query(c, &res, "SELECT to_regclass($1) IS NOT NULL", 1, params, err,
	                         "read the run state");
	ferry_buf_free(&b);
	if (rc)
		return rc;
	*out = PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	return 0;
}

/* Run one state statement with text parameters (formats: NULL, or 1 for binary bytea). */
static int state_exec_what(pg_conn *c, const char *fmt, int n, const char *const *vals,
                           const int *lens, const int *formats, int binary_result,
                           PGresult **out, ferry_err *err, const char *what);

static int state_exec(pg_conn *c, const char *fmt, int n, const char *const *vals,
                      const int *lens, const int *formats, int binary_result, PGresult **out,
                      ferry_err *err)
{
	return state_exec_what(c, fmt, n, vals, lens, formats, binary_result, out, err,
	                       "update the run state");
}

/* The same, saying what failed (a chunk of which table). */
static int state_exec_what(pg_conn *c, const char *fmt, int n, const char *const *vals,
                           const int *lens, const int *formats, int binary_result,
                           PGresult **out, ferry_err *err, const char *what)
{
	if (out)
		*out = NULL;
	char *sql = state_sql(c, fmt);
	if (!sql)
		return OOM(err);
	if (c->broken) {
		free(sql);
		return ferry_err_set(err, FERRY_ERROR, "could not update the run state in %s: the session is unusable",
		                     c->label);
	}
	PGresult *res = PQexecParams(c->db, sql, n, NULL, vals, lens, formats, binary_result);
	free(sql);
	ExecStatusType st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		int rc = ferry_pg__fail(c, res, err, "%s", what);
		PQclear(res);
		return rc;
	}
	if (out)
		*out = res;
	else
		PQclear(res);
	return 0;
}

int ferry_pg__state_init(ferry_conn *conn, ferry_err *err)
{
	pg_conn *c = PGC(conn);
	int own = PQtransactionStatus(c->db) == PQTRANS_IDLE;
	int rc = own ? ferry_pg__exec(c, "BEGIN", err, "begin a transaction") : 0;
	for (size_t i = 0; rc == 0 && i < FERRY_ARRAY_LEN(state_ddl); i++) {
		char *sql = state_sql(c, state_ddl[i]);
		rc = sql ? ferry_pg__exec(c, sql, err, "create ferry's state tables") : OOM(err);
		free(sql);
	}
	if (own) {
		if (rc == 0)
			rc = ferry_pg__exec(c, "COMMIT", err, "commit");
		else
			PQclear(PQexec(c->db, "ROLLBACK"));
	}
	return rc;
}

static int64_t get64(const PGresult *res, int r, int col)
{
	const uint8_t *p = (const uint8_t *)PQgetvalue(res, r, col);
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return (int64_t)v;
}

static int get32(const PGresult *res, int r, int col)
{
	const uint8_t *p = (const uint8_t *)PQgetvalue(res, r, col);
	return (int)(((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3]);
}

int ferry_pg__state_load(ferry_conn *conn, const char *run_id, ferry_chunk_cb cb, void *ud,
                         ferry_err *err)
{
	pg_conn *c = PGC(conn);
	int have;
	int rc = have_table(c, "ferry_progress", &have, err);
	if (rc || !have)
		return rc;
	const char *vals[1] = {run_id};
	PGresult *res;
	rc = state_exec(c, "SELECT job, chunk, job_name, lo, hi, est_rows, done, rows_read, "
	                "rows_written, rows_rejected, rows_skipped FROM %s.ferry_progress "
	                "WHERE run_id = $1 ORDER BY job, chunk", 1, vals, NULL, NULL, 1, &res, err);
	if (rc)
		return rc;
	for (int r = 0; r < PQntuples(res) && rc == 0; r++) {
		ferry_chunk_rec rec;
		memset(&rec, 0, sizeof(rec));
		rec.job = get64(res, r, 0);
		rec.chunk = get64(res, r, 1);
		rec.job_name = PQgetvalue(res, r, 2);
		if (!PQgetisnull(res, r, 3) && PQgetlength(res, r, 3) > 0) {
			rec.lo = (const uint8_t *)PQgetvalue(res, r, 3);
			rec.lo_len = (size_t)PQgetlength(res, r, 3);
		}
		if (!PQgetisnull(res, r, 4) && PQgetlength(res, r, 4) > 0) {
			rec.hi = (const uint8_t *)PQgetvalue(res, r, 4);
			rec.hi_len = (size_t)PQgetlength(res, r, 4);
		}
		rec.est_rows = get64(res, r, 5);
		rec.done = get32(res, r, 6) != 0;
		rec.rows_read = get64(res, r, 7);
		rec.rows_written = get64(res, r, 8);
		rec.rows_rejected = get64(res, r, 9);
		rec.rows_skipped = get64(res, r, 10);
		rc = cb(ud, &rec);
	}
	PQclear(res);
	return rc;
}

int ferry_pg__state_add_chunks(ferry_conn *conn, const char *run_id,
                               const ferry_chunk_rec *recs, size_t n, ferry_err *err)
{
	pg_conn *c = PGC(conn);
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		const ferry_chunk_rec *r = &recs[i];
		char num[8][24];
		snprintf(num[0], sizeof(num[0]), "%lld", (long long)r->job);
		snprintf(num[1], sizeof(num[1]), "%lld", (long long)r->chunk);
		snprintf(num[2], sizeof(num[2]), "%lld", (long long)r->est_rows);
		snprintf(num[3], sizeof(num[3]), "%d", r->done != 0);
		snprintf(num[4], sizeof(num[4]), "%lld", (long long)r->rows_read);
		snprintf(num[5], sizeof(num[5]), "%lld", (long long)r->rows_written);
		snprintf(num[6], sizeof(num[6]), "%lld", (long long)r->rows_rejected);
		snprintf(num[7], sizeof(num[7]), "%lld", (long long)r->rows_skipped);
		const char *vals[13] = {run_id, num[0], num[1], r->job_name ? r->job_name : "",
		                        r->lo && r->lo_len ? (const char *)r->lo : NULL,
		                        r->hi && r->hi_len ? (const char *)r->hi : NULL,
		                        num[2], num[3], num[4], num[5], num[6], num[7], r->table};
		int lens[13] = {0, 0, 0, 0, (int)r->lo_len, (int)r->hi_len, 0, 0, 0, 0, 0, 0, 0};
		int fmts[13] = {0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0};
		rc = state_exec(c, "INSERT INTO %s.ferry_progress(run_id, job, chunk, job_name, lo, hi, "
		                "est_rows, done, rows_read, rows_written, rows_rejected, rows_skipped, target) "
		                "VALUES ($1, $2, $3, $4, $5::bytea, $6::bytea, $7, $8, $9, $10, $11, $12, $13)",
		                13, vals, lens, fmts, 0, NULL, err);
	}
	return rc;
}

int ferry_pg__state_chunk_done(ferry_conn *conn, const char *run_id,
                               const ferry_chunk_rec *rec, ferry_err *err)
{
	pg_conn *c = PGC(conn);
	char num[6][24], now[32];
	ferry__utc_iso(now);
	snprintf(num[0], sizeof(num[0]), "%lld", (long long)rec->job);
	snprintf(num[1], sizeof(num[1]), "%lld", (long long)rec->chunk);
	snprintf(num[2], sizeof(num[2]), "%lld", (long long)rec->rows_read);
	snprintf(num[3], sizeof(num[3]), "%lld", (long long)rec->rows_written);
	snprintf(num[4], sizeof(num[4]), "%lld", (long long)rec->rows_rejected);
	snprintf(num[5], sizeof(num[5]), "%lld", (long long)rec->rows_skipped);
	const char *vals[8] = {run_id, num[0], num[1], num[2], num[3], num[4], num[5], now};
	char what[400];
	snprintf(what, sizeof(what), "record chunk %lld of table \"%s\" as done", (long long)rec->chunk,
	         rec->table ? rec->table : rec->job_name ? rec->job_name : "?");
	PGresult *res;
	int rc = state_exec_what(c, "UPDATE %s.ferry_progress SET done = 1, rows_read = $4, "
	                         "rows_written = $5, rows_rejected = $6, rows_skipped = $7, done_at = $8 "
	                         "WHERE run_id = $1 AND job = $2 AND chunk = $3 AND done = 0",
	                         8, vals, NULL, NULL, 0, &res, err, what);
	if (rc)
		return rc;
	int one = strcmp(PQcmdTuples(res), "1") == 0;
	PQclear(res);
	if (!one)
		return ferry_err_set(err, FERRY_ECORRUPT,
		                     "could not mark chunk %lld of job %lld done in %s: it is not a "
		                     "pending chunk of run %s", (long long)rec->chunk, (long long)rec->job,
		                     c->label, run_id);
	return 0;
}

int ferry_pg__state_reject(ferry_conn *conn, const char *run_id, int64_t job, int64_t chunk,
                           const char *table, const char *key, const char *reason,
                           ferry_err *err)
{
	pg_conn *c = PGC(conn);
	char num[2][24];
	snprintf(num[0], sizeof(num[0]), "%lld", (long long)job);
	snprintf(num[1], sizeof(num[1]), "%lld", (long long)chunk);
	const char *vals[6] = {run_id, num[0], num[1], table, key, reason ? reason : ""};
	char what[400];
	snprintf(what, sizeof(what), "record a rejected row of table \"%s\"", table ? table : "?");
	return state_exec_what(c, "INSERT INTO %s.ferry_rejects(run_id, job, chunk, table_name, row_key, "
	                       "reason) VALUES ($1, $2, $3, $4, $5, $6)", 6, vals, NULL, NULL, 0, NULL,
	                       err, what);
}

int ferry_pg__state_rejects(ferry_conn *conn, const char *run_id,
                            int (*cb)(void *ud, const char *table, const char *key,
                                      const char *reason),
                            void *ud, ferry_err *err)
{
	pg_conn *c = PGC(conn);
	int have;
	int rc = have_table(c, "ferry_rejects", &have, err);
	if (rc || !have)
		return rc;
	const char *vals[1] = {run_id};
	PGresult *res;
	rc = state_exec(c, "SELECT table_name, row_key, reason FROM %s.ferry_rejects "
	                "WHERE run_id = $1 ORDER BY id", 1, vals, NULL, NULL, 0, &res, err);
	if (rc)
		return rc;
	for (int r = 0; r < PQntuples(res) && rc == 0; r++)
		rc = cb(ud, PQgetvalue(res, r, 0), PQgetisnull(res, r, 1) ? NULL : PQgetvalue(res, r, 1),
		        PQgetvalue(res, r, 2));
	PQclear(res);
	return rc;
}

int ferry_pg__state_get(ferry_conn *conn, const char *run_id, const char *flag, int *out,
                        ferry_err *err)
{
	pg_conn *c = PGC(conn);
	*out = 0;
	int have;
	int rc = have_table(c, "ferry_runs", &have, err);
	if (rc || !have)
		return rc;
	const char *vals[2] = {run_id, flag};
	PGresult *res;
	rc = state_exec(c, "SELECT 1 FROM %s.ferry_runs WHERE run_id = $1 AND flag = $2", 2, vals,
	                NULL, NULL, 0, &res, err);
	if (rc)
		return rc;
	*out = PQntuples(res) > 0;
	PQclear(res);
	return 0;
}

int ferry_pg__state_set(ferry_conn *conn, const char *run_id, const char *flag, ferry_err *err)
{
	pg_conn *c = PGC(conn);
	char now[32];
	ferry__utc_iso(now);
	const char *vals[3] = {run_id, flag, now};
	return state_exec(c, "INSERT INTO %s.ferry_runs(run_id, flag, set_at) VALUES ($1, $2, $3) "
	                  "ON CONFLICT DO NOTHING", 3, vals, NULL, NULL, 0, NULL, err);
}
