/* report.c — `ferry label inspect` (what a label holds: stages, tables, rows, sizes) and
 * `ferry label verify` (every chunk file checked end to end against the manifest), as text
 * or JSON. */
#include <stdlib.h>
#include <string.h>
#include "label.h"

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

/* A table's chunks as they are: those the manifest records, and those an export that
 * stopped left on disk before it could record them (the files are the truth, as for the
 * export that resumes: each one is checked, and counted when whole). */
typedef struct chunk_state {
	size_t recorded, on_disk, damaged;
	uint64_t rows, bytes, raw;
} chunk_state;

static int table_state(chunk_state *cs, const char *dir, const ferry_label_manifest *m,
                       const ferry_label_table *t, ferry_err *err)
{
	memset(cs, 0, sizeof(*cs));
	for (size_t k = 0; k < t->nchunks; k++) {
		const ferry_label_chunk *ch = &t->chunks[k];
		ferry_label_chunk_info info = ch->info;
		if (ch->written) {
			cs->recorded++;
		} else {
			char *file = ferry__label_chunk_file(ch->chunk);
			char *path = file ? ferry__sprintf("%s/%s/%s", dir, t->dir, file) : NULL;
			free(file);
			if (!path)
				return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
			ferry_err e = {0};
			int rc = ferry__chunk_check(path, m->label_id, (uint64_t)t->job, (uint64_t)ch->chunk,
			                            (uint32_t)t->ncols, &info, &e);
			free(path);
			if (rc == FERRY_ENOMEM)
				return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
			if (rc == FERRY_ENOTFOUND)
				continue;
			if (rc) {
				cs->damaged++;
				continue;
			}
			cs->on_disk++;
		}
		cs->rows += info.rows;
		cs->bytes += info.bytes;
		cs->raw += info.raw_bytes;
	}
	return 0;
}

static void column_json(ferry_buf *b, const ferry_label_column *c, int first)
{
	ferry_buf_puts(b, first ? "{\"name\":" : ",{\"name\":");
	ferry_buf_json_str(b, c->name, strlen(c->name));
	ferry_buf_puts(b, ",\"type\":");
	ferry_buf_json_str(b, ferry_type_name(c->type), strlen(ferry_type_name(c->type)));
	ferry_buf_puts(b, ",\"declared\":");
	if (c->decl)
		ferry_buf_json_str(b, c->decl, strlen(c->decl));
	else
		ferry_buf_puts(b, "null");
	ferry_buf_printf(b, ",\"not_null\":%s,\"primary_key\":%s}", c->notnull ? "true" : "false",
	                 c->pk ? "true" : "false");
}

/* "id int64 (INTEGER, primary key), v text (TEXT), ..." */
static void columns_text(ferry_buf *b, const ferry_label_table *t)
{
	ferry_buf_puts(b, "    columns:");
	for (size_t c = 0; c < t->ncols; c++) {
		const ferry_label_column *col = &t->cols[c];
		ferry_buf_printf(b, "%s %s %s", c ? "," : "", col->name, ferry_type_name(col->type));
		if (col->decl || col->pk || col->notnull)
			ferry_buf_printf(b, " (%s%s%s%s%s)", col->decl ? col->decl : "",
			                 col->decl && (col->pk || col->notnull) ? ", " : "",
			                 col->pk ? "primary key" : "", col->pk && col->notnull ? ", " : "",
			                 col->notnull && !col->pk ? "not null" : "");
	}
	ferry_buf_puts(b, t->ncols ? "\n" : " none\n");
}

