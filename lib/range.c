// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Parts of files, and how fast: a walk's ranges (the same for every file,
 * or one file's from the caller's function), the cached ranges a query
 * records for a snapshot, and the cap on the bytes a prefetch reads per
 * second. The engine hands a file here when any of them is set; without
 * them a file is served whole, as before.
 *
 * Ranges are widened to whole pages: the page cache holds nothing smaller,
 * DONTNEED leaves a partly covered page alone, and two ranges sharing a
 * page would count it twice.
 *
 * Cached ranges come from mincore(2) over a mapping, a window at a time:
 * one call a window gives every page, where bisecting with cachestat(2)
 * costs a few calls per transition between cached and not. mincore only
 * tells the truth to whoever could write the file (the shim's own test);
 * where it would lie, the entry has no ranges.
 *
 * Advice reads exactly its range; read(2) reads ahead of it, so where the
 * data is read (--read, network filesystems) readahead is turned off on
 * the file's descriptor first: pages outside the ranges stay out, and the
 * rate cap is charged for all that is read.
 *
 * The rate cap is a token bucket without a burst: the run may have asked
 * the filesystem for rate * (now - start) bytes by now, and waits before a
 * chunk until it may. Chunks are a sixteenth of a second's worth, so the
 * time until the last page is in follows the cap to within one chunk.
 * A capped run (and one recording cached ranges, or with a range
 * function) works one file at a time on the caller's thread: the thread
 * pool would need the bucket shared, the io_uring pipeline moves whole
 * files, and both hand files to the caller out of the order they are
 * opened in.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "walk-private.h"

/* ---- the walk's ranges ------------------------------------------------- */

static int spans_append(struct spans *s, uint64_t off, uint64_t end)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 8;
		struct span *v = realloc(s->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = (struct span){ off, end };
	return 0;
}

/* In increasing order: merged with the last one if they touch. */
static int spans_push(struct spans *s, uint64_t off, uint64_t end)
{
	if (s->n && s->v[s->n - 1].end >= off) {
		if (end > s->v[s->n - 1].end)
			s->v[s->n - 1].end = end;
		return 0;
	}
	return spans_append(s, off, end);
}

static int span_cmp(const void *a, const void *b)
{
	const struct span *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

CACHECTL_EXPORT int cachectl_walk_add_range(struct cachectl_walk *w,
					    uint64_t offset, uint64_t length)
{
	struct spans *s;
	uint64_t ps, off, end;
	size_t i, n;
	int r;

	if (!w || (length && offset + length < offset))
		return -EINVAL;
	s = &w->ranges;
	ps = (uint64_t)w->ctx->page_size;
	off = offset - offset % ps;
	end = UINT64_MAX;
	if (length && offset + length <= UINT64_MAX - ps)
		end = (offset + length + ps - 1) / ps * ps;
	r = spans_append(s, off, end);
	if (r < 0 || s->n < 2)
		return r;
	/* keep them sorted and merged: few ranges, so sort again */
	qsort(s->v, s->n, sizeof(*s->v), span_cmp);
	for (i = 1, n = 1; i < s->n; i++) {
		if (s->v[i].off <= s->v[n - 1].end) {
			if (s->v[i].end > s->v[n - 1].end)
				s->v[n - 1].end = s->v[i].end;
		} else {
			s->v[n++] = s->v[i];
		}
	}
	s->n = n;
	return 0;
}

CACHECTL_EXPORT int cachectl_walk_set_range_fn(struct cachectl_walk *w,
					       cachectl_range_fn fn,
					       void *data)
{
	if (!w)
		return -EINVAL;
	w->range_fn = fn;
	w->range_data = data;
	return 0;
}

CACHECTL_EXPORT int cachectl_walk_set_max_rate(struct cachectl_walk *w,
					       uint64_t bytes_per_sec)
{
	if (!w)
		return -EINVAL;
	w->max_rate = bytes_per_sec;
	return 0;
}

/* ---- what the entry carries ------------------------------------------- */

CACHECTL_EXPORT int cachectl_entry_get_stamp(const struct cachectl_entry *e,
					     uint64_t *ret_size,
					     int64_t *ret_mtime_ns)
{
	if (!e)
		return -EINVAL;
	if (!e->has_stamp)
		return -ENODATA;
	if (ret_size)
		*ret_size = e->size;
	if (ret_mtime_ns)
		*ret_mtime_ns = e->mtime_ns;
	return 0;
}

CACHECTL_EXPORT int cachectl_entry_next_range(const struct cachectl_entry *e,
					      size_t *cursor,
					      uint64_t *ret_offset,
					      uint64_t *ret_length)
{
	const struct span *s;

	if (!e || !cursor)
		return -EINVAL;
	if (!e->has_spans || !e->cached)
		return -ENODATA;
	if (*cursor >= e->cached->n)
		return 0;
	s = &e->cached->v[(*cursor)++];
	if (ret_offset)
		*ret_offset = s->off;
	if (ret_length)
		*ret_length = s->end - s->off;
	return 1;
}

/* ---- for the engine --------------------------------------------------- */

static bool op_has_ranges(int op)
{
	return op == CACHECTL_WALK_OP_QUERY || op == CACHECTL_WALK_OP_PREFETCH ||
	       op == CACHECTL_WALK_OP_EVICT;
}

bool cachectl__range_serial(const struct cachectl_walk *w)
{
	if (!op_has_ranges(w->op))
		return false;
	return w->range_fn || (w->run_flags & CACHECTL_RUN_RANGES) ||
	       (w->max_rate && w->op == CACHECTL_WALK_OP_PREFETCH);
}

bool cachectl__range_wanted(const struct cachectl_walk *w)
{
	return op_has_ranges(w->op) &&
	       (w->ranges.n || cachectl__range_serial(w));
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void cachectl__range_run_start(struct cachectl_walk *w)
{
	w->serial = cachectl__range_serial(w);
	w->serial_read = false;
	w->rate_t0_ns = now_ns();
	w->rate_spent = 0;
	if (w->serial)
		w->nthreads = -1;	/* no pool for this run */
}

void cachectl__range_run_end(struct cachectl_walk *w)
{
	free(w->cached.v);
	w->cached = (struct spans){ 0 };
	w->serial = false;
}

/* Sleep until the bucket allows the next chunk. */
static void rate_wait(struct cachectl_walk *w)
{
	unsigned __int128 due = (unsigned __int128)w->rate_spent * 1000000000u /
				w->max_rate;
	uint64_t t = now_ns() - w->rate_t0_ns;
	struct timespec ts;

	if (due <= t)
		return;
	due -= t;
	ts.tv_sec = (time_t)(due / 1000000000u);
	ts.tv_nsec = (long)(due % 1000000000u);
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static uint64_t rate_chunk(const struct cachectl_walk *w)
{
	uint64_t ps = (uint64_t)w->ctx->page_size;
	uint64_t c = w->max_rate / 16 / ps * ps;

	return c < ps ? ps : MIN(c, CACHECTL_CHUNK);
}

/* The next range of the file at or after @pos: 1, 0 at the end, <0. */
static int next_range(struct cachectl_walk *w, struct cachectl_entry *e,
		      size_t *i, uint64_t pos, uint64_t *off, uint64_t *end)
{
	uint64_t o, len;
	int r;

	if (w->range_fn) {
		r = w->range_fn(w, e, pos, &o, &len, w->range_data);
		if (r <= 0)
			return r;
		if (o < pos || !len || o + len < o)
			return -EINVAL;
		*off = o;
		*end = o + len;
		return 1;
	}
	if (!w->ranges.n) {
		/* the whole file, once */
		if ((*i)++)
			return 0;
		*off = 0;
		*end = UINT64_MAX;
		return 1;
	}
	if (*i >= w->ranges.n)
		return 0;
	*off = w->ranges.v[*i].off;
	*end = w->ranges.v[*i].end;
	(*i)++;
	return 1;
}

static void res_add(struct cachectl_residency *sum,
		    const struct cachectl_residency *r)
{
	sum->range += r->range;
	sum->cached += r->cached;
	sum->dirty += r->dirty;
	sum->writeback += r->writeback;
	sum->evicted += r->evicted;
	sum->recently_evicted += r->recently_evicted;
	sum->fscache += r->fscache;
	sum->flags |= r->flags;
	sum->cache_state = r->cache_state;
	sum->cache_id = r->cache_id;
}

static int prefetch_range(struct cachectl_walk *w, int fd,
			  const struct stat *st, uint64_t off, uint64_t len,
			  struct cachectl_residency *res, uint64_t *bytes,
			  bool *exact)
{
	const struct cachectl_backend_ops *be = w->be;
	unsigned int flags = w->run_flags & (CACHECTL_RUN_READ | CACHECTL_RUN_WAIT);
	uint64_t o, n, b;
	int r;

	/* advice may do nothing on a network filesystem: a read ends when in */
	if (w->serial_read || w->remote)
		flags |= CACHECTL_RUN_READ | CACHECTL_RUN_WAIT;
	/*
	 * read(2) reads ahead past what it is asked for, which would bring in
	 * pages outside the ranges and bytes the cap does not see; advice
	 * reads exactly its range. Random access turns that off for our fd.
	 */
	if ((flags & CACHECTL_RUN_READ) && !*exact) {
		w->ctx->ops->fadvise(fd, 0, 0, POSIX_FADV_RANDOM);
		*exact = true;
	}
	r = be->query(w->ctx, fd, st, off, len, res);
	if (r < 0 || cachectl_res_complete(res))
		return r;
	if (!w->max_rate) {
		r = be->prefetch(w->ctx, fd, st, off, len, flags, res, &b);
		if (r < 0)
			return r;
		*bytes += b;
		return r ? 0 : be->query(w->ctx, fd, st, off, len, res);
	}
	for (o = off; o < off + len; o += n) {
		n = MIN(rate_chunk(w), off + len - o);
		rate_wait(w);
		/* no state before: the backend looks at each chunk itself */
		r = be->prefetch(w->ctx, fd, st, o, n, flags, NULL, &b);
		if (r < 0)
			return r;
		w->rate_spent += b;
		*bytes += b;
	}
	return be->query(w->ctx, fd, st, off, len, res);
}

/* Pages of [off, end) that mincore says are resident, onto w->cached. */
static int record_extent(struct cachectl_walk *w, int fd, uint64_t off,
			 uint64_t end, unsigned char *vec, uint64_t window)
{
	uint64_t ps = (uint64_t)w->ctx->page_size, o, i, np;
	int r;

	off -= off % ps;
	for (o = off; o < end; o += window) {
		uint64_t len = MIN(window, end - o);

		r = w->ctx->ops->mincore_vec(fd, o, len, vec);
		/* unmappable here (some special filesystems): cannot know */
		if (r == -ENODEV || r == -EACCES)
			return 1;
		if (r < 0)
			return r;
		np = (len + ps - 1) / ps;
		for (i = 0; i < np; i++) {
			uint64_t a = o + i * ps;

			if (!(vec[i] & 1))
				continue;
			r = spans_push(&w->cached, a, MIN(a + ps, end));
			if (r < 0)
				return r;
		}
	}
	return 0;
}

#define RECORD_WINDOW (256ull << 20)

/*
 * The cached ranges of [off, end) (within the file), by mincore, over the
 * data extents only in a sparse file; pages of holes are not recorded.
 * 1 if the file cannot be mapped to ask.
 */
static int record_cached(struct cachectl_walk *w, int fd,
			 const struct stat *st, uint64_t off, uint64_t end,
			 const struct cachectl_residency *res)
{
	const struct cachectl_sysops *o = w->ctx->ops;
	uint64_t ps = (uint64_t)w->ctx->page_size;
	unsigned char *vec;
	int r = 0;

	if (!res->cached)
		return 0;
	if (cachectl_res_complete(res) && !(res->flags & CACHECTL_RES_NO_STATE))
		return spans_push(&w->cached, off, end);
	vec = malloc(RECORD_WINDOW / ps);
	if (!vec)
		return -ENOMEM;
	if ((uint64_t)st->st_blocks * 512 >= (uint64_t)st->st_size) {
		r = record_extent(w, fd, off, end, vec, RECORD_WINDOW);
		goto out;
	}
	while (off < end && r == 0) {
		int64_t d = o->seek(fd, off, SEEK_DATA), h;

		if (d == -ENXIO || (d >= 0 && (uint64_t)d >= end))
			break;
		if (d < 0) {
			/* no SEEK_DATA here: all of it */
			r = record_extent(w, fd, off, end, vec, RECORD_WINDOW);
			break;
		}
		h = o->seek(fd, (uint64_t)d, SEEK_HOLE);
		if (h < 0) {
			r = (int)h;
			break;
		}
		if ((uint64_t)h > end)
			h = (int64_t)end;
		r = record_extent(w, fd, (uint64_t)d, (uint64_t)h, vec,
				  RECORD_WINDOW);
		off = (uint64_t)h;
	}
out:
	free(vec);
	return r;
}

int cachectl__range_run(struct cachectl_walk *w, int fd,
			const struct stat *st, struct cachectl_entry *e)
{
	const struct cachectl_backend_ops *be = w->be;
	bool record = w->op == CACHECTL_WALK_OP_QUERY &&
		      (w->run_flags & CACHECTL_RUN_RANGES);
	struct cachectl_residency sum = { .size = (uint64_t)st->st_size };
	uint64_t size = (uint64_t)st->st_size, pos = 0, off, end, b;
	bool busy = false, untold = false, exact = false;
	size_t i = 0;
	int k, r = 0;

	e->has_stamp = true;
	e->size = size;
	e->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 +
		      st->st_mtim.tv_nsec;
	e->bytes = 0;
	if (record) {
		w->cached.n = 0;
		e->cached = &w->cached;
		/* cachestat may answer where mincore would lie */
		if (!cachectl__shim_mincore_truthful(w->ctx, fd, st)) {
			untold = true;
			record = false;
		}
	}
	while ((k = next_range(w, e, &i, pos, &off, &end)) > 0) {
		struct cachectl_residency one;

		pos = end;
		if (end > size)
			end = size;
		if (off >= end)
			continue;
		switch (w->op) {
		case CACHECTL_WALK_OP_QUERY:
			r = be->query(w->ctx, fd, st, off, end - off, &one);
			if (r >= 0 && record && !(one.flags & CACHECTL_RES_UNKNOWN))
				r = record_cached(w, fd, st, off, end, &one);
			if (r > 0) {
				untold = true;
				record = false;
				r = 0;
			}
			break;
		case CACHECTL_WALK_OP_PREFETCH:
			r = prefetch_range(w, fd, st, off, end - off, &one,
					   &e->bytes, &exact);
			break;
		case CACHECTL_WALK_OP_EVICT:
			r = be->evict(w->ctx, fd, st, off, end - off, &b, &one);
			if (r == -EBUSY) {
				busy = true;
				r = 0;
			}
			if (b == UINT64_MAX || e->bytes == UINT64_MAX)
				e->bytes = UINT64_MAX;
			else
				e->bytes += b;
			break;
		}
		if (r < 0)
			return r;
		res_add(&sum, &one);
	}
	if (k < 0)
		return k;
	e->res = sum;
	e->has_spans = e->cached && !untold &&
		       !(sum.flags & CACHECTL_RES_UNKNOWN);
	if (busy) {
		e->has_res = true;
		return -EBUSY;
	}
	return 0;
}
