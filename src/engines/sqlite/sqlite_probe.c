/* sqlite_probe.c — the SQLite engine's probe_type: does every value of a column read as a
 * canonical type (a DATETIME column whose texts all parse as timestamps)? Used when a table
 * is created in another engine, where SQLite's loose typing must pick one column type. */
#include <stdlib.h>
#include <string.h>
#include "sqlite_int.h"

/* The condition a non-NULL value of a column meets when it reads as type t, in SQL with
 * "%1$s" standing for the column, or NULL when every value does. SQLite's date() lets
 * 2020-02-30 through; a round trip through julianday() does not. Year 0 does not exist
 * for PostgreSQL. */
static const char *condition(ferry_type t)
{
	switch (t) {
	case FERRY_INT:
		return "typeof(%1$s) = 'integer'";
	case FERRY_FLOAT:
		return "typeof(%1$s) IN ('integer', 'real')";
	case FERRY_NUMERIC:
		return "typeof(%1$s) IN ('integer', 'real')";
	case FERRY_TEXT:
		return "typeof(%1$s) = 'text'";
	case FERRY_BLOB:
		return "typeof(%1$s) = 'blob'";
	case FERRY_BOOL:
		return "(typeof(%1$s) = 'integer' AND %1$s IN (0, 1)) OR (typeof(%1$s) = 'text' AND "
		       "lower(%1$s) IN ('t', 'f', 'true', 'false', 'yes', 'no', 'y', 'n', 'on', 'off', '0', '1'))";
	case FERRY_DATE:
		return "typeof(%1$s) = 'text' AND length(%1$s) = 10 AND date(julianday(%1$s)) IS %1$s AND "
		       "substr(%1$s, 1, 4) <> '0000'";
	case FERRY_TIME:
		return "typeof(%1$s) = 'text' AND time(%1$s) IS NOT NULL AND "
		       "(%1$s GLOB '[0-2][0-9]:[0-5][0-9]' OR %1$s GLOB '[0-2][0-9]:[0-5][0-9]:[0-5][0-9]' OR "
		       "(%1$s GLOB '[0-2][0-9]:[0-5][0-9]:[0-5][0-9].[0-9]*' AND rtrim(substr(%1$s, 10), '0123456789') = ''))";
	case FERRY_TIMESTAMP:
		/* ISO date, optionally a time of day, and no zone (it would be dropped). */
		return "typeof(%1$s) = 'text' AND "
		       "%1$s GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]*' AND "
		       "date(julianday(substr(%1$s, 1, 10))) IS substr(%1$s, 1, 10) AND substr(%1$s, 1, 4) <> '0000' AND datetime(%1$s) IS NOT NULL AND "
		       "(length(%1$s) = 10 OR (substr(%1$s, 11, 1) IN (' ', 'T') AND "
		       "(length(%1$s) IN (16, 19) OR (length(%1$s) > 20 AND substr(%1$s, 20, 1) = '.' AND "
		       "rtrim(substr(%1$s, 21), '0123456789') = ''))))";
	case FERRY_TIMESTAMPTZ:
		return "typeof(%1$s) = 'text' AND "
		       "%1$s GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]*' AND "
		       "date(julianday(substr(%1$s, 1, 10))) IS substr(%1$s, 1, 10) AND substr(%1$s, 1, 4) <> '0000' AND "
		       "(length(%1$s) = 10 OR (substr(%1$s, 11, 1) IN (' ', 'T') AND substr(%1$s, 14, 1) = ':' AND "
		       "time(substr(%1$s, 12, 5)) IS NOT NULL))";
	case FERRY_UUID:
		return "(typeof(%1$s) = 'blob' AND length(%1$s) = 16) OR (typeof(%1$s) = 'text' AND "
		       "length(%1$s) = 36 AND lower(%1$s) GLOB '[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]-"
		       "[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-"
		       "[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]')";
	case FERRY_JSON:
		return "typeof(%1$s) = 'text' AND json_valid(%1$s)";
	default:
		return NULL;
	}
}

int ferry_sqlite__probe_type(ferry_conn *conn, const char *table, const char *column,
                             ferry_type type, int *all, ferry_err *err)
{
	sq_conn *c = SQ(conn);
	*all = 1;
	const char *cond = condition(type);
	if (!cond)
		return 0;
	ferry_buf col = FERRY_BUF_INIT, sql = FERRY_BUF_INIT;
	ferry_sqlite__buf_ident(&col, column);
	ferry_buf_puts(&sql, "SELECT 1 FROM ");
	ferry_sqlite__buf_ident(&sql, table);
	ferry_buf_printf(&sql, " WHERE %s IS NOT NULL AND NOT (", col.data ? col.data : "");
	if (col.data)
		ferry_buf_printf(&sql, cond, col.data);
	ferry_buf_puts(&sql, ") LIMIT 1");
	ferry_buf_free(&col);
	if (sql.failed)
		return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	char what[600];
	snprintf(what, sizeof(what), "read column \"%s\" of table \"%s\"", column, table);
	sqlite3_stmt *st;
	int rc = ferry_sqlite__prepare(c, &st, sql.data, 0, err, what);
	ferry_buf_free(&sql);
	if (rc)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*all = 0;
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = 0;
	} else {
		rc = ferry_sqlite__fail(c, rc, err, "could not %s in \"%s\"", what, c->path);
	}
	sqlite3_finalize(st);
	return rc;
}
