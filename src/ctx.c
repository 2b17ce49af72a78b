/* ctx.c — the library handle: the engine registry and the URLs engines claim, interruption,
 * URL masking. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "ferry_int.h"

int ferry_ctx_new(ferry_ctx **out)
{
	*out = NULL;
	ferry_ctx *ctx = ferry__calloc(1, sizeof(*ctx));
	if (!ctx) {
		ferry__error_set_last("out of memory");
		return FERRY_ENOMEM;
	}
	int rc = ferry_engine_register(ctx, &ferry__sqlite_engine);
	if (rc == 0)
		rc = ferry_engine_register(ctx, &ferry__postgres_engine);
	if (rc == 0)
		rc = ferry_engine_register(ctx, &ferry__label_engine);
	if (rc) {
		ferry__error_set_last(ctx->errmsg);
		free(ctx);
		return rc;
	}
	*out = ctx;
	return 0;
}

void ferry_ctx_free(ferry_ctx *ctx)
{
	free(ctx);
}

void ferry_interrupt(ferry_ctx *ctx)
{
	atomic_store(&ctx->interrupted, 1);
}

void ferry_interrupt_clear(ferry_ctx *ctx)
{
	atomic_store(&ctx->interrupted, 0);
}

int ferry__interrupted(ferry_ctx *ctx)
{
	return atomic_load(&ctx->interrupted) != 0;
}

/* One sub-table's callbacks, by name, for the registration check. */
typedef struct fn_ref {
	const char *name;
	const void *fn;
} fn_ref;

#define FN(t, n) {#n, (t) ? (const void *)(t)->n : NULL}

/* A group is all or nothing: NULL (when optional) or every callback named in fns set, so
 * the message names the one missing. */
static int check_group(ferry_ctx *ctx, const ferry_engine *e, const char *group, const void *table,
                       int mandatory, const fn_ref *fns, size_t n)
{
	ferry_err err = {0};
	if (!table && !mandatory)
		return 0;
	if (!table) {
		ferry_err_set(&err, FERRY_EUSAGE, "cannot register engine \"%s\": sub-table %s is missing",
		              e->name ? e->name : "?", group);
		return ferry__ctx_fail(ctx, &err);
	}
	for (size_t i = 0; i < n; i++)
		if (!fns[i].fn) {
			ferry_err_set(&err, FERRY_EUSAGE, "cannot register engine \"%s\": callback %s.%s is missing",
			              e->name ? e->name : "?", group, fns[i].name);
			return ferry__ctx_fail(ctx, &err);
		}
	return 0;
}

static int check_groups(ferry_ctx *ctx, const ferry_engine *e)
{
	const ferry_engine_core *co = e->core;
	const ferry_engine_read *rd = e->read;
	const ferry_engine_write *wr = e->write;
	const ferry_engine_migrate *mg = e->migrate;
	const ferry_engine_types *ty = e->types;
	const ferry_engine_state *st = e->state;
	const ferry_engine_capture *cp = e->capture;
	const fn_ref core[] = {FN(co, connect), FN(co, close), FN(co, introspect), FN(co, quote_ident),
	                       FN(co, exec), FN(co, begin), FN(co, commit), FN(co, rollback)};
	const fn_ref read[] = {FN(rd, snapshot_export), FN(rd, snapshot_join), FN(rd, plan_chunks),
	                       FN(rd, reader_open), FN(rd, reader_next), FN(rd, reader_close)};
	const fn_ref write[] = {FN(wr, writer_open), FN(wr, writer_write), FN(wr, writer_close),
	                        FN(wr, create_table), FN(wr, create_indexes), FN(wr, table_rows)};
	const fn_ref migrate[] = {FN(mg, lock_try), FN(mg, lock_release), FN(mg, split_sql),
	                          FN(mg, needs_autocommit)};
	const fn_ref types[] = {FN(ty, probe_type)};
	const fn_ref state[] = {FN(st, init), FN(st, load), FN(st, add_chunks), FN(st, chunk_done),
	                        FN(st, reject), FN(st, rejects), FN(st, get), FN(st, set)};
	const fn_ref capture[] = {FN(cp, setup), FN(cp, snapshot), FN(cp, start), FN(cp, next),
	                          FN(cp, ack), FN(cp, close), FN(cp, marker), FN(cp, teardown)};
	int rc = check_group(ctx, e, "core", co, 1, core, FERRY_ARRAY_LEN(core));
	if (rc == 0)
		rc = check_group(ctx, e, "read", rd, 1, read, FERRY_ARRAY_LEN(read));
	if (rc == 0)
		rc = check_group(ctx, e, "write", wr, 1, write, FERRY_ARRAY_LEN(write));
	if (rc == 0)
		rc = check_group(ctx, e, "migrate", mg, 0, migrate, FERRY_ARRAY_LEN(migrate));
	if (rc == 0)
		rc = check_group(ctx, e, "types", ty, 0, types, FERRY_ARRAY_LEN(types));
	if (rc == 0)
		rc = check_group(ctx, e, "state", st, 0, state, FERRY_ARRAY_LEN(state));
	if (rc == 0)
		rc = check_group(ctx, e, "capture", cp, 0, capture, FERRY_ARRAY_LEN(capture));
	/* No state sub-table: ferry keeps the run's record in its tables, through exec_params. */
	if (rc == 0 && !st && !co->exec_params) {
		ferry_err err = {0};
		ferry_err_set(&err, FERRY_EUSAGE, "cannot register engine \"%s\": callback core.exec_params is missing (ferry keeps a run's state through it when the engine has no state sub-table)",
		              e->name ? e->name : "?");
		rc = ferry__ctx_fail(ctx, &err);
	}
	return rc;
}

