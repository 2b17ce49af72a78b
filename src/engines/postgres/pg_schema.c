/* pg_schema.c — the PostgreSQL engine's schema side: introspection from pg_catalog (one
 * schema, names always bound as parameters), DDL from a definition (PostgreSQL's own types
 * when it came from PostgreSQL, canonical types otherwise), foreign keys added after the
 * load and counted, and the finish: sequences past the loaded keys, ANALYZE. */
#include <stdarg.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "pg_int.h"

#define NAMEDATALEN 64

/* ---- introspection ----------------------------------------------------------------- */

typedef struct tinfo {
	Oid oid;
	ferry_table *t;
	int *attnum;          /* per column of t: its attnum */
	size_t nattnum, cap;
} tinfo;

static tinfo *find_oid(tinfo *ts, size_t n, Oid oid)
{
	for (size_t i = 0; i < n; i++)
		if (ts[i].oid == oid)
			return &ts[i];
	return NULL;
}

static int col_of(const tinfo *ti, int attnum)
{
	for (size_t i = 0; i < ti->nattnum; i++)
		if (ti->attnum[i] == attnum)
			return (int)i;
	return -1;
}

/* format_type() spells some types in ways other engines cannot read back ("timestamp(3)
 * with time zone"); write them in PostgreSQL's short forms, which mean the same. */
static void short_type(const char *in, char *out, size_t cap)
{
	static const struct { const char *suffix, *rep; } m[] = {
		{" with time zone", "tz"}, {" without time zone", ""},
	};
	snprintf(out, cap, "%s", in);
	int ts = strncmp(in, "timestamp", 9) == 0, t = strncmp(in, "time", 4) == 0;
	if (!ts && !t)
		return;
	for (size_t i = 0; i < FERRY_ARRAY_LEN(m); i++) {
		size_t n = strlen(in), k = strlen(m[i].suffix);
		if (n > k && strcmp(in + n - k, m[i].suffix) == 0) {
			/* "time(3) with time zone" -> "timetz(3)" */
			const char *paren = strchr(in, '(');
			size_t base = paren && (size_t)(paren - in) < n - k ? (size_t)(paren - in) : n - k;
			snprintf(out, cap, "%.*s%s%.*s", (int)base, in, m[i].rep, (int)(n - k - base), in + base);
			return;
		}
	}
}

static const char tables_sql[] =
	"SELECT c.oid, c.relname, c.reltuples::bigint FROM pg_class c "
	"JOIN pg_namespace n ON n.oid = c.relnamespace "
	"WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition "
	"AND lower(c.relname) NOT IN ('ferry_runs', 'ferry_progress', 'ferry_rejects', "
	"'ferry_history', 'ferry_changes', 'ferry_keys', 'ferry_positions', 'ferry_leases', "
	"'ferry_claims', 'ferry_conflicts', 'ferry_later_deleted') "
	"ORDER BY c.oid";

static const char columns_sql[] =
	"SELECT a.attrelid, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), "
	"CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END, "
	"CASE WHEN t.typtype = 'd' THEN bt.typtype ELSE t.typtype END, a.attnotnull, "
	"CASE WHEN a.attgenerated = '' THEN pg_get_expr(d.adbin, d.adrelid) END, a.attidentity, "
	"a.attgenerated, CASE WHEN a.attidentity <> '' THEN pg_get_serial_sequence("
	"quote_ident(n.nspname) || '.' || quote_ident(c.relname), a.attname) END, "
	/* The column's own collation, as COLLATE names it (put_collation looks the same form
	 * up in the target). */
	"CASE WHEN a.attcollation <> t.typcollation AND a.attcollation <> 0 THEN (SELECT "
	"CASE WHEN ln.nspname = 'pg_catalog' THEN quote_ident(l.collname) "
	"ELSE quote_ident(ln.nspname) || '.' || quote_ident(l.collname) END FROM pg_collation l "
	"JOIN pg_namespace ln ON ln.oid = l.collnamespace WHERE l.oid = a.attcollation) END "
	"FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
	"JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_type t ON t.oid = a.atttypid "
	"LEFT JOIN pg_type bt ON bt.oid = t.typbasetype "
	"LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
	"WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition "
	"AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attrelid, a.attnum";

static const char indexes_sql[] =
	"SELECT i.indrelid, i.indexrelid, ic.relname, i.indisprimary, i.indisunique, "
	"i.indnkeyatts, pg_get_indexdef(i.indexrelid), pg_get_expr(i.indpred, i.indrelid), "
	"EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.contype = 'u') "
	"FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid "
	"JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
	"WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition "
	"ORDER BY i.indrelid, i.indisprimary DESC, i.indexrelid";

static const char index_cols_sql[] =
	"SELECT i.indexrelid, k, i.indkey[k - 1], a.attname, pg_get_indexdef(i.indexrelid, k, true), "
	"i.indoption[k - 1] & 1 "
	"FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
	"JOIN pg_namespace n ON n.oid = c.relnamespace "
	"CROSS JOIN LATERAL generate_series(1, i.indnkeyatts) AS k "
	"LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[k - 1] "
	"WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition "
	"ORDER BY i.indexrelid, k";

static const char fkeys_sql[] =
	"SELECT con.conrelid, con.oid, fr.relname, con.confdeltype, con.confupdtype, "
	"array_length(con.conkey, 1), k.i, a.attname, fa.attname "
	"FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid "
	"JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_class fr ON fr.oid = con.confrelid "
	"CROSS JOIN LATERAL unnest(con.conkey, con.confkey) WITH ORDINALITY AS k(ck, fk, i) "
	"JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.ck "
	"JOIN pg_attribute fa ON fa.attrelid = con.confrelid AND fa.attnum = k.fk "
	"WHERE n.nspname = $1 AND con.contype = 'f' AND con.conparentid = 0 "
	"AND fr.relnamespace = n.oid AND NOT c.relispartition "
	"ORDER BY con.conrelid, con.conname, k.i";

/* CHECK constraints of the tables (NOT NULL is an attribute here, not a constraint). */
static const char checks_sql[] =
	"SELECT con.conrelid, con.conname, pg_get_expr(con.conbin, con.conrelid), con.convalidated "
	"FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid "
	"JOIN pg_namespace n ON n.oid = c.relnamespace "
	"WHERE n.nspname = $1 AND con.contype = 'c' AND c.relkind IN ('r', 'p') "
	"AND NOT c.relispartition ORDER BY con.conrelid, con.conname";

static char *action(ferry_schema *s, char a)
{
	switch (a) {
	case 'r': return ferry_schema_strdup(s, "RESTRICT");
	case 'c': return ferry_schema_strdup(s, "CASCADE");
	case 'n': return ferry_schema_strdup(s, "SET NULL");
	case 'd': return ferry_schema_strdup(s, "SET DEFAULT");
	default: return NULL;
	}
}

static int load_columns(pg_conn *c, ferry_schema *s, tinfo *ts, size_t nt, ferry_err *err)
{
	const char *params[1] = {c->schema};
	PGresult *res;
	int rc = ferry_pg__query(c, &res, columns_sql, 1, params, err, "read the columns");
	if (rc)
		return rc;
	for (int r = 0; r < PQntuples(res) && rc == 0; r++) {
		tinfo *ti = find_oid(ts, nt, (Oid)strtoul(PQgetvalue(res, r, 0), NULL, 10));
		if (!ti)
			continue;
		char decl[256];
		short_type(PQgetvalue(res, r, 3), decl, sizeof(decl));
		Oid base = (Oid)strtoul(PQgetvalue(res, r, 4), NULL, 10);
		char tt = PQgetvalue(res, r, 5)[0];
		ferry_column *col = ferry_table_add_column(s, ti->t, PQgetvalue(res, r, 2), decl,
		                                           ferry_pg__canonical(base, tt));
		if (!col || ferry__grow(&ti->attnum, &ti->cap, ti->nattnum + 1, sizeof(int)) != 0) {
			rc = OOM(err);
			break;
		}
		ti->attnum[ti->nattnum++] = atoi(PQgetvalue(res, r, 1));
		col->notnull = PQgetvalue(res, r, 6)[0] == 't';
		col->generated = PQgetvalue(res, r, 9)[0] != '\0';
		if (!PQgetisnull(res, r, 7))
			col->default_sql = ferry_schema_strdup(s, PQgetvalue(res, r, 7));
		else if (!PQgetisnull(res, r, 10)) {
			/* An identity column: its default is its sequence, as for serial. */
			ferry_buf b = FERRY_BUF_INIT;
			ferry_buf_puts(&b, "nextval(");
			const char *seq = PQgetvalue(res, r, 10);
			ferry_pg__buf_literal(&b, seq, strlen(seq));
			ferry_buf_puts(&b, "::regclass)");
			col->default_sql = ferry_buf_detach(&b);
		}
		if ((!PQgetisnull(res, r, 7) || !PQgetisnull(res, r, 10)) && !col->default_sql)
			rc = OOM(err);
		if (rc == 0 && !PQgetisnull(res, r, 11) &&
		    !(col->collation = ferry_schema_strdup(s, PQgetvalue(res, r, 11))))
			rc = OOM(err);
	}
	PQclear(res);
	return rc;
}

