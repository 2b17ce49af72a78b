/* test_label.c — unit tests of the label's files (docs/LABEL-FORMAT.md): chunk round trips of
 * every value type across blocks, the little-endian bytes on disk, damage of every kind
 * (truncation and bit flips at every offset, another label's chunk, canonical encodings),
 * the manifest's round trip, self-checksum and field checks, and the folder names. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>
#include "label/label.h"
#include "check.h"

/* rc is code and the message holds sub; prints the message when not. */
#define CHECK_ERR(rc, code, e, sub) check_err((rc), (code), &(e), (sub), __LINE__)
static void check_err(int rc, int code, const ferry_err *e, const char *sub, int line)
{
	if (rc == code && strstr(e->msg, sub)) {
		check_passed++;
		return;
	}
	check_failed++;
	fprintf(stderr, "%s:%d: FAILED: want %d with \"%s\", got %d: %s\n", __FILE__, line, code, sub,
	        rc, rc ? e->msg : "(success)");
}

static char tmpdir[64];

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(p);
}

static char *tpath(const char *rel)
{
	return ferry__sprintf("%s/%s", tmpdir, rel);
}

static uint8_t *slurp(const char *path, size_t *len)
{
	char *d;
	ferry_err e;
	if (ferry__read_file(&d, len, path, (size_t)1 << 30, &e) != 0)
		return NULL;
	return (uint8_t *)d;
}

static int spit(const char *path, const void *d, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	size_t w = fwrite(d, 1, n, f);
	return fclose(f) == 0 && w == n ? 0 : -1;
}

