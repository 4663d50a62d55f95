// SPDX-License-Identifier: LGPL-2.1-or-later
/* A pin: what to keep cached, and how. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "cachectl-private.h"
#include "fstype.h"
#include "pin-private.h"

#define PIN_FLAGS (CACHECTL_PIN_RECURSIVE | CACHECTL_PIN_INHERIT | \
		   CACHECTL_PIN_HARD)

int cachectl__pin_alloc(struct cachectl_ctx *ctx, const char *canonical,
	      unsigned int flags, struct cachectl_pin **ret)
{
	struct cachectl_pin *p;

	if (!ctx || !canonical || !*canonical || (flags & ~PIN_FLAGS) ||
	    ((flags & CACHECTL_PIN_INHERIT) && !(flags & CACHECTL_PIN_RECURSIVE)))
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->path = strdup(canonical);
	if (!p->path) {
		free(p);
		return -ENOMEM;
	}
	p->refcount = 1;
	p->ctx = cachectl_ref(ctx);
	p->flags = flags;
	*ret = p;
	return 0;
}

/* No context: callers resolve on threads of their own (cachectld does). */
CACHECTL_EXPORT int cachectl_pin_check_path(const char *path,
					    char **ret_canonical)
{
	struct statfs sf;
	struct stat st;
	char *canonical;
	int fd, r = 0;

	if (!path || !*path || !ret_canonical)
		return -EINVAL;
	/* resolved once: what is checked is what gets pinned */
	canonical = realpath(path, NULL);
	if (!canonical)
		return -errno;
	/* O_PATH: a FIFO is looked at, never opened (that would block) */
	fd = open(canonical, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || fstatfs(fd, &sf) < 0)
		r = -errno;
	else if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
		r = -EINVAL;
	else if (cachectl__magic_is_pseudo((long)sf.f_type))
		r = -EOPNOTSUPP;
	if (fd >= 0)
		close(fd);
	if (r < 0) {
		free(canonical);
		return r;
	}
	*ret_canonical = canonical;
	return 0;
}

CACHECTL_EXPORT int cachectl_pin_new_resolved(struct cachectl_ctx *ctx,
					      const char *canonical,
					      unsigned int flags,
					      struct cachectl_pin **ret_pin)
{
	if (!canonical || canonical[0] != '/' || !ret_pin)
		return -EINVAL;
	return cachectl__pin_alloc(ctx, canonical, flags, ret_pin);
}

/*
 * The name a pin of @path was recorded under, also once @path is gone:
 * made absolute and normalised as text ("d/sub/", "./d//sub" and
 * "d/x/../sub" are one), then its longest existing prefix resolved as
 * cachectl_pin_new() resolves the whole. NULL with errno on failure.
 */
char *cachectl__pin_path(const char *path)
{
	char *abs, *out, *real, *cut;
	size_t n = 0, i;

	real = realpath(path, NULL);
	if (real || errno != ENOENT)
		return real;
	if (*path == '/') {
		abs = strdup(path);
	} else {
		char *cwd = getcwd(NULL, 0);

		if (!cwd || asprintf(&abs, "%s/%s", cwd, path) < 0)
			abs = NULL;
		free(cwd);
	}
	out = abs ? malloc(strlen(abs) + 2) : NULL;
	if (!out) {
		free(abs);
		errno = ENOMEM;
		return NULL;
	}
	for (i = 0; abs[i];) {
		size_t len;

		while (abs[i] == '/')
			i++;
		len = strcspn(abs + i, "/");
		if (!len)
			break;
		if (len == 1 && abs[i] == '.') {
			/* nothing */
		} else if (len == 2 && abs[i] == '.' && abs[i + 1] == '.') {
			while (n && out[n - 1] != '/')
				n--;
			if (n)
				n--;
		} else {
			out[n++] = '/';
			memcpy(out + n, abs + i, len);
			n += len;
		}
		i += len;
	}
	if (!n)
		out[n++] = '/';
	out[n] = '\0';
	free(abs);
	/* the parents that are still there, resolved: symlinks and all */
	for (cut = strrchr(out, '/'); cut && cut > out; cut = memrchr(out, '/', (size_t)(cut - out))) {
		char *joined;

		*cut = '\0';
		real = realpath(out, NULL);
		*cut = '/';
		if (!real)
			continue;
		if (asprintf(&joined, "%s%s", strcmp(real, "/") ? real : "",
			     cut) < 0)
			joined = NULL;
		free(real);
		if (joined) {
			free(out);
			return joined;
		}
		break;
	}
	return out;
}

CACHECTL_EXPORT int cachectl_pin_new(struct cachectl_ctx *ctx, const char *path,
				     unsigned int flags,
				     struct cachectl_pin **ret_pin)
{
	char *canonical;
	int r;

	if (!ctx || !path || !*path || !ret_pin)
		return -EINVAL;
	r = cachectl_pin_check_path(path, &canonical);
	if (r < 0)
		return r;
	r = cachectl__pin_alloc(ctx, canonical, flags, ret_pin);
	free(canonical);
	return r;
}

CACHECTL_EXPORT struct cachectl_pin *cachectl_pin_ref(struct cachectl_pin *p)
{
	if (p)
		p->refcount++;
	return p;
}

CACHECTL_EXPORT struct cachectl_pin *cachectl_pin_unref(struct cachectl_pin *p)
{
	if (!p)
		return NULL;
	if (--p->refcount > 0)
		return p;
	cachectl_unref(p->ctx);
	free(p->path);
	free(p);
	return NULL;
}

CACHECTL_EXPORT const char *cachectl_pin_get_path(const struct cachectl_pin *p)
{
	return p ? p->path : NULL;
}

CACHECTL_EXPORT unsigned int cachectl_pin_get_flags(const struct cachectl_pin *p)
{
	return p ? p->flags : 0;
}

CACHECTL_EXPORT int cachectl_pin_get_priority(const struct cachectl_pin *p)
{
	return p ? p->priority : 0;
}

CACHECTL_EXPORT int cachectl_pin_set_priority(struct cachectl_pin *p,
					      int priority)
{
	if (!p)
		return -EINVAL;
	if (priority < CACHECTL_PRIORITY_MIN || priority > CACHECTL_PRIORITY_MAX)
		return -ERANGE;
	p->priority = priority;
	return 0;
}

CACHECTL_EXPORT uint64_t cachectl_pin_get_budget(const struct cachectl_pin *p)
{
	return p ? p->budget : 0;
}

CACHECTL_EXPORT int cachectl_pin_set_budget(struct cachectl_pin *p,
					    uint64_t bytes)
{
	if (!p)
		return -EINVAL;
	p->budget = bytes;
	return 0;
}
