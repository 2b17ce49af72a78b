/* alloc.c — checked allocation helpers; a NULL return always means out of memory. */
#include <stdlib.h>
#include <string.h>
#include "../ferry_int.h"

void *ferry__malloc(size_t n) { return malloc(n ? n : 1); }
void *ferry__calloc(size_t n, size_t size) { return calloc(n ? n : 1, size ? size : 1); }
void *ferry__realloc(void *p, size_t n) { return realloc(p, n ? n : 1); }
void ferry_free(void *p) { free(p); }

char *ferry__strdup(const char *s)
{
	return s ? ferry__strndup(s, strlen(s)) : NULL;
}

char *ferry__strndup(const char *s, size_t n)
{
	char *d = malloc(n + 1);
	if (!d)
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

char *ferry__sprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	char *d = malloc((size_t)n + 1);
	if (!d)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(d, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return d;
}

int ferry__grow(void *arr, size_t *cap, size_t need, size_t elem)
{
	void **p = arr;
	if (need <= *cap)
		return 0;
	size_t ncap = *cap ? *cap : 4;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2 / elem)
			return FERRY_ENOMEM;
		ncap *= 2;
	}
	void *n = realloc(*p, ncap * elem);
	if (!n)
		return FERRY_ENOMEM;
	memset((char *)n + *cap * elem, 0, (ncap - *cap) * elem);
	*p = n;
	*cap = ncap;
	return 0;
}
