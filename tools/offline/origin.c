// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Origin I/O in worker threads. A request thread queues a job and waits
 * at most the deadline: a hung server (a hard NFS mount, a stopped sshd)
 * then costs one deadline and a switch to disconnected mode, never a
 * hung request. The worker stays in its syscall until the origin lets it
 * go; whoever finishes last frees the job, so nothing it owns is touched
 * by a caller that has left.
 */
#include <dirent.h>
#include <signal.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "offline.h"

/* enough for every request thread plus a stuck probe and hoarder */
#define CO_MAX_WORKERS 96

struct co_job *co_job_new(co_job_fn fn, const char *path)
{
	struct co_job *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	j->fn = fn;
	j->fd = -1;
	j->refs = 1;
	j->cred_uid = (uid_t)-1;
	j->cred_gid = (gid_t)-1;
	{
		pthread_condattr_t a;

		/* co_origin_call()'s deadline is on the monotonic clock */
		pthread_condattr_init(&a);
		pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
		pthread_cond_init(&j->cond, &a);
		pthread_condattr_destroy(&a);
	}
	if (path && !(j->path = strdup(path))) {
		free(j);
		return NULL;
	}
	return j;
}

static void job_free(struct co_job *j)
{
	if (j->out && j->out_free)
		j->out_free(j->out);
	/* an fd the caller did not take (it left, or the call failed) */
	if (j->fd >= 0)
		close(j->fd);
	pthread_cond_destroy(&j->cond);
	free(j->path);
	free(j->path2);
	free(j->target);
	free(j->xname);
	free(j->buf);
	free(j);
}

void co_job_put(struct co_mgr *m, struct co_job *j)
{
	bool last;

	if (!j)
		return;
	pthread_mutex_lock(&m->wlock);
	last = --j->refs == 0;
	if (!last)
		j->cancelled = true;
	pthread_mutex_unlock(&m->wlock);
	if (last)
		job_free(j);
}

static void *worker(void *arg)
{
	struct co_mgr *m = arg;
	struct co_job *j;
	int r;

	pthread_mutex_lock(&m->wlock);
	for (;;) {
		while (!m->queue_head && !m->stopping)
			pthread_cond_wait(&m->wcond, &m->wlock);
		if (m->stopping)
			break;
		j = m->queue_head;
		m->queue_head = j->next;
		if (!m->queue_head)
			m->queue_tail = NULL;
		m->idle--;
		m->busy++;
		pthread_mutex_unlock(&m->wlock);

		/* its caller gave up while it waited in the queue */
		r = j->cancelled ? -ECANCELED : j->fn(m, j);

		pthread_mutex_lock(&m->wlock);
		m->busy--;
		m->idle++;
		j->result = r;
		j->done = true;
		pthread_cond_broadcast(&j->cond);
		if (--j->refs == 0) {
			pthread_mutex_unlock(&m->wlock);
			job_free(j);
			pthread_mutex_lock(&m->wlock);
		}
	}
	m->nworkers--;
	pthread_mutex_unlock(&m->wlock);
	return NULL;
}

int co_origin_start(struct co_mgr *m)
{
	pthread_mutex_init(&m->wlock, NULL);
	pthread_cond_init(&m->wcond, NULL);
	return 0;
}

void co_origin_stop(struct co_mgr *m)
{
	/* workers stuck in the origin are left to exit with the process */
	pthread_mutex_lock(&m->wlock);
	m->stopping = true;
	pthread_cond_broadcast(&m->wcond);
	pthread_mutex_unlock(&m->wlock);
}

/*
 * Whether the caller is being killed: a fatal signal puts SIGKILL in the
 * pending set of each of its threads. Other signals interrupt a request
 * too, and a program that handles them must not see EINTR from read(2)
 * where a local filesystem would give none: those wait for the deadline.
 */
static bool dying(fuse_req_t req)
{
	char path[64], line[256];
	bool kill = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)fuse_req_ctx(req)->pid);
	f = fopen(path, "re");
	if (!f)
		return true;	/* already gone */
	while (!kill && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "SigPnd:", 7) || !strncmp(line, "ShdPnd:", 7))
			kill = strtoull(line + 7, NULL, 16) & (1ull << (SIGKILL - 1));
	}
	fclose(f);
	return kill;
}

