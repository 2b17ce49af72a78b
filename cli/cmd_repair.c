/* cmd_repair.c — `ferry repair`: the way forward after a failed migration or an edited
 * applied file: remove the failed rows from ferry_history and take the files' checksums. */
#include "cli.h"

const char cmd_repair_usage[] =
	"usage: ferry repair DB [-d DIR] [--dry-run]\n"
	"\n"
	"Make ferry_history agree with the database and the files again, after you looked:\n"
	"  - the rows of failed migrations are removed, so 'ferry migrate' runs them again.\n"
	"    A migration that ran statements outside a transaction may be partly applied:\n"
	"    undo its effects by hand (or make the script safe to rerun) before migrating;\n"
	"  - an applied migration whose file was edited takes the file's current checksum and\n"
	"    description (the edit is accepted; ferry does not run it again).\n"
	"Missing files and out-of-order files are not repaired: restore or rename them, or\n"
	"use --ignore-missing / --allow-out-of-order with migrate (repair accepts and ignores\n"
	"them, so one set of options serves every command). Each action is printed.\n"
	"\n"
	"Options:\n"
	"  -d, --dir DIR           the migration files (default ./migrations)\n"
	"      --dry-run           say what would be repaired; change nothing\n"
	"      --lock-timeout S    seconds to wait for another ferry's migration lock (default 60)\n"
	"  -q, --quiet             print errors only\n"
	"  -h, --help              this help\n"
	"\n"
	"Examples:\n"
	"  ferry repair app.db\n"
	"  ferry repair app.db -d db/migrations --dry-run\n"
	"\n";

int cmd_repair(int argc, char **argv)
{
	cli_mig_args a;
	int code = cli_mig_parse(&a, argc, argv, CLI_MO_DIR | CLI_MO_DRY | CLI_MO_ORDER |
	                         CLI_MO_MISSING | CLI_MO_LOCK | CLI_MO_QUIET, 1, "repair",
	                         cmd_repair_usage);
	ferry_ctx *ctx;
	if (code >= 0 || (code = cli_mig_ctx(&ctx)) >= 0)
		return code;
	int rc = ferry_migrate_repair(ctx, a.db, &a.o);
	code = rc ? cli_mig_fail(ctx, rc) : FERRY_EXIT_OK;
	ferry_ctx_free(ctx);
	return code;
}
