/* ferry_int.h — the one internal header: utilities, the plan model, the context and the
 * pieces the pipeline shares with the CLI-facing API. Engines include ferry/engine.h and
 * this header's utility section only. */
#ifndef FERRY_INT_H
#define FERRY_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "ferry.h"
#include "ferry/engine.h"

#define FERRY_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- util/alloc.c: checked allocation ---------------------------------------------- */
void *ferry__malloc(size_t n);
void *ferry__calloc(size_t n, size_t size);
void *ferry__realloc(void *p, size_t n);
char *ferry__strdup(const char *s);
char *ferry__strndup(const char *s, size_t n);
char *ferry__sprintf(const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 1, 2)))
#endif
	;
/* Grow *arr (of elem-sized items) so that index `need-1` fits; returns 0 or FERRY_ENOMEM. */
int ferry__grow(void *arr, size_t *cap, size_t need, size_t elem);

/* ---- util/arena.c: per-batch memory ------------------------------------------------ */
/* Bump allocator reset after each batch. Built with FERRY_ARENA_MALLOC (debug/ASan builds)
 * every allocation is its own malloc so the sanitizer sees each one. */
typedef struct ferry_arena ferry_arena;
ferry_arena *ferry_arena_new(size_t block_size);
void *ferry_arena_alloc(ferry_arena *a, size_t n);
char *ferry_arena_strdup(ferry_arena *a, const char *s);
char *ferry_arena_strndup(ferry_arena *a, const char *s, size_t n);
void ferry_arena_reset(ferry_arena *a);
void ferry_arena_free(ferry_arena *a);

/* ---- util/buf.c: growable byte buffer with a hard cap ------------------------------- */
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
/* Append ident as SQL's standard quoted identifier ("name", inner quotes doubled), the form
 * SQLite and PostgreSQL share. */
int ferry_buf_ident(ferry_buf *b, const char *ident);
/* The same into buf (cap bytes, NUL-terminated); returns the bytes needed, like snprintf. */
size_t ferry__quote_ident_std(char *buf, size_t cap, const char *ident);
void ferry_buf_reset(ferry_buf *b);
void ferry_buf_free(ferry_buf *b);
/* Take ownership of the data (caller frees); the buffer is left empty. */
char *ferry_buf_detach(ferry_buf *b);

/* ---- util/error.c ------------------------------------------------------------------ */
/* The thread-local last error (ferry_error_last). */
void ferry__error_set_last(const char *msg);
int ferry__err_copy(ferry_err *dst, const ferry_err *src);

/* ---- util/hash.c: xxh3 ------------------------------------------------------------- */
uint64_t ferry__hash64(const void *data, size_t len, uint64_t seed);
/* 32 hex digits of xxh3-128 of data. */
void ferry__hash128_hex(char out[33], const void *data, size_t len);

/* ---- util/time.c ------------------------------------------------------------------- */
double ferry__now(void);              /* monotonic seconds */
void ferry__utc_iso(char out[32]);    /* wall clock "2026-11-21T20:19:21Z" */

/* ---- util/fs.c --------------------------------------------------------------------- */
/* Read a whole file (capped at max bytes); *out NUL-terminated, caller frees. */
int ferry__read_file(char **out, size_t *len, const char *path, size_t max, ferry_err *err);
/* The directory part of path ("." when none); caller frees. */
char *ferry__dirname(const char *path);
/* base joined with rel unless rel is absolute; caller frees. */
char *ferry__path_join(const char *base, const char *rel);
/* Sorted list of regular files ending in suffix in dir; caller frees each and the array. */
int ferry__list_dir(char ***out, size_t *n, const char *dir, const char *suffix, ferry_err *err);

/* ---- value.c ----------------------------------------------------------------------- */
/* 1 when two values are the same by canonical encoding. */
int ferry__value_equal(const ferry_value *a, const ferry_value *b);
/* Render a value as JSON (for reject keys and reports). */
int ferry__value_json(ferry_buf *b, const ferry_value *v);
/* The shortest text that reads back as the finite double x: the fewest digits, and no
 * exponent for 1 <= |x| < 10^17 (100, 0.1, 5e-324, 1e+20). */
void ferry__dbl_shortest(double x, char *out, size_t cap);
/* Render a value as one-line text for messages (truncated to about 60 bytes). */
int ferry__value_text(ferry_buf *b, const ferry_value *v);

