/* canon.c — canonical cells (canon.h): each value encoded by the type of its column, so
 * that SQLite's affinity, a numeric's scale, a float's formatting, a timestamp's zone and
 * precision, and NULL against '' compare by meaning across engines. */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "canon.h"

#define DEC_MAX_DIGITS 4096   /* longer decimals (after the exponent) are compared as text */

static int put_tag_len(ferry_buf *out, int tag, const void *data, size_t len)
{
	uint8_t h[5] = {(uint8_t)tag, (uint8_t)len, (uint8_t)(len >> 8), (uint8_t)(len >> 16),
	                (uint8_t)(len >> 24)};
	if (ferry_buf_add(out, h, 5) != 0)
		return FERRY_ENOMEM;
	return len && ferry_buf_add(out, data, len) != 0 ? FERRY_ENOMEM : 0;
}

static int put_fixed(ferry_buf *out, int tag, uint64_t x, size_t n)
{
	uint8_t h[9];
	h[0] = (uint8_t)tag;
	for (size_t i = 0; i < n; i++)
		h[1 + i] = (uint8_t)(x >> (8 * i));
	return ferry_buf_add(out, h, 1 + n) != 0 ? FERRY_ENOMEM : 0;
}

static int put_int(ferry_buf *out, int64_t i)
{
	return put_fixed(out, CELL_INT, (uint64_t)i, 8);
}

static int put_float(ferry_buf *out, double d)
{
	uint64_t bits;
	if (isnan(d))
		bits = UINT64_C(0x7ff8000000000000);
	else
		memcpy(&bits, &d, 8);
	return put_fixed(out, CELL_FLOAT, bits, 8);
}

static int textlike(const ferry_value *v)
{
	return v->type != FERRY_NULL && v->type != FERRY_INT && v->type != FERRY_FLOAT &&
	       v->type != FERRY_BOOL && v->type != FERRY_BLOB;
}

#define dbl_text(o, cap, d) ferry__dbl_shortest((d), (o), (cap))

/* Plain text of a non-text value (for a text column, and for RAW cells). */
static int scalar_text(ferry_buf *b, const ferry_value *v)
{
	char t[64];
	switch (v->type) {
	case FERRY_INT:
		return ferry_buf_printf(b, "%lld", (long long)v->v.i);
	case FERRY_BOOL:
		return ferry_buf_puts(b, v->v.i ? "true" : "false");
	case FERRY_FLOAT:
		if (isnan(v->v.f))
			return ferry_buf_puts(b, "NaN");
		if (isinf(v->v.f))
			return ferry_buf_puts(b, v->v.f > 0 ? "Infinity" : "-Infinity");
		dbl_text(t, sizeof(t), v->v.f);
		return ferry_buf_puts(b, t);
	default:
		return ferry_buf_add(b, v->v.s, v->len);
	}
}

static int put_raw(ferry_buf *out, const ferry_value *v)
{
	ferry_buf t = FERRY_BUF_INIT;
	int rc = ferry_buf_add(&t, (const uint8_t[]){v->type}, 1);
	if (rc == 0)
		rc = scalar_text(&t, v);
	if (rc == 0 && t.data)
		rc = put_tag_len(out, CELL_RAW, t.data, t.len);
	ferry_buf_free(&t);
	return rc ? FERRY_ENOMEM : 0;
}

static int ieq(const char *s, size_t n, const char *w)
{
	return strlen(w) == n && strncasecmp(s, w, n) == 0;
}

/* ---- decimals --------------------------------------------------------------------- */

