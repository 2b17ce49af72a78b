/* target.c — the target's side of a run, outside the scheduler: the plan's target schema
 * and the tables ferry creates (applied once per run), refusing to mix with rows the run did
 * not write, --truncate, indexes and foreign-key checks after the load, the run's record,
 * and the reject file written from the stored rejects. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "sched.h"
#include "state.h"
#include "../history/history.h"
#include "../verify/verify.h"

/* Apply the plan's target schema once per run (inside the caller's transaction). */
static int apply_target_schema(copy_state *cs)
{
	ferry_err *err = &cs->err;
	const ferry_plan *p = cs->plan;
	int done = 0;
	int rc = ferry__state_get(cs->teng, cs->tconn, p->run_digest, "schema", &done, err);
	if (rc || done || p->nschema == 0)
		return rc;
	/* Through the record of upgrades when the target keeps one: each file in ferry_history. */
	if (cs->teng->core->exec_params && cs->teng->migrate) {
		for (size_t i = 0; rc == 0 && i < p->nschema; i++)
			rc = ferry__history_apply_schema(cs->tconn, cs->teng, p->schema_files[i], p->run_digest, err);
		if (rc == 0)
			rc = ferry__state_set(cs->teng, cs->tconn, p->run_digest, "schema", err);
		return rc;
	}
	for (size_t i = 0; rc == 0 && i < p->nschema; i++) {
		char *sql = NULL;
		rc = ferry__read_file(&sql, NULL, p->schema_files[i], 64u << 20, err);
		if (rc == 0) {
			rc = cs->teng->core->exec(cs->tconn, sql, err);
			if (rc) {
				char keep[sizeof(err->msg)];
				memcpy(keep, err->msg, sizeof(keep));
				ferry_err_set(err, rc, "could not apply target schema \"%s\": %.700s", p->schema_files[i], keep);
			}
		}
		free(sql);
	}
	if (rc == 0)
		rc = ferry__state_set(cs->teng, cs->tconn, p->run_digest, "schema", err);
	return rc;
}

/* Create the target tables the plan needs and the target lacks, each with its flag
 * (inside the caller's transaction). */
static int create_tables(copy_state *cs)
{
	ferry_err *err = &cs->err;
	ferry_schema *cr = cs->js.created;
	for (size_t i = 0; i < ferry_schema_count(cr); i++) {
		const ferry_table *t = ferry_schema_table(cr, i);
		char flag[600];
		snprintf(flag, sizeof(flag), "created:%s", t->name);
		int rc = cs->teng->write->create_table(cs->tconn, t, err);
		if (rc == 0)
			rc = ferry__state_set(cs->teng, cs->tconn, cs->plan->run_digest, flag, err);
		if (rc)
			return rc;
	}
	return 0;
}

int ferry__target_check_empty(copy_state *cs, const job *j, int shared)
{
	ferry_err *err = &cs->err;
	/* The backfill writes beside the rows the copy and the application wrote. */
	if (shared || cs->opts->append || cs->plan->later_mode == FERRY_LATER_ONLY)
		return 0;
	int64_t n = 0;
	int rc = cs->teng->write->table_rows(cs->tconn, j->dst_table, &n, err);
	if (rc || n == 0)
		return rc;
	if (!cs->opts->truncate)
		return ferry_err_set(err, FERRY_EUSAGE,
		                     "target table \"%s\" already holds %lld rows that this run did not write (use --truncate to empty it first, or --append to load beside them)",
		                     j->dst_table, (long long)n);
	char *q = ferry__qident(cs->teng, j->dst_table);
	char *sql = q ? ferry__sprintf("DELETE FROM %s", q) : NULL;
	free(q);
	rc = sql ? cs->teng->core->exec(cs->tconn, sql, err) : ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	free(sql);
	return rc;
}

/* Beside the target's file when it has one (url_path), else in the working directory. */
static char *rejects_path_for(const ferry_plan *p, const ferry_engine *teng,
                              const ferry_copy_options *o)
{
	if (o->rejects_path)
		return ferry__strdup(o->rejects_path);
	char *file = teng->url_path ? teng->url_path(p->target) : NULL;
	char *r = file ? ferry__sprintf("%s.rejects.jsonl", file)
	               : ferry__sprintf("ferry-%.8s.rejects.jsonl", p->run_digest);
	free(file);
	return r;
}

