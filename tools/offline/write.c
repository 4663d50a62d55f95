// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The changing operations. Connected, each goes through to the origin as
 * the user who asked (origin_write.c), through the same workers and
 * deadline as reads, and the cache then records what the origin now holds:
 * the attributes the change left (so our own change is never taken for
 * someone else's), the names, and the bytes written, kept in the data
 * file so a later disconnect serves them.
 *
 * Data before the claim, as for fills: bytes are written and fdatasync'ed
 * before the row that claims them commits, and a claimed range a change
 * will overwrite or cut is released (committed) before the change goes to
 * the origin, so after a kill -9 at any point every claim still holds the
 * origin's bytes.
 *
 * Disconnected, creating, writing, truncating, chmod/chown/utimes, mkdir
 * and unlinking are made in the cache and journaled (local.c); the other
 * changes fail at once with EHOSTDOWN ("not available disconnected"). A change
 * the origin did not answer within the deadline fails with EIO and turns
 * the attachment disconnected: the origin may still make it when it
 * answers, so the cache stops vouching for what it would touch (ranges
 * written, names in the directories involved).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "offline.h"

static struct co_mgr *mgr(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* a changing call for @req, made as its user */
static struct co_job *job(fuse_req_t req, co_job_fn fn, const char *path)
{
	struct co_job *j = co_job_new(fn, path);
	const struct fuse_ctx *c = fuse_req_ctx(req);

	if (j && c) {
		j->cred_uid = c->uid;
		j->cred_gid = c->gid;
	}
	return j;
}

/*
 * Runs @j on the origin: 0, the origin's own error, -CO_EDISCON when
 * disconnected (before, or because the origin is gone: nothing was
 * changed), or -EIO when it did not answer in time. *@unsure is set when
 * the origin may still make the change: the caller stops vouching for
 * what it would touch.
 */
static int change(struct co_mgr *m, struct co_job *j, fuse_req_t req,
		  bool *unsure)
{
	int r, e;

	*unsure = false;
	if (!j)
		return -ENOMEM;
	if (co_mode_get(m) != CO_CONNECTED)
		return -CO_EDISCON;
	r = co_origin_call(m, j, req);
	if (!r)
		return 0;
	e = co_origin_failed(m, j->path && *j->path ? j->path : ".", r);
	if (r == -ETIMEDOUT || r == -EINTR || r == -EIO || !e)
		*unsure = true;
	if (r == -EINTR)
		return r;
	if (e)
		return e;
	return r == -ETIMEDOUT ? -EIO : -CO_EDISCON;
}

static bool refused_offline(struct co_mgr *m, fuse_req_t req)
{
	if (co_mode_get(m) == CO_CONNECTED)
		return false;
	fuse_reply_err(req, CO_EDISCON);
	return true;
}

static int path_of(struct co_mgr *m, uint64_t id, char **ret)
{
	struct co_node *n;

	pthread_mutex_lock(&m->lock);
	n = co_node_get(m, id);
	*ret = n ? strdup(n->path) : NULL;
	pthread_mutex_unlock(&m->lock);
	if (!n)
		return -ESTALE;
	return *ret ? 0 : -ENOMEM;
}

static int child_path(struct co_mgr *m, uint64_t parent, const char *name,
		      char **ret)
{
	struct co_node *dir;
	int r = 0;

	pthread_mutex_lock(&m->lock);
	dir = co_node_get(m, parent);
	if (!dir)
		r = -ESTALE;
	else if (*dir->path)
		r = asprintf(ret, "%s/%s", dir->path, name) < 0 ? -ENOMEM : 0;
	else
		r = (*ret = strdup(name)) ? 0 : -ENOMEM;
	pthread_mutex_unlock(&m->lock);
	return r;
}

static void confirmed(struct co_mgr *m, struct co_node *n, const struct stat *st)
{
	n->st = *st;
	n->validated_ns = cc_now_ns();
	n->validated_epoch = co_mode_epoch(m);
}

/* a directory's attributes after a change in it: ours, not news (m->lock) */
static void dir_changed(struct co_mgr *m, uint64_t id, const struct stat *st)
{
	struct co_node *d = co_node_get(m, id);

	if (!d)
		return;
	if (st->st_ino && st->st_ino == d->st.st_ino) {
		confirmed(m, d, st);
	} else {
		d->validated_ns = 0;
	}
	co_store_put(m->store, d);
}

/* a name operation in @id may or may not have happened: its listing is
 * no longer known whole, so offline no name there is said absent */
static void dir_unsure(struct co_mgr *m, uint64_t id)
{
	struct co_node *d;

	pthread_mutex_lock(&m->lock);
	d = co_node_get(m, id);
	if (d) {
		d->listed = false;
		d->validated_ns = 0;
		co_store_put(m->store, d);
	}
	pthread_mutex_unlock(&m->lock);
}

static void node_unsure(struct co_mgr *m, uint64_t id)
{
	struct co_node *n;

	pthread_mutex_lock(&m->lock);
	n = co_node_get(m, id);
	if (n)
		n->validated_ns = 0;
	pthread_mutex_unlock(&m->lock);
}

/* the xattrs a changing job read back after it (m->lock) */
static void keep_xattrs(struct co_mgr *m, struct co_node *n, struct co_job *j)
{
	co_store_begin(m->store);
	if (!j->xerr && !co_store_put_xattrs(m->store, n->id, j->out))
		n->xattrs_known = true;
	else
		n->xattrs_known = false;
	co_store_put(m->store, n);
	co_store_commit(m->store);
}

static void recompute_complete(struct co_node *n)
{
	n->complete = n->st.st_size == 0 ||
		      (n->nranges == 1 && n->ranges[0].start == 0 &&
		       n->ranges[0].end >= (uint64_t)n->st.st_size);
}

static bool overlaps(const struct co_node *n, uint64_t start, uint64_t end)
{
	size_t i;

	if (n->complete && (uint64_t)n->st.st_size > start)
		return true;
	for (i = 0; i < n->nranges; i++)
		if (n->ranges[i].start < end && n->ranges[i].end > start)
			return true;
	return false;
}

/* [start, end) not held any more, the claim committed (m->lock) */
static void release_range(struct co_mgr *m, struct co_node *n, uint64_t start,
			  uint64_t end)
{
	uint64_t before = co_node_cached(n);

	co_range_clip(n, start, end);
	m->cached_bytes -= before - co_node_cached(n);
	co_store_put_ranges(m->store, n);
}

/* ---- open, create, write ------------------------------------------------ */

static void truncate_through(struct co_mgr *m, uint64_t id, int cfd,
			     const struct stat *post);

static struct co_file *file_new(struct co_mgr *m, uint64_t id, int wfd,
				int flags)
{
	struct co_file *f = calloc(1, sizeof(*f));
	int cfd;

	if (!f)
		return NULL;
	cfd = co_data_open(m, id);
	if (cfd < 0) {
		free(f);
		return NULL;
	}
	f->id = id;
	f->cfd = cfd;
	f->wfd = wfd;
	f->writable = true;
	/* reads of a read-write file use its fd: its mode may allow no other */
	f->ofd = (flags & O_ACCMODE) == O_RDWR && wfd >= 0 ? dup(wfd) : -1;
	return f;
}

static void file_free(struct co_mgr *m, struct co_file *f)
{
	co_release_write(m, f);
	close(f->cfd);
	if (f->ofd >= 0)
		close(f->ofd);
	free(f);
}

/* offline: a file held whole opens for writing; its changes are journaled */
static void open_local(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct co_mgr *m = mgr(req);
	struct co_file *f = NULL;
	struct co_node *n;
	int r;

	pthread_mutex_lock(&m->lock);
	n = co_node_get(m, ino);
	r = !n ? ESTALE : !S_ISREG(n->st.st_mode) ? EISDIR :
	    !n->complete ? CO_ENODATA : 0;
	if (!r) {
		fi->keep_cache = n->kgen == n->gen;
		n->kgen = n->gen;
		co_node_touch(m, n);
	}
	pthread_mutex_unlock(&m->lock);
	if (!r && !(f = file_new(m, ino, -1, fi->flags)))
		r = ENOMEM;
	if (!r && (fi->flags & O_TRUNC)) {
		struct stat a, st;

		memset(&a, 0, sizeof(a));
		r = -co_local_setattr(m, req, ino, f->cfd, &a, FUSE_SET_ATTR_SIZE, &st);
	}
	if (r) {
		if (f)
			file_free(m, f);
		fuse_reply_err(req, r);
		return;
	}
	fi->fh = (uintptr_t)f;
	if (fuse_reply_open(req, fi) == -ENOENT)
		file_free(m, f);
}

void co_open_write(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct co_mgr *m = mgr(req);
	struct co_job *j;
	struct co_file *f;
	struct co_node *n;
	char *path;
	bool unsure;
	int r, wfd;

	if (co_mode_get(m) != CO_CONNECTED) {
		open_local(req, ino, fi);
		return;
	}
	r = co_revalidate(m, ino, req);
	if (!r && co_mode_get(m) != CO_CONNECTED)
		r = -CO_EDISCON;
	if (!r)
		r = path_of(m, ino, &path);
	if (r) {
		fuse_reply_err(req, -r);
		return;
	}
	j = job(req, co_job_open_write, path);
	free(path);
	if (j)
		j->flags = fi->flags;
	if (fi->flags & O_TRUNC) {
		/* what the truncate cuts is unclaimed before it happens */
		pthread_mutex_lock(co_data_lock(m, ino));
		pthread_mutex_lock(&m->lock);
		n = co_node_get(m, ino);
		if (n) {
			n->wgen++;
			release_range(m, n, 0, UINT64_MAX);
		}
		pthread_mutex_unlock(&m->lock);
	}
	r = change(m, j, req, &unsure);
	if (r) {
		if (fi->flags & O_TRUNC)
			pthread_mutex_unlock(co_data_lock(m, ino));
		if (unsure)
			node_unsure(m, ino);
		co_job_put(m, j);
		fuse_reply_err(req, -r);
		return;
	}
	wfd = j->fd;
	j->fd = -1;
	pthread_mutex_lock(&m->lock);
	n = co_node_get(m, ino);
	if (n && n->parent && !(fi->flags & O_TRUNC) &&
	    co_version_changed(&n->st, &j->st)) {
		struct co_node *dir = co_node_get(m, n->parent);

		if (dir)
			co_node_upsert(m, dir, n->name, &j->st, NULL);
	}
	if (n) {
		fi->keep_cache = n->kgen == n->gen;
		n->kgen = n->gen;
		co_node_touch(m, n);
		co_store_put(m->store, n);
	}
	pthread_mutex_unlock(&m->lock);
	f = n ? file_new(m, ino, wfd, fi->flags) : NULL;
	if (fi->flags & O_TRUNC) {
		/* emptied by us: the cache's copy is the empty file */
		if (f)
			truncate_through(m, ino, f->cfd, &j->st);
		pthread_mutex_unlock(co_data_lock(m, ino));
	}
	co_job_put(m, j);
	if (!f) {
		close(wfd);
		fuse_reply_err(req, n ? ENOMEM : ESTALE);
		return;
	}
	fi->fh = (uintptr_t)f;
	if (fuse_reply_open(req, fi) == -ENOENT)
		file_free(m, f);
}

void co_create(fuse_req_t req, fuse_ino_t parent, const char *name,
	       mode_t mode, struct fuse_file_info *fi)
{
	struct co_mgr *m = mgr(req);
	struct fuse_entry_param e;
	struct co_job *j = NULL;
	struct co_file *f = NULL;
	struct co_node *dir, *n = NULL;
	char *path;
	bool unsure;
	int r, wfd;

	if (co_mode_get(m) != CO_CONNECTED) {
		r = co_local_make(m, req, parent, name, S_IFREG | (mode & 07777), &e);
		f = r ? NULL : file_new(m, e.ino, -1, fi->flags);
		if (!r && !f)
			r = -ENOMEM;
		if (!r && ftruncate(f->cfd, 0) < 0)
			co_log("cache data %llu: %m", (unsigned long long)e.ino);
		if (r) {
			fuse_reply_err(req, -r);
			return;
		}
		fi->fh = (uintptr_t)f;
		fi->keep_cache = 0;
		if (fuse_reply_create(req, &e, fi) == -ENOENT)
			file_free(m, f);
		return;
	}
	r = child_path(m, parent, name, &path);
	if (!r) {
		j = job(req, co_job_create, path);
		free(path);
		if (j) {
			j->flags = fi->flags;
			j->mode = mode;
		}
		r = change(m, j, req, &unsure);
		if (r && unsure)
			dir_unsure(m, parent);
	}
	if (r) {
		co_job_put(m, j);
		fuse_reply_err(req, -r);
		return;
	}
	wfd = j->fd;
	j->fd = -1;
	pthread_mutex_lock(&m->lock);
	dir = co_node_get(m, parent);
	if (dir)
		n = co_node_upsert(m, dir, name, &j->st, NULL);
	if (n) {
		keep_xattrs(m, n, j);
		n->wgen++;
		n->kgen = n->gen;
		co_entry_of(m, n, &e);
		dir_changed(m, parent, &j->pst);
	}
	pthread_mutex_unlock(&m->lock);
	co_job_put(m, j);
	if (n)
		f = file_new(m, e.ino, wfd, fi->flags);
	if (!f) {
		close(wfd);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/* a new object: nothing of an old one's data file may show */
	if (e.attr.st_size == 0 && ftruncate(f->cfd, 0) < 0)
		co_log("cache data %llu: %m", (unsigned long long)e.ino);
	fi->fh = (uintptr_t)f;
	fi->keep_cache = 0;
	if (fuse_reply_create(req, &e, fi) == -ENOENT)
		file_free(m, f);
}

/*
 * The bytes the origin took at [off, off + len) go into the cache too.
 * @pre and @post are the origin's attributes around the write: a @pre
 * other than the version we hold means someone else changed the file
 * first, and what we hold of it goes.
 */
static void write_through(struct co_mgr *m, uint64_t id, int cfd,
			  const char *buf, uint64_t off, uint64_t len,
			  const struct stat *pre, const struct stat *post)
{
	uint64_t end = off + len, from = off, old_size, before;
	struct co_node *n;
	bool keep, was_complete;
	size_t done = 0;

	pthread_mutex_lock(co_data_lock(m, id));
	pthread_mutex_lock(&m->lock);
	n = co_node_get(m, id);
	if (!n) {
		pthread_mutex_unlock(&m->lock);
		pthread_mutex_unlock(co_data_lock(m, id));
		return;
	}
	/* a fill that read while the write was on its way keeps nothing */
	n->wgen++;
	if (co_version_changed(&n->st, pre))
		co_node_forget_data(m, n);
	old_size = (uint64_t)n->st.st_size;
	was_complete = n->complete;
	/* unlinked while open: its row is gone, nothing is claimed for it */
	keep = n->parent != 0;
	if (keep && m->o.size_limit) {
		co_cull(m, len);
		if (m->cached_bytes + len > m->o.size_limit) {
			keep = false;
			if (!m->full_reported) {
				m->full_reported = true;
				co_event_post(m, "cache-full", n->path);
			}
		}
	}
	/* (the old bytes' claim went before the write was sent) */
	confirmed(m, n, post);
	/* grown past what is held: not whole until the new bytes are in */
	recompute_complete(n);
	if (!keep) {
		release_range(m, n, off, end);
		recompute_complete(n);
		co_store_put_ranges(m->store, n);
		pthread_mutex_unlock(&m->lock);
		pthread_mutex_unlock(co_data_lock(m, id));
		return;
	}
	pthread_mutex_unlock(&m->lock);

	/* past the end of a file held whole: the gap is zeros on both sides */
	if (off > old_size && was_complete && ftruncate(cfd, (off_t)old_size) == 0)
		from = old_size;
	while (keep && done < len) {
		ssize_t w = pwrite(cfd, buf + done, len - done, (off_t)(off + done));

		if (w < 0) {
			if (errno == ENOSPC)
				co_event_post(m, "cache-full", "");
			keep = false;
			break;
		}
		done += (size_t)w;
	}
	if (keep && fdatasync(cfd) < 0)
		keep = false;

	pthread_mutex_lock(&m->lock);
	n = co_node_get(m, id);
	before = co_node_cached(n);
	if (keep)
		co_range_add(n, from, end);
	else
		co_range_clip(n, off, end);
	recompute_complete(n);
	m->cached_bytes += co_node_cached(n) - before;
	co_node_touch(m, n);
	co_store_put_ranges(m->store, n);
	pthread_mutex_unlock(&m->lock);
	pthread_mutex_unlock(co_data_lock(m, id));
}

void co_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
	      off_t off, struct fuse_file_info *fi)
{
	struct co_mgr *m = mgr(req);
	struct co_file *f = (struct co_file *)(uintptr_t)fi->fh;
	struct co_job *j = NULL;
	struct co_node *n;
	char *path = NULL;
	bool unsure;
	int r;

	if (!f || !f->writable) {
		fuse_reply_err(req, EBADF);
		return;
	}
	if (co_mode_get(m) != CO_CONNECTED) {
		r = co_local_write(m, req, ino, f->cfd, buf, size, off);
		if (r)
			fuse_reply_err(req, -r);
		else
			fuse_reply_write(req, size);
		return;
	}
	if (f->wfd < 0) {
		/* opened offline, and the journal emptied since: reopen it */
		fuse_reply_err(req, EIO);
		return;
	}
	pthread_mutex_lock(co_data_lock(m, ino));
	pthread_mutex_lock(&m->lock);
	n = co_node_get(m, ino);
	if (n) {
		/* a fill that read before this write must not keep its bytes,
		 * and the bytes it overwrites are no longer claimed */
		n->wgen++;
		if (overlaps(n, (uint64_t)off, (uint64_t)off + size))
			release_range(m, n, (uint64_t)off, (uint64_t)off + size);
		path = strdup(n->path);
	}
	pthread_mutex_unlock(&m->lock);
	pthread_mutex_unlock(co_data_lock(m, ino));
	if (path)
		j = job(req, co_job_write, path);
	free(path);
	/* the worker may outlive this request: the job owns its copy */
	if (j && (j->fd = dup(f->wfd)) >= 0 && (j->buf = malloc(size ? size : 1))) {
		memcpy(j->buf, buf, size);
		j->off = (uint64_t)off;
		j->size = size;
		r = change(m, j, req, &unsure);
	} else {
		r = n ? -ENOMEM : -ESTALE;
		unsure = false;
	}
	if (r) {
		/* the origin may hold these bytes or the old ones: neither is
		 * claimed, and its size is asked again */
		if (unsure)
			node_unsure(m, ino);
		co_job_put(m, j);
		fuse_reply_err(req, -r);
		return;
	}
	write_through(m, ino, f->cfd, buf, (uint64_t)off, j->len, &j->st2, &j->st);
	fuse_reply_write(req, j->len);
	co_job_put(m, j);
}

/* ---- attributes --------------------------------------------------------- */

/*
 * The origin's file is @size now: the cache's follows. Shrunk, the claims
 * past it go first, then the bytes; grown, the new bytes are zeros, kept
 * (durably) before they are claimed, when the file was held whole.
 */
static void truncate_through(struct co_mgr *m, uint64_t id, int cfd,
			     const struct stat *post)
{
	uint64_t size = (uint64_t)post->st_size, old;
	struct co_node *n;
	bool whole, ok = true;

	pthread_mutex_lock(&m->lock);
	n = co_node_get(m, id);
	if (!n) {
		pthread_mutex_unlock(&m->lock);
		return;
	}
	old = (uint64_t)n->st.st_size;
	whole = n->complete && n->parent;
	if (size < old || !whole) {
		release_range(m, n, size < old ? size : old, UINT64_MAX);
		confirmed(m, n, post);
		recompute_complete(n);
		co_store_put_ranges(m->store, n);
		pthread_mutex_unlock(&m->lock);
		if (size < old && ftruncate(cfd, (off_t)size) < 0)
			co_log("cache data %llu: %m", (unsigned long long)id);
		return;
	}
	pthread_mutex_unlock(&m->lock);
	if (ftruncate(cfd, (off_t)old) < 0 || ftruncate(cfd, (off_t)size) < 0 ||
	    fdatasync(cfd) < 0)
		ok = false;
	pthread_mutex_lock(&m->lock);
	n = co_node_get(m, id);
	confirmed(m, n, post);
	if (ok) {
		uint64_t before = co_node_cached(n);

		co_range_add(n, old, size);
		m->cached_bytes += co_node_cached(n) - before;
	}
	recompute_complete(n);
	co_store_put_ranges(m->store, n);
	pthread_mutex_unlock(&m->lock);
}

void co_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		struct fuse_file_info *fi)
{
	struct co_mgr *m = mgr(req);
	struct co_file *f = NULL;
	struct co_job *j = NULL;
	struct co_node *n;
	struct stat st;
	char *path;
	bool unsure = false, reg = false;
	int r, cfd = -1;

	if (co_mode_get(m) != CO_CONNECTED) {
		if (fi && (to_set & FUSE_SET_ATTR_SIZE))
			f = (struct co_file *)(uintptr_t)fi->fh;
		cfd = f ? f->cfd : co_data_open(m, ino);
		r = cfd < 0 ? cfd : co_local_setattr(m, req, ino, cfd, attr, to_set, &st);
		if (cfd >= 0 && !f)
			close(cfd);
		if (r)
			fuse_reply_err(req, -r);
		else
			fuse_reply_attr(req, &st, co_timeout_s(m));
		return;
	}
	if (to_set & FUSE_SET_ATTR_SIZE)
		pthread_mutex_lock(co_data_lock(m, ino));
	pthread_mutex_lock(&m->lock);
	n = co_node_get(m, ino);
	if (n) {
		reg = S_ISREG(n->st.st_mode);
		if (to_set & FUSE_SET_ATTR_SIZE) {
			/* what a shrink cuts is unclaimed before it happens */
			n->wgen++;
			release_range(m, n, (uint64_t)attr->st_size, UINT64_MAX);
		}
	}
	pthread_mutex_unlock(&m->lock);
	/* only ftruncate(2) sends a handle: a file's, never a directory's */
	if (fi && reg)
		f = (struct co_file *)(uintptr_t)fi->fh;
	r = path_of(m, ino, &path);
	if (!r) {
		j = job(req, co_job_setattr, path);
		free(path);
	}
	if (j) {
		j->valid = to_set;
		j->mode = attr->st_mode;
		j->uid = attr->st_uid;
		j->gid = attr->st_gid;
		j->off = (uint64_t)attr->st_size;
		j->times[0] = attr->st_atim;
		j->times[1] = attr->st_mtim;
		if (f && f->wfd >= 0)
			j->fd = dup(f->wfd);
	}
	if (!r)
		r = change(m, j, req, &unsure);
	if (r) {
		if (to_set & FUSE_SET_ATTR_SIZE)
			pthread_mutex_unlock(co_data_lock(m, ino));
		if (unsure)
			node_unsure(m, ino);
		co_job_put(m, j);
		fuse_reply_err(req, -r);
		return;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		cfd = f ? f->cfd : co_data_open(m, ino);
		if (cfd >= 0)
			truncate_through(m, ino, cfd, &j->st);
		if (cfd >= 0 && !f)
			close(cfd);
		pthread_mutex_unlock(co_data_lock(m, ino));
	}
	pthread_mutex_lock(&m->lock);
	n = co_node_get(m, ino);
	if (n) {
		confirmed(m, n, &j->st);
		/* a mode change moves an ACL's mask: the job read them again */
		if (to_set & FUSE_SET_ATTR_MODE)
			keep_xattrs(m, n, j);
		else
			co_store_put(m->store, n);
		st = n->st;
		st.st_ino = n->id;
	}
	pthread_mutex_unlock(&m->lock);
	co_job_put(m, j);
	if (n)
		fuse_reply_attr(req, &st, co_timeout_s(m));
	else
		fuse_reply_err(req, ESTALE);
}

/* ---- names -------------------------------------------------------------- */

/* a new name in @parent by @j (made, its attributes in j->st); @also,
 * when not 0, is the node of another name of the same object (link) */
static void made(fuse_req_t req, fuse_ino_t parent, const char *name,
		 co_job_fn fn, struct co_job *j, fuse_ino_t also)
{
	struct co_mgr *m = mgr(req);
	struct fuse_entry_param e;
	struct co_node *dir, *n = NULL;
	bool unsure;
	int r;

	r = change(m, j, req, &unsure);
	if (r) {
		if (unsure)
			dir_unsure(m, parent);
		co_job_put(m, j);
		fuse_reply_err(req, -r);
		return;
	}
	pthread_mutex_lock(&m->lock);
	dir = co_node_get(m, parent);
	if (dir)
		n = co_node_upsert(m, dir, name, &j->st, j->target);
	if (n) {
		if (S_ISDIR(n->st.st_mode) && fn == co_job_mkdir) {
			/* a new directory is empty: listed whole, by us */
			n->listed = true;
			n->listed_ns = cc_now_ns();
			n->listed_epoch = co_mode_epoch(m);
		}
		keep_xattrs(m, n, j);
		co_entry_of(m, n, &e);
		dir_changed(m, parent, &j->pst);
	}
	if (also) {
		/* its nlink and ctime moved by our doing, not news */
		struct co_node *o = co_node_get(m, also);

		if (o && o->st.st_ino == j->st.st_ino) {
			confirmed(m, o, &j->st);
			co_store_put(m->store, o);
		}
	}
	pthread_mutex_unlock(&m->lock);
	co_job_put(m, j);
	if (n)
		fuse_reply_entry(req, &e);
	else
		fuse_reply_err(req, dir ? ENOMEM : ESTALE);
}

static struct co_job *name_job(fuse_req_t req, co_job_fn fn, fuse_ino_t parent,
			       const char *name, int *err)
{
	struct co_mgr *m = mgr(req);
	struct co_job *j = NULL;
	char *path;

	*err = child_path(m, parent, name, &path);
	if (*err)
		return NULL;
	j = job(req, fn, path);
	free(path);
	if (!j)
		*err = -ENOMEM;
	return j;
}

void co_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
	      mode_t mode, dev_t rdev)
{
	struct co_job *j;
	int r;

	if (refused_offline(mgr(req), req))
		return;
	j = name_job(req, co_job_mknod, parent, name, &r);
	if (!j) {
		fuse_reply_err(req, -r);
		return;
	}
	j->mode = mode;
	j->rdev = rdev;
	made(req, parent, name, co_job_mknod, j, 0);
}

