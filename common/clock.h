/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The monotonic clock, as every timeout and rate limit of the project
 * reads it: one helper instead of one per file.
 */
#ifndef CACHECTL_COMMON_CLOCK_H
#define CACHECTL_COMMON_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t cc_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t cc_now_ms(void)
{
	return cc_now_ns() / 1000000u;
}

#endif
