// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * tools/offline/journal.c over a real meta.db in a scratch cache
 * directory: entries round-trip field for field, compaction leaves
 * nothing of a file born and removed offline and merges only what replay
 * can send as one, an entry commits or rolls back with the caller's node
 * rows, and what co_journal_append() acknowledged survives kill -9.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "tools/offline/journal.h"
#include "tools/offline/offline.h"

void co_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

struct fx {
	char dir[64];
	struct co_mgr m;
};

static void mgr_open(struct fx *f)
{
	char data[128];

	memset(&f->m, 0, sizeof(f->m));
	f->m.o.cache_dir = f->dir;
	f->m.root_fd = -1;
	snprintf(data, sizeof(data), "%s/data", f->dir);
	mkdir(data, 0700);
	f->m.data_fd = open(data, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(f->m.data_fd >= 0);
	assert_int_equal(co_store_open(&f->m, &f->m.store), 0);
	assert_int_equal(co_journal_open(&f->m), 0);
	assert_int_equal(co_nodes_init(&f->m), 0);
}

static void mgr_close(struct fx *f)
{
	co_journal_close(&f->m);
	co_store_close(f->m.store);
	co_nodes_free(&f->m);
	close(f->m.data_fd);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/test-journal.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	mgr_open(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	mgr_close(f);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd))
		return -1;
	free(f);
	return 0;
}

/* a node row under the root, as node.c would have stored it */
static uint64_t node_new(struct fx *f, const char *name, ino_t ino,
			 const char *data)
{
	struct co_node n;

	memset(&n, 0, sizeof(n));
	n.parent = 1;
	n.name = (char *)name;
	n.st.st_ino = ino;
	n.st.st_mode = S_IFREG | 0644;
	n.st.st_size = data ? (off_t)strlen(data) : 0;
	n.st.st_mtim.tv_sec = 1700000000;
	n.st.st_mtim.tv_nsec = 5;
	n.st.st_ctim.tv_sec = 1700000001;
	n.complete = data != NULL;
	assert_int_equal(co_store_put(f->m.store, &n), 0);
	if (data) {
		int fd = co_data_open(&f->m, n.id);

		assert_true(fd >= 0);
		assert_int_equal(pwrite(fd, data, strlen(data), 0),
				 (ssize_t)strlen(data));
		close(fd);
	}
	return n.id;
}

/* an entry of @op on @node named @name in @parent; the rest zero */
static struct co_jentry ent(enum co_jop op, uint64_t node, uint64_t parent,
			    const char *name)
{
	struct co_jentry e;

	memset(&e, 0, sizeof(e));
	e.op = op;
	e.node = node;
	e.parent = parent;
	e.name = (char *)name;
	return e;
}

static struct co_jentry *read_all(struct fx *f, size_t *n)
{
	struct co_jentry *v;

	assert_int_equal(co_journal_read(&f->m, 0, 100000, &v, n), 0);
	return v;
}

static void append(struct fx *f, struct co_jentry *e)
{
	assert_int_equal(co_journal_append(&f->m, e), 0);
}

