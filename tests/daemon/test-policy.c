// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * cachectld's pure policy on plain pins: the lock plan (priorities,
 * memory, RLIMIT_MEMLOCK, shortfalls), the soft cutoff under pressure,
 * the budget cut and admission, and what a pin reports. No daemon, no
 * kernel: the inputs are the limits and the files' last known state.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cachectld.h"

#define MiB (1ull << 20)
#define PAGE 4096ull

struct tpin {
	struct dpin p;
	struct dfile f[8];
	struct dfile *fp[8];
};

/* A pin of @n kept files of the given sizes. */
static void mkpin(struct tpin *t, unsigned int flags, int priority,
		  const uint64_t *sizes, size_t n)
{
	size_t i;

	memset(t, 0, sizeof(*t));
	t->p.path = "/pin";
	t->p.flags = flags;
	t->p.priority = priority;
	for (i = 0; i < n; i++) {
		t->f[i].path = "/pin/f";
		t->f[i].pin = &t->p;
		t->f[i].size = sizes[i];
		t->f[i].kept = true;
		t->f[i].fd = -1;
		t->f[i].worker = -1;
		t->fp[i] = &t->f[i];
	}
	t->p.files = t->fp;
	t->p.nfiles = n;
}

static const struct cd_plan_limits plenty = {
	.mem_avail = 1024 * MiB, .reserve = 100 * MiB,
	.memlock_limit = UINT64_MAX,
};

/* ---- lock plan ---------------------------------------------------------- */

static void plan_priority_wins_over_order(void **state)
{
	const uint64_t six[] = { 6 * MiB };
	struct cd_plan_limits lim = plenty;
	struct tpin lo, hi;
	struct dpin *pins[2] = { &lo.p, &hi.p };

	/* memlock 8 MiB without CAP_IPC_LOCK: room for one of the two */
	lim.memlock_limit = 8 * MiB;
	mkpin(&lo, CACHECTL_PIN_HARD, -10, six, 1);
	mkpin(&hi, CACHECTL_PIN_HARD, 10, six, 1);
	assert_int_equal(cd_plan_locks(&lim, pins, 2), 0);
	assert_true(hi.f[0].want_lock);
	assert_false(lo.f[0].want_lock);
	assert_int_equal(hi.p.short_lim + hi.p.short_mem, 0);
	assert_int_equal(lo.p.short_lim, 6 * MiB);
	assert_int_equal(lo.p.short_mem, 0);
}

static void plan_cap_ipc_lock_lifts_memlock(void **state)
{
	const uint64_t six[] = { 6 * MiB, 6 * MiB };
	struct cd_plan_limits lim = plenty;
	struct tpin t;
	struct dpin *pins[1] = { &t.p };

	lim.memlock_limit = 64 * 1024;
	lim.cap_ipc_lock = true;
	mkpin(&t, CACHECTL_PIN_HARD, 0, six, 2);
	assert_int_equal(cd_plan_locks(&lim, pins, 1), 0);
	assert_true(t.f[0].want_lock && t.f[1].want_lock);
	assert_int_equal(t.p.short_lim + t.p.short_mem, 0);

	lim.cap_ipc_lock = false;
	assert_int_equal(cd_plan_locks(&lim, pins, 1), 0);
	assert_false(t.f[0].want_lock || t.f[1].want_lock);
	assert_int_equal(t.p.short_lim, 12 * MiB);
}

static void plan_walk_order_and_whole_pages(void **state)
{
	/* 1 byte holds a page: 3 MiB + 1 needs 769 pages */
	const uint64_t sizes[] = { 3 * MiB + 1, 3 * MiB, 3 * MiB, 1 };
	struct cd_plan_limits lim = plenty;
	struct tpin t;
	struct dpin *pins[1] = { &t.p };

	lim.memlock_limit = 6 * MiB + PAGE + PAGE;
	mkpin(&t, CACHECTL_PIN_HARD, 0, sizes, 4);
	assert_int_equal(cd_plan_locks(&lim, pins, 1), 0);
	assert_true(t.f[0].want_lock);
	assert_true(t.f[1].want_lock);
	assert_false(t.f[2].want_lock);
	/* what still fits after a refusal is granted: the limit is bytes */
	assert_true(t.f[3].want_lock);
	assert_int_equal(t.p.short_lim, 3 * MiB);
}

