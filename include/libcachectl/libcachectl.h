/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libcachectl - query, prefetch and evict file data in the Linux caches.
 *
 * Conventions: every function that can fail returns >= 0 on success and a
 * negative errno on failure; errno is not part of the contract. There is no
 * global mutable state. A context and everything derived from it must be
 * used by one thread at a time unless the caller locks; separate contexts
 * may be used concurrently.
 */
#ifndef LIBCACHECTL_H
#define LIBCACHECTL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct cachectl_ctx;
struct cachectl_walk;
struct cachectl_entry;

/* ---- context ---------------------------------------------------------- */

/**
 * cachectl_new - create a library context
 * @ret_ctx: where the new context is stored; untouched on failure
 *
 * The context starts with a reference count of 1. It reads CACHECTL_LOG
 * (a syslog priority name or number) and CACHECTL_BACKEND from the
 * environment, through secure_getenv().
 *
 * Returns: 0 on success, -EINVAL if @ret_ctx is NULL, -ENOMEM.
 * Since: 0.1
 */
int cachectl_new(struct cachectl_ctx **ret_ctx);

/**
 * cachectl_ref - take a reference on a context
 * @ctx: the context, may be NULL
 *
 * Returns: @ctx.
 * Since: 0.1
 */
struct cachectl_ctx *cachectl_ref(struct cachectl_ctx *ctx);

/**
 * cachectl_unref - drop a reference on a context
 * @ctx: the context, may be NULL
 *
 * Frees the context when the last reference goes.
 *
 * Returns: NULL once the context is freed (or was NULL), else @ctx.
 * Since: 0.1
 */
struct cachectl_ctx *cachectl_unref(struct cachectl_ctx *ctx);

/**
 * cachectl_log_fn - type of a log callback
 *
 * @priority is a syslog priority (LOG_ERR .. LOG_DEBUG).
 */
typedef void (*cachectl_log_fn)(void *data, int priority, const char *file,
				int line, const char *fn, const char *format,
				va_list args);

/**
 * cachectl_set_log_fn - route the library's log messages
 * @ctx: the context
 * @fn: the callback, or NULL to silence the library
 * @data: passed to @fn
 *
 * The default writes to stderr.
 *
 * Returns: nothing.
 * Since: 0.1
 */
void cachectl_set_log_fn(struct cachectl_ctx *ctx, cachectl_log_fn fn,
			 void *data);

/**
 * cachectl_get_log_priority - current log threshold
 * @ctx: the context
 *
 * Returns: the syslog priority above which messages are dropped.
 * Since: 0.1
 */
int cachectl_get_log_priority(struct cachectl_ctx *ctx);

/**
 * cachectl_set_log_priority - set the log threshold
 * @ctx: the context
 * @priority: a syslog priority, LOG_EMERG (0) .. LOG_DEBUG (7)
 *
 * Returns: 0, or -EINVAL for a priority out of range.
 * Since: 0.1
 */
int cachectl_set_log_priority(struct cachectl_ctx *ctx, int priority);

/* ---- backend ---------------------------------------------------------- */

enum {
	CACHECTL_BACKEND_SHIM = 1,	/* stock kernel, userspace shim */
	CACHECTL_BACKEND_KERNEL = 2,	/* the fcachectl syscall */
};

/* Features reported by cachectl_backend_probe(). */
#define CACHECTL_FEATURE_CACHESTAT	(1u << 0)	/* cachestat(2) */
#define CACHECTL_FEATURE_MINCORE	(1u << 1)	/* mincore fallback */
#define CACHECTL_FEATURE_IO_URING	(1u << 2)	/* io_uring with FADVISE */
#define CACHECTL_FEATURE_SYSCALL	(1u << 3)	/* fcachectl(2) */

/**
 * cachectl_backend_probe - find out what the running kernel offers
 * @ctx: the context
 * @ret_features: if not NULL, receives CACHECTL_FEATURE_* bits
 *
 * Probes once per context; later calls return the cached answer.
 * CACHECTL_BACKEND=shim|kernel in the environment forces a backend.
 *
 * Returns: CACHECTL_BACKEND_SHIM or CACHECTL_BACKEND_KERNEL, or
 * -EOPNOTSUPP if CACHECTL_BACKEND=kernel was forced on a kernel without
 * the syscall, -EINVAL if CACHECTL_BACKEND holds an unknown name.
 * Since: 0.1
 */
int cachectl_backend_probe(struct cachectl_ctx *ctx,
			   unsigned int *ret_features);

/**
 * cachectl_backend_name - name of a backend
 * @backend: a CACHECTL_BACKEND_* value
 *
 * Returns: "shim", "kernel", or NULL for an unknown value.
 * Since: 0.1
 */
const char *cachectl_backend_name(int backend);

/* What a context's backend can do, from cachectl_get_capabilities() (0.5). */
#define CACHECTL_CAP_FSCACHE	(1u << 0)  /* residency tells the fscache layer */
#define CACHECTL_CAP_PIN	(1u << 1)  /* cachectl_file_pin(), the PIN ops */
#define CACHECTL_CAP_CULLING	(1u << 2)  /* cachectl_cache_set_culling() */

/**
 * cachectl_get_capabilities - what the context's backend can do
 * @ctx: the context
 * @ret_caps: receives CACHECTL_CAP_* bits
 *
 * Probes the backend as cachectl_backend_probe() does. A program decides
 * from these bits which columns or operations apply (e.g. whether
 * residency can report the fscache layer), never from the backend's name.
 *
 * Returns: 0, or the errors of cachectl_backend_probe(); -EINVAL if an
 * argument is NULL.
 * Since: 0.5
 */
int cachectl_get_capabilities(struct cachectl_ctx *ctx, unsigned int *ret_caps);

/* ---- filesystems (0.5) ------------------------------------------------ */

/**
 * cachectl_path_is_remote - is a path on a network or FUSE filesystem?
 * @path: a path
 *
 * Remote filesystems are those where every request is a round trip to a
 * server or a FUSE daemon: NFS, 9p, CIFS/SMB, Ceph, AFS, GPFS, Lustre,
 * FUSE. The library's walks keep many requests in flight there. Asks
 * statfs(2), which itself may block on a dead server.
 *
 * Returns: 1 if remote, 0 if not, or a negative errno from statfs(2).
 * Since: 0.5
 */
int cachectl_path_is_remote(const char *path);

/**
 * cachectl_fstype_is_remote - is a filesystem type a remote one?
 * @fstype: a type name as in /proc/self/mountinfo ("nfs4", "fuse.sshfs")
 *
 * The same rule as cachectl_path_is_remote(), by name, for callers that
 * must not touch a mount that may be dead.
 *
 * Returns: 1 if remote, 0 if not or @fstype is NULL.
 * Since: 0.5
 */
int cachectl_fstype_is_remote(const char *fstype);

/**
 * cachectl_error_is_gone - does an error say the filesystem is gone?
 * @error: a negative errno value
 *
 * Errors such as -ENOTCONN, -ECONNRESET, -EHOSTDOWN or -ETIMEDOUT say the
 * server (or FUSE daemon) behind a file went away, not that the file has
 * a problem. cachectl_walk_run() stops with such an error instead of
 * reporting one per file.
 *
 * Returns: 1 if @error is one of those, else 0.
 * Since: 0.5
 */
int cachectl_error_is_gone(int error);

/* ---- per-file operations ---------------------------------------------- */

/* cachectl_residency.flags */
#define CACHECTL_RES_UNKNOWN	(1u << 0)  /* kernel would not say: counts are 0 */
#define CACHECTL_RES_NO_STATE	(1u << 1)  /* dirty/writeback/evicted not known */
#define CACHECTL_RES_FSCACHE	(1u << 2)  /* fscache, cache_state, cache_id valid (0.4) */
#define CACHECTL_RES_NO_EVICTED	(1u << 3)  /* evicted counts not known (0.4) */

/* cachectl_residency.cache_state: the file's fscache object (0.4) */
#define CACHECTL_CACHE_OBJECT	(1u << 0)  /* a cache holds an object for it */
#define CACHECTL_CACHE_PINNED	(1u << 1)  /* the object is pinned */
#define CACHECTL_CACHE_NOCULL	(1u << 2)  /* culling is off for that cache */
#define CACHECTL_CACHE_FULL	(1u << 3)  /* that cache is below its cull limit */

/*
 * Residency of a byte range of one file. All counts are bytes of whole
 * pages, as the kernel counts them: a cached 100-byte file has 4096
 * cached bytes, so cached can exceed range by less than a page. Extend only at the end; callers pass
 * sizeof(struct cachectl_residency) so old binaries keep working.
 */
struct cachectl_residency {
	uint64_t size;			/* file size */
	uint64_t range;			/* bytes of the queried range within size */
	uint64_t cached;		/* bytes in the page cache */
	uint64_t dirty;
	uint64_t writeback;
	uint64_t evicted;		/* evicted, per the workingset shadows */
	uint64_t recently_evicted;
	uint64_t flags;			/* CACHECTL_RES_* */
	/* since 0.4, filled by the kernel backend (CACHECTL_RES_FSCACHE) */
	uint64_t fscache;		/* bytes present in the fscache object */
	uint64_t cache_state;		/* CACHECTL_CACHE_* */
	uint64_t cache_id;		/* which cache holds the object */
};

