/* rowmap.c — the rows of one comparison round, by key: an open-addressing hash map whose rows
 * live in an arena, so a round of 200,000 rows costs two allocations that grow, not one a row.
 * A key seen again is counted (its row hashes summed), or folded on a merge's expected side. */
#include <stdlib.h>
#include <string.h>
#include "verify.h"

int ferry_verify__map_init(rowmap *m, size_t expect)
{
	memset(m, 0, sizeof(*m));
	m->cap = 64;
	while (m->cap < expect * 2)
		m->cap *= 2;
	m->slots = ferry__calloc(m->cap, sizeof(mrow));
	m->arena = ferry_arena_new(1 << 20);
	return m->slots && m->arena ? 0 : FERRY_ENOMEM;
}

void ferry_verify__map_free(rowmap *m)
{
	free(m->slots);
	ferry_arena_free(m->arena);
	free(m->cells);
	free(m->lens);
	ferry_buf_free(&m->fold);
	memset(m, 0, sizeof(*m));
}

mrow *ferry_verify__map_find(rowmap *m, uint64_t kh, const uint8_t *key, size_t klen)
{
	size_t i = (size_t)kh & (m->cap - 1);
	for (;; i = (i + 1) & (m->cap - 1)) {
		mrow *r = &m->slots[i];
		if (!r->data || (r->kh == kh && r->klen == klen && memcmp(r->data, key, klen) == 0))
			return r;
	}
}

/* Double the slots, keeping every row (its data stays where the arena holds it). */
static int map_grow(rowmap *m)
{
	size_t ncap = m->cap * 2;
	mrow *ns = ferry__calloc(ncap, sizeof(mrow));
	if (!ns)
		return FERRY_ENOMEM;
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->slots[i].data)
			continue;
		size_t k = (size_t)m->slots[i].kh & (ncap - 1);
		while (ns[k].data)
			k = (k + 1) & (ncap - 1);
		ns[k] = m->slots[i];
	}
	free(m->slots);
	m->slots = ns;
	m->cap = ncap;
	return 0;
}

int ferry_verify__map_set_row(rowmap *m, mrow *r, const uint8_t *key, size_t klen,
                              const uint8_t *row, size_t rlen)
{
	uint8_t *d = ferry_arena_alloc(m->arena, klen + rlen + 1);
	if (!d)
		return FERRY_ENOMEM;
	memcpy(d, key, klen);
	memcpy(d + klen, row, rlen);
	r->data = d;
	r->klen = (uint32_t)klen;
	r->rlen = (uint32_t)rlen;
	return 0;
}

static int key_has_null(const uint8_t *key, size_t klen)
{
	for (size_t off = 0; off < klen;) {
		size_t n = ferry__cell_size(key + off, klen - off);
		if (n == 0)
			return 0;
		if (key[off] == CELL_NULL)
			return 1;
		off += n;
	}
	return 0;
}

int ferry_verify__collect(rowmap *map, vtable *vt, int side, const job *j, const int *jm,
                          uint64_t kh, uint64_t rh, const uint8_t *key, size_t klen,
                          const uint8_t *row, size_t rlen, int waits)
{
	if (map->n * 2 >= map->cap && map_grow(map) != 0)
		return FERRY_ENOMEM;
	mrow *m = ferry_verify__map_find(map, kh, key, klen);
	if (m->data) {
		/* ON CONFLICT never matches a NULL key: the target keeps each such row. */
		if (side == 0 && vt->merge && !key_has_null(key, klen))
			return ferry_verify__fold(map, m, vt, j, jm, row, rlen);
		m->count++;
		m->rsum += rh;
		return 0;
	}
	m->kh = kh;
	m->count = 1;
	m->rsum = rh;
	m->waits = waits;
	if (ferry_verify__map_set_row(map, m, key, klen, row, rlen) != 0)
		return FERRY_ENOMEM;
	map->n++;
	return 0;
}