void co_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct fuse_entry_param e;
	struct co_job *j;
	int r;

	if (co_mode_get(mgr(req)) != CO_CONNECTED) {
		r = co_local_make(mgr(req), req, parent, name,
				  S_IFDIR | (mode & 07777), &e);
		if (r)
			fuse_reply_err(req, -r);
		else
			fuse_reply_entry(req, &e);
		return;
	}
	j = name_job(req, co_job_mkdir, parent, name, &r);
	if (!j) {
		fuse_reply_err(req, -r);
		return;
	}
	j->mode = mode;
	made(req, parent, name, co_job_mkdir, j, 0);
}

void co_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		const char *name)
{
	struct co_job *j;
	int r;

	if (refused_offline(mgr(req), req))
		return;
	j = name_job(req, co_job_symlink, parent, name, &r);
	if (j && !(j->target = strdup(link))) {
		co_job_put(mgr(req), j);
		j = NULL;
		r = -ENOMEM;
	}
	if (!j) {
		fuse_reply_err(req, -r);
		return;
	}
	made(req, parent, name, co_job_symlink, j, 0);
}

void co_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
	     const char *newname)
{
	struct co_mgr *m = mgr(req);
	struct co_job *j;
	struct co_node *n;
	int r;

	if (refused_offline(m, req))
		return;
	j = name_job(req, co_job_link, newparent, newname, &r);
	if (j && (r = path_of(m, ino, &j->path2))) {
		co_job_put(m, j);
		j = NULL;
	}
	if (!j) {
		fuse_reply_err(req, -r);
		return;
	}
	/* the target of a symlink given another name, for the new node */
	pthread_mutex_lock(&m->lock);
	n = co_node_get(m, ino);
	if (n && n->link)
		j->target = strdup(n->link);
	pthread_mutex_unlock(&m->lock);
	made(req, newparent, newname, co_job_link, j, ino);
}

