/* cmd_copy.c — `ferry copy`: with a plan, to the next schema version; without one, every
 * table as it is. Resumable: run the same command again after a crash. */
#include "cli.h"

const char cmd_copy_usage[] =
	"usage: ferry copy [options] -p PLAN.yaml\n"
	"       ferry copy [options] SOURCE TARGET\n"
	"\n"
	"Carry the source database into the target: with a plan, through its renames,\n"
	"expressions, filters and merges to the new schema version; without one, every\n"
	"table as it is. A crashed or interrupted run resumes when the same command runs\n"
	"again; a finished one says so and changes nothing.\n"
	"\n"
	"SOURCE and TARGET are URLs: sqlite:PATH, or a bare PATH for SQLite;\n"
	"postgresql://USER@HOST/DB (or a libpq conninfo string) for PostgreSQL.\n"
	"\n"
	"Options:\n"
	"  -p, --plan FILE       the migration plan (YAML; see docs/PLAN-REFERENCE.md)\n"
	"  -j, --threads N       reader threads (0 = one per CPU; default: the plan's, else 0)\n"
	"      --chunk-rows N    rows per chunk (default: the plan's, else 50000)\n"
	"      --stage NAME      run only this stage; the stages it comes after must be done\n"
	"      --strict          refuse to drop source columns or default target columns\n"
	"      --truncate        empty target tables that already hold rows before loading\n"
	"      --append          load beside rows already in the target tables\n"
	"      --max-rejects N   rows the target may refuse before the exit code says so (default 0)\n"
	"      --rejects FILE    where refused rows (key, reason, values) are listed (default\n"
	"                        TARGET.rejects.jsonl beside a SQLite target, else PLAN.rejects.jsonl)\n"
	"      --check, --dry-run  resolve the plan against both schemas and run its SQL on\n"
	"                        the source reading no row; print the DDL, each target table\n"
	"                        with its columns, types and where each value comes from, the\n"
	"                        row estimates and chunks, the stages, what is dropped or\n"
	"                        defaulted (--json: the same as JSON); write nothing\n"
	"      --verify[=full]   at the end, compare the target with the plan (ferry verify):\n"
	"                        sampled by the coverage rules, or every row; the verdict is in\n"
	"                        the summary and ferry_history, and exit 5 when it differs\n"
	"      --json            print the summary as JSON on stdout\n"
	"  -q, --quiet           no progress output\n"
	"  -h, --help            this help\n"
	"\n"
	"Examples:\n"
	"  ferry copy old.db new.db\n"
	"  ferry copy -p examples/shop/plan.yaml --json\n"
	"\n";

int cmd_copy(int argc, char **argv)
{
	return cli_transfer(argc, argv, CLI_COPY, cmd_copy_usage);
}
