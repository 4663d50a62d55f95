// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A pin survives a crash between invalidation and commit.  The rig runs
 * this in two boots on the same cache image (CACHECTL_CRASH_PHASE):
 *
 * 1. pin a cached 9p file, commit it, then invalidate it with an O_DIRECT
 *    write (netfs invalidates the cookie; cachefiles replaces the backing
 *    file with a tmpfile that is linked in only at commit) and keep the
 *    file open, so there is no commit; the rig then stops the guest
 *    without unmounting anything.
 * 2. after the reboot the backing file on disk still carries the pin; the
 *    next lookup finds it stale, and the object that replaces it is pinned
 *    (QUERY and the xattr of the new backing file).
 *
 * Phase 1 also pins two more files, one as root (an admin pin) and one as
 * nobody, and commits them.  Phase 2, before it touches any of the three,
 * asks the daemon for "pins": the scan at bind must have found each with
 * its uid and size; and a pin by nobody that fits the per-uid limit only
 * without its old pin fails with EDQUOT.
 */
#include "cachectl_guest.h"

#define FSIZE (1 << 20)
#define NAME "cachectl-crash.bin"
#define NOBODY 65534

static char other[3][PATH_MAX];	/* root's, nobody's, nobody's new one */

/* The value of KEY= in the summary of the pin listing, -1 if absent. */
static long long pins_field(const char *list, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "%s=", key);
	p = strstr(list, pat);
	return p ? strtoll(p + strlen(pat), NULL, 10) : -1;
}

/* The listing's entry for a 9p file ("pin uid=... NAME"), or NULL. */
static char *pins_entry(const char *list, const char *ninep, char *buf,
			size_t len)
{
	char path[PATH_MAX * 4], dir[PATH_MAX * 4], leaf[64];
	char *s, *save, copy[16384], want[PATH_MAX * 5];
	const char *fan;

	if (backing_file(ninep, path, sizeof(path), dir, sizeof(dir), leaf,
			 sizeof(leaf)))
		return NULL;
	fan = strrchr(dir, '/');
	snprintf(want, sizeof(want), "%s/%s", fan ? fan + 1 : dir, leaf);
	snprintf(copy, sizeof(copy), "%s", list);
	for (s = strtok_r(copy, ";", &save); s; s = strtok_r(NULL, ";", &save)) {
		if (!strncmp(s, "pin ", 4) && strstr(s, want)) {
			snprintf(buf, len, "%s", s);
			return buf;
		}
	}
	return NULL;
}

