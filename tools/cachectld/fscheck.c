// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A kept file's filesystem calls, off the loop. fstat(), open(), the full
 * residency query and a refill's WILLNEED go to the file's filesystem,
 * and on a hung mount (a hard NFS mount whose server is gone, a stopped
 * sshd under sshfs) they block for as long as it is away. So each device
 * gets a thread of its own that makes them; the loop hands it the files
 * that need a look (a list through the files themselves, so a tree of
 * any size costs no memory to queue) at most CHECKS_OUT at a time, hears
 * each outcome through a pipe and applies it. A device whose thread has
 * not come back for STALL_MS is left alone until it does: its pins keep
 * the state they had, everyone else is served as before.
 *
 * What stays on the loop is the bare cachestat() on a descriptor we
 * keep, which reads the page cache and never the filesystem.
 *
 * The threads touch nothing but their checks: no file, no pin, no
 * daemon state. A check carries a copy of the path and its own
 * duplicate of the descriptor, so the loop may close or free the file
 * while it is out (the check then comes back to nobody).
 *
 * New files under an inherit pin are looked at the same way (lstat()),
 * on one thread of their own, NEWFILES_MAX at most waiting.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cachectld.h"

#define CHECKS_OUT 64		/* per device, handed to its thread */
#define STALL_MS 2000		/* then the device is left alone */
#define QUEUES_MAX CD_FSQS_MAX	/* devices with threads of their own */
#define NEWFILES_MAX 65536
#define THREAD_STACK (256u << 10)
#define NEWFILE_DEV ((dev_t)-1)

struct cd_check {
	struct cd_check *next;		/* the thread's queue */
	struct cd_fsq *q;
	int kind;			/* CHECK_* */
	struct dfile *f;		/* NULL once the file went */
	char *path;
	char *pin_path;			/* NEWFILE: whose */
	int fd;				/* our duplicate, or -1 */
	bool keep_fd;			/* may keep what it opens */
	/* results */
	int r;				/* negative errno, or 0 */
	int newfd;			/* opened and kept, or -1 */
	bool moved;			/* deleted or renamed over */
	bool moved_reg;			/* and the path holds a file */
	struct stat st;			/* moved_reg, NEWFILE */
	struct cachectl_residency res;
	uint64_t bytes;
};

struct cd_fsq {
	dev_t dev;
	struct cachectl_ctx *ctx;
	int done_fd;
	bool started;
	pthread_t thread;
	/* loop only */
	struct dfile *want, **want_tail;
	unsigned int out;
	bool stall_said;
	/* shared with the thread, under mu */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct cd_check *head, **tail;
	uint64_t busy_since;		/* ms, 0 when idle */
	bool quit;
};

static void check_free(struct cd_check *c)
{
	free(c->path);
	free(c->pin_path);
	free(c);
}

/* ---- on the thread ---------------------------------------------------- */

static void run_query(struct cd_fsq *q, struct cd_check *c)
{
	struct stat st;
	int fd = c->fd;

	if (fd >= 0 && fstat(fd, &st) == 0 && st.st_nlink == 0) {
		/* deleted or renamed over: follow the path to the new inode */
		c->moved = true;
		close(fd);
		c->fd = fd = -1;
		if (lstat(c->path, &c->st) == 0 && S_ISREG(c->st.st_mode))
			c->moved_reg = true;
	}
	if (fd < 0) {
		fd = cd_open_ro(c->path);
		if (fd < 0) {
			c->r = -errno;
			return;
		}
		if (c->keep_fd)
			c->newfd = fd;
	}
	c->r = cachectl_file_query(q->ctx, fd, 0, 0, 0, &c->res, sizeof(c->res));
	if (fd != c->fd && fd != c->newfd)
		close(fd);
	if (c->r < 0 && c->newfd >= 0) {
		close(c->newfd);
		c->newfd = -1;
	}
}

static void run_prefetch(struct cd_fsq *q, struct cd_check *c)
{
	int fd = c->fd >= 0 ? c->fd : cd_open_ro(c->path);

	if (fd < 0) {
		c->r = -errno;
		return;
	}
	c->r = cachectl_file_prefetch(q->ctx, fd, 0, 0, 0, &c->bytes);
	if (fd != c->fd)
		close(fd);
}

