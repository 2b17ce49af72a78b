/* test_util.c — the shared parsers of src/util (ferry_int.h): UTF-8, hex and UUIDs, varints,
 * decimals and integers, the calendar and date/time text. Each is checked on its edges, and
 * UTF-8 and the calendar against independent references over whole ranges. */
#include <stdlib.h>
#include <string.h>
#include "ferry_int.h"
#include "check.h"

/* ---- UTF-8 ------------------------------------------------------------------------------ */

/* The reference: decode one code point the long way and judge it by RFC 3629's rules. */
static int ref_utf8_valid(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		uint8_t c = s[i];
		size_t k = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3
		         : (c & 0xF8) == 0xF0 ? 4 : 0;
		if (k == 0 || i + k > n || c == 0)
			return 0;
		uint32_t cp = k == 1 ? c : k == 2 ? c & 0x1Fu : k == 3 ? c & 0x0Fu : c & 0x07u;
		for (size_t j = 1; j < k; j++) {
			if ((s[i + j] & 0xC0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + j] & 0x3Fu);
		}
		static const uint32_t least[5] = {0, 0, 0x80, 0x800, 0x10000};
		if (cp < least[k] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return 0;
		i += k;
	}
	return 1;
}

static int valid(const char *s)
{
	return ferry__utf8_valid((const uint8_t *)s, strlen(s));
}

static void test_utf8(void)
{
	CHECK(valid("") && valid("plain") && valid("z\xc3\xa9") && valid("\xe2\x82\xac"));
	CHECK(valid("\xf0\x9f\x9a\xa2") && valid("\xf4\x8f\xbf\xbf"));   /* U+1F6A2, U+10FFFF */
	CHECK(!valid("\xc0\x80") && !valid("\xc1\xbf"));                  /* overlong 2-byte */
	CHECK(!valid("\xe0\x80\x80") && !valid("\xe0\x9f\xbf"));          /* overlong 3-byte */
	CHECK(!valid("\xf0\x80\x80\x80") && !valid("\xf0\x8f\xbf\xbf"));  /* overlong 4-byte */
	CHECK(!valid("\xed\xa0\x80") && !valid("\xed\xbf\xbf"));          /* surrogates */
	CHECK(valid("\xed\x9f\xbf") && valid("\xee\x80\x80"));            /* either side of them */
	CHECK(!valid("\xf4\x90\x80\x80") && !valid("\xf5\x80\x80\x80"));  /* past U+10FFFF */
	CHECK(!valid("\x80") && !valid("\xc3") && !valid("\xe2\x82") && !valid("a\xf0\x9f\x9a"));
	CHECK(!ferry__utf8_valid((const uint8_t *)"a\0b", 3));
	/* Every sequence of up to three bytes, and four-byte ones around every boundary, agree
	 * with the reference. */
	int agree = 1;
	uint8_t b[4];
	for (uint32_t x = 0; x < (1u << 24) && agree; x++) {
		b[0] = (uint8_t)(x >> 16);
		b[1] = (uint8_t)(x >> 8);
		b[2] = (uint8_t)x;
		for (size_t n = 1; n <= 3 && agree; n++)
			agree = ferry__utf8_valid(b, n) == ref_utf8_valid(b, n);
	}
	static const uint8_t leads[] = {0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xf8};
	for (size_t l = 0; l < FERRY_ARRAY_LEN(leads) && agree; l++)
		for (uint32_t x = 0; x < (1u << 24) && agree; x += 7) {
			b[0] = leads[l];
			b[1] = (uint8_t)(x >> 16);
			b[2] = (uint8_t)(x >> 8);
			b[3] = (uint8_t)x;
			agree = ferry__utf8_valid(b, 4) == ref_utf8_valid(b, 4);
		}
	CHECK(agree);
	CHECK_INT(ferry__utf8_chars((const uint8_t *)"z\xc3\xa9\xf0\x9f\x9a\xa2", 7), 3);
	/* A cut never splits a character: "é" is two bytes from byte 1. */
	const uint8_t *s = (const uint8_t *)"z\xc3\xa9x";
	CHECK_INT(ferry__utf8_cut(s, 4, 10), 4);
	CHECK_INT(ferry__utf8_cut(s, 4, 2), 1);
	CHECK_INT(ferry__utf8_cut(s, 4, 3), 3);
	CHECK_INT(ferry__utf8_cut((const uint8_t *)"\xc3\xa9", 2, 1), 0);
	/* Escaped for messages and reject reasons: every byte said, valid UTF-8 kept as is. */
	struct { const char *in; size_t n; const char *out; } esc[] = {
		{"plain \xc3\xa9t\xc3\xa9", 11, "plain \xc3\xa9t\xc3\xa9"},
		{"a\xff" "b\xc3(", 5, "a\\xffb\\xc3("},
		{"\xed\xa0\x80", 3, "\\xed\\xa0\\x80"},
		{"a\0b", 3, "a\\x00b"},
		{"line\nnext\\", 10, "line\\x0anext\\\\"},
		{"\xf4\x90\x80\x80", 4, "\\xf4\\x90\\x80\\x80"},
	};
	for (size_t i = 0; i < FERRY_ARRAY_LEN(esc); i++) {
		ferry_buf eb = FERRY_BUF_INIT;
		CHECK(ferry__utf8_escape(&eb, esc[i].in, esc[i].n) == 0);
		if (!CHECK(eb.data && strcmp(eb.data, esc[i].out) == 0))
			printf("  escape #%zu = %s\n", i, eb.data ? eb.data : "(null)");
		ferry_buf_free(&eb);
	}
	ferry_buf j = FERRY_BUF_INIT;
	CHECK(ferry_buf_json_str(&j, "\xc3\xa9\xff\\", 4) == 0);
	CHECK(j.data && strcmp(j.data, "\"\xc3\xa9\\\\xff\\\\\"") == 0);
	ferry_buf_free(&j);
}

