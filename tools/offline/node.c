// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The node table: every origin object the kernel or the hoarder has
 * seen, in memory over the store, and what the origin's answers change
 * in it. An object whose identity or data version (inode, size, mtime,
 * ctime) changed loses its cached data before the new attributes are
 * believed, so the cache never serves bytes of another version.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libcachectl/libcachectl.h>

#include "offline.h"

#define NBUCKETS (1u << 16)

static size_t hash_name(uint64_t parent, const char *name)
{
	uint64_t h = 1469598103934665603ull ^ parent;

	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * 1099511628211ull;
	return (size_t)(h % NBUCKETS);
}

static void table_add(struct co_mgr *m, struct co_node *n)
{
	size_t b = n->id % NBUCKETS;

	n->next_id = m->by_id[b];
	m->by_id[b] = n;
	if (n->id != FUSE_ROOT_ID) {
		b = hash_name(n->parent, n->name);
		n->next_name = m->by_name[b];
		m->by_name[b] = n;
	}
	m->nnodes++;
}

/* out of the name table only: the kernel may still hold the id */
static void table_unname(struct co_mgr *m, struct co_node *n)
{
	struct co_node **pp = &m->by_name[hash_name(n->parent, n->name)];

	for (; *pp; pp = &(*pp)->next_name)
		if (*pp == n) {
			*pp = n->next_name;
			break;
		}
	n->parent = 0;
}

static int set_path(struct co_mgr *m, struct co_node *n)
{
	struct co_node *p;

	if (n->id == FUSE_ROOT_ID) {
		n->path = strdup("");
		return n->path ? 0 : -ENOMEM;
	}
	p = co_node_get(m, n->parent);
	if (!p)
		return -ENOENT;
	if (*p->path) {
		if (asprintf(&n->path, "%s/%s", p->path, n->name) < 0)
			n->path = NULL;
	} else {
		n->path = strdup(n->name);
	}
	return n->path ? 0 : -ENOMEM;
}

static void node_free(struct co_node *n)
{
	free(n->name);
	free(n->path);
	free(n->link);
	free(n->ranges);
	free(n);
}

static struct co_node *adopt(struct co_mgr *m, struct co_node *tmp)
{
	struct co_node *n = malloc(sizeof(*n));

	if (!n)
		return NULL;
	*n = *tmp;
	if (set_path(m, n)) {
		node_free(n);
		return NULL;
	}
	if (n->used > m->lru_clock)
		m->lru_clock = n->used;
	table_add(m, n);
	return n;
}

struct co_node *co_node_get(struct co_mgr *m, uint64_t id)
{
	struct co_node *n, tmp;

	for (n = m->by_id[id % NBUCKETS]; n; n = n->next_id)
		if (n->id == id)
			return n;
	if (co_store_load(m->store, id, &tmp))
		return NULL;
	return adopt(m, &tmp);
}

struct co_node *co_node_child(struct co_mgr *m, struct co_node *dir,
			      const char *name)
{
	struct co_node *n, tmp;

	for (n = m->by_name[hash_name(dir->id, name)]; n; n = n->next_name)
		if (n->parent == dir->id && !strcmp(n->name, name))
			return n;
	if (co_store_find(m->store, dir->id, name, &tmp))
		return NULL;
	for (n = m->by_id[tmp.id % NBUCKETS]; n; n = n->next_id)
		if (n->id == tmp.id) {
			free(tmp.name);
			free(tmp.link);
			free(tmp.ranges);
			if (!n->parent && tmp.parent == dir->id &&
			    !strcmp(n->name, name)) {
				/* unnamed when the origin said ENOENT, its row kept:
				 * the name is back */
				size_t b = hash_name(dir->id, name);

				n->parent = dir->id;
				n->next_name = m->by_name[b];
				m->by_name[b] = n;
				return n;
			}
			/* moved in memory since (a rename whose row did not
			 * commit): the row is stale */
			return n->parent == dir->id && !strcmp(n->name, name) ? n : NULL;
		}
	return adopt(m, &tmp);
}

