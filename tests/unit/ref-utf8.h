/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The UTF-8 decoder the escapers are checked against, written apart from
 * common/escape.c, by another method, so the two cannot share a mistake.
 */
#ifndef CACHECTL_TEST_REF_UTF8_H
#define CACHECTL_TEST_REF_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* RFC 3629 by arithmetic: decode, then range-check the code point */
static inline size_t ref_utf8_len(const unsigned char *p)
{
	uint32_t cp, min;
	size_t n, i;

	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xe0) == 0xc0) {
		n = 2; cp = p[0] & 0x1f; min = 0x80;
	} else if ((p[0] & 0xf0) == 0xe0) {
		n = 3; cp = p[0] & 0x0f; min = 0x800;
	} else if ((p[0] & 0xf8) == 0xf0) {
		n = 4; cp = p[0] & 0x07; min = 0x10000;
	} else {
		return 0;
	}
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

#endif
