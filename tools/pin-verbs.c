// SPDX-License-Identifier: GPL-2.0-or-later
/* pin, unpin, pins, monitor: pins are recorded, cachectld keeps them. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <libsmartcols/libsmartcols.h>

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
};

static int scope_of(bool sys)
{
	return sys ? CACHECTL_SCOPE_SYSTEM : CACHECTL_SCOPE_USER;
}

static const char *scope_name(bool sys)
{
	return sys ? "system" : "user";
}

/* "512M", "1.5G", "4096": binary units, like the sizes we print. */
static int parse_size(const char *s, uint64_t *ret)
{
	static const char units[] = "BKMGTPE";
	char *end;
	double v;
	const char *u;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || v < 0)
		return -EINVAL;
	if (*end) {
		u = strchr(units, *end >= 'a' ? *end - 32 : *end);
		if (!u || (end[1] && strcmp(end + 1, "iB") && strcmp(end + 1, "B")))
			return -EINVAL;
		while (u-- > units)
			v *= 1024;
	}
	if (v > 9.2e18)
		return -ERANGE;
	*ret = (uint64_t)v;
	return 0;
}

static struct cachectl_ctx *new_ctx(void)
{
	struct cachectl_ctx *ctx;
	int r = cachectl_new(&ctx);

	if (r < 0) {
		fprintf(stderr, "%s: cannot initialise: %s\n", program_name,
			strerror(-r));
		exit(EXIT_FAILURE);
	}
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

static void pin_usage(void)
{
	printf("Usage:\n %s pin [options] PATH...\n\n"
	       "Pin files or trees: record them so cachectld keeps them cached,\n"
	       "and bring them in now.\n\n"
	       "Options:\n"
	       " -r, --recursive      pin the whole tree under each PATH\n"
	       "     --inherit        files created later under PATH are pinned too (needs -r)\n"
	       "     --hard           lock in memory (mlock) instead of refilling when evicted\n"
	       "     --priority N     -1000..1000 (default 0): lower gives way first\n"
	       "     --budget SIZE    keep at most SIZE bytes of this pin (e.g. 2G)\n"
	       "     --system         a system pin (/var/lib/cachectl; needs root)\n"
	       "     --no-prefetch    record only; leave reading to cachectld\n"
	       "     --progress       show a progress line (default: on a terminal)\n"
	       "     --no-progress    never show one\n"
	       " -h, --help           display this help\n\n"
	       "For more details see cachectl(1) and cachectld(8).\n", program_name);
	exit(EXIT_SUCCESS);
}

struct pin_progress {
	bool shown;
};

static void pin_progress_fn(struct cachectl_walk *w,
			    const struct cachectl_totals *t, void *data)
{
	struct pin_progress *p = data;
	char a[32], b[32];

	fprintf(stderr, "\r\033[Kpin: %llu files, %s of %s cached",
		(unsigned long long)t->files, size_human(t->cached, a, sizeof(a)),
		size_human(t->size, b, sizeof(b)));
	p->shown = true;
}

static int pin_warn(struct cachectl_walk *w, const struct cachectl_entry *e,
		    void *data)
{
	struct pin_progress *p = data;
	int error = cachectl_entry_get_error(e);

	if (error < 0) {
		if (p->shown)
			fputs("\r\033[K", stderr);
		p->shown = false;
		warnx_path(cachectl_entry_get_path(e), "%s", strerror(-error));
	}
	return 0;
}

/* Bring the pinned paths in now, with progress: the pin's first fill. */
static int prefetch(struct cachectl_ctx *ctx, char **paths, int n,
		    unsigned int pflags, bool progress)
{
	struct pin_progress p = { 0 };
	struct cachectl_walk *w;
	int i, r;

	r = cachectl_walk_new(ctx, pflags & CACHECTL_PIN_RECURSIVE ?
				   CACHECTL_WALK_RECURSIVE : 0, &w);
	for (i = 0; r >= 0 && i < n; i++)
		if (paths[i])
			r = cachectl_walk_add_path(w, paths[i]);
	if (r >= 0 && progress)
		r = cachectl_walk_set_progress_fn(w, pin_progress_fn, &p, 200);
	if (r >= 0)
		r = cachectl_walk_run(w, CACHECTL_OP_PREFETCH, 0, pin_warn, &p);
	if (p.shown)
		fputs("\r\033[K", stderr);
	cachectl_walk_unref(w);
	return r;
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
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned int flags = 0;
	int priority = 0, progress = -1, c, i, r, failed = 0, ok = 0;
	uint64_t budget = 0;
	bool sys = false, do_prefetch = true;
	struct cachectl_ctx *ctx;
	struct cachectl_daemon *d = NULL;
	struct cachectl_pinstore *st = NULL;
	char **done;

	argv[0] = (char *)program_name;
	while ((c = getopt_long(argc, argv, "rh", longopts, NULL)) != -1) {
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
			pin_usage();
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

	ctx = new_ctx();
	done = calloc(argc, sizeof(*done));
	if (!done) {
		fprintf(stderr, "%s: out of memory\n", program_name);
		return EXIT_FAILURE;
	}
	r = cachectl_daemon_connect(ctx, scope_of(sys), &d);
	if (r < 0 && r != -ENOENT && r != -ECONNREFUSED)
		fprintf(stderr, "%s: cannot talk to cachectld: %s\n",
			program_name, strerror(-r));
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
			cachectl_unref(ctx);
			return EXIT_FAILURE;
		}
	}

