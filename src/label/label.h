/* label.h — the label's chunk files and manifest (docs/LABEL-FORMAT.md): write, read, check.
 * Used by the label engine (src/engines/label), which makes a label a source or a target of
 * the one pipeline, and by `ferry label inspect|verify`. */
#ifndef FERRY_LABEL_H
#define FERRY_LABEL_H

#include "../ferry_int.h"

#define FERRY_LABEL_FORMAT 1
#define FERRY_LABEL_MAX_BLOCK (16u << 20)
/* zstd level of label blocks: 5 keeps a label smaller than pg_dump's gzip directory at a
 * third of its time (docs/BENCHMARKS.md); 3 was 1% larger, 7 a third slower. */
#define FERRY_LABEL_ZSTD_LEVEL 5

/* What a finished (or checked) chunk holds. */
typedef struct ferry_label_chunk_info {
	uint64_t rows;
	uint64_t blocks;
	uint64_t digest;      /* row-set digest: sum of XXH3-64 of each row's encoding */
	uint64_t xxh3;        /* XXH3-64 of the whole file */
	uint64_t bytes;       /* file size */
	uint64_t raw_bytes;   /* sum of the blocks' uncompressed lengths */
} ferry_label_chunk_info;

/* ---- chunk files ---------------------------------------------------------------------- */

typedef struct ferry_chunk_writer ferry_chunk_writer;

/* Start writing the chunk file `path` (under path + ".tmp", mode 0600). Rows have ncols
 * values. The writer owns its buffers; memory stays bounded by one block. */
int ferry__chunkw_open(ferry_chunk_writer **out, const char *path, const uint8_t label_id[16],
                       uint64_t job, uint64_t chunk, uint32_t ncols, int zstd_level,
                       ferry_err *err);
/* Append every row of b: value i of a written row is column map[i] of b (i < ncols). */
int ferry__chunkw_add(ferry_chunk_writer *w, const ferry_batch *b, const size_t *map,
                      ferry_err *err);
/* Flush the last block, write the trailer, fsync, rename to the final name, fsync the
 * directory; fill *info (may be NULL). Frees w whatever happens. */
int ferry__chunkw_finish(ferry_chunk_writer *w, ferry_label_chunk_info *info, ferry_err *err);
/* Give up a chunk being written: remove path.tmp. Frees w. NULL is fine. */
void ferry__chunkw_abort(ferry_chunk_writer *w);

typedef struct ferry_chunk_reader ferry_chunk_reader;

/* Open chunk file `path` and check all of it (header, every block, trailer; see the
 * format) before returning, so no row of a damaged chunk is ever handed out: damage is
 * FERRY_ECORRUPT with a message naming the file and the block. label_id NULL skips the
 * label id check (label verify of a lone file); job/chunk (UINT64_MAX: not checked);
 * ncols 0: not checked, the header's count is used (ferry__chunkr_ncols). */
int ferry__chunkr_open(ferry_chunk_reader **out, const char *path, const uint8_t label_id[16],
                       uint64_t job, uint64_t chunk, uint32_t ncols, ferry_err *err);
/* Fill b (reset by the caller) with up to its capacity rows; column i of b is the row's
 * value map[i] (map NULL: value i; b has ferry_batch_ncols(b) columns). *eof when done:
 * set along with the last rows, as an engine's reader_next does. Strings are copied into
 * b's arena. */
int ferry__chunkr_next(ferry_chunk_reader *r, ferry_batch *b, const size_t *map, int *eof,
                       ferry_err *err);
void ferry__chunkr_info(const ferry_chunk_reader *r, ferry_label_chunk_info *out);
/* Values per row (from the header). */
uint32_t ferry__chunkr_ncols(const ferry_chunk_reader *r);
void ferry__chunkr_close(ferry_chunk_reader *r);
/* The same on a chunk held in memory (the fuzz target's entry); data must outlive the
 * reader, name is used in messages. */
int ferry__chunkr_open_mem(ferry_chunk_reader **out, const uint8_t *data, size_t len,
                           const char *name, const uint8_t label_id[16], uint64_t job,
                           uint64_t chunk, uint32_t ncols, ferry_err *err);

/* Check a chunk file end to end without keeping rows (label verify). */
int ferry__chunk_check(const char *path, const uint8_t label_id[16], uint64_t job,
                       uint64_t chunk, uint32_t ncols, ferry_label_chunk_info *info,
                       ferry_err *err);
int ferry__chunk_check_mem(const uint8_t *data, size_t len, const char *name,
                           const uint8_t label_id[16], uint64_t job, uint64_t chunk,
                           uint32_t ncols, ferry_label_chunk_info *info, ferry_err *err);

/* ---- the manifest ----------------------------------------------------------------------- */

typedef struct ferry_label_column {
	char *name;
	ferry_type type;
	char *decl;
	int notnull;
	int pk;
} ferry_label_column;

typedef struct ferry_label_chunk {
	int64_t chunk;
	int written;                 /* the final chunk file exists and was checked/recorded */
	ferry_label_chunk_info info; /* when written */
	uint8_t *lo, *hi;            /* planned key bounds (encoded values), NULL = unbounded */
	size_t lo_len, hi_len;
	int64_t est_rows, read, skipped;
} ferry_label_chunk;

