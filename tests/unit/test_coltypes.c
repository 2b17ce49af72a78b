/* test_coltypes.c — src/coltypes.c: the names a plan's type: takes, the profile of a column's
 * values and the narrowest type holding them all (docs/ENGINES.md, "Types from the values"). */
#include <stdlib.h>
#include "check.h"
#include "ferry_int.h"

static void test_parse(void)
{
	static const struct { const char *in, *out; ferry_type t; } ok[] = {
		{"bigint", "bigint", FERRY_INT},       {"INT", "integer", FERRY_INT},
		{"int2", "smallint", FERRY_INT},       {"Double  Precision", "double precision", FERRY_FLOAT},
		{"float4", "real", FERRY_FLOAT},       {"decimal(10, 2)", "numeric(10,2)", FERRY_NUMERIC},
		{"numeric(5)", "numeric(5)", FERRY_NUMERIC}, {"numeric", "numeric", FERRY_NUMERIC},
		{"character varying(20)", "varchar(20)", FERRY_TEXT}, {"varchar", "text", FERRY_TEXT},
		{"blob", "bytea", FERRY_BLOB},         {"bool", "boolean", FERRY_BOOL},
		{"timestamptz", "timestamptz", FERRY_TIMESTAMPTZ}, {"jsonb", "jsonb", FERRY_JSON},
	};
	for (size_t i = 0; i < FERRY_ARRAY_LEN(ok); i++) {
		char out[64];
		ferry_type t = FERRY_NULL;
		CHECK_INT(ferry__coltype_parse(ok[i].in, out, sizeof(out), &t), 0);
		CHECK_STR(out, ok[i].out);
		CHECK_INT(t, ok[i].t);
	}
	static const char *const bad[] = {"money", "integr", "varchar(0)", "numeric(2,3)",
	                                  "bigint(5)", "numeric(1,2,3)", "text(", "", "numeric(x)"};
	for (size_t i = 0; i < FERRY_ARRAY_LEN(bad); i++) {
		char out[64];
		ferry_type t;
		CHECK_INT(ferry__coltype_parse(bad[i], out, sizeof(out), &t), -1);
	}
}

static ferry_value vi(int64_t i) { ferry_value v = {.type = FERRY_INT}; v.v.i = i; return v; }
static ferry_value vf(double f) { ferry_value v = {.type = FERRY_FLOAT}; v.v.f = f; return v; }
static ferry_value vb(const char *b) { ferry_value v = {.type = FERRY_BLOB, .len = (uint32_t)strlen(b)}; v.v.b = (const uint8_t *)b; return v; }
static ferry_value vt(const char *s) { ferry_value v = {.type = FERRY_TEXT, .len = (uint32_t)strlen(s)}; v.v.s = s; return v; }

/* The type chosen for a column declared decl holding the n values of vs; why said or not. */
static void chose(const char *decl, const ferry_value *vs, size_t n, const char *want, int noted)
{
	ferry_column c = {.name = "c", .decl_type = (char *)decl, .type = ferry__type_from_decl(decl)};
	ferry_colprof p;
	ferry__colprof_init(&p);
	p.want_digits = c.type == FERRY_NUMERIC;
	for (size_t i = 0; i < n; i++)
		ferry__colprof_add(&p, &vs[i]);
	char out[64];
	const char *why = NULL;
	ferry__coltype_choose(&c, &p, out, sizeof(out), &why);
	if (!CHECK_STR(out, want) || !CHECK_INT(why != NULL, noted))
		fprintf(stderr, "    declared %s (why: %s)\n", decl, why ? why : "-");
}

