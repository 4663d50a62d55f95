// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The local cache's metadata in SQLite (WAL): one row per origin object
 * with its attributes, link target and state, its present data ranges and
 * its xattrs. SQLite because a cache must survive kill -9 and power cuts
 * with every claim true, and SQLite's transactions do that with a format
 * anyone can open (sqlite3 CACHE/meta.db), where a file format of our own
 * would need its own journal and repair tool. Data lives beside it in
 * sparse files, one per object, named by row id (cachectl-offline(5)).
 *
 * Order: data is written and fdatasync'ed before the transaction that
 * records its range; a range is removed from the store before its data is
 * dropped. WAL with synchronous=NORMAL may lose the last commits on a
 * power cut, which loses claims, never makes one false.
 */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "offline.h"

struct co_store {
	sqlite3 *db;
	pthread_mutex_t lock;
	pthread_mutex_t tx;		/* held from BEGIN to COMMIT, recursive */
	int depth;
	int doomed;			/* error that rolls the outer tx back */
	uint64_t max_id;		/* ids are never reused: see co_store_put */
	sqlite3_stmt *hw, *load, *find, *ins, *upd, *kids, *rdel, *rins, *rget,
		     *xdel, *xins, *xget, *lru, *ndel;
};

static const char schema[] =
	"PRAGMA journal_mode=WAL;"
	"PRAGMA synchronous=NORMAL;"
	"CREATE TABLE IF NOT EXISTS node("
	" id INTEGER PRIMARY KEY, parent INTEGER NOT NULL, name BLOB NOT NULL,"
	" ino INTEGER, mode INTEGER, nlink INTEGER, uid INTEGER, gid INTEGER,"
	" rdev INTEGER, size INTEGER, blocks INTEGER, blksize INTEGER,"
	" atime INTEGER, mtime INTEGER, ctime INTEGER,"
	" link BLOB, listed INTEGER NOT NULL DEFAULT 0,"
	" xattrs INTEGER NOT NULL DEFAULT 0, pinned INTEGER NOT NULL DEFAULT 0,"
	" complete INTEGER NOT NULL DEFAULT 0, cached INTEGER NOT NULL DEFAULT 0,"
	" used INTEGER NOT NULL DEFAULT 0, UNIQUE(parent, name));"
	"CREATE TABLE IF NOT EXISTS range(node INTEGER NOT NULL,"
	" start INTEGER NOT NULL, end INTEGER NOT NULL, PRIMARY KEY(node, start));"
	"CREATE TABLE IF NOT EXISTS xattr(node INTEGER NOT NULL, name BLOB NOT NULL,"
	" value BLOB, PRIMARY KEY(node, name));"
	"CREATE INDEX IF NOT EXISTS node_lru ON node(used) WHERE cached > 0;"
	/* the highest id a deleted row had: never given again */
	"CREATE TABLE IF NOT EXISTS idmax(k INTEGER PRIMARY KEY CHECK(k = 0),"
	" v INTEGER NOT NULL);"
	"INSERT OR IGNORE INTO node(id, parent, name) VALUES(1, 0, '');";

#define COLS "id, parent, name, ino, mode, nlink, uid, gid, rdev, size, " \
	"blocks, blksize, atime, mtime, ctime, link, listed, xattrs, pinned, " \
	"complete, used"

static int prep(struct co_store *s, const char *sql, sqlite3_stmt **st)
{
	if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st,
			       NULL) != SQLITE_OK) {
		co_log("store: %s: %s", sql, sqlite3_errmsg(s->db));
		return -EIO;
	}
	return 0;
}

