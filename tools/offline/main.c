// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cachectl-offline PATH: attach a cache manager over PATH. The origin
 * directory is opened before the mount covers it, so the manager reaches
 * the origin through that fd while users keep their paths; started by
 * cachectl_attach() (cachectl attach), or by the user unit
 * cachectl-offline@.service through `cachectl attach --foreground`.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <libcachectl/libcachectl.h>

#include "config.h"
#include "journal.h"
#include "offline.h"

void co_log(const char *fmt, ...)
{
	char buf[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "cachectl-offline: %s\n", buf);
}

static void usage(void)
{
	printf("Usage:\n cachectl-offline [options] PATH\n\n"
	       "Serve PATH from a local cache, online and offline.\n"
	       "Normally started by 'cachectl attach'.\n\n"
	       "Options:\n"
	       "     --cache-dir DIR   the local cache (created)\n"
	       "     --size BYTES      cull unpinned data above this (0: no limit)\n"
	       "     --server KEY      switch modes with the attachments of KEY\n"
	       "     --actimeo MS      attribute revalidation (default 3000)\n"
	       "     --timeout MS      origin deadline (default 2000)\n"
	       "     --probe MS        probe interval (default 2000)\n"
	       "     --ready-fd N      write \"ready\" to fd N once serving\n"
	       "     --log FILE        messages to FILE\n"
	       "     --daemon          messages to CACHE/manager.log once serving\n"
	       " -d, --debug           FUSE debug output\n"
	       " -h, --help            display this help\n\n"
	       "For more details see cachectl-offline(8).\n");
	exit(0);
}

static unsigned int num(const char *opt, const char *s, unsigned long long max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || v > max) {
		co_log("%s: bad value '%s'", opt, s);
		exit(2);
	}
	return (unsigned int)v;
}

