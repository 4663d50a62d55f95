// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Hard pins. Each locked file is a mapping, and a process may have only
 * vm.max_map_count (65530) of them, so the mappings live in lock-worker
 * children of at most maps_per_worker each. The daemon tells a worker
 * "lock slot S: this path, this inode, this many bytes" or "unlock slot
 * S" over a pipe; the worker maps the file (PROT_READ, MAP_SHARED),
 * mlock()s it and reports the outcome. Workers die with the daemon
 * (PR_SET_PDEATHSIG) and exit when their pipe closes.
 *
 * The kernel charges RLIMIT_MEMLOCK per process, so without
 * CAP_IPC_LOCK the daemon keeps the total across workers within its own
 * limit. The memory plan grants locks by priority, highest first, while
 * MemAvailable stays above the reserve; what does not fit is shortfall.
 */
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cachectld.h"

#define MAPS_PER_WORKER 60000
#define WORKER_DEATHS 8		/* then their files stay unlocked until reload */

enum { OP_LOCK = 1, OP_UNLOCK = 2 };

struct lock_cmd {
	uint32_t op, slot, gen, plen;
	uint64_t len, dev, ino;
};

struct lock_res {
	uint32_t slot, gen;
	int32_t err;
	uint32_t pad;
	uint64_t locked;
};

struct wslot {
	struct dfile *f;
	uint32_t gen;
};

struct worker {
	struct cd_source src;		/* results, SRC_WORKER */
	struct cd_source cmd;		/* commands, SRC_WORKER_CMD */
	pid_t pid;
	struct cd_outbuf out;
	char in[sizeof(struct lock_res) * 128];
	size_t inlen;
	struct wslot *slots;
	uint32_t nslots, used;
	uint32_t *freel;
	uint32_t nfree;
};

/* ---- the worker ------------------------------------------------------- */

static int read_full(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int worker_lock(const struct lock_cmd *c, const char *path,
		       void **addr, size_t *len, uint64_t *locked)
{
	struct stat st;
	size_t n;
	void *a;
	int fd, e;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK |
		  O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	/*
	 * A pin is a path: whatever regular file is there now is locked
	 * (a file replaced by rename is relocked this way).
	 */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -ESTALE;
	}
	n = (size_t)((uint64_t)st.st_size < c->len ? (uint64_t)st.st_size : c->len);
	*locked = PAGE_ROUND(n);	/* mlock holds whole pages */
	if (!n) {
		close(fd);
		return 0;
	}
	a = mmap(NULL, n, PROT_READ, MAP_SHARED, fd, 0);
	e = errno;
	close(fd);
	if (a == MAP_FAILED)
		return -e;
	/* faults every page in: the worker, not the daemon, waits for I/O */
	if (mlock(a, n) < 0) {
		e = errno;
		munmap(a, n);
		return -e;
	}
	*addr = a;
	*len = n;
	return 0;
}

static void __attribute__((noreturn)) worker_main(pid_t parent, int cmdfd,
						   int resfd)
{
	struct { void *addr; size_t len; } *maps = NULL;
	uint32_t nmaps = 0;
	char path[PATH_MAX * 4 + 1];
	sigset_t none;
	int a, b;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(0);
	prctl(PR_SET_NAME, "cachectld-lock");
	/* keep stdio and the two pipes, as fds 3 and 4; nothing else */
	a = fcntl(cmdfd, F_DUPFD, 5);
	b = fcntl(resfd, F_DUPFD, 5);
	if (a < 0 || b < 0 || dup2(a, 3) < 0 || dup2(b, 4) < 0)
		_exit(1);
	close_range(5, ~0u, 0);

	for (;;) {
		struct lock_cmd c;
		struct lock_res r = { 0 };

		if (read_full(3, &c, sizeof(c)) < 0)
			_exit(0);	/* the daemon closed the pipe */
		if (c.plen > sizeof(path) - 1 || read_full(3, path, c.plen) < 0)
			_exit(1);
		path[c.plen] = '\0';
		if (c.slot >= nmaps) {
			uint32_t n = c.slot + 1024;
			void *m = realloc(maps, n * sizeof(*maps));

			if (!m)
				_exit(1);
			maps = m;
			memset(maps + nmaps, 0, (n - nmaps) * sizeof(*maps));
			nmaps = n;
		}
		if (maps[c.slot].addr) {
			munmap(maps[c.slot].addr, maps[c.slot].len);
			maps[c.slot].addr = NULL;
		}
		if (c.op != OP_LOCK)
			continue;
		r.slot = c.slot;
		r.gen = c.gen;
		r.err = worker_lock(&c, path, &maps[c.slot].addr,
				    &maps[c.slot].len, &r.locked);
		if (write_full(4, &r, sizeof(r)) < 0)
			_exit(0);
	}
}