/* @n's row and name go; its data file once nothing claims it (m->lock) */
static uint64_t drop_node(struct co_mgr *m, struct co_node *n)
{
	m->cached_bytes -= co_node_cached(n);
	co_store_delete(m->store, n->id);
	co_node_unname(m, n);
	return n->id;
}

static void remove_name(fuse_req_t req, fuse_ino_t parent, const char *name,
			co_job_fn fn)
{
	struct co_mgr *m = mgr(req);
	struct co_node *dir, *n;
	struct co_job *j;
	uint64_t gone = 0;
	bool unsure;
	int r;

	if (refused_offline(m, req))
		return;
	j = name_job(req, fn, parent, name, &r);
	if (j)
		r = change(m, j, req, &unsure);
	if (r) {
		if (j && unsure) {
			dir_unsure(m, parent);
			pthread_mutex_lock(&m->lock);
			dir = co_node_get(m, parent);
			n = dir ? co_node_child(m, dir, name) : NULL;
			if (n)
				n->validated_ns = 0;
			pthread_mutex_unlock(&m->lock);
		}
		co_job_put(m, j);
		fuse_reply_err(req, -r);
		return;
	}
	pthread_mutex_lock(&m->lock);
	dir = co_node_get(m, parent);
	n = dir ? co_node_child(m, dir, name) : NULL;
	if (n)
		gone = drop_node(m, n);
	if (dir)
		dir_changed(m, parent, &j->pst);
	pthread_mutex_unlock(&m->lock);
	/* open files keep the data file they have open */
	if (gone)
		co_data_drop(m, gone);
	co_job_put(m, j);
	fuse_reply_err(req, 0);
}

