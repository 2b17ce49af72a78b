/* chunk.c — label chunk files (docs/LABEL-FORMAT.md "Chunk file"): a header, zstd blocks of
 * encoded rows and a trailer. The writer streams rows into blocks of about 1 MiB; the reader
 * checks a whole chunk, one block in memory at a time, before it hands out any row. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>
#include "label_int.h"

#define HEADER_LEN 64
#define BLOCK_HEAD_LEN 24
#define TRAILER_LEN 36
#define BLOCK_TARGET ((size_t)1 << 20) /* a block ends when the next row would pass this */
#define MAX_COLS 65535u
#define NAN_BITS 0x7ff8000000000000ULL

static int is_textlike(unsigned t)
{
	return t == FERRY_NUMERIC || t == FERRY_TEXT || (t >= FERRY_DATE && t <= FERRY_JSON);
}

/* ==== writing ============================================================================ */

struct ferry_chunk_writer {
	char *path, *tmp;
	int fd;
	uint32_t ncols;
	ZSTD_CCtx *cctx;
	XXH3_state_t *fsum;          /* of every byte of the file */
	ferry_value *vals;           /* the row being written, ncols values */
	uint8_t *raw;                /* the block being filled: encoded rows */
	size_t raw_len, raw_cap;
	uint8_t *comp;               /* its compressed form */
	size_t comp_cap;
	uint32_t blk_rows;
	int failed;
	ferry_label_chunk_info info;
};

static int wfail(ferry_chunk_writer *w, ferry_err *err, int code, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 4, 5)))
#endif
	;

static int wfail(ferry_chunk_writer *w, ferry_err *err, int code, const char *fmt, ...)
{
	char detail[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	w->failed = 1;
	return ferry_err_set(err, code, "could not write label chunk \"%s\": %s", w->path, detail);
}

static int wwrite(ferry_chunk_writer *w, const void *p, size_t n, ferry_err *err)
{
	if (ferry_label__write_all(w->fd, p, n) != 0)
		return wfail(w, err, FERRY_ERROR, "%s", strerror(errno));
	XXH3_64bits_update(w->fsum, p, n);
	w->info.bytes += n;
	return 0;
}

static void writer_free(ferry_chunk_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	ZSTD_freeCCtx(w->cctx);
	if (w->fsum)
		XXH3_freeState(w->fsum);
	free(w->vals);
	free(w->raw);
	free(w->comp);
	free(w->path);
	free(w->tmp);
	free(w);
}

int ferry__chunkw_open(ferry_chunk_writer **out, const char *path, const uint8_t label_id[16],
                       uint64_t job, uint64_t chunk, uint32_t ncols, int zstd_level,
                       ferry_err *err)
{
	assert(out && path && label_id);
	*out = NULL;
	if (ncols == 0 || ncols > MAX_COLS)
		return ferry_err_set(err, FERRY_EUSAGE, "could not write label chunk \"%s\": rows of %u "
		                     "columns (a chunk holds 1 to %u)", path, ncols, MAX_COLS);
	ferry_chunk_writer *w = ferry__calloc(1, sizeof(*w));
	if (!w)
		return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	w->fd = -1;
	w->ncols = ncols;
	w->path = ferry__strdup(path);
	w->tmp = ferry__sprintf("%s.tmp", path);
	w->vals = ferry__calloc(ncols, sizeof(ferry_value));
	w->cctx = ZSTD_createCCtx();
	w->fsum = XXH3_createState();
	if (!w->path || !w->tmp || !w->vals || !w->cctx || !w->fsum) {
		writer_free(w);
		return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	}
	XXH3_64bits_reset(w->fsum);
	/* Our own checksums cover the frame: zstd's would only cost time. The content size in
	 * the frame header is what the reader checks against the block's stated length. */
	if (ZSTD_isError(ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, zstd_level)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_contentSizeFlag, 1)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 0))) {
		int rc = ferry_err_set(err, FERRY_EUSAGE, "could not write label chunk \"%s\": zstd "
		                       "level %d is refused", path, zstd_level);
		writer_free(w);
		return rc;
	}
	/* A stale .tmp is a crashed writer's: it is never resumed, only replaced. */
	if (unlink(w->tmp) != 0 && errno != ENOENT) {
		int rc = ferry_err_set(err, FERRY_ERROR, "could not remove \"%s\": %s", w->tmp,
		                       strerror(errno));
		writer_free(w);
		return rc;
	}
	w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (w->fd < 0) {
		int rc = ferry_err_set(err, errno == ENOENT ? FERRY_ENOTFOUND : FERRY_ERROR,
		                       "could not create \"%s\": %s", w->tmp, strerror(errno));
		writer_free(w);
		return rc;
	}
	uint8_t h[HEADER_LEN];
	memset(h, 0, sizeof(h));
	memcpy(h, "FERRYCHK", 8);
	ferry__put_le(h + 8, FERRY_LABEL_FORMAT, 2);
	ferry__put_le(h + 10, 0, 2);
	ferry__put_le(h + 12, HEADER_LEN, 4);
	memcpy(h + 16, label_id, 16);
	ferry__put_le(h + 32, job, 8);
	ferry__put_le(h + 40, chunk, 8);
	ferry__put_le(h + 48, ncols, 4);
	ferry__put_le(h + 52, 0, 4);
	ferry__put_le(h + 56, XXH3_64bits(h, 56), 8);
	int rc = wwrite(w, h, sizeof(h), err);
	if (rc) {
		ferry__chunkw_abort(w);
		return rc;
	}
	*out = w;
	return 0;
}

