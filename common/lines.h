/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Following a file that others append lines to (the offline managers'
 * events): what was added since the last call, a whole line at a time.
 * Writers keep such a file bounded by truncating it when it grows too
 * long; a follower that finds it shorter than where it was reads it again
 * from the start.
 */
#ifndef CACHECTL_COMMON_LINES_H
#define CACHECTL_COMMON_LINES_H

#include <stddef.h>
#include <sys/types.h>

struct cc_lines {
	off_t pos;		/* where the next read starts */
	size_t have;		/* bytes of an unfinished line in buf */
	char buf[16384];
};

/*
 * Calls @fn on each whole line appended to @fd since the last call
 * (without its newline); a partial line waits for the next call, a line
 * longer than the buffer is dropped. A file shorter than the last call
 * left it was truncated: its lines are read from the start, and a partial
 * line kept from before is dropped. Returns 0 or a negative errno.
 */
int cc_lines_follow(int fd, struct cc_lines *l,
		    void (*fn)(char *line, void *data), void *data);

#endif
