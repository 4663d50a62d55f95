// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The \xHH and JSON escapers every name leaves the project through,
 * checked against the tests' own UTF-8 decoder: \xHH output unescapes
 * to the name; JSON output is strict UTF-8 with no raw control byte and
 * decodes (surrogateescape) to the name. The unescaper also takes the
 * raw input, as it does from a store or a socket.
 */
#include <string.h>

#include "common/escape.h"
#include "fuzz.h"
#include "tests/unit/ref-utf8.h"

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' :
	       c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* decode JSON string contents as Python's surrogateescape would */
static void json_check(const char *s, const char *json)
{
	const unsigned char *p = (const unsigned char *)json;
	const char *want = s;

	while (*p) {
		size_t n;

		fuzz_check(*p >= 0x20 && *p != 0x7f && *p != '"');
		if (*p != '\\') {
			n = ref_utf8_len(p);
			fuzz_check(n);
			fuzz_check(!memcmp(want, p, n));
			want += n;
			p += n;
			continue;
		}
		if (p[1] == '\\' || p[1] == '"') {
			fuzz_check(*want++ == (char)p[1]);
			p += 2;
		} else if (p[1] == 'n') {
			fuzz_check(*want++ == '\n');
			p += 2;
		} else {
			int hi, lo;

			fuzz_check(p[1] == 'u');
			fuzz_check(!memcmp(p + 2, "00", 2) ||
				   !memcmp(p + 2, "dc", 2));
			hi = hexval((char)p[4]);
			lo = hexval((char)p[5]);
			fuzz_check(hi >= 0 && lo >= 0);
			/* U+00XX only for control bytes, U+DCXX for the rest */
			fuzz_check(p[2] == 'd' ? hi >= 8 : hi < 2 || hi == 7);
			fuzz_check(*want++ == (char)(hi << 4 | lo));
			p += 6;
		}
	}
	fuzz_check(!*want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_strdup(data, size), *buf, *end;
	unsigned int flags;
	size_t len;

	if (!s)
		return 0;
	for (flags = 0; flags < 4; flags++) {
		len = cc_hex_escaped_len(s, flags);
		buf = malloc(len + 1);
		if (!buf)
			break;
		end = cc_hex_escape(buf, s, flags);
		fuzz_check((size_t)(end - buf) == len && !*end);
		for (end = buf; *end; end++) {
			unsigned char c = (unsigned char)*end;

			fuzz_check(c >= 0x20 && c != 0x7f);
			fuzz_check(c != ' ' || !(flags & CC_ESC_SPACE));
		}
		if (flags & CC_ESC_UTF8)
			for (end = buf; *end; end += ref_utf8_len((unsigned char *)end))
				fuzz_check(ref_utf8_len((unsigned char *)end));
		fuzz_check(cc_hex_unescape(buf) == 0);
		fuzz_check(!strcmp(buf, s));
		free(buf);
	}

	len = cc_json_escaped_len(s);
	buf = malloc(len + 1);
	if (buf) {
		end = cc_json_escape(buf, s);
		fuzz_check((size_t)(end - buf) == len && !*end);
		json_check(s, buf);
		free(buf);
	}

	/* unescaping only ever shortens */
	len = strlen(s);
	if (cc_hex_unescape(s) == 0)
		fuzz_check(strlen(s) <= len);
	free(s);
	return 0;
}
