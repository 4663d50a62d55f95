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
#include <sys/stat.h>
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

/* Residency of one file, into f->size/cached/unknown. */
int cd_query_file(struct daemon *d, struct dfile *f)
{
	struct cachectl_residency res;
	struct stat st;
	int fd = f->fd, r;

	/*
	 * On a kept descriptor, a bare cachestat() (under a microsecond)
	 * seven times out of eight; the eighth also looks at size and
	 * links through the full query, as does every reopened file.
	 */
	if (fd >= 0 && (++f->checks & 7) && !f->err && !f->unknown &&
	    cachectl_file_query_cached(d->ctx, fd, &f->cached) == 0)
		return 0;
	if (fd >= 0 && fstat(fd, &st) == 0 && st.st_nlink == 0) {
		/* deleted or renamed over: follow the path to the new inode */
		close(fd);
		f->fd = fd = -1;
		d->fds_open--;
		if (lstat(f->path, &st) == 0 && S_ISREG(st.st_mode)) {
			f->dev = st.st_dev;
			f->ino = st.st_ino;
			if (f->lk != LK_NONE) {
				/* the lock holds the old inode: move it */
				f->relock = true;
				d->plan_needed = true;
			}
			if (d->fds_open < d->fd_budget) {
				f->fd = fd = cd_open_ro(f->path);
				if (fd >= 0)
					d->fds_open++;
			}
		}
	}
	if (fd < 0) {
		fd = cd_open_ro(f->path);
		if (fd < 0) {
			r = -errno;
			goto fail;
		}
	}
	r = cachectl_file_query(d->ctx, fd, 0, 0, 0, &res, sizeof(res));
	if (fd != f->fd)
		close(fd);
	if (r < 0)
		goto fail;
	if (f->err) {
		f->pin->dirty = true;
		/* back (created again): a hard pin locks it again */
		if (f->pin->flags & CACHECTL_PIN_HARD)
			d->plan_needed = true;
	}
	f->err = 0;
	cd_file_answered(d, f);
	f->size = res.size;
	f->cached = res.cached;
	if ((res.flags & CACHECTL_RES_UNKNOWN) && res.size) {
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
	return 0;
fail:
	if ((r == -ENOENT || r == -ESTALE) && f->lk != LK_NONE) {
		/* deleted: locking the old inode would keep it for nothing */
		cd_unlock_file(d, f);
		f->cached = 0;
	}
	if (cd_file_failed(d, f, r))
		cd_log(d, LOG_WARNING, "pin %s: %s: %s", cd_pesc(d, f->pin->path),
		     cd_pesc(d, f->path), strerror(-r));
	return r;
}

/* Bring a pin's kept files up to date, for a live status. */
void cd_refill_query_pin(struct daemon *d, struct dpin *p)
{
	size_t i;

	for (i = 0; i < p->nfiles; i++) {
		struct dfile *f = p->files[i];

		if (!f->removed && f->kept && !f->err)
			cd_query_file(d, f);
	}
}

/*
 * Check one kept file and refill what is missing. @initial: the file
 * was just pinned, so missing data is not an eviction.
 */
int cd_refill_file(struct daemon *d, struct dfile *f, bool initial)
{
	struct dpin *p = f->pin;
	uint64_t missing, bytes = 0;
	int fd, r;

	r = cd_query_file(d, f);
	if (r < 0)
		return r;
	if ((p->flags & CACHECTL_PIN_HARD) &&
	    (f->lk == LK_LOCKED || f->lk == LK_PENDING || f->want_lock)) {
		/* locked pages stay; a file that grew needs a new mapping */
		if (f->lk == LK_LOCKED && f->lock_len != f->size)
			d->plan_needed = true;
		return 0;
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
		return 0;
	}
	/* soft, or hard without a lock (no room): refill instead */
	if (f->unknown) {
		/* the kernel will not say: advise now and then, blindly */
		if (!initial && d->ticks - f->blind_tick < BLIND_TICKS)
			return 0;
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
			return 0;
		}
	}
	if (d->pressure && p->priority < d->soft_cutoff) {
		/* lower priorities give way; reported as NO_MEMORY */
		if (!f->starved)
			p->dirty = true;
		f->starved = true;
		return 0;
	}
	f->starved = false;
	if (missing && !f->refilling) {
		f->refilling = missing;
		f->was_evicted = !initial && !f->unknown;
		if (f->was_evicted)
			p->tick_evicted += missing;
	}
	fd = f->fd >= 0 ? f->fd : cd_open_ro(f->path);
	if (fd < 0)
		return -errno;
	r = cachectl_file_prefetch(d->ctx, fd, 0, 0, 0, &bytes);
	if (fd != f->fd)
		close(fd);
	if (r < 0 && cd_file_failed(d, f, r))
		cd_log(d, LOG_WARNING, "pin %s: cannot refill %s: %s",
		     cd_pesc(d, p->path), cd_pesc(d, f->path), strerror(-r));
	if (missing)
		d->tick_found++;
	return r;
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

	d->tick_found = 0;
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
			cd_refill_file(d, f, false);
		if (!(visited & 15) && cpu_ns() - start > budget)
			break;
	}
	/*
	 * Busy while a quarter or more of what we check is missing (a tree
	 * dropped at once); a trickle of evictions across a big tree is found at the
	 * idle pace, or the trickle alone would keep us busy for ever.
	 */
	d->busy = d->tick_found && d->tick_found * 4 >= visited;

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
