/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * evict - make files data-cold for the benchmark, and prove it.
 *
 *   evict [-S] [-R ROUNDS] -l LIST      (LIST: NUL-separated paths)
 *   evict [-S] [-R ROUNDS] PATH...
 *
 * 1. syncfs() the filesystem of the first file (unless -S), so no page is
 *    dirty (POSIX_FADV_DONTNEED skips dirty pages);
 * 2. per file: open, posix_fadvise(DONTNEED), then ask the kernel
 *    (cachestat(2), mincore fallback) how many pages are still cached;
 * 3. files with pages left (e.g. still locked for read I/O) are retried,
 *    up to ROUNDS rounds (default 30) with a growing pause.
 * 4. files with shadow entries (cachestat nr_evicted > 0: pages that memory
 *    reclaim, kswapd or a DAMON pageout scheme, took out earlier) are read
 *    once and dropped again, because a DONTNEED leaves no shadow: after this
 *    every file has 0 cached pages AND 0 shadow entries, so `measure` can
 *    count pages that a tool brought in and that background reclaim took
 *    out again before the check (nr_cache + nr_evicted).  Not done with -E.
 *
 * Prints one line "evict files=N ... residual_files=F residual_pages=P" and
 * exits 0 when every file has 0 cached pages, 2 when some pages stayed
 * (the bench then aborts that sample), 1 on errors.
 */
#include "residency.h"
#include <getopt.h>

int main(int argc, char **argv)
{
	const char *list = NULL;
	int do_sync = 1, rounds = 30, opt, round, errors = 0, shadows = 1;
	uint64_t resid_shadow = 0;
	size_t reread = 0;
	static char buf[1 << 20];
	char **paths;
	size_t n = 0, i, npend;
	size_t *pend;
	uint64_t resid_pages = 0, total_pages = 0;
	double t0 = bench_now();

	while ((opt = getopt(argc, argv, "SEl:R:h")) != -1) {
		switch (opt) {
		case 'S': do_sync = 0; break;
		case 'E': shadows = 0; break;
		case 'l': list = optarg; break;
		case 'R': rounds = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: evict [-S] [-E] [-R ROUNDS] (-l LIST | PATH...)\n");
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
	if (n == 0) {
		fprintf(stderr, "evict: no files\n");
		return 1;
	}
	if (do_sync) {
		int fd = open(paths[0], O_RDONLY | O_NOATIME | O_CLOEXEC);
		if (fd >= 0) {
			syncfs(fd);
			close(fd);
		} else {
			sync();
		}
	}
	pend = malloc(n * sizeof(*pend));
	if (!pend)
		return 1;
	for (i = 0; i < n; i++)
		pend[i] = i;
	npend = n;
	for (round = 0; round <= rounds && npend; round++) {
		size_t k = 0, j;
		if (round)
			usleep(1000 * (round < 10 ? 5 * round : 100));
		resid_pages = 0;
		resid_shadow = 0;
		for (j = 0; j < npend; j++) {
			const char *p = paths[pend[j]];
			struct stat st;
			int64_t c;
			uint64_t ev = 0;
			int fd = open(p, O_RDONLY | O_NOATIME | O_CLOEXEC | O_NOFOLLOW);
			if (fd < 0) {
				fprintf(stderr, "evict: %s: %s\n", p, strerror(errno));
				errors++;
				continue;
			}
			if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
				close(fd);
				continue;
			}
			if (round == 0)
				total_pages += bench_file_pages(st.st_size);
			if (round > 0 && do_sync)
				fdatasync(fd);
			posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
			c = bench_cached_pages2(fd, st.st_size, &ev);
			if (c == 0 && ev > 0 && shadows) {
				/* refault the reclaimed pages (consumes the shadows),
				 * then drop them without leaving new ones */
				off_t o = 0;
				ssize_t r;
				while ((r = pread(fd, buf, sizeof(buf), o)) > 0)
					o += r;
				reread++;
				posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
				c = bench_cached_pages2(fd, st.st_size, &ev);
			}
			close(fd);
			if (c < 0) {
				fprintf(stderr, "evict: %s: residency: %s\n", p, strerror(errno));
				errors++;
				continue;
			}
			if (c > 0 || (shadows && ev > 0)) {
				pend[k++] = pend[j];
				resid_pages += c;
				resid_shadow += ev;
			}
		}
		npend = k;
	}
	printf("evict files=%zu pages=%llu rounds=%d residual_files=%zu residual_pages=%llu "
	       "residual_shadows=%llu reread_files=%zu errors=%d engine=%s secs=%.3f\n", n,
	       (unsigned long long)total_pages, round, npend, (unsigned long long)resid_pages,
	       (unsigned long long)resid_shadow, reread, errors, bench_engine(), bench_now() - t0);
	if (npend) {
		for (i = 0; i < npend && i < 5; i++)
			fprintf(stderr, "evict: %s: pages still cached (or shadow entries left)\n", paths[pend[i]]);
		return 2;
	}
	return errors ? 1 : 0;
}
