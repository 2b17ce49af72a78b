/* runs.c — ferry_runs_write: every run a target's bookkeeping records (ferry_runs flags,
 * ferry_progress chunks, ferry_leases, ferry_positions), one line or object per run, with
 * who holds it and how far it got. Reads only, through the engines' generic reader. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "lease.h"
#include "state.h"

#define OOM(err) ferry_err_set((err), FERRY_ENOMEM, "out of memory")

typedef struct run_pos {
	int64_t source;
	uint64_t pos;
	char at[40];
} run_pos;

/* A conflict ferry sync --both-ways settled (ferry_conflicts): the newest few of a run are
 * shown, all are counted. */
#define CONFLICTS_SHOWN 10
typedef struct run_conflict {
	char tbl[64], version[8], key[128], rule[16], winner[8], at[40];
} run_conflict;

typedef struct run_info {
	char id[80];
	char started[40];          /* earliest time seen: a flag set, the lease taken */
	char finished[40];         /* the "finished" flag's time, "" when not */
	char kind[16], plan[512], holder[300], since[40], heartbeat[40], lstate[16];
	int has_lease;
	int recorded;              /* a data row of ferry_history names it: the run is over */
	int64_t epoch, expires_ms, ttl_ms;
	int64_t chunks, chunks_done, rows_written, rows_est, rows_rejected;
	int64_t stages_done;
	run_pos *pos;
	size_t npos, pcap;
	int64_t conflicts;
	run_conflict recent[CONFLICTS_SHOWN]; /* a ring: the newest CONFLICTS_SHOWN */
} run_info;

typedef struct runs {
	run_info *r;
	size_t n, cap;
	ferry_err *err;
} runs;

static void cell(char *out, size_t cap, const ferry_value *v)
{
	size_t n = v->type == FERRY_NULL ? 0 : v->len < cap - 1 ? v->len : cap - 1;
	if (n)
		memcpy(out, v->v.s, n);
	out[n] = '\0';
}

static int64_t ival(const ferry_value *v)
{
	return v->type == FERRY_INT || v->type == FERRY_BOOL ? v->v.i : 0;
}

/* The run with id v (added when new), or NULL when out of memory. */
static run_info *find(runs *rs, const ferry_value *v)
{
	char id[80];
	cell(id, sizeof(id), v);
	for (size_t i = 0; i < rs->n; i++)
		if (strcmp(rs->r[i].id, id) == 0)
			return &rs->r[i];
	if (ferry__grow(&rs->r, &rs->cap, rs->n + 1, sizeof(run_info)) != 0)
		return NULL;
	run_info *r = &rs->r[rs->n++];
	memset(r, 0, sizeof(*r));
	memcpy(r->id, id, sizeof(id));
	return r;
}

static void earliest(run_info *r, const char *t)
{
	if (t[0] && (!r->started[0] || strcmp(t, r->started) < 0))
		snprintf(r->started, sizeof(r->started), "%s", t);
}

static int flag_row(void *ud, const ferry_value *v)
{
	runs *rs = ud;
	run_info *r = find(rs, &v[0]);
	if (!r)
		return OOM(rs->err);
	char flag[600], at[40];
	cell(flag, sizeof(flag), &v[1]);
	cell(at, sizeof(at), &v[2]);
	earliest(r, at);
	if (strcmp(flag, "finished") == 0)
		snprintf(r->finished, sizeof(r->finished), "%s", at);
	if (strncmp(flag, "stage:", 6) == 0)
		r->stages_done++;
	return 0;
}

static int chunk_row(void *ud, const ferry_value *v)
{
	runs *rs = ud;
	run_info *r = find(rs, &v[0]);
	if (!r)
		return OOM(rs->err);
	r->chunks++;
	r->rows_est += ival(&v[2]);
	if (ival(&v[1])) {
		r->chunks_done++;
		r->rows_written += ival(&v[3]);
		r->rows_rejected += ival(&v[4]);
	}
	return 0;
}

static int lease_row(void *ud, const ferry_value *v)
{
	runs *rs = ud;
	run_info *r = find(rs, &v[0]);
	if (!r)
		return OOM(rs->err);
	r->has_lease = 1;
	cell(r->holder, sizeof(r->holder), &v[1]);
	r->epoch = ival(&v[2]);
	cell(r->heartbeat, sizeof(r->heartbeat), &v[3]);
	cell(r->since, sizeof(r->since), &v[4]);
	r->expires_ms = ival(&v[5]);
	r->ttl_ms = ival(&v[6]);
	cell(r->lstate, sizeof(r->lstate), &v[7]);
	cell(r->kind, sizeof(r->kind), &v[8]);
	cell(r->plan, sizeof(r->plan), &v[9]);
	earliest(r, r->since);
	return 0;
}

