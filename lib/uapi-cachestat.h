/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cachestat(2) arrived in Linux 6.5; Debian 12's kernel headers (6.1) lack
 * it, so carry the ABI here, guarded like util-linux's fincore does.
 */
#ifndef CACHECTL_UAPI_CACHESTAT_H
#define CACHECTL_UAPI_CACHESTAT_H

#include <stdint.h>
#include <sys/syscall.h>

#if !HAVE_CACHESTAT_H
struct cachestat_range {
	uint64_t off;
	uint64_t len;
};

struct cachestat {
	uint64_t nr_cache;
	uint64_t nr_dirty;
	uint64_t nr_writeback;
	uint64_t nr_evicted;
	uint64_t nr_recently_evicted;
};
#else
#include <linux/mman.h>
#endif

#ifndef __NR_cachestat
#define __NR_cachestat 451	/* same number on every architecture */
#endif

#endif
