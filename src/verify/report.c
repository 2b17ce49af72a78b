/* report.c — what verify found: the differences listed per table, the report's accessors,
 * its text and JSON forms, and the one-line verdict ferry_history keeps. */
#include <stdlib.h>
#include <string.h>
#include "verify.h"

static const char *const kind_names[] = {"missing", "extra", "different", "duplicate"};

/* A name as the text report shows it: control characters escaped, so one line stays one. */
static void put_name(ferry_buf *b, const char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '\n')
			ferry_buf_puts(b, "\\n");
		else if (ch == '\t')
			ferry_buf_puts(b, "\\t");
		else if (ch < 0x20 || ch == 0x7f)
			ferry_buf_printf(b, "\\x%02x", ch);
		else
			ferry_buf_add(b, s, 1);
	}
}

/* The key of a listed row as a JSON object: its key columns, or every column without a key. */
static void diff_key(ferry_buf *key, const vtable *vt, const uint8_t **kc, const size_t *kl)
{
	size_t n = vt->keyless ? vt->ncols : vt->nkey;
	ferry_buf_puts(key, "{");
	for (size_t k = 0; k < n; k++) {
		size_t c = vt->keyless ? k : vt->key[k];
		ferry_buf_puts(key, k ? ", " : "");
		ferry_buf_json_str(key, vt->cols[c], strlen(vt->cols[c]));
		ferry_buf_puts(key, ": ");
		ferry__cell_json(key, kc[c], kl[c]);
	}
	ferry_buf_puts(key, "}");
}

/* The columns two rows of one key differ in: a JSON array into cols, a line into text. */
static void diff_cols(ferry_buf *cols, ferry_buf *text, const vtable *vt, const uint8_t **ec,
                      const size_t *el, const uint8_t **ac, const size_t *al)
{
	ferry_buf_puts(cols, "[");
	int first = 1;
	for (size_t c = 0; c < vt->ncols; c++) {
		if (ferry__cell_equal(ec[c], el[c], ac[c], al[c]))
			continue;
		ferry_buf_puts(cols, first ? "{\"column\": " : ", {\"column\": ");
		ferry_buf_json_str(cols, vt->cols[c], strlen(vt->cols[c]));
		ferry_buf_puts(cols, ", \"expected\": ");
		ferry__cell_json(cols, ec[c], el[c]);
		ferry_buf_puts(cols, ", \"target\": ");
		ferry__cell_json(cols, ac[c], al[c]);
		ferry_buf_puts(cols, "}");
		ferry_buf_puts(text, first ? "" : "; ");
		put_name(text, vt->cols[c]);
		ferry_buf_puts(text, ": expected ");
		ferry__cell_json(text, ec[c], el[c]);
		ferry_buf_puts(text, ", target has ");
		ferry__cell_json(text, ac[c], al[c]);
		first = 0;
	}
	ferry_buf_puts(cols, "]");
}

int ferry_verify__add_diff(vtable *vt, size_t max_listed, int kind, const mrow *e, const mrow *a)
{
	if (vt->ndiffs >= max_listed)
		return 0;
	if (ferry__grow(&vt->diffs, &vt->diffs_cap, vt->ndiffs + 1, sizeof(vdiff)) != 0)
		return FERRY_ENOMEM;
	vdiff *d = &vt->diffs[vt->ndiffs];
	memset(d, 0, sizeof(*d));
	size_t n = vt->ncols;
	const uint8_t **ec = ferry__calloc(2 * n + 1, sizeof(uint8_t *)), **ac = ec + n;
	size_t *el = ferry__calloc(2 * n + 1, sizeof(size_t)), *al = el + n;
	ferry_buf key = FERRY_BUF_INIT, cols = FERRY_BUF_INIT, text = FERRY_BUF_INIT;
	int rc = 0;
	if (!ec || !el) {
		rc = FERRY_ENOMEM;
		goto out;
	}
	if ((e && ferry_verify__split_cells(e->data + e->klen, e->rlen, n, ec, el) != 0) ||
	    (a && ferry_verify__split_cells(a->data + a->klen, a->rlen, n, ac, al) != 0)) {
		rc = FERRY_ECORRUPT;
		goto out;
	}
	diff_key(&key, vt, e ? ec : ac, e ? el : al);
	if (kind == VDIFF_DIFFERENT)
		diff_cols(&cols, &text, vt, ec, el, ac, al);
	if (key.failed || cols.failed || text.failed) {
		rc = FERRY_ENOMEM;
		goto out;
	}
	d->kind = kind;
	d->key = ferry_buf_detach(&key);
	d->cols = cols.data ? ferry_buf_detach(&cols) : NULL;
	d->text = text.data ? ferry_buf_detach(&text) : NULL;
	vt->ndiffs++;
out:
	free(ec);
	free(el);
	ferry_buf_free(&key);
	ferry_buf_free(&cols);
	ferry_buf_free(&text);
	return rc;
}