static int history_row(void *ud, const ferry_value *v)
{
	runs *rs = ud;
	char id[80];
	cell(id, sizeof(id), &v[0]);
	for (size_t i = 0; i < rs->n; i++)
		if (strcmp(rs->r[i].id, id) == 0)
			rs->r[i].recorded = 1;
	return 0;
}

static int pos_row(void *ud, const ferry_value *v)
{
	runs *rs = ud;
	run_info *r = find(rs, &v[0]);
	if (!r || ferry__grow(&r->pos, &r->pcap, r->npos + 1, sizeof(run_pos)) != 0)
		return OOM(rs->err);
	run_pos *p = &r->pos[r->npos++];
	p->source = ival(&v[1]);
	p->pos = (uint64_t)ival(&v[2]);
	cell(p->at, sizeof(p->at), &v[3]);
	return 0;
}

static int conflict_row(void *ud, const ferry_value *v)
{
	runs *rs = ud;
	run_info *r = find(rs, &v[0]);
	if (!r)
		return OOM(rs->err);
	run_conflict *c = &r->recent[r->conflicts++ % CONFLICTS_SHOWN];
	cell(c->tbl, sizeof(c->tbl), &v[1]);
	cell(c->version, sizeof(c->version), &v[2]);
	cell(c->key, sizeof(c->key), &v[3]);
	cell(c->rule, sizeof(c->rule), &v[4]);
	cell(c->winner, sizeof(c->winner), &v[5]);
	cell(c->at, sizeof(c->at), &v[6]);
	return 0;
}

/* The i-th newest conflict kept of r (i < kept). */
static const run_conflict *newest(const run_info *r, size_t i)
{
	return &r->recent[(size_t)(r->conflicts - 1 - (int64_t)i) % CONFLICTS_SHOWN];
}

static size_t kept(const run_info *r)
{
	return r->conflicts < CONFLICTS_SHOWN ? (size_t)r->conflicts : CONFLICTS_SHOWN;
}

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* finished; running (held, lease live); stalled (held, lease expired, or its holder is a
 * process of this host that is gone: the next process takes over); stopped (released before the end);
 * incomplete (recorded before leases were kept, not finished). */
static const char *kind_of(const run_info *r);

static const char *state_of(const run_info *r, int64_t now)
{
	/* A sync's snapshot copy sets the flag; the sync is over when --finish recorded it. */
	int sync = strcmp(kind_of(r), "sync") == 0;
	if (sync ? r->recorded : r->finished[0] != '\0')
		return "finished";
	if (!r->has_lease)
		return "incomplete";
	if (strcmp(r->lstate, "held") != 0)
		return "stopped";
	return r->expires_ms > now && !ferry__lease_holder_gone(r->holder) ? "running" : "stalled";
}

static const char *kind_of(const run_info *r)
{
	return r->kind[0] ? r->kind : r->npos ? "sync" : "copy";
}

static int cmp_run(const void *a, const void *b)
{
	const run_info *x = a, *y = b;
	int c = strcmp(x->started, y->started);
	return c ? c : strcmp(x->id, y->id);
}

static void lease_text(char *out, size_t cap, const run_info *r, int64_t now)
{
	if (!r->has_lease)
		snprintf(out, cap, "-");
	else if (strcmp(r->lstate, "held") != 0)
		snprintf(out, cap, "released (epoch %lld)", (long long)r->epoch);
	else if (r->expires_ms > now)
		snprintf(out, cap, "epoch %lld, expires in %.1f s", (long long)r->epoch,
		         (double)(r->expires_ms - now) / 1000.0);
	else
		snprintf(out, cap, "epoch %lld, expired %.0f s ago", (long long)r->epoch,
		         (double)(now - r->expires_ms) / 1000.0);
}

