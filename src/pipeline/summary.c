/* summary.c — the outcome of a run: per job figures, resolution notes, as text or JSON. */
#include <stdlib.h>
#include <string.h>
#include "pipeline.h"
#include "../verify/verify.h"

ferry_summary *ferry__summary_new(const char *run_id)
{
	ferry_summary *s = ferry__calloc(1, sizeof(*s));
	if (s)
		snprintf(s->run_id, sizeof(s->run_id), "%s", run_id);
	return s;
}

/* str kept by the summary; NULL (and *bad set) when it could not be. */
static const char *keep(ferry_summary *s, char *str, int *bad)
{
	if (!str || ferry__grow(&s->strs, &s->strs_cap, s->nstrs + 1, sizeof(char *)) != 0) {
		free(str);
		*bad = 1;
		return "";
	}
	s->strs[s->nstrs++] = str;
	return str;
}

int ferry__summary_add(ferry_summary *s, const job *j)
{
	size_t cap = s->njobs, wcap = s->njobs;
	if (ferry__grow(&s->stats, &cap, s->njobs + 1, sizeof(ferry_table_stats)) != 0 ||
	    ferry__grow(&s->waiting, &wcap, s->njobs + 1, sizeof(int64_t)) != 0)
		return FERRY_ENOMEM;
	s->waiting[s->njobs] = j->later ? j->rows_waiting : -1;
	ferry_table_stats *t = &s->stats[s->njobs++];
	memset(t, 0, sizeof(*t));
	int bad = 0;
	t->stage = keep(s, ferry__strdup(j->stage), &bad);
	t->target = keep(s, ferry__strdup(j->dst_table), &bad);
	/* An import names the table the label's rows came from, not the label's folder. */
	t->sources = keep(s, j->entry && j->entry->origin ? ferry__sprintf("%s (label)", j->entry->origin)
	                                                   : ferry__sprintf("%s.%s", j->source_name, j->src_table), &bad);
	t->rows_read = j->rows_read;
	t->rows_written = j->rows_written;
	t->rows_rejected = j->rows_rejected;
	/* Rows that wait are not left out by the where: the summary lists them apart. */
	t->rows_skipped = j->later && j->rows_waiting > 0
	                      ? (j->rows_skipped > j->rows_waiting ? j->rows_skipped - j->rows_waiting : 0)
	                      : j->rows_skipped;
	t->fk_violations = j->fk_violations;
	t->chunks = j->chunks;
	t->chunks_resumed = j->chunks_resumed;
	t->seconds = j->seconds;
	return bad ? FERRY_ENOMEM : 0;
}

int ferry__summary_note(ferry_summary *s, const char *note)
{
	return ferry__summary_note_at(s, NULL, NULL, NULL, note);
}

int ferry__summary_note_at(ferry_summary *s, const char *code, const char *table, const char *column,
                           const char *msg)
{
	return ferry__note_at(&s->notes, &s->nnotes, &s->notes_cap, code, table, column, "%s", msg);
}

int ferry__summary_note_copy(ferry_summary *s, const char *note)
{
	return ferry__note_copy(&s->notes, &s->nnotes, &s->notes_cap, note);
}

size_t ferry_summary_count(const ferry_summary *s) { return s ? s->njobs : 0; }

int64_t ferry_summary_rows_waiting(const ferry_summary *s, size_t i)
{
	return s && i < s->njobs ? s->waiting[i] : -1;
}

int ferry_summary_table(ferry_table_stats *out, const ferry_summary *s, size_t i)
{
	if (!s || i >= s->njobs)
		return FERRY_ENOTFOUND;
	*out = s->stats[i];
	return 0;
}

size_t ferry_summary_note_count(const ferry_summary *s) { return s ? s->nnotes : 0; }

const char *ferry_summary_note(const ferry_summary *s, size_t i)
{
	return s && i < s->nnotes ? s->notes[i] : NULL;
}

int ferry_summary_note_info(ferry_note *out, const ferry_summary *s, size_t i)
{
	memset(out, 0, sizeof(*out));
	if (!s || i >= s->nnotes)
		return FERRY_ENOTFOUND;
	const char *n = s->notes[i];
	out->message = n;
	out->code = ferry__note_field(n, FERRY_NOTE_CODE);
	out->table = *ferry__note_field(n, FERRY_NOTE_TABLE) ? ferry__note_field(n, FERRY_NOTE_TABLE) : NULL;
	out->column = *ferry__note_field(n, FERRY_NOTE_COLUMN) ? ferry__note_field(n, FERRY_NOTE_COLUMN) : NULL;
	return 0;
}

