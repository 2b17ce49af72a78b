/* sched.c — the scheduler: readers take items from a work source and stream batches through
 * a ring per item; writers claim an item's stream and write it in one target transaction
 * together with its checkpoint (the chunk's ferry_progress record, or a stream position).
 * Failure, interrupts, rejects and progress events are handled here, for every source. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "lease.h"
#include "sched.h"
#include "state.h"

#define RING 4            /* batches in flight per item stream */
#define BATCH_ROWS 4096   /* rows per batch */
#define WAIT_MS 200       /* longest wait before an interrupt is seen */

typedef struct stream {
	ferry_work *w;            /* NULL: free */
	ferry_batch *ring[RING];
	size_t ring_ncols;
	size_t head, count;
	int eof, claimed;
	int64_t rows;             /* rows the reader produced (after the filter) */
} stream;

typedef struct sched {
	const ferry_sched_config *cfg;
	ferry_work_source *src;
	int fault_kind;           /* FERRY_FAULT: 1 kill before a commit, 2 after one */
	int64_t fault_at;         /* ... the Nth commit of this process */
	int64_t fault_seen;       /* commit attempts so far (under mu) */
	const char *fault_cmd;    /* exec-after-commit's command */
	pthread_mutex_t mu;
	pthread_mutex_t take_mu;  /* one reader at a time asks the source */
	pthread_cond_t cv_space;  /* readers wait here: a free stream or ring slot */
	pthread_cond_t cv_data;   /* writers wait here: a batch, or an item to claim */
	pthread_cond_t cv_main;   /* the coordinator waits here: a commit, an end */
	stream *streams;
	size_t nstreams;
	uint64_t taken;           /* items taken from the source */
	uint64_t next_commit;     /* FERRY_WORK_IN_ORDER: seq of the next item to commit */
	size_t inflight;          /* taken, not yet committed */
	int exhausted;            /* the source said so */
	int failed;
	ferry_err err;
} sched;

enum { WAKE_SPACE = 1, WAKE_DATA = 2, WAKE_MAIN = 4, WAKE_ALL = 7 };

/* Wake the waiters named by mask; the caller holds s->mu. */
static void wake(sched *s, int mask)
{
	if (mask & WAKE_SPACE)
		pthread_cond_broadcast(&s->cv_space);
	if (mask & WAKE_DATA)
		pthread_cond_broadcast(&s->cv_data);
	if (mask & WAKE_MAIN)
		pthread_cond_broadcast(&s->cv_main);
}

/* The first failure is the run's; everyone else stops. */
static void fail(sched *s, const ferry_err *e)
{
	pthread_mutex_lock(&s->mu);
	if (!s->failed) {
		s->failed = 1;
		s->err = *e;
	}
	wake(s, WAKE_ALL);
	pthread_mutex_unlock(&s->mu);
}

/* The run is over for everyone: failed, or the source is exhausted and all it gave is in. */
static int over(const sched *s)
{
	return s->failed || (s->exhausted && s->inflight == 0);
}

/* Test-only fault injection, from the environment: FERRY_FAULT=kill-before-commit:N or
 * kill-after-commit:N kills the process with SIGKILL at the Nth commit, so the resume
 * tests can stop a run at exact points; exec-after-commit:N:CMD runs the shell command CMD
 * right after the Nth commit (the online tests change the source between two chunks). */
static void fault_parse(sched *s)
{
	const char *f = getenv("FERRY_FAULT");
	if (!f)
		return;
	if (strncmp(f, "kill-before-commit:", 19) == 0) {
		s->fault_kind = 1;
		s->fault_at = strtoll(f + 19, NULL, 10);
	} else if (strncmp(f, "kill-after-commit:", 18) == 0) {
		s->fault_kind = 2;
		s->fault_at = strtoll(f + 18, NULL, 10);
	} else if (strncmp(f, "exec-after-commit:", 18) == 0) {
		char *end;
		s->fault_kind = 3;
		s->fault_at = strtoll(f + 18, &end, 10);
		s->fault_cmd = *end == ':' ? end + 1 : NULL;
	}
}