int co_store_open(struct co_mgr *m, struct co_store **ret)
{
	struct co_store *s = calloc(1, sizeof(*s));
	char path[4200];
	char *err = NULL;
	int r;

	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->lock, NULL);
	{
		pthread_mutexattr_t a;

		pthread_mutexattr_init(&a);
		pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
		pthread_mutex_init(&s->tx, &a);
		pthread_mutexattr_destroy(&a);
	}
	snprintf(path, sizeof(path), "%s/meta.db", m->o.cache_dir);
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE |
			    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		co_log("%s: %s", path, s->db ? sqlite3_errmsg(s->db) : "no memory");
		co_store_close(s);
		return -EIO;
	}
	sqlite3_busy_timeout(s->db, 5000);
	if (sqlite3_exec(s->db, schema, NULL, NULL, &err) != SQLITE_OK) {
		co_log("%s: %s", path, err);
		sqlite3_free(err);
		co_store_close(s);
		return -EIO;
	}
	r = prep(s, "SELECT " COLS " FROM node WHERE id = ?", &s->load) ?:
	    prep(s, "SELECT " COLS " FROM node WHERE parent = ? AND name = ?", &s->find) ?:
	    prep(s, "INSERT INTO node(parent, name, ino, mode, nlink, uid, gid,"
		 " rdev, size, blocks, blksize, atime, mtime, ctime, link, listed,"
		 " xattrs, pinned, complete, used, cached, id)"
		 " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", &s->ins) ?:
	    prep(s, "UPDATE node SET parent=?, name=?, ino=?, mode=?, nlink=?,"
		 " uid=?, gid=?, rdev=?, size=?, blocks=?, blksize=?, atime=?,"
		 " mtime=?, ctime=?, link=?, listed=?, xattrs=?, pinned=?,"
		 " complete=?, used=?, cached=? WHERE id=?", &s->upd) ?:
	    prep(s, "SELECT id, name FROM node WHERE parent = ? ORDER BY name", &s->kids) ?:
	    prep(s, "DELETE FROM range WHERE node = ?", &s->rdel) ?:
	    prep(s, "INSERT INTO range(node, start, end) VALUES(?,?,?)", &s->rins) ?:
	    prep(s, "SELECT start, end FROM range WHERE node = ? ORDER BY start", &s->rget) ?:
	    prep(s, "DELETE FROM xattr WHERE node = ?", &s->xdel) ?:
	    prep(s, "INSERT INTO xattr(node, name, value) VALUES(?,?,?)", &s->xins) ?:
	    prep(s, "SELECT name, value FROM xattr WHERE node = ?", &s->xget) ?:
	    prep(s, "SELECT id FROM node WHERE cached > 0 AND pinned = 0"
		 " ORDER BY used LIMIT ?", &s->lru) ?:
	    prep(s, "DELETE FROM node WHERE id = ?", &s->ndel) ?:
	    prep(s, "INSERT INTO idmax(k, v) VALUES(0, ?) ON CONFLICT(k)"
		 " DO UPDATE SET v = max(v, excluded.v)", &s->hw);
	if (r) {
		co_store_close(s);
		return r;
	}
	{
		sqlite3_stmt *st;

		if (sqlite3_prepare_v2(s->db, "SELECT max((SELECT max(id) FROM node),"
				       " coalesce((SELECT v FROM idmax), 0))", -1,
				       &st, NULL) == SQLITE_OK) {
			if (sqlite3_step(st) == SQLITE_ROW)
				s->max_id = (uint64_t)sqlite3_column_int64(st, 0);
			sqlite3_finalize(st);
		}
	}
	*ret = s;
	return 0;
}

void co_store_close(struct co_store *s)
{
	sqlite3_stmt *all[] = { s->hw, s->load, s->find, s->ins, s->upd, s->kids,
				s->rdel, s->rins, s->rget, s->xdel, s->xins,
				s->xget, s->lru, s->ndel };
	size_t i;

	if (!s)
		return;
	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		sqlite3_finalize(all[i]);
	sqlite3_close(s->db);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static int done(struct co_store *s, sqlite3_stmt *st, int rc)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc == SQLITE_DONE || rc == SQLITE_ROW || rc == SQLITE_OK)
		return 0;
	co_log("store: %s", sqlite3_errmsg(s->db));
	return rc == SQLITE_FULL ? -ENOSPC : -EIO;
}

static int64_t ts_ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

static void ns_ts(int64_t ns, struct timespec *t)
{
	t->tv_sec = ns / 1000000000;
	t->tv_nsec = ns % 1000000000;
}

static int ranges_load(struct co_store *s, struct co_node *n)
{
	int rc;

	free(n->ranges);
	n->ranges = NULL;
	n->nranges = 0;
	sqlite3_bind_int64(s->rget, 1, (int64_t)n->id);
	while ((rc = sqlite3_step(s->rget)) == SQLITE_ROW) {
		struct co_range *nv = realloc(n->ranges, (n->nranges + 1) * sizeof(*nv));

		if (!nv) {
			sqlite3_reset(s->rget);
			return -ENOMEM;
		}
		n->ranges = nv;
		nv[n->nranges].start = (uint64_t)sqlite3_column_int64(s->rget, 0);
		nv[n->nranges].end = (uint64_t)sqlite3_column_int64(s->rget, 1);
		n->nranges++;
	}
	return done(s, s->rget, rc);
}

