/* label_int.h — helpers private to src/label: whole writes and directory syncs shared by the
 * chunk files and the manifest. Not for the label engine. */
#ifndef FERRY_LABEL_INT_H
#define FERRY_LABEL_INT_H

#include "label.h"

/* In a fuzzing build checksums are computed but not enforced, so that mutated inputs get
 * past them into the decompressor, the row decoder and the field checks (the usual
 * FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION convention). Never defined in a real build. */
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
#define FERRY_LABEL_SUM_OK(a, b) ((void)(a), (void)(b), 1)
#else
#define FERRY_LABEL_SUM_OK(a, b) ((a) == (b))
#endif

/* write(2) all of it, retrying short writes and EINTR; -1 with errno on failure. */
int ferry_label__write_all(int fd, const void *data, size_t n);
/* fsync the directory holding path, so a rename in it is durable. -1 with errno. */
int ferry_label__fsync_dir(const char *path);
/* A stage name as the plan allows it: [A-Za-z0-9_.-]+, not starting with ".". */
int ferry_label__stage_name_ok(const char *name);

#endif
