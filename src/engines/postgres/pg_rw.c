/* pg_rw.c — the PostgreSQL engine's data path: key-range and ctid-range chunks, a reader
 * that decodes COPY TO STDOUT (FORMAT binary) straight into batches, and a writer that
 * loads batches with COPY FROM STDIN inside a savepoint and bisects a refused batch down
 * to exactly the rows the table refuses; merges go row by row through a pipeline, except an
 * insert-where-absent (every rule keeps the existing row), which goes by batches. */
#include <stdlib.h>
#include <string.h>
#include "pg_int.h"

#define MAX_KEYS 32
#define BATCH_BYTES (32u << 20)   /* a reader batch stops growing past this many bytes */
#define MERGE_ROUND 256           /* rows per pipeline round of a merge */

static const char copy_sig[11] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', '\377', '\r', '\n', '\0'};

/* ---- literals and keys ------------------------------------------------------------- */

int ferry_pg__buf_value_literal(ferry_buf *b, const ferry_value *v)
{
	switch (v->type) {
	case FERRY_NULL:
		return ferry_buf_puts(b, "NULL");
	case FERRY_INT:
		return ferry_buf_printf(b, v->v.i < 0 ? "(%lld)" : "%lld", (long long)v->v.i);
	case FERRY_BOOL:
		return ferry_buf_puts(b, v->v.i ? "true" : "false");
	case FERRY_FLOAT:
		if (v->v.f != v->v.f)
			return ferry_buf_puts(b, "'NaN'::float8");
		if (v->v.f > 1.7976931348623157e308 || v->v.f < -1.7976931348623157e308)
			return ferry_buf_puts(b, v->v.f > 0 ? "'Infinity'::float8" : "'-Infinity'::float8");
		return ferry_buf_printf(b, "'%.17g'::float8", v->v.f);
	case FERRY_BLOB: {
		int rc = ferry_buf_puts(b, "'\\x");
		if (rc == 0)
			rc = ferry_buf_hex(b, v->v.b, v->len);
		return rc ? rc : ferry_buf_puts(b, "'::bytea");
	}
	default:
		return ferry_pg__buf_literal(b, v->v.s ? v->v.s : "", v->len);
	}
}

/* "a", "b" */
static void key_list(ferry_buf *b, const char *const *keys, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (i)
			ferry_buf_puts(b, ", ");
		ferry_pg__buf_ident(b, keys[i]);
	}
}

/* ("a", "b") OP (v1, v2) — row values compare lexicographically. */
static void key_cmp(ferry_buf *b, const char *const *keys, size_t n, const char *op,
                    const ferry_value *vals)
{
	ferry_buf_puts(b, "(");
	key_list(b, keys, n);
	ferry_buf_printf(b, ") %s (", op);
	for (size_t i = 0; i < n; i++) {
		if (i)
			ferry_buf_puts(b, ", ");
		ferry_pg__buf_value_literal(b, &vals[i]);
	}
	ferry_buf_puts(b, ")");
}

/* A key value from a text result column: integers as integers, everything else as the
 * server's text, which reads back as the same value when compared with the column. */
static void key_value(const PGresult *res, int row, int col, ferry_value *out)
{
	memset(out, 0, sizeof(*out));
	Oid t = PQftype(res, col);
	const char *s = PQgetvalue(res, row, col);
	if (PQgetisnull(res, row, col)) {
		out->type = FERRY_NULL;
	} else if (t == PG_INT2 || t == PG_INT4 || t == PG_INT8) {
		out->type = FERRY_INT;
		out->v.i = strtoll(s, NULL, 10);
	} else {
		out->type = FERRY_TEXT;
		out->v.s = s;
		out->len = (uint32_t)PQgetlength(res, row, col);
	}
}

/* ---- chunks ------------------------------------------------------------------------ */

/* WHERE of a chunk's walk: keys after lo (none for the first chunk), within range's ends
 * (NULL: none; the lower end only for the first chunk, the others start after it). */
static void walk_where(ferry_buf *b, const char *const *keys, size_t nk, const ferry_value *lov,
                       int first, const ferry_key_range *range)
{
	const char *glue = " WHERE ";
	if (!first) {
		ferry_buf_puts(b, glue);
		key_cmp(b, keys, nk, ">", lov);
		glue = " AND ";
	}
	ferry_value v = {.type = FERRY_INT};
	if (first && range && range->lo != INT64_MIN) {
		v.v.i = range->lo;
		ferry_buf_puts(b, glue);
		key_cmp(b, keys, 1, ">=", &v);
		glue = " AND ";
	}
	if (range && range->hi != INT64_MAX) {
		v.v.i = range->hi;
		ferry_buf_puts(b, glue);
		key_cmp(b, keys, 1, "<=", &v);
	}
}

static int chunk_by_key(pg_conn *c, const char *table, size_t nk, const char *const *keys,
                        int64_t chunk_rows, const ferry_key_range *range, ferry_chunk_cb cb,
                        void *ud, ferry_err *err)
{
	char what[300];
	snprintf(what, sizeof(what), "chunk table \"%s\"", table);
	ferry_buf b = FERRY_BUF_INIT;
	uint8_t *lo = NULL, *hi = NULL;
	size_t lo_len = 0, lo_cap = 0, hi_len = 0, hi_cap = 0;
	ferry_value lov[MAX_KEYS];
	int rc = 0, first = 1;
	for (int64_t chunk = 0;; chunk++) {
		ferry_chunk_rec rec;
		memset(&rec, 0, sizeof(rec));
		rec.chunk = chunk;
		if (!first) {
			rec.lo = lo;
			rec.lo_len = lo_len;
		}
		/* The chunk_rows-th row after lo closes this chunk; a row after it means another
		 * chunk follows. The last chunk is open above, so rows added before a resumed run
		 * still belong to a chunk; with a range, so are the keys past its upper end, and
		 * the first chunk holds those below its lower end: the chunks still cover every
		 * key, the range only saves walking (and counting) the keys outside it. */
		ferry_buf_reset(&b);
		ferry_buf_puts(&b, "SELECT ");
		key_list(&b, keys, nk);
		ferry_buf_puts(&b, " FROM ");
		ferry_pg__buf_table(&b, c, table);
		walk_where(&b, keys, nk, lov, first, range);
		ferry_buf_puts(&b, " ORDER BY ");
		key_list(&b, keys, nk);
		ferry_buf_printf(&b, " OFFSET %lld LIMIT 2", (long long)(chunk_rows - 1));
		if (b.failed) {
			rc = OOM(err);
			break;
		}
		PGresult *res;
		if ((rc = ferry_pg__query(c, &res, b.data, 0, NULL, err, what)) != 0)
			break;
		int bounded = PQntuples(res) == 2;
		if (PQntuples(res) >= 1) {
			ferry_value vals[MAX_KEYS];
			for (size_t i = 0; i < nk; i++)
				key_value(res, 0, (int)i, &vals[i]);
			hi_len = 0;
			if (ferry_value_encode_row(&hi, &hi_len, &hi_cap, vals, nk) != 0) {
				PQclear(res);
				rc = OOM(err);
				break;
			}
			rec.est_rows = chunk_rows;
		}
		PQclear(res);
		if (bounded) {
			rec.hi = hi;
			rec.hi_len = hi_len;
		} else {
			ferry_buf_reset(&b);
			ferry_buf_puts(&b, "SELECT count(*) FROM ");
			ferry_pg__buf_table(&b, c, table);
			walk_where(&b, keys, nk, lov, first, range);
			if (b.failed) {
				rc = OOM(err);
				break;
			}
			if ((rc = ferry_pg__query(c, &res, b.data, 0, NULL, err, what)) != 0)
				break;
			rec.est_rows = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
			PQclear(res);
		}
		if ((rc = cb(ud, &rec)) != 0 || !bounded)
			break;
		/* This chunk's hi is the next one's lo. */
		uint8_t *tb = lo;
		size_t tc = lo_cap;
		lo = hi;
		lo_cap = hi_cap;
		lo_len = hi_len;
		hi = tb;
		hi_cap = tc;
		hi_len = 0;
		if (ferry_value_decode_row(lov, nk, lo, lo_len) != (int)nk) {
			rc = ferry_err_set(err, FERRY_ECORRUPT, "could not chunk table \"%s\": bad key", table);
			break;
		}
		first = 0;
	}
	ferry_buf_free(&b);
	free(lo);
	free(hi);
	return rc;
}

