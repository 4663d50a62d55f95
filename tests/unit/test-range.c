// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Ranges of files on the fake kernel: walk ranges widened to pages and
 * merged, a range function, the cached ranges of a query, the rate cap's
 * chunks and waits, and the arguments refused. The fake kernel's page
 * bitmap is the truth: what advice brought in, not what we asked for.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "fake-kernel.h"

#define ROOT "/fake-root"
#define PG 4096ull

struct got {
	int n, error;
	uint64_t off[32], len[32];
	int nr, ranges_err;
	uint64_t size, cached, range;
	int64_t mtime;
};

static int on_entry(struct cachectl_walk *w, const struct cachectl_entry *e,
		    void *data)
{
	struct got *g = data;
	struct cachectl_residency r;
	size_t cur = 0;
	int k;

	g->n++;
	g->error = cachectl_entry_get_error(e);
	if (cachectl_entry_get_residency(e, &r, sizeof(r)) == 0) {
		g->cached = r.cached;
		g->range = r.range;
	}
	if (cachectl_entry_get_stamp(e, &g->size, &g->mtime) < 0)
		g->size = UINT64_MAX;
	while ((k = cachectl_entry_next_range(e, &cur, &g->off[g->nr],
					      &g->len[g->nr])) > 0 &&
	       g->nr < 31)
		g->nr++;
	g->ranges_err = k;
	return 0;
}

static struct cachectl_walk *one_file(struct cachectl_ctx *ctx, uint64_t size)
{
	struct cachectl_walk *w;

	fake_reset(size);
	fake_tree_reset(ROOT);
	fake_tree_add(0, "f", S_IFREG);
	assert_int_equal(cachectl_walk_new(ctx, 0, &w), 0);
	assert_int_equal(cachectl_walk_add_path(w, ROOT), 0);
	return w;
}

static void expect_pages(uint64_t from, uint64_t to, bool want)
{
	uint64_t p;

	for (p = from; p < to; p++)
		if (fk.resident[p] != want)
			fail_msg("page %llu is %s", (unsigned long long)p,
				 fk.resident[p] ? "resident" : "not resident");
}

static void prefetch_ranges_exactly(void **state)
{
	struct cachectl_ctx *ctx = fake_ctx_new("shim");
	struct cachectl_walk *w = one_file(ctx, 1 << 20);
	struct got g = { 0 };

	/* page 2 (unaligned), pages 0 and 1 (merged), 225 to the end */
	assert_int_equal(cachectl_walk_add_range(w, 2 * PG + 100, 100), 0);
	assert_int_equal(cachectl_walk_add_range(w, 900 << 10, 0), 0);
	assert_int_equal(cachectl_walk_add_range(w, 0, PG), 0);
	assert_int_equal(cachectl_walk_add_range(w, PG, 1), 0);
	assert_int_equal(cachectl_walk_run(w, CACHECTL_WALK_OP_PREFETCH, 0,
					   on_entry, &g), 0);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.error, 0);
	expect_pages(0, 3, true);
	expect_pages(3, 225, false);
	expect_pages(225, 256, true);
	assert_int_equal(g.size, 1 << 20);

	/* the same walk queries the same ranges: all of them cached now */
	memset(&g, 0, sizeof(g));
	assert_int_equal(cachectl_walk_run(w, CACHECTL_WALK_OP_QUERY, 0,
					   on_entry, &g), 0);
	assert_int_equal(g.range, 3 * PG + 31 * PG);
	assert_int_equal(g.cached, g.range);

	/* and evicts them: the rest stays */
	fk.resident[100] = true;
	memset(&g, 0, sizeof(g));
	assert_int_equal(cachectl_walk_run(w, CACHECTL_WALK_OP_EVICT, 0,
					   on_entry, &g), 0);
	expect_pages(0, 3, false);
	assert_true(fk.resident[100]);
	expect_pages(225, 256, false);
	cachectl_walk_unref(w);
	assert_null(cachectl_unref(ctx));
}

static void cached_ranges_recorded(void **state)
{
	struct cachectl_ctx *ctx = fake_ctx_new("shim");
	struct cachectl_walk *w = one_file(ctx, 10 * PG + 10);
	struct got g = { 0 };

	fk.resident[0] = fk.resident[1] = fk.resident[5] = true;
	fk.resident[10] = true;		/* the last, partial page */
	assert_int_equal(cachectl_walk_run(w, CACHECTL_WALK_OP_QUERY,
					   CACHECTL_RUN_RANGES, on_entry, &g), 0);
	assert_int_equal(g.ranges_err, 0);
	assert_int_equal(g.nr, 3);
	assert_int_equal(g.off[0], 0);
	assert_int_equal(g.len[0], 2 * PG);
	assert_int_equal(g.off[1], 5 * PG);
	assert_int_equal(g.len[1], PG);
	assert_int_equal(g.off[2], 10 * PG);
	assert_int_equal(g.len[2], 10);	/* clipped to the size */

	/* where mincore would lie: no ranges rather than false ones */
	fk.foreign = true;
	fk.access_err = -EACCES;
	memset(&g, 0, sizeof(g));
	assert_int_equal(cachectl_walk_run(w, CACHECTL_WALK_OP_QUERY,
					   CACHECTL_RUN_RANGES, on_entry, &g), 0);
	assert_int_equal(g.ranges_err, -ENODATA);

	/* without the flag: none either */
	fk.foreign = false;
	fk.access_err = 0;
	memset(&g, 0, sizeof(g));
	assert_int_equal(cachectl_walk_run(w, CACHECTL_WALK_OP_QUERY, 0,
					   on_entry, &g), 0);
	assert_int_equal(g.ranges_err, -ENODATA);
	cachectl_walk_unref(w);
	assert_null(cachectl_unref(ctx));
}

