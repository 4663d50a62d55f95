// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The public calls cachectld needs, through the shared library as any
 * program uses them: the cached-only query against mincore(2) done here,
 * the walk's directory callback on a real tree, and the scope paths as
 * their manual pages state them.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <cmocka.h>

#include <libcachectl/libcachectl.h>
#include "mincore-oracle.h"

#define MiB (1024ull * 1024)

static char dir[PATH_MAX / 2];

static void mkfile(const char *path, size_t size)
{
	char buf[64 * 1024];
	size_t done = 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	memset(buf, 'x', sizeof(buf));
	while (done < size) {
		size_t n = size - done < sizeof(buf) ? size - done : sizeof(buf);

		assert_int_equal(write(fd, buf, n), (ssize_t)n);
		done += n;
	}
	assert_int_equal(fsync(fd), 0);
	close(fd);
}

static int setup(void **state)
{
	const char *base = getenv("CACHECTL_TEST_TMPDIR");

	/* a disk filesystem: tmpfs pages cannot be evicted */
	snprintf(dir, sizeof(dir), "%s/cachectl-client-XXXXXX",
		 base && *base ? base : "/var/tmp");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- cachectl_file_query_cached ----------------------------------------- */

static void query_cached_matches_mincore(void **state)
{
	struct cachectl_ctx *ctx;
	char path[PATH_MAX + 8], buf[256 * 1024];
	uint64_t bytes = 1;
	int fd, r;

	snprintf(path, sizeof(path), "%s/f", dir);
	mkfile(path, 4 * MiB);
	assert_int_equal(cachectl_new(&ctx), 0);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	/* no readahead behind our back between the two answers */
	assert_int_equal(posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM), 0);
	assert_int_equal(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);

	r = cachectl_file_query_cached(ctx, fd, &bytes);
	if (r == -EOPNOTSUPP) {
		/* no cachestat(2) in this kernel: nothing more to check */
		close(fd);
		cachectl_unref(ctx);
		skip();
	}
	assert_int_equal(r, 0);
	assert_int_equal(bytes, mincore_bytes(fd, 4 * MiB));

	assert_int_equal(pread(fd, buf, sizeof(buf), MiB), (ssize_t)sizeof(buf));
	assert_int_equal(cachectl_file_query_cached(ctx, fd, &bytes), 0);
	assert_int_equal(bytes, mincore_bytes(fd, 4 * MiB));
	assert_true(bytes >= sizeof(buf));

	assert_int_equal(cachectl_file_query_cached(ctx, -1, &bytes), -EINVAL);
	assert_int_equal(cachectl_file_query_cached(ctx, fd, NULL), -EINVAL);
	assert_int_equal(cachectl_file_query_cached(NULL, fd, &bytes), -EINVAL);
	close(fd);
	assert_int_equal(cachectl_file_query_cached(ctx, fd, &bytes), -EBADF);
	cachectl_unref(ctx);
}

/* ---- cachectl_walk_set_dir_fn ------------------------------------------- */

struct seen {
	char ev[64][PATH_MAX + 4];	/* "D path" or "F path", in order */
	int n;
	const char *stop_at;
};

static int on_dir(struct cachectl_walk *w, const char *path, void *data)
{
	struct seen *s = data;

	assert_true(s->n < 64);
	snprintf(s->ev[s->n++], sizeof(s->ev[0]), "D %s", path);
	if (s->stop_at && !strcmp(path, s->stop_at))
		return -ECANCELED;
	return 0;
}

static int on_file(struct cachectl_walk *w, const struct cachectl_entry *e,
		   void *data)
{
	struct seen *s = data;

	assert_true(s->n < 64);
	snprintf(s->ev[s->n++], sizeof(s->ev[0]), "F %s",
		 cachectl_entry_get_path(e));
	return 0;
}

static int find(const struct seen *s, const char *ev)
{
	int i;

	for (i = 0; i < s->n; i++)
		if (!strcmp(s->ev[i], ev))
			return i;
	return -1;
}

static int count(const struct seen *s, char kind)
{
	int i, n = 0;

	for (i = 0; i < s->n; i++)
		n += s->ev[i][0] == kind;
	return n;
}

static void mktree(char *root, size_t len)
{
	char p[PATH_MAX + 32];

	snprintf(root, len, "%s/tree", dir);
	assert_int_equal(mkdir(root, 0755), 0);
	snprintf(p, sizeof(p), "%s/a", root);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/a/b", root);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/c", root);
	assert_int_equal(mkdir(p, 0755), 0);	/* empty: still reported */
	snprintf(p, sizeof(p), "%s/f1", root);
	mkfile(p, 10);
	snprintf(p, sizeof(p), "%s/a/f2", root);
	mkfile(p, 10);
	snprintf(p, sizeof(p), "%s/a/b/f3", root);
	mkfile(p, 10);
	snprintf(p, sizeof(p), "%s/link", root);
	assert_int_equal(symlink("a", p), 0);	/* not followed */
}

