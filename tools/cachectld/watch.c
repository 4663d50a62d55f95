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

/*
 * Watch @dir on inotify descriptor @ifd: the watch descriptor, or -errno.
 * No daemon state, so a walk's thread adds its directories' watches
 * before it reads them (no file slips through); the loop registers them.
 */
int cd_watch_kernel(int ifd, const char *dir)
{
	int wd = inotify_add_watch(ifd, dir, WATCH_MASK);

	return wd < 0 ? -errno : wd;
}

/* A directory of @p that could not be watched (@error: -errno). */
void cd_watch_failed(struct daemon *d, struct dpin *p, const char *dir,
		     int error)
{
	if (!p->watch_failed)
		cd_log(d, LOG_ERR,
		     "pin %s: cannot watch %s: %s%s; files created there will not join the pin",
		     cd_pesc(d, p->path), cd_pesc(d, dir), strerror(-error),
		     error == -ENOSPC ? " (fs.inotify.max_user_watches reached)" : "");
	p->watch_failed = true;
	p->dirty = true;
}

/* Record that @wd stands for @dir of @p. */
int cd_watch_register(struct daemon *d, struct dpin *p, int wd, const char *dir)
{
	struct watch *w;

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

/* A watch a walk added that nobody registered (its pin went): drop it. */
void cd_watch_drop_unused(struct daemon *d, int wd)
{
	if (wd >= 0 && (wd >= d->nwatches || !d->watches[wd]))
		inotify_rm_watch(d->inotify.fd, wd);
}

bool cd_watch_known(const struct daemon *d, int wd)
{
	return wd >= 0 && wd < d->nwatches && d->watches[wd];
}

/*
 * Forget the watches of @p (under @dir only, if not NULL). With @keep,
 * the kernel's watches stay for the caller to register again or drop.
 */
static void unwatch(struct daemon *d, struct dpin *p, const char *dir,
		    bool keep)
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
		if (had && !d->watches[wd] && !keep)
			inotify_rm_watch(d->inotify.fd, wd);
	}
}

void cd_watch_remove_pin(struct daemon *d, struct dpin *p)
{
	unwatch(d, p, NULL, false);
}

void cd_watch_remove_prefix(struct daemon *d, struct dpin *p, const char *dir)
{
	unwatch(d, p, dir, false);
}

/*
 * The watches of @p become those a walk of its whole tree added (@n
 * descriptors @wds for @dirs); the kernel's watches nobody needs any
 * more go.
 */
void cd_watch_replace_pin(struct daemon *d, struct dpin *p, const int *wds,
			  char *const *dirs, size_t n)
{
	int old = d->nwatches, wd;
	bool *had = calloc(old ? old : 1, sizeof(*had));
	size_t i;

	for (wd = 0; had && wd < old; wd++) {
		struct watch *w;

		for (w = d->watches[wd]; w; w = w->next)
			if (w->pin == p)
				had[wd] = true;
	}
	unwatch(d, p, NULL, true);
	for (i = 0; i < n; i++)
		if (cd_watch_register(d, p, wds[i], dirs[i]) < 0)
			cd_watch_failed(d, p, dirs[i], -ENOMEM);
	for (wd = 0; had && wd < old; wd++)
		if (had[wd] && !d->watches[wd])
			inotify_rm_watch(d->inotify.fd, wd);
	free(had);
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
