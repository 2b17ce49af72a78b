/* table.c — a target table set up for comparison: the columns its jobs give (and the cell a
 * job without one gives: the target's default, or CELL_ANY when that is computed), the key
 * rows are matched by, and the sample the plan's verify: rules ask for. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "verify.h"

void ferry_verify__table_reset(vtable *vt)
{
	for (size_t i = 0; i < vt->ndiffs; i++) {
		free(vt->diffs[i].key);
		free(vt->diffs[i].cols);
		free(vt->diffs[i].text);
	}
	vt->ndiffs = 0;
	vt->exp_total = vt->act_total = vt->compared = vt->matched = 0;
	vt->missing = vt->extra = vt->different = vt->outside_rows = 0;
	vt->count_differs = 0;
}

void ferry_verify__table_free(vtable *vt)
{
	free(vt->name);
	free(vt->sources);
	free(vt->jobs);
	free(vt->outside);
	for (size_t i = 0; i < vt->ncols; i++) {
		free(vt->cols[i]);
		if (vt->qcols)
			free(vt->qcols[i]);
	}
	free(vt->cols);
	free(vt->qcols);
	free(vt->types);
	for (size_t i = 0; vt->jmap && i < vt->njobs; i++)
		free(vt->jmap[i]);
	free(vt->jmap);
	free(vt->key);
	for (size_t i = 0; vt->defcell && i < vt->ncols; i++)
		free(vt->defcell[i]);
	free(vt->defcell);
	free(vt->deflen);
	free(vt->trim);
	free(vt->wildcol);
	for (size_t i = 0; i < vt->nskipped; i++)
		free(vt->skipped[i]);
	free(vt->skipped);
	free(vt->coverage);
	for (size_t i = 0; i < vt->ndiffs; i++) {
		free(vt->diffs[i].key);
		free(vt->diffs[i].cols);
		free(vt->diffs[i].text);
	}
	free(vt->diffs);
}

static int job_has(const job *j, const char *col)
{
	for (size_t i = 0; i < j->ntcols; i++)
		if (strcmp(j->tcols[i], col) == 0)
			return (int)i;
	return -1;
}

/* The cell of a quoted literal's text ('' is one quote inside), blanks trimmed for a char(n);
 * 1 for bytea's '\x..', which an engine reads its own way. */
static int quoted_cell(ferry_buf *out, ferry_type t, char *lit, size_t n, unsigned flags, int trim)
{
	size_t k = 0;
	for (size_t i = 1; i + 1 < n; i++) {
		lit[k++] = lit[i];
		if (lit[i] == '\'')
			i++;
	}
	if (t == FERRY_BLOB && k >= 2 && lit[0] == '\\' && lit[1] == 'x')
		return 1;
	while (trim && k > 0 && lit[k - 1] == ' ')
		k--;
	ferry_value v = {.type = FERRY_TEXT, .len = (uint32_t)k};
	v.v.s = lit;
	return ferry__canon_cell_ex(out, t, &v, flags);
}

/* The cell of a number literal as the target stores it: an integer, else (SQLite) a REAL or
 * (PostgreSQL) a numeric. */
static int number_cell(ferry_buf *out, ferry_type t, const char *lit, unsigned flags)
{
	ferry_value v = {.type = FERRY_NULL};
	char *end;
	errno = 0;
	long long ll = strtoll(lit, &end, 10);
	if (*end == '\0' && errno == 0) {
		v.type = FERRY_INT;
		v.v.i = ll;
	} else if (flags & CANON_SQLITE_TEXT) { /* SQLite reads any other number as a REAL */
		v.type = FERRY_FLOAT;
		v.v.f = strtod(lit, NULL);
	} else {
		v.type = FERRY_NUMERIC;
		v.v.s = lit;
		v.len = (uint32_t)strlen(lit);
	}
	return ferry__canon_cell_ex(out, t, &v, flags);
}

/* The cell of a column's default, for rows whose job does not give the column: NULL when it
 * has none; a plain literal (ferry__sql_literal: a string, a number, TRUE/FALSE, NULL, with
 * PostgreSQL's casts) as the target stores it; CELL_ANY for anything computed
 * (CURRENT_TIMESTAMP, nextval(...), 'a' || 'b', '2020-01-01'::date + 1) or that an engine
 * reads its own way (bytea's '\x..'). */
