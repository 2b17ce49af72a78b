/* test_history.c — unit tests of versioned migrations: version parsing and ordering, file
 * names and discovery, SHA-256 checksums, the state of each version from files and rows, and
 * the SQLite engine's migration callbacks (split_sql, needs_autocommit, exec_params, the lock)
 * with the ferry_history table read and written through them. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "ferry_int.h"
#include "history/history.h"
#include "check.h"

static char dir[256];
static const ferry_engine *E = &ferry__sqlite_engine;

static void write_file(const char *sub, const char *name, const char *text)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, name);
	FILE *f = fopen(path, "wb");
	if (!f) {
		perror(path);
		exit(1);
	}
	fputs(text, f);
	fclose(f);
}

static char *subdir(const char *sub)
{
	static char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	mkdir(path, 0755);
	return path;
}

/* ---- versions ---------------------------------------------------------------------- */

static void test_versions(void)
{
	CHECK(ferry__version_valid("1", 1));
	CHECK(ferry__version_valid("1.10", 4));
	CHECK(ferry__version_valid("2.0.3", 5));
	CHECK(ferry__version_valid("007", 3));
	CHECK(!ferry__version_valid("", 0));
	CHECK(!ferry__version_valid("1.", 2));
	CHECK(!ferry__version_valid(".1", 2));
	CHECK(!ferry__version_valid("1..2", 4));
	CHECK(!ferry__version_valid("1a", 2));
	CHECK(!ferry__version_valid("1_1", 3));
	CHECK(!ferry__version_valid("-1", 2));

	CHECK(ferry__version_cmp("1.9", "1.10") < 0);
	CHECK(ferry__version_cmp("1.10", "1.9") > 0);
	CHECK(ferry__version_cmp("1", "1.0") == 0);
	CHECK(ferry__version_cmp("1.0.0", "1") == 0);
	CHECK(ferry__version_cmp("01", "1") == 0);
	CHECK(ferry__version_cmp("1.0.1", "1") > 0);
	CHECK(ferry__version_cmp("2", "1.99") > 0);
	CHECK(ferry__version_cmp("10", "9") > 0);
	CHECK(ferry__version_cmp("0", "0.0") == 0);
	/* Components longer than any integer type still compare by value. */
	CHECK(ferry__version_cmp("123456789012345678901234567890", "123456789012345678901234567891") < 0);
	CHECK(ferry__version_cmp("99999999999999999999", "100000000000000000000") < 0);
}

static void test_names(void)
{
	ferry_mig_name n;
	ferry_err err = {0};
	CHECK(ferry__mig_parse_name(&n, "V1.2__add_users.sql", "m", &err) == 0);
	CHECK_STR(n.version, "1.2");
	CHECK_STR(n.description, "add users");
	CHECK(!n.down);
	free(n.version);
	free(n.description);
	CHECK(ferry__mig_parse_name(&n, "V3__drop_it.down.sql", "m", &err) == 0);
	CHECK_STR(n.version, "3");
	CHECK_STR(n.description, "drop it");
	CHECK(n.down);
	free(n.version);
	free(n.description);
	/* Double underscores in the description are kept (as two spaces). */
	CHECK(ferry__mig_parse_name(&n, "V4__a__b.sql", "m", &err) == 0);
	CHECK_STR(n.description, "a  b");
	free(n.version);
	free(n.description);

	static const char *const bad[] = {"1__x.sql", "v1__x.sql", "V1_x.sql", "V__x.sql",
	                                  "V1a__x.sql", "V1.__x.sql", "V1__.sql", "V1__.down.sql",
	                                  "V1__x.txt", "V1.2.sql"};
	for (size_t i = 0; i < FERRY_ARRAY_LEN(bad); i++) {
		memset(&err, 0, sizeof(err));
		CHECK(ferry__mig_parse_name(&n, bad[i], "mdir", &err) == FERRY_EUSAGE);
		CHECK(strstr(err.msg, bad[i]) != NULL && strstr(err.msg, "\"mdir\"") != NULL);
		CHECK(n.version == NULL && n.description == NULL);
	}
}

static void test_checksum(void)
{
	char hex[65];
	ferry_err err = {0};
	ferry_sha256 *h = NULL;
	CHECK(ferry__sha256_new(&h, &err) == 0);
	if (!h)
		return;
	CHECK(ferry__sha256_hex(h, hex, "abc", 3, &err) == 0);
	CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	CHECK(ferry__sha256_hex(h, hex, "", 0, &err) == 0);
	CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	ferry__sha256_free(h);
}