typedef struct rejects_out {
	FILE *f;
	int64_t n;
} rejects_out;

static int write_reject(void *ud, const char *table, const char *key, const char *reason)
{
	rejects_out *ro = ud;
	ferry_buf b = FERRY_BUF_INIT;
	ferry_buf_puts(&b, "{\"table\":");
	ferry_buf_json_str(&b, table, strlen(table));
	ferry_buf_printf(&b, ",\"key\":%s,\"reason\":", key && *key ? key : "null");
	ferry_buf_json_str(&b, reason, strlen(reason));
	ferry_buf_puts(&b, "}\n");
	int rc = b.failed ? FERRY_ENOMEM : 0;
	if (rc == 0 && fwrite(b.data, 1, b.len, ro->f) != b.len)
		rc = FERRY_ERROR;
	ferry_buf_free(&b);
	ro->n++;
	return rc;
}

int ferry__target_rejects_file(copy_state *cs, ferry_summary *sum)
{
	ferry_err *err = &cs->err;
	char *path = rejects_path_for(cs->plan, cs->teng, cs->opts);
	if (!path)
		return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		int rc = ferry_err_set(err, FERRY_ERROR, "could not write reject file \"%s\": %s", path, strerror(errno));
		free(path);
		return rc;
	}
	fchmod(fd, 0600);
	rejects_out ro = {fdopen(fd, "w"), 0};
	if (!ro.f) {
		close(fd);
		free(path);
		return ferry_err_set(err, FERRY_ERROR, "could not write reject file");
	}
	int rc = ferry__state_rejects(cs->teng, cs->tconn, cs->plan->run_digest, write_reject, &ro, err);
	if (fclose(ro.f) != 0 && rc == 0)
		rc = ferry_err_set(err, FERRY_ERROR, "could not write reject file \"%s\": %s", path, strerror(errno));
	if (rc == 0) {
		sum->rejects_path = path;
		return 0;
	}
	free(path);
	return rc;
}

static int introspect_target(copy_state *cs)
{
	ferry__schema_free(cs->tschema);
	cs->tschema = ferry__schema_new();
	if (!cs->tschema)
		return ferry_err_set(&cs->err, FERRY_ENOMEM, "out of memory");
	return cs->teng->core->introspect(cs->tconn, cs->tschema, &cs->err);
}

int ferry__target_finish_tables(copy_state *cs, ferry_summary *sum)
{
	ferry_err *err = &cs->err;
	jobset *js = &cs->js;
	int rc = 0;
	/* Indexes of the tables ferry created come after their rows: faster, same result. Each
	 * table's are recorded as done, so a resumed run makes those an earlier process did not. */
	for (int pass = 0; pass < 2; pass++) {
		ferry_schema *s = pass == 0 ? js->created : js->again;
		for (size_t i = 0; rc == 0 && s && i < ferry_schema_count(s); i++) {
			const ferry_table *t = ferry_schema_table(s, i);
			char flag[600];
			snprintf(flag, sizeof(flag), "indexed:%s", t->name);
			rc = cs->teng->write->create_indexes(cs->tconn, t, err);
			if (rc == 0)
				rc = ferry__state_set(cs->teng, cs->tconn, cs->plan->run_digest, flag, err);
		}
	}
	/* Foreign keys are checked once, after every table of the run is loaded. */
	for (size_t i = 0; rc == 0 && cs->teng->write->fk_check && i < js->njobs; i++) {
		int seen = 0;
		for (size_t k = 0; k < i; k++)
			seen |= strcmp(js->jobs[k].dst_table, js->jobs[i].dst_table) == 0;
		if (seen)
			continue;
		int64_t n = 0;
		rc = cs->teng->write->fk_check(cs->tconn, js->jobs[i].dst_table, &n, err);
		js->jobs[i].fk_violations = n;
		sum->total_fk += n;
	}
	return rc;
}