void ferry_verify_report_free(ferry_verify_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->ntables; i++)
		ferry_verify__table_free(&r->tables[i]);
	free(r->tables);
	for (size_t i = 0; i < r->nnotes; i++)
		free(r->notes[i]);
	free(r->notes);
	free(r->target);
	free(r);
}

int ferry_verify_report_ok(const ferry_verify_report *r)
{
	return r && r->ok;
}

size_t ferry_verify_report_count(const ferry_verify_report *r)
{
	return r ? r->ntables : 0;
}

int ferry_verify_report_table(ferry_verify_table *out, const ferry_verify_report *r, size_t i)
{
	if (!r || i >= r->ntables)
		return FERRY_ENOTFOUND;
	const vtable *vt = &r->tables[i];
	memset(out, 0, sizeof(*out));
	out->table = vt->name;
	out->sources = vt->sources;
	out->coverage = vt->coverage;
	out->percent = vt->per10k / 100.0;
	out->rows_expected = vt->exp_total;
	out->rows_target = vt->act_total;
	out->compared = vt->compared;
	out->missing = vt->missing;
	out->extra = vt->extra;
	out->different = vt->different;
	out->counts_differ = vt->count_differs;
	out->seconds = vt->seconds;
	out->rows_outside = vt->outside_rows;
	return 0;
}

static int table_ok(const vtable *vt)
{
	return !(vt->missing || vt->extra || vt->different || vt->count_differs);
}

static void json_names(ferry_buf *b, char *const *names, const size_t *idx, size_t n)
{
	ferry_buf_puts(b, "[");
	for (size_t k = 0; k < n; k++) {
		const char *s = names[idx ? idx[k] : k];
		ferry_buf_puts(b, k ? ", " : "");
		ferry_buf_json_str(b, s, strlen(s));
	}
	ferry_buf_puts(b, "]");
}

static int write_buf(ferry_buf *b, FILE *f)
{
	int rc = b->failed ? FERRY_ENOMEM : 0;
	if (rc == 0 && b->data && fwrite(b->data, 1, b->len, f) != b->len)
		rc = FERRY_ERROR;
	ferry_buf_free(b);
	return rc;
}

int ferry_verify_report_write_json(const ferry_verify_report *r, FILE *f)
{
	ferry_buf b = FERRY_BUF_INIT;
	ferry__verify_json(&b, r);
	ferry_buf_puts(&b, "\n");
	return write_buf(&b, f);
}

char *ferry__verify_verdict(const ferry_verify_report *r)
{
	int64_t compared = 0, missing = 0, extra = 0, different = 0;
	int counts = 0;
	for (size_t t = 0; t < r->ntables; t++) {
		compared += r->tables[t].compared;
		missing += r->tables[t].missing;
		extra += r->tables[t].extra;
		different += r->tables[t].different;
		counts += r->tables[t].count_differs;
	}
	const char *mode = r->full ? "full" : "sampled";
	if (r->ok)
		return ferry__sprintf("verified (%s): %lld rows compared, all match", mode, (long long)compared);
	return ferry__sprintf("verify (%s) found differences: %lld missing, %lld extra, %lld different%s",
	                      mode, (long long)missing, (long long)extra, (long long)different,
	                      counts ? ", row counts differ" : "");
}

