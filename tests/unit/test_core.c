/* test_core.c — unit tests of the core modules: the value encoding (portable, little-endian),
 * buffers with caps, the arena, batches, the schema model (foreign-key levels, declared
 * types) and URL masking. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "ferry_int.h"
#include "pipeline/pipeline.h"
#include "check.h"

static void test_encoding(void)
{
	ferry_value v[8];
	memset(v, 0, sizeof(v));
	v[0].type = FERRY_INT; v[0].v.i = INT64_MIN;
	v[1].type = FERRY_INT; v[1].v.i = INT64_MAX;
	v[2].type = FERRY_FLOAT; v[2].v.f = -0.0;
	v[3].type = FERRY_TEXT; v[3].v.s = "zé\xf0\x9f\x9a\xa2"; v[3].len = (uint32_t)strlen(v[3].v.s);
	v[4].type = FERRY_BLOB; v[4].v.b = (const uint8_t *)"a\0b"; v[4].len = 3;
	v[5].type = FERRY_NULL;
	v[6].type = FERRY_BLOB; v[6].v.b = (const uint8_t *)""; v[6].len = 0;
	v[7].type = FERRY_FLOAT; v[7].v.f = NAN;
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	CHECK(ferry_value_encode_row(&buf, &len, &cap, v, 8) == 0);
	ferry_value d[8];
	CHECK(ferry_value_decode_row(d, 8, buf, len) == 8);
	for (int i = 0; i < 8; i++)
		CHECK(ferry__value_equal(&v[i], &d[i]));
	CHECK(signbit(d[2].v.f) && d[2].v.f == 0.0);
	CHECK(d[6].type == FERRY_BLOB && d[6].len == 0);

	/* The encoding is the same bytes on every machine: a float is 8 bytes little-endian. */
	ferry_value one = {.type = FERRY_FLOAT, .v.f = 1.0};
	len = 0;
	CHECK(ferry_value_encode_row(&buf, &len, &cap, &one, 1) == 0);
	static const uint8_t want[9] = {FERRY_FLOAT, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f};
	CHECK(len == 9 && memcmp(buf, want, 9) == 0);
	/* Integers are zigzag varints: -1 -> 1, 300 -> 600 = 0xd8 0x04. */
	ferry_value ints[2] = {{.type = FERRY_INT, .v.i = -1}, {.type = FERRY_INT, .v.i = 300}};
	len = 0;
	CHECK(ferry_value_encode_row(&buf, &len, &cap, ints, 2) == 0);
	static const uint8_t want2[5] = {FERRY_INT, 0x01, FERRY_INT, 0xd8, 0x04};
	CHECK(len == 5 && memcmp(buf, want2, 5) == 0);

	/* Damaged input is refused, never read past its end. */
	static const uint8_t bad1[] = {FERRY_TEXT, 0x05, 'a'};
	static const uint8_t bad2[] = {FERRY_FLOAT, 1, 2};
	static const uint8_t bad3[] = {0x7f};
	static const uint8_t bad4[] = {FERRY_INT, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	CHECK(ferry_value_decode_row(d, 8, bad1, sizeof(bad1)) == FERRY_ECORRUPT);
	CHECK(ferry_value_decode_row(d, 8, bad2, sizeof(bad2)) == FERRY_ECORRUPT);
	CHECK(ferry_value_decode_row(d, 8, bad3, sizeof(bad3)) == FERRY_ECORRUPT);
	CHECK(ferry_value_decode_row(d, 8, bad4, sizeof(bad4)) == FERRY_ECORRUPT);
	CHECK(ferry_value_decode_row(d, 1, want2, sizeof(want2)) == FERRY_ECORRUPT); /* too many */
	free(buf);
}