static void test_choose(void)
{
	chose("", (ferry_value[]){vi(1), vi(-9000000000)}, 2, "bigint", 1);
	chose("INTEGER", (ferry_value[]){vi(1), vi(2)}, 2, "bigint", 0);
	chose("INTEGER", (ferry_value[]){vi(7), vt("seven")}, 2, "text", 1);
	chose("INTEGER", (ferry_value[]){vi(7), vf(2.5)}, 2, "double precision", 1);
	chose("INTEGER", (ferry_value[]){vi(9007199254740993LL), vf(2.5)}, 2, "numeric", 1);
	chose("INT4", (ferry_value[]){vi(2147483647)}, 1, "integer", 0);
	chose("INT4", (ferry_value[]){vi(2147483648LL)}, 1, "bigint", 1);
	chose("INT2", (ferry_value[]){vi(-32768)}, 1, "smallint", 0);
	chose("NUMERIC(10,2)", (ferry_value[]){vi(7), vf(12.5), vf(99999999.99)}, 3, "numeric(10,2)", 0);
	chose("NUMERIC(10,2)", (ferry_value[]){vf(1.005)}, 1, "numeric", 1);
	chose("DECIMAL(4,1)", (ferry_value[]){vi(1000)}, 1, "numeric", 1);
	chose("NUMERIC(4,1)", (ferry_value[]){vi(999)}, 1, "numeric(4,1)", 0);
	chose("STRING", (ferry_value[]){vt("x")}, 1, "text", 1);
	chose("tstzrange", (ferry_value[]){vt("[2020-01-01,2020-02-01)")}, 1, "text", 1);
	chose("BOOLEAN", (ferry_value[]){vi(0), vi(1)}, 2, "boolean", 0);
	chose("BOOLEAN", (ferry_value[]){vi(0), vi(2)}, 2, "bigint", 1);
	chose("REAL", (ferry_value[]){vf(0.5), vi(3)}, 2, "double precision", 0);
	chose("CHAR(3)", (ferry_value[]){vt("ab"), vt("abc")}, 2, "varchar(3)", 1);
	chose("VARCHAR(5)", (ferry_value[]){vt("h\xc3\xa9llo")}, 1, "varchar(5)", 0);
	chose("VARCHAR(3)", (ferry_value[]){vt("abcd")}, 1, "text", 1);
	chose("VARCHAR(3)", NULL, 0, "varchar(3)", 0);
	chose("NUMERIC(8,2)", NULL, 0, "numeric(8,2)", 0);
	chose("DATETIME", (ferry_value[]){vt("2017-08-08"), vt("2017-08-09")}, 2, "date", 1);
	chose("DATETIME", (ferry_value[]){vt("2017-08-08"), vt("2017-08-09 10:00:00")}, 2, "text", 1);
	chose("DATETIME", (ferry_value[]){vt("2017-08-09 10:00:00"), vt("1950-06-30 23:59:59.25")}, 2, "timestamp", 0);
	chose("DATETIME", (ferry_value[]){vt("2017-08-09 10:00:00.250")}, 1, "text", 1); /* PostgreSQL writes .25 */
	chose("DATE", (ferry_value[]){vt("2021-02-30")}, 1, "text", 1);
	chose("TIME", (ferry_value[]){vt("24:00:00"), vt("12:30:00.5")}, 2, "time", 0);
	chose("TIMESTAMPTZ", (ferry_value[]){vt("2020-01-01 10:00:00+00")}, 1, "timestamptz", 0);
	chose("UUID", (ferry_value[]){vt("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")}, 1, "uuid", 0);
	chose("UUID", (ferry_value[]){vt("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11")}, 1, "text", 1);
	chose("", (ferry_value[]){vb("\x01\x02")}, 1, "bytea", 0);
	chose("TEXT", (ferry_value[]){vt("\xff" "A"), vt("\x80")}, 2, "bytea", 1);
	chose("TEXT", (ferry_value[]){vt("\xff" "A"), vt("fine")}, 2, "text", 0);
	chose("", (ferry_value[]){vb("\x01"), vi(3)}, 2, "bigint", 1);
	chose("JSON", (ferry_value[]){vt("{}")}, 1, "jsonb", 0);
	/* values a strictly typed engine typed */
	ferry_value d = vt("2020-01-01"), bo = vi(1), dec = vt("1.50");
	d.type = FERRY_DATE;
	bo.type = FERRY_BOOL;
	dec.type = FERRY_NUMERIC;
	chose("", &d, 1, "date", 1);
	chose("", &bo, 1, "boolean", 1);
	chose("", &dec, 1, "numeric", 1);
	/* NaN and infinities never fit a precision */
	chose("NUMERIC(10,2)", (ferry_value[]){vf(1.0 / 0.0)}, 1, "numeric", 1);
}

int main(void)
{
	test_parse();
	test_choose();
	return check_summary();
}
