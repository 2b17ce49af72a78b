/* label_engine.c — a label (docs/LABEL-FORMAT.md) as an engine: `ferry export` is ferry_copy
 * with a label as its target, `ferry import` is ferry_copy with a label as its source, so the
 * read step and the write step are the one pipeline with other ends.
 *
 * State lives on disk: the chunk files are the truth about what was written, the manifest
 * about what was planned. Every manifest change is a read-modify-write from disk; the
 * pipeline never has two connections changing a label at once (the coordinator acts between
 * stages, and a label takes one writer). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "../../label/label.h"

typedef struct lb_conn {
	char *dir;
	int source;                  /* opened read-only: an import reads it */
	ferry_label_manifest *m;     /* source: the manifest read at connect */
	ferry_schema *defs;          /* target: definitions given to create_table, by name */
	/* target: the chunk being written by this connection */
	ferry_chunk_writer *cw;
	char *cw_path;
	int64_t cw_job, cw_chunk;
	/* target, writer connections: the job each writer serves */
	int64_t wjob;
} lb_conn;

typedef struct lb_writer {
	lb_conn *c;
	size_t ncols;
	size_t *map;
} lb_writer;

typedef struct lb_reader {
	ferry_chunk_reader *r;
	size_t *map;
	size_t nmap;
} lb_reader;

#define LB(c) ((lb_conn *)(void *)(c))

static const char *url_dir(const char *url)
{
	if (strncmp(url, "label://", 8) == 0)
		return url + 8;
	if (strncmp(url, "label:", 6) == 0)
		return url + 6;
	return url;
}

static int oom(ferry_err *err)
{
	return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
}

static void lb_close(ferry_conn *conn)
{
	lb_conn *c = LB(conn);
	if (!c)
		return;
	ferry__chunkw_abort(c->cw);
	free(c->cw_path);
	ferry__manifest_free(c->m);
	ferry__schema_free(c->defs);
	free(c->dir);
	free(c);
}

static int lb_connect(ferry_conn **out, const char *url, int flags, ferry_err *err)
{
	*out = NULL;
	const char *dir = url_dir(url);
	if (!*dir)
		return ferry_err_set(err, FERRY_EUSAGE, "no label directory in \"%s\"", url);
	lb_conn *c = ferry__calloc(1, sizeof(*c));
	if (!c || !(c->dir = ferry__strdup(dir)) || !(c->defs = ferry__schema_new())) {
		lb_close((ferry_conn *)(void *)c);
		return oom(err);
	}
	c->wjob = -1;
	c->source = (flags & FERRY_CONNECT_READONLY) != 0;
	int rc = 0;
	if (c->source) {
		rc = ferry__manifest_read(&c->m, dir, err);
	} else {
		struct stat st;
		if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode))
			rc = ferry_err_set(err, FERRY_EUSAGE, "label \"%s\" is not a directory", dir);
		else if (flags & FERRY_CONNECT_CREATE)
			rc = ferry__label_mkdirs(dir, err);
		else if (stat(dir, &st) != 0)
			rc = ferry_err_set(err, FERRY_ENOTFOUND, "label \"%s\" does not exist", dir);
	}
	if (rc) {
		lb_close((ferry_conn *)(void *)c);
		return rc;
	}
	*out = (ferry_conn *)(void *)c;
	return 0;
}

/* The manifest as it is on disk now, or a new one for this plan. */
static int load(lb_conn *c, const char *run_id, ferry_label_manifest **out, ferry_err *err)
{
	int rc = ferry__manifest_read(out, c->dir, err);
	if (rc == FERRY_ENOTFOUND) {
		*out = ferry__manifest_new(run_id ? run_id : "");
		return *out ? 0 : oom(err);
	}
	if (rc)
		return rc;
	if (run_id && strcmp((*out)->plan_digest, run_id) != 0) {
		ferry_err_set(err, FERRY_EUSAGE,
		              "label \"%s\" was written by another plan (digest %.12s..., this plan %.12s...): use another label directory",
		              c->dir, (*out)->plan_digest, run_id);
		ferry__manifest_free(*out);
		*out = NULL;
		return FERRY_EUSAGE;
	}
	return 0;
}

