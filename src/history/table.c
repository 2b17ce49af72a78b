/* table.c — the ferry_history table: an engine-neutral definition created through the
 * engine's create_table, rows read with reader_open and written with exec_params ($1, $2, ...
 * parameters), so the same code keeps the record of upgrades on every engine. */
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "history.h"

#define OOM(err) ferry_err_set((err), FERRY_ENOMEM, "out of memory")

/* The columns, in the order read and written. decl is what SQLite declares; other engines
 * map the canonical type (the definition has no origin). */
static const struct hist_col {
	const char *name;
	const char *decl;
	ferry_type type;
	int notnull;
} hist_cols[] = {
	{"installed_rank", "INTEGER", FERRY_INT, 1},
	{"version", "TEXT", FERRY_TEXT, 0},
	{"description", "TEXT", FERRY_TEXT, 1},
	{"kind", "TEXT", FERRY_TEXT, 1},
	{"script", "TEXT", FERRY_TEXT, 0},
	{"checksum", "TEXT", FERRY_TEXT, 0},
	{"checksum_algo", "TEXT", FERRY_TEXT, 0},
	{"applied_at", "TIMESTAMPTZ", FERRY_TIMESTAMPTZ, 1},
	{"applied_by", "TEXT", FERRY_TEXT, 1},
	{"duration_ms", "INTEGER", FERRY_INT, 1},
	{"success", "BOOLEAN", FERRY_BOOL, 1},
	{"ferry_version", "TEXT", FERRY_TEXT, 1},
	{"run_id", "TEXT", FERRY_TEXT, 0},
	{"rows_moved", "INTEGER", FERRY_INT, 0},
	{"verdict", "TEXT", FERRY_TEXT, 0},
};
#define NCOLS FERRY_ARRAY_LEN(hist_cols)

static const char insert_sql[] =
	"INSERT INTO " FERRY_HISTORY_TABLE " (installed_rank, version, description, kind, script, "
	"checksum, checksum_algo, applied_at, applied_by, duration_ms, success, ferry_version, "
	"run_id, rows_moved, verdict) VALUES ((SELECT coalesce(max(installed_rank), 0) + 1 FROM "
	FERRY_HISTORY_TABLE "), $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)";

int ferry__hist_create(ferry_conn *c, const ferry_engine *eng, ferry_err *err)
{
	ferry_schema *s = ferry__schema_new();
	ferry_table *t = s ? ferry_schema_add_table(s, FERRY_HISTORY_TABLE) : NULL;
	int rc = t ? 0 : OOM(err);
	for (size_t i = 0; rc == 0 && i < NCOLS; i++) {
		ferry_column *col = ferry_table_add_column(s, t, hist_cols[i].name, hist_cols[i].decl,
		                                           hist_cols[i].type);
		if (!col)
			rc = OOM(err);
		else
			col->notnull = hist_cols[i].notnull;
	}
	size_t pk = 0;
	if (rc == 0 && ferry_table_set_pk(s, t, &pk, 1) != 0)
		rc = OOM(err);
	if (rc == 0) {
		t->has_rowid = 1;
		rc = eng->write->create_table(c, t, err);
	}
	ferry__schema_free(s);
	return rc;
}

void ferry__hist_user(char *out, size_t cap)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	if (getpwuid_r(geteuid(), &pw, buf, sizeof(buf), &res) == 0 && res && res->pw_name &&
	    res->pw_name[0]) {
		snprintf(out, cap, "%s", res->pw_name);
		return;
	}
	const char *u = getenv("USER");
	if (u && *u)
		snprintf(out, cap, "%s", u);
	else
		snprintf(out, cap, "uid %ld", (long)geteuid());
}

static void set_text(ferry_value *v, ferry_type t, const char *s)
{
	memset(v, 0, sizeof(*v));
	if (!s) {
		v->type = FERRY_NULL;
		return;
	}
	v->type = (uint8_t)t;
	v->v.s = s;
	v->len = (uint32_t)strlen(s);
}

static void set_int(ferry_value *v, ferry_type t, int64_t i)
{
	memset(v, 0, sizeof(*v));
	v->type = (uint8_t)t;
	v->v.i = i;
}