static int row(struct co_store *s, sqlite3_stmt *st, struct co_node *n)
{
	const void *b;
	int rc = sqlite3_step(st);

	if (rc != SQLITE_ROW) {
		done(s, st, rc);
		return rc == SQLITE_DONE ? -ENOENT : -EIO;
	}
	memset(n, 0, sizeof(*n));
	n->id = (uint64_t)sqlite3_column_int64(st, 0);
	n->parent = (uint64_t)sqlite3_column_int64(st, 1);
	b = sqlite3_column_blob(st, 2);
	n->name = strndup(b ? b : "", (size_t)sqlite3_column_bytes(st, 2));
	n->st.st_ino = (ino_t)sqlite3_column_int64(st, 3);
	n->st.st_mode = (mode_t)sqlite3_column_int64(st, 4);
	n->st.st_nlink = (nlink_t)sqlite3_column_int64(st, 5);
	n->st.st_uid = (uid_t)sqlite3_column_int64(st, 6);
	n->st.st_gid = (gid_t)sqlite3_column_int64(st, 7);
	n->st.st_rdev = (dev_t)sqlite3_column_int64(st, 8);
	n->st.st_size = (off_t)sqlite3_column_int64(st, 9);
	n->st.st_blocks = (blkcnt_t)sqlite3_column_int64(st, 10);
	n->st.st_blksize = (blksize_t)sqlite3_column_int64(st, 11);
	ns_ts(sqlite3_column_int64(st, 12), &n->st.st_atim);
	ns_ts(sqlite3_column_int64(st, 13), &n->st.st_mtim);
	ns_ts(sqlite3_column_int64(st, 14), &n->st.st_ctim);
	b = sqlite3_column_blob(st, 15);
	if (b)
		n->link = strndup(b, (size_t)sqlite3_column_bytes(st, 15));
	n->listed = sqlite3_column_int(st, 16);
	n->xattrs_known = sqlite3_column_int(st, 17);
	n->pinned = sqlite3_column_int(st, 18);
	n->complete = sqlite3_column_int(st, 19);
	n->used = (uint64_t)sqlite3_column_int64(st, 20);
	done(s, st, SQLITE_DONE);
	if (!n->name)
		return -ENOMEM;
	return ranges_load(s, n);
}

int co_store_load(struct co_store *s, uint64_t id, struct co_node *n)
{
	int r;

	pthread_mutex_lock(&s->lock);
	sqlite3_bind_int64(s->load, 1, (int64_t)id);
	r = row(s, s->load, n);
	pthread_mutex_unlock(&s->lock);
	return r;
}

int co_store_find(struct co_store *s, uint64_t parent, const char *name,
		  struct co_node *n)
{
	int r;

	pthread_mutex_lock(&s->lock);
	sqlite3_bind_int64(s->find, 1, (int64_t)parent);
	sqlite3_bind_blob(s->find, 2, name, (int)strlen(name), SQLITE_STATIC);
	r = row(s, s->find, n);
	pthread_mutex_unlock(&s->lock);
	return r;
}

uint64_t co_node_cached(const struct co_node *n)
{
	uint64_t t = 0;
	size_t i;

	for (i = 0; i < n->nranges; i++)
		t += n->ranges[i].end - n->ranges[i].start;
	return t;
}

