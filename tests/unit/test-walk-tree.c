// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The walk's traversal on the fake kernel's tree: what is visited and
 * what skipped, loops, vanished files, FIFOs never opened, hard links
 * once (also through the thread pool), getdents failures, and the pin
 * walks with their filter.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fake-kernel.h"
#include "uapi-cachectl.h"

#define ROOT "/fake-root"

struct seen {
	char paths[64][64];
	int errors[64];
	uint64_t state[64];
	int n;
};

static int on_entry(struct cachectl_walk *w, const struct cachectl_entry *e,
		    void *data)
{
	struct seen *s = data;
	struct cachectl_residency r;
	const char *p = cachectl_entry_get_path(e);

	assert_true(s->n < 64);
	assert_int_equal(strncmp(p, ROOT, strlen(ROOT)), 0);
	snprintf(s->paths[s->n], sizeof(s->paths[0]), "%s", p + strlen(ROOT));
	s->errors[s->n] = cachectl_entry_get_error(e);
	if (cachectl_entry_get_residency(e, &r, sizeof(r)) == 0)
		s->state[s->n] = r.cache_state;
	s->n++;
	return 0;
}

/* 1 if seen without error, its error if seen failed, 0 if not seen */
static int has(const struct seen *s, const char *p)
{
	int i;

	for (i = 0; i < s->n; i++)
		if (!strcmp(s->paths[i], p))
			return s->errors[i] == 0 ? 1 : s->errors[i];
	return 0;
}

static struct cachectl_ctx *new_ctx(const char *backend)
{
	struct cachectl_ctx *ctx = fake_ctx_new(backend);

	assert_non_null(ctx);
	return ctx;
}

static int run(struct cachectl_ctx *ctx, unsigned int flags, int op,
	       struct seen *s, struct cachectl_totals *t)
{
	struct cachectl_walk *w;
	int r;

	assert_int_equal(cachectl_walk_new(ctx, flags, &w), 0);
	assert_int_equal(cachectl_walk_add_path(w, ROOT), 0);
	r = cachectl_walk_run(w, op, 0, on_entry, s);
	assert_int_equal(cachectl_walk_get_totals(w, t, sizeof(*t)), 0);
	cachectl_walk_unref(w);
	return r;
}

static int tree_basic(void)
{
	int sub, deep, a, l1, l2, gone, unk;

	fake_tree_reset(ROOT);
	a = fake_tree_add(0, "a.txt", S_IFREG);
	fake_tree_add(0, "fifo", S_IFIFO);
	sub = fake_tree_add(0, "sub", S_IFDIR);
	fake_tree_add(sub, "b.txt", S_IFREG);
	deep = fake_tree_add(sub, "deep", S_IFDIR);
	fake_tree_add(deep, "c.txt", S_IFREG);
	gone = fake_tree_add(0, "gone.txt", S_IFREG);
	ft.n[gone].vanished = true;
	l1 = fake_tree_add(0, "link1", S_IFREG);
	l2 = fake_tree_add(sub, "link2", S_IFREG);
	ft.n[l1].ino = ft.n[l2].ino = 7;
	fake_tree_link(0, "sym", a);
	unk = fake_tree_add(deep, "unk.txt", S_IFREG);
	ft.n[unk].unknown_type = true;
	return a;
}

static void visits_and_skips(void **state)
{
	struct cachectl_ctx *ctx = new_ctx(NULL);
	struct cachectl_totals t;
	struct seen s = { 0 };
	int i;

	fake_reset(8192);
	tree_basic();
	assert_int_equal(run(ctx, CACHECTL_WALK_RECURSIVE, CACHECTL_WALK_OP_QUERY,
			     &s, &t), 0);
	assert_int_equal(has(&s, "/a.txt"), 1);
	assert_int_equal(has(&s, "/sub/b.txt"), 1);
	assert_int_equal(has(&s, "/sub/deep/c.txt"), 1);
	/* d_type DT_UNKNOWN: looked up with fstatat */
	assert_int_equal(has(&s, "/sub/deep/unk.txt"), 1);
	/* one of the two links, once */
	assert_int_equal(has(&s, "/link1") + has(&s, "/sub/link2"), 1);
	assert_int_equal(s.n, 5);
	assert_int_equal(t.files, 5);
	assert_int_equal(t.dirs, 3);
	assert_int_equal(t.errors, 0);
	/* the FIFO, the vanished file, the second link, the symlink */
	assert_int_equal(t.skipped, 4);
	for (i = 0; i < ft.count; i++) {
		if (!strcmp(ft.n[i].name, "fifo") ||
		    !strcmp(ft.n[i].name, "sym"))
			assert_int_equal(ft.n[i].opens, 0);
	}
	assert_null(cachectl_unref(ctx));
}

