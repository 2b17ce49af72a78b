/* sqlgen.c — SQL that more than one engine writes the same way, up to a few dialect words:
 * the upsert clause of a merge (INSERT ... ON CONFLICT). */
#include <string.h>
#include "ferry_int.h"

static void existing_col(ferry_buf *b, const ferry_upsert_dialect *d, const char *col)
{
	ferry_buf_puts(b, d->existing);
	ferry_buf_puts(b, ".");
	ferry_buf_ident(b, col);
}

static void excluded_col(ferry_buf *b, const char *col)
{
	ferry_buf_puts(b, "excluded.");
	ferry_buf_ident(b, col);
}

int ferry__upsert_clause(ferry_buf *b, const ferry_write_spec *spec, const ferry_upsert_dialect *d,
                         char **conflict_msg, ferry_err *err)
{
	*conflict_msg = NULL;
	size_t nkey = 0;
	for (size_t i = 0; i < spec->ncols; i++)
		nkey += spec->conflict[i] == FERRY_CONFLICT_KEY;
	if (nkey == 0)
		return ferry_err_set(err, FERRY_EUSAGE,
		                     "cannot merge into table \"%s\": no column has the key rule", spec->table);
	ferry_buf_puts(b, " ON CONFLICT (");
	const char *sep = "";
	for (size_t i = 0; i < spec->ncols; i++)
		if (spec->conflict[i] == FERRY_CONFLICT_KEY) {
			ferry_buf_puts(b, sep);
			ferry_buf_ident(b, spec->cols[i]);
			sep = ", ";
		}
	ferry_buf_puts(b, ")");

	ferry_buf set = FERRY_BUF_INIT, where = FERRY_BUF_INIT, names = FERRY_BUF_INIT;
	const char *first_error = NULL;
	for (size_t i = 0; i < spec->ncols; i++) {
		const char *col = spec->cols[i];
		int rule = spec->conflict[i];
		if (rule == FERRY_CONFLICT_KEY || rule == FERRY_CONFLICT_FIRST)
			continue;
		if (rule == FERRY_CONFLICT_NONE || rule == FERRY_CONFLICT_ERROR) {
			ferry_buf_puts(&where, where.len ? " AND " : " WHERE ");
			existing_col(&where, d, col);
			ferry_buf_puts(&where, d->same);
			excluded_col(&where, col);
			ferry_buf_printf(&names, "%s%s", names.len ? ", " : "", col);
			if (!first_error)
				first_error = col;
			continue;
		}
		ferry_buf_puts(&set, set.len ? ", " : "");
		ferry_buf_ident(&set, col);
		ferry_buf_puts(&set, " = ");
		if (rule == FERRY_CONFLICT_LAST) {
			excluded_col(&set, col);
			continue;
		}
		/* MIN, MAX, SUM ignore NULLs on either side. */
		ferry_buf_puts(&set, "CASE WHEN ");
		existing_col(&set, d, col);
		ferry_buf_puts(&set, " IS NULL THEN ");
		excluded_col(&set, col);
		ferry_buf_puts(&set, " WHEN ");
		excluded_col(&set, col);
		ferry_buf_puts(&set, " IS NULL THEN ");
		existing_col(&set, d, col);
		ferry_buf_printf(&set, " ELSE %s(", rule == FERRY_CONFLICT_MIN ? d->least
		                                    : rule == FERRY_CONFLICT_MAX ? d->greatest : "");
		existing_col(&set, d, col);
		ferry_buf_puts(&set, rule == FERRY_CONFLICT_SUM ? " + " : ", ");
		excluded_col(&set, col);
		ferry_buf_puts(&set, ") END");
	}
	if (!set.len && first_error) {
		/* A no-op update, so that a conflict with equal values counts as a change and
		 * only a different value (WHERE false) leaves the row untouched. */
		ferry_buf_ident(&set, first_error);
		ferry_buf_puts(&set, " = ");
		existing_col(&set, d, first_error);
	}
	if (!set.len) {
		ferry_buf_puts(b, " DO NOTHING");
	} else {
		ferry_buf_puts(b, " DO UPDATE SET ");
		ferry_buf_puts(b, set.data);
		if (where.len)
			ferry_buf_puts(b, where.data);
	}
	int rc = 0;
	if (b->failed || set.failed || where.failed || names.failed)
		rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	else if (first_error && !(*conflict_msg = ferry__sprintf(
	                              "key conflicts with an existing row with a different value in column(s) %s (rule error)",
	                              names.data)))
		rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	ferry_buf_free(&set);
	ferry_buf_free(&where);
	ferry_buf_free(&names);
	return rc;
}
