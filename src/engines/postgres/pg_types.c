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

/* ---- calendar (src/util/datetime.c): julian days, as PostgreSQL counts ------------- */

#define UNIX_EPOCH_JD 2440588     /* 1970-01-01 */

/* "2024-05-06" or "0044-03-15 BC" for julian day jd; returns the length. */
static int fmt_jd(char *o, size_t cap, int64_t jd, int *bc)
{
	int64_t y, m, d;
	ferry__civil_from_days(jd - UNIX_EPOCH_JD, &y, &m, &d);
	*bc = y <= 0;
	return snprintf(o, cap, "%04lld-%02lld-%02lld", (long long)(*bc ? 1 - y : y), (long long)m,
	                (long long)d);
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
		k = ferry__uuid_format(tmp, p);
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

/* Fraction digits as written after the exponent (the numeric's display scale). */
static long dec_dscale(const ferry_dec *d)
{
	long s = (long)d->fl - d->exp;
	return s > 0 ? s : 0;
}

/* Normalized significant digits (at most cap-1) and the exponent of the first; returns
 * the count, 0 for zero, -1 when there are more than cap-1. */
static int dec_norm(const ferry_dec *d, char *dig, size_t cap, long *e10)
{
	long hi, lo;
	if (!ferry__dec_range(d, &hi, &lo))
		return 0;
	if (hi - lo + 1 >= (long)cap)
		return -1;
	int n = 0;
	for (long e = hi; e >= lo; e--)
		dig[n++] = (char)('0' + ferry__dec_at(d, e));
	dig[n] = '\0';
	*e10 = hi;
	return n;
}

/* Is the decimal d exactly what shortest-form text t says (same number)? */
static int dec_same(const ferry_dec *d, const char *t)
{
	ferry_dec o;
	if (ferry__dec_parse(t, strlen(t), &o) != 0)
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

/* Strict integer text: [+-]digits, optionally followed by a point and zeros only; -2 when it
 * is out of range. */
static int parse_int_text(const char *s, size_t n, int64_t *out)
{
	int64_t v;
	size_t i;
	int rc = ferry__int_parse(s, n, &v, &i);
	if (rc)
		return rc;
	if (i < n && s[i] == '.') {
		i++;
		while (i < n && s[i] == '0')
			i++;
	}
	if (i != n)
		return -1;
	*out = v;
	return 0;
}

/* ---- dates and times --------------------------------------------------------------- */

enum { T_OK = 0, T_BAD, T_ZONE, T_RANGE, T_PRECISION, T_HASTIME };

/* The time of day of w (read by ferry__when_scan) as PostgreSQL takes it, in microseconds:
 * H or HH, then MM and SS; a fraction past microseconds must be zeros; 24:00:00 only. */
static int tod_of(const ferry_when *w, int64_t *us)
{
	if (w->nhour > 2 || w->nminute != 2 || (w->nsecond && w->nsecond != 2))
		return T_BAD;
	int64_t f = 0;
	for (size_t k = 0; k < w->nfrac; k++) {
		if (k < 6)
			f = f * 10 + (w->frac[k] - '0');
		else if (w->frac[k] != '0')
			return T_PRECISION;
	}
	for (size_t k = w->nfrac; k < 6; k++)
		f *= 10;
	int64_t h = w->hour, mi = w->minute, s = w->second;
	if (mi > 59 || s > 59 || h > 24 || (h == 24 && (mi || s || f)))
		return T_BAD;
	*us = ((h * 60 + mi) * 60 + s) * 1000000 + f;
	return T_OK;
}

static int check_ymd(int64_t y, int64_t m, int64_t d)
{
	if (y == 0 || m < 1 || m > 12 || d < 1)
		return T_BAD;
	return d <= ferry__days_in_month(y, (int)m) ? T_OK : T_BAD;
}

/* The zone of w as PostgreSQL's output has it: Z, UTC, +HH, +HH:MM, +HH:MM:SS (optionally
 * after a blank); *secs is its offset east of UTC. Returns 0, or -1 for a malformed one. */
static int zone_of(const ferry_when *w, int64_t *secs)
{
	*secs = 0;
	if (w->zone != '+')
		return 0;
	const int *n = w->zone_n;
	if (w->zone_bad || n[0] != 2 || (w->zone_colons >= 1 && n[1] != 2) ||
	    (w->zone_colons >= 2 && n[2] != 2))
		return -1;
	int64_t h = w->zone_f[0], m = w->zone_colons >= 1 ? w->zone_f[1] : 0;
	int64_t s = w->zone_colons >= 2 ? w->zone_f[2] : 0;
	*secs = (w->zone_neg ? -1 : 1) * (h * 3600 + m * 60 + s);
	return h > 15 || m > 59 || s > 59 ? -1 : 0;
}

/* A time of day (K_TIME: µs); a zone after it is T_ZONE. */
static int parse_time(const char *s, size_t n, int64_t *out)
{
	ferry_when w;
	int64_t tod;
	if (ferry__when_scan(s, n, FERRY_WHEN_TIME, &w) != 0)
		return T_BAD;
	int rc = tod_of(&w, &tod);
	if (rc)
		return rc;
	if (w.time_end != s + n)
		return w.zone ? T_ZONE : T_BAD;
	*out = tod;
	return T_OK;
}

/* Parse a date (want K_DATE: *out days), a time (K_TIME: µs) or a timestamp (K_TIMESTAMP,
 * K_TIMESTAMPTZ: µs since 2000-01-01 UTC): YYYY-M-D (years of 4 to 7 digits) [time [zone]]
 * [ BC]. */
static int parse_when(const char *s, size_t n, pg_kind want, int64_t *out)
{
	int64_t tod = 0, zone = 0;
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
	if (want == K_TIME)
		return parse_time(s, n, out);
	ferry_when w;
	if (ferry__when_scan(s, n, FERRY_WHEN_DATE, &w) != 0 || w.nyear < 4 || w.nyear > 7 ||
	    w.nmonth > 2 || w.nday > 2)
		return T_BAD;
	int rc = w.has_time ? tod_of(&w, &tod) : T_OK;
	if (rc)
		return rc;
	/* a zone only after a time */
	if (w.end != s + n || (w.zone && (!w.has_time || zone_of(&w, &zone) != 0)))
		return T_BAD;
	/* A midnight without a zone is that date: nothing is lost in converting it. */
	if (want == K_DATE && w.has_time && (tod != 0 || w.zone))
		return T_HASTIME;
	if (want == K_TIMESTAMP && w.zone)
		return T_ZONE;
	int64_t y = w.year, yy = w.bc ? 1 - y : y;
	if (y == 0 || check_ymd(yy, w.month, w.day) != T_OK)
		return T_BAD;
	int64_t jd = ferry__days_from_civil(yy, w.month, w.day) + UNIX_EPOCH_JD;
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
		ferry_dec dd;
		if (ferry__dec_parse(v->v.s, v->len, &dd) != 0)
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
	ferry_dec d;
	if (ferry__dec_parse(s, n, &d) != 0)
		return refuse(reason, cap, v, col, "is not a number for");
	long hi = 0, lo = 0;
	int nonzero = d.special ? 0 : ferry__dec_range(&d, &hi, &lo);
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
			ferry_buf_add(out, &"0123456789"[ferry__dec_at(&d, e)], 1);
		if (dscale > 0) {
			ferry_buf_add(out, ".", 1);
			for (long e = -1; e >= -dscale; e--)
				ferry_buf_add(out, &"0123456789"[ferry__dec_at(&d, e)], 1);
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
			val = val * 10 + ferry__dec_at(&d, 4 * g + j);
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
	if (!ferry__utf8_valid((const uint8_t *)s, n)) {
		refuse(reason, cap, v, col, "is not valid UTF-8 (or holds a NUL byte) for");
		size_t len = strlen(reason);
		snprintf(reason + len, cap - len, " (a rule carries it as bytes into a column ferry creates: %s: {type: bytea})",
		         col->name);
		return 1;
	}
	if (col->kind == K_TEXT && col->typmod >= 4 && ferry__utf8_chars((const uint8_t *)s, n) > (size_t)(col->typmod - 4))
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
	int rc = ferry_buf_puts(out, mode == MODE_COPY ? "\\\\x" : "\\x");
	return rc ? rc : ferry_buf_hex(out, p, v->len);
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
	else if (!textlike(v) || ferry__uuid_parse(v->v.s, v->len, u) != 0)
		return refuse(reason, cap, v, col, "is not a uuid for");
	if (mode == MODE_BIN)
		return ferry_buf_add(out, u, 16);
	char t[40];
	ferry__uuid_format(t, u);
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
			int hi = ferry__hex_digit((unsigned char)s[i]), lo = ferry__hex_digit((unsigned char)s[i + 1]);
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