static int default_cell(ferry_buf *out, ferry_type t, const char *sql, unsigned flags, int trim)
{
	ferry_value v = {.type = FERRY_NULL};
	if (!sql)
		return ferry__canon_cell_ex(out, t, &v, flags);
	int keep = 0;
	char *lit = ferry__sql_literal(sql, &keep);
	if (!lit)
		return keep ? ferry__canon_cell_ex(out, t, &v, flags) : ferry__canon_any(out);
	int rc = 1; /* 1: not a value ferry can know */
	if (lit[0] == '\'') {
		rc = quoted_cell(out, t, lit, strlen(lit), flags, trim);
	} else if (strcasecmp(lit, "true") == 0 || strcasecmp(lit, "false") == 0) {
		/* SQLite stores TRUE as 1 */
		v.type = (flags & CANON_SQLITE_TEXT) ? FERRY_INT : FERRY_BOOL;
		v.v.i = strcasecmp(lit, "true") == 0;
		rc = ferry__canon_cell_ex(out, t, &v, flags);
	} else if (isdigit((unsigned char)lit[0]) || lit[0] == '-' || lit[0] == '+' || lit[0] == '.') {
		rc = number_cell(out, t, lit, flags);
	}
	free(lit);
	return rc == 1 ? ferry__canon_any(out) : rc;
}

/* PostgreSQL's char(n): values come back padded with blanks, which its comparisons ignore. */
static int blank_padded(const char *decl)
{
	if (!decl)
		return 0;
	return strncasecmp(decl, "character(", 10) == 0 || strncasecmp(decl, "char(", 5) == 0 ||
	       strcasecmp(decl, "bpchar") == 0 || strcasecmp(decl, "character") == 0 ||
	       strcasecmp(decl, "char") == 0;
}

/* The arrays of vt, for up to tt->ncols compared columns. */
static int table_alloc(vtable *vt, const ferry_table *tt)
{
	vt->cols = ferry__calloc(tt->ncols + 1, sizeof(char *));
	vt->qcols = ferry__calloc(tt->ncols + 1, sizeof(char *));
	vt->types = ferry__calloc(tt->ncols + 1, sizeof(ferry_type));
	vt->skipped = ferry__calloc(tt->ncols + 1, sizeof(char *));
	vt->jmap = ferry__calloc(vt->njobs + 1, sizeof(int *));
	vt->key = ferry__calloc(tt->ncols + 1, sizeof(size_t));
	vt->defcell = ferry__calloc(tt->ncols + 1, sizeof(uint8_t *));
	vt->deflen = ferry__calloc(tt->ncols + 1, sizeof(size_t));
	vt->trim = ferry__calloc(tt->ncols + 1, 1);
	vt->wildcol = ferry__calloc(tt->ncols + 1, 1);
	if (!vt->cols || !vt->qcols || !vt->types || !vt->skipped || !vt->jmap || !vt->key ||
	    !vt->defcell || !vt->deflen || !vt->trim || !vt->wildcol)
		return FERRY_ENOMEM;
	for (size_t i = 0; i < vt->njobs; i++)
		if (!(vt->jmap[i] = ferry__calloc(tt->ncols + 1, sizeof(int))))
			return FERRY_ENOMEM;
	return 0;
}

/* Add target column col as compared column vt->ncols: its jobs' batch columns and type, and
 * the cell of its default for jobs without it. 0 or FERRY_ENOMEM. */
static int add_column(vtable *vt, const ferry_column *col, const ferry_engine *teng)
{
	size_t n = vt->ncols++; /* counted at once, so ferry_verify__table_free frees a half-added one */
	vt->cols[n] = ferry__strdup(col->name);
	vt->qcols[n] = ferry__qident(teng, col->name);
	if (!vt->cols[n] || !vt->qcols[n])
		return FERRY_ENOMEM;
	int lacking = 0;
	for (size_t i = 0; i < vt->njobs; i++) {
		int k = job_has(vt->jobs[i], col->name);
		vt->jmap[i][n] = k;
		if (k < 0)
			lacking = 1;
		else
			vt->types[n] = vt->jobs[i]->ttypes[k];
		if (vt->jobs[i]->merge)
			vt->merge = 1;
	}
	/* A job without the column leaves it to the target's default. */
	ferry_buf d = FERRY_BUF_INIT;
	int pad = (teng->flags & FERRY_ENGINE_BLANK_PADDED_CHAR) && blank_padded(col->decl_type);
	if (default_cell(&d, vt->types[n], col->default_sql, vt->canon_flags, pad) != 0 || !d.data)
		return FERRY_ENOMEM;
	vt->deflen[n] = d.len;
	vt->defcell[n] = (uint8_t *)ferry_buf_detach(&d);
	if (lacking && vt->defcell[n][0] == CELL_ANY)
		vt->wild = vt->wildcol[n] = 1;
	vt->trim[n] = (uint8_t)pad;
	return 0;
}

