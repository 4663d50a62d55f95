// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The mount table, as the library reads it through libmount to find
 * the fscache-backed mounts: whatever the file holds, the answer is a
 * NULL-terminated list of mount points.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "cachectl-private.h"
#include "fuzz.h"

static char path[64];

static void cleanup(void)
{
	unlink(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int fd;

	snprintf(path, sizeof(path), "%s/fuzz-mountinfo.XXXXXX",
		 access("/dev/shm", W_OK) ? "/tmp" : "/dev/shm");
	fd = mkstemp(path);
	fuzz_check(fd >= 0);
	close(fd);
	setenv("CACHECTL_MOUNTINFO", path, 1);
	atexit(cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char **v;
	size_t i;
	int fd;

	if (!*path)
		LLVMFuzzerInitialize(NULL, NULL);
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	fuzz_check(fd >= 0);
	fuzz_check(write(fd, data, size) == (ssize_t)size);
	close(fd);

	v = cachectl__fscache_mounts();
	for (i = 0; v && v[i]; i++) {
		fuzz_check(*v[i]);
		free(v[i]);
	}
	free(v);
	return 0;
}
