// SPDX-License-Identifier: LGPL-2.1-or-later
/* Backend probe: ask the kernel what it can do, once per context. */
#include <errno.h>
#include <stddef.h>
#include <unistd.h>
#include <sys/syscall.h>
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
static bool have_fcachectl(void)
{
	long r = syscall(__NR_fcachectl, -1, CACHECTL_OP_PROBE_NR, NULL, 0);

	return r == CACHECTL_PROBE_MAGIC;
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

CACHECTL_EXPORT int cachectl_backend_probe(struct cachectl_ctx *ctx,
					   unsigned int *ret_features)
{
	unsigned int f = CACHECTL_FEATURE_MINCORE;

	if (!ctx)
		return -EINVAL;
	if (ctx->forced_backend < 0)
		return -EINVAL;
	if (!ctx->backend) {
		if (have_cachestat(ctx))
			f |= CACHECTL_FEATURE_CACHESTAT;
		if (have_uring_fadvise())
			f |= CACHECTL_FEATURE_IO_URING;
		if (have_fcachectl())
			f |= CACHECTL_FEATURE_SYSCALL;
		ctx->features = f;
		/*
		 * The kernel backend's library side lands with the syscall
		 * integration; until then the shim serves every kernel.
		 */
		ctx->backend = CACHECTL_BACKEND_SHIM;
		info(ctx, "backend %s, features 0x%x\n",
		     cachectl_backend_name(ctx->backend), f);
	}
	if (ctx->forced_backend == CACHECTL_BACKEND_KERNEL)
		return -EOPNOTSUPP;
	if (ret_features)
		*ret_features = ctx->features;
	return ctx->backend;
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
