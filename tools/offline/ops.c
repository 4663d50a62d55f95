// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The FUSE low-level operations. Connected, each answer is the origin's
 * (revalidated after actimeo, data kept as it passes); disconnected, the
 * cache's, exactly as it was kept, or one of the documented errors:
 * ENODATA (data not cached), EACCES (permission not knowable offline),
 * EHOSTDOWN (not available while disconnected). Changes are write.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "offline.h"

#define CHUNK (1u << 20)	/* fills are whole MiB-aligned chunks */

struct co_dir {
	uint64_t *ids;
	size_t n;
};

static struct co_mgr *mgr(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

double co_timeout_s(struct co_mgr *m)
{
	/* offline answers are held briefly, so a reconnect is seen soon */
	return co_mode_get(m) == CO_CONNECTED ? m->o.actimeo_ms / 1000.0 : 1.0;
}

void co_entry_of(struct co_mgr *m, const struct co_node *n,
		 struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = n->id;
	e->generation = 1;
	e->attr = n->st;
	e->attr.st_ino = n->id;
	e->attr_timeout = e->entry_timeout = co_timeout_s(m);
}

/* ---- why an object is not available offline ---------------------------- */

/* the error an offline use would get, 0 when it would work (m->lock) */
static int offline_error(const struct co_node *n, const char **what)
{
	if (S_ISREG(n->st.st_mode)) {
		if (n->complete) {
			*what = "cached";
			return 0;
		}
		*what = n->nranges ? "partly cached: the rest of its data is not"
				   : "its data is not cached";
		return CO_ENODATA;
	}
	if (S_ISDIR(n->st.st_mode)) {
		if (n->listed) {
			*what = "listed completely";
			return 0;
		}
		*what = "never listed completely";
		return CO_EDISCON;
	}
	if (S_ISLNK(n->st.st_mode)) {
		*what = n->link ? "cached" : "its target is not cached";
		return n->link ? 0 : CO_ENODATA;
	}
	*what = "cached";
	return 0;
}

static const char *errname(int e)
{
	switch (e) {
	case 0: return "0";
	case ENODATA: return "ENODATA";
	case EACCES: return "EACCES";
	case EHOSTDOWN: return "EHOSTDOWN";
	}
	return "EIO";
}

static int virtual_xattr(struct co_mgr *m, uint64_t id, const char *name,
			 char *buf, size_t cap)
{
	const char *what = "";
	struct co_node *n;
	bool connected = co_mode_get(m) == CO_CONNECTED;
	int e, len;

	pthread_mutex_lock(&m->lock);
	n = co_node_get(m, id);
	if (!n) {
		pthread_mutex_unlock(&m->lock);
		return -ESTALE;
	}
	e = offline_error(n, &what);
	if (!strcmp(name, "mode")) {
		len = snprintf(buf, cap, "%s", connected ? "connected" : "disconnected");
	} else if (!strcmp(name, "why")) {
		len = e ? snprintf(buf, cap, "%s (%s offline)", what, errname(e))
			: snprintf(buf, cap, "%s", what);
	} else if (!strcmp(name, "provisional")) {
		len = snprintf(buf, cap, "%d", co_node_provisional(m, n));
	} else if (!strcmp(name, "reason")) {
		pthread_mutex_lock(&m->mlock);
		len = snprintf(buf, cap, "%s", m->reason);
		pthread_mutex_unlock(&m->mlock);
	} else if (!strcmp(name, "state")) {
		/* the library's cachectl_attach_query() reads this */
		bool hoarding;

		pthread_mutex_lock(&m->hlock);
		hoarding = m->hoarding || m->hoard_wanted;
		pthread_mutex_unlock(&m->hlock);
		len = snprintf(buf, cap,
			       "mode=%s data=%s pinned=%d provisional=%d listed=%d "
			       "hoarding=%d why=%s pid=%d",
			       connected ? "connected" : "disconnected",
			       n->complete ? "complete" : n->nranges ? "partial" : "none",
			       n->pinned, co_node_provisional(m, n), n->listed,
			       hoarding, errname(e), (int)getpid());
	} else {
		len = -1;
	}
	pthread_mutex_unlock(&m->lock);
	if (len < 0)
		return -ENODATA;
	return len;
}

/* ---- operations -------------------------------------------------------- */

static void co_init(void *data, struct fuse_conn_info *conn)
{
	conn->want |= FUSE_CAP_READDIRPLUS | FUSE_CAP_POSIX_ACL;
	conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE;
	conn->max_readahead = CHUNK;
}

static void co_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct co_mgr *m = mgr(req);
	struct fuse_entry_param e;
	struct co_node *dir, *n;
	uint64_t id = 0;
	int r;

	pthread_mutex_lock(&m->lock);
	dir = co_node_get(m, parent);
	n = dir ? co_node_child(m, dir, name) : NULL;
	if (n && co_mode_get(m) == CO_CONNECTED && co_node_fresh(m, n)) {
		co_entry_of(m, n, &e);
		pthread_mutex_unlock(&m->lock);
		fuse_reply_entry(req, &e);
		return;
	}
	pthread_mutex_unlock(&m->lock);
	if (!dir) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (co_mode_get(m) == CO_CONNECTED) {
		r = co_lookup_origin(m, parent, name, req, &id);
		if (r < 0) {
			fuse_reply_err(req, -r);
			return;
		}
	}
	pthread_mutex_lock(&m->lock);
	dir = co_node_get(m, parent);
	n = dir ? co_node_child(m, dir, name) : NULL;
	if (n) {
		co_entry_of(m, n, &e);
		r = 0;
	} else {
		/* an absent name is known absent only in a complete listing */
		r = dir && dir->listed ? ENOENT : CO_EDISCON;
	}
	pthread_mutex_unlock(&m->lock);
	if (r)
		fuse_reply_err(req, r);
	else
		fuse_reply_entry(req, &e);
}

