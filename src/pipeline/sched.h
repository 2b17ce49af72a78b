/* sched.h — the scheduler: readers take items from a work source and stream their rows
 * through bounded rings; writers write each item's rows and its checkpoint in one target
 * transaction. A source is a finite list of chunks (copy, export, import) or an unbounded
 * ordered stream (a change apply): the source, not a count, says when the work is over. */
#ifndef FERRY_SCHED_H
#define FERRY_SCHED_H

#include "pipeline.h"

/* One item of work. The source owns it until the run ends; the scheduler only sets seq and
 * committed. */
typedef struct ferry_work {
	job *j;                   /* whose select list reads it and whose target table takes it */
	int64_t chunk;            /* chunk items: the chunk's number in ferry_progress */
	uint8_t *lo, *hi;         /* chunk items: encoded key bounds; NULL unbounded */
	size_t lo_len, hi_len;
	int64_t est_rows;
	uint64_t pos;             /* stream items (> 0): the checkpoint is this position of */
	size_t source;            /* ... source `source`, not a chunk record */
	void *priv;               /* the source's own (a cursor for its read) */
	uint64_t seq;             /* the scheduler's: order taken */
	int committed;            /* the scheduler's: set under its lock once committed */
	int elsewhere;            /* the scheduler's: ... by another process of a shared run */
} ferry_work;

/* Items commit strictly in the order next returned them (one stream, in order). */
#define FERRY_WORK_IN_ORDER 1u

typedef struct ferry_work_source {
	void *ud;
	unsigned flags;           /* FERRY_WORK_* */
	/* The next item into *out, or *out = NULL: with *done = 1 the source is exhausted for
	 * good; with *done = 0 nothing was ready within timeout_ms (the scheduler asks again,
	 * so an interrupt is seen). Called by one reader at a time. */
	int (*next)(void *ud, ferry_work **out, int *done, int timeout_ms, ferry_err *err);
	/* Optional, under the scheduler's lock: may w be written now (foreign-key levels, a
	 * merge's order)? NULL: yes, or with FERRY_WORK_IN_ORDER once every earlier item is. */
	int (*may_write)(void *ud, const ferry_work *w);
	/* Optional, under the scheduler's lock: w was committed. */
	void (*committed)(void *ud, ferry_work *w);
	/* Optional: fill b (reset by the caller) with w's next rows, *eof when none remain; a
	 * source whose items carry their rows. NULL: the scheduler reads the job's select list
	 * over w's bounds from the job's source database. */
	int (*read)(void *ud, ferry_work *w, ferry_batch *b, int *eof, ferry_err *err);
} ferry_work_source;

/* What the scheduler runs against. */
typedef struct ferry_sched_config {
	ferry_ctx *ctx;                   /* its interrupt stops the run */
	const ferry_plan *plan;           /* source URLs for reader connections, the target URL */
	const char *run_id;
	ferry_source_conn *sources;       /* engines and snapshot tokens, per source */
	const ferry_engine *teng;
	jobset *js;                       /* jobs by id: writers and figures */
	const char *stage;                /* jobs of this stage get progress events */
	int nreaders, nwriters;
	const ferry_copy_options *opts;   /* progress callback */
	struct ferry_lease *lease;        /* every commit checks it; NULL: no lease kept */
	int shared;                       /* --join: a chunk another process committed first
	                                     (its claimer died while committing it) is rolled
	                                     back and skipped, not a failure */
} ferry_sched_config;

/* Run src to exhaustion (or the first failure, or an interrupt): each item's rows and its
 * checkpoint (chunk done, or stream position) commit together; rejects are stored in the
 * same transaction. Job figures are updated as items commit. */
int ferry__sched_run(const ferry_sched_config *cfg, ferry_work_source *src, ferry_err *err);

/* A FERRY_PROGRESS_NOTE event of a note made by ferry__note_at (its code, table, column). */
void ferry__sched_emit_note(const ferry_copy_options *o, const char *note);
/* Progress event for job j (NULL: a run-level note). */
void ferry__sched_emit(const ferry_copy_options *o, ferry_progress_kind kind, const job *j,
                       const char *message);

/* resume.c: a stage's chunks (recorded by earlier runs, or planned now) as a finite work
 * source, in queue order: foreign-key level, job, chunk. */
typedef struct ferry_chunk_list {
	ferry_work *work;
	size_t nwork, cap, next;
	uint8_t *ordered;         /* per item: written only after every earlier one of its table */
	size_t ocap;
	int64_t *level_left;      /* uncommitted chunks per foreign-key level */
	int nlevels;
} ferry_chunk_list;
/* Fill cl (caller-owned; cleared with ferry__chunks_clear even on failure) for stage. */
int ferry__chunks_build(ferry_chunk_list *cl, copy_state *cs, const char *stage);
/* out reads cl, which must outlive the run. */
void ferry__chunks_source(ferry_chunk_list *cl, ferry_work_source *out);
void ferry__chunks_clear(ferry_chunk_list *cl);

/* join.c: --join, chunks claimed from the target (FOR UPDATE SKIP LOCKED) by every process of
 * a shared run. open: a connection of its own with one open transaction holding this
 * process's claims until close. stage: the claim rows of what is planned added (tconn,
 * autocommit), then out claims cl's chunks for stage (cl outlives the run; a stage whose
 * chunks must commit in plan order is refused). */
typedef struct ferry_join ferry_join;
int ferry__join_open(ferry_join **out, const ferry_engine *e, const char *url, const char *run_id,
                     jobset *js, ferry_err *err);
int ferry__join_stage(ferry_join *jn, ferry_chunk_list *cl, const char *stage, ferry_conn *tconn,
                      ferry_work_source *out, ferry_err *err);
/* Chunks this process committed, over every stage (rows: kept by the caller). */
void ferry__join_share(const ferry_join *jn, int64_t *chunks, int64_t *rows);
void ferry__join_close(ferry_join *jn);

/* guard.c: refuse the rows of b whose values SQLite's numeric affinity would change
 * (reject gets each, with a one-line reason) and keep the rest, in order. */
int ferry__guard_check(const job *j, ferry_batch *b,
                       int (*reject)(void *ud, size_t row, const char *reason), void *ud,
                       ferry_err *err);

#endif