static void test_render(void)
{
	ferry_buf b = FERRY_BUF_INIT;
	ferry_value t = {.type = FERRY_TEXT, .v.s = "a\"b\n\x01", .len = 5};
	CHECK(ferry__value_json(&b, &t) == 0);
	CHECK_STR(b.data, "\"a\\\"b\\n\\u0001\"");
	ferry_buf_reset(&b);
	ferry_value blob = {.type = FERRY_BLOB, .v.b = (const uint8_t *)"\x00\xff", .len = 2};
	CHECK(ferry__value_json(&b, &blob) == 0);
	CHECK_STR(b.data, "\"\\\\x00ff\"");
	ferry_buf_reset(&b);
	ferry_value inf = {.type = FERRY_FLOAT, .v.f = -INFINITY};
	CHECK(ferry__value_json(&b, &inf) == 0);
	CHECK_STR(b.data, "\"-Infinity\"");
	ferry_buf_reset(&b);
	ferry_value longtext = {.type = FERRY_TEXT, .len = 100};
	char big[101];
	memset(big, 'x', 100);
	big[100] = 0;
	longtext.v.s = big;
	CHECK(ferry__value_text(&b, &longtext) == 0);
	CHECK(b.len < 70 && strstr(b.data, "...") != NULL);
	ferry_buf_free(&b);
}

static void test_buf_and_arena(void)
{
	ferry_buf b = FERRY_BUF_INIT;
	b.max = 16;
	CHECK(ferry_buf_puts(&b, "0123456789") == 0);
	CHECK(ferry_buf_puts(&b, "0123456789") == FERRY_ENOMEM); /* over the cap */
	CHECK(b.failed && b.data == NULL);
	CHECK(ferry_buf_puts(&b, "x") == FERRY_ENOMEM);        /* stays failed */
	ferry_buf_free(&b);
	ferry_buf c = FERRY_BUF_INIT;
	CHECK(ferry_buf_printf(&c, "%0300d", 7) == 0 && c.len == 300);
	ferry_buf_free(&c);

	ferry_arena *a = ferry_arena_new(1024);
	for (int round = 0; round < 3; round++) {
		char *p = NULL;
		for (int i = 0; i < 1000; i++) {
			p = ferry_arena_strdup(a, "hello");
			CHECK(p && strcmp(p, "hello") == 0);
		}
		void *huge = ferry_arena_alloc(a, 100000); /* larger than a block */
		CHECK(huge != NULL);
		memset(huge, 1, 100000);
		ferry_arena_reset(a);
	}
	ferry_arena_free(a);

	ferry_batch *bt = ferry__batch_new(2, 3);
	for (int i = 0; i < 3; i++)
		CHECK(ferry_batch_add_row(bt) != NULL);
	CHECK(ferry_batch_add_row(bt) == NULL); /* full */
	CHECK(ferry_batch_nrows(bt) == 3);
	ferry__batch_truncate(bt, 1);
	CHECK(ferry_batch_nrows(bt) == 1);
	char *s = ferry_batch_copy(bt, "abc", 3);
	CHECK(s && s[3] == '\0');
	ferry__batch_reset(bt);
	CHECK(ferry_batch_nrows(bt) == 0);
	ferry__batch_free(bt);
}

