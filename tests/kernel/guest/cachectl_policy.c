// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Culling policy: with culling disabled no object is culled, the cache fills
 * up (a ballast file on the cache filesystem brings it near its limits) and
 * QUERY reports CACHE_FULL; the "nocull" and bare "cull" daemon commands
 * switch it.  With the 6.1 series fcachectl() CACHE_POLICY switches it too;
 * later series leave the policy to the daemon (/dev/cachefiles, which
 * needs CAP_SYS_ADMIN) and only report it as a state bit.
 */
#include "cachectl_guest.h"

#define FSIZE (8 << 20)
/*
 * The files that fill the cache are smaller: 6.12 counts the blocks being
 * written against the free space, so one large file refused as a whole
 * could stop the fill with the cache still above its cull limit.
 */
#define FILL (2 << 20)
#define MAXFILES 40

static char paths[MAXFILES][PATH_MAX];
static char ballast[PATH_MAX];

static int query(int fd, struct cachectl_args *a)
{
	memset(a, 0, sizeof(*a));
	return fcachectl(fd, CACHECTL_OP_QUERY, a, sizeof(*a)) ? -errno : 0;
}

#ifdef CACHECTL_OP_CACHE_POLICY
#define POLICY_NOCULL	CACHECTL_POLICY_NOCULL
#define POLICY_CULL	CACHECTL_POLICY_CULL
#define POLICY_HOW	"CACHE_POLICY"
static int policy(int fd, unsigned long long flags, struct cachectl_args *a)
{
	memset(a, 0, sizeof(*a));
	a->flags = flags;
	return fcachectl(fd, CACHECTL_OP_CACHE_POLICY, a, sizeof(*a)) ?
	       -errno : 0;
}
#else
#define POLICY_NOCULL	1
#define POLICY_CULL	2
#define POLICY_HOW	"daemon command"
static int policy(int fd, unsigned long long flags, struct cachectl_args *a)
{
	int r = cfctl(flags == POLICY_NOCULL ? "nocull" : "cull");

	return r ? -r : query(fd, a);
}
#endif

/* Whatever happens, leave culling enabled and the space free. */
static void cleanup(void)
{
	cfctl("cull");
	if (ballast[0])
		unlink(ballast);
}

/* Try to cull every object in the cache, as cachefilesd would. */
static void cull_all(int *culled, int *busy)
{
	char cmd[PATH_MAX * 2], name[PATH_MAX * 4];
	FILE *f;

	*culled = *busy = 0;
	snprintf(cmd, sizeof(cmd),
		 "find %s/cache -mindepth 3 -maxdepth 3 -type f", CACHE_DIR);
	f = popen(cmd, "r");
	if (!f)
		return;
	while (fgets(name, sizeof(name), f)) {
		int r;

		name[strcspn(name, "\n")] = 0;
		r = cfctl("cull %s", name);
		if (!r)
			(*culled)++;
		else if (r == EBUSY)
			(*busy)++;
	}
	pclose(f);
}

