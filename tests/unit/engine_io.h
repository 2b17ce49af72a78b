/* engine_io.h — reading through an engine in the unit tests of the engines (test_sqlite_engine,
 * test_pg_engine): a whole read spec, batch by batch, each row handed to a callback. */
#ifndef FERRY_TESTS_UNIT_ENGINE_IO_H
#define FERRY_TESTS_UNIT_ENGINE_IO_H

#include "ferry_int.h"

typedef void (*row_fn)(void *ud, const ferry_value *row, size_t ncols);

/* Read spec through engine e in batches of batch_rows; returns the engine's code. */
static inline int engine_read_all(const ferry_engine *e, ferry_conn *c, const ferry_read_spec *spec,
                                  size_t batch_rows, row_fn fn, void *ud, ferry_err *err)
{
	ferry_reader *r;
	int rc = e->read->reader_open(&r, c, spec, err);
	if (rc)
		return rc;
	ferry_batch *b = ferry__batch_new(spec->nexprs, batch_rows);
	int eof = 0;
	while (!eof && rc == 0) {
		ferry__batch_reset(b);
		rc = e->read->reader_next(r, b, &eof, err);
		for (size_t i = 0; rc == 0 && i < ferry_batch_nrows(b); i++)
			fn(ud, ferry_batch_crow(b, i), spec->nexprs);
	}
	ferry__batch_free(b);
	e->read->reader_close(r);
	return rc;
}

#endif
