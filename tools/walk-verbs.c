// SPDX-License-Identifier: GPL-2.0-or-later
/* status, prefetch and evict: one walk, three operations. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cachectl-tool.h"

enum {
	OPT_EXCLUDE = CHAR_MAX + 1,
	OPT_INCLUDE,
	OPT_FROM,
	OPT_OUTPUT_ALL,
	OPT_PROGRESS,
	OPT_NO_PROGRESS,
	OPT_READ,
	OPT_WAIT,
	OPT_TIMEOUT,
	OPT_BACKEND,
	OPT_RANGE,
	OPT_MAX_RATE,
	OPT_RESTORE,
};

struct run {
	const char *verb;
	int op;
	struct table *table;
	bool quiet_rows;	/* prefetch/evict without -J/-o/-c */
	bool progress;
	struct progress pl;
	int table_err;
	uint64_t ok;
	struct guard guard;
	struct snap_out *snap;		/* snapshot: lines, not rows */
	struct snap_in *restore;	/* prefetch --restore */
	uint64_t gone;			/* restore: files gone since */
	uint64_t failed;
	uint64_t untold;		/* snapshot: ranges unknown */
	int snap_err;
};

static const int status_cols[] = { COL_CACHED, COL_SIZE, COL_PCT, COL_FILE };
static const int action_cols[] = { COL_CACHED, COL_SIZE, COL_PCT, COL_BYTES,
				   COL_FILE };
/* the kernel backend also knows the fscache layer */
static const int status_kcols[] = { COL_CACHED, COL_SIZE, COL_PCT,
				    COL_FSCACHE, COL_PINNED, COL_FILE };
static const int action_kcols[] = { COL_CACHED, COL_SIZE, COL_PCT, COL_BYTES,
				    COL_FSCACHE, COL_PINNED, COL_FILE };

static void usage(const char *verb, int op, bool snap,
		  const struct common_opts *co)
{
	FILE *out = stdout;

	fprintf(out, "Usage:\n %s %s [options] %s\n", program_name, verb,
		op == CACHECTL_WALK_OP_QUERY ? "[PATH...]" : "PATH...");
	if (op == CACHECTL_WALK_OP_PREFETCH)
		fprintf(out, " %s %s [options] --restore FILE\n", program_name,
			verb);
	fputc('\n', out);
	if (snap)
		fputs("Record which pages of each file are in the page cache, for\n"
		      "'cachectl prefetch --restore' (see cachectl-snapshot(5)).\n"
		      "Without a PATH, the current directory is recorded.\n",
		      out);
	else switch (op) {
	case CACHECTL_WALK_OP_QUERY:
		fputs("Show how much of each file is in the page cache.\n"
		      "Without a PATH, the current directory is shown.\n",
		      out);
		break;
	case CACHECTL_WALK_OP_PREFETCH:
		fputs("Bring files into the page cache.\n", out);
		break;
	case CACHECTL_WALK_OP_EVICT:
		fputs("Drop files from the page cache, and check that they "
		      "went.\n", out);
		break;
	}
	fputs("\nOptions:\n"
	      " -r, --recursive          descend into directories\n"
	      " -L, --follow             follow symlinks inside trees\n"
	      " -x, --one-file-system    stay on the filesystem of each PATH\n"
	      "     --exclude GLOB       skip names matching GLOB (repeatable)\n"
	      "     --include GLOB       only files matching GLOB (repeatable)\n"
	      "     --from FILE          read more paths from FILE ('-' is stdin)\n"
	      " -0, --null               paths in --from end with NUL, not newline\n"
	      "     --output-all         print all columns\n"
	      " -c, --total              print a total row\n"
	      "     --progress           show a progress line on stderr\n"
	      "     --no-progress        never show one (default: on a terminal)\n"
	      " -j, --jobs N             work in parallel: threads on local disks, requests\n"
	      "                            in flight on network filesystems (1-4096, default auto)\n"
	      "     --timeout SECONDS    give up on a network filesystem that does not answer\n"
	      "                            for this long (default 5, 0 = wait for ever)\n"
	      "     --range OFF[:LEN]    only these bytes of each file (LEN omitted or 'end':\n"
	      "                            to the end; sizes as 4K, 2M, 1GiB; repeatable)\n",
	      out);
	if (snap)
		fputs(" -w, --write FILE         write the snapshot to FILE (replaced once complete),\n"
		      "                            not to standard output\n",
		      out);
	if (op == CACHECTL_WALK_OP_QUERY)
		fputs("     --backend            print the backend in use (shim or kernel), nothing else\n",
		      out);
	if (op == CACHECTL_WALK_OP_PREFETCH)
		fputs("     --read               read the data instead of advising the kernel\n"
		      "     --wait               return only once the data is in memory\n"
		      " -d, --queue-depth N      I/O requests in flight (1-4096, default 32)\n"
		      "     --max-rate RATE      read at most RATE bytes per second over the run\n"
		      "                            (50M = 50 MiB/s; one file at a time)\n"
		      "     --restore FILE       bring back exactly the ranges a snapshot recorded\n"
		      "                            ('-' is stdin; see cachectl snapshot)\n",
		      out);
	common_usage(co);
	if (snap) {
		fprintf(out, "\nFor more details see cachectl(1).\n");
		exit(EXIT_SUCCESS);
	}
	table_columns_help(out);
	fprintf(out, "\nFor more details see cachectl(1).\n");
	exit(EXIT_SUCCESS);
}

