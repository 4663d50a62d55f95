// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The mount table, as the library reads it through libmount to find
 * the fscache-backed mounts: whatever the file holds, the answer is a
 * NULL-terminated list of mount points.
 */
#include "cachectl-private.h"
#include "fuzz.h"

static char path[96];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_mkdtemp("mountinfo", "mountinfo", path, sizeof(path));
	setenv("CACHECTL_MOUNTINFO", path, 1);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char **v;
	size_t i;

	if (!*path)
		LLVMFuzzerInitialize(NULL, NULL);
	fuzz_write_file(path, data, size);

	v = cachectl__fscache_mounts();
	for (i = 0; v && v[i]; i++) {
		fuzz_check(*v[i]);
		free(v[i]);
	}
	free(v);
	return 0;
}