int co_store_put(struct co_store *s, struct co_node *n)
{
	sqlite3_stmt *st = n->id ? s->upd : s->ins;
	int rc;

	pthread_mutex_lock(&s->lock);
	sqlite3_bind_int64(st, 1, (int64_t)n->parent);
	sqlite3_bind_blob(st, 2, n->name, (int)strlen(n->name), SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (int64_t)n->st.st_ino);
	sqlite3_bind_int64(st, 4, n->st.st_mode);
	sqlite3_bind_int64(st, 5, (int64_t)n->st.st_nlink);
	sqlite3_bind_int64(st, 6, n->st.st_uid);
	sqlite3_bind_int64(st, 7, n->st.st_gid);
	sqlite3_bind_int64(st, 8, (int64_t)n->st.st_rdev);
	sqlite3_bind_int64(st, 9, n->st.st_size);
	sqlite3_bind_int64(st, 10, n->st.st_blocks);
	sqlite3_bind_int64(st, 11, n->st.st_blksize);
	sqlite3_bind_int64(st, 12, ts_ns(&n->st.st_atim));
	sqlite3_bind_int64(st, 13, ts_ns(&n->st.st_mtim));
	sqlite3_bind_int64(st, 14, ts_ns(&n->st.st_ctim));
	if (n->link)
		sqlite3_bind_blob(st, 15, n->link, (int)strlen(n->link), SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 15);
	sqlite3_bind_int(st, 16, n->listed);
	sqlite3_bind_int(st, 17, n->xattrs_known);
	sqlite3_bind_int(st, 18, n->pinned);
	sqlite3_bind_int(st, 19, n->complete);
	sqlite3_bind_int64(st, 20, (int64_t)n->used);
	sqlite3_bind_int64(st, 21, (int64_t)co_node_cached(n));
	/*
	 * An id is a FUSE node id and names a data file: one given again
	 * while the kernel still holds the old one would mix two objects'
	 * pages, so new rows count up from the highest id ever used rather
	 * than SQLite's max(rowid) + 1, which reuses a deleted last row's.
	 */
	sqlite3_bind_int64(st, 22, (int64_t)(n->id ? n->id : s->max_id + 1));
	rc = sqlite3_step(st);
	if (!n->id && rc == SQLITE_DONE)
		n->id = ++s->max_id;
	rc = done(s, st, rc);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* the ranges and the row's counters in one transaction */
int co_store_put_ranges(struct co_store *s, const struct co_node *n)
{
	size_t i;
	int r;

	r = co_store_begin(s);
	if (r)
		return r;
	pthread_mutex_lock(&s->lock);
	sqlite3_bind_int64(s->rdel, 1, (int64_t)n->id);
	r = done(s, s->rdel, sqlite3_step(s->rdel));
	for (i = 0; !r && i < n->nranges; i++) {
		sqlite3_bind_int64(s->rins, 1, (int64_t)n->id);
		sqlite3_bind_int64(s->rins, 2, (int64_t)n->ranges[i].start);
		sqlite3_bind_int64(s->rins, 3, (int64_t)n->ranges[i].end);
		r = done(s, s->rins, sqlite3_step(s->rins));
	}
	pthread_mutex_unlock(&s->lock);
	if (!r)
		r = co_store_put(s, (struct co_node *)n);
	return co_store_commit(s) ?: r;
}

int co_store_children(struct co_store *s, uint64_t parent, uint64_t **ret_ids,
		      size_t *ret_n)
{
	uint64_t *v = NULL;
	size_t n = 0, cap = 0;
	int rc;

	pthread_mutex_lock(&s->lock);
	sqlite3_bind_int64(s->kids, 1, (int64_t)parent);
	while ((rc = sqlite3_step(s->kids)) == SQLITE_ROW) {
		if (n == cap) {
			uint64_t *nv;

			cap = cap ? cap * 2 : 64;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				rc = SQLITE_NOMEM;
				break;
			}
			v = nv;
		}
		v[n++] = (uint64_t)sqlite3_column_int64(s->kids, 0);
	}
	rc = done(s, s->kids, rc);
	pthread_mutex_unlock(&s->lock);
	if (rc) {
		free(v);
		return rc;
	}
	*ret_ids = v;
	*ret_n = n;
	return 0;
}

static int name_in(const struct co_listing *l, const char *name, size_t len)
{
	size_t i;

	/* listings are in getdents order: a linear scan per pruned name is
	 * fine for what a directory holds, and only runs on relisting */
	for (i = 0; i < l->n; i++)
		if (strlen(l->v[i].name) == len && !memcmp(l->v[i].name, name, len))
			return 1;
	return 0;
}

