// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Changes made while disconnected: served from the cache at once and
 * recorded in the journal (journal.h) for replay, each entry committed in
 * the transaction that changes the node rows, so after a kill -9 the
 * store has both or neither. Durability: a change is in the store's WAL
 * (the kernel's page cache) when it returns, which survives kill -9;
 * fsync(2) of a file adds co_journal_sync(), which survives a power cut.
 *
 * In this version: creating files and directories, writing, truncating,
 * chmod/chown/utimes, unlinking files. Writing needs the file cached whole
 * (ENODATA otherwise). Anything else disconnected is still EHOSTDOWN.
 * Until replay exists the attachment does not reconnect while the journal
 * holds entries (mode.c): the origin would otherwise be taken for newer
 * than the changes it has not seen.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "journal.h"
#include "offline.h"

static struct timespec now_ts(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return t;
}

static int64_t ns_of(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

static void entry_of(const struct co_node *n, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = n->id;
	e->generation = 1;
	e->attr = n->st;
	e->attr.st_ino = n->id;
	e->attr_timeout = e->entry_timeout = 1.0;
}

static void jinit(struct co_jentry *e, fuse_req_t req, enum co_jop op,
		  const struct co_node *n)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);

	memset(e, 0, sizeof(*e));
	e->op = op;
	e->node = n->id;
	e->path = n->path;
	e->cred_uid = c ? c->uid : getuid();
	e->cred_gid = c ? c->gid : getgid();
}

/* a change to @n's data or attributes: now, by us (m->lock) */
static void touched(struct co_node *n, bool data)
{
	struct timespec t = now_ts();

	n->st.st_ctim = t;
	if (data)
		n->st.st_mtim = t;
}

/* ends the transaction the recorder opened: 0, or what failed */
static int record(struct co_mgr *m, struct co_jentry *e)
{
	int r = co_journal_append(m, e);

	return r ? co_store_abort(m->store, r) : co_store_commit(m->store);
}

/* ---- data ---------------------------------------------------------------- */

int co_local_write(struct co_mgr *m, fuse_req_t req, uint64_t id, int cfd,
		   const char *buf, size_t size, off_t off)
{
	uint64_t end = (uint64_t)off + size, old, from, before;
	struct co_jentry e;
	struct co_node *n;
	size_t done = 0;
	int r;

	pthread_mutex_lock(co_data_lock(m, id));
	pthread_mutex_lock(&m->lock);
	n = co_node_get(m, id);
	r = !n ? -ESTALE : !n->complete ? -CO_ENODATA : 0;
	old = n ? (uint64_t)n->st.st_size : 0;
	pthread_mutex_unlock(&m->lock);
	/* past the end: the gap reads as zeros, as it will on the origin */
	from = (uint64_t)off > old ? old : (uint64_t)off;
	if (!r && (uint64_t)off > old && ftruncate(cfd, (off_t)old) < 0)
		r = -errno;
	while (!r && done < size) {
		ssize_t w = pwrite(cfd, buf + done, size - done, off + (off_t)done);

		if (w < 0) {
			r = -errno;
			if (r == -ENOSPC || r == -EDQUOT)
				co_event_post(m, "cache-full", "");
		} else {
			done += (size_t)w;
		}
	}
	if (r) {
		pthread_mutex_unlock(co_data_lock(m, id));
		return r;
	}
	pthread_mutex_lock(&m->lock);
	n = co_node_get(m, id);
	/* unlinked while open: the bytes are for the open file alone */
	r = !n ? -ESTALE : !n->parent ? 1 : co_store_begin(m->store);
	if (!r) {
		jinit(&e, req, CO_J_WRITE, n);
		co_journal_base_of(m, id, &e.base);
		e.off = (uint64_t)off;
		e.len = size;
		before = co_node_cached(n);
		if (end > old)
			n->st.st_size = (off_t)end;
		n->st.st_blocks = (n->st.st_size + 511) / 512;
		touched(n, true);
		co_range_add(n, from, end);
		m->cached_bytes += co_node_cached(n) - before;
		co_node_touch(m, n);
		r = co_store_put_ranges(m->store, n);
		r = r ? co_store_abort(m->store, r) : record(m, &e);
	}
	pthread_mutex_unlock(&m->lock);
	pthread_mutex_unlock(co_data_lock(m, id));
	return r > 0 ? 0 : r;
}