static void test_scan(void)
{
	ferry_err err = {0};
	ferry_mig_problems pr = {0};
	ferry_mig_file *f = NULL;
	size_t n = 0;

	const char *d = subdir("ok");
	write_file("ok", "V1.10__ten.sql", "SELECT 10;");
	write_file("ok", "V1.9__nine.sql", "SELECT 9;");
	write_file("ok", "V1.9__nine.down.sql", "SELECT -9;");
	write_file("ok", "V2__two.sql", "abc");
	write_file("ok", "V1__one.sql", "SELECT 1;");
	write_file("ok", "README.md", "not a migration");
	write_file("ok", "notes.txt", "nor this");
	CHECK(ferry__mig_scan(&f, &n, d, NULL, &pr, &err) == 0);
	CHECK(pr.n == 0);
	CHECK(n == 4);
	if (n == 4) {
		CHECK_STR(f[0].version, "1");
		CHECK_STR(f[1].version, "1.9");
		CHECK_STR(f[1].down, "V1.9__nine.down.sql");
		CHECK_STR(f[2].version, "1.10");
		CHECK(f[2].down == NULL);
		CHECK_STR(f[3].up, "V2__two.sql");
		CHECK_STR(f[3].checksum, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	}
	ferry__mig_files_free(f, n);

	/* Every problem is reported by file name, not only the first. */
	d = subdir("bad");
	write_file("bad", "V1__one.sql", "x");
	write_file("bad", "V1.0__one_again.sql", "x");
	write_file("bad", "V2__two.sql", "x");
	write_file("bad", "V2__other.down.sql", "x");
	write_file("bad", "V3__three.down.sql", "x");
	write_file("bad", "add_users.sql", "x");
	write_file("bad", "V4x__four.sql", "x");
	CHECK(ferry__mig_scan(&f, &n, d, NULL, &pr, &err) == FERRY_EUSAGE);
	CHECK(f == NULL && n == 0);
	CHECK(pr.n == 5);
	char all[4096] = "";
	for (size_t i = 0; i < pr.n; i++) {
		strncat(all, pr.v[i].msg, sizeof(all) - strlen(all) - 2);
		strcat(all, "\n");
	}
	CHECK_HAS(all, "two files for version 1");
	CHECK_HAS(all, "\"V1.0__one_again.sql\" and \"V1__one.sql\"");
	CHECK_HAS(all, "\"V2__other.down.sql\"");
	CHECK_HAS(all, "down script \"V3__three.down.sql\"");
	CHECK_HAS(all, "bad migration file name \"add_users.sql\"");
	CHECK_HAS(all, "the version \"4x\"");
	CHECK_HAS(err.msg, "5 problems");
	ferry__mig_problems_clear(&pr);

	CHECK(ferry__mig_scan(&f, &n, "/nonexistent/dir", NULL, &pr, &err) == FERRY_ENOTFOUND);
	CHECK_HAS(err.msg, "/nonexistent/dir");
}

/* The checksum of file name as the scan of sub (with the cache in cdir) reports it. */
static void scan_sum(const char *sub, const char *cdir, const char *name, char out[65])
{
	ferry_err err = {0};
	ferry_mig_problems pr = {0};
	ferry_mig_file *f = NULL;
	size_t n = 0;
	out[0] = '\0';
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	CHECK(ferry__mig_scan(&f, &n, path, cdir, &pr, &err) == 0);
	for (size_t i = 0; i < n; i++)
		if (strcmp(f[i].up, name) == 0)
			memcpy(out, f[i].checksum, 65);
	ferry__mig_files_free(f, n);
	ferry__mig_problems_clear(&pr);
}

/* Overwrite the checksum of every record of the cache files of cdir with zeros (the layout
 * of src/history/sums.c: a 24-byte header, then 80-byte records ending in 32 sum bytes). */
static int tamper(const char *cdir)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "ls '%s'/sums-*", cdir);
	FILE *ls = popen(cmd, "r");
	char path[512];
	int n = 0;
	while (ls && fgets(path, sizeof(path), ls)) {
		path[strcspn(path, "\n")] = '\0';
		FILE *f = fopen(path, "r+b");
		uint32_t h[4];
		if (!f || fseek(f, 8, SEEK_SET) != 0 || fread(h, sizeof(h), 1, f) != 1) {
			if (f)
				fclose(f);
			continue;
		}
		static const unsigned char zero[32];
		for (uint32_t i = 0; i < h[1]; i++)
			if (fseek(f, 24 + 80 * (long)i + 48, SEEK_SET) == 0 && fwrite(zero, 32, 1, f) == 1)
				n++;
		fclose(f);
	}
	if (ls)
		pclose(ls);
	return n;
}