static void test_schema(void)
{
	ferry_schema *s = ferry__schema_new();
	/* c -> b -> a, d alone, e <-> f (a cycle), g -> g (self) */
	const char *names[] = {"c", "b", "a", "d", "e", "f", "g"};
	const char *refs[] = {"b", "a", NULL, NULL, "f", "e", "g"};
	for (int i = 0; i < 7; i++) {
		ferry_table *t = ferry_schema_add_table(s, names[i]);
		CHECK(ferry_table_add_column(s, t, "id", "INTEGER", FERRY_INT) != NULL);
		if (refs[i]) {
			ferry_fkey *k = ferry_table_add_fkey(s, t, refs[i], 1);
			k->cols[0] = ferry__strdup("id");
		}
	}
	int level[7];
	ferry__schema_fk_levels(s, level);
	CHECK(level[2] == 0 && level[1] == 1 && level[0] == 2 && level[3] == 0);
	CHECK(level[6] == 0); /* a self-reference does not raise a table */
	CHECK(level[4] <= 7 && level[5] <= 7);
	ferry_table *copy = ferry__schema_copy_table(s, ferry_schema_find(s, "c"), "c2");
	CHECK(copy && strcmp(copy->name, "c2") == 0 && copy->nfks == 1 &&
	      strcmp(copy->fks[0].ref_table, "b") == 0);
	CHECK(ferry_table_column(ferry_schema_find(s, "a"), "id") == 0);
	CHECK(ferry_table_column(ferry_schema_find(s, "a"), "nope") == -1);
	ferry__schema_free(s);

	struct { const char *decl; ferry_type t; } types[] = {
		{"INTEGER", FERRY_INT}, {"bigint", FERRY_INT}, {"VARCHAR(20)", FERRY_TEXT},
		{"", FERRY_BLOB}, {"BLOB", FERRY_BLOB}, {"DOUBLE PRECISION", FERRY_FLOAT},
		{"REAL", FERRY_FLOAT}, {"NUMERIC(10,2)", FERRY_NUMERIC}, {"DECIMAL", FERRY_NUMERIC},
		{"DATE", FERRY_DATE}, {"DATETIME", FERRY_TIMESTAMP}, {"timestamp with time zone", FERRY_TIMESTAMPTZ},
		{"BOOLEAN", FERRY_BOOL}, {"UUID", FERRY_UUID}, {"jsonb", FERRY_JSON}, {"TIME", FERRY_TIME},
		{"CHARINT", FERRY_INT}, /* SQLite's rule 1 comes first */
		/* ferry's exact types, whatever their affinity says (BLOB, TEXT) */
		{"FLOAT8_BLOB", FERRY_FLOAT}, {"float4_blob", FERRY_FLOAT}, {"NUMERIC_TEXT", FERRY_NUMERIC},
		{"NUMERIC_TEXT(30,10)", FERRY_NUMERIC}, {"NUMERIC_TEXT (5)", FERRY_NUMERIC},
		{"NUMERIC_TEXTS", FERRY_TEXT}, {"FLOAT8_BLOB(2)", FERRY_BLOB},
	};
	for (size_t i = 0; i < FERRY_ARRAY_LEN(types); i++)
		if (!CHECK(ferry__type_from_decl(types[i].decl) == types[i].t))
			printf("  decl %s\n", types[i].decl);

	/* Another engine's floats and decimals get the exact types; the rest keep theirs. */
	struct { const char *decl; ferry_type t; const char *want; int kind; } exact[] = {
		{"double precision", FERRY_FLOAT, "FLOAT8_BLOB", FERRY_EXACT_FLOAT8},
		{"real", FERRY_FLOAT, "FLOAT4_BLOB", FERRY_EXACT_FLOAT4},
		{"float4", FERRY_FLOAT, "FLOAT4_BLOB", FERRY_EXACT_FLOAT4},
		{"numeric", FERRY_NUMERIC, "NUMERIC_TEXT", FERRY_EXACT_NUMERIC},
		{"numeric(30,10)", FERRY_NUMERIC, "NUMERIC_TEXT(30,10)", FERRY_EXACT_NUMERIC},
		{"decimal(8)", FERRY_NUMERIC, "NUMERIC_TEXT(8)", FERRY_EXACT_NUMERIC},
		{"DECIMAL", FERRY_NUMERIC, "NUMERIC_TEXT", FERRY_EXACT_NUMERIC},
		{"bigint", FERRY_INT, "bigint", FERRY_EXACT_NONE},
		{"text", FERRY_TEXT, "text", FERRY_EXACT_NONE},
	};
	for (size_t i = 0; i < FERRY_ARRAY_LEN(exact); i++) {
		ferry_column col = {.decl_type = (char *)exact[i].decl, .type = exact[i].t};
		char buf[64];
		const char *got = ferry__exact_decl(&col, buf, sizeof(buf));
		if (!CHECK(strcmp(got, exact[i].want) == 0 && ferry__exact_kind(got, NULL) == exact[i].kind))
			printf("  decl %s -> %s\n", exact[i].decl, got);
	}
	const char *mod = NULL;
	CHECK(ferry__exact_kind("numeric_text(30,10)", &mod) == FERRY_EXACT_NUMERIC &&
	      strcmp(mod, "(30,10)") == 0);
	CHECK(ferry__exact_kind("NUMERIC_TEXT(a)", &mod) == FERRY_EXACT_NONE && strcmp(mod, "") == 0);
	CHECK(ferry__exact_kind(NULL, NULL) == FERRY_EXACT_NONE);
}

