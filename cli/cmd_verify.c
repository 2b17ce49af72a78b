/* cmd_verify.c — `ferry verify`: prove the migration. Compares what the target should hold
 * (the plan's sources through its rules, or a label) with what it holds. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

const char cmd_verify_usage[] =
	"usage: ferry verify [options] -p PLAN.yaml\n"
	"       ferry verify [options] SOURCE TARGET\n"
	"       ferry verify [options] --label DIR TARGET\n"
	"\n"
	"Compare what the target should hold with what it holds, table by table: the\n"
	"source rows through the plan (renames, expressions, filters, merges, defaults), or\n"
	"the rows of a label. Rows are matched by key and compared by the target's column\n"
	"types, so 1, 1.0 and '1', or a timestamp in two zones, are the same value.\n"
	"\n"
	"SOURCE and TARGET are URLs: sqlite:PATH or a bare PATH (SQLite), postgresql://...\n"
	"or a libpq conninfo string (PostgreSQL).\n"
	"\n"
	"By default each table is sampled by the plan's coverage rules (verify: section;\n"
	"default 100% up to 100 rows, 21% up to 10,000, 5% above), deterministically by the\n"
	"hash of the key. --full compares every row: set digests per key-hash range, then\n"
	"only the ranges that differ are compared row by row. Nothing is written.\n"
	"\n"
	"Options:\n"
	"  -p, --plan FILE       the migration plan (YAML; see docs/PLAN-REFERENCE.md)\n"
	"  -L, --label DIR       compare against this label instead of the plan's sources\n"
	"  -t, --table NAME      only this target table (repeat for more)\n"
	"      --full            compare every row\n"
	"      --max-listed N    differences listed per table (default 10)\n"
	"      --json            print the report as JSON on stdout\n"
	"  -q, --quiet           print nothing when everything matches (the report of a difference\n"
	"                        goes to stderr); the exit code is the verdict\n"
	"  -h, --help            this help\n"
	"\n"
	"Examples:\n"
	"  ferry verify -p examples/shop/plan.yaml\n"
	"  ferry verify --full old.db new.db\n"
	"  ferry verify -p plan.yaml --table orders --table customers\n"
	"  ferry verify --label /backups/shop.label postgresql://app@db/shop --json\n"
	"\n";

int cmd_verify(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"plan", required_argument, NULL, 'p'},
		{"label", required_argument, NULL, 'L'},
		{"table", required_argument, NULL, 't'},
		{"full", no_argument, NULL, 'F'},
		{"max-listed", required_argument, NULL, 'm'},
		{"json", no_argument, NULL, 'J'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	ferry_verify_options o = FERRY_VERIFY_OPTIONS_INIT;
	const char *plan_path = NULL;
	int json = 0, quiet = 0, c;
	const char *tables[64];
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":p:L:t:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'p': plan_path = optarg; break;
		case 'L': o.label_dir = optarg; break;
		case 't':
			if (o.ntables == sizeof(tables) / sizeof(tables[0])) {
				cli_error("--table may be given at most 64 times");
				return FERRY_EXIT_USAGE;
			}
			tables[o.ntables++] = optarg;
			o.tables = tables;
			break;
		case 'F': o.full = 1; break;
		case 'm': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end || v < 1 || v > 1000000) {
				cli_error("--max-listed must be a whole number from 1 to 1000000, not \"%s\"", optarg);
				return FERRY_EXIT_USAGE;
			}
			o.max_listed = (int)v;
			break;
		}
		case 'J': json = 1; break;
		case 'q': quiet = 1; break;
		case 'h':
			fputs(cmd_verify_usage, stdout);
			fputs(cli_exit_codes, stdout);
			return 0;
		case ':':
			cli_error("option %s needs a value (see 'ferry verify --help')", argv[optind - 1]);
			return FERRY_EXIT_USAGE;
		default:
			cli_error("unknown option \"%s\" (see 'ferry verify --help')", argv[optind - 1]);
			return FERRY_EXIT_USAGE;
		}
	}
	int npos = argc - optind, want = plan_path ? 0 : o.label_dir ? 1 : 2;
	if (npos != want) {
		if (plan_path)
			cli_error("a plan names its ends: give -p PLAN or SOURCE TARGET, not both");
		else if (o.label_dir)
			cli_error("verify --label DIR needs one TARGET (see 'ferry verify --help')");
		else
			cli_error("verify needs SOURCE TARGET, --label DIR TARGET, or -p PLAN (see 'ferry verify --help')");
		return FERRY_EXIT_USAGE;
	}
	ferry_ctx *ctx;
	ferry_plan *plan;
	int rc = cli_open(&ctx, &plan, plan_path, !plan_path && !o.label_dir ? argv[optind] : NULL,
	                  plan_path ? NULL : argv[optind + 1]);
	if (rc >= 0)
		return rc;
	if (!plan_path && o.label_dir)
		o.target_url = argv[optind];
	cli_progress *pr = cli_progress_new(stderr, quiet || json);
	o.progress = cli_progress_event;
	o.progress_ud = pr;
	cli_trap_signals(ctx);
	ferry_verify_report *rep = NULL;
	rc = ferry_verify(&rep, ctx, plan, &o);
	cli_trap_signals(NULL);
	cli_progress_finish(pr);
	int code = cli_exit_for(rc);
	if (rc == 0) {
		if (json)
			ferry_verify_report_write_json(rep, stdout);
		else if (!quiet || !ferry_verify_report_ok(rep))
			ferry_verify_report_write_text(rep, quiet ? stderr : stdout);
		if (!ferry_verify_report_ok(rep))
			code = FERRY_EXIT_DIFFERENT;
	} else {
		cli_error("%s", ferry_errmsg(ctx));
	}
	ferry_verify_report_free(rep);
	cli_progress_free(pr);
	ferry_plan_free(plan);
	ferry_ctx_free(ctx);
	return code;
}
