/* demo_engine.c — a read-only engine written the way one outside ferry's tree would be: it
 * includes nothing of ferry but <ferry.h> and <ferry/engine.h> (the build gives it no other
 * include path) and serves one generated table, so tests/ext/test_engine_ext.c can prove
 * that such an engine registers, claims its URLs and feeds ferry_copy and ferry_verify.
 *
 * "demo:N" is a database of one table, items(id integer primary key, name text, price
 * double precision), holding rows 1..N: name "item <id>" (NULL when id is a multiple of 7),
 * price id / 4 (exact in binary, so any engine stores it unchanged). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ferry.h>
#include <ferry/engine.h>
#include "demo_engine.h"

enum { COL_ID, COL_NAME, COL_PRICE, NCOLS };
static const char *const col_names[NCOLS] = {"id", "name", "price"};

typedef struct demo_conn {
	int64_t rows;
} demo_conn;

typedef struct demo_reader {
	int64_t next, last;    /* ids still to read: next..last */
	size_t ncols;
	int *cols;             /* the column each select-list entry reads */
} demo_reader;

#define DC(c) ((demo_conn *)(void *)(c))
#define DR(r) ((demo_reader *)(void *)(r))

static int demo_claim(const char *url)
{
	return ferry_url_scheme(url) == 4 && strncmp(url, "demo", 4) == 0 ? FERRY_CLAIM_SCHEME
	                                                                  : FERRY_CLAIM_NONE;
}

static int demo_connect(ferry_conn **out, const char *url, int flags, ferry_err *err)
{
	*out = NULL;
	if (!(flags & FERRY_CONNECT_READONLY))
		return ferry_err_set(err, FERRY_EUSAGE, "cannot write to \"%s\": a demo database is read-only", url);
	const char *n = url + 5;
	char *end = NULL;
	long long rows = strtoll(n, &end, 10);
	if (!isdigit((unsigned char)*n) || *end || rows < 0)
		return ferry_err_set(err, FERRY_EUSAGE, "no row count in \"%s\" (expected demo:N)", url);
	demo_conn *c = ferry_calloc(1, sizeof(*c));
	if (!c)
		return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	c->rows = rows;
	*out = (ferry_conn *)(void *)c;
	return 0;
}

static void demo_close(ferry_conn *c)
{
	ferry_free(c);
}

static int demo_introspect(ferry_conn *c, ferry_schema *out, ferry_err *err)
{
	ferry_table *t = ferry_schema_add_table(out, "items");
	if (!t)
		return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	size_t pk = COL_ID;
	if (!ferry_table_add_column(out, t, "id", "integer", FERRY_INT) ||
	    !ferry_table_add_column(out, t, "name", "text", FERRY_TEXT) ||
	    !ferry_table_add_column(out, t, "price", "double precision", FERRY_FLOAT) ||
	    ferry_table_set_pk(out, t, &pk, 1) != 0)
		return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	t->cols[COL_ID].notnull = 1;
	t->has_rowid = 0; /* no row id of its own: chunked by its key */
	t->est_rows = DC(c)->rows;
	t->origin = "demo"; /* the engine's name: ferry looks its flags up by it */
	return 0;
}

static int demo_exec(ferry_conn *c, const char *sql, ferry_err *err)
{
	(void)c;
	(void)sql;
	return ferry_err_set(err, FERRY_EUSAGE, "a demo database runs no SQL");
}

/* Reads only: a transaction changes nothing. */
static int demo_txn(ferry_conn *c, ferry_err *err)
{
	(void)c;
	(void)err;
	return 0;
}

/* The rows never change, so every connection sees the same state: any token will do. */
static int demo_snapshot_export(ferry_conn *c, const char **token, ferry_err *err)
{
	(void)c;
	(void)err;
	*token = "demo";
	return 0;
}

static int demo_snapshot_join(ferry_conn *c, const char *token, ferry_err *err)
{
	(void)c;
	(void)token;
	(void)err;
	return 0;
}

static int encode_id(uint8_t **buf, size_t *len, size_t *cap, int64_t id)
{
	ferry_value v = {.type = FERRY_INT};
	v.v.i = id;
	*len = 0;
	return ferry_value_encode_row(buf, len, cap, &v, 1);
}

/* Chunks of chunk_rows ids; the key (the primary key, or the row id, which is the same).
 * A key range is ignored, as an engine may: ferry drops the chunks wholly outside it. */
