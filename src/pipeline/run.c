/* run.c — ferry_copy: the one pipeline. Readers pull chunks (key ranges) from a queue and
 * stream batches; writers claim a chunk's stream and load it in one target transaction
 * together with its checkpoint record, in foreign-key order. Copy, and later export,
 * import and the online backfill, are this loop with other ends. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "pipeline.h"
#include "../history/history.h"

#define RING 4            /* batches in flight per chunk stream */
#define BATCH_ROWS 4096   /* rows per batch */
#define MAX_THREADS 64

typedef struct work {
	job *j;
	int ordered;              /* written only after every earlier chunk for its table */
	int committed;
	int64_t chunk;
	uint8_t *lo, *hi;
	size_t lo_len, hi_len;
	int64_t est_rows;
} work;

typedef struct stream {
	work *w;                  /* NULL: free */
	ferry_batch *ring[RING];
	size_t ring_ncols;
	size_t head, count;
	int eof, claimed;
	int64_t rows;             /* rows the reader produced (after the filter) */
} stream;

typedef struct run {
	int fault_kind;           /* FERRY_FAULT: 1 kill before a commit, 2 after one */
	int64_t fault_at;         /* ... the Nth chunk commit of this process */
	int64_t fault_seen;       /* commit attempts so far (under mu) */
	ferry_ctx *ctx;
	const ferry_plan *plan;
	const char *run_id;
	ferry_source_conn *sources;
	const ferry_engine *teng;
	const char *turl;
	pthread_mutex_t mu;
	pthread_cond_t cv_space;  /* readers wait here: a free stream or ring slot */
	pthread_cond_t cv_data;   /* writers wait here: a batch, or a chunk to claim */
	pthread_cond_t cv_main;   /* the coordinator waits here: a commit, an end */
	work *work;
	size_t nwork, next_work, committed;
	int64_t *level_left;      /* uncommitted chunks per foreign-key level */
	int nlevels;
	stream *streams;
	size_t nstreams;
	int failed;
	ferry_err err;
	int nreaders_left;
} run;

enum { WAKE_SPACE = 1, WAKE_DATA = 2, WAKE_MAIN = 4, WAKE_ALL = 7 };

/* Wake the waiters named by mask; the caller holds r->mu. */
static void wake(run *r, int mask)
{
	if (mask & WAKE_SPACE)
		pthread_cond_broadcast(&r->cv_space);
	if (mask & WAKE_DATA)
		pthread_cond_broadcast(&r->cv_data);
	if (mask & WAKE_MAIN)
		pthread_cond_broadcast(&r->cv_main);
}

static void run_fail(run *r, const ferry_err *e)
{
	pthread_mutex_lock(&r->mu);
	if (!r->failed) {
		r->failed = 1;
		r->err = *e;
	}
	wake(r, WAKE_ALL);
	pthread_mutex_unlock(&r->mu);
}

/* A merge, or a table fed by several jobs, takes its chunks in the plan's order, so that
 * first/last rules and duplicate-key rejects do not depend on which reader was faster. */
static int waits_for_earlier(const run *r, const work *w)
{
	if (!w->ordered)
		return 0;
	for (const work *e = r->work; e < w; e++)
		if (!e->committed && e->j != NULL && strcmp(e->j->dst_table, w->j->dst_table) == 0)
			return 1;
	return 0;
}

static int min_level(const run *r)
{
	for (int l = 0; l < r->nlevels; l++)
		if (r->level_left[l] > 0)
			return l;
	return r->nlevels;
}

/* Test-only fault injection, from the environment: FERRY_FAULT=kill-before-commit:N or
 * kill-after-commit:N kills the process with SIGKILL at the Nth chunk commit, so the
 * resume tests can stop a run at exact points. */
static void fault_parse(run *r)
{
	const char *f = getenv("FERRY_FAULT");
	if (!f)
		return;
	if (strncmp(f, "kill-before-commit:", 19) == 0) {
		r->fault_kind = 1;
		r->fault_at = strtoll(f + 19, NULL, 10);
	} else if (strncmp(f, "kill-after-commit:", 18) == 0) {
		r->fault_kind = 2;
		r->fault_at = strtoll(f + 18, NULL, 10);
	}
}

/* ---- readers ------------------------------------------------------------------------ */

typedef struct reader_ctx {
	run *r;
	ferry_conn **conns;       /* one per source, opened lazily */
} reader_ctx;

static int reader_conn(reader_ctx *rc, size_t src, ferry_conn **out, ferry_err *err)
{
	if (!rc->conns[src]) {
		ferry_source_conn *s = &rc->r->sources[src];
		int e = s->eng->connect(&rc->conns[src], rc->r->plan->sources[src].url,
		                        FERRY_CONNECT_READONLY, err);
		if (e)
			return e;
		/* No token: the source shares no snapshot (an online copy, which converges
		 * through the replay of its captured changes). */
		e = s->token ? s->eng->snapshot_join(rc->conns[src], s->token, err) : 0;
		if (e)
			return e;
	}
	*out = rc->conns[src];
	return 0;
}

static int read_chunk(reader_ctx *rc, stream *s, ferry_err *err)
{
	run *r = rc->r;
	work *w = s->w;
	job *j = w->j;
	const ferry_engine *eng = r->sources[j->src].eng;
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
	ferry_read_spec spec = {
		.table = j->src_table,
		.nexprs = j->nexprs,
		.exprs = (const char *const *)j->exprs,
		.filter = j->filter,
		.nkeys = j->nchunk_keys,
		.keys = (const char *const *)j->chunk_keys,
		.lo = w->lo ? lo : NULL,
		.hi = w->hi ? hi : NULL,
		.nparams = j->nparams,
		.params = j->params,
	};
	if (s->ring_ncols != j->nexprs) {
		for (int i = 0; i < RING; i++) {
			ferry__batch_free(s->ring[i]);
			s->ring[i] = ferry__batch_new(j->nexprs, BATCH_ROWS);
			if (!s->ring[i])
				return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
		}
		s->ring_ncols = j->nexprs;
	}
	ferry_reader *rd;
	e = eng->reader_open(&rd, conn, &spec, err);
	if (e)
		return e;
	int eof = 0;
	while (!eof) {
		pthread_mutex_lock(&r->mu);
		while (s->count == RING && !r->failed)
			pthread_cond_wait(&r->cv_space, &r->mu);
		int stop = r->failed;
		size_t idx = (s->head + s->count) % RING;
		pthread_mutex_unlock(&r->mu);
		if (stop)
			break;
		if (r->ctx->interrupted) {
			e = ferry_err_set(err, FERRY_EINTR, "interrupted");
			break;
		}
		ferry_batch *b = s->ring[idx];
		ferry__batch_reset(b);
		e = eng->reader_next(rd, b, &eof, err);
		if (e)
			break;
		pthread_mutex_lock(&r->mu);
		if (ferry_batch_nrows(b) > 0) {
			s->count++;
			s->rows += (int64_t)ferry_batch_nrows(b);
		}
		if (eof)
			s->eof = 1;
		wake(r, WAKE_DATA);
		pthread_mutex_unlock(&r->mu);
	}
	eng->reader_close(rd);
	return e;
}

