/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * residency.h - ground truth for the benchmark: how many pages of a file
 * the kernel holds in the page cache.
 *
 * Independent of libcachectl on purpose: the benchmark must not trust the
 * code it measures.  Two questions, two calls:
 *  - "is anything of this file left in the cache" (eviction): cachestat(2)
 *    (syscall 451, Linux >= 6.5) nr_cache, which also counts pages whose
 *    read is in flight, and nr_evicted (shadow entries);
 *  - "is the data there yet" (time-to-resident): mmap+mincore, which counts
 *    only uptodate pages.
 * The bench runs as root, where mincore is truthful (it only lies to
 * callers that cannot write the file: it reports them all resident).
 */
#ifndef BENCH_RESIDENCY_H
#define BENCH_RESIDENCY_H

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
#define __NR_cachestat 451
#endif

struct bench_cs_range { uint64_t off, len; };
struct bench_cs {
	uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
};

static int bench_have_cachestat = -1; /* -1 unknown, 0 no, 1 yes */
static long bench_pagesize;

static inline double bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static inline uint64_t bench_file_pages(uint64_t size)
{
	if (!bench_pagesize)
		bench_pagesize = sysconf(_SC_PAGESIZE);
	return (size + bench_pagesize - 1) / bench_pagesize;
}

/*
 * Pages of an open file whose data is in memory and valid (uptodate), by
 * mmap + mincore, in 1 GiB windows to bound the vector.  mincore tests
 * folio_test_uptodate(), so a page that readahead has inserted into the
 * cache but whose read is still in flight is NOT counted.  That is the
 * question "is the data resident yet" asks after an asynchronous prefetch.
 * Truthful for root and for callers that may write the file.
 */
static inline int64_t bench_uptodate_pages(int fd, uint64_t size)
{
	const uint64_t win = 1ULL << 30;
	uint64_t off;
	int64_t n = 0;
	unsigned char *vec;

	if (!bench_pagesize)
		bench_pagesize = sysconf(_SC_PAGESIZE);
	if (size == 0)
		return 0;
	vec = malloc(win / bench_pagesize);
	if (!vec)
		return -1;
	for (off = 0; off < size; off += win) {
		uint64_t len = size - off < win ? size - off : win;
		uint64_t i, np = (len + bench_pagesize - 1) / bench_pagesize;
		void *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, (off_t)off);
		if (p == MAP_FAILED) {
			free(vec);
			return -1;
		}
		if (mincore(p, len, vec) < 0) {
			int e = errno;
			munmap(p, len);
			free(vec);
			errno = e;
			return -1;
		}
		for (i = 0; i < np; i++)
			n += vec[i] & 1;
		munmap(p, len);
	}
	free(vec);
	return n;
}

/*
 * Pages of an open file of the given size that are in the page cache
 * (cachestat nr_cache: present in the mapping, including pages whose read
 * is still in flight); -1 with errno on error.  When evicted is not NULL it
 * receives cachestat's nr_evicted: shadow entries, i.e. pages that were in
 * the cache and were reclaimed (by memory reclaim, kswapd or DAMON;
 * POSIX_FADV_DONTNEED leaves no shadow).  Without cachestat (Linux < 6.5)
 * this is the mincore count and *evicted is 0.
 */
static inline int64_t bench_cached_pages2(int fd, uint64_t size, uint64_t *evicted)
{
	if (evicted)
		*evicted = 0;
	if (size == 0)
		return 0;
	if (bench_have_cachestat != 0) {
		struct bench_cs_range r = { 0, 0 };
		struct bench_cs cs;
		memset(&cs, 0, sizeof(cs));
		if (syscall(__NR_cachestat, fd, &r, &cs, 0) == 0) {
			bench_have_cachestat = 1;
			if (evicted)
				*evicted = cs.nr_evicted;
			return (int64_t)cs.nr_cache;
		}
		if (errno != ENOSYS)
			return -1;
		bench_have_cachestat = 0;
	}
	return bench_uptodate_pages(fd, size);
}

static inline int64_t bench_cached_pages(int fd, uint64_t size)
{
	return bench_cached_pages2(fd, size, NULL);
}

static inline const char *bench_engine(void)
{
	return bench_have_cachestat == 1 ? "cachestat" :
	       bench_have_cachestat == 0 ? "mincore" : "unknown";
}

/*
 * Path lists, loaded whole: NUL-separated (as `find -print0` writes them)
 * or, when the file holds no NUL at all, one path per line.  Returns an
 * array of pointers into one buffer; *n set to the count.
 */
static inline char **bench_load_list(const char *path, size_t *n)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL, **v = NULL;
	size_t cap = 0, len = 0, i, cnt = 0, k = 0;
	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		size_t r;
		if (len + 65536 + 1 > cap) {
			cap = cap ? cap * 2 : 1 << 20;
			buf = realloc(buf, cap);
			if (!buf) {
				fclose(f);
				return NULL;
			}
		}
		r = fread(buf + len, 1, 65536, f);
		len += r;
		if (r == 0)
			break;
	}
	fclose(f);
	if (!memchr(buf, '\0', len))
		for (i = 0; i < len; i++)
			if (buf[i] == '\n')
				buf[i] = '\0';
	if (len && buf[len - 1] != '\0')
		buf[len++] = '\0';
	for (i = 0; i < len; i++)
		if (buf[i] == '\0')
			cnt++;
	v = malloc((cnt + 1) * sizeof(*v));
	if (!v)
		return NULL;
	for (i = 0; i < len;) {
		size_t l = strlen(buf + i);
		if (l)
			v[k++] = buf + i;
		i += l + 1;
	}
	v[k] = NULL;
	*n = k;
	return v;
}

#endif
