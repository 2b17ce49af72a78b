/* join.c — --join: several processes share one run's chunks, the target the only
 * coordinator. A chunk is claimed by locking its row of ferry_claims (`FOR UPDATE SKIP
 * LOCKED`) in one transaction that each process keeps open on a connection of its own until
 * it ends: a claim lives exactly as long as its process's session, so the chunks of a killed
 * process become claimable again when the server drops its session, and nobody else ever
 * works on a chunk while its claimer lives. A chunk is still written exactly once by the
 * checkpoint's own guard (done = 0, in the chunk's transaction). Claims follow the foreign-key
 * levels across processes: a chunk of level L+1 is claimed only once no chunk of level L is
 * pending anywhere. The claim statement is PostgreSQL's (SKIP LOCKED, row values). */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "sched.h"
#include "state.h"

struct ferry_join {
	const ferry_engine *e;
	ferry_conn *conn;          /* the claims' connection: one open transaction */
	const char *run_id;
	jobset *js;
	ferry_chunk_list *cl;
	const char *stage;
	char me[300];              /* "host:pid#": the prefix of this process's claim tags */
	int64_t seq;
	int64_t chunks, rows;      /* this process's share, over every stage */
	ferry_buf sql;
};

static ferry_value v_text(const char *s)
{
	ferry_value v;
	memset(&v, 0, sizeof(v));
	v.type = FERRY_TEXT;
	v.v.s = s;
	v.len = (uint32_t)strlen(s);
	return v;
}

int ferry__join_open(ferry_join **out, const ferry_engine *e, const char *url, const char *run_id,
                     jobset *js, ferry_err *err)
{
	*out = NULL;
	ferry_join *jn = ferry__calloc(1, sizeof(*jn));
	if (!jn)
		return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	jn->e = e;
	jn->run_id = run_id;
	jn->js = js;
	char host[256];
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "unknown-host");
	host[sizeof(host) - 1] = '\0';
	snprintf(jn->me, sizeof(jn->me), "%s:%ld#", host, (long)getpid());
	int rc = e->core->connect(&jn->conn, url, 0, err);
	if (rc == 0)
		rc = e->core->begin(jn->conn, err);
	if (rc) {
		ferry__join_close(jn);
		return rc;
	}
	*out = jn;
	return 0;
}

void ferry__join_close(ferry_join *jn)
{
	if (!jn)
		return;
	if (jn->conn) {
		jn->e->core->rollback(jn->conn, &(ferry_err){0}); /* the claims go with it */
		jn->e->core->close(jn->conn);
	}
	ferry_buf_free(&jn->sql);
	free(jn);
}

void ferry__join_share(const ferry_join *jn, int64_t *chunks, int64_t *rows)
{
	*chunks = jn ? jn->chunks : 0;
	*rows = jn ? jn->rows : 0;
}

/* ---- the work source ------------------------------------------------------------------ */

typedef struct pending {
	ferry_join *jn;
	int64_t *per_level;
	int nlevels;
	int64_t total;
} pending;

static int pending_row(void *ud, const ferry_value *v)
{
	pending *p = ud;
	int64_t id = v[0].type == FERRY_INT ? v[0].v.i : -1;
	if (id < 0 || (size_t)id >= p->jn->js->njobs)
		return 0;
	const job *j = &p->jn->js->jobs[id];
	if (strcmp(j->stage, p->jn->stage) != 0 || j->level < 0 || j->level >= p->nlevels)
		return 0;
	p->per_level[j->level]++;
	p->total++;
	return 0;
}

typedef struct claimed {
	int64_t job, chunk;
	int found;
} claimed;

static int claimed_row(void *ud, const ferry_value *v)
{
	claimed *c = ud;
	c->job = v[0].type == FERRY_INT ? v[0].v.i : -1;
	c->chunk = v[1].type == FERRY_INT ? v[1].v.i : -1;
	c->found = 1;
	return 0;
}

