/* cells.c — reading canonical cells (verify.h): their sizes, equality and order (for min and
 * max merges), exact sums (for sum merges), and their JSON form in reports. */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "verify.h"

static uint32_t get_len(const uint8_t *p)
{
	return (uint32_t)ferry__get_le(p + 1, 4);
}

static uint64_t get_fixed(const uint8_t *p, size_t n)
{
	return ferry__get_le(p + 1, (int)n);
}

size_t ferry__cell_size(const uint8_t *p, size_t n)
{
	if (n == 0)
		return 0;
	switch (p[0]) {
	case CELL_NULL: case CELL_ANY: return 1;
	case CELL_INT: case CELL_FLOAT: return n >= 9 ? 9 : 0;
	case CELL_BOOL: return n >= 2 ? 2 : 0;
	case CELL_UUID: return n >= 17 ? 17 : 0;
	default:
		if (p[0] > CELL_ANY || n < 5 || get_len(p) > n - 5)
			return 0;
		return 5 + (size_t)get_len(p);
	}
}

int ferry__cell_equal(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
	if ((an && a[0] == CELL_ANY) || (bn && b[0] == CELL_ANY))
		return 1;
	return an == bn && memcmp(a, b, an) == 0;
}

static double cell_double(const uint8_t *p)
{
	uint64_t bits = get_fixed(p, 8);
	double d;
	memcpy(&d, &bits, 8);
	return d;
}

/* A normalized decimal (CELL_DEC text, no NaN or infinities) taken apart: its sign, its
 * digits after the sign (s, n), the integer digits' count and the fraction's. */
typedef struct ndec {
	int neg;
	const char *s;
	size_t n, il, fl;
} ndec;

static ndec ndec_of(const char *s, size_t n)
{
	ndec d;
	d.neg = n && s[0] == '-';
	d.s = s + d.neg;
	d.n = n - (size_t)d.neg;
	const char *pt = memchr(d.s, '.', d.n);
	d.il = pt ? (size_t)(pt - d.s) : d.n;
	d.fl = pt ? d.n - d.il - 1 : 0;
	return d;
}

/* Compare normalized decimals: the longer integer part is larger, else the digits decide. */
static int dec_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	ndec x = ndec_of(a, an), y = ndec_of(b, bn);
	if (x.neg != y.neg)
		return x.neg ? -1 : 1;
	int c = x.il != y.il ? (x.il < y.il ? -1 : 1) : 0;
	if (!c) {
		size_t m = x.n < y.n ? x.n : y.n;
		c = memcmp(x.s, y.s, m);
		if (!c && x.n != y.n)
			c = x.n < y.n ? -1 : 1;
		c = c < 0 ? -1 : c > 0;
	}
	return x.neg ? -c : c;
}

/* A date or timestamp cell's place in time: -1 -infinity, 1 infinity, else 0 with *year
 * (astronomical: 1 BC is 0) and the text after the year. */
static int when_key(const uint8_t *p, size_t n, long *year, const char **rest, size_t *rn)
{
	const char *s = (const char *)p + 5;
	size_t len = n - 5;
	if (len >= 8 && memcmp(s, "infinity", 8) == 0)
		return 1;
	if (len >= 9 && memcmp(s, "-infinity", 9) == 0)
		return -1;
	long y = 0;
	size_t i = 0;
	while (i < len && isdigit((unsigned char)s[i]))
		y = y * 10 + (s[i++] - '0');
	int bc = len >= 3 && (memmem(s, len, " BC", 3) != NULL);
	*year = bc ? 1 - y : y;
	*rest = s + i;
	*rn = len - i;
	if (bc) /* the " BC" (and a zone's "Z" after it) is not part of the order */
		*rn = (size_t)((const char *)memmem(s, len, " BC", 3) - *rest);
	return 0;
}

static int num_cmp(double x, double y)
{
	return x < y ? -1 : x > y;
}

