/* cmd_baseline.c — `ferry baseline`: adopt a database that already has its schema, so that
 * migrations up to a version count as applied and only later ones run. */
#include "cli.h"

const char cmd_baseline_usage[] =
	"usage: ferry baseline DB V [--description TEXT]\n"
	"\n"
	"Record in the database's ferry_history (created if needed) a baseline row at version V:\n"
	"the database already holds the schema up to V, made before ferry managed it, so the\n"
	"migrations up to V count as applied and 'ferry migrate' runs only the later ones.\n"
	"Refused when ferry_history already has rows.\n"
	"\n"
	"Options:\n"
	"      --description TEXT  the row's description (default \"baseline\")\n"
	"      --lock-timeout S    seconds to wait for another ferry's migration lock (default 60)\n"
	"  -q, --quiet             print errors only\n"
	"  -h, --help              this help\n"
	"\n"
	"Examples:\n"
	"  ferry baseline legacy.db 3\n"
	"  ferry baseline legacy.db 2.1 --description \"schema of release 2.1\"\n"
	"\n";

int cmd_baseline(int argc, char **argv)
{
	cli_mig_args a;
	int code = cli_mig_parse(&a, argc, argv, CLI_MO_DESC | CLI_MO_LOCK | CLI_MO_QUIET, 2,
	                         "baseline", cmd_baseline_usage);
	ferry_ctx *ctx;
	if (code >= 0 || (code = cli_mig_ctx(&ctx)) >= 0)
		return code;
	int rc = ferry_migrate_baseline(ctx, a.db, a.version, &a.o);
	code = rc ? cli_mig_fail(ctx, rc) : FERRY_EXIT_OK;
	ferry_ctx_free(ctx);
	return code;
}