	for (i = optind; i < argc; i++) {
		struct cachectl_pin *pin = NULL;
		int fd;

		r = cachectl_pin_new(ctx, argv[i], flags, &pin);
		if (r < 0) {
			warnx_path(argv[i], "%s", strerror(-r));
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
		cachectl_pin_unref(pin);
		if (r < 0) {
			failed++;
			continue;
		}
		done[i] = argv[i];
		ok++;
	}

	if (ok && do_prefetch) {
		bool show = progress < 0 ? isatty(STDERR_FILENO) : progress;

		r = prefetch(ctx, done + optind, argc - optind, flags, show);
		if (r != 0)
			failed++;
	}
	if (ok && !d)
		fprintf(stderr, "%s: recorded %d pin(s) in %s, but no cachectld "
			"is running: nothing keeps them cached yet (start "
			"'cachectld%s', or 'systemctl %sstart cachectld')\n",
			program_name, ok, cachectl_pinstore_get_path(st),
			sys ? " --system" : "", sys ? "" : "--user ");

	cachectl_pinstore_unref(st);
	cachectl_daemon_unref(d);
	cachectl_unref(ctx);
	free(done);
	if (!failed)
		return EXIT_SUCCESS;
	return ok ? EXIT_PARTIAL : EXIT_FAILURE;
}

static void unpin_usage(void)
{
	printf("Usage:\n %s unpin [options] PATH...\n\n"
	       "Forget pins; the data stays cached until the kernel needs the memory.\n\n"
	       "Options:\n"
	       "     --system         a system pin (needs root)\n"
	       " -h, --help           display this help\n\n"
	       "For more details see cachectl(1).\n", program_name);
	exit(EXIT_SUCCESS);
}

int verb_unpin(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "system", no_argument, NULL, OPT_SYSTEM },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cachectl_ctx *ctx;
	struct cachectl_daemon *d = NULL;
	struct cachectl_pinstore *st = NULL;
	int c, i, r, failed = 0, ok = 0;
	bool sys = false;

	argv[0] = (char *)program_name;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_SYSTEM:
			sys = true;
			break;
		case 'h':
			unpin_usage();
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
	ctx = new_ctx();
	if (cachectl_daemon_connect(ctx, scope_of(sys), &d) < 0) {
		r = cachectl_pinstore_open(ctx, scope_of(sys), &st);
		if (r < 0) {
			store_error("pin store", r, sys);
			cachectl_unref(ctx);
			return EXIT_FAILURE;
		}
	}
	for (i = optind; i < argc; i++) {
		r = d ? cachectl_daemon_unpin(d, argv[i])
		      : cachectl_pinstore_remove(st, argv[i]);
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
	cachectl_pinstore_unref(st);
	cachectl_daemon_unref(d);
	cachectl_unref(ctx);
	if (!failed)
		return EXIT_SUCCESS;
	return ok ? EXIT_PARTIAL : EXIT_FAILURE;
}

/* ---- pins ---------------------------------------------------------------- */

static void pins_usage(void)
{
	printf("Usage:\n %s pins [options]\n\n"
	       "List pins with their live state: from cachectld when it runs,\n"
	       "else measured now.\n\n"
	       "Options:\n"
	       "     --system         the system pins\n"
	       " -J, --json           JSON output\n"
	       " -b, --bytes          sizes in bytes\n"
	       " -n, --noheadings     no header line\n"
	       " -h, --help           display this help\n\n"
	       "For more details see cachectl(1).\n", program_name);
	exit(EXIT_SUCCESS);
}

/* Without a daemon: measure what is cached now, as status would. */
static int measure(struct cachectl_ctx *ctx, const struct cachectl_pin *pin,
		   struct cachectl_pin_status *ps)
{
	struct cachectl_walk *w;
	struct cachectl_totals t;
	int r;

