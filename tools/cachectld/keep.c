// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Keeping pins: a pin's files found by the library's walker, the budget
 * applied, each kept file handed to refill (soft) or the lock plan
 * (hard), inherit pins' directories watched. Re-expanding a pin (reload,
 * flag change) carries over the files that are still the same inode, so
 * their open descriptors and locks survive.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cachectld.h"

static void file_free(struct daemon *d, struct dfile *f)
{
	cd_file_release(d, f);
	free(f->path);
	free(f);
}

void cd_file_release(struct daemon *d, struct dfile *f)
{
	if (f->lk != LK_NONE)
		cd_unlock_file(d, f);
	if (f->fd >= 0) {
		close(f->fd);
		f->fd = -1;
		d->fds_open--;
	}
	f->refilling = 0;
	f->was_evicted = false;
	f->starved = false;
	f->want_lock = false;
}

/* Start keeping a file: a descriptor if we can afford one, data in. */
void cd_file_activate(struct daemon *d, struct dfile *f)
{
	struct dpin *p = f->pin;

	if (!f->kept || f->removed)
		return;
	if (f->fd < 0 && d->fds_open < d->fd_budget) {
		f->fd = cd_open_ro(f->path);
		if (f->fd >= 0) {
			d->fds_open++;
		} else {
			int e = errno;

			if (cd_file_failed(d, f, -e))
				cd_log(d, LOG_WARNING, "pin %s: cannot open %s: %s%s",
				     cd_pesc(d, p->path), cd_pesc(d, f->path), strerror(e),
				     e == EACCES && d->scope == CACHECTL_SCOPE_SYSTEM &&
				     !d->cap_dac_read_search ?
				     " (CAP_DAC_READ_SEARCH is missing)" : "");
			return;
		}
	}
	if (p->flags & CACHECTL_PIN_HARD) {
		d->plan_needed = true;
		cd_query_file(d, f);
	} else {
		cd_refill_file(d, f, true);
	}
}

/* ---- walking ---------------------------------------------------------- */

struct found {
	char *path;
	struct stat st;
};

/* What one walk of a pin's tree found, in the order the budget cuts. */
struct walk_state {
	struct daemon *d;
	struct dpin *p;
	struct found *v;
	size_t n, cap;
};

/*
 * Names sorted per directory, a directory's tree right after its name
 * (a depth-first walk in name order would give): '/' sorts first.
 */
static int walk_order(const void *a, const void *b)
{
	const unsigned char *x = (const unsigned char *)((const struct found *)a)->path;
	const unsigned char *y = (const unsigned char *)((const struct found *)b)->path;
	int cx, cy;

	for (; *x && *x == *y; x++, y++)
		;
	cx = *x == '/' ? 1 : *x ? *x + 1 : 0;
	cy = *y == '/' ? 1 : *y ? *y + 1 : 0;
	return cx - cy;
}

static int on_dir(struct cachectl_walk *w, const char *path, void *data)
{
	struct walk_state *ws = data;

	/* watch before it is read, so no file slips through */
	if (ws->p->flags & CACHECTL_PIN_INHERIT)
		cd_watch_add(ws->d, ws->p, path);
	return 0;
}

