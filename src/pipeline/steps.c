/* steps.c — the two-step migration: ferry_export (the read step: the plan's sources, through
 * its rules, into a label) and ferry_import (the write step: a label into the target), both
 * ferry_copy with a label at one end; and ferry_label_inspect / ferry_label_verify. */
#include <stdlib.h>
#include <string.h>
#include "pipeline.h"
#include "../label/label.h"

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

/* What the label's engine cannot know: where the rows came from (URLs without passwords)
 * and the order of the stages. Recorded after each read step. */
static int describe_label(ferry_ctx *ctx, const ferry_plan *plan, const char *dir)
{
	ferry_err err = {0};
	ferry_label_manifest *m = NULL;
	int rc = ferry__manifest_read(&m, dir, &err);
	if (rc)
		return ferry__ctx_fail(ctx, &err);
	for (size_t i = 0; rc == 0 && i < plan->nsources; i++) {
		int known = 0;
		for (size_t k = 0; k < m->nsources; k++)
			known |= strcmp(m->sources[k].name, plan->sources[i].name) == 0;
		if (known)
			continue;
		ferry_err e2 = {0};
		const ferry_engine *eng = ferry__engine_for(ctx, plan->sources[i].url, &e2);
		char *masked = ferry_url_mask(plan->sources[i].url);
		if (!masked || !ferry__manifest_add_source(m, plan->sources[i].name, eng ? eng->name : "unknown",
		                                          masked, NULL))
			rc = ferry_err_set(&err, FERRY_ENOMEM, "out of memory");
		free(masked);
	}
	for (size_t i = 0; rc == 0 && i < m->nstages; i++) {
		ferry_label_stage *ls = &m->stages[i];
		for (size_t k = 0; rc == 0 && k < plan->nstages; k++) {
			const ferry_plan_stage *ps = &plan->stages[k];
			if (strcmp(ps->name, ls->name) != 0 || ls->nafter)
				continue;
			for (size_t a = 0; rc == 0 && a < ps->nafter; a++)
				if (ferry__manifest_stage_add_after(ls, ps->after[a]) != 0)
					rc = ferry_err_set(&err, FERRY_ENOMEM, "out of memory");
		}
	}
	if (rc == 0)
		rc = ferry__manifest_write(m, dir, &err);
	ferry__manifest_free(m);
	return rc ? ferry__ctx_fail(ctx, &err) : 0;
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
	p.target = ferry__sprintf("label:%s", dir);
	p.nschema = 0;
	p.schema_files = NULL;
	if (!p.target)
		return fail(ctx, FERRY_ENOMEM, "out of memory");
	int rc = ferry_copy(out, ctx, &p, opts);
	free(p.target);
	if (rc == 0 || rc == FERRY_EREJECT) {
		int rc2 = describe_label(ctx, plan, dir);
		if (rc2)
			return rc2;
	}
	return rc;
}

/* ---- import: a plan built from the label's manifest ------------------------------------ */

static char *dup(const char *s, int *bad)
{
	char *d = s ? ferry__strdup(s) : NULL;
	if (s && !d)
		*bad = 1;
	return d;
}

/* The write step's plan: one source (the label), each job of the label a table entry named
 * after its folder and renamed to its target table, in its stage, with its merge rules; the
 * target, target schema and settings of the user's plan (or just target_url). */
