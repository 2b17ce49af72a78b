/* alloc.c — checked allocation helpers; a NULL return always means out of memory. Every
 * allocation the library makes for itself goes through ferry__malloc/calloc/realloc, so a
 * test can fail the Nth one (SQLite's malloc tests, curl's runtests -t). */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include "../ferry_int.h"

/* The fault hook: process-wide on purpose (allocations have no handle), and atomic because
 * a run's workers allocate on their own threads. Until a test arms it, an allocation pays
 * one relaxed load; armed, it counts (fail_at 0: counts only). */
static atomic_long alloc_calls, alloc_fail_at, alloc_failed;
static atomic_int alloc_persist, alloc_armed;
static void (*_Atomic alloc_on_fail)(void);

void ferry__alloc_fail_at(long n, int persistent)
{
	atomic_store(&alloc_fail_at, 0);
	atomic_store(&alloc_calls, 0);
	atomic_store(&alloc_failed, 0);
	atomic_store(&alloc_persist, persistent);
	atomic_store(&alloc_fail_at, n > 0 ? n : 0);
	atomic_store(&alloc_armed, n >= 0);
}

void ferry__alloc_on_fail(void (*fn)(void)) { atomic_store(&alloc_on_fail, fn); }

long ferry__alloc_count(void) { return atomic_load(&alloc_calls); }
long ferry__alloc_failures(void) { return atomic_load(&alloc_failed); }

/* 1 when this allocation is to fail. Counting costs one relaxed increment per call. */
static int alloc_fault(void)
{
	if (!atomic_load_explicit(&alloc_armed, memory_order_relaxed))
		return 0;
	long call = atomic_fetch_add_explicit(&alloc_calls, 1, memory_order_relaxed) + 1;
	long at = atomic_load_explicit(&alloc_fail_at, memory_order_relaxed);
	if (at == 0 || call < at || (call > at && !atomic_load(&alloc_persist)))
		return 0;
	atomic_fetch_add(&alloc_failed, 1);
	void (*fn)(void) = atomic_load(&alloc_on_fail);
	if (fn)
		fn();
	errno = ENOMEM; /* as a real malloc's failure: callers that get NULL for two reasons tell them apart */
	return 1;
}

void *ferry__malloc(size_t n) { return alloc_fault() ? NULL : malloc(n ? n : 1); }
void *ferry__calloc(size_t n, size_t size)
{
	return alloc_fault() ? NULL : calloc(n ? n : 1, size ? size : 1);
}
void *ferry__realloc(void *p, size_t n) { return alloc_fault() ? NULL : realloc(p, n ? n : 1); }
void ferry_free(void *p) { free(p); }

char *ferry__strdup(const char *s)
{
	return s ? ferry__strndup(s, strlen(s)) : NULL;
}

char *ferry__strndup(const char *s, size_t n)
{
	char *d = ferry__malloc(n + 1);
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
	char *d = ferry__malloc((size_t)n + 1);
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
	void *n = ferry__realloc(*p, ncap * elem);
	if (!n)
		return FERRY_ENOMEM;
	memset((char *)n + *cap * elem, 0, (ncap - *cap) * elem);
	*p = n;
	*cap = ncap;
	return 0;
}
