// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The bottom layer: one epoll set, the sources in it, and the output
 * buffers of non-blocking descriptors. It knows nothing of pins.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cachectld.h"

int cd_loop_init(struct cd_loop *l)
{
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	return l->epfd < 0 ? -errno : 0;
}

void cd_loop_close(struct cd_loop *l)
{
	if (l->epfd >= 0)
		close(l->epfd);
	l->epfd = -1;
}

int cd_loop_add(struct cd_loop *l, struct cd_source *s, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = s };

	return epoll_ctl(l->epfd, EPOLL_CTL_ADD, s->fd, &ev) < 0 ? -errno : 0;
}

/*
 * A pipe whose read end @s the loop watches, as threads' way back to it:
 * *@wfd is theirs to write, a pointer at a time (below PIPE_BUF, so
 * whole or not at all).
 */
int cd_loop_add_pipe(struct cd_loop *l, struct cd_source *s,
		     enum src_type type, int *wfd)
{
	int p[2];

	s->type = type;
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	s->fd = p[0];
	*wfd = p[1];
	return cd_loop_add(l, s, EPOLLIN);
}

int cd_loop_mod(struct cd_loop *l, struct cd_source *s, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = s };

	return epoll_ctl(l->epfd, EPOLL_CTL_MOD, s->fd, &ev) < 0 ? -errno : 0;
}

void cd_loop_del(struct cd_loop *l, struct cd_source *s)
{
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, s->fd, NULL);
}

int cd_loop_wait(struct cd_loop *l, struct epoll_event *ev, int n)
{
	int r = epoll_wait(l->epfd, ev, n, -1);

	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	return r;
}

void cd_outbuf_free(struct cd_outbuf *o)
{
	free(o->data);
	memset(o, 0, sizeof(*o));
}

int cd_outbuf_put(struct cd_outbuf *o, const void *p, size_t n)
{
	if (o->off && o->off == o->len)
		o->off = o->len = 0;
	if (o->len + n > o->cap) {
		size_t cap = o->cap ? o->cap : 4096;
		char *b;

		if (o->off) {
			memmove(o->data, o->data + o->off, o->len - o->off);
			o->len -= o->off;
			o->off = 0;
		}
		while (cap < o->len + n)
			cap *= 2;
		if (cap != o->cap) {
			b = realloc(o->data, cap);
			if (!b)
				return -ENOMEM;
			o->data = b;
			o->cap = cap;
		}
	}
	memcpy(o->data + o->len, p, n);
	o->len += n;
	return 0;
}

/* Returns 1 if everything went out, 0 if some is left, or -errno. */
int cd_outbuf_flush(int fd, struct cd_outbuf *o)
{
	while (o->off < o->len) {
		ssize_t n = send(fd, o->data + o->off, o->len - o->off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			if (errno == ENOTSOCK) {
				n = write(fd, o->data + o->off, o->len - o->off);
				if (n < 0 && errno == EAGAIN)
					return 0;
			}
			if (n < 0)
				return -errno;
		}
		o->off += (size_t)n;
	}
	o->off = o->len = 0;
	return 1;
}
