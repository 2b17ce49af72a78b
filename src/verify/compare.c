/* compare.c — one table compared: pass 1 reads both sides and sums each bucket's set digest
 * (count and the sum of row hashes, mod 2^64), so a matching table costs that one pass.
 * Buckets whose digests differ are read again, only their rows kept, in rounds of bounded
 * memory (in maps, or through spill files when there are several rounds), and compared row
 * by row: every key of either side is matched, missing or extra. */
#include <stdlib.h>
#include <string.h>
#include "verify.h"

/* Rows of one side held in memory in a comparison round: 200,000, or FERRY_VERIFY_ROUND_ROWS
 * (for tests, which make many rounds out of a small table). */
static uint64_t round_rows(void)
{
	const char *e = getenv("FERRY_VERIFY_ROUND_ROWS");
	long long n = e ? atoll(e) : 0;
	return n > 0 ? (uint64_t)n : 200000;
}

static int rows_equal(const mrow *e, const mrow *a, size_t ncols, int wild)
{
	if (!wild)
		return e->rlen == a->rlen && memcmp(e->data + e->klen, a->data + a->klen, e->rlen) == 0;
	size_t eo = e->klen, ao = a->klen, ee = e->klen + e->rlen, ae = a->klen + a->rlen;
	for (size_t c = 0; c < ncols; c++) {
		size_t en = ferry__cell_size(e->data + eo, ee - eo), an = ferry__cell_size(a->data + ao, ae - ao);
		if (!en || !an || !ferry__cell_equal(e->data + eo, en, a->data + ao, an))
			return 0;
		eo += en;
		ao += an;
	}
	return 1;
}

/* Match expected row e with the target's row a of the same key (both counted). */
static int match_key(vtable *vt, const mrow *e, mrow *a, size_t max_listed)
{
	int rc = 0;
	a->seen = 1;
	int64_t both = e->count < a->count ? e->count : a->count;
	/* A key held by several rows (no unique key in the target, or NULL keys): the rows
	 * must be the same multiset, which the sums of their hashes say; the first rows show. */
	/* Without a key, the rows of a key are the same row (but for wild cells). */
	int equal = vt->keyless ? 1
	            : e->count == 1 && a->count == 1 ? rows_equal(e, a, vt->ncols, vt->wild)
	            : e->count == a->count && e->rsum == a->rsum;
	if (equal) {
		vt->matched += both;
	} else {
		vt->different += both;
		rc = ferry_verify__add_diff(vt, max_listed, VDIFF_DIFFERENT, e, a);
	}
	if (rc == 0 && e->count > a->count) {
		vt->missing += e->count - a->count;
		rc = ferry_verify__add_diff(vt, max_listed, VDIFF_MISSING, e, NULL);
	} else if (rc == 0 && a->count > e->count) {
		vt->extra += a->count - e->count;
		rc = ferry_verify__add_diff(vt, max_listed, VDIFF_DUPLICATE, NULL, a);
	}
	return rc;
}

int ferry_verify__compare_maps(vtable *vt, rowmap *em, rowmap *am, size_t max_listed)
{
	int rc = 0;
	for (size_t i = 0; i < em->cap && rc == 0; i++) {
		mrow *e = &em->slots[i];
		if (!e->data)
			continue;
		mrow *a = ferry_verify__map_find(am, e->kh, e->data, e->klen);
		if (e->waits && !a->data) {
			/* Not carried yet: neither missing nor compared. */
			vt->waiting += e->count;
			continue;
		}
		vt->arrived += e->waits ? e->count : 0;
		vt->compared += e->count;
		if (!a->data) {
			vt->missing += e->count;
			rc = ferry_verify__add_diff(vt, max_listed, VDIFF_MISSING, e, NULL);
			continue;
		}
		rc = match_key(vt, e, a, max_listed);
	}
	for (size_t i = 0; i < am->cap && rc == 0; i++) {
		mrow *a = &am->slots[i];
		if (!a->data || a->seen)
			continue;
		vt->extra += a->count;
		rc = ferry_verify__add_diff(vt, max_listed, a->count > 1 ? VDIFF_DUPLICATE : VDIFF_EXTRA, NULL, a);
	}
	return rc;
}

/* After the digest pass: count the buckets that match, and weigh each bucket to look at row by
 * row (those whose digests differ, or, for merges and tables whose expected rows have cells
 * no rule decides, every bucket with rows) by its larger side's rows. While the backfill runs
 * (waitmark), a bucket matches when the target holds its rows that do not wait, with none
 * of its rows that wait or all of them; one that holds some is looked at row by row. */
static void weigh_buckets(vtable *vt, const scan sc[2], uint64_t *weight)
{
	int exact = !vt->merge && !vt->wild;
	for (size_t b = 0; b < VERIFY_NBUCKETS; b++) {
		const digest *e = &sc[0].dig[b], *a = &sc[1].dig[b];
		digest w = sc[0].wdig ? sc[0].wdig[b] : (digest){0, 0};
		int none = e->n == a->n && e->sum == a->sum;
		int all = w.n && e->n + w.n == a->n && e->sum + w.sum == a->sum;
		int differs = exact ? !none && !all : (e->n || a->n || w.n);
		if (!differs) {
			int64_t n = (int64_t)(e->n + (all ? w.n : 0));
			vt->compared += n;
			vt->matched += n;
			vt->arrived += all ? (int64_t)w.n : 0;
			vt->waiting += all ? 0 : (int64_t)w.n;
			continue;
		}
		weight[b] = e->n + w.n > a->n ? e->n + w.n : a->n;
	}
}