static int on_entry(struct cachectl_walk *w, const struct cachectl_entry *e,
		    void *data)
{
	struct walk_state *ws = data;
	const char *path = cachectl_entry_get_path(e);
	int err = cachectl_entry_get_error(e);
	struct daemon *d = ws->d;
	struct stat st;

	if (err < 0) {
		if (err == -ENOENT)
			return 0;	/* vanished mid-walk */
		ws->p->nerr++;
		cd_log(d, LOG_WARNING, "pin %s: %s: %s%s", cd_pesc(d, ws->p->path),
		     cd_pesc(d, path), strerror(-err),
		     err == -EACCES && d->scope == CACHECTL_SCOPE_SYSTEM &&
		     !d->cap_dac_read_search ?
		     " (CAP_DAC_READ_SEARCH is missing)" : "");
		return 0;
	}
	/* the inode is the file's identity across re-walks */
	if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return 0;
	if (ws->n == ws->cap) {
		size_t cap = ws->cap ? ws->cap * 2 : 64;
		struct found *v = realloc(ws->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		ws->v = v;
		ws->cap = cap;
	}
	ws->v[ws->n].path = strdup(path);
	if (!ws->v[ws->n].path)
		return -ENOMEM;
	ws->v[ws->n++].st = st;
	return 0;
}

/* The regular files of a pin's tree under @root, in walk order. */
static int walk_tree(struct daemon *d, struct dpin *p, const char *root,
		     struct walk_state *ws)
{
	struct cachectl_walk *w;
	int r;

	*ws = (struct walk_state){ .d = d, .p = p };
	if (!root) {
		/* the whole pin: the library's one rule of what it covers */
		r = cachectl_pin_walk_new(p->pin, CACHECTL_WALK_ALL_LINKS, &w);
	} else {
		/* a new directory under an inherit pin, so under its tree */
		r = cachectl_walk_new(d->ctx, CACHECTL_WALK_RECURSIVE |
				      CACHECTL_WALK_ALL_LINKS, &w);
		if (!r && (r = cachectl_walk_add_path(w, root)) < 0)
			cachectl_walk_unref(w);
	}
	if (r < 0)
		return r;
	r = cachectl_walk_set_dir_fn(w, on_dir, ws);
	if (!r)
		r = cachectl_walk_run(w, CACHECTL_WALK_OP_QUERY, 0, on_entry, ws);
	cachectl_walk_unref(w);
	if (ws->n)	/* qsort's base must not be NULL, even for none */
		qsort(ws->v, ws->n, sizeof(*ws->v), walk_order);
	return r < 0 ? r : 0;
}

static void walk_state_free(struct walk_state *ws)
{
	size_t i;

	for (i = 0; i < ws->n; i++)
		free(ws->v[i].path);
	free(ws->v);
}

/* During cd_pin_expand(): reuse the old entry if it is the same inode. */
static int collect(struct daemon *d, struct dpin *p, const char *path,
		   const struct stat *st)
{
	struct dfile *f = cd_pin_lookup(p, path);

	if (f && !f->seen && f->dev == st->st_dev && f->ino == st->st_ino) {
		f->seen = true;
		f->size = (uint64_t)st->st_size;
		if (f->lk == LK_FAILED)
			f->lk = LK_NONE;	/* try again */
		f->err = 0;
	} else {
		f = cd_file_new(p, path, st);
		if (!f)
			return -ENOMEM;
		f->seen = true;
	}
	return cd_pin_append(p, f);
}

/* A directory that appeared under an inherit pin: each file joins it. */
int cd_pin_walk(struct daemon *d, struct dpin *p, const char *root)
{
	struct walk_state ws;
	size_t i;
	int r;

	r = walk_tree(d, p, root, &ws);
	for (i = 0; i < ws.n; i++)
		cd_pin_add_file(d, p, ws.v[i].path, &ws.v[i].st);
	walk_state_free(&ws);
	return r;
}

/* Apply the budget in walk order: activate what fits, release the rest. */
static void apply_budget(struct daemon *d, struct dpin *p)
{
	size_t i;

	cd_budget_plan(p);
	for (i = 0; i < p->nfiles; i++) {
		struct dfile *f = p->files[i];
		bool want = f->in_budget;

		if (f->removed)
			continue;
		if (want && !f->kept) {
			f->kept = true;
			cd_file_activate(d, f);
		} else if (!want && f->kept) {
			cd_file_release(d, f);
			f->kept = false;
		}
	}
	p->dirty = true;
}

/* (Re-)expand a pin into its files; see the comment at the top. */
int cd_pin_expand(struct daemon *d, struct dpin *p)
{
	struct dfile **old = p->files;
	size_t nold = p->nfiles, i;
	struct stat st;
	int r;

	if (p->flags & CACHECTL_PIN_INHERIT)
		cd_watch_remove_pin(d, p);
	for (i = 0; i < nold; i++)
		old[i]->seen = false;
	p->files = NULL;
	p->nfiles = p->cap = 0;
	p->nremoved = 0;
	p->nerr = 0;
	p->watch_failed = false;

	if (stat(p->path, &st) < 0) {
		r = -errno;
		if (p->err != r)
			cd_log(d, LOG_WARNING,
			     "pin %s: %s; keeping the pin, looking again on reload",
			     cd_pesc(d, p->path), strerror(-r));
		p->err = r;
	} else if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
		p->err = -EINVAL;
		cd_log(d, LOG_WARNING, "pin %s: not a regular file or directory",
		     cd_pesc(d, p->path));
	} else {
		struct walk_state ws;

		p->err = 0;
		r = walk_tree(d, p, NULL, &ws);
		for (i = 0; i < ws.n && r >= 0; i++)
			r = collect(d, p, ws.v[i].path, &ws.v[i].st);
		walk_state_free(&ws);
		if (r < 0) {
			p->err = r;
			cd_log(d, LOG_ERR, "pin %s: walk failed: %s",
			     cd_pesc(d, p->path), strerror(-r));
		}
	}
	for (i = 0; i < nold; i++) {
		if (old[i]->seen)
			continue;
		if (old[i]->removed) {
			free(old[i]->path);
			free(old[i]);
			continue;
		}
		cd_pin_hash_remove(p, old[i]);
		file_free(d, old[i]);
	}
	free(old);
	r = cd_pin_rehash(p);
	if (r < 0)
		return r;
	apply_budget(d, p);
	cd_log(d, LOG_INFO, "pin %s: %zu files, %llu bytes within the budget",
	     cd_pesc(d, p->path), p->nfiles, (unsigned long long)p->kept_bytes);
	return 0;
}

