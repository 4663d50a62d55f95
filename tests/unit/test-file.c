// SPDX-License-Identifier: LGPL-2.1-or-later
/* Per-file query, prefetch and evict against the scripted kernel. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>
#include <cmocka.h>
#include <sys/capability.h>

#include "fake-kernel.h"

#define MiB (1ull << 20)

struct fixture {
	struct cachectl_ctx *ctx;
	int fd;
};

static int setup(void **state)
{
	static struct fixture f;
	char path[] = "/tmp/cachectl-unit-XXXXXX";

	assert_int_equal(cachectl_new(&f.ctx), 0);
	cachectl__ctx_set_sysops(f.ctx, &fake_sysops);
	f.fd = mkstemp(path);
	assert_true(f.fd >= 0);
	unlink(path);
	fake_reset(20 * MiB);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	close(f->fd);
	assert_null(cachectl_unref(f->ctx));
	return 0;
}

static void query_counts_bytes(void **state)
{
	struct fixture *f = *state;
	struct cachectl_residency r;
	int i;

	for (i = 0; i < 256; i++)	/* first MiB */
		fk.resident[i] = true;
	assert_int_equal(cachectl_file_query(f->ctx, f->fd, 0, 0, 0, &r,
					     sizeof(r)), 0);
	assert_int_equal(r.size, 20 * MiB);
	assert_int_equal(r.range, 20 * MiB);
	assert_int_equal(r.cached, MiB);
	assert_false(r.flags & CACHECTL_RES_UNKNOWN);

	/* a range: only the bytes in it count */
	assert_int_equal(cachectl_file_query(f->ctx, f->fd, MiB / 2, MiB, 0,
					     &r, sizeof(r)), 0);
	assert_int_equal(r.range, MiB);
	assert_int_equal(r.cached, MiB / 2);
}

static void query_eperm_is_unknown(void **state)
{
	struct fixture *f = *state;
	struct cachectl_residency r;

	fk.cachestat_err = -EPERM;
	fk.resident[0] = true;
	assert_int_equal(cachectl_file_query(f->ctx, f->fd, 0, 0, 0, &r,
					     sizeof(r)), 0);
	if (fake_kernel_backend()) {
		/* fcachectl answers; cachestat only adds eviction counts */
		assert_false(r.flags & CACHECTL_RES_UNKNOWN);
		assert_true(r.flags & CACHECTL_RES_NO_EVICTED);
		assert_int_equal(r.cached, 4096);
		return;
	}
	assert_true(r.flags & CACHECTL_RES_UNKNOWN);
	assert_int_equal(r.cached, 0);
}

static void query_mincore_fallback_honest(void **state)
{
	struct fixture *f = *state;
	struct cachectl_residency r;

	fk.cachestat_err = -ENOSYS;
	fk.resident[3] = true;
	assert_int_equal(cachectl_file_query(f->ctx, f->fd, 0, 0, 0, &r,
					     sizeof(r)), 0);
	/* we own the temp file, so mincore tells the truth */
	assert_int_equal(r.cached, 4096);
	if (fake_kernel_backend()) {
		/* the kernel backend has no need of mincore */
		assert_int_equal(fk.mincore_calls, 0);
		assert_false(r.flags & CACHECTL_RES_NO_STATE);
		assert_true(r.flags & CACHECTL_RES_NO_EVICTED);
		return;
	}
	assert_true(r.flags & CACHECTL_RES_NO_STATE);
	assert_false(r.flags & CACHECTL_RES_UNKNOWN);
	assert_true(fk.mincore_calls > 0);
}

