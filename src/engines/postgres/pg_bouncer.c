/* pg_bouncer.c — the cut-over's switch for applications that reach the database through
 * PgBouncer: PAUSE the database entry on PgBouncer's admin console (clients keep their
 * connections; new transactions wait), repoint the entry in pgbouncer.ini to the new
 * version, RELOAD, RESUME. Clients keep the address they have and find the new version.
 *
 *   pgbouncer://USER@HOST:PORT/ENTRY?config=/etc/pgbouncer/pgbouncer.ini
 *
 * The entry is rewritten as "ENTRY = host=H port=P dbname=D user=U" of the new version
 * (never a password: PgBouncer's auth_file or auth_query gives it). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "pg_int.h"

typedef struct bouncer {
	PGconn *admin;
	char *entry;               /* the database entry applications connect to */
	char *config;              /* pgbouncer.ini */
	char *where;               /* host:port, for messages */
	int paused;
} bouncer;

/* Split pgbouncer://USER@HOST:PORT/ENTRY?config=PATH into libpq keywords for the admin
 * console and the entry and config. */
static int parse(bouncer *b, const char *url, char **conninfo, ferry_err *err)
{
	const char *p = url + strlen("pgbouncer://");
	const char *at = strchr(p, '@'), *slash = strchr(p, '/'), *q = strchr(p, '?');
	if (!slash || !q || q < slash || strncmp(q, "?config=", 8) != 0 || q == slash + 1 || !q[8])
		return ferry_err_set(err, FERRY_EUSAGE,
		                     "--switch \"%s\": expected pgbouncer://USER@HOST:PORT/ENTRY?config=/path/to/pgbouncer.ini",
		                     url);
	const char *hp = at && at < slash ? at + 1 : p;
	char *user = at && at < slash ? ferry__strndup(p, (size_t)(at - p)) : ferry__strdup("pgbouncer");
	char *hostport = ferry__strndup(hp, (size_t)(slash - hp));
	b->entry = ferry__strndup(slash + 1, (size_t)(q - slash - 1));
	b->config = ferry__strdup(q + 8);
	b->where = hostport ? ferry__strdup(hostport) : NULL;
	char *colon = hostport ? strrchr(hostport, ':') : NULL;
	if (colon)
		*colon = '\0';
	*conninfo = user && hostport && b->entry && b->config && b->where
	                ? ferry__sprintf("host='%s' port='%s' user='%s' dbname=pgbouncer", hostport,
	                                 colon ? colon + 1 : "6432", user)
	                : NULL;
	free(user);
	free(hostport);
	if (!*conninfo)
		return OOM(err);
	if (strchr(b->entry, '\'') || strchr(b->entry, ' ') || strchr(b->entry, '='))
		return ferry_err_set(err, FERRY_EUSAGE, "--switch: the entry name \"%s\" is not a plain name", b->entry);
	return 0;
}

static void bouncer_close(void *h)
{
	bouncer *b = h;
	if (!b)
		return;
	if (b->admin) {
		if (b->paused)
			PQclear(PQexec(b->admin, "RESUME")); /* never leave applications waiting */
		PQfinish(b->admin);
	}
	free(b->entry);
	free(b->config);
	free(b->where);
	free(b);
}

static int admin(bouncer *b, const char *cmd, ferry_err *err)
{
	char sql[300];
	snprintf(sql, sizeof(sql), "%s %s", cmd, b->entry);
	if (strcmp(cmd, "RELOAD") == 0)
		snprintf(sql, sizeof(sql), "RELOAD");
	PGresult *res = PQexec(b->admin, sql);
	int ok = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;
	int rc = ok ? 0 : ferry_err_set(err, FERRY_ERROR, "could not %s on PgBouncer at %s: %s", sql, b->where,
	                                 PQerrorMessage(b->admin));
	PQclear(res);
	return rc;
}

static int bouncer_open(void **out, const char *url, ferry_err *err)
{
	*out = NULL;
	int rc = ferry_pg__pq_load(err);
	if (rc)
		return rc;
	bouncer *b = ferry__calloc(1, sizeof(*b));
	char *conninfo = NULL;
	rc = b ? parse(b, url, &conninfo, err) : OOM(err);
	if (rc == 0) {
		const char *kw[] = {"dbname", NULL}, *val[] = {conninfo, NULL};
		b->admin = PQconnectdbParams(kw, val, 1);
		if (!b->admin || PQstatus(b->admin) != CONNECTION_OK)
			rc = ferry_err_set(err, FERRY_ERROR, "could not connect to PgBouncer's admin console at %s: %s",
			                   b->where, b->admin ? PQerrorMessage(b->admin) : "out of memory");
	}
	if (rc == 0 && access(b->config, R_OK | W_OK) != 0)
		rc = ferry_err_set(err, FERRY_EUSAGE, "--switch: cannot rewrite PgBouncer's configuration \"%s\": %s",
		                   b->config, strerror(errno));
	free(conninfo);
	if (rc) {
		bouncer_close(b);
		return rc;
	}
	*out = b;
	return 0;
}

