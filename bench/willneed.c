/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * willneed - reference prefetcher: the simplest loop a program could use.
 *
 *   willneed -l LIST        (LIST: NUL-separated paths)
 *   willneed PATH...
 *
 * Per file, one thread: open(O_RDONLY|O_NOATIME), fstat,
 * posix_fadvise(WILLNEED) in 8 MiB pieces (one call is capped at the
 * readahead window), close.  No residency check, no
 * io_uring, no waiting for the I/O.  The bench shows it beside cachectl as
 * a point of reference for what plain syscalls reach on the machine; it is
 * not part of any acceptance figure.
 */
#include "residency.h"
#include <getopt.h>

int main(int argc, char **argv)
{
	const char *list = NULL;
	char **paths;
	size_t n = 0, i;
	int opt, errors = 0;
	const off_t chunk = 8 << 20;

	while ((opt = getopt(argc, argv, "l:h")) != -1) {
		switch (opt) {
		case 'l': list = optarg; break;
		default:
			fprintf(stderr, "usage: willneed (-l LIST | PATH...)\n");
			return opt == 'h' ? 0 : 1;
		}
	}
	if (list) {
		paths = bench_load_list(list, &n);
		if (!paths)
			return 1;
	} else {
		paths = argv + optind;
		n = argc - optind;
	}
	for (i = 0; i < n; i++) {
		struct stat st;
		off_t o;
		int fd = open(paths[i], O_RDONLY | O_NOATIME | O_CLOEXEC);
		if (fd < 0) {
			errors++;
			continue;
		}
		if (fstat(fd, &st) == 0)
			for (o = 0; o < st.st_size; o += chunk)
				posix_fadvise(fd, o, chunk, POSIX_FADV_WILLNEED);
		close(fd);
	}
	return errors ? 1 : 0;
}
