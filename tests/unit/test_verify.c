/* test_verify.c — the canonical cells of ferry verify (src/pipeline/canon.c): values equal by
 * the target column's type are the same bytes, values that differ are not; decimals,
 * timestamps and zones, uuids and json normalized; merge arithmetic exact. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "ferry_int.h"
#include "pipeline/canon.h"
#include "check.h"

static ferry_value vi(int64_t i) { ferry_value v = {.type = FERRY_INT}; v.v.i = i; return v; }
static ferry_value vf(double f) { ferry_value v = {.type = FERRY_FLOAT}; v.v.f = f; return v; }
static ferry_value vt(const char *s)
{
	ferry_value v = {.type = FERRY_TEXT, .len = (uint32_t)strlen(s)};
	v.v.s = s;
	return v;
}
static ferry_value vb(const void *p, size_t n)
{
	ferry_value v = {.type = FERRY_BLOB, .len = (uint32_t)n};
	v.v.b = p;
	return v;
}

/* The cell of v as type t, rendered as JSON (what the report shows). */
static char *cell(ferry_type t, ferry_value v)
{
	ferry_buf c = FERRY_BUF_INIT, j = FERRY_BUF_INIT;
	ferry__canon_cell(&c, t, &v);
	ferry__cell_json(&j, (const uint8_t *)c.data, c.len);
	ferry_buf_free(&c);
	return ferry_buf_detach(&j);
}

static int same(ferry_type t, ferry_value a, ferry_value b)
{
	ferry_buf x = FERRY_BUF_INIT, y = FERRY_BUF_INIT;
	ferry__canon_cell(&x, t, &a);
	ferry__canon_cell(&y, t, &b);
	int eq = ferry__cell_equal((const uint8_t *)x.data, x.len, (const uint8_t *)y.data, y.len);
	ferry_buf_free(&x);
	ferry_buf_free(&y);
	return eq;
}

#define CHECK_CELL(t, v, want)                                                                     \
	do {                                                                                       \
		char *got_ = cell((t), (v));                                                       \
		CHECK_STR(got_, (want));                                                           \
		free(got_);                                                                        \
	} while (0)

