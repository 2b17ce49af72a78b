/* migrate.c — the migration commands of the library: migrate, down, baseline, repair and
 * the read-only load behind status, history and validate. Each version runs in its own
 * transaction together with its ferry_history row, under the engine's migration lock; a
 * script holding statements that cannot run in a transaction is recorded as failed before
 * it starts and marked successful when it ends, so a crash never hides a half-applied one. */
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include "history.h"

#define OOM(err) ferry_err_set((err), FERRY_ENOMEM, "out of memory")
#define LOCK_POLL_MS 200

/* The directory scan, run on its own thread while the database is opened and read. */
typedef struct scan_job {
	struct mig_run *r;
	pthread_t tid;
	int started;          /* a thread runs it (else it ran inline) */
	int pending;          /* begun and not yet ended */
	int rc;
	ferry_err err;
} scan_job;

typedef struct mig_run {
	ferry_ctx *ctx;
	const ferry_migrate_options *o;
	const ferry_engine *eng;
	const char *url;
	ferry_conn *lockc;      /* reads the history and holds the lock */
	ferry_conn *work;       /* runs the migrations: lockc itself, or a second connection */
	int locked;
	ferry_sha256 *sha;      /* made on first use */
	scan_job scan;
	ferry_migrations *m;
	ferry_err err;
} mig_run;

static void emit(mig_run *r, ferry_migrate_event_kind kind, const char *version,
                 const char *description, const char *script, const char *text, int line,
                 int autocommit, int64_t ms)
{
	if (!r->o->event)
		return;
	ferry_migrate_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.kind = kind;
	ev.version = version;
	ev.description = description;
	ev.script = script;
	ev.text = text;
	ev.line = line;
	ev.autocommit = autocommit;
	ev.duration_ms = ms;
	r->o->event(r->o->event_ud, &ev);
}

static void note(mig_run *r, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 2, 3)))
#endif
	;

static void note(mig_run *r, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	emit(r, FERRY_MIGRATE_NOTE, NULL, NULL, NULL, line, 0, 0, 0);
}

static int run_init(mig_run *r, ferry_ctx *ctx, const char *url,
                    const ferry_migrate_options *opts, const ferry_migrate_options *defaults)
{
	memset(r, 0, sizeof(*r));
	r->ctx = ctx;
	r->o = opts ? opts : defaults;
	r->url = url;
	if (r->o->version != FERRY_MIGRATE_OPTIONS_VERSION)
		return ferry_err_set(&r->err, FERRY_EUSAGE, "unknown ferry_migrate_options version %u",
		                     r->o->version);
	if (!url || !*url)
		return ferry_err_set(&r->err, FERRY_EUSAGE, "no database given");
	r->m = ferry__calloc(1, sizeof(*r->m));
	if (!r->m || !(r->m->db = ferry_url_mask(url)) ||
	    !(r->m->dir = ferry__strdup(r->o->dir ? r->o->dir : "migrations")))
		return OOM(&r->err);
	r->eng = ferry__engine_for(ctx, url, &r->err);
	return r->eng ? 0 : r->err.code;
}

/* Release in the reverse order of taking: the work connection (after the engine's finish),
 * then the lock, then the lock's connection. */
static void run_close(mig_run *r)
{
	ferry_err ignored = {0};
	/* finish even when nothing was committed: connecting to write may have changed session
	 * or file settings (SQLite's journal mode) that finish puts back. */
	if (r->work && r->eng->write->finish)
		r->eng->write->finish(r->work, &ignored);
	if (r->work && r->work != r->lockc)
		r->eng->core->close(r->work);
	r->work = NULL;
	if (r->locked)
		r->eng->migrate->lock_release(r->lockc, &ignored);
	r->locked = 0;
	if (r->lockc)
		r->eng->core->close(r->lockc);
	r->lockc = NULL;
}

/* Finish a public call: close everything, keep *out's report or free it, and put the error
 * on the handle. */
static int run_end(mig_run *r, int rc, ferry_migrations **out)
{
	if (r->scan.pending && r->scan.started)
		pthread_join(r->scan.tid, NULL);
	r->scan.pending = 0;
	run_close(r);
	ferry__sha256_free(r->sha);
	r->sha = NULL;
	if (out && rc == 0) {
		*out = r->m;
	} else {
		ferry_migrations_free(r->m);
	}
	r->m = NULL;
	if (rc == 0)
		return 0;
	if (!r->err.code)
		ferry_err_set(&r->err, rc, "migration failed");
	r->err.code = rc;
	return ferry__ctx_fail(r->ctx, &r->err);
}

static int need_callbacks(mig_run *r, int lock)
{
	const ferry_engine *e = r->eng;
	const char *missing = !e->core->exec_params ? "exec_params"
	                    : lock && !e->migrate ? "migrate sub-table" : NULL;
	if (missing)
		return ferry_err_set(&r->err, FERRY_EUSAGE,
		                     "cannot run migrations on \"%s\": engine \"%s\" has no %s",
		                     r->m->db, e->name, missing);
	return 0;
}

static void *scan_run(void *arg)
{
	scan_job *j = arg;
	ferry_migrations *m = j->r->m;
	j->rc = ferry__mig_scan(&m->files, &m->nfiles, m->dir, j->r->o->cache_dir, &m->problems,
	                        &j->err);
	return NULL;
}

/* Start reading the migration directory. It only touches the files and problems of r->m,
 * which nothing else reads before scan_end. */
static void scan_begin(mig_run *r)
{
	scan_job *j = &r->scan;
	memset(j, 0, sizeof(*j));
	j->r = r;
	j->pending = 1;
	j->started = pthread_create(&j->tid, NULL, scan_run, j) == 0;
	if (!j->started)
		scan_run(j);
}

