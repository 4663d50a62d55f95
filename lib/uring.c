// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The io_uring pipeline. Where each request waits on a device queue or a
 * server round trip, doing files one after another is the whole cost;
 * this keeps up to queue-depth requests in flight across files.
 *
 * Two ways in:
 *  - cachectl__uring_batch_add() takes a file the walk already opened
 *    (local disks with --read or -d). The batch fills, its requests go
 *    out in inode order (the disk's order on ext4 and xfs), and it is
 *    flushed whole.
 *  - cachectl__uring_batch_add_name() takes a name in a directory
 *    (network and FUSE filesystems, where the open, the reads and the
 *    close are each a round trip). Each file runs through open ->
 *    operation (the engine's) -> data -> close with every round trip an
 *    io_uring request, and results stream out in walk order as the
 *    oldest files finish.
 *
 * Reads land in one shared scratch buffer: the data is wanted in the page
 * cache, not here, so concurrent reads may overwrite each other freely.
 * That keeps memory fixed whatever the depth.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <liburing.h>

#include "cachectl-private.h"
#include "clock.h"
#include "engine.h"
#include "fstype.h"

#define READ_SIZE (1u << 20)

enum pstate {
	P_OPEN,		/* to open through the ring */
	P_OPENING,
	P_OPENED,	/* to stat and operate on, in this thread */
	P_DATA,		/* reads or advice in flight */
	P_CLOSE,	/* to close through the ring */
	P_CLOSING,
	P_DONE,
};

struct pending {
	enum pstate state;
	int fd;
	struct dirref *dir;
	size_t name_off;	/* the name within path */
	bool async_close;
	bool skip;
	bool again;		/* a data request was interrupted */
	bool root;		/* named by the caller: a vanished one is an error */
	struct stat st;
	char *path;
	uint64_t next;		/* first byte not yet requested */
	uint64_t end;
	unsigned int inflight;
	int error;
	struct cachectl_entry e;
};

struct uring_batch {
	struct cachectl_ctx *ctx;
	struct io_uring ring;
	unsigned int depth;	/* requests in flight */
	unsigned int window;	/* files held, to order their requests */
	size_t *order;		/* sorted mode: submission order by inode */
	size_t norder;		/* entries of order[] (some may be emitted) */
	bool read;		/* read the data, else FADVISE WILLNEED */
	bool sorted;		/* flushed whole, requests in inode order */
	unsigned int open_flags;
	char *scratch;
	struct pending *items;	/* a ring of window slots */
	size_t head, n;
	unsigned int inflight;
	unsigned int timeout_ms;
	uint64_t last_done;	/* when a request last completed */
	int fatal;
};

struct dirref *cachectl__dirref_new(int fd)
{
	struct dirref *d = malloc(sizeof(*d));

	if (d) {
		d->fd = fd;
		d->refs = 1;
	}
	return d;
}

void cachectl__dirref_put(struct dirref *d)
{
	if (d && --d->refs == 0) {
		if (d->fd >= 0)
			close(d->fd);
		free(d);
	}
}

/* Each pending file holds an fd: stay well inside RLIMIT_NOFILE. */
static unsigned int fd_budget(unsigned int want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur / 4 < want)
		return MAX(1u, (unsigned int)(rl.rlim_cur / 4));
	return want;
}

int cachectl__uring_batch_new(struct cachectl_walk *w, unsigned int depth,
			      bool read, bool remote, struct uring_batch **ret)
{
	struct uring_batch *b;
	unsigned int workers[2];
	int r;

	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->ctx = w->ctx;
	b->depth = fd_budget(depth);
	b->sorted = !remote;
	b->timeout_ms = w->timeout_ms;
	/*
	 * Sorted: requests go out in inode order, which on ext4 and xfs
	 * follows the disk; a window wider than the depth gives that order
	 * room to work (getdents order is hash order, scattered over the
	 * disk). Streaming: a few files per request in flight keep the
	 * pipeline full while the oldest file holds up the output.
	 */
	b->window = fd_budget(remote ? MAX(depth * 4, 64u) : MAX(depth, 512u));
	b->read = read;
	b->items = calloc(b->window, sizeof(*b->items));
	b->order = calloc(b->window, sizeof(*b->order));
	if (read)
		b->scratch = malloc(READ_SIZE);
	if (!b->items || !b->order || (read && !b->scratch)) {
		r = -ENOMEM;
		goto fail;
	}
	/*
	 * Completions are handed to this thread as task work. Announced the
	 * default way, as a pending "signal", they interrupt what the thread
	 * is doing meanwhile: a FUSE getdents then fails with EINTR. Deferred
	 * task work (6.1+) runs only when we ask for events.
	 */
	r = io_uring_queue_init(MIN(b->depth, 4096u), &b->ring,
				IORING_SETUP_SINGLE_ISSUER |
				IORING_SETUP_DEFER_TASKRUN);
	if (r == -EINVAL)
		r = io_uring_queue_init(MIN(b->depth, 4096u), &b->ring, 0);
	if (r < 0)
		goto fail;
	/*
	 * Opens, closes, blocking reads and all fadvise calls run in io-wq
	 * workers; let as many run as there are requests in flight (5.15+,
	 * best effort: the default bound is the CPU count for reads).
	 */
	workers[0] = workers[1] = b->depth;
	(void)io_uring_register_iowq_max_workers(&b->ring, workers);
	b->last_done = cc_now_ms();
	*ret = b;
	return 0;
fail:
	free(b->scratch);
	free(b->order);
	free(b->items);
	free(b);
	return r;
}

static struct pending *item(struct uring_batch *b, size_t k)
{
	return &b->items[(b->head + k) % b->window];
}

static void release(struct pending *p)
{
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	cachectl__dirref_put(p->dir);
	p->dir = NULL;
	free(p->path);
	p->path = NULL;
}

void cachectl__uring_batch_free(struct uring_batch *b)
{
	size_t k;

	if (!b)
		return;
	/*
	 * Requests may still be in flight after a fatal error (a server
	 * that stopped answering). Closing the ring cancels them; the
	 * kernel holds its own references to their files and buffers
	 * until they end, and the scratch buffer is only ever written.
	 */
	io_uring_queue_exit(&b->ring);
	for (k = 0; k < b->n; k++)
		release(item(b, k));
	free(b->scratch);
	free(b->order);
	free(b->items);
	free(b);
}

bool cachectl__uring_batch_remote(const struct uring_batch *b)
{
	return !b->sorted;
}

static struct pending *slot(struct uring_batch *b, const char *path)
{
	struct pending *p = item(b, b->n);

	memset(p, 0, sizeof(*p));
	p->fd = -1;
	p->path = strdup(path);
	return p->path ? p : NULL;
}

static int pump(struct uring_batch *b, struct cachectl_walk *w,
		bool wait);
static int drain_sorted(struct uring_batch *b, struct cachectl_walk *w,
			size_t keep);

/* Takes ownership of @fd; @e->res holds the residency before prefetch. */
int cachectl__uring_batch_add(struct uring_batch *b, struct cachectl_walk *w,
			      int fd, const struct stat *st, const char *path,
			      const struct cachectl_entry *e, bool needed)
{
	struct pending *p = slot(b, path);

	if (!p) {
		close(fd);
		return -ENOMEM;
	}
	p->state = P_DATA;
	p->fd = fd;
	p->st = *st;
	p->e = *e;
	p->end = needed ? (uint64_t)st->st_size : 0;
	b->n++;
	if (b->n == b->window)
		return drain_sorted(b, w, b->window / 2);
	return 0;
}

int cachectl__uring_batch_add_name(struct uring_batch *b,
				   struct cachectl_walk *w, struct dirref *dir,
				   const char *path, size_t name_off,
				   unsigned int open_flags, bool root,
				   struct cachectl_entry *e)
{
	struct pending *p;
	int r;

	/* make room: the oldest file must finish before a new one comes */
	while (b->n == b->window) {
		r = pump(b, w, true);
		if (r < 0)
			return r;
	}
	p = slot(b, path);
	if (!p)
		return -ENOMEM;
	p->state = P_OPEN;
	p->dir = dir;
	dir->refs++;
	p->name_off = name_off;
	p->root = root;
	p->async_close = true;
	p->e = *e;
	b->open_flags = open_flags;
	b->n++;
	/* keep the pipeline moving while the walk reads directories */
	return pump(b, w, false);
}

/*
 * Bytes of [off, off+len) not yet resident. Only asked for files of more
 * than one chunk: for smaller ones the walk's query already decided.
 */
static uint64_t missing(struct uring_batch *b, struct pending *p, uint64_t off,
			uint64_t len)
{
	struct cachestat cs;

	if ((uint64_t)p->st.st_size <= CACHECTL_CHUNK ||
	    b->ctx->ops->cachestat(p->fd, off, len, &cs) < 0)
		return len;
	return len - MIN(cs.nr_cache * (uint64_t)b->ctx->page_size, len);
}

/* Queue the next data request of @p; false if it has none left. */
static bool queue_data(struct uring_batch *b, struct pending *p, size_t idx)
{
	struct io_uring_sqe *sqe;
	uint64_t len, miss;

	for (;;) {
		if (p->error || p->next >= p->end)
			return false;
		len = MIN(b->read ? (uint64_t)READ_SIZE : CACHECTL_CHUNK,
			  p->end - p->next);
		miss = missing(b, p, p->next, len);
		if (miss)
			break;
		p->next += len;	/* resident already: no request */
	}
	sqe = io_uring_get_sqe(&b->ring);
	if (!sqe)
		return false;
	if (b->read)
		io_uring_prep_read(sqe, p->fd, b->scratch, (unsigned int)len,
				   p->next);
	else
		/* FADVISE's length is 32 bits before 6.11; chunks fit */
		io_uring_prep_fadvise(sqe, p->fd, p->next, (off_t)len,
				      POSIX_FADV_WILLNEED);
	io_uring_sqe_set_data64(sqe, idx);
	if (!b->sorted)
		io_uring_sqe_set_flags(sqe, IOSQE_ASYNC);
	p->next += len;
	p->e.bytes += miss;
	p->inflight++;
	b->inflight++;
	return true;
}

static bool queue_meta(struct uring_batch *b, struct pending *p, size_t idx)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&b->ring);

	if (!sqe)
		return false;
	if (p->state == P_OPEN) {
		io_uring_prep_openat(sqe, p->dir->fd, p->path + p->name_off,
				     (int)b->open_flags, 0);
		p->state = P_OPENING;
	} else {
		io_uring_prep_close(sqe, p->fd);
		p->fd = -1;	/* the ring closes it, whatever the answer */
		p->state = P_CLOSING;
	}
	io_uring_sqe_set_data64(sqe, idx);
	/*
	 * Straight to an io-wq worker: tried inline first, an open does the
	 * path walk without blocking but then waits in the filesystem's
	 * ->open (FUSE_OPEN, an NFS OPEN) in this thread, one at a time.
	 */
	io_uring_sqe_set_flags(sqe, IOSQE_ASYNC);
	p->inflight++;
	b->inflight++;
	return true;
}

