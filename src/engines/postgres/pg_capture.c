/* pg_capture.c — change capture for ferry sync on PostgreSQL: a publication and a logical
 * replication slot (pgoutput) created over the replication protocol, so that the slot
 * exports the snapshot the bulk copy reads and streams every change committed after it;
 * the stream is decoded here into the keys of the changed rows (docs/ONLINE.md). */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "pg_int.h"

/* Microseconds from the Unix epoch to PostgreSQL's (2000-01-01). */
#define PG_EPOCH_US INT64_C(946684800000000)
/* Standby status updates go out at least this often (wal_sender_timeout is 60 s). */
#define FEEDBACK_EVERY 10.0
/* How long start and teardown wait for a walsender that is going away to free the slot. */
#define RELEASE_WAIT 10.0
/* Both ways: how long origin tries for the table locks before the caller comes back later. */
#define ORIGIN_WAIT 1.0
/* Both ways: a keepalive while the caller serves changes the capture gave it earlier. */
#define KEEPALIVE_EVERY 1.0

/* A published column of a captured table, as setup found it. */
typedef struct cap_col {
	char *name;
	Oid typid;        /* atttypid: what Relation messages name */
	Oid base;         /* its base type (domains resolved), for the text conversion */
	char typtype;
	int key;          /* index in the table's keys, -1 when not a key column */
} cap_col;

typedef struct cap_table {
	char *name;
	Oid relid;
	char ident;       /* relreplident at setup */
	size_t ncols;
	cap_col *cols;
	size_t nkeys;
	int mapped;       /* a Relation message of this session matched the setup */
} cap_table;

struct ferry_capture {
	pg_conn *c;               /* the ordinary connection (not owned) */
	pg_conn r;                /* the replication connection: db and label owned here */
	char slot[64], pub[64], app[80];
	char *prefix;             /* "ferry:<run id>": the marker messages of this run */
	cap_table *t;
	size_t nt;
	char *snapshot;           /* exported by a slot created here; NULL on a reopen */
	int created;              /* this setup created the slot */
	uint64_t consistent;      /* the new slot's consistent point */
	int streaming;
	int broken;               /* a stream error was reported: every later next repeats it */
	ferry_err fail;
	/* Decoding: the current transaction. */
	int in_txn;
	int own_txn;              /* the transaction began with ferry's origin message: skipped */
	uint64_t txn_pos;
	int64_t txn_us;
	/* The xids of the transactions delivered since the last settle: the apply re-reads
	 * their rows, which must be visible first (see settle). */
	uint32_t *xids;
	size_t nx, xcap;
	/* Decoded changes not yet delivered; the last is held back while its transaction is
	 * open (open_last), because only the commit says it is the transaction's last. */
	ferry_change *q;
	size_t qn, qcap;
	int open_last;
	/* Keys and texts live in a[ai]; the other arena holds what the previous next
	 * delivered, so it stays valid until this call, as the contract says. */
	ferry_arena *a[2];
	int ai;
	uint64_t delivered;       /* highest position delivered */
	uint64_t acked;           /* highest position acknowledged */
	uint64_t sent;            /* acked as last reported to the server */
	double last_feedback;
};

/* ---- names and small helpers ------------------------------------------------------- */

static void fmt_lsn(char *out, size_t cap, uint64_t lsn)
{
	snprintf(out, cap, "%X/%X", (unsigned)(lsn >> 32), (unsigned)lsn);
}

static int parse_lsn(const char *s, uint64_t *out)
{
	unsigned hi, lo;
	int n = 0;
	if (!s || sscanf(s, "%X/%X%n", &hi, &lo, &n) != 2 || s[n] != '\0')
		return -1;
	*out = ((uint64_t)hi << 32) | lo;
	return 0;
}

/* The names of run_id's slot and publication in the database c is connected to. The
 * publication lives in one database, so the run id's first 16 hex digits name it; a slot
 * is cluster-wide and two sources of one run may share a server, so the slot adds 8 hex
 * digits of the database's name. A run id that is not hex is hashed first. */
static void names(pg_conn *c, const char *run_id, char *slot, char *pub, size_t cap)
{
	char run16[17], h[33];
	size_t n = 0;
	for (; n < 16 && run_id[n]; n++) {
		char ch = run_id[n];
		if (ch >= 'A' && ch <= 'F')
			ch = (char)(ch - 'A' + 'a');
		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
			break;
		run16[n] = ch;
	}
	if (n < 16) {
		ferry__hash128_hex(h, run_id, strlen(run_id));
		memcpy(run16, h, 16);
	}
	run16[16] = '\0';
	const char *db = PQdb(c->db);
	ferry__hash128_hex(h, db ? db : "", db ? strlen(db) : 0);
	snprintf(pub, cap, "ferry_%s", run16);
	snprintf(slot, cap, "ferry_%s_%.8s", run16, h);
}

static void cap_free(ferry_capture *cap)
{
	if (!cap)
		return;
	if (cap->r.db)
		PQfinish(cap->r.db);
	free(cap->r.label);
	free(cap->prefix);
	free(cap->snapshot);
	for (size_t i = 0; i < cap->nt; i++) {
		for (size_t k = 0; k < cap->t[i].ncols; k++)
			free(cap->t[i].cols[k].name);
		free(cap->t[i].cols);
		free(cap->t[i].name);
	}
	free(cap->t);
	free(cap->q);
	free(cap->xids);
	for (int i = 0; i < 2; i++)
		if (cap->a[i])
			ferry_arena_free(cap->a[i]);
	free(cap);
}

/* The message every refused resume gives: what is lost and what to do. */
static int lost(ferry_capture *cap, uint64_t from, const char *why, ferry_err *err)
{
	char at[32];
	fmt_lsn(at, sizeof(at), from);
	return ferry_err_set(err, FERRY_ERROR,
	                     "cannot resume the capture of %s from position %s: %s, so the changes "
	                     "committed since then are lost (run ferry sync --finish, then sync again "
	                     "from the start)", cap->c->label, at, why);
}

/* ---- setup: the tables ------------------------------------------------------------- */

static const char table_sql[] =
	"SELECT c.oid, c.relreplident FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
	"WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')";

/* Published columns, as pgoutput sends them: not dropped, not generated, attnum order. */
static const char cols_sql[] =
	"SELECT a.attname, a.atttypid, CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END, "
	"CASE WHEN t.typtype = 'd' THEN bt.typtype ELSE t.typtype END "
	"FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
	"LEFT JOIN pg_type bt ON bt.oid = t.typbasetype "
	"WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' "
	"ORDER BY a.attnum";

/* The columns of the replica identity: the primary key (DEFAULT) or the chosen index. */
static const char ident_sql[] =
	"SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
	"AND a.attnum = ANY (i.indkey) WHERE i.indrelid = $1 "
	"AND CASE WHEN $2 = 'd' THEN i.indisprimary ELSE i.indisreplident END";