/* ---- sqlgen.c: SQL engines share up to a few dialect words ---------------------------- */
typedef struct ferry_upsert_dialect {
	const char *existing;  /* how the row already there is named, quoted ("\"t\"", ferry_t) */
	const char *least;     /* "min" (SQLite), "least" (PostgreSQL) */
	const char *greatest;
	const char *same;      /* " IS " or " IS NOT DISTINCT FROM " */
} ferry_upsert_dialect;
/* Append a merge's " ON CONFLICT (keys) DO UPDATE SET ... [WHERE ...]" (or " DO NOTHING"):
 * min/max/sum ignore NULLs, first keeps, last takes, error and unruled columns must be equal.
 * *conflict_msg (caller frees) is the reject reason for a conflicting row when some column has
 * the error rule (the statement then changes no row), NULL otherwise. */
int ferry__upsert_clause(ferry_buf *b, const ferry_write_spec *spec, const ferry_upsert_dialect *d,
                         char **conflict_msg, ferry_err *err);

/* ---- batch.c ----------------------------------------------------------------------- */
ferry_batch *ferry__batch_new(size_t ncols, size_t cap_rows);
void ferry__batch_reset(ferry_batch *b);
void ferry__batch_free(ferry_batch *b);
/* Keep only the first nrows rows. */
void ferry__batch_truncate(ferry_batch *b, size_t nrows);
ferry_arena *ferry__batch_arena(ferry_batch *b);

/* ---- schema.c ---------------------------------------------------------------------- */
ferry_schema *ferry__schema_new(void);
void ferry__schema_free(ferry_schema *s);
/* Deep-copy one table definition into s (under a new name when name is not NULL). */
ferry_table *ferry__schema_copy_table(ferry_schema *s, const ferry_table *t, const char *name);
/* Foreign-key levels: level[i] = 0 for tables referencing no other table of s, else one
 * more than the highest level they reference; cycles are broken (the cycle shares a level).
 * level must hold ferry_schema_count(s) entries. */
void ferry__schema_fk_levels(const ferry_schema *s, int *level);
/* Canonical type from an SQL declared type, by SQLite's affinity rules refined with the
 * common names (DATE, TIMESTAMP, BOOLEAN, UUID, JSON, NUMERIC(p,s), ...). */
ferry_type ferry__type_from_decl(const char *decl);
/* The declared types ferry gives SQLite columns it creates for another engine's floats and
 * decimals, so that SQLite's affinity keeps their values exactly and the way back finds the
 * type again (docs/ENGINES.md): FLOAT8_BLOB and FLOAT4_BLOB have BLOB affinity (-0.0 keeps
 * its sign; NaN, which SQLite cannot bind, is stored as the text 'NaN'); NUMERIC_TEXT(p,s)
 * has TEXT affinity (the decimal's own text, never a rounded REAL). */
enum { FERRY_EXACT_NONE, FERRY_EXACT_FLOAT8, FERRY_EXACT_FLOAT4, FERRY_EXACT_NUMERIC };
/* Which of those decl is (FERRY_EXACT_*; case aside); *mod (may be NULL) receives the
 * type modifier of NUMERIC_TEXT ("(30,10)"), "" when none. */
int ferry__exact_kind(const char *decl, const char **mod);
/* The declared type for an SQLite column created from column c of another engine: one of
 * the exact types for a float or numeric column (a numeric keeps its "(p,s)"), else c's
 * own. The result is buf (cap bytes), a constant, or c's string. */
const char *ferry__exact_decl(const ferry_column *c, char *buf, size_t cap);

/* ---- the plan model (plan/plan.c, plan/plan_yaml.c) -------------------------------- */
typedef struct ferry_plan_column {
	char *name;        /* target column name (for drop: the source column name) */
	char *from;        /* source column name */
	char *expr;        /* SQL expression of the source's dialect */
	char *def;         /* default value (YAML scalar text); NULL when absent */
	int def_null;      /* default: null */
	int drop;          /* the source column is deliberately not carried */
	ferry_conflict conflict; /* merge rule, FERRY_CONFLICT_NONE when absent */
	int line, col;
} ferry_plan_column;

