/* value.c — typed values: names, the canonical portable encoding (little-endian, varints;
 * used for stored chunk bounds and row hashes) and renderings for messages and JSON. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "ferry_int.h"

static const char *const type_names[FERRY_TYPE_COUNT] = {
	"null", "integer", "float", "numeric", "text", "blob", "bool",
	"date", "time", "timestamp", "timestamptz", "uuid", "json"};

const char *ferry_type_name(ferry_type t)
{
	return (unsigned)t < FERRY_TYPE_COUNT ? type_names[t] : "unknown";
}

static int is_textlike(int t)
{
	return t == FERRY_NUMERIC || t == FERRY_TEXT || (t >= FERRY_DATE && t <= FERRY_JSON);
}

/* Encoding: per value a type byte, then INT/BOOL: zigzag varint; FLOAT: 8 bytes IEEE-754
 * little-endian (NaN canonicalised, -0.0 kept); text-like and BLOB: varint length + bytes. */
static int put(uint8_t **buf, size_t *len, size_t *cap, const void *p, size_t n)
{
	if (ferry__grow(buf, cap, *len + n, 1) != 0)
		return FERRY_ENOMEM;
	memcpy(*buf + *len, p, n);
	*len += n;
	return 0;
}

static int put_varint(uint8_t **buf, size_t *len, size_t *cap, uint64_t v)
{
	uint8_t tmp[10];
	return put(buf, len, cap, tmp, ferry__varint_put(tmp, v));
}

int ferry_value_encode_row(uint8_t **buf, size_t *len, size_t *cap, const ferry_value *vals,
                           size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const ferry_value *v = &vals[i];
		uint8_t t = v->type;
		if (put(buf, len, cap, &t, 1) != 0)
			return FERRY_ENOMEM;
		int rc = 0;
		if (t == FERRY_INT || t == FERRY_BOOL) {
			rc = put_varint(buf, len, cap, ferry__zigzag(v->v.i));
		} else if (t == FERRY_FLOAT) {
			double d = v->v.f;
			uint64_t bits;
			if (isnan(d))
				bits = 0x7ff8000000000000ULL;
			else
				memcpy(&bits, &d, 8);
			uint8_t le[8];
			ferry__put_le(le, bits, 8);
			rc = put(buf, len, cap, le, 8);
		} else if (t == FERRY_BLOB || is_textlike(t)) {
			rc = put_varint(buf, len, cap, v->len);
			if (rc == 0 && v->len)
				rc = put(buf, len, cap, t == FERRY_BLOB ? (const void *)v->v.b
				                                        : (const void *)v->v.s, v->len);
		} else if (t != FERRY_NULL) {
			return FERRY_EUSAGE;
		}
		if (rc)
			return rc;
	}
	return 0;
}

int ferry_value_decode_row(ferry_value *out, size_t max, const uint8_t *data, size_t len)
{
	size_t pos = 0, n = 0;
	while (pos < len) {
		if (n >= max)
			return FERRY_ECORRUPT;
		ferry_value *v = &out[n];
		memset(v, 0, sizeof(*v));
		uint8_t t = data[pos++];
		v->type = t;
		uint64_t u;
		if (t == FERRY_NULL) {
		} else if (t == FERRY_INT || t == FERRY_BOOL) {
			if (ferry__varint_get(data, len, &pos, &u) != 0)
				return FERRY_ECORRUPT;
			v->v.i = ferry__unzigzag(u);
		} else if (t == FERRY_FLOAT) {
			if (len - pos < 8)
				return FERRY_ECORRUPT;
			uint64_t bits = ferry__get_le(data + pos, 8);
			memcpy(&v->v.f, &bits, 8);
			pos += 8;
		} else if (t == FERRY_BLOB || is_textlike(t)) {
			if (ferry__varint_get(data, len, &pos, &u) != 0 || u > len - pos || u > UINT32_MAX)
				return FERRY_ECORRUPT;
			v->len = (uint32_t)u;
			if (t == FERRY_BLOB)
				v->v.b = data + pos;
			else
				v->v.s = (const char *)data + pos;
			pos += u;
		} else {
			return FERRY_ECORRUPT;
		}
		n++;
	}
	return (int)n;
}

