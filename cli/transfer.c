/* transfer.c — what copy, export and import share: their options, the run with progress,
 * the summary and the exit code. Each command's file holds its usage text. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"

int cli_parse_count(const char *s, long long min, long long *out)
{
	char *end;
	long long v = strtoll(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v < min)
		return -1;
	*out = v;
	return 0;
}

int cli_parse_duration_ms(const char *s, long long min_ms, long long max_ms, long long *out)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || v < 0)
		return -1;
	double mul = 1000.0;
	if (strcmp(end, "ms") == 0)
		mul = 1.0;
	else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
		mul = 60000.0;
	else if (*end && strcmp(end, "s") != 0)
		return -1;
	double ms = v * mul;
	if (ms < (double)min_ms || ms > (double)max_ms)
		return -1;
	*out = (long long)ms;
	return 0;
}

static const char *const mode_names[] = {"copy", "export", "import"};

void cli_json_error(FILE *f, ferry_ctx *ctx, int exit_code, const ferry_summary *committed)
{
	const char *msg = ctx ? ferry_errmsg(ctx) : ferry_error_last();
	fputs("{\"error\":{\"message\":\"", f);
	for (const unsigned char *s = (const unsigned char *)(msg ? msg : ""); *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if (*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			fputc(*s, f);
	}
	fprintf(f, "\",\"exit_code\":%d},\"committed\":", exit_code);
	/* The figures of what a failed run committed (its chunks are kept; a rerun resumes),
	 * or null when nothing was. */
	char *buf = NULL;
	size_t len = 0;
	FILE *m = committed ? open_memstream(&buf, &len) : NULL;
	if (m && ferry_summary_write_json(committed, m) == 0 && fclose(m) == 0 && buf) {
		while (len > 0 && buf[len - 1] == '\n')
			len--;
		fwrite(buf, 1, len, f);
	} else {
		if (m && buf == NULL)
			fclose(m);
		fputs("null", f);
	}
	free(buf);
	fputs("}\n", f);
}

