// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * slowfs: a FUSE passthrough filesystem that injects latency, a bandwidth
 * cap, EIO on chosen paths and "server gone" states, so that tests and
 * benchmarks can see how cachectl behaves on a slow or failing network
 * filesystem without needing one.
 *
 * Every FUSE request is passed to a backing directory with the *at()
 * system calls relative to one directory descriptor, so the backing
 * directory may even lie under the mount point. The faults are applied in
 * the worker thread that serves the request, with nanosleep and never a
 * busy wait, so concurrent requests overlap exactly as they would against
 * a real server with that round-trip time.
 *
 * The high-level API is used for brevity. It maps a request to one
 * callback almost always; the exceptions (create = create + getattr,
 * setattr = chmod/chown/truncate/utimens) only matter for writes, which
 * the tests do through the backing directory anyway.
 */

#define FUSE_USE_VERSION 314

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <fuse.h>
#include <fuse_lowlevel.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/sysmacros.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define NSEC_PER_SEC	1000000000LL
#define NSEC_PER_MSEC	1000000LL
#define GONE_POLL_NS	(10 * NSEC_PER_MSEC)

enum gone_mode {
	GONE_NONE,
	GONE_ENOTCONN,
	GONE_BLOCK,
};

static struct {
	int root_fd;
	struct fuse *fuse;
	struct fuse_session *se;

	/* changed at any time by the control thread: read once per op */
	atomic_llong latency_ns;
	atomic_llong jitter_ns;
	atomic_int gone;
	double gone_timeout;

	/*
	 * Bandwidth: one shared timeline. A read of n bytes reserves n/rate
	 * seconds starting when the link is next free, so the sum over all
	 * threads never exceeds the rate, and sleeps until its slot ends
	 * outside the lock.
	 */
	pthread_mutex_t bw_lock;
	double bw_rate;			/* bytes/s, 0 = no cap */
	long long bw_next_ns;		/* CLOCK_MONOTONIC when the link is free */

	pthread_rwlock_t eio_lock;
	char **eio_globs;
	size_t n_eio;

	/* counters for `stats` */
	atomic_ullong ops;
	atomic_ullong reads;
	atomic_ullong bytes_read;
	atomic_ullong eio_hits;
	atomic_ullong interrupted;
	atomic_llong inflight;
	atomic_llong max_inflight;
	atomic_ullong max_read_size;
	unsigned kernel_max_readahead;	/* what the kernel offered at INIT */
	bool readdirplus;

	int ready_fd;
	long read_ahead_kb;
	bool read_ahead_set;		/* by the user: failing to set it is fatal */
	const char *control_path;
	int control_fd;
	volatile sig_atomic_t stopping;
} S = {
	.root_fd = -1,
	.gone_timeout = 60.0,
	.bw_lock = PTHREAD_MUTEX_INITIALIZER,
	.eio_lock = PTHREAD_RWLOCK_INITIALIZER,
	.ready_fd = -1,
	.read_ahead_kb = 1024,
	.control_fd = -1,
};

static long long mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

static struct timespec ns_to_ts(long long ns)
{
	struct timespec ts = {
		.tv_sec = ns / NSEC_PER_SEC,
		.tv_nsec = ns % NSEC_PER_SEC,
	};

	return ts;
}

/*
 * Sleeps until the CLOCK_MONOTONIC deadline. Signals (the `intr` signal
 * libfuse sends to a worker whose request was interrupted, SIGTERM) wake
 * it early: then -EINTR if the request was interrupted, so a killed
 * client is answered at once instead of after the whole delay.
 */
static int sleep_until(long long deadline)
{
	struct timespec ts = ns_to_ts(deadline);

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
		if (fuse_interrupted()) {
			atomic_fetch_add(&S.interrupted, 1);
			return -EINTR;
		}
		if (S.stopping)
			return -ENOTCONN;
	}
	return 0;
}

/* xorshift64*, one state per worker thread, for the jitter only */
static uint64_t rand_u64(void)
{
	static __thread uint64_t state;
	uint64_t x;

	if (!state)
		state = (uint64_t)mono_ns() ^ ((uint64_t)gettid() << 32) ^ 0x9e3779b97f4a7c15ULL;
	x = state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	state = x;
	return x * 0x2545f4914f6cdd1dULL;
}

/*
 * `gone block`: hold the request, polling, until `back`, the timeout, an
 * interrupt or shutdown. Polling keeps this free of wakeup plumbing; 10 ms
 * is far below any timeout a test measures.
 */
static int gone_wait(int mode)
{
	long long deadline = mono_ns() + (long long)(S.gone_timeout * NSEC_PER_SEC);

	for (;;) {
		struct timespec ts = ns_to_ts(GONE_POLL_NS);

		if (mode == GONE_NONE)
			return 0;
		if (mode == GONE_ENOTCONN)
			return -ENOTCONN;
		if (fuse_interrupted()) {
			atomic_fetch_add(&S.interrupted, 1);
			return -EINTR;
		}
		if (S.stopping || fuse_session_exited(S.se))
			return -ENOTCONN;
		if (mono_ns() >= deadline)
			return -ENOTCONN;
		nanosleep(&ts, NULL);
		mode = atomic_load(&S.gone);
	}
}

