// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Attachments: a cache manager (cachectl-offline) mounted over a
 * directory of a network filesystem, serving it from a local cache while
 * the server is there and while it is not. The library starts and stops
 * managers and asks them questions through extended attributes of the
 * attached tree (user.cachectl.*), which a manager answers from memory
 * without asking the server, so no call here waits on a dead server.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cachectl-private.h"
#include "common/clock.h"
#include "config.h"
#include "extensible.h"

#define XATTR_MODE	"user.cachectl.mode"
#define XATTR_STATE	"user.cachectl.state"
#define READY_TIMEOUT_MS 30000

static const char *manager_path(void)
{
	const char *env = secure_getenv("CACHECTL_OFFLINE");

	return env && *env ? env : LIBEXECDIR "/cachectl-offline";
}

CACHECTL_EXPORT int cachectl_attach_get_events_path(char **ret_path)
{
	char *sock, *slash;
	int r;

	if (!ret_path)
		return -EINVAL;
	/* beside the user's cachectld socket: the same runtime directory */
	r = cachectl_scope_get_socket_path(CACHECTL_SCOPE_USER, &sock);
	if (r < 0)
		return r;
	slash = strrchr(sock, '/');
	*slash = '\0';
	r = asprintf(ret_path, "%s/offline-events", sock);
	free(sock);
	return r < 0 ? -ENOMEM : 0;
}

