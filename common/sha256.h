/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * SHA-256 (FIPS 180-4) of what the offline cache keeps: the base version
 * of a file changed offline, so replay tells a touched-but-unchanged file
 * from an edited one without the bytes of both at hand.
 */
#ifndef CACHECTL_COMMON_SHA256_H
#define CACHECTL_COMMON_SHA256_H

#include <stddef.h>
#include <stdint.h>

struct cc_sha256 {
	uint32_t h[8];
	uint64_t len;		/* bytes fed */
	uint8_t buf[64];
	size_t have;
};

void cc_sha256_init(struct cc_sha256 *c);
void cc_sha256_update(struct cc_sha256 *c, const void *data, size_t n);
void cc_sha256_final(struct cc_sha256 *c, uint8_t out[32]);

/* the digest of everything @fd holds from offset 0: 0 or a negative errno */
int cc_sha256_fd(int fd, uint8_t out[32]);

#endif
