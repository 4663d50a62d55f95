// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Hoarding: pins of paths under the attachment (`cachectl pin -r`, the
 * user's pin store) bring their files and directories into the local
 * cache whole, in the background, and keep them from culling. The store
 * is read again whenever it changes (inotify on its directory) and after
 * every reconnect. A pass that reached every pin it names unmarks what
 * no pin reaches any more: an unpinned file's data stays, for LRU culling
 * to take like any other's.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <libcachectl/libcachectl.h>

#include "offline.h"

#define CHUNK (1u << 20)

static bool online(struct co_mgr *m)
{
	return co_mode_get(m) == CO_CONNECTED && !m->stopping;
}

/* the nodes one pass marked */
struct marks {
	uint64_t *v;
	size_t n, cap;
	bool lost;		/* one did not fit: unmark nothing */
};

static void mark(struct co_mgr *m, struct marks *k, uint64_t id)
{
	struct co_node *n;

	if (k->n == k->cap) {
		size_t cap = k->cap ? k->cap * 2 : 256;
		uint64_t *nv = realloc(k->v, cap * sizeof(*nv));

		if (nv) {
			k->v = nv;
			k->cap = cap;
		}
	}
	if (k->n < k->cap)
		k->v[k->n++] = id;
	else
		k->lost = true;
	pthread_mutex_lock(&m->lock);
	n = co_node_get(m, id);
	if (n && !n->pinned) {
		n->pinned = true;
		co_store_put(m->store, n);
	}
	pthread_mutex_unlock(&m->lock);
}

static int fetch_whole(struct co_mgr *m, uint64_t id)
{
	uint64_t off = 0, size;
	int cfd, ofd = -1, r = 0;

	cfd = co_data_open(m, id);
	if (cfd < 0)
		return cfd;
	while (online(m)) {
		struct co_node *n;
		void *buf = NULL;
		size_t got = 0;
		bool has;

		pthread_mutex_lock(&m->lock);
		n = co_node_get(m, id);
		size = n ? (uint64_t)n->st.st_size : 0;
		has = !n || n->complete ||
		      co_node_has(n, off, off + CHUNK < size ? off + CHUNK : size);
		pthread_mutex_unlock(&m->lock);
		if (off >= size || (n && n->complete))
			break;
		if (!has) {
			r = co_fill(m, id, cfd, &ofd, off, CHUNK, NULL, &buf, &got);
			free(buf);
			if (r)
				break;
		}
		off += CHUNK;
	}
	if (ofd >= 0)
		close(ofd);
	close(cfd);
	return r;
}

static void walk(struct co_mgr *m, struct marks *k, uint64_t id, bool recursive)
{
	uint64_t *kids = NULL;
	size_t nkids = 0, i;
	struct co_node *n;
	mode_t mode;

	if (!online(m))
		return;
	if (co_revalidate(m, id, NULL) < 0)
		m->hoard_errors++;
	pthread_mutex_lock(&m->lock);
	n = co_node_get(m, id);
	mode = n ? n->st.st_mode : 0;
	pthread_mutex_unlock(&m->lock);
	if (!n)
		return;
	mark(m, k, id);
	if (co_fetch_xattrs(m, id, NULL) < 0)
		m->hoard_errors++;
	if (S_ISREG(mode)) {
		if (fetch_whole(m, id) < 0)
			m->hoard_errors++;
		return;
	}
	if (!S_ISDIR(mode))
		return;
	if (co_list(m, id, NULL) < 0) {
		m->hoard_errors++;
		return;
	}
	if (co_store_children(m->store, id, &kids, &nkids))
		return;
	for (i = 0; i < nkids && online(m); i++) {
		pthread_mutex_lock(&m->lock);
		n = co_node_get(m, kids[i]);
		mode = n ? n->st.st_mode : 0;
		pthread_mutex_unlock(&m->lock);
		if (S_ISDIR(mode) && !recursive)
			continue;
		walk(m, k, kids[i], recursive);
	}
	free(kids);
}

/* the node of a path relative to the origin, looked up on the origin */
static int resolve(struct co_mgr *m, const char *rel, uint64_t *ret)
{
	char *copy = strdup(rel), *save = NULL, *c;
	uint64_t id = FUSE_ROOT_ID;
	int r = 0;

	if (!copy)
		return -ENOMEM;
	for (c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		/* the way to a pinned tree is walkable offline too */
		r = co_list(m, id, NULL);
		if (!r)
			r = co_lookup_origin(m, id, c, NULL, &id);
		if (r)
			break;
	}
	free(copy);
	*ret = id;
	return r ? (r > 0 ? -EHOSTDOWN : r) : 0;
}