/* Rounds: consecutive weighed buckets up to round_max rows (one bucket at least). Sets each
 * bucket's round (-1: none) and *most, the rows of the largest round; returns the count. */
static int32_t plan_rounds(const uint64_t *weight, uint64_t round_max, int32_t *round_of,
                           uint64_t *most)
{
	int32_t nrounds = 0;
	uint64_t rows = 0;
	*most = 0;
	for (size_t b = 0; b < VERIFY_NBUCKETS; b++) {
		round_of[b] = -1;
		if (!weight[b])
			continue;
		if (nrounds == 0 || (rows > 0 && rows + weight[b] > round_max)) {
			nrounds++;
			rows = 0;
		}
		round_of[b] = nrounds - 1;
		rows += weight[b];
		*most = rows > *most ? rows : *most;
	}
	return nrounds;
}

/* The one round of a table: its rows straight into the maps, then compared. */
static int single_round(vtable *vt, const vsides *sd, const int32_t *round_of, uint8_t *select,
                        size_t expect, ferry_err *err)
{
	scan sc[2];
	for (size_t b = 0; b < VERIFY_NBUCKETS; b++)
		if (round_of[b] == 0)
			select[b / 8] |= (uint8_t)(1u << (b % 8));
	int rc = ferry_verify__scan_both(sc, vt, sd, select, expect, NULL, err);
	if (rc == 0 && ferry_verify__compare_maps(vt, &sc[0].map, &sc[1].map, sd->max_listed) != 0)
		rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	ferry_verify__scan_free(sc);
	return rc;
}

/* The rows of the weighed buckets, round by round. */
static int compare_rounds(vtable *vt, const vsides *sd, const uint64_t *weight, uint8_t *select,
                          ferry_err *err)
{
	const uint64_t round_max = round_rows();
	int32_t *round_of = ferry__malloc(VERIFY_NBUCKETS * sizeof(int32_t));
	if (!round_of)
		return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	uint64_t most;
	int32_t nrounds = plan_rounds(weight, round_max, round_of, &most);
	/* A map is sized for the largest round, at most a round's rows (it grows past that only
	 * for one range holding more, which one key's many rows can). */
	size_t expect = (size_t)(most < round_max ? most : round_max);
	int rc = 0;
	if (nrounds == 1)
		rc = single_round(vt, sd, round_of, select, expect, err);
	for (int32_t g = 0; rc == 0 && nrounds > 1 && g < nrounds; g += VERIFY_SPILL_FILES)
		rc = ferry_verify__spilled_rounds(vt, sd, round_of, g,
		                                  g + VERIFY_SPILL_FILES < nrounds ? g + VERIFY_SPILL_FILES : nrounds,
		                                  select, expect, err);
	free(round_of);
	return rc;
}

int ferry_verify__table(vtable *vt, const vsides *sd, ferry_err *err)
{
	double t0 = ferry__now();
	scan sc[2];
	uint8_t *select = NULL;
	uint64_t *weight = NULL;
	int rc = ferry_verify__scan_both(sc, vt, sd, NULL, 0, NULL, err);
	if (rc == 0) {
		/* A merge's expected rows are its distinct keys, known only once they are gathered. */
		vt->exp_total = vt->merge ? -1 : sc[0].total;
		vt->act_total = sc[1].total;
		vt->outside_rows = sc[1].outside;
		select = ferry__calloc(VERIFY_NBUCKETS / 8, 1);
		weight = ferry__calloc(VERIFY_NBUCKETS, sizeof(uint64_t));
		if (!select || !weight)
			rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	}
	if (rc == 0) {
		weigh_buckets(vt, sc, weight);
		vt->wait_total = sc[0].wtotal;
		vt->now_total = sc[0].total - sc[0].wtotal;
		if (!vt->merge && !vt->waitmark && vt->exp_total != vt->act_total)
			vt->count_differs = 1;
	}
	ferry_verify__scan_free(sc);
	if (rc == 0)
		rc = compare_rounds(vt, sd, weight, select, err);
	if (rc == 0 && vt->waitmark) {
		/* Expected: the rows that do not wait and those that wait and arrived. A sample
		 * knows the arrivals of its rows only: the target then holds from the first to
		 * all the rows. */
		if (vt->per10k == 10000) {
			vt->exp_total = vt->now_total + vt->arrived;
			vt->count_differs = vt->exp_total != vt->act_total;
		} else {
			vt->exp_total = vt->act_total >= vt->now_total && vt->act_total <= vt->now_total + vt->wait_total
			                ? vt->act_total : vt->now_total;
			vt->count_differs = vt->exp_total != vt->act_total;
		}
	}
	if (rc == 0 && vt->merge && vt->per10k == 10000)
		vt->exp_total = vt->compared;
	free(select);
	free(weight);
	vt->seconds = ferry__now() - t0;
	return rc;
}
