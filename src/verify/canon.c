/* canon.c — canonical cells (verify.h): each value encoded by the type of its column, so
 * that SQLite's affinity, a numeric's scale, a float's formatting, a timestamp's zone and
 * precision, and NULL against '' compare by meaning across engines. cells.c reads them. */
#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "verify.h"

int ferry_verify__put_tag_len(ferry_buf *out, int tag, const void *data, size_t len)
{
	uint8_t h[5] = {(uint8_t)tag};
	ferry__put_le(h + 1, len, 4);
	if (ferry_buf_add(out, h, 5) != 0)
		return FERRY_ENOMEM;
	return len && ferry_buf_add(out, data, len) != 0 ? FERRY_ENOMEM : 0;
}

static int put_fixed(ferry_buf *out, int tag, uint64_t x, size_t n)
{
	uint8_t h[9];
	h[0] = (uint8_t)tag;
	ferry__put_le(h + 1, x, (int)n);
	return ferry_buf_add(out, h, 1 + n) != 0 ? FERRY_ENOMEM : 0;
}

int ferry_verify__put_int(ferry_buf *out, int64_t i)
{
	return put_fixed(out, CELL_INT, (uint64_t)i, 8);
}

int ferry_verify__put_float(ferry_buf *out, double d)
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
		rc = ferry_verify__put_tag_len(out, CELL_RAW, t.data, t.len);
	ferry_buf_free(&t);
	return rc ? FERRY_ENOMEM : 0;
}

static int ieq(const char *s, size_t n, const char *w)
{
	return strlen(w) == n && strncasecmp(s, w, n) == 0;
}

/* ---- decimals --------------------------------------------------------------------- */

static int put_dec_text(ferry_buf *out, const char *s, size_t n, const ferry_value *v)
{
	ferry_buf t = FERRY_BUF_INIT;
	int rc = ferry__dec_normalize(&t, s, n);
	if (rc == -1) {
		ferry_buf_free(&t);
		return put_raw(out, v);
	}
	if (rc == 0)
		rc = ferry_verify__put_tag_len(out, CELL_DEC, t.data, t.len);
	ferry_buf_free(&t);
	return rc;
}

/* ---- dates and times ------------------------------------------------------------------ */

typedef struct when {
	long y, mo, d;            /* astronomical year */
	long h, mi, sec;
	char frac[16];            /* fraction digits, trailing zeros removed */
	int has_time, has_zone;
	long zone;                /* seconds east of UTC */
} when;

/* The time of day of r as verify reads it: HH:MM[:SS[.f]], 24:00:00 and a leap second
 * included (put_when moves them on), at most 15 fraction digits. */
static int time_of(const ferry_when *r, when *w)
{
	if (r->nhour != 2 || r->nminute != 2 || (r->nsecond && r->nsecond != 2) || r->nfrac >= sizeof(w->frac))
		return -1;
	w->h = (long)r->hour;
	w->mi = (long)r->minute;
	w->sec = (long)r->second;
	size_t k = r->nfrac;
	while (k && r->frac[k - 1] == '0')
		k--;
	memcpy(w->frac, r->frac ? r->frac : "", k);
	w->frac[k] = '\0';
	return w->h > 24 || w->mi > 59 || w->sec > 60 ? -1 : 0;
}

/* The zone of r in seconds east of UTC: Z, or +-HH[:MM[:SS]] or +-HHMM right after the date
 * or time (no blank, no "UTC"). */
static int zone_of(const ferry_when *r, long *zone)
{
	const int *n = r->zone_n;
	const int64_t *f = r->zone_f;
	long zh, zm = 0, zs = 0;
	if (r->zone == 'Z' && !r->zone_blank) {
		*zone = 0;
		return 0;
	}
	if (r->zone != '+' || r->zone_blank || r->zone_bad)
		return -1;
	if (n[0] == 4 && r->zone_colons == 0) {
		zh = (long)(f[0] / 100);
		zm = (long)(f[0] % 100);
	} else if (n[0] == 2 && (r->zone_colons < 1 || n[1] == 2) && (r->zone_colons < 2 || n[2] == 2)) {
		zh = (long)f[0];
		zm = r->zone_colons >= 1 ? (long)f[1] : 0;
		zs = r->zone_colons >= 2 ? (long)f[2] : 0;
	} else {
		return -1;
	}
	*zone = (r->zone_neg ? -1 : 1) * (zh * 3600 + zm * 60 + zs);
	return 0;
}

/* YYYY-MM-DD[( |T)HH:MM[:SS[.f]]][Z|+-HH[:MM[:SS]]|+-HHMM][ BC] (BC or bc), years of 4 to
 * 7 digits, months and days of 2, read as any engine may hold them. */