static void *reader_main(void *arg)
{
	reader_ctx *rc = arg;
	run *r = rc->r;
	for (;;) {
		pthread_mutex_lock(&r->mu);
		stream *s = NULL;
		for (;;) {
			if (r->failed || r->next_work >= r->nwork)
				break;
			for (size_t i = 0; i < r->nstreams && !s; i++)
				if (!r->streams[i].w)
					s = &r->streams[i];
			if (s)
				break;
			pthread_cond_wait(&r->cv_space, &r->mu);
		}
		if (!s) {
			pthread_mutex_unlock(&r->mu);
			break;
		}
		s->w = &r->work[r->next_work++];
		s->head = s->count = 0;
		s->eof = s->claimed = 0;
		s->rows = 0;
		pthread_mutex_unlock(&r->mu);
		ferry_err err = {0};
		if (read_chunk(rc, s, &err) != 0) {
			run_fail(r, &err);
			break;
		}
	}
	pthread_mutex_lock(&r->mu);
	r->nreaders_left--;
	wake(r, WAKE_DATA | WAKE_MAIN);
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

/* ---- writers ------------------------------------------------------------------------ */

typedef struct writer_ctx {
	run *r;
	ferry_conn *conn;
	ferry_writer **writers;   /* per job id, opened lazily */
	size_t nwriters;
	/* The chunk being written. */
	work *w;
	ferry_batch *batch;
	int64_t rejected;
	ferry_err *err;
} writer_ctx;

/* Would SQLite-style numeric affinity change this text's value? Text that reads as a number
 * but is not that number's plain form ("012", "1.0" into an integer column, " 7") would
 * silently become another value, so such rows are refused instead. */
static int text_number_changes(const char *s, size_t len, ferry_type target)
{
	char tmp[64];
	if (len == 0 || len >= sizeof(tmp))
		return 0;
	int digit = 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c >= '0' && c <= '9')
			digit = 1;
		else if (c == '\0' || !strchr("+-.eE \t\n\r\f\v", c))
			return 0;
	}
	if (!digit)
		return 0;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	char *end;
	errno = 0;
	double d = strtod(tmp, &end);
	while (*end && strchr(" \t\n\r\f\v", *end))
		end++;
	if (*end != '\0' || errno == ERANGE)
		return 0; /* not a number to SQLite either: stored as text, unchanged */
	if (strcmp(tmp, "-0") == 0)
		return 1;
	const char *p = tmp[0] == '-' ? tmp + 1 : tmp;
	if (*p && strspn(p, "0123456789") == strlen(p)) {
		if (p[0] == '0' && p[1] != '\0')
			return 1; /* leading zeros would be lost */
		errno = 0;
		(void)strtoll(tmp, NULL, 10);
		return errno == ERANGE; /* past int64 it would become a rounded real */
	}
	char canon[64];
	snprintf(canon, sizeof(canon), "%.15g", d);
	if (strcmp(canon, tmp) == 0)
		return target != FERRY_FLOAT && !strpbrk(canon, ".e") ? 1 : 0;
	if (target == FERRY_FLOAT && !strpbrk(canon, ".en")) {
		/* A REAL column shows 2.0 as "2.0": that text is kept exactly. */
		strncat(canon, ".0", sizeof(canon) - strlen(canon) - 1);
		return strcmp(canon, tmp) != 0;
	}
	return 1;
}

/* Would SQLite's numeric affinity change this exact decimal (a numeric value from another
 * engine)? It keeps an integer that fits 64 bits, and a real's 15 significant digits; the
 * scale ("1.50") is not part of the value. */
static int numeric_changes(const char *s, size_t len)
{
	size_t i = 0, sig = 0, pending = 0;
	int seen = 0, frac = 0;
	if (i < len && (s[i] == '-' || s[i] == '+'))
		i++;
	size_t int_digits = 0;
	for (; i < len; i++) {
		char c = s[i];
		if (c == '.') {
			frac = 1;
			continue;
		}
		if (c < '0' || c > '9')
			return 1; /* NaN, exponents and the like: not a plain decimal, refuse */
		if (!frac)
			int_digits += seen || c != '0';
		if (c == '0') {
			if (seen)
				pending++; /* counts only if a non-zero digit follows */
			continue;
		}
		seen = 1;
		sig += pending + 1;
		pending = 0;
	}
	/* Integral and within int64: stored exactly as an integer. */
	int integral = !frac || sig <= int_digits;
	if (integral && int_digits <= 18)
		return 0;
	return sig > 15;
}

static int reject_row(writer_ctx *wc, size_t row, const char *reason)
{
	run *r = wc->r;
	job *j = wc->w->j;
	const ferry_value *v = ferry_batch_crow(wc->batch, row);
	ferry_buf key = FERRY_BUF_INIT;
	ferry_buf_puts(&key, "{");
	if (j->nkeys) {
		for (size_t k = 0; k < j->nkeys; k++) {
			if (k)
				ferry_buf_puts(&key, ",");
			ferry_buf_json_str(&key, j->keynames[k], strlen(j->keynames[k]));
			ferry_buf_puts(&key, ":");
			ferry__value_json(&key, &v[j->ntcols + k]);
		}
	} else {
		/* No key: the row itself identifies what was refused. */
		for (size_t k = 0; k < j->ntcols; k++) {
			if (k)
				ferry_buf_puts(&key, ",");
			ferry_buf_json_str(&key, j->tcols[k], strlen(j->tcols[k]));
			ferry_buf_puts(&key, ":");
			ferry__value_json(&key, &v[k]);
		}
	}
	ferry_buf_puts(&key, "}");
	if (key.failed)
		return ferry_err_set(wc->err, FERRY_ENOMEM, "out of memory");
	int e = r->teng->state_reject(wc->conn, r->run_id, (int64_t)j->id, wc->w->chunk, j->dst_table,
	                              key.data, reason, wc->err);
	ferry_buf_free(&key);
	if (e == 0)
		wc->rejected++;
	return e;
}

static int reject_cb(void *ud, size_t row, const char *reason)
{
	return reject_row(ud, row, reason);
}

/* Refuse the rows whose values would change on the way in; keep the rest, in order. */
static int check_conversions(writer_ctx *wc, ferry_batch *b)
{
	job *j = wc->w->j;
	size_t n = ferry_batch_nrows(b), ncols = ferry_batch_ncols(b), keep = 0;
	for (size_t row = 0; row < n; row++) {
		ferry_value *v = ferry_batch_row(b, row);
		int bad = -1;
		const char *why = NULL;
		for (size_t c = 0; c < j->ntcols && bad < 0; c++) {
			ferry_type t = j->ttypes[c];
			if (j->texact[c])
				continue; /* no affinity conversion; the engine stores NaN as 'NaN' */
			int numeric = t == FERRY_INT || t == FERRY_FLOAT || t == FERRY_NUMERIC;
			if (numeric && ((v[c].type == FERRY_TEXT && text_number_changes(v[c].v.s, v[c].len, t)) ||
			                (v[c].type == FERRY_NUMERIC && numeric_changes(v[c].v.s, v[c].len)))) {
				bad = (int)c;
				why = "would change value";
			} else if (v[c].type == FERRY_FLOAT && isnan(v[c].v.f)) {
				bad = (int)c; /* SQLite stores NaN as NULL */
				why = "cannot be stored (it would become NULL)";
			} else if (numeric && v[c].type == FERRY_FLOAT && v[c].v.f == 0.0 && signbit(v[c].v.f)) {
				bad = (int)c; /* a typed SQLite column keeps 0 */
				why = "would lose its sign";
			}
		}
		if (bad >= 0) {
			ferry_buf reason = FERRY_BUF_INIT;
			ferry_buf_printf(&reason, "%s ", ferry_type_name(v[bad].type));
			if (v[bad].type == FERRY_FLOAT && v[bad].v.f == 0.0)
				ferry_buf_puts(&reason, "-0.0");
			else if (v[bad].type == FERRY_FLOAT && isnan(v[bad].v.f))
				ferry_buf_puts(&reason, "NaN");
			else
				ferry__value_text(&reason, &v[bad]);
			ferry_buf_printf(&reason, " %s in %s column \"%s\" (convert it with an expr rule)", why,
			                 ferry_type_name(j->ttypes[bad]), j->tcols[bad]);
			int e = reason.failed ? ferry_err_set(wc->err, FERRY_ENOMEM, "out of memory")
			                      : reject_row(wc, row, reason.data);
			ferry_buf_free(&reason);
			if (e)
				return e;
			continue;
		}
		if (keep != row)
			memcpy(ferry_batch_row(b, keep), v, ncols * sizeof(ferry_value));
		keep++;
	}
	/* Shrink the batch to the kept rows. */
	ferry__batch_truncate(b, keep);
	return 0;
}