static void timed_wait(pthread_cond_t *cv, pthread_mutex_t *mu, int ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += (long)ms * 1000 * 1000;
	while (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_cond_timedwait(cv, mu, &ts);
}

void ferry__sched_emit(const ferry_copy_options *o, ferry_progress_kind kind, const job *j,
                       const char *message)
{
	if (!o || !o->progress)
		return;
	char src[512] = "";
	if (j && j->entry && j->entry->origin)
		snprintf(src, sizeof(src), "%s (label)", j->entry->origin);
	else if (j)
		snprintf(src, sizeof(src), "%s.%s", j->source_name, j->src_table);
	ferry_progress p = {
		.kind = kind,
		.stage = j ? j->stage : NULL,
		.table = j ? j->dst_table : NULL,
		.source = j ? src : NULL,
		.rows_done = j ? j->rows_read : 0,
		.rows_total = j ? j->rows_est : -1,
		.rows_resumed = j ? j->rows_resumed : 0,
		.chunks_done = j ? j->chunks_done : 0,
		.chunks_total = j ? j->chunks : 0,
		.message = message,
	};
	o->progress(o->progress_ud, &p);
}

void ferry__sched_emit_note(const ferry_copy_options *o, const char *note)
{
	if (!o || !o->progress)
		return;
	const char *t = ferry__note_field(note, FERRY_NOTE_TABLE), *c = ferry__note_field(note, FERRY_NOTE_COLUMN);
	ferry_progress p = {
		.kind = FERRY_PROGRESS_NOTE,
		.table = *t ? t : NULL,
		.rows_total = -1,
		.message = note,
		.code = ferry__note_field(note, FERRY_NOTE_CODE),
		.column = *c ? c : NULL,
	};
	o->progress(o->progress_ud, &p);
}

/* ---- readers ------------------------------------------------------------------------ */

typedef struct reader_ctx {
	sched *s;
	ferry_conn **conns;       /* one per source, opened lazily */
	ferry_reader *rd;         /* the item being read from a database */
	const ferry_engine *eng;
} reader_ctx;

static int reader_conn(reader_ctx *rc, size_t src, ferry_conn **out, ferry_err *err)
{
	const ferry_sched_config *cfg = rc->s->cfg;
	if (!rc->conns[src]) {
		ferry_source_conn *sc = &cfg->sources[src];
		int e = sc->eng->core->connect(&rc->conns[src], cfg->plan->sources[src].url,
		                         FERRY_CONNECT_READONLY, err);
		if (e)
			return e;
		e = sc->nojoin ? 0 : sc->eng->read->snapshot_join(rc->conns[src], sc->token, err);
		if (e)
			return e;
	}
	*out = rc->conns[src];
	return 0;
}

/* Open a reader of the job's select list over w's bounds. */
static int open_chunk(reader_ctx *rc, ferry_work *w, ferry_err *err)
{
	job *j = w->j;
	ferry_conn *conn;
	int e = reader_conn(rc, j->src, &conn, err);
	if (e)
		return e;
	ferry_value lo[64], hi[64];
	size_t nk = j->nchunk_keys ? j->nchunk_keys : 1;
	if (nk > 64)
		return ferry_err_set(err, FERRY_EUSAGE, "table \"%s\" has a key of more than 64 columns",
		                     j->src_table);
	if (w->lo && ferry_value_decode_row(lo, 64, w->lo, w->lo_len) != (int)nk)
		return ferry_err_set(err, FERRY_ECORRUPT, "run state is damaged: chunk %lld of %s has a bad lower bound",
		                     (long long)w->chunk, j->name);
	if (w->hi && ferry_value_decode_row(hi, 64, w->hi, w->hi_len) != (int)nk)
		return ferry_err_set(err, FERRY_ECORRUPT, "run state is damaged: chunk %lld of %s has a bad upper bound",
		                     (long long)w->chunk, j->name);
	/* The first chunk is open below and the last open above whatever the job's key range
	 * (resume.c), but none of its rows lies outside the range: reading them is bounded by
	 * it, so that a filter no index serves (a later:'s CASE) does not read the keys below
	 * or above the range. */
	int has_lo = w->lo != NULL, has_hi = w->hi != NULL;
	if (j->bounded && !has_lo && j->range.lo != INT64_MIN) {
		lo[0] = (ferry_value){.type = FERRY_INT, .v.i = j->range.lo - 1};
		has_lo = 1;
	}
	if (j->bounded && !has_hi && j->range.hi != INT64_MAX) {
		hi[0] = (ferry_value){.type = FERRY_INT, .v.i = j->range.hi};
		has_hi = 1;
	}
	ferry_read_spec spec = {
		.table = j->src_table,
		.nexprs = j->nexprs,
		.exprs = (const char *const *)j->exprs,
		.filter = j->filter,
		.nkeys = j->nchunk_keys,
		.keys = (const char *const *)j->chunk_keys,
		.lo = has_lo ? lo : NULL,
		.hi = has_hi ? hi : NULL,
		.nparams = j->nparams,
		.params = j->params,
	};
	rc->eng = rc->s->cfg->sources[j->src].eng;
	return rc->eng->read->reader_open(&rc->rd, conn, &spec, err);
}

static int ring_fit(stream *st, size_t ncols, ferry_err *err)
{
	if (st->ring_ncols == ncols)
		return 0;
	for (int i = 0; i < RING; i++) {
		ferry__batch_free(st->ring[i]);
		st->ring[i] = ferry__batch_new(ncols, BATCH_ROWS);
		if (!st->ring[i])
			return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	}
	st->ring_ncols = ncols;
	return 0;
}

/* Stream w's rows into st's ring until its end, a failure or an interrupt. */
static int read_item(reader_ctx *rc, stream *st, ferry_err *err)
{
	sched *s = rc->s;
	ferry_work *w = st->w;
	int e = ring_fit(st, w->j->nexprs, err);
	if (e == 0 && !s->src->read)
		e = open_chunk(rc, w, err);
	int eof = 0;
	while (e == 0 && !eof) {
		pthread_mutex_lock(&s->mu);
		while (st->count == RING && !s->failed)
			pthread_cond_wait(&s->cv_space, &s->mu);
		int stop = s->failed;
		size_t idx = (st->head + st->count) % RING;
		pthread_mutex_unlock(&s->mu);
		if (stop)
			break;
		if (ferry__interrupted(s->cfg->ctx)) {
			e = ferry_err_set(err, FERRY_EINTR, "interrupted");
			break;
		}
		ferry_batch *b = st->ring[idx];
		ferry__batch_reset(b);
		e = s->src->read ? s->src->read(s->src->ud, w, b, &eof, err)
		                 : rc->eng->read->reader_next(rc->rd, b, &eof, err);
		if (e)
			break;
		pthread_mutex_lock(&s->mu);
		if (ferry_batch_nrows(b) > 0) {
			st->count++;
			st->rows += (int64_t)ferry_batch_nrows(b);
		}
		if (eof)
			st->eof = 1;
		wake(s, WAKE_DATA);
		pthread_mutex_unlock(&s->mu);
	}
	if (rc->rd)
		rc->eng->read->reader_close(rc->rd);
	rc->rd = NULL;
	return e;
}

/* A free stream, waiting for one; NULL when the run is over or the source is exhausted. */
static stream *free_stream(sched *s)
{
	for (;;) {
		if (s->failed || s->exhausted)
			return NULL;
		for (size_t i = 0; i < s->nstreams; i++)
			if (!s->streams[i].w)
				return &s->streams[i];
		pthread_cond_wait(&s->cv_space, &s->mu);
	}
}

/* Take the source's next item into a free stream: 1 when one was taken, 0 when the reader
 * is done (over, exhausted), negative on failure. */
static int take(sched *s, stream **out, ferry_err *err)
{
	*out = NULL;
	pthread_mutex_lock(&s->take_mu);
	for (;;) {
		pthread_mutex_lock(&s->mu);
		stream *st = free_stream(s);
		pthread_mutex_unlock(&s->mu);
		if (!st)
			break;
		if (ferry__interrupted(s->cfg->ctx)) {
			pthread_mutex_unlock(&s->take_mu);
			return ferry_err_set(err, FERRY_EINTR, "interrupted");
		}
		ferry_work *w = NULL;
		int done = 0;
		int e = s->src->next(s->src->ud, &w, &done, WAIT_MS, err);
		if (e) {
			pthread_mutex_unlock(&s->take_mu);
			return e;
		}
		pthread_mutex_lock(&s->mu);
		if (w) {
			w->seq = s->taken++;
			w->committed = 0;
			w->elsewhere = 0;
			s->inflight++;
			st->w = w;
			st->head = st->count = 0;
			st->eof = st->claimed = 0;
			st->rows = 0;
			*out = st;
		} else if (done) {
			s->exhausted = 1;
			wake(s, WAKE_ALL);
		}
		pthread_mutex_unlock(&s->mu);
		if (w || done)
			break;
	}
	pthread_mutex_unlock(&s->take_mu);
	return *out != NULL;
}

static void *reader_main(void *arg)
{
	reader_ctx *rc = arg;
	sched *s = rc->s;
	for (;;) {
		ferry_err err = {0};
		stream *st = NULL;
		int got = take(s, &st, &err);
		if (got < 0 || (got > 0 && read_item(rc, st, &err) != 0)) {
			fail(s, &err);
			break;
		}
		if (got == 0)
			break;
	}
	return NULL;
}

/* ---- writers ------------------------------------------------------------------------ */

typedef struct writer_ctx {
	sched *s;
	ferry_conn *conn;
	ferry_writer **writers;   /* per job id, opened lazily */
	ferry_work *w;            /* the item being written */
	ferry_batch *batch;
	int64_t rejected;
	int elsewhere;            /* shared run: the item was committed by another process */
	ferry_err *err;
} writer_ctx;

/* Store a refused row in the item's transaction, keyed by the job's reporting key (or the
 * whole row when the table has none). */
static int reject_row(writer_ctx *wc, size_t row, const char *reason)
{
	const ferry_sched_config *cfg = wc->s->cfg;
	job *j = wc->w->j;
	const ferry_value *v = ferry_batch_crow(wc->batch, row);
	ferry_buf key = FERRY_BUF_INIT;
	ferry_buf_puts(&key, "{");
	int keyed = j->nkeys > 0;
	size_t n = keyed ? j->nkeys : j->ntcols;
	for (size_t k = 0; k < n; k++) {
		if (k)
			ferry_buf_puts(&key, ",");
		const char *name = keyed ? j->keynames[k] : j->tcols[k];
		ferry_buf_json_str(&key, name, strlen(name));
		ferry_buf_puts(&key, ":");
		ferry__value_json(&key, &v[keyed ? j->ntcols + k : k]);
	}
	ferry_buf_puts(&key, "}");
	/* The row as the target was to take it, every value exact, so it can be fixed and
	 * loaded again (docs/PLAN-REFERENCE.md, "Rejected rows"). */
	ferry_buf vals = FERRY_BUF_INIT;
	ferry_buf_puts(&vals, "{");
	for (size_t k = 0; k < j->ntcols; k++) {
		const ferry_value *x = &v[k]; /* target column k is batch column k (the key's rule) */
		ferry_buf_puts(&vals, k ? "," : "");
		ferry_buf_json_str(&vals, j->tcols[k], strlen(j->tcols[k]));
		ferry_buf_puts(&vals, ":");
		if (x->type == FERRY_BLOB) {
			ferry_buf_puts(&vals, "{\"base64\":\"");
			ferry_buf_base64(&vals, x->v.b, x->len);
			ferry_buf_puts(&vals, "\"}");
		} else {
			ferry__value_json(&vals, x);
		}
	}
	ferry_buf_puts(&vals, "}");
	if (key.failed || vals.failed) {
		ferry_buf_free(&key);
		ferry_buf_free(&vals);
		return ferry_err_set(wc->err, FERRY_ENOMEM, "out of memory");
	}
	int e = ferry__state_reject_row(cfg->teng, wc->conn, cfg->run_id, (int64_t)j->id, wc->w->chunk,
	                                j->dst_table, key.data, vals.data, reason, wc->err);
	ferry_buf_free(&key);
	ferry_buf_free(&vals);
	if (e == 0)
		wc->rejected++;
	return e;
}

static int reject_cb(void *ud, size_t row, const char *reason)
{
	return reject_row(ud, row, reason);
}

/* Roll back, keeping the error that caused it. */
static int abandon(writer_ctx *wc, int e)
{
	ferry_err keep = *wc->err;
	wc->s->cfg->teng->core->rollback(wc->conn, wc->err);
	*wc->err = keep;
	return e;
}

/* Begin w's transaction: its writer (opened once per job), begin, and chunk_begin. */
static int begin_item(writer_ctx *wc, ferry_work *w)
{
	const ferry_engine *teng = wc->s->cfg->teng;
	job *j = w->j;
	int e;
	if (!wc->writers[j->id]) {
		ferry_write_spec spec = {
			.table = j->dst_table,
			.ncols = j->ntcols,
			.cols = (const char *const *)j->tcols,
			.types = j->ttypes,
			.map = j->map,
			.merge = j->merge,
			.conflict = j->conflict,
			.guard_deleted = j->guard_deleted,
		};
		if ((e = teng->write->writer_open(&wc->writers[j->id], wc->conn, &spec, wc->err)) != 0)
			return e;
	}
	wc->w = w;
	wc->rejected = 0;
	wc->elsewhere = 0;
	if ((e = teng->core->begin(wc->conn, wc->err)) != 0)
		return e;
	if (wc->s->cfg->shared && !w->pos) {
		/* A shared run: lock the chunk's record first. A claimer that died while its commit
		 * of this chunk was on its way held it: wait for that commit, then find the chunk
		 * done and write nothing (its rows are in once). */
		static const char lock[] =
			"UPDATE ferry_progress SET done = 0 WHERE run_id = $1 AND job = $2 AND chunk = $3 AND done = 0";
		ferry_value p[3];
		memset(p, 0, sizeof(p));
		p[0].type = FERRY_TEXT;
		p[0].v.s = wc->s->cfg->run_id;
		p[0].len = (uint32_t)strlen(wc->s->cfg->run_id);
		p[1].type = p[2].type = FERRY_INT;
		p[1].v.i = (int64_t)j->id;
		p[2].v.i = w->chunk;
		int64_t changed = 0;
		if ((e = teng->core->exec_params(wc->conn, lock, 3, p, &changed, wc->err)) != 0)
			return abandon(wc, e);
		wc->elsewhere = changed != 1;
	}
	if (teng->write->chunk_begin) {
		ferry_chunk_rec at = {.job = (int64_t)j->id, .chunk = w->chunk, .job_name = j->name,
		                      .stage = j->stage, .table = j->dst_table, .est_rows = w->est_rows};
		if ((e = teng->write->chunk_begin(wc->conn, &at, wc->err)) != 0)
			return abandon(wc, e);
	}
	return 0;
}

/* Write the batches of st until its reader's end; *written gets the rows kept. */
static int write_rows(writer_ctx *wc, stream *st, int64_t *written)
{
	sched *s = wc->s;
	const ferry_engine *teng = s->cfg->teng;
	job *j = st->w->j;
	for (;;) {
		pthread_mutex_lock(&s->mu);
		while (st->count == 0 && !st->eof && !s->failed)
			pthread_cond_wait(&s->cv_data, &s->mu);
		if (s->failed) {
			pthread_mutex_unlock(&s->mu);
			teng->core->rollback(wc->conn, wc->err);
			return FERRY_EINTR; /* someone else failed; their error is the run's */
		}
		if (st->count == 0 && st->eof) {
			pthread_mutex_unlock(&s->mu);
			return 0;
		}
		ferry_batch *b = st->ring[st->head];
		pthread_mutex_unlock(&s->mu);

		wc->batch = b;
		int e = (teng->flags & FERRY_ENGINE_NUMERIC_AFFINITY) && !wc->elsewhere
		            ? ferry__guard_check(j, b, reject_cb, wc, wc->err) : 0;
		if (e == 0 && ferry_batch_nrows(b) > 0 && !wc->elsewhere) {
			int64_t pre = wc->rejected;
			e = teng->write->writer_write(wc->writers[j->id], b, reject_cb, wc, wc->err);
			*written += (int64_t)ferry_batch_nrows(b) - (wc->rejected - pre);
		}
		if (e)
			return abandon(wc, e);
		pthread_mutex_lock(&s->mu);
		st->head = (st->head + 1) % RING;
		st->count--;
		wake(s, WAKE_SPACE);
		pthread_mutex_unlock(&s->mu);
	}
}

/* The item's checkpoint, in its transaction: the chunk's record, or the stream position.
 * *elsewhere = 1: a shared run's chunk that another process committed first. */
static int checkpoint(writer_ctx *wc, const ferry_chunk_rec *rec, int *elsewhere)
{
	const ferry_sched_config *cfg = wc->s->cfg;
	ferry_work *w = wc->w;
	/* The lease first: a holder that was paused since the item began finds out here, before
	 * the checkpoint could say the item is no longer pending (done by the one that took
	 * over), and commits nothing. At the end of the transaction, so the lease row stays
	 * locked (PostgreSQL) for the shortest time. */
	int e = ferry__lease_fence(cfg->lease, wc->conn, wc->err);
	if (e && e != FERRY_EHELD && !w->pos) {
		char keep[sizeof(wc->err->msg)];
		memcpy(keep, wc->err->msg, sizeof(keep));
		return ferry_err_set(wc->err, e, "could not record chunk %lld of table \"%s\" as done: %.800s",
		                     (long long)rec->chunk, rec->table ? rec->table : "?", keep);
	}
	if (e)
		return e;
	if (w->pos)
		return ferry__state_position_set(cfg->teng, wc->conn, cfg->run_id, w->source, w->pos,
		                                  wc->err);
	return ferry__state_chunk_done(cfg->teng, wc->conn, cfg->run_id, rec,
	                               cfg->shared ? elsewhere : NULL, wc->err);
}

/* Commit, with the test-only kill points around it. */
static int commit_item(writer_ctx *wc)
{
	sched *s = wc->s;
	int64_t nth = 0;
	if (s->fault_kind) {
		/* Count commit attempts under the lock, so that with several writers each N is
		 * taken by exactly one of them. */
		pthread_mutex_lock(&s->mu);
		nth = ++s->fault_seen;
		pthread_mutex_unlock(&s->mu);
		if (s->fault_kind == 1 && nth == s->fault_at)
			raise(SIGKILL); /* every row of this item is written, none committed */
	}
	int e = s->cfg->teng->core->commit(wc->conn, wc->err);
	if (e == 0 && s->fault_kind == 2 && nth == s->fault_at)
		raise(SIGKILL); /* committed, not yet counted by this process */
	if (e == 0 && s->fault_kind == 3 && nth == s->fault_at && s->fault_cmd && system(s->fault_cmd) != 0)
		e = ferry_err_set(wc->err, FERRY_ERROR, "FERRY_FAULT exec-after-commit: the command failed");
	return e;
}

static int write_item(writer_ctx *wc, stream *st)
{
	sched *s = wc->s;
	ferry_work *w = st->w;
	job *j = w->j;
	int64_t written = 0;
	int e = begin_item(wc, w);
	if (e == 0)
		e = write_rows(wc, st, &written);
	if (e)
		return e;
	int64_t produced = st->rows;
	int64_t skipped = j->filter ? (w->est_rows > produced ? w->est_rows - produced : 0) : 0;
	ferry_chunk_rec rec = {
		.job = (int64_t)j->id, .chunk = w->chunk, .job_name = j->name, .stage = j->stage,
		.table = j->dst_table, .est_rows = w->est_rows, .done = 1,
		.rows_read = j->filter ? produced + skipped : produced, .rows_written = written,
		.rows_rejected = wc->rejected, .rows_skipped = skipped,
	};
	int elsewhere = wc->elsewhere;
	if (!elsewhere)
		e = checkpoint(wc, &rec, &elsewhere);
	if (e == 0 && elsewhere) {
		/* Its rows are in, once, by the other process: this transaction goes. */
		e = s->cfg->teng->core->rollback(wc->conn, wc->err);
		if (e)
			return e;
	} else if (e == 0) {
		e = commit_item(wc);
	}
	if (e)
		return abandon(wc, e);
	pthread_mutex_lock(&s->mu);
	if (!elsewhere) {
		j->rows_read += rec.rows_read;
		j->rows_written += written;
		j->rows_rejected += wc->rejected;
		j->rows_skipped += skipped;
		j->chunks_done++;
	}
	w->elsewhere = elsewhere;
	w->committed = 1;
	s->inflight--;
	s->next_commit = w->seq + 1;
	if (s->src->committed)
		s->src->committed(s->src->ud, w);
	st->w = NULL;
	st->claimed = 0;
	wake(s, WAKE_ALL);
	pthread_mutex_unlock(&s->mu);
	return 0;
}

/* May the item in st be written now? Under s->mu. */
static int writable(const sched *s, const stream *st)
{
	if (!st->w || st->claimed || (st->count == 0 && !st->eof))
		return 0;
	if ((s->src->flags & FERRY_WORK_IN_ORDER) && st->w->seq != s->next_commit)
		return 0;
	return !s->src->may_write || s->src->may_write(s->src->ud, st->w);
}

/* The earliest writable stream, waiting for one; NULL when the run is over. */
static stream *claim(sched *s)
{
	pthread_mutex_lock(&s->mu);
	stream *pick = NULL;
	while (!over(s)) {
		for (size_t i = 0; i < s->nstreams; i++) {
			stream *st = &s->streams[i];
			if (writable(s, st) && (!pick || st->w->seq < pick->w->seq))
				pick = st;
		}
		if (pick)
			break;
		pthread_cond_wait(&s->cv_data, &s->mu);
	}
	if (pick)
		pick->claimed = 1;
	pthread_mutex_unlock(&s->mu);
	return pick;
}

static void *writer_main(void *arg)
{
	writer_ctx *wc = arg;
	sched *s = wc->s;
	ferry_err err = {0};
	wc->err = &err;
	stream *st;
	while ((st = claim(s)) != NULL) {
		int e = write_item(wc, st);
		if (e && e != FERRY_EINTR)
			fail(s, &err);
		if (e)
			break;
	}
	return NULL;
}

/* ---- the coordinator ---------------------------------------------------------------- */

typedef struct workers {
	reader_ctx *rcs;
	writer_ctx *wcs;
	pthread_t *rt, *wt;
	int nr, nw;               /* contexts made */
	int started_r, started_w; /* threads started */
} workers;

/* Progress of the stage's jobs, from the coordinator while the workers run. */
static void report(const ferry_sched_config *cfg)
{
	jobset *js = cfg->js;
	for (size_t i = 0; i < js->njobs; i++) {
		job *j = &js->jobs[i];
		if (strcmp(j->stage, cfg->stage) != 0 || j->done_flag)
			continue;
		if (j->chunks > 0 && j->chunks_done == j->chunks) {
			j->done_flag = 1;
			j->seconds = ferry__now() - j->started;
			ferry__sched_emit(cfg->opts, FERRY_PROGRESS_DONE, j, NULL);
		} else {
			ferry__sched_emit(cfg->opts, FERRY_PROGRESS_ROWS, j, NULL);
		}
	}
}

/* Watch the workers until the run is over; an interrupt fails the run (the items committed
 * stay, and the next run resumes after them). */
static void watch(sched *s, workers *wk)
{
	pthread_mutex_lock(&s->mu);
	while (!over(s) && wk->started_w > 0) {
		timed_wait(&s->cv_main, &s->mu, WAIT_MS);
		if (ferry__interrupted(s->cfg->ctx) && !s->failed) {
			s->failed = 1;
			ferry_err_set(&s->err, FERRY_EINTR, "interrupted; committed chunks are kept and the next run resumes after them");
			wake(s, WAKE_ALL);
		}
		ferry_err lost = {0};
		if (!s->failed && ferry__lease_check(s->cfg->lease, &lost) != 0) {
			s->failed = 1;
			s->err = lost;
			wake(s, WAKE_ALL);
		}
		pthread_mutex_unlock(&s->mu);
		report(s->cfg);
		pthread_mutex_lock(&s->mu);
	}
	if (wk->started_w == 0 && !s->failed) {
		s->failed = 1;
		wake(s, WAKE_ALL);
	}
	pthread_mutex_unlock(&s->mu);
}

static int start_workers(sched *s, workers *wk, ferry_err *err)
{
	const ferry_sched_config *cfg = s->cfg;
	int nr = cfg->nreaders, nw = cfg->nwriters;
	wk->rcs = ferry__calloc((size_t)nr, sizeof(reader_ctx));
	wk->wcs = ferry__calloc((size_t)nw, sizeof(writer_ctx));
	wk->rt = ferry__calloc((size_t)nr, sizeof(pthread_t));
	wk->wt = ferry__calloc((size_t)nw, sizeof(pthread_t));
	if (!wk->rcs || !wk->wcs || !wk->rt || !wk->wt)
		return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	for (; wk->nw < nw; wk->nw++) {
		writer_ctx *wc = &wk->wcs[wk->nw];
		wc->s = s;
		if (!(wc->writers = ferry__calloc(cfg->js->njobs + 1, sizeof(ferry_writer *))))
			return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
		int rc = cfg->teng->core->connect(&wc->conn, cfg->plan->target, 0, err);
		if (rc) {
			wk->nw++;
			return rc;
		}
	}
	for (; wk->nr < nr; wk->nr++) {
		reader_ctx *rc = &wk->rcs[wk->nr];
		rc->s = s;
		if (!(rc->conns = ferry__calloc(cfg->plan->nsources + 1, sizeof(ferry_conn *))))
			return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
		if (pthread_create(&wk->rt[wk->nr], NULL, reader_main, rc) != 0)
			return ferry_err_set(err, FERRY_ERROR, "could not start a reader thread");
		wk->started_r++;
	}
	for (int i = 0; i < nw; i++) {
		if (pthread_create(&wk->wt[i], NULL, writer_main, &wk->wcs[i]) != 0)
			return ferry_err_set(err, FERRY_ERROR, "could not start a writer thread");
		wk->started_w++;
	}
	return 0;
}

/* Stop and join every thread, then close what they opened. */
static void stop_workers(sched *s, workers *wk, int rc, const ferry_err *err)
{
	const ferry_sched_config *cfg = s->cfg;
	if (rc)
		fail(s, err);
	for (int i = 0; i < wk->started_r; i++)
		pthread_join(wk->rt[i], NULL);
	for (int i = 0; i < wk->started_w; i++)
		pthread_join(wk->wt[i], NULL);
	for (int i = 0; i < wk->nr; i++) {
		for (size_t k = 0; wk->rcs[i].conns && k < cfg->plan->nsources; k++)
			if (wk->rcs[i].conns[k])
				cfg->sources[k].eng->core->close(wk->rcs[i].conns[k]);
		free(wk->rcs[i].conns);
	}
	for (int i = 0; i < wk->nw; i++) {
		for (size_t k = 0; wk->wcs[i].writers && k < cfg->js->njobs; k++)
			if (wk->wcs[i].writers[k])
				cfg->teng->write->writer_close(wk->wcs[i].writers[k]);
		free(wk->wcs[i].writers);
		if (wk->wcs[i].conn)
			cfg->teng->core->close(wk->wcs[i].conn);
	}
	free(wk->rcs);
	free(wk->wcs);
	free(wk->rt);
	free(wk->wt);
}

int ferry__sched_run(const ferry_sched_config *cfg, ferry_work_source *src, ferry_err *err)
{
	sched s;
	memset(&s, 0, sizeof(s));
	s.cfg = cfg;
	s.src = src;
	fault_parse(&s);
	/* Every reader and writer holds at most one item, and one more is ready to claim. */
	s.nstreams = (size_t)cfg->nreaders + (size_t)cfg->nwriters + 1;
	s.streams = ferry__calloc(s.nstreams, sizeof(stream));
	if (!s.streams)
		return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	pthread_mutex_init(&s.mu, NULL);
	pthread_mutex_init(&s.take_mu, NULL);
	pthread_cond_init(&s.cv_space, NULL);
	pthread_cond_init(&s.cv_data, NULL);
	pthread_cond_init(&s.cv_main, NULL);
	workers wk;
	memset(&wk, 0, sizeof(wk));
	int rc = start_workers(&s, &wk, err);
	if (rc == 0)
		watch(&s, &wk);
	stop_workers(&s, &wk, rc, err);
	if (s.failed && rc == 0)
		rc = ferry__err_copy(err, &s.err);
	for (size_t i = 0; i < s.nstreams; i++)
		for (int k = 0; k < RING; k++)
			ferry__batch_free(s.streams[i].ring[k]);
	free(s.streams);
	pthread_mutex_destroy(&s.mu);
	pthread_mutex_destroy(&s.take_mu);
	pthread_cond_destroy(&s.cv_space);
	pthread_cond_destroy(&s.cv_data);
	pthread_cond_destroy(&s.cv_main);
	return rc;
}
