/* report.c — each version's state from the migration files and the rows of ferry_history
 * (applied, pending, failed, changed, missing, out of order, baseline), the problems that
 * stop `ferry migrate`, and the status, history and validate views as text and JSON. */
#include <stdlib.h>
#include <string.h>
#include "history.h"

#define OOM(err) ferry_err_set((err), FERRY_ENOMEM, "out of memory")

static int is_down_row(const ferry_hist_row *r)
{
	size_t n = r->script ? strlen(r->script) : 0;
	return n > 9 && strcmp(r->script + n - 9, ".down.sql") == 0;
}

/* A version's fate according to its rows: the last of them decides. */
typedef struct ferry_mig_slot {
	const char *version;
	const ferry_hist_row *last;     /* the newest row of this version */
	const ferry_hist_row *applied;  /* the up row that applied it, while applied */
} slot;

typedef struct vref {
	const ferry_hist_row *row;
	const unsigned char *key;   /* ferry__version_key of its version */
	size_t klen;
} vref;

static int cmp_vref(const void *pa, const void *pb)
{
	const vref *a = pa, *b = pb;
	int c = ferry__version_key_cmp(a->key, a->klen, b->key, b->klen);
	if (c)
		return c;
	return (a->row->rank > b->row->rank) - (a->row->rank < b->row->rank);
}

/* Replay the schema rows version by version, in rank order. */
static int build_slots(const ferry_migrations *m, slot **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	vref *v = ferry__calloc(m->nrows ? m->nrows : 1, sizeof(*v));
	slot *s = ferry__calloc(m->nrows ? m->nrows : 1, sizeof(*s));
	if (!v || !s) {
		free(v);
		free(s);
		return FERRY_ENOMEM;
	}
	size_t nv = 0, ns = 0, ksize = 0;
	for (size_t i = 0; i < m->nrows; i++)
		if (m->rows[i].version && strcmp(m->rows[i].kind, "schema") == 0 &&
		    ferry__version_valid(m->rows[i].version, strlen(m->rows[i].version))) {
			v[nv++].row = &m->rows[i];
			ksize += strlen(m->rows[i].version) + 1;
		}
	unsigned char *keys = ferry__malloc(ksize ? ksize : 1);
	if (!keys) {
		free(v);
		free(s);
		return FERRY_ENOMEM;
	}
	for (size_t i = 0, off = 0; i < nv; i++) {
		v[i].key = keys + off;
		v[i].klen = ferry__version_key(keys + off, v[i].row->version);
		off += strlen(v[i].row->version) + 1;
	}
	if (nv > 1)
		qsort(v, nv, sizeof(*v), cmp_vref);
	for (size_t i = 0; i < nv; i++) {
		const ferry_hist_row *r = v[i].row;
		if (ns == 0 || ferry__version_key_cmp(v[i - 1].key, v[i - 1].klen, v[i].key, v[i].klen) != 0) {
			s[ns].version = r->version;
			ns++;
		}
		slot *sl = &s[ns - 1];
		sl->last = r;
		if (r->success)
			sl->applied = is_down_row(r) ? NULL : r;
	}
	free(keys);
	free(v);
	*out = s;
	*n = ns;
	return 0;
}

static int add_entry(ferry_migrations *m, size_t *cap, const char *version,
                     const char *description, int state, const ferry_mig_file *f,
                     const ferry_hist_row *r)
{
	if (ferry__grow(&m->entries, cap, m->nentries + 1, sizeof(*m->entries)) != 0)
		return FERRY_ENOMEM;
	ferry_mig_entry *e = &m->entries[m->nentries++];
	e->version = version;
	e->description = description;
	e->state = state;
	e->file = f;
	e->row = r;
	return 0;
}

static int is_applied(int state)
{
	return state == FERRY_MIGRATION_APPLIED || state == FERRY_MIGRATION_CHANGED ||
	       state == FERRY_MIGRATION_MISSING || state == FERRY_MIGRATION_IGNORED ||
	       state == FERRY_MIGRATION_BASELINE;
}

int ferry__mig_prepare_rows(ferry_migrations *m, ferry_err *err)
{
	if (m->slots || m->nrows == 0)
		return 0;
	return build_slots(m, &m->slots, &m->nslots) ? OOM(err) : 0;
}

