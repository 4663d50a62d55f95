// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * attach, detach, disconnect, reconnect: attachments of the offline cache
 * manager (cachectl-offline(8)); and the offline half of monitor and
 * status.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "cachectl-tool.h"
#include "common/lines.h"

enum {
	OPT_CACHE_DIR = CHAR_MAX + 1,
	OPT_SIZE,
	OPT_FOREGROUND,
	OPT_TIMEOUT,
	OPT_PROBE,
	OPT_ACTIMEO,
	OPT_FORCE,
};

static void attach_usage(const struct common_opts *co)
{
	printf("Usage:\n %s attach [options] PATH\n\n"
	       "Attach the offline cache manager over a directory: PATH is then\n"
	       "served from a local cache, also while its server is gone.\n\n"
	       "Options:\n"
	       "     --cache-dir DIR      the local cache (default under $XDG_CACHE_HOME)\n"
	       "     --size SIZE          keep at most SIZE of unpinned data (e.g. 10G)\n"
	       "     --timeout MS         the server's deadline per request (default 2000)\n"
	       "     --probe MS           how often to ask a gone server (default 2000)\n"
	       "     --actimeo MS         attributes are trusted this long (default 3000)\n"
	       "     --foreground         run the manager in this process (for units)\n",
	       program_name);
	common_usage(co);
	printf("\nFor more details see cachectl-attach(1).\n");
	exit(EXIT_SUCCESS);
}

static struct cachectl_ctx *ctx_or_exit(bool verbose)
{
	struct cachectl_ctx *ctx = NULL;
	int r = cachectl_new(&ctx);

	if (r < 0) {
		fprintf(stderr, "%s: %s\n", program_name, strerror(-r));
		exit(EXIT_FAILURE);
	}
	if (verbose)
		cachectl_set_log_priority(ctx, LOG_INFO);
	return ctx;
}

static unsigned int ms_arg(const char *opt, const char *s)
{
	unsigned int v;

	if (parse_u32(s, 1, 3600000, &v) < 0)
		usage_error("%s: not a number of milliseconds: '%s'", opt, s);
	return v;
}

static const char *attach_error(int r)
{
	switch (r) {
	case -EBUSY: return "already attached";
	case -EHOSTDOWN: return "the server does not answer and nothing is cached";
	case -EMEDIUMTYPE: return "not an attachment";
	case -ENOTCONN: return "its cache manager has crashed (detach --force gives the origin back)";
	}
	return strerror(-r);
}

int verb_attach(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "cache-dir", required_argument, NULL, OPT_CACHE_DIR },
		{ "size", required_argument, NULL, OPT_SIZE },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "probe", required_argument, NULL, OPT_PROBE },
		{ "actimeo", required_argument, NULL, OPT_ACTIMEO },
		{ "foreground", no_argument, NULL, OPT_FOREGROUND },
		{ NULL, 0, NULL, 0 },
	};
	struct common_opts co = { .verb = "attach" };
	struct cachectl_attach_opts o = { 0 };
	unsigned int flags = 0;
	struct cachectl_ctx *ctx;
	int c, r;

	while ((c = common_getopt(argc, argv, "", longopts, &co)) != -1) {
		switch (c) {
		case OPT_CACHE_DIR:
			o.cache_dir = optarg;
			break;
		case OPT_SIZE:
			if (parse_size(optarg, &o.size) < 0)
				usage_error("--size: not a size: '%s'", optarg);
			break;
		case OPT_TIMEOUT:
			o.timeout_ms = ms_arg("--timeout", optarg);
			break;
		case OPT_PROBE:
			o.probe_ms = ms_arg("--probe", optarg);
			break;
		case OPT_ACTIMEO:
			o.actimeo_ms = ms_arg("--actimeo", optarg);
			break;
		case OPT_FOREGROUND:
			flags |= CACHECTL_ATTACH_FOREGROUND;
			break;
		case 'h':
			attach_usage(&co);
			break;
		default:
			errtryhelp();
		}
	}
	if (optind != argc - 1)
		usage_error("attach: one PATH expected");
	ctx = ctx_or_exit(co.verbose);
	r = cachectl_attach(ctx, argv[optind], &o, sizeof(o), flags);
	if (r < 0)
		fprintf(stderr, "%s: attach %s: %s\n", program_name, argv[optind],
			attach_error(r));
	cachectl_unref(ctx);
	return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