static void plan_memory_reserve_and_margin(void **state)
{
	const uint64_t big[] = { 86 * MiB };
	struct cd_plan_limits lim = {
		.mem_avail = 100 * MiB, .reserve = 10 * MiB,
		.memlock_limit = UINT64_MAX,
	};
	struct tpin t;
	struct dpin *pins[1] = { &t.p };

	/* room 90 MiB; a new lock needs half the reserve on top: refused */
	mkpin(&t, CACHECTL_PIN_HARD, 0, big, 1);
	assert_int_equal(cd_plan_locks(&lim, pins, 1), 0);
	assert_false(t.f[0].want_lock);
	assert_int_equal(t.p.short_mem, 86 * MiB);
	assert_int_equal(t.p.short_lim, 0);

	/* held already: no margin, so it stays (no lock/unlock flapping) */
	t.f[0].lk = LK_LOCKED;
	assert_int_equal(cd_plan_locks(&lim, pins, 1), 0);
	assert_true(t.f[0].want_lock);
	assert_int_equal(t.p.short_mem, 0);

	/* our own locked bytes are not in MemAvailable, but are room */
	lim.mem_avail = 10 * MiB;
	lim.locked_total = 86 * MiB;
	assert_int_equal(cd_plan_locks(&lim, pins, 1), 0);
	assert_true(t.f[0].want_lock);

	/* below the reserve: nothing */
	lim.mem_avail = 1 * MiB;
	lim.locked_total = 0;
	assert_int_equal(cd_plan_locks(&lim, pins, 1), 0);
	assert_false(t.f[0].want_lock);
	assert_int_equal(t.p.short_mem, 86 * MiB);
}

static void plan_only_kept_hard_files(void **state)
{
	const uint64_t sizes[] = { MiB, MiB, MiB, MiB };
	struct tpin soft, hard;
	struct dpin *pins[2] = { &soft.p, &hard.p };

	mkpin(&soft, 0, 100, sizes, 2);
	mkpin(&hard, CACHECTL_PIN_HARD, 0, sizes, 4);
	soft.f[0].want_lock = true;	/* stale: must be cleared */
	hard.f[1].kept = false;		/* over budget */
	hard.f[2].removed = true;
	hard.f[3].err = -ENOENT;
	assert_int_equal(cd_plan_locks(&plenty, pins, 2), 0);
	assert_false(soft.f[0].want_lock || soft.f[1].want_lock);
	assert_true(hard.f[0].want_lock);
	assert_false(hard.f[1].want_lock || hard.f[2].want_lock ||
		     hard.f[3].want_lock);
	assert_int_equal(hard.p.short_lim + hard.p.short_mem, 0);
}

static void plan_soft_cutoff(void **state)
{
	struct tpin a, b, h;
	struct dpin *pins[3] = { &h.p, &a.p, &b.p };

	mkpin(&h, CACHECTL_PIN_HARD, 100, NULL, 0);
	mkpin(&a, 0, -3, NULL, 0);
	mkpin(&b, 0, 5, NULL, 0);
	assert_int_equal(cd_plan_soft_cutoff(pins, 3, false),
			 CACHECTL_PRIORITY_MIN);
	/* the top soft priority keeps being refilled; hard pins do not count */
	assert_int_equal(cd_plan_soft_cutoff(pins, 3, true), 5);
	assert_int_equal(cd_plan_soft_cutoff(pins, 1, true),
			 CACHECTL_PRIORITY_MIN);
}

/* ---- budget ------------------------------------------------------------- */

static void budget_zero_keeps_all(void **state)
{
	const uint64_t sizes[] = { 5, 7 };
	struct tpin t;

	mkpin(&t, 0, 0, sizes, 2);
	cd_budget_plan(&t.p);
	assert_true(t.f[0].in_budget && t.f[1].in_budget);
	assert_int_equal(t.p.kept_bytes, 12);
	assert_int_equal(t.p.over_budget, 0);
	assert_true(cd_budget_admits(&t.p, UINT64_MAX / 2));
}

static void budget_cuts_in_walk_order(void **state)
{
	/* once a file does not fit, no later one is kept, small or not */
	const uint64_t sizes[] = { 8, 4, 1, 1 };
	struct tpin t;

	mkpin(&t, 0, 0, sizes, 4);
	t.p.budget = 10;
	t.f[3].removed = true;
	cd_budget_plan(&t.p);
	assert_true(t.f[0].in_budget);
	assert_false(t.f[1].in_budget || t.f[2].in_budget || t.f[3].in_budget);
	assert_int_equal(t.p.kept_bytes, 8);
	assert_int_equal(t.p.over_budget, 5);	/* the removed one is gone */
	assert_false(cd_budget_admits(&t.p, 1));

	t.p.budget = 13;
	cd_budget_plan(&t.p);
	assert_true(t.f[0].in_budget && t.f[1].in_budget && t.f[2].in_budget);
	assert_int_equal(t.p.kept_bytes, 13);
	assert_int_equal(t.p.over_budget, 0);
	assert_true(cd_budget_admits(&t.p, 0));
	assert_false(cd_budget_admits(&t.p, 1));

	t.p.budget = 20;
	cd_budget_plan(&t.p);
	assert_true(cd_budget_admits(&t.p, 7));
	assert_false(cd_budget_admits(&t.p, 8));
}