/*
 * attr's CO_JA_-like fields, and the size, of a node while disconnected;
 * *@st its attributes after. Size needs the file cached whole.
 */
int co_local_setattr(struct co_mgr *m, fuse_req_t req, uint64_t id, int cfd,
		     const struct stat *attr, int to_set, struct stat *st)
{
	struct co_jentry e;
	struct co_node *n;
	int r = 0;

	pthread_mutex_lock(co_data_lock(m, id));
	pthread_mutex_lock(&m->lock);
	n = co_node_get(m, id);
	if (!n)
		r = -ESTALE;
	else if ((to_set & FUSE_SET_ATTR_SIZE) && !n->complete)
		r = -CO_ENODATA;
	else if ((to_set & FUSE_SET_ATTR_SIZE) && !S_ISREG(n->st.st_mode))
		r = -EINVAL;
	if (!r && (to_set & FUSE_SET_ATTR_SIZE)) {
		uint64_t old = (uint64_t)n->st.st_size, size = (uint64_t)attr->st_size;
		uint64_t before = co_node_cached(n);

		/* the bytes follow the size before the claim says so */
		if ((size > old && ftruncate(cfd, (off_t)old) < 0) ||
		    ftruncate(cfd, (off_t)size) < 0)
			r = -errno;
		if (!r)
			r = co_store_begin(m->store);
		if (!r) {
			jinit(&e, req, CO_J_TRUNCATE, n);
			co_journal_base_of(m, id, &e.base);
			e.size = size;
			co_range_clip(n, size, UINT64_MAX);
			n->st.st_size = (off_t)size;
			n->st.st_blocks = (n->st.st_size + 511) / 512;
			if (size > old)
				co_range_add(n, old, size);
			n->complete = true;
			m->cached_bytes += co_node_cached(n) - before;
			touched(n, true);
			r = co_store_put_ranges(m->store, n);
			r = r ? co_store_abort(m->store, r) : record(m, &e);
		}
	}
	if (!r && (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID |
			     FUSE_SET_ATTR_GID | FUSE_SET_ATTR_ATIME |
			     FUSE_SET_ATTR_MTIME))) {
		struct timespec t = now_ts();

		r = co_store_begin(m->store);
		if (!r) {
			jinit(&e, req, CO_J_SETATTR, n);
			co_journal_base_of(m, id, &e.base);
			if (to_set & FUSE_SET_ATTR_MODE) {
				e.valid |= CO_JA_MODE;
				e.mode = attr->st_mode & 07777;
				n->st.st_mode = (n->st.st_mode & S_IFMT) | e.mode;
			}
			if (to_set & FUSE_SET_ATTR_UID) {
				e.valid |= CO_JA_UID;
				e.uid = n->st.st_uid = attr->st_uid;
			}
			if (to_set & FUSE_SET_ATTR_GID) {
				e.valid |= CO_JA_GID;
				e.gid = n->st.st_gid = attr->st_gid;
			}
			if (to_set & FUSE_SET_ATTR_ATIME) {
				e.valid |= CO_JA_ATIME;
				n->st.st_atim = (to_set & FUSE_SET_ATTR_ATIME_NOW) ?
						t : attr->st_atim;
				e.atime_ns = ns_of(&n->st.st_atim);
			}
			if (to_set & FUSE_SET_ATTR_MTIME) {
				e.valid |= CO_JA_MTIME;
				n->st.st_mtim = (to_set & FUSE_SET_ATTR_MTIME_NOW) ?
						t : attr->st_mtim;
				e.mtime_ns = ns_of(&n->st.st_mtim);
			}
			n->st.st_ctim = t;
			r = co_store_put(m->store, n);
			r = r ? co_store_abort(m->store, r) : record(m, &e);
		}
	}
	if (!r) {
		*st = n->st;
		st->st_ino = n->id;
	}
	pthread_mutex_unlock(&m->lock);
	pthread_mutex_unlock(co_data_lock(m, id));
	return r;
}

/* ---- names --------------------------------------------------------------- */

/*
 * A new object @name in @parent, made locally: a provisional row (ino 0:
 * nothing on the origin yet, journal.h) and its CREATE or MKDIR entry.
 */
