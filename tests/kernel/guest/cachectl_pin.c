// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * PIN: a pinned 9p file survives a cull pass driven as cachefilesd would
 * (cull on every object), unpinned ones are culled, the pin survives cookie
 * withdrawal and re-lookup, and after dropping the page cache the pinned
 * file is read back from the cache, not from the server.
 */
#include "cachectl_guest.h"

#define NFILES 4
#define FSIZE (1 << 20)

static char paths[NFILES][PATH_MAX];
static char ballast[PATH_MAX];

static void cleanup(void)
{
	if (ballast[0])
		unlink(ballast);
}

static int op(int fd, unsigned int o, struct cachectl_args *a)
{
	memset(a, 0, sizeof(*a));
	return fcachectl(fd, o, a, sizeof(*a)) ? -errno : 0;
}

/* Cull every object in every fanout directory of the cache; returns the
 * number of objects culled and counts EBUSY answers. */
static int cull_all(int *busy, int *other)
{
	char top[PATH_MAX], vol[PATH_MAX * 2], fan[PATH_MAX * 3];
	struct dirent *v, *f, *o;
	DIR *dv, *df, *dof;
	int culled = 0;

	*busy = *other = 0;
	snprintf(top, sizeof(top), "%s/cache", CACHE_DIR);
	dv = opendir(top);
	if (!dv)
		return -1;
	while ((v = readdir(dv))) {
		if (v->d_name[0] != 'I')
			continue;
		snprintf(vol, sizeof(vol), "%s/%s", top, v->d_name);
		df = opendir(vol);
		if (!df)
			continue;
		while ((f = readdir(df))) {
			if (f->d_name[0] != '@')
				continue;
			snprintf(fan, sizeof(fan), "%s/%s", vol, f->d_name);
			dof = opendir(fan);
			if (!dof)
				continue;
			while ((o = readdir(dof))) {
				int r;

				if (o->d_name[0] == '.')
					continue;
				r = cfctl("cull %s/%s", fan, o->d_name);
				if (r == 0)
					culled++;
				else if (r == EBUSY)
					(*busy)++;
				else
					(*other)++;
			}
			closedir(dof);
		}
		closedir(df);
	}
	closedir(dv);
	return culled;
}

