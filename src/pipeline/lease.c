/* lease.c — a run's lease in its target: taken (or waited for, --standby) at the start,
 * renewed by a heartbeat thread on a connection of its own, checked by every commit
 * (ferry__lease_fence, a conditional UPDATE in the commit's own transaction) and given up at
 * the end. Every statement is one compare-and-set on the lease row, so two processes never
 * both believe they hold it, on any engine, with no lock held between statements.
 *
 * When does a lease lapse? When its holder released it; when the holder is a process of this
 * host that no longer exists; and when it was not renewed for its time to live — by the
 * holder's clock (expires_ms) for a process that asks once, by the standby's own monotonic
 * clock for a standby that watches, so a standby whose clock runs ahead never displaces a
 * live holder. A holder renews every third of its time to live, and each commit renews too. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include "lease.h"
#include "state.h"

struct ferry_lease {
	const ferry_engine *e;
	ferry_conn *conn;          /* the lease's own: takes, heartbeats, releases */
	char run_id[64];
	char holder[300];          /* host:pid */
	int64_t epoch, ttl_ms;
	int fresh;                 /* this process created the row */
	int beating;               /* renewed by a heartbeat thread too, not only by commits */
	pthread_t thr;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
	int lost;
	double renewed;            /* monotonic seconds of the last renewal (heartbeat or commit) */
	ferry_err lost_err;
	char note[700];
};

/* One lease row as read. */
typedef struct lease_row {
	int found;
	char holder[300], since[40], state[16], kind[24];
	int64_t epoch, expires_ms, ttl_ms, beats;
} lease_row;

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ISO 8601 UTC with milliseconds: sorts as text, reads as time. */
static void iso_ms(char out[40], int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	char s[32];
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, 40, "%s.%03dZ", s, (int)(ms % 1000));
}

static ferry_value v_text(const char *s)
{
	ferry_value v;
	memset(&v, 0, sizeof(v));
	v.type = s ? FERRY_TEXT : FERRY_NULL;
	v.v.s = s;
	v.len = s ? (uint32_t)strlen(s) : 0;
	return v;
}

static ferry_value v_int(int64_t i)
{
	ferry_value v;
	memset(&v, 0, sizeof(v));
	v.type = FERRY_INT;
	v.v.i = i;
	return v;
}

static void cell_text(char *out, size_t cap, const ferry_value *v)
{
	size_t n = v->type == FERRY_NULL ? 0 : v->len < cap - 1 ? v->len : cap - 1;
	if (n)
		memcpy(out, v->v.s, n);
	out[n] = '\0';
}

static int64_t cell_int(const ferry_value *v)
{
	return v->type == FERRY_INT || v->type == FERRY_BOOL ? v->v.i : 0;
}

static int row_cb(void *ud, const ferry_value *v)
{
	lease_row *r = ud;
	r->found = 1;
	cell_text(r->holder, sizeof(r->holder), &v[0]);
	r->epoch = cell_int(&v[1]);
	cell_text(r->since, sizeof(r->since), &v[2]);
	r->expires_ms = cell_int(&v[3]);
	r->ttl_ms = cell_int(&v[4]);
	r->beats = cell_int(&v[5]);
	cell_text(r->state, sizeof(r->state), &v[6]);
	cell_text(r->kind, sizeof(r->kind), &v[7]);
	return 0;
}

static int read_row(const ferry_engine *e, ferry_conn *c, const char *run_id, lease_row *out,
                    ferry_err *err)
{
	static const char *const cols[] = {"holder", "epoch", "since", "expires_ms", "ttl_ms",
	                                   "beats", "state", "kind"};
	memset(out, 0, sizeof(*out));
	ferry_value id = v_text(run_id);
	return ferry__state_query(e, c, "ferry_leases", cols, FERRY_ARRAY_LEN(cols), "run_id = ?",
	                          &id, 1, NULL, 0, row_cb, out, err);
}

/* What this host knows of holder ("host:pid"). */
enum { PROC_ELSEWHERE = 0, PROC_RUNNING, PROC_STOPPED, PROC_GONE };

