/* scan.c — reading both sides of a table at once, one thread each: the expected rows through
 * the table's jobs (each source's own SQL, chunk by chunk where its engine reads so), the
 * target's rows as they are. Each row becomes canonical cells; its key hash picks a bucket (a
 * range of the key's hash) and decides the sample. A digest pass sums each bucket's set
 * digest; a collecting pass keeps the rows of the selected buckets, in maps or spill files. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "verify.h"

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

/* Counts the row of key hash kh and says whether this pass looks at it: in the sample, and in
 * a selected bucket when the pass collects. */
static int take_row(scan *s, uint64_t kh)
{
	s->total++;
	if ((int)(kh % 10000) >= s->vt->per10k)
		return 0;
	return !s->select || (s->select[VERIFY_BUCKET(kh) / 8] & (1u << (VERIFY_BUCKET(kh) % 8)));
}

/* What identifies a row rb: its cells, but those no rule decides on one side (a wild table's
 * wild columns), which go. NULL when out of memory. */
static const ferry_buf *hashed_row(scan *s, const ferry_buf *rb)
{
	const vtable *vt = s->vt;
	if (!vt->wild)
		return rb;
	ferry_buf_reset(&s->hb);
	ferry_buf_add(&s->hb, "", 0);
	for (size_t c = 0, off = 0; c < vt->ncols; c++) {
		size_t n = ferry__cell_size((const uint8_t *)rb->data + off, rb->len - off);
		if (!vt->wildcol[c])
			ferry_buf_add(&s->hb, rb->data + off, n);
		off += n;
	}
	return s->hb.failed ? NULL : &s->hb;
}