/* Called first by every operation: count it, then apply gone and latency. */
static int op_begin(void)
{
	long long n, max, delay;
	int mode, err;

	atomic_fetch_add(&S.ops, 1);
	n = atomic_fetch_add(&S.inflight, 1) + 1;
	max = atomic_load(&S.max_inflight);
	while (n > max && !atomic_compare_exchange_weak(&S.max_inflight, &max, n))
		;

	mode = atomic_load(&S.gone);
	if (mode != GONE_NONE) {
		err = gone_wait(mode);
		if (err)
			return err;
	}

	delay = atomic_load(&S.latency_ns);
	if (atomic_load(&S.jitter_ns) > 0)
		delay += (long long)(rand_u64() % (uint64_t)(atomic_load(&S.jitter_ns) + 1));
	if (delay > 0)
		return sleep_until(mono_ns() + delay);
	return 0;
}

/* Called last by every operation with its result, which it passes on. */
static int op_end(int err)
{
	atomic_fetch_sub(&S.inflight, 1);
	return err;
}

static void stats_reset(void)
{
	atomic_store(&S.ops, 0);
	atomic_store(&S.reads, 0);
	atomic_store(&S.bytes_read, 0);
	atomic_store(&S.eio_hits, 0);
	atomic_store(&S.interrupted, 0);
	atomic_store(&S.max_inflight, atomic_load(&S.inflight));
	atomic_store(&S.max_read_size, 0);
}

/* Reserves n bytes on the shared link and sleeps until they have "arrived". */
static int bw_throttle(size_t n, long long t_start)
{
	long long end;

	if (!n)
		return 0;
	pthread_mutex_lock(&S.bw_lock);
	if (S.bw_rate <= 0) {
		pthread_mutex_unlock(&S.bw_lock);
		return 0;
	}
	/* an idle link banks no credit: a burst after a pause is still capped */
	if (S.bw_next_ns < t_start)
		S.bw_next_ns = t_start;
	S.bw_next_ns += (long long)((double)n * NSEC_PER_SEC / S.bw_rate);
	end = S.bw_next_ns;
	pthread_mutex_unlock(&S.bw_lock);
	return sleep_until(end);
}

static bool eio_match(const char *path)
{
	bool hit = false;
	size_t i;

	if (!path)
		return false;
	pthread_rwlock_rdlock(&S.eio_lock);
	for (i = 0; i < S.n_eio && !hit; i++) {
		const char *g = S.eio_globs[i];

		hit = !fnmatch(g, path, 0) || (path[0] == '/' && !fnmatch(g, path + 1, 0));
	}
	pthread_rwlock_unlock(&S.eio_lock);
	if (hit)
		atomic_fetch_add(&S.eio_hits, 1);
	return hit;
}

static int eio_add(const char *glob)
{
	char **v;
	char *g = strdup(glob);

	if (!g)
		return -ENOMEM;
	pthread_rwlock_wrlock(&S.eio_lock);
	v = realloc(S.eio_globs, (S.n_eio + 1) * sizeof(*v));
	if (!v) {
		pthread_rwlock_unlock(&S.eio_lock);
		free(g);
		return -ENOMEM;
	}
	v[S.n_eio++] = g;
	S.eio_globs = v;
	pthread_rwlock_unlock(&S.eio_lock);
	return 0;
}

static void eio_clear(void)
{
	size_t i;

	pthread_rwlock_wrlock(&S.eio_lock);
	for (i = 0; i < S.n_eio; i++)
		free(S.eio_globs[i]);
	free(S.eio_globs);
	S.eio_globs = NULL;
	S.n_eio = 0;
	pthread_rwlock_unlock(&S.eio_lock);
}

/* FUSE paths are absolute in the mount; the backing calls want them relative. */
static const char *rel(const char *path)
{
	while (*path == '/')
		path++;
	return *path ? path : ".";
}

#define ERRNO_OR_0(expr)	((expr) < 0 ? -errno : 0)

static int sfs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	int err = op_begin();

	if (!err) {
		if (fi)
			err = ERRNO_OR_0(fstat(fi->fh, st));
		else if (path)
			err = ERRNO_OR_0(fstatat(S.root_fd, rel(path), st, AT_SYMLINK_NOFOLLOW));
		else
			err = -ESTALE;
	}
	return op_end(err);
}

static int sfs_access(const char *path, int mask)
{
	int err = op_begin();

	if (!err)
		err = ERRNO_OR_0(faccessat(S.root_fd, rel(path), mask, AT_SYMLINK_NOFOLLOW));
	return op_end(err);
}

static int sfs_readlink(const char *path, char *buf, size_t size)
{
	int err = op_begin();
	ssize_t n;

	if (!err) {
		n = readlinkat(S.root_fd, rel(path), buf, size - 1);
		if (n < 0) {
			err = -errno;
		} else {
			buf[n] = '\0';
		}
	}
	return op_end(err);
}

