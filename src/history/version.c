/* version.c — migration versions (numbers separated by dots, compared numerically per
 * component) and the files of a migration directory: V<version>__<description>.sql and
 * its optional .down.sql, found, checked by name and checksummed. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "history.h"

#define MAX_VERSION_LEN 100
#define OOM(err) ferry_err_set((err), FERRY_ENOMEM, "out of memory")

int ferry__version_valid(const char *s, size_t len)
{
	if (len == 0 || len > MAX_VERSION_LEN)
		return 0;
	int digits = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] >= '0' && s[i] <= '9') {
			digits++;
		} else if (s[i] == '.' && digits > 0) {
			digits = 0;
		} else {
			return 0;
		}
	}
	return digits > 0;
}

/* The next component of a version at *p: its digits without leading zeros ("" for zero or
 * a missing component); *p moves past it and its dot. */
static const char *component(const char **p, size_t *len)
{
	const char *s = *p;
	const char *e = s;
	while (*e && *e != '.')
		e++;
	*p = *e ? e + 1 : e;
	while (s < e && *s == '0')
		s++;
	*len = (size_t)(e - s);
	return s;
}

int ferry__version_cmp(const char *a, const char *b)
{
	while (*a || *b) {
		size_t la, lb;
		const char *ca = component(&a, &la);
		const char *cb = component(&b, &lb);
		if (la != lb)
			return la < lb ? -1 : 1;
		int c = memcmp(ca, cb, la);
		if (c)
			return c < 0 ? -1 : 1;
	}
	return 0;
}

size_t ferry__version_key(unsigned char *out, const char *v)
{
	size_t n = 0, keep = 0;
	while (*v) {
		size_t len;
		const char *c = component(&v, &len);
		out[n++] = (unsigned char)len;
		memcpy(out + n, c, len);
		n += len;
		if (len)
			keep = n; /* trailing zero components do not count: 1.0 is 1 */
	}
	return keep;
}

int ferry__version_key_cmp(const unsigned char *a, size_t la, const unsigned char *b, size_t lb)
{
	int c = memcmp(a, b, la < lb ? la : lb);
	if (c)
		return c < 0 ? -1 : 1;
	return (la > lb) - (la < lb);
}

int ferry__mig_parse_name(ferry_mig_name *out, const char *name, const char *dir, ferry_err *err)
{
	memset(out, 0, sizeof(*out));
	size_t n = strlen(name);
	size_t sfx = 0;
	if (n > 9 && strcmp(name + n - 9, ".down.sql") == 0) {
		sfx = 9;
		out->down = 1;
	} else if (n > 4 && strcmp(name + n - 4, ".sql") == 0) {
		sfx = 4;
	}
	const char *sep = name[0] == 'V' ? strstr(name, "__") : NULL;
	if (!sfx || !sep || (size_t)(sep - name) + 2 > n - sfx)
		return ferry_err_set(err, FERRY_EUSAGE,
		                     "bad migration file name \"%s\" in \"%s\": expected "
		                     "V<version>__<description>.sql, like V1.2__add_users.sql", name, dir);
	size_t vlen = (size_t)(sep - name) - 1;
	if (!ferry__version_valid(name + 1, vlen))
		return ferry_err_set(err, FERRY_EUSAGE,
		                     "bad migration file name \"%s\" in \"%s\": the version \"%.*s\" is "
		                     "not numbers separated by dots", name, dir, (int)vlen, name + 1);
	const char *d = sep + 2;
	size_t dlen = n - sfx - (size_t)(d - name);
	if (dlen == 0)
		return ferry_err_set(err, FERRY_EUSAGE,
		                     "bad migration file name \"%s\" in \"%s\": the description after "
		                     "\"__\" is empty", name, dir);
	for (size_t i = 0; i < dlen; i++)
		if ((unsigned char)d[i] < 0x20 || d[i] == 0x7f)
			return ferry_err_set(err, FERRY_EUSAGE,
			                     "bad migration file name in \"%s\": the description holds a "
			                     "control character", dir);
	out->version = ferry__strndup(name + 1, vlen);
	out->description = ferry__strndup(d, dlen);
	if (!out->version || !out->description) {
		free(out->version);
		free(out->description);
		memset(out, 0, sizeof(*out));
		return OOM(err);
	}
	for (char *p = out->description; *p; p++)
		if (*p == '_')
			*p = ' ';
	return 0;
}

