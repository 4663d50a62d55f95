// SPDX-License-Identifier: LGPL-2.1-or-later
/* The cachectld wire protocol: framing, escaping, descriptor passing. */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/escape.h"
#include "clock.h"
#include "proto.h"

static int send_all(int sock, const char *buf, size_t len, int fd)
{
	bool first = true;

	while (len) {
		struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
		union {
			struct cmsghdr h;
			char b[CMSG_SPACE(sizeof(int))];
		} u;
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n;

		if (first && fd >= 0) {
			memset(&u, 0, sizeof(u));
			mh.msg_control = u.b;
			mh.msg_controllen = sizeof(u.b);
			u.h.cmsg_level = SOL_SOCKET;
			u.h.cmsg_type = SCM_RIGHTS;
			u.h.cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(&u.h), &fd, sizeof(int));
		}
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				struct pollfd p = { .fd = sock, .events = POLLOUT };

				/* a reader that never drains us is gone to us */
				if (poll(&p, 1, 5000) <= 0)
					return -EPIPE;
				continue;
			}
			return errno == ECONNRESET ? -EPIPE : -errno;
		}
		first = false;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int cc_proto_frame(const char *verb, const char *const *kv, size_t n,
		char **ret, size_t *ret_len)
{
	size_t len = strlen(verb), i;
	char *buf, *p;

	for (i = 0; i < n; i++)
		len += 1 + strlen(kv[2 * i]) + 1 +
		       cc_hex_escaped_len(kv[2 * i + 1], 0);
	if (len > PROTO_MAX)
		return -EMSGSIZE;
	buf = malloc(4 + len + 1);	/* the escaper ends with a NUL */
	if (!buf)
		return -ENOMEM;
	buf[0] = (char)(len & 0xff);
	buf[1] = (char)((len >> 8) & 0xff);
	buf[2] = (char)((len >> 16) & 0xff);
	buf[3] = (char)((len >> 24) & 0xff);
	p = buf + 4;
	memcpy(p, verb, strlen(verb));
	p += strlen(verb);
	for (i = 0; i < n; i++) {
		*p++ = '\n';
		memcpy(p, kv[2 * i], strlen(kv[2 * i]));
		p += strlen(kv[2 * i]);
		*p++ = '=';
		p = cc_hex_escape(p, kv[2 * i + 1], 0);
	}
	*ret = buf;
	*ret_len = 4 + len;
	return 0;
}

int cc_proto_send(int sock, const char *verb, int fd, const char *const *kv,
	       size_t n)
{
	size_t len;
	char *buf;
	int r;

	r = cc_proto_frame(verb, kv, n, &buf, &len);
	if (r < 0)
		return r;
	r = send_all(sock, buf, len, fd);
	free(buf);
	return r;
}

int cc_proto_send_err(int sock, int error, const char *message)
{
	char num[16];
	const char *kv[] = { "errno", num, "message", message };

	snprintf(num, sizeof(num), "%d", error < 0 ? -error : error);
	return cc_proto_send(sock, "ERR", -1, kv, 2);
}

static uint32_t frame_len(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;

	return (uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 |
	       (uint32_t)u[3] << 24;
}

static bool whole(const struct cc_proto_buf *b)
{
	return b->len >= 4 && b->len - 4 >= frame_len(b->data);
}

int cc_proto_fill(int sock, struct cc_proto_buf *b)
{
	for (;;) {
		union {
			struct cmsghdr h;
			char b[CMSG_SPACE(sizeof(int) * 4)];
		} u;
		struct iovec iov;
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = u.b,
				     .msg_controllen = sizeof(u.b) };
		struct cmsghdr *c;
		ssize_t n;

		if (b->len >= 4 && frame_len(b->data) > PROTO_MAX)
			return -EMSGSIZE;
		if (whole(b))
			return 1;
		if (b->cap - b->len < 4096) {
			size_t cap = b->cap ? b->cap * 2 : 8192;
			char *d;

			if (cap > PROTO_MAX * 2 + 8)
				return -EMSGSIZE;
			d = realloc(b->data, cap);
			if (!d)
				return -ENOMEM;
			b->data = d;
			b->cap = cap;
		}
		iov.iov_base = b->data + b->len;
		iov.iov_len = b->cap - b->len;
		n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			return errno == ECONNRESET ? -EPIPE : -errno;
		}
		for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			int fds[4], k, nfd;

			if (c->cmsg_level != SOL_SOCKET ||
			    c->cmsg_type != SCM_RIGHTS)
				continue;
			nfd = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			memcpy(fds, CMSG_DATA(c), nfd * sizeof(int));
			/* one descriptor per message: keep the first */
			for (k = 0; k < nfd; k++) {
				if (b->fd < 0)
					b->fd = fds[k];
				else
					close(fds[k]);
			}
		}
		if (n == 0)
			return -EPIPE;
		b->len += (size_t)n;
	}
}

