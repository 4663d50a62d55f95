// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The pin set: each pin expanded into its regular files, in walk order
 * (names sorted, so the budget cuts the same files every time), kept in
 * an array plus a path hash. Re-expanding a pin (reload, flag change)
 * carries over the files that are still the same inode, so their open
 * descriptors and locks survive.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cachectld.h"

#define PAGE_ROUND(x) (((x) + 4095) & ~(uint64_t)4095)

int open_ro(const char *path)
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

static void hash_insert(struct dpin *p, struct dfile *f)
{
	size_t i = hash_str(f->path) & (p->hsize - 1);

	f->hnext = p->hash[i];
	p->hash[i] = f;
}

static int hash_rebuild(struct dpin *p)
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
			hash_insert(p, p->files[i]);
	return 0;
}

static void hash_remove(struct dpin *p, struct dfile *f)
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

struct dfile *pin_lookup(struct dpin *p, const char *path)
{
	struct dfile *f;

	if (!p->hsize)
		return NULL;
	for (f = p->hash[hash_str(path) & (p->hsize - 1)]; f; f = f->hnext)
		if (!strcmp(f->path, path))
			return f;
	return NULL;
}

static int files_append(struct dpin *p, struct dfile *f)
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

static struct dfile *file_new(struct dpin *p, const char *path,
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

static void file_free(struct daemon *d, struct dfile *f)
{
	file_release(d, f);
	free(f->path);
	free(f);
}

void file_release(struct daemon *d, struct dfile *f)
{
	if (f->lk != LK_NONE)
		unlock_file(d, f);
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
void file_activate(struct daemon *d, struct dfile *f)
{
	struct dpin *p = f->pin;

	if (!f->kept || f->removed)
		return;
	if (f->fd < 0 && d->fds_open < d->fd_budget) {
		f->fd = open_ro(f->path);
		if (f->fd >= 0) {
			d->fds_open++;
		} else {
			int e = errno;

			if (f->err != -e)
				dlog(d, LOG_WARNING, "pin %s: cannot open %s: %s%s",
				     pesc(p->path), pesc(f->path), strerror(e),
				     e == EACCES && d->scope == CACHECTL_SCOPE_SYSTEM &&
				     !d->cap_dac_read_search ?
				     " (CAP_DAC_READ_SEARCH is missing)" : "");
			f->err = -e;
			p->dirty = true;
			return;
		}
	}
	if (p->flags & CACHECTL_PIN_HARD) {
		d->plan_needed = true;
		query_file(d, f);
	} else {
		refill_file(d, f, true);
	}
}

static int pin_cmp(const void *a, const void *b)
{
	const struct dpin *x = *(struct dpin *const *)a;
	const struct dpin *y = *(struct dpin *const *)b;

	if (x->priority != y->priority)
		return x->priority > y->priority ? -1 : 1;
	return strcmp(x->path, y->path);
}

static void pins_sort(struct daemon *d)
{
	qsort(d->pins, d->npins, sizeof(*d->pins), pin_cmp);
	d->cur_pin = 0;
	d->cur_file = 0;
}

struct dpin *pin_find(struct daemon *d, const char *path)
{
	char *canon;
	size_t i;

	if (path[0] != '/')
		return NULL;
	for (i = 0; i < d->npins; i++)
		if (!strcmp(d->pins[i]->path, path))
			return d->pins[i];
	canon = realpath(path, NULL);
	if (!canon)
		return NULL;
	for (i = 0; i < d->npins; i++)
		if (!strcmp(d->pins[i]->path, canon))
			break;
	free(canon);
	return i < d->npins ? d->pins[i] : NULL;
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
		inherit_watch(ws->d, ws->p, path);
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
		dlog(d, LOG_WARNING, "pin %s: %s: %s%s", pesc(ws->p->path),
		     pesc(path), strerror(-err),
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
	unsigned int flags = CACHECTL_WALK_ALL_LINKS;
	struct cachectl_walk *w;
	int r;

	if (p->flags & CACHECTL_PIN_RECURSIVE)
		flags |= CACHECTL_WALK_RECURSIVE;
	*ws = (struct walk_state){ .d = d, .p = p };
	r = cachectl_walk_new(d->ctx, flags, &w);
	if (r < 0)
		return r;
	r = cachectl_walk_add_path(w, root);
	if (!r)
		r = cachectl_walk_set_dir_fn(w, on_dir, ws);
	if (!r)
		r = cachectl_walk_run(w, CACHECTL_WALK_OP_QUERY, 0, on_entry, ws);
	cachectl_walk_unref(w);
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

/* During pin_expand(): reuse the old entry if it is the same inode. */
static int collect(struct daemon *d, struct dpin *p, const char *path,
		   const struct stat *st)
{
	struct dfile *f = pin_lookup(p, path);

	if (f && !f->seen && f->dev == st->st_dev && f->ino == st->st_ino) {
		f->seen = true;
		f->size = (uint64_t)st->st_size;
		if (f->lk == LK_FAILED)
			f->lk = LK_NONE;	/* try again */
		f->err = 0;
	} else {
		f = file_new(p, path, st);
		if (!f)
			return -ENOMEM;
		f->seen = true;
	}
	return files_append(p, f);
}

/* A directory that appeared under an inherit pin: each file joins it. */
int pin_walk(struct daemon *d, struct dpin *p, const char *root, bool added)
{
	struct walk_state ws;
	size_t i;
	int r;

	r = walk_tree(d, p, root, &ws);
	for (i = 0; i < ws.n; i++)
		pin_add_file(d, p, ws.v[i].path, &ws.v[i].st);
	walk_state_free(&ws);
	return r;
}

/* Apply the budget in walk order: activate what fits, release the rest. */
static void apply_budget(struct daemon *d, struct dpin *p)
{
	uint64_t sum = 0, over = 0;
	bool full = false;
	size_t i;

	for (i = 0; i < p->nfiles; i++) {
		struct dfile *f = p->files[i];
		bool want;

		if (f->removed)
			continue;
		want = !full && (!p->budget || sum + f->size <= p->budget);
		if (want) {
			sum += f->size;
		} else {
			full = true;
			over += f->size;
		}
		if (want && !f->kept) {
			f->kept = true;
			file_activate(d, f);
		} else if (!want && f->kept) {
			file_release(d, f);
			f->kept = false;
		}
	}
	p->kept_bytes = sum;
	p->over_budget = over;
	p->dirty = true;
}

/* (Re-)expand a pin into its files; see the comment at the top. */
int pin_expand(struct daemon *d, struct dpin *p)
{
	struct dfile **old = p->files;
	size_t nold = p->nfiles, i;
	struct stat st;
	int r;

	if (p->flags & CACHECTL_PIN_INHERIT)
		inherit_unwatch_pin(d, p);
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
			dlog(d, LOG_WARNING,
			     "pin %s: %s; keeping the pin, looking again on reload",
			     pesc(p->path), strerror(-r));
		p->err = r;
	} else if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
		p->err = -EINVAL;
		dlog(d, LOG_WARNING, "pin %s: not a regular file or directory",
		     pesc(p->path));
	} else {
		struct walk_state ws;

		p->err = 0;
		r = walk_tree(d, p, p->path, &ws);
		for (i = 0; i < ws.n && r >= 0; i++)
			r = collect(d, p, ws.v[i].path, &ws.v[i].st);
		walk_state_free(&ws);
		if (r < 0) {
			p->err = r;
			dlog(d, LOG_ERR, "pin %s: walk failed: %s",
			     pesc(p->path), strerror(-r));
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
		hash_remove(p, old[i]);
		file_free(d, old[i]);
	}
	free(old);
	r = hash_rebuild(p);
	if (r < 0)
		return r;
	apply_budget(d, p);
	dlog(d, LOG_INFO, "pin %s: %zu files, %llu bytes within the budget",
	     pesc(p->path), p->nfiles, (unsigned long long)p->kept_bytes);
	return 0;
}

/* ---- the set ---------------------------------------------------------- */

static struct dpin *pin_update(struct daemon *d, const char *path,
			       unsigned int flags, int priority,
			       uint64_t budget, int *ret)
{
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
			file_release(d, p->files[i]);
			p->files[i]->kept = false;
		}
	}
	p->flags = flags;
	p->priority = priority;
	p->budget = budget;
	p->in_store = true;
	pins_sort(d);
	*ret = pin_expand(d, p);
	return p;
}

int pin_set(struct daemon *d, const char *path, unsigned int flags,
	    int priority, uint64_t budget)
{
	struct dpin *p;
	int r;

	p = pin_update(d, path, flags, priority, budget, &r);
	if (!p)
		return r;
	lock_plan(d);
	pins_report(d, p);
	return r;
}

void pin_drop(struct daemon *d, struct dpin *p)
{
	size_t i;

	inherit_unwatch_pin(d, p);
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
	free(p->path);
	free(p);
	d->cur_pin = 0;
	d->cur_file = 0;
	d->plan_needed = true;
}

/* Make the pin set match the store (start, reload). */
int pins_sync(struct daemon *d)
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
		pin_update(d, cachectl_pin_get_path(pin),
			   cachectl_pin_get_flags(pin),
			   cachectl_pin_get_priority(pin),
			   cachectl_pin_get_budget(pin), &e);
		if (e < 0 && !r)
			r = e;
	}
	for (i = d->npins; i-- > 0;)
		if (!d->pins[i]->in_store)
			pin_drop(d, d->pins[i]);
	lock_plan(d);
	for (i = 0; i < d->npins; i++)
		pins_report(d, d->pins[i]);
	dlog(d, LOG_NOTICE, "%zu pins from %s", d->npins,
	     pesc(cachectl_pinstore_get_path(d->store)));
	return r;
}