static int load_indexes(pg_conn *c, ferry_schema *s, tinfo *ts, size_t nt, ferry_err *err)
{
	const char *params[1] = {c->schema};
	PGresult *res, *cols;
	int rc = ferry_pg__query(c, &res, indexes_sql, 1, params, err, "read the indexes");
	if (rc)
		return rc;
	if ((rc = ferry_pg__query(c, &cols, index_cols_sql, 1, params, err, "read the indexes")) != 0) {
		PQclear(res);
		return rc;
	}
	int cr = 0, ncr = PQntuples(cols);
	for (int r = 0; r < PQntuples(res) && rc == 0; r++) {
		tinfo *ti = find_oid(ts, nt, (Oid)strtoul(PQgetvalue(res, r, 0), NULL, 10));
		const char *ioid = PQgetvalue(res, r, 1);
		int nk = atoi(PQgetvalue(res, r, 5));
		/* This index's key columns in cols, which is ordered by index oid; res is ordered by
		 * table first, so the index oids in it go up and down: search. */
		unsigned long want = strtoul(ioid, NULL, 10);
		int lo = 0, hi = ncr;
		while (lo < hi) {
			int mid = lo + (hi - lo) / 2;
			if (strtoul(PQgetvalue(cols, mid, 0), NULL, 10) < want)
				lo = mid + 1;
			else
				hi = mid;
		}
		cr = lo;
		int first = cr;
		while (cr < ncr && strcmp(PQgetvalue(cols, cr, 0), ioid) == 0)
			cr++;
		if (!ti || cr - first != nk || nk > 64)
			continue;
		if (PQgetvalue(res, r, 3)[0] == 't') {
			size_t pk[64];
			int ok = 1;
			for (int k = 0; k < nk; k++) {
				int ci = col_of(ti, atoi(PQgetvalue(cols, first + k, 2)));
				ok &= ci >= 0;
				pk[k] = ci >= 0 ? (size_t)ci : 0;
			}
			if (ok && ferry_table_set_pk(s, ti->t, pk, (size_t)nk) != 0)
				rc = OOM(err);
			continue;
		}
		ferry_index *x = ferry_table_add_index(s, ti->t, PQgetvalue(res, r, 2), (size_t)nk);
		if (!x) {
			rc = OOM(err);
			break;
		}
		x->unique = PQgetvalue(res, r, 4)[0] == 't';
		x->constraint = PQgetvalue(res, r, 8)[0] == 't';
		for (int k = 0; k < nk && rc == 0; k++) {
			int attnum = atoi(PQgetvalue(cols, first + k, 2));
			if (attnum == 0) {
				x->exprs = 1;
				x->opts[k] |= FERRY_INDEX_EXPR;
			}
			if (atoi(PQgetvalue(cols, first + k, 5)) != 0)
				x->opts[k] |= FERRY_INDEX_DESC;
			x->cols[k] = ferry_schema_strdup(s, PQgetvalue(cols, first + k, attnum ? 3 : 4));
			if (!x->cols[k])
				rc = OOM(err);
		}
		x->sql = ferry_schema_strdup(s, PQgetvalue(res, r, 6));
		if (!PQgetisnull(res, r, 7))
			x->where = ferry_schema_strdup(s, PQgetvalue(res, r, 7));
		if (!x->sql || (!PQgetisnull(res, r, 7) && !x->where))
			rc = OOM(err);
	}
	PQclear(res);
	PQclear(cols);
	return rc;
}

static int load_checks(pg_conn *c, ferry_schema *s, tinfo *ts, size_t nt, ferry_err *err)
{
	const char *params[1] = {c->schema};
	PGresult *res;
	int rc = ferry_pg__query(c, &res, checks_sql, 1, params, err, "read the check constraints");
	if (rc)
		return rc;
	for (int r = 0; r < PQntuples(res) && rc == 0; r++) {
		tinfo *ti = find_oid(ts, nt, (Oid)strtoul(PQgetvalue(res, r, 0), NULL, 10));
		ferry_check *k = ti ? ferry_table_add_check(s, ti->t, PQgetvalue(res, r, 1), PQgetvalue(res, r, 2)) : NULL;
		if (ti && !k)
			rc = OOM(err);
		else if (k)
			k->unvalidated = PQgetvalue(res, r, 3)[0] != 't';
	}
	PQclear(res);
	return rc;
}

/* Views, triggers, exclusion constraints and comments: not copied, and a run says so of
 * each (ferry's own fence triggers are not the application's), so that nothing of the
 * schema vanishes without a note. Columns' own collations are part of the columns
 * (ferry_column.collation): carried where the target has them, noted where not. */
static const char others_sql[] =
	"SELECT CASE c.relkind WHEN 'v' THEN 'view' ELSE 'materialized view' END, c.relname "
	"FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
	"WHERE n.nspname = $1 AND c.relkind IN ('v', 'm') "
	"UNION ALL SELECT 'trigger', t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
	"JOIN pg_namespace n ON n.oid = c.relnamespace "
	"WHERE n.nspname = $1 AND NOT t.tgisinternal AND t.tgname NOT LIKE 'ferry\\_%' "
	"AND c.relname NOT LIKE 'ferry\\_%' "
	"UNION ALL SELECT 'exclusion constraint', c.relname || '.' || k.conname FROM pg_constraint k "
	"JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
	"WHERE n.nspname = $1 AND k.contype = 'x' "
	"UNION ALL SELECT 'comment', c.relname || coalesce('.' || a.attname, '') FROM pg_description d "
	"JOIN pg_class c ON c.oid = d.objoid AND d.classoid = 'pg_class'::regclass "
	"JOIN pg_namespace n ON n.oid = c.relnamespace "
	"LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = d.objsubid AND d.objsubid > 0 "
	"WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND c.relname NOT LIKE 'ferry\\_%' "
	"ORDER BY 1, 2";

static int load_others(pg_conn *c, ferry_schema *s, ferry_err *err)
{
	const char *params[1] = {c->schema};
	PGresult *res;
	int rc = ferry_pg__query(c, &res, others_sql, 1, params, err, "read the views and triggers");
	if (rc)
		return rc;
	for (int r = 0; r < PQntuples(res) && rc == 0; r++)
		if (ferry_schema_add_other(s, PQgetvalue(res, r, 0), PQgetvalue(res, r, 1)) != 0)
			rc = OOM(err);
	PQclear(res);
	return rc;
}

static int load_fkeys(pg_conn *c, ferry_schema *s, tinfo *ts, size_t nt, ferry_err *err)
{
	const char *params[1] = {c->schema};
	PGresult *res;
	int rc = ferry_pg__query(c, &res, fkeys_sql, 1, params, err, "read the foreign keys");
	if (rc)
		return rc;
	ferry_fkey *fk = NULL;
	for (int r = 0; r < PQntuples(res) && rc == 0; r++) {
		tinfo *ti = find_oid(ts, nt, (Oid)strtoul(PQgetvalue(res, r, 0), NULL, 10));
		if (!ti)
			continue;
		int i = atoi(PQgetvalue(res, r, 6)) - 1;
		if (i == 0) {
			fk = ferry_table_add_fkey(s, ti->t, PQgetvalue(res, r, 2),
			                          (size_t)atoi(PQgetvalue(res, r, 5)));
			if (!fk) {
				rc = OOM(err);
				break;
			}
			fk->on_delete = action(s, PQgetvalue(res, r, 3)[0]);
			fk->on_update = action(s, PQgetvalue(res, r, 4)[0]);
		}
		if (!fk || i < 0 || (size_t)i >= fk->ncols)
			continue;
		fk->cols[i] = ferry_schema_strdup(s, PQgetvalue(res, r, 7));
		fk->ref_cols[i] = ferry_schema_strdup(s, PQgetvalue(res, r, 8));
		if (!fk->cols[i] || !fk->ref_cols[i])
			rc = OOM(err);
	}
	PQclear(res);
	return rc;
}

