// SPDX-License-Identifier: GPL-2.0-or-later
/* pin, unpin, pins, monitor: pins are recorded, cachectld keeps them. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cachectl-tool.h"

enum {
	OPT_INHERIT = CHAR_MAX + 1,
	OPT_HARD,
	OPT_PRIORITY,
	OPT_BUDGET,
	OPT_SYSTEM,
	OPT_NO_PREFETCH,
	OPT_PROGRESS,
	OPT_NO_PROGRESS,
	OPT_OFFLINE,
};

static int scope_of(bool sys)
{
	return sys ? CACHECTL_SCOPE_SYSTEM : CACHECTL_SCOPE_USER;
}

static const char *scope_name(bool sys)
{
	return sys ? "system" : "user";
}

/* a context whose backend is checked (and named with -v), or exit 1 */
static struct cachectl_ctx *new_ctx(bool verbose, int *ret_backend)
{
	struct cachectl_ctx *ctx = tool_ctx(verbose, ret_backend);

	if (!ctx)
		exit(EXIT_FAILURE);
	return ctx;
}

static void store_error(const char *path, int r, bool sys)
{
	if (sys && (r == -EACCES || r == -EPERM || r == -EROFS))
		fprintf(stderr, "%s: %s: system pins need root (%s)\n",
			program_name, path, strerror(-r));
	else if (r == -EBADMSG)
		fprintf(stderr, "%s: %s: the pin store is damaged; it was left "
			"as it is for you to repair or remove\n", program_name,
			path);
	else if (r == -EPROTONOSUPPORT)
		fprintf(stderr, "%s: %s: not a pin store this cachectl "
			"understands; it was left as it is\n", program_name,
			path);
	else
		fprintf(stderr, "%s: %s: %s\n", program_name, path,
			strerror(-r));
}

/*
 * Connect to the scope's daemon. Returns 1 connected, 0 when none runs,
 * or a negative errno once said: one runs but cannot be talked to (busy
 * at its client limits, or broken), and nothing may act in its place.
 */
static int daemon_open(struct cachectl_ctx *ctx, bool sys,
		       struct cachectl_daemon **ret)
{
	int r = cachectl_daemon_connect(ctx, scope_of(sys), ret);

	if (r == 0)
		return 1;
	*ret = NULL;
	if (r == -ENOENT || r == -ECONNREFUSED)
		return 0;
	if (r == -EBUSY)
		fprintf(stderr, "%s: the %s cachectld is busy (at its client "
			"limits); try again later\n", program_name,
			scope_name(sys));
	else
		fprintf(stderr, "%s: cannot talk to the %s cachectld: %s\n",
			program_name, scope_name(sys), strerror(-r));
	return r;
}

/* Why cachectl_pin_new() refused @path, in words. */
static const char *pin_refusal(const char *path, int r)
{
	struct stat st;

	if (r == -EOPNOTSUPP)
		return "on a pseudo filesystem (such as /proc or /sys): its "
		       "files hold no data the page cache keeps";
	if (r != -EINVAL || stat(path, &st) < 0)
		return strerror(-r);
	if (S_ISFIFO(st.st_mode))
		return "a FIFO: only regular files and directories can be pinned";
	if (S_ISSOCK(st.st_mode))
		return "a socket: only regular files and directories can be pinned";
	if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
		return "a device: only regular files and directories can be pinned";
	return "not a regular file or directory";
}

static void pin_usage(const struct common_opts *co)
{
	printf("Usage:\n %s pin [options] PATH...\n\n"
	       "Pin files or trees: record them so cachectld keeps them cached,\n"
	       "and bring them in now.\n\n"
	       "Options:\n"
	       " -r, --recursive          pin the whole tree under each PATH\n"
	       "     --inherit            files created later under PATH are pinned too (needs -r)\n"
	       "     --hard               lock in memory (mlock) instead of refilling when evicted\n"
	       "     --priority N         -1000..1000 (default 0): lower gives way first\n"
	       "     --budget SIZE        keep at most SIZE bytes of this pin (e.g. 2G)\n"
	       "     --system             a system pin (/var/lib/cachectl; needs root)\n"
	       "     --no-prefetch        record only; leave reading to cachectld\n"
	       "     --progress           show a progress line (default: on a terminal)\n"
	       "     --no-progress        never show one\n"
	       , program_name);
	common_usage(co);
	printf("\nWith the kernel backend (fcachectl), files on fscache-backed network\n"
	       "filesystems are also pinned in the fscache cache, against culling.\n\n"
	       "For more details see cachectl(1) and cachectld(8).\n");
	exit(EXIT_SUCCESS);
}

/*
 * Ctrl-C while the first fill runs: the pins are recorded already, and
 * the user is told so on a clean line. Only write(2) in the handler, so
 * the words are made before the walk starts.
 */
static struct {
	char text[512];
	size_t len;
	struct progress *pl;
} interrupted;

