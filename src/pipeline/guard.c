/* guard.c — values a target with numeric affinity (SQLite) would silently change: text
 * that reads as a number but is not its plain form ('012'), decimals past what it keeps, NaN
 * and -0.0. Such rows are refused with the column and value named, before the target sees
 * them; a plan expr converts deliberately. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "sched.h"

/* Would SQLite-style numeric affinity change this text's value? Text that reads as a number
 * but is not that number's plain form ("012", "1.0" into an integer column, " 7") would
 * silently become another value, so such rows are refused instead. */
static int text_number_changes(const char *s, size_t len, ferry_type target)
{
	char tmp[64];
	if (len == 0 || len >= sizeof(tmp))
		return 0;
	int digit = 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c >= '0' && c <= '9')
			digit = 1;
		else if (c == '\0' || !strchr("+-.eE \t\n\r\f\v", c))
			return 0;
	}
	if (!digit)
		return 0;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	char *end;
	errno = 0;
	double d = strtod(tmp, &end);
	while (*end && strchr(" \t\n\r\f\v", *end))
		end++;
	if (*end != '\0' || errno == ERANGE)
		return 0; /* not a number to SQLite either: stored as text, unchanged */
	if (strcmp(tmp, "-0") == 0)
		return 1;
	const char *p = tmp[0] == '-' ? tmp + 1 : tmp;
	if (*p && strspn(p, "0123456789") == strlen(p)) {
		if (p[0] == '0' && p[1] != '\0')
			return 1; /* leading zeros would be lost */
		errno = 0;
		(void)strtoll(tmp, NULL, 10);
		return errno == ERANGE; /* past int64 it would become a rounded real */
	}
	char canon[64];
	snprintf(canon, sizeof(canon), "%.15g", d);
	if (strcmp(canon, tmp) == 0)
		return target != FERRY_FLOAT && !strpbrk(canon, ".e") ? 1 : 0;
	if (target == FERRY_FLOAT && !strpbrk(canon, ".en")) {
		/* A REAL column shows 2.0 as "2.0": that text is kept exactly. */
		strncat(canon, ".0", sizeof(canon) - strlen(canon) - 1);
		return strcmp(canon, tmp) != 0;
	}
	return 1;
}

/* Would SQLite's numeric affinity change this exact decimal (a numeric value from another
 * engine)? It keeps an integer that fits 64 bits, and a real's 15 significant digits; the
 * scale ("1.50") is not part of the value. */
static int numeric_changes(const char *s, size_t len)
{
	size_t i = 0, sig = 0, pending = 0;
	int seen = 0, frac = 0;
	if (i < len && (s[i] == '-' || s[i] == '+'))
		i++;
	size_t int_digits = 0;
	for (; i < len; i++) {
		char c = s[i];
		if (c == '.') {
			frac = 1;
			continue;
		}
		if (c < '0' || c > '9')
			return 1; /* NaN, exponents and the like: not a plain decimal, refuse */
		if (!frac)
			int_digits += seen || c != '0';
		if (c == '0') {
			if (seen)
				pending++; /* counts only if a non-zero digit follows */
			continue;
		}
		seen = 1;
		sig += pending + 1;
		pending = 0;
	}
	/* Integral and within int64: stored exactly as an integer. */
	int integral = !frac || sig <= int_digits;
	if (integral && int_digits <= 18)
		return 0;
	return sig > 15;
}

/* Refuse the rows whose values would change on the way in; keep the rest, in order. */
int ferry__guard_check(const job *j, ferry_batch *b,
                       int (*reject)(void *ud, size_t row, const char *reason), void *ud,
                       ferry_err *err)
{
	size_t n = ferry_batch_nrows(b), ncols = ferry_batch_ncols(b), keep = 0;
	for (size_t row = 0; row < n; row++) {
		ferry_value *v = ferry_batch_row(b, row);
		int bad = -1;
		const char *why = NULL;
		for (size_t c = 0; c < j->ntcols && bad < 0; c++) {
			ferry_type t = j->ttypes[c];
			if (j->texact[c])
				continue; /* no affinity conversion; the engine stores NaN as 'NaN' */
			int numeric = t == FERRY_INT || t == FERRY_FLOAT || t == FERRY_NUMERIC;
			if (numeric && ((v[c].type == FERRY_TEXT && text_number_changes(v[c].v.s, v[c].len, t)) ||
			                (v[c].type == FERRY_NUMERIC && numeric_changes(v[c].v.s, v[c].len)))) {
				bad = (int)c;
				why = "would change value";
			} else if (v[c].type == FERRY_FLOAT && isnan(v[c].v.f)) {
				bad = (int)c; /* SQLite stores NaN as NULL */
				why = "cannot be stored (it would become NULL)";
			} else if (numeric && v[c].type == FERRY_FLOAT && v[c].v.f == 0.0 && signbit(v[c].v.f)) {
				bad = (int)c; /* a typed SQLite column keeps 0 */
				why = "would lose its sign";
			}
		}
		if (bad >= 0) {
			ferry_buf reason = FERRY_BUF_INIT;
			ferry_buf_printf(&reason, "%s ", ferry_type_name(v[bad].type));
			if (v[bad].type == FERRY_FLOAT && v[bad].v.f == 0.0)
				ferry_buf_puts(&reason, "-0.0");
			else if (v[bad].type == FERRY_FLOAT && isnan(v[bad].v.f))
				ferry_buf_puts(&reason, "NaN");
			else
				ferry__value_text(&reason, &v[bad]);
			ferry_buf_printf(&reason, " %s in %s column \"%s\" (convert it with an expr rule)", why,
			                 ferry_type_name(j->ttypes[bad]), j->tcols[bad]);
			int e = reason.failed ? ferry_err_set(err, FERRY_ENOMEM, "out of memory")
			                      : reject(ud, row, reason.data);
			ferry_buf_free(&reason);
			if (e)
				return e;
			continue;
		}
		if (keep != row)
			memcpy(ferry_batch_row(b, keep), v, ncols * sizeof(ferry_value));
		keep++;
	}
	/* Shrink the batch to the kept rows. */
	ferry__batch_truncate(b, keep);
	return 0;
}