/* Read table ct's definition into t and refuse it when its changes cannot name their keys. */
static int load_table(ferry_capture *cap, const ferry_capture_table *ct, cap_table *t,
                      ferry_err *err)
{
	pg_conn *c = cap->c;
	char what[400], quoted[300];
	ferry_pg__quote_ident(quoted, sizeof(quoted), ct->table);
	snprintf(what, sizeof(what), "read the definition of table %s", quoted);
	if (!(t->name = ferry__strdup(ct->table)))
		return OOM(err);
	const char *p1[2] = {c->schema, ct->table};
	PGresult *res;
	int rc = ferry_pg__query(c, &res, table_sql, 2, p1, err, what);
	if (rc)
		return rc;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return ferry_err_set(err, FERRY_ENOTFOUND, "cannot capture table %s: it does not exist in schema \"%s\" of %s",
		                     quoted, c->schema, c->label);
	}
	t->relid = (Oid)strtoul(PQgetvalue(res, 0, 0), NULL, 10);
	t->ident = PQgetvalue(res, 0, 1)[0];
	PQclear(res);
	t->nkeys = ct->nkeys;

	char oid[16];
	snprintf(oid, sizeof(oid), "%u", (unsigned)t->relid);
	const char *p2[1] = {oid};
	if ((rc = ferry_pg__query(c, &res, cols_sql, 1, p2, err, what)) != 0)
		return rc;
	size_t n = (size_t)PQntuples(res);
	t->cols = ferry__calloc(n ? n : 1, sizeof(*t->cols));
	if (!t->cols) {
		PQclear(res);
		return OOM(err);
	}
	for (size_t i = 0; i < n; i++) {
		cap_col *col = &t->cols[t->ncols];
		if (!(col->name = ferry__strdup(PQgetvalue(res, (int)i, 0)))) {
			PQclear(res);
			return OOM(err);
		}
		t->ncols++;
		col->typid = (Oid)strtoul(PQgetvalue(res, (int)i, 1), NULL, 10);
		col->base = (Oid)strtoul(PQgetvalue(res, (int)i, 2), NULL, 10);
		col->typtype = PQgetvalue(res, (int)i, 3)[0];
		col->key = -1;
	}
	PQclear(res);

	/* Why a table is refused, and the fix, in PostgreSQL's words. */
	if (t->ident == 'n')
		return ferry_err_set(err, FERRY_EUSAGE,
		                     "cannot capture table %s: its replica identity is NOTHING, so its updates and "
		                     "deletes do not say which row they changed (ALTER TABLE %s REPLICA IDENTITY FULL, "
		                     "or add a primary key and set REPLICA IDENTITY DEFAULT)", quoted, quoted);
	char ident[2] = {t->ident, 0};
	const char *p3[2] = {oid, ident};
	size_t nident = 0;
	char **idcols = NULL;
	if (t->ident != 'f') {
		if ((rc = ferry_pg__query(c, &res, ident_sql, 2, p3, err, what)) != 0)
			return rc;
		nident = (size_t)PQntuples(res);
		if (nident == 0) {
			PQclear(res);
			if (t->ident == 'd')
				return ferry_err_set(err, FERRY_EUSAGE,
				                     "cannot capture table %s: it has no primary key and its replica identity is "
				                     "DEFAULT, so its updates and deletes do not say which row they changed (add a "
				                     "primary key, or ALTER TABLE %s REPLICA IDENTITY FULL)", quoted, quoted);
			return ferry_err_set(err, FERRY_EUSAGE,
			                     "cannot capture table %s: the index of its replica identity is gone (ALTER TABLE "
			                     "%s REPLICA IDENTITY FULL, or USING INDEX a unique index)", quoted, quoted);
		}
		idcols = ferry__calloc(nident, sizeof(char *));
		for (size_t i = 0; idcols && i < nident; i++)
			idcols[i] = PQgetvalue(res, (int)i, 0);
		if (!idcols) {
			PQclear(res);
			return OOM(err);
		}
	}
	/* A delete carries only the identity's columns: every key column must be one of them. */
	for (size_t k = 0; k < ct->nkeys && rc == 0; k++) {
		size_t i = 0;
		while (i < t->ncols && strcmp(t->cols[i].name, ct->keys[k]) != 0)
			i++;
		if (i == t->ncols) {
			char qk[300];
			ferry_pg__quote_ident(qk, sizeof(qk), ct->keys[k]);
			rc = ferry_err_set(err, FERRY_EUSAGE, "cannot capture table %s: it has no column %s",
			                   quoted, qk);
			break;
		}
		if (t->cols[i].key >= 0)
			rc = ferry_err_set(err, FERRY_EUSAGE, "cannot capture table %s: key column \"%s\" is named twice",
			                   quoted, ct->keys[k]);
		t->cols[i].key = (int)k;
		int in = t->ident == 'f';
		for (size_t j = 0; j < nident && !in; j++)
			in = strcmp(idcols[j], ct->keys[k]) == 0;
		if (!in && rc == 0) {
			char qk[300];
			ferry_pg__quote_ident(qk, sizeof(qk), ct->keys[k]);
			rc = ferry_err_set(err, FERRY_EUSAGE,
			                   "cannot capture table %s: key column %s is not part of its replica identity, so "
			                   "its deletes would not name it (ALTER TABLE %s REPLICA IDENTITY FULL)",
			                   quoted, qk, quoted);
		}
	}
	if (ct->nkeys == 0 && rc == 0)
		rc = ferry_err_set(err, FERRY_EUSAGE, "cannot capture table %s: no key columns were given", quoted);
	free(idcols);
	if (t->ident != 'f')
		PQclear(res);
	return rc;
}

/* ---- setup: the replication connection, publication and slot ------------------------ */

/* Open the replication connection with url's own settings and the session settings every
 * ferry session has, so the stream's text values read as the copy's do. */
static int repl_open(ferry_capture *cap, const char *url, ferry_err *err)
{
	const char *const kw[] = {"dbname", "replication", "application_name", "client_encoding", NULL};
	const char *const val[] = {url, "database", cap->app, "UTF8", NULL};
	cap->r.label = ferry__strdup(cap->c->label);
	if (!cap->r.label)
		return OOM(err);
	cap->r.db = PQconnectdbParams(kw, val, 1);
	if (!cap->r.db)
		return OOM(err);
	if (PQstatus(cap->r.db) != CONNECTION_OK) {
		char msg[600];
		ferry_pg__message(&cap->r, NULL, msg, sizeof(msg));
		/* A password in the URL never reaches this message: libpq's text after connecting
		 * names the server's refusal (no REPLICATION privilege, pg_hba.conf). */
		const char *why = msg;
		for (const char *p = strstr(msg, "failed: "); p; p = strstr(p + 1, "failed: "))
			why = p + 8;
		return ferry_err_set(err, FERRY_ERROR,
		                     "could not open a replication connection to %s: %s (change capture needs the "
		                     "REPLICATION privilege and a pg_hba.conf entry that allows it)", cap->c->label, why);
	}
	return ferry_pg__exec(&cap->r,
	                      "SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; "
	                      "SET extra_float_digits = 3; SET TimeZone = 'UTC'; SET bytea_output = 'hex'",
	                      err, "set up the replication session");
}

/* Does the publication cover exactly the tables asked for? Fills err when not. */
static int check_publication(ferry_capture *cap, ferry_err *err)
{
	const char *p[1] = {cap->pub};
	PGresult *res;
	int rc = ferry_pg__query(cap->c, &res,
	                         "SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = $1 "
	                         "ORDER BY 1, 2", 1, p, err, "read the publication");
	if (rc)
		return rc;
	int n = PQntuples(res), same = (size_t)n == cap->nt;
	for (int i = 0; i < n && same; i++) {
		int found = strcmp(PQgetvalue(res, i, 0), cap->c->schema) == 0;
		if (found) {
			found = 0;
			for (size_t k = 0; k < cap->nt && !found; k++)
				found = strcmp(cap->t[k].name, PQgetvalue(res, i, 1)) == 0;
		}
		same = found;
	}
	if (!same) {
		ferry_buf b = FERRY_BUF_INIT;
		for (int i = 0; i < n; i++)
			ferry_buf_printf(&b, "%s%s.%s", i ? ", " : "", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
		rc = ferry_err_set(err, FERRY_EUSAGE,
		                   "cannot resume the capture of %s: publication \"%s\" of this run covers other tables "
		                   "(%s) than the sync asks for (finish the earlier sync with ferry sync --finish first)",
		                   cap->c->label, cap->pub, b.data ? b.data : "none");
		ferry_buf_free(&b);
	}
	PQclear(res);
	return rc;
}

static int create_publication(ferry_capture *cap, ferry_err *err)
{
	ferry_buf b = FERRY_BUF_INIT;
	ferry_buf_puts(&b, "CREATE PUBLICATION ");
	ferry_pg__buf_ident(&b, cap->pub);
	ferry_buf_puts(&b, " FOR TABLE ");
	for (size_t i = 0; i < cap->nt; i++) {
		if (i)
			ferry_buf_puts(&b, ", ");
		ferry_pg__buf_table(&b, cap->c, cap->t[i].name);
	}
	/* A partitioned table's changes come under its own name, not its partitions'. */
	if (PQserverVersion(cap->r.db) >= 130000)
		ferry_buf_puts(&b, " WITH (publish_via_partition_root = true)");
	if (b.failed)
		return OOM(err);
	/* Through the replication connection: the ordinary one may be read-only. */
	int rc = ferry_pg__exec(&cap->r, b.data, err, "create the publication of the capture");
	ferry_buf_free(&b);
	return rc;
}

/* Create the slot; it exports the snapshot of its consistent point. */
static int create_slot(ferry_capture *cap, ferry_err *err)
{
	char sql[200];
	if (PQserverVersion(cap->r.db) >= 150000)
		snprintf(sql, sizeof(sql), "CREATE_REPLICATION_SLOT \"%s\" LOGICAL pgoutput (SNAPSHOT 'export')",
		         cap->slot);
	else
		snprintf(sql, sizeof(sql), "CREATE_REPLICATION_SLOT \"%s\" LOGICAL pgoutput EXPORT_SNAPSHOT",
		         cap->slot);
	PGresult *res = PQexec(cap->r.db, sql);
	int rc = 0;
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 || PQnfields(res) < 3)
		rc = ferry_pg__fail(&cap->r, res, err, "create replication slot \"%s\"", cap->slot);
	else if (parse_lsn(PQgetvalue(res, 0, 1), &cap->consistent) != 0 || cap->consistent < 2)
		rc = ferry_err_set(err, FERRY_ERROR, "could not create replication slot \"%s\" in %s: the server sent consistent point \"%s\"",
		                   cap->slot, cap->c->label, PQgetvalue(res, 0, 1));
	else if (!(cap->snapshot = ferry__strdup(PQgetvalue(res, 0, 2))))
		rc = OOM(err);
	cap->created = rc == 0;
	PQclear(res);
	return rc;
}

