/* cmd_runs.c — `ferry runs`: every run a target records, with who holds it and how far it
 * got; reads only. */
#include <getopt.h>
#include "cli.h"

const char cmd_runs_usage[] =
	"usage: ferry runs [--json] TARGET\n"
	"       ferry runs [--json] -p PLAN.yaml\n"
	"\n"
	"List every run whose bookkeeping the target keeps (copy, import, sync): its kind, plan,\n"
	"state, the holder of its lease (host:pid, epoch, expiry), its progress (chunks done,\n"
	"rows written) and, for a sync, the stream position it applied and when, and the\n"
	"conflicts `ferry sync --both-ways` settled in this database (the newest ten). States:\n"
	"finished; running (its lease is live); stalled (its holder stopped renewing the lease,\n"
	"or is a process of this host that is gone: a standby or a rerun takes over); stopped (the lease was given up before the end);\n"
	"incomplete (recorded before leases were kept). Reads only. See docs/RUNS.md.\n"
	"\n"
	"Options:\n"
	"  -p, --plan FILE       list the runs of the plan's target\n"
	"      --json            one JSON object: {\"runs\": [{run_id, kind, state, plan, started,\n"
	"                        finished, lease {holder, epoch, since, heartbeat, held,\n"
	"                        expires_in_s, ttl_s}, chunks, chunks_done, rows_written,\n"
	"                        rows_rejected, rows_estimated, stages_done, positions,\n"
	"                        conflicts, conflicts_newest [{table, version, key, rule,\n"
	"                        winner, at}]}]}\n"
	"  -h, --help            this help\n"
	"\n"
	"Examples:\n"
	"  ferry runs new.db\n"
	"  ferry runs --json postgresql://app@db/new\n"
	"\n";

int cmd_runs(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"plan", required_argument, NULL, 'p'},
		{"json", no_argument, NULL, 'J'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *plan_path = NULL;
	int json = 0, c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":p:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'p': plan_path = optarg; break;
		case 'J': json = 1; break;
		case 'h':
			fputs(cmd_runs_usage, stdout);
			fputs(cli_exit_codes, stdout);
			return 0;
		case ':':
			cli_error("option %s needs a value (see 'ferry runs --help')", argv[optind - 1]);
			return FERRY_EXIT_USAGE;
		default:
			cli_error("unknown option \"%s\" (see 'ferry runs --help')", argv[optind - 1]);
			return FERRY_EXIT_USAGE;
		}
	}
	if (plan_path ? argc - optind != 0 : argc - optind != 1) {
		cli_error("runs needs TARGET, or -p PLAN (see 'ferry runs --help')");
		return FERRY_EXIT_USAGE;
	}
	ferry_ctx *ctx;
	ferry_plan *plan;
	int rc = cli_open(&ctx, &plan, plan_path, NULL, NULL);
	if (rc >= 0)
		return rc;
	const char *target = plan ? ferry_plan_target(plan) : argv[optind];
	rc = ferry_runs_write(ctx, target, json, stdout);
	int code = cli_exit_for(rc);
	if (rc)
		cli_error("%s", ferry_errmsg(ctx));
	ferry_plan_free(plan);
	ferry_ctx_free(ctx);
	return code;
}
