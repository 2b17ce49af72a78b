/* infer.c — the types of a table ferry creates in another engine, from the values as well as
 * the declaration: one pass over the source's snapshot profiles the columns SQLite's loose
 * typing leaves open and every computed column, and coltypes.c picks for each the narrowest
 * type that holds every value exactly (docs/ENGINES.md, "Types from the values"). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "pipeline.h"

/* The rule of entry e for target column tcol (not a drop), or NULL. */
static const ferry_plan_column *rule_of(const ferry_plan_table *e, const char *tcol)
{
	for (size_t i = 0; e && i < e->ncols; i++)
		if (!e->cols[i].drop && strcmp(e->cols[i].name, tcol) == 0)
			return &e->cols[i];
	return NULL;
}

static int set_decl(ferry_column *d, const char *decl, ferry_type t)
{
	char *s = ferry__strdup(decl);
	if (!s)
		return -1;
	free(d->decl_type);
	d->decl_type = s;
	d->type = t;
	d->chosen = 1;
	return 0;
}

/* The source column target column tcol carries unchanged (renamed by from: or not), or -1. */
static int sci_of(const ferry_table *st, const char *tcol, const ferry_plan_column *pc)
{
	if (pc && pc->expr)
		return -1;
	return ferry_table_column(st, pc && pc->from ? pc->from : tcol);
}

/* PostgreSQL's names of text-read types that its engine declares again on the way back
 * (pg_schema.c, pg_decl_kept): SQLite keeps them as declared. */
static int kept_name(const char *decl)
{
	static const char *const names[] = {
		"interval", "timetz", "time with time zone", "inet", "cidr", "macaddr", "macaddr8",
		"xml", "money", "tsvector", "bit", "bit varying", "varbit"};
	size_t n = strcspn(decl, "(");
	while (n && decl[n - 1] == ' ')
		n--;
	for (size_t i = 0; i < FERRY_ARRAY_LEN(names); i++)
		if (strlen(names[i]) == n && strncasecmp(decl, names[i], n) == 0)
			return 1;
	return n > 2 && decl[strlen(decl) - 1] == ']';
}

/* A strictly typed engine's column c (carried as d) in SQLite: an identity key becomes the
 * rowid alias (INTEGER PRIMARY KEY, so an INSERT without it numbers the row), integer and
 * smallint INT4 and INT2 (SQLite's INTEGER is 64-bit; the names bring them back), a numeric(p,s)
 * of at most 15 digits NUMERIC(p,s) (every such decimal is a REAL exactly, and sorts as a
 * number, where NUMERIC_TEXT sorts as text), and a type read as text whose name SQLite would
 * give numeric affinity (an enum, a range) TEXT, so no label turns into a number. */
static int declare_for_affinity(ferry_column *d, const ferry_table *st, const ferry_column *c)
{
	const char *decl = c->decl_type ? c->decl_type : "";
	if (c->type == FERRY_INT && st->npk == 1 && c->pk_pos == 1 && c->default_sql &&
	    strncmp(c->default_sql, "nextval(", 8) == 0)
		return set_decl(d, "INTEGER", FERRY_INT);
	char buf[64];
	ferry_type t;
	if (c->type == FERRY_INT && ferry__coltype_parse(decl, buf, sizeof(buf), &t) == 0 &&
	    (strcmp(buf, "integer") == 0 || strcmp(buf, "smallint") == 0))
		return set_decl(d, buf[0] == 'i' ? "INT4" : "INT2", FERRY_INT);
	if (c->type == FERRY_NUMERIC && ferry__coltype_parse(decl, buf, sizeof(buf), &t) == 0 &&
	    t == FERRY_NUMERIC && strchr(buf, '(')) {
		long prec = strtol(strchr(buf, '(') + 1, NULL, 10);
		if (prec <= 15) {
			char up[64];
			snprintf(up, sizeof(up), "NUMERIC%s", strchr(buf, '('));
			return set_decl(d, up, FERRY_NUMERIC);
		}
	}
	if (c->type == FERRY_TEXT && ferry__type_from_decl(decl) != FERRY_TEXT && !kept_name(decl))
		return set_decl(d, "TEXT", FERRY_TEXT);
	return 0;
}

