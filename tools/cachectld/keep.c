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
	cd_check_forget(d, f);
	if (f->fd >= 0) {
		cd_fd_close(d, f->dev, f->fd);
		f->fd = -1;
		d->fds_open--;
	}
	f->fresh = false;
	f->refilling = 0;
	f->was_evicted = false;
	f->starved = false;
	f->want_lock = false;
}

/*
 * Start keeping a file: a descriptor if we can afford one, data in (a
 * hard pin's file sized for the lock plan), all on fscheck's thread.
 */
void cd_file_activate(struct daemon *d, struct dfile *f)
{
	if (!f->kept || f->removed)
		return;
	if (f->pin->flags & CACHECTL_PIN_HARD)
		d->plan_needed = true;
	f->fresh = true;
	cd_check_want(d, f, CHECK_QUERY);
}

/* ---- walking, on threads --------------------------------------------- */

#define WALKS_MAX 8		/* trees walked at once; the others wait */
#define WALK_ERRS 4		/* a walk's errors said in the log */

struct found {
	char *path;
	struct stat st;
};

/*
 * One walk of a pin's tree, or of a directory new under an inherit pin,
 * on a thread (a CD_JOB_WALK of resolve.c): readdir, stat and inotify on
 * a slow or hung mount stall that thread, never the loop. The thread
 * touches only this; the loop applies it (cd_walk_done()).
 */
struct walk {
	struct dpin *p;			/* NULL once the pin was dropped */
	bool whole;			/* the pin's tree, not a new directory */
	struct cachectl_walk *w;
	char *root;
	int ifd;			/* inotify descriptor, or -1 */
	/* results */
	int err;			/* the walk failed: negative errno */
	int root_err;			/* whole: stat() of the pin's path */
	bool root_odd;			/* whole: neither file nor directory */
	struct found *v;		/* in the order the budget cuts */
	size_t n, cap;
	int *wds;			/* watches added, for dirs */
	char **dirs;
	size_t nwds, wcap;
	char *watch_dir;		/* the first directory not watched */
	int watch_err;
	uint64_t nerr;			/* paths that failed */
	char *err_path[WALK_ERRS];
	int err_code[WALK_ERRS];
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
	struct walk *ws = data;
	int wd;

	/* watched before it is read, so no file slips through */
	if (ws->ifd < 0)
		return 0;
	wd = cd_watch_kernel(ws->ifd, path);
	if (wd < 0) {
		if (!ws->watch_dir) {
			ws->watch_dir = strdup(path);
			ws->watch_err = wd;
		}
		return 0;
	}
	if (ws->nwds == ws->wcap) {
		size_t cap = ws->wcap ? ws->wcap * 2 : 16;
		int *wds = realloc(ws->wds, cap * sizeof(*wds));
		char **dirs;

		if (!wds)
			return -ENOMEM;
		ws->wds = wds;
		dirs = realloc(ws->dirs, cap * sizeof(*dirs));
		if (!dirs)
			return -ENOMEM;
		ws->dirs = dirs;
		ws->wcap = cap;
	}
	ws->dirs[ws->nwds] = strdup(path);
	if (!ws->dirs[ws->nwds])
		return -ENOMEM;
	ws->wds[ws->nwds++] = wd;
	return 0;
}

