/* fuzz_chunk.c — libFuzzer target: any bytes as a label chunk. The full check runs; when it
 * passes, every row is read back into batches (all columns, then a map) and re-encoded: the
 * sum of the re-encoded rows' hashes must be the chunk's digest, since a reader accepts only
 * canonical encodings. Built by tests/sh/fuzz.sh with FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION,
 * where checksums are computed but not enforced so mutations reach zstd and the decoder. */
#include <stdlib.h>
#include <xxhash.h>
#include "label/label.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void read_all(const uint8_t *data, size_t size, int mapped)
{
	ferry_err err;
	ferry_chunk_reader *r;
	if (ferry__chunkr_open_mem(&r, data, size, "fuzz", NULL, UINT64_MAX, UINT64_MAX, 0, &err))
		return;
	ferry_label_chunk_info info;
	ferry__chunkr_info(r, &info);
	uint32_t ncols = ferry__chunkr_ncols(r);
	size_t map[2] = {ncols - 1, 0};
	ferry_batch *b = mapped ? ferry__batch_new(2, 7) : ferry__batch_new(ncols, ncols > 1024 ? 1 : 16);
	uint8_t *enc = NULL;
	size_t elen, ecap = 0;
	uint64_t digest = 0, rows = 0;
	int eof = 0, rc = 0;
	while (b && !eof && rc == 0) {
		ferry__batch_reset(b);
		rc = ferry__chunkr_next(r, b, mapped ? map : NULL, &eof, &err);
		for (size_t i = 0; rc == 0 && i < ferry_batch_nrows(b); i++, rows++) {
			if (mapped)
				continue;
			elen = 0;
			if (ferry_value_encode_row(&enc, &elen, &ecap, ferry_batch_crow(b, i), ncols) != 0)
				abort();
			digest += XXH3_64bits(enc, elen);
		}
	}
	/* Data in memory cannot change between the check and the read. */
	if (b && (rc != 0 || rows != info.rows || (!mapped && digest != info.digest)))
		abort();
	free(enc);
	ferry__batch_free(b);
	ferry__chunkr_close(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	read_all(data, size, 0);
	read_all(data, size, 1);
	return 0;
}
