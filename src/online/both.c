/* both.c — ferry sync --both-ways (docs/ONLINE.md, "Both versions live"): the forward stream
 * (old -> new, through the plan) and the way back (new -> old, through its inverse) run at
 * once in one process, each a sync_state whose peer is the other.
 *
 * Every apply transaction of one direction begins by holding off the other writers of its
 * target (the engine's origin: SQLite's write lock, PostgreSQL's table locks) and marking its
 * writes as ferry's own, which the capture of that database — the peer's — never delivers, so
 * no change loops. Still holding them, it reads everything the peer's capture has up to now
 * into the peer's queue (a sync point: SQLite has nothing more to read; PostgreSQL delivers a
 * marker sent after the locks); most of it was read just before, with nothing held, so the
 * locks last a moment whatever the peer's backlog. Every table the direction writes is held
 * from the start: a later round of the transaction takes no new lock. A key this
 * transaction touches that the queue also holds was written on both sides within the lag:
 * a conflict, settled by the table's rule. The side
 * that wins is written (the loser's own change then re-reads the winner's row and carries it
 * back, which changes nothing), the losing key leaves the touched set, and the conflict is a
 * row of ferry_conflicts in the same transaction. A write on the target after the sync point
 * waits for the commit, so it follows ferry's write and is no conflict. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "online.h"

#define SYNC_POINT_WAIT_S 60.0
/* The target's tables busy (an application's transaction holds them): the first wait
 * before trying again, its cap as it doubles, when the wait is first said and how often
 * after that. */
#define HOLD_BACKOFF_MIN 0.2
#define HOLD_BACKOFF_MAX 2.0
#define HOLD_SAY_FIRST 10.0
#define HOLD_SAY_S 30.0

/* ---- the queue ------------------------------------------------------------------------ */

/* A deep copy of change c of source o at the end of o's queue. */
static int queue_push(sync_state *s, osource *o, const ferry_change *c)
{
	size_t nk = c->op == FERRY_CHANGE_MARKER || c->op == FERRY_CHANGE_TRUNCATE || c->table >= o->ntables
	                ? 0
	                : o->tables[c->table].nkeys;
	size_t nv = (c->old_key ? nk : 0) + (c->new_key ? nk : 0);
	size_t bytes = nv * sizeof(ferry_value) + (c->marker ? strlen(c->marker) + 1 : 0);
	for (size_t k = 0; k < nk; k++) {
		if (c->old_key && (c->old_key[k].type == FERRY_TEXT || c->old_key[k].type == FERRY_BLOB))
			bytes += c->old_key[k].len + 1;
		if (c->new_key && (c->new_key[k].type == FERRY_TEXT || c->new_key[k].type == FERRY_BLOB))
			bytes += c->new_key[k].len + 1;
	}
	if (ferry__grow(&o->q, &o->qcap, o->nq + 1, sizeof(*o->q)) != 0)
		return OOM(&s->err);
	if (ferry__grow(&o->qmem, &o->qmcap, o->nq + 1, sizeof(void *)) != 0)
		return OOM(&s->err);
	uint8_t *mem = ferry__malloc(bytes ? bytes : 1);
	if (!mem)
		return OOM(&s->err);
	ferry_value *vals = (ferry_value *)mem;
	uint8_t *text = mem + nv * sizeof(ferry_value);
	ferry_change copy = *c;
	const ferry_value *sides[2] = {c->old_key, c->new_key};
	size_t at = 0;
	for (int side = 0; side < 2; side++) {
		if (!sides[side])
			continue;
		ferry_value *dst = &vals[at];
		for (size_t k = 0; k < nk; k++) {
			dst[k] = sides[side][k];
			if (dst[k].type == FERRY_TEXT || dst[k].type == FERRY_BLOB) {
				if (dst[k].len)
					memcpy(text, sides[side][k].v.b, dst[k].len);
				text[dst[k].len] = 0;
				dst[k].v.b = text;
				text += dst[k].len + 1;
			}
		}
		if (side == 0)
			copy.old_key = nk ? dst : NULL;
		else
			copy.new_key = nk ? dst : NULL;
		at += nk;
	}
	if (c->marker) {
		size_t ml = strlen(c->marker);
		memcpy(text, c->marker, ml + 1);
		copy.marker = (const char *)text;
	}
	o->q[o->nq] = copy;
	o->qmem[o->nq++] = mem;
	return 0;
}

static void free_given(osource *o)
{
	for (size_t i = 0; i < o->ngiven; i++)
		free(o->given[i]);
	o->ngiven = 0;
}

int ferry__sync_next(sync_state *s, size_t src, ferry_change *out, size_t max, size_t *n,
                     int timeout_ms)
{
	osource *o = &s->os[src];
	*n = 0;
	free_given(o);
	/* The capture kept alive at each take: served from the queue or waiting, it is not read,
	 * and read, a reply the server asks for may lie behind a batch's worth of changes. */
	int rc = o->cap && o->eng->capture->keepalive ? o->eng->capture->keepalive(o->cap, &s->err) : 0;
	if (rc)
		return rc;
	/* Both ways, the target's tables busy: nothing until the next try (the other direction
	 * goes on meanwhile). */
	double left = s->peer ? s->hold_at - ferry__now() : 0;
	if (left > 0) {
		int ms = left * 1000 < timeout_ms ? (int)(left * 1000) + 1 : timeout_ms;
		struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
		if (ms > 0)
			nanosleep(&ts, NULL);
		return 0;
	}
	if (!o->nq)
		return o->eng->capture->next(o->cap, out, max, n, timeout_ms, &s->err);
	size_t k = o->nq < max ? o->nq : max;
	if (ferry__grow(&o->given, &o->gcap, k, sizeof(void *)) != 0)
		return OOM(&s->err);
	memcpy(out, o->q, k * sizeof(*out));
	memcpy(o->given, o->qmem, k * sizeof(void *));
	o->ngiven = k;
	memmove(o->q, o->q + k, (o->nq - k) * sizeof(*o->q));
	memmove(o->qmem, o->qmem + k, (o->nq - k) * sizeof(void *));
	o->nq -= k;
	o->qhead += k;
	*n = k;
	return 0;
}