/* Wait for the scan; on failure its error replaces r's (problems with the files come first)
 * and each problem is sent as an event. */
static int scan_end(mig_run *r)
{
	scan_job *j = &r->scan;
	if (!j->pending)
		return 0;
	if (j->started)
		pthread_join(j->tid, NULL);
	j->pending = 0;
	if (!j->rc)
		return 0;
	ferry__err_copy(&r->err, &j->err);
	ferry_migrations *m = r->m;
	for (size_t i = 0; j->rc == FERRY_EUSAGE && i < m->problems.n; i++)
		emit(r, FERRY_MIGRATE_PROBLEM, m->problems.v[i].version, NULL, m->problems.v[i].script,
		     m->problems.v[i].msg, 0, 0, 0);
	return j->rc;
}

/* After a scan_begin: the scan's failure if any, else rc. */
static int with_scan(mig_run *r, int rc)
{
	int src = scan_end(r);
	return src ? src : rc;
}

/* Connect lockc; a database that does not exist is FERRY_ENOTFOUND with a message naming it. */
static int open_conn(mig_run *r, ferry_conn **out, int flags)
{
	int rc = r->eng->core->connect(out, r->url, flags, &r->err);
	if (rc == FERRY_ENOTFOUND && (flags & FERRY_CONNECT_READONLY))
		ferry_err_set(&r->err, FERRY_ENOTFOUND, "could not open database \"%s\": it does not exist",
		              r->m->db);
	return rc;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Test-only: FERRY_FAULT=migrate-hold:PATH keeps the migration lock, once taken, until PATH
 * exists (at most two minutes), so a test can meet a holder for as long as it needs instead
 * of racing a slow script's end. */
static void hold_fault(mig_run *r)
{
	const char *f = getenv("FERRY_FAULT");
	if (!f || strncmp(f, "migrate-hold:", 13) != 0)
		return;
	for (int i = 0; i < 6000 && access(f + 13, F_OK) != 0 && !ferry__interrupted(r->ctx); i++)
		sleep_ms(20);
}

/* Take the migration lock on lockc, polling; say once who holds it while waiting. */
static int take_lock(mig_run *r)
{
	double t0 = ferry__now();
	int told = 0;
	for (;;) {
		int got = 0;
		char holder[512] = "";
		int rc = r->eng->migrate->lock_try(r->lockc, &got, holder, sizeof(holder), &r->err);
		if (rc)
			return rc;
		if (got) {
			r->locked = 1;
			hold_fault(r);
			return 0;
		}
		if (!holder[0])
			snprintf(holder, sizeof(holder), "another process");
		double waited = ferry__now() - t0;
		if (r->o->lock_timeout <= 0 || waited >= r->o->lock_timeout)
			return ferry_err_set(&r->err, FERRY_ERROR,
			                     "could not take the migration lock of \"%s\"%s: held by %s",
			                     r->m->db, r->o->lock_timeout > 0 ? " in time" : "", holder);
		if (!told) {
			char line[700];
			snprintf(line, sizeof(line), "waiting for the migration lock of \"%s\": held by %s",
			         r->m->db, holder);
			emit(r, FERRY_MIGRATE_WAIT, NULL, NULL, NULL, line, 0, 0, 0);
			told = 1;
		}
		if (ferry__interrupted(r->ctx))
			return ferry_err_set(&r->err, FERRY_EINTR,
			                     "interrupted while waiting for the migration lock of \"%s\"",
			                     r->m->db);
		double left = r->o->lock_timeout - waited;
		sleep_ms(left * 1000 < LOCK_POLL_MS ? (int)(left * 1000) + 1 : LOCK_POLL_MS);
	}
}

/* Read the history (every column when all), and work out what its rows say while the
 * files may still be read. */
static int read_history(mig_run *r, ferry_conn *c, int all)
{
	ferry_migrations *m = r->m;
	if (!m->arena && !(m->arena = ferry_arena_new(256 * 1024)))
		return OOM(&r->err);
	int rc = ferry__hist_read(&m->rows, &m->nrows, &m->table_exists, all, m->arena, c, r->eng,
	                          &r->err);
	return rc ? rc : ferry__mig_prepare_rows(m, &r->err);
}

/* Open (for reading) and lock the database; a database that does not exist yet is created,
 * when create is set, and then serves as the work connection too. */
static int open_locked(mig_run *r, int create)
{
	int rc = open_conn(r, &r->lockc, FERRY_CONNECT_READONLY);
	if (rc == FERRY_ENOTFOUND && create) {
		/* Create nothing for a run the files already refuse. */
		memset(&r->err, 0, sizeof(r->err));
		if ((rc = scan_end(r)) != 0)
			return rc;
		rc = open_conn(r, &r->lockc, FERRY_CONNECT_CREATE);
		if (rc == 0)
			r->work = r->lockc;
	}
	if (rc == 0)
		rc = take_lock(r);
	if (rc == 0)
		rc = read_history(r, r->lockc, 0);
	return rc;
}

/* A connection that may write, with ferry_history in place. */
static int need_work(mig_run *r)
{
	int rc = 0;
	if (!r->work && (rc = open_conn(r, &r->work, 0)) != 0) {
		r->work = NULL;
		return rc;
	}
	if (r->m->table_exists)
		return 0;
	if ((rc = r->eng->core->begin(r->work, &r->err)) == 0 &&
	    (rc = ferry__hist_create(r->work, r->eng, &r->err)) == 0)
		rc = r->eng->core->commit(r->work, &r->err);
	if (rc) {
		r->eng->core->rollback(r->work, &(ferry_err){0});
		return rc;
	}
	r->m->table_exists = 1;
	return 0;
}

/* Emit the problems of m (all of them, or all but out-of-order ones) and fail. */
static int refuse(mig_run *r, const char *what, int skip_out_of_order)
{
	size_t n = 0;
	for (size_t i = 0; i < r->m->problems.n; i++) {
		const ferry_mig_problem *p = &r->m->problems.v[i];
		if (skip_out_of_order && p->kind == FERRY_MIGRATION_OUT_OF_ORDER)
			continue;
		emit(r, FERRY_MIGRATE_PROBLEM, p->version, NULL, p->script, p->msg, 0, 0, 0);
		n++;
	}
	if (n == 0)
		return 0;
	return ferry_err_set(&r->err, FERRY_EUSAGE, "%zu problem%s with the migrations of \"%s\": "
	                     "nothing was %s", n, n == 1 ? "" : "s", r->m->db, what);
}

/* ---- scripts ----------------------------------------------------------------------- */

typedef struct stmt {
	char *text;
	int line;
	int autocommit;
} stmt;

typedef struct stmt_list {
	stmt *v;
	size_t n, cap;
	const ferry_engine *eng;
} stmt_list;

static void stmts_free(stmt_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].text);
	free(l->v);
}

