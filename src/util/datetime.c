/* datetime.c — the proleptic Gregorian calendar (astronomical years: 1 BC is year 0), once for
 * every module: the PostgreSQL engine converts dates to and from its binary days, verify moves
 * timestamps through zones. Exact for every year an int64_t day count holds (Howard Hinnant's
 * days_from_civil / civil_from_days). */
#include <string.h>
#include "../ferry_int.h"

int ferry__is_leap(int64_t y)
{
	return (y % 4 == 0) && ((y % 100 != 0) || (y % 400 == 0));
}

int ferry__days_in_month(int64_t y, int m)
{
	static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (m < 1 || m > 12)
		return 0;
	return mdays[m - 1] + (m == 2 && ferry__is_leap(y));
}

int64_t ferry__days_from_civil(int64_t y, int64_t m, int64_t d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

void ferry__civil_from_days(int64_t z, int64_t *y, int64_t *m, int64_t *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp + (mp < 10 ? 3 : -9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* ---- reading dates and times as written ------------------------------------------------ */

typedef struct cur {
	const char *p, *e;
} cur;

static int lit(cur *c, char ch)
{
	if (c->p < c->e && *c->p == ch) {
		c->p++;
		return 1;
	}
	return 0;
}

static int at_digit(const cur *c)
{
	return c->p < c->e && *c->p >= '0' && *c->p <= '9';
}

/* The whole run of digits at c: how many (0: none), and its value in *out (which stops
 * growing past 10^17: only short runs are ever taken). */
static int run(cur *c, int64_t *out)
{
	int64_t v = 0;
	int k = 0;
	for (; at_digit(c); c->p++, k++)
		if (v < INT64_C(100000000000000000))
			v = v * 10 + (*c->p - '0');
	*out = v;
	return k;
}

/* HH:MM[:SS[.f]]: -1 when a colon or the point has no digits after it. */
static int scan_time(cur *c, ferry_when *w)
{
	if (!(w->nhour = run(c, &w->hour)) || !lit(c, ':') || !(w->nminute = run(c, &w->minute)))
		return -1;
	if (lit(c, ':')) {
		if (!(w->nsecond = run(c, &w->second)))
			return -1;
		if (lit(c, '.')) {
			w->frac = c->p;
			int64_t ignored;
			if (!(w->nfrac = (size_t)run(c, &ignored)))
				return -1;
		}
	}
	w->has_time = 1;
	w->time_end = c->p;
	return 0;
}

/* [ ](Z | UTC | +-digits[:digits[:digits]]); an offset cut short sets zone_bad and stops. */
static void scan_zone(cur *c, ferry_when *w)
{
	cur save = *c;
	w->zone_blank = lit(c, ' ');
	if (lit(c, 'Z') || lit(c, 'z')) {
		w->zone = 'Z';
		return;
	}
	if (c->e - c->p >= 3 && (c->p[0] | 0x20) == 'u' && (c->p[1] | 0x20) == 't' &&
	    (c->p[2] | 0x20) == 'c') {
		c->p += 3;
		w->zone = 'U';
		return;
	}
	if (c->p < c->e && (*c->p == '+' || *c->p == '-')) {
		w->zone = '+';
		w->zone_neg = *c->p++ == '-';
		for (int k = 0; k < 3; k++) {
			if (k > 0 && !lit(c, ':'))
				return;
			w->zone_colons = k;
			if (!(w->zone_n[k] = run(c, &w->zone_f[k]))) {
				w->zone_bad = 1;
				return;
			}
		}
		return;
	}
	w->zone_blank = 0;
	*c = save;
}

int ferry__when_scan(const char *s, size_t n, int what, ferry_when *w)
{
	cur c = {s, s + n};
	memset(w, 0, sizeof(*w));
	if (what == FERRY_WHEN_TIME) {
		if (scan_time(&c, w) != 0)
			return -1;
	} else {
		if (!(w->nyear = run(&c, &w->year)) || !lit(&c, '-') || !(w->nmonth = run(&c, &w->month)) ||
		    !lit(&c, '-') || !(w->nday = run(&c, &w->day)))
			return -1;
		if (c.p + 1 < c.e && (*c.p == ' ' || *c.p == 'T' || *c.p == 't') && c.p[1] >= '0' &&
		    c.p[1] <= '9') {
			c.p++;
			if (scan_time(&c, w) != 0)
				return -1;
		}
	}
	scan_zone(&c, w);
	if (!w->zone_bad && c.e - c.p >= 3 && c.p[0] == ' ' && (c.p[1] | 0x20) == 'b' &&
	    (c.p[2] | 0x20) == 'c') {
		w->bc = (c.p[1] == 'B') == (c.p[2] == 'C') ? 1 : 2;
		c.p += 3;
	}
	w->end = c.p;
	return 0;
}
