// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * fscobj: look at the cachefiles cache from outside, for the guest's CLI
 * tests (tests/kernel/guest/cli-*.sh). Everything here is measured on the
 * cache's backing filesystem, never through libcachectl, so the tests can
 * check what cachectl says against what is really there.
 *
 *   fscobj check [FILE...]      (no FILE: one path a line on stdin)
 *       For each 9p or NFS file: "SIZE DATA PIN PATH", where DATA is the number of
 *       bytes SEEK_DATA finds in its backing file (-1: no backing file, i.e.
 *       not in the cache or culled) and PIN is 1 if the backing file carries
 *       the kernel pin xattr (user.CacheFiles.pin), else 0. Exit 0, or 1 if
 *       a FILE could not be stat'ed.
 *   fscobj cull-all
 *       A full cull pass as cachefilesd would make one: "cull" on every
 *       object under CACHE/cache/I* /@xx/, sent through the rig's daemon
 *       (cfctl) in batches. Prints "culled N busy N other N"; exit 0, or 2
 *       if the daemon did not answer.
 *   fscobj count
 *       The number of objects in the cache (committed ones: backing files).
 *   fscobj now
 *       CLOCK_MONOTONIC in seconds with nanoseconds (busybox date has no %N).
 *
 * CACHE is $CACHECTL_CACHE_DIR (default /mnt/cache). Only committed objects
 * have a backing file: new objects are unlinked tmpfiles until their cookie
 * is withdrawn (drop_caches evicts the 9p inode), so callers drop caches
 * first.
 *
 * Built statically by run-kernel-tests without the kernel's headers, so it
 * works with an empty series too.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define PIN_XATTR "user.CacheFiles.pin"
#define CULL_BATCH 200

static const char *cache_dir(void)
{
	const char *d = getenv("CACHECTL_CACHE_DIR");

	return d && *d ? d : "/mnt/cache";
}

/* One object of the cache: its name and the fanout directory holding it. */
struct obj {
	char *name;
	char *dir;
};

static struct obj *objs;
static size_t nobjs, cap;

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (!p) {
		perror("fscobj");
		exit(3);
	}
	return p;
}

static void add_obj(const char *dir, const char *name)
{
	if (nobjs == cap) {
		cap = cap ? 2 * cap : 1024;
		objs = xrealloc(objs, cap * sizeof(*objs));
	}
	objs[nobjs].name = strdup(name);
	objs[nobjs].dir = strdup(dir);
	if (!objs[nobjs].name || !objs[nobjs].dir) {
		perror("fscobj");
		exit(3);
	}
	nobjs++;
}

static int cmp_obj(const void *a, const void *b)
{
	return strcmp(((const struct obj *)a)->name,
		      ((const struct obj *)b)->name);
}

/*
 * Every object of every volume: CACHE/cache/I<volume>/@<fanout>/<name>.
 * Read once and sorted, because looking each file up in all 256 fanout
 * directories would be 256 lookups per file (2,000 files under TCG).
 */
static void index_objects(void)
{
	char top[PATH_MAX], vol[PATH_MAX * 2], fan[PATH_MAX * 3];
	struct dirent *v, *f, *o;
	DIR *dv, *df, *dof;

	snprintf(top, sizeof(top), "%s/cache", cache_dir());
	dv = opendir(top);
	if (!dv)
		return;
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
			while ((o = readdir(dof)))
				if (o->d_name[0] != '.')
					add_obj(fan, o->d_name);
			closedir(dof);
		}
		closedir(df);
	}
	closedir(dv);
	qsort(objs, nobjs, sizeof(*objs), cmp_obj);
}

#define NFS_SUPER_MAGIC	0x6969

static unsigned int hexdigits(uint32_t x)
{
	unsigned int n = 0;

	for (; x; x >>= 4)
		n++;
	return n;
}

/*
 * A cookie key as cachefiles names its object (fs/cachefiles/key.c,
 * cachefiles_cook_key()): "D" and the key if it is printable; else the
 * key as 32-bit words (zero-padded, as fscache stores it) in hex, each
 * read big-endian ("S") or little-endian ("T"), whichever is shorter
 * (big-endian on a tie), with zero words empty; else base64 ("E" and
 * the pad count) if that is shorter than both.
 */