void co_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	if (co_mode_get(mgr(req)) != CO_CONNECTED) {
		fuse_reply_err(req, -co_local_unlink(mgr(req), req, parent, name));
		return;
	}
	remove_name(req, parent, name, co_job_unlink);
}

void co_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_name(req, parent, name, co_job_rmdir);
}

void co_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
	       fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	struct co_mgr *m = mgr(req);
	struct co_node *dir, *ndir, *n, *t;
	struct co_job *j;
	uint64_t gone = 0;
	bool unsure = false;
	int r;

	/* RENAME_WHITEOUT is overlayfs's, and needs CAP_MKNOD on the origin */
	if (flags & ~(unsigned int)(RENAME_NOREPLACE | RENAME_EXCHANGE)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (refused_offline(m, req))
		return;
	j = name_job(req, co_job_rename, parent, name, &r);
	if (j)
		r = child_path(m, newparent, newname, &j->path2);
	if (j && !r) {
		j->flags = (int)flags;
		r = change(m, j, req, &unsure);
	}
	if (r) {
		if (unsure) {
			dir_unsure(m, parent);
			dir_unsure(m, newparent);
		}
		co_job_put(m, j);
		fuse_reply_err(req, -r);
		return;
	}
	pthread_mutex_lock(&m->lock);
	dir = co_node_get(m, parent);
	ndir = co_node_get(m, newparent);
	n = dir ? co_node_child(m, dir, name) : NULL;
	t = ndir ? co_node_child(m, ndir, newname) : NULL;
	co_store_begin(m->store);
	if (flags & RENAME_EXCHANGE) {
		/* through a name no file can have, as UNIQUE(parent, name) wants */
		if (t) {
			co_node_move(m, t, t->parent, "/exchange");
			co_store_put(m->store, t);
		}
		if (n) {
			co_node_move(m, n, newparent, newname);
			confirmed(m, n, &j->st);
			co_store_put(m->store, n);
		}
		if (t) {
			co_node_move(m, t, parent, name);
			confirmed(m, t, &j->st2);
			co_store_put(m->store, t);
		}
	} else if (n && t && n->st.st_ino == t->st.st_ino && n != t) {
		/* two names of one file: rename(2) does nothing */
	} else if (n) {
		if (t && t != n)
			gone = drop_node(m, t);
		co_node_move(m, n, newparent, newname);
		confirmed(m, n, &j->st);
		co_store_put(m->store, n);
	} else if (t) {
		/* the object moved was never seen: the name it took is its */
		gone = drop_node(m, t);
	}
	if (dir)
		dir_changed(m, parent, &j->pst);
	if (ndir && newparent != parent)
		dir_changed(m, newparent, &j->pst2);
	co_store_commit(m->store);
	pthread_mutex_unlock(&m->lock);
	if (gone)
		co_data_drop(m, gone);
	co_job_put(m, j);
	fuse_reply_err(req, 0);
}