/* ---- the set ---------------------------------------------------------- */

static struct dpin *pin_update(struct daemon *d, struct cachectl_pin *pin,
			       int *ret)
{
	const char *path = cachectl_pin_get_path(pin);
	unsigned int flags = cachectl_pin_get_flags(pin);
	struct dpin *p = NULL, **a;
	size_t i;

	for (i = 0; i < d->npins; i++)
		if (!strcmp(d->pins[i]->path, path))
			p = d->pins[i];
	if (!p) {
		p = calloc(1, sizeof(*p));
		a = p ? realloc(d->pins, (d->npins + 1) * sizeof(*a)) : NULL;
		if (!p || !a || !(p->path = strdup(path))) {
			free(p);
			if (a)
				d->pins = a;
			*ret = -ENOMEM;
			return NULL;
		}
		d->pins = a;
		d->pins[d->npins++] = p;
	} else if ((p->flags ^ flags) & CACHECTL_PIN_HARD) {
		/* soft <-> hard: start over with every file */
		for (i = 0; i < p->nfiles; i++) {
			cd_file_release(d, p->files[i]);
			p->files[i]->kept = false;
		}
	}
	cachectl_pin_unref(p->pin);
	p->pin = cachectl_pin_ref(pin);
	p->flags = flags;
	p->priority = cachectl_pin_get_priority(pin);
	p->budget = cachectl_pin_get_budget(pin);
	p->in_store = true;
	cd_pins_sort(d);
	*ret = cd_pin_expand(d, p);
	return p;
}

int cd_pin_set(struct daemon *d, struct cachectl_pin *pin)
{
	struct dpin *p;
	int r;

	p = pin_update(d, pin, &r);
	if (!p)
		return r;
	cd_lock_plan(d);
	cd_pins_report(d, p);
	return r;
}

void cd_pin_drop(struct daemon *d, struct dpin *p)
{
	size_t i;

	cd_watch_remove_pin(d, p);
	for (i = 0; i < p->nfiles; i++) {
		if (p->files[i]->removed) {
			free(p->files[i]->path);
			free(p->files[i]);
		} else {
			file_free(d, p->files[i]);
		}
	}
	free(p->files);
	free(p->hash);
	for (i = 0; i < d->npins; i++) {
		if (d->pins[i] == p) {
			memmove(d->pins + i, d->pins + i + 1,
				(d->npins - i - 1) * sizeof(*d->pins));
			d->npins--;
			break;
		}
	}
	cachectl_pin_unref(p->pin);
	free(p->path);
	free(p);
	d->cur_pin = 0;
	d->cur_file = 0;
	d->plan_needed = true;
}

