/* pipeline.h — shared between the pipeline's files: resolved jobs (one source table into
 * one target table), the run, and the summary. Nothing outside src/pipeline includes it. */
#ifndef FERRY_PIPELINE_H
#define FERRY_PIPELINE_H

#include <pthread.h>
#include "../ferry_int.h"

/* One source table carried into one target table, fully resolved against both schemas. */
typedef struct job {
	size_t id;                 /* stable within a run: stored as ferry_progress.job */
	const ferry_plan_table *entry; /* NULL for a table the plan does not name */
	const char *stage;
	size_t src;                /* index of the source */
	const char *source_name;
	char *src_table;
	char *dst_table;
	char *name;                /* "stage/source.table->target" */
	char *filter;              /* the entry's where, and its later: in the plan's later mode
	                              (owned), or NULL */
	int later;                 /* the entry has later: (some of its rows wait) */
	int guard_deleted;         /* backfill, fetch: skip keys the application deleted */
	int64_t rows_waiting;      /* later: rows that wait, counted after the load; -1 unknown */
	/* The select list: ntcols target values, then nkeys reporting-key columns. */
	size_t nexprs;
	char **exprs;
	size_t nparams;
	ferry_value *params;       /* owned strings */
	size_t ntcols;
	char **tcols;
	ferry_type *ttypes;
	uint8_t *texact;           /* FERRY_EXACT_* of each target column's declared type */
	uint8_t *conflict;
	size_t *map;
	int merge;
	size_t nkeys;              /* reporting key (source primary key), after the targets */
	char **keynames;
	size_t nchunk_keys;        /* 0: the engine's row id */
	char **chunk_keys;
	int bounded;               /* range holds: set when the stage's chunks are built */
	ferry_key_range range;     /* the chunking key's values its rows can have (bounds.c) */
	int level;                 /* foreign-key level of the target table */
	int creates_table;         /* the target table is created by ferry for this run */
	/* Figures, updated under the run's lock. */
	int64_t chunks, chunks_done, chunks_resumed;
	int64_t rows_est, rows_resumed, rows_read, rows_written, rows_rejected, rows_skipped;
	int64_t fk_violations;
	double started, seconds;
	int done_flag;
	int started_stage;         /* scratch of run.c's --join figures */
} job;

typedef struct ferry_source_conn {
	const ferry_engine *eng;
	ferry_conn *conn;
	ferry_schema *schema;
	const char *token;         /* snapshot token; NULL: one reader (snapshot_export) */
	int nojoin;                /* readers join no snapshot: each reads the state it finds
	                              (an online copy, which converges through the replay) */
} ferry_source_conn;

struct ferry_summary {
	char run_id[33];
	char *rejects_path;
	int was_complete;
	size_t njobs;
	ferry_table_stats *stats;
	int64_t *waiting;          /* per table: rows that wait (later:), -1 for none */
	char **strs;               /* owned strings behind stats */
	size_t nstrs, strs_cap;
	char **notes;
	size_t nnotes, notes_cap;
	int64_t total_rejected, total_fk, max_rejects;
	ferry_verify_report *verify;  /* --verify's report, or NULL */
	char *target;              /* the target's address, masked (no password), or NULL */
	char started_at[32];       /* when this process began the run, ISO 8601 UTC */
	double elapsed;            /* seconds this process spent on it */
	char *preview_text;        /* a check's account of what the run would do, or NULL */
	char *preview_json;        /* the same as a JSON object */
};

/* jobs.c */
typedef struct jobset {
	job *jobs;
	size_t njobs, cap;
	ferry_schema *created;     /* definitions of the target tables ferry creates */
	ferry_schema *again;       /* of tables an earlier process of this run created, whose
	                              indexes and foreign keys are still due (a resumed run) */
	char **notes;
	size_t nnotes, notes_cap;
	int types_declared;        /* --types=declared: no types from the values */
	unsigned tflags;           /* the target engine's FERRY_ENGINE_* flags */
	size_t ident_max;          /* the target engine's longest name (0: no limit) */
	const char *teng_name;     /* the target engine's name (SQL dialect of created tables) */
	char **longs;              /* long names met, each followed by its short form (names.c) */
	size_t nlongs, longs_cap;
} jobset;

/* ferry__jobs_build's strict argument: 1 for --strict, with this bit for --types=declared. */
#define FERRY_JOBS_TYPES_DECLARED 2

/* ctx's registry names the engines tables come from (ferry_table.origin). */
int ferry__jobs_build(jobset *js, const ferry_ctx *ctx, const ferry_plan *plan,
                      ferry_source_conn *sources, const ferry_engine *teng,
                      const ferry_schema *tschema, int strict, ferry_err *err);
void ferry__jobs_free(jobset *js);
/* The value of plan rule pc's default (NULL, an integer, a real or text; text is the
 * caller's to free): 0, or FERRY_ENOMEM. */