int main(void)
{
	unsigned long long bcull, bstop, want;
	long long ncr0, nwr0, ncr1, nwr1;
	struct cachectl_args a;
	struct statfs sfs;
	int fd, r, i, culled, busy, nfiles = 0, full = 0;

	t_require_fcachectl();
	t_require_9p_fscache();
	if (cfctl("ping") != 0)
		t_skip_all("no cache daemon (cfctl ping failed)");
	if (cache_limits(&bcull, &bstop, NULL))
		t_skip_all("cannot read the cache limits (cfctl state)");
	atexit(cleanup);

	/* One cached object to start with. */
	snprintf(paths[0], sizeof(paths[0]), "%s/cachectl-policy.%d.0",
		 NINEP_DIR, (int)getpid());
	if (make_file(paths[0], FSIZE)) {
		printf("Bail out! cannot create %s\n", paths[0]);
		return 1;
	}
	nfiles = 1;
	drop_caches();
	fd = open(paths[0], O_RDONLY);
	read_range(fd, 0, FSIZE);

	r = policy(fd, POLICY_NOCULL, &a);
	t_ok(!r && (a.state & CACHECTL_STATE_CULL_DISABLED),
	     POLICY_HOW " NOCULL: state %#llx", (unsigned long long)a.state);
	close(fd);
	drop_caches();

	cull_all(&culled, &busy);
	t_ok(culled == 0 && busy >= 1,
	     "culling disabled: nothing culled (%d culled, %d EBUSY)", culled,
	     busy);
	t_ok(backing_bytes(paths[0]) == FSIZE, "object still cached (%lld)",
	     backing_bytes(paths[0]));

	/* Take the cache filesystem down to a little above its cull limit
	 * with a ballast file outside the cache; the 9p files below then
	 * fill it past the cull limit until it refuses data. */
	snprintf(ballast, sizeof(ballast), "%s/cachectl-ballast", CACHE_DIR);
	statfs(CACHE_DIR, &sfs);
	want = bcull + (12ULL << 20) / sfs.f_bsize;
	t_diag("cache fs: %llu blocks of %ld, %llu available; bcull %llu bstop %llu",
	       (unsigned long long)sfs.f_blocks, (long)sfs.f_bsize,
	       (unsigned long long)sfs.f_bavail, bcull, bstop);
	r = sfs.f_bavail > want ? ballast_fill(ballast, want) : -1;
	t_ok(r == 0, "ballast file allocated");
	fd = open(paths[0], O_RDONLY);
	query(fd, &a);
	close(fd);
	t_ok(!(a.state & CACHECTL_STATE_CACHE_FULL),
	     "above the cull limit: no CACHE_FULL (state %#llx)",
	     (unsigned long long)a.state);

	ncr0 = fscache_stat("NoSpace", "ncr");
	nwr0 = fscache_stat("NoSpace", "nwr");
	/* Fill the rest with 9p files until the cache refuses data. */
	for (i = 1; i < MAXFILES && !full; i++) {
		snprintf(paths[i], sizeof(paths[i]), "%s/cachectl-policy.%d.%d",
			 NINEP_DIR, (int)getpid(), i);
		if (make_file(paths[i], FILL))
			break;
		nfiles = i + 1;
		drop_caches();
		fd = open(paths[i], O_RDONLY);
		read_range(fd, 0, FILL);
		/* The cache writes run behind the read (in 6.12 netfs at
		 * writeback); a file they have not completed in 5 s is one
		 * the cache refused.
		 */
		for (int t = 0; t < 30; t++) {
			query(fd, &a);
			if (a.fscache_bytes >= FILL)
				break;
			sleep_ms(100);
		}
		if (a.fscache_bytes < FILL)
			full = 1;
		close(fd);
	}
	ncr1 = fscache_stat("NoSpace", "ncr");
	nwr1 = fscache_stat("NoSpace", "nwr");
	t_ok(full && i > 2,
	     "the cache filled up: %d files fully cached, file %d got %llu of %d bytes",
	     i - 2, i - 1, (unsigned long long)a.fscache_bytes, FILL);
	t_ok(ncr1 + nwr1 > ncr0 + nwr0,
	     "cache refused space (NoSpace ncr %lld -> %lld, nwr %lld -> %lld)",
	     ncr0, ncr1, nwr0, nwr1);
	fd = open(paths[0], O_RDONLY);
	r = query(fd, &a);
	t_ok(!r && (a.state & CACHECTL_STATE_CACHE_FULL) &&
	     (a.state & CACHECTL_STATE_CULL_DISABLED),
	     "QUERY reports CACHE_FULL and CULL_DISABLED (%#llx)",
	     (unsigned long long)a.state);
	{
		int culling = -1;

		cache_limits(&bcull, &bstop, &culling);
		t_ok(culling == 0,
		     "full cache, culling disabled: daemon not asked to cull (cull=%d)",
		     culling);
	}
	close(fd);
	drop_caches();

	cull_all(&culled, &busy);
	t_ok(culled == 0, "full cache, culling disabled: nothing culled (%d, %d EBUSY)",
	     culled, busy);
	t_ok(backing_bytes(paths[0]) == FSIZE, "first object still cached");

	/* Daemon commands switch the same policy. */
	fd = open(paths[0], O_RDONLY);
	r = cfctl("cull");
	query(fd, &a);
	t_ok(r == 0 && !(a.state & CACHECTL_STATE_CULL_DISABLED),
	     "bare \"cull\" command enables culling (state %#llx)",
	     (unsigned long long)a.state);
	r = cfctl("nocull");
	query(fd, &a);
	t_ok(r == 0 && (a.state & CACHECTL_STATE_CULL_DISABLED),
	     "\"nocull\" command disables culling (state %#llx)",
	     (unsigned long long)a.state);
	r = policy(fd, POLICY_CULL, &a);
	t_ok(!r && !(a.state & CACHECTL_STATE_CULL_DISABLED),
	     POLICY_HOW " CULL enables culling again");
	close(fd);
	drop_caches();

	cull_all(&culled, &busy);
	t_ok(culled >= 1, "culling enabled: objects culled (%d, %d EBUSY)",
	     culled, busy);
	unlink(ballast);
	for (i = 0; i < nfiles; i++)
		unlink(paths[i]);
	return t_done();
}
