/* manifest.c — the label's manifest.json (docs/LABEL-FORMAT.md "manifest.json"): a new
 * manifest with a fresh label id, its atomic write with the self-checksum, and its read,
 * which checks the version, the checksum and every field before trusting any. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>
#include "label_int.h"

#define MANIFEST_MAX ((size_t)64 << 20)
#define SUM_KEY "\"manifest_xxh3\""
#define SUM_ZEROS "0000000000000000"

/* The plan's rule names (ferry__conflict_name, which lives with the plan; tests check the
 * two agree), indexed by ferry_conflict. */
static const char *const conflict_names[] = {"none", "key", "min", "max",
                                             "first", "last", "sum", "error"};

/* ==== building and freeing ================================================================ */

ferry_label_manifest *ferry__manifest_new(const char *plan_digest)
{
	ferry_label_manifest *m = ferry__calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->format_version = FERRY_LABEL_FORMAT;
	m->ferry_version = ferry__strdup(FERRY_VERSION);
	char now[32];
	ferry__utc_iso(now);
	m->created_at = ferry__strdup(now);
	snprintf(m->plan_digest, sizeof(m->plan_digest), "%s", plan_digest ? plan_digest : "");
	if (!m->ferry_version || !m->created_at) {
		ferry__manifest_free(m);
		return NULL;
	}
	/* The id only has to differ between labels: the clocks, the pid, the plan and, where
	 * the system has it, /dev/urandom, hashed together. */
	struct {
		struct timespec rt, mono;
		long pid;
		uint8_t rnd[16];
		char digest[33];
		const void *where;
	} seed;
	memset(&seed, 0, sizeof(seed));
	clock_gettime(CLOCK_REALTIME, &seed.rt);
	clock_gettime(CLOCK_MONOTONIC, &seed.mono);
	seed.pid = (long)getpid();
	memcpy(seed.digest, m->plan_digest, sizeof(seed.digest));
	seed.where = (const void *)m;
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (read(fd, seed.rnd, sizeof(seed.rnd)) < 0)
			memset(seed.rnd, 0, sizeof(seed.rnd));
		close(fd);
	}
	XXH128_canonical_t c;
	XXH128_canonicalFromHash(&c, XXH3_128bits(&seed, sizeof(seed)));
	memcpy(m->label_id, c.digest, 16);
	ferry__hex_encode(m->label_id_hex, m->label_id, 16);
	return m;
}

static void table_clear(ferry_label_table *t)
{
	free(t->stage);
	free(t->name);
	free(t->dir);
	free(t->source);
	for (size_t i = 0; i < t->ncols; i++) {
		free(t->cols[i].name);
		free(t->cols[i].decl);
	}
	free(t->cols);
	for (size_t i = 0; i < t->nconflict; i++)
		free(t->conflict_cols[i]);
	free(t->conflict_cols);
	free(t->conflict_rules);
	for (size_t i = 0; i < t->nchunks; i++) {
		free(t->chunks[i].lo);
		free(t->chunks[i].hi);
	}
	free(t->chunks);
}

void ferry__manifest_free(ferry_label_manifest *m)
{
	if (!m)
		return;
	free(m->ferry_version);
	free(m->created_at);
	for (size_t i = 0; i < m->nsources; i++) {
		free(m->sources[i].name);
		free(m->sources[i].engine);
		free(m->sources[i].url);
		free(m->sources[i].schema_version);
	}
	free(m->sources);
	for (size_t i = 0; i < m->nstages; i++) {
		free(m->stages[i].name);
		for (size_t j = 0; j < m->stages[i].nafter; j++)
			free(m->stages[i].after[j]);
		free(m->stages[i].after);
		free(m->stages[i].read_at);
	}
	free(m->stages);
	for (size_t i = 0; i < m->ntables; i++)
		table_clear(&m->tables[i]);
	free(m->tables);
	free(m);
}

ferry_label_table *ferry__manifest_table(const ferry_label_manifest *m, int64_t job)
{
	for (size_t i = 0; i < m->ntables; i++)
		if (m->tables[i].job == job)
			return &m->tables[i];
	return NULL;
}

ferry_label_stage *ferry__manifest_stage(const ferry_label_manifest *m, const char *name)
{
	for (size_t i = 0; i < m->nstages; i++)
		if (strcmp(m->stages[i].name, name) == 0)
			return &m->stages[i];
	return NULL;
}

/* Arrays grow by one element at a time through realloc: pointers into them stay valid
 * only until the next add on the same array. */
static int grow1(void *arr, size_t n, size_t elem)
{
	void **p = arr;
	void *q = ferry__realloc(*p, (n + 1) * elem);
	if (!q)
		return FERRY_ENOMEM;
	memset((char *)q + n * elem, 0, elem);
	*p = q;
	return 0;
}

ferry_label_table *ferry__manifest_add_table(ferry_label_manifest *m, int64_t job,
                                             const char *stage, const char *name,
                                             const char *source)
{
	ferry_label_table *t = ferry__manifest_table(m, job);
	if (t)
		return t;
	if (grow1(&m->tables, m->ntables, sizeof(*m->tables)) != 0)
		return NULL;
	t = &m->tables[m->ntables];
	t->job = job;
	t->stage = ferry__strdup(stage);
	t->name = ferry__strdup(name);
	t->source = ferry__strdup(source);
	t->dir = ferry__label_table_dir(stage, job, name);
	if (!t->stage || !t->name || (source && !t->source) || !t->dir) {
		table_clear(t);
		memset(t, 0, sizeof(*t));
		return NULL;
	}
	m->ntables++;
	return t;
}

