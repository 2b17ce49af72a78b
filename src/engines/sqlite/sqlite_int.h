/* sqlite_int.h — what the files of the SQLite engine share: the connection and small
 * helpers. Nothing outside src/engines/sqlite includes this header. */
#ifndef FERRY_SQLITE_INT_H
#define FERRY_SQLITE_INT_H

#include <sqlite3.h>
#include "../../ferry_int.h"

typedef struct sq_conn {
	sqlite3 *db;
	char *path;              /* the file as given, for messages */
	int readonly;
	int memory;              /* ":memory:" */
	int created;             /* connect created the file */
	char old_journal[16];    /* journal mode before the switch to WAL; "" when unchanged */
	int finished;            /* finish ran: close retries a journal restore that was busy */
	int wal_pending;         /* a target not switched to WAL yet: done at its first commit */
	sqlite3 *lock_db;        /* WAL snapshot: a second connection holding BEGIN IMMEDIATE */
	const char *token;       /* the exported snapshot token (a constant string) */
	int exported;            /* snapshot_export ran: token is its answer, NULL included */
	struct sq_migrate *mig;  /* migration lock state (sqlite_migrate.c), NULL until used */
} sq_conn;

/* The engine's opaque handles are these structs. */
#define SQ(c) ((sq_conn *)(void *)(c))

/* sqlite.c */
size_t ferry_sqlite__quote_ident(char *buf, size_t cap, const char *ident);
/* Append "ident" (quotes doubled) to b; returns 0 or FERRY_ENOMEM. */
int ferry_sqlite__buf_ident(ferry_buf *b, const char *ident);
/* Bind a value; text-like types as text, BOOL as an integer, an empty blob as a zero-length
 * blob (not NULL). Without copy, text and blobs are bound SQLITE_STATIC: their bytes must
 * stay put until the statement is stepped and reset. */
int ferry_sqlite__bind(sqlite3_stmt *st, int i, const ferry_value *v, int copy);
/* Read column i of the current row as a value pointing into the statement's memory
 * (valid until the next step, reset or column call on it). */
void ferry_sqlite__column(sqlite3_stmt *st, int i, ferry_value *out);
/* Prepare sql on c or fill err with "could not WHAT: errmsg" (FERRY_EUSAGE for SQL errors,
 * FERRY_ENOTFOUND for a missing table, FERRY_ERROR otherwise). */
int ferry_sqlite__prepare(sq_conn *c, sqlite3_stmt **out, const char *sql, int persistent,
                          ferry_err *err, const char *what);
/* Map an SQLite result code to a ferry code and fill err with the connection's message. */
int ferry_sqlite__fail(sq_conn *c, int rc, ferry_err *err, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 4, 5)))
#endif
	;
int ferry_sqlite__exec(sq_conn *c, const char *sql, ferry_err *err);

/* sqlite_schema.c */
int ferry_sqlite__introspect(ferry_conn *c, ferry_schema *out, ferry_err *err);
int ferry_sqlite__create_table(ferry_conn *c, const ferry_table *def, ferry_err *err);
int ferry_sqlite__create_indexes(ferry_conn *c, const ferry_table *def, ferry_err *err);

/* sqlite_rw.c */
int ferry_sqlite__plan_chunks(ferry_conn *c, const char *table, size_t nkeys,
                              const char *const *keys, int64_t chunk_rows,
                              const ferry_key_range *range, ferry_chunk_cb cb, void *ud,
                              ferry_err *err);
int ferry_sqlite__reader_open(ferry_reader **out, ferry_conn *c, const ferry_read_spec *spec,
                              ferry_err *err);
int ferry_sqlite__reader_next(ferry_reader *r, ferry_batch *b, int *eof, ferry_err *err);
void ferry_sqlite__reader_close(ferry_reader *r);
int ferry_sqlite__writer_open(ferry_writer **out, ferry_conn *c, const ferry_write_spec *spec,
                              ferry_err *err);
int ferry_sqlite__writer_write(ferry_writer *w, const ferry_batch *b, ferry_reject_cb reject,
                               void *ud, ferry_err *err);
void ferry_sqlite__writer_close(ferry_writer *w);

/* sqlite_migrate.c */
int ferry_sqlite__exec_params(ferry_conn *c, const char *sql, size_t nparams,
                              const ferry_value *params, int64_t *changed, ferry_err *err);
int ferry_sqlite__lock_try(ferry_conn *c, int *got, char *holder, size_t cap, ferry_err *err);
int ferry_sqlite__lock_release(ferry_conn *c, ferry_err *err);
int ferry_sqlite__split_sql(const char *sql,
                            int (*cb)(void *ud, const char *stmt, size_t len, int line), void *ud,
                            ferry_err *err);
int ferry_sqlite__needs_autocommit(const char *stmt, size_t len);
/* Release the migration lock, if held, and its state (from conn_free). */
void ferry_sqlite__migrate_free(sq_conn *c);

/* sqlite_capture.c: change capture for ferry sync (the engine table's .capture) */
extern const ferry_engine_capture ferry_sqlite__capture;

/* sqlite_probe.c */
int ferry_sqlite__probe_type(ferry_conn *c, const char *table, const char *column,
                             ferry_type type, int *all, ferry_err *err);

/* ---- sqlite_fence.c: the cut-over (the capture sub-table's freeze, fence, thaw, ...) ---- */
int ferry_sqlite__freeze(ferry_conn *c, const char *run_id, const ferry_capture_table *tables,
                         size_t ntables, int wait_ms, const char *text, uint64_t *pos,
                         ferry_err *err);
int ferry_sqlite__fence(ferry_conn *c, const char *run_id, const ferry_capture_table *tables,
                        size_t ntables, const char *message, ferry_err *err);
int ferry_sqlite__thaw(ferry_conn *c, int commit, ferry_err *err);
int ferry_sqlite__unfence(ferry_conn *c, const char *run_id, ferry_err *err);
int ferry_sqlite__fence_exempt(ferry_conn *c, ferry_err *err);
/* later: record the application's deletes from the tables (later_track), remove it all
 * (later_untrack), and skip recorded keys in c's inserts into table (a writer's guard). */
int ferry_sqlite__later_track(ferry_conn *c, const ferry_capture_table *tables, size_t ntables,
                              ferry_err *err);
int ferry_sqlite__later_untrack(ferry_conn *c, const ferry_capture_table *tables, size_t ntables,
                                ferry_err *err);
int ferry_sqlite__later_guard(sq_conn *c, const char *table, ferry_err *err);
/* *out: 1 when table has a recorded delete (table NULL: when the record exists at all). */
int ferry_sqlite__later_recorded(sq_conn *c, const char *table, int *out, ferry_err *err);
/* sqlite_capture.c: the position of the last change run_id's log holds (0: none). */
int ferry_sqlite__capture_last(sq_conn *c, const char *run_id, uint64_t *pos, ferry_err *err);

#endif
