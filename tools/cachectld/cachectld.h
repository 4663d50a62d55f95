/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cachectld - keeps the pins of one scope true.
 *
 * One process, one thread (the library's walker adds its own while a pin
 * is walked, and a client's path is resolved on a thread of its own), one
 * epoll loop. Soft pins are kept by checking residency on
 * a CPU-time budget and refilling what went (refill.c); hard pins are
 * mapped and mlock()ed by lock-worker children, each below
 * vm.max_map_count (lock.c); inherit pins watch their trees with inotify
 * (watch.c, inherit.c). A client of libcachectl's public API, plus
 * common/ for the wire protocol, the escapes and the clock.
 *
 * Layers, each calling only those below it:
 *
 *   main.c     options, set-up, signals, the tick, dispatch of the loop
 *   server.c   rpc: the socket, clients, requests; observes events
 *   hold.c     pins held by a connection, not stored, counted per holder
 *   inherit.c  inotify events of inherit pins -> files join or leave
 *   keep.c     pin lifecycle: walk (libcachectl's walker), budget, keep
 *   watch.c    the inotify watch table
 *   refill.c   residency checks and refills, the tick's round-robin
 *   lock.c     lock workers; the lock plan applied
 *   mem.c      MemAvailable, the memory cgroup, the reserve
 *   caps.c     capabilities kept and dropped, the user switched to
 *   seccomp.c  NoNewPrivileges and the system-call allow-list
 *   residency.c  why the kernel hides residency, said once
 *   pins.c     the model: pins, files, hash, order, reports
 *   plan.c     lock plan and soft cutoff: pure policy (unit-tested)
 *   budget.c   budget cut, admission and pin status: pure (unit-tested)
 *   events.c   log lines, escaping, the observer list of events
 *   offline.c  the offline cache managers' events, announced as ours
 *   loop.c     epoll, sources, output buffers
 *   resolve.c  clients' paths resolved on threads, off the loop
 */
#ifndef CACHECTLD_H
#define CACHECTLD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <syslog.h>

#include <libcachectl/libcachectl.h>
#include "common/clock.h"
#include "common/proto.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
/* mlock() and the memory plan count whole pages */
#define PAGE_ROUND(x) (((x) + 4095) & ~(uint64_t)4095)

/* What an epoll event belongs to; first member of each owner. */
enum src_type { SRC_LISTEN, SRC_SIGNAL, SRC_TIMER, SRC_INOTIFY, SRC_CLIENT,
		SRC_WORKER, SRC_WORKER_CMD, SRC_RESOLVE, SRC_FSCHECK, SRC_OFFLINE };

struct cd_source {
	enum src_type type;
	int fd;
};

/* Bytes waiting to be written to a non-blocking descriptor. */
struct cd_outbuf {
	char *data;
	size_t len, off, cap;
};

struct cd_loop {
	int epfd;
};

struct daemon;

/* Observers of events (events.c); rpc subscribes its broadcaster. */
typedef void (*cd_event_fn)(struct daemon *d, int type, const char *path,
			    uint64_t bytes, void *data);

struct cd_observer {
	cd_event_fn fn;
	void *data;
};

/* Limits the lock plan works within (plan.c). */
struct cd_plan_limits {
	uint64_t mem_avail;		/* MemAvailable */
	uint64_t locked_total;		/* locked by us, not in mem_avail */
	uint64_t reserve;		/* left to everything else */
	uint64_t memlock_limit;		/* RLIMIT_MEMLOCK, UINT64_MAX if none */
	bool cap_ipc_lock;		/* the limit does not apply */
};

/* What memory looks like (mem.c reads it, cd_plan_memory() weighs it). */
struct cd_mem_sample {
	uint64_t mem_total, mem_avail;	/* /proc/meminfo */
	uint64_t cg_limit;		/* memory cgroup's, UINT64_MAX if none */
	uint64_t cg_usage;		/* charged to it */
	uint64_t cg_file;		/* page cache among that */
	uint64_t cg_unevictable;	/* locked among that */
};

struct cd_mem_view {
	uint64_t total, avail, reserve;
	bool pressure;			/* avail under the reserve */
	bool cgroup_bound;		/* the cgroup, not the machine, limits */
};

/* Who watches an inotify descriptor (watch.c). */
struct cd_watch_hit {
	struct dpin *pin;
	char *dir;
};

/* Why residency cannot be read (residency.c). */
enum cd_blind_cause { CD_BLIND_SECCOMP, CD_BLIND_PERMISSION };

enum lock_state { LK_NONE, LK_PENDING, LK_LOCKED, LK_FAILED };

struct dpin;

/* One regular file a pin covers. */
struct dfile {
	char *path;
	struct dpin *pin;
	struct dfile *hnext;		/* pin's path hash chain */
	dev_t dev;
	ino_t ino;
	uint64_t size;			/* as last seen */
	uint64_t cached;		/* resident bytes as last seen */
	uint64_t refilling;		/* missing bytes being refilled */
	int fd;				/* kept open, or -1 */
	int err;			/* last error (negative errno), or 0 */
	bool kept;			/* within the pin's budget */
	bool in_budget;			/* cd_budget_plan() keeps it */
	bool unknown;			/* kernel hides residency */
	bool seen;			/* walk generation marker */
	bool starved;			/* not refilled: memory pressure */
	bool removed;			/* gone; compacted away later */
	bool was_evicted;		/* refilling after an eviction */
	uint32_t blind_tick;		/* last blind refill (unknown residency) */
	uint8_t checks;			/* residency checks, for the full one */
	/* hard pins */
	enum lock_state lk;
	int worker;			/* lock worker, or -1 */
	uint32_t slot, gen;
	uint64_t lock_len;		/* bytes asked to lock */
	uint64_t locked;		/* bytes locked */
	bool want_lock;			/* the memory plan grants it */
	bool relock;			/* locked inode was replaced */
	/* its filesystem's calls, on a thread (fscheck.c) */
	bool fresh;			/* not checked since it was kept */
	uint8_t want_kind, again;	/* CHECK_*: waiting, asked while out */
	struct cd_fsq *want_q;		/* waiting there, or NULL */
	struct dfile *want_next, **want_pprev;
	struct cd_check *check;		/* out, or NULL */
};

struct dpin {
	struct cachectl_pin *pin;	/* what the store holds */
	char *path;
	unsigned int flags;		/* CACHECTL_PIN_* */
	int priority;
	uint64_t budget;
	struct dfile **files;		/* walk order */
	size_t nfiles, cap;
	struct dfile **hash;
	size_t hsize;			/* power of two, or 0 */
	int err;			/* the pin itself failed (negative errno) */
	uint64_t nerr;			/* paths that failed in the last walk */
	size_t nremoved;		/* removed files not compacted yet */
	uint64_t kept_bytes;		/* bytes within the budget */
	uint64_t over_budget;		/* bytes past the budget */
	bool dirty;			/* state changed: report it */
	bool watch_failed;		/* inotify could not watch it all */
	/* per tick aggregation, turned into events */
	uint64_t tick_evicted, tick_refilled;
	/* last reported state, to emit changes only */
	uint64_t rep_flags;
	bool memlock_warned;
	bool memlock_refused;		/* RLIMIT_MEMLOCK said no to a lock */
	bool fs_gone;			/* its filesystem said so, once */
	uint64_t short_lim, short_mem;	/* cd_plan_locks(): refused by ... */
	uint32_t report_tick;		/* last cd_pins_report() from a tick */
	bool in_store;			/* reload bookkeeping */
	unsigned int nholds;		/* connections holding it (hold.c) */
	/* walks on threads (keep.c) */
	struct cd_job *walk;		/* of the whole tree, or NULL */
	bool walk_again;		/* asked again while it ran */
	unsigned int walking;		/* walks of it not applied yet */
};

struct client;
struct worker;
struct watch;
struct cd_hold;
struct cd_user;
struct cd_fsq;
struct cd_check;

/* fscheck.c: what a kept file's filesystem is asked, on a thread */
enum { CHECK_PREFETCH = 1, CHECK_QUERY = 2, CHECK_NEWFILE, CHECK_CLOSE };
#define CD_FSQS_MAX 32

enum { CD_JOB_STATUS, CD_JOB_PIN, CD_JOB_UNPIN, CD_JOB_WALK };

/* A client's path being resolved on a thread (resolve.c). */
struct cd_job {
	struct cd_job *next, **pprev;	/* the daemon's jobs, loop only */
	struct client *owner;		/* waits for it; NULL once abandoned */
	struct cd_user *user;		/* counted against; NULL: the daemon's */
	int kind;			/* CD_JOB_* */
	char *path;			/* as the client named it */
	int fd;				/* PIN: the client's proof, or -1 */
	uint64_t flags, budget;		/* PIN */
	int priority;
	char *holder;			/* PIN: held, not stored, or NULL */
	void (*run)(void *data);	/* WALK: on the thread */
	void *data;			/* WALK: keep.c's walk */
	struct cd_job *qnext;		/* WALK: waiting for a thread */
	uint64_t started;		/* ms */
	int done_fd;
	/* results, read by the loop once the job came back */
	char *canon;
	int err;			/* negative errno, or 0 */
	bool no_proof;			/* PIN: the descriptor proved nothing */
	char why[256];
};

struct daemon {
	struct cachectl_ctx *ctx;
	struct cachectl_pinstore *store;
	int scope;
	uid_t uid;
	int verbose;			/* syslog priority threshold */
	struct cd_loop loop;
	struct cd_source listen, sig, timer, inotify;
	char *sock_path;
	bool own_socket;		/* unlink at exit */
	bool quit;
	bool plan_needed;		/* run cd_lock_plan() before sleeping */

	struct client *clients;
	int nclients;
	struct client *dead_clients;	/* freed after the batch */
	struct cd_user *users;		/* per-uid counts of clients */
	size_t queued;			/* bytes queued to all clients */

	/* paths resolved off the loop (resolve.c) */
	struct cd_source resolve;
	int resolve_wfd;
	struct cd_job *jobs;
	int njobs;			/* clients' (not walks) */
	/* pins' trees walked on threads (keep.c) */
	struct cd_job *walk_q, **walk_qtail;	/* waiting for a thread */
	int nwalks;			/* walks on threads */
	bool walks_held;		/* till the system-call filter is in */
	/* the offline managers' events file, followed (offline.c) */
	struct cd_source offline;	/* its inotify descriptor */
	int offline_fd;
	struct cc_lines *offline_lines;
	struct cd_stash *stash;		/* inotify events of watches being made */
	size_t stash_bytes;
	bool stash_overflow;

	struct dpin **pins;		/* priority, highest first */
	size_t npins;

	/* refill (refill.c) */
	size_t cur_pin, cur_file;
	uint32_t ticks;
	bool busy;			/* evictions seen: bigger budget */
	size_t tick_found;		/* files found missing this tick */
	uint32_t round_tick;		/* tick the current round began */
	bool pressure;			/* MemAvailable under the reserve */
	int soft_cutoff;		/* priorities below give way */
	uint64_t mem_total, mem_avail, reserve;
	/* the memory cgroup we run in (mem.c): v2 or v1 directory */
	char *memcg_dir;
	bool memcg_v1, memcg_looked, mem_cgroup_bound;
	uint64_t memcg_limit;

	/* descriptors kept open for cheap checks */
	long fds_open, fd_budget;
	long fds_coming;		/* being opened on threads */

	/* filesystem calls on threads, a queue per device (fscheck.c) */
	struct cd_source fscheck;
	int fscheck_wfd;
	struct cd_fsq *fsqs[CD_FSQS_MAX];
	size_t nfsqs;
	size_t newfiles;		/* inherit pins' new files being looked at */

	/* hard pins (lock.c) */
	struct worker **workers;
	int nworkers;
	uint32_t maps_per_worker;
	uint32_t lock_gen;
	unsigned int worker_deaths;	/* lock workers lost (not stopped) */
	uint64_t locked_total;		/* bytes locked or being locked */
	uint64_t memlock_limit;		/* RLIM_INFINITY as UINT64_MAX */
	bool cap_ipc_lock, cap_dac_read_search, cap_fowner;
	const char *run_as;		/* --run-as: the system daemon's user */

	/* residency the kernel hides: causes already logged (residency.c) */
	unsigned int blind_warned;
	bool journal;			/* stderr is the journal: <N> prefixes */

	/* events (events.c) */
	struct cd_observer observers[4];
	size_t nobservers;
	/* paths escaped for the log: a line may hold four */
	char esc[4][4 * 4096 + 1];
	unsigned int esc_next;

	/* inherit pins (watch.c) */
	struct watch **watches;		/* indexed by wd */
	int nwatches;

	/* pins held by connections (hold.c) */
	struct cd_hold *holds;
	size_t nholds;
};

/* loop.c */
int cd_loop_init(struct cd_loop *l);
void cd_loop_close(struct cd_loop *l);
int cd_loop_add(struct cd_loop *l, struct cd_source *s, uint32_t events);
int cd_loop_add_pipe(struct cd_loop *l, struct cd_source *s,
		     enum src_type type, int *wfd);
int cd_loop_mod(struct cd_loop *l, struct cd_source *s, uint32_t events);
void cd_loop_del(struct cd_loop *l, struct cd_source *s);
struct epoll_event;
int cd_loop_wait(struct cd_loop *l, struct epoll_event *ev, int n);
void cd_outbuf_free(struct cd_outbuf *o);
int cd_outbuf_put(struct cd_outbuf *o, const void *p, size_t n);
int cd_outbuf_flush(int fd, struct cd_outbuf *o);

/* events.c: logging, paths escaped, events to observers */
void cd_log(struct daemon *d, int prio, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
bool cd_log_is_journal(void);
const char *cd_pesc(struct daemon *d, const char *path);
void cd_fmt_size(char *buf, size_t len, uint64_t bytes);
int cd_events_subscribe(struct daemon *d, cd_event_fn fn, void *data);

/* offline.c: the offline managers' events (user scope) */
struct cc_lines;
int cd_offline_init(struct daemon *d);
void cd_offline_event(struct daemon *d);
void cd_offline_free(struct daemon *d);
void cd_event_emit(struct daemon *d, int type, const char *path, uint64_t bytes);

/* caps.c */
int cd_caps_setup(struct daemon *d);
bool cd_caps_have(int cap);

/* seccomp.c */
int cd_seccomp_install(struct daemon *d);

/* residency.c */
enum cd_blind_cause cd_residency_cause(void);
void cd_residency_unknown(struct daemon *d, struct dfile *f);

/* pins.c: the model */
int cd_open_ro(const char *path);
struct dfile *cd_file_new(struct dpin *p, const char *path,
			  const struct stat *st);
int cd_pin_append(struct dpin *p, struct dfile *f);
void cd_pin_hash_add(struct dpin *p, struct dfile *f);
void cd_pin_hash_remove(struct dpin *p, struct dfile *f);
int cd_pin_rehash(struct dpin *p);
struct dfile *cd_pin_lookup(struct dpin *p, const char *path);
struct dpin *cd_pin_find(struct daemon *d, const char *path);
void cd_pins_sort(struct daemon *d);
void cd_pins_compact(struct daemon *d);
void cd_pins_report(struct daemon *d, struct dpin *p);
bool cd_file_failed(struct daemon *d, struct dfile *f, int error);
void cd_file_answered(struct daemon *d, struct dfile *f);

/* budget.c, plan.c: pure policy */
void cd_budget_plan(struct dpin *p);
bool cd_budget_admits(const struct dpin *p, uint64_t size);
void cd_pin_status(const struct dpin *p, struct cachectl_pin_status *st);
int cd_plan_locks(const struct cd_plan_limits *lim, struct dpin *const *pins,
		  size_t npins);
int cd_plan_soft_cutoff(struct dpin *const *pins, size_t npins, bool pressure);
void cd_plan_memory(const struct cd_mem_sample *s, struct cd_mem_view *v);

/* mem.c */
void cd_mem_read(struct daemon *d);
void cd_mem_free(struct daemon *d);

/* lock.c */
int cd_lock_init(struct daemon *d);
void cd_lock_plan(struct daemon *d);
void cd_lock_file(struct daemon *d, struct dfile *f);
void cd_unlock_file(struct daemon *d, struct dfile *f);
void cd_worker_event(struct daemon *d, struct cd_source *s, uint32_t events);
void cd_workers_reap(struct daemon *d);
void cd_workers_stop(struct daemon *d);

/* refill.c */
void cd_refill_tick(struct daemon *d);
void cd_refill_file(struct daemon *d, struct dfile *f);
void cd_refill_checked(struct daemon *d, struct dfile *f, int r,
		       const struct cachectl_residency *res);
void cd_refill_prefetched(struct daemon *d, struct dfile *f, int r);
void cd_refill_query_pin(struct daemon *d, struct dpin *p);

/* fscheck.c */
int cd_fscheck_init(struct daemon *d);
void cd_check_want(struct daemon *d, struct dfile *f, int kind);
void cd_check_forget(struct daemon *d, struct dfile *f);
int cd_check_newfile(struct daemon *d, struct dpin *p, const char *path);
void cd_fd_close(struct daemon *d, dev_t dev, int fd);
void cd_fscheck_done(struct daemon *d);
void cd_fscheck_tick(struct daemon *d);
bool cd_fscheck_free(struct daemon *d);

/* watch.c */
int cd_watch_init(struct daemon *d);
int cd_watch_kernel(int ifd, const char *dir);
void cd_watch_failed(struct daemon *d, struct dpin *p, const char *dir,
		     int error);
int cd_watch_register(struct daemon *d, struct dpin *p, int wd, const char *dir);
void cd_watch_drop_unused(struct daemon *d, int wd);
bool cd_watch_known(const struct daemon *d, int wd);
void cd_watch_replace_pin(struct daemon *d, struct dpin *p, const int *wds,
			  char *const *dirs, size_t n);
void cd_watch_remove_pin(struct daemon *d, struct dpin *p);
void cd_watch_remove_prefix(struct daemon *d, struct dpin *p, const char *dir);
void cd_watch_forget(struct daemon *d, int wd);
void cd_watch_free(struct daemon *d);
int cd_watch_get(struct daemon *d, int wd, struct cd_watch_hit *hits, int max);

/* keep.c */
int cd_walk_done(struct daemon *d, struct cd_job *j);
void cd_walks_start(struct daemon *d);
void cd_walks_free(struct daemon *d);
int cd_pins_load(struct daemon *d);
void cd_pins_free(struct daemon *d);
int cd_pin_set(struct daemon *d, struct cachectl_pin *pin);
void cd_pin_drop(struct daemon *d, struct dpin *p);
int cd_pins_sync(struct daemon *d);
int cd_pin_expand(struct daemon *d, struct dpin *p);
int cd_pin_walk(struct daemon *d, struct dpin *p, const char *root);
struct dfile *cd_pin_add_file(struct daemon *d, struct dpin *p,
			      const char *path, const struct stat *st);
void cd_pin_remove_file(struct daemon *d, struct dfile *f);
void cd_pin_remove_prefix(struct daemon *d, struct dpin *p, const char *dir);
void cd_file_activate(struct daemon *d, struct dfile *f);
void cd_file_release(struct daemon *d, struct dfile *f);

/* hold.c: pins kept while a connection lasts */
int cd_hold_add(struct daemon *d, const void *owner, uid_t uid,
		struct cachectl_pin *pin, const char *holder);
int cd_hold_release(struct daemon *d, const void *owner, const char *path);
void cd_holds_release_owner(struct daemon *d, const void *owner);
bool cd_holds_owned(const struct daemon *d, const void *owner);
int cd_hold_get(const struct daemon *d, size_t i, const char **path,
		unsigned int *flags, const char **holder, uid_t *uid);
void cd_holds_free(struct daemon *d);

/* inherit.c */
void cd_inherit_event(struct daemon *d);
void cd_inherit_replay(struct daemon *d);
void cd_stash_free(struct daemon *d);

/* resolve.c */
int cd_resolve_init(struct daemon *d);
struct cd_job *cd_job_new(int kind, const char *path, struct cd_user *user);
int cd_job_start(struct daemon *d, struct cd_job *j);
void cd_job_link(struct daemon *d, struct cd_job *j);
int cd_job_spawn(struct cd_job *j);
struct cd_job *cd_resolve_take(struct daemon *d);
void cd_job_free(struct cd_job *j);

/* server.c: rpc */
int cd_server_open(struct daemon *d, const char *path);
void cd_server_close(struct daemon *d);
void cd_server_accept(struct daemon *d);
void cd_client_event(struct daemon *d, struct client *c, uint32_t events);
void cd_clients_tick(struct daemon *d);
void cd_clients_reap(struct daemon *d);
void cd_server_resolved(struct daemon *d);
void cd_clients_free(struct daemon *d);

#endif
