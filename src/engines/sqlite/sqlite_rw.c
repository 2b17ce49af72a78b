/* sqlite_rw.c — the SQLite engine's data path: splitting a table into key-range chunks,
 * reading a chunk into batches, and writing batches with multi-row INSERTs that fall back
 * to one row at a time to reject exactly the rows the table refuses. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "sqlite_int.h"

#define OOM(err) ferry_err_set((err), FERRY_ENOMEM, "out of memory")
#define MAX_KEYS 32

/* ---- keys -------------------------------------------------------------------------- */

typedef struct key_info {
	const char *rowid;   /* the first of rowid, _rowid_, oid not shadowed by a column */
	int without_rowid;
	int nullable;        /* some key column may hold NULL */
} key_info;

/* Look the table up: whether it exists, its row id name, and whether the key columns can
 * hold NULL (SQLite allows NULL in a primary key of a rowid table). */
static int table_keys(sq_conn *c, const char *table, size_t nkeys, const char *const *keys,
                      key_info *ki, ferry_err *err)
{
	static const char *const rowids[] = {"rowid", "_rowid_", "oid"};
	char what[300];
	snprintf(what, sizeof(what), "read table \"%s\"", table);
	memset(ki, 0, sizeof(*ki));
	sqlite3_stmt *st;
	int rc = ferry_sqlite__prepare(c, &st,
	                               "SELECT wr FROM pragma_table_list WHERE schema = 'main' "
	                               "AND name = ?1 COLLATE NOCASE", 0, err, what);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		ki->without_rowid = sqlite3_column_int(st, 0) != 0;
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE)
		return ferry_err_set(err, FERRY_ENOTFOUND, "could not read table \"%s\": no such table",
		                     table);
	if (rc != SQLITE_ROW)
		return ferry_sqlite__fail(c, rc, err, "could not read table \"%s\" in \"%s\"", table,
		                          c->path);

	rc = ferry_sqlite__prepare(c, &st,
	                           "SELECT name, \"notnull\", pk, type, "
	                           "(SELECT count(*) FROM pragma_table_xinfo(?1, 'main') WHERE pk > 0) "
	                           "FROM pragma_table_xinfo(?1, 'main')", 0, err, what);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	int shadowed[3] = {0, 0, 0};
	int known[MAX_KEYS] = {0};
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		if (!name)
			continue;
		for (int i = 0; i < 3; i++)
			shadowed[i] |= sqlite3_stricmp(name, rowids[i]) == 0;
		const char *type = (const char *)sqlite3_column_text(st, 3);
		int alias = !ki->without_rowid && sqlite3_column_int(st, 2) == 1 &&
		            sqlite3_column_int(st, 4) == 1 && type && sqlite3_stricmp(type, "INTEGER") == 0;
		int notnull = sqlite3_column_int(st, 1) != 0 || alias ||
		              (ki->without_rowid && sqlite3_column_int(st, 2) > 0);
		for (size_t k = 0; k < nkeys && k < MAX_KEYS; k++)
			if (sqlite3_stricmp(name, keys[k]) == 0)
				known[k] = notnull ? 1 : -1;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return ferry_sqlite__fail(c, rc, err, "could not read table \"%s\" in \"%s\"", table,
		                          c->path);
	for (int i = 0; i < 3 && !ki->rowid; i++)
		if (!shadowed[i] && !ki->without_rowid)
			ki->rowid = rowids[i];
	for (size_t k = 0; k < nkeys; k++) {
		int rowid_name = 0;
		for (int i = 0; i < 3; i++)
			rowid_name |= !shadowed[i] && sqlite3_stricmp(keys[k], rowids[i]) == 0;
		if (known[k] != 1 && !(known[k] == 0 && rowid_name && !ki->without_rowid))
			ki->nullable = 1;
	}
	return 0;
}

/* The row id as the key of a table chunked without one. */
static int rowid_key(sq_conn *c, const char *table, const char **out, ferry_err *err)
{
	key_info ki;
	int rc = table_keys(c, table, 0, NULL, &ki, err);
	if (rc)
		return rc;
	if (ki.without_rowid)
		return ferry_err_set(err, FERRY_EUSAGE,
		                     "cannot chunk table \"%s\" by row id: it is a WITHOUT ROWID table",
		                     table);
	if (!ki.rowid)
		return ferry_err_set(err, FERRY_EUSAGE,
		                     "cannot chunk table \"%s\": rowid, _rowid_ and oid are all column names",
		                     table);
	*out = ki.rowid;
	return 0;
}

/* "a", "b" */
static void key_list(ferry_buf *b, const char *const *keys, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (i)
			ferry_buf_puts(b, ", ");
		ferry_sqlite__buf_ident(b, keys[i]);
	}
}

/* "a" or ("a", "b") — a row value for composite keys. */
static void key_row(ferry_buf *b, const char *const *keys, size_t n)
{
	if (n > 1)
		ferry_buf_puts(b, "(");
	key_list(b, keys, n);
	if (n > 1)
		ferry_buf_puts(b, ")");
}

