// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The kernel backend against a scripted fcachectl(2): selection by PROBE,
 * both cache layers in queries, one PREFETCH per fscache file, pins and
 * the culling policy, and the fallbacks to the shim.
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

#include "fake-kernel.h"
#include "uapi-cachectl.h"

#define MiB (1ull << 20)

struct fixture {
	struct cachectl_ctx *ctx;
	int fd;
};

static struct cachectl_ctx *new_ctx(const char *backend)
{
	struct cachectl_ctx *ctx = fake_ctx_new(backend);

	assert_non_null(ctx);
	return ctx;
}

static int setup(void **state)
{
	static struct fixture f;
	char path[] = "/tmp/cachectl-unit-XXXXXX";

	fake_reset(20 * MiB);
	fk.syscall = true;
	f.ctx = new_ctx(NULL);
	f.fd = mkstemp(path);
	assert_true(f.fd >= 0);
	unlink(path);
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

static void probe_selects_kernel(void **state)
{
	struct fixture *f = *state;
	unsigned int feat = 0;

	assert_int_equal(cachectl_backend_probe(f->ctx, &feat),
			 CACHECTL_BACKEND_KERNEL);
	assert_true(feat & CACHECTL_FEATURE_SYSCALL);
	assert_int_equal(fk.kcalls[KCACHECTL_OP_PROBE], 1);
	/* once per context */
	assert_int_equal(cachectl_backend_probe(f->ctx, NULL),
			 CACHECTL_BACKEND_KERNEL);
	assert_int_equal(fk.kcalls[KCACHECTL_OP_PROBE], 1);
}

static void probe_stray_answers_mean_shim(void **state)
{
	static const int answers[] = { -ENOSYS, -EINVAL, -EPERM, 0x1234, 0 };
	struct cachectl_ctx *ctx;
	unsigned int feat;
	size_t i;

	for (i = 0; i < sizeof(answers) / sizeof(answers[0]); i++) {
		fake_reset(MiB);
		fk.syscall = true;
		fk.probe_answer = answers[i] ? answers[i] : 1;
		ctx = new_ctx(NULL);
		feat = 0;
		assert_int_equal(cachectl_backend_probe(ctx, &feat),
				 CACHECTL_BACKEND_SHIM);
		assert_false(feat & CACHECTL_FEATURE_SYSCALL);
		cachectl_unref(ctx);
	}
}

static void forced_backends(void **state)
{
	struct cachectl_residency r;
	struct cachectl_ctx *ctx;
	struct fixture *f = *state;

	/* shim forced on a kernel that has the syscall: never called */
	ctx = new_ctx("shim");
	assert_int_equal(cachectl_backend_probe(ctx, NULL),
			 CACHECTL_BACKEND_SHIM);
	fk.object = true;
	fk.kcalls[KCACHECTL_OP_QUERY] = 0;
	assert_int_equal(cachectl_file_query(ctx, f->fd, 0, 0, 0, &r,
					     sizeof(r)), 0);
	assert_int_equal(fk.kcalls[KCACHECTL_OP_QUERY], 0);
	assert_false(r.flags & CACHECTL_RES_FSCACHE);
	assert_int_equal(cachectl_file_pin(ctx, f->fd, 0), -EOPNOTSUPP);
	cachectl_unref(ctx);

	/* kernel forced where there is none: operations fail, loudly */
	fk.syscall = false;
	ctx = new_ctx("kernel");
	assert_int_equal(cachectl_backend_probe(ctx, NULL), -EOPNOTSUPP);
	assert_int_equal(cachectl_file_query(ctx, f->fd, 0, 0, 0, &r,
					     sizeof(r)), -EOPNOTSUPP);
	cachectl_unref(ctx);
}

static void query_reports_both_layers(void **state)
{
	struct fixture *f = *state;
	struct cachectl_residency r;
	int i;

	fk.object = true;
	for (i = 0; i < 10; i++)
		fk.fscache[i] = true;
	for (i = 0; i < 4; i++)
		fk.resident[i] = true;
	assert_int_equal(cachectl_file_query(f->ctx, f->fd, 0, 0, 0, &r,
					     sizeof(r)), 0);
	assert_int_equal(r.cached, 4 * 4096);
	assert_int_equal(r.fscache, 10 * 4096);
	assert_true(r.flags & CACHECTL_RES_FSCACHE);
	assert_false(r.flags & CACHECTL_RES_NO_EVICTED); /* cachestat too */
	assert_int_equal(r.cache_state, CACHECTL_CACHE_OBJECT);
	assert_int_equal(r.cache_id, 0x2a);
	assert_int_equal(fk.mincore_calls, 0);

	/* a range */
	assert_int_equal(cachectl_file_query(f->ctx, f->fd, 8 * 4096, MiB, 0,
					     &r, sizeof(r)), 0);
	assert_int_equal(r.fscache, 2 * 4096);
	assert_int_equal(r.cached, 0);

	/* pinned, culling off */
	fk.kpinned = fk.nocull = true;
	assert_int_equal(cachectl_file_query(f->ctx, f->fd, 0, 0, 0, &r,
					     sizeof(r)), 0);
	assert_int_equal(r.cache_state, CACHECTL_CACHE_OBJECT |
			 CACHECTL_CACHE_PINNED | CACHECTL_CACHE_NOCULL);

	/* no cachestat (6.1): the eviction counts are not known */
	fk.cachestat_err = -ENOSYS;
	assert_int_equal(cachectl_file_query(f->ctx, f->fd, 0, 0, 0, &r,
					     sizeof(r)), 0);
	assert_true(r.flags & CACHECTL_RES_NO_EVICTED);
	assert_int_equal(r.cached, 4 * 4096);
}

static void query_old_struct_size(void **state)
{
	struct fixture *f = *state;
	struct cachectl_residency r;

	/* a 0.1 caller's struct ends before the fscache fields */
	memset(&r, 0xff, sizeof(r));
	fk.object = true;
	assert_int_equal(cachectl_file_query(f->ctx, f->fd, 0, 0, 0, &r, 64),
			 0);
	assert_true(r.fscache == UINT64_MAX);	/* untouched */
	assert_int_equal(r.size, 20 * MiB);
}

static void query_local_file(void **state)
{
	struct fixture *f = *state;
	struct cachectl_residency r;

	fk.resident[0] = true;
	assert_int_equal(cachectl_file_query(f->ctx, f->fd, 0, 0, 0, &r,
					     sizeof(r)), 0);
	assert_true(r.flags & CACHECTL_RES_FSCACHE);
	assert_int_equal(r.cache_state, 0);
	assert_int_equal(r.fscache, 0);
	assert_int_equal(r.cached, 4096);
}

static void prefetch_is_one_syscall(void **state)
{
	struct fixture *f = *state;
	struct cachectl_residency r;
	uint64_t bytes = 0;

	fk.object = true;
	assert_int_equal(cachectl_file_prefetch(f->ctx, f->fd, 0, 0,
						CACHECTL_FILE_PREFETCH_WAIT,
						&bytes), 0);
	assert_int_equal(fk.kcalls[KCACHECTL_OP_PREFETCH], 1);
	assert_true(fk.kflags & KCACHECTL_PREFETCH_WAIT);
	assert_int_equal(fk.ncalls, 0);		/* no advice, no reads */
	assert_int_equal(fk.populate_calls, 0);
	assert_int_equal(bytes, 20 * MiB);
	assert_int_equal(cachectl_file_query(f->ctx, f->fd, 0, 0, 0, &r,
					     sizeof(r)), 0);
	assert_int_equal(r.cached, 20 * MiB);
	assert_int_equal(r.fscache, 20 * MiB);

	/* without WAIT, none asked of the kernel */
	assert_int_equal(cachectl_file_prefetch(f->ctx, f->fd, 0, MiB, 0,
						NULL), 0);
	assert_false(fk.kflags & KCACHECTL_PREFETCH_WAIT);
}

static void prefetch_local_file_falls_back(void **state)
{
	struct fixture *f = *state;
	uint64_t bytes = 0;

	/* no fscache here: PREFETCH says EOPNOTSUPP, readahead does it */
	assert_int_equal(cachectl_file_prefetch(f->ctx, f->fd, 0, 0, 0,
						&bytes), 0);
	assert_int_equal(fk.kcalls[KCACHECTL_OP_PREFETCH], 1);
	assert_true(fk.ncalls > 0);
	assert_int_equal(bytes, 20 * MiB);
	assert_int_equal(fake_resident_bytes(0, 0), 20 * MiB);
}

static void pin_unpin_and_policy(void **state)
{
	struct fixture *f = *state;
	struct cachectl_residency r;

	assert_int_equal(cachectl_file_pin(f->ctx, f->fd, 0), -EOPNOTSUPP);
	fk.object = true;
	assert_int_equal(cachectl_file_pin(f->ctx, f->fd, 1), -EINVAL);
	assert_int_equal(cachectl_file_pin(f->ctx, -1, 0), -EBADF);
	assert_int_equal(cachectl_file_pin(NULL, f->fd, 0), -EINVAL);
	assert_int_equal(cachectl_file_pin(f->ctx, f->fd, 0), 0);
	assert_true(fk.kpinned);
	assert_int_equal(cachectl_file_query(f->ctx, f->fd, 0, 0, 0, &r,
					     sizeof(r)), 0);
	assert_true(r.cache_state & CACHECTL_CACHE_PINNED);
	assert_int_equal(cachectl_file_unpin(f->ctx, f->fd, 0), 0);
	assert_false(fk.kpinned);
	assert_int_equal(cachectl_file_unpin(f->ctx, f->fd, 2), -EINVAL);

	/* culling: the daemon's commands, never a syscall operation */
	assert_int_equal(cachectl_cache_set_culling(f->ctx, f->fd, 2), -EINVAL);
	assert_int_equal(cachectl_cache_set_culling(f->ctx, f->fd, 0), 0);
	assert_true(fk.nocull);
	assert_string_equal(fk.daemon_cmd, "nocull");
	assert_int_equal(fk.kcalls[5], 0);
	assert_int_equal(cachectl_file_query(f->ctx, f->fd, 0, 0, 0, &r,
					     sizeof(r)), 0);
	assert_true(r.cache_state & CACHECTL_CACHE_NOCULL);
	assert_int_equal(cachectl_cache_set_culling(f->ctx, f->fd, 1), 0);
	assert_false(fk.nocull);
	assert_string_equal(fk.daemon_cmd, "cull");
	/* no daemon, or no right to its device: the caller hears why */
	fk.daemon_err = -ESRCH;
	assert_int_equal(cachectl_cache_set_culling(f->ctx, f->fd, 0), -ESRCH);
	fk.daemon_err = -EPERM;
	assert_int_equal(cachectl_cache_set_culling(f->ctx, f->fd, 0), -EPERM);
	assert_false(fk.nocull);
	/* a file no cache holds names no cache: the daemon is not asked */
	fk.daemon_err = 0;
	fk.daemon_cmd[0] = '\0';
	fk.object = false;
	assert_int_equal(cachectl_cache_set_culling(f->ctx, f->fd, 0),
			 -ENOBUFS);
	assert_string_equal(fk.daemon_cmd, "");
}

static void pin_needs_regular_file(void **state)
{
	struct fixture *f = *state;
	int fd = open("/tmp", O_RDONLY | O_DIRECTORY);

	assert_true(fd >= 0);
	fk.object = true;
	assert_int_equal(cachectl_file_pin(f->ctx, fd, 0), -EINVAL);
	assert_int_equal(cachectl_cache_set_culling(f->ctx, fd, 0), -EINVAL);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(probe_selects_kernel, setup, teardown),
		cmocka_unit_test_setup_teardown(probe_stray_answers_mean_shim, setup, teardown),
		cmocka_unit_test_setup_teardown(forced_backends, setup, teardown),
		cmocka_unit_test_setup_teardown(query_reports_both_layers, setup, teardown),
		cmocka_unit_test_setup_teardown(query_old_struct_size, setup, teardown),
		cmocka_unit_test_setup_teardown(query_local_file, setup, teardown),
		cmocka_unit_test_setup_teardown(prefetch_is_one_syscall, setup, teardown),
		cmocka_unit_test_setup_teardown(prefetch_local_file_falls_back, setup, teardown),
		cmocka_unit_test_setup_teardown(pin_unpin_and_policy, setup, teardown),
		cmocka_unit_test_setup_teardown(pin_needs_regular_file, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
