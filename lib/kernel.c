// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The kernel backend: fcachectl(2) from kernel-patches/. It knows both
 * layers of a network file's cache (page cache and the fscache object
 * on local disk) and keeps pins in the cache itself. Files on
 * filesystems without fscache still get the page-cache part of QUERY;
 * for everything else they answer EOPNOTSUPP and the shim serves them.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "cachectl-private.h"
#include "uapi-cachectl.h"

static uint64_t cache_state(uint64_t k)
{
	uint64_t s = 0;

	if (k & KCACHECTL_STATE_HAS_CACHE)
		s |= CACHECTL_CACHE_OBJECT;
	if (k & KCACHECTL_STATE_PINNED)
		s |= CACHECTL_CACHE_PINNED;
	if (k & KCACHECTL_STATE_CULL_DISABLED)
		s |= CACHECTL_CACHE_NOCULL;
	if (k & KCACHECTL_STATE_CACHE_FULL)
		s |= CACHECTL_CACHE_FULL;
	return s;
}

/* Fills the fields the syscall knows; size and range are the caller's. */
static void res_fill(struct cachectl_residency *res,
		     const struct kcachectl_args *a)
{
	res->cached = a->pagecache_bytes;
	res->dirty = a->dirty_bytes;
	res->writeback = a->writeback_bytes;
	res->fscache = a->fscache_bytes;
	res->cache_state = cache_state(a->state);
	res->cache_id = a->state & KCACHECTL_STATE_HAS_CACHE ? a->cache_id : 0;
	res->flags |= CACHECTL_RES_FSCACHE;
}

int cachectl_kernel_query(struct cachectl_ctx *ctx, int fd, uint64_t offset,
			  uint64_t length, struct cachectl_residency *res)
{
	struct kcachectl_args a = { .offset = offset, .length = length };
	long r;

	r = ctx->ops->fcachectl(fd, KCACHECTL_OP_QUERY, &a);
	if (r < 0)
		return (int)r;
	res_fill(res, &a);
	return 0;
}

/*
 * One call reads the range into the page cache and the fscache object;
 * with @wait it returns once the cache writes are done too. -EOPNOTSUPP
 * (no fscache here) and -ENOBUFS (no cache holds the file) tell the
 * caller to use the shim's readahead instead.
 */
int cachectl_kernel_prefetch(struct cachectl_ctx *ctx, int fd, uint64_t offset,
			     uint64_t length, bool wait,
			     struct cachectl_residency *after)
{
	struct kcachectl_args a = {
		.offset = offset,
		.length = length,
		.flags = wait ? KCACHECTL_PREFETCH_WAIT : 0,
	};
	long r;

	r = ctx->ops->fcachectl(fd, KCACHECTL_OP_PREFETCH, &a);
	if (r < 0)
		return (int)r;
	if (after)
		res_fill(after, &a);
	return 0;
}

static int check_fd(struct cachectl_ctx *ctx, int fd)
{
	struct stat st;
	int r;

	if (!ctx)
		return -EINVAL;
	if (fd < 0)
		return -EBADF;
	r = ctx->ops->fstat(fd, &st);
	if (r < 0)
		return r;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	r = cachectl_backend(ctx);
	if (r < 0)
		return r;
	return r == CACHECTL_BACKEND_KERNEL ? 0 : -EOPNOTSUPP;
}

static int file_op(struct cachectl_ctx *ctx, int fd, unsigned int op,
		   uint64_t flags)
{
	struct kcachectl_args a = { .flags = flags };
	long r;

	r = check_fd(ctx, fd);
	if (r < 0)
		return (int)r;
	r = ctx->ops->fcachectl(fd, op, &a);
	return r < 0 ? (int)r : 0;
}

CACHECTL_EXPORT int cachectl_file_pin(struct cachectl_ctx *ctx, int fd,
				      unsigned int flags)
{
	if (flags)
		return -EINVAL;
	return file_op(ctx, fd, KCACHECTL_OP_PIN, 0);
}

CACHECTL_EXPORT int cachectl_file_unpin(struct cachectl_ctx *ctx, int fd,
					unsigned int flags)
{
	if (flags)
		return -EINVAL;
	return file_op(ctx, fd, KCACHECTL_OP_UNPIN, 0);
}

CACHECTL_EXPORT int cachectl_cache_set_culling(struct cachectl_ctx *ctx,
					       int fd, int enable)
{
	if (enable != 0 && enable != 1)
		return -EINVAL;
	return file_op(ctx, fd, KCACHECTL_OP_CACHE_POLICY,
		       enable ? KCACHECTL_POLICY_CULL : KCACHECTL_POLICY_NOCULL);
}