/* Hand a taken row to the pass: its digest update, its round's spill file, or its map. */
static int keep_row(scan *s, const job *j, const int *jm, uint64_t kh, uint64_t rh,
                    const ferry_buf *kb, const ferry_buf *rb, int waits)
{
	s->sampled++;
	if (!s->select) {
		s->pend_kh[s->npend] = kh;
		s->pend_w[s->npend] = (uint8_t)waits;
		s->pend_rh[s->npend++] = rh;
		return 0;
	}
	if (s->spill)
		return ferry_verify__spill_row(s, kh, rh, kb, rb, waits);
	int e = ferry_verify__collect(&s->map, s->vt, s->side, j, jm, kh, rh, (const uint8_t *)kb->data,
	                              kb->len, (const uint8_t *)rb->data, rb->len, waits);
	if (e)
		return ferry_err_set(&s->err, e, e == FERRY_ENOMEM ? "out of memory" : "cannot merge rows of \"%s\"",
		                     s->vt->name);
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Before the sample: an outside pass keeps the key hash (1: done with the row); the target's
 * side leaves out a row whose key hash is outside (1), counted once, in the digest pass. */
static int outside_row(scan *s, uint64_t kh)
{
	if (s->outside_pass == 1) {
		if (ferry__grow(&s->okeys, &s->okeys_cap, s->nokeys + 1, sizeof(uint64_t)) != 0)
			return ferry_err_set(&s->err, FERRY_ENOMEM, "out of memory");
		s->okeys[s->nokeys++] = kh;
		return 1;
	}
	if (s->outside_pass == 2) {
		const uint64_t *at = bsearch(&kh, s->okeys, s->nokeys, sizeof(uint64_t), cmp_u64);
		if (at) {
			size_t i = (size_t)(at - s->okeys), j = i;
			while (i > 0 && s->okeys[i - 1] == kh)
				i--;
			while (j < s->nokeys && s->okeys[j] == kh)
				s->struck[j++] = 1;
			while (i < j)
				s->struck[i++] = 1;
		}
		return 1;
	}
	const vtable *vt = s->vt;
	if (s->side != 1 || !vt->noutside || !bsearch(&kh, vt->outside, vt->noutside, sizeof(uint64_t), cmp_u64))
		return 0;
	if (!s->select)
		s->outside++;
	return 1;
}

/* One row: a keyed table hashes its key first and skips the cells of rows it does not take;
 * a keyless one is keyed by its whole (hashed) row. */
static int scan_row(scan *s, const job *j, const int *jm, const ferry_value *row, ferry_buf *kb,
                    ferry_buf *rb)
{
	vtable *vt = s->vt;
	ferry_buf_reset(kb);
	ferry_buf_reset(rb);
	int rc = 0;
	uint64_t kh = 0;
	/* The flag scan_job reads after the job's columns: 1 when the row waits. */
	int waits = 0;
	if (s->side == 0 && vt->waitmark && j->later) {
		const ferry_value *w = &row[j->ntcols];
		waits = (w->type == FERRY_INT || w->type == FERRY_BOOL) && w->v.i != 0;
		s->wtotal += waits;
	}
	if (!vt->keyless) {
		for (size_t k = 0; k < vt->nkey && rc == 0; k++)
			rc = put_cell(kb, vt, vt->key[k], jm, row);
		if (rc || kb->failed)
			return ferry_err_set(&s->err, FERRY_ENOMEM, "out of memory");
		kh = ferry__hash64(kb->data, kb->len, 0);
		if ((rc = outside_row(s, kh)) != 0)
			return rc < 0 ? rc : 0;
		if (!take_row(s, kh))
			return 0;
	}
	for (size_t c = 0; c < vt->ncols && rc == 0; c++)
		rc = put_cell(rb, vt, c, jm, row);
	const ferry_buf *hashed = rc || rb->failed ? NULL : hashed_row(s, rb);
	if (!hashed)
		return ferry_err_set(&s->err, FERRY_ENOMEM, "out of memory");
	uint64_t rh = ferry__hash64(hashed->data, hashed->len, 0);
	if (vt->keyless) {
		kh = rh;
		if ((rc = outside_row(s, kh)) != 0)
			return rc < 0 ? rc : 0;
		if (!take_row(s, kh))
			return 0;
		if (ferry_buf_add(kb, hashed->data, hashed->len) != 0)
			return ferry_err_set(&s->err, FERRY_ENOMEM, "out of memory");
	}
	return keep_row(s, j, jm, kh, rh, kb, rb, waits);
}

static int scan_batch(scan *s, const job *j, const int *jm, const ferry_batch *b, ferry_buf *kb,
                      ferry_buf *rb)
{
	size_t nrows = ferry_batch_nrows(b);
	for (size_t r = 0; r < nrows; r++) {
		int rc = scan_row(s, j, jm, ferry_batch_crow(b, r), kb, rb);
		if (rc)
			return rc;
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
			__builtin_prefetch(&s->dig[VERIFY_BUCKET(s->pend_kh[i + AHEAD])], 1);
		digest *d = &(s->pend_w[i] ? s->wdig : s->dig)[VERIFY_BUCKET(s->pend_kh[i])];
		d->n++;
		d->sum += s->pend_rh[i];
	}
	s->npend = 0;
}

/* Read one spec of eng's connection to its end, batch by batch (progress from side 0). */
static int scan_one(scan *s, const ferry_engine *eng, ferry_conn *conn, const ferry_read_spec *spec,
                    size_t ncols, const job *j, const int *jm)
{
	ferry_batch *b = ferry__batch_new(ncols, VERIFY_BATCH);
	ferry_buf kb = FERRY_BUF_INIT, rb = FERRY_BUF_INIT;
	ferry_reader *rd = NULL;
	if (!b)
		return ferry_err_set(&s->err, FERRY_ENOMEM, "out of memory");
	const ferry_verify_options *o = s->sd->o;
	int rc = eng->read->reader_open(&rd, conn, spec, &s->err);
	int eof = 0;
	while (rc == 0 && !eof) {
		if (s->sd->ctx->interrupted) {
			rc = ferry_err_set(&s->err, FERRY_EINTR, "interrupted");
			break;
		}
		ferry__batch_reset(b);
		rc = eng->read->reader_next(rd, b, &eof, &s->err);
		if (rc == 0)
			rc = scan_batch(s, j, jm, b, &kb, &rb);
		flush_digests(s);
		if (s->side == 0 && o && o->progress && !s->select && !s->outside_pass) {
			ferry_progress ev = {.kind = FERRY_PROGRESS_ROWS, .stage = "verify", .table = s->vt->name,
			                     .source = s->vt->sources, .rows_done = s->total,
			                     .rows_total = s->vt->target_rows > 0 ? s->vt->target_rows : -1};
			o->progress(o->progress_ud, &ev);
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
	    !(l->hi = ferry__realloc(l->hi, l->cap * sizeof(ferry_value))))
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
static int scan_job(scan *s, job *j, const int *jm, const char *filter)
{
	ferry_source_conn *src = &s->sd->sources[j->src];
	ferry_read_spec spec = {
		.table = j->src_table,
		.nexprs = j->ntcols,
		.exprs = (const char *const *)j->exprs,
		.filter = filter,
		.nparams = j->nparams,
		.params = j->params,
	};
	/* While the backfill runs, each row also says whether it waits (the same CASE as the
	 * filters of copy and backfill, so a NULL condition is "now" here too). */
	const char **exprs = NULL;
	char *wexpr = NULL;
	size_t ncols = j->ntcols;
	if (s->vt->waitmark && j->later) {
		const ferry_plan_table *e = j->entry;
		exprs = ferry__calloc(j->ntcols + 1, sizeof(char *));
		wexpr = e->later_all ? ferry__strdup("1") : ferry__sprintf("CASE WHEN (%s) THEN 1 ELSE 0 END", e->later);
		if (!exprs || !wexpr) {
			free(exprs);
			free(wexpr);
			return ferry_err_set(&s->err, FERRY_ENOMEM, "out of memory");
		}
		memcpy(exprs, j->exprs, j->ntcols * sizeof(char *));
		exprs[ncols++] = wexpr;
		spec.exprs = exprs;
		spec.nexprs = ncols;
	}
	int rc = 0;
	if (!(src->eng->flags & FERRY_ENGINE_CHUNKED_READ)) {
		rc = scan_one(s, src->eng, src->conn, &spec, ncols, j, jm);
		free(exprs);
		free(wexpr);
		return rc;
	}
	chunk_list l = {0};
	rc = src->eng->read->plan_chunks(src->conn, j->src_table, 0, NULL, INT64_MAX, NULL, add_chunk, &l, &s->err);
	if (rc == FERRY_ECORRUPT && !s->err.code)
		rc = ferry_err_set(&s->err, rc, "the chunks of \"%s\" have damaged bounds", j->src_table);
	for (size_t i = 0; rc == 0 && i < l.n; i++) {
		spec.nkeys = 1;
		spec.lo = &l.lo[i];
		spec.hi = &l.hi[i];
		rc = scan_one(s, src->eng, src->conn, &spec, ncols, j, jm);
	}
	free(l.lo);
	free(l.hi);
	free(exprs);
	free(wexpr);
	return rc;
}

static void *scan_main(void *arg)
{
	scan *s = arg;
	vtable *vt = s->vt;
	if (s->side == 1) {
		ferry_read_spec spec = {.table = vt->name, .nexprs = vt->ncols,
		                        .exprs = (const char *const *)vt->qcols};
		s->rc = scan_one(s, s->sd->teng, s->sd->tconn, &spec, vt->ncols, NULL, NULL);
		return NULL;
	}
	for (size_t i = 0; i < vt->njobs && s->rc == 0; i++) {
		s->cur_job = i;
		s->rc = scan_job(s, vt->jobs[i], vt->jmap[i], vt->jobs[i]->filter);
	}
	return NULL;
}

int ferry_verify__scan_both(scan sc[2], vtable *vt, const vsides *sd, const uint8_t *select,
                            size_t expect, const spill_plan *sp, ferry_err *err)
{
	memset(sc, 0, 2 * sizeof(scan));
	for (int i = 0; i < 2; i++) {
		sc[i].vt = vt;
		sc[i].side = i;
		sc[i].sd = sd;
		sc[i].select = select;
		sc[i].spill = sp;
		if (!select && !(sc[i].dig = ferry__calloc(VERIFY_NBUCKETS, sizeof(digest))))
			return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
		if (!select && i == 0 && vt->waitmark && !(sc[i].wdig = ferry__calloc(VERIFY_NBUCKETS, sizeof(digest))))
			return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
		if (select && !sp && ferry_verify__map_init(&sc[i].map, expect) != 0)
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

int ferry_verify__outside_keys(vtable *vt, const vsides *sd, ferry_err *err)
{
	if (vt->merge || vt->njobs == 0)
		return 0;
	for (size_t i = 0; i < vt->njobs; i++)
		if (!vt->jobs[i]->filter || (sd->sources[vt->jobs[i]->src].eng->flags & FERRY_ENGINE_LABEL))
			return 0;
	scan s;
	memset(&s, 0, sizeof(s));
	s.vt = vt;
	s.sd = sd;
	s.outside_pass = 1;
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < vt->njobs; i++) {
		/* The rows the filter does not select: false or null. */
		char *f = ferry__sprintf("(%s) IS NOT TRUE", vt->jobs[i]->filter);
		s.cur_job = i;
		rc = f ? scan_job(&s, vt->jobs[i], vt->jmap[i], f) : ferry_err_set(&s.err, FERRY_ENOMEM, "out of memory");
		free(f);
	}
	if (rc == 0 && s.nokeys) {
		qsort(s.okeys, s.nokeys, sizeof(uint64_t), cmp_u64);
		if (!(s.struck = ferry__calloc(s.nokeys, 1)))
			rc = ferry_err_set(&s.err, FERRY_ENOMEM, "out of memory");
		s.outside_pass = 2;
		for (size_t i = 0; rc == 0 && i < vt->njobs; i++) {
			s.cur_job = i;
			rc = scan_job(&s, vt->jobs[i], vt->jmap[i], vt->jobs[i]->filter);
		}
		size_t n = 0;
		for (size_t i = 0; rc == 0 && i < s.nokeys; i++)
			if (!s.struck[i])
				s.okeys[n++] = s.okeys[i];
		if (rc == 0)
			s.nokeys = n;
	}
	ferry_buf_free(&s.hb);
	free(s.struck);
	if (rc) {
		free(s.okeys);
		return ferry__err_copy(err, &s.err), rc;
	}
	vt->outside = s.okeys;
	vt->noutside = s.nokeys;
	return 0;
}

void ferry_verify__scan_free(scan sc[2])
{
	for (int i = 0; i < 2; i++) {
		free(sc[i].dig);
		free(sc[i].wdig);
		sc[i].dig = sc[i].wdig = NULL;
		ferry_verify__map_free(&sc[i].map);
		ferry_buf_free(&sc[i].hb);
	}
}
