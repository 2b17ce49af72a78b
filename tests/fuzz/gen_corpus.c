/* gen_corpus.c — writes small valid seeds for the fuzz targets: chunks into DIR/corpus-chunk
 * and manifests into DIR/corpus-manifest. tests/sh/fuzz.sh builds and runs it on every run,
 * so fresh seeds follow the format as it is; the committed seeds (tests/fuzz/corpus-chunk,
 * tests/fuzz/corpus-manifest) came from it: build it with the sources fuzz.sh lists and run
 * `gen_corpus tests/fuzz`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "label/label.h"

static const uint8_t ID[16] = {0x3f, 0x9a, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

static int chunk(const char *dir, const char *name, uint32_t ncols, ferry_batch **bs, size_t nb)
{
	ferry_err err;
	char *path = ferry__sprintf("%s/corpus-chunk/%s", dir, name);
	ferry_chunk_writer *w;
	int rc = ferry__chunkw_open(&w, path, ID, 1, 2, ncols, 3, &err);
	for (size_t i = 0; rc == 0 && i < nb; i++)
		rc = ferry__chunkw_add(w, bs[i], NULL, &err);
	if (rc == 0)
		rc = ferry__chunkw_finish(w, NULL, &err);
	else
		ferry__chunkw_abort(w);
	if (rc)
		fprintf(stderr, "gen_corpus: %s\n", err.msg);
	free(path);
	return rc;
}

static void text(ferry_value *v, ferry_type t, const char *s)
{
	v->type = (uint8_t)t;
	v->v.s = s;
	v->len = (uint32_t)strlen(s);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: gen_corpus DIR\n");
		return 2;
	}
	const char *dir = argv[1];
	ferry_err err;
	char *d1 = ferry__sprintf("%s/corpus-chunk", dir), *d2 = ferry__sprintf("%s/corpus-manifest", dir);
	int rc = ferry__label_mkdirs(d1, &err) || ferry__label_mkdirs(d2, &err);
	free(d1);
	free(d2);
	if (rc)
		return 1;

	/* Three small rows. */
	ferry_batch *b = ferry__batch_new(2, 4);
	for (int i = 0; i < 3; i++) {
		ferry_value *row = ferry_batch_add_row(b);
		row[0].type = FERRY_INT, row[0].v.i = i * 1000 - 1;
		row[1].type = FERRY_TEXT, row[1].v.s = "abc", row[1].len = (uint32_t)i;
	}
	rc |= chunk(dir, "small.chunk", 2, &b, 1);
	ferry__batch_free(b);

	/* Every type, in one row of 13 columns and a row of NULLs. */
	b = ferry__batch_new(13, 2);
	ferry_value *row = ferry_batch_add_row(b);
	row[1].type = FERRY_INT, row[1].v.i = INT64_MIN;
	row[2].type = FERRY_FLOAT, row[2].v.f = -0.0;
	text(&row[3], FERRY_NUMERIC, "-1.50");
	text(&row[4], FERRY_TEXT, "z\xc3\xa9");
	row[5].type = FERRY_BLOB, row[5].v.b = (const uint8_t *)"\x00\xff", row[5].len = 2;
	row[6].type = FERRY_BOOL, row[6].v.i = 1;
	text(&row[7], FERRY_DATE, "2026-11-21");
	text(&row[8], FERRY_TIME, "20:19:21.5");
	text(&row[9], FERRY_TIMESTAMP, "2026-11-21 20:19:21");
	text(&row[10], FERRY_TIMESTAMPTZ, "2026-11-21 20:19:21+00");
	text(&row[11], FERRY_UUID, "3f9a0000-0000-4000-8000-00000000beef");
	text(&row[12], FERRY_JSON, "{\"a\":1}");
	ferry_batch_add_row(b);
	rc |= chunk(dir, "types.chunk", 13, &b, 1);
	ferry__batch_free(b);

	/* No rows at all. */
	rc |= chunk(dir, "empty.chunk", 1, NULL, 0);

	/* Two blocks that compress to almost nothing. */
	size_t big = 700 * 1024;
	char *s = malloc(big);
	memset(s, 'a', big);
	ferry_batch *bb[2] = {ferry__batch_new(1, 1), ferry__batch_new(1, 1)};
	for (int i = 0; i < 2; i++) {
		row = ferry_batch_add_row(bb[i]);
		row->type = FERRY_BLOB, row->v.b = (const uint8_t *)s, row->len = (uint32_t)(big - (size_t)i);
	}
	rc |= chunk(dir, "blocks.chunk", 1, bb, 2);
	ferry__batch_free(bb[0]);
	ferry__batch_free(bb[1]);
	free(s);

	/* A manifest with most of what one holds, and one with nothing. */
	ferry_label_manifest *m = ferry__manifest_new("0123456789abcdef0123456789abcdef");
	ferry__manifest_add_source(m, "catalog", "sqlite", "sqlite:v1/catalog.db", NULL);
	ferry_label_stage *st = ferry__manifest_add_stage(m, "core");
	st->complete = 1;
	st->read_at = ferry__strdup("2026-11-21T20:19:30Z");
	st = ferry__manifest_add_stage(m, "late");
	ferry__manifest_stage_add_after(st, "core");
	ferry_label_table *t = ferry__manifest_add_table(m, 0, "core", "my \"odd\" items", "catalog.items");
	ferry__manifest_add_column(t, "id", FERRY_INT, "INTEGER", 1, 1);
	ferry__manifest_add_column(t, "title", FERRY_TEXT, "TEXT", 0, 0);
	ferry__manifest_add_conflict(t, "title", FERRY_CONFLICT_MAX);
	t->complete = 1;
	ferry_label_chunk *c = ferry__manifest_add_chunk(t, 0);
	c->written = 1;
	c->info = (ferry_label_chunk_info){3, 1, 0x1234, 0x5678, 150, 30};
	c->hi = malloc(2);
	memcpy(c->hi, "\x01\x02", 2);
	c->hi_len = 2;
	c->est_rows = 3, c->read = 3;
	c = ferry__manifest_add_chunk(t, 1);
	c->lo = malloc(2);
	memcpy(c->lo, "\x01\x02", 2);
	c->lo_len = 2;
	char *md = ferry__sprintf("%s/corpus-manifest", dir);
	char *from = ferry__sprintf("%s/manifest.json", md), *to = ferry__sprintf("%s/sample.json", md);
	rc |= ferry__manifest_write(m, md, &err) || rename(from, to);
	ferry__manifest_free(m);
	m = ferry__manifest_new("00000000000000000000000000000000");
	free(to);
	to = ferry__sprintf("%s/empty.json", md);
	rc |= ferry__manifest_write(m, md, &err) || rename(from, to);
	ferry__manifest_free(m);
	free(md);
	free(from);
	free(to);
	return rc ? 1 : 0;
}
