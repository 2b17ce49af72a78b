/* cmd_migrate.c — `ferry migrate`: apply the pending versions of a migration directory, and
 * the helpers the other migration commands (status, history, validate, baseline, repair,
 * down) share: their option parser and the printer of the library's events. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

const char cmd_migrate_usage[] =
	"usage: ferry migrate DB [-d DIR] [--to V] [--dry-run] [options]\n"
	"\n"
	"Apply the pending migrations of DIR to the database DB in version order, each in its\n"
	"own transaction together with its row in the table ferry_history, under a lock that\n"
	"keeps two ferry processes from migrating one database at once. Files are named\n"
	"V<version>__<description>.sql (versions compare numerically per dot: 1.9 < 1.10);\n"
	"see docs/MIGRATIONS.md. Nothing runs while a migration failed, an applied file\n"
	"changed or is missing, or a new file is older than the newest applied version: every\n"
	"problem is listed, one per line.\n"
	"\n"
	"DB is a URL: sqlite:PATH, a bare PATH, or postgresql://...\n"
	"\n"
	"Options:\n"
	"  -d, --dir DIR           the migration files (default ./migrations)\n"
	"      --to V              apply versions up to V only\n"
	"      --dry-run           print the statements of each pending migration and the row\n"
	"                          that would be recorded; change nothing\n"
	"      --allow-out-of-order  apply a new file older than the newest applied version\n"
	"      --ignore-missing    an applied version whose file is gone is not a problem\n"
	"      --lock-timeout S    seconds to wait for another ferry's migration lock\n"
	"                          (default 60; 0 = fail at once)\n"
	"  -q, --quiet             print errors only\n"
	"  -h, --help              this help\n"
	"\n"
	"Examples:\n"
	"  ferry migrate app.db\n"
	"  ferry migrate sqlite:app.db -d db/migrations --to 1.4\n"
	"  ferry migrate app.db --dry-run\n"
	"\n";

static int parse_seconds(const char *s, int *out)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v < 0 || v > 86400 * 7)
		return -1;
	*out = (int)v;
	return 0;
}

int cli_mig_parse(cli_mig_args *a, int argc, char **argv, unsigned allowed, int npos,
                  const char *cmd, const char *usage)
{
	static const struct option longopts[] = {
		{"dir", required_argument, NULL, 'd'},
		{"to", required_argument, NULL, 't'},
		{"dry-run", no_argument, NULL, 'n'},
		{"allow-out-of-order", no_argument, NULL, 'o'},
		{"ignore-missing", no_argument, NULL, 'm'},
		{"lock-timeout", required_argument, NULL, 'l'},
		{"description", required_argument, NULL, 'D'},
		{"json", no_argument, NULL, 'J'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	static const unsigned need[128] = {
		['d'] = CLI_MO_DIR, ['t'] = CLI_MO_TO, ['n'] = CLI_MO_DRY, ['o'] = CLI_MO_ORDER,
		['m'] = CLI_MO_MISSING, ['l'] = CLI_MO_LOCK, ['D'] = CLI_MO_DESC, ['J'] = CLI_MO_JSON,
		['q'] = CLI_MO_QUIET,
	};
	ferry_migrate_options init = FERRY_MIGRATE_OPTIONS_INIT;
	memset(a, 0, sizeof(*a));
	a->o = init;
	int c;
	optind = 1;
	opterr = 0;
	/* Options may come before or after DB: GNU getopt permutes the arguments. */
	while ((c = getopt_long(argc, argv, ":d:qh", longopts, NULL)) != -1) {
		if (c > 0 && c < 128 && need[c] && !(allowed & need[c])) {
			const char *name = "?";
			for (const struct option *lo = longopts; lo->name; lo++)
				if (lo->val == c)
					name = lo->name;
			cli_error("ferry %s has no option --%s (see 'ferry %s --help')", cmd, name, cmd);
			return FERRY_EXIT_USAGE;
		}
		switch (c) {
		case 'd': a->o.dir = optarg; break;
		case 't': a->o.target = optarg; break;
		case 'n': a->o.dry_run = 1; break;
		case 'o': a->o.allow_out_of_order = 1; break;
		case 'm': a->o.ignore_missing = 1; break;
		case 'l':
			if (parse_seconds(optarg, &a->o.lock_timeout) != 0) {
				cli_error("--lock-timeout must be a whole number of seconds >= 0, not \"%s\"",
				          optarg);
				return FERRY_EXIT_USAGE;
			}
			break;
		case 'D': a->o.description = optarg; break;
		case 'J': a->json = 1; break;
		case 'q': a->quiet = 1; break;
		case 'h':
			fputs(usage, stdout);
			fputs(cli_exit_codes, stdout);
			return FERRY_EXIT_OK;
		case ':':
			cli_error("option %s needs a value (see 'ferry %s --help')", argv[optind - 1], cmd);
			return FERRY_EXIT_USAGE;
		default:
			cli_error("unknown option \"%s\" (see 'ferry %s --help')", argv[optind - 1], cmd);
			return FERRY_EXIT_USAGE;
		}
	}
	if (argc - optind != npos) {
		cli_error("ferry %s needs %s (see 'ferry %s --help')", cmd,
		          npos == 1 ? "the database DB" : "the database DB and a version V", cmd);
		return FERRY_EXIT_USAGE;
	}
	a->db = argv[optind];
	a->version = npos > 1 ? argv[optind + 1] : NULL;
	a->o.event = cli_mig_event;
	a->o.event_ud = a;
	a->o.cache_dir = cli_cache_dir(a->cache_dir, sizeof(a->cache_dir));
	return -1;
}