int ferry__cell_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
	/* An untyped column holds integers and reals side by side: compare them as numbers. */
	if ((a[0] == CELL_INT && b[0] == CELL_FLOAT) || (a[0] == CELL_FLOAT && b[0] == CELL_INT)) {
		double x = a[0] == CELL_INT ? (double)(int64_t)get_fixed(a, 8) : cell_double(a);
		double y = b[0] == CELL_INT ? (double)(int64_t)get_fixed(b, 8) : cell_double(b);
		return num_cmp(x, y);
	}
	if (a[0] != b[0])
		return a[0] < b[0] ? -1 : 1;
	switch (a[0]) {
	case CELL_UUID: {
		int c = memcmp(a + 1, b + 1, 16);
		return c < 0 ? -1 : c > 0;
	}
	case CELL_DATE: case CELL_TS: case CELL_TSTZ: {
		long ya = 0, yb = 0;
		const char *ra = NULL, *rb = NULL;
		size_t na = 0, nb = 0;
		int ia = when_key(a, an, &ya, &ra, &na), ib = when_key(b, bn, &yb, &rb, &nb);
		if (ia || ib)
			return ia != ib ? (ia < ib ? -1 : 1) : 0;
		if (ya != yb)
			return ya < yb ? -1 : 1;
		size_t m = na < nb ? na : nb;
		int c = memcmp(ra, rb, m);
		return c ? (c < 0 ? -1 : 1) : na == nb ? 0 : na < nb ? -1 : 1;
	}
	case CELL_INT: {
		int64_t x = (int64_t)get_fixed(a, 8), y = (int64_t)get_fixed(b, 8);
		return x < y ? -1 : x > y;
	}
	case CELL_FLOAT: {
		double x = cell_double(a), y = cell_double(b);
		if (isnan(x) || isnan(y))
			return isnan(x) - isnan(y); /* NaN above every number, as PostgreSQL sorts */
		return x < y ? -1 : x > y;
	}
	case CELL_BOOL:
		return (int)a[1] - (int)b[1];
	case CELL_DEC: {
		const char *x = (const char *)a + 5, *y = (const char *)b + 5;
		size_t xn = an - 5, yn = bn - 5;
		int xs = isalpha((unsigned char)x[xn ? xn - 1 : 0]), ys = isalpha((unsigned char)y[yn ? yn - 1 : 0]);
		if (xs || ys) { /* NaN > Infinity > numbers > -Infinity */
			int rx = !xs ? 1 : x[0] == '-' ? 0 : x[0] == 'I' ? 2 : 3;
			int ry = !ys ? 1 : y[0] == '-' ? 0 : y[0] == 'I' ? 2 : 3;
			return rx != ry ? (rx < ry ? -1 : 1) : 0;
		}
		return dec_cmp(x, xn, y, yn);
	}
	default: {
		size_t m = an < bn ? an : bn;
		int c = memcmp(a + 5, b + 5, m > 5 ? m - 5 : 0);
		return c ? (c < 0 ? -1 : 1) : an == bn ? 0 : an < bn ? -1 : 1;
	}
	}
}