static void test_cache(void)
{
	char cdir[400], a[65], b[65];
	snprintf(cdir, sizeof(cdir), "%s/cache/nested", dir);
	subdir("cached");
	write_file("cached", "V1__one.sql", "SELECT 1;");
	write_file("cached", "V2__two.sql", "SELECT 2;");
	/* Fresh files are never cached (their ctime is too recent to trust): no cache file. */
	scan_sum("cached", cdir, "V1__one.sql", a);
	CHECK(strlen(a) == 64);
	struct stat st;
	/* Two seconds on, the entries are old enough: the next scan writes them. */
	sleep(2);
	usleep(200000);
	scan_sum("cached", cdir, "V1__one.sql", b);
	CHECK_STR(b, a);
	CHECK(stat(cdir, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700);
	/* The cache is used: a checksum planted in it is what the scan reports... */
	static const char fake[] = "0000000000000000000000000000000000000000000000000000000000000000";
	CHECK(tamper(cdir) == 2);
	scan_sum("cached", cdir, "V1__one.sql", b);
	CHECK_STR(b, fake);
	/* ...until the file changes: same size, mtime put back, but its ctime moves. */
	char path[512];
	snprintf(path, sizeof(path), "%s/cached/V1__one.sql", dir);
	struct stat before;
	CHECK(stat(path, &before) == 0);
	write_file("cached", "V1__one.sql", "SELECT 3;");
	struct timespec times[2] = {before.st_atim, before.st_mtim};
	CHECK(utimensat(AT_FDCWD, path, times, 0) == 0);
	scan_sum("cached", cdir, "V1__one.sql", b);
	CHECK(strlen(b) == 64 && strcmp(b, fake) != 0 && strcmp(b, a) != 0);
	/* A damaged cache is ignored as a whole, never trusted in part. */
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "for f in '%s'/sums-*; do printf x >> \"$f\"; done", cdir);
	CHECK(system(cmd) == 0);
	scan_sum("cached", cdir, "V2__two.sql", b);
	CHECK(strlen(b) == 64 && strcmp(b, fake) != 0);
}

/* ---- states ------------------------------------------------------------------------ */

static ferry_arena *rows_arena; /* the strings of mk_row's rows */

static char *adup(const char *s)
{
	return s ? ferry_arena_strdup(rows_arena, s) : NULL;
}

static ferry_hist_row mk_row(int64_t rank, const char *version, const char *kind,
                             const char *script, const char *checksum, int success)
{
	ferry_hist_row r;
	memset(&r, 0, sizeof(r));
	r.rank = rank;
	r.version = adup(version);
	r.description = adup("d");
	r.kind = adup(kind);
	r.script = adup(script);
	r.checksum = adup(checksum);
	r.applied_at = adup("2026-01-01T00:00:00Z");
	r.success = success;
	r.rows_moved = -1;
	return r;
}

static ferry_mig_file mk_file(const char *version, const char *checksum, int down)
{
	ferry_mig_file f;
	memset(&f, 0, sizeof(f));
	f.version = ferry__strdup(version);
	f.description = ferry__strdup("d");
	f.up = ferry__sprintf("V%s__d.sql", version);
	f.down = down ? ferry__sprintf("V%s__d.down.sql", version) : NULL;
	snprintf(f.checksum, sizeof(f.checksum), "%s", checksum);
	return f;
}

static int state_of(const ferry_migrations *m, const char *version)
{
	for (size_t i = 0; i < m->nentries; i++)
		if (strcmp(m->entries[i].version, version) == 0)
			return m->entries[i].state;
	return -1;
}

