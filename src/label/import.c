/* import.c — what the pipeline's two-step migration asks of a label's manifest: to record
 * where an export's rows came from and the order of its stages, and to give the write step
 * (ferry import, verify --label) its plan, built from the manifest, once the read step has
 * finished. The label engine (src/engines/label) keeps the rest of the manifest. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "label.h"

/* What the label's engine cannot know: where the rows came from (URLs without passwords)
 * and the order of the stages. Recorded after each read step. */
int ferry__label_describe(const ferry_ctx *ctx, const char *dir, const ferry_plan *plan, ferry_err *err)
{
	ferry_label_manifest *m = NULL;
	int rc = ferry__manifest_read(&m, dir, err);
	if (rc)
		return rc;
	for (size_t i = 0; rc == 0 && i < plan->nsources; i++) {
		int known = 0;
		for (size_t k = 0; k < m->nsources; k++)
			known |= strcmp(m->sources[k].name, plan->sources[i].name) == 0;
		if (known)
			continue;
		ferry_err e2 = {0};
		const ferry_engine *eng = ferry__engine_for(ctx, plan->sources[i].url, &e2);
		char *masked = ferry_url_mask(plan->sources[i].url);
		if (!masked || !ferry__manifest_add_source(m, plan->sources[i].name, eng ? eng->name : "unknown",
		                                          masked, NULL))
			rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
		free(masked);
	}
	for (size_t i = 0; rc == 0 && i < m->nstages; i++) {
		ferry_label_stage *ls = &m->stages[i];
		for (size_t k = 0; rc == 0 && k < plan->nstages; k++) {
			const ferry_plan_stage *ps = &plan->stages[k];
			if (strcmp(ps->name, ls->name) != 0 || ls->nafter)
				continue;
			for (size_t a = 0; rc == 0 && a < ps->nafter; a++)
				if (ferry__manifest_stage_add_after(ls, ps->after[a]) != 0)
					rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
		}
	}
	if (rc == 0)
		rc = ferry__manifest_write(m, dir, err);
	ferry__manifest_free(m);
	return rc;
}

static char *str_dup(const char *s, int *bad)
{
	char *d = s ? ferry__strdup(s) : NULL;
	if (s && !d)
		*bad = 1;
	return d;
}

/* The write step's plan: one source (the label), each job of the label a table entry named
 * after its folder and renamed to its target table, in its stage, with its merge rules; the
 * target, target schema and settings of the user's plan (or just target_url). */
static ferry_plan *plan_from_label(const ferry_label_manifest *m, const char *dir,
                                   const ferry_plan *user, const char *target_url)
{
	int bad = 0;
	ferry_plan *p = ferry__calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->path = user && user->path ? str_dup(user->path, &bad) : NULL;
	p->dir = user && user->dir ? str_dup(user->dir, &bad) : NULL;
	p->sources = ferry__calloc(1, sizeof(*p->sources));
	if (p->sources) {
		p->nsources = 1;
		p->sources[0].name = str_dup("label", &bad);
		p->sources[0].url = ferry__label_url(dir);
		bad |= !p->sources[0].url;
	}
	p->target = str_dup(user ? user->target : target_url, &bad);
	if (user && user->nschema) {
		p->schema_files = ferry__calloc(user->nschema, sizeof(char *));
		for (size_t i = 0; p->schema_files && i < user->nschema; i++)
			p->schema_files[p->nschema++] = str_dup(user->schema_files[i], &bad);
	}
	ferry__plan_settings_init(p, user);
	p->copy_others = 0; /* the label's tables are all there is */
	if (user && user->nverify) {
		p->verify = ferry__calloc(user->nverify, sizeof(*p->verify));
		for (size_t i = 0; p->verify && i < user->nverify; i++) {
			p->verify[i] = user->verify[i];
			p->verify[i].table = str_dup(user->verify[i].table, &bad);
			p->nverify++;
		}
		bad |= !p->verify;
	}
	p->stages = ferry__calloc(m->nstages + 1, sizeof(*p->stages));
	for (size_t i = 0; p->stages && i < m->nstages; i++) {
		ferry_plan_stage *s = &p->stages[p->nstages++];
		s->name = str_dup(m->stages[i].name, &bad);
		s->after = ferry__calloc(m->stages[i].nafter + 1, sizeof(char *));
		for (size_t k = 0; s->after && k < m->stages[i].nafter; k++)
			s->after[s->nafter++] = str_dup(m->stages[i].after[k], &bad);
		bad |= !s->after;
	}
	/* The user's plan may have stages the label does not hold yet (exported later): the run
	 * is the plan's, so it is not finished until they are imported too. */
	size_t nuser = user ? user->nstages : 0;
	if (p->stages && nuser) {
		ferry_plan_stage *more = ferry__realloc(p->stages, (m->nstages + nuser + 1) * sizeof(*p->stages));
		if (!more)
			bad = 1;
		else
			p->stages = more;
	}
	for (size_t i = 0; !bad && p->stages && i < nuser; i++) {
		const ferry_plan_stage *us = &user->stages[i];
		int held = 0;
		for (size_t k = 0; k < m->nstages && !held; k++)
			held = strcmp(m->stages[k].name, us->name) == 0;
		if (held)
			continue;
		ferry_plan_stage *s = &p->stages[p->nstages++];
		memset(s, 0, sizeof(*s));
		s->absent = 1;
		s->name = str_dup(us->name, &bad);
		s->after = ferry__calloc(us->nafter + 1, sizeof(char *));
		for (size_t k = 0; s->after && k < us->nafter; k++)
			s->after[s->nafter++] = str_dup(us->after[k], &bad);
		bad |= !s->after;
	}
	p->tables = ferry__calloc(m->ntables + 1, sizeof(*p->tables));
	for (size_t i = 0; p->tables && i < m->ntables; i++) {
		const ferry_label_table *lt = &m->tables[i];
		ferry_plan_table *t = &p->tables[p->ntables++];
		const char *slash = strrchr(lt->dir, '/');
		t->table = str_dup(slash ? slash + 1 : lt->dir, &bad);
		t->rename = str_dup(lt->name, &bad);
		t->stage = str_dup(lt->stage, &bad);
		t->origin = lt->source ? str_dup(lt->source, &bad) : NULL;
		t->cols = ferry__calloc(lt->nconflict + 1, sizeof(*t->cols));
		for (size_t k = 0; t->cols && k < lt->nconflict; k++) {
			ferry_plan_column *c = &t->cols[t->ncols++];
			c->name = str_dup(lt->conflict_cols[k], &bad);
			c->conflict = lt->conflict_rules[k];
		}
		bad |= !t->cols;
	}
	if (bad || !p->sources || !p->stages || !p->tables || (user && user->nschema && !p->schema_files)) {
		ferry_plan_free(p);
		return NULL;
	}
	/* One import of one label into one target is one run, wherever the label now lives and
	 * however the target is spelled. */
	char *canon = NULL;
	ferry_err ignore = {0};
	if (ferry__url_identity(&canon, NULL, p->target, &ignore) == FERRY_ENOMEM) {
		ferry_plan_free(p);
		return NULL;
	}
	char *id = ferry__sprintf("%s\n%s\n%s", m->label_id_hex, user ? user->run_digest : "",
	                          canon ? canon : p->target);
	char *old = ferry__sprintf("%s\n%s\n%s", m->label_id_hex, user ? user->legacy_digest : "",
	                           p->target);
	free(canon);
	if (!id || !old) {
		free(id);
		free(old);
		ferry_plan_free(p);
		return NULL;
	}
	ferry__hash128_hex(p->run_digest, id, strlen(id));
	ferry__hash128_hex(p->legacy_digest, old, strlen(old));
	free(id);
	free(old);
	return p;
}