int ferry__hist_insert(ferry_conn *c, const ferry_engine *eng, const ferry_hist_row *row,
                       ferry_err *err)
{
	if (!eng->core->exec_params)
		return ferry_err_set(err, FERRY_EUSAGE,
		                     "cannot write ferry_history with engine \"%s\": it has no exec_params",
		                     eng->name);
	char now[32], user[256];
	ferry__utc_iso(now);
	ferry__hist_user(user, sizeof(user));
	ferry_value p[NCOLS - 1];
	set_text(&p[0], FERRY_TEXT, row->version);
	set_text(&p[1], FERRY_TEXT, row->description ? row->description : "");
	set_text(&p[2], FERRY_TEXT, row->kind);
	set_text(&p[3], FERRY_TEXT, row->script);
	set_text(&p[4], FERRY_TEXT, row->checksum);
	set_text(&p[5], FERRY_TEXT, row->checksum ? (row->checksum_algo ? row->checksum_algo : "sha256")
	                                          : NULL);
	set_text(&p[6], FERRY_TIMESTAMPTZ, row->applied_at ? row->applied_at : now);
	set_text(&p[7], FERRY_TEXT, row->applied_by ? row->applied_by : user);
	set_int(&p[8], FERRY_INT, row->duration_ms);
	set_int(&p[9], FERRY_BOOL, row->success != 0);
	set_text(&p[10], FERRY_TEXT, row->ferry_version ? row->ferry_version : FERRY_VERSION);
	set_text(&p[11], FERRY_TEXT, row->run_id);
	if (row->rows_moved >= 0)
		set_int(&p[12], FERRY_INT, row->rows_moved);
	else
		set_text(&p[12], FERRY_INT, NULL);
	set_text(&p[13], FERRY_TEXT, row->verdict);
	return eng->core->exec_params(c, insert_sql, NCOLS - 1, p, NULL, err);
}

/* ---- reading ----------------------------------------------------------------------- */

/* A value as text (NULL for SQL NULL), copied into the arena a; *oom set when a copy could
 * not be made. */
static char *val_str(ferry_arena *a, const ferry_value *v, int *oom)
{
	char num[64];
	const char *src;
	size_t len;
	switch (v->type) {
	case FERRY_NULL:
		return NULL;
	case FERRY_INT:
		len = (size_t)snprintf(num, sizeof(num), "%lld", (long long)v->v.i);
		src = num;
		break;
	case FERRY_BOOL:
		src = v->v.i ? "true" : "false";
		len = strlen(src);
		break;
	case FERRY_FLOAT:
		len = (size_t)snprintf(num, sizeof(num), "%.17g", v->v.f);
		src = num;
		break;
	case FERRY_BLOB:
		src = (const char *)v->v.b;
		len = v->len;
		break;
	default:
		src = v->v.s ? v->v.s : "";
		len = v->len;
		break;
	}
	char *s = ferry_arena_strndup(a, src, len);
	if (!s)
		*oom = 1;
	return s;
}

static int64_t val_int(const ferry_value *v, int64_t dflt)
{
	switch (v->type) {
	case FERRY_INT:
	case FERRY_BOOL:
		return v->v.i;
	case FERRY_FLOAT:
		return (int64_t)v->v.f;
	case FERRY_NULL:
		return dflt;
	default: {
		char num[32];
		size_t n = v->len < sizeof(num) - 1 ? v->len : sizeof(num) - 1;
		memcpy(num, v->v.s ? v->v.s : "", n);
		num[n] = '\0';
		char *end;
		long long x = strtoll(num, &end, 10);
		return end == num ? dflt : (int64_t)x;
	}
	}
}

static int val_bool(const ferry_value *v)
{
	if (v->type == FERRY_INT || v->type == FERRY_BOOL)
		return v->v.i != 0;
	if (v->type == FERRY_NULL || v->len == 0 || !v->v.s)
		return 0;
	char ch = v->v.s[0];
	return ch == 't' || ch == 'T' || ch == '1' || ch == 'y' || ch == 'Y';
}

/* applied_at in one form on every engine, ISO 8601 UTC to the second ("2026-12-03T08:07:18Z",
 * as ferry writes it): PostgreSQL's timestamptz reads back as "2026-12-03 08:07:18+00" (the
 * session is in UTC). Text in any other form is left as it is. */
