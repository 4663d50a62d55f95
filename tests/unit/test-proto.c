// SPDX-License-Identifier: LGPL-2.1-or-later
/* The daemon protocol: framing, escaping, descriptors, hostile input. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "proto.h"

static void round_trip_with_fd(void **state)
{
	const char *kv[] = { "path", "/a\nb\\c\x01", "flags", "3" };
	struct cc_proto_buf b = { .fd = -1 };
	struct cc_proto_msg m;
	struct stat s1, s2;
	uint64_t v;
	int sv[2], fd;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	fd = open("/dev/null", O_RDONLY);
	assert_int_equal(cc_proto_send(sv[0], "PIN", fd, kv, 2), 0);
	assert_int_equal(cc_proto_send(sv[0], "PING", -1, NULL, 0), 0);
	/* both messages may arrive in one read: neither is lost */
	assert_int_equal(cc_proto_recv(sv[1], &b, &m, 1000), 0);
	assert_string_equal(m.verb, "PIN");
	assert_string_equal(cc_proto_get(&m, "path"), "/a\nb\\c\x01");
	assert_int_equal(proto_get_u64(&m, "flags", &v), 0);
	assert_int_equal(v, 3);
	assert_int_equal(proto_get_u64(&m, "nope", &v), -ENOENT);
	assert_true(m.fd >= 0);
	fstat(fd, &s1);
	fstat(m.fd, &s2);
	assert_int_equal(s1.st_ino, s2.st_ino);
	cc_proto_msg_free(&m);
	assert_int_equal(cc_proto_recv(sv[1], &b, &m, 1000), 0);
	assert_string_equal(m.verb, "PING");
	assert_int_equal(m.fd, -1);
	cc_proto_msg_free(&m);
	assert_int_equal(cc_proto_recv(sv[1], &b, &m, 50), -ETIMEDOUT);
	close(sv[0]);
	assert_int_equal(cc_proto_recv(sv[1], &b, &m, 1000), -EPIPE);
	cc_proto_buf_free(&b);
	close(sv[1]);
	close(fd);
}

static int feed(const void *bytes, size_t len, struct cc_proto_msg *m)
{
	struct cc_proto_buf b = { .fd = -1 };
	int sv[2], r;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(write(sv[0], bytes, len), (ssize_t)len);
	r = cc_proto_fill(sv[1], &b);
	if (r == 1)
		r = cc_proto_take(&b, m);
	cc_proto_buf_free(&b);
	close(sv[0]);
	close(sv[1]);
	return r;
}

static void hostile(void **state)
{
	static const char huge[] = "\xff\xff\xff\xff" "PIN";
	static const char partial[] = "\x10\x00\x00\x00" "PI";
	static const char nokey[] = "\x08\x00\x00\x00" "PIN\n=xyz";
	static const char badesc[] = "\x0a\x00\x00\x00" "PIN\na=\\xZZ";
	static const char nulesc[] = "\x0a\x00\x00\x00" "PIN\na=\\x00";
	static const char nul[] = "\x05\x00\x00\x00" "P\0N\na";
	static const char empty[] = "\x00\x00\x00\x00";
	struct cc_proto_msg m;

	assert_int_equal(feed(huge, sizeof(huge) - 1, &m), -EMSGSIZE);
	assert_int_equal(feed(partial, sizeof(partial) - 1, &m), 0);
	assert_int_equal(feed(nokey, sizeof(nokey) - 1, &m), -EPROTO);
	assert_int_equal(feed(badesc, sizeof(badesc) - 1, &m), -EPROTO);
	assert_int_equal(feed(nulesc, sizeof(nulesc) - 1, &m), -EPROTO);
	assert_int_equal(feed(nul, sizeof(nul) - 1, &m), -EPROTO);
	assert_int_equal(feed(empty, sizeof(empty) - 1, &m), -EPROTO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip_with_fd),
		cmocka_unit_test(hostile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