static void on_interrupt(int sig)
{
	char buf[200];

	if (interrupted.pl && interrupted.pl->shown)
		(void)!write(STDERR_FILENO, buf,
			     progress_wipe_text(buf, sizeof(buf),
						interrupted.pl->len,
						interrupted.pl->plain));
	(void)!write(STDERR_FILENO, interrupted.text, interrupted.len);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void pin_progress_fn(struct cachectl_walk *w,
			    const struct cachectl_totals *t, void *data)
{
	progress_show(data, "pin", t);
}

static int pin_warn(struct cachectl_walk *w, const struct cachectl_entry *e,
		    void *data)
{
	int error = cachectl_entry_get_error(e);

	if (error < 0) {
		progress_clear(data);
		warnx_path(cachectl_entry_get_path(e), "%s", strerror(-error));
	}
	return 0;
}

/*
 * Bring the files the pins cover in now, with progress: their first fill.
 * One walk for all: the pins of one command line have the same flags.
 * @kept says who keeps them afterwards, for the words on Ctrl-C.
 */
static int prefetch(struct cachectl_pin **pins, int n, int recorded,
		    const char *kept, bool progress)
{
	struct sigaction sa = { .sa_handler = on_interrupt }, old_int, old_term;
	struct progress pl;
	struct cachectl_walk *w = NULL;
	int i, r = 0, k;

	for (i = 0; r >= 0 && i < n; i++) {
		if (!pins[i])
			continue;
		r = w ? cachectl_walk_add_path(w, cachectl_pin_get_path(pins[i])) :
			cachectl_pin_walk_new(pins[i], 0, &w);
	}
	if (!w)
		return r;
	progress_init(&pl, NULL);
	if (r >= 0 && progress)
		r = cachectl_walk_set_progress_fn(w, pin_progress_fn, &pl, 200);
	k = snprintf(interrupted.text, sizeof(interrupted.text),
		     "%s: interrupted: %d pin(s) recorded, not all of it "
		     "cached yet; %s\n", program_name, recorded, kept);
	interrupted.len = k < 0 ? 0 : MIN((size_t)k, sizeof(interrupted.text) - 1);
	interrupted.pl = &pl;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	if (r >= 0)
		r = cachectl_walk_run(w, CACHECTL_WALK_OP_PREFETCH, 0, pin_warn, &pl);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	interrupted.pl = NULL;
	progress_clear(&pl);
	cachectl_walk_unref(w);
	return r;
}

/*
 * A hard pin is a promise to lock: wait for cachectld's first answer
 * and say it when nothing could be locked, and why. The daemon answers
 * STATUS from its own state, so this costs it nothing; 30 s covers a
 * big tree's first locks on a busy machine.
 */
#define HARD_ANSWER_MS 30000

static int hard_answer(struct cachectl_daemon *d, const char *arg,
		       const char *path)
{
	struct cachectl_pin_status ps;
	struct timespec nap = { .tv_nsec = 100 * 1000000 };
	char sz[32];
	int waited, r = 0;

	for (waited = 0; waited < HARD_ANSWER_MS; waited += 100) {
		r = cachectl_daemon_get_status(d, path, &ps, sizeof(ps));
		if (r < 0)
			break;
		if (ps.locked || (ps.flags & CACHECTL_PIN_STATUS_SATISFIED))
			return 0;
		/* refused as a whole: nothing will come */
		if ((ps.flags & CACHECTL_PIN_STATUS_NO_MEMORY) &&
		    ps.shortfall >= ps.size)
			break;
		if (ps.flags & CACHECTL_PIN_STATUS_ERROR)
			break;
		nanosleep(&nap, NULL);
	}
	if (r < 0) {
		const char *why = cachectl_daemon_get_error(d);

		warnx_path(arg, "cachectld did not answer for the pin: %s",
			   why ? why : strerror(-r));
		return -1;
	}
	size_human(ps.size, sz, sizeof(sz));
	if (waited >= HARD_ANSWER_MS)
		warnx_path(arg, "cachectld has locked nothing of it in %d s; "
			   "'cachectl pins' shows how it goes", HARD_ANSWER_MS / 1000);
	else if (ps.flags & CACHECTL_PIN_STATUS_MEMLOCK)
		warnx_path(arg, "cannot lock %s: cachectld's RLIMIT_MEMLOCK is "
			   "too small and it lacks CAP_IPC_LOCK (raise its "
			   "'ulimit -l' or grant it CAP_IPC_LOCK); the pin stays "
			   "recorded", sz);
	else if (ps.flags & CACHECTL_PIN_STATUS_NO_MEMORY)
		warnx_path(arg, "cannot lock %s: not enough memory above "
			   "cachectld's reserve (pins of higher priority come "
			   "first); the pin stays recorded", sz);
	else
		warnx_path(arg, "cannot lock it: cachectld met an error (its "
			   "log says which); the pin stays recorded");
	return -1;
}

/* ---- pins kept by the kernel, on the fscache objects of files ---------- */

struct kpin_count {
	uint64_t done;		/* files pinned (or unpinned) */
	uint64_t no_fscache;	/* files not on an fscache-backed filesystem */
	uint64_t failed;	/* files that failed, each named */
	bool unpin;
};

static const char *kpin_error(int error)
{
	switch (-error) {
	case ENOBUFS:
		return "no cache holds it";
	case EPERM:
		return "needs ownership or CAP_FOWNER";
	case EOPNOTSUPP:
		return "not on an fscache-backed filesystem";
	}
	return strerror(-error);
}

static int kpin_entry(struct cachectl_walk *w, const struct cachectl_entry *e,
		      void *data)
{
	struct kpin_count *kc = data;
	int r = cachectl_entry_get_error(e);

	if (r == 0) {
		kc->done++;
	} else if (r == -EOPNOTSUPP) {
		kc->no_fscache++;
	} else if (r == -ENOBUFS && kc->unpin) {
		/* no cache holds it, so nothing of it is pinned */
	} else if (r == -ENOENT || r == -ELOOP || r == -ENOTDIR) {
		/* paths the walk could not reach were named by the walk before */
	} else {
		warnx_path(cachectl_entry_get_path(e), "cannot %s in fscache: %s",
			   kc->unpin ? "unpin" : "pin", kpin_error(r));
		kc->failed++;
	}
	return 0;
}

/* a file still covered by another pin of the store is left pinned */
static int still_pinned(struct cachectl_walk *w, const char *file, void *data)
{
	return cachectl_pinstore_covers(data, file) > 0;
}

/* The kernel's pin walk of @path: CACHECTL_WALK_OP_PIN or _UNPIN. */
static int kpin_path(struct cachectl_ctx *ctx, const char *path,
		     bool recursive, struct cachectl_pinstore *keep,
		     struct kpin_count *kc)
{
	struct cachectl_walk *w;
	int r;

	r = cachectl_walk_new(ctx, recursive ? CACHECTL_WALK_RECURSIVE : 0, &w);
	if (r < 0)
		return r;
	r = cachectl_walk_add_path(w, path);
	if (r >= 0)
		r = cachectl_walk_set_timeout(w, 5000);
	if (r >= 0 && keep)
		r = cachectl_walk_set_filter_fn(w, still_pinned, keep);
	if (r >= 0)
		r = cachectl_walk_run(w, kc->unpin ? CACHECTL_WALK_OP_UNPIN :
				      CACHECTL_WALK_OP_PIN, 0, kpin_entry, kc);
	cachectl_walk_unref(w);
	return r < 0 ? r : 0;
}

/*
 * Kernel backend: pin the fscache object of every file the pins cover.
 * Returns the number of paths with a file that could not be pinned.
 */
static int kernel_pin(struct cachectl_ctx *ctx, char **paths, int n,
		      unsigned int pflags, struct kpin_count *kc)
{
	int i, r, failed = 0;

	for (i = 0; i < n; i++) {
		uint64_t before = kc->failed;

		if (!paths[i])
			continue;
		r = kpin_path(ctx, paths[i], pflags & CACHECTL_PIN_RECURSIVE,
			      NULL, kc);
		if (r < 0)
			warnx_path(paths[i], "cannot pin in fscache: %s",
				   strerror(-r));
		if (r < 0 || kc->failed > before)
			failed++;
	}
	if (kc->done || kc->failed)
		printf("pinned %llu files in fscache (kernel)\n",
		       (unsigned long long)kc->done);
	if (kc->no_fscache)
		fprintf(stderr, "%s: %llu files are not on an fscache-backed "
			"filesystem; kept by cachectld only\n", program_name,
			(unsigned long long)kc->no_fscache);
	return failed;
}

int verb_pin(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "recursive", no_argument, NULL, 'r' },
		{ "inherit", no_argument, NULL, OPT_INHERIT },
		{ "hard", no_argument, NULL, OPT_HARD },
		{ "priority", required_argument, NULL, OPT_PRIORITY },
		{ "budget", required_argument, NULL, OPT_BUDGET },
		{ "system", no_argument, NULL, OPT_SYSTEM },
		{ "no-prefetch", no_argument, NULL, OPT_NO_PREFETCH },
		{ "progress", no_argument, NULL, OPT_PROGRESS },
		{ "no-progress", no_argument, NULL, OPT_NO_PROGRESS },
		{ NULL, 0, NULL, 0 },
	};
	unsigned int flags = 0;
	int priority = 0, progress = -1, c, i, r, failed = 0, ok = 0;
	int backend = 0;
	uint64_t budget = 0;
	struct common_opts co = { .verb = "pin" };
	bool sys = false, do_prefetch = true;
	struct kpin_count kc = { 0 };
	struct cachectl_ctx *ctx;
	struct cachectl_daemon *d = NULL;
	struct cachectl_pinstore *st = NULL;
	struct cachectl_pin **pins;
	char **done;

	while ((c = common_getopt(argc, argv, "r", longopts, &co)) != -1) {
		switch (c) {
		case 'r':
			flags |= CACHECTL_PIN_RECURSIVE;
			break;
		case OPT_INHERIT:
			flags |= CACHECTL_PIN_INHERIT;
			break;
		case OPT_HARD:
			flags |= CACHECTL_PIN_HARD;
			break;
		case OPT_PRIORITY: {
			char *end;
			long v;

			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || *end || !*optarg ||
			    v < CACHECTL_PRIORITY_MIN || v > CACHECTL_PRIORITY_MAX)
				usage_error("invalid priority: '%s' (%d..%d)",
					    optarg, CACHECTL_PRIORITY_MIN,
					    CACHECTL_PRIORITY_MAX);
			priority = (int)v;
			break;
		}
		case OPT_BUDGET:
			if (parse_size(optarg, &budget) < 0 || !budget)
				usage_error("invalid budget: '%s' (e.g. 512M, 2G)",
					    optarg);
			break;
		case OPT_SYSTEM:
			sys = true;
			break;
		case OPT_NO_PREFETCH:
			do_prefetch = false;
			break;
		case OPT_PROGRESS:
			progress = 1;
			break;
		case OPT_NO_PROGRESS:
			progress = 0;
			break;
		case 'h':
			pin_usage(&co);
			break;
		default:
			errtryhelp();
		}
	}
	if ((flags & CACHECTL_PIN_INHERIT) && !(flags & CACHECTL_PIN_RECURSIVE))
		usage_error("--inherit needs -r");
	if (optind == argc)
		usage_error("pin: no path given");
	if (sys && geteuid() != 0) {
		fprintf(stderr, "%s: system pins need root\n", program_name);
		return EXIT_FAILURE;
	}

	ctx = new_ctx(co.verbose, &backend);
	done = calloc(argc, sizeof(*done));
	pins = calloc(argc, sizeof(*pins));
	if (!done || !pins) {
		fprintf(stderr, "%s: out of memory\n", program_name);
		return EXIT_FAILURE;
	}
	/* a daemon that runs keeps the store: never write it behind its back */
	if (daemon_open(ctx, sys, &d) < 0) {
		free(done);
		free(pins);
		cachectl_unref(ctx);
		return EXIT_FAILURE;
	}
	if (!d) {
		r = cachectl_pinstore_open(ctx, scope_of(sys), &st);
		if (r < 0) {
			char *dir = NULL;

			/* name the store even though it could not be read */
			if (asprintf(&dir, "%s pin store", scope_name(sys)) < 0)
				dir = NULL;
			store_error(dir ? dir : "pin store", r, sys);
			free(dir);
			free(done);
			free(pins);
			cachectl_unref(ctx);
			return EXIT_FAILURE;
		}
	}

	for (i = optind; i < argc; i++) {
		struct cachectl_pin *pin = NULL;
		int fd;

		r = cachectl_pin_new(ctx, argv[i], flags, &pin);
		if (r < 0) {
			warnx_path(argv[i], "cannot pin: %s", pin_refusal(argv[i], r));
			failed++;
			continue;
		}
		/* a pin needs read access; say so before recording anything */
		fd = open(cachectl_pin_get_path(pin),
			  O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
		if (fd < 0) {
			warnx_path(argv[i], "cannot pin: %s (a pin needs read "
				   "access)", strerror(errno));
			cachectl_pin_unref(pin);
			failed++;
			continue;
		}
		close(fd);
		cachectl_pin_set_priority(pin, priority);
		cachectl_pin_set_budget(pin, budget);
		if (d) {
			r = cachectl_daemon_pin(d, pin);
			if (r < 0) {
				const char *why = cachectl_daemon_get_error(d);

				warnx_path(argv[i], "cannot pin: %s",
					   why ? why : strerror(-r));
			}
		} else {
			r = cachectl_pinstore_add(st, pin);
			if (r < 0)
				store_error(cachectl_pinstore_get_path(st), r, sys);
		}
		if (r < 0) {
			cachectl_pin_unref(pin);
			failed++;
			continue;
		}
		pins[i] = pin;
		done[i] = argv[i];
		ok++;
	}

	if (ok && do_prefetch) {
		bool show = progress < 0 ? isatty(STDERR_FILENO) : progress;

		r = prefetch(pins + optind, argc - optind, ok,
			     d ? "cachectld fills the rest" :
			     "no cachectld is running, so nothing fills the rest",
			     show);
		if (r != 0)
			failed++;
	}
	if (ok && d && (flags & CACHECTL_PIN_HARD))
		for (i = optind; i < argc; i++)
			if (pins[i] && hard_answer(d, argv[i],
					cachectl_pin_get_path(pins[i])) < 0) {
				/* recorded, but not what was asked */
				failed++;
				ok--;
			}
	if (ok && (tool_caps(ctx) & CACHECTL_CAP_PIN))
		failed += kernel_pin(ctx, done + optind, argc - optind, flags,
				     &kc);
	if (ok && !d && kc.done)
		fprintf(stderr, "%s: recorded %d pin(s) in %s, but no cachectld "
			"is running: the kernel keeps the %llu fscache-pinned "
			"file(s) in the fscache cache, but nothing keeps the "
			"page cache filled yet (start 'cachectld%s', or "
			"'systemctl %sstart cachectld')\n",
			program_name, ok, cachectl_pinstore_get_path(st),
			(unsigned long long)kc.done,
			sys ? " --system" : "", sys ? "" : "--user ");
	else if (ok && !d)
		fprintf(stderr, "%s: recorded %d pin(s) in %s, but no cachectld "
			"is running: nothing keeps them cached yet (start "
			"'cachectld%s', or 'systemctl %sstart cachectld')\n",
			program_name, ok, cachectl_pinstore_get_path(st),
			sys ? " --system" : "", sys ? "" : "--user ");

	for (i = optind; i < argc; i++)
		cachectl_pin_unref(pins[i]);
	free(pins);
	cachectl_pinstore_unref(st);
	cachectl_daemon_unref(d);
	cachectl_unref(ctx);
	free(done);
	if (!failed)
		return EXIT_SUCCESS;
	return ok ? EXIT_PARTIAL : EXIT_FAILURE;
}

