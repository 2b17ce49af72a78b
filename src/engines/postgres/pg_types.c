/* pg_types.c — PostgreSQL values: binary COPY fields decoded straight into ferry values,
 * and ferry values converted for a target column (binary field or text) with every value
 * that would change on the way (rounded, truncated, re-zoned) refused with a reason. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "pg_int.h"

#define EPOCH_JD 2451545          /* 2000-01-01, PostgreSQL's epoch */
#define USECS_DAY INT64_C(86400000000)
#define TS_END_JD 109203528       /* 294277-01-01: first julian day past timestamps */
#define DATE_END_JD 2147483494    /* first julian day past dates */

/* ---- big-endian fields ------------------------------------------------------------- */

static uint16_t be16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }

static uint32_t be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static uint64_t be64(const uint8_t *p)
{
	return ((uint64_t)be32(p) << 32) | be32(p + 4);
}

static int put16(ferry_buf *b, uint16_t v)
{
	uint8_t t[2] = {(uint8_t)(v >> 8), (uint8_t)v};
	return ferry_buf_add(b, t, 2);
}

static int put32(ferry_buf *b, uint32_t v)
{
	uint8_t t[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
	return ferry_buf_add(b, t, 4);
}

static int put64(ferry_buf *b, uint64_t v)
{
	int rc = put32(b, (uint32_t)(v >> 32));
	return rc ? rc : put32(b, (uint32_t)v);
}

/* ---- calendar (PostgreSQL's date2j/j2date, proleptic Gregorian) --------------------- */

static int64_t date2j(int64_t y, int64_t m, int64_t d)
{
	if (m > 2) {
		m += 1;
		y += 4800;
	} else {
		m += 13;
		y += 4799;
	}
	int64_t century = y / 100;
	int64_t j = y * 365 - 32167;
	j += y / 4 - century + century / 4;
	j += 7834 * m / 256 + d;
	return j;
}

static void j2date(int64_t jd, int *year, int *month, int *day)
{
	uint64_t julian = (uint64_t)jd + 32044;
	uint64_t quad = julian / 146097;
	uint64_t extra = (julian - quad * 146097) * 4 + 3;
	julian += 60 + quad * 3 + extra / 146097;
	quad = julian / 1461;
	julian -= quad * 1461;
	int64_t y = (int64_t)(julian * 4 / 1461);
	julian = ((y != 0) ? ((julian + 305) % 365) : ((julian + 306) % 366)) + 123;
	y += (int64_t)quad * 4;
	*year = (int)(y - 4800);
	quad = julian * 2141 / 65536;
	*day = (int)(julian - 7834 * quad / 256);
	*month = (int)((quad + 10) % 12 + 1);
}

static int is_leap(int64_t y)
{
	return (y % 4 == 0) && ((y % 100 != 0) || (y % 400 == 0));
}

/* "2024-05-06" or "0044-03-15 BC" for julian day jd; returns the length. */
static int fmt_jd(char *o, size_t cap, int64_t jd, int *bc)
{
	int y, m, d;
	j2date(jd, &y, &m, &d);
	*bc = y <= 0;
	return snprintf(o, cap, "%04d-%02d-%02d", *bc ? 1 - y : y, m, d);
}

/* "HH:MM:SS[.ffffff]" with trailing zeros of the fraction dropped, as PostgreSQL does. */
static int fmt_time(char *o, size_t cap, int64_t us)
{
	int64_t s = us / 1000000, f = us % 1000000;
	int n = snprintf(o, cap, "%02d:%02d:%02d", (int)(s / 3600), (int)(s / 60 % 60), (int)(s % 60));
	if (f && n > 0 && (size_t)n + 8 < cap) {
		char fr[8];
		snprintf(fr, sizeof(fr), "%06d", (int)f);
		int k = 6;
		while (k > 0 && fr[k - 1] == '0')
			k--;
		fr[k] = '\0';
		n += snprintf(o + n, cap - (size_t)n, ".%s", fr);
	}
	return n;
}

static int fmt_date(char *o, size_t cap, int32_t days)
{
	if (days == INT32_MIN)
		return snprintf(o, cap, "-infinity");
	if (days == INT32_MAX)
		return snprintf(o, cap, "infinity");
	int bc;
	int n = fmt_jd(o, cap, (int64_t)days + EPOCH_JD, &bc);
	return bc ? n + snprintf(o + n, cap - (size_t)n, " BC") : n;
}

static int fmt_ts(char *o, size_t cap, int64_t us, int tz)
{
	if (us == INT64_MIN)
		return snprintf(o, cap, "-infinity");
	if (us == INT64_MAX)
		return snprintf(o, cap, "infinity");
	int64_t days = us / USECS_DAY, rem = us % USECS_DAY;
	if (rem < 0) {
		rem += USECS_DAY;
		days--;
	}
	int bc;
	int n = fmt_jd(o, cap, days + EPOCH_JD, &bc);
	o[n++] = ' ';
	n += fmt_time(o + n, cap - (size_t)n, rem);
	if (tz)
		n += snprintf(o + n, cap - (size_t)n, "+00");
	if (bc)
		n += snprintf(o + n, cap - (size_t)n, " BC");
	return n;
}

static int fmt_uuid(char *o, const uint8_t *u)
{
	static const char hex[] = "0123456789abcdef";
	int n = 0;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			o[n++] = '-';
		o[n++] = hex[u[i] >> 4];
		o[n++] = hex[u[i] & 15];
	}
	o[n] = '\0';
	return n;
}

/* ---- decoding binary COPY fields --------------------------------------------------- */

int ferry_pg__decodes(Oid oid)
{
	switch (oid) {
	case PG_BOOL: case PG_BYTEA: case PG_NAME: case PG_INT8: case PG_INT2: case PG_INT4:
	case PG_TEXT: case PG_OID: case PG_JSON: case PG_FLOAT4: case PG_FLOAT8: case PG_BPCHAR:
	case PG_VARCHAR: case PG_DATE: case PG_TIME: case PG_TIMESTAMP: case PG_TIMESTAMPTZ:
	case PG_NUMERIC: case PG_UUID: case PG_JSONB:
		return 1;
	default:
		return 0;
	}
}

