// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The --from reader, on a list read both ways (newline- and
 * NUL-separated): every path it returns is a whole, non-empty, C string
 * of the list, shorter than PATH_MAX, and a bad line never ends the list.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "cachectl-tool.h"
#include "fuzz.h"

const char *program_name = "fuzz-path-list";

static void read_list(const uint8_t *data, size_t size, bool nul)
{
	struct path_list l = { .nul = nul };
	size_t seen = 0, records = 0, i;
	const char *path;
	int r;

	l.f = fmemopen((void *)data, size, "r");
	if (!l.f)
		return;
	while ((r = path_list_next(&l, &path)) != 0) {
		fuzz_check(r == 1 || r == -EINVAL || r == -ENAMETOOLONG);
		fuzz_check(l.lineno > records);
		records = l.lineno;
		fuzz_check(r != -EINVAL || !nul);
		if (r < 0)
			continue;
		fuzz_check(*path && strlen(path) < PATH_MAX);
		fuzz_check(!nul ? !strchr(path, '\n') : true);
		seen += strlen(path) + 1;
		fuzz_check(seen <= size + 1);
	}
	/* as many records as delimiters, and one more for an unended tail */
	for (i = 0, r = 0; i < size; i++)
		r += data[i] == (nul ? '\0' : '\n');
	fuzz_check(records <= (size_t)r + 1);
	path_list_free(&l);
	fclose(l.f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	read_list(data, size, false);
	read_list(data, size, true);
	return 0;
}