static int add_stmt(void *ud, const char *text, size_t len, int line)
{
	stmt_list *l = ud;
	if (ferry__grow(&l->v, &l->cap, l->n + 1, sizeof(*l->v)) != 0)
		return FERRY_ENOMEM;
	stmt *s = &l->v[l->n];
	if (!(s->text = ferry__strndup(text, len)))
		return FERRY_ENOMEM;
	s->line = line;
	s->autocommit = l->eng->migrate ? l->eng->migrate->needs_autocommit(text, len) != 0 : 0;
	l->n++;
	return 0;
}

static int word_is(const char *p, const char *w, const char **end)
{
	size_t n = strlen(w);
	if (strncasecmp(p, w, n) != 0)
		return 0;
	char c = p[n];
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')
		return 0;
	if (end) {
		*end = p + n;
		while (**end == ' ' || **end == '\t' || **end == '\n' || **end == '\r')
			(*end)++;
	}
	return 1;
}

/* A statement that would end or begin ferry's own transaction. */
static int is_txn_control(const char *s)
{
	const char *rest;
	if (word_is(s, "BEGIN", NULL) || word_is(s, "COMMIT", NULL) || word_is(s, "END", NULL) ||
	    word_is(s, "ABORT", NULL))
		return 1;
	if (word_is(s, "START", &rest))
		return word_is(rest, "TRANSACTION", NULL);
	if (word_is(s, "ROLLBACK", &rest)) {
		/* ROLLBACK [TRANSACTION | WORK] TO SAVEPOINT stays inside the transaction. */
		if (!word_is(rest, "TRANSACTION", &rest))
			word_is(rest, "WORK", &rest);
		return !word_is(rest, "TO", NULL);
	}
	return 0;
}

/* Read a script, its checksum and its statements. */
static int load_script(mig_run *r, const char *name, char **text, char sum[65], stmt_list *l)
{
	*text = NULL;
	memset(l, 0, sizeof(*l));
	l->eng = r->eng;
	char *path = ferry__path_join(r->m->dir, name);
	size_t len = 0;
	int rc = path ? ferry__read_file(text, &len, path, FERRY_MIG_MAX_SCRIPT, &r->err)
	              : OOM(&r->err);
	free(path);
	if (rc == 0 && !r->sha)
		rc = ferry__sha256_new(&r->sha, &r->err);
	if (rc == 0)
		rc = ferry__sha256_hex(r->sha, sum, *text, len, &r->err);
	if (rc == 0 && r->eng->migrate) {
		ferry_err e = {0};
		rc = r->eng->migrate->split_sql(*text, add_stmt, l, &e);
		if (rc == FERRY_ENOMEM && !e.code)
			rc = OOM(&r->err);
		else if (rc)
			rc = ferry_err_set(&r->err, rc, "could not read the statements of \"%s\": %s", name,
			                   e.msg);
	} else if (rc == 0) {
		/* Without a splitter the script is one statement, run in the transaction. */
		rc = add_stmt(l, *text, len, 1) ? OOM(&r->err) : 0;
		if (rc == 0)
			l->v[0].autocommit = 0;
	}
	for (size_t i = 0; rc == 0 && i < l->n; i++)
		if (is_txn_control(l->v[i].text))
			rc = ferry_err_set(&r->err, FERRY_EUSAGE,
			                   "migration \"%s\" line %d: transaction control (\"%.20s\") is not "
			                   "allowed: ferry runs each migration in its own transaction",
			                   name, l->v[i].line, l->v[i].text);
	if (rc) {
		stmts_free(l);
		memset(l, 0, sizeof(*l));
		free(*text);
		*text = NULL;
	}
	return rc;
}

/* The message of a failed statement: which file and line, and what it did to the database. */
static int stmt_failed(mig_run *r, int rc, const char *name, int line, const char *fate)
{
	char keep[sizeof(r->err.msg)];
	memcpy(keep, r->err.msg, sizeof(keep));
	/* A script's SQL error is a runtime failure of the migration, not of ferry's command line. */
	if (rc != FERRY_ENOMEM && rc != FERRY_EINTR)
		rc = FERRY_ERROR;
	return ferry_err_set(&r->err, rc, "could not %s \"%s\" (line %d), %s: %.700s",
	                     strstr(name, ".down.sql") ? "run down script" : "apply", name, line, fate,
	                     keep);
}