/* xattrs through the backing dir's /proc path: there is no getxattrat */
static int xattr_path(const char *path, char *buf, size_t len)
{
	return snprintf(buf, len, "/proc/self/fd/%d/%s", S.root_fd, rel(path)) <
	       (int)len ? 0 : -ENAMETOOLONG;
}

static int sfs_getxattr(const char *path, const char *name, char *value,
			size_t size)
{
	char p[PATH_MAX + 64];
	int err = op_begin();
	ssize_t n = 0;

	if (!err)
		err = xattr_path(path, p, sizeof(p));
	if (!err && (n = lgetxattr(p, name, value, size)) < 0)
		err = -errno;
	op_end(err);
	return err ? err : (int)n;
}

static int sfs_setxattr(const char *path, const char *name, const char *value,
			size_t size, int flags)
{
	char p[PATH_MAX + 64];
	int err = op_begin();

	if (!err)
		err = xattr_path(path, p, sizeof(p));
	if (!err)
		err = ERRNO_OR_0(lsetxattr(p, name, value, size, flags));
	return op_end(err);
}

static int sfs_removexattr(const char *path, const char *name)
{
	char p[PATH_MAX + 64];
	int err = op_begin();

	if (!err)
		err = xattr_path(path, p, sizeof(p));
	if (!err)
		err = ERRNO_OR_0(lremovexattr(p, name));
	return op_end(err);
}

static int sfs_listxattr(const char *path, char *list, size_t size)
{
	char p[PATH_MAX + 64];
	int err = op_begin();
	ssize_t n = 0;

	if (!err)
		err = xattr_path(path, p, sizeof(p));
	if (!err && (n = llistxattr(p, list, size)) < 0)
		err = -errno;
	op_end(err);
	return err ? err : (int)n;
}

struct sfs_dir {
	DIR *dp;
	struct dirent *entry;	/* read but not yet taken by the filler */
	off_t offset;		/* telldir() position of entry */
};

static int sfs_opendir(const char *path, struct fuse_file_info *fi)
{
	int err = op_begin();
	struct sfs_dir *d;
	int fd;

	if (err)
		return op_end(err);
	d = calloc(1, sizeof(*d));
	if (!d)
		return op_end(-ENOMEM);
	fd = openat(S.root_fd, rel(path), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d->dp = fdopendir(fd))) {
		err = -errno;
		if (fd >= 0)
			close(fd);
		free(d);
		return op_end(err);
	}
	fi->fh = (uintptr_t)d;
	return op_end(0);
}

/*
 * Real offsets (telldir cookies) are given to the filler so the kernel can
 * fetch a big directory in several requests, each one op, as from a real
 * server, rather than libfuse buffering the whole listing.
 */
static int sfs_readdir(const char *path, void *buf, fuse_fill_dir_t filler,
		       off_t offset, struct fuse_file_info *fi,
		       enum fuse_readdir_flags flags)
{
	struct sfs_dir *d = (struct sfs_dir *)(uintptr_t)fi->fh;
	int err = op_begin();

	if (err)
		return op_end(err);
	if (offset != d->offset) {
		seekdir(d->dp, offset);
		d->entry = NULL;
		d->offset = offset;
	}
	for (;;) {
		enum fuse_fill_dir_flags fill = 0;
		struct stat st;
		off_t next;

		if (!d->entry) {
			errno = 0;
			d->entry = readdir(d->dp);
			if (!d->entry) {
				err = errno ? -errno : 0;
				break;
			}
		}
		next = telldir(d->dp);
		memset(&st, 0, sizeof(st));
		if ((flags & FUSE_READDIR_PLUS) &&
		    !fstatat(dirfd(d->dp), d->entry->d_name, &st, AT_SYMLINK_NOFOLLOW)) {
			fill = FUSE_FILL_DIR_PLUS;
		} else {
			st.st_ino = d->entry->d_ino;
			st.st_mode = DTTOIF(d->entry->d_type);
		}
		if (filler(buf, d->entry->d_name, &st, next, fill))
			break;	/* buffer full: this entry goes first next time */
		d->entry = NULL;
		d->offset = next;
	}
	return op_end(err);
}

static int sfs_releasedir(const char *path, struct fuse_file_info *fi)
{
	struct sfs_dir *d = (struct sfs_dir *)(uintptr_t)fi->fh;
	int err = op_begin();

	/* the kernel has forgotten the handle whatever we answer: always close */
	closedir(d->dp);
	free(d);
	return op_end(err);
}

static int sfs_mknod(const char *path, mode_t mode, dev_t rdev)
{
	int err = op_begin();

	if (!err)
		err = ERRNO_OR_0(mknodat(S.root_fd, rel(path), mode, rdev));
	return op_end(err);
}

static int sfs_mkdir(const char *path, mode_t mode)
{
	int err = op_begin();

	if (!err)
		err = ERRNO_OR_0(mkdirat(S.root_fd, rel(path), mode));
	return op_end(err);
}