/* ?first or (?first, ?first+1, ...), or with a name prefix :pfx1, :pfx2. */
static void param_row(ferry_buf *b, const char *pfx, int first, size_t n)
{
	if (n > 1)
		ferry_buf_puts(b, "(");
	for (size_t i = 0; i < n; i++)
		ferry_buf_printf(b, "%s%s%d", i ? ", " : "", pfx, first + (int)i);
	if (n > 1)
		ferry_buf_puts(b, ")");
}

/* ---- chunks ------------------------------------------------------------------------ */

typedef struct chunker {
	sq_conn *c;
	const char *table;
	size_t nk;
	sqlite3_stmt *step_first, *step_next, *count_first, *count_next;
	const ferry_key_range *range; /* NULL: the whole key */
	uint8_t *lo, *hi;             /* encoded bounds */
	size_t lo_len, lo_cap, hi_len, hi_cap;
	ferry_value lo_vals[MAX_KEYS];
} chunker;

static void chunker_free(chunker *k)
{
	sqlite3_finalize(k->step_first);
	sqlite3_finalize(k->step_next);
	sqlite3_finalize(k->count_first);
	sqlite3_finalize(k->count_next);
	free(k->lo);
	free(k->hi);
}

static int chunker_prepare(chunker *k, const char *const *keys, ferry_err *err)
{
	char what[300];
	snprintf(what, sizeof(what), "read table \"%s\"", k->table);
	ferry_buf b = FERRY_BUF_INIT;
	sqlite3_stmt **out[4] = {&k->step_first, &k->step_next, &k->count_first, &k->count_next};
	for (int i = 0; i < 4; i++) {
		int count = i >= 2, next = i % 2;
		ferry_buf_reset(&b);
		if (count) {
			ferry_buf_puts(&b, "SELECT count(*)");
		} else {
			ferry_buf_puts(&b, "SELECT ");
			key_list(&b, keys, k->nk);
		}
		ferry_buf_puts(&b, " FROM ");
		ferry_sqlite__buf_ident(&b, k->table);
		/* A range walks only its keys: the first chunk's end is searched from its lower
		 * end (?nk+2), and no chunk's end past its upper end (?nk+3) is looked for. */
		const char *glue = " WHERE ";
		if (next) {
			ferry_buf_puts(&b, glue);
			key_row(&b, keys, k->nk);
			ferry_buf_puts(&b, " > ");
			param_row(&b, "?", 1, k->nk);
			glue = " AND ";
		}
		if (!next && k->range && k->range->lo != INT64_MIN) {
			ferry_buf_puts(&b, glue);
			ferry_sqlite__buf_ident(&b, keys[0]);
			ferry_buf_printf(&b, " >= ?%d", (int)k->nk + 2);
			glue = " AND ";
		}
		if (k->range && k->range->hi != INT64_MAX) {
			ferry_buf_puts(&b, glue);
			ferry_sqlite__buf_ident(&b, keys[0]);
			ferry_buf_printf(&b, " <= ?%d", (int)k->nk + 3);
		}
		if (!count) {
			ferry_buf_puts(&b, " ORDER BY ");
			key_list(&b, keys, k->nk);
			ferry_buf_printf(&b, " LIMIT 2 OFFSET ?%d", next ? (int)k->nk + 1 : 1);
		}
		if (b.failed) {
			ferry_buf_free(&b);
			return OOM(err);
		}
		int rc = ferry_sqlite__prepare(k->c, out[i], b.data, 0, err, what);
		if (rc) {
			ferry_buf_free(&b);
			return rc;
		}
		/* Bound once: a reset keeps the bindings. */
		if (!next && k->range && k->range->lo != INT64_MIN)
			sqlite3_bind_int64(*out[i], (int)k->nk + 2, k->range->lo);
		if (k->range && k->range->hi != INT64_MAX)
			sqlite3_bind_int64(*out[i], (int)k->nk + 3, k->range->hi);
	}
	ferry_buf_free(&b);
	return 0;
}

static int chunk_fail(chunker *k, sqlite3_stmt *st, int rc, ferry_err *err)
{
	rc = ferry_sqlite__fail(k->c, rc, err, "could not chunk table \"%s\" in \"%s\"", k->table,
	                        k->c->path);
	sqlite3_reset(st);
	return rc;
}

static int bind_lo(chunker *k, sqlite3_stmt *st, ferry_err *err)
{
	for (size_t i = 0; i < k->nk; i++) {
		int rc = ferry_sqlite__bind(st, (int)i + 1, &k->lo_vals[i], 0);
		if (rc != SQLITE_OK)
			return chunk_fail(k, st, rc, err);
	}
	return 0;
}