/* ---- hex and UUIDs ------------------------------------------------------------------------ */

static void test_hex(void)
{
	CHECK_INT(ferry__hex_digit('0'), 0);
	CHECK_INT(ferry__hex_digit('9'), 9);
	CHECK_INT(ferry__hex_digit('a'), 10);
	CHECK_INT(ferry__hex_digit('F'), 15);
	CHECK_INT(ferry__hex_digit('g'), -1);
	CHECK_INT(ferry__hex_digit('/'), -1);
	CHECK_INT(ferry__hex_digit(0), -1);
	uint8_t out[4] = {0};
	CHECK(ferry__hex_decode(out, "00ff7a10", 4) == 0 && out[0] == 0 && out[1] == 0xff &&
	      out[2] == 0x7a && out[3] == 0x10);
	/* ferry writes lower case: upper case, odd digits and short text are damage */
	memset(out, 0x55, sizeof(out));
	CHECK(ferry__hex_decode(out, "00FF", 2) == -1);
	CHECK(out[0] == 0 && out[1] == 0x55); /* nothing half-written */
	CHECK(ferry__hex_decode(out, "0g", 1) == -1);
	CHECK(ferry__hex_decode(out, "ab", 2) == -1); /* the NUL is not a digit */
	char hex[9];
	ferry__hex_encode(hex, (const uint8_t[]){0x00, 0xff, 0x7a, 0x10}, 4);
	CHECK_STR(hex, "00ff7a10");
	ferry_buf b = FERRY_BUF_INIT;
	CHECK(ferry_buf_puts(&b, "x") == 0 && ferry_buf_hex(&b, "\x01\xab", 2) == 0);
	CHECK(ferry_buf_hex(&b, "", 0) == 0);
	CHECK_STR(b.data, "x01ab");
	ferry_buf_free(&b);

	static const uint8_t want[16] = {0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0,
	                                 0x0f, 0xed, 0xcb, 0xa9, 0x87, 0x65, 0x43, 0x21};
	static const char *const good[] = {
		"12345678-9abc-def0-0fed-cba987654321", "123456789ABCDEF00FEDCBA987654321",
		"{12345678-9ABC-def0-0fed-cba987654321}", "{123456789abcdef00fedcba987654321}"};
	for (size_t i = 0; i < FERRY_ARRAY_LEN(good); i++) {
		uint8_t u[16];
		CHECK(ferry__uuid_parse(good[i], strlen(good[i]), u) == 0 && memcmp(u, want, 16) == 0);
	}
	static const char *const bad[] = {
		"12345678-9abc-def0-0fed-cba98765432",    /* 35 */
		"123456789-abc-def0-0fed-cba987654321",   /* a dash out of place */
		"12345678x9abc-def0-0fed-cba987654321",
		"12345678-9abc-def0-0fed-cba98765432g", "123456789abcdef00fedcba98765432",
		"{12345678-9abc-def0-0fed-cba987654321", "", "{}"};
	for (size_t i = 0; i < FERRY_ARRAY_LEN(bad); i++) {
		uint8_t u[16];
		CHECK(ferry__uuid_parse(bad[i], strlen(bad[i]), u) == -1);
	}
	char t[37];
	CHECK_INT(ferry__uuid_format(t, want), 36);
	CHECK_STR(t, "12345678-9abc-def0-0fed-cba987654321");
}

