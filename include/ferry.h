/* ferry.h — the public API of libferry: carry a database from one schema version to the next.
 * Opaque handles, option structs and the error API. This header compiles alone under
 * -std=c11 -pedantic; the command-line tool uses nothing else. */
#ifndef FERRY_H
#define FERRY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FERRY_VERSION "0.1.0"

/* Error codes: every call that can fail returns 0 or one of these (negative). */
enum {
	FERRY_OK = 0,
	FERRY_ERROR = -1,     /* a runtime failure (I/O, engine, server) */
	FERRY_ENOMEM = -2,    /* out of memory, or a size cap was hit */
	FERRY_EUSAGE = -3,    /* the caller's input is wrong: a bad plan, URL or option */
	FERRY_ENOTFOUND = -4, /* a file, table or column does not exist */
	FERRY_ECORRUPT = -5,  /* stored state or a file is damaged */
	FERRY_EREJECT = -6,   /* rows were refused by the target beyond the allowance */
	FERRY_EINTR = -7,     /* the run was interrupted (ferry_interrupt) */
	FERRY_EHELD = -8,     /* another live process holds the run's lease, or took it from
	                         this one (which then commits nothing more) */
	FERRY_EBUSY = -9      /* another transaction holds what this one needs (both ways: it is
	                         tried again later) */
};

/* Exit codes of the ferry command (documented in `ferry --help`). */
enum {
	FERRY_EXIT_OK = 0,       /* everything arrived */
	FERRY_EXIT_FAILURE = 1,  /* a runtime failure; nothing reported as done that is not */
	FERRY_EXIT_USAGE = 2,    /* a command-line or plan mistake; nothing was changed */
	FERRY_EXIT_ROWS = 3,     /* the run finished but some rows did not arrive (rejected,
	                            or foreign keys left dangling) */
	FERRY_EXIT_PENDING = 4,  /* ferry status: migrations are pending (none failed or changed) */
	FERRY_EXIT_DIFFERENT = 5, /* ferry verify (or --verify): the target does not hold what the
	                             plan says it should; the report names the rows */
	FERRY_EXIT_HELD = 6,     /* another process holds the run (refused at once), or took it
	                            over from this one; --standby waits, --join shares */
	FERRY_EXIT_NOT_FOUND = 7, /* ferry fetch: a key has no row that waits in the source and none
	                             in the target; the other keys were loaded */
	FERRY_EXIT_INTERRUPTED = 130
};

typedef struct ferry_ctx ferry_ctx;         /* a library handle: engines, last error */
typedef struct ferry_plan ferry_plan;       /* a loaded migration plan */
typedef struct ferry_summary ferry_summary; /* the outcome of a run */

/* Create a handle with the built-in engines registered. The caller frees it with
 * ferry_ctx_free. A handle is used by one thread at a time. */
int ferry_ctx_new(ferry_ctx **out);
void ferry_ctx_free(ferry_ctx *ctx);

/* The message of the last failed call on ctx: one line, lowercase, no final period.
 * Owned by ctx; valid until the next call on it. */
const char *ferry_errmsg(const ferry_ctx *ctx);

/* The message of the last failure on this thread, for calls that have no handle yet. */
const char *ferry_error_last(void);

/* Ask a running ferry_copy (export, import, verify, migrate) on ctx to stop at the next
 * chunk boundary; safe to call from a signal handler. The run returns FERRY_EINTR with every
 * committed chunk kept. The request stays until ferry_interrupt_clear: one made just before a
 * call stops that call, and every later call on ctx returns FERRY_EINTR until it is cleared. */
void ferry_interrupt(ferry_ctx *ctx);
/* Forget an interrupt request, so that the next call on ctx runs (call it between runs, never
 * from a signal handler racing the request it means to keep). */
void ferry_interrupt_clear(ferry_ctx *ctx);

/* Load a plan from a YAML file. Errors name file:line:column. The caller frees *out. */
int ferry_plan_load(ferry_plan **out, ferry_ctx *ctx, const char *path);

/* A plan with no file: every table of source_url copied as it is into target_url. */
int ferry_plan_simple(ferry_plan **out, ferry_ctx *ctx, const char *source_url,
                      const char *target_url);
void ferry_plan_free(ferry_plan *plan);
/* The plan's target URL, owned by plan. */
const char *ferry_plan_target(const ferry_plan *plan);

/* A progress event, delivered on the thread that called ferry_copy. Strings are owned by
 * the library and valid during the call only. */