/* Exact sum of two normalized decimals into out. */
static int dec_add(ferry_buf *out, const char *a, size_t an, const char *b, size_t bn)
{
	ndec da = ndec_of(a, an), db = ndec_of(b, bn);
	int na = da.neg, nb = db.neg;
	a = da.s;
	b = db.s;
	size_t ia = da.il, ib = db.il, fa = da.fl, fb = db.fl;
	size_t I = (ia > ib ? ia : ib) + 1, F = fa > fb ? fa : fb, W = I + F;
	int *x = ferry__calloc(W, sizeof(int)), *y = ferry__calloc(W, sizeof(int));
	char *s = ferry__malloc(W + 4);
	int rc = 0;
	if (!x || !y || !s) {
		rc = FERRY_ENOMEM;
		goto out;
	}
	/* Digit k of W holds 10^(I-1-k). */
	for (size_t k = 0; k < ia; k++)
		x[I - ia + k] = a[k] - '0';
	for (size_t k = 0; k < fa; k++)
		x[I + k] = a[ia + 1 + k] - '0';
	for (size_t k = 0; k < ib; k++)
		y[I - ib + k] = b[k] - '0';
	for (size_t k = 0; k < fb; k++)
		y[I + k] = b[ib + 1 + k] - '0';
	int neg = na;
	if (na == nb) {
		int carry = 0;
		for (size_t k = W; k-- > 0;) {
			int d = x[k] + y[k] + carry;
			x[k] = d % 10;
			carry = d / 10;
		}
	} else {
		int c = 0;
		for (size_t k = 0; k < W && !c; k++)
			c = x[k] - y[k];
		if (c < 0) { /* |a| < |b|: b - a, with b's sign */
			int *t = x;
			x = y;
			y = t;
			neg = nb;
		}
		int borrow = 0;
		for (size_t k = W; k-- > 0;) {
			int d = x[k] - y[k] - borrow;
			borrow = d < 0;
			x[k] = d + (borrow ? 10 : 0);
		}
	}
	size_t k = 0;
	if (neg)
		s[k++] = '-';
	for (size_t i = 0; i < I; i++)
		s[k++] = (char)('0' + x[i]);
	if (F) {
		s[k++] = '.';
		for (size_t i = 0; i < F; i++)
			s[k++] = (char)('0' + x[I + i]);
	}
	rc = ferry__dec_normalize(out, s, k);
out:
	free(x);
	free(y);
	free(s);
	return rc;
}

int ferry__cell_sum(ferry_buf *out, const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
	if ((a[0] == CELL_INT && b[0] == CELL_FLOAT) || (a[0] == CELL_FLOAT && b[0] == CELL_INT)) {
		double x = a[0] == CELL_INT ? (double)(int64_t)get_fixed(a, 8) : cell_double(a);
		double y = b[0] == CELL_INT ? (double)(int64_t)get_fixed(b, 8) : cell_double(b);
		return ferry_verify__put_float(out, x + y);
	}
	if (a[0] != b[0])
		return 1;
	if (a[0] == CELL_INT) {
		int64_t x = (int64_t)get_fixed(a, 8), y = (int64_t)get_fixed(b, 8), z;
		if (__builtin_add_overflow(x, y, &z))
			return 1;
		return ferry_verify__put_int(out, z);
	}
	if (a[0] == CELL_FLOAT)
		return ferry_verify__put_float(out, cell_double(a) + cell_double(b));
	if (a[0] == CELL_DEC && (!isdigit((unsigned char)a[an - 1]) || !isdigit((unsigned char)b[bn - 1]))) {
		/* PostgreSQL's numeric: NaN absorbs, an infinity wins over any number, and opposite
		 * infinities make NaN. */
		const char *x = (const char *)a + 5, *y = (const char *)b + 5;
		int xn = x[0] == 'N', yn = y[0] == 'N';
		int xi = x[an - 6] == 'y' ? (x[0] == '-' ? -1 : 1) : 0, yi = y[bn - 6] == 'y' ? (y[0] == '-' ? -1 : 1) : 0;
		if (xn || yn || (xi && yi && xi != yi))
			return ferry_verify__put_tag_len(out, CELL_DEC, "NaN", 3);
		int inf = xi ? xi : yi;
		return inf > 0 ? ferry_verify__put_tag_len(out, CELL_DEC, "Infinity", 8)
		               : ferry_verify__put_tag_len(out, CELL_DEC, "-Infinity", 9);
	}
	if (a[0] == CELL_DEC) {
		ferry_buf t = FERRY_BUF_INIT;
		int rc = dec_add(&t, (const char *)a + 5, an - 5, (const char *)b + 5, bn - 5);
		if (rc == 0)
			rc = ferry_verify__put_tag_len(out, CELL_DEC, t.data, t.len);
		ferry_buf_free(&t);
		return rc;
	}
	return 1;
}

/* ---- rendering ------------------------------------------------------------------------- */

