// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The inotify watches of inherit pins: which pin and directory each
 * watch descriptor stands for. One directory may belong to several pins.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
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

int cd_watch_init(struct daemon *d)
{
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

	if (fd < 0)
		return -errno;
	d->inotify.type = SRC_INOTIFY;
	d->inotify.fd = fd;
	return cd_loop_add(&d->loop, &d->inotify, EPOLLIN);
}

int cd_watch_add(struct daemon *d, struct dpin *p, const char *dir)
{
	struct watch *w;
	int wd;

	wd = inotify_add_watch(d->inotify.fd, dir, WATCH_MASK);
	if (wd < 0) {
		int e = errno;

		if (!p->watch_failed)
			cd_log(d, LOG_ERR,
			     "pin %s: cannot watch %s: %s%s; files created there will not join the pin",
			     cd_pesc(d, p->path), cd_pesc(d, dir), strerror(e),
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

void cd_watch_remove_pin(struct daemon *d, struct dpin *p)
{
	unwatch(d, p, NULL);
}

void cd_watch_remove_prefix(struct daemon *d, struct dpin *p, const char *dir)
{
	unwatch(d, p, dir);
}

/* At exit: every watch, the table and the inotify descriptor. */
void cd_watch_free(struct daemon *d)
{
	int wd;

	for (wd = 0; wd < d->nwatches; wd++)
		cd_watch_forget(d, wd);
	free(d->watches);
	d->watches = NULL;
	d->nwatches = 0;
	if (d->inotify.fd >= 0) {
		cd_loop_del(&d->loop, &d->inotify);
		close(d->inotify.fd);
		d->inotify.fd = -1;
	}
}

/* The kernel dropped @wd (IN_IGNORED): forget it. */
void cd_watch_forget(struct daemon *d, int wd)
{
	struct watch *w;

	if (wd < 0 || wd >= d->nwatches)
		return;
	while ((w = d->watches[wd])) {
		d->watches[wd] = w->next;
		free(w->dir);
		free(w);
	}
}

/*
 * Copy out who watches @wd, at most @max; the caller frees each dir.
 * A copy, because handling an event may change the watches.
 */
int cd_watch_get(struct daemon *d, int wd, struct cd_watch_hit *hits, int max)
{
	struct watch *w;
	int k = 0;

	if (wd < 0 || wd >= d->nwatches)
		return 0;
	for (w = d->watches[wd]; w && k < max; w = w->next) {
		hits[k].pin = w->pin;
		hits[k].dir = strdup(w->dir);
		if (hits[k].dir)
			k++;
	}
	return k;
}