/* ---- xattrs -------------------------------------------------------------- */

static void xattr_change(fuse_req_t req, fuse_ino_t ino, co_job_fn fn,
			 const char *name, const char *value, size_t size,
			 int flags)
{
	struct co_mgr *m = mgr(req);
	struct co_job *j = NULL;
	struct co_node *n;
	char *path;
	bool unsure = false;
	int r;

	if (refused_offline(m, req))
		return;
	r = path_of(m, ino, &path);
	if (!r) {
		j = job(req, fn, path);
		free(path);
		if (!j || !(j->xname = strdup(name)) ||
		    (value && !(j->buf = malloc(size ? size : 1))))
			r = -ENOMEM;
	}
	if (!r) {
		if (value)
			memcpy(j->buf, value, size);
		j->size = size;
		j->flags = flags;
		r = change(m, j, req, &unsure);
	}
	pthread_mutex_lock(&m->lock);
	n = co_node_get(m, ino);
	if (n && !r) {
		confirmed(m, n, &j->st);
		keep_xattrs(m, n, j);
	} else if (n && unsure) {
		n->xattrs_known = false;
		n->validated_ns = 0;
		co_store_put(m->store, n);
	}
	pthread_mutex_unlock(&m->lock);
	co_job_put(m, j);
	fuse_reply_err(req, -r);
}