static void unpin_usage(const struct common_opts *co)
{
	printf("Usage:\n %s unpin [options] PATH...\n\n"
	       "Forget pins; the data stays cached until the kernel needs the memory.\n"
	       "With the kernel backend, the files' fscache objects are unpinned too\n"
	       "(unless another pin still covers them).\n\n"
	       "Options:\n"
	       " -r, --recursive          unpin the fscache objects of the whole tree, whatever\n"
	       "                            the pin covered (kernel backend)\n"
	       "     --system             a system pin (needs root)\n",
	       program_name);
	common_usage(co);
	printf("\nFor more details see cachectl(1).\n");
	exit(EXIT_SUCCESS);
}

/* Kernel backend: unpin the fscache objects of a pin that went away. */
static int kernel_unpin(struct cachectl_ctx *ctx, struct cachectl_pinstore *st,
			const struct cachectl_pin *pin, bool recursive,
			struct kpin_count *kc)
{
	uint64_t before = kc->failed;
	int r;

	/* what is left in the store: files other pins cover stay pinned */
	cachectl_pinstore_reload(st);
	r = kpin_path(ctx, cachectl_pin_get_path(pin),
		      recursive ||
		      (cachectl_pin_get_flags(pin) & CACHECTL_PIN_RECURSIVE),
		      st, kc);
	if (r < 0)
		warnx_path(cachectl_pin_get_path(pin),
			   "cannot unpin in fscache: %s", strerror(-r));
	return r < 0 || kc->failed > before;
}

