// SPDX-License-Identifier: LGPL-2.1-or-later
/* One \xHH and one JSON escaper for every name that leaves the project. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"

static const char hex[] = "0123456789abcdef";

static bool cont(unsigned char c)
{
	return (c & 0xc0) == 0x80;
}

size_t cc_utf8_len(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4;
	else
		return 0;	/* a continuation byte, C0/C1, F5..FF */
	/* the second byte's range rules out overlongs, surrogates, > 10FFFF */
	if (p[0] == 0xe0)
		lo = 0xa0;
	else if (p[0] == 0xed)
		hi = 0x9f;
	else if (p[0] == 0xf0)
		lo = 0x90;
	else if (p[0] == 0xf4)
		hi = 0x8f;
	if (p[1] < lo || p[1] > hi)
		return 0;
	/* a NUL is no continuation byte: a truncated sequence stops here */
	for (i = 2; i < n; i++)
		if (!cont(p[i]))
			return 0;
	return n;
}

/* whether @s starts with a byte to escape; *ret_n: the bytes it spans */
static bool hex_needs(const char *s, unsigned int flags, size_t *ret_n)
{
	unsigned char c = (unsigned char)*s;

	*ret_n = 1;
	if (c < 0x20 || c == 0x7f || c == '\\')
		return true;
	if (c == ' ')
		return flags & CC_ESC_SPACE;
	if (c < 0x80 || !(flags & CC_ESC_UTF8))
		return false;
	*ret_n = cc_utf8_len(s);
	if (!*ret_n) {
		*ret_n = 1;
		return true;
	}
	return false;
}

size_t cc_hex_escaped_len(const char *s, unsigned int flags)
{
	size_t len = 0, n;

	while (*s) {
		len += hex_needs(s, flags, &n) ? 4 : n;
		s += n;
	}
	return len;
}

char *cc_hex_escape(char *dst, const char *s, unsigned int flags)
{
	size_t n;

	while (*s) {
		if (hex_needs(s, flags, &n)) {
			unsigned char c = (unsigned char)*s;

			*dst++ = '\\';
			*dst++ = 'x';
			*dst++ = hex[c >> 4];
			*dst++ = hex[c & 15];
		} else {
			memcpy(dst, s, n);
			dst += n;
		}
		s += n;
	}
	*dst = '\0';
	return dst;
}

static int unhex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int cc_hex_unescape(char *s)
{
	char *w = s;

	while (*s) {
		int h, l;

		if (*s != '\\') {
			*w++ = *s++;
			continue;
		}
		if (s[1] != 'x' || (h = unhex(s[2])) < 0 || (l = unhex(s[3])) < 0 ||
		    !(h | l))
			return -EINVAL;
		*w++ = (char)(h << 4 | l);
		s += 4;
	}
	*w = '\0';
	return 0;
}

/* how @s starts in JSON: the bytes to copy as they are, or 0 with @esc set */
static size_t json_step(const char *s, char esc[7], size_t *ret_esclen)
{
	unsigned char c = (unsigned char)*s;
	size_t n;

	if (c == '"' || c == '\\') {
		esc[0] = '\\';
		esc[1] = (char)c;
		*ret_esclen = 2;
		return 0;
	}
	if (c == '\n') {
		memcpy(esc, "\\n", 2);
		*ret_esclen = 2;
		return 0;
	}
	if (c < 0x20 || c == 0x7f) {
		memcpy(esc, "\\u00", 4);
		esc[4] = hex[c >> 4];
		esc[5] = hex[c & 15];
		*ret_esclen = 6;
		return 0;
	}
	n = cc_utf8_len(s);
	if (n)
		return n;
	/* a byte that is no UTF-8: a lone low surrogate U+DC80..U+DCFF */
	memcpy(esc, "\\udc", 4);
	esc[4] = hex[c >> 4];
	esc[5] = hex[c & 15];
	*ret_esclen = 6;
	return 0;
}

size_t cc_json_escaped_len(const char *s)
{
	size_t len = 0;

	while (*s) {
		char esc[7];
		size_t el, n = json_step(s, esc, &el);

		len += n ? n : el;
		s += n ? n : 1;
	}
	return len;
}

char *cc_json_escape(char *dst, const char *s)
{
	while (*s) {
		char esc[7];
		size_t el, n = json_step(s, esc, &el);

		if (n) {
			memcpy(dst, s, n);
			dst += n;
			s += n;
		} else {
			memcpy(dst, esc, el);
			dst += el;
			s++;
		}
	}
	*dst = '\0';
	return dst;
}

static bool reserve(struct cc_escbuf *b, size_t len)
{
	char *p;

	if (len < b->cap)
		return true;
	p = realloc(b->buf, len + 1);
	if (!p)
		return false;
	b->buf = p;
	b->cap = len + 1;
	return true;
}

/* printable ASCII up to the NUL: nothing to escape */
static bool hex_plain(const char *s, unsigned int flags)
{
	const unsigned char *p = (const unsigned char *)s;

	for (; *p; p++)
		if (*p <= ' ' || *p >= 0x7f || *p == '\\')
			if (*p != ' ' || (flags & CC_ESC_SPACE))
				return false;
	return true;
}

const char *cc_escbuf_hex(struct cc_escbuf *b, const char *s,
			  unsigned int flags)
{
	/*
	 * Nearly every name: handed back as it is, one pass and no copy
	 * (a status of 50k files spent 7% of its time escaping names).
	 */
	if (hex_plain(s, flags))
		return s;
	if (!reserve(b, cc_hex_escaped_len(s, flags)))
		return NULL;
	cc_hex_escape(b->buf, s, flags);
	return b->buf;
}

const char *cc_escbuf_json(struct cc_escbuf *b, const char *s)
{
	if (!reserve(b, cc_json_escaped_len(s)))
		return NULL;
	cc_json_escape(b->buf, s);
	return b->buf;
}

void cc_escbuf_free(struct cc_escbuf *b)
{
	free(b->buf);
	b->buf = NULL;
	b->cap = 0;
}
