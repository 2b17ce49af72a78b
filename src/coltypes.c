/* coltypes.c — the column types ferry declares in a table it creates in another engine: the
 * names it writes (a plan's type: key among them), the profile of the values a column holds,
 * and the narrowest type that holds every one of them exactly (docs/ENGINES.md, "Types from
 * the values"). Pure functions: the pipeline reads the values (src/pipeline/infer.c). */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "ferry_int.h"

/* The names ferry declares, in the spelling PostgreSQL and SQLite both read (SQLite's
 * affinity from the name: INT, CHAR, DOUB, NUMERIC). */
static const struct {
	const char *alias, *name;
	ferry_type type;
	int mod; /* 0 none, 1 (n) length, 2 (p[,s]) */
} names[] = {
	{"bigint", "bigint", FERRY_INT, 0},         {"int8", "bigint", FERRY_INT, 0},
	{"integer", "integer", FERRY_INT, 0},       {"int", "integer", FERRY_INT, 0},
	{"int4", "integer", FERRY_INT, 0},          {"smallint", "smallint", FERRY_INT, 0},
	{"int2", "smallint", FERRY_INT, 0},         {"double precision", "double precision", FERRY_FLOAT, 0},
	{"double", "double precision", FERRY_FLOAT, 0}, {"float8", "double precision", FERRY_FLOAT, 0},
	{"float", "double precision", FERRY_FLOAT, 0},  {"real", "real", FERRY_FLOAT, 0},
	{"float4", "real", FERRY_FLOAT, 0},         {"numeric", "numeric", FERRY_NUMERIC, 2},
	{"decimal", "numeric", FERRY_NUMERIC, 2},   {"text", "text", FERRY_TEXT, 0},
	{"varchar", "varchar", FERRY_TEXT, 1},      {"character varying", "varchar", FERRY_TEXT, 1},
	{"bytea", "bytea", FERRY_BLOB, 0},          {"blob", "bytea", FERRY_BLOB, 0},
	{"boolean", "boolean", FERRY_BOOL, 0},      {"bool", "boolean", FERRY_BOOL, 0},
	{"date", "date", FERRY_DATE, 0},            {"time", "time", FERRY_TIME, 0},
	{"timestamp", "timestamp", FERRY_TIMESTAMP, 0}, {"timestamptz", "timestamptz", FERRY_TIMESTAMPTZ, 0},
	{"uuid", "uuid", FERRY_UUID, 0},            {"json", "json", FERRY_JSON, 0},
	{"jsonb", "jsonb", FERRY_JSON, 0},
};

/* Split a declared type into its lowercased base name (blanks folded, at most cap bytes) and
 * its modifier numbers; the count of numbers (0, 1, 2), or -1 when the modifier is not
 * "(n)" or "(n, m)" of unsigned numbers. */
static int split_decl(const char *s, char *base, size_t cap, long mods[2])
{
	size_t o = 0;
	int blank = 0;
	const char *p = s;
	while (*p == ' ')
		p++;
	for (; *p && *p != '('; p++) {
		if (*p == ' ') {
			blank = o > 0;
			continue;
		}
		if (blank && o + 1 < cap)
			base[o++] = ' ';
		blank = 0;
		if (o + 1 < cap)
			base[o++] = (char)tolower((unsigned char)*p);
	}
	base[o] = '\0';
	if (!*p)
		return 0;
	int n = 0;
	p++;
	for (;;) {
		while (*p == ' ')
			p++;
		if (!isdigit((unsigned char)*p) || n == 2)
			return -1;
		char *end;
		mods[n++] = strtol(p, &end, 10);
		if (end - p > 9)
			return -1;
		p = end;
		while (*p == ' ')
			p++;
		if (*p == ',') {
			p++;
			continue;
		}
		if (*p != ')')
			return -1;
		p++;
		while (*p == ' ')
			p++;
		return *p ? -1 : n;
	}
}