const char *cli_cache_dir(char *buf, size_t cap)
{
	const char *own = getenv("FERRY_CACHE_DIR");
	const char *xdg = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");
	int n;
	if (own)
		n = *own ? snprintf(buf, cap, "%s", own) : -1; /* set and empty: no cache */
	else if (xdg && *xdg == '/')
		n = snprintf(buf, cap, "%s/ferry", xdg);
	else if (home && *home == '/')
		n = snprintf(buf, cap, "%s/.cache/ferry", home);
	else
		n = -1;
	return n > 0 && (size_t)n < cap ? buf : NULL;
}

void cli_mig_event(void *ud, const ferry_migrate_event *ev)
{
	const cli_mig_args *a = ud;
	switch (ev->kind) {
	case FERRY_MIGRATE_WAIT:
		if (!a->quiet)
			cli_error("%s", ev->text);
		break;
	case FERRY_MIGRATE_PROBLEM:
		cli_error("%s", ev->text);
		break;
	case FERRY_MIGRATE_START:
		if (a->o.dry_run)
			printf("-- %s (version %s, %s): %s\n", ev->script, ev->version, ev->description,
			       ev->text ? ev->text : "");
		break;
	case FERRY_MIGRATE_STATEMENT:
		printf("-- line %d%s\n%s;\n", ev->line,
		       ev->autocommit ? " (outside a transaction)" : "", ev->text);
		break;
	case FERRY_MIGRATE_RECORD:
		printf("-- would record in ferry_history: %s\n\n", ev->text);
		break;
	case FERRY_MIGRATE_DONE:
		if (!a->quiet)
			printf("%s %s (version %s) in %lld ms\n",
			       strncmp(ev->description, "down: ", 6) == 0 ? "undid" : "applied", ev->script,
			       ev->version, (long long)ev->duration_ms);
		break;
	case FERRY_MIGRATE_NOTE:
		if (!a->quiet)
			printf("%s\n", ev->text);
		break;
	}
	fflush(stdout);
}

int cli_mig_fail(ferry_ctx *ctx, int rc)
{
	cli_error("%s", ferry_errmsg(ctx));
	return cli_exit_for(rc);
}

int cli_mig_ctx(ferry_ctx **ctx)
{
	if (ferry_ctx_new(ctx) != 0) {
		cli_error("%s", ferry_error_last());
		return FERRY_EXIT_FAILURE;
	}
	return -1;
}

int cmd_migrate(int argc, char **argv)
{
	cli_mig_args a;
	int code = cli_mig_parse(&a, argc, argv,
	                         CLI_MO_DIR | CLI_MO_TO | CLI_MO_DRY | CLI_MO_ORDER | CLI_MO_MISSING | CLI_MO_LOCK |
	                         CLI_MO_QUIET, 1, "migrate", cmd_migrate_usage);
	ferry_ctx *ctx;
	if (code >= 0 || (code = cli_mig_ctx(&ctx)) >= 0)
		return code;
	cli_trap_signals(ctx);
	int rc = ferry_migrate(ctx, a.db, &a.o);
	cli_trap_signals(NULL);
	code = rc ? cli_mig_fail(ctx, rc) : FERRY_EXIT_OK;
	ferry_ctx_free(ctx);
	return code;
}