static ferry_plan *plan_from_label(const ferry_label_manifest *m, const char *dir,
                                   const ferry_plan *user, const char *target_url)
{
	int bad = 0;
	ferry_plan *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->path = user && user->path ? dup(user->path, &bad) : NULL;
	p->dir = user && user->dir ? dup(user->dir, &bad) : NULL;
	p->sources = calloc(1, sizeof(*p->sources));
	if (p->sources) {
		p->nsources = 1;
		p->sources[0].name = dup("label", &bad);
		p->sources[0].url = ferry__sprintf("label:%s", dir);
		bad |= !p->sources[0].url;
	}
	p->target = dup(user ? user->target : target_url, &bad);
	if (user && user->nschema) {
		p->schema_files = calloc(user->nschema, sizeof(char *));
		for (size_t i = 0; p->schema_files && i < user->nschema; i++)
			p->schema_files[p->nschema++] = dup(user->schema_files[i], &bad);
	}
	p->threads = user ? user->threads : 0;
	p->chunk_rows = user ? user->chunk_rows : 50000;
	p->max_rejects = user ? user->max_rejects : 0;
	p->strict = user ? user->strict : 0;
	p->copy_others = 0;
	if (user && user->nverify) {
		p->verify = calloc(user->nverify, sizeof(*p->verify));
		for (size_t i = 0; p->verify && i < user->nverify; i++) {
			p->verify[i] = user->verify[i];
			p->verify[i].table = dup(user->verify[i].table, &bad);
			p->nverify++;
		}
		bad |= !p->verify;
	}
	p->stages = calloc(m->nstages + 1, sizeof(*p->stages));
	for (size_t i = 0; p->stages && i < m->nstages; i++) {
		ferry_plan_stage *s = &p->stages[p->nstages++];
		s->name = dup(m->stages[i].name, &bad);
		s->after = calloc(m->stages[i].nafter + 1, sizeof(char *));
		for (size_t k = 0; s->after && k < m->stages[i].nafter; k++)
			s->after[s->nafter++] = dup(m->stages[i].after[k], &bad);
		bad |= !s->after;
	}
	/* The user's plan may have stages the label does not hold yet (exported later): the run
	 * is the plan's, so it is not finished until they are imported too. */
	size_t nuser = user ? user->nstages : 0;
	if (p->stages && nuser) {
		ferry_plan_stage *more = realloc(p->stages, (m->nstages + nuser + 1) * sizeof(*p->stages));
		if (!more)
			bad = 1;
		else
			p->stages = more;
	}
	for (size_t i = 0; !bad && p->stages && i < nuser; i++) {
		const ferry_plan_stage *us = &user->stages[i];
		int held = 0;
		for (size_t k = 0; k < m->nstages && !held; k++)
			held = strcmp(m->stages[k].name, us->name) == 0;
		if (held)
			continue;
		ferry_plan_stage *s = &p->stages[p->nstages++];
		memset(s, 0, sizeof(*s));
		s->absent = 1;
		s->name = dup(us->name, &bad);
		s->after = calloc(us->nafter + 1, sizeof(char *));
		for (size_t k = 0; s->after && k < us->nafter; k++)
			s->after[s->nafter++] = dup(us->after[k], &bad);
		bad |= !s->after;
	}
	p->tables = calloc(m->ntables + 1, sizeof(*p->tables));
	for (size_t i = 0; p->tables && i < m->ntables; i++) {
		const ferry_label_table *lt = &m->tables[i];
		ferry_plan_table *t = &p->tables[p->ntables++];
		const char *slash = strrchr(lt->dir, '/');
		t->table = dup(slash ? slash + 1 : lt->dir, &bad);
		t->rename = dup(lt->name, &bad);
		t->stage = dup(lt->stage, &bad);
		t->cols = calloc(lt->nconflict + 1, sizeof(*t->cols));
		for (size_t k = 0; t->cols && k < lt->nconflict; k++) {
			ferry_plan_column *c = &t->cols[t->ncols++];
			c->name = dup(lt->conflict_cols[k], &bad);
			c->conflict = lt->conflict_rules[k];
		}
		bad |= !t->cols;
	}
	if (bad || !p->sources || !p->stages || !p->tables || (user && user->nschema && !p->schema_files)) {
		ferry_plan_free(p);
		return NULL;
	}
	/* One import of one label into one target is one run, wherever the label now lives. */
	char *id = ferry__sprintf("%s\n%s\n%s", m->label_id_hex, user ? user->run_digest : "",
	                          p->target);
	if (!id) {
		ferry_plan_free(p);
		return NULL;
	}
	ferry__hash128_hex(p->run_digest, id, strlen(id));
	free(id);
	return p;
}

