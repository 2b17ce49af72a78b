/* cmd_cutover.c — `ferry cutover` and `ferry rollback`: switch to the new version (or back)
 * with writes paused for milliseconds: catch up, block, drain, check, record, fence the
 * version left, start the way back, release. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"

const char cmd_cutover_usage[] =
	"usage: ferry cutover [options] -p PLAN.yaml\n"
	"       ferry cutover [options] SOURCE TARGET\n"
	"\n"
	"Switch the plan's sync to the new version. ferry catches up (running the snapshot\n"
	"and the stream itself when no sync has yet), blocks writes on the sources (reads go\n"
	"on), drains the stream to the exact point where writes stopped, compares every row the\n"
	"drain wrote on both sides, records a cutover row in ferry_history of both versions,\n"
	"fences the old version (a write to it then fails with a message naming the new one)\n"
	"and releases the block. The pause is printed in milliseconds. Stop a running\n"
	"`ferry sync` of the plan first (the cut-over applies the stream itself).\n"
	"\n"
	"The way back: before the block, ferry starts capturing the new version; from the\n"
	"switch on, `ferry sync -p PLAN` carries its changes back into the old version through\n"
	"the plan's inverse (renames and drops invert, computed and defaulted columns stay\n"
	"behind, rows outside a where are left alone), so `ferry rollback` can switch back.\n"
	"A plan with no inverse (a merge, an expr whose inputs the new version does not carry)\n"
	"is refused before anything is blocked, unless its entries give `reverse:` rules or\n"
	"--no-way-back is given. A rerun after a kill completes the switch.\n"
	"\n"
	"Options:\n"
	"  -p, --plan FILE         the migration plan (YAML; see docs/PLAN-REFERENCE.md)\n"
	"      --max-lag SECONDS   catch up to this lag before blocking (default 1)\n"
	"      --max-pause MS      the longest writes may wait (default 2000); past it the block\n"
	"                          is released, nothing is lost, and the cut-over is tried again\n"
	"      --attempts N        tries before giving up (default 3)\n"
	"      --keep-old-writable do not fence the old version (needs --no-way-back)\n"
	"      --no-way-back       do not carry the new version's changes back (no capture on\n"
	"                          it; ferry rollback is then refused)\n"
	"      --verify[=full]     inside the pause, after the drain's check, compare the plan\n"
	"                          (sampled by its coverage rules, or every row): a difference\n"
	"                          releases the block with nothing switched (exit 5); the pause\n"
	"                          grows by the comparison's time\n"
	"      --switch URL        repoint the applications' pooler inside the pause, so they\n"
	"                          keep their address: pgbouncer://USER@HOST:PORT/ENTRY?config=\n"
	"                          /etc/pgbouncer/pgbouncer.ini (PAUSE, rewrite ENTRY, RELOAD,\n"
	"                          RESUME on PgBouncer's admin console)\n"
	"      --json              the result (pause and every phase's time) as JSON on stdout\n"
	"  -q, --quiet             no progress output\n"
	"  -h, --help              this help\n"
	"\n"
	"Examples:\n"
	"  ferry cutover -p examples/shop/plan.yaml --max-pause 500\n"
	"  ferry cutover -p plan.yaml --verify=full --switch 'pgbouncer://pgbouncer@127.0.0.1:6432/shop?config=/etc/pgbouncer/pgbouncer.ini'\n"
	"\n";

const char cmd_rollback_usage[] =
	"usage: ferry rollback [options] -p PLAN.yaml\n"
	"       ferry rollback [options] SOURCE TARGET\n"
	"\n"
	"Switch back to the old version after `ferry cutover`: the cut-over in the other\n"
	"direction, with the same guarantees. ferry catches up the way back (the new version's\n"
	"changes carried into the old one), blocks writes on the new version, drains the way\n"
	"back to the exact point where writes stopped, compares every row the drain wrote,\n"
	"records a rollback row in ferry_history of both versions, fences the new version,\n"
	"makes the old one writable again and releases the block; the forward stream starts at\n"
	"that point, so a later `ferry sync` and `ferry cutover` go forward again. The pause is\n"
	"printed. Stop a running `ferry sync` of the plan first.\n"
	"\n"
	"Options:\n"
	"  -p, --plan FILE         the migration plan the cut-over ran with\n"
	"      --max-lag SECONDS   catch up to this lag before blocking (default 1)\n"
	"      --max-pause MS      the longest writes may wait (default 2000)\n"
	"      --attempts N        tries before giving up (default 3)\n"
	"      --verify[=full]     compare the plan inside the pause (see ferry cutover)\n"
	"      --switch URL        repoint the applications' pooler back to the old version\n"
	"      --json              the result as JSON on stdout\n"
	"  -q, --quiet             no progress output\n"
	"  -h, --help              this help\n"
	"\n"
	"Examples:\n"
	"  ferry rollback -p examples/shop/plan.yaml --max-pause 500\n"
	"\n";

static void on_status(void *ud, const ferry_sync_status *st)
{
	if (*(int *)ud || !st->message)
		return;
	fprintf(stderr, "%s\n", st->message);
}

static int parse_num(const char *s, double min, double max, double *out)
{
	char *end;
	double v = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || !(v >= min) || v > max)
		return -1;
	*out = v;
	return 0;
}

static int switch_cmd(int argc, char **argv, int rollback)
{
	static const struct option longopts[] = {
		{"plan", required_argument, NULL, 'p'}, {"max-lag", required_argument, NULL, 'L'},
		{"max-pause", required_argument, NULL, 'P'}, {"attempts", required_argument, NULL, 'A'},
		{"keep-old-writable", no_argument, NULL, 'K'}, {"json", no_argument, NULL, 'J'},
		{"switch", required_argument, NULL, 'W'}, {"no-way-back", no_argument, NULL, 'N'},
		{"verify", optional_argument, NULL, 'V'},
		{"quiet", no_argument, NULL, 'q'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
	};
	ferry_cutover_options o = FERRY_CUTOVER_OPTIONS_INIT;
	const char *plan_path = NULL;
	int json = 0, quiet = 0, c;
	double v;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":p:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'p': plan_path = optarg; break;
		case 'L':
			if (parse_num(optarg, 0.001, 86400, &v) != 0) {
				cli_error("--max-lag takes seconds above 0, not \"%s\"", optarg);
				return FERRY_EXIT_USAGE;
			}
			o.sync.max_lag = v;
			break;
		case 'P':
			if (parse_num(optarg, 1, 600000, &v) != 0) {
				cli_error("--max-pause takes milliseconds from 1 to 600000, not \"%s\"", optarg);
				return FERRY_EXIT_USAGE;
			}
			o.max_pause_ms = (int)v;
			break;
		case 'A':
			if (parse_num(optarg, 1, 1000, &v) != 0 || v != (int)v) {
				cli_error("--attempts takes a whole number from 1 to 1000, not \"%s\"", optarg);
				return FERRY_EXIT_USAGE;
			}
			o.attempts = (int)v;
			break;
		case 'K': o.keep_old_writable = 1; break;
		case 'N':
			if (rollback) {
				cli_error("unknown option \"--no-way-back\" (see 'ferry rollback --help')");
				return FERRY_EXIT_USAGE;
			}
			o.no_way_back = 1;
			break;
		case 'V':
			if (optarg && strcmp(optarg, "full") != 0) {
				cli_error("--verify takes no value or =full, not \"%s\"", optarg);
				return FERRY_EXIT_USAGE;
			}
			o.verify = optarg ? 2 : 1;
			break;
		case 'W': o.switch_url = optarg; break;
		case 'J': json = 1; break;
		case 'q': quiet = 1; break;
		case 'h':
			fputs(rollback ? cmd_rollback_usage : cmd_cutover_usage, stdout);
			fputs(cli_exit_codes, stdout);
			return 0;
		case ':':
			cli_error("option %s needs a value (see 'ferry %s --help')", argv[optind - 1], rollback ? "rollback" : "cutover");
			return FERRY_EXIT_USAGE;
		default:
			cli_error("unknown option \"%s\" (see 'ferry %s --help')", argv[optind - 1], rollback ? "rollback" : "cutover");
			return FERRY_EXIT_USAGE;
		}
	}
	int npos = argc - optind;
	if (plan_path ? npos != 0 : npos != 2) {
		cli_error(plan_path ? "a plan names its ends: give -p PLAN or SOURCE TARGET, not both"
		                    : rollback ? "rollback needs SOURCE TARGET, or -p PLAN (see 'ferry rollback --help')"
		                               : "cutover needs SOURCE TARGET, or -p PLAN (see 'ferry cutover --help')");
		return FERRY_EXIT_USAGE;
	}
	ferry_ctx *ctx;
	ferry_plan *plan;
	int rc = cli_open(&ctx, &plan, plan_path, plan_path ? NULL : argv[optind],
	                  plan_path ? NULL : argv[optind + 1]);
	if (rc >= 0)
		return rc;
	int silent = quiet || json;
	o.sync.status = on_status;
	o.sync.status_ud = &silent;
	cli_progress *pr = cli_progress_new(stderr, silent);
	o.sync.copy.progress = cli_progress_event;
	o.sync.copy.progress_ud = pr;
	ferry_cutover_result r;
	cli_trap_signals(ctx);
	rc = rollback ? ferry_rollback(&r, ctx, plan, &o) : ferry_cutover(&r, ctx, plan, &o);
	cli_trap_signals(NULL);
	cli_progress_finish(pr);
	if (json)
		printf("{\"ok\":%s,\"pause_ms\":%.3f,\"lock_ms\":%.3f,\"drain_ms\":%.3f,\"check_ms\":%.3f,"
		       "\"record_ms\":%.3f,\"catchup_ms\":%.3f,\"attempts\":%d,\"rows_checked\":%lld,"
		       "\"position\":\"%s\",\"%s\":\"%s\",\"completed\":%s,\"way_back\":%s}\n",
		       rc == 0 ? "true" : "false", r.pause_ms, r.lock_ms, r.drain_ms, r.check_ms, r.record_ms,
		       r.catchup_ms, r.attempts, (long long)r.rows_checked, r.position,
		       rollback ? "new_version" : "old_version", o.keep_old_writable ? "writable" : "fenced",
		       r.completed ? "true" : "false", rollback || !o.no_way_back ? "true" : "false");
	else if (rc == 0 && !quiet && r.completed)
		printf("%s: nothing to switch (already done, or an interrupted switch was completed)\n",
		       rollback ? "rolled back" : "cut over");
	else if (rc == 0 && !quiet)
		printf("%s: writes paused %.1f ms (block %.1f, drain %.1f, check %.1f of %lld rows, record and fence %.1f); attempt %d\n",
		       rollback ? "rolled back" : "cut over", r.pause_ms, r.lock_ms, r.drain_ms, r.check_ms, (long long)r.rows_checked, r.record_ms,
		       r.attempts);
	if (rc != 0)
		cli_error("%s", ferry_errmsg(ctx));
	cli_progress_free(pr);
	ferry_plan_free(plan);
	ferry_ctx_free(ctx);
	return rc == FERRY_ECORRUPT && o.verify ? FERRY_EXIT_DIFFERENT : cli_exit_for(rc);
}

int cmd_cutover(int argc, char **argv)
{
	return switch_cmd(argc, argv, 0);
}

int cmd_rollback(int argc, char **argv)
{
	return switch_cmd(argc, argv, 1);
}