static void query_mincore_lie_is_unknown(void **state)
{
	struct fixture *f = *state;
	struct cachectl_residency r;

	/* mincore says "all resident" for files we cannot write: ignore it */
	fk.cachestat_err = -ENOSYS;
	fk.foreign = true;
	fk.access_err = -EACCES;
	assert_int_equal(cachectl_file_query(f->ctx, f->fd, 0, 0, 0, &r,
					     sizeof(r)), 0);
	assert_int_equal(fk.mincore_calls, 0);
	if (fake_kernel_backend()) {
		/* fcachectl does not lie to readers: nothing to hide */
		assert_false(r.flags & CACHECTL_RES_UNKNOWN);
		return;
	}
	assert_true(r.flags & CACHECTL_RES_UNKNOWN);

	/* CAP_FOWNER makes the kernel answer truthfully again */
	fk.caps = 1ull << CAP_FOWNER;
	fk.resident[0] = true;
	cachectl__ctx_set_sysops(f->ctx, &fake_sysops);	/* asked once per ctx */
	assert_int_equal(cachectl_file_query(f->ctx, f->fd, 0, 0, 0, &r,
					     sizeof(r)), 0);
	assert_false(r.flags & CACHECTL_RES_UNKNOWN);
	assert_int_equal(r.cached, 4096);
}

static void query_bad_args(void **state)
{
	struct fixture *f = *state;
	struct cachectl_residency r;

	assert_int_equal(cachectl_file_query(f->ctx, f->fd, 0, 0, 1, &r,
					     sizeof(r)), -EINVAL);
	assert_int_equal(cachectl_file_query(f->ctx, f->fd, 0, 0, 0, &r, 8),
			 -EINVAL);
	assert_int_equal(cachectl_file_query(f->ctx, -1, 0, 0, 0, &r,
					     sizeof(r)), -EBADF);
	assert_int_equal(cachectl_file_query(NULL, f->fd, 0, 0, 0, &r,
					     sizeof(r)), -EINVAL);
}

static void prefetch_chunks_past_readahead_cap(void **state)
{
	struct fixture *f = *state;
	uint64_t bytes = 0;
	int i;

	assert_int_equal(cachectl_file_prefetch(f->ctx, f->fd, 0, 0, 0,
						&bytes), 0);
	/* one call would stop at the 8 MiB cap; chunking caches it all */
	assert_int_equal(fake_resident_bytes(0, 0), 20 * MiB);
	assert_int_equal(bytes, 20 * MiB);
	for (i = 0; i < fk.ncalls; i++)
		assert_true(fk.calls[i].len <= CACHECTL_CHUNK);
}

static void prefetch_skips_resident_chunks(void **state)
{
	struct fixture *f = *state;
	uint64_t bytes = 0;
	int i;

	for (i = 2048; i < 4096; i++)	/* the second 8 MiB chunk */
		fk.resident[i] = true;
	assert_int_equal(cachectl_file_prefetch(f->ctx, f->fd, 0, 0, 0,
						&bytes), 0);
	assert_int_equal(fake_resident_bytes(0, 0), 20 * MiB);
	assert_int_equal(bytes, 12 * MiB);
	for (i = 0; i < fk.ncalls; i++)
		assert_int_not_equal(fk.calls[i].off, 8 * MiB);
}

static void prefetch_skips_holes(void **state)
{
	struct fixture *f = *state;
	uint64_t bytes = 0;

	fk.blocks = (2 * MiB) / 512;	/* sparse */
	fk.ext[0][0] = 5 * MiB;
	fk.ext[0][1] = 6 * MiB;
	fk.ext[1][0] = 15 * MiB;
	fk.ext[1][1] = 16 * MiB;
	assert_int_equal(cachectl_file_prefetch(f->ctx, f->fd, 0, 0, 0,
						&bytes), 0);
	assert_int_equal(bytes, 2 * MiB);
	assert_int_equal(fk.hole_pages, 0);
	assert_int_equal(fake_resident_bytes(5 * MiB, MiB), MiB);
	assert_int_equal(fake_resident_bytes(15 * MiB, MiB), MiB);
	assert_int_equal(fake_resident_bytes(0, 0), 2 * MiB);
}

