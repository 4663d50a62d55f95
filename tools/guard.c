// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A thread that watches a walk from outside: signals, and a network
 * filesystem that stopped answering.
 *
 * Ctrl-C must stop us promptly even while a thread sits in a request to a
 * dead server. NFS and FUSE wait for answers in killable sleeps: a fatal
 * signal ends them, a caught one does not. So no signal is ever caught:
 * every thread blocks SIGINT/SIGTERM/SIGHUP, this one takes them with
 * sigtimedwait(), wipes the progress line, and dies of the signal with its
 * default action (which also keeps the "killed by SIGINT" status shells
 * look at).
 *
 * The library times out requests in its io_uring pipeline itself, but a
 * directory read blocks the walking thread where nothing inside can see
 * the clock. Here the walk's progress callbacks are the heartbeat; when
 * they stop for longer than the timeout on a walk that touches a network
 * mount, we name the mount and exit.
 *
 * Exiting is not enough on FUSE: the exit closes our descriptors, and each
 * close of a FUSE file waits for a FLUSH answer, in a sleep that only a
 * fatal signal breaks. So on network mounts the walk runs in a child
 * (guard_supervise()): the parent holds no files of the mount, watches,
 * and when the server is gone it SIGKILLs the child (whose closes then
 * give up at once) and exits itself, with the child's status otherwise.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <libmount/libmount.h>

#include "cachectl-tool.h"
#include "common/clock.h"

/* The mount table, read once: --from may bring a million paths. */
static void load_mounts(struct guard *g)
{
	struct libmnt_table *tb;
	struct libmnt_iter *it;
	struct libmnt_fs *fs;

	g->loaded = true;
	if (!getcwd(g->cwd, sizeof(g->cwd)))
		g->cwd[0] = '\0';
	tb = mnt_new_table_from_file("/proc/self/mountinfo");
	it = mnt_new_iter(MNT_ITER_FORWARD);
	while (tb && it && mnt_table_next_fs(tb, it, &fs) == 0) {
		const char *target = mnt_fs_get_target(fs);
		const char *type = mnt_fs_get_fstype(fs);
		struct guard_mount *m;

		if (!target || !type)
			continue;
		m = realloc(g->table, (g->ntable + 1) * sizeof(*m));
		if (!m)
			break;
		g->table = m;
		m[g->ntable].target = strdup(target);
		m[g->ntable].fstype = strdup(type);
		if (!m[g->ntable].target || !m[g->ntable].fstype) {
			free(m[g->ntable].target);
			free(m[g->ntable].fstype);
			break;
		}
		g->ntable++;
	}
	mnt_free_iter(it);
	mnt_unref_table(tb);
}

/*
 * The mount a path is on, by its text alone: stat(2) on a dead mount is
 * exactly what would hang. Symlinks on the way are not seen; the
 * library's own timeout still covers what they lead to.
 */
static const struct guard_mount *mount_of(struct guard *g, const char *path)
{
	const struct guard_mount *best = NULL;
	size_t i, blen = 0, plen = strlen(path), clen;
	char *abs;

	if (!g->loaded)
		load_mounts(g);
	if (path[0] != '/' && !g->cwd[0])
		return NULL;
	clen = path[0] == '/' ? 0 : strlen(g->cwd) + 1;
	abs = malloc(clen + plen + 1);
	if (!abs)
		return NULL;
	if (clen) {
		memcpy(abs, g->cwd, clen - 1);
		abs[clen - 1] = '/';
	}
	memcpy(abs + clen, path, plen + 1);
	for (i = 0; i < g->ntable; i++) {
		const char *t = g->table[i].target;
		size_t len = strlen(t);

		if (len == 1)
			len = 0;	/* "/" */
		if (strncmp(abs, t, len) || (abs[len] && abs[len] != '/'))
			continue;
		/* later lines mount over earlier ones: >= keeps the last */
		if (len + 1 >= blen) {
			best = &g->table[i];
			blen = len + 1;
		}
	}
	free(abs);
	return best;
}

int guard_add_root(struct guard *g, const char *path)
{
	const struct guard_mount *m = mount_of(g, path);
	size_t i;

	if (!m || !cachectl_fstype_is_remote(m->fstype))
		return 0;
	for (i = 0; i < g->nmounts; i++)
		if (!strcmp(g->mounts[i], m->target))
			return 0;
	if (g->nmounts == GUARD_MAX_MOUNTS)
		return 0;
	g->mounts[g->nmounts] = m->target;
	g->fstypes[g->nmounts++] = m->fstype;
	return 1;
}

void guard_tick(struct guard *g)
{
	__atomic_store_n(&g->sh->last_tick, cc_now_ms(), __ATOMIC_RELAXED);
}

void guard_progress_shown(struct guard *g, int len, bool plain)
{
	__atomic_store_n(&g->sh->progress_plain, plain, __ATOMIC_RELAXED);
	__atomic_store_n(&g->sh->progress_len, len, __ATOMIC_RELAXED);
}

static void wipe_progress(struct guard *g)
{
	int len = __atomic_load_n(&g->sh->progress_len, __ATOMIC_RELAXED);
	char buf[200];

	if (len)
		(void)!write(STDERR_FILENO, buf,
			     progress_wipe_text(buf, sizeof(buf), len,
						g->sh->progress_plain));
}