static int sfs_unlink(const char *path)
{
	int err = op_begin();

	if (!err)
		err = ERRNO_OR_0(unlinkat(S.root_fd, rel(path), 0));
	return op_end(err);
}

static int sfs_rmdir(const char *path)
{
	int err = op_begin();

	if (!err)
		err = ERRNO_OR_0(unlinkat(S.root_fd, rel(path), AT_REMOVEDIR));
	return op_end(err);
}

static int sfs_symlink(const char *target, const char *path)
{
	int err = op_begin();

	if (!err)
		err = ERRNO_OR_0(symlinkat(target, S.root_fd, rel(path)));
	return op_end(err);
}

static int sfs_link(const char *from, const char *to)
{
	int err = op_begin();

	if (!err)
		err = ERRNO_OR_0(linkat(S.root_fd, rel(from), S.root_fd, rel(to), 0));
	return op_end(err);
}

static int sfs_rename(const char *from, const char *to, unsigned int flags)
{
	int err = op_begin();

	if (!err)
		err = ERRNO_OR_0(renameat2(S.root_fd, rel(from), S.root_fd, rel(to), flags));
	return op_end(err);
}

static int sfs_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	int err = op_begin();

	if (!err) {
		if (fi)
			err = ERRNO_OR_0(fchmod(fi->fh, mode));
		else
			err = ERRNO_OR_0(fchmodat(S.root_fd, rel(path), mode, 0));
	}
	return op_end(err);
}

static int sfs_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	int err = op_begin();

	if (!err) {
		if (fi)
			err = ERRNO_OR_0(fchown(fi->fh, uid, gid));
		else
			err = ERRNO_OR_0(fchownat(S.root_fd, rel(path), uid, gid,
						  AT_SYMLINK_NOFOLLOW));
	}
	return op_end(err);
}

static int sfs_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	int err = op_begin();
	int fd;

	if (err)
		return op_end(err);
	if (fi)
		return op_end(ERRNO_OR_0(ftruncate(fi->fh, size)));
	fd = openat(S.root_fd, rel(path), O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return op_end(-errno);
	err = ERRNO_OR_0(ftruncate(fd, size));
	close(fd);
	return op_end(err);
}

static int sfs_utimens(const char *path, const struct timespec tv[2],
		       struct fuse_file_info *fi)
{
	int err = op_begin();

	if (!err) {
		if (fi)
			err = ERRNO_OR_0(futimens(fi->fh, tv));
		else
			err = ERRNO_OR_0(utimensat(S.root_fd, rel(path), tv,
						   AT_SYMLINK_NOFOLLOW));
	}
	return op_end(err);
}

static int sfs_open(const char *path, struct fuse_file_info *fi)
{
	int err = op_begin();
	int fd;

	if (err)
		return op_end(err);
	if (eio_match(path))
		return op_end(-EIO);
	fd = openat(S.root_fd, rel(path), (fi->flags & ~O_NOFOLLOW) | O_CLOEXEC);
	if (fd < 0)
		return op_end(-errno);
	fi->fh = fd;
	/* like an NFS client with unchanged attributes: keep what is cached */
	fi->keep_cache = 1;
	fi->direct_io = 0;
	return op_end(0);
}

static int sfs_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	int err = op_begin();
	int fd;

	if (err)
		return op_end(err);
	fd = openat(S.root_fd, rel(path), fi->flags | O_CREAT | O_CLOEXEC, mode);
	if (fd < 0)
		return op_end(-errno);
	fi->fh = fd;
	fi->keep_cache = 1;
	return op_end(0);
}

static int sfs_read(const char *path, char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	int err = op_begin();
	long long t0;
	ssize_t n;
	unsigned long long max;

	if (err)
		return op_end(err);
	/* a glob added after open fails reads of already open files too */
	if (eio_match(path))
		return op_end(-EIO);
	atomic_fetch_add(&S.reads, 1);
	max = atomic_load(&S.max_read_size);
	while (size > max && !atomic_compare_exchange_weak(&S.max_read_size, &max, size))
		;
	/* the local pread overlaps the simulated transfer instead of adding to it */
	t0 = mono_ns();
	n = pread(fi->fh, buf, size, off);
	if (n < 0)
		return op_end(-errno);
	atomic_fetch_add(&S.bytes_read, n);
	err = bw_throttle(n, t0);
	return op_end(err ? err : (int)n);
}

static int sfs_write(const char *path, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	int err = op_begin();
	ssize_t n;

	if (err)
		return op_end(err);
	n = pwrite(fi->fh, buf, size, off);
	return op_end(n < 0 ? -errno : (int)n);
}

static int sfs_statfs(const char *path, struct statvfs *st)
{
	int err = op_begin();

	if (!err)
		err = ERRNO_OR_0(fstatvfs(S.root_fd, st));
	return op_end(err);
}

static int sfs_flush(const char *path, struct fuse_file_info *fi)
{
	int err = op_begin();
	int fd;

	/* close() of a duplicate reports delayed write errors, as close would */
	if (!err) {
		fd = dup(fi->fh);
		if (fd < 0)
			err = -errno;
		else
			err = ERRNO_OR_0(close(fd));
	}
	return op_end(err);
}

