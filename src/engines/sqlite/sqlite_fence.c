/* sqlite_fence.c — the cut-over's part of SQLite capture: freeze (the write lock, taken with
 * BEGIN IMMEDIATE: readers go on under WAL, writers wait on their busy timeout), the fence
 * (BEFORE triggers that abort every write with a message naming the new version), and the
 * exemption of ferry's own connections: a connection that attached a database named
 * ferry_origin, which the fence's WHEN clause looks for in pragma_database_list. */
#include <stdlib.h>
#include <string.h>
#include "sqlite_int.h"

#define OOM(err) ferry_err_set((err), FERRY_ENOMEM, "out of memory")

/* The first 16 hex digits of the run id name everything of a run's fence. */
static void run_tag(char out[17], const char *run_id)
{
	snprintf(out, 17, "%.16s", run_id);
}

int ferry_sqlite__freeze(ferry_conn *conn, const char *run_id, const ferry_capture_table *tables,
                         size_t ntables, int wait_ms, const char *text, uint64_t *pos,
                         ferry_err *err)
{
	sq_conn *c = SQ(conn);
	(void)tables;
	(void)ntables;
	(void)text;
	*pos = 0;
	sqlite3_busy_timeout(c->db, wait_ms > 0 ? wait_ms : 1);
	int rc = sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		rc = ferry_sqlite__fail(c, rc, err,
		                        "could not block writes to \"%s\" within %d ms (another writer holds the lock)",
		                        c->path, wait_ms);
		/* The connection's ordinary wait again: its next marker, after this attempt is
		 * given up, must not fail after wait_ms behind a busy application. */
		sqlite3_busy_timeout(c->db, 30000);
		return rc;
	}
	uint64_t last = 0;
	int e = ferry_sqlite__capture_last(c, run_id, &last, err);
	if (e) {
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
		sqlite3_busy_timeout(c->db, 30000);
		return e;
	}
	*pos = last + 1;
	return 0;
}

/* Append the fence trigger of one table and one operation. */
static int fence_trigger(ferry_buf *b, const char *tag, size_t i, const char *op, const char *table,
                         const char *message)
{
	/* IF NOT EXISTS: a cut-over killed after its fence committed is rerun to the end. */
	ferry_buf_printf(b, "CREATE TRIGGER IF NOT EXISTS \"ferry_fence_%s_%zu_%s\" BEFORE %s ON ", tag, i, op, op);
	ferry_sqlite__buf_ident(b, table);
	ferry_buf_puts(b, " WHEN NOT EXISTS (SELECT 1 FROM pragma_database_list WHERE name = 'ferry_origin')"
	                  " BEGIN SELECT RAISE(ABORT, '");
	for (const char *p = message; *p; p++)
		ferry_buf_add(b, *p == '\'' ? "''" : p, *p == '\'' ? 2 : 1);
	return ferry_buf_puts(b, "'); END;\n");
}

int ferry_sqlite__fence(ferry_conn *conn, const char *run_id, const ferry_capture_table *tables,
                        size_t ntables, const char *message, ferry_err *err)
{
	sq_conn *c = SQ(conn);
	char tag[17];
	run_tag(tag, run_id);
	static const char *const ops[] = {"INSERT", "UPDATE", "DELETE"};
	ferry_buf b = FERRY_BUF_INIT;
	for (size_t i = 0; i < ntables; i++)
		for (size_t k = 0; k < FERRY_ARRAY_LEN(ops); k++)
			fence_trigger(&b, tag, i, ops[k], tables[i].table, message);
	if (b.failed)
		return OOM(err);
	int rc = ntables ? ferry_sqlite__exec(c, b.data, err) : 0;
	ferry_buf_free(&b);
	return rc;
}

