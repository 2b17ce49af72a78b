/* later.c — the rows a plan's `later:` delays (docs/LATER.md): counted after a copy, carried
 * by ferry_backfill while the new version is live, and loaded on demand by ferry_fetch. The
 * backfill is the ordinary pipeline under a run of its own; the fetch reads the named keys
 * through the same jobs. Both write a row only where its key is absent. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "../verify/verify.h"
#include "sched.h"
#include "state.h"

/* One count(*) of job j's rows that wait, in its source, on connection c. */
static int count_waiting(const ferry_engine *e, ferry_conn *c, const job *j, int64_t *out,
                         ferry_err *err)
{
	char *filter = NULL;
	if (ferry__jobs_later_filter(&filter, FERRY_LATER_ONLY, j->entry) != 0)
		return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	static const char *const cnt[] = {"count(*)"};
	ferry_read_spec spec;
	memset(&spec, 0, sizeof(spec));
	spec.table = j->src_table;
	spec.nexprs = 1;
	spec.exprs = cnt;
	spec.filter = filter;
	ferry_reader *r = NULL;
	int rc = e->read->reader_open(&r, c, &spec, err);
	ferry_batch *b = rc ? NULL : ferry__batch_new(1, 4);
	if (rc == 0 && !b)
		rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	int eof = 0;
	*out = 0;
	while (rc == 0 && !eof) {
		ferry__batch_reset(b);
		rc = e->read->reader_next(r, b, &eof, err);
		if (rc == 0 && ferry_batch_nrows(b) > 0)
			*out = ferry_batch_crow(b, 0)[0].v.i;
	}
	if (r)
		e->read->reader_close(r);
	ferry__batch_free(b);
	free(filter);
	return rc;
}

int ferry__later_count(copy_state *cs)
{
	if (cs->plan->later_mode != FERRY_LATER_NOW)
		return 0;
	for (size_t i = 0; i < cs->js.njobs; i++) {
		job *j = &cs->js.jobs[i];
		if (!j->later || (cs->opts->stage && strcmp(cs->opts->stage, j->stage) != 0))
			continue;
		const ferry_source_conn *s = &cs->sources[j->src];
		int rc = count_waiting(s->eng, s->conn, j, &j->rows_waiting, &cs->err);
		if (rc)
			return rc;
	}
	return 0;
}