static int parse_when(const char *s, size_t n, when *w)
{
	ferry_when r;
	memset(w, 0, sizeof(*w));
	if (ferry__when_scan(s, n, FERRY_WHEN_DATE, &r) != 0 || r.end != s + n || r.bc == 2)
		return -1;
	if (r.nyear < 4 || r.nyear > 7 || r.nmonth != 2 || r.nday != 2 || r.month < 1 || r.month > 12 ||
	    r.day < 1 || r.day > 31)
		return -1;
	w->y = r.bc ? 1 - (long)r.year : (long)r.year;
	w->mo = (long)r.month;
	w->d = (long)r.day;
	if (r.has_time && time_of(&r, w) != 0)
		return -1;
	w->has_time = r.has_time;
	if (r.zone && zone_of(&r, &w->zone) != 0)
		return -1;
	w->has_zone = r.zone != 0;
	return 0;
}

static int put_when(ferry_buf *out, int tag, const when *w0, int to_utc)
{
	when w = *w0;
	/* Through the calendar: a zone (to UTC), and 24:00:00 or a leap second, which the engines
	 * store as the next day or minute. */
	if (!to_utc)
		w.zone = 0;
	if (tag != CELL_DATE && (w.zone || w.h == 24 || w.sec == 60)) {
		long long t = (long long)ferry__days_from_civil(w.y, w.mo, w.d) * 86400 + w.h * 3600 +
		              w.mi * 60 + w.sec - w.zone;
		long long dd = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
		long long r = t - dd * 86400;
		int64_t y, mo, d;
		ferry__civil_from_days(dd, &y, &mo, &d);
		w.y = (long)y;
		w.mo = (long)mo;
		w.d = (long)d;
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
	return ferry_verify__put_tag_len(out, tag, t, (size_t)k);
}

static int canon_when(ferry_buf *out, ferry_type t, const ferry_value *v)
{
	if (!textlike(v))
		return put_raw(out, v);
	const char *s = v->v.s;
	size_t n = v->len;
	if (t != FERRY_TIME && (ieq(s, n, "infinity") || ieq(s, n, "+infinity") || ieq(s, n, "-infinity")))
		return ferry_verify__put_tag_len(out, t == FERRY_DATE          ? CELL_DATE
		                                      : t == FERRY_TIMESTAMPTZ ? CELL_TSTZ : CELL_TS,
		                                 s[0] == '-' ? "-infinity" : "infinity", s[0] == '-' ? 9 : 8);
	when w;
	if (t == FERRY_TIME) {
		ferry_when r;
		memset(&w, 0, sizeof(w));
		if (ferry__when_scan(s, n, FERRY_WHEN_TIME, &r) != 0 || r.time_end != s + n || time_of(&r, &w) != 0)
			return put_raw(out, v);
		char b[48];
		int k = snprintf(b, sizeof(b), "%02ld:%02ld:%02ld%s%s", w.h, w.mi, w.sec, w.frac[0] ? "." : "",
		                 w.frac);
		return ferry_verify__put_tag_len(out, CELL_TIME, b, (size_t)k);
	}
	if (parse_when(s, n, &w) != 0)
		return put_raw(out, v);
	/* A midnight without a zone is its date: a date column takes it without loss. */
	if (t == FERRY_DATE)
		return w.has_zone || (w.has_time && (w.h || w.mi || w.sec || w.frac[0]))
		           ? put_raw(out, v) : put_when(out, CELL_DATE, &w, 0);
	if (t == FERRY_TIMESTAMP)
		return w.has_zone ? put_raw(out, v) : put_when(out, CELL_TS, &w, 0);
	/* timestamptz: a text without a zone is read as UTC, as ferry's writers store it. */
	return put_when(out, CELL_TSTZ, &w, 1);
}

/* ---- the other types ------------------------------------------------------------------ */

static int canon_uuid(ferry_buf *out, const ferry_value *v)
{
	uint8_t u[16];
	if (v->type == FERRY_BLOB && v->len == 16) {
		memcpy(u, v->v.b, 16);
	} else if (!textlike(v) || ferry__uuid_parse(v->v.s, v->len, u) != 0) {
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
	int rc = d.failed ? FERRY_ENOMEM
	         : ferry_verify__put_tag_len(out, CELL_JSON, d.data ? d.data : "", d.len);
	ferry_buf_free(&d);
	return rc;
}

/* A whole integer's text, and nothing else: no blanks, no fraction. */
static int text_int(const char *s, size_t n, int64_t *out)
{
	size_t used;
	return ferry__int_parse(s, n, out, &used) == 0 && used == n ? 0 : -1;
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

static int canon_int(ferry_buf *out, const ferry_value *v)
{
	if (v->type == FERRY_INT || v->type == FERRY_BOOL)
		return ferry_verify__put_int(out, v->v.i);
	if (v->type == FERRY_FLOAT && v->v.f == floor(v->v.f) && fabs(v->v.f) < 9.2e18)
		return ferry_verify__put_int(out, (int64_t)v->v.f);
	int64_t x;
	if (textlike(v) && text_int(v->v.s, v->len, &x) == 0)
		return ferry_verify__put_int(out, x);
	return put_raw(out, v);
}

static int canon_float(ferry_buf *out, const ferry_value *v)
{
	if (v->type == FERRY_FLOAT)
		return ferry_verify__put_float(out, v->v.f);
	if (v->type == FERRY_INT || v->type == FERRY_BOOL)
		return ferry_verify__put_float(out, (double)v->v.i);
	double d;
	if (textlike(v) && text_float(v->v.s, v->len, &d) == 0)
		return ferry_verify__put_float(out, d);
	return put_raw(out, v);
}

static int canon_numeric(ferry_buf *out, const ferry_value *v)
{
	char tmp[64];
	if (v->type == FERRY_INT || v->type == FERRY_BOOL) {
		int k = snprintf(tmp, sizeof(tmp), "%lld", (long long)v->v.i);
		return ferry_verify__put_tag_len(out, CELL_DEC, tmp, (size_t)k);
	}
	if (v->type == FERRY_FLOAT) {
		if (isnan(v->v.f))
			return ferry_verify__put_tag_len(out, CELL_DEC, "NaN", 3);
		if (isinf(v->v.f))
			return v->v.f > 0 ? ferry_verify__put_tag_len(out, CELL_DEC, "Infinity", 8)
			                  : ferry_verify__put_tag_len(out, CELL_DEC, "-Infinity", 9);
		dbl_text(tmp, sizeof(tmp), v->v.f);
		return put_dec_text(out, tmp, strlen(tmp), v);
	}
	if (textlike(v))
		return put_dec_text(out, v->v.s, v->len, v);
	return put_raw(out, v);
}

/* Untyped (SQLite without a type, bytea): numbers stay numbers, the rest is bytes. */
static int canon_blob(ferry_buf *out, const ferry_value *v)
{
	if (v->type == FERRY_INT || v->type == FERRY_BOOL)
		return ferry_verify__put_int(out, v->v.i);
	if (v->type == FERRY_FLOAT)
		return ferry_verify__put_float(out, v->v.f);
	return ferry_verify__put_tag_len(out, CELL_BYTES, v->v.b, v->len);
}

/* Text: as it is, and other values as the target engine would write them as text. */
static int canon_text(ferry_buf *out, const ferry_value *v, unsigned flags)
{
	if (textlike(v) || v->type == FERRY_BLOB)
		return ferry_verify__put_tag_len(out, CELL_TEXT, v->v.s, v->len);
	if (v->type == FERRY_FLOAT && (flags & CANON_SQLITE_TEXT) && isfinite(v->v.f)) {
		char tmp[64];
		sqlite_real_text(tmp, sizeof(tmp), v->v.f);
		return ferry_verify__put_tag_len(out, CELL_TEXT, tmp, strlen(tmp));
	}
	ferry_buf s = FERRY_BUF_INIT;
	int rc = scalar_text(&s, v);
	if (rc == 0)
		rc = ferry_verify__put_tag_len(out, CELL_TEXT, s.data ? s.data : "", s.len);
	ferry_buf_free(&s);
	return rc ? FERRY_ENOMEM : 0;
}

int ferry__canon_cell_ex(ferry_buf *out, ferry_type t, const ferry_value *v, unsigned flags)
{
	if (v->type == FERRY_NULL)
		return ferry_buf_add(out, (const uint8_t[]){CELL_NULL}, 1) ? FERRY_ENOMEM : 0;
	switch (t) {
	case FERRY_INT: return canon_int(out, v);
	case FERRY_FLOAT: return canon_float(out, v);
	case FERRY_NUMERIC: return canon_numeric(out, v);
	case FERRY_BOOL: return canon_bool(out, v);
	case FERRY_DATE: case FERRY_TIME: case FERRY_TIMESTAMP: case FERRY_TIMESTAMPTZ:
		return canon_when(out, t, v);
	case FERRY_UUID: return canon_uuid(out, v);
	case FERRY_JSON: return canon_json(out, v);
	case FERRY_BLOB: return canon_blob(out, v);
	default: return canon_text(out, v, flags);
	}
}
