// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * An open-addressing set of (dev, ino). Only files with more than one link
 * go in, so it stays small on ordinary trees.
 */
#include <errno.h>
#include <stdlib.h>

#include "walk-private.h"

static size_t slot_of(const struct inode_set *s, uint64_t dev, uint64_t ino)
{
	uint64_t h = (ino ^ (dev << 32 | dev >> 32)) * 0x9e3779b97f4a7c15ull;

	return (size_t)(h >> 17) & (s->cap - 1);
}

static int grow(struct inode_set *s)
{
	struct inode_set n = { .cap = s->cap ? s->cap * 2 : 256 };
	size_t i;

	n.slots = calloc(n.cap, sizeof(*n.slots));
	if (!n.slots)
		return -ENOMEM;
	for (i = 0; i < s->cap; i++) {
		struct inode_key *k = &s->slots[i];
		size_t j;

		if (!k->ino && !k->dev)
			continue;
		for (j = slot_of(&n, k->dev, k->ino); n.slots[j].ino || n.slots[j].dev;
		     j = (j + 1) & (n.cap - 1))
			;
		n.slots[j] = *k;
		n.n++;
	}
	free(s->slots);
	*s = n;
	return 0;
}

int cachectl__inode_set_add(struct inode_set *s, uint64_t dev, uint64_t ino)
{
	size_t j;
	int r;

	if ((s->n + 1) * 2 > s->cap) {
		r = grow(s);
		if (r < 0)
			return r;
	}
	/* (0, 0) marks an empty slot; no real file has it */
	for (j = slot_of(s, dev, ino); s->slots[j].ino || s->slots[j].dev;
	     j = (j + 1) & (s->cap - 1))
		if (s->slots[j].dev == dev && s->slots[j].ino == ino)
			return 0;
	s->slots[j].dev = dev;
	s->slots[j].ino = ino;
	s->n++;
	return 1;
}

void cachectl__inode_set_free(struct inode_set *s)
{
	free(s->slots);
	s->slots = NULL;
	s->cap = s->n = 0;
}
