/* lease.h — one holder per run: a lease row in the target (ferry_leases) with the holder
 * (host:pid), a fencing epoch, a heartbeat and an expiry. The holder renews it from a thread
 * of its own; every commit of rows or positions checks the epoch in its own transaction, so
 * a holder that was paused or cut off commits nothing once another process took over. */
#ifndef FERRY_LEASE_H
#define FERRY_LEASE_H

#include "../ferry_int.h"

#define FERRY_LEASE_TTL_MS 10000   /* default time to live; renewed every third of it */

typedef struct ferry_lease ferry_lease;

typedef struct ferry_lease_config {
	const char *url;          /* the target: the lease's own connection opens it */
	const char *run_id;
	const char *kind;         /* "copy", "import", "sync": for ferry runs */
	const char *plan;         /* the plan's path or a description; may be NULL */
	int64_t ttl_ms;           /* 0: FERRY_LEASE_TTL_MS */
	int standby;              /* wait for a live holder to go, then take over */
	ferry_ctx *ctx;           /* its interrupt ends a standby's wait */
	int join;                 /* --join: a live holder that shares its run (kind "...+join")
	                             is joined, not refused: *joined = 1 and no lease is taken */
	int *joined;
	/* Told what the lease does (waiting, taken over), one line each; may be NULL. */
	void (*note)(void *ud, const char *msg);
	void *note_ud;
} ferry_lease_config;

/* Take run cfg->run_id's lease in the target through a connection of its own (kept for the
 * heartbeat), and start renewing it. A lease whose holder is alive is FERRY_EHELD at once
 * with who holds it and until when, unless cfg->standby, which waits and takes over once
 * the holder released it, died (a pid gone on this host) or stopped renewing it for its time
 * to live. *out is NULL on failure; the caller releases it with ferry__lease_release. */
int ferry__lease_take(ferry_lease **out, const ferry_engine *e, const ferry_lease_config *cfg,
                      ferry_err *err);

/* Inside the caller's open transaction on c (a connection to the same target): confirm that
 * this process still holds the lease, renewing it; FERRY_EHELD when another took it over,
 * and the caller rolls back. NULL l: nothing to check. */
int ferry__lease_fence(ferry_lease *l, ferry_conn *c, ferry_err *err);

/* 0 while the lease is held; FERRY_EHELD with err set once the heartbeat found it taken
 * over, or could not renew it within its time to live (then it is as good as lost). */
int ferry__lease_check(ferry_lease *l, ferry_err *err);

/* *out = 1 when c (another connection to the target) sees this lease: 0 for a target whose
 * connections do not share one database (an in-memory SQLite), where there is no other
 * process to keep out. */
int ferry__lease_visible(ferry_lease *l, ferry_conn *c, int *out, ferry_err *err);

/* 1 when holder ("host:pid") is a process of this host that is gone (its lease lapses at
 * once); 0 when it runs, or runs elsewhere. */
int ferry__lease_holder_gone(const char *holder);

/* A line saying how the lease was taken (taken over from whom), or NULL for a plain take. */
const char *ferry__lease_note(const ferry_lease *l);

/* Stop the heartbeat and give the lease up (so a standby or a rerun takes it at once);
 * forget: the run changed nothing, so a lease row this process created is removed. NULL l:
 * nothing. Frees l, whatever it returns; err (may be NULL) gets a failed release, after
 * which the lease lapses by itself. */
int ferry__lease_release(ferry_lease *l, int forget, ferry_err *err);

#endif