static void not_recursive(void **state)
{
	struct cachectl_ctx *ctx = new_ctx(NULL);
	struct cachectl_totals t;
	struct seen s = { 0 };

	fake_reset(8192);
	tree_basic();
	assert_int_equal(run(ctx, 0, CACHECTL_WALK_OP_QUERY, &s, &t), 0);
	assert_int_equal(has(&s, "/a.txt"), 1);
	assert_int_equal(has(&s, "/link1"), 1);
	assert_int_equal(has(&s, "/sub/b.txt"), 0);
	assert_int_equal(t.dirs, 1);
	assert_null(cachectl_unref(ctx));
}

static void follow_loop_and_twice(void **state)
{
	struct cachectl_ctx *ctx = new_ctx(NULL);
	struct cachectl_totals t;
	struct seen s = { 0 };
	int sub;

	fake_reset(8192);
	fake_tree_reset(ROOT);
	sub = fake_tree_add(0, "sub", S_IFDIR);
	fake_tree_add(sub, "f", S_IFREG);
	fake_tree_link(sub, "up", 0);		/* a loop back to the root */
	fake_tree_link(0, "again", sub);	/* sub, a second way */
	fake_tree_link(0, "dangling", -1);
	assert_int_equal(run(ctx, CACHECTL_WALK_RECURSIVE | CACHECTL_WALK_FOLLOW,
			     CACHECTL_WALK_OP_QUERY, &s, &t), 1);
	assert_int_equal(has(&s, "/sub/up"), -ELOOP);
	/* sub's file once, whichever way came first */
	assert_int_equal(has(&s, "/sub/f") + has(&s, "/again/f"), 1);
	assert_int_equal(t.files, 1);
	assert_int_equal(t.errors, 1);
	/* the second way into sub, and the dangling link */
	assert_int_equal(t.skipped, 2);
	assert_null(cachectl_unref(ctx));
}

/* Enough files in one getdents chunk for the pool's threads. */
static void links_once_through_pool(void **state)
{
	static const char *const names[24] = {
		"f00", "f01", "f02", "f03", "f04", "f05", "f06", "f07",
		"f08", "f09", "f10", "f11", "f12", "f13", "f14", "f15",
		"f16", "f17", "f18", "f19", "f20", "f21", "f22", "f23",
	};
	struct cachectl_ctx *ctx = new_ctx(NULL);
	struct cachectl_totals t;
	struct seen s = { 0 };
	int i, n;

	fake_reset(8192);
	fake_tree_reset(ROOT);
	for (i = 0; i < 24; i++) {
		n = fake_tree_add(0, names[i], S_IFREG);
		ft.n[n].ino = 1000 + i / 2;	/* pairs of links */
	}
	assert_int_equal(run(ctx, 0, CACHECTL_WALK_OP_QUERY, &s, &t), 0);
	assert_int_equal(t.files, 12);
	assert_int_equal(t.skipped, 12);
	for (i = 0; i < 24; i += 2) {
		char a[8], b[8];

		snprintf(a, sizeof(a), "/%s", names[i]);
		snprintf(b, sizeof(b), "/%s", names[i + 1]);
		assert_int_equal(has(&s, a) + has(&s, b), 1);
	}
	/* every link visited when asked to */
	memset(&s, 0, sizeof(s));
	assert_int_equal(run(ctx, CACHECTL_WALK_ALL_LINKS,
			     CACHECTL_WALK_OP_QUERY, &s, &t), 0);
	assert_int_equal(t.files, 24);
	assert_null(cachectl_unref(ctx));
}

