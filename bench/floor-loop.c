/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * floor-loop - the floor: the fewest syscalls per file that do the job,
 * over a list made before the clock starts, on one or more threads.
 *
 *   floor-loop -m MODE [-t THREADS] LIST
 *
 * LIST holds NUL- or newline-separated paths, each opened by its name in
 * its directory (opened once).  Per file, three syscalls:
 *
 *   willneed   open + posix_fadvise(0, 0, WILLNEED) + close
 *   readahead  open + readahead(2) + close
 *   cachestat  open + cachestat(2) + close   (the warm query)
 *
 * One advice call per file: the kernel caps it at the larger of the
 * device's read_ahead_kb and max_sectors_kb, far above the bench trees'
 * file sizes.  Whether the data came in is for the bench to check
 * (measure.c), not for this program.  Threads take the list in slices, so
 * a slow file holds up no other thread.
 *
 * Prints "files=N pages=P errors=E" (P: cachestat's nr_cache summed, for
 * cachestat mode) and exits 1 if any file failed.
 */
#include "floor.h"
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>

#define SLICE 32

enum mode { M_WILLNEED, M_READAHEAD, M_CACHESTAT };

struct job {
	char **paths;		/* names in their directories */
	int *dirfd;
	size_t n;
	enum mode mode;
	atomic_size_t next;
	atomic_ullong pages;
	atomic_ullong errors;
};

/* The one call between open and close; pages cached, or -1. */
static int64_t one_file(int fd, enum mode mode)
{
	struct bench_cs_range r = { 0, 0 };
	struct bench_cs cs;

	switch (mode) {
	case M_WILLNEED:
		return posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED) ? -1 : 0;
	case M_READAHEAD:
		/* any count past EOF; the kernel stops at i_size */
		return readahead(fd, 0, 1UL << 30) ? -1 : 0;
	case M_CACHESTAT:
		if (syscall(__NR_cachestat, fd, &r, &cs, 0))
			return -1;
		return (int64_t)cs.nr_cache;
	}
	return -1;
}

static void *worker(void *arg)
{
	struct job *j = arg;
	unsigned long long pages = 0, errors = 0;
	size_t i, end;

	for (;;) {
		i = atomic_fetch_add(&j->next, SLICE);
		if (i >= j->n)
			break;
		end = i + SLICE < j->n ? i + SLICE : j->n;
		for (; i < end; i++) {
			int64_t r;
			int fd = openat(j->dirfd[i], j->paths[i],
					O_RDONLY | O_NOATIME | O_CLOEXEC);

			if (fd < 0) {
				errors++;
				continue;
			}
			r = one_file(fd, j->mode);
			if (r < 0)
				errors++;
			else
				pages += r;
			close(fd);
		}
	}
	atomic_fetch_add(&j->pages, pages);
	atomic_fetch_add(&j->errors, errors);
	return NULL;
}

static int parse_mode(const char *s, enum mode *m)
{
	if (!strcmp(s, "willneed"))
		*m = M_WILLNEED;
	else if (!strcmp(s, "readahead"))
		*m = M_READAHEAD;
	else if (!strcmp(s, "cachestat"))
		*m = M_CACHESTAT;
	else
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	static struct job j;
	pthread_t *tids;
	int opt, nthreads = 1, t, err;
	const char *mode = NULL;

	while ((opt = getopt(argc, argv, "m:t:h")) != -1) {
		switch (opt) {
		case 'm': mode = optarg; break;
		case 't': nthreads = atoi(optarg); break;
		default:
			goto usage;
		}
	}
	if (!mode || parse_mode(mode, &j.mode) || nthreads < 1 || optind != argc - 1)
		goto usage;
	j.paths = bench_load_list(argv[optind], &j.n);
	if (!j.paths || bench_open_dirs(j.paths, j.n, &j.dirfd))
		return 1;
	tids = calloc(nthreads, sizeof(*tids));
	if (!tids)
		return 1;
	/* the calling thread is worker 0 */
	for (t = 1; t < nthreads; t++) {
		err = pthread_create(&tids[t], NULL, worker, &j);
		if (err) {
			fprintf(stderr, "floor-loop: pthread_create: %s\n", strerror(err));
			return 1;
		}
	}
	worker(&j);
	for (t = 1; t < nthreads; t++)
		pthread_join(tids[t], NULL);
	printf("files=%zu pages=%llu errors=%llu\n", j.n,
	       (unsigned long long)j.pages, (unsigned long long)j.errors);
	return j.errors ? 1 : 0;
usage:
	fprintf(stderr, "usage: floor-loop -m willneed|readahead|cachestat [-t THREADS] LIST\n");
	return opt == 'h' ? 0 : 1;
}
