// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The one progress line on stderr, for every verb that walks: redrawn in
 * place, wiped before any other message. A terminal that TERM says is
 * dumb (or no TERM at all) gets carriage returns and spaces only, never
 * escape codes.
 */
#include <stdlib.h>
#include <string.h>

#include "cachectl-tool.h"

void progress_init(struct progress *p, struct guard *g)
{
	const char *term = getenv("TERM");

	memset(p, 0, sizeof(*p));
	p->plain = !term || !*term || !strcmp(term, "dumb");
	p->guard = g;
}

void progress_show(struct progress *p, const char *verb,
		   const struct cachectl_totals *t)
{
	char line[160], a[32], b[32];
	int n;

	/*
	 * Pages are whole, sizes are bytes: a tree of small files holds
	 * more page bytes than file bytes, which would read "14.1M of
	 * 10.3M". All of it cached is all of it.
	 */
	n = snprintf(line, sizeof(line), "%s: %llu files, %s of %s cached%s",
		     verb, (unsigned long long)t->files,
		     size_human(MIN(t->cached, t->size), a, sizeof(a)),
		     size_human(t->size, b, sizeof(b)),
		     t->errors ? ", errors" : "");
	if (n < 0)
		return;
	n = MIN(n, (int)sizeof(line) - 1);
	if (p->plain)
		fprintf(stderr, "\r%s%*s", line, MAX(p->len - n, 0), "");
	else
		fprintf(stderr, "\r\033[K%s", line);
	p->len = MAX(p->len, n);
	p->shown = true;
	if (p->guard)
		guard_progress_shown(p->guard, p->len, p->plain);
}

/* what progress_clear() writes, for a signal's path too */
size_t progress_wipe_text(char *buf, size_t size, int len, bool plain)
{
	size_t n = 0;

	if (!plain) {
		memcpy(buf, "\r\033[K", MIN(size, 4u));
		return MIN(size, 4u);
	}
	if (size < 2)
		return 0;
	buf[n++] = '\r';
	while (len-- > 0 && n < size - 1)
		buf[n++] = ' ';
	buf[n++] = '\r';
	return n;
}

void progress_clear(struct progress *p)
{
	char buf[200];
	size_t n;

	if (!p->shown)
		return;
	n = progress_wipe_text(buf, sizeof(buf), p->len, p->plain);
	fwrite(buf, 1, n, stderr);
	p->shown = false;
	p->len = 0;
	if (p->guard)
		guard_progress_shown(p->guard, 0, p->plain);
}