int ferry_sqlite__plan_chunks(ferry_conn *conn, const char *table, size_t nkeys,
                              const char *const *keys, int64_t chunk_rows,
                              const ferry_key_range *range, ferry_chunk_cb cb, void *ud,
                              ferry_err *err)
{
	sq_conn *c = SQ(conn);
	if (chunk_rows < 1)
		return ferry_err_set(err, FERRY_EUSAGE, "cannot chunk table \"%s\": chunk size %lld",
		                     table, (long long)chunk_rows);
	if (nkeys > MAX_KEYS)
		return ferry_err_set(err, FERRY_EUSAGE,
		                     "cannot chunk table \"%s\": more than %d key columns", table, MAX_KEYS);
	const char *rowid;
	int rc;
	if (nkeys == 0) {
		if ((rc = rowid_key(c, table, &rowid, err)) != 0)
			return rc;
		keys = &rowid;
		nkeys = 1;
	} else {
		key_info ki;
		if ((rc = table_keys(c, table, nkeys, keys, &ki, err)) != 0)
			return rc;
		if (ki.nullable) {
			/* Rows with a NULL key fall outside every range: refuse rather than lose them. */
			ferry_buf b = FERRY_BUF_INIT;
			ferry_buf_puts(&b, "SELECT 1 FROM ");
			ferry_sqlite__buf_ident(&b, table);
			ferry_buf_puts(&b, " WHERE ");
			for (size_t i = 0; i < nkeys; i++) {
				ferry_buf_puts(&b, i ? " OR " : "");
				ferry_sqlite__buf_ident(&b, keys[i]);
				ferry_buf_puts(&b, " IS NULL");
			}
			ferry_buf_puts(&b, " LIMIT 1");
			if (b.failed)
				return OOM(err);
			char what[300];
			snprintf(what, sizeof(what), "chunk table \"%s\"", table);
			sqlite3_stmt *st;
			rc = ferry_sqlite__prepare(c, &st, b.data, 0, err, what);
			ferry_buf_free(&b);
			if (rc)
				return rc;
			rc = sqlite3_step(st);
			sqlite3_finalize(st);
			if (rc == SQLITE_ROW)
				return ferry_err_set(err, FERRY_EUSAGE,
				                     "cannot chunk table \"%s\" by its key: some rows have NULL "
				                     "in a key column", table);
			if (rc != SQLITE_DONE)
				return ferry_sqlite__fail(c, rc, err, "could not chunk table \"%s\" in \"%s\"",
				                          table, c->path);
		}
	}

	chunker k;
	memset(&k, 0, sizeof(k));
	k.c = c;
	k.table = table;
	k.nk = nkeys;
	k.range = nkeys == 1 ? range : NULL; /* a range is on a single key */
	if ((rc = chunker_prepare(&k, keys, err)) != 0) {
		chunker_free(&k);
		return rc;
	}
	int first = 1;
	for (int64_t chunk = 0;; chunk++) {
		ferry_chunk_rec rec;
		memset(&rec, 0, sizeof(rec));
		rec.chunk = chunk;
		if (!first) {
			rec.lo = k.lo;
			rec.lo_len = k.lo_len;
		}
		/* The chunk_rows-th row after lo is this chunk's last; one more means another
		 * chunk follows. The last chunk is unbounded above, so rows added later (a resumed
		 * run reads a new state) still belong to a chunk; with a range, so are the keys
		 * past its upper end, and the first chunk holds those below its lower end: the
		 * chunks still cover every key, the range only saves walking the keys outside. */
		sqlite3_stmt *st = first ? k.step_first : k.step_next;
		if (!first && (rc = bind_lo(&k, st, err)) != 0)
			break;
		sqlite3_bind_int64(st, first ? 1 : (int)nkeys + 1, chunk_rows - 1);
		int bounded = 0;
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			ferry_value vals[MAX_KEYS];
			for (size_t i = 0; i < nkeys; i++)
				ferry_sqlite__column(st, (int)i, &vals[i]);
			k.hi_len = 0;
			if (ferry_value_encode_row(&k.hi, &k.hi_len, &k.hi_cap, vals, nkeys) != 0) {
				sqlite3_reset(st);
				rc = OOM(err);
				break;
			}
			rc = sqlite3_step(st);
			if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
				rc = chunk_fail(&k, st, rc, err);
				break;
			}
			bounded = rc == SQLITE_ROW;
			rec.est_rows = chunk_rows;
			if (bounded) {
				rec.hi = k.hi;
				rec.hi_len = k.hi_len;
			}
		} else if (rc == SQLITE_DONE) {
			sqlite3_stmt *cnt = first ? k.count_first : k.count_next;
			if (!first && (rc = bind_lo(&k, cnt, err)) != 0) {
				sqlite3_reset(st);
				break;
			}
			rc = sqlite3_step(cnt);
			if (rc != SQLITE_ROW) {
				sqlite3_reset(st);
				rc = chunk_fail(&k, cnt, rc, err);
				break;
			}
			rec.est_rows = sqlite3_column_int64(cnt, 0);
			sqlite3_reset(cnt);
		} else {
			rc = chunk_fail(&k, st, rc, err);
			break;
		}
		sqlite3_reset(st);
		if ((rc = cb(ud, &rec)) != 0)
			break;
		if (!bounded)
			break;
		/* This chunk's hi is the next one's lo. */
		uint8_t *tb = k.lo;
		size_t tc = k.lo_cap;
		k.lo = k.hi;
		k.lo_cap = k.hi_cap;
		k.lo_len = k.hi_len;
		k.hi = tb;
		k.hi_cap = tc;
		k.hi_len = 0;
		if (ferry_value_decode_row(k.lo_vals, nkeys, k.lo, k.lo_len) != (int)nkeys) {
			rc = ferry_err_set(err, FERRY_ECORRUPT, "could not chunk table \"%s\": bad key",
			                   table);
			break;
		}
		first = 0;
	}
	chunker_free(&k);
	return rc;
}

