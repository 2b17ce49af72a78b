/* sqlite_migrate.c — what the SQLite engine gives versioned migrations: statements with $n
 * parameters, the migration lock (a file beside the database, held with flock, naming its
 * holder), scripts split into statements the way SQLite itself reads them, and the few
 * statements SQLite refuses or ignores inside a transaction. */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/file.h>
#include "sqlite_int.h"

#define OOM(err) ferry_err_set((err), FERRY_ENOMEM, "out of memory")

struct sq_migrate {
	int lock_fd;         /* the lock file, flocked; -1 when not held */
};

void ferry_sqlite__migrate_free(sq_conn *c)
{
	if (!c->mig)
		return;
	if (c->mig->lock_fd >= 0)
		close(c->mig->lock_fd); /* closing the descriptor drops the flock */
	free(c->mig);
	c->mig = NULL;
}

/* ---- exec_params ------------------------------------------------------------------- */

int ferry_sqlite__exec_params(ferry_conn *conn, const char *sql, size_t nparams,
                              const ferry_value *params, int64_t *changed, ferry_err *err)
{
	sq_conn *c = SQ(conn);
	if (changed)
		*changed = 0;
	sqlite3_stmt *st;
	const char *tail = NULL;
	int rc = sqlite3_prepare_v2(c->db, sql, -1, &st, &tail);
	if (rc != SQLITE_OK)
		return ferry_sqlite__fail(c, rc, err, "could not prepare a statement on \"%s\"", c->path);
	while (tail && (*tail == ' ' || *tail == '\n' || *tail == '\t' || *tail == '\r' || *tail == ';'))
		tail++;
	if (!st || (tail && *tail)) {
		sqlite3_finalize(st);
		return ferry_err_set(err, FERRY_EUSAGE, "exec_params takes one statement, not \"%.60s\"",
		                     sql);
	}
	if ((size_t)sqlite3_bind_parameter_count(st) != nparams) {
		sqlite3_finalize(st);
		return ferry_err_set(err, FERRY_EUSAGE, "statement \"%.60s\" has %d parameters, %zu given",
		                     sql, sqlite3_bind_parameter_count(st), nparams);
	}
	for (size_t i = 0; i < nparams; i++) {
		char name[24];
		snprintf(name, sizeof(name), "$%zu", i + 1);
		int idx = sqlite3_bind_parameter_index(st, name);
		if (idx == 0) {
			sqlite3_finalize(st);
			return ferry_err_set(err, FERRY_EUSAGE, "statement \"%.60s\" has no parameter %s",
			                     sql, name);
		}
		if ((rc = ferry_sqlite__bind(st, idx, &params[i], 0)) != SQLITE_OK) {
			sqlite3_finalize(st);
			return ferry_sqlite__fail(c, rc, err, "could not bind %s on \"%s\"", name, c->path);
		}
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		;
	if (rc != SQLITE_DONE) {
		ferry_sqlite__fail(c, rc, err, "could not run \"%.48s\" on \"%s\"", sql, c->path);
		sqlite3_finalize(st);
		return err->code;
	}
	if (changed)
		*changed = sqlite3_changes64(c->db);
	sqlite3_finalize(st);
	return 0;
}

/* ---- the migration lock ------------------------------------------------------------ */

/* The user this process runs as, for the holder line. */
static void user_name(char *out, size_t cap)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	if (getpwuid_r(geteuid(), &pw, buf, sizeof(buf), &res) == 0 && res && res->pw_name &&
	    res->pw_name[0])
		snprintf(out, cap, "%s", res->pw_name);
	else
		snprintf(out, cap, "uid %ld", (long)geteuid());
}

/* Keep printable bytes of a holder line read from the lock file (it is untrusted). */
static void clean_line(char *s)
{
	char *w = s;
	for (char *p = s; *p && *p != '\n'; p++)
		if ((unsigned char)*p >= 0x20 && *p != 0x7f)
			*w++ = *p;
	*w = '\0';
}

