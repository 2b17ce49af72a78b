/* ctx.c — the library handle: the engine registry and the URLs engines claim, interruption,
 * URL masking. */
#include <stdlib.h>
#include <string.h>
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
	ctx->interrupted = 1;
}

int ferry_engine_register(ferry_ctx *ctx, const ferry_engine *e)
{
	ferry_err err = {0};
	if (!e || e->version != FERRY_ENGINE_VERSION)
		return ferry__ctx_fail(ctx, &(ferry_err){FERRY_EUSAGE,
			"cannot register engine: unknown engine interface version"});
	/* Mandatory callbacks, checked by name so the message says which one is missing. */
	struct { const char *name; const void *fn; } need[] = {
		{"connect", (const void *)e->connect}, {"close", (const void *)e->close},
		{"introspect", (const void *)e->introspect}, {"quote_ident", (const void *)e->quote_ident},
		{"exec", (const void *)e->exec}, {"begin", (const void *)e->begin},
		{"commit", (const void *)e->commit}, {"rollback", (const void *)e->rollback},
		{"snapshot_export", (const void *)e->snapshot_export},
		{"snapshot_join", (const void *)e->snapshot_join},
		{"plan_chunks", (const void *)e->plan_chunks}, {"reader_open", (const void *)e->reader_open},
		{"reader_next", (const void *)e->reader_next}, {"reader_close", (const void *)e->reader_close},
		{"writer_open", (const void *)e->writer_open}, {"writer_write", (const void *)e->writer_write},
		{"writer_close", (const void *)e->writer_close}, {"create_table", (const void *)e->create_table},
		{"create_indexes", (const void *)e->create_indexes}, {"table_rows", (const void *)e->table_rows},
		{"state_init", (const void *)e->state_init}, {"state_load", (const void *)e->state_load},
		{"state_add_chunks", (const void *)e->state_add_chunks},
		{"state_chunk_done", (const void *)e->state_chunk_done},
		{"state_reject", (const void *)e->state_reject}, {"state_rejects", (const void *)e->state_rejects},
		{"state_get", (const void *)e->state_get}, {"state_set", (const void *)e->state_set},
	};
	for (size_t i = 0; i < FERRY_ARRAY_LEN(need); i++)
		if (!need[i].fn) {
			ferry_err_set(&err, FERRY_EUSAGE, "cannot register engine \"%s\": callback %s is missing",
			              e->name ? e->name : "?", need[i].name);
			return ferry__ctx_fail(ctx, &err);
		}
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

char *ferry_url_mask(const char *url)
{
	if (!url)
		return NULL;
	char *d = ferry__strdup(url);
	if (!d)
		return NULL;
	/* scheme://user:password@host -> scheme://user:***@host */
	char *scheme = strstr(d, "://");
	if (scheme) {
		char *auth = scheme + 3;
		char *at = strchr(auth, '@');
		char *end = strpbrk(auth, "/?#");
		if (at && (!end || at < end)) {
			char *colon = memchr(auth, ':', (size_t)(at - auth));
			if (colon) {
				char *r = ferry__sprintf("%.*s:***%s", (int)(colon - d), d, at);
				free(d);
				d = r;
				if (!d)
					return NULL;
			}
		}
	}
	/* password=... in a conninfo string or a query parameter. */
	for (char *p = strstr(d, "password="); p; p = strstr(p + 1, "password=")) {
		char *v = p + 9;
		char *e = v;
		if (*e == '\'') {
			e++;
			while (*e && *e != '\'')
				e += (*e == '\\' && e[1]) ? 2 : 1;
			if (*e)
				e++;
		} else {
			while (*e && *e != ' ' && *e != '&')
				e++;
		}
		char *r = ferry__sprintf("%.*s***%s", (int)(v - d), d, e);
		size_t off = (size_t)(v - d);
		free(d);
		d = r;
		if (!d)
			return NULL;
		p = d + off;
	}
	return d;
}