/* ---- the daemon's side ------------------------------------------------ */

int cd_lock_init(struct daemon *d)
{
	const char *env = getenv("CACHECTLD_MAPS_PER_WORKER");
	struct rlimit rl;

	d->maps_per_worker = MAPS_PER_WORKER;
	/* tests shard small trees with a small number */
	if (env && atoi(env) > 0 && atoi(env) <= MAPS_PER_WORKER)
		d->maps_per_worker = (uint32_t)atoi(env);
	if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0)
		d->memlock_limit = rl.rlim_cur == RLIM_INFINITY ?
				   UINT64_MAX : (uint64_t)rl.rlim_cur;
	return 0;
}

static struct worker *worker_spawn(struct daemon *d)
{
	struct worker *w, **a;
	int cmd[2], res[2];
	pid_t parent = getpid(), pid;

	w = calloc(1, sizeof(*w));
	a = realloc(d->workers, (d->nworkers + 1) * sizeof(*a));
	if (a)
		d->workers = a;
	if (!w || !a) {
		free(w);
		return NULL;
	}
	if (pipe2(cmd, O_CLOEXEC) < 0) {
		free(w);
		return NULL;
	}
	if (pipe2(res, O_CLOEXEC) < 0) {
		close(cmd[0]);
		close(cmd[1]);
		free(w);
		return NULL;
	}
	pid = fork();
	if (pid < 0) {
		cd_log(d, LOG_ERR, "cannot start a lock worker: %s", strerror(errno));
		close(cmd[0]);
		close(cmd[1]);
		close(res[0]);
		close(res[1]);
		free(w);
		return NULL;
	}
	if (pid == 0)
		worker_main(parent, cmd[0], res[1]);
	close(cmd[0]);
	close(res[1]);
	fcntl(cmd[1], F_SETFL, O_NONBLOCK);
	fcntl(res[0], F_SETFL, O_NONBLOCK);
	w->pid = pid;
	w->src.type = SRC_WORKER;
	w->src.fd = res[0];
	w->cmd.type = SRC_WORKER_CMD;
	w->cmd.fd = cmd[1];
	cd_loop_add(&d->loop, &w->src, EPOLLIN);
	cd_loop_add(&d->loop, &w->cmd, 0);
	d->workers[d->nworkers++] = w;
	cd_log(d, LOG_INFO, "lock worker %d started (%u mappings at most)",
	     (int)pid, d->maps_per_worker);
	return w;
}

static void worker_send(struct daemon *d, struct worker *w,
			const struct lock_cmd *c, const char *path)
{
	int r;

	if (cd_outbuf_put(&w->out, c, sizeof(*c)) < 0 ||
	    (c->plen && cd_outbuf_put(&w->out, path, c->plen) < 0)) {
		cd_log(d, LOG_ERR, "out of memory queueing for lock worker %d",
		     (int)w->pid);
		return;
	}
	r = cd_outbuf_flush(w->cmd.fd, &w->out);
	cd_loop_mod(&d->loop, &w->cmd, r == 0 ? EPOLLOUT : 0);
}

