// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Which files a pin covers, in one place: the pin's path itself, the
 * files directly in it when it is a directory, and the whole tree under
 * it for a recursive pin. Walking them (cachectl_pin_walk_new()) and
 * asking about one path (cachectl_pin_covers()) follow the same rule, and
 * so do the CLI, the kernel pins and cachectld.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cachectl-private.h"
#include "extensible.h"
#include "pin-private.h"

#define PIN_WALK_FLAGS (CACHECTL_WALK_FOLLOW | CACHECTL_WALK_ONE_FS | \
			CACHECTL_WALK_ALL_LINKS)

CACHECTL_EXPORT int cachectl_pin_covers(const struct cachectl_pin *pin,
					const char *path)
{
	size_t n;

	if (!pin || !path || *path != '/')
		return -EINVAL;
	if (!strcmp(path, pin->path))
		return 1;
	/* "/" is the one pin path that ends with its separator */
	n = strcmp(pin->path, "/") ? strlen(pin->path) : 0;
	if (strncmp(path, pin->path, n) || path[n] != '/' || !path[n + 1])
		return 0;
	if (pin->flags & CACHECTL_PIN_RECURSIVE)
		return 1;
	return !strchr(path + n + 1, '/');
}

CACHECTL_EXPORT int cachectl_pin_walk_new(const struct cachectl_pin *pin,
					  unsigned int flags,
					  struct cachectl_walk **ret_walk)
{
	struct cachectl_walk *w;
	int r;

	if (!pin || !ret_walk || (flags & ~PIN_WALK_FLAGS))
		return -EINVAL;
	if (pin->flags & CACHECTL_PIN_RECURSIVE)
		flags |= CACHECTL_WALK_RECURSIVE;
	r = cachectl_walk_new(pin->ctx, flags, &w);
	if (r < 0)
		return r;
	r = cachectl_walk_add_path(w, pin->path);
	if (r < 0) {
		cachectl_walk_unref(w);
		return r;
	}
	*ret_walk = w;
	return 0;
}

struct measure {
	struct cachectl_pin_usage u;
	uint64_t seen;		/* files whose residency was read */
};

static int measure_add(struct cachectl_walk *w, const struct cachectl_entry *e,
		       void *data)
{
	struct measure *m = data;
	struct cachectl_residency res;

	if (cachectl_entry_get_error(e) < 0 ||
	    cachectl_entry_get_residency(e, &res, sizeof(res)) < 0)
		return 0;
	m->seen++;
	if (!(res.flags & CACHECTL_RES_FSCACHE))
		return 0;
	m->u.flags |= CACHECTL_PIN_USAGE_FSCACHE;
	m->u.fscache += res.fscache;
	if (res.cache_state & CACHECTL_CACHE_PINNED)
		m->u.fscache_pinned++;
	return 0;
}

CACHECTL_EXPORT int cachectl_pin_measure(const struct cachectl_pin *pin,
					 struct cachectl_pin_usage *ret,
					 size_t size)
{
	struct measure m = { 0 };
	struct cachectl_totals t;
	struct cachectl_walk *w;
	int r;

	if (!ret || size < CACHECTL_PIN_USAGE_SIZE_VER0)
		return -EINVAL;
	r = cachectl_pin_walk_new(pin, 0, &w);
	if (r < 0)
		return r;
	r = cachectl_walk_run(w, CACHECTL_WALK_OP_QUERY, 0, measure_add, &m);
	if (r >= 0)
		r = cachectl_walk_get_totals(w, &t, sizeof(t));
	cachectl_walk_unref(w);
	if (r < 0)
		return r;
	m.u.files = t.files;
	m.u.size = t.size;
	m.u.cached = t.cached;
	m.u.errors = t.errors;
	/* "pinned of all": every file counts, on fscache or not */
	if (m.u.flags & CACHECTL_PIN_USAGE_FSCACHE)
		m.u.fscache_files = m.seen;
	return cachectl_copy_out(ret, size, &m.u, sizeof(m.u),
				 CACHECTL_PIN_USAGE_SIZE_VER0);
}

CACHECTL_EXPORT int cachectl_pinstore_find(struct cachectl_pinstore *store,
					   const char *path,
					   struct cachectl_pin **ret_pin)
{
	struct cachectl_pin *found = NULL;
	char *real;
	size_t k;

	if (!store || !path || !ret_pin)
		return -EINVAL;
	/* a pin is recorded canonical; its path may be gone by now */
	real = cachectl__pin_path(path);
	for (k = 0; !found && k < cachectl_pinstore_get_count(store); k++) {
		struct cachectl_pin *pin = cachectl_pinstore_get_pin(store, k);
		const char *p = pin->path;

		if (!strcmp(p, path) || (real && !strcmp(p, real)))
			found = pin;
	}
	free(real);
	if (!found)
		return -ENOENT;
	*ret_pin = cachectl_pin_ref(found);
	return 0;
}

CACHECTL_EXPORT int cachectl_pinstore_covers(const struct cachectl_pinstore *store,
					     const char *path)
{
	size_t k;
	int r;

	if (!store || !path)
		return -EINVAL;
	for (k = 0; k < cachectl_pinstore_get_count(store); k++) {
		r = cachectl_pin_covers(cachectl_pinstore_get_pin(store, k), path);
		if (r)
			return r;
	}
	return 0;
}
