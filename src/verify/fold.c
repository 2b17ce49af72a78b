/* fold.c — merge folding: the expected row of a key that several sources feed is what the
 * target's upsert makes of them (src/sqlgen.c's rules), computed on canonical cells: unruled
 * and error columns must agree or the later row is refused; first keeps, last takes,
 * min/max/sum ignore NULLs. */
#include <stdlib.h>
#include "verify.h"

/* Room in m's scratch for two rows of n cells each: 0 or FERRY_ENOMEM. */
static int fold_scratch(rowmap *m, size_t n)
{
	if (m->ncells >= 2 * n)
		return 0;
	const uint8_t **cells = ferry__realloc(m->cells, 2 * n * sizeof(uint8_t *));
	if (cells)
		m->cells = cells;
	size_t *lens = cells ? ferry__realloc(m->lens, 2 * n * sizeof(size_t)) : NULL;
	if (!lens)
		return FERRY_ENOMEM;
	m->lens = lens;
	m->ncells = 2 * n;
	return 0;
}

/* 1 when the target refuses the later row nc: a column without a rule (or ruled `error`)
 * that the two rows do not agree on. */
static int fold_refused(const vtable *vt, const job *j, const int *jm, const uint8_t **oc,
                        const size_t *ol, const uint8_t **nc, const size_t *nl)
{
	for (size_t c = 0; c < vt->ncols; c++) {
		if (jm[c] < 0 || nc[c][0] == CELL_ANY)
			continue;
		int rule = j->conflict[jm[c]];
		if ((rule == FERRY_CONFLICT_NONE || rule == FERRY_CONFLICT_ERROR) && oc[c][0] != CELL_ANY &&
		    !ferry__cell_equal(oc[c], ol[c], nc[c], nl[c]))
			return 1;
	}
	return 0;
}

/* Append to out column c's folded cell of the row there (o) and the later row (nw) under
 * rule; 0 or FERRY_ENOMEM. A sum that cannot be computed keeps the row there's cell. */
static int fold_cell(ferry_buf *out, int rule, int given, const uint8_t *o, size_t ol,
                     const uint8_t *nw, size_t nl)
{
	const uint8_t *use = o;
	size_t ul = ol;
	int onull = o[0] == CELL_NULL || o[0] == CELL_ANY, nnull = nw[0] == CELL_NULL;
	if (!given || nw[0] == CELL_ANY) {
		/* this source has no value for the column: the row there keeps its own */
	} else if (rule == FERRY_CONFLICT_LAST) {
		use = nw;
		ul = nl;
	} else if (o[0] == CELL_ANY) {
		/* the row there holds a computed default nobody knows: it stays unknown */
	} else if (rule == FERRY_CONFLICT_MIN || rule == FERRY_CONFLICT_MAX || rule == FERRY_CONFLICT_SUM) {
		if (onull && !nnull) {
			use = nw;
			ul = nl;
		} else if (!onull && !nnull && rule == FERRY_CONFLICT_SUM) {
			size_t before = out->len;
			int s = ferry__cell_sum(out, o, ol, nw, nl);
			if (s <= 0)
				return s; /* appended, or out of memory */
			if (out->data)
				out->len = before;
		} else if (!onull && !nnull) {
			int cmp = ferry__cell_cmp(nw, nl, o, ol);
			if ((rule == FERRY_CONFLICT_MIN && cmp < 0) || (rule == FERRY_CONFLICT_MAX && cmp > 0)) {
				use = nw;
				ul = nl;
			}
		}
	}
	return ferry_buf_add(out, use, ul) != 0 ? FERRY_ENOMEM : 0;
}

int ferry_verify__fold(rowmap *m, mrow *r, const vtable *vt, const job *j, const int *jm,
                       const uint8_t *row, size_t rlen)
{
	size_t n = vt->ncols;
	if (fold_scratch(m, n) != 0)
		return FERRY_ENOMEM;
	const uint8_t **oc = m->cells, **nc = oc + n;
	size_t *ol = m->lens, *nl = ol + n;
	ferry_buf *out = &m->fold;
	ferry_buf_reset(out);
	if (ferry_verify__split_cells(r->data + r->klen, r->rlen, n, oc, ol) != 0 ||
	    ferry_verify__split_cells(row, rlen, n, nc, nl) != 0)
		return FERRY_ECORRUPT;
	if (fold_refused(vt, j, jm, oc, ol, nc, nl))
		return 0; /* the target refused this row: the first one stays */
	int rc = 0;
	for (size_t c = 0; c < n && rc == 0; c++) {
		int rule = jm[c] >= 0 ? j->conflict[jm[c]] : FERRY_CONFLICT_FIRST;
		rc = fold_cell(out, rule, jm[c] >= 0, oc[c], ol[c], nc[c], nl[c]);
	}
	if (rc == 0 && out->failed)
		rc = FERRY_ENOMEM;
	if (rc == 0 && out->data)
		rc = ferry_verify__map_set_row(m, r, r->data, r->klen, (const uint8_t *)out->data, out->len);
	return rc;
}