/* Make the pin set match the store (start, reload). */
int cd_pins_sync(struct daemon *d)
{
	size_t n = cachectl_pinstore_get_count(d->store), i;
	int r = 0;

	for (i = 0; i < d->npins; i++)
		d->pins[i]->in_store = false;
	for (i = 0; i < n; i++) {
		struct cachectl_pin *pin = cachectl_pinstore_get_pin(d->store, i);
		int e;

		if (!pin)
			continue;
		pin_update(d, pin, &e);
		if (e < 0 && !r)
			r = e;
	}
	for (i = d->npins; i-- > 0;)
		if (!d->pins[i]->in_store && !d->pins[i]->nholds)
			cd_pin_drop(d, d->pins[i]);
	cd_lock_plan(d);
	for (i = 0; i < d->npins; i++)
		cd_pins_report(d, d->pins[i]);
	cd_log(d, LOG_NOTICE, "%zu pins from %s", d->npins,
	     cd_pesc(d, cachectl_pinstore_get_path(d->store)));
	return r;
}

int cd_pins_load(struct daemon *d)
{
	return cd_pins_sync(d);
}

void cd_pins_free(struct daemon *d)
{
	while (d->npins)
		cd_pin_drop(d, d->pins[d->npins - 1]);
	free(d->pins);
	d->pins = NULL;
}

/* ---- files coming and going (inherit pins) ---------------------------- */

struct dfile *cd_pin_add_file(struct daemon *d, struct dpin *p, const char *path,
			   const struct stat *st)
{
	struct dfile *f = cd_pin_lookup(p, path);

	if (f && (f->dev != st->st_dev || f->ino != st->st_ino)) {
		/* replaced by another inode (editors save that way) */
		cd_pin_remove_file(d, f);
		f = NULL;
	}
	if (f) {
		/* written to: bring in (or lock) what is new */
		f->size = (uint64_t)st->st_size;
		f->err = 0;
		if (f->kept)
			cd_file_activate(d, f);
		return f;
	}
	f = cd_file_new(p, path, st);
	if (!f || cd_pin_append(p, f) < 0) {
		if (f) {
			free(f->path);
			free(f);
		}
		return NULL;
	}
	if (p->nfiles * 2 > p->hsize)
		cd_pin_rehash(p);
	else
		cd_pin_hash_add(p, f);
	if (cd_budget_admits(p, f->size)) {
		f->kept = true;
		p->kept_bytes += f->size;
		cd_file_activate(d, f);
		cd_event_emit(d, CACHECTL_EVENT_ADDED, f->path, f->size);
	} else {
		p->over_budget += f->size;
		cd_event_emit(d, CACHECTL_EVENT_OVER_BUDGET, f->path, f->size);
	}
	p->dirty = true;
	return f;
}

void cd_pin_remove_file(struct daemon *d, struct dfile *f)
{
	struct dpin *p = f->pin;

	if (f->removed)
		return;
	cd_pin_hash_remove(p, f);
	if (f->kept && p->kept_bytes >= f->size)
		p->kept_bytes -= f->size;
	cd_file_release(d, f);
	f->kept = false;
	f->removed = true;
	p->nremoved++;
	p->dirty = true;
}

void cd_pin_remove_prefix(struct daemon *d, struct dpin *p, const char *dir)
{
	size_t n = strlen(dir), i;

	for (i = 0; i < p->nfiles; i++) {
		struct dfile *f = p->files[i];

		if (!f->removed && !strncmp(f->path, dir, n) &&
		    (f->path[n] == '/' || f->path[n] == '\0'))
			cd_pin_remove_file(d, f);
	}
}
