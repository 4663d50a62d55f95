/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The per-file engine and the io_uring pipeline above it. The layering is
 * run (walk.c) -> traversal (walk-tree.c) -> pool | uring -> engine ->
 * backend -> sysops; nothing calls back up.
 */
#ifndef CACHECTL_ENGINE_H
#define CACHECTL_ENGINE_H

#include <stdbool.h>
#include <sys/stat.h>

#include "walk-private.h"

/* ---- engine.c: one file, from open to its entry ------------------------ */

/*
 * Open a file the walk found. Returns 0 with *ret_fd set, 1 if the file
 * is to be skipped (vanished, became something else, other filesystem),
 * or a negative errno. @root: the path came from the caller, so a
 * vanished file is an error and a symlink there is followed.
 */
int cachectl__engine_open(struct cachectl_walk *w, int dirfd, const char *name,
			  bool root, bool follow, int *ret_fd, struct stat *st);
/* the caller reads residency (no CACHECTL_RUN_NO_RESIDENCY) */
bool cachectl__engine_numbers(const struct cachectl_walk *w);
/* open(2) flags for opens through the ring */
unsigned int cachectl__engine_open_flags(bool follow);

/* The walk's operation on an open file, synchronously. */
int cachectl__engine_run(struct cachectl_walk *w, int fd,
			 const struct stat *st, struct cachectl_entry *e);
/*
 * For the ring: query, and say whether it has data to move
 * (*needed); clears O_NONBLOCK where the ring will read.
 */
int cachectl__engine_prepare(struct cachectl_walk *w, int fd,
			     const struct stat *st, struct cachectl_entry *e,
			     bool *needed);
/* a file the ring opened: stat it and operate: <0, 0, 1 = skip */
int cachectl__engine_start(struct cachectl_walk *w, int fd, struct stat *st,
			   struct cachectl_entry *e, bool root, bool *needed);
/* after the ring's data requests for it ended with @error */
int cachectl__engine_finish(struct cachectl_walk *w, int fd,
			    const struct stat *st, struct cachectl_entry *e,
			    int error);

/* Results, in walk order, on the caller's thread. */
/* the operation ended with @r: count the file and hand it to the caller */
int cachectl__engine_done(struct cachectl_walk *w, struct cachectl_entry *e,
			  int r);
/* a file of the ring: skipped, a second hard link, or done */
int cachectl__engine_emit(struct cachectl_walk *w, struct cachectl_entry *e,
			  const struct stat *st, int error, bool skip);
/* w->path failed with @error; a filesystem that is gone stops the walk */
int cachectl__engine_fail(struct cachectl_walk *w, int error);
/* another link of a file done before (counted as skipped by the caller) */
bool cachectl__engine_link_seen(struct cachectl_walk *w,
				const struct stat *st);
void cachectl__engine_progress(struct cachectl_walk *w);
/* the progress interval counts from here */
void cachectl__engine_progress_start(struct cachectl_walk *w);

/* ---- uring.c: the io_uring pipeline ------------------------------------ */

struct uring_batch;
int cachectl__uring_batch_new(struct cachectl_walk *w, unsigned int depth,
			      bool read, bool remote,
			      struct uring_batch **ret);
void cachectl__uring_batch_free(struct uring_batch *b);
bool cachectl__uring_batch_remote(const struct uring_batch *b);
/* takes @fd; flushes the batch when it is full */
int cachectl__uring_batch_add(struct uring_batch *b, struct cachectl_walk *w,
			      int fd, const struct stat *st, const char *path,
			      const struct cachectl_entry *e, bool needed);
/* opens path + name_off relative to @dir through the ring */
int cachectl__uring_batch_add_name(struct uring_batch *b,
				   struct cachectl_walk *w, struct dirref *dir,
				   const char *path, size_t name_off,
				   unsigned int open_flags, bool root,
				   struct cachectl_entry *e);
int cachectl__uring_batch_flush(struct uring_batch *b,
				struct cachectl_walk *w);

struct dirref *cachectl__dirref_new(int fd);
void cachectl__dirref_put(struct dirref *d);

#endif
