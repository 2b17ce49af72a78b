/* reload.c — ferry reload-rejects: the rows of a reject file, fixed by hand, loaded into the
 * target that refused them. Each row is loaded at most once, whatever file it comes in: the
 * target records a hash of every row it took (ferry_runs, under one run id for all reloads),
 * so reloading the same file again, or a file that still holds rows taken before, loads only
 * what was not taken. Rows the target refuses again go to a new reject file. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "pipeline.h"
#include "state.h"
#include "../history/history.h"

/* Reject files are written by ferry one row a line; a longer line is not one of them. */
#define RELOAD_LINE_MAX (256u << 20)
#define RELOAD_BATCH 1000

typedef struct rrow {
	int line;
	const char *table;         /* in the row's JSON */
	json_t *obj;               /* the whole line */
	json_t *values;
	char base[33];             /* the hash of its table and values */
	char flag[40];             /* "row:" and the hash of those and its occurrence */
	int skip;                  /* taken by an earlier reload */
	int refused;
	char *reason;              /* why the target refused it again */
} rrow;

typedef struct reload {
	ferry_ctx *ctx;
	const char *path;
	rrow *rows;
	size_t n, cap;
	const ferry_engine *e;
	ferry_conn *conn;
	ferry_schema *schema;
	char run_id[33];
	ferry_err err;
} reload;

static int usage_at(reload *r, int line, const char *what)
{
	return ferry_err_set(&r->err, FERRY_EUSAGE, "%s:%d: %s", r->path, line, what);
}

/* Read and check every line: an object with a table and its values (null values: a label's
 * reject, which kept none, cannot be reloaded). */
static int read_file(reload *r)
{
	FILE *f = fopen(r->path, "r");
	if (!f)
		return ferry_err_set(&r->err, errno == ENOENT ? FERRY_ENOTFOUND : FERRY_ERROR,
		                     "could not open reject file \"%s\": %s", r->path, strerror(errno));
	char *buf = NULL;
	size_t cap = 0;
	ssize_t len;
	int line = 0, rc = 0;
	while (rc == 0 && (len = getline(&buf, &cap, f)) >= 0) {
		line++;
		while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
			len--;
		size_t sp = 0;
		while (sp < (size_t)len && (buf[sp] == ' ' || buf[sp] == '\t'))
			sp++;
		if (sp == (size_t)len)
			continue;
		if ((size_t)len > RELOAD_LINE_MAX) {
			rc = usage_at(r, line, "the line is too long for a rejected row");
			break;
		}
		json_error_t je;
		json_t *o = json_loadb(buf, (size_t)len, JSON_REJECT_DUPLICATES, &je);
		if (!o) {
			char m[300];
			snprintf(m, sizeof(m), "not a rejected row: %s (column %d)", je.text, je.column);
			rc = usage_at(r, line, m);
			break;
		}
		json_t *t = json_object_get(o, "table"), *v = json_object_get(o, "values");
		const char *why = !json_is_object(o) ? "not a rejected row: a JSON object is expected"
		                  : !json_is_string(t) ? "not a rejected row: \"table\" is missing"
		                  : json_is_null(v) || !v ? "the row's values were not recorded (a label's reject): it cannot be reloaded"
		                  : !json_is_object(v) ? "\"values\" must be an object of column: value"
		                  : json_object_size(v) == 0 ? "\"values\" names no column" : NULL;
		if (why) {
			json_decref(o);
			rc = usage_at(r, line, why);
			break;
		}
		if (ferry__grow(&r->rows, &r->cap, r->n + 1, sizeof(rrow)) != 0) {
			json_decref(o);
			rc = ferry_err_set(&r->err, FERRY_ENOMEM, "out of memory");
			break;
		}
		rrow *x = &r->rows[r->n++];
		memset(x, 0, sizeof(*x));
		x->line = line;
		x->obj = o;
		x->table = json_string_value(t);
		x->values = v;
	}
	if (rc == 0 && ferror(f))
		rc = ferry_err_set(&r->err, FERRY_ERROR, "could not read reject file \"%s\": %s", r->path, strerror(errno));
	free(buf);
	fclose(f);
	if (rc == 0 && r->n == 0)
		rc = ferry_err_set(&r->err, FERRY_EUSAGE, "reject file \"%s\" holds no rows", r->path);
	return rc;
}

static int number_equal_rows(reload *r);

/* Each row's table and columns must be the target's; each row gets its flag: the hash of
 * its table, its values (keys sorted, so an edit of the layout is the same row) and how many
 * equal rows came before it in the file (two equal rows are two rows). */

