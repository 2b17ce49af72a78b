/* ferry_int.h — the one internal header: utilities, the plan model, the context and the
 * pieces the pipeline shares with the CLI-facing API. Engines include ferry/engine.h, which
 * is all an engine built outside the tree has; the built-in ones may use this header's
 * utility section too. */
#ifndef FERRY_INT_H
#define FERRY_INT_H

#include <stdarg.h>
#include <stdatomic.h>
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
/* Test hook (util/alloc.c): the nth wrapper allocation from now (1-based) returns NULL, and
 * with persistent every later one too; n = 0 only counts, n < 0 turns the hook off (the
 * start state). Resets both counters below. */
void ferry__alloc_fail_at(long n, int persistent);
/* Test hook: fn (or NULL) is called on the thread of each allocation the hook fails, before
 * the NULL is returned (a test takes its backtrace there). */
void ferry__alloc_on_fail(void (*fn)(void));
/* Wrapper allocations since the last ferry__alloc_fail_at, and how many of them failed. */
long ferry__alloc_count(void);
long ferry__alloc_failures(void);

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

/* ---- util/datetime.c: the proleptic Gregorian calendar (year 0 is 1 BC) ------------ */
int ferry__is_leap(int64_t y);
/* Days of month m (1-12) of year y; 0 for a month that does not exist. */
int ferry__days_in_month(int64_t y, int m);
/* Days since 1970-01-01 of y-m-d (m 1-12), and back; exact for every int64_t year. A day
 * past its month's end counts on into the next (2023-02-30 is 2023-03-02). */
int64_t ferry__days_from_civil(int64_t y, int64_t m, int64_t d);
void ferry__civil_from_days(int64_t days, int64_t *y, int64_t *m, int64_t *d);
/* Date and time text as written, read once for every reader; each reader then applies its own
 * rules to what was read (the PostgreSQL engine PostgreSQL's, verify any engine's):
 *   date: digits-digits-digits[( |T|t)time][zone][ BC]      time: time[zone]
 *   time: digits:digits[:digits[.digits]]   zone: [ ](Z|z|UTC|(+|-)digits[:digits[:digits]])
 * BC and UTC in any case. Each field keeps its value and how many digits were written. */
typedef struct ferry_when {
	int64_t year, month, day, hour, minute, second;
	int nyear, nmonth, nday, nhour, nminute, nsecond; /* digits written; 0: absent */
	const char *frac;          /* the fraction's digits as written (nfrac), NULL: no point */
	size_t nfrac;
	int has_time;
	const char *time_end;      /* where the time of day ends */
	int zone;                  /* 0 none; 'Z' Z or z; 'U' UTC; '+' an offset */
	int zone_blank;            /* a blank stands before the zone */
	int zone_neg;
	int64_t zone_f[3];         /* the offset's runs of digits, separated by colons */
	int zone_n[3];             /* digits of each run; 0: absent */
	int zone_colons;
	int zone_bad;              /* a sign or a colon of the offset without digits after it */
	int bc;                    /* 0; 1 " BC" or " bc"; 2 the same in mixed case */
	const char *end;           /* where reading stopped: the text ends there, or not */
} ferry_when;
enum { FERRY_WHEN_DATE = 0, FERRY_WHEN_TIME = 1 };
/* Read s[0..n) as a date (and time) or, with FERRY_WHEN_TIME, a time of day: 0, or -1 when a
 * '-', ':' or '.' of the date or time has no digits after it. */
int ferry__when_scan(const char *s, size_t n, int what, ferry_when *w);

/* ---- util/decimal.c: decimal numbers as text --------------------------------------- */
/* A decimal as written: [+-] digits [. digits] [(e|E) [+-] digits], or a special. The digit
 * pointers point into the parsed text. */
typedef struct ferry_dec {
	int neg;
	int special;            /* 0, 'N' NaN, 'I' +Infinity, 'J' -Infinity */
	const char *ip, *fp;    /* integer and fraction digits (as written) */
	size_t il, fl;
	long exp;               /* the exponent (saturated past 10^8) */
} ferry_dec;
/* Read all of s[0..n) (no blanks) into d: 0, or -1 when it is not such a number. NaN,
 * [+-]Infinity and [+-]inf in any case are the specials. */