void co_setxattr_origin(fuse_req_t req, fuse_ino_t ino, const char *name,
			const char *value, size_t size, int flags)
{
	xattr_change(req, ino, co_job_setxattr, name, value, size, flags);
}

void co_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	if (!strncmp(name, CO_XATTR_PREFIX, strlen(CO_XATTR_PREFIX))) {
		fuse_reply_err(req, EPERM);
		return;
	}
	xattr_change(req, ino, co_job_removexattr, name, NULL, 0, 0);
}

/* ---- flush, fsync, release ---------------------------------------------- */

static void fd_call(fuse_req_t req, co_job_fn fn, int fd, const char *path,
		    int flags)
{
	struct co_mgr *m = mgr(req);
	struct co_job *j = job(req, fn, path);
	bool unsure;
	int r;

	if (j && fd >= 0 && (j->fd = dup(fd)) < 0)
		r = -errno;
	else
		r = 0;
	if (j)
		j->flags = flags;
	if (!r)
		r = change(m, j, req, &unsure);
	co_job_put(m, j);
	fuse_reply_err(req, -r);
}

/* close(2): where the origin (NFS) reports what it could not write */
void co_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct co_file *f = (struct co_file *)(uintptr_t)fi->fh;

	/* read-only, or nothing the origin could still report offline */
	if (!f || f->wfd < 0 || co_mode_get(mgr(req)) != CO_CONNECTED) {
		fuse_reply_err(req, 0);
		return;
	}
	fd_call(req, co_job_flush, f->wfd, NULL, 0);
}