/* ---- varints --------------------------------------------------------------------------- */

static int get(const uint8_t *d, size_t n, uint64_t *v, size_t *pos)
{
	*pos = 0;
	return ferry__varint_get(d, n, pos, v);
}

static void test_varint(void)
{
	static const uint64_t vals[] = {0, 1, 127, 128, 300, 16383, 16384, UINT64_C(1) << 35,
	                                (UINT64_C(1) << 63) - 1, UINT64_C(1) << 63, UINT64_MAX};
	static const size_t lens[] = {1, 1, 1, 2, 2, 2, 3, 6, 9, 10, 10};
	for (size_t i = 0; i < FERRY_ARRAY_LEN(vals); i++) {
		uint8_t b[10];
		size_t n = ferry__varint_put(b, vals[i]), pos;
		uint64_t v = 0;
		CHECK_INT(n, lens[i]);
		CHECK_INT(ferry__varint_len(vals[i]), lens[i]);
		CHECK(get(b, n, &v, &pos) == 0 && v == vals[i] && pos == n);
		CHECK(n == 1 || get(b, n - 1, &v, &pos) == -1); /* cut short */
	}
	uint64_t v = 7;
	size_t pos;
	/* UINT64_MAX's tenth byte is 1; 2 would pass 2^64 */
	const uint8_t over[10] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
	CHECK(get(over, 10, &v, &pos) == -1);
	const uint8_t eleven[11] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x81, 0x00};
	CHECK(get(eleven, 11, &v, &pos) == -1);
	/* one value, one encoding: 0 as two bytes, 1 as three */
	CHECK(get((const uint8_t[]){0x80, 0x00}, 2, &v, &pos) == -1);
	CHECK(get((const uint8_t[]){0x81, 0x80, 0x00}, 3, &v, &pos) == -1);
	CHECK(get((const uint8_t[]){0x80}, 0, &v, &pos) == -1);
	CHECK_INT(v, 7); /* untouched on failure */
	/* zigzag */
	CHECK(ferry__zigzag(0) == 0 && ferry__zigzag(-1) == 1 && ferry__zigzag(1) == 2);
	CHECK(ferry__zigzag(INT64_MAX) == UINT64_MAX - 1 && ferry__zigzag(INT64_MIN) == UINT64_MAX);
	static const int64_t ints[] = {0, -1, 1, -64, 64, INT64_MIN, INT64_MAX, -1234567890123};
	for (size_t i = 0; i < FERRY_ARRAY_LEN(ints); i++)
		CHECK(ferry__unzigzag(ferry__zigzag(ints[i])) == ints[i]);
	/* fixed-width little-endian fields */
	uint8_t le[8] = {0};
	ferry__put_le(le, UINT64_C(0x0102030405060708), 8);
	CHECK(le[0] == 8 && le[7] == 1);
	CHECK(ferry__get_le(le, 8) == UINT64_C(0x0102030405060708));
	CHECK(ferry__get_le(le, 2) == 0x0708);
	ferry__put_le(le, 0xabcdef, 2); /* only n bytes: the rest stays */
	CHECK(le[0] == 0xef && le[1] == 0xcd && le[2] == 6);
}

/* ---- decimals and integers -------------------------------------------------------------- */