static void prefetch_wait_covers_every_page(void **state)
{
	struct fixture *f = *state;
	uint64_t bytes = 0;
	int i;

	/* the last page of each MiB is resident: waiting on it proves nothing */
	for (i = 255; i < 5120; i += 256)
		fk.resident[i] = true;
	assert_int_equal(cachectl_file_prefetch(f->ctx, f->fd, 0, 0,
						CACHECTL_FILE_PREFETCH_WAIT, &bytes),
			 0);
	assert_true(fk.populate_calls > 0);
	/* everything was asked for before the wait, so it read nothing */
	assert_int_equal(fk.populate_reads, 0);
	assert_int_equal(fake_resident_bytes(0, 0), 20 * MiB);
}

static void prefetch_read_mode_reads(void **state)
{
	struct fixture *f = *state;
	uint64_t bytes = 0;
	int i;

	assert_int_equal(cachectl_file_prefetch(f->ctx, f->fd, 0, 3 * MiB,
						CACHECTL_FILE_PREFETCH_READ, &bytes),
			 0);
	assert_int_equal(fake_resident_bytes(0, 3 * MiB), 3 * MiB);
	for (i = 0; i < fk.ncalls; i++)
		assert_int_equal(fk.calls[i].advice, -1);
	assert_int_equal(cachectl_file_prefetch(f->ctx, f->fd, 0, 0, 0x80,
						&bytes), -EINVAL);
}

static void evict_verifies_and_waits_for_io(void **state)
{
	struct fixture *f = *state;
	uint64_t left = 1;
	int i;

	for (i = 0; i < 1024; i++)
		fk.resident[i] = true;
	fk.settle = 2;	/* odd pages stay locked for two tries */
	assert_int_equal(cachectl_file_evict(f->ctx, f->fd, 0, 0, 0, &left),
			 0);
	assert_int_equal(left, 0);
	assert_int_equal(fake_resident_bytes(0, 0), 0);
}

static void evict_reports_pages_that_stay(void **state)
{
	struct fixture *f = *state;
	uint64_t left = 0;
	int i;

	for (i = 0; i < 16; i++)
		fk.resident[i] = true;
	fk.pinned[3] = fk.pinned[4] = true;	/* mapped elsewhere */
	assert_int_equal(cachectl_file_evict(f->ctx, f->fd, 0, 0, 0, &left),
			 -EBUSY);
	assert_int_equal(left, 2 * 4096);
}

static void evict_unknown_when_kernel_hides(void **state)
{
	struct fixture *f = *state;
	uint64_t left = 0;

	fk.cachestat_err = -EPERM;
	fk.resident[1] = true;
	assert_int_equal(cachectl_file_evict(f->ctx, f->fd, 0, 0, 0, &left),
			 0);
	/* the kernel backend still knows, from fcachectl */
	assert_int_equal(left, fake_kernel_backend() ? 0 : UINT64_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(query_counts_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(query_eperm_is_unknown, setup, teardown),
		cmocka_unit_test_setup_teardown(query_mincore_fallback_honest, setup, teardown),
		cmocka_unit_test_setup_teardown(query_mincore_lie_is_unknown, setup, teardown),
		cmocka_unit_test_setup_teardown(query_bad_args, setup, teardown),
		cmocka_unit_test_setup_teardown(prefetch_chunks_past_readahead_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(prefetch_skips_resident_chunks, setup, teardown),
		cmocka_unit_test_setup_teardown(prefetch_skips_holes, setup, teardown),
		cmocka_unit_test_setup_teardown(prefetch_wait_covers_every_page, setup, teardown),
		cmocka_unit_test_setup_teardown(prefetch_read_mode_reads, setup, teardown),
		cmocka_unit_test_setup_teardown(evict_verifies_and_waits_for_io, setup, teardown),
		cmocka_unit_test_setup_teardown(evict_reports_pages_that_stay, setup, teardown),
		cmocka_unit_test_setup_teardown(evict_unknown_when_kernel_hides, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