int ferry__mig_compute(ferry_migrations *m, int allow_out_of_order, int ignore_missing,
                       ferry_err *err)
{
	free(m->entries);
	m->entries = NULL;
	m->nentries = 0;
	m->npending = 0;
	m->current = NULL;
	m->baseline = NULL;
	ferry__mig_problems_clear(&m->problems);
	for (size_t i = 0; i < m->nrows && !m->baseline; i++)
		if (strcmp(m->rows[i].kind, "baseline") == 0 && m->rows[i].version && m->rows[i].success)
			m->baseline = &m->rows[i];
	const char *bl = m->baseline ? m->baseline->version : NULL;

	int rc = ferry__mig_prepare_rows(m, err);
	if (rc)
		return rc;
	const slot *s = m->slots;
	size_t ns = m->nslots, cap = 0;
	int bl_done = bl == NULL;
	size_t fi = 0, si = 0;
	while (rc == 0 && (fi < m->nfiles || si < ns || !bl_done)) {
		const ferry_mig_file *f = fi < m->nfiles ? &m->files[fi] : NULL;
		const slot *sl = si < ns ? &s[si] : NULL;
		const char *v = f ? f->version : NULL;
		if (sl && (!v || ferry__version_cmp(sl->version, v) < 0))
			v = sl->version;
		/* The baseline version gets its entry in its place, file or no file. */
		if (!bl_done && (!v || ferry__version_cmp(bl, v) < 0)) {
			rc = add_entry(m, &cap, bl, m->baseline->description, FERRY_MIGRATION_BASELINE, NULL,
			               m->baseline);
			bl_done = 1;
			continue;
		}
		if (f && ferry__version_cmp(f->version, v) != 0)
			f = NULL;
		if (sl && ferry__version_cmp(sl->version, v) != 0)
			sl = NULL;
		fi += f != NULL;
		si += sl != NULL;
		if (!bl_done && ferry__version_cmp(bl, v) == 0) {
			rc = add_entry(m, &cap, v, f ? f->description : m->baseline->description,
			               FERRY_MIGRATION_BASELINE, f, m->baseline);
			bl_done = 1;
			continue;
		}
		int below = bl && ferry__version_cmp(v, bl) <= 0;
		const char *desc = f ? f->description : sl->last->description;
		if (sl && !sl->last->success) {
			rc = add_entry(m, &cap, v, desc, FERRY_MIGRATION_FAILED, f, sl->last);
		} else if (sl && sl->applied) {
			int state = FERRY_MIGRATION_APPLIED;
			if (!f)
				state = ignore_missing ? FERRY_MIGRATION_IGNORED : FERRY_MIGRATION_MISSING;
			else if (sl->applied->checksum && strcmp(sl->applied->checksum, f->checksum) != 0)
				state = FERRY_MIGRATION_CHANGED;
			rc = add_entry(m, &cap, v, desc, state, f, sl->applied);
		} else if (below) {
			rc = add_entry(m, &cap, v, desc, FERRY_MIGRATION_BASELINE, f, NULL);
		} else if (f) {
			rc = add_entry(m, &cap, v, desc, FERRY_MIGRATION_PENDING, f, NULL);
		}
		/* else: undone by its down script and its file is gone: nothing to show */
	}
	if (rc)
		return OOM(err);

	for (size_t i = 0; i < m->nentries; i++)
		if (is_applied(m->entries[i].state))
			m->current = m->entries[i].version; /* entries are in version order */
	for (size_t i = 0; rc == 0 && i < m->nentries; i++) {
		ferry_mig_entry *e = &m->entries[i];
		const char *script = e->file ? e->file->up : e->row ? e->row->script : NULL;
		switch (e->state) {
		case FERRY_MIGRATION_PENDING:
			if (m->current && ferry__version_cmp(e->version, m->current) < 0 &&
			    !allow_out_of_order) {
				e->state = FERRY_MIGRATION_OUT_OF_ORDER;
				rc = ferry__mig_problem_add(&m->problems, e->state, e->version, script,
				                            "migration \"%s\" is older than version %s already "
				                            "applied to \"%s\": give it a higher version, or use "
				                            "--allow-out-of-order", script, m->current, m->db);
			} else {
				m->npending++;
			}
			break;
		case FERRY_MIGRATION_FAILED:
			rc = ferry__mig_problem_add(&m->problems, e->state, e->version, script,
			                            "%s of version %s (\"%s\") failed on \"%s\" at %s and may be "
			                            "partly applied: fix the database by hand, then run "
			                            "'ferry repair'", is_down_row(e->row) ? "the down script" :
			                            "migration", e->version, script ? script : "?", m->db,
			                            e->row->applied_at ? e->row->applied_at : "?");
			break;
		case FERRY_MIGRATION_CHANGED:
			rc = ferry__mig_problem_add(&m->problems, e->state, e->version, script,
			                            "migration \"%s\" changed after it was applied to \"%s\" "
			                            "(sha256 %.12s recorded, %.12s now): restore the file, or "
			                            "run 'ferry repair' to accept the edit", script, m->db,
			                            e->row->checksum, e->file->checksum);
			break;
		case FERRY_MIGRATION_MISSING:
			rc = ferry__mig_problem_add(&m->problems, e->state, e->version, script,
			                            "no file for version %s (\"%s\") applied to \"%s\": restore "
			                            "it in \"%s\", or use --ignore-missing", e->version,
			                            script ? script : "?", m->db, m->dir);
			break;
		default:
			break;
		}
	}
	return rc ? OOM(err) : 0;
}

