// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The Unix socket and the protocol (common/proto.h). Clients are
 * non-blocking: input goes through cc_proto_fill()/cc_proto_take(), output is
 * queued and written as the socket drains, so a client that never reads
 * cannot wedge the loop. Hostile clients lose their connection: oversized
 * frames, a message stalled half-way for STALL_MS, output that piles up
 * past OUT_MAX, or nothing asked for IDLE_MS.
 *
 * No user may lock the others out or make the daemon big: each uid has a
 * cap on its connections, its subscriptions, the bytes queued to it and
 * its requests waiting on a filesystem, and RESERVED slots of the client
 * table are kept for root and the socket's owner. A subscriber that falls
 * behind gets a last "overrun" event and is dropped: it reconnects and
 * reads the state again. A path a client names is resolved off the loop
 * (resolve.c): the request waits, everyone else is served.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>

#include "cachectld.h"

#define MAX_CLIENTS 256
#define RESERVED 16		/* slots only root and the owner may take */
#define UID_CLIENTS 32		/* connections of one other uid */
#define UID_SUBS 8		/* of which subscriptions */
#define UID_JOBS 4		/* requests of one uid waiting on a filesystem */
#define JOBS_MAX 64		/* of everyone's */
#define JOBS_RESERVED 8		/* of which kept for root and the owner */
#define RESOLVE_MS 10000	/* a path that takes longer is timed out */
#define STALL_MS 5000
#define IDLE_MS 60000		/* a connection that asks nothing goes,
				 * unless it subscribed or holds pins */
#define OUT_MAX (4u << 20)	/* answers queued to one connection */
#define UID_OUT_MAX (8u << 20)	/* to one other uid's connections */
#define SUB_OUT_MAX (128u << 10) /* events queued to one subscriber */
#define UID_EVENTS_MAX (512u << 10) /* to one other uid's subscribers */
#define ALL_EVENTS_MAX (8u << 20) /* past this queued to all, events stop */
#define LIVE_FILES 4096		/* STATUS re-queries pins this small */

/* What one uid holds of the daemon. */
struct cd_user {
	struct cd_user *next;
	uid_t uid;
	bool priv;			/* root or the socket's owner */
	int conns, subs, jobs;
	size_t queued;			/* bytes queued to its connections */
	uint64_t refused_logged;	/* ms, so refusals do not flood the log */
};

struct client {
	struct cd_source src;
	struct client *next, **pprev;
	struct ucred cred;
	struct cd_user *user;
	struct cc_proto_buf in;
	struct cd_outbuf out;
	size_t queued;			/* of out, as counted in user and daemon */
	struct cd_job *job;		/* the request waiting on it, or NULL */
	uint64_t partial_since;		/* ms a message started, 0 if none */
	uint64_t active;		/* ms of the last request */
	bool subscribed;
	bool closing;			/* flush, then close */
	bool dead;
};

static struct cd_user *user_get(struct daemon *d, uid_t uid)
{
	struct cd_user *u;

	for (u = d->users; u; u = u->next)
		if (u->uid == uid)
			return u;
	u = calloc(1, sizeof(*u));
	if (!u)
		return NULL;
	u->uid = uid;
	u->priv = uid == 0 || uid == d->uid;
	u->next = d->users;
	d->users = u;
	return u;
}

/* Forget a uid that holds nothing any more. */
static void user_put(struct daemon *d, struct cd_user *u)
{
	struct cd_user **pp;

	if (u->conns || u->jobs)
		return;
	for (pp = &d->users; *pp; pp = &(*pp)->next) {
		if (*pp == u) {
			*pp = u->next;
			free(u);
			return;
		}
	}
}

/* Bring the queued counts up to date with what @c has queued now. */
static void account(struct daemon *d, struct client *c)
{
	size_t now = c->out.len - c->out.off;

	c->user->queued = c->user->queued - c->queued + now;
	d->queued = d->queued - c->queued + now;
	c->queued = now;
}

static int queue_framed(struct daemon *d, struct client *c, const char *m,
			size_t len)
{
	int r;

	if (c->out.len - c->out.off + len > OUT_MAX ||
	    (!c->user->priv && c->user->queued + len > UID_OUT_MAX))
		r = -ENOBUFS;	/* it does not read: it goes */
	else
		r = cd_outbuf_put(&c->out, m, len);
	account(d, c);
	if (r < 0)
		c->dead = true;
	return r;
}

/* Queue a message rather than send it: a client may be slow to read. */
static int queue_msg(struct daemon *d, struct client *c, const char *verb,
		     const char *const *kv, size_t n)
{
	size_t len;
	char *m;
	int r;

	r = cc_proto_frame(verb, kv, n, &m, &len);
	if (!r) {
		r = queue_framed(d, c, m, len);
		free(m);
	} else {
		c->dead = true;
	}
	return r;
}

