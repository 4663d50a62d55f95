// SPDX-License-Identifier: LGPL-2.1-or-later
/* Logging and events: one line per event on stderr, and to subscribers. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cachectld.h"
#include "common/escape.h"

static const char *const prio_names[] = {
	"emerg", "alert", "crit", "error", "warning", "notice", "info", "debug",
};

void dlog(struct daemon *d, int prio, const char *fmt, ...)
{
	va_list ap;

	if (prio > d->verbose)
		return;
	fprintf(stderr, "cachectld: %s: ", prio_names[prio & 7]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/*
 * A path made safe for one log line: control bytes, backslash and DEL as
 * \xHH, as on the wire. Four rotating buffers, so a line may hold several.
 */
const char *pesc(const char *path)
{
	static char bufs[4][4 * 4096 + 1];
	static unsigned int next;
	char *b = bufs[next++ & 3];

	if (!path)
		return "(null)";
	/* no path the kernel hands out is longer than PATH_MAX */
	if (cc_hex_escaped_len(path, 0) > 4 * 4096)
		return "(too long)";
	cc_hex_escape(b, path, 0);
	return b;
}

void fmt_size(char *buf, size_t len, uint64_t bytes)
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

uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void event_emit(struct daemon *d, int type, const char *path, uint64_t bytes)
{
	int prio = LOG_INFO;
	char sz[32];

	if (type == CACHECTL_EVENT_SHORTFALL || type == CACHECTL_EVENT_ERROR ||
	    type == CACHECTL_EVENT_OVER_BUDGET)
		prio = LOG_WARNING;
	fmt_size(sz, sizeof(sz), bytes);
	dlog(d, prio, "event %s %s (%s)", cachectl_event_name(type), pesc(path), sz);
	clients_broadcast(d, type, path, bytes);
}