static void co_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	fuse_reply_none(req);
}

static void co_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct co_mgr *m = mgr(req);
	struct co_node *n;
	struct stat st;
	int r = co_revalidate(m, ino, req);

	if (r) {
		fuse_reply_err(req, -r);
		return;
	}
	pthread_mutex_lock(&m->lock);
	n = co_node_get(m, ino);
	if (n) {
		st = n->st;
		st.st_ino = n->id;
	}
	pthread_mutex_unlock(&m->lock);
	if (!n)
		fuse_reply_err(req, ESTALE);
	else
		fuse_reply_attr(req, &st, co_timeout_s(m));
}

static void co_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct co_mgr *m = mgr(req);
	struct co_node *n;
	char *t = NULL;
	int r = co_revalidate(m, ino, req);

	if (r) {
		fuse_reply_err(req, -r);
		return;
	}
	pthread_mutex_lock(&m->lock);
	n = co_node_get(m, ino);
	if (n && n->link)
		t = strdup(n->link);
	pthread_mutex_unlock(&m->lock);
	if (t)
		fuse_reply_readlink(req, t);
	else
		fuse_reply_err(req, n ? CO_ENODATA : ESTALE);
	free(t);
}

static void co_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct co_mgr *m = mgr(req);
	struct co_file *f;
	struct co_node *n;
	int r, cfd;

	/* O_TRUNC comes here too: libfuse asks for atomic_o_trunc */
	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		co_open_write(req, ino, fi);
		return;
	}
	r = co_revalidate(m, ino, req);
	if (r) {
		fuse_reply_err(req, -r);
		return;
	}
	f = calloc(1, sizeof(*f));
	cfd = co_data_open(m, ino);
	if (!f || cfd < 0) {
		free(f);
		if (cfd >= 0)
			close(cfd);
		fuse_reply_err(req, f ? -cfd : ENOMEM);
		return;
	}
	f->id = ino;
	f->cfd = cfd;
	f->ofd = -1;
	f->wfd = -1;
	pthread_mutex_lock(&m->lock);
	n = co_node_get(m, ino);
	if (!n) {
		r = ESTALE;
	} else if (co_mode_get(m) != CO_CONNECTED && !n->complete &&
		   !n->nranges) {
		r = CO_ENODATA;
	} else {
		/* the kernel's pages are good while the origin's data is */
		fi->keep_cache = n->kgen == n->gen;
		n->kgen = n->gen;
		co_node_touch(m, n);
		co_store_put(m->store, n);
		r = 0;
	}
	pthread_mutex_unlock(&m->lock);
	if (r) {
		close(cfd);
		free(f);
		fuse_reply_err(req, r);
		return;
	}
	fi->fh = (uintptr_t)f;
	if (fuse_reply_open(req, fi) == -ENOENT) {
		close(cfd);
		free(f);
	}
}