static int bad(char *reason, size_t cap, const char *what, size_t n)
{
	snprintf(reason, cap, "malformed %s field of %zu bytes", what, n);
	return -1;
}

static int text_value(ferry_value *out, ferry_type t, const uint8_t *p, size_t n,
                      ferry_batch *b)
{
	out->type = (uint8_t)t;
	out->len = (uint32_t)n;
	void *d = ferry_batch_copy(b, p, n);
	if (!d)
		return FERRY_ENOMEM;
	out->v.s = d;
	return 0;
}

/* Binary numeric: ndigits, weight, sign, dscale, then base-10000 digits. */
static int decode_numeric(const uint8_t *p, size_t n, ferry_value *out, ferry_batch *b,
                          char *reason, size_t cap)
{
	if (n < 8)
		return bad(reason, cap, "numeric", n);
	int nd = (int16_t)be16(p), weight = (int16_t)be16(p + 2);
	uint16_t sign = be16(p + 4), dscale = be16(p + 6);
	if (nd < 0 || n != 8 + 2 * (size_t)nd)
		return bad(reason, cap, "numeric", n);
	const char *special = sign == 0xC000 ? "NaN" : sign == 0xD000 ? "Infinity"
	                    : sign == 0xF000 ? "-Infinity" : NULL;
	if (special)
		return text_value(out, FERRY_NUMERIC, (const uint8_t *)special, strlen(special), b);
	if (sign != 0 && sign != 0x4000)
		return bad(reason, cap, "numeric", n);
	size_t need = 2 + (weight >= 0 ? ((size_t)weight + 1) * 4 : 1) + 1 + (size_t)dscale + 4;
	char *o = ferry_arena_alloc(ferry__batch_arena(b), need);
	if (!o)
		return FERRY_ENOMEM;
	size_t k = 0;
	if (sign == 0x4000 && nd > 0)
		o[k++] = '-';
	if (weight < 0) {
		o[k++] = '0';
	} else {
		for (int d = 0; d <= weight; d++) {
			int g = d < nd ? be16(p + 8 + 2 * d) : 0;
			if (g > 9999)
				return bad(reason, cap, "numeric", n);
			if (d == 0)
				k += (size_t)snprintf(o + k, need - k, "%d", g);
			else
				k += (size_t)snprintf(o + k, need - k, "%04d", g);
		}
	}
	if (dscale > 0) {
		o[k++] = '.';
		size_t left = dscale;
		for (int gi = weight + 1; left > 0; gi++) {
			int g = gi >= 0 && gi < nd ? be16(p + 8 + 2 * gi) : 0;
			char four[5];
			snprintf(four, sizeof(four), "%04d", g % 10000);
			for (int j = 0; j < 4 && left > 0; j++, left--)
				o[k++] = four[j];
		}
	}
	o[k] = '\0';
	out->type = FERRY_NUMERIC;
	out->v.s = o;
	out->len = (uint32_t)k;
	return 0;
}

int ferry_pg__decode(Oid oid, const uint8_t *p, size_t n, ferry_value *out, ferry_batch *b,
                     char *reason, size_t cap)
{
	char tmp[64];
	int k;
	memset(out, 0, sizeof(*out));
	switch (oid) {
	case PG_BOOL:
		if (n != 1)
			return bad(reason, cap, "boolean", n);
		out->type = FERRY_BOOL;
		out->v.i = p[0] != 0;
		return 0;
	case PG_INT2:
		if (n != 2)
			return bad(reason, cap, "smallint", n);
		out->type = FERRY_INT;
		out->v.i = (int16_t)be16(p);
		return 0;
	case PG_INT4:
		if (n != 4)
			return bad(reason, cap, "integer", n);
		out->type = FERRY_INT;
		out->v.i = (int32_t)be32(p);
		return 0;
	case PG_OID:
		if (n != 4)
			return bad(reason, cap, "oid", n);
		out->type = FERRY_INT;
		out->v.i = be32(p);
		return 0;
	case PG_INT8:
		if (n != 8)
			return bad(reason, cap, "bigint", n);
		out->type = FERRY_INT;
		out->v.i = (int64_t)be64(p);
		return 0;
	case PG_FLOAT4: {
		if (n != 4)
			return bad(reason, cap, "real", n);
		uint32_t u = be32(p);
		float f;
		memcpy(&f, &u, 4);
		out->type = FERRY_FLOAT;
		out->v.f = f;
		return 0;
	}
	case PG_FLOAT8: {
		if (n != 8)
			return bad(reason, cap, "double precision", n);
		uint64_t u = be64(p);
		out->type = FERRY_FLOAT;
		memcpy(&out->v.f, &u, 8);
		return 0;
	}
	case PG_TEXT: case PG_VARCHAR: case PG_BPCHAR: case PG_NAME:
		return text_value(out, FERRY_TEXT, p, n, b);
	case PG_JSON:
		return text_value(out, FERRY_JSON, p, n, b);
	case PG_JSONB:
		if (n < 1 || p[0] != 1)
			return bad(reason, cap, "jsonb", n);
		return text_value(out, FERRY_JSON, p + 1, n - 1, b);
	case PG_BYTEA: {
		int rc = text_value(out, FERRY_BLOB, p, n, b);
		out->type = FERRY_BLOB;
		return rc;
	}
	case PG_NUMERIC:
		return decode_numeric(p, n, out, b, reason, cap);
	case PG_DATE:
		if (n != 4)
			return bad(reason, cap, "date", n);
		k = fmt_date(tmp, sizeof(tmp), (int32_t)be32(p));
		return text_value(out, FERRY_DATE, (const uint8_t *)tmp, (size_t)k, b);
	case PG_TIME: {
		if (n != 8)
			return bad(reason, cap, "time", n);
		int64_t us = (int64_t)be64(p);
		if (us < 0 || us > USECS_DAY)
			return bad(reason, cap, "time", n);
		k = fmt_time(tmp, sizeof(tmp), us);
		return text_value(out, FERRY_TIME, (const uint8_t *)tmp, (size_t)k, b);
	}
	case PG_TIMESTAMP: case PG_TIMESTAMPTZ:
		if (n != 8)
			return bad(reason, cap, "timestamp", n);
		k = fmt_ts(tmp, sizeof(tmp), (int64_t)be64(p), oid == PG_TIMESTAMPTZ);
		return text_value(out, oid == PG_TIMESTAMPTZ ? FERRY_TIMESTAMPTZ : FERRY_TIMESTAMP,
		                  (const uint8_t *)tmp, (size_t)k, b);
	case PG_UUID:
		if (n != 16)
			return bad(reason, cap, "uuid", n);
		k = fmt_uuid(tmp, p);
		return text_value(out, FERRY_UUID, (const uint8_t *)tmp, (size_t)k, b);
	default:
		snprintf(reason, cap, "type %u has no binary decoder", (unsigned)oid);
		return -1;
	}
}

