// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The pin model: each pin expanded into its regular files, in walk order
 * (names sorted, so the budget cuts the same files every time), kept in
 * an array plus a path hash, and the pins sorted by priority. Data and
 * lookups only: what keeps the files true lives in the layers above.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cachectld.h"

int cd_open_ro(const char *path)
{
	int fl = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY;
	int fd = open(path, fl | O_NOATIME);

	/* O_NOATIME is for the owner (or CAP_FOWNER) only */
	if (fd < 0 && errno == EPERM)
		fd = open(path, fl);
	return fd;
}

static uint64_t hash_str(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	return h;
}

void cd_pin_hash_add(struct dpin *p, struct dfile *f)
{
	size_t i = hash_str(f->path) & (p->hsize - 1);

	f->hnext = p->hash[i];
	p->hash[i] = f;
}

int cd_pin_rehash(struct dpin *p)
{
	size_t size = 64, i;
	struct dfile **h;

	while (size < p->nfiles * 2)
		size *= 2;
	h = calloc(size, sizeof(*h));
	if (!h)
		return -ENOMEM;
	free(p->hash);
	p->hash = h;
	p->hsize = size;
	for (i = 0; i < p->nfiles; i++)
		if (!p->files[i]->removed)
			cd_pin_hash_add(p, p->files[i]);
	return 0;
}

void cd_pin_hash_remove(struct dpin *p, struct dfile *f)
{
	struct dfile **pp;

	if (!p->hsize)
		return;
	for (pp = &p->hash[hash_str(f->path) & (p->hsize - 1)]; *pp;
	     pp = &(*pp)->hnext) {
		if (*pp == f) {
			*pp = f->hnext;
			return;
		}
	}
}

struct dfile *cd_pin_lookup(struct dpin *p, const char *path)
{
	struct dfile *f;

	if (!p->hsize)
		return NULL;
	for (f = p->hash[hash_str(path) & (p->hsize - 1)]; f; f = f->hnext)
		if (!strcmp(f->path, path))
			return f;
	return NULL;
}

int cd_pin_append(struct dpin *p, struct dfile *f)
{
	if (p->nfiles == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16;
		struct dfile **a = realloc(p->files, cap * sizeof(*a));

		if (!a)
			return -ENOMEM;
		p->files = a;
		p->cap = cap;
	}
	p->files[p->nfiles++] = f;
	return 0;
}

struct dfile *cd_file_new(struct dpin *p, const char *path,
			      const struct stat *st)
{
	struct dfile *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->path = strdup(path);
	if (!f->path) {
		free(f);
		return NULL;
	}
	f->pin = p;
	f->dev = st->st_dev;
	f->ino = st->st_ino;
	f->size = (uint64_t)st->st_size;
	f->fd = -1;
	f->worker = -1;
	return f;
}

static int pin_cmp(const void *a, const void *b)
{
	const struct dpin *x = *(struct dpin *const *)a;
	const struct dpin *y = *(struct dpin *const *)b;

	if (x->priority != y->priority)
		return x->priority > y->priority ? -1 : 1;
	return strcmp(x->path, y->path);
}

void cd_pins_sort(struct daemon *d)
{
	if (d->npins)
		qsort(d->pins, d->npins, sizeof(*d->pins), pin_cmp);
	d->cur_pin = 0;
	d->cur_file = 0;
}

/*
 * The pin of exactly @path. No filesystem call: the loop makes it for
 * clients, and resolving their paths is resolve.c's, on a thread.
 */
struct dpin *cd_pin_find(struct daemon *d, const char *path)
{
	size_t i;

	for (i = 0; i < d->npins; i++)
		if (!strcmp(d->pins[i]->path, path))
			return d->pins[i];
	return NULL;
}

/* Drop removed entries once they are a fair share of a pin. */
void cd_pins_compact(struct daemon *d)
{
	size_t i, j, k;

	for (i = 0; i < d->npins; i++) {
		struct dpin *p = d->pins[i];

		if (p->nremoved < 64 || p->nremoved * 8 < p->nfiles)
			continue;
		for (j = k = 0; j < p->nfiles; j++) {
			if (p->files[j]->removed) {
				free(p->files[j]->path);
				free(p->files[j]);
			} else {
				p->files[k++] = p->files[j];
			}
		}
		p->nfiles = k;
		p->nremoved = 0;
		if (i == d->cur_pin)
			d->cur_file = 0;
	}
}

/* Turn changes of a pin's state into events, once per change. */
void cd_pins_report(struct daemon *d, struct dpin *p)
{
	struct cachectl_pin_status st;
	uint64_t added;

	cd_pin_status(p, &st);
	added = st.flags & ~p->rep_flags;
	p->rep_flags = st.flags;
	p->dirty = false;
	if (added & CACHECTL_PIN_STATUS_SATISFIED)
		cd_event_emit(d, CACHECTL_EVENT_SATISFIED, p->path, st.size);
	if (added & CACHECTL_PIN_STATUS_OVER_BUDGET)
		cd_event_emit(d, CACHECTL_EVENT_OVER_BUDGET, p->path, p->over_budget);
	if (added & CACHECTL_PIN_STATUS_NO_MEMORY)
		cd_event_emit(d, CACHECTL_EVENT_SHORTFALL, p->path,
			   st.shortfall - p->over_budget);
	if (added & CACHECTL_PIN_STATUS_ERROR)
		cd_event_emit(d, CACHECTL_EVENT_ERROR, p->path, 0);
}

/*
 * Record a file's error. Returns true if the caller should log it: it is
 * new for the file, and it is not the pin's filesystem being gone (a dead
 * server or FUSE daemon fails every file; that is said once per pin).
 */
bool cd_file_failed(struct daemon *d, struct dfile *f, int error)
{
	struct dpin *p = f->pin;

	if (f->err == error)
		return false;
	f->err = error;
	p->dirty = true;
	if (!cachectl_error_is_gone(error))
		return true;
	if (!p->fs_gone)
		cd_log(d, LOG_ERR,
		     "pin %s: its filesystem is gone (%s); its files count as errors until it answers",
		     cd_pesc(d, p->path), strerror(-error));
	p->fs_gone = true;
	return false;
}

/* A file of the pin answered: its filesystem is back, if it was gone. */
void cd_file_answered(struct daemon *d, struct dfile *f)
{
	struct dpin *p = f->pin;

	if (!p->fs_gone)
		return;
	p->fs_gone = false;
	cd_log(d, LOG_NOTICE, "pin %s: its filesystem answers again",
	     cd_pesc(d, p->path));
}