static void *fsq_thread(void *arg)
{
	struct cd_fsq *q = arg;

	for (;;) {
		struct cd_check *c;
		ssize_t n;

		pthread_mutex_lock(&q->mu);
		while (!q->head && !q->quit)
			pthread_cond_wait(&q->cv, &q->mu);
		if (q->quit) {
			pthread_mutex_unlock(&q->mu);
			return NULL;
		}
		c = q->head;
		q->head = c->next;
		if (!q->head)
			q->tail = &q->head;
		q->busy_since = cc_now_ms();
		pthread_mutex_unlock(&q->mu);

		if (c->kind == CHECK_QUERY)
			run_query(q, c);
		else if (c->kind == CHECK_PREFETCH)
			run_prefetch(q, c);
		else if (c->kind == CHECK_NEWFILE && lstat(c->path, &c->st) < 0)
			c->r = -errno;
		/* closing a FUSE file is a request too (FLUSH) */
		if (c->fd >= 0)
			close(c->fd);
		c->fd = -1;

		pthread_mutex_lock(&q->mu);
		q->busy_since = 0;
		pthread_mutex_unlock(&q->mu);
		/* a pointer is far below PIPE_BUF: written whole, or not at all */
		do
			n = write(q->done_fd, &c, sizeof(c));
		while (n < 0 && errno == EINTR);
	}
}

/* ---- on the loop ------------------------------------------------------ */

int cd_fscheck_init(struct daemon *d)
{
	return cd_loop_add_pipe(&d->loop, &d->fscheck, SRC_FSCHECK, &d->fscheck_wfd);
}

static struct cd_fsq *fsq_get(struct daemon *d, dev_t dev)
{
	struct cd_fsq *q;
	size_t i;

	for (i = 0; i < d->nfsqs; i++)
		if (d->fsqs[i]->dev == dev)
			return d->fsqs[i];
	if (d->nfsqs == QUEUES_MAX)
		/* past that, devices share threads */
		return d->fsqs[(size_t)dev % QUEUES_MAX];
	q = calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	q->dev = dev;
	q->ctx = d->ctx;
	q->done_fd = d->fscheck_wfd;
	q->want_tail = &q->want;
	q->tail = &q->head;
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	d->fsqs[d->nfsqs++] = q;
	return q;
}

/* The device's thread, started on first use. */
static int fsq_start(struct daemon *d, struct cd_fsq *q)
{
	pthread_attr_t a;
	int r;

	if (q->started)
		return 0;
	/* threads started before the system-call filter escape it */
	if (d->walks_held)
		return -EAGAIN;
	pthread_attr_init(&a);
	pthread_attr_setstacksize(&a, THREAD_STACK);
	r = -pthread_create(&q->thread, &a, fsq_thread, q);
	pthread_attr_destroy(&a);
	if (r < 0)
		return r;
	q->started = true;
	return 0;
}

/* Hand @c to its (started) thread. */
static void fsq_put(struct cd_fsq *q, struct cd_check *c)
{
	c->q = q;
	c->next = NULL;
	pthread_mutex_lock(&q->mu);
	*q->tail = c;
	q->tail = &c->next;
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
	q->out++;
}

/* Its thread has been out on one call for longer than STALL_MS. */
static bool fsq_stalled(struct daemon *d, struct cd_fsq *q)
{
	uint64_t since;

	pthread_mutex_lock(&q->mu);
	since = q->busy_since;
	pthread_mutex_unlock(&q->mu);
	if (!since || cc_now_ms() - since < STALL_MS) {
		if (q->stall_said && !since)
			cd_log(d, LOG_NOTICE, "a filesystem that did not answer answers again");
		if (!since)
			q->stall_said = false;
		return false;
	}
	if (!q->stall_said && q->want)
		cd_log(d, LOG_WARNING,
		     "pin %s: its filesystem has not answered for %llu s; its files stay as they were until it does",
		     cd_pesc(d, q->want->pin->path),
		     (unsigned long long)((cc_now_ms() - since) / 1000));
	q->stall_said = true;
	return true;
}

