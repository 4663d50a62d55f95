/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * floor-uring - the floor with many files in flight: where each file waits
 * on a queue or a server round trip, a loop pays the waits one after the
 * other and io_uring overlaps them.
 *
 *   floor-uring -m MODE [-d DEPTH] LIST
 *
 * LIST holds NUL- or newline-separated paths; DEPTH files (default 64) are
 * in flight at once.  Per file:
 *
 *   willneed   openat, then fadvise(WILLNEED) linked to the close
 *   read       openat, then a read of 1 MiB into a scratch buffer linked
 *              to the close
 *   cachestat  openat, then cachestat(2) here (the ring has none), then
 *              the close
 *
 * every step a request through the ring.  Not direct descriptors: their
 * close drops the file in this thread, so a filesystem's flush on close (a
 * FUSE round trip) would run one file after the other here, where a plain
 * close runs in an io-wq worker like the rest.  Whether the data came in
 * is for the bench to check (measure.c).  The read buffer is shared by
 * every request: the data is wanted in the page cache, not here.  An
 * interrupted request (EINTR, a FUSE round trip cut short) makes the file
 * go again, as a program that wants the data would.
 *
 * Prints "files=N pages=P errors=E" (P: nr_cache summed, cachestat mode)
 * and exits 1 if any file failed.
 */
#include "floor.h"
#include <getopt.h>
#include <stdbool.h>
#include <liburing.h>

#define READ_SIZE (1u << 20)
#define OPEN_FLAGS (O_RDONLY | O_NOATIME | O_CLOEXEC)
#define RETRIES 100

enum mode { M_WILLNEED, M_READ, M_CACHESTAT };
enum stage { S_OPEN, S_OP, S_CLOSE };
enum done { D_BUSY, D_FREE, D_AGAIN };

struct slot {
	size_t file;		/* index in paths */
	unsigned int tries;
	bool again;		/* interrupted: go again after the close */
};

struct floor {
	struct io_uring ring;
	enum mode mode;
	char **paths;		/* names in their directories */
	size_t n, next;
	int *dirfd;		/* per file: its directory, open */
	struct slot *slots;
	unsigned int *free_slots;
	unsigned int nfree;
	char *buf;
	unsigned long long pages, errors;
};

static uint64_t tag(unsigned int slot, enum stage st)
{
	return (uint64_t)slot << 2 | st;
}

static struct io_uring_sqe *get_sqe(struct floor *f)
{
	struct io_uring_sqe *sqe;

	/* the ring has room for every file in flight: this only drains it */
	while (!(sqe = io_uring_get_sqe(&f->ring)))
		io_uring_submit(&f->ring);
	return sqe;
}

static void queue(struct floor *f, unsigned int slot)
{
	struct io_uring_sqe *sqe = get_sqe(f);
	size_t i = f->slots[slot].file;

	io_uring_prep_openat(sqe, f->dirfd[i], f->paths[i], OPEN_FLAGS, 0);
	/*
	 * Straight to an io-wq worker: tried inline first, an open walks the
	 * path without blocking but then waits in the filesystem's ->open
	 * (FUSE_OPEN) in this thread, one file at a time.
	 */
	sqe->flags |= IOSQE_ASYNC;
	sqe->user_data = tag(slot, S_OPEN);
}

/*
 * The file is open: advise, read or query it, and close it.  The close is
 * hard-linked to the advice or read, so that a short read (every file
 * smaller than the buffer) does not cancel it.
 */
static void opened(struct floor *f, int fd, unsigned int slot)
{
	struct bench_cs_range r = { 0, 0 };
	struct io_uring_sqe *sqe;
	struct bench_cs cs;

	if (f->mode == M_CACHESTAT) {
		if (syscall(__NR_cachestat, fd, &r, &cs, 0))
			f->errors++;
		else
			f->pages += cs.nr_cache;
	} else {
		/* a link must not be split across two submissions */
		if (io_uring_sq_space_left(&f->ring) < 2)
			io_uring_submit(&f->ring);
		sqe = get_sqe(f);
		if (f->mode == M_WILLNEED)
			io_uring_prep_fadvise(sqe, fd, 0, 0, POSIX_FADV_WILLNEED);
		else
			io_uring_prep_read(sqe, fd, f->buf, READ_SIZE, 0);
		sqe->flags |= IOSQE_IO_HARDLINK | IOSQE_CQE_SKIP_SUCCESS | IOSQE_ASYNC;
		sqe->user_data = tag(slot, S_OP);
	}
	sqe = get_sqe(f);
	io_uring_prep_close(sqe, fd);
	sqe->flags |= IOSQE_ASYNC;
	sqe->user_data = tag(slot, S_CLOSE);
}