/* Does the schema hold table ferry_keys (primary keys waiting for the end of a load)? */
static int have_keys(pg_conn *c, int *out, ferry_err *err)
{
	ferry_buf b = FERRY_BUF_INIT;
	ferry_pg__buf_table(&b, c, "ferry_keys");
	if (b.failed)
		return OOM(err);
	const char *params[1] = {b.data};
	PGresult *res;
	int rc = ferry_pg__query(c, &res, "SELECT to_regclass($1) IS NOT NULL", 1, params, err,
	                         "read the pending keys");
	ferry_buf_free(&b);
	if (rc == 0) {
		*out = PQgetvalue(res, 0, 0)[0] == 't';
		PQclear(res);
	}
	return rc;
}

/* Run q over ferry_keys, which another process of the run may drop (when its load ends)
 * between have_keys and q: then *gone is 1 and *res NULL, and nothing failed. Inside a
 * transaction a savepoint keeps the failed read from spoiling it. */
static int keys_query(pg_conn *c, const char *q, int nparams, const char *const *params,
                      PGresult **res, int *gone, ferry_err *err)
{
	*gone = 0;
	*res = NULL;
	int in_txn = PQtransactionStatus(c->db) != PQTRANS_IDLE;
	if (in_txn && ferry_pg__exec(c, "SAVEPOINT ferry_keys_read", err, "read the pending keys") != 0)
		return err->code;
	int rc = ferry_pg__query(c, res, q, nparams, params, err, "read the pending keys");
	if (rc == 0) {
		if (in_txn)
			rc = ferry_pg__exec(c, "RELEASE SAVEPOINT ferry_keys_read", err, "read the pending keys");
		return rc;
	}
	ferry_err keep = *err;
	if (in_txn && ferry_pg__exec(c, "ROLLBACK TO SAVEPOINT ferry_keys_read", err, "read the pending keys") != 0)
		return err->code;
	int have = 1;
	if (have_keys(c, &have, err) != 0)
		return err->code;
	if (!have) {
		memset(err, 0, sizeof(*err));
		*gone = 1;
		return 0;
	}
	*err = keep;
	return rc;
}

/* A table whose primary key waits for the end of its load has that key all the same. */
static int load_pending_keys(pg_conn *c, ferry_schema *s, tinfo *ts, size_t nt, ferry_err *err)
{
	int have = 0;
	int rc = have_keys(c, &have, err);
	if (rc || !have)
		return rc;
	ferry_buf q = FERRY_BUF_INIT;
	ferry_buf_puts(&q, "SELECT k.table_name, u.col FROM ");
	ferry_pg__buf_table(&q, c, "ferry_keys");
	ferry_buf_puts(&q, " k, unnest(k.cols) WITH ORDINALITY AS u(col, i) ORDER BY k.table_name, u.i");
	if (q.failed)
		return OOM(err);
	PGresult *res;
	int gone = 0;
	rc = keys_query(c, q.data, 0, NULL, &res, &gone, err);
	ferry_buf_free(&q);
	if (rc || gone)
		return rc;
	int n = PQntuples(res);
	for (int r = 0; r < n && rc == 0;) {
		const char *name = PQgetvalue(res, r, 0);
		ferry_table *t = NULL;
		for (size_t i = 0; i < nt && !t; i++)
			if (strcmp(ts[i].t->name, name) == 0)
				t = ts[i].t;
		size_t pk[64], k = 0;
		int ok = t && t->npk == 0;
		for (; r < n && strcmp(PQgetvalue(res, r, 0), name) == 0; r++) {
			int ci = t ? ferry_table_column(t, PQgetvalue(res, r, 1)) : -1;
			ok &= ci >= 0 && k < 64;
			if (ok)
				pk[k++] = (size_t)ci;
		}
		if (ok && k && ferry_table_set_pk(s, t, pk, k) != 0)
			rc = OOM(err);
	}
	PQclear(res);
	return rc;
}

int ferry_pg__introspect(ferry_conn *conn, ferry_schema *out, ferry_err *err)
{
	pg_conn *c = PGC(conn);
	const char *params[1] = {c->schema};
	PGresult *res;
	int rc = ferry_pg__query(c, &res, tables_sql, 1, params, err, "read the tables");
	if (rc)
		return rc;
	size_t nt = (size_t)PQntuples(res);
	tinfo *ts = ferry__calloc(nt + 1, sizeof(tinfo));
	if (!ts) {
		PQclear(res);
		return OOM(err);
	}
	for (size_t i = 0; i < nt && rc == 0; i++) {
		ts[i].oid = (Oid)strtoul(PQgetvalue(res, (int)i, 0), NULL, 10);
		ferry_table *t = ferry_schema_add_table(out, PQgetvalue(res, (int)i, 1));
		if (!t) {
			rc = OOM(err);
			break;
		}
		int64_t est = strtoll(PQgetvalue(res, (int)i, 2), NULL, 10);
		t->est_rows = est >= 0 ? est : -1;
		t->origin = "postgres";
	}
	PQclear(res);
	/* Table pointers move while tables are added: take them once all are there. */
	for (size_t i = 0; i < nt && rc == 0; i++)
		ts[i].t = ferry_schema_table(out, ferry_schema_count(out) - nt + i);
	if (rc == 0)
		rc = load_columns(c, out, ts, nt, err);
	if (rc == 0)
		rc = load_indexes(c, out, ts, nt, err);
	if (rc == 0)
		rc = load_fkeys(c, out, ts, nt, err);
	if (rc == 0)
		rc = load_checks(c, out, ts, nt, err);
	if (rc == 0)
		rc = load_others(c, out, err);
	if (rc == 0)
		rc = load_pending_keys(c, out, ts, nt, err);
	for (size_t i = 0; i < nt; i++) {
		/* Tables without a primary key chunk by ctid. */
		if (rc == 0)
			ts[i].t->has_rowid = ts[i].t->npk == 0;
		free(ts[i].attnum);
	}
	free(ts);
	return rc;
}

/* ---- DDL --------------------------------------------------------------------------- */


/* A type declared in another engine that is PostgreSQL's own name for a type the canonical
 * types cannot say (bytea, interval, arrays, ...), or one of the exact float and decimal
 * types ferry declares in SQLite: what a table ferry created from PostgreSQL in SQLite
 * declares, so the way back restores it (numeric(30,10), real). NULL when not one; the
 * result may be buf (cap bytes). */
static const char *pg_decl_kept(const ferry_column *col, char *buf, size_t cap)
{
	/* ferry's exact SQLite types for PostgreSQL's floats and decimals (ferry__exact_decl). */
	const char *mod = "";
	switch (ferry__exact_kind(col->decl_type, &mod)) {
	case FERRY_EXACT_FLOAT8:
		return "double precision";
	case FERRY_EXACT_FLOAT4:
		return "real";
	case FERRY_EXACT_NUMERIC:
		snprintf(buf, cap, "numeric%s", strlen(mod) < cap - 8 ? mod : "");
		return buf;
	default:
		break;
	}
	static const char *const names[] = {
		"bytea", "interval", "timetz", "time with time zone", "inet", "cidr", "macaddr",
		"macaddr8", "xml", "money", "tsvector", "bit", "bit varying", "varbit", "jsonb"};
	const char *d = col->decl_type;
	if (!d || !*d)
		return NULL;
	size_t n = strcspn(d, "(");
	while (n && d[n - 1] == ' ')
		n--;
	for (size_t i = 0; i < FERRY_ARRAY_LEN(names); i++)
		if (strlen(names[i]) == n && strncasecmp(d, names[i], n) == 0)
			return d;
	size_t len = strlen(d);
	if (len > 2 && strcmp(d + len - 2, "[]") == 0 && strspn(d, "abcdefghijklmnopqrstuvwxyz ()0123456789,[]") == len)
		return d;
	return NULL;
}

static int run_ddl(pg_conn *c, ferry_buf *sql, ferry_err *err, const char *what, const char *name)
{
	if (sql->failed || !sql->data)
		return OOM(err);
	char w[400];
	snprintf(w, sizeof(w), "create %s \"%s\"", what, name);
	return ferry_pg__exec(c, sql->data, err, w);
}

static int try_sql(pg_conn *c, const char *sql, char *why, size_t cap, ferry_err *err);

/* A name of at most 63 bytes. PostgreSQL would cut a longer one, and "t..._pkey" cut to 63
 * bytes can be the (cut) table's own name; so a longer one is shortened as every long name
 * ferry creates is, a prefix and a hash of the whole name (ferry__ident_short). */
static void pg_name(char *out, const char *in)
{
	if (ferry__ident_short(out, NAMEDATALEN, in, NAMEDATALEN - 1) < 0)
		out[0] = '\0'; /* not reached: NAMEDATALEN bytes always hold the result */
}