int verb_unpin(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "recursive", no_argument, NULL, 'r' },
		{ "system", no_argument, NULL, OPT_SYSTEM },
		{ NULL, 0, NULL, 0 },
	};
	struct cachectl_ctx *ctx;
	struct cachectl_daemon *d = NULL;
	struct cachectl_pinstore *st = NULL, *kst = NULL;
	struct kpin_count kc = { .unpin = true };
	int c, i, r, failed = 0, ok = 0, backend = 0;
	struct common_opts co = { .verb = "unpin" };
	bool sys = false, recursive = false;

	while ((c = common_getopt(argc, argv, "r", longopts, &co)) != -1) {
		switch (c) {
		case 'r':
			recursive = true;
			break;
		case OPT_SYSTEM:
			sys = true;
			break;
		case 'h':
			unpin_usage(&co);
			break;
		default:
			errtryhelp();
		}
	}
	if (optind == argc)
		usage_error("unpin: no path given");
	if (sys && geteuid() != 0) {
		fprintf(stderr, "%s: system pins need root\n", program_name);
		return EXIT_FAILURE;
	}
	ctx = new_ctx(co.verbose, &backend);
	r = daemon_open(ctx, sys, &d);
	if (r < 0) {
		cachectl_unref(ctx);
		return EXIT_FAILURE;
	}
	if (!d) {
		r = cachectl_pinstore_open(ctx, scope_of(sys), &st);
		if (r < 0) {
			store_error("pin store", r, sys);
			cachectl_unref(ctx);
			return EXIT_FAILURE;
		}
	}
	/* which files a pin covers is in the store, also when a daemon runs */
	if (tool_caps(ctx) & CACHECTL_CAP_PIN) {
		kst = cachectl_pinstore_ref(st);
		if (!kst && (r = cachectl_pinstore_open(ctx, scope_of(sys),
							&kst)) < 0)
			fprintf(stderr, "%s: cannot read the pin store (%s): "
				"pins in fscache are left as they are\n",
				program_name, strerror(-r));
	}
	for (i = optind; i < argc; i++) {
		struct cachectl_pin *pin = NULL;

		if (kst)
			(void)cachectl_pinstore_find(kst, argv[i], &pin);
		r = d ? cachectl_daemon_unpin(d, argv[i])
		      : cachectl_pinstore_remove(st, argv[i]);
		if (r >= 0 && pin && kernel_unpin(ctx, kst, pin, recursive, &kc))
			failed++;
		cachectl_pin_unref(pin);
		if (r == -ENOENT)
			warnx_path(argv[i], "not pinned");
		else if (r < 0 && d && cachectl_daemon_get_error(d))
			warnx_path(argv[i], "%s", cachectl_daemon_get_error(d));
		else if (r < 0)
			store_error(argv[i], r, sys);
		if (r < 0)
			failed++;
		else
			ok++;
	}
	if (kc.done || kc.failed)
		printf("unpinned %llu files in fscache (kernel)\n",
		       (unsigned long long)kc.done);
	cachectl_pinstore_unref(kst);
	cachectl_pinstore_unref(st);
	cachectl_daemon_unref(d);
	cachectl_unref(ctx);
	if (!failed)
		return EXIT_SUCCESS;
	return ok ? EXIT_PARTIAL : EXIT_FAILURE;
}

