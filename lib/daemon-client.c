// SPDX-License-Identifier: LGPL-2.1-or-later
/* Talking to cachectld over its Unix socket (protocol: common/proto.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cachectl-private.h"
#include "extensible.h"
#include "pin-private.h"
#include "pin-private.h"
#include "proto.h"

#define REPLY_TIMEOUT_MS 30000

struct cachectl_daemon {
	int refcount;
	struct cachectl_ctx *ctx;
	int fd;
	struct cc_proto_buf in;
	char *error;
};

struct cachectl_event {
	int type;
	char *path;
	uint64_t bytes;
};

CACHECTL_EXPORT int cachectl_scope_get_socket_path(int scope, char **ret)
{
	const char *env = secure_getenv("CACHECTL_RUNTIME_DIR");
	const char *xdg = secure_getenv("XDG_RUNTIME_DIR");
	int n;

	if ((scope != CACHECTL_SCOPE_USER && scope != CACHECTL_SCOPE_SYSTEM) ||
	    !ret)
		return -EINVAL;
	if (env && *env)
		n = asprintf(ret, "%s/cachectld.sock", env);
	else if (scope == CACHECTL_SCOPE_SYSTEM)
		n = asprintf(ret, "/run/cachectl/cachectld.sock");
	else if (xdg && *xdg == '/')
		n = asprintf(ret, "%s/cachectl/cachectld.sock", xdg);
	else
		n = asprintf(ret, "/tmp/cachectl-%u/cachectld.sock",
			     (unsigned int)getuid());
	return n < 0 ? -ENOMEM : 0;
}

static void set_error(struct cachectl_daemon *d, const char *msg)
{
	free(d->error);
	d->error = msg ? strdup(msg) : NULL;
}

/* Wait for the answer to a request; ERR turns into its errno. */
static int reply(struct cachectl_daemon *d, struct cc_proto_msg *m)
{
	int r, e;

	r = cc_proto_recv(d->fd, &d->in, m, REPLY_TIMEOUT_MS);
	if (r < 0) {
		set_error(d, r == -EPIPE ? "cachectld closed the connection"
					 : "no valid answer from cachectld");
		return r;
	}
	if (!strcmp(m->verb, "OK")) {
		set_error(d, NULL);
		return 0;
	}
	if (!strcmp(m->verb, "ERR") && cc_proto_get_int(m, "errno", &e) == 0 &&
	    e > 0 && e < 4096) {
		set_error(d, cc_proto_get(m, "message"));
		cc_proto_msg_free(m);
		return -e;
	}
	cc_proto_msg_free(m);
	set_error(d, "unexpected answer from cachectld");
	return -EPROTO;
}

CACHECTL_EXPORT int cachectl_daemon_connect(struct cachectl_ctx *ctx, int scope,
					    struct cachectl_daemon **ret)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct cachectl_daemon *d;
	struct cc_proto_msg m;
	uint64_t version;
	char *path;
	int r, e;

	if (!ctx || !ret)
		return -EINVAL;
	r = cachectl_scope_get_socket_path(scope, &path);
	if (r < 0)
		return r;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		free(path);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	free(path);

	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->refcount = 1;
	d->ctx = cachectl_ref(ctx);
	d->in.fd = -1;
	d->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (d->fd < 0) {
		r = -errno;
		goto fail;
	}
	if (connect(d->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		goto fail;
	}
	r = cc_proto_recv(d->fd, &d->in, &m, REPLY_TIMEOUT_MS);
	if (r < 0) {
		r = r == -ETIMEDOUT || r == -EPIPE ? r : -EPROTO;
		goto fail;
	}
	/* a daemon at its client limits says why instead of HELLO */
	if (!strcmp(m.verb, "ERR") && cc_proto_get_int(&m, "errno", &e) == 0 &&
	    (e == EBUSY || e == EAGAIN)) {
		cc_proto_msg_free(&m);
		r = -EBUSY;
		goto fail;
	}
	if (strcmp(m.verb, "HELLO") || proto_get_u64(&m, "version", &version) < 0 ||
	    version != PROTO_VERSION) {
		cc_proto_msg_free(&m);
		r = -EPROTO;
		goto fail;
	}
	cc_proto_msg_free(&m);
	*ret = d;
	return 0;
fail:
	cachectl_daemon_unref(d);
	return r;
}

CACHECTL_EXPORT struct cachectl_daemon *cachectl_daemon_ref(struct cachectl_daemon *d)
{
	if (d)
		d->refcount++;
	return d;
}

