/* ferry/engine.h — the engine interface, for engine authors.
 * An engine is a versioned table of function pointers registered by URL scheme; the
 * pipeline talks to databases only through it. A connection is used by one thread at a
 * time; each worker owns its own. */
#ifndef FERRY_ENGINE_H
#define FERRY_ENGINE_H

#include <stddef.h>
#include <stdint.h>
#include "../ferry.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FERRY_ENGINE_VERSION 1

/* ---- errors ------------------------------------------------------------------------ */

/* Every engine call takes a ferry_err to fill on failure. */
typedef struct ferry_err {
	int code;        /* FERRY_E* */
	char msg[1024];  /* one line, lowercase, no final period */
} ferry_err;

/* Set err (printf format) and return code, so callers write `return ferry_err_set(...)`. */
int ferry_err_set(ferry_err *err, int code, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 3, 4)))
#endif
	;

/* ---- values ------------------------------------------------------------------------ */

/* Canonical types (DESIGN.md §5). Text-like types carry UTF-8 text in v.s/len. */
typedef enum ferry_type {
	FERRY_NULL = 0,
	FERRY_INT,         /* v.i */
	FERRY_FLOAT,       /* v.f */
	FERRY_NUMERIC,     /* exact decimal text */
	FERRY_TEXT,
	FERRY_BLOB,        /* v.b/len */
	FERRY_BOOL,        /* v.i: 0 or 1 */
	FERRY_DATE,        /* 'YYYY-MM-DD' */
	FERRY_TIME,
	FERRY_TIMESTAMP,
	FERRY_TIMESTAMPTZ,
	FERRY_UUID,
	FERRY_JSON,
	FERRY_TYPE_COUNT
} ferry_type;

typedef struct ferry_value {
	uint8_t type;    /* ferry_type */
	uint32_t len;    /* bytes of text or blob */
	union {
		int64_t i;
		double f;
		const char *s;
		const uint8_t *b;
	} v;
} ferry_value;

const char *ferry_type_name(ferry_type t);

/* ---- batches ----------------------------------------------------------------------- */

/* Rows x columns of values, row-major. Strings live in the batch's arena, which is reset
 * with the batch. */
typedef struct ferry_batch ferry_batch;
size_t ferry_batch_ncols(const ferry_batch *b);
size_t ferry_batch_nrows(const ferry_batch *b);
size_t ferry_batch_capacity(const ferry_batch *b);
ferry_value *ferry_batch_row(ferry_batch *b, size_t row);
const ferry_value *ferry_batch_crow(const ferry_batch *b, size_t row);
/* Append a row of NULLs and return it; NULL when the batch is full. */
ferry_value *ferry_batch_add_row(ferry_batch *b);
/* Copy len bytes into the batch's arena (with a NUL after them). NULL when out of memory. */
void *ferry_batch_copy(ferry_batch *b, const void *data, size_t len);

/* ---- schemas ----------------------------------------------------------------------- */

typedef struct ferry_column {
	char *name;
	char *decl_type;    /* the engine's declared type, as written ("VARCHAR(20)"), or "" */
	ferry_type type;    /* canonical type */
	int notnull;
	char *default_sql;  /* the default as an SQL expression of the engine, or NULL */
	int pk_pos;         /* 1-based position in the primary key, 0 when not part of it */
	int generated;      /* a generated (computed) column: never written */
} ferry_column;

typedef struct ferry_fkey {
	char *ref_table;
	size_t ncols;
	char **cols;
	char **ref_cols;    /* NULL entries: the referenced table's primary key */
	char *on_delete;    /* "CASCADE", ... or NULL */
	char *on_update;
} ferry_fkey;

typedef struct ferry_index {
	char *name;
	int unique;
	size_t ncols;
	char **cols;        /* column names, or expressions when exprs is set */
	int exprs;
	char *where;        /* partial index predicate, or NULL */
	char *sql;          /* the engine's own CREATE INDEX text, or NULL; used for expression
	                       and partial indexes when the table keeps its name */
} ferry_index;