static char *chunk_path(const char *dir, const ferry_label_table *t, int64_t chunk)
{
	char *f = ferry__label_chunk_file(chunk);
	char *p = f ? ferry__sprintf("%s/%s/%s", dir, t->dir, f) : NULL;
	free(f);
	return p;
}


/* The column name inside a quoted identifier the pipeline made with quote_ident. */
static char *unquote(const char *q)
{
	size_t n = strlen(q);
	if (n < 2 || q[0] != '"' || q[n - 1] != '"')
		return NULL;
	char *d = ferry__malloc(n);
	if (!d)
		return NULL;
	size_t k = 0;
	for (size_t i = 1; i + 1 < n; i++) {
		d[k++] = q[i];
		if (q[i] == '"' && q[i + 1] == '"')
			i++;
	}
	d[k] = '\0';
	return d;
}

static int lb_exec(ferry_conn *c, const char *sql, ferry_err *err)
{
	(void)c;
	(void)sql;
	return ferry_err_set(err, FERRY_EUSAGE, "a label runs no SQL (a target_schema applies to a database, not to a label)");
}

/* ---- a label as a source (import) ------------------------------------------------------ */

static const char *base_name(const char *dir)
{
	const char *s = strrchr(dir, '/');
	return s ? s + 1 : dir;
}

/* The engine a label table's rows were read from ("postgres"), from its source's record, so
 * that a table created from the label is declared as one created from that engine would be
 * (PostgreSQL's floats and decimals get SQLite's exact types); "label" when unknown. */
static const char *table_engine(const ferry_label_manifest *m, const ferry_label_table *lt)
{
	static const char *const known[] = {"sqlite", "postgres"};
	const char *dot = lt->source ? strchr(lt->source, '.') : NULL;
	for (size_t i = 0; dot && i < m->nsources; i++) {
		const ferry_label_source *s = &m->sources[i];
		if (s->name && s->engine && strlen(s->name) == (size_t)(dot - lt->source) &&
		    strncmp(s->name, lt->source, (size_t)(dot - lt->source)) == 0)
			for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++)
				if (strcmp(s->engine, known[k]) == 0)
					return known[k];
	}
	return "label";
}

static const ferry_label_table *find_by_dir(const ferry_label_manifest *m, const char *name)
{
	for (size_t i = 0; i < m->ntables; i++)
		if (strcmp(base_name(m->tables[i].dir), name) == 0)
			return &m->tables[i];
	return NULL;
}

/* As a source, each job of the label is a table named after its folder ("000003-items"),
 * so two jobs that feed one target table stay apart. As a target, the tables are those the
 * label holds, by target name, so a resumed or later read step finds what it planned. */
static int lb_introspect(ferry_conn *conn, ferry_schema *out, ferry_err *err)
{
	lb_conn *c = LB(conn);
	ferry_label_manifest *m = c->m;
	int own = 0;
	if (!c->source) {
		int rc = ferry__manifest_read(&m, c->dir, err);
		if (rc == FERRY_ENOTFOUND)
			return 0;
		if (rc)
			return rc;
		own = 1;
	}
	int rc = 0;
	for (size_t i = 0; i < m->ntables && rc == 0; i++) {
		const ferry_label_table *lt = &m->tables[i];
		const char *name = c->source ? base_name(lt->dir) : lt->name;
		if (!c->source && ferry_schema_find(out, name))
			continue;
		ferry_table *t = ferry_schema_add_table(out, name);
		if (!t) {
			rc = oom(err);
			break;
		}
		t->origin = table_engine(m, lt);
		size_t pk[64], npk = 0;
		for (size_t k = 0; k < lt->ncols; k++) {
			const ferry_label_column *lc = &lt->cols[k];
			ferry_column *col = ferry_table_add_column(out, t, lc->name, lc->decl ? lc->decl : "", lc->type);
			if (!col) {
				rc = oom(err);
				break;
			}
			col->notnull = lc->notnull;
		}
		for (int pos = 1; rc == 0 && pos <= 64; pos++)
			for (size_t k = 0; k < lt->ncols; k++)
				if (lt->cols[k].pk == pos && npk < 64)
					pk[npk++] = k;
		if (rc == 0 && npk && ferry_table_set_pk(out, t, pk, npk) != 0)
			rc = oom(err);
	}
	if (own)
		ferry__manifest_free(m);
	return rc;
}