int ferry__jobs_default_value(ferry_value *out, const ferry_plan_column *pc);
/* Choose the types of created table t (defined from source table st through entry e): a
 * plan's type: keys, and with profile set the narrowest type holding the values of each
 * computed column, default-only column and (cross set: another engine's table; loose set:
 * the source types loosely) source column, read in one pass from sc; each choice that departs from the declaration is a note
 * in js (infer.c). *null_key is set when a key column of st holds NULL. 0 or an error. */
int ferry__infer_types(jobset *js, ferry_table *t, const ferry_table *st,
                       const ferry_plan_table *e, const ferry_source_conn *sc, int profile,
                       int cross, int loose, int *null_key, ferry_err *err);
/* Created table t, whose source st holds NULL in its primary key (*null_key above), gets a
 * unique index on those columns instead (NULLs stay distinct, as in SQLite), with a note;
 * 0, or -1 when out of memory. */
int ferry__infer_null_key(jobset *js, ferry_table *t, const ferry_table *st);
/* The read filter of entry e's job in later mode `mode` (FERRY_LATER_*) into *out (caller
 * frees; NULL: none); -1 when out of memory. */
int ferry__jobs_later_filter(char **out, int mode, const ferry_plan_table *e);
/* Define again (into js->again) target table dst as ferry created it in an earlier process
 * of this run, for its indexes and foreign keys; 0 when done or dst has no job. */
int ferry__jobs_define_again(jobset *js, const ferry_ctx *ctx, const ferry_plan *p,
                             ferry_source_conn *sources, const ferry_engine *teng,
                             const char *dst, ferry_err *err);
/* Notes (what resolution drops, defaults and converts; what a run remarks) are each one
 * allocation: the message, a C string (so a note prints as itself), then its code, its
 * target table and its column, each NUL-terminated and "" when there is none. Every notes
 * array holds notes made here. Append one: 0 or FERRY_ENOMEM. */
int ferry__note_at(char ***notes, size_t *n, size_t *cap, const char *code, const char *table,
                   const char *column, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 7, 8)))
#endif
	;
/* The same with code "note" and neither table nor column. */
int ferry__note(char ***notes, size_t *n, size_t *cap, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 4, 5)))
#endif
	;
/* Append a copy of a note made by ferry__note_at. */
int ferry__note_copy(char ***notes, size_t *n, size_t *cap, const char *note);
enum { FERRY_NOTE_CODE = 1, FERRY_NOTE_TABLE = 2, FERRY_NOTE_COLUMN = 3 };
/* A field of a note ("" when it has none). */
const char *ferry__note_field(const char *note, int field);
/* The note as {"code":..,"table":..,"column":..,"message":..} (null for no table or column). */
void ferry__note_json(ferry_buf *b, const char *note);
char *ferry__qident(const ferry_engine *e, const char *name);

/* names.c. name as the target holds it: itself, or when longer than js->ident_max its short
 * form (ferry__ident_short), the same in every run; the first time a name (a `what`, of
 * table `of` or NULL) is shortened, a note says so. NULL in, NULL out; NULL when out of memory. */
const char *ferry__jobs_short(jobset *js, const char *name, const char *what, const char *of);
/* The column of st that target column tname of a created table came from (exactly that
 * name, or the one whose short form it is), or -1. */
int ferry__jobs_src_column(jobset *js, const ferry_table *st, const char *tname);

/* bounds.c. The inclusive range [*lo, *hi] of j's integer chunking key (a single integer
 * key column, or SQLite's rowid and its alias) outside which no row of its entry's where and
 * later: condition (in later_mode) can be: 1 when narrower than every integer, else 0. */
int ferry__jobs_key_range(const job *j, int later_mode, const ferry_table *st, int64_t *lo,
                          int64_t *hi);

/* sqlport.c. Whether `name` (quoted: as written in quotes) is a column of the expression's
 * table: 1 with *to its name in the target (NULL: not carried there) and *is_bool whether it
 * holds booleans, or 0. */
typedef int (*ferry_port_col)(void *ud, const char *name, int quoted, const char **to,
                              int *is_bool);
/* expr, SQL of engine `from` over one table's columns, as SQL of engine `to` ("sqlite",
 * "postgres"; the same engine: only the columns renamed) with each column named by col:
 * 0 with *out (caller frees), 1 when it cannot be said the same way there (why says, cap
 * bytes), -1 out of memory. */
int ferry__sql_port(char **out, const char *expr, const char *from, const char *to,
                    ferry_port_col col, void *ud, char *why, size_t cap);
/* A column default as a plain literal: a number, a 'string' (quotes as written), TRUE/FALSE,
 * CURRENT_TIMESTAMP and its kin, parentheses and trailing casts dropped (caller frees); NULL
 * with *keep = 1 for NULL, with *keep = 0 for anything computed. */
char *ferry__sql_literal(const char *d, int *keep);

