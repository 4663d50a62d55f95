/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CACHECTL_WALK_PRIVATE_H
#define CACHECTL_WALK_PRIVATE_H

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
	unsigned int flags;
	unsigned int queue_depth;
	bool force_uring;
	struct strv roots, excludes, includes;

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
	struct uring_batch *uring;	/* prefetch through io_uring */
	struct pool *pool;		/* warm metadata: one core each */
	int nthreads;			/* 0 not tried, -1 none */
	struct cachectl_totals totals;
};

/* uring.c */
struct uring_batch;
int uring_batch_new(struct cachectl_walk *w, bool read,
		    struct uring_batch **ret);
void uring_batch_free(struct uring_batch *b);
bool uring_batch_full(const struct uring_batch *b);
int uring_batch_add(struct uring_batch *b, int fd, const struct stat *st,
		    const char *path, const struct cachectl_entry *e,
		    bool needed);
int uring_batch_flush(struct uring_batch *b, struct cachectl_walk *w,
		      int (*done)(struct cachectl_walk *w,
				  struct cachectl_entry *e, int fd,
				  const struct stat *st, int error));

#endif