static int pg_cap_setup(ferry_capture **out, ferry_conn *conn, const char *url,
                        const char *run_id, const ferry_capture_table *tables, size_t ntables,
                        ferry_err *err)
{
	*out = NULL;
	pg_conn *c = PGC(conn);
	if (ntables == 0)
		return ferry_err_set(err, FERRY_EUSAGE, "cannot capture changes of %s: no tables were given", c->label);
	ferry_capture *cap = ferry__calloc(1, sizeof(*cap));
	if (!cap)
		return OOM(err);
	cap->c = c;
	names(c, run_id, cap->slot, cap->pub, sizeof(cap->slot));
	snprintf(cap->app, sizeof(cap->app), "ferry capture %s", cap->slot);
	cap->prefix = ferry__sprintf("ferry:%s", run_id);
	cap->t = ferry__calloc(ntables, sizeof(*cap->t));
	cap->a[0] = ferry_arena_new(64 * 1024);
	cap->a[1] = ferry_arena_new(64 * 1024);
	int rc = 0;
	if (!cap->prefix || !cap->t || !cap->a[0] || !cap->a[1])
		rc = OOM(err);
	if (rc == 0 && PQserverVersion(c->db) < 100000)
		rc = ferry_err_set(err, FERRY_EUSAGE, "cannot capture changes of %s: logical replication needs PostgreSQL 10 or later",
		                   c->label);
	if (rc == 0) {
		PGresult *res;
		rc = ferry_pg__query(c, &res, "SELECT current_setting('wal_level')", 0, NULL, err,
		                     "read wal_level");
		if (rc == 0 && strcmp(PQgetvalue(res, 0, 0), "logical") != 0)
			rc = ferry_err_set(err, FERRY_EUSAGE,
			                   "cannot capture changes of %s: its wal_level is %s, and change capture needs "
			                   "logical (set wal_level = logical in postgresql.conf and restart the server)",
			                   c->label, PQgetvalue(res, 0, 0));
		if (res)
			PQclear(res);
	}
	for (size_t i = 0; i < ntables && rc == 0; i++) {
		cap->nt = i + 1;
		for (size_t k = 0; k < i && rc == 0; k++)
			if (strcmp(cap->t[k].name, tables[i].table) == 0)
				rc = ferry_err_set(err, FERRY_EUSAGE, "cannot capture table \"%s\" twice", tables[i].table);
		if (rc == 0)
			rc = load_table(cap, &tables[i], &cap->t[i], err);
	}
	if (rc) {
		cap_free(cap);
		return rc;
	}

	/* What an earlier process of this run left: the slot, the publication, or both. */
	PGresult *res;
	const char *p[2] = {cap->slot, cap->pub};
	rc = ferry_pg__query(c, &res,
	                     "SELECT s.plugin, s.database = current_database(), s.confirmed_flush_lsn, "
	                     "(SELECT count(*) FROM pg_publication WHERE pubname = $2) "
	                     "FROM (SELECT 1) AS one LEFT JOIN pg_replication_slots s ON s.slot_name = $1",
	                     2, p, err, "read the replication slots");
	if (rc) {
		cap_free(cap);
		return rc;
	}
	int has_slot = !PQgetisnull(res, 0, 0);
	int ours = has_slot && strcmp(PQgetvalue(res, 0, 0), "pgoutput") == 0 &&
	           PQgetvalue(res, 0, 1)[0] == 't';
	int has_pub = strcmp(PQgetvalue(res, 0, 3), "0") != 0;
	PQclear(res);
	if (has_slot && !ours)
		rc = ferry_err_set(err, FERRY_EUSAGE, "cannot capture changes of %s: replication slot \"%s\" exists but is not a "
		                   "pgoutput slot of this database", c->label, cap->slot);
	else if (has_slot && !has_pub)
		rc = ferry_err_set(err, FERRY_ERROR,
		                   "cannot resume the capture of %s: publication \"%s\" of this run was dropped while its "
		                   "replication slot \"%s\" remained, so the changes cannot be decoded (run ferry sync "
		                   "--finish, then sync again from the start)", c->label, cap->pub, cap->slot);
	if (rc == 0 && has_pub)
		rc = check_publication(cap, err);
	if (rc == 0)
		rc = repl_open(cap, url, err);
	if (rc == 0 && !has_pub)
		rc = create_publication(cap, err);
	/* The publication is committed before the slot exists, so the slot's decoding sees it
	 * from its very first change; the replication connection then stays idle until start,
	 * which keeps the exported snapshot alive. */
	if (rc == 0 && !has_slot && (rc = create_slot(cap, err)) != 0 && !has_pub) {
		/* A run refused here leaves nothing behind: the publication goes too. */
		ferry_buf b = FERRY_BUF_INIT;
		ferry_buf_puts(&b, "DROP PUBLICATION IF EXISTS ");
		ferry_pg__buf_ident(&b, cap->pub);
		ferry_err ignored;
		if (!b.failed && PQstatus(cap->r.db) == CONNECTION_OK)
			ferry_pg__exec(&cap->r, b.data, &ignored, "drop the publication of the capture");
		ferry_buf_free(&b);
	}
	if (rc) {
		cap_free(cap);
		return rc;
	}
	*out = cap;
	return 0;
}

/* A slot made by this setup: changes committed at or after its consistent point are
 * streamed, so the snapshot agrees with the position just before it (start streams what
 * comes after its from). */
static const char *pg_cap_snapshot(ferry_capture *cap, uint64_t *pos)
{
	*pos = cap->snapshot ? cap->consistent - 1 : 0;
	return cap->snapshot;
}

/* ---- start ------------------------------------------------------------------------- */

static int pg_cap_start(ferry_capture *cap, uint64_t from, ferry_err *err)
{
	if (cap->streaming)
		return ferry_err_set(err, FERRY_EUSAGE, "the capture of %s is already streaming", cap->c->label);
	char sql[600];
	double until = ferry__now() + RELEASE_WAIT;
	for (;;) {
		snprintf(sql, sizeof(sql),
		         "SELECT confirmed_flush_lsn, %s, active_pid FROM pg_replication_slots WHERE slot_name = '%s'",
		         PQserverVersion(cap->r.db) >= 130000 ? "wal_status" : "NULL", cap->slot);
		PGresult *res = PQexec(cap->r.db, sql);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			int rc = ferry_pg__fail(&cap->r, res, err, "read replication slot \"%s\"", cap->slot);
			PQclear(res);
			return rc;
		}
		if (PQntuples(res) != 1) {
			PQclear(res);
			char why[200];
			snprintf(why, sizeof(why), "its replication slot \"%s\" no longer exists", cap->slot);
			return lost(cap, from, why, err);
		}
		uint64_t confirmed = 0;
		parse_lsn(PQgetvalue(res, 0, 0), &confirmed);
		int gone = !PQgetisnull(res, 0, 1) && strcmp(PQgetvalue(res, 0, 1), "lost") == 0;
		long pid = PQgetisnull(res, 0, 2) ? 0 : strtol(PQgetvalue(res, 0, 2), NULL, 10);
		PQclear(res);
		if (gone) {
			char why[200];
			snprintf(why, sizeof(why), "the server removed the WAL its replication slot \"%s\" still needed "
			         "(max_slot_wal_keep_size)", cap->slot);
			return lost(cap, from, why, err);
		}
		/* Positions are commit LSNs and the slot confirms pos + 1 (ack), so a slot past
		 * from + 1 has let go of changes the caller has not applied. */
		if (from && from + 1 < confirmed) {
			char why[300], at[32];
			fmt_lsn(at, sizeof(at), confirmed - 1);
			if (cap->created)
				snprintf(why, sizeof(why), "its replication slot \"%s\" was gone (dropped?) and had to be "
				         "created again at %s", cap->slot, at);
			else
				snprintf(why, sizeof(why), "its replication slot \"%s\" starts at %s, past that position",
				         cap->slot, at);
			return lost(cap, from, why, err);
		}
		if (!pid)
			break;
		/* A process of this run that just closed the stream may still hold the slot for
		 * a moment; another live holder is refused after the wait. */
		if (ferry__now() > until)
			return ferry_err_set(err, FERRY_ERROR,
			                     "could not start the capture of %s: replication slot \"%s\" is in use by process %ld "
			                     "(is another ferry sync of this run still running?)", cap->c->label, cap->slot, pid);
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	char at[32];
	fmt_lsn(at, sizeof(at), from ? from + 1 : 0);
	ferry_buf b = FERRY_BUF_INIT;
	ferry_buf_printf(&b, "START_REPLICATION SLOT \"%s\" LOGICAL %s (proto_version '1', publication_names ",
	                 cap->slot, at);
	char names[80];
	snprintf(names, sizeof(names), "\"%s\"", cap->pub);
	ferry_pg__buf_literal(&b, names, strlen(names));
	ferry_buf_puts(&b, ", messages 'true')");
	if (b.failed)
		return OOM(err);
	PGresult *res = PQexec(cap->r.db, b.data);
	ferry_buf_free(&b);
	int rc = 0;
	if (PQresultStatus(res) != PGRES_COPY_BOTH)
		rc = ferry_pg__fail(&cap->r, res, err, "start streaming from replication slot \"%s\"", cap->slot);
	PQclear(res);
	if (rc)
		return rc;
	cap->streaming = 1;
	cap->acked = cap->sent = from;
	cap->delivered = from;
	cap->last_feedback = ferry__now();
	return 0;
}

