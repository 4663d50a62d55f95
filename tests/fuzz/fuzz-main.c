// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A harness without libFuzzer: run it over files and directories of
 * inputs once each, so every build checks the seed corpus (and the
 * inputs that once crashed) and keeps the harnesses compiling.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int run_file(int dfd, const char *name)
{
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	ssize_t n;
	int fd;

	fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		if (cap - len < 65536) {
			uint8_t *b = realloc(buf, cap + 65536);

			if (!b) {
				n = -1;
				errno = ENOMEM;
				break;
			}
			buf = b;
			cap += 65536;
		}
		n = read(fd, buf + len, cap - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (n < 0) {
		free(buf);
		return -errno;
	}
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long runs = 0;
	int i, r = 0;

	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	for (i = 1; i < argc; i++) {
		struct stat st;
		struct dirent *e;
		DIR *d;

		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			r = run_file(AT_FDCWD, argv[i]);
			if (r < 0)
				break;
			runs++;
			continue;
		}
		d = opendir(argv[i]);
		if (!d) {
			r = -errno;
			break;
		}
		while ((e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			r = run_file(dirfd(d), e->d_name);
			if (r < 0)
				break;
			runs++;
		}
		closedir(d);
		if (r < 0)
			break;
	}
	if (r < 0) {
		fprintf(stderr, "%s: %s\n", argv[i], strerror(-r));
		return 1;
	}
	printf("%lu inputs\n", runs);
	return runs ? 0 : 1;
}
