/* arena.c — bump allocator for per-batch memory, reset after each batch (like PostgreSQL's
 * memory contexts). With FERRY_ARENA_MALLOC defined each allocation is a malloc of its own,
 * so AddressSanitizer sees every overflow. */
#include <stdlib.h>
#include <string.h>
#include "../ferry_int.h"

typedef struct arena_block {
	struct arena_block *next;
	size_t size, used;
	max_align_t data[]; /* aligned payload */
} arena_block;

struct ferry_arena {
	arena_block *head;   /* current block first */
	size_t block_size;
};

ferry_arena *ferry_arena_new(size_t block_size)
{
	ferry_arena *a = ferry__calloc(1, sizeof(*a));
	if (a)
		a->block_size = block_size ? block_size : 64 * 1024;
	return a;
}

static size_t align_up(size_t n)
{
	size_t al = sizeof(max_align_t);
	return (n + al - 1) / al * al;
}

void *ferry_arena_alloc(ferry_arena *a, size_t n)
{
#ifdef FERRY_ARENA_MALLOC
	size_t size = align_up(n ? n : 1);
#else
	size_t size = align_up(n ? n : 1);
	if (a->head && a->head->size - a->head->used >= size) {
		void *p = (char *)a->head->data + a->head->used;
		a->head->used += size;
		return p;
	}
	/* Reuse a later, already allocated block after a reset when it fits. */
	if (a->head && a->head->next && a->head->next->used == 0 &&
	    a->head->next->size >= size) {
		arena_block *b = a->head->next;
		a->head->next = b->next;
		b->next = a->head;
		a->head = b;
		b->used = size;
		return b->data;
	}
	if (size <= a->block_size / 4)
		size = a->block_size > size ? a->block_size : size;
#endif
	if (size > SIZE_MAX - sizeof(arena_block))
		return NULL;
	arena_block *b = ferry__malloc(sizeof(arena_block) + size);
	if (!b)
		return NULL;
	b->size = size;
#ifdef FERRY_ARENA_MALLOC
	b->used = size;
#else
	b->used = align_up(n ? n : 1);
#endif
	b->next = a->head;
	a->head = b;
	return b->data;
}

char *ferry_arena_strndup(ferry_arena *a, const char *s, size_t n)
{
	char *d = ferry_arena_alloc(a, n + 1);
	if (!d)
		return NULL;
	if (n)
		memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

char *ferry_arena_strdup(ferry_arena *a, const char *s)
{
	return s ? ferry_arena_strndup(a, s, strlen(s)) : NULL;
}

void ferry_arena_reset(ferry_arena *a)
{
#ifdef FERRY_ARENA_MALLOC
	arena_block *b = a->head;
	while (b) {
		arena_block *n = b->next;
		free(b);
		b = n;
	}
	a->head = NULL;
#else
	/* Keep the blocks of the standard size for the next batch; free the oversized ones. */
	arena_block *keep = NULL, *b = a->head;
	while (b) {
		arena_block *n = b->next;
		if (b->size == a->block_size) {
			b->used = 0;
			b->next = keep;
			keep = b;
		} else {
			free(b);
		}
		b = n;
	}
	a->head = keep;
#endif
}

void ferry_arena_free(ferry_arena *a)
{
	if (!a)
		return;
	arena_block *b = a->head;
	while (b) {
		arena_block *n = b->next;
		free(b);
		b = n;
	}
	free(a);
}
