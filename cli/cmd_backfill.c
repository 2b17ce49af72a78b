/* cmd_backfill.c — `ferry backfill`: carry the rows a plan's `later:` delays, while the new
 * version is live. Resumable and exactly once: run the same command again after a crash. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

const char cmd_backfill_usage[] =
	"usage: ferry backfill [options] -p PLAN.yaml\n"
	"\n"
	"Carry the rows that wait (the plan's later:) from the sources into the target, after\n"
	"the copy or the cut-over, while applications use the new version. A run of its own:\n"
	"chunked, checkpointed in the target, resumed by the same command after a crash or an\n"
	"interrupt. A row is written only where its key is absent in the target, so a row the\n"
	"application wrote since (or ferry fetch loaded) is never overwritten nor doubled, and\n"
	"one it deleted is not brought back (the copy records its deletes; docs/LATER.md).\n"
	"\n"
	"Options:\n"
	"  -p, --plan FILE       the migration plan (YAML; see docs/PLAN-REFERENCE.md)\n"
	"      --rate ROWS/S     scan at most this many source rows a second (spares the\n"
	"                        application's database); default: as fast as it goes\n"
	"  -j, --threads N       reader threads (0 = one per CPU; default: the plan's, else 0)\n"
	"      --chunk-rows N    rows per chunk (default: the plan's, else 50000; with --rate,\n"
	"                        about a second of rows)\n"
	"      --max-rejects N   rows the target may refuse before the exit code says so (default 0)\n"
	"      --rejects FILE    where refused rows are listed (default TARGET.rejects.jsonl)\n"
	"      --json            print the summary as JSON on stdout\n"
	"  -q, --quiet           no progress output (progress shows rows, rows/s and the ETA)\n"
	"  -h, --help            this help\n"
	"\n"
	"Example:\n"
	"  ferry backfill -p plan.yaml --rate 20000\n"
	"\n";

int cmd_backfill(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"plan", required_argument, NULL, 'p'},
		{"rate", required_argument, NULL, 'R'},
		{"threads", required_argument, NULL, 'j'},
		{"chunk-rows", required_argument, NULL, 'c'},
		{"max-rejects", required_argument, NULL, 'm'},
		{"rejects", required_argument, NULL, 'r'},
		{"json", no_argument, NULL, 'J'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	ferry_backfill_options o = FERRY_BACKFILL_OPTIONS_INIT;
	const char *plan_path = NULL;
	int json = 0, quiet = 0, c;
	long long v;
	char *end;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":p:j:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'p': plan_path = optarg; break;
		case 'R':
			o.rate = strtod(optarg, &end);
			if (*optarg == '\0' || *end != '\0' || !(o.rate > 0) || o.rate > 1e12) {
				cli_error("--rate must be a number of rows per second > 0, not \"%s\"", optarg);
				return FERRY_EXIT_USAGE;
			}
			break;
		case 'j':
			if (cli_parse_count(optarg, 0, &v) != 0 || v > 4096) {
				cli_error("--threads must be a whole number from 0 to 4096, not \"%s\"", optarg);
				return FERRY_EXIT_USAGE;
			}
			o.copy.threads = (int)v;
			break;
		case 'c':
			if (cli_parse_count(optarg, 1, &v) != 0) {
				cli_error("--chunk-rows must be a whole number >= 1, not \"%s\"", optarg);
				return FERRY_EXIT_USAGE;
			}
			o.copy.chunk_rows = v;
			break;
		case 'm':
			if (cli_parse_count(optarg, 0, &v) != 0) {
				cli_error("--max-rejects must be a whole number >= 0, not \"%s\"", optarg);
				return FERRY_EXIT_USAGE;
			}
			o.copy.max_rejects = v;
			break;
		case 'r': o.copy.rejects_path = optarg; break;
		case 'J': json = 1; break;
		case 'q': quiet = 1; break;
		case 'h':
			fputs(cmd_backfill_usage, stdout);
			fputs(cli_exit_codes, stdout);
			return 0;
		case ':':
			cli_error("option %s needs a value (see 'ferry backfill --help')", argv[optind - 1]);
			return FERRY_EXIT_USAGE;
		default:
			cli_error("unknown option \"%s\" (see 'ferry backfill --help')", argv[optind - 1]);
			return FERRY_EXIT_USAGE;
		}
	}
	if (!plan_path || optind != argc) {
		cli_error("backfill needs -p PLAN and nothing else (see 'ferry backfill --help')");
		return FERRY_EXIT_USAGE;
	}
	ferry_ctx *ctx;
	ferry_plan *plan;
	int rc = cli_open(&ctx, &plan, plan_path, NULL, NULL);
	if (rc >= 0)
		return rc;
	cli_progress *pr = cli_progress_new(stderr, quiet);
	o.copy.progress = cli_progress_event;
	o.copy.progress_ud = pr;
	cli_trap_signals(ctx);
	ferry_summary *sum = NULL, *partial = NULL;
	o.copy.summary_on_failure = &partial;
	rc = ferry_backfill(&sum, ctx, plan, &o);
	cli_trap_signals(NULL);
	if (!sum)
		sum = partial;
	cli_progress_finish(pr);
	int code = cli_exit_for(rc);
	if (sum && (rc == 0 || rc == FERRY_EREJECT || rc == FERRY_EINTR)) {
		if (json)
			ferry_summary_write_json(sum, stdout);
		else if (!quiet || rc != 0)
			ferry_summary_write_text(sum, stdout);
	}
	if (rc != 0)
		cli_error("%s", ferry_errmsg(ctx));
	ferry_summary_free(sum);
	cli_progress_free(pr);
	ferry_plan_free(plan);
	ferry_ctx_free(ctx);
	return code;
}