static int queue_err(struct daemon *d, struct client *c, int error,
		     const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int queue_err(struct daemon *d, struct client *c, int error,
		     const char *fmt, ...)
{
	char num[16], msg[8192];
	const char *kv[] = { "errno", num, "message", msg };
	va_list ap;

	snprintf(num, sizeof(num), "%d", error < 0 ? -error : error);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return queue_msg(d, c, "ERR", kv, 2);
}

/*
 * Out of the table at once, freed after the loop's batch: events later
 * in it may still name the client (cd_client_event() skips it then).
 */
static void client_free(struct daemon *d, struct client *c)
{
	cd_holds_release_owner(d, c);
	cd_loop_del(&d->loop, &c->src);
	close(c->src.fd);
	c->src.fd = -1;
	if (c->job)
		c->job->owner = NULL;	/* its thread returns to nobody */
	cc_proto_buf_free(&c->in);
	cd_outbuf_free(&c->out);
	account(d, c);
	*c->pprev = c->next;
	if (c->next)
		c->next->pprev = c->pprev;
	d->nclients--;
	c->user->conns--;
	if (c->subscribed)
		c->user->subs--;
	user_put(d, c->user);
	c->next = d->dead_clients;
	d->dead_clients = c;
}

void cd_clients_reap(struct daemon *d)
{
	while (d->dead_clients) {
		struct client *c = d->dead_clients;

		d->dead_clients = c->next;
		free(c);
	}
}

/* Write what is queued; close the client when done or broken. */
static void client_flush(struct daemon *d, struct client *c)
{
	uint32_t ev;
	int r = 0;

	if (c->src.fd < 0)
		return;
	if (!c->dead) {
		r = cd_outbuf_flush(c->src.fd, &c->out);
		account(d, c);
	}
	if (c->dead || r < 0 || (r == 1 && c->closing)) {
		client_free(d, c);
		return;
	}
	/*
	 * A closing client is only written to: its EOF would wake us for
	 * ever; so is one whose request waits on a filesystem (its next
	 * ones stay in the socket, its hang-up is EPOLLHUP).
	 */
	ev = r == 0 ? EPOLLOUT : 0;
	if (!c->closing && !c->job)
		ev |= EPOLLIN | EPOLLRDHUP;
	cd_loop_mod(&d->loop, &c->src, ev);
}

static const char *scope_name(int scope)
{
	return scope == CACHECTL_SCOPE_SYSTEM ? "system" : "user";
}

/* ---- server socket ---------------------------------------------------- */

/* Is a daemon answering there? 1 yes, 0 no (stale or absent), <0 unsure. */
static int probe_socket(const struct sockaddr_un *sa)
{
	struct cc_proto_buf b = { .fd = -1 };
	struct cc_proto_msg m;
	int fd, r;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0) {
		r = errno == ECONNREFUSED || errno == ENOENT ? 0 : -errno;
		close(fd);
		return r;
	}
	r = cc_proto_recv(fd, &b, &m, 2000);
	if (r == 0) {
		cc_proto_msg_free(&m);
		r = cc_proto_send(fd, "PING", -1, NULL, 0);
		if (r == 0)
			r = cc_proto_recv(fd, &b, &m, 2000);
		if (r == 0) {
			r = strcmp(m.verb, "OK") ? -EPROTO : 1;
			cc_proto_msg_free(&m);
		}
	}
	cc_proto_buf_free(&b);
	close(fd);
	/* something listens but does not answer: do not take its place */
	return r == 1 ? 1 : -EADDRINUSE;
}

static int make_dir(struct daemon *d, const char *path)
{
	bool sys = d->scope == CACHECTL_SCOPE_SYSTEM;
	char *dir = strdup(path), *slash;
	struct stat st;
	int r = 0;

	if (!dir)
		return -ENOMEM;
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		goto out;
	*slash = '\0';
	if (mkdir(dir, sys ? 0755 : 0700) < 0 && errno != EEXIST) {
		r = -errno;
		cd_log(d, LOG_ERR, "cannot create %s: %s", cd_pesc(d, dir), strerror(errno));
		goto out;
	}
	if (lstat(dir, &st) < 0) {
		r = -errno;
		goto out;
	}
	/* someone else's directory could hand our clients to another daemon */
	if (!S_ISDIR(st.st_mode) || (st.st_uid != geteuid() && st.st_uid != 0) ||
	    (!sys && (st.st_mode & 022))) {
		cd_log(d, LOG_ERR,
		     "%s: not a directory owned by uid %u and closed to others; refusing to put the socket there",
		     cd_pesc(d, dir), (unsigned int)geteuid());
		r = -EPERM;
	}
out:
	free(dir);
	return r;
}

static void broadcast(struct daemon *d, int type, const char *path,
		      uint64_t bytes, void *data);

static bool ours(const char *name)
{
	return name && (!strcmp(name, "cachectld.socket") ||
			!strcmp(name, "cachectld"));
}

/*
 * Socket activation: the listening Unix stream socket systemd passed,
 * the one named for us (LISTEN_FDNAMES: the socket unit's name unless
 * it sets FileDescriptorName=) or else the only one. Others are closed.
 * Returns the fd, -ENOENT if nothing was passed, -EBADF if nothing fit.
 */