/* ---- feedback ---------------------------------------------------------------------- */

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

static uint32_t get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Standby status update: everything up to the acknowledged commit is flushed, so the
 * server confirms acked + 1 (the slot never passes what the target committed). */
static int feedback(ferry_capture *cap, ferry_err *err)
{
	uint8_t m[34];
	uint64_t at = cap->acked ? cap->acked + 1 : 0;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t now = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 - PG_EPOCH_US;
	m[0] = 'r';
	put64(m + 1, at);
	put64(m + 9, at);
	put64(m + 17, at);
	put64(m + 25, (uint64_t)now);
	m[33] = 0;
	if (PQputCopyData(cap->r.db, (const char *)m, sizeof(m)) != 1 || PQflush(cap->r.db) != 0)
		return ferry_pg__fail(&cap->r, NULL, err, "send the capture's position to replication slot \"%s\"",
		                      cap->slot);
	cap->sent = cap->acked;
	cap->last_feedback = ferry__now();
	return 0;
}

static int pg_cap_ack(ferry_capture *cap, uint64_t pos, ferry_err *err)
{
	if (!cap->streaming)
		return ferry_err_set(err, FERRY_EUSAGE, "cannot acknowledge a position of %s: the capture is not streaming",
		                     cap->c->label);
	if (pos > cap->delivered) {
		char a[32], d[32];
		fmt_lsn(a, sizeof(a), pos);
		fmt_lsn(d, sizeof(d), cap->delivered);
		return ferry_err_set(err, FERRY_EUSAGE, "cannot acknowledge position %s of %s: the capture delivered changes up to %s only",
		                     a, cap->c->label, d);
	}
	if (pos > cap->acked)
		cap->acked = pos;
	/* At most one update a second: next and close send the rest. */
	if (cap->acked != cap->sent && ferry__now() - cap->last_feedback >= 1.0)
		return feedback(cap, err);
	return 0;
}

/* ---- decoding pgoutput ------------------------------------------------------------- */

typedef struct rd {
	const uint8_t *p, *e;
	int bad;
} rd;

static uint8_t rd8(rd *r)
{
	if (r->e - r->p < 1) {
		r->bad = 1;
		return 0;
	}
	return *r->p++;
}

static uint32_t rd32(rd *r)
{
	if (r->e - r->p < 4) {
		r->bad = 1;
		r->p = r->e;
		return 0;
	}
	uint32_t v = get32(r->p);
	r->p += 4;
	return v;
}

static uint64_t rd64(rd *r)
{
	if (r->e - r->p < 8) {
		r->bad = 1;
		r->p = r->e;
		return 0;
	}
	uint64_t v = get64(r->p);
	r->p += 8;
	return v;
}

static uint16_t rd16(rd *r)
{
	if (r->e - r->p < 2) {
		r->bad = 1;
		r->p = r->e;
		return 0;
	}
	uint16_t v = (uint16_t)((r->p[0] << 8) | r->p[1]);
	r->p += 2;
	return v;
}

/* A NUL-terminated string inside the message (points into it). */
static const char *rdstr(rd *r)
{
	const uint8_t *z = r->p < r->e ? memchr(r->p, 0, (size_t)(r->e - r->p)) : NULL;
	if (!z) {
		r->bad = 1;
		r->p = r->e;
		return "";
	}
	const char *s = (const char *)r->p;
	r->p = z + 1;
	return s;
}

static int malformed(ferry_capture *cap, char kind, ferry_err *err)
{
	return ferry_err_set(err, FERRY_ECORRUPT, "could not read the change stream of %s: malformed '%c' message",
	                     cap->c->label, kind);
}

static int table_of(ferry_capture *cap, uint32_t relid)
{
	for (size_t i = 0; i < cap->nt; i++)
		if (cap->t[i].relid == relid && cap->t[i].mapped)
			return (int)i;
	return -1;
}

/* A Relation message: the definition the following changes were made with. A captured
 * table whose columns are not those setup saw was changed by DDL during the sync, which
 * the keys (and the plan's select lists) cannot follow. */
static int on_relation(ferry_capture *cap, rd *r, ferry_err *err)
{
	uint32_t relid = rd32(r);
	const char *nsp = rdstr(r), *rel = rdstr(r);
	char ident = (char)rd8(r);
	uint16_t ncols = rd16(r);
	if (r->bad)
		return malformed(cap, 'R', err);
	cap_table *t = NULL;
	for (size_t i = 0; i < cap->nt && !t; i++)
		if (strcmp(cap->t[i].name, rel) == 0 && strcmp(cap->c->schema, nsp) == 0)
			t = &cap->t[i];
	if (!t)
		return 0;   /* not a captured table: its changes are skipped by relid */
	char quoted[300];
	ferry_pg__quote_ident(quoted, sizeof(quoted), t->name);
	const char *fix = "ferry sync cannot follow DDL on a captured table: finish or abandon this sync, "
	                  "then sync again from the start";
	if (relid != t->relid)
		return ferry_err_set(err, FERRY_ERROR, "table %s of %s was dropped and created again during the sync (%s)",
		                     quoted, cap->c->label, fix);
	if (ident != t->ident)
		return ferry_err_set(err, FERRY_ERROR, "the replica identity of table %s of %s changed during the sync (%s)",
		                     quoted, cap->c->label, fix);
	if (ncols != t->ncols)
		return ferry_err_set(err, FERRY_ERROR, "table %s of %s changed during the sync: it had %zu columns, now %u (%s)",
		                     quoted, cap->c->label, t->ncols, (unsigned)ncols, fix);
	for (size_t i = 0; i < ncols; i++) {
		(void)rd8(r);
		const char *name = rdstr(r);
		Oid typ = rd32(r);
		(void)rd32(r);
		if (r->bad)
			return malformed(cap, 'R', err);
		if (strcmp(name, t->cols[i].name) != 0 || typ != t->cols[i].typid)
			return ferry_err_set(err, FERRY_ERROR,
			                     "table %s of %s changed during the sync: column %zu was \"%s\" of type %u, now \"%s\" of type %u (%s)",
			                     quoted, cap->c->label, i + 1, t->cols[i].name, (unsigned)t->cols[i].typid, name,
			                     (unsigned)typ, fix);
	}
	t->mapped = 1;
	return 0;
}

/* Read a TupleData into the key values of table t (in the current arena): *keys = NULL
 * when the tuple carried none of them. */
static int read_keys(ferry_capture *cap, rd *r, cap_table *t, const ferry_value **keys,
                     char kind, ferry_err *err)
{
	*keys = NULL;
	ferry_arena *a = cap->a[cap->ai];
	uint16_t n = rd16(r);
	if (r->bad || n != t->ncols)
		return malformed(cap, kind, err);
	ferry_value *v = ferry_arena_alloc(a, t->nkeys * sizeof(*v));
	if (!v)
		return OOM(err);
	memset(v, 0, t->nkeys * sizeof(*v));
	for (size_t i = 0; i < n; i++) {
		char k = (char)rd8(r);
		const cap_col *col = &t->cols[i];
		if (k == 'n')
			continue;
		if (k == 'u') {
			if (col->key >= 0)
				return ferry_err_set(err, FERRY_ERROR,
				                     "could not read a change of table \"%s\" of %s: the value of its key column \"%s\" "
				                     "was not sent (unchanged TOAST)", t->name, cap->c->label, col->name);
			continue;
		}
		if (k != 't')
			return malformed(cap, kind, err);
		uint32_t len = rd32(r);
		if (r->bad || (size_t)(r->e - r->p) < len)
			return malformed(cap, kind, err);
		const char *s = (const char *)r->p;
		r->p += len;
		if (col->key < 0)
			continue;
		char reason[200];
		int rc = ferry_pg__from_text(col->base, col->typtype, s, len, &v[col->key], a, reason,
		                             sizeof(reason));
		if (rc == FERRY_ENOMEM)
			return OOM(err);
		if (rc)
			return ferry_err_set(err, FERRY_ECORRUPT, "could not read key column \"%s\" of table \"%s\" in %s: %s",
			                     col->name, t->name, cap->c->label, reason);
	}
	*keys = v;
	return 0;
}

