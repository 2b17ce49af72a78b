/* cmd_sync.c — `ferry sync`: keep the new version current while the old one keeps serving.
 * Capture first, then the snapshot copy, then the captured changes applied through the plan;
 * --until-caught-up returns once the lag is under a bound, --finish removes the capture. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"

const char cmd_sync_usage[] =
	"usage: ferry sync [options] -p PLAN.yaml\n"
	"       ferry sync [options] SOURCE TARGET\n"
	"\n"
	"Carry the sources into the target while they stay in use: change capture starts\n"
	"first (SQLite: triggers writing a change log into the source file; PostgreSQL: a\n"
	"logical replication slot and a publication), then the sources are copied through the\n"
	"plan, then every captured change is applied through the same plan, in commit order,\n"
	"with its position committed in the target. It runs until stopped (SIGINT, SIGTERM),\n"
	"or with --until-caught-up until the target is current. Rerun the same command to\n"
	"resume; --finish removes what ferry installed on the sources (docs/ONLINE.md).\n"
	"After `ferry cutover`, the same command carries the way back: every change made to\n"
	"the new version is applied to the old one through the plan's inverse, so that\n"
	"`ferry rollback` can switch back with nothing lost; after a rollback it streams\n"
	"forward again.\n"
	"With --both-ways, both versions take writes while applications move over: the old\n"
	"version's changes go to the new one through the plan and the new version's come\n"
	"back through its inverse, at once; a row written on both sides within the lag is\n"
	"settled by the table's both_ways: or owner: rule and listed in ferry_conflicts.\n"
	"`ferry cutover` ends it by fencing the old version.\n"
	"\n"
	"Options:\n"
	"  -p, --plan FILE        the migration plan (YAML; see docs/PLAN-REFERENCE.md)\n"
	"  -j, --threads N        reader threads of the snapshot copy (0 = one per CPU)\n"
	"      --chunk-rows N     rows per chunk of the snapshot copy\n"
	"      --strict           refuse to drop source columns or default target columns\n"
	"      --max-rejects N    rows the target may refuse before the sync stops (default 0)\n"
	"      --until-caught-up  exit 0 once the snapshot is in and a heartbeat sent after it\n"
	"                         came through with the lag under --max-lag\n"
	"      --max-lag SECONDS  the bound of --until-caught-up (default 1)\n"
	"      --heartbeat SECONDS  time between heartbeats through the stream (default 1)\n"
	"      --both-ways        both versions take writes: carry each one's changes to the\n"
	"                         other (every plan entry needs both_ways: {conflict:\n"
	"                         old_wins | new_wins | last_commit} or owner: old | new)\n"
	"      --finish           remove the triggers, change log, slot and publication ferry\n"
	"                         installed on the sources (and, after a cut-over, on the new\n"
	"                         version for the way back) and record the run in\n"
	"                         ferry_history; a fenced version stays fenced\n"
	"      --standby          another process applies this sync: wait, and take over\n"
	"                         (resuming the stream from its committed position) when its\n"
	"                         lease lapses; without it a second sync of the plan is\n"
	"                         refused by the target's lock (exit 2)\n"
	"      --lease TIME       the run's lease time to live (default 10s)\n"
	"      --json             status as JSON lines on stdout; the snapshot copy's notes as\n"
	"                         {\"event\":\"note\",\"code\",\"table\",\"column\",\"message\"}\n"
	"  -q, --quiet            no progress output\n"
	"  -h, --help             this help\n"
	"\n"
	"Examples:\n"
	"  ferry sync -p examples/shop/plan.yaml --until-caught-up\n"
	"  ferry sync -p plan.yaml              # streams until Ctrl-C; rerun to resume\n"
	"  ferry sync -p plan.yaml --both-ways    # both versions live until ferry cutover\n"
	"  ferry sync -p plan.yaml --finish\n"
	"\n";

static const char *const phase_names[] = {"capture", "snapshot", "streaming", "caught up",
                                           "stopped", "finished"};

typedef struct sync_view {
	int json, quiet, tty;
	int drawn;                 /* a status line is on the terminal, not yet ended */
} sync_view;