/* Tell whoever listens (def->note) that part of def was not created, and why. */
static void pg_note(const ferry_table *def, const char *fmt, ...)
{
	if (!def->note)
		return;
	char line[1200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	def->note(def->note_ud, NULL, NULL, line);
}

/* Put COLLATE and col's collation after its type, the text of b from type_at on, when this
 * database has that collation (for its encoding) and the type takes one; otherwise say
 * so, and the column has its type's default: a collation never fails CREATE TABLE. */
static int put_collation(pg_conn *c, const ferry_table *def, const ferry_column *col,
                         ferry_buf *b, size_t type_at, ferry_err *err)
{
	if (!col->collation)
		return 0;
	if (b->failed)
		return OOM(err);
	char *type = ferry__strndup(b->data + type_at, b->len - type_at);
	if (!type)
		return OOM(err);
	const char *params[2] = {col->collation, type};
	PGresult *res;
	int rc = ferry_pg__query(c, &res,
	                         "SELECT EXISTS (SELECT 1 FROM pg_collation l "
	                         "JOIN pg_namespace n ON n.oid = l.collnamespace "
	                         "WHERE CASE WHEN n.nspname = 'pg_catalog' THEN quote_ident(l.collname) "
	                         "ELSE quote_ident(n.nspname) || '.' || quote_ident(l.collname) END = $1 "
	                         "AND l.collencoding IN (-1, pg_char_to_encoding(getdatabaseencoding()))), "
	                         "coalesce((SELECT typcollation <> 0 FROM pg_type WHERE oid = to_regtype($2)), false)",
	                         2, params, err, "read the collations");
	if (rc == 0) {
		int have = PQgetvalue(res, 0, 0)[0] == 't', takes = PQgetvalue(res, 0, 1)[0] == 't';
		PQclear(res);
		if (have && takes)
			ferry_buf_printf(b, " COLLATE %s", col->collation);
		else if (def->note) {
			char line[1200];
			if (have)
				snprintf(line, sizeof(line), "collation %s of column \"%s\" of \"%s\" is not created: its type %s takes no collation in %s",
				         col->collation, col->name, def->name, type, c->label);
			else
				snprintf(line, sizeof(line), "collation %s of column \"%s\" of \"%s\" is not created: %s has no such collation (the column has its type's default; CREATE COLLATION in the target before the copy, or declare the column in a target_schema)",
				         col->collation, col->name, def->name, c->label);
			def->note(def->note_ud, "collation_not_created", col->name, line);
		}
	}
	free(type);
	return rc;
}

/* The table's CHECK constraints, each on its own so a refused one (its expression is not
 * PostgreSQL's, or a type does not match) is noted and the others stay. */
static int add_checks(pg_conn *c, const ferry_table *def, ferry_err *err)
{
	ferry_buf b = FERRY_BUF_INIT;
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < def->nchecks; i++) {
		const ferry_check *k = &def->checks[i];
		ferry_buf_reset(&b);
		ferry_buf_puts(&b, "ALTER TABLE ");
		ferry_pg__buf_table(&b, c, def->name);
		ferry_buf_puts(&b, " ADD ");
		if (k->name) {
			char name[NAMEDATALEN];
			pg_name(name, k->name);
			ferry_buf_puts(&b, "CONSTRAINT ");
			ferry_pg__buf_ident(&b, name);
			ferry_buf_puts(&b, " ");
		}
		ferry_buf_printf(&b, "CHECK (%s)", k->expr);
		if (b.failed) {
			rc = OOM(err);
			break;
		}
		char why[600] = "";
		int t = try_sql(c, b.data, why, sizeof(why), err);
		if (t < 0)
			rc = t;
		else if (t == 1)
			pg_note(def, "check constraint %s%s%sof \"%s\" is not created: PostgreSQL refused CHECK (%s): %s",
			        k->name ? "\"" : "", k->name ? k->name : "", k->name ? "\" " : "", def->name, k->expr, why);
	}
	ferry_buf_free(&b);
	return rc;
}

static int is_rowid_alias(const ferry_table *def, const ferry_column *col)
{
	return def->npk == 1 && col->pk_pos == 1 && col->type == FERRY_INT && col->decl_type &&
	       strcasecmp(col->decl_type, "INTEGER") == 0;
}

/* Savepoint-guarded statement: 0 done, 1 refused by the server (rolled back), < 0 error. */
static int try_sql(pg_conn *c, const char *sql, char *why, size_t cap, ferry_err *err)
{
	int tx = PQtransactionStatus(c->db) == PQTRANS_INTRANS;
	int rc;
	if (tx && (rc = ferry_pg__exec(c, "SAVEPOINT ferry_ddl", err, "take a savepoint")) != 0)
		return rc;
	PGresult *res = PQexec(c->db, sql);
	int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	if (!ok && PQstatus(c->db) != CONNECTION_OK) {
		rc = ferry_pg__fail(c, res, err, "run sql");
		PQclear(res);
		return rc;
	}
	if (!ok && why)
		ferry_pg__message(c, res, why, cap);
	PQclear(res);
	if (tx)
		rc = ferry_pg__exec(c, ok ? "RELEASE SAVEPOINT ferry_ddl" : "ROLLBACK TO SAVEPOINT ferry_ddl",
		                    err, "release a savepoint");
	else
		rc = 0;
	return rc ? rc : ok ? 0 : 1;
}

/* A default given in another engine's SQL, kept when it is a plain literal PostgreSQL reads
 * the same way for the column's type. */
static int set_foreign_default(pg_conn *c, const ferry_table *def, const ferry_column *col,
                               ferry_err *err)
{
	ferry_buf b = FERRY_BUF_INIT;
	ferry_buf_puts(&b, "ALTER TABLE ");
	ferry_pg__buf_table(&b, c, def->name);
	ferry_buf_puts(&b, " ALTER COLUMN ");
	ferry_pg__buf_ident(&b, col->name);
	const char *d = col->default_sql;
	if (col->type == FERRY_BOOL && (strcmp(d, "0") == 0 || strcmp(d, "1") == 0))
		ferry_buf_printf(&b, " SET DEFAULT %s", d[0] == '1' ? "true" : "false");
	else
		ferry_buf_printf(&b, " SET DEFAULT (%s)::%s", d, ferry__coltype_default(col->type));
	if (b.failed)
		return OOM(err);
	int rc = try_sql(c, b.data, NULL, 0, err);
	ferry_buf_free(&b);
	return rc < 0 ? rc : 0;
}

/* A user-defined type of a definition from PostgreSQL is written as the source's
 * search_path saw it ("mood"). When the target does not see that name (another schema of
 * the same database), qualify it with the one schema that has a type of that name. */
/* The type of a column of a PostgreSQL definition, as this database can declare it: the type
 * itself when it exists here (qualified by its schema when off the search path); a type this
 * database does not have (an enum or a domain of another database) becomes the kind its
 * values are read as (an enum's labels as text, a domain as its base type), as for another
 * engine's definition, rather than a table that cannot be created. */
static int resolve_type(pg_conn *c, const ferry_column *col, ferry_buf *out, int *missing,
                        ferry_err *err)
{
	*missing = 0;
	const char *decl = col->decl_type && col->decl_type[0] ? col->decl_type : "text";
	const char *params[1] = {decl};
	PGresult *res;
	int rc = ferry_pg__query(c, &res, "SELECT to_regtype($1) IS NOT NULL", 1, params, err,
	                         "read the types");
	if (rc)
		return rc;
	int seen = PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	size_t base = strcspn(decl, "([");
	if (seen || base == 0 || decl[0] == '"' || strchr(decl, '.'))
		return ferry_buf_puts(out, decl) ? OOM(err) : 0;
	char name[NAMEDATALEN];
	snprintf(name, sizeof(name), "%.*s", (int)(base < NAMEDATALEN - 1 ? base : NAMEDATALEN - 1), decl);
	params[0] = name;
	rc = ferry_pg__query(c, &res, "SELECT n.nspname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
	                     "WHERE t.typname = $1", 1, params, err, "read the types");
	if (rc)
		return rc;
	int found = PQntuples(res);
	if (found == 1) {
		ferry_pg__buf_ident(out, PQgetvalue(res, 0, 0));
		ferry_buf_puts(out, ".");
	}
	PQclear(res);
	if (found == 0) {
		char buf[64];
		*missing = 1;
		const char *kept = pg_decl_kept(col, buf, sizeof(buf));
		return ferry_buf_puts(out, kept ? kept : ferry__coltype_default(col->type)) ? OOM(err) : 0;
	}
	return ferry_buf_puts(out, decl) ? OOM(err) : 0;
}

/* The default of a column whose type this database lacks (DEFAULT 'ok'::mood, the column
 * made text): a quoted literal without its casts, which the column's type reads alike;
 * any other expression may name the missing type, so none is written. */
