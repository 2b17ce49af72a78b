/* settings.c — the plan's settings and every default of a plan, in one declarative table
 * (Redis config.c static_configs[]): the YAML loader only fills what a plan file gives, and
 * ferry_plan_simple, the import step's plan and the run take their defaults from here. */
#include <stddef.h>
#include <string.h>
#include "../ferry_int.h"

const ferry_plan_setting ferry__plan_settings[] = {
	{"threads", FERRY_SETTING_INT, offsetof(ferry_plan, threads), 0, 4096, 0},
	{"chunk_rows", FERRY_SETTING_INT64, offsetof(ferry_plan, chunk_rows), 1, INT64_MAX, 50000},
	{"max_rejects", FERRY_SETTING_INT64, offsetof(ferry_plan, max_rejects), 0, INT64_MAX, 0},
	{"strict", FERRY_SETTING_BOOL, offsetof(ferry_plan, strict), 0, 1, 0},
	/* "others: copy" (1) or "skip" (0) */
	{"others", FERRY_SETTING_BOOL, offsetof(ferry_plan, copy_others), 0, 1, 1},
	{NULL, 0, 0, 0, 0, 0}
};

const char ferry__plan_default_stage[] = "main";

/* The sample of a table no rule of the plan's verify: section covers, by its row count:
 * small tables whole, larger ones less (docs/VERIFY.md). Ordered by max_rows. */
const ferry_coverage_default ferry__coverage_defaults[] = {
	{100, 10000, "up to 100"},
	{10000, 2100, "101-10,000"},
	{INT64_MAX, 500, "over 10,000"},
};
const size_t ferry__ncoverage_defaults = FERRY_ARRAY_LEN(ferry__coverage_defaults);

const ferry_coverage_default *ferry__coverage_default(int64_t rows)
{
	size_t i = 0;
	while (i + 1 < ferry__ncoverage_defaults && rows > ferry__coverage_defaults[i].max_rows)
		i++;
	return &ferry__coverage_defaults[i];
}

const ferry_plan_setting *ferry__plan_setting(const char *name)
{
	for (const ferry_plan_setting *s = ferry__plan_settings; s->name; s++)
		if (strcmp(s->name, name) == 0)
			return s;
	return NULL;
}

int64_t ferry__plan_setting_get(const ferry_plan *p, const ferry_plan_setting *s)
{
	const char *field = (const char *)p + s->off;
	switch (s->kind) {
	case FERRY_SETTING_INT64:
		return *(const int64_t *)(const void *)field;
	default:
		return *(const int *)(const void *)field;
	}
}

void ferry__plan_setting_put(ferry_plan *p, const ferry_plan_setting *s, int64_t v)
{
	char *field = (char *)p + s->off;
	switch (s->kind) {
	case FERRY_SETTING_INT64:
		*(int64_t *)(void *)field = v;
		break;
	default:
		*(int *)(void *)field = (int)v;
		break;
	}
}

void ferry__plan_settings_init(ferry_plan *p, const ferry_plan *from)
{
	for (const ferry_plan_setting *s = ferry__plan_settings; s->name; s++)
		ferry__plan_setting_put(p, s, from ? ferry__plan_setting_get(from, s) : s->def);
}