static void json_status(const ferry_sync_status *st)
{
	printf("{\"event\":\"status\",\"phase\":\"%s\",\"rows_copied\":%lld,\"changes_applied\":%lld,"
	       "\"rows_upserted\":%lld,\"rows_deleted\":%lld,\"rows_rejected\":%lld,"
	       "\"apply_rate\":%.1f,\"lag_changes\":%lld,\"lag_seconds\":%.3f,\"lag_p50\":%.3f,\"lag_p99\":%.3f,"
	       "\"elapsed\":%.3f,\"position\":\"%s\",\"way_back\":%s",
	       phase_names[st->phase], (long long)st->rows_copied, (long long)st->changes_applied,
	       (long long)st->rows_upserted, (long long)st->rows_deleted, (long long)st->rows_rejected,
	       st->apply_rate, (long long)st->lag_changes, st->lag_seconds, st->lag_p50, st->lag_p99, st->elapsed,
	       st->position ? st->position : "", st->way_back ? "true" : "false");
	if (st->both_ways)
		printf(",\"both_ways\":true,\"conflicts\":%lld,\"lag_back_seconds\":%.3f,\"lag_back_p50\":%.3f,\"lag_back_p99\":%.3f",
		       (long long)st->conflicts, st->lag_back, st->lag_back_p50, st->lag_back_p99);
	if (st->message) {
		fputs(",\"message\":\"", stdout);
		for (const char *p = st->message; *p; p++) {
			if (*p == '"' || *p == '\\')
				putchar('\\');
			if ((unsigned char)*p >= 0x20)
				putchar(*p);
		}
		putchar('"');
	}
	fputs("}\n", stdout);
	fflush(stdout);
}

static void on_status(void *ud, const ferry_sync_status *st)
{
	sync_view *v = ud;
	if (v->json) {
		json_status(st);
		return;
	}
	if (v->quiet)
		return;
	if (st->message) {
		fprintf(stderr, "%s%s\n", v->drawn ? "\r\033[K" : "", st->message);
		v->drawn = 0;
		return;
	}
	if (st->phase != FERRY_SYNC_STREAMING && st->phase != FERRY_SYNC_CAUGHT_UP)
		return;
	char lag[48];
	if (st->both_ways) {
		/* Both ways: each direction's lag and the conflicts settled, under 80 columns. */
		char back[16];
		if (st->lag_back < 0)
			snprintf(back, sizeof(back), "-");
		else
			snprintf(back, sizeof(back), "%.2f s", st->lag_back);
		if (st->lag_seconds < 0)
			snprintf(lag, sizeof(lag), "-");
		else
			snprintf(lag, sizeof(lag), "%.2f s", st->lag_seconds);
		fprintf(stderr, "%sboth ways %9lld changes %7.0f/s  lag %s / %s  %lld conflicts%s",
		        v->tty ? "\r\033[K" : "", (long long)st->changes_applied, st->apply_rate, lag, back,
		        (long long)st->conflicts, v->tty ? "" : "\n");
		v->drawn = v->tty;
		fflush(stderr);
		return;
	}
	if (st->lag_seconds < 0)
		snprintf(lag, sizeof(lag), "-");
	else if (st->lag_changes >= 0)
		snprintf(lag, sizeof(lag), "%.2f s %lld ch", st->lag_seconds, (long long)st->lag_changes);
	else
		snprintf(lag, sizeof(lag), "%.2f s", st->lag_seconds);
	/* One line, under 80 columns, redrawn in place on a terminal; a line per interval
	 * when piped. */
	fprintf(stderr, "%s%-9s %10lld changes %8.0f/s  lag %-16s +%lld -%lld%s",
	        v->tty ? "\r\033[K" : "",
	        st->way_back && st->phase == FERRY_SYNC_STREAMING ? "way back" : phase_names[st->phase],
	        (long long)st->changes_applied,
	        st->apply_rate, lag, (long long)st->rows_upserted, (long long)st->rows_deleted,
	        v->tty ? "" : "\n");
	v->drawn = v->tty;
	fflush(stderr);
}