/* ---- reading ----------------------------------------------------------------------- */

typedef struct sq_reader {
	sq_conn *c;
	sqlite3_stmt *st;
	int done;
	uint8_t *nan;      /* per result column: a FLOAT8_BLOB/FLOAT4_BLOB column, whose text
	                      'NaN' is the NaN ferry stored there; NULL when there is none */
	int *col;          /* per expression, its result column when equal expressions are
	                      selected once (a table near SQLite's 2000-column limit); or NULL */
	size_t nout;       /* the expressions: the batch's columns */
	char table[256];   /* for messages */
} sq_reader;

/* Which result columns are ferry's exact float columns (by their declared type; an
 * expression has none). */
static int find_nan_columns(sq_reader *r)
{
	int n = sqlite3_column_count(r->st);
	for (int i = 0; i < n; i++) {
		int kind = ferry__exact_kind(sqlite3_column_decltype(r->st, i), NULL);
		if (kind != FERRY_EXACT_FLOAT8 && kind != FERRY_EXACT_FLOAT4)
			continue;
		if (!r->nan && !(r->nan = ferry__calloc((size_t)n, 1)))
			return FERRY_ENOMEM;
		r->nan[i] = 1;
	}
	return 0;
}

int ferry_sqlite__reader_open(ferry_reader **out, ferry_conn *conn, const ferry_read_spec *spec,
                              ferry_err *err)
{
	sq_conn *c = SQ(conn);
	*out = NULL;
	const char *table = spec->table;
	if (spec->nexprs == 0)
		return ferry_err_set(err, FERRY_EUSAGE, "cannot read table \"%s\": no columns", table);
	const char *rowid;
	const char *const *keys = spec->keys;
	size_t nk = spec->nkeys;
	int rc;
	if (nk == 0 && (spec->lo || spec->hi)) {
		if ((rc = rowid_key(c, table, &rowid, err)) != 0)
			return rc;
		keys = &rowid;
		nk = 1;
	}
	/* A table may have SQLite's maximum of columns (2000), and the job selects its key
	 * columns again after them: past the limit, each distinct expression is selected once
	 * and the batch's columns point at it. */
	int *col = NULL;
	int limit = sqlite3_limit(c->db, SQLITE_LIMIT_COLUMN, -1);
	if (spec->nexprs > (size_t)limit) {
		if (!(col = ferry__calloc(spec->nexprs, sizeof(int))))
			return OOM(err);
		int distinct = 0;
		for (size_t i = 0; i < spec->nexprs; i++) {
			size_t j = 0;
			while (j < i && strcmp(spec->exprs[j], spec->exprs[i]) != 0)
				j++;
			col[i] = j < i ? col[j] : distinct++;
		}
		if (distinct > limit) {
			free(col);
			return ferry_err_set(err, FERRY_EUSAGE,
			                     "cannot read table \"%s\": %d columns to select, past SQLite's limit of %d",
			                     table, distinct, limit);
		}
	}
	ferry_buf b = FERRY_BUF_INIT;
	ferry_buf_puts(&b, "SELECT ");
	for (size_t i = 0, n = 0; i < spec->nexprs; i++)
		if (!col || col[i] == (int)n) {
			ferry_buf_printf(&b, "%s%s", n ? ", " : "", spec->exprs[i]);
			n++;
		}
	ferry_buf_puts(&b, " FROM ");
	ferry_sqlite__buf_ident(&b, table);
	const char *and = " WHERE ";
	if (spec->filter) {
		ferry_buf_printf(&b, "%s(%s)", and, spec->filter);
		and = " AND ";
	}
	/* Named parameters for the bounds, so that the `?` of the plan's expressions keep the
	 * numbers 1..nparams and a wrong count of them is caught below. */
	int nmine = 0;
	if (spec->lo) {
		ferry_buf_puts(&b, and);
		key_row(&b, keys, nk);
		ferry_buf_puts(&b, " > ");
		param_row(&b, ":ferry_lo", 1, nk);
		and = " AND ";
		nmine += (int)nk;
	}
	if (spec->hi) {
		ferry_buf_puts(&b, and);
		key_row(&b, keys, nk);
		ferry_buf_puts(&b, " <= ");
		param_row(&b, ":ferry_hi", 1, nk);
		and = " AND ";
		nmine += (int)nk;
	}
	if (spec->nmatch && nk) {
		/* The keys a change touched: a row value IN a VALUES list, bound by name. */
		ferry_buf_puts(&b, and);
		key_row(&b, keys, nk);
		ferry_buf_puts(&b, " IN (VALUES ");
		for (size_t m = 0; m < spec->nmatch; m++) {
			ferry_buf_puts(&b, m ? ", (" : "(");
			for (size_t i = 0; i < nk; i++)
				ferry_buf_printf(&b, "%s:ferry_m%zu", i ? ", " : "", m * nk + i + 1);
			ferry_buf_puts(&b, ")");
		}
		ferry_buf_puts(&b, ")");
		nmine += (int)(spec->nmatch * nk);
	}
	if (nk) {
		ferry_buf_puts(&b, " ORDER BY ");
		key_list(&b, keys, nk);
	}
	if (b.failed) {
		free(col);
		return OOM(err);
	}

	sq_reader *r = ferry__calloc(1, sizeof(*r));
	if (!r) {
		free(col);
		ferry_buf_free(&b);
		return OOM(err);
	}
	r->c = c;
	r->col = col;
	r->nout = spec->nexprs;
	snprintf(r->table, sizeof(r->table), "%s", table);
	char what[300];
	snprintf(what, sizeof(what), "read table \"%s\"", table);
	rc = ferry_sqlite__prepare(c, &r->st, b.data, 0, err, what);
	ferry_buf_free(&b);
	if (rc) {
		free(r->col);
		free(r);
		return rc;
	}
	if (find_nan_columns(r) != 0) {
		ferry_sqlite__reader_close((ferry_reader *)(void *)r);
		return OOM(err);
	}
	int nplain = sqlite3_bind_parameter_count(r->st) - nmine;
	if (nplain != (int)spec->nparams) {
		ferry_sqlite__reader_close((ferry_reader *)(void *)r);
		return ferry_err_set(err, FERRY_EUSAGE,
		                     "could not read table \"%s\": the expressions have %d parameters "
		                     "but %zu values were given", table, nplain, spec->nparams);
	}
	/* Values are copied: the spec need not outlive this call. */
	for (size_t i = 0; i < spec->nparams && rc == SQLITE_OK; i++)
		rc = ferry_sqlite__bind(r->st, (int)i + 1, &spec->params[i], 1);
	char name[32];
	for (size_t i = 0; spec->nmatch && i < spec->nmatch * nk && rc == SQLITE_OK; i++) {
		snprintf(name, sizeof(name), ":ferry_m%zu", i + 1);
		rc = ferry_sqlite__bind(r->st, sqlite3_bind_parameter_index(r->st, name),
		                        &spec->match[i], 1);
	}
	for (size_t i = 0; i < nk && rc == SQLITE_OK; i++) {
		if (spec->lo) {
			snprintf(name, sizeof(name), ":ferry_lo%zu", i + 1);
			rc = ferry_sqlite__bind(r->st, sqlite3_bind_parameter_index(r->st, name),
			                        &spec->lo[i], 1);
		}
		if (spec->hi && rc == SQLITE_OK) {
			snprintf(name, sizeof(name), ":ferry_hi%zu", i + 1);
			rc = ferry_sqlite__bind(r->st, sqlite3_bind_parameter_index(r->st, name),
			                        &spec->hi[i], 1);
		}
	}
	if (rc != SQLITE_OK) {
		rc = ferry_sqlite__fail(c, rc, err, "could not read table \"%s\" in \"%s\"", table,
		                        c->path);
		ferry_sqlite__reader_close((ferry_reader *)(void *)r);
		return rc;
	}
	*out = (ferry_reader *)(void *)r;
	return 0;
}