int ferry_engine_register(ferry_ctx *ctx, const ferry_engine *e)
{
	ferry_err err = {0};
	if (!e) {
		ferry_err_set(&err, FERRY_EUSAGE, "cannot register engine: no engine table");
		return ferry__ctx_fail(ctx, &err);
	}
	if (e->version != FERRY_ENGINE_VERSION) {
		ferry_err_set(&err, FERRY_EUSAGE,
		              "cannot register engine \"%s\": it was built for engine interface version %u, "
		              "this ferry takes version %u (rebuild it against this ferry's engine.h)",
		              e->name ? e->name : "?", e->version, (unsigned)FERRY_ENGINE_VERSION);
		return ferry__ctx_fail(ctx, &err);
	}
	int rc = check_groups(ctx, e);
	if (rc)
		return rc;
	if (!e->name || (!e->claim && (!e->schemes || !e->schemes[0])) || e->max_writers < 1) {
		ferry_err_set(&err, FERRY_EUSAGE, "cannot register engine: name, schemes (or claim) and max_writers are required");
		return ferry__ctx_fail(ctx, &err);
	}
	if (ctx->nengines >= FERRY_MAX_ENGINES) {
		ferry_err_set(&err, FERRY_EUSAGE, "cannot register engine \"%s\": too many engines", e->name);
		return ferry__ctx_fail(ctx, &err);
	}
	ctx->engines[ctx->nengines++] = e;
	return 0;
}

/* ---- the URL registry: engines claim addresses ---------------------------------------- */

size_t ferry_url_scheme(const char *url)
{
	const char *s = url;
	if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
		return 0;
	while ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
	       *s == '+' || *s == '.' || *s == '-')
		s++;
	return *s == ':' ? (size_t)(s - url) : 0;
}

/* Built in, in the order ferry_ctx_new registers them: what a plan's addresses are checked
 * against when it is parsed without a context. */
static const ferry_engine *const builtin[] = {&ferry__sqlite_engine, &ferry__postgres_engine,
                                              &ferry__label_engine};

static int claim_of(const ferry_engine *e, const char *url)
{
	if (e->claim)
		return e->claim(url);
	size_t n = ferry_url_scheme(url);
	for (const char *const *s = e->schemes; n && s && *s; s++)
		if (strlen(*s) == n && strncmp(*s, url, n) == 0)
			return FERRY_CLAIM_SCHEME;
	return FERRY_CLAIM_NONE;
}

const ferry_engine *ferry__engine_claim(const ferry_ctx *ctx, const char *url)
{
	const ferry_engine *const *engines = ctx ? ctx->engines : builtin;
	size_t n = ctx ? ctx->nengines : FERRY_ARRAY_LEN(builtin);
	const ferry_engine *best = NULL;
	int top = FERRY_CLAIM_NONE;
	for (size_t i = 0; i < n; i++) {
		int c = claim_of(engines[i], url);
		if (c > top) {
			top = c;
			best = engines[i];
		}
	}
	return best;
}