static int bouncer_pause(void *h, ferry_err *err)
{
	bouncer *b = h;
	int rc = admin(b, "PAUSE", err);
	b->paused = rc == 0;
	return rc;
}

/* "host=H port=P dbname=D user=U" of the new version, from its URL or conninfo. */
static char *entry_value(const char *target, ferry_err *err)
{
	char *msg = NULL;
	PQconninfoOption *opts = PQconninfoParse(target, &msg);
	if (!opts) {
		ferry_err_set(err, FERRY_EUSAGE, "--switch: cannot read the new version's address: %s",
		              msg ? msg : "out of memory");
		PQfreemem(msg);
		return NULL;
	}
	ferry_buf v = FERRY_BUF_INIT;
	static const char *const keep[] = {"host", "port", "dbname", "user"};
	for (PQconninfoOption *o = opts; o->keyword; o++)
		for (size_t k = 0; k < FERRY_ARRAY_LEN(keep); k++)
			if (strcmp(o->keyword, keep[k]) == 0 && o->val && *o->val)
				ferry_buf_printf(&v, "%s%s=%s", v.len ? " " : "", o->keyword, o->val);
	PQconninfoFree(opts);
	if (v.failed || !v.data) {
		ferry_buf_free(&v);
		ferry_err_set(err, FERRY_EUSAGE, "--switch: the new version's address names no host or database");
		return NULL;
	}
	return ferry_buf_detach(&v);
}

/* The config with ENTRY's line in [databases] replaced (or added), into out. */
static int rewrite(const bouncer *b, const char *text, const char *value, ferry_buf *out, ferry_err *err)
{
	int in_db = 0, done = 0;
	size_t elen = strlen(b->entry);
	for (const char *line = text; *line;) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) + 1 : strlen(line);
		const char *p = line;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '[') {
			if (in_db && !done) { /* the section ends without the entry: add it */
				ferry_buf_printf(out, "%s = %s\n", b->entry, value);
				done = 1;
			}
			in_db = strncmp(p, "[databases]", 11) == 0;
		}
		const char *after = p + elen;
		while (*after == ' ' || *after == '\t')
			after++;
		if (in_db && !done && strncmp(p, b->entry, elen) == 0 && *after == '=') {
			ferry_buf_printf(out, "%s = %s\n", b->entry, value);
			done = 1;
		} else {
			ferry_buf_add(out, line, len);
		}
		line += len;
	}
	if (in_db && !done) {
		ferry_buf_printf(out, "%s%s = %s\n", out->len && out->data[out->len - 1] != '\n' ? "\n" : "",
		                 b->entry, value);
		done = 1;
	}
	if (!done)
		return ferry_err_set(err, FERRY_EUSAGE, "--switch: \"%s\" has no [databases] section", b->config);
	return out->failed ? OOM(err) : 0;
}

static int bouncer_repoint(void *h, const char *target, ferry_err *err)
{
	bouncer *b = h;
	char *value = entry_value(target, err);
	if (!value)
		return err->code;
	char *text = NULL;
	int rc = ferry__read_file(&text, NULL, b->config, 16u << 20, err);
	ferry_buf out = FERRY_BUF_INIT;
	if (rc == 0)
		rc = rewrite(b, text, value, &out, err);
	char *tmp = rc == 0 ? ferry__sprintf("%s.ferry-tmp", b->config) : NULL;
	if (rc == 0 && !tmp)
		rc = OOM(err);
	if (rc == 0) {
		struct stat st;
		mode_t mode = stat(b->config, &st) == 0 ? st.st_mode & 0777 : 0600;
		int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, mode);
		int ok = fd >= 0 && write(fd, out.data, out.len) == (ssize_t)out.len && fsync(fd) == 0;
		if (fd >= 0 && close(fd) != 0)
			ok = 0;
		if (!ok || rename(tmp, b->config) != 0) {
			rc = ferry_err_set(err, FERRY_ERROR, "could not rewrite PgBouncer's configuration \"%s\": %s",
			                   b->config, strerror(errno));
			unlink(tmp);
		}
	}
	if (rc == 0)
		rc = admin(b, "RELOAD", err);
	free(tmp);
	free(text);
	free(value);
	ferry_buf_free(&out);
	return rc;
}

static int bouncer_resume(void *h, ferry_err *err)
{
	bouncer *b = h;
	int rc = admin(b, "RESUME", err);
	if (rc == 0)
		b->paused = 0;
	return rc;
}

const ferry_engine_switch ferry__pg_bouncer = {
	.scheme = "pgbouncer",
	.open = bouncer_open,
	.pause = bouncer_pause,
	.repoint = bouncer_repoint,
	.resume = bouncer_resume,
	.close = bouncer_close,
};