/* Without a key: ranges of heap blocks (ctid), cut where the rows counted per block reach
 * chunk_rows. Counting reads the table once, inside the snapshot, so every chunk's row
 * count is exact. Partitions share block numbers: a range selects from each of them. */
static int chunk_by_ctid(pg_conn *c, const char *table, int64_t chunk_rows, ferry_chunk_cb cb,
                         void *ud, ferry_err *err)
{
	char what[300];
	snprintf(what, sizeof(what), "chunk table \"%s\"", table);
	ferry_buf b = FERRY_BUF_INIT;
	ferry_buf_puts(&b, "SELECT (ctid::text::point)[0]::bigint AS blk, count(*) FROM ");
	ferry_pg__buf_table(&b, c, table);
	ferry_buf_puts(&b, " GROUP BY 1 ORDER BY 1");
	if (b.failed)
		return OOM(err);
	PGresult *res;
	int rc = ferry_pg__query(c, &res, b.data, 0, NULL, err, what);
	ferry_buf_free(&b);
	if (rc)
		return rc;
	int n = PQntuples(res);
	uint8_t *lo = NULL, *hi = NULL;
	size_t lo_len = 0, lo_cap = 0, hi_len = 0, hi_cap = 0;
	int64_t acc = 0, chunk = 0;
	for (int i = 0; i <= n && rc == 0; i++) {
		if (i == n) {
			ferry_chunk_rec rec = {.chunk = chunk, .lo = lo_len ? lo : NULL, .lo_len = lo_len,
			                       .est_rows = acc};
			rc = cb(ud, &rec);
			break;
		}
		int64_t blk = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		/* Cut before this block when the rows so far fill a chunk. */
		if (acc >= chunk_rows) {
			ferry_value v = {.type = FERRY_INT, .v.i = blk};
			hi_len = 0;
			if (ferry_value_encode_row(&hi, &hi_len, &hi_cap, &v, 1) != 0) {
				rc = OOM(err);
				break;
			}
			ferry_chunk_rec rec = {.chunk = chunk, .lo = lo_len ? lo : NULL, .lo_len = lo_len,
			                       .hi = hi, .hi_len = hi_len, .est_rows = acc};
			if ((rc = cb(ud, &rec)) != 0)
				break;
			uint8_t *t = lo;
			size_t tc = lo_cap;
			lo = hi;
			lo_cap = hi_cap;
			lo_len = hi_len;
			hi = t;
			hi_cap = tc;
			acc = 0;
			chunk++;
		}
		acc += strtoll(PQgetvalue(res, i, 1), NULL, 10);
	}
	free(lo);
	free(hi);
	PQclear(res);
	return rc;
}

int ferry_pg__plan_chunks(ferry_conn *conn, const char *table, size_t nkeys,
                          const char *const *keys, int64_t chunk_rows,
                          const ferry_key_range *range, ferry_chunk_cb cb, void *ud,
                          ferry_err *err)
{
	pg_conn *c = PGC(conn);
	if (chunk_rows < 1)
		return ferry_err_set(err, FERRY_EUSAGE, "cannot chunk table \"%s\": chunk size %lld",
		                     table, (long long)chunk_rows);
	if (nkeys > MAX_KEYS)
		return ferry_err_set(err, FERRY_EUSAGE,
		                     "cannot chunk table \"%s\": more than %d key columns", table, MAX_KEYS);
	if (nkeys == 0)
		return chunk_by_ctid(c, table, chunk_rows, cb, ud, err); /* no key to bound */
	return chunk_by_key(c, table, nkeys, keys, chunk_rows, nkeys == 1 ? range : NULL, cb, ud,
	                    err);
}

/* ---- reading ----------------------------------------------------------------------- */

typedef struct pg_reader {
	pg_conn *c;
	char table[256];
	size_t ncols;
	Oid *oids;           /* per column: the type decoded */
	int header_done;
	int copying;         /* COPY OUT in progress */
	int done;
} pg_reader;

/* Replace the `?` parameters of expr (outside quotes and comments) by literals. */
static int bind_params(ferry_buf *out, const char *expr, const ferry_value *params,
                       size_t nparams, size_t *used)
{
	const char *p = expr;
	while (*p) {
		if (*p == '\'' || *p == '"') {
			char q = *p;
			const char *s = p++;
			while (*p && !(*p == q && p[1] != q)) {
				if (*p == q)
					p++;
				p++;
			}
			if (*p)
				p++;
			ferry_buf_add(out, s, (size_t)(p - s));
		} else if (p[0] == '-' && p[1] == '-') {
			const char *s = p;
			while (*p && *p != '\n')
				p++;
			ferry_buf_add(out, s, (size_t)(p - s));
		} else if (p[0] == '/' && p[1] == '*') {
			const char *e = strstr(p + 2, "*/");
			const char *s = p;
			p = e ? e + 2 : p + strlen(p);
			ferry_buf_add(out, s, (size_t)(p - s));
		} else if (*p == '?') {
			if (*used < nparams)
				ferry_pg__buf_value_literal(out, &params[*used]);
			(*used)++;
			p++;
		} else {
			ferry_buf_add(out, p++, 1);
		}
	}
	return out->failed ? FERRY_ENOMEM : 0;
}

/* Column types of the select list, cached on the connection for the chunks that follow. */
static int describe(pg_conn *c, const char *key, const char *sql, const char *table,
                    size_t ncols, Oid *out, ferry_err *err)
{
	if (c->desc_key && strcmp(c->desc_key, key) == 0 && c->desc_n == ncols) {
		memcpy(out, c->desc_oids, ncols * sizeof(Oid));
		return 0;
	}
	char what[300];
	snprintf(what, sizeof(what), "read table \"%s\"", table);
	PGresult *res;
	int rc = ferry_pg__query(c, &res, sql, 0, NULL, err, what);
	if (rc)
		return rc;
	if ((size_t)PQnfields(res) != ncols) {
		PQclear(res);
		return ferry_err_set(err, FERRY_EUSAGE, "could not read table \"%s\": the select list has %d columns, not %zu",
		                     table, PQnfields(res), ncols);
	}
	for (size_t i = 0; i < ncols; i++)
		out[i] = PQftype(res, (int)i);
	PQclear(res);
	free(c->desc_key);
	free(c->desc_oids);
	c->desc_key = ferry__strdup(key);
	c->desc_oids = ferry__malloc(ncols * sizeof(Oid));
	c->desc_n = ncols;
	if (!c->desc_key || !c->desc_oids) {
		free(c->desc_key);
		free(c->desc_oids);
		c->desc_key = NULL;
		c->desc_oids = NULL;
		return OOM(err);
	}
	memcpy(c->desc_oids, out, ncols * sizeof(Oid));
	return 0;
}

