/* state.h — a run's bookkeeping in its target, written once for every engine: run flags
 * (ferry_runs), chunk checkpoints (ferry_progress), refused rows (ferry_rejects), stream
 * positions (ferry_positions) and the run lease's table (ferry_leases). Used by the pipeline
 * and by anything that applies a stream of changes. */
#ifndef FERRY_STATE_H
#define FERRY_STATE_H

#include "../ferry_int.h"

/* Create the tables that are missing (and older tables' missing columns), inside the
 * caller's open transaction. An engine with its own record (e->state, a label) does its own. */
int ferry__state_init(const ferry_engine *e, ferry_conn *c, ferry_err *err);

/* Visit run_id's chunks in (job, chunk) order; a target never set up has none. A non-zero
 * return of cb stops the visit and is returned. rec and its bounds live until cb returns. */
int ferry__state_load(const ferry_engine *e, ferry_conn *c, const char *run_id,
                      ferry_chunk_cb cb, void *ud, ferry_err *err);
/* Record n planned chunks (inside the caller's transaction). */
int ferry__state_add_chunks(const ferry_engine *e, ferry_conn *c, const char *run_id,
                            const ferry_chunk_rec *recs, size_t n, ferry_err *err);
/* Inside the chunk's transaction: mark it done with its counts; a chunk that is not
 * pending is FERRY_ECORRUPT, unless done_elsewhere is not NULL: then *done_elsewhere = 1
 * (another process of a shared run committed it first; the caller rolls back). */
int ferry__state_chunk_done(const ferry_engine *e, ferry_conn *c, const char *run_id,
                            const ferry_chunk_rec *rec, int *done_elsewhere, ferry_err *err);
/* A run other than not_run that loaded rows into target table `table` (*run_id, caller
 * frees), or NULL when none is recorded (an engine with its own record keeps none). */
int ferry__state_table_writer(const ferry_engine *e, ferry_conn *c, const char *table,
                              const char *not_run, char **run_id, ferry_err *err);
/* Inside the chunk's transaction: record a refused row (key is JSON or NULL). */
int ferry__state_reject(const ferry_engine *e, ferry_conn *c, const char *run_id, int64_t job,
                        int64_t chunk, const char *table, const char *key, const char *reason,
                        ferry_err *err);
/* The same with the refused row's values: a JSON object of the target columns (bytes as
 * {"base64": "..."}), or NULL. */
int ferry__state_reject_row(const ferry_engine *e, ferry_conn *c, const char *run_id, int64_t job,
                            int64_t chunk, const char *table, const char *key, const char *values,
                            const char *reason, ferry_err *err);
/* Visit the rejects of a run with their values (NULL when not recorded). */
int ferry__state_reject_rows(const ferry_engine *e, ferry_conn *c, const char *run_id,
                             int (*cb)(void *ud, const char *table, const char *key,
                                       const char *values, const char *reason),
                             void *ud, ferry_err *err);
/* Visit the rejects of a run in the order they were stored: cb gets table, key JSON (or
 * NULL) and reason. */
int ferry__state_rejects(const ferry_engine *e, ferry_conn *c, const char *run_id,
                         int (*cb)(void *ud, const char *table, const char *key,
                                   const char *reason),
                         void *ud, ferry_err *err);
/* Run-level flags ("schema", "finished", "stage:NAME", "created:T", "indexed:T"); *out is
 * 1 when set. Setting a set flag changes nothing. */
int ferry__state_get(const ferry_engine *e, ferry_conn *c, const char *run_id,
                     const char *flag, int *out, ferry_err *err);
int ferry__state_set(const ferry_engine *e, ferry_conn *c, const char *run_id,
                     const char *flag, ferry_err *err);

/* The stream position of source `source` of run_id that the target has applied; *pos is 0
 * when none is recorded (0 is never a position). Stored in a signed 64-bit column as the
 * two's-complement bit pattern of the uint64, so every value round-trips exactly. */
int ferry__state_position_get(const ferry_engine *e, ferry_conn *c, const char *run_id,
                              size_t source, uint64_t *pos, ferry_err *err);
/* Record pos for (run_id, source), replacing the one before; runs inside the caller's open
 * transaction, the one that writes the rows up to pos, so rows and position commit together. */
int ferry__state_position_set(const ferry_engine *e, ferry_conn *c, const char *run_id,
                              size_t source, uint64_t pos, ferry_err *err);

/* Visit the rows of `SELECT exprs FROM table WHERE filter ORDER BY order` (filter with `?`
 * for params, in order; NULL: every row); a missing table has none. A non-zero return of
 * cb stops the visit and is returned. For bookkeeping tables only: the read goes through
 * the engine's reader, which a dialect-free query needs. */
int ferry__state_query(const ferry_engine *e, ferry_conn *c, const char *table,
                       const char *const *exprs, size_t nexprs, const char *filter,
                       const ferry_value *params, size_t nparams, const char *const *order,
                       size_t norder, int (*cb)(void *ud, const ferry_value *row), void *ud,
                       ferry_err *err);

/* Drop ferry's bookkeeping tables that hold no row (ferry_runs too with with_runs): what a
 * refused run or a finished way back leaves behind in a database that had none. */
int ferry__state_drop_empty(const ferry_engine *e, ferry_conn *c, int with_runs, ferry_err *err);

#endif