/* A zombie counts as gone: it will never renew. Another host's process cannot be asked. */
static int holder_state(const char *holder)
{
	const char *colon = strrchr(holder, ':');
	char host[256];
	if (!colon || gethostname(host, sizeof(host)) != 0)
		return PROC_ELSEWHERE;
	host[sizeof(host) - 1] = '\0';
	if ((size_t)(colon - holder) != strlen(host) || strncmp(holder, host, strlen(host)) != 0)
		return PROC_ELSEWHERE;
	char *end;
	long pid = strtol(colon + 1, &end, 10);
	if (*end || pid <= 0)
		return PROC_ELSEWHERE;
	if (kill((pid_t)pid, 0) != 0)
		return errno == ESRCH ? PROC_GONE : PROC_RUNNING;
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return PROC_RUNNING;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *rp = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
	if (!rp || rp[1] != ' ')
		return PROC_RUNNING;
	if (rp[2] == 'Z' || rp[2] == 'X')
		return PROC_GONE;
	return rp[2] == 'T' || rp[2] == 't' ? PROC_STOPPED : PROC_RUNNING;
}

int ferry__lease_holder_gone(const char *holder)
{
	return holder_state(holder) == PROC_GONE;
}

/* "3f2a9c01d2e4…": enough of a run id for people. */
static void short_id(char out[24], const char *run_id)
{
	snprintf(out, 24, "%.12s%s", run_id, strlen(run_id) > 12 ? "\xe2\x80\xa6" : "");
}

/* The time of day of an ISO timestamp ("10:41:07"), or the whole text. */
static const char *time_of(const char *iso)
{
	return strlen(iso) >= 19 && iso[10] == 'T' ? iso + 11 : iso;
}

static void say(const ferry_lease_config *cfg, const char *msg)
{
	if (cfg->note)
		cfg->note(cfg->note_ud, msg);
}

/* ---- the statements ------------------------------------------------------------------ */

/* Create the row with epoch 1 unless one exists; *took = 1 when this created it. */
static int insert_row(ferry_lease *l, const ferry_lease_config *cfg, int *took, ferry_err *err)
{
	static const char sql[] =
		"INSERT INTO ferry_leases(run_id, holder, epoch, heartbeat, expires, since, expires_ms, "
		"ttl_ms, beats, state, kind, plan) VALUES ($1, $2, 1, $3, $4, $3, $5, $6, 0, 'held', $7, $8) "
		"ON CONFLICT (run_id) DO NOTHING";
	int64_t now = wall_ms();
	char hb[40], ex[40];
	iso_ms(hb, now);
	iso_ms(ex, now + l->ttl_ms);
	ferry_value p[8] = {v_text(l->run_id), v_text(l->holder), v_text(hb), v_text(ex),
	                    v_int(now + l->ttl_ms), v_int(l->ttl_ms), v_text(cfg->kind),
	                    v_text(cfg->plan)};
	int64_t changed = 0;
	int rc = l->e->core->exec_params(l->conn, sql, 8, p, &changed, err);
	*took = rc == 0 && changed == 1;
	if (*took) {
		l->epoch = 1;
		l->fresh = 1;
	}
	return rc;
}

/* Take the lease from the holder seen in r, if nobody touched it since: *took = 1. */
static int cas_row(ferry_lease *l, const ferry_lease_config *cfg, const lease_row *r, int *took,
                   ferry_err *err)
{
	static const char sql[] =
		"UPDATE ferry_leases SET holder = $3, epoch = epoch + 1, heartbeat = $4, expires = $5, "
		"since = $4, expires_ms = $6, ttl_ms = $7, beats = 0, state = 'held', kind = $8, "
		"plan = $9 WHERE run_id = $1 AND epoch = $2 AND beats = $10";
	int64_t now = wall_ms();
	char hb[40], ex[40];
	iso_ms(hb, now);
	iso_ms(ex, now + l->ttl_ms);
	ferry_value p[10] = {v_text(l->run_id), v_int(r->epoch), v_text(l->holder), v_text(hb),
	                     v_text(ex), v_int(now + l->ttl_ms), v_int(l->ttl_ms), v_text(cfg->kind),
	                     v_text(cfg->plan), v_int(r->beats)};
	int64_t changed = 0;
	int rc = l->e->core->exec_params(l->conn, sql, 10, p, &changed, err);
	*took = rc == 0 && changed == 1;
	if (*took)
		l->epoch = r->epoch + 1;
	return rc;
}