static void put_uncast_default(ferry_buf *b, const char *d)
{
	if (d[0] != '\'')
		return;
	size_t i = 1;
	while (d[i] && !(d[i] == '\'' && d[i + 1] != '\''))
		i += d[i] == '\'' ? 2 : 1;
	if (d[i] != '\'')
		return;
	/* Only casts may follow: ("::" name)*, a name of letters, digits, _ . " ( ) and blanks. */
	for (const char *p = d + i + 1; *p;) {
		if (p[0] != ':' || p[1] != ':')
			return;
		p += 2;
		size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.\"() ");
		if (n == 0)
			return;
		p += n;
	}
	ferry_buf_printf(b, " DEFAULT %.*s", (int)(i + 1), d);
}

/* ---- primary keys after the load --------------------------------------------------- */

/* A table ferry creates gets its primary key after its rows, like pg_restore does: the
 * rows go in without index upkeep and the index is built once, sorted. That is only safe
 * while nothing can load a duplicate key: the rows of one source table whose own key is
 * this one. So the key waits in ferry_keys (created in the same transaction as the table)
 * and is built as soon as that stops being certain: a merge, or a second job writing the
 * table (writer_open), and otherwise by create_indexes after the load or by finish. */
/* ferry_keys is created by the first table whose key waits and dropped by finish once it is
 * empty, by any process of the run (--join: a joiner's finish, while the holder creates
 * ferry_history). A creator holds this transaction lock of the schema's ferry_keys until it
 * commits; finish drops the table only when it gets the lock at once. So a drop never
 * takes a row still uncommitted (a key lost with the table), and a creator never inserts
 * into a table being dropped (it waits, then creates the table anew). */
static int keys_lock(pg_conn *c, ferry_err *err)
{
	ferry_buf b = FERRY_BUF_INIT;
	ferry_pg__buf_table(&b, c, "ferry_keys");
	if (b.failed)
		return OOM(err);
	const char *params[1] = {b.data};
	PGresult *res = NULL;
	int rc = ferry_pg__query(c, &res, "SELECT pg_advisory_xact_lock(hashtext('ferry_keys ' || $1))", 1,
	                         params, err, "lock ferry_keys");
	PQclear(res);
	ferry_buf_free(&b);
	return rc;
}

static int defer_key_in(pg_conn *c, const ferry_table *def, ferry_err *err);
static int defer_key(pg_conn *c, const ferry_table *def, ferry_err *err)
{
	int own = PQtransactionStatus(c->db) == PQTRANS_IDLE;
	int rc = own ? ferry_pg__exec(c, "BEGIN", err, "begin a transaction") : 0;
	if (rc == 0)
		rc = keys_lock(c, err);
	if (rc == 0)
		rc = defer_key_in(c, def, err);
	if (own && rc == 0)
		rc = ferry_pg__exec(c, "COMMIT", err, "commit");
	else if (own)
		PQclear(PQexec(c->db, "ROLLBACK"));
	return rc;
}

static int defer_key_in(pg_conn *c, const ferry_table *def, ferry_err *err)
{
	ferry_buf b = FERRY_BUF_INIT, cols = FERRY_BUF_INIT, name = FERRY_BUF_INIT;
	ferry_buf_puts(&b, "CREATE TABLE IF NOT EXISTS ");
	ferry_pg__buf_table(&b, c, "ferry_keys");
	ferry_buf_puts(&b, "(table_name text PRIMARY KEY, cols text[] NOT NULL, sql text NOT NULL)");
	int rc = b.failed ? OOM(err) : ferry_pg__exec(c, b.data, err, "create ferry_keys");
	char cname[NAMEDATALEN];
	ferry_buf_printf(&name, "%s_pkey", def->name);
	if (name.failed) {
		ferry_buf_free(&b);
		return OOM(err);
	}
	pg_name(cname, name.data);
	ferry_buf_free(&name);
	ferry_buf_reset(&b);
	ferry_buf_puts(&b, "ALTER TABLE ");
	ferry_pg__buf_table(&b, c, def->name);
	ferry_buf_puts(&b, " ADD CONSTRAINT ");
	ferry_pg__buf_ident(&b, cname);
	ferry_buf_puts(&b, " PRIMARY KEY (");
	ferry_buf_puts(&cols, "{");
	for (size_t i = 0; i < def->npk; i++) {
		const char *k = def->cols[def->pk[i]].name;
		ferry_buf_puts(&b, i ? ", " : "");
		ferry_pg__buf_ident(&b, k);
		/* an array literal element: "..." with \ and " escaped */
		ferry_buf_puts(&cols, i ? ",\"" : "\"");
		for (const char *p = k; *p; p++) {
			if (*p == '"' || *p == '\\')
				ferry_buf_add(&cols, "\\", 1);
			ferry_buf_add(&cols, p, 1);
		}
		ferry_buf_puts(&cols, "\"");
	}
	ferry_buf_puts(&b, ")");
	ferry_buf_puts(&cols, "}");
	if (rc == 0 && (b.failed || cols.failed))
		rc = OOM(err);
	if (rc == 0) {
		ferry_buf q = FERRY_BUF_INIT;
		ferry_buf_puts(&q, "INSERT INTO ");
		ferry_pg__buf_table(&q, c, "ferry_keys");
		ferry_buf_puts(&q, " VALUES ($1, $2, $3) ON CONFLICT (table_name) DO UPDATE SET cols = EXCLUDED.cols, sql = EXCLUDED.sql");
		const char *params[3] = {def->name, cols.data, b.data};
		PGresult *res = NULL;
		rc = q.failed ? OOM(err) : ferry_pg__query(c, &res, q.data, 3, params, err, "record a primary key for after the load");
		PQclear(res);
		ferry_buf_free(&q);
	}
	ferry_buf_free(&b);
	ferry_buf_free(&cols);
	return rc;
}

int ferry_pg__ensure_key(pg_conn *c, const char *table, ferry_err *err)
{
	int have = 0;
	int rc = have_keys(c, &have, err);
	if (rc || !have)
		return rc;
	int own = PQtransactionStatus(c->db) == PQTRANS_IDLE;
	if (own && (rc = ferry_pg__exec(c, "BEGIN", err, "begin a transaction")) != 0)
		return rc;
	ferry_buf q = FERRY_BUF_INIT;
	ferry_buf_puts(&q, "SELECT table_name, sql FROM ");
	ferry_pg__buf_table(&q, c, "ferry_keys");
	ferry_buf_puts(&q, table ? " WHERE table_name = $1 FOR UPDATE" : " ORDER BY table_name FOR UPDATE");
	const char *params[1] = {table};
	PGresult *res = NULL;
	int dropped = 0;
	rc = q.failed ? OOM(err) : keys_query(c, q.data, table ? 1 : 0, params, &res, &dropped, err);
	for (int r = 0; rc == 0 && !dropped && r < PQntuples(res); r++) {
		const char *name = PQgetvalue(res, r, 0);
		/* A table dropped since (a half-loaded one abandoned by its owner) has no key to
		 * build: its pending key goes, instead of failing every later run. */
		const char *pn[1] = {name};
		PGresult *ex = NULL;
		rc = ferry_pg__query(c, &ex, "SELECT to_regclass(quote_ident($1)) IS NOT NULL", 1, pn, err,
		                     "look the table up");
		int gone = rc == 0 && PQgetvalue(ex, 0, 0)[0] != 't';
		PQclear(ex);
		if (rc)
			break;
		PGresult *x = gone ? NULL : PQexec(c->db, PQgetvalue(res, r, 1));
		if (x && PQresultStatus(x) != PGRES_COMMAND_OK) {
			char why[600];
			ferry_pg__message(c, x, why, sizeof(why));
			rc = ferry_err_set(err, FERRY_ERROR, "could not create the primary key of table \"%s\" in %s after the load: %s",
			                   name, c->label, why);
		}
		PQclear(x);
		if (rc == 0) {
			ferry_buf_reset(&q);
			ferry_buf_puts(&q, "DELETE FROM ");
			ferry_pg__buf_table(&q, c, "ferry_keys");
			ferry_buf_puts(&q, " WHERE table_name = $1");
			const char *p1[1] = {name};
			PGresult *d = NULL;
			rc = q.failed ? OOM(err) : ferry_pg__query(c, &d, q.data, 1, p1, err, "record a primary key");
			PQclear(d);
		}
	}
	PQclear(res);
	ferry_buf_free(&q);
	if (own) {
		if (rc == 0)
			rc = ferry_pg__exec(c, "COMMIT", err, "commit");
		else
			PQclear(PQexec(c->db, "ROLLBACK"));
	}
	return rc;
}

