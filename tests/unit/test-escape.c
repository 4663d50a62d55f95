// SPDX-License-Identifier: LGPL-2.1-or-later
/* The one \xHH and the one JSON escaper: every class of invalid UTF-8. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/escape.h"
#include "tests/unit/ref-utf8.h"

static void utf8_exhaustive(void **state)
{
	unsigned char b[5] = { 0 };
	unsigned int a, c, d;

	for (a = 1; a < 256; a++) {
		b[0] = (unsigned char)a;
		b[1] = 0;
		assert_int_equal(cc_utf8_len((char *)b), ref_utf8_len(b));
		for (c = 1; c < 256; c++) {
			b[1] = (unsigned char)c;
			b[2] = 0;
			assert_int_equal(cc_utf8_len((char *)b), ref_utf8_len(b));
			/* third and fourth bytes: continuation or not */
			for (d = 0x7f; d <= 0xc0; d++) {
				b[2] = (unsigned char)d;
				b[3] = 0x80;
				b[4] = 0;
				assert_int_equal(cc_utf8_len((char *)b),
						 ref_utf8_len(b));
				b[3] = 'a';
				assert_int_equal(cc_utf8_len((char *)b),
						 ref_utf8_len(b));
			}
		}
	}
}

static const struct {
	const char *what, *in, *json, *hex;
} cases[] = {
	{ "ascii", "a b", "a b", "a b" },
	{ "quote, backslash", "\"\\", "\\\"\\\\", "\"\\x5c" },
	{ "controls, DEL", "\n\t\x01\x7f", "\\n\\u0009\\u0001\\u007f",
	  "\\x0a\\x09\\x01\\x7f" },
	{ "2-byte", "\xc3\xa9", "\xc3\xa9", "\xc3\xa9" },
	{ "4-byte", "\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80",
	  "\xf0\x9f\x98\x80" },
	{ "U+10FFFF", "\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf",
	  "\xf4\x8f\xbf\xbf" },
	{ "lone continuation", "\x80", "\\udc80", "\\x80" },
	{ "latin-1", "caf\xe9", "caf\\udce9", "caf\\xe9" },
	{ "overlong 2-byte", "\xc0\xaf", "\\udcc0\\udcaf", "\\xc0\\xaf" },
	{ "overlong 3-byte", "\xe0\x80\xaf", "\\udce0\\udc80\\udcaf",
	  "\\xe0\\x80\\xaf" },
	{ "overlong 4-byte", "\xf0\x80\x80\xaf",
	  "\\udcf0\\udc80\\udc80\\udcaf", "\\xf0\\x80\\x80\\xaf" },
	{ "surrogate", "\xed\xa0\x80", "\\udced\\udca0\\udc80",
	  "\\xed\\xa0\\x80" },
	{ "above U+10FFFF", "\xf4\x90\x80\x80",
	  "\\udcf4\\udc90\\udc80\\udc80", "\\xf4\\x90\\x80\\x80" },
	{ "F5..FF", "\xf5\xff", "\\udcf5\\udcff", "\\xf5\\xff" },
	{ "truncated", "\xe2\x82" "a", "\\udce2\\udc82" "a",
	  "\\xe2\\x82" "a" },
	{ "truncated at the end", "a\xf0\x9f\x98", "a\\udcf0\\udc9f\\udc98",
	  "a\\xf0\\x9f\\x98" },
};

static void json_cases(void **state)
{
	struct cc_escbuf b = { 0 };
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *out = cc_escbuf_json(&b, cases[i].in);

		print_message("# json: %s\n", cases[i].what);
		assert_non_null(out);
		assert_string_equal(out, cases[i].json);
		assert_int_equal(cc_json_escaped_len(cases[i].in),
				 strlen(cases[i].json));
	}
	cc_escbuf_free(&b);
}

static void hex_cases(void **state)
{
	struct cc_escbuf b = { 0 };
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *out = cc_escbuf_hex(&b, cases[i].in, CC_ESC_UTF8);
		char *back;

		print_message("# hex: %s\n", cases[i].what);
		assert_string_equal(out, cases[i].hex);
		assert_int_equal(cc_hex_escaped_len(cases[i].in, CC_ESC_UTF8),
				 strlen(cases[i].hex));
		back = strdup(out);
		assert_int_equal(cc_hex_unescape(back), 0);
		assert_string_equal(back, cases[i].in);
		free(back);
	}
	cc_escbuf_free(&b);
}

/* the wire and the store: bytes as they are, only controls escaped */
static void hex_flags(void **state)
{
	struct cc_escbuf b = { 0 };

	assert_string_equal(cc_escbuf_hex(&b, "a \xe9\\\n", 0),
			    "a \xe9\\x5c\\x0a");
	assert_string_equal(cc_escbuf_hex(&b, "a \xe9", CC_ESC_SPACE),
			    "a\\x20\xe9");
	assert_string_equal(cc_escbuf_hex(&b, "a \xe9",
					  CC_ESC_SPACE | CC_ESC_UTF8),
			    "a\\x20\\xe9");
	/* a plain name is handed back uncopied; a space only without SPACE */
	{
		static const char plain[] = "d0001/f000001.dat", sp[] = "a b";

		assert_ptr_equal(cc_escbuf_hex(&b, plain, CC_ESC_UTF8), plain);
		assert_ptr_equal(cc_escbuf_hex(&b, sp, CC_ESC_UTF8), sp);
		assert_string_equal(cc_escbuf_hex(&b, sp, CC_ESC_SPACE),
				    "a\\x20b");
		assert_string_equal(cc_escbuf_hex(&b, "a\x7f", 0), "a\\x7f");
	}
	cc_escbuf_free(&b);
}

static void hex_unescape_bad(void **state)
{
	char s1[] = "a\\x00b", s2[] = "a\\x4", s3[] = "a\\y41", s4[] = "\\x4G";
	char s5[] = "\\X41\\x41\\x4a";

	assert_int_equal(cc_hex_unescape(s1), -EINVAL);
	assert_int_equal(cc_hex_unescape(s2), -EINVAL);
	assert_int_equal(cc_hex_unescape(s3), -EINVAL);
	assert_int_equal(cc_hex_unescape(s4), -EINVAL);
	assert_int_equal(cc_hex_unescape(s5), -EINVAL);
	strcpy(s5, "\\x41\\x4a");
	assert_int_equal(cc_hex_unescape(s5), 0);
	assert_string_equal(s5, "AJ");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(utf8_exhaustive),
		cmocka_unit_test(json_cases),
		cmocka_unit_test(hex_cases),
		cmocka_unit_test(hex_flags),
		cmocka_unit_test(hex_unescape_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