/* Renew on c (the caller's transaction, or autocommit): *held = 0 when the epoch is gone. */
static int renew(ferry_lease *l, ferry_conn *c, int *held, ferry_err *err)
{
	static const char sql[] =
		"UPDATE ferry_leases SET heartbeat = $3, expires = $4, expires_ms = $5, beats = beats + 1 "
		"WHERE run_id = $1 AND epoch = $2 AND state = 'held'";
	int64_t now = wall_ms();
	char hb[40], ex[40];
	iso_ms(hb, now);
	iso_ms(ex, now + l->ttl_ms);
	ferry_value p[5] = {v_text(l->run_id), v_int(l->epoch), v_text(hb), v_text(ex),
	                    v_int(now + l->ttl_ms)};
	int64_t changed = 0;
	int rc = l->e->core->exec_params(c, sql, 5, p, &changed, err);
	*held = rc == 0 && changed == 1;
	return rc;
}

/* The error of a holder that lost its lease: who has it now. */
static int lost_error(ferry_lease *l, ferry_conn *c, ferry_err *err)
{
	lease_row r;
	ferry_err e2 = {0};
	char sid[24];
	short_id(sid, l->run_id);
	if (read_row(l->e, c, l->run_id, &r, &e2) == 0 && r.found && r.epoch != l->epoch)
		return ferry_err_set(err, FERRY_EHELD,
		                     "run %s was taken over by %s at %.8s UTC (epoch %lld; this process held epoch %lld, and was paused or cut off for longer than its lease): it stops and commits nothing more",
		                     sid, r.holder, time_of(r.since), (long long)r.epoch, (long long)l->epoch);
	return ferry_err_set(err, FERRY_EHELD,
	                     "run %s is no longer held by this process (epoch %lld): its lease was released or removed; it stops and commits nothing more",
	                     sid, (long long)l->epoch);
}

/* ---- the heartbeat ------------------------------------------------------------------- */

static void *heartbeat_main(void *arg)
{
	ferry_lease *l = arg;
	double every = (double)l->ttl_ms / 3000.0;
	pthread_mutex_lock(&l->mu);
	while (!l->stop && !l->lost) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		long long ns = (long long)(every * 1e9);
		ts.tv_sec += (time_t)(ns / 1000000000);
		ts.tv_nsec += (long)(ns % 1000000000);
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&l->cv, &l->mu, &ts);
		if (l->stop)
			break;
		pthread_mutex_unlock(&l->mu);
		ferry_err err = {0};
		int held = 0;
		int rc = renew(l, l->conn, &held, &err);
		ferry_err why = {0};
		if (rc == 0 && !held)
			lost_error(l, l->conn, &why);
		pthread_mutex_lock(&l->mu);
		if (rc == 0 && held) {
			l->renewed = ferry__now();
		} else if (rc == 0) {
			l->lost = 1;
			l->lost_err = why;
		} else if (ferry__now() - l->renewed > (double)l->ttl_ms / 1000.0) {
			/* Not renewed for a whole time to live: a standby may hold it by now. Stop
			 * before a commit finds out (the fence would refuse it anyway). */
			char sid[24];
			short_id(sid, l->run_id);
			l->lost = 1;
			ferry_err_set(&l->lost_err, FERRY_EHELD,
			              "could not renew the lease of run %s for %.1f s (%.300s): another process may have taken it over, so this one stops",
			              sid, ferry__now() - l->renewed, err.msg);
		}
	}
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

/* ---- take ---------------------------------------------------------------------------- */