static void test_decimals(void)
{
	static const char *const cases[][2] = {
		{"1.50", "1.5"}, {"+001.500", "1.5"}, {"-0.000", "0"}, {"15e-1", "1.5"}, {"1E3", "1000"},
		{".5", "0.5"}, {"-.5e1", "-5"}, {"123456789012345678901234567890", "123456789012345678901234567890"},
		{"-0.000000000000000000000000000001", "-0.000000000000000000000000000001"},
		{"nan", "NaN"}, {"-Infinity", "-Infinity"}, {"0e999999", NULL}, {"1.2.3", NULL}, {"", NULL},
		{"12abc", NULL}, {"1e", NULL}, {" 7 ", "7"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ferry_buf b = FERRY_BUF_INIT;
		int rc = ferry__dec_normalize(&b, cases[i][0], strlen(cases[i][0]));
		if (cases[i][1])
			CHECK_STR(rc == 0 ? b.data : "(refused)", cases[i][1]);
		else
			CHECK(rc == -1);
		ferry_buf_free(&b);
	}
	/* numeric: by value, not scale or storage */
	CHECK(same(FERRY_NUMERIC, vt("1.50"), vf(1.5)));
	CHECK(same(FERRY_NUMERIC, vi(7), vt("7.000")));
	CHECK(same(FERRY_NUMERIC, vf(0.1), vt("0.1")));
	CHECK(!same(FERRY_NUMERIC, vt("1.5"), vt("1.51")));
	CHECK_CELL(FERRY_NUMERIC, vt("12345678901234567890.0123456789"), "\"12345678901234567890.0123456789\"");
	CHECK_CELL(FERRY_NUMERIC, vt("abc"), "\"(text) abc\"");
}

static void test_numbers(void)
{
	CHECK(same(FERRY_INT, vi(1), vf(1.0)));
	CHECK(same(FERRY_INT, vi(-42), vt("-42")));
	CHECK(!same(FERRY_INT, vi(1), vt("01a")));
	CHECK(!same(FERRY_INT, vi(1), vi(2)));
	CHECK(same(FERRY_FLOAT, vf(NAN), vt("NaN")));
	CHECK(same(FERRY_FLOAT, vf(-NAN), vf(NAN)));
	CHECK(same(FERRY_FLOAT, vf(INFINITY), vt("Infinity")));
	CHECK(same(FERRY_FLOAT, vf(2.5), vt("2.5")));
	CHECK(same(FERRY_FLOAT, vf(3), vi(3)));
	CHECK(!same(FERRY_FLOAT, vf(-0.0), vf(0.0)));
	CHECK(!same(FERRY_FLOAT, vf(0.1), vf(0.1f)));
	CHECK_CELL(FERRY_FLOAT, vf(-0.0), "-0.0");
	CHECK_CELL(FERRY_FLOAT, vf(0.1), "0.1");
	CHECK_CELL(FERRY_FLOAT, vf(2), "2.0");
	CHECK_CELL(FERRY_FLOAT, vf(NAN), "\"NaN\"");
	CHECK_CELL(FERRY_INT, vi(INT64_MIN), "-9223372036854775808");
	CHECK(same(FERRY_BOOL, vi(1), vt("true")));
	CHECK(same(FERRY_BOOL, vt("f"), vi(0)));
	CHECK(!same(FERRY_BOOL, vi(2), vi(1)));
}

static void test_text_and_bytes(void)
{
	ferry_value null = {.type = FERRY_NULL};
	CHECK(!same(FERRY_TEXT, null, vt("")));
	CHECK(same(FERRY_TEXT, null, null));
	CHECK(!same(FERRY_TEXT, vt("a"), vt("a ")));
	CHECK(same(FERRY_TEXT, vi(42), vt("42")));
	/* a float in a text column reads as the target engine writes it */
	CHECK_CELL(FERRY_TEXT, vf(100), "\"100\"");
	{
		ferry_buf c = FERRY_BUF_INIT, j = FERRY_BUF_INIT;
		ferry_value f = vf(100);
		ferry__canon_cell_ex(&c, FERRY_TEXT, &f, CANON_SQLITE_TEXT);
		f = vf(1e20);
		ferry__canon_cell_ex(&c, FERRY_TEXT, &f, CANON_SQLITE_TEXT);
		f = vf(0.1);
		ferry__canon_cell_ex(&c, FERRY_TEXT, &f, CANON_SQLITE_TEXT);
		for (size_t off = 0; off < c.len;) {
			size_t n = ferry__cell_size((const uint8_t *)c.data + off, c.len - off);
			ferry__cell_json(&j, (const uint8_t *)c.data + off, n);
			off += n;
		}
		CHECK_STR(j.data, "\"100.0\"\"1.0e+20\"\"0.1\"");
		ferry_buf_free(&c);
		ferry_buf_free(&j);
	}
	/* text that is not UTF-8 is shown as bytes, so the JSON report stays valid */
	CHECK_CELL(FERRY_TEXT, vt("\xff" "A"), "\"(not UTF-8) \\\\xff41\"");
	CHECK_CELL(FERRY_TEXT, vt("\xed\xa0\x80"), "\"(not UTF-8) \\\\xeda080\"");         /* a surrogate */
	CHECK_CELL(FERRY_TEXT, vt("\xe0\x80\x80"), "\"(not UTF-8) \\\\xe08080\"");         /* overlong */
	CHECK_CELL(FERRY_TEXT, vt("\xf4\x90\x80\x80"), "\"(not UTF-8) \\\\xf4908080\"");  /* past U+10FFFF */
	CHECK_CELL(FERRY_TEXT, vt("\xf4\x8f\xbf\xbf"), "\"\xf4\x8f\xbf\xbf\"");             /* U+10FFFF itself */
	CHECK(same(FERRY_BLOB, vb("ab", 2), vt("ab")));
	CHECK(!same(FERRY_BLOB, vb("", 0), null));
	CHECK_CELL(FERRY_BLOB, vb("\x00\xff", 2), "\"\\\\x00ff\"");
	static uint8_t big[100];
	CHECK_CELL(FERRY_BLOB, vb(big, sizeof(big)),
	           "\"\\\\x0000000000000000000000000000000000000000000000000000000000000000... (100 bytes)\"");
	/* A long text is shortened in the report, never inside a character. */
	char long_text[400];
	for (int i = 0; i < 133; i++)
		memcpy(long_text + 3 * i, "\xe4\xb8\xad", 3); /* U+4E2D */
	long_text[399] = '\0';
	char *shown = cell(FERRY_TEXT, vt(long_text));
	CHECK_HAS(shown, "... (399 bytes)");
	CHECK(shown && strlen(shown) == 2 + 198 + strlen("... (399 bytes)"));
	free(shown);
	CHECK(same(FERRY_UUID, vt("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"), vt("{a0eebc999c0b4ef8bb6d6bb9bd380a11}")));
	CHECK(same(FERRY_UUID, vb("\xa0\xee\xbc\x99\x9c\x0b\x4e\xf8\xbb\x6d\x6b\xb9\xbd\x38\x0a\x11", 16),
	           vt("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")));
	CHECK_CELL(FERRY_UUID, vt("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"), "\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\"");
	CHECK(same(FERRY_JSON, vt("{\"b\": [1, 2.5, null], \"a\": \"x\"}"), vt("{\"a\":\"x\",\"b\":[1,2.5,null]}")));
	/* numbers by value, as jsonb compares them, and never through a double */
	CHECK(same(FERRY_JSON, vt("[1.0, 1e2]"), vt("[1,100]")));
	CHECK(!same(FERRY_JSON, vt("{\"amount\": 1234567890.12345678}"), vt("{\"amount\": 1234567890.1234567}")));
	CHECK(!same(FERRY_JSON, vt("9007199254740993.0"), vt("9007199254740992.0")));
	CHECK(same(FERRY_JSON, vt("{\"a\":12345678901234567890}"), vt("{\"a\": 12345678901234567890}")));
	CHECK(!same(FERRY_JSON, vt("[\"5\"]"), vt("[5]")));
	CHECK_CELL(FERRY_JSON, vt("{\"b\": -0.50, \"a\": \"x-1\"}"), "\"{\\\"a\\\":\\\"x-1\\\",\\\"b\\\":-0.5}\"");
	CHECK_CELL(FERRY_JSON, vt("[\"\\u0001\"]"), "\"(text) [\\\"\\\\u0001\\\"]\"");
	CHECK(!same(FERRY_JSON, vt("{\"a\":1}"), vt("{\"a\":2}")));
}

static void test_times(void)
{
	CHECK(same(FERRY_TIMESTAMP, vt("2020-01-02T03:04:05"), vt("2020-01-02 03:04:05.000000")));
	CHECK(!same(FERRY_TIMESTAMP, vt("2020-01-02 03:04:05.5"), vt("2020-01-02 03:04:05.05")));
	CHECK(!same(FERRY_TIMESTAMP, vt("2020-01-02 03:04:05+00"), vt("2020-01-02 03:04:05")));
	CHECK_CELL(FERRY_TIMESTAMP, vt("0044-03-15 12:00:00 BC"), "\"0044-03-15 12:00:00 BC\"");
	CHECK_CELL(FERRY_TIMESTAMPTZ, vt("2020-03-01T00:30:00+01:00"), "\"2020-02-29 23:30:00Z\"");
	CHECK_CELL(FERRY_TIMESTAMPTZ, vt("1969-12-31 23:59:59.999999-0530"), "\"1970-01-01 05:29:59.999999Z\"");
	CHECK_CELL(FERRY_TIMESTAMPTZ, vt("2040-06-30 12:34:56.5Z"), "\"2040-06-30 12:34:56.5Z\"");
	CHECK_CELL(FERRY_TIMESTAMPTZ, vt("0001-01-01 00:30:00+01"), "\"0001-12-31 23:30:00 BCZ\"");
	CHECK(same(FERRY_TIMESTAMPTZ, vt("2100-03-01 13:00:00.123456+01"), vt("2100-03-01 12:00:00.123456+00")));
	CHECK(same(FERRY_TIMESTAMPTZ, vt("2000-01-01 00:00:00"), vt("2000-01-01 00:00:00+00")));
	CHECK(same(FERRY_TIMESTAMPTZ, vt("infinity"), vt("Infinity")));
	CHECK(same(FERRY_DATE, vt("1969-07-20"), vt("1969-07-20")));
	/* a midnight without a zone is its date (a date column takes it without loss) */
	CHECK(same(FERRY_DATE, vt("1969-07-20"), vt("1969-07-20 00:00:00")));
	CHECK(!same(FERRY_DATE, vt("1969-07-20"), vt("1969-07-20 00:00:01")));
	CHECK(!same(FERRY_DATE, vt("1969-07-20"), vt("1969-07-20 00:00:00+00")));
	CHECK(same(FERRY_TIME, vt("12:00"), vt("12:00:00.000")));
	CHECK_CELL(FERRY_TIME, vt("23:59:59.50"), "\"23:59:59.5\"");
	/* 24:00:00 and a leap second are the next day and minute, as the engines store them */
	CHECK(same(FERRY_TIMESTAMPTZ, vt("2020-01-01 24:00:00"), vt("2020-01-02 00:00:00+00")));
	CHECK(same(FERRY_TIMESTAMP, vt("2020-12-31 23:59:60"), vt("2021-01-01 00:00:00")));
	CHECK_CELL(FERRY_DATE, vt("not a date"), "\"(text) not a date\"");
}

/* Merge arithmetic: sums exact, min/max by value. */
static void test_merge_cells(void)
{
	ferry_buf a = FERRY_BUF_INIT, b = FERRY_BUF_INIT, s = FERRY_BUF_INIT, j = FERRY_BUF_INIT;
	ferry_value x = vt("99999999999999999999.99"), y = vt("0.01");
	ferry__canon_cell(&a, FERRY_NUMERIC, &x);
	ferry__canon_cell(&b, FERRY_NUMERIC, &y);
	CHECK(ferry__cell_sum(&s, (const uint8_t *)a.data, a.len, (const uint8_t *)b.data, b.len) == 0);
	ferry__cell_json(&j, (const uint8_t *)s.data, s.len);
	CHECK_STR(j.data, "\"100000000000000000000\"");
	CHECK(ferry__cell_cmp((const uint8_t *)a.data, a.len, (const uint8_t *)b.data, b.len) > 0);
	ferry_buf_reset(&s);
	ferry_buf_reset(&j);
	ferry_buf_reset(&b);
	y = vt("-100000000000000000000.5");
	ferry__canon_cell(&b, FERRY_NUMERIC, &y);
	ferry__cell_sum(&s, (const uint8_t *)a.data, a.len, (const uint8_t *)b.data, b.len);
	ferry__cell_json(&j, (const uint8_t *)s.data, s.len);
	CHECK_STR(j.data, "\"-0.51\"");
	CHECK(ferry__cell_cmp((const uint8_t *)a.data, a.len, (const uint8_t *)b.data, b.len) > 0);
	ferry_buf_reset(&a);
	ferry_buf_reset(&b);
	ferry_buf_reset(&s);
	/* order across types the way the engines order them */
	static const struct {
		ferry_type t;
		ferry_value lo, hi;
	} order[] = {
		{FERRY_UUID, {.type = FERRY_TEXT, .len = 36, .v.s = "00000000-0000-0000-0000-000000000001"},
		 {.type = FERRY_TEXT, .len = 36, .v.s = "ffffffff-0000-0000-0000-000000000000"}},
		{FERRY_DATE, {.type = FERRY_TEXT, .len = 10, .v.s = "9999-12-31"},
		 {.type = FERRY_TEXT, .len = 11, .v.s = "10000-01-01"}},
		{FERRY_DATE, {.type = FERRY_TEXT, .len = 13, .v.s = "0044-03-15 BC"},
		 {.type = FERRY_TEXT, .len = 13, .v.s = "0010-03-15 BC"}},
		{FERRY_TIMESTAMP, {.type = FERRY_TEXT, .len = 9, .v.s = "-infinity"},
		 {.type = FERRY_TEXT, .len = 19, .v.s = "0001-01-01 00:00:00"}},
		{FERRY_BLOB, {.type = FERRY_FLOAT, .v.f = 2.5}, {.type = FERRY_INT, .v.i = 5}},
	};
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		ferry_buf lo = FERRY_BUF_INIT, hi = FERRY_BUF_INIT;
		ferry__canon_cell(&lo, order[i].t, &order[i].lo);
		ferry__canon_cell(&hi, order[i].t, &order[i].hi);
		CHECK(ferry__cell_cmp((const uint8_t *)lo.data, lo.len, (const uint8_t *)hi.data, hi.len) < 0);
		CHECK(ferry__cell_cmp((const uint8_t *)hi.data, hi.len, (const uint8_t *)lo.data, lo.len) > 0);
		ferry_buf_free(&lo);
		ferry_buf_free(&hi);
	}
	{ /* an untyped column: 2 + 0.5 */
		ferry_buf p2 = FERRY_BUF_INIT, ph = FERRY_BUF_INIT, z = FERRY_BUF_INIT, r = FERRY_BUF_INIT;
		ferry_value two = vi(2), half = vf(0.5);
		ferry__canon_cell(&p2, FERRY_BLOB, &two);
		ferry__canon_cell(&ph, FERRY_BLOB, &half);
		CHECK(ferry__cell_sum(&z, (const uint8_t *)p2.data, p2.len, (const uint8_t *)ph.data, ph.len) == 0);
		ferry__cell_json(&r, (const uint8_t *)z.data, z.len);
		CHECK_STR(r.data, "2.5");
		ferry_buf_free(&p2);
		ferry_buf_free(&ph);
		ferry_buf_free(&z);
		ferry_buf_free(&r);
	}
	{ /* numeric sums with NaN and infinities, as PostgreSQL adds them */
		static const char *const sums[][3] = {
			{"NaN", "1", "\"NaN\""}, {"Infinity", "-5", "\"Infinity\""}, {"7", "-Infinity", "\"-Infinity\""},
			{"Infinity", "-Infinity", "\"NaN\""}, {"Infinity", "Infinity", "\"Infinity\""},
		};
		for (size_t i = 0; i < sizeof(sums) / sizeof(sums[0]); i++) {
			ferry_buf p1 = FERRY_BUF_INIT, p2 = FERRY_BUF_INIT, z = FERRY_BUF_INIT, r = FERRY_BUF_INIT;
			ferry_value x1 = vt(sums[i][0]), x2 = vt(sums[i][1]);
			ferry__canon_cell(&p1, FERRY_NUMERIC, &x1);
			ferry__canon_cell(&p2, FERRY_NUMERIC, &x2);
			CHECK(ferry__cell_sum(&z, (const uint8_t *)p1.data, p1.len, (const uint8_t *)p2.data, p2.len) == 0);
			ferry__cell_json(&r, (const uint8_t *)z.data, z.len);
			CHECK_STR(r.data, sums[i][2]);
			ferry_buf_free(&p1);
			ferry_buf_free(&p2);
			ferry_buf_free(&z);
			ferry_buf_free(&r);
		}
	}
	ferry_value m = vi(INT64_MAX), one = vi(1);
	ferry__canon_cell(&a, FERRY_INT, &m);
	ferry__canon_cell(&b, FERRY_INT, &one);
	CHECK(ferry__cell_sum(&s, (const uint8_t *)a.data, a.len, (const uint8_t *)b.data, b.len) == 1);
	CHECK(ferry__cell_cmp((const uint8_t *)b.data, b.len, (const uint8_t *)a.data, a.len) < 0);
	ferry_buf_free(&a);
	ferry_buf_free(&b);
	ferry_buf_free(&s);
	ferry_buf_free(&j);
}

int main(void)
{
	test_decimals();
	test_numbers();
	test_text_and_bytes();
	test_times();
	test_merge_cells();
	return check_summary();
}