static void show_progress(struct cachectl_walk *w,
			  const struct cachectl_totals *t, void *data)
{
	struct run *run = data;

	guard_tick(&run->guard);
	if (run->progress)
		progress_show(&run->pl, run->verb, t);
}

static void clear_progress(struct run *run)
{
	progress_clear(&run->pl);
}

static const char *error_text(int op, int error, uint64_t bytes, char *buf,
			      size_t len)
{
	char h[32];

	switch (error) {
	case -EISDIR:
		return "Is a directory (use -r to descend)";
	case -EINVAL:
		return "not a regular file or directory";
	case -ELOOP:
		return "symlink loop";
	case -EBUSY:
		if (op == CACHECTL_WALK_OP_EVICT) {
			snprintf(buf, len, "%s still resident (dirty, mapped "
				 "or locked pages)", size_human(bytes, h, sizeof(h)));
			return buf;
		}
		break;
	case -EOPNOTSUPP:
		if (op == CACHECTL_WALK_OP_EVICT) {
			snprintf(buf, len, "%s stay: tmpfs/shmem pages are the "
				 "file's only copy and cannot be dropped",
				 size_human(bytes, h, sizeof(h)));
			return buf;
		}
		break;
	}
	return strerror(-error);
}

static int on_entry(struct cachectl_walk *w, const struct cachectl_entry *e,
		    void *data)
{
	struct run *run = data;
	struct cachectl_residency res;
	int error = cachectl_entry_get_error(e);
	const char *path = cachectl_entry_get_path(e);
	uint64_t bytes = cachectl_entry_get_bytes(e);
	int r;

	guard_tick(&run->guard);
	if (error == -ENOENT && run->restore) {
		/* deleted since: nothing to bring back, nothing wrong */
		clear_progress(run);
		warnx_path(path, "gone since the snapshot: skipped");
		run->gone++;
		return 0;
	}
	if (error < 0) {
		char buf[128];

		run->failed++;
		clear_progress(run);
		warnx_path(path, "%s",
			   error_text(run->op, error, bytes, buf, sizeof(buf)));
		if (cachectl_entry_get_residency(e, &res, sizeof(res)) < 0)
			return 0;
	} else {
		run->ok++;
		if (cachectl_entry_get_residency(e, &res, sizeof(res)) < 0)
			return 0;
	}
	if (run->snap && error >= 0) {
		r = snapshot_entry(run->snap, e);
		if (r == -ENODATA) {
			clear_progress(run);
			warnx_path(path, "the kernel would not say which pages "
				   "are cached (cachestat and mincore need write "
				   "access or ownership): not recorded");
			run->untold++;
		} else if (r < 0) {
			run->snap_err = r;
			return r;
		}
		return 0;
	}
	if (run->quiet_rows)
		return 0;
	r = table_add(run->table, path, &res, bytes);
	if (r) {
		run->table_err = r;
		return -ENOMEM;
	}
	return 0;
}

