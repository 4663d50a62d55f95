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

/* inode-set.c: returns 1 if added, 0 if present, -ENOMEM */
int cachectl__inode_set_add(struct inode_set *s, uint64_t dev, uint64_t ino);
void cachectl__inode_set_free(struct inode_set *s);

/* A directory fd shared by the files whose opens are still in flight. */
struct dirref {
	int fd;
	unsigned int refs;
};

struct walk_level {
	uint64_t dev, ino;
	char *buf;
};

/* [off, end) of a file; end UINT64_MAX: to its end (range.c) */
struct span {
	uint64_t off, end;
};

struct spans {
	struct span *v;
	size_t n, cap;
};

struct cachectl_entry {
	const char *path;
	int error;
	bool has_res;
	uint64_t bytes;
	struct cachectl_residency res;
	/* range.c: the file as opened, and what of it is cached */
	bool has_stamp, has_spans;
	uint64_t size;
	int64_t mtime_ns;
	const struct spans *cached;	/* the walk's, until the callback ends */
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
	cachectl_filter_fn filter_fn;
	void *filter_data;

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
	bool remote;			/* the ring serves a remote device */
	struct dirref *dir;		/* remote: the directory being read */
	struct dirref *cwd;		/* remote: for roots that are files */
	dev_t engine_dev;		/* the device pick_engine() judged */
	struct pool *pool;		/* warm metadata: one core each */
	int nthreads;			/* 0 not tried, -1 none */
	struct cachectl_totals totals;

	/* range.c: which parts of each file, and how fast */
	struct spans ranges;		/* page-aligned, sorted, merged */
	cachectl_range_fn range_fn;
	void *range_data;
	uint64_t max_rate;		/* bytes/s; 0: no cap */
	uint64_t rate_t0_ns, rate_spent;
	bool serial;			/* this run: no pool, no ring */
	bool serial_read;		/* ... on a remote fs: read, wait */
	struct spans cached;		/* the entry's, CACHECTL_RUN_RANGES */
};

/* walk-path.c: string vectors, the path buffer, globs */
int cachectl__strv_add(struct strv *v, const char *s);
void cachectl__strv_free(struct strv *v);
/* appends "/name" to w->path; *mark restores it */
int cachectl__path_push(struct cachectl_walk *w, const char *name,
			size_t *mark);
void cachectl__path_pop(struct cachectl_walk *w, size_t mark);
/* a glob with a '/' matches the path, else the base name */
bool cachectl__glob_match(const struct strv *v, const char *path,
			  const char *base);

/* walk-tree.c: the traversal (filters, loops, hard links, getdents) */
/* @root: named by the caller (a vanished one is an error) */
int cachectl__tree_visit_dir(struct cachectl_walk *w, int dirfd,
			     const char *name, bool root, bool follow);
int cachectl__tree_visit_file(struct cachectl_walk *w, int dirfd,
			      const char *name, bool root, bool follow);
/* w->path excluded by the globs, or (a file) by the filter function? */
bool cachectl__tree_excluded(struct cachectl_walk *w, const char *base,
			     bool is_file);

/* range.c: ranges, cached ranges, the rate cap, for the engine */
/* does the run go through cachectl__range_run() for each file? */
bool cachectl__range_wanted(const struct cachectl_walk *w);
/* the run needs one file at a time on the caller's thread */
bool cachectl__range_serial(const struct cachectl_walk *w);
int cachectl__range_run(struct cachectl_walk *w, int fd,
			const struct stat *st, struct cachectl_entry *e);
void cachectl__range_run_start(struct cachectl_walk *w);
void cachectl__range_run_end(struct cachectl_walk *w);

/* engine-choice.c: synchronous, threads or io_uring, per device */
void cachectl__engine_choose(struct cachectl_walk *w, const char *path);

#endif
