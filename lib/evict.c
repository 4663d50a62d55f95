// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Eviction. DONTNEED silently skips dirty, locked and mapped pages, and
 * pages still under the read I/O of a recent prefetch are locked, so every
 * eviction is checked against the kernel. DONTNEED also starts writeback
 * of dirty pages. A residue that shrinks between tries is I/O finishing,
 * worth waiting for; one that stays put over five tries is held by a
 * mapping or an mlock and is reported.
 */
#include <errno.h>
#include <fcntl.h>

#include "cachectl-private.h"

#define EVICT_TRIES 8

int cachectl_evict_fd(struct cachectl_ctx *ctx, int fd, const struct stat *st,
		      uint64_t offset, uint64_t length, uint64_t *ret_left,
		      struct cachectl_residency *after)
{
	const struct cachectl_sysops *o = ctx->ops;
	uint64_t len = cachectl_range_clamp(st->st_size, offset, length);
	uint64_t prev = UINT64_MAX;
	unsigned int nap = 2;
	int i, r;

	*ret_left = 0;
	for (i = 0; i < EVICT_TRIES; i++) {
		r = o->fadvise(fd, offset, len, POSIX_FADV_DONTNEED);
		if (r < 0)
			return r;
		r = cachectl_query_fd(ctx, fd, st, offset, length, after);
		if (r < 0)
			return r;
		if (after->flags & CACHECTL_RES_UNKNOWN) {
			*ret_left = UINT64_MAX;
			return 0;
		}
		*ret_left = after->cached;
		if (!after->cached)
			return 0;
		/* reads in flight may hold pages for a while (~170 ms) */
		if (after->cached >= prev && i >= 4)
			break;
		prev = after->cached;
		o->nap(nap);
		nap = MIN(nap * 4, 256u);
	}
	dbg(ctx, "%llu bytes stayed resident\n",
	    (unsigned long long)after->cached);
	return -EBUSY;
}