/* ---- status ------------------------------------------------------------- */

static void status_soft_shortfalls(void **state)
{
	const uint64_t sizes[] = { 4 * PAGE, 4 * PAGE, 2 * PAGE, 3 * PAGE };
	struct cachectl_pin_status st;
	struct tpin t;

	mkpin(&t, 0, 0, sizes, 4);
	t.f[0].cached = 4 * PAGE;
	t.f[1].cached = PAGE;
	t.f[1].starved = true;		/* refused under pressure */
	t.f[2].err = -EIO;
	t.f[3].kept = false;		/* over the budget */
	t.p.over_budget = 3 * PAGE;
	cd_pin_status(&t.p, &st);
	assert_int_equal(st.files, 4);
	assert_int_equal(st.size, 13 * PAGE);
	assert_int_equal(st.cached, 5 * PAGE);
	assert_int_equal(st.shortfall, 3 * PAGE + 3 * PAGE + 2 * PAGE);
	assert_int_equal(st.flags, CACHECTL_PIN_STATUS_OVER_BUDGET |
			 CACHECTL_PIN_STATUS_NO_MEMORY |
			 CACHECTL_PIN_STATUS_ERROR);
}

static void status_soft_satisfied(void **state)
{
	const uint64_t sizes[] = { 4 * PAGE, 2 * PAGE };
	struct cachectl_pin_status st;
	struct tpin t;

	mkpin(&t, 0, 0, sizes, 2);
	t.f[0].cached = 4 * PAGE;
	t.f[1].cached = 2 * PAGE;
	cd_pin_status(&t.p, &st);
	assert_int_equal(st.flags, CACHECTL_PIN_STATUS_SATISFIED);
	assert_int_equal(st.shortfall, 0);

	/* the kernel hides one: unknown, never kept on faith, not short */
	t.f[1].cached = 0;
	t.f[1].unknown = true;
	cd_pin_status(&t.p, &st);
	assert_int_equal(st.flags, CACHECTL_PIN_STATUS_UNKNOWN);
	assert_int_equal(st.shortfall, 0);
	t.f[1].unknown = false;
	t.f[1].cached = 2 * PAGE;

	/* missing but being refilled: neither satisfied nor short */
	t.f[0].cached = PAGE;
	cd_pin_status(&t.p, &st);
	assert_int_equal(st.flags, 0);
	assert_int_equal(st.shortfall, 0);

	/* a directory that could not be watched is an error */
	t.f[0].cached = 4 * PAGE;
	t.p.watch_failed = true;
	cd_pin_status(&t.p, &st);
	assert_int_equal(st.flags, CACHECTL_PIN_STATUS_ERROR);
}

static void status_hard_locks(void **state)
{
	const uint64_t sizes[] = { 4 * PAGE, 2 * PAGE, PAGE };
	struct cachectl_pin_status st;
	struct tpin t;

	mkpin(&t, CACHECTL_PIN_HARD, 0, sizes, 3);
	t.f[0].lk = LK_LOCKED;
	t.f[0].locked = t.f[0].cached = 4 * PAGE;
	t.f[1].lk = LK_PENDING;		/* granted, on its way */
	t.f[1].want_lock = true;
	t.f[2].lk = LK_NONE;		/* the plan refused it */
	cd_pin_status(&t.p, &st);
	assert_int_equal(st.locked, 4 * PAGE);
	assert_int_equal(st.shortfall, PAGE);
	assert_int_equal(st.flags, CACHECTL_PIN_STATUS_NO_MEMORY);

	t.f[1].lk = LK_LOCKED;
	t.f[2].lk = LK_LOCKED;
	t.f[2].want_lock = true;
	cd_pin_status(&t.p, &st);
	assert_int_equal(st.flags, CACHECTL_PIN_STATUS_SATISFIED);

	/* locked pages are kept whether or not they can be seen */
	t.f[2].unknown = true;
	cd_pin_status(&t.p, &st);
	assert_int_equal(st.flags, CACHECTL_PIN_STATUS_SATISFIED);
	t.f[2].unknown = false;

	t.f[2].lk = LK_FAILED;		/* the worker could not */
	cd_pin_status(&t.p, &st);
	assert_int_equal(st.flags, CACHECTL_PIN_STATUS_NO_MEMORY);
	assert_int_equal(st.shortfall, PAGE);
}

/* ---- memory: the machine or the memory cgroup ----------------------- */

