/* test_schema_port.c — the pieces that carry a schema across engines, on their edges: short
 * forms of long names (ident.c), expressions said in the other engine's SQL (sqlport.c) and
 * the key range a where bounds (bounds.c). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "check.h"
#include "pipeline/pipeline.h"

static void test_ident_short(void)
{
	char a[64], b[64], c[64];
	const char *x = "amount_in_the_currency_of_the_customer_at_the_time_of_the_order_was_placed";
	const char *y = "amount_in_the_currency_of_the_customer_at_the_time_of_the_order_was_refunded";
	CHECK(ferry__ident_short(a, sizeof(a), "short", 63) == 0);
	CHECK_STR(a, "short");
	CHECK(ferry__ident_short(a, sizeof(a), x, 63) == 1);
	CHECK(strlen(a) == 63);
	CHECK(strncmp(a, x, 54) == 0 && a[54] == '_');
	CHECK(strspn(a + 55, "0123456789abcdef") == 8);
	CHECK(ferry__ident_short(b, sizeof(b), x, 63) == 1);
	CHECK_STR(a, b); /* the same in every call */
	CHECK(ferry__ident_short(c, sizeof(c), y, 63) == 1);
	CHECK(strcmp(a, c) != 0); /* names sharing their first 63 bytes stay apart */
	/* exactly 63 bytes fits as it is */
	char n63[64];
	memset(n63, 'n', 63);
	n63[63] = '\0';
	CHECK(ferry__ident_short(a, sizeof(a), n63, 63) == 0);
	CHECK_STR(a, n63);
	/* never cut inside a character: 53 ASCII bytes, then 2-byte characters */
	char u[200] = "";
	memset(u, 'u', 53);
	u[53] = '\0';
	for (int i = 0; i < 20; i++)
		strcat(u, "\xc3\xa9");
	CHECK(ferry__ident_short(a, sizeof(a), u, 63) == 1);
	CHECK(strlen(a) == 62); /* 53 + one é (2) would be 55 > 54: the é is not split */
	CHECK(ferry__utf8_valid((const uint8_t *)a, strlen(a)));
	CHECK(ferry__ident_short(a, 10, x, 63) == -1); /* too small a buffer */
	char big[200];
	CHECK(ferry__ident_short(big, sizeof(big), x, 0) == 0); /* no limit: kept whole */
	CHECK_STR(big, x);
}

