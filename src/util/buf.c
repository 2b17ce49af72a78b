/* buf.c — growable byte buffer with a hard cap; frees itself when an append fails, so a
 * chain of appends needs one check at the end (curl's dynbuf habit). */
#include <stdlib.h>
#include <string.h>
#include "../ferry_int.h"

#define BUF_DEFAULT_MAX ((size_t)1 << 30)

static int buf_fail(ferry_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
	b->failed = 1;
	return FERRY_ENOMEM;
}

int ferry_buf_add(ferry_buf *b, const void *data, size_t len)
{
	size_t max = b->max ? b->max : BUF_DEFAULT_MAX;
	if (b->failed)
		return FERRY_ENOMEM;
	if (len > max || b->len > max - len)
		return buf_fail(b);
	if (b->len + len + 1 > b->cap) {
		size_t ncap = b->cap ? b->cap : 64;
		while (ncap < b->len + len + 1)
			ncap *= 2;
		if (ncap > max + 1)
			ncap = max + 1;
		char *n = ferry__realloc(b->data, ncap);
		if (!n)
			return buf_fail(b);
		b->data = n;
		b->cap = ncap;
	}
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

int ferry_buf_puts(ferry_buf *b, const char *s)
{
	return ferry_buf_add(b, s, strlen(s));
}

int ferry_buf_printf(ferry_buf *b, const char *fmt, ...)
{
	char small[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return buf_fail(b);
	if ((size_t)n < sizeof(small))
		return ferry_buf_add(b, small, (size_t)n);
	char *big = ferry__malloc((size_t)n + 1);
	if (!big)
		return buf_fail(b);
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	int rc = ferry_buf_add(b, big, (size_t)n);
	free(big);
	return rc;
}

int ferry_buf_json_str(ferry_buf *b, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	int rc = ferry_buf_add(b, "\"", 1);
	size_t start = 0;
	for (size_t i = 0; i < len && rc == 0; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\')
			continue;
		if (c >= 0x80) {
			/* JSON is UTF-8: a byte outside a valid character is written as the text
			 * \xHH (what ferry__utf8_escape writes), never as itself. */
			size_t k = ferry__utf8_seq((const uint8_t *)s + i, len - i);
			if (k) {
				i += k - 1;
				continue;
			}
			rc = ferry_buf_add(b, s + start, i - start);
			char x[6] = {'\\', '\\', 'x', hex[c >> 4], hex[c & 15], 0};
			if (rc == 0)
				rc = ferry_buf_add(b, x, 5);
			start = i + 1;
			continue;
		}
		rc = ferry_buf_add(b, s + start, i - start);
		char esc[7] = {'\\', 0};
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default:
			esc[1] = 'u'; esc[2] = '0'; esc[3] = '0';
			esc[4] = hex[c >> 4]; esc[5] = hex[c & 15];
		}
		if (rc == 0)
			rc = ferry_buf_add(b, esc, strlen(esc));
		start = i + 1;
	}
	if (rc == 0)
		rc = ferry_buf_add(b, s + start, len - start);
	if (rc == 0)
		rc = ferry_buf_add(b, "\"", 1);
	return rc;
}

void ferry_buf_reset(ferry_buf *b)
{
	b->len = 0;
	b->failed = 0;
	if (b->data)
		b->data[0] = '\0';
}

void ferry_buf_free(ferry_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
	b->failed = 0;
}

char *ferry_buf_detach(ferry_buf *b)
{
	char *d = b->data;
	if (!d && !b->failed)
		d = ferry__strdup("");
	b->data = NULL;
	b->len = b->cap = 0;
	return d;
}

size_t ferry__quote_ident_std(char *buf, size_t cap, const char *ident)
{
	size_t n = 0;
#define PUT(ch) do { if (n + 1 < cap) buf[n] = (ch); n++; } while (0)
	PUT('"');
	for (const char *p = ident; *p; p++) {
		if (*p == '"')
			PUT('"');
		PUT(*p);
	}
	PUT('"');
#undef PUT
	if (cap)
		buf[n < cap ? n : cap - 1] = '\0';
	return n;
}

int ferry_buf_ident(ferry_buf *b, const char *ident)
{
	int rc = ferry_buf_add(b, "\"", 1);
	for (const char *p = ident; *p && rc == 0; p++) {
		rc = ferry_buf_add(b, p, 1);
		if (rc == 0 && *p == '"')
			rc = ferry_buf_add(b, p, 1);
	}
	return rc ? rc : ferry_buf_add(b, "\"", 1);
}
