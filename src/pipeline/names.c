/* names.c — names longer than the target engine keeps (PostgreSQL: 63 bytes). A table or
 * column ferry creates under such a name gets a short form (a prefix and a hash of the whole
 * name), the same in every run, so copy, verify, sync and import all find the same table and
 * columns; every shortening is a note. Names a target schema creates are the user's own. */
#include <stdlib.h>
#include <string.h>
#include "pipeline.h"

const char *ferry__jobs_short(jobset *js, const char *name, const char *what, const char *of)
{
	if (!name || js->ident_max == 0 || strlen(name) <= js->ident_max)
		return name;
	/* Remembered by (table, name): one note per table that has the name. */
	char *key = ferry__sprintf("%s\x1f%s", of ? of : "", name);
	if (!key)
		return NULL;
	for (size_t i = 0; i + 1 < js->nlongs; i += 2)
		if (strcmp(js->longs[i], key) == 0) {
			free(key);
			return js->longs[i + 1];
		}
	char buf[256];
	char *b = NULL;
	if (js->ident_max < sizeof(buf) && ferry__ident_short(buf, sizeof(buf), name, js->ident_max) >= 0)
		b = ferry__strdup(buf);
	if (!b || ferry__grow(&js->longs, &js->longs_cap, js->nlongs + 2, sizeof(char *)) != 0) {
		free(key);
		free(b);
		return NULL;
	}
	js->longs[js->nlongs++] = key;
	js->longs[js->nlongs++] = b;
	if (ferry__note(&js->notes, &js->nnotes, &js->notes_cap,
	                "%s \"%s\"%s%s%s is longer than the target's %zu bytes: it is named \"%s\" there",
	                what, name, of ? " of \"" : "", of ? of : "", of ? "\"" : "", js->ident_max, b) != 0)
		return NULL;
	return b;
}

int ferry__jobs_src_column(jobset *js, const ferry_table *st, const char *tname)
{
	int sc = ferry_table_column(st, tname);
	if (sc >= 0 || js->ident_max == 0 || strlen(tname) != js->ident_max)
		return sc;
	char buf[256];
	for (size_t i = 0; i < st->ncols && js->ident_max < sizeof(buf); i++)
		if (strlen(st->cols[i].name) > js->ident_max &&
		    ferry__ident_short(buf, sizeof(buf), st->cols[i].name, js->ident_max) == 1 &&
		    strcmp(buf, tname) == 0)
			return (int)i;
	return -1;
}
