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
 */
#include "cachectl_guest.h"

#define FSIZE (1 << 20)
#define NAME "cachectl-crash.bin"

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
	return !strcmp(phase, "1") ? phase1(file) : phase2(file);
}
