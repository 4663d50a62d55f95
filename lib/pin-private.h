/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CACHECTL_PIN_PRIVATE_H
#define CACHECTL_PIN_PRIVATE_H

#include <stdint.h>

#include "cachectl-private.h"

struct cachectl_pin {
	int refcount;
	struct cachectl_ctx *ctx;
	char *path;		/* canonical, absolute */
	unsigned int flags;
	int priority;
	uint64_t budget;
};

/* pin.c: the canonical name of @path, also of one that is gone */
char *cachectl__pin_path(const char *path);
/* A pin for a path already canonical (from a store or the wire). */
int cachectl__pin_alloc(struct cachectl_ctx *ctx, const char *canonical,
	      unsigned int flags, struct cachectl_pin **ret);

#endif