int ferry_sqlite__lock_try(ferry_conn *conn, int *got, char *holder, size_t cap, ferry_err *err)
{
	sq_conn *c = SQ(conn);
	*got = 0;
	if (holder && cap)
		holder[0] = '\0';
	/* An in-memory database belongs to this connection alone. */
	if (c->memory || (c->mig && c->mig->lock_fd >= 0)) {
		*got = 1;
		return 0;
	}
	if (!c->mig) {
		if (!(c->mig = ferry__calloc(1, sizeof(*c->mig))))
			return OOM(err);
		c->mig->lock_fd = -1;
	}
	char *path = ferry__sprintf("%s.ferry-lock", c->path);
	if (!path)
		return OOM(err);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		int e = errno;
		ferry_err_set(err, FERRY_ERROR, "could not open the migration lock file \"%s\": %s", path,
		              strerror(e));
		free(path);
		return FERRY_ERROR;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
		char host[256] = "?", user[256], since[32], line[700];
		if (gethostname(host, sizeof(host)) != 0)
			snprintf(host, sizeof(host), "?");
		host[sizeof(host) - 1] = '\0';
		user_name(user, sizeof(user));
		ferry__utc_iso(since);
		int n = snprintf(line, sizeof(line), "pid %ld on %s, user %s, since %s\n", (long)getpid(),
		                 host, user, since);
		/* Who holds it is advice for people waiting; a failed write does not undo the lock
		 * (a waiter then says "another process"). */
		if (ftruncate(fd, 0) == 0 && pwrite(fd, line, (size_t)n, 0) != n) {
			if (ftruncate(fd, 0) != 0) {
				/* nothing more to try */
			}
		}
		c->mig->lock_fd = fd;
		*got = 1;
		free(path);
		return 0;
	}
	int e = errno;
	if (e != EWOULDBLOCK && e != EINTR) {
		close(fd);
		ferry_err_set(err, FERRY_ERROR, "could not lock \"%s\": %s", path, strerror(e));
		free(path);
		return FERRY_ERROR;
	}
	if (holder && cap) {
		char buf[600];
		ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
		buf[n > 0 ? n : 0] = '\0';
		clean_line(buf);
		if (buf[0])
			snprintf(holder, cap, "%s (lock file \"%s\")", buf, path);
		else
			snprintf(holder, cap, "another process (lock file \"%s\")", path);
	}
	close(fd);
	free(path);
	return 0;
}

int ferry_sqlite__lock_release(ferry_conn *conn, ferry_err *err)
{
	(void)err;
	sq_conn *c = SQ(conn);
	if (!c->mig || c->mig->lock_fd < 0)
		return 0;
	/* Empty the holder line first: no waiter reads a name that no longer holds the lock. The
	 * file itself stays: removing it would race with a process opening it to wait. */
	if (ftruncate(c->mig->lock_fd, 0) != 0) {
		/* nothing to do: the lock goes with the descriptor anyway */
	}
	close(c->mig->lock_fd);
	c->mig->lock_fd = -1;
	return 0;
}

/* ---- splitting scripts ------------------------------------------------------------- */

/* Skip spaces and comments from p; *line counts the newlines passed. */
static const char *skip_space(const char *p, const char *end, int *line)
{
	while (p < end) {
		if (*p == '\n') {
			(*line)++;
			p++;
		} else if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\f' || *p == '\v') {
			p++;
		} else if (*p == '-' && p + 1 < end && p[1] == '-') {
			while (p < end && *p != '\n')
				p++;
		} else if (*p == '/' && p + 1 < end && p[1] == '*') {
			p += 2;
			while (p < end && !(*p == '*' && p + 1 < end && p[1] == '/')) {
				if (*p == '\n')
					(*line)++;
				p++;
			}
			p = p < end ? p + 2 : end;
		} else {
			break;
		}
	}
	return p;
}

/* SQLite's own sqlite3_complete decides whether text up to a ';' is a whole statement (it
 * knows that the ';' inside CREATE TRIGGER ... BEGIN ... END do not end it). */
