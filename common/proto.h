/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The cachectld wire protocol, shared by the daemon and the library: the
 * one place a message is framed and parsed.
 *
 * A message is a 4-byte little-endian length (at most PROTO_MAX) and that
 * many bytes of text: a verb line, then "key=value" lines. Values escape
 * bytes below 0x20, '\\' and 0x7f as \xHH, so any path (newlines
 * included) fits on one line. A message may carry one file descriptor
 * (SCM_RIGHTS), e.g. the client's read-only fd of the path it pins, which
 * proves the client could open it.
 *
 * Daemon -> client on connect:  HELLO version=1
 * Requests:   PING | PIN path= flags= priority= budget= [holder=] (+fd) |
 *             UNPIN path= | RELOAD | STATUS path= | LIST | SUBSCRIBE |
 *             RELEASE path= | HOLDS
 * Replies:    OK [key=value...] | ERR errno=N message=...
 *             LIST answers OK count=N then N "PIN path= flags= ..." messages
 *             HOLDS answers OK count=N then N "HOLD path= flags= holder=
 *             uid=" messages
 * PIN with holder= keeps the pin while the connection stays open and does
 * not record it; RELEASE drops one of the connection's own holds.
 * Events:     EVENT type=N path= bytes=
 */
#ifndef CACHECTL_PROTO_H
#define CACHECTL_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define PROTO_VERSION 1
#define PROTO_MAX (64u << 10)
#define PROTO_FIELDS 16

struct cc_proto_msg {
	char *verb;
	struct {
		char *key;
		char *val;
	} f[PROTO_FIELDS];
	int nf;
	int fd;			/* received descriptor, or -1 */
	char *text;		/* owns the strings above */
};

/* Incoming bytes of one connection; start with { .fd = -1 }. */
struct cc_proto_buf {
	char *data;
	size_t len, cap;
	int fd;			/* a descriptor that arrived, not yet taken */
};

/*
 * Frame one message into a new buffer (*@ret, freed by the caller) of
 * *@ret_len bytes: length, verb, key=value lines with values escaped.
 * For writers that queue instead of sending. Returns 0, -EMSGSIZE,
 * -ENOMEM.
 */
int cc_proto_frame(const char *verb, const char *const *kv, size_t n,
		char **ret, size_t *ret_len);

/*
 * Send one message: @kv holds @n key, value pairs (2n strings). @fd >= 0
 * is passed along. Blocking; MSG_NOSIGNAL. Returns 0, -EPIPE, -EMSGSIZE.
 */
int cc_proto_send(int sock, const char *verb, int fd, const char *const *kv,
	       size_t n);

/* Send "ERR errno=N message=TEXT". */
int cc_proto_send_err(int sock, int error, const char *message);

/*
 * Read what is available on a non-blocking socket into @b. Returns 1 if
 * a whole message is buffered, 0 if not yet, -EPIPE on EOF, -EMSGSIZE
 * for an oversized length, or another negative errno.
 */
int cc_proto_fill(int sock, struct cc_proto_buf *b);

/* Take the first whole message out of @b. Returns 0 or -EPROTO. */
int cc_proto_take(struct cc_proto_buf *b, struct cc_proto_msg *m);

void cc_proto_buf_free(struct cc_proto_buf *b);

/*
 * Blocking receive with a timeout (-1 for none), for clients; @b keeps
 * bytes of messages that arrived together for the next call. Returns 0,
 * -ETIMEDOUT, -EPIPE, -EPROTO or -EMSGSIZE.
 */
int cc_proto_recv(int sock, struct cc_proto_buf *b, struct cc_proto_msg *m,
	       int timeout_ms);

/* The value of @key, or NULL. */
const char *cc_proto_get(const struct cc_proto_msg *m, const char *key);

/* Parse @key as an unsigned/signed decimal. Returns 0, -ENOENT, -EINVAL. */
int proto_get_u64(const struct cc_proto_msg *m, const char *key, uint64_t *ret);
int cc_proto_get_int(const struct cc_proto_msg *m, const char *key, int *ret);

/* Frees strings and closes a descriptor nobody took. */
void cc_proto_msg_free(struct cc_proto_msg *m);

#endif