static int sfs_release(const char *path, struct fuse_file_info *fi)
{
	int err = op_begin();

	/* the kernel has dropped the handle whatever we answer: always close */
	close(fi->fh);
	return op_end(err);
}

static int sfs_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	int err = op_begin();

	if (!err)
		err = ERRNO_OR_0(datasync ? fdatasync(fi->fh) : fsync(fi->fh));
	return op_end(err);
}

/*
 * The kernel only lowers the readahead window at INIT (to what it offered,
 * 128 KiB), so the 1 MiB we want (NFS has 15 MiB) is set on the mount's
 * bdi afterwards. It matters beyond sequential reads: fadvise(WILLNEED)
 * reads at most max(read_ahead_kb, io_pages) per call, and FUSE's
 * io_pages is no bigger.
 */
static int set_read_ahead(dev_t dev, long kb)
{
	char path[64], val[32];
	int fd, len, err = 0;

	snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/read_ahead_kb",
		 major(dev), minor(dev));
	len = snprintf(val, sizeof(val), "%ld\n", kb);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, val, len) != len)
		err = -errno;
	if (fd >= 0)
		close(fd);
	if (err)
		fprintf(stderr, "slowfs: %s: %s\n", path, strerror(-err));
	return err;
}

/*
 * "Ready" means a request went through the whole path: a stat of the
 * mount point returns only after INIT was answered and a worker served
 * the GETATTR. Counters start from zero after it.
 */
static void *ready_thread(void *arg)
{
	const char *mountpoint = arg;
	static const char msg[] = "ready\n";
	struct stat st;
	int err;

	do
		err = stat(mountpoint, &st) ? errno : 0;
	while (err == EINTR);
	if (err) {
		fprintf(stderr, "slowfs: %s: %s\n", mountpoint, strerror(err));
		goto fail;
	}
	if (set_read_ahead(st.st_dev, S.read_ahead_kb) && S.read_ahead_set)
		goto fail;
	stats_reset();
	if (S.ready_fd >= 0) {
		if (write(S.ready_fd, msg, sizeof(msg) - 1) < 0)
			fprintf(stderr, "slowfs: --ready-fd: %s\n", strerror(errno));
		close(S.ready_fd);
		S.ready_fd = -1;
	}
	return NULL;
fail:
	/* whoever waits for "ready" sees EOF at once */
	S.stopping = 1;
	fuse_session_exit(S.se);
	if (S.ready_fd >= 0)
		close(S.ready_fd);
	S.ready_fd = -1;
	return NULL;
}

static void *sfs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	/* behave like an NFS mount with actimeo=1 that keeps its page cache */
	cfg->use_ino = 1;
	cfg->kernel_cache = 1;
	cfg->auto_cache = 0;
	cfg->direct_io = 0;
	cfg->entry_timeout = 1.0;
	cfg->attr_timeout = 1.0;
	cfg->negative_timeout = 0;
	/*
	 * Unlinking an open file really unlinks it in the backing directory
	 * (no .fuse_hidden files left behind); I/O goes through fi->fh, so
	 * such files are served with a NULL path. Others keep their path
	 * (no nullpath_ok): read needs it for the EIO globs.
	 */
	cfg->hard_remove = 1;
	cfg->nullpath_ok = 0;
	/*
	 * libfuse signals the worker of an interrupted request, so a client
	 * killed while we sleep or block is answered at once. libfuse 3.14
	 * takes this only from here, too late to install the handler itself:
	 * main() has installed ours.
	 */
	cfg->intr = 1;
	cfg->intr_signal = SIGUSR1;

	/* many readahead requests in flight, as a network filesystem has */
	conn->max_background = 256;
	conn->congestion_threshold = 192;
	S.kernel_max_readahead = conn->max_readahead;
	/* the kernel takes the minimum with its own window */
	conn->max_readahead = 1 << 20;
	if (conn->capable & FUSE_CAP_ASYNC_READ)
		conn->want |= FUSE_CAP_ASYNC_READ;
	conn->want &= ~(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
	/*
	 * Always READDIRPLUS, not the kernel's heuristic (plus for the first
	 * chunk, then only after lookups in the directory): a walk that
	 * stats what it lists costs one request per chunk, predictably.
	 */
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
	S.readdirplus = conn->want & FUSE_CAP_READDIRPLUS;

	return NULL;
}

static const struct fuse_operations sfs_ops = {
	.init		= sfs_init,
	.getattr	= sfs_getattr,
	.access		= sfs_access,
	.readlink	= sfs_readlink,
	.opendir	= sfs_opendir,
	.readdir	= sfs_readdir,
	.releasedir	= sfs_releasedir,
	.mknod		= sfs_mknod,
	.mkdir		= sfs_mkdir,
	.unlink		= sfs_unlink,
	.rmdir		= sfs_rmdir,
	.symlink	= sfs_symlink,
	.link		= sfs_link,
	.rename		= sfs_rename,
	.chmod		= sfs_chmod,
	.chown		= sfs_chown,
	.truncate	= sfs_truncate,
	.utimens	= sfs_utimens,
	.open		= sfs_open,
	.create		= sfs_create,
	.read		= sfs_read,
	.write		= sfs_write,
	.statfs		= sfs_statfs,
	.flush		= sfs_flush,
	.release	= sfs_release,
	.fsync		= sfs_fsync,
	.getxattr	= sfs_getxattr,
	.listxattr	= sfs_listxattr,
	.setxattr	= sfs_setxattr,
	.removexattr	= sfs_removexattr,
};