static const char *norm(const char *s)
{
	static char out[8192];
	ferry_buf b = FERRY_BUF_INIT;
	int rc = ferry__dec_normalize(&b, s, strlen(s));
	snprintf(out, sizeof(out), "%s", rc == 0 ? (b.data ? b.data : "") : rc == -1 ? "(refused)" : "(error)");
	ferry_buf_free(&b);
	return out;
}

static void test_decimal(void)
{
	ferry_dec d;
	CHECK(ferry__dec_parse("-12.50e+3", 9, &d) == 0 && d.neg && !d.special && d.il == 2 &&
	      d.fl == 2 && d.exp == 3);
	long hi = 0, lo = 0;
	CHECK(ferry__dec_range(&d, &hi, &lo) == 1 && hi == 4 && lo == 2); /* 12500 */
	CHECK(ferry__dec_at(&d, 4) == 1 && ferry__dec_at(&d, 3) == 2 && ferry__dec_at(&d, 2) == 5 &&
	      ferry__dec_at(&d, 1) == 0 && ferry__dec_at(&d, 9) == 0);
	CHECK(ferry__dec_parse("0.000", 5, &d) == 0 && ferry__dec_range(&d, &hi, &lo) == 0);
	CHECK(ferry__dec_parse("-0", 2, &d) == 0 && d.neg && ferry__dec_range(&d, &hi, &lo) == 0);
	CHECK(ferry__dec_parse("inf", 3, &d) == 0 && d.special == 'I');
	CHECK(ferry__dec_parse("-INFINITY", 9, &d) == 0 && d.special == 'J');
	CHECK(ferry__dec_parse("nan", 3, &d) == 0 && d.special == 'N');
	CHECK(ferry__dec_parse("1e99999999999", 13, &d) == 0 && d.exp >= 100000000); /* saturates */
	static const char *const refused[] = {"", "+", "-", ".", "e5", ".e5", "1e", "1e+", "1.2.3",
	                                      "1 2", "0x10", "1,5", "--1", "1e5.5"};
	for (size_t i = 0; i < FERRY_ARRAY_LEN(refused); i++)
		CHECK(ferry__dec_parse(refused[i], strlen(refused[i]), &d) == -1);
	/* normalized: '-0' has no sign, exponents are applied, zeros go */
	CHECK_STR(norm("-0"), "0");
	CHECK_STR(norm("-0.000e7"), "0");
	CHECK_STR(norm("+.5"), "0.5");
	CHECK_STR(norm("1."), "1");
	CHECK_STR(norm("-1.2345E2"), "-123.45");
	CHECK_STR(norm("1.2345e-2"), "0.012345");
	CHECK_STR(norm("12e3"), "12000");
	CHECK_STR(norm("0012.3400"), "12.34");
	CHECK_STR(norm(" \t42\n"), "42");
	CHECK_STR(norm("-Inf"), "-Infinity");
	CHECK_STR(norm("1e99999"), "(refused)");   /* past 4096 digits */
	CHECK_STR(norm("0e99999"), "0");
	CHECK_STR(norm("0e100000"), "(refused)");  /* the exponent itself is too large */
	CHECK_INT(strlen(norm("1e4095")), 4096);   /* 4096 digits: kept */
	CHECK_STR(norm("1e4096"), "(refused)");
	CHECK_INT(strlen(norm("1e-4097")), 4099);  /* "0.", 4096 zeros and the 1 */
	CHECK_STR(norm("1e-4098"), "(refused)");

	int64_t v = 0;
	size_t used = 0;
	CHECK(ferry__int_parse("9223372036854775807", 19, &v, &used) == 0 && v == INT64_MAX && used == 19);
	CHECK(ferry__int_parse("-9223372036854775808", 20, &v, &used) == 0 && v == INT64_MIN);
	CHECK(ferry__int_parse("9223372036854775808", 19, &v, &used) == -2);
	CHECK(ferry__int_parse("-9223372036854775809", 20, &v, &used) == -2);
	CHECK(ferry__int_parse("+17x", 4, &v, &used) == 0 && v == 17 && used == 3);
	CHECK(ferry__int_parse("-0", 2, &v, &used) == 0 && v == 0 && used == 2);
	CHECK(ferry__int_parse("00000000000000000000000000000042", 32, &v, &used) == 0 && v == 42);
	v = 5;
	used = 9;
	CHECK(ferry__int_parse("-", 1, &v, &used) == -1 && v == 5 && used == 9);
	CHECK(ferry__int_parse(" 1", 2, &v, &used) == -1);
	CHECK(ferry__int_parse("", 0, &v, &used) == -1);
}