static uint32_t slot_get(struct worker *w)
{
	if (w->nfree)
		return w->freel[--w->nfree];
	if (w->nslots % 1024 == 0) {
		struct wslot *s = realloc(w->slots,
					  (w->nslots + 1024) * sizeof(*s));
		uint32_t *f = realloc(w->freel,
				      (w->nslots + 1024) * sizeof(*f));

		if (s)
			w->slots = s;
		if (f)
			w->freel = f;
		if (!s || !f)
			return UINT32_MAX;
	}
	return w->nslots++;
}

static void slot_put(struct worker *w, uint32_t slot)
{
	w->slots[slot].f = NULL;
	w->freel[w->nfree++] = slot;
	w->used--;
}

void cd_unlock_file(struct daemon *d, struct dfile *f)
{
	if (f->worker >= 0) {
		struct worker *w = d->workers[f->worker];
		struct lock_cmd c = { .op = OP_UNLOCK, .slot = f->slot };

		if (w) {
			worker_send(d, w, &c, NULL);
			slot_put(w, f->slot);
		}
	}
	if (f->lk == LK_PENDING || f->lk == LK_LOCKED)
		d->locked_total -= PAGE_ROUND(f->lock_len);
	f->lk = LK_NONE;
	f->locked = 0;
	f->lock_len = 0;
	f->worker = -1;
	f->pin->dirty = true;
}

void cd_lock_file(struct daemon *d, struct dfile *f)
{
	struct lock_cmd c = { .op = OP_LOCK };
	struct worker *w = NULL;
	int i;

	if (!f->size) {
		if (f->lk != LK_NONE)
			cd_unlock_file(d, f);
		f->lk = LK_LOCKED;	/* nothing to lock is all locked */
		return;
	}
	if (strlen(f->path) > PATH_MAX * 4) {
		/* the worker takes no longer paths */
		if (f->lk != LK_NONE)
			cd_unlock_file(d, f);
		f->lk = LK_FAILED;
		cd_log(d, LOG_ERR, "hard pin %s: cannot lock %s: %s",
		     cd_pesc(d, f->pin->path), cd_pesc(d, f->path), strerror(ENAMETOOLONG));
		return;
	}
	if (f->lk == LK_PENDING || f->lk == LK_LOCKED)
		d->locked_total -= PAGE_ROUND(f->lock_len);
	if (f->worker >= 0) {
		w = d->workers[f->worker];	/* same slot: the worker remaps */
	} else {
		for (i = 0; i < d->nworkers; i++) {
			if (d->workers[i] &&
			    d->workers[i]->used < d->maps_per_worker) {
				w = d->workers[i];
				break;
			}
		}
		if (!w) {
			w = worker_spawn(d);
			i = d->nworkers - 1;
		}
		if (!w || (f->slot = slot_get(w)) == UINT32_MAX) {
			f->lk = LK_FAILED;
			f->err = 0;
			f->lock_len = f->locked = 0;
			return;
		}
		w->used++;
		f->worker = i;
	}
	f->relock = false;
	f->gen = ++d->lock_gen;
	w->slots[f->slot].f = f;
	w->slots[f->slot].gen = f->gen;
	c.slot = f->slot;
	c.gen = f->gen;
	c.len = f->size;
	c.dev = (uint64_t)f->dev;
	c.ino = (uint64_t)f->ino;
	c.plen = (uint32_t)strlen(f->path);
	f->lk = LK_PENDING;
	f->lock_len = f->size;
	d->locked_total += PAGE_ROUND(f->lock_len);
	worker_send(d, w, &c, f->path);
}