static void interrupted(fuse_req_t req, void *data)
{
	struct co_mgr *m = fuse_req_userdata(req);
	struct co_job *j = data;

	pthread_mutex_lock(&m->wlock);
	pthread_cond_broadcast(&j->cond);
	pthread_mutex_unlock(&m->wlock);
}

int co_origin_call(struct co_mgr *m, struct co_job *j, fuse_req_t req)
{
	struct timespec dl;
	bool checked = false, kill;
	uint64_t ns;
	int r = 0;

	clock_gettime(CLOCK_MONOTONIC, &dl);
	ns = (uint64_t)dl.tv_nsec + (uint64_t)m->o.timeout_ms * 1000000u;
	dl.tv_sec += ns / 1000000000u;
	dl.tv_nsec = ns % 1000000000u;

	pthread_mutex_lock(&m->wlock);
	if (m->stopping) {
		pthread_mutex_unlock(&m->wlock);
		return -ESHUTDOWN;
	}
	j->refs++;
	j->next = NULL;
	if (m->queue_tail)
		m->queue_tail->next = j;
	else
		m->queue_head = j;
	m->queue_tail = j;
	if (m->idle == 0 && m->nworkers < CO_MAX_WORKERS) {
		pthread_t t;
		pthread_attr_t a;

		pthread_attr_init(&a);
		pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
		pthread_attr_setstacksize(&a, 256 * 1024);
		if (pthread_create(&t, &a, worker, m) == 0) {
			m->nworkers++;
			m->idle++;
		}
		pthread_attr_destroy(&a);
	}
	pthread_cond_signal(&m->wcond);
	pthread_mutex_unlock(&m->wlock);

	/* outside wlock: libfuse may call interrupted() right away */
	if (req)
		fuse_req_interrupt_func(req, interrupted, j);

	pthread_mutex_lock(&m->wlock);
	while (!j->done) {
		if (req && !checked && fuse_req_interrupted(req)) {
			checked = true;
			pthread_mutex_unlock(&m->wlock);
			kill = dying(req);
			pthread_mutex_lock(&m->wlock);
			if (kill) {
				r = -EINTR;
				break;
			}
			continue;
		}
		if (pthread_cond_timedwait(&j->cond, &m->wlock, &dl) == ETIMEDOUT &&
		    !j->done) {
			r = -ETIMEDOUT;
			break;
		}
	}
	if (!r)
		r = j->result;
	pthread_mutex_unlock(&m->wlock);
	if (req)
		fuse_req_interrupt_func(req, NULL, NULL);
	return r;
}

/* ---- the jobs ----------------------------------------------------------- */

static const char *rel(const struct co_job *j)
{
	return j->path && *j->path ? j->path : ".";
}

static int stat_at(struct co_mgr *m, const char *path, struct stat *st)
{
	int r;

	if (!*path)
		r = fstatat(m->root_fd, "", st, AT_EMPTY_PATH);
	else
		r = fstatat(m->root_fd, path, st, AT_SYMLINK_NOFOLLOW);
	return r < 0 ? -errno : 0;
}

int co_job_stat(struct co_mgr *m, struct co_job *j)
{
	return stat_at(m, j->path ? j->path : "", &j->st);
}

/* past the origin's own attribute cache: the server must answer */
int co_job_probe(struct co_mgr *m, struct co_job *j)
{
	struct statx sx;
	struct statfs sf;

	if (statx(m->root_fd, "", AT_EMPTY_PATH | AT_STATX_FORCE_SYNC,
		  STATX_BASIC_STATS, &sx) < 0)
		return -errno;
	/* a FUSE origin (sshfs) answers attributes and even opendir from its
	 * own caches; statfs it passes to the server */
	if (fstatfs(m->root_fd, &sf) < 0)
		return -errno;
	return 0;
}

static int readlink_at(struct co_mgr *m, const char *path, char **ret)
{
	char buf[4096];
	ssize_t n = readlinkat(m->root_fd, path, buf, sizeof(buf) - 1);

	if (n < 0)
		return -errno;
	buf[n] = '\0';
	*ret = strdup(buf);
	return *ret ? 0 : -ENOMEM;
}

int co_job_readlink(struct co_mgr *m, struct co_job *j)
{
	char *t = NULL;
	int r = readlink_at(m, rel(j), &t);

	j->buf = t;
	return r;
}