/* ---- the public accessors ---------------------------------------------------------- */

const char *ferry_migration_state_name(ferry_migration_state s)
{
	static const char *const names[] = {"applied", "pending", "failed", "changed", "missing",
	                                    "out of order", "baseline", "missing, ignored"};
	return (size_t)s < FERRY_ARRAY_LEN(names) ? names[s] : "?";
}

void ferry_migrations_free(ferry_migrations *m)
{
	if (!m)
		return;
	ferry__mig_files_free(m->files, m->nfiles);
	free(m->slots);
	free(m->rows);
	ferry_arena_free(m->arena);
	free(m->entries);
	ferry__mig_problems_clear(&m->problems);
	free(m->db);
	free(m->dir);
	free(m);
}

size_t ferry_migrations_count(const ferry_migrations *m) { return m->nentries; }
size_t ferry_migrations_pending(const ferry_migrations *m) { return m->npending; }
const char *ferry_migrations_current(const ferry_migrations *m) { return m->current; }
size_t ferry_migrations_problem_count(const ferry_migrations *m) { return m->problems.n; }
size_t ferry_migrations_history_count(const ferry_migrations *m) { return m->nrows; }

const char *ferry_migrations_problem(const ferry_migrations *m, size_t i)
{
	return i < m->problems.n ? m->problems.v[i].msg : NULL;
}

int ferry_migrations_get(ferry_migration_info *out, const ferry_migrations *m, size_t i)
{
	memset(out, 0, sizeof(*out));
	if (i >= m->nentries)
		return FERRY_EUSAGE;
	const ferry_mig_entry *e = &m->entries[i];
	out->version = e->version;
	out->description = e->description;
	out->state = (ferry_migration_state)e->state;
	out->script = e->file ? e->file->up : e->row ? e->row->script : NULL;
	out->down_script = e->file ? e->file->down : NULL;
	out->applied_at = e->row && e->row->success ? e->row->applied_at : NULL;
	out->checksum = e->file ? e->file->checksum : NULL;
	return 0;
}

int ferry_migrations_history(ferry_history_row *out, const ferry_migrations *m, size_t i)
{
	memset(out, 0, sizeof(*out));
	if (i >= m->nrows)
		return FERRY_EUSAGE;
	const ferry_hist_row *r = &m->rows[i];
	out->installed_rank = r->rank;
	out->version = r->version;
	out->description = r->description;
	out->kind = r->kind;
	out->script = r->script;
	out->checksum = r->checksum;
	out->checksum_algo = r->checksum_algo;
	out->applied_at = r->applied_at;
	out->applied_by = r->applied_by;
	out->duration_ms = r->duration_ms;
	out->success = r->success;
	out->ferry_version = r->ferry_version;
	out->run_id = r->run_id;
	out->rows_moved = r->rows_moved;
	out->verdict = r->verdict;
	return 0;
}

/* ---- text -------------------------------------------------------------------------- */

#define MAXCOLS 10

typedef struct table_out {
	size_t ncols;
	size_t width[MAXCOLS];
	size_t nrows, cap;
	char **cells;        /* nrows x ncols, owned */
} table_out;

static int table_add(table_out *t, const char *const *cells)
{
	if (ferry__grow(&t->cells, &t->cap, (t->nrows + 1) * t->ncols, sizeof(char *)) != 0)
		return FERRY_ENOMEM;
	for (size_t i = 0; i < t->ncols; i++) {
		const char *c = cells[i] ? cells[i] : "";
		char *d = ferry__strdup(c);
		if (!d)
			return FERRY_ENOMEM;
		t->cells[t->nrows * t->ncols + i] = d;
		size_t w = strlen(c);
		if (w > t->width[i])
			t->width[i] = w;
	}
	t->nrows++;
	return 0;
}

