/* fuzz_manifest.c — libFuzzer target: any bytes as a label's manifest.json. Parsing must
 * refuse or accept without crashing, leaking or reading past the text; what it accepts is
 * walked. Built by tests/sh/fuzz.sh with FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION, where the
 * self-checksum is computed but not enforced so mutations reach the field checks. */
#include <stdlib.h>
#include <string.h>
#include "label/label.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ferry_err err;
	ferry_label_manifest *m;
	if (ferry__manifest_parse(&m, (const char *)data, size, "fuzz/manifest.json", &err) != 0) {
		if (err.code != FERRY_ECORRUPT && err.code != FERRY_ENOMEM)
			abort();
		return 0;
	}
	for (size_t i = 0; i < m->ntables; i++) {
		const ferry_label_table *t = &m->tables[i];
		if (ferry__manifest_table(m, t->job) != t || !ferry__manifest_stage(m, t->stage))
			abort();
		for (size_t j = 0; j < t->nchunks; j++)
			if (t->chunks[j].lo_len && !t->chunks[j].lo)
				abort();
	}
	ferry__manifest_free(m);
	return 0;
}