/* Everything that can refuse the plan happens in one target transaction, before any row
 * moves: ferry's state tables, the target schema, resolution of every job against both
 * schemas, and the tables ferry creates. A plan mistake rolls it all back, so the target is
 * as it was; --check always rolls back. */
int ferry__target_prepare(copy_state *cs, int strict, ferry_summary *sum)
{
	ferry_err *err = &cs->err;
	int rc = cs->teng->core->begin(cs->tconn, err);
	if (rc)
		return rc;
	rc = ferry__state_init(cs->teng, cs->tconn, err);
	if (rc == 0)
		rc = apply_target_schema(cs);
	if (rc == 0)
		rc = introspect_target(cs);
	if (rc == 0)
		rc = ferry__jobs_build(&cs->js, cs->ctx, cs->plan, cs->sources, cs->teng, cs->tschema, strict, err);
	/* A resumed run: tables an earlier process of it created still need their indexes and
	 * foreign keys when it did not get to them (they come after the rows). */
	for (size_t i = 0; rc == 0 && i < cs->js.njobs; i++) {
		const char *t = cs->js.jobs[i].dst_table;
		if (ferry_schema_find(cs->js.created, t))
			continue;
		char flag[600];
		int made = 0, indexed = 0;
		snprintf(flag, sizeof(flag), "created:%s", t);
		rc = ferry__state_get(cs->teng, cs->tconn, cs->plan->run_digest, flag, &made, err);
		snprintf(flag, sizeof(flag), "indexed:%s", t);
		if (rc == 0 && made)
			rc = ferry__state_get(cs->teng, cs->tconn, cs->plan->run_digest, flag, &indexed, err);
		if (rc == 0 && made && !indexed)
			rc = ferry__jobs_define_again(&cs->js, cs->ctx, cs->plan, cs->sources, cs->teng, t, err);
	}
	for (size_t i = 0; rc == 0 && i < cs->js.nnotes; i++) {
		if (ferry__summary_note(sum, cs->js.notes[i]) != 0)
			rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
		ferry__sched_emit(cs->opts, FERRY_PROGRESS_NOTE, NULL, cs->js.notes[i]);
	}
	if (rc == 0 && cs->hooks && cs->hooks->resolved)
		rc = cs->hooks->resolved(cs->hooks->ud, &cs->js, &cs->tschema, err);
	if (rc == 0 && !cs->opts->check_only)
		rc = create_tables(cs);
	if (rc == 0 && !cs->opts->check_only) {
		rc = cs->teng->core->commit(cs->tconn, err);
		cs->changed = rc == 0;
		return rc;
	}
	cs->teng->core->rollback(cs->tconn, &(ferry_err){0});
	return rc;
}

/* The run is finished: record it in the target's ferry_history (when the target keeps one)
 * in the same transaction as the run's "finished" flag, so the record of upgrades names
 * every data migration exactly once. */
static int count_chunk(void *ud, const ferry_chunk_rec *rec)
{
	(void)rec;
	(*(int64_t *)ud)++;
	return 0;
}

static int cmp_level_desc(const void *a, const void *b)
{
	const job *x = *(const job *const *)a, *y = *(const job *const *)b;
	return (y->level > x->level) - (y->level < x->level);
}

/* --truncate at the start of a fresh run: every target table of the run is emptied at once,
 * in one transaction, the tables that reference others first, so that foreign keys between
 * them (enforced by PostgreSQL) do not refuse the deletes. A resumed run deletes nothing. */