/* Fill the ring: oldest files first, so the output is never held long. */
static void queue(struct uring_batch *b)
{
	/* sorted: order[] may hold emitted files, which are P_DONE */
	size_t n = b->sorted ? b->norder : b->n, k;

	for (k = 0; k < n && b->inflight < b->depth; k++) {
		size_t idx = b->sorted ? b->order[k] : (b->head + k) % b->window;
		struct pending *p = &b->items[idx];

		if (p->state == P_OPEN || p->state == P_CLOSE) {
			if (!queue_meta(b, p, idx))
				return;
			continue;
		}
		if (p->state != P_DATA)
			continue;
		while (b->inflight < b->depth && queue_data(b, p, idx))
			;
	}
}

static void complete(struct uring_batch *b, struct pending *p, int res)
{
	p->inflight--;
	b->inflight--;
	switch (p->state) {
	case P_OPENING:
		if (res == -EINTR) {
			/* an interrupted FUSE round trip: ask again */
			p->state = P_OPEN;
			break;
		}
		cachectl__dirref_put(p->dir);
		p->dir = NULL;
		if (res >= 0) {
			p->fd = res;
			p->state = P_OPENED;
		} else if (!p->root && (res == -ENOENT || res == -ELOOP)) {
			/* vanished, or became a symlink, since readdir */
			p->skip = true;
			p->state = P_DONE;
		} else {
			p->error = res;
			p->state = P_DONE;
		}
		break;
	case P_CLOSING:
		p->state = P_DONE;
		break;
	case P_DATA:
		if (res == -EINTR) {
			/* interrupted: go over the file again once the rest ends */
			p->again = true;
		} else if (res < 0 && !p->error) {
			p->error = res;
		}
		/* a file that shrank under us: stop at its new end */
		if (b->read && res == 0)
			p->end = p->next;
		break;
	default:
		break;
	}
}