typedef enum ferry_progress_kind {
	FERRY_PROGRESS_START = 0, /* a table's work begins; rows_total is an estimate */
	FERRY_PROGRESS_ROWS = 1,  /* rows were committed */
	FERRY_PROGRESS_DONE = 2,  /* a table's work is finished */
	FERRY_PROGRESS_NOTE = 3,  /* a message for the user (message is set) */
	FERRY_PROGRESS_LEASE = 4, /* the run's lease: waiting for a holder, taken over (message) */
	FERRY_PROGRESS_PHASE = 5  /* a step after the rows begins (message says which: keys and
	                             indexes, foreign keys, verify, analyze; table when it is one
	                             table's; chunks_done of chunks_total such steps) */
} ferry_progress_kind;

typedef struct ferry_progress {
	ferry_progress_kind kind;
	const char *stage;
	const char *table;     /* target table */
	const char *source;    /* source name and table, "catalog.items" */
	int64_t rows_done;     /* rows read so far (including skipped) */
	int64_t rows_total;    /* estimate of rows to read, -1 when unknown */
	int64_t rows_resumed;  /* of rows_done, those an earlier run already committed */
	int64_t chunks_done;
	int64_t chunks_total;
	const char *message;
	/* FERRY_PROGRESS_NOTE: the note's code and column (as ferry_note; table above), or
	 * NULL; other kinds: NULL. */
	const char *code;
	const char *column;
} ferry_progress;

typedef void (*ferry_progress_fn)(void *ud, const ferry_progress *p);

#define FERRY_COPY_OPTIONS_VERSION 1

typedef struct ferry_copy_options {
	unsigned version;       /* FERRY_COPY_OPTIONS_VERSION */
	int threads;            /* -1: the plan's; 0: one per CPU; n: n workers */
	int64_t chunk_rows;     /* 0: the plan's (default 50000) */
	int strict;             /* refuse dropped and defaulted columns */
	int truncate;           /* empty non-empty target tables at the start of a fresh run */
	int append;             /* load into non-empty target tables as they are */
	int64_t max_rejects;    /* -1: the plan's (default 0) */
	const char *stage;      /* run only this stage (its `after` stages must be done) */
	const char *rejects_path; /* where rejected rows are written; NULL: TARGET.rejects.jsonl
	                             beside a file target, or ./ferry-rejects.jsonl */
	int check_only;         /* resolve and report, write nothing */
	ferry_progress_fn progress;
	void *progress_ud;
	int verify;             /* at the end of a run whose stages are all done, compare the target
	                           with the plan (ferry_verify): 1 sampled by the coverage rules, 2
	                           every row; the verdict goes into the summary and ferry_history */
	ferry_summary **summary_on_failure; /* when not NULL: a run that fails after it started
	                           (rows rejected beyond the allowance, an interrupt, an error)
	                           stores the summary of what it did here (the caller frees it);
	                           NULL when it failed before starting or succeeded */
	/* The run's lease in the target (docs/RUNS.md): one holder per run. */
	int standby;            /* another process holds the run: wait, and take over when its
	                           lease lapses (else FERRY_EHELD at once) */
	int join;               /* share the run's chunks with the processes that run it already
	                           (PostgreSQL targets; SQLite: processes of one machine) */
	int64_t lease_ms;       /* the lease's time to live; 0: 10000. Renewed every third of it */
	int types_declared;     /* a table ferry creates in another engine takes its types from
	                           the declarations alone, not from the values (--types=declared) */
} ferry_copy_options;

#define FERRY_COPY_OPTIONS_INIT {FERRY_COPY_OPTIONS_VERSION, -1, 0, 0, 0, 0, -1, NULL, NULL, 0, NULL, NULL, 0, NULL, 0, 0, 0, 0}

/* Run the plan: source -> transform -> target, resumable. On success *out holds the
 * summary, which the caller frees; on failure *out is NULL and the summary of a run that
 * started goes to opts->summary_on_failure when set. Returns FERRY_EREJECT when rows were
 * rejected beyond the allowance. */
int ferry_copy(ferry_summary **out, ferry_ctx *ctx, const ferry_plan *plan,
               const ferry_copy_options *opts);

typedef struct ferry_table_stats {
	const char *stage;
	const char *target;       /* target table */
	const char *sources;      /* "catalog.items" or "a.t + b.t" for merges */
	int64_t rows_read;        /* rows read from the source (before filters) */
	int64_t rows_written;
	int64_t rows_rejected;
	int64_t rows_skipped;     /* rows left out by the plan's `where` */
	int64_t fk_violations;    /* rows whose foreign keys point nowhere after the load */
	int64_t chunks;
	int64_t chunks_resumed;   /* chunks found already committed by an earlier run */
	double seconds;
} ferry_table_stats;

