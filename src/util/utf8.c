/* utf8.c — UTF-8 as RFC 3629 has it, once for every module: the PostgreSQL engine refuses text
 * that is not, verify shows such text as bytes, and names are cut on character boundaries. */
#include "../ferry_int.h"

int ferry__utf8_valid(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		uint8_t c = s[i];
		size_t k;
		uint8_t lo = 0x80, hi = 0xBF; /* the range of the second byte */
		if (c == 0)
			return 0;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF) {
			k = 2;
		} else if (c >= 0xE0 && c <= 0xEF) {
			k = 3;
			lo = c == 0xE0 ? 0xA0 : 0x80; /* E0 80..9F would be overlong */
			hi = c == 0xED ? 0x9F : 0xBF; /* ED A0..BF would be a surrogate */
		} else if (c >= 0xF0 && c <= 0xF4) {
			k = 4;
			lo = c == 0xF0 ? 0x90 : 0x80; /* F0 80..8F would be overlong */
			hi = c == 0xF4 ? 0x8F : 0xBF; /* F4 90.. would pass U+10FFFF */
		} else {
			return 0; /* a continuation byte, C0/C1 (overlong) or F5.. */
		}
		if (k > n - i || s[i + 1] < lo || s[i + 1] > hi)
			return 0;
		for (size_t j = 2; j < k; j++)
			if ((s[i + j] & 0xC0) != 0x80)
				return 0;
		i += k;
	}
	return 1;
}

size_t ferry__utf8_chars(const uint8_t *s, size_t n)
{
	size_t c = 0;
	for (size_t i = 0; i < n; i++)
		c += (s[i] & 0xC0) != 0x80;
	return c;
}

size_t ferry__utf8_cut(const uint8_t *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	while (max > 0 && (s[max] & 0xC0) == 0x80)
		max--;
	return max;
}