static int id_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* pinned before, reached by no pin now: culled like the rest from now on */
static void unmark(struct co_mgr *m, struct marks *k)
{
	uint64_t *was;
	size_t nwas, i;

	if (co_store_pinned(m->store, &was, &nwas))
		return;
	qsort(k->v, k->n, sizeof(*k->v), id_cmp);
	pthread_mutex_lock(&m->lock);
	co_store_begin(m->store);
	for (i = 0; i < nwas; i++) {
		struct co_node *n;

		if (k->n && bsearch(&was[i], k->v, k->n, sizeof(*k->v), id_cmp))
			continue;
		n = co_node_get(m, was[i]);
		if (n && n->pinned) {
			n->pinned = false;
			co_store_put(m->store, n);
		}
	}
	co_store_commit(m->store);
	pthread_mutex_unlock(&m->lock);
	free(was);
}

static void hoard_run(struct co_mgr *m, struct cachectl_ctx *ctx)
{
	struct cachectl_pinstore *ps = NULL;
	size_t len = strlen(m->o.path), i;
	struct marks k = { 0 };
	int errors = m->hoard_errors;

	if (cachectl_pinstore_open(ctx, CACHECTL_SCOPE_USER, &ps) < 0)
		return;
	for (i = 0; i < cachectl_pinstore_get_count(ps) && online(m); i++) {
		struct cachectl_pin *p = cachectl_pinstore_get_pin(ps, i);
		const char *path = cachectl_pin_get_path(p);
		bool rec = cachectl_pin_get_flags(p) & CACHECTL_PIN_RECURSIVE;
		uint64_t id;

		if (!strncmp(path, m->o.path, len) &&
		    (path[len] == '\0' || path[len] == '/')) {
			int r = resolve(m, path + len + (path[len] == '/'), &id);

			if (r == 0)
				walk(m, &k, id, rec);
			else if (r != -ENOENT)
				k.lost = true;	/* not known: keep its marks */
		} else if (rec && !strncmp(m->o.path, path, strlen(path)) &&
			   m->o.path[strlen(path)] == '/') {
			/* a pin of a tree the attachment lies in */
			walk(m, &k, FUSE_ROOT_ID, true);
		}
	}
	/* only a whole pass knows what no pin reaches */
	if (i == cachectl_pinstore_get_count(ps) && online(m) && !k.lost &&
	    m->hoard_errors == errors)
		unmark(m, &k);
	cachectl_pinstore_unref(ps);
	free(k.v);
}

static void *hoard_thread(void *arg)
{
	struct co_mgr *m = arg;
	struct cachectl_ctx *ctx = NULL;
	int in;

	if (cachectl_new(&ctx) < 0)
		return NULL;
	in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (in >= 0 && m->state_dir)
		inotify_add_watch(in, m->state_dir, IN_CLOSE_WRITE | IN_MOVED_TO |
				  IN_CREATE);
	while (!m->stopping) {
		struct pollfd pfd = { .fd = in, .events = POLLIN };
		char buf[4096];
		bool go;

		if (poll(&pfd, in >= 0 ? 1 : 0, 500) > 0) {
			while (read(in, buf, sizeof(buf)) > 0)
				;
			co_hoard_kick(m);
		}
		pthread_mutex_lock(&m->hlock);
		go = m->hoard_wanted && co_mode_get(m) == CO_CONNECTED;
		if (go) {
			m->hoard_wanted = false;
			m->hoarding = true;
		}
		pthread_mutex_unlock(&m->hlock);
		if (!go)
			continue;
		hoard_run(m, ctx);
		pthread_mutex_lock(&m->hlock);
		m->hoarding = false;
		/* cut short by a disconnect: again after the reconnect */
		if (co_mode_get(m) != CO_CONNECTED)
			m->hoard_wanted = true;
		pthread_mutex_unlock(&m->hlock);
	}
	if (in >= 0)
		close(in);
	cachectl_unref(ctx);
	return NULL;
}

void co_hoard_kick(struct co_mgr *m)
{
	pthread_mutex_lock(&m->hlock);
	m->hoard_wanted = true;
	pthread_mutex_unlock(&m->hlock);
}

int co_hoard_start(struct co_mgr *m)
{
	pthread_mutex_init(&m->hlock, NULL);
	pthread_cond_init(&m->hcond, NULL);
	if (cachectl_scope_get_state_dir(CACHECTL_SCOPE_USER, &m->state_dir) >= 0)
		mkdir(m->state_dir, 0700);
	m->hoard_wanted = true;
	return pthread_create(&m->hoard_thread, NULL, hoard_thread, m) ? -EAGAIN : 0;
}

void co_hoard_stop(struct co_mgr *m)
{
	pthread_join(m->hoard_thread, NULL);
	free(m->state_dir);
}
