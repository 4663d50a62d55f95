// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The shim backend: a stock kernel's page cache through cachestat(2),
 * mincore(2), fadvise(2) and reads.
 *
 * Queries use cachestat(2) where the kernel has it; else mincore(2),
 * which since Linux 5.2 reports every page of a file the caller cannot
 * write as resident. We never pass that lie on: such answers are UNKNOWN.
 *
 * Prefetch asks the kernel to read ahead, chunk by chunk. One WILLNEED
 * call stops at the readahead window, so a single call on a large file
 * caches only its first few MiB. Resident chunks are skipped (cachestat
 * is far cheaper than the readahead machinery), and so are holes, which
 * would otherwise be filled with zero pages.
 *
 * Eviction: DONTNEED silently skips dirty, locked and mapped pages, and
 * pages still under the read I/O of a recent prefetch are locked, so every
 * eviction is checked against the kernel. DONTNEED also starts writeback
 * of dirty pages. A residue that shrinks between tries is I/O finishing,
 * worth waiting for; one that stays put over five tries is held by a
 * mapping or an mlock and is reported.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/capability.h>
#include <sys/sysmacros.h>

#include "backend.h"
#include "fstype.h"

/* ---- query ------------------------------------------------------------- */

static void res_unknown(struct cachectl_residency *res)
{
	res->cached = res->dirty = res->writeback = 0;
	res->evicted = res->recently_evicted = 0;
	res->flags |= CACHECTL_RES_UNKNOWN | CACHECTL_RES_NO_STATE;
}

