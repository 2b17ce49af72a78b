/* history.h — what the files of src/history share: version numbers, migration files, the
 * ferry_history table (read and written through the engine interface only, so one code path
 * serves every engine), checksums, and the entry point ferry_copy uses to record data runs. */
#ifndef FERRY_HISTORY_H
#define FERRY_HISTORY_H

#include "../ferry_int.h"

#define FERRY_HISTORY_TABLE "ferry_history"
#define FERRY_MIG_MAX_SCRIPT (64u << 20) /* bytes of one migration script */

/* ---- version.c: versions and file names ---------------------------------------------- */

/* 1 when s (len bytes) is a version: numbers separated by dots ("1", "1.10", "2.0.3"). */
int ferry__version_valid(const char *s, size_t len);
/* Compare two valid versions numerically per dot component, a missing component counting
 * as 0: "1.9" < "1.10", "1" == "1.0" == "01". Returns <0, 0 or >0. */
int ferry__version_cmp(const char *a, const char *b);
/* A byte string that sorts like the version (compare with ferry__version_key_cmp): per
 * component one byte of length without leading zeros, then the digits; trailing zero
 * components are dropped. out needs strlen(v) + 1 bytes; returns the key's length. */
size_t ferry__version_key(unsigned char *out, const char *v);
int ferry__version_key_cmp(const unsigned char *a, size_t la, const unsigned char *b, size_t lb);

/* The parts of a migration file name V<version>__<description>.sql / .down.sql. */
typedef struct ferry_mig_name {
	char *version;       /* as written */
	char *description;   /* underscores turned into spaces */
	int down;            /* a .down.sql file */
} ferry_mig_name;

/* Parse a file name (no directory). On a bad name returns FERRY_EUSAGE with err saying why
 * and naming the file and dir. The caller frees out->version and out->description. */
int ferry__mig_parse_name(ferry_mig_name *out, const char *name, const char *dir, ferry_err *err);

/* One version's files in a migration directory. */
typedef struct ferry_mig_file {
	char *version;
	char *description;
	char *up;            /* the up script's file name (no directory) */
	char *down;          /* the down script's file name, or NULL */
	char checksum[65];   /* SHA-256 of the up script's bytes, hex */
} ferry_mig_file;

/* A one-line problem; a list of them owns its strings. */
typedef struct ferry_mig_problem {
	char *msg;
	int kind;            /* a ferry_migration_state, or -1 for a problem of the files */
	char *version;       /* the version it is about, or NULL */
	char *script;        /* the file it is about, or NULL */
} ferry_mig_problem;

typedef struct ferry_mig_problems {
	ferry_mig_problem *v;
	size_t n, cap;
} ferry_mig_problems;

int ferry__mig_problem_add(ferry_mig_problems *p, int kind, const char *version,
                           const char *script, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 5, 6)))
#endif
	;
void ferry__mig_problems_clear(ferry_mig_problems *p);

/* Read the migration files of dir, sorted by version, with the checksums of the up scripts
 * (those of unchanged files from the cache in cache_dir when it is not NULL; see sums.c).
 * Bad names, two files for one version and down scripts without an up script are added to
 * problems (all of them, by file name) and the call returns FERRY_EUSAGE. The caller frees
 * the list with ferry__mig_files_free. */
int ferry__mig_scan(ferry_mig_file **out, size_t *n, const char *dir, const char *cache_dir,
                    ferry_mig_problems *problems, ferry_err *err);
void ferry__mig_files_free(ferry_mig_file *files, size_t n);

/* ---- checksum.c --------------------------------------------------------------------- */

/* A SHA-256 hasher (nettle), made once and used for many scripts, from any thread. */
typedef struct ferry_sha256 ferry_sha256;
int ferry__sha256_new(ferry_sha256 **out, ferry_err *err);
void ferry__sha256_free(ferry_sha256 *h);
/* out = lowercase hex SHA-256 of data. */
int ferry__sha256_hex(ferry_sha256 *h, char out[65], const void *data, size_t len,
                      ferry_err *err);

/* ---- sums.c: checksums of unchanged files, kept between runs ----------------------- */

struct stat;
typedef struct ferry_sums ferry_sums;
/* Load the cache of migration directory dir from cache_dir; *out stays NULL (and 0 is
 * returned) when dir has no real path. Only FERRY_ENOMEM is an error. */
int ferry__sums_open(ferry_sums **out, const char *cache_dir, const char *dir);
/* 1 and the cached checksum of file name in out when st is the stat it was hashed with,
 * else 0. Safe to call from several threads at once for different names. */
int ferry__sums_get(ferry_sums *s, const char *name, const struct stat *st, char out[65]);
/* Record the checksum of a file hashed this run, with the stat taken before reading it. */
int ferry__sums_put(ferry_sums *s, const char *name, const struct stat *st, const char *sum);
/* Write the cache back when write is set and it changed (errors ignored: it is a cache),
 * and free it. */
void ferry__sums_close(ferry_sums *s, int write);

