/* pg_fence.c — the cut-over's part of PostgreSQL capture. freeze: LOCK TABLE … IN EXCLUSIVE
 * MODE (reads go on, writes wait) under a lock_timeout, then a non-transactional logical
 * message, which the stream delivers at once at a WAL position after every commit that
 * wrote the tables. fence: a statement trigger per table that raises with a message naming
 * the new version unless the session set ferry.origin (fence_exempt), in the same
 * transaction. */
#include <stdlib.h>
#include <string.h>
#include "pg_int.h"

/* The first 16 hex digits of the run id name everything of a run's fence. */
static void run_tag(char out[17], const char *run_id)
{
	snprintf(out, 17, "%.16s", run_id);
}

static int parse_lsn(const char *s, uint64_t *out)
{
	unsigned hi, lo;
	if (!s || sscanf(s, "%X/%X", &hi, &lo) != 2)
		return -1;
	*out = ((uint64_t)hi << 32) | lo;
	return 0;
}

int ferry_pg__freeze(ferry_conn *conn, const char *run_id, const ferry_capture_table *tables,
                     size_t ntables, int wait_ms, const char *text, uint64_t *pos, ferry_err *err)
{
	pg_conn *c = PGC(conn);
	*pos = 0;
	ferry_buf b = FERRY_BUF_INIT;
	ferry_buf_printf(&b, "BEGIN; SET LOCAL lock_timeout = %d; LOCK TABLE ", wait_ms > 0 ? wait_ms : 1);
	for (size_t i = 0; i < ntables; i++) {
		if (i)
			ferry_buf_puts(&b, ", ");
		ferry_pg__buf_table(&b, c, tables[i].table);
	}
	ferry_buf_puts(&b, " IN EXCLUSIVE MODE");
	if (b.failed)
		return OOM(err);
	int rc = ferry_pg__exec(c, b.data, err, "block writes to the captured tables");
	ferry_buf_free(&b);
	if (rc) {
		ferry_pg__exec(c, "ROLLBACK", &(ferry_err){0}, "roll back");
		return rc;
	}
	char prefix[64];
	snprintf(prefix, sizeof(prefix), "ferry:%s", run_id);
	const char *params[2] = {prefix, text};
	PGresult *res = NULL;
	rc = ferry_pg__query(c, &res, "SELECT pg_logical_emit_message(false, $1, $2)::text", 2, params,
	                     err, "put the cut-over's marker into the stream");
	if (rc == 0 && (PQntuples(res) != 1 || parse_lsn(PQgetvalue(res, 0, 0), pos) != 0))
		rc = ferry_err_set(err, FERRY_ERROR, "could not read the position of the cut-over's marker in %s",
		                   c->label);
	PQclear(res);
	if (rc)
		ferry_pg__exec(c, "ROLLBACK", &(ferry_err){0}, "roll back");
	return rc;
}

int ferry_pg__fence(ferry_conn *conn, const char *run_id, const ferry_capture_table *tables,
                    size_t ntables, const char *message, ferry_err *err)
{
	pg_conn *c = PGC(conn);
	char tag[17];
	run_tag(tag, run_id);
	ferry_buf b = FERRY_BUF_INIT;
	/* One function per run, in the schema of the tables; it lets ferry's sessions through. */
	ferry_buf_printf(&b, "CREATE OR REPLACE FUNCTION ");
	ferry_pg__buf_ident(&b, c->schema);
	ferry_buf_printf(&b, ".\"ferry_fence_%s\"() RETURNS trigger LANGUAGE plpgsql AS $ferry$ BEGIN "
	                     "IF coalesce(current_setting('ferry.origin', true), '') <> 'on' THEN "
	                     "RAISE EXCEPTION USING ERRCODE = 'read_only_sql_transaction', MESSAGE = ", tag);
	ferry_pg__buf_literal(&b, message, strlen(message));
	ferry_buf_puts(&b, "; END IF; RETURN NULL; END $ferry$;\n");
	for (size_t i = 0; i < ntables; i++) {
		/* Dropped first: a cut-over killed after its fence committed is rerun to the end. */
		ferry_buf_printf(&b, "DROP TRIGGER IF EXISTS \"ferry_fence_%s\" ON ", tag);
		ferry_pg__buf_table(&b, c, tables[i].table);
		ferry_buf_puts(&b, ";\n");
		ferry_buf_printf(&b, "CREATE TRIGGER \"ferry_fence_%s\" BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON ", tag);
		ferry_pg__buf_table(&b, c, tables[i].table);
		ferry_buf_puts(&b, " FOR EACH STATEMENT EXECUTE FUNCTION ");
		ferry_pg__buf_ident(&b, c->schema);
		ferry_buf_printf(&b, ".\"ferry_fence_%s\"();\n", tag);
	}
	if (b.failed)
		return OOM(err);
	int rc = ferry_pg__exec(c, b.data, err, "fence the old version");
	ferry_buf_free(&b);
	return rc;
}

int ferry_pg__thaw(ferry_conn *conn, int commit, ferry_err *err)
{
	return ferry_pg__exec(PGC(conn), commit ? "COMMIT" : "ROLLBACK", err,
	                      commit ? "commit the cut-over" : "roll back the cut-over");
}

int ferry_pg__unfence(ferry_conn *conn, const char *run_id, ferry_err *err)
{
	pg_conn *c = PGC(conn);
	char tag[17];
	run_tag(tag, run_id);
	ferry_buf b = FERRY_BUF_INIT;
	/* Dropping the function drops every trigger that calls it. */
	ferry_buf_puts(&b, "DROP FUNCTION IF EXISTS ");
	ferry_pg__buf_ident(&b, c->schema);
	ferry_buf_printf(&b, ".\"ferry_fence_%s\"() CASCADE", tag);
	if (b.failed)
		return OOM(err);
	int rc = ferry_pg__exec(c, b.data, err, "remove the fence");
	ferry_buf_free(&b);
	return rc;
}

int ferry_pg__fence_exempt(ferry_conn *conn, ferry_err *err)
{
	return ferry_pg__exec(PGC(conn), "SET ferry.origin = 'on'", err, "mark the session as ferry's");
}