/* The snapshot copy's notes (a column dropped or defaulted, ...): sync prints no summary,
 * so each is said as it comes: a line "note: ..." on stderr, or with --json a line
 * {"event":"note","code","table","column","message"} on stdout. The rest is progress. */
typedef struct sync_progress {
	sync_view *v;
	cli_progress *pr;
	char **said;               /* the notes said already: a sync resolves its plan more than
	                              once (the online check, the snapshot copy, a resume) */
	size_t nsaid;
} sync_progress;

/* 1 when msg was said already; else remembered (when memory allows) and 0. */
static int said_before(sync_progress *sp, const char *msg)
{
	for (size_t i = 0; i < sp->nsaid; i++)
		if (strcmp(sp->said[i], msg) == 0)
			return 1;
	char **n = realloc(sp->said, (sp->nsaid + 1) * sizeof(char *));
	if (n) {
		sp->said = n;
		if ((n[sp->nsaid] = strdup(msg)) != NULL)
			sp->nsaid++;
	}
	return 0;
}

static void json_field(const char *name, const char *s)
{
	printf(",\"%s\":", name);
	if (!s) {
		fputs("null", stdout);
		return;
	}
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

static void on_progress(void *ud, const ferry_progress *p)
{
	sync_progress *sp = ud;
	if (p->kind != FERRY_PROGRESS_NOTE || !p->message) {
		cli_progress_event(sp->pr, p);
		return;
	}
	if (said_before(sp, p->message))
		return;
	if (sp->v->json) {
		fputs("{\"event\":\"note\"", stdout);
		json_field("code", p->code ? p->code : "note");
		json_field("table", p->table);
		json_field("column", p->column);
		json_field("message", p->message);
		fputs("}\n", stdout);
		fflush(stdout);
	} else if (!sp->v->quiet) {
		fprintf(stderr, "%snote: %s\n", sp->v->drawn ? "\r\033[K" : "", p->message);
		sp->v->drawn = 0;
	}
}

static int parse_seconds(const char *s, double *out)
{
	char *end;
	double v = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || !(v > 0) || v > 86400)
		return -1;
	*out = v;
	return 0;
}