static int demo_plan_chunks(ferry_conn *c, const char *table, size_t nkeys, const char *const *keys,
                            int64_t chunk_rows, const ferry_key_range *range, ferry_chunk_cb cb,
                            void *ud, ferry_err *err)
{
	(void)keys;
	(void)range;
	if (strcmp(table, "items") != 0 || nkeys > 1)
		return ferry_err_set(err, FERRY_ENOTFOUND, "a demo database has no table \"%s\"", table);
	int64_t rows = DC(c)->rows;
	if (chunk_rows < 1)
		chunk_rows = 1;
	uint8_t *lo = NULL, *hi = NULL;
	size_t lo_len = 0, hi_len = 0, lo_cap = 0, hi_cap = 0;
	int rc = 0;
	for (int64_t first = 1, n = 0; rc == 0 && (first <= rows || n == 0); first += chunk_rows, n++) {
		int64_t last = rows - first < chunk_rows ? rows : first + chunk_rows - 1;
		int lo_open = first == 1, hi_open = last >= rows;
		if ((!lo_open && encode_id(&lo, &lo_len, &lo_cap, first - 1) != 0) ||
		    (!hi_open && encode_id(&hi, &hi_len, &hi_cap, last) != 0)) {
			rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
			break;
		}
		ferry_chunk_rec rec = {
			.chunk = n,
			.lo = lo_open ? NULL : lo, .lo_len = lo_open ? 0 : lo_len,
			.hi = hi_open ? NULL : hi, .hi_len = hi_open ? 0 : hi_len,
			.est_rows = last >= first ? last - first + 1 : 0,
		};
		rc = cb(ud, &rec);
	}
	ferry_free(lo);
	ferry_free(hi);
	return rc;
}

/* A select-list entry this engine can read: one of its columns, quoted the standard way. */
static int column_of(const char *expr)
{
	for (int i = 0; i < NCOLS; i++) {
		char q[32];
		ferry_quote_ident_std(q, sizeof(q), col_names[i]);
		if (strcmp(expr, q) == 0)
			return i;
	}
	return -1;
}

static int demo_reader_close_all(demo_reader *r, int rc)
{
	if (r) {
		ferry_free(r->cols);
		ferry_free(r);
	}
	return rc;
}

static int demo_reader_open(ferry_reader **out, ferry_conn *c, const ferry_read_spec *spec,
                            ferry_err *err)
{
	*out = NULL;
	if (strcmp(spec->table, "items") != 0)
		return ferry_err_set(err, FERRY_ENOTFOUND, "a demo database has no table \"%s\"", spec->table);
	if (spec->filter)
		return ferry_err_set(err, FERRY_EUSAGE, "a demo database cannot filter rows (where: %s)", spec->filter);
	demo_reader *r = ferry_calloc(1, sizeof(*r));
	if (!r || !(r->cols = ferry_calloc(spec->nexprs, sizeof(int))))
		return demo_reader_close_all(r, ferry_err_set(err, FERRY_ENOMEM, "out of memory"));
	r->ncols = spec->nexprs;
	for (size_t i = 0; i < spec->nexprs; i++)
		if ((r->cols[i] = column_of(spec->exprs[i])) < 0)
			return demo_reader_close_all(r, ferry_err_set(err, FERRY_EUSAGE,
			                                              "a demo database reads plain columns only, not %s",
			                                              spec->exprs[i]));
	r->next = 1;
	r->last = DC(c)->rows;
	if (spec->lo && spec->lo[0].type == FERRY_INT)
		r->next = spec->lo[0].v.i + 1;
	if (spec->hi && spec->hi[0].type == FERRY_INT && spec->hi[0].v.i < r->last)
		r->last = spec->hi[0].v.i;
	*out = (ferry_reader *)(void *)r;
	return 0;
}

static int demo_reader_next(ferry_reader *rd, ferry_batch *b, int *eof, ferry_err *err)
{
	demo_reader *r = DR(rd);
	*eof = 0;
	while (r->next <= r->last) {
		ferry_value *row = ferry_batch_add_row(b);
		if (!row)
			return 0; /* full: the rest in the next call */
		int64_t id = r->next++;
		for (size_t i = 0; i < r->ncols; i++) {
			ferry_value *v = &row[i];
			switch (r->cols[i]) {
			case COL_ID:
				v->type = FERRY_INT;
				v->v.i = id;
				break;
			case COL_NAME:
				if (id % 7 != 0) {
					char text[32];
					int n = snprintf(text, sizeof(text), "item %lld", (long long)id);
					/* The batch's arena holds the text until the batch is reset. */
					char *s = ferry_arena_strndup(ferry_batch_arena(b), text, (size_t)n);
					if (!s)
						return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
					v->type = FERRY_TEXT;
					v->v.s = s;
					v->len = (uint32_t)n;
				}
				break;
			case COL_PRICE:
				v->type = FERRY_FLOAT;
				v->v.f = (double)id / 4;
				break;
			}
		}
	}
	*eof = 1;
	return 0;
}

static void demo_reader_close(ferry_reader *r)
{
	demo_reader_close_all(DR(r), 0);
}

