// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The kernel seam: the real system calls. Unit tests replace this table,
 * which is why nothing else in lib/ calls these syscalls directly.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/capability.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/xattr.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cachectl-private.h"
#include "uapi-cachectl.h"

static int sys_cachestat(int fd, uint64_t off, uint64_t len,
			 struct cachestat *cs)
{
	struct cachestat_range r = { .off = off, .len = len };

	if (syscall(__NR_cachestat, fd, &r, cs, 0) < 0)
		return -errno;
	return 0;
}

/*
 * PREFETCH with WAIT can sleep for a long time on a slow server; EINTR
 * only comes from a fatal signal, which ends us anyway.
 */
static long sys_fcachectl(int fd, unsigned int op, struct kcachectl_args *args)
{
	long r = syscall(KCACHECTL_NR, fd, op, args,
			 args ? sizeof(*args) : (size_t)0);

	return r < 0 ? -errno : r;
}

/* mincore needs a mapping; map in windows so the vector stays small. */
#define MINCORE_WINDOW (256ull << 20)

static int sys_mincore(int fd, uint64_t off, uint64_t len, uint64_t *pages)
{
	long ps = sysconf(_SC_PAGESIZE);
	uint64_t start = off & ~((uint64_t)ps - 1);
	uint64_t end = off + len;
	unsigned char *vec;
	uint64_t n = 0;
	int r = 0;

	vec = malloc(MINCORE_WINDOW / ps);
	if (!vec)
		return -ENOMEM;
	while (start < end) {
		uint64_t w = MIN(MINCORE_WINDOW, end - start);
		size_t np = (w + ps - 1) / ps, i;
		void *m;

		m = mmap(NULL, w, PROT_NONE, MAP_SHARED, fd, (off_t)start);
		if (m == MAP_FAILED) {
			r = -errno;
			break;
		}
		if (mincore(m, w, vec) < 0) {
			r = -errno;
			munmap(m, w);
			break;
		}
		munmap(m, w);
		for (i = 0; i < np; i++)
			n += vec[i] & 1;
		start += w;
	}
	free(vec);
	*pages = n;
	return r;
}

/* The residency vector of [off, off+len), off page-aligned, one mapping. */
static int sys_mincore_vec(int fd, uint64_t off, uint64_t len,
			   unsigned char *vec)
{
	void *m;
	int r = 0;

	m = mmap(NULL, len, PROT_NONE, MAP_SHARED, fd, (off_t)off);
	if (m == MAP_FAILED)
		return -errno;
	if (mincore(m, len, vec) < 0)
		r = -errno;
	munmap(m, len);
	return r;
}

static int sys_fadvise(int fd, uint64_t off, uint64_t len, int advice)
{
	return -posix_fadvise(fd, (off_t)off, (off_t)len, advice);
}

static int64_t sys_pread(int fd, void *buf, size_t len, uint64_t off)
{
	ssize_t n = pread(fd, buf, len, (off_t)off);

	return n < 0 ? -errno : n;
}

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

/* Fault a range in (waiting for its I/O) without copying it out. */
static int sys_populate(int fd, uint64_t off, uint64_t len)
{
	long ps = sysconf(_SC_PAGESIZE);
	uint64_t start = off & ~((uint64_t)ps - 1);
	size_t maplen = (size_t)(off + len - start);
	char *m, buf[4096];
	uint64_t o;
	int r = 0;

	m = mmap(NULL, maplen, PROT_READ, MAP_SHARED, fd, (off_t)start);
	if (m == MAP_FAILED)
		return -errno;
	while (madvise(m, maplen, MADV_POPULATE_READ) < 0) {
		r = -errno;
		if (r == -EINTR) {
			r = 0;
			continue;
		}
		/* past a shrunken end of file: nothing left to wait for */
		if (r == -EFAULT)
			r = 0;
		break;
	}
	munmap(m, maplen);
	if (r != -EINVAL)
		return r;
	/* before Linux 5.14: one byte per page also waits for each page */
	for (o = start, r = 0; o < off + len && r == 0; o += (uint64_t)ps)
		if (pread(fd, buf, 1, (off_t)o) < 0)
			r = -errno;
	return r;
}

