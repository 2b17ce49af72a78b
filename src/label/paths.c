/* paths.c — the label's file names (docs/LABEL-FORMAT.md "Layout"): table folders with their
 * names escaped to portable bytes, chunk file names, mkdir -p with mode 0700, and the
 * durable-write helpers the chunk files and the manifest share. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "label_int.h"

/* The escaped table name is cut here (never inside a %XX) so that a folder name stays far
 * below the 255 bytes file systems allow; the job number keeps folder names unique. */
#define NAME_PART_MAX 128

static int portable_byte(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == '-';
}

int ferry_label__stage_name_ok(const char *name)
{
	if (!name || !name[0] || name[0] == '.')
		return 0;
	for (const char *p = name; *p; p++)
		if (!portable_byte((unsigned char)*p))
			return 0;
	return 1;
}

char *ferry__label_table_dir(const char *stage, int64_t job, const char *name)
{
	static const char hex[] = "0123456789ABCDEF";
	assert(stage && name && job >= 0);
	char part[NAME_PART_MAX + 1];
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		if (portable_byte(*p)) {
			if (n + 1 > NAME_PART_MAX)
				break;
			part[n++] = (char)*p;
		} else {
			if (n + 3 > NAME_PART_MAX)
				break;
			part[n++] = '%';
			part[n++] = hex[*p >> 4];
			part[n++] = hex[*p & 15];
		}
	}
	part[n] = '\0';
	return ferry__sprintf("%s/%06lld-%s", stage, (long long)job, part);
}

char *ferry__label_chunk_file(int64_t chunk)
{
	assert(chunk >= 0);
	return ferry__sprintf("%06lld.chunk", (long long)chunk);
}

static int mkdir_one(const char *path, ferry_err *err)
{
	if (mkdir(path, 0700) == 0)
		return 0;
	int e = errno;
	struct stat st;
	if (e == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	if (e == EEXIST)
		return ferry_err_set(err, FERRY_ERROR, "could not create directory \"%s\": a file of "
		                     "that name is in the way", path);
	return ferry_err_set(err, e == ENOENT ? FERRY_ENOTFOUND : FERRY_ERROR,
	                     "could not create directory \"%s\": %s", path, strerror(e));
}

int ferry__label_mkdirs(const char *path, ferry_err *err)
{
	char *p = ferry__strdup(path);
	if (!p)
		return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
	int rc = 0;
	for (char *s = p + 1; *s && rc == 0; s++) {
		if (*s != '/' || s[-1] == '/')
			continue;
		*s = '\0';
		rc = mkdir_one(p, err);
		*s = '/';
	}
	size_t n = strlen(p);
	while (n > 1 && p[n - 1] == '/')
		p[--n] = '\0';
	if (rc == 0 && n > 0)
		rc = mkdir_one(p, err);
	free(p);
	return rc;
}

int ferry_label__write_all(int fd, const void *data, size_t n)
{
	const char *p = data;
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int ferry_label__fsync_dir(const char *path)
{
	char *dir = ferry__dirname(path);
	if (!dir) {
		errno = ENOMEM;
		return -1;
	}
	int fd = open(dir, O_RDONLY | O_CLOEXEC);
	free(dir);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	int e = errno;
	close(fd);
	/* Some file systems cannot sync a directory and say so; nothing more can be done. */
	if (rc != 0 && (e == EINVAL || e == ENOTSUP))
		rc = 0;
	errno = e;
	return rc;
}