static int lb_snapshot_export(ferry_conn *c, const char **token, ferry_err *err)
{
	(void)c;
	(void)err;
	*token = "label"; /* a label does not change under its reader */
	return 0;
}

static int lb_snapshot_join(ferry_conn *c, const char *token, ferry_err *err)
{
	(void)c;
	(void)token;
	(void)err;
	return 0;
}

/* A label's chunks are the import's chunks: bounds are chunk numbers (lo exclusive), so a
 * key range says nothing about them (an import's plan has no where). */
static int lb_plan_chunks(ferry_conn *conn, const char *table, size_t nkeys,
                          const char *const *keys, int64_t chunk_rows,
                          const ferry_key_range *range, ferry_chunk_cb cb, void *ud,
                          ferry_err *err)
{
	lb_conn *c = LB(conn);
	(void)nkeys;
	(void)keys;
	(void)chunk_rows;
	(void)range;
	const ferry_label_table *t = c->m ? find_by_dir(c->m, table) : NULL;
	if (!t)
		return ferry_err_set(err, FERRY_ENOTFOUND, "label \"%s\" has no table \"%s\"", c->dir, table);
	for (size_t i = 0; i < t->nchunks; i++) {
		uint8_t lob[16], hib[16];
		uint8_t *lo = NULL, *hi = NULL;
		size_t lo_len = 0, hi_len = 0, cap = 0;
		ferry_value v = {.type = FERRY_INT};
		/* Encode into small stack buffers through the growable encoder. */
		uint8_t *buf = NULL;
		v.v.i = t->chunks[i].chunk - 1;
		if (ferry_value_encode_row(&buf, &lo_len, &cap, &v, 1) != 0 || lo_len > sizeof(lob)) {
			free(buf);
			return oom(err);
		}
		memcpy(lob, buf, lo_len);
		lo = lob;
		hi_len = 0;
		v.v.i = t->chunks[i].chunk;
		if (ferry_value_encode_row(&buf, &hi_len, &cap, &v, 1) != 0 || hi_len > sizeof(hib)) {
			free(buf);
			return oom(err);
		}
		memcpy(hib, buf, hi_len);
		hi = hib;
		free(buf);
		ferry_chunk_rec rec = {
			.chunk = (int64_t)i,
			.lo = lo, .lo_len = lo_len,
			.hi = hi, .hi_len = hi_len,
			.est_rows = (int64_t)t->chunks[i].info.rows,
		};
		int rc = cb(ud, &rec);
		if (rc)
			return rc;
	}
	return 0;
}

