// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * fakefcachectl.so - an LD_PRELOAD stand-in for the fcachectl(2) system
 * call of kernel-patches/, so the CLI's kernel-backend paths (columns,
 * kernel pins, cachectl cache) can be tested on a stock host kernel. The
 * real thing is tested in the QEMU guest (tests/kernel); this only has to
 * answer the way its man page, fcachectl(2), says the kernel does.
 *
 * It replaces libc's syscall(): number 463 is answered here, every other
 * number goes to the real syscall(). The fscache state of a file lives in
 * its extended attributes, so separate processes see the same "cache":
 *
 *   user.fakefsc        absent: the file's filesystem has no fscache (QUERY
 *                       answers the page-cache part, the rest EOPNOTSUPP);
 *                       "none": fscache, but no cache holds it (ENOBUFS);
 *                       a number: bytes the cache holds
 *   user.fakefsc.pin    "1": the object is pinned
 *   user.fakefsc.deny   "1": PIN/UNPIN fail with EPERM (not the owner)
 *   user.fakefsc.cache  the cache id (default 1)
 *
 * Cache-wide: the file $FAKE_FCACHECTL_STATE holds words: "full" (below
 * the cull limit), and the cache daemon's commands as they were written:
 * culling is disabled if the last of "nocull" and "cull" is "nocull". So
 * the file also serves as the daemon's /dev/cachefiles: a test keeps it
 * open in a stand-in daemon process and points CACHECTL_CACHEFILES_DEV at
 * it, and the library appends its commands there. With
 * $FAKE_FCACHECTL_NOPRIV=1 borrowing the daemon's descriptor
 * (pidfd_getfd()) fails with EPERM, as it does without ptrace rights.
 * PREFETCH advises WILLNEED and then "caches" the whole file.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#define NR_FCACHECTL	463
#define NR_CACHESTAT	451
#define PROBE_MAGIC	0x63630001

enum { OP_PROBE, OP_QUERY, OP_PIN, OP_UNPIN, OP_PREFETCH };

#define ST_HAS_CACHE	(1ull << 0)
#define ST_PINNED	(1ull << 1)
#define ST_NOCULL	(1ull << 2)
#define ST_FULL		(1ull << 3)
/* every field QUERY fills: pagecache, dirty, writeback, size, state,
 * fscache, cache id */
#define MASK_ALL	0x7full

struct args {
	uint64_t offset, length, flags, pagecache_bytes, fscache_bytes;
	uint64_t file_size, state, cache_id, dirty_bytes, writeback_bytes;
	uint64_t mask;
};

struct cs_range {
	uint64_t off, len;
};

struct cs {
	uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted,
		 nr_recently_evicted;
};

typedef long (*syscall_fn)(long, long, long, long, long, long, long);

static long real(long nr, long a, long b, long c, long d, long e, long f)
{
	static syscall_fn fn;

	if (!fn)
		fn = (syscall_fn)dlsym(RTLD_NEXT, "syscall");
	return fn(nr, a, b, c, d, e, f);
}