static void iso_utc(char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n < 19 || (s[10] != ' ' && s[10] != 'T') || s[4] != '-' || s[13] != ':')
		return;
	const char *rest = s + 19;
	if (*rest == '.')
		for (rest++; *rest >= '0' && *rest <= '9'; rest++)
			;
	if (strcmp(rest, "Z") != 0 && strcmp(rest, "+00") != 0 && strcmp(rest, "+00:00") != 0)
		return; /* (n > 19 from here: s[20] is inside the string or its NUL) */
	s[10] = 'T';
	s[19] = 'Z';
	s[20] = '\0';
}

static int row_from(ferry_arena *a, ferry_hist_row *r, const ferry_value *v)
{
	int oom = 0;
	memset(r, 0, sizeof(*r));
	r->rank = val_int(&v[0], 0);
	r->version = val_str(a, &v[1], &oom);
	r->description = val_str(a, &v[2], &oom);
	r->kind = val_str(a, &v[3], &oom);
	r->script = val_str(a, &v[4], &oom);
	r->checksum = val_str(a, &v[5], &oom);
	r->checksum_algo = val_str(a, &v[6], &oom);
	r->applied_at = val_str(a, &v[7], &oom);
	iso_utc(r->applied_at);
	r->applied_by = val_str(a, &v[8], &oom);
	r->duration_ms = val_int(&v[9], 0);
	r->success = val_bool(&v[10]);
	r->ferry_version = val_str(a, &v[11], &oom);
	r->run_id = val_str(a, &v[12], &oom);
	r->rows_moved = val_int(&v[13], -1);
	r->verdict = val_str(a, &v[14], &oom);
	/* Columns declared NOT NULL: a damaged row still reads as text. */
	if (!r->description)
		r->description = (char *)"";
	if (!r->kind)
		r->kind = (char *)"";
	return oom ? FERRY_ENOMEM : 0;
}

static int cmp_rank(const void *pa, const void *pb)
{
	const ferry_hist_row *a = pa, *b = pb;
	return (a->rank > b->rank) - (a->rank < b->rank);
}

/* Whether ferry_history exists, asked inside the caller's transaction: a read that fails
 * there spoils the transaction on some engines (PostgreSQL), so it runs under a savepoint
 * that is rolled back to on failure. The engines' introspection leaves ferry's own tables
 * out, so it cannot answer. */
static int probe_table(ferry_conn *c, const ferry_engine *eng, int *out, ferry_err *err)
{
	*out = 0;
	int rc = eng->core->exec(c, "SAVEPOINT ferry_history_probe", err);
	if (rc)
		return rc;
	static const char *const one[] = {"installed_rank"};
	ferry_read_spec spec;
	memset(&spec, 0, sizeof(spec));
	spec.table = FERRY_HISTORY_TABLE;
	spec.nexprs = 1;
	spec.exprs = one;
	spec.filter = "1 = 0";
	ferry_reader *r = NULL;
	ferry_err e = {0};
	if (eng->read->reader_open(&r, c, &spec, &e) == 0) {
		/* Read to the end (no row): a read closed half-way is abandoned, and PostgreSQL's
		 * engine must then give up the session (its COPY is cancelled). */
		ferry_batch *b = ferry__batch_new(1, 16);
		int eof = 0, e2 = b ? 0 : FERRY_ENOMEM;
		while (e2 == 0 && !eof) {
			ferry__batch_reset(b);
			e2 = eng->read->reader_next(r, b, &eof, &e);
		}
		ferry__batch_free(b);
		eng->read->reader_close(r);
		if (e2) {
			eng->core->exec(c, "ROLLBACK TO SAVEPOINT ferry_history_probe", &(ferry_err){0});
			eng->core->exec(c, "RELEASE SAVEPOINT ferry_history_probe", &(ferry_err){0});
			return e2 == FERRY_ENOMEM && !e.code ? ferry_err_set(err, e2, "out of memory") : ferry__err_copy(err, &e);
		}
		*out = 1;
	} else if (e.code == FERRY_ENOMEM) {
		eng->core->exec(c, "ROLLBACK TO SAVEPOINT ferry_history_probe", &(ferry_err){0});
		eng->core->exec(c, "RELEASE SAVEPOINT ferry_history_probe", &(ferry_err){0});
		return ferry__err_copy(err, &e);
	} else {
		rc = eng->core->exec(c, "ROLLBACK TO SAVEPOINT ferry_history_probe", err);
	}
	if (rc == 0)
		rc = eng->core->exec(c, "RELEASE SAVEPOINT ferry_history_probe", err);
	return rc;
}