ferry_type ferry_pg__canonical(Oid oid, char typtype)
{
	if (typtype == 'e')
		return FERRY_TEXT;
	switch (oid) {
	case PG_INT2: case PG_INT4: case PG_INT8: case PG_OID: return FERRY_INT;
	case PG_FLOAT4: case PG_FLOAT8: return FERRY_FLOAT;
	case PG_NUMERIC: return FERRY_NUMERIC;
	case PG_BYTEA: return FERRY_BLOB;
	case PG_BOOL: return FERRY_BOOL;
	case PG_DATE: return FERRY_DATE;
	case PG_TIME: return FERRY_TIME;
	case PG_TIMESTAMP: return FERRY_TIMESTAMP;
	case PG_TIMESTAMPTZ: return FERRY_TIMESTAMPTZ;
	case PG_UUID: return FERRY_UUID;
	case PG_JSON: case PG_JSONB: return FERRY_JSON;
	default: return FERRY_TEXT;
	}
}

pg_kind ferry_pg__kind(Oid oid, char typtype)
{
	if (typtype == 'e')
		return K_ENUM;
	switch (oid) {
	case PG_BOOL: return K_BOOL;
	case PG_INT2: return K_INT2;
	case PG_INT4: return K_INT4;
	case PG_INT8: return K_INT8;
	case PG_FLOAT4: return K_FLOAT4;
	case PG_FLOAT8: return K_FLOAT8;
	case PG_NUMERIC: return K_NUMERIC;
	case PG_TEXT: case PG_VARCHAR: case PG_BPCHAR: case PG_NAME: return K_TEXT;
	case PG_BYTEA: return K_BYTEA;
	case PG_DATE: return K_DATE;
	case PG_TIME: return K_TIME;
	case PG_TIMESTAMP: return K_TIMESTAMP;
	case PG_TIMESTAMPTZ: return K_TIMESTAMPTZ;
	case PG_UUID: return K_UUID;
	case PG_JSON: return K_JSON;
	case PG_JSONB: return K_JSONB;
	default: return K_OTHER;
	}
}

/* ---- parsing text ------------------------------------------------------------------ */

static int textlike(const ferry_value *v)
{
	return v->type == FERRY_NUMERIC || v->type == FERRY_TEXT ||
	       (v->type >= FERRY_DATE && v->type <= FERRY_JSON);
}

static int ieq(const char *s, size_t n, const char *word)
{
	return strlen(word) == n && strncasecmp(s, word, n) == 0;
}

/* Is s a well-formed UTF-8 string without NUL bytes? */
static int utf8_ok(const uint8_t *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		uint8_t c = s[i];
		if (c < 0x80) {
			if (c == 0)
				return 0;
			i++;
			continue;
		}
		size_t k;
		uint32_t cp;
		if (c >= 0xC2 && c <= 0xDF) {
			k = 1;
			cp = c & 0x1F;
		} else if (c >= 0xE0 && c <= 0xEF) {
			k = 2;
			cp = c & 0x0F;
		} else if (c >= 0xF0 && c <= 0xF4) {
			k = 3;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (i + k >= n)
			return 0;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xC0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + j] & 0x3F);
		}
		if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) || cp > 0x10FFFF ||
		    (cp >= 0xD800 && cp <= 0xDFFF))
			return 0;
		i += k + 1;
	}
	return 1;
}

static size_t utf8_chars(const uint8_t *s, size_t n)
{
	size_t c = 0;
	for (size_t i = 0; i < n; i++)
		c += (s[i] & 0xC0) != 0x80;
	return c;
}

/* A decimal number as written: [+-] digits [. digits] [e [+-] digits], or a special. */
typedef struct dec {
	int neg;
	int special;            /* 0, 'N' NaN, 'I' +Infinity, 'J' -Infinity */
	const char *ip, *fp;    /* integer and fraction digits (as written) */
	size_t il, fl;
	long exp;               /* the exponent */
} dec;

static int parse_dec(const char *s, size_t n, dec *d)
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
			if (e < 100000000)
				e = e * 10 + (s[i] - '0');
			i++;
		}
		d->exp = eneg ? -e : e;
	}
	return i == n ? 0 : -1;
}

/* Digit k of the digits as written (integer part then fraction). */
static int dec_digit(const dec *d, long k)
{
	if (k < 0 || (size_t)k >= d->il + d->fl)
		return 0;
	return (size_t)k < d->il ? d->ip[k] - '0' : d->fp[(size_t)k - d->il] - '0';
}

/* The digit of weight 10^e. */
static int dec_at(const dec *d, long e)
{
	return dec_digit(d, (long)d->il + d->exp - 1 - e);
}

/* Highest and lowest exponents holding a non-zero digit; 0 when the value is zero. */
static int dec_range(const dec *d, long *hi, long *lo)
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

/* Fraction digits as written after the exponent (the numeric's display scale). */
static long dec_dscale(const dec *d)
{
	long s = (long)d->fl - d->exp;
	return s > 0 ? s : 0;
}

/* Normalized significant digits (at most cap-1) and the exponent of the first; returns
 * the count, 0 for zero, -1 when there are more than cap-1. */