static uint64_t le(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static const uint8_t ID[16] = {0x3f, 0x9a, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
static const uint8_t OTHER_ID[16] = {0x77, 0xaa, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

/* ==== rows of every kind ================================================================== */

#define NCOLS 8
#define NROWS 120000
#define BIG_ROW 5000
#define BIG_LEN ((size_t)3 << 20)
static uint8_t *big_blob;

static const char *const texts[] = {
	"", "a", "z\xc3\xa9\xf0\x9f\x9a\xa2", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", "x\ny\0z",
	"quote\"s and \\backslashes\\", "trailing space ", "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82"};
static const ferry_type textlike[] = {FERRY_NUMERIC, FERRY_DATE, FERRY_TIME, FERRY_TIMESTAMP,
                                      FERRY_TIMESTAMPTZ, FERRY_UUID, FERRY_JSON};
static const char *const textlike_vals[] = {
	"-12345678901234567890.000000000000000001", "2026-11-21", "20:19:21.123456",
	"2026-11-21 20:19:21", "2026-11-21 20:19:21+00", "3f9a0000-0000-4000-8000-00000000beef",
	"{\"a\": [1, 2, {\"b\": null}]}"};

static void set_text(ferry_value *v, ferry_type t, const char *s, size_t len)
{
	v->type = (uint8_t)t;
	v->v.s = s;
	v->len = (uint32_t)len;
}

/* Row i of the big table: the values point into constant tables (or scratch for blobs). */
static void gen_row(uint64_t i, ferry_value *v, uint8_t *scratch)
{
	memset(v, 0, NCOLS * sizeof(*v));
	v[0].type = FERRY_INT;
	v[0].v.i = (int64_t)(i * 2654435761u) - 1000000;
	if (i % 97 == 0)
		v[0].v.i = INT64_MIN;
	else if (i % 89 == 0)
		v[0].v.i = INT64_MAX;
	else if (i % 13 == 0)
		v[0].type = FERRY_NULL;
	static const double fl[] = {-0.0, 0.0, 1.5, -2.25e300, 5e-324};
	v[1].type = FERRY_FLOAT;
	switch (i % 8) {
	case 0: v[1].v.f = NAN; break;
	case 1: v[1].v.f = INFINITY; break;
	case 2: v[1].v.f = -INFINITY; break;
	default: v[1].v.f = fl[i % 5] * (double)(i % 3 + 1);
	}
	if (i % 11 == 0)
		v[2].type = FERRY_NULL;
	else
		set_text(&v[2], FERRY_TEXT, texts[i % 8], i % 8 == 4 ? 5 : strlen(texts[i % 8]));
	v[3].type = FERRY_BLOB;
	if (i == BIG_ROW) {
		v[3].v.b = big_blob;
		v[3].len = (uint32_t)BIG_LEN;
	} else {
		size_t n = i % 5 == 0 ? 0 : i % 40;
		for (size_t k = 0; k < n; k++)
			scratch[k] = (uint8_t)(i * 31 + k * 7);
		v[3].v.b = scratch;
		v[3].len = (uint32_t)n;
	}
	v[4].type = FERRY_BOOL;
	v[4].v.i = (int64_t)(i & 1);
	size_t k = i % 7;
	set_text(&v[5], textlike[k], textlike_vals[k], strlen(textlike_vals[k]));
	set_text(&v[6], FERRY_TEXT, texts[3], strlen(texts[3]));
	v[7].type = FERRY_INT;
	v[7].v.i = (int64_t)(i % 300) - 150;
}

static int values_same(const ferry_value *a, const ferry_value *b)
{
	if (!ferry__value_equal(a, b))
		return 0;
	if (a->type == FERRY_FLOAT && !isnan(a->v.f))
		return memcmp(&a->v.f, &b->v.f, 8) == 0; /* -0.0 stays -0.0 */
	return 1;
}

/* Write rows [0, nrows) of gen_row to path through batches laid out by map. */
static int write_rows(const char *path, uint64_t nrows, ferry_label_chunk_info *info,
                      ferry_err *e)
{
	static const size_t map[NCOLS] = {1, 4, 7, 0, 3, 6, 9, 2}; /* a batch of 10 columns */
	ferry_chunk_writer *w;
	int rc = ferry__chunkw_open(&w, path, ID, 3, 7, NCOLS, 3, e);
	if (rc)
		return rc;
	ferry_batch *b = ferry__batch_new(10, 1000);
	ferry_value v[NCOLS];
	uint8_t scratch[64];
	for (uint64_t i = 0; i < nrows && rc == 0; i++) {
		ferry_value *row = ferry_batch_add_row(b);
		row[5].type = FERRY_INT; /* unmapped columns hold anything */
		row[8].type = FERRY_TEXT;
		row[8].v.s = "unused";
		row[8].len = 6;
		gen_row(i, v, scratch);
		for (int c = 0; c < NCOLS; c++) {
			row[map[c]] = v[c];
			if (v[c].type == FERRY_BLOB || (v[c].type != FERRY_NULL && v[c].type != FERRY_INT &&
			                                v[c].type != FERRY_FLOAT && v[c].type != FERRY_BOOL))
				row[map[c]].v.s = ferry_batch_copy(b, v[c].v.s, v[c].len);
		}
		if (ferry_batch_nrows(b) == ferry_batch_capacity(b) || i + 1 == nrows) {
			rc = ferry__chunkw_add(w, b, map, e);
			ferry__batch_reset(b);
		}
	}
	ferry__batch_free(b);
	if (rc) {
		ferry__chunkw_abort(w);
		return rc;
	}
	return ferry__chunkw_finish(w, info, e);
}

static void test_roundtrip(void)
{
	char *path = tpath("big.chunk");
	char *tmp = tpath("big.chunk.tmp");
	ferry_err e;
	big_blob = malloc(BIG_LEN);
	for (size_t k = 0; k < BIG_LEN; k++)
		big_blob[k] = (uint8_t)(k * 2654435761u >> 13);
	CHECK(spit(tmp, "stale", 5) == 0); /* a crashed writer's leftover is replaced */
	ferry_label_chunk_info wi;
	int rc = write_rows(path, NROWS, &wi, &e);
	if (!CHECK(rc == 0))
		printf("  %s\n", e.msg);
	struct stat st;
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK(stat(tmp, &st) != 0 && errno == ENOENT);

	/* What the writer says matches the file and an independent digest. */
	size_t flen;
	uint8_t *file = slurp(path, &flen);
	CHECK(file && wi.bytes == flen && wi.xxh3 == XXH3_64bits(file, flen));
	CHECK(wi.rows == NROWS && wi.blocks > 2);
	uint64_t digest = 0, raw_total = 0;
	ferry_value v[NCOLS];
	uint8_t scratch[64], *enc = NULL;
	size_t elen = 0, ecap = 0;
	for (uint64_t i = 0; i < NROWS; i++) {
		gen_row(i, v, scratch);
		elen = 0;
		ferry_value_encode_row(&enc, &elen, &ecap, v, NCOLS);
		digest += XXH3_64bits(enc, elen);
		raw_total += elen;
	}
	free(enc);
	CHECK(wi.digest == digest && wi.raw_bytes == raw_total);

	/* Blocks: about 1 MiB, and the 3 MiB row alone in its own. */
	size_t pos = 64, nblocks = 0, alone = 0, over = 0;
	while (file && pos + 24 <= flen && memcmp(file + pos, "BLK1", 4) == 0) {
		uint64_t raw = le(file + pos + 4, 4), clen = le(file + pos + 8, 4);
		uint64_t rows = le(file + pos + 12, 4);
		if (rows == 1 && raw > BIG_LEN)
			alone++;
		else if (raw > ((size_t)1 << 20))
			over++;
		nblocks++;
		pos += 24 + clen;
	}
	CHECK(nblocks == wi.blocks && alone == 1 && over == 0 && pos + 36 == flen);
	free(file);

	/* Read back in batches of an odd size. */
	ferry_chunk_reader *r;
	rc = ferry__chunkr_open(&r, path, ID, 3, 7, NCOLS, &e);
	if (!CHECK(rc == 0)) {
		printf("  %s\n", e.msg);
		return;
	}
	ferry_label_chunk_info ri;
	ferry__chunkr_info(r, &ri);
	CHECK(memcmp(&ri, &wi, sizeof(ri)) == 0);
	CHECK(ferry__chunkr_ncols(r) == NCOLS);
	ferry_batch *b = ferry__batch_new(NCOLS, 777);
	uint64_t seen = 0, bad = 0, calls = 0;
	int eof = 0;
	while (!eof) {
		ferry__batch_reset(b);
		if (ferry__chunkr_next(r, b, NULL, &eof, &e) != 0) {
			printf("  %s\n", e.msg);
			bad++;
			break;
		}
		calls++;
		for (size_t k = 0; k < ferry_batch_nrows(b); k++, seen++) {
			gen_row(seen, v, scratch);
			const ferry_value *got = ferry_batch_crow(b, k);
			for (int c = 0; c < NCOLS; c++)
				if (!values_same(&v[c], &got[c])) {
					if (bad++ < 3)
						printf("  row %" PRIu64 " column %d differs\n", seen, c);
				}
		}
	}
	CHECK(seen == NROWS && bad == 0);
	CHECK(calls == (NROWS + 776) / 777); /* eof comes with the last rows */
	ferry__batch_reset(b);
	CHECK(ferry__chunkr_next(r, b, NULL, &eof, &e) == 0 && eof && ferry_batch_nrows(b) == 0);
	ferry__chunkr_close(r);

	/* A map picks and orders columns; strings outlive the block they came from. */
	size_t pick[2] = {6, 3};
	ferry_batch *b2 = ferry__batch_new(2, 50000);
	CHECK(ferry__chunkr_open(&r, path, NULL, UINT64_MAX, UINT64_MAX, 0, &e) == 0);
	CHECK(ferry__chunkr_next(r, b2, pick, &eof, &e) == 0 && !eof);
	CHECK(ferry_batch_nrows(b2) == 50000);
	gen_row(BIG_ROW, v, scratch);
	const ferry_value *got = ferry_batch_crow(b2, BIG_ROW);
	CHECK(values_same(&got[1], &v[3]) && values_same(&got[0], &v[6]));
	gen_row(1, v, scratch);
	got = ferry_batch_crow(b2, 1);
	CHECK(values_same(&got[1], &v[3]) && values_same(&got[0], &v[6]));
	ferry__chunkr_close(r);
	ferry__batch_free(b2);

	/* ferry__chunk_check agrees; the wrong expectations are refused. */
	ferry_label_chunk_info ci;
	CHECK(ferry__chunk_check(path, ID, 3, 7, NCOLS, &ci, &e) == 0 &&
	      memcmp(&ci, &wi, sizeof(ci)) == 0);
	rc = ferry__chunk_check(path, OTHER_ID, 3, 7, NCOLS, NULL, &e);
	CHECK_ERR(rc, FERRY_ECORRUPT, e, "belongs to label 3f9a0203040506070809");
	CHECK(strstr(e.msg, " not 77aa0203") != NULL && strstr(e.msg, "big.chunk\" is damaged"));
	CHECK_ERR(ferry__chunk_check(path, ID, 4, 7, NCOLS, NULL, &e), FERRY_ECORRUPT, e,
	          "header: job 3 chunk 7 where job 4 chunk 7 was expected");
	CHECK_ERR(ferry__chunk_check(path, ID, 3, 8, NCOLS, NULL, &e), FERRY_ECORRUPT, e,
	          "where job 3 chunk 8 was expected");
	CHECK_ERR(ferry__chunk_check(path, ID, 3, 7, NCOLS + 1, NULL, &e), FERRY_ECORRUPT, e,
	          "rows of 8 columns where 9 were expected");
	char *none = tpath("none.chunk");
	CHECK_ERR(ferry__chunk_check(none, ID, 3, 7, NCOLS, NULL, &e), FERRY_ENOTFOUND, e,
	          "could not open label chunk");
	free(none);
	ferry__batch_free(b);
	free(big_blob);
	free(path);
	free(tmp);
}

/* ==== the bytes on disk ==================================================================== */

static void test_little_endian(void)
{
	char *path = tpath("le.chunk");
	ferry_err e;
	ferry_chunk_writer *w;
	CHECK(ferry__chunkw_open(&w, path, ID, 0x0102030405060708ULL, 0x1122334455667788ULL, 3, 3,
	                         &e) == 0);
	ferry_batch *b = ferry__batch_new(3, 4);
	ferry_value *row = ferry_batch_add_row(b);
	row[0].type = FERRY_INT, row[0].v.i = 300;
	row[1].type = FERRY_FLOAT, row[1].v.f = 1.0;
	row[2].type = FERRY_TEXT, row[2].v.s = "hi", row[2].len = 2;
	row = ferry_batch_add_row(b);
	row[0].type = FERRY_BOOL, row[0].v.i = 7; /* written as true */
	row[2].type = FERRY_BLOB, row[2].v.b = (const uint8_t *)"", row[2].len = 0;
	CHECK(ferry__chunkw_add(w, b, NULL, &e) == 0);
	ferry_label_chunk_info info;
	CHECK(ferry__chunkw_finish(w, &info, &e) == 0);
	ferry__batch_free(b);

	static const uint8_t rows[] = {
		FERRY_INT, 0xd8, 0x04, FERRY_FLOAT, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, FERRY_TEXT, 2, 'h', 'i',
		FERRY_BOOL, 0x02, FERRY_NULL, FERRY_BLOB, 0};
	size_t n;
	uint8_t *f = slurp(path, &n);
	if (!CHECK(f && n > 64 + 24 + 36))
		return;
	static const uint8_t head[56] = {
		'F', 'E', 'R', 'R', 'Y', 'C', 'H', 'K', 1, 0, 0, 0, 64, 0, 0, 0,
		0x3f, 0x9a, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
		8, 7, 6, 5, 4, 3, 2, 1, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,
		3, 0, 0, 0, 0, 0, 0, 0};
	CHECK(memcmp(f, head, 56) == 0);
	uint64_t hs = XXH3_64bits(head, 56);
	int ok = 1;
	for (int i = 0; i < 8; i++)
		ok &= f[56 + i] == (uint8_t)(hs >> (8 * i));
	CHECK(ok);
	const uint8_t *blk = f + 64;
	CHECK(memcmp(blk, "BLK1", 4) == 0);
	CHECK(blk[4] == sizeof(rows) && blk[5] == 0 && blk[6] == 0 && blk[7] == 0);
	uint32_t clen = (uint32_t)(blk[8] | blk[9] << 8 | blk[10] << 16 | (uint32_t)blk[11] << 24);
	CHECK(blk[12] == 2 && blk[13] == 0 && blk[14] == 0 && blk[15] == 0);
	CHECK(64 + 24 + clen + 36 == n);
	uint64_t bs = XXH3_64bits(blk + 24, clen);
	ok = 1;
	for (int i = 0; i < 8; i++)
		ok &= blk[16 + i] == (uint8_t)(bs >> (8 * i));
	CHECK(ok);
	uint8_t raw[64];
	CHECK(ZSTD_decompress(raw, sizeof(raw), blk + 24, clen) == sizeof(rows) &&
	      memcmp(raw, rows, sizeof(rows)) == 0);
	const uint8_t *t = f + n - 36;
	uint64_t dg = XXH3_64bits(rows, 12 + 4) + XXH3_64bits(rows + 16, sizeof(rows) - 16);
	static const uint8_t tr4[20] = {'E', 'N', 'D', '1', 2, 0, 0, 0, 0, 0, 0, 0,
	                                1, 0, 0, 0, 0, 0, 0, 0};
	CHECK(memcmp(t, tr4, 20) == 0);
	uint64_t ts = XXH3_64bits(t, 28);
	ok = 1;
	for (int i = 0; i < 8; i++)
		ok &= t[20 + i] == (uint8_t)(dg >> (8 * i)) && t[28 + i] == (uint8_t)(ts >> (8 * i));
	CHECK(ok);
	CHECK(info.digest == dg && info.rows == 2 && info.blocks == 1 && info.bytes == n &&
	      info.raw_bytes == sizeof(rows));
	free(f);
	free(path);
}

/* ==== damage ================================================================================ */

/* A small chunk in memory: 3 rows in one block. */
static uint8_t *small_chunk(size_t *n)
{
	char *path = tpath("small.chunk");
	ferry_err e;
	ferry_chunk_writer *w;
	uint8_t *f = NULL;
	if (ferry__chunkw_open(&w, path, ID, 1, 2, 2, 3, &e) == 0) {
		ferry_batch *b = ferry__batch_new(2, 4);
		for (int i = 0; i < 3; i++) {
			ferry_value *row = ferry_batch_add_row(b);
			row[0].type = FERRY_INT, row[0].v.i = i * 1000;
			row[1].type = FERRY_TEXT, row[1].v.s = "abc", row[1].len = (uint32_t)i;
		}
		if (ferry__chunkw_add(w, b, NULL, &e) == 0 && ferry__chunkw_finish(w, NULL, &e) == 0)
			f = slurp(path, n);
		else
			ferry__chunkw_abort(w);
		ferry__batch_free(b);
	}
	free(path);
	return f;
}

static void test_damage_everywhere(void)
{
	size_t n;
	uint8_t *f = small_chunk(&n);
	if (!CHECK(f != NULL))
		return;
	ferry_err e;
	ferry_label_chunk_info info;
	CHECK(ferry__chunk_check_mem(f, n, "mem", ID, 1, 2, 2, &info, &e) == 0 && info.rows == 3);

	/* Cut at every offset: always damage, and said to be a truncation. */
	size_t wrong = 0, unsaid = 0;
	for (size_t cut = 0; cut < n; cut++) {
		int rc = ferry__chunk_check_mem(f, cut, "mem", ID, 1, 2, 2, NULL, &e);
		if (rc != FERRY_ECORRUPT)
			wrong++;
		else if (!strstr(e.msg, "truncated"))
			unsaid++, printf("  cut at %zu: %s\n", cut, e.msg);
	}
	CHECK(wrong == 0 && unsaid == 0);

	/* Flip every bit: always damage. */
	wrong = 0;
	uint8_t *g = malloc(n);
	for (size_t i = 0; i < n; i++)
		for (int bit = 0; bit < 8; bit++) {
			memcpy(g, f, n);
			g[i] ^= (uint8_t)(1 << bit);
			int rc = ferry__chunk_check_mem(g, n, "mem", ID, 1, 2, 2, NULL, &e);
			if (rc != FERRY_ECORRUPT && wrong++ < 3)
				printf("  flip of byte %zu bit %d: %d\n", i, bit, rc);
		}
	CHECK(wrong == 0);
	/* ... each place with its own words. */
	memcpy(g, f, n);
	g[20] ^= 1;
	CHECK_ERR(ferry__chunk_check_mem(g, n, "L/x.chunk", ID, 1, 2, 2, NULL, &e), FERRY_ECORRUPT,
	          e, "label chunk \"L/x.chunk\" is damaged: header checksum mismatch");
	memcpy(g, f, n);
	g[64 + 24 + 5] ^= 0x10;
	CHECK_ERR(ferry__chunk_check_mem(g, n, "m", ID, 1, 2, 2, NULL, &e), FERRY_ECORRUPT, e,
	          "block 0 checksum mismatch");
	memcpy(g, f, n);
	g[n - 20] ^= 1;
	CHECK_ERR(ferry__chunk_check_mem(g, n, "m", ID, 1, 2, 2, NULL, &e), FERRY_ECORRUPT, e,
	          "trailer checksum mismatch");
	memcpy(g, f, n);
	g[8] = 2; /* version 2, checked before the checksum */
	CHECK_ERR(ferry__chunk_check_mem(g, n, "m", ID, 1, 2, 2, NULL, &e), FERRY_ECORRUPT, e,
	          "label chunk \"m\" has format version 2; this ferry reads version 1");

	/* Garbage after the trailer; a chunk of another label. */
	uint8_t *h = malloc(n + 3);
	memcpy(h, f, n);
	memcpy(h + n, "xyz", 3);
	CHECK_ERR(ferry__chunk_check_mem(h, n + 3, "m", ID, 1, 2, 2, NULL, &e), FERRY_ECORRUPT, e,
	          "3 bytes follow the trailer");
	CHECK_ERR(ferry__chunk_check_mem(f, n, "m", OTHER_ID, 1, 2, 2, NULL, &e), FERRY_ECORRUPT, e,
	          "belongs to label");
	CHECK(ferry__chunk_check_mem(f, n, "m", NULL, UINT64_MAX, UINT64_MAX, 0, NULL, &e) == 0);

	/* The same on a file, through the path API. */
	char *path = tpath("cut.chunk");
	CHECK(spit(path, f, n - 1) == 0);
	CHECK_ERR(ferry__chunk_check(path, ID, 1, 2, 2, NULL, &e), FERRY_ECORRUPT, e,
	          "cut.chunk\" is damaged: truncated in the trailer");
	CHECK(spit(path, f, 64 + 30) == 0);
	CHECK_ERR(ferry__chunk_check(path, ID, 1, 2, 2, NULL, &e), FERRY_ECORRUPT, e,
	          "truncated in block 0");
	free(path);
	free(h);
	free(g);
	free(f);
}

/* A chunk of several blocks: damage names the right one. */
static void test_damage_blocks(void)
{
	char *path = tpath("blocks.chunk");
	ferry_err e;
	ferry_chunk_writer *w;
	size_t big = 600 * 1024;
	char *s = malloc(big);
	for (size_t k = 0; k < big; k++)
		s[k] = (char)('a' + (k * 2654435761u >> 7) % 26);
	CHECK(ferry__chunkw_open(&w, path, ID, 0, 0, 1, 1, &e) == 0);
	ferry_batch *b = ferry__batch_new(1, 1);
	for (int i = 0; i < 4; i++) { /* 600 KiB each: one row per block */
		ferry__batch_reset(b);
		ferry_value *row = ferry_batch_add_row(b);
		row->type = FERRY_TEXT, row->v.s = s, row->len = (uint32_t)(big - (size_t)i);
		CHECK(ferry__chunkw_add(w, b, NULL, &e) == 0);
	}
	ferry_label_chunk_info info;
	CHECK(ferry__chunkw_finish(w, &info, &e) == 0 && info.blocks == 4 && info.rows == 4);
	size_t n;
	uint8_t *f = slurp(path, &n);
	size_t off[5], pos = 64;
	for (int k = 0; k < 4; k++) {
		off[k] = pos;
		pos += 24 + le(f + pos + 8, 4);
	}
	off[4] = pos;
	uint8_t *g = malloc(n);
	memcpy(g, f, n);
	g[off[2] + 24 + 100] ^= 0x40;
	CHECK_ERR(ferry__chunk_check_mem(g, n, "m", ID, 0, 0, 1, NULL, &e), FERRY_ECORRUPT, e,
	          "block 2 checksum mismatch");
	CHECK_ERR(ferry__chunk_check_mem(f, off[3] + 30, "m", ID, 0, 0, 1, NULL, &e),
	          FERRY_ECORRUPT, e, "truncated in block 3");
	CHECK_ERR(ferry__chunk_check_mem(f, off[3] + 10, "m", ID, 0, 0, 1, NULL, &e),
	          FERRY_ECORRUPT, e, "truncated in block 3");
	CHECK_ERR(ferry__chunk_check_mem(f, off[4], "m", ID, 0, 0, 1, NULL, &e),
	          FERRY_ECORRUPT, e, "truncated after block 3");
	/* Blocks swapped: the same set of rows (the digest does not depend on their order);
	 * only the whole file's xxh3, kept in the manifest, differs. */
	size_t l1 = off[2] - off[1], l2 = off[3] - off[2];
	memcpy(g, f, n);
	memcpy(g + off[1], f + off[2], l2);
	memcpy(g + off[1] + l2, f + off[1], l1);
	ferry_label_chunk_info si;
	CHECK(ferry__chunk_check_mem(g, n, "m", ID, 0, 0, 1, &si, &e) == 0 &&
	      si.digest == info.digest && si.xxh3 != info.xxh3);
	/* A block repeated in place of another: whole, but not the chunk's rows. */
	uint8_t *g2 = malloc(n + l2);
	memcpy(g2, f, off[1]);
	memcpy(g2 + off[1], f + off[2], l2);
	memcpy(g2 + off[1] + l2, f + off[2], n - off[2]);
	CHECK_ERR(ferry__chunk_check_mem(g2, n - l1 + l2, "m", ID, 0, 0, 1, NULL, &e),
	          FERRY_ECORRUPT, e, "trailer: row-set digest mismatch");
	free(g2);
	/* A block dropped. */
	memcpy(g, f, off[1]);
	memcpy(g + off[1], f + off[2], n - off[2]);
	CHECK_ERR(ferry__chunk_check_mem(g, n - l1, "m", ID, 0, 0, 1, NULL, &e), FERRY_ECORRUPT, e,
	          "trailer: 4 rows where the blocks hold 3");
	free(g);
	free(f);
	ferry__batch_free(b);
	free(s);
	free(path);
}

/* Build a one-block chunk around raw row bytes, every checksum right, so that only the
 * encoding itself is wrong. */
static uint8_t *forge(size_t *n, uint32_t ncols, const uint8_t *raw, size_t rawlen,
                      uint32_t rows)
{
	size_t bound = ZSTD_compressBound(rawlen);
	uint8_t *f = calloc(1, 64 + 24 + bound + 36);
	memcpy(f, "FERRYCHK", 8);
	f[8] = 1;
	f[12] = 64;
	memcpy(f + 16, ID, 16);
	for (int i = 0; i < 4; i++)
		f[48 + i] = (uint8_t)(ncols >> (8 * i));
	uint64_t h = XXH3_64bits(f, 56);
	for (int i = 0; i < 8; i++)
		f[56 + i] = (uint8_t)(h >> (8 * i));
	uint8_t *b = f + 64;
	size_t c = ZSTD_compress(b + 24, bound, raw, rawlen, 1);
	memcpy(b, "BLK1", 4);
	uint64_t fields[3] = {rawlen, c, rows};
	for (int k = 0; k < 3; k++)
		for (int i = 0; i < 4; i++)
			b[4 + 4 * k + i] = (uint8_t)(fields[k] >> (8 * i));
	h = XXH3_64bits(b + 24, c);
	for (int i = 0; i < 8; i++)
		b[16 + i] = (uint8_t)(h >> (8 * i));
	uint8_t *t = b + 24 + c;
	memcpy(t, "END1", 4);
	t[4] = (uint8_t)rows;
	t[12] = 1;
	h = XXH3_64bits(raw, rawlen); /* right when the block holds one row */
	for (int i = 0; i < 8; i++)
		t[20 + i] = (uint8_t)(h >> (8 * i));
	h = XXH3_64bits(t, 28);
	for (int i = 0; i < 8; i++)
		t[28 + i] = (uint8_t)(h >> (8 * i));
	*n = 64 + 24 + c + 36;
	return f;
}

static void test_canonical(void)
{
	static const struct {
		const char *what;
		uint8_t raw[12];
		size_t len;
		int ok;
	} cases[] = {
		{"a good row", {FERRY_INT, 0x01}, 2, 1},
		{"a varint with a zero last byte", {FERRY_INT, 0x81, 0x00}, 3, 0},
		{"a varint past 2^64", {FERRY_INT, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}, 11, 0},
		{"the largest varint", {FERRY_INT, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 11, 1},
		{"a bool of 2", {FERRY_BOOL, 0x04}, 2, 0},
		{"a bool of -1", {FERRY_BOOL, 0x01}, 2, 0},
		{"a bool of 1", {FERRY_BOOL, 0x02}, 2, 1},
		{"another NaN", {FERRY_FLOAT, 1, 0, 0, 0, 0, 0, 0xf8, 0x7f}, 9, 0},
		{"the NaN", {FERRY_FLOAT, 0, 0, 0, 0, 0, 0, 0xf8, 0x7f}, 9, 1},
		{"an unknown type", {13}, 1, 0},
		{"a length past the end", {FERRY_TEXT, 3, 'a', 'b'}, 4, 0},
		{"bytes after the row", {FERRY_NULL, FERRY_NULL}, 2, 0},
	};
	for (size_t i = 0; i < FERRY_ARRAY_LEN(cases); i++) {
		size_t n;
		uint8_t *f = forge(&n, 1, cases[i].raw, cases[i].len, 1);
		ferry_err e;
		int rc = ferry__chunk_check_mem(f, n, "forged", ID, UINT64_MAX, UINT64_MAX, 1, NULL, &e);
		if (!CHECK(cases[i].ok ? rc == 0 : rc == FERRY_ECORRUPT))
			printf("  %s: %d %s\n", cases[i].what, rc, rc ? e.msg : "");
		free(f);
	}
	/* Fewer rows than stated; zero rows; more rows than bytes allow. */
	static const uint8_t two[] = {FERRY_NULL, FERRY_NULL};
	ferry_err e;
	size_t n;
	uint8_t *f = forge(&n, 1, two, 2, 3);
	CHECK_ERR(ferry__chunk_check_mem(f, n, "m", NULL, UINT64_MAX, UINT64_MAX, 0, NULL, &e),
	          FERRY_ECORRUPT, e, "block 0 states 3 rows of 1 columns in 2 bytes");
	free(f);
	f = forge(&n, 1, two, 2, 0);
	CHECK_ERR(ferry__chunk_check_mem(f, n, "m", NULL, UINT64_MAX, UINT64_MAX, 0, NULL, &e),
	          FERRY_ECORRUPT, e, "block 0 states 0 rows");
	free(f);
	static const uint8_t cut[] = {FERRY_TEXT, 5, 'a'};
	f = forge(&n, 2, cut, 3, 1);
	CHECK_ERR(ferry__chunk_check_mem(f, n, "m", NULL, UINT64_MAX, UINT64_MAX, 0, NULL, &e),
	          FERRY_ECORRUPT, e, "block 0 holds a damaged row");
	free(f);
}

/* Caps come before allocations: huge stated lengths are damage, never a malloc. */
static void test_caps(void)
{
	static const uint8_t one[] = {FERRY_NULL};
	size_t n;
	uint8_t *f = forge(&n, 1, one, 1, 1);
	ferry_err e;
	uint8_t *b = f + 64;
	b[4] = 0, b[5] = 0, b[6] = 0x00, b[7] = 0x02; /* 32 MiB */
	CHECK_ERR(ferry__chunk_check_mem(f, n, "m", NULL, UINT64_MAX, UINT64_MAX, 0, NULL, &e),
	          FERRY_ECORRUPT, e, "block 0 states 33554432 uncompressed bytes");
	b[4] = 1, b[6] = 0, b[7] = 0;
	b[8] = 0xff, b[9] = 0xff, b[10] = 0xff, b[11] = 0x7f;
	CHECK_ERR(ferry__chunk_check_mem(f, n, "m", NULL, UINT64_MAX, UINT64_MAX, 0, NULL, &e),
	          FERRY_ECORRUPT, e, "more than zstd makes of 1");
	free(f);
	/* A header of 65536 columns. */
	f = forge(&n, 65536, one, 1, 1);
	CHECK_ERR(ferry__chunk_check_mem(f, n, "m", NULL, UINT64_MAX, UINT64_MAX, 0, NULL, &e),
	          FERRY_ECORRUPT, e, "header: rows of 65536 columns");
	free(f);
}

static void test_writer_edges(void)
{
	ferry_err e;
	ferry_chunk_writer *w;
	/* An empty chunk: no block, a trailer of zeros. */
	char *path = tpath("empty.chunk");
	CHECK(ferry__chunkw_open(&w, path, ID, 0, 0, 4, 3, &e) == 0);
	ferry_label_chunk_info info;
	CHECK(ferry__chunkw_finish(w, &info, &e) == 0 && info.rows == 0 && info.blocks == 0 &&
	      info.bytes == 100 && info.digest == 0);
	ferry_chunk_reader *r;
	CHECK(ferry__chunkr_open(&r, path, ID, 0, 0, 4, &e) == 0);
	ferry_batch *b = ferry__batch_new(4, 10);
	int eof = 0;
	CHECK(ferry__chunkr_next(r, b, NULL, &eof, &e) == 0 && eof && ferry_batch_nrows(b) == 0);
	ferry__chunkr_close(r);
	ferry__batch_free(b);
	free(path);

	/* A row past 16 MiB: refused, naming the chunk and the column; nothing left behind. */
	path = tpath("huge.chunk");
	char *tmp = tpath("huge.chunk.tmp");
	CHECK(ferry__chunkw_open(&w, path, ID, 0, 0, 2, 3, &e) == 0);
	b = ferry__batch_new(2, 1);
	ferry_value *row = ferry_batch_add_row(b);
	size_t hn = (16u << 20) + 1;
	uint8_t *huge = calloc(1, hn);
	row[0].type = FERRY_INT;
	row[1].type = FERRY_BLOB, row[1].v.b = huge, row[1].len = (uint32_t)hn;
	int rc = ferry__chunkw_add(w, b, NULL, &e);
	CHECK_ERR(rc, FERRY_ENOMEM, e, "huge.chunk\": row 1 does not fit in a block of 16 MiB "
	                               "(column 2 holds 16777222 bytes)");
	struct stat st;
	CHECK(stat(tmp, &st) == 0);
	CHECK_ERR(ferry__chunkw_finish(w, NULL, &e), FERRY_ERROR, e, "an earlier write failed");
	CHECK(stat(tmp, &st) != 0 && stat(path, &st) != 0);
	/* A row of exactly 16 MiB fits. */
	CHECK(ferry__chunkw_open(&w, path, ID, 0, 0, 1, 1, &e) == 0);
	size_t map1 = 1;
	row[1].len = (uint32_t)((16u << 20) - 1 - 4);
	CHECK(ferry__chunkw_add(w, b, &map1, &e) == 0);
	CHECK(ferry__chunkw_finish(w, &info, &e) == 0 && info.raw_bytes == 16u << 20);
	CHECK(ferry__chunk_check(path, ID, 0, 0, 1, NULL, &e) == 0);
	free(huge);
	ferry__batch_free(b);
	/* Abort removes the .tmp. */
	CHECK(ferry__chunkw_open(&w, path, ID, 0, 0, 1, 3, &e) == 0);
	CHECK(stat(tmp, &st) == 0 && (st.st_mode & 0777) == 0600);
	ferry__chunkw_abort(w);
	CHECK(stat(tmp, &st) != 0);
	ferry__chunkw_abort(NULL);
	CHECK_ERR(ferry__chunkw_open(&w, path, ID, 0, 0, 0, 3, &e), FERRY_EUSAGE, e, "rows of 0");
	free(path);
	free(tmp);
}

/* ==== the manifest =========================================================================== */

static ferry_label_manifest *sample_manifest(void)
{
	ferry_label_manifest *m = ferry__manifest_new("0123456789abcdef0123456789abcdef");
	ferry__manifest_add_source(m, "catalog", "sqlite", "sqlite:v1/catalog.db", NULL);
	ferry__manifest_add_source(m, "crm", "postgres", "postgresql://u:***@h/db", "42");
	ferry_label_stage *s = ferry__manifest_add_stage(m, "core");
	s->complete = 1;
	s->read_at = ferry__strdup("2026-11-21T20:19:30Z");
	s = ferry__manifest_add_stage(m, "late.2");
	ferry__manifest_stage_add_after(s, "core");
	ferry_label_table *t = ferry__manifest_add_table(m, 0, "core", "items",
	                                                 "catalog.content_items");
	ferry__manifest_add_column(t, "id", FERRY_INT, "INTEGER", 1, 1);
	ferry__manifest_add_column(t, "title", FERRY_TEXT, "TEXT", 1, 0);
	ferry__manifest_add_column(t, "price", FERRY_NUMERIC, NULL, 0, 0);
	ferry__manifest_add_conflict(t, "id", FERRY_CONFLICT_KEY);
	ferry__manifest_add_conflict(t, "title", FERRY_CONFLICT_MIN);
	t->complete = 1;
	ferry_label_chunk *c = ferry__manifest_add_chunk(t, 0);
	c->written = 1;
	c->info = (ferry_label_chunk_info){20000, 3, 0x9c1e00000000ffffULL, 0xfedcba9876543210ULL,
	                                    181234, 655360};
	c->hi = malloc(3);
	memcpy(c->hi, "\x01\xff\x00", 3);
	c->hi_len = 3;
	c->est_rows = 20000, c->read = 20000, c->skipped = 2;
	c = ferry__manifest_add_chunk(t, 1);
	c->lo = malloc(3);
	memcpy(c->lo, "\x01\xff\x00", 3);
	c->lo_len = 3;
	c->hi = malloc(1);
	c->hi_len = 0; /* empty, not unbounded */
	t = ferry__manifest_add_table(m, 5, "late.2", "my \"odd\" table/x \xc3\xa9", NULL);
	ferry__manifest_add_column(t, "blob", FERRY_BLOB, "", 0, 0);
	return m;
}

static void same_manifest(const ferry_label_manifest *a, const ferry_label_manifest *b)
{
	CHECK(a->format_version == b->format_version);
	CHECK_STR(a->ferry_version, b->ferry_version);
	CHECK(memcmp(a->label_id, b->label_id, 16) == 0);
	CHECK_STR(a->label_id_hex, b->label_id_hex);
	CHECK_STR(a->created_at, b->created_at);
	CHECK_STR(a->plan_digest, b->plan_digest);
	if (!CHECK(a->nsources == b->nsources && a->nstages == b->nstages &&
	           a->ntables == b->ntables))
		return;
	for (size_t i = 0; i < a->nsources; i++) {
		CHECK_STR(a->sources[i].name, b->sources[i].name);
		CHECK_STR(a->sources[i].engine, b->sources[i].engine);
		CHECK_STR(a->sources[i].url, b->sources[i].url);
		CHECK(a->sources[i].schema_version ? b->sources[i].schema_version &&
		      strcmp(a->sources[i].schema_version, b->sources[i].schema_version) == 0
		                                   : !b->sources[i].schema_version);
	}
	for (size_t i = 0; i < a->nstages; i++) {
		const ferry_label_stage *x = &a->stages[i], *y = &b->stages[i];
		CHECK_STR(x->name, y->name);
		CHECK(x->complete == y->complete && x->nafter == y->nafter);
		for (size_t j = 0; j < x->nafter && j < y->nafter; j++)
			CHECK_STR(x->after[j], y->after[j]);
		CHECK(x->read_at ? y->read_at && strcmp(x->read_at, y->read_at) == 0 : !y->read_at);
	}
	for (size_t i = 0; i < a->ntables; i++) {
		const ferry_label_table *x = &a->tables[i], *y = &b->tables[i];
		CHECK(x->job == y->job && x->complete == y->complete);
		CHECK_STR(x->stage, y->stage);
		CHECK_STR(x->name, y->name);
		CHECK_STR(x->dir, y->dir);
		CHECK(x->source ? y->source && strcmp(x->source, y->source) == 0 : !y->source);
		if (!CHECK(x->ncols == y->ncols && x->nconflict == y->nconflict &&
		           x->nchunks == y->nchunks))
			continue;
		for (size_t j = 0; j < x->ncols; j++) {
			CHECK_STR(x->cols[j].name, y->cols[j].name);
			CHECK_STR(x->cols[j].decl, y->cols[j].decl);
			CHECK(x->cols[j].type == y->cols[j].type && x->cols[j].notnull == y->cols[j].notnull &&
			      x->cols[j].pk == y->cols[j].pk);
		}
		for (size_t j = 0; j < x->nconflict; j++) {
			CHECK_STR(x->conflict_cols[j], y->conflict_cols[j]);
			CHECK(x->conflict_rules[j] == y->conflict_rules[j]);
		}
		for (size_t j = 0; j < x->nchunks; j++) {
			const ferry_label_chunk *p = &x->chunks[j], *q = &y->chunks[j];
			CHECK(p->chunk == q->chunk && p->written == q->written);
			CHECK(!p->written || memcmp(&p->info, &q->info, sizeof(p->info)) == 0);
			CHECK(p->est_rows == q->est_rows && p->read == q->read && p->skipped == q->skipped);
			CHECK(!p->lo == !q->lo && p->lo_len == q->lo_len &&
			      (!p->lo_len || memcmp(p->lo, q->lo, p->lo_len) == 0));
			CHECK(!p->hi == !q->hi && p->hi_len == q->hi_len &&
			      (!p->hi_len || memcmp(p->hi, q->hi, p->hi_len) == 0));
		}
	}
}

/* Rewrite dir/manifest.json from JSON j with a correct checksum (a tool-made edit). */
static void write_json_with_sum(const char *dir, json_t *j)
{
	json_object_del(j, "manifest_xxh3");
	json_object_set_new(j, "manifest_xxh3", json_string("0000000000000000"));
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	size_t n = strlen(s);
	char *at = strstr(s, "\"manifest_xxh3\": \"") + 18;
	char hex[17];
	snprintf(hex, sizeof(hex), "%016" PRIx64, XXH3_64bits(s, n));
	memcpy(at, hex, 16);
	char *path = ferry__sprintf("%s/manifest.json", dir);
	spit(path, s, n);
	free(path);
	free(s);
}

/* Load the written manifest, apply one or two edits to the object at a path
 * ("tables/1/chunks/0"; val NULL deletes), rewrite it with its sum, read it. */
static int edited2(const char *dir, const char *table_key, const char *key, json_t *val,
                   const char *key2, json_t *val2, ferry_err *e)
{
	char *path = ferry__sprintf("%s/orig.json", dir);
	json_error_t je;
	json_t *j = json_load_file(path, JSON_PRESERVE_ORDER, &je);
	free(path);
	json_t *o = j;
	if (table_key) { /* "tables/1/chunks/0" */
		char buf[128];
		snprintf(buf, sizeof(buf), "%s", table_key);
		for (char *tok = strtok(buf, "/"); tok && o; tok = strtok(NULL, "/"))
			o = json_is_array(o) ? json_array_get(o, (size_t)atoi(tok)) : json_object_get(o, tok);
	}
	if (val)
		json_object_set_new(o, key, val);
	else
		json_object_del(o, key);
	if (key2)
		json_object_set_new(o, key2, val2);
	write_json_with_sum(dir, j);
	json_decref(j);
	ferry_label_manifest *m = NULL;
	int rc = ferry__manifest_read(&m, dir, e);
	ferry__manifest_free(m);
	return rc;
}

static int edited(const char *dir, const char *table_key, const char *key, json_t *val,
                  ferry_err *e)
{
	return edited2(dir, table_key, key, val, NULL, NULL, e);
}

static void test_manifest(void)
{
	char *dir = tpath("L");
	ferry_err e;
	CHECK(ferry__label_mkdirs(dir, &e) == 0);
	ferry_label_manifest *m = sample_manifest(), *back = NULL;
	CHECK(strlen(m->label_id_hex) == 32);
	int rc = ferry__manifest_write(m, dir, &e);
	if (!CHECK(rc == 0))
		printf("  %s\n", e.msg);
	rc = ferry__manifest_read(&back, dir, &e);
	if (!CHECK(rc == 0))
		printf("  %s\n", e.msg);
	if (back)
		same_manifest(m, back);
	CHECK(back && back->tables[0].chunks[1].hi && back->tables[0].chunks[1].hi_len == 0);
	CHECK(back && !back->tables[0].chunks[0].lo);
	ferry__manifest_free(back);

	/* The text: the spec's field order, mode 0600, the same bytes when written again. */
	char *path = ferry__sprintf("%s/manifest.json", dir);
	size_t n1, n2;
	char *t1 = (char *)slurp(path, &n1);
	static const char head[] = "{\n  \"format\": \"ferry-label\",\n  \"format_version\": 1,\n"
	                           "  \"ferry_version\": \"" FERRY_VERSION "\",\n  \"label_id\": \"";
	CHECK(t1 && strncmp(t1, head, strlen(head)) == 0);
	CHECK(t1 && strstr(t1, "\"hi\": \"01ff00\"") && strstr(t1, "\"xxh3\": \"fedcba9876543210\""));
	CHECK(t1 && strstr(t1, "\"dir\": \"late.2/000005-my%20%22odd%22%20table%2Fx%20%C3%A9\""));
	CHECK(t1 && n1 > 30 && memcmp(t1 + n1 - 4, "\"\n}\n", 4) == 0);
	struct stat st;
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK(ferry__manifest_write(m, dir, &e) == 0);
	char *t2 = (char *)slurp(path, &n2);
	CHECK(t1 && t2 && n1 == n2 && memcmp(t1, t2, n1) == 0);

	/* A hand edit, however small, is seen. */
	char *ed = ferry__strndup(t1, n1);
	char *p = strstr(ed, "\"read\": 20000");
	p[10] = '1';
	spit(path, ed, n1);
	CHECK_ERR(ferry__manifest_read(&back, dir, &e), FERRY_ECORRUPT, e,
	          "label manifest \"");
	CHECK(strstr(e.msg, "L/manifest.json\" was changed by hand (checksum mismatch)") != NULL);
	CHECK(back == NULL);
	memcpy(ed, t1, n1);
	p = strstr(ed, "\"format_version\": 1");
	p[18] = '2';
	spit(path, ed, n1);
	CHECK_ERR(ferry__manifest_read(&back, dir, &e), FERRY_ECORRUPT, e,
	          "has format version 2; this ferry reads version 1");
	spit(path, "{\"format\": \"ferry-label\", ", 26);
	CHECK_ERR(ferry__manifest_read(&back, dir, &e), FERRY_ECORRUPT, e, "is damaged: not valid JSON");
	spit(path, "{\"format\": \"other\"}", 19);
	CHECK_ERR(ferry__manifest_read(&back, dir, &e), FERRY_ECORRUPT, e, "is not a ferry label manifest");
	/* The original reads again; edits below start from it. */
	spit(path, t1, n1);
	char *orig = ferry__sprintf("%s/orig.json", dir);
	spit(orig, t1, n1);
	free(orig);
	CHECK(ferry__manifest_read(&back, dir, &e) == 0);
	ferry__manifest_free(back);
	back = NULL;
	free(ed);

	/* Fields: missing, of the wrong type, out of range, or pointing elsewhere. */
	CHECK_ERR(edited(dir, "tables/0/chunks/0", "rows", NULL, &e), FERRY_ECORRUPT, e,
	          "tables[0].chunks[0].rows is missing");
	CHECK_ERR(edited(dir, "tables/0/chunks/1", "est_rows", json_string("x"), &e), FERRY_ECORRUPT,
	          e, "tables[0].chunks[1].est_rows is not an integer");
	CHECK_ERR(edited(dir, "tables/0/chunks/0", "rows", json_real(1.0), &e), FERRY_ECORRUPT, e,
	          "tables[0].chunks[0].rows is not an integer or null");
	CHECK_ERR(edited(dir, "tables/0/chunks/0", "rows", json_null(), &e), FERRY_ECORRUPT, e,
	          "tables[0].chunks[0].rows is null while xxh3 is set");
	CHECK_ERR(edited(dir, "tables/0/chunks/0", "xxh3", json_string("ABCDEF0123456789"), &e),
	          FERRY_ECORRUPT, e, "tables[0].chunks[0].xxh3 is not 16 lower-case hex digits");
	CHECK_ERR(edited(dir, "tables/0/chunks/0", "lo", json_string("abc"), &e), FERRY_ECORRUPT, e,
	          "tables[0].chunks[0].lo is not hex");
	CHECK_ERR(edited(dir, "tables/0/chunks/1", "file", json_string("../x.chunk"), &e),
	          FERRY_ECORRUPT, e, "tables[0].chunks[1].file is not \"000001.chunk\"");
	CHECK_ERR(edited(dir, "tables/0/chunks/1", "chunk", json_integer(0), &e), FERRY_ECORRUPT, e,
	          "tables[0].chunks[1].file is not \"000000.chunk\"");
	CHECK_ERR(edited2(dir, "tables/0/chunks/1", "chunk", json_integer(0), "file",
	                  json_string("000000.chunk"), &e),
	          FERRY_ECORRUPT, e, "tables[0].chunks[1].chunk is not above the chunk before it");
	CHECK_ERR(edited(dir, "tables/1", "dir", json_string("../../etc"), &e), FERRY_ECORRUPT, e,
	          "tables[1].dir is not \"late.2/000005-my%20%22odd");
	CHECK_ERR(edited(dir, "tables/1", "job", json_integer(0), &e), FERRY_ECORRUPT, e,
	          "tables[1].dir is not \"late.2/000000-my");
	CHECK_ERR(edited2(dir, "tables/1", "job", json_integer(0), "dir",
	                  json_string("late.2/000000-my%20%22odd%22%20table%2Fx%20%C3%A9"), &e),
	          FERRY_ECORRUPT, e, "tables[1].job repeats job 0 of tables[0]");
	CHECK_ERR(edited(dir, "tables/1", "job", json_integer(-1), &e), FERRY_ECORRUPT, e,
	          "tables[1].job is out of range");
	CHECK_ERR(edited(dir, "tables/1", "stage", json_string("nope"), &e), FERRY_ECORRUPT, e,
	          "tables[1].stage names no stage of the label");
	CHECK_ERR(edited(dir, "tables/0/columns/1", "type", json_string("varchar"), &e),
	          FERRY_ECORRUPT, e, "tables[0].columns[1].type is not a type ferry knows");
	CHECK_ERR(edited(dir, "tables/0/columns/1", "notnull", json_integer(1), &e),
	          FERRY_ECORRUPT, e, "tables[0].columns[1].notnull is not true or false");
	CHECK_ERR(edited(dir, "tables/0/columns/1", "pk", json_integer(4), &e),
	          FERRY_ECORRUPT, e, "tables[0].columns[1].pk is out of range");
	CHECK_ERR(edited(dir, "tables/0/conflict", "title", json_string("avg"), &e), FERRY_ECORRUPT,
	          e, "tables[0].conflict.title is not a merge rule");
	CHECK_ERR(edited(dir, "stages/0", "name", json_string(".."), &e), FERRY_ECORRUPT, e,
	          "stages[0].name is not a valid stage name");
	CHECK_ERR(edited(dir, "stages/1", "after", json_pack("[s]", "later"), &e), FERRY_ECORRUPT,
	          e, "stages[1].after[0] names no stage of the label");
	CHECK_ERR(edited(dir, "sources/1", "schema_version", json_integer(42), &e), FERRY_ECORRUPT,
	          e, "sources[1].schema_version is not a string or null");
	CHECK_ERR(edited(dir, NULL, "label_id", json_string("3f9a"), &e), FERRY_ECORRUPT, e,
	          "label_id is not 32 lower-case hex digits");
	CHECK_ERR(edited(dir, NULL, "tables", json_object(), &e), FERRY_ECORRUPT, e,
	          "tables is not an array");
	CHECK_ERR(edited(dir, NULL, "format_version", json_integer(7), &e), FERRY_ECORRUPT, e,
	          "has format version 7; this ferry reads version 1");
	/* Fields the reader does not know are ignored. */
	CHECK(edited(dir, "tables/0", "comment", json_string("added later"), &e) == 0);

	/* A table name jansson cannot hold (not UTF-8) is refused on write, naming the field. */
	ferry_label_table *t = ferry__manifest_add_table(m, 9, "core", "bad\xff", NULL);
	CHECK(t && strcmp(t->dir, "core/000009-bad%FF") == 0);
	CHECK_ERR(ferry__manifest_write(m, dir, &e), FERRY_EUSAGE, e, "tables[2].name is not valid UTF-8");

	m->ntables--; /* drop it again */
	free(m->tables[2].stage), free(m->tables[2].name), free(m->tables[2].dir);
	/* What the reader refuses is not written either. */
	char *keep = m->tables[1].dir;
	m->tables[1].dir = ferry__strdup("../elsewhere");
	CHECK_ERR(ferry__manifest_write(m, dir, &e), FERRY_EUSAGE, e, "tables[1].dir is not what");
	free(m->tables[1].dir);
	m->tables[1].dir = keep;
	memcpy(m->stages[1].name, "..", 3);
	CHECK_ERR(ferry__manifest_write(m, dir, &e), FERRY_EUSAGE, e, "stages[1].name is not a valid");
	memcpy(m->stages[1].name, "late.2", 7);
	m->plan_digest[0] = 'X';
	CHECK_ERR(ferry__manifest_write(m, dir, &e), FERRY_EUSAGE, e, "plan_digest \"X123");
	m->plan_digest[0] = '0';
	CHECK(ferry__manifest_write(m, dir, &e) == 0);

	char *none = tpath("none");
	CHECK_ERR(ferry__manifest_read(&back, none, &e), FERRY_ENOTFOUND, e, "could not open");
	free(none);

	/* Lookups, and ids that differ from label to label. */
	CHECK(ferry__manifest_table(m, 5) == &m->tables[1] && !ferry__manifest_table(m, 4));
	CHECK(ferry__manifest_stage(m, "core") == &m->stages[0] && !ferry__manifest_stage(m, "x"));
	CHECK(ferry__manifest_add_table(m, 5, "core", "other", NULL) == &m->tables[1]);
	ferry_label_manifest *m2 = ferry__manifest_new("0123456789abcdef0123456789abcdef");
	CHECK(memcmp(m->label_id, m2->label_id, 16) != 0);
	ferry__manifest_free(m2);
	ferry__manifest_free(m);
	free(t1);
	free(t2);
	free(path);
	free(dir);
}

/* The manifest's parser on small texts: never a crash, a field named. */
static void test_manifest_parse(void)
{
	ferry_err e;
	ferry_label_manifest *m = NULL;
	static const char *const bad[] = {"", "[]", "null", "{\"format\": 1}",
	                                  "{\"format\": \"ferry-label\"}",
	                                  "{\"format\": \"ferry-label\", \"format_version\": \"1\"}",
	                                  "{\"format\": \"ferry-label\", \"format_version\": 1}",
	                                  "{\"format\": \"ferry-label\", \"format\": \"ferry-label\"}"};
	for (size_t i = 0; i < FERRY_ARRAY_LEN(bad); i++) {
		int rc = ferry__manifest_parse(&m, bad[i], strlen(bad[i]), "m.json", &e);
		if (!CHECK(rc == FERRY_ECORRUPT && m == NULL))
			printf("  %s: %d\n", bad[i], rc);
	}
	CHECK(ferry__manifest_parse(&m, bad[6], strlen(bad[6]), "m.json", &e) &&
	      strstr(e.msg, "manifest_xxh3 is missing"));
}

static void test_names(void)
{
	char *d = ferry__label_table_dir("core", 7, "my \"odd\" table/x");
	CHECK_STR(d, "core/000007-my%20%22odd%22%20table%2Fx");
	free(d);
	d = ferry__label_table_dir("s", 1234567, "caf\xc3\xa9%.-_Z9");
	CHECK_STR(d, "s/1234567-caf%C3%A9%25.-_Z9");
	free(d);
	d = ferry__label_table_dir("s", 0, "..");
	CHECK_STR(d, "s/000000-..");
	free(d);
	/* Long names are cut at 128 bytes, never inside a %XX. */
	char name[300];
	memset(name, 'a', 127);
	memset(name + 127, '/', 20);
	name[147] = '\0';
	d = ferry__label_table_dir("s", 1, name);
	CHECK(d && strlen(d) == strlen("s/000001-") + 127 && d[strlen(d) - 1] == 'a');
	free(d);
	memset(name, '/', 200);
	name[200] = '\0';
	d = ferry__label_table_dir("s", 1, name);
	CHECK(d && strlen(d) == strlen("s/000001-") + 126);
	free(d);
	d = ferry__label_chunk_file(0);
	CHECK_STR(d, "000000.chunk");
	free(d);
	d = ferry__label_chunk_file(1234567);
	CHECK_STR(d, "1234567.chunk");
	free(d);

	ferry_err e;
	char *p = tpath("a/b/c/");
	CHECK(ferry__label_mkdirs(p, &e) == 0);
	CHECK(ferry__label_mkdirs(p, &e) == 0);
	struct stat st;
	char *b = tpath("a/b");
	CHECK(stat(b, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700);
	char *f = tpath("a/file");
	spit(f, "x", 1);
	char *under = tpath("a/file/sub");
	CHECK(ferry__label_mkdirs(under, &e) != 0 && strstr(e.msg, "could not create directory"));
	free(under);
	free(f);
	free(b);
	free(p);

	/* The manifest spells merge rules as the plan does. */
	int same = 1;
	for (int c = FERRY_CONFLICT_NONE; c <= FERRY_CONFLICT_ERROR; c++) {
		ferry_label_manifest *m = ferry__manifest_new("0123456789abcdef0123456789abcdef");
		ferry__manifest_add_stage(m, "s");
		ferry_label_table *t = ferry__manifest_add_table(m, 0, "s", "t", NULL);
		ferry__manifest_add_column(t, "x", FERRY_INT, "", 0, 0);
		ferry__manifest_add_conflict(t, "x", (ferry_conflict)c);
		char *dir = tpath("rules");
		ferry__label_mkdirs(dir, &e);
		ferry__manifest_write(m, dir, &e);
		char *mp = ferry__sprintf("%s/manifest.json", dir);
		size_t n;
		char *text = (char *)slurp(mp, &n);
		char want[64];
		snprintf(want, sizeof(want), "\"x\": \"%s\"", ferry__conflict_name((ferry_conflict)c));
		same &= text && strstr(text, want) != NULL;
		ferry_label_manifest *back = NULL;
		same &= ferry__manifest_read(&back, dir, &e) == 0 && back->tables[0].conflict_rules[0] ==
		        (ferry_conflict)c;
		ferry__manifest_free(back);
		free(text);
		free(mp);
		free(dir);
		ferry__manifest_free(m);
	}
	CHECK(same);
}

int main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/ferry-label-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	test_names();
	test_little_endian();
	test_damage_everywhere();
	test_damage_blocks();
	test_canonical();
	test_caps();
	test_writer_edges();
	test_roundtrip();
	test_manifest();
	test_manifest_parse();
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return check_summary();
}
