// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Tree walks. Directories are read with getdents64 and every file is
 * reached relative to its directory's fd, so the kernel never walks a long
 * path again; memory is O(depth) plus the hard-link set. The walk trusts
 * d_type only to decide what to look at: a regular file is opened with
 * O_NOFOLLOW|O_NONBLOCK and checked with fstat before anything else, so a
 * name swapped for a FIFO or a symlink between readdir and open is neither
 * blocked on nor followed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "extensible.h"
#include "fstype.h"
#include "pool.h"
#include "walk-private.h"

#define WALK_FLAGS (CACHECTL_WALK_RECURSIVE | CACHECTL_WALK_FOLLOW | \
		    CACHECTL_WALK_ONE_FS | CACHECTL_WALK_ALL_LINKS)
#define RUN_FLAGS (CACHECTL_RUN_READ | CACHECTL_RUN_WAIT)
#define DENTS_BUF (32u << 10)

struct linux_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

CACHECTL_EXPORT int cachectl_walk_new(struct cachectl_ctx *ctx,
				      unsigned int flags,
				      struct cachectl_walk **ret_walk)
{
	struct cachectl_walk *w;

	if (!ctx || !ret_walk || (flags & ~WALK_FLAGS))
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->refcount = 1;
	w->ctx = cachectl_ref(ctx);
	w->flags = flags;
	w->queue_depth = 32;
	*ret_walk = w;
	return 0;
}

CACHECTL_EXPORT struct cachectl_walk *cachectl_walk_ref(struct cachectl_walk *w)
{
	if (w)
		w->refcount++;
	return w;
}

static void strv_free(struct strv *v)
{
	size_t i;

	for (i = 0; i < v->n; i++)
		free(v->s[i]);
	free(v->s);
	v->s = NULL;
	v->n = 0;
}

