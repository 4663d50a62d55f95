// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The per-file engine: open a file the walk found, check what it is, run
 * the walk's operation on it through the backend, and account for the
 * result. The synchronous path, the thread pool and the io_uring pipeline
 * all come here for each file; results are emitted on the caller's
 * thread, in walk order.
 *
 * A regular file is opened with O_NOFOLLOW|O_NONBLOCK and checked with
 * fstat before anything else, so a name swapped for a FIFO or a symlink
 * between readdir and open is neither blocked on nor followed.
 */
#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "engine.h"
#include "fstype.h"

/* ---- results ---------------------------------------------------------- */

/* Once per file: the coarse clock is a few ns cheaper, and fine enough. */
static uint64_t coarse_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void cachectl__engine_progress_start(struct cachectl_walk *w)
{
	w->progress_last = coarse_ns();
}

void cachectl__engine_progress(struct cachectl_walk *w)
{
	uint64_t t;

	if (!w->progress_fn)
		return;
	t = coarse_ns();
	if (t - w->progress_last < w->progress_ns)
		return;
	w->progress_last = t;
	w->progress_fn(w, &w->totals, w->progress_data);
}

static int emit(struct cachectl_walk *w, struct cachectl_entry *e)
{
	int r = 0;

	if (e->error < 0) {
		w->totals.errors++;
		w->failed = true;
	}
	if (w->fn)
		r = w->fn(w, e, w->fn_data);
	cachectl__engine_progress(w);
	return r < 0 ? r : 0;
}

int cachectl__engine_fail(struct cachectl_walk *w, int error)
{
	struct cachectl_entry e = { .path = w->path, .error = error };

	if (cachectl__error_is_gone(error))
		return error;
	return emit(w, &e);
}

bool cachectl__engine_link_seen(struct cachectl_walk *w, const struct stat *st)
{
	if ((w->flags & CACHECTL_WALK_ALL_LINKS) || st->st_nlink < 2)
		return false;
	return cachectl__inode_set_add(&w->links, st->st_dev, st->st_ino) == 0;
}

int cachectl__engine_done(struct cachectl_walk *w, struct cachectl_entry *e,
			  int r)
{
	if (r < 0 && cachectl__error_is_gone(r))
		return r;
	if (r < 0 && !e->has_res) {
		e->error = r;
		return emit(w, e);
	}
	e->error = r < 0 ? r : 0;
	w->totals.files++;
	w->totals.size += e->res.size;
	if (e->bytes != UINT64_MAX)
		w->totals.bytes += e->bytes;
	if (!cachectl__engine_numbers(w))
		return emit(w, e);
	e->has_res = true;
	if (e->res.flags & CACHECTL_RES_UNKNOWN)
		w->totals.unknown++;
	else
		w->totals.cached += e->res.cached;
	return emit(w, e);
}

int cachectl__engine_emit(struct cachectl_walk *w, struct cachectl_entry *e,
			  const struct stat *st, int error, bool skip)
{
	if (skip || (error >= 0 && cachectl__engine_link_seen(w, st))) {
		w->totals.skipped++;
		cachectl__engine_progress(w);
		return 0;
	}
	return cachectl__engine_done(w, e, error);
}

/* ---- opening ---------------------------------------------------------- */

/*
 * For opens through the ring. Without O_NOATIME: a refused one could
 * not be retried without a second round trip, and network filesystems
 * mostly keep atime on the server anyway.
 */
unsigned int cachectl__engine_open_flags(bool follow)
{
	return O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC |
	       (follow ? 0 : O_NOFOLLOW);
}

/* Not a regular file, or on another filesystem: <0 for a root, 1 skip. */
static int check_file(struct cachectl_walk *w, const struct stat *st,
		      bool root)
{
	if (!S_ISREG(st->st_mode)) {
		if (root)
			return S_ISDIR(st->st_mode) ? -EISDIR : -EINVAL;
		return 1;
	}
	if ((w->flags & CACHECTL_WALK_ONE_FS) && !root &&
	    st->st_dev != w->root_dev)
		return 1;
	return 0;
}

