/* cmd_label.c — `ferry label inspect|verify DIR`: what a label holds, and whether every
 * block of it is intact. */
#include <string.h>
#include "cli.h"

const char cmd_label_usage[] =
	"usage: ferry label inspect [--json] DIR\n"
	"       ferry label verify [--json] DIR\n"
	"\n"
	"inspect  show the label's stages, tables, rows, sizes and compression ratio\n"
	"verify   re-read every block of every chunk and check every checksum, the row counts\n"
	"         and the row-set digests; exit 1 naming the first damaged file when anything\n"
	"         is wrong\n"
	"\n"
	"Options:\n"
	"      --json            machine-readable output\n"
	"  -h, --help            this help\n"
	"\n";

int cmd_label(int argc, char **argv)
{
	const char *verb = NULL, *dir = NULL;
	int json = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			fputs(cmd_label_usage, stdout);
			fputs(cli_exit_codes, stdout);
			return 0;
		} else if (strcmp(argv[i], "--json") == 0) {
			json = 1;
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			cli_error("unknown option \"%s\" (see 'ferry label --help')", argv[i]);
			return FERRY_EXIT_USAGE;
		} else if (!verb) {
			verb = argv[i];
		} else if (!dir) {
			dir = argv[i];
		} else {
			cli_error("label %s takes one directory (see 'ferry label --help')", verb);
			return FERRY_EXIT_USAGE;
		}
	}
	if (!verb || !dir || (strcmp(verb, "inspect") != 0 && strcmp(verb, "verify") != 0)) {
		cli_error("usage: ferry label inspect|verify [--json] DIR");
		return FERRY_EXIT_USAGE;
	}
	ferry_ctx *ctx;
	if (ferry_ctx_new(&ctx) != 0) {
		cli_error("%s", ferry_error_last());
		return FERRY_EXIT_FAILURE;
	}
	int rc = strcmp(verb, "inspect") == 0 ? ferry_label_inspect(ctx, dir, json, stdout)
	                                      : ferry_label_verify(ctx, dir, json, stdout);
	if (rc)
		cli_error("%s", ferry_errmsg(ctx));
	ferry_ctx_free(ctx);
	return rc == FERRY_ECORRUPT ? FERRY_EXIT_FAILURE : cli_exit_for(rc);
}
