/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The journal of changes made while disconnected: the contract between
 * the side that records them (local.c, journal.c) and the side that
 * replays them on reconnect (replay.c, conflict.c).
 *
 * Entries live in the metadata store (a table of meta.db), so an entry
 * and the node rows it changed commit in one transaction: after kill -9
 * the store either has both or neither. Data written offline is in the
 * node's sparse data file; a WRITE entry names only the range, and
 * replay sends the bytes the data file holds then (the latest content of
 * that range, which is what a connected user would have left).
 *
 * Ordering: entries are applied in seq order per dependency (an entry
 * depends on every earlier entry touching the same node, its parent, or
 * for RENAME/LINK the other name's parent); independent entries may be in
 * flight together. Compaction keeps that order meaningful: an entry is
 * only ever removed or merged into a later one of the same node.
 */
#ifndef CACHECTL_OFFLINE_JOURNAL_H
#define CACHECTL_OFFLINE_JOURNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

struct co_mgr;

enum co_jop {
	CO_J_CREATE = 1,	/* regular file; mode, uid, gid */
	CO_J_MKDIR,
	CO_J_SYMLINK,		/* target in ->target */
	CO_J_MKNOD,		/* fifo/socket/device: mode, rdev */
	CO_J_WRITE,		/* [off, off + len) of the node's data */
	CO_J_TRUNCATE,		/* to ->size */
	CO_J_SETATTR,		/* ->valid: CO_JA_* */
	CO_J_SETXATTR,		/* ->xname, ->xvalue/->xsize */
	CO_J_REMOVEXATTR,	/* ->xname */
	CO_J_UNLINK,		/* ->parent/->name */
	CO_J_RMDIR,		/* ->parent/->name */
	CO_J_RENAME,		/* ->parent/->name to ->parent2/->name2; ->flags */
	CO_J_LINK,		/* node gets the extra name ->parent2/->name2 */
};

/* which attributes a SETATTR carries */
#define CO_JA_MODE	(1u << 0)
#define CO_JA_UID	(1u << 1)
#define CO_JA_GID	(1u << 2)
#define CO_JA_ATIME	(1u << 3)
#define CO_JA_MTIME	(1u << 4)

/*
 * The version of the origin object an entry was made against: what replay
 * compares with the origin's current state to tell a conflict. For a new
 * (provisional) object there is no base: @known is false.
 */
struct co_jbase {
	bool known;
	uint64_t ino;
	uint64_t size;
	int64_t mtime_ns, ctime_ns;
	uint64_t change;	/* the origin's change attribute; 0 if none */
	mode_t mode;		/* type and permission bits */
	bool hashed;		/* file was cached whole: @sha256 is its data */
	uint8_t sha256[32];
};

enum co_jstate {
	CO_JS_PENDING = 0,
	CO_JS_INFLIGHT,		/* replay sent it; its result is not recorded */
	CO_JS_DONE,		/* applied; removed when its batch commits */
	CO_JS_CONFLICT,		/* a conflict record holds it (conflict.c) */
};

struct co_jentry {
	uint64_t seq;		/* order of the change; never reused */
	enum co_jop op;
	enum co_jstate state;
	uint64_t node;		/* store row id (provisional for new objects) */
	uint64_t parent;	/* directory row id for name operations */
	char *name;		/* name in @parent */
	char *path;		/* origin-relative path when made: for messages
				 * and for conflict records after renames */
	uint64_t parent2;	/* RENAME/LINK destination */
	char *name2;
	char *path2;		/* origin-relative path of parent2/name2
				 * when made: replay applies an entry at the
				 * paths the tree had then */
	char *target;		/* SYMLINK */
	unsigned int flags;	/* RENAME_NOREPLACE/RENAME_EXCHANGE */
	uint64_t off, len;	/* WRITE */
	uint64_t size;		/* TRUNCATE */
	unsigned int valid;	/* SETATTR: CO_JA_* */
	mode_t mode;		/* CREATE/MKDIR/MKNOD/SETATTR */
	uid_t uid;		/* SETATTR, and the owner of new objects */
	gid_t gid;
	dev_t rdev;
	int64_t atime_ns, mtime_ns;
	char *xname;
	void *xvalue;
	size_t xsize;
	uid_t cred_uid;		/* who made the change: replay runs as them */
	gid_t cred_gid;
	int64_t when_ns;	/* CLOCK_REALTIME when made */
	struct co_jbase base;
};

/* opens (creating) the journal table in m->store; 0 or negative errno */
int co_journal_open(struct co_mgr *m);
void co_journal_close(struct co_mgr *m);

/*
 * Appends @e (assigning e->seq) in the store's current transaction when
 * one is open, else in its own; compacts against earlier entries of the
 * same node (a WRITE extending an earlier WRITE merges into it; an UNLINK
 * of a node created offline drops every entry of that node and itself).
 * Durable against kill -9 on return; against power loss after
 * co_journal_sync(). On return e->seq is the entry that now holds the
 * change (an earlier one when merged), or 0 when compaction left nothing.
 * A SETATTR following a pending SETATTR of the node merges into it too.
 * On failure nothing of the caller's open transaction is committed.
 */
int co_journal_append(struct co_mgr *m, struct co_jentry *e);

/* fsync(2) by an application: journal and the node's data on stable storage */
int co_journal_sync(struct co_mgr *m, uint64_t node);

/* number of entries not DONE (PENDING, INFLIGHT, CONFLICT are counted) */
uint64_t co_journal_pending(struct co_mgr *m);

/*
 * The entries in seq order, from the first with seq > @after, at most
 * @max of them; caller frees with co_jentries_free(). INFLIGHT entries are
 * returned too: after a crash, replay decides whether each was applied.
 */
int co_journal_read(struct co_mgr *m, uint64_t after, size_t max,
		    struct co_jentry **ret_v, size_t *ret_n);
void co_jentries_free(struct co_jentry *v, size_t n);

/* state changes; DONE removes the entry. Within the caller's transaction
 * when one is open, so replay can commit an entry's result and the node
 * rows it changed (a provisional id becoming the origin's inode) at once. */
int co_journal_set_state(struct co_mgr *m, uint64_t seq, enum co_jstate st);

/*
 * The base version for a new entry of node @id (for recorders, before
 * they change the node's row or data): the base of the node's first entry
 * still in the journal, else the origin's attributes the row holds, with
 * the data's hash when the file is cached whole. Unknown (provisional).
 */
int co_journal_base_of(struct co_mgr *m, uint64_t id, struct co_jbase *ret);

/*
 * Replay applied one entry of @id and the origin's object is now @b: the
 * node's PENDING entries are made against that, so the next of them is
 * no conflict with the change just sent. In the caller's transaction.
 */
int co_journal_rebase(struct co_mgr *m, uint64_t id, const struct co_jbase *b);

/*
 * A node made offline is provisional while its row's ino is 0: there is
 * no origin object behind it yet, so nothing may revalidate it against
 * the origin. Replay settles it (replay.c): once its CREATE/MKDIR/
 * SYMLINK/MKNOD took effect the row gets the origin's attributes, whose
 * ino is never 0, in the transaction that marks the entry DONE. While
 * other entries of the node are pending only the ino is taken (the rest
 * is the local version the user sees). Under m->lock (then the store's
 * transaction: the lock order).
 */
int co_journal_settle(struct co_mgr *m, uint64_t id, const struct stat *st);

#endif