/* Parse the options into o and v; -1 to go on, or an exit code. */
static int parse(int argc, char **argv, ferry_sync_options *o, sync_view *v, const char **plan)
{
	static const struct option longopts[] = {
		{"plan", required_argument, NULL, 'p'}, {"threads", required_argument, NULL, 'j'},
		{"chunk-rows", required_argument, NULL, 'c'}, {"strict", no_argument, NULL, 'S'},
		{"max-rejects", required_argument, NULL, 'm'},
		{"until-caught-up", no_argument, NULL, 'U'}, {"max-lag", required_argument, NULL, 'L'},
		{"heartbeat", required_argument, NULL, 'H'}, {"finish", no_argument, NULL, 'F'},
		{"json", no_argument, NULL, 'J'}, {"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'}, {"standby", no_argument, NULL, 'W'},
		{"lease", required_argument, NULL, 'E'}, {"both-ways", no_argument, NULL, 'B'},
		{NULL, 0, NULL, 0},
	};
	int c;
	long long n;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":p:j:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'p': *plan = optarg; break;
		case 'j':
			if (cli_parse_count(optarg, 0, &n) != 0 || n > 4096) {
				cli_error("--threads must be a whole number from 0 to 4096, not \"%s\"", optarg);
				return FERRY_EXIT_USAGE;
			}
			o->copy.threads = (int)n;
			break;
		case 'c':
			if (cli_parse_count(optarg, 1, &n) != 0) {
				cli_error("--chunk-rows must be a whole number >= 1, not \"%s\"", optarg);
				return FERRY_EXIT_USAGE;
			}
			o->copy.chunk_rows = n;
			break;
		case 'S': o->copy.strict = 1; break;
		case 'm':
			if (cli_parse_count(optarg, 0, &n) != 0) {
				cli_error("--max-rejects must be a whole number >= 0, not \"%s\"", optarg);
				return FERRY_EXIT_USAGE;
			}
			o->copy.max_rejects = n;
			break;
		case 'U': o->until_caught_up = 1; break;
		case 'L':
		case 'H':
			if (parse_seconds(optarg, c == 'L' ? &o->max_lag : &o->heartbeat) != 0) {
				cli_error("%s takes seconds above 0 (e.g. 0.5), not \"%s\"",
				          c == 'L' ? "--max-lag" : "--heartbeat", optarg);
				return FERRY_EXIT_USAGE;
			}
			break;
		case 'F': o->finish = 1; break;
		case 'B': o->both_ways = 1; break;
		case 'W': o->copy.standby = 1; break;
		case 'E':
			if (cli_parse_duration_ms(optarg, 300, 3600000, &n) != 0) {
				cli_error("--lease must be a time from 300ms to 1h (10s, 500ms, 2m), not \"%s\"", optarg);
				return FERRY_EXIT_USAGE;
			}
			o->copy.lease_ms = n;
			break;
		case 'J': v->json = 1; break;
		case 'q': v->quiet = 1; break;
		case 'h':
			fputs(cmd_sync_usage, stdout);
			fputs(cli_exit_codes, stdout);
			return 0;
		case ':':
			cli_error("option %s needs a value (see 'ferry sync --help')", argv[optind - 1]);
			return FERRY_EXIT_USAGE;
		default:
			cli_error("unknown option \"%s\" (see 'ferry sync --help')", argv[optind - 1]);
			return FERRY_EXIT_USAGE;
		}
	}
	if (o->finish && o->both_ways) {
		cli_error("--finish and --both-ways cannot be used together");
		return FERRY_EXIT_USAGE;
	}
	if (o->finish && o->until_caught_up) {
		cli_error("--finish and --until-caught-up cannot be used together");
		return FERRY_EXIT_USAGE;
	}
	return -1;
}

int cmd_sync(int argc, char **argv)
{
	ferry_sync_options o = FERRY_SYNC_OPTIONS_INIT;
	sync_view v = {0};
	const char *plan_path = NULL;
	int rc = parse(argc, argv, &o, &v, &plan_path);
	if (rc >= 0)
		return rc;
	int npos = argc - optind;
	if (plan_path ? npos != 0 : npos != 2) {
		cli_error(plan_path ? "a plan names its ends: give -p PLAN or SOURCE TARGET, not both"
		                    : "sync needs SOURCE TARGET, or -p PLAN (see 'ferry sync --help')");
		return FERRY_EXIT_USAGE;
	}
	ferry_ctx *ctx;
	ferry_plan *plan;
	rc = cli_open(&ctx, &plan, plan_path, plan_path ? NULL : argv[optind],
	              plan_path ? NULL : argv[optind + 1]);
	if (rc >= 0)
		return rc;
	v.tty = isatty(fileno(stderr));
	o.status = on_status;
	o.status_ud = &v;
	o.status_interval = v.tty ? 0.5 : 5;
	cli_progress *pr = cli_progress_new(stderr, v.quiet || v.json);
	sync_progress sp = {.v = &v, .pr = pr};
	o.copy.progress = on_progress;
	o.copy.progress_ud = &sp;
	cli_trap_signals(ctx);
	rc = ferry_sync(ctx, plan, &o);
	cli_trap_signals(NULL);
	cli_progress_finish(pr);
	if (v.drawn)
		fputc('\n', stderr);
	if (rc != 0)
		cli_error("%s", ferry_errmsg(ctx));
	cli_progress_free(pr);
	for (size_t i = 0; i < sp.nsaid; i++)
		free(sp.said[i]);
	free(sp.said);
	ferry_plan_free(plan);
	ferry_ctx_free(ctx);
	return cli_exit_for(rc);
}