/* One table of the JSON report. */
static void table_json(ferry_buf *b, const vtable *vt)
{
	ferry_buf_puts(b, "{\"table\": ");
	ferry_buf_json_str(b, vt->name, strlen(vt->name));
	ferry_buf_puts(b, ", \"sources\": ");
	ferry_buf_json_str(b, vt->sources, strlen(vt->sources));
	ferry_buf_puts(b, ", \"rows_expected\": ");
	if (vt->exp_total >= 0)
		ferry_buf_printf(b, "%lld", (long long)vt->exp_total);
	else
		ferry_buf_puts(b, "null");
	ferry_buf_printf(b, ", \"rows_outside\": %lld", (long long)vt->outside_rows);
	ferry_buf_printf(b, ", \"ok\": %s, \"rows_target\": %lld, "
	                 "\"compared\": %lld, \"matched\": %lld, \"missing\": %lld, \"extra\": %lld, "
	                 "\"different\": %lld, \"counts_differ\": %s, \"percent\": %g, \"coverage\": ",
	                 table_ok(vt) ? "true" : "false", (long long)vt->act_total, (long long)vt->compared, (long long)vt->matched,
	                 (long long)vt->missing, (long long)vt->extra, (long long)vt->different,
	                 vt->count_differs ? "true" : "false", vt->per10k / 100.0);
	ferry_buf_json_str(b, vt->coverage, strlen(vt->coverage));
	ferry_buf_puts(b, ", \"key\": ");
	if (vt->keyless)
		ferry_buf_puts(b, "null");
	else
		json_names(b, vt->cols, vt->key, vt->nkey);
	ferry_buf_puts(b, ", \"columns\": ");
	json_names(b, vt->cols, NULL, vt->ncols);
	ferry_buf_puts(b, ", \"not_compared\": ");
	json_names(b, vt->skipped, NULL, vt->nskipped);
	ferry_buf_printf(b, ", \"seconds\": %.3f, \"differences\": [", vt->seconds);
	for (size_t d = 0; d < vt->ndiffs; d++) {
		const vdiff *x = &vt->diffs[d];
		ferry_buf_printf(b, "%s{\"kind\": \"%s\", \"key\": %s", d ? ", " : "", kind_names[x->kind],
		                 x->key);
		if (x->cols)
			ferry_buf_printf(b, ", \"columns\": %s", x->cols);
		ferry_buf_puts(b, "}");
	}
	ferry_buf_puts(b, "]}");
}

int ferry__verify_json(ferry_buf *b, const ferry_verify_report *r)
{
	ferry_buf_printf(b, "{\"ok\": %s, \"mode\": \"%s\", \"target\": ", r->ok ? "true" : "false",
	                 r->full ? "full" : "sampled");
	ferry_buf_json_str(b, r->target ? r->target : "", r->target ? strlen(r->target) : 0);
	ferry_buf_puts(b, ", \"tables\": [");
	for (size_t t = 0; t < r->ntables; t++) {
		ferry_buf_puts(b, t ? ", " : "");
		table_json(b, &r->tables[t]);
	}
	ferry_buf_puts(b, "], \"notes\": [");
	for (size_t i = 0; i < r->nnotes; i++) {
		ferry_buf_puts(b, i ? ", " : "");
		ferry__note_json(b, r->notes[i]);
	}
	ferry_buf_puts(b, "]");
	ferry_buf_puts(b, "}");
	return b->failed ? FERRY_ENOMEM : 0;
}

/* The lines of the text report below its table of figures, for one table: why its counts
 * differ, its listed differences, what was not compared and how rows were matched. */
