/* sums.c — a cache of migration scripts' SHA-256 checksums between runs, so that a no-op
 * `ferry migrate` over thousands of applied files stats them instead of reading them. An
 * entry is trusted only while the file's (device, inode, size, mtime, ctime) are those it was
 * hashed with, and only entries whose ctime and mtime were at least RACY_NS old when the cache
 * was written are kept: any later change of the file gets a newer ctime, which no user can
 * set back, so a stale checksum is never served (git's index makes the same bet).
 *
 * The file, one per migration directory, in the cache directory the caller names, is
 * sums-<xxh3-128 hex of the directory's real path>. It is local to this machine, so numbers
 * are in its own byte order (the magic tells another order apart):
 *   header   8 bytes "FRYSUMS\0", u32 version (2), u32 count, u32 names_size, u32 0
 *   records  count x 80 bytes, sorted by name (bytewise): u64 dev, u64 ino, i64 size,
 *            i64 mtime_ns, i64 ctime_ns, u32 name offset, u32 name length, 32 bytes SHA-256
 *   names    names_size bytes: each name followed by a NUL
 * A file that does not add up (size, offsets, order) is ignored as a whole. It is written to
 * a temporary name and renamed, so readers see the old cache or the new one. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include "history.h"

#define MAGIC "FRYSUMS"          /* with its NUL: 8 bytes */
#define FORMAT 2u
#define HEADER 24u
#define RECORD 80u
#define RACY_NS 2000000000LL
#define MAX_CACHE (256u << 20)

typedef struct rec {
	uint64_t dev, ino;
	int64_t size, mtime, ctime;
	uint32_t off, len;
	unsigned char sum[32];
} rec;

_Static_assert(sizeof(rec) == RECORD, "a cache record is 80 bytes without padding");

typedef struct add_entry {
	char *name;
	rec r;
} add_entry;

struct ferry_sums {
	char *path;
	unsigned char *data;         /* the file as read */
	const unsigned char *recs;   /* count records of RECORD bytes, in data */
	const char *names;
	uint32_t count, names_size;
	unsigned char *used;         /* per record: served this run (written back) */
	add_entry *add;              /* hashed this run */
	size_t nadd, capadd;
};

static int64_t ns_of(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000LL + ts->tv_nsec;
}

static void get_rec(const ferry_sums *s, uint32_t i, rec *r)
{
	memcpy(r, s->recs + (size_t)i * RECORD, RECORD); /* rec has no padding: 80 bytes */
}

/* The whole file in one read; NULL when there is none or it is too large to be ours. */
static unsigned char *slurp(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	struct stat st;
	unsigned char *data = NULL;
	size_t got = 0;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size < (off_t)MAX_CACHE &&
	    (data = ferry__malloc((size_t)st.st_size + 1)) != NULL) {
		while (got < (size_t)st.st_size) {
			ssize_t n = read(fd, data + got, (size_t)st.st_size - got);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			got += (size_t)n;
		}
	}
	close(fd);
	*len = got;
	return data;
}

/* Check that the data adds up; the cache is untrusted input. */
static int valid(ferry_sums *s, size_t len)
{
	uint32_t h[4];
	if (len < HEADER || memcmp(s->data, MAGIC, 8) != 0)
		return 0;
	memcpy(h, s->data + 8, sizeof(h));
	if (h[0] != FORMAT || (uint64_t)HEADER + (uint64_t)h[1] * RECORD + h[2] != len)
		return 0;
	s->count = h[1];
	s->names_size = h[2];
	s->recs = s->data + HEADER;
	s->names = (const char *)s->recs + (size_t)s->count * RECORD;
	const char *prev = NULL;
	for (uint32_t i = 0; i < s->count; i++) {
		rec r;
		get_rec(s, i, &r);
		if ((uint64_t)r.off + r.len >= s->names_size || s->names[r.off + r.len] != '\0' ||
		    strlen(s->names + r.off) != r.len)
			return 0;
		if (prev && strcmp(prev, s->names + r.off) >= 0)
			return 0;
		prev = s->names + r.off;
	}
	return 1;
}

int ferry__sums_open(ferry_sums **out, const char *cache_dir, const char *dir)
{
	*out = NULL;
	/* A buffer of our own, not realpath's malloc: every allocation goes through the wrappers. */
	char real[PATH_MAX];
	if (!realpath(dir, real))
		return 0; /* no cache for a directory without a real path: not an error */
	char key[33];
	ferry__hash128_hex(key, real, strlen(real));
	ferry_sums *s = ferry__calloc(1, sizeof(*s));
	if (!s || !(s->path = ferry__sprintf("%s/sums-%s", cache_dir, key))) {
		free(s);
		return FERRY_ENOMEM;
	}
	size_t len = 0;
	if ((s->data = slurp(s->path, &len)) != NULL && !valid(s, len)) {
		s->count = 0;
		s->recs = NULL;
	}
	if (s->count && !(s->used = ferry__calloc(s->count, 1))) {
		ferry__sums_close(s, 0);
		return FERRY_ENOMEM;
	}
	*out = s;
	return 0;
}