const ferry_engine *ferry__engine_for(const ferry_ctx *ctx, const char *url, ferry_err *err)
{
	const ferry_engine *e = ferry__engine_claim(ctx, url);
	if (e)
		return e;
	/* Never the address as given: a conninfo string may hold a password. */
	char *masked = ferry_url_mask(url);
	size_t n = ferry_url_scheme(url);
	if (n)
		ferry_err_set(err, FERRY_EUSAGE, "no engine for \"%s\": unknown scheme \"%.*s\"",
		              masked ? masked : "?", (int)n, url);
	else
		ferry_err_set(err, FERRY_EUSAGE, "no engine for \"%s\"", masked ? masked : "?");
	free(masked);
	return NULL;
}

const ferry_engine *ferry__engine_named(const ferry_ctx *ctx, const char *name)
{
	const ferry_engine *const *engines = ctx ? ctx->engines : builtin;
	size_t n = ctx ? ctx->nengines : FERRY_ARRAY_LEN(builtin);
	for (size_t i = 0; name && i < n; i++)
		if (strcmp(engines[i]->name, name) == 0)
			return engines[i];
	return NULL;
}

int ferry__url_resolve_by(char **out, const ferry_engine *e, const char *url, const char *base_dir,
                          ferry_err *err)
{
	*out = NULL;
	if (e->url_resolve)
		return e->url_resolve(out, url, base_dir, err);
	*out = ferry__strdup(url);
	return *out ? 0 : ferry_err_set(err, FERRY_ENOMEM, "out of memory");
}

int ferry__url_resolve(char **out, const ferry_ctx *ctx, const char *url, const char *base_dir,
                       ferry_err *err)
{
	*out = NULL;
	const ferry_engine *e = ferry__engine_for(ctx, url, err);
	return e ? ferry__url_resolve_by(out, e, url, base_dir, err) : err->code;
}

int ferry__url_identity(char **out, const ferry_ctx *ctx, const char *url, ferry_err *err)
{
	*out = NULL;
	const ferry_engine *e = ferry__engine_for(ctx, url, err);
	if (!e)
		return err->code;
	if (e->url_identity)
		return e->url_identity(out, url, err);
	return ferry__url_resolve_by(out, e, url, NULL, err);
}

int ferry__same_database(const ferry_ctx *ctx, const char *a, const char *b)
{
	if (strcmp(a, b) == 0)
		return 1;
	const ferry_engine *ea = ferry__engine_claim(ctx, a), *eb = ferry__engine_claim(ctx, b);
	if (!ea || ea != eb || !ea->url_path)
		return 0;
	/* Files are the same when they are one inode: "x.db", "./x.db", a symlink, a hard link.
	 * Told apart only after opening, the second open would wait for the first's lock. */
	struct stat sa, sb;
	/* url_path gives NULL for a database that is no file (":memory:") and when out of
	 * memory, which sets errno as malloc does. */
	errno = 0;
	char *pa = ea->url_path(a);
	char *pb = pa ? eb->url_path(b) : NULL;
	int oom = !pb && errno == ENOMEM;
	int same = pb && stat(pa, &sa) == 0 && stat(pb, &sb) == 0 && sa.st_dev == sb.st_dev &&
	           sa.st_ino == sb.st_ino;
	free(pa);
	free(pb);
	return oom ? FERRY_ENOMEM : same;
}

/* The '@' that ends the user-info of the authority at auth, read generously: the last '@'
 * before the query, or, when there is none, the last '@' at all provided no '=' comes
 * before it (a password holding an unencoded '?'). NULL when there is no user-info. */
const char *ferry__url_userinfo_end(const char *auth)
{
	const char *q = auth + strcspn(auth, "?#");
	const char *at = NULL;
	for (const char *p = auth; p < q; p++)
		if (*p == '@')
			at = p;
	if (at)
		return at;
	const char *last = strrchr(auth, '@');
	if (last && !memchr(auth, '=', (size_t)(last - auth)))
		return last;
	return NULL;
}