static int argv_add(char ***v, size_t *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int argv_add(char ***v, size_t *n, const char *fmt, ...)
{
	char **nv = realloc(*v, (*n + 2) * sizeof(**v));
	va_list ap;
	int r;

	if (!nv)
		return -ENOMEM;
	*v = nv;
	va_start(ap, fmt);
	r = vasprintf(&nv[*n], fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	nv[++*n] = NULL;
	return 0;
}

static void argv_free(char **v)
{
	size_t i;

	for (i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* wait for "ready" on @fd while gathering the manager's messages */
static int wait_ready(struct cachectl_ctx *ctx, const char *path, int rfd,
		      int efd)
{
	char ready[16] = "", msg[2048] = "";
	size_t nready = 0, nmsg = 0;
	uint64_t end = cc_now_ms() + READY_TIMEOUT_MS;
	bool rdone = false, edone = false;

	while (!rdone || !edone) {
		struct pollfd p[2] = { { .fd = rdone ? -1 : rfd, .events = POLLIN },
				       { .fd = edone ? -1 : efd, .events = POLLIN } };
		uint64_t now = cc_now_ms();
		ssize_t n;

		if (now >= end)
			break;
		if (poll(p, 2, (int)(end - now)) <= 0)
			continue;
		if (p[0].revents) {
			n = read(rfd, ready + nready, sizeof(ready) - 1 - nready);
			if (n <= 0)
				rdone = true;
			else
				nready += (size_t)n;
			if (strchr(ready, '\n'))
				break;
		}
		if (p[1].revents) {
			n = read(efd, msg + nmsg, sizeof(msg) - 1 - nmsg);
			if (n <= 0)
				edone = true;
			else
				nmsg += (size_t)n;
			msg[nmsg] = '\0';
		}
	}
	if (!strncmp(ready, "ready\n", 6))
		return 0;
	while (nmsg && msg[nmsg - 1] == '\n')
		msg[--nmsg] = '\0';
	err(ctx, "%s: %s", path, nmsg ? msg : "the cache manager did not start");
	if (strstr(msg, "already attached"))
		return -EBUSY;
	if (strstr(msg, "does not answer"))
		return -EHOSTDOWN;
	if (strstr(msg, "Permission denied") || strstr(msg, "not permitted"))
		return -EPERM;
	return nmsg ? -EIO : -ETIMEDOUT;
}

CACHECTL_EXPORT int cachectl_attach(struct cachectl_ctx *ctx, const char *path,
				    const struct cachectl_attach_opts *opts,
				    size_t opts_size, unsigned int flags)
{
	struct cachectl_attach_opts o;
	char **av = NULL, *server = NULL, abs[PATH_MAX];
	size_t n = 0;
	int rp[2], ep[2], r, st;
	pid_t pid;

	if (!ctx || !path || (flags & ~CACHECTL_ATTACH_FOREGROUND))
		return -EINVAL;
	memset(&o, 0, sizeof(o));
	if (opts) {
		if (opts_size < CACHECTL_ATTACH_OPTS_SIZE_VER0)
			return -EINVAL;
		if (opts_size > sizeof(o)) {
			size_t i;

			for (i = sizeof(o); i < opts_size; i++)
				if (((const char *)opts)[i])
					return -E2BIG;
			opts_size = sizeof(o);
		}
		memcpy(&o, opts, opts_size);
	}
	if (!realpath(path, abs)) {
		/* a dead manager's mount: the new one clears it */
		if (errno != ENOTCONN)
			return -errno;
		snprintf(abs, sizeof(abs), "%s", path);
	}
	r = cachectl__mount_source(abs, &server);
	if (r < 0 && r != -ENOENT)
		return r;
	r = argv_add(&av, &n, "%s", manager_path());
	if (!r && server)
		r = argv_add(&av, &n, "--server=%s", server);
	if (!r && o.cache_dir)
		r = argv_add(&av, &n, "--cache-dir=%s", o.cache_dir);
	if (!r && o.size)
		r = argv_add(&av, &n, "--size=%llu", (unsigned long long)o.size);
	if (!r && o.timeout_ms)
		r = argv_add(&av, &n, "--timeout=%u", o.timeout_ms);
	if (!r && o.probe_ms)
		r = argv_add(&av, &n, "--probe=%u", o.probe_ms);
	if (!r && o.actimeo_ms)
		r = argv_add(&av, &n, "--actimeo=%u", o.actimeo_ms);
	free(server);
	if (r)
		goto out;
	if (flags & CACHECTL_ATTACH_FOREGROUND) {
		r = argv_add(&av, &n, "%s", abs);
		if (!r) {
			execv(av[0], av);
			r = -errno;
			err(ctx, "%s: %m", av[0]);
		}
		goto out;
	}
	if (pipe2(rp, O_CLOEXEC) < 0) {
		r = -errno;
		goto out;
	}
	if (pipe2(ep, O_CLOEXEC) < 0) {
		r = -errno;
		close(rp[0]);
		close(rp[1]);
		goto out;
	}
	r = argv_add(&av, &n, "--ready-fd=%d", rp[1]) ?:
	    argv_add(&av, &n, "--daemon") ?: argv_add(&av, &n, "%s", abs);
	if (r)
		goto out_pipes;
	pid = fork();
	if (pid < 0) {
		r = -errno;
		goto out_pipes;
	}
	if (pid == 0) {
		/* twice, so the manager is nobody's child but init's */
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		setsid();
		if (fork() != 0)
			_exit(0);
		fcntl(rp[1], F_SETFD, 0);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
		}
		dup2(ep[1], 2);
		signal(SIGPIPE, SIG_DFL);
		execv(av[0], av);
		dprintf(2, "%s: %m\n", av[0]);
		_exit(127);
	}
	close(rp[1]);
	close(ep[1]);
	rp[1] = ep[1] = -1;
	waitpid(pid, &st, 0);
	r = wait_ready(ctx, abs, rp[0], ep[0]);
out_pipes:
	close(rp[0]);
	close(ep[0]);
	if (rp[1] >= 0)
		close(rp[1]);
	if (ep[1] >= 0)
		close(ep[1]);
out:
	argv_free(av);
	return r;
}

static int run_fusermount(struct cachectl_ctx *ctx, const char *path,
			  bool lazy, char *msg, size_t cap)
{
	int p[2], st, r = 0;
	size_t got = 0;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -errno;
	}
	if (pid == 0) {
		dup2(p[1], 2);
		dup2(p[1], 1);
		execlp("fusermount3", "fusermount3", lazy ? "-uz" : "-u", "--",
		       path, (char *)NULL);
		dprintf(2, "fusermount3: %m\n");
		_exit(127);
	}
	close(p[1]);
	for (;;) {
		ssize_t n = read(p[0], msg + got, cap - 1 - got);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	msg[got] = '\0';
	close(p[0]);
	if (waitpid(pid, &st, 0) < 0)
		return -errno;
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		r = strstr(msg, "busy") ? -EBUSY :
		    strstr(msg, "not found") || strstr(msg, "not mounted") ? -EINVAL :
		    strstr(msg, "ermission") ? -EPERM : -EIO;
	if (r)
		err(ctx, "%s: %s", path, msg);
	return r;
}

CACHECTL_EXPORT int cachectl_detach(struct cachectl_ctx *ctx, const char *path,
				    unsigned int flags)
{
	char msg[1024];
	int mode, r;

	if (!ctx || !path || (flags & ~CACHECTL_DETACH_FORCE))
		return -EINVAL;
	r = cachectl_attach_get_mode(ctx, path, &mode);
	/* a crashed manager's mount (ENOTCONN) is detached all the same */
	if (r < 0 && r != -ENOTCONN)
		return r;
	return run_fusermount(ctx, path, flags & CACHECTL_DETACH_FORCE, msg,
			      sizeof(msg));
}

static int xattr_get(const char *path, const char *name, char *buf, size_t cap)
{
	ssize_t n = lgetxattr(path, name, buf, cap - 1);

	if (n < 0 && errno == ECONNABORTED)
		return -ENOTCONN;	/* a request the crash caught: the same */
	if (n < 0)
		return errno == ENODATA || errno == ENOTSUP ? -EMEDIUMTYPE : -errno;
	buf[n] = '\0';
	return 0;
}

CACHECTL_EXPORT int cachectl_attach_get_mode(struct cachectl_ctx *ctx,
					     const char *path, int *ret_mode)
{
	char v[64];
	int r;

	if (!ctx || !path || !ret_mode)
		return -EINVAL;
	r = xattr_get(path, XATTR_MODE, v, sizeof(v));
	if (r < 0)
		return r;
	if (!strcmp(v, "connected"))
		*ret_mode = CACHECTL_MODE_CONNECTED;
	else if (!strcmp(v, "disconnected"))
		*ret_mode = CACHECTL_MODE_DISCONNECTED;
	else
		return -EPROTO;
	return 0;
}

CACHECTL_EXPORT int cachectl_attach_set_mode(struct cachectl_ctx *ctx,
					     const char *path, int mode)
{
	const char *v;
	int cur, r;

	if (!ctx || !path)
		return -EINVAL;
	if (mode == CACHECTL_MODE_CONNECTED)
		v = "connected";
	else if (mode == CACHECTL_MODE_DISCONNECTED)
		v = "disconnected";
	else
		return -EINVAL;
	r = cachectl_attach_get_mode(ctx, path, &cur);
	if (r < 0)
		return r;
	if (lsetxattr(path, XATTR_MODE, v, strlen(v), 0) < 0)
		return -errno;
	return 0;
}

static int errno_of(const char *name)
{
	if (!strcmp(name, "0"))
		return 0;
	if (!strcmp(name, "ENODATA"))
		return -ENODATA;
	if (!strcmp(name, "EACCES"))
		return -EACCES;
	if (!strcmp(name, "EHOSTDOWN"))
		return -EHOSTDOWN;
	return -EIO;
}

CACHECTL_EXPORT int cachectl_attach_query(struct cachectl_ctx *ctx,
					  const char *path,
					  unsigned int *ret_flags, int *ret_why)
{
	char v[512], *tok, *save = NULL;
	unsigned int f = 0;
	int why = 0, r;

	if (!ctx || !path || !ret_flags)
		return -EINVAL;
	r = xattr_get(path, XATTR_STATE, v, sizeof(v));
	if (r < 0)
		return r;
	for (tok = strtok_r(v, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(tok, '=');

		if (!eq)
			continue;
		*eq++ = '\0';
		if (!strcmp(tok, "mode") && !strcmp(eq, "disconnected"))
			f |= CACHECTL_ATTACH_DISCONNECTED;
		else if (!strcmp(tok, "data") && !strcmp(eq, "complete"))
			f |= CACHECTL_ATTACH_DATA;
		else if (!strcmp(tok, "data") && !strcmp(eq, "partial"))
			f |= CACHECTL_ATTACH_PARTIAL;
		else if (!strcmp(tok, "pinned") && !strcmp(eq, "1"))
			f |= CACHECTL_ATTACH_PINNED;
		else if (!strcmp(tok, "provisional") && !strcmp(eq, "1"))
			f |= CACHECTL_ATTACH_PROVISIONAL;
		else if (!strcmp(tok, "listed") && !strcmp(eq, "1"))
			f |= CACHECTL_ATTACH_LISTED;
		else if (!strcmp(tok, "hoarding") && !strcmp(eq, "1"))
			f |= CACHECTL_ATTACH_HOARDING;
		else if (!strcmp(tok, "why"))
			why = errno_of(eq);
	}
	*ret_flags = f;
	if (ret_why)
		*ret_why = why;
	return 0;
}