static int write_chunk(writer_ctx *wc, stream *s)
{
	run *r = wc->r;
	work *w = s->w;
	job *j = w->j;
	ferry_err *err = wc->err;
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
		};
		e = r->teng->writer_open(&wc->writers[j->id], wc->conn, &spec, err);
		if (e)
			return e;
	}
	wc->w = w;
	wc->rejected = 0;
	int64_t written = 0;
	e = r->teng->begin(wc->conn, err);
	if (e)
		return e;
	if (r->teng->chunk_begin) {
		ferry_chunk_rec at = {.job = (int64_t)j->id, .chunk = w->chunk, .job_name = j->name,
		                      .stage = j->stage, .table = j->dst_table, .est_rows = w->est_rows};
		e = r->teng->chunk_begin(wc->conn, &at, err);
		if (e) {
			ferry_err keep = *err;
			r->teng->rollback(wc->conn, err);
			*err = keep;
			return e;
		}
	}
	for (;;) {
		pthread_mutex_lock(&r->mu);
		while (s->count == 0 && !s->eof && !r->failed)
			pthread_cond_wait(&r->cv_data, &r->mu);
		if (r->failed) {
			pthread_mutex_unlock(&r->mu);
			r->teng->rollback(wc->conn, err);
			return FERRY_EINTR; /* someone else failed; their error is the run's */
		}
		if (s->count == 0 && s->eof) {
			pthread_mutex_unlock(&r->mu);
			break;
		}
		ferry_batch *b = s->ring[s->head];
		pthread_mutex_unlock(&r->mu);

		wc->batch = b;
		int64_t before = wc->rejected;
		e = (r->teng->flags & FERRY_ENGINE_NUMERIC_AFFINITY) ? check_conversions(wc, b) : 0;
		if (e == 0 && ferry_batch_nrows(b) > 0) {
			int64_t pre = wc->rejected;
			e = r->teng->writer_write(wc->writers[j->id], b, reject_cb, wc, err);
			written += (int64_t)ferry_batch_nrows(b) - (wc->rejected - pre);
		}
		(void)before;
		if (e) {
			ferry_err keep = *err;
			r->teng->rollback(wc->conn, err);
			*err = keep;
			return e;
		}
		pthread_mutex_lock(&r->mu);
		s->head = (s->head + 1) % RING;
		s->count--;
		wake(r, WAKE_SPACE);
		pthread_mutex_unlock(&r->mu);
	}
	int64_t produced = s->rows;
	int64_t skipped = j->filter ? (w->est_rows > produced ? w->est_rows - produced : 0) : 0;
	ferry_chunk_rec rec = {
		.job = (int64_t)j->id,
		.chunk = w->chunk,
		.job_name = j->name,
		.stage = j->stage,
		.table = j->dst_table,
		.est_rows = w->est_rows,
		.done = 1,
		.rows_read = j->filter ? produced + skipped : produced,
		.rows_written = written,
		.rows_rejected = wc->rejected,
		.rows_skipped = skipped,
	};
	e = r->teng->state_chunk_done(wc->conn, r->run_id, &rec, err);
	int64_t nth = 0;
	if (r->fault_kind) {
		/* Count commit attempts under the lock, so that with several writers each N is
		 * taken by exactly one of them. */
		pthread_mutex_lock(&r->mu);
		nth = ++r->fault_seen;
		pthread_mutex_unlock(&r->mu);
		if (r->fault_kind == 1 && nth == r->fault_at)
			raise(SIGKILL); /* every row of this chunk is written, none committed */
	}
	if (e == 0)
		e = r->teng->commit(wc->conn, err);
	if (e == 0 && r->fault_kind == 2 && nth == r->fault_at)
		raise(SIGKILL); /* committed, not yet counted by this process */
	if (e) {
		ferry_err keep = *err;
		r->teng->rollback(wc->conn, err);
		*err = keep;
		return e;
	}
	pthread_mutex_lock(&r->mu);
	j->rows_read += rec.rows_read;
	j->rows_written += written;
	j->rows_rejected += wc->rejected;
	j->rows_skipped += skipped;
	j->chunks_done++;
	r->committed++;
	w->committed = 1;
	r->level_left[j->level]--;
	s->w = NULL;
	s->claimed = 0;
	wake(r, WAKE_ALL);
	pthread_mutex_unlock(&r->mu);
	return 0;
}

static void *writer_main(void *arg)
{
	writer_ctx *wc = arg;
	run *r = wc->r;
	ferry_err err = {0};
	wc->err = &err;
	for (;;) {
		pthread_mutex_lock(&r->mu);
		stream *pick = NULL;
		for (;;) {
			if (r->failed || r->committed >= r->nwork)
				break;
			int lvl = min_level(r);
			for (size_t i = 0; i < r->nstreams; i++) {
				stream *s = &r->streams[i];
				if (!s->w || s->claimed || s->w->j->level != lvl || (s->count == 0 && !s->eof) ||
				    waits_for_earlier(r, s->w))
					continue;
				if (!pick || s->w < pick->w)
					pick = s;
			}
			if (pick)
				break;
			pthread_cond_wait(&r->cv_data, &r->mu);
		}
		if (pick)
			pick->claimed = 1;
		pthread_mutex_unlock(&r->mu);
		if (!pick)
			break;
		int e = write_chunk(wc, pick);
		if (e && e != FERRY_EINTR) {
			run_fail(r, &err);
			break;
		}
		if (e)
			break;
	}
	return NULL;
}

/* ---- the coordinator ---------------------------------------------------------------- */

typedef struct state_ctx {
	jobset *js;
	work **work;
	size_t *nwork, *cap;
	const char *stage;        /* only this stage's jobs are counted and queued */
	int *has_chunks;          /* per job id, whatever its stage */
	ferry_err *err;
} state_ctx;

static int state_row(void *ud, const ferry_chunk_rec *rec)
{
	state_ctx *sc = ud;
	if (rec->job < 0 || (size_t)rec->job >= sc->js->njobs)
		return ferry_err_set(sc->err, FERRY_ECORRUPT,
		                     "run state in the target names job %lld, which this plan does not have",
		                     (long long)rec->job);
	job *j = &sc->js->jobs[rec->job];
	sc->has_chunks[rec->job] = 1;
	if (strcmp(j->stage, sc->stage) != 0)
		return 0;
	j->chunks++;
	j->rows_est += rec->est_rows;
	if (rec->done) {
		j->chunks_done++;
		j->chunks_resumed++;
		j->rows_resumed += rec->rows_read;
		j->rows_read += rec->rows_read;
		j->rows_written += rec->rows_written;
		j->rows_rejected += rec->rows_rejected;
		j->rows_skipped += rec->rows_skipped;
		return 0;
	}
	if (ferry__grow(sc->work, sc->cap, *sc->nwork + 1, sizeof(work)) != 0)
		return ferry_err_set(sc->err, FERRY_ENOMEM, "out of memory");
	work *w = &(*sc->work)[(*sc->nwork)++];
	memset(w, 0, sizeof(*w));
	w->j = j;
	w->chunk = rec->chunk;
	w->est_rows = rec->est_rows;
	if (rec->lo && !(w->lo = malloc(rec->lo_len ? rec->lo_len : 1)))
		return ferry_err_set(sc->err, FERRY_ENOMEM, "out of memory");
	if (rec->lo && rec->lo_len)
		memcpy(w->lo, rec->lo, rec->lo_len);
	w->lo_len = rec->lo_len;
	if (rec->hi && !(w->hi = malloc(rec->hi_len ? rec->hi_len : 1)))
		return ferry_err_set(sc->err, FERRY_ENOMEM, "out of memory");
	if (rec->hi && rec->hi_len)
		memcpy(w->hi, rec->hi, rec->hi_len);
	w->hi_len = rec->hi_len;
	return 0;
}