static const char mark_done_sql[] =
	"UPDATE " FERRY_HISTORY_TABLE " SET success = $1, duration_ms = $2 "
	"WHERE script = $3 AND version = $4 AND NOT success";

static int mark_done(mig_run *r, const ferry_hist_row *row)
{
	ferry_value p[4];
	memset(p, 0, sizeof(p));
	p[0].type = FERRY_BOOL;
	p[0].v.i = 1;
	p[1].type = FERRY_INT;
	p[1].v.i = row->duration_ms;
	p[2].type = FERRY_TEXT;
	p[2].v.s = row->script;
	p[2].len = (uint32_t)strlen(row->script);
	p[3].type = FERRY_TEXT;
	p[3].v.s = row->version;
	p[3].len = (uint32_t)strlen(row->version);
	int64_t n = 0;
	int rc = r->eng->core->exec_params(r->work, mark_done_sql, 4, p, &n, &r->err);
	if (rc == 0 && n != 1)
		rc = ferry_err_set(&r->err, FERRY_ECORRUPT,
		                   "could not mark \"%s\" applied in the history of \"%s\": its row is gone",
		                   row->script, r->m->db);
	return rc;
}

static void row_text(char *out, size_t cap, const ferry_hist_row *row)
{
	char user[256];
	ferry__hist_user(user, sizeof(user));
	snprintf(out, cap, "version=%s description=\"%s\" kind=%s script=%s checksum=sha256:%s "
	         "applied_by=%s success=true ferry_version=%s", row->version, row->description,
	         row->kind, row->script, row->checksum, user, FERRY_VERSION);
}

/* Run one script (up, or down) with its history row: in one transaction, or, when some
 * statement cannot run in one, recorded as failed first and marked done at the end. */
static int apply_one(mig_run *r, const ferry_mig_file *f, int down)
{
	const char *name = down ? f->down : f->up;
	char *text = NULL, sum[65];
	stmt_list l;
	int rc = load_script(r, name, &text, sum, &l);
	if (rc)
		return rc;
	char *desc = down ? ferry__sprintf("down: %s", f->description) : ferry__strdup(f->description);
	if (!desc) {
		stmts_free(&l);
		free(text);
		return OOM(&r->err);
	}
	ferry_hist_row row;
	memset(&row, 0, sizeof(row));
	row.version = f->version;
	row.description = desc;
	row.kind = (char *)"schema";
	row.script = (char *)name;
	row.checksum = sum;
	row.success = 1;
	row.rows_moved = -1;
	int any_auto = 0;
	for (size_t i = 0; i < l.n; i++)
		any_auto |= l.v[i].autocommit;

	if (r->o->dry_run) {
		char line[1400];
		snprintf(line, sizeof(line), "%zu statement%s, %s", l.n, l.n == 1 ? "" : "s",
		         any_auto ? "some outside a transaction (recorded as failed until all succeed)"
		                  : "in one transaction with the history row");
		emit(r, FERRY_MIGRATE_START, f->version, desc, name, line, 0, any_auto, 0);
		for (size_t i = 0; i < l.n; i++)
			emit(r, FERRY_MIGRATE_STATEMENT, f->version, desc, name, l.v[i].text, l.v[i].line,
			     l.v[i].autocommit, 0);
		row_text(line, sizeof(line), &row);
		emit(r, FERRY_MIGRATE_RECORD, f->version, desc, name, line, 0, 0, 0);
		goto out;
	}

	emit(r, FERRY_MIGRATE_START, f->version, desc, name, NULL, 0, any_auto, 0);
	const ferry_engine *e = r->eng;
	double t0 = ferry__now();
	int in_tx = 0;
	if (!any_auto) {
		rc = e->core->begin(r->work, &r->err);
		in_tx = rc == 0;
		for (size_t i = 0; rc == 0 && i < l.n; i++)
			if ((rc = e->core->exec(r->work, l.v[i].text, &r->err)) != 0)
				rc = stmt_failed(r, rc, name, l.v[i].line, "rolled back");
		row.duration_ms = (int64_t)((ferry__now() - t0) * 1000);
		if (rc == 0)
			rc = ferry__hist_insert(r->work, e, &row, &r->err);
		if (rc == 0 && (rc = e->core->commit(r->work, &r->err)) == 0)
			in_tx = 0;
		if (rc && in_tx)
			e->core->rollback(r->work, &(ferry_err){0});
		goto done;
	}

	/* Not atomic: a crash or failure from here on leaves the row saying "failed". */
	row.success = 0;
	if ((rc = e->core->begin(r->work, &r->err)) == 0 &&
	    (rc = ferry__hist_insert(r->work, e, &row, &r->err)) == 0)
		rc = e->core->commit(r->work, &r->err);
	if (rc) {
		e->core->rollback(r->work, &(ferry_err){0});
		goto done;
	}
	for (size_t i = 0; rc == 0 && i < l.n; i++) {
		const stmt *s = &l.v[i];
		if (s->autocommit && in_tx) {
			if ((rc = e->core->commit(r->work, &r->err)) != 0)
				break;
			in_tx = 0;
		} else if (!s->autocommit && !in_tx) {
			if ((rc = e->core->begin(r->work, &r->err)) != 0)
				break;
			in_tx = 1;
		}
		if ((rc = e->core->exec(r->work, s->text, &r->err)) != 0)
			rc = stmt_failed(r, rc, name, s->line,
			                 s->autocommit ? "outside a transaction; recorded as failed"
			                               : "its transaction rolled back and the version recorded as failed");
	}
	row.duration_ms = (int64_t)((ferry__now() - t0) * 1000);
	if (rc == 0 && !in_tx && (rc = e->core->begin(r->work, &r->err)) == 0)
		in_tx = 1;
	if (rc == 0)
		rc = mark_done(r, &row);
	if (rc == 0 && (rc = e->core->commit(r->work, &r->err)) == 0)
		in_tx = 0;
	if (rc && in_tx)
		e->core->rollback(r->work, &(ferry_err){0});

done:
	if (rc == 0)
		emit(r, FERRY_MIGRATE_DONE, f->version, desc, name, NULL, 0, any_auto, row.duration_ms);
out:
	free(desc);
	stmts_free(&l);
	free(text);
	return rc;
}

