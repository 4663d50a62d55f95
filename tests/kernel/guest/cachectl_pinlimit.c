// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Bounded pins: the cache daemon's "pinlimit" makes a pin beyond it fail
 * with ENOSPC, "pinuidlimit" makes a user without CAP_SYS_ADMIN fail with
 * EDQUOT beyond it (admin pins are not counted per uid), "pins" lists
 * every pin with its uid and size, and "unpin NAME" clears one: the xattr
 * goes from the backing file and the object can be culled again.
 */
#include "cachectl_guest.h"

#define FSIZE (1 << 20)
#define NFILES 4
#define NOBODY 65534

static char paths[NFILES][PATH_MAX];

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

static int pin(int fd, unsigned int op, struct cachectl_args *a)
{
	memset(a, 0, sizeof(*a));
	return fcachectl(fd, op, a, sizeof(*a)) ? errno : 0;
}

static void cleanup(void)
{
	int i;

	cfctl("pinlimit 0");
	cfctl("pinuidlimit 0");
	for (i = 0; i < NFILES; i++) {
		int fd = open(paths[i], O_RDONLY);
		struct cachectl_args a;

		if (fd >= 0) {
			pin(fd, CACHECTL_OP_UNPIN, &a);
			close(fd);
		}
		unlink(paths[i]);
	}
}

int main(void)
{
	char list[16384], entry[1024], path[PATH_MAX * 4], dir[PATH_MAX * 4];
	char leaf[64], cmd[PATH_MAX * 5];
	struct cachectl_args a;
	long long pinned0, npins0;
	int fd[NFILES], i, r;

	t_require_fcachectl();
	t_require_9p_fscache();
#ifdef CACHECTL_OP_CACHE_POLICY
	t_skip_all("this series has no pin limits");
#endif
	if (cfctl("ping") != 0)
		t_skip_all("no cache daemon (cfctl ping failed)");
	atexit(cleanup);

	/* 0, 1: root's; 2, 3: nobody's.  All cached, objects committed. */
	for (i = 0; i < NFILES; i++) {
		snprintf(paths[i], sizeof(paths[i]), "%s/cachectl-pinlimit.%d.%d",
			 NINEP_DIR, (int)getpid(), i);
		if (make_file(paths[i], FSIZE) ||
		    (i >= 2 && chown(paths[i], NOBODY, NOBODY))) {
			printf("Bail out! cannot create %s\n", paths[i]);
			return 1;
		}
	}
	drop_caches();
	for (i = 0; i < NFILES; i++) {
		fd[i] = open(paths[i], O_RDONLY);
		read_range(fd[i], 0, FSIZE);
	}

	r = cfctl_out(list, sizeof(list), "%s", "pins");
	pinned0 = pins_field(list, "pinned");
	npins0 = pins_field(list, "pins");
	t_ok(r == 0 && pinned0 >= 0 && npins0 >= 0,
	     "\"pins\" answers with a summary: %s", list);

	/* The cache's limit: room for one more file, not two. */
	snprintf(cmd, sizeof(cmd), "pinlimit %lld", pinned0 + FSIZE + FSIZE / 2);
	t_ok(cfctl("%s", cmd) == 0, "%s", cmd);
	r = pin(fd[0], CACHECTL_OP_PIN, &a);
	t_ok(r == 0 && (a.state & CACHECTL_STATE_PINNED),
	     "pin within the cache's limit");
	r = pin(fd[1], CACHECTL_OP_PIN, &a);
	t_ok(r == ENOSPC, "pin beyond the cache's limit: ENOSPC (%s)",
	     strerror(r));
	pin(fd[1], CACHECTL_OP_QUERY, &a);
	t_ok(!(a.state & CACHECTL_STATE_PINNED),
	     "the refused pin left the object unpinned (state %#llx)",
	     (unsigned long long)a.state);
	t_ok(cfctl("pinlimit 0") == 0, "pinlimit 0: no cache limit");

	/* The per-uid limit: one file for nobody, admin pins not counted. */
	snprintf(cmd, sizeof(cmd), "pinuidlimit %d", FSIZE + FSIZE / 2);
	t_ok(cfctl("%s", cmd) == 0, "%s", cmd);
	r = pin_as_nobody(fd[2], CACHECTL_OP_PIN);
	t_ok(r == 0, "nobody pins its first file (%s)", strerror(r));
	r = pin_as_nobody(fd[3], CACHECTL_OP_PIN);
	t_ok(r == EDQUOT, "nobody over its per-uid limit: EDQUOT (%s)",
	     strerror(r));
	r = pin(fd[1], CACHECTL_OP_PIN, &a);
	t_ok(r == 0, "root (CAP_SYS_ADMIN) is not held to the per-uid limit");
	r = pin(fd[3], CACHECTL_OP_PIN, &a);
	t_ok(r == 0 && (a.state & CACHECTL_STATE_PINNED),
	     "root pins nobody's second file");

	/* Commit the objects so every pin has its backing file. */
	for (i = 0; i < NFILES; i++)
		close(fd[i]);
	drop_caches();

	r = cfctl_out(list, sizeof(list), "%s", "pins");
	t_ok(r == 0 && pins_field(list, "pins") == npins0 + 4 &&
	     pins_field(list, "pinned") == pinned0 + 4LL * FSIZE,
	     "the listing counts the four pins: %.200s", list);
	for (i = 0; i < NFILES; i++) {
		char want[64];
		int uid = i == 2 ? NOBODY : 0;

		snprintf(want, sizeof(want), "uid=%d bytes=%d admin=%d", uid,
			 FSIZE, i == 2 ? 0 : 1);
		t_ok(pins_entry(list, paths[i], entry, sizeof(entry)) &&
		     strstr(entry, want),
		     "file %d listed with %s: %s", i, want,
		     pins_entry(list, paths[i], entry, sizeof(entry)) ?
		     entry : "(missing)");
	}

	/* The admin clears nobody's pin by its name in the cache. */
	r = backing_file(paths[2], path, sizeof(path), dir, sizeof(dir), leaf,
			 sizeof(leaf));
	t_ok(r == 0 && getxattr(path, "user.CacheFiles.pin", NULL, 0) > 0,
	     "nobody's file carries the pin xattr");
	t_ok(cfctl("unpin %s", path) == 0, "daemon \"unpin\" of nobody's file");
	t_ok(getxattr(path, "user.CacheFiles.pin", NULL, 0) < 0 &&
	     errno == ENODATA, "the xattr is gone");
	cfctl_out(list, sizeof(list), "%s", "pins");
	t_ok(!pins_entry(list, paths[2], entry, sizeof(entry)) &&
	     pins_field(list, "pins") == npins0 + 3,
	     "no longer listed: %.200s", list);
	r = cfctl("cull %s", path);
	t_ok(r == 0, "the unpinned object can be culled (%s)",
	     r ? strerror(r) : "ok");
	r = backing_file(paths[0], path, sizeof(path), dir, sizeof(dir), leaf,
			 sizeof(leaf));
	t_ok(r == 0 && cfctl("cull %s", path) == EBUSY,
	     "a pinned object still cannot be culled (EBUSY)");

	for (i = 0; i < NFILES; i++) {
		int f = open(paths[i], O_RDONLY);

		pin(f, CACHECTL_OP_UNPIN, &a);
		close(f);
	}
	r = cfctl_out(list, sizeof(list), "%s", "pins");
	t_ok(r == 0 && pins_field(list, "pins") == npins0 &&
	     pins_field(list, "pinned") == pinned0,
	     "after UNPIN the counts are back: %.200s", list);
	return t_done();
}