/* Compress and write the block being filled. */
static int flush_block(ferry_chunk_writer *w, ferry_err *err)
{
	if (w->blk_rows == 0)
		return 0;
	size_t bound = ZSTD_compressBound(w->raw_len);
	if (bound > w->comp_cap) {
		free(w->comp);
		w->comp_cap = 0;
		if (!(w->comp = ferry__malloc(bound)))
			return wfail(w, err, FERRY_ENOMEM, "out of memory");
		w->comp_cap = bound;
	}
	size_t c = ZSTD_compress2(w->cctx, w->comp, bound, w->raw, w->raw_len);
	if (ZSTD_isError(c))
		return wfail(w, err, FERRY_ERROR, "zstd: %s", ZSTD_getErrorName(c));
	uint8_t h[BLOCK_HEAD_LEN];
	memcpy(h, "BLK1", 4);
	ferry__put_le(h + 4, w->raw_len, 4);
	ferry__put_le(h + 8, c, 4);
	ferry__put_le(h + 12, w->blk_rows, 4);
	ferry__put_le(h + 16, XXH3_64bits(w->comp, c), 8);
	int rc = wwrite(w, h, sizeof(h), err);
	if (rc == 0)
		rc = wwrite(w, w->comp, c, err);
	if (rc)
		return rc;
	w->info.blocks++;
	w->info.raw_bytes += w->raw_len;
	w->raw_len = 0;
	w->blk_rows = 0;
	return 0;
}