int ferry_sqlite__reader_next(ferry_reader *reader, ferry_batch *b, int *eof, ferry_err *err)
{
	sq_reader *r = (sq_reader *)(void *)reader;
	*eof = 0;
	if (r->done) {
		*eof = 1;
		return 0;
	}
	int ncols = r->col ? (int)r->nout : sqlite3_column_count(r->st);
	if ((size_t)ncols != ferry_batch_ncols(b))
		return ferry_err_set(err, FERRY_EUSAGE,
		                     "cannot read table \"%s\": %d columns into a batch of %zu",
		                     r->table, ncols, ferry_batch_ncols(b));
	size_t cap = ferry_batch_capacity(b);
	while (ferry_batch_nrows(b) < cap) {
		int rc = sqlite3_step(r->st);
		if (rc == SQLITE_DONE) {
			r->done = 1;
			*eof = 1;
			sqlite3_reset(r->st);
			return 0;
		}
		if (rc != SQLITE_ROW) {
			rc = ferry_sqlite__fail(r->c, rc, err, "could not read table \"%s\" in \"%s\"",
			                        r->table, r->c->path);
			sqlite3_reset(r->st);
			r->done = 1;
			return rc;
		}
		ferry_value *row = ferry_batch_add_row(b);
		for (int i = 0; i < ncols; i++) {
			ferry_value *v = &row[i];
			int k = r->col ? r->col[i] : i;
			ferry_sqlite__column(r->st, k, v);
			if (r->nan && r->nan[k] && v->type == FERRY_TEXT && v->len == 3 &&
			    memcmp(v->v.s, "NaN", 3) == 0) {
				v->type = FERRY_FLOAT;
				v->v.f = NAN;
				v->len = 0;
				continue;
			}
			if ((v->type == FERRY_TEXT || v->type == FERRY_BLOB) && v->len) {
				void *p = ferry_batch_copy(b, v->v.s, v->len);
				if (!p)
					return OOM(err);
				v->v.s = p;
			}
		}
	}
	return 0;
}