typedef struct plan_ctx {
	ferry_chunk_rec *recs;
	size_t n, cap;
	job *j;
	ferry_err *err;
} plan_ctx;

static int plan_row(void *ud, const ferry_chunk_rec *rec)
{
	plan_ctx *pc = ud;
	if (ferry__grow(&pc->recs, &pc->cap, pc->n + 1, sizeof(ferry_chunk_rec)) != 0)
		return ferry_err_set(pc->err, FERRY_ENOMEM, "out of memory");
	ferry_chunk_rec *d = &pc->recs[pc->n++];
	*d = *rec;
	d->job = (int64_t)pc->j->id;
	d->job_name = pc->j->name;
	d->stage = pc->j->stage;
	d->table = pc->j->dst_table;
	d->done = 0;
	uint8_t *lo = NULL, *hi = NULL;
	if (rec->lo && !(lo = malloc(rec->lo_len ? rec->lo_len : 1)))
		return ferry_err_set(pc->err, FERRY_ENOMEM, "out of memory");
	if (rec->lo && rec->lo_len)
		memcpy(lo, rec->lo, rec->lo_len);
	if (rec->hi && !(hi = malloc(rec->hi_len ? rec->hi_len : 1))) {
		free(lo);
		return ferry_err_set(pc->err, FERRY_ENOMEM, "out of memory");
	}
	if (rec->hi && rec->hi_len)
		memcpy(hi, rec->hi, rec->hi_len);
	d->lo = lo;
	d->hi = hi;
	return 0;
}

static void plan_ctx_clear(plan_ctx *pc)
{
	for (size_t i = 0; i < pc->n; i++) {
		free((void *)pc->recs[i].lo);
		free((void *)pc->recs[i].hi);
	}
	free(pc->recs);
	memset(pc, 0, sizeof(*pc));
}

static int cmp_work(const void *a, const void *b)
{
	const work *x = a, *y = b;
	if (x->j->level != y->j->level)
		return x->j->level < y->j->level ? -1 : 1;
	if (x->j->id != y->j->id)
		return x->j->id < y->j->id ? -1 : 1;
	return x->chunk < y->chunk ? -1 : x->chunk > y->chunk;
}

static void emit(const ferry_copy_options *o, ferry_progress_kind kind, const job *j,
                 const char *message)
{
	if (!o->progress)
		return;
	char src[512] = "";
	if (j)
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

typedef struct copy_state {
	ferry_ctx *ctx;
	const ferry_plan *plan;
	const ferry_copy_options *opts;
	ferry_source_conn *sources;
	const ferry_engine *teng;
	ferry_conn *tconn;
	ferry_schema *tschema;
	jobset js;
	int threads;
	int64_t chunk_rows;
	int changed;              /* something was committed to the target */
	const ferry__copy_hooks *hooks; /* ferry sync's, or NULL */
	ferry_err err;
} copy_state;

/* Run one stage's pending chunks through the readers and writers. */
static int run_stage(copy_state *cs, const char *stage)
{
	ferry_err *err = &cs->err;
	const ferry_plan *p = cs->plan;
	jobset *js = &cs->js;
	work *works = NULL;
	size_t nwork = 0, wcap = 0;
	int *has_chunks = calloc(js->njobs + 1, sizeof(int));
	int rc = 0;
	if (!has_chunks)
		return ferry_err_set(err, FERRY_ENOMEM, "out of memory");

	/* What earlier runs of this plan already did, for this stage's jobs. */
	state_ctx sc = {js, &works, &nwork, &wcap, stage, has_chunks, err};
	for (size_t i = 0; i < js->njobs; i++)
		if (strcmp(js->jobs[i].stage, stage) == 0) {
			job *j = &js->jobs[i];
			j->chunks = j->chunks_done = j->chunks_resumed = 0;
			j->rows_est = j->rows_resumed = j->rows_read = j->rows_written = j->rows_rejected = j->rows_skipped = 0;
		}
	rc = cs->teng->state_load(cs->tconn, p->run_digest, state_row, &sc, err);
	if (rc)
		goto out;

	/* Fresh jobs: refuse to mix with rows already in the target, then plan their chunks. */
	for (size_t i = 0; i < js->njobs; i++) {
		job *j = &js->jobs[i];
		if (strcmp(j->stage, stage) != 0 || has_chunks[i])
			continue;
		int sibling = 0;
		for (size_t k = 0; k < js->njobs; k++)
			if (k != i && has_chunks[k] && strcmp(js->jobs[k].dst_table, j->dst_table) == 0)
				sibling = 1;
		if (!sibling && !cs->opts->append) {
			int64_t n = 0;
			rc = cs->teng->table_rows(cs->tconn, j->dst_table, &n, err);
			if (rc)
				goto out;
			if (n > 0 && cs->opts->truncate) {
				char *q = ferry__qident(cs->teng, j->dst_table);
				char *sql = q ? ferry__sprintf("DELETE FROM %s", q) : NULL;
				free(q);
				rc = sql ? cs->teng->exec(cs->tconn, sql, err) : ferry_err_set(err, FERRY_ENOMEM, "out of memory");
				free(sql);
				if (rc)
					goto out;
			} else if (n > 0) {
				rc = ferry_err_set(err, FERRY_EUSAGE,
				                   "target table \"%s\" already holds %lld rows that this run did not write (use --truncate to empty it first, or --append to load beside them)",
				                   j->dst_table, (long long)n);
				goto out;
			}
		}
		plan_ctx pc = {0};
		pc.j = j;
		pc.err = err;
		const ferry_engine *seng = cs->sources[j->src].eng;
		rc = seng->plan_chunks(cs->sources[j->src].conn, j->src_table, j->nchunk_keys,
		                       (const char *const *)j->chunk_keys, cs->chunk_rows, plan_row, &pc, err);
		if (rc == 0)
			rc = cs->teng->begin(cs->tconn, err);
		if (rc == 0)
			rc = cs->teng->state_add_chunks(cs->tconn, p->run_digest, pc.recs, pc.n, err);
		if (rc == 0)
			rc = cs->teng->commit(cs->tconn, err);
		else
			cs->teng->rollback(cs->tconn, &(ferry_err){0});
		for (size_t c = 0; rc == 0 && c < pc.n; c++) {
			rc = state_row(&sc, &pc.recs[c]);
		}
		plan_ctx_clear(&pc);
		if (rc)
			goto out;
		has_chunks[i] = 1;
	}

	if (nwork > 1)
		qsort(works, nwork, sizeof(work), cmp_work);
	for (size_t i = 0; i < nwork; i++) {
		job *j = works[i].j;
		int shared = 0;
		for (size_t k = 0; k < js->njobs && !shared; k++)
			shared = &js->jobs[k] != j && strcmp(js->jobs[k].stage, stage) == 0 &&
			         strcmp(js->jobs[k].dst_table, j->dst_table) == 0;
		works[i].ordered = j->merge || shared;
	}
	for (size_t i = 0; i < js->njobs; i++)
		if (strcmp(js->jobs[i].stage, stage) == 0) {
			js->jobs[i].started = ferry__now();
			emit(cs->opts, FERRY_PROGRESS_START, &js->jobs[i], NULL);
		}

	if (nwork > 0) {
		run r;
		memset(&r, 0, sizeof(r));
		r.ctx = cs->ctx;
		r.plan = p;
		r.run_id = p->run_digest;
		r.sources = cs->sources;
		r.teng = cs->teng;
		r.turl = p->target;
		fault_parse(&r);
		r.work = works;
		r.nwork = nwork;
		pthread_mutex_init(&r.mu, NULL);
		pthread_cond_init(&r.cv_space, NULL);
		pthread_cond_init(&r.cv_data, NULL);
		pthread_cond_init(&r.cv_main, NULL);
		int maxl = 0;
		for (size_t i = 0; i < nwork; i++)
			if (works[i].j->level > maxl)
				maxl = works[i].j->level;
		r.nlevels = maxl + 1;
		r.level_left = calloc((size_t)r.nlevels, sizeof(int64_t));
		int nreaders = cs->threads, nwriters = cs->teng->max_writers;
		for (size_t s = 0; s < p->nsources; s++)
			if (cs->sources[s].token && strcmp(cs->sources[s].token, "single") == 0)
				nreaders = 1;
		if ((size_t)nreaders > nwork)
			nreaders = (int)nwork;
		if (nwriters > cs->threads)
			nwriters = cs->threads;
		r.nstreams = (size_t)nreaders + (size_t)nwriters + 1;
		r.streams = calloc(r.nstreams, sizeof(stream));
		reader_ctx *rcs = calloc((size_t)nreaders, sizeof(reader_ctx));
		writer_ctx *wcs = calloc((size_t)nwriters, sizeof(writer_ctx));
		pthread_t *rt = calloc((size_t)nreaders, sizeof(pthread_t));
		pthread_t *wt = calloc((size_t)nwriters, sizeof(pthread_t));
		int started_r = 0, started_w = 0;
		if (!r.level_left || !r.streams || !rcs || !wcs || !rt || !wt) {
			rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
			goto join;
		}
		for (size_t i = 0; i < nwork; i++)
			r.level_left[works[i].j->level]++;
		for (int i = 0; i < nwriters; i++) {
			wcs[i].r = &r;
			wcs[i].nwriters = js->njobs;
			wcs[i].writers = calloc(js->njobs + 1, sizeof(ferry_writer *));
			if (!wcs[i].writers) {
				rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
				goto join;
			}
			rc = cs->teng->connect(&wcs[i].conn, p->target, 0, err);
			if (rc)
				goto join;
		}
		r.nreaders_left = nreaders;
		for (int i = 0; i < nreaders; i++) {
			rcs[i].r = &r;
			rcs[i].conns = calloc(p->nsources + 1, sizeof(ferry_conn *));
			if (!rcs[i].conns) {
				r.nreaders_left -= nreaders - i;
				rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
				goto join;
			}
			if (pthread_create(&rt[i], NULL, reader_main, &rcs[i]) != 0) {
				r.nreaders_left -= nreaders - i;
				rc = ferry_err_set(err, FERRY_ERROR, "could not start a reader thread");
				goto join;
			}
			started_r++;
		}
		for (int i = 0; i < nwriters; i++) {
			if (pthread_create(&wt[i], NULL, writer_main, &wcs[i]) != 0) {
				rc = ferry_err_set(err, FERRY_ERROR, "could not start a writer thread");
				goto join;
			}
			started_w++;
		}
		/* Progress from this thread while the workers run. */
		pthread_mutex_lock(&r.mu);
		while (!r.failed && r.committed < r.nwork && (started_w > 0)) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 200 * 1000 * 1000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&r.cv_main, &r.mu, &ts);
			if (cs->ctx->interrupted && !r.failed) {
				r.failed = 1;
				ferry_err_set(&r.err, FERRY_EINTR, "interrupted; committed chunks are kept and the next run resumes after them");
				wake(&r, WAKE_ALL);
			}
			pthread_mutex_unlock(&r.mu);
			for (size_t i = 0; i < js->njobs; i++) {
				job *j = &js->jobs[i];
				if (strcmp(j->stage, stage) != 0)
					continue;
				if (!j->done_flag && j->chunks_done == j->chunks) {
					j->done_flag = 1;
					j->seconds = ferry__now() - j->started;
					emit(cs->opts, FERRY_PROGRESS_DONE, j, NULL);
				} else if (!j->done_flag) {
					emit(cs->opts, FERRY_PROGRESS_ROWS, j, NULL);
				}
			}
			pthread_mutex_lock(&r.mu);
		}
		if (started_w == 0 && !r.failed) {
			r.failed = 1;
			wake(&r, WAKE_ALL);
		}
		pthread_mutex_unlock(&r.mu);
	join:
		if (rc) {
			pthread_mutex_lock(&r.mu);
			if (!r.failed) {
				r.failed = 1;
				r.err = *err;
			}
			wake(&r, WAKE_ALL);
			pthread_mutex_unlock(&r.mu);
		}
		for (int i = 0; i < started_r; i++)
			pthread_join(rt[i], NULL);
		for (int i = 0; i < started_w; i++)
			pthread_join(wt[i], NULL);
		if (r.failed && rc == 0)
			rc = ferry__err_copy(err, &r.err);
		for (int i = 0; rcs && i < nreaders; i++) {
			for (size_t s = 0; rcs[i].conns && s < p->nsources; s++)
				if (rcs[i].conns[s])
					cs->sources[s].eng->close(rcs[i].conns[s]);
			free(rcs[i].conns);
		}
		for (int i = 0; wcs && i < nwriters; i++) {
			for (size_t k = 0; wcs[i].writers && k < js->njobs; k++)
				if (wcs[i].writers[k])
					cs->teng->writer_close(wcs[i].writers[k]);
			free(wcs[i].writers);
			if (wcs[i].conn)
				cs->teng->close(wcs[i].conn);
		}
		for (size_t s = 0; r.streams && s < r.nstreams; s++)
			for (int k = 0; k < RING; k++)
				ferry__batch_free(r.streams[s].ring[k]);
		free(r.streams);
		free(r.level_left);
		free(rcs);
		free(wcs);
		free(rt);
		free(wt);
		pthread_mutex_destroy(&r.mu);
		pthread_cond_destroy(&r.cv_space);
		pthread_cond_destroy(&r.cv_data);
		pthread_cond_destroy(&r.cv_main);
	}
	for (size_t i = 0; i < js->njobs; i++) {
		job *j = &js->jobs[i];
		if (strcmp(j->stage, stage) != 0 || j->done_flag)
			continue;
		j->seconds = ferry__now() - j->started;
		if (rc == 0) {
			j->done_flag = 1;
			emit(cs->opts, FERRY_PROGRESS_DONE, j, NULL);
		}
	}