void co_listing_free(void *p)
{
	struct co_listing *l = p;
	size_t i;

	if (!l)
		return;
	for (i = 0; i < l->n; i++) {
		free(l->v[i].name);
		free(l->v[i].link);
	}
	free(l->v);
	free(l);
}

/* names and attributes of a whole directory: complete, or an error */
int co_job_list(struct co_mgr *m, struct co_job *j)
{
	struct co_listing *l;
	struct dirent *de;
	size_t cap = 0;
	DIR *d;
	int fd, r = 0;

	fd = openat(m->root_fd, rel(j), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	l = calloc(1, sizeof(*l));
	if (!l) {
		closedir(d);
		return -ENOMEM;
	}
	j->out = l;
	j->out_free = co_listing_free;
	for (;;) {
		struct co_dirent *e;

		errno = 0;
		de = readdir(d);
		if (!de) {
			r = -errno;
			break;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (l->n == cap) {
			struct co_dirent *nv;

			cap = cap ? cap * 2 : 64;
			nv = realloc(l->v, cap * sizeof(*nv));
			if (!nv) {
				r = -ENOMEM;
				break;
			}
			l->v = nv;
		}
		e = &l->v[l->n];
		memset(e, 0, sizeof(*e));
		if (fstatat(dirfd(d), de->d_name, &e->st, AT_SYMLINK_NOFOLLOW) < 0) {
			/* gone since the listing: leave it out */
			if (errno == ENOENT)
				continue;
			r = -errno;
			break;
		}
		e->name = strdup(de->d_name);
		if (!e->name) {
			r = -ENOMEM;
			break;
		}
		l->n++;
		if (S_ISLNK(e->st.st_mode)) {
			char buf[4096];
			ssize_t n = readlinkat(dirfd(d), de->d_name, buf,
					       sizeof(buf) - 1);

			if (n >= 0) {
				buf[n] = '\0';
				e->link = strdup(buf);
			}
		}
	}
	closedir(d);
	return r;
}

/*
 * j->len bytes at j->off into j->buf, opening the file first when j->fd
 * is -1; j->st the attributes after the read, so a change racing it is
 * seen. Short only at the origin's end of file.
 */
int co_job_read(struct co_mgr *m, struct co_job *j)
{
	size_t got = 0;

	if (j->fd < 0) {
		j->fd = openat(m->root_fd, rel(j), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (j->fd < 0)
			return -errno;
	}
	j->buf = malloc(j->len ? j->len : 1);
	if (!j->buf)
		return -ENOMEM;
	while (got < j->len) {
		ssize_t n = pread(j->fd, (char *)j->buf + got, j->len - got,
				  (off_t)(j->off + got));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	j->size = got;
	if (fstat(j->fd, &j->st) < 0)
		return -errno;
	return 0;
}

void co_xattrs_free(void *p)
{
	struct co_xattrs *x = p;
	size_t i;

	if (!x)
		return;
	for (i = 0; i < x->n; i++) {
		free(x->v[i].name);
		free(x->v[i].value);
	}
	free(x->v);
	free(x);
}

/* every xattr of the object, by the fd-relative /proc path: there is no
 * getxattrat(2) on this kernel, and the path never meets our own mount */
int co_job_xattrs(struct co_mgr *m, struct co_job *j)
{
	struct co_xattrs *x;
	char path[4200], names[65536], *p;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", m->root_fd, rel(j));
	n = llistxattr(path, names, sizeof(names));
	if (n < 0)
		return errno == ENOTSUP ? 0 : -errno;
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	j->out = x;
	j->out_free = co_xattrs_free;
	for (p = names; p < names + n; p += strlen(p) + 1) {
		struct co_xattr *nv;
		char val[65536];
		ssize_t vn = lgetxattr(path, p, val, sizeof(val));

		if (vn < 0) {
			if (errno == ENODATA)
				continue;
			return -errno;
		}
		nv = realloc(x->v, (x->n + 1) * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		x->v = nv;
		nv[x->n].name = strdup(p);
		nv[x->n].value = malloc(vn ? (size_t)vn : 1);
		if (!nv[x->n].name || !nv[x->n].value) {
			free(nv[x->n].name);
			free(nv[x->n].value);
			return -ENOMEM;
		}
		memcpy(nv[x->n].value, val, (size_t)vn);
		nv[x->n].size = (size_t)vn;
		x->n++;
	}
	return 0;
}
