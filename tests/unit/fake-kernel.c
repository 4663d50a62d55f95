// SPDX-License-Identifier: LGPL-2.1-or-later
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "fake-kernel.h"
#include "uapi-cachectl.h"

struct fake_kernel fk;
struct fake_tree ft;

#define PS 4096ull

void fake_reset(uint64_t size)
{
	memset(&fk, 0, sizeof(fk));
	fk.size = size;
	fk.blocks = (size + 511) / 512;
	fk.ra_cap = 8ull << 20;
	fk.syscall = fake_kernel_backend();
}

bool fake_kernel_backend(void)
{
	const char *b = getenv("CACHECTL_BACKEND");

	return b && !strcmp(b, "kernel");
}

struct cachectl_ctx *fake_ctx_new(const char *backend)
{
	const char *env = getenv("CACHECTL_BACKEND");
	char *saved = env ? strdup(env) : NULL;
	struct cachectl_ctx *ctx = NULL;

	if (backend)
		setenv("CACHECTL_BACKEND", backend, 1);
	else
		unsetenv("CACHECTL_BACKEND");
	if (cachectl_new(&ctx) < 0)
		ctx = NULL;
	if (saved)
		setenv("CACHECTL_BACKEND", saved, 1);
	else
		unsetenv("CACHECTL_BACKEND");
	free(saved);
	if (ctx)
		cachectl__ctx_set_sysops(ctx, &fake_sysops);
	return ctx;
}

static void range_pages(uint64_t off, uint64_t len, uint64_t *a, uint64_t *b)
{
	uint64_t end = len ? off + len : fk.size;

	if (end > fk.size)
		end = fk.size;
	*a = off / PS;
	*b = (end + PS - 1) / PS;
	if (*b > FAKE_PAGES)
		*b = FAKE_PAGES;
}

uint64_t fake_resident_bytes(uint64_t off, uint64_t len)
{
	uint64_t a, b, n = 0;

	range_pages(off, len, &a, &b);
	for (; a < b; a++)
		n += fk.resident[a];
	return n * PS;
}

static int f_cachestat(int fd, uint64_t off, uint64_t len,
		       struct cachestat *cs)
{
	fk.cachestat_calls++;
	if (fd < 0)
		return fk.cachestat_err == -ENOSYS ? -ENOSYS : -EBADF;
	if (fk.cachestat_err)
		return fk.cachestat_err;
	memset(cs, 0, sizeof(*cs));
	cs->nr_cache = fake_resident_bytes(off, len) / PS;
	return 0;
}

uint64_t fake_fscache_bytes(uint64_t off, uint64_t len)
{
	uint64_t a, b, n = 0;

	range_pages(off, len, &a, &b);
	for (; a < b; a++)
		n += fk.fscache[a];
	return n * PS;
}

static bool in_extent(uint64_t page);

/* mincore's vector over [off, off+len), off page-aligned */
static int f_mincore_vec(int fd, uint64_t off, uint64_t len,
			 unsigned char *vec)
{
	uint64_t p, n = (len + PS - 1) / PS;

	fk.mincore_calls++;
	for (p = 0; p < n; p++)
		vec[p] = off / PS + p < FAKE_PAGES && fk.resident[off / PS + p];
	return 0;
}