/* milliseconds as a float, >= 0 */
static int parse_ms(const char *s, long long *ns)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v < 0 || v > 1e9)
		return -1;
	*ns = (long long)llround(v * NSEC_PER_MSEC);
	return 0;
}

/* bytes per second: 200M, 1.5G, 64Mi, 100MB; SI by default like dd's "MB" */
static int parse_rate(const char *s, double *rate)
{
	double v, mult = 1;
	char *end;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || !isfinite(v) || v < 0)
		return -1;
	if (*end) {
		static const char units[] = "KMGT";
		char up = *end & ~0x20;
		const char *u = up ? strchr(units, up) : NULL;

		if (!u)
			return -1;
		end++;
		if (*end == 'i') {
			mult = pow(1024, u - units + 1);
			end++;
		} else {
			mult = pow(1000, u - units + 1);
		}
		if (*end == 'B' || *end == 'b')
			end++;
		if (!strcmp(end, "/s"))
			end += 2;
		if (*end)
			return -1;
	}
	*rate = v * mult;
	return 0;
}

static void bw_set(double rate)
{
	pthread_mutex_lock(&S.bw_lock);
	S.bw_rate = rate;
	S.bw_next_ns = 0;
	pthread_mutex_unlock(&S.bw_lock);
}

static const char *gone_name(int mode)
{
	return mode == GONE_ENOTCONN ? "enotconn" : mode == GONE_BLOCK ? "block" : "none";
}

/* Runs one control command; the answer (without "ok") goes into out. */
static int control_command(char *line, char *out, size_t outsz, const char **why)
{
	char *arg = strchr(line, ' ');
	long long ns;
	double rate;

	out[0] = '\0';
	if (arg) {
		*arg++ = '\0';
		while (*arg == ' ')
			arg++;
	}
	if (!strcmp(line, "latency") || !strcmp(line, "jitter")) {
		if (!arg || parse_ms(arg, &ns)) {
			*why = "expected milliseconds";
			return -1;
		}
		atomic_store(line[0] == 'l' ? &S.latency_ns : &S.jitter_ns, ns);
	} else if (!strcmp(line, "bw")) {
		if (!arg || parse_rate(arg, &rate)) {
			*why = "expected a rate like 200M";
			return -1;
		}
		bw_set(rate);
	} else if (!strcmp(line, "eio")) {
		if (!arg || !*arg) {
			*why = "expected a glob";
			return -1;
		}
		if (eio_add(arg)) {
			*why = "out of memory";
			return -1;
		}
	} else if (!strcmp(line, "eio-clear") && !arg) {
		eio_clear();
	} else if (!strcmp(line, "gone")) {
		if (arg && !strcmp(arg, "enotconn")) {
			atomic_store(&S.gone, GONE_ENOTCONN);
		} else if (arg && !strcmp(arg, "block")) {
			atomic_store(&S.gone, GONE_BLOCK);
		} else {
			*why = "expected gone enotconn or gone block";
			return -1;
		}
	} else if (!strcmp(line, "back") && !arg) {
		atomic_store(&S.gone, GONE_NONE);
	} else if (!strcmp(line, "stats") && !arg) {
		double r;

		pthread_mutex_lock(&S.bw_lock);
		r = S.bw_rate;
		pthread_mutex_unlock(&S.bw_lock);
		snprintf(out, outsz,
			 "ops=%llu reads=%llu bytes_read=%llu eio=%llu interrupted=%llu"
			 " inflight=%lld max_inflight=%lld max_read_size=%llu"
			 " latency_ms=%.3f jitter_ms=%.3f bw=%.0f gone=%s"
			 " kernel_max_readahead=%u read_ahead_kb=%ld readdirplus=%d\n",
			 atomic_load(&S.ops), atomic_load(&S.reads),
			 atomic_load(&S.bytes_read), atomic_load(&S.eio_hits),
			 atomic_load(&S.interrupted), atomic_load(&S.inflight),
			 atomic_load(&S.max_inflight), atomic_load(&S.max_read_size),
			 (double)atomic_load(&S.latency_ns) / NSEC_PER_MSEC,
			 (double)atomic_load(&S.jitter_ns) / NSEC_PER_MSEC,
			 r, gone_name(atomic_load(&S.gone)),
			 S.kernel_max_readahead, S.read_ahead_kb, S.readdirplus);
	} else if (!strcmp(line, "stats-reset") && !arg) {
		stats_reset();
	} else {
		*why = "unknown command";
		return -1;
	}
	return 0;
}