int ferry_pg__shared_table(pg_conn *c, const char *table, int *out, ferry_err *err)
{
	*out = 0;
	ferry_buf q = FERRY_BUF_INIT;
	ferry_pg__buf_table(&q, c, "ferry_progress");
	if (q.failed)
		return OOM(err);
	const char *params[1] = {q.data};
	PGresult *res;
	int rc = ferry_pg__query(c, &res, "SELECT to_regclass($1) IS NOT NULL", 1, params, err, "read the run state");
	int have = rc == 0 && PQgetvalue(res, 0, 0)[0] == 't';
	if (rc == 0)
		PQclear(res);
	if (rc || !have) {
		ferry_buf_free(&q);
		return rc;
	}
	ferry_buf_reset(&q);
	/* Two runs writing one table (a crashed run, then another plan) share it as two jobs do. */
	ferry_buf_puts(&q, "SELECT count(DISTINCT (run_id, job_name)) FROM ");
	ferry_pg__buf_table(&q, c, "ferry_progress");
	ferry_buf_puts(&q, " WHERE target = $1 OR target IS NULL");
	params[0] = table;
	rc = q.failed ? OOM(err) : ferry_pg__query(c, &res, q.data, 1, params, err, "read the run state");
	ferry_buf_free(&q);
	if (rc == 0) {
		*out = strtoll(PQgetvalue(res, 0, 0), NULL, 10) > 1;
		PQclear(res);
	}
	return rc;
}

/* Is a primary key of table waiting in ferry_keys? */
static int key_pending(pg_conn *c, const char *table, int *out, ferry_err *err)
{
	*out = 0;
	int have = 0;
	int rc = have_keys(c, &have, err);
	if (rc || !have)
		return rc;
	ferry_buf q = FERRY_BUF_INIT;
	ferry_buf_puts(&q, "SELECT 1 FROM ");
	ferry_pg__buf_table(&q, c, "ferry_keys");
	ferry_buf_puts(&q, " WHERE table_name = $1");
	const char *params[1] = {table};
	PGresult *res = NULL;
	int gone = 0;
	rc = q.failed ? OOM(err) : keys_query(c, q.data, 1, params, &res, &gone, err);
	ferry_buf_free(&q);
	if (rc == 0 && !gone)
		*out = PQntuples(res) > 0;
	PQclear(res);
	return rc;
}

int ferry_pg__key_for_writer(pg_conn *c, const char *table, int merge, ferry_err *err)
{
	int pending = 0, shared = 0;
	int rc = key_pending(c, table, &pending, err);
	if (rc || !pending)
		return rc;
	if (!merge && (rc = ferry_pg__shared_table(c, table, &shared, err)) != 0)
		return rc;
	return merge || shared ? ferry_pg__ensure_key(c, table, err) : 0;
}

int ferry_pg__create_table(ferry_conn *conn, const ferry_table *def, ferry_err *err)
{
	pg_conn *c = PGC(conn);
	int own = def->origin && strcmp(def->origin, "postgres") == 0;
	if (def->sql && own) {
		ferry_buf b = FERRY_BUF_INIT;
		ferry_buf_puts(&b, def->sql);
		int rc = run_ddl(c, &b, err, "table", def->name);
		ferry_buf_free(&b);
		return rc ? rc : ferry_pg__touch(c, def->name) ? OOM(err) : 0;
	}
	ferry_buf b = FERRY_BUF_INIT;
	ferry_buf_puts(&b, "CREATE TABLE ");
	ferry_pg__buf_table(&b, c, def->name);
	ferry_buf_puts(&b, " (");
	const char *sep = "";
	for (size_t i = 0; i < def->ncols; i++) {
		const ferry_column *col = &def->cols[i];
		if (col->generated)
			continue;
		ferry_buf_puts(&b, sep);
		sep = ", ";
		ferry_pg__buf_ident(&b, col->name);
		const char *d = col->default_sql;
		if (own) {
			ferry_buf_puts(&b, " ");
			size_t type_at = b.len;
			int missing;
			int rc = resolve_type(c, col, &b, &missing, err);
			if (rc == 0)
				rc = put_collation(c, def, col, &b, type_at, err);
			if (rc) {
				ferry_buf_free(&b);
				return rc;
			}
			/* A serial or identity column's sequence lives in the source database: the
			 * new table gets an identity of its own, set past the loaded keys by finish. */
			if (d && strncmp(d, "nextval(", 8) == 0)
				ferry_buf_puts(&b, " GENERATED BY DEFAULT AS IDENTITY");
			else if (d && missing)
				put_uncast_default(&b, d);
			else if (d)
				ferry_buf_printf(&b, " DEFAULT %s", d);
		} else {
			char buf[64];
			const char *kept = col->chosen ? col->decl_type : pg_decl_kept(col, buf, sizeof(buf));
			ferry_buf_puts(&b, " ");
			size_t type_at = b.len;
			ferry_buf_puts(&b, kept ? kept : ferry__coltype_default(col->type));
			int rc = put_collation(c, def, col, &b, type_at, err);
			if (rc) {
				ferry_buf_free(&b);
				return rc;
			}
			if (is_rowid_alias(def, col))
				ferry_buf_puts(&b, " GENERATED BY DEFAULT AS IDENTITY");
		}
		if (col->notnull || col->pk_pos > 0)
			ferry_buf_puts(&b, " NOT NULL");
	}
	ferry_buf_puts(&b, ")");
	int rc = run_ddl(c, &b, err, "table", def->name);
	ferry_buf_free(&b);
	if (rc == 0 && def->npk)
		rc = defer_key(c, def, err);
	/* Another engine's defaults: each where PostgreSQL accepts it for the column type. */
	for (size_t i = 0; rc == 0 && !own && i < def->ncols; i++) {
		const ferry_column *col = &def->cols[i];
		if (!col->generated && col->default_sql && !is_rowid_alias(def, col))
			rc = set_foreign_default(c, def, col, err);
	}
	if (rc == 0)
		rc = add_checks(c, def, err);
	if (rc == 0 && ferry_pg__touch(c, def->name) != 0)
		rc = OOM(err);
	return rc;
}

/* Who owns index (or constraint) `name` in the schema: 0 nobody, 1 table, 2 another table
 * (named in other). */
static int name_owner(pg_conn *c, const char *name, const char *table, int constraint,
                      char *other, size_t cap, ferry_err *err)
{
	const char *params[2] = {name, c->schema};
	PGresult *res;
	int rc = ferry_pg__query(c, &res, constraint
	                         ? "SELECT cl.relname FROM pg_constraint con JOIN pg_class cl ON cl.oid = con.conrelid "
	                           "JOIN pg_namespace n ON n.oid = cl.relnamespace WHERE con.conname = $1 AND n.nspname = $2"
	                         : "SELECT t.relname FROM pg_class i JOIN pg_index x ON x.indexrelid = i.oid "
	                           "JOIN pg_class t ON t.oid = x.indrelid JOIN pg_namespace n ON n.oid = i.relnamespace "
	                           "WHERE i.relname = $1 AND n.nspname = $2",
	                         2, params, err, "read the schema");
	if (rc)
		return rc;
	rc = 0;
	for (int r = 0; r < PQntuples(res) && rc != 1; r++) {
		rc = strcmp(PQgetvalue(res, r, 0), table) == 0 ? 1 : 2;
		if (rc == 2)
			snprintf(other, cap, "%s", PQgetvalue(res, r, 0));
	}
	PQclear(res);
	return rc;
}

/* PostgreSQL's own CREATE INDEX text pointed at this table: the part between ON [ONLY]
 * and USING is replaced, IF NOT EXISTS added. */
static int retarget_index(ferry_buf *b, pg_conn *c, const char *sql, const char *table)
{
	const char *on = strstr(sql, " ON ");
	const char *using = on ? strstr(on, " USING ") : NULL;
	const char *idx = strstr(sql, "INDEX ");
	if (!on || !using || !idx || idx > on)
		return -1;
	ferry_buf_add(b, sql, (size_t)(idx - sql) + 6);
	ferry_buf_puts(b, "IF NOT EXISTS ");
	ferry_buf_add(b, idx + 6, (size_t)(on - idx - 6));
	ferry_buf_puts(b, " ON ");
	ferry_pg__buf_table(b, c, table);
	ferry_buf_puts(b, using);
	return 0;
}

static int add_fk(pg_conn *c, const char *table, const char *name, const char *sql, int added)
{
	for (size_t i = 0; i < c->nfks; i++)
		if (strcmp(c->fks[i].table, table) == 0 && strcmp(c->fks[i].name, name) == 0) {
			c->fks[i].added |= added;
			return 0;
		}
	if (ferry__grow(&c->fks, &c->fks_cap, c->nfks + 1, sizeof(pg_fk)) != 0)
		return FERRY_ENOMEM;
	pg_fk *f = &c->fks[c->nfks];
	f->table = ferry__strdup(table);
	f->name = ferry__strdup(name);
	f->sql = ferry__strdup(sql);
	f->added = added;
	if (!f->table || !f->name || !f->sql) {
		free(f->table);
		free(f->name);
		free(f->sql);
		return FERRY_ENOMEM;
	}
	c->nfks++;
	return 0;
}

