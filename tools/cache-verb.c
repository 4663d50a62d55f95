// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cache: the fscache caches behind network filesystems. The kernel lists
 * them in /proc/fs/fscache/caches; cachefilesd.conf says where a cache
 * lives and when it culls; with the kernel backend, fcachectl(2) QUERY on
 * a file the cache holds tells whether culling is off and the cache full,
 * and CACHE_POLICY turns culling off and on (--no-cull, --cull).
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
#include <libsmartcols/libsmartcols.h>

#include "cachectl-tool.h"

#define PROC_FSCACHE "/proc/fs/fscache"
#define CACHEFILESD_CONF "/etc/cachefilesd.conf"
#define MAX_CACHES 64

enum {
	OPT_NO_CULL = CHAR_MAX + 1,
	OPT_CULL,
	OPT_CONFIG,
};

enum { TH_BRUN, TH_BCULL, TH_BSTOP, TH_FRUN, TH_FCULL, TH_FSTOP, TH_COUNT };

static const char *const th_names[TH_COUNT] = {
	"brun", "bcull", "bstop", "frun", "fcull", "fstop",
};

/* cachefilesd's defaults when its configuration leaves them out */
static const int th_default[TH_COUNT] = { 10, 7, 3, 10, 7, 3 };

struct conf {
	char *dir;
	char *tag;
	int th[TH_COUNT];
	bool loaded;
};

struct fcache {
	char id[16];			/* as /proc prints it: %08x */
	unsigned long long idnum;
	int vols, objs;
	char state;			/* -PAEW */
	char name[256];
	char *file;			/* a file it holds, found by a walk */
	uint64_t cache_state;		/* CACHECTL_CACHE_* of that file */
};

struct caches {
	struct fcache c[MAX_CACHES];
	size_t n;
	size_t unseen;			/* caches the walk has not met yet */
};

static void cache_usage(void)
{
	printf("Usage:\n %s cache [options] [PATH...]\n\n"
	       "Show the fscache caches of network filesystems: the kernel's list\n"
	       "(/proc/fs/fscache/caches), directory, size and thresholds from\n"
	       "cachefilesd.conf and, with the kernel backend (fcachectl), whether\n"
	       "culling is on. The cull state is read from a file the cache holds,\n"
	       "found under PATH (default: every mount that uses fscache).\n\n"
	       "Options:\n"
	       " -J, --json           JSON output\n"
	       " -b, --bytes          sizes in bytes\n"
	       " -n, --noheadings     no header line\n"
	       "     --no-cull        stop culling the caches that hold files under PATH\n"
	       "     --cull           let them cull again (both need CAP_SYS_RESOURCE\n"
	       "                        and the kernel backend)\n"
	       "     --config FILE    cachefilesd configuration (default %s)\n"
	       " -v, --verbose        say which backend is used (shim or kernel) on stderr\n"
	       " -h, --help           display this help\n\n"
	       "Columns: CACHE NAME STATE VOLS OBJS DIR SIZE USED AVAIL BRUN BCULL BSTOP\n"
	       "         FRUN FCULL FSTOP CULL FULL\n\n"
	       "For more details see cachectl(1).\n", program_name,
	       CACHEFILESD_CONF);
	exit(EXIT_SUCCESS);
}

/* ---- cachefilesd.conf ------------------------------------------------- */

static int parse_pct(const char *s, int *ret)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || v < 0 || v >= 100 ||
	    (*end && strcmp(end, "%")))
		return -EINVAL;
	*ret = (int)v;
	return 0;
}

