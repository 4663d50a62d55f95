// SPDX-License-Identifier: LGPL-2.1-or-later
/* A walk's small helpers: string vectors, its path buffer, globs. */
#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "walk-private.h"

void cachectl__strv_free(struct strv *v)
{
	size_t i;

	for (i = 0; i < v->n; i++)
		free(v->s[i]);
	free(v->s);
	v->s = NULL;
	v->n = 0;
}

int cachectl__strv_add(struct strv *v, const char *s)
{
	char **n;

	if (!s || !*s)
		return -EINVAL;
	n = realloc(v->s, (v->n + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	v->s = n;
	v->s[v->n] = strdup(s);
	if (!v->s[v->n])
		return -ENOMEM;
	v->n++;
	return 0;
}

/*
 * One buffer holds the path of the entry being looked at, grown as the
 * walk descends: each name is pushed onto it and popped after.
 */
int cachectl__path_push(struct cachectl_walk *w, const char *name,
			size_t *mark)
{
	size_t n = strlen(name);
	bool slash = w->path_len && w->path[w->path_len - 1] != '/';
	size_t need = w->path_len + slash + n + 1;

	if (need > w->path_cap) {
		size_t cap = MAX(need, w->path_cap * 2);
		char *p = realloc(w->path, cap);

		if (!p)
			return -ENOMEM;
		w->path = p;
		w->path_cap = cap;
	}
	*mark = w->path_len;
	if (slash)
		w->path[w->path_len++] = '/';
	memcpy(w->path + w->path_len, name, n + 1);
	w->path_len += n;
	return 0;
}

void cachectl__path_pop(struct cachectl_walk *w, size_t mark)
{
	w->path_len = mark;
	w->path[mark] = '\0';
}

bool cachectl__glob_match(const struct strv *v, const char *path,
			  const char *base)
{
	size_t i;

	for (i = 0; i < v->n; i++) {
		const char *s = strchr(v->s[i], '/') ? path : base;

		if (fnmatch(v->s[i], s, 0) == 0)
			return true;
	}
	return false;
}