/* ---- problems ---------------------------------------------------------------------- */

int ferry__mig_problem_add(ferry_mig_problems *p, int kind, const char *version,
                           const char *script, const char *fmt, ...)
{
	if (ferry__grow(&p->v, &p->cap, p->n + 1, sizeof(*p->v)) != 0)
		return FERRY_ENOMEM;
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	ferry_mig_problem *e = &p->v[p->n];
	e->msg = ferry__strdup(line);
	e->kind = kind;
	e->version = version ? ferry__strdup(version) : NULL;
	e->script = script ? ferry__strdup(script) : NULL;
	if (!e->msg || (version && !e->version) || (script && !e->script)) {
		free(e->msg);
		free(e->version);
		free(e->script);
		memset(e, 0, sizeof(*e));
		return FERRY_ENOMEM;
	}
	p->n++;
	return 0;
}

void ferry__mig_problems_clear(ferry_mig_problems *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->v[i].msg);
		free(p->v[i].version);
		free(p->v[i].script);
	}
	free(p->v);
	memset(p, 0, sizeof(*p));
}

/* ---- the directory ----------------------------------------------------------------- */

void ferry__mig_files_free(ferry_mig_file *files, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(files[i].version);
		free(files[i].description);
		free(files[i].up);
		free(files[i].down);
	}
	free(files);
}

typedef struct named {
	ferry_mig_name nm;
	char *file;          /* the file's name (taken from the listing) */
	const unsigned char *key; /* ferry__version_key of the version */
	size_t klen;
} named;

static int cmp_named(const void *pa, const void *pb)
{
	const named *a = pa, *b = pb;
	int c = ferry__version_key_cmp(a->key, a->klen, b->key, b->klen);
	if (c)
		return c;
	if (a->nm.down != b->nm.down)
		return a->nm.down - b->nm.down;
	return strcmp(a->file, b->file);
}

/* The names of the regular *.sql files of an open directory (no hidden ones). */
static int list_sql(DIR *d, char ***out, size_t *n, ferry_err *err)
{
	*out = NULL;
	*n = 0;
	char **v = NULL;
	size_t cap = 0, cnt = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);
		if (e->d_name[0] == '.' || l < 4 || strcmp(e->d_name + l - 4, ".sql") != 0)
			continue;
		if (e->d_type != DT_REG) {
			struct stat st;
			if (e->d_type != DT_UNKNOWN && e->d_type != DT_LNK)
				continue;
			if (fstatat(dirfd(d), e->d_name, &st, 0) != 0 || !S_ISREG(st.st_mode))
				continue;
		}
		if (ferry__grow(&v, &cap, cnt + 1, sizeof(*v)) != 0 ||
		    !(v[cnt] = ferry__strdup(e->d_name))) {
			for (size_t i = 0; i < cnt; i++)
				free(v[i]);
			free(v);
			return OOM(err);
		}
		cnt++;
	}
	*out = v;
	*n = cnt;
	return 0;
}

/* Read a whole regular file of the directory dfd into *buf (grown as needed, kept for the
 * next file): three system calls for a small script, where stdio takes six. */