static void warn_short(struct daemon *d, struct dpin *p, bool memlock,
		       uint64_t bytes)
{
	char a[32], b[32], c[32];

	if (p->memlock_warned)
		return;
	p->memlock_warned = true;
	cd_fmt_size(a, sizeof(a), bytes);
	if (memlock) {
		cd_fmt_size(b, sizeof(b), d->memlock_limit);
		cd_log(d, LOG_ERR,
		     "hard pin %s: cannot lock %s: RLIMIT_MEMLOCK is %s and CAP_IPC_LOCK is missing (raise `ulimit -l` or grant CAP_IPC_LOCK)",
		     cd_pesc(d, p->path), a, b);
	} else if (d->mem_cgroup_bound) {
		cd_fmt_size(b, sizeof(b), d->memcg_limit);
		cd_fmt_size(c, sizeof(c), d->mem_avail);
		cd_log(d, LOG_ERR,
		     "hard pin %s: cannot lock %s: the memory cgroup %s is limited to %s, %s of it available; lower priorities give way first",
		     cd_pesc(d, p->path), a, cd_pesc(d, d->memcg_dir), b, c);
	} else {
		cd_fmt_size(b, sizeof(b), d->mem_avail);
		cd_fmt_size(c, sizeof(c), d->reserve);
		cd_log(d, LOG_ERR,
		     "hard pin %s: cannot lock %s: MemAvailable is %s and %s is kept in reserve; lower priorities give way first",
		     cd_pesc(d, p->path), a, b, c);
	}
}

/*
 * Decide which hard-pinned files get locked: priority order, walk order
 * within a pin, while memory and RLIMIT_MEMLOCK allow. Unlock what lost
 * its grant first, then lock what gained one.
 */
void cd_lock_plan(struct daemon *d)
{
	struct cd_plan_limits lim;
	size_t i, j;

	cd_mem_read(d);
	lim = (struct cd_plan_limits){
		.mem_avail = d->mem_avail,
		.locked_total = d->locked_total,
		.reserve = d->reserve,
		.memlock_limit = d->memlock_limit,
		.cap_ipc_lock = d->cap_ipc_lock,
	};
	if (cd_plan_locks(&lim, d->pins, d->npins) < 0)
		return;		/* out of memory: the next loop tries again */
	d->plan_needed = false;
	for (i = 0; i < d->npins; i++) {
		struct dpin *p = d->pins[i];

		p->memlock_refused = p->short_lim > 0;
		if (p->short_lim)
			warn_short(d, p, true, p->short_lim);
		else if (p->short_mem)
			warn_short(d, p, false, p->short_mem);
		else
			p->memlock_warned = false;
	}
	for (i = 0; i < d->npins; i++) {
		struct dpin *p = d->pins[i];

		for (j = 0; j < p->nfiles; j++) {
			struct dfile *f = p->files[j];

			if (!f->want_lock && f->lk != LK_NONE && !f->removed) {
				cd_unlock_file(d, f);
				/* a hard pin that lost its lock is still refilled */
				if (f->kept && (p->flags & CACHECTL_PIN_HARD))
					p->dirty = true;
			}
		}
	}
	for (i = 0; i < d->npins; i++) {
		struct dpin *p = d->pins[i];

		for (j = 0; j < p->nfiles; j++) {
			struct dfile *f = p->files[j];

			if (!f->want_lock)
				continue;
			if (f->lk == LK_NONE ||
			    ((f->lk == LK_LOCKED || f->lk == LK_PENDING) &&
			     (f->lock_len != f->size || f->relock))) {
				cd_lock_file(d, f);
				p->dirty = true;
			}
		}
	}
}

static void lock_result(struct daemon *d, struct worker *w,
			const struct lock_res *r)
{
	struct dfile *f;
	char sz[32];

	if (r->slot >= w->nslots || !w->slots[r->slot].f ||
	    w->slots[r->slot].gen != r->gen)
		return;		/* unlocked or re-asked meanwhile */
	f = w->slots[r->slot].f;
	if (f->gen != r->gen)
		return;
	f->pin->dirty = true;
	if (r->err == 0) {
		f->lk = LK_LOCKED;
		f->locked = r->locked;
		return;
	}
	d->locked_total -= PAGE_ROUND(f->lock_len);
	slot_put(w, f->slot);
	f->worker = -1;
	f->lk = LK_FAILED;
	f->locked = f->lock_len = 0;
	cd_fmt_size(sz, sizeof(sz), f->size);
	if ((r->err == -ENOMEM || r->err == -EPERM || r->err == -EAGAIN) &&
	    !d->cap_ipc_lock) {
		f->pin->memlock_refused = true;
		cd_log(d, LOG_ERR,
		     "hard pin %s: cannot lock %s (%s): %s; RLIMIT_MEMLOCK applies and CAP_IPC_LOCK is missing",
		     cd_pesc(d, f->pin->path), cd_pesc(d, f->path), sz, strerror(-r->err));
	} else if (r->err == -ESTALE)
		d->plan_needed = true;	/* replaced; the next check relooks */
	else
		cd_log(d, LOG_ERR, "hard pin %s: cannot lock %s (%s): %s",
		     cd_pesc(d, f->pin->path), cd_pesc(d, f->path), sz, strerror(-r->err));
}

