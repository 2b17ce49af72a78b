/* pg_int.h — what the files of the PostgreSQL engine share: the connection, SQL helpers and
 * the value codecs. Nothing outside src/engines/postgres includes this header. */
#ifndef FERRY_PG_INT_H
#define FERRY_PG_INT_H

#include "pq_lazy.h"          /* libpq-fe.h, with libpq loaded on first use */
#include "../../ferry_int.h"

/* Type OIDs ferry reads and writes natively (pg_type.dat). */
enum {
	PG_BOOL = 16, PG_BYTEA = 17, PG_CHAR = 18, PG_NAME = 19, PG_INT8 = 20, PG_INT2 = 21,
	PG_INT4 = 23, PG_TEXT = 25, PG_OID = 26, PG_JSON = 114, PG_FLOAT4 = 700, PG_FLOAT8 = 701,
	PG_BPCHAR = 1042, PG_VARCHAR = 1043, PG_DATE = 1082, PG_TIME = 1083,
	PG_TIMESTAMP = 1114, PG_TIMESTAMPTZ = 1184, PG_NUMERIC = 1700, PG_UUID = 2950,
	PG_JSONB = 3802
};

/* A foreign key ferry added after a load (NOT VALID), or one still waiting for the unique
 * index of its parent. */
typedef struct pg_fk {
	char *table;       /* the child, unqualified */
	char *name;        /* constraint name */
	char *sql;         /* ALTER TABLE ... ADD CONSTRAINT ... NOT VALID */
	int added;         /* 0: pending */
} pg_fk;

typedef struct pg_conn {
	PGconn *db;
	char *label;             /* database "db" on host:port — for messages, never a password */
	char *schema;            /* the schema ferry reads or writes (search_path's first) */
	int readonly;
	int created_schema;      /* connect created the schema */
	char *token;             /* exported snapshot */
	int sp_open;             /* the writer's savepoint exists in this transaction */
	int broken;              /* a COPY was abandoned: the session is unusable */
	int lock_held;
	unsigned long nstmt;     /* prepared statements named so far */
	char wrote[256];         /* the table this transaction wrote to, for messages */
	char **touched;          /* tables created, counted or checked: finish resets their
	                            sequences and analyzes them */
	size_t ntouched, touched_cap;
	pg_fk *fks;
	size_t nfks, fks_cap;
	char *desc_key;          /* the reader's last described select list ... */
	Oid *desc_oids;          /* ... and its column types */
	size_t desc_n;
} pg_conn;

#define PGC(c) ((pg_conn *)(void *)(c))
#define OOM(err) ferry_err_set((err), FERRY_ENOMEM, "out of memory")

/* ---- pg.c: helpers ------------------------------------------------------------------ */
size_t ferry_pg__quote_ident(char *buf, size_t cap, const char *ident);
/* Append "ident" (quotes doubled) to b. */
int ferry_pg__buf_ident(ferry_buf *b, const char *ident);
/* Append "schema"."table" of c to b. */
int ferry_pg__buf_table(ferry_buf *b, const pg_conn *c, const char *table);
/* Append s as a safe SQL string literal to b ('...' with quotes doubled, or E'...'). */
int ferry_pg__buf_literal(ferry_buf *b, const char *s, size_t len);
/* Fill err with "could not WHAT in LABEL: server message" from res (or the connection),
 * picking the ferry code from the SQLSTATE. Returns the code. */
int ferry_pg__fail(pg_conn *c, const PGresult *res, ferry_err *err, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 4, 5)))
#endif
	;
/* One line of the server's message for res (primary, then detail), into out. */
void ferry_pg__message(pg_conn *c, const PGresult *res, char *out, size_t cap);
/* Run sql that returns no rows; fills err ("could not WHAT ...") on failure. */
int ferry_pg__exec(pg_conn *c, const char *sql, ferry_err *err, const char *what);
/* Run a query with text parameters; *out is the result (PQclear it) when it returned rows
 * or completed. */
int ferry_pg__query(pg_conn *c, PGresult **out, const char *sql, int nparams,
                    const char *const *params, ferry_err *err, const char *what);
/* Remember a table of this connection for finish (sequence reset and ANALYZE). */
int ferry_pg__touch(pg_conn *c, const char *table);
/* 1 when the SQLSTATE of res says a row's data was refused (class 22, 23, P0, 44). */
int ferry_pg__row_error(const PGresult *res);

/* ---- pg_types.c: values -------------------------------------------------------------- */
/* How a target column is written. */
typedef enum pg_kind {
	K_BOOL, K_INT2, K_INT4, K_INT8, K_FLOAT4, K_FLOAT8, K_NUMERIC, K_TEXT, K_BYTEA,
	K_DATE, K_TIME, K_TIMESTAMP, K_TIMESTAMPTZ, K_UUID, K_JSON, K_JSONB,
	K_ENUM,           /* text label, binary as text */
	K_OTHER           /* no binary form ferry writes: the table is loaded in text format */
} pg_kind;

typedef struct pg_col {
	pg_kind kind;
	int32_t typmod;   /* numeric (p,s), varchar/bpchar length; -1 none */
	int bpchar;
	const char *name; /* for reasons */
} pg_col;

/* Decode one binary COPY field of type oid into out (strings copied into b's arena).
 * Returns 0, or -1 with reason filled when the bytes are malformed. */