static int read_at(int dfd, const char *dir, const char *name, char **buf, size_t *cap,
                   size_t *len, ferry_err *err)
{
	*len = 0;
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ferry_err_set(err, errno == ENOENT ? FERRY_ENOTFOUND : FERRY_ERROR,
		                     "could not open \"%s/%s\": %s", dir, name, strerror(errno));
	for (;;) {
		if (*len + 1 >= *cap) {
			size_t ncap = *cap ? *cap * 2 : 65536;
			int big = ncap > FERRY_MIG_MAX_SCRIPT * 2u;
			char *nb = big ? NULL : ferry__realloc(*buf, ncap);
			if (!nb) {
				close(fd);
				if (!big)
					return ferry_err_set(err, FERRY_ENOMEM, "could not read \"%s/%s\": out of memory",
					                     dir, name);
				return ferry_err_set(err, FERRY_ENOMEM, "could not read \"%s/%s\": larger than "
				                     "%u bytes", dir, name, FERRY_MIG_MAX_SCRIPT);
			}
			*buf = nb;
			*cap = ncap;
		}
		ssize_t got = read(fd, *buf + *len, *cap - *len - 1);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			int e = errno;
			close(fd);
			return ferry_err_set(err, FERRY_ERROR, "could not read \"%s/%s\": %s", dir, name,
			                     strerror(e));
		}
		if (got == 0)
			break;
		*len += (size_t)got;
		/* A regular file's read comes back short only at its end: no second read to be
		 * told so (a fourth system call per script). */
		if (*len + 1 < *cap)
			break;
		if (*len > FERRY_MIG_MAX_SCRIPT) {
			close(fd);
			return ferry_err_set(err, FERRY_ENOMEM, "could not read \"%s/%s\": larger than %u "
			                     "bytes", dir, name, FERRY_MIG_MAX_SCRIPT);
		}
	}
	close(fd);
	(*buf)[*len] = '\0';
	return 0;
}

/* One thread's share of the checksums: the files todo[start], todo[start + step], ... */
typedef struct hash_part {
	int dfd;
	const char *dir;
	ferry_mig_file *files;
	const size_t *todo;
	size_t ntodo, start, step;
	ferry_sha256 *sha;
	int rc;
	size_t failed_at;    /* the file whose read failed, when rc != 0 */
	ferry_err err;
} hash_part;

static void *hash_run(void *arg)
{
	hash_part *p = arg;
	char *buf = NULL;
	size_t cap = 0;
	for (size_t k = p->start; p->rc == 0 && k < p->ntodo; k += p->step) {
		size_t i = p->todo[k], len = 0;
		p->rc = read_at(p->dfd, p->dir, p->files[i].up, &buf, &cap, &len, &p->err);
		if (p->rc == 0)
			p->rc = ferry__sha256_hex(p->sha, p->files[i].checksum, buf, len, &p->err);
		p->failed_at = i;
	}
	free(buf);
	return NULL;
}

#define HASH_THREADS_MAX 8
#define HASH_FILES_PER_THREAD 256

/* Checksum the up scripts files[todo[...]]. Opening and reading thousands of small files is
 * kernel work that parallelizes where there are cores, so large directories are shared among
 * a few threads. */
static int hash_files(int dfd, const char *dir, ferry_mig_file *files, const size_t *todo,
                      size_t ntodo, ferry_err *err)
{
	ferry_sha256 *sha = NULL;
	int rc = ferry__sha256_new(&sha, err);
	if (rc)
		return rc;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	size_t nt = ntodo / HASH_FILES_PER_THREAD + 1;
	if (nt > (size_t)(cpus > 0 ? cpus : 1))
		nt = (size_t)(cpus > 0 ? cpus : 1);
	if (nt > HASH_THREADS_MAX)
		nt = HASH_THREADS_MAX;
	hash_part parts[HASH_THREADS_MAX];
	pthread_t tids[HASH_THREADS_MAX];
	int started[HASH_THREADS_MAX] = {0};
	for (size_t t = 0; t < nt; t++) {
		memset(&parts[t], 0, sizeof(parts[t]));
		parts[t].dfd = dfd;
		parts[t].dir = dir;
		parts[t].files = files;
		parts[t].todo = todo;
		parts[t].ntodo = ntodo;
		parts[t].start = t;
		parts[t].step = nt;
		parts[t].sha = sha;
	}
	for (size_t t = 1; t < nt; t++)
		started[t] = pthread_create(&tids[t], NULL, hash_run, &parts[t]) == 0;
	hash_run(&parts[0]);
	for (size_t t = 1; t < nt; t++) {
		if (started[t])
			pthread_join(tids[t], NULL);
		else
			hash_run(&parts[t]); /* no thread: do its share here */
	}
	/* Report the failure of the first file in order, whatever thread met it. */
	const hash_part *bad = NULL;
	for (size_t t = 0; t < nt; t++)
		if (parts[t].rc && (!bad || parts[t].failed_at < bad->failed_at))
			bad = &parts[t];
	if (bad)
		rc = ferry__err_copy(err, &bad->err);
	ferry__sha256_free(sha);
	return rc;
}

