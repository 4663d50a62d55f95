// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Which engine serves a root: the synchronous path (with the thread pool
 * on warm local trees) or the io_uring pipeline. Asked once per device,
 * since statfs is a round trip too.
 */
#include <errno.h>
#include <string.h>
#include <sys/statfs.h>

#include "engine.h"
#include "fstype.h"

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
void cachectl__engine_choose(struct cachectl_walk *w, const char *path)
{
	bool remote = is_remote(w, path);
	bool want = remote || (w->op == CACHECTL_WALK_OP_PREFETCH &&
			       ((w->run_flags & CACHECTL_RUN_READ) ||
				w->force_uring));
	bool read = (w->run_flags & CACHECTL_RUN_READ) || remote;
	unsigned int depth = w->queue_depth;

	/* a rate cap, a range function, cached ranges: here, file by file */
	w->serial_read = w->serial && remote;
	if (w->serial)
		want = false;

	if (remote && !w->force_uring)
		depth = w->jobs ? w->jobs : REMOTE_DEPTH;
	if (w->uring && (!want || w->remote != remote ||
			 w->uring_read != read)) {
		int r = cachectl__uring_batch_flush(w->uring, w);

		cachectl__uring_batch_free(w->uring);
		w->uring = NULL;
		w->remote = false;
		if (r < 0)
			dbg(w->ctx, "io_uring batch: %s\n", strerror(-r));
	}
	if (want && !w->uring) {
		w->uring_read = read;
		if (cachectl__uring_batch_new(w, depth, read, remote,
					      &w->uring) < 0)
			dbg(w->ctx, "no io_uring: working synchronously\n");
		else
			w->remote = remote;
	}
}