/* Columns of a table (status, qty, email, d) for sqlport; "status" is renamed "state". */
static int cols(void *ud, const char *name, int quoted, const char **to, int *is_bool)
{
	(void)ud;
	static const char *const names[] = {"status", "qty", "email", "d", "Total", "ok"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (quoted ? strcmp(name, names[i]) == 0 : strcasecmp(name, names[i]) == 0) {
			*to = i == 0 ? "state" : i == 3 ? NULL : names[i];
			*is_bool = i == 5;
			return 1;
		}
	return 0;
}

static void port_ok(const char *expr, const char *from, const char *to, const char *want)
{
	char *out = NULL, why[200];
	int rc = ferry__sql_port(&out, expr, from, to, cols, NULL, why, sizeof(why));
	CHECK(rc == 0);
	CHECK_STR(out, want);
	free(out);
}

static void port_no(const char *expr, const char *from, const char *to, const char *why_has)
{
	char *out = NULL, why[200];
	int rc = ferry__sql_port(&out, expr, from, to, cols, NULL, why, sizeof(why));
	CHECK(rc == 1);
	CHECK(out == NULL);
	CHECK_HAS(why, why_has);
}

static void test_sql_port(void)
{
	/* SQLite -> PostgreSQL */
	port_ok("status IN ('new','paid')", "sqlite", "postgres", "\"state\" IN ('new', 'paid')");
	port_ok("qty > 0 AND qty == 1 OR qty != 2", "sqlite", "postgres",
	        "\"qty\" > 0 AND \"qty\" = 1 OR \"qty\" != 2");
	port_ok("lower([email]) LIKE '%@x'", "sqlite", "postgres", "lower(\"email\") LIKE '%@x'");
	port_ok("`Total` IS NOT NULL", "sqlite", "postgres", "\"Total\" IS NOT NULL");
	port_ok("qty BETWEEN 1 AND 9", "sqlite", "postgres", "\"qty\" BETWEEN 1 AND 9");
	port_ok("'it''s' = email", "sqlite", "postgres", "'it''s' = \"email\"");
	port_ok("ok IN (0, 1) AND qty IN (0, 1)", "sqlite", "postgres",
	        "\"ok\" IN (false, true) AND \"qty\" IN (0, 1)");
	port_ok("ok = 1 OR 0 = ok", "sqlite", "postgres", "\"ok\" = true OR 0 = \"ok\"");
	port_ok("ok = 1", "sqlite", "sqlite", "\"ok\" = 1");
	port_no("typeof(qty) = 'integer'", "sqlite", "postgres", "function typeof");
	port_no("email GLOB 'a*'", "sqlite", "postgres", "GLOB");
	port_no("qty IS email", "sqlite", "postgres", "IS between two values");
	port_no("d > 0", "sqlite", "postgres", "column d");
	port_no("nosuch > 0", "sqlite", "postgres", "nosuch");
	port_no("qty > 0 -- comment", "sqlite", "postgres", "comment");
	port_no("email COLLATE NOCASE", "sqlite", "postgres", "COLLATE");
	/* PostgreSQL -> SQLite: its own rendering read back */
	port_ok("(status = ANY (ARRAY['new'::text, 'paid'::text]))", "postgres", "sqlite",
	        "(\"state\" IN ('new', 'paid'))");
	port_ok("((status)::text <> ALL ((ARRAY['a'::character varying, 'b'::character varying])::text[]))",
	        "postgres", "sqlite", "((\"state\") NOT IN ('a', 'b'))");
	port_ok("((qty > 0) AND (\"Total\" >= (0)::numeric))", "postgres", "sqlite",
	        "((\"qty\" > 0) AND (\"Total\" >= (0)))");
	port_ok("(email ~~ '%@x'::text)", "postgres", "sqlite", "(\"email\" LIKE '%@x')");
	port_ok("(char_length(email) < 40)", "postgres", "sqlite", "(length(\"email\") < 40)");
	port_no("(email ~ '^a'::text)", "postgres", "sqlite", "operator ~");
	port_no("(qty > '2000-01-01'::date)", "postgres", "sqlite", "a cast to date");
	port_no("(qty = ANY ('{1,2}'::integer[]))", "postgres", "sqlite", "not an IN list");
	/* the same engine: the dialect passes, the columns are renamed */
	port_ok("(status)::text <> 'x'::text", "postgres", "postgres", "(\"state\")::text <> 'x'::text");
	port_ok("email GLOB 'a*'", "sqlite", "sqlite", "\"email\" GLOB 'a*'");
	/* another engine's SQL into an engine ferry knows: refused */
	port_no("qty > 0", "demo", "postgres", "engine demo");
}

static void test_key_range(void)
{
	ferry_schema *s = ferry__schema_new();
	ferry_table *t = ferry_schema_add_table(s, "events");
	ferry_column *c = ferry_table_add_column(s, t, "id", "INTEGER", FERRY_INT);
	CHECK(c != NULL);
	ferry_table_add_column(s, t, "v", "TEXT", FERRY_TEXT);
	size_t pk = 0;
	ferry_table_set_pk(s, t, &pk, 1);
	t->origin = "sqlite";
	ferry_plan_table e;
	memset(&e, 0, sizeof(e));
	job j;
	memset(&j, 0, sizeof(j));
	j.entry = &e;
	int64_t lo, hi;
	struct {
		const char *where, *later;
		int mode, bounded;
		int64_t lo, hi;
	} cases[] = {
		{"id >= 500001", NULL, FERRY_LATER_NOW, 1, 500001, INT64_MAX},
		{"(id > 5) AND v <> 'x' AND id < 10", NULL, FERRY_LATER_NOW, 1, 6, 9},
		{"5 < id", NULL, FERRY_LATER_NOW, 1, 6, INT64_MAX},
		{"rowid <= -3", NULL, FERRY_LATER_NOW, 1, INT64_MIN, -3},
		{"ID BETWEEN 1 AND 9 AND id = 4", NULL, FERRY_LATER_NOW, 1, 4, 4},
		{"\"id\" = 7", NULL, FERRY_LATER_NOW, 1, 7, 7},
		{"id >= 5 OR id < 2", NULL, FERRY_LATER_NOW, 0, 0, 0},
		{"id >= '5'", NULL, FERRY_LATER_NOW, 0, 0, 0},
		{"id >= 5.5", NULL, FERRY_LATER_NOW, 0, 0, 0},
		{"idx >= 5", NULL, FERRY_LATER_NOW, 0, 0, 0},
		{"NOT id >= 5", NULL, FERRY_LATER_NOW, 0, 0, 0},
		{"id >= 99999999999999999999", NULL, FERRY_LATER_NOW, 0, 0, 0},
		{NULL, "id < 500001", FERRY_LATER_NOW, 1, 500001, INT64_MAX},
		{NULL, "id < 500001", FERRY_LATER_ONLY, 1, INT64_MIN, 500000},
		{NULL, "id < 500001", FERRY_LATER_ALL, 0, 0, 0},
		{NULL, "id < 5 AND v = 'x'", FERRY_LATER_NOW, 0, 0, 0},
		{"id <= 100", "id < 50", FERRY_LATER_NOW, 1, 50, 100},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		e.where = (char *)cases[i].where;
		e.later = (char *)cases[i].later;
		int b = ferry__jobs_key_range(&j, cases[i].mode, t, &lo, &hi);
		if (!CHECK(b == cases[i].bounded))
			fprintf(stderr, "    case %zu: %s / %s\n", i, cases[i].where ? cases[i].where : "-",
			        cases[i].later ? cases[i].later : "-");
		if (b && cases[i].bounded && !CHECK(lo == cases[i].lo && hi == cases[i].hi))
			fprintf(stderr, "    case %zu: [%lld, %lld]\n", i, (long long)lo, (long long)hi);
	}
	/* A text key, or a rowid table whose key is not the rowid's alias: no bound by it. */
	e.where = "v >= 5";
	e.later = NULL;
	CHECK(ferry__jobs_key_range(&j, FERRY_LATER_NOW, t, &lo, &hi) == 0);
	free(t->cols[0].decl_type);
	t->cols[0].decl_type = ferry__strdup("BIGINT");
	e.where = "id >= 5";
	CHECK(ferry__jobs_key_range(&j, FERRY_LATER_NOW, t, &lo, &hi) == 0);
	e.where = "rowid >= 5";
	CHECK(ferry__jobs_key_range(&j, FERRY_LATER_NOW, t, &lo, &hi) == 1 && lo == 5);
	/* By a key column: SQLite keeps 7000.5 in an INTEGER column that is not the rowid's
	 * alias, so a strict comparison ends at its number; the alias and PostgreSQL's integer
	 * types end at the next integer. */
	char *kname = "id";
	j.nchunk_keys = 1;
	j.chunk_keys = &kname;
	e.where = "id > 5 AND id < 10";
	CHECK(ferry__jobs_key_range(&j, FERRY_LATER_NOW, t, &lo, &hi) == 1 && lo == 5 && hi == 10);
	e.where = NULL;
	e.later = "id < 7001";
	CHECK(ferry__jobs_key_range(&j, FERRY_LATER_ONLY, t, &lo, &hi) == 1 && hi == 7001);
	CHECK(ferry__jobs_key_range(&j, FERRY_LATER_NOW, t, &lo, &hi) == 1 && lo == 7001);
	e.later = NULL;
	e.where = "id > 5 AND id < 10";
	t->has_rowid = 1;
	free(t->cols[0].decl_type);
	t->cols[0].decl_type = ferry__strdup("INTEGER");
	CHECK(ferry__jobs_key_range(&j, FERRY_LATER_NOW, t, &lo, &hi) == 1 && lo == 6 && hi == 9);
	free(t->cols[0].decl_type);
	t->cols[0].decl_type = ferry__strdup("bigint");
	t->origin = "postgres";
	CHECK(ferry__jobs_key_range(&j, FERRY_LATER_NOW, t, &lo, &hi) == 1 && lo == 6 && hi == 9);
	t->origin = NULL;
	ferry__schema_free(s);
}

int main(void)
{
	test_ident_short();
	test_sql_port();
	test_key_range();
	return check_summary();
}