/* For a date or time column of a source that can say so (probe_type), whether every text
 * reads as the declared type in any of the spellings the target takes without changing the
 * moment ('T' between date and time, a zone); p->decl_ok stays -1 otherwise. */
static int probe_declared(const ferry_source_conn *sc, const ferry_table *st,
                          const ferry_column *c, ferry_colprof *p, ferry_err *err)
{
	int64_t good = p->n_text - p->n_bad;
	int64_t canon = c->type == FERRY_DATE ? p->n_date : c->type == FERRY_TIME ? p->n_time
	              : c->type == FERRY_TIMESTAMP ? p->n_ts : p->n_tstz;
	/* Not asked when the values decide alone: all in PostgreSQL's form, or dates among them. */
	if (!sc->eng->types || good == 0 || canon == good || p->n_int + p->n_real > 0 ||
	    (c->type != FERRY_DATE && c->type != FERRY_TIME && p->n_date > 0) ||
	    !(c->type == FERRY_DATE || c->type == FERRY_TIME || c->type == FERRY_TIMESTAMP ||
	      c->type == FERRY_TIMESTAMPTZ))
		return 0;
	int all = 0;
	int rc = sc->eng->types->probe_type(sc->conn, st->name, c->name, c->type, &all, err);
	if (rc == 0)
		p->decl_ok = all;
	return rc;
}

/* Does column `col` of st take part in a foreign key: its own, or one of another table of
 * schema s that references it (by name, or as st's primary key)? */
static int in_fkey(const ferry_schema *s, const ferry_table *st, const char *col)
{
	for (size_t f = 0; f < st->nfks; f++)
		for (size_t k = 0; k < st->fks[f].ncols; k++)
			if (strcmp(st->fks[f].cols[k], col) == 0)
				return 1;
	int ci = ferry_table_column(st, col);
	for (size_t t = 0; s && t < ferry_schema_count(s); t++) {
		const ferry_table *o = ferry_schema_table(s, t);
		for (size_t f = 0; f < o->nfks; f++) {
			if (strcmp(o->fks[f].ref_table, st->name) != 0)
				continue;
			for (size_t k = 0; k < o->fks[f].ncols; k++) {
				const char *r = o->fks[f].ref_cols[k];
				if (r ? strcmp(r, col) == 0 : ci >= 0 && st->cols[ci].pk_pos == (int)k + 1)
					return 1;
			}
		}
	}
	return 0;
}

/* What profiles target column d: a plan expression, a source column (its index in st) or
 * neither (a default only, or nothing). */
typedef struct supply {
	char *expr;       /* the select-list expression read, or NULL */
	int scol;         /* the source column, or -1 */
	int computed;     /* expr is the plan's */
	int digits;       /* a numeric(p,s): the reals' digits are wanted */
} supply;

/* Profile the rows spec reads into prof (one per expression). */
static int read_spec(const ferry_source_conn *sc, const ferry_read_spec *spec,
                     ferry_colprof *prof, ferry_err *err)
{
	size_t n = spec->nexprs;
	ferry_reader *r = NULL;
	int rc = sc->eng->read->reader_open(&r, sc->conn, spec, err);
	if (rc)
		return rc;
	ferry_batch *b = ferry__batch_new(n, 1024);
	if (!b) {
		sc->eng->read->reader_close(r);
		return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	}
	for (int eof = 0; rc == 0 && !eof;) {
		ferry__batch_reset(b);
		rc = sc->eng->read->reader_next(r, b, &eof, err);
		for (size_t row = 0; rc == 0 && row < ferry_batch_nrows(b); row++) {
			const ferry_value *v = ferry_batch_crow(b, row);
			for (size_t c = 0; c < n; c++)
				ferry__colprof_add(&prof[c], &v[c]);
		}
	}
	ferry__batch_free(b);
	sc->eng->read->reader_close(r);
	return rc;
}