int co_local_make(struct co_mgr *m, fuse_req_t req, uint64_t parent,
		  const char *name, mode_t mode, struct fuse_entry_param *ent)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);
	struct co_node tmp, *dir, *n = NULL;
	struct co_jentry e;
	struct timespec t = now_ts();
	int r;

	pthread_mutex_lock(&m->lock);
	dir = co_node_get(m, parent);
	if (!dir) {
		r = -ESTALE;
	} else if (!dir->listed) {
		/* whether the name is free only the server knows */
		r = -CO_EDISCON;
	} else if (co_node_child(m, dir, name)) {
		r = -EEXIST;
	} else {
		r = 0;
	}
	if (r)
		goto out;
	memset(&tmp, 0, sizeof(tmp));
	tmp.parent = parent;
	tmp.name = strdup(name);
	if (!tmp.name) {
		r = -ENOMEM;
		goto out;
	}
	tmp.st.st_mode = mode;
	tmp.st.st_nlink = S_ISDIR(mode) ? 2 : 1;
	tmp.st.st_uid = c ? c->uid : getuid();
	tmp.st.st_gid = c ? c->gid : getgid();
	tmp.st.st_blksize = 4096;
	tmp.st.st_atim = tmp.st.st_mtim = tmp.st.st_ctim = t;
	tmp.complete = S_ISREG(mode);
	tmp.listed = S_ISDIR(mode);
	tmp.xattrs_known = true;
	r = co_store_begin(m->store);
	if (r) {
		free(tmp.name);
		goto out;
	}
	r = co_store_put(m->store, &tmp);
	free(tmp.name);
	n = r ? NULL : co_node_get(m, tmp.id);
	if (!n) {
		r = co_store_abort(m->store, r ? r : -ENOMEM);
		goto out;
	}
	n->listed_ns = cc_now_ns();
	n->listed_epoch = co_mode_epoch(m);
	jinit(&e, req, S_ISDIR(mode) ? CO_J_MKDIR : CO_J_CREATE, n);
	e.parent = parent;
	e.name = n->name;
	e.mode = mode;
	e.uid = n->st.st_uid;
	e.gid = n->st.st_gid;
	dir->st.st_mtim = dir->st.st_ctim = t;
	r = co_store_put(m->store, dir);
	r = r ? co_store_abort(m->store, r) : record(m, &e);
	if (r) {
		/* rolled back: the name is not there */
		co_node_unname(m, n);
		goto out;
	}
	entry_of(n, ent);
out:
	pthread_mutex_unlock(&m->lock);
	return r;
}

int co_local_unlink(struct co_mgr *m, fuse_req_t req, uint64_t parent,
		    const char *name)
{
	struct co_node *dir, *n = NULL;
	struct co_jentry e;
	struct timespec t = now_ts();
	uint64_t gone = 0;
	int r;

	pthread_mutex_lock(&m->lock);
	dir = co_node_get(m, parent);
	if (dir)
		n = co_node_child(m, dir, name);
	if (!dir)
		r = -ESTALE;
	else if (!n)
		r = dir->listed ? -ENOENT : -CO_EDISCON;
	else if (S_ISDIR(n->st.st_mode))
		r = -EISDIR;
	else
		r = co_store_begin(m->store);
	if (r)
		goto out;
	jinit(&e, req, CO_J_UNLINK, n);
	co_journal_base_of(m, n->id, &e.base);
	e.parent = parent;
	e.name = n->name;
	dir->st.st_mtim = dir->st.st_ctim = t;
	r = co_store_put(m->store, dir) ?: co_store_delete(m->store, n->id);
	r = r ? co_store_abort(m->store, r) : record(m, &e);
	if (r)
		goto out;
	m->cached_bytes -= co_node_cached(n);
	co_node_unname(m, n);
	/* made offline and now gone: nothing of it is left to replay; else
	 * its data file stays for the entries before the unlink */
	if (!e.seq)
		gone = n->id;
out:
	pthread_mutex_unlock(&m->lock);
	if (gone)
		co_data_drop(m, gone);
	return r;
}

/* fsync(2) offline: the node's data and the journal on stable storage */
int co_local_fsync(struct co_mgr *m, uint64_t id)
{
	return co_journal_sync(m, id);
}
