// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Residency queries. cachestat(2) where the kernel has it; else mincore(2),
 * which since Linux 5.2 reports every page of a file the caller cannot
 * write as resident. We never pass that lie on: such answers are UNKNOWN.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/capability.h>

#include "cachectl-private.h"
#include "extensible.h"

enum { CS_UNKNOWN = 0, CS_YES = 1, CS_NO = 2 };

static void res_unknown(struct cachectl_residency *res)
{
	res->cached = res->dirty = res->writeback = 0;
	res->evicted = res->recently_evicted = 0;
	res->flags |= CACHECTL_RES_UNKNOWN | CACHECTL_RES_NO_STATE;
}

/* The kernel's own test: owner, CAP_FOWNER, or write permission. */
static bool mincore_is_truthful(struct cachectl_ctx *ctx, int fd,
				const struct stat *st)
{
	int fowner;

	if (st->st_uid == geteuid())
		return true;
	fowner = __atomic_load_n(&ctx->fowner, __ATOMIC_RELAXED);

	if (fowner < 0) {
		/* capget per file would double the cost of a query */
		fowner = ctx->ops->has_cap(CAP_FOWNER) > 0;
		__atomic_store_n(&ctx->fowner, fowner, __ATOMIC_RELAXED);
	}
	if (fowner)
		return true;
	return ctx->ops->access_write(fd) == 0;
}

/*
 * mincore over a sparse file would visit every page of the holes; visit
 * the data extents only. Pages of holes that were read stay uncounted,
 * which the NO_STATE flag already tells the caller to take with care.
 */
static int query_mincore(struct cachectl_ctx *ctx, int fd,
			 const struct stat *st, uint64_t off, uint64_t len,
			 uint64_t *bytes)
{
	const struct cachectl_sysops *o = ctx->ops;
	uint64_t end = off + len, pages = 0, n;
	int r;

	if ((uint64_t)st->st_blocks * 512 >= (uint64_t)st->st_size) {
		r = o->mincore(fd, off, len, &pages);
		*bytes = pages * ctx->page_size;
		return r;
	}
	while (off < end) {
		int64_t d = o->seek(fd, off, SEEK_DATA), h;

		if (d == -ENXIO || (d >= 0 && (uint64_t)d >= end))
			break;
		if (d < 0)
			return (int)d;
		h = o->seek(fd, d, SEEK_HOLE);
		if (h < 0)
			return (int)h;
		if ((uint64_t)h > end)
			h = end;
		r = o->mincore(fd, d, h - d, &n);
		if (r < 0)
			return r;
		pages += n;
		off = h;
	}
	*bytes = pages * ctx->page_size;
	return 0;
}

/*
 * The syscall's answer, plus cachestat's eviction counts where the kernel
 * has both (cachestat came in 6.5; the patch set is for 6.1). Returns 1
 * when the syscall would not answer for this file, so the shim does.
 */
static int query_kernel(struct cachectl_ctx *ctx, int fd, uint64_t offset,
			uint64_t len, struct cachectl_residency *res)
{
	struct cachestat cs;
	int r;

	/* the kernel's QUERY takes length 0 as "to EOF": keep empty empty */
	if (len == 0) {
		r = cachectl_kernel_query(ctx, fd, res->size, 0, res);
		res->cached = res->dirty = res->writeback = res->fscache = 0;
	} else {
		r = cachectl_kernel_query(ctx, fd, offset, len, res);
	}
	if (r == -EOPNOTSUPP || r == -EPERM || r == -ENOSYS) {
		dbg(ctx, "fcachectl QUERY: %s: the shim answers\n",
		    strerror(-r));
		return 1;
	}
	if (r < 0)
		return r;
	if (len && __atomic_load_n(&ctx->cachestat, __ATOMIC_RELAXED) != CS_NO) {
		r = ctx->ops->cachestat(fd, offset, len, &cs);
		if (r == 0) {
			__atomic_store_n(&ctx->cachestat, CS_YES,
					 __ATOMIC_RELAXED);
			res->evicted = cs.nr_evicted * ctx->page_size;
			res->recently_evicted =
				cs.nr_recently_evicted * ctx->page_size;
			return 0;
		}
		if (r == -ENOSYS)
			__atomic_store_n(&ctx->cachestat, CS_NO,
					 __ATOMIC_RELAXED);
	}
	res->flags |= CACHECTL_RES_NO_EVICTED;
	return 0;
}

int cachectl_query_fd(struct cachectl_ctx *ctx, int fd, const struct stat *st,
		      uint64_t offset, uint64_t length,
		      struct cachectl_residency *res)
{
	const struct cachectl_sysops *o = ctx->ops;
	uint64_t len = cachectl_range_clamp(st->st_size, offset, length);
	struct cachestat cs;
	uint64_t bytes = 0;
	int r;

	memset(res, 0, sizeof(*res));
	res->size = st->st_size;
	res->range = len;
	r = cachectl_backend(ctx);
	if (r < 0)
		return r;
	if (r == CACHECTL_BACKEND_KERNEL) {
		r = query_kernel(ctx, fd, offset, len, res);
		if (r <= 0)
			return r;
	}
	if (len == 0)
		return 0;

	/* walk workers share the context: these flags are set atomically */
	if (__atomic_load_n(&ctx->cachestat, __ATOMIC_RELAXED) != CS_NO) {
		r = o->cachestat(fd, offset, len, &cs);
		if (r == 0) {
			uint64_t ps = ctx->page_size;

			__atomic_store_n(&ctx->cachestat, CS_YES, __ATOMIC_RELAXED);
			/*
			 * Whole pages, as the kernel counts them (and fincore
			 * prints): a 37-byte file that is cached holds 4 KiB.
			 */
			res->cached = cs.nr_cache * ps;
			res->dirty = cs.nr_dirty * ps;
			res->writeback = cs.nr_writeback * ps;
			res->evicted = cs.nr_evicted * ps;
			res->recently_evicted = cs.nr_recently_evicted * ps;
			return 0;
		}
		if (r == -EPERM || r == -EOPNOTSUPP) {
			res_unknown(res);
			return 0;
		}
		if (r != -ENOSYS)
			return r;
		__atomic_store_n(&ctx->cachestat, CS_NO, __ATOMIC_RELAXED);
		dbg(ctx, "no cachestat(2): falling back to mincore(2)\n");
	}

	res->flags |= CACHECTL_RES_NO_STATE;
	if (!mincore_is_truthful(ctx, fd, st)) {
		res_unknown(res);
		return 0;
	}
	r = query_mincore(ctx, fd, st, offset, len, &bytes);
	if (r == -EACCES || r == -ENODEV) {
		/* unmappable (e.g. some special filesystems): cannot know */
		res_unknown(res);
		return 0;
	}
	if (r < 0)
		return r;
	res->cached = bytes;
	return 0;
}

/* Copy out a residency struct of a size the caller chose. */
int cachectl_residency_copy(const struct cachectl_residency *res,
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
	if (__atomic_load_n(&ctx->cachestat, __ATOMIC_RELAXED) == CS_NO)
		return -EOPNOTSUPP;
	r = ctx->ops->cachestat(fd, 0, 0, &cs);
	if (r == -ENOSYS) {
		__atomic_store_n(&ctx->cachestat, CS_NO, __ATOMIC_RELAXED);
		return -EOPNOTSUPP;
	}
	if (r < 0)
		return r;
	__atomic_store_n(&ctx->cachestat, CS_YES, __ATOMIC_RELAXED);
	*ret_bytes = cs.nr_cache * (uint64_t)ctx->page_size;
	return 0;
}
