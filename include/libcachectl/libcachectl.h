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

/* ---- per-file operations ---------------------------------------------- */

/* cachectl_residency.flags */
#define CACHECTL_RES_UNKNOWN	(1u << 0)  /* kernel would not say: counts are 0 */
#define CACHECTL_RES_NO_STATE	(1u << 1)  /* dirty/writeback/evicted not known */

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
 * Uses cachestat(2) where the kernel has it, else mincore(2). When the
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

/* cachectl_file_prefetch() flags */
#define CACHECTL_PREFETCH_READ	(1u << 0)  /* read the data, do not advise */
#define CACHECTL_PREFETCH_WAIT	(1u << 1)  /* return when the data is in */

/**
 * cachectl_file_prefetch - bring a range of a file into the page cache
 * @ctx: the context
 * @fd: a file descriptor of a regular file, open for reading
 * @offset: first byte
 * @length: bytes, 0 for "to the end of the file"
 * @flags: CACHECTL_PREFETCH_* bits
 * @ret_bytes: if not NULL, receives the bytes that were requested from
 *	the filesystem (resident ranges and holes are skipped)
 *
 * Issues readahead in chunks, because the kernel caps one call at the
 * readahead window, skipping what is resident already and, on
 * filesystems that report them, holes. CACHECTL_PREFETCH_READ reads the
 * data instead, for filesystems where advice does not populate the
 * cache.
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

/* Operation applied to each regular file by cachectl_walk_run(). */
enum {
	CACHECTL_OP_QUERY = 1,
	CACHECTL_OP_PREFETCH = 2,
	CACHECTL_OP_EVICT = 3,
};

/* cachectl_walk_run() flags, valid with CACHECTL_OP_PREFETCH */
#define CACHECTL_RUN_READ	CACHECTL_PREFETCH_READ
#define CACHECTL_RUN_WAIT	CACHECTL_PREFETCH_WAIT

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

typedef void (*cachectl_progress_fn)(struct cachectl_walk *walk,
				     const struct cachectl_totals *totals,
				     void *data);

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
 * io_uring (synchronously, one file at a time, where the kernel has no
 * io_uring). Each file in flight holds a descriptor, so the depth is
 * capped at a quarter of RLIMIT_NOFILE.
 *
 * Returns: 0, -EINVAL for a depth out of range.
 * Since: 0.1
 */
int cachectl_walk_set_queue_depth(struct cachectl_walk *walk,
				  unsigned int depth);

/**
 * cachectl_walk_run - visit every file and apply an operation
 * @walk: the walk, with at least one path added
 * @op: CACHECTL_OP_QUERY, CACHECTL_OP_PREFETCH or CACHECTL_OP_EVICT
 * @flags: CACHECTL_RUN_* bits (prefetch only), else 0
 * @fn: called per file and per failed path; may be NULL
 * @data: passed to @fn
 *
 * FIFOs, sockets and devices are never opened and are counted as
 * skipped, as are files that vanish between readdir and open. Errors on
 * single paths (missing roots, unreadable files, symlink loops) are
 * handed to @fn and counted; the walk goes on.
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

#ifdef __cplusplus
}
#endif

#endif /* LIBCACHECTL_H */
