// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The public ABI as an application sees it, through the shared library:
 * the public header and the kernel series' <linux/cachectl.h> build
 * together, and the size-versioned structs answer callers built against
 * their first published (smaller) layout without writing past it.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <libcachectl/libcachectl.h>
#include <linux/cachectl.h>

/* Both headers are in: each one's names keep their own values. */
_Static_assert(CACHECTL_OP_QUERY == 1 && CACHECTL_OP_PREFETCH == 4,
	       "uapi ops");
_Static_assert(CACHECTL_PREFETCH_WAIT == 1, "uapi prefetch flag");
_Static_assert(CACHECTL_WALK_OP_QUERY == 1 && CACHECTL_WALK_OP_PREFETCH == 2 &&
	       CACHECTL_WALK_OP_EVICT == 3, "walk ops");
_Static_assert(CACHECTL_FILE_PREFETCH_WAIT == 2 && CACHECTL_RUN_WAIT == 2,
	       "library prefetch flag");

/*
 * The layouts as first published (0.1, 0.2), frozen here: a binary built
 * then passes these sizes for ever.
 */
struct totals_v0 {
	uint64_t files, dirs, errors, skipped, size, cached, unknown, bytes;
};

struct residency_v0 {
	uint64_t size, range, cached, dirty, writeback, evicted,
		 recently_evicted, flags;
};

struct pin_status_v0 {
	uint64_t files, size, cached, locked, shortfall, flags;
};

#define CANARY 0xa5
#define SLACK 64

/* A buffer laid out as a caller's struct of @size bytes and a canary beyond. */
static unsigned char *canary_buf(size_t size)
{
	unsigned char *b = malloc(size + SLACK);

	assert_non_null(b);
	memset(b, CANARY, size + SLACK);
	return b;
}

static void assert_canary(const unsigned char *b, size_t from, size_t to)
{
	size_t i;

	for (i = from; i < to; i++)
		assert_int_equal(b[i], CANARY);
}

static void assert_zero(const unsigned char *b, size_t from, size_t to)
{
	size_t i;

	for (i = from; i < to; i++)
		assert_int_equal(b[i], 0);
}

static char dir[] = "/tmp/test-abi.XXXXXX";
static char file[sizeof(dir) + 16];

#define FILE_SIZE 20000

static int setup(void **state)
{
	char buf[FILE_SIZE];
	int fd;

	if (!mkdtemp(dir))
		return -1;
	snprintf(file, sizeof(file), "%s/f", dir);
	fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	memset(buf, 'x', sizeof(buf));
	if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
		return -1;
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	unlink(file);
	rmdir(dir);
	return 0;
}

static void test_totals_old_size(void **state)
{
	struct cachectl_ctx *ctx;
	struct cachectl_walk *w;
	struct totals_v0 t0;
	unsigned char *b;
	size_t cur = sizeof(struct cachectl_totals);
	struct stat st;

	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(cachectl_new(&ctx), 0);
	assert_int_equal(cachectl_walk_new(ctx, 0, &w), 0);
	assert_int_equal(cachectl_walk_add_path(w, dir), 0);
	assert_int_equal(cachectl_walk_run(w, CACHECTL_WALK_OP_QUERY, 0,
					   NULL, NULL), 0);

	/* the 0.1 size: its fields, and nothing written beyond them */
	b = canary_buf(sizeof(t0));
	assert_int_equal(cachectl_walk_get_totals(w, (void *)b, sizeof(t0)), 0);
	assert_canary(b, sizeof(t0), sizeof(t0) + SLACK);
	memcpy(&t0, b, sizeof(t0));
	assert_int_equal(t0.files, 1);
	assert_int_equal(t0.dirs, 1);
	assert_int_equal(t0.errors, 0);
	assert_int_equal(t0.size, st.st_size);
	free(b);

	/* a newer caller's bigger struct: the fields we do not know are 0 */
	b = canary_buf(cur + 16);
	assert_int_equal(cachectl_walk_get_totals(w, (void *)b, cur + 16), 0);
	assert_int_equal(((struct cachectl_totals *)b)->files, 1);
	assert_zero(b, cur, cur + 16);
	assert_canary(b, cur + 16, cur + 16 + SLACK);
	free(b);

	/* less than was ever published is refused, untouched */
	b = canary_buf(sizeof(t0) - 8);
	assert_int_equal(cachectl_walk_get_totals(w, (void *)b,
						  sizeof(t0) - 8), -EINVAL);
	assert_canary(b, 0, sizeof(t0) - 8 + SLACK);
	free(b);

	cachectl_walk_unref(w);
	cachectl_unref(ctx);
}

