/* check.h — the checks of the unit tests (one test program per tests/unit/test_*.c, which
 * includes this once). Each check counts in check_passed or check_failed and, when it fails,
 * prints "FILE:LINE: FAILED: EXPRESSION" to stderr, with what it got and wanted where there
 * are two; each returns whether it passed. main ends with `return check_summary();`. */
#ifndef FERRY_TESTS_UNIT_CHECK_H
#define FERRY_TESTS_UNIT_CHECK_H

#include <stdio.h>
#include <string.h>
#include "ferry/engine.h"

static int check_passed, check_failed;

/* CHECK(c): c is true. */
#define CHECK(c) check((c), #c, __FILE__, __LINE__)
static inline int check(int ok, const char *what, const char *file, int line)
{
	if (ok)
		check_passed++;
	else {
		check_failed++;
		fprintf(stderr, "%s:%d: FAILED: %s\n", file, line, what);
	}
	return ok;
}

/* CHECK_STR(got, want): equal strings, or both NULL. */
#define CHECK_STR(got, want) check_str((got), (want), #got, __FILE__, __LINE__)
static inline int check_str(const char *got, const char *want, const char *what, const char *file,
                            int line)
{
	int ok = (!got && !want) || (got && want && strcmp(got, want) == 0);
	if (!check(ok, what, file, line))
		fprintf(stderr, "    got:  %s\n    want: %s\n", got ? got : "(null)", want ? want : "(null)");
	return ok;
}

/* CHECK_HAS(s, sub): string s (not NULL) contains sub. */
#define CHECK_HAS(s, sub) check_has((s), (sub), #s, __FILE__, __LINE__)
static inline int check_has(const char *s, const char *sub, const char *what, const char *file,
                            int line)
{
	int ok = s && strstr(s, sub) != NULL;
	if (!check(ok, what, file, line))
		fprintf(stderr, "    \"%s\" does not contain \"%s\"\n", s ? s : "(null)", sub);
	return ok;
}

/* CHECK_INT(got, want): equal integers. */
#define CHECK_INT(got, want) check_int((long long)(got), (long long)(want), #got, __FILE__, __LINE__)
static inline int check_int(long long got, long long want, const char *what, const char *file,
                            int line)
{
	int ok = got == want;
	if (!check(ok, what, file, line))
		fprintf(stderr, "    got:  %lld\n    want: %lld\n", got, want);
	return ok;
}

/* OK(call): a call that must return 0; prints the message of the ferry_err named err in
 * scope (the one the call filled) when it does not. */
#define OK(call) check_ok((call), &err, #call, __FILE__, __LINE__)
static inline int check_ok(int rc, const ferry_err *err, const char *what, const char *file,
                           int line)
{
	if (rc == 0) {
		check_passed++;
		return 1;
	}
	check_failed++;
	fprintf(stderr, "%s:%d: FAILED (%d): %s\n    %s\n", file, line, rc, what, err->msg);
	return 0;
}

/* Prints "N passed, N failed" and returns main's exit code. */
static inline int check_summary(void)
{
	printf("%d passed, %d failed\n", check_passed, check_failed);
	return check_failed != 0;
}

#endif
