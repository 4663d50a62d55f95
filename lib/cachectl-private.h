/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CACHECTL_PRIVATE_H
#define CACHECTL_PRIVATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <syslog.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>

#include "config.h"
#include <libcachectl/libcachectl.h>
#include "uapi-cachestat.h"

struct kcachectl_args;
struct cachectl_backend_ops;

#define CACHECTL_EXPORT __attribute__((visibility("default")))

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* WILLNEED and readahead(2) stop at the readahead window: always chunk. */
#define CACHECTL_CHUNK (8ull << 20)

/*
 * Every kernel access goes through this table, so unit tests can script
 * the kernel's answers. Each returns >= 0 or a negative errno.
 */
struct cachectl_sysops {
	int (*cachestat)(int fd, uint64_t off, uint64_t len,
			 struct cachestat *cs);
	/* fcachectl(2): op's answer (>= 0) or -errno; NULL: none */
	long (*fcachectl)(int fd, unsigned int op, struct kcachectl_args *args);
	/* one command written to the cache daemon's /dev/cachefiles */
	int (*cachefiles_cmd)(const char *cmd);
	/* mincore over [off, off+len): resident page count */
	int (*mincore)(int fd, uint64_t off, uint64_t len, uint64_t *pages);
	/* mincore's vector of [off, off+len), off page-aligned (range.c) */
	int (*mincore_vec)(int fd, uint64_t off, uint64_t len,
			   unsigned char *vec);
	int (*fadvise)(int fd, uint64_t off, uint64_t len, int advice);
	int64_t (*pread)(int fd, void *buf, size_t len, uint64_t off);
	/* wait until [off, off+len) is read in, without copying */
	int (*populate)(int fd, uint64_t off, uint64_t len);
	int (*fstat)(int fd, struct stat *st);
	/* the walk's: fd or -errno, getdents64's byte count or -errno */
	int (*openat)(int dirfd, const char *name, int flags);
	long (*getdents64)(int fd, void *buf, size_t len);
	int (*fstatat)(int dirfd, const char *name, struct stat *st,
		       int flags);
	int (*statfs)(const char *path, struct statfs *sf);
	int (*fstatfs)(int fd, struct statfs *sf);
	/* the path @fd was opened by, as this process sees it, and the
	 * mountinfo ID of its mount: the ID, or -errno */
	int (*fd_path)(int fd, char *buf, size_t len);
	/* getxattr(2) of @path, not following a last symlink */
	int64_t (*getxattr)(const char *path, const char *name, void *buf,
			    size_t len);
	int (*close)(int fd);
	/* lseek SEEK_DATA / SEEK_HOLE */
	int64_t (*seek)(int fd, uint64_t off, int whence);
	int (*access_write)(int fd);	/* 0 if the caller could write fd */
	int (*has_cap)(int cap);	/* 1 if effective, 0 if not */
	void (*nap)(unsigned int ms);
};

extern const struct cachectl_sysops cachectl__default_sysops;

struct cachectl_ctx {
	int refcount;
	cachectl_log_fn log_fn;
	void *log_data;
	int log_priority;
	const struct cachectl_sysops *ops;
	/* chosen once, by the probe (backend.h): NULL until probed */
	const struct cachectl_backend_ops *be;
	int be_err;			/* the probe's failure, if any */
	unsigned int features;
	int forced_backend;		/* from CACHECTL_BACKEND, <0 bad name */
	int page_size;
	int fowner;			/* CAP_FOWNER: -1 not yet asked */
	int cachestat;			/* 0 untried, 1 works, 2 ENOSYS */
	pthread_mutex_t stacked_lock;
	struct cachectl__stacked *stacked;	/* stacked.c: the last overlay */
	dev_t stacked_dev;		/* and the last device's kind + 1 */
	int stacked_kind;
};

/* cachefiles-cmd.c: one command on the cache daemon's /dev/cachefiles */
int cachectl__cachefiles_cmd(const char *cmd);