static int activated_socket(struct daemon *d)
{
	char **names = NULL;
	int n, i, fd = -EBADF;

	n = sd_listen_fds_with_names(1, &names);
	if (n <= 0) {
		if (n < 0)
			cd_log(d, LOG_WARNING, "LISTEN_FDS: %s", strerror(-n));
		return -ENOENT;
	}
	for (i = 0; i < n; i++) {
		int cand = SD_LISTEN_FDS_START + i;
		const char *name = names ? names[i] : NULL;

		if (fd < 0 && (ours(name) || n == 1) &&
		    sd_is_socket_unix(cand, SOCK_STREAM, 1, NULL, 0) > 0) {
			fd = cand;
			cd_log(d, LOG_INFO, "listening on the socket systemd passed (%s)",
			     name ? cd_pesc(d, name) : "unnamed");
		} else {
			cd_log(d, LOG_WARNING, "closing descriptor %d (%s) systemd passed: not a listening Unix stream socket named cachectld",
			     cand, name ? cd_pesc(d, name) : "unnamed");
			close(cand);
		}
	}
	for (i = 0; names && names[i]; i++)
		free(names[i]);
	free(names);
	if (fd < 0)
		cd_log(d, LOG_ERR, "systemd passed %d descriptors, none of them a listening socket for cachectld", n);
	return fd;
}

int cd_server_open(struct daemon *d, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	bool sys = d->scope == CACHECTL_SCOPE_SYSTEM;
	mode_t old;
	int fd, r;

	d->listen.type = SRC_LISTEN;
	r = cd_events_subscribe(d, broadcast, NULL);
	if (r == 0)
		r = cd_resolve_init(d);
	if (r < 0)
		return r;
	fd = activated_socket(d);
	if (fd == -EBADF)
		return fd;
	if (fd >= 0) {
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		d->listen.fd = fd;
		d->own_socket = false;
		return cd_loop_add(&d->loop, &d->listen, EPOLLIN);
	}

	if (path) {
		d->sock_path = strdup(path);
		if (!d->sock_path)
			return -ENOMEM;
	} else {
		r = cachectl_scope_get_socket_path(d->scope, &d->sock_path);
		if (r < 0)
			return r;
	}
	if (strlen(d->sock_path) >= sizeof(sa.sun_path)) {
		cd_log(d, LOG_ERR, "socket path too long: %s", cd_pesc(d, d->sock_path));
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, d->sock_path, strlen(d->sock_path) + 1);
	r = make_dir(d, d->sock_path);
	if (r < 0)
		return r;

	r = probe_socket(&sa);
	if (r != 0) {
		if (r == 1)
			cd_log(d, LOG_ERR, "another cachectld answers on %s",
			     cd_pesc(d, d->sock_path));
		else
			cd_log(d, LOG_ERR, "%s is in use: %s", cd_pesc(d, d->sock_path),
			     strerror(-r));
		return -EADDRINUSE;
	}
	if (unlink(d->sock_path) == 0)
		cd_log(d, LOG_INFO, "removed stale socket %s", cd_pesc(d, d->sock_path));

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	old = umask(sys ? 0111 : 0177);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0 || chmod(d->sock_path, sys ? 0666 : 0600) < 0 ||
	    listen(fd, SOMAXCONN) < 0) {
		r = -errno;
		cd_log(d, LOG_ERR, "cannot listen on %s: %s", cd_pesc(d, d->sock_path),
		     strerror(errno));
		close(fd);
		return r;
	}
	d->listen.fd = fd;
	d->own_socket = true;
	cd_log(d, LOG_NOTICE, "%s scope, listening on %s", scope_name(d->scope),
	     cd_pesc(d, d->sock_path));
	return cd_loop_add(&d->loop, &d->listen, EPOLLIN);
}

void cd_server_close(struct daemon *d)
{
	if (d->listen.fd >= 0) {
		close(d->listen.fd);
		d->listen.fd = -1;
	}
	if (d->own_socket && d->sock_path)
		unlink(d->sock_path);
	free(d->sock_path);
	d->sock_path = NULL;
}

/*
 * At the cap, the client idle the longest makes room for the new one: a
 * pile of silent connections must not lock everyone out. Subscribers
 * are idle by nature; for root or the owner, one of the uid that holds
 * the most connections goes, subscriber or not.
 */
static bool make_room(struct daemon *d, bool priv)
{
	struct client *c, *old = NULL;
	struct cd_user *u, *big = NULL;

	/* nor holders: their pins would go with them */
	for (c = d->clients; c; c = c->next)
		if (!c->subscribed && !c->job && !c->closing &&
		    !cd_holds_owned(d, c) &&
		    (!old || c->active < old->active))
			old = c;
	if (!old && priv) {
		for (u = d->users; u; u = u->next)
			if (!u->priv && (!big || u->conns > big->conns))
				big = u;
		for (c = d->clients; big && c; c = c->next)
			if (c->user == big && !c->job && !cd_holds_owned(d, c))
				old = c;
	}
	if (!old)
		return false;
	cd_log(d, LOG_INFO, "%d clients: dropping the longest idle one (pid %d uid %u)",
	       d->nclients, (int)old->cred.pid, (unsigned int)old->cred.uid);
	client_free(d, old);
	return true;
}