static int dec_norm(const dec *d, char *dig, size_t cap, long *e10)
{
	long hi, lo;
	if (!dec_range(d, &hi, &lo))
		return 0;
	if (hi - lo + 1 >= (long)cap)
		return -1;
	int n = 0;
	for (long e = hi; e >= lo; e--)
		dig[n++] = (char)('0' + dec_at(d, e));
	dig[n] = '\0';
	*e10 = hi;
	return n;
}

/* Is the decimal d exactly what shortest-form text t says (same number)? */
static int dec_same(const dec *d, const char *t)
{
	dec o;
	if (parse_dec(t, strlen(t), &o) != 0)
		return 0;
	char a[40], b[40];
	long ea = 0, eb = 0;
	int na = dec_norm(d, a, sizeof(a), &ea), nb = dec_norm(&o, b, sizeof(b), &eb);
	if (na < 0 || nb < 0 || na != nb)
		return 0;
	if (na == 0)
		return 1; /* zero: the sign of -0 is the double's */
	return d->neg == o.neg && ea == eb && memcmp(a, b, (size_t)na) == 0;
}

#define dbl_shortest ferry__dbl_shortest

static void flt_shortest(float x, char *out, size_t cap)
{
	for (int prec = 6; prec <= 9; prec++) {
		snprintf(out, cap, "%.*g", prec, (double)x);
		if (strtof(out, NULL) == x)
			return;
	}
}

/* Strict integer text: [+-]digits, optionally followed by a point and zeros only. */
static int parse_int_text(const char *s, size_t n, int64_t *out)
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
	if (i < n && s[i] == '.') {
		i++;
		while (i < n && s[i] == '0')
			i++;
	}
	if (i != n)
		return -1;
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

/* ---- dates and times --------------------------------------------------------------- */

typedef struct cur {
	const char *p, *e;
} cur;

static int num(cur *c, int min, int max, int64_t *out)
{
	int k = 0;
	int64_t v = 0;
	while (c->p < c->e && isdigit((unsigned char)*c->p) && k < max) {
		v = v * 10 + (*c->p++ - '0');
		k++;
	}
	if (k < min || (c->p < c->e && isdigit((unsigned char)*c->p)))
		return -1;
	*out = v;
	return 0;
}

static int lit(cur *c, char ch)
{
	if (c->p < c->e && *c->p == ch) {
		c->p++;
		return 1;
	}
	return 0;
}

enum { T_OK = 0, T_BAD, T_ZONE, T_RANGE, T_PRECISION, T_HASTIME };

/* Time of day "HH:MM[:SS[.ffffff]]" into microseconds. */
static int parse_tod(cur *c, int64_t *us)
{
	int64_t h, mi, s = 0, f = 0;
	if (num(c, 1, 2, &h) || !lit(c, ':') || num(c, 2, 2, &mi))
		return T_BAD;
	if (lit(c, ':')) {
		if (num(c, 2, 2, &s))
			return T_BAD;
		if (lit(c, '.')) {
			int k = 0;
			const char *start = c->p;
			while (c->p < c->e && isdigit((unsigned char)*c->p)) {
				if (k < 6) {
					f = f * 10 + (*c->p - '0');
					k++;
				} else if (*c->p != '0') {
					return T_PRECISION;
				}
				c->p++;
			}
			if (c->p == start)
				return T_BAD;
			while (k++ < 6)
				f *= 10;
		}
	}
	if (mi > 59 || s > 59 || h > 24 || (h == 24 && (mi || s || f)))
		return T_BAD;
	*us = ((h * 60 + mi) * 60 + s) * 1000000 + f;
	return T_OK;
}

/* "YYYY-MM-DD" (year of four or more digits) into a julian day; bc read by the caller. */
static int parse_ymd(cur *c, int64_t *y, int64_t *m, int64_t *d)
{
	if (num(c, 4, 7, y) || !lit(c, '-') || num(c, 1, 2, m) || !lit(c, '-') || num(c, 1, 2, d))
		return T_BAD;
	return T_OK;
}

static int check_ymd(int64_t y, int64_t m, int64_t d)
{
	static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (y == 0 || m < 1 || m > 12 || d < 1)
		return T_BAD;
	return d <= mdays[m - 1] + (m == 2 && is_leap(y)) ? T_OK : T_BAD;
}

static int parse_bc(cur *c)
{
	if (c->e - c->p >= 3 && c->p[0] == ' ' && (c->p[1] == 'B' || c->p[1] == 'b') &&
	    (c->p[2] == 'C' || c->p[2] == 'c')) {
		c->p += 3;
		return 1;
	}
	return 0;
}

/* A zone suffix: Z, +HH, +HHMM, +HH:MM, +HH:MM:SS (optionally after a space), or " UTC";
 * *secs is its offset east of UTC. Returns 1 when one was read. */
static int parse_zone(cur *c, int64_t *secs, int *bad_zone)
{
	cur save = *c;
	*bad_zone = 0;
	lit(c, ' ');
	if (c->p < c->e && (*c->p == 'Z' || *c->p == 'z')) {
		c->p++;
		*secs = 0;
		return 1;
	}
	if (c->e - c->p >= 3 && strncasecmp(c->p, "UTC", 3) == 0) {
		c->p += 3;
		*secs = 0;
		return 1;
	}
	if (c->p < c->e && (*c->p == '+' || *c->p == '-')) {
		int neg = *c->p++ == '-';
		int64_t h, m = 0, s = 0;
		if (num(c, 2, 2, &h)) {
			*bad_zone = 1;
			return 1;
		}
		int colon = lit(c, ':');
		if (c->p < c->e && isdigit((unsigned char)*c->p)) {
			if (num(c, 2, 2, &m)) {
				*bad_zone = 1;
				return 1;
			}
			if ((colon ? lit(c, ':') : 0) && num(c, 2, 2, &s)) {
				*bad_zone = 1;
				return 1;
			}
		} else if (colon) {
			*bad_zone = 1;
			return 1;
		}
		if (h > 15 || m > 59 || s > 59)
			*bad_zone = 1;
		*secs = (neg ? -1 : 1) * (h * 3600 + m * 60 + s);
		return 1;
	}
	*c = save;
	return 0;
}