struct fn_state {
	int calls, fail;
};

static int ranges_fn(struct cachectl_walk *w, const struct cachectl_entry *e,
		     uint64_t pos, uint64_t *off, uint64_t *len, void *data)
{
	static const uint64_t r[][2] = { { PG, PG }, { 7 * PG, 2 * PG } };
	struct fn_state *s = data;
	size_t i;

	s->calls++;
	assert_int_equal(cachectl_entry_get_stamp(e, NULL, NULL), 0);
	if (s->fail)
		return s->fail;
	for (i = 0; i < 2; i++) {
		if (r[i][0] >= pos) {
			*off = r[i][0];
			*len = r[i][1];
			return 1;
		}
	}
	return 0;
}

static void range_function(void **state)
{
	struct cachectl_ctx *ctx = fake_ctx_new("shim");
	struct cachectl_walk *w = one_file(ctx, 16 * PG);
	struct fn_state s = { 0 };
	struct got g = { 0 };

	/* the function replaces the walk's ranges */
	assert_int_equal(cachectl_walk_add_range(w, 0, 0), 0);
	assert_int_equal(cachectl_walk_set_range_fn(w, ranges_fn, &s), 0);
	assert_int_equal(cachectl_walk_run(w, CACHECTL_WALK_OP_PREFETCH, 0,
					   on_entry, &g), 0);
	assert_int_equal(s.calls, 3);
	expect_pages(0, 1, false);
	expect_pages(1, 2, true);
	expect_pages(2, 7, false);
	expect_pages(7, 9, true);
	expect_pages(9, 16, false);

	s.fail = -EIO;
	memset(&g, 0, sizeof(g));
	assert_int_equal(cachectl_walk_run(w, CACHECTL_WALK_OP_PREFETCH, 0,
					   on_entry, &g), 1);
	assert_int_equal(g.error, -EIO);
	cachectl_walk_unref(w);
	assert_null(cachectl_unref(ctx));
}

static uint64_t ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void rate_cap_chunks_and_waits(void **state)
{
	struct cachectl_ctx *ctx = fake_ctx_new("shim");
	struct cachectl_walk *w = one_file(ctx, 4 << 20);
	struct got g = { 0 };
	uint64_t t0, dt;
	int i, n = 0;

	/* 16 MiB/s: chunks of 1 MiB, the fourth asked for after 3/16 s */
	assert_int_equal(cachectl_walk_set_max_rate(w, 16 << 20), 0);
	t0 = ms_now();
	assert_int_equal(cachectl_walk_run(w, CACHECTL_WALK_OP_PREFETCH, 0,
					   on_entry, &g), 0);
	dt = ms_now() - t0;
	expect_pages(0, 1024, true);
	for (i = 0; i < fk.ncalls; i++) {
		if (fk.calls[i].advice != POSIX_FADV_WILLNEED)
			continue;
		assert_true(fk.calls[i].len <= 1 << 20);
		n++;
	}
	assert_int_equal(n, 4);
	assert_true(dt >= 180);
	assert_true(dt < 2000);

	/* resident pages cost nothing */
	memset(&g, 0, sizeof(g));
	t0 = ms_now();
	assert_int_equal(cachectl_walk_run(w, CACHECTL_WALK_OP_PREFETCH, 0,
					   on_entry, &g), 0);
	assert_true(ms_now() - t0 < 150);
	cachectl_walk_unref(w);
	assert_null(cachectl_unref(ctx));
}

static void bad_arguments(void **state)
{
	struct cachectl_ctx *ctx = fake_ctx_new("shim");
	struct cachectl_walk *w = one_file(ctx, PG);
	size_t cur = 0;

	assert_int_equal(cachectl_walk_add_range(NULL, 0, 0), -EINVAL);
	assert_int_equal(cachectl_walk_add_range(w, UINT64_MAX, 2), -EINVAL);
	assert_int_equal(cachectl_walk_set_range_fn(NULL, NULL, NULL), -EINVAL);
	assert_int_equal(cachectl_walk_set_max_rate(NULL, 1), -EINVAL);
	assert_int_equal(cachectl_entry_get_stamp(NULL, NULL, NULL), -EINVAL);
	assert_int_equal(cachectl_entry_next_range(NULL, &cur, NULL, NULL),
			 -EINVAL);
	/* RANGES is for queries, READ and WAIT for prefetches */
	assert_int_equal(cachectl_walk_run(w, CACHECTL_WALK_OP_PREFETCH,
					   CACHECTL_RUN_RANGES, NULL, NULL),
			 -EINVAL);
	assert_int_equal(cachectl_walk_run(w, CACHECTL_WALK_OP_QUERY,
					   CACHECTL_RUN_READ, NULL, NULL),
			 -EINVAL);
	assert_int_equal(cachectl_walk_run(w, CACHECTL_WALK_OP_EVICT,
					   CACHECTL_RUN_RANGES, NULL, NULL),
			 -EINVAL);
	cachectl_walk_unref(w);
	assert_null(cachectl_unref(ctx));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(prefetch_ranges_exactly),
		cmocka_unit_test(cached_ranges_recorded),
		cmocka_unit_test(range_function),
		cmocka_unit_test(rate_cap_chunks_and_waits),
		cmocka_unit_test(bad_arguments),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