static int cook_key(const uint8_t *key, size_t keylen, char *name, size_t len)
{
	static const char map[64] = "0123456789abcdefghijklmnopqrstuvwxyz"
				    "ABCDEFGHIJKLMNOPQRSTUVWXYZ_-";
	uint8_t k[256] = { 0 };
	size_t n = (keylen + 3) / 4 * 4, i, b64, l;
	unsigned int nle = 0, nbe = 0;
	bool print = true;

	if (keylen == 0 || keylen > sizeof(k) - 4 || len < 2 * keylen + 8)
		return -1;
	memcpy(k, key, keylen);
	for (i = 0; i < keylen; i++)
		print &= (k[i] >= 33 && k[i] <= 46) || (k[i] >= 48 && k[i] <= 127);
	if (print) {
		snprintf(name, len, "D%.*s", (int)keylen, (const char *)k);
		return 0;
	}
	for (i = 0; i < n; i += 4) {
		uint32_t be = (uint32_t)k[i] << 24 | k[i + 1] << 16 |
			      k[i + 2] << 8 | k[i + 3];
		uint32_t le = (uint32_t)k[i + 3] << 24 | k[i + 2] << 16 |
			      k[i + 1] << 8 | k[i];

		nbe += 1 + hexdigits(be);
		nle += 1 + hexdigits(le);
	}
	b64 = 2 + (keylen + 2) / 3 * 4;
	if (nbe < b64 || nle < b64) {
		bool big = nbe <= nle;

		l = 0;
		for (i = 0; i < n; i += 4) {
			uint32_t x = big ?
				(uint32_t)k[i] << 24 | k[i + 1] << 16 |
				k[i + 2] << 8 | k[i + 3] :
				(uint32_t)k[i + 3] << 24 | k[i + 2] << 16 |
				k[i + 1] << 8 | k[i];

			name[l++] = i ? ',' : big ? 'S' : 'T';
			if (x)
				l += snprintf(name + l, len - l, "%x", x);
		}
		name[l] = '\0';
		return 0;
	}
	name[0] = 'E';
	name[1] = (char)('0' + (keylen + 2) / 3 * 3 - keylen);
	l = 2;
	for (i = 0; i < keylen; i += 3) {
		uint32_t acc = k[i];

		if (i + 1 < keylen)
			acc |= k[i + 1] << 8;
		if (i + 2 < keylen)
			acc |= (uint32_t)k[i + 2] << 16;
		name[l++] = map[acc & 63];
		name[l++] = map[(acc >> 6) & 63];
		name[l++] = map[(acc >> 12) & 63];
		name[l++] = map[(acc >> 18) & 63];
	}
	name[l] = '\0';
	return 0;
}

/*
 * The object name of a file. 9p's cookie key is qid.path as a
 * little-endian u64, and its inode number is qid.path + 2. NFS's is the
 * server's file handle, which name_to_handle_at() hands out embedded in
 * the client's own (fs/nfs/export.c: fileid high, fileid low, type, then
 * struct nfs_fh: a u16 size and the bytes).
 */
static int object_name(const char *path, const struct stat *st, char *name,
		       size_t len)
{
	struct {
		struct file_handle fh;
		unsigned char buf[MAX_HANDLE_SZ];
	} h;
	struct statfs sf;
	uint8_t k[8];
	uint16_t fhlen;
	int mnt, i;

	/* 9p's statfs passes on the server's f_type: anything but NFS */
	if (statfs(path, &sf) < 0)
		return -1;
	if (sf.f_type != NFS_SUPER_MAGIC) {
		uint64_t qpath = (uint64_t)st->st_ino - 2;

		for (i = 0; i < 8; i++)
			k[i] = (uint8_t)(qpath >> (8 * i));
		return cook_key(k, sizeof(k), name, len);
	}
	h.fh.handle_bytes = MAX_HANDLE_SZ;
	if (name_to_handle_at(AT_FDCWD, path, &h.fh, &mnt, 0) < 0 ||
	    h.fh.handle_bytes < 14)
		return -1;
	memcpy(&fhlen, h.fh.f_handle + 12, sizeof(fhlen));
	if (14u + fhlen > h.fh.handle_bytes)
		return -1;
	return cook_key(h.fh.f_handle + 14, fhlen, name, len);
}

static long long seek_data_bytes(const char *path)
{
	long long bytes = 0;
	off_t pos = 0, data, hole, end;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return -1;
	end = lseek(fd, 0, SEEK_END);
	while (pos < end) {
		data = lseek(fd, pos, SEEK_DATA);
		if (data < 0)
			break;
		hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0)
			break;
		bytes += hole - data;
		pos = hole;
	}
	close(fd);
	return bytes;
}