/* ---- a plan's target schema (called by ferry_copy) --------------------------------- */

/* The row of ferry_history that applied a target schema of checksum sum (any run, any
 * file name), described in *out (caller frees), or *out NULL when there is none. Inside the
 * caller's transaction: the table is made first, so reading it cannot fail for its absence
 * (which would spoil a PostgreSQL transaction). */
static int schema_applied(char **out, ferry_conn *c, const ferry_engine *eng, const char *sum,
                          ferry_err *err)
{
	*out = NULL;
	int rc = ferry__hist_ensure(c, eng, err);
	if (rc)
		return rc;
	ferry_arena *strings = ferry_arena_new(64 * 1024);
	if (!strings)
		return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	ferry_hist_row *rows = NULL;
	size_t n = 0;
	int exists = 0;
	rc = ferry__hist_read(&rows, &n, &exists, 1, strings, c, eng, err);
	for (size_t i = 0; rc == 0 && i < n && !*out; i++) {
		const ferry_hist_row *r = &rows[i];
		if (!r->success || !r->kind || strcmp(r->kind, "schema") != 0 || !r->checksum ||
		    strcmp(r->checksum, sum) != 0)
			continue;
		*out = ferry__sprintf("%s, rank %lld, applied %s%s%.12s", r->description ? r->description : "?",
		                      (long long)r->rank, r->applied_at ? r->applied_at : "?",
		                      r->run_id ? " by run " : "", r->run_id ? r->run_id : "");
		if (!*out)
			rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	}
	free(rows);
	ferry_arena_free(strings);
	return rc;
}

int ferry__history_apply_schema(ferry_conn *c, const ferry_engine *eng, const char *path,
                                const char *run_id, char **already, ferry_err *err)
{
	if (already)
		*already = NULL;
	if (!eng->core->exec_params)
		return ferry_err_set(err, FERRY_EUSAGE, "cannot record target schema \"%s\" in "
		                     "ferry_history with engine \"%s\": it has no exec_params", path,
		                     eng->name);
	char *text = NULL, sum[65];
	size_t len = 0;
	ferry_sha256 *sha = NULL;
	stmt_list l;
	memset(&l, 0, sizeof(l));
	l.eng = eng;
	int rc = ferry__read_file(&text, &len, path, FERRY_MIG_MAX_SCRIPT, err);
	if (rc == 0 && (rc = ferry__sha256_new(&sha, err)) == 0)
		rc = ferry__sha256_hex(sha, sum, text, len, err);
	ferry__sha256_free(sha);
	/* The same text applied before, by any run (another plan's, an import's, a copy whose
	 * plan was edited since): the target has it, and applying it again would fail ("already
	 * exists") or do it twice. */
	if (rc == 0 && already) {
		rc = schema_applied(already, c, eng, sum, err);
		if (rc || *already) {
			free(text);
			return rc;
		}
	}
	if (rc == 0 && eng->migrate) {
		ferry_err e = {0};
		if ((rc = eng->migrate->split_sql(text, add_stmt, &l, &e)) != 0)
			rc = ferry_err_set(err, rc, "could not read the statements of \"%s\": %s", path,
			                   e.code ? e.msg : "out of memory");
	} else if (rc == 0 && add_stmt(&l, text, len, 1) != 0) {
		rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	}
	for (size_t i = 0; rc == 0 && i < l.n; i++)
		if (is_txn_control(l.v[i].text) || l.v[i].autocommit)
			rc = ferry_err_set(err, FERRY_EUSAGE, "target schema \"%s\" line %d: \"%.40s\" cannot "
			                   "run inside the run's transaction", path, l.v[i].line, l.v[i].text);
	double t0 = ferry__now();
	for (size_t i = 0; rc == 0 && i < l.n; i++)
		if ((rc = eng->core->exec(c, l.v[i].text, err)) != 0) {
			char keep[sizeof(err->msg)];
			memcpy(keep, err->msg, sizeof(keep));
			ferry_err_set(err, rc, "could not apply target schema \"%s\" (line %d): %.700s", path,
			              l.v[i].line, keep);
		}
	if (rc == 0)
		rc = ferry__hist_ensure(c, eng, err);
	if (rc == 0) {
		const char *base = strrchr(path, '/');
		char *desc = ferry__sprintf("target schema: %s", base ? base + 1 : path);
		ferry_hist_row row;
		memset(&row, 0, sizeof(row));
		row.description = desc;
		row.kind = (char *)"schema";
		row.script = (char *)path;
		row.checksum = sum;
		row.duration_ms = (int64_t)((ferry__now() - t0) * 1000);
		row.success = 1;
		row.run_id = (char *)run_id;
		row.rows_moved = -1;
		rc = desc ? ferry__hist_insert(c, eng, &row, err) : ferry_err_set(err, FERRY_ENOMEM, "out of memory");
		free(desc);
	}
	stmts_free(&l);
	free(text);
	return rc;
}

