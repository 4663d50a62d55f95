// SPDX-License-Identifier: LGPL-2.1-or-later
/* The fscache caches: the kernel's list, cachefilesd.conf, statvfs. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <cmocka.h>

#include <libcachectl/libcachectl.h>

static char dir[128], path[256];

static const char *at(const char *name)
{
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return path;
}

static void put(const char *name, const char *text)
{
	FILE *f = fopen(at(name), "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	char tmpl[] = "/tmp/test-cache-list.XXXXXX";

	assert_non_null(mkdtemp(tmpl));
	strcpy(dir, tmpl);
	assert_int_equal(mkdir(at("proc"), 0755), 0);
	put("proc/caches",
	    "CACHE    REF   VOLS  OBJS  ACCES S NAME\n"
	    "======== ===== ===== ===== ===== = ===============\n"
	    "00000001     3     1     2     0 A mycache\n"
	    "0000002a     1     0     0     0 W other\n");
	setenv("CACHECTL_PROC_FSCACHE", at("proc"), 1);
	setenv("CACHECTL_CACHEFILESD_CONF", at("no-such.conf"), 1);
	return 0;
}

static int teardown(void **state)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

static void kernel_list(void **state)
{
	struct cachectl_ctx *ctx;
	struct cachectl_cache_list *l;
	struct cachectl_cache *c = NULL;
	uint64_t st;

	assert_int_equal(cachectl_new(&ctx), 0);
	assert_int_equal(cachectl_cache_list_new(ctx, &l), 0);
	assert_int_equal(cachectl_cache_list_read_config(l, NULL), 0);
	assert_int_equal(cachectl_cache_list_get_flags(l), 0);
	assert_int_equal(cachectl_cache_list_next(l, &c), 1);
	assert_int_equal(cachectl_cache_get_id(c), 1);
	assert_string_equal(cachectl_cache_get_name(c), "mycache");
	assert_int_equal(cachectl_cache_get_state(c), CACHECTL_CACHE_STATE_ACTIVE);
	assert_int_equal(cachectl_cache_get_volumes(c), 1);
	assert_int_equal(cachectl_cache_get_objects(c), 2);
	/* no configuration: no directory, no thresholds */
	assert_null(cachectl_cache_get_dir(c));
	assert_int_equal(cachectl_cache_get_space(c, NULL, NULL, NULL), -ENODATA);
	assert_int_equal(cachectl_cache_get_threshold(c, CACHECTL_CACHE_TH_BRUN),
			 -ENODATA);
	assert_null(cachectl_cache_get_file(c));
	assert_int_equal(cachectl_cache_get_file_state(c, &st), -ENODATA);
	assert_int_equal(cachectl_cache_list_next(l, &c), 1);
	assert_int_equal(cachectl_cache_get_id(c), 42);
	assert_int_equal(cachectl_cache_get_state(c),
			 CACHECTL_CACHE_STATE_WITHDRAWN);
	assert_int_equal(cachectl_cache_list_next(l, &c), 0);
	assert_null(c);
	/* the shim sees no cache objects: nothing is found, nothing breaks */
	if (cachectl_backend_probe(ctx, NULL) == CACHECTL_BACKEND_SHIM) {
		const char *paths[] = { dir };

		assert_int_equal(cachectl_cache_list_find_files(l, paths, 1), 0);
		c = NULL;
		while (cachectl_cache_list_next(l, &c) > 0)
			assert_null(cachectl_cache_get_file(c));
	}
	assert_ptr_equal(cachectl_cache_list_ref(l), l);
	assert_ptr_equal(cachectl_cache_list_unref(l), l);
	assert_null(cachectl_cache_list_unref(l));
	cachectl_unref(ctx);
}