/*
 * On FUSE a request ends in EINTR whenever the thread has a signal or
 * task work pending while it waits, including the io-wq's requests to
 * create workers: calls that may be such a round trip are retried.
 */
static int sys_fstat(int fd, struct stat *st)
{
	int r;

	do
		r = fstat(fd, st);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : 0;
}

/*
 * The walk's calls: on FUSE a request ends in EINTR whenever a signal
 * (even a stop) or io-wq task work comes while it waits.
 */
static int sys_openat(int dirfd, const char *name, int flags)
{
	int fd;

	do
		fd = openat(dirfd, name, flags);
	while (fd < 0 && errno == EINTR);
	return fd < 0 ? -errno : fd;
}

static long sys_getdents64(int fd, void *buf, size_t len)
{
	long n;

	do
		n = syscall(SYS_getdents64, fd, buf, len);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

static int sys_fstatat(int dirfd, const char *name, struct stat *st, int flags)
{
	int r;

	do
		r = fstatat(dirfd, name, st, flags);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : 0;
}

static int sys_statfs(const char *path, struct statfs *sf)
{
	int r;

	do
		r = statfs(path, sf);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : 0;
}

static int sys_fstatfs(int fd, struct statfs *sf)
{
	int r;

	do
		r = fstatfs(fd, sf);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : 0;
}

static int sys_fd_path(int fd, char *buf, size_t len)
{
	struct statx stx;
	char p[64];
	ssize_t n;

	if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_MNT_ID,
		  &stx) < 0)
		return -errno;
	if (!(stx.stx_mask & STATX_MNT_ID))
		return -EOPNOTSUPP;
	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	n = readlink(p, buf, len);
	if (n < 0)
		return -errno;
	if ((size_t)n >= len)
		return -ENAMETOOLONG;
	buf[n] = '\0';
	return (int)stx.stx_mnt_id;
}

static int64_t sys_getxattr(const char *path, const char *name, void *buf,
			    size_t len)
{
	ssize_t n = lgetxattr(path, name, buf, len);

	return n < 0 ? -errno : n;
}

static int sys_close(int fd)
{
	return close(fd) < 0 ? -errno : 0;
}

static int64_t sys_seek(int fd, uint64_t off, int whence)
{
	off_t r;

	do
		r = lseek(fd, (off_t)off, whence);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

/* mincore answers truthfully only where the caller could write the file. */
static int sys_access_write(int fd)
{
	char p[64];

	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	return faccessat(AT_FDCWD, p, W_OK, AT_EACCESS) < 0 ? -errno : 0;
}

/* 1 if the capability is in our effective set, 0 if not, <0 on error. */
static int sys_has_cap(int cap)
{
	cap_flag_value_t v = CAP_CLEAR;
	cap_t caps = cap_get_proc();
	int r;

	if (!caps)
		return -errno;
	r = cap_get_flag(caps, cap, CAP_EFFECTIVE, &v);
	cap_free(caps);
	if (r < 0)
		return -EINVAL;
	return v == CAP_SET;
}

static void sys_nap(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
			       .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

const struct cachectl_sysops cachectl__default_sysops = {
	.cachestat = sys_cachestat,
	.fcachectl = sys_fcachectl,
	.cachefiles_cmd = cachectl__cachefiles_cmd,
	.mincore = sys_mincore,
	.mincore_vec = sys_mincore_vec,
	.fadvise = sys_fadvise,
	.pread = sys_pread,
	.populate = sys_populate,
	.fstat = sys_fstat,
	.statfs = sys_statfs,
	.fstatfs = sys_fstatfs,
	.fd_path = sys_fd_path,
	.getxattr = sys_getxattr,
	.close = sys_close,
	.openat = sys_openat,
	.getdents64 = sys_getdents64,
	.fstatat = sys_fstatat,
	.seek = sys_seek,
	.access_write = sys_access_write,
	.has_cap = sys_has_cap,
	.nap = sys_nap,
};