int ferry__chunkw_add(ferry_chunk_writer *w, const ferry_batch *b, const size_t *map,
                      ferry_err *err)
{
	if (w->failed)
		return ferry_err_set(err, FERRY_ERROR, "could not write label chunk \"%s\": an earlier "
		                     "write failed", w->path);
	size_t bcols = ferry_batch_ncols(b), nrows = ferry_batch_nrows(b);
	assert(map || bcols >= w->ncols);
	(void)bcols;
	for (size_t r = 0; r < nrows; r++) {
		const ferry_value *row = ferry_batch_crow(b, r);
		size_t size = 0, big = 0, bigsize = 0;
		for (uint32_t i = 0; i < w->ncols; i++) {
			size_t c = map ? map[i] : i;
			assert(c < bcols);
			ferry_value *v = &w->vals[i];
			*v = row[c];
			size_t vs;
			if (v->type == FERRY_NULL) {
				vs = 1;
			} else if (v->type == FERRY_INT || v->type == FERRY_BOOL) {
				/* One value, one encoding: a bool is 0 or 1 whatever the engine put. */
				if (v->type == FERRY_BOOL)
					v->v.i = v->v.i != 0;
				vs = 1 + ferry__varint_len(ferry__zigzag(v->v.i));
			} else if (v->type == FERRY_FLOAT) {
				vs = 9;
			} else if (v->type == FERRY_BLOB || is_textlike(v->type)) {
				vs = 1 + ferry__varint_len(v->len) + v->len;
			} else {
				return wfail(w, err, FERRY_EUSAGE, "column %u of row %llu has an unknown value "
				             "type %u", i + 1, (unsigned long long)w->info.rows + 1, v->type);
			}
			if (vs > bigsize) {
				bigsize = vs;
				big = i;
			}
			size += vs;
		}
		if (size > FERRY_LABEL_MAX_BLOCK)
			return wfail(w, err, FERRY_ENOMEM, "row %llu does not fit in a block of %u MiB "
			             "(column %zu holds %zu bytes)", (unsigned long long)w->info.rows + 1,
			             FERRY_LABEL_MAX_BLOCK >> 20, big + 1, bigsize);
		if (w->blk_rows > 0 && w->raw_len + size > BLOCK_TARGET) {
			int rc = flush_block(w, err);
			if (rc)
				return rc;
		}
		size_t start = w->raw_len;
		if (ferry_value_encode_row(&w->raw, &w->raw_len, &w->raw_cap, w->vals, w->ncols) != 0)
			return wfail(w, err, FERRY_ENOMEM, "out of memory");
		assert(w->raw_len - start == size);
		w->info.digest += XXH3_64bits(w->raw + start, size);
		w->info.rows++;
		w->blk_rows++;
		if (w->raw_len >= BLOCK_TARGET) {
			int rc = flush_block(w, err);
			if (rc)
				return rc;
		}
	}
	return 0;
}

int ferry__chunkw_finish(ferry_chunk_writer *w, ferry_label_chunk_info *info, ferry_err *err)
{
	int rc = 0;
	if (w->failed)
		rc = ferry_err_set(err, FERRY_ERROR, "could not write label chunk \"%s\": an earlier "
		                   "write failed", w->path);
	if (rc == 0)
		rc = flush_block(w, err);
	if (rc == 0) {
		uint8_t t[TRAILER_LEN];
		memcpy(t, "END1", 4);
		ferry__put_le(t + 4, w->info.rows, 8);
		ferry__put_le(t + 12, w->info.blocks, 8);
		ferry__put_le(t + 20, w->info.digest, 8);
		ferry__put_le(t + 28, XXH3_64bits(t, 28), 8);
		rc = wwrite(w, t, sizeof(t), err);
	}
	if (rc == 0 && fsync(w->fd) != 0)
		rc = wfail(w, err, FERRY_ERROR, "fsync: %s", strerror(errno));
	if (rc == 0) {
		int fd = w->fd;
		w->fd = -1;
		if (close(fd) != 0)
			rc = wfail(w, err, FERRY_ERROR, "close: %s", strerror(errno));
	}
	if (rc == 0 && rename(w->tmp, w->path) != 0)
		rc = wfail(w, err, FERRY_ERROR, "could not rename \"%s\": %s", w->tmp, strerror(errno));
	if (rc == 0 && ferry_label__fsync_dir(w->path) != 0) {
		/* The file is whole under its final name; only its durability is in doubt. */
		rc = ferry_err_set(err, errno == ENOMEM ? FERRY_ENOMEM : FERRY_ERROR,
		                   "could not write label chunk \"%s\": could not sync its directory: %s",
		                   w->path, errno == ENOMEM ? "out of memory" : strerror(errno));
		writer_free(w);
		return rc;
	}
	if (rc) {
		ferry__chunkw_abort(w);
		return rc;
	}
	if (info) {
		*info = w->info;
		info->xxh3 = XXH3_64bits_digest(w->fsum);
	}
	writer_free(w);
	return 0;
}

void ferry__chunkw_abort(ferry_chunk_writer *w)
{
	if (!w)
		return;
	if (w->fd >= 0) {
		close(w->fd);
		w->fd = -1;
	}
	unlink(w->tmp);
	writer_free(w);
}

/* ==== reading ============================================================================ */

/* Where a chunk's bytes come from: a file (fd) or memory (mem, for the fuzz target). */
typedef struct chunk_src {
	int fd;
	const uint8_t *mem;
	uint64_t size;
} chunk_src;