void ferry_sqlite__reader_close(ferry_reader *reader)
{
	sq_reader *r = (sq_reader *)(void *)reader;
	if (!r)
		return;
	sqlite3_finalize(r->st);
	free(r->nan);
	free(r->col);
	free(r);
}

/* ---- writing ----------------------------------------------------------------------- */

typedef struct sq_writer {
	sq_conn *c;
	char *table;
	size_t ncols;
	size_t *map;
	uint8_t *exact;            /* FERRY_EXACT_* of each column's declared type */
	int merge;
	int has_error_rule;
	char *conflict_msg;        /* the reject reason of an error-rule conflict */
	int rows_per;              /* rows of the multi-row statement */
	sqlite3_stmt *multi;       /* NULL in merge mode or when a row fills the variables */
	sqlite3_stmt *one;
	int guard;                 /* guard_deleted and the target records deletes */
	int guarded;               /* the guard's TEMP trigger is in place */
	char msg[512];             /* the last error, kept across the reject callback */
} sq_writer;

static int retryable(int rc)
{
	rc &= 0xff;
	return rc == SQLITE_CONSTRAINT || rc == SQLITE_MISMATCH || rc == SQLITE_TOOBIG;
}

static void insert_head(ferry_buf *b, const ferry_write_spec *spec)
{
	ferry_buf_puts(b, "INSERT INTO ");
	ferry_sqlite__buf_ident(b, spec->table);
	if (spec->ncols == 0) {
		ferry_buf_puts(b, " DEFAULT VALUES");
		return;
	}
	ferry_buf_puts(b, "(");
	key_list(b, spec->cols, spec->ncols);
	ferry_buf_puts(b, ") VALUES ");
}

static void values_rows(ferry_buf *b, size_t ncols, int rows)
{
	for (int r = 0; r < rows; r++) {
		ferry_buf_puts(b, r ? ", (" : "(");
		for (size_t i = 0; i < ncols; i++)
			ferry_buf_puts(b, i ? ", ?" : "?");
		ferry_buf_puts(b, ")");
	}
}

/* The FERRY_EXACT_* kind of each written column, from the declared types of the table. */
static int column_kinds(sq_conn *c, const ferry_write_spec *spec, uint8_t *out, ferry_err *err)
{
	char what[300];
	snprintf(what, sizeof(what), "write to table \"%s\"", spec->table);
	sqlite3_stmt *st;
	int rc = ferry_sqlite__prepare(c, &st, "SELECT name, type FROM pragma_table_xinfo(?1, 'main')",
	                               0, err, what);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, spec->table, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		int kind = ferry__exact_kind((const char *)sqlite3_column_text(st, 1), NULL);
		for (size_t i = 0; name && kind && i < spec->ncols; i++)
			if (sqlite3_stricmp(name, spec->cols[i]) == 0)
				out[i] = (uint8_t)kind;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return ferry_sqlite__fail(c, rc, err, "could not write to table \"%s\" in \"%s\"",
		                          spec->table, c->path);
	return 0;
}

/* A merge rule SQLite cannot compute exactly on an exact column: min, max and sum of
 * decimals kept as text (it compares them as text and adds them as rounded reals), sum of
 * a float column that may hold the text 'NaN' (it adds it as 0). */
static int merge_exact_check(const ferry_write_spec *spec, const uint8_t *exact,
                             ferry_err *err)
{
	for (size_t i = 0; i < spec->ncols; i++) {
		int rule = spec->conflict[i];
		const char *name = rule == FERRY_CONFLICT_MIN ? "min" : rule == FERRY_CONFLICT_MAX ? "max"
		                   : rule == FERRY_CONFLICT_SUM ? "sum" : NULL;
		if (!name || !exact[i] || (exact[i] != FERRY_EXACT_NUMERIC && rule != FERRY_CONFLICT_SUM))
			continue;
		return ferry_err_set(err, FERRY_EUSAGE,
		                     "cannot merge column \"%s\" of table \"%s\" with rule %s: SQLite "
		                     "cannot compute it exactly on a column of ferry's exact %s type "
		                     "(declare the column in a target_schema)",
		                     spec->cols[i], spec->table, name,
		                     exact[i] == FERRY_EXACT_NUMERIC ? "NUMERIC_TEXT" : "float");
	}
	return 0;
}