void ferry__both_free(sync_state *s)
{
	free(s->sp_ch);
	s->sp_ch = NULL;
	for (size_t i = 0; s->os && s->plan && i < s->plan->nsources; i++) {
		osource *o = &s->os[i];
		free_given(o);
		for (size_t k = 0; k < o->nq; k++)
			free(o->qmem[k]);
		free(o->q);
		free(o->qmem);
		free(o->given);
	}
	for (size_t i = 0; i < s->ntargets; i++) {
		otarget *t = &s->targets[i];
		free(t->tus);
		free(t->again_us);
		free(t->theirs_del);
		free(t->tdel);
		free(t->theirs_us);
		free(t->theirs_live);
		free(t->theirs_useq);
		free(t->theirs_last);
		free(t->theirs_nd);
		free(t->tmvp_seq);
		free(t->peer_perm);
		ferry__keyset_free(&t->theirs);
		ferry__keyset_free(&t->settled);
		ferry__keyset_free(&t->moved);
		free(t->mvp);
		free(t->tmvp);
	}
}

/* ---- one transaction ------------------------------------------------------------------ */

/* Everything the peer's capture holds up to now, into the peer's queue. Before the locks
 * (before = 1) a SQLite peer is read until a batch comes short, not until it is empty: its
 * applications write on meanwhile. */