/* For tests: swap the kernel seam. */
void cachectl__ctx_set_sysops(struct cachectl_ctx *ctx,
			     const struct cachectl_sysops *ops);

void cachectl__log(struct cachectl_ctx *ctx, int priority, const char *file,
		  int line, const char *fn, const char *format, ...)
	__attribute__((format(printf, 6, 7)));

static inline void __attribute__((always_inline, format(printf, 2, 3)))
cachectl_log_null(struct cachectl_ctx *ctx, const char *format, ...) {}

#define cachectl_log_cond(ctx, prio, ...)                                     \
	do {                                                                  \
		if ((ctx)->log_priority >= (prio))                            \
			cachectl__log(ctx, prio, __FILE__, __LINE__, __func__, \
				     __VA_ARGS__);                            \
	} while (0)

#if ENABLE_LOGGING
#if ENABLE_DEBUG
#define dbg(ctx, ...) cachectl_log_cond(ctx, LOG_DEBUG, __VA_ARGS__)
#else
#define dbg(ctx, ...) cachectl_log_null(ctx, __VA_ARGS__)
#endif
#define info(ctx, ...) cachectl_log_cond(ctx, LOG_INFO, __VA_ARGS__)
#define err(ctx, ...) cachectl_log_cond(ctx, LOG_ERR, __VA_ARGS__)
#else
#define dbg(ctx, ...) cachectl_log_null(ctx, __VA_ARGS__)
#define info(ctx, ...) cachectl_log_null(ctx, __VA_ARGS__)
#define err(ctx, ...) cachectl_log_null(ctx, __VA_ARGS__)
#endif

/* cache-list.c: the table is $CACHECTL_MOUNTINFO or ours; NULL: none */
struct libmnt_table;
struct libmnt_table *cachectl__mount_table(void);
char **cachectl__fscache_mounts(void);
/* "fstype:source" of the mount holding @path (attachments group by it) */
int cachectl__mount_source(const char *path, char **ret);

/* stacked.c: the file holding the pages of an overlayfs file */
enum {
	CACHECTL__STACKED_NO = 0,
	CACHECTL__STACKED_OVERLAY,	/* the pages are a layer's file's */
	CACHECTL__STACKED_FUSE,		/* its own, or a passthrough's */
};
int cachectl__stacked_kind(struct cachectl_ctx *ctx, int fd,
			   const struct stat *st);
int cachectl__stacked_kind_nowait(struct cachectl_ctx *ctx, int fd);
int cachectl__stacked_open(struct cachectl_ctx *ctx, int fd,
			   const struct stat *st);
void cachectl__stacked_free(struct cachectl_ctx *ctx);

/* log.c */
void cachectl__log_stderr(void *data, int priority, const char *file,
			  int line, const char *fn, const char *format,
			  va_list args)
	__attribute__((format(printf, 6, 0)));
int cachectl__log_priority_parse(const char *s);

/* file.c */
int cachectl__residency_copy(const struct cachectl_residency *res,
			    struct cachectl_residency *ret, size_t size);

/* probe.c: CACHECTL_BACKEND's value, <0 for a name it does not know */
int cachectl__backend_parse(const char *name);

/*
 * Is the range all there: in the page cache and, where a cache holds the
 * file, in its fscache object too? Unknown counts as not there.
 */
static inline bool cachectl_res_complete(const struct cachectl_residency *r)
{
	if (r->flags & CACHECTL_RES_UNKNOWN)
		return false;
	if (r->cached < r->range)
		return false;
	return !((r->flags & CACHECTL_RES_FSCACHE) &&
		 (r->cache_state & CACHECTL_CACHE_OBJECT) &&
		 r->fscache < r->range);
}

/* Clamp [offset, offset+length) to the file; length 0 = to EOF. */
static inline uint64_t cachectl_range_clamp(uint64_t size, uint64_t offset,
					    uint64_t length)
{
	if (offset >= size)
		return 0;
	if (length == 0 || length > size - offset)
		return size - offset;
	return length;
}

#endif