static void table_write(table_out *t, FILE *f)
{
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t i = 0; i < t->ncols; i++) {
			const char *c = t->cells[r * t->ncols + i];
			if (i + 1 == t->ncols)
				fprintf(f, "%s\n", c);
			else
				fprintf(f, "%-*s  ", (int)t->width[i], c);
		}
	}
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
}

static int write_status_text(const ferry_migrations *m, FILE *f)
{
	table_out t = {.ncols = 4};
	const char *head[] = {"VERSION", "DESCRIPTION", "STATE", "APPLIED AT"};
	int rc = table_add(&t, head);
	for (size_t i = 0; rc == 0 && i < m->nentries; i++) {
		ferry_migration_info in;
		ferry_migrations_get(&in, m, i);
		const char *cells[] = {in.version, in.description, ferry_migration_state_name(in.state),
		                       in.applied_at ? in.applied_at : ""};
		rc = table_add(&t, cells);
	}
	if (rc == 0)
		table_write(&t, f);
	if (rc == 0)
		fprintf(f, "database \"%s\": %s%s, %zu pending%s\n", m->db,
		        m->current ? "at version " : "no version applied", m->current ? m->current : "",
		        m->npending, m->problems.n ? "" : "");
	for (size_t i = 0; rc == 0 && i < m->problems.n; i++)
		fprintf(f, "problem: %s\n", m->problems.v[i].msg);
	return rc;
}

static int write_history_text(const ferry_migrations *m, FILE *f)
{
	table_out t = {.ncols = 9};
	const char *head[] = {"RANK", "VERSION", "DESCRIPTION", "KIND", "SCRIPT", "APPLIED AT",
	                      "BY", "MS", "RESULT"};
	int rc = table_add(&t, head);
	for (size_t i = 0; rc == 0 && i < m->nrows; i++) {
		const ferry_hist_row *r = &m->rows[i];
		char rank[24], ms[24], result[512];
		snprintf(rank, sizeof(rank), "%lld", (long long)r->rank);
		snprintf(ms, sizeof(ms), "%lld", (long long)r->duration_ms);
		if (strcmp(r->kind, "data") == 0)
			snprintf(result, sizeof(result), "%s, run %.16s, %lld rows, %s",
			         r->success ? "ok" : "FAILED", r->run_id ? r->run_id : "?",
			         (long long)r->rows_moved, r->verdict ? r->verdict : "no verdict");
		else
			snprintf(result, sizeof(result), "%s", r->success ? "ok" : "FAILED");
		const char *cells[] = {rank, r->version ? r->version : "-", r->description, r->kind,
		                       r->script ? r->script : "-", r->applied_at, r->applied_by, ms,
		                       result};
		rc = table_add(&t, cells);
	}
	if (rc == 0) {
		table_write(&t, f);
		if (!m->table_exists)
			fprintf(f, "database \"%s\" has no ferry_history table yet\n", m->db);
	}
	return rc;
}

static int write_validate_text(const ferry_migrations *m, FILE *f)
{
	for (size_t i = 0; i < m->problems.n; i++)
		fprintf(f, "%s\n", m->problems.v[i].msg);
	if (m->problems.n == 0)
		fprintf(f, "the migrations of \"%s\" are valid: %s%s, %zu pending\n", m->db,
		        m->current ? "at version " : "no version applied", m->current ? m->current : "",
		        m->npending);
	return 0;
}

int ferry_migrations_write_text(const ferry_migrations *m, ferry_migrations_view view, FILE *f)
{
	int rc;
	switch (view) {
	case FERRY_VIEW_STATUS: rc = write_status_text(m, f); break;
	case FERRY_VIEW_HISTORY: rc = write_history_text(m, f); break;
	default: rc = write_validate_text(m, f); break;
	}
	if (rc == 0 && ferror(f))
		rc = FERRY_ERROR;
	return rc;
}

/* ---- JSON -------------------------------------------------------------------------- */

static void jstr(ferry_buf *b, const char *key, const char *s)
{
	ferry_buf_printf(b, "\"%s\":", key);
	if (s)
		ferry_buf_json_str(b, s, strlen(s));
	else
		ferry_buf_puts(b, "null");
}

