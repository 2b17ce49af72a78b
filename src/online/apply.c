/* apply.c — captured changes applied through the plan, in one target transaction per call:
 * the keys the changes touched are collected per target table, re-read from the source
 * through each feeding job's select list (so renames, expressions, defaults and the where
 * are the copy's own), upserted, and deleted where the source no longer has them. Parents
 * are written before children and children deleted before parents. A merged table's
 * touched rows are deleted and rebuilt from every source by its conflict rules. */
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include "online.h"
#include "../pipeline/lease.h"
#include "../pipeline/sched.h"
#include "../verify/verify.h"

int64_t ferry__wall_us(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* The canonical cells of a target key, by the target key's column types. */
int ferry__key_cells(ferry_buf *b, const otarget *t, const ferry_value *tkey)
{
	ferry_buf_reset(b);
	for (size_t k = 0; k < t->ntk; k++)
		if (ferry__canon_cell(b, t->tktypes[k], &tkey[k]) != 0)
			return FERRY_ENOMEM;
	return b->failed ? FERRY_ENOMEM : 0;
}

int ferry__holds_key(sync_state *s, const ferry_engine *e, ferry_conn *c, const char *table,
                     char *const *keys, size_t nkeys, const ferry_value *key, int *held)
{
	*held = 0;
	char **cols = ferry__calloc(nkeys ? nkeys : 1, sizeof(char *));
	int rc = cols ? 0 : OOM(&s->err);
	for (size_t k = 0; rc == 0 && k < nkeys; k++)
		if (!(cols[k] = ferry__qident(e, keys[k])))
			rc = OOM(&s->err);
	ferry_read_spec spec = {
		.table = table, .nexprs = nkeys, .exprs = (const char *const *)cols, .nkeys = nkeys,
		.keys = (const char *const *)keys, .nmatch = 1, .match = key,
	};
	ferry_reader *r = NULL;
	ferry_batch *b = rc ? NULL : ferry__batch_new(nkeys, 4);
	if (rc == 0 && !b)
		rc = OOM(&s->err);
	if (rc == 0)
		rc = e->read->reader_open(&r, c, &spec, &s->err);
	for (int eof = 0; rc == 0 && !eof && !*held;) {
		ferry__batch_reset(b);
		rc = e->read->reader_next(r, b, &eof, &s->err);
		*held = rc == 0 && ferry_batch_nrows(b) > 0;
	}
	if (r)
		e->read->reader_close(r);
	ferry__batch_free(b);
	for (size_t k = 0; cols && k < nkeys; k++)
		free(cols[k]);
	free(cols);
	return rc;
}

/* A rejected change: recorded in the target's ferry_rejects under the job, counted against
 * max_rejects (past it, the batch fails with FERRY_EREJECT). key is the source key (JSON). */
static int reject_change(sync_state *s, const job *j, const char *key, const char *reason)
{
	int e = ferry__state_reject(s->teng, s->tconn, s->splan.run_digest, (int64_t)j->id, -1, j->dst_table, key,
	                            reason, &s->err);
	s->st.rows_rejected++;
	if (e == 0 && s->st.rows_rejected > s->max_rejects)
		e = ferry_err_set(&s->err, FERRY_EREJECT,
		                  "%lld rows were rejected by the target while streaming (allowed: %lld); the last: %s: %s",
		                  (long long)s->st.rows_rejected, (long long)s->max_rejects, j->dst_table, reason);
	return e;
}

/* A change whose key holds NULL (SQLite allows it outside the rowid alias) cannot name its
 * row in the target (a NULL equals nothing there): each job of the table rejects it,
 * instead of the change vanishing. */
static int reject_null_key(sync_state *s, const otable *ot, const ferry_value *key)
{
	for (size_t q = 0; q < ot->njobs; q++) {
		job *j = s->ojobs[ot->jobs[q]].j;
		ferry_buf kj = FERRY_BUF_INIT, names = FERRY_BUF_INIT, why = FERRY_BUF_INIT;
		ferry__values_json(&kj, key, j->nkeys);
		for (size_t k = 0; k < j->nkeys; k++)
			ferry_buf_printf(&names, "%s\"%s\"", k ? ", " : "", j->keynames[k]);
		ferry_buf_printf(&why,
		                 "a change of table \"%s\" has NULL in its key (%s), which SQLite allows: it cannot name its row in the target (give the row a key in the source)",
		                 j->src_table, names.data ? names.data : "");
		int rc = kj.failed || names.failed || why.failed ? OOM(&s->err) : reject_change(s, j, kj.data, why.data);
		ferry_buf_free(&kj);
		ferry_buf_free(&names);
		ferry_buf_free(&why);
		if (rc)
			return rc;
	}
	return 0;
}

/* Both ways: whether only deletes touched the key just added to t->touched (a spurious delete
 * is told apart in both.c). */
static int touch_del(otarget *t, const uint8_t *cells, size_t clen, size_t before, int del)
{
	if (ferry__grow(&t->tdel, &t->tdel_cap, t->touched.n, 1) != 0)
		return FERRY_ENOMEM;
	long at = ferry__keyset_find(&t->touched, cells, clen);
	t->tdel[at] = t->touched.n > before ? (uint8_t)del : (uint8_t)(t->tdel[at] && del);
	return 0;
}

/* A change's key (the source key, in the captured table's key order) into every target
 * table a job of that table writes. */
static int touch_key(sync_state *s, const otable *ot, const ferry_value *key, int64_t commit_us, int del)
{
	ferry_value tkey[64];
	if (ot->njobs) {
		const job *j0 = s->ojobs[ot->jobs[0]].j;
		for (size_t k = 0; k < j0->nkeys; k++)
			if (key[k].type == FERRY_NULL)
				return reject_null_key(s, ot, key);
	}
	for (size_t q = 0; q < ot->njobs; q++) {
		ojob *oj = &s->ojobs[ot->jobs[q]];
		otarget *t = &s->targets[oj->target];
		if (t->ntk > 64)
			return ferry_err_set(&s->err, FERRY_EUSAGE, "target table \"%s\" has a key of more than 64 columns",
			                     t->name);
		for (size_t k = 0; k < t->ntk; k++)
			tkey[k] = key[oj->src_of_tk[k]];
		if (ferry__key_cells(&s->cells, t, tkey) != 0)
			return OOM(&s->err);
		/* Both ways: the newest commit time of each key, for last_commit. */
		size_t before = t->touched.n;
		int rc = s->peer ? ferry__keyset_add_newest(&t->touched, (const uint8_t *)s->cells.data, s->cells.len,
		                                            tkey, t->ntk, commit_us, &t->tus, &t->tus_cap)
		                 : ferry__keyset_add(&t->touched, (const uint8_t *)s->cells.data, s->cells.len, tkey,
		                                     t->ntk, NULL);
		if (rc == 0 && s->peer)
			rc = touch_del(t, (const uint8_t *)s->cells.data, s->cells.len, before, del);
		if (rc)
			return OOM(&s->err);
	}
	return 0;
}

static int cmp_level(const void *a, const void *b, void *ud)
{
	const sync_state *s = ud;
	int la = s->targets[*(const size_t *)a].level, lb = s->targets[*(const size_t *)b].level;
	return la < lb ? -1 : la > lb;
}

/* Delete one target row by its key, inside the open transaction. */
static int delete_key(sync_state *s, otarget *t, const ferry_value *tkey)
{
	ferry_buf *q = &s->sql;
	ferry_buf_reset(q);
	char *qt = ferry__qident(s->teng, t->name);
	ferry_buf_printf(q, "DELETE FROM %s WHERE ", qt ? qt : "");
	free(qt);
	for (size_t k = 0; k < t->ntk; k++) {
		char *qc = ferry__qident(s->teng, t->tk[k]);
		ferry_buf_printf(q, "%s%s = $%zu", k ? " AND " : "", qc ? qc : "", k + 1);
		free(qc);
	}
	/* The way back leaves the rows the forward plan's where never carried. */
	if (t->guard)
		ferry_buf_printf(q, " AND (%s)", t->guard);
	if (q->failed)
		return OOM(&s->err);
	int64_t n = 0;
	int rc = s->teng->core->exec_params(s->tconn, q->data, t->ntk, tkey, &n, &s->err);
	if (rc == 0)
		s->st.rows_deleted += n;
	return rc;
}

/* The next free batch of oj's held rows. */
static ferry_batch *hold_next(sync_state *s, ojob *oj)
{
	if (oj->used == oj->nheld) {
		ferry_batch *b = ferry__batch_new(oj->j->nexprs, 1024);
		if (!b || ferry__grow(&oj->held, &oj->held_cap, oj->nheld + 1, sizeof(ferry_batch *)) != 0) {
			ferry__batch_free(b);
			OOM(&s->err);
			return NULL;
		}
		oj->held[oj->nheld++] = b;
	}
	ferry_batch *b = oj->held[oj->used++];
	ferry__batch_reset(b);
	return b;
}

/* Mark the touched keys that rows of batch b hold (their source key read back). */
static int mark_found(sync_state *s, ojob *oj, otarget *t, const ferry_batch *b)
{
	ferry_value tkey[64];
	job *j = oj->j;
	for (size_t r = 0; r < ferry_batch_nrows(b); r++) {
		const ferry_value *row = ferry_batch_crow(b, r);
		for (size_t k = 0; k < t->ntk; k++)
			tkey[k] = row[j->ntcols + oj->src_of_tk[k]];
		if (ferry__key_cells(&s->cells, t, tkey) != 0)
			return OOM(&s->err);
		long at = ferry__keyset_find(&t->touched, (const uint8_t *)s->cells.data, s->cells.len);
		if (at >= 0)
			t->found[at] = 1;
	}
	return 0;
}

/* Re-read keys [from, from + n) of t's touched set through job oj and hold what the source
 * has. */
static int reread(sync_state *s, ojob *oj, otarget *t, size_t from, size_t n)
{
	job *j = oj->j;
	osource *o = &s->os[j->src];
	ferry_value tkey[64];
	if (ferry__grow(&s->match, &s->match_cap, n * j->nkeys, sizeof(ferry_value)) != 0)
		return OOM(&s->err);
	for (size_t i = 0; i < n; i++) {
		if (ferry__keyset_get(&t->touched, from + i, tkey, t->ntk) != 0)
			return ferry_err_set(&s->err, FERRY_ECORRUPT, "a touched key could not be decoded");
		for (size_t k = 0; k < t->ntk; k++)
			s->match[i * j->nkeys + oj->src_of_tk[k]] = tkey[k];
	}
	ferry_read_spec spec = {
		.table = j->src_table, .nexprs = j->nexprs, .exprs = (const char *const *)j->exprs,
		.filter = j->filter, .nkeys = j->nkeys, .keys = (const char *const *)j->keynames,
		.nparams = j->nparams, .params = j->params, .nmatch = n, .match = s->match,
	};
	ferry_reader *r = NULL;
	int rc = o->eng->read->reader_open(&r, o->reread, &spec, &s->err);
	int eof = 0;
	while (rc == 0 && !eof) {
		ferry_batch *b = hold_next(s, oj);
		if (!b)
			rc = FERRY_ENOMEM;
		if (rc == 0)
			rc = o->eng->read->reader_next(r, b, &eof, &s->err);
		if (rc == 0)
			rc = mark_found(s, oj, t, b);
	}
	if (r)
		o->eng->read->reader_close(r);
	return rc;
}

/* The way back: which touched keys of t name an old row the forward plan's where leaves
 * alone (it was never carried, so the new version's row of that key is another row). */
static int find_outside(sync_state *s, otarget *t, size_t from, size_t n)
{
	ferry_value tkey[64];
	char **cols = ferry__calloc(t->ntk, sizeof(char *));
	char *filter = ferry__sprintf("CASE WHEN (%s) THEN 0 ELSE 1 END = 1", t->guard);
	int rc = cols && filter ? 0 : OOM(&s->err);
	for (size_t k = 0; rc == 0 && k < t->ntk; k++)
		if (!(cols[k] = ferry__qident(s->teng, t->tk[k])))
			rc = OOM(&s->err);
	if (rc == 0 && ferry__grow(&s->match, &s->match_cap, n * t->ntk, sizeof(ferry_value)) != 0)
		rc = OOM(&s->err);
	for (size_t i = 0; rc == 0 && i < n; i++)
		if (ferry__keyset_get(&t->touched, from + i, &s->match[i * t->ntk], t->ntk) != 0)
			rc = ferry_err_set(&s->err, FERRY_ECORRUPT, "a touched key could not be decoded");
	ferry_read_spec spec = {
		.table = t->name, .nexprs = t->ntk, .exprs = (const char *const *)cols, .filter = filter,
		.nkeys = t->ntk, .keys = (const char *const *)t->tk, .nmatch = n, .match = s->match,
	};
	ferry_reader *r = NULL;
	ferry_batch *b = rc ? NULL : ferry__batch_new(t->ntk, 256);
	if (rc == 0 && !b)
		rc = OOM(&s->err);
	if (rc == 0)
		rc = s->teng->read->reader_open(&r, s->tconn, &spec, &s->err);
	int eof = 0;
	while (rc == 0 && !eof) {
		ferry__batch_reset(b);
		rc = s->teng->read->reader_next(r, b, &eof, &s->err);
		for (size_t i = 0; rc == 0 && i < ferry_batch_nrows(b); i++) {
			const ferry_value *row = ferry_batch_crow(b, i);
			for (size_t k = 0; k < t->ntk; k++)
				tkey[k] = row[k];
			if (ferry__key_cells(&s->cells, t, tkey) != 0 ||
			    ferry__keyset_add(&t->outside, (const uint8_t *)s->cells.data, s->cells.len, tkey, t->ntk, NULL) != 0)
				rc = OOM(&s->err);
		}
	}
	if (r)
		s->teng->read->reader_close(r);
	ferry__batch_free(b);
	for (size_t k = 0; cols && k < t->ntk; k++)
		free(cols[k]);
	free(cols);
	free(filter);
	return rc;
}

/* Re-read every touched key of t, job by job, holding the rows. */
static int reread_target(sync_state *s, otarget *t)
{
	if (ferry__grow(&t->found, &t->found_cap, t->touched.n, 1) != 0)
		return OOM(&s->err);
	memset(t->found, 0, t->touched.n);
	ferry__keyset_reset(&t->outside);
	for (size_t from = 0; t->guard && from < t->touched.n; from += MATCH_MAX) {
		size_t n = t->touched.n - from < MATCH_MAX ? t->touched.n - from : MATCH_MAX;
		int rc = find_outside(s, t, from, n);
		if (rc)
			return rc;
	}
	for (size_t q = 0; q < t->njobs; q++) {
		ojob *oj = &s->ojobs[t->jobs[q]];
		oj->used = 0;
		int rc = 0;
		for (size_t from = 0; rc == 0 && from < t->touched.n; from += MATCH_MAX) {
			size_t n = t->touched.n - from < MATCH_MAX ? t->touched.n - from : MATCH_MAX;
			rc = reread(s, oj, t, from, n);
		}
		if (rc)
			return rc;
	}
	return 0;
}

/* A row the target refused: kept to be tried again once the other rows are written (a
 * unique value moving from one row to another), and rejected only if it still fails then. */
typedef struct reject_ctx {
	sync_state *s;
	ojob *oj;
	const ferry_batch *b;
	ferry_batch *into;         /* where refused rows go; NULL: the last round, reject them */
	size_t refused;
} reject_ctx;

static int copy_row(ferry_batch *dst, const ferry_value *src, size_t ncols)
{
	ferry_value *row = ferry_batch_add_row(dst);
	if (!row)
		return FERRY_ENOMEM;
	for (size_t c = 0; c < ncols; c++) {
		row[c] = src[c];
		if ((src[c].type != FERRY_NULL && src[c].type != FERRY_INT && src[c].type != FERRY_FLOAT &&
		     src[c].type != FERRY_BOOL) &&
		    !(row[c].v.s = ferry_batch_copy(dst, src[c].v.s, src[c].len)))
			return FERRY_ENOMEM;
	}
	return 0;
}

static int on_reject(void *ud, size_t row, const char *reason)
{
	reject_ctx *rc = ud;
	sync_state *s = rc->s;
	job *j = rc->oj->j;
	const ferry_value *v = ferry_batch_crow(rc->b, row);
	rc->refused++;
	if (rc->into)
		return copy_row(rc->into, v, j->nexprs) ? OOM(&s->err) : 0;
	ferry_buf key = FERRY_BUF_INIT;
	ferry__values_json(&key, &v[j->ntcols], j->nkeys);
	int e = key.failed ? OOM(&s->err) : reject_change(s, j, key.data, reason);
	ferry_buf_free(&key);
	return e;
}

static int open_writer(sync_state *s, ojob *oj)
{
	job *j = oj->j;
	if (oj->w)
		return 0;
	ferry_write_spec spec = {
		.table = j->dst_table, .ncols = j->ntcols, .cols = (const char *const *)j->tcols,
		.types = j->ttypes, .map = j->map, .merge = 1, .conflict = oj->rules,
	};
	if (!oj->retry && !(oj->retry = ferry__batch_new(j->nexprs, 2 * CHANGES_MAX)))
		return OOM(&s->err);
	if (!oj->retry2 && !(oj->retry2 = ferry__batch_new(j->nexprs, 2 * CHANGES_MAX)))
		return OOM(&s->err);
	return s->teng->write->writer_open(&oj->w, s->tconn, &spec, &s->err);
}

/* The way back leaves an old row outside the forward plan's where alone: the new version's
 * row of that key is refused, by name, instead of overwriting it. */
static int keep_outside(sync_state *s, ojob *oj, ferry_batch *b)
{
	otarget *t = &s->targets[oj->target];
	if (!t->outside.n)
		return 0;
	reject_ctx rj = {s, oj, b, NULL, 0};
	ferry_value tkey[64];
	size_t n = ferry_batch_nrows(b), keep = 0;
	char *why = ferry__sprintf("the old version's row of this key lies outside the plan's where (%s), which the way back leaves alone",
	                           t->guard);
	if (!why)
		return OOM(&s->err);
	int rc = 0;
	for (size_t r = 0; rc == 0 && r < n; r++) {
		ferry_value *row = ferry_batch_row(b, r);
		for (size_t k = 0; k < t->ntk; k++)
			tkey[k] = row[oj->j->ntcols + oj->src_of_tk[k]];
		if (ferry__key_cells(&s->cells, t, tkey) != 0) {
			rc = OOM(&s->err);
			break;
		}
		if (ferry__keyset_find(&t->outside, (const uint8_t *)s->cells.data, s->cells.len) >= 0) {
			rc = on_reject(&rj, r, why);
			continue;
		}
		if (keep != r)
			memcpy(ferry_batch_row(b, keep), row, ferry_batch_ncols(b) * sizeof(ferry_value));
		keep++;
	}
	free(why);
	if (rc == 0)
		ferry__batch_truncate(b, keep);
	return rc;
}

/* Write one batch; refused rows go to into (or are rejected when into is NULL). */
static int write_batch(sync_state *s, ojob *oj, ferry_batch *b, ferry_batch *into, size_t *refused)
{
	int rc = keep_outside(s, oj, b);
	/* The copy's guard first: a value SQLite's affinity would change is rejected, never
	 * deferred (no later change makes it fit). */
	if (rc == 0 && (s->teng->flags & FERRY_ENGINE_NUMERIC_AFFINITY)) {
		reject_ctx gj = {s, oj, b, NULL, 0};
		rc = ferry__guard_check(oj->j, b, on_reject, &gj, &s->err);
	}
	reject_ctx rj = {s, oj, b, into, 0};
	if (rc == 0 && ferry_batch_nrows(b))
		rc = s->teng->write->writer_write(oj->w, b, on_reject, &rj, &s->err);
	s->st.rows_upserted += (int64_t)(ferry_batch_nrows(b) - rj.refused);
	*refused += rj.refused;
	return rc;
}

/* Rows still refused when nothing else helps: most often the re-read ran ahead of the stream
 * (the row now holds a unique value another row gives up in a change not applied yet), so
 * their keys are kept to be applied again together with the changes that follow. */
static int defer_rows(sync_state *s, ojob *oj, otarget *t)
{
	ferry_value tkey[64];
	const ferry_batch *b = oj->retry;
	for (size_t r = 0; r < ferry_batch_nrows(b); r++) {
		const ferry_value *row = ferry_batch_crow(b, r);
		for (size_t k = 0; k < t->ntk; k++)
			tkey[k] = row[oj->j->ntcols + oj->src_of_tk[k]];
		if (ferry__key_cells(&s->cells, t, tkey) != 0)
			return OOM(&s->err);
		/* Both ways: the key's commit time goes with it, or the next round's settle would
		 * decide its conflict on another key's time. */
		const uint8_t *cells = (const uint8_t *)s->cells.data;
		long at = s->peer ? ferry__keyset_find(&t->touched, cells, s->cells.len) : -1;
		int rc = s->peer ? ferry__keyset_add_newest(&t->again, cells, s->cells.len, tkey, t->ntk,
		                                            at >= 0 ? t->tus[at] : ferry__wall_us(), &t->again_us,
		                                            &t->again_cap)
		                 : ferry__keyset_add(&t->again, cells, s->cells.len, tkey, t->ntk, NULL);
		if (rc)
			return OOM(&s->err);
		s->deferred++;
	}
	return 0;
}

/* The deferred keys touched again, for the next round. */
static int requeue(sync_state *s)
{
	ferry_value tkey[64];
	for (size_t i = 0; i < s->ntargets; i++) {
		otarget *t = &s->targets[i];
		for (size_t k = 0; k < t->again.n; k++) {
			const uint8_t *cells = t->again.bytes + t->again.off[k];
			int rc = ferry__keyset_get(&t->again, k, tkey, t->ntk);
			size_t before = t->touched.n;
			if (rc == 0)
				rc = s->peer ? ferry__keyset_add_newest(&t->touched, cells, t->again.clen[k], tkey, t->ntk,
				                                    t->again_us[k], &t->tus, &t->tus_cap)
				         : ferry__keyset_add(&t->touched, cells, t->again.clen[k], tkey, t->ntk, NULL);
			if (rc == 0 && s->peer)
				rc = touch_del(t, cells, t->again.clen[k], before, 0);
			if (rc)
				return OOM(&s->err);
		}
		ferry__keyset_reset(&t->again);
	}
	return 0;
}

/* Whether another target table references t by a foreign key (then a row of t is never
 * deleted to be written again: the reference would refuse it, or cascade). */
static int referenced(sync_state *s, const otarget *t)
{
	const ferry_schema *sc[2] = {s->tschema, s->js.created};
	for (int k = 0; k < 2; k++)
		for (size_t i = 0; sc[k] && i < ferry_schema_count(sc[k]); i++) {
			const ferry_table *tt = ferry_schema_table(sc[k], i);
			for (size_t f = 0; f < tt->nfks; f++)
				if (strcmp(tt->fks[f].ref_table, t->name) == 0)
					return 1;
		}
	return 0;
}

/* Rows that refuse each other: unique values moved around a cycle between rows the batch
 * touched (Q: E -> X, R: F -> E, Q: X -> F). Re-read, each holds its final value, and each
 * upsert meets the other's old one. Their target rows are deleted (each is about to be
 * written whole) and the rows written again; what still fails goes on as before. */
static int break_cycle(sync_state *s, ojob *oj, otarget *t, size_t *refused)
{
	ferry_value tkey[64];
	const ferry_batch *b = oj->retry;
	if (ferry_batch_nrows(b) < 2 || referenced(s, t))
		return 0;
	for (size_t r = 0; r < ferry_batch_nrows(b); r++) {
		const ferry_value *row = ferry_batch_crow(b, r);
		for (size_t k = 0; k < t->ntk; k++)
			tkey[k] = row[oj->j->ntcols + oj->src_of_tk[k]];
		int rc = delete_key(s, t, tkey);
		if (rc)
			return rc;
	}
	ferry__batch_reset(oj->retry2);
	size_t again = 0;
	int rc = write_batch(s, oj, oj->retry, oj->retry2, &again);
	ferry_batch *tmp = oj->retry;
	oj->retry = oj->retry2;
	oj->retry2 = tmp;
	*refused = again;
	return rc;
}

/* Write the held rows of every job of t, then the refused ones again while that helps. */
static int upsert_target(sync_state *s, otarget *t)
{
	for (size_t q = 0; q < t->njobs; q++) {
		ojob *oj = &s->ojobs[t->jobs[q]];
		int rc = open_writer(s, oj);
		size_t refused = 0;
		if (rc == 0)
			ferry__batch_reset(oj->retry);
		for (size_t i = 0; rc == 0 && i < oj->used; i++)
			rc = write_batch(s, oj, oj->held[i], oj->retry, &refused);
		/* Each round writes what it can; a round that writes nothing ends it. */
		while (rc == 0 && refused) {
			size_t before = ferry_batch_nrows(oj->retry), again = 0;
			ferry__batch_reset(oj->retry2);
			rc = write_batch(s, oj, oj->retry, oj->retry2, &again);
			ferry_batch *tmp = oj->retry;
			oj->retry = oj->retry2;
			oj->retry2 = tmp;
			refused = again;
			if (rc == 0 && again && again == before && !t->rebuild) {
				rc = break_cycle(s, oj, t, &again);
				refused = again;
			}
			if (rc == 0 && again && again == before) {
				size_t none = 0;
				rc = s->defer ? defer_rows(s, oj, t) : write_batch(s, oj, oj->retry, NULL, &none);
				refused = 0;
			}
		}
		if (rc)
			return rc;
	}
	return 0;
}

/* Delete t's touched keys: all of them (a rebuilt merge), or those no source row holds. */
static int delete_target(sync_state *s, otarget *t, int all)
{
	ferry_value tkey[64];
	for (size_t i = 0; i < t->touched.n; i++) {
		if (!all && t->found[i])
			continue;
		if (ferry__keyset_get(&t->touched, i, tkey, t->ntk) != 0)
			return ferry_err_set(&s->err, FERRY_ECORRUPT, "a touched key could not be decoded");
		int rc = delete_key(s, t, tkey);
		if (rc)
			return rc;
	}
	return 0;
}

/* Apply every key touched so far: every key re-read from the sources first; then deletes,
 * children first (a rebuilt merge loses all its touched rows, the others those no source
 * holds), so a unique value a deleted row held is free; then the rows written, parents
 * first. */
static int flush(sync_state *s)
{
	size_t order[256], n = 0;
	for (size_t i = 0; i < s->ntargets && n < FERRY_ARRAY_LEN(order); i++)
		if (s->targets[i].touched.n)
			order[n++] = i;
	if (n == 0)
		return 0;
	qsort_r(order, n, sizeof(size_t), cmp_level, s);
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = reread_target(s, &s->targets[order[i]]);
	for (size_t i = n; rc == 0 && i-- > 0;)
		rc = delete_target(s, &s->targets[order[i]], s->targets[order[i]].rebuild);
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = upsert_target(s, &s->targets[order[i]]);
	for (size_t i = 0; rc == 0 && s->checking && i < n; i++) {
		otarget *t = &s->targets[order[i]];
		ferry_value tkey[64];
		for (size_t k = 0; rc == 0 && k < t->touched.n; k++) {
			rc = ferry__keyset_get(&t->touched, k, tkey, t->ntk);
			if (rc == 0)
				rc = ferry__keyset_add(&t->drained, t->touched.bytes + t->touched.off[k], t->touched.clen[k],
				                       tkey, t->ntk, NULL);
		}
		if (rc)
			rc = OOM(&s->err);
	}
	for (size_t i = 0; i < n; i++)
		ferry__keyset_reset(&s->targets[order[i]].touched);
	return rc;
}

/* TRUNCATE of a source table: the target tables its jobs write are emptied, unless another
 * job also writes them (then the rows cannot be told apart). */
static int truncate_for(sync_state *s, const otable *ot)
{
	for (size_t q = 0; q < ot->njobs; q++) {
		ojob *oj = &s->ojobs[ot->jobs[q]];
		otarget *t = &s->targets[oj->target];
		if (t->njobs > 1 || oj->j->filter || t->guard)
			return ferry_err_set(&s->err, FERRY_EUSAGE,
			                     "source table \"%s\" was truncated: target table \"%s\" also holds rows %s, so ferry cannot tell which to remove; rerun the copy of that table",
			                     ot->name, t->name, t->njobs > 1 ? "of other sources" : "the plan's where leaves alone");
		char *qt = ferry__qident(s->teng, t->name);
		char *sql = qt ? ferry__sprintf("DELETE FROM %s", qt) : NULL;
		free(qt);
		if (!sql)
			return OOM(&s->err);
		int rc = s->teng->core->exec(s->tconn, sql, &s->err);
		free(sql);
		if (rc)
			return rc;
	}
	return 0;
}

/* A heartbeat's text is "hb <microseconds since the epoch>": its trip is the lag. */
static void on_marker(sync_state *s, osource *o, const ferry_change *c)
{
	long long sent = 0;
	if (c->marker && s->freeze_text[0] && strcmp(c->marker, s->freeze_text) == 0)
		o->freeze_seen = 1;
	if (c->marker && s->defer_text[0] && strcmp(c->marker, s->defer_text) == 0)
		s->defer_seen = 1;
	if (!c->marker || sscanf(c->marker, "hb %lld", &sent) != 1)
		return;
	s->st.lag_seconds = (double)(ferry__wall_us() - sent) / 1e6;
	if (s->beat_sent[0] && strcmp(c->marker, s->beat_sent) == 0)
		o->beat_seen = 1;
}

static int collect(sync_state *s, osource *o, const ferry_change *c)
{
	if (c->op == FERRY_CHANGE_MARKER) {
		on_marker(s, o, c);
		return 0;
	}
	if (c->table >= o->ntables)
		return ferry_err_set(&s->err, FERRY_ECORRUPT, "a captured change names table %zu of %zu",
		                     c->table, o->ntables);
	const otable *ot = &o->otables[c->table];
	if (c->op == FERRY_CHANGE_TRUNCATE) {
		int rc = o->eng->capture->settle ? o->eng->capture->settle(o->cap, o->reread, &s->err) : 0;
		rc = rc ? rc : flush(s);
		return rc ? rc : truncate_for(s, ot);
	}
	int del = c->op == FERRY_CHANGE_DELETE;
	int rc = c->old_key ? touch_key(s, ot, c->old_key, c->commit_us, del) : 0;
	if (rc == 0 && c->new_key)
		rc = touch_key(s, ot, c->new_key, c->commit_us, del);
	/* Both ways: a row that moved to another key wins or loses a conflict whole. */
	if (rc == 0 && s->peer && c->old_key && c->new_key)
		rc = ferry__both_moved(s, ot, c->old_key, c->new_key);
	return rc;
}

/* Collect n changes of o: their keys into the targets' touched sets, the position of the
 * last complete source transaction into *end, the newest commit time into *commit_us. */
static int collect_all(sync_state *s, osource *o, const ferry_change *ch, size_t n, uint64_t *end,
                       int64_t *commit_us)
{
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		rc = collect(s, o, &ch[i]);
		if (ch[i].txn_end)
			*end = ch[i].pos;
		if (ch[i].commit_us && ch[i].op != FERRY_CHANGE_MARKER)
			*commit_us = ch[i].commit_us;
	}
	return rc;
}

