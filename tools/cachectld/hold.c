// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Held pins: kept for as long as the connection that asked for them stays
 * open, never written to the store. A batch job's stepd, or any program
 * that wants its working set kept only while it runs, holds its pins over
 * its connection; when it exits, is killed or its node reboots, the kernel
 * closes the socket (or nothing survives) and the pins go with it. No
 * polling, no knowledge of what the holder is.
 *
 * Holds count: several connections holding one path share one pin, which
 * goes with the last of them, and never while the store also has it. A
 * connection releases only its own holds.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cachectld.h"

struct cd_hold {
	const void *owner;		/* the connection */
	uid_t uid;
	char *path;			/* the dpin's canonical path */
	char *holder;
	unsigned int flags;
};

/* Does a pin kept with @have keep what @want asks for? */
static bool flags_cover(unsigned int have, unsigned int want)
{
	unsigned int strength = CACHECTL_PIN_RECURSIVE | CACHECTL_PIN_INHERIT |
				CACHECTL_PIN_HARD;

	return (want & strength & ~have) == 0;
}

int cd_hold_add(struct daemon *d, const void *owner, uid_t uid,
		struct cachectl_pin *pin, const char *holder)
{
	const char *path = cachectl_pin_get_path(pin);
	unsigned int flags = cachectl_pin_get_flags(pin);
	struct cd_hold *h, *v;
	struct dpin *p;
	int r = 0;

	p = cd_pin_find(d, path);
	if (p && !flags_cover(p->flags, flags))
		return -EBUSY;
	v = realloc(d->holds, (d->nholds + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	d->holds = v;
	h = &v[d->nholds];
	*h = (struct cd_hold){ .owner = owner, .uid = uid, .flags = flags,
			       .path = strdup(path), .holder = strdup(holder) };
	if (!h->path || !h->holder) {
		free(h->path);
		free(h->holder);
		return -ENOMEM;
	}
	if (!p) {
		r = cd_pin_set(d, pin);
		p = cd_pin_find(d, path);
		if (!p) {
			free(h->path);
			free(h->holder);
			return r < 0 ? r : -ENOMEM;
		}
		p->in_store = false;
	}
	p->nholds++;
	d->nholds++;
	cd_log(d, LOG_NOTICE, "uid %u: %s holds %s", (unsigned int)uid,
	       cd_pesc(d, holder), cd_pesc(d, path));
	return r;
}

static void hold_drop(struct daemon *d, size_t i)
{
	struct cd_hold *h = &d->holds[i];
	struct dpin *p = cd_pin_find(d, h->path);

	cd_log(d, LOG_NOTICE, "%s released %s", cd_pesc(d, h->holder),
	       cd_pesc(d, h->path));
	if (p && p->nholds && !--p->nholds && !p->in_store)
		cd_pin_drop(d, p);
	free(h->path);
	free(h->holder);
	memmove(h, h + 1, (d->nholds - i - 1) * sizeof(*h));
	d->nholds--;
}

int cd_hold_release(struct daemon *d, const void *owner, const char *path)
{
	size_t i;

	for (i = d->nholds; i-- > 0;)
		if (d->holds[i].owner == owner && !strcmp(d->holds[i].path, path)) {
			hold_drop(d, i);
			return 0;
		}
	return -ENOENT;
}

void cd_holds_release_owner(struct daemon *d, const void *owner)
{
	size_t i;

	for (i = d->nholds; i-- > 0;)
		if (d->holds[i].owner == owner)
			hold_drop(d, i);
}

bool cd_holds_owned(const struct daemon *d, const void *owner)
{
	size_t i;

	for (i = 0; i < d->nholds; i++)
		if (d->holds[i].owner == owner)
			return true;
	return false;
}

int cd_hold_get(const struct daemon *d, size_t i, const char **path,
		unsigned int *flags, const char **holder, uid_t *uid)
{
	if (i >= d->nholds)
		return -ENOENT;
	*path = d->holds[i].path;
	*flags = d->holds[i].flags;
	*holder = d->holds[i].holder;
	*uid = d->holds[i].uid;
	return 0;
}

void cd_holds_free(struct daemon *d)
{
	size_t i;

	for (i = 0; i < d->nholds; i++) {
		free(d->holds[i].path);
		free(d->holds[i].holder);
	}
	free(d->holds);
	d->holds = NULL;
	d->nholds = 0;
}