static void co_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct co_mgr *m = mgr(req);
	struct co_file *f = (struct co_file *)(uintptr_t)fi->fh;
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT(0);
	uint64_t fsize, end, cstart, cend;
	struct co_node *n;
	void *buf = NULL;
	size_t got = 0;
	bool has;
	int r;

	pthread_mutex_lock(&m->lock);
	n = co_node_get(m, ino);
	fsize = n ? (uint64_t)n->st.st_size : 0;
	end = (uint64_t)off + size < fsize ? (uint64_t)off + size : fsize;
	has = n && co_node_has(n, (uint64_t)off, end);
	pthread_mutex_unlock(&m->lock);
	if (!n) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if ((uint64_t)off >= fsize) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (has) {
		bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
		bv.buf[0].fd = f->cfd;
		bv.buf[0].pos = off;
		bv.buf[0].size = end - (uint64_t)off;
		fuse_reply_data(req, &bv, FUSE_BUF_SPLICE_MOVE);
		return;
	}
	if (co_mode_get(m) != CO_CONNECTED) {
		fuse_reply_err(req, CO_ENODATA);
		return;
	}
	cstart = (uint64_t)off & ~(uint64_t)(CHUNK - 1);
	cend = (end + CHUNK - 1) & ~(uint64_t)(CHUNK - 1);
	if (cend > fsize)
		cend = fsize;
	r = co_fill(m, ino, f->cfd, &f->ofd, cstart, cend - cstart, req, &buf, &got);
	if (r) {
		fuse_reply_err(req, r > 0 ? CO_ENODATA : -r);
		return;
	}
	if (got > (uint64_t)off - cstart)
		fuse_reply_buf(req, (char *)buf + ((uint64_t)off - cstart),
			       got - ((uint64_t)off - cstart) < size ?
			       got - ((uint64_t)off - cstart) : size);
	else
		fuse_reply_buf(req, NULL, 0);
	free(buf);
}

static void co_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct co_file *f = (struct co_file *)(uintptr_t)fi->fh;

	if (f) {
		co_release_write(mgr(req), f);
		close(f->cfd);
		if (f->ofd >= 0)
			close(f->ofd);
		free(f);
	}
	fuse_reply_err(req, 0);
}