static int add_from(struct cachectl_walk *w, struct guard *g, const char *file,
		    bool nul, size_t *count, size_t *bad)
{
	struct path_list l = { .f = strcmp(file, "-") ? fopen(file, "re") : stdin,
			       .nul = nul };
	const char *path;
	int r;

	if (!l.f) {
		warnx_path(file, "%s", strerror(errno));
		return -errno;
	}
	while ((r = path_list_next(&l, &path)) != 0) {
		if (r == -EIO) {
			warnx_path(file, "read error");
			break;
		}
		if (r < 0) {
			warnx_path(file, "line %lu: %s", l.lineno,
				   path_list_error(r));
			(*bad)++;
			continue;
		}
		if (g)
			guard_add_root(g, path);
		r = cachectl_walk_add_path(w, path);
		if (r < 0)
			break;
		(*count)++;
	}
	path_list_free(&l);
	if (l.f != stdin)
		fclose(l.f);
	return r;
}

/* OFF[:LEN], LEN omitted, empty or "end": to the end of the file */
static int parse_range(const char *arg, uint64_t *off, uint64_t *len)
{
	const char *colon = strchr(arg, ':');
	size_t n = colon ? (size_t)(colon - arg) : strlen(arg);
	char buf[64];

	if (!n || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, arg, n);
	buf[n] = '\0';
	if (parse_size(buf, off) < 0)
		return -EINVAL;
	*len = 0;
	if (!colon || !colon[1] || !strcmp(colon + 1, "end"))
		return 0;
	if (parse_size(colon + 1, len) < 0 || !*len)
		return -EINVAL;
	return 0;
}

/* "50M", "50M/s", "1G": bytes per second */
static int parse_rate(const char *arg, uint64_t *ret)
{
	size_t n = strlen(arg);
	char buf[64];

	if (n > 2 && !strcmp(arg + n - 2, "/s"))
		n -= 2;
	if (!n || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, arg, n);
	buf[n] = '\0';
	if (parse_size(buf, ret) < 0 || !*ret)
		return -EINVAL;
	return 0;
}