/* Queue a change; inside a transaction it is held back until the next one or the commit
 * says whether it is the last. */
static int push(ferry_capture *cap, const ferry_change *ch, int open, ferry_err *err)
{
	if (ferry__grow(&cap->q, &cap->qcap, cap->qn + 1, sizeof(*cap->q)) != 0)
		return OOM(err);
	if (open || !cap->open_last) {
		cap->q[cap->qn++] = *ch;
		cap->open_last = open;
	} else {
		/* A change outside any transaction arrived while the last one's transaction is
		 * open: it goes before it, so the open change stays last. */
		cap->q[cap->qn] = cap->q[cap->qn - 1];
		cap->q[cap->qn - 1] = *ch;
		cap->qn++;
	}
	return 0;
}

static int change(ferry_capture *cap, uint8_t op, size_t table, const ferry_value *old_key,
                  const ferry_value *new_key, ferry_err *err)
{
	ferry_change ch = {.pos = cap->txn_pos, .op = op, .table = table, .old_key = old_key,
	                   .new_key = new_key, .commit_us = cap->txn_us};
	return push(cap, &ch, 1, err);
}

static int same_keys(const ferry_value *a, const ferry_value *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!ferry__value_equal(&a[i], &b[i]))
			return 0;
	return 1;
}

/* One "<length>:<bytes>" item of a touch message at *p (n bytes left); NULL when malformed. */
static const char *touch_item(const char **p, size_t *n, size_t *len)
{
	size_t l = 0, i = 0;
	while (i < *n && i < 10 && (*p)[i] >= '0' && (*p)[i] <= '9')
		l = l * 10 + (size_t)((*p)[i++] - '0');
	if (i == 0 || i >= *n || (*p)[i] != ':' || *n - i - 1 < l)
		return NULL;
	const char *s = *p + i + 1;
	*p = s + l;
	*n -= i + 1 + l;
	*len = l;
	return s;
}

/* A touch (pg_cap_touch): an update of one key of a captured table, delivered even in
 * ferry's own transaction. The values are the key columns' own text, so they decode as
 * the stream's keys do. */
static int on_touch(ferry_capture *cap, const char *p, size_t n, ferry_err *err)
{
	size_t len = 0;
	const char *name = touch_item(&p, &n, &len);
	cap_table *t = NULL;
	for (size_t i = 0; name && i < cap->nt && !t; i++)
		if (strlen(cap->t[i].name) == len && memcmp(cap->t[i].name, name, len) == 0)
			t = &cap->t[i];
	if (!t)
		return name ? 0 : malformed(cap, 'M', err);   /* not a table this capture holds */
	ferry_arena *a = cap->a[cap->ai];
	ferry_value *v = ferry_arena_alloc(a, (t->nkeys ? t->nkeys : 1) * sizeof(*v));
	if (!v)
		return OOM(err);
	for (size_t k = 0; k < t->nkeys; k++) {
		size_t cl = 0, vl = 0;
		const char *col = touch_item(&p, &n, &cl);
		const char *val = col ? touch_item(&p, &n, &vl) : NULL;
		const cap_col *c = NULL;
		for (size_t i = 0; i < t->ncols && !c; i++)
			if (t->cols[i].key == (int)k)
				c = &t->cols[i];
		if (!val || !c || strlen(c->name) != cl || memcmp(c->name, col, cl) != 0)
			return malformed(cap, 'M', err);
		char reason[200];
		int rc = ferry_pg__from_text(c->base, c->typtype, val, vl, &v[k], a, reason, sizeof(reason));
		if (rc == FERRY_ENOMEM)
			return OOM(err);
		if (rc)
			return ferry_err_set(err, FERRY_ECORRUPT, "could not read key column \"%s\" of table \"%s\" in %s: %s",
			                     c->name, t->name, cap->c->label, reason);
	}
	if (n)
		return malformed(cap, 'M', err);
	return change(cap, FERRY_CHANGE_UPDATE, (size_t)(t - cap->t), NULL, v, err);
}

/* One pgoutput message (the payload of an XLogData). */
static int decode(ferry_capture *cap, const uint8_t *p, size_t n, ferry_err *err)
{
	rd r = {p, p + n, 0};
	char kind = (char)rd8(&r);
	if (r.bad)
		return malformed(cap, '?', err);
	if ((kind == 'I' || kind == 'U' || kind == 'D' || kind == 'T') && !cap->in_txn)
		return malformed(cap, kind, err);
	switch (kind) {
	case 'B':
		cap->txn_pos = rd64(&r);
		cap->txn_us = (int64_t)rd64(&r);
		uint32_t xid = rd32(&r);
		if (r.bad || cap->txn_pos == 0)
			return malformed(cap, kind, err);
		if (ferry__grow(&cap->xids, &cap->xcap, cap->nx + 1, sizeof(uint32_t)) != 0)
			return OOM(err);
		cap->xids[cap->nx++] = xid;
		cap->txn_us += PG_EPOCH_US;
		cap->in_txn = 1;
		cap->own_txn = 0;
		return 0;
	case 'C':
		(void)rd8(&r);
		(void)rd64(&r);
		(void)rd64(&r);
		(void)rd64(&r);
		if (r.bad || !cap->in_txn)
			return malformed(cap, kind, err);
		if (cap->open_last)
			cap->q[cap->qn - 1].txn_end = 1;
		cap->open_last = 0;
		cap->in_txn = 0;
		return 0;
	case 'R':
		return on_relation(cap, &r, err);
	case 'Y': case 'O':
		return 0;   /* types and origins: nothing the keys need */
	case 'I': case 'U': case 'D': {
		if (cap->own_txn)
			return 0;   /* ferry's own write (both ways): never carried back */
		int ti = table_of(cap, rd32(&r));
		if (r.bad)
			return malformed(cap, kind, err);
		if (ti < 0)
			return 0;
		cap_table *t = &cap->t[ti];
		const ferry_value *oldk = NULL, *newk = NULL;
		char tk = (char)rd8(&r);
		int rc = 0;
		if (kind == 'U' && (tk == 'K' || tk == 'O')) {
			rc = read_keys(cap, &r, t, &oldk, kind, err);
			tk = (char)rd8(&r);
		}
		if (rc)
			return rc;
		if (kind == 'D') {
			if (tk != 'K' && tk != 'O')
				return malformed(cap, kind, err);
			rc = read_keys(cap, &r, t, &oldk, kind, err);
		} else {
			if (tk != 'N')
				return malformed(cap, kind, err);
			rc = read_keys(cap, &r, t, &newk, kind, err);
		}
		if (rc)
			return rc;
		if (kind == 'U' && oldk && same_keys(oldk, newk, t->nkeys))
			oldk = NULL;   /* REPLICA IDENTITY FULL sends the old row on every update */
		return change(cap, kind == 'I' ? FERRY_CHANGE_INSERT : kind == 'U' ? FERRY_CHANGE_UPDATE
		                                                                  : FERRY_CHANGE_DELETE,
		              (size_t)ti, oldk, newk, err);
	}
	case 'T': {
		if (cap->own_txn)
			return 0;
		uint32_t nrel = rd32(&r);
		(void)rd8(&r);
		if (r.bad || (size_t)(r.e - r.p) / 4 < nrel)
			return malformed(cap, kind, err);
		for (uint32_t i = 0; i < nrel; i++) {
			int ti = table_of(cap, rd32(&r));
			int rc = ti < 0 ? 0 : change(cap, FERRY_CHANGE_TRUNCATE, (size_t)ti, NULL, NULL, err);
			if (rc)
				return rc;
		}
		return 0;
	}
	case 'M': {
		uint8_t flags = rd8(&r);
		uint64_t lsn = rd64(&r);
		const char *prefix = rdstr(&r);
		uint32_t len = rd32(&r);
		if (r.bad || (size_t)(r.e - r.p) < len)
			return malformed(cap, kind, err);
		if (strcmp(prefix, cap->prefix) != 0)
			return 0;   /* another run's or application's message */
		int txn = (flags & 1) != 0;
		if (txn && !cap->in_txn)
			return malformed(cap, kind, err);
		if (txn && len == 6 && memcmp(r.p, "origin", 6) == 0) {
			cap->own_txn = 1; /* see pg_cap_origin */
			return 0;
		}
		if (txn && len >= 6 && memcmp(r.p, "touch\n", 6) == 0)
			return on_touch(cap, (const char *)r.p + 6, len - 6, err); /* see pg_cap_touch */
		char *text = ferry_arena_strndup(cap->a[cap->ai], (const char *)r.p, len);
		if (!text)
			return OOM(err);
		ferry_change ch = {.pos = txn ? cap->txn_pos : lsn, .op = FERRY_CHANGE_MARKER,
		                   .table = SIZE_MAX, .commit_us = txn ? cap->txn_us : 0,
		                   .marker = text, .txn_end = !txn};
		if (ch.pos == 0)
			return malformed(cap, kind, err);
		return push(cap, &ch, txn, err);
	}
	default:
		/* Streamed, prepared and sequence messages need options ferry does not ask for. */
		return ferry_err_set(err, FERRY_ECORRUPT, "could not read the change stream of %s: unexpected '%c' message",
		                     cap->c->label, kind);
	}
}

