/* cmd_import.c — `ferry import`: the write step of a two-step migration, from a label. */
#include "cli.h"

const char cmd_import_usage[] =
	"usage: ferry import [options] -p PLAN.yaml [--label DIR]\n"
	"       ferry import [options] LABEL TARGET\n"
	"\n"
	"The write step: load a label written by `ferry export` into the target (the plan's\n"
	"target, its target_schema applied first). The label's columns resolve against the\n"
	"target's by name: columns the target lacks are dropped and columns the label lacks take\n"
	"their default, and both are reported (--strict refuses them); --check prints what would\n"
	"be dropped, defaulted or refused and writes nothing. A chunk's rows and its checkpoint\n"
	"commit together: an interrupted import run again continues at the first chunk not\n"
	"loaded. A label whose read step did not finish is refused, naming the tables.\n"
	"\n"
	"Options:\n"
	"  -p, --plan FILE       the plan (target, target_schema, threads, max_rejects)\n"
	"      --label DIR       the label directory (default: the plan's \"label:\")\n"
	"  -j, --threads N       reader threads (0 = one per CPU)\n"
	"      --stage NAME      load only this stage; the stages it comes after must be loaded\n"
	"      --strict          refuse dropped and defaulted columns\n"
	"      --truncate        empty target tables that already hold rows before loading\n"
	"      --append          load beside rows already in the target tables\n"
	"      --max-rejects N   rows the target may refuse before the exit code says so\n"
	"      --rejects FILE    where refused rows (key, reason, values) are listed (default\n"
	"                        TARGET.rejects.jsonl beside a SQLite target, else PLAN.rejects.jsonl)\n"
	"      --check, --dry-run  report the DDL, each target table with its columns, types\n"
	"                        and where each value comes from, what would be dropped,\n"
	"                        defaulted or refused; write nothing\n"
	"      --verify[=full]   at the end, compare the target with the plan (ferry verify):\n"
	"                        sampled by the coverage rules, or every row; the verdict is in\n"
	"                        the summary and ferry_history, and exit 5 when it differs\n"
	"      --json            print the summary as JSON on stdout\n"
	"  -q, --quiet           no progress output\n"
	"  -h, --help            this help\n"
	"\n"
	"Examples:\n"
	"  ferry import -p examples/shop/plan.yaml --label /tmp/shop.label\n"
	"  ferry import --check /tmp/old.label new.db\n"
	"\n";

int cmd_import(int argc, char **argv)
{
	return cli_transfer(argc, argv, CLI_IMPORT, cmd_import_usage);
}