static int complete(const char *s, size_t len, char **tmp, size_t *tmpcap)
{
	if (len + 1 > *tmpcap) {
		char *n = ferry__realloc(*tmp, len + 1);
		if (!n)
			return -1;
		*tmp = n;
		*tmpcap = len + 1;
	}
	memcpy(*tmp, s, len);
	(*tmp)[len] = '\0';
	return sqlite3_complete(*tmp);
}

int ferry_sqlite__split_sql(const char *sql,
                            int (*cb)(void *ud, const char *stmt, size_t len, int line), void *ud,
                            ferry_err *err)
{
	const char *end = sql + strlen(sql);
	const char *p = sql;
	int line = 1;
	char *tmp = NULL;
	size_t tmpcap = 0;
	int rc = 0;
	while (rc == 0) {
		p = skip_space(p, end, &line);
		if (p >= end)
			break;
		if (*p == ';') { /* an empty statement */
			p++;
			continue;
		}
		const char *start = p;
		int start_line = line;
		const char *stop = NULL; /* the ';' that ends the statement */
		while (p < end && !stop) {
			char ch = *p;
			if (ch == '\'' || ch == '"' || ch == '`' || ch == '[') {
				char close = ch == '[' ? ']' : ch;
				p++;
				while (p < end) {
					if (*p == '\n')
						line++;
					if (*p == close) {
						if (close != ']' && p + 1 < end && p[1] == close) {
							p += 2;
							continue;
						}
						break;
					}
					p++;
				}
				if (p >= end)
					break; /* unterminated: the rest is the statement, SQLite will say why */
				p++;
			} else if ((ch == '-' && p + 1 < end && p[1] == '-') ||
			           (ch == '/' && p + 1 < end && p[1] == '*')) {
				p = skip_space(p, end, &line);
			} else if (ch == ';') {
				int c = complete(start, (size_t)(p - start) + 1, &tmp, &tmpcap);
				if (c < 0) {
					rc = OOM(err);
					break;
				}
				if (c)
					stop = p;
				else
					p++;
			} else {
				if (ch == '\n')
					line++;
				p++;
			}
		}
		if (rc)
			break;
		const char *e = stop ? stop : end;
		while (e > start && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
			e--;
		if (e > start && (rc = cb(ud, start, (size_t)(e - start), start_line)) != 0)
			break;
		p = stop ? stop + 1 : end;
	}
	free(tmp);
	return rc;
}

/* ---- statements outside transactions ----------------------------------------------- */

static int kw(const char *s, size_t len, size_t *pos, const char *word)
{
	size_t n = strlen(word);
	if (*pos + n > len || strncasecmp(s + *pos, word, n) != 0)
		return 0;
	size_t e = *pos + n;
	if (e < len && (s[e] == '_' || (s[e] >= '0' && s[e] <= '9') || ((s[e] | 0x20) >= 'a' &&
	                                                                   (s[e] | 0x20) <= 'z')))
		return 0;
	*pos = e;
	while (*pos < len && (s[*pos] == ' ' || s[*pos] == '\t' || s[*pos] == '\n' || s[*pos] == '\r'))
		(*pos)++;
	return 1;
}

/* VACUUM fails inside a transaction; PRAGMA journal_mode cannot enter or leave WAL there, and
 * PRAGMA foreign_keys is silently ignored there: all three run on their own. */
int ferry_sqlite__needs_autocommit(const char *stmt, size_t len)
{
	size_t pos = 0;
	if (kw(stmt, len, &pos, "VACUUM"))
		return 1;
	if (!kw(stmt, len, &pos, "PRAGMA"))
		return 0;
	/* an optional schema name: PRAGMA main.foreign_keys */
	size_t save = pos;
	while (pos < len && stmt[pos] != '.' && stmt[pos] != '=' && stmt[pos] != '(' &&
	       stmt[pos] != ' ' && stmt[pos] != ';')
		pos++;
	if (pos < len && stmt[pos] == '.')
		pos++;
	else
		pos = save;
	return kw(stmt, len, &pos, "foreign_keys") || kw(stmt, len, &pos, "journal_mode");
}
