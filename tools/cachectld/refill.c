// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Soft pins: check residency round-robin on a CPU-time budget per tick
 * and bring back what was evicted. cachestat(2) costs about a
 * microsecond per file on a descriptor we keep (a few more where
 * descriptors ran out and the file is reopened), so the idle budget
 * (IDLE_NS per 250 ms tick) re-checks a few hundred files a tick for well
 * under 1% of a core, while a tree of a few large files is re-checked
 * whole every tick. While a quarter of the files checked turn out
 * evicted the budget grows (BUSY_NS), so a tree dropped at once
 * (drop_caches, DONTNEED) comes back in seconds, not minutes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cachectld.h"

#define IDLE_NS 800000ull	/* 0.8 ms of CPU per 250 ms tick */
#define BUSY_NS 10000000ull	/* 10 ms while refilling */
#define BLIND_TICKS 40		/* unknown residency: advise every 10 s */
#define REPORT_FILES 4096	/* bigger pins report their state ... */
#define REPORT_TICKS 16		/* ... every 4 s at most */

static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * A bare cachestat() on a kept descriptor: the page cache only, never
 * the filesystem, so it is asked here, on the loop (under a microsecond),
 * seven times out of eight; the eighth, and every file without a kept
 * descriptor, asks the filesystem for size and links (fscheck.c).
 */
static bool bare_check(struct daemon *d, struct dfile *f)
{
	return f->fd >= 0 && (++f->checks & 7) && !f->err && !f->unknown &&
	       !f->fresh && cachectl_file_query_cached(d->ctx, f->fd, &f->cached) == 0;
}

/*
 * Bring a pin's kept files up to date, for a live status: what a bare
 * cachestat() tells now; the others (no descriptor kept, a stacked
 * filesystem's) are asked on fscheck's thread and answer as last seen.
 */
void cd_refill_query_pin(struct daemon *d, struct dpin *p)
{
	size_t i;

	for (i = 0; i < p->nfiles; i++) {
		struct dfile *f = p->files[i];

		if (f->removed || !f->kept || f->err || f->check || f->want_q)
			continue;
		if (f->fd < 0 || f->unknown ||
		    cachectl_file_query_cached(d->ctx, f->fd, &f->cached) < 0)
			cd_check_want(d, f, CHECK_QUERY);
	}
}

/*
 * A kept file's residency is known (f->size, cached, unknown): account
 * for what is missing. @initial: the file was just pinned, so missing
 * data is not an eviction. True when it should be refilled.
 */
static bool refill_account(struct daemon *d, struct dfile *f, bool initial)
{
	struct dpin *p = f->pin;
	uint64_t missing;

	if ((p->flags & CACHECTL_PIN_HARD) &&
	    (f->lk == LK_LOCKED || f->lk == LK_PENDING || f->want_lock)) {
		/* locked pages stay; a file that grew needs a new mapping */
		if (f->lk == LK_LOCKED && f->lock_len != f->size)
			d->plan_needed = true;
		return false;
	}
	if ((p->flags & CACHECTL_PIN_HARD) && d->mem_cgroup_bound) {
		/*
		 * The memory cgroup refused the lock: as cache it would only
		 * churn against our own locked pages inside the same limit
		 * (and its reclaim under I/O ends in the cgroup's OOM killer).
		 */
		if (!f->starved)
			p->dirty = true;
		f->starved = true;
		return false;
	}
	/* soft, or hard without a lock (no room): refill instead */
	if (f->unknown) {
		/* the kernel will not say: advise now and then, blindly */
		if (!initial && d->ticks - f->blind_tick < BLIND_TICKS)
			return false;
		f->blind_tick = d->ticks;
		missing = 0;
	} else {
		missing = f->cached >= f->size ? 0 : f->size - f->cached;
		if (!missing) {
			if (f->refilling && f->was_evicted)
				p->tick_refilled += f->refilling;
			if (f->refilling || f->starved)
				p->dirty = true;
			f->refilling = 0;
			f->was_evicted = false;
			f->starved = false;
			return false;
		}
	}
	if (d->pressure && p->priority < d->soft_cutoff) {
		/* lower priorities give way; reported as NO_MEMORY */
		if (!f->starved)
			p->dirty = true;
		f->starved = true;
		return false;
	}
	f->starved = false;
	if (missing && !f->refilling) {
		f->refilling = missing;
		f->was_evicted = !initial && !f->unknown;
		if (f->was_evicted)
			p->tick_evicted += missing;
	}
	if (missing)
		d->tick_found++;
	return true;
}

/* Check one kept file and refill what is missing, off the loop if need be. */
void cd_refill_file(struct daemon *d, struct dfile *f)
{
	if (f->check || f->want_q)
		return;		/* on its way */
	if (!bare_check(d, f)) {
		cd_check_want(d, f, CHECK_QUERY);
		return;
	}
	if (refill_account(d, f, false))
		cd_check_want(d, f, CHECK_PREFETCH);
}