static int lb_reader_open(ferry_reader **out, ferry_conn *conn, const ferry_read_spec *spec,
                          ferry_err *err)
{
	lb_conn *c = LB(conn);
	*out = NULL;
	const ferry_label_table *t = c->m ? find_by_dir(c->m, spec->table) : NULL;
	if (!t)
		return ferry_err_set(err, FERRY_ENOTFOUND, "label \"%s\" has no table \"%s\"", c->dir, spec->table);
	if (spec->filter || spec->nparams)
		return ferry_err_set(err, FERRY_EUSAGE,
		                     "cannot filter or compute while reading label \"%s\": the read step (export) applies the plan's rules",
		                     c->dir);
	if (!spec->hi || spec->hi->type != FERRY_INT)
		return ferry_err_set(err, FERRY_ECORRUPT, "run state names no chunk of label table \"%s\"", spec->table);
	int64_t chunk = spec->hi->v.i;
	const ferry_label_chunk *lc = NULL;
	for (size_t i = 0; i < t->nchunks; i++)
		if (t->chunks[i].chunk == chunk)
			lc = &t->chunks[i];
	if (!lc)
		return ferry_err_set(err, FERRY_ECORRUPT, "label \"%s\" has no chunk %lld of table \"%s\"",
		                     c->dir, (long long)chunk, t->name);
	lb_reader *r = ferry__calloc(1, sizeof(*r));
	if (!r || !(r->map = ferry__calloc(spec->nexprs + 1, sizeof(size_t)))) {
		free(r);
		return oom(err);
	}
	r->nmap = spec->nexprs;
	for (size_t i = 0; i < spec->nexprs; i++) {
		char *name = unquote(spec->exprs[i]);
		size_t k = 0;
		while (name && k < t->ncols && strcmp(t->cols[k].name, name) != 0)
			k++;
		if (!name || k == t->ncols) {
			int rc = !name ? oom(err)
			               : ferry_err_set(err, FERRY_EUSAGE,
			                               "cannot compute %s while reading label \"%s\": only columns of table \"%s\" can be read",
			                               spec->exprs[i], c->dir, t->name);
			free(name);
			free(r->map);
			free(r);
			return rc;
		}
		free(name);
		r->map[i] = k;
	}
	char *path = chunk_path(c->dir, t, chunk);
	int rc = path ? ferry__chunkr_open(&r->r, path, c->m->label_id, (uint64_t)t->job,
	                                   (uint64_t)chunk, (uint32_t)t->ncols, err)
	              : oom(err);
	if (rc == 0 && lc->written) {
		/* The chunk checks out by itself; it must also be the chunk the manifest recorded
		 * (the row-set digest does not see blocks swapped, the file checksum does). */
		ferry_label_chunk_info info;
		ferry__chunkr_info(r->r, &info);
		if (info.xxh3 != lc->info.xxh3 || info.rows != lc->info.rows || info.digest != lc->info.digest)
			rc = ferry_err_set(err, FERRY_ECORRUPT,
			                   "label chunk \"%s\" is not the chunk the manifest recorded (checksum, rows or digest differ)",
			                   path);
	}
	free(path);
	if (rc) {
		ferry__chunkr_close(r->r);
		free(r->map);
		free(r);
		return rc;
	}
	*out = (ferry_reader *)(void *)r;
	return 0;
}

static int lb_reader_next(ferry_reader *rd, ferry_batch *b, int *eof, ferry_err *err)
{
	lb_reader *r = (lb_reader *)(void *)rd;
	return ferry__chunkr_next(r->r, b, r->map, eof, err);
}

static void lb_reader_close(ferry_reader *rd)
{
	lb_reader *r = (lb_reader *)(void *)rd;
	if (!r)
		return;
	ferry__chunkr_close(r->r);
	free(r->map);
	free(r);
}

/* ---- a label as a target (export) ------------------------------------------------------ */

static int lb_begin(ferry_conn *c, ferry_err *err)
{
	(void)c;
	(void)err;
	return 0;
}

static int lb_chunk_begin(ferry_conn *conn, const ferry_chunk_rec *rec, ferry_err *err)
{
	lb_conn *c = LB(conn);
	ferry__chunkw_abort(c->cw);
	c->cw = NULL;
	free(c->cw_path);
	c->cw_path = NULL;
	char *tdir = ferry__label_table_dir(rec->stage, rec->job, rec->table);
	char *full = tdir ? ferry__sprintf("%s/%s", c->dir, tdir) : NULL;
	char *f = ferry__label_chunk_file(rec->chunk);
	c->cw_path = full && f ? ferry__sprintf("%s/%s", full, f) : NULL;
	int rc = c->cw_path ? ferry__label_mkdirs(full, err) : oom(err);
	free(tdir);
	free(full);
	free(f);
	if (rc)
		return rc;
	c->cw_job = rec->job;
	c->cw_chunk = rec->chunk;
	return 0;
}

