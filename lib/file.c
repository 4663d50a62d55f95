// SPDX-License-Identifier: LGPL-2.1-or-later
/* The per-file public calls: argument checks around the engines. */
#include <errno.h>
#include <sys/stat.h>

#include "cachectl-private.h"

static int check_fd(struct cachectl_ctx *ctx, int fd, struct stat *st)
{
	int r;

	if (!ctx || fd < 0)
		return fd < 0 ? -EBADF : -EINVAL;
	r = ctx->ops->fstat(fd, st);
	if (r < 0)
		return r;
	return S_ISREG(st->st_mode) ? 0 : -EINVAL;
}

CACHECTL_EXPORT int cachectl_file_query(struct cachectl_ctx *ctx, int fd,
					uint64_t offset, uint64_t length,
					unsigned int flags,
					struct cachectl_residency *ret,
					size_t size)
{
	struct cachectl_residency res;
	struct stat st;
	int r;

	if (flags || !ret)
		return -EINVAL;
	r = check_fd(ctx, fd, &st);
	if (r < 0)
		return r;
	r = cachectl_query_fd(ctx, fd, &st, offset, length, &res);
	if (r < 0)
		return r;
	return cachectl_residency_copy(&res, ret, size);
}

#define PREFETCH_FLAGS \
	(CACHECTL_FILE_PREFETCH_READ | CACHECTL_FILE_PREFETCH_WAIT)

CACHECTL_EXPORT int cachectl_file_prefetch(struct cachectl_ctx *ctx, int fd,
					   uint64_t offset, uint64_t length,
					   unsigned int flags,
					   uint64_t *ret_bytes)
{
	struct stat st;
	uint64_t bytes = 0;
	int r;

	if (flags & ~PREFETCH_FLAGS)
		return -EINVAL;
	r = check_fd(ctx, fd, &st);
	if (r < 0)
		return r;
	r = cachectl_prefetch_fd(ctx, fd, &st, offset, length, flags, NULL,
				 &bytes);
	if (r >= 0 && ret_bytes)
		*ret_bytes = bytes;
	return r;
}

CACHECTL_EXPORT int cachectl_file_evict(struct cachectl_ctx *ctx, int fd,
					uint64_t offset, uint64_t length,
					unsigned int flags, uint64_t *ret_left)
{
	struct cachectl_residency after;
	struct stat st;
	uint64_t left = 0;
	int r;

	if (flags)
		return -EINVAL;
	r = check_fd(ctx, fd, &st);
	if (r < 0)
		return r;
	r = cachectl_evict_fd(ctx, fd, &st, offset, length, &left, &after);
	if (ret_left && (r >= 0 || r == -EBUSY))
		*ret_left = left;
	return r;
}
