/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The backend seam. A context gets one of these tables when it is probed
 * (probe.c) and every per-file operation goes through it; nothing else in
 * the library asks which backend is in use. Both implementations reach
 * the kernel only through the context's struct cachectl_sysops.
 */
#ifndef CACHECTL_BACKEND_H
#define CACHECTL_BACKEND_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "cachectl-private.h"

/* ctx->cachestat: walk workers share the context, so set atomically */
enum { CACHECTL__CS_UNKNOWN = 0, CACHECTL__CS_YES = 1, CACHECTL__CS_NO = 2 };

struct cachectl_backend_ops {
	const char *name;
	int id;				/* CACHECTL_BACKEND_* */
	unsigned int caps;		/* CACHECTL_CAP_* */

	/* residency of [off, off+len) of an open regular file (len 0: EOF) */
	int (*query)(struct cachectl_ctx *ctx, int fd, const struct stat *st,
		     uint64_t off, uint64_t len,
		     struct cachectl_residency *res);
	/*
	 * Bring [off, off+len) in (CACHECTL_FILE_PREFETCH_* @flags). @res is the
	 * state before, from query(), or NULL; *ret_bytes what was asked of
	 * the filesystem. Returns 1 when @res now holds the state after
	 * (no need to query again), 0 when done, or -errno.
	 */
	int (*prefetch)(struct cachectl_ctx *ctx, int fd, const struct stat *st,
			uint64_t off, uint64_t len, unsigned int flags,
			struct cachectl_residency *res, uint64_t *ret_bytes);
	/*
	 * The whole file in one call, if the backend itself can move it (a
	 * cache holds it): 1 with @res the state after, 0 if the caller is
	 * to move the data (the io_uring pipeline), or -errno.
	 */
	int (*prefetch_whole)(struct cachectl_ctx *ctx, int fd,
			      const struct stat *st, unsigned int flags,
			      struct cachectl_residency *res,
			      uint64_t *ret_bytes);
	/* wait for data asked for earlier (advice through io_uring) */
	int (*prefetch_wait)(struct cachectl_ctx *ctx, int fd,
			     const struct stat *st, uint64_t off, uint64_t len);
	/* drop [off, off+len); -EBUSY with @after if some stayed */
	int (*evict)(struct cachectl_ctx *ctx, int fd, const struct stat *st,
		     uint64_t off, uint64_t len, uint64_t *ret_left,
		     struct cachectl_residency *after);
	/* the file's cache object: -EOPNOTSUPP where there is none */
	int (*pin)(struct cachectl_ctx *ctx, int fd);
	int (*unpin)(struct cachectl_ctx *ctx, int fd);
	int (*set_culling)(struct cachectl_ctx *ctx, int fd, bool enable);
};

extern const struct cachectl_backend_ops cachectl__shim_ops;
extern const struct cachectl_backend_ops cachectl__kernel_ops;

/*
 * probe.c: the context's table, probed on first use. If the probe failed,
 * *ret_err says why, and the table fails every operation with that error.
 */
const struct cachectl_backend_ops *cachectl__backend_probe(
	struct cachectl_ctx *ctx, int *ret_err);

static inline int cachectl__backend_get(struct cachectl_ctx *ctx,
					const struct cachectl_backend_ops **ret)
{
	const struct cachectl_backend_ops *be =
		__atomic_load_n(&ctx->be, __ATOMIC_ACQUIRE);
	int r = 0;

	if (!be)
		be = cachectl__backend_probe(ctx, &r);
	*ret = be;
	return r;
}

/* backend-shim.c, also the kernel backend's way for what it cannot serve */
int cachectl__shim_query(struct cachectl_ctx *ctx, int fd,
			 const struct stat *st, uint64_t off, uint64_t len,
			 struct cachectl_residency *res);
int cachectl__shim_prefetch(struct cachectl_ctx *ctx, int fd,
			    const struct stat *st, uint64_t off, uint64_t len,
			    unsigned int flags, struct cachectl_residency *res,
			    uint64_t *ret_bytes);
int cachectl__shim_prefetch_wait(struct cachectl_ctx *ctx, int fd,
				 const struct stat *st, uint64_t off,
				 uint64_t len);
/* would mincore(2) tell the caller the truth about this file? */
bool cachectl__shim_mincore_truthful(struct cachectl_ctx *ctx, int fd,
				     const struct stat *st);
/* DONTNEED until the pages are gone, checked with @query */
int cachectl__evict_with(struct cachectl_ctx *ctx,
			 int (*query)(struct cachectl_ctx *, int,
				      const struct stat *, uint64_t, uint64_t,
				      struct cachectl_residency *),
			 int fd, const struct stat *st, uint64_t off,
			 uint64_t len, uint64_t *ret_left,
			 struct cachectl_residency *after);

#endif