static void test_states(void)
{
	ferry_err err = {0};
	ferry_migrations *m = calloc(1, sizeof(*m));
	m->db = ferry__strdup("t.db");
	m->dir = ferry__strdup("migrations");
	m->nfiles = 6;
	m->files = calloc(6, sizeof(*m->files));
	m->files[0] = mk_file("1", "aa", 0);
	m->files[1] = mk_file("1.5", "xx", 0);   /* new, older than the newest applied */
	m->files[2] = mk_file("2", "CHANGED", 1);
	m->files[3] = mk_file("4", "dd", 1);     /* applied, then undone: pending again */
	m->files[4] = mk_file("5", "ee", 0);     /* failed */
	m->files[5] = mk_file("6", "ff", 0);     /* new */
	m->arena = rows_arena = ferry_arena_new(0);
	m->nrows = 8;
	m->rows = calloc(8, sizeof(*m->rows));
	m->rows[0] = mk_row(1, "1", "schema", "V1__d.sql", "aa", 1);
	m->rows[1] = mk_row(2, "2", "schema", "V2__d.sql", "bb", 1);
	m->rows[2] = mk_row(3, "3", "schema", "V3__d.sql", "cc", 1);  /* its file is gone */
	m->rows[3] = mk_row(4, "4", "schema", "V4__d.sql", "dd", 1);
	m->rows[4] = mk_row(5, "4", "schema", "V4__d.down.sql", "d2", 1);
	m->rows[5] = mk_row(6, "5", "schema", "V5__d.sql", "ee", 0);
	m->rows[6] = mk_row(7, NULL, "data", NULL, NULL, 1);
	m->rows[7] = mk_row(8, "1.0", "schema", "V1.0__x.sql", "zz", 0); /* 1.0 is version 1 */
	CHECK(ferry__mig_compute(m, 0, 0, &err) == 0);
	CHECK(state_of(m, "1") == FERRY_MIGRATION_FAILED); /* its last row failed */
	CHECK(state_of(m, "1.5") == FERRY_MIGRATION_OUT_OF_ORDER);
	CHECK(state_of(m, "2") == FERRY_MIGRATION_CHANGED);
	CHECK(state_of(m, "3") == FERRY_MIGRATION_MISSING);
	CHECK(state_of(m, "4") == FERRY_MIGRATION_PENDING);
	CHECK(state_of(m, "5") == FERRY_MIGRATION_FAILED);
	CHECK(state_of(m, "6") == FERRY_MIGRATION_PENDING);
	CHECK_STR(m->current, "3");
	CHECK(m->npending == 2);
	CHECK(m->problems.n == 5);

	/* The options turn out-of-order and missing into allowed states. */
	CHECK(ferry__mig_compute(m, 1, 1, &err) == 0);
	CHECK(state_of(m, "1.5") == FERRY_MIGRATION_PENDING);
	CHECK(state_of(m, "3") == FERRY_MIGRATION_IGNORED);
	CHECK(m->npending == 3);
	CHECK(m->problems.n == 3);
	ferry_migrations_free(m);

	/* A baseline: versions up to it count as applied, later ones are pending. */
	m = calloc(1, sizeof(*m));
	m->db = ferry__strdup("t.db");
	m->dir = ferry__strdup("migrations");
	m->nfiles = 3;
	m->files = calloc(3, sizeof(*m->files));
	m->files[0] = mk_file("1", "aa", 0);
	m->files[1] = mk_file("2.1", "bb", 0);
	m->files[2] = mk_file("3", "cc", 0);
	m->arena = rows_arena = ferry_arena_new(0);
	m->nrows = 1;
	m->rows = calloc(1, sizeof(*m->rows));
	m->rows[0] = mk_row(1, "2", "baseline", NULL, NULL, 1);
	CHECK(ferry__mig_compute(m, 0, 0, &err) == 0);
	CHECK(m->nentries == 4);
	CHECK(state_of(m, "1") == FERRY_MIGRATION_BASELINE);
	CHECK(state_of(m, "2") == FERRY_MIGRATION_BASELINE);
	CHECK(state_of(m, "2.1") == FERRY_MIGRATION_PENDING);
	CHECK(state_of(m, "3") == FERRY_MIGRATION_PENDING);
	CHECK(m->nentries == 4 && strcmp(m->entries[1].version, "2") == 0);
	CHECK_STR(m->current, "2");
	CHECK(m->problems.n == 0);
	ferry_migrations_free(m);
}

/* ---- the SQLite engine's migration callbacks --------------------------------------- */

typedef struct split_out {
	char stmt[16][200];
	int line[16];
	int n;
} split_out;