/* Say no to a connection: ERR EBUSY instead of HELLO, logged once a second. */
static void refuse(struct daemon *d, int fd, struct cd_user *u,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void refuse(struct daemon *d, int fd, struct cd_user *u,
		   const char *fmt, ...)
{
	uint64_t now = cc_now_ms();
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cc_proto_send_err(fd, EBUSY, msg);
	close(fd);
	if (!u->refused_logged || now - u->refused_logged >= 1000) {
		cd_log(d, LOG_WARNING, "refused a client of uid %u: %s",
		       (unsigned int)u->uid, msg);
		u->refused_logged = now;
	}
	user_put(d, u);
}

void cd_server_accept(struct daemon *d)
{
	for (;;) {
		socklen_t len = sizeof(struct ucred);
		struct ucred cred;
		struct cd_user *u;
		struct client *c;
		int fd;

		fd = accept4(d->listen.fd, NULL, NULL,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN)
				cd_log(d, LOG_WARNING, "accept: %s", strerror(errno));
			return;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
		    !(u = user_get(d, cred.uid))) {
			close(fd);
			continue;
		}
		if (!u->priv && u->conns >= UID_CLIENTS) {
			refuse(d, fd, u, "busy: uid %u has %d connections, the most one user may have",
			       (unsigned int)cred.uid, u->conns);
			continue;
		}
		if (d->nclients >= MAX_CLIENTS - (u->priv ? 0 : RESERVED) &&
		    !make_room(d, u->priv)) {
			refuse(d, fd, u, "busy: %d clients connected", d->nclients);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			user_put(d, u);
			continue;
		}
		c->src.type = SRC_CLIENT;
		c->src.fd = fd;
		c->active = cc_now_ms();
		c->in.fd = -1;
		c->cred = cred;
		c->user = u;
		u->conns++;
		c->next = d->clients;
		if (c->next)
			c->next->pprev = &c->next;
		c->pprev = &d->clients;
		d->clients = c;
		d->nclients++;
		if (cd_loop_add(&d->loop, &c->src, EPOLLIN | EPOLLRDHUP) < 0) {
			client_free(d, c);
			continue;
		}
		cd_log(d, LOG_DEBUG, "client pid %d uid %u connected",
		     (int)c->cred.pid, (unsigned int)c->cred.uid);
		{
			const char *kv[] = { "version", "1" };

			queue_msg(d, c, "HELLO", kv, 1);
		}
		client_flush(d, c);
	}
}

/* ---- requests --------------------------------------------------------- */

static bool may_use(struct daemon *d, struct client *c)
{
	return d->scope == CACHECTL_SCOPE_SYSTEM || c->cred.uid == d->uid ||
	       c->cred.uid == 0;
}

static bool may_change(struct daemon *d, struct client *c)
{
	if (d->scope == CACHECTL_SCOPE_SYSTEM)
		return c->cred.uid == 0;
	return may_use(d, c);
}

static void put_u64(char *buf, size_t len, uint64_t v)
{
	snprintf(buf, len, "%llu", (unsigned long long)v);
}

/* "OK count=N", the head of a listing of N messages */
static int queue_count(struct daemon *d, struct client *c, uint64_t n)
{
	char count[24];
	const char *kv[] = { "count", count };

	put_u64(count, sizeof(count), n);
	return queue_msg(d, c, "OK", kv, 1);
}

/* PIN with holder=: kept while this connection lasts, not stored */
/* Returns 0 if held (the caller answers), or -errno once answered. */
static int hold_pin(struct daemon *d, struct client *c,
		    struct cachectl_pin *pin, const char *path,
		    const char *holder)
{
	int r;

	r = cd_hold_add(d, c, c->cred.uid, pin, holder);
	if (r == -EBUSY)
		queue_err(d, c, EBUSY, "cannot hold %s: it is kept with other flags (soft, or not recursive)",
			  path);
	else if (r < 0)
		queue_err(d, c, r, "held %s, but cannot keep it: %s", path, strerror(-r));
	return r < 0 ? r : 0;
}

static void do_release(struct daemon *d, struct client *c, struct cc_proto_msg *m)
{
	const char *path = cc_proto_get(m, "path");

	if (!path || path[0] != '/') {
		queue_err(d, c, EINVAL, "RELEASE needs an absolute path=");
		return;
	}
	if (cd_hold_release(d, c, path) < 0)
		queue_err(d, c, ENOENT, "this connection holds no pin of %s", path);
	else
		queue_msg(d, c, "OK", NULL, 0);
}

static void do_holds(struct daemon *d, struct client *c)
{
	char flags[24], uid[24];
	const char *kv[8];
	unsigned int fl;
	uid_t u;
	size_t i;

	if (queue_count(d, c, d->nholds) < 0)
		return;
	for (i = 0; cd_hold_get(d, i, &kv[1], &fl, &kv[5], &u) == 0; i++) {
		put_u64(flags, sizeof(flags), fl);
		put_u64(uid, sizeof(uid), u);
		kv[0] = "path";
		kv[2] = "flags";
		kv[3] = flags;
		kv[4] = "holder";
		kv[6] = "uid";
		kv[7] = uid;
		if (queue_msg(d, c, "HOLD", kv, 4) < 0)
			return;
	}
}

/*
 * Hand the request's path to a thread. Returns 0 when the request waits
 * for it, or -errno once answered (busy, out of memory).
 */
