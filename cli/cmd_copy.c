/* cmd_copy.c — `ferry copy`: with a plan, to the next schema version; without one, every
 * table as it is. Resumable: run the same command again after a crash. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
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
	"SOURCE and TARGET are URLs: sqlite:PATH, or a bare PATH for SQLite.\n"
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
	"      --rejects FILE    where refused rows are listed (default TARGET.rejects.jsonl)\n"
	"      --check           resolve the plan against both schemas, print what would be\n"
	"                        dropped or defaulted, and write nothing\n"
	"      --json            print the summary as JSON on stdout\n"
	"  -q, --quiet           no progress output\n"
	"  -h, --help            this help\n"
	"\n"
	"Examples:\n"
	"  ferry copy old.db new.db\n"
	"  ferry copy -p examples/shop/plan.yaml --json\n"
	"\n";

static int parse_count(const char *s, long long min, long long *out)
{
	char *end;
	long long v = strtoll(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v < min)
		return -1;
	*out = v;
	return 0;
}

int cmd_copy(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"plan", required_argument, NULL, 'p'},
		{"threads", required_argument, NULL, 'j'},
		{"chunk-rows", required_argument, NULL, 'c'},
		{"stage", required_argument, NULL, 's'},
		{"strict", no_argument, NULL, 'S'},
		{"truncate", no_argument, NULL, 'T'},
		{"append", no_argument, NULL, 'A'},
		{"max-rejects", required_argument, NULL, 'm'},
		{"rejects", required_argument, NULL, 'r'},
		{"check", no_argument, NULL, 'C'},
		{"json", no_argument, NULL, 'J'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	ferry_copy_options o = FERRY_COPY_OPTIONS_INIT;
	const char *plan_path = NULL;
	int json = 0, quiet = 0, c;
	long long v;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":p:j:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'p': plan_path = optarg; break;
		case 'j':
			if (parse_count(optarg, 0, &v) != 0 || v > 4096) {
				cli_error("--threads must be a whole number from 0 to 4096, not \"%s\"", optarg);
				return FERRY_EXIT_USAGE;
			}
			o.threads = (int)v;
			break;
		case 'c':
			if (parse_count(optarg, 1, &v) != 0) {
				cli_error("--chunk-rows must be a whole number >= 1, not \"%s\"", optarg);
				return FERRY_EXIT_USAGE;
			}
			o.chunk_rows = v;
			break;
		case 's': o.stage = optarg; break;
		case 'S': o.strict = 1; break;
		case 'T': o.truncate = 1; break;
		case 'A': o.append = 1; break;
		case 'm':
			if (parse_count(optarg, 0, &v) != 0) {
				cli_error("--max-rejects must be a whole number >= 0, not \"%s\"", optarg);
				return FERRY_EXIT_USAGE;
			}
			o.max_rejects = v;
			break;
		case 'r': o.rejects_path = optarg; break;
		case 'C': o.check_only = 1; break;
		case 'J': json = 1; break;
		case 'q': quiet = 1; break;
		case 'h':
			fputs(cmd_copy_usage, stdout);
			fputs(cli_exit_codes, stdout);
			return 0;
		case ':':
			cli_error("option %s needs a value (see 'ferry copy --help')", argv[optind - 1]);
			return FERRY_EXIT_USAGE;
		default:
			cli_error("unknown option \"%s\" (see 'ferry copy --help')", argv[optind - 1]);
			return FERRY_EXIT_USAGE;
		}
	}
	int npos = argc - optind;
	if (plan_path ? npos != 0 : npos != 2) {
		cli_error(plan_path ? "a plan names its source and target: give -p PLAN or SOURCE TARGET, not both"
		                    : "copy needs SOURCE and TARGET, or -p PLAN (see 'ferry copy --help')");
		return FERRY_EXIT_USAGE;
	}

	ferry_ctx *ctx;
	if (ferry_ctx_new(&ctx) != 0) {
		cli_error("%s", ferry_error_last());
		return FERRY_EXIT_FAILURE;
	}
	ferry_plan *plan = NULL;
	int rc = plan_path ? ferry_plan_load(&plan, ctx, plan_path)
	                   : ferry_plan_simple(&plan, ctx, argv[optind], argv[optind + 1]);
	if (rc != 0) {
		cli_error("%s", ferry_errmsg(ctx));
		ferry_ctx_free(ctx);
		return FERRY_EXIT_USAGE;
	}
	cli_progress *pr = cli_progress_new(stderr, quiet);
	o.progress = cli_progress_event;
	o.progress_ud = pr;
	cli_trap_signals(ctx);
	ferry_summary *sum = NULL;
	rc = ferry_copy(&sum, ctx, plan, &o);
	cli_trap_signals(NULL);
	cli_progress_finish(pr);
	int code = cli_exit_for(rc);
	if (sum && (rc == 0 || rc == FERRY_EREJECT || rc == FERRY_EINTR)) {
		if (json)
			ferry_summary_write_json(sum, stdout);
		else if (!quiet || rc != 0)
			ferry_summary_write_text(sum, stdout);
		int64_t fk = 0;
		for (size_t i = 0; i < ferry_summary_count(sum); i++) {
			ferry_table_stats t;
			if (ferry_summary_table(&t, sum, i) == 0)
				fk += t.fk_violations;
		}
		if (rc == 0 && fk > 0) {
			code = FERRY_EXIT_ROWS;
			cli_error("%lld rows point to rows that do not exist (foreign keys checked after the load)",
			          (long long)fk);
		}
	} else if (sum && json && rc == 0) {
		ferry_summary_write_json(sum, stdout);
	}
	if (rc != 0)
		cli_error("%s", ferry_errmsg(ctx));
	ferry_summary_free(sum);
	cli_progress_free(pr);
	ferry_plan_free(plan);
	ferry_ctx_free(ctx);
	return code;
}