/**
 * cachectl_file_query - page-cache residency of a range of a file
 * @ctx: the context
 * @fd: a file descriptor of a regular file
 * @offset: first byte
 * @length: bytes, 0 for "to the end of the file"
 * @flags: must be 0
 * @ret: receives the answer
 * @size: sizeof(*ret) as the caller knows it
 *
 * With the kernel backend (the fcachectl(2) syscall) the answer also
 * says how much of the range a network filesystem's fscache cache holds
 * (CACHECTL_RES_FSCACHE set, fields fscache, cache_state, cache_id); on
 * a filesystem without fscache those are 0.
 *
 * Else uses cachestat(2) where the kernel has it, else mincore(2). When the
 * kernel refuses to say (cachestat EPERM, or mincore on a file the caller
 * cannot write, which mincore reports as fully resident whatever the
 * truth) the answer has CACHECTL_RES_UNKNOWN set: it is never guessed.
 *
 * Returns: 0 on success; -EINVAL for bad flags, size or fd type; -EBADF;
 * -ENOMEM; or another negative errno from the kernel.
 * Since: 0.1
 */
int cachectl_file_query(struct cachectl_ctx *ctx, int fd, uint64_t offset,
			uint64_t length, unsigned int flags,
			struct cachectl_residency *ret, size_t size);

/**
 * cachectl_file_query_cached - resident bytes of a file, and nothing more
 * @ctx: the context
 * @fd: a file descriptor of a regular file
 * @ret_bytes: receives the bytes of the file in the page cache
 *
 * One cachestat(2) over the whole file: no stat, no filesystem round
 * trip, no disk access. For callers that re-check many files they keep
 * open and fall back to cachectl_file_query() for everything else (size,
 * dirty pages, the fscache cache, files the kernel hides).
 *
 * Returns: 0; -EINVAL for a NULL argument or a negative @fd;
 * -EOPNOTSUPP when the kernel has no cachestat(2); -EPERM when it will
 * not say for this file; another negative errno from the kernel.
 * Since: 0.5
 */
int cachectl_file_query_cached(struct cachectl_ctx *ctx, int fd,
			       uint64_t *ret_bytes);

/* cachectl_file_prefetch() flags */
#define CACHECTL_FILE_PREFETCH_READ	(1u << 0)  /* read, do not advise */
#define CACHECTL_FILE_PREFETCH_WAIT	(1u << 1)  /* return when it is in */

/**
 * cachectl_file_prefetch - bring a range of a file into the page cache
 * @ctx: the context
 * @fd: a file descriptor of a regular file, open for reading
 * @offset: first byte
 * @length: bytes, 0 for "to the end of the file"
 * @flags: CACHECTL_FILE_PREFETCH_* bits
 * @ret_bytes: if not NULL, receives the bytes that were requested from
 *	the filesystem (resident ranges and holes are skipped)
 *
 * With the kernel backend, on a file whose filesystem uses fscache, one
 * fcachectl(2) PREFETCH fills the page cache and the fscache cache
 * without copying through userspace; CACHECTL_FILE_PREFETCH_WAIT then
 * also waits for the cache writes. Elsewhere: issues readahead in chunks,
 * because the kernel caps one call at the readahead window, skipping what
 * is resident already and, on filesystems that report them, holes.
 * CACHECTL_FILE_PREFETCH_READ reads the data instead, for filesystems
 * where advice does not populate the cache.
 *
 * Returns: 0 on success; -EINVAL for bad flags or fd type; -EBADF; or a
 * negative errno from the kernel (e.g. -EIO).
 * Since: 0.1
 */
int cachectl_file_prefetch(struct cachectl_ctx *ctx, int fd, uint64_t offset,
			   uint64_t length, unsigned int flags,
			   uint64_t *ret_bytes);

/**
 * cachectl_file_evict - drop a range of a file from the page cache
 * @ctx: the context
 * @fd: a file descriptor of a regular file
 * @offset: first byte
 * @length: bytes, 0 for "to the end of the file"
 * @flags: must be 0
 * @ret_left: if not NULL, receives the bytes still resident afterwards
 *	(dirty, under writeback, locked or mapped pages stay), or
 *	UINT64_MAX if the kernel will not say
 *
 * Clean pages are dropped with POSIX_FADV_DONTNEED; the result is checked
 * against the kernel and pages that stayed are reported, not hidden.
 *
 * Returns: 0 if nothing is left; -EBUSY if pages stayed resident (see
 * @ret_left); -EINVAL; -EBADF; or a negative errno from the kernel.
 * Since: 0.1
 */
int cachectl_file_evict(struct cachectl_ctx *ctx, int fd, uint64_t offset,
			uint64_t length, unsigned int flags,
			uint64_t *ret_left);

/* ---- tree walks ------------------------------------------------------- */

/* cachectl_walk_new() flags */
#define CACHECTL_WALK_RECURSIVE	(1u << 0)  /* descend into directories */
#define CACHECTL_WALK_FOLLOW	(1u << 1)  /* follow symlinks (loop-safe) */
#define CACHECTL_WALK_ONE_FS	(1u << 2)  /* stay on the roots' filesystems */
#define CACHECTL_WALK_ALL_LINKS	(1u << 3)  /* visit every hard link */

/*
 * Operation applied to each regular file by cachectl_walk_run(). The
 * names keep clear of <linux/cachectl.h>'s CACHECTL_OP_* and
 * CACHECTL_PREFETCH_*, so a program can include both headers.
 */
enum {
	CACHECTL_WALK_OP_QUERY = 1,
	CACHECTL_WALK_OP_PREFETCH = 2,
	CACHECTL_WALK_OP_EVICT = 3,
	CACHECTL_WALK_OP_PIN = 4,	/* pin each file's cache object (0.5) */
	CACHECTL_WALK_OP_UNPIN = 5,	/* unpin it (0.5) */
};

/* cachectl_walk_run() flags, valid with CACHECTL_WALK_OP_PREFETCH */
#define CACHECTL_RUN_READ	CACHECTL_FILE_PREFETCH_READ
#define CACHECTL_RUN_WAIT	CACHECTL_FILE_PREFETCH_WAIT
/*
 * The caller reads no residency from the entries or the totals (0.6):
 * prefetch then asks the kernel nothing per file but the advice itself.
 */
#define CACHECTL_RUN_NO_RESIDENCY	(1u << 16)
/* valid with CACHECTL_WALK_OP_QUERY: entries carry their cached ranges (0.6) */
#define CACHECTL_RUN_RANGES	(1u << 2)

/*
 * Called once per regular file, and once per path that failed (entry
 * error < 0). Return 0 to go on, a negative errno to stop the walk with
 * that error.
 */
typedef int (*cachectl_entry_fn)(struct cachectl_walk *walk,
				 const struct cachectl_entry *entry,
				 void *data);

/* Running totals handed to the progress callback and cachectl_walk_get_totals(). */
struct cachectl_totals {
	uint64_t files;		/* regular files done */
	uint64_t dirs;		/* directories read */
	uint64_t errors;	/* paths that failed */
	uint64_t skipped;	/* excluded, other fs, duplicate links, specials */
	uint64_t size;		/* bytes of file data seen */
	uint64_t cached;	/* bytes resident (after the operation) */
	uint64_t unknown;	/* files whose residency the kernel hid */
	uint64_t bytes;		/* bytes requested (prefetch) / left (evict) */
};

/*
 * Called once per directory the walk enters, before reading it. Return 0
 * to go on, a negative errno to stop the walk with that error.
 */
typedef int (*cachectl_dir_fn)(struct cachectl_walk *walk, const char *path,
			       void *data);

/*
 * Called for each regular file before the walk opens it (0.5). Return
 * nonzero to skip the file (counted in skipped), 0 to visit it.
 */
typedef int (*cachectl_filter_fn)(struct cachectl_walk *walk, const char *path,
				  void *data);

typedef void (*cachectl_progress_fn)(struct cachectl_walk *walk,
				     const struct cachectl_totals *totals,
				     void *data);

/*
 * Which ranges of a file the operation covers (0.6), one per call, in
 * increasing order: store the first range that starts at or after @pos in
 * *ret_offset and *ret_length (> 0) and return 1; return 0 when there are
 * no more, a negative errno to fail the file with it. Called after the
 * file is opened; cachectl_entry_get_path() and cachectl_entry_get_stamp()
 * work on @entry.
 */
typedef int (*cachectl_range_fn)(struct cachectl_walk *walk,
				 const struct cachectl_entry *entry,
				 uint64_t pos, uint64_t *ret_offset,
				 uint64_t *ret_length, void *data);

/**
 * cachectl_walk_new - create a tree walk
 * @ctx: the context; the walk holds a reference
 * @flags: CACHECTL_WALK_* bits
 * @ret_walk: receives the walk; untouched on failure
 *
 * Returns: 0, -EINVAL for unknown flags, -ENOMEM.
 * Since: 0.1
 */
int cachectl_walk_new(struct cachectl_ctx *ctx, unsigned int flags,
		      struct cachectl_walk **ret_walk);

