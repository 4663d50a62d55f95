/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Helpers shared by the fcachectl() guest tests (tests/kernel/guest/).
 * Each test is one static program that prints TAP and exits 0 (pass),
 * 1 (fail) or 77 (skip).  See README in this directory.
 */
#ifndef CACHECTL_GUEST_H
#define CACHECTL_GUEST_H

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <linux/cachectl.h>

#ifndef __NR_fcachectl
#define __NR_fcachectl 1000
#endif

#define KSFT_SKIP_EXIT 77

/* Every helper is optional for a given test. */
#define T_HELPER static __attribute__((unused))

static int t_num, t_fail;

T_HELPER inline long fcachectl(int fd, unsigned int op,
			     struct cachectl_args *args, size_t size)
{
	return syscall(__NR_fcachectl, fd, op, args, size);
}

T_HELPER void __attribute__((format(printf, 2, 3)))
t_ok(int cond, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d - ", cond ? "" : "not ", ++t_num);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!cond)
		t_fail++;
}

T_HELPER void __attribute__((format(printf, 1, 2))) t_diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

T_HELPER void __attribute__((noreturn, format(printf, 1, 2)))
t_skip_all(const char *fmt, ...)
{
	va_list ap;

	printf("1..0 # SKIP ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	exit(KSFT_SKIP_EXIT);
}

T_HELPER int t_done(void)
{
	printf("1..%d\n", t_num);
	return t_fail ? 1 : 0;
}

/* Skip the whole program unless fcachectl() is there. */
T_HELPER void t_require_fcachectl(void)
{
	long r = fcachectl(-1, CACHECTL_OP_PROBE, NULL, 0);

	if (r != CACHECTL_PROBE_MAGIC)
		t_skip_all("fcachectl() not available (ret %ld, %s)", r,
			   strerror(errno));
}

T_HELPER const char *env_or(const char *name, const char *def)
{
	const char *v = getenv(name);

	return v && *v ? v : def;
}

#define NINEP_DIR  env_or("CACHECTL_9P", "/mnt/9p")
#define CACHE_DIR  env_or("CACHECTL_CACHE_DIR", "/mnt/cache")

T_HELPER void t_require_9p_fscache(void)
{
	char line[1024];
	int found = 0;
	FILE *f = fopen("/proc/mounts", "r");

	if (!f)
		t_skip_all("no /proc/mounts");
	while (fgets(line, sizeof(line), f)) {
		char dev[256], dir[256], type[64], opts[512];

		if (sscanf(line, "%255s %255s %63s %511s", dev, dir, type,
			   opts) != 4)
			continue;
		if (strcmp(dir, NINEP_DIR) || strcmp(type, "9p"))
			continue;
		/* 6.1 shows cache=fscache, later kernels the flags in hex
		 * (CACHE_FSCACHE is 0x80).
		 */
		if (strstr(opts, "fscache"))
			found = 1;
		else if (strstr(opts, "cache=0x") &&
			 (strtoul(strstr(opts, "cache=0x") + 8, NULL, 16) & 0x80))
			found = 1;
	}
	fclose(f);
	if (!found)
		t_skip_all("%s is not a 9p mount with cache=fscache", NINEP_DIR);
}

T_HELPER int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	close(fd);
	return n < 0 ? -errno : 0;
}

T_HELPER void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Drop page cache, dentries and inodes: evicting a 9p inode relinquishes its
 * cookie, which commits the cache object (tmpfiles get linked in). */
T_HELPER void drop_caches(void)
{
	sync();
	write_file("/proc/sys/vm/drop_caches", "3");
	/* Withdrawal is asynchronous: give the fscache worker a moment. */
	sleep_ms(500);
	write_file("/proc/sys/vm/drop_caches", "3");
	sleep_ms(500);
}

/* Create a file of size bytes with a recognisable pattern. */
T_HELPER int make_file(const char *path, off_t size)
{
	static char buf[1 << 16];
	off_t done = 0;
	int fd;

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(i * 7 + 3);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return -errno;
	while (done < size) {
		size_t n = size - done < (off_t)sizeof(buf) ?
			   (size_t)(size - done) : sizeof(buf);
		ssize_t w = write(fd, buf, n);

		if (w <= 0) {
			close(fd);
			return -EIO;
		}
		done += w;
	}
	if (fsync(fd) < 0 || close(fd) < 0)
		return -errno;
	return 0;
}

/* Read [off, off + len) of a file, discarding the data. */
T_HELPER int read_range(int fd, off_t off, off_t len)
{
	static char buf[1 << 16];

	while (len > 0) {
		ssize_t n = pread(fd, buf, len < (off_t)sizeof(buf) ?
				  (size_t)len : sizeof(buf), off);

		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		off += n;
		len -= n;
	}
	return 0;
}

