/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cachectl-offline: the cache manager of one attachment. Layers, each
 * calling only those below it:
 *
 *   main.c     options, the origin fd opened before the mount, the loop
 *   ops.c      the FUSE low-level operations: connected or offline answers
 *   hoard.c    pins under the attachment fetched whole, in the background
 *   node.c     the in-memory node table over the store; revalidation,
 *              listings, data fills (the origin's answers kept)
 *   mode.c     connected/disconnected, the probe, the server group, events
 *   notify.c   desktop notifications over the session bus
 *   write.c    the changing operations: through to the origin, kept
 *   origin.c   origin I/O in worker threads, every call with a deadline
 *   origin_write.c  the origin's changing calls, as the request's user
 *   store.c    SQLite metadata and the sparse data files
 */
#ifndef CACHECTL_OFFLINE_H
#define CACHECTL_OFFLINE_H

#define FUSE_USE_VERSION 312

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "common/clock.h"

/* the errors offline answers stand for; cachectl-offline(5) documents them */
#define CO_ENODATA	ENODATA		/* the data is not in the cache */
#define CO_EPERM	EACCES		/* whether you may is not known offline */
#define CO_EDISCON	EHOSTDOWN	/* not available while disconnected */

#define CO_XATTR_PREFIX	"user.cachectl."

enum { CO_CONNECTED = 1, CO_DISCONNECTED = 2 };

struct co_store;
struct co_journal;
struct co_mgr;

struct co_range {
	uint64_t start, end;
};

/* one object of the origin; all fields under mgr->lock */
struct co_node {
	uint64_t id;			/* FUSE nodeid = store row id; 1 = root */
	uint64_t parent;
	char *name;
	char *path;			/* relative to the origin fd; "" = root */
	struct stat st;			/* the origin's attributes as last seen */
	uint64_t validated_ns;		/* when st was last confirmed */
	uint64_t validated_epoch;	/* mode epoch it was confirmed in */
	uint64_t listed_ns;		/* directory: when last listed whole */
	uint64_t listed_epoch;
	bool listed;			/* directory: listed completely once */
	bool xattrs_known;
	bool pinned;
	bool complete;			/* every byte of st.st_size cached */
	char *link;			/* symlink target */
	struct co_range *ranges;	/* data present, sorted, merged */
	size_t nranges;
	uint64_t gen;			/* bumped when the origin's data changed */
	uint64_t kgen;			/* gen the kernel's page cache holds */
	uint64_t wgen;			/* bumped by each change made here */
	uint64_t used;			/* LRU clock */
	struct co_node *next_id, *next_name;
};

/* an xattr as kept */
struct co_xattr {
	char *name;
	void *value;
	size_t size;
};

struct co_opts {
	const char *path;		/* the attachment (and origin) path */
	const char *cache_dir;
	const char *server;		/* group key: origin mount source */
	uint64_t size_limit;		/* 0: no limit */
	unsigned int actimeo_ms;	/* attribute revalidation */
	unsigned int timeout_ms;	/* origin deadline and latency limit */
	unsigned int probe_ms;
	int ready_fd;
	bool debug;
};

#define CO_DLOCKS 64

/* an open file (fi->fh) */
struct co_file {
	uint64_t id;
	int cfd;		/* the cache's data file */
	int ofd;		/* the origin's, for reads, opened on the first miss */
	int wfd;		/* the origin's, for writes; -1 when read-only */
	bool writable;		/* opened for writing (offline: wfd is -1) */
};

struct co_mgr {
	struct co_opts o;
	int root_fd;			/* the origin directory, opened pre-mount */
	int data_fd;			/* the cache's data directory */
	struct fuse_session *se;
	struct co_store *store;
	struct co_journal *journal;	/* offline changes (journal.c) */

	pthread_mutex_t lock;		/* nodes, ranges, totals */
	struct co_node **by_id, **by_name;
	size_t nbuckets, nnodes;
	uint64_t cached_bytes;
	uint64_t lru_clock;
	bool full_reported;

	/* origin workers (origin.c) */
	pthread_mutex_t wlock;
	pthread_cond_t wcond;
	struct co_job *queue_head, *queue_tail;
	unsigned int nworkers, idle, busy;
	bool stopping;

	/* mode (mode.c) */
	pthread_mutex_t mlock;
	pthread_cond_t mcond;
	int mode;
	bool manual;			/* disconnected by request: no probe back */
	uint64_t epoch;			/* bumped on every reconnect */
	char reason[256];
	struct co_job *probe_job;	/* outstanding probe */
	bool probe_now;
	struct co_event *events, *events_tail;
	char *events_path;
	int events_fd;
	pthread_t probe_thread, event_thread, watch_thread;

	/* hoarding (hoard.c) */
	pthread_mutex_t hlock;
	pthread_cond_t hcond;
	bool hoard_wanted, hoarding;
	int hoard_errors;
	char *state_dir;
	pthread_t hoard_thread;

	/* writers of an object's data file and its claims, by id % CO_DLOCKS:
	 * a fill and a write through never interleave on one object */
	pthread_mutex_t dlock[CO_DLOCKS];

	/* kernel invalidations, sent outside the request that found them */
	uint64_t *inval;
	size_t ninval, inval_cap;
};

/* ---- origin.c: the origin's I/O, each call bounded by a deadline ------- */

struct co_job;
typedef int (*co_job_fn)(struct co_mgr *m, struct co_job *j);

struct co_job {
	co_job_fn fn;
	int refs;			/* caller + worker; under m->wlock */
	bool done, cancelled;
	int result;
	pthread_cond_t cond;
	struct co_job *next;
	/* arguments and results, owned by the job */
	char *path;
	int fd;				/* origin fd the job may open or use */
	uint64_t off, len;
	void *buf;
	size_t size;
	struct stat st;
	void *out;			/* fn-specific result */
	void (*out_free)(void *out);
	/* changing calls (origin_write.c) */
	char *path2;			/* rename/link destination */
	char *target;			/* symlink target */
	struct stat st2;		/* write: before it; exchange: the other */
	struct stat pst, pst2;		/* parents of path, path2 after it */
	mode_t mode;
	dev_t rdev;
	int flags;			/* open/rename/xattr flags */
	int valid;			/* setattr: FUSE_SET_ATTR_* */
	uid_t uid, cred_uid;
	gid_t gid, cred_gid;
	struct timespec times[2];
	char *xname;
	int xerr;			/* reading the xattrs back: 0 or -errno */
};

int co_origin_start(struct co_mgr *m);
void co_origin_stop(struct co_mgr *m);
struct co_job *co_job_new(co_job_fn fn, const char *path);
void co_job_put(struct co_mgr *m, struct co_job *j);
/* queue and wait up to the deadline: the job's result, -ETIMEDOUT when
 * the origin did not answer in time, -EINTR when @req was interrupted */
int co_origin_call(struct co_mgr *m, struct co_job *j, fuse_req_t req);

/* job functions (origin.c) */
int co_job_stat(struct co_mgr *m, struct co_job *j);
int co_job_probe(struct co_mgr *m, struct co_job *j);
int co_job_readlink(struct co_mgr *m, struct co_job *j);
int co_job_list(struct co_mgr *m, struct co_job *j);
int co_job_read(struct co_mgr *m, struct co_job *j);
int co_job_xattrs(struct co_mgr *m, struct co_job *j);

/* changing job functions (origin_write.c): each runs as j->cred_uid/gid,
 * and leaves the object's attributes after the change in j->st */
int co_job_create(struct co_mgr *m, struct co_job *j);
int co_job_open_write(struct co_mgr *m, struct co_job *j);
int co_job_write(struct co_mgr *m, struct co_job *j);
int co_job_setattr(struct co_mgr *m, struct co_job *j);
int co_job_mknod(struct co_mgr *m, struct co_job *j);
int co_job_mkdir(struct co_mgr *m, struct co_job *j);
int co_job_symlink(struct co_mgr *m, struct co_job *j);
int co_job_link(struct co_mgr *m, struct co_job *j);
int co_job_unlink(struct co_mgr *m, struct co_job *j);
int co_job_rmdir(struct co_mgr *m, struct co_job *j);
int co_job_rename(struct co_mgr *m, struct co_job *j);
int co_job_setxattr(struct co_mgr *m, struct co_job *j);
int co_job_removexattr(struct co_mgr *m, struct co_job *j);
int co_job_flush(struct co_mgr *m, struct co_job *j);
int co_job_fsync(struct co_mgr *m, struct co_job *j);
int co_job_close(struct co_mgr *m, struct co_job *j);

/* a listing: names, their attributes and link targets */
struct co_dirent {
	char *name;
	struct stat st;
	char *link;
};
struct co_listing {
	struct co_dirent *v;
	size_t n;
};
struct co_xattrs {
	struct co_xattr *v;
	size_t n;
};
void co_listing_free(void *p);
void co_xattrs_free(void *p);

/* ---- store.c: SQLite (WAL) metadata, sparse data files ---------------- */

int co_store_open(struct co_mgr *m, struct co_store **ret);
void co_store_close(struct co_store *s);
/* the row of @id, or of (@parent, @name); 0, -ENOENT */
int co_store_load(struct co_store *s, uint64_t id, struct co_node *n);
int co_store_find(struct co_store *s, uint64_t parent, const char *name,
		  struct co_node *n);
/* inserts when n->id is 0 (setting it), else updates */
int co_store_put(struct co_store *s, struct co_node *n);
int co_store_put_ranges(struct co_store *s, const struct co_node *n);
/* bytes of @n's data present */
uint64_t co_node_cached(const struct co_node *n);
/* children of a directory: ids, malloc'ed */
int co_store_children(struct co_store *s, uint64_t parent, uint64_t **ret_ids,
		      size_t *ret_n);
/* drop rows of @parent's children not in @keep (a listing's names) */
int co_store_prune(struct co_store *s, uint64_t parent,
		   const struct co_listing *keep, uint64_t **ret_gone,
		   size_t *ret_ngone);
/* the row of @id with its ranges and xattrs, in the store's transaction */
int co_store_delete(struct co_store *s, uint64_t id);
int co_store_put_xattrs(struct co_store *s, uint64_t id,
			const struct co_xattrs *x);
int co_store_get_xattrs(struct co_store *s, uint64_t id, struct co_xattrs *x);
int co_store_begin(struct co_store *s);
int co_store_commit(struct co_store *s);
int co_store_abort(struct co_store *s, int err);
struct sqlite3 *co_store_db(struct co_store *s);
struct sqlite3_stmt;
int co_store_prepare(struct co_store *s, const char *sql,
		     struct sqlite3_stmt **st);
/* a statement's end (reset, unbound): 0 or the errno @rc stands for */
int co_store_done(struct co_store *s, struct sqlite3_stmt *st, int rc);
void co_store_lock(struct co_store *s);
void co_store_unlock(struct co_store *s);
/* least recently used nodes holding data and not pinned */
int co_store_lru(struct co_store *s, uint64_t **ret_ids, size_t *ret_n,
		 size_t max);
uint64_t co_store_cached_total(struct co_store *s);
/* nodes marked pinned by the hoarder */
int co_store_pinned(struct co_store *s, uint64_t **ret_ids, size_t *ret_n);

/* ---- node.c: the node table, revalidation, listings, fills ------------ */

int co_nodes_init(struct co_mgr *m);
void co_nodes_free(struct co_mgr *m);
/* under m->lock */
struct co_node *co_node_get(struct co_mgr *m, uint64_t id);
struct co_node *co_node_child(struct co_mgr *m, struct co_node *dir,
			      const char *name);
bool co_node_fresh(struct co_mgr *m, const struct co_node *n);
bool co_node_provisional(struct co_mgr *m, const struct co_node *n);
bool co_node_has(const struct co_node *n, uint64_t off, uint64_t end);
void co_node_touch(struct co_mgr *m, struct co_node *n);
/* not under m->lock: may ask the origin */
int co_revalidate(struct co_mgr *m, uint64_t id, fuse_req_t req);
int co_lookup_origin(struct co_mgr *m, uint64_t parent, const char *name,
		     fuse_req_t req, uint64_t *ret_id);
int co_list(struct co_mgr *m, uint64_t id, fuse_req_t req);
int co_fill(struct co_mgr *m, uint64_t id, int cfd, int *ofd, uint64_t off,
	    uint64_t len, fuse_req_t req, void **ret_buf, size_t *ret_size);
int co_fetch_xattrs(struct co_mgr *m, uint64_t id, fuse_req_t req);
int co_data_open(struct co_mgr *m, uint64_t id);
void co_inval_flush(struct co_mgr *m);
/* an origin call's error: switch modes if it says the server is gone */
int co_origin_failed(struct co_mgr *m, const char *what, int err);
/* for the write side (under m->lock unless said) */
struct co_node *co_node_upsert(struct co_mgr *m, struct co_node *dir,
			       const char *name, const struct stat *st,
			       const char *link);
void co_node_forget_data(struct co_mgr *m, struct co_node *n);
bool co_version_changed(const struct stat *a, const struct stat *b);
void co_range_add(struct co_node *n, uint64_t start, uint64_t end);
void co_range_clip(struct co_node *n, uint64_t start, uint64_t end);
void co_node_unname(struct co_mgr *m, struct co_node *n);
int co_node_move(struct co_mgr *m, struct co_node *n, uint64_t parent,
		 const char *name);
void co_cull(struct co_mgr *m, uint64_t want);
void co_data_drop(struct co_mgr *m, uint64_t id);	/* not under m->lock */
pthread_mutex_t *co_data_lock(struct co_mgr *m, uint64_t id);

/* ---- mode.c ------------------------------------------------------------ */

int co_mode_start(struct co_mgr *m);
void co_mode_stop(struct co_mgr *m);
int co_mode_get(struct co_mgr *m);
uint64_t co_mode_epoch(struct co_mgr *m);
void co_mode_disconnect(struct co_mgr *m, const char *why, bool manual);
/* probes first: 0 connected, -EHOSTDOWN when the origin is still gone */
int co_mode_reconnect(struct co_mgr *m);
void co_event_post(struct co_mgr *m, const char *type, const char *detail);

/* ---- notify.c ---------------------------------------------------------- */

void co_notify_desktop(const char *summary, const char *body);

/* ---- hoard.c ----------------------------------------------------------- */

int co_hoard_start(struct co_mgr *m);
void co_hoard_stop(struct co_mgr *m);
void co_hoard_kick(struct co_mgr *m);

/* ---- ops.c ------------------------------------------------------------- */

extern const struct fuse_lowlevel_ops co_ops;
/* how long the kernel may keep an answer: actimeo connected, 1 s offline */
double co_timeout_s(struct co_mgr *m);
void co_entry_of(struct co_mgr *m, const struct co_node *n,
		 struct fuse_entry_param *e);

/* ---- local.c: changes while disconnected, journaled -------------------- */

int co_local_write(struct co_mgr *m, fuse_req_t req, uint64_t id, int cfd,
		   const char *buf, size_t size, off_t off);
int co_local_setattr(struct co_mgr *m, fuse_req_t req, uint64_t id, int cfd,
		     const struct stat *attr, int to_set, struct stat *st);
int co_local_make(struct co_mgr *m, fuse_req_t req, uint64_t parent,
		  const char *name, mode_t mode, struct fuse_entry_param *ent);
int co_local_unlink(struct co_mgr *m, fuse_req_t req, uint64_t parent,
		    const char *name);
int co_local_fsync(struct co_mgr *m, uint64_t id);

/* ---- write.c: the changing operations ---------------------------------- */

void co_open_write(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void co_release_write(struct co_mgr *m, struct co_file *f);
void co_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
	      off_t off, struct fuse_file_info *fi);
void co_create(fuse_req_t req, fuse_ino_t parent, const char *name,
	       mode_t mode, struct fuse_file_info *fi);
void co_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		struct fuse_file_info *fi);
void co_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
	      mode_t mode, dev_t rdev);
void co_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
void co_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		const char *name);
void co_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
	     const char *newname);
void co_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void co_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void co_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
	       fuse_ino_t newparent, const char *newname, unsigned int flags);
void co_setxattr_origin(fuse_req_t req, fuse_ino_t ino, const char *name,
			const char *value, size_t size, int flags);
void co_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);
void co_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void co_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
	      struct fuse_file_info *fi);
void co_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
		 struct fuse_file_info *fi);

/* ---- main.c ------------------------------------------------------------ */

void co_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