out:
	for (size_t i = 0; i < nwork; i++) {
		free(works[i].lo);
		free(works[i].hi);
	}
	free(works);
	free(has_chunks);
	return rc;
}

/* ---- ferry_copy ----------------------------------------------------------------------- */

/* Apply the plan's target schema once per run (inside the caller's transaction). */
static int apply_target_schema(copy_state *cs)
{
	ferry_err *err = &cs->err;
	const ferry_plan *p = cs->plan;
	int done = 0;
	int rc = cs->teng->state_get(cs->tconn, p->run_digest, "schema", &done, err);
	if (rc || done || p->nschema == 0)
		return rc;
	/* Through the record of upgrades when the target keeps one: each file in ferry_history. */
	if (cs->teng->exec_params && cs->teng->split_sql) {
		for (size_t i = 0; rc == 0 && i < p->nschema; i++)
			rc = ferry__history_apply_schema(cs->tconn, cs->teng, p->schema_files[i], p->run_digest, err);
		if (rc == 0)
			rc = cs->teng->state_set(cs->tconn, p->run_digest, "schema", err);
		return rc;
	}
	for (size_t i = 0; rc == 0 && i < p->nschema; i++) {
		char *sql = NULL;
		rc = ferry__read_file(&sql, NULL, p->schema_files[i], 64u << 20, err);
		if (rc == 0) {
			rc = cs->teng->exec(cs->tconn, sql, err);
			if (rc) {
				char keep[sizeof(err->msg)];
				memcpy(keep, err->msg, sizeof(keep));
				ferry_err_set(err, rc, "could not apply target schema \"%s\": %.700s", p->schema_files[i], keep);
			}
		}
		free(sql);
	}
	if (rc == 0)
		rc = cs->teng->state_set(cs->tconn, p->run_digest, "schema", err);
	return rc;
}

/* Create the target tables the plan needs and the target lacks, each with its flag
 * (inside the caller's transaction). */
