/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * kcachestat - the kernel's own view of a file's page-cache residency, for
 * the cachectl CLI tests. Deliberately independent of libcachectl: it calls
 * cachestat(2) directly, so the tests compare the CLI against the kernel and
 * not against the library under test.
 *
 * usage: kcachestat [-e] [-m] [-r BYTES] FILE
 *        kcachestat [-m] FILE FILE...
 *        kcachestat -i
 *   -r BYTES  first read BYTES from the start of FILE (to warm it)
 *   -e        first evict FILE: fsync, then POSIX_FADV_DONTNEED (retried
 *             until the kernel says 0 cached or 50 tries have passed)
 *   -m        use mincore(2) instead of cachestat(2); this is also the
 *             fallback on kernels without cachestat (before 6.5)
 *   -i        print the engine this kernel gets: "cachestat" or "mincore"
 *   -p        print the indices of the pages that are NOT cached instead
 *             (diagnostics: "missing: 511 512 (2 of 768 pages)")
 *
 * With several files, prints only the cached bytes of each, one line per
 * file ("ERR" where the kernel would not say): a quick snapshot.
 *
 * Prints one line: "cached dirty writeback evicted recently_evicted", all in
 * bytes, for the whole file. mincore knows only the first: the others are
 * printed as "-". mincore is truthful only for a caller who may write the
 * file (or owns it, or is root); for others it says "all resident".
 *
 * Exit: 0 ok; 1 error (message on stderr); 2 cachestat EPERM (prints
 * "EPERM").
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef __NR_cachestat
#define __NR_cachestat 451	/* the same on every architecture */
#endif

/* Own copies of the uapi structs (include/uapi/linux/mman.h). */
struct kc_range {
	uint64_t off;
	uint64_t len;
};

struct kc_stat {
	uint64_t nr_cache;
	uint64_t nr_dirty;
	uint64_t nr_writeback;
	uint64_t nr_evicted;
	uint64_t nr_recently_evicted;
};

static int kc_cachestat(int fd, struct kc_stat *cs)
{
	struct kc_range range = { 0, 0 };	/* len 0: to the end of the file */

	memset(cs, 0, sizeof(*cs));
	return (int)syscall(__NR_cachestat, fd, &range, cs, 0);
}

/* Cached bytes by mincore(2), in 1 GiB windows so a huge sparse file
 * does not need a huge vector. */
static int kc_mincore(int fd, uint64_t *cached)
{
	static unsigned char vec[(1u << 30) / 4096];
	long page = sysconf(_SC_PAGESIZE);
	uint64_t win = (uint64_t)sizeof(vec) * (uint64_t)page;
	uint64_t off, n = 0;
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -1;
	if (win > (1u << 30))
		win = 1u << 30;
	for (off = 0; off < (uint64_t)st.st_size; off += win) {
		uint64_t len = (uint64_t)st.st_size - off;
		size_t pages, i;
		void *p;

		if (len > win)
			len = win;
		p = mmap(NULL, (size_t)len, PROT_READ, MAP_SHARED, fd, (off_t)off);
		if (p == MAP_FAILED)
			return -1;
		pages = (size_t)((len + (uint64_t)page - 1) / (uint64_t)page);
		if (mincore(p, (size_t)len, vec) < 0) {
			munmap(p, (size_t)len);
			return -1;
		}
		for (i = 0; i < pages; i++)
			n += vec[i] & 1;
		munmap(p, (size_t)len);
	}
	*cached = n * (uint64_t)page;
	return 0;
}

static int use_mincore;

/* 1 in *res if the page at off is resident, by mincore */
static int kc_mincore_range(int fd, uint64_t off, uint64_t *res)
{
	long page = sysconf(_SC_PAGESIZE);
	unsigned char v = 0;
	void *p = mmap(NULL, (size_t)page, PROT_READ, MAP_SHARED, fd, (off_t)off);

	if (p == MAP_FAILED)
		return -1;
	if (mincore(p, (size_t)page, &v) < 0) {
		munmap(p, (size_t)page);
		return -1;
	}
	munmap(p, (size_t)page);
	*res = v & 1;
	return 0;
}

/* cachestat, or mincore (fills nr_cache only) when asked or when the kernel
 * has no cachestat */
static int kc_stat(int fd, struct kc_stat *cs)
{
	if (!use_mincore) {
		if (kc_cachestat(fd, cs) == 0)
			return 0;
		if (errno != ENOSYS)
			return -1;
		use_mincore = 1;
	}
	memset(cs, 0, sizeof(*cs));
	if (kc_mincore(fd, &cs->nr_cache) < 0)
		return -1;
	cs->nr_cache /= (uint64_t)sysconf(_SC_PAGESIZE);
	return 0;
}

/* Indices of the pages of the file that are not in the page cache (for
 * diagnostics: where are the holes in a "fully" cached file?). */
