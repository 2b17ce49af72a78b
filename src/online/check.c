/* check.c — the cut-over's own check, inside the pause: every row the final drain wrote or
 * deleted is read again on both sides, the source through the job's select list and the
 * target as it is, and compared cell by cell by the target's column types (the verify's
 * canonical cells). Cheap because the drain is short; a difference stops the cut-over
 * before the old version is fenced. */
#include <stdlib.h>
#include <string.h>
#include "online.h"
#include "../verify/verify.h"

/* Canonical cells of the first ncols values of each row, by key. */
typedef struct side {
	ferry_keyset keys;         /* the target keys found on this side */
	ferry_buf rows;            /* each found row's cells, back to back */
	size_t *off;               /* where row i's cells start in rows */
	size_t cap;
} side;

static void side_free(side *sd)
{
	ferry__keyset_free(&sd->keys);
	ferry_buf_free(&sd->rows);
	free(sd->off);
}

static int side_add(side *sd, sync_state *s, const otarget *t, const ferry_value *tkey,
                    const ferry_value *vals, const ferry_type *types, size_t ncols)
{
	ferry_buf_reset(&s->cells);
	for (size_t k = 0; k < t->ntk; k++)
		ferry__canon_cell(&s->cells, t->tktypes[k], &tkey[k]);
	int added = 0;
	if (s->cells.failed || ferry__keyset_add(&sd->keys, (const uint8_t *)s->cells.data, s->cells.len, tkey,
	                                         t->ntk, &added) != 0)
		return OOM(&s->err);
	if (!added)
		return ferry_err_set(&s->err, FERRY_ERROR, "cut-over check: target table \"%s\" holds a key twice",
		                     t->name);
	if (ferry__grow(&sd->off, &sd->cap, sd->keys.n + 1, sizeof(size_t)) != 0)
		return OOM(&s->err);
	sd->off[sd->keys.n - 1] = sd->rows.len;
	for (size_t c = 0; c < ncols; c++)
		ferry__canon_cell(&sd->rows, types[c], &vals[c]);
	return sd->rows.failed ? OOM(&s->err) : 0;
}

static size_t row_end(const side *sd, size_t i)
{
	return i + 1 < sd->keys.n ? sd->off[i + 1] : sd->rows.len;
}

/* Read the drained keys of t through reader spec (match filled here) on conn of engine e:
 * each row's first ncols values and, at key_at[k], its target key column k. */
static int read_side(sync_state *s, const otarget *t, const ferry_engine *e, ferry_conn *conn,
                     ferry_read_spec *spec, const size_t *key_at, const ferry_type *types,
                     size_t ncols, side *sd)
{
	ferry_value tkey[64];
	ferry_batch *b = ferry__batch_new(spec->nexprs, 512);
	if (!b)
		return OOM(&s->err);
	int rc = 0;
	for (size_t from = 0; rc == 0 && from < t->drained.n; from += MATCH_MAX) {
		size_t n = t->drained.n - from < MATCH_MAX ? t->drained.n - from : MATCH_MAX;
		if (ferry__grow(&s->match, &s->match_cap, n * spec->nkeys, sizeof(ferry_value)) != 0) {
			rc = OOM(&s->err);
			break;
		}
		for (size_t i = 0; rc == 0 && i < n; i++) {
			rc = ferry__keyset_get(&t->drained, from + i, tkey, t->ntk);
			for (size_t k = 0; rc == 0 && k < t->ntk; k++)
				s->match[i * spec->nkeys + (key_at[k] - (spec->nexprs - spec->nkeys))] = tkey[k];
		}
		spec->nmatch = n;
		spec->match = s->match;
		ferry_reader *r = NULL;
		rc = rc ? rc : e->read->reader_open(&r, conn, spec, &s->err);
		for (int eof = 0; rc == 0 && !eof;) {
			ferry__batch_reset(b);
			rc = e->read->reader_next(r, b, &eof, &s->err);
			for (size_t row = 0; rc == 0 && row < ferry_batch_nrows(b); row++) {
				const ferry_value *v = ferry_batch_crow(b, row);
				for (size_t k = 0; k < t->ntk; k++)
					tkey[k] = v[key_at[k]];
				rc = side_add(sd, s, t, tkey, v, types, ncols);
			}
		}
		if (r)
			e->read->reader_close(r);
	}
	ferry__batch_free(b);
	return rc;
}

