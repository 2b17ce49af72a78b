/* fetcher.c — bench/later's fetch latency through a kept ferry_fetcher (docs/LATER.md): N
 * fetches of one key each, keys spread over [1, CUT), each timed; prints "p50 p99" in ms.
 * usage: fetcher PLAN TABLE N CUT */
#include <ferry.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	if (argc != 5)
		return 2;
	long n = atol(argv[3]), cut = atol(argv[4]);
	ferry_ctx *ctx;
	ferry_plan *plan;
	ferry_fetcher *f = NULL;
	if (n < 1 || cut < 2 || ferry_ctx_new(&ctx) != 0)
		return 2;
	if (ferry_plan_load(&plan, ctx, argv[1]) != 0 || ferry_fetcher_open(&f, ctx, plan) != 0) {
		fprintf(stderr, "%s\n", ferry_errmsg(ctx));
		return 1;
	}
	double *t = calloc((size_t)n, sizeof(double));
	int rc = t ? 0 : 1;
	for (long i = 0; i < n && rc == 0; i++) {
		char key[32];
		snprintf(key, sizeof(key), "%ld", 1 + (i * 7919) % (cut - 1));
		const char *k[1] = {key};
		ferry_fetch_result r;
		double t0 = now_ms();
		rc = ferry_fetcher_fetch(f, &r, argv[2], 1, k);
		t[i] = now_ms() - t0;
	}
	if (rc != 0) {
		fprintf(stderr, "%s\n", ferry_errmsg(ctx));
	} else {
		qsort(t, (size_t)n, sizeof(double), cmp);
		printf("%.2f %.2f\n", t[(n - 1) / 2], t[(size_t)((double)(n - 1) * 0.99)]);
	}
	free(t);
	ferry_fetcher_close(f);
	ferry_plan_free(plan);
	ferry_ctx_free(ctx);
	return rc;
}