/**
 * cachectl_walk_ref - take a reference on a walk
 * Returns: @walk.
 * Since: 0.1
 */
struct cachectl_walk *cachectl_walk_ref(struct cachectl_walk *walk);

/**
 * cachectl_walk_unref - drop a reference on a walk
 * Returns: NULL once freed (or if @walk was NULL), else @walk.
 * Since: 0.1
 */
struct cachectl_walk *cachectl_walk_unref(struct cachectl_walk *walk);

/**
 * cachectl_walk_add_path - add a root path
 * @walk: the walk
 * @path: a file or directory; any bytes but NUL
 *
 * Roots are visited in the order added. The files of a directory root
 * are visited; its subdirectories only with CACHECTL_WALK_RECURSIVE.
 * A root that is a symlink is
 * followed (as ls and find -H do); symlinks met inside a tree are not,
 * unless CACHECTL_WALK_FOLLOW.
 *
 * Returns: 0, -EINVAL for an empty path, -ENOMEM.
 * Since: 0.1
 */
int cachectl_walk_add_path(struct cachectl_walk *walk, const char *path);

/**
 * cachectl_walk_add_exclude - skip names matching a glob
 * @walk: the walk
 * @glob: an fnmatch(3) pattern; without a '/' it matches the last path
 *	component, with one it matches the whole path
 *
 * An excluded directory is not descended into.
 *
 * Returns: 0, -EINVAL for an empty pattern, -ENOMEM.
 * Since: 0.1
 */
int cachectl_walk_add_exclude(struct cachectl_walk *walk, const char *glob);

/**
 * cachectl_walk_add_include - only visit files matching a glob
 * @walk: the walk
 * @glob: as for cachectl_walk_add_exclude(); applies to files only, so
 *	directories are still descended into
 *
 * With at least one include pattern, a file is visited only if it
 * matches one. Excludes win over includes.
 *
 * Returns: 0, -EINVAL for an empty pattern, -ENOMEM.
 * Since: 0.1
 */
int cachectl_walk_add_include(struct cachectl_walk *walk, const char *glob);

/**
 * cachectl_walk_set_dir_fn - get called back for each directory
 * @walk: the walk
 * @fn: the callback, or NULL
 * @data: passed to @fn
 *
 * @fn gets the path of each directory the walk enters (as reached from
 * its root, valid during the call), roots included, once it is open and
 * before its entries are read, in the calling thread. A program that
 * watches the directories (inotify) from there misses no file created in
 * them during the walk.
 *
 * Returns: 0, -EINVAL for a NULL @walk.
 * Since: 0.5
 */
int cachectl_walk_set_dir_fn(struct cachectl_walk *walk, cachectl_dir_fn fn,
			     void *data);

/**
 * cachectl_walk_set_filter_fn - decide, file by file, what the walk visits
 * @walk: the walk
 * @fn: the filter, or NULL for none
 * @data: passed to @fn
 *
 * The filter sees each regular file the globs let through (and each file
 * named as a root), on the caller's thread, before it is opened: e.g.
 * files that another pin still covers, for an unpin walk.
 *
 * Returns: 0, -EINVAL for a NULL @walk.
 * Since: 0.5
 */
int cachectl_walk_set_filter_fn(struct cachectl_walk *walk,
				cachectl_filter_fn fn, void *data);

/**
 * cachectl_walk_set_progress_fn - get called back as the walk goes
 * @walk: the walk
 * @fn: the callback, or NULL
 * @data: passed to @fn
 * @interval_ms: minimum time between calls; 0 means every file
 *
 * Returns: 0.
 * Since: 0.1
 */
int cachectl_walk_set_progress_fn(struct cachectl_walk *walk,
				  cachectl_progress_fn fn, void *data,
				  unsigned int interval_ms);

/**
 * cachectl_walk_set_queue_depth - I/O requests kept in flight
 * @walk: the walk
 * @depth: 1..4096; 0 picks the default (32)
 *
 * Prefetch keeps up to @depth requests in flight across files through
 * io_uring. The pipeline is used by default on network and FUSE
 * filesystems and with CACHECTL_RUN_READ; setting a depth here asks for
 * it everywhere (elsewhere, advice goes out in inode order from the
 * walk's threads). Each file in flight holds a descriptor, so the depth
 * is capped at a quarter of RLIMIT_NOFILE.
 *
 * Returns: 0, -EINVAL for a depth out of range.
 * Since: 0.1
 */
int cachectl_walk_set_queue_depth(struct cachectl_walk *walk,
				  unsigned int depth);

/**
 * cachectl_walk_set_jobs - how much work runs at once
 * @walk: the walk
 * @jobs: 1..4096, or 0 to choose automatically (the default)
 *
 * On a local filesystem this is the number of threads that query,
 * advise or evict (automatically: one per CPU, at most 8). On a network
 * or FUSE filesystem (NFS, SMB, 9p, Ceph, AFS, FUSE, by statfs(2) type)
 * every open, read and close is a round trip, and this is the number of
 * such requests kept in flight through io_uring (automatically: 128).
 * cachectl_walk_set_queue_depth() overrides it for prefetch.
 *
 * Returns: 0, -EINVAL for a value out of range.
 * Since: 0.3
 */
int cachectl_walk_set_jobs(struct cachectl_walk *walk, unsigned int jobs);

/**
 * cachectl_walk_set_timeout - give up on a filesystem that stops answering
 * @walk: the walk
 * @timeout_ms: milliseconds, or 0 to wait for ever (the default)
 *
 * When requests are in flight through io_uring and none completes for
 * @timeout_ms, cachectl_walk_run() stops and returns -ETIMEDOUT. A call
 * blocked in the calling thread itself (reading a directory) cannot be
 * timed out from inside; callers that must never hang watch the progress
 * callback from another thread, as cachectl(1) does.
 *
 * Independently of this, errors that say the filesystem rather than a
 * file is gone (ENOTCONN, ECONNRESET, EHOSTDOWN, ETIMEDOUT and the like)
 * stop the walk at once: cachectl_walk_run() returns that error instead
 * of handing one failure per file to the callback.
 *
 * Returns: 0.
 * Since: 0.3
 */
int cachectl_walk_set_timeout(struct cachectl_walk *walk,
			      unsigned int timeout_ms);

/**
 * cachectl_walk_add_range - apply the operation to a range of each file
 * @walk: the walk
 * @offset: first byte
 * @length: bytes, or 0 for up to the end of each file
 *
 * Without ranges a walk covers whole files. With one or more, queries,
 * prefetches and evictions cover only these ranges of each file, widened
 * to whole pages, merged where they overlap, and clipped to each file's
 * size; an entry's residency is then the sum over its ranges (the range
 * member their size). PIN and UNPIN ignore ranges.
 *
 * Returns: 0, -EINVAL if @walk is NULL or the range ends past 2^64,
 * -ENOMEM.
 * Since: 0.6
 */
int cachectl_walk_add_range(struct cachectl_walk *walk, uint64_t offset,
			    uint64_t length);

/**
 * cachectl_walk_set_range_fn - choose the ranges of each file in a callback
 * @walk: the walk
 * @fn: asked for each file's ranges (see cachectl_range_fn), or NULL
 * @data: passed to @fn
 *
 * Like cachectl_walk_add_range(), but per file: restoring a snapshot
 * brings back each file's own cached ranges. A function replaces the
 * walk's ranges. A walk with a function runs one file at a time on the
 * caller's thread.
 *
 * Returns: 0, -EINVAL if @walk is NULL.
 * Since: 0.6
 */
int cachectl_walk_set_range_fn(struct cachectl_walk *walk,
			       cachectl_range_fn fn, void *data);

/**
 * cachectl_walk_set_max_rate - cap the bytes a prefetch reads per second
 * @walk: the walk
 * @bytes_per_sec: the cap over the whole run, or 0 for none (the default)
 *
 * A prefetch then asks the filesystem for data in chunks of a sixteenth
 * of a second's worth and waits between them, so that over the run no
 * more than @bytes_per_sec bytes per second are requested (resident pages
 * and holes cost nothing). The time until every page is in follows the
 * cap. A capped run works one file at a time on the caller's thread,
 * without the thread pool or the io_uring pipeline; on network
 * filesystems it reads, as the pipeline would.
 *
 * Returns: 0, -EINVAL if @walk is NULL.
 * Since: 0.6
 */
int cachectl_walk_set_max_rate(struct cachectl_walk *walk,
			       uint64_t bytes_per_sec);

/**
 * cachectl_walk_run - visit every file and apply an operation
 * @walk: the walk, with at least one path added
 * @op: CACHECTL_WALK_OP_QUERY, CACHECTL_WALK_OP_PREFETCH,
 *	CACHECTL_WALK_OP_EVICT, or (since 0.5) CACHECTL_WALK_OP_PIN or
 *	CACHECTL_WALK_OP_UNPIN
 * @flags: CACHECTL_RUN_* bits (prefetch only), else 0
 * @fn: called per file and per failed path; may be NULL
 * @data: passed to @fn
 *
 * FIFOs, sockets and devices are never opened and are counted as
 * skipped, as are files that vanish between readdir and open. Errors on
 * single paths (missing roots, unreadable files, symlink loops) are
 * handed to @fn and counted; the walk goes on. PIN and UNPIN do for each
 * file what cachectl_file_pin() and cachectl_file_unpin() do, and fail
 * it the same way (-EOPNOTSUPP where no fscache serves it, -ENOBUFS where
 * no cache holds it); the entry's residency is the state afterwards.
 *
 * Returns: 0 if every path succeeded, 1 if some paths failed (each was
 * handed to @fn), or a negative errno if the walk could not run at all
 * or @fn stopped it.
 * Since: 0.1
 */