static void detach_usage(const struct common_opts *co)
{
	printf("Usage:\n %s detach [options] PATH...\n\n"
	       "Give attached directories back to their origin; the cache stays.\n\n"
	       "Options:\n"
	       "     --force              also with files open, or a crashed manager\n",
	       program_name);
	common_usage(co);
	printf("\nFor more details see cachectl-attach(1).\n");
	exit(EXIT_SUCCESS);
}

int verb_detach(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "force", no_argument, NULL, OPT_FORCE },
		{ NULL, 0, NULL, 0 },
	};
	struct common_opts co = { .verb = "detach" };
	unsigned int flags = 0;
	struct cachectl_ctx *ctx;
	int c, r, bad = 0;

	while ((c = common_getopt(argc, argv, "f", longopts, &co)) != -1) {
		switch (c) {
		case 'f':
		case OPT_FORCE:
			flags |= CACHECTL_DETACH_FORCE;
			break;
		case 'h':
			detach_usage(&co);
			break;
		default:
			errtryhelp();
		}
	}
	if (optind == argc)
		usage_error("detach: no path given");
	ctx = ctx_or_exit(co.verbose);
	for (c = optind; c < argc; c++) {
		r = cachectl_detach(ctx, argv[c], flags);
		if (r == -EBUSY)
			fprintf(stderr, "%s: detach %s: files under it are open "
				"(--force detaches it lazily)\n", program_name,
				argv[c]);
		else if (r < 0)
			fprintf(stderr, "%s: detach %s: %s\n", program_name,
				argv[c], attach_error(r));
		bad += r < 0;
	}
	cachectl_unref(ctx);
	return !bad ? EXIT_SUCCESS : bad == argc - optind ? EXIT_FAILURE
							  : EXIT_PARTIAL;
}

static int set_mode(int argc, char **argv, const char *verb, int mode)
{
	struct common_opts co = { .verb = verb };
	struct cachectl_ctx *ctx;
	int c, r, bad = 0;

	while ((c = common_getopt(argc, argv, "", NULL, &co)) != -1) {
		if (c != 'h')
			errtryhelp();
		printf("Usage:\n %s %s [options] PATH...\n\n%s\n\nOptions:\n",
		       program_name, verb, mode == CACHECTL_MODE_DISCONNECTED ?
		       "Work from the local cache until 'reconnect'." :
		       "Ask the server again and serve from it when it answers.");
		common_usage(&co);
		printf("\nFor more details see cachectl-attach(1).\n");
		exit(EXIT_SUCCESS);
	}
	if (optind == argc)
		usage_error("%s: no path given", verb);
	ctx = ctx_or_exit(co.verbose);
	for (c = optind; c < argc; c++) {
		r = cachectl_attach_set_mode(ctx, argv[c], mode);
		if (r == -EHOSTDOWN)
			fprintf(stderr, "%s: reconnect %s: the server still does "
				"not answer; working offline\n", program_name,
				argv[c]);
		else if (r < 0)
			fprintf(stderr, "%s: %s %s: %s\n", program_name, verb,
				argv[c], attach_error(r));
		bad += r < 0;
	}
	cachectl_unref(ctx);
	return !bad ? EXIT_SUCCESS : bad == argc - optind ? EXIT_FAILURE
							  : EXIT_PARTIAL;
}

int verb_disconnect(int argc, char **argv)
{
	return set_mode(argc, argv, "disconnect", CACHECTL_MODE_DISCONNECTED);
}