/* ---- table.c: the ferry_history table ----------------------------------------------- */

/* A row as read or to be written; strings are owned by whoever filled it. */
typedef struct ferry_hist_row {
	int64_t rank;
	char *version;       /* NULL for data rows */
	char *description;
	char *kind;
	char *script;
	char *checksum;
	char *checksum_algo;
	char *applied_at;
	char *applied_by;
	int64_t duration_ms;
	int success;
	char *ferry_version;
	char *run_id;
	int64_t rows_moved;  /* -1: NULL */
	char *verdict;
} ferry_hist_row;

/* Read every row of ferry_history, in installed_rank order, into *out (the caller frees
 * the array; the rows' strings live in the arena strings). Without all, only the columns the
 * versions' states need are read (applied_by, duration_ms, ferry_version, run_id, rows_moved
 * and verdict come back NULL, 0 or -1). *exists = 0 and no rows when the table does not
 * exist. Runs outside any transaction of c. */
int ferry__hist_read(ferry_hist_row **out, size_t *n, int *exists, int all,
                     ferry_arena *strings, ferry_conn *c, const ferry_engine *eng,
                     ferry_err *err);

/* Create ferry_history through the engine's create_table (inside the caller's transaction
 * when one is open). */
int ferry__hist_create(ferry_conn *c, const ferry_engine *eng, ferry_err *err);
/* Insert row (its rank is the next one, taken by the statement itself) with exec_params.
 * applied_at, applied_by and ferry_version are filled here when NULL. */
int ferry__hist_insert(ferry_conn *c, const ferry_engine *eng, const ferry_hist_row *row,
                       ferry_err *err);
/* Create ferry_history unless it exists, inside the caller's open transaction (the check
 * runs under a savepoint, so a failed probe does not spoil the transaction). */
int ferry__hist_ensure(ferry_conn *c, const ferry_engine *eng, ferry_err *err);
/* The user this process runs as, for applied_by (never NULL). */
void ferry__hist_user(char *out, size_t cap);

/* Record a data migration (a finished ferry_copy run) in ferry_history: kind "data", the run
 * id, the rows moved and the verification verdict ("complete", "rejected rows", ...), creating
 * the table when the database has none. It neither begins nor commits: call it inside the
 * transaction that marks the run finished, so that the row and the run's end commit
 * together. duration_ms: how long the run took (the process that finishes it). Needs the
 * engine's optional exec_params (FERRY_EUSAGE when it lacks it). */
int ferry__history_record_data(ferry_conn *c, const ferry_engine *eng, const char *run_id,
                               const char *description, int64_t rows, const char *verdict,
                               int64_t duration_ms, ferry_err *err);

/* Apply a plan's target-schema file inside the caller's open transaction and record it in
 * ferry_history in the same transaction: kind "schema", no version (it is not a versioned
 * migration), description "target schema: FILE", the file's checksum and the run id. The
 * statements go one by one through the engine's split_sql, so an error names the file's line;
 * a statement that cannot run in a transaction is refused (FERRY_EUSAGE) before any runs,
 * as is transaction control. Needs exec_params. With already not NULL, a file whose
 * checksum a successful schema row of ferry_history already holds (whatever run applied
 * it) is not applied again: *already then describes that row (caller frees), else NULL. */
int ferry__history_apply_schema(ferry_conn *c, const ferry_engine *eng, const char *path,
                                const char *run_id, char **already, ferry_err *err);

/* ---- report.c ----------------------------------------------------------------------- */

/* One version's state, computed from the files and the rows. Strings point into them. */
typedef struct ferry_mig_entry {
	const char *version;
	const char *description;
	int state;                   /* ferry_migration_state */
	const ferry_mig_file *file;  /* NULL when there is none */
	const ferry_hist_row *row;   /* the row that applied it (or the baseline row), or NULL */
} ferry_mig_entry;

struct ferry_migrations {
	char *db;                    /* the database, masked for display */
	char *dir;
	int history_only;
	int table_exists;
	ferry_mig_file *files;
	size_t nfiles;
	ferry_hist_row *rows;        /* strings in arena */
	size_t nrows;
	ferry_arena *arena;
	struct ferry_mig_slot *slots; /* each version's fate by its rows (report.c), made once */
	size_t nslots;
	ferry_mig_entry *entries;    /* in version order */
	size_t nentries;
	const ferry_hist_row *baseline;
	const char *current;         /* newest applied version (the baseline counts) */
	size_t npending;
	ferry_mig_problems problems; /* what makes migrate refuse */
};

/* Work out what the rows of m say about each version (the part of ferry__mig_compute that
 * needs no files, so it can run while the files are still being read). */
int ferry__mig_prepare_rows(ferry_migrations *m, ferry_err *err);
/* Work out the entries, the current version and the problems of m from its files and rows;
 * allow_out_of_order and ignore_missing turn those problems into IGNORED entries. */
int ferry__mig_compute(ferry_migrations *m, int allow_out_of_order, int ignore_missing,
                       ferry_err *err);

#endif