static int create_tables(copy_state *cs)
{
	ferry_err *err = &cs->err;
	ferry_schema *cr = cs->js.created;
	for (size_t i = 0; i < ferry_schema_count(cr); i++) {
		const ferry_table *t = ferry_schema_table(cr, i);
		char flag[600];
		snprintf(flag, sizeof(flag), "created:%s", t->name);
		int rc = cs->teng->create_table(cs->tconn, t, err);
		if (rc == 0)
			rc = cs->teng->state_set(cs->tconn, cs->plan->run_digest, flag, err);
		if (rc)
			return rc;
	}
	return 0;
}

/* Stages in the order they run: each after the stages it names (the plan checked that
 * there are no cycles). out holds nstages indexes. */
static void stage_order(const ferry_plan *p, size_t *out)
{
	size_t n = 0;
	int *placed = calloc(p->nstages + 1, sizeof(int));
	if (!placed) {
		for (size_t i = 0; i < p->nstages; i++)
			out[i] = i;
		return;
	}
	while (n < p->nstages) {
		size_t before = n;
		for (size_t i = 0; i < p->nstages; i++) {
			if (placed[i])
				continue;
			int ready = 1;
			for (size_t a = 0; a < p->stages[i].nafter && ready; a++)
				for (size_t k = 0; k < p->nstages; k++)
					if (strcmp(p->stages[k].name, p->stages[i].after[a]) == 0 && !placed[k])
						ready = 0;
			if (ready) {
				placed[i] = 1;
				out[n++] = i;
			}
		}
		if (n == before) /* a cycle the checker missed: keep the written order */
			for (size_t i = 0; i < p->nstages; i++)
				if (!placed[i]) {
					placed[i] = 1;
					out[n++] = i;
				}
	}
	free(placed);
}

static char *rejects_path_for(const ferry_plan *p, const ferry_copy_options *o)
{
	if (o->rejects_path)
		return ferry__strdup(o->rejects_path);
	const char *t = p->target;
	if (strncmp(t, "sqlite:", 7) == 0) {
		const char *path = t + 7;
		while (path[0] == '/' && path[1] == '/')
			path++;
		if (strcmp(path, ":memory:") != 0)
			return ferry__sprintf("%s.rejects.jsonl", path);
	}
	return ferry__sprintf("ferry-%.8s.rejects.jsonl", p->run_digest);
}

typedef struct rejects_out {
	FILE *f;
	int64_t n;
} rejects_out;

static int write_reject(void *ud, const char *table, const char *key, const char *reason)
{
	rejects_out *ro = ud;
	ferry_buf b = FERRY_BUF_INIT;
	ferry_buf_puts(&b, "{\"table\":");
	ferry_buf_json_str(&b, table, strlen(table));
	ferry_buf_printf(&b, ",\"key\":%s,\"reason\":", key && *key ? key : "null");
	ferry_buf_json_str(&b, reason, strlen(reason));
	ferry_buf_puts(&b, "}\n");
	int rc = b.failed ? FERRY_ENOMEM : 0;
	if (rc == 0 && fwrite(b.data, 1, b.len, ro->f) != b.len)
		rc = FERRY_ERROR;
	ferry_buf_free(&b);
	ro->n++;
	return rc;
}

static int write_rejects_file(copy_state *cs, ferry_summary *sum)
{
	ferry_err *err = &cs->err;
	char *path = rejects_path_for(cs->plan, cs->opts);
	if (!path)
		return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		int rc = ferry_err_set(err, FERRY_ERROR, "could not write reject file \"%s\": %s", path, strerror(errno));
		free(path);
		return rc;
	}
	fchmod(fd, 0600);
	rejects_out ro = {fdopen(fd, "w"), 0};
	if (!ro.f) {
		close(fd);
		free(path);
		return ferry_err_set(err, FERRY_ERROR, "could not write reject file");
	}
	int rc = cs->teng->state_rejects(cs->tconn, cs->plan->run_digest, write_reject, &ro, err);
	if (fclose(ro.f) != 0 && rc == 0)
		rc = ferry_err_set(err, FERRY_ERROR, "could not write reject file \"%s\": %s", path, strerror(errno));
	if (rc == 0) {
		sum->rejects_path = path;
		return 0;
	}
	free(path);
	return rc;
}

static int connect_all(copy_state *cs)
{
	ferry_err *err = &cs->err;
	const ferry_plan *p = cs->plan;
	cs->sources = calloc(p->nsources + 1, sizeof(ferry_source_conn));
	if (!cs->sources)
		return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	for (size_t i = 0; i < p->nsources; i++) {
		ferry_source_conn *s = &cs->sources[i];
		s->eng = ferry__engine_for(cs->ctx, p->sources[i].url, err);
		if (!s->eng)
			return err->code;
		int rc = s->eng->connect(&s->conn, p->sources[i].url, FERRY_CONNECT_READONLY, err);
		if (rc == 0 && cs->hooks) {
			/* ferry sync: the capture chose the snapshot (or none). */
			s->token = cs->hooks->tokens[i];
			if (s->token)
				rc = s->eng->snapshot_join(s->conn, s->token, err);
		} else if (rc == 0) {
			rc = s->eng->snapshot_export(s->conn, &s->token, err);
		}
		if (rc == 0 && !(s->schema = ferry__schema_new()))
			rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
		if (rc == 0)
			rc = s->eng->introspect(s->conn, s->schema, err);
		if (rc)
			return rc;
	}
	cs->teng = ferry__engine_for(cs->ctx, p->target, err);
	if (!cs->teng)
		return err->code;
	return cs->teng->connect(&cs->tconn, p->target, FERRY_CONNECT_CREATE, err);
}

static int introspect_target(copy_state *cs)
{
	ferry__schema_free(cs->tschema);
	cs->tschema = ferry__schema_new();
	if (!cs->tschema)
		return ferry_err_set(&cs->err, FERRY_ENOMEM, "out of memory");
	return cs->teng->introspect(cs->tconn, cs->tschema, &cs->err);
}

static int stage_done(copy_state *cs, const char *stage, int *out)
{
	char flag[600];
	snprintf(flag, sizeof(flag), "stage:%s", stage);
	return cs->teng->state_get(cs->tconn, cs->plan->run_digest, flag, out, &cs->err);
}

static int finish_tables(copy_state *cs, ferry_summary *sum)
{
	ferry_err *err = &cs->err;
	jobset *js = &cs->js;
	int rc = 0;
	/* Indexes of the tables ferry created come after their rows: faster, same result. Each
	 * table's are recorded as done, so a resumed run makes those an earlier process did not. */
	for (int pass = 0; pass < 2; pass++) {
		ferry_schema *s = pass == 0 ? js->created : js->again;
		for (size_t i = 0; rc == 0 && s && i < ferry_schema_count(s); i++) {
			const ferry_table *t = ferry_schema_table(s, i);
			char flag[600];
			snprintf(flag, sizeof(flag), "indexed:%s", t->name);
			rc = cs->teng->create_indexes(cs->tconn, t, err);
			if (rc == 0)
				rc = cs->teng->state_set(cs->tconn, cs->plan->run_digest, flag, err);
		}
	}
	/* Foreign keys are checked once, after every table of the run is loaded. */
	for (size_t i = 0; rc == 0 && cs->teng->fk_check && i < js->njobs; i++) {
		int seen = 0;
		for (size_t k = 0; k < i; k++)
			seen |= strcmp(js->jobs[k].dst_table, js->jobs[i].dst_table) == 0;
		if (seen)
			continue;
		int64_t n = 0;
		rc = cs->teng->fk_check(cs->tconn, js->jobs[i].dst_table, &n, err);
		js->jobs[i].fk_violations = n;
		sum->total_fk += n;
	}
	return rc;
}

/* Everything that can refuse the plan happens in one target transaction, before any row
 * moves: ferry's state tables, the target schema, resolution of every job against both
 * schemas, and the tables ferry creates. A plan mistake rolls it all back, so the target is
 * as it was; --check always rolls back. */
