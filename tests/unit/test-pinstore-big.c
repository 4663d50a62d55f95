// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A pin store at its size limit, of long paths escaped all through,
 * loads in linear time: a parser that rescans a line per escape takes
 * hours on one. Linear is checked by how the time scales, so it holds on
 * a loaded machine and under sanitizers alike; the absolute figure (under
 * 2 s for 64 MiB) is held too where timing means something, not under
 * ASan (bench/ is where it is measured).
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
 * A linear parser takes the same time for the same bytes whatever the
 * line length, and 8x for 8x the pins; one quadratic in the line takes
 * 16x for 16x longer lines, one quadratic in the pins 16x for 4x the
 * pins. Each figure is the better of two loads, and the margins
 * leave room for noise without letting either through.
 */
#define LINE_RATIO_MAX 4.0
#define PINS_RATIO_MAX 10.0
/* below this a load is too short to time: noise, not the parser */
#define MIN_SECS 0.01
/*
 * What a store at its limit may take to load: a daemon starts with it.
 * A linear parser takes a fraction of this even on a loaded machine.
 */
#define FULL_SECS_MAX 2.0

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
 * escape, up to just under @max bytes. Returns the pin count.
 */
static size_t write_store(size_t line_len, size_t max)
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
		if ((size_t)(p - buf) + len + line_len + 1 + 64 > max)
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

/* Loads a store of @line_len-byte pins up to @max bytes: seconds taken. */
static double load(size_t line_len, size_t max)
{
	struct cachectl_ctx *ctx;
	struct cachectl_pinstore *st;
	const char *path;
	size_t n = write_store(line_len, max);
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
	cachectl_pinstore_unref(st);
	cachectl_unref(ctx);
	return t;
}

/* the better of two: a load spike on the machine lengthens one, not both */
static double best_load(size_t line_len, size_t max)
{
	double a = load(line_len, max), b = load(line_len, max);

	return a < b ? a : b;
}

/* The absolute figure, where timing means something: not under ASan */
static void assert_fast(double t)
{
	const char *san = getenv("CACHECTL_TEST_SANITIZE");

	if (san && strstr(san, "address")) {
		print_message("# %.2f s, not held to %.0f s: ASan checks every byte the parser touches (the scaling still is)\n",
			      t, FULL_SECS_MAX);
		return;
	}
	print_message("# a 64 MiB store in %.2f s (at most %.0f s)\n", t, FULL_SECS_MAX);
	assert_true(t < FULL_SECS_MAX);
}

static void assert_scales(double t, double base, double ratio_max)
{
	print_message("# ratio %.2f (linear: <= %.0f)\n",
		      t / (base > MIN_SECS ? base : MIN_SECS), ratio_max);
	assert_true(t <= ratio_max * (base > MIN_SECS ? base : MIN_SECS));
}

/* a million bytes a line, against the same bytes in 64 KiB lines */
static void long_lines(void **state)
{
	double base = best_load(1 << 16, STORE_MAX), t = best_load(1 << 20, STORE_MAX);

	assert_fast(t);
	assert_scales(t, base, LINE_RATIO_MAX);
}

/* paths as long as a path can be, by the thousand: 4x the pins */
static void many_pins(void **state)
{
	double base = best_load(4000, STORE_MAX / 4), t = best_load(4000, STORE_MAX);

	assert_fast(t);
	assert_scales(t, base, PINS_RATIO_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(long_lines),
		cmocka_unit_test(many_pins),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