int ferry__dec_parse(const char *s, size_t n, ferry_dec *d);
/* The digit of d of weight 10^e (0 outside the digits written). */
int ferry__dec_at(const ferry_dec *d, long e);
/* The highest and lowest exponents holding a non-zero digit: 1, or 0 when d is zero. */
int ferry__dec_range(const ferry_dec *d, long *hi, long *lo);
/* Normalize decimal text (blanks around it allowed) into out: no sign for zero, no leading or
 * trailing zeros, no exponent; "NaN", "Infinity", "-Infinity" for the specials. 0,
 * FERRY_ENOMEM, or -1 when s is not a number or is past 4096 digits (or exponent 10^5). */
int ferry__dec_normalize(ferry_buf *out, const char *s, size_t n);
/* Read [+-]digits at the start of s[0..n) as an int64_t: 0 with *used the bytes read, -1 when
 * there is no digit, -2 when out of range. *out and *used are set on success only. */
int ferry__int_parse(const char *s, size_t n, int64_t *out, size_t *used);

/* ---- util/utf8.c: UTF-8 (RFC 3629) ---------------------------------------------------- */
/* 1 when s[0..n) is valid UTF-8 without NUL: no overlong forms, no surrogates, nothing past
 * U+10FFFF, no sequence cut short. */
int ferry__utf8_valid(const uint8_t *s, size_t n);
/* The length of the valid UTF-8 character at s[0..n) (NUL is not one), or 0. */
size_t ferry__utf8_seq(const uint8_t *s, size_t n);
/* Append s[0..n) to b as valid one-line UTF-8 that says every byte: bytes that are not part
 * of a valid character, control characters (NUL, newline, ...) and DEL as \xHH, a backslash
 * as two. What ferry writes into messages, reject reasons and one-line output. */
int ferry__utf8_escape(ferry_buf *b, const char *s, size_t n);
/* Append name s escaped (ferry__utf8_escape) as a cell of a text table: at most width
 * characters, cut between characters, padded with spaces to width when pad. */
int ferry__utf8_cell(ferry_buf *b, const char *s, size_t width, int pad);
/* The characters of (valid) UTF-8: the bytes that do not continue a character. */
size_t ferry__utf8_chars(const uint8_t *s, size_t n);
/* At most max bytes of s (len bytes), cut before a continuation byte so no character is split. */
size_t ferry__utf8_cut(const uint8_t *s, size_t len, size_t max);

/* ---- util/ident.c: identifiers longer than an engine keeps ------------------------ */
/* name as an engine that keeps at most max bytes of an identifier must hold it: name itself
 * when it fits (or max is 0), else its first bytes (cut between characters), '_' and 8 hex
 * digits of xxh3 of the whole name, max bytes in all. The same name gives the same result in
 * every run and on every machine, and two names that share their first bytes differ. Writes
 * a NUL-terminated string into out (cap bytes, at least max + 1 when shortening); returns 1
 * when shortened, 0 when name was copied, -1 when out is too small. */
int ferry__ident_short(char *out, size_t cap, const char *name, size_t max);

/* ---- util/hex.c: hexadecimal and UUIDs ---------------------------------------------- */
/* The value of hex digit c of either case, or -1. */
int ferry__hex_digit(int c);
/* n bytes from the 2n lower-case hex digits ferry writes: 0, or -1 (upper case included). */
int ferry__hex_decode(uint8_t *out, const char *hex, size_t n);
/* 2n lower-case hex digits of data and a NUL into out (2n + 1 bytes). */
void ferry__hex_encode(char *out, const void *data, size_t n);
/* Append 2n lower-case hex digits of data: 0 or FERRY_ENOMEM. */
int ferry_buf_hex(ferry_buf *b, const void *data, size_t n);
/* Append the standard base64 (RFC 4648, padded) of n bytes: 0 or FERRY_ENOMEM. */
int ferry_buf_base64(ferry_buf *b, const void *data, size_t n);
/* A UUID as 8-4-4-4-12 or 32 hex digits (either case), either in braces: 0, or -1. */
int ferry__uuid_parse(const char *s, size_t n, uint8_t out[16]);
/* The 36-character lower-case 8-4-4-4-12 form and a NUL; returns 36. */
int ferry__uuid_format(char out[37], const uint8_t u[16]);

