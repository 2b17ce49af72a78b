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

/* copy, export and import share their options and their run (transfer.c). */
typedef enum cli_mode { CLI_COPY = 0, CLI_EXPORT = 1, CLI_IMPORT = 2 } cli_mode;
int cli_transfer(int argc, char **argv, cli_mode mode, const char *usage);
extern const char cmd_export_usage[];
extern const char cmd_import_usage[];
extern const char cmd_label_usage[];
int cmd_export(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_label(int argc, char **argv);

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
