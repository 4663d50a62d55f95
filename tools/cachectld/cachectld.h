/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cachectld - keeps the pins of one scope true.
 *
 * One process, one thread, one epoll loop (main.c). Soft pins are kept by
 * checking residency on a CPU-time budget and refilling what went
 * (refill.c); hard pins are mapped and mlock()ed by lock-worker children,
 * each below vm.max_map_count (lock.c); inherit pins watch their trees
 * with inotify (inherit.c).
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
#include "proto.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* What an epoll event belongs to; first member of each owner. */
enum src_type { SRC_LISTEN, SRC_SIGNAL, SRC_TIMER, SRC_INOTIFY, SRC_CLIENT,
		SRC_WORKER, SRC_WORKER_CMD };

struct source {
	enum src_type type;
	int fd;
};

/* Bytes waiting to be written to a non-blocking descriptor. */
struct outbuf {
	char *data;
	size_t len, off, cap;
};

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
};

struct dpin {
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
	uint32_t report_tick;		/* last pins_report() from a tick */
	bool in_store;			/* reload bookkeeping */
};

struct client;
struct worker;
struct watch;

struct daemon {
	struct cachectl_ctx *ctx;
	struct cachectl_pinstore *store;
	int scope;
	uid_t uid;
	int verbose;			/* syslog priority threshold */
	int epfd;
	struct source listen, sig, timer, inotify;
	char *sock_path;
	bool own_socket;		/* unlink at exit */
	bool quit;
	bool plan_needed;		/* run lock_plan() before sleeping */

	struct client *clients;
	int nclients;

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

	/* descriptors kept open for cheap checks */
	long fds_open, fd_budget;

	/* hard pins (lock.c) */
	struct worker **workers;
	int nworkers;
	uint32_t maps_per_worker;
	uint32_t lock_gen;
	unsigned int worker_deaths;	/* lock workers lost (not stopped) */
	uint64_t locked_total;		/* bytes locked or being locked */
	uint64_t memlock_limit;		/* RLIM_INFINITY as UINT64_MAX */
	bool cap_ipc_lock, cap_dac_read_search;

	/* inherit (inherit.c) */
	struct watch **watches;		/* indexed by wd */
	int nwatches;
};

/* main.c / events.c: logging, paths escaped */
void dlog(struct daemon *d, int prio, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
const char *pesc(const char *path);
void fmt_size(char *buf, size_t len, uint64_t bytes);
void event_emit(struct daemon *d, int type, const char *path, uint64_t bytes);
uint64_t now_ms(void);

/* server.c */
int server_open(struct daemon *d, const char *path);
void server_close(struct daemon *d);
void server_accept(struct daemon *d);
void client_event(struct daemon *d, struct client *c, uint32_t events);
void clients_tick(struct daemon *d);
void clients_broadcast(struct daemon *d, int type, const char *path,
		       uint64_t bytes);
void clients_free(struct daemon *d);
int epoll_add(struct daemon *d, struct source *s, uint32_t events);
int epoll_mod(struct daemon *d, struct source *s, uint32_t events);
void outbuf_free(struct outbuf *o);
int outbuf_put(struct outbuf *o, const void *p, size_t n);
int outbuf_flush(int fd, struct outbuf *o);

/* pins.c */
int pins_load(struct daemon *d);
int pins_sync(struct daemon *d);
struct dpin *pin_find(struct daemon *d, const char *path);
int pin_set(struct daemon *d, const char *path, unsigned int flags,
	    int priority, uint64_t budget);
void pin_drop(struct daemon *d, struct dpin *p);
void pin_status(struct daemon *d, struct dpin *p,
		struct cachectl_pin_status *st, bool live);
void pins_report(struct daemon *d, struct dpin *p);
void pins_free(struct daemon *d);
struct dfile *pin_lookup(struct dpin *p, const char *path);
struct dfile *pin_add_file(struct daemon *d, struct dpin *p, const char *path,
			   const struct stat *st);
void pin_remove_file(struct daemon *d, struct dfile *f);
void pin_remove_prefix(struct daemon *d, struct dpin *p, const char *dir);
void pins_compact(struct daemon *d);
int pin_expand(struct daemon *d, struct dpin *p);
int pin_walk(struct daemon *d, struct dpin *p, const char *root, bool added);
void file_activate(struct daemon *d, struct dfile *f);
void file_release(struct daemon *d, struct dfile *f);
int open_ro(const char *path);

/* refill.c */
void refill_tick(struct daemon *d);
int refill_file(struct daemon *d, struct dfile *f, bool initial);
int query_file(struct daemon *d, struct dfile *f);
void mem_read(struct daemon *d);

/* lock.c */
int lock_init(struct daemon *d);
void lock_plan(struct daemon *d);
void lock_file(struct daemon *d, struct dfile *f);
void unlock_file(struct daemon *d, struct dfile *f);
void worker_event(struct daemon *d, struct source *s, uint32_t events);
void workers_reap(struct daemon *d);
void workers_stop(struct daemon *d);

/* inherit.c */
int inherit_init(struct daemon *d);
int inherit_watch(struct daemon *d, struct dpin *p, const char *dir);
void inherit_unwatch_pin(struct daemon *d, struct dpin *p);
void inherit_unwatch_prefix(struct daemon *d, struct dpin *p, const char *dir);
void inherit_event(struct daemon *d);

/* caps.c */
int caps_setup(struct daemon *d);
bool caps_have(int cap);

#endif