/* ---- varints: LEB128 of the value encoding (inline: the row decoders are hot) --------- */
/* 7 bits a byte, least significant first, the high bit saying another byte follows. */
static inline size_t ferry__varint_len(uint64_t v)
{
	size_t n = 1;
	while (v >>= 7)
		n++;
	return n;
}
/* Write v in the fewest bytes (at most 10); returns how many. */
static inline size_t ferry__varint_put(uint8_t out[10], uint64_t v)
{
	size_t n = 0;
	do {
		uint8_t byte = v & 0x7f;
		v >>= 7;
		out[n++] = byte | (v ? 0x80 : 0);
	} while (v);
	return n;
}
/* Read the varint at d[*pos] (len bytes in all), moving *pos past it: 0, or -1 when it is cut
 * short, passes 2^64 or is not in the fewest bytes (one value, one encoding). */
static inline int ferry__varint_get(const uint8_t *d, size_t len, size_t *pos, uint64_t *out)
{
	uint64_t v = 0;
	for (int i = 0; i < 10; i++) {
		if (*pos >= len)
			return -1;
		uint8_t b = d[(*pos)++];
		if (i == 9 && b > 1)
			return -1; /* past 2^64 */
		v |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			if (b == 0 && i > 0)
				return -1; /* not in the fewest bytes */
			*out = v;
			return 0;
		}
	}
	return -1;
}
/* Signed integers as varints: zigzag, so small negative numbers stay short. */
static inline uint64_t ferry__zigzag(int64_t i)
{
	return ((uint64_t)i << 1) ^ (uint64_t)(i >> 63);
}
static inline int64_t ferry__unzigzag(uint64_t u)
{
	return (int64_t)((u >> 1) ^ (~(u & 1) + 1));
}

/* Fixed-width fields of ferry's own formats (the value encoding, label chunk files, canonical
 * cells): n bytes of v, least significant first, whatever the machine; and back. */
static inline void ferry__put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint64_t ferry__get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* ---- util/fs.c --------------------------------------------------------------------- */
/* Read a whole file (capped at max bytes); *out NUL-terminated, caller frees. */
int ferry__read_file(char **out, size_t *len, const char *path, size_t max, ferry_err *err);
/* The directory part of path ("." when none); caller frees. */
char *ferry__dirname(const char *path);
/* base joined with rel unless rel is absolute; caller frees. */
char *ferry__path_join(const char *base, const char *rel);
/* path made absolute with every symlink and "." or ".." resolved (realpath), for a path that
 * does not exist yet its nearest existing parent's; caller frees; NULL when out of memory. */
char *ferry__path_canonical(const char *path);
/* Sorted list of regular files ending in suffix in dir; caller frees each and the array. */
int ferry__list_dir(char ***out, size_t *n, const char *dir, const char *suffix, ferry_err *err);

/* ---- value.c ----------------------------------------------------------------------- */
/* 1 when two values are the same by canonical encoding. */
int ferry__value_equal(const ferry_value *a, const ferry_value *b);
/* Render a value as JSON (for reject keys and reports). */
int ferry__value_json(ferry_buf *b, const ferry_value *v);
/* n values as a JSON array ("[1,\"a\",null]"), the form a key takes in ferry's records. */
int ferry__values_json(ferry_buf *b, const ferry_value *v, size_t n);
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

/* ---- coltypes.c: the types ferry declares in a table it creates ------------------------ */
/* What the values of one column hold, read once from the snapshot (ferry__colprof_add each). */
typedef struct ferry_colprof {
	int64_t n_null, n_int, n_real, n_text, n_blob;
	int64_t n_bad;         /* texts that are not valid UTF-8 (or hold a NUL) */
	int64_t n_01;          /* integers that are 0 or 1 */
	int64_t int_min, int_max;
	int64_t max_chars;     /* the longest valid text, in characters */
	int64_t n_date, n_ts, n_tstz, n_time, n_uuid; /* texts in PostgreSQL's output form of
	                          a date, a timestamp, a timestamptz (+00), a time, a uuid */
	int64_t n_nonfinite;   /* reals that are NaN or infinite */
	int64_t n_dec;         /* of n_real, exact decimals (FERRY_NUMERIC values) */
	unsigned kinds;        /* the ferry_types seen, a bit each */
	int want_digits;       /* set before adding: measure max_hi and min_lo of the reals too
	                          (costly; a numeric(p,s) declaration needs them) */
	int decl_ok;           /* every text reads as the declared date or time type (the
	                          source's probe_type): 1, 0, or -1 when not asked */
	long max_hi, min_lo;   /* the highest and lowest powers of ten of a nonzero digit of the
	                          decimals and (want_digits) reals, in their shortest exact text */
} ferry_colprof;
void ferry__colprof_init(ferry_colprof *p);
void ferry__colprof_add(ferry_colprof *p, const ferry_value *v);
/* A plan's type: (or ferry's own choice) in the one spelling both engines read
 * ("numeric(10,2)", "varchar(20)", "double precision", "bytea"): 0 with out (cap bytes) and
 * *type set, or -1 when s names no type ferry knows. */
