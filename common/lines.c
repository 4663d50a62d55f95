// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lines.h"

int cc_lines_follow(int fd, struct cc_lines *l,
		    void (*fn)(char *line, void *data), void *data)
{
	struct stat st;
	ssize_t n;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_size < l->pos) {
		l->pos = 0;
		l->have = 0;
	}
	while ((n = pread(fd, l->buf + l->have, sizeof(l->buf) - 1 - l->have,
			  l->pos)) > 0) {
		char *start = l->buf, *nl;

		l->pos += n;
		l->have += (size_t)n;
		l->buf[l->have] = '\0';
		while ((nl = strchr(start, '\n'))) {
			*nl = '\0';
			fn(start, data);
			start = nl + 1;
		}
		l->have -= (size_t)(start - l->buf);
		memmove(l->buf, start, l->have);
		if (l->have == sizeof(l->buf) - 1)
			l->have = 0;
	}
	return n < 0 ? -errno : 0;
}
