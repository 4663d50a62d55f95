// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The same calls on NFS: the in-kernel server exports a disk of the guest
 * (CACHECTL_NFS_EXPORT) and the client mounts it over loopback with fsc
 * (CACHECTL_NFS).  NFS reaches fcachectl() through netfs like 9p, with no
 * code of its own.  Checked against the cache itself: the object's backing
 * file (found as the one new file in the NFS volume of the cache), its
 * data per SEEK_DATA and its pin xattr, and the daemon's cull.
 */
#include "cachectl_guest.h"

#ifndef CACHECTL_MASK_FSCACHE
int main(void)
{
	t_skip_all("the 6.1 series does not wire NFS");
}
#else

#define FSIZE (4 << 20)
#define MAXOBJ 256

struct objset {
	int n;
	char path[MAXOBJ][PATH_MAX * 4];
};

static void add_object(const char *path, void *data)
{
	struct objset *s = data;

	if (s->n < MAXOBJ)
		snprintf(s->path[s->n++], sizeof(s->path[0]), "%s", path);
}

/* Every backing file in the cache's NFS volumes. */
static void nfs_objects(struct objset *s)
{
	s->n = 0;
	cache_objects("Infs", add_object, s);
}

/* The one backing file in @after that is not in @before, or NULL. */
static const char *new_object(const struct objset *before,
			      const struct objset *after)
{
	const char *found = NULL;
	int i, j;

	for (i = 0; i < after->n; i++) {
		for (j = 0; j < before->n; j++)
			if (!strcmp(after->path[i], before->path[j]))
				break;
		if (j < before->n)
			continue;
		if (found)
			return NULL;
		found = after->path[i];
	}
	return found;
}

static int op(int fd, unsigned int o, unsigned long long flags,
	      struct cachectl_args *a)
{
	memset(a, 0, sizeof(*a));
	a->flags = flags;
	return fcachectl(fd, o, a, sizeof(*a)) ? errno : 0;
}

static int query_as_nobody(int fd)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		struct cachectl_args a = { 0 };

		if (setgid(65534) || setuid(65534))
			_exit(100);
		_exit(fcachectl(fd, CACHECTL_OP_QUERY, &a, sizeof(a)) ? errno : 0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

int main(void)
{
	const char *mnt = getenv("CACHECTL_NFS");
	const char *exp = getenv("CACHECTL_NFS_EXPORT");
	static struct objset before, after;
	char local[PATH_MAX], nfs[PATH_MAX];
	const char *obj;
	struct cachectl_args a;
	long long rd0, rd1;
	int fd, r, i;

	t_require_fcachectl();
	if (!mnt || !exp)
		t_skip_all("no NFS mount in this guest (CACHECTL_NFS unset)");

	/* Written on the server's disk, not through NFS. */
	snprintf(local, sizeof(local), "%s/cachectl-nfs.%d", exp, (int)getpid());
	snprintf(nfs, sizeof(nfs), "%s/cachectl-nfs.%d", mnt, (int)getpid());
	if (make_file(local, FSIZE) || chmod(local, 0644)) {
		printf("Bail out! cannot create %s\n", local);
		return 1;
	}
	drop_caches();
	nfs_objects(&before);

	fd = open(nfs, O_RDONLY);
	if (fd < 0) {
		printf("Bail out! open %s: %s\n", nfs, strerror(errno));
		return 1;
	}
	r = op(fd, CACHECTL_OP_QUERY, 0, &a);
	t_ok(r == 0 && (a.state & CACHECTL_STATE_HAS_CACHE) &&
	     (a.mask & CACHECTL_MASK_FSCACHE) && a.fscache_bytes == 0 &&
	     a.pagecache_bytes == 0 && a.file_size == FSIZE,
	     "NFS, cold: QUERY has a cache object and nothing cached (r=%d state %#llx mask %#llx fscache %llu)",
	     r, (unsigned long long)a.state, (unsigned long long)a.mask,
	     (unsigned long long)a.fscache_bytes);
	t_ok(query_as_nobody(fd) == EPERM,
	     "NFS: QUERY by other (not owner, cannot write) is EPERM");

	r = op(fd, CACHECTL_OP_PREFETCH, CACHECTL_PREFETCH_WAIT, &a);
	t_ok(r == 0 && a.pagecache_bytes == FSIZE,
	     "NFS: PREFETCH reads the file into the page cache (r=%d, %llu)",
	     r, (unsigned long long)a.pagecache_bytes);
	/* NFS copies to the cache behind the read (PG_private_2 in 6.12). */
	for (i = 0; i < 100; i++) {
		op(fd, CACHECTL_OP_QUERY, 0, &a);
		if (a.fscache_bytes == FSIZE)
			break;
		sleep_ms(100);
	}
	t_ok(a.fscache_bytes == FSIZE, "NFS: the cache then holds it (%llu)",
	     (unsigned long long)a.fscache_bytes);
	r = op(fd, CACHECTL_OP_PIN, 0, &a);
	t_ok(r == 0 && (a.state & CACHECTL_STATE_PINNED), "NFS: PIN (r=%d)", r);
	close(fd);
	drop_caches();

	nfs_objects(&after);
	obj = new_object(&before, &after);
	t_ok(obj != NULL, "NFS: one new object in the cache's NFS volume (%s)",
	     obj ? obj : "none or several");
	if (!obj)
		return t_done();
	t_ok(seek_data_bytes(obj) == FSIZE,
	     "NFS: SEEK_DATA finds the whole file in the backing file (%lld)",
	     seek_data_bytes(obj));
	t_ok(getxattr(obj, "user.CacheFiles.pin", NULL, 0) > 0,
	     "NFS: the backing file carries the pin");
	r = cfctl("cull %s", obj);
	t_ok(r == EBUSY, "NFS: the pinned object cannot be culled (%s)",
	     r > 0 ? strerror(r) : "no EBUSY");

	/* Read back from the cache, not the server. */
	rd0 = fscache_stat("IO", "rd");
	fd = open(nfs, O_RDONLY);
	read_range(fd, 0, FSIZE);
	rd1 = fscache_stat("IO", "rd");
	t_ok(rd1 > rd0, "NFS: reading again is served by the cache (IO rd %lld -> %lld)",
	     rd0, rd1);
	r = op(fd, CACHECTL_OP_UNPIN, 0, &a);
	t_ok(r == 0 && !(a.state & CACHECTL_STATE_PINNED), "NFS: UNPIN");
	close(fd);
	drop_caches();
	r = cfctl("cull %s", obj);
	t_ok(r == 0, "NFS: unpinned, the object is culled (%s)",
	     r ? strerror(r) : "ok");
	unlink(local);
	return t_done();
}
#endif