/* Parse a date (want K_DATE: *out days), a time (K_TIME: µs) or a timestamp (K_TIMESTAMP,
 * K_TIMESTAMPTZ: µs since 2000-01-01 UTC). */
static int parse_when(const char *s, size_t n, pg_kind want, int64_t *out)
{
	cur c = {s, s + n};
	int64_t y, m, d, tod = 0, zone = 0;
	if (ieq(s, n, "infinity") || ieq(s, n, "+infinity") || ieq(s, n, "-infinity")) {
		if (want == K_TIME)
			return T_BAD;
		int neg = s[0] == '-';
		if (want == K_DATE)
			*out = neg ? INT32_MIN : INT32_MAX;
		else
			*out = neg ? INT64_MIN : INT64_MAX;
		return T_OK;
	}
	if (want == K_TIME) {
		int rc = parse_tod(&c, &tod);
		if (rc)
			return rc;
		if (c.p != c.e) {
			int bz;
			return parse_zone(&c, &zone, &bz) ? T_ZONE : T_BAD;
		}
		*out = tod;
		return T_OK;
	}
	int rc = parse_ymd(&c, &y, &m, &d);
	if (rc)
		return rc;
	int has_time = 0, has_zone = 0, bad_zone = 0;
	if (c.p < c.e && (*c.p == ' ' || *c.p == 'T' || *c.p == 't') && c.p + 1 < c.e &&
	    isdigit((unsigned char)c.p[1])) {
		c.p++;
		if ((rc = parse_tod(&c, &tod)) != 0)
			return rc;
		has_time = 1;
		has_zone = parse_zone(&c, &zone, &bad_zone);
	}
	int bc = parse_bc(&c);
	if (c.p != c.e || bad_zone)
		return T_BAD;
	if (want == K_DATE && has_time)
		return T_HASTIME;
	if (want == K_TIMESTAMP && has_zone)
		return T_ZONE;
	int64_t yy = bc ? 1 - y : y;
	if (y == 0 || check_ymd(yy, m, d) != T_OK)
		return T_BAD;
	int64_t jd = date2j(yy, m, d);
	if (want == K_DATE) {
		if (jd < 0 || jd >= DATE_END_JD)
			return T_RANGE;
		*out = jd - EPOCH_JD;
		return T_OK;
	}
	if (jd < 0 || jd >= TS_END_JD)
		return T_RANGE;
	int64_t us = (jd - EPOCH_JD) * USECS_DAY + tod - zone * 1000000;
	if (us < (0 - EPOCH_JD) * USECS_DAY || us >= (TS_END_JD - EPOCH_JD) * USECS_DAY)
		return T_RANGE;
	*out = us;
	return T_OK;
}

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* 8-4-4-4-12 hex, 32 hex digits, or either in braces. */
static int parse_uuid(const char *s, size_t n, uint8_t *u)
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
		int a = hexval((unsigned char)s[i]), b = i + 1 < n ? hexval((unsigned char)s[i + 1]) : -1;
		if (a < 0 || b < 0)
			return -1;
		u[k++] = (uint8_t)(a * 16 + b);
		i++;
	}
	return k == 16 ? 0 : -1;
}

/* ---- encoding ---------------------------------------------------------------------- */

enum { MODE_BIN = 0, MODE_RAW = 1, MODE_COPY = 2 };

static const char *kind_name(const pg_col *col)
{
	static const char *const names[] = {
		"boolean", "smallint", "integer", "bigint", "real", "double precision", "numeric",
		"text", "bytea", "date", "time", "timestamp", "timestamptz", "uuid", "json", "jsonb",
		"enum", "text-typed"};
	return names[col->kind];
}

/* Fill reason with "<value> <why> column "c"" and return 1. */
static int refuse(char *reason, size_t cap, const ferry_value *v, const pg_col *col,
                  const char *why)
{
	ferry_buf b = FERRY_BUF_INIT;
	ferry_buf_puts(&b, ferry_type_name((ferry_type)v->type));
	ferry_buf_puts(&b, " ");
	ferry__value_text(&b, v);
	snprintf(reason, cap, "%s %s %s column \"%s\"", b.data ? b.data : "value", why,
	         kind_name(col), col->name);
	ferry_buf_free(&b);
	return 1;
}

/* Append text for the text modes: as is (params), or escaped for COPY's text format. */
static int put_text(ferry_buf *out, const char *s, size_t n, int mode)
{
	if (mode != MODE_COPY)
		return ferry_buf_add(out, s, n);
	const char *start = s, *end = s + n;
	int rc = 0;
	for (const char *p = s; p < end && rc == 0; p++) {
		const char *esc = *p == '\\' ? "\\\\" : *p == '\n' ? "\\n" : *p == '\r' ? "\\r"
		                : *p == '\t' ? "\\t" : NULL;
		if (!esc)
			continue;
		if (p > start)
			rc = ferry_buf_add(out, start, (size_t)(p - start));
		if (rc == 0)
			rc = ferry_buf_puts(out, esc);
		start = p + 1;
	}
	if (rc == 0 && end > start)
		rc = ferry_buf_add(out, start, (size_t)(end - start));
	return rc;
}

static int put_str(ferry_buf *out, const char *s, int mode)
{
	return put_text(out, s, strlen(s), mode);
}

static int enc_int(const pg_col *col, const ferry_value *v, int mode, ferry_buf *out,
                   char *reason, size_t cap)
{
	int64_t i;
	if (v->type == FERRY_INT || v->type == FERRY_BOOL) {
		i = v->v.i;
	} else if (v->type == FERRY_FLOAT) {
		double d = v->v.f;
		if (!isfinite(d) || d != trunc(d))
			return refuse(reason, cap, v, col, "has a fraction or is not finite; it does not fit");
		if (d < -9223372036854775808.0 || d >= 9223372036854775808.0)
			return refuse(reason, cap, v, col, "is out of range for");
		i = (int64_t)d;
	} else if (textlike(v)) {
		int rc = parse_int_text(v->v.s, v->len, &i);
		if (rc == -2)
			return refuse(reason, cap, v, col, "is out of range for");
		if (rc)
			return refuse(reason, cap, v, col, "is not a whole number for");
	} else {
		return refuse(reason, cap, v, col, "cannot be stored in");
	}
	if ((col->kind == K_INT2 && (i < INT16_MIN || i > INT16_MAX)) ||
	    (col->kind == K_INT4 && (i < INT32_MIN || i > INT32_MAX)))
		return refuse(reason, cap, v, col, "is out of range for");
	if (mode == MODE_BIN) {
		if (col->kind == K_INT2)
			return put16(out, (uint16_t)(int16_t)i);
		if (col->kind == K_INT4)
			return put32(out, (uint32_t)(int32_t)i);
		return put64(out, (uint64_t)i);
	}
	char t[24];
	snprintf(t, sizeof(t), "%lld", (long long)i);
	return put_str(out, t, mode);
}