int cli_transfer(int argc, char **argv, cli_mode mode, const char *usage)
{
	static const struct option longopts[] = {
		{"plan", required_argument, NULL, 'p'},
		{"label", required_argument, NULL, 'L'},
		{"threads", required_argument, NULL, 'j'},
		{"chunk-rows", required_argument, NULL, 'c'},
		{"stage", required_argument, NULL, 's'},
		{"strict", no_argument, NULL, 'S'},
		{"truncate", no_argument, NULL, 'T'},
		{"append", no_argument, NULL, 'A'},
		{"max-rejects", required_argument, NULL, 'm'},
		{"rejects", required_argument, NULL, 'r'},
		{"check", no_argument, NULL, 'C'},
		{"dry-run", no_argument, NULL, 'C'},
		{"verify", optional_argument, NULL, 'V'},
		{"json", no_argument, NULL, 'J'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{"standby", no_argument, NULL, 'W'},
		{"join", no_argument, NULL, 'N'},
		{"lease", required_argument, NULL, 'E'},
		{"types", required_argument, NULL, 'Y'},
		{NULL, 0, NULL, 0},
	};
	const char *name = mode_names[mode];
	ferry_copy_options o = FERRY_COPY_OPTIONS_INIT;
	const char *plan_path = NULL, *label = NULL;
	int json = 0, quiet = 0, c;
	long long v;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":p:j:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'p': plan_path = optarg; break;
		case 'L':
			if (mode == CLI_COPY) {
				cli_error("copy takes no --label (export and import do)");
				return FERRY_EXIT_USAGE;
			}
			label = optarg;
			break;
		case 'j':
			if (cli_parse_count(optarg, 0, &v) != 0 || v > 4096) {
				cli_error("--threads must be a whole number from 0 to 4096, not \"%s\"", optarg);
				return FERRY_EXIT_USAGE;
			}
			o.threads = (int)v;
			break;
		case 'c':
			if (cli_parse_count(optarg, 1, &v) != 0) {
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
			if (cli_parse_count(optarg, 0, &v) != 0) {
				cli_error("--max-rejects must be a whole number >= 0, not \"%s\"", optarg);
				return FERRY_EXIT_USAGE;
			}
			o.max_rejects = v;
			break;
		case 'r': o.rejects_path = optarg; break;
		case 'C': o.check_only = 1; break;
		case 'V':
			if (mode == CLI_EXPORT) {
				cli_error("export takes no --verify: verify the import of its label (ferry import --verify)");
				return FERRY_EXIT_USAGE;
			}
			if (optarg && strcmp(optarg, "full") != 0 && strcmp(optarg, "sampled") != 0) {
				cli_error("--verify takes no value, =sampled or =full, not \"%s\"", optarg);
				return FERRY_EXIT_USAGE;
			}
			o.verify = optarg && strcmp(optarg, "full") == 0 ? 2 : 1;
			break;
		case 'J': json = 1; break;
		case 'q': quiet = 1; break;
		case 'W': o.standby = 1; break;
		case 'N': o.join = 1; break;
		case 'E':
			if (cli_parse_duration_ms(optarg, 300, 3600000, &v) != 0) {
				cli_error("--lease must be a time from 300ms to 1h (10s, 500ms, 2m), not \"%s\"", optarg);
				return FERRY_EXIT_USAGE;
			}
			o.lease_ms = v;
			break;
		case 'Y':
			if (strcmp(optarg, "declared") != 0 && strcmp(optarg, "values") != 0) {
				cli_error("--types must be declared or values, not \"%s\"", optarg);
				return FERRY_EXIT_USAGE;
			}
			o.types_declared = strcmp(optarg, "declared") == 0;
			break;
		case 'h':
			fputs(usage, stdout);
			fputs(cli_exit_codes, stdout);
			return 0;
		case ':':
			cli_error("option %s needs a value (see 'ferry %s --help')", argv[optind - 1], name);
			return FERRY_EXIT_USAGE;
		default:
			cli_error("unknown option \"%s\" (see 'ferry %s --help')", argv[optind - 1], name);
			return FERRY_EXIT_USAGE;
		}
	}
	int npos = argc - optind;
	if (plan_path ? npos != 0 : npos != 2) {
		static const char *const forms[] = {"SOURCE TARGET", "SOURCE LABEL", "LABEL TARGET"};
		if (plan_path)
			cli_error("a plan names its ends: give -p PLAN or %s, not both", forms[mode]);
		else
			cli_error("%s needs %s, or -p PLAN (see 'ferry %s --help')", name, forms[mode], name);
		return FERRY_EXIT_USAGE;
	}
	if (o.standby && o.join) {
		cli_error("--standby and --join cannot be used together: a standby waits for the run, a joiner shares it");
		return FERRY_EXIT_USAGE;
	}
	if (mode == CLI_EXPORT && (o.standby || o.join)) {
		cli_error("export takes no --standby or --join: a label keeps its record in its own files, not in a database that could hold the run's lease (run one export of a label at a time)");
		return FERRY_EXIT_USAGE;
	}
	if (mode == CLI_EXPORT && (o.truncate || o.append)) {
		cli_error("--truncate and --append are for copy and import");
		return FERRY_EXIT_USAGE;
	}

	ferry_ctx *ctx;
	ferry_plan *plan;
	int rc = cli_open_json(&ctx, &plan, plan_path, !plan_path && mode != CLI_IMPORT ? argv[optind] : NULL,
	                       plan_path ? NULL : argv[optind + 1], json);
	if (rc >= 0)
		return rc;
	if (!plan_path && mode == CLI_EXPORT)
		label = argv[optind + 1];
	if (!plan_path && mode == CLI_IMPORT)
		label = argv[optind];
	cli_progress *pr = cli_progress_new(stderr, quiet);
	o.progress = cli_progress_event;
	o.progress_ud = pr;
	cli_trap_signals(ctx);
	ferry_summary *sum = NULL, *partial = NULL;
	o.summary_on_failure = &partial; /* the report of a failed run */
	if (mode == CLI_COPY)
		rc = ferry_copy(&sum, ctx, plan, &o);
	else if (mode == CLI_EXPORT)
		rc = ferry_export(&sum, ctx, plan, label, &o);
	else
		rc = ferry_import(&sum, ctx, plan, label, plan ? NULL : argv[optind + 1], &o);
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
		const ferry_verify_report *vr = ferry_summary_verify(sum);
		if (rc == 0 && vr && !ferry_verify_report_ok(vr)) {
			if (code == FERRY_EXIT_OK)
				code = FERRY_EXIT_DIFFERENT;
			if (quiet && !json) /* the summary was not printed: the report goes to stderr */
				ferry_verify_report_write_text(vr, stderr);
			cli_error("--verify: the target differs from what the plan says it should hold (see the report)");
		}
	}
	if (rc != 0)
		cli_error("%s", ferry_errmsg(ctx));
	/* --json: a failure is one object on stdout too, with what was committed before it. */
	if (rc != 0 && json && !(sum && (rc == FERRY_EREJECT || rc == FERRY_EINTR)))
		cli_json_error(stdout, ctx, code, sum);
	ferry_summary_free(sum);
	cli_progress_free(pr);
	ferry_plan_free(plan);
	ferry_ctx_free(ctx);
	return code;
}
