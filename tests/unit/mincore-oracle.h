/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The kernel's own answer to "how much of this file is resident", for
 * cmocka tests that check the library against it: mincore(2) over a
 * mapping, never a libcachectl call.
 */
#ifndef CACHECTL_TEST_MINCORE_ORACLE_H
#define CACHECTL_TEST_MINCORE_ORACLE_H

#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/mman.h>

/* Bytes of the pages of [0, len) resident. Include after <cmocka.h>. */
static inline uint64_t mincore_bytes(int fd, uint64_t len)
{
	long ps = sysconf(_SC_PAGESIZE);
	size_t pages = (len + ps - 1) / ps, i;
	unsigned char *vec = malloc(pages);
	uint64_t n = 0;
	void *m;

	assert_non_null(vec);
	m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	assert_true(m != MAP_FAILED);
	assert_int_equal(mincore(m, len, vec), 0);
	for (i = 0; i < pages; i++)
		n += vec[i] & 1;
	munmap(m, len);
	free(vec);
	return n * ps;
}

#endif