int co_store_prune(struct co_store *s, uint64_t parent,
		   const struct co_listing *keep, uint64_t **ret_gone,
		   size_t *ret_ngone)
{
	uint64_t *gone = NULL;
	size_t ngone = 0, i;
	int rc;

	pthread_mutex_lock(&s->lock);
	sqlite3_bind_int64(s->kids, 1, (int64_t)parent);
	while ((rc = sqlite3_step(s->kids)) == SQLITE_ROW) {
		const char *name = sqlite3_column_blob(s->kids, 1);
		size_t len = (size_t)sqlite3_column_bytes(s->kids, 1);
		uint64_t *nv;

		if (name_in(keep, name ? name : "", len))
			continue;
		nv = realloc(gone, (ngone + 1) * sizeof(*nv));
		if (!nv)
			break;
		gone = nv;
		gone[ngone++] = (uint64_t)sqlite3_column_int64(s->kids, 0);
	}
	done(s, s->kids, SQLITE_DONE);
	for (i = 0; i < ngone; i++) {
		sqlite3_bind_int64(s->hw, 1, (int64_t)gone[i]);
		done(s, s->hw, sqlite3_step(s->hw));
		sqlite3_bind_int64(s->rdel, 1, (int64_t)gone[i]);
		done(s, s->rdel, sqlite3_step(s->rdel));
		sqlite3_bind_int64(s->xdel, 1, (int64_t)gone[i]);
		done(s, s->xdel, sqlite3_step(s->xdel));
		sqlite3_bind_int64(s->ndel, 1, (int64_t)gone[i]);
		done(s, s->ndel, sqlite3_step(s->ndel));
	}
	pthread_mutex_unlock(&s->lock);
	*ret_gone = gone;
	*ret_ngone = ngone;
	return 0;
}

int co_store_delete(struct co_store *s, uint64_t id)
{
	int r;

	r = co_store_begin(s);
	if (r)
		return r;
	pthread_mutex_lock(&s->lock);
	sqlite3_bind_int64(s->hw, 1, (int64_t)id);
	r = done(s, s->hw, sqlite3_step(s->hw));
	if (!r) {
		sqlite3_bind_int64(s->rdel, 1, (int64_t)id);
		r = done(s, s->rdel, sqlite3_step(s->rdel));
	}
	if (!r) {
		sqlite3_bind_int64(s->xdel, 1, (int64_t)id);
		r = done(s, s->xdel, sqlite3_step(s->xdel));
	}
	if (!r) {
		sqlite3_bind_int64(s->ndel, 1, (int64_t)id);
		r = done(s, s->ndel, sqlite3_step(s->ndel));
	}
	pthread_mutex_unlock(&s->lock);
	return r ? co_store_abort(s, r) : co_store_commit(s);
}

