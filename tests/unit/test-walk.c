// SPDX-License-Identifier: LGPL-2.1-or-later
/* Tree walks over a real scratch tree: what is visited, skipped, failed. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "cachectl-private.h"

static char root[64];

struct seen {
	char paths[64][256];
	int errors[64];
	int n;
};

static int on_entry(struct cachectl_walk *w, const struct cachectl_entry *e,
		    void *data)
{
	struct seen *s = data;
	const char *p = cachectl_entry_get_path(e);

	assert_true(s->n < 64);
	snprintf(s->paths[s->n], sizeof(s->paths[0]), "%s",
		 p + strlen(root) + 1);
	s->errors[s->n] = cachectl_entry_get_error(e);
	s->n++;
	return 0;
}

static int has(const struct seen *s, const char *p)
{
	int i;

	for (i = 0; i < s->n; i++)
		if (!strcmp(s->paths[i], p))
			return s->errors[i] == 0 ? 1 : s->errors[i];
	return 0;
}

static void mk(const char *rel, const char *data)
{
	char p[256];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	close(fd);
}

static void at(char *buf, const char *rel)
{
	snprintf(buf, 256, "%s/%s", root, rel);
}

static int setup(void **state)
{
	char p[256], q[256];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s;

	strcpy(root, "/tmp/cachectl-walk-XXXXXX");
	assert_non_null(mkdtemp(root));
	at(p, "sub"), mkdir(p, 0755);
	at(p, "sub/deep"), mkdir(p, 0755);
	at(p, "skip.d"), mkdir(p, 0755);
	mk("a.txt", "a");
	mk("b.dat", "bb");
	mk("sub/c.txt", "ccc");
	mk("sub/deep/d.txt", "dddd");
	mk("skip.d/e.txt", "e");
	at(p, "fifo"), assert_int_equal(mkfifo(p, 0644), 0);
	at(p, "a.txt"), at(q, "hardlink"), assert_int_equal(link(p, q), 0);
	at(p, "sub/loop"), assert_int_equal(symlink("..", p), 0);
	at(p, "dangling"), assert_int_equal(symlink("nowhere", p), 0);
	at(p, "sock");
	assert_true(strlen(p) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, p, strlen(p) + 1);
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(s);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

static int run(unsigned int flags, const char **excl, const char **incl,
	       struct seen *s, struct cachectl_totals *t)
{
	struct cachectl_ctx *ctx;
	struct cachectl_walk *w;
	int r;

	memset(s, 0, sizeof(*s));
	assert_int_equal(cachectl_new(&ctx), 0);
	if (cachectl_backend_probe(ctx, NULL) == -EOPNOTSUPP) {
		/* CACHECTL_BACKEND=kernel where the kernel lacks fcachectl */
		cachectl_unref(ctx);
		skip();
	}
	assert_int_equal(cachectl_walk_new(ctx, flags, &w), 0);
	cachectl_unref(ctx);	/* the walk holds its own reference */
	for (; excl && *excl; excl++)
		assert_int_equal(cachectl_walk_add_exclude(w, *excl), 0);
	for (; incl && *incl; incl++)
		assert_int_equal(cachectl_walk_add_include(w, *incl), 0);
	assert_int_equal(cachectl_walk_add_path(w, root), 0);
	r = cachectl_walk_run(w, CACHECTL_WALK_OP_QUERY, 0, on_entry, s);
	assert_int_equal(cachectl_walk_get_totals(w, t, sizeof(*t)), 0);
	assert_null(cachectl_walk_unref(w));
	return r;
}

