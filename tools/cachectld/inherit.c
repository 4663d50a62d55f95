// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Inherit pins: every directory of the tree is watched with inotify, so a
 * file created, written or moved in later joins the pin and is made
 * resident (or locked) without anyone asking; files deleted or moved out
 * leave it. A queue overflow re-walks the inherit pins.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cachectld.h"

#define WATCH_MASK (IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE | \
		    IN_MOVED_FROM | IN_DELETE_SELF | IN_MOVE_SELF | \
		    IN_ONLYDIR | IN_DONT_FOLLOW | IN_EXCL_UNLINK)

struct watch {
	struct dpin *pin;
	char *dir;
	struct watch *next;
};

int inherit_init(struct daemon *d)
{
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

	if (fd < 0)
		return -errno;
	d->inotify.type = SRC_INOTIFY;
	d->inotify.fd = fd;
	return epoll_add(d, &d->inotify, EPOLLIN);
}

int inherit_watch(struct daemon *d, struct dpin *p, const char *dir)
{
	struct watch *w;
	int wd;

	wd = inotify_add_watch(d->inotify.fd, dir, WATCH_MASK);
	if (wd < 0) {
		int e = errno;

		if (!p->watch_failed)
			dlog(d, LOG_ERR,
			     "pin %s: cannot watch %s: %s%s; files created there will not join the pin",
			     pesc(p->path), pesc(dir), strerror(e),
			     e == ENOSPC ? " (fs.inotify.max_user_watches reached)" : "");
		p->watch_failed = true;
		p->dirty = true;
		return -e;
	}
	if (wd >= d->nwatches) {
		int n = wd + 1024, i;
		struct watch **a = realloc(d->watches, n * sizeof(*a));

		if (!a)
			return -ENOMEM;
		for (i = d->nwatches; i < n; i++)
			a[i] = NULL;
		d->watches = a;
		d->nwatches = n;
	}
	for (w = d->watches[wd]; w; w = w->next)
		if (w->pin == p && !strcmp(w->dir, dir))
			return 0;
	w = calloc(1, sizeof(*w));
	if (!w || !(w->dir = strdup(dir))) {
		free(w);
		return -ENOMEM;
	}
	w->pin = p;
	w->next = d->watches[wd];
	d->watches[wd] = w;
	return 0;
}

/* Forget the watches of @p (under @dir only, if not NULL). */
static void unwatch(struct daemon *d, struct dpin *p, const char *dir)
{
	size_t n = dir ? strlen(dir) : 0;
	int wd;

	for (wd = 0; wd < d->nwatches; wd++) {
		struct watch **pp = &d->watches[wd], *w;
		bool had = *pp != NULL;

		while ((w = *pp)) {
			if (w->pin == p &&
			    (!dir || (!strncmp(w->dir, dir, n) &&
				      (w->dir[n] == '/' || !w->dir[n])))) {
				*pp = w->next;
				free(w->dir);
				free(w);
			} else {
				pp = &w->next;
			}
		}
		if (had && !d->watches[wd])
			inotify_rm_watch(d->inotify.fd, wd);
	}
}

void inherit_unwatch_pin(struct daemon *d, struct dpin *p)
{
	unwatch(d, p, NULL);
}

void inherit_unwatch_prefix(struct daemon *d, struct dpin *p, const char *dir)
{
	unwatch(d, p, dir);
}

static void on_event(struct daemon *d, struct dpin *p, const char *dir,
		     const struct inotify_event *ev)
{
	struct dfile *f;
	struct stat st;
	char *path;

	if (!ev->len) {
		/* the watched directory itself went away or moved */
		if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) {
			pin_remove_prefix(d, p, dir);
			inherit_unwatch_prefix(d, p, dir);
			if (!strcmp(dir, p->path)) {
				p->err = -ENOENT;
				p->dirty = true;
				dlog(d, LOG_WARNING,
				     "pin %s: the directory went away; keeping the pin, looking again on reload",
				     pesc(p->path));
			}
		}
		return;
	}
	if (asprintf(&path, "%s/%s", dir, ev->name) < 0)
		return;
	if (ev->mask & IN_ISDIR) {
		if (ev->mask & (IN_CREATE | IN_MOVED_TO)) {
			dlog(d, LOG_DEBUG, "pin %s: new directory %s",
			     pesc(p->path), pesc(path));
			pin_walk(d, p, path, true);
		} else if (ev->mask & (IN_DELETE | IN_MOVED_FROM)) {
			pin_remove_prefix(d, p, path);
			inherit_unwatch_prefix(d, p, path);
		}
	} else if (ev->mask & (IN_DELETE | IN_MOVED_FROM)) {
		f = pin_lookup(p, path);
		if (f)
			pin_remove_file(d, f);
	} else if (ev->mask & (IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE)) {
		if (lstat(path, &st) == 0 && S_ISREG(st.st_mode))
			pin_add_file(d, p, path, &st);
	}
	free(path);
}

void inherit_event(struct daemon *d)
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
			struct { struct dpin *pin; char *dir; } todo[16];
			struct watch *w;
			int k = 0, i;

			ptr += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				size_t j;

				dlog(d, LOG_WARNING,
				     "inotify queue overflow: walking the inherit pins again");
				for (j = 0; j < d->npins; j++)
					if (d->pins[j]->flags & CACHECTL_PIN_INHERIT)
						pin_expand(d, d->pins[j]);
				continue;
			}
			if (ev->wd < 0 || ev->wd >= d->nwatches)
				continue;
			if (ev->mask & IN_IGNORED) {
				while ((w = d->watches[ev->wd])) {
					d->watches[ev->wd] = w->next;
					free(w->dir);
					free(w);
				}
				continue;
			}
			/* handlers may change the watch list: copy it first */
			for (w = d->watches[ev->wd]; w && k < 16; w = w->next) {
				todo[k].pin = w->pin;
				todo[k].dir = strdup(w->dir);
				if (todo[k].dir)
					k++;
			}
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