/* Add the pending foreign keys whose parents are ready. A parent that lacks its key or
 * unique index, or the table, keeps it pending; other refusals are errors. */
static int retry_fks(pg_conn *c, int final, ferry_err *err)
{
	for (size_t i = 0; i < c->nfks; i++) {
		pg_fk *f = &c->fks[i];
		if (f->added)
			continue;
		char why[600] = "";
		int tx = PQtransactionStatus(c->db) == PQTRANS_INTRANS;
		int rc = 0;
		if (tx && (rc = ferry_pg__exec(c, "SAVEPOINT ferry_ddl", err, "take a savepoint")) != 0)
			return rc;
		PGresult *res = PQexec(c->db, f->sql);
		int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
		const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		/* 42830: no unique index matches; 42704: no primary key (yet); 42P01: no table */
		int wait = st && (strcmp(st, "42830") == 0 || strcmp(st, "42704") == 0 ||
		                  strcmp(st, "42P01") == 0);
		if (!ok)
			ferry_pg__message(c, res, why, sizeof(why));
		if (!ok && PQstatus(c->db) != CONNECTION_OK) {
			rc = ferry_pg__fail(c, res, err, "create foreign key \"%s\" of table \"%s\"", f->name, f->table);
			PQclear(res);
			return rc;
		}
		PQclear(res);
		if (tx && (rc = ferry_pg__exec(c, ok ? "RELEASE SAVEPOINT ferry_ddl" : "ROLLBACK TO SAVEPOINT ferry_ddl",
		                               err, "release a savepoint")) != 0)
			return rc;
		if (ok) {
			f->added = 1;
		} else if (!wait || final) {
			return ferry_err_set(err, FERRY_ERROR, "could not create foreign key \"%s\" of table \"%s\" in %s: %s",
			                     f->name, f->table, c->label, why);
		}
	}
	return 0;
}

int ferry_pg__create_indexes(ferry_conn *conn, const ferry_table *def, ferry_err *err)
{
	pg_conn *c = PGC(conn);
	int own = def->origin && strcmp(def->origin, "postgres") == 0;
	ferry_buf b = FERRY_BUF_INIT;
	int rc = ferry_pg__ensure_key(c, def->name, err);
	for (size_t i = 0; rc == 0 && i < def->nidx; i++) {
		const ferry_index *x = &def->idx[i];
		char name[NAMEDATALEN], other[256];
		ferry_buf_reset(&b);
		if (!own && strncasecmp(x->name, "sqlite_", 7) == 0) {
			/* A UNIQUE constraint's automatic index: name it after table and columns. */
			ferry_buf nb = FERRY_BUF_INIT;
			ferry_buf_puts(&nb, def->name);
			for (size_t k = 0; k < x->ncols; k++)
				ferry_buf_printf(&nb, "_%s", x->cols[k]);
			ferry_buf_puts(&nb, "_key");
			if (nb.failed)
				return OOM(err);
			pg_name(name, nb.data);
			ferry_buf_free(&nb);
		} else {
			pg_name(name, x->name);
		}
		int owner = name_owner(c, name, def->name, 0, other, sizeof(other), err);
		if (owner < 0) {
			rc = owner;
			break;
		}
		if (owner == 1)
			continue;
		if (owner == 2) {
			rc = ferry_err_set(err, FERRY_ERROR, "could not create index \"%s\" on table \"%s\" in %s: an index of that name exists on table \"%s\"",
			                   name, def->name, c->label, other);
			break;
		}
		int foreign_sql = 0;
		if (own && x->sql) {
			if (retarget_index(&b, c, x->sql, def->name) != 0) {
				pg_note(def, "index \"%s\" of \"%s\" is not created: its definition could not be read", x->name, def->name);
				continue;
			}
		} else {
			/* From its parts: expressions and the predicate are SQL the caller gave in
			 * PostgreSQL's dialect, which the server may still refuse (a type that differs
			 * from the source's): noted, not fatal. */
			ferry_buf_printf(&b, "CREATE %sINDEX IF NOT EXISTS ", x->unique ? "UNIQUE " : "");
			ferry_pg__buf_ident(&b, name);
			ferry_buf_puts(&b, " ON ");
			ferry_pg__buf_table(&b, c, def->name);
			ferry_buf_puts(&b, " (");
			for (size_t k = 0; k < x->ncols; k++) {
				if (k)
					ferry_buf_puts(&b, ", ");
				if (x->opts[k] & FERRY_INDEX_EXPR)
					ferry_buf_printf(&b, "(%s)", x->cols[k]);
				else
					ferry_pg__buf_ident(&b, x->cols[k]);
				if (x->opts[k] & FERRY_INDEX_DESC)
					ferry_buf_puts(&b, " DESC");
			}
			ferry_buf_puts(&b, ")");
			if (x->where)
				ferry_buf_printf(&b, " WHERE %s", x->where);
			foreign_sql = x->exprs || x->where;
		}
		if (b.failed) {
			rc = OOM(err);
			break;
		}
		if (foreign_sql) {
			char why[600] = "";
			int t = try_sql(c, b.data, why, sizeof(why), err);
			rc = t < 0 ? t : 0;
			if (t == 1)
				pg_note(def, "index \"%s\" of \"%s\" is not created: PostgreSQL refused %s: %s",
				        x->name, def->name, b.data, why);
		} else {
			rc = run_ddl(c, &b, err, "index", name);
		}
		if (rc == 0 && x->constraint && x->unique && !x->exprs && !x->where) {
			/* A UNIQUE constraint again, on the index just built (no second scan). */
			ferry_buf_reset(&b);
			ferry_buf_puts(&b, "ALTER TABLE ");
			ferry_pg__buf_table(&b, c, def->name);
			ferry_buf_puts(&b, " ADD CONSTRAINT ");
			ferry_pg__buf_ident(&b, name);
			ferry_buf_puts(&b, " UNIQUE USING INDEX ");
			ferry_pg__buf_ident(&b, name);
			char why[600] = "";
			int t = b.failed ? OOM(err) : try_sql(c, b.data, why, sizeof(why), err);
			rc = t < 0 ? t : 0;
			if (t == 1)
				pg_note(def, "unique constraint \"%s\" of \"%s\" is a unique index: PostgreSQL refused the constraint: %s",
				        name, def->name, why);
		}
	}
	/* Foreign keys come after the rows, NOT VALID: fk_check counts the rows that break
	 * them and validates the ones that hold. */
	for (size_t f = 0; rc == 0 && f < def->nfks; f++) {
		const ferry_fkey *k = &def->fks[f];
		ferry_buf nb = FERRY_BUF_INIT;
		ferry_buf_puts(&nb, def->name);
		for (size_t j = 0; j < k->ncols; j++)
			ferry_buf_printf(&nb, "_%s", k->cols[j]);
		ferry_buf_puts(&nb, "_fkey");
		if (nb.failed)
			return OOM(err);
		char name[NAMEDATALEN], other[256];
		pg_name(name, nb.data);
		ferry_buf_free(&nb);
		int owner = name_owner(c, name, def->name, 1, other, sizeof(other), err);
		if (owner < 0) {
			rc = owner;
			break;
		}
		ferry_buf_reset(&b);
		ferry_buf_puts(&b, "ALTER TABLE ");
		ferry_pg__buf_table(&b, c, def->name);
		ferry_buf_puts(&b, " ADD CONSTRAINT ");
		ferry_pg__buf_ident(&b, name);
		ferry_buf_puts(&b, " FOREIGN KEY (");
		int parent_cols = k->ncols > 0;
		for (size_t j = 0; j < k->ncols; j++) {
			ferry_buf_puts(&b, j ? ", " : "");
			ferry_pg__buf_ident(&b, k->cols[j]);
			parent_cols &= k->ref_cols[j] != NULL;
		}
		ferry_buf_puts(&b, ") REFERENCES ");
		ferry_pg__buf_table(&b, c, k->ref_table);
		if (parent_cols) {
			ferry_buf_puts(&b, " (");
			for (size_t j = 0; j < k->ncols; j++) {
				ferry_buf_puts(&b, j ? ", " : "");
				ferry_pg__buf_ident(&b, k->ref_cols[j]);
			}
			ferry_buf_puts(&b, ")");
		}
		if (k->on_delete)
			ferry_buf_printf(&b, " ON DELETE %s", k->on_delete);
		if (k->on_update)
			ferry_buf_printf(&b, " ON UPDATE %s", k->on_update);
		ferry_buf_puts(&b, " NOT VALID");
		if (b.failed || add_fk(c, def->name, name, b.data, owner == 1) != 0)
			rc = OOM(err);
	}
	ferry_buf_free(&b);
	if (rc == 0)
		rc = retry_fks(c, 0, err);
	return rc;
}

