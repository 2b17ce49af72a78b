/* ctx.c — the library handle: engine registry by URL scheme, interruption, URL masking. */
#include <stdlib.h>
#include <string.h>
#include "ferry_int.h"

int ferry_ctx_new(ferry_ctx **out)
{
	*out = NULL;
	ferry_ctx *ctx = calloc(1, sizeof(*ctx));
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
	};
	for (size_t i = 0; i < FERRY_ARRAY_LEN(need); i++)
		if (!need[i].fn) {
			ferry_err_set(&err, FERRY_EUSAGE, "cannot register engine \"%s\": callback %s is missing",
			              e->name ? e->name : "?", need[i].name);
			return ferry__ctx_fail(ctx, &err);
		}
	/* The run's record: the engine's own (every callback), or ferry's tables, which need
	 * exec_params. */
	if (e->state) {
		const ferry_engine_state *st = e->state;
		struct { const char *name; const void *fn; } sneed[] = {
			{"init", (const void *)st->init}, {"load", (const void *)st->load},
			{"add_chunks", (const void *)st->add_chunks}, {"chunk_done", (const void *)st->chunk_done},
			{"reject", (const void *)st->reject}, {"rejects", (const void *)st->rejects},
			{"get", (const void *)st->get}, {"set", (const void *)st->set},
		};
		for (size_t i = 0; i < FERRY_ARRAY_LEN(sneed); i++)
			if (!sneed[i].fn) {
				ferry_err_set(&err, FERRY_EUSAGE, "cannot register engine \"%s\": callback state.%s is missing",
				              e->name ? e->name : "?", sneed[i].name);
				return ferry__ctx_fail(ctx, &err);
			}
	} else if (!e->exec_params) {
		ferry_err_set(&err, FERRY_EUSAGE, "cannot register engine \"%s\": callback exec_params is missing (ferry keeps a run's state through it when the engine has no state table)",
		              e->name ? e->name : "?");
		return ferry__ctx_fail(ctx, &err);
	}
	if (e->capture) {
		const ferry_engine_capture *cp = e->capture;
		struct { const char *name; const void *fn; } cneed[] = {
			{"setup", (const void *)cp->setup}, {"snapshot", (const void *)cp->snapshot},
			{"start", (const void *)cp->start}, {"next", (const void *)cp->next},
			{"ack", (const void *)cp->ack}, {"close", (const void *)cp->close},
			{"marker", (const void *)cp->marker}, {"teardown", (const void *)cp->teardown},
		};
		for (size_t i = 0; i < FERRY_ARRAY_LEN(cneed); i++)
			if (!cneed[i].fn) {
				ferry_err_set(&err, FERRY_EUSAGE, "cannot register engine \"%s\": callback capture.%s is missing",
				              e->name ? e->name : "?", cneed[i].name);
				return ferry__ctx_fail(ctx, &err);
			}
	}
	if (!e->name || !e->schemes || !e->schemes[0] || e->max_writers < 1) {
		ferry_err_set(&err, FERRY_EUSAGE, "cannot register engine: name, schemes and max_writers are required");
		return ferry__ctx_fail(ctx, &err);
	}
	if (ctx->nengines >= FERRY_MAX_ENGINES) {
		ferry_err_set(&err, FERRY_EUSAGE, "cannot register engine \"%s\": too many engines", e->name);
		return ferry__ctx_fail(ctx, &err);
	}
	ctx->engines[ctx->nengines++] = e;
	return 0;
}

/* A libpq conninfo string: "host=h dbname=d ...", a keyword and '=' first, no URL scheme. */
int ferry__is_conninfo(const char *s)
{
	if (strstr(s, "://"))
		return 0;
	while (*s == ' ' || *s == '\t')
		s++;
	const char *k = s;
	while ((*s >= 'a' && *s <= 'z') || *s == '_')
		s++;
	if (s == k)
		return 0;
	while (*s == ' ' || *s == '\t')
		s++;
	return *s == '=';
}

const ferry_engine *ferry__engine_for(ferry_ctx *ctx, const char *url, ferry_err *err)
{
	/* Never a file name: a conninfo string may hold a password. */
	if (ferry__is_conninfo(url))
		url = "postgresql:";
	const char *colon = strchr(url, ':');
	const char *slash = strchr(url, '/');
	/* A bare path (no scheme, or a colon only after a slash) is an SQLite file. */
	if (!colon || (slash && slash < colon) || colon == url) {
		for (size_t i = 0; i < ctx->nengines; i++)
			if (strcmp(ctx->engines[i]->name, "sqlite") == 0)
				return ctx->engines[i];
	} else {
		size_t n = (size_t)(colon - url);
		for (size_t i = 0; i < ctx->nengines; i++)
			for (const char *const *s = ctx->engines[i]->schemes; *s; s++)
				if (strlen(*s) == n && strncmp(*s, url, n) == 0)
					return ctx->engines[i];
		char *masked = ferry_url_mask(url);
		ferry_err_set(err, FERRY_EUSAGE, "no engine for \"%s\": unknown scheme \"%.*s\"",
		              masked ? masked : "?", (int)n, url);
		free(masked);
		return NULL;
	}
	ferry_err_set(err, FERRY_EUSAGE, "no engine for \"%s\"", url);
	return NULL;
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
