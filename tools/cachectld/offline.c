// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The offline cache managers' events, announced as the daemon's own. Each
 * manager (cachectl-offline) appends a line per mode change or full cache
 * to the user's events file (cachectl-offline(5)); the user's daemon
 * follows it, so `cachectl monitor` and every subscriber hear of
 * attachments going offline without knowing where managers write.
 * Opened and watched before the system-call filter, read on the loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cachectld.h"
#include "common/escape.h"
#include "common/lines.h"

/* "SEC.MS PID TYPE SERVER PATH DETAIL": the type and the attachment */
static void on_line(char *line, void *data)
{
	struct daemon *d = data;
	char *f[6], *save = NULL;
	int i, type;

	for (i = 0; i < 6; i++) {
		f[i] = strtok_r(i ? NULL : line, " ", &save);
		if (!f[i])
			return;
	}
	if (!strncmp(f[2], "disconnected", 12))		/* also -manual */
		type = CACHECTL_EVENT_DISCONNECTED;
	else if (!strcmp(f[2], "connected"))
		type = CACHECTL_EVENT_CONNECTED;
	else if (!strcmp(f[2], "cache-full"))
		type = CACHECTL_EVENT_CACHE_FULL;
	else
		return;
	if (cc_hex_unescape(f[4]) < 0)
		return;
	cd_event_emit(d, type, f[4], 0);
}

int cd_offline_init(struct daemon *d)
{
	char *path = NULL, *slash;
	int fd, in, r;

	d->offline.fd = -1;
	if (d->scope != CACHECTL_SCOPE_USER)
		return 0;	/* managers run as their users */
	r = cachectl_attach_get_events_path(&path);
	if (r < 0)
		return r;
	slash = strrchr(path, '/');
	*slash = '\0';
	mkdir(path, 0700);
	*slash = '/';
	d->offline_lines = calloc(1, sizeof(*d->offline_lines));
	fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0600);
	in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	r = -errno;
	if (!d->offline_lines || fd < 0 || in < 0 ||
	    inotify_add_watch(in, path, IN_MODIFY) < 0) {
		r = d->offline_lines ? (fd < 0 || in < 0 ? r : -errno) : -ENOMEM;
		cd_log(d, LOG_WARNING, "%s: %s: offline events not announced",
		       cd_pesc(d, path), strerror(-r));
		if (fd >= 0)
			close(fd);
		if (in >= 0)
			close(in);
		free(d->offline_lines);
		d->offline_lines = NULL;
		free(path);
		return 0;	/* the daemon's own work goes on */
	}
	free(path);
	/* what happened before we started is not news */
	d->offline_lines->pos = lseek(fd, 0, SEEK_END);
	d->offline_fd = fd;
	d->offline.type = SRC_OFFLINE;
	d->offline.fd = in;
	return cd_loop_add(&d->loop, &d->offline, EPOLLIN);
}

void cd_offline_event(struct daemon *d)
{
	char buf[4096];

	while (read(d->offline.fd, buf, sizeof(buf)) > 0)
		;
	if (cc_lines_follow(d->offline_fd, d->offline_lines, on_line, d) < 0)
		cd_log(d, LOG_WARNING, "offline events: cannot read them");
}

void cd_offline_free(struct daemon *d)
{
	if (d->offline_lines) {
		close(d->offline.fd);
		close(d->offline_fd);
		free(d->offline_lines);
		d->offline_lines = NULL;
	}
}