/* The index in vt->cols of compared column name, or vt->ncols when it is not compared. */
static size_t col_index(const vtable *vt, const char *name)
{
	size_t c = 0;
	while (c < vt->ncols && strcmp(vt->cols[c], name) != 0)
		c++;
	return c;
}

/* The key: the target's primary key, else the source key the jobs carry, else the row; a key
 * column some job does not give makes no key either. */
static void choose_key(vtable *vt, const ferry_table *tt)
{
	size_t nk = 0;
	for (size_t k = 0; k < tt->npk; k++) {
		size_t c = col_index(vt, tt->cols[tt->pk[k]].name);
		if (c == vt->ncols) {
			nk = 0;
			break;
		}
		vt->key[nk++] = c;
	}
	if (nk == 0 && vt->njobs > 0 && vt->jobs[0]->nkeys > 0) {
		const job *j0 = vt->jobs[0];
		for (size_t k = 0; k < j0->nkeys; k++) {
			size_t c = col_index(vt, j0->keynames[k]);
			if (c == vt->ncols) {
				nk = 0;
				break;
			}
			vt->key[nk++] = c;
		}
	}
	for (size_t k = 0; k < nk; k++)
		for (size_t i = 0; i < vt->njobs; i++)
			if (vt->jmap[i][vt->key[k]] < 0)
				nk = 0;
	vt->nkey = nk;
	vt->keyless = nk == 0;
}

int ferry_verify__table_setup(vtable *vt, const ferry_table *tt, const ferry_engine *teng,
                              ferry_err *err)
{
	vt->canon_flags = (teng->flags & FERRY_ENGINE_TEXT_FLOATS) ? CANON_SQLITE_TEXT : 0;
	if (table_alloc(vt, tt) != 0)
		return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	for (size_t c = 0; c < tt->ncols; c++) {
		const char *name = tt->cols[c].name;
		int any = 0;
		for (size_t i = 0; i < vt->njobs; i++)
			any |= job_has(vt->jobs[i], name) >= 0;
		if (!any) {
			if (!tt->cols[c].generated && !(vt->skipped[vt->nskipped++] = ferry__strdup(name)))
				return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
			continue;
		}
		if (add_column(vt, &tt->cols[c], teng) != 0)
			return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	}
	choose_key(vt, tt);
	return 0;
}

int ferry_verify__coverage(vtable *vt, const ferry_plan *p, int full)
{
	if (full) {
		vt->per10k = 10000;
		vt->coverage = ferry__strdup("100% (--full)");
		return vt->coverage ? 0 : FERRY_ENOMEM;
	}
	/* The first matching rule of the plan's verify: section (rules naming a table, then rules
	 * by row count, each in the order written), else the default. */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < p->nverify; i++) {
			const ferry_plan_verify_rule *r = &p->verify[i];
			if (pass == 0 ? (!r->table || strcmp(r->table, vt->name) != 0)
			              : (r->table || vt->target_rows < r->min_rows ||
			                 (r->max_rows >= 0 && vt->target_rows > r->max_rows)))
				continue;
			vt->per10k = r->per10k;
			vt->coverage = ferry__sprintf("%g%% (rule at %s:%d)", r->per10k / 100.0,
			                              p->path ? p->path : "<plan>", r->line);
			return vt->coverage ? 0 : FERRY_ENOMEM;
		}
	int64_t n = vt->target_rows;
	vt->per10k = n <= 100 ? 10000 : n <= 10000 ? 2100 : 500;
	vt->coverage = ferry__sprintf("%d%% (default for %s rows)", vt->per10k / 100,
	                              n <= 100 ? "up to 100" : n <= 10000 ? "101-10,000" : "over 10,000");
	return vt->coverage ? 0 : FERRY_ENOMEM;
}