static int check_one(const char *path)
{
	char name[512], bpath[PATH_MAX * 4], v[16];
	struct obj key = { .name = name }, *o;
	long long data = -1;
	struct stat st;
	int pin = 0;

	if (stat(path, &st) < 0) {
		fprintf(stderr, "fscobj: %s: %m\n", path);
		return 1;
	}
	if (!object_name(path, &st, name, sizeof(name)) &&
	    (o = bsearch(&key, objs, nobjs, sizeof(*objs), cmp_obj))) {
		snprintf(bpath, sizeof(bpath), "%s/%s", o->dir, o->name);
		data = seek_data_bytes(bpath);
		pin = getxattr(bpath, PIN_XATTR, v, sizeof(v)) >= 0;
	}
	printf("%lld %lld %d %s\n", (long long)st.st_size, data, pin, path);
	return 0;
}

static int cmd_check(int argc, char **argv)
{
	char *line = NULL;
	size_t lcap = 0;
	ssize_t n;
	int bad = 0, i;

	index_objects();
	if (argc > 0) {
		for (i = 0; i < argc; i++)
			bad |= check_one(argv[i]);
	} else {
		while ((n = getline(&line, &lcap, stdin)) > 0) {
			if (line[n - 1] == '\n')
				line[--n] = 0;
			if (n)
				bad |= check_one(line);
		}
		free(line);
	}
	fflush(stdout);
	return bad;
}

/*
 * Run cfctl with one "cull DIR/NAME" per argument and count its answers.
 * One cfctl per batch rather than per object: a fork+exec costs
 * milliseconds under TCG, and a pass covers thousands of objects.
 */
static int cull_batch(size_t from, size_t to, int *culled, int *busy,
		      int *other)
{
	char **argv, line[512];
	int pfd[2], status;
	size_t i, n = to - from;
	FILE *f;
	pid_t pid;
	int answers = 0;

	argv = xrealloc(NULL, (n + 2) * sizeof(*argv));
	argv[0] = "cfctl";
	for (i = 0; i < n; i++) {
		const struct obj *o = &objs[from + i];

		if (asprintf(&argv[i + 1], "cull %s/%s", o->dir, o->name) < 0)
			exit(3);
	}
	argv[n + 1] = NULL;
	if (pipe(pfd) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		execvp("cfctl", argv);
		_exit(127);
	}
	close(pfd[1]);
	f = fdopen(pfd[0], "r");
	while (f && fgets(line, sizeof(line), f)) {
		int err;

		answers++;
		if (!strncmp(line, "ok", 2))
			(*culled)++;
		else if (sscanf(line, "error %d", &err) == 1 && err == EBUSY)
			(*busy)++;
		else
			(*other)++;
	}
	if (f)
		fclose(f);
	waitpid(pid, &status, 0);
	for (i = 1; i <= n; i++)
		free(argv[i]);
	free(argv);
	return answers == (int)n ? 0 : -1;
}

static int cmd_cull_all(void)
{
	int culled = 0, busy = 0, other = 0, ipc = 0;
	size_t i;

	index_objects();
	for (i = 0; i < nobjs; i += CULL_BATCH) {
		size_t to = i + CULL_BATCH < nobjs ? i + CULL_BATCH : nobjs;

		if (cull_batch(i, to, &culled, &busy, &other))
			ipc = 1;
	}
	printf("culled %d busy %d other %d\n", culled, busy, other);
	if (ipc)
		fprintf(stderr, "fscobj: cfctl did not answer every command\n");
	return ipc ? 2 : 0;
}

int main(int argc, char **argv)
{
	struct timespec ts;

	if (argc >= 2 && !strcmp(argv[1], "check"))
		return cmd_check(argc - 2, argv + 2);
	if (argc == 2 && !strcmp(argv[1], "cull-all"))
		return cmd_cull_all();
	if (argc == 2 && !strcmp(argv[1], "count")) {
		index_objects();
		printf("%zu\n", nobjs);
		return 0;
	}
	if (argc == 2 && !strcmp(argv[1], "now")) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		printf("%lld.%09ld\n", (long long)ts.tv_sec, ts.tv_nsec);
		return 0;
	}
	fprintf(stderr, "usage: fscobj check [FILE...] | cull-all | count | now\n");
	return 2;
}