int main(void)
{
	char bpath[PATH_MAX * 4], bdir[PATH_MAX * 4], leaf[64];
	unsigned long long bcull, bstop;
	struct cachectl_args a;
	long long rd0, rd1, dl0, dl1;
	int fds[NFILES], i, busy, other, culled, r;

	t_require_fcachectl();
	t_require_9p_fscache();
	if (cfctl("ping") != 0)
		t_skip_all("no cache daemon (cfctl ping failed)");
	atexit(cleanup);

	for (i = 0; i < NFILES; i++) {
		snprintf(paths[i], sizeof(paths[i]), "%s/cachectl-pin.%d.%d",
			 NINEP_DIR, (int)getpid(), i);
		if (make_file(paths[i], FSIZE)) {
			printf("Bail out! cannot create %s\n", paths[i]);
			return 1;
		}
	}
	drop_caches();

	/* Read every file into the cache; pin file 0. */
	for (i = 0; i < NFILES; i++) {
		fds[i] = open(paths[i], O_RDONLY);
		read_range(fds[i], 0, FSIZE);
	}
	r = op(fds[0], CACHECTL_OP_PIN, &a);
	t_ok(!r && (a.state & CACHECTL_STATE_PINNED),
	     "PIN answers 0 with PINNED in state (r=%d state %#llx)", r,
	     (unsigned long long)a.state);
	r = op(fds[1], CACHECTL_OP_QUERY, &a);
	t_ok(!r && !(a.state & CACHECTL_STATE_PINNED),
	     "an unpinned file does not report PINNED");

	/* Pin and unpin again: idempotent. */
	t_ok(!op(fds[1], CACHECTL_OP_PIN, &a) &&
	     !op(fds[1], CACHECTL_OP_UNPIN, &a) &&
	     !(a.state & CACHECTL_STATE_PINNED), "PIN then UNPIN clears PINNED");

	for (i = 0; i < NFILES; i++)
		close(fds[i]);
	drop_caches();	/* withdraw the cookies: objects are committed */

	r = backing_file(paths[0], bpath, sizeof(bpath), bdir, sizeof(bdir),
			 leaf, sizeof(leaf));
	t_ok(!r, "pinned file has a backing file after withdrawal: %s",
	     r ? strerror(-r) : bpath);
	if (!r) {
		t_ok(getxattr(bpath, "user.CacheFiles.pin", NULL, 0) > 0,
		     "backing file carries user.CacheFiles.pin");
		r = cfctl("inuse %s/%s", bdir, leaf);
		t_ok(r == EBUSY, "inuse on the pinned object answers EBUSY (%d)",
		     r);
	}

	/* Fill the cache filesystem past its cull limit, as cachefilesd would
	 * see it before a cull pass, and make cachefiles notice. */
	snprintf(ballast, sizeof(ballast), "%s/cachectl-ballast", CACHE_DIR);
	if (!cache_limits(&bcull, &bstop, NULL) &&
	    !ballast_fill(ballast, (bcull + bstop) / 2)) {
		int culling = 0;

		char trig[PATH_MAX + 16];
		int tfd;

		/* A new object makes cachefiles check its space. */
		snprintf(trig, sizeof(trig), "%s.trigger", paths[0]);
		make_file(trig, 65536);
		drop_caches();
		tfd = open(trig, O_RDONLY);
		read_range(tfd, 0, 65536);
		sleep_ms(300);
		close(tfd);
		unlink(trig);
		cache_limits(&bcull, &bstop, &culling);
		t_ok(culling == 1, "cache past its cull limit: daemon state cull=%d",
		     culling);
		drop_caches();
	} else {
		t_ok(0, "could not fill the cache past its cull limit");
	}

	culled = cull_all(&busy, &other);
	t_diag("cull pass: %d culled, %d busy, %d other errors", culled, busy,
	       other);
	t_ok(culled >= NFILES - 1, "the unpinned objects were culled (%d)",
	     culled);
	t_ok(busy >= 1, "the pinned object answered EBUSY");
	for (i = 1; i < NFILES; i++)
		t_ok(backing_bytes(paths[i]) < 0, "unpinned file %d culled", i);
	t_ok(backing_bytes(paths[0]) == FSIZE,
	     "pinned file still fully in the cache (%lld)",
	     backing_bytes(paths[0]));

	unlink(ballast);

	/* Re-lookup: the pin is read back from the xattr. */
	rd0 = fscache_stat("IO", "rd");
	dl0 = fscache_stat("RdHelp", "DL");
	fds[0] = open(paths[0], O_RDONLY);
	r = op(fds[0], CACHECTL_OP_QUERY, &a);
	t_ok(!r && (a.state & CACHECTL_STATE_PINNED) &&
	     a.fscache_bytes == FSIZE && a.pagecache_bytes == 0,
	     "after re-lookup: PINNED, fscache %llu, page cache %llu",
	     (unsigned long long)a.fscache_bytes,
	     (unsigned long long)a.pagecache_bytes);
	read_range(fds[0], 0, FSIZE);
	rd1 = fscache_stat("IO", "rd");
	dl1 = fscache_stat("RdHelp", "DL");
	t_ok(rd1 > rd0, "pinned file read back from the cache (IO rd %lld -> %lld)",
	     rd0, rd1);
	t_ok(dl0 < 0 || dl1 == dl0,
	     "no download from the server (RdHelp DL %lld -> %lld)", dl0, dl1);

	/* Unpin: now the object can be culled. */
	t_ok(!op(fds[0], CACHECTL_OP_UNPIN, &a) &&
	     !(a.state & CACHECTL_STATE_PINNED), "UNPIN");
	close(fds[0]);
	drop_caches();
	if (!backing_file(paths[0], bpath, sizeof(bpath), bdir, sizeof(bdir),
			  leaf, sizeof(leaf))) {
		t_ok(getxattr(bpath, "user.CacheFiles.pin", NULL, 0) < 0 &&
		     errno == ENODATA,
		     "unpinned backing file lost user.CacheFiles.pin");
		r = cfctl("cull %s/%s", bdir, leaf);
		t_ok(r == 0, "unpinned object can be culled (%d)", r);
	} else {
		t_ok(0, "backing file of the unpinned file is gone");
	}

	for (i = 0; i < NFILES; i++)
		unlink(paths[i]);
	return t_done();
}
