/* decimal.c — decimal numbers as text, read once for every module: the PostgreSQL engine
 * checks that a value fits numeric(p,s) or reads back as the same float, verify compares
 * numerics by value. Nothing here goes through a double, so no digit is lost. */
#include <ctype.h>
#include <string.h>
#include <strings.h>
#include "../ferry_int.h"

#define DEC_MAX_DIGITS 4096   /* longer decimals (after the exponent) are compared as text */
#define DEC_MAX_EXP 100000    /* normalized decimals refuse exponents from here on */

static int ieq(const char *s, size_t n, const char *w)
{
	return strlen(w) == n && strncasecmp(s, w, n) == 0;
}

int ferry__dec_parse(const char *s, size_t n, ferry_dec *d)
{
	memset(d, 0, sizeof(*d));
	if (ieq(s, n, "NaN")) {
		d->special = 'N';
		return 0;
	}
	if (ieq(s, n, "Infinity") || ieq(s, n, "+Infinity") || ieq(s, n, "inf") || ieq(s, n, "+inf")) {
		d->special = 'I';
		return 0;
	}
	if (ieq(s, n, "-Infinity") || ieq(s, n, "-inf")) {
		d->special = 'J';
		return 0;
	}
	size_t i = 0;
	if (i < n && (s[i] == '+' || s[i] == '-'))
		d->neg = s[i++] == '-';
	d->ip = s + i;
	while (i < n && isdigit((unsigned char)s[i]))
		i++;
	d->il = (size_t)(s + i - d->ip);
	if (i < n && s[i] == '.') {
		i++;
		d->fp = s + i;
		while (i < n && isdigit((unsigned char)s[i]))
			i++;
		d->fl = (size_t)(s + i - d->fp);
	}
	if (d->il + d->fl == 0)
		return -1;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		int eneg = 0;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			eneg = s[i++] == '-';
		if (i >= n || !isdigit((unsigned char)s[i]))
			return -1;
		long e = 0;
		while (i < n && isdigit((unsigned char)s[i])) {
			if (e < 100000000) /* saturates: no exponent that large is ever used */
				e = e * 10 + (s[i] - '0');
			i++;
		}
		d->exp = eneg ? -e : e;
	}
	return i == n ? 0 : -1;
}

/* Digit k of the digits as written (integer part then fraction). */
static int dec_digit(const ferry_dec *d, long k)
{
	if (k < 0 || (size_t)k >= d->il + d->fl)
		return 0;
	return (size_t)k < d->il ? d->ip[k] - '0' : d->fp[(size_t)k - d->il] - '0';
}

int ferry__dec_at(const ferry_dec *d, long e)
{
	return dec_digit(d, (long)d->il + d->exp - 1 - e);
}

int ferry__dec_range(const ferry_dec *d, long *hi, long *lo)
{
	long total = (long)(d->il + d->fl), first = -1, last = -1;
	for (long k = 0; k < total; k++)
		if (dec_digit(d, k)) {
			if (first < 0)
				first = k;
			last = k;
		}
	if (first < 0)
		return 0;
	*hi = (long)d->il + d->exp - 1 - first;
	*lo = (long)d->il + d->exp - 1 - last;
	return 1;
}

/* Append the digits of d from weight 10^from down to 10^to (from >= to). */
static int put_digits(ferry_buf *out, const ferry_dec *d, long from, long to)
{
	int rc = 0;
	for (long e = from; e >= to && rc == 0; e--) {
		char c = (char)('0' + ferry__dec_at(d, e));
		rc = ferry_buf_add(out, &c, 1);
	}
	return rc;
}

int ferry__dec_normalize(ferry_buf *out, const char *s, size_t n)
{
	while (n && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	ferry_dec d;
	if (ferry__dec_parse(s, n, &d) != 0)
		return -1;
	if (d.special)
		return ferry_buf_puts(out, d.special == 'N' ? "NaN" : d.special == 'I' ? "Infinity"
		                                                     : "-Infinity") ? FERRY_ENOMEM : 0;
	if (d.exp >= DEC_MAX_EXP || d.exp <= -DEC_MAX_EXP)
		return -1;
	long hi, lo;
	if (!ferry__dec_range(&d, &hi, &lo))
		return ferry_buf_puts(out, "0") ? FERRY_ENOMEM : 0;
	if (hi + 1 > DEC_MAX_DIGITS || hi + 1 < -DEC_MAX_DIGITS)
		return -1;
	int rc = d.neg ? ferry_buf_puts(out, "-") : 0;
	if (hi < 0) { /* 0.000ddd */
		rc |= ferry_buf_puts(out, "0.");
		rc |= put_digits(out, &d, -1, hi + 1);
		rc |= put_digits(out, &d, hi, lo);
	} else if (lo >= 0) { /* ddd000 */
		rc |= put_digits(out, &d, hi, 0);
	} else {
		rc |= put_digits(out, &d, hi, 0);
		rc |= ferry_buf_add(out, ".", 1);
		rc |= put_digits(out, &d, -1, lo);
	}
	return rc ? FERRY_ENOMEM : 0;
}

int ferry__int_parse(const char *s, size_t n, int64_t *out, size_t *used)
{
	size_t i = 0;
	int neg = 0;
	if (i < n && (s[i] == '+' || s[i] == '-'))
		neg = s[i++] == '-';
	if (i >= n || !isdigit((unsigned char)s[i]))
		return -1;
	uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	while (i < n && isdigit((unsigned char)s[i])) {
		uint64_t dgt = (uint64_t)(s[i++] - '0');
		if (v > (lim - dgt) / 10)
			return -2;
		v = v * 10 + dgt;
	}
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	*used = i;
	return 0;
}