/* One CopyData message of the replication stream. */
static int on_copy(ferry_capture *cap, const uint8_t *p, size_t n, ferry_err *err)
{
	if (n >= 25 && p[0] == 'w')
		return decode(cap, p + 25, n - 25, err);
	if (n >= 18 && p[0] == 'k')
		return p[17] ? feedback(cap, err) : 0;
	return ferry_err_set(err, FERRY_ECORRUPT, "could not read the change stream of %s: unexpected message of %zu bytes",
	                     cap->c->label, n);
}

/* ---- next -------------------------------------------------------------------------- */

static ferry_value *copy_keys(ferry_arena *a, const ferry_value *v, size_t n)
{
	ferry_value *o = ferry_arena_alloc(a, n * sizeof(*o) + 1);
	if (!o)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		o[i] = v[i];
		if (v[i].type == FERRY_NULL || v[i].type == FERRY_INT || v[i].type == FERRY_FLOAT ||
		    v[i].type == FERRY_BOOL)
			continue;
		void *d = ferry_arena_alloc(a, v[i].len + 1);
		if (!d)
			return NULL;
		memcpy(d, v[i].v.s, v[i].len);
		((char *)d)[v[i].len] = '\0';
		o[i].v.s = d;
	}
	return o;
}

/* Move the changes still queued into the arena about to be used, so the other one can be
 * reset at the next call. */
static int rehome(ferry_capture *cap, ferry_err *err)
{
	ferry_arena *a = cap->a[cap->ai];
	for (size_t i = 0; i < cap->qn; i++) {
		ferry_change *ch = &cap->q[i];
		size_t nk = ch->table < cap->nt ? cap->t[ch->table].nkeys : 0;
		if (ch->old_key && !(ch->old_key = copy_keys(a, ch->old_key, nk)))
			return OOM(err);
		if (ch->new_key && !(ch->new_key = copy_keys(a, ch->new_key, nk)))
			return OOM(err);
		if (ch->marker && !(ch->marker = ferry_arena_strdup(a, ch->marker)))
			return OOM(err);
	}
	return 0;
}

static int stream_ended(ferry_capture *cap, ferry_err *err)
{
	PGresult *res = PQgetResult(cap->r.db);
	int rc = ferry_pg__fail(&cap->r, res, err, "read the change stream of replication slot \"%s\"", cap->slot);
	PQclear(res);
	return rc;
}

static int next_inner(ferry_capture *cap, ferry_change *out, size_t max, size_t *n,
                      int timeout_ms, ferry_err *err)
{
	cap->ai ^= 1;
	ferry_arena_reset(cap->a[cap->ai]);
	int rc = rehome(cap, err);
	double deadline = ferry__now() + (timeout_ms > 0 ? timeout_ms / 1000.0 : 0);
	while (rc == 0) {
		size_t ready = cap->qn - (size_t)cap->open_last;
		if (ready >= max)
			break;
		if (ferry__now() - cap->last_feedback >= FEEDBACK_EVERY && (rc = feedback(cap, err)) != 0)
			break;
		char *buf = NULL;
		int got = PQgetCopyData(cap->r.db, &buf, 1);
		if (got > 0) {
			rc = on_copy(cap, (const uint8_t *)buf, (size_t)got, err);
			PQfreemem(buf);
			continue;
		}
		if (got == -1) {
			rc = stream_ended(cap, err);
			break;
		}
		if (got < 0) {
			rc = ferry_pg__fail(&cap->r, NULL, err, "read the change stream of replication slot \"%s\"", cap->slot);
			break;
		}
		if (ready > 0)
			break;
		double left = deadline - ferry__now();
		if (left <= 0)
			break;
		/* Wake for the next feedback too, so a long wait keeps the walsender content. */
		double fb = cap->last_feedback + FEEDBACK_EVERY - ferry__now();
		if (fb < left)
			left = fb > 0 ? fb : 0;
		struct pollfd pfd = {.fd = PQsocket(cap->r.db), .events = POLLIN};
		int pr = poll(&pfd, 1, (int)(left * 1000) + 1);
		if (pr < 0 && errno != EINTR) {
			rc = ferry_err_set(err, FERRY_ERROR, "could not wait for the change stream of %s: %s", cap->c->label,
			                   strerror(errno));
			break;
		}
		if (pr > 0 && !PQconsumeInput(cap->r.db))
			rc = ferry_pg__fail(&cap->r, NULL, err, "read the change stream of replication slot \"%s\"", cap->slot);
	}
	size_t ready = cap->qn - (size_t)cap->open_last, k = ready < max ? ready : max;
	if (rc && k == 0)
		return rc;
	if (rc) {
		/* The changes decoded before the error are delivered first, so the caller can
		 * apply and acknowledge up to it; the next call reports the error. */
		cap->broken = 1;
		ferry__err_copy(&cap->fail, err);
	}
	if (k) {
		memcpy(out, cap->q, k * sizeof(*out));
		memmove(cap->q, cap->q + k, (cap->qn - k) * sizeof(*cap->q));
		cap->qn -= k;
	}
	for (size_t i = 0; i < k; i++)
		if (out[i].pos > cap->delivered)
			cap->delivered = out[i].pos;
	*n = k;
	return 0;
}

static int pg_cap_next(ferry_capture *cap, ferry_change *out, size_t max, size_t *n,
                       int timeout_ms, ferry_err *err)
{
	*n = 0;
	if (cap->broken)
		return ferry__err_copy(err, &cap->fail);
	if (!cap->streaming)
		return ferry_err_set(err, FERRY_EUSAGE, "cannot read changes of %s: the capture is not streaming",
		                     cap->c->label);
	if (max == 0)
		return 0;
	int rc = next_inner(cap, out, max, n, timeout_ms, err);
	if (rc == 0 && cap->broken)
		memset(err, 0, sizeof(*err));
	if (rc) {
		/* The stream's state is unknown past an error: every later call says the same. */
		cap->broken = 1;
		ferry__err_copy(&cap->fail, err);
		*n = 0;
	}
	return rc;
}

/* End the stream the way the protocol does (CopyDone both ways), so that when close
 * returns the server has taken the last position sent and released the slot: a process
 * of the run started right after finds it free and confirmed where this one left it. A
 * server that does not answer within a few seconds is simply disconnected. */
static void stream_end(ferry_capture *cap)
{
	PGconn *db = cap->r.db;
	if (PQputCopyEnd(db, NULL) != 1 || PQflush(db) != 0)
		return;
	double until = ferry__now() + 5;
	for (;;) {
		char *buf = NULL;
		int got = PQgetCopyData(db, &buf, 1);
		if (got > 0) {
			PQfreemem(buf);
			continue;
		}
		if (got == -1)
			break;
		if (got < -1)
			return;
		double left = until - ferry__now();
		struct pollfd pfd = {.fd = PQsocket(db), .events = POLLIN};
		if (left <= 0 || poll(&pfd, 1, (int)(left * 1000) + 1) <= 0 || !PQconsumeInput(db))
			return;
	}
	PGresult *res;
	while ((res = PQgetResult(db)) != NULL)
		PQclear(res);
}

static void pg_cap_close(ferry_capture *cap)
{
	if (!cap)
		return;
	if (cap->streaming && PQstatus(cap->r.db) == CONNECTION_OK) {
		ferry_err ignored;
		/* Acknowledged after a stream error too: the changes before it were applied. */
		if (cap->acked == cap->sent || feedback(cap, &ignored) == 0)
			stream_end(cap);
	}
	cap_free(cap);
}