/* ---- pins ---------------------------------------------------------------- */

static void pins_usage(const struct common_opts *co)
{
	printf("Usage:\n %s pins [options]\n\n"
	       "List pins with their live state: from cachectld when it runs,\n"
	       "else measured now. FSCACHE and KPINNED are the kernel's truth,\n"
	       "measured now (kernel backend; '-' with the shim).\n\n"
	       "Options:\n"
	       "     --system             the system pins\n", program_name);
	common_usage(co);
	printf("\nAvailable output columns:\n"
	       "        PATH  the pinned file or directory\n"
	       "        MODE  soft (refilled when evicted) or hard (locked)\n"
	       "        OPTS  r: recursive, i: inherit (-J: RECURSIVE, INHERIT)\n"
	       "        PRIO  priority, lower gives way first (-J: PRIORITY)\n"
	       "      BUDGET  most bytes kept of the pin, '-' for no limit\n"
	       "       FILES  files the pin covers\n"
	       "        SIZE  their size\n"
	       "      CACHED  bytes of them in the page cache\n"
	       "         PCT  percentage cached\n"
	       "      LOCKED  bytes locked in memory (hard pins)\n"
	       "   SHORTFALL  bytes the budget or memory left out\n"
	       "     FSCACHE  bytes in the fscache cache (kernel backend)\n"
	       "     KPINNED  files pinned in fscache, of those on it (-J: KPINNED, KFILES)\n"
	       "      STATUS  kept, filling, over-budget, no-memory, error, no-daemon\n"
	       "      HOLDER  who holds a pin kept only while it runs (e.g. a Slurm\n"
	       "              job), '-' for the store's; shown when there are such pins\n\n"
	       "For more details see cachectl(1).\n");
	exit(EXIT_SUCCESS);
}

/* OPTS and PRIO for people; RECURSIVE, INHERIT, PRIORITY for programs */
/* KPINNED "n/m" for people; KPINNED (n) and KFILES (m) for programs */
enum { P_PATH, P_MODE, P_OPTS, P_RECURSIVE, P_INHERIT, P_PRIO, P_PRIORITY,
       P_BUDGET, P_FILES, P_SIZE, P_CACHED, P_PCT, P_LOCKED, P_SHORT,
       P_FSCACHE, P_KPINNED, P_KPINNED_N, P_KFILES, P_STATUS, P_HOLDER,
       P_NCOLS };

static const struct {
	const char *name;
	int flags, json;
} pcols[P_NCOLS] = {
	[P_PATH] = { "PATH", 0, SCOLS_JSON_STRING },
	[P_MODE] = { "MODE", 0, SCOLS_JSON_STRING },
	[P_OPTS] = { "OPTS", 0, SCOLS_JSON_STRING },
	[P_RECURSIVE] = { "RECURSIVE", 0, SCOLS_JSON_BOOLEAN },
	[P_INHERIT] = { "INHERIT", 0, SCOLS_JSON_BOOLEAN },
	[P_PRIO] = { "PRIO", SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER },
	[P_PRIORITY] = { "PRIORITY", SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER },
	[P_BUDGET] = { "BUDGET", SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER },
	[P_FILES] = { "FILES", SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER },
	[P_SIZE] = { "SIZE", SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER },
	[P_CACHED] = { "CACHED", SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER },
	[P_PCT] = { "PCT", SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER },
	[P_LOCKED] = { "LOCKED", SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER },
	[P_SHORT] = { "SHORTFALL", SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER },
	[P_FSCACHE] = { "FSCACHE", SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER },
	[P_KPINNED] = { "KPINNED", SCOLS_FL_RIGHT, SCOLS_JSON_STRING },
	[P_KPINNED_N] = { "KPINNED", SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER },
	[P_KFILES] = { "KFILES", SCOLS_FL_RIGHT, SCOLS_JSON_NUMBER },
	[P_STATUS] = { "STATUS", 0, SCOLS_JSON_STRING },
	[P_HOLDER] = { "HOLDER", 0, SCOLS_JSON_STRING },
};