int ferry__coltype_parse(const char *s, char *out, size_t cap, ferry_type *type)
{
	char base[64];
	long mods[2] = {0, 0};
	int nm = split_decl(s ? s : "", base, sizeof(base), mods);
	if (nm < 0)
		return -1;
	for (size_t i = 0; i < FERRY_ARRAY_LEN(names); i++) {
		if (strcmp(base, names[i].alias) != 0)
			continue;
		if (nm && (names[i].mod == 0 || (names[i].mod == 1 && nm != 1)))
			return -1;
		*type = names[i].type;
		int w;
		if (names[i].mod == 1 && nm == 0)
			w = snprintf(out, cap, "text");
		else if (names[i].mod == 1)
			w = mods[0] < 1 || mods[0] > 10485760 ? -1 : snprintf(out, cap, "varchar(%ld)", mods[0]);
		else if (names[i].mod == 2 && nm == 1)
			w = mods[0] < 1 || mods[0] > 1000 ? -1 : snprintf(out, cap, "numeric(%ld)", mods[0]);
		else if (names[i].mod == 2 && nm == 2)
			w = mods[0] < 1 || mods[0] > 1000 || mods[1] > mods[0] ? -1
			    : snprintf(out, cap, "numeric(%ld,%ld)", mods[0], mods[1]);
		else
			w = snprintf(out, cap, "%s", names[i].name);
		return w < 0 || (size_t)w >= cap ? -1 : 0;
	}
	return -1;
}

const char *ferry__coltype_default(ferry_type t)
{
	switch (t) {
	case FERRY_INT: return "bigint";
	case FERRY_FLOAT: return "double precision";
	case FERRY_NUMERIC: return "numeric";
	case FERRY_BLOB: return "bytea";
	case FERRY_BOOL: return "boolean";
	case FERRY_DATE: return "date";
	case FERRY_TIME: return "time";
	case FERRY_TIMESTAMP: return "timestamp";
	case FERRY_TIMESTAMPTZ: return "timestamptz";
	case FERRY_UUID: return "uuid";
	case FERRY_JSON: return "jsonb";
	default: return "text";
	}
}

/* ---- the profile of a column's values ---------------------------------------------- */

static int digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return 0;
	return 1;
}