int co_nodes_init(struct co_mgr *m)
{
	size_t b;

	m->by_id = calloc(NBUCKETS, sizeof(*m->by_id));
	m->by_name = calloc(NBUCKETS, sizeof(*m->by_name));
	if (!m->by_id || !m->by_name)
		return -ENOMEM;
	m->nbuckets = NBUCKETS;
	pthread_mutex_init(&m->lock, NULL);
	for (b = 0; b < CO_DLOCKS; b++)
		pthread_mutex_init(&m->dlock[b], NULL);
	m->cached_bytes = co_store_cached_total(m->store);
	return co_node_get(m, FUSE_ROOT_ID) ? 0 : -EIO;
}

void co_nodes_free(struct co_mgr *m)
{
	size_t b;

	if (!m->by_id)
		return;
	for (b = 0; b < NBUCKETS; b++)
		while (m->by_id[b]) {
			struct co_node *n = m->by_id[b];

			m->by_id[b] = n->next_id;
			node_free(n);
		}
	free(m->by_id);
	free(m->by_name);
	free(m->inval);
}

bool co_node_fresh(struct co_mgr *m, const struct co_node *n)
{
	return n->validated_ns && n->validated_epoch == co_mode_epoch(m) &&
	       cc_now_ns() - n->validated_ns < (uint64_t)m->o.actimeo_ms * 1000000u;
}

bool co_node_provisional(struct co_mgr *m, const struct co_node *n)
{
	return co_mode_get(m) != CO_CONNECTED || !co_node_fresh(m, n);
}

bool co_node_has(const struct co_node *n, uint64_t off, uint64_t end)
{
	size_t i;

	if (n->complete || off >= end)
		return true;
	for (i = 0; i < n->nranges; i++)
		if (n->ranges[i].start <= off && n->ranges[i].end >= end)
			return true;
	return false;
}

void co_node_touch(struct co_mgr *m, struct co_node *n)
{
	n->used = ++m->lru_clock;
}