static int sync_point(sync_state *s, int before)
{
	sync_state *p = s->peer;
	osource *po = &p->os[0];
	if (!s->sp_ch && !(s->sp_ch = ferry__calloc(CHANGES_MAX, sizeof(ferry_change))))
		return OOM(&s->err);
	ferry_change *ch = s->sp_ch;
	int one = po->eng->capture->one_writer;
	int rc = 0, seen = one;
	if (!one) {
		snprintf(s->sp_text, sizeof(s->sp_text), "sp %lld", (long long)ferry__wall_us());
		rc = po->eng->capture->marker(po->admin, p->splan.run_digest, s->sp_text, NULL, &s->err);
	}
	double until = ferry__now() + SYNC_POINT_WAIT_S;
	for (;;) {
		size_t n = 0;
		if (rc == 0)
			rc = po->eng->capture->next(po->cap, ch, CHANGES_MAX, &n, one ? 0 : 50, &s->err);
		for (size_t i = 0; rc == 0 && i < n; i++) {
			if (!one && ch[i].op == FERRY_CHANGE_MARKER && ch[i].marker && strcmp(ch[i].marker, s->sp_text) == 0)
				seen = 1;
			rc = queue_push(s, po, &ch[i]);
		}
		if (rc || (one && (before ? n < CHANGES_MAX : n == 0)) || (!one && seen && n < CHANGES_MAX))
			break;
		if (ferry__now() > until) {
			rc = ferry_err_set(&s->err, FERRY_ERROR,
			                   "both ways: the change stream of %s did not bring ferry's marker back within %.0f s",
			                   s->back ? "the old version" : "the new version", SYNC_POINT_WAIT_S);
			break;
		}
		if (ferry__interrupted(s->ctx)) {
			rc = ferry_err_set(&s->err, FERRY_EINTR, "interrupted");
			break;
		}
	}
	return rc;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int ferry__both_begin(sync_state *s)
{
	const char **names = ferry__calloc(s->ntargets ? s->ntargets : 1, sizeof(char *));
	if (!names)
		return OOM(&s->err);
	for (size_t i = 0; i < s->ntargets; i++) {
		ferry__keyset_reset(&s->targets[i].settled);
		ferry__keyset_reset(&s->targets[i].moved);
		s->targets[i].nmvp = 0;
		names[i] = s->targets[i].name;
	}
	/* Every table this direction may write, at once and always in one order: a later round
	 * of the same transaction (a deferral's) then needs no lock it does not hold, so ferry
	 * never waits holding some while an application holds others (a deadlock whose victim
	 * could be the application). */
	qsort(names, s->ntargets, sizeof(char *), name_cmp);
	int rc = s->teng->capture->origin(s->tconn, s->peer->splan.run_digest, names, s->ntargets, 1, &s->err);
	free(names);
	if (rc == 0) {
		s->hold_backoff = 0;
		s->busy_since = 0;
	}
	return rc ? rc : sync_point(s, 0);
}

int ferry__both_drain(sync_state *s)
{
	return sync_point(s, 1);
}

/* The queue's entries [from, to) in reverse order. */
static void reverse_q(osource *o, size_t from, size_t to)
{
	for (size_t a = from, b = to; a + 1 < b; a++, b--) {
		ferry_change t = o->q[a];
		o->q[a] = o->q[b - 1];
		o->q[b - 1] = t;
		void *m = o->qmem[a];
		o->qmem[a] = o->qmem[b - 1];
		o->qmem[b - 1] = m;
	}
}

int ferry__both_busy(sync_state *s, size_t src, const ferry_change *ch, size_t n)
{
	osource *o = &s->os[src];
	/* Back to the front of the queue, in order: copies, since ch may be the capture's or
	 * the queue's memory that the next take frees. */
	size_t was = o->nq;
	for (size_t i = 0; i < n; i++) {
		int rc = queue_push(s, o, &ch[i]);
		if (rc)
			return rc;
	}
	if (was && n) {
		reverse_q(o, 0, o->nq);
		reverse_q(o, 0, n);
		reverse_q(o, n, o->nq);
	}
	/* Every entry gets a new seq past any given before, and the peer's keys built from
	 * the queue are rebuilt from scratch (their_keys): rare, so nothing finer is kept. */
	o->qhead += o->nq;
	o->qepoch++;
	double now = ferry__now();
	s->hold_backoff = s->hold_backoff > 0 ? s->hold_backoff * 2 : HOLD_BACKOFF_MIN;
	if (s->hold_backoff > HOLD_BACKOFF_MAX)
		s->hold_backoff = HOLD_BACKOFF_MAX;
	s->hold_at = now + s->hold_backoff;
	if (!s->busy_since) {
		s->busy_since = now;
		s->busy_said = 0;
	}
	/* Said once in a while, not at each try: an application's transaction left open is the
	 * usual cause, and the operator has to find it. */
	if (now - s->busy_since >= HOLD_SAY_FIRST && (!s->busy_said || now - s->busy_said >= HOLD_SAY_S)) {
		char msg[1200];
		snprintf(msg, sizeof(msg), "both ways: the %s version's changes have waited %.0f s for the tables of the %s version: %s",
		         s->back ? "new" : "old", now - s->busy_since, s->back ? "old" : "new", s->err.msg);
		ferry__sync_note(s->back ? s->peer : s, msg);
		s->busy_said = now;
	}
	memset(&s->err, 0, sizeof(s->err));
	return 0;
}

int ferry__both_end(sync_state *s)
{
	return s->teng->capture->origin(s->tconn, s->peer->splan.run_digest, NULL, 0, 0, &s->err);
}

/* The keys the peer's queue changed in t (t->theirs), kept across settles rather than
 * rebuilt from the whole queue at each: with a backlog on both sides that was quadratic.
 * Each queue entry has a seq (osource.qhead + its index; a take advances qhead, a push-back
 * renumbers and bumps qepoch). A build adds only the entries pushed since the last one, and
 * keeps per key the seq of its latest change and of its latest non-delete; a change is
 * still queued when its seq >= qhead, so a key is live when its latest seq is, and
 * delete-only when no non-delete of it is. Its newest commit time is kept with the seq of
 * the latest change of that time: while that change is queued the time is exact; when it
 * left but the key is still live (a later change with an earlier commit time: commit
 * times need not follow the stream's order), the set is rebuilt from the queue. Key-change
 * pairs carry their change's seq and leave from the front as they age. A stale key is
 * absent for settle_target (theirs_live 0); the set is rebuilt once stale keys outnumber
 * the queue's entries, so its memory follows the queue and a rebuild's cost is paid by
 * the takes that made them stale. After a push-back (a busy target) it is rebuilt. */

/* Change c of the peer's queue, seq q, into t's keys. */
static int their_add(sync_state *s, otarget *t, const ferry_change *c, uint64_t q)
{
	sync_state *p = s->peer;
	osource *po = &p->os[0];
	ferry_value key[64];
	if (c->op == FERRY_CHANGE_MARKER || c->op == FERRY_CHANGE_TRUNCATE || c->table >= po->ntables ||
	    strcmp(po->tables[c->table].table, t->name) != 0)
		return 0;
	const ferry_value *sides[2] = {c->old_key, c->new_key};
	long at[2] = {-1, -1};
	for (int side = 0; side < 2; side++) {
		if (!sides[side])
			continue;
		for (size_t k = 0; k < t->ntk; k++)
			key[k] = sides[side][t->peer_perm[k]];
		int added = 0;
		if (ferry__key_cells(&s->cells, t, key) != 0 ||
		    ferry__keyset_add(&t->theirs, (const uint8_t *)s->cells.data, s->cells.len, key, t->ntk, &added) != 0 ||
		    ferry__grow(&t->theirs_us, &t->theirs_cap, t->theirs.n, sizeof(int64_t)) != 0 ||
		    ferry__grow(&t->theirs_useq, &t->theirs_useq_cap, t->theirs.n, sizeof(uint64_t)) != 0 ||
		    ferry__grow(&t->theirs_last, &t->theirs_last_cap, t->theirs.n, sizeof(uint64_t)) != 0 ||
		    ferry__grow(&t->theirs_nd, &t->theirs_nd_cap, t->theirs.n, sizeof(uint64_t)) != 0 ||
		    ferry__grow(&t->theirs_del, &t->theirs_del_cap, t->theirs.n, 1) != 0 ||
		    ferry__grow(&t->theirs_live, &t->theirs_live_cap, t->theirs.n, 1) != 0)
			return OOM(&s->err);
		long j = ferry__keyset_find(&t->theirs, (const uint8_t *)s->cells.data, s->cells.len);
		at[side] = j;
		/* A key whose changes had all left the queue starts again. */
		if (!added && t->theirs_last[j] < po->qhead)
			added = 1;
		/* The later of equal times: the time stays exact while any change of it is queued. */
		if (added || c->commit_us >= t->theirs_us[j]) {
			t->theirs_us[j] = c->commit_us;
			t->theirs_useq[j] = q;
		}
		if (added)
			t->theirs_nd[j] = 0;
		t->theirs_last[j] = q;
		if (c->op != FERRY_CHANGE_DELETE)
			t->theirs_nd[j] = q + 1;
	}
	if (at[0] >= 0 && at[1] >= 0 && at[0] != at[1]) {
		if (ferry__grow(&t->tmvp, &t->tmvp_cap, t->ntmvp + 2, sizeof(size_t)) != 0 ||
		    ferry__grow(&t->tmvp_seq, &t->tmvp_seq_cap, t->ntmvp / 2 + 1, sizeof(uint64_t)) != 0)
			return OOM(&s->err);
		t->tmvp_seq[t->ntmvp / 2] = q;
		t->tmvp[t->ntmvp++] = (size_t)at[0];
		t->tmvp[t->ntmvp++] = (size_t)at[1];
	}
	return 0;
}

/* t's keys brought up to the peer's queue: from scratch when full, else its new entries;
 * then each key's liveness and delete-only flag. */
static int their_build(sync_state *s, otarget *t, int full)
{
	osource *po = &s->peer->os[0];
	uint64_t head = po->qhead;
	for (;;) {
		if (full || !t->theirs_built || t->theirs_epoch != po->qepoch) {
			ferry__keyset_reset(&t->theirs);
			t->ntmvp = t->tmvp_from = 0;
			t->theirs_to = head;
			t->theirs_epoch = po->qepoch;
			t->theirs_built = 1;
		}
		for (uint64_t q = t->theirs_to > head ? t->theirs_to : head; q < head + po->nq; q++) {
			int rc = their_add(s, t, &po->q[q - head], q);
			if (rc) {
				t->theirs_built = 0;
				return rc;
			}
		}
		t->theirs_to = head + po->nq;
		size_t live = 0, stale = 0;
		int inexact = 0;
		for (size_t j = 0; j < t->theirs.n; j++) {
			int l = t->theirs_last[j] >= head;
			t->theirs_live[j] = (uint8_t)l;
			t->theirs_del[j] = (uint8_t)(t->theirs_nd[j] <= head);
			live += (size_t)l;
			stale += (size_t)!l;
			inexact |= l && t->theirs_useq[j] < head;
		}
		if (!full && (inexact || stale > po->nq + 64)) {
			full = 1;
			continue;
		}
		t->theirs_nlive = live;
		break;
	}
	while (t->tmvp_from < t->ntmvp && t->tmvp_seq[t->tmvp_from / 2] < head)
		t->tmvp_from += 2;
	if (t->tmvp_from && t->tmvp_from * 2 >= t->ntmvp) {
		size_t left = t->ntmvp - t->tmvp_from;
		memmove(t->tmvp, t->tmvp + t->tmvp_from, left * sizeof(size_t));
		memmove(t->tmvp_seq, t->tmvp_seq + t->tmvp_from / 2, left / 2 * sizeof(uint64_t));
		t->ntmvp = left;
		t->tmvp_from = 0;
	}
	return 0;
}

static int pair_cmp(const void *a, const void *b)
{
	const size_t *x = a, *y = b;
	return x[0] != y[0] ? (x[0] < y[0] ? -1 : 1) : x[1] != y[1] ? (x[1] < y[1] ? -1 : 1) : 0;
}

/* FERRY_CHECK_THEIRS=1 (tests): t's keys as built incrementally against a build from the
 * whole queue: the same live keys with the same times and delete-only flags, the same
 * key-change pairs. */
static int their_check(sync_state *s, otarget *t)
{
	otarget f = *t;
	memset(&f.theirs, 0, sizeof(f.theirs));
	f.theirs_us = NULL, f.theirs_useq = NULL, f.theirs_last = NULL, f.theirs_nd = NULL;
	f.theirs_del = NULL, f.theirs_live = NULL, f.tmvp = NULL, f.tmvp_seq = NULL;
	f.theirs_cap = f.theirs_useq_cap = f.theirs_last_cap = f.theirs_nd_cap = 0;
	f.theirs_del_cap = f.theirs_live_cap = f.tmvp_cap = f.tmvp_seq_cap = 0;
	f.ntmvp = f.tmvp_from = 0;
	f.theirs_built = 0;
	int rc = their_build(s, &f, 1), bad = 0;
	size_t np = (t->ntmvp - t->tmvp_from) / 2;
	size_t *mine = NULL, *full = NULL;
	if (rc == 0 && f.theirs_nlive != t->theirs_nlive)
		bad = 1;
	for (size_t j = 0; rc == 0 && !bad && j < f.theirs.n; j++) {
		long k = ferry__keyset_find(&t->theirs, f.theirs.bytes + f.theirs.off[j], f.theirs.clen[j]);
		bad = k < 0 || !t->theirs_live[k] || t->theirs_us[k] != f.theirs_us[j] || t->theirs_del[k] != f.theirs_del[j];
	}
	if (rc == 0 && !bad && np != f.ntmvp / 2)
		bad = 1;
	if (rc == 0 && !bad && np) {
		mine = ferry__calloc(np * 2, sizeof(size_t));
		full = ferry__calloc(np * 2, sizeof(size_t));
		if (!mine || !full)
			rc = OOM(&s->err);
		for (size_t m = 0; rc == 0 && !bad && m < np * 2; m++) {
			size_t a = t->tmvp[t->tmvp_from + m];
			long k = ferry__keyset_find(&f.theirs, t->theirs.bytes + t->theirs.off[a], t->theirs.clen[a]);
			bad = k < 0;
			mine[m] = (size_t)k;
			full[m] = f.tmvp[m];
		}
		if (rc == 0 && !bad) {
			qsort(mine, np, 2 * sizeof(size_t), pair_cmp);
			qsort(full, np, 2 * sizeof(size_t), pair_cmp);
			bad = memcmp(mine, full, np * 2 * sizeof(size_t)) != 0;
		}
	}
	free(mine);
	free(full);
	ferry__keyset_free(&f.theirs);
	free(f.theirs_us);
	free(f.theirs_useq);
	free(f.theirs_last);
	free(f.theirs_nd);
	free(f.theirs_del);
	free(f.theirs_live);
	free(f.tmvp);
	free(f.tmvp_seq);
	if (rc == 0 && bad)
		rc = ferry_err_set(&s->err, FERRY_ECORRUPT,
		                   "both ways: the other side's queued keys of table \"%s\" kept across settles differ from a rebuild (FERRY_CHECK_THEIRS)",
		                   t->name);
	return rc;
}

static int their_keys(sync_state *s, otarget *t)
{
	static int check = -1;
	if (check < 0) {
		const char *e = getenv("FERRY_CHECK_THEIRS");
		check = e && strcmp(e, "1") == 0;
	}
	int rc = their_build(s, t, 0);
	return rc == 0 && check ? their_check(s, t) : rc;
}

int ferry__both_moved(sync_state *s, const otable *ot, const ferry_value *old_key,
                      const ferry_value *new_key)
{
	ferry_value tkey[64];
	for (size_t q = 0; q < ot->njobs; q++) {
		ojob *oj = &s->ojobs[ot->jobs[q]];
		otarget *t = &s->targets[oj->target];
		const ferry_value *sides[2] = {old_key, new_key};
		long at[2];
		for (int side = 0; side < 2; side++) {
			for (size_t k = 0; k < t->ntk; k++) {
				tkey[k] = sides[side][oj->src_of_tk[k]];
				if (tkey[k].type == FERRY_NULL)
					return 0;   /* rejected by touch_key: names no row */
			}
			if (ferry__key_cells(&s->cells, t, tkey) != 0 ||
			    ferry__keyset_add(&t->moved, (const uint8_t *)s->cells.data, s->cells.len, tkey, t->ntk, NULL) != 0)
				return OOM(&s->err);
			at[side] = ferry__keyset_find(&t->moved, (const uint8_t *)s->cells.data, s->cells.len);
		}
		/* A key change that keeps the target's key (a source key column the target lacks)
		 * moves nothing there. */
		if (at[0] == at[1])
			continue;
		if (ferry__grow(&t->mvp, &t->mvp_cap, t->nmvp + 2, sizeof(size_t)) != 0)
			return OOM(&s->err);
		t->mvp[t->nmvp++] = (size_t)at[0];
		t->mvp[t->nmvp++] = (size_t)at[1];
	}
	return 0;
}

static const char *rule_name(int rule)
{
	return rule == FERRY_BOTH_OLD_WINS ? "old_wins" : rule == FERRY_BOTH_NEW_WINS ? "new_wins" : "last_commit";
}

/* Now as ISO 8601 UTC with milliseconds: conflicts of one key within a second keep their
 * order. */
static void iso_ms(char *out, size_t cap)
{
	int64_t us = ferry__wall_us();
	time_t secs = (time_t)(us / 1000000);
	struct tm tm;
	char day[32];
	gmtime_r(&secs, &tm);
	strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, cap, "%s.%03dZ", day, (int)(us / 1000 % 1000));
}

