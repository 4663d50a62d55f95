/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CACHECTL_POOL_H
#define CACHECTL_POOL_H

#include <stdbool.h>
#include <stddef.h>

struct cachectl_walk;
struct dirref;
struct pool;

/* @nthreads helpers beside the walking thread; at most @window files held */
int cachectl__pool_new(struct cachectl_walk *w, unsigned int nthreads,
		       unsigned int window, struct pool **ret);
/*
 * Queue @path, whose name at @name_off is opened in @dir (a reference is
 * taken). Emits the oldest files, and works on them, while the ring is
 * full.
 */
int cachectl__pool_add(struct pool *p, struct dirref *dir, const char *path,
		       size_t name_off, bool follow);
/* hand what was queued to the helpers; emit what has finished */
int cachectl__pool_publish(struct pool *p);
/* work on and emit every queued file (NULL: nothing to do) */
int cachectl__pool_flush(struct pool *p);
void cachectl__pool_free(struct pool *p);

#endif