int ferry__label_inspect(const char *dir, int json, FILE *f, ferry_err *err)
{
	ferry_label_manifest *m = NULL;
	int rc = ferry__manifest_read(&m, dir, err);
	if (rc)
		return rc;
	chunk_state *states = ferry__calloc(m->ntables + 1, sizeof(chunk_state));
	if (!states) {
		ferry__manifest_free(m);
		return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	}
	/* Names are shown whole: the table column is as wide as the longest. */
	size_t width = 5;
	for (size_t i = 0; rc == 0 && i < m->ntables; i++) {
		size_t w = strlen(m->tables[i].name);
		width = w > width ? w : width;
		rc = table_state(&states[i], dir, m, &m->tables[i], err);
	}
	if (rc) {
		free(states);
		ferry__manifest_free(m);
		return rc;
	}
	ferry_buf b = FERRY_BUF_INIT;
	uint64_t all_rows = 0, all_bytes = 0, all_raw = 0;
	size_t all_unrecorded = 0, all_damaged = 0;
	if (json) {
		ferry_buf_printf(&b, "{\"label\":");
		ferry_buf_json_str(&b, dir, strlen(dir));
		ferry_buf_printf(&b, ",\"label_id\":\"%s\",\"format_version\":%d,\"ferry_version\":", m->label_id_hex,
		                 m->format_version);
		ferry_buf_json_str(&b, m->ferry_version, strlen(m->ferry_version));
		ferry_buf_printf(&b, ",\"created_at\":\"%s\",\"plan_digest\":\"%s\",\"sources\":[", m->created_at,
		                 m->plan_digest);
		for (size_t i = 0; i < m->nsources; i++) {
			ferry_buf_puts(&b, i ? ",{\"name\":" : "{\"name\":");
			ferry_buf_json_str(&b, m->sources[i].name, strlen(m->sources[i].name));
			ferry_buf_puts(&b, ",\"url\":");
			ferry_buf_json_str(&b, m->sources[i].url, strlen(m->sources[i].url));
			ferry_buf_puts(&b, ",\"engine\":");
			ferry_buf_json_str(&b, m->sources[i].engine, strlen(m->sources[i].engine));
			ferry_buf_puts(&b, "}");
		}
		ferry_buf_puts(&b, "],\"stages\":[");
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
			ferry_buf_printf(&b, "  %-*s %12s %11s %12s %12s %7s\n", (int)width, "table", "rows", "chunks",
			                 "size", "raw", "ratio");
		}
		int first = 1;
		for (size_t i = 0; i < m->ntables; i++) {
			const ferry_label_table *t = &m->tables[i];
			const chunk_state *cs = &states[i];
			if (strcmp(t->stage, st->name) != 0)
				continue;
			size_t written = cs->recorded + cs->on_disk;
			all_rows += cs->rows;
			all_bytes += cs->bytes;
			all_raw += cs->raw;
			all_unrecorded += cs->on_disk;
			all_damaged += cs->damaged;
			double ratio = cs->bytes ? (double)cs->raw / (double)cs->bytes : 0;
			if (json) {
				ferry_buf_printf(&b, "%s{\"job\":%lld,\"name\":", first ? "" : ",", (long long)t->job);
				ferry_buf_json_str(&b, t->name, strlen(t->name));
				ferry_buf_puts(&b, ",\"source\":");
				ferry_buf_json_str(&b, t->source, strlen(t->source));
				ferry_buf_printf(&b, ",\"complete\":%s,\"rows\":%llu,\"chunks\":%zu,\"chunks_written\":%zu,"
				                 "\"chunks_recorded\":%zu,\"chunks_unrecorded\":%zu,\"chunks_damaged\":%zu,"
				                 "\"bytes\":%llu,\"raw_bytes\":%llu,\"compression_ratio\":%.2f,\"columns\":[",
				                 t->complete ? "true" : "false", (unsigned long long)cs->rows, t->nchunks, written,
				                 cs->recorded, cs->on_disk, cs->damaged, (unsigned long long)cs->bytes,
				                 (unsigned long long)cs->raw, ratio);
				for (size_t c = 0; c < t->ncols; c++)
					column_json(&b, &t->cols[c], c == 0);
				ferry_buf_puts(&b, "]}");
			} else {
				char sz[32], rw[32], chunks[48];
				human_bytes(sz, sizeof(sz), (double)cs->bytes);
				human_bytes(rw, sizeof(rw), (double)cs->raw);
				snprintf(chunks, sizeof(chunks), "%zu/%zu", written, t->nchunks);
				ferry_buf_printf(&b, "  %-*s %12llu %11s %12s %12s %6.1fx", (int)width, t->name,
				                 (unsigned long long)cs->rows, chunks, sz, rw, ratio);
				if (!t->complete)
					ferry_buf_printf(&b, "  (incomplete: %zu of %zu chunks written", written, t->nchunks);
				if (!t->complete && cs->on_disk)
					ferry_buf_printf(&b, ", %zu of them on disk but not yet in the manifest", cs->on_disk);
				if (!t->complete && cs->damaged)
					ferry_buf_printf(&b, ", %zu damaged", cs->damaged);
				ferry_buf_puts(&b, t->complete ? "\n" : ")\n");
				ferry_buf_printf(&b, "    from %s\n", t->source);
				columns_text(&b, t);
			}
			first = 0;
		}
		if (json)
			ferry_buf_puts(&b, "]}");
	}
	double ratio = all_bytes ? (double)all_raw / (double)all_bytes : 0;
	if (json) {
		ferry_buf_printf(&b, "],\"rows\":%llu,\"bytes\":%llu,\"raw_bytes\":%llu,\"compression_ratio\":%.2f,"
		                 "\"chunks_unrecorded\":%zu,\"chunks_damaged\":%zu}\n",
		                 (unsigned long long)all_rows, (unsigned long long)all_bytes,
		                 (unsigned long long)all_raw, ratio, all_unrecorded, all_damaged);
	} else {
		char sz[32], rw[32];
		human_bytes(sz, sizeof(sz), (double)all_bytes);
		human_bytes(rw, sizeof(rw), (double)all_raw);
		ferry_buf_printf(&b, "total: %llu rows, %s on disk, %s of rows (%.1fx)\n", (unsigned long long)all_rows,
		                 sz, rw, ratio);
		if (all_unrecorded || all_damaged)
			ferry_buf_printf(&b, "the export stopped: %zu chunk files are whole but not yet in the manifest, "
			                 "%zu damaged; the same export command resumes and keeps the whole ones\n",
			                 all_unrecorded, all_damaged);
	}
	free(states);
	ferry__manifest_free(m);
	if (b.failed) {
		ferry_buf_free(&b);
		return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	}
	fwrite(b.data, 1, b.len, f);
	ferry_buf_free(&b);
	return 0;
}