static int missing_pages(int fd)
{
	long page = sysconf(_SC_PAGESIZE);
	uint64_t i, n, shown = 0;
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -1;
	n = ((uint64_t)st.st_size + (uint64_t)page - 1) / (uint64_t)page;
	printf("missing:");
	for (i = 0; i < n; i++) {
		struct kc_range range = { i * (uint64_t)page, (uint64_t)page };
		struct kc_stat cs;
		uint64_t nr = 0;

		memset(&cs, 0, sizeof(cs));
		if (use_mincore) {
			if (kc_mincore_range(fd, i * (uint64_t)page, &nr) < 0)
				return -1;
		} else {
			if (syscall(__NR_cachestat, fd, &range, &cs, 0) < 0)
				return -1;
			nr = cs.nr_cache;
		}
		if (nr)
			continue;
		if (shown++ < 64)
			printf(" %llu", (unsigned long long)i);
	}
	printf(" (%llu of %llu pages)\n", (unsigned long long)shown,
	       (unsigned long long)n);
	return 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void usage(void)
{
	fprintf(stderr, "usage: kcachestat [-e] [-m] [-r BYTES] FILE | FILE... | -i\n");
	exit(1);
}

/* One line per file for a snapshot of several: "cached" in bytes, or
 * "ERR" if the kernel would not say. */
static void snapshot(const char *path)
{
	long page = sysconf(_SC_PAGESIZE);
	struct kc_stat cs;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0 || kc_stat(fd, &cs) < 0) {
		printf("ERR\n");
	} else {
		printf("%llu\n", (unsigned long long)(cs.nr_cache * (uint64_t)page));
	}
	if (fd >= 0)
		close(fd);
}

int main(int argc, char **argv)
{
	unsigned long long readn = 0;
	int evict = 0, pages = 0, opt, fd, r;
	long page = sysconf(_SC_PAGESIZE);
	struct kc_stat cs;

	while ((opt = getopt(argc, argv, "eimpr:")) != -1) {
		switch (opt) {
		case 'p':
			pages = 1;
			break;
		case 'e':
			evict = 1;
			break;
		case 'm':
			use_mincore = 1;
			break;
		case 'i': {
			struct kc_stat dummy;

			/* an invalid fd: EBADF with cachestat, ENOSYS without */
			if (kc_cachestat(-1, &dummy) < 0 && errno == ENOSYS)
				printf("mincore\n");
			else
				printf("cachestat\n");
			return 0;
		}
		case 'r': {
			char *end;

			errno = 0;
			readn = strtoull(optarg, &end, 0);
			if (errno || *end || end == optarg)
				usage();
			break;
		}
		default:
			usage();
		}
	}
	if (optind >= argc)
		usage();
	if (optind < argc - 1) {
		/* several files: a quick snapshot, one line each */
		if (evict || readn)
			usage();
		for (; optind < argc; optind++)
			snapshot(argv[optind]);
		return 0;
	}

	fd = open(argv[optind], O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "kcachestat: %s: %s\n", argv[optind],
			strerror(errno));
		return 1;
	}

	if (kc_stat(fd, &cs) < 0) {
		if (errno == EPERM) {
			printf("EPERM\n");
			return 2;
		}
		fprintf(stderr, "kcachestat: cachestat %s: %s\n", argv[optind],
			strerror(errno));
		return 1;
	}

	if (evict) {
		/* Dirty pages are not dropped: write them back first. fsync
		 * needs no write access on Linux. */
		if (fsync(fd) < 0 && errno != EINVAL) {
			fprintf(stderr, "kcachestat: fsync: %s\n", strerror(errno));
			return 1;
		}
		for (int i = 0; i < 50; i++) {
			r = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
			if (r) {
				fprintf(stderr, "kcachestat: fadvise: %s\n",
					strerror(r));
				return 1;
			}
			if (kc_stat(fd, &cs) < 0) {
				fprintf(stderr, "kcachestat: cachestat: %s\n",
					strerror(errno));
				return 1;
			}
			if (cs.nr_cache == 0)
				break;
			/* pages still in per-CPU LRU batches or under I/O */
			sync();
			sleep_ms(20);
		}
	}

	if (readn) {
		static char buf[1 << 16];
		unsigned long long done = 0;

		while (done < readn) {
			size_t want = sizeof(buf);
			ssize_t n;

			if (readn - done < want)
				want = (size_t)(readn - done);
			n = pread(fd, buf, want, (off_t)done);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				fprintf(stderr, "kcachestat: read: %s\n",
					strerror(errno));
				return 1;
			}
			if (n == 0)
				break;
			done += (unsigned long long)n;
		}
	}

	if (kc_stat(fd, &cs) < 0) {
		fprintf(stderr, "kcachestat: cachestat: %s\n", strerror(errno));
		return 1;
	}
	if (pages) {
		r = missing_pages(fd);
		close(fd);
		return r < 0 ? 1 : 0;
	}
	if (use_mincore) {
		printf("%llu - - - -\n",
		       (unsigned long long)(cs.nr_cache * (uint64_t)page));
		close(fd);
		return 0;
	}
	printf("%llu %llu %llu %llu %llu\n",
	       (unsigned long long)(cs.nr_cache * (uint64_t)page),
	       (unsigned long long)(cs.nr_dirty * (uint64_t)page),
	       (unsigned long long)(cs.nr_writeback * (uint64_t)page),
	       (unsigned long long)(cs.nr_evicted * (uint64_t)page),
	       (unsigned long long)(cs.nr_recently_evicted * (uint64_t)page));
	close(fd);
	return 0;
}