int ferry_pg__reader_open(ferry_reader **out, ferry_conn *conn, const ferry_read_spec *spec,
                          ferry_err *err)
{
	pg_conn *c = PGC(conn);
	*out = NULL;
	const char *table = spec->table;
	if (spec->nexprs == 0)
		return ferry_err_set(err, FERRY_EUSAGE, "cannot read table \"%s\": no columns", table);
	pg_reader *r = ferry__calloc(1, sizeof(*r));
	if (!r || !(r->oids = ferry__calloc(spec->nexprs, sizeof(Oid)))) {
		free(r);
		return OOM(err);
	}
	r->c = c;
	r->ncols = spec->nexprs;
	snprintf(r->table, sizeof(r->table), "%s", table);

	/* The select list with the plan's `?` values written in as literals: COPY takes no
	 * parameters. */
	ferry_buf list = FERRY_BUF_INIT, b = FERRY_BUF_INIT;
	char **exprs = ferry__calloc(spec->nexprs, sizeof(char *));
	size_t used = 0;
	int rc = exprs ? 0 : OOM(err);
	for (size_t i = 0; i < spec->nexprs && rc == 0; i++) {
		ferry_buf e = FERRY_BUF_INIT;
		ferry_buf_puts(&e, "");
		if (bind_params(&e, spec->exprs[i], spec->params, spec->nparams, &used) != 0)
			rc = OOM(err);
		exprs[i] = ferry_buf_detach(&e);
		if (!exprs[i] && rc == 0)
			rc = OOM(err);
	}
	/* The filter's `?` take the values after the select list's, as SQLite binds them. */
	ferry_buf filter = FERRY_BUF_INIT;
	ferry_buf_puts(&filter, "");
	if (rc == 0 && spec->filter && bind_params(&filter, spec->filter, spec->params, spec->nparams, &used) != 0)
		rc = OOM(err);
	if (rc == 0 && filter.failed)
		rc = OOM(err);
	if (rc == 0 && used != spec->nparams)
		rc = ferry_err_set(err, FERRY_EUSAGE,
		                   "could not read table \"%s\": the expressions have %zu parameters but %zu values were given",
		                   table, used, spec->nparams);
	if (rc == 0) {
		ferry_buf_puts(&b, table);
		for (size_t i = 0; i < spec->nexprs; i++) {
			ferry_buf_add(&b, "\1", 1);
			ferry_buf_puts(&b, exprs[i]);
		}
		ferry_buf_puts(&list, "SELECT ");
		for (size_t i = 0; i < spec->nexprs; i++)
			ferry_buf_printf(&list, "%s%s", i ? ", " : "", exprs[i]);
		ferry_buf_puts(&list, " FROM ");
		ferry_pg__buf_table(&list, c, table);
		ferry_buf_puts(&list, " LIMIT 0");
		if (b.failed || list.failed)
			rc = OOM(err);
	}
	if (rc == 0)
		rc = describe(c, b.data, list.data, table, spec->nexprs, r->oids, err);

	/* Types ferry does not decode come as text. */
	if (rc == 0) {
		ferry_buf_reset(&b);
		ferry_buf_puts(&b, "COPY (SELECT ");
		for (size_t i = 0; i < spec->nexprs; i++) {
			int native = ferry_pg__decodes(r->oids[i]);
			ferry_buf_printf(&b, "%s%s%s%s", i ? ", " : "", native ? "" : "(", exprs[i],
			                 native ? "" : ")::text");
			if (!native)
				r->oids[i] = PG_TEXT;
		}
		ferry_buf_puts(&b, " FROM ");
		ferry_pg__buf_table(&b, c, table);
		const char *and = " WHERE ";
		if (spec->filter) {
			ferry_buf_printf(&b, "%s(%s)", and, filter.data);
			and = " AND ";
		}
		if (spec->nkeys == 0) {
			/* Block ranges: [lo, hi) in heap blocks. */
			if (spec->lo && spec->lo[0].type == FERRY_INT) {
				ferry_buf_printf(&b, "%sctid >= '(%lld,0)'::tid", and, (long long)spec->lo[0].v.i);
				and = " AND ";
			}
			if (spec->hi && spec->hi[0].type == FERRY_INT)
				ferry_buf_printf(&b, "%sctid < '(%lld,0)'::tid", and, (long long)spec->hi[0].v.i);
		} else {
			if (spec->lo) {
				ferry_buf_puts(&b, and);
				key_cmp(&b, spec->keys, spec->nkeys, ">", spec->lo);
				and = " AND ";
			}
			if (spec->hi) {
				ferry_buf_puts(&b, and);
				key_cmp(&b, spec->keys, spec->nkeys, "<=", spec->hi);
				and = " AND ";
			}
			if (spec->nmatch) {
				/* The keys a change touched (COPY takes no parameters: escaped literals,
				 * which take the key column's type). */
				ferry_buf_printf(&b, "%s(", and);
				key_list(&b, spec->keys, spec->nkeys);
				ferry_buf_puts(&b, ") IN (");
				for (size_t m = 0; m < spec->nmatch; m++) {
					ferry_buf_puts(&b, m ? ", (" : "(");
					for (size_t i = 0; i < spec->nkeys; i++) {
						if (i)
							ferry_buf_puts(&b, ", ");
						ferry_pg__buf_value_literal(&b, &spec->match[m * spec->nkeys + i]);
					}
					ferry_buf_puts(&b, ")");
				}
				ferry_buf_puts(&b, ")");
			}
			ferry_buf_puts(&b, " ORDER BY ");
			key_list(&b, spec->keys, spec->nkeys);
		}
		ferry_buf_puts(&b, ") TO STDOUT (FORMAT binary)");
		if (b.failed)
			rc = OOM(err);
	}
	if (rc == 0 && c->broken)
		rc = ferry_err_set(err, FERRY_ERROR, "could not read table \"%s\" in %s: an abandoned read left the session unusable",
		                   table, c->label);
	if (rc == 0) {
		PGresult *res = PQexec(c->db, b.data);
		if (PQresultStatus(res) != PGRES_COPY_OUT)
			rc = ferry_pg__fail(c, res, err, "read table \"%s\"", table);
		else
			r->copying = 1;
		PQclear(res);
	}
	for (size_t i = 0; exprs && i < spec->nexprs; i++)
		free(exprs[i]);
	free(exprs);
	ferry_buf_free(&list);
	ferry_buf_free(&b);
	ferry_buf_free(&filter);
	if (rc) {
		ferry_pg__reader_close((ferry_reader *)(void *)r);
		return rc;
	}
	*out = (ferry_reader *)(void *)r;
	return 0;
}

static int malformed(pg_reader *r, ferry_err *err, const char *why)
{
	r->done = 1;
	return ferry_err_set(err, FERRY_ECORRUPT, "could not read table \"%s\" in %s: %s",
	                     r->table, r->c->label, why);
}