/* ---- markers and teardown ---------------------------------------------------------- */

/* A transactional message: delivered with the commit of the transaction it is part of
 * (c's open one, else its own), so *pos (the message's own LSN) is below the position the
 * stream gives the marker. */
static int pg_cap_marker(ferry_conn *conn, const char *run_id, const char *text, uint64_t *pos,
                         ferry_err *err)
{
	pg_conn *c = PGC(conn);
	if (pos)
		*pos = 0;
	char *prefix = ferry__sprintf("ferry:%s", run_id);
	if (!prefix)
		return OOM(err);
	const char *p[2] = {prefix, text};
	PGresult *res;
	int rc = ferry_pg__query(c, &res, "SELECT pg_logical_emit_message(true, $1, $2)", 2, p, err,
	                         "put a marker into the change stream");
	free(prefix);
	if (rc)
		return rc;
	uint64_t lsn = 0;
	if (parse_lsn(PQgetvalue(res, 0, 0), &lsn) != 0)
		rc = ferry_err_set(err, FERRY_ERROR, "could not put a marker into the change stream of %s: the server returned \"%s\"",
		                   c->label, PQgetvalue(res, 0, 0));
	PQclear(res);
	if (rc == 0 && pos)
		*pos = lsn;
	return rc;
}

/* Who holds a lock on one of the tables (quoted names, one per parameter) that keeps SHARE
 * ROW EXCLUSIVE out, for the message of a wait that gave up: the process, its application,
 * its state and how long its transaction has been open; never its query (it holds values). */
static void lock_holder(pg_conn *c, const char *const *quoted, size_t n, char *out, size_t cap)
{
	snprintf(out, cap, "another transaction holds them");
	ferry_buf q = FERRY_BUF_INIT;
	ferry_buf_puts(&q, "SELECT l.pid, coalesce(a.application_name, ''), coalesce(a.state, 'unknown'), "
	                   "coalesce(extract(epoch FROM clock_timestamp() - a.xact_start)::bigint, 0), "
	                   "l.relation::regclass::text FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
	                   "WHERE l.granted AND l.pid <> pg_backend_pid() AND l.locktype = 'relation' AND l.mode IN "
	                   "('RowExclusiveLock', 'ShareUpdateExclusiveLock', 'ShareLock', 'ShareRowExclusiveLock', "
	                   "'ExclusiveLock', 'AccessExclusiveLock') AND l.relation IN (");
	for (size_t i = 0; i < n; i++)
		ferry_buf_printf(&q, "%s$%zu::regclass", i ? ", " : "", i + 1);
	ferry_buf_puts(&q, ") ORDER BY a.xact_start NULLS LAST LIMIT 1");
	PGresult *res = NULL;
	ferry_err ignored = {0};
	if (!q.failed && n && ferry_pg__query(c, &res, q.data, (int)n, quoted, &ignored, "find the lock's holder") == 0 &&
	    PQntuples(res) == 1)
		snprintf(out, cap, "process %s (application \"%s\", %s, its transaction open %s s) holds %s",
		         PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 3),
		         PQgetvalue(res, 0, 4));
	PQclear(res);
	ferry_buf_free(&q);
}

/* Both ways: the tables are locked against other writers for the rest of c's transaction
 * (SHARE ROW EXCLUSIVE: reads go on; a transaction writing them now is waited for), in one
 * statement after a savepoint, on a short lock timeout: a timeout rolls back to the
 * savepoint, which releases every lock the statement took, so ferry never sits in a
 * deadlock, and is tried again for ORIGIN_WAIT at most. Still not had, it is FERRY_EBUSY
 * naming the holder (the caller rolls back and comes back later). Then a transactional
 * message marks the transaction as ferry's own, so run_id's capture skips it. A message,
 * not a replication origin: that would need superuser rights. */
static int pg_cap_origin(ferry_conn *conn, const char *run_id, const char *const *tables,
                         size_t ntables, int on, ferry_err *err)
{
	pg_conn *c = PGC(conn);
	if (!on)
		return 0;
	int rc = 0;
	if (ntables) {
		ferry_buf b = FERRY_BUF_INIT;
		ferry_buf_puts(&b, "LOCK TABLE ");
		char **quoted = ferry__calloc(ntables, sizeof(char *));
		for (size_t i = 0; quoted && i < ntables; i++) {
			ferry_buf one = FERRY_BUF_INIT;
			ferry_pg__buf_table(&one, c, tables[i]);
			quoted[i] = one.failed ? NULL : one.data;
			if (one.failed)
				ferry_buf_free(&one);
			ferry_buf_printf(&b, "%s%s", i ? ", " : "", quoted[i] ? quoted[i] : "");
			if (!quoted[i])
				b.failed = 1;
		}
		ferry_buf_puts(&b, " IN SHARE ROW EXCLUSIVE MODE");
		if (b.failed || !quoted)
			rc = OOM(err);
		/* The timeout before the savepoint: rolling back to it would undo it. */
		rc = rc ? rc : ferry_pg__exec(c, "SET LOCAL lock_timeout = 200; SAVEPOINT ferry_origin", err,
		                              "hold off the other writers of the tables ferry writes");
		double until = ferry__now() + ORIGIN_WAIT;
		int timed_out = 0;
		while (rc == 0) {
			PGresult *res = PQexec(c->db, b.data);
			const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
			if (PQresultStatus(res) == PGRES_COMMAND_OK) {
				PQclear(res);
				timed_out = 0;
				break;
			}
			/* A deadlock too, should the server look for one sooner than the timeout. */
			timed_out = st && (strcmp(st, "55P03") == 0 || strcmp(st, "40P01") == 0) && PQstatus(c->db) == CONNECTION_OK;
			if (!timed_out)
				rc = ferry_pg__fail(c, res, err, "hold off the other writers of the tables ferry writes");
			PQclear(res);
			if (rc == 0)
				rc = ferry_pg__exec(c, "ROLLBACK TO SAVEPOINT ferry_origin", err,
				                    "hold off the other writers of the tables ferry writes");
			if (rc || ferry__now() > until)
				break;
			struct timespec ts = {0, 5 * 1000 * 1000};
			nanosleep(&ts, NULL);
		}
		if (rc == 0 && timed_out) {
			char holder[600];
			lock_holder(c, (const char *const *)quoted, ntables, holder, sizeof(holder));
			rc = ferry_err_set(err, FERRY_EBUSY, "could not hold off the other writers of the tables of %s within %.0f s: %s",
			                   c->label, ORIGIN_WAIT, holder);
		}
		if (rc == 0)
			rc = ferry_pg__exec(c, "RELEASE SAVEPOINT ferry_origin; SET LOCAL lock_timeout TO DEFAULT", err,
			                    "hold off the other writers of the tables ferry writes");
		for (size_t i = 0; quoted && i < ntables; i++)
			free(quoted[i]);
		free(quoted);
		ferry_buf_free(&b);
	}
	char *prefix = rc ? NULL : ferry__sprintf("ferry:%s", run_id);
	if (rc == 0 && !prefix)
		rc = OOM(err);
	if (rc == 0) {
		const char *p[2] = {prefix, "origin"};
		PGresult *res = NULL;
		rc = ferry_pg__query(c, &res, "SELECT pg_logical_emit_message(true, $1, $2)", 2, p, err,
		                     "mark the transaction as ferry's own");
		PQclear(res);
	}
	free(prefix);
	return rc;
}

/* Both ways: a transactional message "touch\n" followed by "<length>:<bytes>" items (the
 * table, then each key column's name and value), which the decoder turns into an update of
 * that key even inside ferry's own transaction (on_touch). Each value is cast to its
 * column's type and sent as that type's text, exactly what pgoutput would send. */