int ferry_pg__decode(Oid oid, const uint8_t *p, size_t n, ferry_value *out, ferry_batch *b,
                     char *reason, size_t cap);
/* 1 when ferry decodes type oid from binary COPY output itself. */
int ferry_pg__decodes(Oid oid);
/* The canonical type of a column of (base) type oid, typtype and typcategory. */
ferry_type ferry_pg__canonical(Oid oid, char typtype);
/* The write kind of a column of base type oid / typtype. */
pg_kind ferry_pg__kind(Oid oid, char typtype);

/* Convert the server's text output s (n bytes) of a value of base type oid / typtype into
 * out, as ferry_pg__decode would have from the binary form (strings in a). Returns 0, -1
 * with reason filled when the text is malformed, or FERRY_ENOMEM. */
int ferry_pg__from_text(Oid oid, char typtype, const char *s, size_t n, ferry_value *out,
                        ferry_arena *a, char *reason, size_t cap);

/* Append v converted for column col to out: binary COPY field bytes (without the length)
 * when text is 0, else its text form. On a value that does not fit, returns 1 with reason
 * (one line) filled and out unchanged; 0 on success; FERRY_ENOMEM. */
int ferry_pg__encode(const pg_col *col, const ferry_value *v, int text, ferry_buf *out,
                     char *reason, size_t cap);

/* ---- pg.c, pg_schema.c, pg_rw.c, pg_sql.c ----------------------------- */
int ferry_pg__introspect(ferry_conn *c, ferry_schema *out, ferry_err *err);
int ferry_pg__create_table(ferry_conn *c, const ferry_table *def, ferry_err *err);
int ferry_pg__create_indexes(ferry_conn *c, const ferry_table *def, ferry_err *err);
int ferry_pg__fk_check(ferry_conn *c, const char *table, int64_t *violations, ferry_err *err);
/* Build the primary key create_table left for after the load (see pg_schema.c), if table
 * has one pending; table NULL: every pending key of the schema. */
int ferry_pg__ensure_key(pg_conn *c, const char *table, ferry_err *err);
/* Does a run write table from more than one job (a table fed by several sources)? */
int ferry_pg__shared_table(pg_conn *c, const char *table, int *out, ferry_err *err);
/* Before a writer loads table: build its pending primary key when a merge needs it or
 * several jobs write the table (duplicates must be refused row by row). */
int ferry_pg__key_for_writer(pg_conn *c, const char *table, int merge, ferry_err *err);
int ferry_pg__finish(ferry_conn *c, ferry_err *err);

int ferry_pg__plan_chunks(ferry_conn *c, const char *table, size_t nkeys,
                          const char *const *keys, int64_t chunk_rows,
                          const ferry_key_range *range, ferry_chunk_cb cb, void *ud,
                          ferry_err *err);
int ferry_pg__reader_open(ferry_reader **out, ferry_conn *c, const ferry_read_spec *spec,
                          ferry_err *err);
int ferry_pg__reader_next(ferry_reader *r, ferry_batch *b, int *eof, ferry_err *err);
void ferry_pg__reader_close(ferry_reader *r);
int ferry_pg__writer_open(ferry_writer **out, ferry_conn *c, const ferry_write_spec *spec,
                          ferry_err *err);
int ferry_pg__writer_write(ferry_writer *w, const ferry_batch *b, ferry_reject_cb reject,
                           void *ud, ferry_err *err);
void ferry_pg__writer_close(ferry_writer *w);
/* Append v as an SQL literal (for chunk bounds and plan defaults). */
int ferry_pg__buf_value_literal(ferry_buf *b, const ferry_value *v);

int ferry_pg__exec_params(ferry_conn *c, const char *sql, size_t nparams,
                          const ferry_value *params, int64_t *changed, ferry_err *err);
int ferry_pg__lock_try(ferry_conn *c, int *got, char *holder, size_t cap, ferry_err *err);
int ferry_pg__lock_release(ferry_conn *c, ferry_err *err);
int ferry_pg__split_sql(const char *sql, int (*cb)(void *ud, const char *stmt, size_t len,
                                                   int line),
                        void *ud, ferry_err *err);
int ferry_pg__needs_autocommit(const char *stmt, size_t len);

/* ---- pg_fence.c: the cut-over (the capture sub-table's freeze, fence, thaw, ...) ---- */
int ferry_pg__freeze(ferry_conn *c, const char *run_id, const ferry_capture_table *tables,
                     size_t ntables, int wait_ms, const char *text, uint64_t *pos, ferry_err *err);
int ferry_pg__fence(ferry_conn *c, const char *run_id, const ferry_capture_table *tables,
                    size_t ntables, const char *message, ferry_err *err);
int ferry_pg__thaw(ferry_conn *c, int commit, ferry_err *err);
int ferry_pg__unfence(ferry_conn *c, const char *run_id, ferry_err *err);
int ferry_pg__fence_exempt(ferry_conn *c, ferry_err *err);
/* later: record the application's deletes from the tables, and remove that record. */
int ferry_pg__later_track(ferry_conn *c, const ferry_capture_table *tables, size_t ntables,
                          ferry_err *err);
int ferry_pg__later_untrack(ferry_conn *c, const ferry_capture_table *tables, size_t ntables,
                            ferry_err *err);
/* pg_bouncer.c */
extern const ferry_engine_switch ferry__pg_bouncer;

#endif