int ferry__coltype_parse(const char *s, char *out, size_t cap, ferry_type *type);
/* The type a table created in another engine declares for canonical type t ("bigint"). */
const char *ferry__coltype_default(ferry_type t);
/* The narrowest type holding every value profiled in p exactly, nearest column c's
 * declaration, written to out; its canonical type is returned. *why says (for a note) how
 * it departs from the declaration, NULL when it does not. */
ferry_type ferry__coltype_choose(const ferry_column *c, const ferry_colprof *p, char *out,
                                 size_t cap, const char **why);

/* ---- the plan model (plan/plan.c, plan/plan_yaml.c) -------------------------------- */
typedef struct ferry_plan_column {
	char *name;        /* target column name (for drop: the source column name) */
	char *from;        /* source column name */
	char *expr;        /* SQL expression of the source's dialect */
	char *def;         /* default value (YAML scalar text); NULL when absent */
	int def_null;      /* default: null */
	int drop;          /* the source column is deliberately not carried */
	ferry_conflict conflict; /* merge rule, FERRY_CONFLICT_NONE when absent */
	char *type;        /* type: the column's type in a table ferry creates, in
	                      ferry__coltype_parse's spelling; NULL when absent */
	int line, col;
} ferry_plan_column;

/* ferry sync --both-ways: how a row written on both sides within the lag is settled. */
typedef enum ferry_both_rule {
	FERRY_BOTH_NONE = 0,
	FERRY_BOTH_OLD_WINS,
	FERRY_BOTH_NEW_WINS,
	FERRY_BOTH_LAST_COMMIT   /* the later commit wins; a tie goes to the old version */
} ferry_both_rule;

typedef struct ferry_plan_table {
	char *source;      /* source name; NULL: the only source */
	char *table;       /* source table name */
	char *rename;      /* target table name; NULL: same as table */
	char *where;       /* row filter, SQL of the source's dialect */
	int where_line, where_col; /* where it is written (0: not in a file) */
	int skip;          /* not retained: neither copied nor created */
	char *later;       /* later: the rows that wait for ferry backfill (docs/LATER.md), an
	                      SQL condition of the source's dialect, or NULL */
	int later_all;     /* later: true, the whole table waits */
	int both;          /* both_ways: {conflict: ...}, a ferry_both_rule; 0 when absent */
	int owner;         /* owner: old (1) or new (2): that side wins every conflict; 0 absent */
	int both_line, both_col; /* where either is written */
	size_t ncols;
	ferry_plan_column *cols;
	size_t nrev;       /* reverse: the way back's rules after a cut-over (docs/ONLINE.md): */
	ferry_plan_column *rev; /* a source column name to its rule over the target table */
	char *stage;       /* the stage this entry belongs to */
	char *origin;      /* an import's: the table its rows were read from ("catalog.items",
	                      from the label's manifest), named in summaries; else NULL */
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
	/* Settings: their keys, bounds and defaults are the table ferry__plan_settings. */
	int threads;               /* 0 = one per CPU */
	int64_t chunk_rows;
	int64_t max_rejects;
	int strict;
	int copy_others;           /* tables not named are copied as they are */
	int both;                  /* both_ways: {conflict: ...} at the top: the rule of every
	                              entry (and table copied by others) without its own */
	size_t nstages;
	ferry_plan_stage *stages;  /* at least one (ferry__plan_default_stage) */
	size_t ntables;
	ferry_plan_table *tables;
	size_t nverify;
	ferry_plan_verify_rule *verify; /* in the order written */
	char run_digest[33];       /* the run's identity: xxh3-128 of what the plan means (its
	                              databases by canonical identity, its rules, the target
	                              schema's text), not of its bytes (ferry__plan_digest) */
	char legacy_digest[33];    /* the identity an earlier ferry gave the same plan (its bytes
	                              and resolved URLs): a run it left unfinished resumes */
	int later_mode;            /* which rows of `later:` entries jobs read (FERRY_LATER_*):
	                              set on a copy of the plan by backfill, fetch and verify */
};

/* Which rows the jobs of entries with `later:` read. */
enum {
	FERRY_LATER_NOW = 0,       /* copy, export, sync: all but the rows that wait */
	FERRY_LATER_ONLY = 1,      /* backfill, fetch: only the rows that wait (and only those
	                              entries), written where their key is absent */
	FERRY_LATER_ALL = 2        /* verify after the backfill finished: every row */
};

