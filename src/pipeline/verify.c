/* verify.c — ferry_verify (DESIGN.md §7, docs/VERIFY.md): compare what the target should hold
 * (the sources through the plan's jobs, or a label) with what it holds, table by table.
 *
 * Rows are matched by key: the target's primary key (or the source key the jobs carry, or
 * the whole row). Each row becomes canonical cells by the target column types (canon.c); its
 * key hash picks a bucket (the top 16 bits: a range of the key's hash, the same on both sides
 * whatever the engines' collations) and decides the sample (hash mod 10,000 < percent x 100).
 * Pass 1 reads both sides at once and sums each bucket's set digest (count and the sum of row
 * hashes, mod 2^64): a matching table costs that one pass. Buckets whose digests differ are
 * read again, only their rows kept, in rounds of bounded memory, and compared row by row. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include "pipeline.h"
#include "canon.h"

#define NBUCKETS 65536          /* set digests per table: 1 MiB per side */
#define BUCKET(h) ((size_t)((h) >> 48))
/* Rows of one side held in memory in a comparison round: 200,000, or FERRY_VERIFY_ROUND_ROWS
 * (for tests, which make many rounds out of a small table). */
static uint64_t round_rows(void)
{
	const char *e = getenv("FERRY_VERIFY_ROUND_ROWS");
	long long n = e ? atoll(e) : 0;
	return n > 0 ? (uint64_t)n : 200000;
}
#define SPILL_FILES 64          /* rounds one pass sorts into files when there are several */
#define BATCH 4096

typedef struct digest {
	uint64_t n, sum;
} digest;

/* One row kept for comparison: key cells, then row cells, in data. */
typedef struct mrow {
	uint64_t kh;
	uint32_t klen, rlen;
	int64_t count;             /* the same key seen this often */
	uint64_t rsum;             /* the sum of the row hashes of those rows */
	int seen;
	uint8_t *data;
} mrow;

typedef struct rowmap {
	mrow *slots;               /* open addressing; data == NULL: empty */
	size_t cap, n;
	ferry_arena *arena;
	/* merge_row's scratch, kept across rows: two rows' cells and the folded row */
	const uint8_t **cells;
	size_t *lens, ncells;
	ferry_buf fold;
} rowmap;

typedef struct vdiff {
	int kind;                  /* 0 missing, 1 extra, 2 different, 3 duplicate */
	char *key;                 /* JSON object */
	char *cols;                /* JSON array of {column, expected, target} (different) */
	char *text;                /* "total: expected 12.5, target 12.6; ..." */
} vdiff;

typedef struct vtable {
	char *name;
	char *sources;
	size_t njobs;
	job **jobs;
	size_t ncols;
	char **cols;               /* compared columns, in the target table's order */
	ferry_type *types;
	int **jmap;                /* per job: batch column of each compared column, or -1 */
	char **qcols;              /* quoted for the target's select list */
	size_t nkey;
	size_t *key;               /* indexes into cols */
	int keyless, merge, wild;    /* wild: some expected cell is CELL_ANY */
	uint8_t *wildcol;          /* per compared column: some job lacks it and its default is
	                              computed; left out of row hashes and of a keyless key */
	uint8_t **defcell;         /* per compared column: the cell a job without it gives (the
	                              target's default), or CELL_ANY when the default is an expression */
	size_t *deflen;
	uint8_t *trim;             /* per compared column: a char(n) of PostgreSQL (blank-padded) */
	unsigned canon_flags;      /* CANON_*: how the target engine writes values as text */
	size_t nskipped;
	char **skipped;            /* target columns not compared (their default decides) */
	int per10k;
	char *coverage;
	int64_t target_rows;
	/* results */
	int64_t exp_total, act_total, compared, matched, missing, extra, different;
	int count_differs;
	size_t ndiffs, diffs_cap;
	vdiff *diffs;
	double seconds;
} vtable;

struct ferry_verify_report {
	int full, ok;
	char *target;              /* masked */
	size_t ntables;
	vtable *tables;
	char **notes;
	size_t nnotes, notes_cap;
	char **strs;               /* strings handed out by accessors */
};

/* ---- the row map ------------------------------------------------------------------------ */

static int map_init(rowmap *m, size_t expect)
{
	memset(m, 0, sizeof(*m));
	m->cap = 64;
	while (m->cap < expect * 2)
		m->cap *= 2;
	m->slots = calloc(m->cap, sizeof(mrow));
	m->arena = ferry_arena_new(1 << 20);
	return m->slots && m->arena ? 0 : FERRY_ENOMEM;
}

static void map_free(rowmap *m)
{
	free(m->slots);
	ferry_arena_free(m->arena);
	free(m->cells);
	free(m->lens);
	ferry_buf_free(&m->fold);
	memset(m, 0, sizeof(*m));
}

static mrow *map_find(rowmap *m, uint64_t kh, const uint8_t *key, size_t klen)
{
	size_t i = (size_t)kh & (m->cap - 1);
	for (;; i = (i + 1) & (m->cap - 1)) {
		mrow *r = &m->slots[i];
		if (!r->data || (r->kh == kh && r->klen == klen && memcmp(r->data, key, klen) == 0))
			return r;
	}
}

static int map_grow(rowmap *m)
{
	size_t ncap = m->cap * 2;
	mrow *ns = calloc(ncap, sizeof(mrow));
	if (!ns)
		return FERRY_ENOMEM;
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->slots[i].data)
			continue;
		size_t k = (size_t)m->slots[i].kh & (ncap - 1);
		while (ns[k].data)
			k = (k + 1) & (ncap - 1);
		ns[k] = m->slots[i];
	}
	free(m->slots);
	m->slots = ns;
	m->cap = ncap;
	return 0;
}

static int map_set_row(rowmap *m, mrow *r, const uint8_t *key, size_t klen, const uint8_t *row,
                       size_t rlen)
{
	uint8_t *d = ferry_arena_alloc(m->arena, klen + rlen + 1);
	if (!d)
		return FERRY_ENOMEM;
	memcpy(d, key, klen);
	memcpy(d + klen, row, rlen);
	r->data = d;
	r->klen = (uint32_t)klen;
	r->rlen = (uint32_t)rlen;
	return 0;
}

/* ---- cells of a row ---------------------------------------------------------------------- */

/* Split a row's encoding into its ncols cells. */
static int split_cells(const uint8_t *row, size_t len, size_t ncols, const uint8_t **cell,
                       size_t *clen)
{
	size_t off = 0;
	for (size_t c = 0; c < ncols; c++) {
		size_t n = ferry__cell_size(row + off, len - off);
		if (n == 0)
			return -1;
		cell[c] = row + off;
		clen[c] = n;
		off += n;
	}
	return off == len ? 0 : -1;
}

/* Fold a later row of the same key into r by the merge rules of the job it came from, as
 * the target's upsert does (src/sqlgen.c): unruled and error columns must agree or the later
 * row is refused; first keeps, last takes, min/max/sum ignore NULLs. */