/* One thread's share of the stat pass over files start, start + step, ...: cache hits get
 * their checksum, misses are listed with the stat taken (st_mode 0: could not stat). */
typedef struct stat_part {
	int dfd;
	ferry_mig_file *files;
	size_t nf, start, step;
	ferry_sums *cache;
	size_t *miss;
	struct stat *st;
	size_t nmiss, cap, capst;
	int oom;
} stat_part;

static void *stat_run(void *arg)
{
	stat_part *p = arg;
	for (size_t i = p->start; i < p->nf && !p->oom; i += p->step) {
		struct stat one;
		int have = fstatat(p->dfd, p->files[i].up, &one, 0) == 0 && S_ISREG(one.st_mode);
		if (have && ferry__sums_get(p->cache, p->files[i].up, &one, p->files[i].checksum))
			continue;
		size_t cap = p->cap;
		if (ferry__grow(&p->miss, &p->cap, p->nmiss + 1, sizeof(*p->miss)) != 0 ||
		    ferry__grow(&p->st, &cap, p->nmiss + 1, sizeof(*p->st)) != 0) {
			p->oom = 1;
			break;
		}
		p->miss[p->nmiss] = i;
		p->st[p->nmiss] = one;
		if (!have)
			p->st[p->nmiss].st_mode = 0;
		p->nmiss++;
	}
	return NULL;
}

#define STAT_FILES_PER_THREAD 2048

/* The checksums of all up scripts: from the cache for files whose stat is unchanged (a stat
 * each, on two threads for large directories), read and hashed for the others, which then
 * go into the cache. */
static int checksums(int dfd, const char *dir, ferry_sums *cache, ferry_mig_file *files,
                     size_t nf, ferry_err *err)
{
	size_t *todo = ferry__malloc((nf ? nf : 1) * sizeof(*todo));
	struct stat *st = NULL;       /* of the files in todo, when cached */
	size_t ntodo = 0;
	int rc = todo ? 0 : OOM(err);
	if (rc == 0 && !cache) {
		for (size_t i = 0; i < nf; i++)
			todo[ntodo++] = i;
	} else if (rc == 0) {
		stat_part parts[2];
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		size_t nt = nf >= STAT_FILES_PER_THREAD && cpus > 1 ? 2 : 1;
		for (size_t t = 0; t < nt; t++) {
			memset(&parts[t], 0, sizeof(parts[t]));
			parts[t].dfd = dfd;
			parts[t].files = files;
			parts[t].nf = nf;
			parts[t].start = t;
			parts[t].step = nt;
			parts[t].cache = cache;
		}
		pthread_t tid;
		int started = nt > 1 && pthread_create(&tid, NULL, stat_run, &parts[1]) == 0;
		stat_run(&parts[0]);
		if (started)
			pthread_join(tid, NULL);
		else if (nt > 1)
			stat_run(&parts[1]);
		/* Merge the misses back into file order. */
		st = ferry__malloc((parts[0].nmiss + (nt > 1 ? parts[1].nmiss : 0) + 1) * sizeof(*st));
		if (!st || parts[0].oom || (nt > 1 && parts[1].oom))
			rc = OOM(err);
		size_t a = 0, b = 0;
		while (rc == 0 && (a < parts[0].nmiss || (nt > 1 && b < parts[1].nmiss))) {
			int from_a = nt == 1 || b >= parts[1].nmiss ||
			             (a < parts[0].nmiss && parts[0].miss[a] < parts[1].miss[b]);
			stat_part *p = from_a ? &parts[0] : &parts[1];
			size_t k = from_a ? a++ : b++;
			st[ntodo] = p->st[k];
			todo[ntodo++] = p->miss[k];
		}
		for (size_t t = 0; t < nt; t++) {
			free(parts[t].miss);
			free(parts[t].st);
		}
	}
	if (rc == 0 && ntodo)
		rc = hash_files(dfd, dir, files, todo, ntodo, err);
	/* The stat taken before reading goes with the bytes read: a file changed in between is
	 * hashed again next time, never served stale. */
	for (size_t k = 0; rc == 0 && cache && k < ntodo; k++)
		if (S_ISREG(st[k].st_mode) &&
		    ferry__sums_put(cache, files[todo[k]].up, &st[k], files[todo[k]].checksum) != 0)
			rc = OOM(err);
	free(todo);
	free(st);
	return rc;
}