/* How many bytes of s spell c, case-insensitively, either as itself or percent-encoded. */
static size_t key_char(const char *s, char c)
{
	if (tolower((unsigned char)*s) == c)
		return 1;
	if (s[0] == '%' && ferry__hex_digit((unsigned char)s[1]) >= 0 &&
	    ferry__hex_digit((unsigned char)s[2]) >= 0 &&
	    tolower(ferry__hex_digit((unsigned char)s[1]) * 16 + ferry__hex_digit((unsigned char)s[2])) == c)
		return 3;
	return 0;
}

size_t ferry__url_secrets(const char *url, size_t (*spans)[2], size_t max)
{
	size_t n = 0;
	if (!url)
		return 0;
	/* scheme://user:password@host, wherever a URL starts (a conninfo's dbname may be one). */
	for (const char *s = strstr(url, "://"); s; s = strstr(s + 1, "://")) {
		const char *auth = s + 3;
		const char *at = ferry__url_userinfo_end(auth);
		const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
		if (colon && colon + 1 < at && n < max) {
			spans[n][0] = (size_t)(colon + 1 - url);
			spans[n++][1] = (size_t)(at - url);
		}
	}
	/* [ssl]password = value: a conninfo keyword (spaces around '=', a quoted value) or a
	 * URL query parameter (its key percent-encoded); libpq accepts each. */
	static const char key[] = "password";
	static const char delim[] = " \t\n\r\f\v?&'\"";
	for (const char *p = url; *p; p++) {
		if (p > url && !strchr(delim, p[-1]))
			continue;
		const char *k = p;
		size_t m;
		for (int i = 0; i < 3 && (m = key_char(k, "ssl"[i])) != 0; i++)
			k += m;
		if (key_char(k, 'p') == 0) /* "ssl" must be followed by "password"; else from p */
			k = p;
		size_t i = 0;
		for (; i < sizeof(key) - 1 && (m = key_char(k, key[i])) != 0; i++)
			k += m;
		if (i < sizeof(key) - 1)
			continue;
		while (*k == ' ' || *k == '\t' || *k == '\n' || *k == '\r' || *k == '\f' || *k == '\v')
			k++;
		if (*k != '=')
			continue;
		k++;
		while (*k == ' ' || *k == '\t' || *k == '\n' || *k == '\r' || *k == '\f' || *k == '\v')
			k++;
		const char *v = k, *e = k;
		if (*e == '\'') {
			for (e++; *e && *e != '\''; e++)
				if (*e == '\\' && e[1])
					e++;
			if (*e)
				e++;
			/* Text stuck to the closing quote is no keyword libpq would accept: mask it
			 * with the value rather than show what may be the rest of a password. */
			while (*e && !strchr(" \t\n\r\f\v", *e))
				e++;
		} else {
			for (; *e && !strchr(" \t\n\r\f\v&#", *e); e++)
				if (*e == '\\' && e[1])
					e++;
		}
		if (e > v && n < max) {
			spans[n][0] = (size_t)(v - url);
			spans[n++][1] = (size_t)(e - url);
		}
		p = e > p ? e - 1 : p;
	}
	return n;
}

char *ferry_url_mask(const char *url)
{
	if (!url)
		return NULL;
	size_t sp[32][2];
	size_t n = ferry__url_secrets(url, sp, 32);
	ferry_buf b = FERRY_BUF_INIT;
	size_t at = 0;
	/* Spans may overlap (a URL password that looks like a key): take them in order. */
	for (size_t i = 0; i < n; i++) {
		size_t lo = i, j;
		for (j = i + 1; j < n; j++)
			if (sp[j][0] < sp[lo][0])
				lo = j;
		size_t t0 = sp[i][0], t1 = sp[i][1];
		sp[i][0] = sp[lo][0], sp[i][1] = sp[lo][1];
		sp[lo][0] = t0, sp[lo][1] = t1;
		if (sp[i][1] <= at)
			continue;
		size_t from = sp[i][0] > at ? sp[i][0] : at;
		ferry_buf_add(&b, url + at, from - at);
		if (from == sp[i][0])
			ferry_buf_puts(&b, "***");
		at = sp[i][1];
	}
	ferry_buf_puts(&b, url + at);
	if (b.failed)
		return NULL;
	if (!b.data)
		return ferry__strdup("");
	return b.data;
}
