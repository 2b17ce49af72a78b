/* cli.h — what the command files share: the command table's entry type and helpers for
 * output. The CLI uses only the public header ferry.h. */
#ifndef FERRY_CLI_H
#define FERRY_CLI_H

#include <stdio.h>
#include "ferry.h"

typedef struct cli_command {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv);
	const char *usage;
} cli_command;

extern const char cmd_copy_usage[];
extern const char cli_exit_codes[];
int cmd_copy(int argc, char **argv);
extern const char cmd_verify_usage[];
extern const char cmd_sync_usage[];
extern const char cmd_cutover_usage[];
int cmd_cutover(int argc, char **argv);
extern const char cmd_rollback_usage[];
int cmd_rollback(int argc, char **argv);
int cmd_sync(int argc, char **argv);
int cmd_verify(int argc, char **argv);
extern const char cmd_runs_usage[];
int cmd_runs(int argc, char **argv);
extern const char cmd_backfill_usage[], cmd_fetch_usage[];
int cmd_backfill(int argc, char **argv);
int cmd_fetch(int argc, char **argv);

/* Versioned migrations (cmd_migrate.c and its siblings). */
extern const char cmd_migrate_usage[], cmd_status_usage[], cmd_history_usage[],
	cmd_validate_usage[], cmd_baseline_usage[], cmd_repair_usage[], cmd_down_usage[];
int cmd_migrate(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_history(int argc, char **argv);
int cmd_validate(int argc, char **argv);
int cmd_baseline(int argc, char **argv);
int cmd_repair(int argc, char **argv);
int cmd_down(int argc, char **argv);

/* The options the migration commands share; each command allows some of them. */
enum {
	CLI_MO_DIR = 1, CLI_MO_TO = 2, CLI_MO_DRY = 4, CLI_MO_ORDER = 8, CLI_MO_MISSING = 16,
	CLI_MO_LOCK = 32, CLI_MO_DESC = 64, CLI_MO_JSON = 128, CLI_MO_QUIET = 256
};

typedef struct cli_mig_args {
	ferry_migrate_options o;
	const char *db;
	const char *version;   /* baseline's V */
	int json, quiet;
	char cache_dir[4096];
} cli_mig_args;

/* Parse a migration command's arguments (npos positional ones) into a; returns -1 to go on,
 * or the exit code to return (0 after --help). The event callback is set to cli_mig_event. */
int cli_mig_parse(cli_mig_args *a, int argc, char **argv, unsigned allowed, int npos,
                  const char *cmd, const char *usage);
/* Print a migration event: problems and lock waits on stderr, the rest on stdout. */
void cli_mig_event(void *ud, const ferry_migrate_event *ev);
/* The checksum cache directory into buf: $FERRY_CACHE_DIR (empty: none), else
 * $XDG_CACHE_HOME/ferry, else $HOME/.cache/ferry; NULL when there is none. */
const char *cli_cache_dir(char *buf, size_t cap);
/* Create the handle: -1 to go on, or an exit code. */
int cli_mig_ctx(ferry_ctx **ctx);
/* Print ctx's error and return the exit code for rc. */
int cli_mig_fail(ferry_ctx *ctx, int rc);

/* copy, export and import share their options and their run (transfer.c). */
typedef enum cli_mode { CLI_COPY = 0, CLI_EXPORT = 1, CLI_IMPORT = 2 } cli_mode;
int cli_transfer(int argc, char **argv, cli_mode mode, const char *usage);
/* --json on failure: {"error":{"message","exit_code"},"committed":SUMMARY or null} on f. */
void cli_json_error(FILE *f, ferry_ctx *ctx, int exit_code, const ferry_summary *committed);
extern const char cmd_export_usage[];
extern const char cmd_import_usage[];
extern const char cmd_label_usage[];
int cmd_export(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_label(int argc, char **argv);
extern const char cmd_reload_usage[];
int cmd_reload(int argc, char **argv);

/* Create the handle and the plan: loaded from plan_path, else (when src is not NULL) every
 * table of src as it is into dst, else none. Returns -1 to go on, or the exit code after
 * printing the error (*ctx is then freed). */
/* The same, with a plan mistake also written as a --json error object on stdout. */
int cli_open_json(ferry_ctx **ctx, ferry_plan **plan, const char *plan_path, const char *src,
                  const char *dst, int json);
int cli_open(ferry_ctx **ctx, ferry_plan **plan, const char *plan_path, const char *src,
             const char *dst);

/* A time ("10s", "500ms", "2m", a bare number of seconds) in milliseconds within
 * [min_ms, max_ms] into *out: 0, or -1 when s is not one. */
int cli_parse_duration_ms(const char *s, long long min_ms, long long max_ms, long long *out);
/* A whole number >= min from s (all of it) into *out: 0, or -1 when s is not one. */
int cli_parse_count(const char *s, long long min, long long *out);
/* Exit code for a library error code. */
int cli_exit_for(int rc);
/* Print "ferry: message" to stderr. */
void cli_error(const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 1, 2)))
#endif
	;
/* Install SIGINT/SIGTERM handlers that interrupt ctx's run (NULL to remove). */
void cli_trap_signals(ferry_ctx *ctx);

/* Progress display: bars on a terminal, one line per table when piped, nothing when quiet. */
typedef struct cli_progress cli_progress;
cli_progress *cli_progress_new(FILE *out, int quiet);
void cli_progress_event(void *ud, const ferry_progress *p);
void cli_progress_finish(cli_progress *pr);
void cli_progress_free(cli_progress *pr);

#endif