int verb_reconnect(int argc, char **argv)
{
	return set_mode(argc, argv, "reconnect", CACHECTL_MODE_CONNECTED);
}

/* the attachment modes of status's roots, on stderr beside the table */
void offline_status_note(char **paths, int n)
{
	struct cachectl_ctx *ctx = NULL;
	int i;

	if (cachectl_new(&ctx) < 0)
		return;
	for (i = 0; i < n; i++) {
		struct cc_escbuf esc = { 0 };
		int mode, r = cachectl_attach_get_mode(ctx, paths[i], &mode);

		if (r == -EMEDIUMTYPE || r == -ENOENT || r == -ENOTDIR)
			continue;
		fprintf(stderr, "%s: %s: attached, %s\n", program_name,
			name_esc(&esc, paths[i]),
			r < 0 ? attach_error(r) : mode == CACHECTL_MODE_CONNECTED ?
			"connected" : "disconnected (served from the local cache)");
		cc_escbuf_free(&esc);
	}
	cachectl_unref(ctx);
}

/* one event line of the managers' file (cachectl-offline(5)) */
static void print_event(char *line, bool json)
{
	char *f[6], *save = NULL;
	int i;

	for (i = 0; i < 6; i++) {
		f[i] = strtok_r(i ? NULL : line, " \n", &save);
		if (!f[i])
			return;
	}
	for (i = 3; i < 6; i++)
		if (cc_hex_unescape(f[i]) < 0)
			return;
	if (json) {
		struct outbuf o = { 0 };

		out_puts(&o, "{\"type\": ");
		out_json_string(&o, f[2]);
		out_puts(&o, ", \"path\": ");
		out_json_string(&o, f[4]);
		out_puts(&o, ", \"server\": ");
		out_json_string(&o, f[3]);
		out_puts(&o, ", \"detail\": ");
		out_json_string(&o, f[5]);
		out_puts(&o, "}\n");
		out_flush(&o, stdout);
		out_free(&o);
	} else {
		struct cc_escbuf e1 = { 0 }, e2 = { 0 };
		char t[32];
		time_t now = (time_t)strtoll(f[0], NULL, 10);

		strftime(t, sizeof(t), "%H:%M:%S", localtime(&now));
		printf("%s %-12s %s (%s)\n", t, f[2], name_esc(&e1, f[4]),
		       name_esc_raw(&e2, f[5]));
		cc_escbuf_free(&e1);
		cc_escbuf_free(&e2);
	}
}

static void event_cb(char *line, void *data)
{
	print_event(line, *(bool *)data);
}

/* follow the managers' events file from its end, for ever */
int offline_monitor(bool json)
{
	struct cc_lines *l = calloc(1, sizeof(*l));
	char *path = NULL, ibuf[4096];
	int fd, in, r;

	r = l ? cachectl_attach_get_events_path(&path) : -ENOMEM;
	if (r < 0) {
		fprintf(stderr, "%s: monitor: %s\n", program_name, strerror(-r));
		free(l);
		return EXIT_FAILURE;
	}
	{
		char *slash = strrchr(path, '/');

		*slash = '\0';
		mkdir(path, 0700);
		*slash = '/';
	}
	fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0600);
	in = inotify_init1(IN_CLOEXEC);
	if (fd < 0 || in < 0 || inotify_add_watch(in, path, IN_MODIFY) < 0) {
		fprintf(stderr, "%s: monitor: %s: %m\n", program_name, path);
		free(path);
		free(l);
		return EXIT_FAILURE;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	l->pos = lseek(fd, 0, SEEK_END);
	do {
		if (cc_lines_follow(fd, l, event_cb, &json) < 0)
			break;
	} while (read(in, ibuf, sizeof(ibuf)) >= 0);
	free(path);
	free(l);
	return EXIT_FAILURE;
}
