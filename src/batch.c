/* batch.c — rows x columns of values with an arena for their strings; reset per batch so
 * a table streams through a fixed amount of memory. */
#include <stdlib.h>
#include <string.h>
#include "ferry_int.h"

struct ferry_batch {
	size_t ncols, nrows, cap;
	ferry_value *vals;
	ferry_arena *arena;
};

ferry_batch *ferry__batch_new(size_t ncols, size_t cap_rows)
{
	ferry_batch *b = ferry__calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->ncols = ncols;
	b->cap = cap_rows;
	b->vals = ferry__calloc(ncols * cap_rows > 0 ? ncols * cap_rows : 1, sizeof(ferry_value));
	b->arena = ferry_arena_new(256 * 1024);
	if (!b->vals || !b->arena) {
		ferry__batch_free(b);
		return NULL;
	}
	return b;
}

void ferry__batch_reset(ferry_batch *b)
{
	b->nrows = 0;
	ferry_arena_reset(b->arena);
}

void ferry__batch_free(ferry_batch *b)
{
	if (!b)
		return;
	free(b->vals);
	ferry_arena_free(b->arena);
	free(b);
}

ferry_arena *ferry__batch_arena(ferry_batch *b) { return b->arena; }
size_t ferry_batch_ncols(const ferry_batch *b) { return b->ncols; }
size_t ferry_batch_nrows(const ferry_batch *b) { return b->nrows; }
size_t ferry_batch_capacity(const ferry_batch *b) { return b->cap; }
ferry_value *ferry_batch_row(ferry_batch *b, size_t row) { return b->vals + row * b->ncols; }

const ferry_value *ferry_batch_crow(const ferry_batch *b, size_t row)
{
	return b->vals + row * b->ncols;
}

ferry_value *ferry_batch_add_row(ferry_batch *b)
{
	if (b->nrows >= b->cap)
		return NULL;
	ferry_value *r = b->vals + b->nrows * b->ncols;
	memset(r, 0, b->ncols * sizeof(ferry_value));
	b->nrows++;
	return r;
}

void *ferry_batch_copy(ferry_batch *b, const void *data, size_t len)
{
	char *d = ferry_arena_alloc(b->arena, len + 1);
	if (!d)
		return NULL;
	if (len)
		memcpy(d, data, len);
	d[len] = '\0';
	return d;
}

void ferry__batch_truncate(ferry_batch *b, size_t nrows)
{
	if (nrows < b->nrows)
		b->nrows = nrows;
}