static int walk_verb(int argc, char **argv, const char *verb, int op,
		     bool snap)
{
	static const struct option longopts[] = {
		{ "recursive", no_argument, NULL, 'r' },
		{ "follow", no_argument, NULL, 'L' },
		{ "one-file-system", no_argument, NULL, 'x' },
		{ "exclude", required_argument, NULL, OPT_EXCLUDE },
		{ "include", required_argument, NULL, OPT_INCLUDE },
		{ "from", required_argument, NULL, OPT_FROM },
		{ "null", no_argument, NULL, '0' },
		{ "output-all", no_argument, NULL, OPT_OUTPUT_ALL },
		{ "total", no_argument, NULL, 'c' },
		{ "progress", no_argument, NULL, OPT_PROGRESS },
		{ "no-progress", no_argument, NULL, OPT_NO_PROGRESS },
		{ "read", no_argument, NULL, OPT_READ },
		{ "wait", no_argument, NULL, OPT_WAIT },
		{ "queue-depth", required_argument, NULL, 'd' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "backend", no_argument, NULL, OPT_BACKEND },
		{ "range", required_argument, NULL, OPT_RANGE },
		{ "max-rate", required_argument, NULL, OPT_MAX_RATE },
		{ "restore", required_argument, NULL, OPT_RESTORE },
		{ "write", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	struct common_opts co = { .verb = verb,
				  .honours = snap ? 0 : COMMON_TABLE };
	struct snap_out snap_out;
	struct snap_in snap_in = { 0 };
	uint64_t *rng = NULL, max_rate = 0;
	size_t nrng = 0;
	const char *restore = NULL, *write_to = NULL;
	const int *defcols;
	int ndef;
	struct table_opts to = { 0 };
	struct run run = { .verb = verb, .op = op };
	struct cachectl_ctx *ctx = NULL;
	struct cachectl_walk *w = NULL;
	struct cachectl_totals tot;
	unsigned int wflags = 0, rflags = 0, depth = 0, jobs = 0;
	unsigned int timeout_s = 5;
	const char *from = NULL;
	bool nul = false, total = false, all = false;
	bool empty = false, backend_only = false;
	size_t nfrom = 0, nbad = 0;
	int progress = -1;
	int c, r, backend = 0;
	char **excl = NULL, **incl = NULL;
	size_t nexcl = 0, nincl = 0;
	size_t i;

	excl = calloc(argc, sizeof(char *));
	incl = calloc(argc, sizeof(char *));
	rng = calloc(argc * 2, sizeof(uint64_t));
	if (!excl || !incl || !rng) {
		fprintf(stderr, "%s: out of memory\n", program_name);
		return EXIT_FAILURE;
	}
	while ((c = common_getopt(argc, argv, snap ? "rLx0j:w:" : "rLx0cd:j:",
				  longopts, &co)) != -1) {
		switch (c) {
		case 'r':
			wflags |= CACHECTL_WALK_RECURSIVE;
			break;
		case 'L':
			wflags |= CACHECTL_WALK_FOLLOW;
			break;
		case 'x':
			wflags |= CACHECTL_WALK_ONE_FS;
			break;
		case OPT_EXCLUDE:
			excl[nexcl++] = optarg;
			break;
		case OPT_INCLUDE:
			incl[nincl++] = optarg;
			break;
		case OPT_FROM:
			from = optarg;
			break;
		case '0':
			nul = true;
			break;
		case OPT_OUTPUT_ALL:
			all = true;
			break;
		case 'c':
			total = true;
			break;
		case OPT_PROGRESS:
			progress = 1;
			break;
		case OPT_NO_PROGRESS:
			progress = 0;
			break;
		case OPT_READ:
		case OPT_WAIT:
		case 'd':
			if (op != CACHECTL_WALK_OP_PREFETCH)
				usage_error("option '%s' is only for prefetch",
					    argv[optind - 1]);
			if (c == OPT_READ)
				rflags |= CACHECTL_RUN_READ;
			else if (c == OPT_WAIT)
				rflags |= CACHECTL_RUN_WAIT;
			else if (parse_u32(optarg, 1, 4096, &depth) < 0)
				usage_error("invalid queue depth: '%s' "
					    "(1-4096)", optarg);
			break;
		case 'j':
			if (parse_u32(optarg, 1, 4096, &jobs) < 0)
				usage_error("invalid number of jobs: '%s' "
					    "(1-4096)", optarg);
			break;
		case OPT_TIMEOUT:
			if (parse_u32(optarg, 0, 86400, &timeout_s) < 0)
				usage_error("invalid timeout: '%s' "
					    "(0-86400 seconds)", optarg);
			break;
		case OPT_RANGE:
			if (parse_range(optarg, &rng[2 * nrng],
					&rng[2 * nrng + 1]) < 0)
				usage_error("invalid range: '%s' (OFF:LEN, OFF:end "
					    "or OFF:, sizes as 4K, 1M)", optarg);
			nrng++;
			break;
		case OPT_MAX_RATE:
		case OPT_RESTORE:
			if (op != CACHECTL_WALK_OP_PREFETCH)
				usage_error("option '%s' is only for prefetch",
					    argv[optind - 1]);
			if (c == OPT_RESTORE)
				restore = optarg;
			else if (parse_rate(optarg, &max_rate) < 0)
				usage_error("invalid rate: '%s' (bytes per "
					    "second, as 50M or 1G)", optarg);
			break;
		case 'w':
			write_to = optarg;
			break;
		case OPT_BACKEND:
			if (op != CACHECTL_WALK_OP_QUERY || snap)
				usage_error("option '%s' is only for status",
					    argv[optind - 1]);
			backend_only = true;
			break;
		case 'h':
			usage(verb, op, snap, &co);
			break;
		default:
			errtryhelp();
		}
	}
	to.json = co.json;
	to.bytes = co.bytes;
	to.noheadings = co.noheadings;
	to.raw = co.raw;
	if (backend_only && (optind < argc || from))
		usage_error("--backend takes no path");
	if (nul && !from)
		usage_error("-0 needs --from");
	if (restore && (optind < argc || from || nrng))
		usage_error("--restore takes its paths and ranges from the "
			    "snapshot: no PATH, --from or --range");
	if (op != CACHECTL_WALK_OP_QUERY && optind == argc && !from &&
	    !restore)
		usage_error("%s: no path given", verb);
	if (snap)
		rflags |= CACHECTL_RUN_RANGES;
	if (restore) {
		/* every link is its own line: each gets its own ranges */
		wflags |= CACHECTL_WALK_ALL_LINKS;
		if (snapshot_load(&snap_in, restore) < 0) {
			snapshot_free(&snap_in);
			free(excl);
			free(incl);
			free(rng);
			return EXIT_FAILURE;
		}
		run.restore = &snap_in;
	}

	ctx = tool_ctx(co.verbose, &backend);
	if (!ctx) {
		snapshot_free(&snap_in);
		free(excl);
		free(incl);
		free(rng);
		return EXIT_FAILURE;
	}
	if (backend_only) {
		printf("%s\n", cachectl_backend_name(backend));
		cachectl_unref(ctx);
		snapshot_free(&snap_in);
		free(excl);
		free(incl);
		free(rng);
		return EXIT_SUCCESS;
	}
	if (tool_caps(ctx) & CACHECTL_CAP_FSCACHE) {
		defcols = op == CACHECTL_WALK_OP_QUERY ? status_kcols : action_kcols;
		ndef = op == CACHECTL_WALK_OP_QUERY ?
		       (int)(sizeof(status_kcols) / sizeof(int)) :
		       (int)(sizeof(action_kcols) / sizeof(int));
	} else {
		defcols = op == CACHECTL_WALK_OP_QUERY ? status_cols : action_cols;
		ndef = op == CACHECTL_WALK_OP_QUERY ?
		       (int)(sizeof(status_cols) / sizeof(int)) :
		       (int)(sizeof(action_cols) / sizeof(int));
	}

	if (all)
		table_all_columns(&to);
	else if (co.output) {
		if (table_parse_columns(&to, co.output, defcols, ndef) < 0)
			errtryhelp();
	} else {
		memcpy(to.cols, defcols, ndef * sizeof(int));
		to.ncols = ndef;
	}
	run.quiet_rows = (op != CACHECTL_WALK_OP_QUERY && !to.json && !co.output &&
			  !all && !total) || snap;
	run.progress = progress < 0 ? isatty(STDERR_FILENO) : progress;
	/* nothing printed needs a residency: the library then asks for none */
	if (op == CACHECTL_WALK_OP_PREFETCH && run.quiet_rows &&
	    !run.progress && !co.verbose)
		rflags |= CACHECTL_RUN_NO_RESIDENCY;
	progress_init(&run.pl, &run.guard);
	run.guard.timeout_ms = timeout_s * 1000;
	if (guard_start(&run.guard) < 0) {
		fprintf(stderr, "%s: cannot start the guard thread\n",
			program_name);
		cachectl_unref(ctx);
		snapshot_free(&snap_in);
		free(excl);
		free(incl);
		free(rng);
		return EXIT_FAILURE;
	}

	r = cachectl_walk_new(ctx, wflags, &w);
	for (i = 0; r >= 0 && i < nexcl; i++)
		r = cachectl_walk_add_exclude(w, excl[i]);
	for (i = 0; r >= 0 && i < nincl; i++)
		r = cachectl_walk_add_include(w, incl[i]);
	if (r == -EINVAL)
		usage_error("empty pattern");
	for (c = optind; r >= 0 && c < argc; c++) {
		guard_add_root(&run.guard, argv[c]);
		r = cachectl_walk_add_path(w, argv[c]);
		if (r == -EINVAL)
			usage_error("empty path");
	}
	if (r >= 0 && from)
		r = add_from(w, &run.guard, from, nul, &nfrom, &nbad);
	for (i = 0; r >= 0 && i < snap_in.n; i++) {
		guard_add_root(&run.guard, snap_in.recs[i].path);
		r = cachectl_walk_add_path(w, snap_in.recs[i].path);
	}
	if (restore) {
		nbad += snap_in.bad;
		/* nothing (left) to restore is nothing to do */
		empty = !snap_in.n;
		if (r >= 0)
			r = cachectl_walk_set_range_fn(w, snapshot_range_fn,
						       &snap_in);
	}
	for (i = 0; r >= 0 && i < nrng; i++)
		r = cachectl_walk_add_range(w, rng[2 * i], rng[2 * i + 1]);
	if (r == -EINVAL && nrng)
		usage_error("range beyond 2^64 bytes");
	if (r >= 0 && max_rate)
		r = cachectl_walk_set_max_rate(w, max_rate);
	if (r >= 0 && optind == argc && !from && !restore) {
		guard_add_root(&run.guard, ".");
		r = cachectl_walk_add_path(w, ".");
	}
	/* an empty --from list (find matched nothing) is nothing to do */
	if (r >= 0 && optind == argc && from && !nfrom)
		empty = true;
	if (r >= 0 && depth)
		r = cachectl_walk_set_queue_depth(w, depth);
	if (r >= 0 && jobs)
		r = cachectl_walk_set_jobs(w, jobs);
	if (r >= 0)
		r = cachectl_walk_set_timeout(w, timeout_s * 1000);
	/* also the guard's heartbeat */
	if (r >= 0)
		r = cachectl_walk_set_progress_fn(w, show_progress, &run,
						  run.progress ? 200 : 100);
	if (r >= 0 && !run.quiet_rows) {
		run.table = table_new(&to);
		if (!run.table)
			r = -ENOMEM;
	}
	if (r < 0) {
		fprintf(stderr, "%s: %s\n", program_name, strerror(-r));
		goto out;
	}

	if (snap) {
		r = snapshot_open(&snap_out, write_to);
		if (r < 0)
			goto out;
		run.snap = &snap_out;
	}
	if (empty) {
		if (!run.quiet_rows)
			table_finish(run.table, "total", &(struct cachectl_totals){ 0 },
				     total);
		r = nbad ? 1 : 0;
		goto out;
	}
	guard_tick(&run.guard);
	guard_supervise(&run.guard);
	r = cachectl_walk_run(w, op, rflags, on_entry, &run);
	clear_progress(&run);
	if (run.snap) {
		int rs = snapshot_close(run.snap, r >= 0);

		run.snap = NULL;
		if (r >= 0 && rs < 0)
			r = rs;
		if (run.snap_err)
			r = run.snap_err;
	}
	/* files deleted since the snapshot are not failures */
	if (r == 1 && run.gone && run.failed == 0)
		r = 0;
	if (r == 0 && run.untold)
		r = 1;
	if (op == CACHECTL_WALK_OP_QUERY)
		offline_status_note(argv + optind, argc - optind);
	if (r < 0 && cachectl_error_is_gone(r)) {
		cachectl_walk_get_totals(w, &tot, sizeof(tot));
		fprintf(stderr, "%s: ", program_name);
		if (run.guard.nmounts)
			guard_print_mounts(&run.guard, stderr);
		else
			fputs("a filesystem on the way", stderr);
		fprintf(stderr, ": %s: is the server gone? Stopped after "
			"%llu files\n",
			r == -ETIMEDOUT ? "no answer in time" : strerror(-r),
			(unsigned long long)tot.files);
		goto out;
	}
	if (r < 0) {
		if (r != -EIO || !snap)
			fprintf(stderr, "%s: %s\n", program_name,
				strerror(-(run.table_err ? run.table_err : r)));
		goto out;
	}
	cachectl_walk_get_totals(w, &tot, sizeof(tot));
	if (!run.quiet_rows && table_finish(run.table, "total", &tot, total)) {
		fprintf(stderr, "%s: cannot print the table\n", program_name);
		r = -EIO;
		goto out;
	}
	/* lines of --from that named no path count as files that failed */
	if (!r && nbad)
		r = 1;
	if (tot.unknown && co.verbose)
		fprintf(stderr, "%s: the kernel would not say how much of %llu "
			"file(s) is cached (cachestat needs write access or "
			"ownership)\n", program_name,
			(unsigned long long)tot.unknown);
out:
	if (run.snap)
		snapshot_close(run.snap, false);
	snapshot_free(&snap_in);
	free(rng);
	table_free(run.table);
	cachectl_walk_unref(w);
	cachectl_unref(ctx);
	free(excl);
	free(incl);
	r = r < 0 ? EXIT_FAILURE : r == 0 ? EXIT_SUCCESS :
	    run.ok ? EXIT_PARTIAL : EXIT_FAILURE;
	if (run.guard.sh)
		guard_done(&run.guard, r);
	guard_free(&run.guard);
	return r;
}

int verb_status(int argc, char **argv)
{
	return walk_verb(argc, argv, "status", CACHECTL_WALK_OP_QUERY, false);
}

int verb_prefetch(int argc, char **argv)
{
	return walk_verb(argc, argv, "prefetch", CACHECTL_WALK_OP_PREFETCH,
			 false);
}

int verb_evict(int argc, char **argv)
{
	return walk_verb(argc, argv, "evict", CACHECTL_WALK_OP_EVICT, false);
}

int verb_snapshot(int argc, char **argv)
{
	return walk_verb(argc, argv, "snapshot", CACHECTL_WALK_OP_QUERY, true);
}