static int strv_add(struct strv *v, const char *s)
{
	char **n;

	if (!s || !*s)
		return -EINVAL;
	n = realloc(v->s, (v->n + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	v->s = n;
	v->s[v->n] = strdup(s);
	if (!v->s[v->n])
		return -ENOMEM;
	v->n++;
	return 0;
}

CACHECTL_EXPORT struct cachectl_walk *cachectl_walk_unref(struct cachectl_walk *w)
{
	if (!w)
		return NULL;
	if (--w->refcount > 0)
		return w;
	strv_free(&w->roots);
	strv_free(&w->excludes);
	strv_free(&w->includes);
	cachectl_unref(w->ctx);
	free(w);
	return NULL;
}

CACHECTL_EXPORT int cachectl_walk_add_path(struct cachectl_walk *w,
					   const char *path)
{
	return w ? strv_add(&w->roots, path) : -EINVAL;
}

CACHECTL_EXPORT int cachectl_walk_add_exclude(struct cachectl_walk *w,
					      const char *glob)
{
	return w ? strv_add(&w->excludes, glob) : -EINVAL;
}

CACHECTL_EXPORT int cachectl_walk_add_include(struct cachectl_walk *w,
					      const char *glob)
{
	return w ? strv_add(&w->includes, glob) : -EINVAL;
}

CACHECTL_EXPORT int cachectl_walk_set_dir_fn(struct cachectl_walk *w,
					     cachectl_dir_fn fn, void *data)
{
	if (!w)
		return -EINVAL;
	w->dir_fn = fn;
	w->dir_data = data;
	return 0;
}

CACHECTL_EXPORT int cachectl_walk_set_progress_fn(struct cachectl_walk *w,
						  cachectl_progress_fn fn,
						  void *data,
						  unsigned int interval_ms)
{
	if (!w)
		return -EINVAL;
	w->progress_fn = fn;
	w->progress_data = data;
	w->progress_ns = (uint64_t)interval_ms * 1000000;
	return 0;
}

CACHECTL_EXPORT int cachectl_walk_set_queue_depth(struct cachectl_walk *w,
						  unsigned int depth)
{
	if (!w || depth > 4096)
		return -EINVAL;
	w->queue_depth = depth ? depth : 32;
	/* asking for a depth is asking for the pipeline */
	w->force_uring = depth != 0;
	return 0;
}

CACHECTL_EXPORT int cachectl_walk_set_jobs(struct cachectl_walk *w,
					   unsigned int jobs)
{
	if (!w || jobs > 4096)
		return -EINVAL;
	w->jobs = jobs;
	return 0;
}

CACHECTL_EXPORT int cachectl_walk_set_timeout(struct cachectl_walk *w,
					      unsigned int timeout_ms)
{
	if (!w)
		return -EINVAL;
	w->timeout_ms = timeout_ms;
	return 0;
}

CACHECTL_EXPORT int cachectl_walk_get_totals(struct cachectl_walk *w,
					     struct cachectl_totals *ret,
					     size_t size)
{
	if (!w)
		return -EINVAL;
	return cachectl_copy_out(ret, size, &w->totals, sizeof(w->totals),
				 CACHECTL_TOTALS_SIZE_VER0);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void progress(struct cachectl_walk *w)
{
	uint64_t t;

	if (!w->progress_fn)
		return;
	t = now_ns();
	if (t - w->progress_last < w->progress_ns)
		return;
	w->progress_last = t;
	w->progress_fn(w, &w->totals, w->progress_data);
}

/* ---- path buffer ------------------------------------------------------ */

static int path_push(struct cachectl_walk *w, const char *name, size_t *mark)
{
	size_t n = strlen(name);
	bool slash = w->path_len && w->path[w->path_len - 1] != '/';
	size_t need = w->path_len + slash + n + 1;

	if (need > w->path_cap) {
		size_t cap = MAX(need, w->path_cap * 2);
		char *p = realloc(w->path, cap);

		if (!p)
			return -ENOMEM;
		w->path = p;
		w->path_cap = cap;
	}
	*mark = w->path_len;
	if (slash)
		w->path[w->path_len++] = '/';
	memcpy(w->path + w->path_len, name, n + 1);
	w->path_len += n;
	return 0;
}

static void path_pop(struct cachectl_walk *w, size_t mark)
{
	w->path_len = mark;
	w->path[mark] = '\0';
}

/* ---- results ---------------------------------------------------------- */

static int emit(struct cachectl_walk *w, struct cachectl_entry *e)
{
	int r = 0;

	if (e->error < 0) {
		w->totals.errors++;
		w->failed = true;
	}
	if (w->fn)
		r = w->fn(w, e, w->fn_data);
	progress(w);
	return r < 0 ? r : 0;
}

static int fail(struct cachectl_walk *w, int error)
{
	struct cachectl_entry e = { .path = w->path, .error = error };

	if (cachectl__error_is_gone(error))
		return error;

	return emit(w, &e);
}

/* ---- filters ---------------------------------------------------------- */

static bool glob_match(const struct strv *v, const char *path,
		       const char *base)
{
	size_t i;

	for (i = 0; i < v->n; i++) {
		const char *s = strchr(v->s[i], '/') ? path : base;

		if (fnmatch(v->s[i], s, 0) == 0)
			return true;
	}
	return false;
}

static bool excluded(struct cachectl_walk *w, const char *base, bool is_file)
{
	if (w->excludes.n && glob_match(&w->excludes, w->path, base))
		return true;
	if (is_file && w->includes.n && !glob_match(&w->includes, w->path, base))
		return true;
	return false;
}

/* ---- files ------------------------------------------------------------ */

/*
 * A remote walk reads: it ends when the data is in. The kernel backend's
 * equivalent is PREFETCH with WAIT, which also waits for the fscache
 * writes, so that a finished prefetch means both caches hold the files.
 */
static unsigned int prefetch_flags(struct cachectl_walk *w)
{
	if (w->uring && uring_batch_remote(w->uring))
		return w->run_flags | CACHECTL_RUN_WAIT;
	return w->run_flags;
}

/*
 * A file a cache holds, already queried into e->res: one call, whose
 * answer is the state afterwards. Returns 1 if the backend cannot serve
 * the file that way, for the caller's own data path to.
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

static int file_op(struct cachectl_walk *w, int fd, const struct stat *st,
		   struct cachectl_entry *e)
{
	const struct cachectl_backend_ops *be = w->be;
	struct cachectl_ctx *ctx = w->ctx;
	int r;

	switch (w->op) {
	case CACHECTL_WALK_OP_QUERY:
		return be->query(ctx, fd, st, 0, 0, &e->res);
	case CACHECTL_WALK_OP_PREFETCH:
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
		if (r != 0)
			return r < 0 ? r : 0;
		return be->query(ctx, fd, st, 0, 0, &e->res);
	case CACHECTL_WALK_OP_EVICT:
		r = be->evict(ctx, fd, st, 0, 0, &e->bytes, &e->res);
		if (r == -EBUSY)
			e->has_res = true;
		return r;
	}
	return -EINVAL;
}

static bool link_seen(struct cachectl_walk *w, const struct stat *st)
{
	if ((w->flags & CACHECTL_WALK_ALL_LINKS) || st->st_nlink < 2)
		return false;
	return inode_set_add(&w->links, st->st_dev, st->st_ino) == 0;
}

static int file_done(struct cachectl_walk *w, struct cachectl_entry *e, int r)
{
	if (r < 0 && cachectl__error_is_gone(r))
		return r;
	if (r < 0 && !e->has_res) {
		e->error = r;
		return emit(w, e);
	}
	e->error = r < 0 ? r : 0;
	e->has_res = true;
	w->totals.files++;
	w->totals.size += e->res.size;
	if (e->bytes != UINT64_MAX)
		w->totals.bytes += e->bytes;
	if (e->res.flags & CACHECTL_RES_UNKNOWN)
		w->totals.unknown++;
	else
		w->totals.cached += e->res.cached;
	return emit(w, e);
}

/* ---- the io_uring batch's callbacks ----------------------------------- */

/* Data requests for the file ended: wait if asked, and look again. */
static int batch_finish(struct cachectl_walk *w, int fd, const struct stat *st,
			struct cachectl_entry *e, int error)
{
	int r = error;

	if (r >= 0 && (w->run_flags & CACHECTL_RUN_WAIT) && !w->uring_read &&
	    e->bytes)
		r = w->be->prefetch_wait(w->ctx, fd, st, 0, 0);
	if (r >= 0 || r == -EIO) {
		int q = w->be->query(w->ctx, fd, st, 0, 0, &e->res);

		e->has_res = q >= 0;
		if (q < 0 && r >= 0)
			r = q;
	}
	return r;
}

/* Does the batch have data to move for this file? Clears O_NONBLOCK. */
static int batch_needed(struct cachectl_walk *w, int fd,
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

static int file_op(struct cachectl_walk *w, int fd, const struct stat *st,
		   struct cachectl_entry *e);

/* A file the ring opened (remote walks). */
static int batch_start(struct cachectl_walk *w, int fd, struct stat *st,
		       struct cachectl_entry *e, bool root, bool *needed)
{
	int r = w->ctx->ops->fstat(fd, st);

	*needed = false;
	if (r < 0)
		return r;
	/* swapped for something else since readdir (or the root's stat) */
	if (!S_ISREG(st->st_mode))
		return root ? (S_ISDIR(st->st_mode) ? -EISDIR : -EINVAL) : 1;
	if (!root && (w->flags & CACHECTL_WALK_ONE_FS) &&
	    st->st_dev != w->root_dev)
		return 1;
	/* sparse: the synchronous path skips holes */
	if (w->op != CACHECTL_WALK_OP_PREFETCH ||
	    (uint64_t)st->st_blocks * 512 < (uint64_t)st->st_size)
		return file_op(w, fd, st, e);
	r = w->be->query(w->ctx, fd, st, 0, 0, &e->res);
	if (r < 0)
		return r;
	/* the backend moves it in one call (a cache holds it): no ring reads */
	r = prefetch_whole(w, fd, st, e);
	if (r <= 0)
		return r;
	return batch_needed(w, fd, e, needed);
}

static bool link_seen(struct cachectl_walk *w, const struct stat *st);

static int batch_emit(struct cachectl_walk *w, struct cachectl_entry *e,
		      const struct stat *st, int error, bool skip)
{
	if (skip || (error >= 0 && link_seen(w, st))) {
		w->totals.skipped++;
		progress(w);
		return 0;
	}
	return file_done(w, e, error);
}

static const struct uring_ops batch_ops = {
	.start = batch_start,
	.finish = batch_finish,
	.emit = batch_emit,
	.tick = progress,
};

/* A file this thread opened, for the sorted (local) batch. */
static int batch_file(struct cachectl_walk *w, int fd, const struct stat *st,
		      struct cachectl_entry *e)
{
	bool needed;
	int r;

	r = w->be->query(w->ctx, fd, st, 0, 0, &e->res);
	if (r >= 0)
		r = batch_needed(w, fd, e, &needed);
	if (r < 0) {
		close(fd);
		return file_done(w, e, r);
	}
	return uring_batch_add(w->uring, w, fd, st, w->path, e, needed);
}

/*
 * Open a file the walk found. Returns 0 with *ret_fd set, 1 if the file
 * is to be skipped (vanished, became something else, other filesystem),
 * or a negative errno. @root: the path came from the caller, so a
 * vanished file is an error and a symlink there is followed.
 */
/*
 * For opens through the ring. Without O_NOATIME: a refused one could
 * not be retried without a second round trip, and network filesystems
 * mostly keep atime on the server anyway.
 */
static unsigned int open_flags(bool follow)
{
	return O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC |
	       (follow ? 0 : O_NOFOLLOW);
}

static int open_file(struct cachectl_walk *w, int dirfd, const char *name,
		     bool root, bool follow, int *ret_fd, struct stat *st)
{
	int oflags = O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
	bool noatime = __atomic_load_n(&w->noatime, __ATOMIC_RELAXED);
	int fd, r;

	if (!follow)
		oflags |= O_NOFOLLOW;
	do
		fd = openat(dirfd, name, oflags | (noatime ? O_NOATIME : 0));
	while (fd < 0 && errno == EINTR);
	if (fd < 0 && errno == EPERM && noatime) {
		/* O_NOATIME needs ownership; stop trying it */
		__atomic_store_n(&w->noatime, false, __ATOMIC_RELAXED);
		do
			fd = openat(dirfd, name, oflags);
		while (fd < 0 && errno == EINTR);
	}
	if (fd < 0) {
		r = -errno;
		/* vanished, or became a symlink, since readdir */
		if (!root && (r == -ENOENT || r == -ELOOP))
			return 1;
		return r;
	}
	r = w->ctx->ops->fstat(fd, st);
	if (r < 0) {
		close(fd);
		return r;
	}
	if (!S_ISREG(st->st_mode)) {
		close(fd);
		if (root)
			return S_ISDIR(st->st_mode) ? -EISDIR : -EINVAL;
		return 1;
	}
	if ((w->flags & CACHECTL_WALK_ONE_FS) && !root &&
	    st->st_dev != w->root_dev) {
		close(fd);
		return 1;
	}
	*ret_fd = fd;
	return 0;
}

static int visit_file(struct cachectl_walk *w, int dirfd, const char *name,
		      bool root, bool follow)
{
	struct cachectl_entry e = { .path = w->path };
	struct stat st;
	int fd = -1, r;

	if (!root && w->uring && w->dir && uring_batch_remote(w->uring))
		return uring_batch_add_name(w->uring, w, w->dir, w->path,
					    w->path_len - strlen(name),
					    open_flags(follow), false, &e);
	r = open_file(w, dirfd, name, root, follow, &fd, &st);
	if (r < 0)
		return fail(w, r);
	if (r > 0 || link_seen(w, &st)) {
		if (fd >= 0)
			close(fd);
		w->totals.skipped++;
		return 0;
	}
	if (w->uring && (uint64_t)st.st_blocks * 512 >= (uint64_t)st.st_size)
		return batch_file(w, fd, &st, &e);
	r = file_op(w, fd, &st, &e);
	close(fd);
	return file_done(w, &e, r);
}

/* ---- parallel directory chunks ----------------------------------------- */

/*
 * The regular files of one getdents chunk are opened and operated on by
 * the pool; the results are then emitted in order by the caller's thread.
 * Hard-link dedupe happens at emit time: a second link costs one more
 * (idempotent) operation on the same inode, never a second row.
 */
struct slot {
	const char *name;
	uint64_t ino;		/* d_ino: the order requests go out in */
	int r;			/* <0 error, 0 done, 1 skip */
	int op_r;
	struct stat st;
	struct cachectl_entry e;
};

struct chunk {
	struct cachectl_walk *w;
	int dirfd;
	struct slot *slots;
};

#define PAR_MIN 16

static void chunk_work(void *arg, size_t i)
{
	struct chunk *c = arg;
	struct slot *s = &c->slots[i];
	int fd = -1;

	if (s->r)
		return;		/* excluded */
	s->r = open_file(c->w, c->dirfd, s->name, false,
			 c->w->flags & CACHECTL_WALK_FOLLOW, &fd, &s->st);
	if (s->r)
		return;
	s->op_r = file_op(c->w, fd, &s->st, &s->e);
	close(fd);
}

static int chunk_emit(struct cachectl_walk *w, struct slot *s)
{
	size_t mark;
	int r;

	r = path_push(w, s->name, &mark);
	if (r < 0)
		return r;
	if (s->r < 0)
		r = fail(w, s->r);
	else if (s->r > 0 || link_seen(w, &s->st)) {
		w->totals.skipped++;
		r = 0;
	} else {
		s->e.path = w->path;
		r = file_done(w, &s->e, s->op_r);
	}
	path_pop(w, mark);
	return r;
}

static bool want_pool(struct cachectl_walk *w)
{
	long n;

	if (w->uring || w->nthreads < 0)
		return false;
	if (w->pool)
		return true;
	n = sysconf(_SC_NPROCESSORS_ONLN);
	n = n > 8 ? 8 : n;
	/* beyond a few threads per core, local metadata work only contends */
	if (w->jobs)
		n = MIN(w->jobs, 64u);
	if (n < 2 || pool_new((unsigned int)n - 1, &w->pool) < 0) {
		w->nthreads = -1;
		return false;
	}
	w->nthreads = (int)n;
	return true;
}

/* ---- directories ------------------------------------------------------ */

static int visit(struct cachectl_walk *w, int dirfd, const char *name,
		 unsigned char type);

static bool on_stack(struct cachectl_walk *w, const struct stat *st)
{
	size_t i;

	for (i = 0; i < w->depth; i++)
		if (w->stack[i].dev == st->st_dev &&
		    w->stack[i].ino == st->st_ino)
			return true;
	return false;
}

static int stack_push(struct cachectl_walk *w, const struct stat *st)
{
	if (w->depth == w->stack_cap) {
		size_t cap = w->stack_cap ? w->stack_cap * 2 : 16;
		struct walk_level *s = realloc(w->stack, cap * sizeof(*s));

		if (!s)
			return -ENOMEM;
		w->stack = s;
		w->stack_cap = cap;
	}
	w->stack[w->depth].dev = st->st_dev;
	w->stack[w->depth].ino = st->st_ino;
	w->stack[w->depth].buf = NULL;
	w->depth++;
	return 0;
}

static bool is_dot(const char *nm)
{
	return nm[0] == '.' && (!nm[1] || (nm[1] == '.' && !nm[2]));
}

static size_t count_files(const char *buf, long n)
{
	size_t k = 0;
	long pos;

	for (pos = 0; pos < n;) {
		const struct linux_dirent64 *d = (const void *)(buf + pos);

		pos += d->d_reclen;
		k += d->d_type == DT_REG;
	}
	return k;
}

/* Files of the chunk that can go to the pool; the rest stay in order. */
static int by_ino(const void *a, const void *b)
{
	const struct slot *x = a, *y = b;

	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static size_t chunk_files(struct cachectl_walk *w, char *buf, long n,
			  struct slot *slots, size_t max)
{
	size_t k = 0, mark;
	long pos;

	for (pos = 0; pos < n && k < max;) {
		struct linux_dirent64 *d = (void *)(buf + pos);

		pos += d->d_reclen;
		if (d->d_type != DT_REG || is_dot(d->d_name))
			continue;
		memset(&slots[k], 0, sizeof(slots[k]));
		slots[k].name = d->d_name;
		slots[k].ino = d->d_ino;
		if ((w->excludes.n || w->includes.n) &&
		    path_push(w, d->d_name, &mark) == 0) {
			if (excluded(w, d->d_name, true))
				slots[k].r = 1;
			path_pop(w, mark);
		}
		k++;
	}
	/*
	 * getdents order is hash order on ext4: scattered over the disk.
	 * Inode order follows the disk on ext4 and xfs, so cold reads go out
	 * nearly sequential (measured: a 50k-file tree came in 1.5x faster
	 * than in getdents order).
	 */
	qsort(slots, k, sizeof(*slots), by_ino);
	return k;
}

static int read_dir(struct cachectl_walk *w, int fd)
{
	struct slot *slots = NULL;
	size_t cap = 0;
	char *buf;
	int r = 0;

	buf = malloc(DENTS_BUF);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		long n = syscall(SYS_getdents64, fd, buf, DENTS_BUF);
		size_t nfiles = 0, k = 0;
		long pos;

		/* a FUSE request is interrupted by any signal, even a stop */
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			/* a directory removed while we read it says ENOENT */
			if (errno != ENOENT)
				r = fail(w, -errno);
			break;
		}
		if (n == 0)
			break;
		progress(w);
		/* threads pay only for chunks with enough files */
		if (!w->uring && w->nthreads >= 0 &&
		    count_files(buf, n) >= PAR_MIN && want_pool(w)) {
			size_t want = count_files(buf, n);

			if (want > cap) {
				struct slot *ns = realloc(slots, want * sizeof(*ns));

				if (ns) {
					slots = ns;
					cap = want;
				}
			}
			if (cap >= want)
				nfiles = chunk_files(w, buf, n, slots, cap);
			if (nfiles >= PAR_MIN) {
				struct chunk c = { w, fd, slots };

				pool_run(w->pool, chunk_work, &c, nfiles);
			} else {
				nfiles = 0;
			}
		}
		/* the chunk's files first, in the order they were read */
		for (k = 0; k < nfiles; k++) {
			r = chunk_emit(w, &slots[k]);
			if (r < 0)
				goto out;
		}
		for (pos = 0; pos < n;) {
			struct linux_dirent64 *d = (void *)(buf + pos);
			const char *nm = d->d_name;

			pos += d->d_reclen;
			if (is_dot(nm) || (nfiles && d->d_type == DT_REG))
				continue;
			r = visit(w, fd, nm, d->d_type);
			if (r < 0)
				goto out;
		}
	}
out:
	free(slots);
	free(buf);
	return r;
}

static int visit_dir(struct cachectl_walk *w, int dirfd, const char *name,
		     bool root, bool follow)
{
	int oflags = O_RDONLY | O_DIRECTORY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
	struct stat st;
	int fd, r;

	if (!follow)
		oflags |= O_NOFOLLOW;
	do
		fd = openat(dirfd, name, oflags);
	while (fd < 0 && errno == EINTR);
	if (fd < 0) {
		r = -errno;
		if (!root && r == -ENOENT) {
			w->totals.skipped++;
			return 0;
		}
		return fail(w, r);
	}
	r = w->ctx->ops->fstat(fd, &st);
	if (r < 0) {
		close(fd);
		return fail(w, r);
	}
	if ((w->flags & CACHECTL_WALK_ONE_FS) && !root &&
	    st.st_dev != w->root_dev) {
		close(fd);
		w->totals.skipped++;
		return 0;
	}
	if (on_stack(w, &st)) {
		close(fd);
		return fail(w, -ELOOP);
	}
	/*
	 * With -L, the same directory reached twice through symlinks is not
	 * a loop, but walking it twice would count its files twice.
	 */
	if ((w->flags & CACHECTL_WALK_FOLLOW) &&
	    inode_set_add(&w->dirs, st.st_dev, st.st_ino) == 0) {
		close(fd);
		w->totals.skipped++;
		return 0;
	}
	r = stack_push(w, &st);
	if (r < 0) {
		close(fd);
		return r;
	}
	w->totals.dirs++;
	if (w->dir_fn) {
		/* before reading it: a watcher misses no file created there */
		r = w->dir_fn(w, w->path, w->dir_data);
		if (r < 0) {
			close(fd);
			w->depth--;
			return r;
		}
	}
	if (w->uring && uring_batch_remote(w->uring)) {
		/* files opened through the ring keep the directory open */
		struct dirref *up = w->dir;

		w->dir = dirref_new(fd);
		if (!w->dir) {
			w->dir = up;
			close(fd);
			w->depth--;
			return -ENOMEM;
		}
		r = read_dir(w, fd);
		dirref_put(w->dir);
		w->dir = up;
	} else {
		r = read_dir(w, fd);
		close(fd);
	}
	w->depth--;
	return r;
}

/* fstatat(2), retried when a FUSE round trip was interrupted */
static int stat_at(int dirfd, const char *name, struct stat *st, int flags)
{
	int r;

	do
		r = fstatat(dirfd, name, st, flags);
	while (r < 0 && errno == EINTR);
	return r;
}

static unsigned char mode_type(mode_t m)
{
	return S_ISDIR(m) ? DT_DIR : S_ISREG(m) ? DT_REG :
	       S_ISLNK(m) ? DT_LNK : DT_FIFO;
}

static int visit(struct cachectl_walk *w, int dirfd, const char *name,
		 unsigned char type)
{
	bool follow = w->flags & CACHECTL_WALK_FOLLOW;
	struct stat st;
	size_t mark;
	int r = 0;

	r = path_push(w, name, &mark);
	if (r < 0)
		return r;
	if (type == DT_UNKNOWN) {
		/* some filesystems do not fill d_type */
		if (stat_at(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			r = errno == ENOENT ? 0 : fail(w, -errno);
			goto out;
		}
		type = mode_type(st.st_mode);
	}
	if (type == DT_LNK && follow) {
		if (stat_at(dirfd, name, &st, 0) < 0) {
			/* dangling links are not errors; loops are */
			if (errno == ENOENT)
				w->totals.skipped++;
			else
				r = fail(w, -errno);
			goto out;
		}
		type = mode_type(st.st_mode);
	}

	switch (type) {
	case DT_DIR:
		if (!(w->flags & CACHECTL_WALK_RECURSIVE) ||
		    (w->excludes.n && excluded(w, name, false)))
			w->totals.skipped++;
		else
			r = visit_dir(w, dirfd, name, false, follow);
		break;
	case DT_REG:
		if (excluded(w, name, true))
			w->totals.skipped++;
		else
			r = visit_file(w, dirfd, name, false, follow);
		break;
	default:
		/* FIFOs, sockets, devices, unfollowed symlinks: never opened */
		w->totals.skipped++;
		break;
	}
out:
	path_pop(w, mark);
	return r;
}

/* statfs is a round trip too: the caller asks once per device */
static bool is_remote(struct cachectl_walk *w, const char *path)
{
	struct statfs sf;

	if (w->ctx->ops->statfs(path, &sf) < 0)
		return false;
	return cachectl__magic_is_remote((long)sf.f_type);
}

/*
 * On network and FUSE filesystems every file is a few round trips (open,
 * read, close), so the io_uring batch runs all of them, for every
 * operation, with this many in flight. Measured with tests/slowfs at
 * 1 ms per operation: see bench/README.md.
 */
#define REMOTE_DEPTH 128

/*
 * The io_uring pipeline serves network filesystems, --read, and any walk
 * given a queue depth. On a local disk, advice issued in inode order from
 * the walk's threads brings data in as fast (time to 100% resident on a
 * cold 50k-file tree, bench/run: 2.6-2.7 s either way) for less CPU
 * (0.97 s against 1.28 s), so that is the default there. Without
 * io_uring (old kernel, seccomp) the synchronous path serves all.
 *
 * On a remote filesystem prefetch reads the data: advice there may be
 * dropped (FUSE skips readahead while its queue is congested) and would
 * say nothing about when the data came, while a read ends when it is in.
 */
static void pick_engine(struct cachectl_walk *w, const char *path)
{
	bool remote = is_remote(w, path);
	bool want = remote || (w->op == CACHECTL_WALK_OP_PREFETCH &&
			       ((w->run_flags & CACHECTL_RUN_READ) ||
				w->force_uring));
	bool read = (w->run_flags & CACHECTL_RUN_READ) || remote;
	unsigned int depth = w->queue_depth;

	if (remote && !w->force_uring)
		depth = w->jobs ? w->jobs : REMOTE_DEPTH;
	if (w->uring && (!want || uring_batch_remote(w->uring) != remote ||
			 w->uring_read != read)) {
		int r = uring_batch_flush(w->uring, w);

		uring_batch_free(w->uring);
		w->uring = NULL;
		if (r < 0)
			dbg(w->ctx, "io_uring batch: %s\n", strerror(-r));
	}
	if (want && !w->uring) {
		w->uring_read = read;
		if (uring_batch_new(w, &batch_ops, depth, read, remote,
				    &w->uring) < 0)
			dbg(w->ctx, "no io_uring: working synchronously\n");
	}
}

static int visit_root(struct cachectl_walk *w, const char *path)
{
	struct stat st;
	size_t mark;
	int r;

	w->path_len = 0;
	r = path_push(w, path, &mark);
	if (r < 0)
		return r;
	if (stat_at(AT_FDCWD, path, &st, 0) < 0)
		return fail(w, -errno);
	w->root_dev = st.st_dev;
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
		return fail(w, -EINVAL);
	if (S_ISREG(st.st_mode) && w->excludes.n &&
	    excluded(w, path, true)) {
		w->totals.skipped++;
		return 0;
	}
	/* statfs is a round trip too: once per device */
	if (!w->engine_dev || st.st_dev != w->engine_dev) {
		pick_engine(w, path);
		w->engine_dev = st.st_dev;
	}
	if (S_ISREG(st.st_mode) && w->uring && uring_batch_remote(w->uring)) {
		/*
		 * A list of files (--from): open them through the ring too,
		 * and do not wait for one before the next.
		 */
		struct cachectl_entry e = { .path = w->path };

		if (!w->cwd) {
			w->cwd = dirref_new(AT_FDCWD);
			if (!w->cwd)
				return -ENOMEM;
		}
		return uring_batch_add_name(w->uring, w, w->cwd, path, 0,
					    open_flags(true), true, &e);
	}
	if (S_ISDIR(st.st_mode))
		r = visit_dir(w, AT_FDCWD, path, true, true);
	else
		r = visit_file(w, AT_FDCWD, path, true, true);
	/* a directory's files compare with its device (-x): finish them */
	if (w->uring) {
		int rr = uring_batch_flush(w->uring, w);

		if (r >= 0)
			r = rr;
	}
	return r;
}

CACHECTL_EXPORT int cachectl_walk_run(struct cachectl_walk *w, int op,
				      unsigned int flags, cachectl_entry_fn fn,
				      void *data)
{
	size_t i;
	int r = 0;

	if (!w || !w->roots.n)
		return -EINVAL;
	if (op != CACHECTL_WALK_OP_QUERY && op != CACHECTL_WALK_OP_PREFETCH &&
	    op != CACHECTL_WALK_OP_EVICT)
		return -EINVAL;
	if ((flags & ~RUN_FLAGS) || (flags && op != CACHECTL_WALK_OP_PREFETCH))
		return -EINVAL;

	/* a failed probe fails each file, as other errors do */
	(void)cachectl__backend_get(w->ctx, &w->be);
	memset(&w->totals, 0, sizeof(w->totals));
	w->op = op;
	w->run_flags = flags;
	w->fn = fn;
	w->fn_data = data;
	w->failed = false;
	w->noatime = true;
	w->depth = 0;
	w->progress_last = now_ns();

	w->engine_dev = 0;
	for (i = 0; i < w->roots.n && r >= 0; i++)
		r = visit_root(w, w->roots.s[i]);
	if (w->uring) {
		int rr = uring_batch_flush(w->uring, w);

		if (r >= 0)
			r = rr;
	}
	dirref_put(w->cwd);
	w->cwd = NULL;

	if (w->progress_fn)
		w->progress_fn(w, &w->totals, w->progress_data);
	uring_batch_free(w->uring);
	w->uring = NULL;
	pool_free(w->pool);
	w->pool = NULL;
	w->nthreads = 0;
	inode_set_free(&w->links);
	inode_set_free(&w->dirs);
	free(w->stack);
	w->stack = NULL;
	w->stack_cap = 0;
	free(w->path);
	w->path = NULL;
	w->path_cap = w->path_len = 0;
	if (r < 0)
		return r;
	return w->failed ? 1 : 0;
}

CACHECTL_EXPORT const char *cachectl_entry_get_path(const struct cachectl_entry *e)
{
	return e ? e->path : NULL;
}

CACHECTL_EXPORT int cachectl_entry_get_error(const struct cachectl_entry *e)
{
	return e ? e->error : -EINVAL;
}

CACHECTL_EXPORT int cachectl_entry_get_residency(const struct cachectl_entry *e,
						 struct cachectl_residency *ret,
						 size_t size)
{
	if (!e)
		return -EINVAL;
	if (!e->has_res)
		return -ENODATA;
	return cachectl_residency_copy(&e->res, ret, size);
}

CACHECTL_EXPORT uint64_t cachectl_entry_get_bytes(const struct cachectl_entry *e)
{
	return e ? e->bytes : 0;
}