static void co_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct co_mgr *m = mgr(req);
	struct co_node *n;
	struct co_dir *d;
	bool want, listed;
	int r = co_revalidate(m, ino, req);

	if (r) {
		fuse_reply_err(req, -r);
		return;
	}
	pthread_mutex_lock(&m->lock);
	n = co_node_get(m, ino);
	want = n && co_mode_get(m) == CO_CONNECTED &&
	       (!n->listed || n->listed_epoch != co_mode_epoch(m) ||
		cc_now_ns() - n->listed_ns >= (uint64_t)m->o.actimeo_ms * 1000000u);
	pthread_mutex_unlock(&m->lock);
	if (!n) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (want) {
		r = co_list(m, ino, req);
		if (r < 0) {
			fuse_reply_err(req, -r);
			return;
		}
	}
	pthread_mutex_lock(&m->lock);
	n = co_node_get(m, ino);
	listed = n && n->listed;
	pthread_mutex_unlock(&m->lock);
	if (!listed) {
		fuse_reply_err(req, CO_EDISCON);
		return;
	}
	d = calloc(1, sizeof(*d));
	if (!d || co_store_children(m->store, ino, &d->ids, &d->n)) {
		free(d);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	fi->fh = (uintptr_t)d;
	fi->cache_readdir = 0;
	if (fuse_reply_open(req, fi) == -ENOENT) {
		free(d->ids);
		free(d);
	}
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi, bool plus)
{
	struct co_mgr *m = mgr(req);
	struct co_dir *d = (struct co_dir *)(uintptr_t)fi->fh;
	char *buf = malloc(size), *p = buf;
	size_t rem = size;
	off_t i;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_lock(&m->lock);
	for (i = off; i < (off_t)d->n + 2; i++) {
		struct fuse_entry_param e;
		const char *name;
		struct co_node *n = NULL;
		size_t len;

		memset(&e, 0, sizeof(e));
		if (i < 2) {
			name = i ? ".." : ".";
			e.attr.st_ino = i ? 1 : ino;
			e.attr.st_mode = S_IFDIR;
		} else {
			n = co_node_get(m, d->ids[i - 2]);
			if (!n || !n->parent)
				continue;
			name = n->name;
			co_entry_of(m, n, &e);
		}
		if (plus)
			len = fuse_add_direntry_plus(req, p, rem, name, &e, i + 1);
		else
			len = fuse_add_direntry(req, p, rem, name, &e.attr, i + 1);
		if (len > rem)
			break;
		p += len;
		rem -= len;
	}
	pthread_mutex_unlock(&m->lock);
	fuse_reply_buf(req, buf, size - rem);
	free(buf);
}

static void co_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, false);
}

static void co_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, true);
}

static void co_releasedir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	struct co_dir *d = (struct co_dir *)(uintptr_t)fi->fh;

	if (d) {
		free(d->ids);
		free(d);
	}
	fuse_reply_err(req, 0);
}

static void co_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct co_mgr *m = mgr(req);
	struct statvfs sv;

	/* the local cache's room: what offline work can count on */
	if (fstatvfs(m->data_fd, &sv) < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_statfs(req, &sv);
}

/* the xattrs kept for @ino, fetched first while connected */
static int kept_xattrs(struct co_mgr *m, fuse_ino_t ino, fuse_req_t req,
		       const char *name, struct co_xattrs *x)
{
	struct co_node *n;
	bool known;
	int r;

	pthread_mutex_lock(&m->lock);
	n = co_node_get(m, ino);
	known = n && n->xattrs_known;
	pthread_mutex_unlock(&m->lock);
	if (!n)
		return -ESTALE;
	if (!known && co_mode_get(m) == CO_CONNECTED) {
		r = co_fetch_xattrs(m, ino, req);
		if (r < 0)
			return r;
		known = r == 0;
	}
	if (!known)
		/* an ACL not known offline: nobody can say who may */
		return name && !strncmp(name, "system.posix_acl", 16) ?
		       -CO_EPERM : -CO_EDISCON;
	return co_store_get_xattrs(m->store, ino, x);
}