/* Bytes as a JSON string "\\x0a1b..." (the first 32, then the length). */
static int bytes_json(ferry_buf *out, const char *prefix, const uint8_t *p, uint32_t len)
{
	uint32_t show = len > 32 ? 32 : len;
	int rc = ferry_buf_printf(out, "\"%s\\\\x", prefix);
	if (rc == 0)
		rc = ferry_buf_hex(out, p, show);
	if (rc == 0 && show < len)
		rc = ferry_buf_printf(out, "... (%u bytes)", len);
	return rc ? rc : ferry_buf_puts(out, "\"");
}

int ferry__cell_json(ferry_buf *out, const uint8_t *p, size_t n)
{
	char t[64];
	if (n == 0)
		return ferry_buf_puts(out, "null");
	switch (p[0]) {
	case CELL_NULL: return ferry_buf_puts(out, "null");
	case CELL_ANY: return ferry_buf_puts(out, "\"(any)\"");
	case CELL_INT: return ferry_buf_printf(out, "%lld", (long long)(int64_t)get_fixed(p, 8));
	case CELL_BOOL: return ferry_buf_puts(out, p[1] ? "true" : "false");
	case CELL_FLOAT: {
		double d = cell_double(p);
		if (isnan(d) || isinf(d))
			return ferry_buf_puts(out, isnan(d) ? "\"NaN\"" : d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
		if (d == 0 && signbit(d))
			return ferry_buf_puts(out, "-0.0");
		ferry__dbl_shortest(d, t, sizeof(t));
		return ferry_buf_printf(out, "%s%s", t, strpbrk(t, ".eE") ? "" : ".0");
	}
	case CELL_UUID:
		ferry__uuid_format(t, p + 1);
		return ferry_buf_printf(out, "\"%s\"", t);
	case CELL_BYTES:
		return bytes_json(out, "", p + 5, get_len(p));
	case CELL_RAW: {
		uint32_t len = get_len(p);
		if (len == 0)
			return ferry_buf_puts(out, "null");
		if (!ferry__utf8_valid(p + 6, len - 1))
			return bytes_json(out, "(not UTF-8) ", p + 6, len - 1);
		uint32_t show = (uint32_t)ferry__utf8_cut(p + 6, len - 1, 200);
		ferry_buf s = FERRY_BUF_INIT;
		int rc = ferry_buf_printf(&s, "(%s) ", ferry_type_name((ferry_type)p[5]));
		if (rc == 0)
			rc = ferry_buf_add(&s, p + 6, show);
		if (rc == 0 && show < len - 1)
			rc = ferry_buf_printf(&s, "... (%u bytes)", len - 1);
		if (rc == 0)
			rc = ferry_buf_json_str(out, s.data, s.len);
		ferry_buf_free(&s);
		return rc;
	}
	default: {
		uint32_t len = get_len(p), show = (uint32_t)ferry__utf8_cut(p + 5, len, 200);
		if (!ferry__utf8_valid(p + 5, len))
			return bytes_json(out, "(not UTF-8) ", p + 5, len);
		if (show == len)
			return ferry_buf_json_str(out, (const char *)p + 5, len);
		ferry_buf s = FERRY_BUF_INIT;
		int rc = ferry_buf_add(&s, p + 5, show);
		if (rc == 0)
			rc = ferry_buf_printf(&s, "... (%u bytes)", len);
		if (rc == 0)
			rc = ferry_buf_json_str(out, s.data, s.len);
		ferry_buf_free(&s);
		return rc;
	}
	}
}

int ferry_verify__split_cells(const uint8_t *row, size_t len, size_t ncols, const uint8_t **cell,
                              size_t *clen)
{
	size_t off = 0;
	for (size_t c = 0; c < ncols; c++) {
		size_t n = ferry__cell_size(row + off, len - off);
		if (n == 0)
			return -1;
		cell[c] = row + off;
		clen[c] = n;
		off += n;
	}
	return off == len ? 0 : -1;
}