	memset(ps, 0, sizeof(*ps));
	r = cachectl_walk_new(ctx, cachectl_pin_get_flags(pin) &
				   CACHECTL_PIN_RECURSIVE ?
				   CACHECTL_WALK_RECURSIVE : 0, &w);
	if (r < 0)
		return r;
	r = cachectl_walk_add_path(w, cachectl_pin_get_path(pin));
	if (r >= 0)
		r = cachectl_walk_run(w, CACHECTL_OP_QUERY, 0, NULL, NULL);
	if (r >= 0) {
		cachectl_walk_get_totals(w, &t, sizeof(t));
		ps->files = t.files;
		ps->size = t.size;
		ps->cached = t.cached;
		if (t.errors)
			ps->flags |= CACHECTL_PIN_STATUS_ERROR;
	}
	cachectl_walk_unref(w);
	return r;
}

/* OPTS and PRIO for people; RECURSIVE, INHERIT, PRIORITY for programs */
enum { P_PATH, P_MODE, P_OPTS, P_RECURSIVE, P_INHERIT, P_PRIO, P_PRIORITY,
       P_BUDGET, P_FILES, P_SIZE, P_CACHED, P_PCT, P_LOCKED, P_SHORT,
       P_STATUS, P_NCOLS };

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
	[P_STATUS] = { "STATUS", 0, SCOLS_JSON_STRING },
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
	if (ps->flags & CACHECTL_PIN_STATUS_NO_MEMORY)
		return "no-memory";
	if (ps->flags & CACHECTL_PIN_STATUS_OVER_BUDGET)
		return "over-budget";
	if (ps->flags & CACHECTL_PIN_STATUS_SATISFIED)
		return "kept";
	return "filling";
}