static void write_text(const runs *rs, FILE *f, int64_t now)
{
	if (rs->n == 0) {
		fprintf(f, "no runs recorded in this target\n");
		return;
	}
	fprintf(f, "%-12s  %-6s  %-10s  %-24s  %-30s  %s\n", "run", "kind", "state", "holder", "lease",
	        "progress");
	for (size_t i = 0; i < rs->n; i++) {
		const run_info *r = &rs->r[i];
		char lease[96], prog[256];
		lease_text(lease, sizeof(lease), r, now);
		int n = snprintf(prog, sizeof(prog), "%lld/%lld chunks, %lld rows",
		                 (long long)r->chunks_done, (long long)r->chunks, (long long)r->rows_written);
		for (size_t k = 0; k < r->npos && n > 0 && (size_t)n < sizeof(prog); k++)
			n += snprintf(prog + n, sizeof(prog) - (size_t)n, "; source %lld at %llu (applied %.19s)",
			              (long long)r->pos[k].source, (unsigned long long)r->pos[k].pos,
			              r->pos[k].at);
		fprintf(f, "%-12.12s  %-6s  %-10s  %-24s  %-30s  %s\n", r->id, kind_of(r), state_of(r, now),
		        r->has_lease ? r->holder : "-", lease, prog);
		if (r->plan[0])
			fprintf(f, "%-12s  plan %s\n", "", r->plan);
		if (r->conflicts)
			fprintf(f, "%-12s  %lld conflicts settled (both ways; this database's ferry_conflicts), newest:\n", "",
			        (long long)r->conflicts);
		for (size_t k = 0; k < kept(r); k++) {
			const run_conflict *c = newest(r, k);
			fprintf(f, "%-12s    %.19s  %s %s  %s wins by %s\n", "", c->at, c->tbl, c->key, c->winner, c->rule);
		}
	}
}

static void jstr(ferry_buf *b, const char *name, const char *s)
{
	ferry_buf_printf(b, "\"%s\":", name);
	if (s && *s)
		ferry_buf_json_str(b, s, strlen(s));
	else
		ferry_buf_puts(b, "null");
}

static int write_json(const runs *rs, FILE *f, int64_t now)
{
	ferry_buf b = FERRY_BUF_INIT;
	ferry_buf_puts(&b, "{\"runs\":[");
	for (size_t i = 0; i < rs->n; i++) {
		const run_info *r = &rs->r[i];
		ferry_buf_puts(&b, i ? ",{" : "{");
		jstr(&b, "run_id", r->id);
		ferry_buf_puts(&b, ",");
		jstr(&b, "kind", kind_of(r));
		ferry_buf_puts(&b, ",");
		jstr(&b, "state", state_of(r, now));
		ferry_buf_puts(&b, ",");
		jstr(&b, "plan", r->plan);
		ferry_buf_puts(&b, ",");
		jstr(&b, "started", r->started);
		ferry_buf_puts(&b, ",");
		jstr(&b, "finished", r->finished);
		ferry_buf_puts(&b, ",\"lease\":");
		if (r->has_lease) {
			ferry_buf_puts(&b, "{");
			jstr(&b, "holder", r->holder);
			ferry_buf_printf(&b, ",\"epoch\":%lld,", (long long)r->epoch);
			jstr(&b, "since", r->since);
			ferry_buf_puts(&b, ",");
			jstr(&b, "heartbeat", r->heartbeat);
			ferry_buf_printf(&b, ",\"held\":%s,\"expires_in_s\":%.1f,\"ttl_s\":%.1f}",
			                 strcmp(r->lstate, "held") == 0 ? "true" : "false",
			                 strcmp(r->lstate, "held") == 0 ? (double)(r->expires_ms - now) / 1000.0 : 0.0,
			                 (double)r->ttl_ms / 1000.0);
		} else {
			ferry_buf_puts(&b, "null");
		}
		ferry_buf_printf(&b, ",\"chunks\":%lld,\"chunks_done\":%lld,\"rows_written\":%lld,"
		                 "\"rows_rejected\":%lld,\"rows_estimated\":%lld,\"stages_done\":%lld,\"positions\":[",
		                 (long long)r->chunks, (long long)r->chunks_done, (long long)r->rows_written,
		                 (long long)r->rows_rejected, (long long)r->rows_est, (long long)r->stages_done);
		for (size_t k = 0; k < r->npos; k++) {
			ferry_buf_printf(&b, "%s{\"source\":%lld,\"position\":\"%llu\",", k ? "," : "",
			                 (long long)r->pos[k].source, (unsigned long long)r->pos[k].pos);
			jstr(&b, "applied_at", r->pos[k].at);
			ferry_buf_puts(&b, "}");
		}
		ferry_buf_printf(&b, "],\"conflicts\":%lld,\"conflicts_newest\":[", (long long)r->conflicts);
		for (size_t k = 0; k < kept(r); k++) {
			const run_conflict *c = newest(r, k);
			ferry_buf_puts(&b, k ? ",{" : "{");
			jstr(&b, "table", c->tbl);
			ferry_buf_puts(&b, ",");
			jstr(&b, "version", c->version);
			ferry_buf_puts(&b, ",");
			jstr(&b, "key", c->key);
			ferry_buf_puts(&b, ",");
			jstr(&b, "rule", c->rule);
			ferry_buf_puts(&b, ",");
			jstr(&b, "winner", c->winner);
			ferry_buf_puts(&b, ",");
			jstr(&b, "at", c->at);
			ferry_buf_puts(&b, "}");
		}
		ferry_buf_puts(&b, "]}");
	}
	ferry_buf_puts(&b, "]}\n");
	int rc = b.failed ? FERRY_ENOMEM : 0;
	if (rc == 0 && fwrite(b.data, 1, b.len, f) != b.len)
		rc = FERRY_ERROR;
	ferry_buf_free(&b);
	return rc;
}