/* Dies of @sig (default action), or exits 128 + @sig. */
static void die_of(struct guard *g, int sig)
{
	signal(sig, SIG_DFL);
	pthread_sigmask(SIG_UNBLOCK, &g->sigs, NULL);
	kill(getpid(), sig);
	_exit(128 + sig);
}

/* "/mnt/a (nfs4)" or "/mnt/a (nfs4), /mnt/b (fuse.sshfs)" */
void guard_print_mounts(const struct guard *g, FILE *f)
{
	size_t i;

	for (i = 0; i < g->nmounts; i++) {
		struct cc_escbuf esc = { 0 };

		fprintf(f, "%s%s (%s)", i ? ", " : "",
			name_esc(&esc, g->mounts[i]), g->fstypes[i]);
		cc_escbuf_free(&esc);
	}
}

/* sent only by guard_free(), to end the thread's wait at once */
static int guard_wake_signal(void)
{
	return SIGRTMIN + 1;
}

static void *guard_main(void *arg)
{
	struct guard *g = arg;
	struct timespec ts = { .tv_nsec = 100 * 1000000 };
	uint64_t done_at = 0;
	int sig;

	for (;;) {
		sig = sigtimedwait(&g->sigs, NULL, &ts);
		/* guard_free: @g goes when its caller returns */
		if (__atomic_load_n(&g->stop, __ATOMIC_ACQUIRE))
			return NULL;
		if (sig == guard_wake_signal())
			continue;
		if (sig > 0) {
			if (g->child > 0) {
				/* the child dies of it; give it a moment to */
				kill(g->child, sig);
				nanosleep(&(struct timespec){ .tv_nsec = 300000000 },
					  NULL);
				kill(g->child, SIGKILL);
			}
			wipe_progress(g);
			die_of(g, sig);
		}
		if (g->child > 0 && __atomic_load_n(&g->sh->done, __ATOMIC_ACQUIRE)) {
			/* finished, but its exit may hang closing FUSE files */
			if (!done_at)
				done_at = cc_now_ms();
			if (cc_now_ms() - done_at > 500) {
				kill(g->child, SIGKILL);
				_exit(g->sh->code);
			}
			continue;
		}
		if (!g->timeout_ms || !g->nmounts)
			continue;
		if (cc_now_ms() - __atomic_load_n(&g->sh->last_tick,
						__ATOMIC_RELAXED) <
		    g->timeout_ms + 1000)
			continue;
		/* the walk is stuck in a call to the server */
		if (g->child > 0)
			kill(g->child, SIGKILL);
		wipe_progress(g);
		fprintf(stderr, "%s: ", program_name);
		guard_print_mounts(g, stderr);
		fprintf(stderr, ": no answer for %u s: is the server gone? "
			"Stopping (--timeout changes how long to wait)\n",
			(g->timeout_ms + 999) / 1000);
		_exit(EXIT_FAILURE);
	}
	return NULL;
}

int guard_start(struct guard *g)
{
	int r;

	g->sh = mmap(NULL, sizeof(*g->sh), PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (g->sh == MAP_FAILED)
		return -errno;
	sigemptyset(&g->sigs);
	sigaddset(&g->sigs, SIGINT);
	sigaddset(&g->sigs, SIGTERM);
	sigaddset(&g->sigs, SIGHUP);
	sigaddset(&g->sigs, guard_wake_signal());
	/* before any thread exists, so every later one inherits it */
	r = pthread_sigmask(SIG_BLOCK, &g->sigs, NULL);
	if (r)
		return -r;
	guard_tick(g);
	r = pthread_create(&g->thread, NULL, guard_main, g);
	if (r) {
		pthread_sigmask(SIG_UNBLOCK, &g->sigs, NULL);
		return -r;
	}
	g->running = true;
	return 0;
}

/*
 * On a network mount, fork: the child returns 0 and does the walk; the
 * parent never returns (it exits with the child's status). Elsewhere, or
 * if fork fails, returns 0 in the only process.
 */
int guard_supervise(struct guard *g)
{
	int status;
	pid_t pid;

	if (!g->nmounts)
		return 0;
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return 0;
	if (pid == 0) {
		/* the guard thread stayed in the parent: default actions */
		g->running = false;
		pthread_sigmask(SIG_UNBLOCK, &g->sigs, NULL);
		return 0;
	}
	__atomic_store_n(&g->child, pid, __ATOMIC_RELEASE);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			_exit(EXIT_FAILURE);
	if (WIFSIGNALED(status)) {
		wipe_progress(g);
		die_of(g, WTERMSIG(status));
	}
	_exit(WEXITSTATUS(status));
}

/* The walk is over: its exit status, for a parent that must not wait. */
void guard_done(struct guard *g, int code)
{
	g->sh->code = code;
	__atomic_store_n(&g->sh->done, 1, __ATOMIC_RELEASE);
}

void guard_free(struct guard *g)
{
	size_t i;

	/*
	 * It reads @g, which goes when our caller returns. Woken, not
	 * cancelled: it only ever waits in sigtimedwait(), and a cancelled
	 * thread's exit trips AddressSanitizer's sigaltstack interceptor.
	 */
	if (g->running) {
		__atomic_store_n(&g->stop, 1, __ATOMIC_RELEASE);
		pthread_kill(g->thread, guard_wake_signal());
		pthread_join(g->thread, NULL);
		g->running = false;
	}
	g->nmounts = 0;
	for (i = 0; i < g->ntable; i++) {
		free(g->table[i].target);
		free(g->table[i].fstype);
	}
	free(g->table);
	g->table = NULL;
	g->ntable = 0;
}