static int check_rows(reload *r)
{
	char m[700];
	for (size_t i = 0; i < r->n; i++) {
		rrow *x = &r->rows[i];
		const ferry_table *t = ferry_schema_find(r->schema, x->table);
		if (!t) {
			snprintf(m, sizeof(m), "target table \"%s\" does not exist", x->table);
			return usage_at(r, x->line, m);
		}
		const char *k;
		json_t *v;
		json_object_foreach(x->values, k, v) {
			if (ferry_table_column(t, k) < 0) {
				snprintf(m, sizeof(m), "target table \"%s\" has no column \"%s\"", x->table, k);
				return usage_at(r, x->line, m);
			}
			if (json_is_array(v) || (json_is_object(v) && !json_is_string(json_object_get(v, "base64")))) {
				snprintf(m, sizeof(m), "column \"%s\": a value is a number, a string, true, false, null or {\"base64\": \"...\"}", k);
				return usage_at(r, x->line, m);
			}
		}
		char *canon = json_dumps(x->values, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
		char *key = canon ? ferry__sprintf("%s\n%s", x->table, canon) : NULL;
		free(canon);
		if (!key)
			return ferry_err_set(&r->err, FERRY_ENOMEM, "out of memory");
		ferry__hash128_hex(x->base, key, strlen(key));
		free(key);
	}
	return number_equal_rows(r);
}

typedef struct occ {
	const char *base;
	size_t i;
} occ;

static int cmp_occ(const void *a, const void *b)
{
	const occ *x = a, *y = b;
	int c = strcmp(x->base, y->base);
	return c ? c : x->i < y->i ? -1 : x->i > y->i;
}

/* Each row's flag: its base hash, and for the n-th (n > 0) of equal rows in the file the hash
 * of "base#n", so two equal rows are two rows. Sorted, not compared pairwise: a reject file
 * may hold many rows. */
static int number_equal_rows(reload *r)
{
	occ *o = ferry__calloc(r->n + 1, sizeof(occ));
	if (!o)
		return ferry_err_set(&r->err, FERRY_ENOMEM, "out of memory");
	for (size_t i = 0; i < r->n; i++)
		o[i] = (occ){r->rows[i].base, i};
	qsort(o, r->n, sizeof(occ), cmp_occ);
	int rc = 0;
	for (size_t k = 0, nth = 0; rc == 0 && k < r->n; k++) {
		nth = k > 0 && strcmp(o[k].base, o[k - 1].base) == 0 ? nth + 1 : 0;
		rrow *x = &r->rows[o[k].i];
		char h[33];
		memcpy(h, x->base, sizeof(h));
		if (nth) {
			char *again = ferry__sprintf("%s#%zu", x->base, nth);
			if (!again)
				rc = ferry_err_set(&r->err, FERRY_ENOMEM, "out of memory");
			else
				ferry__hash128_hex(h, again, strlen(again));
			free(again);
		}
		snprintf(x->flag, sizeof(x->flag), "row:%s", h);
	}
	free(o);
	return rc;
}

static int b64val(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' : c >= 'a' && c <= 'z' ? c - 'a' + 26 : c >= '0' && c <= '9' ? c - '0' + 52
	       : c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Standard base64 (padded or not) into out (at least 3/4 of n bytes): its length, or -1. */
static long b64_decode(uint8_t *out, const char *s, size_t n)
{
	while (n > 0 && s[n - 1] == '=')
		n--;
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		int v = b64val((unsigned char)s[i]);
		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	return (long)o;
}

/* A value of the file as the target column's: numbers as numbers, a string as the column's
 * own kind of text (a date, a numeric, ...; text for a numeric column, which the target
 * converts or refuses), bytes from base64. 0, or a message in m. */
static int to_value(ferry_value *out, ferry_batch *b, json_t *v, ferry_type t, char *m, size_t mcap)
{
	memset(out, 0, sizeof(*out));
	out->type = FERRY_NULL;
	if (json_is_null(v))
		return 0;
	if (json_is_boolean(v)) {
		out->type = FERRY_BOOL;
		out->v.i = json_is_true(v);
		return 0;
	}
	if (json_is_integer(v)) {
		out->type = FERRY_INT;
		out->v.i = (int64_t)json_integer_value(v);
		return 0;
	}
	if (json_is_real(v)) {
		out->type = FERRY_FLOAT;
		out->v.f = json_real_value(v);
		return 0;
	}
	if (json_is_object(v)) {
		const char *s = json_string_value(json_object_get(v, "base64"));
		size_t n = strlen(s);
		uint8_t *d = ferry_batch_copy(b, s, n);
		long len = d ? b64_decode(d, s, n) : -1;
		if (!d)
			return FERRY_ENOMEM;
		if (len < 0) {
			snprintf(m, mcap, "\"base64\" is not base64");
			return FERRY_EUSAGE;
		}
		out->type = FERRY_BLOB;
		out->v.b = d;
		out->len = (uint32_t)len;
		return 0;
	}
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	if (t == FERRY_FLOAT && (strcmp(s, "NaN") == 0 || strcmp(s, "Infinity") == 0 || strcmp(s, "-Infinity") == 0)) {
		out->type = FERRY_FLOAT;
		out->v.f = s[0] == 'N' ? (double)NAN : s[0] == '-' ? -(double)INFINITY : (double)INFINITY;
		return 0;
	}
	const char *d = ferry_batch_copy(b, s, n);
	if (!d)
		return FERRY_ENOMEM;
	out->type = t == FERRY_INT || t == FERRY_FLOAT || t == FERRY_BOOL || t == FERRY_BLOB || t == FERRY_NULL
	                ? FERRY_TEXT : t;
	out->v.s = d;
	out->len = (uint32_t)n;
	return 0;
}

typedef struct group {
	reload *r;
	size_t *idx;               /* rows of the batch, by batch row */
} group;

static int refused_again(void *ud, size_t row, const char *reason)
{
	group *g = ud;
	rrow *x = &g->r->rows[g->idx[row]];
	x->refused = 1;
	free(x->reason);
	x->reason = ferry__strdup(reason);
	return x->reason ? 0 : FERRY_ENOMEM;
}

/* The rows [from, to) (one table, the same columns) through one writer, in batches; each
 * row taken is recorded by its flag in the same transaction. */
static int load_group(reload *r, size_t from, size_t to)
{
	const ferry_table *t = ferry_schema_find(r->schema, r->rows[from].table);
	size_t nc = 0;
	const char **cols = ferry__calloc(t->ncols + 1, sizeof(char *));
	ferry_type *types = ferry__calloc(t->ncols + 1, sizeof(ferry_type));
	size_t *map = ferry__calloc(t->ncols + 1, sizeof(size_t));
	size_t *idx = ferry__calloc(RELOAD_BATCH, sizeof(size_t));
	ferry_batch *b = NULL;
	ferry_writer *w = NULL;
	int rc = cols && types && map && idx ? 0 : ferry_err_set(&r->err, FERRY_ENOMEM, "out of memory");
	for (size_t c = 0; rc == 0 && c < t->ncols; c++)
		if (json_object_get(r->rows[from].values, t->cols[c].name)) {
			cols[nc] = t->cols[c].name;
			types[nc] = t->cols[c].type;
			map[nc] = nc;
			nc++;
		}
	if (rc == 0 && !(b = ferry__batch_new(nc, RELOAD_BATCH)))
		rc = ferry_err_set(&r->err, FERRY_ENOMEM, "out of memory");
	ferry_write_spec spec = {.table = t->name, .ncols = nc, .cols = cols, .types = types, .map = map};
	if (rc == 0)
		rc = r->e->write->writer_open(&w, r->conn, &spec, &r->err);
	group g = {r, idx};
	for (size_t i = from; rc == 0 && i < to;) {
		ferry__batch_reset(b);
		size_t nb = 0;
		for (; rc == 0 && i < to && nb < RELOAD_BATCH; i++) {
			rrow *x = &r->rows[i];
			if (x->skip)
				continue;
			ferry_value *row = ferry_batch_add_row(b);
			char m[200] = "";
			for (size_t c = 0; rc == 0 && c < nc; c++) {
				int e = to_value(&row[c], b, json_object_get(x->values, cols[c]), types[c], m, sizeof(m));
				if (e == FERRY_ENOMEM)
					rc = ferry_err_set(&r->err, e, "out of memory");
				else if (e)
					rc = usage_at(r, x->line, m);
			}
			idx[nb++] = i;
		}
		if (rc == 0 && nb)
			rc = r->e->write->writer_write(w, b, refused_again, &g, &r->err);
		if (rc == FERRY_ENOMEM && !r->err.code)
			rc = ferry_err_set(&r->err, rc, "out of memory");
		for (size_t k = 0; rc == 0 && k < nb; k++)
			if (!r->rows[idx[k]].refused)
				rc = ferry__state_set(r->e, r->conn, r->run_id, r->rows[idx[k]].flag, &r->err);
	}
	if (w)
		r->e->write->writer_close(w);
	ferry__batch_free(b);
	free(cols);
	free(types);
	free(map);
	free(idx);
	return rc;
}

static int same_columns(const rrow *a, const rrow *b)
{
	if (strcmp(a->table, b->table) != 0 || json_object_size(a->values) != json_object_size(b->values))
		return 0;
	const char *k;
	json_t *v;
	json_object_foreach(a->values, k, v)
		if (!json_object_get(b->values, k))
			return 0;
	return 1;
}

/* The rows refused again, as the run wrote them, with their new reason. */
static int write_again(reload *r, const char *path, int64_t *n)
{
	*n = 0;
	for (size_t i = 0; i < r->n; i++)
		*n += r->rows[i].refused;
	if (*n == 0)
		return 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		if (fd >= 0)
			close(fd);
		return ferry_err_set(&r->err, FERRY_ERROR, "could not write reject file \"%s\": %s", path, strerror(errno));
	}
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < r->n; i++) {
		rrow *x = &r->rows[i];
		if (!x->refused)
			continue;
		json_t *o = json_deep_copy(x->obj);
		char *s = NULL;
		if (o && json_object_set_new(o, "reason", json_string(x->reason)) == 0)
			s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
		json_decref(o);
		if (!s)
			rc = ferry_err_set(&r->err, FERRY_ENOMEM, "out of memory");
		else if (fprintf(f, "%s\n", s) < 0)
			rc = ferry_err_set(&r->err, FERRY_ERROR, "could not write reject file \"%s\": %s", path, strerror(errno));
		free(s);
	}
	if (fclose(f) != 0 && rc == 0)
		rc = ferry_err_set(&r->err, FERRY_ERROR, "could not write reject file \"%s\": %s", path, strerror(errno));
	return rc;
}