int verb_pins(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "system", no_argument, NULL, OPT_SYSTEM },
		{ "json", no_argument, NULL, 'J' },
		{ "bytes", no_argument, NULL, 'b' },
		{ "noheadings", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool sys = false, json = false, bytes = false, noheadings = false;
	struct cachectl_ctx *ctx;
	struct cachectl_daemon *d = NULL;
	struct cachectl_pinstore *st = NULL;
	struct libscols_table *tb;
	int c, i, r, failed = 0;
	size_t k;

	argv[0] = (char *)program_name;
	while ((c = getopt_long(argc, argv, "Jbnh", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_SYSTEM:
			sys = true;
			break;
		case 'J':
			json = true;
			break;
		case 'b':
			bytes = true;
			break;
		case 'n':
			noheadings = true;
			break;
		case 'h':
			pins_usage();
			break;
		default:
			errtryhelp();
		}
	}
	if (optind != argc)
		usage_error("pins: unexpected argument '%s'", argv[optind]);
	ctx = new_ctx();
	r = cachectl_pinstore_open(ctx, scope_of(sys), &st);
	if (r < 0) {
		store_error("pin store", r, sys);
		cachectl_unref(ctx);
		return EXIT_FAILURE;
	}
	(void)cachectl_daemon_connect(ctx, scope_of(sys), &d);

	tb = scols_new_table();
	if (!tb) {
		fprintf(stderr, "%s: out of memory\n", program_name);
		return EXIT_FAILURE;
	}
	scols_table_set_name(tb, "pins");
	scols_table_enable_json(tb, json);
	scols_table_enable_noheadings(tb, noheadings);
	for (i = 0; i < P_NCOLS; i++) {
		struct libscols_column *cl;
		bool for_json = i == P_RECURSIVE || i == P_INHERIT ||
				i == P_PRIORITY;
		bool for_people = i == P_OPTS || i == P_PRIO;

		cl = scols_table_new_column(tb, pcols[i].name, 0, pcols[i].flags);
		if (!cl)
			continue;
		scols_column_set_json_type(cl, pcols[i].json);
		/* a hidden column is neither printed nor in the JSON */
		if ((json && for_people) || (!json && for_json))
			scols_column_set_flags(cl, pcols[i].flags | SCOLS_FL_HIDDEN);
	}
	for (k = 0; k < cachectl_pinstore_get_count(st); k++) {
		const struct cachectl_pin *pin = cachectl_pinstore_get_pin(st, k);
		struct libscols_line *ln = scols_table_new_line(tb, NULL);
		unsigned int f = cachectl_pin_get_flags(pin);
		struct cachectl_pin_status ps;
		bool live = false;
		char buf[64], *esc = NULL;
		size_t cap = 0;

		if (!ln)
			break;
		if (d) {
			r = cachectl_daemon_get_status(d, cachectl_pin_get_path(pin),
						       &ps, sizeof(ps));
			live = r == 0;
		}
		if (!live && measure(ctx, pin, &ps) < 0)
			failed++;
		scols_line_set_data(ln, P_PATH, json ? cachectl_pin_get_path(pin) :
				    escape_name(cachectl_pin_get_path(pin), &esc, &cap));
		free(esc);
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
		set_size(ln, P_CACHED, ps.cached, bytes || json);
		snprintf(buf, sizeof(buf), "%.1f", ps.size ?
			 100.0 * (double)MIN(ps.cached, ps.size) / (double)ps.size :
			 100.0);
		scols_line_set_data(ln, P_PCT, buf);
		if (live) {
			set_size(ln, P_LOCKED, ps.locked, bytes || json);
			set_size(ln, P_SHORT, ps.shortfall, bytes || json);
		}
		scols_line_set_data(ln, P_STATUS, status_word(&ps, live, d != NULL));
	}
	scols_print_table(tb);
	scols_unref_table(tb);
	if (!d && cachectl_pinstore_get_count(st))
		fprintf(stderr, "%s: no cachectld is running: the figures are "
			"measured now and nothing keeps these pins\n",
			program_name);
	cachectl_pinstore_unref(st);
	cachectl_daemon_unref(d);
	cachectl_unref(ctx);
	return failed ? EXIT_PARTIAL : EXIT_SUCCESS;
}

/* ---- monitor ------------------------------------------------------------- */

static const char *const event_names[] = {
	[CACHECTL_EVENT_SATISFIED] = "satisfied",
	[CACHECTL_EVENT_EVICTED] = "evicted",
	[CACHECTL_EVENT_REFILLED] = "refilled",
	[CACHECTL_EVENT_OVER_BUDGET] = "over-budget",
	[CACHECTL_EVENT_SHORTFALL] = "shortfall",
	[CACHECTL_EVENT_ADDED] = "added",
	[CACHECTL_EVENT_ERROR] = "error",
};

static void monitor_usage(void)
{
	printf("Usage:\n %s monitor [options]\n\n"
	       "Print cachectld's events as they happen: pins satisfied, data\n"
	       "evicted and refilled, budgets and memory exceeded. Ends with\n"
	       "exit status 1 when the daemon goes away.\n\n"
	       "Options:\n"
	       "     --system         the system daemon\n"
	       " -J, --json           one JSON object per line\n"
	       " -h, --help           display this help\n\n"
	       "For more details see cachectl(1).\n", program_name);
	exit(EXIT_SUCCESS);
}

static void json_str(const char *s)
{
	putchar('"');
	for (; s && *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20 || ch == 0x7f)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

int verb_monitor(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "system", no_argument, NULL, OPT_SYSTEM },
		{ "json", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool sys = false, json = false;
	struct cachectl_ctx *ctx;
	struct cachectl_daemon *d;
	int c, r;

	argv[0] = (char *)program_name;
	while ((c = getopt_long(argc, argv, "Jh", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_SYSTEM:
			sys = true;
			break;
		case 'J':
			json = true;
			break;
		case 'h':
			monitor_usage();
			break;
		default:
			errtryhelp();
		}
	}
	if (optind != argc)
		usage_error("monitor: unexpected argument '%s'", argv[optind]);
	ctx = new_ctx();
	r = cachectl_daemon_connect(ctx, scope_of(sys), &d);
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
		const char *name;

		r = cachectl_daemon_next_event(d, -1, &e);
		if (r < 0)
			break;
		type = cachectl_event_get_type(e);
		name = type > 0 && type < (int)(sizeof(event_names) /
						sizeof(event_names[0])) ?
		       event_names[type] : "unknown";
		if (json) {
			printf("{\"type\": \"%s\", \"path\": ", name);
			if (cachectl_event_get_path(e))
				json_str(cachectl_event_get_path(e));
			else
				fputs("null", stdout);
			printf(", \"bytes\": %llu}\n",
			       (unsigned long long)cachectl_event_get_bytes(e));
		} else {
			char t[32], h[32], *esc = NULL;
			size_t cap = 0;
			time_t now = time(NULL);

			strftime(t, sizeof(t), "%H:%M:%S", localtime(&now));
			printf("%s %-11s %7s %s\n", t, name,
			       size_human(cachectl_event_get_bytes(e), h, sizeof(h)),
			       cachectl_event_get_path(e) ?
			       escape_name(cachectl_event_get_path(e), &esc, &cap) : "-");
			free(esc);
		}
		cachectl_event_unref(e);
	}
	fprintf(stderr, "%s: cachectld gone (%s)\n", program_name,
		strerror(-r));
	cachectl_daemon_unref(d);
	cachectl_unref(ctx);
	return EXIT_FAILURE;
}
