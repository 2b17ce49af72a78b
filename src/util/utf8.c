/* utf8.c — UTF-8 as RFC 3629 has it, once for every module: the PostgreSQL engine refuses text
 * that is not, verify shows such text as bytes, and names are cut on character boundaries. */
#include <string.h>
#include "../ferry_int.h"

size_t ferry__utf8_seq(const uint8_t *s, size_t n)
{
	if (n == 0)
		return 0;
	uint8_t c = s[0];
	size_t k;
	uint8_t lo = 0x80, hi = 0xBF; /* the range of the second byte */
	if (c == 0)
		return 0;
	if (c < 0x80)
		return 1;
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
	if (k > n || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t j = 2; j < k; j++)
		if ((s[j] & 0xC0) != 0x80)
			return 0;
	return k;
}

int ferry__utf8_valid(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t k = ferry__utf8_seq(s + i, n - i);
		if (k == 0)
			return 0;
		i += k;
	}
	return 1;
}

int ferry__utf8_escape(ferry_buf *b, const char *s, size_t n)
{
	const uint8_t *u = (const uint8_t *)s;
	static const char hex[] = "0123456789abcdef";
	size_t start = 0;
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0;) {
		size_t k = ferry__utf8_seq(u + i, n - i);
		if (k > 1 || (k == 1 && u[i] >= 0x20 && u[i] != 0x7f && u[i] != '\\')) {
			i += k;
			continue;
		}
		rc = ferry_buf_add(b, s + start, i - start);
		if (rc == 0 && u[i] == '\\') {
			rc = ferry_buf_add(b, "\\\\", 2);
		} else if (rc == 0) {
			char esc[4] = {'\\', 'x', hex[u[i] >> 4], hex[u[i] & 15]};
			rc = ferry_buf_add(b, esc, 4);
		}
		start = ++i;
	}
	return rc ? rc : ferry_buf_add(b, s + start, n - start);
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

int ferry__utf8_cell(ferry_buf *b, const char *s, size_t width, int pad)
{
	ferry_buf e = FERRY_BUF_INIT;
	if (ferry__utf8_escape(&e, s, strlen(s)) != 0)
		return FERRY_ENOMEM;
	const uint8_t *u = (const uint8_t *)(e.data ? e.data : "");
	size_t chars = 0, i = 0;
	for (; i < e.len && chars < width; chars++)
		i += ferry__utf8_seq(u + i, e.len - i); /* escaped text: every sequence is valid */
	int rc = ferry_buf_add(b, u, i);
	for (; rc == 0 && pad && chars < width; chars++)
		rc = ferry_buf_add(b, " ", 1);
	ferry_buf_free(&e);
	return rc;
}
