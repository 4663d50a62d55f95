// SPDX-License-Identifier: LGPL-2.1-or-later
/* Logging: syslog priorities, a replaceable sink, stderr by default. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cachectl-private.h"

void cachectl__log_stderr(void *data, int priority, const char *file, int line,
			 const char *fn, const char *format, va_list args)
{
	fprintf(stderr, "libcachectl: %s: ", fn);
	vfprintf(stderr, format, args);
}

int cachectl__log_priority_parse(const char *s)
{
	static const char *const names[] = {
		"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
	};
	char *end;
	long v;
	size_t i;

	errno = 0;
	v = strtol(s, &end, 10);
	if (!errno && end != s && !*end)
		return v >= LOG_EMERG && v <= LOG_DEBUG ? (int)v : -EINVAL;
	for (i = 0; i < ARRAY_SIZE(names); i++)
		if (!strcasecmp(s, names[i]))
			return (int)i;
	return -EINVAL;
}

void cachectl__log(struct cachectl_ctx *ctx, int priority, const char *file,
		  int line, const char *fn, const char *format, ...)
{
	va_list args;

	if (!ctx->log_fn)
		return;
	va_start(args, format);
	ctx->log_fn(ctx->log_data, priority, file, line, fn, format, args);
	va_end(args);
}

CACHECTL_EXPORT void cachectl_set_log_fn(struct cachectl_ctx *ctx,
					 cachectl_log_fn fn, void *data)
{
	if (!ctx)
		return;
	ctx->log_fn = fn;
	ctx->log_data = data;
}

CACHECTL_EXPORT int cachectl_get_log_priority(struct cachectl_ctx *ctx)
{
	return ctx ? ctx->log_priority : -EINVAL;
}

CACHECTL_EXPORT int cachectl_set_log_priority(struct cachectl_ctx *ctx,
					      int priority)
{
	if (!ctx || priority < LOG_EMERG || priority > LOG_DEBUG)
		return -EINVAL;
	ctx->log_priority = priority;
	return 0;
}
