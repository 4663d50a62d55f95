// SPDX-License-Identifier: LGPL-2.1-or-later
/* Library context: reference counting and the environment it reads. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cachectl-private.h"

CACHECTL_EXPORT int cachectl_new(struct cachectl_ctx **ret_ctx)
{
	struct cachectl_ctx *ctx;
	const char *env;
	long ps;

	if (!ret_ctx)
		return -EINVAL;
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return -ENOMEM;
	ctx->refcount = 1;
	ctx->log_fn = cachectl__log_stderr;
	ctx->log_priority = LOG_ERR;
	ctx->ops = &cachectl__default_sysops;
	ctx->fowner = -1;
	pthread_mutex_init(&ctx->stacked_lock, NULL);
	ps = sysconf(_SC_PAGESIZE);
	ctx->page_size = ps > 0 ? (int)ps : 4096;

	env = secure_getenv("CACHECTL_LOG");
	if (env) {
		int prio = cachectl__log_priority_parse(env);

		if (prio >= 0)
			ctx->log_priority = prio;
	}
	ctx->forced_backend =
		cachectl__backend_parse(secure_getenv("CACHECTL_BACKEND"));

	*ret_ctx = ctx;
	return 0;
}

CACHECTL_EXPORT struct cachectl_ctx *cachectl_ref(struct cachectl_ctx *ctx)
{
	if (ctx)
		ctx->refcount++;
	return ctx;
}

CACHECTL_EXPORT struct cachectl_ctx *cachectl_unref(struct cachectl_ctx *ctx)
{
	if (!ctx)
		return NULL;
	if (--ctx->refcount > 0)
		return ctx;
	cachectl__stacked_free(ctx);
	pthread_mutex_destroy(&ctx->stacked_lock);
	free(ctx);
	return NULL;
}

void cachectl__ctx_set_sysops(struct cachectl_ctx *ctx,
			     const struct cachectl_sysops *ops)
{
	ctx->ops = ops ? ops : &cachectl__default_sysops;
	ctx->be = NULL;
	ctx->be_err = 0;
	ctx->features = 0;
	ctx->fowner = -1;
	ctx->cachestat = 0;
}