static long f_fcachectl(int fd, unsigned int op, struct kcachectl_args *a)
{
	uint64_t p, e;

	if (!fk.syscall)
		return -ENOSYS;
	if (op < 8)
		fk.kcalls[op]++;
	if (op == KCACHECTL_OP_PROBE)
		return fk.probe_answer ? fk.probe_answer : KCACHECTL_PROBE_MAGIC;
	if (fd < 0)
		return -EBADF;
	fk.kflags = a->flags;
	if (op != KCACHECTL_OP_QUERY && !fk.object)
		return -EOPNOTSUPP;
	switch (op) {
	case KCACHECTL_OP_PREFETCH:
		range_pages(a->offset, a->length, &p, &e);
		for (; p < e; p++) {
			if (!in_extent(p))
				fk.hole_pages++;
			fk.resident[p] = fk.fscache[p] = true;
		}
		break;
	case KCACHECTL_OP_PIN:
	case KCACHECTL_OP_UNPIN:
		fk.kpinned = op == KCACHECTL_OP_PIN;
		return 0;
	}
	/* QUERY, and PREFETCH's answer */
	a->pagecache_bytes = fake_resident_bytes(a->offset, a->length);
	a->fscache_bytes = fk.object ? fake_fscache_bytes(a->offset, a->length) : 0;
	a->dirty_bytes = a->writeback_bytes = 0;
	a->file_size = fk.size;
	a->state = fk.object ? KCACHECTL_STATE_HAS_CACHE : 0;
	if (fk.kpinned)
		a->state |= KCACHECTL_STATE_PINNED;
	if (fk.nocull)
		a->state |= KCACHECTL_STATE_CULL_DISABLED;
	a->cache_id = fk.object ? 0x2a : 0;
	return 0;
}

/* The cache daemon's device: what a cachefiles with the series answers. */
static int f_cachefiles_cmd(const char *cmd)
{
	snprintf(fk.daemon_cmd, sizeof(fk.daemon_cmd), "%s", cmd);
	if (fk.daemon_err)
		return fk.daemon_err;
	if (!strcmp(cmd, "nocull"))
		fk.nocull = true;
	else if (!strcmp(cmd, "cull"))
		fk.nocull = false;
	else
		return -EINVAL;
	return 0;
}

static int f_mincore(int fd, uint64_t off, uint64_t len, uint64_t *pages)
{
	fk.mincore_calls++;
	*pages = fake_resident_bytes(off, len) / PS;
	return 0;
}

static bool in_extent(uint64_t page)
{
	int i;

	if (!fk.ext[0][1])
		return true;
	for (i = 0; i < 8 && fk.ext[i][1]; i++)
		if (page * PS >= fk.ext[i][0] && page * PS < fk.ext[i][1])
			return true;
	return false;
}

static int f_fadvise(int fd, uint64_t off, uint64_t len, int advice)
{
	uint64_t a, b, n = 0;

	if (fk.ncalls < 256)
		fk.calls[fk.ncalls++] = (struct fake_call){ advice, off, len };
	range_pages(off, len, &a, &b);
	for (; a < b; a++) {
		if (advice == POSIX_FADV_WILLNEED) {
			/* the kernel stops at the readahead window */
			if (n * PS >= fk.ra_cap)
				break;
			fk.resident[a] = true;
			if (!in_extent(a))
				fk.hole_pages++;
			n++;
		} else if (advice == POSIX_FADV_DONTNEED) {
			if (fk.pinned[a])
				continue;
			if (fk.settle > 0 && fk.resident[a] && (a % 2)) {
				continue;	/* still locked for I/O */
			}
			fk.resident[a] = false;
		}
	}
	if (advice == POSIX_FADV_DONTNEED && fk.settle > 0)
		fk.settle--;
	return 0;
}

static int64_t f_pread(int fd, void *buf, size_t len, uint64_t off)
{
	uint64_t a, b;

	if (off >= fk.size)
		return 0;
	if (off + len > fk.size)
		len = fk.size - off;
	range_pages(off, len, &a, &b);
	for (; a < b; a++)
		fk.resident[a] = true;
	if (fk.ncalls < 256)
		fk.calls[fk.ncalls++] = (struct fake_call){ -1, off, len };
	return (int64_t)len;
}

static int f_populate(int fd, uint64_t off, uint64_t len)
{
	uint64_t a, b;

	range_pages(off, len, &a, &b);
	for (; a < b; a++)
		if (!fk.resident[a])
			fk.populate_reads++;	/* would have read it */
	fk.populate_calls++;
	return 0;
}

/* ---- the tree ---------------------------------------------------------- */