int pins_load(struct daemon *d)
{
	return pins_sync(d);
}

void pins_free(struct daemon *d)
{
	while (d->npins)
		pin_drop(d, d->pins[d->npins - 1]);
	free(d->pins);
	d->pins = NULL;
}

/* ---- files coming and going (inherit pins) ---------------------------- */

struct dfile *pin_add_file(struct daemon *d, struct dpin *p, const char *path,
			   const struct stat *st)
{
	struct dfile *f = pin_lookup(p, path);

	if (f && (f->dev != st->st_dev || f->ino != st->st_ino)) {
		/* replaced by another inode (editors save that way) */
		pin_remove_file(d, f);
		f = NULL;
	}
	if (f) {
		/* written to: bring in (or lock) what is new */
		f->size = (uint64_t)st->st_size;
		f->err = 0;
		if (f->kept)
			file_activate(d, f);
		return f;
	}
	f = file_new(p, path, st);
	if (!f || files_append(p, f) < 0) {
		if (f) {
			free(f->path);
			free(f);
		}
		return NULL;
	}
	if (p->nfiles * 2 > p->hsize)
		hash_rebuild(p);
	else
		hash_insert(p, f);
	if (!p->budget || (!p->over_budget && p->kept_bytes + f->size <= p->budget)) {
		f->kept = true;
		p->kept_bytes += f->size;
		file_activate(d, f);
		event_emit(d, CACHECTL_EVENT_ADDED, f->path, f->size);
	} else {
		p->over_budget += f->size;
		event_emit(d, CACHECTL_EVENT_OVER_BUDGET, f->path, f->size);
	}
	p->dirty = true;
	return f;
}