static int reap(struct uring_batch *b, struct cachectl_walk *w, bool wait)
{
	struct __kernel_timespec ts = { .tv_nsec = 100 * 1000000 };
	struct io_uring_cqe *cqe;
	unsigned int head, seen = 0;
	int r;

	if (wait && b->inflight)
		r = io_uring_submit_and_wait_timeout(&b->ring, &cqe, 1, &ts,
						     NULL);
	else
		r = io_uring_submit_and_get_events(&b->ring);
	if (r < 0 && r != -EINTR && r != -ETIME && r != -EAGAIN &&
	    r != -EBUSY)
		return r;
	io_uring_for_each_cqe(&b->ring, head, cqe) {
		complete(b, &b->items[io_uring_cqe_get_data64(cqe)],
			 cqe->res);
		seen++;
	}
	io_uring_cq_advance(&b->ring, seen);
	if (seen) {
		b->last_done = cc_now_ms();
		/* a heartbeat for watchers: only when something came back */
		cachectl__engine_progress(w);
	} else if (wait && b->inflight && b->timeout_ms &&
		   cc_now_ms() - b->last_done >= b->timeout_ms) {
		/* nothing came back for too long: the server is gone */
		return -ETIMEDOUT;
	}
	return 0;
}

/* The work of this thread: what the ring cannot do, and the output. */
static int advance(struct uring_batch *b, struct cachectl_walk *w)
{
	size_t k;
	int r;

	for (k = 0; k < b->n; k++) {
		struct pending *p = item(b, k);
		bool needed = false;

		if (p->state == P_OPENED) {
			r = cachectl__engine_start(w, p->fd, &p->st, &p->e,
						   p->root, &needed);
			if (r > 0)
				p->skip = true;
			else if (r < 0)
				p->error = r;
			if (r < 0 && cachectl__error_is_gone(r))
				return r;
			p->end = r == 0 && needed ? (uint64_t)p->st.st_size : 0;
			p->state = P_DATA;
		}
		if (p->state == P_DATA && !p->inflight && p->again &&
		    !p->error && p->next >= p->end) {
			/* resident parts cost nothing the second time */
			p->again = false;
			p->next = 0;
		}
		if (p->state == P_DATA && !p->inflight &&
		    (p->error || p->next >= p->end)) {
			if (p->error && cachectl__error_is_gone(p->error))
				return p->error;
			if (p->end && !p->skip)
				p->error = cachectl__engine_finish(w, p->fd,
						&p->st, &p->e, p->error);
			if (p->async_close) {
				p->state = P_CLOSE;
			} else {
				close(p->fd);
				p->fd = -1;
				p->state = P_DONE;
			}
		}
	}
	/* stream out the finished prefix */
	while (b->n && item(b, 0)->state == P_DONE) {
		struct pending *p = item(b, 0);

		if (p->error && cachectl__error_is_gone(p->error))
			return p->error;
		p->e.path = p->path;
		r = cachectl__engine_emit(w, &p->e, &p->st, p->error,
					  p->skip);
		release(p);
		b->head = (b->head + 1) % b->window;
		b->n--;
		if (r < 0)
			return r;
	}
	return 0;
}