static int enc_float(const pg_col *col, const ferry_value *v, int mode, ferry_buf *out,
                     char *reason, size_t cap)
{
	int f4 = col->kind == K_FLOAT4;
	double d;
	if (v->type == FERRY_FLOAT) {
		d = v->v.f;
		if (f4 && !isnan(d) && (double)(float)d != d)
			return refuse(reason, cap, v, col, "would be rounded in");
	} else if (v->type == FERRY_INT || v->type == FERRY_BOOL) {
		int64_t i = v->v.i;
		d = (double)i;
		int exact = d < 9223372036854775808.0 && d >= -9223372036854775808.0 && (int64_t)d == i;
		if (!exact || (f4 && (double)(float)d != d))
			return refuse(reason, cap, v, col, "would be rounded in");
	} else if (textlike(v)) {
		dec dd;
		if (parse_dec(v->v.s, v->len, &dd) != 0)
			return refuse(reason, cap, v, col, "is not a number for");
		if (dd.special) {
			d = dd.special == 'N' ? NAN : dd.special == 'I' ? INFINITY : -INFINITY;
		} else {
			char tmp[400];
			size_t n = v->len < sizeof(tmp) - 1 ? v->len : sizeof(tmp) - 1;
			memcpy(tmp, v->v.s, n);
			tmp[n] = '\0';
			errno = 0;
			d = strtod(tmp, NULL);
			char sh[40];
			if (f4) {
				float f = strtof(tmp, NULL);
				flt_shortest(f, sh, sizeof(sh));
				d = f;
			} else {
				dbl_shortest(d, sh, sizeof(sh));
			}
			if (!isfinite(d) || v->len >= sizeof(tmp) - 1 || !dec_same(&dd, sh))
				return refuse(reason, cap, v, col, "would be rounded in");
		}
	} else {
		return refuse(reason, cap, v, col, "cannot be stored in");
	}
	if (mode == MODE_BIN) {
		if (f4) {
			float f = (float)d;
			uint32_t u;
			memcpy(&u, &f, 4);
			return put32(out, u);
		}
		uint64_t u;
		memcpy(&u, &d, 8);
		return put64(out, u);
	}
	char t[40];
	if (isnan(d))
		snprintf(t, sizeof(t), "NaN");
	else if (isinf(d))
		snprintf(t, sizeof(t), d > 0 ? "Infinity" : "-Infinity");
	else
		snprintf(t, sizeof(t), "%.17g", d);
	return put_str(out, t, mode);
}

static int enc_numeric(const pg_col *col, const ferry_value *v, int mode, ferry_buf *out,
                       char *reason, size_t cap)
{
	char tmp[48];
	const char *s;
	size_t n;
	if (v->type == FERRY_INT || v->type == FERRY_BOOL) {
		snprintf(tmp, sizeof(tmp), "%lld", (long long)v->v.i);
		s = tmp;
		n = strlen(tmp);
	} else if (v->type == FERRY_FLOAT) {
		if (isnan(v->v.f))
			snprintf(tmp, sizeof(tmp), "NaN");
		else if (isinf(v->v.f))
			snprintf(tmp, sizeof(tmp), v->v.f > 0 ? "Infinity" : "-Infinity");
		else
			dbl_shortest(v->v.f, tmp, sizeof(tmp));
		s = tmp;
		n = strlen(tmp);
	} else if (textlike(v)) {
		s = v->v.s;
		n = v->len;
	} else {
		return refuse(reason, cap, v, col, "cannot be stored in");
	}
	dec d;
	if (parse_dec(s, n, &d) != 0)
		return refuse(reason, cap, v, col, "is not a number for");
	long hi = 0, lo = 0;
	int nonzero = d.special ? 0 : dec_range(&d, &hi, &lo);
	long dscale = d.special ? 0 : dec_dscale(&d);
	if (col->typmod >= 4) {
		int32_t tm = col->typmod - 4;
		int prec = (tm >> 16) & 0xffff;
		int scale = (((tm & 0x7ff) ^ 1024) - 1024);
		if (d.special == 'I' || d.special == 'J')
			return refuse(reason, cap, v, col, "is infinite and does not fit");
		if (nonzero && lo < -scale)
			return refuse(reason, cap, v, col, "has more decimal places than the scale of");
		if (nonzero && hi >= prec - scale)
			return refuse(reason, cap, v, col, "is too large for the precision of");
		if (dscale > scale)
			dscale = scale > 0 ? scale : 0;
	}
	if (nonzero && (hi >= 131072 || lo < -16383))
		return refuse(reason, cap, v, col, "is out of the range of");
	if (dscale > 16383)
		dscale = 16383;
	if (mode != MODE_BIN) {
		if (!d.special && d.exp == 0 && (d.il > 0 || d.fl > 0) && n < 1000000)
			return put_text(out, s, n, mode);
		if (d.special)
			return put_str(out, d.special == 'N' ? "NaN" : d.special == 'I' ? "Infinity" : "-Infinity", mode);
		/* Write the exponent out: numeric text input takes it, but keep it plain. */
		ferry_buf_puts(out, d.neg && nonzero ? "-" : "");
		long top = nonzero && hi > 0 ? hi : 0;
		for (long e = top; e >= 0; e--)
			ferry_buf_add(out, &"0123456789"[dec_at(&d, e)], 1);
		if (dscale > 0) {
			ferry_buf_add(out, ".", 1);
			for (long e = -1; e >= -dscale; e--)
				ferry_buf_add(out, &"0123456789"[dec_at(&d, e)], 1);
		}
		return out->failed ? FERRY_ENOMEM : 0;
	}
	if (d.special)
		return put16(out, 0) || put16(out, 0) ||
		       put16(out, d.special == 'N' ? 0xC000 : d.special == 'I' ? 0xD000 : 0xF000) ||
		       put16(out, 0) ? FERRY_ENOMEM : 0;
	if (!nonzero)
		return put16(out, 0) || put16(out, 0) || put16(out, 0) || put16(out, (uint16_t)dscale)
		       ? FERRY_ENOMEM : 0;
	/* Base-10000 digits aligned on the decimal point: group g holds 10^(4g) .. 10^(4g+3). */
	long wg = hi >= 0 ? hi / 4 : -((-hi + 3) / 4);
	long lg = lo >= 0 ? lo / 4 : -((-lo + 3) / 4);
	long nd = wg - lg + 1;
	int rc = put16(out, (uint16_t)nd) || put16(out, (uint16_t)(int16_t)wg) ||
	         put16(out, d.neg ? 0x4000 : 0) || put16(out, (uint16_t)dscale);
	for (long g = wg; g >= lg && rc == 0; g--) {
		int val = 0;
		for (int j = 3; j >= 0; j--)
			val = val * 10 + dec_at(&d, 4 * g + j);
		rc = put16(out, (uint16_t)val);
	}
	return rc ? FERRY_ENOMEM : 0;
}

