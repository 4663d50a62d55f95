// SPDX-License-Identifier: LGPL-2.1-or-later
/* cachectld: options, set-up, and the event loop. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "config.h"
#include "cachectld.h"

#define TICK_MS 250
#define PLAN_TICKS 20		/* memory plan for hard pins every 5 s */

static void usage(FILE *f)
{
	fputs("Usage: cachectld [--user|--system] [--foreground] [--socket PATH]\n"
	      "                 [--state-dir DIR] [--run-as USER] [-v]...\n"
	      "Keep the pins of a scope true: refill soft pins, lock hard pins,\n"
	      "pin new files under inherit pins.\n\n"
	      "  --user           the invoking user's pins (default)\n"
	      "  --system         the system's pins (/var/lib/cachectl)\n"
	      "  -f, --foreground stay in the foreground (the default)\n"
	      "  --socket PATH    listen there instead of the scope's socket\n"
	      "  --state-dir DIR  keep the pin store there ($CACHECTL_STATE_DIR)\n"
	      "  --run-as USER    started as root: become USER after start-up,\n"
	      "                   keeping only the capabilities it needs\n"
	      "  -v, --verbose    more messages (repeat for debug)\n"
	      "  -h, --help       this help\n"
	      "  -V, --version    the version\n", f);
}

static void lib_log(void *data, int priority, const char *file, int line,
		    const char *fn, const char *format, va_list args)
{
	struct daemon *d = data;
	char msg[4096];
	size_t n;

	vsnprintf(msg, sizeof(msg), format, args);
	n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	cd_log(d, priority, "libcachectl: %s", msg);
}

static void raise_limits(struct daemon *d)
{
	struct rlimit rl;

	/*
	 * Descriptors kept open make residency checks cheap (a cachestat
	 * instead of open, cachestat, close): take all we may, and with
	 * CAP_SYS_RESOURCE (before it is dropped) up to fs.nr_open.
	 */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		FILE *f = fopen("/proc/sys/fs/nr_open", "re");
		unsigned long long nr_open = 0;

		if (f) {
			if (fscanf(f, "%llu", &nr_open) != 1)
				nr_open = 0;
			fclose(f);
		}
		if (nr_open > rl.rlim_max && rl.rlim_max != RLIM_INFINITY) {
			struct rlimit more = { nr_open, nr_open };

			if (setrlimit(RLIMIT_NOFILE, &more) == 0)
				rl = more;
		}
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
		d->fd_budget = rl.rlim_cur == RLIM_INFINITY ? 1 << 20 :
			       (long)rl.rlim_cur - 512;
		if (d->fd_budget < 0)
			d->fd_budget = 0;
	}
	if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0 && rl.rlim_cur != rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_MEMLOCK, &rl);
	}
}

static int reload(struct daemon *d)
{
	int r = cachectl_pinstore_reload(d->store);

	if (r < 0) {
		cd_log(d, LOG_ERR, "cannot reload %s: %s; keeping the pins I have",
		     cd_pesc(d, cachectl_pinstore_get_path(d->store)), strerror(-r));
		return r;
	}
	return cd_pins_sync(d);
}

static void on_signal(struct daemon *d)
{
	struct signalfd_siginfo si;

	while (read(d->sig.fd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			cd_log(d, LOG_NOTICE, "signal %d: exiting", (int)si.ssi_signo);
			d->quit = true;
			break;
		case SIGHUP:
			cd_log(d, LOG_NOTICE, "SIGHUP: reloading");
			reload(d);
			break;
		case SIGCHLD:
			cd_workers_reap(d);
			break;
		}
	}
}

static void on_timer(struct daemon *d)
{
	uint64_t n;

	if (read(d->timer.fd, &n, sizeof(n)) != sizeof(n))
		return;
	cd_refill_tick(d);
	cd_clients_tick(d);
	if (d->ticks % PLAN_TICKS == 0)
		d->plan_needed = true;
}

static int setup_fds(struct daemon *d)
{
	struct itimerspec its = {
		.it_interval = { 0, TICK_MS * 1000000L },
		.it_value = { 0, TICK_MS * 1000000L },
	};
	sigset_t mask;
	int r;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);

	r = cd_loop_init(&d->loop);
	if (r < 0)
		return r;
	d->sig.type = SRC_SIGNAL;
	d->sig.fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	d->timer.type = SRC_TIMER;
	d->timer.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (d->sig.fd < 0 || d->timer.fd < 0 ||
	    timerfd_settime(d->timer.fd, 0, &its, NULL) < 0)
		return -errno;
	if (cd_loop_add(&d->loop, &d->sig, EPOLLIN) < 0 ||
	    cd_loop_add(&d->loop, &d->timer, EPOLLIN) < 0)
		return -errno;
	return 0;
}

static void loop(struct daemon *d)
{
	struct epoll_event ev[64];

	while (!d->quit) {
		int n = cd_loop_wait(&d->loop, ev, ARRAY_LEN(ev)), i;

		if (n < 0) {
			cd_log(d, LOG_ERR, "epoll_wait: %s", strerror(-n));
			return;
		}
		for (i = 0; i < n; i++) {
			struct cd_source *s = ev[i].data.ptr;

			switch (s->type) {
			case SRC_LISTEN:
				cd_server_accept(d);
				break;
			case SRC_SIGNAL:
				on_signal(d);
				break;
			case SRC_TIMER:
				on_timer(d);
				break;
			case SRC_INOTIFY:
				cd_inherit_event(d);
				break;
			case SRC_CLIENT:
				/* may free it: nothing later in this batch
				 * refers to a client but its own event */
				cd_client_event(d, (struct client *)s, ev[i].events);
				break;
			case SRC_WORKER:
			case SRC_WORKER_CMD:
				cd_worker_event(d, s, ev[i].events);
				break;
			case SRC_RESOLVE:
				cd_server_resolved(d);
				break;
			case SRC_FSCHECK:
				cd_fscheck_done(d);
				break;
			case SRC_OFFLINE:
				cd_offline_event(d);
				break;
			}
		}
		cd_clients_reap(d);
		if (d->plan_needed)
			cd_lock_plan(d);
		cd_pins_compact(d);
	}
}

