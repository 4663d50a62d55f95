// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cache: the fscache caches behind network filesystems, as the library
 * lists them (cachectl_cache_list_new()); --no-cull and --cull turn
 * culling off and on for the cache that holds a file (the library sends
 * the cache daemon's "nocull" and "cull" on its /dev/cachefiles).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "cachectl-tool.h"

#define CACHEFILESD_CONF "/etc/cachefilesd.conf"

enum {
	OPT_NO_CULL = CHAR_MAX + 1,
	OPT_CULL,
	OPT_CONFIG,
};

static void cache_usage(const struct common_opts *co)
{
	printf("Usage:\n %s cache [options] [PATH...]\n\n"
	       "Show the fscache caches of network filesystems: the kernel's list\n"
	       "(/proc/fs/fscache/caches), directory, size and thresholds from\n"
	       "cachefilesd.conf and, with the kernel backend (fcachectl), whether\n"
	       "culling is on. The cull state is read from a file the cache holds,\n"
	       "found under PATH (default: every mount that uses fscache).\n\n"
	       "Options:\n"
	       "     --no-cull            stop culling the caches that hold files under PATH\n"
	       "     --cull               let them cull again (both are commands on the\n"
	       "                            cache daemon's /dev/cachefiles: they need root\n"
	       "                            (CAP_SYS_ADMIN, CAP_SYS_PTRACE) and the kernel\n"
	       "                            backend)\n"
	       "     --config FILE        cachefilesd configuration (default %s)\n",
	       program_name, CACHEFILESD_CONF);
	common_usage(co);
	printf("\nAvailable output columns:\n"
	       "  CACHE  the cache's id (/proc/fs/fscache/caches)\n"
	       "   NAME  its name, the tag given to cachefilesd\n"
	       "  STATE  inactive, preparing, active, failed or withdrawn\n"
	       "   VOLS  volumes in the cache\n"
	       "   OBJS  objects in the cache\n"
	       "    DIR  the cache's directory\n"
	       "   SIZE  size of the filesystem holding DIR\n"
	       "   USED  space used there\n"
	       "  AVAIL  space available there\n"
	       "   BRUN  free blocks above which culling stops (%%)\n"
	       "  BCULL  free blocks below which culling starts (%%)\n"
	       "  BSTOP  free blocks below which no new data is cached (%%)\n"
	       "   FRUN  free files above which culling stops (%%)\n"
	       "  FCULL  free files below which culling starts (%%)\n"
	       "  FSTOP  free files below which no new data is cached (%%)\n"
	       "   CULL  on, off or unknown\n"
	       "   FULL  below its cull limit: yes or no\n\n"
	       "For more details see cachectl(1).\n");
	exit(EXIT_SUCCESS);
}

/* ---- --no-cull, --cull ------------------------------------------------ */

/* "mycache (00000001)": how messages name a cache */
static const char *cache_label(struct cachectl_cache *c, char *buf, size_t len)
{
	const char *name = cachectl_cache_get_name(c);

	snprintf(buf, len, "%s (%08llx)", name ? name : "-",
		 (unsigned long long)cachectl_cache_get_id(c));
	return buf;
}

static int set_culling(struct cachectl_ctx *ctx, struct cachectl_cache_list *l,
		       bool enable)
{
	struct cachectl_cache *c = NULL;
	int done = 0, failed = 0;

	while (cachectl_cache_list_next(l, &c) > 0) {
		const char *file = cachectl_cache_get_file(c);
		char label[300];
		int fd, r;

		if (!file)
			continue;
		fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW |
			  O_NONBLOCK | O_NOCTTY);
		r = fd < 0 ? -errno :
		    cachectl_cache_set_culling(ctx, fd, enable);
		if (fd >= 0)
			close(fd);
		cache_label(c, label, sizeof(label));
		if (r < 0) {
			fprintf(stderr, "%s: cache %s, holding %s: cannot "
				"turn culling %s: %s\n", program_name, label,
				file, enable ? "on" : "off",
				r == -EPERM ? "needs CAP_SYS_ADMIN and CAP_SYS_PTRACE "
				"(it is a command on the cache daemon's "
				"/dev/cachefiles)" :
				r == -ESRCH ? "no cache daemon holds "
				"/dev/cachefiles (is cachefilesd running?)" :
				r == -ENOBUFS ? "no cache holds the file" :
				strerror(-r));
			failed++;
			continue;
		}
		printf("cache %s: culling %s\n", label, enable ? "on" : "off");
		done++;
	}
	if (!done && !failed) {
		fprintf(stderr, "%s: no file found that an fscache cache "
			"holds (bring one in first, e.g. 'cachectl prefetch "
			"FILE', or name a PATH on an fscache-backed mount)\n",
			program_name);
		return EXIT_FAILURE;
	}
	return !failed ? EXIT_SUCCESS : done ? EXIT_PARTIAL : EXIT_FAILURE;
}

