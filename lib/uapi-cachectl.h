/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The proposed fcachectl(2) syscall (kernel-patches/, patch 0001). Carried
 * here because no released kernel header has it; PROBE's magic answer
 * proves the syscall is really ours. Names carry a K so they cannot clash
 * with the public header's.
 *
 * The series is for Linux 6.12 and takes 463, the next free number.
 * Culling policy is not a syscall operation: it is the cache daemon's
 * "nocull" and "cull" on /dev/cachefiles (cachefiles-cmd.c); QUERY only
 * reports it (STATE_CULL_DISABLED).
 */
#ifndef CACHECTL_UAPI_CACHECTL_H
#define CACHECTL_UAPI_CACHECTL_H

#include <stdint.h>

#define KCACHECTL_NR			463

#define KCACHECTL_OP_PROBE		0
#define KCACHECTL_OP_QUERY		1
#define KCACHECTL_OP_PIN		2
#define KCACHECTL_OP_UNPIN		3
#define KCACHECTL_OP_PREFETCH		4

#define KCACHECTL_PROBE_MAGIC		0x63630001

#define KCACHECTL_PREFETCH_WAIT		(1ull << 0)

#define KCACHECTL_STATE_HAS_CACHE	(1ull << 0)
#define KCACHECTL_STATE_PINNED		(1ull << 1)
#define KCACHECTL_STATE_CULL_DISABLED	(1ull << 2)
#define KCACHECTL_STATE_CACHE_FULL	(1ull << 3)

/* which output fields the kernel filled */
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