struct ferry_chunk_reader {
	char *name;                  /* for messages */
	chunk_src src;
	uint32_t ncols;
	ZSTD_DCtx *dctx;
	uint8_t *comp;               /* one block's compressed bytes */
	size_t comp_cap;
	uint8_t *raw;                /* ... and its rows */
	size_t raw_cap, raw_len;
	ferry_value *vals;           /* one decoded row */
	ferry_label_chunk_info info; /* what the check found */
	/* the second pass, ferry__chunkr_next */
	uint64_t pos;                /* file offset of the next block */
	uint64_t block;              /* number of the next block */
	size_t bpos;                 /* next row's offset in raw */
	uint32_t bleft;              /* rows left in raw */
	uint64_t rows_out, digest_out;
	int failed;
};

static int damaged(ferry_chunk_reader *r, ferry_err *err, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 3, 4)))
#endif
	;

static int damaged(ferry_chunk_reader *r, ferry_err *err, const char *fmt, ...)
{
	char detail[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	r->failed = 1;
	return ferry_err_set(err, FERRY_ECORRUPT, "label chunk \"%s\" is damaged: %s", r->name,
	                     detail);
}

/* Read n bytes at off: 0, or 1 when the chunk ends first, or an error. */
static int src_read(ferry_chunk_reader *r, uint64_t off, void *dst, size_t n, ferry_err *err)
{
	if (off > r->src.size || n > r->src.size - off)
		return 1;
	if (r->src.mem) {
		memcpy(dst, r->src.mem + off, n);
		return 0;
	}
	char *p = dst;
	while (n > 0) {
		ssize_t got = pread(r->src.fd, p, n, (off_t)off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			r->failed = 1;
			return ferry_err_set(err, FERRY_ERROR, "could not read label chunk \"%s\": %s",
			                     r->name, strerror(errno));
		}
		if (got == 0)
			return 1; /* the file shrank since it was measured */
		p += got;
		off += (uint64_t)got;
		n -= (size_t)got;
	}
	return 0;
}

static int grow_to(uint8_t **buf, size_t *cap, size_t need)
{
	if (need <= *cap)
		return 0;
	free(*buf);
	*cap = 0;
	if (!(*buf = ferry__malloc(need)))
		return FERRY_ENOMEM;
	*cap = need;
	return 0;
}

/* Decode one value at *pos of a block; text and blobs point into d. -1 on damage, which
 * includes any encoding but the canonical one (so stored bytes and re-encoded values hash
 * alike). */
static int decode_value(const uint8_t *d, size_t len, size_t *pos, ferry_value *v)
{
	if (*pos >= len)
		return -1;
	unsigned t = d[(*pos)++];
	uint64_t u;
	memset(v, 0, sizeof(*v));
	v->type = (uint8_t)t;
	if (t == FERRY_NULL)
		return 0;
	if (t == FERRY_INT || t == FERRY_BOOL) {
		if (ferry__varint_get(d, len, pos, &u) != 0 || (t == FERRY_BOOL && u != 0 && u != 2))
			return -1; /* a bool is 0 or 1, zigzagged: 0 or 2 */
		v->v.i = ferry__unzigzag(u);
		return 0;
	}
	if (t == FERRY_FLOAT) {
		if (len - *pos < 8)
			return -1;
		uint64_t bits = ferry__get_le(d + *pos, 8);
		*pos += 8;
		if ((bits & 0x7ff0000000000000ULL) == 0x7ff0000000000000ULL &&
		    (bits & 0x000fffffffffffffULL) != 0 && bits != NAN_BITS)
			return -1;
		memcpy(&v->v.f, &bits, 8);
		return 0;
	}
	if (t == FERRY_BLOB || is_textlike(t)) {
		if (ferry__varint_get(d, len, pos, &u) != 0 || u > UINT32_MAX || u > len - *pos)
			return -1;
		v->len = (uint32_t)u;
		if (t == FERRY_BLOB)
			v->v.b = d + *pos;
		else
			v->v.s = (const char *)d + *pos;
		*pos += (size_t)u;
		return 0;
	}
	return -1;
}

/* Read block k at r->pos: check its head, its lengths against the caps and the file, its
 * checksum and its frame, and decompress it into r->raw. fsum (the first pass) takes its
 * bytes. On success r->pos is past the block and *nrows its row count. */
static int load_block(ferry_chunk_reader *r, uint64_t k, XXH3_state_t *fsum, uint32_t *nrows,
                      ferry_err *err)
{
	unsigned long long kk = (unsigned long long)k;
	uint8_t h[BLOCK_HEAD_LEN];
	int rc = src_read(r, r->pos, h, sizeof(h), err);
	if (rc < 0)
		return rc;
	if (rc > 0)
		return damaged(r, err, "truncated in block %llu", kk);
	if (memcmp(h, "BLK1", 4) != 0)
		return damaged(r, err, "block %llu has no BLK1 magic", kk);
	uint32_t raw = (uint32_t)ferry__get_le(h + 4, 4);
	uint32_t clen = (uint32_t)ferry__get_le(h + 8, 4);
	uint32_t rows = (uint32_t)ferry__get_le(h + 12, 4);
	uint64_t sum = ferry__get_le(h + 16, 8);
	if (raw == 0 || raw > FERRY_LABEL_MAX_BLOCK)
		return damaged(r, err, "block %llu states %u uncompressed bytes (1 to %u allowed)", kk,
		               raw, FERRY_LABEL_MAX_BLOCK);
	if (clen > ZSTD_compressBound(raw))
		return damaged(r, err, "block %llu states %u compressed bytes, more than zstd makes "
		               "of %u", kk, clen, raw);
	if (rows == 0 || (uint64_t)rows * r->ncols > raw)
		return damaged(r, err, "block %llu states %u rows of %u columns in %u bytes", kk,
		               rows, r->ncols, raw);
	if (clen > r->src.size - r->pos - BLOCK_HEAD_LEN)
		return damaged(r, err, "truncated in block %llu", kk);
	if (grow_to(&r->comp, &r->comp_cap, clen ? clen : 1) != 0)
		return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	rc = src_read(r, r->pos + BLOCK_HEAD_LEN, r->comp, clen, err);
	if (rc < 0)
		return rc;
	if (rc > 0)
		return damaged(r, err, "truncated in block %llu", kk);
	if (fsum) {
		XXH3_64bits_update(fsum, h, sizeof(h));
		XXH3_64bits_update(fsum, r->comp, clen);
	}
	if (!FERRY_LABEL_SUM_OK(XXH3_64bits(r->comp, clen), sum))
		return damaged(r, err, "block %llu checksum mismatch", kk);
	if (clen < 4 || ferry__get_le(r->comp, 4) != ZSTD_MAGICNUMBER)
		return damaged(r, err, "block %llu does not hold a zstd frame", kk);
	size_t fsz = ZSTD_findFrameCompressedSize(r->comp, clen);
	if (ZSTD_isError(fsz) || fsz != clen)
		return damaged(r, err, "block %llu does not hold exactly one zstd frame", kk);
	unsigned long long csz = ZSTD_getFrameContentSize(r->comp, clen);
	if (csz != raw)
		return damaged(r, err, "block %llu: its zstd frame does not state %u bytes", kk, raw);
	if (grow_to(&r->raw, &r->raw_cap, raw) != 0)
		return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	size_t got = ZSTD_decompressDCtx(r->dctx, r->raw, raw, r->comp, clen);
	if (ZSTD_isError(got))
		return damaged(r, err, "block %llu does not decompress: %s", kk,
		               ZSTD_getErrorName(got));
	if (got != raw)
		return damaged(r, err, "block %llu decompresses to %zu bytes, not %u", kk, got, raw);
	r->raw_len = raw;
	r->pos += BLOCK_HEAD_LEN + clen;
	*nrows = rows;
	return 0;
}

/* Decode one row at r->bpos into r->vals; its encoding's hash into *h. */
static int decode_row(ferry_chunk_reader *r, uint64_t k, uint64_t *h, ferry_err *err)
{
	size_t start = r->bpos;
	for (uint32_t c = 0; c < r->ncols; c++)
		if (decode_value(r->raw, r->raw_len, &r->bpos, &r->vals[c]) != 0)
			return damaged(r, err, "block %llu holds a damaged row (column %u at byte %zu)",
			               (unsigned long long)k, c + 1, start);
	*h = XXH3_64bits(r->raw + start, r->bpos - start);
	return 0;
}

/* The first pass: everything the format says a reader checks, in file order. */
static int check_all(ferry_chunk_reader *r, const uint8_t *label_id, uint64_t job,
                     uint64_t chunk, uint32_t ncols, ferry_err *err)
{
	XXH3_state_t *fsum = XXH3_createState();
	if (!fsum)
		return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	XXH3_64bits_reset(fsum);
	int rc;
	uint8_t h[HEADER_LEN];
	rc = src_read(r, 0, h, sizeof(h), err);
	if (rc > 0)
		rc = damaged(r, err, "truncated in the header");
	if (rc)
		goto out;
	XXH3_64bits_update(fsum, h, sizeof(h));
	if (memcmp(h, "FERRYCHK", 8) != 0) {
		rc = damaged(r, err, "header: no FERRYCHK magic");
		goto out;
	}
	unsigned version = (unsigned)ferry__get_le(h + 8, 2);
	if (version != FERRY_LABEL_FORMAT) {
		r->failed = 1;
		rc = ferry_err_set(err, FERRY_ECORRUPT, "label chunk \"%s\" has format version %u; this "
		                   "ferry reads version %d", r->name, version, FERRY_LABEL_FORMAT);
		goto out;
	}
	if (!FERRY_LABEL_SUM_OK(XXH3_64bits(h, 56), ferry__get_le(h + 56, 8))) {
		rc = damaged(r, err, "header checksum mismatch");
		goto out;
	}
	unsigned flags = (unsigned)ferry__get_le(h + 10, 2);
	uint32_t hlen = (uint32_t)ferry__get_le(h + 12, 4);
	uint64_t hjob = ferry__get_le(h + 32, 8), hchunk = ferry__get_le(h + 40, 8);
	uint32_t hcols = (uint32_t)ferry__get_le(h + 48, 4);
	if (flags)
		rc = damaged(r, err, "header: unknown flags 0x%04x", flags);
	else if (hlen != HEADER_LEN)
		rc = damaged(r, err, "header: header length %u, not %d", hlen, HEADER_LEN);
	else if (ferry__get_le(h + 52, 4) != 0)
		rc = damaged(r, err, "header: reserved field is not 0");
	else if (hcols == 0 || hcols > MAX_COLS)
		rc = damaged(r, err, "header: rows of %u columns (1 to %u allowed)", hcols, MAX_COLS);
	else if (ncols && hcols != ncols)
		rc = damaged(r, err, "header: rows of %u columns where %u were expected", hcols, ncols);
	if (rc)
		goto out;
	if (label_id && memcmp(label_id, h + 16, 16) != 0) {
		char got[33], want[33];
		ferry__hex_encode(got, h + 16, 16);
		ferry__hex_encode(want, label_id, 16);
		rc = damaged(r, err, "belongs to label %s not %s", got, want);
		goto out;
	}
	if ((job != UINT64_MAX && hjob != job) || (chunk != UINT64_MAX && hchunk != chunk)) {
		rc = damaged(r, err, "header: job %llu chunk %llu where job %llu chunk %llu was "
		             "expected", (unsigned long long)hjob, (unsigned long long)hchunk,
		             (unsigned long long)(job != UINT64_MAX ? job : hjob),
		             (unsigned long long)(chunk != UINT64_MAX ? chunk : hchunk));
		goto out;
	}
	r->ncols = hcols;
	if (!(r->vals = ferry__calloc(hcols, sizeof(ferry_value)))) {
		rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}

	r->pos = HEADER_LEN;
	for (uint64_t k = 0;; k++) {
		uint8_t magic[4];
		rc = src_read(r, r->pos, magic, 4, err);
		if (rc > 0)
			rc = k ? damaged(r, err, "truncated after block %llu", (unsigned long long)k - 1)
			       : damaged(r, err, "truncated after the header");
		if (rc)
			goto out;
		if (memcmp(magic, "END1", 4) == 0)
			break;
		if (memcmp(magic, "BLK1", 4) != 0) {
			rc = damaged(r, err, "neither block %llu nor the trailer starts at byte %llu",
			             (unsigned long long)k, (unsigned long long)r->pos);
			goto out;
		}
		uint32_t rows;
		if ((rc = load_block(r, k, fsum, &rows, err)) != 0)
			goto out;
		r->bpos = 0;
		for (uint32_t i = 0; i < rows; i++) {
			uint64_t hr;
			if ((rc = decode_row(r, k, &hr, err)) != 0)
				goto out;
			r->info.digest += hr;
		}
		if (r->bpos != r->raw_len) {
			rc = damaged(r, err, "block %llu holds %zu bytes past its %u rows",
			             (unsigned long long)k, r->raw_len - r->bpos, rows);
			goto out;
		}
		r->info.rows += rows;
		r->info.blocks++;
		r->info.raw_bytes += r->raw_len;
	}

	uint8_t t[TRAILER_LEN];
	rc = src_read(r, r->pos, t, sizeof(t), err);
	if (rc > 0)
		rc = damaged(r, err, "truncated in the trailer");
	if (rc)
		goto out;
	XXH3_64bits_update(fsum, t, sizeof(t));
	uint64_t trows = ferry__get_le(t + 4, 8), tblocks = ferry__get_le(t + 12, 8);
	uint64_t tdigest = ferry__get_le(t + 20, 8);
	if (!FERRY_LABEL_SUM_OK(XXH3_64bits(t, 28), ferry__get_le(t + 28, 8)))
		rc = damaged(r, err, "trailer checksum mismatch");
	else if (trows != r->info.rows)
		rc = damaged(r, err, "trailer: %llu rows where the blocks hold %llu",
		             (unsigned long long)trows, (unsigned long long)r->info.rows);
	else if (tblocks != r->info.blocks)
		rc = damaged(r, err, "trailer: %llu blocks where %llu were read",
		             (unsigned long long)tblocks, (unsigned long long)r->info.blocks);
	else if (!FERRY_LABEL_SUM_OK(tdigest, r->info.digest))
		rc = damaged(r, err, "trailer: row-set digest mismatch");
	else if (r->src.size - r->pos != TRAILER_LEN)
		rc = damaged(r, err, "%llu bytes follow the trailer",
		             (unsigned long long)(r->src.size - r->pos - TRAILER_LEN));
	if (rc)
		goto out;
	r->info.bytes = r->src.size;
	r->info.xxh3 = XXH3_64bits_digest(fsum);
	/* Rewind for ferry__chunkr_next. */
	r->pos = HEADER_LEN;
	r->block = 0;
	r->bleft = 0;
	r->raw_len = r->bpos = 0;
out:
	XXH3_freeState(fsum);
	return rc;
}

static int reader_start(ferry_chunk_reader **out, const char *name, chunk_src src,
                        const uint8_t *label_id, uint64_t job, uint64_t chunk, uint32_t ncols,
                        ferry_err *err)
{
	ferry_chunk_reader *r = ferry__calloc(1, sizeof(*r));
	if (!r) {
		if (src.fd >= 0)
			close(src.fd);
		return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	}
	r->src = src;
	r->name = ferry__strdup(name);
	r->dctx = ZSTD_createDCtx();
	int rc = !r->name || !r->dctx ? ferry_err_set(err, FERRY_ENOMEM, "out of memory")
	                              : check_all(r, label_id, job, chunk, ncols, err);
	if (rc) {
		ferry__chunkr_close(r);
		return rc;
	}
	*out = r;
	return 0;
}

int ferry__chunkr_open(ferry_chunk_reader **out, const char *path, const uint8_t label_id[16],
                       uint64_t job, uint64_t chunk, uint32_t ncols, ferry_err *err)
{
	assert(out && path);
	*out = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ferry_err_set(err, errno == ENOENT ? FERRY_ENOTFOUND : FERRY_ERROR,
		                     "could not open label chunk \"%s\": %s", path, strerror(errno));
	struct stat st;
	int bad = fstat(fd, &st) != 0 ? errno : !S_ISREG(st.st_mode) ? -1 : 0;
	if (bad) {
		int rc = ferry_err_set(err, FERRY_ERROR, "could not open label chunk \"%s\": %s", path,
		                       bad > 0 ? strerror(bad) : "not a regular file");
		close(fd);
		return rc;
	}
	chunk_src src = {fd, NULL, (uint64_t)st.st_size};
	return reader_start(out, path, src, label_id, job, chunk, ncols, err);
}

int ferry__chunkr_open_mem(ferry_chunk_reader **out, const uint8_t *data, size_t len,
                           const char *name, const uint8_t label_id[16], uint64_t job,
                           uint64_t chunk, uint32_t ncols, ferry_err *err)
{
	assert(out && name && (data || len == 0));
	*out = NULL;
	static const uint8_t empty[1] = {0};
	chunk_src src = {-1, data ? data : empty, len};
	return reader_start(out, name, src, label_id, job, chunk, ncols, err);
}

int ferry__chunkr_next(ferry_chunk_reader *r, ferry_batch *b, const size_t *map, int *eof,
                       ferry_err *err)
{
	*eof = 0;
	if (r->failed)
		return ferry_err_set(err, FERRY_ECORRUPT, "label chunk \"%s\" is damaged", r->name);
	size_t bcols = ferry_batch_ncols(b), cap = ferry_batch_capacity(b);
	assert(map || bcols <= r->ncols);
	while (ferry_batch_nrows(b) < cap) {
		if (r->bleft == 0) {
			if (r->block == r->info.blocks)
				break;
			uint32_t rows;
			int rc = load_block(r, r->block, NULL, &rows, err);
			if (rc)
				return rc;
			r->bleft = rows;
			r->bpos = 0;
			r->block++;
		}
		uint64_t h;
		int rc = decode_row(r, r->block - 1, &h, err);
		if (rc)
			return rc;
		r->digest_out += h;
		r->rows_out++;
		if (--r->bleft == 0 && r->bpos != r->raw_len)
			return damaged(r, err, "block %llu changed while it was read",
			               (unsigned long long)r->block - 1);
		ferry_value *row = ferry_batch_add_row(b);
		assert(row);
		for (size_t i = 0; i < bcols; i++) {
			size_t c = map ? map[i] : i;
			assert(c < r->ncols);
			ferry_value v = r->vals[c];
			/* The block's buffer is reused by the next block: strings move to the batch. */
			if (v.type == FERRY_BLOB || is_textlike(v.type)) {
				const void *p = v.len ? ferry_batch_copy(b, v.type == FERRY_BLOB
				                                                ? (const void *)v.v.b
				                                                : (const void *)v.v.s, v.len)
				                      : "";
				if (!p)
					return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
				if (v.type == FERRY_BLOB)
					v.v.b = p;
				else
					v.v.s = p;
			}
			row[i] = v;
		}
	}
	if (r->bleft == 0 && r->block == r->info.blocks) {
		if (r->rows_out != r->info.rows || r->digest_out != r->info.digest)
			return damaged(r, err, "the file changed while it was read");
		*eof = 1;
	}
	return 0;
}

uint32_t ferry__chunkr_ncols(const ferry_chunk_reader *r)
{
	return r->ncols;
}

void ferry__chunkr_info(const ferry_chunk_reader *r, ferry_label_chunk_info *out)
{
	*out = r->info;
}

void ferry__chunkr_close(ferry_chunk_reader *r)
{
	if (!r)
		return;
	if (r->src.fd >= 0)
		close(r->src.fd);
	ZSTD_freeDCtx(r->dctx);
	free(r->comp);
	free(r->raw);
	free(r->vals);
	free(r->name);
	free(r);
}

int ferry__chunk_check(const char *path, const uint8_t label_id[16], uint64_t job,
                       uint64_t chunk, uint32_t ncols, ferry_label_chunk_info *info,
                       ferry_err *err)
{
	ferry_chunk_reader *r;
	int rc = ferry__chunkr_open(&r, path, label_id, job, chunk, ncols, err);
	if (rc)
		return rc;
	if (info)
		ferry__chunkr_info(r, info);
	ferry__chunkr_close(r);
	return 0;
}

int ferry__chunk_check_mem(const uint8_t *data, size_t len, const char *name,
                           const uint8_t label_id[16], uint64_t job, uint64_t chunk,
                           uint32_t ncols, ferry_label_chunk_info *info, ferry_err *err)
{
	ferry_chunk_reader *r;
	int rc = ferry__chunkr_open_mem(&r, data, len, name, label_id, job, chunk, ncols, err);
	if (rc)
		return rc;
	if (info)
		ferry__chunkr_info(r, info);
	ferry__chunkr_close(r);
	return 0;
}
