// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Size arguments ("--budget 2G"): whatever the text, a size is refused
 * or is a whole number of bytes that fits, and no conversion on the
 * way is undefined.
 */
#include <string.h>

#include "cachectl-tool.h"
#include "fuzz.h"

const char *program_name = "fuzz-size";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_strdup(data, size);
	uint64_t v = 0;

	if (!s)
		return 0;
	if (parse_size(s, &v) == 0) {
		fuzz_check((*s >= '0' && *s <= '9') || *s == '.');
		fuzz_check(v <= (uint64_t)INT64_MAX);
	}
	free(s);
	return 0;
}
