/* test_alloc.c — fail the Nth allocation (SQLite's malloc tests, curl's runtests -t): a copy,
 * an export, an import and a full verify each run once to count their allocations K, then
 * again with allocation N failing, for N in 1..K (a spread when K is large). Each must end
 * with a negative code and a one-line message about memory: no crash, no assertion, no
 * leak (LeakSanitizer checks every few runs where it is built in, and at exit).
 * FERRY_ALLOC_ALL=1 tries every N, failing once and for good; FERRY_ALLOC_N=n tries that N only
 * (for debugging); FERRY_ALLOC_SCENARIO=0..3 runs one scenario. */
#include <dlfcn.h>
#include <execinfo.h>
#include <ftw.h>
#include <stdatomic.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "ferry_int.h"
#include "check.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define LEAK_CHECK() __lsan_do_recoverable_leak_check()
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#include <sanitizer/lsan_interface.h>
#define LEAK_CHECK() __lsan_do_recoverable_leak_check()
#endif
#endif
#ifndef LEAK_CHECK
#define LEAK_CHECK() 0
#else
/* A known leak in a file this test's author was asked not to edit (see known[] below):
 * verify.c setup_table sets vt->cols[n] and vt->qcols[n] before vt->ncols counts them, so
 * when a later allocation for column n fails, the table's free misses them. */
const char *__lsan_default_suppressions(void) { return "leak:setup_table\n"; }
#endif

/* The N tried per scenario when K is larger (FERRY_ALLOC_BUDGET changes it): the first
 * FIRST one by one (opening, plan and schema work), then an even spread over the rest that
 * reaches every phase of a run, so the four scenarios stay well under a minute. */
#define FIRST 20
#define BUDGET 100
#define CHECK_EVERY 10

static char dir[] = "/tmp/ferry-test-alloc-XXXXXX";

/* The stack of the first allocation failed in a run (ferry__alloc_on_fail). */
static void *frames[32];
static atomic_int nframes, taken;

static void take_stack(void)
{
	if (atomic_exchange(&taken, 1) == 0)
		atomic_store(&nframes, backtrace(frames, 32));
}

/* Failures handled wrongly in files this test's author was asked not to edit (they are being
 * rewritten): the first function above the allocator on the failed allocation's stack, and
 * the next named one (NULL: any). Each entry goes when its file is fixed. */
static const struct {
	const char *fn, *caller, *why;
} known[] = {
	{"ferry__summary_note", NULL, "run.c prepare_target ignores ferry__summary_note's result"},
	{"ferry__summary_add", NULL, "run.c ferry_copy ignores ferry__summary_add's result"},
	{"ferry_url_mask", "ferry__verify_run", "verify.c keeps rep->target NULL unchecked"},
	{"ferry__note", "ferry__verify_run", "verify.c add_note's failure leaves err without a message"},
};

static const char *frame_name(void *pc)
{
	Dl_info di;
	return dladdr(pc, &di) && di.dli_sname ? di.dli_sname : NULL;
}

/* The known issue the failed allocation's stack shows, or NULL. */
static const char *known_issue(void)
{
	static const char *const allocator[] = {"ferry__malloc", "ferry__calloc", "ferry__realloc",
	                                        "ferry__strdup", "ferry__strndup", "ferry__sprintf",
	                                        "ferry__grow", "take_stack"};
	const char *named[2] = {NULL, NULL};
	int got = 0, n = atomic_load(&nframes);
	for (int i = 1; i < n && got < 2; i++) {
		const char *f = frame_name(frames[i]);
		int skip = !f;
		for (size_t k = 0; !skip && k < FERRY_ARRAY_LEN(allocator); k++)
			skip = strcmp(f, allocator[k]) == 0;
		if (!skip)
			named[got++] = f;
	}
	for (size_t k = 0; named[0] && k < FERRY_ARRAY_LEN(known); k++)
		if (strcmp(named[0], known[k].fn) == 0 &&
		    (!known[k].caller || (named[1] && strcmp(named[1], known[k].caller) == 0)))
			return known[k].why;
	return NULL;
}

static void print_stack(void)
{
	int n = atomic_load(&nframes);
	for (int i = 1; i < n && i < 12; i++) {
		const char *f = frame_name(frames[i]);
		fprintf(stderr, "      %s\n", f ? f : "(static)");
	}
}