static void memory_machine_without_cgroup(void **state)
{
	struct cd_mem_sample s = {
		.mem_total = 24576 * MiB, .mem_avail = 20000 * MiB,
		.cg_limit = UINT64_MAX,
	};
	struct cd_mem_view v;

	cd_plan_memory(&s, &v);
	assert_int_equal(v.total, 24576 * MiB);
	assert_int_equal(v.avail, 20000 * MiB);
	assert_int_equal(v.reserve, 24576 * MiB / 10);
	assert_false(v.pressure);
	assert_false(v.cgroup_bound);

	/* v1 "unlimited" is a huge number, not a limit */
	s.cg_limit = 9223372036854771712ull;
	s.cg_usage = 100 * MiB;
	cd_plan_memory(&s, &v);
	assert_int_equal(v.avail, 20000 * MiB);
	assert_false(v.cgroup_bound);
}

static void memory_cgroup_limit_bounds_the_plan(void **state)
{
	struct cd_mem_sample s = {
		.mem_total = 24576 * MiB, .mem_avail = 20000 * MiB,
		.cg_limit = 256 * MiB, .cg_usage = 100 * MiB,
		.cg_file = 60 * MiB, .cg_unevictable = 20 * MiB,
	};
	struct cd_mem_view v;

	/* held: 100 - (60 - 20) reclaimable = 60; room 256 - 60 */
	cd_plan_memory(&s, &v);
	assert_int_equal(v.total, 256 * MiB);
	assert_int_equal(v.avail, 196 * MiB);
	assert_int_equal(v.reserve, 256 * MiB / 10);
	assert_true(v.cgroup_bound);
	assert_false(v.pressure);

	/* full of what cannot be reclaimed: pressure inside the cgroup */
	s.cg_usage = 250 * MiB;
	s.cg_file = s.cg_unevictable = 0;
	cd_plan_memory(&s, &v);
	assert_int_equal(v.avail, 6 * MiB);
	assert_true(v.pressure);

	/* over the limit (memory.high is soft): nothing, not a wrap */
	s.cg_usage = 300 * MiB;
	cd_plan_memory(&s, &v);
	assert_int_equal(v.avail, 0);

	/* the machine is tighter than the cgroup: the machine decides */
	s.cg_usage = 0;
	s.mem_avail = 50 * MiB;
	cd_plan_memory(&s, &v);
	assert_int_equal(v.avail, 50 * MiB);
	assert_false(v.cgroup_bound);
	assert_int_equal(v.reserve, 256 * MiB / 10);
}

/* The lock plan inside a cgroup: granted up to its room, less the reserve. */
static void memory_cgroup_plan_grants(void **state)
{
	const uint64_t sizes[] = { 64 * MiB, 64 * MiB, 64 * MiB, 64 * MiB,
				   64 * MiB, 64 * MiB };
	struct cd_mem_sample s = {
		.mem_total = 24576 * MiB, .mem_avail = 20000 * MiB,
		.cg_limit = 256 * MiB, .cg_usage = 8 * MiB,
	};
	struct cd_plan_limits lim = { .memlock_limit = UINT64_MAX,
				      .cap_ipc_lock = true };
	struct cd_mem_view v;
	struct dpin *pp;
	struct tpin t;
	size_t i, granted = 0;

	cd_plan_memory(&s, &v);
	lim.mem_avail = v.avail;
	lim.reserve = v.reserve;
	mkpin(&t, CACHECTL_PIN_HARD, 0, sizes, 6);
	pp = &t.p;
	assert_int_equal(cd_plan_locks(&lim, &pp, 1), 0);
	for (i = 0; i < 6; i++)
		granted += t.f[i].want_lock;
	/* 248 MiB room - 25.6 reserve - 12.8 margin: three of 64 MiB */
	assert_int_equal(granted, 3);
	assert_int_equal(t.p.short_mem, 3 * 64 * MiB);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(plan_priority_wins_over_order),
		cmocka_unit_test(plan_cap_ipc_lock_lifts_memlock),
		cmocka_unit_test(plan_walk_order_and_whole_pages),
		cmocka_unit_test(plan_memory_reserve_and_margin),
		cmocka_unit_test(plan_only_kept_hard_files),
		cmocka_unit_test(plan_soft_cutoff),
		cmocka_unit_test(budget_zero_keeps_all),
		cmocka_unit_test(budget_cuts_in_walk_order),
		cmocka_unit_test(status_soft_shortfalls),
		cmocka_unit_test(status_soft_satisfied),
		cmocka_unit_test(status_hard_locks),
		cmocka_unit_test(memory_machine_without_cgroup),
		cmocka_unit_test(memory_cgroup_limit_bounds_the_plan),
		cmocka_unit_test(memory_cgroup_plan_grants),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