/* "x.rejects.jsonl" -> "x.rejects.again.jsonl"; another name gets ".again.jsonl". */
static char *again_path(const char *path)
{
	size_t n = strlen(path);
	if (n > 6 && strcmp(path + n - 6, ".jsonl") == 0)
		return ferry__sprintf("%.*s.again.jsonl", (int)(n - 6), path);
	return ferry__sprintf("%s.again.jsonl", path);
}

/* One line of the summary per table, in the order the file names them. */
static int summarize(reload *r, ferry_summary *sum)
{
	int64_t skipped = 0;
	for (size_t i = 0; i < r->n; i++) {
		size_t first = 0;
		while (strcmp(r->rows[first].table, r->rows[i].table) != 0)
			first++;
		if (first != i)
			continue;
		job j;
		memset(&j, 0, sizeof(j));
		j.stage = "reload";
		j.source_name = "rejects";
		j.src_table = (char *)r->rows[i].table;
		j.dst_table = (char *)r->rows[i].table;
		j.rows_waiting = -1;
		for (size_t k = i; k < r->n; k++) {
			const rrow *x = &r->rows[k];
			if (strcmp(x->table, r->rows[i].table) != 0)
				continue;
			j.rows_read++;
			j.rows_skipped += x->skip;
			j.rows_rejected += x->refused;
			j.rows_written += !x->skip && !x->refused;
		}
		skipped += j.rows_skipped;
		if (ferry__summary_add(sum, &j) != 0)
			return ferry_err_set(&r->err, FERRY_ENOMEM, "out of memory");
		sum->total_rejected += j.rows_rejected;
	}
	if (skipped) {
		char m[200];
		snprintf(m, sizeof(m), "%lld rows were loaded by an earlier reload into this target: skipped (each row is loaded once)",
		         (long long)skipped);
		if (ferry__summary_note_at(sum, "already_reloaded", NULL, NULL, m) != 0)
			return ferry_err_set(&r->err, FERRY_ENOMEM, "out of memory");
	}
	return 0;
}