static void write_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = write(fd, s, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		s += w;
		n -= w;
	}
}

/* One client connection: any number of lines, each answered in order. */
static void *control_client(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[4096], out[1024], reply[1280];
	size_t len = 0;

	for (;;) {
		char *nl;
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += n;
		buf[len] = '\0';
		while ((nl = memchr(buf, '\n', len))) {
			const char *why = NULL;
			size_t used = nl - buf + 1;

			*nl = '\0';
			if (nl > buf && nl[-1] == '\r')
				nl[-1] = '\0';
			if (control_command(buf, out, sizeof(out), &why))
				snprintf(reply, sizeof(reply), "error: %s\n", why);
			else
				snprintf(reply, sizeof(reply), "%sok\n", out);
			write_all(fd, reply, strlen(reply));
			memmove(buf, buf + used, len - used);
			len -= used;
		}
		if (len == sizeof(buf) - 1) {
			write_all(fd, "error: line too long\n", 21);
			break;
		}
	}
	close(fd);
	return NULL;
}

/*
 * Its own thread, never a FUSE worker: the control socket must answer
 * `back` while every worker is held by `gone block`. One thread per
 * client, so a client that keeps its connection open blocks nobody.
 */
static void *control_thread(void *arg)
{
	pthread_attr_t attr;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (;;) {
		pthread_t t;
		int fd = accept4(S.control_fd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE ||
			    errno == ENFILE) {
				if (errno == EMFILE || errno == ENFILE)
					usleep(10000);
				continue;
			}
			break;
		}
		if (pthread_create(&t, &attr, control_client, (void *)(intptr_t)fd))
			close(fd);
	}
	pthread_attr_destroy(&attr);
	return NULL;
}

