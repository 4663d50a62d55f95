// SPDX-License-Identifier: LGPL-2.1-or-later
/* The per-file public calls: argument checks around the backend. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "backend.h"
#include "extensible.h"

static int check_fd(struct cachectl_ctx *ctx, int fd, struct stat *st,
		    const struct cachectl_backend_ops **be)
{
	int r;

	if (!ctx || fd < 0)
		return fd < 0 ? -EBADF : -EINVAL;
	r = ctx->ops->fstat(fd, st);
	if (r < 0)
		return r;
	if (!S_ISREG(st->st_mode))
		return -EINVAL;
	return cachectl__backend_get(ctx, be);
}

CACHECTL_EXPORT int cachectl_file_query(struct cachectl_ctx *ctx, int fd,
					uint64_t offset, uint64_t length,
					unsigned int flags,
					struct cachectl_residency *ret,
					size_t size)
{
	const struct cachectl_backend_ops *be;
	struct cachectl_residency res;
	struct stat st;
	int r;

	if (flags || !ret)
		return -EINVAL;
	r = check_fd(ctx, fd, &st, &be);
	if (r < 0)
		return r;
	r = be->query(ctx, fd, &st, offset, length, &res);
	if (r < 0)
		return r;
	return cachectl__residency_copy(&res, ret, size);
}

#define PREFETCH_FLAGS \
	(CACHECTL_FILE_PREFETCH_READ | CACHECTL_FILE_PREFETCH_WAIT)

CACHECTL_EXPORT int cachectl_file_prefetch(struct cachectl_ctx *ctx, int fd,
					   uint64_t offset, uint64_t length,
					   unsigned int flags,
					   uint64_t *ret_bytes)
{
	const struct cachectl_backend_ops *be;
	struct stat st;
	uint64_t bytes = 0;
	int r;

	if (flags & ~PREFETCH_FLAGS)
		return -EINVAL;
	r = check_fd(ctx, fd, &st, &be);
	if (r < 0)
		return r;
	r = be->prefetch(ctx, fd, &st, offset, length, flags, NULL, &bytes);
	if (r >= 0 && ret_bytes)
		*ret_bytes = bytes;
	return r;
}

CACHECTL_EXPORT int cachectl_file_evict(struct cachectl_ctx *ctx, int fd,
					uint64_t offset, uint64_t length,
					unsigned int flags, uint64_t *ret_left)
{
	const struct cachectl_backend_ops *be;
	struct cachectl_residency after;
	struct stat st;
	uint64_t left = 0;
	int r;

	if (flags)
		return -EINVAL;
	r = check_fd(ctx, fd, &st, &be);
	if (r < 0)
		return r;
	r = be->evict(ctx, fd, &st, offset, length, &left, &after);
	if (ret_left && (r >= 0 || r == -EBUSY || r == -EOPNOTSUPP))
		*ret_left = left;
	return r;
}

/* The file's cache object: pin (1) or unpin (0) it. */
static int object_pin(struct cachectl_ctx *ctx, int fd, unsigned int flags,
		      bool pin)
{
	const struct cachectl_backend_ops *be;
	struct stat st;
	int r;

	if (flags)
		return -EINVAL;
	r = check_fd(ctx, fd, &st, &be);
	if (r < 0)
		return r;
	return pin ? be->pin(ctx, fd) : be->unpin(ctx, fd);
}

CACHECTL_EXPORT int cachectl_file_pin(struct cachectl_ctx *ctx, int fd,
				      unsigned int flags)
{
	return object_pin(ctx, fd, flags, true);
}

CACHECTL_EXPORT int cachectl_file_unpin(struct cachectl_ctx *ctx, int fd,
					unsigned int flags)
{
	return object_pin(ctx, fd, flags, false);
}

CACHECTL_EXPORT int cachectl_cache_set_culling(struct cachectl_ctx *ctx,
					       int fd, int enable)
{
	const struct cachectl_backend_ops *be;
	struct stat st;
	int r;

	if (enable != 0 && enable != 1)
		return -EINVAL;
	r = check_fd(ctx, fd, &st, &be);
	return r < 0 ? r : be->set_culling(ctx, fd, enable);
}

/* Copy out a residency struct of a size the caller chose. */
int cachectl__residency_copy(const struct cachectl_residency *res,
			    struct cachectl_residency *ret, size_t size)
{
	return cachectl_copy_out(ret, size, res, sizeof(*res),
				 CACHECTL_RESIDENCY_SIZE_VER0);
}

CACHECTL_EXPORT int cachectl_file_query_cached(struct cachectl_ctx *ctx, int fd,
					       uint64_t *ret_bytes)
{
	struct cachestat cs;
	int r;

	if (!ctx || fd < 0 || !ret_bytes)
		return -EINVAL;
	if (__atomic_load_n(&ctx->cachestat, __ATOMIC_RELAXED) ==
	    CACHECTL__CS_NO)
		return -EOPNOTSUPP;
	r = ctx->ops->cachestat(fd, 0, 0, &cs);
	if (r == -ENOSYS) {
		__atomic_store_n(&ctx->cachestat, CACHECTL__CS_NO,
				 __ATOMIC_RELAXED);
		return -EOPNOTSUPP;
	}
	if (r < 0)
		return r;
	__atomic_store_n(&ctx->cachestat, CACHECTL__CS_YES, __ATOMIC_RELAXED);
	/*
	 * An empty inode of a stacked filesystem: the pages are elsewhere.
	 * Only what is known without a request to the filesystem counts.
	 */
	if (!cs.nr_cache && !cs.nr_evicted && !cs.nr_recently_evicted &&
	    cachectl__stacked_kind_nowait(ctx, fd) != CACHECTL__STACKED_NO)
		return -EXDEV;
	*ret_bytes = cs.nr_cache * (uint64_t)ctx->page_size;
	return 0;
}