int ferry__sync_apply(sync_state *s, size_t src, ferry_change *ch, size_t n)
{
	osource *o = &s->os[src];
	uint64_t end = 0;
	int64_t commit_us = 0;
	size_t applied = n;
	/* Both ways: the target's other writers held off, ferry's writes marked, the other
	 * direction's changes read up to now (both.c): most of them before anything is held,
	 * the rest under the locks. Not for a batch of markers alone: it writes no row, and
	 * the sync point's own marker would make the other direction's next batch, and so
	 * on, back and forth while nothing happens. */
	int rows = 0;
	for (size_t i = 0; i < n && !rows; i++)
		rows = ch[i].op != FERRY_CHANGE_MARKER;
	int both = s->peer && rows;
	int rc = both ? ferry__both_drain(s) : 0;
	if (rc == 0)
		rc = s->teng->core->begin(s->tconn, &s->err);
	if (rc == FERRY_EBUSY && s->peer)
		return ferry__both_busy(s, src, ch, n);
	if (rc)
		return rc;
	if (both)
		rc = ferry__both_begin(s);
	if (rc == FERRY_EBUSY) {
		ferry_err keep = s->err;
		s->teng->core->rollback(s->tconn, &s->err);
		s->err = keep;
		return ferry__both_busy(s, src, ch, n);
	}
	if (rc == 0)
		rc = collect_all(s, o, ch, n, &end, &commit_us);
	if (rc == 0 && both)
		rc = ferry__both_settle(s);
	/* Rows refused only for now are applied again with the changes that follow: the change
	 * that frees a unique value a re-read row holds committed before that row's state was
	 * read, so it is on its way, however slowly the stream brings it. A marker is sent
	 * through the stream at the first refusal: once it is back, every change committed
	 * before the re-read has been collected, and a row still refused then is rejected. A
	 * frozen source (the cut-over's drain) has its freeze for a marker. */
	int marked = 0, marks = 0;
	s->defer_seen = 0;
	for (int round = 0; rc == 0; round++) {
		int all_in = o->frozen ? o->freeze_seen || (o->freeze_pos && end + 1 >= o->freeze_pos)
		                       : s->defer_seen;
		/* The rows re-read since the marker was sent may be ahead of it in turn (the
		 * application writes on): a few more markers before a refusal is final. */
		if (all_in && !o->frozen && marks < 8) {
			all_in = 0;
			s->defer_seen = 0;
			marked = 0;
		}
		s->defer = round < DEFER_ROUNDS && !all_in;
		s->deferred = 0;
		if (o->eng->capture->settle)
			rc = o->eng->capture->settle(o->cap, o->reread, &s->err);
		if (rc == 0)
			rc = flush(s);
		if (rc || !s->deferred)
			break;
		size_t m = 0;
		rc = requeue(s);
		if (rc == 0)
			rc = ferry__sync_next(s, src, ch, CHANGES_MAX, &m, 50);
		if (rc == 0)
			rc = collect_all(s, o, ch, m, &end, &commit_us);
		if (rc == 0 && both)
			rc = ferry__both_settle(s);
		applied += m;
		if (rc == 0 && !marked && !o->frozen) {
			snprintf(s->defer_text, sizeof(s->defer_text), "defer %lld", (long long)ferry__wall_us());
			rc = o->eng->capture->marker(o->admin, s->splan.run_digest, s->defer_text, NULL, &s->err);
			marked = 1;
			marks++;
		}
	}
	s->defer_text[0] = '\0';
	/* A sync that was paused or cut off while another took the run over commits nothing. */
	if (rc == 0)
		rc = ferry__lease_fence(s->lease, s->tconn, &s->err);
	if (rc == 0 && both)
		rc = ferry__both_end(s);
	if (rc == 0 && end > o->pos)
		rc = ferry__state_position_set(s->teng, s->tconn, s->splan.run_digest, src, end, &s->err);
	if (rc == 0)
		rc = s->teng->core->commit(s->tconn, &s->err);
	if (rc) {
		ferry_err keep = s->err;
		s->teng->core->rollback(s->tconn, &s->err);
		s->err = keep;
		for (size_t i = 0; i < s->ntargets; i++) {
			ferry__keyset_reset(&s->targets[i].touched);
			ferry__keyset_reset(&s->targets[i].again);
		}
		return rc;
	}
	if (commit_us) {
		s->st.lag_seconds = (double)(ferry__wall_us() - commit_us) / 1e6;
		s->lags[s->nlags++ % FERRY_ARRAY_LEN(s->lags)] = (float)s->st.lag_seconds;
	}
	s->st.changes_applied += (int64_t)applied;
	if (end > o->pos) {
		o->pos = end;
		rc = o->eng->capture->ack(o->cap, end, &s->err);
	}
	return rc;
}