/* The kernel's own test: owner, CAP_FOWNER, or write permission. */
bool cachectl__shim_mincore_truthful(struct cachectl_ctx *ctx, int fd,
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
 * What a mapping of the file shows: resident pages only. overlayfs maps
 * the file of the layer holding the data, FUSE in passthrough mode its
 * backing file, so this is the truth where cachestat(2) looks at an
 * inode that holds nothing.
 */
static int query_mapped(struct cachectl_ctx *ctx, int fd,
			const struct stat *st, uint64_t offset, uint64_t len,
			struct cachectl_residency *res)
{
	uint64_t bytes = 0;
	int r;

	res->flags |= CACHECTL_RES_NO_STATE;
	if (!cachectl__shim_mincore_truthful(ctx, fd, st)) {
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

static void res_from_cachestat(struct cachectl_ctx *ctx,
			       const struct cachestat *cs,
			       struct cachectl_residency *res)
{
	uint64_t ps = ctx->page_size;

	/*
	 * Whole pages, as the kernel counts them (and fincore prints): a
	 * 37-byte file that is cached holds 4 KiB.
	 */
	res->cached = cs->nr_cache * ps;
	res->dirty = cs->nr_dirty * ps;
	res->writeback = cs->nr_writeback * ps;
	res->evicted = cs->nr_evicted * ps;
	res->recently_evicted = cs->nr_recently_evicted * ps;
}

/*
 * cachestat(2) found nothing: on a stacked filesystem the pages may be
 * another inode's. overlayfs: the layer's file where we can open it (the
 * exact figures), else its mapping (resident only). FUSE keeps pages in
 * its own inodes unless a file is passthrough, which only its mapping
 * tells. Returns 1 with @res filled, 0 to keep the empty answer.
 */
static int query_stacked(struct cachectl_ctx *ctx, int fd,
			 const struct stat *st, uint64_t offset, uint64_t len,
			 struct cachectl_residency *res)
{
	const struct cachectl_sysops *o = ctx->ops;
	struct cachectl_residency m = *res;
	int kind = cachectl__stacked_kind(ctx, fd, st);
	struct cachestat cs;
	int rfd, r;

	if (kind == CACHECTL__STACKED_OVERLAY) {
		rfd = cachectl__stacked_open(ctx, fd, st);
		if (rfd >= 0) {
			r = o->cachestat(rfd, offset, len, &cs);
			o->close(rfd);
			if (r == 0) {
				res_from_cachestat(ctx, &cs, res);
				return 1;
			}
		}
		r = query_mapped(ctx, fd, st, offset, len, res);
		return r < 0 ? r : 1;
	}
	if (kind != CACHECTL__STACKED_FUSE)
		return 0;
	r = query_mapped(ctx, fd, st, offset, len, &m);
	if (r < 0 || (m.flags & CACHECTL_RES_UNKNOWN) || !m.cached)
		return 0;
	*res = m;
	return 1;
}

int cachectl__shim_query(struct cachectl_ctx *ctx, int fd,
			 const struct stat *st, uint64_t offset, uint64_t length,
			 struct cachectl_residency *res)
{
	const struct cachectl_sysops *o = ctx->ops;
	uint64_t len = cachectl_range_clamp(st->st_size, offset, length);
	struct cachestat cs;
	int r;

	memset(res, 0, sizeof(*res));
	res->size = st->st_size;
	res->range = len;
	if (len == 0)
		return 0;

	/* walk workers share the context: these flags are set atomically */
	if (__atomic_load_n(&ctx->cachestat, __ATOMIC_RELAXED) !=
	    CACHECTL__CS_NO) {
		r = o->cachestat(fd, offset, len, &cs);
		if (r == 0) {
			__atomic_store_n(&ctx->cachestat, CACHECTL__CS_YES,
					 __ATOMIC_RELAXED);
			if (!cs.nr_cache && !cs.nr_evicted &&
			    !cs.nr_recently_evicted) {
				r = query_stacked(ctx, fd, st, offset, len, res);
				if (r != 0)
					return r < 0 ? r : 0;
			}
			res_from_cachestat(ctx, &cs, res);
			return 0;
		}
		if (r == -EPERM || r == -EOPNOTSUPP) {
			res_unknown(res);
			return 0;
		}
		if (r != -ENOSYS)
			return r;
		__atomic_store_n(&ctx->cachestat, CACHECTL__CS_NO,
				 __ATOMIC_RELAXED);
		dbg(ctx, "no cachestat(2): falling back to mincore(2)\n");
	}
	/* a mapping of an overlayfs file maps the layer's: no detour here */
	return query_mapped(ctx, fd, st, offset, len, res);
}

/* ---- prefetch ---------------------------------------------------------- */

struct pf {
	struct cachectl_ctx *ctx;
	int fd;
	unsigned int flags;
	uint64_t bytes;		/* requested from the filesystem */
	char *buf;		/* READ mode */
};

#define READ_BUF (1u << 20)

static int chunk_missing(struct pf *p, uint64_t off, uint64_t len,
			 uint64_t *missing)
{
	struct cachestat cs;
	int r;

	if (__atomic_load_n(&p->ctx->cachestat, __ATOMIC_RELAXED) ==
	    CACHECTL__CS_NO) {
		*missing = len;
		return 0;
	}
	r = p->ctx->ops->cachestat(p->fd, off, len, &cs);
	if (r < 0) {
		/* not knowing is no reason not to prefetch */
		*missing = len;
		return 0;
	}
	*missing = len - MIN(cs.nr_cache * p->ctx->page_size, len);
	return 0;
}

static int chunk_read(struct pf *p, uint64_t off, uint64_t len)
{
	const struct cachectl_sysops *o = p->ctx->ops;

	if (!p->buf) {
		p->buf = malloc(READ_BUF);
		if (!p->buf)
			return -ENOMEM;
	}
	while (len) {
		int64_t n = o->pread(p->fd, p->buf, MIN(len, READ_BUF), off);

		if (n == -EINTR)
			continue;
		if (n < 0)
			return (int)n;
		if (n == 0)
			break;	/* the file shrank under us */
		off += n;
		len -= n;
	}
	return 0;
}

/*
 * Wait until every page of the chunk is read in. Waiting on one page is
 * not enough: it may have been resident before while the rest is still
 * under I/O. Populating a mapping waits for each page without copying.
 */
static int chunk_wait(struct pf *p, uint64_t off, uint64_t len)
{
	return p->ctx->ops->populate(p->fd, off, len);
}

static int prefetch_extent(struct pf *p, uint64_t off, uint64_t end,
			   bool check)
{
	const struct cachectl_sysops *o = p->ctx->ops;
	int r;

	while (off < end) {
		uint64_t len = MIN(CACHECTL_CHUNK - (off % CACHECTL_CHUNK),
				   end - off);
		uint64_t missing = len;

		if (check) {
			r = chunk_missing(p, off, len, &missing);
			if (r < 0)
				return r;
		}
		if (missing) {
			if (p->flags & CACHECTL_FILE_PREFETCH_READ)
				r = chunk_read(p, off, len);
			else
				r = o->fadvise(p->fd, off, len,
					       POSIX_FADV_WILLNEED);
			if (r < 0)
				return r;
			p->bytes += missing;
		}
		off += len;
	}
	return 0;
}

static int wait_extent(struct pf *p, uint64_t off, uint64_t end)
{
	int r;

	while (off < end) {
		uint64_t len = MIN(CACHECTL_CHUNK - (off % CACHECTL_CHUNK),
				   end - off);

		r = chunk_wait(p, off, len);
		if (r < 0)
			return r;
		off += len;
	}
	return 0;
}

/* Visit the data extents of [off, end); the whole range if not sparse. */
static int for_each_extent(struct pf *p, const struct stat *st, uint64_t off,
			   uint64_t end, bool check, bool wait)
{
	const struct cachectl_sysops *o = p->ctx->ops;
	int r;

	if ((uint64_t)st->st_blocks * 512 >= (uint64_t)st->st_size)
		return wait ? wait_extent(p, off, end)
			    : prefetch_extent(p, off, end, check);
	while (off < end) {
		int64_t d = o->seek(p->fd, off, SEEK_DATA), h;

		if (d == -ENXIO || (d >= 0 && (uint64_t)d >= end))
			return 0;
		if (d == -EINVAL || d == -EOPNOTSUPP) {
			/* no SEEK_DATA here: treat it all as data */
			return wait ? wait_extent(p, off, end)
				    : prefetch_extent(p, off, end, check);
		}
		if (d < 0)
			return (int)d;
		h = o->seek(p->fd, d, SEEK_HOLE);
		if (h < 0)
			return (int)h;
		if ((uint64_t)h > end)
			h = end;
		r = wait ? wait_extent(p, d, h)
			 : prefetch_extent(p, d, h, check);
		if (r < 0)
			return r;
		off = h;
	}
	return 0;
}

int cachectl__shim_prefetch(struct cachectl_ctx *ctx, int fd,
			    const struct stat *st, uint64_t offset,
			    uint64_t length, unsigned int flags,
			    struct cachectl_residency *before,
			    uint64_t *ret_bytes)
{
	struct pf p = { .ctx = ctx, .fd = fd, .flags = flags };
	uint64_t len = cachectl_range_clamp(st->st_size, offset, length);
	bool check = true;
	int r;

	*ret_bytes = 0;
	if (len == 0)
		return 0;
	if (before && cachectl_res_complete(before))
		return 0;
	if (before && !(before->flags & CACHECTL_RES_UNKNOWN)) {
		/* one chunk or less: the caller's query already decided */
		if (len <= CACHECTL_CHUNK)
			check = false;
	}
	r = for_each_extent(&p, st, offset, offset + len, check, false);
	if (r >= 0 && (flags & CACHECTL_FILE_PREFETCH_WAIT) &&
	    !(flags & CACHECTL_FILE_PREFETCH_READ) && p.bytes)
		r = for_each_extent(&p, st, offset, offset + len, false, true);
	free(p.buf);
	if (before && !check)
		p.bytes = MIN(p.bytes, before->range - MIN(before->cached,
							     before->range));
	*ret_bytes = p.bytes;
	return r < 0 ? r : 0;
}

/* Wait for a prefetch issued earlier (e.g. through io_uring) to land. */
int cachectl__shim_prefetch_wait(struct cachectl_ctx *ctx, int fd,
				 const struct stat *st, uint64_t offset,
				 uint64_t length)
{
	struct pf p = { .ctx = ctx, .fd = fd };
	uint64_t len = cachectl_range_clamp(st->st_size, offset, length);

	if (!len)
		return 0;
	return for_each_extent(&p, st, offset, offset + len, false, true);
}

/* ---- evict ------------------------------------------------------------- */

#define EVICT_TRIES 8

int cachectl__evict_with(struct cachectl_ctx *ctx,
			 int (*query)(struct cachectl_ctx *, int,
				      const struct stat *, uint64_t, uint64_t,
				      struct cachectl_residency *),
			 int fd, const struct stat *st, uint64_t offset,
			 uint64_t length, uint64_t *ret_left,
			 struct cachectl_residency *after)
{
	const struct cachectl_sysops *o = ctx->ops;
	uint64_t len = cachectl_range_clamp(st->st_size, offset, length);
	uint64_t prev = UINT64_MAX;
	unsigned int nap = 2;
	struct statfs sf;
	int i, r;

	*ret_left = 0;
	for (i = 0; i < EVICT_TRIES; i++) {
		r = o->fadvise(fd, offset, len, POSIX_FADV_DONTNEED);
		if (r < 0)
			return r;
		r = query(ctx, fd, st, offset, length, after);
		if (r < 0)
			return r;
		if (after->flags & CACHECTL_RES_UNKNOWN) {
			*ret_left = UINT64_MAX;
			return 0;
		}
		*ret_left = after->cached;
		if (!after->cached)
			return 0;
		if (i == 0 && major(st->st_dev) == 0 && o->fstatfs &&
		    o->fstatfs(fd, &sf) == 0 &&
		    cachectl__magic_is_memory((long)sf.f_type))
			return -EOPNOTSUPP;
		/* reads in flight may hold pages for a while (~170 ms) */
		if (after->cached >= prev && i >= 4)
			break;
		prev = after->cached;
		o->nap(nap);
		nap = MIN(nap * 4, 256u);
	}
	dbg(ctx, "%llu bytes stayed resident\n",
	    (unsigned long long)after->cached);
	return -EBUSY;
}

static int shim_evict(struct cachectl_ctx *ctx, int fd, const struct stat *st,
		      uint64_t off, uint64_t len, uint64_t *ret_left,
		      struct cachectl_residency *after)
{
	return cachectl__evict_with(ctx, cachectl__shim_query, fd, st, off, len,
				    ret_left, after);
}

/* The whole file goes through the caller's data path here. */
static int shim_prefetch_whole(struct cachectl_ctx *ctx, int fd,
			       const struct stat *st, unsigned int flags,
			       struct cachectl_residency *res,
			       uint64_t *ret_bytes)
{
	return 0;
}

/* No cache objects to pin: the page cache is all the shim sees. */
static int shim_no_object(struct cachectl_ctx *ctx, int fd)
{
	return -EOPNOTSUPP;
}

static int shim_set_culling(struct cachectl_ctx *ctx, int fd, bool enable)
{
	return -EOPNOTSUPP;
}

const struct cachectl_backend_ops cachectl__shim_ops = {
	.name = "shim",
	.id = CACHECTL_BACKEND_SHIM,
	.caps = 0,
	.query = cachectl__shim_query,
	.prefetch = cachectl__shim_prefetch,
	.prefetch_whole = shim_prefetch_whole,
	.prefetch_wait = cachectl__shim_prefetch_wait,
	.evict = shim_evict,
	.pin = shim_no_object,
	.unpin = shim_no_object,
	.set_culling = shim_set_culling,
};