typedef struct ferry_plan_table {
	char *source;      /* source name; NULL: the only source */
	char *table;       /* source table name */
	char *rename;      /* target table name; NULL: same as table */
	char *where;       /* row filter, SQL of the source's dialect */
	int skip;          /* not retained: neither copied nor created */
	size_t ncols;
	ferry_plan_column *cols;
	char *stage;       /* the stage this entry belongs to */
	int line, col;
} ferry_plan_table;

typedef struct ferry_plan_stage {
	char *name;
	size_t nafter;
	char **after;
	int line, col;
	int absent;        /* an import's: a stage of the user's plan its label does not hold yet
	                      (not run, not done: the run is not finished before it is imported) */
} ferry_plan_stage;

typedef struct ferry_plan_source {
	char *name;
	char *url;         /* resolved: relative sqlite paths made relative to the plan's dir */
	int line, col;
} ferry_plan_source;

/* A coverage rule of the plan's verify: section (DESIGN.md §7). */
typedef struct ferry_plan_verify_rule {
	char *table;       /* a rule for this target table; NULL: a rule by row count */
	int64_t min_rows;  /* rows of the target table, inclusive */
	int64_t max_rows;  /* -1: no upper bound */
	int per10k;        /* the sample: percent x 100 (0..10000) */
	int line, col;
} ferry_plan_verify_rule;

struct ferry_plan {
	char *path;                /* the plan file; NULL for ferry_plan_simple */
	char *dir;                 /* its directory */
	size_t nsources;
	ferry_plan_source *sources;
	char *target;              /* resolved target URL */
	char *label;               /* the label directory of export/import (resolved), or NULL */
	size_t nschema;
	char **schema_files;       /* target schema SQL files, in the order applied */
	int threads;               /* 0 = one per CPU; default 0 */
	int64_t chunk_rows;        /* default 50000 */
	int64_t max_rejects;       /* default 0 */
	int strict;
	int copy_others;           /* tables not named are copied as they are (default 1) */
	size_t nstages;
	ferry_plan_stage *stages;  /* at least one ("main") */
	size_t ntables;
	ferry_plan_table *tables;
	size_t nverify;
	ferry_plan_verify_rule *verify; /* in the order written */
	char run_digest[33];       /* xxh3-128 of the plan's bytes and resolved URLs */
};

/* Resolve a URL or bare path against base_dir (NULL: as given); caller frees. */
char *ferry__url_resolve(const char *url, const char *base_dir);
/* Fill the digest of a plan from its bytes (the YAML text, or NULL) and its URLs. */
void ferry__plan_digest(ferry_plan *p, const char *text, size_t len);
/* The plan loader proper; errors name path:line:column. */
int ferry__plan_parse(ferry_plan **out, const char *path, const char *text, size_t len,
                      ferry_err *err);
/* The same with check_files = 1 when the text came from a file whose target_schema must
 * exist (ferry_plan_load); ferry__plan_parse passes 0. */
int ferry__plan_parse_ex(ferry_plan **out, const char *path, const char *text, size_t len,
                         int check_files, ferry_err *err);
/* Checks after parsing that need no database (stage names, after cycles, duplicates). */
int ferry__plan_check(const ferry_plan *p, ferry_err *err);
const char *ferry__conflict_name(ferry_conflict c);

/* ---- the context ------------------------------------------------------------------- */
#define FERRY_MAX_ENGINES 8
struct ferry_ctx {
	const ferry_engine *engines[FERRY_MAX_ENGINES];
	size_t nengines;
	char errmsg[1024];
	volatile int interrupted;   /* sig_atomic_t-like; set by ferry_interrupt */
};
int ferry__ctx_fail(ferry_ctx *ctx, const ferry_err *err);
/* 1 when s is a libpq conninfo string ("host=h dbname=d"): it goes to PostgreSQL as is. */
int ferry__is_conninfo(const char *s);
/* The engine for a URL ("sqlite:x", "x.db", "postgresql://...", a conninfo string); NULL
 * with err set. */
const ferry_engine *ferry__engine_for(ferry_ctx *ctx, const char *url, ferry_err *err);

/* Built-in engines. */
extern const ferry_engine ferry__sqlite_engine;
extern const ferry_engine ferry__label_engine;
extern const ferry_engine ferry__postgres_engine;
/* The PostgreSQL engine's change capture (src/engines/postgres/pg_capture.c). */
extern const ferry_engine_capture ferry__pg_capture;

#endif