/* ---- after the load ---------------------------------------------------------------- */

int ferry_pg__fk_check(ferry_conn *conn, const char *table, int64_t *violations,
                       ferry_err *err)
{
	pg_conn *c = PGC(conn);
	*violations = 0;
	int rc = retry_fks(c, 1, err);
	if (rc)
		return rc;
	if (ferry_pg__touch(c, table) != 0)
		return OOM(err);
	ferry_buf q = FERRY_BUF_INIT;
	ferry_pg__buf_table(&q, c, table);
	if (q.failed)
		return OOM(err);
	const char *params[1] = {q.data};
	char what[300];
	snprintf(what, sizeof(what), "check the foreign keys of table \"%s\"", table);
	PGresult *res;
	rc = ferry_pg__query(c, &res,
	                     "SELECT con.conname, con.convalidated, con.confrelid::regclass::text, "
	                     "quote_ident(a.attname), quote_ident(fa.attname) "
	                     "FROM pg_constraint con "
	                     "CROSS JOIN LATERAL unnest(con.conkey, con.confkey) WITH ORDINALITY AS k(ck, fk, i) "
	                     "JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.ck "
	                     "JOIN pg_attribute fa ON fa.attrelid = con.confrelid AND fa.attnum = k.fk "
	                     "WHERE con.conrelid = $1::regclass AND con.contype = 'f' "
	                     "ORDER BY con.conname, k.i", 1, params, err, what);
	ferry_buf_free(&q);
	if (rc)
		return rc;
	ferry_buf b = FERRY_BUF_INIT, cond = FERRY_BUF_INIT, nn = FERRY_BUF_INIT;
	int n = PQntuples(res);
	for (int r = 0; r < n && rc == 0;) {
		const char *name = PQgetvalue(res, r, 0);
		int valid = PQgetvalue(res, r, 1)[0] == 't';
		const char *parent = PQgetvalue(res, r, 2);
		ferry_buf_reset(&cond);
		ferry_buf_reset(&nn);
		int end = r;
		for (; end < n && strcmp(PQgetvalue(res, end, 0), name) == 0; end++) {
			ferry_buf_printf(&nn, " AND ferry_c.%s IS NOT NULL", PQgetvalue(res, end, 3));
			ferry_buf_printf(&cond, "%sferry_p.%s = ferry_c.%s", end > r ? " AND " : "",
			                 PQgetvalue(res, end, 4), PQgetvalue(res, end, 3));
		}
		ferry_buf_reset(&b);
		ferry_buf_puts(&b, "SELECT count(*) FROM ");
		ferry_pg__buf_table(&b, c, table);
		ferry_buf_printf(&b, " AS ferry_c WHERE true%s AND NOT EXISTS (SELECT 1 FROM %s AS ferry_p WHERE %s)",
		                 nn.data, parent, cond.data);
		if (b.failed || cond.failed || nn.failed) {
			rc = OOM(err);
			break;
		}
		PGresult *cnt;
		if ((rc = ferry_pg__query(c, &cnt, b.data, 0, NULL, err, what)) != 0)
			break;
		int64_t k = strtoll(PQgetvalue(cnt, 0, 0), NULL, 10);
		PQclear(cnt);
		*violations += k;
		/* A key ferry added NOT VALID that every row honours becomes a valid one. */
		int ours = 0;
		for (size_t f = 0; f < c->nfks; f++)
			ours |= c->fks[f].added && strcmp(c->fks[f].table, table) == 0 &&
			        strcmp(c->fks[f].name, name) == 0;
		if (ours && !valid && k == 0) {
			ferry_buf_reset(&b);
			ferry_buf_puts(&b, "ALTER TABLE ");
			ferry_pg__buf_table(&b, c, table);
			ferry_buf_puts(&b, " VALIDATE CONSTRAINT ");
			ferry_pg__buf_ident(&b, name);
			rc = b.failed ? OOM(err) : ferry_pg__exec(c, b.data, err, what);
		}
		r = end;
	}
	PQclear(res);
	ferry_buf_free(&b);
	ferry_buf_free(&cond);
	ferry_buf_free(&nn);
	return rc;
}

/* Move the sequence of each identity or serial column of table past its highest value,
 * then ANALYZE the table. */
static int finish_table(pg_conn *c, const char *table, ferry_err *err)
{
	ferry_buf q = FERRY_BUF_INIT;
	ferry_pg__buf_table(&q, c, table);
	if (q.failed)
		return OOM(err);
	const char *params[1] = {q.data};
	char what[300];
	snprintf(what, sizeof(what), "finish table \"%s\"", table);
	PGresult *res;
	int rc = ferry_pg__query(c, &res,
	                         "SELECT quote_ident(a.attname), s.seqrelid::regclass::text "
	                         "FROM pg_attribute a "
	                         "JOIN pg_sequence s ON s.seqrelid = pg_get_serial_sequence($1, a.attname)::regclass "
	                         "WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped "
	                         "AND pg_get_serial_sequence($1, a.attname) IS NOT NULL AND s.seqincrement > 0",
	                         1, params, err, what);
	if (rc) {
		ferry_buf_free(&q);
		return rc;
	}
	ferry_buf b = FERRY_BUF_INIT;
	for (int r = 0; r < PQntuples(res) && rc == 0; r++) {
		const char *col = PQgetvalue(res, r, 0), *seq = PQgetvalue(res, r, 1);
		ferry_buf_reset(&b);
		ferry_buf_puts(&b, "SELECT setval(");
		ferry_pg__buf_literal(&b, seq, strlen(seq));
		ferry_buf_printf(&b, ", m) FROM (SELECT max(%s)::bigint AS m FROM %s) x, %s s "
		                 "WHERE m IS NOT NULL AND (m > s.last_value OR (NOT s.is_called AND m >= s.last_value))",
		                 col, q.data, seq);
		rc = b.failed ? OOM(err) : ferry_pg__exec(c, b.data, err, what);
	}
	PQclear(res);
	if (rc == 0) {
		ferry_buf_reset(&b);
		ferry_buf_printf(&b, "ANALYZE %s", q.data);
		rc = b.failed ? OOM(err) : ferry_pg__exec(c, b.data, err, what);
	}
	ferry_buf_free(&b);
	ferry_buf_free(&q);
	return rc;
}

int ferry_pg__finish(ferry_conn *conn, ferry_err *err)
{
	pg_conn *c = PGC(conn);
	int rc = 0;
	if (PQtransactionStatus(c->db) != PQTRANS_IDLE)
		return ferry_err_set(err, FERRY_EUSAGE, "cannot finish the load in %s: a transaction is open", c->label);
	/* A key still waiting (a table of an earlier, unfinished run) is built now; then the
	 * bookkeeping table goes. */
	rc = ferry_pg__ensure_key(c, NULL, err);
	int have = 0;
	if (rc == 0)
		rc = have_keys(c, &have, err);
	if (rc == 0 && have) {
		/* Only when nothing else is at it (keys_lock free, no transaction holding the table):
		 * a drop never waits, so never deadlocks with a run's preparation that read the
		 * table; an empty ferry_keys left behind goes at a later finish. */
		ferry_buf b = FERRY_BUF_INIT, name = FERRY_BUF_INIT, lit = FERRY_BUF_INIT;
		ferry_pg__buf_table(&name, c, "ferry_keys");
		ferry_pg__buf_literal(&lit, name.data ? name.data : "", name.len);
		ferry_buf_printf(&b, "DO $$BEGIN IF pg_try_advisory_xact_lock(hashtext('ferry_keys ' || %s)) "
		                 "AND to_regclass(%s) IS NOT NULL THEN LOCK TABLE %s IN ACCESS EXCLUSIVE MODE NOWAIT; "
		                 "IF NOT EXISTS (SELECT 1 FROM %s) THEN DROP TABLE %s; END IF; END IF; "
		                 "EXCEPTION WHEN lock_not_available THEN NULL; END$$",
		                 lit.data, lit.data, name.data, name.data, name.data);
		rc = b.failed || name.failed || lit.failed ? OOM(err) : ferry_pg__exec(c, b.data, err, "drop ferry_keys");
		ferry_buf_free(&b);
		ferry_buf_free(&name);
		ferry_buf_free(&lit);
	}
	for (size_t i = 0; i < c->ntouched && rc == 0; i++)
		rc = finish_table(c, c->touched[i], err);
	return rc;
}
