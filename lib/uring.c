// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The io_uring prefetch pipeline. Where each request waits on a device
 * queue or a server round trip, doing files one after another is the
 * whole cost; this keeps up to queue-depth requests in flight across
 * files. Files are taken in walk order and handed back in that order, so
 * output is the same as the synchronous path's.
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
#include "walk-private.h"

#define READ_SIZE (1u << 20)

struct pending {
	int fd;
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
	unsigned int window;	/* files held open, to order their requests */
	size_t *order;		/* submission order: by inode */
	bool read;		/* read the data, else FADVISE WILLNEED */
	char *scratch;
	struct pending *items;
	size_t n;
	size_t cursor;		/* first item with bytes left to request */
	unsigned int inflight;
};

/* Each pending file holds an fd: stay well inside RLIMIT_NOFILE. */
static unsigned int fd_budget(unsigned int want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur / 4 < want)
		return MAX(1u, (unsigned int)(rl.rlim_cur / 4));
	return want;
}

int uring_batch_new(struct cachectl_walk *w, bool read,
		    struct uring_batch **ret)
{
	struct uring_batch *b;
	unsigned int workers[2];
	int r;

	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->ctx = w->ctx;
	b->depth = fd_budget(w->queue_depth);
	/*
	 * Requests go out in inode order, which on ext4 and xfs follows the
	 * disk; a window wider than the depth gives that order room to work
	 * (getdents order is hash order, scattered over the disk).
	 */
	b->window = fd_budget(MAX(w->queue_depth, 512u));
	b->read = read;
	b->items = calloc(b->window, sizeof(*b->items));
	b->order = calloc(b->window, sizeof(*b->order));
	if (read)
		b->scratch = malloc(READ_SIZE);
	if (!b->items || !b->order || (read && !b->scratch)) {
		r = -ENOMEM;
		goto fail;
	}
	r = io_uring_queue_init(MIN(b->depth, 4096u), &b->ring, 0);
	if (r < 0)
		goto fail;
	/*
	 * Blocking reads and all fadvise calls run in io-wq workers; let
	 * as many run as there are requests in flight (5.15+, best effort).
	 */
	workers[0] = workers[1] = b->depth;
	(void)io_uring_register_iowq_max_workers(&b->ring, workers);
	*ret = b;
	return 0;
fail:
	free(b->scratch);
	free(b->order);
	free(b->items);
	free(b);
	return r;
}

void uring_batch_free(struct uring_batch *b)
{
	size_t i;

	if (!b)
		return;
	for (i = 0; i < b->n; i++) {
		close(b->items[i].fd);
		free(b->items[i].path);
	}
	io_uring_queue_exit(&b->ring);
	free(b->scratch);
	free(b->order);
	free(b->items);
	free(b);
}

bool uring_batch_full(const struct uring_batch *b)
{
	return b->n == b->window;
}

/* Takes ownership of @fd; @e->res holds the residency before prefetch. */
int uring_batch_add(struct uring_batch *b, int fd, const struct stat *st,
		    const char *path, const struct cachectl_entry *e,
		    bool needed)
{
	struct pending *p = &b->items[b->n];

	memset(p, 0, sizeof(*p));
	p->path = strdup(path);
	if (!p->path)
		return -ENOMEM;
	p->fd = fd;
	p->st = *st;
	p->e = *e;
	p->end = needed ? (uint64_t)st->st_size : 0;
	b->n++;
	return 0;
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

static bool queue_one(struct uring_batch *b)
{
	struct io_uring_sqe *sqe;
	struct pending *p;
	uint64_t len, miss;

	for (;;) {
		while (b->cursor < b->n &&
		       b->items[b->order[b->cursor]].next >=
		       b->items[b->order[b->cursor]].end)
			b->cursor++;
		if (b->cursor == b->n)
			return false;
		p = &b->items[b->order[b->cursor]];
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
	io_uring_sqe_set_data64(sqe, b->order[b->cursor]);
	p->next += len;
	p->e.bytes += miss;
	p->inflight++;
	b->inflight++;
	return true;
}

static int reap(struct uring_batch *b, unsigned int wait)
{
	struct io_uring_cqe *cqe;
	unsigned int head, seen = 0;
	int r;

	r = io_uring_submit_and_wait(&b->ring, wait);
	if (r < 0 && r != -EINTR)
		return r;
	io_uring_for_each_cqe(&b->ring, head, cqe) {
		struct pending *p = &b->items[io_uring_cqe_get_data64(cqe)];

		p->inflight--;
		b->inflight--;
		if (cqe->res < 0 && !p->error)
			p->error = cqe->res;
		/* a file that shrank under us: stop at its new end */
		if (b->read && cqe->res == 0)
			p->end = p->next;
		seen++;
	}
	io_uring_cq_advance(&b->ring, seen);
	return 0;
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

static void sort_by_inode(struct uring_batch *b)
{
	size_t i;

	for (i = 0; i < b->n; i++)
		b->order[i] = i;
	qsort_r(b->order, b->n, sizeof(*b->order), by_inode, b);
}

/* Run every pending file to completion and emit them in order. */
int uring_batch_flush(struct uring_batch *b, struct cachectl_walk *w,
		      int (*emit_file)(struct cachectl_walk *w,
				       struct cachectl_entry *e, int fd,
				       const struct stat *st, int error))
{
	size_t i;
	int r = 0;

	sort_by_inode(b);
	b->cursor = 0;
	for (;;) {
		while (b->inflight < b->depth && queue_one(b))
			;
		if (!b->inflight)
			break;
		r = reap(b, 1);
		if (r < 0)
			break;
	}
	/* on a ring failure, wait for what is in flight before closing */
	while (r < 0 && b->inflight && reap(b, 1) == 0)
		;
	for (i = 0; i < b->n; i++) {
		struct pending *p = &b->items[i];
		int rr;

		p->e.path = p->path;
		rr = emit_file(w, &p->e, p->fd, &p->st,
			       r < 0 ? r : p->error);
		close(p->fd);
		free(p->path);
		if (rr < 0 && r >= 0)
			r = rr;
	}
	b->n = 0;
	return r;
}