static int start_job(struct daemon *d, struct client *c, int kind,
		     const char *path, struct cc_proto_msg *m)
{
	struct cd_user *u = c->user;
	struct cd_job *j;
	int r;

	if (!u->priv && u->jobs >= UID_JOBS) {
		queue_err(d, c, EBUSY, "busy: uid %u has %d requests waiting on filesystems that do not answer",
			  (unsigned int)u->uid, u->jobs);
		return -EBUSY;
	}
	if (d->njobs >= JOBS_MAX - (u->priv ? 0 : JOBS_RESERVED)) {
		queue_err(d, c, EBUSY, "busy: %d requests wait on filesystems that do not answer",
			  d->njobs);
		return -EBUSY;
	}
	j = cd_job_new(kind, path, u);
	if (!j) {
		queue_err(d, c, ENOMEM, "%s", strerror(ENOMEM));
		return -ENOMEM;
	}
	if (m && kind == CD_JOB_PIN) {
		j->fd = m->fd;		/* the job owns the proof now */
		m->fd = -1;
	}
	r = cd_job_start(d, j);
	if (r < 0) {
		queue_err(d, c, -r, "cannot look %s up: %s", path, strerror(-r));
		return r;
	}
	j->owner = c;
	c->job = j;
	u->jobs++;
	return 0;
}

static void do_pin(struct daemon *d, struct client *c, struct cc_proto_msg *m)
{
	const char *path = cc_proto_get(m, "path");
	const char *holder = cc_proto_get(m, "holder");
	uint64_t flags = 0, budget = 0;
	unsigned int known = CACHECTL_PIN_RECURSIVE | CACHECTL_PIN_INHERIT |
			     CACHECTL_PIN_HARD;
	int prio = 0;

	if (!path || !*path || proto_get_u64(m, "flags", &flags) < 0 ||
	    flags > UINT32_MAX || cc_proto_get_int(m, "priority", &prio) == -EINVAL ||
	    proto_get_u64(m, "budget", &budget) == -EINVAL) {
		queue_err(d, c, EINVAL, "PIN needs path= and flags=, and numbers in priority= and budget=");
		return;
	}
	if (path[0] != '/') {
		queue_err(d, c, EINVAL, "cannot pin %s: the path must be absolute", path);
		return;
	}
	if ((flags & ~(uint64_t)known) ||
	    ((flags & CACHECTL_PIN_INHERIT) && !(flags & CACHECTL_PIN_RECURSIVE))) {
		queue_err(d, c, EINVAL, "cannot pin %s: bad flags %llu (inherit needs recursive)",
			  path, (unsigned long long)flags);
		return;
	}
	if (prio < CACHECTL_PRIORITY_MIN || prio > CACHECTL_PRIORITY_MAX) {
		queue_err(d, c, ERANGE, "cannot pin %s: priority %d outside %d..%d",
			  path, prio, CACHECTL_PRIORITY_MIN, CACHECTL_PRIORITY_MAX);
		return;
	}
	if (holder && (!*holder || strlen(holder) > 255)) {
		queue_err(d, c, EINVAL, "cannot hold %s: the holder must be 1 to 255 bytes", path);
		return;
	}
	if (holder && !(holder = strdup(holder))) {
		queue_err(d, c, ENOMEM, "%s", strerror(ENOMEM));
		return;
	}
	if (start_job(d, c, CD_JOB_PIN, path, m) == 0) {
		c->job->flags = flags;
		c->job->budget = budget;
		c->job->priority = prio;
		c->job->holder = (char *)holder;
	} else {
		free((char *)holder);
	}
}

/*
 * A pin just set is walked on a thread: its client hears OK once the
 * walk is in (or its time is up), so what it asks next sees the files.
 * Returns true if @c now waits for it.
 */
static bool wait_walk(struct daemon *d, struct client *c, const char *canon)
{
	struct dpin *p = cd_pin_find(d, canon);

	if (!p || !p->walk || p->walk->owner) {
		queue_msg(d, c, "OK", NULL, 0);
		return false;
	}
	p->walk->owner = c;
	c->job = p->walk;
	return true;
}

/*
 * The path of a PIN resolved and checked: record the pin and keep it.
 * Returns true if @c waits on the pin's walk.
 */
static bool finish_pin(struct daemon *d, struct client *c, struct cd_job *j)
{
	const char *path = j->path;
	struct cachectl_pin *pin = NULL;
	bool waits = false;
	int r;

	if (j->no_proof) {
		queue_err(d, c, EACCES, "cannot pin %s: not readable by uid %u",
			  path, (unsigned int)c->cred.uid);
		cd_log(d, LOG_NOTICE, "refused pin of %s by uid %u: no proof it can read it",
		     cd_pesc(d, path), (unsigned int)c->cred.uid);
		return false;
	}
	if (j->err) {
		queue_err(d, c, -j->err, "cannot pin %s: %s", path, j->why);
		return false;
	}
	r = cachectl_pin_new_resolved(d->ctx, j->canon, (unsigned int)j->flags, &pin);
	if (r < 0) {
		queue_err(d, c, -r, "cannot pin %s: %s", path, strerror(-r));
		return false;
	}
	cachectl_pin_set_priority(pin, j->priority);
	cachectl_pin_set_budget(pin, j->budget);
	if (j->holder) {
		if (hold_pin(d, c, pin, path, j->holder) == 0)
			waits = wait_walk(d, c, j->canon);
		goto out;
	}
	r = cachectl_pinstore_add(d->store, pin);
	if (r < 0) {
		queue_err(d, c, -r, "cannot record the pin of %s in %s: %s", path,
			  cachectl_pinstore_get_path(d->store), strerror(-r));
		cd_log(d, LOG_ERR, "cannot record the pin of %s in %s: %s",
		     cd_pesc(d, path), cd_pesc(d, cachectl_pinstore_get_path(d->store)),
		     strerror(-r));
		goto out;
	}
	cd_log(d, LOG_NOTICE, "uid %u pinned %s (flags %llu, priority %d, budget %llu)",
	     (unsigned int)c->cred.uid, cd_pesc(d, j->canon), (unsigned long long)j->flags,
	     j->priority, (unsigned long long)j->budget);
	r = cd_pin_set(d, pin);
	if (r < 0)
		queue_err(d, c, -r, "pinned %s, but cannot keep it: %s", path,
			  strerror(-r));
	else
		waits = wait_walk(d, c, j->canon);
out:
	cachectl_pin_unref(pin);
	return waits;
}