int cc_proto_take(struct cc_proto_buf *b, struct cc_proto_msg *m)
{
	uint32_t len;
	char *line, *next;
	int r = 0;

	memset(m, 0, sizeof(*m));
	m->fd = -1;
	if (!whole(b))
		return -EAGAIN;
	len = frame_len(b->data);
	m->text = malloc(len + 1);
	if (!m->text)
		return -ENOMEM;
	memcpy(m->text, b->data + 4, len);
	m->text[len] = '\0';
	memmove(b->data, b->data + 4 + len, b->len - 4 - len);
	b->len -= 4 + len;
	m->fd = b->fd;
	b->fd = -1;

	if (memchr(m->text, '\0', len)) {
		r = -EPROTO;
		goto out;
	}
	m->verb = m->text;
	next = strchr(m->text, '\n');
	if (next)
		*next++ = '\0';
	if (!*m->verb) {
		r = -EPROTO;
		goto out;
	}
	for (line = next; line && *line; line = next) {
		char *eq;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		eq = strchr(line, '=');
		if (!eq || eq == line || m->nf == PROTO_FIELDS) {
			r = -EPROTO;
			goto out;
		}
		*eq = '\0';
		if (cc_hex_unescape(eq + 1) < 0) {
			r = -EPROTO;
			goto out;
		}
		m->f[m->nf].key = line;
		m->f[m->nf].val = eq + 1;
		m->nf++;
	}
out:
	if (r < 0)
		cc_proto_msg_free(m);
	return r;
}

void cc_proto_buf_free(struct cc_proto_buf *b)
{
	free(b->data);
	if (b->fd >= 0)
		close(b->fd);
	b->data = NULL;
	b->len = b->cap = 0;
	b->fd = -1;
}

int cc_proto_recv(int sock, struct cc_proto_buf *b, struct cc_proto_msg *m,
	       int timeout_ms)
{
	uint64_t start = cc_now_ms();
	int r;

	for (;;) {
		struct pollfd p = { .fd = sock, .events = POLLIN };
		int left = -1;

		r = cc_proto_fill(sock, b);
		if (r != 0)
			break;
		if (timeout_ms >= 0) {
			uint64_t spent = cc_now_ms() - start;

			if (spent >= (uint64_t)timeout_ms) {
				r = -ETIMEDOUT;
				break;
			}
			left = timeout_ms - (int)spent;
		}
		if (poll(&p, 1, left) < 0 && errno != EINTR) {
			r = -errno;
			break;
		}
	}
	if (r == 1)
		r = cc_proto_take(b, m);
	return r;
}

const char *cc_proto_get(const struct cc_proto_msg *m, const char *key)
{
	int i;

	for (i = 0; i < m->nf; i++)
		if (!strcmp(m->f[i].key, key))
			return m->f[i].val;
	return NULL;
}

int proto_get_u64(const struct cc_proto_msg *m, const char *key, uint64_t *ret)
{
	const char *v = cc_proto_get(m, key);
	unsigned long long x;
	char *end;

	if (!v)
		return -ENOENT;
	if (!*v || *v == '-')
		return -EINVAL;
	errno = 0;
	x = strtoull(v, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*ret = x;
	return 0;
}

int cc_proto_get_int(const struct cc_proto_msg *m, const char *key, int *ret)
{
	const char *v = cc_proto_get(m, key);
	long x;
	char *end;

	if (!v)
		return -ENOENT;
	errno = 0;
	x = strtol(v, &end, 10);
	if (errno || !*v || *end || x < -2147483647L || x > 2147483647L)
		return -EINVAL;
	*ret = (int)x;
	return 0;
}

void cc_proto_msg_free(struct cc_proto_msg *m)
{
	if (m->fd >= 0)
		close(m->fd);
	free(m->text);
	memset(m, 0, sizeof(*m));
	m->fd = -1;
}