/* Its filesystem answered the full query (@r, @res), on fscheck's thread. */
void cd_refill_checked(struct daemon *d, struct dfile *f, int r,
		       const struct cachectl_residency *res)
{
	bool initial = f->fresh;

	f->fresh = false;
	if (r < 0) {
		if ((r == -ENOENT || r == -ESTALE) && f->lk != LK_NONE) {
			/* deleted: locking the old inode would keep it for nothing */
			cd_unlock_file(d, f);
			f->cached = 0;
		}
		if (cd_file_failed(d, f, r))
			cd_log(d, LOG_WARNING, "pin %s: %s: %s%s", cd_pesc(d, f->pin->path),
			     cd_pesc(d, f->path), strerror(-r),
			     r == -EACCES && d->scope == CACHECTL_SCOPE_SYSTEM &&
			     !d->cap_dac_read_search ?
			     " (CAP_DAC_READ_SEARCH is missing)" : "");
		return;
	}
	if (f->err) {
		f->pin->dirty = true;
		/* back (created again): a hard pin locks it again */
		if (f->pin->flags & CACHECTL_PIN_HARD)
			d->plan_needed = true;
	}
	f->err = 0;
	cd_file_answered(d, f);
	f->size = res->size;
	f->cached = res->cached;
	if ((res->flags & CACHECTL_RES_UNKNOWN) && res->size) {
		if (!f->unknown) {
			f->pin->dirty = true;
			cd_residency_unknown(d, f);
		}
		f->unknown = true;
	} else {
		if (f->unknown)
			f->pin->dirty = true;
		f->unknown = false;
	}
	/* a hard pin's first look only sizes it for the lock plan */
	if (initial && (f->pin->flags & CACHECTL_PIN_HARD))
		return;
	if (refill_account(d, f, initial))
		cd_check_want(d, f, CHECK_PREFETCH);
}

/* A refill's WILLNEED came back. */
void cd_refill_prefetched(struct daemon *d, struct dfile *f, int r)
{
	if (r < 0 && cd_file_failed(d, f, r))
		cd_log(d, LOG_WARNING, "pin %s: cannot refill %s: %s",
		     cd_pesc(d, f->pin->path), cd_pesc(d, f->path), strerror(-r));
}

void cd_refill_tick(struct daemon *d)
{
	uint64_t start, budget = d->busy ? BUSY_NS : IDLE_NS;
	size_t total = 0, visited = 0, i;

	d->ticks++;
	/* /proc/meminfo costs tens of microseconds: once a second at rest */
	if (d->busy || d->pressure || d->ticks % 4 == 0)
		cd_mem_read(d);
	d->soft_cutoff = cd_plan_soft_cutoff(d->pins, d->npins, d->pressure);
	for (i = 0; i < d->npins; i++)
		total += d->pins[i]->nfiles;

	/* what came back from fscheck's threads since counts as well */
	cd_fscheck_tick(d);
	start = cpu_ns();
	while (visited < total && d->npins) {
		struct dpin *p;
		struct dfile *f;

		if (d->cur_pin >= d->npins) {
			cd_log(d, LOG_DEBUG, "round: %zu files checked in %u ticks",
			     total, d->ticks - d->round_tick);
			d->round_tick = d->ticks;
			d->cur_pin = 0;
			d->cur_file = 0;
		}
		p = d->pins[d->cur_pin];
		if (d->cur_file >= p->nfiles) {
			d->cur_pin++;
			d->cur_file = 0;
			continue;
		}
		f = p->files[d->cur_file++];
		visited++;
		if (f->kept && !f->removed)
			cd_refill_file(d, f);
		if (!(visited & 15) && cpu_ns() - start > budget)
			break;
	}
	/*
	 * Busy while a quarter or more of what we check is missing (a tree
	 * dropped at once); a trickle of evictions across a big tree is found at the
	 * idle pace, or the trickle alone would keep us busy for ever.
	 */
	d->busy = d->tick_found && d->tick_found * 4 >= visited;
	d->tick_found = 0;

	for (i = 0; i < d->npins; i++) {
		struct dpin *p = d->pins[i];

		if (p->tick_evicted) {
			cd_event_emit(d, CACHECTL_EVENT_EVICTED, p->path,
				   p->tick_evicted);
			p->dirty = true;
		}
		if (p->tick_refilled) {
			cd_event_emit(d, CACHECTL_EVENT_REFILLED, p->path,
				   p->tick_refilled);
			p->dirty = true;
		}
		p->tick_evicted = p->tick_refilled = 0;
		/*
		 * Reporting walks every file of the pin: for a big one that
		 * is most of the idle cost under a trickle of evictions, so
		 * it waits REPORT_TICKS.
		 */
		if (p->dirty && (p->nfiles <= REPORT_FILES ||
				 d->ticks - p->report_tick >= REPORT_TICKS)) {
			cd_pins_report(d, p);
			p->report_tick = d->ticks;
		}
	}
}