/* xattr @name of @fd as text; "" when absent */
static const char *attr(int fd, const char *name, char *buf, size_t len)
{
	ssize_t n = fgetxattr(fd, name, buf, len - 1);

	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

/* "full" anywhere; for "nocull" the last of "nocull" and "cull" */
static bool state_has(const char *word)
{
	const char *path = getenv("FAKE_FCACHECTL_STATE");
	bool cull_word = !strcmp(word, "nocull"), has = false;
	char w[64];
	FILE *f;

	if (!path || !(f = fopen(path, "re")))
		return false;
	while (fscanf(f, "%63s", w) == 1) {
		if (!strcmp(w, word))
			has = true;
		else if (cull_word && !strcmp(w, "cull"))
			has = false;
	}
	fclose(f);
	return has;
}

typedef int (*getfd_fn)(int, int, unsigned int);

__attribute__((visibility("default")))
int pidfd_getfd(int pidfd, int targetfd, unsigned int flags)
{
	static getfd_fn fn;

	if (getenv("FAKE_FCACHECTL_NOPRIV")) {
		errno = EPERM;
		return -1;
	}
	if (!fn)
		fn = (getfd_fn)dlsym(RTLD_NEXT, "pidfd_getfd");
	return fn(pidfd, targetfd, flags);
}

static long fake(int fd, unsigned int op, struct args *a, size_t size)
{
	char buf[64];
	struct stat st;
	const char *fsc;
	uint64_t end, pages = 4096;

	if (op == OP_PROBE)
		return PROBE_MAGIC;
	if (op > OP_PREFETCH)
		return -EINVAL;
	if (fstat(fd, &st) < 0)
		return -EBADF;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if (!a || size < sizeof(*a))
		return -EINVAL;
	fsc = attr(fd, "user.fakefsc", buf, sizeof(buf));
	if (op != OP_QUERY && !*fsc)
		return -EOPNOTSUPP;
	if ((op == OP_PIN || op == OP_UNPIN) && !strcmp(fsc, "none"))
		return -ENOBUFS;
	switch (op) {
	case OP_PIN:
	case OP_UNPIN:
		if (!strcmp(attr(fd, "user.fakefsc.deny", buf, sizeof(buf)), "1"))
			return -EPERM;
		if (op == OP_PIN)
			fsetxattr(fd, "user.fakefsc.pin", "1", 1, 0);
		else
			fremovexattr(fd, "user.fakefsc.pin");
		return 0;
	case OP_PREFETCH:
		posix_fadvise(fd, (off_t)a->offset, (off_t)a->length,
			      POSIX_FADV_WILLNEED);
		snprintf(buf, sizeof(buf), "%llu", (unsigned long long)
			 ((st.st_size + pages - 1) / pages * pages));
		fsetxattr(fd, "user.fakefsc", buf, strlen(buf), 0);
		fsc = attr(fd, "user.fakefsc", buf, sizeof(buf));
		break;
	}

	/* QUERY (and PREFETCH's answer): both layers over the range */
	{
		struct cs_range r = { a->offset, a->length };
		struct cs c = { 0 };
		uint64_t len;

		end = a->length ? a->offset + a->length : (uint64_t)st.st_size;
		end = end > (uint64_t)st.st_size ? (uint64_t)st.st_size : end;
		len = end > a->offset ? end - a->offset : 0;
		if (real(NR_CACHESTAT, fd, (long)&r, (long)&c, 0, 0, 0) < 0)
			memset(&c, 0, sizeof(c));
		a->pagecache_bytes = c.nr_cache * pages;
		a->dirty_bytes = c.nr_dirty * pages;
		a->writeback_bytes = c.nr_writeback * pages;
		a->file_size = (uint64_t)st.st_size;
		a->state = 0;
		a->cache_id = 0;
		a->fscache_bytes = 0;
		a->mask = MASK_ALL;
		if (*fsc && strcmp(fsc, "none")) {
			uint64_t held = strtoull(fsc, NULL, 10);

			len = (len + pages - 1) / pages * pages;
			a->fscache_bytes = held < len ? held : len;
			a->state |= ST_HAS_CACHE;
			a->cache_id = strtoull(attr(fd, "user.fakefsc.cache",
						    buf, sizeof(buf)), NULL, 10);
			if (!a->cache_id)
				a->cache_id = 1;
			if (!strcmp(attr(fd, "user.fakefsc.pin", buf,
					 sizeof(buf)), "1"))
				a->state |= ST_PINNED;
			if (state_has("nocull"))
				a->state |= ST_NOCULL;
			if (state_has("full"))
				a->state |= ST_FULL;
		}
	}
	return 0;
}

__attribute__((visibility("default"))) long syscall(long nr, ...)
{
	long v[6];
	va_list ap;
	int i;

	va_start(ap, nr);
	for (i = 0; i < 6; i++)
		v[i] = va_arg(ap, long);
	va_end(ap);
	if (nr == NR_FCACHECTL) {
		long r = fake((int)v[0], (unsigned int)v[1],
			      (struct args *)v[2], (size_t)v[3]);

		if (r < 0) {
			errno = (int)-r;
			return -1;
		}
		return r;
	}
	return real(nr, v[0], v[1], v[2], v[3], v[4], v[5]);
}