static int merge_row(rowmap *m, mrow *r, const vtable *vt, const job *j, const int *jm,
                     const uint8_t *row, size_t rlen)
{
	size_t n = vt->ncols;
	if (m->ncells < 2 * n) {
		const uint8_t **cells = realloc(m->cells, 2 * n * sizeof(uint8_t *));
		if (cells)
			m->cells = cells;
		size_t *lens = cells ? realloc(m->lens, 2 * n * sizeof(size_t)) : NULL;
		if (!lens)
			return FERRY_ENOMEM;
		m->lens = lens;
		m->ncells = 2 * n;
	}
	const uint8_t **oc = m->cells, **nc = oc + n;
	size_t *ol = m->lens, *nl = ol + n;
	ferry_buf *out = &m->fold;
	ferry_buf_reset(out);
	int rc = 0;
	if (split_cells(r->data + r->klen, r->rlen, n, oc, ol) != 0 ||
	    split_cells(row, rlen, n, nc, nl) != 0) {
		rc = FERRY_ECORRUPT;
		goto done;
	}
	for (size_t c = 0; c < n; c++) {
		if (jm[c] < 0 || nc[c][0] == CELL_ANY)
			continue;
		int rule = j->conflict[jm[c]];
		if ((rule == FERRY_CONFLICT_NONE || rule == FERRY_CONFLICT_ERROR) && oc[c][0] != CELL_ANY &&
		    !ferry__cell_equal(oc[c], ol[c], nc[c], nl[c]))
			goto done; /* the target refused this row: the first one stays */
	}
	for (size_t c = 0; c < n && rc == 0; c++) {
		const uint8_t *use = oc[c];
		size_t ul = ol[c];
		int rule = jm[c] >= 0 ? j->conflict[jm[c]] : FERRY_CONFLICT_FIRST;
		int onull = oc[c][0] == CELL_NULL || oc[c][0] == CELL_ANY, nnull = nc[c][0] == CELL_NULL;
		if (jm[c] < 0 || nc[c][0] == CELL_ANY) {
			/* this source has no value for the column: the row there keeps its own */
		} else if (rule == FERRY_CONFLICT_LAST) {
			use = nc[c];
			ul = nl[c];
		} else if (oc[c][0] == CELL_ANY) {
			/* the row there holds a computed default nobody knows: it stays unknown */
		} else if (rule == FERRY_CONFLICT_MIN || rule == FERRY_CONFLICT_MAX ||
		           rule == FERRY_CONFLICT_SUM) {
			if (onull && !nnull) {
				use = nc[c];
				ul = nl[c];
			} else if (!onull && !nnull) {
				if (rule == FERRY_CONFLICT_SUM) {
					size_t before = out->len;
					int s = ferry__cell_sum(out, oc[c], ol[c], nc[c], nl[c]);
					if (s < 0)
						rc = s;
					if (s == 0)
						continue; /* appended */
					if (out->data)
						out->len = before;
				} else {
					int cmp = ferry__cell_cmp(nc[c], nl[c], oc[c], ol[c]);
					if ((rule == FERRY_CONFLICT_MIN && cmp < 0) || (rule == FERRY_CONFLICT_MAX && cmp > 0)) {
						use = nc[c];
						ul = nl[c];
					}
				}
			}
		}
		if (ferry_buf_add(out, use, ul) != 0)
			rc = FERRY_ENOMEM;
	}
	if (rc == 0 && out->failed)
		rc = FERRY_ENOMEM;
	if (rc == 0 && out->data)
		rc = map_set_row(m, r, r->data, r->klen, (const uint8_t *)out->data, out->len);
done:
	return rc;
}

/* ---- scanning one side ------------------------------------------------------------------- */

typedef struct scan {
	vtable *vt;
	int side;                  /* 0: expected (the jobs), 1: the target */
	ferry_source_conn *sources;
	const ferry_engine *teng;
	ferry_conn *tconn;
	ferry_ctx *ctx;
	const ferry_verify_options *o; /* progress, from the calling thread's scan (side 0) */
	const uint8_t *select;     /* bucket bitmap of a collecting pass; NULL: digest pass */
	FILE **spill;              /* spilling pass: one file per round in [rlo, rhi) */
	const int32_t *round_of;   /* the round of each bucket, -1: none */
	int32_t rlo;
	size_t cur_job;            /* index in vt->jobs of the job being read (side 0) */
	ferry_buf hb;              /* a wild table's row without its wild cells, for hashing */
	digest *dig;               /* NBUCKETS, digest pass */
	uint64_t pend_kh[BATCH], pend_rh[BATCH]; /* a batch's digest updates, applied together */
	size_t npend;
	rowmap map;                /* collecting pass */
	int64_t total, sampled;
	ferry_err err;
	int rc;
} scan;

static int key_has_null(const uint8_t *key, size_t klen)
{
	for (size_t off = 0; off < klen;) {
		size_t n = ferry__cell_size(key + off, klen - off);
		if (n == 0)
			return 0;
		if (key[off] == CELL_NULL)
			return 1;
		off += n;
	}
	return 0;
}

/* Keep a row of a collecting pass in its side's map: a new key, another row of a key (counted,
 * its hash summed), or, on the expected side of a merge, folded into the key's row. */
static int collect(rowmap *map, vtable *vt, int side, const job *j, const int *jm, uint64_t kh,
                   uint64_t rh, const uint8_t *key, size_t klen, const uint8_t *row, size_t rlen)
{
	if (map->n * 2 >= map->cap && map_grow(map) != 0)
		return FERRY_ENOMEM;
	mrow *m = map_find(map, kh, key, klen);
	if (m->data) {
		/* ON CONFLICT never matches a NULL key: the target keeps each such row. */
		if (side == 0 && vt->merge && !key_has_null(key, klen))
			return merge_row(map, m, vt, j, jm, row, rlen);
		m->count++;
		m->rsum += rh;
		return 0;
	}
	m->kh = kh;
	m->count = 1;
	m->rsum = rh;
	if (map_set_row(map, m, key, klen, row, rlen) != 0)
		return FERRY_ENOMEM;
	map->n++;
	return 0;
}

/* Append compared column c of a row read through job map jm (NULL: the target's row). */
static int put_cell(ferry_buf *out, const vtable *vt, size_t c, const int *jm, const ferry_value *row)
{
	int bi = jm ? jm[c] : (int)c;
	if (bi < 0)
		return ferry_buf_add(out, vt->defcell[c], vt->deflen[c]) ? FERRY_ENOMEM : 0;
	const ferry_value *v = &row[bi];
	ferry_value t;
	if (vt->trim[c] && v->type != FERRY_NULL && v->type != FERRY_INT && v->type != FERRY_FLOAT &&
	    v->type != FERRY_BOOL && v->type != FERRY_BLOB && v->len > 0 && v->v.s[v->len - 1] == ' ') {
		t = *v;
		while (t.len > 0 && t.v.s[t.len - 1] == ' ')
			t.len--;
		v = &t;
	}
	return ferry__canon_cell_ex(out, vt->types[c], v, vt->canon_flags);
}

static int scan_batch(scan *s, const job *j, const int *jm, const ferry_batch *b, ferry_buf *kb,
                      ferry_buf *rb)
{
	vtable *vt = s->vt;
	size_t nrows = ferry_batch_nrows(b);
	for (size_t r = 0; r < nrows; r++) {
		const ferry_value *row = ferry_batch_crow(b, r);
		ferry_buf_reset(kb);
		ferry_buf_reset(rb);
		int rc = 0;
		if (!vt->keyless)
			for (size_t k = 0; k < vt->nkey && rc == 0; k++)
				rc = put_cell(kb, vt, vt->key[k], jm, row);
		uint64_t kh = 0;
		if (!vt->keyless) {
			if (rc || kb->failed)
				return ferry_err_set(&s->err, FERRY_ENOMEM, "out of memory");
			kh = ferry__hash64(kb->data, kb->len, 0);
			s->total++;
			if ((int)(kh % 10000) >= vt->per10k)
				continue;
			if (s->select && !(s->select[BUCKET(kh) / 8] & (1u << (BUCKET(kh) % 8))))
				continue;
		}
		for (size_t c = 0; c < vt->ncols && rc == 0; c++)
			rc = put_cell(rb, vt, c, jm, row);
		if (rc || rb->failed)
			return ferry_err_set(&s->err, FERRY_ENOMEM, "out of memory");
		/* What identifies the row: its cells, but those no rule decides on one side. */
		const ferry_buf *hashed = rb;
		if (vt->wild) {
			ferry_buf_reset(&s->hb);
			ferry_buf_add(&s->hb, "", 0);
			for (size_t c = 0, off = 0; c < vt->ncols; c++) {
				size_t n = ferry__cell_size((const uint8_t *)rb->data + off, rb->len - off);
				if (!vt->wildcol[c])
					ferry_buf_add(&s->hb, rb->data + off, n);
				off += n;
			}
			if (s->hb.failed)
				return ferry_err_set(&s->err, FERRY_ENOMEM, "out of memory");
			hashed = &s->hb;
		}
		uint64_t rh = ferry__hash64(hashed->data, hashed->len, 0);
		if (vt->keyless) {
			kh = rh;
			s->total++;
			if ((int)(kh % 10000) >= vt->per10k)
				continue;
			if (s->select && !(s->select[BUCKET(kh) / 8] & (1u << (BUCKET(kh) % 8))))
				continue;
			if (ferry_buf_add(kb, hashed->data, hashed->len) != 0)
				return ferry_err_set(&s->err, FERRY_ENOMEM, "out of memory");
		}
		s->sampled++;
		if (!s->select) {
			s->pend_kh[s->npend] = kh;
			s->pend_rh[s->npend++] = rh;
			continue;
		}
		if (s->spill) {
			/* record: key hash, row hash, job, key length, row length, key, row */
			uint64_t h[2] = {kh, rh};
			uint32_t l[3] = {(uint32_t)s->cur_job, (uint32_t)kb->len, (uint32_t)rb->len};
			FILE *f = s->spill[s->round_of[BUCKET(kh)] - s->rlo];
			if (fwrite(h, sizeof(h), 1, f) != 1 || fwrite(l, sizeof(l), 1, f) != 1 ||
			    fwrite(kb->data, 1, kb->len, f) != kb->len || fwrite(rb->data, 1, rb->len, f) != rb->len)
				return ferry_err_set(&s->err, FERRY_ERROR, "cannot write verify's spill file: %s",
				                     strerror(errno));
			continue;
		}
		int e = collect(&s->map, vt, s->side, j, jm, kh, rh, (const uint8_t *)kb->data, kb->len,
		                (const uint8_t *)rb->data, rb->len);
		if (e)
			return ferry_err_set(&s->err, e, e == FERRY_ENOMEM ? "out of memory" : "cannot merge rows of \"%s\"",
			                     vt->name);
	}
	return 0;
}