static int prepare_target(copy_state *cs, int strict, ferry_summary *sum)
{
	ferry_err *err = &cs->err;
	int rc = cs->teng->begin(cs->tconn, err);
	if (rc)
		return rc;
	rc = cs->teng->state_init(cs->tconn, err);
	if (rc == 0)
		rc = apply_target_schema(cs);
	if (rc == 0)
		rc = introspect_target(cs);
	if (rc == 0)
		rc = ferry__jobs_build(&cs->js, cs->plan, cs->sources, cs->teng, cs->tschema, strict, err);
	/* A resumed run: tables an earlier process of it created still need their indexes and
	 * foreign keys when it did not get to them (they come after the rows). */
	for (size_t i = 0; rc == 0 && i < cs->js.njobs; i++) {
		const char *t = cs->js.jobs[i].dst_table;
		if (ferry_schema_find(cs->js.created, t))
			continue;
		char flag[600];
		int made = 0, indexed = 0;
		snprintf(flag, sizeof(flag), "created:%s", t);
		rc = cs->teng->state_get(cs->tconn, cs->plan->run_digest, flag, &made, err);
		snprintf(flag, sizeof(flag), "indexed:%s", t);
		if (rc == 0 && made)
			rc = cs->teng->state_get(cs->tconn, cs->plan->run_digest, flag, &indexed, err);
		if (rc == 0 && made && !indexed)
			rc = ferry__jobs_define_again(&cs->js, cs->plan, cs->sources, cs->teng, t, err);
	}
	for (size_t i = 0; rc == 0 && i < cs->js.nnotes; i++) {
		ferry__summary_note(sum, cs->js.notes[i]);
		emit(cs->opts, FERRY_PROGRESS_NOTE, NULL, cs->js.notes[i]);
	}
	if (rc == 0 && cs->hooks && cs->hooks->resolved)
		rc = cs->hooks->resolved(cs->hooks->ud, &cs->js, &cs->tschema, err);
	if (rc == 0 && !cs->opts->check_only)
		rc = create_tables(cs);
	if (rc == 0 && !cs->opts->check_only) {
		rc = cs->teng->commit(cs->tconn, err);
		cs->changed = rc == 0;
		return rc;
	}
	cs->teng->rollback(cs->tconn, &(ferry_err){0});
	return rc;
}

/* The run is finished: record it in the target's ferry_history (when the target keeps one)
 * in the same transaction as the run's "finished" flag, so the record of upgrades names
 * every data migration exactly once. */
static int count_chunk(void *ud, const ferry_chunk_rec *rec)
{
	(void)rec;
	(*(int64_t *)ud)++;
	return 0;
}

static int cmp_level_desc(const void *a, const void *b)
{
	const job *x = *(const job *const *)a, *y = *(const job *const *)b;
	return (y->level > x->level) - (y->level < x->level);
}

/* --truncate at the start of a fresh run: every target table of the run is emptied at once,
 * in one transaction, the tables that reference others first, so that foreign keys between
 * them (enforced by PostgreSQL) do not refuse the deletes. A resumed run deletes nothing. */
static int truncate_targets(copy_state *cs)
{
	ferry_err *err = &cs->err;
	int64_t chunks = 0;
	int rc = cs->teng->state_load(cs->tconn, cs->plan->run_digest, count_chunk, &chunks, err);
	if (rc || chunks > 0)
		return rc;
	job **order = calloc(cs->js.njobs + 1, sizeof(job *));
	if (!order)
		return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	size_t n = 0;
	for (size_t i = 0; i < cs->js.njobs; i++) {
		int seen = 0;
		for (size_t k = 0; k < n && !seen; k++)
			seen = strcmp(order[k]->dst_table, cs->js.jobs[i].dst_table) == 0;
		if (!seen && !cs->js.jobs[i].creates_table)
			order[n++] = &cs->js.jobs[i];
	}
	qsort(order, n, sizeof(job *), cmp_level_desc);
	rc = n ? cs->teng->begin(cs->tconn, err) : 0;
	for (size_t k = 0; rc == 0 && k < n; k++) {
		char *q = ferry__qident(cs->teng, order[k]->dst_table);
		char *sql = q ? ferry__sprintf("DELETE FROM %s", q) : NULL;
		free(q);
		rc = sql ? cs->teng->exec(cs->tconn, sql, err) : ferry_err_set(err, FERRY_ENOMEM, "out of memory");
		free(sql);
	}
	if (n && rc == 0)
		rc = cs->teng->commit(cs->tconn, err);
	else if (n)
		cs->teng->rollback(cs->tconn, &(ferry_err){0});
	if (rc) {
		char msg[sizeof(err->msg)];
		snprintf(msg, sizeof(msg), "%s", err->msg);
		rc = ferry_err_set(err, rc, "--truncate: %s", msg);
	}
	free(order);
	return rc;
}

typedef struct run_rows {
	int64_t written, rejected;
} run_rows;

static int add_run_rows(void *ud, const ferry_chunk_rec *rec)
{
	run_rows *r = ud;
	if (rec->done) {
		r->written += rec->rows_written;
		r->rejected += rec->rows_rejected;
	}
	return 0;
}

static int finish_run(copy_state *cs, const ferry_verify_report *vr)
{
	ferry_err *err = &cs->err;
	const ferry_plan *p = cs->plan;
	int rc = cs->teng->begin(cs->tconn, err);
	if (rc)
		return rc;
	if (cs->teng->exec_params && !(cs->hooks && cs->hooks->no_history)) {
		/* The whole run's rows, from its checkpoints: earlier processes (a resumed crash,
		 * stages run one at a time) moved some of them. */
		run_rows rr = {0, 0};
		int64_t fk = 0;
		rc = cs->teng->state_load(cs->tconn, p->run_digest, add_run_rows, &rr, err);
		if (rc) {
			cs->teng->rollback(cs->tconn, &(ferry_err){0});
			return rc;
		}
		int64_t rows = rr.written, rejected = rr.rejected;
		for (size_t i = 0; i < cs->js.njobs; i++)
			fk += cs->js.jobs[i].fk_violations;
		char verdict[96];
		if (rejected || fk)
			snprintf(verdict, sizeof(verdict), "%lld rows rejected, %lld dangling foreign keys",
			         (long long)rejected, (long long)fk);
		else
			snprintf(verdict, sizeof(verdict), "all rows arrived");
		char *vv = vr ? ferry__verify_verdict(vr) : NULL;
		char *full = vv ? ferry__sprintf("%s; %s", verdict, vv) : NULL;
		free(vv);
		int import = p->nsources == 1 && strncmp(p->sources[0].url, "label:", 6) == 0;
		const char *cmd = import ? "import" : "copy";
		char *desc = p->path ? ferry__sprintf("ferry %s -p %s", cmd, p->path)
		             : import ? ferry__sprintf("ferry import of label %s", p->sources[0].url + 6)
		                      : ferry__sprintf("ferry copy of %zu source%s", p->nsources,
		                                       p->nsources == 1 ? "" : "s");
		rc = desc && (!vr || full)
		         ? ferry__history_record_data(cs->tconn, cs->teng, p->run_digest, desc, rows,
		                                      full ? full : verdict, err)
		         : ferry_err_set(err, FERRY_ENOMEM, "out of memory");
		free(desc);
		free(full);
	}
	if (rc == 0)
		rc = cs->teng->state_set(cs->tconn, p->run_digest, "finished", err);
	if (rc == 0)
		return cs->teng->commit(cs->tconn, err);
	cs->teng->rollback(cs->tconn, &(ferry_err){0});
	return rc;
}

int ferry_copy(ferry_summary **out, ferry_ctx *ctx, const ferry_plan *plan,
               const ferry_copy_options *opts)
{
	return ferry__copy_hooked(out, ctx, plan, opts, NULL);
}