/* ---- the calendar ------------------------------------------------------------------------ */

/* The reference: count days one year at a time from 1970 (slow, plainly right). */
static int64_t ref_days(int64_t y, int m, int d)
{
	int64_t n = 0;
	for (int64_t k = 1970; k < y; k++)
		n += 365 + ferry__is_leap(k);
	for (int64_t k = y; k < 1970; k++)
		n -= 365 + ferry__is_leap(k);
	for (int k = 1; k < m; k++)
		n += ferry__days_in_month(y, k);
	return n + d - 1;
}

static void test_calendar(void)
{
	CHECK(ferry__is_leap(2000) && ferry__is_leap(2024) && ferry__is_leap(0) && ferry__is_leap(-4));
	CHECK(!ferry__is_leap(1900) && !ferry__is_leap(2023) && !ferry__is_leap(-1) && !ferry__is_leap(2100));
	CHECK_INT(ferry__days_in_month(2024, 2), 29);
	CHECK_INT(ferry__days_in_month(1900, 2), 28);
	CHECK_INT(ferry__days_in_month(2000, 2), 29);
	CHECK_INT(ferry__days_in_month(2023, 12), 31);
	CHECK_INT(ferry__days_in_month(2023, 0), 0);
	CHECK_INT(ferry__days_in_month(2023, 13), 0);
	CHECK_INT(ferry__days_from_civil(1970, 1, 1), 0);
	CHECK_INT(ferry__days_from_civil(2000, 1, 1), 10957);       /* PostgreSQL's epoch */
	CHECK_INT(ferry__days_from_civil(-4713, 11, 24), -2440588); /* julian day 0 (4714 BC) */
	CHECK_INT(ferry__days_from_civil(2024, 2, 29) + 1, ferry__days_from_civil(2024, 3, 1));
	/* 24:00:00 of the last day of a year is the next year's first day */
	CHECK_INT(ferry__days_from_civil(2023, 12, 31) + 1, ferry__days_from_civil(2024, 1, 1));
	/* a day past its month's end counts on */
	CHECK_INT(ferry__days_from_civil(2023, 2, 30), ferry__days_from_civil(2023, 3, 2));
	int agree = 1;
	for (int64_t y = -2000; y <= 2500 && agree; y += 7)
		for (int m = 1; m <= 12 && agree; m++) {
			int last = ferry__days_in_month(y, m);
			agree = ferry__days_from_civil(y, m, 1) == ref_days(y, m, 1) &&
			        ferry__days_from_civil(y, m, last) == ref_days(y, m, last);
		}
	CHECK(agree);
	/* and back, over every day of 4000 years around the epoch, and far out */
	for (int64_t z = -800000; z <= 800000 && agree; z++) {
		int64_t y, m, d;
		ferry__civil_from_days(z, &y, &m, &d);
		agree = m >= 1 && m <= 12 && d >= 1 && d <= ferry__days_in_month(y, (int)m) &&
		        ferry__days_from_civil(y, m, d) == z;
	}
	for (int64_t z = -3000000000LL; z <= 3000000000LL && agree; z += 999983) {
		int64_t y, m, d;
		ferry__civil_from_days(z, &y, &m, &d);
		agree = ferry__days_from_civil(y, m, d) == z;
	}
	CHECK(agree);
	int64_t y, m, d;
	ferry__civil_from_days(-1, &y, &m, &d);
	CHECK(y == 1969 && m == 12 && d == 31);
	ferry__civil_from_days(ferry__days_from_civil(0, 2, 29), &y, &m, &d); /* 1 BC was leap */
	CHECK(y == 0 && m == 2 && d == 29);
}

/* ---- dates and times as written ------------------------------------------------------- */