typedef struct ferry_table {
	char *name;
	size_t ncols;
	ferry_column *cols;
	size_t npk;
	size_t *pk;         /* column indexes of the primary key, in key order */
	int has_rowid;      /* the engine has a stable row id (SQLite rowid) for chunking */
	int strict;         /* SQLite STRICT */
	size_t nfks;
	ferry_fkey *fks;
	size_t nidx;
	ferry_index *idx;
	int64_t est_rows;   /* an estimate, -1 when unknown */
	const char *origin; /* name of the engine the definition came from ("sqlite"), or NULL;
	                       create_table trusts decl_type only from its own engine and maps
	                       the canonical type otherwise (not owned) */
	char *sql;          /* the engine's own CREATE TABLE text, or NULL. When a definition
	                       handed to create_table carries it, the engine replays it (and the
	                       indexes' own sql) verbatim: the table is copied unchanged between
	                       two databases of this engine, so nothing is lost in translation */
} ferry_table;

typedef struct ferry_schema ferry_schema;

/* Builders for engines filling a schema. Strings are copied; returned pointers stay valid
 * until the next add on the same parent. */
ferry_table *ferry_schema_add_table(ferry_schema *s, const char *name);
ferry_column *ferry_table_add_column(ferry_schema *s, ferry_table *t, const char *name,
                                     const char *decl_type, ferry_type type);
int ferry_table_set_pk(ferry_schema *s, ferry_table *t, const size_t *cols, size_t n);
ferry_fkey *ferry_table_add_fkey(ferry_schema *s, ferry_table *t, const char *ref_table,
                                 size_t ncols);
ferry_index *ferry_table_add_index(ferry_schema *s, ferry_table *t, const char *name,
                                   size_t ncols);
char *ferry_schema_strdup(ferry_schema *s, const char *str); /* NULL in, NULL out */

size_t ferry_schema_count(const ferry_schema *s);
ferry_table *ferry_schema_table(const ferry_schema *s, size_t i);
ferry_table *ferry_schema_find(const ferry_schema *s, const char *name); /* exact name */
/* The index of a column by exact name, or -1. */
int ferry_table_column(const ferry_table *t, const char *name);

/* ---- checkpoints ------------------------------------------------------------------- */

/* One chunk of one job of a run, as stored in the target (ferry_progress). Keys are
 * encoded with ferry_value_encode_row; empty means unbounded. */
typedef struct ferry_chunk_rec {
	int64_t job;
	int64_t chunk;
	const char *job_name;     /* "stage/source.table->target" for people reading the table */
	const char *stage;        /* the job's stage and target table (set by the pipeline for */
	const char *table;        /* state_add_chunks and chunk_begin; may be NULL elsewhere) */
	const uint8_t *lo;        /* exclusive lower bound; NULL when unbounded */
	size_t lo_len;
	const uint8_t *hi;        /* inclusive upper bound; NULL when unbounded */
	size_t hi_len;
	int64_t est_rows;
	int done;
	int64_t rows_read, rows_written, rows_rejected, rows_skipped;
} ferry_chunk_rec;

typedef int (*ferry_chunk_cb)(void *ud, const ferry_chunk_rec *rec);

/* ---- reading ----------------------------------------------------------------------- */

typedef struct ferry_read_spec {
	const char *table;
	size_t nexprs;
	const char *const *exprs;   /* select-list SQL of the engine's dialect */
	const char *filter;         /* a WHERE condition, or NULL */
	size_t nkeys;
	const char *const *keys;    /* chunking key columns (unquoted names); 0: the row id */
	const ferry_value *lo;      /* nkeys values (1 for the row id), exclusive; NULL: none */
	const ferry_value *hi;      /* inclusive; NULL: none */
	size_t nparams;
	const ferry_value *params;  /* values for the `?` parameters in exprs, in order */
} ferry_read_spec;

typedef struct ferry_reader ferry_reader;
typedef struct ferry_writer ferry_writer;
typedef struct ferry_conn ferry_conn;

/* Conflict rules of a merge target, per column. */
typedef enum ferry_conflict {
	FERRY_CONFLICT_NONE = 0, /* plain insert: a duplicate key is a rejected row */
	FERRY_CONFLICT_KEY,      /* a column of the conflict key */
	FERRY_CONFLICT_MIN,
	FERRY_CONFLICT_MAX,
	FERRY_CONFLICT_FIRST,    /* keep the value already there */
	FERRY_CONFLICT_LAST,     /* take the new value */
	FERRY_CONFLICT_SUM,
	FERRY_CONFLICT_ERROR     /* a different value is a rejected row */
} ferry_conflict;