/* ---- never a target: what a target needs is refused ------------------------------------- */

static int read_only(ferry_err *err)
{
	return ferry_err_set(err, FERRY_EUSAGE, "a demo database is read-only");
}

static int demo_writer_open(ferry_writer **out, ferry_conn *c, const ferry_write_spec *spec,
                            ferry_err *err)
{
	(void)c;
	(void)spec;
	*out = NULL;
	return read_only(err);
}

static int demo_writer_write(ferry_writer *w, const ferry_batch *b, ferry_reject_cb reject, void *ud,
                             ferry_err *err)
{
	(void)w;
	(void)b;
	(void)reject;
	(void)ud;
	return read_only(err);
}

static void demo_writer_close(ferry_writer *w)
{
	(void)w;
}

static int demo_create(ferry_conn *c, const ferry_table *def, ferry_err *err)
{
	(void)c;
	(void)def;
	return read_only(err);
}

static int demo_table_rows(ferry_conn *c, const char *table, int64_t *out, ferry_err *err)
{
	if (strcmp(table, "items") != 0)
		return ferry_err_set(err, FERRY_ENOTFOUND, "a demo database has no table \"%s\"", table);
	*out = DC(c)->rows;
	return 0;
}

/* Run state lives in a target; a demo database never is one. */
static int demo_state_init(ferry_conn *c, ferry_err *err)
{
	(void)c;
	return read_only(err);
}

static int demo_state_load(ferry_conn *c, const char *run_id, ferry_chunk_cb cb, void *ud, ferry_err *err)
{
	(void)c, (void)run_id, (void)cb, (void)ud;
	return read_only(err);
}

static int demo_state_add_chunks(ferry_conn *c, const char *run_id, const ferry_chunk_rec *recs, size_t n,
                                 ferry_err *err)
{
	(void)c, (void)run_id, (void)recs, (void)n;
	return read_only(err);
}

static int demo_state_chunk_done(ferry_conn *c, const char *run_id, const ferry_chunk_rec *rec, ferry_err *err)
{
	(void)c, (void)run_id, (void)rec;
	return read_only(err);
}

static int demo_state_reject(ferry_conn *c, const char *run_id, int64_t job, int64_t chunk, const char *table,
                             const char *key, const char *reason, ferry_err *err)
{
	(void)c, (void)run_id, (void)job, (void)chunk, (void)table, (void)key, (void)reason;
	return read_only(err);
}

static int demo_state_rejects(ferry_conn *c, const char *run_id,
                              int (*cb)(void *ud, const char *table, const char *key, const char *reason),
                              void *ud, ferry_err *err)
{
	(void)c, (void)run_id, (void)cb, (void)ud;
	return read_only(err);
}

static int demo_state_get(ferry_conn *c, const char *run_id, const char *flag, int *out, ferry_err *err)
{
	(void)c, (void)run_id, (void)flag;
	*out = 0;
	return read_only(err);
}

static int demo_state_set(ferry_conn *c, const char *run_id, const char *flag, ferry_err *err)
{
	(void)c, (void)run_id, (void)flag;
	return read_only(err);
}

static const ferry_engine_core demo_core = {
	.connect = demo_connect,
	.close = demo_close,
	.introspect = demo_introspect,
	.quote_ident = ferry_quote_ident_std,
	.exec = demo_exec,
	.begin = demo_txn,
	.commit = demo_txn,
	.rollback = demo_txn,
};

static const ferry_engine_read demo_read = {
	.snapshot_export = demo_snapshot_export,
	.snapshot_join = demo_snapshot_join,
	.plan_chunks = demo_plan_chunks,
	.reader_open = demo_reader_open,
	.reader_next = demo_reader_next,
	.reader_close = demo_reader_close,
};

static const ferry_engine_write demo_write = {
	.writer_open = demo_writer_open,
	.writer_write = demo_writer_write,
	.writer_close = demo_writer_close,
	.create_table = demo_create,
	.create_indexes = demo_create,
	.table_rows = demo_table_rows,
};

/* A source only: the run's record is never kept here, so each of these refuses. */
static const ferry_engine_state demo_state = {
	.init = demo_state_init,
	.load = demo_state_load,
	.add_chunks = demo_state_add_chunks,
	.chunk_done = demo_state_chunk_done,
	.reject = demo_state_reject,
	.rejects = demo_state_rejects,
	.get = demo_state_get,
	.set = demo_state_set,
};

const ferry_engine demo_engine = {
	.version = FERRY_ENGINE_VERSION,
	.name = "demo",
	.max_writers = 1,
	.flags = 0,
	.claim = demo_claim,
	.core = &demo_core,
	.read = &demo_read,
	.write = &demo_write,
	.state = &demo_state,
};