int cachectl_walk_run(struct cachectl_walk *walk, int op, unsigned int flags,
		      cachectl_entry_fn fn, void *data);

/**
 * cachectl_walk_get_totals - totals of the last run
 * @walk: the walk
 * @ret: receives the totals
 * @size: sizeof(*ret) as the caller knows it
 *
 * Returns: 0, -EINVAL for a bad size.
 * Since: 0.1
 */
int cachectl_walk_get_totals(struct cachectl_walk *walk,
			     struct cachectl_totals *ret, size_t size);

/**
 * cachectl_entry_get_path - path of a walk entry
 *
 * Returns: the path as reached from its root (valid during the callback).
 * Since: 0.1
 */
const char *cachectl_entry_get_path(const struct cachectl_entry *entry);

/**
 * cachectl_entry_get_error - outcome for a walk entry
 *
 * Returns: 0, or the negative errno that made this path fail. -EBUSY
 * after an evict means pages stayed resident.
 * Since: 0.1
 */
int cachectl_entry_get_error(const struct cachectl_entry *entry);

/**
 * cachectl_entry_get_residency - residency of a walk entry
 * @entry: the entry
 * @ret: receives the residency after the operation
 * @size: sizeof(*ret) as the caller knows it
 *
 * Returns: 0, -EINVAL for a bad size, -ENODATA for a failed entry.
 * Since: 0.1
 */
int cachectl_entry_get_residency(const struct cachectl_entry *entry,
				 struct cachectl_residency *ret, size_t size);

/**
 * cachectl_entry_get_bytes - bytes moved for a walk entry
 *
 * Returns: bytes requested from the filesystem (prefetch) or bytes left
 * resident (evict); 0 for a query.
 * Since: 0.1
 */
uint64_t cachectl_entry_get_bytes(const struct cachectl_entry *entry);

/**
 * cachectl_entry_get_stamp - size and modification time of a walk entry
 * @entry: the entry
 * @ret_size: if not NULL, the file's size when the walk opened it
 * @ret_mtime_ns: if not NULL, its modification time, in nanoseconds since
 *	the epoch
 *
 * What a snapshot records to tell later whether the file changed.
 * Recorded for walks with ranges, a range function, a rate cap or
 * CACHECTL_RUN_RANGES.
 *
 * Returns: 0, -EINVAL if @entry is NULL, -ENODATA if not recorded.
 * Since: 0.6
 */
int cachectl_entry_get_stamp(const struct cachectl_entry *entry,
			     uint64_t *ret_size, int64_t *ret_mtime_ns);

/**
 * cachectl_entry_next_range - the next cached range of a walk entry
 * @entry: an entry of a query run with CACHECTL_RUN_RANGES
 * @cursor: 0 before the first call; advanced by each call
 * @ret_offset: if not NULL, receives the range's first byte
 * @ret_length: if not NULL, receives its length
 *
 * The ranges of the file that were in the page cache, page by page as
 * mincore(2) saw them through a mapping, in increasing order, merged, the
 * last clipped to the file's size. In a sparse file only data extents are
 * looked at.
 *
 * Returns: 1 with a range, 0 after the last, -EINVAL for NULL arguments,
 * -ENODATA if the entry has none: not a CACHECTL_RUN_RANGES query, a
 * failed entry, or the kernel would not tell (mincore and cachestat
 * answer truthfully only to whoever could write the file).
 * Since: 0.6
 */
int cachectl_entry_next_range(const struct cachectl_entry *entry,
			      size_t *cursor, uint64_t *ret_offset,
			      uint64_t *ret_length);


/* ---- fscache: kernel backend only (0.4) ------------------------------- */

/**
 * cachectl_file_pin - pin a file's fscache object against culling
 * @ctx: the context
 * @fd: a file descriptor of a regular file on an fscache-backed mount
 * @flags: must be 0
 *
 * The pin is kept by the kernel on the cache object (it survives page
 * cache eviction, unmounts and reboots); the cache's culling skips the
 * object until cachectl_file_unpin(). Server-side changes still
 * invalidate the cached data.
 *
 * Returns: 0 on success; -EOPNOTSUPP with the shim backend or on a
 * filesystem that does not use fscache; -ENOBUFS if no cache holds the
 * file; -EPERM if the caller neither owns the file nor has CAP_FOWNER;
 * -EINVAL for bad flags or fd type; -EBADF.
 * Since: 0.4
 */
int cachectl_file_pin(struct cachectl_ctx *ctx, int fd, unsigned int flags);

/**
 * cachectl_file_unpin - undo cachectl_file_pin()
 * @ctx: the context
 * @fd: a file descriptor of the file
 * @flags: must be 0
 *
 * Returns: as cachectl_file_pin(); unpinning a file that is not pinned
 * succeeds.
 * Since: 0.4
 */
int cachectl_file_unpin(struct cachectl_ctx *ctx, int fd, unsigned int flags);

/**
 * cachectl_cache_set_culling - turn culling of an fscache cache off or on
 * @ctx: the context
 * @fd: a file descriptor of a file the cache holds
 * @enable: 0 to stop culling (the cache fills up and then refuses new
 *	data), 1 to let the cache daemon cull again
 *
 * Culling is the cache daemon's policy: this writes its "nocull" or
 * "cull" command on the daemon's own /dev/cachefiles descriptor.
 *
 * Returns: 0 on success; -EOPNOTSUPP with the shim backend or on a
 * filesystem that does not use fscache; -ENOBUFS if no cache holds the
 * file; -ESRCH if no cache daemon holds /dev/cachefiles; -EPERM without
 * the rights over the daemon (CAP_SYS_ADMIN, CAP_SYS_PTRACE); -EBADF;
 * -EINVAL.
 * Since: 0.4
 */
int cachectl_cache_set_culling(struct cachectl_ctx *ctx, int fd, int enable);

/* ---- the fscache caches (0.5) ------------------------------------------
 *
 * The caches the kernel lists in /proc/fs/fscache/caches, with what
 * cachefilesd.conf says of the one it runs and, with the kernel backend,
 * the culling state read from a file each cache holds.
 */
struct cachectl_cache_list;
struct cachectl_cache;

/* cachectl_cache_list_get_flags() */
#define CACHECTL_CACHE_LIST_NO_FSCACHE	(1u << 0)  /* the kernel has no fscache */
#define CACHECTL_CACHE_LIST_CONFIG	(1u << 1)  /* cachefilesd.conf was read */

/* cachectl_cache_get_state() */
enum {
	CACHECTL_CACHE_STATE_UNKNOWN = 0,	/* not in the kernel's list */
	CACHECTL_CACHE_STATE_INACTIVE,
	CACHECTL_CACHE_STATE_PREPARING,
	CACHECTL_CACHE_STATE_ACTIVE,
	CACHECTL_CACHE_STATE_FAILED,
	CACHECTL_CACHE_STATE_WITHDRAWN,
};

/* cachectl_cache_get_threshold(): cachefilesd's culling limits */
enum {
	CACHECTL_CACHE_TH_BRUN = 0,	/* % of blocks free: culling stops */
	CACHECTL_CACHE_TH_BCULL,	/* culling starts */
	CACHECTL_CACHE_TH_BSTOP,	/* no new data */
	CACHECTL_CACHE_TH_FRUN,		/* the same for files */
	CACHECTL_CACHE_TH_FCULL,
	CACHECTL_CACHE_TH_FSTOP,
	CACHECTL_CACHE_TH_COUNT,
};

/**
 * cachectl_cache_list_new - read the fscache caches
 * @ctx: the context; the list holds a reference
 * @ret_list: receives the list
 *
 * Reads the kernel's list of caches once. A kernel without fscache gives
 * an empty list with CACHECTL_CACHE_LIST_NO_FSCACHE.
 *
 * Returns: 0; -ENOMEM; -EIO or another error reading the list.
 * Since: 0.5
 */
int cachectl_cache_list_new(struct cachectl_ctx *ctx,
			    struct cachectl_cache_list **ret_list);

/**
 * cachectl_cache_list_read_config - read cachefilesd's configuration
 * @list: the list
 * @path: the configuration file, or NULL for /etc/cachefilesd.conf, which
 *        may then be missing
 *
 * The cache whose name is the configuration's tag ("CacheFiles" if it has
 * none) gets its directory and culling thresholds from it.
 *
 * Returns: 0; -ENOENT or another open error for @path; -EINVAL for a bad
 * value (logged with its line); -ENOMEM; -EIO.
 * Since: 0.5
 */
int cachectl_cache_list_read_config(struct cachectl_cache_list *list,
				    const char *path);

/**
 * cachectl_cache_list_ref - take a reference on a list
 * Returns: @list.
 * Since: 0.5
 */
struct cachectl_cache_list *cachectl_cache_list_ref(struct cachectl_cache_list *list);

