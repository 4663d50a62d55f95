// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The --from reader: one path per line, or per NUL with -0. A line that
 * is no path is named and skipped, the others still run: a list from
 * find(1) holds a million names and one bad one must not cost the rest.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cachectl-tool.h"

int path_list_next(struct path_list *l, const char **ret)
{
	char delim = l->nul ? '\0' : '\n';
	ssize_t n;

	for (;;) {
		n = getdelim(&l->line, &l->cap, delim, l->f);
		if (n < 0)
			return ferror(l->f) ? -EIO : 0;
		l->lineno++;
		if (l->line[n - 1] == delim)
			l->line[--n] = '\0';
		if (!n)
			continue;	/* an empty line names nothing */
		/* a newline-separated list has no place for a NUL */
		if (strlen(l->line) != (size_t)n)
			return -EINVAL;
		if (n >= PATH_MAX)
			return -ENAMETOOLONG;
		*ret = l->line;
		return 1;
	}
}

const char *path_list_error(int error)
{
	switch (error) {
	case -EINVAL:
		return "a NUL byte in the line (-0 reads NUL-separated lists)";
	case -ENAMETOOLONG:
		return "longer than a path can be";
	}
	return strerror(-error);
}

void path_list_free(struct path_list *l)
{
	free(l->line);
	l->line = NULL;
	l->cap = 0;
}