static int on_entry(struct cachectl_walk *w, const struct cachectl_entry *e,
		    void *data)
{
	struct walk *ws = data;
	const char *path = cachectl_entry_get_path(e);
	int err = cachectl_entry_get_error(e);
	struct stat st;

	if (err < 0) {
		if (err == -ENOENT)
			return 0;	/* vanished mid-walk */
		if (ws->nerr < WALK_ERRS) {
			ws->err_path[ws->nerr] = strdup(path);
			ws->err_code[ws->nerr] = err;
		}
		ws->nerr++;
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

/* On the thread: the regular files of the tree, in walk order. */
static void walk_run(void *data)
{
	struct walk *ws = data;
	struct stat st;
	int r;

	if (ws->err)
		return;		/* failed before it got a thread */
	if (ws->whole) {
		if (stat(ws->root, &st) < 0) {
			ws->root_err = -errno;
			return;
		}
		if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
			ws->root_odd = true;
			return;
		}
	}
	r = cachectl_walk_set_dir_fn(ws->w, on_dir, ws);
	if (!r)
		r = cachectl_walk_run(ws->w, CACHECTL_WALK_OP_QUERY, 0, on_entry, ws);
	ws->err = r < 0 ? r : 0;
	if (ws->n)	/* qsort's base must not be NULL, even for none */
		qsort(ws->v, ws->n, sizeof(*ws->v), walk_order);
}

static void walk_free(struct walk *ws)
{
	size_t i;

	if (ws->w)
		cachectl_walk_unref(ws->w);
	for (i = 0; i < ws->n; i++)
		free(ws->v[i].path);
	free(ws->v);
	for (i = 0; i < ws->nwds; i++)
		free(ws->dirs[i]);
	free(ws->dirs);
	free(ws->wds);
	free(ws->watch_dir);
	free(ws->root);
	for (i = 0; i < WALK_ERRS && i < ws->nerr; i++)
		free(ws->err_path[i]);
	free(ws);
}

/* Give waiting walks their threads (none before main.c lets them go). */
void cd_walks_start(struct daemon *d)
{
	while (d->walk_q && d->nwalks < WALKS_MAX && !d->walks_held) {
		struct cd_job *j = d->walk_q;

		d->walk_q = j->qnext;
		if (!d->walk_q)
			d->walk_qtail = &d->walk_q;
		j->qnext = NULL;
		d->nwalks++;
		if (cd_job_spawn(j) < 0) {
			/* no thread: it comes back failed, through the pipe */
			((struct walk *)j->data)->err = -EAGAIN;
			if (write(d->resolve_wfd, &j, sizeof(j)) != sizeof(j))
				cd_log(d, LOG_ERR, "cannot finish a walk: %m");
		}
	}
}

/*
 * Walk @p's tree (@root NULL) or @root, a directory new under it, on a
 * thread. Returns the job (the daemon's) or NULL on ENOMEM.
 */
static struct cd_job *walk_request(struct daemon *d, struct dpin *p,
				   const char *root)
{
	struct walk *ws = calloc(1, sizeof(*ws));
	struct cd_job *j;
	int r;

	if (!ws)
		return NULL;
	ws->p = p;
	ws->whole = !root;
	ws->ifd = p->flags & CACHECTL_PIN_INHERIT ? d->inotify.fd : -1;
	ws->root = strdup(root ? root : p->path);
	if (!ws->root) {
		free(ws);
		return NULL;
	}
	if (!root) {
		/* the whole pin: the library's one rule of what it covers */
		r = cachectl_pin_walk_new(p->pin, CACHECTL_WALK_ALL_LINKS, &ws->w);
	} else {
		/* a new directory under an inherit pin, so under its tree */
		r = cachectl_walk_new(d->ctx, CACHECTL_WALK_RECURSIVE |
				      CACHECTL_WALK_ALL_LINKS, &ws->w);
		if (!r && (r = cachectl_walk_add_path(ws->w, root)) < 0) {
			cachectl_walk_unref(ws->w);
			ws->w = NULL;
		}
	}
	j = r < 0 ? NULL : cd_job_new(CD_JOB_WALK, ws->root, NULL);
	if (!j) {
		walk_free(ws);
		return NULL;
	}
	j->run = walk_run;
	j->data = ws;
	cd_job_link(d, j);
	*d->walk_qtail = j;
	d->walk_qtail = &j->qnext;
	p->walking++;
	cd_walks_start(d);
	return j;
}

/* The pin goes: its walks in flight find nobody when they come back. */
static void walks_detach(struct daemon *d, struct dpin *p)
{
	struct cd_job *j;

	for (j = d->jobs; j; j = j->next)
		if (j->kind == CD_JOB_WALK && j->data &&
		    ((struct walk *)j->data)->p == p)
			((struct walk *)j->data)->p = NULL;
	p->walk = NULL;
	p->walking = 0;
}

static void walk_log(struct daemon *d, struct dpin *p, const struct walk *ws)
{
	size_t i;

	for (i = 0; i < WALK_ERRS && i < ws->nerr; i++) {
		int err = ws->err_code[i];

		if (!ws->err_path[i])
			continue;
		cd_log(d, LOG_WARNING, "pin %s: %s: %s%s", cd_pesc(d, p->path),
		     cd_pesc(d, ws->err_path[i]), strerror(-err),
		     err == -EACCES && d->scope == CACHECTL_SCOPE_SYSTEM &&
		     !d->cap_dac_read_search ?
		     " (CAP_DAC_READ_SEARCH is missing)" : "");
	}
	if (ws->nerr > WALK_ERRS)
		cd_log(d, LOG_WARNING, "pin %s: %llu more paths failed",
		     cd_pesc(d, p->path),
		     (unsigned long long)(ws->nerr - WALK_ERRS));
	if (ws->watch_dir)
		cd_watch_failed(d, p, ws->watch_dir, ws->watch_err);
}

/* During expanded(): reuse the old entry if it is the same inode. */
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

/* (Re-)expand a pin into its files, on a thread; see the top comment. */
int cd_pin_expand(struct daemon *d, struct dpin *p)
{
	if (p->walk) {
		/* the tree may have changed since that walk read it */
		p->walk_again = true;
		return 0;
	}
	p->walk = walk_request(d, p, NULL);
	return p->walk ? 0 : -ENOMEM;
}

/* A directory that appeared under an inherit pin: each file joins it. */
int cd_pin_walk(struct daemon *d, struct dpin *p, const char *root)
{
	return walk_request(d, p, root) ? 0 : -ENOMEM;
}

/* The walk of a whole tree is back: the pin's files become what it found. */
static int expanded(struct daemon *d, struct dpin *p, struct walk *ws)
{
	struct dfile **old = p->files;
	size_t nold = p->nfiles, i;
	int r = 0;

	if (ws->root_err || ws->root_odd) {
		r = ws->root_odd ? -EINVAL : ws->root_err;
		if (ws->root_odd)
			cd_log(d, LOG_WARNING, "pin %s: not a regular file or directory",
			     cd_pesc(d, p->path));
		else if (p->err != r)
			cd_log(d, LOG_WARNING,
			     "pin %s: %s; keeping the pin, looking again on reload",
			     cd_pesc(d, p->path), strerror(-r));
	}
	for (i = 0; i < nold; i++)
		old[i]->seen = false;
	p->files = NULL;
	p->nfiles = p->cap = 0;
	p->nremoved = 0;
	p->nerr = ws->nerr;
	p->watch_failed = false;
	p->err = r ? r : ws->err;
	if (p->flags & CACHECTL_PIN_INHERIT)
		cd_watch_replace_pin(d, p, ws->wds, ws->dirs, ws->nwds);
	walk_log(d, p, ws);
	r = 0;
	for (i = 0; i < ws->n && r >= 0; i++)
		r = collect(d, p, ws->v[i].path, &ws->v[i].st);
	if (r < 0 || ws->err) {
		p->err = r < 0 ? r : ws->err;
		cd_log(d, LOG_ERR, "pin %s: walk failed: %s",
		     cd_pesc(d, p->path), strerror(-p->err));
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
	d->cur_pin = 0;
	d->cur_file = 0;
	r = cd_pin_rehash(p);
	if (r < 0)
		return r;
	apply_budget(d, p);
	cd_log(d, LOG_INFO, "pin %s: %zu files, %llu bytes within the budget",
	     cd_pesc(d, p->path), p->nfiles, (unsigned long long)p->kept_bytes);
	return 0;
}

/*
 * A walk came back (resolve.c's pipe, through server.c): apply it to its
 * pin, if that is still there. Returns what the pin's request hears.
 */
int cd_walk_done(struct daemon *d, struct cd_job *j)
{
	struct walk *ws = j->data;
	struct dpin *p = ws->p;
	size_t i;
	int r = 0;

	d->nwalks--;
	if (!p) {
		for (i = 0; i < ws->nwds; i++)
			cd_watch_drop_unused(d, ws->wds[i]);
	} else if (ws->whole) {
		if (p->walk == j)
			p->walk = NULL;
		p->walking--;
		r = expanded(d, p, ws);
		cd_lock_plan(d);
		cd_pins_report(d, p);
	} else {
		p->walking--;
		for (i = 0; i < ws->nwds; i++)
			if (cd_watch_register(d, p, ws->wds[i], ws->dirs[i]) < 0)
				cd_watch_failed(d, p, ws->dirs[i], -ENOMEM);
		walk_log(d, p, ws);
		p->nerr += ws->nerr;
		for (i = 0; i < ws->n; i++)
			cd_pin_add_file(d, p, ws->v[i].path, &ws->v[i].st);
	}
	walk_free(ws);
	j->data = NULL;
	/* events of the watches it made, read before they were known */
	cd_inherit_replay(d);
	if (p && p->walk_again && !p->walk) {
		p->walk_again = false;
		cd_pin_expand(d, p);
	}
	cd_walks_start(d);
	return r;
}

/* At exit: walks that never got a thread (the others are left running). */
void cd_walks_free(struct daemon *d)
{
	while (d->walk_q) {
		struct cd_job *j = d->walk_q;

		d->walk_q = j->qnext;
		walk_free(j->data);
		*j->pprev = j->next;
		if (j->next)
			j->next->pprev = j->pprev;
		cd_job_free(j);
	}
	d->walk_qtail = &d->walk_q;
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

/* Keep @pin; its tree is walked on a thread (see the pin's walk). */
int cd_pin_set(struct daemon *d, struct cachectl_pin *pin)
{
	int r;

	pin_update(d, pin, &r);
	return r;
}

void cd_pin_drop(struct daemon *d, struct dpin *p)
{
	size_t i;

	walks_detach(d, p);
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