/**
 * cachectl_cache_list_unref - drop a reference on a list
 * Returns: NULL once freed (or if @list was NULL), else @list.
 * Since: 0.5
 */
struct cachectl_cache_list *cachectl_cache_list_unref(struct cachectl_cache_list *list);

/**
 * cachectl_cache_list_get_flags - what was found while reading
 * Returns: CACHECTL_CACHE_LIST_* bits; 0 if @list is NULL.
 * Since: 0.5
 */
unsigned int cachectl_cache_list_get_flags(const struct cachectl_cache_list *list);

/**
 * cachectl_cache_list_find_files - find a file each cache holds
 * @list: the list
 * @paths: where to look, or NULL with @npaths 0 for every mount that
 *         uses fscache (from the mount table)
 * @npaths: how many
 *
 * Walks the paths (staying on their filesystems, 5 s timeout) until every
 * cache has a file; a cache the kernel's list lacks but a file is held by
 * joins the list. Only the kernel backend sees cache objects: with the
 * shim nothing is found.
 *
 * Returns: 0; the first walk error otherwise (the others still walked).
 * Since: 0.5
 */
int cachectl_cache_list_find_files(struct cachectl_cache_list *list,
				   const char *const *paths, size_t npaths);

/**
 * cachectl_cache_list_next - iterate over the caches
 * @list: the list
 * @cache: NULL to start, else the previous cache; receives the next one
 *
 * The caches stay valid as long as the list.
 *
 * Returns: 1 with a cache, 0 at the end (and *@cache NULL); -EINVAL.
 * Since: 0.5
 */
int cachectl_cache_list_next(struct cachectl_cache_list *list,
			     struct cachectl_cache **cache);

/**
 * cachectl_cache_get_id - the kernel's number for a cache
 * Returns: the id (the CACHE column of /proc/fs/fscache/caches, and
 * cachectl_residency.cache_id); 0 if @cache is NULL.
 * Since: 0.5
 */
uint64_t cachectl_cache_get_id(const struct cachectl_cache *cache);

/**
 * cachectl_cache_get_name - the cache's tag
 * Returns: the name, or NULL for a cache the kernel's list lacks.
 * Since: 0.5
 */
const char *cachectl_cache_get_name(const struct cachectl_cache *cache);

/**
 * cachectl_cache_get_state - the cache's state in the kernel
 * Returns: a CACHECTL_CACHE_STATE_* value; -EINVAL.
 * Since: 0.5
 */
int cachectl_cache_get_state(const struct cachectl_cache *cache);

/**
 * cachectl_cache_get_volumes - volumes the cache has open
 * Returns: the count; -ENODATA for a cache the kernel's list lacks; -EINVAL.
 * Since: 0.5
 */
int cachectl_cache_get_volumes(const struct cachectl_cache *cache);

/**
 * cachectl_cache_get_objects - objects the cache has open
 * Returns: the count; -ENODATA for a cache the kernel's list lacks; -EINVAL.
 * Since: 0.5
 */
int cachectl_cache_get_objects(const struct cachectl_cache *cache);

/**
 * cachectl_cache_get_dir - where the cache keeps its data
 * Returns: the directory cachefilesd.conf names for this cache (by its
 * tag), or NULL if the configuration does not describe it.
 * Since: 0.5
 */
const char *cachectl_cache_get_dir(const struct cachectl_cache *cache);

/**
 * cachectl_cache_get_space - the size of the filesystem the cache is on
 * @cache: the cache
 * @ret_size: receives its bytes, or NULL
 * @ret_used: receives the bytes in use, or NULL
 * @ret_avail: receives the bytes available, or NULL
 *
 * Returns: 0; -ENODATA without a directory (cachectl_cache_get_dir());
 * errors of statfs(2); -EINVAL.
 * Since: 0.5
 */
int cachectl_cache_get_space(const struct cachectl_cache *cache,
			     uint64_t *ret_size, uint64_t *ret_used,
			     uint64_t *ret_avail);

/**
 * cachectl_cache_get_threshold - one of cachefilesd's culling limits
 * @cache: the cache
 * @which: a CACHECTL_CACHE_TH_* value
 *
 * Returns: the percentage (cachefilesd's default for one the
 * configuration leaves out); -ENODATA if the configuration does not
 * describe this cache; -EINVAL.
 * Since: 0.5
 */
int cachectl_cache_get_threshold(const struct cachectl_cache *cache, int which);

/**
 * cachectl_cache_get_file - a file the cache holds
 * Returns: its path, found by cachectl_cache_list_find_files(), or NULL.
 * Since: 0.5
 */
const char *cachectl_cache_get_file(const struct cachectl_cache *cache);

/**
 * cachectl_cache_get_file_state - the cache's state, seen from its file
 * @cache: the cache
 * @ret_state: receives the CACHECTL_CACHE_* bits of that file
 *             (CACHECTL_CACHE_NOCULL, CACHECTL_CACHE_FULL, ...)
 *
 * Returns: 0; -ENODATA if no file of the cache was found; -EINVAL.
 * Since: 0.5
 */
int cachectl_cache_get_file_state(const struct cachectl_cache *cache,
				  uint64_t *ret_state);

/* ---- pins (0.2) --------------------------------------------------------
 *
 * A pin is a durable promise that a file or tree stays cached. Pins live
 * in a store (a file, crash-safe) per scope; cachectld(8) keeps them true.
 */

struct cachectl_pin;
struct cachectl_pinstore;
struct cachectl_daemon;
struct cachectl_event;

enum {
	CACHECTL_SCOPE_USER = 1,	/* $XDG_STATE_HOME/cachectl */
	CACHECTL_SCOPE_SYSTEM = 2,	/* /var/lib/cachectl */
};

#define CACHECTL_PIN_RECURSIVE	(1u << 0)  /* the whole tree under path */
#define CACHECTL_PIN_INHERIT	(1u << 1)  /* files created later too */
#define CACHECTL_PIN_HARD	(1u << 2)  /* lock in memory, not refill */

#define CACHECTL_PRIORITY_MIN	(-1000)
#define CACHECTL_PRIORITY_MAX	1000

/**
 * cachectl_pin_new - describe a pin
 * @ctx: the context; the pin holds a reference
 * @path: file or directory; made absolute and canonical (realpath)
 * @flags: CACHECTL_PIN_* bits; INHERIT needs RECURSIVE
 * @ret_pin: receives the pin
 *
 * @path is checked as by cachectl_pin_check_path() (since 0.6).
 *
 * Returns: 0; -EINVAL for bad flags, an empty path, or one that is not a
 * regular file or directory; -EOPNOTSUPP for a path on a pseudo
 * filesystem; -ENOENT, -EACCES, -ELOOP, -ENOTDIR from resolving @path;
 * -ENOMEM.
 * Since: 0.2
 */
int cachectl_pin_new(struct cachectl_ctx *ctx, const char *path,
		     unsigned int flags, struct cachectl_pin **ret_pin);

/**
 * cachectl_pin_check_path - resolve a path and check it may be pinned
 * @path: file or directory
 * @ret_canonical: receives @path made absolute and canonical; free() it
 *
 * Resolves @path once (realpath) and checks what it names without opening
 * it for reading (O_PATH, so a FIFO is never opened): a regular file or a
 * directory, on a filesystem that holds data, not a pseudo filesystem such
 * as proc or sysfs (which also refuses /proc/self/...). Touches no
 * context, so any thread may call it; it blocks as long as the filesystem
 * takes to answer.
 *
 * Returns: 0; -EINVAL when @path is not a regular file or directory (or
 * an argument is NULL or empty); -EOPNOTSUPP when it is on a pseudo
 * filesystem; -ENOENT, -EACCES, -ELOOP, -ENOTDIR and others from
 * resolving it; -ENOMEM.
 * Since: 0.6
 */
int cachectl_pin_check_path(const char *path, char **ret_canonical);

/**
 * cachectl_pin_new_resolved - describe a pin of a path already checked
 * @ctx: the context; the pin holds a reference
 * @canonical: what cachectl_pin_check_path() returned
 * @flags: CACHECTL_PIN_* bits; INHERIT needs RECURSIVE
 * @ret_pin: receives the pin
 *
 * As cachectl_pin_new(), but makes no filesystem call: for callers that
 * resolve paths away from an event loop that must not block.
 *
 * Returns: 0; -EINVAL for bad flags or a path that is not absolute;
 * -ENOMEM.
 * Since: 0.6
 */
int cachectl_pin_new_resolved(struct cachectl_ctx *ctx, const char *canonical,
			      unsigned int flags,
			      struct cachectl_pin **ret_pin);

/**
 * cachectl_pin_ref - take a reference on a pin
 * Returns: @pin.
 * Since: 0.2
 */
struct cachectl_pin *cachectl_pin_ref(struct cachectl_pin *pin);

/**
 * cachectl_pin_unref - drop a reference on a pin
 * Returns: NULL once freed (or if @pin was NULL), else @pin.
 * Since: 0.2
 */
struct cachectl_pin *cachectl_pin_unref(struct cachectl_pin *pin);

/**
 * cachectl_pin_get_path - the pin's canonical absolute path
 * Returns: the path, valid as long as the pin.
 * Since: 0.2
 */