/* @name: the pin's own path, or the path resolved to it */
static void unpin(struct daemon *d, struct client *c, const char *path,
		  const char *name)
{
	struct dpin *p;
	int r;

	r = cachectl_pinstore_remove(d->store, name);
	if (r == -ENOENT) {
		queue_err(d, c, ENOENT, "%s is not pinned", path);
		return;
	}
	if (r < 0) {
		queue_err(d, c, -r, "cannot unpin %s in %s: %s", path,
			  cachectl_pinstore_get_path(d->store), strerror(-r));
		return;
	}
	p = cd_pin_find(d, name);
	if (p) {
		cd_log(d, LOG_NOTICE, "uid %u unpinned %s",
		     (unsigned int)c->cred.uid, cd_pesc(d, p->path));
		/* its holders keep it until they release it */
		p->in_store = false;
		if (!p->nholds)
			cd_pin_drop(d, p);
	}
	queue_msg(d, c, "OK", NULL, 0);
}

static void do_unpin(struct daemon *d, struct client *c, struct cc_proto_msg *m)
{
	const char *path = cc_proto_get(m, "path");

	if (!path || path[0] != '/') {
		queue_err(d, c, EINVAL, "UNPIN needs an absolute path=");
		return;
	}
	/* a pin's own path needs no filesystem; any other path does */
	if (cd_pin_find(d, path))
		unpin(d, c, path, path);
	else
		start_job(d, c, CD_JOB_UNPIN, path, NULL);
}

static void do_reload(struct daemon *d, struct client *c)
{
	int r = cachectl_pinstore_reload(d->store);

	if (r < 0) {
		cd_log(d, LOG_ERR, "cannot reload %s: %s; keeping the pins I have",
		     cd_pesc(d, cachectl_pinstore_get_path(d->store)), strerror(-r));
		queue_err(d, c, r, "cannot reload %s: %s",
			  cachectl_pinstore_get_path(d->store), strerror(-r));
		return;
	}
	r = cd_pins_sync(d);
	if (r < 0)
		queue_err(d, c, r, "reload: %s", strerror(-r));
	else
		queue_msg(d, c, "OK", NULL, 0);
}

static int status_kv(struct daemon *d, struct dpin *p, bool live,
		     char num[][24], const char **kv)
{
	struct cachectl_pin_status st;
	int n = 0;

	if (live)
		cd_refill_query_pin(d, p);
	cd_pin_status(p, &st);
#define KV(k, v) do { put_u64(num[n], sizeof(num[n]), v); \
		      kv[2 * n] = k; kv[2 * n + 1] = num[n]; n++; } while (0)
	KV("files", st.files);
	KV("size", st.size);
	KV("cached", st.cached);
	KV("locked", st.locked);
	KV("shortfall", st.shortfall);
	KV("flags", st.flags);
#undef KV
	return n;
}

static void status(struct daemon *d, struct client *c, struct dpin *p)
{
	char num[6][24];
	const char *kv[12];
	int n;

	/* a big tree is reported as last checked: re-querying it all
	 * would stall everyone else */
	n = status_kv(d, p, p->nfiles <= LIVE_FILES, num, kv);
	queue_msg(d, c, "OK", kv, n);
}

static void do_status(struct daemon *d, struct client *c, struct cc_proto_msg *m)
{
	const char *path = cc_proto_get(m, "path");
	struct dpin *p;

	if (!path || path[0] != '/') {
		queue_err(d, c, EINVAL, "STATUS needs an absolute path=");
		return;
	}
	p = cd_pin_find(d, path);
	if (p)
		status(d, c, p);
	else
		start_job(d, c, CD_JOB_STATUS, path, NULL);
}

static void do_list(struct daemon *d, struct client *c)
{
	char flags[24], prio[24], budget[24], num[6][24];
	const char *kv[2 * PROTO_FIELDS];
	size_t i;

	if (queue_count(d, c, d->npins) < 0)
		return;
	for (i = 0; i < d->npins; i++) {
		struct dpin *p = d->pins[i];
		int n;

		n = status_kv(d, p, p->nfiles <= LIVE_FILES, num, kv + 8);
		put_u64(flags, sizeof(flags), p->flags);
		snprintf(prio, sizeof(prio), "%d", p->priority);
		put_u64(budget, sizeof(budget), p->budget);
		kv[0] = "path";
		kv[1] = p->path;
		kv[2] = "flags";
		kv[3] = flags;
		kv[4] = "priority";
		kv[5] = prio;
		kv[6] = "budget";
		kv[7] = budget;
		/* the status bits go as status=, flags= is the pin's */
		kv[8 + 2 * (n - 1)] = "status";
		if (queue_msg(d, c, "PIN", kv, 4 + n) < 0)
			return;
	}
}

