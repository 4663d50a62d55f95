/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * floor.h - what the floor programs share: the list, split by directory.
 */
#ifndef BENCH_FLOOR_H
#define BENCH_FLOOR_H

#include "residency.h"

/*
 * Each file is opened by its name in its directory, as a walk would: a
 * whole path would look up (and over FUSE, revalidate) every directory on
 * the way once per file.  The list names a directory's files one after
 * the other, so each directory is opened once, here, before the clock of
 * the work proper.  paths[i] becomes the name, (*dirfd)[i] its directory.
 */
static inline int bench_open_dirs(char **paths, size_t n, int **dirfd)
{
	const char *dir = NULL;
	size_t i;
	int fd = -1;

	*dirfd = calloc(n ? n : 1, sizeof(**dirfd));
	if (!*dirfd)
		return -1;
	for (i = 0; i < n; i++) {
		char *slash = strrchr(paths[i], '/');

		if (!slash) {
			(*dirfd)[i] = AT_FDCWD;
			continue;
		}
		*slash = '\0';
		if (!dir || strcmp(dir, paths[i])) {
			dir = paths[i];
			fd = open(*dir ? dir : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
			if (fd < 0) {
				fprintf(stderr, "%s: %s\n", dir, strerror(errno));
				return -1;
			}
		}
		(*dirfd)[i] = fd;
		paths[i] = slash + 1;
	}
	return 0;
}

#endif