const char *cachectl_pin_get_path(const struct cachectl_pin *pin);

/**
 * cachectl_pin_get_flags - the pin's CACHECTL_PIN_* bits
 * Returns: the flags.
 * Since: 0.2
 */
unsigned int cachectl_pin_get_flags(const struct cachectl_pin *pin);

/**
 * cachectl_pin_get_priority - the pin's priority
 *
 * When pins do not all fit (memory, RLIMIT_MEMLOCK), lower priorities
 * give way first.
 *
 * Returns: CACHECTL_PRIORITY_MIN .. CACHECTL_PRIORITY_MAX; 0 by default.
 * Since: 0.2
 */
int cachectl_pin_get_priority(const struct cachectl_pin *pin);

/**
 * cachectl_pin_set_priority - set the pin's priority
 * Returns: 0, or -ERANGE outside CACHECTL_PRIORITY_MIN .. _MAX.
 * Since: 0.2
 */
int cachectl_pin_set_priority(struct cachectl_pin *pin, int priority);

/**
 * cachectl_pin_get_budget - the most bytes the pin may hold
 * Returns: the budget in bytes, 0 for none.
 * Since: 0.2
 */
uint64_t cachectl_pin_get_budget(const struct cachectl_pin *pin);

/**
 * cachectl_pin_set_budget - cap the bytes the pin may hold
 * @bytes: 0 for no budget
 *
 * Files beyond the budget (in walk order) are not kept; the shortfall is
 * reported by cachectl_daemon_get_status() and as an event.
 *
 * Returns: 0.
 * Since: 0.2
 */
int cachectl_pin_set_budget(struct cachectl_pin *pin, uint64_t bytes);

/* ---- which files a pin covers (0.5) ------------------------------------ */

/**
 * cachectl_pin_covers - whether a file is one of a pin's files
 * @pin: the pin
 * @path: an absolute, canonical path
 *
 * A pin covers its own path, the entries directly in it when it is a
 * directory, and with CACHECTL_PIN_RECURSIVE everything under it. The
 * test is on the text of @path alone: nothing is looked up on disk, so it
 * also answers for files that are gone. cachectl_pin_walk_new() visits the
 * same files.
 *
 * Returns: 1 if @pin covers @path, 0 if not; -EINVAL if @path is not
 * absolute.
 * Since: 0.5
 */
int cachectl_pin_covers(const struct cachectl_pin *pin, const char *path);

/**
 * cachectl_pin_walk_new - a walk over the files a pin covers
 * @pin: the pin; the walk uses its context
 * @flags: CACHECTL_WALK_FOLLOW, CACHECTL_WALK_ONE_FS or
 *         CACHECTL_WALK_ALL_LINKS; RECURSIVE follows from the pin
 * @ret_walk: receives the walk, with the pin's path added
 *
 * Set a timeout or progress function on it and run any operation, as on
 * a walk from cachectl_walk_new().
 *
 * Returns: 0; -EINVAL for unknown @flags; -ENOMEM.
 * Since: 0.5
 */
int cachectl_pin_walk_new(const struct cachectl_pin *pin, unsigned int flags,
			  struct cachectl_walk **ret_walk);

/* What a pin's files hold now, measured without a daemon. Extend only at
 * the end; callers pass sizeof(struct cachectl_pin_usage). */
struct cachectl_pin_usage {
	uint64_t files;		/* files the pin covers now */
	uint64_t size;		/* their bytes */
	uint64_t cached;	/* bytes in the page cache */
	uint64_t errors;	/* paths that could not be measured */
	uint64_t flags;		/* CACHECTL_PIN_USAGE_* */
	/* with CACHECTL_PIN_USAGE_FSCACHE (kernel backend) */
	uint64_t fscache;	/* bytes in fscache objects */
	uint64_t fscache_pinned;	/* files whose cache object is pinned */
	uint64_t fscache_files;	/* files measured for the two above */
};

#define CACHECTL_PIN_USAGE_FSCACHE	(1u << 0)  /* the fscache figures are known */

/**
 * cachectl_pin_measure - measure a pin's files now
 * @pin: the pin
 * @ret_usage: receives the figures
 * @size: sizeof(*@ret_usage)
 *
 * One query walk of the files the pin covers, as cachectl status would
 * see them: what cachectld reports from its own model, measured afresh.
 *
 * Returns: 0 (files that failed count in errors); -EINVAL for a NULL or
 * too small @ret_usage; errors as for cachectl_walk_run().
 * Since: 0.5
 */
int cachectl_pin_measure(const struct cachectl_pin *pin,
			 struct cachectl_pin_usage *ret_usage, size_t size);

/**
 * cachectl_scope_get_state_dir - where a scope keeps its pin store
 * @scope: CACHECTL_SCOPE_USER or CACHECTL_SCOPE_SYSTEM
 * @ret_dir: receives the directory, to be freed with free(3)
 *
 * $CACHECTL_STATE_DIR if set; else /var/lib/cachectl for the system,
 * $XDG_STATE_HOME/cachectl or ~/.local/state/cachectl for a user. The
 * directory need not exist.
 *
 * Returns: 0, -EINVAL for an unknown scope or NULL @ret_dir, -ENOENT if
 * the user has no home, -ENOMEM.
 * Since: 0.5
 */
int cachectl_scope_get_state_dir(int scope, char **ret_dir);

/**
 * cachectl_scope_get_socket_path - where a scope's cachectld listens
 * @scope: CACHECTL_SCOPE_USER or CACHECTL_SCOPE_SYSTEM
 * @ret_path: receives the socket path, to be freed with free(3)
 *
 * $CACHECTL_RUNTIME_DIR/cachectld.sock if set; else
 * /run/cachectl/cachectld.sock for the system,
 * $XDG_RUNTIME_DIR/cachectl/cachectld.sock (or
 * /tmp/cachectl-UID/cachectld.sock) for a user.
 *
 * Returns: 0, -EINVAL for an unknown scope or NULL @ret_path, -ENOMEM.
 * Since: 0.5
 */
int cachectl_scope_get_socket_path(int scope, char **ret_path);

/**
 * cachectl_pinstore_open - read a scope's pin store
 * @ctx: the context; the store holds a reference
 * @scope: CACHECTL_SCOPE_USER or CACHECTL_SCOPE_SYSTEM
 * @ret_store: receives the store
 *
 * The store is the file "pins" in $CACHECTL_STATE_DIR if set (tests),
 * else $XDG_STATE_HOME/cachectl (default ~/.local/state/cachectl) for
 * the user scope and /var/lib/cachectl for the system scope. A missing
 * store is empty. A store that fails its checks is never replaced: the
 * error names its path and line through the log, and every change is
 * refused until a person repairs or removes it.
 *
 * Returns: 0; -EINVAL for a bad scope; -EBADMSG for a corrupt store;
 * -EPROTONOSUPPORT for a store of another format or version; -EACCES;
 * -ENOMEM; another negative errno from reading it.
 * Since: 0.2
 */
int cachectl_pinstore_open(struct cachectl_ctx *ctx, int scope,
			   struct cachectl_pinstore **ret_store);

/**
 * cachectl_pinstore_ref - take a reference on a store
 * Returns: @store.
 * Since: 0.2
 */
struct cachectl_pinstore *cachectl_pinstore_ref(struct cachectl_pinstore *store);

/**
 * cachectl_pinstore_unref - drop a reference on a store
 * Returns: NULL once freed (or if @store was NULL), else @store.
 * Since: 0.2
 */
struct cachectl_pinstore *cachectl_pinstore_unref(struct cachectl_pinstore *store);

/**
 * cachectl_pinstore_get_path - where the store lives
 * Returns: the store file's path.
 * Since: 0.2
 */
const char *cachectl_pinstore_get_path(const struct cachectl_pinstore *store);

/**
 * cachectl_pinstore_add - record a pin
 * @store: the store
 * @pin: the pin; one with the same path is replaced
 *
 * Takes the store's lock, re-reads it (so concurrent writers do not lose
 * each other's pins), and commits the new set atomically: after a crash
 * or power cut at any instant the store holds either the old or the new
 * set, never a mix.
 *
 * Returns: 0; -EBADMSG or -EPROTONOSUPPORT if the store on disk is
 * damaged or foreign; -EACCES or -EPERM (e.g. the system store without
 * privilege); -ENOSPC; another negative errno from writing.
 * Since: 0.2
 */
int cachectl_pinstore_add(struct cachectl_pinstore *store,
			  struct cachectl_pin *pin);

/**
 * cachectl_pinstore_remove - forget a pin
 * @store: the store
 * @path: the pinned path; canonicalised if it still exists
 *
 * Returns: 0; -ENOENT if no pin has that path; errors as for
 * cachectl_pinstore_add().
 * Since: 0.2
 */
int cachectl_pinstore_remove(struct cachectl_pinstore *store,
			     const char *path);

/**
 * cachectl_pinstore_reload - read the store again
 * Returns: 0, or errors as for cachectl_pinstore_open().
 * Since: 0.2
 */
int cachectl_pinstore_reload(struct cachectl_pinstore *store);

/**
 * cachectl_pinstore_get_count - number of pins
 * Returns: the number of pins in the store as last read.
 * Since: 0.2
 */