/* Refuse a label whose read step did not finish, naming what is missing. */
static int check_complete(ferry_ctx *ctx, const ferry_label_manifest *m, const char *dir,
                          const char *only_stage)
{
	int found = only_stage == NULL;
	for (size_t i = 0; i < m->nstages; i++) {
		const ferry_label_stage *s = &m->stages[i];
		if (only_stage && strcmp(only_stage, s->name) != 0)
			continue;
		found = 1;
		if (s->complete)
			continue;
		ferry_buf b = FERRY_BUF_INIT;
		for (size_t k = 0; k < m->ntables; k++)
			if (strcmp(m->tables[k].stage, s->name) == 0 && !m->tables[k].complete)
				ferry_buf_printf(&b, "%s%s", b.len ? ", " : "", m->tables[k].name);
		int rc = fail(ctx, FERRY_EUSAGE,
		              "label \"%s\": stage \"%s\" was not completely read (missing chunks of %s); run its export again to finish it",
		              dir, s->name, b.data ? b.data : "its tables");
		ferry_buf_free(&b);
		return rc;
	}
	if (!found)
		return fail(ctx, FERRY_EUSAGE, "label \"%s\" holds no stage \"%s\"", dir, only_stage);
	if (m->nstages == 0)
		return fail(ctx, FERRY_EUSAGE, "label \"%s\" holds no stage yet: run the export first", dir);
	return 0;
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
	ferry_label_manifest *m = NULL;
	int rc = ferry__manifest_read(&m, dir, &err);
	if (rc)
		return ferry__ctx_fail(ctx, &err);
	rc = check_complete(ctx, m, dir, opts ? opts->stage : NULL);
	ferry_plan *p = rc ? NULL : plan_from_label(m, dir, plan, target_url);
	if (rc == 0 && !p)
		rc = fail(ctx, FERRY_ENOMEM, "out of memory");
	ferry__manifest_free(m);
	if (rc)
		return rc;
	rc = ferry_copy(out, ctx, p, opts);
	ferry_plan_free(p);
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
	ferry_label_manifest *m = NULL;
	int rc = ferry__manifest_read(&m, opts->label_dir, &err);
	if (rc)
		return ferry__ctx_fail(ctx, &err);
	rc = check_complete(ctx, m, opts->label_dir, NULL);
	ferry_plan *p = rc ? NULL : plan_from_label(m, opts->label_dir, plan, opts->target_url);
	if (rc == 0 && !p)
		rc = fail(ctx, FERRY_ENOMEM, "out of memory");
	ferry__manifest_free(m);
	if (rc)
		return rc;
	rc = ferry__verify_run(out, ctx, p, opts, &err);
	ferry_plan_free(p);
	return rc ? ferry__ctx_fail(ctx, &err) : 0;
}

