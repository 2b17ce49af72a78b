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

/* Raised whenever a struct an engine fills or reads, or a callback's signature, changes in a
 * way an engine built against the older header would get wrong (registration refuses it).
 * 3: ferry_column.collation, ferry_table.note(ud, code, column, line), plan_chunks' key
 *    range, the capture's touch and keepalive, begin_write gone. */
#define FERRY_ENGINE_VERSION 3

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
	int chosen;         /* decl_type is a type chosen for the target's engine, declared as
	                       written (a table ferry creates: docs/ENGINES.md): 1 by ferry from
	                       the values, 2 by the plan's type: */
	char *collation;    /* the column's own collation as its engine's SQL names it after
	                       COLLATE (SQLite NOCASE or RTRIM; PostgreSQL "C", or myschema."de"
	                       off pg_catalog), or NULL for the default (SQLite BINARY, PostgreSQL
	                       the type's own) */
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
	unsigned char *opts; /* per key column, FERRY_INDEX_* bits (allocated with the index) */
	int constraint;     /* the index of a UNIQUE constraint (SQLite: a UNIQUE clause of the
	                       table; PostgreSQL: pg_constraint), made one again where it can be */
} ferry_index;

#define FERRY_INDEX_DESC 1u /* the key column sorts descending */
#define FERRY_INDEX_EXPR 2u /* the key column is an expression (its text in cols) */

/* A CHECK constraint: its name (NULL when the engine named none) and its expression in the
 * engine's SQL, without the CHECK keyword and outer parentheses. */
typedef struct ferry_check {
	char *name;
	char *expr;
	int unvalidated;    /* not checked against the rows already there (PostgreSQL NOT VALID):
	                       a row may break it */
} ferry_check;

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
	                       the canonical type otherwise, and ferry looks the origin's flags
	                       up by this name (not owned) */
	char *sql;          /* the engine's own CREATE TABLE text, or NULL. When a definition
	                       handed to create_table carries it, the engine replays it (and the
	                       indexes' own sql) verbatim: the table is copied unchanged between
	                       two databases of this engine, so nothing is lost in translation */
	size_t nchecks;
	ferry_check *checks;
	/* Optional, set by whoever hands the table to create_table or create_indexes: told, one
	 * line each, of a CHECK, an index or a column's collation the engine did not create (its
	 * SQL is not the engine's, the database lacks it), so that nothing of a schema vanishes
	 * without a note. code names the kind of note ("collation_not_created") and column the
	 * column it is about; both NULL for a note of the table. NULL: nobody listens. */
	void (*note)(void *ud, const char *code, const char *column, const char *line);
	void *note_ud;
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
ferry_check *ferry_table_add_check(ferry_schema *s, ferry_table *t, const char *name,
                                   const char *expr);
/* An object of the schema that is not a table ("view", "trigger"): ferry copies tables
 * only, and a run says so of each such object (strings copied); 0 or FERRY_ENOMEM. */
int ferry_schema_add_other(ferry_schema *s, const char *kind, const char *name);
/* The kind of other object i (its name into *name), or NULL past the last. */
const char *ferry_schema_other(const ferry_schema *s, size_t i, const char **name);
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

/* The keys a job's rows can have, inclusive at both ends (INT64_MIN / INT64_MAX: unbounded
 * on that side; lo > hi: no key), on a single integer chunking key or the row id: what a
 * plan's `where` / `later:` on that key admits, so planning can skip the keys outside it. */
