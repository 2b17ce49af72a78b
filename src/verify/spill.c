/* spill.c — when the differing ranges of a table hold more rows than one round, one pass
 * sorts the rows of up to VERIFY_SPILL_FILES rounds into a temporary file each (per side),
 * and each round is then compared from its two files: a pass per 64 rounds, not per round,
 * with memory bounded by one round whatever the number of differences.
 * A record: key hash, row hash (8 bytes each), job (its top bit: the row waits), key length,
 * row length (4 bytes each, in the machine's order: the file never outlives the process), key
 * cells, row cells. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "verify.h"

#define SPILL_WAITS 0x80000000u

/* An unlinked temporary file readable by its owner only, in $TMPDIR (else /tmp). */
static FILE *spill_open(ferry_err *err)
{
	const char *dir = getenv("TMPDIR");
	char *path = ferry__sprintf("%s/ferry-verify-XXXXXX", dir && *dir ? dir : "/tmp");
	int fd = path ? mkstemp(path) : -1;
	FILE *f = NULL;
	if (fd >= 0) {
		unlink(path);
		f = fdopen(fd, "w+b");
		if (!f)
			close(fd);
	}
	if (!f)
		ferry_err_set(err, FERRY_ERROR, "cannot create a spill file for verify in %s: %s",
		              dir && *dir ? dir : "/tmp", strerror(errno));
	free(path);
	return f;
}

int ferry_verify__spill_row(scan *s, uint64_t kh, uint64_t rh, const ferry_buf *key,
                            const ferry_buf *row, int waits)
{
	const spill_plan *sp = s->spill;
	uint64_t h[2] = {kh, rh};
	uint32_t l[3] = {(uint32_t)s->cur_job | (waits ? SPILL_WAITS : 0), (uint32_t)key->len,
	                 (uint32_t)row->len};
	FILE *f = sp->files[s->side][sp->round_of[VERIFY_BUCKET(kh)] - sp->rlo];
	if (fwrite(h, sizeof(h), 1, f) != 1 || fwrite(l, sizeof(l), 1, f) != 1 ||
	    fwrite(key->data, 1, key->len, f) != key->len || fwrite(row->data, 1, row->len, f) != row->len)
		return ferry_err_set(&s->err, FERRY_ERROR, "cannot write verify's spill file: %s",
		                     strerror(errno));
	return 0;
}

/* Read a spill file back into a side's map. */
static int load_spill(FILE *f, rowmap *m, vtable *vt, int side, ferry_err *err)
{
	uint8_t *k = NULL, *r = NULL;
	size_t kcap = 0, rcap = 0;
	int rc = 0;
	if (fflush(f) != 0 || fseek(f, 0, SEEK_SET) != 0)
		return ferry_err_set(err, FERRY_ERROR, "cannot read verify's spill file: %s", strerror(errno));
	for (;;) {
		uint64_t h[2];
		uint32_t l[3];
		if (fread(h, sizeof(h), 1, f) != 1)
			break;
		if (fread(l, sizeof(l), 1, f) != 1 || (side == 0 && (l[0] & ~SPILL_WAITS) >= vt->njobs)) {
			rc = ferry_err_set(err, FERRY_ECORRUPT, "verify's spill file is damaged");
			break;
		}
		int waits = (l[0] & SPILL_WAITS) != 0;
		if (ferry__grow(&k, &kcap, (size_t)l[1] + 1, 1) != 0 || ferry__grow(&r, &rcap, (size_t)l[2] + 1, 1) != 0) {
			rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
			break;
		}
		if (fread(k, 1, l[1], f) != l[1] || fread(r, 1, l[2], f) != l[2]) {
			rc = ferry_err_set(err, FERRY_ECORRUPT, "verify's spill file is damaged");
			break;
		}
		const job *j = side == 0 ? vt->jobs[l[0] & ~SPILL_WAITS] : NULL;
		const int *jm = side == 0 ? vt->jmap[l[0] & ~SPILL_WAITS] : NULL;
		int e = ferry_verify__collect(m, vt, side, j, jm, h[0], h[1], k, l[1], r, l[2], waits);
		if (e) {
			rc = ferry_err_set(err, e, e == FERRY_ENOMEM ? "out of memory" : "cannot merge rows of \"%s\"",
			                   vt->name);
			break;
		}
	}
	if (rc == 0 && ferror(f))
		rc = ferry_err_set(err, FERRY_ERROR, "cannot read verify's spill file: %s", strerror(errno));
	free(k);
	free(r);
	return rc;
}

/* Compare one round from its two files (expected, target). */
static int compare_round(FILE *ef, FILE *af, vtable *vt, size_t expect, size_t max_listed,
                         ferry_err *err)
{
	rowmap m[2];
	int rc = 0;
	memset(m, 0, sizeof(m));
	if (ferry_verify__map_init(&m[0], expect) != 0 || ferry_verify__map_init(&m[1], expect) != 0)
		rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	if (rc == 0)
		rc = load_spill(ef, &m[0], vt, 0, err);
	if (rc == 0)
		rc = load_spill(af, &m[1], vt, 1, err);
	if (rc == 0 && ferry_verify__compare_maps(vt, &m[0], &m[1], max_listed) != 0)
		rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	ferry_verify__map_free(&m[0]);
	ferry_verify__map_free(&m[1]);
	return rc;
}

int ferry_verify__spilled_rounds(vtable *vt, const vsides *sd, const int32_t *round_of,
                                 int32_t rlo, int32_t rhi, uint8_t *select, size_t expect,
                                 ferry_err *err)
{
	size_t nf = (size_t)(rhi - rlo);
	FILE *files[2][VERIFY_SPILL_FILES] = {{0}};
	scan sc[2];
	int rc = 0;
	memset(sc, 0, sizeof(sc));
	for (int side = 0; side < 2 && rc == 0; side++)
		for (size_t i = 0; i < nf && rc == 0; i++)
			if (!(files[side][i] = spill_open(err)))
				rc = err->code;
	memset(select, 0, VERIFY_NBUCKETS / 8);
	for (size_t b = 0; b < VERIFY_NBUCKETS; b++)
		if (round_of[b] >= rlo && round_of[b] < rhi)
			select[b / 8] |= (uint8_t)(1u << (b % 8));
	spill_plan sp = {{files[0], files[1]}, round_of, rlo};
	if (rc == 0)
		rc = ferry_verify__scan_both(sc, vt, sd, select, 0, &sp, err);
	ferry_verify__scan_free(sc);
	for (size_t i = 0; i < nf && rc == 0; i++)
		rc = compare_round(files[0][i], files[1][i], vt, expect, sd->max_listed, err);
	for (int side = 0; side < 2; side++)
		for (size_t i = 0; i < nf; i++)
			if (files[side][i])
				fclose(files[side][i]);
	return rc;
}