static void problems_json(ferry_buf *b, const ferry_migrations *m)
{
	ferry_buf_puts(b, "\"problems\":[");
	for (size_t i = 0; i < m->problems.n; i++) {
		const ferry_mig_problem *p = &m->problems.v[i];
		ferry_buf_puts(b, i ? ",{" : "{");
		jstr(b, "kind", p->kind >= 0 ? ferry_migration_state_name((ferry_migration_state)p->kind)
		                             : "file");
		ferry_buf_puts(b, ",");
		jstr(b, "version", p->version);
		ferry_buf_puts(b, ",");
		jstr(b, "script", p->script);
		ferry_buf_puts(b, ",");
		jstr(b, "message", p->msg);
		ferry_buf_puts(b, "}");
	}
	ferry_buf_puts(b, "]");
}

int ferry_migrations_write_json(const ferry_migrations *m, ferry_migrations_view view, FILE *f)
{
	ferry_buf b = FERRY_BUF_INIT;
	ferry_buf_puts(&b, "{");
	jstr(&b, "database", m->db);
	if (view == FERRY_VIEW_HISTORY) {
		ferry_buf_printf(&b, ",\"table_exists\":%s,\"history\":[", m->table_exists ? "true" : "false");
		for (size_t i = 0; i < m->nrows; i++) {
			const ferry_hist_row *r = &m->rows[i];
			ferry_buf_printf(&b, "%s{\"installed_rank\":%lld,", i ? "," : "", (long long)r->rank);
			jstr(&b, "version", r->version);
			ferry_buf_puts(&b, ",");
			jstr(&b, "description", r->description);
			ferry_buf_puts(&b, ",");
			jstr(&b, "kind", r->kind);
			ferry_buf_puts(&b, ",");
			jstr(&b, "script", r->script);
			ferry_buf_puts(&b, ",");
			jstr(&b, "checksum", r->checksum);
			ferry_buf_puts(&b, ",");
			jstr(&b, "checksum_algo", r->checksum_algo);
			ferry_buf_puts(&b, ",");
			jstr(&b, "applied_at", r->applied_at);
			ferry_buf_puts(&b, ",");
			jstr(&b, "applied_by", r->applied_by);
			ferry_buf_printf(&b, ",\"duration_ms\":%lld,\"success\":%s,", (long long)r->duration_ms,
			                 r->success ? "true" : "false");
			jstr(&b, "ferry_version", r->ferry_version);
			ferry_buf_puts(&b, ",");
			jstr(&b, "run_id", r->run_id);
			if (r->rows_moved >= 0)
				ferry_buf_printf(&b, ",\"rows_moved\":%lld,", (long long)r->rows_moved);
			else
				ferry_buf_puts(&b, ",\"rows_moved\":null,");
			jstr(&b, "verdict", r->verdict);
			ferry_buf_puts(&b, "}");
		}
		ferry_buf_puts(&b, "]");
	} else {
		ferry_buf_puts(&b, ",");
		jstr(&b, "dir", m->dir);
		ferry_buf_puts(&b, ",");
		jstr(&b, "current", m->current);
		ferry_buf_printf(&b, ",\"pending\":%zu,\"valid\":%s,", m->npending,
		                 m->problems.n ? "false" : "true");
		if (view == FERRY_VIEW_STATUS) {
			ferry_buf_puts(&b, "\"migrations\":[");
			for (size_t i = 0; i < m->nentries; i++) {
				ferry_migration_info in;
				ferry_migrations_get(&in, m, i);
				ferry_buf_puts(&b, i ? ",{" : "{");
				jstr(&b, "version", in.version);
				ferry_buf_puts(&b, ",");
				jstr(&b, "description", in.description);
				ferry_buf_puts(&b, ",");
				jstr(&b, "state", ferry_migration_state_name(in.state));
				ferry_buf_puts(&b, ",");
				jstr(&b, "script", in.script);
				ferry_buf_puts(&b, ",");
				jstr(&b, "down_script", in.down_script);
				ferry_buf_puts(&b, ",");
				jstr(&b, "applied_at", in.applied_at);
				ferry_buf_puts(&b, ",");
				jstr(&b, "checksum", in.checksum);
				ferry_buf_puts(&b, "}");
			}
			ferry_buf_puts(&b, "],");
		}
		problems_json(&b, m);
	}
	ferry_buf_puts(&b, "}\n");
	if (b.failed)
		return FERRY_ENOMEM;
	size_t w = fwrite(b.data, 1, b.len, f);
	int rc = w == b.len && !ferror(f) ? 0 : FERRY_ERROR;
	ferry_buf_free(&b);
	return rc;
}