typedef struct ferry_key_range {
	int64_t lo, hi;
} ferry_key_range;

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
	/* Only the rows whose keys (nkeys > 0 columns named by keys) equal one of nmatch tuples
	 * of match (nmatch x nkeys values, row-major); 0: no such condition. The online apply
	 * re-reads the rows a change touched this way. Used without lo and hi. */
	size_t nmatch;
	const ferry_value *match;
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
	int guard_deleted;            /* 1 (backfill, fetch): a row whose key later_track recorded
	                                 as deleted by the application is not written */
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
	/* Optional. Wait until every change delivered so far is visible to a new read on
	 * reader (a connection to the same database): the apply re-reads the rows a change
	 * touched, and a commit may reach the stream a moment before other sessions see it. */
	int (*settle)(ferry_capture *cap, ferry_conn *reader, ferry_err *err);
	/* Optional. *n receives how many captured changes lie after position pos (the lag in
	 * changes), for an engine that can count them cheaply. */
	int (*backlog)(ferry_capture *cap, uint64_t pos, int64_t *n, ferry_err *err);
	void (*close)(ferry_capture *cap);
	/* Put a marker into run_id's stream through an ordinary connection; *pos (may be NULL)
	 * receives its position when the engine knows it at once. */
	int (*marker)(ferry_conn *c, const char *run_id, const char *text, uint64_t *pos,
	              ferry_err *err);
	/* Remove everything setup installed for run_id (triggers, log, slot, publication);
	 * nothing installed is not an error. */
	int (*teardown)(ferry_conn *c, const char *url, const char *run_id, ferry_err *err);

	/* The cut-over (optional: all four or none). freeze blocks every write to the tables in
	 * a transaction it opens on c (reads go on), waiting at most wait_ms for the lock, and
	 * gives *pos: a change committed before the block has a position below it, and the
	 * stream delivers a marker of that text at *pos (PostgreSQL) or nothing at or after it
	 * until thaw (SQLite: *pos is one past the last change). Writes wait while frozen. */
	int (*freeze)(ferry_conn *c, const char *run_id, const ferry_capture_table *tables,
	              size_t ntables, int wait_ms, const char *text, uint64_t *pos, ferry_err *err);
	/* Inside a freeze: from its commit on, every write to the tables fails at once with
	 * message, except those of ferry's own connections (see fence_exempt). */
	int (*fence)(ferry_conn *c, const char *run_id, const ferry_capture_table *tables,
	             size_t ntables, const char *message, ferry_err *err);
	/* End the freeze: commit = 1 keeps what was done in it (the fence, history rows), 0 rolls
	 * it back. Writes go on (or fail on the fence) from here. */
	int (*thaw)(ferry_conn *c, int commit, ferry_err *err);
	/* Remove run_id's fence (a rollback of a cut-over); none is not an error. */
	int (*unfence)(ferry_conn *c, const char *run_id, ferry_err *err);
	/* Mark connection c as ferry's own: the fence lets its writes through. */
	int (*fence_exempt)(ferry_conn *c, ferry_err *err);

	/* Both ways (optional). origin with on = 1, first in c's open transaction: every other
	 * writer of the tables waits until that transaction ends, and run_id's capture never
	 * delivers what c writes in it (ferry's own writes are not carried back); on = 0 just
	 * before the commit. Another writer that does not let go in a moment is FERRY_EBUSY (the
	 * message names it): the caller rolls back and tries again later. */
	int (*origin)(ferry_conn *c, const char *run_id, const char *const *tables, size_t ntables,
	              int on, ferry_err *err);
	/* 1 when the database has one writer at a time (SQLite): while ferry's transaction holds
	 * the write lock, everything committed before it is readable by the capture and nothing
	 * else commits; 0: a marker through the stream says when everything before it is read. */
	int one_writer;
	/* Both ways (optional; without it a key change that loses a conflict is an error). In
	 * c's open transaction, which origin marked as ferry's own: put into run_id's stream an
	 * update of the row of table whose key columns keys (nkeys, as setup named them, in its
	 * order) hold key, delivered with that commit like a change the application made, so
	 * the other direction re-reads that key (a moved row's key that lost, see ONLINE.md). */
	int (*touch)(ferry_conn *c, const char *run_id, const char *table, const char *const *keys,
	             size_t nkeys, const ferry_value *key, ferry_err *err);
	/* Optional. Tell the source the stream is still read while the caller serves changes it
	 * took earlier (PostgreSQL: a standby status update when one is due). */
	int (*keepalive)(ferry_capture *cap, ferry_err *err);
} ferry_engine_capture;

