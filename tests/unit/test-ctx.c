// SPDX-License-Identifier: LGPL-2.1-or-later
/* Context lifetime, logging and backend selection. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "fake-kernel.h"

static void refcount(void **state)
{
	struct cachectl_ctx *ctx = NULL;

	assert_int_equal(cachectl_new(&ctx), 0);
	assert_ptr_equal(cachectl_ref(ctx), ctx);
	assert_ptr_equal(cachectl_unref(ctx), ctx);
	assert_null(cachectl_unref(ctx));
	assert_null(cachectl_unref(NULL));
	assert_null(cachectl_ref(NULL));
	assert_int_equal(cachectl_new(NULL), -EINVAL);
}

static int logged;

static void log_fn(void *data, int prio, const char *file, int line,
		   const char *fn, const char *fmt, va_list ap)
{
	logged++;
}

static void log_priority(void **state)
{
	struct cachectl_ctx *ctx;

	fake_reset(0);
	setenv("CACHECTL_LOG", "debug", 1);
	assert_int_equal(cachectl_new(&ctx), 0);
	assert_int_equal(cachectl_get_log_priority(ctx), 7);
	assert_int_equal(cachectl_set_log_priority(ctx, 8), -EINVAL);
	assert_int_equal(cachectl_set_log_priority(ctx, 3), 0);
	assert_int_equal(cachectl_get_log_priority(ctx), 3);
	cachectl_unref(ctx);

	setenv("CACHECTL_LOG", "4", 1);
	assert_int_equal(cachectl_new(&ctx), 0);
	assert_int_equal(cachectl_get_log_priority(ctx), 4);
	cachectl_unref(ctx);

	setenv("CACHECTL_LOG", "nonsense", 1);
	assert_int_equal(cachectl_new(&ctx), 0);
	assert_int_equal(cachectl_get_log_priority(ctx), 3);	/* default */
	cachectl_set_log_fn(ctx, log_fn, NULL);
	cachectl_set_log_priority(ctx, 6);
	cachectl__ctx_set_sysops(ctx, &fake_sysops);
	logged = 0;
	assert_true(cachectl_backend_probe(ctx, NULL) > 0);
	assert_true(logged > 0);	/* the probe says what it found at info */
	cachectl_unref(ctx);
	unsetenv("CACHECTL_LOG");
}

static void backend_env(void **state)
{
	const char *env = getenv("CACHECTL_BACKEND");
	char *saved = env ? strdup(env) : NULL;
	struct cachectl_ctx *ctx;
	unsigned int f = 0;

	fake_reset(0);
	fk.syscall = false;	/* this test is about the shim's probe */
	unsetenv("CACHECTL_BACKEND");
	assert_int_equal(cachectl_new(&ctx), 0);
	cachectl__ctx_set_sysops(ctx, &fake_sysops);
	assert_int_equal(cachectl_backend_probe(ctx, &f), CACHECTL_BACKEND_SHIM);
	assert_true(f & CACHECTL_FEATURE_CACHESTAT);
	cachectl_unref(ctx);

	fk.cachestat_err = -ENOSYS;
	assert_int_equal(cachectl_new(&ctx), 0);
	cachectl__ctx_set_sysops(ctx, &fake_sysops);
	assert_int_equal(cachectl_backend_probe(ctx, &f), CACHECTL_BACKEND_SHIM);
	assert_false(f & CACHECTL_FEATURE_CACHESTAT);
	assert_true(f & CACHECTL_FEATURE_MINCORE);
	cachectl_unref(ctx);

	setenv("CACHECTL_BACKEND", "shim", 1);
	assert_int_equal(cachectl_new(&ctx), 0);
	assert_int_equal(cachectl_backend_probe(ctx, NULL), CACHECTL_BACKEND_SHIM);
	cachectl_unref(ctx);

	setenv("CACHECTL_BACKEND", "bogus", 1);
	assert_int_equal(cachectl_new(&ctx), 0);
	assert_int_equal(cachectl_backend_probe(ctx, NULL), -EINVAL);
	cachectl_unref(ctx);

	/* forcing the kernel backend fails where the kernel lacks it */
	setenv("CACHECTL_BACKEND", "kernel", 1);
	assert_int_equal(cachectl_new(&ctx), 0);
	assert_int_equal(cachectl_backend_probe(ctx, NULL),
			 syscall(463, -1, 0, NULL, 0) == 0x63630001 ?
			 CACHECTL_BACKEND_KERNEL : -EOPNOTSUPP);
	cachectl_unref(ctx);
	if (saved)
		setenv("CACHECTL_BACKEND", saved, 1);
	else
		unsetenv("CACHECTL_BACKEND");
	free(saved);

	assert_string_equal(cachectl_backend_name(CACHECTL_BACKEND_SHIM), "shim");
	assert_string_equal(cachectl_backend_name(CACHECTL_BACKEND_KERNEL), "kernel");
	assert_null(cachectl_backend_name(0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(refcount),
		cmocka_unit_test(log_priority),
		cmocka_unit_test(backend_env),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
