/* fuzz_url.c — libFuzzer target: any bytes as a database address (URL or libpq conninfo
 * string). Masking, finding the passwords, claiming an engine and resolving a path must
 * not crash or leak memory; an address without a password is shown as given, and no
 * password's text is left in the masked address. Built by tests/sh/fuzz.sh. */
#include <stdlib.h>
#include <string.h>
#include "ferry_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	char *url = malloc(size + 1);
	if (!url)
		return 0;
	memcpy(url, data, size);
	url[size] = '\0';
	size_t len = strlen(url); /* an address is a C string: it ends at the first NUL */
	size_t sp[32][2];
	size_t n = ferry__url_secrets(url, sp, 32);
	if (n > 32)
		abort();
	for (size_t i = 0; i < n; i++)
		if (sp[i][0] >= sp[i][1] || sp[i][1] > len)
			abort();
	char *m = ferry_url_mask(url);
	if (!m)
		abort();
	/* Nothing to mask: the text is shown as given. */
	if (n == 0 && strcmp(m, url) != 0)
		abort();
	/* No leak: a password's text (6 bytes or more) shows in the masked address only where
	 * the same text also stood outside every password in the address as given. */
	for (size_t i = 0; i < n; i++) {
		/* The mask is asterisks: a password's own asterisks may meet the mask's "***" and the
		 * text around it ("*@host" masked as "***@host" is no leak), so what counts is the
		 * password's longest run without one. */
		size_t lo = sp[i][0], hi = sp[i][0];
		for (size_t a = sp[i][0]; a < sp[i][1];) {
			size_t b = a;
			while (b < sp[i][1] && url[b] != '*')
				b++;
			if (b - a > hi - lo) {
				lo = a;
				hi = b;
			}
			a = b + 1;
		}
		size_t l = hi - lo;
		if (l < 6)
			continue;
		char *secret = strndup(url + lo, l);
		if (!secret)
			break;
		if (strstr(m, secret)) {
			int outside = 0;
			for (const char *at = strstr(url, secret); at && !outside; at = strstr(at + 1, secret)) {
				size_t o = (size_t)(at - url);
				outside = 1;
				for (size_t k = 0; k < n && outside; k++)
					outside = o + l <= sp[k][0] || o >= sp[k][1];
			}
			if (!outside)
				abort();
		}
		free(secret);
	}
	free(m);
	ferry_err err = {0, ""};
	const ferry_engine *e = ferry__engine_claim(NULL, url);
	char *resolved = NULL;
	if (e && ferry__url_resolve_by(&resolved, e, url, "base/dir", &err) == 0) {
		if (!resolved)
			abort();
		char *path = e->url_path ? e->url_path(resolved) : NULL;
		free(path);
	}
	free(resolved);
	(void)ferry_url_scheme(url);
	free(url);
	return 0;
}