size_t cachectl_pinstore_get_count(const struct cachectl_pinstore *store);

/**
 * cachectl_pinstore_get_pin - a pin by index
 * @index: 0 .. count-1
 *
 * Returns: the pin (owned by the store, valid until the next change or
 * reload), or NULL for an index out of range.
 * Since: 0.2
 */
struct cachectl_pin *cachectl_pinstore_get_pin(const struct cachectl_pinstore *store,
					       size_t index);

/**
 * cachectl_pinstore_find - the recorded pin of a path
 * @store: the store
 * @path: the path as given; also matched made canonical, if it exists
 * @ret_pin: receives a new reference on the pin
 *
 * Returns: 0; -ENOENT if no pin has that path; -EINVAL.
 * Since: 0.5
 */
int cachectl_pinstore_find(struct cachectl_pinstore *store, const char *path,
			   struct cachectl_pin **ret_pin);

/**
 * cachectl_pinstore_covers - whether any pin of a store covers a file
 * @store: the store
 * @path: an absolute, canonical path
 *
 * As cachectl_pin_covers(), for each pin: a file another pin still covers
 * stays pinned when one pin goes.
 *
 * Returns: 1 if a pin covers @path, 0 if none; -EINVAL.
 * Since: 0.5
 */
int cachectl_pinstore_covers(const struct cachectl_pinstore *store,
			     const char *path);

/* ---- cachectld client (0.2) ------------------------------------------- */

/* Live state of one pin, as cachectld sees it. Extend only at the end. */
struct cachectl_pin_status {
	uint64_t files;		/* files the pin covers now */
	uint64_t size;		/* their bytes */
	uint64_t cached;	/* bytes resident now */
	uint64_t locked;	/* bytes locked in memory (hard pins) */
	uint64_t shortfall;	/* bytes the daemon could not keep */
	uint64_t flags;		/* CACHECTL_PIN_STATUS_* */
};

#define CACHECTL_PIN_STATUS_SATISFIED	(1u << 0)  /* everything kept */
#define CACHECTL_PIN_STATUS_OVER_BUDGET	(1u << 1)
#define CACHECTL_PIN_STATUS_NO_MEMORY	(1u << 2)  /* RAM or RLIMIT_MEMLOCK */
#define CACHECTL_PIN_STATUS_ERROR	(1u << 3)  /* see the daemon's log */
/* the kernel hides the residency of some files (seccomp, permission): 0.6 */
#define CACHECTL_PIN_STATUS_UNKNOWN	(1u << 4)
/* with NO_MEMORY: the daemon's RLIMIT_MEMLOCK, not RAM (Since: 0.6) */
#define CACHECTL_PIN_STATUS_MEMLOCK	(1u << 5)

/* Event types from cachectl_event_get_type() */
enum {
	CACHECTL_EVENT_SATISFIED = 1,	/* a pin is fully kept */
	CACHECTL_EVENT_EVICTED = 2,	/* pinned data was evicted ... */
	CACHECTL_EVENT_REFILLED = 3,	/* ... and brought back */
	CACHECTL_EVENT_OVER_BUDGET = 4,
	CACHECTL_EVENT_SHORTFALL = 5,	/* memory could not hold it */
	CACHECTL_EVENT_ADDED = 6,	/* a new file joined an inherit pin */
	CACHECTL_EVENT_ERROR = 7,
	/*
	 * The last event of a subscription (0.6): the subscriber fell
	 * behind and the daemon dropped it. Events since are lost:
	 * reconnect, subscribe again and re-read the pins' status.
	 */
	CACHECTL_EVENT_OVERRUN = 8,
	/*
	 * An attachment's cache manager (cachectl_attach()) announced a mode
	 * change or a full cache; the path is the attachment (0.6). The
	 * user's cachectld forwards them from the managers' events file.
	 */
	CACHECTL_EVENT_DISCONNECTED = 9,
	CACHECTL_EVENT_CONNECTED = 10,	/* back: served from the origin */
	CACHECTL_EVENT_CACHE_FULL = 11,	/* data no longer kept: the limit */
};

/**
 * cachectl_daemon_connect - connect to cachectld
 * @ctx: the context; the connection holds a reference
 * @scope: whose daemon: CACHECTL_SCOPE_USER or CACHECTL_SCOPE_SYSTEM
 * @ret_daemon: receives the connection
 *
 * The socket is $CACHECTL_RUNTIME_DIR/cachectld.sock if set, else
 * $XDG_RUNTIME_DIR/cachectl/cachectld.sock (user) or
 * /run/cachectl/cachectld.sock (system).
 *
 * Returns: 0; -ENOENT or -ECONNREFUSED when no daemon runs; -EBUSY when
 * a daemon runs but refuses the connection for now (it is at its client
 * limits, for the caller's uid or in all; since 0.6); -EACCES; -EPROTO if
 * the other end does not speak the protocol; -ENOMEM.
 * Since: 0.2
 */
int cachectl_daemon_connect(struct cachectl_ctx *ctx, int scope,
			    struct cachectl_daemon **ret_daemon);

/**
 * cachectl_daemon_ref - take a reference on a connection
 * Returns: @daemon.
 * Since: 0.2
 */
struct cachectl_daemon *cachectl_daemon_ref(struct cachectl_daemon *daemon);

/**
 * cachectl_daemon_unref - drop a reference; the last one disconnects
 * Returns: NULL once freed (or if @daemon was NULL), else @daemon.
 * Since: 0.2
 */
struct cachectl_daemon *cachectl_daemon_unref(struct cachectl_daemon *daemon);

/**
 * cachectl_daemon_pin - ask the daemon to record and keep a pin
 *
 * The daemon checks the caller's credentials (SO_PEERCRED): a client may
 * pin only files it can read, and system pins need root.
 *
 * Returns: 0; -EPERM or -EACCES with the daemon's reason in
 * cachectl_daemon_get_error(); -EPIPE if the daemon went away; errors as
 * for cachectl_pinstore_add().
 * Since: 0.2
 */
int cachectl_daemon_pin(struct cachectl_daemon *daemon,
			const struct cachectl_pin *pin);

/**
 * cachectl_daemon_unpin - ask the daemon to drop a pin
 * Returns: 0; -ENOENT if there is no such pin; as for cachectl_daemon_pin().
 * Since: 0.2
 */
int cachectl_daemon_unpin(struct cachectl_daemon *daemon, const char *path);

/**
 * cachectl_daemon_hold - ask the daemon to keep a pin while connected
 * @daemon: the connection; the pin lasts as long as it stays open
 * @pin: what to keep
 * @holder: who holds it, as cachectl pins shows it (e.g. "slurm job 42");
 *          1 to 255 bytes
 *
 * As cachectl_daemon_pin(), but the pin is not recorded in the store: it
 * goes when this connection closes, however the process holding it ends
 * (exit, kill, a node that reboots). Holds of one path by several
 * connections are counted: the pin goes with the last of them, and never
 * while the store also has it. A path kept already must be kept at least
 * as strongly as asked (hard over soft, recursive, inherit).
 *
 * Returns: 0; -EBUSY if the path is kept already with weaker flags;
 * -EINVAL for a bad @holder; errors as for cachectl_daemon_pin().
 * Since: 0.6
 */
int cachectl_daemon_hold(struct cachectl_daemon *daemon,
			 const struct cachectl_pin *pin, const char *holder);

/**
 * cachectl_daemon_release - drop one of this connection's holds
 * @daemon: the connection that holds it
 * @path: the held pin's canonical path
 *
 * Other connections' holds of the same path, and the store's pin of it,
 * are left alone.
 *
 * Returns: 0; -ENOENT if this connection holds no pin of @path; -EINVAL;
 * -EPIPE if the daemon went away.
 * Since: 0.6
 */
int cachectl_daemon_release(struct cachectl_daemon *daemon, const char *path);

/* Called for each held pin; non-zero stops the listing (and is returned). */
typedef int (*cachectl_hold_fn)(const char *path, unsigned int flags,
				const char *holder, unsigned int uid,
				void *data);

/**
 * cachectl_daemon_list_holds - the pins held by the daemon's connections
 * @daemon: the connection
 * @fn: called with each hold's path, CACHECTL_PIN_* flags, holder and uid
 * @data: passed to @fn
 *
 * Returns: 0, or what @fn returned to stop; -EINVAL; -EPIPE; -EPROTO.
 * Since: 0.6
 */
int cachectl_daemon_list_holds(struct cachectl_daemon *daemon,
			       cachectl_hold_fn fn, void *data);

/**
 * cachectl_daemon_reload - make the daemon re-read its store
 * Returns: 0; errors as for cachectl_pinstore_open() or -EPIPE.
 * Since: 0.2
 */
int cachectl_daemon_reload(struct cachectl_daemon *daemon);

/**
 * cachectl_daemon_get_status - live state of a pin
 * @path: the pin's path
 * @ret: receives the status
 * @size: sizeof(*ret) as the caller knows it
 *
 * Returns: 0; -ENOENT if the daemon has no such pin; -EINVAL; -EPIPE.
 * Since: 0.2
 */