/* ---- the commands ------------------------------------------------------------------ */

static int check_version(mig_run *r, const char *v, const char *what)
{
	if (!v || !ferry__version_valid(v, strlen(v)))
		return ferry_err_set(&r->err, FERRY_EUSAGE,
		                     "%s \"%s\" is not a version (numbers separated by dots, like 1.2)",
		                     what, v ? v : "");
	return 0;
}

int ferry_migrate(ferry_ctx *ctx, const char *url, const ferry_migrate_options *opts)
{
	ferry_migrate_options defaults = FERRY_MIGRATE_OPTIONS_INIT;
	mig_run r;
	int rc = run_init(&r, ctx, url, opts, &defaults);
	const char *to = r.o->target;
	if (rc == 0 && to)
		rc = check_version(&r, to, "--to");
	if (rc == 0 && !r.o->dry_run)
		rc = need_callbacks(&r, 1);
	if (rc)
		return run_end(&r, rc, NULL);
	scan_begin(&r);
	int fresh = 0;
	if (r.o->dry_run) {
		rc = open_conn(&r, &r.lockc, FERRY_CONNECT_READONLY);
		if (rc == FERRY_ENOTFOUND) {
			memset(&r.err, 0, sizeof(r.err));
			fresh = 1;
			rc = 0;
		} else if (rc == 0) {
			rc = read_history(&r, r.lockc, 0);
		}
	} else {
		rc = open_locked(&r, 1);
	}
	rc = with_scan(&r, rc);
	if (rc == 0 && fresh)
		note(&r, "database \"%s\" does not exist yet: ferry migrate would create it", r.m->db);
	ferry_migrations *m = r.m;
	if (rc == 0)
		rc = ferry__mig_compute(m, r.o->allow_out_of_order, r.o->ignore_missing, &r.err);
	if (rc == 0)
		rc = refuse(&r, "applied", 0);
	if (rc == 0 && to && m->current && ferry__version_cmp(m->current, to) > 0)
		rc = ferry_err_set(&r.err, FERRY_EUSAGE,
		                   "database \"%s\" is at version %s, above --to %s: use 'ferry down "
		                   "--to %s' to go back", m->db, m->current, to, to);
	size_t todo = 0;
	for (size_t i = 0; rc == 0 && i < m->nentries; i++)
		todo += m->entries[i].state == FERRY_MIGRATION_PENDING &&
		        (!to || ferry__version_cmp(m->entries[i].version, to) <= 0);
	if (rc == 0 && todo == 0) {
		note(&r, "database \"%s\" is up to date%s%s", m->db, m->current ? " at version " : "",
		     m->current ? m->current : "");
		return run_end(&r, 0, NULL);
	}
	if (rc == 0 && r.o->dry_run && !m->table_exists)
		note(&r, "would create table ferry_history in \"%s\"", m->db);
	if (rc == 0 && !r.o->dry_run)
		rc = need_work(&r);
	size_t done = 0;
	const char *last = NULL;
	for (size_t i = 0; rc == 0 && i < m->nentries; i++) {
		const ferry_mig_entry *e = &m->entries[i];
		if (e->state != FERRY_MIGRATION_PENDING || (to && ferry__version_cmp(e->version, to) > 0))
			continue;
		if (ferry__interrupted(ctx)) {
			rc = ferry_err_set(&r.err, FERRY_EINTR, "interrupted after %zu of %zu migrations of "
			                   "\"%s\"; the rest are pending", done, todo, m->db);
			break;
		}
		if ((rc = apply_one(&r, e->file, 0)) == 0) {
			done++;
			last = e->version;
		}
	}
	if (rc == 0 && r.o->dry_run)
		note(&r, "dry run: %zu migration%s would be applied to \"%s\"; nothing was changed", done,
		     done == 1 ? "" : "s", m->db);
	else if (rc == 0)
		note(&r, "applied %zu migration%s to \"%s\": now at version %s", done,
		     done == 1 ? "" : "s", m->db, last);
	return run_end(&r, rc, NULL);
}