int co_data_open(struct co_mgr *m, uint64_t id)
{
	char name[32];
	int fd;

	snprintf(name, sizeof(name), "%llu", (unsigned long long)id);
	fd = openat(m->data_fd, name, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	return fd < 0 ? -errno : fd;
}

static void data_drop(struct co_mgr *m, uint64_t id)
{
	char name[32];

	snprintf(name, sizeof(name), "%llu", (unsigned long long)id);
	unlinkat(m->data_fd, name, 0);
}

/* emptied, not unlinked: files open on it keep writing where new opens
 * read, so no claim can point at another inode's bytes */
static void data_truncate(struct co_mgr *m, uint64_t id)
{
	char name[32];
	int fd;

	snprintf(name, sizeof(name), "%llu", (unsigned long long)id);
	fd = openat(m->data_fd, name, O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (ftruncate(fd, 0) < 0)
			co_log("cache data %s: %m", name);
		close(fd);
	}
}

static void inval_queue(struct co_mgr *m, uint64_t id)
{
	if (m->ninval == m->inval_cap) {
		size_t cap = m->inval_cap ? m->inval_cap * 2 : 64;
		uint64_t *nv = realloc(m->inval, cap * sizeof(*nv));

		if (!nv)
			return;
		m->inval = nv;
		m->inval_cap = cap;
	}
	m->inval[m->ninval++] = id;
}

/* from a thread that serves no request: the kernel drops pages of
 * objects whose origin data changed */
void co_inval_flush(struct co_mgr *m)
{
	uint64_t *v;
	size_t n, i;

	pthread_mutex_lock(&m->lock);
	v = m->inval;
	n = m->ninval;
	m->inval = NULL;
	m->ninval = m->inval_cap = 0;
	pthread_mutex_unlock(&m->lock);
	for (i = 0; i < n && m->se; i++)
		fuse_lowlevel_notify_inval_inode(m->se, v[i], 0, 0);
	free(v);
}

/* the claim goes first, then the bytes (under m->lock) */
static void forget_data(struct co_mgr *m, struct co_node *n)
{
	if (!n->nranges && !n->complete)
		return;
	m->cached_bytes -= co_node_cached(n);
	free(n->ranges);
	n->ranges = NULL;
	n->nranges = 0;
	n->complete = false;
	co_store_put_ranges(m->store, n);
	data_truncate(m, n->id);
	n->gen++;
	inval_queue(m, n->id);
}

static bool version_changed(const struct stat *a, const struct stat *b)
{
	return a->st_ino != b->st_ino || a->st_size != b->st_size ||
	       (a->st_mode & S_IFMT) != (b->st_mode & S_IFMT) ||
	       a->st_mtim.tv_sec != b->st_mtim.tv_sec ||
	       a->st_mtim.tv_nsec != b->st_mtim.tv_nsec ||
	       a->st_ctim.tv_sec != b->st_ctim.tv_sec ||
	       a->st_ctim.tv_nsec != b->st_ctim.tv_nsec;
}

/* the origin's attributes of @name in @dir, as just seen (under m->lock) */
static struct co_node *upsert(struct co_mgr *m, struct co_node *dir,
			      const char *name, const struct stat *st,
			      const char *link)
{
	struct co_node *n = co_node_child(m, dir, name);
	bool dirty = false;

	if (n) {
		if (version_changed(&n->st, st)) {
			forget_data(m, n);
			if (S_ISDIR(st->st_mode) && n->st.st_ino != st->st_ino)
				n->listed = false;
			n->xattrs_known = false;
			dirty = true;
		}
		if (memcmp(&n->st, st, sizeof(*st)))
			dirty = true;
	} else {
		struct co_node tmp;

		memset(&tmp, 0, sizeof(tmp));
		tmp.parent = dir->id;
		tmp.name = strdup(name);
		if (!tmp.name)
			return NULL;
		tmp.st = *st;
		if (co_store_put(m->store, &tmp)) {
			free(tmp.name);
			return NULL;
		}
		n = adopt(m, &tmp);
		if (!n)
			return NULL;
	}
	n->st = *st;
	if (S_ISLNK(st->st_mode) && link && (!n->link || strcmp(n->link, link))) {
		free(n->link);
		n->link = strdup(link);
		dirty = true;
	}
	if (S_ISREG(st->st_mode) && st->st_size == 0 && !n->complete) {
		n->complete = true;
		dirty = true;
	}
	n->validated_ns = cc_now_ns();
	n->validated_epoch = co_mode_epoch(m);
	if (dirty)
		co_store_put(m->store, n);
	return n;
}

int co_origin_failed(struct co_mgr *m, const char *what, int err)
{
	char why[512];

	if (err == -EINTR || err == -ENOENT || err == -ENOTDIR ||
	    err == -EACCES || err == -EPERM || err == -ENAMETOOLONG ||
	    err == -ELOOP || err == -ENODATA || err == -ENOTSUP)
		return err;
	if (err == -ETIMEDOUT) {
		snprintf(why, sizeof(why), "%s: no answer within %u ms", what,
			 m->o.timeout_ms);
	} else if (cachectl_error_is_gone(err)) {
		snprintf(why, sizeof(why), "%s: %s", what, strerror(-err));
	} else if (err == -EIO || err == -ESTALE) {
		/* a bad file, or the server: the probe tells which */
		struct co_job *j = co_job_new(co_job_probe, NULL);
		int r = j ? co_origin_call(m, j, NULL) : -ENOMEM;

		co_job_put(m, j);
		if (r == 0 || r == -ENOMEM)
			return err;
		snprintf(why, sizeof(why), "%s: %s, and the probe: %s", what,
			 strerror(-err), strerror(-r));
	} else {
		return err;
	}
	co_mode_disconnect(m, why, false);
	return 0;
}

static int stat_job(struct co_mgr *m, const char *path, fuse_req_t req,
		    struct stat *st, char **link)
{
	struct co_job *j = co_job_new(co_job_stat, path);
	int r;

	if (!j)
		return -ENOMEM;
	r = co_origin_call(m, j, req);
	if (!r) {
		*st = j->st;
		*link = NULL;
		if (S_ISLNK(st->st_mode)) {
			struct co_job *l = co_job_new(co_job_readlink, path);

			r = l ? co_origin_call(m, l, req) : -ENOMEM;
			if (!r) {
				*link = l->buf;
				l->buf = NULL;
			}
			co_job_put(m, l);
		}
	}
	co_job_put(m, j);
	return r;
}

static int parent_and_name(struct co_mgr *m, uint64_t id, uint64_t *parent,
			   char **name, char **path)
{
	struct co_node *n;

	pthread_mutex_lock(&m->lock);
	n = co_node_get(m, id);
	if (n) {
		*parent = n->parent;
		*name = strdup(n->name);
		*path = strdup(n->path);
	}
	pthread_mutex_unlock(&m->lock);
	if (!n)
		return -ESTALE;
	if (!*name || !*path) {
		free(*name);
		free(*path);
		return -ENOMEM;
	}
	return 0;
}

int co_revalidate(struct co_mgr *m, uint64_t id, fuse_req_t req)
{
	uint64_t parent;
	char *name, *path, *link = NULL;
	struct stat st;
	bool fresh;
	int r;

	if (co_mode_get(m) != CO_CONNECTED)
		return 0;
	pthread_mutex_lock(&m->lock);
	{
		struct co_node *n = co_node_get(m, id);

		fresh = n && co_node_fresh(m, n);
	}
	pthread_mutex_unlock(&m->lock);
	if (fresh)
		return 0;
	r = parent_and_name(m, id, &parent, &name, &path);
	if (r)
		return r;
	r = stat_job(m, path, req, &st, &link);
	if (r) {
		r = co_origin_failed(m, path, r);
	} else {
		pthread_mutex_lock(&m->lock);
		if (id == FUSE_ROOT_ID) {
			struct co_node *n = co_node_get(m, id);

			if (version_changed(&n->st, &st))
				n->listed = false;
			n->st = st;
			n->validated_ns = cc_now_ns();
			n->validated_epoch = co_mode_epoch(m);
			co_store_put(m->store, n);
		} else {
			struct co_node *dir = co_node_get(m, parent);

			if (!dir || !upsert(m, dir, name, &st, link))
				r = -ENOMEM;
		}
		pthread_mutex_unlock(&m->lock);
	}
	free(link);
	free(name);
	free(path);
	return r;
}

int co_lookup_origin(struct co_mgr *m, uint64_t parent, const char *name,
		     fuse_req_t req, uint64_t *ret_id)
{
	char *path = NULL, *link = NULL;
	struct co_node *dir, *n;
	struct stat st;
	int r;

	pthread_mutex_lock(&m->lock);
	dir = co_node_get(m, parent);
	if (dir) {
		if (*dir->path)
			r = asprintf(&path, "%s/%s", dir->path, name) < 0 ? -ENOMEM : 0;
		else
			r = (path = strdup(name)) ? 0 : -ENOMEM;
	} else {
		r = -ESTALE;
	}
	pthread_mutex_unlock(&m->lock);
	if (r)
		return r;
	r = stat_job(m, path, req, &st, &link);
	if (r == -ENOENT) {
		/* gone on the origin: so it is gone here too */
		pthread_mutex_lock(&m->lock);
		dir = co_node_get(m, parent);
		n = dir ? co_node_child(m, dir, name) : NULL;
		if (n)
			table_unname(m, n);
		pthread_mutex_unlock(&m->lock);
	} else if (r) {
		r = co_origin_failed(m, path, r);
		if (!r)
			r = 1;	/* now disconnected: ask the cache */
	} else {
		pthread_mutex_lock(&m->lock);
		dir = co_node_get(m, parent);
		n = dir ? upsert(m, dir, name, &st, link) : NULL;
		if (n)
			*ret_id = n->id;
		else
			r = -ENOMEM;
		pthread_mutex_unlock(&m->lock);
	}
	free(link);
	free(path);
	return r;
}

/*
 * Run @fn on the origin for the object @id: 0 with the finished job in
 * *@ret_job (the caller puts it), 1 when the attempt turned the
 * attachment disconnected, else a negative errno.
 */
static int node_call(struct co_mgr *m, uint64_t id, co_job_fn fn,
		     fuse_req_t req, struct co_job **ret_job)
{
	struct co_job *j = NULL;
	struct co_node *n;
	int r;

	pthread_mutex_lock(&m->lock);
	n = co_node_get(m, id);
	if (n)
		j = co_job_new(fn, n->path);
	pthread_mutex_unlock(&m->lock);
	if (!j)
		return n ? -ENOMEM : -ESTALE;
	r = co_origin_call(m, j, req);
	if (r) {
		r = co_origin_failed(m, *j->path ? j->path : ".", r);
		co_job_put(m, j);
		return r ? r : 1;
	}
	*ret_job = j;
	return 0;
}

int co_list(struct co_mgr *m, uint64_t id, fuse_req_t req)
{
	struct co_listing *l;
	struct co_job *j;
	struct co_node *dir;
	uint64_t *gone = NULL;
	size_t ngone = 0, i;
	int r = node_call(m, id, co_job_list, req, &j);

	if (r)
		return r;
	l = j->out;
	pthread_mutex_lock(&m->lock);
	co_store_begin(m->store);
	dir = co_node_get(m, id);
	for (i = 0; dir && i < l->n; i++)
		upsert(m, dir, l->v[i].name, &l->v[i].st, l->v[i].link);
	if (dir) {
		co_store_prune(m->store, id, l, &gone, &ngone);
		for (i = 0; i < ngone; i++) {
			struct co_node *n = co_node_get(m, gone[i]);

			if (n) {
				m->cached_bytes -= co_node_cached(n);
				table_unname(m, n);
			}
		}
		dir->listed = true;
		dir->listed_ns = cc_now_ns();
		dir->listed_epoch = co_mode_epoch(m);
		co_store_put(m->store, dir);
	}
	r = co_store_commit(m->store);
	pthread_mutex_unlock(&m->lock);
	for (i = 0; i < ngone; i++)
		data_drop(m, gone[i]);
	free(gone);
	co_job_put(m, j);
	return r;
}

static void range_add(struct co_node *n, uint64_t start, uint64_t end)
{
	struct co_range *v;
	size_t i, o = 0;

	v = realloc(n->ranges, (n->nranges + 1) * sizeof(*v));
	if (!v)
		return;
	n->ranges = v;
	v[n->nranges].start = start;
	v[n->nranges].end = end;
	n->nranges++;
	/* insertion sort then merge: files have few ranges */
	for (i = n->nranges - 1; i > 0 && v[i - 1].start > v[i].start; i--) {
		struct co_range t = v[i];

		v[i] = v[i - 1];
		v[i - 1] = t;
	}
	for (i = 1; i < n->nranges; i++) {
		if (v[i].start <= v[o].end) {
			if (v[i].end > v[o].end)
				v[o].end = v[i].end;
		} else {
			v[++o] = v[i];
		}
	}
	n->nranges = o + 1;
	if (n->nranges == 1 && v[0].start == 0 &&
	    v[0].end >= (uint64_t)n->st.st_size)
		n->complete = true;
}

/* LRU culling down to the limit; pinned files are never culled */
static void cull(struct co_mgr *m, uint64_t want)
{
	while (m->o.size_limit && m->cached_bytes + want > m->o.size_limit) {
		uint64_t *ids;
		size_t n, i, dropped = 0;

		if (co_store_lru(m->store, &ids, &n, 64) || !n) {
			if (!n)
				free(ids);
			return;
		}
		for (i = 0; i < n && m->cached_bytes + want > m->o.size_limit; i++) {
			struct co_node *c = co_node_get(m, ids[i]);

			if (!c || c->pinned)
				continue;
			forget_data(m, c);
			dropped++;
		}
		free(ids);
		if (!dropped)
			return;
	}
}

int co_fill(struct co_mgr *m, uint64_t id, int cfd, int *ofd, uint64_t off,
	    uint64_t len, fuse_req_t req, void **ret_buf, size_t *ret_size)
{
	struct co_job *j;
	struct co_node *n;
	char *path;
	bool keep = true;
	uint64_t gen0, wgen0;
	size_t done = 0;
	int r;

	pthread_mutex_lock(&m->lock);
	n = co_node_get(m, id);
	/* a write through after this point makes what we read old */
	wgen0 = n ? n->wgen : 0;
	path = n ? strdup(n->path) : NULL;
	j = path ? co_job_new(co_job_read, path) : NULL;
	if (j && *ofd >= 0)
		j->fd = dup(*ofd);
	pthread_mutex_unlock(&m->lock);
	if (!j) {
		free(path);
		return n ? -ENOMEM : -ESTALE;
	}
	j->off = off;
	j->len = len;
	r = co_origin_call(m, j, req);
	if (r) {
		r = co_origin_failed(m, path, r);
		co_job_put(m, j);
		free(path);
		return r ? r : 1;
	}
	pthread_mutex_lock(&m->lock);
	if (*ofd < 0) {
		*ofd = j->fd;
		j->fd = -1;
	}
	n = co_node_get(m, id);
	if (n && version_changed(&n->st, &j->st)) {
		/* changed under the read: serve it, keep nothing of it */
		struct co_node *dir = co_node_get(m, n->parent);

		if (dir)
			upsert(m, dir, n->name, &j->st, NULL);
		keep = false;
	}
	gen0 = n ? n->gen : 0;
	if (keep && m->o.size_limit) {
		cull(m, j->size);
		if (m->cached_bytes + j->size > m->o.size_limit) {
			keep = false;
			if (!m->full_reported) {
				m->full_reported = true;
				co_event_post(m, "cache-full", path);
			}
		}
	}
	pthread_mutex_unlock(&m->lock);

	/* the bytes go in only while no write through has changed them */
	pthread_mutex_lock(co_data_lock(m, id));
	if (keep) {
		pthread_mutex_lock(&m->lock);
		n = co_node_get(m, id);
		keep = n && n->gen == gen0 && n->wgen == wgen0;
		pthread_mutex_unlock(&m->lock);
	}
	while (keep && done < j->size) {
		ssize_t w = pwrite(cfd, (char *)j->buf + done, j->size - done,
				   (off_t)(off + done));

		if (w < 0) {
			if (errno == ENOSPC) {
				co_event_post(m, "cache-full", path);
			}
			keep = false;
			break;
		}
		done += (size_t)w;
	}
	/* the bytes are on disk before the claim that they are */
	if (keep && fdatasync(cfd) < 0)
		keep = false;
	if (keep) {
		pthread_mutex_lock(&m->lock);
		n = co_node_get(m, id);
		/* dropped meanwhile (truncated under our bytes): claim nothing */
		if (n && n->gen == gen0 && n->wgen == wgen0 &&
		    (n->parent || n->id == FUSE_ROOT_ID) &&
		    !version_changed(&n->st, &j->st)) {
			uint64_t before = co_node_cached(n);

			range_add(n, off, off + j->size);
			if (off + j->size >= (uint64_t)n->st.st_size)
				range_add(n, off, (uint64_t)n->st.st_size);
			m->cached_bytes += co_node_cached(n) - before;
			co_node_touch(m, n);
			co_store_put_ranges(m->store, n);
		}
		pthread_mutex_unlock(&m->lock);
	}
	pthread_mutex_unlock(co_data_lock(m, id));
	*ret_buf = j->buf;
	*ret_size = j->size;
	j->buf = NULL;
	co_job_put(m, j);
	free(path);
	return 0;
}

int co_fetch_xattrs(struct co_mgr *m, uint64_t id, fuse_req_t req)
{
	struct co_job *j;
	struct co_node *n;
	int r = node_call(m, id, co_job_xattrs, req, &j);

	if (r)
		return r;
	pthread_mutex_lock(&m->lock);
	co_store_begin(m->store);
	r = co_store_put_xattrs(m->store, id, j->out);
	n = co_node_get(m, id);
	if (n && !r) {
		n->xattrs_known = true;
		co_store_put(m->store, n);
	}
	r = co_store_commit(m->store) ?: r;
	pthread_mutex_unlock(&m->lock);
	co_job_put(m, j);
	return r;
}

/* ---- for the write side (write.c) -------------------------------------- */

struct co_node *co_node_upsert(struct co_mgr *m, struct co_node *dir,
			       const char *name, const struct stat *st,
			       const char *link)
{
	return upsert(m, dir, name, st, link);
}

void co_node_forget_data(struct co_mgr *m, struct co_node *n)
{
	forget_data(m, n);
}

bool co_version_changed(const struct stat *a, const struct stat *b)
{
	return version_changed(a, b);
}

void co_range_add(struct co_node *n, uint64_t start, uint64_t end)
{
	if (start < end)
		range_add(n, start, end);
}

/* [start, end) no longer held; complete follows what is left */
void co_range_clip(struct co_node *n, uint64_t start, uint64_t end)
{
	struct co_range *v = NULL;
	size_t i, k = 0;

	if (start >= end)
		return;
	if (n->complete && !n->nranges && n->st.st_size > 0) {
		/* a file complete without ranges is empty: nothing to clip */
		n->complete = false;
		return;
	}
	if (n->nranges)
		v = malloc((n->nranges + 1) * sizeof(*v));
	if (!v && n->nranges) {
		/* cannot say what is left: hold nothing */
		free(n->ranges);
		n->ranges = NULL;
		n->nranges = 0;
		n->complete = false;
		return;
	}
	for (i = 0; i < n->nranges; i++) {
		struct co_range r = n->ranges[i];

		if (r.end <= start || r.start >= end) {
			v[k++] = r;
			continue;
		}
		if (r.start < start)
			v[k++] = (struct co_range){ r.start, start };
		if (r.end > end)
			v[k++] = (struct co_range){ end, r.end };
	}
	free(n->ranges);
	n->ranges = v;
	n->nranges = k;
	n->complete = n->st.st_size == 0 ||
		      (k == 1 && v[0].start == 0 && v[0].end >= (uint64_t)n->st.st_size);
}

void co_node_unname(struct co_mgr *m, struct co_node *n)
{
	if (n->parent)
		table_unname(m, n);
}

/*
 * @n now has the name @name in @parent (in memory; the caller writes the
 * row). A directory's descendants in memory get their new paths: every
 * origin call uses them.
 */
int co_node_move(struct co_mgr *m, struct co_node *n, uint64_t parent,
		 const char *name)
{
	struct co_node *p = co_node_get(m, parent);
	char *nname = strdup(name), *npath = NULL, *old = n->path;
	size_t oldlen = strlen(old), b;

	if (p && nname) {
		if (*p->path) {
			if (asprintf(&npath, "%s/%s", p->path, name) < 0)
				npath = NULL;
		} else {
			npath = strdup(name);
		}
	}
	if (!npath) {
		free(nname);
		return p ? -ENOMEM : -ENOENT;
	}
	co_node_unname(m, n);
	free(n->name);
	n->name = nname;
	n->parent = parent;
	n->path = npath;
	b = hash_name(n->parent, n->name);
	n->next_name = m->by_name[b];
	m->by_name[b] = n;
	if (S_ISDIR(n->st.st_mode)) {
		for (b = 0; b < NBUCKETS; b++) {
			struct co_node *c;

			for (c = m->by_id[b]; c; c = c->next_id) {
				char *np;

				if (c == n || strncmp(c->path, old, oldlen) ||
				    c->path[oldlen] != '/')
					continue;
				if (asprintf(&np, "%s%s", n->path, c->path + oldlen) < 0)
					continue;
				free(c->path);
				c->path = np;
			}
		}
	}
	free(old);
	return 0;
}

void co_cull(struct co_mgr *m, uint64_t want)
{
	cull(m, want);
}

void co_data_drop(struct co_mgr *m, uint64_t id)
{
	data_drop(m, id);
}

pthread_mutex_t *co_data_lock(struct co_mgr *m, uint64_t id)
{
	return &m->dlock[id % CO_DLOCKS];
}