void pin_remove_file(struct daemon *d, struct dfile *f)
{
	struct dpin *p = f->pin;

	if (f->removed)
		return;
	hash_remove(p, f);
	if (f->kept && p->kept_bytes >= f->size)
		p->kept_bytes -= f->size;
	file_release(d, f);
	f->kept = false;
	f->removed = true;
	p->nremoved++;
	p->dirty = true;
}

void pin_remove_prefix(struct daemon *d, struct dpin *p, const char *dir)
{
	size_t n = strlen(dir), i;

	for (i = 0; i < p->nfiles; i++) {
		struct dfile *f = p->files[i];

		if (!f->removed && !strncmp(f->path, dir, n) &&
		    (f->path[n] == '/' || f->path[n] == '\0'))
			pin_remove_file(d, f);
	}
}

/* Drop removed entries once they are a fair share of a pin. */
void pins_compact(struct daemon *d)
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

/* ---- status ----------------------------------------------------------- */

void pin_status(struct daemon *d, struct dpin *p, struct cachectl_pin_status *st,
		bool live)
{
	bool hard = p->flags & CACHECTL_PIN_HARD, complete = true;
	uint64_t nomem = 0, errbytes = 0;
	bool error = p->err || p->nerr || p->watch_failed;
	size_t i;

	memset(st, 0, sizeof(*st));
	for (i = 0; i < p->nfiles; i++) {
		struct dfile *f = p->files[i];

		if (f->removed)
			continue;
		st->files++;
		st->size += f->size;
		if (!f->kept)
			continue;	/* over budget, counted below */
		if (live && !f->err)
			query_file(d, f);
		if (f->err) {
			error = true;
			errbytes += f->size;
			complete = false;
			continue;
		}
		st->cached += f->cached;
		st->locked += f->locked;
		if (hard) {
			if (f->lk != LK_LOCKED) {
				complete = false;
				if (f->lk == LK_FAILED || !f->want_lock)
					nomem += f->size;
			}
		} else {
			if (!f->unknown && f->cached < f->size) {
				complete = false;
				if (f->starved)
					nomem += f->size - f->cached;
			}
		}
	}
	st->shortfall = p->over_budget + nomem + errbytes;
	if (p->over_budget)
		st->flags |= CACHECTL_PIN_STATUS_OVER_BUDGET;
	if (nomem)
		st->flags |= CACHECTL_PIN_STATUS_NO_MEMORY;
	if (error)
		st->flags |= CACHECTL_PIN_STATUS_ERROR;
	if (complete && !st->shortfall && !error)
		st->flags |= CACHECTL_PIN_STATUS_SATISFIED;
}

/* Turn changes of a pin's state into events, once per change. */
void pins_report(struct daemon *d, struct dpin *p)
{
	struct cachectl_pin_status st;
	uint64_t added;

	pin_status(d, p, &st, false);
	added = st.flags & ~p->rep_flags;
	p->rep_flags = st.flags;
	p->dirty = false;
	if (added & CACHECTL_PIN_STATUS_SATISFIED)
		event_emit(d, CACHECTL_EVENT_SATISFIED, p->path, st.size);
	if (added & CACHECTL_PIN_STATUS_OVER_BUDGET)
		event_emit(d, CACHECTL_EVENT_OVER_BUDGET, p->path, p->over_budget);
	if (added & CACHECTL_PIN_STATUS_NO_MEMORY)
		event_emit(d, CACHECTL_EVENT_SHORTFALL, p->path,
			   st.shortfall - p->over_budget);
	if (added & CACHECTL_PIN_STATUS_ERROR)
		event_emit(d, CACHECTL_EVENT_ERROR, p->path, 0);
}