static int on_stmt(void *ud, const char *s, size_t len, int line)
{
	split_out *o = ud;
	if (o->n < 16) {
		snprintf(o->stmt[o->n], sizeof(o->stmt[0]), "%.*s", (int)len, s);
		o->line[o->n] = line;
	}
	o->n++;
	return 0;
}

static void test_split(void)
{
	ferry_err err = {0};
	split_out o;
	memset(&o, 0, sizeof(o));
	const char *sql =
		"-- a comment; with a semicolon\n"
		"CREATE TABLE a(x TEXT DEFAULT 'a;b', \"we;ird\" INT);\n"
		"\n"
		"/* block; comment */ INSERT INTO a VALUES ('it''s;', 1);;\n"
		"CREATE TRIGGER tr AFTER INSERT ON a BEGIN\n"
		"  UPDATE a SET x = 'y;' WHERE rowid = new.rowid;\n"
		"  SELECT 1;\n"
		"END;\n"
		"SELECT [br;acket], `back;tick` FROM a\n"
		"-- trailing comment";
	CHECK(E->migrate->split_sql(sql, on_stmt, &o, &err) == 0);
	CHECK(o.n == 4);
	CHECK_STR(o.stmt[0], "CREATE TABLE a(x TEXT DEFAULT 'a;b', \"we;ird\" INT)");
	CHECK(o.line[0] == 2);
	CHECK_STR(o.stmt[1], "INSERT INTO a VALUES ('it''s;', 1)");
	CHECK(o.line[1] == 4);
	CHECK(strncmp(o.stmt[2], "CREATE TRIGGER tr", 17) == 0 &&
	      strcmp(o.stmt[2] + strlen(o.stmt[2]) - 3, "END") == 0);
	CHECK(o.line[2] == 5);
	CHECK(strncmp(o.stmt[3], "SELECT [br;acket], `back;tick` FROM a", 37) == 0);
	CHECK(o.line[3] == 9);

	memset(&o, 0, sizeof(o));
	CHECK(E->migrate->split_sql("  -- only a comment\n ; ;\n", on_stmt, &o, &err) == 0);
	CHECK(o.n == 0);

	CHECK(E->migrate->needs_autocommit("VACUUM", 6) == 1);
	CHECK(E->migrate->needs_autocommit("vacuum into 'x.db'", 18) == 1);
	CHECK(E->migrate->needs_autocommit("PRAGMA foreign_keys = ON", 24) == 1);
	CHECK(E->migrate->needs_autocommit("pragma main.journal_mode=wal", 28) == 1);
	CHECK(E->migrate->needs_autocommit("PRAGMA user_version = 3", 23) == 0);
	CHECK(E->migrate->needs_autocommit("CREATE TABLE vacuum_log(x)", 26) == 0);
	CHECK(E->migrate->needs_autocommit("VACUUMX", 7) == 0);
	CHECK(E->migrate->needs_autocommit("CREATE INDEX i ON t(x)", 22) == 0);
}