static void test_mask(void)
{
	struct { const char *in, *out; } cases[] = {
		{"postgresql://u:secret@h/db", "postgresql://u:***@h/db"},
		{"postgresql://u@h/db", "postgresql://u@h/db"},
		{"host=h password=secret user=u", "host=h password=*** user=u"},
		{"host=h password='se cr\\'et' user=u", "host=h password=*** user=u"},
		{"postgresql://h/db?password=secret&x=1", "postgresql://h/db?password=***&x=1"},
		{"sqlite:/tmp/a:b@c.db", "sqlite:/tmp/a:b@c.db"},
		/* Every spelling libpq accepts (issue 18): spaces around '=', a quoted value,
		 * a percent-encoded key, sslpassword, '/', '@' and '?' unencoded in a URL. */
		{"host=h password = secret user=u", "host=h password = *** user=u"},
		{"host=h password\t=\t'sec ret' user=u", "host=h password\t=\t*** user=u"},
		{"password=sec\\ ret host=h", "password=*** host=h"},
		{"host=h sslpassword=secret", "host=h sslpassword=***"},
		{"postgresql://h/db?pass%77ord=secret", "postgresql://h/db?pass%77ord=***"},
		{"postgresql://h/db?%70%61%73%73%77%6F%72%64=secret&a=1", "postgresql://h/db?%70%61%73%73%77%6F%72%64=***&a=1"},
		{"postgresql://h/db?PASSWORD=secret", "postgresql://h/db?PASSWORD=***"},
		{"postgresql://u:se/cr@et@h/db", "postgresql://u:***@h/db"},
		{"postgresql://u:p@ss@h:5432/db", "postgresql://u:***@h:5432/db"},
		{"postgresql://u:a?b@h/db", "postgresql://u:***@h/db"},
		{"postgresql://h:5432/db?user=a@b", "postgresql://h:5432/db?user=a@b"},
		{"dbname='postgresql://u:secret@h/db'", "dbname='postgresql://u:***@h/db'"},
		{"host=h mypassword=x", "host=h mypassword=x"},
	};
	for (size_t i = 0; i < FERRY_ARRAY_LEN(cases); i++) {
		char *m = ferry_url_mask(cases[i].in);
		if (!CHECK(m && strcmp(m, cases[i].out) == 0))
			printf("  mask(%s) = %s\n", cases[i].in, m ? m : "(null)");
		free(m);
	}
}