/* Page cache bytes of a file measured from userspace with mincore(). */
T_HELPER long long mincore_bytes(int fd)
{
	long psz = sysconf(_SC_PAGESIZE);
	struct stat st;
	unsigned char *vec;
	long long bytes = 0;
	size_t pages;
	void *p;

	if (fstat(fd, &st) < 0)
		return -1;
	if (!st.st_size)
		return 0;
	pages = (st.st_size + psz - 1) / psz;
	p = mmap(NULL, st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -1;
	vec = malloc(pages);
	if (!vec || mincore(p, st.st_size, vec) < 0)
		bytes = -1;
	else
		for (size_t i = 0; i < pages; i++)
			if (vec[i] & 1)
				bytes += psz;
	free(vec);
	munmap(p, st.st_size);
	return bytes;
}

/* Bytes with data in a file, measured with SEEK_DATA/SEEK_HOLE. */
T_HELPER long long seek_data_bytes(const char *path)
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

/*
 * The cachefiles name of a 9p file: the cookie key is the little-endian
 * 64-bit qid.path, and 9p's inode number is qid.path + 2.  cachefiles
 * renders such a key as 32-bit words in hex, big- or little-endian,
 * whichever is shorter ("S" or "T" prefix), or base64 ("E") if neither
 * beats it (fs/cachefiles/key.c).
 */
T_HELPER unsigned int hexdigits(uint32_t x)
{
	unsigned int n = 0;

	while (x) {
		n++;
		x >>= 4;
	}
	return n;
}

T_HELPER void cachefiles_name_9p(ino_t ino, char *name, size_t len)
{
	uint64_t path = (uint64_t)ino - 2;
	uint8_t key[8];
	uint32_t le[2], be[2];
	unsigned int nle = 0, nbe = 0, i;

	for (i = 0; i < 8; i++)
		key[i] = (uint8_t)(path >> (8 * i));
	for (i = 0; i < 2; i++) {
		le[i] = key[4 * i] | key[4 * i + 1] << 8 |
			key[4 * i + 2] << 16 | (uint32_t)key[4 * i + 3] << 24;
		be[i] = (uint32_t)key[4 * i] << 24 | key[4 * i + 1] << 16 |
			key[4 * i + 2] << 8 | key[4 * i + 3];
		nle += 1 + hexdigits(le[i]);
		nbe += 1 + hexdigits(be[i]);
	}
	/* base64 of 8 bytes would be 2 + 3 * 4 = 14 characters */
	if (nbe >= 14 && nle >= 14) {
		snprintf(name, len, "E-unsupported");
	} else if (nbe <= nle) {
		snprintf(name, len, be[0] ? "S%x," : "S,", be[0]);
		snprintf(name + strlen(name), len - strlen(name),
			 be[1] ? "%x" : "", be[1]);
	} else {
		snprintf(name, len, le[0] ? "T%x," : "T,", le[0]);
		snprintf(name + strlen(name), len - strlen(name),
			 le[1] ? "%x" : "", le[1]);
	}
}

/*
 * Find the backing file of a 9p file in the cache:
 * CACHE_DIR/cache/I<volume>/@xx/<name>.  Only committed objects have one;
 * new objects are unlinked tmpfiles until their cookie is withdrawn.
 * On success fills path (the backing file) and dir (its fanout directory)
 * and returns 0; -ENOENT if not found.
 */
T_HELPER int backing_file(const char *ninep_path, char *path, size_t plen,
			char *dir, size_t dlen, char *leaf, size_t llen)
{
	char name[64], top[PATH_MAX], vol[PATH_MAX * 2];
	struct stat st;
	struct dirent *v, *f;
	DIR *dv, *df;
	int ret = -ENOENT;

	if (stat(ninep_path, &st) < 0)
		return -errno;
	cachefiles_name_9p(st.st_ino, name, sizeof(name));
	snprintf(top, sizeof(top), "%s/cache", CACHE_DIR);
	dv = opendir(top);
	if (!dv)
		return -errno;
	while (ret && (v = readdir(dv))) {
		if (v->d_name[0] != 'I')
			continue;
		snprintf(vol, sizeof(vol), "%s/%s", top, v->d_name);
		df = opendir(vol);
		if (!df)
			continue;
		while (ret && (f = readdir(df))) {
			char cand[PATH_MAX * 3];

			if (f->d_name[0] != '@')
				continue;
			snprintf(cand, sizeof(cand), "%s/%s/%s", vol,
				 f->d_name, name);
			if (!lstat(cand, &st) && S_ISREG(st.st_mode)) {
				snprintf(path, plen, "%s", cand);
				snprintf(dir, dlen, "%s/%s", vol, f->d_name);
				snprintf(leaf, llen, "%s", name);
				ret = 0;
			}
		}
		closedir(df);
	}
	closedir(dv);
	return ret;
}

/* fscache bytes of a 9p file measured on its backing file, -1 if none. */
T_HELPER long long backing_bytes(const char *ninep_path)
{
	char path[PATH_MAX * 4], dir[PATH_MAX * 4], leaf[64];

	if (backing_file(ninep_path, path, sizeof(path), dir, sizeof(dir),
			 leaf, sizeof(leaf)))
		return -1;
	return seek_data_bytes(path);
}

/*
 * Send one command to the rig's cache daemon (cfctl) and return 0 for "ok",
 * the positive errno for "error ERRNO ...", or -1 if cfctl did not answer.
 * cfctl_out() also keeps the answer's data (after "ok ") in @data.
 */
T_HELPER int cfctl_vout(char *data, size_t len, const char *fmt, va_list ap)
{
	char cmd[PATH_MAX * 5], sh[PATH_MAX * 5 + 64], out[16384] = "";
	FILE *p;
	int err;

	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	snprintf(sh, sizeof(sh), "cfctl '%s' 2>&1", cmd);
	p = popen(sh, "r");
	if (!p)
		return -1;
	if (!fgets(out, sizeof(out), p))
		out[0] = 0;
	pclose(p);
	out[strcspn(out, "\n")] = 0;
	if (!strncmp(out, "ok", 2)) {
		if (data)
			snprintf(data, len, "%s", out[2] ? out + 3 : "");
		return 0;
	}
	if (sscanf(out, "error %d", &err) == 1)
		return err < 0 ? -err : err;
	t_diag("cfctl %s: %s", cmd, out);
	return -1;
}

T_HELPER int __attribute__((format(printf, 3, 4)))
cfctl_out(char *data, size_t len, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = cfctl_vout(data, len, fmt, ap);
	va_end(ap);
	return r;
}

T_HELPER int __attribute__((format(printf, 1, 2))) cfctl(const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = cfctl_vout(NULL, 0, fmt, ap);
	va_end(ap);
	return r;
}

/*
 * Call @fn for every backing file in the volumes whose directory name
 * starts with @vol ("I" for all): CACHE_DIR/cache/<vol...>/@xx/<name>.
 */
T_HELPER void cache_objects(const char *vol,
			    void (*fn)(const char *path, void *data), void *data)
{
	char top[PATH_MAX], vdir[PATH_MAX * 2], fan[PATH_MAX * 3];
	char obj[PATH_MAX * 4];
	struct dirent *v, *f, *o;
	DIR *dv, *df, *dof;

	snprintf(top, sizeof(top), "%s/cache", CACHE_DIR);
	dv = opendir(top);
	if (!dv)
		return;
	while ((v = readdir(dv))) {
		if (strncmp(v->d_name, vol, strlen(vol)))
			continue;
		snprintf(vdir, sizeof(vdir), "%s/%s", top, v->d_name);
		df = opendir(vdir);
		while (df && (f = readdir(df))) {
			if (f->d_name[0] != '@')
				continue;
			snprintf(fan, sizeof(fan), "%s/%s", vdir, f->d_name);
			dof = opendir(fan);
			while (dof && (o = readdir(dof))) {
				if (o->d_name[0] == '.')
					continue;
				snprintf(obj, sizeof(obj), "%s/%s", fan, o->d_name);
				fn(obj, data);
			}
			if (dof)
				closedir(dof);
		}
		if (df)
			closedir(df);
	}
	closedir(dv);
}

/* A counter from /proc/fs/fscache/stats, e.g. ("IO", "rd"). */
T_HELPER long long fscache_stat(const char *line_tag, const char *key)
{
	char line[512], pat[64];
	long long v = -1;
	FILE *f = fopen("/proc/fs/fscache/stats", "r");

	if (!f)
		return -1;
	snprintf(pat, sizeof(pat), "%s=", key);
	while (fgets(line, sizeof(line), f)) {
		char *p;

		if (strncmp(line, line_tag, strlen(line_tag)) ||
		    (line[strlen(line_tag)] != ' ' &&
		     line[strlen(line_tag)] != ':'))
			continue;
		p = strstr(line, pat);
		if (p && (p == line || p[-1] == ' ' || p[-1] == ':'))
			v = strtoll(p + strlen(pat), NULL, 10);
	}
	fclose(f);
	return v;
}


/* Read bcull and bstop (in statfs blocks) from the daemon's state line
 * ("cull=0 frun=.. fcull=.. fstop=.. brun=.. bcull=.. bstop=..", hex).
 * *culling is set from "cull=". */
T_HELPER int cache_limits(unsigned long long *bcull, unsigned long long *bstop,
			  int *culling)
{
	char line[512] = "", *p;
	FILE *f = popen("cfctl state 2>&1", "r");

	if (!f)
		return -1;
	if (!fgets(line, sizeof(line), f))
		line[0] = 0;
	pclose(f);
	p = strstr(line, "cull=");
	if (culling)
		*culling = p ? p[5] == '1' : -1;
	p = strstr(line, " bcull=");
	if (!p || sscanf(p, " bcull=%llx", bcull) != 1)
		return -1;
	p = strstr(line, " bstop=");
	if (!p || sscanf(p, " bstop=%llx", bstop) != 1)
		return -1;
	return 0;
}

/* Take the cache filesystem down to about `left` available blocks with a
 * ballast file outside the cache directory.  Returns 0 on success. */
T_HELPER int ballast_fill(const char *ballast, unsigned long long left)
{
	struct statfs sfs;
	int fd, r = -1;

	if (statfs(CACHE_DIR, &sfs) < 0)
		return -1;
	fd = open(ballast, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return -1;
	if (sfs.f_bavail > left)
		r = fallocate(fd, 0, 0, (off_t)(sfs.f_bavail - left) *
			      sfs.f_bsize);
	close(fd);
	return r;
}

#endif