int ferry__value_equal(const ferry_value *a, const ferry_value *b)
{
	if (a->type != b->type)
		return 0;
	switch (a->type) {
	case FERRY_NULL: return 1;
	case FERRY_INT: case FERRY_BOOL: return a->v.i == b->v.i;
	case FERRY_FLOAT:
		if (isnan(a->v.f) && isnan(b->v.f))
			return 1;
		return memcmp(&a->v.f, &b->v.f, 8) == 0;
	case FERRY_BLOB:
		return a->len == b->len && (a->len == 0 || memcmp(a->v.b, b->v.b, a->len) == 0);
	default:
		return a->len == b->len && (a->len == 0 || memcmp(a->v.s, b->v.s, a->len) == 0);
	}
}

int ferry__values_json(ferry_buf *b, const ferry_value *v, size_t n)
{
	ferry_buf_puts(b, "[");
	for (size_t k = 0; k < n; k++) {
		if (k)
			ferry_buf_puts(b, ",");
		ferry__value_json(b, &v[k]);
	}
	return ferry_buf_puts(b, "]");
}

int ferry__value_json(ferry_buf *b, const ferry_value *v)
{
	switch (v->type) {
	case FERRY_NULL: return ferry_buf_puts(b, "null");
	case FERRY_INT: return ferry_buf_printf(b, "%lld", (long long)v->v.i);
	case FERRY_BOOL: return ferry_buf_puts(b, v->v.i ? "true" : "false");
	case FERRY_FLOAT:
		if (!isfinite(v->v.f))
			return ferry_buf_printf(b, "\"%s\"", isnan(v->v.f) ? "NaN" : v->v.f > 0 ? "Infinity" : "-Infinity");
		return ferry_buf_printf(b, "%.17g", v->v.f);
	case FERRY_BLOB: {
		int rc = ferry_buf_puts(b, "\"\\\\x");
		if (rc == 0)
			rc = ferry_buf_hex(b, v->v.b, v->len);
		return rc ? rc : ferry_buf_puts(b, "\"");
	}
	default:
		return ferry_buf_json_str(b, v->v.s, v->len);
	}
}

int ferry__value_text(ferry_buf *b, const ferry_value *v)
{
	switch (v->type) {
	case FERRY_NULL: return ferry_buf_puts(b, "NULL");
	case FERRY_INT: return ferry_buf_printf(b, "%lld", (long long)v->v.i);
	case FERRY_BOOL: return ferry_buf_puts(b, v->v.i ? "true" : "false");
	case FERRY_FLOAT: return ferry_buf_printf(b, "%.17g", v->v.f);
	case FERRY_BLOB: return ferry_buf_printf(b, "<blob of %u bytes>", v->len);
	default: {
		/* Cut on a character, every byte said: the text may be a reject's reason, which
		 * the target must be able to hold exactly (no NUL, no invalid UTF-8). */
		size_t n = v->len > 60 ? ferry__utf8_cut((const uint8_t *)v->v.s, v->len, 57) : v->len;
		int rc = ferry_buf_puts(b, "'");
		if (rc == 0)
			rc = ferry__utf8_escape(b, v->v.s, n);
		if (rc == 0 && n < v->len)
			rc = ferry_buf_puts(b, "...");
		return rc ? rc : ferry_buf_puts(b, "'");
	}
	}
}

void ferry__dbl_shortest(double x, char *out, size_t cap)
{
	/* The fewest significant digits that read back as x ... */
	int p = 1;
	for (; p < 17; p++) {
		snprintf(out, cap, "%.*e", p - 1, x);
		if (strtod(out, NULL) == x)
			break;
	}
	snprintf(out, cap, "%.*e", p - 1, x);
	const char *e = strchr(out, 'e');
	int e10 = e ? atoi(e + 1) : 0;
	/* ... written without an exponent up to 10^17 (100, not 1e+02), with one beyond. */
	int prec = e10 >= 0 && e10 < 17 && e10 + 1 > p ? e10 + 1 : p;
	snprintf(out, cap, "%.*g", prec, x);
}