typedef struct chunk_read {
	const ferry_source_conn *sc;
	ferry_read_spec spec;
	ferry_colprof *prof;
	ferry_err *err;
} chunk_read;

static int read_chunk(void *ud, const ferry_chunk_rec *rec)
{
	chunk_read *cr = ud;
	ferry_value lo[1], hi[1];
	if ((rec->lo && ferry_value_decode_row(lo, 1, rec->lo, rec->lo_len) != 1) ||
	    (rec->hi && ferry_value_decode_row(hi, 1, rec->hi, rec->hi_len) != 1))
		return ferry_err_set(cr->err, FERRY_ECORRUPT, "a chunk of table \"%s\" has bad bounds",
		                     cr->spec.table);
	cr->spec.lo = rec->lo ? lo : NULL;
	cr->spec.hi = rec->hi ? hi : NULL;
	return read_spec(cr->sc, &cr->spec, cr->prof, cr->err);
}

/* Profile the n expressions over table st (the rows entry e keeps) into prof: one read, or
 * chunk by chunk where the engine reads that way (a label). */
static int read_profiles(const ferry_source_conn *sc, const ferry_table *st,
                         const ferry_plan_table *e, char **exprs, size_t n,
                         ferry_colprof *prof, ferry_err *err)
{
	ferry_read_spec spec = {
		.table = st->name,
		.nexprs = n,
		.exprs = (const char *const *)exprs,
		.filter = e ? e->where : NULL,
	};
	if (!(sc->eng->flags & FERRY_ENGINE_CHUNKED_READ))
		return read_spec(sc, &spec, prof, err);
	chunk_read cr = {sc, spec, prof, err};
	return sc->eng->read->plan_chunks(sc->conn, st->name, 0, NULL, INT64_MAX, NULL, read_chunk, &cr, err);
}