/* An interrupted request makes the file go again, up to RETRIES times. */
static bool interrupted(struct floor *f, struct slot *s, int res)
{
	if (res != -EINTR && res != -EAGAIN)
		return false;
	return ++s->tries <= RETRIES;
}

/* One completion: is the file's slot still busy, free, or to go again? */
static enum done complete(struct floor *f, struct io_uring_cqe *cqe)
{
	unsigned int slot = cqe->user_data >> 2;
	enum stage st = cqe->user_data & 3;
	struct slot *s = &f->slots[slot];
	int res = cqe->res;

	if (st != S_CLOSE && res < 0 && interrupted(f, s, res)) {
		if (st == S_OPEN)
			return D_AGAIN;
		s->again = true;
		return D_BUSY;
	}
	if (res < 0)
		f->errors++;
	if (st == S_OPEN && res < 0)
		return D_FREE;
	if (st == S_OPEN) {
		opened(f, res, slot);
		return D_BUSY;
	}
	if (st != S_CLOSE)
		return D_BUSY;
	if (s->again) {
		s->again = false;
		return D_AGAIN;
	}
	return D_FREE;
}

static int run(struct floor *f)
{
	unsigned int inflight = 0;

	while (f->next < f->n || inflight) {
		struct io_uring_cqe *cqe;
		unsigned int head, seen = 0;
		int ret;

		while (f->nfree && f->next < f->n) {
			unsigned int slot = f->free_slots[--f->nfree];

			f->slots[slot] = (struct slot){ .file = f->next++ };
			queue(f, slot);
			inflight++;
		}
		ret = io_uring_submit_and_wait(&f->ring, 1);
		if (ret < 0 && ret != -EINTR) {
			fprintf(stderr, "floor-uring: submit: %s\n", strerror(-ret));
			return -1;
		}
		io_uring_for_each_cqe(&f->ring, head, cqe) {
			unsigned int slot = cqe->user_data >> 2;

			seen++;
			switch (complete(f, cqe)) {
			case D_BUSY:
				break;
			case D_AGAIN:
				queue(f, slot);
				break;
			case D_FREE:
				f->free_slots[f->nfree++] = slot;
				inflight--;
				break;
			}
		}
		io_uring_cq_advance(&f->ring, seen);
	}
	return 0;
}

static int setup(struct floor *f, unsigned int depth)
{
	unsigned int i, workers[2] = { depth, depth };
	int ret;

	/*
	 * Two requests per file in flight, and room to spare.  Completions
	 * as deferred task work: announced as a pending signal, they would
	 * interrupt FUSE round trips of this thread.
	 */
	ret = io_uring_queue_init(4 * depth, &f->ring,
				  IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN);
	if (ret < 0) {
		fprintf(stderr, "floor-uring: io_uring_queue_init: %s\n", strerror(-ret));
		return -1;
	}
	/* opens, advice, closes, blocking reads run in io-wq: one worker each */
	(void)io_uring_register_iowq_max_workers(&f->ring, workers);
	f->slots = calloc(depth, sizeof(*f->slots));
	f->free_slots = calloc(depth, sizeof(*f->free_slots));
	f->buf = malloc(READ_SIZE);
	if (!f->slots || !f->free_slots || !f->buf)
		return -1;
	for (i = 0; i < depth; i++)
		f->free_slots[f->nfree++] = depth - 1 - i;
	return 0;
}

int main(int argc, char **argv)
{
	static struct floor f;
	const char *mode = NULL;
	int opt, depth = 64;

	while ((opt = getopt(argc, argv, "m:d:h")) != -1) {
		switch (opt) {
		case 'm': mode = optarg; break;
		case 'd': depth = atoi(optarg); break;
		default:
			goto usage;
		}
	}
	if (!mode || depth < 1 || depth > 4096 || optind != argc - 1)
		goto usage;
	if (!strcmp(mode, "willneed"))
		f.mode = M_WILLNEED;
	else if (!strcmp(mode, "read"))
		f.mode = M_READ;
	else if (!strcmp(mode, "cachestat"))
		f.mode = M_CACHESTAT;
	else
		goto usage;
	f.paths = bench_load_list(argv[optind], &f.n);
	if (!f.paths || bench_open_dirs(f.paths, f.n, &f.dirfd) || setup(&f, depth) || run(&f))
		return 1;
	io_uring_queue_exit(&f.ring);
	printf("files=%zu pages=%llu errors=%llu\n", f.n, f.pages, f.errors);
	return f.errors ? 1 : 0;
usage:
	fprintf(stderr, "usage: floor-uring -m willneed|read|cachestat [-d DEPTH] LIST\n");
	return opt == 'h' ? 0 : 1;
}