/* a mount left by a manager that died: unmount it, lazily */
static void clear_dead_mount(const char *path)
{
	pid_t pid = fork();

	if (pid == 0) {
		execlp("fusermount3", "fusermount3", "-uz", path, (char *)NULL);
		_exit(127);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
}

static int default_cache_dir(const char *path, char **ret)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	uint64_t h = 1469598103934665603ull;
	const char *p, *base = strrchr(path, '/');

	for (p = path; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	base = base && base[1] ? base + 1 : "root";
	if (xdg && *xdg == '/')
		return asprintf(ret, "%s/cachectl/offline/%s-%016llx", xdg, base,
				(unsigned long long)h) < 0 ? -ENOMEM : 0;
	if (!home)
		return -ENOENT;
	return asprintf(ret, "%s/.cache/cachectl/offline/%s-%016llx", home, base,
			(unsigned long long)h) < 0 ? -ENOMEM : 0;
}

static int mkdirs(const char *dir)
{
	char *d = strdup(dir), *p;

	if (!d)
		return -ENOMEM;
	for (p = d + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			mkdir(d, 0700);
			*p = '/';
		}
	free(d);
	return mkdir(dir, 0700) < 0 && errno != EEXIST ? -errno : 0;
}

/* the root's attributes before serving: from the origin if it answers */
static int root_attrs(struct co_mgr *m)
{
	struct co_job *j = co_job_new(co_job_stat, "");
	struct co_node *n;
	int r = j ? co_origin_call(m, j, NULL) : -ENOMEM;

	pthread_mutex_lock(&m->lock);
	n = co_node_get(m, FUSE_ROOT_ID);
	if (!r) {
		n->st = j->st;
		n->validated_ns = cc_now_ns();
		n->validated_epoch = co_mode_epoch(m);
		co_store_put(m->store, n);
	} else if (n->st.st_ino) {
		char why[300];

		snprintf(why, sizeof(why), "the origin does not answer: %s",
			 strerror(-r));
		pthread_mutex_unlock(&m->lock);
		co_job_put(m, j);
		co_mode_disconnect(m, why, false);
		return 0;
	}
	pthread_mutex_unlock(&m->lock);
	co_job_put(m, j);
	if (r)
		co_log("%s: the origin does not answer and nothing is cached: %s",
		       m->o.path, strerror(-r));
	return r;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "cache-dir", required_argument, NULL, 'C' },
		{ "size", required_argument, NULL, 's' },
		{ "server", required_argument, NULL, 'S' },
		{ "actimeo", required_argument, NULL, 'a' },
		{ "timeout", required_argument, NULL, 't' },
		{ "probe", required_argument, NULL, 'p' },
		{ "ready-fd", required_argument, NULL, 'r' },
		{ "log", required_argument, NULL, 'l' },
		{ "daemon", no_argument, NULL, 'D' },
		{ "debug", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct co_mgr mgr;
	struct co_mgr *m = &mgr;
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_loop_config *cfg;
	char real[PATH_MAX], *cache_dir = NULL, *opts = NULL;
	bool daemon_log = false;
	int c, r, rc = 1;

	m->o.actimeo_ms = 3000;
	m->o.timeout_ms = 2000;
	m->o.probe_ms = 2000;
	m->o.ready_fd = -1;
	m->events_fd = -1;
	m->root_fd = m->data_fd = -1;
	while ((c = getopt_long(argc, argv, "dh", longopts, NULL)) != -1) {
		switch (c) {
		case 'C': m->o.cache_dir = optarg; break;
		case 's': {
			char *end;

			errno = 0;
			m->o.size_limit = strtoull(optarg, &end, 10);
			if (errno || *end) {
				co_log("--size: bad value '%s'", optarg);
				return 2;
			}
			break;
		}
		case 'S': m->o.server = optarg; break;
		case 'a': m->o.actimeo_ms = num("--actimeo", optarg, 86400000); break;
		case 't': m->o.timeout_ms = num("--timeout", optarg, 3600000) ?: 1; break;
		case 'p': m->o.probe_ms = num("--probe", optarg, 3600000) ?: 1; break;
		case 'r': m->o.ready_fd = (int)num("--ready-fd", optarg, INT_MAX); break;
		case 'l': {
			int fd = open(optarg, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);

			if (fd >= 0) {
				dup2(fd, 2);
				close(fd);
			}
			break;
		}
		case 'd': m->o.debug = true; break;
		case 'D': daemon_log = true; break;
		case 'h': usage(); break;
		default:
			fprintf(stderr, "Try 'cachectl-offline --help' for more information.\n");
			return 2;
		}
	}
	if (optind != argc - 1) {
		co_log("one PATH expected");
		return 2;
	}
	if (!realpath(argv[optind], real)) {
		if (errno != ENOTCONN) {
			co_log("%s: %m", argv[optind]);
			return 1;
		}
		clear_dead_mount(argv[optind]);
		if (!realpath(argv[optind], real)) {
			co_log("%s: %m", argv[optind]);
			return 1;
		}
	}
	m->o.path = real;
	if (!m->o.server)
		m->o.server = real;

	/* before the mount covers it: the origin, reached through this fd */
	m->root_fd = open(real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (m->root_fd < 0 && errno == ENOTCONN) {
		clear_dead_mount(real);
		m->root_fd = open(real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (m->root_fd < 0) {
		co_log("%s: %m", real);
		return 1;
	}
	{
		char v[32];

		if (fgetxattr(m->root_fd, CO_XATTR_PREFIX "mode", v, sizeof(v)) >= 0) {
			co_log("%s: already attached", real);
			return 1;
		}
	}
	if (!m->o.cache_dir) {
		r = default_cache_dir(real, &cache_dir);
		if (r) {
			co_log("no cache directory: %s", strerror(-r));
			return 1;
		}
		m->o.cache_dir = cache_dir;
	}
	{
		char data[PATH_MAX];

		snprintf(data, sizeof(data), "%s/data", m->o.cache_dir);
		r = mkdirs(data);
		if (r) {
			co_log("%s: %s", data, strerror(-r));
			return 1;
		}
		m->data_fd = open(data, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (m->data_fd < 0) {
			co_log("%s: %m", data);
			return 1;
		}
	}
	r = co_store_open(m, &m->store);
	if (!r)
		r = co_journal_open(m);
	if (!r)
		r = co_nodes_init(m);
	if (!r)
		r = co_origin_start(m);
	if (!r)
		r = co_mode_start(m);
	if (r) {
		co_log("%s: cannot start: %s", real, strerror(-r));
		return 1;
	}
	if (root_attrs(m))
		goto out;
	if (co_journal_pending(m)) {
		char why[128];

		/* changes made offline before a restart still wait (mode.c) */
		snprintf(why, sizeof(why), "%llu offline changes wait for replay",
			 (unsigned long long)co_journal_pending(m));
		co_mode_disconnect(m, why, false);
	}

	if (asprintf(&opts, "fsname=%s,subtype=cachectl-offline,default_permissions",
		     real) < 0)
		goto out;
	if (fuse_opt_add_arg(&args, "cachectl-offline") ||
	    fuse_opt_add_arg(&args, "-o") || fuse_opt_add_arg(&args, opts) ||
	    (m->o.debug && fuse_opt_add_arg(&args, "-d")))
		goto out;
	/* the kernel has applied the user's umask to the modes it sends:
	 * the origin's new objects get them as they are */
	umask(0);
	m->se = fuse_session_new(&args, &co_ops, sizeof(co_ops), m);
	if (!m->se)
		goto out;
	if (fuse_set_signal_handlers(m->se) || fuse_session_mount(m->se, real)) {
		co_log("%s: cannot mount", real);
		goto out_session;
	}
	if (co_hoard_start(m))
		goto out_unmount;
	co_log("%s: attached, cache %s", real, m->o.cache_dir);
	if (m->o.ready_fd >= 0) {
		if (write(m->o.ready_fd, "ready\n", 6) != 6)
			co_log("ready-fd: %m");
		close(m->o.ready_fd);
	}
	if (daemon_log) {
		/* whoever started us has stopped listening */
		char log[PATH_MAX];
		int fd;

		snprintf(log, sizeof(log), "%s/manager.log", m->o.cache_dir);
		fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		if (fd >= 0) {
			dup2(fd, 2);
			close(fd);
		}
	}
	sd_notify(0, "READY=1");

	cfg = fuse_loop_cfg_create();
	fuse_loop_cfg_set_max_threads(cfg, 64);
	fuse_loop_cfg_set_idle_threads(cfg, 8);
	rc = fuse_session_loop_mt(m->se, cfg) ? 1 : 0;
	fuse_loop_cfg_destroy(cfg);
	sd_notify(0, "STOPPING=1");

	m->stopping = true;
	co_hoard_stop(m);
out_unmount:
	fuse_session_unmount(m->se);
	fuse_remove_signal_handlers(m->se);
out_session:
	fuse_session_destroy(m->se);
	m->se = NULL;
out:
	co_mode_stop(m);
	co_origin_stop(m);
	co_journal_close(m);
	co_store_close(m->store);
	co_nodes_free(m);
	fuse_opt_free_args(&args);
	free(opts);
	free(cache_dir);
	return rc;
}