int ferry__copy_hooked(ferry_summary **out, ferry_ctx *ctx, const ferry_plan *plan,
                       const ferry_copy_options *opts, const ferry__copy_hooks *hooks)
{
	*out = NULL;
	ferry_copy_options defaults = FERRY_COPY_OPTIONS_INIT;
	if (!opts)
		opts = &defaults;
	copy_state cs;
	memset(&cs, 0, sizeof(cs));
	cs.ctx = ctx;
	cs.plan = plan;
	cs.opts = opts;
	cs.hooks = hooks;
	ctx->interrupted = 0;
	ferry_summary *sum = NULL;
	int rc = 0;
	size_t *order = NULL;

	if (opts->version != FERRY_COPY_OPTIONS_VERSION) {
		ferry_err_set(&cs.err, FERRY_EUSAGE, "unknown ferry_copy_options version %u", opts->version);
		return ferry__ctx_fail(ctx, &cs.err);
	}
	if (opts->truncate && opts->append) {
		ferry_err_set(&cs.err, FERRY_EUSAGE, "--truncate and --append cannot be used together");
		return ferry__ctx_fail(ctx, &cs.err);
	}
	cs.threads = opts->threads >= 0 ? opts->threads : plan->threads;
	if (cs.threads == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		cs.threads = n > 0 ? (int)n : 1;
	}
	if (cs.threads > MAX_THREADS)
		cs.threads = MAX_THREADS;
	cs.chunk_rows = opts->chunk_rows > 0 ? opts->chunk_rows : plan->chunk_rows > 0 ? plan->chunk_rows : 50000;
	int64_t max_rejects = opts->max_rejects >= 0 ? opts->max_rejects : plan->max_rejects;
	int strict = opts->strict || plan->strict;
	if (opts->stage) {
		int found = 0;
		for (size_t i = 0; i < plan->nstages; i++)
			found |= strcmp(plan->stages[i].name, opts->stage) == 0;
		if (!found) {
			ferry_err_set(&cs.err, FERRY_EUSAGE, "the plan has no stage \"%s\"", opts->stage);
			return ferry__ctx_fail(ctx, &cs.err);
		}
	}
	for (size_t i = 0; i < plan->nsources; i++)
		if (strcmp(plan->sources[i].url, plan->target) == 0) {
			char *m = ferry_url_mask(plan->target);
			ferry_err_set(&cs.err, FERRY_EUSAGE, "source \"%s\" and the target are the same database \"%s\"",
			              plan->sources[i].name, m ? m : "?");
			free(m);
			return ferry__ctx_fail(ctx, &cs.err);
		}

	sum = ferry__summary_new(plan->run_digest);
	if (!sum) {
		ferry_err_set(&cs.err, FERRY_ENOMEM, "out of memory");
		return ferry__ctx_fail(ctx, &cs.err);
	}
	sum->max_rejects = max_rejects;
	rc = connect_all(&cs);
	int finished = 0;
	if (rc == 0)
		rc = cs.teng->state_get(cs.tconn, plan->run_digest, "finished", &finished, &cs.err);
	/* --truncate and --append act at the start of a run: on a finished one they would do
	 * nothing, which a nightly reload must not take for success. */
	if (rc == 0 && finished && (opts->truncate || opts->append) && !opts->check_only)
		rc = ferry_err_set(&cs.err, FERRY_EUSAGE,
		                   "%s: this plan's run into the target already finished (run %s), so nothing would be %s; a changed plan or another target starts a new run",
		                   opts->truncate ? "--truncate" : "--append", plan->run_digest,
		                   opts->truncate ? "emptied or reloaded" : "added");
	/* A stage run alone needs the stages it comes after; refuse before changing anything. */
	for (size_t k = 0; rc == 0 && opts->stage && k < plan->nstages; k++) {
		const ferry_plan_stage *st = &plan->stages[k];
		if (strcmp(opts->stage, st->name) != 0)
			continue;
		for (size_t a = 0; rc == 0 && a < st->nafter; a++) {
			int d = 0;
			rc = stage_done(&cs, st->after[a], &d);
			if (rc == 0 && !d)
				rc = ferry_err_set(&cs.err, FERRY_EUSAGE,
				                   "stage \"%s\" comes after stage \"%s\", which is not done yet (run it first: --stage %s)",
				                   st->name, st->after[a], st->after[a]);
		}
	}
	if (rc == 0)
		rc = prepare_target(&cs, strict, sum);
	if (rc || opts->check_only)
		goto done;
	sum->was_complete = finished;
	if (opts->truncate && !finished)
		rc = truncate_targets(&cs);
	order = rc ? NULL : calloc(plan->nstages + 1, sizeof(size_t));
	if (!order && rc == 0)
		rc = ferry_err_set(&cs.err, FERRY_ENOMEM, "out of memory");
	else if (order)
		stage_order(plan, order);
	for (size_t k = 0; rc == 0 && k < plan->nstages; k++) {
		const ferry_plan_stage *st = &plan->stages[order[k]];
		if ((opts->stage && strcmp(opts->stage, st->name) != 0) || st->absent)
			continue;
		rc = run_stage(&cs, st->name);
		char flag[600];
		snprintf(flag, sizeof(flag), "stage:%s", st->name);
		if (rc == 0)
			rc = cs.teng->state_set(cs.tconn, plan->run_digest, flag, &cs.err);
	}
	if (rc == 0)
		rc = finish_tables(&cs, sum);
	int all = 1;
	for (size_t k = 0; rc == 0 && k < plan->nstages; k++) {
		int d = 0;
		rc = stage_done(&cs, plan->stages[k].name, &d);
		all &= d;
	}
	/* --verify: once every stage is in, before the run's record is written, so the record
	 * carries the verdict. */
	if (rc == 0 && opts->verify && !all) {
		static const char wait[] = "--verify waits until every stage of the plan is done: it runs at the end of the run that completes them";
		ferry__summary_note(sum, wait);
		emit(opts, FERRY_PROGRESS_NOTE, NULL, wait);
	}
	if (rc == 0 && opts->verify && all) {
		ferry_verify_options vo = FERRY_VERIFY_OPTIONS_INIT;
		vo.full = opts->verify >= 2;
		vo.progress = opts->progress;
		vo.progress_ud = opts->progress_ud;
		rc = ferry__verify_run(&sum->verify, ctx, plan, &vo, &cs.err);
	}
	if (rc == 0 && !finished && all)
		rc = finish_run(&cs, sum->verify);
done:
	for (size_t i = 0; i < cs.js.njobs; i++) {
		job *j = &cs.js.jobs[i];
		if (opts->stage && strcmp(opts->stage, j->stage) != 0)
			continue;
		if (!opts->check_only)
			ferry__summary_add(sum, j);
		sum->total_rejected += j->rows_rejected;
	}
	if (rc == 0 && sum->total_rejected > 0)
		rc = write_rejects_file(&cs, sum);
	if (cs.tconn) {
		if (rc == 0 && cs.teng->finish && !opts->check_only)
			rc = cs.teng->finish(cs.tconn, &cs.err);
		/* Refused before anything was committed: leave no new database behind. */
		if (!cs.changed && (opts->check_only || rc == FERRY_EUSAGE || rc == FERRY_ENOTFOUND) &&
		    cs.teng->discard)
			cs.teng->discard(cs.tconn);
		else
			cs.teng->close(cs.tconn);
	}
	for (size_t i = 0; cs.sources && i < plan->nsources; i++) {
		if (cs.sources[i].conn)
			cs.sources[i].eng->close(cs.sources[i].conn);
		ferry__schema_free(cs.sources[i].schema);
	}
	free(cs.sources);
	ferry__schema_free(cs.tschema);
	ferry__jobs_free(&cs.js);
	free(order);
	if (rc == 0 && sum->total_rejected > max_rejects) {
		ferry_err_set(&cs.err, FERRY_EREJECT, "%lld rows were rejected (allowed: %lld); see %s",
		              (long long)sum->total_rejected, (long long)max_rejects,
		              sum->rejects_path ? sum->rejects_path : "the reject file");
		rc = FERRY_EREJECT;
	}
	*out = sum;
	if (rc)
		return ferry__ctx_fail(ctx, &cs.err);
	return 0;
}