ferry_label_stage *ferry__manifest_add_stage(ferry_label_manifest *m, const char *name)
{
	ferry_label_stage *s = ferry__manifest_stage(m, name);
	if (s)
		return s;
	if (grow1(&m->stages, m->nstages, sizeof(*m->stages)) != 0)
		return NULL;
	s = &m->stages[m->nstages];
	if (!(s->name = ferry__strdup(name)))
		return NULL;
	m->nstages++;
	return s;
}

ferry_label_source *ferry__manifest_add_source(ferry_label_manifest *m, const char *name,
                                               const char *engine, const char *url,
                                               const char *schema_version)
{
	if (grow1(&m->sources, m->nsources, sizeof(*m->sources)) != 0)
		return NULL;
	ferry_label_source *s = &m->sources[m->nsources];
	s->name = ferry__strdup(name);
	s->engine = ferry__strdup(engine);
	s->url = ferry__strdup(url);
	s->schema_version = ferry__strdup(schema_version);
	if (!s->name || !s->engine || !s->url || (schema_version && !s->schema_version)) {
		free(s->name);
		free(s->engine);
		free(s->url);
		free(s->schema_version);
		memset(s, 0, sizeof(*s));
		return NULL;
	}
	m->nsources++;
	return s;
}

int ferry__manifest_stage_add_after(ferry_label_stage *s, const char *after)
{
	if (grow1(&s->after, s->nafter, sizeof(*s->after)) != 0)
		return FERRY_ENOMEM;
	if (!(s->after[s->nafter] = ferry__strdup(after)))
		return FERRY_ENOMEM;
	s->nafter++;
	return 0;
}

ferry_label_column *ferry__manifest_add_column(ferry_label_table *t, const char *name,
                                               ferry_type type, const char *decl, int notnull,
                                               int pk)
{
	if (grow1(&t->cols, t->ncols, sizeof(*t->cols)) != 0)
		return NULL;
	ferry_label_column *c = &t->cols[t->ncols];
	c->name = ferry__strdup(name);
	c->decl = ferry__strdup(decl ? decl : "");
	if (!c->name || !c->decl) {
		free(c->name);
		free(c->decl);
		memset(c, 0, sizeof(*c));
		return NULL;
	}
	c->type = type;
	c->notnull = notnull;
	c->pk = pk;
	t->ncols++;
	return c;
}

int ferry__manifest_add_conflict(ferry_label_table *t, const char *col, ferry_conflict rule)
{
	if (grow1(&t->conflict_cols, t->nconflict, sizeof(*t->conflict_cols)) != 0 ||
	    grow1(&t->conflict_rules, t->nconflict, sizeof(*t->conflict_rules)) != 0)
		return FERRY_ENOMEM;
	if (!(t->conflict_cols[t->nconflict] = ferry__strdup(col)))
		return FERRY_ENOMEM;
	t->conflict_rules[t->nconflict++] = rule;
	return 0;
}

ferry_label_chunk *ferry__manifest_add_chunk(ferry_label_table *t, int64_t chunk)
{
	if (grow1(&t->chunks, t->nchunks, sizeof(*t->chunks)) != 0)
		return NULL;
	ferry_label_chunk *c = &t->chunks[t->nchunks++];
	c->chunk = chunk;
	c->est_rows = -1;
	return c;
}

/* ==== writing ============================================================================ */

/* JSON building: an allocation or a string jansson refuses (not UTF-8) sets bad once and
 * names the field; the calls go on harmlessly (jansson takes NULL values and refuses them). */
typedef struct jw {
	int bad;
	char where[160];
} jw;

static void jbad(jw *W, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 2, 3)))
#endif
	;

static void jbad(jw *W, const char *fmt, ...)
{
	if (W->bad)
		return;
	W->bad = 1;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(W->where, sizeof(W->where), fmt, ap);
	va_end(ap);
}

static void put(jw *W, json_t *o, const char *key, json_t *v)
{
	if (json_object_set_new(o, key, v) != 0)
		W->bad = 1;
}

static void push(jw *W, json_t *a, json_t *v)
{
	if (json_array_append_new(a, v) != 0)
		W->bad = 1;
}

/* A string, or null for NULL; a string jansson refuses names its field. */
static json_t *jstr(jw *W, const char *s, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 3, 4)))
#endif
	;

static json_t *jstr(jw *W, const char *s, const char *fmt, ...)
{
	if (!s)
		return json_null();
	json_t *j = json_string(s);
	if (!j && !W->bad) {
		W->bad = 1;
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(W->where, sizeof(W->where), fmt, ap);
		va_end(ap);
	}
	return j;
}

static json_t *jhex64(uint64_t v)
{
	char s[17];
	snprintf(s, sizeof(s), "%016" PRIx64, v);
	return json_string(s);
}

static json_t *jhexbytes(jw *W, const uint8_t *p, size_t n)
{
	if (!p)
		return json_null();
	char *s = ferry__malloc(2 * n + 1);
	if (!s) {
		W->bad = 1;
		return NULL;
	}
	ferry__hex_encode(s, p, n);
	json_t *j = json_string(s);
	free(s);
	return j;
}

static json_t *jint(jw *W, uint64_t v)
{
	if (v > INT64_MAX) {
		jbad(W, "a count past 2^63");
		return NULL;
	}
	return json_integer((json_int_t)v);
}