/* ---- optional: the switch for applications (the cut-over's "same address") -------- */

/* A connection pooler in front of the old version, repointed to the new one inside the
 * cut-over's pause: applications keep the address they have. Chosen by the scheme of the
 * --switch URL ("pgbouncer://..."). */
typedef struct ferry_engine_switch {
	const char *scheme;          /* the URL scheme it takes */
	int (*open)(void **out, const char *url, ferry_err *err);
	/* Hold new transactions of the applications (they wait); returns when none runs. */
	int (*pause)(void *h, ferry_err *err);
	/* Point the applications' entry at target_url (the new version). */
	int (*repoint)(void *h, const char *target_url, ferry_err *err);
	/* Let the applications go on (a paused pooler is resumed by close too). */
	int (*resume)(void *h, ferry_err *err);
	void (*close)(void *h);
} ferry_engine_switch;

/* ---- optional: a run's record kept by the engine ----------------------------------- */

/* An engine whose target is not a database (a label: its manifest and chunk files are the
 * record) keeps a run's flags, chunk checkpoints and rejects itself. Every other engine
 * leaves this NULL and ferry keeps them in its tables (ferry_runs, ferry_progress,
 * ferry_rejects) through exec_params and the reader. */
typedef struct ferry_engine_state {
	unsigned version;              /* FERRY_ENGINE_VERSION */
	int (*init)(ferry_conn *c, ferry_err *err);
	/* Visit run_id's chunks in (job, chunk) order; cb's non-zero return stops and is returned. */
	int (*load)(ferry_conn *c, const char *run_id, ferry_chunk_cb cb, void *ud, ferry_err *err);
	int (*add_chunks)(ferry_conn *c, const char *run_id, const ferry_chunk_rec *recs, size_t n,
	                  ferry_err *err);
	/* Inside the chunk's transaction: mark it done with its counts. */
	int (*chunk_done)(ferry_conn *c, const char *run_id, const ferry_chunk_rec *rec,
	                  ferry_err *err);
	int (*reject)(ferry_conn *c, const char *run_id, int64_t job, int64_t chunk,
	              const char *table, const char *key, const char *reason, ferry_err *err);
	/* Visit the rejects of a run: cb gets table, key JSON, reason. */
	int (*rejects)(ferry_conn *c, const char *run_id,
	               int (*cb)(void *ud, const char *table, const char *key, const char *reason),
	               void *ud, ferry_err *err);
	/* Run-level flags ("schema", "finished", "stage:NAME", ...): get returns 0/1 in *out. */
	int (*get)(ferry_conn *c, const char *run_id, const char *flag, int *out, ferry_err *err);
	int (*set)(ferry_conn *c, const char *run_id, const char *flag, ferry_err *err);
} ferry_engine_state;

/* ---- the engine table -------------------------------------------------------------- */

enum {
	FERRY_CONNECT_READONLY = 1, /* a source: never write */
	FERRY_CONNECT_CREATE = 2,   /* a target: create the database if it does not exist */
	FERRY_CONNECT_LIVE = 4      /* a live source ferry writes its own objects to (capture,
	                               markers, the cut-over's fence): read-write, but no setting
	                               of the database is changed (no journal mode, no pragma) */
};

/* The target converts text that reads as a number into that number in numeric columns
 * (SQLite's affinity): the pipeline refuses rows whose value that would change ('012'). */
#define FERRY_ENGINE_NUMERIC_AFFINITY 1u
/* A reader reads one chunk of plan_chunks at a time (spec->lo and hi are its bounds): a
 * whole-table read goes chunk by chunk (a label). */
#define FERRY_ENGINE_CHUNKED_READ 2u
/* The engine stores values by their own type rather than the column's, as SQLite does: a
 * float written into a text column reads back as its 15-digit text, a TRUE default as 1 and
 * a non-integer number literal as a float; verify predicts the target's cells that way. */
#define FERRY_ENGINE_TEXT_FLOATS 4u
/* A fixed-length character column (character(n), char(n), bpchar) reads back padded with
 * blanks the engine's comparisons ignore (PostgreSQL): verify compares it without them. */
