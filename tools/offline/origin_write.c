// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The origin's changing calls, run by the workers of origin.c under the
 * same deadline as every other origin call. Each runs as the user who
 * asked: a per-user manager is that user already; one running as root
 * (allow_other) takes the caller's fsuid/fsgid for the call, per thread,
 * so the origin's own permission checks and new files' owners are the
 * caller's. Each leaves the object's attributes after the change in j->st
 * (and, for name operations, the parent directories' in j->pst, pst2), so the
 * cache records the version its own change made rather than taking it for
 * someone else's next time it looks.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "offline.h"

static const char *rel(const char *p)
{
	return p && *p ? p : ".";
}

struct cred {
	bool switched;
};

static void as_user(const struct co_job *j, struct cred *c)
{
	c->switched = false;
	if (geteuid() != 0 || j->cred_uid == (uid_t)-1 || j->cred_uid == 0)
		return;
	/* setfsuid(2) is per thread: only this worker's calls change */
	setfsgid(j->cred_gid);
	setfsuid(j->cred_uid);
	c->switched = true;
}

static void as_self(struct cred *c)
{
	if (!c->switched)
		return;
	setfsuid(0);
	setfsgid(0);
}

/* the directory part of @path, "" for the root */
static int parent_stat(struct co_mgr *m, const char *path, struct stat *st)
{
	const char *slash = path ? strrchr(path, '/') : NULL;
	char dir[4096];
	int r;

	if (!slash) {
		r = fstatat(m->root_fd, "", st, AT_EMPTY_PATH);
	} else {
		if ((size_t)(slash - path) >= sizeof(dir))
			return -ENAMETOOLONG;
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = '\0';
		r = fstatat(m->root_fd, dir, st, AT_SYMLINK_NOFOLLOW);
	}
	return r < 0 ? -errno : 0;
}

static int lstat_rel(struct co_mgr *m, const char *path, struct stat *st)
{
	return fstatat(m->root_fd, rel(path), st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

/* the flags an origin fd for writing is opened with: O_APPEND's offsets
 * are the kernel's, so the cache's copy is written where the origin's is */
static int write_flags(int flags)
{
	return (flags & (O_ACCMODE | O_SYNC | O_DSYNC)) | O_NOFOLLOW | O_CLOEXEC;
}

int co_job_create(struct co_mgr *m, struct co_job *j)
{
	struct cred c;
	int r = 0;

	as_user(j, &c);
	j->fd = openat(m->root_fd, rel(j->path),
		       write_flags(j->flags) | O_CREAT | (j->flags & O_EXCL),
		       j->mode & 07777);
	if (j->fd < 0)
		r = -errno;
	as_self(&c);
	if (r)
		return r;
	if (fstat(j->fd, &j->st) < 0)
		return -errno;
	parent_stat(m, j->path, &j->pst);
	j->xerr = co_job_xattrs(m, j);
	return 0;
}

int co_job_open_write(struct co_mgr *m, struct co_job *j)
{
	struct cred c;
	int r = 0;

	as_user(j, &c);
	j->fd = openat(m->root_fd, rel(j->path),
		       write_flags(j->flags) | (j->flags & O_TRUNC));
	if (j->fd < 0)
		r = -errno;
	as_self(&c);
	if (r)
		return r;
	return fstat(j->fd, &j->st) < 0 ? -errno : 0;
}

/*
 * j->size bytes of j->buf at j->off through j->fd. j->st2 the attributes
 * before, j->st after: the cache tells its own change from another
 * writer's by them, as NFS's weak cache consistency does.
 */
int co_job_write(struct co_mgr *m, struct co_job *j)
{
	size_t done = 0;

	if (fstat(j->fd, &j->st2) < 0)
		return -errno;
	while (done < j->size) {
		ssize_t n = pwrite(j->fd, (char *)j->buf + done, j->size - done,
				   (off_t)(j->off + done));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (done)
				break;
			return -errno;
		}
		done += (size_t)n;
	}
	j->len = done;
	return fstat(j->fd, &j->st) < 0 ? -errno : 0;
}

/* j->valid of FUSE_SET_ATTR_*: size first (it changes mtime), then the
 * owner (which clears set-id bits), the mode, the times */
int co_job_setattr(struct co_mgr *m, struct co_job *j)
{
	struct cred c;
	int r = 0;

	as_user(j, &c);
	if (j->valid & FUSE_SET_ATTR_SIZE) {
		int fd = j->fd;

		if (fd < 0)
			fd = openat(m->root_fd, rel(j->path),
				    O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 || ftruncate(fd, (off_t)j->off) < 0)
			r = -errno;
		if (fd >= 0 && fd != j->fd)
			close(fd);
	}
	if (!r && (j->valid & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) &&
	    fchownat(m->root_fd, rel(j->path),
		     j->valid & FUSE_SET_ATTR_UID ? j->uid : (uid_t)-1,
		     j->valid & FUSE_SET_ATTR_GID ? j->gid : (gid_t)-1,
		     AT_SYMLINK_NOFOLLOW) < 0)
		r = -errno;
	if (!r && (j->valid & FUSE_SET_ATTR_MODE)) {
		/* the kernel never sends a symlink's mode; an fd keeps it the
		 * object checked, and fchmodat has no NOFOLLOW on this libc */
		if (j->fd >= 0)
			r = fchmod(j->fd, j->mode & 07777) < 0 ? -errno : 0;
		else
			r = fchmodat(m->root_fd, rel(j->path), j->mode & 07777, 0) < 0 ?
			    -errno : 0;
	}
	if (!r && (j->valid & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME))) {
		struct timespec t[2] = { j->times[0], j->times[1] };

		if (!(j->valid & FUSE_SET_ATTR_ATIME))
			t[0].tv_nsec = UTIME_OMIT;
		else if (j->valid & FUSE_SET_ATTR_ATIME_NOW)
			t[0].tv_nsec = UTIME_NOW;
		if (!(j->valid & FUSE_SET_ATTR_MTIME))
			t[1].tv_nsec = UTIME_OMIT;
		else if (j->valid & FUSE_SET_ATTR_MTIME_NOW)
			t[1].tv_nsec = UTIME_NOW;
		if (j->fd >= 0)
			r = futimens(j->fd, t) < 0 ? -errno : 0;
		else
			r = utimensat(m->root_fd, rel(j->path), t,
				      AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
	}
	as_self(&c);
	if (r)
		return r;
	if (j->fd >= 0)
		r = fstat(j->fd, &j->st) < 0 ? -errno : 0;
	else
		r = lstat_rel(m, j->path, &j->st);
	/* a mode change moves an ACL's mask: what the origin has now */
	if (!r && (j->valid & FUSE_SET_ATTR_MODE))
		j->xerr = co_job_xattrs(m, j);
	return r;
}

/* a name operation done: the new object's and the parent's attributes */
static int made(struct co_mgr *m, struct co_job *j, int r)
{
	if (r)
		return r;
	r = lstat_rel(m, j->path, &j->st);
	if (r)
		return r;
	parent_stat(m, j->path, &j->pst);
	/* a new object's xattrs (inherited ACLs): known from the start */
	j->xerr = co_job_xattrs(m, j);
	return 0;
}

int co_job_mknod(struct co_mgr *m, struct co_job *j)
{
	struct cred c;
	int r;

	as_user(j, &c);
	r = mknodat(m->root_fd, rel(j->path), j->mode, j->rdev) < 0 ? -errno : 0;
	as_self(&c);
	return made(m, j, r);
}

int co_job_mkdir(struct co_mgr *m, struct co_job *j)
{
	struct cred c;
	int r;

	as_user(j, &c);
	r = mkdirat(m->root_fd, rel(j->path), j->mode & 07777) < 0 ? -errno : 0;
	as_self(&c);
	return made(m, j, r);
}

int co_job_symlink(struct co_mgr *m, struct co_job *j)
{
	struct cred c;
	int r;

	as_user(j, &c);
	r = symlinkat(j->target, m->root_fd, rel(j->path)) < 0 ? -errno : 0;
	as_self(&c);
	return made(m, j, r);
}

/* j->path2 gets another name: j->path */
int co_job_link(struct co_mgr *m, struct co_job *j)
{
	struct cred c;
	int r;

	as_user(j, &c);
	r = linkat(m->root_fd, rel(j->path2), m->root_fd, rel(j->path), 0) < 0 ?
	    -errno : 0;
	as_self(&c);
	return made(m, j, r);
}

int co_job_unlink(struct co_mgr *m, struct co_job *j)
{
	struct cred c;
	int r;

	as_user(j, &c);
	r = unlinkat(m->root_fd, rel(j->path), 0) < 0 ? -errno : 0;
	as_self(&c);
	if (!r)
		parent_stat(m, j->path, &j->pst);
	return r;
}

int co_job_rmdir(struct co_mgr *m, struct co_job *j)
{
	struct cred c;
	int r;

	as_user(j, &c);
	r = unlinkat(m->root_fd, rel(j->path), AT_REMOVEDIR) < 0 ? -errno : 0;
	as_self(&c);
	if (!r)
		parent_stat(m, j->path, &j->pst);
	return r;
}

/*
 * j->path to j->path2 with renameat2's j->flags. After it, j->st is the
 * object now at j->path2 and, for RENAME_EXCHANGE, j->st2 the one now at
 * j->path.
 */
int co_job_rename(struct co_mgr *m, struct co_job *j)
{
	struct cred c;
	int r;

	as_user(j, &c);
	r = renameat2(m->root_fd, rel(j->path), m->root_fd, rel(j->path2),
		      (unsigned int)j->flags) < 0 ? -errno : 0;
	as_self(&c);
	if (r)
		return r;
	r = lstat_rel(m, j->path2, &j->st);
	if (!r && (j->flags & RENAME_EXCHANGE))
		r = lstat_rel(m, j->path, &j->st2);
	parent_stat(m, j->path, &j->pst);
	parent_stat(m, j->path2, &j->pst2);
	return r;
}

/* by the fd-relative /proc path, as co_job_xattrs reads them; then the
 * object's xattrs again, so the cache keeps what the origin now has */
int co_job_setxattr(struct co_mgr *m, struct co_job *j)
{
	char path[4200];
	struct cred c;
	int r;

	snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", m->root_fd, rel(j->path));
	as_user(j, &c);
	r = lsetxattr(path, j->xname, j->buf, j->size, j->flags) < 0 ? -errno : 0;
	as_self(&c);
	if (r)
		return r;
	r = lstat_rel(m, j->path, &j->st);
	if (!r)
		j->xerr = co_job_xattrs(m, j);
	return r;
}

int co_job_removexattr(struct co_mgr *m, struct co_job *j)
{
	char path[4200];
	struct cred c;
	int r;

	snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", m->root_fd, rel(j->path));
	as_user(j, &c);
	r = lremovexattr(path, j->xname) < 0 ? -errno : 0;
	as_self(&c);
	if (r)
		return r;
	r = lstat_rel(m, j->path, &j->st);
	if (!r)
		j->xerr = co_job_xattrs(m, j);
	return r;
}

/* close(2) of a duplicate: where NFS reports delayed write errors */
int co_job_flush(struct co_mgr *m, struct co_job *j)
{
	int fd = j->fd;

	j->fd = -1;
	return close(fd) < 0 ? -errno : 0;
}

/* j->fd, or the directory j->path when there is none */
int co_job_fsync(struct co_mgr *m, struct co_job *j)
{
	int r;

	if (j->fd < 0) {
		j->fd = openat(m->root_fd, rel(j->path),
			       O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (j->fd < 0)
			return -errno;
	}
	r = j->flags ? fdatasync(j->fd) : fsync(j->fd);
	return r < 0 ? -errno : 0;
}

/* the last close of an origin fd, which NFS may hold on the server */
int co_job_close(struct co_mgr *m, struct co_job *j)
{
	return co_job_flush(m, j);
}