/* Loading the checksum cache, on its own thread while the directory is listed and parsed. */
typedef struct cache_load {
	const char *cache_dir, *dir;
	ferry_sums *cache;
	int rc;
	pthread_t tid;
	int started;
} cache_load;

static void *cache_run(void *arg)
{
	cache_load *c = arg;
	c->rc = ferry__sums_open(&c->cache, c->cache_dir, c->dir);
	return NULL;
}

static void cache_begin(cache_load *c, const char *cache_dir, const char *dir)
{
	memset(c, 0, sizeof(*c));
	c->cache_dir = cache_dir;
	c->dir = dir;
	if (!cache_dir)
		return;
	c->started = pthread_create(&c->tid, NULL, cache_run, c) == 0;
	if (!c->started)
		cache_run(c);
}

static int cache_end(cache_load *c)
{
	if (c->started)
		pthread_join(c->tid, NULL);
	c->started = 0;
	return c->rc;
}

int ferry__mig_scan(ferry_mig_file **out, size_t *n, const char *dir, const char *cache_dir,
                    ferry_mig_problems *problems, ferry_err *err)
{
	*out = NULL;
	*n = 0;
	DIR *dh = opendir(dir);
	if (!dh) {
		if (errno == ENOENT)
			return ferry_err_set(err, FERRY_ENOTFOUND,
			                     "could not open the migration directory \"%s\": no such "
			                     "directory (give it with -d DIR)", dir);
		return ferry_err_set(err, FERRY_ERROR, "could not open the migration directory \"%s\": %s",
		                     dir, strerror(errno));
	}
	cache_load cl;
	cache_begin(&cl, cache_dir, dir);
	char **paths = NULL;
	size_t np = 0;
	int rc = list_sql(dh, &paths, &np, err);
	if (rc) {
		cache_end(&cl);
		ferry__sums_close(cl.cache, 0);
		closedir(dh);
		return rc;
	}
	named *nm = ferry__calloc(np ? np : 1, sizeof(*nm));
	ferry_mig_file *files = ferry__calloc(np ? np : 1, sizeof(*files));
	size_t nn = 0, nf = 0;
	size_t bad = problems->n;
	if (!nm || !files)
		rc = OOM(err);
	for (size_t i = 0; rc == 0 && i < np; i++) {
		const char *name = paths[i];
		ferry_err e = {0};
		int prc = ferry__mig_parse_name(&nm[nn].nm, name, dir, &e);
		if (prc == FERRY_EUSAGE) {
			if (ferry__mig_problem_add(problems, -1, NULL, name, "%s", e.msg) != 0)
				rc = OOM(err);
			continue;
		}
		if (prc) {
			rc = ferry__err_copy(err, &e);
			break;
		}
		nm[nn++].file = paths[i];
		paths[i] = NULL;
	}
	/* Sort by keys made once: comparing version texts in the sort costs more. */
	size_t ksize = 0;
	for (size_t i = 0; i < nn; i++)
		ksize += strlen(nm[i].nm.version) + 1;
	unsigned char *keys = rc == 0 ? ferry__malloc(ksize ? ksize : 1) : NULL;
	if (rc == 0 && !keys)
		rc = OOM(err);
	for (size_t i = 0, off = 0; rc == 0 && i < nn; i++) {
		nm[i].key = keys + off;
		nm[i].klen = ferry__version_key(keys + off, nm[i].nm.version);
		off += strlen(nm[i].nm.version) + 1;
	}
	if (rc == 0 && nn > 1)
		qsort(nm, nn, sizeof(*nm), cmp_named);
	/* Group by version: one up script and at most one down script of the same name. */
	for (size_t i = 0; rc == 0 && i < nn;) {
		size_t j = i;
		while (j < nn && ferry__version_key_cmp(nm[j].key, nm[j].klen, nm[i].key, nm[i].klen) == 0)
			j++;
		named *up = NULL, *down = NULL;
		int ok = 1;
		for (size_t k = i; k < j && rc == 0; k++) {
			named **slot = nm[k].nm.down ? &down : &up;
			if (*slot) {
				ok = 0;
				if (ferry__mig_problem_add(problems, -1, nm[k].nm.version, nm[k].file,
				                           "two %sfiles for version %s in \"%s\": \"%s\" and \"%s\"",
				                           nm[k].nm.down ? "down " : "", nm[k].nm.version, dir,
				                           (*slot)->file, nm[k].file) != 0)
					rc = OOM(err);
			} else {
				*slot = &nm[k];
			}
		}
		if (rc == 0 && ok && !up) {
			ok = 0;
			if (ferry__mig_problem_add(problems, -1, down->nm.version, down->file,
			                           "down script \"%s\" in \"%s\" has no up script "
			                           "\"V%s__...sql\"", down->file, dir, down->nm.version) != 0)
				rc = OOM(err);
		}
		if (rc == 0 && ok && down &&
		    (strcmp(up->nm.version, down->nm.version) != 0 ||
		     strcmp(up->nm.description, down->nm.description) != 0)) {
			ok = 0;
			if (ferry__mig_problem_add(problems, -1, down->nm.version, down->file,
			                           "down script \"%s\" in \"%s\" does not match \"%s\": "
			                           "name it like its up script, ending in .down.sql",
			                           down->file, dir, up->file) != 0)
				rc = OOM(err);
		}
		if (rc == 0 && ok) {
			/* The strings move from the listing to the file list. */
			ferry_mig_file *f = &files[nf++];
			f->version = up->nm.version;
			f->description = up->nm.description;
			f->up = up->file;
			up->nm.version = up->nm.description = up->file = NULL;
			if (down) {
				f->down = down->file;
				down->file = NULL;
			}
		}
		i = j;
	}
	/* The checksums, from the bytes as they are now. */
	if (cache_end(&cl) != 0 && rc == 0)
		rc = OOM(err);
	if (rc == 0 && problems->n == bad && nf > 0)
		rc = checksums(dirfd(dh), dir, cl.cache, files, nf, err);
	/* A failed scan writes nothing: the entries would be half the directory. */
	ferry__sums_close(cl.cache, rc == 0 && problems->n == bad);
	closedir(dh);
	for (size_t i = 0; i < nn; i++) {
		free(nm[i].nm.version);
		free(nm[i].nm.description);
		free(nm[i].file);
	}
	free(nm);
	free(keys);
	for (size_t i = 0; i < np; i++)
		free(paths[i]);
	free(paths);
	if (rc == 0 && problems->n > bad)
		rc = ferry_err_set(err, FERRY_EUSAGE, "%zu problem%s with the migration files in \"%s\"",
		                   problems->n - bad, problems->n - bad == 1 ? "" : "s", dir);
	if (rc) {
		ferry__mig_files_free(files, nf);
		return rc;
	}
	*out = files;
	*n = nf;
	return 0;
}
