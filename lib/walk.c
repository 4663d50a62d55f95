// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Tree walks: the walk object, its settings, and a run over its roots.
 * The traversal is in walk-tree.c, the per-file work in engine.c, the
 * io_uring pipeline in uring.c and the choice between them in
 * engine-choice.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "engine.h"
#include "extensible.h"
#include "pool.h"
#include "walk-private.h"

#define WALK_FLAGS (CACHECTL_WALK_RECURSIVE | CACHECTL_WALK_FOLLOW | \
		    CACHECTL_WALK_ONE_FS | CACHECTL_WALK_ALL_LINKS)
#define RUN_FLAGS (CACHECTL_RUN_READ | CACHECTL_RUN_WAIT | \
		   CACHECTL_RUN_NO_RESIDENCY)
#define QUERY_FLAGS CACHECTL_RUN_RANGES

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

CACHECTL_EXPORT struct cachectl_walk *cachectl_walk_unref(struct cachectl_walk *w)
{
	if (!w)
		return NULL;
	if (--w->refcount > 0)
		return w;
	cachectl__strv_free(&w->roots);
	cachectl__strv_free(&w->excludes);
	cachectl__strv_free(&w->includes);
	free(w->ranges.v);
	cachectl_unref(w->ctx);
	free(w);
	return NULL;
}

CACHECTL_EXPORT int cachectl_walk_add_path(struct cachectl_walk *w,
					   const char *path)
{
	return w ? cachectl__strv_add(&w->roots, path) : -EINVAL;
}

CACHECTL_EXPORT int cachectl_walk_add_exclude(struct cachectl_walk *w,
					      const char *glob)
{
	return w ? cachectl__strv_add(&w->excludes, glob) : -EINVAL;
}

CACHECTL_EXPORT int cachectl_walk_add_include(struct cachectl_walk *w,
					      const char *glob)
{
	return w ? cachectl__strv_add(&w->includes, glob) : -EINVAL;
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

CACHECTL_EXPORT int cachectl_walk_set_filter_fn(struct cachectl_walk *w,
						cachectl_filter_fn fn,
						void *data)
{
	if (!w)
		return -EINVAL;
	w->filter_fn = fn;
	w->filter_data = data;
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


static int visit_root(struct cachectl_walk *w, const char *path)
{
	struct stat st;
	size_t mark;
	int r;

	w->path_len = 0;
	r = cachectl__path_push(w, path, &mark);
	if (r < 0)
		return r;
	r = w->ctx->ops->fstatat(AT_FDCWD, path, &st, 0);
	if (r < 0)
		return cachectl__engine_fail(w, r);
	w->root_dev = st.st_dev;
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
		return cachectl__engine_fail(w, -EINVAL);
	if (S_ISREG(st.st_mode) && (w->excludes.n || w->filter_fn) &&
	    cachectl__tree_excluded(w, path, true)) {
		w->totals.skipped++;
		return 0;
	}
	/* statfs is a round trip too: once per device */
	if (!w->engine_dev || st.st_dev != w->engine_dev) {
		cachectl__engine_choose(w, path);
		w->engine_dev = st.st_dev;
	}
	if (S_ISREG(st.st_mode) && w->remote) {
		/*
		 * A list of files (--from): open them through the ring too,
		 * and do not wait for one before the next.
		 */
		struct cachectl_entry e = { .path = w->path };

		if (!w->cwd) {
			w->cwd = cachectl__dirref_new(AT_FDCWD);
			if (!w->cwd)
				return -ENOMEM;
		}
		return cachectl__uring_batch_add_name(w->uring, w, w->cwd, path,
				0, cachectl__engine_open_flags(true), true, &e);
	}
	if (S_ISDIR(st.st_mode))
		r = cachectl__tree_visit_dir(w, AT_FDCWD, path, true, true);
	else
		r = cachectl__tree_visit_file(w, AT_FDCWD, path, true, true);
	/* a directory's files compare with its device (-x): finish them */
	if (w->pool && r >= 0)
		r = cachectl__pool_flush(w->pool);
	if (w->uring) {
		int rr = cachectl__uring_batch_flush(w->uring, w);

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
	if (op < CACHECTL_WALK_OP_QUERY || op > CACHECTL_WALK_OP_UNPIN)
		return -EINVAL;
	if (op == CACHECTL_WALK_OP_QUERY ? (flags & ~QUERY_FLAGS) :
	    (flags & ~RUN_FLAGS) || (flags && op != CACHECTL_WALK_OP_PREFETCH))
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
	cachectl__range_run_start(w);
	cachectl__engine_progress_start(w);

	w->engine_dev = 0;
	for (i = 0; i < w->roots.n && r >= 0; i++)
		r = visit_root(w, w->roots.s[i]);
	if (w->uring) {
		int rr = cachectl__uring_batch_flush(w->uring, w);

		if (r >= 0)
			r = rr;
	}
	cachectl__dirref_put(w->cwd);
	w->cwd = NULL;

	if (w->progress_fn)
		w->progress_fn(w, &w->totals, w->progress_data);
	cachectl__uring_batch_free(w->uring);
	w->uring = NULL;
	w->remote = false;
	cachectl__pool_free(w->pool);
	w->pool = NULL;
	w->nthreads = 0;
	cachectl__range_run_end(w);
	cachectl__inode_set_free(&w->links);
	cachectl__inode_set_free(&w->dirs);
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
	return cachectl__residency_copy(&e->res, ret, size);
}

CACHECTL_EXPORT uint64_t cachectl_entry_get_bytes(const struct cachectl_entry *e)
{
	return e ? e->bytes : 0;
}