#define FERRY_ENGINE_BLANK_PADDED_CHAR 8u
/* A label: rows already carried through a plan's rules and kept for a later write step. As
 * a source its tables are the jobs of that plan (a copy from it is an import), and their
 * declared types are those of the engine each was read from, which introspect names as the
 * table's origin when known. */
#define FERRY_ENGINE_LABEL 16u
/* One writer at a time for the whole database, which lives on one host (SQLite): a run's
 * lease is renewed by its commits only (a write from another connection of the holder would
 * spoil its open read transactions there), and its holder's liveness is its process. */
#define FERRY_ENGINE_ONE_WRITER 32u

/* How surely an engine takes a URL (the claim callback); the highest claim wins. */
enum {
	FERRY_CLAIM_NONE = 0,
	FERRY_CLAIM_FALLBACK = 1, /* anything without a scheme:// of its own (a bare path) */
	FERRY_CLAIM_FORM = 2,     /* a form without a scheme only this engine uses (libpq's
	                             "host=h dbname=d") */
	FERRY_CLAIM_SCHEME = 3    /* its own scheme ("sqlite:x.db", "postgresql://h/d") */
};

/* The sub-tables: core, read and write are mandatory; migrate, types, state and capture
 * are optional groups, each all of its callbacks or NULL (checked at registration, which
 * names a missing callback). Inside a group a callback marked optional may be NULL. */

/* Connections, transactions and plain statements. */
typedef struct ferry_engine_core {
	int (*connect)(ferry_conn **out, const char *url, int flags, ferry_err *err);
	void (*close)(ferry_conn *c);
	int (*introspect)(ferry_conn *c, ferry_schema *out, ferry_err *err);
	/* Append the quoted identifier to buf (size cap); returns bytes needed, like snprintf. */
	size_t (*quote_ident)(char *buf, size_t cap, const char *ident);
	int (*exec)(ferry_conn *c, const char *sql, ferry_err *err);
	int (*begin)(ferry_conn *c, ferry_err *err);
	int (*commit)(ferry_conn *c, ferry_err *err);
	int (*rollback)(ferry_conn *c, ferry_err *err);

	/* Optional (needed when the engine has no state sub-table: ferry keeps a run's record
	 * through it). Run one statement with values bound to its parameters, written $1, $2,
	 * ... in the SQL (PostgreSQL's form; SQLite binds them by name). No result rows are
	 * returned; *changed (may be NULL) receives the rows the statement changed. */
	int (*exec_params)(ferry_conn *c, const char *sql, size_t nparams, const ferry_value *params,
	                   int64_t *changed, ferry_err *err);
} ferry_engine_core;

/* A source: one snapshot for every reader, chunk planning, reading. */
typedef struct ferry_engine_read {
	/* Snapshot: the coordinator exports one (*token owned by the conn), readers join it,
	 * so every reader sees the same state of the source. *token NULL: no other connection
	 * can share the coordinator's state (an SQLite WAL file whose write lock another process
	 * holds); the pipeline then reads with one connection, which joins with token NULL. */
	int (*snapshot_export)(ferry_conn *c, const char **token, ferry_err *err);
	int (*snapshot_join)(ferry_conn *c, const char *token, ferry_err *err);

	/* Split a table into chunks of about chunk_rows rows by its key (nkeys = 0: row id):
	 * cb receives each chunk's bounds (encoded keys) and row count, in key order. The
	 * chunks cover every key whatever range says: the first is open below, the last open
	 * above. range (NULL: none) is the only keys the caller will read (a single key or the
	 * row id): an engine may then search the first chunk's end from range->lo and end the
	 * walk at the chunk that reaches range->hi, so planning reads the range, not the table
	 * (a chunk's row count is then that of its keys within the range); one that cannot
	 * ignores it (the caller drops the chunks wholly outside it). */
	int (*plan_chunks)(ferry_conn *c, const char *table, size_t nkeys,
	                   const char *const *keys, int64_t chunk_rows,
	                   const ferry_key_range *range, ferry_chunk_cb cb, void *ud,
	                   ferry_err *err);

	int (*reader_open)(ferry_reader **out, ferry_conn *c, const ferry_read_spec *spec,
	                   ferry_err *err);
	/* Fill b (reset by the caller) with up to its capacity; *eof set when no rows remain. */
	int (*reader_next)(ferry_reader *r, ferry_batch *b, int *eof, ferry_err *err);
	void (*reader_close)(ferry_reader *r);
} ferry_engine_read;

