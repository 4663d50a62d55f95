// SPDX-License-Identifier: LGPL-2.1-or-later
/* Which files a pin covers: the text rule and the walk agree. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <libcachectl/libcachectl.h>

static char root[256];

static const char *const tree[] = {
	"a", "d/", "d/b", "d/e/", "d/e/c", "d/e/f/", "d/e/f/g", "dx", "dx/h",
};

static int setup(void **state)
{
	char tmpl[] = "/tmp/test-pin-cover.XXXXXX", p[PATH_MAX];
	size_t i;

	assert_non_null(mkdtemp(tmpl));
	assert_true(realpath(tmpl, p) && strlen(p) < sizeof(root));
	strcpy(root, p);
	for (i = 0; i < sizeof(tree) / sizeof(tree[0]); i++) {
		size_t n = strlen(tree[i]);

		snprintf(p, sizeof(p), "%s/%s", root, tree[i]);
		if (tree[i][n - 1] == '/' || !strcmp(tree[i], "dx")) {
			assert_int_equal(mkdir(p, 0755), 0);
		} else {
			int fd = open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);

			assert_true(fd >= 0);
			assert_int_equal(write(fd, "x", 1), 1);
			close(fd);
		}
	}
	return 0;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd);
}

static struct cachectl_pin *pin_of(struct cachectl_ctx *ctx, const char *rel,
				   unsigned int flags)
{
	struct cachectl_pin *pin;
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	assert_int_equal(cachectl_pin_new(ctx, p, flags, &pin), 0);
	return pin;
}

static void text_rule(void **state)
{
	struct cachectl_ctx *ctx;
	struct cachectl_pin *flat, *rec, *top;
	char p[PATH_MAX];

	assert_int_equal(cachectl_new(&ctx), 0);
	flat = pin_of(ctx, "d", 0);
	rec = pin_of(ctx, "d", CACHECTL_PIN_RECURSIVE);
#define AT(rel) (snprintf(p, sizeof(p), "%s/%s", root, rel), p)
	assert_int_equal(cachectl_pin_covers(flat, AT("d")), 1);
	assert_int_equal(cachectl_pin_covers(flat, AT("d/b")), 1);
	assert_int_equal(cachectl_pin_covers(flat, AT("d/e/c")), 0);
	assert_int_equal(cachectl_pin_covers(rec, AT("d/e/c")), 1);
	assert_int_equal(cachectl_pin_covers(rec, AT("d/e/f/g")), 1);
	/* a sibling with the pin's path as a prefix is not under it */
	assert_int_equal(cachectl_pin_covers(rec, AT("dx/h")), 0);
	assert_int_equal(cachectl_pin_covers(rec, AT("dx")), 0);
	assert_int_equal(cachectl_pin_covers(rec, AT("d/")), 0);
	assert_int_equal(cachectl_pin_covers(rec, "relative/d"), -EINVAL);
	assert_int_equal(cachectl_pin_covers(NULL, p), -EINVAL);
	/* a file that is gone is still answered for */
	assert_int_equal(cachectl_pin_covers(rec, AT("d/gone/x")), 1);
	assert_int_equal(cachectl_pin_new(ctx, "/", 0, &top), 0);
	assert_int_equal(cachectl_pin_covers(top, "/etc"), 1);
	assert_int_equal(cachectl_pin_covers(top, "/etc/passwd"), 0);
	assert_int_equal(cachectl_pin_covers(top, "/"), 1);
	cachectl_pin_unref(top);
	cachectl_pin_unref(flat);
	cachectl_pin_unref(rec);
	cachectl_unref(ctx);
}

struct seen {
	const struct cachectl_pin *pin;
	int files, mismatches;
};

static int on_entry(struct cachectl_walk *w, const struct cachectl_entry *e,
		    void *data)
{
	struct seen *s = data;

	if (cachectl_entry_get_error(e) < 0)
		return 0;
	s->files++;
	if (cachectl_pin_covers(s->pin, cachectl_entry_get_path(e)) != 1) {
		print_message("# walked, not covered: %s\n",
			      cachectl_entry_get_path(e));
		s->mismatches++;
	}
	return 0;
}

/* the walk visits every regular file the rule covers, and no other */
static void walk_agrees(void **state)
{
	static const struct {
		const char *rel;
		unsigned int flags;
		int files;
	} cases[] = {
		{ "d", 0, 1 },			/* d/b */
		{ "d", CACHECTL_PIN_RECURSIVE, 3 },	/* b, e/c, e/f/g */
		{ "a", 0, 1 },
		{ "", CACHECTL_PIN_RECURSIVE, 5 },
	};
	struct cachectl_ctx *ctx;
	size_t i;

	assert_int_equal(cachectl_new(&ctx), 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cachectl_pin *pin = pin_of(ctx, cases[i].rel,
						  cases[i].flags);
		struct seen s = { .pin = pin };
		struct cachectl_pin_usage u;
		struct cachectl_walk *w;

		assert_int_equal(cachectl_pin_walk_new(pin, 0, &w), 0);
		assert_true(cachectl_walk_run(w, CACHECTL_WALK_OP_QUERY, 0, on_entry,
					      &s) >= 0);
		cachectl_walk_unref(w);
		assert_int_equal(s.mismatches, 0);
		assert_int_equal(s.files, cases[i].files);
		assert_int_equal(cachectl_pin_measure(pin, &u, sizeof(u)), 0);
		assert_int_equal(u.files, cases[i].files);
		assert_int_equal(u.size, cases[i].files);	/* 1 byte each */
		assert_int_equal(u.errors, 0);
		cachectl_pin_unref(pin);
	}
	cachectl_unref(ctx);
}

static void bad_args(void **state)
{
	struct cachectl_ctx *ctx;
	struct cachectl_pin *pin;
	struct cachectl_pin_usage u;
	struct cachectl_walk *w;

	assert_int_equal(cachectl_new(&ctx), 0);
	pin = pin_of(ctx, "d", 0);
	assert_int_equal(cachectl_pin_walk_new(pin, CACHECTL_WALK_RECURSIVE, &w),
			 -EINVAL);
	assert_int_equal(cachectl_pin_walk_new(NULL, 0, &w), -EINVAL);
	assert_int_equal(cachectl_pin_measure(pin, &u, 8), -EINVAL);
	assert_int_equal(cachectl_pin_measure(pin, NULL, sizeof(u)), -EINVAL);
	cachectl_pin_unref(pin);
	cachectl_unref(ctx);
}

static void events(void **state)
{
	assert_string_equal(cachectl_event_name(CACHECTL_EVENT_SATISFIED),
			    "satisfied");
	assert_string_equal(cachectl_event_name(CACHECTL_EVENT_OVER_BUDGET),
			    "over-budget");
	assert_string_equal(cachectl_event_name(CACHECTL_EVENT_ERROR), "error");
	assert_string_equal(cachectl_event_name(0), "unknown");
	assert_string_equal(cachectl_event_name(99), "unknown");
	assert_string_equal(cachectl_event_name(-1), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(text_rule),
		cmocka_unit_test(walk_agrees),
		cmocka_unit_test(bad_args),
		cmocka_unit_test(events),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