/* Apply a batch's digest updates. The digests (1 MiB) do not fit a core's cache and each row
 * lands in a random one: fetching a few rows ahead keeps the loads from stalling the scan. */
static void flush_digests(scan *s)
{
	enum { AHEAD = 8 };
	for (size_t i = 0; i < s->npend; i++) {
		if (i + AHEAD < s->npend)
			__builtin_prefetch(&s->dig[BUCKET(s->pend_kh[i + AHEAD])], 1);
		digest *d = &s->dig[BUCKET(s->pend_kh[i])];
		d->n++;
		d->sum += s->pend_rh[i];
	}
	s->npend = 0;
}

static int scan_one(scan *s, const ferry_engine *eng, ferry_conn *conn, const ferry_read_spec *spec,
                    size_t ncols, const job *j, const int *jm)
{
	ferry_batch *b = ferry__batch_new(ncols, BATCH);
	ferry_buf kb = FERRY_BUF_INIT, rb = FERRY_BUF_INIT;
	ferry_reader *rd = NULL;
	if (!b)
		return ferry_err_set(&s->err, FERRY_ENOMEM, "out of memory");
	int rc = eng->read->reader_open(&rd, conn, spec, &s->err);
	int eof = 0;
	while (rc == 0 && !eof) {
		if (s->ctx->interrupted) {
			rc = ferry_err_set(&s->err, FERRY_EINTR, "interrupted");
			break;
		}
		ferry__batch_reset(b);
		rc = eng->read->reader_next(rd, b, &eof, &s->err);
		if (rc == 0)
			rc = scan_batch(s, j, jm, b, &kb, &rb);
		flush_digests(s);
		if (s->side == 0 && s->o && s->o->progress && !s->select) {
			ferry_progress ev = {.kind = FERRY_PROGRESS_ROWS, .stage = "verify", .table = s->vt->name,
			                     .source = s->vt->sources, .rows_done = s->total,
			                     .rows_total = s->vt->target_rows > 0 ? s->vt->target_rows : -1};
			s->o->progress(s->o->progress_ud, &ev);
		}
	}
	if (rd)
		eng->read->reader_close(rd);
	ferry__batch_free(b);
	ferry_buf_free(&kb);
	ferry_buf_free(&rb);
	return rc;
}

typedef struct chunk_list {
	ferry_value *lo, *hi;      /* one key value each (a label's chunk numbers) */
	size_t n, cap;
} chunk_list;

static int add_chunk(void *ud, const ferry_chunk_rec *rec)
{
	chunk_list *l = ud;
	if (ferry__grow(&l->lo, &l->cap, l->n + 1, sizeof(ferry_value)) != 0 ||
	    !(l->hi = realloc(l->hi, l->cap * sizeof(ferry_value))))
		return FERRY_ENOMEM;
	memset(&l->lo[l->n], 0, sizeof(ferry_value));
	memset(&l->hi[l->n], 0, sizeof(ferry_value));
	if ((rec->lo && ferry_value_decode_row(&l->lo[l->n], 1, rec->lo, rec->lo_len) != 1) ||
	    (rec->hi && ferry_value_decode_row(&l->hi[l->n], 1, rec->hi, rec->hi_len) != 1) ||
	    l->lo[l->n].type != FERRY_INT || l->hi[l->n].type != FERRY_INT)
		return FERRY_ECORRUPT;
	l->n++;
	return 0;
}

/* Read a job's source: at once, or chunk by chunk where the engine reads so. */
static int scan_job(scan *s, job *j, const int *jm)
{
	ferry_source_conn *src = &s->sources[j->src];
	ferry_read_spec spec = {
		.table = j->src_table,
		.nexprs = j->ntcols,
		.exprs = (const char *const *)j->exprs,
		.filter = j->filter,
		.nparams = j->nparams,
		.params = j->params,
	};
	if (!(src->eng->flags & FERRY_ENGINE_CHUNKED_READ))
		return scan_one(s, src->eng, src->conn, &spec, j->ntcols, j, jm);
	chunk_list l = {0};
	int rc = src->eng->read->plan_chunks(src->conn, j->src_table, 0, NULL, INT64_MAX, add_chunk, &l, &s->err);
	if (rc == FERRY_ECORRUPT && !s->err.code)
		rc = ferry_err_set(&s->err, rc, "the chunks of \"%s\" have damaged bounds", j->src_table);
	for (size_t i = 0; rc == 0 && i < l.n; i++) {
		spec.nkeys = 1;
		spec.lo = &l.lo[i];
		spec.hi = &l.hi[i];
		rc = scan_one(s, src->eng, src->conn, &spec, j->ntcols, j, jm);
	}
	free(l.lo);
	free(l.hi);
	return rc;
}

static void *scan_main(void *arg)
{
	scan *s = arg;
	vtable *vt = s->vt;
	if (s->side == 1) {
		ferry_read_spec spec = {.table = vt->name, .nexprs = vt->ncols,
		                        .exprs = (const char *const *)vt->qcols};
		s->rc = scan_one(s, s->teng, s->tconn, &spec, vt->ncols, NULL, NULL);
		return NULL;
	}
	for (size_t i = 0; i < vt->njobs && s->rc == 0; i++) {
		s->cur_job = i;
		s->rc = scan_job(s, vt->jobs[i], vt->jmap[i]);
	}
	return NULL;
}

/* Read both sides at once: a digest pass (select NULL) or a collecting pass. */
typedef struct spill_plan {
	FILE **files[2];           /* per side, rhi - rlo files */
	const int32_t *round_of;
	int32_t rlo;
} spill_plan;

static int scan_both(scan sc[2], vtable *vt, ferry_source_conn *sources, const ferry_engine *teng,
                     ferry_conn *tconn, ferry_ctx *ctx, const ferry_verify_options *o,
                     const uint8_t *select, size_t expect, const spill_plan *sp, ferry_err *err)
{
	memset(sc, 0, 2 * sizeof(scan));
	for (int i = 0; i < 2; i++) {
		sc[i].vt = vt;
		sc[i].side = i;
		sc[i].sources = sources;
		sc[i].teng = teng;
		sc[i].tconn = tconn;
		sc[i].ctx = ctx;
		sc[i].o = o;
		sc[i].select = select;
		if (sp) {
			sc[i].spill = sp->files[i];
			sc[i].round_of = sp->round_of;
			sc[i].rlo = sp->rlo;
		}
		if (!select && !(sc[i].dig = calloc(NBUCKETS, sizeof(digest))))
			return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
		if (select && !sp && map_init(&sc[i].map, expect) != 0)
			return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	}
	pthread_t th;
	int threaded = pthread_create(&th, NULL, scan_main, &sc[1]) == 0;
	scan_main(&sc[0]);
	if (threaded)
		pthread_join(th, NULL);
	else
		scan_main(&sc[1]);
	for (int i = 0; i < 2; i++)
		if (sc[i].rc)
			return ferry__err_copy(err, &sc[i].err), sc[i].rc;
	return 0;
}

