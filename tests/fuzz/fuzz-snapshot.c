// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The snapshot reader of prefetch --restore (cachectl-snapshot(5)): any
 * input is read to its end or refused, never crashes; every file it keeps
 * has an absolute path without NUL and at least one range, all of them
 * non-empty, in increasing order and not overlapping; kept and skipped
 * lines together are no more than the input has lines.
 */
#include <errno.h>
#include <string.h>

#include "cachectl-tool.h"
#include "fuzz.h"

const char *program_name = "fuzz-snapshot";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct snap_in s;
	size_t i, j, lines = 1;
	FILE *f;
	int r;

	f = fmemopen((void *)data, size, "r");
	if (!f)
		return 0;
	r = snapshot_read(&s, f, "fuzz");
	fuzz_check(r == 0 || r == -EINVAL || r == -EIO || r == -ENOMEM);
	for (i = 0; i < size; i++)
		lines += data[i] == '\n';
	fuzz_check(s.n + s.bad <= lines);
	for (i = 0; i < s.n; i++) {
		const struct snap_rec *rec = &s.recs[i];

		fuzz_check(rec->path && rec->path[0] == '/');
		fuzz_check(strlen(rec->path) < size);
		fuzz_check(rec->nr > 0);
		for (j = 0; j < rec->nr; j++) {
			fuzz_check(rec->r[j].len > 0);
			fuzz_check(rec->r[j].off + rec->r[j].len > rec->r[j].off);
			fuzz_check(!j || rec->r[j].off >=
				   rec->r[j - 1].off + rec->r[j - 1].len);
		}
	}
	snapshot_free(&s);
	fclose(f);
	return 0;
}