static void do_subscribe(struct daemon *d, struct client *c)
{
	if (!c->user->priv && c->user->subs >= UID_SUBS) {
		queue_err(d, c, EBUSY, "busy: uid %u has %d subscriptions, the most one user may have",
			  (unsigned int)c->user->uid, c->user->subs);
		return;
	}
	if (queue_msg(d, c, "OK", NULL, 0) == 0) {
		c->subscribed = true;
		c->user->subs++;
	}
}

static void handle(struct daemon *d, struct client *c, struct cc_proto_msg *m)
{
	const char *v = m->verb;
	bool change = !strcmp(v, "PIN") || !strcmp(v, "UNPIN") ||
		      !strcmp(v, "RELOAD");

	if (c->subscribed)
		return;		/* an event stream carries no requests */
	if (!may_use(d, c)) {
		queue_err(d, c, EPERM, "this cachectld serves uid %u only",
			  (unsigned int)d->uid);
		return;
	}
	if (change && !may_change(d, c)) {
		queue_err(d, c, EPERM, "system pins need root");
		cd_log(d, LOG_NOTICE, "refused %s from uid %u: system pins need root",
		     v, (unsigned int)c->cred.uid);
		return;
	}
	if (!strcmp(v, "PING"))
		queue_msg(d, c, "OK", NULL, 0);
	else if (!strcmp(v, "PIN"))
		do_pin(d, c, m);
	else if (!strcmp(v, "UNPIN"))
		do_unpin(d, c, m);
	else if (!strcmp(v, "RELOAD"))
		do_reload(d, c);
	else if (!strcmp(v, "STATUS"))
		do_status(d, c, m);
	else if (!strcmp(v, "LIST"))
		do_list(d, c);
	else if (!strcmp(v, "RELEASE"))
		do_release(d, c, m);
	else if (!strcmp(v, "HOLDS"))
		do_holds(d, c);
	else if (!strcmp(v, "SUBSCRIBE"))
		do_subscribe(d, c);
	else
		queue_err(d, c, EINVAL, "unknown request %.32s", v);
}

static void client_read(struct daemon *d, struct client *c)
{
	int r = 0;

	/* answers go in order: the next request waits for a job's */
	while (!c->job) {
		struct cc_proto_msg m;

		r = cc_proto_fill(c->src.fd, &c->in);
		if (r <= 0)
			break;
		c->active = cc_now_ms();
		r = cc_proto_take(&c->in, &m);
		if (r < 0) {
			queue_err(d, c, EPROTO, "malformed message");
			continue;
		}
		handle(d, c, &m);
		cc_proto_msg_free(&m);
		/*
		 * No cap on messages per wake-up: what is buffered would get
		 * no new EPOLLIN. The input buffer (2 x PROTO_MAX) and the
		 * output cap (OUT_MAX) bound the work instead.
		 */
		if (c->dead)
			break;
	}
	if (r == -EMSGSIZE) {
		queue_err(d, c, EMSGSIZE, "message longer than %u bytes", PROTO_MAX);
		c->closing = true;
		cd_log(d, LOG_NOTICE, "dropped client pid %d: oversized message",
		     (int)c->cred.pid);
	} else if (r < 0) {
		c->closing = true;
		if (r != -EPIPE)
			c->dead = true;
	}
	/* half a message, or answers it does not collect: STALL_MS at most;
	 * waiting on a job, it waits on us */
	if (c->job)
		c->partial_since = 0;
	else if (c->in.len || c->closing)
		c->partial_since = c->partial_since ? c->partial_since : cc_now_ms();
	else
		c->partial_since = 0;
}