/* The state tables, in a transaction of their own (two processes starting at once may race
 * on CREATE TABLE: tried again). */
static int init_tables(ferry_lease *l, ferry_err *err)
{
	int rc = 0;
	for (int attempt = 0; attempt < 5; attempt++) {
		rc = l->e->core->begin(l->conn, err);
		if (rc == 0)
			rc = ferry__state_init(l->e, l->conn, err);
		if (rc == 0 && (rc = l->e->core->commit(l->conn, err)) == 0)
			return 0;
		l->e->core->rollback(l->conn, &(ferry_err){0});
		if (rc == FERRY_ENOMEM || rc == FERRY_EUSAGE)
			return rc;
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return rc;
}

/* A standby keeps waiting through a failed take: the holder it waits for may hold the
 * whole database's write lock (a paused SQLite writer) for longer than a busy wait. Said
 * once; running out of memory, or an interrupt, ends the wait. */
static int standby_retry(ferry_lease *l, const ferry_lease_config *cfg, int rc, int *said,
                         ferry_err *err)
{
	if (rc == 0 || !cfg->standby || rc == FERRY_ENOMEM || rc == FERRY_EUSAGE)
		return rc;
	if (!*said) {
		char msg[900];
		snprintf(msg, sizeof(msg), "standby: could not take the lease yet (%.700s); trying again", err->msg);
		say(cfg, msg);
		*said = 1;
	}
	if (ferry__interrupted(cfg->ctx))
		return ferry_err_set(err, FERRY_EINTR, "interrupted while waiting to take over run %.12s", l->run_id);
	struct timespec ts = {0, 200 * 1000 * 1000};
	nanosleep(&ts, NULL);
	memset(err, 0, sizeof(*err));
	return 0;
}

static int refuse(ferry_lease *l, const lease_row *r, ferry_err *err)
{
	char sid[24];
	short_id(sid, l->run_id);
	int64_t left = r->expires_ms - wall_ms();
	if (left <= 0)
		return ferry_err_set(err, FERRY_EHELD,
		                     "run %s is held by %s since %.8s UTC (its process runs on this host; last renewed %lld s ago); --standby waits to take over, --join shares its work",
		                     sid, r->holder, time_of(r->since), (long long)((-left + r->ttl_ms) / 1000));
	return ferry_err_set(err, FERRY_EHELD,
	                     "run %s is held by %s since %.8s UTC (lease expires in %lld s); --standby waits to take over, --join shares its work",
	                     sid, r->holder, time_of(r->since), (long long)((left + 999) / 1000));
}

int ferry__lease_take(ferry_lease **out, const ferry_engine *e, const ferry_lease_config *cfg,
                      ferry_err *err)
{
	*out = NULL;
	if (e->state || !e->core->exec_params)
		return ferry_err_set(err, FERRY_EUSAGE, "cannot keep a run's lease in engine \"%s\"", e->name);
	ferry_lease *l = ferry__calloc(1, sizeof(*l));
	if (!l)
		return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	l->e = e;
	l->ttl_ms = cfg->ttl_ms > 0 ? cfg->ttl_ms : FERRY_LEASE_TTL_MS;
	snprintf(l->run_id, sizeof(l->run_id), "%s", cfg->run_id);
	char host[256];
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "unknown-host");
	host[sizeof(host) - 1] = '\0';
	snprintf(l->holder, sizeof(l->holder), "%s:%ld", host, (long)getpid());
	/* A one-writer database (SQLite) lives on one host, and a write from another connection
	 * of this process would spoil the pipeline's open read transactions there: only commits
	 * renew its lease, and its holder's liveness is its process. A server's lease is renewed
	 * by the heartbeat thread as well. */
	l->beating = !(e->flags & FERRY_ENGINE_ONE_WRITER);
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->cv, NULL);
	int rc = e->core->connect(&l->conn, cfg->url, 0, err);
	if (rc == 0)
		rc = init_tables(l, err);
	char sid[24];
	short_id(sid, l->run_id);
	/* A standby watches the holder: (epoch, beats) unchanged for the holder's time to live on
	 * this process's clock means it stopped renewing. */
	int64_t seen_epoch = -1, seen_beats = -1;
	double seen_at = ferry__now();
	int waiting = 0, took = 0, errors_said = 0;
	while (rc == 0 && !took) {
		lease_row r;
		rc = read_row(e, l->conn, l->run_id, &r, err);
		if (rc)
			break;
		if (!r.found) {
			rc = insert_row(l, cfg, &took, err);
			rc = standby_retry(l, cfg, rc, &errors_said, err);
			continue; /* someone else inserted first: read theirs */
		}
		int released = strcmp(r.state, "held") != 0;
		int proc = released ? PROC_ELSEWHERE : holder_state(r.holder);
		int gone = proc == PROC_GONE;
		if (r.epoch != seen_epoch || r.beats != seen_beats) {
			seen_epoch = r.epoch;
			seen_beats = r.beats;
			seen_at = ferry__now();
		}
		double quiet = ferry__now() - seen_at;
		int64_t ttl = r.ttl_ms > 0 ? r.ttl_ms : FERRY_LEASE_TTL_MS;
		/* A file's holder renews only when it commits (see beating): while its process
		 * runs, it holds the run, however long its index builds take. */
		int lapsed = released || gone ||
		             (!(proc == PROC_RUNNING && !l->beating) &&
		              (cfg->standby ? quiet * 1000.0 >= (double)ttl : r.expires_ms <= wall_ms()));
		if (lapsed) {
			rc = cas_row(l, cfg, &r, &took, err);
			rc = standby_retry(l, cfg, rc, &errors_said, err);
			if (rc == 0 && took && !released) {
				if (gone)
					snprintf(l->note, sizeof(l->note),
					         "took over run %s from %s (that process is gone); resuming from its checkpoints",
					         sid, r.holder);
				else
					snprintf(l->note, sizeof(l->note),
					         "took over run %s from %s (its lease lapsed: no heartbeat for %.1f s); resuming from its checkpoints",
					         sid, r.holder,
					         cfg->standby ? quiet : (double)(wall_ms() - r.expires_ms + ttl) / 1000.0);
			} else if (rc == 0 && took && waiting) {
				snprintf(l->note, sizeof(l->note),
				         "took over run %s from %s (it released the lease); resuming from its checkpoints",
				         sid, r.holder);
			}
			continue;
		}
		size_t kl = strlen(r.kind);
		if (cfg->join && kl > 5 && strcmp(r.kind + kl - 5, "+join") == 0) {
			*cfg->joined = 1; /* a live holder that shares its run: work beside it */
			break;
		}
		if (cfg->join) {
			rc = ferry_err_set(err, FERRY_EHELD,
			                   "run %s is held by %s since %.8s UTC, which does not share its work (it was not started with --join): start every process of a shared run with --join, or use --standby",
			                   sid, r.holder, time_of(r.since));
			break;
		}
		if (!cfg->standby) {
			rc = refuse(l, &r, err);
			break;
		}
		if (!waiting) {
			char msg[700];
			snprintf(msg, sizeof(msg),
			         "standby: run %s is held by %s since %.8s UTC; waiting to take over when its lease lapses (%.1f s without a heartbeat)",
			         sid, r.holder, time_of(r.since), (double)ttl / 1000.0);
			say(cfg, msg);
			waiting = 1;
		}
		if (ferry__interrupted(cfg->ctx)) {
			rc = ferry_err_set(err, FERRY_EINTR, "interrupted while waiting to take over run %s", sid);
			break;
		}
		int64_t poll = ttl / 4 < 500 ? ttl / 4 : 500;
		struct timespec ts = {(time_t)(poll / 1000), (long)(poll % 1000) * 1000000L};
		nanosleep(&ts, NULL);
	}
	if (rc == 0 && !took) { /* joined: no lease of its own */
		ferry__lease_release(l, 0, NULL);
		return 0;
	}
	if (rc == 0 && l->note[0])
		say(cfg, l->note);
	if (rc == 0 && l->beating) {
		l->renewed = ferry__now();
		if (pthread_create(&l->thr, NULL, heartbeat_main, l) != 0)
			rc = ferry_err_set(err, FERRY_ERROR, "could not start the lease's heartbeat thread");
		else
			l->started = 1;
	}
	if (rc) {
		ferry__lease_release(l, 1, NULL);
		return rc;
	}
	*out = l;
	return 0;
}