typedef struct ferry_write_spec {
	const char *table;
	size_t ncols;
	const char *const *cols;
	const ferry_type *types;      /* canonical type of each target column */
	const size_t *map;            /* target column i takes batch column map[i] */
	int merge;                    /* 1: upsert with the rules below */
	const uint8_t *conflict;      /* ncols ferry_conflict values, when merge */
} ferry_write_spec;

/* Called by a writer for a row the target refused; reason is one line. Returning non-zero
 * stops the write with that code. */
typedef int (*ferry_reject_cb)(void *ud, size_t row, const char *reason);

/* ---- optional: change capture, for ferry sync (DESIGN.md §8) ------------------------ */

/* A captured change names the rows it touched by key; the apply re-reads those keys
 * through the job's own select list, so the transform stays SQL of the source's dialect
 * and a replay is idempotent. Positions are engine-defined, totally ordered by commit
 * (PostgreSQL: the commit's LSN; SQLite: the change log's sequence) and never 0. */
typedef enum ferry_change_op {
	FERRY_CHANGE_INSERT = 1,
	FERRY_CHANGE_UPDATE,     /* old_key set only when the key changed */
	FERRY_CHANGE_DELETE,
	FERRY_CHANGE_TRUNCATE,   /* every row of the table; keys NULL */
	FERRY_CHANGE_MARKER      /* ferry's own marker or heartbeat; table SIZE_MAX */
} ferry_change_op;

typedef struct ferry_capture_table {
	const char *table;           /* source table, as introspect names it */
	size_t nkeys;
	const char *const *keys;     /* its key columns (primary key or replica identity) */
} ferry_capture_table;

typedef struct ferry_change {
	uint64_t pos;                /* position of the change's commit */
	uint8_t op;                  /* ferry_change_op */
	size_t table;                /* index into the setup's tables, SIZE_MAX for a marker */
	const ferry_value *old_key;  /* nkeys values before the change, or NULL */
	const ferry_value *new_key;  /* nkeys values after it (insert, update), or NULL */
	int64_t commit_us;           /* source commit time, microseconds since the epoch; 0: unknown */
	const char *marker;          /* the text of a marker, else NULL */
	int txn_end;                 /* 1 on the last change of its source transaction: a
	                                position is acknowledged only there */
} ferry_change;

typedef struct ferry_capture ferry_capture;

typedef struct ferry_engine_capture {
	unsigned version;            /* FERRY_ENGINE_VERSION */
	/* Start capturing the tables' changes for run_id, or reopen what an earlier process of
	 * the run installed (then the tables must be the same; a lost position is an error that
	 * says so). url is the connection's own, for an engine that needs a second connection
	 * (PostgreSQL's replication connection). *out owns what it opened. */
	int (*setup)(ferry_capture **out, ferry_conn *c, const char *url, const char *run_id,
	             const ferry_capture_table *tables, size_t ntables, ferry_err *err);
	/* The snapshot token bulk readers join with snapshot_join, valid until start; NULL when
	 * the engine has none (reads then converge through the replay of every change since
	 * setup). *pos receives the position the snapshot agrees with (0: before the first
	 * change the capture will deliver). */
	const char *(*snapshot)(ferry_capture *cap, uint64_t *pos);
	/* Stream the changes committed after position from. */
	int (*start)(ferry_capture *cap, uint64_t from, ferry_err *err);
	/* Up to max changes into out, in commit order; the keys and texts stay valid until the
	 * next call. Waits up to timeout_ms when none is ready; *n = 0 then. */
	int (*next)(ferry_capture *cap, ferry_change *out, size_t max, size_t *n, int timeout_ms,
	            ferry_err *err);
	/* Everything up to pos is committed in the target: the source may forget it. */
	int (*ack)(ferry_capture *cap, uint64_t pos, ferry_err *err);
	void (*close)(ferry_capture *cap);
	/* Put a marker into run_id's stream through an ordinary connection; *pos (may be NULL)
	 * receives its position when the engine knows it at once. */
	int (*marker)(ferry_conn *c, const char *run_id, const char *text, uint64_t *pos,
	              ferry_err *err);
	/* Remove everything setup installed for run_id (triggers, log, slot, publication);
	 * nothing installed is not an error. */
	int (*teardown)(ferry_conn *c, const char *url, const char *run_id, ferry_err *err);
} ferry_engine_capture;

/* ---- the engine table -------------------------------------------------------------- */