int ferry__label_verify(const char *dir, int json, FILE *f, ferry_err *err)
{
	ferry_label_manifest *m = NULL;
	int rc = ferry__manifest_read(&m, dir, err);
	if (rc)
		return rc;
	ferry_buf b = FERRY_BUF_INIT;
	size_t checked = 0, damaged = 0, missing = 0, unwritten = 0, open_stages = 0;
	uint64_t rows = 0;
	ferry_err first = {0}, first_unwritten = {0};
	for (size_t i = 0; i < m->nstages; i++)
		open_stages += !m->stages[i].complete;
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
				return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
			}
			ferry_label_chunk_info info;
			ferry_err e = {0};
			int crc = ferry__chunk_check(path, m->label_id, (uint64_t)t->job, (uint64_t)ch->chunk,
			                             (uint32_t)t->ncols, &info, &e);
			if (crc == FERRY_ENOTFOUND && !t->complete) {
				/* Never written: the export stopped (a full disk, a kill). A label
				 * that cannot be loaded whole is not right, whatever its blocks say. */
				unwritten++;
				if (!first_unwritten.code)
					ferry_err_set(&first_unwritten, FERRY_ECORRUPT,
					              "chunk %lld of table \"%s\" was never written", (long long)ch->chunk,
					              t->dir);
				free(path);
				continue;
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
	int bad = damaged + missing + unwritten + open_stages > 0;
	if (json)
		ferry_buf_printf(&b, "],\"chunks_checked\":%zu,\"damaged\":%zu,\"missing\":%zu,\"unwritten\":%zu,"
		                 "\"incomplete_stages\":%zu,\"rows\":%llu,\"ok\":%s}\n",
		                 checked, damaged, missing, unwritten, open_stages, (unsigned long long)rows,
		                 bad ? "false" : "true");
	else
		ferry_buf_printf(&b, "%zu chunks checked, %llu rows: %s\n", checked, (unsigned long long)rows,
		                 damaged + missing ? "DAMAGED"
		                 : bad ? "INCOMPLETE (the export did not finish)" : "every block and checksum is right");
	ferry__manifest_free(m);
	if (!b.failed)
		fwrite(b.data, 1, b.len, f);
	ferry_buf_free(&b);
	if (damaged + missing) {
		return ferry_err_set(err, FERRY_ECORRUPT, "label \"%s\": %zu damaged and %zu missing chunks; first: %.600s",
		                     dir, damaged, missing, first.msg);
	}
	if (bad)
		return ferry_err_set(err, FERRY_ECORRUPT,
		                     "label \"%s\" is incomplete: %zu of its stages not finished, %zu chunks never written%s%.400s "
		                     "(rerun the export)", dir, open_stages, unwritten, unwritten ? "; first: " : "",
		                     unwritten ? first_unwritten.msg : "");
	return 0;
}