/* ---- use ----------------------------------------------------------------------------- */

int ferry__lease_fence(ferry_lease *l, ferry_conn *c, ferry_err *err)
{
	if (!l)
		return 0;
	int held = 0;
	int rc = renew(l, c, &held, err);
	if (rc)
		return rc;
	if (!held) {
		ferry_err why = {0};
		/* Read in the caller's transaction: the UPDATE succeeded (changing nothing), so it
		 * is not spoiled, and it sees who holds the lease now. */
		pthread_mutex_lock(&l->mu);
		int known = l->lost;
		if (known)
			why = l->lost_err;
		pthread_mutex_unlock(&l->mu);
		if (!known)
			lost_error(l, c, &why);
		pthread_mutex_lock(&l->mu);
		if (!l->lost) {
			l->lost = 1;
			l->lost_err = why;
		}
		pthread_mutex_unlock(&l->mu);
		return ferry__err_copy(err, &why);
	}
	pthread_mutex_lock(&l->mu);
	l->renewed = ferry__now();
	pthread_mutex_unlock(&l->mu);
	return 0;
}

int ferry__lease_check(ferry_lease *l, ferry_err *err)
{
	if (!l)
		return 0;
	pthread_mutex_lock(&l->mu);
	int rc = 0;
	if (l->lost)
		rc = ferry__err_copy(err, &l->lost_err);
	pthread_mutex_unlock(&l->mu);
	return rc;
}