size_t ferry_summary_count(const ferry_summary *s);
/* Fill *out with table i's figures; strings are owned by s. */
int ferry_summary_table(ferry_table_stats *out, const ferry_summary *s, size_t i);
/* Table i's rows that wait for ferry_backfill (the plan's `later:`), counted at the end of
 * the run in the source; -1 when the table has no `later:` (docs/LATER.md). */
int64_t ferry_summary_rows_waiting(const ferry_summary *s, size_t i);
/* Resolution notes (dropped and defaulted columns), one line each, owned by s. */
size_t ferry_summary_note_count(const ferry_summary *s);
const char *ferry_summary_note(const ferry_summary *s, size_t i);
/* A note with its parts: a stable code ("column_dropped", ...; docs/RUNS.md lists them), the
 * target table and column it is about (NULL when none) and the message; strings owned by s.
 * 0, or FERRY_ENOTFOUND past the last. */
typedef struct ferry_note {
	const char *code;
	const char *table;
	const char *column;
	const char *message;
} ferry_note;
int ferry_summary_note_info(ferry_note *out, const ferry_summary *s, size_t i);
/* 1 when this run found every chunk already done and changed nothing. */
int ferry_summary_was_complete(const ferry_summary *s);
const char *ferry_summary_run_id(const ferry_summary *s);
const char *ferry_summary_rejects_path(const ferry_summary *s); /* NULL if no rejects */
/* The verification of a run with opts->verify (NULL when none ran); owned by s. The report
 * type and its accessors are declared below with ferry_verify. */
const struct ferry_verify_report *ferry_summary_verify(const ferry_summary *s);
/* Write the summary as one JSON object followed by a newline. */
int ferry_summary_write_json(const ferry_summary *s, FILE *f);
/* Write the summary as a human-readable table. */
int ferry_summary_write_text(const ferry_summary *s, FILE *f);
void ferry_summary_free(ferry_summary *s);

/* Load the rows of a reject file (as a run wrote it, fixed by hand) into the target at
 * target_url, in one transaction. Each row is loaded at most once into a target: a row an
 * earlier reload loaded is skipped, so the same file may be reloaded. Rows the target
 * refuses again are written with their new reasons to rejects_out (NULL: FILE with
 * ".again.jsonl" for ".jsonl") and the call returns FERRY_EREJECT with *out set. *out is
 * the summary (caller frees), NULL on other failures. */
int ferry_reload_rejects(ferry_summary **out, ferry_ctx *ctx, const char *rejects_file,
                         const char *target_url, const char *rejects_out);

/* ---- two-step migration through a label (docs/LABEL-FORMAT.md) ----------------------- */

/* The read step: the plan's sources, through its rules, into a label directory (label_dir,
 * or the plan's `label:`). The same pipeline as ferry_copy with a label as its target:
 * chunked, parallel, resumable (a rerun continues at the first chunk not written). opts as
 * for ferry_copy (stage: read only that stage into the label). */
int ferry_export(ferry_summary **out, ferry_ctx *ctx, const ferry_plan *plan,
                 const char *label_dir, const ferry_copy_options *opts);

/* The write step: a label into a target (the plan's target and target_schema, or
 * target_url when plan is NULL). The label's columns resolve against the target's by name
 * (dropped and defaulted columns noted; --strict refuses them); opts->check_only reports and
 * writes nothing. Refuses a label whose read step is incomplete, naming the tables. */
int ferry_import(ferry_summary **out, ferry_ctx *ctx, const ferry_plan *plan,
                 const char *label_dir, const char *target_url, const ferry_copy_options *opts);

/* Describe a label (stages, tables, rows, sizes, compression) on f, as text or JSON. */
int ferry_label_inspect(ferry_ctx *ctx, const char *label_dir, int json, FILE *f);

/* Re-read every block of every chunk and check every checksum; report on f. Returns
 * FERRY_ECORRUPT naming the first damaged file when anything is wrong. */
int ferry_label_verify(ferry_ctx *ctx, const char *label_dir, int json, FILE *f);

/* ---- rows that wait: ferry backfill and ferry fetch (docs/LATER.md) ---------------------
 * A plan entry's `later:` delays rows past the switch: copy, export and sync leave them; the
 * backfill carries them while the new version is live, and a fetch loads a few at once. Both
 * write a row only where its key is absent in the target, so a row the application wrote
 * since is never overwritten, and a row fetched or backfilled is written once. */

#define FERRY_BACKFILL_OPTIONS_VERSION 1