static void test_ctx(void)
{
	ferry_ctx *ctx;
	CHECK(ferry_ctx_new(&ctx) == 0);
	ferry_engine broken = ferry__sqlite_engine;
	ferry_engine_read half_read = *ferry__sqlite_engine.read;
	half_read.reader_next = NULL;
	broken.read = &half_read;
	CHECK(ferry_engine_register(ctx, &broken) == FERRY_EUSAGE);
	CHECK(strstr(ferry_errmsg(ctx), "callback read.reader_next is missing") != NULL);
	broken = ferry__sqlite_engine;
	broken.write = NULL;
	CHECK(ferry_engine_register(ctx, &broken) == FERRY_EUSAGE);
	CHECK(strstr(ferry_errmsg(ctx), "sub-table write is missing") != NULL);
	/* Optional groups are all or nothing; an engine keeping no state of its own needs
	 * exec_params for ferry's tables. */
	ferry_engine_core no_params = *ferry__sqlite_engine.core;
	no_params.exec_params = NULL;
	broken = ferry__sqlite_engine;
	broken.core = &no_params;
	CHECK(ferry_engine_register(ctx, &broken) == FERRY_EUSAGE);
	CHECK(strstr(ferry_errmsg(ctx), "callback core.exec_params is missing") != NULL);
	ferry_engine_migrate half_migrate = *ferry__sqlite_engine.migrate;
	half_migrate.split_sql = NULL;
	broken = ferry__sqlite_engine;
	broken.migrate = &half_migrate;
	CHECK(ferry_engine_register(ctx, &broken) == FERRY_EUSAGE);
	CHECK(strstr(ferry_errmsg(ctx), "callback migrate.split_sql is missing") != NULL);
	broken.migrate = NULL; /* optional: none at all is fine */
	CHECK(ferry_engine_register(ctx, &broken) == 0);
	ferry_engine_state half_state = *ferry__label_engine.state;
	half_state.rejects = NULL;
	broken = ferry__label_engine;
	broken.state = &half_state;
	CHECK(ferry_engine_register(ctx, &broken) == FERRY_EUSAGE);
	CHECK(strstr(ferry_errmsg(ctx), "callback state.rejects is missing") != NULL);
	/* An engine built against an older engine.h is refused with both versions named. */
	broken = ferry__sqlite_engine;
	broken.version = FERRY_ENGINE_VERSION - 1;
	CHECK(ferry_engine_register(ctx, &broken) == FERRY_EUSAGE);
	CHECK(strstr(ferry_errmsg(ctx), "built for engine interface version 2, this ferry takes version 3") != NULL);
	ferry_engine_capture half_capture = {.version = FERRY_ENGINE_VERSION};
	broken = ferry__sqlite_engine;
	broken.capture = &half_capture;
	CHECK(ferry_engine_register(ctx, &broken) == FERRY_EUSAGE);
	CHECK(strstr(ferry_errmsg(ctx), "callback capture.setup is missing") != NULL);
	/* An interrupt stays until cleared: one made before a call is not lost. */
	CHECK(!ferry__interrupted(ctx));
	ferry_interrupt(ctx);
	CHECK(ferry__interrupted(ctx));
	CHECK(ferry__interrupted(ctx));
	ferry_interrupt_clear(ctx);
	CHECK(!ferry__interrupted(ctx));
	ferry_err err = {0};
	CHECK(ferry__engine_for(ctx, "data/x.db", &err) == &ferry__sqlite_engine);
	CHECK(ferry__engine_for(ctx, "sqlite:x.db", &err) == &ferry__sqlite_engine);
	CHECK(ferry__engine_for(ctx, "mysql://u:pw@h/db", &err) == NULL);
	CHECK(strstr(err.msg, "pw") == NULL && strstr(err.msg, "mysql") != NULL);
	ferry_ctx_free(ctx);
}

/* Engines claim addresses; the surest claim wins, so the core guesses nothing. */
static int claim_tmp(const char *url)
{
	return strncmp(url, "/tmp/", 5) == 0 ? FERRY_CLAIM_FORM : FERRY_CLAIM_NONE;
}

