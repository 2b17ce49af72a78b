/* verify.h — ferry verify (DESIGN.md §7, docs/VERIFY.md), the one header of src/verify/: the
 * three calls the pipeline makes, then what the module's files share. Verify resolves its
 * jobs with the pipeline's own resolution (pipeline.h's jobs), reads through the engines'
 * tables (ferry/engine.h) and never includes the CLI. */
#ifndef FERRY_VERIFY_H
#define FERRY_VERIFY_H

#include <stdio.h>
#include "../pipeline/pipeline.h"

/* ==== for the pipeline (steps.c's ferry_verify, run.c's --verify) ======================== */

/* Compare the target with what plan says it should hold; *out is the report (caller frees
 * with ferry_verify_report_free), NULL on failure. */
int ferry__verify_run(ferry_verify_report **out, ferry_ctx *ctx, const ferry_plan *plan,
                      const ferry_verify_options *o, ferry_err *err);
/* The report as one JSON object (no newline), and a one-line verdict for ferry_history
 * (caller frees; NULL when out of memory). */
int ferry__verify_json(ferry_buf *b, const ferry_verify_report *r);
char *ferry__verify_verdict(const ferry_verify_report *r);

/* ==== canon.c, cells.c: canonical cells ==================================================== */
/* A value is encoded by the type of the column it lands in, so 1, 1.0 and '1' compare as the
 * plan's types say, not as an engine's affinity stores them. A row's encoding is its cells one
 * after another; its hash is xxh3-64 of those bytes. */

/* Cell tags: one byte, then a payload (fixed for INT, FLOAT, BOOL and UUID; a 4-byte
 * little-endian length and the bytes for the others). */
enum {
	CELL_NULL = 0,
	CELL_INT = 1,    /* 8 bytes, little-endian two's complement */
	CELL_FLOAT = 2,  /* 8 bytes of the IEEE double; every NaN the same bits; -0.0 kept */
	CELL_DEC = 3,    /* normalized decimal text: no leading or trailing zeros, no exponent */
	CELL_TEXT = 4,
	CELL_BYTES = 5,
	CELL_BOOL = 6,   /* 1 byte */
	CELL_DATE = 7,   /* YYYY-MM-DD[ BC] */
	CELL_TIME = 8,   /* HH:MM:SS[.f], trailing zeros of the fraction removed */
	CELL_TS = 9,     /* YYYY-MM-DD HH:MM:SS[.f][ BC] */
	CELL_TSTZ = 10,  /* the same in UTC, then "Z" */
	CELL_UUID = 11,  /* 16 bytes */
	CELL_JSON = 12,  /* compact, keys sorted */
	CELL_RAW = 13,   /* a value that does not read as the column's type: its type, its text */
	CELL_ANY = 14    /* expected side only: a value nothing in the plan decides (matches all) */
};

/* Append the canonical cell of v read as column type t. Returns 0 or FERRY_ENOMEM. */
int ferry__canon_cell(ferry_buf *out, ferry_type t, const ferry_value *v);
/* Flags of ferry__canon_cell_ex: how the target engine itself turns values into text. */
enum {
	CANON_SQLITE_TEXT = 1 /* SQLite: a float stored in a text column reads as "%!.15g" */
};
int ferry__canon_cell_ex(ferry_buf *out, ferry_type t, const ferry_value *v, unsigned flags);
int ferry__canon_any(ferry_buf *out);
/* Cell tag, 4-byte length and the bytes (canon.c; cells.c builds sums with it too). */
int ferry_verify__put_tag_len(ferry_buf *out, int tag, const void *data, size_t len);
int ferry_verify__put_int(ferry_buf *out, int64_t i);
int ferry_verify__put_float(ferry_buf *out, double d);

/* The size of the cell at p (at most n bytes), or 0 when it is damaged. */
size_t ferry__cell_size(const uint8_t *p, size_t n);
/* 1 when two cells are equal (CELL_ANY equals everything). */
int ferry__cell_equal(const uint8_t *a, size_t an, const uint8_t *b, size_t bn);
/* Order of two cells of one column (for min and max merges): <0, 0, >0. */
int ferry__cell_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn);
/* a + b into out for sum merges; 0, or 1 when the two cannot be added (left as a). */
int ferry__cell_sum(ferry_buf *out, const uint8_t *a, size_t an, const uint8_t *b, size_t bn);
/* Render a cell as a JSON value for reports (long text and bytes shortened). */
int ferry__cell_json(ferry_buf *out, const uint8_t *p, size_t n);
/* Split a row's encoding into its ncols cells: 0, or -1 when it is damaged. */
int ferry_verify__split_cells(const uint8_t *row, size_t len, size_t ncols, const uint8_t **cell,
                              size_t *clen);

/* ==== the tables being compared (table.c sets them up) ===================================== */

#define VERIFY_NBUCKETS 65536          /* set digests per table: 1 MiB per side */
#define VERIFY_BUCKET(h) ((size_t)((h) >> 48))