/* One conflict's row in the target's ferry_conflicts, inside the open transaction: the
 * table and key as this version names them. */
static int record(sync_state *s, otarget *t, const ferry_value *key, int ours, int64_t our_us,
                  int64_t their_us)
{
	ferry_buf kj = FERRY_BUF_INIT;
	ferry__values_json(&kj, key, t->ntk);
	if (kj.failed) {
		ferry_buf_free(&kj);
		return OOM(&s->err);
	}
	int old_side = !s->back;
	char at[64], old_us[24], new_us[24];
	iso_ms(at, sizeof(at));
	snprintf(old_us, sizeof(old_us), "%lld", (long long)(old_side ? our_us : their_us));
	snprintf(new_us, sizeof(new_us), "%lld", (long long)(old_side ? their_us : our_us));
	const char *text[9] = {s->fwd_run, t->name, s->back ? "old" : "new", kj.data, rule_name(t->both),
	                       ours == old_side ? "old" : "new", old_us, new_us, at};
	ferry_value v[9];
	for (size_t i = 0; i < 9; i++)
		v[i] = (ferry_value){.type = FERRY_TEXT, .v.s = text[i], .len = (uint32_t)strlen(text[i])};
	int rc = s->teng->core->exec_params(
		s->tconn,
		"INSERT INTO ferry_conflicts(run_id, tbl, version, key_json, rule, winner, old_commit_us, new_commit_us, at) "
		"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
		9, v, NULL, &s->err);
	ferry_buf_free(&kj);
	return rc;
}