const struct ferry_verify_report *ferry_summary_verify(const ferry_summary *s)
{
	return s ? s->verify : NULL;
}

int ferry_summary_was_complete(const ferry_summary *s) { return s ? s->was_complete : 0; }
const char *ferry_summary_run_id(const ferry_summary *s) { return s ? s->run_id : NULL; }
const char *ferry_summary_rejects_path(const ferry_summary *s) { return s ? s->rejects_path : NULL; }

void ferry_summary_free(ferry_summary *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nstrs; i++)
		free(s->strs[i]);
	for (size_t i = 0; i < s->nnotes; i++)
		free(s->notes[i]);
	free(s->strs);
	free(s->notes);
	free(s->stats);
	free(s->waiting);
	free(s->rejects_path);
	free(s->target);
	free(s->preview_text);
	free(s->preview_json);
	ferry_verify_report_free(s->verify);
	free(s);
}

int ferry_summary_write_json(const ferry_summary *s, FILE *f)
{
	ferry_buf b = FERRY_BUF_INIT;
	int64_t r = 0, w = 0, rej = 0, sk = 0, fk = 0;
	ferry_buf_printf(&b, "{\"run_id\":\"%s\",\"already_complete\":%s,\"target\":", s->run_id,
	                 s->was_complete ? "true" : "false");
	if (s->target)
		ferry_buf_json_str(&b, s->target, strlen(s->target));
	else
		ferry_buf_puts(&b, "null");
	ferry_buf_printf(&b, ",\"started_at\":\"%s\",\"elapsed_seconds\":%.3f,\"tables\":[", s->started_at,
	                 s->elapsed);
	for (size_t i = 0; i < s->njobs; i++) {
		const ferry_table_stats *t = &s->stats[i];
		ferry_buf_puts(&b, i ? ",{\"stage\":" : "{\"stage\":");
		ferry_buf_json_str(&b, t->stage, strlen(t->stage));
		ferry_buf_puts(&b, ",\"target\":");
		ferry_buf_json_str(&b, t->target, strlen(t->target));
		ferry_buf_puts(&b, ",\"source\":");
		ferry_buf_json_str(&b, t->sources, strlen(t->sources));
		if (s->waiting[i] >= 0)
			ferry_buf_printf(&b, ",\"waiting\":%lld", (long long)s->waiting[i]);
		ferry_buf_printf(&b, ",\"read\":%lld,\"written\":%lld,\"rejected\":%lld,\"skipped\":%lld,"
		                 "\"fk_violations\":%lld,\"chunks\":%lld,\"chunks_resumed\":%lld,\"seconds\":%.3f}",
		                 (long long)t->rows_read, (long long)t->rows_written, (long long)t->rows_rejected,
		                 (long long)t->rows_skipped, (long long)t->fk_violations, (long long)t->chunks,
		                 (long long)t->chunks_resumed, t->seconds);
		r += t->rows_read;
		w += t->rows_written;
		rej += t->rows_rejected;
		sk += t->rows_skipped;
		fk += t->fk_violations;
	}
	ferry_buf_printf(&b, "],\"totals\":{\"read\":%lld,\"written\":%lld,\"rejected\":%lld,\"skipped\":%lld,"
	                 "\"fk_violations\":%lld},\"notes\":[",
	                 (long long)r, (long long)w, (long long)rej, (long long)sk, (long long)fk);
	for (size_t i = 0; i < s->nnotes; i++) {
		if (i)
			ferry_buf_puts(&b, ",");
		ferry__note_json(&b, s->notes[i]);
	}
	ferry_buf_puts(&b, "],\"rejects_file\":");
	if (s->rejects_path)
		ferry_buf_json_str(&b, s->rejects_path, strlen(s->rejects_path));
	else
		ferry_buf_puts(&b, "null");
	ferry_buf_printf(&b, ",\"all_rows_arrived\":%s,\"preview\":%s,\"verify\":",
	                 rej == 0 && fk == 0 ? "true" : "false", s->preview_json ? s->preview_json : "null");
	if (s->verify)
		ferry__verify_json(&b, s->verify);
	else
		ferry_buf_puts(&b, "null");
	ferry_buf_puts(&b, "}\n");
	if (b.failed)
		return FERRY_ENOMEM;
	int rc = fwrite(b.data, 1, b.len, f) == b.len ? 0 : FERRY_ERROR;
	ferry_buf_free(&b);
	return rc;
}

