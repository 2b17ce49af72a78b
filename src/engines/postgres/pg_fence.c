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

/* ---- later: the keys the application deleted (docs/LATER.md) ---------------------------- */
/* Statement triggers with transition tables, one query per statement: AFTER DELETE (and
 * TRUNCATE, recorded as the key '*') records ROW(key)::text of each row a session that is not
 * ferry's (ferry.origin) deletes; AFTER INSERT, in a session that set ferry.later (the
 * backfill's and a fetch's writers), deletes again each row just inserted whose key is
 * recorded. After, not before: an insert that waited on a row being deleted goes in once the
 * delete commits, and this statement's query, with a snapshot of its own, then sees the
 * record. The SQL of each table is a trigger argument, so two functions serve every table. */

static void pg_key_list(ferry_buf *b, const char *prefix, const char *const *keys, size_t nkeys)
{
	for (size_t k = 0; k < nkeys; k++) {
		ferry_buf_printf(b, "%s%s", k ? ", " : "", prefix);
		ferry_pg__buf_ident(b, keys[k]);
	}
}

/* EXECUTE FUNCTION schema.fn('sql') of a later: trigger. */
static int later_trigger(ferry_buf *b, pg_conn *c, const char *name, const char *when,
                         const ferry_capture_table *t, const char *fn, const ferry_buf *sql)
{
	ferry_buf_printf(b, "DROP TRIGGER IF EXISTS \"%s\" ON ", name);
	ferry_pg__buf_table(b, c, t->table);
	ferry_buf_printf(b, ";\nCREATE TRIGGER \"%s\" %s ON ", name, when);
	ferry_pg__buf_table(b, c, t->table);
	ferry_buf_printf(b, "%s EXECUTE FUNCTION ", strstr(when, "INSERT") ? " REFERENCING NEW TABLE AS ferry_new FOR EACH STATEMENT WHEN (current_setting('ferry.later', true) = 'on')"
	                                          : strstr(when, "DELETE") ? " REFERENCING OLD TABLE AS ferry_old FOR EACH STATEMENT"
	                                          : " FOR EACH STATEMENT");
	ferry_pg__buf_ident(b, c->schema);
	ferry_buf_printf(b, ".\"%s\"(", fn);
	ferry_pg__buf_literal(b, sql->data ? sql->data : "", sql->len);
	return ferry_buf_puts(b, ");\n");
}

int ferry_pg__later_track(ferry_conn *conn, const ferry_capture_table *tables, size_t ntables,
                          ferry_err *err)
{
	pg_conn *c = PGC(conn);
	ferry_buf b = FERRY_BUF_INIT, log = FERRY_BUF_INIT;
	ferry_pg__buf_ident(&log, c->schema);
	ferry_buf_puts(&log, ".ferry_later_deleted");
	ferry_buf_printf(&b, "CREATE TABLE IF NOT EXISTS %s(tbl text NOT NULL, k text NOT NULL, PRIMARY KEY (tbl, k));\n",
	                 log.data);
	ferry_buf_puts(&b, "CREATE OR REPLACE FUNCTION ");
	ferry_pg__buf_ident(&b, c->schema);
	ferry_buf_puts(&b, ".ferry_later_log() RETURNS trigger LANGUAGE plpgsql AS $ferry$ BEGIN "
	                   "IF coalesce(current_setting('ferry.origin', true), '') <> 'on' THEN EXECUTE TG_ARGV[0]; "
	                   "END IF; RETURN NULL; END $ferry$;\nCREATE OR REPLACE FUNCTION ");
	ferry_pg__buf_ident(&b, c->schema);
	ferry_buf_puts(&b, ".ferry_later_guard() RETURNS trigger LANGUAGE plpgsql AS $ferry$ BEGIN "
	                   "EXECUTE TG_ARGV[0]; RETURN NULL; END $ferry$;\n");
	for (size_t i = 0; i < ntables; i++) {
		const ferry_capture_table *t = &tables[i];
		ferry_buf tbl = FERRY_BUF_INIT, del = FERRY_BUF_INIT, trunc = FERRY_BUF_INIT, guard = FERRY_BUF_INIT;
		ferry_pg__buf_literal(&tbl, t->table, strlen(t->table));
		ferry_buf_printf(&del, "INSERT INTO %s SELECT %s, ROW(", log.data, tbl.data);
		pg_key_list(&del, "", t->keys, t->nkeys);
		ferry_buf_puts(&del, ")::text FROM ferry_old ON CONFLICT DO NOTHING");
		ferry_buf_printf(&trunc, "INSERT INTO %s VALUES (%s, '*') ON CONFLICT DO NOTHING", log.data, tbl.data);
		ferry_buf_puts(&guard, "DELETE FROM ");
		ferry_pg__buf_table(&guard, c, t->table);
		ferry_buf_puts(&guard, " AS ferry_t USING ferry_new AS n WHERE (");
		pg_key_list(&guard, "ferry_t.", t->keys, t->nkeys);
		ferry_buf_puts(&guard, ") = (");
		pg_key_list(&guard, "n.", t->keys, t->nkeys);
		ferry_buf_puts(&guard, ") AND (ROW(");
		pg_key_list(&guard, "n.", t->keys, t->nkeys);
		ferry_buf_printf(&guard, ")::text IN (SELECT k FROM %s WHERE tbl = %s) OR EXISTS (SELECT 1 FROM %s "
		                         "WHERE tbl = %s AND k = '*'))", log.data, tbl.data, log.data, tbl.data);
		later_trigger(&b, c, "ferry_later_log", "AFTER DELETE", t, "ferry_later_log", &del);
		later_trigger(&b, c, "ferry_later_truncate", "AFTER TRUNCATE", t, "ferry_later_log", &trunc);
		later_trigger(&b, c, "ferry_later_guard", "AFTER INSERT", t, "ferry_later_guard", &guard);
		if (tbl.failed || del.failed || trunc.failed || guard.failed)
			b.failed = 1;
		ferry_buf_free(&tbl);
		ferry_buf_free(&del);
		ferry_buf_free(&trunc);
		ferry_buf_free(&guard);
	}
	int rc = b.failed || log.failed ? OOM(err) : ferry_pg__exec(c, b.data, err, "record the deletes of later: tables");
	ferry_buf_free(&b);
	ferry_buf_free(&log);
	return rc;
}