/* Whether this direction's source holds the row of target key (through t's first job). */
static int source_holds(sync_state *s, otarget *t, const ferry_value *key, int *held)
{
	const ojob *oj = &s->ojobs[t->jobs[0]];
	const job *j = oj->j;
	ferry_value skey[64];
	for (size_t k = 0; k < t->ntk; k++)
		skey[oj->src_of_tk[k]] = key[k];
	osource *o = &s->os[j->src];
	return ferry__holds_key(s, o->eng, o->reread, j->src_table, j->keynames, j->nkeys, skey, held);
}

/* Does this direction's change win over the peer's (both commit times known)? */
static int ours_wins(const sync_state *s, int rule, int64_t our_us, int64_t their_us)
{
	int old_side = !s->back;
	if (rule == FERRY_BOTH_OLD_WINS)
		return old_side;
	if (rule == FERRY_BOTH_NEW_WINS)
		return !old_side;
	return our_us > their_us || (our_us == their_us && old_side);
}

/* Union-find over a settle's keys, with path halving. */
static size_t uf_root(size_t *up, size_t x)
{
	while (up[x] != x)
		x = up[x] = up[up[x]];
	return x;
}

static void uf_join(size_t *up, size_t a, size_t b)
{
	a = uf_root(up, a);
	b = uf_root(up, b);
	if (a != b)
		up[a < b ? b : a] = a < b ? a : b;
}

