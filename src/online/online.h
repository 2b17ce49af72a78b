/* online.h — shared between the files of ferry sync (src/online/): the set of keys a batch
 * of changes touched, and the positions a stream has committed in the target. Nothing
 * outside src/online includes it. */
#ifndef FERRY_ONLINE_H
#define FERRY_ONLINE_H

#include "../pipeline/pipeline.h"
#include "../pipeline/state.h"

/* A set of keys, each kept once in the order first added: known by their canonical cells
 * (by the target key's types), carrying the values a change gave (rows of n values, copied). */
typedef struct ferry_keyset {
	uint8_t *bytes;            /* per key: its canonical cells, then its values encoded */
	size_t blen, bcap;
	size_t *off, *clen;        /* where key i starts, and its cells' length */
	size_t n, cap, ccap;
	uint32_t *slots;           /* open addressing: key index + 1, 0 when empty */
	size_t nslots;
} ferry_keyset;

/* Add a key; *added (may be NULL) is 1 when it was new. */
int ferry__keyset_add(ferry_keyset *s, const uint8_t *canon, size_t clen, const ferry_value *raw,
                      size_t nraw, int *added);
/* Add a key and keep in (*when)[its index] the newest of the times given for it (*when
 * grows with the set, *cap its capacity); FERRY_ENOMEM when out of memory. */
int ferry__keyset_add_newest(ferry_keyset *s, const uint8_t *canon, size_t clen, const ferry_value *raw,
                             size_t nraw, int64_t t, int64_t **when, size_t *cap);
/* The index of the key with these cells, or -1. */
long ferry__keyset_find(const ferry_keyset *s, const uint8_t *canon, size_t clen);
/* The values of key i into out (nvals values, text pointing into the set). */
int ferry__keyset_get(const ferry_keyset *s, size_t i, ferry_value *out, size_t nvals);
void ferry__keyset_reset(ferry_keyset *s);
void ferry__keyset_free(ferry_keyset *s);

/* ---- the state of one sync (sync.c resolves and runs it, apply.c applies changes) ---- */

#define MATCH_MAX 256          /* keys re-read by one statement */
#define CHANGES_MAX 4096       /* changes taken from a capture at once */
#define DEFER_ROUNDS 2000      /* at most, rounds a refused row waits for the changes that
                                  free it (each takes up to CHANGES_MAX more, or waits 50 ms) */

/* A target table the stream writes. */
typedef struct otarget {
	const char *name;
	int level;                 /* foreign-key level: parents are written first */
	size_t ntk;
	char **tk;                 /* its primary key columns */
	ferry_type *tktypes;
	size_t *jobs;              /* jobs feeding it, in plan order */
	size_t njobs, jcap;
	int rebuild;               /* some job merges: touched rows are deleted and rebuilt */
	int truncated;             /* a TRUNCATE of a feeding table is pending in this batch */
	const char *guard;         /* the way back: the forward plan's where over this (old)
	                              table; rows outside it are never deleted */
	ferry_keyset touched;      /* target keys a batch touched */
	ferry_keyset drained;      /* target keys the cut-over's drain touched, for its check */
	ferry_keyset again;        /* keys of rows refused for now, applied again next round */
	ferry_keyset outside;      /* the way back: touched keys whose old row is outside guard */
	uint8_t *found;            /* per touched key: a source row holds it */
	size_t found_cap;
	/* Both ways (both.c): */
	int both;                  /* ferry_both_rule of the table */
	int64_t *tus;              /* per touched key: the newest commit time of its changes */
	size_t tus_cap;
	uint8_t *tdel;             /* per touched key: only deletes touched it (maybe spurious) */
	size_t tdel_cap;
	int64_t *again_us;         /* per deferred key: its tus, kept for the next round */
	size_t again_cap;
	ferry_keyset theirs;       /* keys the other side changed and the other direction has
	                              not applied yet (its queue), with their commit times; built
	                              incrementally (both.c, their_keys): a key whose changes have
	                              all left the queue stays in it, not live, until a rebuild */
	int64_t *theirs_us;        /* per theirs key: the newest commit time of its live changes */
	size_t theirs_cap;
	uint8_t *theirs_del;       /* per theirs key: only deletes changed it (maybe spurious) */
	size_t theirs_del_cap;
	uint8_t *theirs_live;      /* per theirs key: a change of it is still in the queue */
	size_t theirs_live_cap;
	uint64_t *theirs_useq;     /* per theirs key: the seq of the latest change of time theirs_us */
	size_t theirs_useq_cap;
	uint64_t *theirs_last;     /* per theirs key: the seq of its latest change */
	size_t theirs_last_cap;
	uint64_t *theirs_nd;       /* per theirs key: 1 + the seq of its latest non-delete, 0 none */
	size_t theirs_nd_cap;
	size_t theirs_nlive;       /* keys live */
	uint64_t theirs_to;        /* the queue's seq the build reached (exclusive) */
	uint64_t theirs_epoch;     /* the queue's epoch it was built in */
	int theirs_built;          /* 0: build from scratch next time */
	ferry_keyset settled;      /* keys whose conflict this transaction recorded */
	ferry_keyset moved;        /* keys this transaction's key changes moved rows between */
	size_t *mvp;               /* per key change, its old and new key: indices into moved */
	size_t nmvp, mvp_cap;      /* (entries, two per key change) */
	size_t *tmvp;              /* the same for the peer's queue: indices into theirs */
	size_t ntmvp, tmvp_cap;
	size_t tmvp_from;          /* entries before it are of changes that left the queue */
	uint64_t *tmvp_seq;        /* per pair (entry / 2): the seq of its change */
	size_t tmvp_seq_cap;
	size_t *peer_perm;         /* the other direction's captured key column of key column k */
} otarget;