/* ---- the table -------------------------------------------------------- */

enum { C_CACHE, C_NAME, C_STATE, C_VOLS, C_OBJS, C_DIR, C_SIZE, C_USED,
       C_AVAIL, C_TH, C_CULL = C_TH + CACHECTL_CACHE_TH_COUNT, C_FULL,
       C_NCOLS };

static const char *state_word(int state)
{
	switch (state) {
	case CACHECTL_CACHE_STATE_INACTIVE:
		return "inactive";
	case CACHECTL_CACHE_STATE_PREPARING:
		return "preparing";
	case CACHECTL_CACHE_STATE_ACTIVE:
		return "active";
	case CACHECTL_CACHE_STATE_FAILED:
		return "failed";
	case CACHECTL_CACHE_STATE_WITHDRAWN:
		return "withdrawn";
	}
	return "unknown";
}

static void set_num(struct libscols_line *ln, int col, uint64_t v, bool human)
{
	char buf[32];

	if (human)
		size_human(v, buf, sizeof(buf));
	else
		snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
	scols_line_set_data(ln, col, buf);
}

static void set_count(struct libscols_line *ln, int col, int v,
		      const char *none)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%d", v);
	scols_line_set_data(ln, col, v < 0 ? none : buf);
}

static int print_table(struct cachectl_cache_list *l,
		       const struct common_opts *co)
{
	static const char *const names[C_NCOLS] = {
		"CACHE", "NAME", "STATE", "VOLS", "OBJS", "DIR", "SIZE",
		"USED", "AVAIL", "BRUN", "BCULL", "BSTOP", "FRUN", "FCULL",
		"FSTOP", "CULL", "FULL",
	};
	struct libscols_table *tb = scols_new_table();
	struct cachectl_cache *c = NULL;
	/* no value: "-" in tables, null in JSON */
	bool json = co->json;
	const char *none = json ? NULL : "-";
	bool human = !co->bytes && !json;
	int k, r;

	if (!tb)
		return -ENOMEM;
	scols_table_set_name(tb, "caches");
	for (k = 0; k < C_NCOLS; k++) {
		bool left = k == C_CACHE || k == C_NAME || k == C_STATE ||
			    k == C_DIR;
		struct libscols_column *cl;

		cl = scols_table_new_column(tb, names[k], 0,
					    left ? 0 : SCOLS_FL_RIGHT);
		if (!cl)
			continue;
		/*
		 * FULL is true, false or null: libsmartcols prints a
		 * missing boolean as false, a number as it is
		 */
		scols_column_set_json_type(cl,
			left || k == C_CULL ? SCOLS_JSON_STRING :
			SCOLS_JSON_NUMBER);
	}
	while (cachectl_cache_list_next(l, &c) > 0) {
		struct libscols_line *ln = scols_table_new_line(tb, NULL);
		const char *name = cachectl_cache_get_name(c);
		const char *dir = cachectl_cache_get_dir(c);
		uint64_t size, used, avail, state;
		char buf[32];

		if (!ln)
			break;
		snprintf(buf, sizeof(buf), "%08llx",
			 (unsigned long long)cachectl_cache_get_id(c));
		scols_line_set_data(ln, C_CACHE, buf);
		scols_line_set_data(ln, C_NAME, name ? name : "-");
		scols_line_set_data(ln, C_STATE,
				    state_word(cachectl_cache_get_state(c)));
		set_count(ln, C_VOLS, cachectl_cache_get_volumes(c), none);
		set_count(ln, C_OBJS, cachectl_cache_get_objects(c), none);
		scols_line_set_data(ln, C_DIR, dir ? dir : none);
		if (cachectl_cache_get_space(c, &size, &used, &avail) == 0) {
			set_num(ln, C_SIZE, size, human);
			set_num(ln, C_USED, used, human);
			set_num(ln, C_AVAIL, avail, human);
		} else {
			scols_line_set_data(ln, C_SIZE, none);
			scols_line_set_data(ln, C_USED, none);
			scols_line_set_data(ln, C_AVAIL, none);
		}
		for (k = 0; k < CACHECTL_CACHE_TH_COUNT; k++) {
			int th = cachectl_cache_get_threshold(c, k);

			snprintf(buf, sizeof(buf), json ? "%d" : "%d%%", th);
			scols_line_set_data(ln, C_TH + k, th < 0 ? none : buf);
		}
		if (cachectl_cache_get_file_state(c, &state) == 0) {
			scols_line_set_data(ln, C_CULL, state &
					    CACHECTL_CACHE_NOCULL ? "off" : "on");
			scols_line_set_data(ln, C_FULL, state &
					    CACHECTL_CACHE_FULL ?
					    (json ? "true" : "yes") :
					    (json ? "false" : "no"));
		} else {
			scols_line_set_data(ln, C_CULL, "unknown");
			scols_line_set_data(ln, C_FULL, none);
		}
	}
	r = out_table_print(tb, co);
	scols_unref_table(tb);
	return r;
}