static json_t *build_chunk(jw *W, const ferry_label_chunk *c)
{
	json_t *o = json_object();
	char *file = ferry__label_chunk_file(c->chunk);
	put(W, o, "chunk", json_integer(c->chunk));
	put(W, o, "file", file ? json_string(file) : NULL);
	free(file);
	const ferry_label_chunk_info *in = &c->info;
	put(W, o, "rows", c->written ? jint(W, in->rows) : json_null());
	put(W, o, "blocks", c->written ? jint(W, in->blocks) : json_null());
	put(W, o, "bytes", c->written ? jint(W, in->bytes) : json_null());
	put(W, o, "raw_bytes", c->written ? jint(W, in->raw_bytes) : json_null());
	put(W, o, "xxh3", c->written ? jhex64(in->xxh3) : json_null());
	put(W, o, "digest", c->written ? jhex64(in->digest) : json_null());
	put(W, o, "lo", jhexbytes(W, c->lo, c->lo_len));
	put(W, o, "hi", jhexbytes(W, c->hi, c->hi_len));
	put(W, o, "est_rows", json_integer(c->est_rows));
	put(W, o, "read", json_integer(c->read));
	put(W, o, "skipped", json_integer(c->skipped));
	return o;
}

static json_t *build_table(jw *W, const ferry_label_table *t, size_t ti)
{
	json_t *o = json_object();
	put(W, o, "job", json_integer(t->job));
	put(W, o, "stage", jstr(W, t->stage ? t->stage : "", "tables[%zu].stage", ti));
	put(W, o, "name", jstr(W, t->name ? t->name : "", "tables[%zu].name", ti));
	put(W, o, "dir", jstr(W, t->dir ? t->dir : "", "tables[%zu].dir", ti));
	put(W, o, "source", jstr(W, t->source, "tables[%zu].source", ti));
	json_t *cols = json_array();
	for (size_t i = 0; i < t->ncols; i++) {
		const ferry_label_column *c = &t->cols[i];
		json_t *co = json_object();
		put(W, co, "name", jstr(W, c->name ? c->name : "", "tables[%zu].columns[%zu].name", ti, i));
		put(W, co, "type", json_string(ferry_type_name(c->type)));
		put(W, co, "decl", jstr(W, c->decl ? c->decl : "", "tables[%zu].columns[%zu].decl", ti, i));
		put(W, co, "notnull", json_boolean(c->notnull));
		put(W, co, "pk", json_integer(c->pk));
		push(W, cols, co);
	}
	put(W, o, "columns", cols);
	if (t->nconflict) {
		json_t *cf = json_object();
		for (size_t i = 0; i < t->nconflict && cf; i++) {
			unsigned r = (unsigned)t->conflict_rules[i];
			if (r >= FERRY_ARRAY_LEN(conflict_names) || !t->conflict_cols[i]) {
				jbad(W, "tables[%zu].conflict: a bad rule", ti);
				continue;
			}
			/* jansson keys must be UTF-8 too; json_object_set_new says so by failing. */
			if (json_object_set_new(cf, t->conflict_cols[i], json_string(conflict_names[r])))
				jbad(W, "tables[%zu].conflict[\"%s\"]", ti, t->conflict_cols[i]);
		}
		put(W, o, "conflict", cf);
	}
	put(W, o, "complete", json_boolean(t->complete));
	json_t *chunks = json_array();
	for (size_t i = 0; i < t->nchunks; i++)
		push(W, chunks, build_chunk(W, &t->chunks[i]));
	put(W, o, "chunks", chunks);
	return o;
}

/* The manifest as JSON, in the specification's field order, manifest_xxh3 last (zeros). */
static json_t *build(jw *W, const ferry_label_manifest *m)
{
	json_t *root = json_object();
	char hex[33];
	put(W, root, "format", json_string("ferry-label"));
	put(W, root, "format_version", json_integer(m->format_version));
	put(W, root, "ferry_version",
	    jstr(W, m->ferry_version ? m->ferry_version : FERRY_VERSION, "ferry_version"));
	ferry__hex_encode(hex, m->label_id, 16);
	put(W, root, "label_id", json_string(hex));
	put(W, root, "created_at", jstr(W, m->created_at ? m->created_at : "", "created_at"));
	put(W, root, "plan_digest", jstr(W, m->plan_digest, "plan_digest"));
	json_t *a = json_array();
	for (size_t i = 0; i < m->nsources; i++) {
		const ferry_label_source *s = &m->sources[i];
		json_t *o = json_object();
		put(W, o, "name", jstr(W, s->name ? s->name : "", "sources[%zu].name", i));
		put(W, o, "engine", jstr(W, s->engine ? s->engine : "", "sources[%zu].engine", i));
		put(W, o, "url", jstr(W, s->url ? s->url : "", "sources[%zu].url", i));
		put(W, o, "schema_version", jstr(W, s->schema_version, "sources[%zu].schema_version", i));
		push(W, a, o);
	}
	put(W, root, "sources", a);
	a = json_array();
	for (size_t i = 0; i < m->nstages; i++) {
		const ferry_label_stage *s = &m->stages[i];
		json_t *o = json_object(), *after = json_array();
		put(W, o, "name", jstr(W, s->name ? s->name : "", "stages[%zu].name", i));
		for (size_t j = 0; j < s->nafter; j++)
			push(W, after, jstr(W, s->after[j] ? s->after[j] : "", "stages[%zu].after[%zu]", i, j));
		put(W, o, "after", after);
		put(W, o, "complete", json_boolean(s->complete));
		put(W, o, "read_at", jstr(W, s->read_at, "stages[%zu].read_at", i));
		push(W, a, o);
	}
	put(W, root, "stages", a);
	a = json_array();
	for (size_t i = 0; i < m->ntables; i++)
		push(W, a, build_table(W, &m->tables[i], i));
	put(W, root, "tables", a);
	put(W, root, "manifest_xxh3", json_string(SUM_ZEROS));
	return root;
}

