// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Backend probe: ask the kernel what it can do, once per context, by
 * trying the calls themselves (never by kernel version: distributions
 * backport, and the syscall comes from an out-of-tree patch set).
 */
#include <errno.h>
#include <stddef.h>
#include <unistd.h>
#include <liburing.h>

#include "cachectl-private.h"
#include "uapi-cachectl.h"

/* cachestat on fd -1: EBADF means the syscall exists, ENOSYS it does not. */
static bool have_cachestat(struct cachectl_ctx *ctx)
{
	struct cachestat cs;

	return ctx->ops->cachestat(-1, 0, 0, &cs) != -ENOSYS;
}

/*
 * A stray ENOSYS, EINVAL or EPERM (seccomp) all mean "not ours"; so does
 * any answer but the magic one, e.g. a future upstream syscall that took
 * the number.
 */
static bool have_fcachectl(struct cachectl_ctx *ctx)
{
	if (!ctx->ops->fcachectl)
		return false;
	return ctx->ops->fcachectl(-1, KCACHECTL_OP_PROBE, NULL) ==
	       KCACHECTL_PROBE_MAGIC;
}

static bool have_uring_fadvise(void)
{
	struct io_uring_probe *p = io_uring_get_probe();
	bool ok;

	if (!p)
		return false;
	ok = io_uring_opcode_supported(p, IORING_OP_FADVISE);
	io_uring_free_probe(p);
	return ok;
}

/*
 * The backend the operations use: CACHECTL_BACKEND_*, or -EOPNOTSUPP
 * when CACHECTL_BACKEND=kernel was forced on a kernel without the
 * syscall (operations then fail rather than quietly use the shim), or
 * -EINVAL for an unknown name. Walk threads may race here; they all
 * compute the same answer.
 */
int cachectl_backend(struct cachectl_ctx *ctx)
{
	int b = __atomic_load_n(&ctx->backend, __ATOMIC_ACQUIRE);
	unsigned int f = CACHECTL_FEATURE_MINCORE;

	if (b)
		return b;
	if (have_cachestat(ctx))
		f |= CACHECTL_FEATURE_CACHESTAT;
	if (have_uring_fadvise())
		f |= CACHECTL_FEATURE_IO_URING;
	if (have_fcachectl(ctx))
		f |= CACHECTL_FEATURE_SYSCALL;
	if (ctx->forced_backend < 0)
		b = ctx->forced_backend;
	else if (ctx->forced_backend == CACHECTL_BACKEND_SHIM)
		b = CACHECTL_BACKEND_SHIM;
	else if (f & CACHECTL_FEATURE_SYSCALL)
		b = CACHECTL_BACKEND_KERNEL;
	else if (ctx->forced_backend == CACHECTL_BACKEND_KERNEL)
		b = -EOPNOTSUPP;
	else
		b = CACHECTL_BACKEND_SHIM;
	__atomic_store_n(&ctx->features, f, __ATOMIC_RELAXED);
	__atomic_store_n(&ctx->backend, b, __ATOMIC_RELEASE);
	if (b > 0)
		info(ctx, "backend %s%s, features 0x%x\n",
		     cachectl_backend_name(b),
		     ctx->forced_backend ? " (forced)" : "", f);
	return b;
}

CACHECTL_EXPORT int cachectl_backend_probe(struct cachectl_ctx *ctx,
					   unsigned int *ret_features)
{
	int b;

	if (!ctx)
		return -EINVAL;
	b = cachectl_backend(ctx);
	if (b > 0 && ret_features)
		*ret_features = __atomic_load_n(&ctx->features,
						__ATOMIC_RELAXED);
	return b;
}

CACHECTL_EXPORT const char *cachectl_backend_name(int backend)
{
	switch (backend) {
	case CACHECTL_BACKEND_SHIM:
		return "shim";
	case CACHECTL_BACKEND_KERNEL:
		return "kernel";
	}
	return NULL;
}