/* ---- the verb --------------------------------------------------------- */

int verb_cache(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "no-cull", no_argument, NULL, OPT_NO_CULL },
		{ "cull", no_argument, NULL, OPT_CULL },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ NULL, 0, NULL, 0 },
	};
	struct common_opts co = { .verb = "cache", .honours = COMMON_TABLE };
	const char *config = NULL;
	struct cachectl_cache_list *l = NULL;
	struct cachectl_ctx *ctx;
	struct cachectl_cache *c = NULL;
	unsigned int lflags;
	int cull = -1, ch, r, backend = 0, bad = 0, ret = EXIT_SUCCESS, i;

	while ((ch = common_getopt(argc, argv, "", longopts, &co)) != -1) {
		switch (ch) {
		case OPT_NO_CULL:
		case OPT_CULL:
			if (cull >= 0 && cull != (ch == OPT_CULL))
				usage_error("--cull and --no-cull exclude each "
					    "other");
			cull = ch == OPT_CULL;
			break;
		case OPT_CONFIG:
			config = optarg;
			break;
		case 'h':
			cache_usage(&co);
			break;
		default:
			errtryhelp();
		}
	}

	ctx = tool_ctx(co.verbose, &backend);
	if (!ctx)
		return EXIT_FAILURE;
	if (cull >= 0 && !(tool_caps(ctx) & CACHECTL_CAP_CULLING)) {
		fprintf(stderr, "%s: cache %s needs the kernel backend "
			"(fcachectl); the backend in use is %s\n", program_name,
			cull ? "--cull" : "--no-cull",
			cachectl_backend_name(backend));
		cachectl_unref(ctx);
		return EXIT_FAILURE;
	}
	for (i = optind; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) < 0) {
			warnx_path(argv[i], "%s", strerror(errno));
			bad++;
		}
	}
	if (bad && bad == argc - optind) {
		cachectl_unref(ctx);
		return EXIT_FAILURE;
	}

	r = cachectl_cache_list_new(ctx, &l);
	if (r < 0) {
		/* the library named the file */
		fprintf(stderr, "%s: cannot read the fscache caches: %s\n",
			program_name, strerror(-r));
		ret = EXIT_FAILURE;
		goto out;
	}
	r = cachectl_cache_list_read_config(l, config);
	if (r < 0) {
		const char *path = config;

		if (!path) {
			path = secure_getenv("CACHECTL_CACHEFILESD_CONF");
			if (!path || !*path)
				path = CACHEFILESD_CONF;
		}
		/* the library logged the line of a bad value */
		warnx_path(path, "%s", r == -EINVAL ? "bad configuration" :
			   strerror(-r));
		ret = EXIT_FAILURE;
		goto out;
	}
	lflags = cachectl_cache_list_get_flags(l);
	if ((lflags & CACHECTL_CACHE_LIST_NO_FSCACHE) && cull < 0) {
		const char *proc = secure_getenv("CACHECTL_PROC_FSCACHE");

		fprintf(stderr, "%s: this kernel has no fscache (no %s): no "
			"caches to show\n", program_name,
			proc && *proc ? proc : "/proc/fs/fscache");
		goto empty;
	}
	if (cachectl_cache_list_next(l, &c) == 0 && cull < 0) {
		fprintf(stderr, "%s: no fscache caches are bound (is "
			"cachefilesd running?)\n", program_name);
		goto empty;
	}

	if (tool_caps(ctx) & CACHECTL_CAP_FSCACHE)
		(void)cachectl_cache_list_find_files(l,
			(const char *const *)argv + optind, argc - optind);
	if (cull >= 0) {
		ret = set_culling(ctx, l, cull);
		goto out;
	}
	if (print_table(l, &co) < 0) {
		fprintf(stderr, "%s: cannot print the table\n", program_name);
		ret = EXIT_FAILURE;
	}
	goto out;
empty:
	if (co.json) {
		struct outbuf o = { 0 };

		out_json_begin(&o, "caches");
		out_json_end(&o);
		out_flush(&o, stdout);
		out_free(&o);
	}
out:
	if (ret == EXIT_SUCCESS && bad)
		ret = EXIT_PARTIAL;
	cachectl_cache_list_unref(l);
	cachectl_unref(ctx);
	return ret;
}