typedef struct ferry_backfill_options {
	unsigned version;         /* FERRY_BACKFILL_OPTIONS_VERSION */
	ferry_copy_options copy;  /* threads, chunk rows, progress, rejects (truncate, append,
	                             verify and check_only are refused) */
	double rate;              /* at most this many source rows scanned per second; 0: no bound */
} ferry_backfill_options;

#define FERRY_BACKFILL_OPTIONS_INIT {FERRY_BACKFILL_OPTIONS_VERSION, FERRY_COPY_OPTIONS_INIT, 0}

/* Carry the rows the plan's `later:` delays from its sources into its target: a run of its
 * own (its id hashes the plan's with ":backfill"), chunked, checkpointed and resumable like
 * ferry_copy, reading only the rows that wait. *out as for ferry_copy. A plan without
 * `later:` is refused (FERRY_EUSAGE). */
int ferry_backfill(ferry_summary **out, ferry_ctx *ctx, const ferry_plan *plan,
                   const ferry_backfill_options *opts);

/* What a fetch did with the keys asked for (duplicates counted once). */
typedef struct ferry_fetch_result {
	size_t requested;         /* distinct keys asked for */
	size_t loaded;            /* rows that were absent from the target and are now there */
	size_t present;           /* rows already in the target (carried, backfilled, fetched, or
	                             written by the application): nothing was done */
	size_t missing;           /* keys with no row that waits in the source and none in the target */
	char first_missing[256];  /* the first missing key, its values joined by ",", or "" */
	double seconds;
} ferry_fetch_result;

/* Load now the rows of `later:` table `table` (a target table name, or the source table's)
 * whose keys are given: nvalues texts, the key's columns in the target's primary-key order,
 * one key after another (nvalues a multiple of the key's width). The rows are read through
 * the plan and written in one target transaction where absent. Returns 0 with *out filled
 * whatever was missing; FERRY_EUSAGE for a table without `later:` or a key of the wrong
 * width; *out is zeroed on failure. */
int ferry_fetch(ferry_fetch_result *out, ferry_ctx *ctx, const ferry_plan *plan,
                const char *table, size_t nvalues, const char *const *values);

/* A fetcher keeps what every fetch of a plan needs — the connections to the sources and the
 * target, their schemas, the plan's resolution — so that an application loading a row per
 * request pays for them once: ferry_fetcher_fetch is ferry_fetch without the setup. plan
 * must outlive the fetcher; one fetcher is used by one thread at a time. open returns 0 or
 * an error code (ferry_errmsg); close accepts NULL. */
typedef struct ferry_fetcher ferry_fetcher;
int ferry_fetcher_open(ferry_fetcher **out, ferry_ctx *ctx, const ferry_plan *plan);
int ferry_fetcher_fetch(ferry_fetcher *h, ferry_fetch_result *out, const char *table,
                        size_t nvalues, const char *const *values);
void ferry_fetcher_close(ferry_fetcher *h);

/* ---- verification (docs/VERIFY.md) -----------------------------------------------------
 * Compare what the target should hold (the plan's sources through its rules, or a label)
 * with what it holds, table by table, matched by key and compared by the target's column
 * types. Sampled by the plan's coverage rules (verify: section), or every row with full. */

#define FERRY_VERIFY_OPTIONS_VERSION 1

typedef struct ferry_verify_options {
	unsigned version;         /* FERRY_VERIFY_OPTIONS_VERSION */
	int full;                 /* compare every row, whatever the coverage rules say */
	int max_listed;           /* differences listed per table; 0: 10 */
	const char *label_dir;    /* compare against this label instead of the plan's sources */
	const char *target_url;   /* with label_dir and no plan: the target */
	ferry_progress_fn progress; /* START, ROWS and DONE per table */
	void *progress_ud;
	size_t ntables;           /* > 0: only these target tables (each must be one the plan writes) */
	const char *const *tables;
} ferry_verify_options;

#define FERRY_VERIFY_OPTIONS_INIT {FERRY_VERIFY_OPTIONS_VERSION, 0, 0, NULL, NULL, NULL, NULL, 0, NULL}

typedef struct ferry_verify_report ferry_verify_report;

/* Run the comparison. Returns 0 when it ran to the end, whatever it found (the verdict is
 * ferry_verify_report_ok); *out is then set and freed by the caller. Nothing is written. */
int ferry_verify(ferry_verify_report **out, ferry_ctx *ctx, const ferry_plan *plan,
                 const ferry_verify_options *opts);