typedef struct ferry_label_table {
	int64_t job;
	char *stage;
	char *name;                  /* the target table */
	char *dir;                   /* "<stage>/<job 6 digits>-<escaped name>", relative */
	char *source;                /* "catalog.content_items" */
	size_t ncols;
	ferry_label_column *cols;
	size_t nconflict;            /* merge rules: column name -> rule */
	char **conflict_cols;
	ferry_conflict *conflict_rules;
	int complete;
	size_t nchunks;
	ferry_label_chunk *chunks;
} ferry_label_table;

typedef struct ferry_label_stage {
	char *name;
	size_t nafter;
	char **after;
	int complete;
	char *read_at;               /* NULL until complete */
} ferry_label_stage;

typedef struct ferry_label_source {
	char *name, *engine, *url, *schema_version; /* url already masked; schema_version may be NULL */
} ferry_label_source;

typedef struct ferry_label_manifest {
	int format_version;
	char *ferry_version;
	uint8_t label_id[16];
	char label_id_hex[33];
	char *created_at;
	char plan_digest[33];
	size_t nsources;
	ferry_label_source *sources;
	size_t nstages;
	ferry_label_stage *stages;
	size_t ntables;
	ferry_label_table *tables;
} ferry_label_manifest;

/* Everything a manifest holds (strings, arrays, bounds) is malloc'd and released by
 * ferry__manifest_free. The add functions copy their strings; arrays grow by realloc, so a
 * pointer they return is valid until the next add on the same array. */

/* A new, empty manifest with a fresh label id (from the time, pid and plan digest hashed). */
ferry_label_manifest *ferry__manifest_new(const char *plan_digest);
void ferry__manifest_free(ferry_label_manifest *m);
/* Read DIR/manifest.json: checks format, version, manifest_xxh3 and every field's type;
 * FERRY_ENOTFOUND when there is none, FERRY_ECORRUPT naming the field when damaged. */
int ferry__manifest_read(ferry_label_manifest **out, const char *dir, ferry_err *err);
/* Write DIR/manifest.json atomically (tmp, fsync, rename), mode 0600. */
int ferry__manifest_write(const ferry_label_manifest *m, const char *dir, ferry_err *err);
/* Parse a manifest from memory (the fuzz target's entry; path is used in messages). */
int ferry__manifest_parse(ferry_label_manifest **out, const char *text, size_t len,
                          const char *path, ferry_err *err);
/* Find by job; NULL when absent. */
ferry_label_table *ferry__manifest_table(const ferry_label_manifest *m, int64_t job);
ferry_label_stage *ferry__manifest_stage(const ferry_label_manifest *m, const char *name);
/* Add (or return the existing) table entry for job; strings copied. */
ferry_label_table *ferry__manifest_add_table(ferry_label_manifest *m, int64_t job,
                                             const char *stage, const char *name,
                                             const char *source);
ferry_label_stage *ferry__manifest_add_stage(ferry_label_manifest *m, const char *name);
int ferry__manifest_stage_add_after(ferry_label_stage *s, const char *after);
ferry_label_source *ferry__manifest_add_source(ferry_label_manifest *m, const char *name,
                                               const char *engine, const char *url,
                                               const char *schema_version);
/* decl NULL is stored as "". */
ferry_label_column *ferry__manifest_add_column(ferry_label_table *t, const char *name,
                                               ferry_type type, const char *decl, int notnull,
                                               int pk);
int ferry__manifest_add_conflict(ferry_label_table *t, const char *col, ferry_conflict rule);
/* A planned chunk (not written, unbounded, est_rows -1). */
ferry_label_chunk *ferry__manifest_add_chunk(ferry_label_table *t, int64_t chunk);
/* "<stage>/<job:06>-<name with bytes outside [A-Za-z0-9_.-] as %XX, cut to 128 bytes>";
 * caller frees. */
char *ferry__label_table_dir(const char *stage, int64_t job, const char *name);
/* "<6-digit chunk>.chunk" (more digits past 999999); caller frees. */
char *ferry__label_chunk_file(int64_t chunk);
/* mkdir -p with mode 0700 for each directory created. */
int ferry__label_mkdirs(const char *path, ferry_err *err);

/* ---- the two-step migration (import.c, report.c) ----------------------------------------- */

/* Record in DIR's manifest what its engine cannot know after a read step of plan: each
 * source's name, engine (by ctx's registry) and URL without its password, and the order of
 * the stages. */
int ferry__label_describe(const ferry_ctx *ctx, const char *dir, const ferry_plan *plan,
                          ferry_err *err);
/* The write step's plan for the label in dir (*out is the caller's, ferry_plan_free): one
 * source, the label; each of its jobs an entry renamed to its target table, in its stage,
 * with its merge rules; the target, target schema and settings of user (NULL: target_url and
 * the defaults). Refused (FERRY_EUSAGE, naming what is missing) when the read step of
 * only_stage (NULL: every stage) has not finished. */
int ferry__label_import_plan(ferry_plan **out, const char *dir, const char *only_stage,
                             const ferry_plan *user, const char *target_url, ferry_err *err);
/* `ferry label inspect` and `ferry label verify` of dir, as text or JSON, onto f. verify
 * fails with FERRY_ECORRUPT when a chunk is damaged or missing, after the report. */
int ferry__label_inspect(const char *dir, int json, FILE *f, ferry_err *err);
int ferry__label_verify(const char *dir, int json, FILE *f, ferry_err *err);

/* ---- the label engine (src/engines/label) ---------------------------------------------- */

/* The address of the label in dir, which the label engine claims; caller frees. */
char *ferry__label_url(const char *dir);

#endif
