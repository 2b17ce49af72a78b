/* test_plan.c — unit tests of the plan model and its YAML loader: every field of a full
 * plan, the exact message of each bad plan, URL resolution, the run digest, the doc examples. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "ferry_int.h"
#include "check.h"

/* ---- where the sources are -------------------------------------------------------- */

static char *src_root;

static int is_file(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static void find_root(void)
{
	const char *env = getenv("FERRY_SRC");
	static const char *const tries[] = {".", "..", "../..", "../../.."};
	if (env && *env) {
		src_root = ferry__strdup(env);
		return;
	}
	for (size_t i = 0; i < FERRY_ARRAY_LEN(tries); i++) {
		char *p = ferry__sprintf("%s/docs/PLAN-REFERENCE.md", tries[i]);
		int ok = is_file(p);
		free(p);
		if (ok) {
			src_root = ferry__strdup(tries[i]);
			return;
		}
	}
	src_root = ferry__strdup(".");
}

static char *read_text(const char *path, size_t *len)
{
	char *text = NULL;
	ferry_err err;
	if (ferry__read_file(&text, len, path, (size_t)16 << 20, &err) != 0) {
		fprintf(stderr, "cannot read %s: %s\n", path, err.msg);
		return NULL;
	}
	return text;
}

/* A context on the stack with the built-in engines, which claim the plans' addresses. */
static void ctx_init(ferry_ctx *c)
{
	memset(c, 0, sizeof(*c));
	CHECK(ferry_engine_register(c, &ferry__sqlite_engine) == 0);
	CHECK(ferry_engine_register(c, &ferry__postgres_engine) == 0);
	CHECK(ferry_engine_register(c, &ferry__label_engine) == 0);
}

/* ---- URLs --------------------------------------------------------------------------- */

static void test_url_resolve(void)
{
	static const struct {
		const char *url, *base, *want;
	} cases[] = {
		{"shop.db", NULL, "sqlite:shop.db"},
		{"shop.db", ".", "sqlite:shop.db"},
		{"shop.db", "plans", "sqlite:plans/shop.db"},
		{"sub/shop.db", "/srv/plans", "sqlite:/srv/plans/sub/shop.db"},
		{"sqlite:shop.db", "plans", "sqlite:plans/shop.db"},
		{"sqlite:shop.db", NULL, "sqlite:shop.db"},
		{"sqlite://shop.db", "plans", "sqlite:plans/shop.db"},
		{"sqlite://shop.db", NULL, "sqlite:shop.db"},
		{"sqlite:///abs/shop.db", "plans", "sqlite:/abs/shop.db"},
		{"sqlite:/abs/shop.db", "plans", "sqlite:/abs/shop.db"},
		{"/abs/shop.db", "plans", "sqlite:/abs/shop.db"},
		{"sqlite::memory:", "plans", "sqlite::memory:"},
		{":memory:", "plans", "sqlite::memory:"},
		{"postgresql://ferry:pw@db.example/shop", "plans", "postgresql://ferry:pw@db.example/shop"},
		{"postgres://localhost/shop?sslmode=disable", NULL,
		 "postgres://localhost/shop?sslmode=disable"},
		{"host=db.example dbname=shop", "plans", "host=db.example dbname=shop"},
		{"label:exports/x", "plans", "label:exports/x"},
	};
	ferry_err err = {0};
	for (size_t i = 0; i < FERRY_ARRAY_LEN(cases); i++) {
		char *got = NULL;
		CHECK(ferry__url_resolve(&got, NULL, cases[i].url, cases[i].base, &err) == 0);
		CHECK_STR(got, cases[i].want);
		free(got);
	}
	/* No engine claims it: refused, the password masked; an empty SQLite address names no
	 * database. */
	char *got = NULL;
	CHECK(ferry__url_resolve(&got, NULL, "mysql://u:pw@localhost/shop", "plans", &err) == FERRY_EUSAGE);
	CHECK(got == NULL && strstr(err.msg, "\"mysql\"") && !strstr(err.msg, "pw"));
	CHECK(ferry__url_resolve(&got, NULL, "sqlite:", "plans", &err) == FERRY_EUSAGE);
	CHECK(got == NULL);
}

/* ---- a full plan ------------------------------------------------------------------- */

static void check_col(const ferry_plan_column *c, const char *name, const char *from,
                      const char *expr, const char *def, int def_null, int drop,
                      ferry_conflict conflict, int line)
{
	CHECK_STR(c->name, name);
	CHECK_STR(c->from, from);
	CHECK_STR(c->expr, expr);
	CHECK_STR(c->def, def);
	CHECK(c->def_null == def_null);
	CHECK(c->drop == drop);
	CHECK(c->conflict == conflict);
	CHECK(c->line == line);
	CHECK(c->col == 7);
}

static void test_good_full(void)
{
	char *path = ferry__sprintf("%s/tests/unit/plans/good-full.yaml", src_root);
	char *dir = ferry__sprintf("%s/tests/unit/plans", src_root);
	char *want;
	ferry_ctx ctx;
	ctx_init(&ctx);
	ferry_plan *p = NULL;
	int rc = ferry_plan_load(&p, &ctx, path);
	if (!CHECK(rc == 0 && p)) {
		fprintf(stderr, "    %s\n", ctx.errmsg);
		goto out;
	}
	CHECK_STR(p->path, path);
	CHECK_STR(p->dir, dir);

	CHECK(p->nsources == 3);
	if (p->nsources == 3) {
		CHECK_STR(p->sources[0].name, "catalog");
		want = ferry__sprintf("sqlite:%s/catalog.db", dir);
		CHECK_STR(p->sources[0].url, want);
		free(want);
		CHECK(p->sources[0].line == 4 && p->sources[0].col == 3);
		CHECK_STR(p->sources[1].name, "vend_a");
		want = ferry__sprintf("sqlite:%s/data/vending-a.db", dir);
		CHECK_STR(p->sources[1].url, want);
		free(want);
		CHECK(p->sources[1].line == 5 && p->sources[1].col == 3);
		CHECK_STR(p->sources[2].name, "live");
		CHECK_STR(p->sources[2].url, "postgresql://ferry@localhost/live");
		CHECK(p->sources[2].line == 6 && p->sources[2].col == 3);
	}
	want = ferry__sprintf("sqlite:%s/shop-v2.db", dir);
	CHECK_STR(p->target, want);
	free(want);

	CHECK(p->nschema == 2);
	if (p->nschema == 2) {
		want = ferry__sprintf("%s/good-full-schema/01-base.sql", dir);
		CHECK_STR(p->schema_files[0], want);
		free(want);
		want = ferry__sprintf("%s/good-full-schema/02-index.sql", dir);
		CHECK_STR(p->schema_files[1], want);
		free(want);
	}
	CHECK(p->threads == 3);
	CHECK(p->chunk_rows == 1000);
	CHECK(p->max_rejects == 25);
	CHECK(p->strict == 1);
	CHECK(p->copy_others == 0);

	CHECK(p->nstages == 2);
	if (p->nstages == 2) {
		CHECK_STR(p->stages[0].name, "catalog");
		CHECK(p->stages[0].nafter == 0 && p->stages[0].after == NULL);
		CHECK(p->stages[0].line == 15 && p->stages[0].col == 11);
		CHECK_STR(p->stages[1].name, "trials");
		CHECK(p->stages[1].nafter == 1);
		if (p->stages[1].nafter == 1)
			CHECK_STR(p->stages[1].after[0], "catalog");
		CHECK(p->stages[1].line == 16 && p->stages[1].col == 11);
	}

	CHECK(p->ntables == 3);
	if (p->ntables == 3) {
		const ferry_plan_table *t = &p->tables[0];
		CHECK_STR(t->source, "catalog");
		CHECK_STR(t->table, "content_items");
		CHECK_STR(t->rename, "items");
		CHECK_STR(t->where, "id >= 100");
		CHECK(t->skip == 0);
		CHECK_STR(t->stage, "catalog");
		CHECK(t->line == 19 && t->col == 5);
		CHECK(t->ncols == 6);
		if (t->ncols == 6) {
			check_col(&t->cols[0], "title", "name", NULL, NULL, 0, 0, FERRY_CONFLICT_NONE, 25);
			check_col(&t->cols[1], "slug", NULL, "lower(name)", NULL, 0, 0, FERRY_CONFLICT_NONE,
			          26);
			check_col(&t->cols[2], "currency", NULL, NULL, "EUR", 0, 0, FERRY_CONFLICT_NONE, 27);
			check_col(&t->cols[3], "note", NULL, NULL, NULL, 1, 0, FERRY_CONFLICT_NONE, 28);
			check_col(&t->cols[4], "legacy_flag", NULL, NULL, NULL, 0, 1, FERRY_CONFLICT_NONE,
			          29);
			check_col(&t->cols[5], "trials", "trial_count", NULL, "0", 0, 0, FERRY_CONFLICT_MIN,
			          30);
		}
		t = &p->tables[1];
		CHECK_STR(t->source, "vend_a");
		CHECK_STR(t->table, "audit_log");
		CHECK_STR(t->rename, NULL);
		CHECK_STR(t->where, NULL);
		CHECK(t->skip == 1);
		CHECK_STR(t->stage, "catalog");
		CHECK(t->ncols == 0 && t->cols == NULL);
		CHECK(t->line == 31 && t->col == 5);
		t = &p->tables[2];
		CHECK_STR(t->source, "live");
		CHECK_STR(t->table, "machines");
		CHECK_STR(t->rename, "vending_machines");
		CHECK(t->skip == 0);
		CHECK_STR(t->stage, "trials");
		CHECK(t->line == 34 && t->col == 5);
	}
	CHECK(strlen(p->run_digest) == 32 && strspn(p->run_digest, "0123456789abcdef") == 32);

	/* The run's identity is what the plan means: the same text gives the same; a setting
	 * of how (threads), a comment or another layout give the same; a rule or another place
	 * (so other databases) give another. The earlier ferry's digest (its bytes) is kept
	 * beside it, so a run it left unfinished resumes. */
	size_t len;
	char *text = read_text(path, &len);
	CHECK(text != NULL);
	if (text) {
		ferry_err err;
		ferry_plan *a = NULL, *b = NULL, *c = NULL, *d = NULL;
		CHECK(ferry__plan_parse(&a, path, text, len, &err) == 0);
		CHECK(ferry__plan_parse(&b, path, text, len, &err) == 0);
		CHECK(ferry__plan_parse(&d, "elsewhere/plan.yaml", text, len, &err) == 0);
		char *nine = strstr(text, "threads: 3");
		if (CHECK(nine != NULL))
			nine[9] = '4';
		CHECK(ferry__plan_parse(&c, path, text, len, &err) == 0);
		/* A comment on top and the flow style of one mapping: the same plan. */
		char *commented = ferry__sprintf("# edited after the run\n%s\n# the end\n", text);
		ferry_plan *e = NULL, *f = NULL;
		CHECK(commented && ferry__plan_parse(&e, path, commented, strlen(commented), &err) == 0);
		/* Another filter: another run. */
		char *where = strstr(text, "id >= 100");
		if (CHECK(where != NULL))
			where[8] = '2';
		CHECK(ferry__plan_parse(&f, path, text, len, &err) == 0);
		if (a && b && c && d && e && f) {
			CHECK_STR(a->run_digest, p->run_digest);
			CHECK_STR(a->run_digest, b->run_digest);
			CHECK_STR(a->run_digest, c->run_digest);
			CHECK(strcmp(a->legacy_digest, c->legacy_digest) != 0);
			CHECK_STR(a->run_digest, e->run_digest);
			CHECK(strcmp(a->run_digest, f->run_digest) != 0);
			CHECK(strcmp(a->run_digest, d->run_digest) != 0);
			CHECK(strcmp(a->run_digest, a->legacy_digest) != 0);
			CHECK(c->threads == 4);
		}
		ferry_plan_free(a);
		ferry_plan_free(b);
		ferry_plan_free(c);
		ferry_plan_free(d);
		ferry_plan_free(e);
		ferry_plan_free(f);
		free(commented);
		free(text);
	}
out:
	ferry_plan_free(p);
	free(path);
	free(dir);
}

/* ---- bad plans, each with its exact message ------------------------------------------- */

static const struct bad_plan {
	const char *what, *text, *msg;
} bad_plans[] = {
	{"unknown top-level key",
	 "version: 1\nsource: a.db\ntreads: 4\ntarget: b.db\n",
	 "plan.yaml:3:1: unknown key \"treads\" in the plan (expected one of: version, source, "
	 "sources, target, target_schema, label, threads, chunk_rows, max_rejects, strict, others, "
	 "stages, tables, verify, both_ways)"},
	{"wrong type for threads",
	 "source: a.db\ntarget: b.db\nthreads: many\n",
	 "plan.yaml:3:10: \"threads\" must be a whole number >= 0, not \"many\""},
	{"threads as a mapping",
	 "source: a.db\ntarget: b.db\nthreads: {n: 2}\n",
	 "plan.yaml:3:10: \"threads\" must be a whole number >= 0, not a mapping"},
	{"too many threads",
	 "source: a.db\ntarget: b.db\nthreads: 100000\n",
	 "plan.yaml:3:10: \"threads\" must be at most 4096, not \"100000\""},
	{"negative chunk_rows",
	 "source: a.db\ntarget: b.db\nchunk_rows: -5\n",
	 "plan.yaml:3:13: \"chunk_rows\" must be a whole number >= 1, not \"-5\""},
	{"chunk_rows beyond 64 bits",
	 "source: a.db\ntarget: b.db\nchunk_rows: 99999999999999999999\n",
	 "plan.yaml:3:13: \"chunk_rows\" must be a whole number >= 1, not \"99999999999999999999\""},
	{"empty max_rejects",
	 "source: a.db\ntarget: b.db\nmax_rejects:\n",
	 "plan.yaml:3:13: \"max_rejects\" must be a whole number >= 0, not an empty value"},
	{"strict not a bool",
	 "source: a.db\ntarget: b.db\nstrict: maybe\n",
	 "plan.yaml:3:9: \"strict\" must be true or false, not \"maybe\""},
	{"others unknown",
	 "source: a.db\ntarget: b.db\nothers: drop\n",
	 "plan.yaml:3:9: unknown value \"drop\" for \"others\" (expected copy or skip)"},
	{"missing target",
	 "source: a.db\nthreads: 2\n",
	 "plan.yaml: the plan names no target"},
	{"missing source",
	 "target: a.db\n",
	 "plan.yaml: the plan names no source (expected \"source\" or \"sources\")"},
	{"target is a sequence",
	 "source: a.db\ntarget: [a, b]\n",
	 "plan.yaml:2:9: expected a database URL or path for \"target\", found a sequence"},
	{"empty target",
	 "source: a.db\ntarget: \"\"\n",
	 "plan.yaml:2:9: expected a database URL or path for \"target\", found an empty string"},
	{"sqlite: with no path",
	 "source: a.db\ntarget: \"sqlite:\"\n",
	 "plan.yaml:2:9: expected a database URL or path for \"target\", found \"sqlite:\""},
	{"both source and sources",
	 "source: a.db\nsources:\n  b: b.db\ntarget: c.db\n",
	 "plan.yaml:2:1: the plan has both \"source\" and \"sources\" (expected exactly one)"},
	{"empty sources",
	 "sources: {}\ntarget: c.db\n",
	 "plan.yaml:1:10: \"sources\" names no source (expected a mapping of names to database URLs)"},
	{"source URL missing in sources",
	 "sources:\n  catalog:\ntarget: c.db\n",
	 "plan.yaml:2:11: expected a database URL or path for \"catalog\" in \"sources\", found "
	 "nothing"},
	{"unknown source in entry",
	 "sources:\n  catalog: a.db\n  vend_a: b.db\ntarget: c.db\ntables:\n  - table: items\n"
	 "    source: catalogue\n",
	 "plan.yaml:7:13: table \"items\" names source \"catalogue\", which is not a source"},
	{"entry names a source the single-source plan lacks",
	 "source: a.db\ntarget: c.db\ntables:\n  - table: items\n    source: catalog\n",
	 "plan.yaml:5:13: table \"items\" names source \"catalog\", which is not a source"},
	{"missing source with several sources",
	 "sources:\n  catalog: a.db\n  vend_a: b.db\ntarget: c.db\ntables:\n  - table: items\n",
	 "plan.yaml:6:5: table \"items\" must name its source (the plan has 2 sources)"},
	{"unknown stage in an entry",
	 "source: a.db\ntarget: c.db\nstages:\n  - name: catalog\ntables:\n  - table: items\n"
	 "    stage: catalogue\n",
	 "plan.yaml:7:12: table \"items\" is in stage \"catalogue\", which is not a stage"},
	{"unknown stage in after",
	 "source: a.db\ntarget: c.db\nstages:\n  - name: catalog\n  - name: trials\n"
	 "    after: [catalogue]\n",
	 "plan.yaml:6:13: stage \"trials\" is after \"catalogue\", which is not a stage"},
	{"stage after itself",
	 "source: a.db\ntarget: c.db\nstages:\n  - name: a\n    after: a\n",
	 "plan.yaml:5:12: stage \"a\" is after itself"},
	{"after cycle a -> b -> a",
	 "source: a.db\ntarget: c.db\nstages:\n  - name: a\n    after: [b]\n  - name: b\n"
	 "    after: [a]\n",
	 "plan.yaml:4:11: stage \"a\" is after itself through a cycle: a after b after a"},
	{"longer after cycle",
	 "source: a.db\ntarget: c.db\nstages:\n  - name: x\n  - name: c\n    after: [x, b]\n"
	 "  - name: a\n    after: [c]\n  - name: b\n    after: [a]\n",
	 "plan.yaml:5:11: stage \"c\" is after itself through a cycle: c after b after a after c"},
	{"duplicate stage",
	 "source: a.db\ntarget: c.db\nstages:\n  - name: a\n  - name: b\n  - name: a\n",
	 "plan.yaml:6:11: duplicate stage name \"a\" (first at line 4)"},
	{"stage without a name",
	 "source: a.db\ntarget: c.db\nstages:\n  - after: [x]\n",
	 "plan.yaml:4:5: stage 1 has no \"name\""},
	{"stage name with a slash",
	 "source: a.db\ntarget: c.db\nstages:\n  - name: a/b\n",
	 "plan.yaml:4:11: stage name \"a/b\" may hold only letters, digits, \"_\", \"-\" and \".\", "
	 "and must not start with \".\""},
	{"bad conflict rule",
	 "source: a.db\ntarget: c.db\ntables:\n  - table: t\n    columns:\n"
	 "      trials: { from: trial_count, conflict: smallest }\n",
	 "plan.yaml:6:46: unknown conflict rule \"smallest\" for column \"trials\" (expected min, "
	 "max, first, last, sum or error)"},
	{"from and expr together",
	 "source: a.db\ntarget: c.db\ntables:\n  - table: t\n    columns:\n"
	 "      slug: { from: name, expr: \"lower(name)\" }\n",
	 "plan.yaml:6:7: column \"slug\" has both \"from\" and \"expr\" (expected one of them)"},
	{"drop and from together",
	 "source: a.db\ntarget: c.db\ntables:\n  - table: t\n    columns:\n"
	 "      legacy: { drop: true, from: x }\n",
	 "plan.yaml:6:7: column \"legacy\" is dropped, so it cannot have \"from\""},
	{"drop and default together",
	 "source: a.db\ntarget: c.db\ntables:\n  - table: t\n    columns:\n"
	 "      legacy: { drop: true, default: null }\n",
	 "plan.yaml:6:7: column \"legacy\" is dropped, so it cannot have \"default\""},
	{"skip and columns together",
	 "source: a.db\ntarget: c.db\ntables:\n  - table: t\n    skip: true\n    columns:\n"
	 "      a: b\n",
	 "plan.yaml:4:5: table \"t\" is skipped, so it cannot have \"columns\""},
	{"skip and where together",
	 "source: a.db\ntarget: c.db\ntables:\n  - table: t\n    where: id > 1\n    skip: yes\n",
	 "plan.yaml:4:5: table \"t\" is skipped, so it cannot have \"where\""},
	{"skip and later together",
	 "source: a.db\ntarget: c.db\ntables:\n  - table: t\n    later: true\n    skip: yes\n",
	 "plan.yaml:4:5: table \"t\" is skipped, so it cannot have \"later\""},
	{"later as a list",
	 "source: a.db\ntarget: c.db\ntables:\n  - table: t\n    later: [a]\n",
	 "plan.yaml:5:12: expected true or an SQL condition for \"later\" in the entry for table \"t\", found a sequence"},
	{"later empty",
	 "source: a.db\ntarget: c.db\ntables:\n  - table: t\n    later:\n",
	 "plan.yaml:5:11: expected true or an SQL condition for \"later\" in the entry for table \"t\", found nothing"},
	{"unknown key in an entry",
	 "source: a.db\ntarget: c.db\ntables:\n  - table: t\n    renam: u\n",
	 "plan.yaml:5:5: unknown key \"renam\" in the entry for table \"t\" (expected one of: table, "
	 "source, stage, rename, target, where, skip, columns, reverse, later, both_ways, owner)"},
	{"owner neither old nor new",
	 "source: a.db\ntarget: c.db\ntables:\n  - table: t\n    owner: both\n",
	 "plan.yaml:5:12: expected old or new for \"owner\", found \"both\""},
	{"both_ways with an unknown rule",
	 "source: a.db\ntarget: c.db\ntables:\n  - table: t\n    both_ways: {conflict: newest}\n",
	 "plan.yaml:5:27: expected old_wins, new_wins or last_commit for \"conflict\" of both_ways, found \"newest\""},
	{"both_ways without a conflict rule",
	 "source: a.db\ntarget: c.db\ntables:\n  - table: t\n    both_ways: {}\n",
	 "plan.yaml:5:16: \"both_ways\" needs conflict: old_wins, new_wins or last_commit"},
	{"both_ways and owner together",
	 "source: a.db\ntarget: c.db\ntables:\n  - table: t\n    owner: old\n    both_ways: {conflict: old_wins}\n",
	 "plan.yaml:6:5: an entry takes both_ways: or owner:, not both"},
	{"rename and target together",
	 "source: a.db\ntarget: c.db\ntables:\n  - table: t\n    rename: u\n    target: v\n",
	 "plan.yaml:6:5: \"target\" is another name for \"rename\", given already in the entry for "
	 "table \"t\""},
	{"entry without table",
	 "source: a.db\ntarget: c.db\ntables:\n  - rename: u\n",
	 "plan.yaml:4:5: entry 1 of \"tables\" has no \"table\" (expected the source table name)"},
	{"entry that is a string",
	 "source: a.db\ntarget: c.db\ntables:\n  - items\n",
	 "plan.yaml:4:5: expected a mapping for entry 1 of \"tables\", found \"items\""},
	{"unknown key in a column rule",
	 "source: a.db\ntarget: c.db\ntables:\n  - table: t\n    columns:\n      a: { frm: b }\n",
	 "plan.yaml:6:12: unknown key \"frm\" in the rule for column \"a\" (expected one of: from, "
	 "expr, default, drop, conflict, type)"},
	{"column with no rule",
	 "source: a.db\ntarget: c.db\ntables:\n  - table: t\n    columns:\n      a:\n      b: c\n",
	 "plan.yaml:6:9: expected a source column name or a rule for column \"a\", found nothing"},
	{"YAML syntax error",
	 "source: a.db\ntarget: c.db\n  threads: 2\n",
	 "plan.yaml:3:10: invalid YAML: mapping values are not allowed in this context"},
	{"YAML syntax error with a context",
	 "source: a.db\ntarget: [c.db\nthreads: 2\n",
	 "plan.yaml:3:8: invalid YAML: did not find expected ',' or ']' (while parsing a flow "
	 "sequence)"},
	{"YAML tab indentation",
	 "source: a.db\ntables:\n\t- table: t\n",
	 "plan.yaml:3:1: invalid YAML: found character that cannot start any token (while scanning "
	 "for the next token)"},
	{"empty file", "", "plan.yaml: the plan is empty"},
	{"comments only", "# nothing here\n\n", "plan.yaml: the plan is empty"},
	{"document marker only", "---\n", "plan.yaml: the plan is empty"},
	{"duplicate key",
	 "source: a.db\ntarget: c.db\nthreads: 2\nthreads: 3\n",
	 "plan.yaml:4:1: duplicate key \"threads\" in the plan (first at line 3)"},
	{"duplicate column",
	 "source: a.db\ntarget: c.db\ntables:\n  - table: t\n    columns:\n      a: b\n      c: d\n"
	 "      a: e\n",
	 "plan.yaml:8:7: duplicate key \"a\" in \"columns\" in the entry for table \"t\" (first at "
	 "line 6)"},
	{"a sequence where a mapping is expected",
	 "source: a.db\ntarget: c.db\ntables:\n  - table: t\n    columns:\n      - a\n",
	 "plan.yaml:6:7: expected a mapping for \"columns\" in the entry for table \"t\", found a "
	 "sequence"},
	{"stages as a mapping",
	 "source: a.db\ntarget: c.db\nstages:\n  a: b\n",
	 "plan.yaml:4:3: expected a sequence for \"stages\", found a mapping"},
	{"the plan is a sequence",
	 "- source: a.db\n",
	 "plan.yaml:1:1: expected a mapping for the plan, found a sequence"},
	{"version 2",
	 "version: 2\nsource: a.db\ntarget: c.db\n",
	 "plan.yaml:1:10: unknown plan version \"2\" (expected 1)"},
	{"an alias",
	 "source: &s a.db\ntarget: *s\n",
	 "plan.yaml:2:9: aliases (*s) are not supported in a plan"},
	{"two documents",
	 "source: a.db\ntarget: c.db\n---\nsource: b.db\n",
	 "plan.yaml:3:1: the plan holds more than one YAML document"},
	{"a mapping as a key",
	 "? {a: 1}\n: x\n",
	 "plan.yaml:1:3: expected a key name in the plan, found a mapping"},
	{"a NUL escape in a value",
	 "source: \"a\\0b\"\ntarget: c.db\n",
	 "plan.yaml:1:9: a value holds a NUL character"},
	{"not UTF-8",
	 "source: a.db\ntarget: c\xff.db\n",
	 "plan.yaml:2:10: invalid YAML: invalid leading UTF-8 octet (0xff)"},
	{"a long value is clipped in the message",
	 "source: a.db\ntarget: c.db\nothers: "
	 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n",
	 "plan.yaml:3:9: unknown value "
	 "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"... for "
	 "\"others\" (expected copy or skip)"},
};

static void test_bad_plans(void)
{
	for (size_t i = 0; i < FERRY_ARRAY_LEN(bad_plans); i++) {
		const struct bad_plan *b = &bad_plans[i];
		ferry_err err = {0, ""};
		ferry_plan *p = (ferry_plan *)&err; /* must come back NULL */
		int rc = ferry__plan_parse(&p, "plan.yaml", b->text, strlen(b->text), &err);
		if (!CHECK(rc == FERRY_EUSAGE && p == NULL && err.code == FERRY_EUSAGE))
			fprintf(stderr, "    case: %s (rc %d)\n", b->what, rc);
		if (strcmp(err.msg, b->msg) != 0)
			fprintf(stderr, "    case: %s\n", b->what);
		CHECK_STR(err.msg, b->msg);
		ferry_plan_free(rc == 0 ? p : NULL);
	}
	/* Without a path, messages say <plan>. */
	ferry_err err;
	ferry_plan *p = NULL;
	CHECK(ferry__plan_parse(&p, NULL, "threads: x\n", 11, &err) == FERRY_EUSAGE);
	CHECK_STR(err.msg, "<plan>:1:10: \"threads\" must be a whole number >= 0, not \"x\"");
}

/* The settings table is the one source of defaults and bounds: a plan that gives no
 * setting has every default, and the loader takes each setting's bounds from the table. */
static void test_settings(void)
{
	static const char base[] = "source: a.db\ntarget: b.db\n";
	ferry_err err = {0, ""};
	ferry_plan *p = NULL;
	if (!CHECK(ferry__plan_parse(&p, "plan.yaml", base, strlen(base), &err) == 0))
		return;
	size_t n = 0;
	for (const ferry_plan_setting *s = ferry__plan_settings; s->name; s++, n++)
		CHECK_INT(ferry__plan_setting_get(p, s), s->def);
	CHECK(n == 5);
	CHECK_STR(p->stages[0].name, ferry__plan_default_stage);
	ferry_plan *q = NULL;
	CHECK(ferry_plan_simple(&q, NULL, "a.db", "b.db") == 0);
	for (const ferry_plan_setting *s = ferry__plan_settings; q && s->name; s++)
		CHECK_INT(ferry__plan_setting_get(q, s), s->def);
	ferry_plan_free(q);
	ferry_plan_free(p);
	for (const ferry_plan_setting *s = ferry__plan_settings; s->name; s++) {
		if (s->kind == FERRY_SETTING_BOOL)
			continue; /* "others" takes words, "strict" true/false: tested above */
		char text[200];
		/* the bounds are accepted */
		for (int edge = 0; edge < 2; edge++) {
			snprintf(text, sizeof(text), "%s%s: %lld\n", base, s->name,
			         (long long)(edge ? s->max : s->min));
			p = NULL;
			if (CHECK(ferry__plan_parse(&p, "plan.yaml", text, strlen(text), &err) == 0))
				CHECK_INT(ferry__plan_setting_get(p, s), edge ? s->max : s->min);
			ferry_plan_free(p);
		}
		/* one below the minimum is refused */
		snprintf(text, sizeof(text), "%s%s: %lld\n", base, s->name, (long long)s->min - 1);
		p = NULL;
		CHECK(ferry__plan_parse(&p, "plan.yaml", text, strlen(text), &err) == FERRY_EUSAGE);
		CHECK(p == NULL);
	}
	/* verify's default coverage: tiers by row count, the last one without bound */
	CHECK_INT(ferry__coverage_default(0)->per10k, 10000);
	CHECK_INT(ferry__coverage_default(100)->per10k, 10000);
	CHECK_INT(ferry__coverage_default(101)->per10k, 2100);
	CHECK_INT(ferry__coverage_default(10001)->per10k, 500);
	CHECK_INT(ferry__coverage_default(INT64_MAX)->per10k, 500);
}

/* ---- ferry_plan_load and ferry_plan_simple ------------------------------------------- */

static void test_load(void)
{
	ferry_ctx ctx;
	ctx_init(&ctx);
	ferry_plan *p = (ferry_plan *)&ctx;
	char *path = ferry__sprintf("%s/tests/unit/plans/no-such-plan.yaml", src_root);
	char *want = ferry__sprintf("plan \"%s\" does not exist", path);
	CHECK(ferry_plan_load(&p, &ctx, path) == FERRY_ENOTFOUND);
	CHECK(p == NULL);
	CHECK_STR(ctx.errmsg, want);
	CHECK_STR(ferry_error_last(), want);
	free(path);
	free(want);

	/* target_schema must exist for a plan file, not for ferry__plan_parse. */
	path = ferry__sprintf("%s/tests/unit/plans/bad-schema-missing.yaml", src_root);
	want = ferry__sprintf("%s:4:16: target_schema \"schema/v2.sql\" does not exist", path);
	p = (ferry_plan *)&ctx;
	CHECK(ferry_plan_load(&p, &ctx, path) == FERRY_EUSAGE);
	CHECK(p == NULL);
	CHECK_STR(ctx.errmsg, want);
	free(want);
	size_t len;
	char *text = read_text(path, &len);
	ferry_err err;
	if (CHECK(text && ferry__plan_parse(&p, path, text, len, &err) == 0)) {
		char *dir = ferry__dirname(path);
		want = ferry__sprintf("%s/schema/v2.sql", dir);
		CHECK(p->nschema == 1);
		if (p->nschema == 1)
			CHECK_STR(p->schema_files[0], want);
		CHECK(p->nstages == 1);
		CHECK_STR(p->stages[0].name, "main");
		CHECK(p->chunk_rows == 50000 && p->threads == 0 && p->max_rejects == 0);
		CHECK(p->strict == 0 && p->copy_others == 1 && p->ntables == 0);
		CHECK(p->nsources == 1);
		CHECK_STR(p->sources[0].name, "source");
		CHECK(p->sources[0].line == 2 && p->sources[0].col == 9);
		free(want);
		free(dir);
		ferry_plan_free(p);
	}
	free(text);
	free(path);

	/* A plan over the size cap is refused before it is read. */
	char big[] = "/tmp/ferry-test-plan-XXXXXX";
	int fd = mkstemp(big);
	if (CHECK(fd >= 0)) {
		CHECK(ftruncate(fd, (off_t)17 << 20) == 0);
		close(fd);
		want = ferry__sprintf("%s: the plan is larger than 16 MiB", big);
		CHECK(ferry_plan_load(&p, &ctx, big) == FERRY_EUSAGE);
		CHECK_STR(ctx.errmsg, want);
		free(want);
		unlink(big);
	}
}

static void test_simple(void)
{
	ferry_ctx ctx;
	ctx_init(&ctx);
	ferry_plan *p = NULL, *q = NULL;
	CHECK(ferry_plan_simple(&p, &ctx, "old.db", "postgresql://h/new") == 0);
	CHECK(ferry_plan_simple(&q, &ctx, "sqlite:old.db", "postgresql://h/other") == 0);
	if (p && q) {
		CHECK(p->path == NULL);
		CHECK(p->nsources == 1);
		CHECK_STR(p->sources[0].name, "source");
		CHECK_STR(p->sources[0].url, "sqlite:old.db");
		CHECK_STR(p->target, "postgresql://h/new");
		CHECK(p->nstages == 1);
		CHECK_STR(p->stages[0].name, "main");
		CHECK(p->ntables == 0 && p->nschema == 0);
		CHECK(p->copy_others == 1 && p->chunk_rows == 50000 && p->threads == 0);
		CHECK(p->max_rejects == 0 && p->strict == 0);
		CHECK(strlen(p->run_digest) == 32);
		CHECK(strcmp(p->run_digest, q->run_digest) != 0);
		CHECK(ferry__plan_check(p, NULL) == 0);
	}
	ferry_plan_free(p);
	ferry_plan_free(q);
	p = (ferry_plan *)&ctx;
	CHECK(ferry_plan_simple(&p, &ctx, "old.db", "") == FERRY_EUSAGE);
	CHECK(p == NULL);
	CHECK_STR(ctx.errmsg, "no target database given");
	/* Addresses are the engines': none takes "mysql:", and a label is no database. */
	CHECK(ferry_plan_simple(&p, &ctx, "mysql:shop", "new.db") == FERRY_EUSAGE);
	CHECK_STR(ctx.errmsg, "no engine for \"mysql:shop\": unknown scheme \"mysql\"");
	CHECK(ferry_plan_simple(&p, &ctx, "old.db", "label:out") == FERRY_EUSAGE);
	CHECK_STR(ctx.errmsg, "\"label:out\" is a label, not a database: ferry export writes a label, ferry import reads one");
	CHECK(ferry_plan_simple(&p, &ctx, "sqlite:", "new.db") == FERRY_EUSAGE);
	CHECK(p == NULL);
}

/* ferry__plan_check on a model changed after parsing: its own locations. */
static void test_check_model(void)
{
	static const char text[] = "source: a.db\ntarget: c.db\ntables:\n  - table: t\n"
	                           "    columns:\n      a: b\n";
	ferry_plan *p = NULL;
	ferry_err err;
	if (!CHECK(ferry__plan_parse(&p, "m.yaml", text, strlen(text), &err) == 0))
		return;
	CHECK(ferry__plan_check(p, &err) == 0);
	ferry_plan_table *t = &p->tables[0];
	free(t->stage);
	t->stage = ferry__strdup("nope");
	CHECK(ferry__plan_check(p, &err) == FERRY_EUSAGE);
	CHECK_STR(err.msg, "m.yaml:4:5: table \"t\" is in stage \"nope\", which is not a stage");
	free(t->stage);
	t->stage = ferry__strdup("main");
	t->cols[0].expr = ferry__strdup("x + 1");
	CHECK(ferry__plan_check(p, &err) == FERRY_EUSAGE);
	CHECK_STR(err.msg, "m.yaml:6:7: column \"a\" has both \"from\" and \"expr\" (expected one of them)");
	ferry_plan_free(p);
	CHECK_STR(ferry__conflict_name(FERRY_CONFLICT_SUM), "sum");
	CHECK_STR(ferry__conflict_name(FERRY_CONFLICT_NONE), "none");
}

/* later: true, false, or a condition (a quoted "true" is a condition, not the flag). */
static void test_later(void)
{
	static const char text[] = "source: a.db\ntarget: c.db\ntables:\n  - table: a\n    later: true\n"
	                           "  - table: b\n    later: \"ts < 10\"\n  - table: c\n    later: no\n"
	                           "  - table: d\n    later: \"true\"\n  - table: e\n";
	ferry_plan *p = NULL;
	ferry_err err;
	if (!CHECK(ferry__plan_parse(&p, "l.yaml", text, strlen(text), &err) == 0 && p->ntables == 5)) {
		fprintf(stderr, "    %s\n", err.msg);
		return;
	}
	CHECK(p->tables[0].later_all == 1 && p->tables[0].later == NULL);
	CHECK(p->tables[1].later_all == 0);
	CHECK_STR(p->tables[1].later, "ts < 10");
	CHECK(p->tables[2].later_all == 0 && p->tables[2].later == NULL);
	CHECK(p->tables[3].later_all == 0);
	CHECK_STR(p->tables[3].later, "true");
	CHECK(p->tables[4].later_all == 0 && p->tables[4].later == NULL);
	CHECK(p->later_mode == FERRY_LATER_NOW);
	ferry_plan_free(p);
}

/* ---- the examples of docs/PLAN-REFERENCE.md load -------------------------------------- */

/* An example's expectation from its leading comment lines ("# expect: exit 2",
 * "# expect-error: TEXT"; see tests/sh/plan-reference.sh, which runs them): the text after
 * `key` on the first such line, copied into out. 0 when there is none. */
static int doc_expect(const char *body, const char *end, const char *key, char *out, size_t cap)
{
	size_t klen = strlen(key);
	for (const char *l = body; l < end && *l == '#';) {
		const char *nl = memchr(l, '\n', (size_t)(end - l));
		const char *le = nl ? nl : end;
		if ((size_t)(le - l) >= klen && strncmp(l, key, klen) == 0) {
			snprintf(out, cap, "%.*s", (int)(le - l) - (int)klen, l + klen);
			return 1;
		}
		l = nl ? nl + 1 : end;
	}
	return 0;
}

static void test_doc_examples(void)
{
	char *path = ferry__sprintf("%s/docs/PLAN-REFERENCE.md", src_root);
	size_t len, n = 0;
	char *doc = read_text(path, &len);
	if (!CHECK(doc != NULL)) {
		free(path);
		return;
	}
	const char *s = doc;
	int line = 1;
	for (const char *q = doc; *q; q++) {
		/* A block starts with ```yaml at a line start and ends with ``` at a line start. */
		if (q != doc && q[-1] != '\n')
			continue;
		if (strncmp(q, "```yaml\n", 8) != 0)
			continue;
		for (const char *c = s; c < q; c++)
			line += *c == '\n';
		s = q;
		const char *body = q + 8, *end = body;
		while (*end && !(strncmp(end, "```", 3) == 0 && (end == body || end[-1] == '\n')))
			end++;
		if (!CHECK(*end != '\0'))
			break;
		ferry_plan *p = NULL;
		ferry_err err;
		int rc = ferry__plan_parse(&p, NULL, body, (size_t)(end - body), &err);
		char code[16], want[512];
		/* An example refused with exit 2 may be refused by the loader, with its message. */
		if (doc_expect(body, end, "# expect: exit ", code, sizeof(code)) && strcmp(code, "2") == 0 &&
		    rc != 0) {
			if (doc_expect(body, end, "# expect-error: ", want, sizeof(want)) &&
			    !CHECK(strstr(err.msg, want) != NULL))
				fprintf(stderr, "    %s:%d: the message \"%s\" does not contain \"%s\"\n", path,
				        line, err.msg, want);
		} else if (!CHECK(rc == 0)) {
			fprintf(stderr, "    %s:%d: the example does not load: %s\n", path, line, err.msg);
		}
		ferry_plan_free(p);
		n++;
		q = end + 2;
	}
	CHECK(n >= 10);
	free(doc);
	free(path);
}

/* ---- nothing crashes ---------------------------------------------------------------- */

static void expect_error(const char *what, const char *text, size_t len)
{
	ferry_plan *p = NULL;
	ferry_err err = {0, ""};
	int rc = ferry__plan_parse(&p, "plan.yaml", text, len, &err);
	if (!CHECK(rc < 0 && p == NULL && strncmp(err.msg, "plan.yaml:", 10) == 0 &&
	           !strchr(err.msg, '\n')))
		fprintf(stderr, "    case %s: rc %d, %s\n", what, rc, err.msg);
	ferry_plan_free(p);
}

static void test_robust(void)
{
	size_t n = 20000;
	char *deep = ferry__malloc(2 * n + 20);
	size_t o = 0;
	o += (size_t)sprintf(deep, "tables: ");
	for (size_t i = 0; i < n; i++)
		deep[o++] = '[';
	for (size_t i = 0; i < n; i++)
		deep[o++] = ']';
	deep[o] = '\0';
	expect_error("deep nesting", deep, o);
	free(deep);

	/* A huge value is kept, and a huge bad value clipped in the message. */
	size_t big = (size_t)4 << 20;
	char *huge = ferry__malloc(big + 128);
	o = (size_t)sprintf(huge, "source: a.db\ntarget: ");
	memset(huge + o, 'x', big);
	o += big;
	o += (size_t)sprintf(huge + o, "\nothers: ");
	memset(huge + o, 'y', 40);
	o += 40;
	huge[o] = '\0';
	ferry_plan *p = NULL;
	ferry_err err;
	CHECK(ferry__plan_parse(&p, "plan.yaml", huge, o, &err) == FERRY_EUSAGE);
	CHECK(strlen(err.msg) < 300);
	free(huge);

	static const char *const nasty[] = {
		"\x01\x02\x03", "{{{{", "]]]]", "- - - - -", "? ? ? ?", "&a [*a]", "!!binary x",
		"source: a.db\ntarget: b\ntables: [{table: t, columns: {a: [1, {b: c}]}}]\n",
		"\xef\xbb\xbfsource: a.db\n", "source: \xc3\n", "\"unterminated",
		"source: a.db\ntarget: b\nstages: [{name: a, after: {x: y}}]\n",
		"source: a.db\ntarget: b\nstages: [{name: a, after: [[x]]}]\n",
		"source: a.db\ntarget: b\ntables: [{table: t, columns: {? [a] : b}}]\n",
		"source: a.db\ntarget: b\ntables: [{table: t, columns: {a: {default: [1]}}}]\n",
		"source: a.db\ntarget: b\ntables: [{table: t, columns: {a: {drop: 1, from: b}}}]\n",
		"source: a.db\ntarget: b\ntables: [{table: [t]}]\n",
		"source: a.db\ntarget: b\ntables: [{table: t, skip: true, rename: u}]\n",
	};
	for (size_t i = 0; i < FERRY_ARRAY_LEN(nasty); i++)
		expect_error(nasty[i], nasty[i], strlen(nasty[i]));

	/* Mutations of the full plan: truncated anywhere, bytes changed anywhere. */
	char *path = ferry__sprintf("%s/tests/unit/plans/good-full.yaml", src_root);
	size_t len;
	char *text = read_text(path, &len);
	free(path);
	if (!text)
		return;
	char *buf = ferry__malloc(len + 1);
	unsigned seed = 12345;
	static const char junk[] = ":-[]{}?&*!|>'\"#%@` \n\t,x0\xff\xc3";
	for (size_t i = 0; i <= len; i++) {
		for (int pass = 0; pass < 3; pass++) {
			memcpy(buf, text, len + 1);
			size_t blen = len;
			if (pass == 0) {
				blen = i;
			} else if (i < len) {
				seed = seed * 1103515245u + 12345u;
				buf[i] = junk[(seed >> 16) % (sizeof(junk) - 1)];
			}
			buf[blen] = '\0';
			p = NULL;
			err.msg[0] = '\0';
			int rc = ferry__plan_parse(&p, "plan.yaml", buf, blen, &err);
			if (rc == 0)
				ferry_plan_free(p);
			else if (!CHECK(p == NULL && strncmp(err.msg, "plan.yaml", 9) == 0))
				fprintf(stderr, "    mutation at %zu: %s\n", i, err.msg);
		}
	}
	free(buf);
	free(text);
}

/* ${VAR} in a plan (issue #17 item 6): expanded from the environment; an unset one is an
 * error naming it and its place; ${VAR:-default}; $${ is a literal ${; SQL's $1 untouched. */
static void test_env(void)
{
	ferry_err err;
	ferry_plan *p = NULL;
	setenv("FERRY_T_SRC", "/data/old.db", 1);
	setenv("FERRY_T_PG", "postgresql://u@h:5433/new", 1);
	unsetenv("FERRY_T_UNSET");
	static const char ok[] =
		"source: ${FERRY_T_SRC}\n"
		"target: \"${FERRY_T_PG}\"\n"
		"tables:\n"
		"  - table: t\n"
		"    where: \"k > ${FERRY_T_UNSET:-10} AND note <> '$${x}' AND n = $1\"\n";
	CHECK(ferry__plan_parse(&p, "env.yaml", ok, strlen(ok), &err) == 0);
	if (p) {
		CHECK_STR(p->sources[0].url, "sqlite:/data/old.db");
		CHECK_STR(p->target, "postgresql://u@h:5433/new");
		CHECK_STR(p->tables[0].where, "k > 10 AND note <> '${x}' AND n = $1");
	}
	ferry_plan_free(p);
	p = NULL;
	static const char unset[] = "source: old.db\n\ntarget: ${FERRY_T_UNSET}\n";
	CHECK(ferry__plan_parse(&p, "env.yaml", unset, strlen(unset), &err) == FERRY_EUSAGE);
	CHECK(p == NULL);
	CHECK_HAS(err.msg, "env.yaml:3:9: environment variable \"FERRY_T_UNSET\" is not set");
	static const char bad[] = "source: old.db\ntarget: ${FERRY T}\n";
	CHECK(ferry__plan_parse(&p, "env.yaml", bad, strlen(bad), &err) == FERRY_EUSAGE);
	CHECK_HAS(err.msg, "env.yaml:2:9:");
	CHECK_HAS(err.msg, "is not a variable of the environment");
	static const char open_[] = "source: old.db\ntarget: ${FERRY_T_SRC\n";
	CHECK(ferry__plan_parse(&p, "env.yaml", open_, strlen(open_), &err) == FERRY_EUSAGE);
	unsetenv("FERRY_T_SRC");
	unsetenv("FERRY_T_PG");
}

int main(void)
{
	find_root();
	test_url_resolve();
	test_good_full();
	test_bad_plans();
	test_settings();
	test_load();
	test_simple();
	test_check_model();
	test_later();
	test_doc_examples();
	test_robust();
	test_env();
	free(src_root);
	return check_summary();
}