/* A target: writing, DDL, and the end of a load. */
typedef struct ferry_engine_write {
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

	/* Optional. Rows of table violating its foreign keys after a load. */
	int (*fk_check)(ferry_conn *c, const char *table, int64_t *violations, ferry_err *err);
	/* Optional. Called after a load finished (restore settings, analyze). */
	int (*finish)(ferry_conn *c, ferry_err *err);
	/* Optional. Close c and, when connect created the database and nothing was committed to
	 * it, remove it: a run refused before it changed anything leaves no file behind. */
	void (*discard)(ferry_conn *c);
	/* Optional, both or neither (later:, docs/LATER.md): record in c the key of every row
	 * deleted from the tables by a session not ferry's own (fence_exempt), until
	 * later_untrack removes the tables' record and what keeps it (all of it once no table
	 * is recorded); a writer whose spec sets guard_deleted never writes a recorded key,
	 * even one deleted while it writes. later_untrack reads only the tables' names. */
	int (*later_track)(ferry_conn *c, const ferry_capture_table *tables, size_t ntables,
	                   ferry_err *err);
	int (*later_untrack)(ferry_conn *c, const ferry_capture_table *tables, size_t ntables,
	                     ferry_err *err);
} ferry_engine_write;

/* Versioned migrations (src/history). */
typedef struct ferry_engine_migrate {
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
} ferry_engine_migrate;

/* Types across engines. */
typedef struct ferry_engine_types {
	/* Does every non-NULL value of column `column` of `table` read as canonical type `type`
	 * (a DATETIME column whose texts all parse as timestamps)? *all = 1 when so. Used when a
	 * table is created in another engine, to pick the target type. */
	int (*probe_type)(ferry_conn *c, const char *table, const char *column, ferry_type type,
	                  int *all, ferry_err *err);
} ferry_engine_types;

typedef struct ferry_engine {
	unsigned version;              /* FERRY_ENGINE_VERSION */
	const char *name;              /* "sqlite" */
	const char *const *schemes;    /* NULL-terminated URL schemes: "sqlite", ... */
	int max_writers;               /* concurrent writer connections worth having; 1 for SQLite */
	unsigned flags;                /* FERRY_ENGINE_* capabilities above */

	/* The URL registry: which engine takes an address, and in what form. */
	/* Optional. How surely this engine takes url (a URL, a conninfo string or a bare path):
	 * FERRY_CLAIM_*. Of the registered engines the highest claim wins, the first registered
	 * on a tie; none: the address is refused. NULL: FERRY_CLAIM_SCHEME when url's scheme
	 * (ferry_url_scheme) is one of schemes, else FERRY_CLAIM_NONE. */
	int (*claim)(const char *url);
	/* Optional. url (which this engine claimed) in the form connect takes, a relative path
	 * in it taken relative to base_dir (NULL or ".": as given), for a plan's addresses are
	 * relative to the plan; *out is the caller's to free. FERRY_EUSAGE when url names no
	 * database ("sqlite:"). NULL: url as given. */
	int (*url_resolve)(char **out, const char *url, const char *base_dir, ferry_err *err);
	/* Optional. The local file or directory url names (caller frees with ferry_free), where
	 * ferry puts files that belong beside it (a copy's rejects file); NULL when it names
	 * none (a server, an in-memory database) or when out of memory. */
	char *(*url_path)(const char *url);

	const ferry_engine_core *core;       /* mandatory */
	const ferry_engine_read *read;       /* mandatory */
	const ferry_engine_write *write;     /* mandatory */
	const ferry_engine_migrate *migrate; /* optional: versioned migrations */
	const ferry_engine_types *types;     /* optional: probing types across engines */
	/* Optional: the run's record kept by the engine itself (see ferry_engine_state);
	 * NULL: ferry keeps it in its tables through core->exec_params and the reader. */
	const ferry_engine_state *state;
	/* Optional: change capture for ferry sync. */
	const ferry_engine_capture *capture;
	/* Optional: a pooler switch this engine's servers sit behind (NULL when none). */
	const ferry_engine_switch *pool_switch;
	/* Optional. The database url (which this engine claimed) names, in one canonical form:
	 * every spelling of the same database (a relative or absolute path, a symlink; a URL or
	 * a conninfo string, the port in the host part or in a parameter) gives the same text,
	 * which holds no password. A run's identity is keyed on it; nothing connects with it.
	 * *out is the caller's to free. NULL: url as url_resolve gives it. (Last in the table,
	 * so engines built against the earlier layout keep theirs.) */
	int (*url_identity)(char **out, const char *url, ferry_err *err);
	/* The longest identifier (table, column, index, constraint name) the engine keeps, in
	 * bytes; 0: no limit. ferry shortens longer names it creates (a prefix and a hash). */
	size_t max_ident;
} ferry_engine;