CACHECTL_EXPORT struct cachectl_daemon *cachectl_daemon_unref(struct cachectl_daemon *d)
{
	if (!d)
		return NULL;
	if (--d->refcount > 0)
		return d;
	if (d->fd >= 0)
		close(d->fd);
	cc_proto_buf_free(&d->in);
	cachectl_unref(d->ctx);
	free(d->error);
	free(d);
	return NULL;
}

/* Send a request and wait for its answer, kept in @m when it is OK. */
static int ask(struct cachectl_daemon *d, const char *verb, int fd,
	       const char *const *kv, size_t n, struct cc_proto_msg *m)
{
	int r;

	r = cc_proto_send(d->fd, verb, fd, kv, n);
	if (r < 0) {
		set_error(d, "cannot reach cachectld");
		return r;
	}
	return reply(d, m);
}

static int simple(struct cachectl_daemon *d, const char *verb, int fd,
		  const char *const *kv, size_t n)
{
	struct cc_proto_msg m;
	int r;

	r = ask(d, verb, fd, kv, n, &m);
	if (r == 0)
		cc_proto_msg_free(&m);
	return r;
}

/* PIN, or with @holder a pin held while the connection lasts */
static int send_pin(struct cachectl_daemon *d, const struct cachectl_pin *pin,
		    const char *holder)
{
	char flags[16], prio[16], budget[24];
	const char *kv[] = { "path", NULL, "flags", flags, "priority", prio,
			     "budget", budget, "holder", holder };
	int fd, r;

	kv[1] = pin->path;
	snprintf(flags, sizeof(flags), "%u", pin->flags);
	snprintf(prio, sizeof(prio), "%d", pin->priority);
	snprintf(budget, sizeof(budget), "%llu",
		 (unsigned long long)pin->budget);
	/* the descriptor proves to the daemon that we can read the path */
	fd = open(pin->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		set_error(d, NULL);
		return r;
	}
	r = simple(d, "PIN", fd, kv, holder ? 5 : 4);
	close(fd);
	return r;
}

CACHECTL_EXPORT int cachectl_daemon_pin(struct cachectl_daemon *d,
					const struct cachectl_pin *pin)
{
	if (!d || !pin)
		return -EINVAL;
	return send_pin(d, pin, NULL);
}

CACHECTL_EXPORT int cachectl_daemon_hold(struct cachectl_daemon *d,
					 const struct cachectl_pin *pin,
					 const char *holder)
{
	if (!d || !pin || !holder || !*holder || strlen(holder) > 255)
		return -EINVAL;
	return send_pin(d, pin, holder);
}

CACHECTL_EXPORT int cachectl_daemon_release(struct cachectl_daemon *d,
					    const char *path)
{
	const char *kv[] = { "path", path };

	if (!d || !path || path[0] != '/')
		return -EINVAL;
	return simple(d, "RELEASE", -1, kv, 1);
}

CACHECTL_EXPORT int cachectl_daemon_list_holds(struct cachectl_daemon *d,
					       cachectl_hold_fn fn, void *data)
{
	struct cc_proto_msg m;
	uint64_t count, i, flags, uid;
	int r, stop = 0;

	if (!d || !fn)
		return -EINVAL;
	r = ask(d, "HOLDS", -1, NULL, 0, &m);
	if (r < 0)
		return r;
	r = proto_get_u64(&m, "count", &count) < 0 ? -EPROTO : 0;
	cc_proto_msg_free(&m);
	/* every answer is read, even after @fn stopped, to keep in step */
	for (i = 0; !r && i < count; i++) {
		const char *path, *holder;

		r = cc_proto_recv(d->fd, &d->in, &m, REPLY_TIMEOUT_MS);
		if (r < 0)
			break;
		path = cc_proto_get(&m, "path");
		holder = cc_proto_get(&m, "holder");
		if (strcmp(m.verb, "HOLD") || !path || !holder ||
		    proto_get_u64(&m, "flags", &flags) < 0 ||
		    proto_get_u64(&m, "uid", &uid) < 0)
			r = -EPROTO;
		else if (!stop)
			stop = fn(path, (unsigned int)flags, holder,
				  (unsigned int)uid, data);
		cc_proto_msg_free(&m);
	}
	return r < 0 ? r : stop;
}

CACHECTL_EXPORT int cachectl_daemon_unpin(struct cachectl_daemon *d,
					  const char *path)
{
	char *canonical;
	const char *kv[] = { "path", NULL };
	int r;

	if (!d || !path || !*path)
		return -EINVAL;
	canonical = cachectl__pin_path(path);
	kv[1] = canonical ? canonical : path;
	r = simple(d, "UNPIN", -1, kv, 1);
	free(canonical);
	return r;
}

CACHECTL_EXPORT int cachectl_daemon_reload(struct cachectl_daemon *d)
{
	return d ? simple(d, "RELOAD", -1, NULL, 0) : -EINVAL;
}