int cachectl__engine_open(struct cachectl_walk *w, int dirfd, const char *name,
			  bool root, bool follow, int *ret_fd, struct stat *st)
{
	const struct cachectl_sysops *o = w->ctx->ops;
	int oflags = (int)cachectl__engine_open_flags(follow);
	bool noatime = __atomic_load_n(&w->noatime, __ATOMIC_RELAXED);
	int fd, r;

	fd = o->openat(dirfd, name, oflags | (noatime ? O_NOATIME : 0));
	if (fd == -EPERM && noatime) {
		/* O_NOATIME needs ownership; stop trying it */
		__atomic_store_n(&w->noatime, false, __ATOMIC_RELAXED);
		fd = o->openat(dirfd, name, oflags);
	}
	if (fd < 0) {
		/* vanished, or became a symlink, since readdir */
		if (!root && (fd == -ENOENT || fd == -ELOOP))
			return 1;
		return fd;
	}
	r = o->fstat(fd, st);
	if (r >= 0)
		r = check_file(w, st, root);
	if (r) {
		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

/* ---- operating -------------------------------------------------------- */

/*
 * A remote walk reads: it ends when the data is in. The kernel backend's
 * equivalent is PREFETCH with WAIT, which also waits for the fscache
 * writes, so that a finished prefetch means both caches hold the files.
 */
static unsigned int prefetch_flags(struct cachectl_walk *w)
{
	unsigned int f = w->run_flags & (CACHECTL_RUN_READ | CACHECTL_RUN_WAIT);

	return w->remote ? f | CACHECTL_RUN_WAIT : f;
}

bool cachectl__engine_numbers(const struct cachectl_walk *w)
{
	return !(w->run_flags & CACHECTL_RUN_NO_RESIDENCY);
}

/*
 * The state a prefetch leaves once its reads end: what was cached and
 * what was asked for. Asking the kernel right after the advice would only
 * count the pages still under I/O as well, at one more call per file.
 */
static void expect_after(struct cachectl_walk *w, struct cachectl_entry *e)
{
	uint64_t ps = w->ctx->page_size, whole, c;

	if (e->res.flags & CACHECTL_RES_UNKNOWN)
		return;
	whole = (e->res.range + ps - 1) / ps * ps;
	c = e->bytes == UINT64_MAX ? whole : e->res.cached + e->bytes;
	e->res.cached = MIN((c + ps - 1) / ps * ps, whole);
}

/* Not asked: as if nothing were cached, so that every file is advised. */
static void res_blank(struct cachectl_entry *e, const struct stat *st)
{
	e->res = (struct cachectl_residency){ .size = (uint64_t)st->st_size,
					      .range = (uint64_t)st->st_size };
}

/* No figures wanted: the advice alone, resident files or not. */
static int prefetch_blind(struct cachectl_walk *w, int fd,
			  const struct stat *st, struct cachectl_entry *e)
{
	res_blank(e, st);
	return w->be->prefetch(w->ctx, fd, st, 0, 0, prefetch_flags(w),
			       &e->res, &e->bytes);
}

/*
 * A file already queried into e->res that the backend can move in one
 * call (a cache holds it): the answer is the state afterwards. Returns 1
 * if the backend cannot serve it that way, for the caller's data path.
 */
static int prefetch_whole(struct cachectl_walk *w, int fd,
			  const struct stat *st, struct cachectl_entry *e)
{
	int r;

	if (cachectl_res_complete(&e->res))
		return 0;
	r = w->be->prefetch_whole(w->ctx, fd, st, prefetch_flags(w), &e->res,
				  &e->bytes);
	return r < 0 ? r : !r;
}

int cachectl__engine_run(struct cachectl_walk *w, int fd,
			 const struct stat *st, struct cachectl_entry *e)
{
	const struct cachectl_backend_ops *be = w->be;
	struct cachectl_ctx *ctx = w->ctx;
	int r;

	/* parts of the file, its cached ranges, or a rate cap */
	if (cachectl__range_wanted(w))
		return cachectl__range_run(w, fd, st, e);
	switch (w->op) {
	case CACHECTL_WALK_OP_QUERY:
		return be->query(ctx, fd, st, 0, 0, &e->res);
	case CACHECTL_WALK_OP_PREFETCH:
		if (!cachectl__engine_numbers(w))
			return prefetch_blind(w, fd, st, e);
		r = be->query(ctx, fd, st, 0, 0, &e->res);
		if (r < 0)
			return r;
		if (cachectl_res_complete(&e->res))
			return 0;
		r = prefetch_whole(w, fd, st, e);
		if (r <= 0)
			return r;
		r = be->prefetch(ctx, fd, st, 0, 0, prefetch_flags(w), &e->res,
				 &e->bytes);
		if (r == 0)
			expect_after(w, e);
		return r < 0 ? r : 0;
	case CACHECTL_WALK_OP_EVICT:
		r = be->evict(ctx, fd, st, 0, 0, &e->bytes, &e->res);
		if (r == -EBUSY || r == -EOPNOTSUPP)
			e->has_res = true;
		return r;
	case CACHECTL_WALK_OP_PIN:
	case CACHECTL_WALK_OP_UNPIN:
		r = w->op == CACHECTL_WALK_OP_PIN ? be->pin(ctx, fd) :
						    be->unpin(ctx, fd);
		if (r < 0)
			return r;
		/* the entry shows the state it left behind */
		return be->query(ctx, fd, st, 0, 0, &e->res);
	}
	return -EINVAL;
}

/* Does the ring have data to move for this file? Clears O_NONBLOCK. */
static int needs_data(struct cachectl_walk *w, int fd,
		      struct cachectl_entry *e, bool *needed)
{
	*needed = !cachectl_res_complete(&e->res);
	/*
	 * We opened with O_NONBLOCK so a FIFO swapped in could not hang us;
	 * io_uring honours it on regular files too and would answer EAGAIN
	 * instead of reading. (Advice ignores it.)
	 */
	if (*needed && w->uring_read && fcntl(fd, F_SETFL, 0) < 0)
		return -errno;
	return 0;
}

int cachectl__engine_prepare(struct cachectl_walk *w, int fd,
			     const struct stat *st, struct cachectl_entry *e,
			     bool *needed)
{
	int r = 0;

	*needed = false;
	/* ranges: done here, the ring moves whole files only */
	if (cachectl__range_wanted(w))
		return cachectl__range_run(w, fd, st, e);
	if (cachectl__engine_numbers(w))
		r = w->be->query(w->ctx, fd, st, 0, 0, &e->res);
	else
		res_blank(e, st);
	return r < 0 ? r : needs_data(w, fd, e, needed);
}

int cachectl__engine_start(struct cachectl_walk *w, int fd, struct stat *st,
			   struct cachectl_entry *e, bool root, bool *needed)
{
	int r = w->ctx->ops->fstat(fd, st);

	*needed = false;
	if (r < 0)
		return r;
	/* swapped for something else since readdir (or the root's stat) */
	r = check_file(w, st, root);
	if (r)
		return r;
	/* sparse: the synchronous path skips holes */
	if (w->op != CACHECTL_WALK_OP_PREFETCH || cachectl__range_wanted(w) ||
	    (uint64_t)st->st_blocks * 512 < (uint64_t)st->st_size)
		return cachectl__engine_run(w, fd, st, e);
	r = w->be->query(w->ctx, fd, st, 0, 0, &e->res);
	if (r < 0)
		return r;
	/* the backend moves it in one call (a cache holds it): no ring reads */
	r = prefetch_whole(w, fd, st, e);
	if (r <= 0)
		return r;
	return needs_data(w, fd, e, needed);
}

/* The ring's data requests for the file ended: wait if asked, look again. */
int cachectl__engine_finish(struct cachectl_walk *w, int fd,
			    const struct stat *st, struct cachectl_entry *e,
			    int error)
{
	int r = error;

	if (r >= 0 && (w->run_flags & CACHECTL_RUN_WAIT) && !w->uring_read &&
	    e->bytes)
		r = w->be->prefetch_wait(w->ctx, fd, st, 0, 0);
	if (r >= 0 && !cachectl__engine_numbers(w))
		return r;
	if (r >= 0) {
		/* read, or advised: see expect_after() */
		expect_after(w, e);
		return r;
	}
	/* some came in: which */
	if (r == -EIO)
		e->has_res = w->be->query(w->ctx, fd, st, 0, 0, &e->res) >= 0;
	return r;
}