/* Compare one target table fed by one job: every drained key on both sides or neither, with
 * equal cells. */
static int check_target(sync_state *s, otarget *t, int64_t *rows)
{
	ojob *oj = &s->ojobs[t->jobs[0]];
	job *j = oj->j;
	osource *o = &s->os[j->src];
	side src, dst;
	memset(&src, 0, sizeof(src));
	memset(&dst, 0, sizeof(dst));
	size_t skey[64], tkey_at[64];
	char **texprs = ferry__calloc(j->ntcols + t->ntk, sizeof(char *));
	int rc = texprs ? 0 : OOM(&s->err);
	for (size_t c = 0; rc == 0 && c < j->ntcols + t->ntk; c++)
		if (!(texprs[c] = ferry__qident(s->teng, c < j->ntcols ? j->tcols[c] : t->tk[c - j->ntcols])))
			rc = OOM(&s->err);
	for (size_t k = 0; k < t->ntk; k++) {
		skey[k] = j->ntcols + oj->src_of_tk[k];
		tkey_at[k] = j->ntcols + k;
	}
	ferry_read_spec ss = {
		.table = j->src_table, .nexprs = j->nexprs, .exprs = (const char *const *)j->exprs,
		.filter = j->filter, .nkeys = j->nkeys, .keys = (const char *const *)j->keynames,
		.nparams = j->nparams, .params = j->params,
	};
	ferry_read_spec ts = {
		.table = t->name, .nexprs = j->ntcols + t->ntk, .exprs = (const char *const *)texprs,
		.nkeys = t->ntk, .keys = (const char *const *)t->tk,
	};
	if (rc == 0)
		rc = read_side(s, t, o->eng, o->reread, &ss, skey, j->ttypes, j->ntcols, &src);
	if (rc == 0)
		rc = read_side(s, t, s->teng, s->tconn, &ts, tkey_at, j->ttypes, j->ntcols, &dst);
	ferry_value kv[64];
	for (size_t i = 0; rc == 0 && i < t->drained.n; i++) {
		const uint8_t *cells = t->drained.bytes + t->drained.off[i];
		long a = ferry__keyset_find(&src.keys, cells, t->drained.clen[i]);
		long b = ferry__keyset_find(&dst.keys, cells, t->drained.clen[i]);
		int same = a < 0 && b < 0;
		if (a >= 0 && b >= 0)
			same = row_end(&src, (size_t)a) - src.off[a] == row_end(&dst, (size_t)b) - dst.off[b] &&
			       memcmp(src.rows.data + src.off[a], dst.rows.data + dst.off[b],
			              row_end(&src, (size_t)a) - src.off[a]) == 0;
		(*rows)++;
		if (same)
			continue;
		ferry_buf key = FERRY_BUF_INIT;
		ferry__keyset_get(&t->drained, i, kv, t->ntk);
		for (size_t k = 0; k < t->ntk; k++) {
			if (k)
				ferry_buf_puts(&key, ", ");
			ferry__value_text(&key, &kv[k]);
		}
		rc = ferry_err_set(&s->err, FERRY_ERROR,
		                   "cut-over check: row (%s) of target table \"%s\" %s after the drain; the cut-over is called off and the old version stays writable",
		                   key.data ? key.data : "?", t->name,
		                   a < 0 ? "is in the target but not in the source" :
		                   b < 0 ? "is in the source but not in the target" : "differs from the source");
		ferry_buf_free(&key);
	}
	for (size_t c = 0; texprs && c < j->ntcols + t->ntk; c++)
		free(texprs[c]);
	free(texprs);
	side_free(&src);
	side_free(&dst);
	return rc;
}

int ferry__sync_check(sync_state *s, int64_t *rows)
{
	*rows = 0;
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < s->ntargets; i++) {
		otarget *t = &s->targets[i];
		if (t->drained.n && t->njobs == 1 && !t->rebuild)
			rc = check_target(s, t, rows);
		ferry__keyset_reset(&t->drained);
	}
	return rc;
}