static void roundtrip(void **state)
{
	struct fx *f = *state;
	struct co_jentry e, x, *v;
	uint64_t id = node_new(f, "a", 77, "abc");
	static const uint8_t abc[32] = {
		0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
		0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
		0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad };
	size_t n;

	e = ent(CO_J_RENAME, id, 1, "a");
	e.path = "a";
	e.parent2 = 9;
	e.name2 = "b\nc";
	e.path2 = "d/b\nc";
	e.flags = 1;
	e.mode = 0640;
	e.uid = 1001;
	e.gid = 1002;
	e.cred_uid = 1003;
	e.cred_gid = 1004;
	e.when_ns = 123456789;
	assert_int_equal(co_journal_base_of(&f->m, id, &e.base), 0);
	/* the base is the origin's version and the data cached whole */
	assert_true(e.base.known);
	assert_int_equal(e.base.ino, 77);
	assert_int_equal(e.base.size, 3);
	assert_int_equal(e.base.mtime_ns, 1700000000000000005ll);
	assert_int_equal(e.base.ctime_ns, 1700000001000000000ll);
	assert_true(e.base.hashed);
	assert_memory_equal(e.base.sha256, abc, 32);
	append(f, &e);
	assert_true(e.seq > 0);

	memset(&x, 0, sizeof(x));
	x.op = CO_J_SETXATTR;
	x.node = id;
	x.xname = "user.k";
	x.xvalue = "\0v\0";
	x.xsize = 3;
	append(f, &x);
	assert_true(x.seq > e.seq);

	v = read_all(f, &n);
	assert_int_equal(n, 2);
	assert_int_equal(v[0].seq, e.seq);
	assert_int_equal(v[0].op, CO_J_RENAME);
	assert_int_equal(v[0].state, CO_JS_PENDING);
	assert_int_equal(v[0].node, id);
	assert_int_equal(v[0].parent2, 9);
	assert_string_equal(v[0].name, "a");
	assert_string_equal(v[0].name2, "b\nc");
	assert_string_equal(v[0].path2, "d/b\nc");
	assert_null(v[0].target);
	assert_int_equal(v[0].flags, 1);
	assert_int_equal(v[0].mode, 0640);
	assert_int_equal(v[0].uid, 1001);
	assert_int_equal(v[0].gid, 1002);
	assert_int_equal(v[0].cred_uid, 1003);
	assert_int_equal(v[0].cred_gid, 1004);
	assert_int_equal(v[0].when_ns, 123456789);
	assert_true(v[0].base.known && v[0].base.hashed);
	assert_memory_equal(v[0].base.sha256, abc, 32);
	assert_int_equal(v[0].base.ino, 77);
	assert_int_equal(v[1].op, CO_J_SETXATTR);
	assert_string_equal(v[1].xname, "user.k");
	assert_int_equal(v[1].xsize, 3);
	assert_memory_equal(v[1].xvalue, "\0v\0", 3);
	assert_true(v[1].when_ns > 0);	/* stamped when not given */
	co_jentries_free(v, n);

	/* a later base_of sees the first entry's base, not the row's local
	 * version, so every change of the node is compared with the origin
	 * version the user started from */
	{
		struct co_node *nd;
		struct co_jbase b;

		pthread_mutex_lock(&f->m.lock);
		nd = co_node_get(&f->m, id);
		nd->st.st_size = 99;
		nd->st.st_ino = 78;
		assert_int_equal(co_store_put(f->m.store, nd), 0);
		pthread_mutex_unlock(&f->m.lock);
		assert_int_equal(co_journal_base_of(&f->m, id, &b), 0);
		assert_int_equal(b.ino, 77);
		assert_int_equal(b.size, 3);
		assert_true(b.hashed);
	}

	/* read pages by seq */
	assert_int_equal(co_journal_read(&f->m, e.seq, 10, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(v[0].seq, x.seq);
	co_jentries_free(v, n);
	assert_int_equal(co_journal_pending(&f->m), 2);
}

static void states(void **state)
{
	struct fx *f = *state;
	struct co_jentry e, *v;
	uint64_t id = node_new(f, "s", 5, NULL), s1, s2;
	size_t n;

	e = ent(CO_J_TRUNCATE, id, 0, NULL);
	e.size = 10;
	append(f, &e);
	s1 = e.seq;
	e.size = 20;
	append(f, &e);
	s2 = e.seq;
	assert_true(s2 > s1);	/* truncates are not merged */
	assert_int_equal(co_journal_set_state(&f->m, s1, CO_JS_INFLIGHT), 0);
	assert_int_equal(co_journal_set_state(&f->m, s2, CO_JS_CONFLICT), 0);
	assert_int_equal(co_journal_pending(&f->m), 2);

	/* INFLIGHT survives a restart: replay must decide about it */
	mgr_close(f);
	mgr_open(f);
	v = read_all(f, &n);
	assert_int_equal(n, 2);
	assert_int_equal(v[0].state, CO_JS_INFLIGHT);
	assert_int_equal(v[1].state, CO_JS_CONFLICT);
	co_jentries_free(v, n);

	assert_int_equal(co_journal_set_state(&f->m, s1, CO_JS_DONE), 0);
	assert_int_equal(co_journal_set_state(&f->m, s1, CO_JS_DONE), -ENOENT);
	assert_int_equal(co_journal_pending(&f->m), 1);
	assert_int_equal(co_journal_set_state(&f->m, s2, CO_JS_DONE), 0);
	assert_int_equal(co_journal_pending(&f->m), 0);

	/* seq is never reused, even after the newest entry went */
	append(f, &e);
	assert_true(e.seq > s2);
}

/* a new file written and removed offline leaves nothing to replay */
static void compact_new(void **state)
{
	struct fx *f = *state;
	struct co_jentry e, *v;
	uint64_t id = node_new(f, "new", 0, NULL), dir, kid, keep;
	size_t n;

	e = ent(CO_J_CREATE, id, 1, "new");
	e.mode = 0644;
	assert_int_equal(co_journal_base_of(&f->m, id, &e.base), 0);
	assert_false(e.base.known);	/* provisional: no origin object */
	append(f, &e);

	e = ent(CO_J_WRITE, id, 0, NULL);
	e.off = 0;
	e.len = 4096;
	append(f, &e);
	keep = e.seq;
	e.off = 4096;		/* touching: one range */
	append(f, &e);
	assert_int_equal(e.seq, keep);
	e.off = 100;		/* overlapping: still one */
	e.len = 10000;
	append(f, &e);
	assert_int_equal(e.seq, keep);
	v = read_all(f, &n);
	assert_int_equal(n, 2);
	assert_int_equal(v[1].off, 0);
	assert_int_equal(v[1].len, 10100);
	co_jentries_free(v, n);
	e.off = 20000;		/* a gap: replay must not send the hole's bytes */
	e.len = 1;
	append(f, &e);
	assert_true(e.seq > keep);

	e = ent(CO_J_SETATTR, id, 0, NULL);
	e.valid = CO_JA_MODE;
	e.mode = 0600;
	append(f, &e);
	keep = e.seq;
	e.valid = CO_JA_MTIME;
	e.mtime_ns = 42;
	append(f, &e);
	assert_int_equal(e.seq, keep);
	v = read_all(f, &n);
	assert_int_equal(n, 4);
	assert_int_equal(v[3].valid, CO_JA_MODE | CO_JA_MTIME);
	assert_int_equal(v[3].mode, 0600);
	assert_int_equal(v[3].mtime_ns, 42);
	co_jentries_free(v, n);

	e = ent(CO_J_UNLINK, id, 1, "new");
	append(f, &e);
	assert_int_equal(e.seq, 0);
	assert_int_equal(co_journal_pending(&f->m), 0);

	/* a directory made offline, a file made in it and moved out: the
	 * file's entries name the directory, so its MKDIR must stay */
	dir = node_new(f, "d", 0, NULL);
	kid = node_new(f, "k", 0, NULL);
	e = ent(CO_J_MKDIR, dir, 1, "d");
	append(f, &e);
	e.op = CO_J_CREATE;
	e.node = kid;
	e.parent = dir;
	e.name = "k";
	append(f, &e);
	e.op = CO_J_RENAME;
	e.parent2 = 1;
	e.name2 = "k";
	append(f, &e);
	e.op = CO_J_RMDIR;
	e.node = dir;
	e.parent = 1;
	e.name = "d";
	e.parent2 = 0;
	e.name2 = NULL;
	append(f, &e);
	assert_true(e.seq > 0);
	assert_int_equal(co_journal_pending(&f->m), 4);

	/* and a renamed new file is replayed, not dropped: the rename may
	 * have replaced an origin file the unlink must not bring back */
	e.op = CO_J_UNLINK;
	e.node = kid;
	e.parent = 1;
	e.name = "k";
	append(f, &e);
	assert_true(e.seq > 0);
	assert_int_equal(co_journal_pending(&f->m), 5);
}

/* an UNLINK of an origin file is kept; so is one after INFLIGHT */
static void compact_old(void **state)
{
	struct fx *f = *state;
	struct co_jentry e;
	uint64_t old = node_new(f, "old", 12, "x"), id = node_new(f, "n", 0, NULL);

	e = ent(CO_J_WRITE, old, 0, NULL);
	e.len = 1;
	append(f, &e);
	e.op = CO_J_UNLINK;
	e.parent = 1;
	e.name = "old";
	append(f, &e);
	assert_true(e.seq > 0);
	assert_int_equal(co_journal_pending(&f->m), 2);

	e = ent(CO_J_CREATE, id, 1, "n");
	append(f, &e);
	/* replay sent the create: the origin has it now */
	assert_int_equal(co_journal_set_state(&f->m, e.seq, CO_JS_INFLIGHT), 0);
	e.op = CO_J_UNLINK;
	append(f, &e);
	assert_true(e.seq > 0);
	assert_int_equal(co_journal_pending(&f->m), 4);
}

/* an entry and the node rows of its operation commit together */
static void transaction(void **state)
{
	struct fx *f = *state;
	struct co_jentry e, *v;
	struct co_node n;
	uint64_t id;
	size_t cnt;

	memset(&e, 0, sizeof(e));
	e.op = CO_J_CREATE;
	e.parent = 1;
	e.name = "t";

	/* the caller gives up after its append: neither stays */
	assert_int_equal(co_store_begin(f->m.store), 0);
	id = node_new(f, "t", 0, NULL);
	e.node = id;
	append(f, &e);
	assert_int_equal(co_store_abort(f->m.store, -ENOSPC), -ENOSPC);
	assert_int_equal(co_store_load(f->m.store, id, &n), -ENOENT);
	v = read_all(f, &cnt);
	assert_int_equal(cnt, 0);
	co_jentries_free(v, cnt);

	/* committed: both */
	assert_int_equal(co_store_begin(f->m.store), 0);
	id = node_new(f, "t", 0, NULL);
	e.node = id;
	append(f, &e);
	assert_int_equal(co_store_commit(f->m.store), 0);
	assert_int_equal(co_store_load(f->m.store, id, &n), 0);
	free(n.name);
	free(n.ranges);
	assert_int_equal(co_journal_pending(&f->m), 1);
	assert_int_equal(co_journal_sync(&f->m, id), 0);
}

/* settling a provisional node: its identity first, the rest at the end */
static void settle(void **state)
{
	struct fx *f = *state;
	struct co_jentry e;
	struct co_node *n;
	struct stat st;
	uint64_t id = node_new(f, "p", 0, NULL), s1, s2;

	e = ent(CO_J_CREATE, id, 1, "p");
	append(f, &e);
	s1 = e.seq;
	e.op = CO_J_TRUNCATE;
	e.size = 7;
	append(f, &e);
	s2 = e.seq;

	memset(&st, 0, sizeof(st));
	st.st_ino = 31337;
	st.st_mode = S_IFREG | 0644;
	st.st_size = 0;
	pthread_mutex_lock(&f->m.lock);
	n = co_node_get(&f->m, id);
	n->st.st_size = 7;	/* the local version */
	assert_int_equal(co_journal_set_state(&f->m, s1, CO_JS_DONE), 0);
	assert_int_equal(co_journal_settle(&f->m, id, &st), 0);
	assert_int_equal(n->st.st_ino, 31337);
	assert_int_equal(n->st.st_size, 7);
	st.st_size = 7;
	st.st_mtim.tv_sec = 5;
	assert_int_equal(co_journal_set_state(&f->m, s2, CO_JS_DONE), 0);
	assert_int_equal(co_journal_settle(&f->m, id, &st), 0);
	assert_int_equal(n->st.st_mtim.tv_sec, 5);
	st.st_ino = 0;
	assert_int_equal(co_journal_settle(&f->m, id, &st), -EINVAL);
	pthread_mutex_unlock(&f->m.lock);

	/* in the store, not only in memory */
	mgr_close(f);
	mgr_open(f);
	pthread_mutex_lock(&f->m.lock);
	n = co_node_get(&f->m, id);
	assert_int_equal(n->st.st_ino, 31337);
	pthread_mutex_unlock(&f->m.lock);
}

/*
 * A child appends as fast as it can and reports each acknowledged seq;
 * SIGKILL lands somewhere in that stream. Every acknowledged entry is in
 * the journal after reopening, and nothing is there twice.
 */
static void kill9(void **state)
{
	struct fx *f = *state;
	int round;

	for (round = 0; round < 20; round++) {
		static uint64_t acked[16384];
		uint64_t last = 0;
		size_t nacked = 0, n, i, k;
		struct co_jentry *v;
		int p[2], st;
		pid_t pid;

		mgr_close(f);
		assert_int_equal(pipe(p), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			struct co_jentry e;
			uint64_t c;

			close(p[0]);
			mgr_open(f);
			for (c = 0;; c++) {	/* until killed */
				memset(&e, 0, sizeof(e));
				e.op = CO_J_TRUNCATE;
				e.node = 1000 + c;
				e.size = c;
				if (co_journal_append(&f->m, &e))
					_exit(3);
				if (write(p[1], &e.seq, sizeof(e.seq)) != sizeof(e.seq))
					_exit(4);
			}
		}
		close(p[1]);
		/* kill at a different point each round */
		while (nacked < sizeof(acked) / sizeof(acked[0]) &&
		       read(p[0], &acked[nacked], sizeof(acked[0])) == sizeof(acked[0]))
			if (++nacked == (size_t)(5 + round * 37))
				kill(pid, SIGKILL);
		close(p[0]);
		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
		mgr_open(f);
		v = read_all(f, &n);
		for (i = 1; i < n; i++)
			assert_true(v[i].seq > v[i - 1].seq);
		for (k = 0, i = 0; k < nacked; k++) {
			while (i < n && v[i].seq < acked[k])
				i++;
			assert_true(i < n);
			assert_int_equal(v[i].seq, acked[k]);
			assert_int_equal(v[i].op, CO_J_TRUNCATE);
			last = v[i].seq;
		}
		assert_true(nacked > 0 && last == acked[nacked - 1]);
		co_jentries_free(v, n);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(states, setup, teardown),
		cmocka_unit_test_setup_teardown(compact_new, setup, teardown),
		cmocka_unit_test_setup_teardown(compact_old, setup, teardown),
		cmocka_unit_test_setup_teardown(transaction, setup, teardown),
		cmocka_unit_test_setup_teardown(settle, setup, teardown),
		cmocka_unit_test_setup_teardown(kill9, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