int ferry__dec_normalize(ferry_buf *out, const char *s, size_t n)
{
	while (n && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	if (ieq(s, n, "nan"))
		return ferry_buf_puts(out, "NaN") ? FERRY_ENOMEM : 0;
	if (ieq(s, n, "infinity") || ieq(s, n, "+infinity") || ieq(s, n, "inf") || ieq(s, n, "+inf"))
		return ferry_buf_puts(out, "Infinity") ? FERRY_ENOMEM : 0;
	if (ieq(s, n, "-infinity") || ieq(s, n, "-inf"))
		return ferry_buf_puts(out, "-Infinity") ? FERRY_ENOMEM : 0;
	size_t i = 0;
	int neg = 0;
	if (i < n && (s[i] == '+' || s[i] == '-'))
		neg = s[i++] == '-';
	char *dig = malloc(n + 1);
	if (!dig)
		return FERRY_ENOMEM;
	size_t nd = 0, nint = 0;
	int seen = 0, point = 0;
	for (; i < n; i++) {
		if (isdigit((unsigned char)s[i])) {
			dig[nd++] = s[i];
			nint += !point;
			seen = 1;
		} else if (s[i] == '.' && !point) {
			point = 1;
		} else {
			break;
		}
	}
	long exp = 0;
	if (seen && i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		int eneg = 0, edig = 0;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			eneg = s[i++] == '-';
		for (; i < n && isdigit((unsigned char)s[i]); i++, edig = 1)
			if (exp < 100000)
				exp = exp * 10 + (s[i] - '0');
		if (!edig)
			seen = 0;
		if (eneg)
			exp = -exp;
	}
	if (!seen || i != n || exp >= 100000 || exp <= -100000) {
		free(dig);
		return -1;
	}
	/* The value is 0.D x 10^pos with pos the digits before the point. */
	long pos = (long)nint + exp;
	size_t a = 0, z = nd;
	while (a < z && dig[a] == '0') {
		a++;
		pos--;
	}
	while (z > a && dig[z - 1] == '0')
		z--;
	int rc = 0;
	if (a == z) {
		rc = ferry_buf_puts(out, "0");
	} else if (pos > DEC_MAX_DIGITS || pos < -DEC_MAX_DIGITS) {
		free(dig);
		return -1;
	} else {
		long len = (long)(z - a);
		if (neg)
			rc |= ferry_buf_puts(out, "-");
		if (pos <= 0) {
			rc |= ferry_buf_puts(out, "0.");
			for (long k = 0; k < -pos; k++)
				rc |= ferry_buf_add(out, "0", 1);
			rc |= ferry_buf_add(out, dig + a, (size_t)len);
		} else if (pos >= len) {
			rc |= ferry_buf_add(out, dig + a, (size_t)len);
			for (long k = 0; k < pos - len; k++)
				rc |= ferry_buf_add(out, "0", 1);
		} else {
			rc |= ferry_buf_add(out, dig + a, (size_t)pos);
			rc |= ferry_buf_add(out, ".", 1);
			rc |= ferry_buf_add(out, dig + a + pos, (size_t)(len - pos));
		}
	}
	free(dig);
	return rc ? FERRY_ENOMEM : 0;
}

static int put_dec_text(ferry_buf *out, const char *s, size_t n, const ferry_value *v)
{
	ferry_buf t = FERRY_BUF_INIT;
	int rc = ferry__dec_normalize(&t, s, n);
	if (rc == -1) {
		ferry_buf_free(&t);
		return put_raw(out, v);
	}
	if (rc == 0)
		rc = put_tag_len(out, CELL_DEC, t.data, t.len);
	ferry_buf_free(&t);
	return rc;
}

/* ---- dates and times ------------------------------------------------------------------ */

static int digits(const char *s, size_t n, size_t *i, int min, int max, long *out)
{
	long v = 0;
	int k = 0;
	while (*i < n && isdigit((unsigned char)s[*i]) && k < max) {
		v = v * 10 + (s[(*i)++] - '0');
		k++;
	}
	*out = v;
	return k >= min;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (year 0 = 1 BC), and back. */
static long days_from_civil(long y, long m, long d)
{
	y -= m <= 2;
	long era = (y >= 0 ? y : y - 399) / 400;
	long yoe = y - era * 400;
	long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(long z, long *y, long *m, long *d)
{
	z += 719468;
	long era = (z >= 0 ? z : z - 146096) / 146097;
	long doe = z - era * 146097;
	long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	long mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp + (mp < 10 ? 3 : -9);
	*y = yoe + era * 400 + (*m <= 2);
}

typedef struct when {
	long y, mo, d;            /* astronomical year */
	long h, mi, sec;
	char frac[16];            /* fraction digits, trailing zeros removed */
	int has_time, has_zone;
	long zone;                /* seconds east of UTC */
} when;

static int parse_time_part(const char *s, size_t n, size_t *i, when *w)
{
	if (!digits(s, n, i, 2, 2, &w->h) || *i >= n || s[*i] != ':')
		return -1;
	(*i)++;
	if (!digits(s, n, i, 2, 2, &w->mi))
		return -1;
	w->sec = 0;
	w->frac[0] = '\0';
	if (*i < n && s[*i] == ':') {
		(*i)++;
		if (!digits(s, n, i, 2, 2, &w->sec))
			return -1;
		if (*i < n && s[*i] == '.') {
			(*i)++;
			size_t k = 0;
			while (*i < n && isdigit((unsigned char)s[*i])) {
				if (k + 1 >= sizeof(w->frac))
					return -1;
				w->frac[k++] = s[(*i)++];
			}
			if (k == 0)
				return -1;
			while (k && w->frac[k - 1] == '0')
				k--;
			w->frac[k] = '\0';
		}
	}
	if (w->h > 24 || w->mi > 59 || w->sec > 60)
		return -1;
	return 0;
}

/* YYYY-MM-DD[( |T)HH:MM[:SS[.f]]][Z|±HH[:MM[:SS]]|±HHMM][ BC] */
static int parse_when(const char *s, size_t n, when *w)
{
	memset(w, 0, sizeof(*w));
	size_t i = 0;
	int bc = 0;
	if (n > 3 && (strncmp(s + n - 3, " BC", 3) == 0 || strncmp(s + n - 3, " bc", 3) == 0)) {
		bc = 1;
		n -= 3;
	}
	if (!digits(s, n, &i, 4, 7, &w->y) || i >= n || s[i++] != '-' ||
	    !digits(s, n, &i, 2, 2, &w->mo) || i >= n || s[i++] != '-' ||
	    !digits(s, n, &i, 2, 2, &w->d))
		return -1;
	if (w->mo < 1 || w->mo > 12 || w->d < 1 || w->d > 31)
		return -1;
	if (bc)
		w->y = 1 - w->y;
	if (i < n && (s[i] == ' ' || s[i] == 'T' || s[i] == 't') && i + 1 < n &&
	    isdigit((unsigned char)s[i + 1])) {
		i++;
		if (parse_time_part(s, n, &i, w) != 0)
			return -1;
		w->has_time = 1;
	}
	if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
		w->has_zone = 1;
		i++;
	} else if (i < n && (s[i] == '+' || s[i] == '-')) {
		int neg = s[i++] == '-';
		long zh = 0, zm = 0, zs = 0;
		if (!digits(s, n, &i, 2, 2, &zh))
			return -1;
		if (i < n && s[i] == ':') {
			i++;
			if (!digits(s, n, &i, 2, 2, &zm))
				return -1;
			if (i < n && s[i] == ':') {
				i++;
				if (!digits(s, n, &i, 2, 2, &zs))
					return -1;
			}
		} else if (i < n && isdigit((unsigned char)s[i]) && !digits(s, n, &i, 2, 2, &zm)) {
			return -1;
		}
		w->has_zone = 1;
		w->zone = (neg ? -1 : 1) * (zh * 3600 + zm * 60 + zs);
	}
	return i == n ? 0 : -1;
}

static int put_when(ferry_buf *out, int tag, const when *w0, int to_utc)
{
	when w = *w0;
	/* Through the calendar: a zone (to UTC), and 24:00:00 or a leap second, which the engines
	 * store as the next day or minute. */
	if (!to_utc)
		w.zone = 0;
	if (tag != CELL_DATE && (w.zone || w.h == 24 || w.sec == 60)) {
		long long t = (long long)days_from_civil(w.y, w.mo, w.d) * 86400 + w.h * 3600 + w.mi * 60 +
		              w.sec - w.zone;
		long long dd = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
		long long r = t - dd * 86400;
		civil_from_days((long)dd, &w.y, &w.mo, &w.d);
		w.h = (long)(r / 3600);
		w.mi = (long)(r % 3600 / 60);
		w.sec = (long)(r % 60);
	}
	char t[96];
	long y = w.y <= 0 ? 1 - w.y : w.y;
	int k = snprintf(t, sizeof(t), "%04ld-%02ld-%02ld", y, w.mo, w.d);
	if (tag != CELL_DATE) {
		k += snprintf(t + k, sizeof(t) - (size_t)k, " %02ld:%02ld:%02ld", w.h, w.mi, w.sec);
		if (w.frac[0])
			k += snprintf(t + k, sizeof(t) - (size_t)k, ".%s", w.frac);
	}
	if (w.y <= 0)
		k += snprintf(t + k, sizeof(t) - (size_t)k, " BC");
	if (tag == CELL_TSTZ)
		k += snprintf(t + k, sizeof(t) - (size_t)k, "Z");
	return put_tag_len(out, tag, t, (size_t)k);
}

static int canon_when(ferry_buf *out, ferry_type t, const ferry_value *v)
{
	if (!textlike(v))
		return put_raw(out, v);
	const char *s = v->v.s;
	size_t n = v->len;
	if (t != FERRY_TIME && (ieq(s, n, "infinity") || ieq(s, n, "+infinity") || ieq(s, n, "-infinity")))
		return put_tag_len(out, t == FERRY_DATE ? CELL_DATE : t == FERRY_TIMESTAMPTZ ? CELL_TSTZ : CELL_TS,
		                   s[0] == '-' ? "-infinity" : "infinity", s[0] == '-' ? 9 : 8);
	when w;
	if (t == FERRY_TIME) {
		size_t i = 0;
		memset(&w, 0, sizeof(w));
		if (parse_time_part(s, n, &i, &w) != 0 || i != n)
			return put_raw(out, v);
		char b[48];
		int k = snprintf(b, sizeof(b), "%02ld:%02ld:%02ld%s%s", w.h, w.mi, w.sec, w.frac[0] ? "." : "",
		                 w.frac);
		return put_tag_len(out, CELL_TIME, b, (size_t)k);
	}
	if (parse_when(s, n, &w) != 0)
		return put_raw(out, v);
	if (t == FERRY_DATE)
		return w.has_time || w.has_zone ? put_raw(out, v) : put_when(out, CELL_DATE, &w, 0);
	if (t == FERRY_TIMESTAMP)
		return w.has_zone ? put_raw(out, v) : put_when(out, CELL_TS, &w, 0);
	/* timestamptz: a text without a zone is read as UTC, as ferry's writers store it. */
	return put_when(out, CELL_TSTZ, &w, 1);
}

/* ---- the other types ------------------------------------------------------------------ */

static int hexval(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static int canon_uuid(ferry_buf *out, const ferry_value *v)
{
	uint8_t u[16];
	if (v->type == FERRY_BLOB && v->len == 16) {
		memcpy(u, v->v.b, 16);
	} else if (textlike(v)) {
		const char *s = v->v.s;
		size_t n = v->len, k = 0;
		if (n >= 2 && s[0] == '{' && s[n - 1] == '}') {
			s++;
			n -= 2;
		}
		for (size_t i = 0; i < n; i++) {
			if (s[i] == '-' && n == 36 && (i == 8 || i == 13 || i == 18 || i == 23))
				continue;
			int a = hexval((unsigned char)s[i]), b = i + 1 < n ? hexval((unsigned char)s[i + 1]) : -1;
			if (a < 0 || b < 0 || k == 16)
				return put_raw(out, v);
			u[k++] = (uint8_t)(a * 16 + b);
			i++;
		}
		if (k != 16 || (n != 32 && n != 36))
			return put_raw(out, v);
	} else {
		return put_raw(out, v);
	}
	if (ferry_buf_add(out, (const uint8_t[]){CELL_UUID}, 1) != 0 || ferry_buf_add(out, u, 16) != 0)
		return FERRY_ENOMEM;
	return 0;
}

/* JSON numbers must not pass through a double (jansson's reals): 1234567890.12345678 and
 * 1234567890.1234567 are different documents, 1e2 and 100 the same number (jsonb keeps
 * numbers as numerics). Before jansson parses the text, each number outside strings becomes
 * the string "\u0001" + its normalized decimal; after the dump the marks become numbers
 * again. Returns NULL when the text cannot be marked (then it compares as text). */
#define JSON_MARK "\\u0001"
static char *json_mark_numbers(const char *s, size_t n, size_t *outlen)
{
	ferry_buf b = FERRY_BUF_INIT;
	int in_str = 0;
	for (size_t i = 0; i < n && !b.failed; i++) {
		char c = s[i];
		if (in_str) {
			if (c == '\\' && i + 1 < n) {
				if (i + 5 < n && s[i + 1] == 'u' && strncmp(s + i + 2, "0001", 4) == 0) {
					ferry_buf_free(&b); /* the mark's own character in a string */
					return NULL;
				}
				ferry_buf_add(&b, s + i, 2);
				i++;
				continue;
			}
			if (c == '"')
				in_str = 0;
			ferry_buf_add(&b, &c, 1);
			continue;
		}
		if (c == '"') {
			in_str = 1;
			ferry_buf_add(&b, &c, 1);
			continue;
		}
		if (c == '\x01') { /* the mark itself in the input: do not guess */
			ferry_buf_free(&b);
			return NULL;
		}
		if (c == '-' || (c >= '0' && c <= '9')) {
			size_t j = i + 1;
			while (j < n && (isdigit((unsigned char)s[j]) || s[j] == '.' || s[j] == 'e' || s[j] == 'E' ||
			                 s[j] == '+' || s[j] == '-'))
				j++;
			ferry_buf num = FERRY_BUF_INIT;
			int rc = ferry__dec_normalize(&num, s + i, j - i);
			if (rc == 0 && num.data) {
				ferry_buf_puts(&b, "\"" JSON_MARK);
				ferry_buf_add(&b, num.data, num.len);
				ferry_buf_puts(&b, "\"");
			} else {
				ferry_buf_add(&b, s + i, j - i); /* not a number: jansson refuses it */
			}
			ferry_buf_free(&num);
			i = j - 1;
			continue;
		}
		ferry_buf_add(&b, &c, 1);
	}
	if (b.failed || !b.data) {
		ferry_buf_free(&b);
		return NULL;
	}
	*outlen = b.len;
	return ferry_buf_detach(&b);
}

static int canon_json(ferry_buf *out, const ferry_value *v)
{
	if (!textlike(v) && v->type != FERRY_BLOB)
		return put_raw(out, v);
	size_t mlen = 0;
	char *marked = json_mark_numbers(v->v.s, v->len, &mlen);
	if (!marked)
		return put_raw(out, v);
	json_error_t e;
	json_t *j = json_loadb(marked, mlen, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
	free(marked);
	if (!j)
		return put_raw(out, v);
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	json_decref(j);
	if (!s)
		return FERRY_ENOMEM;
	/* Unmark: "\u0001123.5" -> 123.5 (a mark never holds a quote or a backslash). */
	ferry_buf d = FERRY_BUF_INIT;
	const char *mark = "\"" JSON_MARK;
	size_t ml = strlen(mark);
	for (const char *p = s; *p;) {
		const char *m = strstr(p, mark);
		if (!m) {
			ferry_buf_puts(&d, p);
			break;
		}
		ferry_buf_add(&d, p, (size_t)(m - p));
		const char *q = strchr(m + ml, '"');
		if (!q)
			q = m + strlen(m);
		ferry_buf_add(&d, m + ml, (size_t)(q - (m + ml)));
		p = *q ? q + 1 : q;
	}
	free(s);
	int rc = d.failed ? FERRY_ENOMEM : put_tag_len(out, CELL_JSON, d.data ? d.data : "", d.len);
	ferry_buf_free(&d);
	return rc;
}

static int text_int(const char *s, size_t n, int64_t *out)
{
	char b[32];
	if (n == 0 || n >= sizeof(b))
		return -1;
	memcpy(b, s, n);
	b[n] = '\0';
	char *end;
	errno = 0;
	long long x = strtoll(b, &end, 10);
	if (*end || errno || isspace((unsigned char)b[0]))
		return -1;
	*out = x;
	return 0;
}

static int text_float(const char *s, size_t n, double *out)
{
	if (ieq(s, n, "nan")) {
		*out = NAN;
		return 0;
	}
	if (ieq(s, n, "infinity") || ieq(s, n, "+infinity") || ieq(s, n, "inf")) {
		*out = INFINITY;
		return 0;
	}
	if (ieq(s, n, "-infinity") || ieq(s, n, "-inf")) {
		*out = -INFINITY;
		return 0;
	}
	char b[512];
	if (n == 0 || n >= sizeof(b) || isspace((unsigned char)s[0]))
		return -1;
	memcpy(b, s, n);
	b[n] = '\0';
	char *end;
	double d = strtod(b, &end);
	if (*end || strpbrk(b, "xXnNiI"))
		return -1;
	*out = d;
	return 0;
}

static int canon_bool(ferry_buf *out, const ferry_value *v)
{
	static const char *const yes[] = {"t", "true", "y", "yes", "on", "1"};
	static const char *const no[] = {"f", "false", "n", "no", "off", "0"};
	int b = -1;
	if (v->type == FERRY_BOOL || v->type == FERRY_INT)
		b = v->v.i == 0 ? 0 : v->v.i == 1 ? 1 : -1;
	else if (v->type == FERRY_FLOAT)
		b = v->v.f == 0.0 ? 0 : v->v.f == 1.0 ? 1 : -1;
	else if (textlike(v))
		for (size_t i = 0; i < FERRY_ARRAY_LEN(yes) && b < 0; i++)
			b = ieq(v->v.s, v->len, yes[i]) ? 1 : ieq(v->v.s, v->len, no[i]) ? 0 : -1;
	if (b < 0)
		return put_raw(out, v);
	return put_fixed(out, CELL_BOOL, (uint64_t)b, 1);
}

int ferry__canon_any(ferry_buf *out)
{
	return ferry_buf_add(out, (const uint8_t[]){CELL_ANY}, 1) ? FERRY_ENOMEM : 0;
}

int ferry__canon_cell(ferry_buf *out, ferry_type t, const ferry_value *v)
{
	return ferry__canon_cell_ex(out, t, v, 0);
}

/* SQLite's text of a REAL ("%!.15g"): 15 digits, and always a point: 100.0, 1.0e+20. */
static void sqlite_real_text(char *o, size_t cap, double d)
{
	snprintf(o, cap, "%.15g", d);
	if (strpbrk(o, ".ni") != NULL) /* has a point, or inf/nan */
		return;
	char *e = strchr(o, 'e');
	size_t n = strlen(o);
	if (n + 3 > cap)
		return;
	if (!e) {
		memcpy(o + n, ".0", 3);
		return;
	}
	memmove(e + 2, e, strlen(e) + 1);
	e[0] = '.';
	e[1] = '0';
}

int ferry__canon_cell_ex(ferry_buf *out, ferry_type t, const ferry_value *v, unsigned flags)
{
	if (v->type == FERRY_NULL)
		return ferry_buf_add(out, (const uint8_t[]){CELL_NULL}, 1) ? FERRY_ENOMEM : 0;
	char tmp[64];
	switch (t) {
	case FERRY_INT:
		if (v->type == FERRY_INT || v->type == FERRY_BOOL)
			return put_int(out, v->v.i);
		if (v->type == FERRY_FLOAT && v->v.f == floor(v->v.f) && fabs(v->v.f) < 9.2e18)
			return put_int(out, (int64_t)v->v.f);
		if (textlike(v)) {
			int64_t x;
			if (text_int(v->v.s, v->len, &x) == 0)
				return put_int(out, x);
		}
		return put_raw(out, v);
	case FERRY_FLOAT:
		if (v->type == FERRY_FLOAT)
			return put_float(out, v->v.f);
		if (v->type == FERRY_INT || v->type == FERRY_BOOL)
			return put_float(out, (double)v->v.i);
		if (textlike(v)) {
			double d;
			if (text_float(v->v.s, v->len, &d) == 0)
				return put_float(out, d);
		}
		return put_raw(out, v);
	case FERRY_NUMERIC:
		if (v->type == FERRY_INT || v->type == FERRY_BOOL) {
			int k = snprintf(tmp, sizeof(tmp), "%lld", (long long)v->v.i);
			return put_tag_len(out, CELL_DEC, tmp, (size_t)k);
		}
		if (v->type == FERRY_FLOAT) {
			if (isnan(v->v.f))
				return put_tag_len(out, CELL_DEC, "NaN", 3);
			if (isinf(v->v.f))
				return v->v.f > 0 ? put_tag_len(out, CELL_DEC, "Infinity", 8)
				                  : put_tag_len(out, CELL_DEC, "-Infinity", 9);
			dbl_text(tmp, sizeof(tmp), v->v.f);
			return put_dec_text(out, tmp, strlen(tmp), v);
		}
		if (textlike(v))
			return put_dec_text(out, v->v.s, v->len, v);
		return put_raw(out, v);
	case FERRY_BOOL:
		return canon_bool(out, v);
	case FERRY_DATE: case FERRY_TIME: case FERRY_TIMESTAMP: case FERRY_TIMESTAMPTZ:
		return canon_when(out, t, v);
	case FERRY_UUID:
		return canon_uuid(out, v);
	case FERRY_JSON:
		return canon_json(out, v);
	case FERRY_BLOB:
		/* Untyped (SQLite without a type, bytea): numbers stay numbers, the rest is bytes. */
		if (v->type == FERRY_INT || v->type == FERRY_BOOL)
			return put_int(out, v->v.i);
		if (v->type == FERRY_FLOAT)
			return put_float(out, v->v.f);
		return put_tag_len(out, CELL_BYTES, v->v.b, v->len);
	default: {
		if (textlike(v) || v->type == FERRY_BLOB)
			return put_tag_len(out, CELL_TEXT, v->v.s, v->len);
		if (v->type == FERRY_FLOAT && (flags & CANON_SQLITE_TEXT) && isfinite(v->v.f)) {
			sqlite_real_text(tmp, sizeof(tmp), v->v.f);
			return put_tag_len(out, CELL_TEXT, tmp, strlen(tmp));
		}
		ferry_buf s = FERRY_BUF_INIT;
		int rc = scalar_text(&s, v);
		if (rc == 0)
			rc = put_tag_len(out, CELL_TEXT, s.data ? s.data : "", s.len);
		ferry_buf_free(&s);
		return rc ? FERRY_ENOMEM : 0;
	}
	}
}

/* ---- reading cells ---------------------------------------------------------------------- */

static uint32_t get_len(const uint8_t *p)
{
	return (uint32_t)p[1] | (uint32_t)p[2] << 8 | (uint32_t)p[3] << 16 | (uint32_t)p[4] << 24;
}

static uint64_t get_fixed(const uint8_t *p, size_t n)
{
	uint64_t x = 0;
	for (size_t i = 0; i < n; i++)
		x |= (uint64_t)p[1 + i] << (8 * i);
	return x;
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

/* Compare normalized decimals (no NaN or infinities). */
static int dec_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	int na = an && a[0] == '-', nb = bn && b[0] == '-';
	if (na != nb)
		return na ? -1 : 1;
	a += na;
	an -= (size_t)na;
	b += nb;
	bn -= (size_t)nb;
	const char *pa = memchr(a, '.', an), *pb = memchr(b, '.', bn);
	size_t ia = pa ? (size_t)(pa - a) : an, ib = pb ? (size_t)(pb - b) : bn;
	int c = ia != ib ? (ia < ib ? -1 : 1) : 0;
	if (!c) {
		size_t m = an < bn ? an : bn;
		c = memcmp(a, b, m);
		if (!c && an != bn)
			c = an < bn ? -1 : 1;
		c = c < 0 ? -1 : c > 0;
	}
	return na ? -c : c;
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
	int na = a[0] == '-', nb = b[0] == '-';
	a += na;
	an -= (size_t)na;
	b += nb;
	bn -= (size_t)nb;
	const char *pa = memchr(a, '.', an), *pb = memchr(b, '.', bn);
	size_t ia = pa ? (size_t)(pa - a) : an, ib = pb ? (size_t)(pb - b) : bn;
	size_t fa = pa ? an - ia - 1 : 0, fb = pb ? bn - ib - 1 : 0;
	size_t I = (ia > ib ? ia : ib) + 1, F = fa > fb ? fa : fb, W = I + F;
	int *x = calloc(W, sizeof(int)), *y = calloc(W, sizeof(int));
	char *s = malloc(W + 4);
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
		return put_float(out, x + y);
	}
	if (a[0] != b[0])
		return 1;
	if (a[0] == CELL_INT) {
		int64_t x = (int64_t)get_fixed(a, 8), y = (int64_t)get_fixed(b, 8), z;
		if (__builtin_add_overflow(x, y, &z))
			return 1;
		return put_int(out, z);
	}
	if (a[0] == CELL_FLOAT)
		return put_float(out, cell_double(a) + cell_double(b));
	if (a[0] == CELL_DEC && (!isdigit((unsigned char)a[an - 1]) || !isdigit((unsigned char)b[bn - 1]))) {
		/* PostgreSQL's numeric: NaN absorbs, an infinity wins over any number, and opposite
		 * infinities make NaN. */
		const char *x = (const char *)a + 5, *y = (const char *)b + 5;
		int xn = x[0] == 'N', yn = y[0] == 'N';
		int xi = x[an - 6] == 'y' ? (x[0] == '-' ? -1 : 1) : 0, yi = y[bn - 6] == 'y' ? (y[0] == '-' ? -1 : 1) : 0;
		if (xn || yn || (xi && yi && xi != yi))
			return put_tag_len(out, CELL_DEC, "NaN", 3);
		int inf = xi ? xi : yi;
		return inf > 0 ? put_tag_len(out, CELL_DEC, "Infinity", 8) : put_tag_len(out, CELL_DEC, "-Infinity", 9);
	}
	if (a[0] == CELL_DEC) {
		ferry_buf t = FERRY_BUF_INIT;
		int rc = dec_add(&t, (const char *)a + 5, an - 5, (const char *)b + 5, bn - 5);
		if (rc == 0)
			rc = put_tag_len(out, CELL_DEC, t.data, t.len);
		ferry_buf_free(&t);
		return rc;
	}
	return 1;
}

/* ---- rendering ------------------------------------------------------------------------- */

/* 1 when s holds valid UTF-8 (and no NUL): no overlong forms, no surrogates, nothing past
 * U+10FFFF (RFC 3629), so the JSON report stays valid wherever it is read. */
static int utf8_valid(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		uint8_t c = s[i];
		size_t k;
		uint8_t lo = 0x80, hi = 0xBF; /* the range of the second byte */
		if (c == 0)
			return 0;
		if (c < 0x80)
			k = 1;
		else if (c >= 0xC2 && c <= 0xDF)
			k = 2;
		else if (c >= 0xE0 && c <= 0xEF) {
			k = 3;
			lo = c == 0xE0 ? 0xA0 : 0x80;
			hi = c == 0xED ? 0x9F : 0xBF;
		} else if (c >= 0xF0 && c <= 0xF4) {
			k = 4;
			lo = c == 0xF0 ? 0x90 : 0x80;
			hi = c == 0xF4 ? 0x8F : 0xBF;
		} else
			return 0;
		if (i + k > n)
			return 0;
		if (k > 1 && (s[i + 1] < lo || s[i + 1] > hi))
			return 0;
		for (size_t j = 2; j < k; j++)
			if ((s[i + j] & 0xC0) != 0x80)
				return 0;
		i += k;
	}
	return 1;
}

/* Bytes as a JSON string "\\x0a1b..." (the first 32, then the length). */
static int bytes_json(ferry_buf *out, const char *prefix, const uint8_t *p, uint32_t len)
{
	uint32_t show = len > 32 ? 32 : len;
	int rc = ferry_buf_printf(out, "\"%s\\\\x", prefix);
	for (uint32_t i = 0; i < show && rc == 0; i++)
		rc = ferry_buf_printf(out, "%02x", p[i]);
	if (rc == 0 && show < len)
		rc = ferry_buf_printf(out, "... (%u bytes)", len);
	return rc ? rc : ferry_buf_puts(out, "\"");
}

/* At most max bytes of s, cut before a UTF-8 continuation byte so no character is split. */
static uint32_t utf8_cut(const uint8_t *s, uint32_t len, uint32_t max)
{
	if (len <= max)
		return len;
	while (max > 0 && (s[max] & 0xC0) == 0x80)
		max--;
	return max;
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
		dbl_text(t, sizeof(t), d);
		return ferry_buf_printf(out, "%s%s", t, strpbrk(t, ".eE") ? "" : ".0");
	}
	case CELL_UUID: {
		int k = 0;
		for (int i = 0; i < 16; i++)
			k += snprintf(t + k, sizeof(t) - (size_t)k, "%s%02x",
			              i == 4 || i == 6 || i == 8 || i == 10 ? "-" : "", p[1 + i]);
		return ferry_buf_printf(out, "\"%s\"", t);
	}
	case CELL_BYTES:
		return bytes_json(out, "", p + 5, get_len(p));
	case CELL_RAW: {
		uint32_t len = get_len(p);
		if (len == 0)
			return ferry_buf_puts(out, "null");
		if (!utf8_valid(p + 6, len - 1))
			return bytes_json(out, "(not UTF-8) ", p + 6, len - 1);
		uint32_t show = utf8_cut(p + 6, len - 1, 200);
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
		uint32_t len = get_len(p), show = utf8_cut(p + 5, len, 200);
		if (!utf8_valid(p + 5, len))
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