static ferry_when scan(const char *s, int what, int *rc)
{
	ferry_when w;
	*rc = ferry__when_scan(s, strlen(s), what, &w);
	return w;
}

static void test_when(void)
{
	int rc;
	const char *s = "2024-02-29 24:00:00.000100+05:30 BC";
	ferry_when w = scan(s, FERRY_WHEN_DATE, &rc);
	CHECK(rc == 0 && w.end == s + strlen(s));
	CHECK(w.year == 2024 && w.nyear == 4 && w.month == 2 && w.day == 29 && w.has_time);
	CHECK(w.hour == 24 && w.minute == 0 && w.second == 0 && w.nsecond == 2);
	CHECK(w.nfrac == 6 && strncmp(w.frac, "000100", 6) == 0);
	CHECK(w.zone == '+' && !w.zone_neg && w.zone_colons == 1 && w.zone_f[0] == 5 && w.zone_f[1] == 30);
	CHECK(w.bc == 1 && !w.zone_bad && !w.zone_blank);
	/* digits are counted as written, whatever the reader then allows */
	w = scan("20240-1-2T3:04", FERRY_WHEN_DATE, &rc);
	CHECK(rc == 0 && w.nyear == 5 && w.nmonth == 1 && w.nday == 1 && w.nhour == 1 && w.nsecond == 0);
	CHECK(w.frac == NULL && w.zone == 0);
	/* zones: Z, UTC (any case) after a blank, HHMM as one run, a colon without digits */
	w = scan("2024-01-01 10:00 utc", FERRY_WHEN_DATE, &rc);
	CHECK(rc == 0 && w.zone == 'U' && w.zone_blank && *w.end == '\0');
	w = scan("2024-01-01 10:00-0530", FERRY_WHEN_DATE, &rc);
	CHECK(rc == 0 && w.zone == '+' && w.zone_neg && w.zone_n[0] == 4 && w.zone_f[0] == 530);
	w = scan("2024-01-01 10:00+05:", FERRY_WHEN_DATE, &rc);
	CHECK(rc == 0 && w.zone_bad);
	w = scan("2024-01-01z", FERRY_WHEN_DATE, &rc);
	CHECK(rc == 0 && w.zone == 'Z' && !w.has_time && *w.end == '\0');
	/* BC: its case is told, and it is not a zone */
	w = scan("0044-03-15 Bc", FERRY_WHEN_DATE, &rc);
	CHECK(rc == 0 && w.bc == 2 && w.zone == 0 && *w.end == '\0');
	/* where reading stops */
	w = scan("2024-01-01 10:00 x", FERRY_WHEN_DATE, &rc);
	CHECK(rc == 0 && w.has_time && strcmp(w.end, " x") == 0);
	w = scan("2024-01-01 x", FERRY_WHEN_DATE, &rc);
	CHECK(rc == 0 && !w.has_time && strcmp(w.end, " x") == 0);
	/* a separator, colon or point without digits */
	CHECK(scan("2024--01", FERRY_WHEN_DATE, &rc).nyear == 4 && rc == -1);
	scan("2024-01-01 10:", FERRY_WHEN_DATE, &rc);
	CHECK(rc == -1);
	scan("2024-01-01 10:00:", FERRY_WHEN_DATE, &rc);
	CHECK(rc == -1);
	scan("2024-01-01 10:00:00.", FERRY_WHEN_DATE, &rc);
	CHECK(rc == -1);
	/* a time of day, with what follows it */
	s = "23:59:60.5+02";
	w = scan(s, FERRY_WHEN_TIME, &rc);
	CHECK(rc == 0 && w.second == 60 && w.time_end == s + 10 && w.zone == '+' && *w.end == '\0');
	scan("x10:00", FERRY_WHEN_TIME, &rc);
	CHECK(rc == -1);
	/* a long run of digits is counted, its value stops growing */
	w = scan("123456789012345678901234567890-01-01", FERRY_WHEN_DATE, &rc);
	CHECK(rc == 0 && w.nyear == 30 && w.year > 0);
}

int main(void)
{
	test_utf8();
	test_hex();
	test_varint();
	test_decimal();
	test_calendar();
	test_when();
	return check_summary();
}
