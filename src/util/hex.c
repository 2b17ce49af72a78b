/* hex.c — hexadecimal digits both ways, and the UUID's text forms, once for every module. */
#include <string.h>
#include "../ferry_int.h"

static const char hex_digits[] = "0123456789abcdef";

int ferry__hex_digit(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The value of lower-case hex digit c, or -1. */
static int lower_digit(int c)
{
	return c >= 'A' && c <= 'F' ? -1 : ferry__hex_digit(c);
}

int ferry__hex_decode(uint8_t *out, const char *hex, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int hi = lower_digit((unsigned char)hex[2 * i]);
		int lo = hi < 0 ? -1 : lower_digit((unsigned char)hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

void ferry__hex_encode(char *out, const void *data, size_t n)
{
	const uint8_t *p = data;
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex_digits[p[i] >> 4];
		out[2 * i + 1] = hex_digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

int ferry_buf_hex(ferry_buf *b, const void *data, size_t n)
{
	const uint8_t *p = data;
	char pair[2];
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		pair[0] = hex_digits[p[i] >> 4];
		pair[1] = hex_digits[p[i] & 15];
		rc = ferry_buf_add(b, pair, 2);
	}
	return rc;
}

int ferry__uuid_parse(const char *s, size_t n, uint8_t out[16])
{
	if (n >= 2 && s[0] == '{' && s[n - 1] == '}') {
		s++;
		n -= 2;
	}
	if (n != 36 && n != 32)
		return -1;
	int k = 0;
	for (size_t i = 0; i < n; i++) {
		if (n == 36 && (i == 8 || i == 13 || i == 18 || i == 23)) {
			if (s[i] != '-')
				return -1;
			continue;
		}
		int a = ferry__hex_digit((unsigned char)s[i]);
		int b = i + 1 < n ? ferry__hex_digit((unsigned char)s[i + 1]) : -1;
		if (a < 0 || b < 0)
			return -1;
		out[k++] = (uint8_t)(a * 16 + b);
		i++;
	}
	return k == 16 ? 0 : -1;
}

int ferry__uuid_format(char out[37], const uint8_t u[16])
{
	int n = 0;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[n++] = '-';
		out[n++] = hex_digits[u[i] >> 4];
		out[n++] = hex_digits[u[i] & 15];
	}
	out[n] = '\0';
	return n;
}

int ferry_buf_base64(ferry_buf *b, const void *data, size_t n)
{
	static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const uint8_t *p = data;
	char q[4];
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
		             (i + 2 < n ? p[i + 2] : 0);
		q[0] = abc[v >> 18 & 63];
		q[1] = abc[v >> 12 & 63];
		q[2] = i + 1 < n ? abc[v >> 6 & 63] : '=';
		q[3] = i + 2 < n ? abc[v & 63] : '=';
		if (ferry_buf_add(b, q, 4) != 0)
			return FERRY_ENOMEM;
	}
	return 0;
}
