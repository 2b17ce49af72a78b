/* cmd_status.c — `ferry status`: the versions of a database, applied and pending, as a table
 * or JSON; its exit code says whether migrations are pending, so scripts can gate on it. */
#include "cli.h"

const char cmd_status_usage[] =
	"usage: ferry status DB [-d DIR] [--json]\n"
	"\n"
	"List the versions of DIR and of the database's ferry_history: version, description,\n"
	"state (applied, pending, failed, changed, missing, out of order, baseline) and when it\n"
	"was applied. Reads only: takes no lock and changes nothing.\n"
	"\n"
	"Options:\n"
	"  -d, --dir DIR           the migration files (default ./migrations)\n"
	"      --allow-out-of-order  count a new file older than the newest applied version as\n"
	"                          pending, as 'ferry migrate --allow-out-of-order' would\n"
	"      --ignore-missing    an applied version whose file is gone is not a problem\n"
	"      --json              one JSON object: database, dir, current, pending, valid,\n"
	"                          migrations [{version, description, state, script,\n"
	"                          down_script, applied_at, checksum}], problems\n"
	"  -h, --help              this help\n"
	"\n"
	"Examples:\n"
	"  ferry status app.db\n"
	"  ferry status app.db --json\n"
	"  ferry status app.db -q || ferry migrate app.db   # migrate only when needed\n"
	"\n"
	"Exit codes of status: 0 up to date; 4 migrations are pending; 2 a problem that stops\n"
	"'ferry migrate' (failed, changed, missing, out of order, bad file names) or a\n"
	"command-line mistake; 1 a runtime failure.\n"
	"\n";

int cmd_status(int argc, char **argv)
{
	cli_mig_args a;
	int code = cli_mig_parse(&a, argc, argv, CLI_MO_DIR | CLI_MO_ORDER | CLI_MO_MISSING |
	                         CLI_MO_JSON | CLI_MO_QUIET, 1, "status", cmd_status_usage);
	ferry_ctx *ctx;
	if (code >= 0 || (code = cli_mig_ctx(&ctx)) >= 0)
		return code;
	ferry_migrations *m = NULL;
	int rc = ferry_migrations_load(&m, ctx, a.db, &a.o);
	if (rc) {
		code = cli_mig_fail(ctx, rc);
		ferry_ctx_free(ctx);
		return code;
	}
	if (!a.quiet || a.json)
		rc = a.json ? ferry_migrations_write_json(m, FERRY_VIEW_STATUS, stdout)
		            : ferry_migrations_write_text(m, FERRY_VIEW_STATUS, stdout);
	if (rc) {
		cli_error("could not write the status");
		code = FERRY_EXIT_FAILURE;
	} else if (ferry_migrations_problem_count(m) > 0) {
		code = FERRY_EXIT_USAGE;
	} else {
		code = ferry_migrations_pending(m) > 0 ? FERRY_EXIT_PENDING : FERRY_EXIT_OK;
	}
	ferry_migrations_free(m);
	ferry_ctx_free(ctx);
	return code;
}
