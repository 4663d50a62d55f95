/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The proposed fcachectl(2) syscall (kernel-patches/, patch 0001). Carried
 * here because no released kernel header has it; PROBE's magic answer
 * proves the syscall is really ours. Names carry a K so they cannot clash
 * with the public header's.
 *
 * Two versions of the series exist: the 6.1 one (kernel-patches/) at
 * number 1000 with CACHE_POLICY, and the 6.12 one (kernel-patches/6.12/)
 * at 463, the next free number, which appends the result mask and leaves
 * culling policy to the cache daemon. The struct here is the longer one:
 * the 6.1 kernel takes it, as its tail (the mask) is zero going in, and
 * writes only its own 80 bytes back.
 */
#ifndef CACHECTL_UAPI_CACHECTL_H
#define CACHECTL_UAPI_CACHECTL_H

#include <stdint.h>

#define KCACHECTL_NR			463	/* 6.12 series */
#define KCACHECTL_NR_V1			1000	/* 6.1 series */

#define KCACHECTL_OP_PROBE		0
#define KCACHECTL_OP_QUERY		1
#define KCACHECTL_OP_PIN		2
#define KCACHECTL_OP_UNPIN		3
#define KCACHECTL_OP_PREFETCH		4
#define KCACHECTL_OP_CACHE_POLICY	5	/* 6.1 series only */

#define KCACHECTL_PROBE_MAGIC		0x63630001

#define KCACHECTL_PREFETCH_WAIT		(1ull << 0)
#define KCACHECTL_POLICY_NOCULL		(1ull << 0)
#define KCACHECTL_POLICY_CULL		(1ull << 1)

#define KCACHECTL_STATE_HAS_CACHE	(1ull << 0)
#define KCACHECTL_STATE_PINNED		(1ull << 1)
#define KCACHECTL_STATE_CULL_DISABLED	(1ull << 2)
#define KCACHECTL_STATE_CACHE_FULL	(1ull << 3)

/* 6.12 series: which output fields the kernel filled (0 from 6.1) */
#define KCACHECTL_MASK_FSCACHE		(1ull << 5)
#define KCACHECTL_MASK_CACHE_ID		(1ull << 6)

struct kcachectl_args {
	uint64_t offset;
	uint64_t length;
	uint64_t flags;
	uint64_t pagecache_bytes;
	uint64_t fscache_bytes;
	uint64_t file_size;
	uint64_t state;
	uint64_t cache_id;
	uint64_t dirty_bytes;
	uint64_t writeback_bytes;
	uint64_t mask;
};

#endif