int ferry_pg__later_untrack(ferry_conn *conn, const ferry_capture_table *tables, size_t ntables,
                            ferry_err *err)
{
	pg_conn *c = PGC(conn);
	ferry_buf b = FERRY_BUF_INIT, log = FERRY_BUF_INIT;
	ferry_pg__buf_ident(&log, c->schema);
	ferry_buf_puts(&log, ".ferry_later_deleted");
	/* One statement: the tables' triggers and records, then, when no table is recorded any
	 * more, the functions (with any trigger left) and the record itself. */
	ferry_buf_puts(&b, "DO $ferry$ BEGIN IF to_regclass(");
	ferry_pg__buf_literal(&b, log.data ? log.data : "", log.len);
	ferry_buf_puts(&b, ") IS NULL THEN RETURN; END IF;\n");
	static const char *const trig[] = {"ferry_later_log", "ferry_later_truncate", "ferry_later_guard"};
	for (size_t i = 0; i < ntables; i++) {
		for (size_t k = 0; k < 3; k++) {
			ferry_buf_printf(&b, "DROP TRIGGER IF EXISTS \"%s\" ON ", trig[k]);
			ferry_pg__buf_table(&b, c, tables[i].table);
			ferry_buf_puts(&b, ";\n");
		}
		ferry_buf_printf(&b, "DELETE FROM %s WHERE tbl = ", log.data);
		ferry_pg__buf_literal(&b, tables[i].table, strlen(tables[i].table));
		ferry_buf_puts(&b, ";\n");
	}
	ferry_buf_puts(&b, "IF NOT EXISTS (SELECT 1 FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid "
	                   "WHERE p.proname = 'ferry_later_log' AND p.pronamespace = ");
	ferry_pg__buf_literal(&b, c->schema, strlen(c->schema));
	ferry_buf_puts(&b, "::regnamespace) THEN DROP FUNCTION IF EXISTS ");
	ferry_pg__buf_ident(&b, c->schema);
	ferry_buf_puts(&b, ".ferry_later_log() CASCADE; DROP FUNCTION IF EXISTS ");
	ferry_pg__buf_ident(&b, c->schema);
	ferry_buf_printf(&b, ".ferry_later_guard() CASCADE; DROP TABLE IF EXISTS %s; END IF; END $ferry$", log.data);
	int rc = b.failed || log.failed ? OOM(err) : ferry_pg__exec(c, b.data, err, "remove the record of later: deletes");
	ferry_buf_free(&b);
	ferry_buf_free(&log);
	return rc;
}