static int is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Where the 16 characters of manifest_xxh3's value start: after the last "manifest_xxh3"
 * key, its colon and its opening quote. -1 when the text has no such field. */
static int sum_at(const char *text, size_t len, size_t *at)
{
	size_t kl = strlen(SUM_KEY);
	for (size_t i = len >= kl ? len - kl + 1 : 0; i-- > 0;) {
		if (memcmp(text + i, SUM_KEY, kl) != 0)
			continue;
		size_t p = i + kl;
		while (p < len && is_ws(text[p]))
			p++;
		if (p >= len || text[p++] != ':')
			return -1;
		while (p < len && is_ws(text[p]))
			p++;
		if (p >= len || text[p++] != '"' || len - p < 17 || text[p + 16] != '"')
			return -1;
		*at = p;
		return 0;
	}
	return -1;
}

/* XXH3-64 of the text with the 16 characters at `at` read as zeros. */
static int sum_of(const char *text, size_t len, size_t at, uint64_t *out)
{
	XXH3_state_t *st = XXH3_createState();
	if (!st)
		return FERRY_ENOMEM;
	XXH3_64bits_reset(st);
	XXH3_64bits_update(st, text, at);
	XXH3_64bits_update(st, SUM_ZEROS, 16);
	XXH3_64bits_update(st, text + at + 16, len - at - 16);
	*out = XXH3_64bits_digest(st);
	XXH3_freeState(st);
	return 0;
}

/* What the reader would refuse is refused here, so a bad manifest is never written. */
static int check_for_write(const ferry_label_manifest *m, const char *path, ferry_err *err)
{
	uint8_t pd[16];
	if (strlen(m->plan_digest) != 32 || ferry__hex_decode(pd, m->plan_digest, 16) != 0)
		return ferry_err_set(err, FERRY_EUSAGE, "could not write label manifest \"%s\": "
		                     "plan_digest \"%s\" is not 32 lower-case hex digits", path,
		                     m->plan_digest);
	for (size_t i = 0; i < m->nstages; i++)
		if (!ferry_label__stage_name_ok(m->stages[i].name))
			return ferry_err_set(err, FERRY_EUSAGE, "could not write label manifest \"%s\": "
			                     "stages[%zu].name is not a valid stage name", path, i);
	for (size_t i = 0; i < m->ntables; i++) {
		const ferry_label_table *t = &m->tables[i];
		char *want = t->stage && t->name ? ferry__label_table_dir(t->stage, t->job, t->name) : NULL;
		if (t->stage && t->name && !want)
			return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
		int same = want && t->dir && strcmp(want, t->dir) == 0;
		free(want);
		if (!same)
			return ferry_err_set(err, FERRY_EUSAGE, "could not write label manifest \"%s\": "
			                     "tables[%zu].dir is not what ferry__label_table_dir makes",
			                     path, i);
	}
	return 0;
}

int ferry__manifest_write(const ferry_label_manifest *m, const char *dir, ferry_err *err)
{
	char *path = ferry__path_join(dir, "manifest.json");
	char *tmp = path ? ferry__sprintf("%s.tmp", path) : NULL;
	if (!tmp) {
		free(path);
		return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	}
	int rc = check_for_write(m, path, err);
	if (rc) {
		free(path);
		free(tmp);
		return rc;
	}
	jw W;
	memset(&W, 0, sizeof(W));
	json_t *root = build(&W, m);
	char *s = W.bad ? NULL : json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(root);
	ferry_buf b = FERRY_BUF_INIT;
	int fd = -1, renamed = 0;
	size_t at;
	uint64_t h;
	if (!s)
		rc = W.where[0] ? ferry_err_set(err, FERRY_EUSAGE, "could not write label manifest "
		                                "\"%s\": %s is not valid UTF-8", path, W.where)
		                : ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	else if (ferry_buf_puts(&b, s) != 0 || ferry_buf_puts(&b, "\n") != 0)
		rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	free(s);
	if (rc == 0) {
		int found = sum_at(b.data, b.len, &at);
		assert(found == 0);
		(void)found;
		if (sum_of(b.data, b.len, at, &h) != 0) {
			rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
		} else {
			char hex[17];
			snprintf(hex, sizeof(hex), "%016" PRIx64, h);
			memcpy(b.data + at, hex, 16);
		}
	}
	if (rc == 0 && unlink(tmp) != 0 && errno != ENOENT)
		rc = ferry_err_set(err, FERRY_ERROR, "could not remove \"%s\": %s", tmp, strerror(errno));
	if (rc == 0 && (fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
		rc = ferry_err_set(err, errno == ENOENT ? FERRY_ENOTFOUND : FERRY_ERROR,
		                   "could not create \"%s\": %s", tmp, strerror(errno));
	if (rc == 0 && (ferry_label__write_all(fd, b.data, b.len) != 0 || fsync(fd) != 0))
		rc = ferry_err_set(err, FERRY_ERROR, "could not write \"%s\": %s", tmp, strerror(errno));
	if (fd >= 0 && close(fd) != 0 && rc == 0)
		rc = ferry_err_set(err, FERRY_ERROR, "could not write \"%s\": %s", tmp, strerror(errno));
	if (rc == 0 && rename(tmp, path) != 0)
		rc = ferry_err_set(err, FERRY_ERROR, "could not rename \"%s\": %s", tmp, strerror(errno));
	else if (rc == 0)
		renamed = 1;
	if (rc == 0 && ferry_label__fsync_dir(path) != 0)
		rc = ferry_err_set(err, errno == ENOMEM ? FERRY_ENOMEM : FERRY_ERROR,
		                   "could not sync the directory of \"%s\": %s", path,
		                   errno == ENOMEM ? "out of memory" : strerror(errno));
	if (rc && fd >= 0 && !renamed)
		unlink(tmp);
	ferry_buf_free(&b);
	free(path);
	free(tmp);
	return rc;
}

/* ==== reading ============================================================================ */

typedef struct jr {
	const char *path;
	ferry_err *err;
} jr;

static int corrupt(jr *R, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 2, 3)))
#endif
	;

