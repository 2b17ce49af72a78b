/* ident.c — names longer than an engine keeps (PostgreSQL: 63 bytes), shortened the same way
 * by every step that names them (create, copy, verify, sync, import), so that a long name
 * maps to one short name and two long names never to the same one. */
#include <stdio.h>
#include <string.h>
#include "../ferry_int.h"

/* The hash suffix: '_' and 8 hex digits. A collision needs two names of one table sharing
 * their prefix and 32 bits of xxh3; callers still check that the results are distinct. */
#define SUFFIX 9

int ferry__ident_short(char *out, size_t cap, const char *name, size_t max)
{
	size_t len = strlen(name);
	if (max == 0 || len <= max) {
		if (len + 1 > cap)
			return -1;
		memcpy(out, name, len + 1);
		return 0;
	}
	if (max <= SUFFIX || max + 1 > cap)
		return -1;
	size_t keep = ferry__utf8_cut((const uint8_t *)name, len, max - SUFFIX);
	memcpy(out, name, keep);
	snprintf(out + keep, cap - keep, "_%08x", (unsigned)(ferry__hash64(name, len, 0) & 0xffffffffu));
	return 1;
}
