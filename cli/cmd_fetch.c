/* cmd_fetch.c — `ferry fetch`: load named rows of a `later:` table now, through the plan,
 * exactly once whether the backfill got there first or not. */
#include <getopt.h>
#include <string.h>
#include "cli.h"

const char cmd_fetch_usage[] =
	"usage: ferry fetch [options] -p PLAN.yaml TABLE KEY...\n"
	"\n"
	"Load now the rows of TABLE (a table whose plan entry has later:, by its target name\n"
	"or its source name) whose keys are given, through the plan, in one transaction. A row\n"
	"already in the target (carried, backfilled, fetched before, or written by the\n"
	"application) is left as it is. For a key of several columns give its values one after\n"
	"another, in the target's primary-key order.\n"
	"\n"
	"Options:\n"
	"  -p, --plan FILE       the migration plan (YAML; see docs/PLAN-REFERENCE.md)\n"
	"      --json            print what was done as JSON on stdout\n"
	"  -q, --quiet           print nothing but errors\n"
	"  -h, --help            this help\n"
	"\n"
	"Exit 7 when a key has neither a row that waits in the source nor one in the target\n"
	"(the other keys were loaded).\n"
	"\n"
	"Example:\n"
	"  ferry fetch -p plan.yaml billing_infos 4711 4712\n"
	"\n";

/* s as a JSON string (a table name comes from the command line: anything may be in it). */
static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

int cmd_fetch(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"plan", required_argument, NULL, 'p'},
		{"json", no_argument, NULL, 'J'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *plan_path = NULL;
	int json = 0, quiet = 0, c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":p:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'p': plan_path = optarg; break;
		case 'J': json = 1; break;
		case 'q': quiet = 1; break;
		case 'h':
			fputs(cmd_fetch_usage, stdout);
			fputs(cli_exit_codes, stdout);
			return 0;
		case ':':
			cli_error("option %s needs a value (see 'ferry fetch --help')", argv[optind - 1]);
			return FERRY_EXIT_USAGE;
		default:
			cli_error("unknown option \"%s\" (see 'ferry fetch --help')", argv[optind - 1]);
			return FERRY_EXIT_USAGE;
		}
	}
	if (!plan_path || argc - optind < 2) {
		cli_error("fetch needs -p PLAN, a table and at least one key (see 'ferry fetch --help')");
		return FERRY_EXIT_USAGE;
	}
	ferry_ctx *ctx;
	ferry_plan *plan;
	int rc = cli_open(&ctx, &plan, plan_path, NULL, NULL);
	if (rc >= 0)
		return rc;
	ferry_fetch_result r;
	rc = ferry_fetch(&r, ctx, plan, argv[optind], (size_t)(argc - optind - 1),
	                 (const char *const *)argv + optind + 1);
	int code = cli_exit_for(rc);
	if (rc != 0) {
		cli_error("%s", ferry_errmsg(ctx));
	} else {
		if (json) {
			fputs("{\"table\":", stdout);
			json_str(stdout, argv[optind]);
			printf(",\"requested\":%zu,\"loaded\":%zu,\"present\":%zu,\"missing\":%zu,\"seconds\":%.6f}\n",
			       r.requested, r.loaded, r.present, r.missing, r.seconds);
		}
		else if (!quiet)
			printf("%s: %zu loaded, %zu already there, %zu not found (%.1f ms)\n", argv[optind],
			       r.loaded, r.present, r.missing, r.seconds * 1e3);
		if (r.missing) {
			cli_error("key %s of table \"%s\" not found: no row of it waits in the source and the target has none%s",
			          r.first_missing, argv[optind], r.missing > 1 ? " (and others)" : "");
			code = FERRY_EXIT_NOT_FOUND;
		}
	}
	ferry_plan_free(plan);
	ferry_ctx_free(ctx);
	return code;
}
