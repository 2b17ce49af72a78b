/* plan_int.h — what the plan model (plan.c) and its YAML loader (plan_yaml.c) share: a
 * sorted index of names for lookups that stay fast on large plans. */
#ifndef FERRY_PLAN_INT_H
#define FERRY_PLAN_INT_H

#include <stddef.h>

typedef struct name_ix {
	const char *name;
	size_t ix;
} name_ix;

/* qsort comparator: by name, then by position, so duplicates sort in written order. */
int ferry__plan_cmp_name_ix(const void *a, const void *b);
/* The position of the first entry named name in a sorted array, or -1. */
long ferry__plan_find_name(const name_ix *ix, size_t n, const char *name);

#endif
