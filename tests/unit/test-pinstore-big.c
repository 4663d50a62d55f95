// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A pin store at its size limit, of long paths escaped all through,
 * loads in linear time, in under 2 s: a parser that rescans a line per
 * escape takes hours on one.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <libcachectl/libcachectl.h>

#define STORE_MAX (64u << 20)

/*
 * ASan makes every malloc and byte check dearer (about 4x here): the
 * bound stays far below what a quadratic parser takes either way.
 */
#if defined(__SANITIZE_ADDRESS__)
#define LOAD_SECS 6.0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LOAD_SECS 6.0
#endif
#endif
#ifndef LOAD_SECS
#define LOAD_SECS 2.0
#endif

static char dir[64];

static int setup(void **state)
{
	strcpy(dir, "/tmp/cachectl-bigstore-XXXXXX");
	assert_non_null(mkdtemp(dir));
	setenv("CACHECTL_STATE_DIR", dir, 1);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	unsetenv("CACHECTL_STATE_DIR");
	return system(cmd) == 0 ? 0 : -1;
}

/* the store's checksum, as cachectl-pins(5) defines it */
static uint64_t fnv1a(const char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	while (n--) {
		h ^= (unsigned char)*p++;
		h *= 0x100000001b3ull;
	}
	return h;
}

/*
 * Pins of @line_len bytes each, every fourth byte of their paths an
 * escape, up to just under the size limit. Returns the pin count.
 */
static size_t write_store(size_t line_len)
{
	static const char seg[] = "/d\\x0ai\\x5c\\x09r";	/* 16 bytes */
	char *buf = malloc(STORE_MAX), *p = buf, path[128];
	size_t n = 0, tail;
	int fd;

	assert_non_null(buf);
	p += sprintf(p, "cachectl-pins 1\n");
	for (;;) {
		size_t i, len = (size_t)sprintf(path, "pin soft r- 0 0 /%zu", n);

		/* room for this line and the end line */
		if ((size_t)(p - buf) + len + line_len + 1 + 64 > STORE_MAX)
			break;
		memcpy(p, path, len);
		p += len;
		for (i = 0; i + sizeof(seg) - 1 <= line_len; i += sizeof(seg) - 1) {
			memcpy(p, seg, sizeof(seg) - 1);
			p += sizeof(seg) - 1;
		}
		*p++ = '\n';
		n++;
	}
	tail = (size_t)sprintf(p, "end %zu %016llx\n", n,
			       (unsigned long long)fnv1a(buf, (size_t)(p - buf)));
	snprintf(path, sizeof(path), "%s/pins", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, (size_t)(p - buf) + tail),
			 (ssize_t)((size_t)(p - buf) + tail));
	close(fd);
	free(buf);
	return n;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void load_in_time(size_t line_len)
{
	struct cachectl_ctx *ctx;
	struct cachectl_pinstore *st;
	const char *path;
	size_t n = write_store(line_len);
	double t;

	assert_int_equal(cachectl_new(&ctx), 0);
	t = now();
	assert_int_equal(cachectl_pinstore_open(ctx, CACHECTL_SCOPE_USER, &st), 0);
	t = now() - t;
	print_message("# %zu pins of %zu bytes: loaded in %.2f s\n", n, line_len, t);
	assert_int_equal(cachectl_pinstore_get_count(st), n);
	/* and unescaped: "/N" then "/d\ni\\\tr" over and over */
	path = cachectl_pin_get_path(cachectl_pinstore_get_pin(st, n - 1));
	assert_non_null(strstr(path, "/d\ni\\\tr/d\ni\\\tr"));
	assert_int_equal(strlen(strchr(path + 1, '/')),
			 line_len / 16 * 7);
	assert_true(t < LOAD_SECS);
	cachectl_pinstore_unref(st);
	cachectl_unref(ctx);
}

/* a million bytes a line */
static void long_lines(void **state)
{
	load_in_time(1 << 20);
}

/* paths as long as a path can be, by the thousand */
static void many_pins(void **state)
{
	load_in_time(4000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(long_lines),
		cmocka_unit_test(many_pins),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