static void nap(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Claim the first unclaimed pending chunk of the lowest level pending anywhere; nothing
 * claimable while chunks are pending elsewhere: wait (the scheduler asks again); none
 * pending: the stage is done, for every process. */
static int join_next(void *ud, ferry_work **out, int *done, int timeout_ms, ferry_err *err)
{
	ferry_join *jn = ud;
	ferry_chunk_list *cl = jn->cl;
	*out = NULL;
	*done = 0;
	pending p = {jn, NULL, cl->nlevels, 0};
	p.per_level = ferry__calloc((size_t)cl->nlevels + 1, sizeof(int64_t));
	if (!p.per_level)
		return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	static const char *const pcols[] = {"job"};
	ferry_value id = v_text(jn->run_id);
	int rc = ferry__state_query(jn->e, jn->conn, "ferry_progress", pcols, 1,
	                            "run_id = ? AND done = 0", &id, 1, NULL, 0, pending_row, &p, err);
	int level = 0;
	while (level < cl->nlevels && p.per_level[level] == 0)
		level++;
	free(p.per_level);
	if (rc)
		return rc;
	if (p.total == 0) {
		*done = 1;
		return 0;
	}
	ferry_buf *b = &jn->sql;
	ferry_buf_reset(b);
	ferry_buf_puts(b,
		"UPDATE ferry_claims SET holder = $2 WHERE run_id = $1 AND (job, chunk) = "
		"(SELECT c.job, c.chunk FROM ferry_claims c JOIN ferry_progress p ON p.run_id = c.run_id "
		"AND p.job = c.job AND p.chunk = c.chunk WHERE c.run_id = $1 AND p.done = 0 "
		"AND (c.holder IS NULL OR c.holder NOT LIKE $3) AND c.job IN (");
	int any = 0;
	for (size_t i = 0; i < jn->js->njobs; i++) {
		const job *j = &jn->js->jobs[i];
		if (strcmp(j->stage, jn->stage) == 0 && j->level == level)
			ferry_buf_printf(b, "%s%zu", any++ ? ", " : "", j->id);
	}
	ferry_buf_puts(b, ") ORDER BY c.job, c.chunk LIMIT 1 FOR UPDATE OF c SKIP LOCKED)");
	if (b->failed)
		return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	char tag[340], mine[310];
	snprintf(tag, sizeof(tag), "%s%lld", jn->me, (long long)++jn->seq);
	snprintf(mine, sizeof(mine), "%s%%", jn->me);
	ferry_value params[3] = {v_text(jn->run_id), v_text(tag), v_text(mine)};
	int64_t changed = 0;
	rc = jn->e->core->exec_params(jn->conn, b->data, 3, params, &changed, err);
	if (rc) {
		char keep[sizeof(err->msg)];
		memcpy(keep, err->msg, sizeof(keep));
		return ferry_err_set(err, rc, "could not claim a chunk of run %.12s: %.800s", jn->run_id, keep);
	}
	if (changed != 1) {
		nap(timeout_ms < 200 ? timeout_ms : 200); /* all claimed: wait for them, or for a claimer to die */
		return 0;
	}
	static const char *const ccols[] = {"job", "chunk"};
	ferry_value q[2] = {v_text(jn->run_id), v_text(tag)};
	claimed c = {-1, -1, 0};
	rc = ferry__state_query(jn->e, jn->conn, "ferry_claims", ccols, 2, "run_id = ? AND holder = ?",
	                        q, 2, NULL, 0, claimed_row, &c, err);
	if (rc)
		return rc;
	for (size_t i = 0; c.found && i < cl->nwork; i++)
		if ((int64_t)cl->work[i].j->id == c.job && cl->work[i].chunk == c.chunk && !cl->work[i].priv) {
			cl->work[i].priv = jn; /* taken by this process */
			*out = &cl->work[i];
			return 0;
		}
	return ferry_err_set(err, FERRY_ECORRUPT,
	                     "run state is damaged: claimed chunk %lld of job %lld of run %.12s is not a pending chunk of stage \"%s\"",
	                     (long long)c.chunk, (long long)c.job, jn->run_id, jn->stage);
}

static void join_committed(void *ud, ferry_work *w)
{
	ferry_join *jn = ud;
	jn->chunks += !w->elsewhere;
}

int ferry__join_stage(ferry_join *jn, ferry_chunk_list *cl, const char *stage, ferry_conn *tconn,
                      ferry_work_source *out, ferry_err *err)
{
	for (size_t i = 0; i < cl->nwork; i++)
		if (cl->ordered[i])
			return ferry_err_set(err, FERRY_EUSAGE,
			                     "--join cannot share stage \"%s\": table \"%s\" is fed by a merge or by several jobs, whose chunks commit in the plan's order; run it without --join",
			                     stage, cl->work[i].j->dst_table);
	/* Every process adds the claim rows of what is planned (idempotent). Rows that exist are
	 * left out before the insert: a conflict with a row another process's open claim
	 * updated would wait for that process to end. */
	static const char sql[] =
		"INSERT INTO ferry_claims(run_id, job, chunk) SELECT p.run_id, p.job, p.chunk "
		"FROM ferry_progress p WHERE p.run_id = $1 AND NOT EXISTS (SELECT 1 FROM ferry_claims c "
		"WHERE c.run_id = p.run_id AND c.job = p.job AND c.chunk = p.chunk) "
		"ON CONFLICT (run_id, job, chunk) DO NOTHING";
	ferry_value id = v_text(jn->run_id);
	int rc = jn->e->core->exec_params(tconn, sql, 1, &id, NULL, err);
	if (rc)
		return rc;
	jn->cl = cl;
	jn->stage = stage;
	memset(out, 0, sizeof(*out));
	out->ud = jn;
	out->next = join_next;
	out->committed = join_committed;
	return 0;
}