int ferry_migrate_down(ferry_ctx *ctx, const char *url, const ferry_migrate_options *opts)
{
	ferry_migrate_options defaults = FERRY_MIGRATE_OPTIONS_INIT;
	mig_run r;
	int rc = run_init(&r, ctx, url, opts, &defaults);
	const char *to = r.o->target;
	if (rc == 0 && !to)
		rc = ferry_err_set(&r.err, FERRY_EUSAGE, "down needs the version to go down to (--to V)");
	if (rc == 0)
		rc = check_version(&r, to, "--to");
	if (rc == 0 && !r.o->dry_run)
		rc = need_callbacks(&r, 1);
	if (rc)
		return run_end(&r, rc, NULL);
	scan_begin(&r);
	if (r.o->dry_run) {
		if ((rc = open_conn(&r, &r.lockc, FERRY_CONNECT_READONLY)) == 0)
			rc = read_history(&r, r.lockc, 0);
	} else {
		rc = open_locked(&r, 0);
	}
	rc = with_scan(&r, rc);
	ferry_migrations *m = r.m;
	if (rc == 0)
		rc = ferry__mig_compute(m, 1, r.o->ignore_missing, &r.err);
	if (rc == 0)
		rc = refuse(&r, "undone", 1);
	if (rc == 0 && m->baseline && ferry__version_cmp(to, m->baseline->version) < 0)
		rc = ferry_err_set(&r.err, FERRY_EUSAGE,
		                   "cannot go down to version %s in \"%s\": it is below the baseline %s, "
		                   "whose versions ferry did not apply", to, m->db, m->baseline->version);
	/* Every down script must be there before the first one runs. */
	size_t todo = 0, lacking = 0;
	for (size_t i = 0; rc == 0 && i < m->nentries; i++) {
		const ferry_mig_entry *e = &m->entries[i];
		if (e->state != FERRY_MIGRATION_APPLIED && e->state != FERRY_MIGRATION_IGNORED)
			continue;
		if (ferry__version_cmp(e->version, to) <= 0)
			continue;
		todo++;
		if (e->file && e->file->down)
			continue;
		lacking++;
		char line[900];
		if (e->file)
			snprintf(line, sizeof(line), "version %s (\"%s\") has no down script \"%.*s.down.sql\" "
			         "in \"%s\"", e->version, e->file->up, (int)strlen(e->file->up) - 4, e->file->up,
			         m->dir);
		else
			snprintf(line, sizeof(line), "version %s has no files in \"%s\", so no down script",
			         e->version, m->dir);
		emit(&r, FERRY_MIGRATE_PROBLEM, e->version, NULL, e->file ? e->file->up : NULL, line, 0,
		     0, 0);
	}
	if (rc == 0 && lacking)
		rc = ferry_err_set(&r.err, FERRY_EUSAGE, "cannot go down to version %s in \"%s\": %zu "
		                   "down script%s missing; nothing was undone", to, m->db, lacking,
		                   lacking == 1 ? " is" : "s are");
	if (rc == 0 && todo == 0) {
		note(&r, "nothing to undo: \"%s\" is at version %s", m->db, m->current ? m->current : "0");
		return run_end(&r, 0, NULL);
	}
	if (rc == 0 && !r.o->dry_run)
		rc = need_work(&r);
	size_t done = 0;
	for (size_t i = m->nentries; rc == 0 && i-- > 0;) {
		const ferry_mig_entry *e = &m->entries[i];
		if ((e->state != FERRY_MIGRATION_APPLIED && e->state != FERRY_MIGRATION_IGNORED) ||
		    ferry__version_cmp(e->version, to) <= 0)
			continue;
		if (ferry__interrupted(ctx)) {
			rc = ferry_err_set(&r.err, FERRY_EINTR, "interrupted after undoing %zu of %zu versions "
			                   "of \"%s\"", done, todo, m->db);
			break;
		}
		if ((rc = apply_one(&r, e->file, 1)) == 0)
			done++;
	}
	if (rc == 0)
		note(&r, "%s %zu version%s of \"%s\": %s at version %s", r.o->dry_run ? "dry run: would undo"
		     : "undid", done, done == 1 ? "" : "s", m->db, r.o->dry_run ? "would be" : "now", to);
	return run_end(&r, rc, NULL);
}

int ferry_migrate_baseline(ferry_ctx *ctx, const char *url, const char *version,
                           const ferry_migrate_options *opts)
{
	ferry_migrate_options defaults = FERRY_MIGRATE_OPTIONS_INIT;
	mig_run r;
	int rc = run_init(&r, ctx, url, opts, &defaults);
	if (rc == 0)
		rc = check_version(&r, version, "baseline version");
	if (rc == 0)
		rc = need_callbacks(&r, 1);
	if (rc == 0 && (rc = open_conn(&r, &r.lockc, 0)) == 0) {
		r.work = r.lockc;
		if ((rc = take_lock(&r)) == 0)
			rc = read_history(&r, r.lockc, 0);
	} else if (rc == FERRY_ENOTFOUND) {
		ferry_err_set(&r.err, FERRY_ENOTFOUND, "could not baseline \"%s\": the database does not "
		              "exist", r.m->db);
	}
	/* Only versions stand in the way: the rows of data runs and of a plan's target schema
	 * (no version) say nothing about which versions the schema is at. */
	size_t versioned = 0;
	for (size_t i = 0; rc == 0 && i < r.m->nrows; i++)
		versioned += r.m->rows[i].version != NULL;
	if (rc == 0 && versioned > 0)
		rc = ferry_err_set(&r.err, FERRY_EUSAGE, "cannot baseline \"%s\": ferry_history already "
		                   "has %zu versioned row%s (see 'ferry history')", r.m->db, versioned,
		                   versioned == 1 ? "" : "s");
	if (rc == 0)
		rc = need_work(&r);
	ferry_hist_row row;
	memset(&row, 0, sizeof(row));
	row.version = (char *)version;
	row.description = (char *)(r.o->description ? r.o->description : "baseline");
	row.kind = (char *)"baseline";
	row.success = 1;
	row.rows_moved = -1;
	int in_tx = 0;
	if (rc == 0)
		in_tx = (rc = r.eng->core->begin(r.work, &r.err)) == 0;
	if (rc == 0)
		rc = ferry__hist_insert(r.work, r.eng, &row, &r.err);
	if (rc == 0 && (rc = r.eng->core->commit(r.work, &r.err)) == 0)
		in_tx = 0;
	if (rc && in_tx)
		r.eng->core->rollback(r.work, &(ferry_err){0});
	if (rc == 0) {
		note(&r, "baselined \"%s\" at version %s: versions up to %s count as applied", r.m->db,
		     version, version);
	}
	return run_end(&r, rc, NULL);
}

static const char delete_sql[] = "DELETE FROM " FERRY_HISTORY_TABLE " WHERE installed_rank = $1";
static const char recheck_sql[] =
	"UPDATE " FERRY_HISTORY_TABLE " SET checksum = $1, checksum_algo = $2, description = $3 "
	"WHERE installed_rank = $4";