/* the cache's copy is on disk already (written through, fdatasync'ed):
 * fsync(2) asks the origin for its */
void co_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
	      struct fuse_file_info *fi)
{
	struct co_file *f = (struct co_file *)(uintptr_t)fi->fh;

	if (!f || !f->writable) {
		fuse_reply_err(req, 0);
		return;
	}
	/* offline: durable in the local cache, journal included */
	if (co_mode_get(mgr(req)) != CO_CONNECTED || f->wfd < 0) {
		fuse_reply_err(req, -co_local_fsync(mgr(req), ino));
		return;
	}
	fd_call(req, co_job_fsync, f->wfd, NULL, datasync);
}

void co_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
		 struct fuse_file_info *fi)
{
	struct co_mgr *m = mgr(req);
	char *path;
	int r;

	if (refused_offline(m, req))
		return;
	r = path_of(m, ino, &path);
	if (r) {
		fuse_reply_err(req, -r);
		return;
	}
	fd_call(req, co_job_fsync, -1, path, datasync);
	free(path);
}

/* the origin's fd closed in a worker: a hung server holds the worker, at
 * most a deadline of the releasing thread, never the kernel's close */
void co_release_write(struct co_mgr *m, struct co_file *f)
{
	struct co_job *j;

	if (f->wfd < 0)
		return;
	j = co_job_new(co_job_close, NULL);
	if (!j) {
		close(f->wfd);
	} else {
		j->fd = f->wfd;
		co_origin_call(m, j, NULL);
		co_job_put(m, j);
	}
	f->wfd = -1;
}