typedef struct ferry_verify_table {
	const char *table;        /* target table */
	const char *sources;      /* "main.items", or "a.t + b.t" for merges and unions */
	const char *coverage;     /* the rule that chose the sample, for people */
	double percent;
	int64_t rows_expected;    /* rows the expected side holds (every row, before sampling) */
	int64_t rows_target;      /* rows the target holds */
	int64_t compared;         /* expected rows (keys) in the sample, all compared */
	int64_t missing, extra, different;
	int counts_differ;        /* rows_expected != rows_target, in or out of the sample */
	double seconds;
	int64_t rows_outside;     /* target rows not judged: their key is a source row the plan's
	                             filters leave out (the other part of a split load) */
} ferry_verify_table;

/* 1 when every table matched: nothing missing, extra or different, and equal counts. */
int ferry_verify_report_ok(const ferry_verify_report *r);
size_t ferry_verify_report_count(const ferry_verify_report *r);
int ferry_verify_report_table(ferry_verify_table *out, const ferry_verify_report *r, size_t i);
/* The report as text (a table, then each listed difference) or as one JSON object. */
int ferry_verify_report_write_text(const ferry_verify_report *r, FILE *f);
int ferry_verify_report_write_json(const ferry_verify_report *r, FILE *f);
void ferry_verify_report_free(ferry_verify_report *r);

/* ---- online upgrade: ferry sync (docs/ONLINE.md) ----------------------------------------
 * Capture every change made to the sources first, then copy a snapshot of them through the
 * plan, then keep applying the captured changes through the same plan while the sources stay
 * in use. A rerun of the same plan resumes where the last one committed. */

typedef enum ferry_sync_phase {
	FERRY_SYNC_CAPTURE = 0,   /* installing change capture on the sources */
	FERRY_SYNC_SNAPSHOT = 1,  /* the snapshot copy (its progress comes as copy progress) */
	FERRY_SYNC_STREAMING = 2, /* applying captured changes */
	FERRY_SYNC_CAUGHT_UP = 3, /* a heartbeat came through with the lag under the bound */
	FERRY_SYNC_STOPPED = 4,   /* stopped on request; a rerun resumes */
	FERRY_SYNC_FINISHED = 5   /* --finish: capture removed from the sources, run recorded */
} ferry_sync_phase;

/* What a sync reports, on the calling thread; strings are the library's, valid during the
 * call only. */
typedef struct ferry_sync_status {
	ferry_sync_phase phase;
	int64_t rows_copied;      /* by the snapshot copy, this process */
	int64_t changes_applied;  /* changes applied since this process started */
	int64_t rows_upserted;    /* target rows written by the stream */
	int64_t rows_deleted;     /* target rows deleted by the stream */
	int64_t rows_rejected;    /* rows the target refused in the stream */
	double apply_rate;        /* changes per second over the last interval */
	double lag_seconds;       /* source commit to target commit of the newest change applied,
	                             or of the last heartbeat when idle; -1 until known */
	int64_t lag_changes;      /* captured changes not applied yet, summed over the sources
	                             whose engine counts them (SQLite); -1 when none does */
	double lag_p50, lag_p99;  /* over the last 4,096 applied batches (the newest change of
	                             each, source commit to target commit); -1 until known */
	double elapsed;           /* seconds since this process started the sync */
	const char *position;     /* the committed position of the first source, for people */
	const char *message;      /* a note, or NULL */
	int way_back;             /* 1: after a cut-over, carrying the new version's changes back
	                             into the old one */
	int both_ways;            /* 1: --both-ways, each version's changes carried to the other */
	int64_t conflicts;        /* --both-ways: rows written on both sides within the lag, settled
	                             by the plan's rule (this process; ferry_conflicts lists them) */
	double lag_back;          /* --both-ways: the lag of the new -> old direction, seconds; -1
	                             until known (lag_seconds is old -> new) */
	double lag_back_p50, lag_back_p99; /* --both-ways: as lag_p50 and lag_p99, new -> old */
} ferry_sync_status;
typedef void (*ferry_sync_fn)(void *ud, const ferry_sync_status *st);