/* PIN or UNPIN @fd as uid nobody; returns 0 or the errno. */
static int pin_as_nobody(int fd, unsigned int op)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		struct cachectl_args a = { 0 };

		if (setgid(NOBODY) || setuid(NOBODY))
			_exit(100);
		_exit(fcachectl(fd, op, &a, sizeof(a)) ? errno : 0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static void other_names(void)
{
	int i;

	for (i = 0; i < 3; i++)
		snprintf(other[i], sizeof(other[i]), "%s/cachectl-crash.other.%d",
			 NINEP_DIR, i);
}

/* Phase 1: root pins other[0], nobody other[1]; both committed. */
static void pin_others(void)
{
	struct cachectl_args a;
	int i, fd[2];

	for (i = 0; i < 2; i++) {
		unlink(other[i]);
		if (make_file(other[i], FSIZE) ||
		    (i == 1 && chown(other[i], NOBODY, NOBODY)))
			t_diag("cannot create %s: %s", other[i], strerror(errno));
	}
	drop_caches();
	for (i = 0; i < 2; i++) {
		fd[i] = open(other[i], O_RDONLY);
		read_range(fd[i], 0, FSIZE);
	}
	memset(&a, 0, sizeof(a));
	t_ok(fcachectl(fd[0], CACHECTL_OP_PIN, &a, sizeof(a)) == 0,
	     "root pins %s", other[0]);
	t_ok(pin_as_nobody(fd[1], CACHECTL_OP_PIN) == 0,
	     "nobody pins %s", other[1]);
	close(fd[0]);
	close(fd[1]);
	drop_caches();
}

/*
 * Phase 2, before any pinned file is looked up: the scan at bind found
 * every pin, with its uid and size, and nobody's old pin counts.
 */
static void check_scanned(const char *file)
{
	char list[16384], e[3][512];
	char want_nobody[64], want_root[64];
	char cmd[64];
	int r, fd;

	r = cfctl_out(list, sizeof(list), "%s", "pins");
	t_ok(r == 0 && pins_field(list, "pins") >= 3 &&
	     pins_field(list, "pinned") >= 2LL * FSIZE + FSIZE,
	     "after the reboot, untouched: \"pins\" counts the three pins: %.200s",
	     list);
	snprintf(want_root, sizeof(want_root), "uid=0 bytes=%d admin=1", FSIZE);
	snprintf(want_nobody, sizeof(want_nobody), "uid=%d bytes=%d admin=0",
		 NOBODY, FSIZE);
	t_ok(pins_entry(list, file, e[0], sizeof(e[0])) &&
	     strstr(e[0], want_root),
	     "the stale crashed file's pin is listed as root's: %s",
	     pins_entry(list, file, e[0], sizeof(e[0])) ? e[0] : "(none)");
	t_ok(pins_entry(list, other[0], e[1], sizeof(e[1])) &&
	     strstr(e[1], want_root),
	     "root's pin is listed with uid and size: %s",
	     pins_entry(list, other[0], e[1], sizeof(e[1])) ? e[1] : "(none)");
	t_ok(pins_entry(list, other[1], e[2], sizeof(e[2])) &&
	     strstr(e[2], want_nobody),
	     "nobody's pin is listed with uid and size: %s",
	     pins_entry(list, other[1], e[2], sizeof(e[2])) ? e[2] : "(none)");

	/* A new pin by nobody fits the limit only without the old one. */
	unlink(other[2]);
	if (make_file(other[2], FSIZE) || chown(other[2], NOBODY, NOBODY))
		t_diag("cannot create %s: %s", other[2], strerror(errno));
	snprintf(cmd, sizeof(cmd), "pinuidlimit %d", FSIZE + FSIZE / 2);
	t_ok(cfctl("%s", cmd) == 0, "%s", cmd);
	fd = open(other[2], O_RDONLY);
	read_range(fd, 0, FSIZE);
	r = pin_as_nobody(fd, CACHECTL_OP_PIN);
	t_ok(r == EDQUOT,
	     "nobody's new pin over the limit with its old pin: EDQUOT (%s)",
	     strerror(r));
	close(fd);
	cfctl("pinuidlimit 0");
}

/* Unpin and remove the other files. */
static void unpin_others(void)
{
	struct cachectl_args a;
	int i, fd;

	for (i = 0; i < 3; i++) {
		fd = open(other[i], O_RDONLY);
		if (fd >= 0) {
			memset(&a, 0, sizeof(a));
			fcachectl(fd, CACHECTL_OP_UNPIN, &a, sizeof(a));
			close(fd);
		}
		unlink(other[i]);
	}
}

static int query(int fd, struct cachectl_args *a)
{
	memset(a, 0, sizeof(*a));
	return fcachectl(fd, CACHECTL_OP_QUERY, a, sizeof(*a)) ? -errno : 0;
}

static int has_xattr(const char *path, const char *name)
{
	return getxattr(path, name, NULL, 0) >= 0;
}

static int phase1(const char *file)
{
	char path[PATH_MAX * 4], dir[PATH_MAX * 4], leaf[64];
	struct cachectl_args a;
	void *buf;
	int fd, dfd, i, stale = 0;
	pid_t holder;

	unlink(file);
	if (make_file(file, FSIZE)) {
		printf("Bail out! cannot create %s\n", file);
		return 1;
	}
	pin_others();
	drop_caches();
	fd = open(file, O_RDONLY);
	read_range(fd, 0, FSIZE);
	memset(&a, 0, sizeof(a));
	t_ok(fcachectl(fd, CACHECTL_OP_PIN, &a, sizeof(a)) == 0 &&
	     (a.state & CACHECTL_STATE_PINNED), "pinned");
	close(fd);
	drop_caches();
	t_ok(!backing_file(file, path, sizeof(path), dir, sizeof(dir), leaf,
			   sizeof(leaf)) &&
	     has_xattr(path, "user.CacheFiles.pin") &&
	     has_xattr(path, "user.CacheFiles.cache"),
	     "committed: the backing file carries the pin and coherency data");

	/* Look it up again and invalidate it. */
	fd = open(file, O_RDONLY);
	read_range(fd, 0, 65536);
	dfd = open(file, O_WRONLY | O_DIRECT);
	if (dfd < 0 || posix_memalign(&buf, 4096, 4096)) {
		printf("Bail out! O_DIRECT open: %s\n", strerror(errno));
		return 1;
	}
	memset(buf, 'c', 4096);
	t_ok(pwrite(dfd, buf, 4096, 0) == 4096, "O_DIRECT write invalidates");
	for (i = 0; i < 50 && !stale; i++) {
		stale = !has_xattr(path, "user.CacheFiles.cache");
		if (!stale)
			sleep_ms(100);
	}
	t_ok(stale && has_xattr(path, "user.CacheFiles.pin"),
	     "invalidated: the old backing file is marked stale and keeps the pin");
	sync();

	/* Hold the file open past our exit: no withdrawal, no commit. */
	holder = fork();
	if (holder == 0) {
		setsid();
		for (;;)
			pause();
	}
	t_diag("holder %d keeps %s open; the rig stops the guest now",
	       (int)holder, file);
	return t_done();
}

static int phase2(const char *file)
{
	char path[PATH_MAX * 4], dir[PATH_MAX * 4], leaf[64];
	struct cachectl_args a;
	int fd, r;

	check_scanned(file);
	r = backing_file(file, path, sizeof(path), dir, sizeof(dir), leaf,
			 sizeof(leaf));
	t_ok(r == 0, "after the crash the object's backing file is there (%s)",
	     r ? strerror(-r) : path);
	t_ok(r == 0 && has_xattr(path, "user.CacheFiles.pin"),
	     "after the crash the backing file carries the pin");

	fd = open(file, O_RDONLY);
	read_range(fd, 0, FSIZE);
	r = query(fd, &a);
	t_ok(r == 0 && (a.state & CACHECTL_STATE_PINNED),
	     "looked up again: QUERY says PINNED (state %#llx)",
	     (unsigned long long)a.state);
	close(fd);
	drop_caches();
	r = backing_file(file, path, sizeof(path), dir, sizeof(dir), leaf,
			 sizeof(leaf));
	t_ok(r == 0 && has_xattr(path, "user.CacheFiles.pin") &&
	     has_xattr(path, "user.CacheFiles.cache"),
	     "the committed replacement carries the pin");
	t_ok(r == 0 && cfctl("cull %s", path) == EBUSY,
	     "and cannot be culled (EBUSY)");

	fd = open(file, O_RDONLY);
	memset(&a, 0, sizeof(a));
	fcachectl(fd, CACHECTL_OP_UNPIN, &a, sizeof(a));
	close(fd);
	unlink(file);
	unpin_others();
	return t_done();
}

int main(void)
{
	const char *phase = getenv("CACHECTL_CRASH_PHASE");
	char file[PATH_MAX];

	t_require_fcachectl();
	t_require_9p_fscache();
	if (!phase)
		t_skip_all("run by the rig's crash boots only");
	snprintf(file, sizeof(file), "%s/%s", NINEP_DIR, NAME);
	other_names();
	return !strcmp(phase, "1") ? phase1(file) : phase2(file);
}