static void set_size(struct libscols_line *ln, int col, uint64_t v, bool bytes)
{
	char buf[32];

	if (bytes)
		snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
	else
		size_human(v, buf, sizeof(buf));
	scols_line_set_data(ln, col, buf);
}

static const char *status_word(const struct cachectl_pin_status *ps, bool live,
			       bool daemon)
{
	if (!live)
		return daemon ? "not-loaded" : "no-daemon";
	if (ps->flags & CACHECTL_PIN_STATUS_ERROR)
		return "error";
	if ((ps->flags & CACHECTL_PIN_STATUS_NO_MEMORY) &&
	    (ps->flags & CACHECTL_PIN_STATUS_MEMLOCK))
		return "memlock-limit";
	if (ps->flags & CACHECTL_PIN_STATUS_NO_MEMORY)
		return "no-memory";
	if (ps->flags & CACHECTL_PIN_STATUS_OVER_BUDGET)
		return "over-budget";
	if (ps->flags & CACHECTL_PIN_STATUS_UNKNOWN)
		return "unknown";
	if (ps->flags & CACHECTL_PIN_STATUS_SATISFIED)
		return "kept";
	return "filling";
}

/*
 * One row of cachectl pins: a stored pin, or a held one (@holder). @busy:
 * a daemon runs but took no connection (@d is NULL then).
 */
static int pin_row(struct libscols_table *tb, struct cachectl_ctx *ctx,
		   struct cachectl_daemon *d, bool busy,
		   const struct cachectl_pin *pin, const char *holder,
		   bool json, bool bytes)
{
	struct libscols_line *ln = scols_table_new_line(tb, NULL);
	int r, failed = 0;
	unsigned int f = cachectl_pin_get_flags(pin);
	struct cachectl_pin_status ps = { 0 };
	struct cachectl_pin_usage u = { 0 };
	bool live = false, kernel = tool_caps(ctx) & CACHECTL_CAP_FSCACHE;
	struct cc_escbuf esc = { 0 };
	char buf[64];

	if (!ln)
		return 1;
	if (d) {
		r = cachectl_daemon_get_status(d, cachectl_pin_get_path(pin),
					       &ps, sizeof(ps));
		live = r == 0;
	}
	/* one walk measures what the daemon does not tell */
	if ((!live || kernel) && cachectl_pin_measure(pin, &u, sizeof(u)) < 0)
		failed = 1;
	if (!live) {
		memset(&ps, 0, sizeof(ps));
		ps.files = u.files;
		ps.size = u.size;
		ps.cached = u.cached;
		if (u.errors)
			ps.flags |= CACHECTL_PIN_STATUS_ERROR;
	}
	scols_line_set_data(ln, P_PATH, json ? cachectl_pin_get_path(pin) :
			    name_esc(&esc, cachectl_pin_get_path(pin)));
	cc_escbuf_free(&esc);
	scols_line_set_data(ln, P_MODE, f & CACHECTL_PIN_HARD ? "hard" : "soft");
	snprintf(buf, sizeof(buf), "%s%s",
		 f & CACHECTL_PIN_RECURSIVE ? "r" : "-",
		 f & CACHECTL_PIN_INHERIT ? "i" : "-");
	scols_line_set_data(ln, P_OPTS, buf);
	scols_line_set_data(ln, P_RECURSIVE,
			    f & CACHECTL_PIN_RECURSIVE ? "1" : "0");
	scols_line_set_data(ln, P_INHERIT,
			    f & CACHECTL_PIN_INHERIT ? "1" : "0");
	snprintf(buf, sizeof(buf), "%d", cachectl_pin_get_priority(pin));
	scols_line_set_data(ln, P_PRIO, buf);
	scols_line_set_data(ln, P_PRIORITY, buf);
	if (cachectl_pin_get_budget(pin))
		set_size(ln, P_BUDGET, cachectl_pin_get_budget(pin), bytes || json);
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)ps.files);
	scols_line_set_data(ln, P_FILES, buf);
	set_size(ln, P_SIZE, ps.size, bytes || json);
	if (live && (ps.flags & CACHECTL_PIN_STATUS_UNKNOWN)) {
		/* the daemon cannot see it: no confident number */
		if (!json) {
			scols_line_set_data(ln, P_CACHED, "?");
			scols_line_set_data(ln, P_PCT, "?");
		}
	} else {
		set_size(ln, P_CACHED, ps.cached, bytes || json);
		snprintf(buf, sizeof(buf), "%.1f", ps.size ?
			 100.0 * (double)MIN(ps.cached, ps.size) /
			 (double)ps.size : 100.0);
		scols_line_set_data(ln, P_PCT, buf);
	}
	if (live) {
		set_size(ln, P_LOCKED, ps.locked, bytes || json);
		set_size(ln, P_SHORT, ps.shortfall, bytes || json);
	}
	if (u.flags & CACHECTL_PIN_USAGE_FSCACHE) {
		set_size(ln, P_FSCACHE, u.fscache, bytes || json);
		snprintf(buf, sizeof(buf), "%llu/%llu",
			 (unsigned long long)u.fscache_pinned,
			 (unsigned long long)u.fscache_files);
		scols_line_set_data(ln, P_KPINNED, buf);
		snprintf(buf, sizeof(buf), "%llu",
			 (unsigned long long)u.fscache_pinned);
		scols_line_set_data(ln, P_KPINNED_N, buf);
		snprintf(buf, sizeof(buf), "%llu",
			 (unsigned long long)u.fscache_files);
		scols_line_set_data(ln, P_KFILES, buf);
	} else if (!json) {
		/* the shim cannot see fscache */
		scols_line_set_data(ln, P_FSCACHE, "-");
		scols_line_set_data(ln, P_KPINNED, "-");
	}
	scols_line_set_data(ln, P_STATUS, busy ? "daemon-busy" :
			    status_word(&ps, live, d != NULL));
	if (holder)
		scols_line_set_data(ln, P_HOLDER, json ? holder : name_esc(&esc, holder));
	else if (!json)
		scols_line_set_data(ln, P_HOLDER, "-");
	cc_escbuf_free(&esc);
	return failed;
}

