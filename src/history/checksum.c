/* checksum.c — SHA-256 of migration scripts, through nettle, for the checksum column of
 * ferry_history (its algorithm recorded beside it in checksum_algo). nettle rather than
 * libcrypto: it loads in a fraction of the time and needs no initialisation, which a no-op
 * `ferry migrate` pays on every run (docs/BENCHMARKS.md, migrate). */
#include <stdlib.h>
#include <nettle/sha2.h>
#include "history.h"

struct ferry_sha256 {
	int unused;   /* nettle's state lives on the stack of each call: the hasher has none */
};

int ferry__sha256_new(ferry_sha256 **out, ferry_err *err)
{
	*out = ferry__calloc(1, sizeof(**out));
	return *out ? 0 : ferry_err_set(err, FERRY_ENOMEM, "out of memory");
}

void ferry__sha256_free(ferry_sha256 *h)
{
	free(h);
}

int ferry__sha256_hex(ferry_sha256 *h, char out[65], const void *data, size_t len,
                      ferry_err *err)
{
	struct sha256_ctx ctx;
	uint8_t md[SHA256_DIGEST_SIZE];
	(void)h;
	(void)err;
	sha256_init(&ctx);
	sha256_update(&ctx, len, data);
	sha256_digest(&ctx, sizeof(md), md);
	ferry__hex_encode(out, md, SHA256_DIGEST_SIZE);
	return 0;
}