static void getdents_fails(void **state)
{
	struct cachectl_ctx *ctx = new_ctx(NULL);
	struct cachectl_totals t;
	struct seen s = { 0 };

	fake_reset(8192);
	tree_basic();
	ft.getdents_err = -EIO;
	assert_int_equal(run(ctx, CACHECTL_WALK_RECURSIVE,
			     CACHECTL_WALK_OP_QUERY, &s, &t), 1);
	assert_int_equal(s.n, 1);
	assert_int_equal(has(&s, ""), -EIO);
	/* a filesystem that is gone ends the walk with one error */
	memset(&s, 0, sizeof(s));
	ft.getdents_err = -ENOTCONN;
	assert_int_equal(run(ctx, CACHECTL_WALK_RECURSIVE,
			     CACHECTL_WALK_OP_QUERY, &s, &t), -ENOTCONN);
	assert_int_equal(s.n, 0);
	assert_null(cachectl_unref(ctx));
}

static int skip_a(struct cachectl_walk *w, const char *path, void *data)
{
	int *calls = data;

	(*calls)++;
	return !strcmp(path, ROOT "/a.txt");
}

static void pin_walk_kernel(void **state)
{
	struct cachectl_ctx *ctx;
	struct cachectl_walk *w;
	struct cachectl_totals t;
	struct seen s = { 0 };
	int a, calls = 0;
	unsigned int caps = 0;

	fake_reset(8192);
	fk.syscall = true;
	fk.object = true;
	ctx = new_ctx("kernel");
	assert_int_equal(cachectl_get_capabilities(ctx, &caps), 0);
	assert_true(caps & CACHECTL_CAP_PIN);
	a = tree_basic();
	assert_int_equal(cachectl_walk_new(ctx, 0, &w), 0);
	assert_int_equal(cachectl_walk_add_path(w, ROOT), 0);
	assert_int_equal(cachectl_walk_set_filter_fn(w, skip_a, &calls), 0);
	assert_int_equal(cachectl_walk_run(w, CACHECTL_WALK_OP_PIN, 0,
					   on_entry, &s), 0);
	assert_int_equal(cachectl_walk_get_totals(w, &t, sizeof(t)), 0);
	cachectl_walk_unref(w);
	/* the filter saw the regular files; a.txt was never opened */
	assert_int_equal(calls, 3);
	assert_int_equal(ft.n[a].opens, 0);
	assert_int_equal(has(&s, "/a.txt"), 0);
	assert_int_equal(has(&s, "/link1"), 1);
	assert_true(fk.kpinned);
	assert_int_equal(fk.kcalls[KCACHECTL_OP_PIN], 1);
	/* the entry shows the state the pin left */
	assert_true(s.state[0] & CACHECTL_CACHE_PINNED);

	memset(&s, 0, sizeof(s));
	assert_int_equal(run(ctx, 0, CACHECTL_WALK_OP_UNPIN, &s, &t), 0);
	assert_false(fk.kpinned);
	assert_int_equal(t.files, 2);
	assert_null(cachectl_unref(ctx));
}

static void pin_walk_shim(void **state)
{
	struct cachectl_ctx *ctx;
	struct cachectl_totals t;
	struct seen s = { 0 };
	unsigned int caps = ~0u;

	fake_reset(8192);
	ctx = new_ctx("shim");
	assert_int_equal(cachectl_get_capabilities(ctx, &caps), 0);
	assert_int_equal(caps, 0);
	tree_basic();
	/* each file fails as cachectl_file_pin() would */
	assert_int_equal(run(ctx, 0, CACHECTL_WALK_OP_PIN, &s, &t), 1);
	assert_int_equal(has(&s, "/a.txt"), -EOPNOTSUPP);
	assert_int_equal(t.errors, 2);
	assert_int_equal(t.files, 0);
	assert_null(cachectl_unref(ctx));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(visits_and_skips),
		cmocka_unit_test(not_recursive),
		cmocka_unit_test(follow_loop_and_twice),
		cmocka_unit_test(links_once_through_pool),
		cmocka_unit_test(getdents_fails),
		cmocka_unit_test(pin_walk_kernel),
		cmocka_unit_test(pin_walk_shim),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