int ferry__lease_visible(ferry_lease *l, ferry_conn *c, int *out, ferry_err *err)
{
	lease_row r;
	int rc = read_row(l->e, c, l->run_id, &r, err);
	*out = rc == 0 && r.found && r.epoch == l->epoch && strcmp(r.holder, l->holder) == 0;
	return rc;
}

const char *ferry__lease_note(const ferry_lease *l)
{
	return l && l->note[0] ? l->note : NULL;
}

int ferry__lease_release(ferry_lease *l, int forget, ferry_err *err)
{
	ferry_err scratch = {0};
	if (!err)
		err = &scratch;
	if (!l)
		return 0;
	int rc = 0;
	if (l->started) {
		pthread_mutex_lock(&l->mu);
		l->stop = 1;
		pthread_cond_broadcast(&l->cv);
		pthread_mutex_unlock(&l->mu);
		pthread_join(l->thr, NULL);
	}
	if (l->conn && l->epoch > 0) {
		static const char del[] = "DELETE FROM ferry_leases WHERE run_id = $1 AND epoch = $2";
		static const char rel[] =
			"UPDATE ferry_leases SET state = 'released', expires_ms = 0, expires = $3, "
			"beats = beats + 1 WHERE run_id = $1 AND epoch = $2 AND state = 'held'";
		char now[40];
		iso_ms(now, wall_ms());
		ferry_value p[3] = {v_text(l->run_id), v_int(l->epoch), v_text(now)};
		int gone = forget && l->fresh;
		rc = l->e->core->exec_params(l->conn, gone ? del : rel, gone ? 2 : 3, p, NULL, err);
		if (rc) {
			char keep[sizeof(err->msg)];
			memcpy(keep, err->msg, sizeof(keep));
			ferry_err_set(err, rc, "could not release the lease of run %.12s (it lapses by itself in %lld s): %.700s",
			              l->run_id, (long long)(l->ttl_ms / 1000), keep);
		}
	}
	if (l->conn)
		l->e->core->close(l->conn);
	pthread_mutex_destroy(&l->mu);
	pthread_cond_destroy(&l->cv);
	free(l);
	return rc;
}
