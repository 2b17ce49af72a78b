/* cmd_down.c — `ferry down`: undo the versions above a given one with their down scripts,
 * newest first, each in its own transaction and recorded in ferry_history. */
#include "cli.h"

const char cmd_down_usage[] =
	"usage: ferry down DB --to V [-d DIR] [--dry-run]\n"
	"\n"
	"Undo the applied versions above V, newest first, each by its down script\n"
	"V<version>__<description>.down.sql in its own transaction together with its row in\n"
	"ferry_history (kind schema, description \"down: ...\"). Refused before anything runs\n"
	"when a needed down script is missing; every missing one is listed. V may be 0 to undo\n"
	"every version, but not below a baseline.\n"
	"\n"
	"Options:\n"
	"      --to V              the version to go down to (required)\n"
	"  -d, --dir DIR           the migration files (default ./migrations)\n"
	"      --dry-run           print the statements and rows; change nothing\n"
	"      --ignore-missing    an applied version whose up file is gone is not a problem\n"
	"      --lock-timeout S    seconds to wait for another ferry's migration lock (default 60)\n"
	"  -q, --quiet             print errors only\n"
	"  -h, --help              this help\n"
	"\n"
	"Examples:\n"
	"  ferry down app.db --to 2\n"
	"  ferry down app.db --to 0 --dry-run\n"
	"\n";

int cmd_down(int argc, char **argv)
{
	cli_mig_args a;
	int code = cli_mig_parse(&a, argc, argv, CLI_MO_DIR | CLI_MO_TO | CLI_MO_DRY |
	                         CLI_MO_MISSING | CLI_MO_LOCK | CLI_MO_QUIET, 1, "down",
	                         cmd_down_usage);
	ferry_ctx *ctx;
	if (code >= 0 || (code = cli_mig_ctx(&ctx)) >= 0)
		return code;
	if (!a.o.target) {
		cli_error("ferry down needs --to V, the version to go down to (see 'ferry down --help')");
		ferry_ctx_free(ctx);
		return FERRY_EXIT_USAGE;
	}
	cli_trap_signals(ctx);
	int rc = ferry_migrate_down(ctx, a.db, &a.o);
	cli_trap_signals(NULL);
	code = rc ? cli_mig_fail(ctx, rc) : FERRY_EXIT_OK;
	ferry_ctx_free(ctx);
	return code;
}
