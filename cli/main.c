/* main.c — the ferry command: a table of commands, one file each, usage beside options. */
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"

static const cli_command commands[] = {
	{"copy", "carry a database to its next schema version (source -> transform -> target)",
	 cmd_copy, cmd_copy_usage},
	{"export", "the read step: sources, transformed by the plan, into a label directory",
	 cmd_export, cmd_export_usage},
	{"import", "the write step: a label into the target, at its schema version",
	 cmd_import, cmd_import_usage},
	{"label", "inspect a label, or verify every block and checksum of it",
	 cmd_label, cmd_label_usage},
	{"reload-rejects", "load the rows a run refused, once fixed in its reject file, each once",
	 cmd_reload, cmd_reload_usage},
	{"sync", "keep the target current while the sources stay in use (capture, copy, stream)",
	 cmd_sync, cmd_sync_usage},
	{"cutover", "switch to the new version: block writes for milliseconds, drain, fence the old",
	 cmd_cutover, cmd_cutover_usage},
	{"rollback", "switch back to the old version after a cut-over, with the same guarantees",
	 cmd_rollback, cmd_rollback_usage},
	{"runs", "list the runs a target records: kind, state, lease holder, progress",
	 cmd_runs, cmd_runs_usage},
	{"backfill", "carry the rows the plan's later: delays, while the new version is live",
	 cmd_backfill, cmd_backfill_usage},
	{"fetch", "load named rows of a later: table now, exactly once",
	 cmd_fetch, cmd_fetch_usage},
	{"verify", "compare the target with what the plan says it should hold (sampled or --full)",
	 cmd_verify, cmd_verify_usage},
	{"migrate", "apply the pending versioned migrations of a directory to a database",
	 cmd_migrate, cmd_migrate_usage},
	{"status", "list applied and pending versions (exit 4 when some are pending)",
	 cmd_status, cmd_status_usage},
	{"history", "print the record of upgrades of a database (ferry_history)",
	 cmd_history, cmd_history_usage},
	{"validate", "check applied migrations against their files", cmd_validate,
	 cmd_validate_usage},
	{"baseline", "mark an existing database as being at a version", cmd_baseline,
	 cmd_baseline_usage},
	{"repair", "remove failed migrations from the history, accept edited files", cmd_repair,
	 cmd_repair_usage},
	{"down", "undo versions above a given one with their down scripts", cmd_down,
	 cmd_down_usage},
};

const char cli_exit_codes[] =
	"Exit codes:\n"
	"  0    everything arrived\n"
	"  1    a runtime failure (I/O, database, server); committed work is kept and a rerun resumes\n"
	"  2    a command-line or plan mistake; nothing was changed\n"
	"  3    the run finished but some rows did not arrive (rejected, or foreign keys left dangling)\n"
	"  4    ferry status: migrations are pending\n"
	"  5    ferry verify (or --verify): the target differs from what the plan says it should hold\n"
	"  6    another process holds the run (refused at once), or took it over from this one,\n"
	"       which then committed nothing more; --standby waits, --join shares (ferry runs)\n"
	"  7    ferry fetch: a key has no row that waits in the source and none in the target\n"
	"  130  interrupted; a rerun resumes\n";

static void usage(FILE *f)
{
	fprintf(f, "usage: ferry <command> [options]\n\n"
	           "ferry carries a database from one version of its schema to the next and says\n"
	           "exactly what arrived.\n\nCommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-14s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "  %-14s %s\n  %-14s %s\n\n", "help", "show help for a command", "version",
	        "print the version");
	fprintf(f, "Run 'ferry <command> --help' for a command's options.\n\n%s", cli_exit_codes);
}

int cli_exit_for(int rc)
{
	switch (rc) {
	case FERRY_OK: return FERRY_EXIT_OK;
	case FERRY_EUSAGE:
	case FERRY_ENOTFOUND: /* a path or name that does not exist: the user's to fix */
		return FERRY_EXIT_USAGE;
	case FERRY_EREJECT: return FERRY_EXIT_ROWS;
	case FERRY_EINTR: return FERRY_EXIT_INTERRUPTED;
	case FERRY_EHELD: return FERRY_EXIT_HELD;
	default: return FERRY_EXIT_FAILURE;
	}
}

int cli_open(ferry_ctx **ctx, ferry_plan **plan, const char *plan_path, const char *src,
             const char *dst)
{
	return cli_open_json(ctx, plan, plan_path, src, dst, 0);
}

int cli_open_json(ferry_ctx **ctx, ferry_plan **plan, const char *plan_path, const char *src,
                  const char *dst, int json)
{
	*plan = NULL;
	if (ferry_ctx_new(ctx) != 0) {
		cli_error("%s", ferry_error_last());
		return FERRY_EXIT_FAILURE;
	}
	int rc = 0;
	if (plan_path)
		rc = ferry_plan_load(plan, *ctx, plan_path);
	else if (src)
		rc = ferry_plan_simple(plan, *ctx, src, dst);
	if (rc == 0)
		return -1;
	cli_error("%s", ferry_errmsg(*ctx));
	if (json)
		cli_json_error(stdout, *ctx, FERRY_EXIT_USAGE, NULL);
	ferry_ctx_free(*ctx);
	*ctx = NULL;
	return FERRY_EXIT_USAGE;
}

void cli_error(const char *fmt, ...)
{
	va_list ap;
	fputs("ferry: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* The one mutable global: a signal handler can reach nothing else. */
static ferry_ctx *volatile trapped;

static volatile sig_atomic_t signals;

/* The first signal asks the run to stop at its next check (committed work kept); a second
 * one ends the process at once, for a call that does not return (an open() that blocks
 * and is retried through EINTR). The database rolls back what was not committed. */
static void on_signal(int sig)
{
	(void)sig;
	if (signals++ && trapped) {
		static const char msg[] = "ferry: interrupted again: stopping now\n";
		ssize_t w = write(STDERR_FILENO, msg, sizeof(msg) - 1);
		(void)w;
		_exit(130);
	}
	if (trapped)
		ferry_interrupt(trapped);
}

void cli_trap_signals(ferry_ctx *ctx)
{
	trapped = ctx;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = ctx ? on_signal : SIG_DFL;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return FERRY_EXIT_USAGE;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		printf("ferry %s\n", FERRY_VERSION);
		return 0;
	}
	if (strcmp(cmd, "help") == 0) {
		if (argc < 3) {
			usage(stdout);
			return 0;
		}
		cmd = argv[2];
		for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
			if (strcmp(commands[i].name, cmd) == 0) {
				fputs(commands[i].usage, stdout);
				fputs(cli_exit_codes, stdout);
				return 0;
			}
		cli_error("unknown command \"%s\" (see 'ferry --help')", cmd);
		return FERRY_EXIT_USAGE;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, cmd) == 0)
			return commands[i].run(argc - 1, argv + 1);
	cli_error("unknown command \"%s\" (see 'ferry --help')", cmd);
	return FERRY_EXIT_USAGE;
}
