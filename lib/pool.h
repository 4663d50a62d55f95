/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CACHECTL_POOL_H
#define CACHECTL_POOL_H

#include <stdbool.h>
#include <stddef.h>

struct pool;
typedef void (*pool_fn)(void *arg, size_t i);

/* @nthreads helpers; the caller of cachectl__pool_run() works too. */
int cachectl__pool_new(unsigned int nthreads, struct pool **ret);
/* Calls fn(arg, i) for i in [0, count) across the threads, then joins. */
void cachectl__pool_run(struct pool *p, pool_fn fn, void *arg, size_t count);
void cachectl__pool_free(struct pool *p);

#endif