static void test_engine(void)
{
	ferry_err err = {0};
	char path[400], url[420];
	snprintf(path, sizeof(path), "%s/e.db", dir);
	snprintf(url, sizeof(url), "sqlite:%s", path);
	ferry_conn *a = NULL, *b = NULL;
	CHECK(E->core->connect(&a, url, FERRY_CONNECT_CREATE, &err) == 0);
	if (!a)
		return;
	/* exec_params: $n parameters, in any order and repeated; a wrong count is refused. (The
	 * reader opens once the file holds a table: an empty file is no source.) */
	CHECK(E->core->exec(a, "CREATE TABLE p(a, b, c)", &err) == 0);
	CHECK(E->core->connect(&b, url, FERRY_CONNECT_READONLY, &err) == 0);
	if (!b) {
		E->core->close(a);
		return;
	}
	ferry_value v[2];
	memset(v, 0, sizeof(v));
	v[0].type = FERRY_TEXT;
	v[0].v.s = "x";
	v[0].len = 1;
	v[1].type = FERRY_INT;
	v[1].v.i = 42;
	int64_t changed = -1;
	CHECK(E->core->exec_params(a, "INSERT INTO p VALUES ($2, $1, $2)", 2, v, &changed, &err) == 0);
	CHECK(changed == 1);
	CHECK(E->core->exec_params(a, "UPDATE p SET c = c + 1 WHERE a = $1", 1, &v[1], &changed, &err) == 0);
	CHECK(changed == 1);
	CHECK(E->core->exec_params(a, "INSERT INTO p VALUES ($1, $2, $3)", 2, v, NULL, &err) == FERRY_EUSAGE);
	CHECK(E->core->exec_params(a, "SELECT 1; SELECT 2", 0, NULL, NULL, &err) == FERRY_EUSAGE);

	/* The lock: a second connection is refused and told who holds it, until release. */
	int got = 0;
	char holder[512];
	CHECK(E->migrate->lock_try(a, &got, holder, sizeof(holder), &err) == 0 && got == 1);
	CHECK(E->migrate->lock_try(a, &got, holder, sizeof(holder), &err) == 0 && got == 1); /* again */
	CHECK(E->migrate->lock_try(b, &got, holder, sizeof(holder), &err) == 0 && got == 0);
	char pid[32];
	snprintf(pid, sizeof(pid), "pid %ld on ", (long)getpid());
	CHECK_HAS(holder, pid);
	CHECK_HAS(holder, "since ");
	CHECK_HAS(holder, ".ferry-lock");
	CHECK(E->migrate->lock_release(a, &err) == 0);
	CHECK(E->migrate->lock_try(b, &got, holder, sizeof(holder), &err) == 0 && got == 1);
	/* Closing a connection releases its lock. */
	E->core->close(b);
	b = NULL;
	CHECK(E->migrate->lock_try(a, &got, holder, sizeof(holder), &err) == 0 && got == 1);
	CHECK(E->migrate->lock_release(a, &err) == 0);

	/* ferry_history: created from the neutral definition, written and read back. */
	ferry_arena *ar = ferry_arena_new(0);
	ferry_hist_row *rows = NULL;
	size_t n = 0;
	int exists = 1;
	CHECK(ferry__hist_read(&rows, &n, &exists, 1, ar, a, E, &err) == 0 && exists == 0 && n == 0);
	CHECK(E->core->begin(a, &err) == 0);
	CHECK(ferry__hist_create(a, E, &err) == 0);
	ferry_hist_row r;
	memset(&r, 0, sizeof(r));
	r.version = "1.2";
	r.description = "add users";
	r.kind = "schema";
	r.script = "V1.2__add_users.sql";
	r.checksum = "ab";
	r.duration_ms = 7;
	r.success = 1;
	r.rows_moved = -1;
	CHECK(ferry__hist_insert(a, E, &r, &err) == 0);
	CHECK(ferry__history_record_data(a, E, "run1", "copy plan.yaml", 1234, "complete", 4321, &err) == 0);
	if (err.code)
		printf("    %s\n", err.msg);
	CHECK(E->core->commit(a, &err) == 0);
	CHECK(ferry__hist_read(&rows, &n, &exists, 1, ar, a, E, &err) == 0 && exists == 1 && n == 2);
	if (n == 2) {
		CHECK(rows[0].rank == 1 && rows[1].rank == 2);
		CHECK_STR(rows[0].version, "1.2");
		CHECK_STR(rows[0].checksum_algo, "sha256");
		CHECK(rows[0].duration_ms == 7 && rows[0].success == 1 && rows[0].rows_moved == -1);
		CHECK_STR(rows[0].ferry_version, FERRY_VERSION);
		CHECK(rows[0].applied_by && rows[0].applied_by[0]);
		CHECK(rows[0].applied_at && strlen(rows[0].applied_at) == 20);
		CHECK(rows[1].version == NULL);
		CHECK_STR(rows[1].kind, "data");
		CHECK(rows[1].duration_ms == 4321);
		CHECK_STR(rows[1].run_id, "run1");
		CHECK(rows[1].rows_moved == 1234);
		CHECK_STR(rows[1].verdict, "complete");
		CHECK(rows[1].checksum == NULL && rows[1].checksum_algo == NULL);
	}
	free(rows);
	rows = NULL;
	E->core->close(a);

	/* A data run recorded in a database without ferry_history creates it, inside the
	 * caller's transaction, and a rollback takes both away. */
	ferry_conn *d = NULL;
	snprintf(url, sizeof(url), "sqlite:%s/data.db", dir);
	CHECK(E->core->connect(&d, url, FERRY_CONNECT_CREATE, &err) == 0);
	if (d) {
		CHECK(E->core->begin(d, &err) == 0);
		CHECK(ferry__history_record_data(d, E, "r", NULL, 5, "complete", 0, &err) == 0);
		CHECK(E->core->rollback(d, &err) == 0);
		CHECK(ferry__hist_read(&rows, &n, &exists, 1, ar, d, E, &err) == 0 && exists == 0);
		CHECK(E->core->begin(d, &err) == 0);
		CHECK(ferry__history_record_data(d, E, "r", NULL, 5, "complete", 0, &err) == 0);
		CHECK(ferry__history_record_data(d, E, "r2", NULL, 6, "rejected rows", 0, &err) == 0);
		CHECK(E->core->commit(d, &err) == 0);
		CHECK(ferry__hist_read(&rows, &n, &exists, 1, ar, d, E, &err) == 0 && exists == 1 && n == 2);
		if (n == 2)
			CHECK_STR(rows[0].description, "data migration");
		free(rows);
		E->core->close(d);
	}

	/* A plan's target schema: applied and recorded in the caller's transaction. */
	subdir("plan");
	write_file("plan", "schema.sql", "CREATE TABLE s1(x);\n-- two\nCREATE INDEX s1x ON s1(x);\n");
	write_file("plan", "bad.sql", "CREATE TABLE s2(x);\nCREATE TABLE s1(y);\n");
	write_file("plan", "vacuum.sql", "CREATE TABLE s3(x);\nVACUUM;\n");
	snprintf(url, sizeof(url), "sqlite:%s/plan.db", dir);
	char sp[512];
	CHECK(E->core->connect(&d, url, FERRY_CONNECT_CREATE, &err) == 0);
	if (d) {
		CHECK(E->core->begin(d, &err) == 0);
		snprintf(sp, sizeof(sp), "%s/plan/schema.sql", dir);
		CHECK(ferry__history_apply_schema(d, E, sp, "run7", NULL, &err) == 0);
		CHECK(E->core->commit(d, &err) == 0);
		/* The same text again, from another run: recognised by its checksum, not applied. */
		CHECK(E->core->begin(d, &err) == 0);
		char *already = NULL;
		CHECK(ferry__history_apply_schema(d, E, sp, "run7b", &already, &err) == 0);
		CHECK(already != NULL);
		if (already)
			CHECK_HAS(already, "run7");
		free(already);
		CHECK(E->core->commit(d, &err) == 0);
		CHECK(E->core->begin(d, &err) == 0);
		snprintf(sp, sizeof(sp), "%s/plan/bad.sql", dir);
		CHECK(ferry__history_apply_schema(d, E, sp, "run8", NULL, &err) == FERRY_ERROR);
		CHECK_HAS(err.msg, "bad.sql\" (line 2)");
		CHECK(E->core->rollback(d, &err) == 0);
		CHECK(E->core->begin(d, &err) == 0);
		snprintf(sp, sizeof(sp), "%s/plan/vacuum.sql", dir);
		CHECK(ferry__history_apply_schema(d, E, sp, "run9", NULL, &err) == FERRY_EUSAGE);
		CHECK_HAS(err.msg, "line 2");
		CHECK(E->core->rollback(d, &err) == 0);
		CHECK(ferry__hist_read(&rows, &n, &exists, 1, ar, d, E, &err) == 0 && n == 1);
		if (n == 1) {
			CHECK(rows[0].version == NULL);
			CHECK_STR(rows[0].kind, "schema");
			CHECK_STR(rows[0].description, "target schema: schema.sql");
			CHECK_STR(rows[0].run_id, "run7");
			CHECK(rows[0].checksum && strlen(rows[0].checksum) == 64);
		}
		free(rows);
		E->core->close(d);
	}
	ferry_arena_free(ar);

	/* An in-memory database needs no lock file. */
	ferry_conn *m = NULL;
	CHECK(E->core->connect(&m, "sqlite::memory:", FERRY_CONNECT_CREATE, &err) == 0);
	CHECK(m && E->migrate->lock_try(m, &got, holder, sizeof(holder), &err) == 0 && got == 1);
	if (m)
		E->core->close(m);
}

static void remove_tree(const char *path)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", path);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/ferry-history-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_versions();
	test_names();
	test_checksum();
	test_scan();
	test_cache();
	test_states();
	test_split();
	test_engine();
	if (check_failed == 0)
		remove_tree(dir);
	else
		printf("files kept in %s\n", dir);
	return check_summary();
}
