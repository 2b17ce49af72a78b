/* fs.c — small file-system helpers: whole-file reads with a cap, paths, sorted listings. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
