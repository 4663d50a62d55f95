// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The kernel backend: fcachectl(2) from kernel-patches/ (Linux 6.12, see
 * uapi-cachectl.h). It knows both
 * layers of a network file's cache (page cache and the fscache object
 * on local disk) and keeps pins in the cache itself. Files on
 * filesystems without fscache still get the page-cache part of QUERY;
 * for everything else they answer EOPNOTSUPP (and files no cache holds
 * ENOBUFS), and the shim serves them, file by file.
 */
#include <errno.h>
#include <string.h>

#include "backend.h"
#include "uapi-cachectl.h"

static long kcall(struct cachectl_ctx *ctx, int fd, unsigned int op,
		  struct kcachectl_args *a)
{
	return ctx->ops->fcachectl(fd, op, a);
}

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

static int fcachectl_query(struct cachectl_ctx *ctx, int fd, uint64_t offset,
			   uint64_t length, struct cachectl_residency *res)
{
	struct kcachectl_args a = { .offset = offset, .length = length };
	long r;

	r = kcall(ctx, fd, KCACHECTL_OP_QUERY, &a);
	if (r < 0)
		return (int)r;
	res_fill(res, &a);
	return 0;
}

/*
 * The syscall's answer, plus cachestat's eviction counts where the kernel
 * has both (cachestat came in 6.5; an older kernel carrying a backport of
 * the series may lack it). Returns 1
 * when the syscall would not answer for this file, so the shim does.
 */
static int query_kernel(struct cachectl_ctx *ctx, int fd, uint64_t offset,
			uint64_t len, struct cachectl_residency *res)
{
	struct cachestat cs;
	int r;

	/* the kernel's QUERY takes length 0 as "to EOF": keep empty empty */
	if (len == 0) {
		r = fcachectl_query(ctx, fd, res->size, 0, res);
		res->cached = res->dirty = res->writeback = res->fscache = 0;
	} else {
		r = fcachectl_query(ctx, fd, offset, len, res);
	}
	if (r == -EOPNOTSUPP || r == -EPERM || r == -ENOSYS) {
		dbg(ctx, "fcachectl QUERY: %s: the shim answers\n",
		    strerror(-r));
		return 1;
	}
	if (r < 0)
		return r;
	if (len && __atomic_load_n(&ctx->cachestat, __ATOMIC_RELAXED) !=
		   CACHECTL__CS_NO) {
		r = ctx->ops->cachestat(fd, offset, len, &cs);
		if (r == 0) {
			__atomic_store_n(&ctx->cachestat, CACHECTL__CS_YES,
					 __ATOMIC_RELAXED);
			res->evicted = cs.nr_evicted * ctx->page_size;
			res->recently_evicted =
				cs.nr_recently_evicted * ctx->page_size;
			return 0;
		}
		if (r == -ENOSYS)
			__atomic_store_n(&ctx->cachestat, CACHECTL__CS_NO,
					 __ATOMIC_RELAXED);
	}
	res->flags |= CACHECTL_RES_NO_EVICTED;
	return 0;
}

static int kernel_query(struct cachectl_ctx *ctx, int fd,
			const struct stat *st, uint64_t offset,
			uint64_t length, struct cachectl_residency *res)
{
	int r;

	memset(res, 0, sizeof(*res));
	res->size = st->st_size;
	res->range = cachectl_range_clamp(st->st_size, offset, length);
	r = query_kernel(ctx, fd, offset, res->range, res);
	if (r <= 0)
		return r;
	return cachectl__shim_query(ctx, fd, st, offset, length, res);
}

/*
 * One call reads the range into the page cache and the fscache object;
 * with WAIT it returns once the cache writes are done too. Returns 1 when
 * served, with @res (if any) the state after, or 0 if the syscall cannot
 * serve the file (-EOPNOTSUPP: no fscache here; -ENOBUFS: no cache holds
 * it).
 */