static int lb_writer_open(ferry_writer **out, ferry_conn *conn, const ferry_write_spec *spec,
                          ferry_err *err)
{
	lb_conn *c = LB(conn);
	*out = NULL;
	lb_writer *w = ferry__calloc(1, sizeof(*w));
	if (!w || !(w->map = ferry__calloc(spec->ncols + 1, sizeof(size_t)))) {
		free(w);
		return oom(err);
	}
	w->c = c;
	w->ncols = spec->ncols;
	memcpy(w->map, spec->map, spec->ncols * sizeof(size_t));
	/* Merge rules travel in the manifest: the write step applies them. */
	if (spec->merge) {
		ferry_label_manifest *m = NULL;
		int rc = load(c, NULL, &m, err);
		for (size_t i = 0; rc == 0 && i < m->ntables; i++) {
			ferry_label_table *t = &m->tables[i];
			if (strcmp(t->name, spec->table) != 0 || t->nconflict)
				continue;
			for (size_t k = 0; rc == 0 && k < spec->ncols; k++) {
				ferry_conflict r = (ferry_conflict)spec->conflict[k];
				/* A column without a rule must agree between sources: the write step
				 * treats it as "error", so say so in the label. */
				if (r == FERRY_CONFLICT_KEY)
					continue;
				if (r == FERRY_CONFLICT_NONE)
					r = FERRY_CONFLICT_ERROR;
				if (ferry__manifest_add_conflict(t, spec->cols[k], r) != 0)
					rc = oom(err);
			}
		}
		if (rc == 0)
			rc = ferry__manifest_write(m, c->dir, err);
		ferry__manifest_free(m);
		if (rc) {
			free(w->map);
			free(w);
			return rc;
		}
	}
	*out = (ferry_writer *)(void *)w;
	return 0;
}

static int lb_writer_write(ferry_writer *wr, const ferry_batch *b, ferry_reject_cb reject,
                           void *ud, ferry_err *err)
{
	lb_writer *w = (lb_writer *)(void *)wr;
	lb_conn *c = w->c;
	(void)reject;
	(void)ud;
	if (!c->cw_path)
		return ferry_err_set(err, FERRY_ERROR, "label \"%s\": rows arrived outside a chunk", c->dir);
	if (!c->cw) {
		/* The label id comes from the manifest the coordinator wrote before the stage. */
		ferry_label_manifest *m = NULL;
		int rc = load(c, NULL, &m, err);
		if (rc)
			return rc;
		rc = ferry__chunkw_open(&c->cw, c->cw_path, m->label_id, (uint64_t)c->cw_job,
		                        (uint64_t)c->cw_chunk, (uint32_t)w->ncols, FERRY_LABEL_ZSTD_LEVEL, err);
		ferry__manifest_free(m);
		if (rc)
			return rc;
	}
	return ferry__chunkw_add(c->cw, b, w->map, err);
}

static void lb_writer_close(ferry_writer *wr)
{
	lb_writer *w = (lb_writer *)(void *)wr;
	if (w)
		free(w->map);
	free(w);
}

/* Commit: the chunk file is complete when renamed; an empty chunk gets a file too, so that
 * "every chunk has its file" is what complete means. */
static int lb_commit(ferry_conn *conn, ferry_err *err)
{
	lb_conn *c = LB(conn);
	if (!c->cw_path)
		return 0;
	int rc = 0;
	if (!c->cw) {
		ferry_label_manifest *m = NULL;
		rc = load(c, NULL, &m, err);
		if (rc == 0) {
			const ferry_label_table *t = ferry__manifest_table(m, c->cw_job);
			rc = ferry__chunkw_open(&c->cw, c->cw_path, m->label_id, (uint64_t)c->cw_job,
			                        (uint64_t)c->cw_chunk, t ? (uint32_t)t->ncols : 0, FERRY_LABEL_ZSTD_LEVEL, err);
		}
		ferry__manifest_free(m);
	}
	if (rc == 0) {
		rc = ferry__chunkw_finish(c->cw, NULL, err);
		c->cw = NULL;
	}
	free(c->cw_path);
	c->cw_path = NULL;
	return rc;
}

static int lb_rollback(ferry_conn *conn, ferry_err *err)
{
	lb_conn *c = LB(conn);
	(void)err;
	ferry__chunkw_abort(c->cw);
	c->cw = NULL;
	free(c->cw_path);
	c->cw_path = NULL;
	return 0;
}

static int lb_create_table(ferry_conn *conn, const ferry_table *def, ferry_err *err)
{
	lb_conn *c = LB(conn);
	if (!ferry_schema_find(c->defs, def->name) && !ferry__schema_copy_table(c->defs, def, NULL))
		return oom(err);
	return 0;
}