/* Text of a non-text value for text-typed columns: numbers in their shortest exact form. */
static int scalar_text(const ferry_value *v, char *tmp, size_t cap, const char **s, size_t *n)
{
	if (v->type == FERRY_INT)
		snprintf(tmp, cap, "%lld", (long long)v->v.i);
	else if (v->type == FERRY_BOOL)
		snprintf(tmp, cap, "%s", v->v.i ? "true" : "false");
	else if (v->type == FERRY_FLOAT && isnan(v->v.f))
		snprintf(tmp, cap, "NaN");
	else if (v->type == FERRY_FLOAT && isinf(v->v.f))
		snprintf(tmp, cap, "%s", v->v.f > 0 ? "Infinity" : "-Infinity");
	else if (v->type == FERRY_FLOAT)
		dbl_shortest(v->v.f, tmp, cap);
	else if (textlike(v)) {
		*s = v->v.s ? v->v.s : "";
		*n = v->len;
		return 0;
	} else {
		return -1;
	}
	*s = tmp;
	*n = strlen(tmp);
	return 0;
}

static int enc_text(const pg_col *col, const ferry_value *v, int mode, ferry_buf *out,
                    char *reason, size_t cap)
{
	char tmp[48];
	const char *s;
	size_t n;
	if (col->kind == K_ENUM && !textlike(v))
		return refuse(reason, cap, v, col, "cannot be stored in");
	if (scalar_text(v, tmp, sizeof(tmp), &s, &n) != 0)
		return refuse(reason, cap, v, col, "cannot be stored in (convert it with an expr rule)");
	if (!utf8_ok((const uint8_t *)s, n))
		return refuse(reason, cap, v, col, "is not valid UTF-8 (or holds a NUL byte) for");
	if (col->kind == K_TEXT && col->typmod >= 4 && utf8_chars((const uint8_t *)s, n) > (size_t)(col->typmod - 4))
		return refuse(reason, cap, v, col, "is longer than the length of");
	if (mode == MODE_BIN && col->kind == K_JSONB && ferry_buf_add(out, "\1", 1) != 0)
		return FERRY_ENOMEM;
	return mode == MODE_BIN ? ferry_buf_add(out, s, n) : put_text(out, s, n, mode);
}

static int enc_bytea(const pg_col *col, const ferry_value *v, int mode, ferry_buf *out,
                     char *reason, size_t cap)
{
	if (v->type != FERRY_BLOB && !textlike(v))
		return refuse(reason, cap, v, col, "cannot be stored in");
	const uint8_t *p = v->type == FERRY_BLOB ? v->v.b : (const uint8_t *)v->v.s;
	if (mode == MODE_BIN)
		return ferry_buf_add(out, p, v->len);
	static const char hex[] = "0123456789abcdef";
	int rc = ferry_buf_puts(out, mode == MODE_COPY ? "\\\\x" : "\\x");
	char pair[2];
	for (uint32_t i = 0; i < v->len && rc == 0; i++) {
		pair[0] = hex[p[i] >> 4];
		pair[1] = hex[p[i] & 15];
		rc = ferry_buf_add(out, pair, 2);
	}
	return rc;
}

static int enc_bool(const pg_col *col, const ferry_value *v, int mode, ferry_buf *out,
                    char *reason, size_t cap)
{
	int b;
	if ((v->type == FERRY_BOOL || v->type == FERRY_INT) && (v->v.i == 0 || v->v.i == 1)) {
		b = (int)v->v.i;
	} else if (textlike(v)) {
		static const char *const yes[] = {"t", "true", "y", "yes", "on", "1"};
		static const char *const no[] = {"f", "false", "n", "no", "off", "0"};
		b = -1;
		for (size_t i = 0; i < FERRY_ARRAY_LEN(yes) && b < 0; i++) {
			if (ieq(v->v.s, v->len, yes[i]))
				b = 1;
			else if (ieq(v->v.s, v->len, no[i]))
				b = 0;
		}
		if (b < 0)
			return refuse(reason, cap, v, col, "is not a truth value for");
	} else {
		return refuse(reason, cap, v, col, "is not a truth value for");
	}
	if (mode == MODE_BIN)
		return ferry_buf_add(out, b ? "\1" : "\0", 1);
	return put_str(out, b ? "t" : "f", mode);
}

