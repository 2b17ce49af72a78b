/* canon.h — canonical cells for verification (DESIGN.md §7): a value is encoded by the type
 * of the column it lands in, so 1, 1.0 and '1' compare as the plan's types say, not as an
 * engine's affinity stores them. A row's encoding is its cells one after another; its hash
 * is xxh3-64 of those bytes. Nothing outside src/pipeline includes this. */
#ifndef FERRY_CANON_H
#define FERRY_CANON_H

#include "../ferry_int.h"

/* Cell tags: one byte, then a payload (fixed for INT, FLOAT, BOOL and UUID; a 4-byte
 * little-endian length and the bytes for the others). */
enum {
	CELL_NULL = 0,
	CELL_INT = 1,    /* 8 bytes, little-endian two's complement */
	CELL_FLOAT = 2,  /* 8 bytes of the IEEE double; every NaN the same bits; -0.0 kept */
	CELL_DEC = 3,    /* normalized decimal text: no leading or trailing zeros, no exponent */
	CELL_TEXT = 4,
	CELL_BYTES = 5,
	CELL_BOOL = 6,   /* 1 byte */
	CELL_DATE = 7,   /* YYYY-MM-DD[ BC] */
	CELL_TIME = 8,   /* HH:MM:SS[.f], trailing zeros of the fraction removed */
	CELL_TS = 9,     /* YYYY-MM-DD HH:MM:SS[.f][ BC] */
	CELL_TSTZ = 10,  /* the same in UTC, then "Z" */
	CELL_UUID = 11,  /* 16 bytes */
	CELL_JSON = 12,  /* compact, keys sorted */
	CELL_RAW = 13,   /* a value that does not read as the column's type: its type, its text */
	CELL_ANY = 14    /* expected side only: a value nothing in the plan decides (matches all) */
};

/* Append the canonical cell of v read as column type t. Returns 0 or FERRY_ENOMEM. */
int ferry__canon_cell(ferry_buf *out, ferry_type t, const ferry_value *v);
/* Flags of ferry__canon_cell_ex: how the target engine itself turns values into text. */
enum {
	CANON_SQLITE_TEXT = 1 /* SQLite: a float stored in a text column reads as "%!.15g" */
};
int ferry__canon_cell_ex(ferry_buf *out, ferry_type t, const ferry_value *v, unsigned flags);
int ferry__canon_any(ferry_buf *out);

/* The size of the cell at p (at most n bytes), or 0 when it is damaged. */
size_t ferry__cell_size(const uint8_t *p, size_t n);
/* 1 when two cells are equal (CELL_ANY equals everything). */
int ferry__cell_equal(const uint8_t *a, size_t an, const uint8_t *b, size_t bn);
/* Order of two cells of one column (for min and max merges): <0, 0, >0. */
int ferry__cell_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn);
/* a + b into out for sum merges; 0, or 1 when the two cannot be added (left as a). */
int ferry__cell_sum(ferry_buf *out, const uint8_t *a, size_t an, const uint8_t *b, size_t bn);
/* Render a cell as a JSON value for reports (long text and bytes shortened). */
int ferry__cell_json(ferry_buf *out, const uint8_t *p, size_t n);

/* Normalize decimal text (sign, digits, point, exponent; NaN, Infinity) into out: 0, or -1
 * when s is not a number. Exposed for tests. */
int ferry__dec_normalize(ferry_buf *out, const char *s, size_t n);

#endif