void cd_client_event(struct daemon *d, struct client *c, uint32_t events)
{
	if (c->src.fd < 0)
		return;		/* dropped earlier in this batch */
	if (!c->closing && !c->job &&
	    (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
		client_read(d, c);
	if ((events & (EPOLLHUP | EPOLLERR)) && !(events & EPOLLIN))
		c->dead = true;
	client_flush(d, c);
}

/* A job's answer is in: the client's next requests may go on. */
static void resume(struct daemon *d, struct client *c)
{
	c->job = NULL;
	c->active = cc_now_ms();
	if (!c->dead && !c->closing)
		client_read(d, c);
	client_flush(d, c);
}

void cd_server_resolved(struct daemon *d)
{
	struct cd_job *j;

	while ((j = cd_resolve_take(d))) {
		struct client *c = j->owner;
		bool waits = false;
		struct dpin *p;
		int r;

		if (j->kind == CD_JOB_WALK) {
			r = cd_walk_done(d, j);
			if (c && r < 0)
				queue_err(d, c, -r, "pinned %s, but cannot keep it: %s",
					  j->path, strerror(-r));
			else if (c)
				queue_msg(d, c, "OK", NULL, 0);
			if (c)
				resume(d, c);
			cd_job_free(j);
			continue;
		}
		/* still counted while its client goes on: that may free the
		 * client, and the uid with it, but for this job */
		if (c) {
			switch (j->kind) {
			case CD_JOB_PIN:
				waits = finish_pin(d, c, j);
				break;
			case CD_JOB_UNPIN:
				unpin(d, c, j->path, j->canon ? j->canon : j->path);
				break;
			case CD_JOB_STATUS:
				p = j->canon ? cd_pin_find(d, j->canon) : NULL;
				if (p)
					status(d, c, p);
				else
					queue_err(d, c, ENOENT, "%s is not pinned", j->path);
				break;
			}
			if (!waits)
				resume(d, c);
		}
		j->user->jobs--;
		user_put(d, j->user);
		cd_job_free(j);
	}
}

/*
 * A path whose filesystem does not answer: its client hears so, its
 * thread is left to return whenever; it counts against the uid till then.
 */
static void jobs_tick(struct daemon *d, uint64_t now)
{
	struct cd_job *j;

	for (j = d->jobs; j; j = j->next) {
		struct client *c = j->owner;

		if (!c || now - j->started <= RESOLVE_MS)
			continue;
		if (j->kind == CD_JOB_WALK) {
			/* pinned: the tree is kept once its walk is in */
			queue_msg(d, c, "OK", NULL, 0);
			cd_log(d, LOG_NOTICE, "pin %s: its tree is still being walked after %d s",
			       cd_pesc(d, j->path), RESOLVE_MS / 1000);
			j->owner = NULL;
			resume(d, c);
			continue;
		}
		queue_err(d, c, ETIMEDOUT, "%s: its filesystem did not answer within %d s",
			  j->path, RESOLVE_MS / 1000);
		cd_log(d, LOG_NOTICE, "request of pid %d uid %u timed out: %s does not answer",
		       (int)c->cred.pid, (unsigned int)c->cred.uid, cd_pesc(d, j->path));
		j->owner = NULL;
		resume(d, c);
	}
}

void cd_clients_tick(struct daemon *d)
{
	uint64_t now = cc_now_ms();
	struct client *c, *next;

	jobs_tick(d, now);
	for (c = d->clients; c; c = next) {
		next = c->next;
		if (c->partial_since && now - c->partial_since > STALL_MS) {
			cd_log(d, LOG_NOTICE,
			     "dropped client pid %d: stalled mid-message or not reading its answers",
			     (int)c->cred.pid);
			c->dead = true;
			client_flush(d, c);
		} else if (!c->subscribed && !c->job && !c->closing &&
			   !c->in.len && !c->queued && now - c->active > IDLE_MS &&
			   !cd_holds_owned(d, c)) {
			cd_log(d, LOG_DEBUG, "dropped client pid %d uid %u: idle for %d s",
			       (int)c->cred.pid, (unsigned int)c->cred.uid,
			       IDLE_MS / 1000);
			c->dead = true;
			client_flush(d, c);
		}
	}
}

/* The last event of a subscriber that fell behind: then it goes. */
static void overrun(struct daemon *d, struct client *c, const char *why)
{
	char t[16];
	const char *kv[] = { "type", t, "path", "", "bytes", "0" };
	size_t len;
	char *m;

	snprintf(t, sizeof(t), "%d", CACHECTL_EVENT_OVERRUN);
	/* past the caps by one small message: it says why the rest ends */
	if (cc_proto_frame("EVENT", kv, 3, &m, &len) == 0) {
		if (cd_outbuf_put(&c->out, m, len) < 0)
			c->dead = true;
		free(m);
		account(d, c);
	}
	c->closing = true;
	c->partial_since = cc_now_ms();	/* STALL_MS to take it */
	cd_log(d, LOG_NOTICE, "dropped subscriber pid %d uid %u: %s",
	       (int)c->cred.pid, (unsigned int)c->cred.uid, why);
}

/* An observer of events.c: subscribers get every event. */
static void broadcast(struct daemon *d, int type, const char *path,
		      uint64_t bytes, void *data)
{
	char t[16], b[24];
	const char *kv[] = { "type", t, "path", path ? path : "", "bytes", b };
	struct client *c, *next;
	size_t len;
	char *m;

	snprintf(t, sizeof(t), "%d", type);
	put_u64(b, sizeof(b), bytes);
	/* framed once for all: a burst of events meets many subscribers */
	if (cc_proto_frame("EVENT", kv, 3, &m, &len) < 0)
		return;
	for (c = d->clients; c; c = next) {
		next = c->next;
		if (!c->subscribed || c->dead || c->closing)
			continue;
		if (c->queued + len > SUB_OUT_MAX)
			overrun(d, c, "it does not read its events");
		else if (!c->user->priv && c->user->queued + len > UID_EVENTS_MAX)
			overrun(d, c, "its uid's subscribers do not read their events");
		else if (d->queued + len > ALL_EVENTS_MAX)
			overrun(d, c, "subscribers do not read their events");
		else
			queue_framed(d, c, m, len);
		client_flush(d, c);
	}
	free(m);
}

void cd_clients_free(struct daemon *d)
{
	while (d->clients)
		client_free(d, d->clients);
	cd_clients_reap(d);
}