/* What the stream needs of a job. */
typedef struct ojob {
	job *j;
	size_t target;             /* index into otargets */
	size_t *src_of_tk;         /* target key column k is the job's source key column src_of_tk[k] */
	uint8_t *rules;            /* the upsert's conflict rules, or the job's own for a merge */
	ferry_writer *w;
	ferry_batch **held;        /* its re-read rows of the batch being applied */
	size_t nheld, held_cap, used;
	ferry_batch *retry;        /* rows the target refused, tried again after the others */
	ferry_batch *retry2;
} ojob;

/* One captured source table. */
typedef struct otable {
	const char *name;
	size_t *jobs;
	size_t njobs, jcap;
} otable;

/* One source's capture. */
typedef struct osource {
	const ferry_engine *eng;
	ferry_conn *admin;         /* read-write: capture setup, markers, teardown */
	ferry_conn *reread;        /* read-only: the apply's re-reads */
	ferry_capture *cap;
	ferry_capture_table *tables;
	otable *otables;
	size_t ntables, tcap;
	uint64_t pos;              /* committed in the target */
	int started;
	int beat_seen;             /* the heartbeat --until-caught-up waits for came through */
	int frozen;                /* the cut-over's freeze is open on admin */
	int drained;               /* everything committed before the freeze is applied */
	int freeze_seen;           /* the freeze's marker came through the stream */
	uint64_t freeze_pos;
	/* Both ways: changes read by the other direction's transactions (to see conflicts)
	 * and not yet applied by this one, deep copies delivered before the capture's own. */
	ferry_change *q;
	void **qmem;
	size_t nq, qcap, qmcap;
	uint64_t qhead;            /* the seq of q[0] (q[i]'s is qhead + i): a take advances it */
	uint64_t qepoch;           /* changes when entries are put back in front (seqs renumbered) */
	void **given;              /* copies delivered by the last next, freed by the next one */
	size_t ngiven, gcap;
} osource;