int fake_tree_reset(const char *root)
{
	memset(&ft, 0, sizeof(ft));
	ft.count = 1;
	ft.n[0] = (struct fake_node){ .name = root, .type = S_IFDIR,
				      .parent = -1, .target = -1 };
	return 0;
}

int fake_tree_add(int parent, const char *name, mode_t type)
{
	int i = ft.count++;

	ft.n[i] = (struct fake_node){ .name = name, .type = type,
				      .parent = parent, .target = -1 };
	return i;
}

int fake_tree_link(int parent, const char *name, int target)
{
	int i = fake_tree_add(parent, name, S_IFLNK);

	ft.n[i].target = target;
	return i;
}

static int node_of_fd(int fd)
{
	return fd >= 0 && fd < 1024 ? ft.fdnode[fd] - 1 : -1;
}

/* @name in directory @dirfd: a node, -ENOENT, or -EBADF if not ours */
static int lookup(int dirfd, const char *name)
{
	int dir, i;

	if (!ft.count)
		return -EBADF;
	if (dirfd == AT_FDCWD)
		return strcmp(name, ft.n[0].name) ? -EBADF : 0;
	dir = node_of_fd(dirfd);
	if (dir < 0)
		return -EBADF;
	for (i = 1; i < ft.count; i++)
		if (ft.n[i].parent == dir && !strcmp(ft.n[i].name, name))
			return ft.n[i].vanished ? -ENOENT : i;
	return -ENOENT;
}

static int follow(int i)
{
	int hops;

	for (hops = 0; i >= 0 && ft.n[i].type == S_IFLNK; hops++) {
		if (hops == 8)
			return -ELOOP;
		i = ft.n[i].target < 0 ? -ENOENT : ft.n[i].target;
	}
	return i;
}

static void node_stat(int i, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_dev = 0xfa4e;
	st->st_ino = ft.n[i].ino ? ft.n[i].ino : (ino_t)i + 100;
	st->st_mode = ft.n[i].type | 0644;
	st->st_nlink = 1;
	st->st_uid = geteuid() + fk.foreign;
	st->st_blksize = 4096;
	if (ft.n[i].type == S_IFREG) {
		int j;

		for (j = 1; j < ft.count; j++)
			if (j != i && ft.n[j].type == S_IFREG &&
			    ft.n[j].ino && ft.n[j].ino == ft.n[i].ino)
				st->st_nlink++;
		st->st_size = (off_t)fk.size;
		st->st_blocks = (blkcnt_t)fk.blocks;
	}
}

static int f_openat(int dirfd, const char *name, int flags)
{
	int i = lookup(dirfd, name), fd;

	if (i == -EBADF) {
		fd = openat(dirfd, name, flags);
		return fd < 0 ? -errno : fd;
	}
	if (i < 0)
		return i;
	if (ft.n[i].type == S_IFLNK) {
		if (flags & O_NOFOLLOW)
			return -ELOOP;
		i = follow(i);
		if (i < 0)
			return i;
	}
	if ((flags & O_DIRECTORY) && ft.n[i].type != S_IFDIR)
		return -ENOTDIR;
	__atomic_add_fetch(&ft.n[i].opens, 1, __ATOMIC_RELAXED);
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fd >= 1024)
		return fd < 0 ? -errno : -EMFILE;
	ft.fdnode[fd] = i + 1;
	ft.fdpos[fd] = 0;
	return fd;
}

struct fake_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

static unsigned char dtype(const struct fake_node *n)
{
	if (n->unknown_type)
		return DT_UNKNOWN;
	switch (n->type) {
	case S_IFDIR:
		return DT_DIR;
	case S_IFREG:
		return DT_REG;
	case S_IFLNK:
		return DT_LNK;
	}
	return DT_FIFO;
}