static void scan_free(scan sc[2])
{
	for (int i = 0; i < 2; i++) {
		free(sc[i].dig);
		sc[i].dig = NULL;
		map_free(&sc[i].map);
		ferry_buf_free(&sc[i].hb);
	}
}

/* ---- comparing rows ---------------------------------------------------------------------- */

/* A name as the text report shows it: control characters escaped, so one line stays one. */
static void put_name(ferry_buf *b, const char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '\n')
			ferry_buf_puts(b, "\\n");
		else if (ch == '\t')
			ferry_buf_puts(b, "\\t");
		else if (ch < 0x20 || ch == 0x7f)
			ferry_buf_printf(b, "\\x%02x", ch);
		else
			ferry_buf_add(b, s, 1);
	}
}

static int add_diff(vtable *vt, size_t max_listed, int kind, const mrow *e, const mrow *a)
{
	if (vt->ndiffs >= max_listed)
		return 0;
	if (ferry__grow(&vt->diffs, &vt->diffs_cap, vt->ndiffs + 1, sizeof(vdiff)) != 0)
		return FERRY_ENOMEM;
	vdiff *d = &vt->diffs[vt->ndiffs];
	memset(d, 0, sizeof(*d));
	const mrow *any = e ? e : a;
	size_t n = vt->ncols;
	const uint8_t **ec = calloc(2 * n + 1, sizeof(uint8_t *)), **ac = ec + n;
	size_t *el = calloc(2 * n + 1, sizeof(size_t)), *al = el + n;
	ferry_buf key = FERRY_BUF_INIT, cols = FERRY_BUF_INIT, text = FERRY_BUF_INIT;
	int rc = 0;
	if (!ec || !el) {
		rc = FERRY_ENOMEM;
		goto out;
	}
	if ((e && split_cells(e->data + e->klen, e->rlen, n, ec, el) != 0) ||
	    (a && split_cells(a->data + a->klen, a->rlen, n, ac, al) != 0)) {
		rc = FERRY_ECORRUPT;
		goto out;
	}
	const uint8_t **kc = e ? ec : ac;
	size_t *kl = e ? el : al;
	ferry_buf_puts(&key, "{");
	if (vt->keyless) {
		for (size_t c = 0; c < n; c++) {
			ferry_buf_puts(&key, c ? ", " : "");
			ferry_buf_json_str(&key, vt->cols[c], strlen(vt->cols[c]));
			ferry_buf_puts(&key, ": ");
			ferry__cell_json(&key, kc[c], kl[c]);
		}
	} else {
		for (size_t k = 0; k < vt->nkey; k++) {
			size_t c = vt->key[k];
			ferry_buf_puts(&key, k ? ", " : "");
			ferry_buf_json_str(&key, vt->cols[c], strlen(vt->cols[c]));
			ferry_buf_puts(&key, ": ");
			ferry__cell_json(&key, kc[c], kl[c]);
		}
	}
	ferry_buf_puts(&key, "}");
	(void)any;
	if (kind == 2) {
		ferry_buf_puts(&cols, "[");
		int first = 1;
		for (size_t c = 0; c < n; c++) {
			if (ferry__cell_equal(ec[c], el[c], ac[c], al[c]))
				continue;
			ferry_buf_puts(&cols, first ? "{\"column\": " : ", {\"column\": ");
			ferry_buf_json_str(&cols, vt->cols[c], strlen(vt->cols[c]));
			ferry_buf_puts(&cols, ", \"expected\": ");
			ferry__cell_json(&cols, ec[c], el[c]);
			ferry_buf_puts(&cols, ", \"target\": ");
			ferry__cell_json(&cols, ac[c], al[c]);
			ferry_buf_puts(&cols, "}");
			ferry_buf_puts(&text, first ? "" : "; ");
			put_name(&text, vt->cols[c]);
			ferry_buf_puts(&text, ": expected ");
			ferry__cell_json(&text, ec[c], el[c]);
			ferry_buf_puts(&text, ", target has ");
			ferry__cell_json(&text, ac[c], al[c]);
			first = 0;
		}
		ferry_buf_puts(&cols, "]");
	}
	if (key.failed || cols.failed || text.failed) {
		rc = FERRY_ENOMEM;
		goto out;
	}
	d->kind = kind;
	d->key = ferry_buf_detach(&key);
	d->cols = cols.data ? ferry_buf_detach(&cols) : NULL;
	d->text = text.data ? ferry_buf_detach(&text) : NULL;
	vt->ndiffs++;
out:
	free(ec);
	free(el);
	ferry_buf_free(&key);
	ferry_buf_free(&cols);
	ferry_buf_free(&text);
	return rc;
}

static int rows_equal(const mrow *e, const mrow *a, size_t ncols, int wild)
{
	if (!wild)
		return e->rlen == a->rlen && memcmp(e->data + e->klen, a->data + a->klen, e->rlen) == 0;
	size_t eo = e->klen, ao = a->klen, ee = e->klen + e->rlen, ae = a->klen + a->rlen;
	for (size_t c = 0; c < ncols; c++) {
		size_t en = ferry__cell_size(e->data + eo, ee - eo), an = ferry__cell_size(a->data + ao, ae - ao);
		if (!en || !an || !ferry__cell_equal(e->data + eo, en, a->data + ao, an))
			return 0;
		eo += en;
		ao += an;
	}
	return 1;
}

/* Match the two maps of a round: every key of either side is matched, missing or extra. */
static int compare_maps(vtable *vt, rowmap *em, rowmap *am, size_t max_listed)
{
	int rc = 0;
	for (size_t i = 0; i < em->cap && rc == 0; i++) {
		mrow *e = &em->slots[i];
		if (!e->data)
			continue;
		mrow *a = map_find(am, e->kh, e->data, e->klen);
		vt->compared += e->count;
		if (!a->data) {
			vt->missing += e->count;
			rc = add_diff(vt, max_listed, 0, e, NULL);
			continue;
		}
		a->seen = 1;
		int64_t both = e->count < a->count ? e->count : a->count;
		/* A key held by several rows (no unique key in the target, or NULL keys): the rows
		 * must be the same multiset, which the sums of their hashes say; the first rows show. */
		/* Without a key, the rows of a key are the same row (but for wild cells). */
		int equal = vt->keyless ? 1
		            : e->count == 1 && a->count == 1 ? rows_equal(e, a, vt->ncols, vt->wild)
		            : e->count == a->count && e->rsum == a->rsum;
		if (equal) {
			vt->matched += both;
		} else {
			vt->different += both;
			rc = add_diff(vt, max_listed, 2, e, a);
		}
		if (rc == 0 && e->count > a->count) {
			vt->missing += e->count - a->count;
			rc = add_diff(vt, max_listed, 0, e, NULL);
		} else if (rc == 0 && a->count > e->count) {
			vt->extra += a->count - e->count;
			rc = add_diff(vt, max_listed, 3, NULL, a);
		}
	}
	for (size_t i = 0; i < am->cap && rc == 0; i++) {
		mrow *a = &am->slots[i];
		if (!a->data || a->seen)
			continue;
		vt->extra += a->count;
		rc = add_diff(vt, max_listed, a->count > 1 ? 3 : 1, NULL, a);
	}
	return rc;
}

/* ---- one table ----------------------------------------------------------------------------- */