static void want_unlink(struct cd_fsq *q, struct dfile *f)
{
	if (f->want_next)
		f->want_next->want_pprev = f->want_pprev;
	else
		q->want_tail = f->want_pprev;
	*f->want_pprev = f->want_next;
	f->want_next = NULL;
	f->want_pprev = NULL;
}

/* Hand the device's thread what it may take of the files waiting. */
static void fsq_pump(struct daemon *d, struct cd_fsq *q)
{
	while (q->want && q->out < CHECKS_OUT && !fsq_stalled(d, q) &&
	       fsq_start(d, q) == 0) {
		struct dfile *f = q->want;
		struct cd_check *c = calloc(1, sizeof(*c));

		if (!c)
			return;
		c->kind = f->want_kind;
		c->fd = -1;
		c->newfd = -1;
		c->path = strdup(f->path);
		if (f->fd >= 0)
			c->fd = fcntl(f->fd, F_DUPFD_CLOEXEC, 0);
		c->keep_fd = f->fd < 0 && d->fds_open + d->fds_coming < d->fd_budget;
		if (!c->path || (f->fd >= 0 && c->fd < 0)) {
			/* ENOMEM, EMFILE: the next tick asks again */
			if (c->fd >= 0)
				cd_fd_close(d, f->dev, c->fd);
			check_free(c);
			return;
		}
		fsq_put(q, c);
		if (c->keep_fd)
			d->fds_coming++;
		want_unlink(q, f);
		f->want_q = NULL;
		f->check = c;
		c->f = f;
	}
}

/*
 * @f needs a look by its filesystem (CHECK_QUERY) or a refill
 * (CHECK_PREFETCH): queued for its device's thread. A query asked while
 * a prefetch waits takes its place; a file already out is asked again
 * once it is back.
 */
void cd_check_want(struct daemon *d, struct dfile *f, int kind)
{
	struct cd_fsq *q;

	if (f->check) {
		if (kind > f->again)
			f->again = kind;
		return;
	}
	if (f->want_q) {
		if (kind == CHECK_QUERY)
			f->want_kind = kind;
		return;
	}
	q = fsq_get(d, f->dev);
	if (!q)
		return;		/* ENOMEM: the next tick asks again */
	f->want_kind = kind;
	f->want_q = q;
	f->want_next = NULL;
	f->want_pprev = q->want_tail;
	*q->want_tail = f;
	q->want_tail = &f->want_next;
	fsq_pump(d, q);
}

/* @f is released or freed: nothing of it is asked or applied any more. */
void cd_check_forget(struct daemon *d, struct dfile *f)
{
	(void)d;
	if (f->want_q) {
		want_unlink(f->want_q, f);
		f->want_q = NULL;
	}
	if (f->check) {
		f->check->f = NULL;
		f->check = NULL;
	}
	f->again = 0;
}

/*
 * Close @fd, a descriptor of a file on @dev, on the device's thread:
 * closing a FUSE file asks its server (FLUSH). Where no thread can take
 * it, here.
 */
void cd_fd_close(struct daemon *d, dev_t dev, int fd)
{
	struct cd_fsq *q = fsq_get(d, dev);
	struct cd_check *c = q && fsq_start(d, q) == 0 ? calloc(1, sizeof(*c)) : NULL;

	if (!c) {
		close(fd);
		return;
	}
	c->kind = CHECK_CLOSE;
	c->fd = fd;
	c->newfd = -1;
	fsq_put(q, c);
}

/* A new file of an inherit pin's directory event, looked at off the loop. */
int cd_check_newfile(struct daemon *d, struct dpin *p, const char *path)
{
	struct cd_check *c;
	struct cd_fsq *q;
	int r = 0;

	if (d->newfiles >= NEWFILES_MAX)
		return -ENOBUFS;
	q = fsq_get(d, NEWFILE_DEV);
	c = q ? calloc(1, sizeof(*c)) : NULL;
	if (!c)
		return -ENOMEM;
	c->kind = CHECK_NEWFILE;
	c->fd = c->newfd = -1;
	c->path = strdup(path);
	c->pin_path = strdup(p->path);
	if (!c->path || !c->pin_path || (r = fsq_start(d, q)) < 0) {
		check_free(c);
		return r < 0 ? r : -ENOMEM;
	}
	fsq_put(q, c);
	d->newfiles++;
	return 0;
}