static char *tpath(const char *rel)
{
	static char b[8][512];
	static int k;
	k = (k + 1) % 8;
	snprintf(b[k], sizeof(b[k]), "%s/%s", dir, rel);
	return b[k];
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void rm_rf(const char *p)
{
	nftw(p, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void spit(const char *rel, const char *text)
{
	FILE *f = fopen(tpath(rel), "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
		perror(rel);
		exit(1);
	}
}

static void sql(const char *db, const char *text)
{
	sqlite3 *h;
	char *msg = NULL;
	if (sqlite3_open(tpath(db), &h) != SQLITE_OK || sqlite3_exec(h, text, NULL, NULL, &msg) != SQLITE_OK) {
		fprintf(stderr, "%s: %s\n", db, msg ? msg : sqlite3_errmsg(h));
		exit(1);
	}
	sqlite3_close(h);
}

/* Two sources of one table merged into a renamed target table, with a filter, computed
 * columns, drops and merge rules, in two stages and small chunks, on two threads. */
static const char plan_yaml[] =
	"sources:\n  a: a.db\n  b: b.db\n"
	"target: target.db\ntarget_schema: schema.sql\nthreads: 2\nchunk_rows: 7\nothers: skip\n"
	"stages:\n  - name: first\n  - name: second\n    after: first\n"
	"tables:\n"
	"  - table: items\n    source: a\n    stage: first\n    rename: goods\n    where: \"deleted = 0\"\n"
	"    columns:\n"
	"      label: { from: name, conflict: first }\n"
	"      qty: { conflict: sum }\n"
	"      price: { expr: \"price_cents / 100.0\", conflict: max }\n"
	"      price_cents: { drop: true }\n      deleted: { drop: true }\n"
	"  - table: items\n    source: b\n    stage: second\n    rename: goods\n    where: \"deleted = 0\"\n"
	"    columns:\n"
	"      label: { from: name, conflict: first }\n"
	"      qty: { conflict: sum }\n"
	"      price: { expr: \"price_cents / 100.0\", conflict: max }\n"
	"      price_cents: { drop: true }\n      deleted: { drop: true }\n"
	"  - table: notes\n    source: a\n    stage: first\n"
	"    columns:\n      body: { expr: \"upper(body)\" }\n";

static void setup(void)
{
	static const char src[] =
		"CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT, qty INTEGER, price_cents INTEGER,"
		" deleted INTEGER NOT NULL DEFAULT 0);"
		"CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT, item INTEGER);"
		"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40)"
		" INSERT INTO items SELECT i * %d, 'item ' || i, i %% 5, i * 137, i %% 9 = 0 FROM n;"
		"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20)"
		" INSERT INTO notes SELECT i, 'note ' || i, i FROM n;";
	char text[sizeof(src) + 16];
	snprintf(text, sizeof(text), src, 1);
	sql("a.db", text);
	snprintf(text, sizeof(text), src, 2); /* every second key meets a's */
	sql("b.db", text);
	spit("schema.sql", "CREATE TABLE goods(id INTEGER PRIMARY KEY, label TEXT, qty INTEGER, price REAL);\n"
	                   "CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT, item INTEGER);\n");
	spit("plan.yaml", plan_yaml);
}

static void fresh_target(void)
{
	static const char *const tails[] = {"", "-journal", "-wal", "-shm", ".rejects.jsonl"};
	char p[600];
	for (size_t i = 0; i < FERRY_ARRAY_LEN(tails); i++) {
		snprintf(p, sizeof(p), "%s%s", tpath("target.db"), tails[i]);
		unlink(p);
	}
	unlink(tpath("ferry-rejects.jsonl"));
}

enum { S_COPY, S_EXPORT, S_IMPORT, S_VERIFY };
static const char *const scenario_name[] = {"copy", "export", "import", "verify --full"};

/* One call of a scenario on a fresh end; returns its code and, on failure, its message. */
static int run(int s, ferry_ctx *ctx, const ferry_plan *plan, char *msg, size_t msgsz)
{
	ferry_copy_options co = FERRY_COPY_OPTIONS_INIT;
	ferry_verify_options vo = FERRY_VERIFY_OPTIONS_INIT;
	ferry_summary *sum = NULL;
	ferry_verify_report *rep = NULL;
	int rc;
	co.rejects_path = tpath("rejects.jsonl");
	switch (s) {
	case S_COPY:
		fresh_target();
		rc = ferry_copy(&sum, ctx, plan, &co);
		break;
	case S_EXPORT:
		rm_rf(tpath("label-try"));
		rc = ferry_export(&sum, ctx, plan, tpath("label-try"), &co);
		break;
	case S_IMPORT:
		fresh_target();
		rc = ferry_import(&sum, ctx, plan, tpath("label"), NULL, &co);
		break;
	default:
		vo.full = 1;
		rc = ferry_verify(&rep, ctx, plan, &vo);
		if (rc == 0 && !ferry_verify_report_ok(rep))
			rc = 1; /* a verdict of "different" would be a wrong answer, not a clean error */
		break;
	}
	snprintf(msg, msgsz, "%s", rc ? ferry_errmsg(ctx) : "");
	ferry_summary_free(sum);
	ferry_verify_report_free(rep);
	return rc;
}

/* A one-line message that says memory ran out. */
static int memory_message(const char *m)
{
	return *m && !strchr(m, '\n') && strstr(m, "out of memory");
}

static long env_long(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? strtol(v, NULL, 10) : 0;
}

static void scenario(int s, const ferry_plan *plan)
{
	ferry_ctx *ctx;
	char msg[1100];
	if (!CHECK(ferry_ctx_new(&ctx) == 0))
		return;
	ferry__alloc_fail_at(0, 0);
	int rc = run(s, ctx, plan, msg, sizeof(msg));
	long k = ferry__alloc_count();
	if (!CHECK(rc == 0)) {
		fprintf(stderr, "    %s without faults: %s\n", scenario_name[s], msg);
		ferry_ctx_free(ctx);
		return;
	}
	long only = env_long("FERRY_ALLOC_N"), all = env_long("FERRY_ALLOC_ALL");
	long budget = env_long("FERRY_ALLOC_BUDGET") > FIRST ? env_long("FERRY_ALLOC_BUDGET") : BUDGET;
	long step = all || k <= budget ? 1 : (k - FIRST + budget - FIRST - 1) / (budget - FIRST);
	long tried = 0, bad = 0, leaky = 0, nknown = 0, checked_from = 1;
	int verbose = only || all;
	time_t t0 = time(NULL);
	long idx = 0;
	for (long n = only ? only : 1; n <= (only ? only : k); n += n < FIRST ? 1 : step, idx++) {
		for (int persistent = 0; persistent < 2; persistent++) {
			/* Persistent failure for every fifth N: cleanup must need no memory. */
			if (persistent && idx % 5 != 2 && !only && !all)
				continue;
			atomic_store(&taken, 0);
			atomic_store(&nframes, 0);
			ferry__alloc_fail_at(n, persistent);
			rc = run(s, ctx, plan, msg, sizeof(msg));
			long failed = ferry__alloc_failures();
			ferry__alloc_fail_at(-1, 0);
			tried++;
			/* A run with threads may allocate fewer than k times: then nothing failed. */
			int ok = failed ? rc < 0 && memory_message(msg) : rc == 0;
			const char *why = ok ? NULL : known_issue();
			if (why) {
				nknown++;
				if (verbose)
					fprintf(stderr, "%s: allocation %ld%s: known: %s\n", scenario_name[s], n,
					        persistent ? " and later" : "", why);
			} else if (!ok) {
				bad++;
				fprintf(stderr, "%s: allocation %ld%s: rc %d, %ld failed: \"%s\"\n",
				        scenario_name[s], n, persistent ? " and later" : "", rc, failed, msg);
				print_stack();
			}
			/* A check costs about as much as a run, so one every CHECK_EVERY runs names the
			 * range to retry with FERRY_ALLOC_N; a leak stays reported by every later check,
			 * so the first range is the one. LeakSanitizer checks everything again at exit. */
			if (!leaky && (verbose || tried % CHECK_EVERY == 0) && LEAK_CHECK()) {
				leaky++;
				fprintf(stderr, "%s: a leak (report above) after failing allocation %ld..%ld\n",
				        scenario_name[s], checked_from, n);
			}
			if (tried % CHECK_EVERY == 0)
				checked_from = n;
		}
	}
	if (!leaky && LEAK_CHECK()) {
		leaky++;
		fprintf(stderr, "%s: a leak (report above) after failing allocation %ld..%ld\n",
		        scenario_name[s], checked_from, k);
	}
	CHECK_INT(bad, 0);
	CHECK_INT(leaky, 0);
	printf("%s: %ld allocations, %ld runs with a failing allocation (%ld known issues), %lds\n",
	       scenario_name[s], k, tried, nknown, (long)(time(NULL) - t0));
	ferry_ctx_free(ctx);
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	setup();
	ferry__alloc_on_fail(take_stack);
	ferry_ctx *ctx;
	ferry_plan *plan = NULL;
	if (ferry_ctx_new(&ctx) != 0 || ferry_plan_load(&plan, ctx, tpath("plan.yaml")) != 0) {
		fprintf(stderr, "plan: %s\n", ferry_error_last());
		return 1;
	}
	/* The import reads a complete label, and the verify a complete target, made once. */
	ferry_copy_options co = FERRY_COPY_OPTIONS_INIT;
	ferry_summary *sum = NULL;
	co.rejects_path = tpath("rejects.jsonl");
	if (!CHECK(ferry_export(&sum, ctx, plan, tpath("label"), &co) == 0))
		fprintf(stderr, "    export: %s\n", ferry_errmsg(ctx));
	ferry_summary_free(sum);
	const char *only = getenv("FERRY_ALLOC_SCENARIO");
	for (int s = S_COPY; s <= S_VERIFY; s++) {
		if (only && *only && atoi(only) != s)
			continue;
		if (s == S_VERIFY) {
			/* verify compares with the target a copy made */
			char msg[1100];
			fresh_target();
			if (!CHECK(run(S_COPY, ctx, plan, msg, sizeof(msg)) == 0))
				fprintf(stderr, "    copy: %s\n", msg);
		}
		scenario(s, plan);
	}
	ferry_plan_free(plan);
	ferry_ctx_free(ctx);
	if (!getenv("FERRY_ALLOC_KEEP")) rm_rf(dir);
	return check_summary();
}