int ferry_sqlite__thaw(ferry_conn *conn, int commit, ferry_err *err)
{
	sq_conn *c = SQ(conn);
	int rc = sqlite3_exec(c->db, commit ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
	sqlite3_busy_timeout(c->db, 30000);
	if (rc != SQLITE_OK)
		return ferry_sqlite__fail(c, rc, err, "could not %s the cut-over on \"%s\"",
		                          commit ? "commit" : "roll back", c->path);
	return 0;
}

int ferry_sqlite__unfence(ferry_conn *conn, const char *run_id, ferry_err *err)
{
	sq_conn *c = SQ(conn);
	char tag[17], like[64];
	run_tag(tag, run_id);
	snprintf(like, sizeof(like), "ferry_fence_%s_%%", tag);
	sqlite3_stmt *st;
	int rc = ferry_sqlite__prepare(c, &st, "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE ?1",
	                               0, err, "list the fence's triggers");
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, like, -1, SQLITE_STATIC);
	ferry_buf b = FERRY_BUF_INIT;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		ferry_buf_puts(&b, "DROP TRIGGER IF EXISTS ");
		ferry_sqlite__buf_ident(&b, (const char *)sqlite3_column_text(st, 0));
		ferry_buf_puts(&b, ";\n");
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		ferry_buf_free(&b);
		return ferry_sqlite__fail(c, rc, err, "could not list the fence's triggers");
	}
	if (b.failed)
		return OOM(err);
	rc = b.data ? ferry_sqlite__exec(c, b.data, err) : 0;
	ferry_buf_free(&b);
	return rc;
}

int ferry_sqlite__fence_exempt(ferry_conn *conn, ferry_err *err)
{
	sq_conn *c = SQ(conn);
	return ferry_sqlite__exec(c, "ATTACH DATABASE ':memory:' AS ferry_origin", err);
}

/* ---- later: the keys the application deleted (docs/LATER.md) ---------------------------- */
/* An AFTER DELETE trigger per delayed table records the key of each row a connection that is
 * not ferry's deletes, as quote() of its key columns joined by ',' (in primary-key order);
 * the backfill's and a fetch's writers add a TEMP trigger on their own connection that
 * ignores an insert of a recorded key. Writers take turns in SQLite, so a delete commits
 * either before the insert's check or after the row exists. */

static void key_text(ferry_buf *b, const char *row, const char *const *keys, size_t nkeys)
{
	for (size_t k = 0; k < nkeys; k++) {
		ferry_buf_printf(b, "%squote(%s.", k ? " || ',' || " : "", row);
		ferry_sqlite__buf_ident(b, keys[k]);
		ferry_buf_puts(b, ")");
	}
}

static void table_literal(ferry_buf *b, const char *table)
{
	ferry_buf_puts(b, "'");
	for (const char *p = table; *p; p++)
		ferry_buf_add(b, *p == '\'' ? "''" : p, *p == '\'' ? 2 : 1);
	ferry_buf_puts(b, "'");
}

int ferry_sqlite__later_track(ferry_conn *conn, const ferry_capture_table *tables, size_t ntables,
                              ferry_err *err)
{
	sq_conn *c = SQ(conn);
	ferry_buf b = FERRY_BUF_INIT;
	ferry_buf_puts(&b, "CREATE TABLE IF NOT EXISTS ferry_later_deleted(tbl TEXT NOT NULL, k TEXT NOT NULL, "
	                   "PRIMARY KEY (tbl, k)) WITHOUT ROWID;\n");
	for (size_t i = 0; i < ntables; i++) {
		char name[600];
		snprintf(name, sizeof(name), "ferry_later_%s", tables[i].table);
		ferry_buf_puts(&b, "CREATE TRIGGER IF NOT EXISTS ");
		ferry_sqlite__buf_ident(&b, name);
		ferry_buf_puts(&b, " AFTER DELETE ON ");
		ferry_sqlite__buf_ident(&b, tables[i].table);
		ferry_buf_puts(&b, " WHEN NOT EXISTS (SELECT 1 FROM pragma_database_list WHERE name = 'ferry_origin')"
		                   " BEGIN INSERT OR IGNORE INTO ferry_later_deleted VALUES (");
		table_literal(&b, tables[i].table);
		ferry_buf_puts(&b, ", ");
		key_text(&b, "OLD", tables[i].keys, tables[i].nkeys);
		ferry_buf_puts(&b, "); END;\n");
	}
	if (b.failed)
		return OOM(err);
	int rc = ferry_sqlite__exec(c, b.data, err);
	ferry_buf_free(&b);
	return rc;
}

