/* fuzz_plan.c — libFuzzer target: any bytes as a plan file (YAML -> plan). Loading must
 * refuse or accept without crashing, leaking or reading past the text, and a refusal is the
 * one-line message a user would see: a plan mistake (or out of memory), never empty, never
 * two lines. What it accepts is freed whole. Built by tests/sh/fuzz.sh. */
#include <stdlib.h>
#include <string.h>
#include "ferry_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ferry_err err = {0, ""};
	ferry_plan *p = NULL;
	/* The loader reads a file into a NUL-terminated buffer; so does this. */
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	int rc = ferry__plan_parse(&p, "fuzz/plan.yaml", text, size, &err);
	free(text);
	if (rc != 0) {
		if (p || rc != err.code || (rc != FERRY_EUSAGE && rc != FERRY_ENOMEM))
			abort();
		if (!err.msg[0] || strchr(err.msg, '\n'))
			abort();
		return 0;
	}
	if (!p)
		abort();
	ferry_plan_free(p);
	return 0;
}