/* Register an engine on ctx; refused (FERRY_EUSAGE) when a mandatory callback is missing
 * or the version is unknown. The engine table must outlive ctx. */
int ferry_engine_register(ferry_ctx *ctx, const ferry_engine *engine);

/* ---- helpers for engines ------------------------------------------------------------ */
/* What the built-in engines use, so an engine built outside ferry's tree needs nothing but
 * this header (tests/ext/demo_engine.c is one). */

/* Memory. NULL always means out of memory; release with ferry_free. Allocating through
 * these puts an engine under ferry's allocation-failure tests too. */
void *ferry_malloc(size_t n);
void *ferry_calloc(size_t n, size_t size);
void *ferry_realloc(void *p, size_t n);
void ferry_free(void *p);
char *ferry_strdup(const char *s);             /* NULL in, NULL out */
char *ferry_strndup(const char *s, size_t n);  /* s need not be NUL-terminated */
char *ferry_sprintf(const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 1, 2)))
#endif
	;
/* Grow *arr (of elem-sized items, zero-filled) so that index need-1 fits; 0 or
 * FERRY_ENOMEM (*arr unchanged then). */
int ferry_grow(void *arr, size_t *cap, size_t need, size_t elem);

/* Arenas: a bump allocator released all at once. A batch's arena is reset with the batch,
 * so a reader puts the bytes of the values it hands out there. */
typedef struct ferry_arena ferry_arena;
ferry_arena *ferry_arena_new(size_t block_size);
void *ferry_arena_alloc(ferry_arena *a, size_t n);
char *ferry_arena_strdup(ferry_arena *a, const char *s);
char *ferry_arena_strndup(ferry_arena *a, const char *s, size_t n);
void ferry_arena_reset(ferry_arena *a);
void ferry_arena_free(ferry_arena *a);
ferry_arena *ferry_batch_arena(ferry_batch *b);

/* A growable byte buffer with a hard cap; an append that fails frees it and sets failed,
 * so a caller may append many times and check once. */
typedef struct ferry_buf {
	char *data;   /* always NUL-terminated when non-NULL */
	size_t len;
	size_t cap;
	size_t max;   /* hard cap; 0 means 1 GiB */
	int failed;   /* set once an append failed; the buffer was freed */
} ferry_buf;
#define FERRY_BUF_INIT {NULL, 0, 0, 0, 0}
int ferry_buf_add(ferry_buf *b, const void *data, size_t len);
int ferry_buf_puts(ferry_buf *b, const char *s);
int ferry_buf_printf(ferry_buf *b, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 2, 3)))
#endif
	;