typedef struct sync_state {
	ferry_ctx *ctx;
	int back;                  /* the way back: new version -> old, after a cut-over */
	ferry_plan *inv;           /* the way back's plan (owned), derived from the forward one */
	ferry_sync_options o_back; /* the way back's options: the forward ones, its target's
	                              rows expected (the old version holds them all) */
	struct sync_state *way;    /* the cut-over's stream the other way, or NULL */
	const char *fwd_run;       /* the forward sync's run id: the switches are numbered in it */
	const ferry_plan *fwd_plan; /* the user's plan (--verify compares through it) */
	const ferry_plan *plan;    /* the user's plan, under the sync's run id */
	ferry_plan splan;
	const ferry_sync_options *o;
	const ferry_cutover_options *co; /* ferry cutover's, or NULL */
	char freeze_text[64];      /* the marker of the cut-over's freeze */
	char defer_text[48];       /* the marker a deferral waits for, "" when none */
	int defer_seen;            /* it came through: every change before it is collected */
	const ferry_engine_switch *sw; /* --switch's pooler, and its handle */
	void *swh;
	int checking;              /* the drain: keep the keys it touches for the check */
	int defer;                 /* refused rows are deferred (this round), not rejected */
	size_t deferred;
	const ferry_engine *teng;
	ferry_conn *tconn;
	ferry_schema *tschema;
	jobset js;
	ojob *ojobs;
	otarget *targets;
	size_t ntargets, tcap;
	osource *os;
	ferry_sync_status st;
	char posbuf[64];
	double started, last_status, last_beat, rate_t;
	int64_t rate_n;
	int64_t max_rejects;
	int installed;             /* capture was opened: the sources or the target may have changed */
	char beat_sent[32];        /* the heartbeat --until-caught-up waits for, "" when none */
	ferry_buf cells, sql;      /* scratch: a key's canonical cells, a statement */
	float lags[4096];          /* ring of the lags of applied batches, seconds */
	size_t nlags;
	ferry_value *match;        /* scratch: the keys of one re-read */
	size_t match_cap;
	struct ferry_lease *lease; /* the run's lease: every apply commit checks it (lease.h) */
	struct sync_state *peer;   /* --both-ways: the stream the other way (it captures this
	                              one's target), or NULL */
	int both;                  /* --both-ways ran on this plan: the new version takes writes */
	char sp_text[48];          /* the marker a both-ways sync point waits for */
	ferry_change *sp_ch;       /* its scratch: CHANGES_MAX changes read from the peer */
	int handed;                /* the last apply handed keys over to the peer (both.c): the
	                              peer is caught up only once it has read them */
	double hold_at;            /* both ways, the target's tables busy: no try before then */
	double hold_backoff;       /* the wait before that try, doubling while busy, seconds */
	double busy_since;         /* busy since then, in a row (0: not busy) */
	double busy_said;          /* the last time that was said */
	ferry_err err;
} sync_state;

#define OOM(err) ferry_err_set((err), FERRY_ENOMEM, "out of memory")

/* sync.c: the phases, for ferry_sync and ferry_cutover. init fills s (FERRY_EUSAGE on a bad
 * options version); start resolves (refusing what cannot work online before anything is
 * installed), opens capture and runs the snapshot copy (stops after resolving with
 * check_only or finish); stream applies changes until interrupted, or, with
 * until_caught_up, until a heartbeat sent at its start came through with the lag under
 * max_lag; close releases everything. */
int ferry__sync_init(sync_state *s, ferry_ctx *ctx, const ferry_plan *plan,
                     const ferry_sync_options *opts);
int ferry__sync_start(sync_state *s);
/* start in two parts: prepare connects, holds the target and resolves (nothing installed);
 * open installs or reopens capture and runs the snapshot (none on the way back). */
int ferry__sync_prepare(sync_state *s);
int ferry__sync_open(sync_state *s);
/* The run's lease, for the way back once it applies (the forward sync takes it in prepare). */
int ferry__sync_lease(sync_state *s);
/* Open (or reopen) the capture of every source, reading the positions the target keeps. */
int ferry__sync_open_captures(sync_state *s);
int ferry__sync_stream(sync_state *s, int until_caught_up);
void ferry__sync_close(sync_state *s);
/* Report a phase change or note through the status callback. */
void ferry__sync_note(sync_state *s, const char *msg);

/* apply.c: apply n changes of source src in one target transaction (committing the position
 * of the last complete source transaction among them). ch (CHANGES_MAX entries) may be
 * refilled from the capture when rows wait for later changes. */