int ferry_reload_rejects(ferry_summary **out, ferry_ctx *ctx, const char *rejects_file,
                         const char *target_url, const char *rejects_out)
{
	*out = NULL;
	reload r;
	memset(&r, 0, sizeof(r));
	r.ctx = ctx;
	r.path = rejects_file;
	static const char id[] = "ferry reload-rejects";
	ferry__hash128_hex(r.run_id, id, sizeof(id) - 1);
	ferry_summary *sum = ferry__summary_new(r.run_id);
	char *again = rejects_out ? ferry__strdup(rejects_out) : again_path(rejects_file);
	double t0 = ferry__now();
	if (sum)
		ferry__utc_iso(sum->started_at);
	int rc = sum && again ? read_file(&r) : ferry_err_set(&r.err, FERRY_ENOMEM, "out of memory");
	if (rc == 0 && !(r.e = ferry__engine_for(ctx, target_url, &r.err)))
		rc = r.err.code;
	/* A label is a read step's output, not a database that refused rows; an engine that
	 * keeps no record could not say which rows were taken. */
	if (rc == 0 && ((r.e->flags & FERRY_ENGINE_LABEL) || r.e->state || !r.e->core->exec_params))
		rc = ferry_err_set(&r.err, FERRY_EUSAGE, "cannot reload rows into \"%s\": it is not a database ferry keeps a record in (a label is written by ferry export)",
		                   target_url);
	if (rc == 0)
		rc = r.e->core->connect(&r.conn, target_url, 0, &r.err);
	if (rc == 0 && !(r.schema = ferry__schema_new()))
		rc = ferry_err_set(&r.err, FERRY_ENOMEM, "out of memory");
	if (rc == 0)
		rc = r.e->core->introspect(r.conn, r.schema, &r.err);
	if (rc == 0)
		rc = check_rows(&r);
	/* One transaction: the rows, the record of each, and the file of rows refused again
	 * (written before the commit, so a failed commit leaves nothing that says otherwise). */
	int begun = 0;
	if (rc == 0 && (rc = r.e->core->begin(r.conn, &r.err)) == 0)
		begun = 1;
	if (rc == 0)
		rc = ferry__state_init(r.e, r.conn, &r.err);
	for (size_t i = 0; rc == 0 && i < r.n; i++)
		rc = ferry__state_get(r.e, r.conn, r.run_id, r.rows[i].flag, &r.rows[i].skip, &r.err);
	for (size_t i = 0; rc == 0 && i < r.n;) {
		size_t j = i + 1;
		while (j < r.n && same_columns(&r.rows[i], &r.rows[j]))
			j++;
		rc = load_group(&r, i, j);
		i = j;
	}
	int64_t nagain = 0;
	if (rc == 0)
		rc = write_again(&r, again, &nagain);
	/* The record of upgrades says what the reload changed, in the same transaction. */
	int64_t taken = 0, skipped = 0;
	for (size_t i = 0; i < r.n; i++) {
		taken += !r.rows[i].skip && !r.rows[i].refused;
		skipped += r.rows[i].skip;
	}
	if (rc == 0 && (taken || nagain)) {
		char *desc = ferry__sprintf("ferry reload-rejects %s (%lld rows loaded, %lld loaded before)", rejects_file,
		                            (long long)taken, (long long)skipped);
		char *verdict = nagain ? ferry__sprintf("%lld rows refused again: %s", (long long)nagain, again)
		                       : ferry__strdup("all rows arrived");
		rc = desc && verdict ? ferry__history_record_data(r.conn, r.e, r.run_id, desc, taken, verdict,
		                                                  (int64_t)((ferry__now() - t0) * 1000), &r.err)
		                     : ferry_err_set(&r.err, FERRY_ENOMEM, "out of memory");
		free(desc);
		free(verdict);
	}
	if (rc == 0)
		rc = r.e->core->commit(r.conn, &r.err);
	else if (begun)
		r.e->core->rollback(r.conn, &(ferry_err){0});
	if (rc == 0)
		rc = summarize(&r, sum);
	if (rc == 0 && nagain) {
		sum->rejects_path = again;
		again = NULL;
	}
	if (sum) {
		sum->target = ferry_url_mask(target_url);
		sum->elapsed = ferry__now() - t0;
	}
	if (r.conn)
		r.e->core->close(r.conn);
	ferry__schema_free(r.schema);
	for (size_t i = 0; i < r.n; i++) {
		json_decref(r.rows[i].obj);
		free(r.rows[i].reason);
	}
	free(r.rows);
	free(again);
	if (rc) {
		ferry_summary_free(sum);
		return ferry__ctx_fail(ctx, &r.err);
	}
	*out = sum;
	if (!nagain)
		return 0;
	ferry_err e = {0};
	ferry_err_set(&e, FERRY_EREJECT, "the target refused %lld rows again: they are in \"%s\" with the new reasons",
	              (long long)nagain, sum->rejects_path);
	return ferry__ctx_fail(ctx, &e);
}