CACHECTL_EXPORT int cachectl_daemon_get_status(struct cachectl_daemon *d,
					       const char *path,
					       struct cachectl_pin_status *ret,
					       size_t size)
{
	struct cachectl_pin_status st = { 0 };
	const char *kv[] = { "path", path };
	struct cc_proto_msg m;
	int r;

	if (!d || !path || !ret || size < CACHECTL_PIN_STATUS_SIZE_VER0)
		return -EINVAL;
	r = ask(d, "STATUS", -1, kv, 1, &m);
	if (r < 0)
		return r;
	if (proto_get_u64(&m, "files", &st.files) < 0 ||
	    proto_get_u64(&m, "size", &st.size) < 0 ||
	    proto_get_u64(&m, "cached", &st.cached) < 0 ||
	    proto_get_u64(&m, "locked", &st.locked) < 0 ||
	    proto_get_u64(&m, "shortfall", &st.shortfall) < 0 ||
	    proto_get_u64(&m, "flags", &st.flags) < 0)
		r = -EPROTO;
	cc_proto_msg_free(&m);
	if (r < 0)
		return r;
	return cachectl_copy_out(ret, size, &st, sizeof(st),
				 CACHECTL_PIN_STATUS_SIZE_VER0);
}

CACHECTL_EXPORT const char *cachectl_daemon_get_error(const struct cachectl_daemon *d)
{
	return d ? d->error : NULL;
}

CACHECTL_EXPORT int cachectl_daemon_subscribe(struct cachectl_daemon *d)
{
	return d ? simple(d, "SUBSCRIBE", -1, NULL, 0) : -EINVAL;
}

CACHECTL_EXPORT int cachectl_daemon_get_fd(const struct cachectl_daemon *d)
{
	return d ? d->fd : -EINVAL;
}

CACHECTL_EXPORT int cachectl_daemon_next_event(struct cachectl_daemon *d,
					       int timeout_ms,
					       struct cachectl_event **ret)
{
	struct cachectl_event *e;
	struct cc_proto_msg m;
	const char *path;
	int r;

	if (!d || !ret)
		return -EINVAL;
	r = cc_proto_recv(d->fd, &d->in, &m, timeout_ms);
	if (r < 0)
		return r;
	e = calloc(1, sizeof(*e));
	if (!e) {
		cc_proto_msg_free(&m);
		return -ENOMEM;
	}
	path = cc_proto_get(&m, "path");
	if (strcmp(m.verb, "EVENT") || cc_proto_get_int(&m, "type", &e->type) < 0 ||
	    (path && !(e->path = strdup(path)))) {
		cc_proto_msg_free(&m);
		cachectl_event_unref(e);
		return -EPROTO;
	}
	if (proto_get_u64(&m, "bytes", &e->bytes) == -EINVAL) {
		cc_proto_msg_free(&m);
		cachectl_event_unref(e);
		return -EPROTO;
	}
	cc_proto_msg_free(&m);
	*ret = e;
	return 0;
}

CACHECTL_EXPORT struct cachectl_event *cachectl_event_unref(struct cachectl_event *e)
{
	if (e) {
		free(e->path);
		free(e);
	}
	return NULL;
}

CACHECTL_EXPORT const char *cachectl_event_name(int type)
{
	static const char *const names[] = {
		[CACHECTL_EVENT_SATISFIED] = "satisfied",
		[CACHECTL_EVENT_EVICTED] = "evicted",
		[CACHECTL_EVENT_REFILLED] = "refilled",
		[CACHECTL_EVENT_OVER_BUDGET] = "over-budget",
		[CACHECTL_EVENT_SHORTFALL] = "shortfall",
		[CACHECTL_EVENT_ADDED] = "added",
		[CACHECTL_EVENT_ERROR] = "error",
		[CACHECTL_EVENT_OVERRUN] = "overrun",
		[CACHECTL_EVENT_DISCONNECTED] = "disconnected",
		[CACHECTL_EVENT_CONNECTED] = "connected",
		[CACHECTL_EVENT_CACHE_FULL] = "cache-full",
	};

	if (type <= 0 || type >= (int)(sizeof(names) / sizeof(names[0])))
		return "unknown";
	return names[type];
}

CACHECTL_EXPORT int cachectl_event_get_type(const struct cachectl_event *e)
{
	return e ? e->type : -EINVAL;
}

CACHECTL_EXPORT const char *cachectl_event_get_path(const struct cachectl_event *e)
{
	return e ? e->path : NULL;
}

CACHECTL_EXPORT uint64_t cachectl_event_get_bytes(const struct cachectl_event *e)
{
	return e ? e->bytes : 0;
}
