/* cmd_validate.c — `ferry validate`: the problems that would stop `ferry migrate` (a changed
 * or missing applied file, an out-of-order file, a failed version), by file name. */
#include "cli.h"

const char cmd_validate_usage[] =
	"usage: ferry validate DB [-d DIR] [--json]\n"
	"\n"
	"Check the migration files of DIR against the database's ferry_history: an applied\n"
	"migration whose file changed (SHA-256), an applied version whose file is missing, a\n"
	"new file older than the newest applied version, a version that failed. Each problem\n"
	"is printed on its own line, naming the file. Reads only.\n"
	"\n"
	"Options:\n"
	"  -d, --dir DIR           the migration files (default ./migrations)\n"
	"      --allow-out-of-order  an older new file is not a problem (as for migrate)\n"
	"      --ignore-missing    an applied version whose file is gone is not a problem\n"
	"      --json              one JSON object: database, dir, current, pending, valid,\n"
	"                          problems [{kind, version, script, message}]\n"
	"  -h, --help              this help\n"
	"\n"
	"Examples:\n"
	"  ferry validate app.db\n"
	"  ferry validate app.db -d db/migrations --json\n"
	"\n"
	"Exit codes of validate: 0 valid; 2 problems were found (or a command-line mistake);\n"
	"1 a runtime failure.\n"
	"\n";

int cmd_validate(int argc, char **argv)
{
	cli_mig_args a;
	int code = cli_mig_parse(&a, argc, argv, CLI_MO_DIR | CLI_MO_ORDER | CLI_MO_MISSING |
	                         CLI_MO_JSON, 1, "validate", cmd_validate_usage);
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
	rc = a.json ? ferry_migrations_write_json(m, FERRY_VIEW_VALIDATE, stdout)
	            : ferry_migrations_write_text(m, FERRY_VIEW_VALIDATE, stdout);
	if (rc) {
		cli_error("could not write the problems");
		code = FERRY_EXIT_FAILURE;
	} else {
		code = ferry_migrations_problem_count(m) ? FERRY_EXIT_USAGE : FERRY_EXIT_OK;
	}
	ferry_migrations_free(m);
	ferry_ctx_free(ctx);
	return code;
}
