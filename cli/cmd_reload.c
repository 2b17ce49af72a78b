/* cmd_reload.c — `ferry reload-rejects`: the rows a run refused, fixed in its reject file,
 * loaded into the target, each once. */
#include <getopt.h>
#include "cli.h"

const char cmd_reload_usage[] =
	"usage: ferry reload-rejects [options] REJECTS.jsonl TARGET\n"
	"\n"
	"Load the rows of a reject file into the target that refused them, once they are\n"
	"fixed: edit a row's \"values\" in the file (the reject file of copy, import or\n"
	"backfill: one JSON object a line, {\"table\", \"key\", \"reason\", \"values\"}), delete the\n"
	"lines of rows that should not be loaded, then reload. One transaction; each row is\n"
	"loaded at most once into a target, so reloading the same file (or a file that still\n"
	"holds rows loaded before) loads only the rows not loaded yet. Rows the target refuses\n"
	"again are written, with the new reason, to REJECTS.again.jsonl (exit 3): fix them\n"
	"there and reload that file. Then 'ferry verify' compares the target with the plan.\n"
	"\n"
	"TARGET is the target's URL, as for copy.\n"
	"\n"
	"Options:\n"
	"      --rejects FILE    where rows refused again go (default: REJECTS.again.jsonl)\n"
	"      --json            print the summary as JSON on stdout\n"
	"  -q, --quiet           print nothing on success\n"
	"  -h, --help            this help\n"
	"\n"
	"Examples:\n"
	"  ferry reload-rejects new.db.rejects.jsonl new.db\n"
	"  ferry reload-rejects plan.rejects.jsonl postgresql://app@db/shop --json\n"
	"\n";

int cmd_reload(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"rejects", required_argument, NULL, 'r'},
		{"json", no_argument, NULL, 'J'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *again = NULL;
	int json = 0, quiet = 0, c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'r': again = optarg; break;
		case 'J': json = 1; break;
		case 'q': quiet = 1; break;
		case 'h':
			fputs(cmd_reload_usage, stdout);
			fputs(cli_exit_codes, stdout);
			return 0;
		case ':':
			cli_error("option %s needs a value (see 'ferry reload-rejects --help')", argv[optind - 1]);
			return FERRY_EXIT_USAGE;
		default:
			cli_error("unknown option \"%s\" (see 'ferry reload-rejects --help')", argv[optind - 1]);
			return FERRY_EXIT_USAGE;
		}
	}
	if (argc - optind != 2) {
		cli_error("reload-rejects needs REJECTS.jsonl TARGET (see 'ferry reload-rejects --help')");
		return FERRY_EXIT_USAGE;
	}
	ferry_ctx *ctx;
	if (ferry_ctx_new(&ctx) != 0) {
		cli_error("%s", ferry_error_last());
		return FERRY_EXIT_FAILURE;
	}
	ferry_summary *sum = NULL;
	int rc = ferry_reload_rejects(&sum, ctx, argv[optind], argv[optind + 1], again);
	int code = cli_exit_for(rc);
	if (sum) {
		if (json)
			ferry_summary_write_json(sum, stdout);
		else if (!quiet || rc != 0)
			ferry_summary_write_text(sum, stdout);
	}
	if (rc != 0)
		cli_error("%s", ferry_errmsg(ctx));
	if (rc != 0 && json && !sum)
		cli_json_error(stdout, ctx, code, NULL);
	ferry_summary_free(sum);
	ferry_ctx_free(ctx);
	return code;
}