/* Refuse a label whose read step did not finish, naming what is missing. */
static int check_complete(const ferry_label_manifest *m, const char *dir, const char *only_stage,
                          ferry_err *err)
{
	int found = only_stage == NULL;
	for (size_t i = 0; i < m->nstages; i++) {
		const ferry_label_stage *s = &m->stages[i];
		if (only_stage && strcmp(only_stage, s->name) != 0)
			continue;
		found = 1;
		if (s->complete)
			continue;
		ferry_buf b = FERRY_BUF_INIT;
		for (size_t k = 0; k < m->ntables; k++)
			if (strcmp(m->tables[k].stage, s->name) == 0 && !m->tables[k].complete)
				ferry_buf_printf(&b, "%s%s", b.len ? ", " : "", m->tables[k].name);
		int rc = ferry_err_set(err, FERRY_EUSAGE,
		              "label \"%s\": stage \"%s\" was not completely read (missing chunks of %s); run its export again to finish it",
		              dir, s->name, b.data ? b.data : "its tables");
		ferry_buf_free(&b);
		return rc;
	}
	if (!found)
		return ferry_err_set(err, FERRY_EUSAGE, "label \"%s\" holds no stage \"%s\"", dir, only_stage);
	if (m->nstages == 0)
		return ferry_err_set(err, FERRY_EUSAGE, "label \"%s\" holds no stage yet: run the export first", dir);
	/* Every folder and chunk file there, at the size the manifest recorded, before a row
	 * is loaded: a label missing a table would otherwise load the others and then fail,
	 * and the exit code for a refusal promises that nothing changed. The blocks' checksums
	 * are checked as they are read. */
	for (size_t k = 0; k < m->ntables; k++) {
		const ferry_label_table *t = &m->tables[k];
		if (only_stage && strcmp(only_stage, t->stage) != 0)
			continue;
		for (size_t c = 0; c < t->nchunks; c++) {
			const ferry_label_chunk *ch = &t->chunks[c];
			char *file = ferry__label_chunk_file(ch->chunk);
			char *path = file ? ferry__sprintf("%s/%s/%s", dir, t->dir, file) : NULL;
			free(file);
			if (!path)
				return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
			struct stat st;
			int rc = 0;
			if (stat(path, &st) != 0 || access(path, R_OK) != 0)
				rc = ferry_err_set(err, FERRY_ECORRUPT, "label \"%s\" is not whole: could not open chunk \"%s\" of table \"%s\": %s",
				                   dir, path, t->name, strerror(errno));
			else if (!S_ISREG(st.st_mode))
				rc = ferry_err_set(err, FERRY_ECORRUPT, "label \"%s\" is not whole: chunk \"%s\" of table \"%s\" is not a regular file",
				                   dir, path, t->name);
			else if (ch->written && (uint64_t)st.st_size != ch->info.bytes)
				rc = ferry_err_set(err, FERRY_ECORRUPT,
				                   "label \"%s\" is not whole: chunk \"%s\" of table \"%s\" holds %lld bytes, the manifest says %llu",
				                   dir, path, t->name, (long long)st.st_size, (unsigned long long)ch->info.bytes);
			free(path);
			if (rc)
				return rc;
		}
	}
	return 0;
}

int ferry__label_import_plan(ferry_plan **out, const char *dir, const char *only_stage,
                             const ferry_plan *user, const char *target_url, ferry_err *err)
{
	*out = NULL;
	ferry_label_manifest *m = NULL;
	int rc = ferry__manifest_read(&m, dir, err);
	if (rc)
		return rc;
	rc = check_complete(m, dir, only_stage, err);
	if (rc == 0 && !(*out = plan_from_label(m, dir, user, target_url)))
		rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	ferry__manifest_free(m);
	return rc;
}
