// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The library against the running kernel, whichever backend it picks (or
 * CACHECTL_BACKEND forces): residency checked with mincore(2) done here,
 * not by the library. In the kernel suite's guest this runs once per
 * backend with CACHECTL_TEST_DIR on a 9p mount with fscache, where the
 * kernel backend must also report and fill the fscache object.
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include <libcachectl/libcachectl.h>
#include "mincore-oracle.h"

#define KiB 1024ull
#define MiB (1024ull * KiB)
#define FILE_SIZE (4 * MiB + 12345)	/* not a page multiple */
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

static char dir[4096];
static char path[4200];

static bool fcachectl_present(void)
{
	/* PROBE (op 0) answers with this magic at 463: see fcachectl(2) */
	return syscall(463, -1, 0, NULL, 0) == 0x63630001;
}

static int expected_backend(void)
{
	const char *env = getenv("CACHECTL_BACKEND");

	if (env && !strcmp(env, "shim"))
		return CACHECTL_BACKEND_SHIM;
	if (fcachectl_present())
		return CACHECTL_BACKEND_KERNEL;
	return env && !strcmp(env, "kernel") ? -EOPNOTSUPP
					      : CACHECTL_BACKEND_SHIM;
}

static int setup(void **state)
{
	const char *base = getenv("CACHECTL_TEST_DIR");
	char buf[64 * 1024];
	uint64_t done = 0;
	int fd;

	snprintf(dir, sizeof(dir), "%s/cachectl-backend-XXXXXX",
		 base && *base ? base : "/tmp");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/data", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return -1;
	memset(buf, 'x', sizeof(buf));
	while (done < FILE_SIZE) {
		size_t n = FILE_SIZE - done < sizeof(buf) ? FILE_SIZE - done
							  : sizeof(buf);
		if (write(fd, buf, n) != (ssize_t)n)
			return -1;
		done += n;
	}
	if (fsync(fd) < 0 || close(fd) < 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	unlink(path);
	rmdir(dir);
	return 0;
}

/* Open the test file with nothing of it in the page cache. */
static int open_cold(void)
{
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
	return fd;
}

static void backend_is_the_expected_one(void **state)
{
	struct cachectl_ctx *ctx;
	unsigned int feat = 0;
	int b = expected_backend();

	assert_int_equal(cachectl_new(&ctx), 0);
	assert_int_equal(cachectl_backend_probe(ctx, &feat), b);
	if (b > 0)
		assert_int_equal(!!(feat & CACHECTL_FEATURE_SYSCALL),
				 fcachectl_present());
	cachectl_unref(ctx);
	print_message("# backend %s, fcachectl %s, dir %s\n",
		      b > 0 ? cachectl_backend_name(b) : "none",
		      fcachectl_present() ? "present" : "absent", dir);
}

static void query_agrees_with_mincore(void **state)
{
	struct cachectl_residency r;
	struct cachectl_ctx *ctx;
	uint64_t before, after;
	char buf[64 * 1024];
	int fd, i;

	if (expected_backend() < 0)
		skip();
	assert_int_equal(cachectl_new(&ctx), 0);
	fd = open_cold();
	/* read the first MiB: 16 reads of 64 KiB */
	for (i = 0; i < 16; i++)
		assert_int_equal(pread(fd, buf, sizeof(buf), i * sizeof(buf)),
				 (ssize_t)sizeof(buf));
	/*
	 * Readahead may still be landing, and pages come and go behind it
	 * (the network filesystem's cache writes, reclaim on a loaded host):
	 * the answer must lie between two looks of mincore around it, once
	 * the page cache holds still long enough for the three looks.
	 */
	for (i = 0; i < 20; i++) {
		before = mincore_bytes(fd, FILE_SIZE);
		assert_int_equal(cachectl_file_query(ctx, fd, 0, 0, 0, &r,
						     sizeof(r)), 0);
		after = mincore_bytes(fd, FILE_SIZE);
		if (r.cached >= MIN(before, after) &&
		    r.cached <= MAX(before, after))
			break;
		print_message("# mincore %llu before, %llu after; query %llu\n",
			      (unsigned long long)before,
			      (unsigned long long)after,
			      (unsigned long long)r.cached);
		usleep(100 * 1000);
	}
	assert_false(r.flags & CACHECTL_RES_UNKNOWN);
	assert_int_equal(r.size, FILE_SIZE);
	assert_true(r.cached >= MIN(before, after) &&
		    r.cached <= MAX(before, after));
	assert_true(r.cached >= MiB);
	assert_int_equal(!!(r.flags & CACHECTL_RES_FSCACHE),
			 expected_backend() == CACHECTL_BACKEND_KERNEL);
	close(fd);
	cachectl_unref(ctx);
}

static void prefetch_wait_fills_the_caches(void **state)
{
	struct cachectl_residency r;
	struct cachectl_ctx *ctx;
	uint64_t bytes = 0;
	int fd;

	if (expected_backend() < 0)
		skip();
	assert_int_equal(cachectl_new(&ctx), 0);
	fd = open_cold();
	assert_int_equal(cachectl_file_prefetch(ctx, fd, 0, 0,
						CACHECTL_FILE_PREFETCH_WAIT,
						&bytes), 0);
	assert_true(bytes > 0);
	assert_int_equal(mincore_bytes(fd, FILE_SIZE),
			 (FILE_SIZE + 4095) / 4096 * 4096);
	assert_int_equal(cachectl_file_query(ctx, fd, 0, 0, 0, &r, sizeof(r)),
			 0);
	assert_true(r.cached >= r.range);
	if (r.cache_state & CACHECTL_CACHE_OBJECT) {
		/* WAIT waited for the cache writes as well */
		print_message("# fscache %llu of %llu bytes, cache %llx\n",
			      (unsigned long long)r.fscache,
			      (unsigned long long)r.range,
			      (unsigned long long)r.cache_id);
		/*
		 * cachefiles may drop a partial last block it cannot
		 * extend to a whole one (NFS on 6.12): the whole pages
		 * before it are all there is then
		 */
		assert_true(r.fscache >= r.range / 4096 * 4096);
	}
	close(fd);
	cachectl_unref(ctx);
}

static void pin_where_fscache_is(void **state)
{
	struct cachectl_residency r;
	struct cachectl_ctx *ctx;
	int fd, b = expected_backend();

	if (b < 0)
		skip();
	assert_int_equal(cachectl_new(&ctx), 0);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(cachectl_file_query(ctx, fd, 0, 0, 0, &r, sizeof(r)),
			 0);
	if (b == CACHECTL_BACKEND_SHIM || !(r.cache_state &
					    CACHECTL_CACHE_OBJECT)) {
		/* nothing to pin: the shim cannot, local files have no object */
		assert_int_equal(cachectl_file_pin(ctx, fd, 0), -EOPNOTSUPP);
		assert_int_equal(cachectl_cache_set_culling(ctx, fd, 1),
				 -EOPNOTSUPP);
	} else {
		assert_int_equal(cachectl_file_pin(ctx, fd, 0), 0);
		assert_int_equal(cachectl_file_query(ctx, fd, 0, 0, 0, &r,
						     sizeof(r)), 0);
		assert_true(r.cache_state & CACHECTL_CACHE_PINNED);
		assert_int_equal(cachectl_file_unpin(ctx, fd, 0), 0);
		assert_int_equal(cachectl_file_query(ctx, fd, 0, 0, 0, &r,
						     sizeof(r)), 0);
		assert_false(r.cache_state & CACHECTL_CACHE_PINNED);
	}
	close(fd);
	cachectl_unref(ctx);
}

static void walk_matches_file_query(void **state)
{
	struct cachectl_totals t;
	struct cachectl_walk *w;
	struct cachectl_ctx *ctx;
	int b = expected_backend();

	if (b < 0)
		skip();
	assert_int_equal(cachectl_new(&ctx), 0);
	assert_int_equal(cachectl_walk_new(ctx, CACHECTL_WALK_RECURSIVE, &w),
			 0);
	assert_int_equal(cachectl_walk_add_path(w, dir), 0);
	assert_int_equal(cachectl_walk_run(w, CACHECTL_WALK_OP_PREFETCH, 0, NULL,
					   NULL), 0);
	assert_int_equal(cachectl_walk_get_totals(w, &t, sizeof(t)), 0);
	assert_int_equal(t.files, 1);
	assert_int_equal(t.errors, 0);
	assert_int_equal(t.size, FILE_SIZE);
	/* a prefetch walk ends with the data in (both caches if any) */
	assert_true(t.cached >= FILE_SIZE);
	cachectl_walk_unref(w);
	cachectl_unref(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(backend_is_the_expected_one),
		cmocka_unit_test(query_agrees_with_mincore),
		cmocka_unit_test(prefetch_wait_fills_the_caches),
		cmocka_unit_test(pin_where_fscache_is),
		cmocka_unit_test(walk_matches_file_query),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
