// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Inherit pins: every directory of the tree is watched (watch.c), so a
 * file created, written or moved in later joins the pin and is made
 * resident (or locked) without anyone asking; files deleted or moved out
 * leave it. A queue overflow re-walks the inherit pins. Trees are walked
 * on threads that add their directories' watches as they go, so events
 * can come before the loop knows whose they are: those wait (stash()).
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cachectld.h"

static void overflow(struct daemon *d, const char *why);

static void on_event(struct daemon *d, struct dpin *p, const char *dir,
		     const struct inotify_event *ev)
{
	struct dfile *f;
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
		/* lstat() off the loop: the mount may hang */
		if (cd_check_newfile(d, p, path) == -ENOBUFS)
			overflow(d, "too many new files waiting to be looked at");
	}
	free(path);
}

/*
 * Events of a watch a walk's thread added but the loop has not registered
 * yet (the walk is still out): kept, within STASH_MAX, until it is back.
 */
#define STASH_MAX (1u << 20)

struct cd_stash {
	struct cd_stash *next;
	size_t len;
	struct inotify_event ev;	/* and its name: len bytes in all */
};

static void overflow(struct daemon *d, const char *why)
{
	size_t j;

	cd_log(d, LOG_WARNING, "%s: walking the inherit pins again", why);
	for (j = 0; j < d->npins; j++)
		if (d->pins[j]->flags & CACHECTL_PIN_INHERIT)
			cd_pin_expand(d, d->pins[j]);
}

static void dispatch(struct daemon *d, const struct inotify_event *ev)
{
	struct cd_watch_hit todo[16];
	int k, i;

	if (ev->mask & IN_IGNORED) {
		cd_watch_forget(d, ev->wd);
		return;
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

static bool walks_out(const struct daemon *d)
{
	return d->nwalks || d->walk_q;
}

/* An event of a watch nobody knows yet: keep it while walks are out. */
static void stash(struct daemon *d, const struct inotify_event *ev)
{
	size_t len = sizeof(*ev) + ev->len;
	struct cd_stash *s, **pp;

	if (d->stash_bytes + len > STASH_MAX) {
		d->stash_overflow = true;
		return;
	}
	s = malloc(offsetof(struct cd_stash, ev) + len);
	if (!s) {
		d->stash_overflow = true;
		return;
	}
	s->next = NULL;
	s->len = len;
	memcpy(&s->ev, ev, len);
	for (pp = &d->stash; *pp; pp = &(*pp)->next)
		;
	*pp = s;
	d->stash_bytes += len;
}

void cd_stash_free(struct daemon *d)
{
	while (d->stash) {
		struct cd_stash *s = d->stash;

		d->stash = s->next;
		free(s);
	}
	d->stash_bytes = 0;
}

/* A walk is back, its watches registered: their kept events, in order. */
void cd_inherit_replay(struct daemon *d)
{
	struct cd_stash **pp = &d->stash, *s;
	bool lost;

	while ((s = *pp)) {
		if (!cd_watch_known(d, s->ev.wd)) {
			pp = &s->next;
			continue;
		}
		*pp = s->next;
		d->stash_bytes -= s->len;
		dispatch(d, &s->ev);
		free(s);
		pp = &d->stash;		/* dispatching may have changed it */
	}
	if (walks_out(d))
		return;
	/* nobody will claim the rest: watches of dropped pins */
	lost = d->stash_overflow;
	cd_stash_free(d);
	d->stash_overflow = false;
	if (lost)
		overflow(d, "too many events while directories were walked");
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

			ptr += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW)
				overflow(d, "inotify queue overflow");
			else if (!cd_watch_known(d, ev->wd) && walks_out(d))
				stash(d, ev);
			else
				dispatch(d, ev);
		}
	}
}