int ferry__hist_read(ferry_hist_row **out, size_t *n, int *exists, int all,
                     ferry_arena *strings, ferry_conn *c, const ferry_engine *eng, ferry_err *err)
{
	*out = NULL;
	*n = 0;
	*exists = 0;
	/* What versions need; the rest reads as NULL unless all columns are asked for. */
	static const unsigned char needed[NCOLS] = {1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 0, 0, 0, 0};
	const char *exprs[NCOLS];
	for (size_t i = 0; i < NCOLS; i++)
		exprs[i] = all || needed[i] ? hist_cols[i].name : "NULL";
	ferry_read_spec spec;
	memset(&spec, 0, sizeof(spec));
	spec.table = FERRY_HISTORY_TABLE;
	spec.nexprs = NCOLS;
	spec.exprs = exprs;
	ferry_reader *r = NULL;
	/* A table that does not exist is FERRY_ENOTFOUND from reader_open (SQLite's "no such
	 * table"; PostgreSQL's undefined_table, 42P01); any other failure is a failure. */
	int rc = eng->read->reader_open(&r, c, &spec, err);
	if (rc == FERRY_ENOTFOUND) {
		memset(err, 0, sizeof(*err));
		return 0;
	}
	if (rc)
		return rc;
	*exists = 1;
	ferry_batch *b = ferry__batch_new(NCOLS, 1024);
	ferry_hist_row *rows = NULL;
	size_t cnt = 0, cap = 0;
	int eof = 0;
	if (!b)
		rc = OOM(err);
	while (rc == 0 && !eof) {
		ferry__batch_reset(b);
		rc = eng->read->reader_next(r, b, &eof, err);
		size_t nr = rc == 0 ? ferry_batch_nrows(b) : 0;
		if (nr && ferry__grow(&rows, &cap, cnt + nr, sizeof(*rows)) != 0)
			rc = OOM(err);
		for (size_t i = 0; rc == 0 && i < nr; i++) {
			if (row_from(strings, &rows[cnt], ferry_batch_crow(b, i)) != 0)
				rc = OOM(err);
			else
				cnt++;
		}
	}
	eng->read->reader_close(r);
	ferry__batch_free(b);
	if (rc) {
		free(rows);
		return rc;
	}
	/* Usually stored in rank order already. */
	for (size_t i = 1; i < cnt; i++)
		if (rows[i - 1].rank > rows[i].rank) {
			qsort(rows, cnt, sizeof(*rows), cmp_rank);
			break;
		}
	*out = rows;
	*n = cnt;
	return 0;
}

/* ---- data migrations --------------------------------------------------------------- */

int ferry__hist_ensure(ferry_conn *c, const ferry_engine *eng, ferry_err *err)
{
	int there = 0;
	int rc = probe_table(c, eng, &there, err);
	if (rc == 0 && !there)
		rc = ferry__hist_create(c, eng, err);
	return rc;
}

int ferry__history_record_data(ferry_conn *c, const ferry_engine *eng, const char *run_id,
                               const char *description, int64_t rows, const char *verdict,
                               int64_t duration_ms, ferry_err *err)
{
	if (!eng->core->exec_params)
		return ferry_err_set(err, FERRY_EUSAGE,
		                     "cannot record the run in ferry_history with engine \"%s\": it has "
		                     "no exec_params", eng->name);
	int rc = ferry__hist_ensure(c, eng, err);
	if (rc)
		return rc;
	ferry_hist_row row;
	memset(&row, 0, sizeof(row));
	row.description = (char *)(description ? description : "data migration");
	row.kind = (char *)"data";
	row.success = 1;
	row.run_id = (char *)run_id;
	row.rows_moved = rows;
	row.verdict = (char *)verdict;
	row.duration_ms = duration_ms;
	return ferry__hist_insert(c, eng, &row, err);
}