int main(int argc, char **argv)
{
	enum { OPT_USER = 256, OPT_SYSTEM, OPT_SOCKET, OPT_STATE, OPT_RUN_AS };
	static const struct option opts[] = {
		{ "user", no_argument, NULL, OPT_USER },
		{ "system", no_argument, NULL, OPT_SYSTEM },
		{ "foreground", no_argument, NULL, 'f' },
		{ "socket", required_argument, NULL, OPT_SOCKET },
		{ "state-dir", required_argument, NULL, OPT_STATE },
		{ "run-as", required_argument, NULL, OPT_RUN_AS },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{}
	};
	struct daemon dm = {
		.scope = CACHECTL_SCOPE_USER,
		.verbose = LOG_NOTICE,
		.loop.epfd = -1,
		.listen.fd = -1,
		.inotify.fd = -1,
		.fscheck.fd = -1,
		.memcg_limit = UINT64_MAX,
	};
	struct daemon *d = &dm;
	const char *sock = NULL;
	char *store_path = NULL;
	int c, r, ret = 1;
	bool ctx_used;

	/* getopt names argv[0] in its messages: as cachectl's do, the name */
	argv[0] = (char *)"cachectld";
	while ((c = getopt_long(argc, argv, "fvhV", opts, NULL)) >= 0) {
		switch (c) {
		case OPT_USER:
			d->scope = CACHECTL_SCOPE_USER;
			break;
		case OPT_SYSTEM:
			d->scope = CACHECTL_SCOPE_SYSTEM;
			break;
		case 'f':
			break;
		case OPT_SOCKET:
			sock = optarg;
			break;
		case OPT_STATE:
			if (setenv("CACHECTL_STATE_DIR", optarg, 1) < 0)
				return 1;
			break;
		case OPT_RUN_AS:
			d->run_as = optarg;
			break;
		case 'v':
			if (d->verbose < LOG_DEBUG)
				d->verbose++;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("cachectld %s\n", PACKAGE_VERSION);
			return 0;
		default:
			fputs("Try 'cachectld --help' for more information.\n",
			      stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "cachectld: unexpected argument '%s'\n"
			"Try 'cachectld --help' for more information.\n",
			argv[optind]);
		return 2;
	}
	d->uid = geteuid();
	d->journal = cd_log_is_journal();
	d->walk_qtail = &d->walk_q;

	r = cachectl_new(&d->ctx);
	if (r < 0) {
		fprintf(stderr, "cachectld: %s\n", strerror(-r));
		return 1;
	}
	cachectl_set_log_fn(d->ctx, lib_log, d);
	cachectl_set_log_priority(d->ctx, d->verbose);
	raise_limits(d);

	r = setup_fds(d);
	if (r < 0) {
		cd_log(d, LOG_ERR, "set-up: %s", strerror(-r));
		goto out;
	}
	r = cd_fscheck_init(d);
	if (r < 0) {
		cd_log(d, LOG_ERR, "set-up: %s", strerror(-r));
		goto out;
	}
	if (cd_server_open(d, sock) < 0)
		goto out;
	if (cd_caps_setup(d) < 0)
		goto out;

	r = cachectl_pinstore_open(d->ctx, d->scope, &d->store);
	if (r < 0) {
		if (cachectl_scope_get_state_dir(d->scope, &store_path) == 0)
			cd_log(d, LOG_ERR,
			     "cannot load the pin store %s/pins: %s; not touching it (repair or remove it)",
			     cd_pesc(d, store_path), strerror(-r));
		else
			cd_log(d, LOG_ERR, "cannot load the pin store: %s",
			     strerror(-r));
		free(store_path);
		goto out;
	}
	r = cd_watch_init(d);
	if (r < 0) {
		cd_log(d, LOG_ERR, "inotify: %s", strerror(-r));
		goto out;
	}
	r = cd_offline_init(d);
	if (r < 0)
		cd_log(d, LOG_WARNING, "offline events: %s", strerror(-r));
	cd_lock_init(d);
	cd_mem_read(d);
	/* the filter is the process's only if no other thread runs yet */
	d->walks_held = true;
	cd_pins_load(d);
	if (cd_seccomp_install(d) < 0)
		goto out;
	d->walks_held = false;
	cd_walks_start(d);
	cd_log(d, LOG_NOTICE, "ready: %zu pins", d->npins);
	loop(d);
	ret = 0;
out:
	cd_workers_stop(d);
	cd_offline_free(d);
	cd_clients_free(d);
	cd_holds_free(d);
	cd_pins_free(d);
	cd_walks_free(d);
	ctx_used = cd_fscheck_free(d);
	cd_stash_free(d);
	cd_watch_free(d);
	cd_mem_free(d);
	cd_server_close(d);
	cd_loop_close(&d->loop);
	cachectl_pinstore_unref(d->store);
	/* a walk or check still out (a hung mount) uses the context till exit */
	if (!d->nwalks && !ctx_used)
		cachectl_unref(d->ctx);
	return ret;
}