/* "dir PATH", "tag NAME", "brun 10%", ...; '#' starts a comment line */
static int conf_load(struct conf *cf, const char *path, bool must)
{
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0, lineno = 0;
	ssize_t n;
	int i, r = 0;

	memcpy(cf->th, th_default, sizeof(cf->th));
	if (!f) {
		if (!must && errno == ENOENT)
			return 0;
		warnx_path(path, "%s", strerror(errno));
		return -errno;
	}
	cf->loaded = true;
	while ((n = getline(&line, &cap, f)) > 0) {
		char *key, *val, *end;

		lineno++;
		line[strcspn(line, "\n")] = '\0';
		key = line + strspn(line, " \t");
		if (!*key || *key == '#')
			continue;
		val = key + strcspn(key, " \t");
		if (*val)
			*val++ = '\0';
		val += strspn(val, " \t");
		end = val + strlen(val);
		while (end > val && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		if (!strcmp(key, "dir") && *val) {
			free(cf->dir);
			cf->dir = strdup(val);
			continue;
		}
		if (!strcmp(key, "tag") && *val) {
			free(cf->tag);
			cf->tag = strdup(val);
			continue;
		}
		for (i = 0; i < TH_COUNT; i++)
			if (!strcmp(key, th_names[i]))
				break;
		if (i < TH_COUNT && parse_pct(val, &cf->th[i]) < 0) {
			warnx_path(path, "line %zu: bad %s value '%s' "
				   "(a percentage, e.g. 7%%)", lineno, key, val);
			r = -EINVAL;
		}
		/* other commands (secctx, culltable, ...) say nothing here */
	}
	if (!r && ferror(f)) {
		warnx_path(path, "read error");
		r = -EIO;
	}
	free(line);
	fclose(f);
	return r;
}

/* ---- /proc/fs/fscache/caches ------------------------------------------ */

static const char *state_word(char s)
{
	switch (s) {
	case '-':
		return "inactive";
	case 'P':
		return "preparing";
	case 'A':
		return "active";
	case 'E':
		return "failed";
	case 'W':
		return "withdrawn";
	}
	return "unknown";
}

/*
 * Linux 6.1: two header lines, then per cache
 * "%08x %5d %5d %5d %5d %c %s": CACHE REF VOLS OBJS ACCES S NAME.
 * Returns 0, or -ENOENT when the kernel has no fscache at all.
 */
static int caches_load(struct caches *cs, const char *dir)
{
	char *path, *line = NULL;
	size_t cap = 0;
	FILE *f;
	int r = 0;

	if (asprintf(&path, "%s/caches", dir) < 0)
		return -ENOMEM;
	f = fopen(path, "re");
	if (!f) {
		r = -errno;
		free(path);
		/* the directory without the list: fscache with no caches */
		return r == -ENOENT && access(dir, F_OK) == 0 ? 0 : r;
	}
	while (getline(&line, &cap, f) > 0 && cs->n < MAX_CACHES) {
		struct fcache *c = &cs->c[cs->n];
		unsigned int id;
		int ref, acces;

		if (sscanf(line, "%x %d %d %d %d %c %255s", &id, &ref,
			   &c->vols, &c->objs, &acces, &c->state, c->name) != 7)
			continue;	/* the header lines */
		c->idnum = id;
		snprintf(c->id, sizeof(c->id), "%08x", id);
		cs->n++;
	}
	if (ferror(f))
		r = -EIO;
	free(line);
	free(path);
	fclose(f);
	return r;
}

static struct fcache *cache_by_id(struct caches *cs, uint64_t id)
{
	size_t i;

	for (i = 0; i < cs->n; i++)
		if (cs->c[i].idnum == id)
			return &cs->c[i];
	/* held by a cache the list does not show (yet): show it too */
	if (cs->n == MAX_CACHES)
		return NULL;
	memset(&cs->c[cs->n], 0, sizeof(cs->c[0]));
	cs->c[cs->n].idnum = id;
	snprintf(cs->c[cs->n].id, sizeof(cs->c[0].id), "%08llx",
		 (unsigned long long)id);
	cs->c[cs->n].state = '?';
	strcpy(cs->c[cs->n].name, "-");
	cs->unseen++;
	return &cs->c[cs->n++];
}

/* ---- which mounts use fscache ----------------------------------------- */

static bool has_opt(const char *opts, const char *name, bool with_value)
{
	size_t n = strlen(name);
	const char *p = opts;

	while (*p) {
		size_t k = strcspn(p, ",");

		if (k == n && !strncmp(p, name, n))
			return true;
		if (with_value && k > n && !strncmp(p, name, n) && p[n] == '=')
			return true;
		p += k;
		if (*p)
			p++;
	}
	return false;
}

static bool uses_fscache(const char *fstype, const char *mopts,
			 const char *sopts)
{
	char opts[8192];

	snprintf(opts, sizeof(opts), "%s,%s", mopts, sopts);
	if (!strcmp(fstype, "9p"))
		return has_opt(opts, "fscache", false) ||
		       has_opt(opts, "cache=fscache", false);
	if (!strcmp(fstype, "nfs") || !strcmp(fstype, "nfs4") ||
	    !strcmp(fstype, "ceph"))
		return has_opt(opts, "fsc", true);
	if (!strcmp(fstype, "cifs") || !strcmp(fstype, "smb3"))
		return has_opt(opts, "fsc", false);
	return !strcmp(fstype, "afs");
}

/* the mount points of fscache-backed filesystems, NULL-terminated */
static char **fscache_mounts(size_t *ret_n)
{
	/* test hook: a fake mount table */
	const char *path = secure_getenv("CACHECTL_MOUNTINFO");
	FILE *f = fopen(path && *path ? path : "/proc/self/mountinfo", "re");
	char *line = NULL, **v = NULL;
	size_t cap = 0, n = 0;

	*ret_n = 0;
	if (!f)
		return NULL;
	while (getline(&line, &cap, f) > 0) {
		char *fld[6], *sep, *save = NULL, *p = line;
		char *fstype, *sopts;
		int i;

		line[strcspn(line, "\n")] = '\0';
		for (i = 0; i < 6; i++) {
			fld[i] = strtok_r(p, " ", &save);
			p = NULL;
			if (!fld[i])
				break;
		}
		/* optional fields ("shared:1") end at a lone "-" */
		if (i < 6 || !save)
			continue;
		if (!strncmp(save, "- ", 2))
			sep = save + 2;
		else if ((sep = strstr(save, " - ")))
			sep += 3;
		else
			continue;
		fstype = strtok_r(sep, " ", &save);
		(void)strtok_r(NULL, " ", &save);	/* source */
		sopts = strtok_r(NULL, " ", &save);
		if (!fstype || !uses_fscache(fstype, fld[5], sopts ? sopts : ""))
			continue;
		{
			char **nv = realloc(v, (n + 2) * sizeof(*v));

			if (!nv)
				break;
			v = nv;
		}
		unescape_mountinfo(fld[4]);
		v[n] = strdup(fld[4]);
		if (v[n])
			n++;
		v[n] = NULL;
	}
	free(line);
	fclose(f);
	*ret_n = n;
	return v;
}

/* ---- finding a file each cache holds (kernel backend) ----------------- */

static int found_one(struct cachectl_walk *w, const struct cachectl_entry *e,
		     void *data)
{
	struct caches *cs = data;
	struct cachectl_residency res;
	struct fcache *c;

	if (cachectl_entry_get_error(e) < 0 ||
	    cachectl_entry_get_residency(e, &res, sizeof(res)) < 0)
		return 0;
	if (!(res.flags & CACHECTL_RES_FSCACHE) ||
	    !(res.cache_state & CACHECTL_CACHE_OBJECT))
		return 0;
	c = cache_by_id(cs, res.cache_id);
	if (!c || c->file)
		return 0;
	c->file = strdup(cachectl_entry_get_path(e));
	c->cache_state = res.cache_state;
	if (c->file && cs->unseen)
		cs->unseen--;
	/* every cache has its file: no need to walk a whole mount */
	return cs->unseen ? 0 : -ECANCELED;
}

static void find_files(struct cachectl_ctx *ctx, struct caches *cs,
		       char **roots, size_t nroots)
{
	size_t i;

	cs->unseen = cs->n;
	for (i = 0; i < nroots; i++) {
		struct cachectl_walk *w;
		int r;

		/* with no cache listed, one file of any cache will do */
		if (cs->n && !cs->unseen)
			break;
		r = cachectl_walk_new(ctx, CACHECTL_WALK_RECURSIVE |
				      CACHECTL_WALK_ONE_FS, &w);
		if (r < 0)
			return;
		r = cachectl_walk_add_path(w, roots[i]);
		if (r >= 0)
			r = cachectl_walk_set_timeout(w, 5000);
		if (r >= 0)
			r = cachectl_walk_run(w, CACHECTL_WALK_OP_QUERY, 0,
					      found_one, cs);
		if (r < 0 && r != -ECANCELED)
			warnx_path(roots[i], "%s", strerror(-r));
		cachectl_walk_unref(w);
	}
}

/* ---- --no-cull, --cull ------------------------------------------------ */

static int set_culling(struct cachectl_ctx *ctx, struct caches *cs,
		       bool enable)
{
	size_t i;
	int done = 0, failed = 0;

	for (i = 0; i < cs->n; i++) {
		struct fcache *c = &cs->c[i];
		int fd, r;

		if (!c->file)
			continue;
		fd = open(c->file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW |
			  O_NONBLOCK | O_NOCTTY);
		r = fd < 0 ? -errno :
		    cachectl_cache_set_culling(ctx, fd, enable);
		if (fd >= 0)
			close(fd);
		if (r < 0) {
			fprintf(stderr, "%s: cache %s (%s, holding %s): cannot "
				"turn culling %s: %s\n", program_name, c->name,
				c->id, c->file, enable ? "on" : "off",
				r == -EPERM ? "needs CAP_SYS_RESOURCE" :
				r == -ENOBUFS ? "no cache holds the file" :
				strerror(-r));
			failed++;
			continue;
		}
		printf("cache %s (%s): culling %s\n", c->name, c->id,
		       enable ? "on" : "off");
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
       C_AVAIL, C_TH, C_CULL = C_TH + TH_COUNT, C_FULL, C_NCOLS };

static void set_num(struct libscols_line *ln, int col, uint64_t v, bool human)
{
	char buf[32];

	if (human)
		size_human(v, buf, sizeof(buf));
	else
		snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
	scols_line_set_data(ln, col, buf);
}

static int print_table(struct caches *cs, const struct conf *cf, bool json,
		       bool bytes, bool noheadings)
{
	static const char *const names[C_NCOLS] = {
		"CACHE", "NAME", "STATE", "VOLS", "OBJS", "DIR", "SIZE",
		"USED", "AVAIL", "BRUN", "BCULL", "BSTOP", "FRUN", "FCULL",
		"FSTOP", "CULL", "FULL",
	};
	struct libscols_table *tb = scols_new_table();
	/* no value: "-" in tables, null in JSON */
	const char *none = json ? NULL : "-";
	bool human = !bytes && !json;
	size_t i;
	int k, r;

	if (!tb)
		return -ENOMEM;
	scols_table_set_name(tb, "caches");
	scols_table_enable_json(tb, json);
	scols_table_enable_noheadings(tb, noheadings);
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
	for (i = 0; i < cs->n; i++) {
		const struct fcache *c = &cs->c[i];
		struct libscols_line *ln = scols_table_new_line(tb, NULL);
		bool mine = cf->loaded &&
			    !strcmp(c->name, cf->tag ? cf->tag : "CacheFiles");
		struct statvfs sv;
		bool have_sv;
		char buf[32];

		if (!ln)
			break;
		scols_line_set_data(ln, C_CACHE, c->id);
		scols_line_set_data(ln, C_NAME, c->name);
		scols_line_set_data(ln, C_STATE, state_word(c->state));
		snprintf(buf, sizeof(buf), "%d", c->vols);
		scols_line_set_data(ln, C_VOLS, c->state == '?' ? none : buf);
		snprintf(buf, sizeof(buf), "%d", c->objs);
		scols_line_set_data(ln, C_OBJS, c->state == '?' ? none : buf);
		scols_line_set_data(ln, C_DIR, mine && cf->dir ? cf->dir : none);
		have_sv = mine && cf->dir && statvfs(cf->dir, &sv) == 0;
		if (have_sv) {
			uint64_t fr = sv.f_frsize ? sv.f_frsize : sv.f_bsize;

			set_num(ln, C_SIZE, (uint64_t)sv.f_blocks * fr, human);
			set_num(ln, C_USED, (uint64_t)(sv.f_blocks - sv.f_bfree) *
				fr, human);
			set_num(ln, C_AVAIL, (uint64_t)sv.f_bavail * fr, human);
		} else {
			scols_line_set_data(ln, C_SIZE, none);
			scols_line_set_data(ln, C_USED, none);
			scols_line_set_data(ln, C_AVAIL, none);
		}
		for (k = 0; k < TH_COUNT; k++) {
			snprintf(buf, sizeof(buf), json ? "%d" : "%d%%",
				 cf->th[k]);
			scols_line_set_data(ln, C_TH + k, mine ? buf : none);
		}
		if (c->file) {
			scols_line_set_data(ln, C_CULL, c->cache_state &
					    CACHECTL_CACHE_NOCULL ? "off" : "on");
			scols_line_set_data(ln, C_FULL, c->cache_state &
					    CACHECTL_CACHE_FULL ?
					    (json ? "true" : "yes") :
					    (json ? "false" : "no"));
		} else {
			scols_line_set_data(ln, C_CULL, "unknown");
			scols_line_set_data(ln, C_FULL, none);
		}
	}
	r = scols_print_table(tb);
	scols_unref_table(tb);
	return r;
}

/* ---- the verb --------------------------------------------------------- */

int verb_cache(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'J' },
		{ "bytes", no_argument, NULL, 'b' },
		{ "noheadings", no_argument, NULL, 'n' },
		{ "no-cull", no_argument, NULL, OPT_NO_CULL },
		{ "cull", no_argument, NULL, OPT_CULL },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool json = false, bytes = false, noheadings = false, verbose = false;
	const char *config = NULL, *proc;
	struct caches *cs = NULL;
	struct conf cf = { 0 };
	struct cachectl_ctx *ctx;
	char **roots = NULL, **mounts = NULL;
	size_t nroots = 0, i;
	int cull = -1, c, r, backend = 0, bad = 0, ret = EXIT_SUCCESS;

	argv[0] = (char *)program_name;
	while ((c = getopt_long(argc, argv, "Jbnvh", longopts, NULL)) != -1) {
		switch (c) {
		case 'J':
			json = true;
			break;
		case 'b':
			bytes = true;
			break;
		case 'n':
			noheadings = true;
			break;
		case OPT_NO_CULL:
		case OPT_CULL:
			if (cull >= 0 && cull != (c == OPT_CULL))
				usage_error("--cull and --no-cull exclude each "
					    "other");
			cull = c == OPT_CULL;
			break;
		case OPT_CONFIG:
			config = optarg;
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
			cache_usage();
			break;
		default:
			errtryhelp();
		}
	}

	ctx = tool_ctx(verbose, &backend);
	if (!ctx)
		return EXIT_FAILURE;
	if (cull >= 0 && backend != CACHECTL_BACKEND_KERNEL) {
		fprintf(stderr, "%s: cache %s needs the kernel backend "
			"(fcachectl); the backend in use is %s\n", program_name,
			cull ? "--cull" : "--no-cull",
			cachectl_backend_name(backend));
		cachectl_unref(ctx);
		return EXIT_FAILURE;
	}
	for (i = optind; i < (size_t)argc; i++) {
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

	/* test hooks: a fake list of caches and configuration */
	proc = secure_getenv("CACHECTL_PROC_FSCACHE");
	if (!proc || !*proc)
		proc = PROC_FSCACHE;
	if (!config) {
		config = secure_getenv("CACHECTL_CACHEFILESD_CONF");
		if (!config || !*config)
			config = CACHEFILESD_CONF;
		r = conf_load(&cf, config, false);
	} else {
		r = conf_load(&cf, config, true);
	}
	if (r < 0) {
		ret = EXIT_FAILURE;
		goto out;
	}

	cs = calloc(1, sizeof(*cs));
	if (!cs) {
		fprintf(stderr, "%s: out of memory\n", program_name);
		ret = EXIT_FAILURE;
		goto out;
	}
	r = caches_load(cs, proc);
	if (r == -ENOENT && cull < 0) {
		fprintf(stderr, "%s: this kernel has no fscache (no %s): no "
			"caches to show\n", program_name, proc);
		goto empty;
	}
	if (r < 0 && r != -ENOENT) {
		fprintf(stderr, "%s: %s/caches: %s\n", program_name, proc,
			strerror(-r));
		ret = EXIT_FAILURE;
		goto out;
	}
	if (!cs->n && cull < 0) {
		fprintf(stderr, "%s: no fscache caches are bound (is "
			"cachefilesd running?)\n", program_name);
		goto empty;
	}

	if (backend == CACHECTL_BACKEND_KERNEL) {
		if (optind < argc) {
			roots = argv + optind;
			nroots = argc - optind;
		} else {
			roots = mounts = fscache_mounts(&nroots);
		}
		find_files(ctx, cs, roots, nroots);
	}
	if (cull >= 0) {
		ret = set_culling(ctx, cs, cull);
		goto out;
	}
	if (print_table(cs, &cf, json, bytes, noheadings) < 0) {
		fprintf(stderr, "%s: cannot print the table\n", program_name);
		ret = EXIT_FAILURE;
	}
	goto out;
empty:
	if (json)
		fputs("{\n   \"caches\": []\n}\n", stdout);
out:
	if (ret == EXIT_SUCCESS && bad)
		ret = EXIT_PARTIAL;
	for (i = 0; mounts && mounts[i]; i++)
		free(mounts[i]);
	free(mounts);
	for (i = 0; cs && i < cs->n; i++)
		free(cs->c[i].file);
	free(cs);
	free(cf.dir);
	free(cf.tag);
	cachectl_unref(ctx);
	return ret;
}
