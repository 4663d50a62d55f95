// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Memory policy, pure: which hard-pinned files get locked, and which soft
 * pins give way under memory pressure. No I/O, no daemon: the inputs are
 * the pins and the limits, the outputs are fields of the pins and files,
 * so the unit tests run it on plain pins.
 */
#include <errno.h>
#include <stdlib.h>

#include "cachectld.h"

/* Indexes of @pins by priority, highest first; ties keep their order. */
static size_t *by_priority(struct dpin *const *pins, size_t n)
{
	size_t *o = malloc((n ? n : 1) * sizeof(*o)), i, j;

	if (!o)
		return NULL;
	/* insertion: the model keeps pins sorted, so this is one pass */
	for (i = 0; i < n; i++) {
		for (j = i; j > 0 && pins[o[j - 1]]->priority < pins[i]->priority; j--)
			o[j] = o[j - 1];
		o[j] = i;
	}
	return o;
}

/*
 * Grant locks by priority, highest first, and in walk order within a
 * pin, while the memory left above the reserve and RLIMIT_MEMLOCK (unless
 * CAP_IPC_LOCK) allow. Sets want_lock on every file and the shortfall of
 * every pin: short_lim (the limit refused it), short_mem (memory did).
 */
int cd_plan_locks(const struct cd_plan_limits *lim, struct dpin *const *pins,
		  size_t npins)
{
	uint64_t room_mem, room_lim, cum = 0;
	size_t *order, k, j;

	order = by_priority(pins, npins);
	if (!order)
		return -ENOMEM;
	/* locked bytes are no longer in MemAvailable, but they are ours */
	room_mem = lim->mem_avail + lim->locked_total;
	room_mem = room_mem > lim->reserve ? room_mem - lim->reserve : 0;
	room_lim = lim->cap_ipc_lock ? UINT64_MAX : lim->memlock_limit;

	for (k = 0; k < npins; k++) {
		struct dpin *p = pins[order[k]];

		p->short_lim = p->short_mem = 0;
		for (j = 0; j < p->nfiles; j++) {
			struct dfile *f = p->files[j];
			uint64_t need = PAGE_ROUND(f->size);
			bool held;

			if (!(p->flags & CACHECTL_PIN_HARD) || !f->kept ||
			    f->removed || f->err) {
				f->want_lock = false;
				continue;
			}
			/*
			 * New locks need half the reserve on top: unlocked
			 * pages count as available again, so without the
			 * margin a lock given up under pressure would come
			 * back at the next plan, and go again.
			 */
			held = f->lk == LK_LOCKED || f->lk == LK_PENDING;
			if (cum + need + (held ? 0 : lim->reserve / 2) <= room_mem &&
			    cum + need <= room_lim) {
				cum += need;
				f->want_lock = true;
			} else {
				f->want_lock = false;
				if (cum + need > room_lim)
					p->short_lim += f->size;
				else
					p->short_mem += f->size;
			}
		}
	}
	free(order);
	return 0;
}

/*
 * Under pressure, soft pins below the highest soft priority stop being
 * refilled (and report NO_MEMORY). Returns the lowest priority still
 * refilled.
 */
int cd_plan_soft_cutoff(struct dpin *const *pins, size_t npins, bool pressure)
{
	int cutoff = CACHECTL_PRIORITY_MIN;
	bool any = false;
	size_t i;

	if (!pressure)
		return cutoff;
	for (i = 0; i < npins; i++) {
		if (pins[i]->flags & CACHECTL_PIN_HARD)
			continue;
		if (!any || pins[i]->priority > cutoff)
			cutoff = pins[i]->priority;
		any = true;
	}
	return cutoff;
}

/*
 * The memory the plan may count on: the machine's (MemTotal,
 * MemAvailable), or the memory cgroup's where it is less. In a cgroup,
 * what is available is its limit less what it holds that cannot be
 * reclaimed; page cache can be, but for the locked (unevictable) part.
 * The reserve is a tenth of whichever total applies.
 */
void cd_plan_memory(const struct cd_mem_sample *s, struct cd_mem_view *v)
{
	uint64_t avail = s->mem_avail, total = s->mem_total;

	v->cgroup_bound = false;
	if (s->cg_limit < total) {
		uint64_t held = s->cg_usage, freeable, room;

		freeable = s->cg_file > s->cg_unevictable ?
			   s->cg_file - s->cg_unevictable : 0;
		held = held > freeable ? held - freeable : 0;
		room = s->cg_limit > held ? s->cg_limit - held : 0;
		total = s->cg_limit;
		if (room < avail) {
			avail = room;
			v->cgroup_bound = true;
		}
	}
	v->total = total;
	v->avail = avail;
	v->reserve = total / 10;
	v->pressure = avail < v->reserve;
}
