// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * PREFETCH of a 64 MiB 9p file: with CACHECTL_PREFETCH_WAIT the call
 * returns only when the data is in the page cache and written to fscache;
 * afterwards the backing file holds all of it (SEEK_DATA).  Without the
 * flag the call returns early and the cache fills up behind it.
 */
#include "cachectl_guest.h"

#define FSIZE (64LL << 20)

static char path[PATH_MAX];

static int prefetch(int fd, off_t off, off_t len, unsigned long long flags,
		    struct cachectl_args *a)
{
	memset(a, 0, sizeof(*a));
	a->offset = off;
	a->length = len;
	a->flags = flags;
	return fcachectl(fd, CACHECTL_OP_PREFETCH, a, sizeof(*a)) ? -errno : 0;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(void)
{
	struct cachectl_args a;
	long long wr0, wr1, bb;
	double t0, t1;
	int fd, r, i;

	t_require_fcachectl();
	t_require_9p_fscache();

	snprintf(path, sizeof(path), "%s/cachectl-prefetch.%d", NINEP_DIR,
		 (int)getpid());
	if (make_file(path, FSIZE)) {
		printf("Bail out! cannot create %s\n", path);
		return 1;
	}
	drop_caches();

	fd = open(path, O_RDONLY);
	memset(&a, 0, sizeof(a));
	r = fcachectl(fd, CACHECTL_OP_QUERY, &a, sizeof(a));
	t_diag("before: page cache %llu fscache %llu",
	       (unsigned long long)a.pagecache_bytes,
	       (unsigned long long)a.fscache_bytes);

	/* Part of the file is already in the page cache but not in fscache:
	 * PREFETCH must still get it into fscache. */
	read_range(fd, 0, 1 << 20);

	wr0 = fscache_stat("IO", "wr");
	t0 = now();
	r = prefetch(fd, 0, 0, CACHECTL_PREFETCH_WAIT, &a);
	t1 = now();
	wr1 = fscache_stat("IO", "wr");
	t_ok(r == 0, "PREFETCH|WAIT of 64 MiB: %s (%.2fs, IO wr %lld -> %lld)",
	     r ? strerror(-r) : "ok", t1 - t0, wr0, wr1);
	/* The answer is taken after waiting: everything must be there now. */
	t_ok(a.pagecache_bytes == FSIZE && a.fscache_bytes == FSIZE,
	     "on return: page cache %llu, fscache %llu, want %lld",
	     (unsigned long long)a.pagecache_bytes,
	     (unsigned long long)a.fscache_bytes, FSIZE);
	t_ok(mincore_bytes(fd) == FSIZE, "mincore agrees (%lld)",
	     mincore_bytes(fd));
	memset(&a, 0, sizeof(a));
	r = fcachectl(fd, CACHECTL_OP_QUERY, &a, sizeof(a));
	t_ok(!r && a.fscache_bytes == FSIZE, "QUERY after PREFETCH: fscache %llu",
	     (unsigned long long)a.fscache_bytes);

	close(fd);
	drop_caches();
	bb = backing_bytes(path);
	t_ok(bb == FSIZE, "backing file is 100%% data after withdrawal (%lld)",
	     bb);

	fd = open(path, O_RDONLY);
	memset(&a, 0, sizeof(a));
	r = fcachectl(fd, CACHECTL_OP_QUERY, &a, sizeof(a));
	t_ok(!r && a.fscache_bytes == FSIZE && a.pagecache_bytes == 0,
	     "re-lookup: fscache %llu page cache %llu",
	     (unsigned long long)a.fscache_bytes,
	     (unsigned long long)a.pagecache_bytes);

	/* Prefetch a range from the cache into the page cache. */
	r = prefetch(fd, 8 << 20, 8 << 20, CACHECTL_PREFETCH_WAIT, &a);
	t_ok(!r && a.pagecache_bytes == 8 << 20,
	     "ranged PREFETCH [8M,16M): page cache %llu",
	     (unsigned long long)a.pagecache_bytes);
	close(fd);
	unlink(path);

	/* Without WAIT: returns, then the data arrives. */
	snprintf(path, sizeof(path), "%s/cachectl-prefetch-nw.%d", NINEP_DIR,
		 (int)getpid());
	if (make_file(path, 16 << 20)) {
		printf("Bail out! cannot create %s\n", path);
		return 1;
	}
	drop_caches();
	fd = open(path, O_RDONLY);
	r = prefetch(fd, 0, 0, 0, &a);
	t_ok(r == 0, "PREFETCH without WAIT returns 0");
	for (i = 0; i < 300; i++) {
		memset(&a, 0, sizeof(a));
		fcachectl(fd, CACHECTL_OP_QUERY, &a, sizeof(a));
		if (a.fscache_bytes == 16 << 20)
			break;
		sleep_ms(100);
	}
	t_ok(a.fscache_bytes == 16 << 20 && a.pagecache_bytes == 16 << 20,
	     "without WAIT the cache fills in the background (%llu after %d ms)",
	     (unsigned long long)a.fscache_bytes, i * 100);
	close(fd);
	unlink(path);
	return t_done();
}