/* Append s as a JSON string literal (quotes and escapes). */
int ferry_buf_json_str(ferry_buf *b, const char *s, size_t len);
/* Append ident as SQL's standard quoted identifier ("name", inner quotes doubled). */
int ferry_buf_ident(ferry_buf *b, const char *ident);
void ferry_buf_reset(ferry_buf *b);
void ferry_buf_free(ferry_buf *b);
/* Take ownership of the data (release with ferry_free); the buffer is left empty. */
char *ferry_buf_detach(ferry_buf *b);
/* SQL's standard quoted identifier into buf (cap bytes, NUL-terminated); returns the bytes
 * needed, like snprintf: a quote_ident for any engine that quotes the standard way. */
size_t ferry_quote_ident_std(char *buf, size_t cap, const char *ident);

/* Values. The shortest text that reads back as the finite double x (100, 0.1, 5e-324). */
void ferry_dbl_shortest(double x, char *out, size_t cap);
/* A value as one-line text for messages such as reject reasons (about 60 bytes at most). */
int ferry_value_text(ferry_buf *b, const ferry_value *v);

/* Types. The canonical type of an SQL declared type, by SQLite's affinity rules refined
 * with the common names (DATE, TIMESTAMP, BOOLEAN, UUID, JSON, NUMERIC(p,s), ...). */
ferry_type ferry_type_from_decl(const char *decl);
/* The declared types ferry gives a FERRY_ENGINE_NUMERIC_AFFINITY engine's columns created
 * from another engine's floats and decimals, so their values stay exact and the way back
 * finds the type again (docs/ENGINES.md): FLOAT8_BLOB, FLOAT4_BLOB, NUMERIC_TEXT(p,s). */
enum { FERRY_EXACT_NONE, FERRY_EXACT_FLOAT8, FERRY_EXACT_FLOAT4, FERRY_EXACT_NUMERIC };
/* Which of those decl is (FERRY_EXACT_*; case aside); *mod (may be NULL) receives the type
 * modifier of NUMERIC_TEXT ("(30,10)"), "" when none. */
int ferry_exact_kind(const char *decl, const char **mod);
/* The exact declared type for a column created from column c of another engine (a numeric
 * keeps its "(p,s)"), else c's own. The result is buf (cap bytes), a constant or c's. */
const char *ferry_exact_decl(const ferry_column *c, char *buf, size_t cap);

/* Schemas an engine keeps for itself (definitions it was given, say). */
ferry_schema *ferry_schema_new(void);
void ferry_schema_free(ferry_schema *s);
/* Deep-copy one table definition into s (under a new name when name is not NULL). */
ferry_table *ferry_schema_copy_table(ferry_schema *s, const ferry_table *t, const char *name);

/* SQL merges. The words of an SQL dialect ferry_upsert_clause needs. */
typedef struct ferry_upsert_dialect {
	const char *existing;  /* how the row already there is named, quoted ("\"t\"", ferry_t) */
	const char *least;     /* "min" (SQLite), "least" (PostgreSQL) */
	const char *greatest;
	const char *same;      /* " IS " or " IS NOT DISTINCT FROM " */
} ferry_upsert_dialect;
/* Append a merge's " ON CONFLICT (keys) DO UPDATE SET ... [WHERE ...]" (or " DO NOTHING")
 * for spec: min/max/sum ignore NULLs, first keeps, last takes, error and unruled columns
 * must be equal. *conflict_msg (caller frees) is the reject reason for a conflicting row
 * when some column has the error rule (the statement then changes no row), else NULL. */
int ferry_upsert_clause(ferry_buf *b, const ferry_write_spec *spec, const ferry_upsert_dialect *d,
                        char **conflict_msg, ferry_err *err);

/* Time: the wall clock as "2026-11-21T20:19:21Z", the form of every time ferry records. */
void ferry_utc_iso(char out[32]);

/* URLs. The length of url's scheme: the letters, digits, '+', '-' and '.' before its first
 * ':', starting with a letter (RFC 3986); 0 when it has none ("x.db", "host=h", ":memory:").
 * A claim callback's first question. */
size_t ferry_url_scheme(const char *url);

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
