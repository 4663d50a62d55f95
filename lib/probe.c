// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Backend probe: ask the kernel what it can do, once per context, by
 * trying the calls themselves (never by kernel version: distributions
 * backport, and the syscall comes from an out-of-tree patch set).
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>
#include <liburing.h>

#include "backend.h"
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
	return ctx->ops->fcachectl &&
	       ctx->ops->fcachectl(-1, KCACHECTL_OP_PROBE, NULL) ==
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

int cachectl__backend_parse(const char *s)
{
	if (!s || !*s)
		return 0;
	if (!strcmp(s, cachectl__shim_ops.name))
		return CACHECTL_BACKEND_SHIM;
	if (!strcmp(s, cachectl__kernel_ops.name))
		return CACHECTL_BACKEND_KERNEL;
	return -EINVAL;
}

/*
 * A context whose probe failed: every operation fails with the probe's
 * error, file by file, as the walks report any other failure.
 */
static int failed_query(struct cachectl_ctx *ctx, int fd, const struct stat *st,
			uint64_t off, uint64_t len,
			struct cachectl_residency *res)
{
	return ctx->be_err;
}

static int failed_prefetch(struct cachectl_ctx *ctx, int fd,
			   const struct stat *st, uint64_t off, uint64_t len,
			   unsigned int flags, struct cachectl_residency *res,
			   uint64_t *ret_bytes)
{
	return ctx->be_err;
}

static int failed_prefetch_whole(struct cachectl_ctx *ctx, int fd,
				 const struct stat *st, unsigned int flags,
				 struct cachectl_residency *res,
				 uint64_t *ret_bytes)
{
	return ctx->be_err;
}

static int failed_prefetch_wait(struct cachectl_ctx *ctx, int fd,
				const struct stat *st, uint64_t off,
				uint64_t len)
{
	return ctx->be_err;
}

static int failed_evict(struct cachectl_ctx *ctx, int fd, const struct stat *st,
			uint64_t off, uint64_t len, uint64_t *ret_left,
			struct cachectl_residency *after)
{
	return ctx->be_err;
}

static int failed_pin(struct cachectl_ctx *ctx, int fd)
{
	return ctx->be_err;
}

static int failed_set_culling(struct cachectl_ctx *ctx, int fd, bool enable)
{
	return ctx->be_err;
}

static const struct cachectl_backend_ops failed_ops = {
	.name = NULL,
	.query = failed_query,
	.prefetch = failed_prefetch,
	.prefetch_whole = failed_prefetch_whole,
	.prefetch_wait = failed_prefetch_wait,
	.evict = failed_evict,
	.pin = failed_pin,
	.unpin = failed_pin,
	.set_culling = failed_set_culling,
};

/*
 * The backend the operations use, chosen here once per context. On
 * failure, a table that fails every operation: -EOPNOTSUPP when
 * CACHECTL_BACKEND=kernel was forced on a kernel without the syscall
 * (operations then fail rather than quietly use the shim), or -EINVAL for
 * an unknown name. Walk threads may race here; they all compute the same
 * answer.
 */
const struct cachectl_backend_ops *cachectl__backend_probe(
	struct cachectl_ctx *ctx, int *ret_err)
{
	const struct cachectl_backend_ops *be;
	unsigned int f = CACHECTL_FEATURE_MINCORE;
	int err = __atomic_load_n(&ctx->be_err, __ATOMIC_ACQUIRE);

	be = __atomic_load_n(&ctx->be, __ATOMIC_ACQUIRE);
	if (be || err) {
		*ret_err = err;
		return err ? &failed_ops : be;
	}
	if (have_cachestat(ctx))
		f |= CACHECTL_FEATURE_CACHESTAT;
	if (have_uring_fadvise())
		f |= CACHECTL_FEATURE_IO_URING;
	if (have_fcachectl(ctx))
		f |= CACHECTL_FEATURE_SYSCALL;
	if (ctx->forced_backend < 0)
		err = ctx->forced_backend;
	else if (ctx->forced_backend == CACHECTL_BACKEND_SHIM)
		be = &cachectl__shim_ops;
	else if (f & CACHECTL_FEATURE_SYSCALL)
		be = &cachectl__kernel_ops;
	else if (ctx->forced_backend == CACHECTL_BACKEND_KERNEL)
		err = -EOPNOTSUPP;
	else
		be = &cachectl__shim_ops;
	__atomic_store_n(&ctx->features, f, __ATOMIC_RELAXED);
	if (err) {
		__atomic_store_n(&ctx->be_err, err, __ATOMIC_RELEASE);
		*ret_err = err;
		return &failed_ops;
	}
	__atomic_store_n(&ctx->be, be, __ATOMIC_RELEASE);
	info(ctx, "backend %s%s, features 0x%x\n", be->name,
	     ctx->forced_backend ? " (forced)" : "", f);
	*ret_err = 0;
	return be;
}

CACHECTL_EXPORT int cachectl_backend_probe(struct cachectl_ctx *ctx,
					   unsigned int *ret_features)
{
	const struct cachectl_backend_ops *be;
	int r;

	if (!ctx)
		return -EINVAL;
	r = cachectl__backend_get(ctx, &be);
	if (r < 0)
		return r;
	if (ret_features)
		*ret_features = __atomic_load_n(&ctx->features,
						__ATOMIC_RELAXED);
	return be->id;
}

CACHECTL_EXPORT int cachectl_get_capabilities(struct cachectl_ctx *ctx,
					      unsigned int *ret_caps)
{
	const struct cachectl_backend_ops *be;
	int r;

	if (!ctx || !ret_caps)
		return -EINVAL;
	r = cachectl__backend_get(ctx, &be);
	if (r < 0)
		return r;
	*ret_caps = be->caps;
	return 0;
}

CACHECTL_EXPORT const char *cachectl_backend_name(int backend)
{
	if (backend == cachectl__shim_ops.id)
		return cachectl__shim_ops.name;
	if (backend == cachectl__kernel_ops.id)
		return cachectl__kernel_ops.name;
	return NULL;
}
