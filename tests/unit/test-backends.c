// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Each backend's ops table on the fake kernel, called directly: what the
 * shim and the kernel backend ask of the kernel for query, prefetch
 * (chunks, and the kernel's fallback to the shim file by file), evict,
 * pins and the culling policy.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "backend.h"
#include "fake-kernel.h"
#include "uapi-cachectl.h"

#define MiB (1ull << 20)

struct fixture {
	struct cachectl_ctx *ctx;
	int fd;
	struct stat st;
};

static int setup(void **state)
{
	static struct fixture f;
	char path[] = "/tmp/cachectl-unit-XXXXXX";

	fake_reset(20 * MiB);
	fk.syscall = true;
	assert_int_equal(cachectl_new(&f.ctx), 0);
	cachectl__ctx_set_sysops(f.ctx, &fake_sysops);
	f.fd = mkstemp(path);
	assert_true(f.fd >= 0);
	unlink(path);
	assert_int_equal(fake_sysops.fstat(f.fd, &f.st), 0);
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

static int willneed_calls(void)
{
	int i, n = 0;

	for (i = 0; i < fk.ncalls; i++)
		n += fk.calls[i].advice == POSIX_FADV_WILLNEED;
	return n;
}

static void shim_query_prefetch_in_chunks(void **state)
{
	const struct cachectl_backend_ops *be = &cachectl__shim_ops;
	struct fixture *f = *state;
	struct cachectl_residency r;
	uint64_t bytes = 0;

	assert_int_equal(be->query(f->ctx, f->fd, &f->st, 0, 0, &r), 0);
	assert_int_equal(r.cached, 0);
	assert_int_equal(r.range, 20 * MiB);
	assert_false(r.flags & CACHECTL_RES_FSCACHE);
	/* the readahead window stops each call: 8 + 8 + 4 MiB */
	assert_int_equal(be->prefetch(f->ctx, f->fd, &f->st, 0, 0, 0, &r,
				      &bytes), 0);
	assert_int_equal(bytes, 20 * MiB);
	assert_int_equal(willneed_calls(), 3);
	assert_int_equal(fake_resident_bytes(0, 0), 20 * MiB);
	assert_int_equal(fk.kcalls[KCACHECTL_OP_PREFETCH], 0);
	/* all there now: asked for again, nothing goes out */
	assert_int_equal(be->query(f->ctx, f->fd, &f->st, 0, 0, &r), 0);
	fk.ncalls = 0;
	assert_int_equal(be->prefetch(f->ctx, f->fd, &f->st, 0, 0, 0, &r,
				      &bytes), 0);
	assert_int_equal(bytes, 0);
	assert_int_equal(fk.ncalls, 0);
}

static void shim_evict_and_no_objects(void **state)
{
	const struct cachectl_backend_ops *be = &cachectl__shim_ops;
	struct fixture *f = *state;
	struct cachectl_residency r, after;
	uint64_t left = 1, bytes = 1;
	int i;

	for (i = 0; i < 512; i++)
		fk.resident[i] = true;
	assert_int_equal(be->evict(f->ctx, f->fd, &f->st, 0, 0, &left,
				   &after), 0);
	assert_int_equal(left, 0);
	assert_int_equal(fake_resident_bytes(0, 0), 0);
	assert_int_equal(be->caps, 0);
	assert_int_equal(be->pin(f->ctx, f->fd), -EOPNOTSUPP);
	assert_int_equal(be->unpin(f->ctx, f->fd), -EOPNOTSUPP);
	assert_int_equal(be->set_culling(f->ctx, f->fd, false), -EOPNOTSUPP);
	/* the caller's data path moves everything */
	assert_int_equal(be->query(f->ctx, f->fd, &f->st, 0, 0, &r), 0);
	assert_int_equal(be->prefetch_whole(f->ctx, f->fd, &f->st, 0, &r,
					    &bytes), 0);
	assert_int_equal(fk.ncalls, 1);		/* evict's DONTNEED only */
	for (i = 0; i < 8; i++)
		assert_int_equal(fk.kcalls[i], 0);
}

static void kernel_query_both_layers(void **state)
{
	const struct cachectl_backend_ops *be = &cachectl__kernel_ops;
	struct fixture *f = *state;
	struct cachectl_residency r;
	int i;

	fk.object = true;
	for (i = 0; i < 256; i++)
		fk.resident[i] = fk.fscache[i] = true;
	assert_int_equal(be->query(f->ctx, f->fd, &f->st, 0, 0, &r), 0);
	assert_true(r.flags & CACHECTL_RES_FSCACHE);
	assert_int_equal(r.cached, MiB);
	assert_int_equal(r.fscache, MiB);
	assert_true(r.cache_state & CACHECTL_CACHE_OBJECT);
	assert_int_equal(r.cache_id, 0x2a);
	assert_int_equal(fk.kcalls[KCACHECTL_OP_QUERY], 1);
	/* a syscall that does not answer: the shim does, for this file */
	fk.syscall = false;
	assert_int_equal(be->query(f->ctx, f->fd, &f->st, 0, 0, &r), 0);
	assert_false(r.flags & CACHECTL_RES_FSCACHE);
	assert_int_equal(r.cached, MiB);
}

static void kernel_prefetch_one_call(void **state)
{
	const struct cachectl_backend_ops *be = &cachectl__kernel_ops;
	struct fixture *f = *state;
	struct cachectl_residency r;
	uint64_t bytes = 0;

	fk.object = true;
	assert_int_equal(be->query(f->ctx, f->fd, &f->st, 0, 0, &r), 0);
	/* 1: r is the state after, from the PREFETCH's own answer */
	assert_int_equal(be->prefetch(f->ctx, f->fd, &f->st, 0, 0,
				      CACHECTL_FILE_PREFETCH_WAIT, &r,
				      &bytes), 1);
	assert_int_equal(fk.kcalls[KCACHECTL_OP_PREFETCH], 1);
	assert_true(fk.kflags & KCACHECTL_PREFETCH_WAIT);
	assert_int_equal(willneed_calls(), 0);
	assert_int_equal(bytes, 20 * MiB);
	assert_int_equal(r.cached, 20 * MiB);
	assert_int_equal(r.fscache, 20 * MiB);
	/* without a state to fill, done is 0 */
	fk.resident[0] = false;
	assert_int_equal(be->prefetch(f->ctx, f->fd, &f->st, 0, 0, 0, NULL,
				      &bytes), 0);
	assert_int_equal(fk.kcalls[KCACHECTL_OP_PREFETCH], 2);
}

static void kernel_prefetch_falls_back_per_file(void **state)
{
	const struct cachectl_backend_ops *be = &cachectl__kernel_ops;
	struct fixture *f = *state;
	struct cachectl_residency r;
	uint64_t bytes = 0;

	/* no cache object: PREFETCH says EOPNOTSUPP, the shim's chunks go */
	assert_int_equal(be->query(f->ctx, f->fd, &f->st, 0, 0, &r), 0);
	assert_int_equal(be->prefetch(f->ctx, f->fd, &f->st, 0, 0, 0, &r,
				      &bytes), 0);
	assert_int_equal(fk.kcalls[KCACHECTL_OP_PREFETCH], 1);
	assert_int_equal(willneed_calls(), 3);
	assert_int_equal(bytes, 20 * MiB);
	assert_int_equal(fake_resident_bytes(0, 0), 20 * MiB);
	/* and the whole-file path leaves such a file to the caller */
	fake_reset(20 * MiB);
	fk.syscall = true;
	assert_int_equal(be->query(f->ctx, f->fd, &f->st, 0, 0, &r), 0);
	assert_int_equal(be->prefetch_whole(f->ctx, f->fd, &f->st, 0, &r,
					    &bytes), 0);
	assert_int_equal(fk.kcalls[KCACHECTL_OP_PREFETCH], 0);
	fk.object = true;
	assert_int_equal(be->query(f->ctx, f->fd, &f->st, 0, 0, &r), 0);
	assert_int_equal(be->prefetch_whole(f->ctx, f->fd, &f->st, 0, &r,
					    &bytes), 1);
	assert_int_equal(fk.kcalls[KCACHECTL_OP_PREFETCH], 1);
	assert_int_equal(r.fscache, 20 * MiB);
}

static void kernel_pins_and_culling(void **state)
{
	const struct cachectl_backend_ops *be = &cachectl__kernel_ops;
	struct fixture *f = *state;
	struct cachectl_residency after;
	uint64_t left = 1;

	assert_true(be->caps & CACHECTL_CAP_PIN);
	assert_true(be->caps & CACHECTL_CAP_FSCACHE);
	assert_true(be->caps & CACHECTL_CAP_CULLING);
	/* the fake answers EOPNOTSUPP without an object, as a local fs */
	assert_int_equal(be->pin(f->ctx, f->fd), -EOPNOTSUPP);
	fk.object = true;
	assert_int_equal(be->pin(f->ctx, f->fd), 0);
	assert_true(fk.kpinned);
	assert_int_equal(be->unpin(f->ctx, f->fd), 0);
	assert_false(fk.kpinned);
	assert_int_equal(be->set_culling(f->ctx, f->fd, false), 0);
	assert_true(fk.nocull);
	assert_string_equal(fk.daemon_cmd, "nocull");
	assert_int_equal(be->set_culling(f->ctx, f->fd, true), 0);
	assert_false(fk.nocull);
	/* eviction checks with the kernel's query: both layers reported */
	fk.resident[3] = true;
	assert_int_equal(be->evict(f->ctx, f->fd, &f->st, 0, 0, &left,
				   &after), 0);
	assert_int_equal(left, 0);
	assert_true(after.flags & CACHECTL_RES_FSCACHE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(shim_query_prefetch_in_chunks,
						setup, teardown),
		cmocka_unit_test_setup_teardown(shim_evict_and_no_objects,
						setup, teardown),
		cmocka_unit_test_setup_teardown(kernel_query_both_layers,
						setup, teardown),
		cmocka_unit_test_setup_teardown(kernel_prefetch_one_call,
						setup, teardown),
		cmocka_unit_test_setup_teardown(kernel_prefetch_falls_back_per_file,
						setup, teardown),
		cmocka_unit_test_setup_teardown(kernel_pins_and_culling,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