#define FERRY_SYNC_OPTIONS_VERSION 1
typedef struct ferry_sync_options {
	unsigned version;         /* FERRY_SYNC_OPTIONS_VERSION */
	ferry_copy_options copy;  /* the snapshot copy's options (threads, chunk rows, progress) */
	int until_caught_up;      /* return 0 once the snapshot is in and a heartbeat sent after it
	                             came through with a lag under max_lag */
	double max_lag;           /* seconds; 0: 1 */
	double heartbeat;         /* seconds between heartbeats through the stream; 0: 1 */
	int finish;               /* remove what the sync installed on the sources and record the
	                             run in ferry_history; applies nothing */
	ferry_sync_fn status;     /* may be NULL */
	void *status_ud;
	double status_interval;   /* seconds between status calls; 0: 1 */
	int both_ways;            /* both versions take writes: changes flow old -> new through the
	                             plan and new -> old through its inverse at once, every table
	                             with a both_ways: or owner: rule (docs/ONLINE.md) */
} ferry_sync_options;
#define FERRY_SYNC_OPTIONS_INIT {FERRY_SYNC_OPTIONS_VERSION, FERRY_COPY_OPTIONS_INIT, 0, 0, 0, 0, NULL, NULL, 0, 0}

/* Run the sync of plan until it is caught up (opts->until_caught_up), interrupted
 * (FERRY_EINTR, ferry_interrupt: everything applied so far is committed; a rerun resumes) or
 * failed. A plan feature that cannot work online, or a source engine without change capture,
 * is refused before anything is installed (FERRY_EUSAGE, naming the table and the reason). */
int ferry_sync(ferry_ctx *ctx, const ferry_plan *plan, const ferry_sync_options *opts);

/* ---- the cut-over: ferry cutover (docs/ONLINE.md) --------------------------------------
 * Catch up, block writes on the sources (reads go on), drain the stream to the exact point
 * where writes stopped, record the cut-over in ferry_history of both versions, fence the old
 * version (a write to it then fails at once with a message naming the new one) and release
 * the block. The pause is what an application's write waited. */

#define FERRY_CUTOVER_OPTIONS_VERSION 1
typedef struct ferry_cutover_options {
	unsigned version;         /* FERRY_CUTOVER_OPTIONS_VERSION */
	ferry_sync_options sync;  /* the catch-up before the block (max_lag bounds it) */
	int max_pause_ms;         /* the longest writes may wait; past it the block is released,
	                             nothing is lost and the cut-over is tried again; 0: 2000 */
	int attempts;             /* tries before giving up (FERRY_ERROR, nothing changed); 0: 3 */
	int keep_old_writable;    /* do not fence the old version (only with no_way_back: the way
	                             back writes into it) */
	const char *switch_url;   /* a pooler the applications reach the old version through,
	                             repointed to the new one inside the pause
	                             ("pgbouncer://USER@HOST:PORT/ENTRY?config=PATH"), or NULL */
	int no_way_back;          /* cut over without the way back (no capture of the new version;
	                             ferry_rollback is then refused) */
	int verify;               /* inside the pause, after the drain's check: 1 ferry_verify of
	                             the plan by its coverage rules, 2 every row; a difference
	                             releases the block with nothing switched (FERRY_ECORRUPT) */
} ferry_cutover_options;
#define FERRY_CUTOVER_OPTIONS_INIT {FERRY_CUTOVER_OPTIONS_VERSION, FERRY_SYNC_OPTIONS_INIT, 0, 0, 0, NULL, 0, 0}

/* Where the time of a cut-over went, in milliseconds. */
typedef struct ferry_cutover_result {
	double catchup_ms;        /* before the block: snapshot (if still due) and catch-up */
	double pause_ms;          /* writes blocked: from the block's request to its release */
	double lock_ms;           /* of the pause: taking the block */
	double drain_ms;          /* of the pause: applying what was committed before it */
	double check_ms;          /* of the pause: re-reading the rows the drain wrote, both sides */
	double record_ms;         /* of the pause: ferry_history rows and the fence */
	int attempts;             /* 1 when the first block was short enough */
	int64_t rows_checked;     /* rows the drain wrote, compared source against target */
	char position[64];        /* the first source's position where writes stopped */
	int completed;            /* nothing to switch: an earlier process had switched, or a
	                             kill had stopped it between its halves and this call
	                             completed it */
} ferry_cutover_result;

/* Cut the plan's sync over to the target. *out (may be NULL) receives the times. Returns
 * FERRY_ERROR when no block of at most max_pause_ms could be had in the attempts allowed
 * (each released with nothing lost, the old version still writable), FERRY_EUSAGE when the
 * plan has no sync to cut over or cannot be synced. */
int ferry_cutover(ferry_cutover_result *out, ferry_ctx *ctx, const ferry_plan *plan,
                  const ferry_cutover_options *opts);

/* The cut-over the other way (docs/ONLINE.md, "The way back"): with the way back caught up,
 * block writes on the new version, drain, check, fence the new version, make the old one
 * writable again and start the forward stream at that point. Same options (keep_old_writable
 * is refused: the forward stream writes into the new version; no_way_back is ignored) and the
 * same guarantees; refused (FERRY_EUSAGE) when the plan is not cut over or was cut over with
 * no way back. */