/* The settle's node of the key with these cells: a touched key is its index, a key only
 * the peer's queue holds is touched.n + its index there; -1 when neither holds it. */
static long node_of(const otarget *t, const uint8_t *cells, size_t clen)
{
	long i = ferry__keyset_find(&t->touched, cells, clen);
	if (i >= 0)
		return i;
	long j = ferry__keyset_find(&t->theirs, cells, clen);
	return j < 0 || !t->theirs_live[j] ? -1 : (long)t->touched.n + j;
}

/* A key of a lost unit that the peer's queue does not hold: put into the peer's capture
 * in this transaction, so the peer re-reads it from its source (this direction's target)
 * and carries the winner's state of it (most often: no row) back, even after a crash. */
static int hand_over(sync_state *s, otarget *t, const ferry_value *key)
{
	osource *po = &s->peer->os[0];
	const ferry_capture_table *ct = NULL;
	for (size_t i = 0; i < po->ntables && !ct; i++)
		if (strcmp(po->tables[i].table, t->name) == 0)
			ct = &po->tables[i];
	if (!s->teng->capture->touch)
		return ferry_err_set(&s->err, FERRY_EUSAGE,
		                     "both ways: a key change of table \"%s\" lost a conflict, and the %s engine cannot tell the other direction to carry its keys back",
		                     t->name, s->teng->name);
	if (!ct || ct->nkeys != t->ntk)
		return ferry_err_set(&s->err, FERRY_EUSAGE,
		                     "both ways: a key change of table \"%s\" lost a conflict, and the other direction captures that table by another key",
		                     t->name);
	ferry_value ckey[64];
	for (size_t k = 0; k < t->ntk; k++)
		ckey[t->peer_perm[k]] = key[k];
	s->handed = 1;
	return s->teng->capture->touch(s->tconn, s->peer->splan.run_digest, t->name, ct->keys, ct->nkeys, ckey, &s->err);
}

/* Settle t: its keys (touched and the peer's) are joined into units by the key changes of
 * either side; a unit holding keys of both sides is a conflict, decided once for the unit
 * (last_commit: the newest commit of each side in it). A won unit keeps its touched keys
 * and takes the peer's keys in (re-read here, so a row the peer moved into the unit is
 * deleted on the target); a lost one drops its touched keys and hands over those the peer
 * does not hold. */