static int lb_create_indexes(ferry_conn *c, const ferry_table *def, ferry_err *err)
{
	(void)c;
	(void)err;
	/* Indexes and CHECK constraints belong to the target database, made by its schema; a
	 * label holds rows. Said once per table, so none of them vanishes without a note. */
	if (def->note && (def->nidx || def->nchecks)) {
		char line[600];
		snprintf(line, sizeof(line),
		         "%zu index(es) and %zu check constraint(s) of \"%s\" are not kept in the label: the target's schema makes them",
		         def->nidx, def->nchecks, def->name);
		def->note(def->note_ud, NULL, NULL, line);
	}
	return 0;
}

static int lb_table_rows(ferry_conn *c, const char *table, int64_t *out, ferry_err *err)
{
	(void)c;
	(void)table;
	(void)err;
	*out = 0; /* each job has a folder of its own: nothing of another run is mixed in */
	return 0;
}

/* ---- state ---------------------------------------------------------------------------- */

static int lb_state_init(ferry_conn *conn, ferry_err *err)
{
	lb_conn *c = LB(conn);
	return c->source ? 0 : ferry__label_mkdirs(c->dir, err);
}

/* What was planned (the manifest) and what was written (the chunk files, each checked). */
static int lb_state_load(ferry_conn *conn, const char *run_id, ferry_chunk_cb cb, void *ud,
                         ferry_err *err)
{
	lb_conn *c = LB(conn);
	ferry_label_manifest *m = NULL;
	int rc = ferry__manifest_read(&m, c->dir, err);
	if (rc == FERRY_ENOTFOUND)
		return 0;
	if (rc)
		return rc;
	if (strcmp(m->plan_digest, run_id) != 0) {
		ferry__manifest_free(m);
		return load(c, run_id, &m, err); /* says which plan wrote it */
	}
	for (size_t i = 0; i < m->ntables && rc == 0; i++) {
		ferry_label_table *t = &m->tables[i];
		for (size_t k = 0; k < t->nchunks && rc == 0; k++) {
			ferry_label_chunk *ch = &t->chunks[k];
			char *path = chunk_path(c->dir, t, ch->chunk);
			if (!path) {
				rc = oom(err);
				break;
			}
			ferry_chunk_rec rec = {
				.job = t->job, .chunk = ch->chunk, .stage = t->stage, .table = t->name,
				.lo = ch->lo, .lo_len = ch->lo_len, .hi = ch->hi, .hi_len = ch->hi_len,
				.est_rows = ch->est_rows,
			};
			struct stat st;
			if (stat(path, &st) == 0) {
				ferry_label_chunk_info info;
				rc = ferry__chunk_check(path, m->label_id, (uint64_t)t->job, (uint64_t)ch->chunk,
				                        (uint32_t)t->ncols, &info, err);
				if (rc == 0) {
					rec.done = 1;
					rec.rows_written = (int64_t)info.rows;
					rec.rows_read = ch->est_rows > rec.rows_written ? ch->est_rows : rec.rows_written;
					rec.rows_skipped = rec.rows_read - rec.rows_written;
				}
			}
			free(path);
			if (rc == 0)
				rc = cb(ud, &rec);
		}
	}
	ferry__manifest_free(m);
	return rc;
}