int ferry_sqlite__later_untrack(ferry_conn *conn, const ferry_capture_table *tables, size_t ntables,
                                ferry_err *err)
{
	sq_conn *c = SQ(conn);
	int exists = 0;
	int rc = ferry_sqlite__later_recorded(c, NULL, &exists, err);
	if (rc || !exists)
		return rc;
	ferry_buf b = FERRY_BUF_INIT;
	for (size_t i = 0; i < ntables; i++) {
		char name[600];
		snprintf(name, sizeof(name), "ferry_later_%s", tables[i].table);
		ferry_buf_puts(&b, "DROP TRIGGER IF EXISTS ");
		ferry_sqlite__buf_ident(&b, name);
		ferry_buf_puts(&b, ";\nDELETE FROM ferry_later_deleted WHERE tbl = ");
		table_literal(&b, tables[i].table);
		ferry_buf_puts(&b, ";\n");
	}
	if (b.failed)
		return OOM(err);
	rc = b.data ? ferry_sqlite__exec(c, b.data, err) : 0;
	ferry_buf_free(&b);
	/* The record goes with the last table that keeps it. */
	sqlite3_stmt *st = NULL;
	int left = 1;
	if (rc == 0 && sqlite3_prepare_v2(c->db, "SELECT count(*) FROM sqlite_schema WHERE type = 'trigger' "
	                                         "AND name GLOB 'ferry_later_*' AND sql LIKE '% AFTER DELETE ON %ferry_later_deleted%'",
	                                  -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		left = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (rc == 0 && left == 0)
		rc = ferry_sqlite__exec(c, "DROP TABLE IF EXISTS ferry_later_deleted", err);
	return rc;
}

int ferry_sqlite__later_recorded(sq_conn *c, const char *table, int *out, ferry_err *err)
{
	sqlite3_stmt *st = NULL;
	*out = 0;
	int rc = sqlite3_prepare_v2(c->db, table ? "SELECT EXISTS (SELECT 1 FROM main.ferry_later_deleted WHERE tbl = ?1)"
	                                         : "SELECT EXISTS (SELECT 1 FROM main.sqlite_schema WHERE type = 'table' "
	                                           "AND name = 'ferry_later_deleted')", -1, &st, NULL);
	if (rc == SQLITE_OK && table)
		sqlite3_bind_text(st, 1, table, -1, SQLITE_TRANSIENT);
	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		*out = sqlite3_column_int(st, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_OK ? 0 : ferry_sqlite__fail(c, rc, err, "could not read the record of later: deletes");
}

int ferry_sqlite__later_guard(sq_conn *c, const char *table, ferry_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(c->db, "SELECT name FROM pragma_table_info(?1, 'main') WHERE pk > 0 "
	                                   "AND EXISTS (SELECT 1 FROM main.sqlite_schema WHERE type = 'table' "
	                                   "AND name = 'ferry_later_deleted') ORDER BY pk", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return ferry_sqlite__fail(c, rc, err, "could not read the key of table \"%s\"", table);
	sqlite3_bind_text(st, 1, table, -1, SQLITE_TRANSIENT);
	char *keys[64];
	size_t nk = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && nk < 64)
		if (!(keys[nk++] = ferry__strdup((const char *)sqlite3_column_text(st, 0))))
			rc = SQLITE_NOMEM;
	sqlite3_finalize(st);
	ferry_buf b = FERRY_BUF_INIT;
	if (rc == SQLITE_NOMEM)
		rc = OOM(err);
	else if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		rc = ferry_sqlite__fail(c, rc, err, "could not read the key of table \"%s\"", table);
	else
		rc = 0;
	if (rc == 0 && nk > 0) {
		/* Nothing recorded (no ferry_later_deleted): no trigger, nothing to skip. */
		char name[600];
		snprintf(name, sizeof(name), "ferry_later_guard_%s", table);
		ferry_buf_puts(&b, "CREATE TEMP TRIGGER IF NOT EXISTS ");
		ferry_sqlite__buf_ident(&b, name);
		ferry_buf_puts(&b, " BEFORE INSERT ON main.");
		ferry_sqlite__buf_ident(&b, table);
		ferry_buf_puts(&b, " WHEN EXISTS (SELECT 1 FROM main.ferry_later_deleted WHERE tbl = ");
		table_literal(&b, table);
		ferry_buf_puts(&b, " AND k = ");
		key_text(&b, "NEW", (const char *const *)keys, nk);
		ferry_buf_puts(&b, ") BEGIN SELECT RAISE(IGNORE); END");
		rc = b.failed ? OOM(err) : ferry_sqlite__exec(c, b.data, err);
	}
	ferry_buf_free(&b);
	for (size_t k = 0; k < nk; k++)
		free(keys[k]);
	return rc;
}