static void newfile_done(struct daemon *d, struct cd_check *c)
{
	size_t i;

	d->newfiles--;
	if (c->r < 0 || !S_ISREG(c->st.st_mode))
		return;
	/* the pin may have gone, or come again, while it was out */
	for (i = 0; i < d->npins; i++)
		if (!strcmp(d->pins[i]->path, c->pin_path)) {
			cd_pin_add_file(d, d->pins[i], c->path, &c->st);
			return;
		}
}

static void query_done(struct daemon *d, struct dfile *f, struct cd_check *c)
{
	if (c->moved) {
		if (f->fd >= 0) {
			cd_fd_close(d, f->dev, f->fd);
			f->fd = -1;
			d->fds_open--;
		}
		if (c->moved_reg) {
			f->dev = c->st.st_dev;
			f->ino = c->st.st_ino;
			if (f->lk != LK_NONE) {
				/* the lock holds the old inode: move it */
				f->relock = true;
				d->plan_needed = true;
			}
		}
	}
	if (c->newfd >= 0 && f->fd < 0 && d->fds_open < d->fd_budget) {
		f->fd = c->newfd;
		c->newfd = -1;
		d->fds_open++;
	}
	if (c->newfd >= 0)
		cd_fd_close(d, f->dev, c->newfd);
	c->newfd = -1;
	cd_refill_checked(d, f, c->r, &c->res);
}

void cd_fscheck_done(struct daemon *d)
{
	struct cd_check *c;

	while (read(d->fscheck.fd, &c, sizeof(c)) == sizeof(c)) {
		struct cd_fsq *q = c->q;
		struct dfile *f = c->f;
		int again;

		if (c->keep_fd)
			d->fds_coming--;
		if (c->kind == CHECK_NEWFILE) {
			newfile_done(d, c);
			check_free(c);
			continue;
		}
		q->out--;
		if (!f && c->newfd >= 0)
			cd_fd_close(d, q->dev, c->newfd);
		if (f && c->kind != CHECK_CLOSE) {
			f->check = NULL;
			again = f->again;
			f->again = 0;
			if (c->kind == CHECK_QUERY)
				query_done(d, f, c);
			else
				cd_refill_prefetched(d, f, c->r);
			if (again && !f->check && !f->removed && f->kept)
				cd_check_want(d, f, again);
		}
		check_free(c);
		fsq_pump(d, q);
	}
}

/* Once a tick: devices whose thread came back get their waiting files. */
void cd_fscheck_tick(struct daemon *d)
{
	size_t i;

	for (i = 0; i < d->nfsqs; i++)
		fsq_pump(d, d->fsqs[i]);
}

/*
 * At exit: threads that are idle end and their queues go; one stuck on
 * a hung mount is left to it (and keeps its queue). True if one was:
 * it still uses the context.
 */
bool cd_fscheck_free(struct daemon *d)
{
	struct cd_check *c;
	bool left = false;
	size_t i;

	for (i = 0; i < d->nfsqs; i++) {
		struct cd_fsq *q = d->fsqs[i];
		bool busy;

		if (!q->started) {
			free(q);
			d->fsqs[i] = NULL;
			continue;
		}
		pthread_mutex_lock(&q->mu);
		busy = q->busy_since != 0;
		q->quit = true;
		pthread_cond_broadcast(&q->cv);
		pthread_mutex_unlock(&q->mu);
		if (busy) {
			pthread_detach(q->thread);
			left = true;
			continue;
		}
		pthread_join(q->thread, NULL);
		while ((c = q->head)) {
			q->head = c->next;
			if (c->fd >= 0)
				close(c->fd);
			check_free(c);
		}
		pthread_mutex_destroy(&q->mu);
		pthread_cond_destroy(&q->cv);
		free(q);
		d->fsqs[i] = NULL;
	}
	/* what came back unread */
	while (d->fscheck.fd >= 0 && read(d->fscheck.fd, &c, sizeof(c)) == sizeof(c)) {
		if (c->newfd >= 0)
			close(c->newfd);
		check_free(c);
	}
	return left;
}