static int lb_state_add_chunks(ferry_conn *conn, const char *run_id, const ferry_chunk_rec *recs,
                               size_t n, ferry_err *err)
{
	lb_conn *c = LB(conn);
	ferry_label_manifest *m = NULL;
	int rc = load(c, run_id, &m, err);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		const ferry_chunk_rec *r = &recs[i];
		/* "stage/source.table->target": the source part, for people reading the manifest. */
		char *src = NULL;
		if (r->job_name) {
			const char *a = strchr(r->job_name, '/'), *b = strstr(r->job_name, "->");
			if (a && b && b > a && !(src = ferry__strndup(a + 1, (size_t)(b - a - 1)))) {
				rc = oom(err);
				break;
			}
		}
		if (!ferry__manifest_add_stage(m, r->stage)) {
			free(src);
			rc = oom(err);
			break;
		}
		ferry_label_table *t = ferry__manifest_table(m, r->job);
		if (!t) {
			t = ferry__manifest_add_table(m, r->job, r->stage, r->table, src ? src : "");
			const ferry_table *def = t ? ferry_schema_find(c->defs, r->table) : NULL;
			for (size_t k = 0; t && def && k < def->ncols && rc == 0; k++) {
				const ferry_column *dc = &def->cols[k];
				if (!dc->generated &&
				    !ferry__manifest_add_column(t, dc->name, dc->type, dc->decl_type, dc->notnull,
				                                dc->pk_pos))
					rc = oom(err);
			}
		}
		free(src);
		if (!t) {
			rc = oom(err);
			break;
		}
		ferry_label_chunk *ch = rc ? NULL : ferry__manifest_add_chunk(t, r->chunk);
		if (!ch) {
			rc = rc ? rc : oom(err);
			break;
		}
		ch->est_rows = r->est_rows;
		if (r->lo && (ch->lo = ferry__malloc(r->lo_len ? r->lo_len : 1)) != NULL)
			memcpy(ch->lo, r->lo, r->lo_len), ch->lo_len = r->lo_len;
		if (r->hi && (ch->hi = ferry__malloc(r->hi_len ? r->hi_len : 1)) != NULL)
			memcpy(ch->hi, r->hi, r->hi_len), ch->hi_len = r->hi_len;
		if ((r->lo && !ch->lo) || (r->hi && !ch->hi))
			rc = oom(err);
		t->complete = 0;
		ferry_label_stage *st = ferry__manifest_stage(m, r->stage);
		if (st)
			st->complete = 0;
	}
	if (rc == 0)
		rc = ferry__manifest_write(m, c->dir, err);
	ferry__manifest_free(m);
	return rc;
}

static int lb_state_chunk_done(ferry_conn *c, const char *run_id, const ferry_chunk_rec *rec,
                               ferry_err *err)
{
	(void)c;
	(void)run_id;
	(void)rec;
	(void)err;
	return 0; /* the chunk file, renamed at commit, is the record */
}

static int lb_state_reject(ferry_conn *c, const char *run_id, int64_t job, int64_t chunk,
                           const char *table, const char *key, const char *reason, ferry_err *err)
{
	(void)run_id;
	(void)job;
	(void)chunk;
	(void)key;
	return ferry_err_set(err, FERRY_ERROR, "label \"%s\" cannot hold a refused row of \"%s\": %s",
	                     LB(c)->dir, table, reason);
}

static int lb_state_rejects(ferry_conn *c, const char *run_id,
                            int (*cb)(void *, const char *, const char *, const char *), void *ud,
                            ferry_err *err)
{
	(void)c;
	(void)run_id;
	(void)cb;
	(void)ud;
	(void)err;
	return 0;
}

/* Flags: "stage:NAME" is a complete stage of the label; "finished" when all stages are;
 * "schema" and "created:" are a database's business and always done. */
static int lb_state_get(ferry_conn *conn, const char *run_id, const char *flag, int *out,
                        ferry_err *err)
{
	lb_conn *c = LB(conn);
	*out = 0;
	if (strcmp(flag, "schema") == 0 || strncmp(flag, "created:", 8) == 0) {
		*out = 1;
		return 0;
	}
	ferry_label_manifest *m = NULL;
	int rc = ferry__manifest_read(&m, c->dir, err);
	if (rc == FERRY_ENOTFOUND)
		return 0;
	if (rc)
		return rc;
	if (strcmp(m->plan_digest, run_id) == 0) {
		if (strncmp(flag, "stage:", 6) == 0) {
			const ferry_label_stage *st = ferry__manifest_stage(m, flag + 6);
			*out = st && st->complete;
		}
		/* "finished" stays 0: a label is finished stage by stage (another read step may add
		 * a stage later), so every export run checks its chunks. */
	}
	ferry__manifest_free(m);
	return 0;
}