static int collect(const ferry_engine *e, ferry_conn *c, runs *rs, ferry_err *err)
{
	static const char *const fcols[] = {"run_id", "flag", "set_at"};
	static const char *const ccols[] = {"run_id", "done", "est_rows", "rows_written", "rows_rejected"};
	static const char *const lcols[] = {"run_id", "holder", "epoch", "heartbeat", "since",
	                                    "expires_ms", "ttl_ms", "state", "kind", "plan"};
	static const char *const pcols[] = {"run_id", "source", "pos", "updated_at"};
	static const char *const porder[] = {"run_id", "source"};
	int rc = ferry__state_query(e, c, "ferry_runs", fcols, 3, NULL, NULL, 0, NULL, 0, flag_row, rs, err);
	if (rc == 0)
		rc = ferry__state_query(e, c, "ferry_progress", ccols, 5, NULL, NULL, 0, NULL, 0, chunk_row, rs, err);
	/* A lease table of the first layout has none of these columns: no leases then. */
	int have = 0;
	if (rc == 0) {
		static const char *const probe[] = {"beats"};
		ferry_err e2 = {0};
		have = ferry__state_query(e, c, "ferry_leases", probe, 1, "1 = 0", NULL, 0, NULL, 0,
		                          flag_row, rs, &e2) == 0;
	}
	if (rc == 0 && have)
		rc = ferry__state_query(e, c, "ferry_leases", lcols, 10, NULL, NULL, 0, NULL, 0, lease_row, rs, err);
	if (rc == 0)
		rc = ferry__state_query(e, c, "ferry_positions", pcols, 4, NULL, NULL, 0, porder, 2, pos_row, rs, err);
	/* ferry sync --both-ways's conflicts, in the order settled (no table: none). */
	static const char *const kcols[] = {"run_id", "tbl", "version", "key_json", "rule", "winner", "at"};
	static const char *const korder[] = {"at"};
	if (rc == 0) {
		ferry_err e3 = {0};
		if (ferry__state_query(e, c, "ferry_conflicts", kcols, 7, NULL, NULL, 0, korder, 1, conflict_row, rs, &e3) != 0 &&
		    e3.code == FERRY_ENOMEM)
			rc = OOM(err);
	}
	static const char *const hcols[] = {"run_id"};
	if (rc == 0)
		rc = ferry__state_query(e, c, "ferry_history", hcols, 1, "run_id IS NOT NULL AND kind = 'data'", NULL, 0,
		                        NULL, 0, history_row, rs, err);
	return rc;
}

int ferry_runs_write(ferry_ctx *ctx, const char *target_url, int json, FILE *f)
{
	ferry_err err = {0};
	const ferry_engine *e = ferry__engine_for(ctx, target_url, &err);
	if (!e)
		return ferry__ctx_fail(ctx, &err);
	if (e->state || !e->core->exec_params) {
		ferry_err_set(&err, FERRY_EUSAGE, "\"%s\" keeps no runs: ferry runs reads a target database", e->name);
		return ferry__ctx_fail(ctx, &err);
	}
	ferry_conn *c = NULL;
	int rc = e->core->connect(&c, target_url, FERRY_CONNECT_READONLY, &err);
	runs rs = {NULL, 0, 0, &err};
	if (rc == 0)
		rc = collect(e, c, &rs, &err);
	if (c)
		e->core->close(c);
	int64_t now = wall_ms();
	if (rc == 0 && rs.n > 1)
		qsort(rs.r, rs.n, sizeof(run_info), cmp_run);
	if (rc == 0 && json)
		rc = write_json(&rs, f, now);
	else if (rc == 0)
		write_text(&rs, f, now);
	if (rc == FERRY_ENOMEM && !err.msg[0])
		ferry_err_set(&err, rc, "out of memory");
	else if (rc && !err.msg[0])
		ferry_err_set(&err, rc, "could not write the list of runs");
	for (size_t i = 0; i < rs.n; i++)
		free(rs.r[i].pos);
	free(rs.r);
	return rc ? ferry__ctx_fail(ctx, &err) : 0;
}
