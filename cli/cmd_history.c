/* cmd_history.c — `ferry history`: every row of a database's ferry_history, the record of its
 * upgrades (schema migrations, baselines, down scripts, data runs), in the order recorded. */
#include "cli.h"

const char cmd_history_usage[] =
	"usage: ferry history DB [--json]\n"
	"\n"
	"Print the rows of the database's ferry_history table in the order they were recorded:\n"
	"rank, version, description, kind (schema, data, cutover, baseline, repair), script,\n"
	"when (ISO 8601, UTC, on every engine) and by whom, how long, and whether it succeeded\n"
	"(data runs also show their run id, rows moved and verdict; a repair what it accepted).\n"
	"Reads only.\n"
	"\n"
	"Options:\n"
	"      --json              one JSON object: database, table_exists, history [{every\n"
	"                          column of ferry_history}]\n"
	"  -h, --help              this help\n"
	"\n"
	"Examples:\n"
	"  ferry history app.db\n"
	"  ferry history sqlite:app.db --json\n"
	"\n";

int cmd_history(int argc, char **argv)
{
	cli_mig_args a;
	int code = cli_mig_parse(&a, argc, argv, CLI_MO_JSON, 1, "history", cmd_history_usage);
	ferry_ctx *ctx;
	if (code >= 0 || (code = cli_mig_ctx(&ctx)) >= 0)
		return code;
	a.o.history_only = 1;
	ferry_migrations *m = NULL;
	int rc = ferry_migrations_load(&m, ctx, a.db, &a.o);
	if (rc) {
		code = cli_mig_fail(ctx, rc);
		ferry_ctx_free(ctx);
		return code;
	}
	rc = a.json ? ferry_migrations_write_json(m, FERRY_VIEW_HISTORY, stdout)
	            : ferry_migrations_write_text(m, FERRY_VIEW_HISTORY, stdout);
	code = rc ? FERRY_EXIT_FAILURE : FERRY_EXIT_OK;
	if (rc)
		cli_error("could not write the history");
	ferry_migrations_free(m);
	ferry_ctx_free(ctx);
	return code;
}