int ferry__sums_get(ferry_sums *s, const char *name, const struct stat *st, char out[65])
{
	uint32_t lo = 0, hi = s->count;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		rec r;
		get_rec(s, mid, &r);
		int c = strcmp(name, s->names + r.off);
		if (c == 0) {
			if (r.dev != (uint64_t)st->st_dev || r.ino != (uint64_t)st->st_ino ||
			    r.size != (int64_t)st->st_size || r.mtime != ns_of(&st->st_mtim) ||
			    r.ctime != ns_of(&st->st_ctim))
				return 0;
			s->used[mid] = 1; /* each name is asked for by one thread only */
			ferry__hex_encode(out, r.sum, 32);
			return 1;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return 0;
}

int ferry__sums_put(ferry_sums *s, const char *name, const struct stat *st, const char *sum)
{
	if (ferry__grow(&s->add, &s->capadd, s->nadd + 1, sizeof(*s->add)) != 0)
		return FERRY_ENOMEM;
	add_entry *e = &s->add[s->nadd];
	memset(e, 0, sizeof(*e));
	if (ferry__hex_decode(e->r.sum, sum, 32) != 0)
		return 0; /* not a checksum: nothing to keep */
	if (!(e->name = ferry__strdup(name)))
		return FERRY_ENOMEM;
	e->r.dev = (uint64_t)st->st_dev;
	e->r.ino = (uint64_t)st->st_ino;
	e->r.size = (int64_t)st->st_size;
	e->r.mtime = ns_of(&st->st_mtim);
	e->r.ctime = ns_of(&st->st_ctim);
	s->nadd++;
	return 0;
}

/* mkdir -p, mode 0700: the cache is the user's own. */
static int make_dirs(const char *path)
{
	char *p = ferry__strdup(path);
	if (!p)
		return -1;
	for (char *q = p + 1; *q; q++) {
		if (*q != '/')
			continue;
		*q = '\0';
		if (mkdir(p, 0700) != 0 && errno != EEXIST) {
			free(p);
			return -1;
		}
		*q = '/';
	}
	int rc = mkdir(p, 0700) != 0 && errno != EEXIST ? -1 : 0;
	free(p);
	return rc;
}

static int cmp_add(const void *a, const void *b)
{
	return strcmp(((const add_entry *)a)->name, ((const add_entry *)b)->name);
}

/* Append one record and its name to the output buffers, when old enough to trust. */
static void put(ferry_buf *recs, ferry_buf *names, const rec *r, const char *name, int64_t limit)
{
	if (r->ctime >= limit || r->mtime >= limit)
		return;
	rec o = *r;
	o.off = (uint32_t)names->len;
	o.len = (uint32_t)strlen(name);
	ferry_buf_add(recs, &o, RECORD);
	ferry_buf_add(names, name, (size_t)o.len + 1);
}

/* Write the entries served or hashed this run, in name order; failures are ignored: it is
 * only a cache. */
static void save(ferry_sums *s)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	int64_t limit = ns_of(&now) - RACY_NS;
	if (s->nadd > 1)
		qsort(s->add, s->nadd, sizeof(*s->add), cmp_add);
	ferry_buf recs = FERRY_BUF_INIT, names = FERRY_BUF_INIT;
	recs.max = names.max = MAX_CACHE / 2;
	uint32_t i = 0;
	size_t j = 0;
	while (i < s->count || j < s->nadd) {
		if (i < s->count && !s->used[i]) {
			i++;
			continue;
		}
		rec r;
		if (i < s->count)
			get_rec(s, i, &r);
		if (j >= s->nadd || (i < s->count && strcmp(s->names + r.off, s->add[j].name) < 0)) {
			put(&recs, &names, &r, s->names + r.off, limit);
			i++;
		} else {
			put(&recs, &names, &s->add[j].r, s->add[j].name, limit);
			j++;
		}
	}
	char *dir = ferry__dirname(s->path);
	char *tmp = ferry__sprintf("%s.tmp.%ld", s->path, (long)getpid());
	FILE *f = NULL;
	if (!recs.failed && !names.failed && dir && tmp && make_dirs(dir) == 0)
		f = fopen(tmp, "wb");
	if (f) {
		uint32_t h[4] = {FORMAT, (uint32_t)(recs.len / RECORD), (uint32_t)names.len, 0};
		fwrite(MAGIC, 1, 8, f);
		fwrite(h, sizeof(h), 1, f);
		if (recs.len)
			fwrite(recs.data, 1, recs.len, f);
		if (names.len)
			fwrite(names.data, 1, names.len, f);
		int bad = ferror(f);
		if (fclose(f) != 0 || bad || rename(tmp, s->path) != 0)
			unlink(tmp);
	}
	ferry_buf_free(&recs);
	ferry_buf_free(&names);
	free(tmp);
	free(dir);
}

void ferry__sums_close(ferry_sums *s, int write)
{
	if (!s)
		return;
	/* Rewritten when a file was hashed or one went away; a run served wholly from the cache
	 * writes nothing. */
	size_t used = 0;
	for (uint32_t i = 0; i < s->count; i++)
		used += s->used[i];
	if (write && (s->nadd > 0 || used != s->count))
		save(s);
	for (size_t i = 0; i < s->nadd; i++)
		free(s->add[i].name);
	free(s->add);
	free(s->used);
	free(s->data);
	free(s->path);
	free(s);
}
