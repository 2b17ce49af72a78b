/* checksum.c — SHA-256 of migration scripts, through libcrypto (OpenSSL), for the checksum
 * column of ferry_history (its algorithm recorded beside it in checksum_algo). */
#include <stdlib.h>
#include <openssl/evp.h>
#include "history.h"

struct ferry_sha256 {
	EVP_MD *md;   /* fetched once: an implicit fetch on every digest costs more than hashing
	                 a small script */
};

int ferry__sha256_new(ferry_sha256 **out, ferry_err *err)
{
	*out = NULL;
	ferry_sha256 *h = calloc(1, sizeof(*h));
	if (!h)
		return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	if (!(h->md = EVP_MD_fetch(NULL, "SHA256", NULL))) {
		free(h);
		return ferry_err_set(err, FERRY_ERROR, "cannot compute sha-256 checksums: libcrypto has no sha-256");
	}
	*out = h;
	return 0;
}

void ferry__sha256_free(ferry_sha256 *h)
{
	if (!h)
		return;
	EVP_MD_free(h->md);
	free(h);
}

int ferry__sha256_hex(ferry_sha256 *h, char out[65], const void *data, size_t len,
                      ferry_err *err)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	out[0] = '\0';
	if (EVP_Digest(data, len, md, &mdlen, h->md, NULL) != 1 || mdlen != 32)
		return ferry_err_set(err, FERRY_ERROR, "could not compute a sha-256 checksum");
	for (unsigned int i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
	return 0;
}