static void table_text(ferry_buf *b, const vtable *vt)
{
	ferry_buf shown = FERRY_BUF_INIT;
	put_name(&shown, vt->name);
	const char *nm = shown.data ? shown.data : "";
	if (vt->count_differs)
		ferry_buf_printf(b, "%s: %lld rows expected, the target holds %lld\n", nm,
		                 (long long)vt->exp_total, (long long)vt->act_total);
	if (vt->outside_rows)
		ferry_buf_printf(b, "%s: %lld more rows of the target are source rows the plan's filter leaves out (another load's, as in a split load): not judged here\n",
		                 nm, (long long)vt->outside_rows);
	for (size_t d = 0; d < vt->ndiffs; d++) {
		const vdiff *x = &vt->diffs[d];
		ferry_buf_printf(b, "%s: %s %s%s%s\n", nm, kind_names[x->kind], x->key,
		                 x->text ? ": " : "", x->text ? x->text : "");
	}
	int64_t diffs = vt->missing + vt->extra + vt->different;
	if ((int64_t)vt->ndiffs < diffs && vt->ndiffs > 0)
		ferry_buf_printf(b, "%s: %lld rows differ in all; the first %zu differences are listed (--max-listed)\n",
		                 nm, (long long)diffs, vt->ndiffs);
	if (vt->nskipped) {
		ferry_buf_printf(b, "%s: not compared (the target's default decides):", nm);
		for (size_t i = 0; i < vt->nskipped; i++) {
			ferry_buf_printf(b, "%s \"", i ? "," : "");
			put_name(b, vt->skipped[i]);
			ferry_buf_puts(b, "\"");
		}
		ferry_buf_puts(b, "\n");
	}
	if (vt->keyless)
		ferry_buf_printf(b, "%s: no key; rows are matched by all their values\n", nm);
	ferry_buf_free(&shown);
}

int ferry_verify_report_write_text(const ferry_verify_report *r, FILE *f)
{
	ferry_buf b = FERRY_BUF_INIT, nb = FERRY_BUF_INIT;
	size_t w = 5;
	for (size_t t = 0; t < r->ntables; t++)
		if (strlen(r->tables[t].name) > w)
			w = strlen(r->tables[t].name);
	if (w > 40)
		w = 40;
	ferry_buf_printf(&b, "%-*s %12s %12s %12s %9s %9s %9s  %s\n", (int)w, "table", "expected", "target",
	                 "compared", "missing", "extra", "different", "coverage");
	int64_t compared = 0, bad = 0;
	for (size_t t = 0; t < r->ntables; t++) {
		const vtable *vt = &r->tables[t];
		compared += vt->compared;
		bad += !table_ok(vt);
		char exp[24] = "-";
		if (vt->exp_total >= 0)
			snprintf(exp, sizeof(exp), "%lld", (long long)vt->exp_total);
		ferry_buf_reset(&nb);
		put_name(&nb, vt->name);
		ferry_buf_printf(&b, "%-*s %12s %12lld %12lld %9lld %9lld %9lld  %s\n", (int)w,
		                 nb.data ? nb.data : "", exp, (long long)vt->act_total, (long long)vt->compared,
		                 (long long)vt->missing, (long long)vt->extra, (long long)vt->different,
		                 vt->coverage);
	}
	ferry_buf_free(&nb);
	for (size_t t = 0; t < r->ntables; t++)
		table_text(&b, &r->tables[t]);
	if (r->ok)
		ferry_buf_printf(&b, "verify: OK, %zu table%s, %lld rows compared (%s)\n", r->ntables,
		                 r->ntables == 1 ? "" : "s", (long long)compared, r->full ? "full" : "sampled");
	else
		ferry_buf_printf(&b, "verify: DIFFERENT, %lld of %zu table%s differ (%s)\n", (long long)bad,
		                 r->ntables, r->ntables == 1 ? "" : "s", r->full ? "full" : "sampled");
	return write_buf(&b, f);
}
