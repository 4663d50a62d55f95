// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The pin store parser, as cachectl_pinstore_open() reads a store from
 * disk. A store that loads is written back through the library and
 * must load again as the same pins: the writer's escaping and the
 * parser's unescaping agree on every path.
 */
#include <errno.h>
#include <string.h>

#include <libcachectl/libcachectl.h>

#include "fuzz.h"

static struct cachectl_ctx *ctx;
static char path[96];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_mkdtemp("pinstore", "pins", path, sizeof(path));
	setenv("CACHECTL_STATE_DIR", fuzz_dir, 1);
	fuzz_check(cachectl_new(&ctx) == 0);
	cachectl_set_log_fn(ctx, fuzz_quiet_log, NULL);
	return 0;
}

static void same_pins(struct cachectl_pinstore *a, struct cachectl_pinstore *b)
{
	size_t i, n = cachectl_pinstore_get_count(a);

	fuzz_check(cachectl_pinstore_get_count(b) == n);
	for (i = 0; i < n; i++) {
		struct cachectl_pin *p = cachectl_pinstore_get_pin(a, i);
		struct cachectl_pin *q = cachectl_pinstore_get_pin(b, i);

		fuzz_check(!strcmp(cachectl_pin_get_path(p),
				   cachectl_pin_get_path(q)));
		fuzz_check(cachectl_pin_get_flags(p) == cachectl_pin_get_flags(q));
		fuzz_check(cachectl_pin_get_priority(p) ==
			   cachectl_pin_get_priority(q));
		fuzz_check(cachectl_pin_get_budget(p) == cachectl_pin_get_budget(q));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cachectl_pinstore *st, *again;
	int r;

	if (!ctx)
		LLVMFuzzerInitialize(NULL, NULL);
	fuzz_write_file(path, data, size);
	r = cachectl_pinstore_open(ctx, CACHECTL_SCOPE_USER, &st);
	if (r < 0) {
		/* damaged, not ours, or too big: refused, never half-read */
		fuzz_check(r == -EBADMSG || r == -EPROTONOSUPPORT ||
			   r == -EFBIG || r == -ENOMEM);
		return 0;
	}
	if (cachectl_pinstore_get_count(st)) {
		/* re-adding a pin rewrites the whole store */
		struct cachectl_pin *p = cachectl_pinstore_get_pin(st, 0);

		fuzz_check(cachectl_pinstore_add(st, p) == 0);
		fuzz_check(cachectl_pinstore_open(ctx, CACHECTL_SCOPE_USER,
						  &again) == 0);
		same_pins(st, again);
		cachectl_pinstore_unref(again);
	}
	cachectl_pinstore_unref(st);
	return 0;
}
