/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The two ways a name leaves the project: as \xHH (wire, pin store, log
 * lines, tables) and as a JSON string. Both see a name as bytes; only
 * strictly valid UTF-8 counts as text.
 */
#ifndef CACHECTL_COMMON_ESCAPE_H
#define CACHECTL_COMMON_ESCAPE_H

#include <stdbool.h>
#include <stddef.h>

/* for \xHH: also escape bytes that are not valid UTF-8 (for people) */
#define CC_ESC_UTF8	(1u << 0)
/* for \xHH: also escape spaces (raw output separates columns with them) */
#define CC_ESC_SPACE	(1u << 1)

/*
 * Length of the UTF-8 sequence at @s, 1..4, or 0 when it is not a valid
 * one: overlong forms, surrogates, code points above U+10FFFF and
 * truncated sequences are all 0 (RFC 3629).
 */
size_t cc_utf8_len(const char *s);

/* \xHH: control bytes, DEL and backslash always, more with CC_ESC_* */
size_t cc_hex_escaped_len(const char *s, unsigned int flags);
/* writes the escape of @s and a NUL; returns the NUL's address */
char *cc_hex_escape(char *dst, const char *s, unsigned int flags);
/* in place; -EINVAL for a bad escape or an escaped NUL */
int cc_hex_unescape(char *s);

/*
 * JSON string contents (no quotes): valid UTF-8 passes, '"', '\\', control
 * bytes and DEL are escaped, and every other byte becomes \udcXX, as
 * Python's surrogateescape decodes it, so os.fsencode() restores it.
 */
size_t cc_json_escaped_len(const char *s);
char *cc_json_escape(char *dst, const char *s);

/* a reusable output buffer: the escape of one name at a time */
struct cc_escbuf {
	char *buf;
	size_t cap;
};

/* @s itself when nothing needs escaping, else @b's buffer; NULL: no memory */
const char *cc_escbuf_hex(struct cc_escbuf *b, const char *s,
			  unsigned int flags);
const char *cc_escbuf_json(struct cc_escbuf *b, const char *s);
void cc_escbuf_free(struct cc_escbuf *b);

#endif