static void walk_dir_fn_before_files(void **state)
{
	static struct seen s;
	struct cachectl_ctx *ctx;
	struct cachectl_walk *w;
	char root[PATH_MAX], ev[PATH_MAX + 64];
	const char *files[] = { "f1", "a/f2", "a/b/f3" };
	const char *dirs[] = { "", "/a", "/a", "/a/b" };
	size_t i;

	mktree(root, sizeof(root));
	assert_int_equal(cachectl_new(&ctx), 0);
	assert_int_equal(cachectl_walk_new(ctx, CACHECTL_WALK_RECURSIVE, &w), 0);
	assert_int_equal(cachectl_walk_add_path(w, root), 0);
	assert_int_equal(cachectl_walk_set_dir_fn(w, on_dir, &s), 0);
	assert_int_equal(cachectl_walk_run(w, CACHECTL_WALK_OP_QUERY, 0,
					   on_file, &s), 0);
	/* every directory entered, the empty one and the root included */
	assert_int_equal(count(&s, 'D'), 4);
	assert_int_equal(count(&s, 'F'), 3);
	snprintf(ev, sizeof(ev), "D %s/c", root);
	assert_true(find(&s, ev) >= 0);
	/* a file comes after its directory was handed over */
	for (i = 0; i < 3; i++) {
		char dev[PATH_MAX + 64];
		int fi, di;

		snprintf(ev, sizeof(ev), "F %s/%s", root, files[i]);
		snprintf(dev, sizeof(dev), "D %s%s", root,
			 i == 0 ? dirs[0] : i == 1 ? dirs[1] : dirs[3]);
		fi = find(&s, ev);
		di = find(&s, dev);
		assert_true(fi >= 0 && di >= 0);
		assert_true(di < fi);
	}

	/* without RECURSIVE only the root is entered */
	cachectl_walk_unref(w);
	memset(&s, 0, sizeof(s));
	assert_int_equal(cachectl_walk_new(ctx, 0, &w), 0);
	assert_int_equal(cachectl_walk_add_path(w, root), 0);
	assert_int_equal(cachectl_walk_set_dir_fn(w, on_dir, &s), 0);
	assert_int_equal(cachectl_walk_run(w, CACHECTL_WALK_OP_QUERY, 0,
					   on_file, &s), 0);
	assert_int_equal(count(&s, 'D'), 1);
	snprintf(ev, sizeof(ev), "D %s", root);
	assert_int_equal(find(&s, ev), 0);
	assert_int_equal(count(&s, 'F'), 1);

	/* an error from the callback stops the walk with it */
	cachectl_walk_unref(w);
	memset(&s, 0, sizeof(s));
	snprintf(ev, sizeof(ev), "%s/a", root);
	s.stop_at = ev;
	assert_int_equal(cachectl_walk_new(ctx, CACHECTL_WALK_RECURSIVE, &w), 0);
	assert_int_equal(cachectl_walk_add_path(w, root), 0);
	assert_int_equal(cachectl_walk_set_dir_fn(w, on_dir, &s), 0);
	assert_int_equal(cachectl_walk_run(w, CACHECTL_WALK_OP_QUERY, 0,
					   on_file, &s), -ECANCELED);
	assert_int_equal(cachectl_walk_set_dir_fn(NULL, on_dir, &s), -EINVAL);
	cachectl_walk_unref(w);
	cachectl_unref(ctx);
}

/* ---- scope paths --------------------------------------------------------- */

static void expect(int r, char **got, const char *want)
{
	assert_int_equal(r, 0);
	assert_string_equal(*got, want);
	free(*got);
	*got = NULL;
}

static void scope_paths_as_documented(void **state)
{
	char *s = NULL;

	unsetenv("XDG_STATE_HOME");
	unsetenv("XDG_RUNTIME_DIR");
	setenv("CACHECTL_STATE_DIR", "/st", 1);
	setenv("CACHECTL_RUNTIME_DIR", "/rt", 1);
	expect(cachectl_scope_get_state_dir(CACHECTL_SCOPE_USER, &s), &s, "/st");
	expect(cachectl_scope_get_state_dir(CACHECTL_SCOPE_SYSTEM, &s), &s, "/st");
	expect(cachectl_scope_get_socket_path(CACHECTL_SCOPE_SYSTEM, &s), &s,
	       "/rt/cachectld.sock");

	unsetenv("CACHECTL_STATE_DIR");
	unsetenv("CACHECTL_RUNTIME_DIR");
	setenv("HOME", "/home/who", 1);
	expect(cachectl_scope_get_state_dir(CACHECTL_SCOPE_SYSTEM, &s), &s,
	       "/var/lib/cachectl");
	expect(cachectl_scope_get_state_dir(CACHECTL_SCOPE_USER, &s), &s,
	       "/home/who/.local/state/cachectl");
	setenv("XDG_STATE_HOME", "/xs", 1);
	expect(cachectl_scope_get_state_dir(CACHECTL_SCOPE_USER, &s), &s,
	       "/xs/cachectl");

	expect(cachectl_scope_get_socket_path(CACHECTL_SCOPE_SYSTEM, &s), &s,
	       "/run/cachectl/cachectld.sock");
	setenv("XDG_RUNTIME_DIR", "/run/user/7", 1);
	expect(cachectl_scope_get_socket_path(CACHECTL_SCOPE_USER, &s), &s,
	       "/run/user/7/cachectl/cachectld.sock");
	unsetenv("XDG_RUNTIME_DIR");
	assert_int_equal(cachectl_scope_get_socket_path(CACHECTL_SCOPE_USER, &s), 0);
	{
		char want[64];

		snprintf(want, sizeof(want), "/tmp/cachectl-%u/cachectld.sock",
			 (unsigned int)getuid());
		assert_string_equal(s, want);
		free(s);
	}

	assert_int_equal(cachectl_scope_get_state_dir(0, &s), -EINVAL);
	assert_int_equal(cachectl_scope_get_socket_path(3, &s), -EINVAL);
	assert_int_equal(cachectl_scope_get_state_dir(CACHECTL_SCOPE_USER, NULL),
			 -EINVAL);
	assert_int_equal(cachectl_scope_get_socket_path(CACHECTL_SCOPE_USER, NULL),
			 -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(query_cached_matches_mincore),
		cmocka_unit_test(walk_dir_fn_before_files),
		cmocka_unit_test(scope_paths_as_documented),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
