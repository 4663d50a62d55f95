/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A scripted kernel behind struct cachectl_sysops. Page-cache state is a
 * bitmap of resident pages of one pretend file; fadvise and pread change
 * it the way the kernel would (with a readahead cap), so tests check the
 * library's decisions, not a replay of its own calls.
 */
#ifndef FAKE_KERNEL_H
#define FAKE_KERNEL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "cachectl-private.h"

#define FAKE_PAGES 65536	/* 256 MiB of 4 KiB pages */

struct fake_call {
	int advice;
	uint64_t off, len;
};

struct fake_kernel {
	uint64_t size;			/* pretend st_size */
	uint64_t blocks;		/* pretend st_blocks (512 B) */
	bool resident[FAKE_PAGES];
	bool pinned[FAKE_PAGES];	/* DONTNEED cannot drop these */
	int settle;			/* DONTNEED tries until locked pages drop */
	int cachestat_err;		/* forced error, e.g. -EPERM, -ENOSYS */
	int access_err;
	bool foreign;			/* st_uid is someone else's */
	uint64_t caps;			/* effective capabilities, 1 << CAP_x */			/* access_write answer */
	uint64_t ra_cap;		/* WILLNEED reads at most this much */
	/* data extents [start, end) for SEEK_DATA/SEEK_HOLE; none = dense */
	uint64_t ext[8][2];
	int next;
	struct fake_call calls[256];
	int ncalls;
	int cachestat_calls;
	int mincore_calls;
	uint64_t hole_pages;		/* WILLNEED on holes */
	int populate_calls;
	uint64_t populate_reads;	/* pages WAIT had to read itself */
	/*
	 * fcachectl(2): offered when the suite runs with
	 * CACHECTL_BACKEND=kernel, so every test also goes through the
	 * kernel backend. The file is local unless a test gives it an
	 * fscache object.
	 */
	bool syscall;
	int probe_answer;		/* 0: the magic one */
	bool object;			/* a cache holds the file */
	bool fscache[FAKE_PAGES];	/* pages in the cache object */
	bool kpinned, nocull;
	char daemon_cmd[32];		/* last /dev/cachefiles command */
	int daemon_err;			/* its answer, 0: as cachefiles */
	int kcalls[8];			/* fcachectl calls per op */
	uint64_t kflags;		/* flags of the last call */
};

/*
 * A pretend directory tree for the walk (openat, getdents64, fstatat and
 * fstat on its fds). Node 0 is the root, reached by its name from
 * AT_FDCWD; the rest by name in their parent's fds. Files opened here are
 * /dev/null underneath and share fk's one pretend file's page state.
 */
#define FAKE_NODES 64

struct fake_node {
	const char *name;
	mode_t type;			/* S_IFDIR, S_IFREG, S_IFIFO, S_IFLNK */
	int parent;
	int target;			/* symlinks: the node, -1 dangling */
	uint64_t ino;			/* 0: its index + 100 */
	bool vanished;			/* listed, but gone when opened */
	bool unknown_type;		/* getdents says DT_UNKNOWN */
	int opens;			/* times opened */
};

struct fake_tree {
	struct fake_node n[FAKE_NODES];
	int count;
	int fdnode[1024];		/* fd -> node + 1 (0: not ours) */
	int fdpos[1024];		/* getdents cursor */
	int getdents_err;		/* forced error from getdents64 */
};

extern struct fake_kernel fk;
extern struct fake_tree ft;

/* starts a tree whose root is @root; returns the root's index (0) */
int fake_tree_reset(const char *root);
/* adds a child of @parent; returns its index */
int fake_tree_add(int parent, const char *name, mode_t type);
int fake_tree_link(int parent, const char *name, int target);
extern const struct cachectl_sysops fake_sysops;

void fake_reset(uint64_t size);
uint64_t fake_resident_bytes(uint64_t off, uint64_t len);
uint64_t fake_fscache_bytes(uint64_t off, uint64_t len);
bool fake_kernel_backend(void);
/*
 * A context on the fake kernel that chooses its backend for itself
 * (@backend NULL), whatever the suite's environment, or is forced to
 * @backend. NULL if it cannot be had.
 */
struct cachectl_ctx *fake_ctx_new(const char *backend);

#endif
