/* hash.c — xxh3 hashing (libxxhash) for run digests, row hashes and sampling. */
#include <xxhash.h>
#include "../ferry_int.h"

uint64_t ferry__hash64(const void *data, size_t len, uint64_t seed)
{
	return XXH3_64bits_withSeed(data, len, seed);
}

void ferry__hash128_hex(char out[33], const void *data, size_t len)
{
	XXH128_hash_t h = XXH3_128bits(data, len);
	snprintf(out, 33, "%016llx%016llx", (unsigned long long)h.high64,
	         (unsigned long long)h.low64);
}