int ferry__infer_types(jobset *js, ferry_table *t, const ferry_table *st,
                       const ferry_plan_table *e, const ferry_source_conn *sc, int profile,
                       int cross, int loose, int *null_key, ferry_err *err)
{
	*null_key = 0;
	int affinity = (js->tflags & FERRY_ENGINE_NUMERIC_AFFINITY) != 0;
	supply *sup = ferry__calloc(t->ncols + 1, sizeof(*sup));
	char **exprs = ferry__calloc(t->ncols + 1, sizeof(char *));
	ferry_colprof *prof = ferry__calloc(t->ncols + 1, sizeof(*prof));
	size_t *slot = ferry__calloc(t->ncols + 1, sizeof(size_t));
	size_t n = 0;
	int rc = 0;
	if (!sup || !exprs || !prof || !slot) {
		rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < t->ncols && rc == 0; i++) {
		ferry_column *d = &t->cols[i];
		const ferry_plan_column *pc = rule_of(e, d->name);
		sup[i].scol = -1;
		if (d->generated)
			continue;
		if (pc && pc->type) {
			/* The plan says it. SQLite knows bytes as BLOB. */
			const char *ty = affinity && strcmp(pc->type, "bytea") == 0 ? "BLOB" : pc->type;
			char buf[64];
			ferry_type tt = FERRY_TEXT;
			if (ferry__coltype_parse(pc->type, buf, sizeof(buf), &tt) != 0 || set_decl(d, ty, tt) != 0)
				rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
			d->chosen = 2;
			continue;
		}
		if (affinity && cross && !loose && sci_of(st, d->name, pc) >= 0) {
			if (declare_for_affinity(d, st, &st->cols[sci_of(st, d->name, pc)]) != 0)
				rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
			continue;
		}
		const char *from = pc && pc->from ? pc->from : pc && pc->expr ? NULL : d->name;
		int sci = from ? ferry_table_column(st, from) : -1;
		/* In its own engine a source column keeps its type: only the plan's columns need one. */
		if (!profile || (!cross && !(pc && pc->expr) && !(sci < 0 && pc && (pc->def || pc->def_null))))
			continue;
		if (pc && pc->expr) {
			sup[i].expr = ferry__sprintf("(%s)", pc->expr);
			sup[i].computed = 1;
		} else if (sci >= 0 && loose) {
			const ferry_column *c = &st->cols[sci];
			int rowid = st->npk == 1 && c->pk_pos == 1 && c->type == FERRY_INT &&
			            strcasecmp(c->decl_type, "INTEGER") == 0;
			/* A rowid alias holds integers only; STRICT enforces all but ANY; ferry's exact
			 * types are another engine's floats and decimals, declared again as they were. */
			if (rowid || (st->strict && c->type != FERRY_BLOB) ||
			    ferry__exact_kind(c->decl_type, NULL) != FERRY_EXACT_NONE)
				continue;
			sup[i].expr = ferry__qident(sc->eng, from);
			sup[i].scol = sci;
			sup[i].digits = c->type == FERRY_NUMERIC && strchr(c->decl_type, '(') != NULL;
		} else if (sci < 0 && pc && (pc->def || pc->def_null)) {
			/* A default only: the type of that one value. */
			ferry_value v;
			if (ferry__jobs_default_value(&v, pc) != 0) {
				rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
				continue;
			}
			ferry__colprof_init(&prof[t->ncols]);
			ferry__colprof_add(&prof[t->ncols], &v);
			if (v.type == FERRY_TEXT)
				free((void *)v.v.s);
			char buf[64];
			const char *why;
			ferry_type tt = ferry__coltype_choose(d, &prof[t->ncols], buf, sizeof(buf), &why);
			if (v.type == FERRY_NULL) { /* no value says a type: text holds any a user adds */
				snprintf(buf, sizeof(buf), "text");
				tt = FERRY_TEXT;
			}
			if ((set_decl(d, buf, tt) != 0 ||
			    ferry__note(&js->notes, &js->nnotes, &js->notes_cap,
			                "column \"%s\" of \"%s\" takes only the plan's default: created as %s",
			                d->name, t->name, buf) != 0))
				rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
			continue;
		} else {
			continue;
		}
		if (!sup[i].expr) {
			rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
			break;
		}
		ferry__colprof_init(&prof[n]);
		prof[n].want_digits = sup[i].digits;
		exprs[n] = sup[i].expr;
		slot[i] = n++;
	}
	int read = n > 0;
	if (rc == 0 && read && (rc = read_profiles(sc, st, e, exprs, n, prof, err)) != 0 &&
	    rc != FERRY_ENOMEM) {
		/* An expression the source cannot run: the plan's probe names its place
		 * (probe.c); meanwhile the declarations stand. */
		err->code = 0;
		err->msg[0] = '\0';
		rc = 0;
		read = 0;
	}
	for (size_t i = 0; rc == 0 && read && i < t->ncols; i++) {
		ferry_column *d = &t->cols[i];
		if (!sup[i].expr)
			continue;
		ferry_colprof *p = &prof[slot[i]];
		if (sup[i].scol >= 0 && (rc = probe_declared(sc, st, &st->cols[sup[i].scol], p, err)) != 0)
			break;
		if (sup[i].scol >= 0 && st->cols[sup[i].scol].pk_pos > 0 && p->n_null > 0)
			*null_key = 1;
		char buf[64];
		const char *why;
		ferry_column decl = *d;
		if (sup[i].computed) {
			decl.decl_type = "";
			decl.type = FERRY_BLOB;
		} else {
			decl.decl_type = st->cols[sup[i].scol].decl_type;
			decl.type = st->cols[sup[i].scol].type;
		}
		ferry_type tt = ferry__coltype_choose(&decl, p, buf, sizeof(buf), &why);
		if (!sup[i].computed && tt != decl.type && in_fkey(sc->schema, st, st->cols[sup[i].scol].name)) {
			/* Both ends of a foreign key must stay comparable (bigint with text is not), so
			 * a key column keeps its declared kind; values it cannot hold are rejected. */
			if (ferry__note(&js->notes, &js->nnotes, &js->notes_cap,
			                "column \"%s\" of \"%s\" is declared %s but %s; it is part of a foreign key, so it is created as %s (a value that does not fit is rejected)",
			                st->cols[sup[i].scol].name, st->name, *decl.decl_type ? decl.decl_type : "without a type",
			                why ? why : "holds other values", ferry__coltype_default(decl.type)) != 0) {
				rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
				break;
			}
			if (set_decl(d, ferry__coltype_default(decl.type), decl.type) != 0)
				rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
			continue;
		}
		if (sup[i].computed && p->n_int + p->n_real + p->n_text + p->n_blob == 0) {
			snprintf(buf, sizeof(buf), "text"); /* only NULLs (or no row): text holds any */
			tt = FERRY_TEXT;
		}
		if (set_decl(d, buf, tt) != 0) {
			rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
			break;
		}
		int noted = 0;
		if (sup[i].computed)
			noted = ferry__note(&js->notes, &js->nnotes, &js->notes_cap,
			                    "column \"%s\" of \"%s\" is computed by the plan: created as %s",
			                    d->name, t->name, buf);
		else if (why)
			noted = ferry__note(&js->notes, &js->nnotes, &js->notes_cap,
			                    "column \"%s\" of \"%s\" is %s%s but %s: created as %s in \"%s\"",
			                    st->cols[sup[i].scol].name, st->name,
			                    *decl.decl_type ? "declared " : "declared without a type",
			                    decl.decl_type, why, buf, t->name);
		if (noted == 0 && p->n_blob && (p->n_int || p->n_real || p->n_text))
			noted = ferry__note(&js->notes, &js->nnotes, &js->notes_cap,
			                    "column \"%s\" of \"%s\" holds %lld values of bytes beside other values: they are rejected as not fitting %s (a rule carries them: type: bytea)",
			                    d->name, t->name, (long long)p->n_blob, buf);
		if (noted == 0 && p->n_bad && tt != FERRY_BLOB)
			noted = ferry__note(&js->notes, &js->nnotes, &js->notes_cap,
			                    "column \"%s\" of \"%s\" holds %lld texts that are not valid UTF-8: they are rejected (a rule carries them as bytes: type: bytea)",
			                    d->name, t->name, (long long)p->n_bad);
		if (noted != 0)
			rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	}
out:
	for (size_t i = 0; sup && i < t->ncols; i++)
		free(sup[i].expr);
	free(sup);
	free(exprs);
	free(prof);
	free(slot);
	return rc;
}

int ferry__infer_null_key(jobset *js, ferry_table *t, const ferry_table *st)
{
	char name[300];
	snprintf(name, sizeof(name), "%s_key", t->name);
	ferry_index *x = ferry_table_add_index(js->created, t, name, t->npk);
	if (!x)
		return -1;
	x->unique = 1;
	ferry_buf cols = FERRY_BUF_INIT;
	for (size_t k = 0; k < t->npk; k++) {
		ferry_column *c = &t->cols[t->pk[k]];
		if (!(x->cols[k] = ferry__strdup(c->name)))
			cols.failed = 1;
		ferry_buf_printf(&cols, "%s\"%s\"", k ? ", " : "", c->name);
		c->pk_pos = 0;
		c->notnull = 0;
	}
	int rc = cols.failed ? -1 : ferry_table_set_pk(js->created, t, NULL, 0) != 0 ? -1 : 0;
	if (rc == 0)
		rc = ferry__note(&js->notes, &js->nnotes, &js->notes_cap,
		                 "table \"%s\" holds NULL in its primary key (%s), which SQLite allows: \"%s\" is created with a unique index \"%s\" on those columns instead of a primary key",
		                 st->name, cols.data, t->name, name);
	ferry_buf_free(&cols);
	return rc;
}