static void human_bytes(char *b, size_t n, double v)
{
	const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	int i = 0;
	while (v >= 1024 && i < 4) {
		v /= 1024;
		i++;
	}
	snprintf(b, n, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}

int ferry_label_inspect(ferry_ctx *ctx, const char *dir, int json, FILE *f)
{
	ferry_err err = {0};
	ferry_label_manifest *m = NULL;
	int rc = ferry__manifest_read(&m, dir, &err);
	if (rc)
		return ferry__ctx_fail(ctx, &err);
	ferry_buf b = FERRY_BUF_INIT;
	uint64_t all_rows = 0, all_bytes = 0, all_raw = 0;
	if (json) {
		ferry_buf_printf(&b, "{\"label\":");
		ferry_buf_json_str(&b, dir, strlen(dir));
		ferry_buf_printf(&b, ",\"label_id\":\"%s\",\"format_version\":%d,\"ferry_version\":", m->label_id_hex,
		                 m->format_version);
		ferry_buf_json_str(&b, m->ferry_version, strlen(m->ferry_version));
		ferry_buf_printf(&b, ",\"created_at\":\"%s\",\"plan_digest\":\"%s\",\"stages\":[", m->created_at,
		                 m->plan_digest);
	} else {
		ferry_buf_printf(&b, "label %s\n  id %s, format %d, written by ferry %s on %s\n", dir, m->label_id_hex,
		                 m->format_version, m->ferry_version, m->created_at);
		for (size_t i = 0; i < m->nsources; i++)
			ferry_buf_printf(&b, "  source %s: %s (%s)\n", m->sources[i].name, m->sources[i].url,
			                 m->sources[i].engine);
	}
	for (size_t s = 0; s < m->nstages; s++) {
		const ferry_label_stage *st = &m->stages[s];
		if (json) {
			ferry_buf_printf(&b, "%s{\"name\":", s ? "," : "");
			ferry_buf_json_str(&b, st->name, strlen(st->name));
			ferry_buf_printf(&b, ",\"complete\":%s,\"tables\":[", st->complete ? "true" : "false");
		} else {
			ferry_buf_printf(&b, "stage %s: %s\n", st->name, st->complete ? "complete" : "INCOMPLETE");
			ferry_buf_printf(&b, "  %-32s %12s %8s %12s %12s %7s\n", "table", "rows", "chunks", "size",
			                 "raw", "ratio");
		}
		int first = 1;
		for (size_t i = 0; i < m->ntables; i++) {
			const ferry_label_table *t = &m->tables[i];
			if (strcmp(t->stage, st->name) != 0)
				continue;
			uint64_t rows = 0, bytes = 0, raw = 0;
			size_t written = 0;
			for (size_t k = 0; k < t->nchunks; k++)
				if (t->chunks[k].written) {
					written++;
					rows += t->chunks[k].info.rows;
					bytes += t->chunks[k].info.bytes;
					raw += t->chunks[k].info.raw_bytes;
				}
			all_rows += rows;
			all_bytes += bytes;
			all_raw += raw;
			double ratio = bytes ? (double)raw / (double)bytes : 0;
			if (json) {
				ferry_buf_printf(&b, "%s{\"job\":%lld,\"name\":", first ? "" : ",", (long long)t->job);
				ferry_buf_json_str(&b, t->name, strlen(t->name));
				ferry_buf_puts(&b, ",\"source\":");
				ferry_buf_json_str(&b, t->source, strlen(t->source));
				ferry_buf_printf(&b, ",\"complete\":%s,\"rows\":%llu,\"chunks\":%zu,\"chunks_written\":%zu,"
				                 "\"bytes\":%llu,\"raw_bytes\":%llu,\"compression_ratio\":%.2f}",
				                 t->complete ? "true" : "false", (unsigned long long)rows, t->nchunks, written,
				                 (unsigned long long)bytes, (unsigned long long)raw, ratio);
			} else {
				char sz[32], rw[32], label[300];
				human_bytes(sz, sizeof(sz), (double)bytes);
				human_bytes(rw, sizeof(rw), (double)raw);
				snprintf(label, sizeof(label), "%s <- %s", t->name, t->source);
				ferry_buf_printf(&b, "  %-32.32s %12llu %3zu/%-4zu %12s %12s %6.1fx%s\n", label,
				                 (unsigned long long)rows, written, t->nchunks, sz, rw, ratio,
				                 t->complete ? "" : "  (incomplete)");
			}
			first = 0;
		}
		if (json)
			ferry_buf_puts(&b, "]}");
	}
	double ratio = all_bytes ? (double)all_raw / (double)all_bytes : 0;
	if (json) {
		ferry_buf_printf(&b, "],\"rows\":%llu,\"bytes\":%llu,\"raw_bytes\":%llu,\"compression_ratio\":%.2f}\n",
		                 (unsigned long long)all_rows, (unsigned long long)all_bytes,
		                 (unsigned long long)all_raw, ratio);
	} else {
		char sz[32], rw[32];
		human_bytes(sz, sizeof(sz), (double)all_bytes);
		human_bytes(rw, sizeof(rw), (double)all_raw);
		ferry_buf_printf(&b, "total: %llu rows, %s on disk, %s of rows (%.1fx)\n", (unsigned long long)all_rows,
		                 sz, rw, ratio);
	}
	ferry__manifest_free(m);
	if (b.failed)
		return fail(ctx, FERRY_ENOMEM, "out of memory");
	fwrite(b.data, 1, b.len, f);
	ferry_buf_free(&b);
	return 0;
}

int ferry_label_verify(ferry_ctx *ctx, const char *dir, int json, FILE *f)
{
	ferry_err err = {0};
	ferry_label_manifest *m = NULL;
	int rc = ferry__manifest_read(&m, dir, &err);
	if (rc)
		return ferry__ctx_fail(ctx, &err);
	ferry_buf b = FERRY_BUF_INIT;
	size_t checked = 0, damaged = 0, missing = 0;
	uint64_t rows = 0;
	ferry_err first = {0};
	if (json)
		ferry_buf_puts(&b, "{\"problems\":[");
	for (size_t i = 0; i < m->ntables; i++) {
		const ferry_label_table *t = &m->tables[i];
		for (size_t k = 0; k < t->nchunks; k++) {
			const ferry_label_chunk *ch = &t->chunks[k];
			char *file = ferry__label_chunk_file(ch->chunk);
			char *path = file ? ferry__sprintf("%s/%s/%s", dir, t->dir, file) : NULL;
			free(file);
			if (!path) {
				ferry__manifest_free(m);
				ferry_buf_free(&b);
				return fail(ctx, FERRY_ENOMEM, "out of memory");
			}
			ferry_label_chunk_info info;
			ferry_err e = {0};
			int crc = ferry__chunk_check(path, m->label_id, (uint64_t)t->job, (uint64_t)ch->chunk,
			                             (uint32_t)t->ncols, &info, &e);
			if (crc == FERRY_ENOTFOUND && !t->complete) {
				free(path);
				continue; /* not written yet: inspect says the stage is incomplete */
			}
			if (crc == 0 && ch->written &&
			    (info.rows != ch->info.rows || info.digest != ch->info.digest || info.xxh3 != ch->info.xxh3)) {
				crc = ferry_err_set(&e, FERRY_ECORRUPT,
				                    "label chunk \"%s\" does not match the manifest (rows, digest or checksum differ)",
				                    path);
			}
			checked++;
			if (crc == 0) {
				rows += info.rows;
			} else {
				if (crc == FERRY_ENOTFOUND)
					missing++;
				else
					damaged++;
				if (!first.code)
					first = e;
				if (json) {
					ferry_buf_puts(&b, damaged + missing > 1 ? "," : "");
					ferry_buf_json_str(&b, e.msg, strlen(e.msg));
				} else {
					ferry_buf_printf(&b, "%s\n", e.msg);
				}
			}
			free(path);
		}
	}
	if (json)
		ferry_buf_printf(&b, "],\"chunks_checked\":%zu,\"damaged\":%zu,\"missing\":%zu,\"rows\":%llu,\"ok\":%s}\n",
		                 checked, damaged, missing, (unsigned long long)rows,
		                 damaged + missing ? "false" : "true");
	else
		ferry_buf_printf(&b, "%zu chunks checked, %llu rows: %s\n", checked, (unsigned long long)rows,
		                 damaged + missing ? "DAMAGED" : "every block and checksum is right");
	ferry__manifest_free(m);
	if (!b.failed)
		fwrite(b.data, 1, b.len, f);
	ferry_buf_free(&b);
	if (damaged + missing) {
		ferry_err_set(&err, FERRY_ECORRUPT, "label \"%s\": %zu damaged and %zu missing chunks; first: %.600s",
		              dir, damaged, missing, first.msg);
		return ferry__ctx_fail(ctx, &err);
	}
	return 0;
}
