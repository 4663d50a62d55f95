// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The journal of offline changes (journal.h): a table of meta.db beside
 * the node rows, so an entry commits with the node rows it changed. The
 * store's connection runs WAL with synchronous=NORMAL: a commit is in the
 * WAL file (the kernel's page cache) when it returns, which kill -9 cannot
 * undo; co_journal_sync() adds the fdatasync that a power cut needs.
 *
 * Compaction works on the latest entry of a node only, or on all of a
 * node created offline, so no entry moves before one it depends on.
 */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/sha256.h"
#include "journal.h"
#include "offline.h"

struct co_journal {
	struct co_store *store;
	sqlite3 *db;
	sqlite3_stmt *ins, *last, *first, *merge_w, *merge_a, *del, *upd,
		     *read, *count, *node_ops, *refs, *del_node, *rebase;
};

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS journal("
	" seq INTEGER PRIMARY KEY AUTOINCREMENT,"	/* never reused */
	" op INTEGER NOT NULL, state INTEGER NOT NULL DEFAULT 0,"
	" node INTEGER NOT NULL, parent INTEGER, name BLOB, path BLOB,"
	" parent2 INTEGER, name2 BLOB, path2 BLOB, target BLOB,"
	" flags INTEGER, off INTEGER, len INTEGER, size INTEGER,"
	" valid INTEGER, mode INTEGER, uid INTEGER, gid INTEGER, rdev INTEGER,"
	" atime INTEGER, mtime INTEGER, xname BLOB, xvalue BLOB,"
	" cred_uid INTEGER, cred_gid INTEGER, made INTEGER,"
	" b_known INTEGER NOT NULL DEFAULT 0, b_ino INTEGER, b_size INTEGER,"
	" b_mtime INTEGER, b_ctime INTEGER, b_change INTEGER, b_mode INTEGER,"
	" b_hashed INTEGER NOT NULL DEFAULT 0, b_sha256 BLOB);"
	"CREATE INDEX IF NOT EXISTS journal_node ON journal(node, seq);"
	"CREATE INDEX IF NOT EXISTS journal_parent ON journal(parent);"
	"CREATE INDEX IF NOT EXISTS journal_parent2 ON journal(parent2);";

#define JCOLS "seq, op, state, node, parent, name, path, parent2, name2, " \
	"path2, target, flags, off, len, size, valid, mode, uid, gid, rdev, " \
	"atime, mtime, xname, xvalue, cred_uid, cred_gid, made, b_known, " \
	"b_ino, b_size, b_mtime, b_ctime, b_change, b_mode, b_hashed, b_sha256"

static int jprep(struct co_journal *j, const char *sql, sqlite3_stmt **st)
{
	return co_store_prepare(j->store, sql, st);
}

static int jdone(struct co_journal *j, sqlite3_stmt *st, int rc)
{
	return co_store_done(j->store, st, rc);
}

static void jclose(struct co_journal *j)
{
	sqlite3_stmt *all[] = { j->ins, j->last, j->first, j->merge_w,
				j->merge_a, j->del, j->upd, j->read, j->count,
				j->node_ops, j->refs, j->del_node, j->rebase };
	size_t i;

	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		sqlite3_finalize(all[i]);
	free(j);
}

int co_journal_open(struct co_mgr *m)
{
	struct co_journal *j = calloc(1, sizeof(*j));
	char *err = NULL;
	int r;

	if (!j)
		return -ENOMEM;
	j->store = m->store;
	j->db = co_store_db(m->store);
	co_store_lock(m->store);
	if (sqlite3_exec(j->db, schema, NULL, NULL, &err) != SQLITE_OK) {
		co_log("journal: %s/meta.db: %s", m->o.cache_dir, err);
		sqlite3_free(err);
		co_store_unlock(m->store);
		jclose(j);
		return -EIO;
	}
	r = jprep(j, "INSERT INTO journal(" JCOLS ") VALUES(NULL,"
		  "?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,"
		  "?,?,?,?)", &j->ins) ?:
	    /* the latest entry of a node: what a new one may merge into */
	    jprep(j, "SELECT seq, op, state, off, len FROM journal"
		  " WHERE node = ? ORDER BY seq DESC LIMIT 1", &j->last) ?:
	    /* the base of a node's first change still pending */
	    jprep(j, "SELECT b_known, b_ino, b_size, b_mtime, b_ctime, b_change,"
		  " b_mode, b_hashed, b_sha256 FROM journal WHERE node = ?"
		  " ORDER BY seq LIMIT 1", &j->first) ?:
	    jprep(j, "UPDATE journal SET off = ?, len = ?, made = ? WHERE seq = ?",
		  &j->merge_w) ?:
	    jprep(j, "UPDATE journal SET valid = valid | ?,"
		  " mode = CASE WHEN ? & 1 THEN ? ELSE mode END,"
		  " uid = CASE WHEN ? & 2 THEN ? ELSE uid END,"
		  " gid = CASE WHEN ? & 4 THEN ? ELSE gid END,"
		  " atime = CASE WHEN ? & 8 THEN ? ELSE atime END,"
		  " mtime = CASE WHEN ? & 16 THEN ? ELSE mtime END,"
		  " made = ? WHERE seq = ?", &j->merge_a) ?:
	    jprep(j, "DELETE FROM journal WHERE seq = ?", &j->del) ?:
	    jprep(j, "UPDATE journal SET state = ? WHERE seq = ?", &j->upd) ?:
	    jprep(j, "SELECT " JCOLS " FROM journal WHERE seq > ? ORDER BY seq"
		  " LIMIT ?", &j->read) ?:
	    jprep(j, "SELECT count(*) FROM journal WHERE state != 2", &j->count) ?:
	    jprep(j, "SELECT op, state, parent, name FROM journal WHERE node = ?"
		  " ORDER BY seq", &j->node_ops) ?:
	    /* another node's entry naming this one as its directory */
	    jprep(j, "SELECT 1 FROM journal WHERE node != ?1 AND"
		  " (parent = ?1 OR parent2 = ?1) LIMIT 1", &j->refs) ?:
	    jprep(j, "DELETE FROM journal WHERE node = ?", &j->del_node) ?:
	    jprep(j, "UPDATE journal SET b_known = ?, b_ino = ?, b_size = ?,"
		  " b_mtime = ?, b_ctime = ?, b_change = ?, b_mode = ?,"
		  " b_hashed = ?, b_sha256 = ? WHERE node = ? AND state = 0",
		  &j->rebase);
	co_store_unlock(m->store);
	if (r) {
		jclose(j);
		return r;
	}
	m->journal = j;
	return 0;
}

void co_journal_close(struct co_mgr *m)
{
	if (m->journal)
		jclose(m->journal);
	m->journal = NULL;
}

static int64_t now_real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_blob(st, i, s, (int)strlen(s), SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

static void bind_base(sqlite3_stmt *st, int i, const struct co_jbase *b)
{
	sqlite3_bind_int(st, i, b->known);
	sqlite3_bind_int64(st, i + 1, (int64_t)b->ino);
	sqlite3_bind_int64(st, i + 2, (int64_t)b->size);
	sqlite3_bind_int64(st, i + 3, b->mtime_ns);
	sqlite3_bind_int64(st, i + 4, b->ctime_ns);
	sqlite3_bind_int64(st, i + 5, (int64_t)b->change);
	sqlite3_bind_int64(st, i + 6, b->mode);
	sqlite3_bind_int(st, i + 7, b->hashed);
	if (b->hashed)
		sqlite3_bind_blob(st, i + 8, b->sha256, 32, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i + 8);
}

static void col_base(sqlite3_stmt *st, int i, struct co_jbase *b)
{
	const void *h;

	memset(b, 0, sizeof(*b));
	b->known = sqlite3_column_int(st, i);
	b->ino = (uint64_t)sqlite3_column_int64(st, i + 1);
	b->size = (uint64_t)sqlite3_column_int64(st, i + 2);
	b->mtime_ns = sqlite3_column_int64(st, i + 3);
	b->ctime_ns = sqlite3_column_int64(st, i + 4);
	b->change = (uint64_t)sqlite3_column_int64(st, i + 5);
	b->mode = (mode_t)sqlite3_column_int64(st, i + 6);
	h = sqlite3_column_blob(st, i + 8);
	b->hashed = sqlite3_column_int(st, i + 7) && h &&
		    sqlite3_column_bytes(st, i + 8) == 32;
	if (b->hashed)
		memcpy(b->sha256, h, 32);
}

static int insert(struct co_journal *j, struct co_jentry *e)
{
	sqlite3_stmt *st = j->ins;
	int rc;

	sqlite3_bind_int(st, 1, e->op);
	sqlite3_bind_int(st, 2, e->state);
	sqlite3_bind_int64(st, 3, (int64_t)e->node);
	sqlite3_bind_int64(st, 4, (int64_t)e->parent);
	bind_text(st, 5, e->name);
	bind_text(st, 6, e->path);
	sqlite3_bind_int64(st, 7, (int64_t)e->parent2);
	bind_text(st, 8, e->name2);
	bind_text(st, 9, e->path2);
	bind_text(st, 10, e->target);
	sqlite3_bind_int64(st, 11, e->flags);
	sqlite3_bind_int64(st, 12, (int64_t)e->off);
	sqlite3_bind_int64(st, 13, (int64_t)e->len);
	sqlite3_bind_int64(st, 14, (int64_t)e->size);
	sqlite3_bind_int64(st, 15, e->valid);
	sqlite3_bind_int64(st, 16, e->mode);
	sqlite3_bind_int64(st, 17, e->uid);
	sqlite3_bind_int64(st, 18, e->gid);
	sqlite3_bind_int64(st, 19, (int64_t)e->rdev);
	sqlite3_bind_int64(st, 20, e->atime_ns);
	sqlite3_bind_int64(st, 21, e->mtime_ns);
	bind_text(st, 22, e->xname);
	if (e->xvalue && e->xsize)
		sqlite3_bind_blob(st, 23, e->xvalue, (int)e->xsize, SQLITE_STATIC);
	else if (e->op == CO_J_SETXATTR)
		sqlite3_bind_zeroblob(st, 23, 0);	/* an empty value */
	else
		sqlite3_bind_null(st, 23);
	sqlite3_bind_int64(st, 24, e->cred_uid);
	sqlite3_bind_int64(st, 25, e->cred_gid);
	sqlite3_bind_int64(st, 26, e->when_ns);
	bind_base(st, 27, &e->base);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		e->seq = (uint64_t)sqlite3_last_insert_rowid(j->db);
	return jdone(j, st, rc);
}

static bool creates(enum co_jop op)
{
	return op == CO_J_CREATE || op == CO_J_MKDIR || op == CO_J_SYMLINK ||
	       op == CO_J_MKNOD;
}

/*
 * An UNLINK/RMDIR of a node whose whole life is in the journal: created
 * offline under the name now removed, never renamed or linked, nothing of
 * it sent to the origin yet, and no other entry made inside it (a
 * directory that had children moved out). Then the origin never needs to
 * see it: 1 when its entries were dropped, 0 when @e must be appended.
 */
static int drop_if_new(struct co_journal *j, const struct co_jentry *e)
{
	sqlite3_stmt *st = j->node_ops;
	bool born = false, ok = true;
	int rc;

	sqlite3_bind_int64(st, 1, (int64_t)e->node);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		enum co_jop op = sqlite3_column_int(st, 0);
		const void *nm = sqlite3_column_blob(st, 3);
		size_t nl = (size_t)sqlite3_column_bytes(st, 3);

		if (sqlite3_column_int(st, 1) != CO_JS_PENDING ||
		    op == CO_J_RENAME || op == CO_J_LINK ||
		    op == CO_J_UNLINK || op == CO_J_RMDIR) {
			ok = false;
		} else if (creates(op)) {
			born = (uint64_t)sqlite3_column_int64(st, 2) == e->parent &&
			       e->name && nm && nl == strlen(e->name) &&
			       !memcmp(nm, e->name, nl);
		}
	}
	rc = jdone(j, st, rc);
	if (rc)
		return rc;
	if (!born || !ok)
		return 0;
	st = j->refs;
	sqlite3_bind_int64(st, 1, (int64_t)e->node);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		jdone(j, st, rc);
		return 0;
	}
	rc = jdone(j, st, rc);
	if (rc)
		return rc;
	st = j->del_node;
	sqlite3_bind_int64(st, 1, (int64_t)e->node);
	rc = jdone(j, st, sqlite3_step(st));
	return rc ? rc : 1;
}

/*
 * @e folded into the node's latest entry when that is still pending and
 * of the same kind: a WRITE overlapping or touching the earlier range
 * (replay sends what the data file holds, so one range covers both), a
 * SETATTR (the later values win). 1 when merged, 0 when not.
 */
static int merge_latest(struct co_journal *j, struct co_jentry *e)
{
	sqlite3_stmt *st = j->last;
	uint64_t seq, off, len, end;
	enum co_jop op;
	int rc;

	if (e->op != CO_J_WRITE && e->op != CO_J_SETATTR)
		return 0;
	sqlite3_bind_int64(st, 1, (int64_t)e->node);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		return jdone(j, st, rc);
	seq = (uint64_t)sqlite3_column_int64(st, 0);
	op = sqlite3_column_int(st, 1);
	off = (uint64_t)sqlite3_column_int64(st, 3);
	len = (uint64_t)sqlite3_column_int64(st, 4);
	rc = sqlite3_column_int(st, 2);
	jdone(j, st, SQLITE_DONE);
	if (rc != CO_JS_PENDING || op != e->op)
		return 0;
	if (op == CO_J_WRITE) {
		end = off + len;
		if (e->off > end || e->off + e->len < off)
			return 0;
		if (e->off < off)
			off = e->off;
		if (e->off + e->len > end)
			end = e->off + e->len;
		st = j->merge_w;
		sqlite3_bind_int64(st, 1, (int64_t)off);
		sqlite3_bind_int64(st, 2, (int64_t)(end - off));
		sqlite3_bind_int64(st, 3, e->when_ns);
		sqlite3_bind_int64(st, 4, (int64_t)seq);
	} else {
		st = j->merge_a;
		sqlite3_bind_int64(st, 1, e->valid);
		sqlite3_bind_int64(st, 2, e->valid);
		sqlite3_bind_int64(st, 3, e->mode);
		sqlite3_bind_int64(st, 4, e->valid);
		sqlite3_bind_int64(st, 5, e->uid);
		sqlite3_bind_int64(st, 6, e->valid);
		sqlite3_bind_int64(st, 7, e->gid);
		sqlite3_bind_int64(st, 8, e->valid);
		sqlite3_bind_int64(st, 9, e->atime_ns);
		sqlite3_bind_int64(st, 10, e->valid);
		sqlite3_bind_int64(st, 11, e->mtime_ns);
		sqlite3_bind_int64(st, 12, e->when_ns);
		sqlite3_bind_int64(st, 13, (int64_t)seq);
	}
	rc = jdone(j, st, sqlite3_step(st));
	if (rc)
		return rc;
	e->seq = seq;
	return 1;
}

int co_journal_append(struct co_mgr *m, struct co_jentry *e)
{
	struct co_journal *j = m->journal;
	int r;

	if (!j)
		return -EBADF;
	if (!e->when_ns)
		e->when_ns = now_real_ns();
	e->state = CO_JS_PENDING;
	r = co_store_begin(m->store);
	if (r)
		return r;
	co_store_lock(m->store);
	r = merge_latest(j, e);
	if (!r && (e->op == CO_J_UNLINK || e->op == CO_J_RMDIR)) {
		r = drop_if_new(j, e);
		if (r == 1)
			e->seq = 0;	/* nothing left to replay */
	}
	if (!r)
		r = insert(j, e);
	co_store_unlock(m->store);
	if (r < 0)	/* nothing of a failed append stays, nor of its tx */
		return co_store_abort(m->store, r);
	return co_store_commit(m->store);
}

static int fsync_at(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	int r = 0;

	if (fd < 0)
		return -errno;
	if (fdatasync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

int co_journal_sync(struct co_mgr *m, uint64_t node)
{
	int cfd, dfd, r;

	/* the data first: an entry naming a range is only true with it */
	cfd = co_data_open(m, node);
	if (cfd < 0)
		return cfd;
	r = fdatasync(cfd) < 0 ? -errno : 0;
	close(cfd);
	if (!r && fsync(m->data_fd) < 0)	/* a new data file's name */
		r = -errno;
	if (r)
		return r;
	/* the commits are in the WAL file; synchronous=NORMAL did not sync
	 * it. Without a WAL (checkpointed and gone) they are in meta.db. */
	dfd = open(m->o.cache_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	r = fsync_at(dfd, "meta.db-wal");
	if (r == -ENOENT)
		r = fsync_at(dfd, "meta.db");
	if (!r && fsync(dfd) < 0)
		r = -errno;
	close(dfd);
	return r;
}

uint64_t co_journal_pending(struct co_mgr *m)
{
	struct co_journal *j = m->journal;
	uint64_t n = 0;
	int rc;

	if (!j)
		return 0;
	co_store_lock(m->store);
	rc = sqlite3_step(j->count);
	if (rc == SQLITE_ROW)
		n = (uint64_t)sqlite3_column_int64(j->count, 0);
	jdone(j, j->count, rc);
	co_store_unlock(m->store);
	return n;
}

static char *col_str(sqlite3_stmt *st, int i, bool *oom)
{
	const void *b = sqlite3_column_blob(st, i);
	char *s;

	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return NULL;
	s = strndup(b ? b : "", (size_t)sqlite3_column_bytes(st, i));
	if (!s)
		*oom = true;
	return s;
}

static void entry_free(struct co_jentry *e)
{
	free(e->name);
	free(e->path);
	free(e->name2);
	free(e->path2);
	free(e->target);
	free(e->xname);
	free(e->xvalue);
}

static int col_entry(sqlite3_stmt *st, struct co_jentry *e)
{
	bool oom = false;

	memset(e, 0, sizeof(*e));
	e->seq = (uint64_t)sqlite3_column_int64(st, 0);
	e->op = sqlite3_column_int(st, 1);
	e->state = sqlite3_column_int(st, 2);
	e->node = (uint64_t)sqlite3_column_int64(st, 3);
	e->parent = (uint64_t)sqlite3_column_int64(st, 4);
	e->name = col_str(st, 5, &oom);
	e->path = col_str(st, 6, &oom);
	e->parent2 = (uint64_t)sqlite3_column_int64(st, 7);
	e->name2 = col_str(st, 8, &oom);
	e->path2 = col_str(st, 9, &oom);
	e->target = col_str(st, 10, &oom);
	e->flags = (unsigned int)sqlite3_column_int64(st, 11);
	e->off = (uint64_t)sqlite3_column_int64(st, 12);
	e->len = (uint64_t)sqlite3_column_int64(st, 13);
	e->size = (uint64_t)sqlite3_column_int64(st, 14);
	e->valid = (unsigned int)sqlite3_column_int64(st, 15);
	e->mode = (mode_t)sqlite3_column_int64(st, 16);
	e->uid = (uid_t)sqlite3_column_int64(st, 17);
	e->gid = (gid_t)sqlite3_column_int64(st, 18);
	e->rdev = (dev_t)sqlite3_column_int64(st, 19);
	e->atime_ns = sqlite3_column_int64(st, 20);
	e->mtime_ns = sqlite3_column_int64(st, 21);
	e->xname = col_str(st, 22, &oom);
	if (sqlite3_column_type(st, 23) != SQLITE_NULL) {
		size_t n = (size_t)sqlite3_column_bytes(st, 23);
		const void *b = sqlite3_column_blob(st, 23);

		e->xvalue = malloc(n ? n : 1);
		if (!e->xvalue)
			oom = true;
		else if (n)
			memcpy(e->xvalue, b, n);
		e->xsize = n;
	}
	e->cred_uid = (uid_t)sqlite3_column_int64(st, 24);
	e->cred_gid = (gid_t)sqlite3_column_int64(st, 25);
	e->when_ns = sqlite3_column_int64(st, 26);
	col_base(st, 27, &e->base);
	if (oom) {
		entry_free(e);
		return -ENOMEM;
	}
	return 0;
}

int co_journal_read(struct co_mgr *m, uint64_t after, size_t max,
		    struct co_jentry **ret_v, size_t *ret_n)
{
	struct co_journal *j = m->journal;
	struct co_jentry *v;
	size_t n = 0;
	int rc = SQLITE_DONE, r = 0;

	*ret_v = NULL;
	*ret_n = 0;
	if (!j)
		return -EBADF;
	if (!max)
		return 0;
	v = calloc(max, sizeof(*v));
	if (!v)
		return -ENOMEM;
	co_store_lock(m->store);
	sqlite3_bind_int64(j->read, 1, (int64_t)after);
	sqlite3_bind_int64(j->read, 2, max > INT64_MAX ? INT64_MAX : (int64_t)max);
	while (n < max && (rc = sqlite3_step(j->read)) == SQLITE_ROW) {
		r = col_entry(j->read, &v[n]);
		if (r)
			break;
		n++;
	}
	if (!r)
		r = jdone(j, j->read, n == max ? SQLITE_DONE : rc);
	else
		jdone(j, j->read, SQLITE_DONE);
	co_store_unlock(m->store);
	if (r) {
		co_jentries_free(v, n);
		return r;
	}
	*ret_v = v;
	*ret_n = n;
	return 0;
}

void co_jentries_free(struct co_jentry *v, size_t n)
{
	size_t i;

	for (i = 0; v && i < n; i++)
		entry_free(&v[i]);
	free(v);
}

int co_journal_set_state(struct co_mgr *m, uint64_t seq, enum co_jstate st)
{
	struct co_journal *j = m->journal;
	int r;

	if (!j)
		return -EBADF;
	r = co_store_begin(m->store);
	if (r)
		return r;
	co_store_lock(m->store);
	if (st == CO_JS_DONE) {
		sqlite3_bind_int64(j->del, 1, (int64_t)seq);
		r = jdone(j, j->del, sqlite3_step(j->del));
	} else {
		sqlite3_bind_int(j->upd, 1, st);
		sqlite3_bind_int64(j->upd, 2, (int64_t)seq);
		r = jdone(j, j->upd, sqlite3_step(j->upd));
	}
	if (!r && !sqlite3_changes(j->db))
		r = -ENOENT;
	co_store_unlock(m->store);
	if (r == -ENOENT)	/* nothing changed: the caller's tx stands */
		return co_store_commit(m->store) ?: r;
	if (r)
		return co_store_abort(m->store, r);
	return co_store_commit(m->store);
}

int co_journal_rebase(struct co_mgr *m, uint64_t id, const struct co_jbase *b)
{
	struct co_journal *j = m->journal;
	int r;

	if (!j)
		return -EBADF;
	co_store_lock(m->store);
	bind_base(j->rebase, 1, b);
	sqlite3_bind_int64(j->rebase, 10, (int64_t)id);
	r = jdone(j, j->rebase, sqlite3_step(j->rebase));
	co_store_unlock(m->store);
	return r;
}

/* a complete regular file's data, as the cache holds it: its hash */
static void hash_data(struct co_mgr *m, uint64_t id, struct co_jbase *b)
{
	struct stat st;
	int fd = co_data_open(m, id);

	if (fd < 0)
		return;
	if (!fstat(fd, &st) && (uint64_t)st.st_size == b->size &&
	    !cc_sha256_fd(fd, b->sha256))
		b->hashed = true;
	close(fd);
}

int co_journal_base_of(struct co_mgr *m, uint64_t id, struct co_jbase *ret)
{
	struct co_journal *j = m->journal;
	struct co_node n;
	int rc, r;

	memset(ret, 0, sizeof(*ret));
	if (!j)
		return -EBADF;
	/* a node already changed offline: the row holds the local version,
	 * the base is what its first pending change was made against */
	co_store_lock(m->store);
	sqlite3_bind_int64(j->first, 1, (int64_t)id);
	rc = sqlite3_step(j->first);
	if (rc == SQLITE_ROW)
		col_base(j->first, 0, ret);
	r = jdone(j, j->first, rc);
	co_store_unlock(m->store);
	if (r || rc == SQLITE_ROW)
		return r;
	r = co_store_load(m->store, id, &n);
	if (r)
		return r;
	if (n.st.st_ino) {
		ret->known = true;
		ret->ino = (uint64_t)n.st.st_ino;
		ret->size = (uint64_t)n.st.st_size;
		ret->mtime_ns = (int64_t)n.st.st_mtim.tv_sec * 1000000000 +
				n.st.st_mtim.tv_nsec;
		ret->ctime_ns = (int64_t)n.st.st_ctim.tv_sec * 1000000000 +
				n.st.st_ctim.tv_nsec;
		ret->mode = n.st.st_mode;
		if (S_ISREG(n.st.st_mode) && n.complete)
			hash_data(m, id, ret);
	}
	free(n.name);
	free(n.link);
	free(n.ranges);
	return 0;
}

static bool has_entries(struct co_journal *j, uint64_t id)
{
	int rc;

	sqlite3_bind_int64(j->first, 1, (int64_t)id);
	rc = sqlite3_step(j->first);
	jdone(j, j->first, rc);
	return rc == SQLITE_ROW;
}

int co_journal_settle(struct co_mgr *m, uint64_t id, const struct stat *st)
{
	struct co_journal *j = m->journal;
	struct co_node *n;
	bool more;

	if (!j)
		return -EBADF;
	if (!st->st_ino)
		return -EINVAL;
	n = co_node_get(m, id);
	if (!n)
		return -ESTALE;
	co_store_lock(m->store);
	more = has_entries(j, id);
	co_store_unlock(m->store);
	if (more) {
		/* later changes are still local: only the identity is the
		 * origin's yet, the rest stays what the user sees */
		n->st.st_ino = st->st_ino;
	} else {
		n->st = *st;
		n->validated_ns = cc_now_ns();
		n->validated_epoch = co_mode_epoch(m);
	}
	return co_store_put(m->store, n);
}