/* The upsert clause of a merge: ON CONFLICT(keys) DO UPDATE SET per the column rules. */
static int merge_clause(ferry_buf *b, const ferry_write_spec *spec, sq_writer *w,
                        ferry_err *err)
{
	ferry_buf table = FERRY_BUF_INIT;
	if (ferry_buf_ident(&table, spec->table) != 0)
		return OOM(err);
	ferry_upsert_dialect d = {table.data, "min", "max", " IS "};
	int rc = ferry__upsert_clause(b, spec, &d, &w->conflict_msg, err);
	w->has_error_rule = w->conflict_msg != NULL;
	ferry_buf_free(&table);
	return rc;
}

int ferry_sqlite__writer_open(ferry_writer **out, ferry_conn *conn, const ferry_write_spec *spec,
                              ferry_err *err)
{
	sq_conn *c = SQ(conn);
	*out = NULL;
	/* Each connection to ":memory:" is a database of its own: the writer would not see the
	 * tables the run created (a misleading "no such table"), and the rows would vanish. */
	if (c->memory)
		return ferry_err_set(err, FERRY_EUSAGE,
		                     "cannot load table \"%s\" into an in-memory database: it belongs to one connection "
		                     "and is gone when ferry exits (give a file)", spec->table);
	if (spec->merge && !spec->conflict)
		return ferry_err_set(err, FERRY_EUSAGE, "cannot merge into table \"%s\": no rules",
		                     spec->table);
	sq_writer *w = ferry__calloc(1, sizeof(*w));
	if (!w)
		return OOM(err);
	w->c = c;
	w->ncols = spec->ncols;
	w->merge = spec->merge;
	w->table = ferry__strdup(spec->table);
	w->map = ferry__calloc(spec->ncols, sizeof(size_t));
	w->exact = ferry__calloc(spec->ncols, 1);
	if (!w->table || !w->map || !w->exact) {
		ferry_sqlite__writer_close((ferry_writer *)(void *)w);
		return OOM(err);
	}
	if (spec->ncols)
		memcpy(w->map, spec->map, spec->ncols * sizeof(size_t));
	int krc = column_kinds(c, spec, w->exact, err);
	if (krc == 0 && spec->merge)
		krc = merge_exact_check(spec, w->exact, err);
	if (krc == 0 && spec->guard_deleted)
		krc = ferry_sqlite__later_recorded(c, NULL, &w->guard, err);
	if (krc) {
		ferry_sqlite__writer_close((ferry_writer *)(void *)w);
		return krc;
	}

	int maxvars = sqlite3_limit(c->db, SQLITE_LIMIT_VARIABLE_NUMBER, -1);
	int per = spec->ncols ? maxvars / (int)spec->ncols : 1;
	w->rows_per = per < 1 ? 1 : per > 64 ? 64 : per;

	char what[600];
	snprintf(what, sizeof(what), "write to table \"%s\" in \"%s\"", spec->table, c->path);
	ferry_buf b = FERRY_BUF_INIT;
	int rc = 0;
	if (!spec->merge && spec->ncols && w->rows_per > 1) {
		insert_head(&b, spec);
		values_rows(&b, spec->ncols, w->rows_per);
		rc = b.failed ? OOM(err) : ferry_sqlite__prepare(c, &w->multi, b.data, 1, err, what);
	}
	if (rc == 0) {
		ferry_buf_reset(&b);
		insert_head(&b, spec);
		if (spec->ncols)
			values_rows(&b, spec->ncols, 1);
		if (spec->merge)
			rc = merge_clause(&b, spec, w, err);
		if (rc == 0)
			rc = b.failed ? OOM(err) : ferry_sqlite__prepare(c, &w->one, b.data, 1, err, what);
	}
	ferry_buf_free(&b);
	if (rc) {
		ferry_sqlite__writer_close((ferry_writer *)(void *)w);
		return rc;
	}
	*out = (ferry_writer *)(void *)w;
	return 0;
}

/* A float into one of ferry's exact columns: NaN, which SQLite would bind as NULL, as the
 * text 'NaN'; into NUMERIC_TEXT, whose TEXT affinity would render it with 15 digits, as
 * the shortest text that reads back as the same double. */
static int bind_exact_float(sqlite3_stmt *st, int i, double d, int kind)
{
	if (isnan(d))
		return sqlite3_bind_text(st, i, "NaN", 3, SQLITE_STATIC);
	if (kind != FERRY_EXACT_NUMERIC)
		return sqlite3_bind_double(st, i, d);
	char t[40];
	if (isinf(d)) {
		snprintf(t, sizeof(t), "%s", d > 0 ? "Infinity" : "-Infinity");
	} else {
		ferry__dbl_shortest(d, t, sizeof(t));
	}
	return sqlite3_bind_text(st, i, t, -1, SQLITE_TRANSIENT);
}