typedef struct vdiff {
	int kind;                  /* VDIFF_* */
	char *key;                 /* JSON object */
	char *cols;                /* JSON array of {column, expected, target} (different) */
	char *text;                /* "total: expected 12.5, target 12.6; ..." */
} vdiff;
enum { VDIFF_MISSING = 0, VDIFF_EXTRA = 1, VDIFF_DIFFERENT = 2, VDIFF_DUPLICATE = 3 };

typedef struct vtable {
	char *name;
	char *sources;
	size_t njobs;
	job **jobs;
	size_t ncols;
	char **cols;               /* compared columns, in the target table's order */
	ferry_type *types;
	int **jmap;                /* per job: batch column of each compared column, or -1 */
	char **qcols;              /* quoted for the target's select list */
	size_t nkey;
	size_t *key;               /* indexes into cols */
	int keyless, merge, wild;    /* wild: some expected cell is CELL_ANY */
	uint8_t *wildcol;          /* per compared column: some job lacks it and its default is
	                              computed; left out of row hashes and of a keyless key */
	uint8_t **defcell;         /* per compared column: the cell a job without it gives (the
	                              target's default), or CELL_ANY when the default is an expression */
	size_t *deflen;
	uint8_t *trim;             /* per compared column: a char(n) of PostgreSQL (blank-padded) */
	unsigned canon_flags;      /* CANON_*: how the target engine writes values as text */
	size_t nskipped;
	char **skipped;            /* target columns not compared (their default decides) */
	int per10k;
	char *coverage;
	int64_t target_rows;
	int waitmark;              /* the backfill has not finished: expected rows say whether they
	                              wait (later:); one that waits is expected only if it arrived */
	/* Key hashes (sorted) of the source rows the jobs' filters leave out, when every job of
	 * the table has one (a split load: another run loads them into the same table); target
	 * rows with such a key are not this plan's to judge. */
	uint64_t *outside;
	size_t noutside;
	int64_t outside_rows;      /* target rows left out for that */
	/* results */
	int64_t exp_total, act_total, compared, matched, missing, extra, different;
	int count_differs;
	int64_t now_total, wait_total; /* waitmark: expected rows that do not wait, and that wait */
	int64_t arrived, waiting;  /* waitmark: rows that wait found in the target, and not (yet) */
	size_t ndiffs, diffs_cap;
	vdiff *diffs;
	double seconds;
} vtable;

struct ferry_verify_report {
	int full, ok;
	char *target;              /* masked */
	size_t ntables;
	vtable *tables;
	char **notes;
	size_t nnotes, notes_cap;
	char **strs;               /* strings handed out by accessors */
};

/* The compared columns, key, defaults and trims of vt (whose jobs are set) against the
 * target's definition tt; 0 or a code with err set. */
int ferry_verify__table_setup(vtable *vt, const ferry_table *tt, const ferry_engine *teng,
                              ferry_err *err);
/* vt's sample by the plan's verify: rules (or all of it with full); 0 or FERRY_ENOMEM. */
int ferry_verify__coverage(vtable *vt, const ferry_plan *p, int full);
void ferry_verify__table_free(vtable *vt);
/* Forget vt's results (figures and listed differences), to compare it again. */
void ferry_verify__table_reset(vtable *vt);

/* Where a table's rows are read from: the sources (through vt's jobs) and the target. */
typedef struct vsides {
	ferry_source_conn *sources;
	const ferry_engine *teng;
	ferry_conn *tconn;
	ferry_ctx *ctx;
	const ferry_verify_options *o;
	size_t max_listed;         /* differences listed per table */
} vsides;

/* Compare one table (compare.c): digests, then the differing ranges row by row. */
int ferry_verify__table(vtable *vt, const vsides *sd, ferry_err *err);

/* ==== rowmap.c: rows kept for comparison, by key ============================================ */

/* One row kept for comparison: key cells, then row cells, in data. */
typedef struct mrow {
	uint64_t kh;
	uint32_t klen, rlen;
	int64_t count;             /* the same key seen this often */
	uint64_t rsum;             /* the sum of the row hashes of those rows */
	int seen;
	int waits;                 /* expected side: the source row waits for the backfill */
	uint8_t *data;
} mrow;

typedef struct rowmap {
	mrow *slots;               /* open addressing; data == NULL: empty */
	size_t cap, n;
	ferry_arena *arena;
	/* fold's scratch, kept across rows: two rows' cells and the folded row */
	const uint8_t **cells;
	size_t *lens, ncells;
	ferry_buf fold;
} rowmap;

/* A map sized for about expect rows: 0 or FERRY_ENOMEM (then map_free still applies). */
int ferry_verify__map_init(rowmap *m, size_t expect);
void ferry_verify__map_free(rowmap *m);
/* The slot of key (data NULL when the key is not there: the slot to fill). */
mrow *ferry_verify__map_find(rowmap *m, uint64_t kh, const uint8_t *key, size_t klen);
/* Store key and row (copied into the map's arena) as r's data: 0 or FERRY_ENOMEM. */
int ferry_verify__map_set_row(rowmap *m, mrow *r, const uint8_t *key, size_t klen,
                              const uint8_t *row, size_t rlen);
