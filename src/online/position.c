/* position.c — a stream's committed position in the target (ferry_positions), written in
 * the transaction that applies the changes it covers, engine-neutral: the table is created
 * through create_table, read with reader_open and written with exec_params. */
#include <stdlib.h>
#include <string.h>
#include "online.h"

#define POS_TABLE "ferry_positions"

static int create(const ferry_engine *e, ferry_conn *c, ferry_err *err)
{
	ferry_schema *s = ferry__schema_new();
	ferry_table *t = s ? ferry_schema_add_table(s, POS_TABLE) : NULL;
	int rc = t ? 0 : ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	static const struct { const char *name, *decl; ferry_type type; } cols[] = {
		{"run_id", "TEXT", FERRY_TEXT}, {"source", "INTEGER", FERRY_INT},
		/* A uint64 as decimal text: every engine holds it exactly. */
		{"pos", "TEXT", FERRY_TEXT}, {"updated_at", "TEXT", FERRY_TEXT},
	};
	for (size_t i = 0; rc == 0 && i < FERRY_ARRAY_LEN(cols); i++) {
		ferry_column *col = ferry_table_add_column(s, t, cols[i].name, cols[i].decl, cols[i].type);
		if (!col)
			rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
		else
			col->notnull = 1;
	}
	size_t pk[2] = {0, 1};
	if (rc == 0 && ferry_table_set_pk(s, t, pk, 2) != 0)
		rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	if (rc == 0)
		rc = e->create_table(c, t, err);
	ferry__schema_free(s);
	return rc;
}

static int exists(const ferry_engine *e, ferry_conn *c, int *out, ferry_err *err)
{
	ferry_schema *s = ferry__schema_new();
	if (!s)
		return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	int rc = e->introspect(c, s, err);
	*out = rc == 0 && ferry_schema_find(s, POS_TABLE) != NULL;
	ferry__schema_free(s);
	return rc;
}

int ferry__state_position_get(const ferry_engine *e, ferry_conn *c, const char *run_id,
                              size_t source, uint64_t *pos, ferry_err *err)
{
	*pos = 0;
	int have = 0;
	int rc = exists(e, c, &have, err);
	if (rc == 0 && !have)
		rc = create(e, c, err); /* so that set, inside an apply's transaction, finds it */
	if (rc || !have)
		return rc;
	static const char *const exprs[] = {"run_id", "source", "pos"};
	ferry_read_spec spec = {.table = POS_TABLE, .nexprs = 3, .exprs = exprs};
	ferry_reader *r = NULL;
	ferry_batch *b = ferry__batch_new(3, 256);
	if (!b)
		return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	rc = e->reader_open(&r, c, &spec, err);
	int eof = 0;
	while (rc == 0 && !eof) {
		ferry__batch_reset(b);
		rc = e->reader_next(r, b, &eof, err);
		for (size_t i = 0; rc == 0 && i < ferry_batch_nrows(b); i++) {
			const ferry_value *row = ferry_batch_crow(b, i);
			if (row[0].type != FERRY_TEXT || strlen(run_id) != row[0].len ||
			    memcmp(row[0].v.s, run_id, row[0].len) != 0 || row[1].type != FERRY_INT ||
			    row[1].v.i != (int64_t)source)
				continue;
			char *end;
			unsigned long long v = row[2].type == FERRY_TEXT ? strtoull(row[2].v.s, &end, 10) : 0;
			if (row[2].type != FERRY_TEXT || end == row[2].v.s || *end)
				rc = ferry_err_set(err, FERRY_ECORRUPT,
				                   "run state is damaged: the stream position of run %s, source %zu, is not a number",
				                   run_id, source);
			else
				*pos = v;
		}
	}
	if (r)
		e->reader_close(r);
	ferry__batch_free(b);
	return rc;
}

int ferry__state_position_set(const ferry_engine *e, ferry_conn *c, const char *run_id,
                              size_t source, uint64_t pos, ferry_err *err)
{
	char num[24], at[32];
	snprintf(num, sizeof(num), "%llu", (unsigned long long)pos);
	ferry__utc_iso(at);
	ferry_value v[4] = {
		{.type = FERRY_TEXT, .len = (uint32_t)strlen(run_id), .v.s = run_id},
		{.type = FERRY_INT, .v.i = (int64_t)source},
		{.type = FERRY_TEXT, .len = (uint32_t)strlen(num), .v.s = num},
		{.type = FERRY_TEXT, .len = (uint32_t)strlen(at), .v.s = at},
	};
	int64_t changed = 0;
	int rc = e->exec_params(c, "UPDATE " POS_TABLE " SET pos = $3, updated_at = $4 WHERE run_id = $1 AND source = $2",
	                    4, v, &changed, err);
	if (rc == 0 && changed == 0)
		rc = e->exec_params(c, "INSERT INTO " POS_TABLE " (run_id, source, pos, updated_at) VALUES ($1, $2, $3, $4)",
		                    4, v, NULL, err);
	return rc;
}