/* Bind nrows rows of b from row `from` to st; returns an SQLite code. */
static int bind_rows(sq_writer *w, sqlite3_stmt *st, const ferry_batch *b, size_t from,
                     int nrows)
{
	int p = 1;
	for (int r = 0; r < nrows; r++) {
		const ferry_value *row = ferry_batch_crow(b, from + (size_t)r);
		for (size_t i = 0; i < w->ncols; i++) {
			const ferry_value *v = &row[w->map[i]];
			int rc = w->exact[i] && v->type == FERRY_FLOAT
			             ? bind_exact_float(st, p++, v->v.f, w->exact[i])
			             : ferry_sqlite__bind(st, p++, v, 0);
			if (rc != SQLITE_OK)
				return rc;
		}
	}
	return SQLITE_OK;
}

static int write_fail(sq_writer *w, ferry_err *err, int rc)
{
	int code = (rc & 0xff) == SQLITE_NOMEM ? FERRY_ENOMEM : FERRY_ERROR;
	return ferry_err_set(err, code, "could not write to table \"%s\" in \"%s\": %s", w->table,
	                     w->c->path, w->msg);
}

static int do_reject(sq_writer *w, ferry_reject_cb reject, void *ud, size_t row,
                     const char *reason, ferry_err *err)
{
	int rc = reject ? reject(ud, row, reason) : FERRY_EREJECT;
	if (rc)
		return ferry_err_set(err, rc, "could not write to table \"%s\": stopped at a refused "
		                     "row (%s)", w->table, reason);
	return 0;
}

/* Insert (or merge) one row; a row the table refuses goes to reject. */
static int write_one(sq_writer *w, const ferry_batch *b, size_t row, ferry_reject_cb reject,
                     void *ud, ferry_err *err)
{
	int rc = bind_rows(w, w->one, b, row, 1);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(w->one);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(w->one);
		if (w->has_error_rule && sqlite3_changes(w->c->db) == 0)
			return do_reject(w, reject, ud, row, w->conflict_msg, err);
		return 0;
	}
	snprintf(w->msg, sizeof(w->msg), "%s", sqlite3_errmsg(w->c->db));
	sqlite3_reset(w->one);
	if (retryable(rc))
		return do_reject(w, reject, ud, row, w->msg, err);
	return write_fail(w, err, rc);
}

/* The guard against the application's deletes (ferry_sqlite__later_guard) costs a trigger
 * run per row: it is put in place only once the table has a recorded delete. Checked under
 * the write lock (a no-op DELETE takes it), so no delete commits between the check and the
 * rows; outside a transaction there is no such lock, and the trigger goes in at once. */
static int guard_if_needed(sq_writer *w, ferry_err *err)
{
	sq_conn *c = w->c;
	int needed = 1;
	int rc = 0;
	if (!sqlite3_get_autocommit(c->db)) {
		rc = ferry_sqlite__exec(c, "DELETE FROM main.ferry_later_deleted WHERE 0", err);
		if (rc == 0)
			rc = ferry_sqlite__later_recorded(c, w->table, &needed, err);
	}
	if (rc == 0 && needed && (rc = ferry_sqlite__later_guard(c, w->table, err)) == 0)
		w->guarded = 1;
	return rc;
}

int ferry_sqlite__writer_write(ferry_writer *writer, const ferry_batch *b, ferry_reject_cb reject,
                               void *ud, ferry_err *err)
{
	sq_writer *w = (sq_writer *)(void *)writer;
	size_t n = ferry_batch_nrows(b), i = 0;
	size_t per = (size_t)w->rows_per;
	int rc;
	if (w->guard && !w->guarded && n > 0 && (rc = guard_if_needed(w, err)) != 0)
		return rc;
	for (size_t k = 0; k < w->ncols; k++)
		if (w->map[k] >= ferry_batch_ncols(b))
			return ferry_err_set(err, FERRY_EUSAGE,
			                     "cannot write to table \"%s\": column %zu maps to batch column "
			                     "%zu of %zu", w->table, k, w->map[k], ferry_batch_ncols(b));
	if (w->multi) {
		while (n - i >= per) {
			rc = bind_rows(w, w->multi, b, i, w->rows_per);
			if (rc == SQLITE_OK)
				rc = sqlite3_step(w->multi);
			if (rc == SQLITE_DONE) {
				sqlite3_reset(w->multi);
				i += per;
				continue;
			}
			snprintf(w->msg, sizeof(w->msg), "%s", sqlite3_errmsg(w->c->db));
			sqlite3_reset(w->multi);
			if (!retryable(rc))
				return write_fail(w, err, rc);
			/* Only this statement was undone; find the refused rows one at a time. */
			for (size_t end = i + per; i < end; i++)
				if ((rc = write_one(w, b, i, reject, ud, err)) != 0)
					return rc;
		}
	}
	for (; i < n; i++)
		if ((rc = write_one(w, b, i, reject, ud, err)) != 0)
			return rc;
	return 0;
}

void ferry_sqlite__writer_close(ferry_writer *writer)
{
	sq_writer *w = (sq_writer *)(void *)writer;
	if (!w)
		return;
	sqlite3_finalize(w->multi);
	sqlite3_finalize(w->one);
	free(w->conflict_msg);
	free(w->map);
	free(w->exact);
	free(w->table);
	free(w);
}