static int enc_when(const pg_col *col, const ferry_value *v, int mode, ferry_buf *out,
                    char *reason, size_t cap)
{
	if (!textlike(v))
		return refuse(reason, cap, v, col, "cannot be stored in (convert it with an expr rule)");
	int64_t x = 0;
	int rc = parse_when(v->v.s, v->len, col->kind, &x);
	switch (rc) {
	case T_OK: break;
	case T_ZONE:
		return refuse(reason, cap, v, col, "carries a time zone that would be dropped by");
	case T_HASTIME:
		return refuse(reason, cap, v, col, "has a time of day that would be dropped by");
	case T_RANGE:
		return refuse(reason, cap, v, col, "is out of the range of");
	case T_PRECISION:
		return refuse(reason, cap, v, col, "has more than microsecond precision; it would be rounded by");
	default:
		return refuse(reason, cap, v, col, "is not a valid ISO 8601 value for");
	}
	if (mode == MODE_BIN)
		return col->kind == K_DATE ? put32(out, (uint32_t)(int32_t)x) : put64(out, (uint64_t)x);
	char t[64];
	if (col->kind == K_DATE)
		fmt_date(t, sizeof(t), (int32_t)x);
	else if (col->kind == K_TIME)
		fmt_time(t, sizeof(t), x);
	else
		fmt_ts(t, sizeof(t), x, col->kind == K_TIMESTAMPTZ);
	return put_str(out, t, mode);
}

static int enc_uuid(const pg_col *col, const ferry_value *v, int mode, ferry_buf *out,
                    char *reason, size_t cap)
{
	uint8_t u[16];
	if (v->type == FERRY_BLOB && v->len == 16)
		memcpy(u, v->v.b, 16);
	else if (!textlike(v) || parse_uuid(v->v.s, v->len, u) != 0)
		return refuse(reason, cap, v, col, "is not a uuid for");
	if (mode == MODE_BIN)
		return ferry_buf_add(out, u, 16);
	char t[40];
	fmt_uuid(t, u);
	return put_str(out, t, mode);
}

int ferry_pg__encode(const pg_col *col, const ferry_value *v, int text, ferry_buf *out,
                     char *reason, size_t cap)
{
	int mode = text;
	size_t before = out->len;
	int rc;
	switch (col->kind) {
	case K_BOOL: rc = enc_bool(col, v, mode, out, reason, cap); break;
	case K_INT2: case K_INT4: case K_INT8: rc = enc_int(col, v, mode, out, reason, cap); break;
	case K_FLOAT4: case K_FLOAT8: rc = enc_float(col, v, mode, out, reason, cap); break;
	case K_NUMERIC: rc = enc_numeric(col, v, mode, out, reason, cap); break;
	case K_BYTEA: rc = enc_bytea(col, v, mode, out, reason, cap); break;
	case K_DATE: case K_TIME: case K_TIMESTAMP: case K_TIMESTAMPTZ:
		rc = enc_when(col, v, mode, out, reason, cap);
		break;
	case K_UUID: rc = enc_uuid(col, v, mode, out, reason, cap); break;
	default: rc = enc_text(col, v, mode, out, reason, cap); break;
	}
	if (out->failed)
		return FERRY_ENOMEM;
	if (rc == 1 && out->data) {
		out->len = before;
		out->data[before] = '\0';
	}
	return rc;
}

/* ---- text output of the server ------------------------------------------------------- */

/* The session that produced s runs with the settings connect gives every session
 * (DateStyle ISO, TimeZone UTC, bytea_output hex, extra_float_digits 3), so the text of a
 * date, time, timestamp, numeric, uuid or json value is already the canonical text the
 * binary decoder writes; only numbers, booleans and bytea need converting. */
int ferry_pg__from_text(Oid oid, char typtype, const char *s, size_t n, ferry_value *out,
                        ferry_arena *a, char *reason, size_t cap)
{
	memset(out, 0, sizeof(*out));
	ferry_type t = ferry_pg__canonical(oid, typtype);
	char tmp[128];
	switch (t) {
	case FERRY_INT:
		if (parse_int_text(s, n, &out->v.i) != 0) {
			snprintf(reason, cap, "malformed integer text of %zu bytes", n);
			return -1;
		}
		out->type = FERRY_INT;
		return 0;
	case FERRY_FLOAT: {
		if (n == 0 || n >= sizeof(tmp)) {
			snprintf(reason, cap, "malformed float text of %zu bytes", n);
			return -1;
		}
		memcpy(tmp, s, n);
		tmp[n] = '\0';
		char *end;
		errno = 0;
		out->v.f = strtod(tmp, &end);
		if (*end != '\0') {
			snprintf(reason, cap, "malformed float text \"%s\"", tmp);
			return -1;
		}
		out->type = FERRY_FLOAT;
		return 0;
	}
	case FERRY_BOOL:
		if (n != 1 || (s[0] != 't' && s[0] != 'f')) {
			snprintf(reason, cap, "malformed boolean text of %zu bytes", n);
			return -1;
		}
		out->type = FERRY_BOOL;
		out->v.i = s[0] == 't';
		return 0;
	case FERRY_BLOB: {
		if (n < 2 || s[0] != '\\' || s[1] != 'x' || (n - 2) % 2 != 0) {
			snprintf(reason, cap, "bytea text of %zu bytes is not in hex form", n);
			return -1;
		}
		uint8_t *d = ferry_arena_alloc(a, (n - 2) / 2 + 1);
		if (!d)
			return FERRY_ENOMEM;
		for (size_t i = 2, k = 0; i < n; i += 2, k++) {
			int hi = hexval((unsigned char)s[i]), lo = hexval((unsigned char)s[i + 1]);
			if (hi < 0 || lo < 0) {
				snprintf(reason, cap, "malformed bytea text of %zu bytes", n);
				return -1;
			}
			d[k] = (uint8_t)(hi * 16 + lo);
		}
		out->type = FERRY_BLOB;
		out->v.b = d;
		out->len = (uint32_t)((n - 2) / 2);
		return 0;
	}
	default: {
		char *d = ferry_arena_strndup(a, s, n);
		if (!d)
			return FERRY_ENOMEM;
		out->type = (uint8_t)t;
		out->v.s = d;
		out->len = (uint32_t)n;
		return 0;
	}
	}
}