static int pg_cap_touch(ferry_conn *conn, const char *run_id, const char *table, const char *const *keys,
                        size_t nkeys, const ferry_value *key, ferry_err *err)
{
	pg_conn *c = PGC(conn);
	ferry_buf qt = FERRY_BUF_INIT, q = FERRY_BUF_INIT;
	ferry_pg__buf_table(&qt, c, table);
	char *prefix = ferry__sprintf("ferry:%s", run_id);
	ferry_value *v = ferry__calloc(nkeys + 2, sizeof(*v));
	int rc = qt.failed || !prefix || !v ? OOM(err) : 0;
	ferry_buf_puts(&q, "SELECT pg_logical_emit_message(true, $1::text, concat('touch', E'\\n', octet_length($2::text), ':', $2::text");
	for (size_t k = 0; k < nkeys; k++)
		ferry_buf_printf(&q, ", octet_length(k.n%zu), ':', k.n%zu, octet_length(k.v%zu), ':', k.v%zu", k, k, k, k);
	ferry_buf_puts(&q, ")) FROM (SELECT ");
	for (size_t k = 0; rc == 0 && k < nkeys; k++) {
		const char *p[2] = {qt.data, keys[k]};
		PGresult *res = NULL;
		rc = ferry_pg__query(c, &res,
		                     "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = $1::regclass "
		                     "AND attname = $2 AND attnum > 0 AND NOT attisdropped",
		                     2, p, err, "find the type of a key column");
		if (rc == 0 && PQntuples(res) != 1)
			rc = ferry_err_set(err, FERRY_ENOTFOUND, "could not put a change into the change stream of %s: table %s has no column \"%s\"",
			                   c->label, qt.data, keys[k]);
		if (rc == 0) {
			ferry_buf_printf(&q, "%s", k ? ", " : "");
			ferry_pg__buf_literal(&q, keys[k], strlen(keys[k]));
			ferry_buf_printf(&q, "::text AS n%zu, CAST($%zu AS %s)::text AS v%zu", k, k + 3, PQgetvalue(res, 0, 0), k);
		}
		PQclear(res);
	}
	ferry_buf_puts(&q, ") AS k");
	if (rc == 0 && q.failed)
		rc = OOM(err);
	if (rc == 0) {
		const char *text[2] = {prefix, table};
		for (size_t i = 0; i < 2; i++)
			v[i] = (ferry_value){.type = FERRY_TEXT, .v.s = text[i], .len = (uint32_t)strlen(text[i])};
		memcpy(v + 2, key, nkeys * sizeof(*v));
		rc = ferry_pg__exec_params(conn, q.data, nkeys + 2, v, NULL, err);
	}
	free(prefix);
	free(v);
	ferry_buf_free(&qt);
	ferry_buf_free(&q);
	return rc;
}

/* Both ways: a standby status update when one is due, so the walsender keeps the stream
 * while the caller serves changes it already holds (wal_sender_timeout counts from the last
 * reply; the stream itself is not read here). */
static int pg_cap_keepalive(ferry_capture *cap, ferry_err *err)
{
	if (!cap->streaming || ferry__now() - cap->last_feedback < KEEPALIVE_EVERY)
		return 0;
	return feedback(cap, err);
}

/* Drop the slot and the publication of run_id. A walsender that holds the slot is
 * terminated only when it is ferry's own: its application_name is the one setup gives
 * the replication connection of this very slot ("ferry capture <slot>"). */
static int pg_cap_teardown(ferry_conn *conn, const char *url, const char *run_id, ferry_err *err)
{
	(void)url;
	pg_conn *c = PGC(conn);
	char slot[64], pub[64], app[80];
	names(c, run_id, slot, pub, sizeof(slot));
	snprintf(app, sizeof(app), "ferry capture %s", slot);
	if (PQtransactionStatus(c->db) != PQTRANS_IDLE)
		return ferry_err_set(err, FERRY_EUSAGE, "cannot remove the capture of %s: a transaction is open", c->label);
	const char *p[2] = {slot, app};
	double until = ferry__now() + RELEASE_WAIT;
	int terminated = 0, rc = 0;
	for (;;) {
		PGresult *res;
		rc = ferry_pg__query(c, &res,
		                     "SELECT s.active_pid, a.application_name, a.application_name = $2 "
		                     "FROM pg_replication_slots s LEFT JOIN pg_stat_activity a ON a.pid = s.active_pid "
		                     "WHERE s.slot_name = $1", 2, p, err, "read the replication slots");
		if (rc)
			return rc;
		if (PQntuples(res) == 0) {
			PQclear(res);
			break;
		}
		if (PQgetisnull(res, 0, 0)) {
			PQclear(res);
			rc = ferry_pg__query(c, &res, "SELECT pg_drop_replication_slot($1)", 1, p, err,
			                     "drop the replication slot of the capture");
			if (rc == 0) {
				PQclear(res);
				break;
			}
			/* Taken again between the two statements: look once more. */
			if (ferry__now() > until)
				return rc;
			continue;
		}
		long pid = strtol(PQgetvalue(res, 0, 0), NULL, 10);
		int own = PQgetvalue(res, 0, 2)[0] == 't';
		char holder[128];
		snprintf(holder, sizeof(holder), "%s", PQgetisnull(res, 0, 1) ? "unknown" : PQgetvalue(res, 0, 1));
		PQclear(res);
		if (!own)
			return ferry_err_set(err, FERRY_EUSAGE,
			                     "cannot drop replication slot \"%s\" of %s: process %ld (application \"%s\") is "
			                     "using it and is not ferry's", slot, c->label, pid, holder);
		if (ferry__now() > until)
			return ferry_err_set(err, FERRY_ERROR, "could not drop replication slot \"%s\" of %s: process %ld still holds it",
			                     slot, c->label, pid);
		if (!terminated) {
			char ps[32];
			snprintf(ps, sizeof(ps), "%ld", pid);
			const char *tp[1] = {ps};
			rc = ferry_pg__query(c, &res, "SELECT pg_terminate_backend($1::int)", 1, tp, err,
			                     "stop the walsender of the capture");
			if (rc)
				return rc;
			PQclear(res);
			terminated = 1;
		}
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	ferry_buf b = FERRY_BUF_INIT;
	ferry_buf_puts(&b, "BEGIN READ WRITE; DROP PUBLICATION IF EXISTS ");
	ferry_pg__buf_ident(&b, pub);
	ferry_buf_puts(&b, "; COMMIT");
	if (b.failed)
		return OOM(err);
	rc = ferry_pg__exec(c, b.data, err, "drop the publication of the capture");
	ferry_buf_free(&b);
	if (rc && PQtransactionStatus(c->db) != PQTRANS_IDLE) {
		ferry_err ignored;
		ferry_pg__exec(c, "ROLLBACK", &ignored, "roll back");
	}
	return rc;
}

/* The walsender sends a commit once its WAL is flushed, a moment before the transaction
 * leaves the server's list of running ones: a snapshot taken in between does not see it yet.
 * Wait until every transaction delivered so far is visible to a new snapshot on reader.
 * The 32-bit xids are widened against the snapshot's xmax (a signed distance, so the epoch
 * wraps right). */
static int pg_cap_settle(ferry_capture *cap, ferry_conn *reader, ferry_err *err)
{
	if (cap->nx == 0)
		return 0;
	ferry_buf arr = FERRY_BUF_INIT;
	ferry_buf_puts(&arr, "{");
	for (size_t i = 0; i < cap->nx; i++)
		ferry_buf_printf(&arr, "%s%u", i ? "," : "", cap->xids[i]);
	ferry_buf_puts(&arr, "}");
	if (arr.failed)
		return OOM(err);
	static const char q[] =
		"SELECT count(*) FROM unnest($1::bigint[]) x, txid_current_snapshot() s "
		"WHERE NOT txid_visible_in_snapshot(txid_snapshot_xmax(s) + "
		"((x - (txid_snapshot_xmax(s) % 4294967296) + 6442450944) % 4294967296) - 2147483648, s)";
	const char *params[1] = {arr.data};
	int rc = 0;
	double until = ferry__now() + 30;
	for (int n = 0;; n++) {
		PGresult *res = NULL;
		rc = ferry_pg__query(PGC(reader), &res, q, 1, params, err, "wait for the captured transactions to be visible");
		long left = rc == 0 ? atol(PQgetvalue(res, 0, 0)) : 0;
		PQclear(res);
		if (rc || left == 0)
			break;
		if (ferry__now() > until) {
			rc = ferry_err_set(err, FERRY_ERROR, "captured transactions of %s stayed invisible for 30 s", cap->c->label);
			break;
		}
		struct timespec ts = {0, (n < 10 ? 100 : 2000) * 1000L};
		nanosleep(&ts, NULL);
	}
	ferry_buf_free(&arr);
	if (rc == 0)
		cap->nx = 0;
	return rc;
}

const ferry_engine_capture ferry__pg_capture = {
	.version = FERRY_ENGINE_VERSION,
	.setup = pg_cap_setup,
	.snapshot = pg_cap_snapshot,
	.start = pg_cap_start,
	.next = pg_cap_next,
	.ack = pg_cap_ack,
	.close = pg_cap_close,
	.marker = pg_cap_marker,
	.settle = pg_cap_settle,
	.teardown = pg_cap_teardown,
	.freeze = ferry_pg__freeze,
	.fence = ferry_pg__fence,
	.thaw = ferry_pg__thaw,
	.unfence = ferry_pg__unfence,
	.fence_exempt = ferry_pg__fence_exempt,
	.origin = pg_cap_origin,
	.touch = pg_cap_touch,
	.keepalive = pg_cap_keepalive,
};