static long num(const char *s, size_t n)
{
	long v = 0;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

/* 'YYYY-MM-DD' as PostgreSQL writes a date of years 1 to 9999. */
static int canon_date(const char *s, size_t n)
{
	if (n != 10 || s[4] != '-' || s[7] != '-' || !digits(s, 4) || !digits(s + 5, 2) ||
	    !digits(s + 8, 2))
		return 0;
	long y = num(s, 4), m = num(s + 5, 2), d = num(s + 8, 2);
	return y >= 1 && m >= 1 && m <= 12 && d >= 1 && d <= ferry__days_in_month(y, (int)m);
}

/* 'HH:MM:SS' and an optional fraction of 1 to 6 digits without a trailing zero, as
 * PostgreSQL writes a time of day (24:00:00 included). */
static int canon_time(const char *s, size_t n)
{
	if (n < 8 || s[2] != ':' || s[5] != ':' || !digits(s, 2) || !digits(s + 3, 2) ||
	    !digits(s + 6, 2))
		return 0;
	long h = num(s, 2), m = num(s + 3, 2), sec = num(s + 6, 2);
	if (m > 59 || sec > 59 || h > 24)
		return 0;
	if (n == 8)
		return h < 24 || (m == 0 && sec == 0);
	if (h == 24 || s[8] != '.' || n < 10 || n > 15 || !digits(s + 9, n - 9) || s[n - 1] == '0')
		return 0;
	return 1;
}

static int canon_uuid(const char *s, size_t n)
{
	if (n != 36)
		return 0;
	for (size_t i = 0; i < n; i++) {
		int dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? s[i] != '-' : !(isdigit((unsigned char)s[i]) || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	}
	return 1;
}

/* Widen the decimal digit range of p by the number written in s (n bytes). */
static void digit_range(ferry_colprof *p, const char *s, size_t n)
{
	ferry_dec d;
	long hi, lo;
	if (ferry__dec_parse(s, n, &d) != 0 || d.special) {
		p->n_nonfinite++;
		return;
	}
	if (!ferry__dec_range(&d, &hi, &lo))
		return;
	if (hi > p->max_hi)
		p->max_hi = hi;
	if (lo < p->min_lo)
		p->min_lo = lo;
}

void ferry__colprof_init(ferry_colprof *p)
{
	memset(p, 0, sizeof(*p));
	p->decl_ok = -1;
	p->max_hi = -1000000;
	p->min_lo = 1000000;
}

void ferry__colprof_add(ferry_colprof *p, const ferry_value *v)
{
	char t[48];
	if (v->type < 32)
		p->kinds |= 1u << v->type;
	switch (v->type) {
	case FERRY_NULL:
		p->n_null++;
		return;
	case FERRY_INT:
	case FERRY_BOOL:
		if (p->n_int == 0 || v->v.i < p->int_min)
			p->int_min = v->v.i;
		if (p->n_int == 0 || v->v.i > p->int_max)
			p->int_max = v->v.i;
		p->n_int++;
		p->n_01 += v->v.i == 0 || v->v.i == 1;
		return; /* the digits of integers follow from int_min and int_max */
	case FERRY_FLOAT:
		p->n_real++;
		if (v->v.f != v->v.f || v->v.f - v->v.f != 0) {
			p->n_nonfinite++;
			return;
		}
		if (p->want_digits) { /* the shortest text costs: only for a numeric(p,s) */
			ferry_dbl_shortest(v->v.f, t, sizeof(t));
			digit_range(p, t, strlen(t));
		}
		return;
	case FERRY_NUMERIC:
		/* An exact decimal of an engine that has them: a number, not text. */
		p->n_real++;
		p->n_dec++;
		digit_range(p, v->v.s ? v->v.s : "", v->len);
		return;
	case FERRY_BLOB:
		p->n_blob++;
		return;
	default: {
		const char *s = v->v.s ? v->v.s : "";
		size_t n = v->len;
		p->n_text++;
		if (!ferry__utf8_valid((const uint8_t *)s, n)) {
			p->n_bad++;
			return;
		}
		int64_t chars = (int64_t)ferry__utf8_chars((const uint8_t *)s, n);
		if (chars > p->max_chars)
			p->max_chars = chars;
		if (canon_date(s, n))
			p->n_date++;
		else if (n > 11 && s[10] == ' ' && canon_date(s, 10)) {
			if (canon_time(s + 11, n - 11))
				p->n_ts++;
			else if (n > 14 && strcmp(s + n - 3, "+00") == 0 && canon_time(s + 11, n - 14))
				p->n_tstz++;
		} else if (canon_time(s, n))
			p->n_time++;
		else if (canon_uuid(s, n))
			p->n_uuid++;
		return;
	}
	}
}

/* ---- the choice -------------------------------------------------------------------- */

/* Is base one of SQL's names for a character type, and does it pad (char(n))? */
static int char_name(const char *base, int *pads)
{
	static const char *const vary[] = {"varchar", "character varying", "nvarchar",
	                                   "varying character", "national varchar", "varchar2",
	                                   "nvarchar2"};
	static const char *const fixed[] = {"char", "character", "nchar", "native character",
	                                    "national character", "national char"};
	*pads = 0;
	for (size_t i = 0; i < FERRY_ARRAY_LEN(vary); i++)
		if (strcmp(base, vary[i]) == 0)
			return 1;
	for (size_t i = 0; i < FERRY_ARRAY_LEN(fixed); i++)
		if (strcmp(base, fixed[i]) == 0)
			return *pads = 1;
	return 0;
}

/* Do the numbers of p fit numeric(prec, scale) without rounding? */
static int fits_numeric(const ferry_colprof *p, long prec, long scale)
{
	if (p->n_nonfinite || (p->n_real > p->n_dec && !p->want_digits))
		return 0;
	long hi = p->max_hi;
	for (int i = 0; i < 2 && p->n_int; i++) {
		/* The highest power of ten of a digit of the widest integer. */
		int64_t x = i ? p->int_max : p->int_min;
		uint64_t u = x < 0 ? 0 - (uint64_t)x : (uint64_t)x;
		long e = -1;
		for (; u; u /= 10)
			e++;
		if (e > hi)
			hi = e;
	}
	if (hi == -1000000 || hi < 0) /* only zeros */
		return 1;
	return (p->min_lo == 1000000 || p->min_lo >= -scale) && hi < prec - scale;
}

#define SAFE_INT 9007199254740992LL /* 2^53: every integer up to it is a double exactly */

/* Numbers only (integers, reals): the type for them nearest the declaration. */
static ferry_type for_numbers(const ferry_column *c, const ferry_colprof *p, const char *base,
                              int nm, const long mods[2], char *out, size_t cap,
                              const char **why)
{
	int reals = p->n_real > 0;
	if (p->n_dec > 0 && c->type != FERRY_NUMERIC) {
		/* Decimals of an engine that has them (a computed numeric): numeric, exactly. */
		*why = "holds decimals";
		snprintf(out, cap, "numeric");
		return FERRY_NUMERIC;
	}
	int exact_ints = p->n_int == 0 || (p->int_min >= -SAFE_INT && p->int_max <= SAFE_INT);
	int is_num = strcmp(base, "numeric") == 0 || strcmp(base, "decimal") == 0;
	if (c->type == FERRY_NUMERIC && is_num) {
		long prec = nm >= 1 ? mods[0] : 0, scale = nm == 2 ? mods[1] : 0;
		if (nm >= 1 && prec >= 1 && prec <= 1000 && scale <= prec && fits_numeric(p, prec, scale)) {
			snprintf(out, cap, "numeric(%ld,%ld)", prec, scale);
			return FERRY_NUMERIC;
		}
		if (nm >= 1)
			*why = "holds numbers past its precision or scale";
		snprintf(out, cap, "numeric");
		return FERRY_NUMERIC;
	}
	if (c->type == FERRY_BOOL && !reals && p->n_01 == p->n_int) {
		snprintf(out, cap, "boolean");
		return FERRY_BOOL;
	}
	if (!reals && (c->type == FERRY_INT || c->type != FERRY_FLOAT)) {
		if (c->type != FERRY_INT)
			*why = "holds only integers";
		/* INT4 and INT2 are what ferry declares in SQLite for PostgreSQL's integer and
		 * smallint (SQLite's INTEGER is 64-bit): they come back when the values fit. */
		int int4 = strcmp(base, "int4") == 0, int2 = strcmp(base, "int2") == 0;
		int64_t lim = int4 ? INT32_MAX : INT16_MAX;
		if ((int4 || int2) && p->int_min >= -lim - 1 && p->int_max <= lim) {
			snprintf(out, cap, "%s", int4 ? "integer" : "smallint");
			return FERRY_INT;
		}
		if (int4 || int2)
			*why = "holds integers past its range";
		snprintf(out, cap, "bigint");
		return FERRY_INT;
	}
	if (!exact_ints) {
		*why = "holds reals and integers past 2^53";
		snprintf(out, cap, "numeric");
		return FERRY_NUMERIC;
	}
	if (c->type != FERRY_FLOAT)
		*why = p->n_int ? "holds integers and reals" : "holds only reals";
	snprintf(out, cap, "double precision");
	return FERRY_FLOAT;
}

ferry_type ferry__coltype_choose(const ferry_column *c, const ferry_colprof *p, char *out,
                                 size_t cap, const char **why)
{
	char base[64];
	long mods[2] = {0, 0};
	int nm = split_decl(c->decl_type ? c->decl_type : "", base, sizeof(base), mods);
	if (nm < 0)
		nm = 0;
	*why = NULL;
	/* Values of one type a strictly typed engine gave (a computed date, a boolean): that. */
	static const ferry_type rich[] = {FERRY_BOOL, FERRY_DATE, FERRY_TIME, FERRY_TIMESTAMP,
	                                  FERRY_TIMESTAMPTZ, FERRY_UUID, FERRY_JSON};
	for (size_t i = 0; i < FERRY_ARRAY_LEN(rich); i++)
		if (p->kinds == 1u << rich[i] || p->kinds == ((1u << rich[i]) | 1u << FERRY_NULL)) {
			if (c->type != rich[i])
				*why = "holds only values of one type";
			snprintf(out, cap, "%s", ferry__coltype_default(rich[i]));
			return rich[i];
		}
	int64_t numbers = p->n_int + p->n_real, texts = p->n_text;
	int pads = 0;
	int chars = c->type == FERRY_TEXT && nm == 1 && char_name(base, &pads);
	if (numbers == 0 && texts == 0 && p->n_blob == 0) {
		/* No values: the declaration alone, a length and a precision kept. */
		if (chars) {
			snprintf(out, cap, "varchar(%ld)", mods[0]);
			*why = pads ? "is char(n), which pads its values" : NULL;
			return FERRY_TEXT;
		}
		if ((c->type == FERRY_NUMERIC && (strcmp(base, "numeric") == 0 || strcmp(base, "decimal") == 0)) ||
		    (c->type == FERRY_INT && (strcmp(base, "int4") == 0 || strcmp(base, "int2") == 0)))
			return for_numbers(c, p, base, nm, mods, out, cap, why);
		snprintf(out, cap, "%s", ferry__coltype_default(c->type));
		return c->type;
	}
	if (numbers == 0 && texts == p->n_bad) {
		/* Bytes only, or texts that are not UTF-8 with them: bytea keeps every byte. */
		if (c->type != FERRY_BLOB)
			*why = p->n_bad ? "holds only text that is not valid UTF-8" : "holds only bytes";
		snprintf(out, cap, "bytea");
		return FERRY_BLOB;
	}
	if (texts == 0)
		return for_numbers(c, p, base, nm, mods, out, cap, why);
	/* Texts. With numbers beside them only text holds both. */
	int64_t good = texts - p->n_bad;
	ferry_type t = FERRY_TEXT;
	if (numbers == 0) {
		if (chars && p->max_chars <= mods[0]) {
			snprintf(out, cap, "varchar(%ld)", mods[0]);
			*why = pads ? "is char(n), which pads its values" : NULL;
			return FERRY_TEXT;
		}
		if (chars)
			*why = "holds texts longer than its length";
		int stamp = c->type == FERRY_TIMESTAMP || c->type == FERRY_TIMESTAMPTZ;
		int64_t canon = c->type == FERRY_DATE ? p->n_date : c->type == FERRY_TIME ? p->n_time
		              : c->type == FERRY_TIMESTAMP ? p->n_ts : p->n_tstz;
		int when = stamp || c->type == FERRY_DATE || c->type == FERRY_TIME;
		if ((c->type == FERRY_DATE || stamp) && p->n_date == good)
			t = FERRY_DATE;
		else if (stamp && p->n_date > 0)
			*why = "holds dates beside timestamps (a date would gain a time of day)";
		else if (when && (p->decl_ok == 1 || (p->decl_ok < 0 && canon == good)))
			t = c->type;
		else if (c->type == FERRY_UUID && p->n_uuid == good)
			t = FERRY_UUID;
		else if (c->type == FERRY_JSON)
			t = FERRY_JSON; /* as declared: the target checks each document */
		if (t == FERRY_DATE && stamp)
			*why = "holds only dates";
		else if (t == FERRY_TEXT && c->type != FERRY_TEXT && !*why)
			*why = c->type == FERRY_DATE ? "not every value is a valid date"
			     : c->type == FERRY_TIME ? "not every value is a valid time"
			     : c->type == FERRY_TIMESTAMP ? "not every value is a valid timestamp"
			     : c->type == FERRY_TIMESTAMPTZ ? "not every value is a valid timestamptz"
			     : c->type == FERRY_UUID ? "not every value is a uuid as PostgreSQL writes it"
			     : "holds text";
	} else {
		*why = "holds text and numbers";
	}
	snprintf(out, cap, "%s", ferry__coltype_default(t));
	return t;
}