int co_store_put_xattrs(struct co_store *s, uint64_t id,
			const struct co_xattrs *x)
{
	size_t i;
	int r;

	pthread_mutex_lock(&s->lock);
	sqlite3_bind_int64(s->xdel, 1, (int64_t)id);
	r = done(s, s->xdel, sqlite3_step(s->xdel));
	for (i = 0; !r && x && i < x->n; i++) {
		sqlite3_bind_int64(s->xins, 1, (int64_t)id);
		sqlite3_bind_blob(s->xins, 2, x->v[i].name,
				  (int)strlen(x->v[i].name), SQLITE_STATIC);
		sqlite3_bind_blob(s->xins, 3, x->v[i].value, (int)x->v[i].size,
				  SQLITE_STATIC);
		r = done(s, s->xins, sqlite3_step(s->xins));
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

int co_store_get_xattrs(struct co_store *s, uint64_t id, struct co_xattrs *x)
{
	int rc;

	memset(x, 0, sizeof(*x));
	pthread_mutex_lock(&s->lock);
	sqlite3_bind_int64(s->xget, 1, (int64_t)id);
	while ((rc = sqlite3_step(s->xget)) == SQLITE_ROW) {
		const void *nb = sqlite3_column_blob(s->xget, 0);
		const void *vb = sqlite3_column_blob(s->xget, 1);
		size_t vn = (size_t)sqlite3_column_bytes(s->xget, 1);
		struct co_xattr *nv = realloc(x->v, (x->n + 1) * sizeof(*nv));

		if (!nv)
			break;
		x->v = nv;
		nv[x->n].name = strndup(nb ? nb : "",
					(size_t)sqlite3_column_bytes(s->xget, 0));
		nv[x->n].value = malloc(vn ? vn : 1);
		if (!nv[x->n].name || !nv[x->n].value)
			break;
		if (vn)
			memcpy(nv[x->n].value, vb, vn);
		nv[x->n].size = vn;
		x->n++;
	}
	rc = done(s, s->xget, rc == SQLITE_ROW ? SQLITE_NOMEM : rc);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/*
 * One writer transaction at a time; nested ones join the outer one. Lock
 * order: the manager's node lock, then this one.
 */
int co_store_begin(struct co_store *s)
{
	int rc = SQLITE_OK;

	pthread_mutex_lock(&s->tx);
	if (s->depth++)
		return 0;
	pthread_mutex_lock(&s->lock);
	rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	pthread_mutex_unlock(&s->lock);
	if (rc != SQLITE_OK) {
		s->depth--;
		pthread_mutex_unlock(&s->tx);
		return -EIO;
	}
	return 0;
}

int co_store_commit(struct co_store *s)
{
	int rc, doomed;

	if (--s->depth) {
		pthread_mutex_unlock(&s->tx);
		return 0;
	}
	doomed = s->doomed;
	s->doomed = 0;
	pthread_mutex_lock(&s->lock);
	rc = doomed ? SQLITE_ABORT : sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	pthread_mutex_unlock(&s->lock);
	pthread_mutex_unlock(&s->tx);
	return doomed ? doomed : rc == SQLITE_OK ? 0 : -EIO;
}

/*
 * Ends one level as failed: the outermost level then rolls back all of
 * it, so a journal entry and the node rows it changed go together.
 * Returns @err (or -EIO).
 */
int co_store_abort(struct co_store *s, int err)
{
	if (!err)
		err = -EIO;
	if (!s->doomed)
		s->doomed = err;
	co_store_commit(s);
	return err;
}

/* the connection, the lock its statements run under and their helpers,
 * for the journal's table in the same database (journal.c) */
struct sqlite3 *co_store_db(struct co_store *s)
{
	return s->db;
}

int co_store_prepare(struct co_store *s, const char *sql,
		     struct sqlite3_stmt **st)
{
	return prep(s, sql, st);
}

int co_store_done(struct co_store *s, struct sqlite3_stmt *st, int rc)
{
	return done(s, st, rc);
}

void co_store_lock(struct co_store *s)
{
	pthread_mutex_lock(&s->lock);
}

void co_store_unlock(struct co_store *s)
{
	pthread_mutex_unlock(&s->lock);
}

int co_store_lru(struct co_store *s, uint64_t **ret_ids, size_t *ret_n,
		 size_t max)
{
	uint64_t *v = calloc(max ? max : 1, sizeof(*v));
	size_t n = 0;
	int rc;

	if (!v)
		return -ENOMEM;
	pthread_mutex_lock(&s->lock);
	sqlite3_bind_int64(s->lru, 1, (int64_t)max);
	while ((rc = sqlite3_step(s->lru)) == SQLITE_ROW && n < max)
		v[n++] = (uint64_t)sqlite3_column_int64(s->lru, 0);
	rc = done(s, s->lru, rc);
	pthread_mutex_unlock(&s->lock);
	*ret_ids = v;
	*ret_n = n;
	return rc;
}

uint64_t co_store_cached_total(struct co_store *s)
{
	sqlite3_stmt *st;
	uint64_t t = 0;

	pthread_mutex_lock(&s->lock);
	if (sqlite3_prepare_v2(s->db, "SELECT total(cached) FROM node", -1, &st,
			       NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			t = (uint64_t)sqlite3_column_double(st, 0);
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&s->lock);
	return t;
}

/* every node the hoarder marked pinned: ids, malloc'ed */
int co_store_pinned(struct co_store *s, uint64_t **ret_ids, size_t *ret_n)
{
	uint64_t *v = NULL;
	size_t n = 0, cap = 0;
	sqlite3_stmt *st;
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = sqlite3_prepare_v2(s->db, "SELECT id FROM node WHERE pinned != 0",
				-1, &st, NULL);
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			uint64_t *nv = realloc(v, (cap ? cap * 2 : 64) * sizeof(*nv));

			if (!nv) {
				rc = SQLITE_NOMEM;
				break;
			}
			v = nv;
			cap = cap ? cap * 2 : 64;
		}
		v[n++] = (uint64_t)sqlite3_column_int64(st, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->lock);
	if (rc != SQLITE_DONE) {
		free(v);
		return rc == SQLITE_NOMEM ? -ENOMEM : -EIO;
	}
	*ret_ids = v;
	*ret_n = n;
	return 0;
}