struct hold_rows {
	struct libscols_table *tb;
	struct cachectl_ctx *ctx;
	struct cachectl_daemon *d;
	bool json, bytes;
	int failed;
	size_t rows;
};

static int hold_row(const char *path, unsigned int flags, const char *holder,
		    unsigned int uid, void *data)
{
	struct hold_rows *hr = data;
	struct cachectl_pin *pin;
	char who[300];

	if (cachectl_pin_new(hr->ctx, path, flags, &pin) < 0) {
		hr->failed++;
		return 0;
	}
	snprintf(who, sizeof(who), "%s (uid %u)", holder, uid);
	hr->failed += pin_row(hr->tb, hr->ctx, hr->d, false, pin, who, hr->json,
			      hr->bytes);
	hr->rows++;
	cachectl_pin_unref(pin);
	return 0;
}

int verb_pins(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "system", no_argument, NULL, OPT_SYSTEM },
		{ NULL, 0, NULL, 0 },
	};
	struct common_opts co = { .verb = "pins", .honours = COMMON_TABLE };
	bool sys = false, json, bytes, busy;
	struct cachectl_ctx *ctx;
	struct cachectl_daemon *d = NULL, *hd = NULL;
	struct cachectl_pinstore *st = NULL;
	struct libscols_table *tb;
	int c, i, r, failed = 0, backend = 0;
	size_t k, holds = 0;

	while ((c = common_getopt(argc, argv, "", longopts, &co)) != -1) {
		switch (c) {
		case OPT_SYSTEM:
			sys = true;
			break;
		case 'h':
			pins_usage(&co);
			break;
		default:
			errtryhelp();
		}
	}
	if (optind != argc)
		usage_error("pins: unexpected argument '%s'", argv[optind]);
	json = co.json;
	bytes = co.bytes;
	ctx = new_ctx(co.verbose, &backend);
	r = cachectl_pinstore_open(ctx, scope_of(sys), &st);
	if (r < 0) {
		store_error("pin store", r, sys);
		cachectl_unref(ctx);
		return EXIT_FAILURE;
	}
	/* a busy daemon is said so: the figures are then measured now */
	busy = daemon_open(ctx, sys, &d) < 0;

	tb = scols_new_table();
	if (!tb) {
		fprintf(stderr, "%s: out of memory\n", program_name);
		return EXIT_FAILURE;
	}
	scols_table_set_name(tb, "pins");
	for (i = 0; i < P_NCOLS; i++) {
		struct libscols_column *cl;
		bool for_json = i == P_RECURSIVE || i == P_INHERIT ||
				i == P_PRIORITY || i == P_KPINNED_N ||
				i == P_KFILES;
		bool for_people = i == P_OPTS || i == P_PRIO || i == P_KPINNED;

		cl = scols_table_new_column(tb, pcols[i].name, 0, pcols[i].flags);
		if (!cl)
			continue;
		scols_column_set_json_type(cl, pcols[i].json);
		/* a hidden column is neither printed nor in the JSON */
		if ((json && for_people) || (!json && for_json))
			scols_column_set_flags(cl, pcols[i].flags | SCOLS_FL_HIDDEN);
	}
	for (k = 0; k < cachectl_pinstore_get_count(st); k++)
		failed += pin_row(tb, ctx, d, busy, cachectl_pinstore_get_pin(st, k),
				  NULL, json, bytes);
	/* a connection carries one request at a time: the rows' status
	 * requests go on d while the list comes on its own */
	if (d && cachectl_daemon_connect(ctx, scope_of(sys), &hd) == 0) {
		struct hold_rows hr = { tb, ctx, d, json, bytes, 0, 0 };

		if (cachectl_daemon_list_holds(hd, hold_row, &hr) < 0)
			failed++;
		failed += hr.failed;
		holds = hr.rows;
		cachectl_daemon_unref(hd);
	}
	/* only held pins have a holder: without any, the table is as it was
	 * (-o HOLDER still asks for it) */
	if (!holds) {
		struct libscols_column *cl = scols_table_get_column(tb, P_HOLDER);

		if (cl)
			scols_column_set_flags(cl, scols_column_get_flags(cl) |
					       SCOLS_FL_HIDDEN);
	}
	if (out_table_print(tb, &co) < 0)
		failed++;
	scols_unref_table(tb);
	if (busy && cachectl_pinstore_get_count(st))
		fprintf(stderr, "%s: the figures are measured now, not the "
			"daemon's\n", program_name);
	else if (!d && cachectl_pinstore_get_count(st))
		fprintf(stderr, "%s: no cachectld is running: the figures are "
			"measured now and nothing keeps these pins\n",
			program_name);
	cachectl_pinstore_unref(st);
	cachectl_daemon_unref(d);
	cachectl_unref(ctx);
	return failed || busy ? EXIT_PARTIAL : EXIT_SUCCESS;
}

/* ---- monitor ------------------------------------------------------------- */

static void monitor_usage(const struct common_opts *co)
{
	printf("Usage:\n %s monitor [options]\n\n"
	       "Print cachectld's events as they happen: pins satisfied, data\n"
	       "evicted and refilled, budgets and memory exceeded. Ends with\n"
	       "exit status 1 when the daemon goes away.\n\n"
	       "Options:\n"
	       "     --system             the system daemon\n"
	       "     --offline            the offline cache managers' events instead:\n"
	       "                          disconnected, connected, cache-full\n", program_name);
	common_usage(co);
	printf("\nWith -J, one JSON object a line.\n\n"
	       "For more details see cachectl(1).\n");
	exit(EXIT_SUCCESS);
}