static void config(void **state)
{
	struct cachectl_ctx *ctx;
	struct cachectl_cache_list *l;
	struct cachectl_cache *c = NULL;
	uint64_t size, used, avail;
	struct statvfs sv;
	char conf[256], cdir[256];
	uint64_t fr;

	snprintf(cdir, sizeof(cdir), "%s", dir);
	snprintf(conf, sizeof(conf), "%s", at("cachefilesd.conf"));
	{
		char text[512];

		snprintf(text, sizeof(text), "# a comment\n\ndir %s\n"
			 "tag mycache\nbrun 20%%\n  bcull 15%%\nsecctx x\n",
			 cdir);
		put("cachefilesd.conf", text);
	}
	assert_int_equal(cachectl_new(&ctx), 0);
	assert_int_equal(cachectl_cache_list_new(ctx, &l), 0);
	assert_int_equal(cachectl_cache_list_read_config(l, conf), 0);
	assert_int_equal(cachectl_cache_list_get_flags(l),
			 CACHECTL_CACHE_LIST_CONFIG);
	assert_int_equal(cachectl_cache_list_next(l, &c), 1);
	assert_string_equal(cachectl_cache_get_dir(c), cdir);
	assert_int_equal(cachectl_cache_get_threshold(c, CACHECTL_CACHE_TH_BRUN), 20);
	assert_int_equal(cachectl_cache_get_threshold(c, CACHECTL_CACHE_TH_BCULL), 15);
	assert_int_equal(cachectl_cache_get_threshold(c, CACHECTL_CACHE_TH_BSTOP), 3);
	assert_int_equal(cachectl_cache_get_threshold(c, CACHECTL_CACHE_TH_FRUN), 10);
	assert_int_equal(cachectl_cache_get_threshold(c, CACHECTL_CACHE_TH_COUNT),
			 -EINVAL);
	/* the kernel's figures for the directory's filesystem */
	assert_int_equal(cachectl_cache_get_space(c, &size, &used, &avail), 0);
	assert_int_equal(statvfs(cdir, &sv), 0);
	fr = sv.f_frsize ? sv.f_frsize : sv.f_bsize;
	assert_int_equal(size, (uint64_t)sv.f_blocks * fr);
	assert_true(used <= size && avail <= size);
	/* the other cache is not the configuration's */
	assert_int_equal(cachectl_cache_list_next(l, &c), 1);
	assert_null(cachectl_cache_get_dir(c));
	assert_int_equal(cachectl_cache_get_threshold(c, CACHECTL_CACHE_TH_BRUN),
			 -ENODATA);
	cachectl_cache_list_unref(l);
	cachectl_unref(ctx);
}

static void bad_config(void **state)
{
	struct cachectl_ctx *ctx;
	struct cachectl_cache_list *l;

	assert_int_equal(cachectl_new(&ctx), 0);
	cachectl_set_log_priority(ctx, 0);
	assert_int_equal(cachectl_cache_list_new(ctx, &l), 0);
	assert_int_equal(cachectl_cache_list_read_config(l, at("nope.conf")),
			 -ENOENT);
	put("bad.conf", "dir /x\nbcull lots\n");
	assert_int_equal(cachectl_cache_list_read_config(l, at("bad.conf")),
			 -EINVAL);
	put("bad2.conf", "brun 100%\n");
	assert_int_equal(cachectl_cache_list_read_config(l, at("bad2.conf")),
			 -EINVAL);
	cachectl_cache_list_unref(l);
	assert_int_equal(cachectl_cache_list_new(NULL, &l), -EINVAL);
	cachectl_unref(ctx);
}

static void no_fscache(void **state)
{
	struct cachectl_ctx *ctx;
	struct cachectl_cache_list *l;
	struct cachectl_cache *c = NULL;

	assert_int_equal(cachectl_new(&ctx), 0);
	/* fscache without caches: the directory, no list */
	assert_int_equal(mkdir(at("empty"), 0755), 0);
	setenv("CACHECTL_PROC_FSCACHE", at("empty"), 1);
	assert_int_equal(cachectl_cache_list_new(ctx, &l), 0);
	assert_int_equal(cachectl_cache_list_get_flags(l), 0);
	assert_int_equal(cachectl_cache_list_next(l, &c), 0);
	cachectl_cache_list_unref(l);
	/* no fscache at all */
	setenv("CACHECTL_PROC_FSCACHE", at("none"), 1);
	assert_int_equal(cachectl_cache_list_new(ctx, &l), 0);
	assert_int_equal(cachectl_cache_list_get_flags(l),
			 CACHECTL_CACHE_LIST_NO_FSCACHE);
	assert_int_equal(cachectl_cache_list_next(l, &c), 0);
	cachectl_cache_list_unref(l);
	setenv("CACHECTL_PROC_FSCACHE", at("proc"), 1);
	cachectl_unref(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(kernel_list),
		cmocka_unit_test(config),
		cmocka_unit_test(bad_config),
		cmocka_unit_test(no_fscache),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