static void co_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			size_t size)
{
	struct co_mgr *m = mgr(req);
	struct co_xattrs x;
	char vbuf[4096];
	size_t i;
	int r;

	if (!strncmp(name, CO_XATTR_PREFIX, strlen(CO_XATTR_PREFIX))) {
		/* what is said of an object is said of its current version */
		if (strcmp(name, CO_XATTR_PREFIX "mode") &&
		    strcmp(name, CO_XATTR_PREFIX "reason"))
			co_revalidate(m, ino, req);
		r = virtual_xattr(m, ino, name + strlen(CO_XATTR_PREFIX), vbuf,
				  sizeof(vbuf));
		if (r < 0)
			fuse_reply_err(req, -r);
		else if (!size)
			fuse_reply_xattr(req, (size_t)r);
		else if ((size_t)r > size)
			fuse_reply_err(req, ERANGE);
		else
			fuse_reply_buf(req, vbuf, (size_t)r);
		return;
	}
	r = kept_xattrs(m, ino, req, name, &x);
	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	for (i = 0; i < x.n; i++)
		if (!strcmp(x.v[i].name, name))
			break;
	if (i == x.n)
		fuse_reply_err(req, ENODATA);
	else if (!size)
		fuse_reply_xattr(req, x.v[i].size);
	else if (x.v[i].size > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, x.v[i].value, x.v[i].size);
	for (i = 0; i < x.n; i++) {
		free(x.v[i].name);
		free(x.v[i].value);
	}
	free(x.v);
}

static void co_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct co_mgr *m = mgr(req);
	struct co_xattrs x;
	size_t i, total = 0;
	char *buf, *p;
	int r = kept_xattrs(m, ino, req, NULL, &x);

	if (r < 0) {
		fuse_reply_err(req, -r);
		return;
	}
	for (i = 0; i < x.n; i++)
		total += strlen(x.v[i].name) + 1;
	buf = p = malloc(total ? total : 1);
	for (i = 0; buf && i < x.n; i++)
		p = stpcpy(p, x.v[i].name) + 1;
	if (!buf)
		fuse_reply_err(req, ENOMEM);
	else if (!size)
		fuse_reply_xattr(req, total);
	else if (total > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, buf, total);
	free(buf);
	for (i = 0; i < x.n; i++) {
		free(x.v[i].name);
		free(x.v[i].value);
	}
	free(x.v);
}

static void co_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			const char *value, size_t size, int flags)
{
	struct co_mgr *m = mgr(req);
	char v[32];

	if (strncmp(name, CO_XATTR_PREFIX, strlen(CO_XATTR_PREFIX))) {
		co_setxattr_origin(req, ino, name, value, size, flags);
		return;
	}
	if (strcmp(name, CO_XATTR_PREFIX "mode") || size >= sizeof(v)) {
		/* the others say what the manager knows: not settable */
		fuse_reply_err(req, EPERM);
		return;
	}
	memcpy(v, value, size);
	v[size] = '\0';
	if (!strcmp(v, "disconnected")) {
		co_mode_disconnect(m, "disconnected by request", true);
		fuse_reply_err(req, 0);
	} else if (!strcmp(v, "connected")) {
		fuse_reply_err(req, -co_mode_reconnect(m));
	} else {
		fuse_reply_err(req, EINVAL);
	}
}

const struct fuse_lowlevel_ops co_ops = {
	.init = co_init,
	.lookup = co_lookup,
	.forget = co_forget,
	.getattr = co_getattr,
	.readlink = co_readlink,
	.open = co_open,
	.read = co_read,
	.release = co_release,
	.opendir = co_opendir,
	.readdir = co_readdir,
	.readdirplus = co_readdirplus,
	.releasedir = co_releasedir,
	.statfs = co_statfs,
	.getxattr = co_getxattr,
	.listxattr = co_listxattr,
	.setxattr = co_setxattr,
	/* the changing operations (write.c) */
	.write = co_write,
	.flush = co_flush,
	.fsync = co_fsync,
	.fsyncdir = co_fsyncdir,
	.setattr = co_setattr,
	.mknod = co_mknod,
	.mkdir = co_mkdir,
	.unlink = co_unlink,
	.rmdir = co_rmdir,
	.symlink = co_symlink,
	.rename = co_rename,
	.link = co_link,
	.create = co_create,
	.removexattr = co_removexattr,
};
