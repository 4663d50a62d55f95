// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Budget policy, pure: which files of a pin its budget keeps, whether a
 * new file still fits, and what the pin reports. No I/O, no daemon: the
 * unit tests run these on plain pins.
 */
#include <string.h>

#include "cachectld.h"

/*
 * Walk order decides: files are kept up to the first that does not fit,
 * and none after it (a smaller file further on would make the kept set
 * depend on sizes, not names). A budget of 0 keeps everything.
 */
void cd_budget_plan(struct dpin *p)
{
	uint64_t sum = 0, over = 0;
	bool full = false;
	size_t i;

	for (i = 0; i < p->nfiles; i++) {
		struct dfile *f = p->files[i];

		if (f->removed) {
			f->in_budget = false;
			continue;
		}
		f->in_budget = !full && (!p->budget || sum + f->size <= p->budget);
		if (f->in_budget) {
			sum += f->size;
		} else {
			full = true;
			over += f->size;
		}
	}
	p->kept_bytes = sum;
	p->over_budget = over;
}

/* A file that joins later (inherit) fits if nothing was cut already. */
bool cd_budget_admits(const struct dpin *p, uint64_t size)
{
	return !p->budget ||
	       (!p->over_budget && p->kept_bytes + size <= p->budget);
}

/*
 * What a pin reports, from the files' last known state: bytes cached and
 * locked, and the shortfall (over the budget, refused memory, errors).
 */
void cd_pin_status(const struct dpin *p, struct cachectl_pin_status *st)
{
	bool hard = p->flags & CACHECTL_PIN_HARD, complete = true;
	uint64_t nomem = 0, errbytes = 0;
	bool error = p->err || p->nerr || p->watch_failed, unknown = false;
	size_t i;

	memset(st, 0, sizeof(*st));
	for (i = 0; i < p->nfiles; i++) {
		struct dfile *f = p->files[i];

		if (f->removed)
			continue;
		st->files++;
		st->size += f->size;
		if (!f->kept)
			continue;	/* over budget, counted below */
		if (f->err) {
			error = true;
			errbytes += f->size;
			complete = false;
			continue;
		}
		st->cached += f->cached;
		st->locked += f->locked;
		if (hard) {
			/* a lock holds the pages, seen or not */
			if (f->lk != LK_LOCKED) {
				complete = false;
				unknown |= f->unknown;
				if (f->lk == LK_FAILED || !f->want_lock)
					nomem += f->size;
			}
		} else if (f->unknown) {
			/* never "kept" on faith */
			complete = false;
			unknown = true;
		} else {
			if (f->cached < f->size) {
				complete = false;
				if (f->starved)
					nomem += f->size - f->cached;
			}
		}
	}
	st->shortfall = p->over_budget + nomem + errbytes;
	if (p->over_budget)
		st->flags |= CACHECTL_PIN_STATUS_OVER_BUDGET;
	if (nomem)
		st->flags |= CACHECTL_PIN_STATUS_NO_MEMORY;
	if (nomem && hard && p->memlock_refused)
		st->flags |= CACHECTL_PIN_STATUS_MEMLOCK;
	if (error)
		st->flags |= CACHECTL_PIN_STATUS_ERROR;
	if (unknown)
		st->flags |= CACHECTL_PIN_STATUS_UNKNOWN;
	/* a tree still being walked is not all known yet */
	if (complete && !st->shortfall && !error && !p->walking)
		st->flags |= CACHECTL_PIN_STATUS_SATISFIED;
}