static void test_residency_old_size(void **state)
{
	struct cachectl_ctx *ctx;
	struct residency_v0 r0;
	unsigned char *b;
	int fd;

	assert_int_equal(cachectl_new(&ctx), 0);
	fd = open(file, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);

	/* 0.4 grew the struct: a 0.1 caller still gets its fields, no more */
	assert_true(sizeof(struct cachectl_residency) > sizeof(r0));
	b = canary_buf(sizeof(r0));
	assert_int_equal(cachectl_file_query(ctx, fd, 0, 0, 0, (void *)b,
					     sizeof(r0)), 0);
	assert_canary(b, sizeof(r0), sizeof(r0) + SLACK);
	memcpy(&r0, b, sizeof(r0));
	assert_int_equal(r0.size, FILE_SIZE);
	assert_int_equal(r0.range, FILE_SIZE);
	free(b);

	b = canary_buf(sizeof(r0) - 8);
	assert_int_equal(cachectl_file_query(ctx, fd, 0, 0, 0, (void *)b,
					     sizeof(r0) - 8), -EINVAL);
	free(b);

	close(fd);
	cachectl_unref(ctx);
}

/* ---- a daemon that answers one STATUS, speaking the wire protocol ---- */

static void send_text(int s, const char *text)
{
	uint32_t n = (uint32_t)strlen(text);
	unsigned char len[4] = { n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff,
				 n >> 24 };

	if (write(s, len, 4) != 4 || write(s, text, n) != (ssize_t)n)
		_exit(2);
}

static int recv_text(int s, char *buf, size_t size)
{
	unsigned char len[4];
	size_t n, got = 0;
	ssize_t r;

	if (recv(s, len, 4, MSG_WAITALL) != 4)
		return -1;
	n = len[0] | len[1] << 8 | len[2] << 16 | (size_t)len[3] << 24;
	if (n >= size)
		return -1;
	while (got < n) {
		r = read(s, buf + got, n - got);
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	buf[n] = '\0';
	return 0;
}

static void fake_daemon(int listener)
{
	char req[256];
	int s = accept(listener, NULL, NULL);

	if (s < 0)
		_exit(2);
	send_text(s, "HELLO\nversion=1");
	/* until the client hangs up */
	while (recv_text(s, req, sizeof(req)) == 0) {
		if (strcmp(req, "STATUS\npath=/pinned"))
			_exit(3);
		send_text(s, "OK\nfiles=3\nsize=12288\ncached=8192\n"
			     "locked=4096\nshortfall=4096\nflags=2");
	}
	_exit(0);
}

static void test_pin_status_old_size(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t cur = sizeof(struct cachectl_pin_status);
	struct cachectl_daemon *d;
	struct cachectl_ctx *ctx;
	struct pin_status_v0 s0;
	unsigned char *b;
	int listener, status;
	pid_t pid;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/cachectld.sock", dir);
	listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(listener >= 0);
	assert_int_equal(bind(listener, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(listener, 1), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		fake_daemon(listener);
	close(listener);

	setenv("CACHECTL_RUNTIME_DIR", dir, 1);
	assert_int_equal(cachectl_new(&ctx), 0);
	assert_int_equal(cachectl_daemon_connect(ctx, CACHECTL_SCOPE_USER, &d),
			 0);

	/* too small for any published layout: refused before asking */
	b = canary_buf(sizeof(s0) - 8);
	assert_int_equal(cachectl_daemon_get_status(d, "/pinned", (void *)b,
						    sizeof(s0) - 8), -EINVAL);
	assert_canary(b, 0, sizeof(s0) - 8 + SLACK);
	free(b);

	b = canary_buf(sizeof(s0));
	assert_int_equal(cachectl_daemon_get_status(d, "/pinned", (void *)b,
						    sizeof(s0)), 0);
	assert_canary(b, sizeof(s0), sizeof(s0) + SLACK);
	memcpy(&s0, b, sizeof(s0));
	assert_int_equal(s0.files, 3);
	assert_int_equal(s0.size, 12288);
	assert_int_equal(s0.cached, 8192);
	assert_int_equal(s0.locked, 4096);
	assert_int_equal(s0.shortfall, 4096);
	assert_int_equal(s0.flags, CACHECTL_PIN_STATUS_OVER_BUDGET);
	free(b);

	b = canary_buf(cur + 16);
	assert_int_equal(cachectl_daemon_get_status(d, "/pinned", (void *)b,
						    cur + 16), 0);
	assert_int_equal(((struct cachectl_pin_status *)b)->files, 3);
	assert_zero(b, cur, cur + 16);
	assert_canary(b, cur + 16, cur + 16 + SLACK);
	free(b);

	cachectl_daemon_unref(d);
	cachectl_unref(ctx);
	unsetenv("CACHECTL_RUNTIME_DIR");
	unlink(sa.sun_path);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_totals_old_size),
		cmocka_unit_test(test_residency_old_size),
		cmocka_unit_test(test_pin_status_old_size),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
