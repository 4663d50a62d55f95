/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Public structs that grow at the end. Callers pass the size they were
 * built with, so a binary built against an older header keeps working when
 * a struct gains fields, and one built against a newer header keeps
 * working with an older library. A struct's first published size is the
 * smallest ever accepted; it never changes.
 */
#ifndef CACHECTL_EXTENSIBLE_H
#define CACHECTL_EXTENSIBLE_H

#include <errno.h>
#include <string.h>

#include <libcachectl/libcachectl.h>

#define CACHECTL_RESIDENCY_SIZE_VER0	64	/* 0.1: size .. flags */
#define CACHECTL_TOTALS_SIZE_VER0	64	/* 0.1: files .. bytes */
#define CACHECTL_PIN_STATUS_SIZE_VER0	48	/* 0.2: files .. flags */
#define CACHECTL_PIN_USAGE_SIZE_VER0	64	/* 0.5: files .. fscache_files */
#define CACHECTL_ATTACH_OPTS_SIZE_VER0	32	/* 0.6: size .. reserved */

_Static_assert(sizeof(struct cachectl_residency) >= CACHECTL_RESIDENCY_SIZE_VER0,
	       "struct cachectl_residency shrank");
_Static_assert(sizeof(struct cachectl_totals) >= CACHECTL_TOTALS_SIZE_VER0,
	       "struct cachectl_totals shrank");
_Static_assert(sizeof(struct cachectl_pin_status) >= CACHECTL_PIN_STATUS_SIZE_VER0,
	       "struct cachectl_pin_status shrank");
_Static_assert(sizeof(struct cachectl_pin_usage) >= CACHECTL_PIN_USAGE_SIZE_VER0,
	       "struct cachectl_pin_usage shrank");
_Static_assert(sizeof(struct cachectl_attach_opts) >= CACHECTL_ATTACH_OPTS_SIZE_VER0,
	       "struct cachectl_attach_opts shrank");

/*
 * Copy @src (@cur bytes, the library's size) to a caller who knows the
 * struct as @size bytes: an older caller gets the fields it knows, a newer
 * one zeros in the fields this library does not fill.
 *
 * Returns: 0, or -EINVAL if @dst is NULL or @size is below @ver0.
 */
static inline int cachectl_copy_out(void *dst, size_t size, const void *src,
				    size_t cur, size_t ver0)
{
	if (!dst || size < ver0)
		return -EINVAL;
	if (size > cur) {
		memset((char *)dst + cur, 0, size - cur);
		size = cur;
	}
	memcpy(dst, src, size);
	return 0;
}

#endif
