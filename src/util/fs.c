/* fs.c — small file-system helpers: whole-file reads with a cap, paths, sorted listings. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "../ferry_int.h"

int ferry__read_file(char **out, size_t *len, const char *path, size_t max, ferry_err *err)
{
	*out = NULL;
	FILE *f = fopen(path, "rb");
	if (!f)
		return ferry_err_set(err, errno == ENOENT ? FERRY_ENOTFOUND : FERRY_ERROR,
		                     "could not open \"%s\": %s", path, strerror(errno));
	ferry_buf b = FERRY_BUF_INIT;
	b.max = max;
	char chunk[65536];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		size_t had = b.len;
		if (ferry_buf_add(&b, chunk, n) != 0) {
			fclose(f);
			if (n > max || had > max - n)
				return ferry_err_set(err, FERRY_ENOMEM, "could not read \"%s\": larger than %zu bytes",
				                     path, max);
			return ferry_err_set(err, FERRY_ENOMEM, "could not read \"%s\": out of memory", path);
		}
	}
	int bad = ferror(f);
	fclose(f);
	if (bad) {
		ferry_buf_free(&b);
		return ferry_err_set(err, FERRY_ERROR, "could not read \"%s\"", path);
	}
	if (len)
		*len = b.len;
	*out = ferry_buf_detach(&b);
	return *out ? 0 : ferry_err_set(err, FERRY_ENOMEM, "out of memory");
}

char *ferry__dirname(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return ferry__strdup(".");
	if (slash == path)
		return ferry__strdup("/");
	return ferry__strndup(path, (size_t)(slash - path));
}

char *ferry__path_join(const char *base, const char *rel)
{
	if (!base || rel[0] == '/' || strcmp(base, ".") == 0)
		return ferry__strdup(rel);
	return ferry__sprintf("%s/%s", base, rel);
}

/* An absolute path (made so from the working directory) without trailing slashes. */
static char *absolute(const char *path)
{
	char *abs;
	if (path[0] == '/') {
		abs = ferry__strdup(path);
	} else {
		char *cwd = getcwd(NULL, 0);
		abs = cwd ? ferry__sprintf("%s/%s", cwd, path) : ferry__strdup(path);
		free(cwd);
	}
	size_t n = abs ? strlen(abs) : 0;
	while (n > 1 && abs[n - 1] == '/')
		abs[--n] = '\0';
	return abs;
}

static char *canonical_abs(const char *abs, int depth)
{
	char *real = realpath(abs, NULL);
	if (real) {
		char *r = ferry__strdup(real);
		free(real);
		return r;
	}
	const char *slash = strrchr(abs, '/');
	if (!slash || depth > 64) /* not absolute after all, or absurdly deep: keep it */
		return ferry__strdup(abs);
	char *parent = slash == abs ? ferry__strdup("/") : ferry__strndup(abs, (size_t)(slash - abs));
	const char *base = slash + 1;
	char *cp = parent ? canonical_abs(parent, depth + 1) : NULL;
	free(parent);
	if (!cp)
		return NULL;
	char *r;
	if (!*base || strcmp(base, ".") == 0) {
		r = cp;
	} else if (strcmp(base, "..") == 0) {
		r = ferry__dirname(cp);
		free(cp);
	} else {
		r = ferry__sprintf("%s/%s", strcmp(cp, "/") == 0 ? "" : cp, base);
		free(cp);
	}
	return r;
}

char *ferry__path_canonical(const char *path)
{
	char *abs = absolute(path);
	char *r = abs ? canonical_abs(abs, 0) : NULL;
	free(abs);
	return r;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int ferry__list_dir(char ***out, size_t *n, const char *dir, const char *suffix, ferry_err *err)
{
	*out = NULL;
	*n = 0;
	DIR *d = opendir(dir);
	if (!d)
		return ferry_err_set(err, errno == ENOENT ? FERRY_ENOTFOUND : FERRY_ERROR,
		                     "could not open directory \"%s\": %s", dir, strerror(errno));
	char **list = NULL;
	size_t cap = 0, cnt = 0;
	struct dirent *e;
	size_t sl = strlen(suffix);
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);
		if (e->d_name[0] == '.' || l < sl || strcmp(e->d_name + l - sl, suffix) != 0)
			continue;
		char *full = ferry__path_join(dir, e->d_name);
		struct stat st;
		if (!full || stat(full, &st) != 0 || !S_ISREG(st.st_mode)) {
			free(full);
			continue;
		}
		if (ferry__grow(&list, &cap, cnt + 1, sizeof(char *)) != 0) {
			free(full);
			break;
		}
		list[cnt++] = full;
	}
	closedir(d);
	if (cnt > 1)
		qsort(list, cnt, sizeof(char *), cmp_str);
	*out = list;
	*n = cnt;
	return 0;
}
