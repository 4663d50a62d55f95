// SPDX-License-Identifier: LGPL-2.1-or-later
/* Logging and events: one line per event on stderr, and to observers. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cachectld.h"
#include "common/escape.h"

static const char *const prio_names[] = {
	"emerg", "alert", "crit", "error", "warning", "notice", "info", "debug",
};

void cd_log(struct daemon *d, int prio, const char *fmt, ...)
{
	va_list ap;

	if (prio > d->verbose)
		return;
	/* the journal keeps priority and name itself (sd-daemon(3)) */
	if (d->journal)
		fprintf(stderr, "<%d>", prio & 7);
	else
		fprintf(stderr, "cachectld: %s: ", prio_names[prio & 7]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/*
 * Is stderr the journal's stream? JOURNAL_STREAM names its device and
 * inode; a stderr redirected since (a shell in between) does not match
 * and gets plain lines.
 */
bool cd_log_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char end;

	if (!e || sscanf(e, "%llu:%llu%c", &dev, &ino, &end) != 2)
		return false;
	return fstat(STDERR_FILENO, &st) == 0 &&
	       (unsigned long long)st.st_dev == dev &&
	       (unsigned long long)st.st_ino == ino;
}

/*
 * A path made safe for one log line: control bytes, backslash and DEL as
 * \xHH, as on the wire. Four rotating buffers, so a line may hold several.
 */
const char *cd_pesc(struct daemon *d, const char *path)
{
	char *b = d->esc[d->esc_next++ & 3];

	if (!path)
		return "(null)";
	/* no path the kernel hands out is longer than PATH_MAX */
	if (cc_hex_escaped_len(path, 0) > sizeof(d->esc[0]) - 1)
		return "(too long)";
	cc_hex_escape(b, path, 0);
	return b;
}

void cd_fmt_size(char *buf, size_t len, uint64_t bytes)
{
	static const char units[] = "KMGTPE";
	double v = (double)bytes;
	int u = -1;

	if (bytes < 1024) {
		snprintf(buf, len, "%llu B", (unsigned long long)bytes);
		return;
	}
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, "%.*f %ciB", v < 10 ? 1 : 0, v, units[u]);
}

void cd_event_emit(struct daemon *d, int type, const char *path, uint64_t bytes)
{
	int prio = LOG_INFO;
	char sz[32];
	size_t i;

	if (type == CACHECTL_EVENT_SHORTFALL || type == CACHECTL_EVENT_ERROR ||
	    type == CACHECTL_EVENT_OVER_BUDGET)
		prio = LOG_WARNING;
	cd_fmt_size(sz, sizeof(sz), bytes);
	cd_log(d, prio, "event %s %s (%s)", cachectl_event_name(type), cd_pesc(d, path), sz);
	for (i = 0; i < d->nobservers; i++)
		d->observers[i].fn(d, type, path, bytes, d->observers[i].data);
}

/* Layers above (rpc) hear of events without events.c knowing them. */
int cd_events_subscribe(struct daemon *d, cd_event_fn fn, void *data)
{
	if (d->nobservers == ARRAY_LEN(d->observers))
		return -ENOSPC;
	d->observers[d->nobservers].fn = fn;
	d->observers[d->nobservers].data = data;
	d->nobservers++;
	return 0;
}
