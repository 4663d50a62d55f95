/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CACHECTL_WALK_PRIVATE_H
#define CACHECTL_WALK_PRIVATE_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "cachectl-private.h"

struct strv {
	char **s;
	size_t n;
};

/* (dev, ino) set: hard-link dedupe and directories seen through symlinks */
struct inode_set {
	struct inode_key {
		uint64_t dev, ino;
	} *slots;
	size_t cap, n;
};

/* Returns 1 if added, 0 if present, -ENOMEM. */
int inode_set_add(struct inode_set *s, uint64_t dev, uint64_t ino);
void inode_set_free(struct inode_set *s);

/* A directory fd shared by the files whose opens are still in flight. */
struct dirref {
	int fd;
	unsigned int refs;
};

struct dirref *dirref_new(int fd);
void dirref_put(struct dirref *d);

struct walk_level {
	uint64_t dev, ino;
	char *buf;
};

struct cachectl_entry {
	const char *path;
	int error;
	bool has_res;
	uint64_t bytes;
	struct cachectl_residency res;
};

struct cachectl_walk {
	int refcount;
	struct cachectl_ctx *ctx;
	const struct cachectl_backend_ops *be;	/* the ctx's, for a run */
	unsigned int flags;
	unsigned int queue_depth;
	bool force_uring;
	unsigned int jobs;		/* 0: automatic */
	unsigned int timeout_ms;	/* 0: wait for ever */
	struct strv roots, excludes, includes;

	cachectl_dir_fn dir_fn;
	void *dir_data;

	cachectl_progress_fn progress_fn;
	void *progress_data;
	uint64_t progress_ns, progress_last;

	/* state of one run */
	int op;
	unsigned int run_flags;
	cachectl_entry_fn fn;
	void *fn_data;
	bool failed;
	bool noatime;
	dev_t root_dev;
	char *path;
	size_t path_len, path_cap;
	struct walk_level *stack;
	size_t depth, stack_cap;
	struct inode_set links, dirs;
	struct uring_batch *uring;	/* prefetch, or all of a remote walk */
	bool uring_read;
	struct dirref *dir;		/* remote: the directory being read */
	struct dirref *cwd;		/* remote: for roots that are files */
	dev_t engine_dev;		/* the device pick_engine() judged */
	struct pool *pool;		/* warm metadata: one core each */
	int nthreads;			/* 0 not tried, -1 none */
	struct cachectl_totals totals;
};

/* uring.c: the walk's side of each file, called in the walk's thread */
struct uring_ops {
	/* stat and operate on a file the ring opened: <0, 0, 1 = skip */
	int (*start)(struct cachectl_walk *w, int fd, struct stat *st,
		     struct cachectl_entry *e, bool root, bool *needed);
	/* after its data requests ended with @error */
	int (*finish)(struct cachectl_walk *w, int fd, const struct stat *st,
		      struct cachectl_entry *e, int error);
	/* in walk order */
	int (*emit)(struct cachectl_walk *w, struct cachectl_entry *e,
		    const struct stat *st, int error, bool skip);
	void (*tick)(struct cachectl_walk *w);
};

struct uring_batch;
int uring_batch_new(struct cachectl_walk *w, const struct uring_ops *ops,
		    unsigned int depth, bool read, bool remote,
		    struct uring_batch **ret);
void uring_batch_free(struct uring_batch *b);
bool uring_batch_remote(const struct uring_batch *b);
/* takes @fd; flushes the batch when it is full */
int uring_batch_add(struct uring_batch *b, struct cachectl_walk *w, int fd,
		    const struct stat *st, const char *path,
		    const struct cachectl_entry *e, bool needed);
/* opens path + name_off relative to @dir through the ring */
int uring_batch_add_name(struct uring_batch *b, struct cachectl_walk *w,
			 struct dirref *dir, const char *path, size_t name_off,
			 unsigned int open_flags, bool root,
			 struct cachectl_entry *e);
int uring_batch_flush(struct uring_batch *b, struct cachectl_walk *w);

#endif