static void worker_gone(struct daemon *d, int idx)
{
	struct worker *w = d->workers[idx];
	uint32_t s;

	for (s = 0; s < w->nslots; s++) {
		struct dfile *f = w->slots[s].f;

		if (!f)
			continue;
		if (f->lk == LK_PENDING || f->lk == LK_LOCKED)
			d->locked_total -= PAGE_ROUND(f->lock_len);
		/* workers that keep dying must not be respawned for ever */
		f->lk = d->worker_deaths > WORKER_DEATHS ? LK_FAILED : LK_NONE;
		f->worker = -1;
		f->locked = f->lock_len = 0;
		f->pin->dirty = true;
	}
	cd_loop_del(&d->loop, &w->src);
	cd_loop_del(&d->loop, &w->cmd);
	close(w->src.fd);
	close(w->cmd.fd);
	cd_outbuf_free(&w->out);
	free(w->slots);
	free(w->freel);
	free(w);
	d->workers[idx] = NULL;
	d->plan_needed = true;
}

void cd_worker_event(struct daemon *d, struct cd_source *s, uint32_t events)
{
	struct worker *w;
	int idx;

	if (s->type == SRC_WORKER_CMD) {
		w = (struct worker *)((char *)s - offsetof(struct worker, cmd));
		events &= EPOLLOUT;
	} else {
		w = (struct worker *)s;
		events &= ~EPOLLOUT;
	}

	for (idx = 0; idx < d->nworkers; idx++)
		if (d->workers[idx] == w)
			break;
	if (idx == d->nworkers)
		return;
	if (events & EPOLLOUT) {
		int r = cd_outbuf_flush(w->cmd.fd, &w->out);

		cd_loop_mod(&d->loop, &w->cmd, r == 0 ? EPOLLOUT : 0);
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		for (;;) {
			ssize_t n = read(w->src.fd, w->in + w->inlen,
					 sizeof(w->in) - w->inlen);
			size_t off = 0;

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			w->inlen += (size_t)n;
			while (w->inlen - off >= sizeof(struct lock_res)) {
				struct lock_res r;

				memcpy(&r, w->in + off, sizeof(r));
				lock_result(d, w, &r);
				off += sizeof(r);
			}
			memmove(w->in, w->in + off, w->inlen - off);
			w->inlen -= off;
		}
	}
}

void cd_workers_reap(struct daemon *d)
{
	int status, i;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0; i < d->nworkers; i++) {
			if (!d->workers[i] || d->workers[i]->pid != pid)
				continue;
			d->worker_deaths++;
			if (WIFSIGNALED(status))
				cd_log(d, LOG_ERR,
				     "lock worker %d killed by signal %d; locking its files again",
				     (int)pid, WTERMSIG(status));
			else
				cd_log(d, LOG_ERR,
				     "lock worker %d exited with %d; locking its files again",
				     (int)pid, WEXITSTATUS(status));
			worker_gone(d, i);
		}
	}
}

void cd_workers_stop(struct daemon *d)
{
	int i;

	for (i = 0; i < d->nworkers; i++) {
		struct worker *w = d->workers[i];

		if (!w)
			continue;
		kill(w->pid, SIGKILL);
		waitpid(w->pid, NULL, 0);
		worker_gone(d, i);
	}
	free(d->workers);
	d->workers = NULL;
	d->nworkers = 0;
}
