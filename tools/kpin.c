// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Kernel pins: with the kernel backend, a pinned file on an fscache-backed
 * filesystem also gets its cache object pinned against culling, so the
 * data survives in the fscache cache whatever happens to the page cache.
 * The files a pin covers are found with a query walk of its path.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "cachectl-tool.h"

struct kwalk {
	struct cachectl_ctx *ctx;
	bool unpin;
	kpin_keep_fn keep;
	void *data;
	struct kpin_count *count;
};

const char *kpin_error(int error)
{
	switch (-error) {
	case ENOBUFS:
		return "no cache holds it";
	case EPERM:
		return "needs ownership or CAP_FOWNER";
	case EOPNOTSUPP:
		return "not on an fscache-backed filesystem";
	}
	return strerror(-error);
}

static int on_file(struct cachectl_walk *w, const struct cachectl_entry *e,
		   void *data)
{
	struct kwalk *k = data;
	const char *path = cachectl_entry_get_path(e);
	const char *what = k->unpin ? "unpin" : "pin";
	int fd, r;

	/* paths the walk could not reach were named by the walk before */
	if (cachectl_entry_get_error(e) < 0)
		return 0;
	if (k->keep && k->keep(path, k->data))
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK |
		  O_NOCTTY);
	if (fd < 0) {
		warnx_path(path, "cannot %s in fscache: %s", what,
			   strerror(errno));
		k->count->failed++;
		return 0;
	}
	r = k->unpin ? cachectl_file_unpin(k->ctx, fd, 0) :
		       cachectl_file_pin(k->ctx, fd, 0);
	close(fd);
	if (r == -EOPNOTSUPP) {
		k->count->no_fscache++;
	} else if (r == -ENOBUFS && k->unpin) {
		/* no cache holds it, so nothing of it is pinned */
	} else if (r < 0) {
		warnx_path(path, "cannot %s in fscache: %s", what,
			   kpin_error(r));
		k->count->failed++;
	} else {
		k->count->done++;
	}
	return 0;
}

int kpin_path(struct cachectl_ctx *ctx, const char *path, bool recursive,
	      bool unpin, kpin_keep_fn keep, void *data,
	      struct kpin_count *count)
{
	struct kwalk k = { ctx, unpin, keep, data, count };
	struct cachectl_walk *w;
	int r;

	r = cachectl_walk_new(ctx, recursive ? CACHECTL_WALK_RECURSIVE : 0, &w);
	if (r < 0)
		return r;
	r = cachectl_walk_add_path(w, path);
	if (r >= 0)
		r = cachectl_walk_set_timeout(w, 5000);
	if (r >= 0)
		r = cachectl_walk_run(w, CACHECTL_WALK_OP_QUERY, 0, on_file, &k);
	cachectl_walk_unref(w);
	return r < 0 ? r : 0;
}