int ferry_migrate_repair(ferry_ctx *ctx, const char *url, const ferry_migrate_options *opts)
{
	ferry_migrate_options defaults = FERRY_MIGRATE_OPTIONS_INIT;
	mig_run r;
	int rc = run_init(&r, ctx, url, opts, &defaults);
	if (rc == 0)
		rc = need_callbacks(&r, 1);
	if (rc)
		return run_end(&r, rc, NULL);
	scan_begin(&r);
	rc = with_scan(&r, open_locked(&r, 0));
	ferry_migrations *m = r.m;
	if (rc == 0)
		rc = ferry__mig_compute(m, r.o->allow_out_of_order, r.o->ignore_missing, &r.err);
	size_t failed = 0, changed = 0;
	for (size_t i = 0; rc == 0 && i < m->nrows; i++)
		failed += !m->rows[i].success;
	for (size_t i = 0; rc == 0 && i < m->nentries; i++)
		changed += m->entries[i].state == FERRY_MIGRATION_CHANGED;
	if (rc == 0 && failed + changed == 0) {
		note(&r, "nothing to repair in \"%s\"", m->db);
	} else if (rc == 0 && r.o->dry_run) {
		note(&r, "dry run: would remove %zu failed row%s and take the checksums of %zu changed "
		     "file%s in \"%s\"", failed, failed == 1 ? "" : "s", changed, changed == 1 ? "" : "s",
		     m->db);
	} else if (rc == 0) {
		int in_tx = 0;
		/* What was accepted, for the repair's own row: an edit nobody records is forgotten. */
		ferry_buf what = FERRY_BUF_INIT;
		if ((rc = need_work(&r)) == 0)
			in_tx = (rc = r.eng->core->begin(r.work, &r.err)) == 0;
		for (size_t i = 0; rc == 0 && i < m->nrows; i++) {
			const ferry_hist_row *row = &m->rows[i];
			if (row->success)
				continue;
			ferry_value p = {.type = FERRY_INT, .v.i = row->rank};
			rc = r.eng->core->exec_params(r.work, delete_sql, 1, &p, NULL, &r.err);
			if (rc == 0)
				note(&r, "removed the failed row of version %s (\"%s\", %s) from the history of "
				     "\"%s\"", row->version ? row->version : "-", row->script ? row->script : "-",
				     row->applied_at ? row->applied_at : "?", m->db);
			if (rc == 0)
				ferry_buf_printf(&what, "%sremoved the failed row of version %s (%s)", what.len ? "; " : "",
				                 row->version ? row->version : "-", row->applied_at ? row->applied_at : "?");
		}
		for (size_t i = 0; rc == 0 && i < m->nentries; i++) {
			const ferry_mig_entry *e = &m->entries[i];
			if (e->state != FERRY_MIGRATION_CHANGED)
				continue;
			ferry_value p[4];
			memset(p, 0, sizeof(p));
			const char *txt[3] = {e->file->checksum, "sha256", e->file->description};
			for (int k = 0; k < 3; k++) {
				p[k].type = FERRY_TEXT;
				p[k].v.s = txt[k];
				p[k].len = (uint32_t)strlen(txt[k]);
			}
			p[3].type = FERRY_INT;
			p[3].v.i = e->row->rank;
			rc = r.eng->core->exec_params(r.work, recheck_sql, 4, p, NULL, &r.err);
			if (rc == 0)
				note(&r, "took the current checksum of \"%s\" (sha256 %.12s, was %.12s) for version "
				     "%s of \"%s\"", e->file->up, e->file->checksum,
				     e->row->checksum ? e->row->checksum : "none", e->version, m->db);
			if (rc == 0)
				ferry_buf_printf(&what, "%saccepted %s of version %s (sha256 %.12s, was %.12s)",
				                 what.len ? "; " : "", e->file->up, e->version, e->file->checksum,
				                 e->row->checksum ? e->row->checksum : "none");
		}
		if (rc == 0 && what.failed)
			rc = ferry_err_set(&r.err, FERRY_ENOMEM, "out of memory");
		if (rc == 0) {
			ferry_hist_row row;
			memset(&row, 0, sizeof(row));
			row.description = what.data ? what.data : (char *)"repair";
			row.kind = (char *)"repair";
			row.success = 1;
			row.rows_moved = -1;
			rc = ferry__hist_insert(r.work, r.eng, &row, &r.err);
		}
		ferry_buf_free(&what);
		if (rc == 0 && (rc = r.eng->core->commit(r.work, &r.err)) == 0)
			in_tx = 0;
		if (rc && in_tx)
			r.eng->core->rollback(r.work, &(ferry_err){0});
	}
	return run_end(&r, rc, NULL);
}

int ferry_migrations_load(ferry_migrations **out, ferry_ctx *ctx, const char *url,
                          const ferry_migrate_options *opts)
{
	*out = NULL;
	ferry_migrate_options defaults = FERRY_MIGRATE_OPTIONS_INIT;
	mig_run r;
	int rc = run_init(&r, ctx, url, opts, &defaults);
	if (rc)
		return run_end(&r, rc, out);
	r.m->history_only = r.o->history_only;
	if (!r.o->history_only)
		scan_begin(&r);
	if ((rc = open_conn(&r, &r.lockc, FERRY_CONNECT_READONLY)) == 0)
		rc = read_history(&r, r.lockc, 1);
	rc = with_scan(&r, rc);
	/* The history alone: no files to compare it with. */
	if (rc == 0 && !r.o->history_only)
		rc = ferry__mig_compute(r.m, r.o->allow_out_of_order, r.o->ignore_missing, &r.err);
	return run_end(&r, rc, out);
}
