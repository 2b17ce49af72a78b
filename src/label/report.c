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

int ferry__label_inspect(const char *dir, int json, FILE *f, ferry_err *err)
{
	ferry_label_manifest *m = NULL;
	int rc = ferry__manifest_read(&m, dir, err);
	if (rc)
		return rc;
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
		return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
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
