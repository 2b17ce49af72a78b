/* ferry_int.h — the one internal header: utilities, the plan model, the context and the
 * pieces the pipeline shares with the CLI-facing API. Engines include ferry/engine.h, which
 * is all an engine built outside the tree has; the built-in ones may use this header's
 * utility section too. */
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

/* ---- helpers engines share: public in ferry/engine.h --------------------------------- */
/* The internal names stay for the code written before the helpers became part of the
 * engine API; both name the same function. */
#define ferry__malloc ferry_malloc
#define ferry__calloc ferry_calloc
#define ferry__realloc ferry_realloc
#define ferry__strdup ferry_strdup
#define ferry__strndup ferry_strndup
#define ferry__sprintf ferry_sprintf
#define ferry__grow ferry_grow
#define ferry__quote_ident_std ferry_quote_ident_std
#define ferry__batch_arena ferry_batch_arena
#define ferry__dbl_shortest ferry_dbl_shortest
#define ferry__value_text ferry_value_text
#define ferry__type_from_decl ferry_type_from_decl
#define ferry__exact_kind ferry_exact_kind
#define ferry__exact_decl ferry_exact_decl
#define ferry__schema_new ferry_schema_new
#define ferry__schema_free ferry_schema_free
#define ferry__schema_copy_table ferry_schema_copy_table
#define ferry__upsert_clause ferry_upsert_clause
#define ferry__utc_iso ferry_utc_iso
/* Arenas (engine.h, util/arena.c): built with FERRY_ARENA_MALLOC (debug/ASan builds) every
 * arena allocation is its own malloc so the sanitizer sees each one. */

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
/* ferry_dbl_shortest (engine.h) writes no exponent for 1 <= |x| < 10^17 (1e+20). */

/* ---- sqlgen.c: SQL engines share up to a few dialect words ---------------------------- */
/* ferry_upsert_dialect and ferry_upsert_clause are in ferry/engine.h. */

/* ---- batch.c ----------------------------------------------------------------------- */
ferry_batch *ferry__batch_new(size_t ncols, size_t cap_rows);
void ferry__batch_reset(ferry_batch *b);
void ferry__batch_free(ferry_batch *b);
/* Keep only the first nrows rows. */
void ferry__batch_truncate(ferry_batch *b, size_t nrows);

/* ---- schema.c ---------------------------------------------------------------------- */
/* Foreign-key levels: level[i] = 0 for tables referencing no other table of s, else one
 * more than the highest level they reference; cycles are broken (the cycle shares a level).
 * level must hold ferry_schema_count(s) entries. */
void ferry__schema_fk_levels(const ferry_schema *s, int *level);
/* The exact types (ferry_exact_kind, engine.h): FLOAT8_BLOB and FLOAT4_BLOB have BLOB
 * affinity (-0.0 keeps its sign; NaN, which SQLite cannot bind, is stored as the text
 * 'NaN'); NUMERIC_TEXT(p,s) has TEXT affinity (the decimal's own text, never a rounded
 * REAL). */

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
	char *url;         /* resolved by its engine: relative paths made relative to the plan's dir */
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

/* Fill the digest of a plan from its bytes (the YAML text, or NULL) and its URLs. */
void ferry__plan_digest(ferry_plan *p, const char *text, size_t len);
/* The plan loader proper; errors name path:line:column. */
int ferry__plan_parse(ferry_plan **out, const char *path, const char *text, size_t len,
                      ferry_err *err);
/* The same with check_files = 1 when the text came from a file whose target_schema must
 * exist (ferry_plan_load); ferry__plan_parse passes 0. Addresses are checked against, and
 * resolved by, ctx's engines (NULL: the built-in ones). */
int ferry__plan_parse_ex(ferry_plan **out, const ferry_ctx *ctx, const char *path, const char *text,
                         size_t len, int check_files, ferry_err *err);
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
/* The engine that claims url most surely (ferry_engine.claim) among ctx's, or among the
 * built-in engines when ctx is NULL; NULL when none does. */
const ferry_engine *ferry__engine_claim(const ferry_ctx *ctx, const char *url);
/* The same, with err set (the address masked) when no engine claims url. */
const ferry_engine *ferry__engine_for(const ferry_ctx *ctx, const char *url, ferry_err *err);
/* The registered engine of that name (a table's origin), or NULL. */
const ferry_engine *ferry__engine_named(const ferry_ctx *ctx, const char *name);
/* url in the form its engine e connects with, relative paths taken relative to base_dir
 * (NULL: as given); *out is the caller's. FERRY_EUSAGE when url names no database. */
int ferry__url_resolve_by(char **out, const ferry_engine *e, const char *url, const char *base_dir,
                          ferry_err *err);
/* The same for the engine that claims url (ctx NULL: the built-in ones); FERRY_EUSAGE, as
 * ferry__engine_for says, when none does. */
int ferry__url_resolve(char **out, const ferry_ctx *ctx, const char *url, const char *base_dir,
                       ferry_err *err);

/* Built-in engines. */
extern const ferry_engine ferry__sqlite_engine;
extern const ferry_engine ferry__label_engine;
extern const ferry_engine ferry__postgres_engine;

#endif