static int pump(struct uring_batch *b, struct cachectl_walk *w, bool wait)
{
	int r;

	if (b->fatal)
		return b->fatal;
	queue(b);
	r = reap(b, w, wait);
	if (r >= 0)
		r = advance(b, w);
	if (r >= 0) {
		queue(b);
		r = reap(b, w, false);
	}
	if (r < 0)
		b->fatal = r;
	return r;
}

static int by_inode(const void *a, const void *b, void *arg)
{
	const struct uring_batch *ub = arg;
	const struct stat *x = &ub->items[*(const size_t *)a].st;
	const struct stat *y = &ub->items[*(const size_t *)b].st;

	if (x->st_dev != y->st_dev)
		return x->st_dev < y->st_dev ? -1 : 1;
	return x->st_ino < y->st_ino ? -1 : x->st_ino > y->st_ino;
}

/*
 * A sorted batch: the files held go out in inode order, and their results
 * in walk order as the oldest finish. Waiting only until @keep are left,
 * the newer files' requests keep the device busy meanwhile; the window
 * is then refilled and sorted again (once per window / 2 files).
 */
static int drain_sorted(struct uring_batch *b, struct cachectl_walk *w,
			size_t keep)
{
	size_t k;
	int r = b->fatal;

	for (k = 0; k < b->n; k++)
		b->order[k] = (b->head + k) % b->window;
	/* no file is added until this returns: order[] stays valid */
	qsort_r(b->order, b->n, sizeof(*b->order), by_inode, b);
	b->norder = b->n;
	while (r >= 0 && b->n > keep)
		r = pump(b, w, true);
	return r;
}

/* Run every pending file to completion and emit them in walk order. */
int cachectl__uring_batch_flush(struct uring_batch *b, struct cachectl_walk *w)
{
	int r = b->fatal;

	if (b->sorted)
		return drain_sorted(b, w, 0);
	while (r >= 0 && b->n)
		r = pump(b, w, true);
	return r;
}
