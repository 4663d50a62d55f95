// SPDX-License-Identifier: LGPL-2.1-or-later
/* The pin store: round trips, concurrent writers, damage, foreign files. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "cachectl-private.h"

static char dir[64], target[128], odd[160];

static int setup(void **state)
{
	int fd;

	strcpy(dir, "/tmp/cachectl-store-XXXXXX");
	assert_non_null(mkdtemp(dir));
	setenv("CACHECTL_STATE_DIR", dir, 1);
	snprintf(target, sizeof(target), "%s/target", dir);
	fd = open(target, O_CREAT | O_WRONLY, 0644);
	close(fd);
	/* a name with a newline, a tab and a backslash */
	snprintf(odd, sizeof(odd), "%s/o\nd\td\\", dir);
	fd = open(odd, O_CREAT | O_WRONLY, 0644);
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	unsetenv("CACHECTL_STATE_DIR");
	return system(cmd) == 0 ? 0 : -1;
}

static char *slurp(const char *path, size_t *len)
{
	static char buf[65536];
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return NULL;
	buf[n] = '\0';
	*len = (size_t)n;
	return buf;
}

static void spit(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static void round_trip(void **state)
{
	struct cachectl_ctx *ctx;
	struct cachectl_pinstore *st, *st2;
	struct cachectl_pin *p;

	assert_int_equal(cachectl_new(&ctx), 0);
	assert_int_equal(cachectl_pinstore_open(ctx, CACHECTL_SCOPE_USER, &st), 0);
	assert_int_equal(cachectl_pinstore_get_count(st), 0);

	assert_int_equal(cachectl_pin_new(ctx, odd, CACHECTL_PIN_HARD, &p), 0);
	assert_int_equal(cachectl_pin_set_priority(p, 1001), -ERANGE);
	assert_int_equal(cachectl_pin_set_priority(p, -7), 0);
	assert_int_equal(cachectl_pin_set_budget(p, 1ull << 40), 0);
	assert_int_equal(cachectl_pinstore_add(st, p), 0);
	cachectl_pin_unref(p);
	assert_int_equal(cachectl_pin_new(ctx, dir, CACHECTL_PIN_RECURSIVE |
					  CACHECTL_PIN_INHERIT, &p), 0);
	assert_int_equal(cachectl_pinstore_add(st, p), 0);
	/* the same path again replaces, not duplicates */
	assert_int_equal(cachectl_pinstore_add(st, p), 0);
	cachectl_pin_unref(p);
	assert_int_equal(cachectl_pinstore_get_count(st), 2);

	assert_int_equal(cachectl_pinstore_open(ctx, CACHECTL_SCOPE_USER, &st2), 0);
	assert_int_equal(cachectl_pinstore_get_count(st2), 2);
	p = cachectl_pinstore_get_pin(st2, 0);
	assert_string_equal(cachectl_pin_get_path(p), odd);
	assert_int_equal(cachectl_pin_get_flags(p), CACHECTL_PIN_HARD);
	assert_int_equal(cachectl_pin_get_priority(p), -7);
	assert_int_equal(cachectl_pin_get_budget(p), 1ull << 40);
	p = cachectl_pinstore_get_pin(st2, 1);
	assert_int_equal(cachectl_pin_get_flags(p),
			 CACHECTL_PIN_RECURSIVE | CACHECTL_PIN_INHERIT);
	assert_null(cachectl_pinstore_get_pin(st2, 2));

	/* a writer killed before its rename left this behind */
	{
		char stale[128];
		int fd;

		snprintf(stale, sizeof(stale), "%s/.pins.AbC123", dir);
		fd = open(stale, O_CREAT | O_WRONLY, 0600);
		close(fd);
		assert_int_equal(cachectl_pinstore_remove(st2, odd), 0);
		assert_int_equal(access(stale, F_OK), -1);
	}
	assert_int_equal(cachectl_pinstore_remove(st2, odd), -ENOENT);
	assert_int_equal(cachectl_pinstore_reload(st), 0);
	assert_int_equal(cachectl_pinstore_get_count(st), 1);
	cachectl_pinstore_unref(st2);
	cachectl_pinstore_unref(st);
	cachectl_unref(ctx);
}

/* a pin or a path the store itself holds: reloading must not free it */
static void own_pin_again(void **state)
{
	struct cachectl_ctx *ctx;
	struct cachectl_pinstore *st;
	struct cachectl_pin *p;
	size_t n;

	assert_int_equal(cachectl_new(&ctx), 0);
	assert_int_equal(cachectl_pinstore_open(ctx, CACHECTL_SCOPE_USER, &st), 0);
	n = cachectl_pinstore_get_count(st);
	assert_int_equal(cachectl_pin_new(ctx, target, 0, &p), 0);
	assert_int_equal(cachectl_pinstore_add(st, p), 0);
	cachectl_pin_unref(p);
	assert_int_equal(cachectl_pinstore_reload(st), 0);

	p = cachectl_pinstore_get_pin(st, n);
	assert_int_equal(cachectl_pin_set_priority(p, 5), 0);
	assert_int_equal(cachectl_pinstore_add(st, p), 0);
	assert_int_equal(cachectl_pinstore_get_count(st), n + 1);
	assert_int_equal(cachectl_pinstore_reload(st), 0);
	p = cachectl_pinstore_get_pin(st, n);
	assert_string_equal(cachectl_pin_get_path(p), target);
	assert_int_equal(cachectl_pin_get_priority(p), 5);

	assert_int_equal(cachectl_pinstore_remove(st, cachectl_pin_get_path(p)), 0);
	assert_int_equal(cachectl_pinstore_get_count(st), n);
	cachectl_pinstore_unref(st);
	cachectl_unref(ctx);
}

static void bad_pins(void **state)
{
	struct cachectl_ctx *ctx;
	struct cachectl_pin *p;

	assert_int_equal(cachectl_new(&ctx), 0);
	assert_int_equal(cachectl_pin_new(ctx, "/nonexistent/x", 0, &p), -ENOENT);
	assert_int_equal(cachectl_pin_new(ctx, "", 0, &p), -EINVAL);
	assert_int_equal(cachectl_pin_new(ctx, target, CACHECTL_PIN_INHERIT, &p),
			 -EINVAL);
	assert_int_equal(cachectl_pin_new(ctx, target, 1u << 9, &p), -EINVAL);
	assert_int_equal(cachectl_pinstore_open(ctx, 9, NULL), -EINVAL);
	cachectl_unref(ctx);
}

/* Writers in parallel processes must not lose each other's pins. */
static void concurrent_writers(void **state)
{
	struct cachectl_ctx *ctx;
	struct cachectl_pinstore *st;
	int i, status;

	for (i = 0; i < 8; i++) {
		if (fork() == 0) {
			struct cachectl_pin *p;
			char path[160];
			int fd;

			snprintf(path, sizeof(path), "%s/f%d", dir, i);
			fd = open(path, O_CREAT | O_WRONLY, 0644);
			close(fd);
			if (cachectl_new(&ctx) < 0 ||
			    cachectl_pinstore_open(ctx, CACHECTL_SCOPE_USER, &st) < 0 ||
			    cachectl_pin_new(ctx, path, 0, &p) < 0 ||
			    cachectl_pinstore_add(st, p) < 0)
				_exit(1);
			_exit(0);
		}
	}
	for (i = 0; i < 8; i++) {
		assert_true(wait(&status) > 0);
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	assert_int_equal(cachectl_new(&ctx), 0);
	assert_int_equal(cachectl_pinstore_open(ctx, CACHECTL_SCOPE_USER, &st), 0);
	assert_int_equal(cachectl_pinstore_get_count(st), 8 + 1);
	cachectl_pinstore_unref(st);
	cachectl_unref(ctx);
}

/* Damage of any kind is reported and the file is never rewritten. */
static void damage_is_kept(void **state)
{
	static const char *const bad[] = {
		"",					/* empty */
		"cachectl-pins 1\npin soft -- 0 0 /x\n",	/* no end line */
		"cachectl-pins 1\nend 0 0000000000000000\n",	/* bad hash */
		"cachectl-pins 1\npin soft -- 0 0 /x\nend 1",	/* cut short */
		"cachectl-pins 2\nend 0 0\n",		/* newer version */
		"[pins]\npath=/x\n",			/* foreign */
	};
	static const int want[] = { -EBADMSG, -EBADMSG, -EBADMSG, -EBADMSG,
				    -EPROTONOSUPPORT, -EPROTONOSUPPORT };
	struct cachectl_ctx *ctx;
	struct cachectl_pinstore *st;
	struct cachectl_pin *p;
	char path[128], before[512];
	size_t len = 0, blen, i;
	char *now;

	snprintf(path, sizeof(path), "%s/pins", dir);
	assert_int_equal(cachectl_new(&ctx), 0);
	cachectl_set_log_fn(ctx, NULL, NULL);
	assert_int_equal(cachectl_pin_new(ctx, target, 0, &p), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		spit(path, bad[i], strlen(bad[i]));
		assert_int_equal(cachectl_pinstore_open(ctx, CACHECTL_SCOPE_USER,
							&st), want[i]);
		blen = strlen(bad[i]);
		memcpy(before, bad[i], blen);
		now = slurp(path, &len);
		assert_int_equal(len, blen);
		assert_memory_equal(now, before, len);
	}

	/* a good store, then one flipped byte */
	unlink(path);
	assert_int_equal(cachectl_pinstore_open(ctx, CACHECTL_SCOPE_USER, &st), 0);
	assert_int_equal(cachectl_pinstore_add(st, p), 0);
	now = slurp(path, &len);
	memcpy(before, now, len);
	before[20] ^= 0x20;
	spit(path, before, len);
	assert_int_equal(cachectl_pinstore_reload(st), -EBADMSG);
	assert_int_equal(cachectl_pinstore_add(st, p), -EBADMSG);
	assert_int_equal(cachectl_pinstore_remove(st, target), -EBADMSG);
	now = slurp(path, &len);
	assert_memory_equal(now, before, len);
	cachectl_pinstore_unref(st);
	cachectl_pin_unref(p);
	cachectl_unref(ctx);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip),
		cmocka_unit_test(own_pin_again),
		cmocka_unit_test(bad_pins),
		cmocka_unit_test(concurrent_writers),
		cmocka_unit_test(damage_is_kept),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