int ferry_rollback(ferry_cutover_result *out, ferry_ctx *ctx, const ferry_plan *plan,
                   const ferry_cutover_options *opts);

/* Mask the password of a URL or conninfo string for display: the result is owned by the
 * caller (free). Returns NULL only when out of memory. */
char *ferry_url_mask(const char *url);

/* ---- versioned schema migrations (docs/MIGRATIONS.md) ---------------------------------
 * Files V<version>__<description>.sql, each optionally with V<version>__<description>.down.sql,
 * applied in version order (numerically per dot component: 1.9 < 1.10; 1 = 1.0) to one
 * database, each in its own transaction together with its row in the table ferry_history, under
 * a lock that keeps two ferry processes from migrating one database at once. */

/* What a migration call reports while it works, on the calling thread. Strings are owned by
 * the library and valid during the call only. */
typedef enum ferry_migrate_event_kind {
	FERRY_MIGRATE_WAIT = 0,   /* another process holds the lock: text says who (sent once) */
	FERRY_MIGRATE_START = 1,  /* a version begins: version, description, script */
	FERRY_MIGRATE_DONE = 2,   /* a version was applied and recorded: duration_ms */
	FERRY_MIGRATE_STATEMENT = 3, /* dry run: one statement of script at line (autocommit: it
	                                would run outside the migration's transaction) */
	FERRY_MIGRATE_RECORD = 4, /* dry run: the history row that would be recorded (text) */
	FERRY_MIGRATE_PROBLEM = 5, /* a validation problem (text), sent before the call fails */
	FERRY_MIGRATE_NOTE = 6    /* something done or found, for the user (text) */
} ferry_migrate_event_kind;

typedef struct ferry_migrate_event {
	ferry_migrate_event_kind kind;
	const char *version;
	const char *description;
	const char *script;       /* the file's name, without its directory */
	const char *text;
	int line;
	int autocommit;
	int64_t duration_ms;
} ferry_migrate_event;

typedef void (*ferry_migrate_fn)(void *ud, const ferry_migrate_event *ev);

#define FERRY_MIGRATE_OPTIONS_VERSION 1

typedef struct ferry_migrate_options {
	unsigned version;         /* FERRY_MIGRATE_OPTIONS_VERSION */
	const char *dir;          /* the migration files; NULL: "migrations" */
	const char *target;       /* migrate: apply versions up to this one (NULL: all);
	                             down: undo the versions above it (required) */
	int dry_run;              /* print what would run and be recorded; change nothing */
	int allow_out_of_order;   /* apply a new file older than the newest applied version */
	int ignore_missing;       /* an applied version whose file is gone is not a problem */
	int lock_timeout;         /* seconds to wait for the migration lock; 0: fail at once */
	const char *description;  /* baseline: the row's description (NULL: "baseline") */
	int history_only;         /* ferry_migrations_load: read ferry_history, not the files */
	const char *cache_dir;    /* where checksums of unchanged files are kept between runs
	                             (a file's stat says whether it changed); NULL: no cache,
	                             every file is read each time */
	ferry_migrate_fn event;   /* may be NULL */
	void *event_ud;
} ferry_migrate_options;

#define FERRY_MIGRATE_OPTIONS_INIT {FERRY_MIGRATE_OPTIONS_VERSION, NULL, NULL, 0, 0, 0, 60, NULL, 0, NULL, NULL, NULL}

/* Apply the pending versions of opts->dir to the database at url, in order, up to
 * opts->target. Refused (FERRY_EUSAGE, every problem sent as a FERRY_MIGRATE_PROBLEM event
 * first) while a version failed, an applied file changed or is missing, or a new file is
 * older than the newest applied version, unless the options allow it. A failed migration
 * returns FERRY_ERROR with the versions before it kept. */
int ferry_migrate(ferry_ctx *ctx, const char *url, const ferry_migrate_options *opts);

/* Undo the applied versions above opts->target, newest first, each by its down script in its
 * own transaction and recorded. Refused before anything runs when a down script is missing. */
int ferry_migrate_down(ferry_ctx *ctx, const char *url, const ferry_migrate_options *opts);

/* Record that the database at url already holds the schema up to version: versions up to it
 * count as applied. Refused when ferry_history already has rows. */
int ferry_migrate_baseline(ferry_ctx *ctx, const char *url, const char *version,
                           const ferry_migrate_options *opts);