/* An unlinked temporary file readable by its owner only, in $TMPDIR (else /tmp). */
static FILE *spill_open(ferry_err *err)
{
	const char *dir = getenv("TMPDIR");
	char *path = ferry__sprintf("%s/ferry-verify-XXXXXX", dir && *dir ? dir : "/tmp");
	int fd = path ? mkstemp(path) : -1;
	FILE *f = NULL;
	if (fd >= 0) {
		unlink(path);
		f = fdopen(fd, "w+b");
		if (!f)
			close(fd);
	}
	if (!f)
		ferry_err_set(err, FERRY_ERROR, "cannot create a spill file for verify in %s: %s",
		              dir && *dir ? dir : "/tmp", strerror(errno));
	free(path);
	return f;
}

/* Read a spill file back into a side's map. */
static int load_spill(FILE *f, rowmap *m, vtable *vt, int side, ferry_err *err)
{
	uint8_t *k = NULL, *r = NULL;
	size_t kcap = 0, rcap = 0;
	int rc = 0;
	if (fflush(f) != 0 || fseek(f, 0, SEEK_SET) != 0)
		return ferry_err_set(err, FERRY_ERROR, "cannot read verify's spill file: %s", strerror(errno));
	for (;;) {
		uint64_t h[2];
		uint32_t l[3];
		if (fread(h, sizeof(h), 1, f) != 1)
			break;
		if (fread(l, sizeof(l), 1, f) != 1 || (side == 0 && l[0] >= vt->njobs)) {
			rc = ferry_err_set(err, FERRY_ECORRUPT, "verify's spill file is damaged");
			break;
		}
		if (ferry__grow(&k, &kcap, (size_t)l[1] + 1, 1) != 0 || ferry__grow(&r, &rcap, (size_t)l[2] + 1, 1) != 0) {
			rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
			break;
		}
		if (fread(k, 1, l[1], f) != l[1] || fread(r, 1, l[2], f) != l[2]) {
			rc = ferry_err_set(err, FERRY_ECORRUPT, "verify's spill file is damaged");
			break;
		}
		const job *j = side == 0 ? vt->jobs[l[0]] : NULL;
		const int *jm = side == 0 ? vt->jmap[l[0]] : NULL;
		int e = collect(m, vt, side, j, jm, h[0], h[1], k, l[1], r, l[2]);
		if (e) {
			rc = ferry_err_set(err, e, e == FERRY_ENOMEM ? "out of memory" : "cannot merge rows of \"%s\"",
			                   vt->name);
			break;
		}
	}
	if (rc == 0 && ferror(f))
		rc = ferry_err_set(err, FERRY_ERROR, "cannot read verify's spill file: %s", strerror(errno));
	free(k);
	free(r);
	return rc;
}

/* Rounds [rlo, rhi) of a table: one pass spills their rows, then each is compared. */
static int spilled_rounds(vtable *vt, ferry_source_conn *sources, const ferry_engine *teng,
                          ferry_conn *tconn, ferry_ctx *ctx, const ferry_verify_options *o,
                          const int32_t *round_of, int32_t rlo, int32_t rhi, uint8_t *select,
                          size_t expect, size_t max_listed, ferry_err *err)
{
	size_t nf = (size_t)(rhi - rlo);
	FILE *files[2][SPILL_FILES] = {{0}};
	scan sc[2];
	int rc = 0;
	memset(sc, 0, sizeof(sc));
	for (int side = 0; side < 2 && rc == 0; side++)
		for (size_t i = 0; i < nf && rc == 0; i++)
			if (!(files[side][i] = spill_open(err)))
				rc = err->code;
	memset(select, 0, NBUCKETS / 8);
	for (size_t b = 0; b < NBUCKETS; b++)
		if (round_of[b] >= rlo && round_of[b] < rhi)
			select[b / 8] |= (uint8_t)(1u << (b % 8));
	spill_plan sp = {{files[0], files[1]}, round_of, rlo};
	if (rc == 0)
		rc = scan_both(sc, vt, sources, teng, tconn, ctx, o, select, 0, &sp, err);
	scan_free(sc);
	for (size_t i = 0; i < nf && rc == 0; i++) {
		rowmap m[2];
		memset(m, 0, sizeof(m));
		if (map_init(&m[0], expect) != 0 || map_init(&m[1], expect) != 0)
			rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
		for (int side = 0; side < 2 && rc == 0; side++)
			rc = load_spill(files[side][i], &m[side], vt, side, err);
		if (rc == 0 && compare_maps(vt, &m[0], &m[1], max_listed) != 0)
			rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
		map_free(&m[0]);
		map_free(&m[1]);
	}
	for (int side = 0; side < 2; side++)
		for (size_t i = 0; i < nf; i++)
			if (files[side][i])
				fclose(files[side][i]);
	return rc;
}