int cachectl_daemon_get_status(struct cachectl_daemon *daemon,
			       const char *path,
			       struct cachectl_pin_status *ret, size_t size);

/**
 * cachectl_daemon_get_error - the daemon's reason for the last failure
 * Returns: a message, or NULL if the last call succeeded.
 * Since: 0.2
 */
const char *cachectl_daemon_get_error(const struct cachectl_daemon *daemon);

/**
 * cachectl_daemon_subscribe - ask for events
 *
 * After this, the connection carries events only: read them with
 * cachectl_daemon_next_event(). A subscriber that does not read its
 * events fast enough gets CACHECTL_EVENT_OVERRUN and the connection ends.
 *
 * Returns: 0 or a negative errno.
 * Since: 0.2
 */
int cachectl_daemon_subscribe(struct cachectl_daemon *daemon);

/**
 * cachectl_daemon_get_fd - the connection's socket, for poll(2)
 * Returns: the file descriptor.
 * Since: 0.2
 */
int cachectl_daemon_get_fd(const struct cachectl_daemon *daemon);

/**
 * cachectl_daemon_next_event - wait for the next event
 * @timeout_ms: -1 to wait for ever, 0 to poll
 * @ret_event: receives the event; unref it when done
 *
 * Returns: 0 with an event; -ETIMEDOUT; -EPIPE when the daemon is gone;
 * -EPROTO for a malformed message.
 * Since: 0.2
 */
int cachectl_daemon_next_event(struct cachectl_daemon *daemon, int timeout_ms,
			       struct cachectl_event **ret_event);

/**
 * cachectl_event_unref - free an event
 * Returns: NULL.
 * Since: 0.2
 */
struct cachectl_event *cachectl_event_unref(struct cachectl_event *event);

/**
 * cachectl_event_get_type - what happened
 * Returns: a CACHECTL_EVENT_* value.
 * Since: 0.2
 */
int cachectl_event_get_type(const struct cachectl_event *event);

/**
 * cachectl_event_get_path - the file or pin it happened to
 * Returns: the path (valid as long as the event), or NULL.
 * Since: 0.2
 */
const char *cachectl_event_get_path(const struct cachectl_event *event);

/**
 * cachectl_event_get_bytes - how much it was about
 * Returns: bytes evicted, refilled, over budget or short; 0 if none.
 * Since: 0.2
 */
uint64_t cachectl_event_get_bytes(const struct cachectl_event *event);

/**
 * cachectl_event_name - the name of an event type
 * @type: a CACHECTL_EVENT_* value
 *
 * The names are those cachectl monitor and cachectld's log print:
 * "satisfied", "evicted", "refilled", "over-budget", "shortfall", "added",
 * "error", "overrun" (since 0.6).
 *
 * Returns: a static string; "unknown" for a type this library does not
 * know.
 * Since: 0.5
 */
const char *cachectl_event_name(int type);

/* ---- attachments: working offline (0.6) ------------------------------- */

/* cachectl_attach() flags */
#define CACHECTL_ATTACH_FOREGROUND	(1u << 0)  /* become the manager (exec) */
/* cachectl_detach() flags */
#define CACHECTL_DETACH_FORCE		(1u << 0)  /* lazily, even when busy */

enum {
	CACHECTL_MODE_CONNECTED = 1,	/* answers come from the server */
	CACHECTL_MODE_DISCONNECTED = 2,	/* answers come from the local cache */
};

/* cachectl_attach_query() flags */
#define CACHECTL_ATTACH_DATA		(1u << 0)  /* every byte is cached */
#define CACHECTL_ATTACH_PARTIAL		(1u << 1)  /* some bytes are cached */
#define CACHECTL_ATTACH_PINNED		(1u << 2)  /* hoarded: never culled */
#define CACHECTL_ATTACH_PROVISIONAL	(1u << 3)  /* attributes may be stale */
#define CACHECTL_ATTACH_LISTED		(1u << 4)  /* directory listed completely */
#define CACHECTL_ATTACH_DISCONNECTED	(1u << 5)  /* the attachment is offline */
#define CACHECTL_ATTACH_HOARDING	(1u << 6)  /* pins are still being fetched */

/* Options of an attachment; zero means the default. Extend only at the end. */
struct cachectl_attach_opts {
	uint64_t size;			/* bytes of unpinned data kept; 0: no limit */
	const char *cache_dir;		/* NULL: $XDG_CACHE_HOME/cachectl/offline/... */
	uint32_t timeout_ms;		/* origin deadline (2000) */
	uint32_t probe_ms;		/* probe interval (2000) */
	uint32_t actimeo_ms;		/* attribute revalidation (3000) */
	uint32_t reserved;
};

/**
 * cachectl_attach - attach a cache manager over a directory
 * @ctx: the context (its log receives the manager's start-up errors)
 * @path: a directory, usually on a network filesystem
 * @opts: options, or NULL for the defaults
 * @opts_size: sizeof(*@opts) as the caller knows it
 * @flags: 0, or CACHECTL_ATTACH_FOREGROUND to exec the manager in place of
 *	the calling process (for service managers)
 *
 * Starts cachectl-offline(8) as the calling user: it opens @path, mounts
 * itself over it (fusermount3, no privilege needed) and from then on
 * serves every operation under @path, from the server while it answers
 * and from the local cache when it does not. Paths do not change.
 * Returns once the attachment serves.
 *
 * Returns: 0; -EBUSY if @path is attached already; -EHOSTDOWN if the
 * server does not answer and nothing of @path is cached; -EPERM if
 * mounting is not allowed; -E2BIG for unknown non-zero option fields;
 * -EINVAL; another negative errno.
 * Since: 0.6
 */
int cachectl_attach(struct cachectl_ctx *ctx, const char *path,
		    const struct cachectl_attach_opts *opts, size_t opts_size,
		    unsigned int flags);

/**
 * cachectl_detach - give a directory back to its origin
 * @ctx: the context
 * @path: the attached directory
 * @flags: 0 or CACHECTL_DETACH_FORCE
 *
 * Unmounts the manager; it exits and the cache stays on disk for the
 * next attach. Files still open make it fail, unless forced: then the
 * mount is detached lazily, new opens reach the origin at once and the
 * files already open are served until they are closed. A crashed
 * manager's attachment (ENOTCONN) is detached the same way.
 *
 * Returns: 0; -EBUSY if files under @path are open; -EMEDIUMTYPE if
 * @path is not an attachment; another negative errno.
 * Since: 0.6
 */
int cachectl_detach(struct cachectl_ctx *ctx, const char *path,
		    unsigned int flags);

/**
 * cachectl_attach_get_mode - is an attachment connected?
 * @ctx: the context
 * @path: the attachment or any path under it
 * @ret_mode: receives CACHECTL_MODE_CONNECTED or CACHECTL_MODE_DISCONNECTED
 *
 * Returns: 0; -EMEDIUMTYPE if @path is not under an attachment;
 * -ENOTCONN if its manager has crashed (cachectl_detach() with
 * CACHECTL_DETACH_FORCE, or a new attach, gives the origin back);
 * another negative errno.
 * Since: 0.6
 */
int cachectl_attach_get_mode(struct cachectl_ctx *ctx, const char *path,
			     int *ret_mode);

/**
 * cachectl_attach_set_mode - disconnect or reconnect an attachment
 * @ctx: the context
 * @path: the attachment or any path under it
 * @mode: CACHECTL_MODE_DISCONNECTED or CACHECTL_MODE_CONNECTED
 *
 * A requested disconnect holds until a requested reconnect; a reconnect
 * first asks the server.
 *
 * Returns: 0; -EHOSTDOWN if the server does not answer (the attachment
 * stays disconnected); errors as cachectl_attach_get_mode().
 * Since: 0.6
 */
int cachectl_attach_set_mode(struct cachectl_ctx *ctx, const char *path,
			     int mode);

/**
 * cachectl_attach_query - what the local cache holds of a path
 * @ctx: the context
 * @path: a path under an attachment
 * @ret_flags: receives CACHECTL_ATTACH_* flags
 * @ret_why: receives 0 when @path would work offline, else the negative
 *	errno an offline use gets: -ENODATA (data not cached), -EACCES
 *	(permission not knowable offline), -EHOSTDOWN (not available while
 *	disconnected); may be NULL
 *
 * Answered by the manager from its cache; the attribute user.cachectl.why
 * of the path says the same in words.
 *
 * Returns: 0; errors as cachectl_attach_get_mode().
 * Since: 0.6
 */
int cachectl_attach_query(struct cachectl_ctx *ctx, const char *path,
			  unsigned int *ret_flags, int *ret_why);

/**
 * cachectl_attach_get_events_path - where managers announce events
 * @ret_path: receives the path, to be freed with free(3)
 *
 * Every manager of the user appends a line per event (disconnected,
 * connected, cache-full) to this file, beside cachectld's socket:
 * "SECONDS PID TYPE SERVER PATH DETAIL", fields \xHH-escaped
 * (cachectl-offline(5)). cachectl monitor --offline follows it.
 *
 * Returns: 0, -EINVAL, -ENOMEM.
 * Since: 0.6
 */
int cachectl_attach_get_events_path(char **ret_path);

#ifdef __cplusplus
}
#endif

#endif /* LIBCACHECTL_H */
