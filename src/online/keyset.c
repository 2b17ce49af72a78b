/* keyset.c — the keys a batch of changes touched, each once: the apply re-reads every key
 * of a batch in one statement per table, however often the batch changed it. A key is known
 * by its canonical cells (by the target key's column types, so a key read back from the
 * source finds the one a change named whatever the engine's spelling) and keeps its values
 * as the change gave them, to bind in the re-read. */
#include <stdlib.h>
#include <string.h>
#include "online.h"

static size_t entry_end(const ferry_keyset *s, size_t i)
{
	return i + 1 < s->n ? s->off[i + 1] : s->blen;
}

static long probe(const ferry_keyset *s, const uint8_t *k, size_t len, size_t *slot)
{
	if (!s->nslots)
		return -1;
	size_t m = s->nslots - 1, i = (size_t)ferry__hash64(k, len, 0x6b657973) & m;
	for (;;) {
		uint32_t v = s->slots[i];
		if (v == 0) {
			if (slot)
				*slot = i;
			return -1;
		}
		size_t at = v - 1;
		if (s->clen[at] == len && memcmp(s->bytes + s->off[at], k, len) == 0)
			return (long)at;
		i = (i + 1) & m;
	}
}

static int rehash(ferry_keyset *s, size_t nslots)
{
	uint32_t *slots = ferry__calloc(nslots, sizeof(uint32_t));
	if (!slots)
		return FERRY_ENOMEM;
	free(s->slots);
	s->slots = slots;
	s->nslots = nslots;
	for (size_t i = 0; i < s->n; i++) {
		size_t slot = 0;
		probe(s, s->bytes + s->off[i], s->clen[i], &slot);
		s->slots[slot] = (uint32_t)(i + 1);
	}
	return 0;
}

int ferry__keyset_add(ferry_keyset *s, const uint8_t *canon, size_t clen, const ferry_value *raw,
                      size_t nraw, int *added)
{
	if (added)
		*added = 0;
	if (probe(s, canon, clen, NULL) >= 0)
		return 0;
	size_t start = s->blen;
	if (ferry__grow(&s->bytes, &s->bcap, s->blen + clen + 1, 1) != 0)
		return FERRY_ENOMEM;
	memcpy(s->bytes + s->blen, canon, clen);
	s->blen += clen;
	if (ferry_value_encode_row(&s->bytes, &s->blen, &s->bcap, raw, nraw) != 0 ||
	    ferry__grow(&s->off, &s->cap, s->n + 1, sizeof(size_t)) != 0 ||
	    ferry__grow(&s->clen, &s->ccap, s->n + 1, sizeof(size_t)) != 0) {
		s->blen = start;
		return FERRY_ENOMEM;
	}
	s->off[s->n] = start;
	s->clen[s->n] = clen;
	s->n++;
	if (s->n * 2 > s->nslots) {
		if (rehash(s, s->nslots ? s->nslots * 2 : 256) != 0) {
			s->n--;
			s->blen = start;
			return FERRY_ENOMEM;
		}
	} else {
		size_t slot = 0;
		probe(s, canon, clen, &slot);
		s->slots[slot] = (uint32_t)s->n;
	}
	if (added)
		*added = 1;
	return 0;
}

long ferry__keyset_find(const ferry_keyset *s, const uint8_t *canon, size_t clen)
{
	return probe(s, canon, clen, NULL);
}

int ferry__keyset_get(const ferry_keyset *s, size_t i, ferry_value *out, size_t nvals)
{
	size_t o = s->off[i] + s->clen[i];
	int n = ferry_value_decode_row(out, nvals, s->bytes + o, entry_end(s, i) - o);
	return n == (int)nvals ? 0 : FERRY_ECORRUPT;
}

void ferry__keyset_reset(ferry_keyset *s)
{
	s->blen = 0;
	s->n = 0;
	if (s->slots)
		memset(s->slots, 0, s->nslots * sizeof(uint32_t));
}

void ferry__keyset_free(ferry_keyset *s)
{
	free(s->bytes);
	free(s->off);
	free(s->clen);
	free(s->slots);
	memset(s, 0, sizeof(*s));
}

int ferry__keyset_add_newest(ferry_keyset *s, const uint8_t *canon, size_t clen, const ferry_value *raw,
                             size_t nraw, int64_t t, int64_t **when, size_t *cap)
{
	int added = 0;
	if (ferry__keyset_add(s, canon, clen, raw, nraw, &added) != 0 ||
	    ferry__grow(when, cap, s->n, sizeof(int64_t)) != 0)
		return FERRY_ENOMEM;
	long at = ferry__keyset_find(s, canon, clen);
	if (added || t > (*when)[at])
		(*when)[at] = t;
	return 0;
}
