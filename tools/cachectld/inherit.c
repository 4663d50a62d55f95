// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Inherit pins: every directory of the tree is watched (watch.c), so a
 * file created, written or moved in later joins the pin and is made
 * resident (or locked) without anyone asking; files deleted or moved out
 * leave it. A queue overflow re-walks the inherit pins.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cachectld.h"

static void on_event(struct daemon *d, struct dpin *p, const char *dir,
		     const struct inotify_event *ev)
{
	struct dfile *f;
	struct stat st;
	char *path;

	if (!ev->len) {
		/* the watched directory itself went away or moved */
		if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) {
			cd_pin_remove_prefix(d, p, dir);
			cd_watch_remove_prefix(d, p, dir);
			if (!strcmp(dir, p->path)) {
				p->err = -ENOENT;
				p->dirty = true;
				cd_log(d, LOG_WARNING,
				     "pin %s: the directory went away; keeping the pin, looking again on reload",
				     cd_pesc(d, p->path));
			}
		}
		return;
	}
	if (asprintf(&path, "%s/%s", dir, ev->name) < 0)
		return;
	if (ev->mask & IN_ISDIR) {
		if (ev->mask & (IN_CREATE | IN_MOVED_TO)) {
			cd_log(d, LOG_DEBUG, "pin %s: new directory %s",
			     cd_pesc(d, p->path), cd_pesc(d, path));
			cd_pin_walk(d, p, path);
		} else if (ev->mask & (IN_DELETE | IN_MOVED_FROM)) {
			cd_pin_remove_prefix(d, p, path);
			cd_watch_remove_prefix(d, p, path);
		}
	} else if (ev->mask & (IN_DELETE | IN_MOVED_FROM)) {
		f = cd_pin_lookup(p, path);
		if (f)
			cd_pin_remove_file(d, f);
	} else if (ev->mask & (IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE)) {
		if (lstat(path, &st) == 0 && S_ISREG(st.st_mode))
			cd_pin_add_file(d, p, path, &st);
	}
	free(path);
}

void cd_inherit_event(struct daemon *d)
{
	char buf[65536] __attribute__((aligned(__alignof__(struct inotify_event))));

	for (;;) {
		ssize_t n = read(d->inotify.fd, buf, sizeof(buf));
		char *ptr;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		for (ptr = buf; ptr < buf + n;) {
			const struct inotify_event *ev = (const void *)ptr;
			struct cd_watch_hit todo[16];
			int k, i;

			ptr += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				size_t j;

				cd_log(d, LOG_WARNING,
				     "inotify queue overflow: walking the inherit pins again");
				for (j = 0; j < d->npins; j++)
					if (d->pins[j]->flags & CACHECTL_PIN_INHERIT)
						cd_pin_expand(d, d->pins[j]);
				continue;
			}
			if (ev->mask & IN_IGNORED) {
				cd_watch_forget(d, ev->wd);
				continue;
			}
			k = cd_watch_get(d, ev->wd, todo, ARRAY_LEN(todo));
			for (i = 0; i < k; i++) {
				size_t j;

				/* the pin may have been dropped meanwhile */
				for (j = 0; j < d->npins; j++)
					if (d->pins[j] == todo[i].pin)
						break;
				if (j < d->npins)
					on_event(d, todo[i].pin, todo[i].dir, ev);
				free(todo[i].dir);
			}
		}
	}
}
