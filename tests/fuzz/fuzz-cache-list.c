// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The caches: the kernel's list (/proc/fs/fscache/caches) and
 * cachefilesd.conf, as cachectl_cache_list_new() and
 * cachectl_cache_list_read_config() read them. The input is the list,
 * a NUL, then the configuration. Whatever they hold, the thresholds
 * read are percentages and every cache has a known state.
 */
#include <errno.h>
#include <string.h>

#include <libcachectl/libcachectl.h>

#include "fuzz.h"

static struct cachectl_ctx *ctx;
static char caches[96], conf[96];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_mkdtemp("cache-list", "caches", caches, sizeof(caches));
	snprintf(conf, sizeof(conf), "%s/cachefilesd.conf", fuzz_dir);
	setenv("CACHECTL_PROC_FSCACHE", fuzz_dir, 1);
	fuzz_check(cachectl_new(&ctx) == 0);
	cachectl_set_log_fn(ctx, fuzz_quiet_log, NULL);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	size_t n = nul ? (size_t)(nul - data) : size;
	struct cachectl_cache_list *l;
	struct cachectl_cache *c = NULL;
	int r, i;

	if (!ctx)
		LLVMFuzzerInitialize(NULL, NULL);
	fuzz_write_file(caches, data, n);
	fuzz_write_file(conf, nul ? nul + 1 : data + size, nul ? size - n - 1 : 0);

	fuzz_check(cachectl_cache_list_new(ctx, &l) == 0);
	r = cachectl_cache_list_read_config(l, conf);
	fuzz_check(r == 0 || r == -EINVAL || r == -ENOMEM);
	while (cachectl_cache_list_next(l, &c) > 0) {
		r = cachectl_cache_get_state(c);
		fuzz_check(r >= 0);
		for (i = 0; i < CACHECTL_CACHE_TH_COUNT; i++) {
			r = cachectl_cache_get_threshold(c, i);
			fuzz_check(r == -ENODATA || (r >= 0 && r < 100));
		}
		cachectl_cache_get_dir(c);
		cachectl_cache_get_volumes(c);
		cachectl_cache_get_objects(c);
		fuzz_check(cachectl_cache_get_name(c));
	}
	cachectl_cache_list_unref(l);
	return 0;
}