/* ---- plan/settings.c: the plan's settings and defaults, in one table ---------------- */
typedef enum ferry_setting_kind {
	FERRY_SETTING_INT,   /* an int field */
	FERRY_SETTING_INT64, /* an int64_t field */
	FERRY_SETTING_BOOL   /* an int field, 0 or 1 */
} ferry_setting_kind;

typedef struct ferry_plan_setting {
	const char *name;        /* the plan key */
	ferry_setting_kind kind;
	size_t off;              /* the field of ferry_plan */
	int64_t min, max;        /* the values a plan may give */
	int64_t def;             /* the value of a plan that gives none */
} ferry_plan_setting;

/* Every setting, ended by an entry whose name is NULL. */
extern const ferry_plan_setting ferry__plan_settings[];
/* The stage of a plan that names none. */
extern const char ferry__plan_default_stage[];

/* The sample verify takes of a table with up to max_rows rows that no rule covers. */
typedef struct ferry_coverage_default {
	int64_t max_rows;
	int per10k;              /* percent x 100 */
	const char *rows;        /* the row range, for people: "101-10,000" */
} ferry_coverage_default;
extern const ferry_coverage_default ferry__coverage_defaults[];
extern const size_t ferry__ncoverage_defaults;
/* The default coverage of a table of rows rows. */
const ferry_coverage_default *ferry__coverage_default(int64_t rows);

/* The setting named name, or NULL. */
const ferry_plan_setting *ferry__plan_setting(const char *name);
int64_t ferry__plan_setting_get(const ferry_plan *p, const ferry_plan_setting *s);
void ferry__plan_setting_put(ferry_plan *p, const ferry_plan_setting *s, int64_t v);
/* Every setting of p from the table's defaults, or copied from plan from when not NULL. */
void ferry__plan_settings_init(ferry_plan *p, const ferry_plan *from);
/* Fill the run identity of a parsed plan (run_digest: its meaning, its addresses by ctx's
 * engines' url_identity, ctx NULL: the built-in ones) and the earlier ferry's
 * (legacy_digest: from text, the YAML as read, or NULL for a plan without a file);
 * FERRY_ENOMEM when out of memory. */
int ferry__plan_digest(ferry_plan *p, const ferry_ctx *ctx, const char *text, size_t len);
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
	/* Set by ferry_interrupt (from a signal handler too), cleared only by
	 * ferry_interrupt_clear: an interrupt just before a call stops that call. */
	atomic_int interrupted;
};
int ferry__ctx_fail(ferry_ctx *ctx, const ferry_err *err);
/* The engine that claims url most surely (ferry_engine.claim) among ctx's, or among the
 * built-in engines when ctx is NULL; NULL when none does. */
const ferry_engine *ferry__engine_claim(const ferry_ctx *ctx, const char *url);
/* 1 when addresses a and b name the same database: the same text, or, for an engine whose
 * databases are files (url_path), the same file however it is spelled or linked; 0 when
 * not; FERRY_ENOMEM. */
int ferry__same_database(const ferry_ctx *ctx, const char *a, const char *b);
/* The '@' ending the user-info of a URL's authority (auth: just after "://"), read
 * generously so a password holding '/', '@' or '?' is all inside; NULL when none. */
const char *ferry__url_userinfo_end(const char *auth);
/* The spans [start, end) of url that may be passwords (a URL's user-info password, every
 * [ssl]password value however libpq accepts it spelled), at most max; returns how many. */
size_t ferry__url_secrets(const char *url, size_t (*spans)[2], size_t max);
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
/* The canonical form of the database url names (its engine's url_identity, else url as
 * given), the same for every spelling of one database, never holding a password; ctx NULL:
 * the built-in engines. *out is the caller's. */
int ferry__url_identity(char **out, const ferry_ctx *ctx, const char *url, ferry_err *err);
/* 1 once ferry_interrupt was called and not cleared since. */
int ferry__interrupted(ferry_ctx *ctx);

/* Built-in engines. */
extern const ferry_engine ferry__sqlite_engine;
extern const ferry_engine ferry__label_engine;
extern const ferry_engine ferry__postgres_engine;
/* The PostgreSQL engine's change capture (src/engines/postgres/pg_capture.c). */
extern const ferry_engine_capture ferry__pg_capture;

#endif