static void test_claims(void)
{
	static const struct {
		const char *url;
		const ferry_engine *want;
	} cases[] = {
		{"x.db", &ferry__sqlite_engine},
		{"data/x:y.db", &ferry__sqlite_engine},
		{":memory:", &ferry__sqlite_engine},
		{"sqlite:x.db", &ferry__sqlite_engine},
		{"sqlite:///abs/x.db", &ferry__sqlite_engine},
		{"postgresql://u@h/db", &ferry__postgres_engine},
		{"postgres://h/db?sslmode=disable", &ferry__postgres_engine},
		{"host=h dbname=d password=a:b", &ferry__postgres_engine},
		{" dbname = d", &ferry__postgres_engine},
		{"label:exports/v2", &ferry__label_engine},
		{"label://exports/v2", &ferry__label_engine},
		{"ftp://h/x.db", NULL},
		{"mysql:db", NULL},
	};
	ferry_ctx *ctx;
	if (!CHECK(ferry_ctx_new(&ctx) == 0))
		return;
	ferry_err err = {0};
	for (size_t i = 0; i < FERRY_ARRAY_LEN(cases); i++)
		if (!CHECK(ferry__engine_for(ctx, cases[i].url, &err) == cases[i].want))
			printf("  engine_for(%s)\n", cases[i].url);
	CHECK(ferry__engine_for(ctx, "mysql:db", &err) == NULL);
	CHECK_STR(err.msg, "no engine for \"mysql:db\": unknown scheme \"mysql\"");
	CHECK(ferry__engine_for(NULL, "label:x", &err) == &ferry__label_engine); /* built-ins */
	CHECK(ferry_url_scheme("postgresql://h") == 10 && ferry_url_scheme("host=h") == 0 &&
	      ferry_url_scheme("C:x") == 1 && ferry_url_scheme("1a:b") == 0 && ferry_url_scheme(":x") == 0);

	/* A registered engine's surer claim takes a path from SQLite's fallback; a tie goes to
	 * the engine registered first. */
	ferry_engine tmp = ferry__sqlite_engine;
	tmp.name = "tmp";
	tmp.claim = claim_tmp;
	CHECK(ferry_engine_register(ctx, &tmp) == 0);
	CHECK(ferry__engine_for(ctx, "/tmp/x.db", &err) == &tmp);
	CHECK(ferry__engine_for(ctx, "/srv/x.db", &err) == &ferry__sqlite_engine);
	CHECK(ferry__engine_for(ctx, "host=h dbname=d", &err) == &ferry__postgres_engine);
	CHECK(ferry__engine_named(ctx, "tmp") == &tmp);
	CHECK(ferry__engine_named(ctx, "nope") == NULL);

	/* Without claim, the schemes; neither: refused. */
	ferry_engine plain = ferry__sqlite_engine;
	plain.name = "plain";
	plain.claim = NULL;
	static const char *const plain_schemes[] = {"plain", NULL};
	plain.schemes = plain_schemes;
	CHECK(ferry_engine_register(ctx, &plain) == 0);
	CHECK(ferry__engine_for(ctx, "plain:x", &err) == &plain);
	plain.schemes = NULL;
	CHECK(ferry_engine_register(ctx, &plain) == FERRY_EUSAGE);
	ferry_ctx_free(ctx);
}

/* A note is its message as a C string, then its code, table and column; copies keep them,
 * and the JSON form is an object with null for the parts it has not. */
static void test_notes(void)
{
	char **notes = NULL;
	size_t n = 0, cap = 0;
	CHECK_INT(ferry__note_at(&notes, &n, &cap, "column_dropped", "t", "c", "%s: column \"%s\" dropped", "job", "c"), 0);
	CHECK_INT(ferry__note(&notes, &n, &cap, "plain %d", 7), 0);
	CHECK_INT(ferry__note_copy(&notes, &n, &cap, notes[0]), 0);
	if (!CHECK_INT(n, 3))
		return;
	CHECK_STR(notes[0], "job: column \"c\" dropped");
	CHECK_STR(ferry__note_field(notes[2], FERRY_NOTE_CODE), "column_dropped");
	CHECK_STR(ferry__note_field(notes[2], FERRY_NOTE_TABLE), "t");
	CHECK_STR(ferry__note_field(notes[2], FERRY_NOTE_COLUMN), "c");
	CHECK_STR(ferry__note_field(notes[1], FERRY_NOTE_CODE), "note");
	CHECK_STR(ferry__note_field(notes[1], FERRY_NOTE_TABLE), "");
	ferry_buf b = FERRY_BUF_INIT;
	ferry__note_json(&b, notes[0]);
	ferry__note_json(&b, notes[1]);
	ferry_buf_add(&b, "", 1);
	CHECK_STR(b.data, "{\"code\":\"column_dropped\",\"table\":\"t\",\"column\":\"c\",\"message\":\"job: column \\\"c\\\" dropped\"}"
	                  "{\"code\":\"note\",\"table\":null,\"column\":null,\"message\":\"plain 7\"}");
	ferry_buf_free(&b);
	for (size_t i = 0; i < n; i++)
		free(notes[i]);
	free(notes);
}

int main(void)
{
	test_notes();
	test_encoding();
	test_render();
	test_buf_and_arena();
	test_schema();
	test_mask();
	test_ctx();
	test_claims();
	return check_summary();
}