/* The characters name takes in the text summary (escaped). */
static size_t shown_width(const char *name)
{
	ferry_buf e = FERRY_BUF_INIT;
	ferry__utf8_escape(&e, name, strlen(name));
	size_t n = e.data ? ferry__utf8_chars((const uint8_t *)e.data, e.len) : strlen(name);
	ferry_buf_free(&e);
	return n;
}

int ferry_summary_write_text(const ferry_summary *s, FILE *f)
{
	/* A check: what the run would do, then the notes; no figures (nothing moved). */
	if (s->preview_text) {
		fputs(s->preview_text, f);
		for (size_t i = 0; i < s->nnotes; i++)
			fprintf(f, "note: %s\n", s->notes[i]);
		if (s->was_complete)
			fprintf(f, "this run is complete already: running it would change nothing\n");
		return 0;
	}
	/* Widths in characters of the names as shown (escaped: one line per table), so a
	 * multibyte name is neither cut inside a character nor mis-padded. */
	size_t w1 = strlen("source"), w2 = strlen("target");
	for (size_t i = 0; i < s->njobs; i++) {
		size_t a = shown_width(s->stats[i].sources), b = shown_width(s->stats[i].target);
		w1 = a > w1 ? a : w1;
		w2 = b > w2 ? b : w2;
	}
	if (w1 > 40)
		w1 = 40;
	if (w2 > 30)
		w2 = 30;
	int any_fk = 0;
	for (size_t i = 0; i < s->njobs; i++)
		any_fk |= s->stats[i].fk_violations != 0;
	fprintf(f, "%-*s  %-*s %12s %12s %9s %10s%s %8s\n", (int)w1, "source", (int)w2, "target", "read",
	        "written", "rejected", "skipped", any_fk ? "  fk-broken" : "", "seconds");
	int64_t r = 0, w = 0, rej = 0, sk = 0, fk = 0;
	for (size_t i = 0; i < s->njobs; i++) {
		const ferry_table_stats *t = &s->stats[i];
		ferry_buf cells = FERRY_BUF_INIT;
		ferry__utf8_cell(&cells, t->sources, w1, 1);
		ferry_buf_puts(&cells, "  ");
		ferry__utf8_cell(&cells, t->target, w2, 1);
		fprintf(f, "%s %12lld %12lld %9lld %10lld", cells.data ? cells.data : "", (long long)t->rows_read,
		        (long long)t->rows_written, (long long)t->rows_rejected, (long long)t->rows_skipped);
		ferry_buf_free(&cells);
		if (any_fk)
			fprintf(f, " %10lld", (long long)t->fk_violations);
		fprintf(f, " %8.2f%s\n", t->seconds, t->chunks_resumed && t->chunks_resumed < t->chunks ? "  (resumed)" : "");
		r += t->rows_read;
		w += t->rows_written;
		rej += t->rows_rejected;
		sk += t->rows_skipped;
		fk += t->fk_violations;
	}
	fprintf(f, "%-*s  %-*s %12lld %12lld %9lld %10lld", (int)w1, "total", (int)w2, "", (long long)r,
	        (long long)w, (long long)rej, (long long)sk);
	if (any_fk)
		fprintf(f, " %10lld", (long long)fk);
	fprintf(f, "\n");
	for (size_t i = 0; i < s->nnotes; i++)
		fprintf(f, "note: %s\n", s->notes[i]);
	for (size_t i = 0; i < s->njobs; i++)
		if (s->waiting[i] >= 0)
			fprintf(f, "waiting: %s: %lld rows of %s wait for ferry backfill (later:)\n",
			        s->stats[i].target, (long long)s->waiting[i], s->stats[i].sources);
	if (s->was_complete)
		fprintf(f, "this run was already complete: nothing was changed\n");
	if (s->rejects_path)
		fprintf(f, "rejected rows: %s\n", s->rejects_path);
	if (fk)
		fprintf(f, "%lld rows point to rows that do not exist (foreign keys checked after the load)\n",
		        (long long)fk);
	if (s->verify)
		return ferry_verify_report_write_text(s->verify, f);
	return 0;
}