/* Mark a stage complete: every chunk of its tables has its file; record what each holds. */
static int lb_state_set(ferry_conn *conn, const char *run_id, const char *flag, ferry_err *err)
{
	lb_conn *c = LB(conn);
	if (strncmp(flag, "stage:", 6) != 0)
		return 0;
	ferry_label_manifest *m = NULL;
	int rc = load(c, run_id, &m, err);
	if (rc)
		return rc;
	ferry_label_stage *st = ferry__manifest_add_stage(m, flag + 6);
	int all = st != NULL;
	for (size_t i = 0; rc == 0 && i < m->ntables; i++) {
		ferry_label_table *t = &m->tables[i];
		if (strcmp(t->stage, flag + 6) != 0)
			continue;
		int complete = 1;
		for (size_t k = 0; rc == 0 && k < t->nchunks; k++) {
			ferry_label_chunk *ch = &t->chunks[k];
			char *path = chunk_path(c->dir, t, ch->chunk);
			if (!path) {
				rc = oom(err);
				break;
			}
			ferry_label_chunk_info info;
			rc = ferry__chunk_check(path, m->label_id, (uint64_t)t->job, (uint64_t)ch->chunk,
			                        (uint32_t)t->ncols, &info, err);
			free(path);
			if (rc == FERRY_ENOTFOUND) {
				complete = 0;
				rc = 0;
				continue;
			}
			if (rc == 0) {
				ch->written = 1;
				ch->info = info;
				ch->read = ch->est_rows > (int64_t)info.rows ? ch->est_rows : (int64_t)info.rows;
				ch->skipped = ch->read - (int64_t)info.rows;
			}
		}
		t->complete = complete;
		all &= complete;
	}
	if (rc == 0 && !st)
		rc = oom(err);
	if (rc == 0) {
		st->complete = all;
		if (all && !st->read_at) {
			char now[32];
			ferry__utc_iso(now);
			if (!(st->read_at = ferry__strdup(now)))
				rc = oom(err);
		}
		if (rc == 0)
			rc = ferry__manifest_write(m, c->dir, err);
	}
	ferry__manifest_free(m);
	return rc;
}

/* A label is its own record: the manifest and the chunk files, not ferry's tables. */
static const ferry_engine_state lb_state = {
	.version = FERRY_ENGINE_VERSION,
	.init = lb_state_init,
	.load = lb_state_load,
	.add_chunks = lb_state_add_chunks,
	.chunk_done = lb_state_chunk_done,
	.reject = lb_state_reject,
	.rejects = lb_state_rejects,
	.get = lb_state_get,
	.set = lb_state_set,
};

static const char *const lb_schemes[] = {"label", NULL};

/* The label's directory. */
static char *lb_url_path(const char *url)
{
	const char *dir = url_dir(url);
	return *dir ? ferry__strdup(dir) : NULL;
}

/* The directory with every symlink resolved. */
static int lb_url_identity(char **out, const char *url, ferry_err *err)
{
	*out = NULL;
	const char *dir = url_dir(url);
	if (!*dir)
		return ferry_err_set(err, FERRY_EUSAGE, "no label directory in \"%s\"", url);
	char *real = ferry__path_canonical(dir);
	*out = real ? ferry__label_url(real) : NULL;
	free(real);
	return *out ? 0 : ferry_err_set(err, FERRY_ENOMEM, "out of memory");
}

char *ferry__label_url(const char *dir)
{
	return ferry__sprintf("label:%s", dir);
}

static const ferry_engine_core lb_core = {
	.connect = lb_connect,
	.close = lb_close,
	.introspect = lb_introspect,
	.quote_ident = ferry__quote_ident_std,
	.exec = lb_exec,
	.begin = lb_begin,
	.commit = lb_commit,
	.rollback = lb_rollback,
};

static const ferry_engine_read lb_read = {
	.snapshot_export = lb_snapshot_export,
	.snapshot_join = lb_snapshot_join,
	.plan_chunks = lb_plan_chunks,
	.reader_open = lb_reader_open,
	.reader_next = lb_reader_next,
	.reader_close = lb_reader_close,
};

static const ferry_engine_write lb_write = {
	.writer_open = lb_writer_open,
	.chunk_begin = lb_chunk_begin,
	.writer_write = lb_writer_write,
	.writer_close = lb_writer_close,
	.create_table = lb_create_table,
	.create_indexes = lb_create_indexes,
	.table_rows = lb_table_rows,
};

const ferry_engine ferry__label_engine = {
	.version = FERRY_ENGINE_VERSION,
	.name = "label",
	.schemes = lb_schemes,
	.max_writers = 1,
	.flags = FERRY_ENGINE_CHUNKED_READ | FERRY_ENGINE_LABEL,
	.url_path = lb_url_path,
	.url_identity = lb_url_identity,
	.state = &lb_state,
	.core = &lb_core,
	.read = &lb_read,
	.write = &lb_write,
};
