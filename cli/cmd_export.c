/* cmd_export.c — `ferry export`: the read step of a two-step migration, into a label. */
#include "cli.h"

const char cmd_export_usage[] =
	"usage: ferry export [options] -p PLAN.yaml [--label DIR]\n"
	"       ferry export [options] SOURCE LABEL\n"
	"\n"
	"The read step: read the sources, apply the plan's renames, expressions, filters and\n"
	"drops, and write the rows into a label directory (the plan's \"label:\", or --label)\n"
	"that `ferry import` loads into the target later, possibly on another machine. Chunks\n"
	"are written under a temporary name and renamed when whole: an interrupted export run\n"
	"again continues at the first chunk not written. With --stage, only that stage is read;\n"
	"one label can hold several stages read at different times.\n"
	"\n"
	"Options:\n"
	"  -p, --plan FILE       the migration plan (YAML; see docs/PLAN-REFERENCE.md)\n"
	"      --label DIR       the label directory (default: the plan's \"label:\")\n"
	"  -j, --threads N       reader threads (0 = one per CPU)\n"
	"      --chunk-rows N    rows per chunk (default: the plan's, else 50000)\n"
	"      --stage NAME      read only this stage\n"
	"      --strict          refuse to drop source columns\n"
	"      --check, --dry-run  check the plan against the sources (its SQL run, reading no\n"
	"                        row) and print the tables, columns and estimates the label\n"
	"                        would hold; write nothing\n"
	"      --json            print the summary as JSON on stdout\n"
	"  -q, --quiet           no progress output\n"
	"  -h, --help            this help\n"
	"\n"
	"Examples:\n"
	"  ferry export -p examples/shop/plan.yaml --label /tmp/shop.label\n"
	"  ferry export old.db /tmp/old.label\n"
	"\n";

int cmd_export(int argc, char **argv)
{
	return cli_transfer(argc, argv, CLI_EXPORT, cmd_export_usage);
}
