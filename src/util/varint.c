/* varint.c — LEB128 varints of ferry's value encoding (value.c, the label's chunk files):
 * 7 bits a byte, least significant first, the high bit saying another byte follows. */
#include "../ferry_int.h"

size_t ferry__varint_len(uint64_t v)
{
	size_t n = 1;
	while (v >>= 7)
		n++;
	return n;
}

size_t ferry__varint_put(uint8_t out[10], uint64_t v)
{
	size_t n = 0;
	do {
		uint8_t byte = v & 0x7f;
		v >>= 7;
		out[n++] = byte | (v ? 0x80 : 0);
	} while (v);
	return n;
}

int ferry__varint_get(const uint8_t *d, size_t len, size_t *pos, uint64_t *out)
{
	uint64_t v = 0;
	for (int i = 0; i < 10; i++) {
		if (*pos >= len)
			return -1;
		uint8_t b = d[(*pos)++];
		if (i == 9 && b > 1)
			return -1; /* past 2^64 */
		v |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			if (b == 0 && i > 0)
				return -1; /* not in the fewest bytes */
			*out = v;
			return 0;
		}
	}
	return -1;
}
