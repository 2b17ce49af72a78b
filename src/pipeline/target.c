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
#include "lease.h"
#include "sched.h"
#include "state.h"
#include "../history/history.h"
#include "../verify/verify.h"

/* Apply the plan's target schema once per run (inside the caller's transaction); a file
 * the target's ferry_history shows applied already (by its checksum) is noted, not applied. */
static int apply_target_schema(copy_state *cs, ferry_summary *sum)
{
	ferry_err *err = &cs->err;
	const ferry_plan *p = cs->plan;
	int done = 0;
	int rc = ferry__state_get(cs->teng, cs->tconn, p->run_digest, "schema", &done, err);
	if (rc == 0 && done)
		cs->schema_kept = ~(uint64_t)0;
	if (rc || done || p->nschema == 0)
		return rc;
	/* Through the record of upgrades when the target keeps one: each file in ferry_history. */
	if (cs->teng->core->exec_params && cs->teng->migrate) {
		for (size_t i = 0; rc == 0 && i < p->nschema; i++) {
			char *already = NULL;
			rc = ferry__history_apply_schema(cs->tconn, cs->teng, p->schema_files[i], p->run_digest,
			                                 &already, err);
			char *note = already ? ferry__sprintf("target schema \"%s\" is in the target already (%s): not applied again",
			                                      p->schema_files[i], already) : NULL;
			if (rc == 0 && already && (!note || ferry__summary_note_at(sum, "schema_already_applied", NULL, NULL, note) != 0))
				rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
			if (rc == 0 && note)
				ferry__sched_emit_note(cs->opts, sum->notes[sum->nnotes - 1]);
			if (rc == 0 && already)
				cs->schema_kept |= (uint64_t)1 << (i < 63 ? i : 63);
			free(note);
			free(already);
		}
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

/* Where an engine's note of a CHECK, an index or a collation it did not create goes: the
 * summary and the progress stream, like resolution's notes. */
typedef struct engine_notes {
	copy_state *cs;
	ferry_summary *sum;
	const char *table; /* the table being created */
	int oom;
} engine_notes;

static void engine_note(void *ud, const char *code, const char *column, const char *line)
{
	engine_notes *en = ud;
	if (!code) {
		if (ferry__summary_note(en->sum, line) != 0)
			en->oom = 1;
		ferry__sched_emit(en->cs->opts, FERRY_PROGRESS_NOTE, NULL, line);
		return;
	}
	if (ferry__summary_note_at(en->sum, code, en->table, column, line) != 0)
		en->oom = 1;
	else
		ferry__sched_emit_note(en->cs->opts, en->sum->notes[en->sum->nnotes - 1]);
}

/* Create the target tables the plan needs and the target lacks, each with its flag
 * (inside the caller's transaction). */
static int create_tables(copy_state *cs, ferry_summary *sum)
{
	ferry_err *err = &cs->err;
	ferry_schema *cr = cs->js.created;
	engine_notes en = {cs, sum, NULL, 0};
	for (size_t i = 0; i < ferry_schema_count(cr); i++) {
		ferry_table *t = ferry_schema_table(cr, i);
		char flag[600];
		snprintf(flag, sizeof(flag), "created:%s", t->name);
		en.table = t->name;
		t->note = engine_note;
		t->note_ud = &en;
		int rc = cs->teng->write->create_table(cs->tconn, t, err);
		t->note = NULL;
		if (rc == 0 && en.oom)
			rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
		if (rc == 0)
			rc = ferry__state_set(cs->teng, cs->tconn, cs->plan->run_digest, flag, err);
		if (rc)
			return rc;
	}
	return 0;
}

/* "run R (what ferry_history says of it)" for the run that wrote rows into table, or
 * NULL when the target does not record one (caller frees). */
static char *earlier_run(copy_state *cs, const char *table)
{
	ferry_err e = {0};
	char *id = NULL;
	if (ferry__state_table_writer(cs->teng, cs->tconn, table, cs->plan->run_digest, &id, &e) != 0 || !id)
		return NULL;
	char *desc = NULL;
	ferry_arena *strings = ferry_arena_new(16 * 1024);
	ferry_hist_row *rows = NULL;
	size_t n = 0;
	int exists = 0;
	if (strings && cs->teng->core->exec_params &&
	    ferry__hist_read(&rows, &n, &exists, 1, strings, cs->tconn, cs->teng, &e) == 0)
		for (size_t i = 0; i < n && !desc; i++)
			if (rows[i].kind && strcmp(rows[i].kind, "data") == 0 && rows[i].run_id &&
			    strcmp(rows[i].run_id, id) == 0)
				desc = ferry__sprintf("run %.12s (%s, finished %s)", id,
				                      rows[i].description ? rows[i].description : "?",
				                      rows[i].applied_at ? rows[i].applied_at : "?");
	free(rows);
	ferry_arena_free(strings);
	if (!desc)
		desc = ferry__sprintf("run %.12s (not finished: rerun its command to finish it)", id);
	free(id);
	return desc;
}

/* 1 when target table `name` (as the target holds it, else as this run creates it) has
 * neither a primary key nor a unique index: nothing in it tells a row loaded twice. */
static int keyless_table(const copy_state *cs, const char *name)
{
	const ferry_table *t = ferry_schema_find(cs->tschema, name);
	if (!t)
		t = ferry_schema_find(cs->js.created, name);
	if (!t || t->npk > 0)
		return 0;
	for (size_t i = 0; i < t->nidx; i++)
		if (t->idx[i].unique && !t->idx[i].where)
			return 0;
	return 1;
}

/* Filters longer than this are recorded by their hash only: the flag is part of a key. */
#define DATA_FILTER_MAX 1500

/* The prefix of the run flags naming what a job loads into table `dst`: "data:H:dst:",
 * H the hash of its source by the database it names and the source table (caller frees;
 * NULL when out of memory). */
static char *data_prefix(copy_state *cs, const job *j)
{
	ferry_err e = {0};
	char *id = NULL;
	const char *url = cs->plan->sources[j->src].url;
	if (ferry__url_identity(&id, cs->ctx, url, &e) != 0 && e.code == FERRY_ENOMEM)
		return NULL;
	ferry_buf b = FERRY_BUF_INIT;
	ferry_buf_add(&b, id ? id : url, strlen(id ? id : url) + 1);
	ferry_buf_add(&b, j->src_table, strlen(j->src_table) + 1);
	free(id);
	char *out = b.failed ? NULL
	            : ferry__sprintf("data:%016llx:%s:", (unsigned long long)ferry__hash64(b.data, b.len, 0),
	                             j->dst_table);
	ferry_buf_free(&b);
	return out;
}

/* The flag itself: the prefix, then the job's filter ("" for all rows; "#HASH" for a long
 * one). NULL when out of memory. */
static char *data_flag(copy_state *cs, const job *j)
{
	char *pre = data_prefix(cs, j);
	if (!pre)
		return NULL;
	char *out;
	if (j->filter && strlen(j->filter) > DATA_FILTER_MAX)
		out = ferry__sprintf("%s#%016llx", pre,
		                     (unsigned long long)ferry__hash64(j->filter, strlen(j->filter), 0));
	else
		out = ferry__sprintf("%s%s", pre, j->filter ? j->filter : "");
	free(pre);
	return out;
}

int ferry__target_note_data(copy_state *cs, const job *j)
{
	if (cs->teng->state || !keyless_table(cs, j->dst_table))
		return 0;
	char *flag = data_flag(cs, j);
	if (!flag)
		return ferry_err_set(&cs->err, FERRY_ENOMEM, "out of memory");
	int rc = ferry__state_set(cs->teng, cs->tconn, cs->plan->run_digest, flag, &cs->err);
	free(flag);
	return rc;
}

typedef struct data_runs {
	const char *prefix;
	char *run;                 /* the first other run that loaded from the same source table */
	char *filter;              /* its filter as recorded */
} data_runs;

static int same_source(void *ud, const ferry_value *row)
{
	data_runs *d = ud;
	size_t n = strlen(d->prefix);
	if (d->run || row[0].type != FERRY_TEXT || row[1].type != FERRY_TEXT || row[1].len < n ||
	    memcmp(row[1].v.s, d->prefix, n) != 0)
		return 0;
	if (!(d->run = ferry__strndup(row[0].v.s, row[0].len)) ||
	    !(d->filter = ferry__strndup(row[1].v.s + n, row[1].len - n)))
		return FERRY_ENOMEM;
	return 0;
}

static int count_row(void *ud, const ferry_value *row)
{
	*(int64_t *)ud = row[0].type == FERRY_INT ? row[0].v.i : 1;
	return 0;
}

/* --append into a table without a key: refused when another run recorded loading rows of
 * the same source table (ferry__target_note_data) that this job would load again: all of
 * them when either has no filter, else those both filters select, counted in the source.
 * Such rows would arrive twice with nothing to tell them apart; a split load's other part
 * (a complementary filter) is welcome. */
static int refuse_append_twice(copy_state *cs, const job *j)
{
	if (cs->teng->state || !keyless_table(cs, j->dst_table))
		return 0;
	data_runs d = {0};
	char *pre = data_prefix(cs, j);
	if (!pre)
		return ferry_err_set(&cs->err, FERRY_ENOMEM, "out of memory");
	d.prefix = pre;
	static const char *const cols[] = {"run_id", "flag"};
	ferry_value p;
	memset(&p, 0, sizeof(p));
	p.type = FERRY_TEXT;
	p.v.s = cs->plan->run_digest;
	p.len = (uint32_t)strlen(cs->plan->run_digest);
	int rc = ferry__state_query(cs->teng, cs->tconn, "ferry_runs", cols, 2, "run_id <> ?", &p, 1, NULL, 0,
	                            same_source, &d, &cs->err);
	if (rc == FERRY_ENOMEM && !cs->err.code)
		rc = ferry_err_set(&cs->err, FERRY_ENOMEM, "out of memory");
	int64_t twice = -1; /* -1: all of them, or as many as cannot be told */
	const char *why = "";
	if (rc == 0 && d.run && j->filter && d.filter[0] && d.filter[0] != '#' &&
	    strlen(j->filter) <= DATA_FILTER_MAX) {
		/* Both filtered: the rows both select, counted where they are. */
		static const char *const cnt[] = {"count(*)"};
		char *both = ferry__sprintf("(%s) AND (%s)", d.filter, j->filter);
		const ferry_source_conn *sc = &cs->sources[j->src];
		ferry_err e = {0};
		twice = 0;
		if (!both)
			rc = ferry_err_set(&cs->err, FERRY_ENOMEM, "out of memory");
		else if (ferry__state_query(sc->eng, sc->conn, j->src_table, cnt, 1, both, NULL, 0, NULL, 0, count_row,
		                            &twice, &e) != 0)
			twice = -1, why = " (whether the two filters overlap could not be counted)";
		free(both);
	}
	if (rc == 0 && d.run && twice != 0) {
		char *who = earlier_run(cs, j->dst_table);
		char n[64] = "";
		if (twice > 0)
			snprintf(n, sizeof(n), "%lld of ", (long long)twice);
		rc = ferry_err_set(&cs->err, FERRY_EUSAGE,
		                   "cannot --append into target table \"%s\": it has no primary key or unique index, and %s loaded %sthe rows of %s.%s this run would load already%s; they would be there twice (use --truncate to load them again, or filters that do not overlap)",
		                   j->dst_table, who ? who : "an earlier run", n, j->source_name, j->src_table, why);
		free(who);
	}
	free(pre);
	free(d.run);
	free(d.filter);
	return rc;
}

/* The refusal of rows another run (or no run) put in a table, naming that run when the
 * target records it, and the ways on. --append is offered for a table without a key only
 * with its condition: it refuses the rows an earlier run loaded (refuse_append_twice). */
static int refuse_foreign_rows(copy_state *cs, const char *table, int64_t n)
{
	char *who = earlier_run(cs, table);
	int rc = ferry_err_set(&cs->err, FERRY_EUSAGE,
	                       "target table \"%s\" already holds %lld rows that this run did not write%s%s (use --truncate to empty it first, or --append to load beside them%s)",
	                       table, (long long)n, who ? ": they were loaded by " : "",
	                       who ? who : "",
	                       keyless_table(cs, table) ? " if they are other rows: the table has no key, so --append of rows an earlier run loaded is refused" : "");
	free(who);
	return rc;
}

int ferry__target_check_empty(copy_state *cs, const job *j, int shared)
{
	ferry_err *err = &cs->err;
	/* The backfill writes beside the rows the copy and the application wrote. */
	if (shared || cs->plan->later_mode == FERRY_LATER_ONLY)
		return 0;
	if (cs->opts->append)
		return refuse_append_twice(cs, j);
	int64_t n = 0;
	int rc = cs->teng->write->table_rows(cs->tconn, j->dst_table, &n, err);
	if (rc || n == 0)
		return rc;
	if (!cs->opts->truncate)
		return refuse_foreign_rows(cs, j->dst_table, n);
	char *q = ferry__qident(cs->teng, j->dst_table);
	char *sql = q ? ferry__sprintf("DELETE FROM %s", q) : NULL;
	free(q);
	rc = sql ? cs->teng->core->exec(cs->tconn, sql, err) : ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	free(sql);
	return rc;
}

/* --rejects PATH; else beside the target's file when it has one (TARGET.rejects.jsonl);
 * else, for a server, beside the plan (plan.yaml: plan.rejects.jsonl); else (a plan-less
 * copy to a server) ferry-RUN.rejects.jsonl in the working directory. */
static char *rejects_path_for(const ferry_plan *p, const ferry_engine *teng,
                              const ferry_copy_options *o)
{
	if (o->rejects_path)
		return ferry__strdup(o->rejects_path);
	char *file = teng->url_path ? teng->url_path(p->target) : NULL;
	char *r;
	if (file) {
		r = ferry__sprintf("%s.rejects.jsonl", file);
	} else if (p->path) {
		size_t n = strlen(p->path);
		size_t stem = n > 5 && strcmp(p->path + n - 5, ".yaml") == 0 ? n - 5
		            : n > 4 && strcmp(p->path + n - 4, ".yml") == 0 ? n - 4 : n;
		r = ferry__sprintf("%.*s.rejects.jsonl", (int)stem, p->path);
	} else {
		r = ferry__sprintf("ferry-%.12s.rejects.jsonl", p->run_digest);
	}
	free(file);
	return r;
}

typedef struct rejects_out {
	FILE *f;
	int64_t n;
	const char *path;
	ferry_err *err;
} rejects_out;

static int write_reject(void *ud, const char *table, const char *key, const char *values,
                        const char *reason)
{
	rejects_out *ro = ud;
	ferry_buf b = FERRY_BUF_INIT;
	ferry_buf_puts(&b, "{\"table\":");
	ferry_buf_json_str(&b, table, strlen(table));
	ferry_buf_printf(&b, ",\"key\":%s,\"reason\":", key && *key ? key : "null");
	ferry_buf_json_str(&b, reason, strlen(reason));
	ferry_buf_printf(&b, ",\"values\":%s}\n", values && *values ? values : "null");
	int rc = b.failed ? FERRY_ENOMEM : 0;
	if (rc == 0 && fwrite(b.data, 1, b.len, ro->f) != b.len)
		rc = ferry_err_set(ro->err, FERRY_ERROR, "could not write reject file \"%s\": %s", ro->path,
		                   strerror(errno));
	else if (rc)
		ferry_err_set(ro->err, rc, "out of memory");
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
	rejects_out ro = {fdopen(fd, "w"), 0, path, err};
	if (!ro.f) {
		int rc = ferry_err_set(err, FERRY_ERROR, "could not write reject file \"%s\": %s", path, strerror(errno));
		close(fd);
		free(path);
		return rc;
	}
	int rc = ferry__state_reject_rows(cs->teng, cs->tconn, cs->plan->run_digest, write_reject, &ro, err);
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

/* A step after the rows, for the progress display: which, on which table, how far. */
static void phase(copy_state *cs, const char *what, const char *table, int64_t i, int64_t n)
{
	const ferry_copy_options *o = cs->opts;
	if (!o->progress)
		return;
	ferry_progress p = {.kind = FERRY_PROGRESS_PHASE, .table = table, .rows_total = -1,
	                    .chunks_done = i, .chunks_total = n, .message = what};
	o->progress(o->progress_ud, &p);
}

void ferry__target_phase(copy_state *cs, const char *what)
{
	phase(cs, what, NULL, 0, 1);
}

int ferry__target_finish_tables(copy_state *cs, ferry_summary *sum)
{
	ferry_err *err = &cs->err;
	jobset *js = &cs->js;
	int rc = 0;
	int64_t nidx = (int64_t)(ferry_schema_count(js->created) + (js->again ? ferry_schema_count(js->again) : 0));
	int64_t step = 0;
	/* Indexes of the tables ferry created come after their rows: faster, same result. Each
	 * table's are recorded as done, so a resumed run makes those an earlier process did not. */
	engine_notes en = {cs, sum, NULL, 0};
	for (int pass = 0; pass < 2; pass++) {
		ferry_schema *s = pass == 0 ? js->created : js->again;
		for (size_t i = 0; rc == 0 && s && i < ferry_schema_count(s); i++) {
			ferry_table *t = ferry_schema_table(s, i);
			char flag[600];
			snprintf(flag, sizeof(flag), "indexed:%s", t->name);
			phase(cs, "keys and indexes", t->name, step++, nidx);
			en.table = t->name;
			t->note = engine_note;
			t->note_ud = &en;
			rc = cs->teng->write->create_indexes(cs->tconn, t, err);
			t->note = NULL;
			if (rc == 0 && en.oom)
				rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
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
		phase(cs, "foreign keys", js->jobs[i].dst_table, (int64_t)i, (int64_t)js->njobs);
		rc = cs->teng->write->fk_check(cs->tconn, js->jobs[i].dst_table, &n, err);
		js->jobs[i].fk_violations = n;
		sum->total_fk += n;
	}
	return rc;
}

static int mark_job(void *ud, const ferry_chunk_rec *rec)
{
	int *has = ud;
	if (rec->job >= 0 && rec->job < has[0])
		has[rec->job + 1] = 1; /* has[0] holds the count of jobs */
	return 0;
}

/* The refusal ferry__chunks_build makes when a stage starts (a fresh job's target table
 * holds rows this run did not write), made for every stage the run covers before anything
 * is committed; --truncate and --append decide at the stage, as before. */
static int refuse_foreign_rows_early(copy_state *cs)
{
	const ferry_copy_options *o = cs->opts;
	jobset *js = &cs->js;
	if (o->truncate || js->njobs == 0)
		return 0;
	int *has = ferry__calloc(js->njobs + 2, sizeof(int));
	if (!has)
		return ferry_err_set(&cs->err, FERRY_ENOMEM, "out of memory");
	has[0] = (int)js->njobs;
	int rc = ferry__state_load(cs->teng, cs->tconn, cs->plan->run_digest, mark_job, has, &cs->err);
	for (size_t i = 0; rc == 0 && i < js->njobs; i++) {
		const job *j = &js->jobs[i];
		if (has[i + 1] || j->creates_table || (o->stage && strcmp(o->stage, j->stage) != 0) ||
		    ferry_schema_find(js->created, j->dst_table))
			continue;
		int shared = 0, earlier = 0;
		for (size_t k = 0; k < js->njobs; k++) {
			if (k == i || strcmp(js->jobs[k].dst_table, j->dst_table) != 0)
				continue;
			shared |= has[k + 1];
			earlier |= k < i;
		}
		/* A table several jobs feed is checked once, for the first. */
		if (!earlier)
			rc = ferry__target_check_empty(cs, j, shared);
	}
	free(has);
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
		rc = apply_target_schema(cs, sum);
	if (rc == 0)
		rc = introspect_target(cs);
	if (rc == 0)
		rc = ferry__jobs_build(&cs->js, cs->ctx, cs->plan, cs->sources, cs->teng, cs->tschema,
		                      strict | (cs->opts->types_declared ? FERRY_JOBS_TYPES_DECLARED : 0), err);
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
		if (ferry__summary_note_copy(sum, cs->js.notes[i]) != 0)
			rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
		ferry__sched_emit_note(cs->opts, cs->js.notes[i]);
	}
	/* Every SQL text the plan gives a source, and every table that would be refused for
	 * rows this run did not write, before anything is committed: a plan mistake then
	 * changes nothing (exit 2). */
	if (rc == 0)
		rc = ferry__jobs_probe(cs);
	if (rc == 0)
		rc = refuse_foreign_rows_early(cs);
	if (rc == 0 && cs->hooks && cs->hooks->resolved)
		rc = cs->hooks->resolved(cs->hooks->ud, &cs->js, &cs->tschema, err);
	if (rc == 0 && !cs->opts->check_only)
		rc = create_tables(cs, sum);
	if (rc == 0 && !cs->opts->check_only)
		rc = ferry__lease_fence(cs->lease, cs->tconn, err);
	if (rc == 0 && !cs->opts->check_only) {
		rc = cs->teng->core->commit(cs->tconn, err);
		cs->changed = rc == 0;
		return rc;
	}
	/* (ferry sync's check keeps the jobs itself: it has its own account.) */
	if (rc == 0 && cs->opts->check_only && !cs->hooks)
		rc = ferry__preview_build(cs, sum);
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
		rc = ferry__lease_fence(cs->lease, cs->tconn, err);
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
	/* Asked again inside the transaction: another process of the run (a holder whose lease
	 * this one took after it released it, --join) may have recorded it since this began. */
	int already = 0;
	rc = ferry__state_get(cs->teng, cs->tconn, p->run_digest, "finished", &already, err);
	if (rc || already) {
		cs->teng->core->rollback(cs->tconn, &(ferry_err){0});
		return rc;
	}
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
		/* A plan-less copy names its ends (masked), as the command was typed. */
		char *src = !p->path && !import ? ferry_url_mask(p->sources[0].url) : NULL;
		char *dst = !p->path && !import ? ferry_url_mask(p->target) : NULL;
		/* A label's path is a copy of its URL's: NULL only when out of memory. */
		int oom = import && se->url_path && !dir;
		char *desc = oom ? NULL
		             : p->path ? ferry__sprintf("ferry %s -p %s", cmd, p->path)
		             : import ? ferry__sprintf("ferry import of label %s", dir)
		             : src && dst ? ferry__sprintf("ferry copy %s %s", src, dst) : NULL;
		free(src);
		free(dst);
		free(dir);
		int64_t ms = (int64_t)((ferry__now() - cs->started) * 1000);
		rc = desc && (!vr || full)
		         ? ferry__history_record_data(cs->tconn, cs->teng, p->run_digest, desc, rows,
		                                      full ? full : verdict, ms, err)
		         : ferry_err_set(err, FERRY_ENOMEM, "out of memory");
		free(desc);
		free(full);
	}
	if (rc == 0)
		rc = ferry__state_set(cs->teng, cs->tconn, p->run_digest, "finished", err);
	/* A holder that lost the run records nothing: the one that holds it records it once. */
	if (rc == 0)
		rc = ferry__lease_fence(cs->lease, cs->tconn, err);
	if (rc == 0)
		return cs->teng->core->commit(cs->tconn, err);
	cs->teng->core->rollback(cs->tconn, &(ferry_err){0});
	return rc;
}