/* Keep a row in a side's map (side 0 expected, 1 target): a new key, another row of a key
 * (counted, its hash summed) or, on the expected side of a merge, folded into the key's row
 * by job j's rules (jm: its batch column of each compared column). 0 or a FERRY_E* code. */
int ferry_verify__collect(rowmap *map, vtable *vt, int side, const job *j, const int *jm,
                          uint64_t kh, uint64_t rh, const uint8_t *key, size_t klen,
                          const uint8_t *row, size_t rlen, int waits);

/* ==== fold.c: merge folding ================================================================ */

/* Fold a later row of r's key into r by the merge rules of job j, as the target's upsert
 * does (src/sqlgen.c); 0, FERRY_ENOMEM or FERRY_ECORRUPT. */
int ferry_verify__fold(rowmap *m, mrow *r, const vtable *vt, const job *j, const int *jm,
                       const uint8_t *row, size_t rlen);

/* ==== scan.c: reading both sides ============================================================ */

typedef struct digest {
	uint64_t n, sum;
} digest;

/* A collecting pass that sorts its rows into files, one per round in [rlo, rlo + n). */
typedef struct spill_plan {
	FILE **files[2];           /* per side */
	const int32_t *round_of;   /* the round of each bucket, -1: none */
	int32_t rlo;
} spill_plan;

#define VERIFY_BATCH 4096

typedef struct scan {
	vtable *vt;
	int side;                  /* 0: expected (the jobs), 1: the target */
	const vsides *sd;
	const uint8_t *select;     /* bucket bitmap of a collecting pass; NULL: digest pass */
	const spill_plan *spill;   /* spilling pass, or NULL */
	size_t cur_job;            /* index in vt->jobs of the job being read (side 0) */
	ferry_buf hb;              /* a wild table's row without its wild cells, for hashing */
	digest *dig;               /* VERIFY_NBUCKETS, digest pass */
	digest *wdig;              /* the same of the rows that wait (expected side, waitmark) */
	uint64_t pend_kh[VERIFY_BATCH], pend_rh[VERIFY_BATCH]; /* a batch's digest updates */
	uint8_t pend_w[VERIFY_BATCH];                          /* ... of a row that waits */
	size_t npend;
	rowmap map;                /* collecting pass */
	int outside_pass;          /* 1: side 0 read through the complement of the jobs' filters,
	                              only the key hashes kept, into okeys (sorted after); 2: read
	                              through the filters, striking out of okeys every key an
	                              expected row has too (a key is outside only when no selected
	                              row has it: rows the filter picks one per key, say) */
	uint64_t *okeys;
	size_t nokeys, okeys_cap;
	uint8_t *struck;
	int64_t outside;           /* side 1: rows left out (vt->outside) */
	int64_t total, sampled;
	int64_t wtotal;            /* rows that wait among total (expected side, waitmark) */
	ferry_err err;
	int rc;
} scan;

/* Read both sides of vt at once, one thread each: a digest pass (select NULL), a collecting
 * pass into sc[i].map (maps sized for expect rows), or a spilling pass (sp). sc is set up
 * here and released by ferry_verify__scan_free, also on failure. */
int ferry_verify__scan_both(scan sc[2], vtable *vt, const vsides *sd, const uint8_t *select,
                            size_t expect, const spill_plan *sp, ferry_err *err);
void ferry_verify__scan_free(scan sc[2]);
/* vt->outside: the key hashes of the rows of vt's jobs' sources that their filters leave
 * out, when every job has a filter and reads a database (a label holds no such rows); 0 or a
 * code with err set. */
int ferry_verify__outside_keys(vtable *vt, const vsides *sd, ferry_err *err);

/* ==== spill.c: rounds compared from temporary files ======================================== */

#define VERIFY_SPILL_FILES 64          /* rounds one pass sorts into files when there are several */

/* Append one row of a spilling pass to the file of its round; 0 or a code with s->err set. */
int ferry_verify__spill_row(scan *s, uint64_t kh, uint64_t rh, const ferry_buf *key,
                            const ferry_buf *row, int waits);
/* Rounds [rlo, rhi) of a table: one pass spills their rows, then each round is compared.
 * select is scratch (VERIFY_NBUCKETS bits); expect sizes the maps. */
int ferry_verify__spilled_rounds(vtable *vt, const vsides *sd, const int32_t *round_of,
                                 int32_t rlo, int32_t rhi, uint8_t *select, size_t expect,
                                 ferry_err *err);
/* Match the two maps of a round: every key of either side is matched, missing or extra
 * (compare.c); 0 or FERRY_ENOMEM. */
int ferry_verify__compare_maps(vtable *vt, rowmap *em, rowmap *am, size_t max_listed);

/* ==== report.c ============================================================================== */

/* List a difference of vt (e expected, a target row; either may be NULL) unless max_listed
 * are listed already; 0, FERRY_ENOMEM or FERRY_ECORRUPT. */
int ferry_verify__add_diff(vtable *vt, size_t max_listed, int kind, const mrow *e, const mrow *a);

#endif