/* Remove the rows of failed migrations and take the current checksum (and description) of
 * applied files that changed; each action is sent as a FERRY_MIGRATE_NOTE event. */
int ferry_migrate_repair(ferry_ctx *ctx, const char *url, const ferry_migrate_options *opts);

/* The state of one version. */
typedef enum ferry_migration_state {
	FERRY_MIGRATION_APPLIED = 0,
	FERRY_MIGRATION_PENDING = 1,
	FERRY_MIGRATION_FAILED = 2,       /* its last run failed: it may be partly applied */
	FERRY_MIGRATION_CHANGED = 3,      /* applied, and its file changed since */
	FERRY_MIGRATION_MISSING = 4,      /* applied, and its file is gone */
	FERRY_MIGRATION_OUT_OF_ORDER = 5, /* not applied, older than the newest applied version */
	FERRY_MIGRATION_BASELINE = 6,     /* the baseline version, or a file at or below it */
	FERRY_MIGRATION_IGNORED = 7       /* missing or out of order, allowed by the options */
} ferry_migration_state;

/* "applied", "pending", "failed", "changed", "missing", "out of order", "baseline", ... */
const char *ferry_migration_state_name(ferry_migration_state s);

typedef struct ferry_migration_info {
	const char *version;
	const char *description;
	ferry_migration_state state;
	const char *script;       /* the up script's file name, NULL when there is none */
	const char *down_script;  /* NULL when there is none */
	const char *applied_at;   /* NULL when not applied */
	const char *checksum;     /* the file's SHA-256 (hex), NULL when there is no file */
} ferry_migration_info;

/* One row of ferry_history, as stored. */
typedef struct ferry_history_row {
	int64_t installed_rank;   /* the order rows were recorded in */
	const char *version;      /* NULL for data rows */
	const char *description;
	const char *kind;         /* "schema", "data", "cutover", "baseline" */
	const char *script;       /* NULL when there is none */
	const char *checksum;
	const char *checksum_algo;
	const char *applied_at;
	const char *applied_by;
	int64_t duration_ms;
	int success;
	const char *ferry_version;
	const char *run_id;       /* data rows: the run's id, rows moved and verdict */
	int64_t rows_moved;       /* -1 when NULL */
	const char *verdict;
} ferry_history_row;

typedef struct ferry_migrations ferry_migrations; /* files + history of one database */

/* Read the history of the database at url and (unless opts->history_only) the files of
 * opts->dir, and work out each version's state; take no lock and change nothing. The caller
 * frees *out. */
int ferry_migrations_load(ferry_migrations **out, ferry_ctx *ctx, const char *url,
                          const ferry_migrate_options *opts);
void ferry_migrations_free(ferry_migrations *m);

/* Versions, in version order; strings are owned by m. */
size_t ferry_migrations_count(const ferry_migrations *m);
int ferry_migrations_get(ferry_migration_info *out, const ferry_migrations *m, size_t i);
size_t ferry_migrations_pending(const ferry_migrations *m);
/* The newest applied version (the baseline counts), NULL when none. */
const char *ferry_migrations_current(const ferry_migrations *m);
/* Problems that make ferry_migrate refuse, one line each, owned by m. */
size_t ferry_migrations_problem_count(const ferry_migrations *m);
const char *ferry_migrations_problem(const ferry_migrations *m, size_t i);
/* Every row of ferry_history, in the order recorded. */
size_t ferry_migrations_history_count(const ferry_migrations *m);
int ferry_migrations_history(ferry_history_row *out, const ferry_migrations *m, size_t i);

typedef enum ferry_migrations_view {
	FERRY_VIEW_STATUS = 0,    /* versions: applied and pending */
	FERRY_VIEW_HISTORY = 1,   /* the rows of ferry_history */
	FERRY_VIEW_VALIDATE = 2   /* the problems */
} ferry_migrations_view;

/* Write a view as a human-readable table, or as one JSON object followed by a newline. */
int ferry_migrations_write_text(const ferry_migrations *m, ferry_migrations_view view, FILE *f);
int ferry_migrations_write_json(const ferry_migrations *m, ferry_migrations_view view, FILE *f);

/* ---- runs recorded in a target (docs/RUNS.md) -----------------------------------------
 * Every run whose bookkeeping a target keeps: its kind, plan, state, the holder of its lease,
 * its progress and, for a sync, its stream position and lag. Written to f as a table, or as
 * one JSON object followed by a newline. A target that keeps no runs lists none. */
int ferry_runs_write(ferry_ctx *ctx, const char *target_url, int json, FILE *f);

#ifdef __cplusplus
}
#endif
#endif
