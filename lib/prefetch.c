// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Prefetch: ask the kernel to read ahead, chunk by chunk. One WILLNEED
 * call stops at the readahead window, so a single call on a large file
 * caches only its first few MiB. Resident chunks are skipped (cachestat
 * is far cheaper than the readahead machinery), and so are holes, which
 * would otherwise be filled with zero pages.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "cachectl-private.h"

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

	if (__atomic_load_n(&p->ctx->cachestat, __ATOMIC_RELAXED) == 2) {
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

int cachectl_prefetch_fd(struct cachectl_ctx *ctx, int fd,
			 const struct stat *st, uint64_t offset,
			 uint64_t length, unsigned int flags,
			 const struct cachectl_residency *before,
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
	if (cachectl_is_kernel(ctx)) {
		r = cachectl_kernel_prefetch(ctx, fd, offset, len,
					     flags & CACHECTL_FILE_PREFETCH_WAIT,
					     NULL);
		if (r != -EOPNOTSUPP && r != -ENOBUFS) {
			/* what was missing from the page cache was asked for */
			if (r >= 0)
				*ret_bytes = before && !(before->flags &
						CACHECTL_RES_UNKNOWN) ?
					len - MIN(before->cached, len) : len;
			return r < 0 ? r : 0;
		}
	}
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
int cachectl_prefetch_wait_fd(struct cachectl_ctx *ctx, int fd,
			      const struct stat *st, uint64_t offset,
			      uint64_t length)
{
	struct pf p = { .ctx = ctx, .fd = fd };
	uint64_t len = cachectl_range_clamp(st->st_size, offset, length);

	if (!len)
		return 0;
	return for_each_extent(&p, st, offset, offset + len, false, true);
}
