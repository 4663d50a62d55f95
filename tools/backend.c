// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Which backend serves this run: probed once per context by the library,
 * checked and (with -v) named here, the same way for every verb.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cachectl-tool.h"

static const char *forced(void)
{
	const char *v = secure_getenv("CACHECTL_BACKEND");

	return v && *v ? v : NULL;
}

int tool_backend(struct cachectl_ctx *ctx, bool verbose)
{
	unsigned int f = 0;
	const char *env = forced();
	int b = cachectl_backend_probe(ctx, &f);

	if (b == -EINVAL) {
		fprintf(stderr, "%s: CACHECTL_BACKEND=%s: unknown backend "
			"(use shim or kernel)\n", program_name, env ? env : "");
		return b;
	}
	if (b == -EOPNOTSUPP) {
		fprintf(stderr, "%s: CACHECTL_BACKEND=%s: this kernel has no "
			"fcachectl system call, so the kernel backend cannot be "
			"used (it needs the patched kernel of kernel-patches/; "
			"unset CACHECTL_BACKEND to use the shim)\n", program_name,
			env ? env : "kernel");
		return b;
	}
	if (b < 0) {
		fprintf(stderr, "%s: cannot probe the kernel: %s\n",
			program_name, strerror(-b));
		return b;
	}
	if (!verbose)
		return b;
	if (tool_caps(ctx) & CACHECTL_CAP_FSCACHE) {
		fprintf(stderr, "%s: backend kernel (fcachectl%s)\n",
			program_name, env ? "; forced by CACHECTL_BACKEND" : "");
		return b;
	}
	fprintf(stderr, "%s: backend %s (%s; %s%s)\n", program_name,
		cachectl_backend_name(b),
		env ? "forced by CACHECTL_BACKEND" :
		f & CACHECTL_FEATURE_SYSCALL ?
		"fcachectl present, not used by this libcachectl" :
		"no fcachectl syscall in this kernel",
		f & CACHECTL_FEATURE_CACHESTAT ? "cachestat" : "mincore",
		f & CACHECTL_FEATURE_IO_URING ? ", io_uring" : "");
	return b;
}

/* what the context's backend can do: CACHECTL_CAP_* bits */
unsigned int tool_caps(struct cachectl_ctx *ctx)
{
	unsigned int caps = 0;

	return cachectl_get_capabilities(ctx, &caps) < 0 ? 0 : caps;
}

/* a context, with the backend checked: NULL after saying why not */
struct cachectl_ctx *tool_ctx(bool verbose, int *ret_backend)
{
	struct cachectl_ctx *ctx;
	int r = cachectl_new(&ctx);

	if (r < 0) {
		fprintf(stderr, "%s: cannot initialise: %s\n", program_name,
			strerror(-r));
		return NULL;
	}
	r = tool_backend(ctx, verbose);
	if (r < 0) {
		cachectl_unref(ctx);
		return NULL;
	}
	if (ret_backend)
		*ret_backend = r;
	return ctx;
}