/* The end of COPY OUT: the command's own result says whether it completed. */
static int copy_end(pg_reader *r, ferry_err *err)
{
	pg_conn *c = r->c;
	r->copying = 0;
	r->done = 1;
	int rc = 0;
	PGresult *res;
	while ((res = PQgetResult(c->db)) != NULL) {
		if (rc == 0 && PQresultStatus(res) != PGRES_COMMAND_OK)
			rc = ferry_pg__fail(c, res, err, "read table \"%s\"", r->table);
		PQclear(res);
	}
	if (rc == 0 && PQstatus(c->db) != CONNECTION_OK)
		rc = ferry_pg__fail(c, NULL, err, "read table \"%s\"", r->table);
	return rc;
}

int ferry_pg__reader_next(ferry_reader *reader, ferry_batch *b, int *eof, ferry_err *err)
{
	pg_reader *r = (pg_reader *)(void *)reader;
	*eof = 0;
	if (r->done) {
		*eof = 1;
		return 0;
	}
	if (r->ncols != ferry_batch_ncols(b))
		return ferry_err_set(err, FERRY_EUSAGE,
		                     "cannot read table \"%s\": %zu columns into a batch of %zu",
		                     r->table, r->ncols, ferry_batch_ncols(b));
	size_t cap = ferry_batch_capacity(b), bytes = 0;
	char reason[200];
	while (ferry_batch_nrows(b) < cap && bytes < BATCH_BYTES) {
		char *buf = NULL;
		int n = PQgetCopyData(r->c->db, &buf, 0);
		if (n == -1) {
			int rc = copy_end(r, err);
			if (rc == 0)
				*eof = 1;
			return rc;
		}
		if (n < 0) {
			r->copying = 0;
			r->done = 1;
			int rc = ferry_pg__fail(r->c, NULL, err, "read table \"%s\"", r->table);
			PGresult *res;
			while ((res = PQgetResult(r->c->db)) != NULL)
				PQclear(res);
			return rc;
		}
		const uint8_t *p = (const uint8_t *)buf, *end = p + n;
		if (!r->header_done) {
			if (n < 19 || memcmp(p, copy_sig, 11) != 0) {
				PQfreemem(buf);
				return malformed(r, err, "the COPY header is missing");
			}
			uint32_t ext = ((uint32_t)p[15] << 24) | ((uint32_t)p[16] << 16) | ((uint32_t)p[17] << 8) | p[18];
			if (ext > (size_t)(end - p) - 19) {
				PQfreemem(buf);
				return malformed(r, err, "the COPY header is cut short");
			}
			p += 19 + ext;
			r->header_done = 1;
		}
		while (p < end) {
			if (end - p < 2) {
				PQfreemem(buf);
				return malformed(r, err, "a row is cut short");
			}
			int16_t nf = (int16_t)((p[0] << 8) | p[1]);
			p += 2;
			if (nf == -1) {
				p = end; /* the trailer; COPY's end follows */
				break;
			}
			if ((size_t)nf != r->ncols) {
				PQfreemem(buf);
				return malformed(r, err, "a row has the wrong number of columns");
			}
			ferry_value *row = ferry_batch_add_row(b);
			for (size_t i = 0; i < r->ncols; i++) {
				if (end - p < 4) {
					PQfreemem(buf);
					return malformed(r, err, "a field is cut short");
				}
				int32_t len = (int32_t)(((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
				                        ((uint32_t)p[2] << 8) | p[3]);
				p += 4;
				if (len == -1) {
					memset(&row[i], 0, sizeof(row[i]));
					continue;
				}
				if (len < 0 || len > end - p) {
					PQfreemem(buf);
					return malformed(r, err, "a field is cut short");
				}
				int rc = ferry_pg__decode(r->oids[i], p, (size_t)len, &row[i], b, reason,
				                          sizeof(reason));
				if (rc) {
					PQfreemem(buf);
					if (rc == FERRY_ENOMEM)
						return OOM(err);
					return malformed(r, err, reason);
				}
				p += len;
				bytes += (size_t)len;
			}
		}
		PQfreemem(buf);
	}
	return 0;
}

void ferry_pg__reader_close(ferry_reader *reader)
{
	pg_reader *r = (pg_reader *)(void *)reader;
	if (!r)
		return;
	if (r->copying && r->c->db) {
		/* Stopped early: ask the server to stop sending, then drain what it sent. The
		 * read transaction has failed with the cancel, so the session is done. */
		PGcancel *cn = PQgetCancel(r->c->db);
		char e[256];
		if (cn) {
			PQcancel(cn, e, sizeof(e));
			PQfreeCancel(cn);
		}
		char *buf;
		int n;
		while ((n = PQgetCopyData(r->c->db, &buf, 0)) > 0)
			PQfreemem(buf);
		PGresult *res;
		while ((res = PQgetResult(r->c->db)) != NULL)
			PQclear(res);
		r->c->broken = 1;
	}
	free(r->oids);
	free(r);
}

/* ---- writing ----------------------------------------------------------------------- */

typedef struct pending_reject {
	size_t row;
	char *reason;
} pending_reject;

typedef struct pg_writer {
	pg_conn *c;
	char *table;
	size_t ncols;
	size_t *map;
	pg_col *cols;
	char **names;
	int text;                 /* some column has no binary form: COPY in text format */
	int merge;
	int has_error_rule;
	char *conflict_msg;
	char *copy_sql;
	char *merge_sql;
	char stmt[48];            /* the merge's prepared statement */
	int nothing;              /* the merge keeps every existing row: ON CONFLICT DO NOTHING */
	int guard;                /* spec->guard_deleted: the session sets ferry.later */
	char stage[48];           /* nothing: the temporary table a batch is copied into */
	char *stage_sql;          /* nothing: create the stage (if absent) and COPY into it */
	char *insert_sql;         /* nothing: INSERT ... SELECT from the stage, then empty it */
	ferry_buf data;           /* COPY payload, or merge parameters */
	size_t *rows;             /* rows of the batch still to write */
	size_t *saved;            /* the batch's rows, while a refused batch is bisected */
	size_t rows_cap;
	size_t *offs;             /* merge: parameter offsets into data (SIZE_MAX: NULL) */
	size_t offs_cap;
	const char **pv;
	pending_reject *rej;
	size_t nrej, rej_cap;
	char msg[800];
} pg_writer;

static void writer_free(pg_writer *w)
{
	if (!w)
		return;
	if (w->stmt[0] && w->c->db && PQstatus(w->c->db) == CONNECTION_OK &&
	    PQtransactionStatus(w->c->db) != PQTRANS_INERROR) {
		char sql[160];
		snprintf(sql, sizeof(sql), "DEALLOCATE %s", w->stmt);
		PQclear(PQexec(w->c->db, sql));
		if (w->nothing) {
			snprintf(sql, sizeof(sql), "DROP TABLE IF EXISTS pg_temp.\"%s\"", w->stage);
			PQclear(PQexec(w->c->db, sql));
		}
	}
	for (size_t i = 0; w->names && i < w->ncols; i++)
		free(w->names[i]);
	for (size_t i = 0; i < w->nrej; i++)
		free(w->rej[i].reason);
	free(w->rej);
	free(w->names);
	free(w->cols);
	free(w->map);
	free(w->table);
	free(w->conflict_msg);
	free(w->copy_sql);
	free(w->merge_sql);
	free(w->stage_sql);
	free(w->insert_sql);
	ferry_buf_free(&w->data);
	free(w->rows);
	free(w->saved);
	free(w->offs);
	free(w->pv);
	free(w);
}

/* Look up the target's columns: type (domains by their base type), typmod. */
static int load_columns(pg_writer *w, const ferry_write_spec *spec, ferry_err *err)
{
	pg_conn *c = w->c;
	ferry_buf q = FERRY_BUF_INIT;
	ferry_pg__buf_table(&q, c, spec->table);
	if (q.failed)
		return OOM(err);
	const char *params[1] = {q.data};
	char what[300];
	snprintf(what, sizeof(what), "write to table \"%s\"", spec->table);
	PGresult *res;
	int rc = ferry_pg__query(c, &res,
	                         "SELECT a.attname, CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END, "
	                         "CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END, "
	                         "CASE WHEN t.typtype = 'd' THEN bt.typtype ELSE t.typtype END "
	                         "FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
	                         "LEFT JOIN pg_type bt ON bt.oid = t.typbasetype "
	                         "WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped",
	                         1, params, err, what);
	ferry_buf_free(&q);
	if (rc)
		return rc;
	for (size_t i = 0; i < w->ncols; i++) {
		int found = 0;
		for (int r = 0; r < PQntuples(res) && !found; r++) {
			if (strcmp(PQgetvalue(res, r, 0), w->names[i]) != 0)
				continue;
			found = 1;
			Oid oid = (Oid)strtoul(PQgetvalue(res, r, 1), NULL, 10);
			char tt = PQgetvalue(res, r, 3)[0];
			w->cols[i].kind = tt == 'd' ? K_OTHER : ferry_pg__kind(oid, tt);
			w->cols[i].typmod = (int32_t)strtol(PQgetvalue(res, r, 2), NULL, 10);
			w->cols[i].bpchar = oid == PG_BPCHAR;
			w->cols[i].name = w->names[i];
			if (w->cols[i].kind != K_TEXT && w->cols[i].kind != K_NUMERIC)
				w->cols[i].typmod = -1;
			if (w->cols[i].kind == K_OTHER)
				w->text = 1;
		}
		if (!found) {
			PQclear(res);
			return ferry_err_set(err, FERRY_ENOTFOUND, "could not write to table \"%s\" in %s: it has no column \"%s\"",
			                     spec->table, c->label, w->names[i]);
		}
	}
	PQclear(res);
	return 0;
}

/* INSERT ... ON CONFLICT (keys) DO UPDATE SET per the column rules (ferry__upsert_clause):
 * min/max/sum ignore NULLs, first keeps, last takes, error (and columns without a rule) must
 * be equal or the row is refused. */
static int merge_sql(pg_writer *w, const ferry_write_spec *spec, ferry_err *err)
{
	ferry_buf b = FERRY_BUF_INIT;
	ferry_buf_puts(&b, "INSERT INTO ");
	ferry_pg__buf_table(&b, w->c, spec->table);
	ferry_buf_puts(&b, " AS ferry_t (");
	key_list(&b, spec->cols, spec->ncols);
	ferry_buf_puts(&b, ") OVERRIDING SYSTEM VALUE VALUES (");
	for (size_t i = 0; i < spec->ncols; i++)
		ferry_buf_printf(&b, "%s$%zu", i ? ", " : "", i + 1);
	ferry_buf_puts(&b, ")");
	ferry_upsert_dialect d = {"ferry_t", "least", "greatest", " IS NOT DISTINCT FROM "};
	size_t head = b.len;
	int rc = ferry__upsert_clause(&b, spec, &d, &w->conflict_msg, err);
	w->has_error_rule = w->conflict_msg != NULL;
	static const char nothing[] = " DO NOTHING";
	w->nothing = rc == 0 && b.len >= sizeof(nothing) - 1 &&
	             strcmp(b.data + b.len - (sizeof(nothing) - 1), nothing) == 0;
	if (rc == 0 && w->nothing) {
		/* The stage has the target columns' types (CREATE TABLE AS), none of its
		 * constraints: the table itself refuses what it refuses, at the INSERT. */
		snprintf(w->stage, sizeof(w->stage), "ferry_stage_%lu", ++w->c->nstmt);
		ferry_buf s = FERRY_BUF_INIT, ins = FERRY_BUF_INIT;
		ferry_buf_printf(&s, "CREATE TEMP TABLE IF NOT EXISTS \"%s\" AS SELECT ", w->stage);
		key_list(&s, spec->cols, spec->ncols);
		ferry_buf_puts(&s, " FROM ");
		ferry_pg__buf_table(&s, w->c, spec->table);
		ferry_buf_printf(&s, " WITH NO DATA; COPY pg_temp.\"%s\" FROM STDIN (FORMAT %s)", w->stage,
		                 w->text ? "text" : "binary");
		ferry_buf_puts(&ins, "INSERT INTO ");
		ferry_pg__buf_table(&ins, w->c, spec->table);
		ferry_buf_puts(&ins, " AS ferry_t (");
		key_list(&ins, spec->cols, spec->ncols);
		ferry_buf_puts(&ins, ") OVERRIDING SYSTEM VALUE SELECT ");
		key_list(&ins, spec->cols, spec->ncols);
		ferry_buf_printf(&ins, " FROM pg_temp.\"%s\"%s; TRUNCATE pg_temp.\"%s\"", w->stage,
		                 b.data + head, w->stage);
		w->stage_sql = ferry_buf_detach(&s);
		w->insert_sql = ferry_buf_detach(&ins);
		ferry_buf_free(&s);
		ferry_buf_free(&ins);
		if (!w->stage_sql || !w->insert_sql)
			rc = OOM(err);
	}
	if (rc == 0)
		w->merge_sql = ferry_buf_detach(&b);
	ferry_buf_free(&b);
	return rc;
}

int ferry_pg__writer_open(ferry_writer **out, ferry_conn *conn, const ferry_write_spec *spec,
                          ferry_err *err)
{
	pg_conn *c = PGC(conn);
	*out = NULL;
	if (spec->merge && !spec->conflict)
		return ferry_err_set(err, FERRY_EUSAGE, "cannot merge into table \"%s\": no rules",
		                     spec->table);
	if (spec->ncols == 0)
		return ferry_err_set(err, FERRY_EUSAGE, "cannot write to table \"%s\": no columns",
		                     spec->table);
	pg_writer *w = ferry__calloc(1, sizeof(*w));
	if (!w)
		return OOM(err);
	w->c = c;
	w->ncols = spec->ncols;
	w->merge = spec->merge;
	w->guard = spec->guard_deleted;
	w->table = ferry__strdup(spec->table);
	w->map = ferry__calloc(spec->ncols, sizeof(size_t));
	w->cols = ferry__calloc(spec->ncols, sizeof(pg_col));
	w->names = ferry__calloc(spec->ncols, sizeof(char *));
	int rc = w->table && w->map && w->cols && w->names ? 0 : OOM(err);
	for (size_t i = 0; rc == 0 && i < spec->ncols; i++) {
		w->map[i] = spec->map[i];
		if (!(w->names[i] = ferry__strdup(spec->cols[i])))
			rc = OOM(err);
	}
	if (rc == 0)
		rc = ferry_pg__key_for_writer(c, spec->table, spec->merge, err);
	if (rc == 0)
		rc = load_columns(w, spec, err);
	if (rc == 0 && spec->merge)
		rc = merge_sql(w, spec, err);
	if (rc == 0) {
		ferry_buf b = FERRY_BUF_INIT;
		ferry_buf_puts(&b, "COPY ");
		ferry_pg__buf_table(&b, c, spec->table);
		ferry_buf_puts(&b, " (");
		key_list(&b, spec->cols, spec->ncols);
		ferry_buf_printf(&b, ") FROM STDIN (FORMAT %s)", w->text ? "text" : "binary");
		w->copy_sql = ferry_buf_detach(&b);
		if (!w->copy_sql)
			rc = OOM(err);
	}
	if (rc == 0 && spec->merge) {
		snprintf(w->stmt, sizeof(w->stmt), "ferry_merge_%lu", ++c->nstmt);
		PGresult *res = PQprepare(c->db, w->stmt, w->merge_sql, (int)w->ncols, NULL);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			rc = ferry_pg__fail(c, res, err, "prepare the merge into table \"%s\"", spec->table);
			w->stmt[0] = '\0';
		}
		PQclear(res);
	}
	if (rc) {
		writer_free(w);
		return rc;
	}
	*out = (ferry_writer *)(void *)w;
	return 0;
}

static int grow_rows(pg_writer *w, size_t n)
{
	if (n > w->rows_cap) {
		size_t *r = ferry__realloc(w->rows, n * sizeof(size_t));
		if (r)
			w->rows = r;
		size_t *sv = ferry__realloc(w->saved, n * sizeof(size_t));
		if (sv)
			w->saved = sv;
		if (!r || !sv)
			return FERRY_ENOMEM;
		w->rows_cap = n;
	}
	return 0;
}

static int add_reject(pg_writer *w, size_t row, const char *reason)
{
	if (ferry__grow(&w->rej, &w->rej_cap, w->nrej + 1, sizeof(pending_reject)) != 0)
		return FERRY_ENOMEM;
	if (!(w->rej[w->nrej].reason = ferry__strdup(reason)))
		return FERRY_ENOMEM;
	w->rej[w->nrej++].row = row;
	return 0;
}

static int do_reject(pg_writer *w, ferry_reject_cb reject, void *ud, size_t row,
                     const char *reason, ferry_err *err)
{
	int rc = reject ? reject(ud, row, reason) : FERRY_EREJECT;
	if (rc) {
		/* The callback may have filled err already; say where we stopped otherwise. */
		if (err->code == 0)
			ferry_err_set(err, rc, "could not write to table \"%s\": stopped at a refused row (%s)",
			              w->table, reason);
		return rc;
	}
	return 0;
}

/* Report the rejects collected while encoding (no COPY is in progress now). */
static int flush_rejects(pg_writer *w, ferry_reject_cb reject, void *ud, ferry_err *err)
{
	int rc = 0;
	for (size_t i = 0; i < w->nrej; i++) {
		if (rc == 0)
			rc = do_reject(w, reject, ud, w->rej[i].row, w->rej[i].reason, err);
		free(w->rej[i].reason);
	}
	w->nrej = 0;
	return rc;
}

/* Encode the listed rows into w->data as one COPY payload; rows that do not convert are
 * set aside (with their reason) and dropped from the list. */
static int encode_rows(pg_writer *w, const ferry_batch *b, size_t *n, int collect)
{
	ferry_buf *d = &w->data;
	ferry_buf_reset(d);
	if (!w->text) {
		ferry_buf_add(d, copy_sig, sizeof(copy_sig));
		ferry_buf_add(d, "\0\0\0\0\0\0\0\0", 8);
	}
	char reason[600];
	size_t keep = 0;
	for (size_t k = 0; k < *n; k++) {
		size_t row = w->rows[k];
		const ferry_value *v = ferry_batch_crow(b, row);
		size_t start = d->len;
		int refused = 0;
		if (!w->text) {
			uint8_t nf[2] = {(uint8_t)(w->ncols >> 8), (uint8_t)w->ncols};
			ferry_buf_add(d, nf, 2);
		}
		for (size_t i = 0; i < w->ncols && !refused; i++) {
			const ferry_value *x = &v[w->map[i]];
			if (w->text && i)
				ferry_buf_add(d, "\t", 1);
			if (x->type == FERRY_NULL) {
				if (w->text)
					ferry_buf_add(d, "\\N", 2);
				else
					ferry_buf_add(d, "\377\377\377\377", 4);
				continue;
			}
			size_t lenpos = d->len;
			if (!w->text)
				ferry_buf_add(d, "\0\0\0\0", 4);
			int rc = ferry_pg__encode(&w->cols[i], x, w->text ? 2 : 0, d, reason, sizeof(reason));
			if (rc < 0)
				return rc;
			if (rc == 1) {
				refused = 1;
				break;
			}
			if (!w->text) {
				size_t flen = d->len - lenpos - 4;
				if (flen > INT32_MAX) {
					snprintf(reason, sizeof(reason), "value of column \"%s\" is larger than 2 GB",
					         w->names[i]);
					refused = 1;
					break;
				}
				uint8_t *lp = (uint8_t *)d->data + lenpos;
				lp[0] = (uint8_t)(flen >> 24);
				lp[1] = (uint8_t)(flen >> 16);
				lp[2] = (uint8_t)(flen >> 8);
				lp[3] = (uint8_t)flen;
			}
		}
		if (d->failed)
			return FERRY_ENOMEM;
		if (refused) {
			d->len = start;
			if (d->data)
				d->data[start] = '\0';
			if (collect && add_reject(w, row, reason) != 0)
				return FERRY_ENOMEM;
			continue;
		}
		if (w->text)
			ferry_buf_add(d, "\n", 1);
		w->rows[keep++] = row;
	}
	if (!w->text)
		ferry_buf_add(d, "\377\377", 2);
	*n = keep;
	return d->failed ? FERRY_ENOMEM : 0;
}

static int in_tx(pg_writer *w)
{
	return PQtransactionStatus(w->c->db) == PQTRANS_INTRANS;
}

/* Take the savepoint a refused batch rolls back to (releasing the previous one). */
static const char *savepoint_sql(pg_writer *w)
{
	if (!in_tx(w))
		return "";
	const char *s = w->c->sp_open ? "RELEASE SAVEPOINT ferry_w; SAVEPOINT ferry_w; "
	                              : "SAVEPOINT ferry_w; ";
	w->c->sp_open = 1;
	return s;
}

static int write_fail(pg_writer *w, const PGresult *res, ferry_err *err)
{
	return ferry_pg__fail(w->c, res, err, "write to table \"%s\"", w->table);
}

/* Send rows w->rows[0, n) with one COPY (encoded first unless w->data holds them). Returns
 * 0, 1 when the table refused the data (w->msg says why; rolled back to the savepoint), or
 * a negative code. */
static int copy_rows(pg_writer *w, const ferry_batch *b, size_t n, int encoded, const char *copy_sql,
                     ferry_err *err)
{
	pg_conn *c = w->c;
	size_t keep = n;
	int rc = encoded ? 0 : encode_rows(w, b, &keep, 0);
	if (rc)
		return OOM(err);
	ferry_buf sql = FERRY_BUF_INIT;
	ferry_buf_puts(&sql, savepoint_sql(w));
	ferry_buf_puts(&sql, copy_sql);
	if (sql.failed)
		return OOM(err);
	PGresult *res = PQexec(c->db, sql.data);
	ferry_buf_free(&sql);
	if (PQresultStatus(res) != PGRES_COPY_IN) {
		rc = write_fail(w, res, err);
		PQclear(res);
		return rc;
	}
	PQclear(res);
	size_t off = 0;
	while (off < w->data.len) {
		size_t part = w->data.len - off > (1u << 20) ? (1u << 20) : w->data.len - off;
		if (PQputCopyData(c->db, w->data.data + off, (int)part) != 1)
			break;
		off += part;
	}
	int ended = off == w->data.len && PQputCopyEnd(c->db, NULL) == 1;
	if (!ended)
		PQputCopyEnd(c->db, "ferry could not send the rows");
	int refused = 0;
	rc = 0;
	while ((res = PQgetResult(c->db)) != NULL) {
		if (rc == 0 && refused == 0 && PQresultStatus(res) != PGRES_COMMAND_OK) {
			if (ended && ferry_pg__row_error(res) && PQstatus(c->db) == CONNECTION_OK) {
				ferry_pg__message(c, res, w->msg, sizeof(w->msg));
				refused = 1;
			} else {
				rc = write_fail(w, res, err);
			}
		}
		PQclear(res);
	}
	if (rc == 0 && (!ended || PQstatus(c->db) != CONNECTION_OK))
		rc = write_fail(w, NULL, err);
	if (rc)
		return rc;
	if (refused) {
		if (PQtransactionStatus(c->db) != PQTRANS_INERROR)
			return 1; /* outside a transaction the COPY was its own */
		if ((rc = ferry_pg__exec(c, "ROLLBACK TO SAVEPOINT ferry_w", err, "roll back a refused batch")) != 0)
			return rc;
		return 1;
	}
	return 0;
}

/* Load rows[0, n), halving a refused range until the refused rows stand alone (rows is the
 * batch's saved list; w->rows is rewritten for each attempt). */
static int bisect(pg_writer *w, const ferry_batch *b, const size_t *rows, size_t n,
                  ferry_reject_cb reject, void *ud, ferry_err *err)
{
	memcpy(w->rows, rows, n * sizeof(size_t));
	int rc = copy_rows(w, b, n, 0, w->copy_sql, err);
	if (rc <= 0)
		return rc;
	if (n == 1)
		return do_reject(w, reject, ud, rows[0], w->msg, err);
	size_t half = n / 2;
	rc = bisect(w, b, rows, half, reject, ud, err);
	return rc ? rc : bisect(w, b, rows + half, n - half, reject, ud, err);
}

static int write_copy(pg_writer *w, const ferry_batch *b, size_t n, ferry_reject_cb reject,
                      void *ud, ferry_err *err)
{
	/* Values that do not convert are refused before the server sees the batch. */
	size_t keep = n;
	int rc = encode_rows(w, b, &keep, 1);
	if (rc)
		return OOM(err);
	if ((rc = flush_rejects(w, reject, ud, err)) != 0)
		return rc;
	if (keep == 0)
		return 0;
	/* The batch's own list: bisect rewrites w->rows as it goes. */
	size_t *rows = w->saved;
	memcpy(rows, w->rows, keep * sizeof(size_t));
	rc = copy_rows(w, b, keep, 1, w->copy_sql, err);
	if (rc == 1) {
		size_t half = keep / 2;
		rc = keep == 1 ? do_reject(w, reject, ud, rows[0], w->msg, err)
		               : bisect(w, b, rows, half, reject, ud, err);
		if (rc == 0 && keep > 1)
			rc = bisect(w, b, rows + half, keep - half, reject, ud, err);
	}
	if (w->data.cap > (8u << 20)) {
		/* A batch of large values: do not keep its memory for the next one. */
		ferry_buf_free(&w->data);
		memset(&w->data, 0, sizeof(w->data));
	}
	return rc;
}

/* Render the parameters of rows w->rows[0, n) as text into w->data; refused rows are set
 * aside and dropped from the list. */
static int merge_params(pg_writer *w, const ferry_batch *b, size_t *n)
{
	ferry_buf *d = &w->data;
	ferry_buf_reset(d);
	size_t need = *n * w->ncols;
	if (need > w->offs_cap) {
		size_t *o = ferry__realloc(w->offs, need * sizeof(size_t));
		const char **p = ferry__realloc(w->pv, need * sizeof(char *));
		if (o)
			w->offs = o;
		if (p)
			w->pv = p;
		if (!o || !p)
			return FERRY_ENOMEM;
		w->offs_cap = need;
	}
	char reason[600];
	size_t keep = 0;
	for (size_t k = 0; k < *n; k++) {
		size_t row = w->rows[k];
		const ferry_value *v = ferry_batch_crow(b, row);
		size_t start = d->len;
		int refused = 0;
		for (size_t i = 0; i < w->ncols && !refused; i++) {
			const ferry_value *x = &v[w->map[i]];
			if (x->type == FERRY_NULL) {
				w->offs[keep * w->ncols + i] = SIZE_MAX;
				continue;
			}
			w->offs[keep * w->ncols + i] = d->len;
			int rc = ferry_pg__encode(&w->cols[i], x, 1, d, reason, sizeof(reason));
			if (rc < 0)
				return rc;
			if (rc == 1)
				refused = 1;
			else
				ferry_buf_add(d, "", 1);
		}
		if (d->failed)
			return FERRY_ENOMEM;
		if (refused) {
			d->len = start;
			if (add_reject(w, row, reason) != 0)
				return FERRY_ENOMEM;
			continue;
		}
		w->rows[keep++] = row;
	}
	*n = keep;
	return 0;
}

/* Merge rows[0, n) through one pipeline inside a savepoint. Rows a rule refuses (no row
 * changed) are collected; a row the server refuses rolls the round back and is rejected,
 * and the round runs again without it. */
static int merge_round(pg_writer *w, size_t *rows, size_t n, const ferry_batch *b,
                       ferry_reject_cb reject, void *ud, ferry_err *err)
{
	pg_conn *c = w->c;
	size_t *conflicts = ferry__malloc((n ? n : 1) * sizeof(size_t));
	if (!conflicts)
		return OOM(err);
	int rc = 0;
	for (;;) {
		size_t nconf = 0;
		memcpy(w->rows, rows, n * sizeof(size_t));
		size_t keep = n;
		if ((rc = merge_params(w, b, &keep)) != 0) {
			rc = OOM(err);
			break;
		}
		if ((rc = flush_rejects(w, reject, ud, err)) != 0)
			break;
		if (keep != n) {
			memcpy(rows, w->rows, keep * sizeof(size_t));
			n = keep;
		}
		if (n == 0)
			break;
		const char *sp = savepoint_sql(w);
		if (*sp) {
			char tmp[80];
			snprintf(tmp, sizeof(tmp), "%.*s", (int)strlen(sp) - 2, sp);
			if ((rc = ferry_pg__exec(c, tmp, err, "write to a table")) != 0)
				break;
		}
		for (size_t k = 0; k < n * w->ncols; k++)
			w->pv[k] = w->offs[k] == SIZE_MAX ? NULL : w->data.data + w->offs[k];
		if (PQenterPipelineMode(c->db) != 1) {
			rc = write_fail(w, NULL, err);
			break;
		}
		int sent_ok = 1;
		for (size_t k = 0; k < n && sent_ok; k++)
			sent_ok = PQsendQueryPrepared(c->db, w->stmt, (int)w->ncols, w->pv + k * w->ncols,
			                              NULL, NULL, 0) == 1;
		if (sent_ok)
			sent_ok = PQpipelineSync(c->db) == 1;
		long bad = -1;
		int fatal = !sent_ok;
		PGresult *res;
		for (size_t k = 0; k < n && sent_ok; k++) {
			while ((res = PQgetResult(c->db)) != NULL) {
				ExecStatusType st = PQresultStatus(res);
				if (st == PGRES_COMMAND_OK) {
					if (w->has_error_rule && strcmp(PQcmdTuples(res), "0") == 0)
						conflicts[nconf++] = rows[k];
				} else if (st == PGRES_FATAL_ERROR && bad < 0) {
					if (ferry_pg__row_error(res) && PQstatus(c->db) == CONNECTION_OK) {
						bad = (long)k;
						ferry_pg__message(c, res, w->msg, sizeof(w->msg));
					} else if (!fatal) {
						fatal = 1;
						write_fail(w, res, err);
					}
				}
				PQclear(res);
			}
			if (PQstatus(c->db) != CONNECTION_OK)
				break;
		}
		/* The sync's own result ends the round. */
		while ((res = PQgetResult(c->db)) != NULL) {
			int sync = PQresultStatus(res) == PGRES_PIPELINE_SYNC;
			PQclear(res);
			if (sync)
				break;
		}
		PQexitPipelineMode(c->db);
		if (fatal || PQstatus(c->db) != CONNECTION_OK) {
			rc = err->code ? err->code : write_fail(w, NULL, err);
			break;
		}
		if (bad < 0) {
			for (size_t k = 0; k < nconf && rc == 0; k++)
				rc = do_reject(w, reject, ud, conflicts[k], w->conflict_msg, err);
			break;
		}
		if (PQtransactionStatus(c->db) == PQTRANS_INERROR)
			if ((rc = ferry_pg__exec(c, "ROLLBACK TO SAVEPOINT ferry_w", err, "roll back a refused row")) != 0)
				break;
		if ((rc = do_reject(w, reject, ud, rows[bad], w->msg, err)) != 0)
			break;
		memmove(rows + bad, rows + bad + 1, (n - (size_t)bad - 1) * sizeof(size_t));
		n--;
	}
	free(conflicts);
	return rc;
}

static int write_merge(pg_writer *w, const ferry_batch *b, size_t n, ferry_reject_cb reject,
                       void *ud, ferry_err *err)
{
	size_t *rows = ferry__malloc((n ? n : 1) * sizeof(size_t));
	if (!rows)
		return OOM(err);
	int rc = 0;
	for (size_t from = 0; from < n && rc == 0; from += MERGE_ROUND) {
		size_t m = n - from < MERGE_ROUND ? n - from : MERGE_ROUND;
		for (size_t k = 0; k < m; k++)
			rows[k] = from + k;
		rc = merge_round(w, rows, m, b, reject, ud, err);
	}
	free(rows);
	return rc;
}

/* Insert where absent, a batch at a time: COPY into the stage, then one INSERT ... SELECT
 * ... ON CONFLICT DO NOTHING (rows in the stage's order, so of two rows with one key in a
 * batch the first stays, as row by row). A batch the stage or the table refuses is rolled
 * back to the savepoint and goes row by row, which rejects exactly the refused rows. */
static int write_nothing(pg_writer *w, const ferry_batch *b, size_t n, ferry_reject_cb reject,
                         void *ud, ferry_err *err)
{
	size_t keep = n;
	int rc = encode_rows(w, b, &keep, 1);
	if (rc)
		return OOM(err);
	if ((rc = flush_rejects(w, reject, ud, err)) != 0 || keep == 0)
		return rc;
	size_t *rows = w->saved;
	memcpy(rows, w->rows, keep * sizeof(size_t));
	rc = copy_rows(w, b, keep, 1, w->stage_sql, err);
	if (rc == 0) {
		PGresult *res = PQexec(w->c->db, w->insert_sql);
		if (PQresultStatus(res) == PGRES_COMMAND_OK) {
			PQclear(res);
			return 0;
		}
		if (!ferry_pg__row_error(res) || PQstatus(w->c->db) != CONNECTION_OK) {
			rc = write_fail(w, res, err);
			PQclear(res);
			return rc;
		}
		PQclear(res);
		if ((rc = ferry_pg__exec(w->c, "ROLLBACK TO SAVEPOINT ferry_w", err, "roll back a refused batch")) != 0)
			return rc;
	} else if (rc < 0) {
		return rc;
	}
	/* merge_round rewrites w->rows and w->saved's first rows: work on a copy. */
	size_t *mine = ferry__malloc(keep * sizeof(size_t));
	if (!mine)
		return OOM(err);
	memcpy(mine, rows, keep * sizeof(size_t));
	rc = 0;
	for (size_t from = 0; from < keep && rc == 0; from += MERGE_ROUND) {
		size_t m = keep - from < MERGE_ROUND ? keep - from : MERGE_ROUND;
		rc = merge_round(w, mine + from, m, b, reject, ud, err);
	}
	free(mine);
	return rc;
}

int ferry_pg__writer_write(ferry_writer *writer, const ferry_batch *b, ferry_reject_cb reject,
                           void *ud, ferry_err *err)
{
	pg_writer *w = (pg_writer *)(void *)writer;
	size_t n = ferry_batch_nrows(b);
	for (size_t k = 0; k < w->ncols; k++)
		if (w->map[k] >= ferry_batch_ncols(b))
			return ferry_err_set(err, FERRY_EUSAGE,
			                     "cannot write to table \"%s\": column %zu maps to batch column "
			                     "%zu of %zu", w->table, k, w->map[k], ferry_batch_ncols(b));
	if (n == 0)
		return 0;
	if (w->c->broken)
		return ferry_err_set(err, FERRY_ERROR, "could not write to table \"%s\" in %s: the session is unusable",
		                     w->table, w->c->label);
	if (grow_rows(w, n) != 0)
		return OOM(err);
	snprintf(w->c->wrote, sizeof(w->c->wrote), "%s", w->table);
	for (size_t i = 0; i < n; i++)
		w->rows[i] = i;
	/* Each time: a SET in a transaction that rolls back is undone with it. Its trigger
	 * (ferry_pg__later_track) removes the inserted rows whose key the application deleted. */
	if (w->guard) {
		int rc = ferry_pg__exec(w->c, "SET ferry.later = 'on'", err, "mark the session as the backfill's");
		if (rc)
			return rc;
	}
	if (w->merge && w->nothing && in_tx(w))
		return write_nothing(w, b, n, reject, ud, err);
	if (w->merge)
		return write_merge(w, b, n, reject, ud, err);
	return write_copy(w, b, n, reject, ud, err);
}

void ferry_pg__writer_close(ferry_writer *writer)
{
	writer_free((pg_writer *)(void *)writer);
}
