// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * lib/uapi-cachectl.h carries the kernel series' ABI under K-prefixed
 * names; it builds here against the header the series itself creates
 * (extracted from the patch at build time), so the two cannot drift.
 */
#include <stddef.h>

#include <linux/cachectl.h>
#include "uapi-cachectl.h"

#define SAME(k, u) _Static_assert((k) == (u), #k " differs from the series")
#define SAME_FIELD(f) \
	_Static_assert(offsetof(struct kcachectl_args, f) == \
		       offsetof(struct cachectl_args, f), #f " moved")

SAME(KCACHECTL_OP_PROBE, CACHECTL_OP_PROBE);
SAME(KCACHECTL_OP_QUERY, CACHECTL_OP_QUERY);
SAME(KCACHECTL_OP_PIN, CACHECTL_OP_PIN);
SAME(KCACHECTL_OP_UNPIN, CACHECTL_OP_UNPIN);
SAME(KCACHECTL_OP_PREFETCH, CACHECTL_OP_PREFETCH);
#ifdef CACHECTL_OP_CACHE_POLICY
#error "the series has a culling operation again: culling is the daemon's"
#endif
SAME(KCACHECTL_MASK_FSCACHE, CACHECTL_MASK_FSCACHE);
SAME(KCACHECTL_MASK_CACHE_ID, CACHECTL_MASK_CACHE_ID);
SAME(sizeof(struct kcachectl_args), CACHECTL_ARGS_SIZE_VER0);
SAME(sizeof(struct kcachectl_args), sizeof(struct cachectl_args));
SAME_FIELD(mask);
SAME(KCACHECTL_PROBE_MAGIC, CACHECTL_PROBE_MAGIC);
SAME(KCACHECTL_PREFETCH_WAIT, CACHECTL_PREFETCH_WAIT);
SAME(KCACHECTL_STATE_HAS_CACHE, CACHECTL_STATE_HAS_CACHE);
SAME(KCACHECTL_STATE_PINNED, CACHECTL_STATE_PINNED);
SAME(KCACHECTL_STATE_CULL_DISABLED, CACHECTL_STATE_CULL_DISABLED);
SAME(KCACHECTL_STATE_CACHE_FULL, CACHECTL_STATE_CACHE_FULL);
SAME_FIELD(offset);
SAME_FIELD(length);
SAME_FIELD(flags);
SAME_FIELD(pagecache_bytes);
SAME_FIELD(fscache_bytes);
SAME_FIELD(file_size);
SAME_FIELD(state);
SAME_FIELD(cache_id);
SAME_FIELD(dirty_bytes);
SAME_FIELD(writeback_bytes);

int main(void)
{
	/* everything is checked at build time */
	return 0;
}