struct ferry_work_source;

/* run.c: what ferry sync changes in a copy (src/online/sync.c). */
typedef struct ferry__copy_hooks {
	const char *const *tokens; /* per source: the snapshot its readers join; NULL: none shared;
	                              the array NULL: each source exports its own, as a copy does */
	int no_history;            /* the copy writes no ferry_history row (the sync records itself) */
	struct ferry_lease *lease; /* the sync's lease of the run, which the copy's commits check;
	                              NULL: none */
	/* Called once the jobs are resolved against the target (its target schema applied in
	 * the still open transaction): non-zero refuses the run with err set, and the copy rolls
	 * back. It may take *js (copy it and zero it) and *tschema (set it NULL) to keep them. */
	int (*resolved)(void *ud, jobset *js, ferry_schema **tschema, ferry_err *err);
	/* Optional: replace a stage's work source *src by one that wraps it (the backfill's
	 * --rate); the wrapper lives until the stage's run returns. */
	void (*wrap)(void *ud, struct ferry_work_source *src);
	void *ud;
} ferry__copy_hooks;
/* One ferry_copy (copy, export, import): what its parts share. */
typedef struct copy_state {
	ferry_ctx *ctx;
	int was_empty;             /* the target held no table when the run began */
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
	uint64_t schema_kept;     /* bit i: target schema file i is not applied (this run applied
	                             it already, or the target's ferry_history holds it); all
	                             bits past 63 follow bit 63 */
	double started;           /* when this process began the run (ferry__now) */
	const ferry__copy_hooks *hooks; /* ferry sync's, or NULL */
	struct ferry_lease *lease; /* the run's lease (its own, or the sync's); NULL: none kept */
	int own_lease;            /* this copy took it and releases it */
	struct ferry_join *join;  /* --join: this process's claims (join.c), or NULL */
	int joiner;               /* --join beside a live holder: no lease, no planning, no finish */
	int64_t join_rows;        /* --join: rows this process wrote */
	int join_said;            /* --join: the joining was told */
	ferry_err err;
} copy_state;

/* target.c: the target's side of a run (see there). */
int ferry__target_prepare(copy_state *cs, int strict, ferry_summary *sum);
int ferry__target_truncate(copy_state *cs);
/* Record in the run's flags (inside the caller's transaction) which data job j loads into
 * a target table without a key, so a later --append of the same data is refused. */
int ferry__target_note_data(copy_state *cs, const job *j);
/* Refuse a fresh job whose target table holds rows the run did not write, or empty it
 * (--truncate); shared: another job of the run already writes the table. */
int ferry__target_check_empty(copy_state *cs, const job *j, int shared);
int ferry__target_finish_tables(copy_state *cs, ferry_summary *sum);
/* Tell the progress display a step after the rows begins (what: "verify", "analyze"). */
void ferry__target_phase(copy_state *cs, const char *what);
int ferry__target_finish_run(copy_state *cs, const ferry_verify_report *vr);
int ferry__target_rejects_file(copy_state *cs, ferry_summary *sum);

/* probe.c: run every job's select list and filter against its source, reading no row, on
 * connections of its own; a failure is FERRY_EUSAGE naming the plan's place (where, the
 * column's rule) unless the table itself cannot be read. */
int ferry__jobs_probe(copy_state *cs);

/* preview.c: what the run would do (DDL, tables, columns and where each value comes from,
 * estimates, stages), into sum's preview_text and preview_json; inside a check's prepare
 * transaction, before it is rolled back. */
int ferry__preview_build(copy_state *cs, ferry_summary *sum);

int ferry__copy_hooked(ferry_summary **out, ferry_ctx *ctx, const ferry_plan *plan,
                       const ferry_copy_options *opts, const ferry__copy_hooks *hooks);

/* later.c: count the rows of each `later:` job that wait (cs's sources, one count each). */
int ferry__later_count(copy_state *cs);
/* later.c: have the target record the keys the application deletes from the tables of
 * cs's `later:` jobs (a copy's end: the new version may go live from here). */
int ferry__later_track(copy_state *cs);
/* 1 when an entry of p that is carried has later:. */
int ferry__later_any(const ferry_plan *p);
/* The backfill's run id: its plan's digest hashed with ":backfill". */
void ferry__later_backfill_id(char out[33], const ferry_plan *p);

/* summary.c */
ferry_summary *ferry__summary_new(const char *run_id);
int ferry__summary_add(ferry_summary *s, const job *j);
/* Add a note to s: a message of code "note" (or code, with table and column or NULL), or a
 * copy of a note made by ferry__note_at; 0 or FERRY_ENOMEM. */
int ferry__summary_note(ferry_summary *s, const char *note);
int ferry__summary_note_at(ferry_summary *s, const char *code, const char *table, const char *column,
                           const char *msg);
int ferry__summary_note_copy(ferry_summary *s, const char *note);

#endif