static long f_getdents64(int fd, void *buf, size_t len)
{
	int dir = node_of_fd(fd), i;
	size_t used = 0;

	if (dir < 0) {
		long n = syscall(SYS_getdents64, fd, buf, len);

		return n < 0 ? -errno : n;
	}
	if (ft.getdents_err)
		return ft.getdents_err;
	for (i = ft.fdpos[fd] + 1; i < ft.count; i++) {
		struct fake_dirent64 *d = (void *)((char *)buf + used);
		size_t nlen = strlen(ft.n[i].name) + 1;
		size_t rec = (sizeof(*d) + nlen + 7) & ~(size_t)7;
		struct stat st;

		if (ft.n[i].parent != dir)
			continue;
		if (used + rec > len)
			break;
		node_stat(i, &st);
		d->d_ino = st.st_ino;
		d->d_off = i;
		d->d_reclen = (unsigned short)rec;
		d->d_type = dtype(&ft.n[i]);
		memcpy(d->d_name, ft.n[i].name, nlen);
		used += rec;
		ft.fdpos[fd] = i;
	}
	return (long)used;
}

static int f_fstatat(int dirfd, const char *name, struct stat *st, int flags)
{
	int i = lookup(dirfd, name);

	if (i == -EBADF)
		return fstatat(dirfd, name, st, flags) < 0 ? -errno : 0;
	if (i < 0)
		return i;
	if (!(flags & AT_SYMLINK_NOFOLLOW))
		i = follow(i);
	if (i < 0)
		return i;
	node_stat(i, st);
	return 0;
}

static int f_fstat(int fd, struct stat *st)
{
	int i = node_of_fd(fd);

	if (i >= 0) {
		node_stat(i, st);
		return 0;
	}
	if (fstat(fd, st) < 0)
		return -errno;
	if (S_ISREG(st->st_mode)) {
		st->st_size = (off_t)fk.size;
		st->st_blocks = (blkcnt_t)fk.blocks;
		if (fk.foreign)
			st->st_uid = geteuid() + 1;
	}
	return 0;
}

static int f_statfs(const char *path, struct statfs *sf)
{
	if (ft.count && !strcmp(path, ft.n[0].name)) {
		memset(sf, 0, sizeof(*sf));
		sf->f_type = 0xef53;	/* ext4: local */
		return 0;
	}
	return statfs(path, sf) < 0 ? -errno : 0;
}

static int64_t f_seek(int fd, uint64_t off, int whence)
{
	int i;

	if (!fk.ext[0][1])
		return whence == SEEK_DATA ? (int64_t)off : (int64_t)fk.size;
	for (i = 0; i < 8 && fk.ext[i][1]; i++) {
		if (whence == SEEK_DATA && off < fk.ext[i][1])
			return (int64_t)(off > fk.ext[i][0] ? off : fk.ext[i][0]);
		if (whence == SEEK_HOLE && off < fk.ext[i][1] &&
		    off >= fk.ext[i][0])
			return (int64_t)fk.ext[i][1];
	}
	return whence == SEEK_DATA ? -ENXIO : (int64_t)fk.size;
}

static int f_access_write(int fd)
{
	return fk.access_err;
}

/* a plain disk filesystem: nothing stacked */
static int f_fstatfs(int fd, struct statfs *sf)
{
	memset(sf, 0, sizeof(*sf));
	sf->f_type = 0xEF53;
	return 0;
}

static int f_has_cap(int cap)
{
	return fk.caps & (1ull << cap) ? 1 : 0;
}

static void f_nap(unsigned int ms)
{
}

const struct cachectl_sysops fake_sysops = {
	.cachestat = f_cachestat,
	.fcachectl = f_fcachectl,
	.cachefiles_cmd = f_cachefiles_cmd,
	.mincore = f_mincore,
	.mincore_vec = f_mincore_vec,
	.fadvise = f_fadvise,
	.pread = f_pread,
	.populate = f_populate,
	.fstat = f_fstat,
	.statfs = f_statfs,
	.fstatfs = f_fstatfs,
	.openat = f_openat,
	.getdents64 = f_getdents64,
	.fstatat = f_fstatat,
	.seek = f_seek,
	.access_write = f_access_write,
	.has_cap = f_has_cap,
	.nap = f_nap,
};