static int settle_target(sync_state *s, otarget *t)
{
	ferry_value key[64];
	size_t nt = t->touched.n, n = nt + t->theirs.n;
	size_t *up = ferry__calloc(n, sizeof(size_t));
	int64_t *ours = ferry__calloc(n, sizeof(int64_t)), *theirs = ferry__calloc(n, sizeof(int64_t));
	uint8_t *has = ferry__calloc(n, 1);   /* per root: 1 ours in it, 2 theirs */
	int64_t *keep_us = ferry__calloc(n, sizeof(int64_t));
	uint8_t *keep_del = ferry__calloc(n, 1), *spurious = ferry__calloc(nt ? nt : 1, 1);
	long *th = ferry__calloc(nt ? nt : 1, sizeof(long));
	ferry_keyset keep;
	memset(&keep, 0, sizeof(keep));
	int rc = up && ours && theirs && has && keep_us && keep_del && spurious && th ? 0 : OOM(&s->err);
	for (size_t i = 0; rc == 0 && i < n; i++)
		up[i] = i;
	/* Units: the same key on both sides, and each side's key changes. A delete of a row
	 * that is still there was none: SQLite's BEFORE triggers log the row an INSERT OR
	 * IGNORE or an upsert clashes with as a delete, since they cannot know the statement
	 * will not replace it. The peer's is no write to settle against (its source is this
	 * target, its tables held by this transaction); ours is no write at all: re-read and
	 * written, the row would undo the peer's real change of it. */
	for (size_t i = 0; rc == 0 && i < nt; i++) {
		th[i] = ferry__keyset_find(&t->theirs, t->touched.bytes + t->touched.off[i], t->touched.clen[i]);
		if (th[i] >= 0 && !t->theirs_live[th[i]])
			th[i] = -1;   /* its changes left the queue: absent */
		int held = 0, spur = 0;
		if (th[i] >= 0 && (t->theirs_del[th[i]] || t->tdel[i]) &&
		    ferry__keyset_get(&t->touched, i, key, t->ntk) != 0)
			rc = ferry_err_set(&s->err, FERRY_ECORRUPT, "a touched key could not be decoded");
		if (rc == 0 && th[i] >= 0 && t->theirs_del[th[i]])
			rc = ferry__holds_key(s, s->teng, s->tconn, t->name, t->tk, t->ntk, key, &held);
		if (rc == 0 && !held && th[i] >= 0 && t->tdel[i])
			rc = source_holds(s, t, key, &spur);
		if (held || spur)
			th[i] = -1;
		spurious[i] = (uint8_t)spur;
		if (th[i] >= 0)
			uf_join(up, i, nt + (size_t)th[i]);
	}
	for (size_t m = 0; rc == 0 && m + 1 < t->nmvp; m += 2) {
		size_t a = t->mvp[m], b = t->mvp[m + 1];
		long na = node_of(t, t->moved.bytes + t->moved.off[a], t->moved.clen[a]);
		long nb = node_of(t, t->moved.bytes + t->moved.off[b], t->moved.clen[b]);
		if (na >= 0 && nb >= 0)
			uf_join(up, (size_t)na, (size_t)nb);
	}
	for (size_t m = t->tmvp_from; rc == 0 && m + 1 < t->ntmvp; m += 2)
		uf_join(up, nt + t->tmvp[m], nt + t->tmvp[m + 1]);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		size_t r = uf_root(up, i);
		if (i < nt) {
			if (!(has[r] & 1) || t->tus[i] > ours[r])
				ours[r] = t->tus[i];
			has[r] |= 1;
		} else if (t->theirs_live[i - nt]) {   /* a stale key: a unit of its own, no side */
			if (!(has[r] & 2) || t->theirs_us[i - nt] > theirs[r])
				theirs[r] = t->theirs_us[i - nt];
			has[r] |= 2;
		}
	}
	/* A unit of both sides' keys is a conflict; 4 when this side wins it. */
	for (size_t i = 0; rc == 0 && i < n; i++)
		if (up[i] == i && has[i] == 3 && ours_wins(s, t->both, ours[i], theirs[i]))
			has[i] |= 4;
	size_t changed = 0;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		size_t r = uf_root(up, i);
		int conflict = (has[r] & 3) == 3, win = !conflict || (has[r] & 4);
		const ferry_keyset *from = i < nt ? &t->touched : &t->theirs;
		size_t at = i < nt ? i : i - nt;
		const uint8_t *cells = from->bytes + from->off[at];
		size_t clen = from->clen[at];
		if (i >= nt && (!conflict || !win || ferry__keyset_find(&t->touched, cells, clen) >= 0))
			continue;   /* the peer's key: taken in only by a won conflict, once */
		if (i < nt && spurious[i]) {
			changed++;  /* no write: dropped, nothing to settle or hand over */
			continue;
		}
		if (ferry__keyset_get(from, at, key, t->ntk) != 0) {
			rc = ferry_err_set(&s->err, FERRY_ECORRUPT, "a touched key could not be decoded");
			break;
		}
		if (i < nt && th[i] >= 0 && ferry__keyset_find(&t->settled, cells, clen) < 0) {
			rc = record(s, t, key, win, t->tus[i], t->theirs_us[th[i]]);
			if (rc == 0 && ferry__keyset_add(&t->settled, cells, clen, key, t->ntk, NULL) != 0)
				rc = OOM(&s->err);
			s->st.conflicts++;
		}
		if (rc == 0 && win) {
			if (ferry__keyset_add(&keep, cells, clen, key, t->ntk, NULL) != 0)
				rc = OOM(&s->err);
			else {
				keep_us[keep.n - 1] = i < nt ? t->tus[i] : ours[r];
				keep_del[keep.n - 1] = i < nt ? t->tdel[i] : 0;
			}
			changed += i >= nt;
		} else if (rc == 0) {
			if (th[i] < 0)
				rc = hand_over(s, t, key);
			changed++;
		}
	}
	if (rc == 0 && changed) {
		if (ferry__grow(&t->tus, &t->tus_cap, keep.n, sizeof(int64_t)) != 0 ||
		    ferry__grow(&t->tdel, &t->tdel_cap, keep.n, 1) != 0) {
			rc = OOM(&s->err);
		} else {
			ferry_keyset old = t->touched;
			t->touched = keep;
			keep = old;
			memcpy(t->tus, keep_us, t->touched.n * sizeof(int64_t));
			memcpy(t->tdel, keep_del, t->touched.n);
		}
	}
	ferry__keyset_free(&keep);
	free(up);
	free(ours);
	free(theirs);
	free(has);
	free(keep_us);
	free(keep_del);
	free(spurious);
	free(th);
	return rc;
}