int ferry__target_truncate(copy_state *cs)
{
	ferry_err *err = &cs->err;
	int64_t chunks = 0;
	int rc = ferry__state_load(cs->teng, cs->tconn, cs->plan->run_digest, count_chunk, &chunks, err);
	if (rc || chunks > 0)
		return rc;
	job **order = calloc(cs->js.njobs + 1, sizeof(job *));
	if (!order)
		return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	size_t n = 0;
	for (size_t i = 0; i < cs->js.njobs; i++) {
		int seen = 0;
		for (size_t k = 0; k < n && !seen; k++)
			seen = strcmp(order[k]->dst_table, cs->js.jobs[i].dst_table) == 0;
		if (!seen && !cs->js.jobs[i].creates_table)
			order[n++] = &cs->js.jobs[i];
	}
	qsort(order, n, sizeof(job *), cmp_level_desc);
	rc = n ? cs->teng->core->begin(cs->tconn, err) : 0;
	for (size_t k = 0; rc == 0 && k < n; k++) {
		char *q = ferry__qident(cs->teng, order[k]->dst_table);
		char *sql = q ? ferry__sprintf("DELETE FROM %s", q) : NULL;
		free(q);
		rc = sql ? cs->teng->core->exec(cs->tconn, sql, err) : ferry_err_set(err, FERRY_ENOMEM, "out of memory");
		free(sql);
	}
	if (n && rc == 0)
		rc = cs->teng->core->commit(cs->tconn, err);
	else if (n)
		cs->teng->core->rollback(cs->tconn, &(ferry_err){0});
	if (rc) {
		char msg[sizeof(err->msg)];
		snprintf(msg, sizeof(msg), "%s", err->msg);
		rc = ferry_err_set(err, rc, "--truncate: %s", msg);
	}
	free(order);
	return rc;
}

typedef struct run_rows {
	int64_t written, rejected;
} run_rows;

static int add_run_rows(void *ud, const ferry_chunk_rec *rec)
{
	run_rows *r = ud;
	if (rec->done) {
		r->written += rec->rows_written;
		r->rejected += rec->rows_rejected;
	}
	return 0;
}

int ferry__target_finish_run(copy_state *cs, const ferry_verify_report *vr)
{
	ferry_err *err = &cs->err;
	const ferry_plan *p = cs->plan;
	int rc = cs->teng->core->begin(cs->tconn, err);
	if (rc)
		return rc;
	if (cs->teng->core->exec_params && !(cs->hooks && cs->hooks->no_history)) {
		/* The whole run's rows, from its checkpoints: earlier processes (a resumed crash,
		 * stages run one at a time) moved some of them. */
		run_rows rr = {0, 0};
		int64_t fk = 0;
		rc = ferry__state_load(cs->teng, cs->tconn, p->run_digest, add_run_rows, &rr, err);
		if (rc) {
			cs->teng->core->rollback(cs->tconn, &(ferry_err){0});
			return rc;
		}
		int64_t rows = rr.written, rejected = rr.rejected;
		for (size_t i = 0; i < cs->js.njobs; i++)
			fk += cs->js.jobs[i].fk_violations;
		char verdict[96];
		if (rejected || fk)
			snprintf(verdict, sizeof(verdict), "%lld rows rejected, %lld dangling foreign keys",
			         (long long)rejected, (long long)fk);
		else
			snprintf(verdict, sizeof(verdict), "all rows arrived");
		char *vv = vr ? ferry__verify_verdict(vr) : NULL;
		char *full = vv ? ferry__sprintf("%s; %s", verdict, vv) : NULL;
		free(vv);
		const ferry_engine *se = cs->sources[0].eng;
		int import = p->nsources == 1 && (se->flags & FERRY_ENGINE_LABEL);
		char *dir = import && se->url_path ? se->url_path(p->sources[0].url) : NULL;
		const char *cmd = import ? "import" : "copy";
		char *desc = p->path ? ferry__sprintf("ferry %s -p %s", cmd, p->path)
		             : import ? ferry__sprintf("ferry import of label %s", dir ? dir : p->sources[0].url)
		                      : ferry__sprintf("ferry copy of %zu source%s", p->nsources,
		                                       p->nsources == 1 ? "" : "s");
		free(dir);
		rc = desc && (!vr || full)
		         ? ferry__history_record_data(cs->tconn, cs->teng, p->run_digest, desc, rows,
		                                      full ? full : verdict, err)
		         : ferry_err_set(err, FERRY_ENOMEM, "out of memory");
		free(desc);
		free(full);
	}
	if (rc == 0)
		rc = ferry__state_set(cs->teng, cs->tconn, p->run_digest, "finished", err);
	if (rc == 0)
		return cs->teng->core->commit(cs->tconn, err);
	cs->teng->core->rollback(cs->tconn, &(ferry_err){0});
	return rc;
}

