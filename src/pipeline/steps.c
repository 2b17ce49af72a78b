/* steps.c — the two-step migration: ferry_export (the read step: the plan's sources, through
 * its rules, into a label) and ferry_import (the write step: a label into the target), both
 * ferry_copy with a label at one end; and ferry_label_inspect / ferry_label_verify. What
 * they read and write of the label's manifest is src/label's (import.c, report.c). */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "pipeline.h"
#include "../label/label.h"
#include "../verify/verify.h"

static int fail(ferry_ctx *ctx, int code, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 3, 4)))
#endif
	;

static int fail(ferry_ctx *ctx, int code, const char *fmt, ...)
{
	ferry_err err = {0};
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err.msg, sizeof(err.msg), fmt, ap);
	va_end(ap);
	err.code = code;
	return ferry__ctx_fail(ctx, &err);
}

static const char *label_dir_of(const ferry_plan *plan, const char *label_dir)
{
	return label_dir ? label_dir : plan ? plan->label : NULL;
}

int ferry_export(ferry_summary **out, ferry_ctx *ctx, const ferry_plan *plan,
                 const char *label_dir, const ferry_copy_options *opts)
{
	*out = NULL;
	const char *dir = label_dir_of(plan, label_dir);
	if (!dir)
		return fail(ctx, FERRY_EUSAGE, "export needs a label directory: the plan's \"label:\" or --label DIR");
	if (opts && opts->verify)
		return fail(ctx, FERRY_EUSAGE, "export does not verify: verify the import of its label (import --verify)");
	/* The same plan, with the label as its target; a target schema belongs to the import. */
	ferry_plan p = *plan;
	p.target = ferry__label_url(dir);
	p.nschema = 0;
	p.schema_files = NULL;
	if (!p.target)
		return fail(ctx, FERRY_ENOMEM, "out of memory");
	/* A check writes nothing: not even the label's directory. */
	struct stat st;
	int existed = stat(dir, &st) == 0;
	int check = opts && opts->version == FERRY_COPY_OPTIONS_VERSION && opts->check_only;
	int rc = ferry_copy(out, ctx, &p, opts);
	free(p.target);
	if (check) {
		if (!existed)
			rmdir(dir);
		return rc;
	}
	if (rc == 0 || rc == FERRY_EREJECT) {
		ferry_err err = {0};
		if (ferry__label_describe(ctx, dir, plan, &err) != 0)
			return ferry__ctx_fail(ctx, &err);
	}
	return rc;
}

int ferry_import(ferry_summary **out, ferry_ctx *ctx, const ferry_plan *plan,
                 const char *label_dir, const char *target_url, const ferry_copy_options *opts)
{
	*out = NULL;
	const char *dir = label_dir_of(plan, label_dir);
	if (!dir)
		return fail(ctx, FERRY_EUSAGE, "import needs a label directory: the plan's \"label:\" or --label DIR");
	if (!plan && !target_url)
		return fail(ctx, FERRY_EUSAGE, "import needs a target: a plan or a TARGET");
	ferry_err err = {0};
	ferry_plan *p = NULL;
	int rc = ferry__label_import_plan(&p, dir, opts ? opts->stage : NULL, plan, target_url, &err);
	if (rc)
		return ferry__ctx_fail(ctx, &err);
	rc = ferry_copy(out, ctx, p, opts);
	ferry_plan_free(p);
	/* Without a plan, what a plan would add is not done: say so rather than skip it
	 * silently. */
	if (!plan && *out &&
	    ferry__summary_note_at(*out, "import_without_plan", NULL, NULL, "import without a plan: no target_schema is applied (tables the target lacks are created as the label describes them) and the settings are the defaults; give -p PLAN for its target_schema, settings and verify rules") != 0)
		return fail(ctx, FERRY_ENOMEM, "out of memory");
	return rc;
}

/* ---- inspect and verify ---------------------------------------------------------------- */

int ferry_verify(ferry_verify_report **out, ferry_ctx *ctx, const ferry_plan *plan,
                 const ferry_verify_options *opts)
{
	*out = NULL;
	ferry_verify_options defaults = FERRY_VERIFY_OPTIONS_INIT;
	if (!opts)
		opts = &defaults;
	if (opts->version != FERRY_VERIFY_OPTIONS_VERSION)
		return fail(ctx, FERRY_EUSAGE, "unknown ferry_verify_options version %u", opts->version);
	ferry_err err = {0};
	if (!opts->label_dir) {
		if (!plan)
			return fail(ctx, FERRY_EUSAGE, "verify needs a plan, or a label and a target");
		int rc = ferry__verify_run(out, ctx, plan, opts, &err);
		return rc ? ferry__ctx_fail(ctx, &err) : 0;
	}
	if (!plan && !opts->target_url)
		return fail(ctx, FERRY_EUSAGE, "verify needs a target: a plan or a TARGET");
	ferry_plan *p = NULL;
	int rc = ferry__label_import_plan(&p, opts->label_dir, NULL, plan, opts->target_url, &err);
	if (rc)
		return ferry__ctx_fail(ctx, &err);
	rc = ferry__verify_run(out, ctx, p, opts, &err);
	ferry_plan_free(p);
	return rc ? ferry__ctx_fail(ctx, &err) : 0;
}

int ferry_label_inspect(ferry_ctx *ctx, const char *dir, int json, FILE *f)
{
	ferry_err err = {0};
	return ferry__label_inspect(dir, json, f, &err) ? ferry__ctx_fail(ctx, &err) : 0;
}

int ferry_label_verify(ferry_ctx *ctx, const char *dir, int json, FILE *f)
{
	ferry_err err = {0};
	return ferry__label_verify(dir, json, f, &err) ? ferry__ctx_fail(ctx, &err) : 0;
}