int ferry__both_settle(sync_state *s)
{
	for (size_t ti = 0; ti < s->ntargets; ti++) {
		otarget *t = &s->targets[ti];
		if (!t->touched.n)
			continue;
		int rc = their_keys(s, t);
		if (rc == 0 && t->theirs_nlive)
			rc = settle_target(s, t);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- setting up ----------------------------------------------------------------------- */

int ferry__both_check(sync_state *f)
{
	for (size_t i = 0; i < f->js.njobs; i++) {
		const job *j = &f->js.jobs[i];
		const ferry_plan_table *e = j->entry;
		/* A where leaves rows of the old version out of the new one: the forward stream
		 * deletes a key whose old row is outside it, so a row the new version wrote under
		 * such a key would vanish; the way back refuses it. Neither side can own the key. */
		if (e && e->where && e->line && f->plan->path)
			return ferry_err_set(&f->err, FERRY_EUSAGE,
			                     "%s:%d:%d: --both-ways: %s has a where: a row the new version writes under a key the where leaves out would be deleted by the old version's next change of it (both ways, every row is in both versions: filter in a view, or sync one way)",
			                     f->plan->path, e->line, e->col, j->name);
		if (e && e->where)
			return ferry_err_set(&f->err, FERRY_EUSAGE,
			                     "--both-ways: %s has a where: a row the new version writes under a key the where leaves out would be deleted by the old version's next change of it (both ways, every row is in both versions: filter in a view, or sync one way)",
			                     j->name);
		if ((e && (e->both || e->owner)) || f->plan->both)
			continue;
		if (e && e->line && f->plan->path)
			return ferry_err_set(&f->err, FERRY_EUSAGE,
			                     "%s:%d:%d: --both-ways: %s has no rule for a row written on both sides (give the entry both_ways: {conflict: old_wins | new_wins | last_commit}, or owner: old | new; or the plan a both_ways: for every entry)",
			                     f->plan->path, e->line, e->col, j->name);
		return ferry_err_set(&f->err, FERRY_EUSAGE,
		                     "--both-ways: %s has no rule for a row written on both sides (give it an entry in the plan with both_ways: {conflict: old_wins | new_wins | last_commit}, or owner: old | new; or the plan a both_ways: for every entry)",
		                     j->name);
	}
	return 0;
}

static int rule_of(const ferry_plan *p, const ferry_plan_table *e)
{
	if (e && e->both)
		return e->both;
	if (e && e->owner)
		return e->owner == 1 ? FERRY_BOTH_OLD_WINS : FERRY_BOTH_NEW_WINS;
	return p->both;
}

/* t's rule, and where the peer's capture has each of t's key columns. */
static int link_target(sync_state *s, otarget *t, int rule)
{
	sync_state *p = s->peer;
	osource *po = &p->os[0];
	t->both = rule;
	const ferry_capture_table *ct = NULL;
	for (size_t i = 0; i < po->ntables && !ct; i++)
		if (strcmp(po->tables[i].table, t->name) == 0)
			ct = &po->tables[i];
	if (!ct)
		return ferry_err_set(&s->err, FERRY_EUSAGE, "--both-ways: table \"%s\" of the %s version is not captured the other way",
		                     t->name, s->back ? "old" : "new");
	if (!(t->peer_perm = ferry__calloc(t->ntk ? t->ntk : 1, sizeof(size_t))))
		return OOM(&s->err);
	for (size_t k = 0; k < t->ntk; k++) {
		size_t at = SIZE_MAX;
		for (size_t c = 0; c < ct->nkeys && at == SIZE_MAX; c++)
			if (strcmp(ct->keys[c], t->tk[k]) == 0)
				at = c;
		if (at == SIZE_MAX)
			return ferry_err_set(&s->err, FERRY_EUSAGE,
			                     "--both-ways: table \"%s\": its key column \"%s\" is not the key the other way captures",
			                     t->name, t->tk[k]);
		t->peer_perm[k] = at;
	}
	return 0;
}

static int conflicts_table(sync_state *s)
{
	return s->teng->core->exec(s->tconn,
	                           "CREATE TABLE IF NOT EXISTS ferry_conflicts(run_id TEXT NOT NULL, tbl TEXT NOT NULL, "
	                           "version TEXT NOT NULL, key_json TEXT NOT NULL, rule TEXT NOT NULL, winner TEXT NOT NULL, "
	                           "old_commit_us TEXT NOT NULL, new_commit_us TEXT NOT NULL, at TEXT NOT NULL)",
	                           &s->err);
}

/* The version rules, once per column: what one side has and the other lacks. */
static void version_notes(sync_state *f, sync_state *b)
{
	char msg[600];
	for (size_t i = 0; i < f->js.njobs; i++) {
		const job *j = &f->js.jobs[i];
		for (size_t c = 0; c < j->ntcols; c++)
			if (strcmp(j->exprs[c], "?") == 0) {
				snprintf(msg, sizeof(msg),
				         "version rule: column \"%s\".\"%s\" is not in the old version: a row from the old version takes its default, an update from there keeps the new version's value",
				         j->dst_table, j->tcols[c]);
				ferry__sync_note(f, msg);
			}
	}
	for (size_t i = 0; i < b->js.njobs; i++) {
		const job *j = &b->js.jobs[i];
		const ferry_table *ot = ferry_schema_find(b->tschema, j->dst_table);
		for (size_t c = 0; ot && c < ot->ncols; c++) {
			int written = 0;
			for (size_t w = 0; w < j->ntcols && !written; w++)
				written = strcmp(j->tcols[w], ot->cols[c].name) == 0 && strcmp(j->exprs[w], "?") != 0;
			if (written || ot->cols[c].generated)
				continue;
			snprintf(msg, sizeof(msg),
			         "version rule: column \"%s\".\"%s\" is not in the new version: ignored there and kept in the old version (a row from the new version takes its default)",
			         j->dst_table, ot->cols[c].name);
			ferry__sync_note(f, msg);
		}
	}
}

int ferry__both_link(sync_state *f, sync_state *b)
{
	f->peer = b;
	b->peer = f;
	f->both = b->both = 1;
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < f->ntargets; i++) {
		otarget *t = &f->targets[i];
		rc = link_target(f, t, rule_of(f->plan, f->ojobs[t->jobs[0]].j->entry));
	}
	for (size_t i = 0; rc == 0 && i < b->ntargets; i++) {
		otarget *t = &b->targets[i];
		int rule = FERRY_BOTH_NONE;
		for (size_t k = 0; k < f->js.njobs && !rule; k++)
			if (strcmp(f->js.jobs[k].src_table, t->name) == 0)
				rule = rule_of(f->plan, f->js.jobs[k].entry);
		rc = link_target(b, t, rule ? rule : FERRY_BOTH_OLD_WINS);
	}
	if (rc)
		ferry__err_copy(&f->err, &b->err);
	/* Both captures stream from the start: a sync point reads the other one. */
	sync_state *both[2] = {f, b};
	for (int d = 0; rc == 0 && d < 2; d++) {
		sync_state *s = both[d];
		for (size_t i = 0; rc == 0 && i < s->plan->nsources; i++) {
			osource *o = &s->os[i];
			if (!o->cap || o->started)
				continue;
			rc = o->eng->capture->start(o->cap, o->pos, &s->err);
			o->started = rc == 0;
			if (rc)
				ferry__err_copy(&f->err, &s->err);
		}
	}
	if (rc == 0)
		rc = conflicts_table(f);
	if (rc == 0 && (rc = conflicts_table(b)) != 0)
		ferry__err_copy(&f->err, &b->err);
	if (rc == 0)
		rc = ferry__state_set(f->teng, f->tconn, f->splan.run_digest, "both-ways", &f->err);
	if (rc == 0)
		version_notes(f, b);
	return rc;
}