enum {
	FERRY_CONNECT_READONLY = 1, /* a source: never write */
	FERRY_CONNECT_CREATE = 2    /* a target: create the database if it does not exist */
};

/* The target converts text that reads as a number into that number in numeric columns
 * (SQLite's affinity): the pipeline refuses rows whose value that would change ('012'). */
#define FERRY_ENGINE_NUMERIC_AFFINITY 1u
/* A reader reads one chunk of plan_chunks at a time (spec->lo and hi are its bounds): a
 * whole-table read goes chunk by chunk (a label). */
#define FERRY_ENGINE_CHUNKED_READ 2u

typedef struct ferry_engine {
	unsigned version;              /* FERRY_ENGINE_VERSION */
	const char *name;              /* "sqlite" */
	const char *const *schemes;    /* NULL-terminated URL schemes: "sqlite", ... */
	int max_writers;               /* concurrent writer connections worth having; 1 for SQLite */
	unsigned flags;                /* FERRY_ENGINE_* capabilities below */

	/* Mandatory. */
	int (*connect)(ferry_conn **out, const char *url, int flags, ferry_err *err);
	void (*close)(ferry_conn *c);
	int (*introspect)(ferry_conn *c, ferry_schema *out, ferry_err *err);
	/* Append the quoted identifier to buf (size cap); returns bytes needed, like snprintf. */
	size_t (*quote_ident)(char *buf, size_t cap, const char *ident);
	int (*exec)(ferry_conn *c, const char *sql, ferry_err *err);
	int (*begin)(ferry_conn *c, ferry_err *err);
	int (*commit)(ferry_conn *c, ferry_err *err);
	int (*rollback)(ferry_conn *c, ferry_err *err);

	/* Snapshot: the coordinator exports one (*token owned by the conn), readers join it,
	 * so every reader sees the same state of the source. */
	int (*snapshot_export)(ferry_conn *c, const char **token, ferry_err *err);
	int (*snapshot_join)(ferry_conn *c, const char *token, ferry_err *err);

	/* Split a table into chunks of about chunk_rows rows by its key (nkeys = 0: row id):
	 * cb receives each chunk's bounds (encoded keys) and row count, in key order. */
	int (*plan_chunks)(ferry_conn *c, const char *table, size_t nkeys,
	                   const char *const *keys, int64_t chunk_rows, ferry_chunk_cb cb,
	                   void *ud, ferry_err *err);

	int (*reader_open)(ferry_reader **out, ferry_conn *c, const ferry_read_spec *spec,
	                   ferry_err *err);
	/* Fill b (reset by the caller) with up to its capacity; *eof set when no rows remain. */
	int (*reader_next)(ferry_reader *r, ferry_batch *b, int *eof, ferry_err *err);
	void (*reader_close)(ferry_reader *r);

	int (*writer_open)(ferry_writer **out, ferry_conn *c, const ferry_write_spec *spec,
	                   ferry_err *err);
	/* Optional. Called right after begin for the chunk whose rows follow (a label writes
	 * each chunk to its own file). */
	int (*chunk_begin)(ferry_conn *c, const ferry_chunk_rec *rec, ferry_err *err);
	/* Write a batch inside the open transaction; refused rows go to reject, the rest stay. */
	int (*writer_write)(ferry_writer *w, const ferry_batch *b, ferry_reject_cb reject,
	                    void *ud, ferry_err *err);
	void (*writer_close)(ferry_writer *w);

	/* DDL from a table definition; indexes separately so they can come after the load. */
	int (*create_table)(ferry_conn *c, const ferry_table *def, ferry_err *err);
	int (*create_indexes)(ferry_conn *c, const ferry_table *def, ferry_err *err);
	int (*table_rows)(ferry_conn *c, const char *table, int64_t *out, ferry_err *err);

	/* Run state in the target (ferry_runs, ferry_progress, ferry_rejects). */
	int (*state_init)(ferry_conn *c, ferry_err *err);
	int (*state_load)(ferry_conn *c, const char *run_id, ferry_chunk_cb cb, void *ud,
	                  ferry_err *err);
	int (*state_add_chunks)(ferry_conn *c, const char *run_id, const ferry_chunk_rec *recs,
	                        size_t n, ferry_err *err);
	/* Inside the chunk's transaction: mark it done with its counts. */
	int (*state_chunk_done)(ferry_conn *c, const char *run_id, const ferry_chunk_rec *rec,
	                        ferry_err *err);
	int (*state_reject)(ferry_conn *c, const char *run_id, int64_t job, int64_t chunk,
	                    const char *table, const char *key, const char *reason,
	                    ferry_err *err);
	/* Visit the rejects of a run: cb gets table, key JSON, reason. */
	int (*state_rejects)(ferry_conn *c, const char *run_id,
	                     int (*cb)(void *ud, const char *table, const char *key,
	                               const char *reason),
	                     void *ud, ferry_err *err);
	/* Run-level flags ("schema", "finished"): get returns 0/1 in *out. */
	int (*state_get)(ferry_conn *c, const char *run_id, const char *flag, int *out,
	                 ferry_err *err);
	int (*state_set)(ferry_conn *c, const char *run_id, const char *flag, ferry_err *err);

	/* Optional. Rows of table violating its foreign keys after a load. */
	int (*fk_check)(ferry_conn *c, const char *table, int64_t *violations, ferry_err *err);
	/* Optional. Called after a load finished (restore settings, analyze). */
	int (*finish)(ferry_conn *c, ferry_err *err);
	/* Optional. Close c and, when connect created the database and nothing was committed to
	 * it, remove it: a run refused before it changed anything leaves no file behind. */
	void (*discard)(ferry_conn *c);

	/* ---- optional: versioned migrations (src/history) ---------------------------------- */

	/* Run one statement with values bound to its parameters, written $1, $2, ... in the
	 * SQL (PostgreSQL's form; SQLite binds them by name). No result rows are returned;
	 * *changed (may be NULL) receives the rows the statement changed. */
	int (*exec_params)(ferry_conn *c, const char *sql, size_t nparams, const ferry_value *params,
	                   int64_t *changed, ferry_err *err);
	/* Try to take the database's migration lock without waiting; *got = 1 when taken. When
	 * another process holds it, holder receives one line saying who and since when (cap
	 * bytes, NUL-terminated). The lock spans transactions and goes away with the connection,
	 * so a killed holder frees it. */
	int (*lock_try)(ferry_conn *c, int *got, char *holder, size_t cap, ferry_err *err);
	int (*lock_release)(ferry_conn *c, ferry_err *err);
	/* Split a script into statements in the engine's dialect (quotes, comments, dollar
	 * quoting, BEGIN...END of triggers): cb gets each statement without its final ';' and the
	 * 1-based line it starts on. */
	int (*split_sql)(const char *sql, int (*cb)(void *ud, const char *stmt, size_t len, int line),
	                 void *ud, ferry_err *err);
	/* 1 when a statement cannot run inside a transaction (PostgreSQL: CREATE INDEX
	 * CONCURRENTLY, VACUUM, ALTER TYPE ... ADD VALUE before 12, ...). */
	int (*needs_autocommit)(const char *stmt, size_t len);

	/* ---- optional: types across engines ------------------------------------------------ */

	/* Does every non-NULL value of column `column` of `table` read as canonical type `type`
	 * (a DATETIME column whose texts all parse as timestamps)? *all = 1 when so. Used when a
	 * table is created in another engine, to pick the target type. */
	int (*probe_type)(ferry_conn *c, const char *table, const char *column, ferry_type type,
	                  int *all, ferry_err *err);

	/* Optional: change capture for ferry sync (ferry_engine_capture above); NULL when the
	 * engine has none. */
	const ferry_engine_capture *capture;
} ferry_engine;

/* Register an engine on ctx; refused (FERRY_EUSAGE) when a mandatory callback is missing
 * or the version is unknown. The engine table must outlive ctx. */
int ferry_engine_register(ferry_ctx *ctx, const ferry_engine *engine);

/* ---- canonical encoding ------------------------------------------------------------ */

/* Append the canonical, portable encoding of n values to a growable buffer owned by the
 * caller (*buf realloc'd; *len, *cap updated). Used for stored chunk bounds and hashing. */
int ferry_value_encode_row(uint8_t **buf, size_t *len, size_t *cap, const ferry_value *vals,
                           size_t n);
/* Decode up to max values from data; text and blobs point into data. Returns the count
 * decoded, or a negative FERRY_ECORRUPT. */
int ferry_value_decode_row(ferry_value *out, size_t max, const uint8_t *data, size_t len);

#ifdef __cplusplus
}
#endif
#endif