int ferry__sync_apply(sync_state *s, size_t src, ferry_change *ch, size_t n);
/* check.c: compare, source against target, the rows the cut-over's drain touched (tables fed
 * by one job; a merge is compared by the verify after the switch); a difference is an
 * error naming the table and key. *rows counts the rows compared. */
int ferry__sync_check(sync_state *s, int64_t *rows);
/* inverse.c: the way back's plan from forward sync f (prepared): one source (f's target)
 * into f's source, or FERRY_EUSAGE naming what does not invert. */
int ferry__inverse_plan(ferry_plan **out, sync_state *f, ferry_err *err);
/* After the way back b is prepared: refuse an expr whose inputs do not come back. */
int ferry__inverse_check(sync_state *f, sync_state *b, ferry_err *err);
/* Prepare and open the way back b of forward sync f (prepared): its plan, resolution, the
 * capture of the new version. Errors go to f->err. */
int ferry__back_open(sync_state *b, sync_state *f);

/* cutover.c: the switches of a plan. n_old and n_new: the number of the last switch each
 * version recorded (odd: cut over, even: rolled back or never switched). */
int ferry__switch_epochs(sync_state *f, int *n_old, int *n_new);
/* The half of a switch a kill interrupted, completed (nothing when n_old == n_new). */
int ferry__switch_complete(sync_state *f, int n_old, int n_new);
/* The way back's run id, from the forward sync f. */
void ferry__back_run_id(char out[33], const sync_state *f);

/* apply.c: the canonical cells of a target key, by the target key's column types. */
int ferry__key_cells(ferry_buf *b, const otarget *t, const ferry_value *tkey);
/* Whether table (of engine e, read on c) holds a row whose key columns keys[0..nkeys) equal
 * key. 0 or an error in s->err; *held 1 when it does. */
int ferry__holds_key(sync_state *s, const ferry_engine *e, ferry_conn *c, const char *table,
                     char *const *keys, size_t nkeys, const ferry_value *key, int *held);
/* both.c: --both-ways. next takes from the source's queue first, then its capture. */
int ferry__sync_next(sync_state *s, size_t src, ferry_change *out, size_t max, size_t *n,
                     int timeout_ms);
void ferry__both_free(sync_state *s);
/* In s's open target transaction: hold off the other writers of every target table s may
 * write (so later rounds of the transaction need no other lock), mark the writes as ferry's
 * own, and read every change committed on the target so far into the peer's queue.
 * FERRY_EBUSY when an application holds a table: the caller rolls back, then both_busy. */
int ferry__both_begin(sync_state *s);
/* Before s's transaction begins: the peer's capture read up to now into its queue, nothing
 * locked, so that begin's sync point, under the locks, reads only what came since. */
int ferry__both_drain(sync_state *s);
/* After a transaction rolled back on FERRY_EBUSY: changes ch[0..n) of source src go back to
 * the front of its queue, the direction waits (backing off, the other one goes on) and says
 * who holds the tables after 10 s, then every 30 s. */
int ferry__both_busy(sync_state *s, size_t src, const ferry_change *ch, size_t n);
/* A key change of table ot collected in this transaction: its old and new key (the source
 * key, in the captured table's key order) are one unit when conflicts are settled. */
int ferry__both_moved(sync_state *s, const otable *ot, const ferry_value *old_key,
                      const ferry_value *new_key);
/* The touched keys the peer's queue changed too: conflicts, settled by the table's rule per
 * unit (keys joined by key changes on either side: all win or all lose; a lost key leaves
 * the touched set, a won unit takes the peer's keys in) and recorded in ferry_conflicts. */
int ferry__both_settle(sync_state *s);
int ferry__both_end(sync_state *s);
/* Link f and b (both prepared and open): rules, the conflict tables, notes. */
int ferry__both_link(sync_state *f, sync_state *b);
/* Refuse (FERRY_EUSAGE, naming the entry) a table without a both_ways: or owner: rule. */
int ferry__both_check(sync_state *f);

/* Wall-clock microseconds since the epoch. */
int64_t ferry__wall_us(void);

#endif