static int control_open(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "slowfs: --control: path too long: %s\n", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	/* a socket left by a crashed run is ours to replace; anything else is not */
	if (!lstat(path, &st) && S_ISSOCK(st.st_mode))
		unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 64)) {
		fprintf(stderr, "slowfs: --control %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	S.control_fd = fd;
	S.control_path = path;
	return 0;
}

static void on_signal(int sig)
{
	S.stopping = 1;
	if (S.se)
		fuse_session_exit(S.se);
}

/* only there to make a sleeping worker's clock_nanosleep return EINTR */
static void on_intr_signal(int sig)
{
}

static int install_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct sigaction intr = { .sa_handler = on_intr_signal };
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	size_t i;

	/* no SA_RESTART: the main thread's wait and workers' reads must wake */
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sigaction(sigs[i], &sa, NULL))
			return -1;
	sigemptyset(&intr.sa_mask);
	if (sigaction(SIGUSR1, &intr, NULL))
		return -1;
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: slowfs [options] BACKING_DIR MOUNTPOINT\n"
"\n"
"A FUSE passthrough of BACKING_DIR that injects latency and faults.\n"
"\n"
"  --latency MS        delay added to every FUSE request (float ms)\n"
"  --jitter MS         plus a uniform random 0..MS\n"
"  --bw RATE           cap on read bandwidth, bytes/s (K M G = 10^3..,\n"
"                      Ki Mi Gi = 2^10..; 0 = none)\n"
"  --eio GLOB          opens and reads of matching paths fail with EIO\n"
"                      (repeatable; fnmatch, with and without leading /)\n"
"  --control SOCKET    Unix socket for runtime commands (see README.md)\n"
"  --gone-timeout SEC  how long `gone block` holds a request (default 60)\n"
"  --threads N         maximum FUSE worker threads (default 256)\n"
"  --ready-fd N        write \"ready\\n\" to fd N once serving, then close it\n"
"  --read-ahead-kb KB  readahead window of the mount (default 1024; the\n"
"                      kernel's is 128); also what one fadvise(WILLNEED)\n"
"                      reads at most\n"
"  -o OPTS             extra FUSE options\n"
"  -f                  foreground (always the case)\n"
"  -d                  FUSE debug output\n"
"  -h, --help          this help\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "latency", required_argument, NULL, 'L' },
		{ "jitter", required_argument, NULL, 'J' },
		{ "bw", required_argument, NULL, 'B' },
		{ "eio", required_argument, NULL, 'E' },
		{ "control", required_argument, NULL, 'C' },
		{ "gone-timeout", required_argument, NULL, 'G' },
		{ "threads", required_argument, NULL, 'T' },
		{ "ready-fd", required_argument, NULL, 'R' },
		{ "read-ahead-kb", required_argument, NULL, 'A' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_loop_config *loop_cfg;
	const char *control = NULL, *backing, *mountpoint;
	unsigned long threads = 256;
	sigset_t block, old;
	pthread_t ctl_thread, rdy_thread;
	bool have_ctl = false, debug = false;
	long long ns;
	double rate;
	char *end;
	int c, ret = 1;

	while ((c = getopt_long(argc, argv, "+fdo:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'L':
		case 'J':
			if (parse_ms(optarg, &ns)) {
				fprintf(stderr, "slowfs: bad milliseconds: %s\n", optarg);
				return 2;
			}
			atomic_store(c == 'L' ? &S.latency_ns : &S.jitter_ns, ns);
			break;
		case 'B':
			if (parse_rate(optarg, &rate)) {
				fprintf(stderr, "slowfs: bad rate: %s\n", optarg);
				return 2;
			}
			S.bw_rate = rate;
			break;
		case 'E':
			if (eio_add(optarg))
				return 1;
			break;
		case 'C':
			control = optarg;
			break;
		case 'G':
			S.gone_timeout = strtod(optarg, &end);
			if (*end || end == optarg || !(S.gone_timeout >= 0)) {
				fprintf(stderr, "slowfs: bad --gone-timeout: %s\n", optarg);
				return 2;
			}
			break;
		case 'T':
			errno = 0;
			threads = strtoul(optarg, &end, 10);
			if (errno || *end || end == optarg || threads < 1 || threads > 100000) {
				fprintf(stderr, "slowfs: bad --threads: %s\n", optarg);
				return 2;
			}
			break;
		case 'R':
			errno = 0;
			S.ready_fd = (int)strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || S.ready_fd < 0 ||
			    fcntl(S.ready_fd, F_GETFD) < 0) {
				fprintf(stderr, "slowfs: bad --ready-fd: %s\n", optarg);
				return 2;
			}
			fcntl(S.ready_fd, F_SETFD, FD_CLOEXEC);
			break;
		case 'A':
			errno = 0;
			S.read_ahead_kb = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || S.read_ahead_kb < 0) {
				fprintf(stderr, "slowfs: bad --read-ahead-kb: %s\n", optarg);
				return 2;
			}
			S.read_ahead_set = true;
			break;
		case 'o':
			/* collected below, after argv[0] */
			break;
		case 'f':
			break;
		case 'd':
			debug = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 2) {
		usage(stderr);
		return 2;
	}
	backing = argv[optind];
	mountpoint = argv[optind + 1];

	S.root_fd = open(backing, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (S.root_fd < 0) {
		fprintf(stderr, "slowfs: %s: %s\n", backing, strerror(errno));
		return 1;
	}

	if (fuse_opt_add_arg(&args, argv[0]) ||
	    fuse_opt_add_arg(&args, "-o") ||
	    fuse_opt_add_arg(&args, "fsname=slowfs,subtype=slowfs,default_permissions"))
		return 1;
	if (debug && fuse_opt_add_arg(&args, "-d"))
		return 1;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+fdo:h", longopts, NULL)) != -1)
		if (c == 'o' && (fuse_opt_add_arg(&args, "-o") || fuse_opt_add_arg(&args, optarg)))
			return 1;

	S.fuse = fuse_new(&args, &sfs_ops, sizeof(sfs_ops), NULL);
	if (!S.fuse)
		goto out_args;
	S.se = fuse_get_session(S.fuse);

	/* the socket exists before "ready", so a test may use it at once */
	if (control && control_open(control))
		goto out_destroy;

	if (install_signals()) {
		perror("slowfs: sigaction");
		goto out_control;
	}
	if (fuse_mount(S.fuse, mountpoint))
		goto out_control;

	/* only workers and the main thread take SIGTERM and friends */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	if (S.control_fd >= 0) {
		if (pthread_create(&ctl_thread, NULL, control_thread, NULL)) {
			fprintf(stderr, "slowfs: cannot start the control thread\n");
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			goto out_unmount;
		}
		have_ctl = true;
	}
	if (pthread_create(&rdy_thread, NULL, ready_thread, (void *)mountpoint)) {
		fprintf(stderr, "slowfs: cannot start a thread\n");
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		goto out_unmount;
	}
	pthread_detach(rdy_thread);
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	loop_cfg = fuse_loop_cfg_create();
	if (!loop_cfg)
		goto out_unmount;
	/*
	 * Idle workers are kept rather than exiting after each burst, so a
	 * burst of N concurrent requests finds N threads without creating them.
	 */
	fuse_loop_cfg_set_max_threads(loop_cfg, threads);
	fuse_loop_cfg_set_idle_threads(loop_cfg, threads);
	fuse_loop_cfg_set_clone_fd(loop_cfg, 0);
	ret = fuse_loop_mt(S.fuse, loop_cfg) ? 1 : 0;
	/* a signal ends the loop with its number: that is a clean stop */
	if (S.stopping)
		ret = 0;
	fuse_loop_cfg_destroy(loop_cfg);

out_unmount:
	S.stopping = 1;
	fuse_unmount(S.fuse);
out_control:
	if (have_ctl) {
		pthread_cancel(ctl_thread);
		pthread_join(ctl_thread, NULL);
	}
	if (S.control_fd >= 0) {
		close(S.control_fd);
		unlink(S.control_path);
	}
out_destroy:
	fuse_destroy(S.fuse);
out_args:
	fuse_opt_free_args(&args);
	if (S.ready_fd >= 0)
		close(S.ready_fd);
	close(S.root_fd);
	eio_clear();
	return ret;
}
