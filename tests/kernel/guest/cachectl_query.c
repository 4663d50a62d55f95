// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * QUERY on a 9p file with cache=fscache: the page cache and fscache byte
 * counts must match independent measurements (mincore() for the page cache,
 * SEEK_DATA/SEEK_HOLE on the cachefiles backing file for fscache) before
 * and after reading half the file, after dropping the page cache, and after
 * the cached data is invalidated by a change to the file.
 */
#include "cachectl_guest.h"

#define FSIZE (4 << 20)

static char path[PATH_MAX];

static int query(int fd, off_t off, off_t len, struct cachectl_args *a)
{
	memset(a, 0, sizeof(*a));
	a->offset = off;
	a->length = len;
	return fcachectl(fd, CACHECTL_OP_QUERY, a, sizeof(*a)) ? -errno : 0;
}

/* Wait until the cache writes of what we read have landed. */
static void settle(int fd, unsigned long long want)
{
	struct cachectl_args a;

	for (int i = 0; i < 100; i++) {
		if (!query(fd, 0, 0, &a) && a.fscache_bytes >= want)
			return;
		sleep_ms(100);
	}
}

/* Compare both counts with the independent measurements. */
static void check(const char *when, int fd, long long want_pc,
		  long long want_fsc)
{
	struct cachectl_args a;
	long long mc = mincore_bytes(fd), bb = backing_bytes(path);
	int r = query(fd, 0, 0, &a);

	if (bb < 0)
		bb = 0;	/* no committed backing file: nothing in the cache */
	t_ok(!r && (long long)a.pagecache_bytes == mc &&
	     (want_pc < 0 || mc == want_pc),
	     "%s: page cache %llu, mincore %lld, expected %lld", when,
	     (unsigned long long)a.pagecache_bytes, mc, want_pc);
	t_ok(!r && (long long)a.fscache_bytes == bb &&
	     (want_fsc < 0 || bb == want_fsc),
	     "%s: fscache %llu, SEEK_DATA on backing file %lld, expected %lld",
	     when, (unsigned long long)a.fscache_bytes, bb, want_fsc);
	t_ok(!r && a.file_size == FSIZE && (a.state & CACHECTL_STATE_HAS_CACHE),
	     "%s: size %llu, state %#llx has HAS_CACHE", when,
	     (unsigned long long)a.file_size, (unsigned long long)a.state);
}

/* Close, evict the inode so the object is committed, reopen. */
static int cycle(int fd)
{
	close(fd);
	drop_caches();
	return open(path, O_RDONLY);
}

int main(void)
{
	struct cachectl_args a;
	long long mc;
	int fd, wfd, r;

	t_require_fcachectl();
	t_require_9p_fscache();

	snprintf(path, sizeof(path), "%s/cachectl-query.%d", NINEP_DIR,
		 (int)getpid());
	if (make_file(path, FSIZE)) {
		printf("Bail out! cannot create %s\n", path);
		return 1;
	}
	drop_caches();
	/* Writing went through the cache too and left a dirty object.  The
	 * next lookup replaces it by an empty tmpfile, which is linked in
	 * when the cookie is withdrawn: only then does the backing file on
	 * disk show what the kernel reports. */
	fd = open(path, O_RDONLY);
	fd = cycle(fd);
	check("cold", fd, 0, 0);

	/* No readahead: read exactly the first half. */
	posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM);
	read_range(fd, 0, FSIZE / 2);
	settle(fd, FSIZE / 2);
	r = query(fd, 0, 0, &a);
	mc = mincore_bytes(fd);
	t_ok(!r && a.pagecache_bytes == FSIZE / 2 && mc == FSIZE / 2 &&
	     a.fscache_bytes == FSIZE / 2,
	     "half read, object still a tmpfile: page cache %llu (mincore %lld) fscache %llu",
	     (unsigned long long)a.pagecache_bytes, mc,
	     (unsigned long long)a.fscache_bytes);

	/* A range inside and one across the cached half. */
	r = query(fd, 1 << 20, 1 << 20, &a);
	t_ok(!r && a.pagecache_bytes == 1 << 20 && a.fscache_bytes == 1 << 20,
	     "range [1M,2M): page cache %llu fscache %llu",
	     (unsigned long long)a.pagecache_bytes,
	     (unsigned long long)a.fscache_bytes);
	r = query(fd, FSIZE / 2 - 4096, 8192, &a);
	t_ok(!r && a.pagecache_bytes == 4096 && a.fscache_bytes == 4096,
	     "range straddling the half: page cache %llu fscache %llu",
	     (unsigned long long)a.pagecache_bytes,
	     (unsigned long long)a.fscache_bytes);
	r = query(fd, FSIZE, 0, &a);
	t_ok(!r && a.pagecache_bytes == 0 && a.fscache_bytes == 0,
	     "range at EOF is empty");

	fd = cycle(fd);
	check("half read, after drop_caches", fd, 0, FSIZE / 2);

	read_range(fd, 0, FSIZE);
	settle(fd, FSIZE);
	check("whole file read", fd, FSIZE, -1);
	fd = cycle(fd);
	check("whole file read, after drop_caches", fd, 0, FSIZE);

	/* Change the file: the object is dirty and gets replaced on the next
	 * lookup, so the old data is no longer counted. */
	wfd = open(path, O_WRONLY);
	if (wfd < 0 || pwrite(wfd, "changed", 7, 4096) != 7)
		t_diag("cannot modify %s: %s", path, strerror(errno));
	close(wfd);
	fd = cycle(fd);
	r = query(fd, 0, 0, &a);
	t_ok(!r && a.fscache_bytes == 0,
	     "after invalidation: stale data no longer counted (fscache %llu)",
	     (unsigned long long)a.fscache_bytes);
	fd = cycle(fd);		/* the replacement object is committed */
	check("after invalidation", fd, 0, 0);

	read_range(fd, 0, FSIZE);
	settle(fd, FSIZE);
	fd = cycle(fd);
	check("re-read after invalidation, after drop_caches", fd, 0, FSIZE);

	close(fd);
	unlink(path);
	return t_done();
}