static int corrupt(jr *R, const char *fmt, ...)
{
	char detail[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	return ferry_err_set(R->err, FERRY_ECORRUPT, "label manifest \"%s\" is damaged: %s", R->path,
	                     detail);
}

static int oom(jr *R)
{
	return ferry_err_set(R->err, FERRY_ENOMEM, "out of memory");
}

enum { J_STR, J_INT, J_BOOL, J_ARR, J_OBJ };
static const char *const want_name[] = {"a string", "an integer", "true or false",
                                        "an array", "an object"};

/* The field's path in messages: "tables[2].chunks[0].rows". */
static const char *fname(char *buf, size_t cap, const char *at, const char *key)
{
	snprintf(buf, cap, "%s%s%s", at, *at ? "." : "", key);
	return buf;
}

/* obj.key of JSON type want; *out NULL for a null when nullable. */
static int get(jr *R, json_t *obj, const char *at, const char *key, int want, int nullable,
               json_t **out)
{
	char n[192];
	json_t *v = json_object_get(obj, key);
	*out = NULL;
	if (!v)
		return corrupt(R, "%s is missing", fname(n, sizeof(n), at, key));
	if (json_is_null(v) && nullable)
		return 0;
	int ok = want == J_STR ? json_is_string(v) : want == J_INT ? json_is_integer(v)
	         : want == J_BOOL ? json_is_boolean(v) : want == J_ARR ? json_is_array(v)
	         : json_is_object(v);
	if (!ok)
		return corrupt(R, "%s is not %s%s", fname(n, sizeof(n), at, key), want_name[want],
		               nullable ? " or null" : "");
	*out = v;
	return 0;
}

static int get_str(jr *R, json_t *obj, const char *at, const char *key, int nullable,
                   char **out)
{
	json_t *v;
	int rc = get(R, obj, at, key, J_STR, nullable, &v);
	if (rc || !v)
		return rc;
	if (!(*out = ferry__strdup(json_string_value(v))))
		return oom(R);
	return 0;
}

static int get_int(jr *R, json_t *obj, const char *at, const char *key, int64_t min,
                   int64_t max, int nullable, int64_t *out, int *isnull)
{
	json_t *v;
	char n[192];
	int rc = get(R, obj, at, key, J_INT, nullable, &v);
	if (isnull)
		*isnull = !v;
	if (rc || !v)
		return rc;
	json_int_t i = json_integer_value(v);
	if (i < min || i > max)
		return corrupt(R, "%s is out of range (%lld)", fname(n, sizeof(n), at, key),
		               (long long)i);
	*out = (int64_t)i;
	return 0;
}

static int get_bool(jr *R, json_t *obj, const char *at, const char *key, int *out)
{
	json_t *v;
	int rc = get(R, obj, at, key, J_BOOL, 0, &v);
	if (rc == 0)
		*out = json_is_true(v);
	return rc;
}

/* A string of exactly 2n lower-case hex digits into n bytes (fixed-size fields). */
static int get_hex(jr *R, json_t *obj, const char *at, const char *key, size_t n, uint8_t *out)
{
	json_t *v;
	char nm[192];
	int rc = get(R, obj, at, key, J_STR, 0, &v);
	if (rc)
		return rc;
	if (json_string_length(v) != 2 * n || ferry__hex_decode(out, json_string_value(v), n) != 0)
		return corrupt(R, "%s is not %zu lower-case hex digits", fname(nm, sizeof(nm), at, key),
		               2 * n);
	return 0;
}

static int get_hex64(jr *R, json_t *obj, const char *at, const char *key, uint64_t *out)
{
	uint8_t b[8];
	int rc = get_hex(R, obj, at, key, 8, b);
	if (rc == 0) {
		*out = 0;
		for (int i = 0; i < 8; i++)
			*out = *out << 8 | b[i];
	}
	return rc;
}

/* A key bound: null, or hex of any even length. */
static int get_bound(jr *R, json_t *obj, const char *at, const char *key, uint8_t **out,
                     size_t *len)
{
	json_t *v;
	char nm[192];
	int rc = get(R, obj, at, key, J_STR, 1, &v);
	if (rc || !v)
		return rc;
	size_t hl = json_string_length(v);
	if (hl % 2)
		return corrupt(R, "%s is not hex", fname(nm, sizeof(nm), at, key));
	if (!(*out = ferry__malloc(hl / 2)))
		return oom(R);
	*len = hl / 2;
	if (ferry__hex_decode(*out, json_string_value(v), hl / 2) != 0)
		return corrupt(R, "%s is not hex", fname(nm, sizeof(nm), at, key));
	return 0;
}

static int get_array(jr *R, json_t *obj, const char *at, const char *key, json_t **out,
                     size_t *n)
{
	int rc = get(R, obj, at, key, J_ARR, 0, out);
	*n = rc ? 0 : json_array_size(*out);
	return rc;
}

/* Each element of array a must be an object. */
static int elem_obj(jr *R, json_t *a, size_t i, const char *at, json_t **out)
{
	*out = json_array_get(a, i);
	if (!json_is_object(*out))
		return corrupt(R, "%s is not an object", at);
	return 0;
}

static int parse_chunk(jr *R, json_t *o, const char *at, ferry_label_chunk *c)
{
	int rc, nul[4];
	int64_t v[4] = {0, 0, 0, 0};
	char nm[192];
	if ((rc = get_int(R, o, at, "chunk", 0, INT64_MAX, 0, &c->chunk, NULL)) != 0)
		return rc;
	char *file = NULL, *want = ferry__label_chunk_file(c->chunk);
	if (!want)
		return oom(R);
	rc = get_str(R, o, at, "file", 0, &file);
	if (rc == 0 && strcmp(file, want) != 0)
		rc = corrupt(R, "%s is not \"%s\"", fname(nm, sizeof(nm), at, "file"), want);
	free(file);
	free(want);
	static const char *const counts[4] = {"rows", "blocks", "bytes", "raw_bytes"};
	for (int i = 0; i < 4 && rc == 0; i++)
		rc = get_int(R, o, at, counts[i], 0, INT64_MAX, 1, &v[i], &nul[i]);
	if (rc)
		return rc;
	json_t *x, *d;
	if ((rc = get(R, o, at, "xxh3", J_STR, 1, &x)) != 0 ||
	    (rc = get(R, o, at, "digest", J_STR, 1, &d)) != 0)
		return rc;
	/* Written: all six are there; planned only: all six are null. */
	c->written = x != NULL;
	for (int i = 0; i < 4; i++)
		if (nul[i] == c->written)
			return corrupt(R, "%s is %s while xxh3 is %s", fname(nm, sizeof(nm), at, counts[i]),
			               nul[i] ? "null" : "set", c->written ? "set" : "null");
	if ((d != NULL) != c->written)
		return corrupt(R, "%s is %s while xxh3 is %s", fname(nm, sizeof(nm), at, "digest"),
		               d ? "set" : "null", c->written ? "set" : "null");
	if (c->written) {
		c->info.rows = (uint64_t)v[0];
		c->info.blocks = (uint64_t)v[1];
		c->info.bytes = (uint64_t)v[2];
		c->info.raw_bytes = (uint64_t)v[3];
		if ((rc = get_hex64(R, o, at, "xxh3", &c->info.xxh3)) != 0 ||
		    (rc = get_hex64(R, o, at, "digest", &c->info.digest)) != 0)
			return rc;
	}
	if ((rc = get_bound(R, o, at, "lo", &c->lo, &c->lo_len)) != 0 ||
	    (rc = get_bound(R, o, at, "hi", &c->hi, &c->hi_len)) != 0 ||
	    (rc = get_int(R, o, at, "est_rows", INT64_MIN, INT64_MAX, 0, &c->est_rows, NULL)) != 0 ||
	    (rc = get_int(R, o, at, "read", 0, INT64_MAX, 0, &c->read, NULL)) != 0 ||
	    (rc = get_int(R, o, at, "skipped", 0, INT64_MAX, 0, &c->skipped, NULL)) != 0)
		return rc;
	return 0;
}

static int parse_table(jr *R, json_t *o, const char *at, ferry_label_manifest *m,
                       ferry_label_table *t)
{
	int rc;
	char nm[192], sub[160];
	json_t *a;
	size_t n;
	if ((rc = get_int(R, o, at, "job", 0, INT64_MAX, 0, &t->job, NULL)) != 0 ||
	    (rc = get_str(R, o, at, "stage", 0, &t->stage)) != 0 ||
	    (rc = get_str(R, o, at, "name", 0, &t->name)) != 0 ||
	    (rc = get_str(R, o, at, "dir", 0, &t->dir)) != 0 ||
	    (rc = get_str(R, o, at, "source", 1, &t->source)) != 0)
		return rc;
	if (!ferry__manifest_stage(m, t->stage))
		return corrupt(R, "%s names no stage of the label", fname(nm, sizeof(nm), at, "stage"));
	/* The folder is where chunks are read from: never trust it, recompute it. */
	char *want = ferry__label_table_dir(t->stage, t->job, t->name);
	if (!want)
		return oom(R);
	rc = strcmp(want, t->dir) != 0
	         ? corrupt(R, "%s is not \"%s\"", fname(nm, sizeof(nm), at, "dir"), want) : 0;
	free(want);
	if (rc || (rc = get_array(R, o, at, "columns", &a, &n)) != 0)
		return rc;
	if (n > 65535)
		return corrupt(R, "%s has more than 65535 columns", at);
	if (n && !(t->cols = ferry__calloc(n, sizeof(*t->cols))))
		return oom(R);
	for (size_t i = 0; i < n; i++) {
		ferry_label_column *c = &t->cols[i];
		json_t *co, *ty;
		int64_t pk;
		t->ncols = i + 1;
		snprintf(sub, sizeof(sub), "%s.columns[%zu]", at, i);
		if ((rc = elem_obj(R, a, i, sub, &co)) != 0 ||
		    (rc = get_str(R, co, sub, "name", 0, &c->name)) != 0 ||
		    (rc = get(R, co, sub, "type", J_STR, 0, &ty)) != 0)
			return rc;
		int found = 0;
		for (int k = 0; k < FERRY_TYPE_COUNT && !found; k++)
			if (strcmp(json_string_value(ty), ferry_type_name((ferry_type)k)) == 0) {
				c->type = (ferry_type)k;
				found = 1;
			}
		if (!found)
			return corrupt(R, "%s is not a type ferry knows", fname(nm, sizeof(nm), sub, "type"));
		if ((rc = get_str(R, co, sub, "decl", 0, &c->decl)) != 0 ||
		    (rc = get_bool(R, co, sub, "notnull", &c->notnull)) != 0 ||
		    (rc = get_int(R, co, sub, "pk", 0, (int64_t)n, 0, &pk, NULL)) != 0)
			return rc;
		c->pk = (int)pk;
	}
	json_t *cf = json_object_get(o, "conflict");
	if (cf) {
		if (!json_is_object(cf))
			return corrupt(R, "%s is not an object", fname(nm, sizeof(nm), at, "conflict"));
		n = json_object_size(cf);
		if (n && (!(t->conflict_cols = ferry__calloc(n, sizeof(char *))) ||
		          !(t->conflict_rules = ferry__calloc(n, sizeof(ferry_conflict)))))
			return oom(R);
		const char *key;
		json_t *val;
		json_object_foreach(cf, key, val) {
			size_t r = 0;
			while (r < FERRY_ARRAY_LEN(conflict_names) &&
			       !(json_is_string(val) && strcmp(json_string_value(val), conflict_names[r]) == 0))
				r++;
			snprintf(sub, sizeof(sub), "%s.conflict.%s", at, key);
			if (r == FERRY_ARRAY_LEN(conflict_names) || t->nconflict >= n)
				return corrupt(R, "%s is not a merge rule", sub);
			if (!(t->conflict_cols[t->nconflict] = ferry__strdup(key)))
				return oom(R);
			t->conflict_rules[t->nconflict++] = (ferry_conflict)r;
		}
	}
	if ((rc = get_bool(R, o, at, "complete", &t->complete)) != 0 ||
	    (rc = get_array(R, o, at, "chunks", &a, &n)) != 0)
		return rc;
	if (n && !(t->chunks = ferry__calloc(n, sizeof(*t->chunks))))
		return oom(R);
	for (size_t i = 0; i < n; i++) {
		json_t *co;
		t->nchunks = i + 1;
		snprintf(sub, sizeof(sub), "%s.chunks[%zu]", at, i);
		if ((rc = elem_obj(R, a, i, sub, &co)) != 0 ||
		    (rc = parse_chunk(R, co, sub, &t->chunks[i])) != 0)
			return rc;
		if (i > 0 && t->chunks[i].chunk <= t->chunks[i - 1].chunk)
			return corrupt(R, "%s is not above the chunk before it",
			               fname(nm, sizeof(nm), sub, "chunk"));
	}
	return 0;
}

static int parse_root(jr *R, json_t *root, ferry_label_manifest *m)
{
	int rc;
	json_t *a;
	size_t n;
	char at[64], nm[192];
	if ((rc = get_str(R, root, "", "ferry_version", 0, &m->ferry_version)) != 0 ||
	    (rc = get_hex(R, root, "", "label_id", 16, m->label_id)) != 0 ||
	    (rc = get_str(R, root, "", "created_at", 0, &m->created_at)) != 0)
		return rc;
	ferry__hex_encode(m->label_id_hex, m->label_id, 16);
	uint8_t pd[16];
	if ((rc = get_hex(R, root, "", "plan_digest", 16, pd)) != 0)
		return rc;
	ferry__hex_encode(m->plan_digest, pd, 16);

	if ((rc = get_array(R, root, "", "sources", &a, &n)) != 0)
		return rc;
	if (n && !(m->sources = ferry__calloc(n, sizeof(*m->sources))))
		return oom(R);
	for (size_t i = 0; i < n; i++) {
		ferry_label_source *s = &m->sources[i];
		json_t *o;
		m->nsources = i + 1;
		snprintf(at, sizeof(at), "sources[%zu]", i);
		if ((rc = elem_obj(R, a, i, at, &o)) != 0 ||
		    (rc = get_str(R, o, at, "name", 0, &s->name)) != 0 ||
		    (rc = get_str(R, o, at, "engine", 0, &s->engine)) != 0 ||
		    (rc = get_str(R, o, at, "url", 0, &s->url)) != 0 ||
		    (rc = get_str(R, o, at, "schema_version", 1, &s->schema_version)) != 0)
			return rc;
	}

	if ((rc = get_array(R, root, "", "stages", &a, &n)) != 0)
		return rc;
	if (n && !(m->stages = ferry__calloc(n, sizeof(*m->stages))))
		return oom(R);
	for (size_t i = 0; i < n; i++) {
		ferry_label_stage *s = &m->stages[i];
		json_t *o, *after;
		size_t na;
		m->nstages = i + 1;
		snprintf(at, sizeof(at), "stages[%zu]", i);
		if ((rc = elem_obj(R, a, i, at, &o)) != 0 ||
		    (rc = get_str(R, o, at, "name", 0, &s->name)) != 0)
			return rc;
		/* Stage names become folder names: only what the plan allows. */
		if (!ferry_label__stage_name_ok(s->name))
			return corrupt(R, "%s is not a valid stage name", fname(nm, sizeof(nm), at, "name"));
		for (size_t j = 0; j < i; j++)
			if (strcmp(m->stages[j].name, s->name) == 0)
				return corrupt(R, "%s repeats stage \"%s\"", fname(nm, sizeof(nm), at, "name"),
				               s->name);
		if ((rc = get_array(R, o, at, "after", &after, &na)) != 0)
			return rc;
		if (na && !(s->after = ferry__calloc(na, sizeof(char *))))
			return oom(R);
		for (size_t j = 0; j < na; j++) {
			json_t *e = json_array_get(after, j);
			if (!json_is_string(e))
				return corrupt(R, "%s.after[%zu] is not a string", at, j);
			if (!(s->after[j] = ferry__strdup(json_string_value(e))))
				return oom(R);
			s->nafter = j + 1;
		}
		if ((rc = get_bool(R, o, at, "complete", &s->complete)) != 0 ||
		    (rc = get_str(R, o, at, "read_at", 1, &s->read_at)) != 0)
			return rc;
	}
	for (size_t i = 0; i < m->nstages; i++)
		for (size_t j = 0; j < m->stages[i].nafter; j++)
			if (!ferry__manifest_stage(m, m->stages[i].after[j]))
				return corrupt(R, "stages[%zu].after[%zu] names no stage of the label", i, j);

	if ((rc = get_array(R, root, "", "tables", &a, &n)) != 0)
		return rc;
	if (n && !(m->tables = ferry__calloc(n, sizeof(*m->tables))))
		return oom(R);
	for (size_t i = 0; i < n; i++) {
		json_t *o;
		m->ntables = i + 1;
		snprintf(at, sizeof(at), "tables[%zu]", i);
		if ((rc = elem_obj(R, a, i, at, &o)) != 0 ||
		    (rc = parse_table(R, o, at, m, &m->tables[i])) != 0)
			return rc;
		for (size_t j = 0; j < i; j++)
			if (m->tables[j].job == m->tables[i].job)
				return corrupt(R, "%s repeats job %lld of tables[%zu]",
				               fname(nm, sizeof(nm), at, "job"), (long long)m->tables[i].job, j);
	}
	return 0;
}

int ferry__manifest_parse(ferry_label_manifest **out, const char *text, size_t len,
                          const char *path, ferry_err *err)
{
	*out = NULL;
	jr R = {path, err};
	json_error_t je;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je), *v;
	if (!root)
		return corrupt(&R, "not valid JSON (line %d, column %d: %s)", je.line, je.column,
		               je.text);
	int rc = 0;
	int64_t version = 0;
	ferry_label_manifest *m = NULL;
	/* First what it is and which version, since a later version may checksum otherwise. */
	v = json_is_object(root) ? json_object_get(root, "format") : NULL;
	if (!json_is_string(v) || strcmp(json_string_value(v), "ferry-label") != 0) {
		rc = ferry_err_set(err, FERRY_ECORRUPT, "label manifest \"%s\" is not a ferry label "
		                   "manifest (no \"format\": \"ferry-label\")", path);
		goto out;
	}
	if ((rc = get_int(&R, root, "", "format_version", INT64_MIN, INT64_MAX, 0, &version,
	                  NULL)) != 0)
		goto out;
	if (version != FERRY_LABEL_FORMAT) {
		rc = ferry_err_set(err, FERRY_ECORRUPT, "label manifest \"%s\" has format version %lld; "
		                   "this ferry reads version %d", path, (long long)version,
		                   FERRY_LABEL_FORMAT);
		goto out;
	}
	uint64_t want, got = 0;
	size_t at;
	if ((rc = get_hex64(&R, root, "", "manifest_xxh3", &want)) != 0)
		goto out;
	if (sum_at(text, len, &at) != 0 ||
	    memcmp(text + at, json_string_value(json_object_get(root, "manifest_xxh3")), 16) != 0) {
		rc = ferry_err_set(err, FERRY_ECORRUPT, "label manifest \"%s\" was changed by hand "
		                   "(manifest_xxh3 is not where it was written)", path);
		goto out;
	}
	if ((rc = sum_of(text, len, at, &got)) != 0) {
		rc = oom(&R);
		goto out;
	}
	if (!FERRY_LABEL_SUM_OK(got, want)) {
		rc = ferry_err_set(err, FERRY_ECORRUPT, "label manifest \"%s\" was changed by hand "
		                   "(checksum mismatch)", path);
		goto out;
	}
	if (!(m = ferry__calloc(1, sizeof(*m)))) {
		rc = oom(&R);
		goto out;
	}
	m->format_version = (int)version;
	if ((rc = parse_root(&R, root, m)) != 0) {
		ferry__manifest_free(m);
		goto out;
	}
	*out = m;
out:
	json_decref(root);
	return rc;
}

int ferry__manifest_read(ferry_label_manifest **out, const char *dir, ferry_err *err)
{
	*out = NULL;
	char *path = ferry__path_join(dir, "manifest.json");
	if (!path)
		return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	char *text;
	size_t len;
	int rc = ferry__read_file(&text, &len, path, MANIFEST_MAX, err);
	if (rc == 0) {
		rc = ferry__manifest_parse(out, text, len, path, err);
		free(text);
	}
	free(path);
	return rc;
}