static void print_event(const struct common_opts *co, const char *name,
			const char *path, uint64_t bytes)
{
	if (co->json) {
		struct outbuf o = { 0 };
		struct timespec now;
		struct tm tm;
		char num[32], ts[64];

		/* when it came, in UTC to the millisecond (ISO 8601) */
		clock_gettime(CLOCK_REALTIME, &now);
		gmtime_r(&now.tv_sec, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(num, sizeof(num), ".%03ldZ\"", now.tv_nsec / 1000000);
		/* one object a line, for line-by-line readers */
		out_puts(&o, "{\"time\": \"");
		out_puts(&o, ts);
		out_puts(&o, num);
		out_puts(&o, ", \"type\": ");
		out_json_string(&o, name);
		out_puts(&o, ", \"path\": ");
		if (path)
			out_json_string(&o, path);
		else
			out_puts(&o, "null");
		snprintf(num, sizeof(num), ", \"bytes\": %llu}\n",
			 (unsigned long long)bytes);
		out_puts(&o, num);
		out_flush(&o, stdout);
		out_free(&o);
	} else {
		struct cc_escbuf esc = { 0 };
		char t[32], h[32];
		time_t now = time(NULL);

		strftime(t, sizeof(t), "%H:%M:%S", localtime(&now));
		if (co->bytes)
			snprintf(h, sizeof(h), "%llu", (unsigned long long)bytes);
		else
			size_human(bytes, h, sizeof(h));
		printf("%s %-11s %7s %s\n", t, name, h,
		       path ? name_esc(&esc, path) : "-");
		cc_escbuf_free(&esc);
	}
}

/*
 * The daemon dropped us for falling behind: subscribe again, then say
 * where each pin stands now, as "status" lines (bytes: cached), since
 * the events in between are lost. Returns 0 or a negative errno.
 */
static int monitor_resync(struct cachectl_ctx *ctx, bool sys,
			  const struct common_opts *co,
			  struct cachectl_daemon **d)
{
	struct cachectl_daemon *q = NULL;
	struct cachectl_pinstore *st = NULL;
	size_t k;
	int r, i;

	fprintf(stderr, "%s: fell behind cachectld's events (overrun): "
		"reconnecting; events until now are lost, the pins' status "
		"follows\n", program_name);
	*d = cachectl_daemon_unref(*d);
	/* the daemon may still be busy with our old connection: a few tries */
	for (i = 0; i < 50; i++) {
		r = cachectl_daemon_connect(ctx, scope_of(sys), d);
		if (r != -EBUSY)
			break;
		usleep(100000);
	}
	if (r == 0)
		r = cachectl_daemon_subscribe(*d);
	if (r < 0)
		return r;
	if (cachectl_pinstore_open(ctx, scope_of(sys), &st) < 0 ||
	    cachectl_daemon_connect(ctx, scope_of(sys), &q) < 0) {
		cachectl_pinstore_unref(st);
		return 0;
	}
	for (k = 0; k < cachectl_pinstore_get_count(st); k++) {
		const char *path = cachectl_pin_get_path(cachectl_pinstore_get_pin(st, k));
		struct cachectl_pin_status ps;

		if (cachectl_daemon_get_status(q, path, &ps, sizeof(ps)) == 0)
			print_event(co, "status", path, ps.cached);
	}
	cachectl_daemon_unref(q);
	cachectl_pinstore_unref(st);
	return 0;
}

int verb_monitor(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "system", no_argument, NULL, OPT_SYSTEM },
		{ "offline", no_argument, NULL, OPT_OFFLINE },
		{ NULL, 0, NULL, 0 },
	};
	struct common_opts co = { .verb = "monitor",
				  .honours = COMMON_JSON | COMMON_BYTES };
	bool sys = false, offline = false;
	struct cachectl_ctx *ctx;
	struct cachectl_daemon *d;
	int c, r;

	while ((c = common_getopt(argc, argv, "", longopts, &co)) != -1) {
		switch (c) {
		case OPT_SYSTEM:
			sys = true;
			break;
		case OPT_OFFLINE:
			offline = true;
			break;
		case 'h':
			monitor_usage(&co);
			break;
		default:
			errtryhelp();
		}
	}
	if (optind != argc)
		usage_error("monitor: unexpected argument '%s'", argv[optind]);
	if (offline)
		return offline_monitor(co.json);
	ctx = new_ctx(co.verbose, NULL);
	r = cachectl_daemon_connect(ctx, scope_of(sys), &d);
	if (r == -EBUSY) {
		fprintf(stderr, "%s: the %s cachectld is busy (at its client "
			"limits); try again later\n", program_name,
			scope_name(sys));
		cachectl_unref(ctx);
		return EXIT_FAILURE;
	}
	if (r < 0) {
		fprintf(stderr, "%s: no %s cachectld to monitor: %s\n",
			program_name, scope_name(sys), strerror(-r));
		cachectl_unref(ctx);
		return EXIT_FAILURE;
	}
	r = cachectl_daemon_subscribe(d);
	/* events go to pipes and terminals alike, one line each */
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (r >= 0) {
		struct cachectl_event *e;
		int type;

		r = cachectl_daemon_next_event(d, -1, &e);
		if (r < 0)
			break;
		type = cachectl_event_get_type(e);
		print_event(&co, cachectl_event_name(type),
			    cachectl_event_get_path(e),
			    cachectl_event_get_bytes(e));
		cachectl_event_unref(e);
		if (type == CACHECTL_EVENT_OVERRUN)
			r = monitor_resync(ctx, sys, &co, &d);
	}
	fprintf(stderr, "%s: cachectld gone (%s)\n", program_name,
		strerror(-r));
	cachectl_daemon_unref(d);
	cachectl_unref(ctx);
	return EXIT_FAILURE;
}