static int fcachectl_prefetch(struct cachectl_ctx *ctx, int fd, uint64_t off,
			      uint64_t len, unsigned int flags,
			      struct cachectl_residency *res,
			      uint64_t *ret_bytes)
{
	struct kcachectl_args a = {
		.offset = off,
		.length = len,
		.flags = flags & CACHECTL_FILE_PREFETCH_WAIT ?
			 KCACHECTL_PREFETCH_WAIT : 0,
	};
	long r;

	r = kcall(ctx, fd, KCACHECTL_OP_PREFETCH, &a);
	if (r == -EOPNOTSUPP || r == -ENOBUFS)
		return 0;
	if (r < 0)
		return (int)r;
	/* what was missing from the page cache was asked for */
	*ret_bytes = res && !(res->flags & CACHECTL_RES_UNKNOWN) ?
		     len - MIN(res->cached, len) : len;
	if (res)
		res_fill(res, &a);
	return 1;
}

static int kernel_prefetch(struct cachectl_ctx *ctx, int fd,
			   const struct stat *st, uint64_t offset,
			   uint64_t length, unsigned int flags,
			   struct cachectl_residency *res, uint64_t *ret_bytes)
{
	uint64_t len = cachectl_range_clamp(st->st_size, offset, length);
	int r;

	*ret_bytes = 0;
	if (len == 0 || (res && cachectl_res_complete(res)))
		return 0;
	r = fcachectl_prefetch(ctx, fd, offset, len, flags, res, ret_bytes);
	if (r < 0)
		return r;
	if (r > 0)
		return res ? 1 : 0;
	return cachectl__shim_prefetch(ctx, fd, st, offset, length, flags, res,
				       ret_bytes);
}

/* Only where a cache holds the file: the rest the caller's reads bring. */
static int kernel_prefetch_whole(struct cachectl_ctx *ctx, int fd,
				 const struct stat *st, unsigned int flags,
				 struct cachectl_residency *res,
				 uint64_t *ret_bytes)
{
	uint64_t len = res->range;

	if (!(res->cache_state & CACHECTL_CACHE_OBJECT) ||
	    cachectl_res_complete(res))
		return 0;
	*ret_bytes = 0;
	return fcachectl_prefetch(ctx, fd, 0, len, flags, res, ret_bytes);
}

static int kernel_evict(struct cachectl_ctx *ctx, int fd, const struct stat *st,
			uint64_t off, uint64_t len, uint64_t *ret_left,
			struct cachectl_residency *after)
{
	return cachectl__evict_with(ctx, kernel_query, fd, st, off, len,
				    ret_left, after);
}

static int file_op(struct cachectl_ctx *ctx, int fd, unsigned int op,
		   uint64_t flags)
{
	struct kcachectl_args a = { .flags = flags };
	long r;

	r = kcall(ctx, fd, op, &a);
	return r < 0 ? (int)r : 0;
}

static int kernel_pin(struct cachectl_ctx *ctx, int fd)
{
	return file_op(ctx, fd, KCACHECTL_OP_PIN, 0);
}

static int kernel_unpin(struct cachectl_ctx *ctx, int fd)
{
	return file_op(ctx, fd, KCACHECTL_OP_UNPIN, 0);
}

/*
 * Culling is a policy of the whole cache, so the series leaves it to the
 * cache daemon ("nocull", and a bare "cull" to undo it, on
 * /dev/cachefiles); the syscall only reports it. The file names the
 * cache: one a cache holds (else -ENOBUFS, or -EOPNOTSUPP off fscache).
 * cachefiles binds one cache per open of the device, and one open at a
 * time, so the daemon holding it is that cache's.
 */
static int kernel_set_culling(struct cachectl_ctx *ctx, int fd, bool enable)
{
	struct kcachectl_args a = { 0 };
	long r;

	r = kcall(ctx, fd, KCACHECTL_OP_QUERY, &a);
	if (r < 0)
		return (int)r;
	if (!(a.state & KCACHECTL_STATE_HAS_CACHE))
		return -ENOBUFS;
	return ctx->ops->cachefiles_cmd(enable ? "cull" : "nocull");
}

const struct cachectl_backend_ops cachectl__kernel_ops = {
	.name = "kernel",
	.id = CACHECTL_BACKEND_KERNEL,
	.caps = CACHECTL_CAP_FSCACHE | CACHECTL_CAP_PIN | CACHECTL_CAP_CULLING,
	.query = kernel_query,
	.prefetch = kernel_prefetch,
	.prefetch_whole = kernel_prefetch_whole,
	.prefetch_wait = cachectl__shim_prefetch_wait,
	.evict = kernel_evict,
	.pin = kernel_pin,
	.unpin = kernel_unpin,
	.set_culling = kernel_set_culling,
};