static int verify_table(vtable *vt, ferry_source_conn *sources, const ferry_engine *teng,
                        ferry_conn *tconn, ferry_ctx *ctx, const ferry_verify_options *o,
                        size_t max_listed, ferry_err *err)
{
	double t0 = ferry__now();
	scan sc[2];
	uint8_t *select = NULL;
	uint64_t *weight = NULL;
	int32_t *round_of = NULL;
	int rc = scan_both(sc, vt, sources, teng, tconn, ctx, o, NULL, 0, NULL, err);
	if (rc)
		goto out;
	/* A merge's expected rows are its distinct keys, known only once they are gathered. */
	vt->exp_total = vt->merge ? -1 : sc[0].total;
	vt->act_total = sc[1].total;
	/* Buckets to look at row by row: those whose digests differ, or, for merges and tables
	 * whose expected rows have cells no rule decides, every bucket with rows. */
	select = calloc(NBUCKETS / 8, 1);
	weight = calloc(NBUCKETS, sizeof(uint64_t));
	if (!select || !weight) {
		rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	int exact = !vt->merge && !vt->wild;
	for (size_t b = 0; b < NBUCKETS; b++) {
		digest *e = &sc[0].dig[b], *a = &sc[1].dig[b];
		int differs = exact ? (e->n != a->n || e->sum != a->sum) : (e->n || a->n);
		if (!differs) {
			vt->compared += (int64_t)e->n;
			vt->matched += (int64_t)e->n;
			continue;
		}
		weight[b] = e->n > a->n ? e->n : a->n;
	}
	if (!vt->merge && vt->exp_total != vt->act_total)
		vt->count_differs = 1;
	scan_free(sc);
	/* Rounds: consecutive selected buckets up to round_rows() rows (one bucket at least). */
	const uint64_t round_max = round_rows();
	round_of = malloc(NBUCKETS * sizeof(int32_t));
	if (!round_of) {
		rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	int32_t nrounds = 0;
	uint64_t rows = 0, most = 0;
	for (size_t b = 0; b < NBUCKETS; b++) {
		round_of[b] = -1;
		if (!weight[b])
			continue;
		if (nrounds == 0 || (rows > 0 && rows + weight[b] > round_max)) {
			nrounds++;
			rows = 0;
		}
		round_of[b] = nrounds - 1;
		rows += weight[b];
		most = rows > most ? rows : most;
	}
	/* A map is sized for the largest round, at most a round's rows (it grows past that only
	 * for one range holding more, which one key's many rows can). */
	size_t expect = (size_t)(most < round_max ? most : round_max);
	if (nrounds == 1) {
		/* One round: read its rows straight into the maps. */
		for (size_t b = 0; b < NBUCKETS; b++)
			if (round_of[b] == 0)
				select[b / 8] |= (uint8_t)(1u << (b % 8));
		rc = scan_both(sc, vt, sources, teng, tconn, ctx, o, select, expect, NULL, err);
		if (rc == 0 && compare_maps(vt, &sc[0].map, &sc[1].map, max_listed) != 0)
			rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
		scan_free(sc);
	}
	/* Several: one pass sorts the rows of up to SPILL_FILES rounds into a file each (per
	 * side), and each round is compared from its files: a pass per 64 rounds, not per round. */
	for (int32_t g = 0; rc == 0 && nrounds > 1 && g < nrounds; g += SPILL_FILES)
		rc = spilled_rounds(vt, sources, teng, tconn, ctx, o, round_of, g,
		                    g + SPILL_FILES < nrounds ? g + SPILL_FILES : nrounds, select, expect,
		                    max_listed, err);
	if (rc == 0 && vt->merge && vt->per10k == 10000)
		vt->exp_total = vt->compared;
out:
	if (rc)
		scan_free(sc);
	free(select);
	free(weight);
	free(round_of);
	vt->seconds = ferry__now() - t0;
	return rc;
}

/* ---- setting the tables up ------------------------------------------------------------------- */

static void vtable_free(vtable *vt)
{
	free(vt->name);
	free(vt->sources);
	free(vt->jobs);
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

void ferry_verify_report_free(ferry_verify_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->ntables; i++)
		vtable_free(&r->tables[i]);
	free(r->tables);
	for (size_t i = 0; i < r->nnotes; i++)
		free(r->notes[i]);
	free(r->notes);
	free(r->target);
	free(r);
}

static int job_has(const job *j, const char *col)
{
	for (size_t i = 0; i < j->ntcols; i++)
		if (strcmp(j->tcols[i], col) == 0)
			return (int)i;
	return -1;
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
	size_t n = strlen(lit);
	int rc = 1; /* 1: not a value ferry can know */
	int sqlite = (flags & CANON_SQLITE_TEXT) != 0;
	if (lit[0] == '\'') {
		size_t k = 0; /* between the quotes, '' is one quote */
		for (size_t i = 1; i + 1 < n; i++) {
			lit[k++] = lit[i];
			if (lit[i] == '\'')
				i++;
		}
		if (!(t == FERRY_BLOB && k >= 2 && lit[0] == '\\' && lit[1] == 'x')) {
			while (trim && k > 0 && lit[k - 1] == ' ')
				k--;
			v.type = FERRY_TEXT;
			v.v.s = lit;
			v.len = (uint32_t)k;
			rc = ferry__canon_cell_ex(out, t, &v, flags);
		}
	} else if (strcasecmp(lit, "true") == 0 || strcasecmp(lit, "false") == 0) {
		v.type = sqlite ? FERRY_INT : FERRY_BOOL; /* SQLite stores TRUE as 1 */
		v.v.i = strcasecmp(lit, "true") == 0;
		rc = ferry__canon_cell_ex(out, t, &v, flags);
	} else if (isdigit((unsigned char)lit[0]) || lit[0] == '-' || lit[0] == '+' || lit[0] == '.') {
		char *end;
		errno = 0;
		long long ll = strtoll(lit, &end, 10);
		if (*end == '\0' && errno == 0) {
			v.type = FERRY_INT;
			v.v.i = ll;
		} else if (sqlite) { /* SQLite reads any other number as a REAL */
			v.type = FERRY_FLOAT;
			v.v.f = strtod(lit, NULL);
		} else {
			v.type = FERRY_NUMERIC;
			v.v.s = lit;
			v.len = (uint32_t)n;
		}
		rc = ferry__canon_cell_ex(out, t, &v, flags);
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

static int setup_table(vtable *vt, const ferry_table *tt, const ferry_engine *teng, ferry_err *err)
{
	size_t n = 0;
	vt->cols = calloc(tt->ncols + 1, sizeof(char *));
	vt->qcols = calloc(tt->ncols + 1, sizeof(char *));
	vt->types = calloc(tt->ncols + 1, sizeof(ferry_type));
	vt->skipped = calloc(tt->ncols + 1, sizeof(char *));
	vt->jmap = calloc(vt->njobs + 1, sizeof(int *));
	vt->key = calloc(tt->ncols + 1, sizeof(size_t));
	vt->defcell = calloc(tt->ncols + 1, sizeof(uint8_t *));
	vt->deflen = calloc(tt->ncols + 1, sizeof(size_t));
	vt->trim = calloc(tt->ncols + 1, 1);
	vt->wildcol = calloc(tt->ncols + 1, 1);
	vt->canon_flags = strcmp(teng->name, "sqlite") == 0 ? CANON_SQLITE_TEXT : 0;
	if (!vt->cols || !vt->qcols || !vt->types || !vt->skipped || !vt->jmap || !vt->key ||
	    !vt->defcell || !vt->deflen || !vt->trim || !vt->wildcol)
		return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	for (size_t i = 0; i < vt->njobs; i++)
		if (!(vt->jmap[i] = calloc(tt->ncols + 1, sizeof(int))))
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
		vt->cols[n] = ferry__strdup(name);
		vt->qcols[n] = ferry__qident(teng, name);
		if (!vt->cols[n] || !vt->qcols[n])
			return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
		int lacking = 0;
		for (size_t i = 0; i < vt->njobs; i++) {
			int k = job_has(vt->jobs[i], name);
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
		int pad = strcmp(teng->name, "postgres") == 0 && blank_padded(tt->cols[c].decl_type);
		if (default_cell(&d, vt->types[n], tt->cols[c].default_sql, vt->canon_flags, pad) != 0 || !d.data)
			return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
		vt->deflen[n] = d.len;
		vt->defcell[n] = (uint8_t *)ferry_buf_detach(&d);
		if (lacking && vt->defcell[n][0] == CELL_ANY)
			vt->wild = vt->wildcol[n] = 1;
		vt->trim[n] = (uint8_t)pad;
		n++;
		vt->ncols = n;
	}
	/* The key: the target's primary key, else the source key the jobs carry, else the row. */
	size_t nk = 0;
	for (size_t k = 0; k < tt->npk; k++) {
		const char *kn = tt->cols[tt->pk[k]].name;
		size_t c = 0;
		while (c < n && strcmp(vt->cols[c], kn) != 0)
			c++;
		if (c == n) {
			nk = 0;
			break;
		}
		vt->key[nk++] = c;
	}
	if (nk == 0 && vt->njobs > 0 && vt->jobs[0]->nkeys > 0) {
		const job *j0 = vt->jobs[0];
		for (size_t k = 0; k < j0->nkeys; k++) {
			size_t c = 0;
			while (c < n && strcmp(vt->cols[c], j0->keynames[k]) != 0)
				c++;
			if (c == n) {
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
	return 0;
}

/* The sample of a table: the first matching rule of the plan's verify: section (rules naming
 * a table, then rules by row count, each in the order written), else the default. */
static int coverage(vtable *vt, const ferry_plan *p, int full)
{
	if (full) {
		vt->per10k = 10000;
		vt->coverage = ferry__strdup("100% (--full)");
		return vt->coverage ? 0 : FERRY_ENOMEM;
	}
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

static int add_note(ferry_verify_report *r, const char *s)
{
	return ferry__note(&r->notes, &r->nnotes, &r->notes_cap, "%s", s);
}

static int wanted_table(const ferry_verify_options *o, const char *table)
{
	for (size_t k = 0; k < o->ntables; k++)
		if (strcmp(table, o->tables[k]) == 0)
			return 1;
	return o->ntables == 0;
}

int ferry__verify_run(ferry_verify_report **out, ferry_ctx *ctx, const ferry_plan *plan,
                      const ferry_verify_options *o, ferry_err *err)
{
	*out = NULL;
	ferry_verify_report *rep = calloc(1, sizeof(*rep));
	ferry_source_conn *sources = calloc(plan->nsources + 1, sizeof(*sources));
	ferry_schema *tschema = ferry__schema_new();
	const ferry_engine *teng = NULL;
	ferry_conn *tconn = NULL;
	jobset js;
	memset(&js, 0, sizeof(js));
	int rc = 0;
	size_t max_listed = o->max_listed > 0 ? (size_t)o->max_listed : 10;
	if (!rep || !sources || !tschema) {
		rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
		goto done;
	}
	rep->full = o->full;
	rep->target = ferry_url_mask(plan->target);
	for (size_t i = 0; rc == 0 && i < plan->nsources; i++) {
		ferry_source_conn *s = &sources[i];
		s->eng = ferry__engine_for(ctx, plan->sources[i].url, err);
		if (!s->eng) {
			rc = err->code;
			break;
		}
		rc = s->eng->core->connect(&s->conn, plan->sources[i].url, FERRY_CONNECT_READONLY, err);
		if (rc == 0 && !(s->schema = ferry__schema_new()))
			rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
		if (rc == 0)
			rc = s->eng->core->introspect(s->conn, s->schema, err);
	}
	if (rc)
		goto done;
	if (!(teng = ferry__engine_for(ctx, plan->target, err))) {
		rc = err->code;
		goto done;
	}
	rc = teng->core->connect(&tconn, plan->target, FERRY_CONNECT_READONLY, err);
	if (rc == FERRY_ENOTFOUND) {
		/* Opened read-only, an engine names it a source: say which end it is. */
		char *m = ferry_url_mask(plan->target);
		rc = ferry_err_set(err, rc, "the target database %s does not exist", m ? m : "?");
		free(m);
	} else if (rc) {
		char msg[sizeof(err->msg)];
		snprintf(msg, sizeof(msg), "%s", err->msg);
		rc = ferry_err_set(err, rc, "target: %s", msg);
	}
	if (rc == 0)
		rc = teng->core->introspect(tconn, tschema, err);
	if (rc == 0)
		rc = ferry__jobs_build(&js, plan, sources, teng, tschema, 0, err);
	if (rc)
		goto done;
	for (size_t k = 0; rc == 0 && k < o->ntables; k++) {
		int found = 0;
		for (size_t i = 0; i < js.njobs && !found; i++)
			found = strcmp(js.jobs[i].dst_table, o->tables[k]) == 0;
		if (!found)
			rc = ferry_err_set(err, FERRY_EUSAGE, "--table %s: the plan writes no target table of that name",
			                   o->tables[k]);
	}
	/* The plan's coverage rules must name tables it writes. */
	for (size_t r = 0; rc == 0 && r < plan->nverify; r++) {
		const ferry_plan_verify_rule *vr = &plan->verify[r];
		int found = !vr->table;
		for (size_t i = 0; i < js.njobs && !found; i++)
			found = strcmp(js.jobs[i].dst_table, vr->table) == 0;
		if (!found)
			rc = ferry_err_set(err, FERRY_EUSAGE, "%s:%d:%d: verify rule names table \"%s\", which the plan does not write",
			                   plan->path ? plan->path : "<plan>", vr->line, vr->col, vr->table);
	}
	if (rc)
		goto done;
	for (size_t i = 0; i < js.njobs; i++)
		if (js.jobs[i].creates_table && wanted_table(o, js.jobs[i].dst_table)) {
			char *m = ferry_url_mask(plan->target);
			rc = ferry_err_set(err, FERRY_ENOTFOUND, "target table \"%s\" does not exist in %s (has the plan run?)",
			                   js.jobs[i].dst_table, m ? m : "the target");
			free(m);
			goto done;
		}
	for (size_t i = 0; rc == 0 && i < js.nnotes; i++)
		rc = add_note(rep, js.notes[i]);
	/* One table per target table, with every job that writes it. */
	rep->tables = calloc(js.njobs + 1, sizeof(vtable));
	if (!rep->tables) {
		rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
		goto done;
	}
	for (size_t i = 0; rc == 0 && i < js.njobs; i++) {
		job *j = &js.jobs[i];
		vtable *vt = NULL;
		if (!wanted_table(o, j->dst_table))
			continue;
		for (size_t t = 0; t < rep->ntables && !vt; t++)
			if (strcmp(rep->tables[t].name, j->dst_table) == 0)
				vt = &rep->tables[t];
		if (!vt) {
			vt = &rep->tables[rep->ntables++];
			if (!(vt->name = ferry__strdup(j->dst_table)) || !(vt->jobs = calloc(js.njobs + 1, sizeof(job *)))) {
				rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
				break;
			}
		}
		vt->jobs[vt->njobs++] = j;
		char *s = vt->sources ? ferry__sprintf("%s + %s.%s", vt->sources, j->source_name, j->src_table)
		                      : ferry__sprintf("%s.%s", j->source_name, j->src_table);
		free(vt->sources);
		vt->sources = s;
		if (!s)
			rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	}
	/* Nothing to compare is not a match: a wrong URL or search_path would read as one. */
	if (rc == 0 && rep->ntables == 0)
		rc = ferry_err_set(err, FERRY_EUSAGE,
		                   "nothing to verify: the plan carries no table from its sources (check their URLs, and a PostgreSQL search_path)");
	for (size_t t = 0; rc == 0 && t < rep->ntables; t++) {
		vtable *vt = &rep->tables[t];
		const ferry_table *tt = ferry_schema_find(tschema, vt->name);
		rc = setup_table(vt, tt, teng, err);
		/* The coverage rules need the exact count; --full needs only an estimate for progress. */
		if (rc == 0 && !o->full)
			rc = teng->write->table_rows(tconn, vt->name, &vt->target_rows, err);
		else if (rc == 0)
			vt->target_rows = tt->est_rows;
		if (rc == 0 && coverage(vt, plan, o->full) != 0)
			rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
		if (rc)
			break;
		if (o->progress) {
			ferry_progress ev = {.kind = FERRY_PROGRESS_START, .stage = "verify", .table = vt->name,
			                     .source = vt->sources, .rows_total = vt->target_rows ? vt->target_rows : -1};
			o->progress(o->progress_ud, &ev);
		}
		rc = verify_table(vt, sources, teng, tconn, ctx, o, max_listed, err);
		if (rc)
			break;
		if (o->progress) {
			ferry_progress ev = {.kind = FERRY_PROGRESS_DONE, .stage = "verify", .table = vt->name,
			                     .source = vt->sources, .rows_done = vt->exp_total,
			                     .rows_total = vt->exp_total};
			o->progress(o->progress_ud, &ev);
		}
	}
	if (rc)
		goto done;
	rep->ok = 1;
	for (size_t t = 0; t < rep->ntables; t++) {
		vtable *vt = &rep->tables[t];
		if (vt->missing || vt->extra || vt->different || vt->count_differs)
			rep->ok = 0;
	}
done:
	ferry__jobs_free(&js);
	if (tconn)
		teng->core->close(tconn);
	ferry__schema_free(tschema);
	for (size_t i = 0; sources && i < plan->nsources; i++) {
		if (sources[i].conn)
			sources[i].eng->core->close(sources[i].conn);
		ferry__schema_free(sources[i].schema);
	}
	free(sources);
	if (rc) {
		ferry_verify_report_free(rep);
		return rc;
	}
	*out = rep;
	return 0;
}

/* ---- the report -------------------------------------------------------------------------------- */

int ferry_verify_report_ok(const ferry_verify_report *r)
{
	return r && r->ok;
}

size_t ferry_verify_report_count(const ferry_verify_report *r)
{
	return r ? r->ntables : 0;
}

int ferry_verify_report_table(ferry_verify_table *out, const ferry_verify_report *r, size_t i)
{
	if (!r || i >= r->ntables)
		return FERRY_ENOTFOUND;
	const vtable *vt = &r->tables[i];
	memset(out, 0, sizeof(*out));
	out->table = vt->name;
	out->sources = vt->sources;
	out->coverage = vt->coverage;
	out->percent = vt->per10k / 100.0;
	out->rows_expected = vt->exp_total;
	out->rows_target = vt->act_total;
	out->compared = vt->compared;
	out->missing = vt->missing;
	out->extra = vt->extra;
	out->different = vt->different;
	out->counts_differ = vt->count_differs;
	out->seconds = vt->seconds;
	return 0;
}

static const char *const kind_names[] = {"missing", "extra", "different", "duplicate"};

static int table_ok(const vtable *vt)
{
	return !(vt->missing || vt->extra || vt->different || vt->count_differs);
}

static void json_names(ferry_buf *b, char *const *names, const size_t *idx, size_t n)
{
	ferry_buf_puts(b, "[");
	for (size_t k = 0; k < n; k++) {
		const char *s = names[idx ? idx[k] : k];
		ferry_buf_puts(b, k ? ", " : "");
		ferry_buf_json_str(b, s, strlen(s));
	}
	ferry_buf_puts(b, "]");
}

static int write_buf(ferry_buf *b, FILE *f)
{
	int rc = b->failed ? FERRY_ENOMEM : 0;
	if (rc == 0 && b->data && fwrite(b->data, 1, b->len, f) != b->len)
		rc = FERRY_ERROR;
	ferry_buf_free(b);
	return rc;
}

int ferry_verify_report_write_json(const ferry_verify_report *r, FILE *f)
{
	ferry_buf b = FERRY_BUF_INIT;
	ferry__verify_json(&b, r);
	ferry_buf_puts(&b, "\n");
	return write_buf(&b, f);
}

char *ferry__verify_verdict(const ferry_verify_report *r)
{
	int64_t compared = 0, missing = 0, extra = 0, different = 0;
	int counts = 0;
	for (size_t t = 0; t < r->ntables; t++) {
		compared += r->tables[t].compared;
		missing += r->tables[t].missing;
		extra += r->tables[t].extra;
		different += r->tables[t].different;
		counts += r->tables[t].count_differs;
	}
	const char *mode = r->full ? "full" : "sampled";
	if (r->ok)
		return ferry__sprintf("verified (%s): %lld rows compared, all match", mode, (long long)compared);
	return ferry__sprintf("verify (%s) found differences: %lld missing, %lld extra, %lld different%s",
	                      mode, (long long)missing, (long long)extra, (long long)different,
	                      counts ? ", row counts differ" : "");
}

int ferry__verify_json(ferry_buf *b0, const ferry_verify_report *r)
{
	ferry_buf *bp = b0;
#define b (*bp)
	ferry_buf_printf(&b, "{\"ok\": %s, \"mode\": \"%s\", \"target\": ", r->ok ? "true" : "false",
	                 r->full ? "full" : "sampled");
	ferry_buf_json_str(&b, r->target ? r->target : "", r->target ? strlen(r->target) : 0);
	ferry_buf_puts(&b, ", \"tables\": [");
	for (size_t t = 0; t < r->ntables; t++) {
		const vtable *vt = &r->tables[t];
		ferry_buf_puts(&b, t ? ", {\"table\": " : "{\"table\": ");
		ferry_buf_json_str(&b, vt->name, strlen(vt->name));
		ferry_buf_puts(&b, ", \"sources\": ");
		ferry_buf_json_str(&b, vt->sources, strlen(vt->sources));
		ferry_buf_puts(&b, ", \"rows_expected\": ");
		if (vt->exp_total >= 0)
			ferry_buf_printf(&b, "%lld", (long long)vt->exp_total);
		else
			ferry_buf_puts(&b, "null");
		ferry_buf_printf(&b, ", \"ok\": %s, \"rows_target\": %lld, "
		                 "\"compared\": %lld, \"matched\": %lld, \"missing\": %lld, \"extra\": %lld, "
		                 "\"different\": %lld, \"counts_differ\": %s, \"percent\": %g, \"coverage\": ",
		                 table_ok(vt) ? "true" : "false", (long long)vt->act_total, (long long)vt->compared, (long long)vt->matched,
		                 (long long)vt->missing, (long long)vt->extra, (long long)vt->different,
		                 vt->count_differs ? "true" : "false", vt->per10k / 100.0);
		ferry_buf_json_str(&b, vt->coverage, strlen(vt->coverage));
		ferry_buf_puts(&b, ", \"key\": ");
		if (vt->keyless)
			ferry_buf_puts(&b, "null");
		else
			json_names(&b, vt->cols, vt->key, vt->nkey);
		ferry_buf_puts(&b, ", \"columns\": ");
		json_names(&b, vt->cols, NULL, vt->ncols);
		ferry_buf_puts(&b, ", \"not_compared\": ");
		json_names(&b, vt->skipped, NULL, vt->nskipped);
		ferry_buf_printf(&b, ", \"seconds\": %.3f, \"differences\": [", vt->seconds);
		for (size_t d = 0; d < vt->ndiffs; d++) {
			const vdiff *x = &vt->diffs[d];
			ferry_buf_printf(&b, "%s{\"kind\": \"%s\", \"key\": %s", d ? ", " : "", kind_names[x->kind],
			                 x->key);
			if (x->cols)
				ferry_buf_printf(&b, ", \"columns\": %s", x->cols);
			ferry_buf_puts(&b, "}");
		}
		ferry_buf_puts(&b, "]}");
	}
	ferry_buf_puts(&b, "], \"notes\": ");
	json_names(&b, r->notes, NULL, r->nnotes);
	ferry_buf_puts(&b, "}");
#undef b
	return bp->failed ? FERRY_ENOMEM : 0;
}

int ferry_verify_report_write_text(const ferry_verify_report *r, FILE *f)
{
	ferry_buf b = FERRY_BUF_INIT;
	size_t w = 5;
	for (size_t t = 0; t < r->ntables; t++)
		if (strlen(r->tables[t].name) > w)
			w = strlen(r->tables[t].name);
	if (w > 40)
		w = 40;
	ferry_buf_printf(&b, "%-*s %12s %12s %12s %9s %9s %9s  %s\n", (int)w, "table", "expected", "target",
	                 "compared", "missing", "extra", "different", "coverage");
	int64_t compared = 0, bad = 0;
	ferry_buf nb = FERRY_BUF_INIT;
#define SHOWN(vt) (ferry_buf_reset(&nb), put_name(&nb, (vt)->name), nb.data ? nb.data : "")
	for (size_t t = 0; t < r->ntables; t++) {
		const vtable *vt = &r->tables[t];
		compared += vt->compared;
		bad += !table_ok(vt);
		char exp[24] = "-";
		if (vt->exp_total >= 0)
			snprintf(exp, sizeof(exp), "%lld", (long long)vt->exp_total);
		ferry_buf_printf(&b, "%-*s %12s %12lld %12lld %9lld %9lld %9lld  %s\n", (int)w, SHOWN(vt),
		                 exp, (long long)vt->act_total, (long long)vt->compared,
		                 (long long)vt->missing, (long long)vt->extra, (long long)vt->different,
		                 vt->coverage);
	}
	for (size_t t = 0; t < r->ntables; t++) {
		const vtable *vt = &r->tables[t];
		if (vt->count_differs)
			ferry_buf_printf(&b, "%s: %lld rows expected, the target holds %lld\n", SHOWN(vt),
			                 (long long)vt->exp_total, (long long)vt->act_total);
		for (size_t d = 0; d < vt->ndiffs; d++) {
			const vdiff *x = &vt->diffs[d];
			ferry_buf_printf(&b, "%s: %s %s%s%s\n", SHOWN(vt), kind_names[x->kind], x->key,
			                 x->text ? ": " : "", x->text ? x->text : "");
		}
		int64_t diffs = vt->missing + vt->extra + vt->different;
		if ((int64_t)vt->ndiffs < diffs && vt->ndiffs > 0)
			ferry_buf_printf(&b, "%s: %lld rows differ in all; the first %zu differences are listed (--max-listed)\n",
			                 SHOWN(vt), (long long)diffs, vt->ndiffs);
		if (vt->nskipped) {
			ferry_buf_printf(&b, "%s: not compared (the target's default decides):", SHOWN(vt));
			for (size_t i = 0; i < vt->nskipped; i++) {
				ferry_buf_printf(&b, "%s \"", i ? "," : "");
				put_name(&b, vt->skipped[i]);
				ferry_buf_puts(&b, "\"");
			}
			ferry_buf_puts(&b, "\n");
		}
		if (vt->keyless)
			ferry_buf_printf(&b, "%s: no key; rows are matched by all their values\n", SHOWN(vt));
	}
#undef SHOWN
	ferry_buf_free(&nb);
	if (r->ok)
		ferry_buf_printf(&b, "verify: OK, %zu table%s, %lld rows compared (%s)\n", r->ntables,
		                 r->ntables == 1 ? "" : "s", (long long)compared, r->full ? "full" : "sampled");
	else
		ferry_buf_printf(&b, "verify: DIFFERENT, %lld of %zu table%s differ (%s)\n", (long long)bad,
		                 r->ntables, r->ntables == 1 ? "" : "s", r->full ? "full" : "sampled");
	return write_buf(&b, f);
}
