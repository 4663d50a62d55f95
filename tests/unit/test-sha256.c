// SPDX-License-Identifier: LGPL-2.1-or-later
/* common/sha256.c against FIPS 180-4's examples and split feeding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/sha256.h"

static void hex(const uint8_t d[32], char out[65])
{
	int i;

	for (i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

static void digest_of(const void *p, size_t n, char out[65])
{
	struct cc_sha256 c;
	uint8_t d[32];

	cc_sha256_init(&c);
	cc_sha256_update(&c, p, n);
	cc_sha256_final(&c, d);
	hex(d, out);
}

static void vectors(void **state)
{
	char h[65], *mil = malloc(1000000);

	digest_of("", 0, h);
	assert_string_equal(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	digest_of("abc", 3, h);
	assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	digest_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, h);
	assert_string_equal(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	assert_non_null(mil);
	memset(mil, 'a', 1000000);
	digest_of(mil, 1000000, h);
	assert_string_equal(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	free(mil);
}

/* fed in pieces of every size across block edges: the same digest */
static void split(void **state)
{
	unsigned char buf[300];
	char whole[65], parts[65];
	size_t i, k;

	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(i * 7 + 3);
	digest_of(buf, sizeof(buf), whole);
	for (k = 1; k < 130; k++) {
		struct cc_sha256 c;
		uint8_t d[32];

		cc_sha256_init(&c);
		for (i = 0; i < sizeof(buf); i += k)
			cc_sha256_update(&c, buf + i, sizeof(buf) - i < k ? sizeof(buf) - i : k);
		cc_sha256_final(&c, d);
		hex(d, parts);
		assert_string_equal(parts, whole);
	}
}

static void of_fd(void **state)
{
	char path[] = "/tmp/test-sha256-XXXXXX", h[65];
	uint8_t d[32];
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(write(fd, "abc", 3), 3);
	assert_int_equal(cc_sha256_fd(fd, d), 0);
	hex(d, h);
	assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	close(fd);
	assert_int_equal(cc_sha256_fd(fd, d), -9);	/* EBADF */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(vectors),
		cmocka_unit_test(split),
		cmocka_unit_test(of_fd),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