static void recursive_physical(void **state)
{
	struct cachectl_totals t;
	struct seen s;

	assert_int_equal(run(CACHECTL_WALK_RECURSIVE, NULL, NULL, &s, &t), 0);
	assert_int_equal(has(&s, "sub/deep/d.txt"), 1);
	assert_int_equal(has(&s, "skip.d/e.txt"), 1);
	/* one of the two links; FIFO, socket and symlinks never visited */
	assert_int_equal(has(&s, "a.txt") + has(&s, "hardlink"), 1);
	assert_int_equal(has(&s, "fifo"), 0);
	assert_int_equal(has(&s, "sock"), 0);
	assert_int_equal(has(&s, "sub/loop"), 0);
	assert_int_equal(t.files, 5);
	assert_int_equal(t.errors, 0);
	assert_int_equal(t.size, 1 + 2 + 3 + 4 + 1);
}

static void not_recursive_lists_one_level(void **state)
{
	struct cachectl_totals t;
	struct seen s;

	assert_int_equal(run(CACHECTL_WALK_ALL_LINKS, NULL, NULL, &s, &t), 0);
	assert_int_equal(has(&s, "a.txt"), 1);
	assert_int_equal(has(&s, "hardlink"), 1);
	assert_int_equal(has(&s, "sub/c.txt"), 0);
	assert_int_equal(t.files, 3);
}

static void follow_survives_loop(void **state)
{
	struct cachectl_totals t;
	struct seen s;

	/* sub/loop -> .. leads back to the root: a loop, named, not walked */
	assert_int_equal(run(CACHECTL_WALK_RECURSIVE | CACHECTL_WALK_FOLLOW,
			     NULL, NULL, &s, &t), 1);
	assert_int_equal(has(&s, "sub/loop"), -ELOOP);
	assert_int_equal(has(&s, "sub/deep/d.txt"), 1);
	assert_int_equal(t.errors, 1);
	assert_int_equal(t.files, 5);
}

static void globs(void **state)
{
	const char *excl[] = { "skip.d", "*.dat", NULL };
	const char *incl[] = { "*.txt", NULL };
	struct cachectl_totals t;
	struct seen s;

	assert_int_equal(run(CACHECTL_WALK_RECURSIVE, excl, incl, &s, &t), 0);
	assert_int_equal(has(&s, "skip.d/e.txt"), 0);
	assert_int_equal(has(&s, "b.dat"), 0);
	assert_int_equal(has(&s, "sub/c.txt"), 1);
	assert_int_equal(has(&s, "hardlink"), 0);
	assert_int_equal(has(&s, "a.txt"), 1);
}

static void bad_arguments(void **state)
{
	struct cachectl_ctx *ctx;
	struct cachectl_walk *w;

	assert_int_equal(cachectl_new(&ctx), 0);
	assert_int_equal(cachectl_walk_new(ctx, 0x100, &w), -EINVAL);
	assert_int_equal(cachectl_walk_new(ctx, 0, &w), 0);
	assert_int_equal(cachectl_walk_run(w, CACHECTL_WALK_OP_QUERY, 0, NULL, NULL),
			 -EINVAL);	/* no path */
	assert_int_equal(cachectl_walk_add_path(w, ""), -EINVAL);
	assert_int_equal(cachectl_walk_add_exclude(w, ""), -EINVAL);
	assert_int_equal(cachectl_walk_add_path(w, "/nonexistent/x"), 0);
	assert_int_equal(cachectl_walk_run(w, 99, 0, NULL, NULL), -EINVAL);
	assert_int_equal(cachectl_walk_run(w, CACHECTL_WALK_OP_QUERY,
					   CACHECTL_RUN_READ, NULL, NULL),
			 -EINVAL);
	assert_int_equal(cachectl_walk_set_queue_depth(w, 5000), -EINVAL);
	/* a missing root is a per-path failure, not a walk failure */
	assert_int_equal(cachectl_walk_run(w, CACHECTL_WALK_OP_QUERY, 0, NULL, NULL),
			 1);
	cachectl_walk_unref(w);
	cachectl_unref(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(recursive_physical),
		cmocka_unit_test(not_recursive_lists_one_level),
		cmocka_unit_test(follow_survives_loop),
		cmocka_unit_test(globs),
		cmocka_unit_test(bad_arguments),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
