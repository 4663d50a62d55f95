// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The pin store: one small text file per scope (see cachectl-pins(5)).
 *
 *   cachectl-pins 1
 *   pin soft r- 0 0 /home/me/work
 *   pin hard ri 10 1073741824 /data/set
 *   end 2 8c1f0a55e3a9d4b2
 *
 * The last line counts the pins and carries a 64-bit FNV-1a hash of every
 * byte before it, so a damaged file is told from a good one. Changes are
 * made under flock(2) on a lock file, by writing a new file, fsync, and
 * rename(2) over the old one, then fsync of the directory: at any instant
 * of a crash the store is the old set or the new one. A store that fails
 * its checks is never overwritten: a person has to look at it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cachectl-private.h"
#include "common/escape.h"
#include "pin-private.h"

#define MAGIC "cachectl-pins "
#define VERSION 1
#define MAX_STORE (64u << 20)

struct cachectl_pinstore {
	int refcount;
	struct cachectl_ctx *ctx;
	int scope;
	char *dir;
	char *path;
	struct cachectl_pin **pins;
	size_t n;
};

static char *join(const char *a, const char *b)
{
	char *s;

	if (asprintf(&s, "%s/%s", a, b) < 0)
		return NULL;
	return s;
}

CACHECTL_EXPORT int cachectl_scope_get_state_dir(int scope, char **ret)
{
	const char *env = secure_getenv("CACHECTL_STATE_DIR");
	const char *xdg, *home;
	char *s = NULL;

	if ((scope != CACHECTL_SCOPE_USER && scope != CACHECTL_SCOPE_SYSTEM) ||
	    !ret)
		return -EINVAL;
	if (env && *env)
		s = strdup(env);
	else if (scope == CACHECTL_SCOPE_SYSTEM)
		s = strdup("/var/lib/cachectl");
	else if ((xdg = secure_getenv("XDG_STATE_HOME")) && *xdg == '/')
		s = join(xdg, "cachectl");
	else {
		struct passwd *pw;

		home = secure_getenv("HOME");
		if (!home || *home != '/') {
			pw = getpwuid(getuid());
			home = pw ? pw->pw_dir : NULL;
		}
		if (!home)
			return -ENOENT;
		if (asprintf(&s, "%s/.local/state/cachectl", home) < 0)
			s = NULL;
	}
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

static uint64_t fnv1a(const char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	while (n--) {
		h ^= (unsigned char)*p++;
		h *= 0x100000001b3ull;
	}
	return h;
}

static void pins_free(struct cachectl_pin **pins, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		cachectl_pin_unref(pins[i]);
	free(pins);
}

static int parse_line(struct cachectl_pinstore *st, char *line,
		      struct cachectl_pin **ret)
{
	char mode[8], opts[8];
	int prio, used = 0;
	unsigned long long budget;
	unsigned int flags = 0;
	char *path;
	int r;

	if (sscanf(line, "pin %7s %7s %d %llu %n", mode, opts, &prio, &budget,
		   &used) != 4 || !used)
		return -EBADMSG;
	path = line + used;
	if (!strcmp(mode, "hard"))
		flags |= CACHECTL_PIN_HARD;
	else if (strcmp(mode, "soft"))
		return -EBADMSG;
	if (strlen(opts) != 2 || (opts[0] != 'r' && opts[0] != '-') ||
	    (opts[1] != 'i' && opts[1] != '-'))
		return -EBADMSG;
	if (opts[0] == 'r')
		flags |= CACHECTL_PIN_RECURSIVE;
	if (opts[1] == 'i')
		flags |= CACHECTL_PIN_INHERIT;
	if (*path != '/' || cc_hex_unescape(path) < 0)
		return -EBADMSG;
	r = cachectl__pin_alloc(st->ctx, path, flags, ret);
	if (r < 0)
		return r == -EINVAL ? -EBADMSG : r;
	if (cachectl_pin_set_priority(*ret, prio) < 0) {
		*ret = cachectl_pin_unref(*ret);
		return -EBADMSG;
	}
	(*ret)->budget = budget;
	return 0;
}

/* Parse a whole store image; on error *ret_line says where. */
static int parse(struct cachectl_pinstore *st, char *buf, size_t len,
		 struct cachectl_pin ***ret_pins, size_t *ret_n,
		 unsigned int *ret_line)
{
	struct cachectl_pin **pins = NULL;
	size_t n = 0, cap = 0, count;
	unsigned long long hash;
	unsigned int version, lineno = 1;
	char *line = buf, *next, *end_line;
	int r = 0, used = 0;

	*ret_line = 1;
	if (!len)
		return -EBADMSG;
	if (memchr(buf, '\0', len))
		return strncmp(buf, MAGIC, strlen(MAGIC)) ? -EPROTONOSUPPORT
							  : -EBADMSG;
	if (strncmp(buf, MAGIC, strlen(MAGIC)))
		return -EPROTONOSUPPORT;	/* not ours */
	if (sscanf(buf + strlen(MAGIC), "%u", &version) != 1)
		return -EBADMSG;
	if (version != VERSION)
		return -EPROTONOSUPPORT;	/* a newer format */
	if (!len || buf[len - 1] != '\n')
		return -EBADMSG;		/* cut short */
	buf[len - 1] = '\0';
	end_line = strrchr(buf, '\n');
	if (!end_line)
		return -EBADMSG;
	end_line++;
	if (sscanf(end_line, "end %zu %16llx%n", &count, &hash, &used) != 2 ||
	    end_line[used] || fnv1a(buf, (size_t)(end_line - buf)) != hash) {
		*ret_line = 0;
		return -EBADMSG;
	}
	end_line[-1] = '\0';
	next = strchr(line, '\n');
	line = next ? next + 1 : NULL;
	for (; line && line < end_line; line = next) {
		struct cachectl_pin *p, **np;

		lineno++;
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		r = parse_line(st, line, &p);
		if (r < 0)
			goto fail;
		if (n == cap) {
			/* doubling: a realloc that copies must not copy n times */
			cap = cap ? 2 * cap : 16;
			np = realloc(pins, cap * sizeof(*np));
			if (!np) {
				cachectl_pin_unref(p);
				r = -ENOMEM;
				goto fail;
			}
			pins = np;
		}
		pins[n++] = p;
	}
	if (n != count) {
		lineno = 0;
		r = -EBADMSG;
		goto fail;
	}
	*ret_pins = pins;
	*ret_n = n;
	return 0;
fail:
	*ret_line = lineno;
	pins_free(pins, n);
	return r;
}

static int load(struct cachectl_pinstore *st)
{
	struct cachectl_pin **pins = NULL;
	unsigned int line;
	struct stat sb;
	size_t n = 0;
	char *buf;
	ssize_t got;
	int fd, r;

	fd = open(st->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		if (errno != ENOENT)
			return -errno;
		pins_free(st->pins, st->n);
		st->pins = NULL;
		st->n = 0;
		return 0;	/* no store yet: no pins */
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) ||
	    (uint64_t)sb.st_size > MAX_STORE) {
		r = S_ISREG(sb.st_mode) ? -EFBIG : -EPROTONOSUPPORT;
		close(fd);
		err(st->ctx, "%s: not a pin store\n", st->path);
		return r;
	}
	buf = malloc((size_t)sb.st_size + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	got = read(fd, buf, (size_t)sb.st_size);
	close(fd);
	if (got != sb.st_size) {
		free(buf);
		return got < 0 ? -errno : -EBADMSG;
	}
	buf[got] = '\0';
	r = parse(st, buf, (size_t)got, &pins, &n, &line);
	free(buf);
	if (r == -EBADMSG) {
		if (line)
			err(st->ctx, "%s:%u: damaged pin store; not touching it\n",
			    st->path, line);
		else
			err(st->ctx, "%s: damaged pin store (checksum or count); "
			    "not touching it\n", st->path);
		return r;
	}
	if (r == -EPROTONOSUPPORT) {
		err(st->ctx, "%s: not a cachectl-pins %d store; not touching it\n",
		    st->path, VERSION);
		return r;
	}
	if (r < 0)
		return r;
	pins_free(st->pins, st->n);
	st->pins = pins;
	st->n = n;
	return 0;
}

CACHECTL_EXPORT int cachectl_pinstore_open(struct cachectl_ctx *ctx, int scope,
					   struct cachectl_pinstore **ret_store)
{
	struct cachectl_pinstore *st;
	int r;

	if (!ctx || !ret_store)
		return -EINVAL;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->refcount = 1;
	st->ctx = cachectl_ref(ctx);
	st->scope = scope;
	r = cachectl_scope_get_state_dir(scope, &st->dir);
	if (r < 0)
		goto fail;
	st->path = join(st->dir, "pins");
	if (!st->path) {
		r = -ENOMEM;
		goto fail;
	}
	r = load(st);
	if (r < 0)
		goto fail;
	*ret_store = st;
	return 0;
fail:
	cachectl_pinstore_unref(st);
	return r;
}

CACHECTL_EXPORT struct cachectl_pinstore *
cachectl_pinstore_ref(struct cachectl_pinstore *st)
{
	if (st)
		st->refcount++;
	return st;
}

CACHECTL_EXPORT struct cachectl_pinstore *
cachectl_pinstore_unref(struct cachectl_pinstore *st)
{
	if (!st)
		return NULL;
	if (--st->refcount > 0)
		return st;
	pins_free(st->pins, st->n);
	cachectl_unref(st->ctx);
	free(st->dir);
	free(st->path);
	free(st);
	return NULL;
}

CACHECTL_EXPORT const char *
cachectl_pinstore_get_path(const struct cachectl_pinstore *st)
{
	return st ? st->path : NULL;
}

CACHECTL_EXPORT size_t
cachectl_pinstore_get_count(const struct cachectl_pinstore *st)
{
	return st ? st->n : 0;
}

CACHECTL_EXPORT struct cachectl_pin *
cachectl_pinstore_get_pin(const struct cachectl_pinstore *st, size_t i)
{
	return st && i < st->n ? st->pins[i] : NULL;
}

CACHECTL_EXPORT int cachectl_pinstore_reload(struct cachectl_pinstore *st)
{
	return st ? load(st) : -EINVAL;
}

static int mkdir_p(const char *dir, mode_t mode)
{
	char *p = strdup(dir), *s;
	int r = 0;

	if (!p)
		return -ENOMEM;
	for (s = p + 1; ; s++) {
		char c = *s;

		if (c != '/' && c)
			continue;
		*s = '\0';
		if (mkdir(p, c ? 0755 : mode) < 0 && errno != EEXIST) {
			r = -errno;
			break;
		}
		*s = c;
		if (!c)
			break;
	}
	free(p);
	return r;
}

/* Serialise @pins, then replace the store with it atomically. */
static int commit(struct cachectl_pinstore *st, struct cachectl_pin **pins,
		  size_t n)
{
	mode_t mode = st->scope == CACHECTL_SCOPE_USER ? 0600 : 0644;
	char *buf = NULL, *tmp = NULL;
	struct cc_escbuf esc = { 0 };
	size_t len = 0, i;
	FILE *f;
	int fd = -1, dfd = -1, r = 0;

	f = open_memstream(&buf, &len);
	if (!f)
		return -ENOMEM;
	fprintf(f, "%s%d\n", MAGIC, VERSION);
	for (i = 0; i < n; i++) {
		const struct cachectl_pin *p = pins[i];
		const char *path = cc_escbuf_hex(&esc, p->path, 0);

		if (!path)
			break;
		fprintf(f, "pin %s %c%c %d %llu %s\n",
			p->flags & CACHECTL_PIN_HARD ? "hard" : "soft",
			p->flags & CACHECTL_PIN_RECURSIVE ? 'r' : '-',
			p->flags & CACHECTL_PIN_INHERIT ? 'i' : '-',
			p->priority, (unsigned long long)p->budget, path);
	}
	cc_escbuf_free(&esc);
	if (fclose(f) != 0 || i < n) {
		free(buf);
		return -ENOMEM;
	}

	if (asprintf(&tmp, "%s/.pins.XXXXXX", st->dir) < 0) {
		free(buf);
		return -ENOMEM;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	if (dprintf(fd, "%send %zu %016llx\n", buf, n,
		    (unsigned long long)fnv1a(buf, len)) < 0 ||
	    fchmod(fd, mode) < 0 || fsync(fd) < 0) {
		r = -errno;
		goto out_unlink;
	}
	if (close(fd) < 0) {
		fd = -1;
		r = -errno;
		goto out_unlink;
	}
	fd = -1;
	if (rename(tmp, st->path) < 0) {
		r = -errno;
		goto out_unlink;
	}
	/* the rename itself must reach the disk too */
	dfd = open(st->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) < 0)
		r = -errno;
	if (dfd >= 0)
		close(dfd);
	goto out;
out_unlink:
	unlink(tmp);
out:
	if (fd >= 0)
		close(fd);
	free(tmp);
	free(buf);
	return r;
}

/*
 * A writer killed between mkstemp and rename leaves its temporary file.
 * Whoever holds the lock is the only writer, so any other one is stale.
 */
static void remove_stale_temps(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d)))
		if (!strncmp(e->d_name, ".pins.", 6))
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
}

static int lock_store(struct cachectl_pinstore *st)
{
	char *lock;
	int fd, r;

	r = mkdir_p(st->dir, st->scope == CACHECTL_SCOPE_USER ? 0700 : 0755);
	if (r < 0)
		return r;
	lock = join(st->dir, "pins.lock");
	if (!lock)
		return -ENOMEM;
	fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	free(lock);
	if (fd < 0)
		return -errno;
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			r = -errno;
			close(fd);
			return r;
		}
	}
	remove_stale_temps(st->dir);
	return fd;
}

static ssize_t find(struct cachectl_pinstore *st, const char *path)
{
	size_t i;

	for (i = 0; i < st->n; i++)
		if (!strcmp(st->pins[i]->path, path))
			return (ssize_t)i;
	return -1;
}

CACHECTL_EXPORT int cachectl_pinstore_add(struct cachectl_pinstore *st,
					  struct cachectl_pin *pin)
{
	struct cachectl_pin **pins;
	ssize_t at;
	int lk, r;

	if (!st || !pin)
		return -EINVAL;
	lk = lock_store(st);
	if (lk < 0)
		return lk;
	/* @pin may be one of ours, which reloading lets go of */
	cachectl_pin_ref(pin);
	r = load(st);	/* others may have changed it since we read it */
	if (r < 0)
		goto out;
	at = find(st, pin->path);
	pins = malloc((st->n + 1) * sizeof(*pins));
	if (!pins) {
		r = -ENOMEM;
		goto out;
	}
	if (st->n)
		memcpy(pins, st->pins, st->n * sizeof(*pins));
	if (at >= 0)
		pins[at] = pin;
	else
		pins[st->n] = pin;
	r = commit(st, pins, at >= 0 ? st->n : st->n + 1);
	free(pins);
	if (r < 0)
		goto out;
	cachectl_pin_ref(pin);
	if (at >= 0) {
		cachectl_pin_unref(st->pins[at]);
		st->pins[at] = pin;
	} else {
		pins = realloc(st->pins, (st->n + 1) * sizeof(*pins));
		if (!pins) {
			cachectl_pin_unref(pin);
			r = load(st);	/* on disk it is there: reread */
			goto out;
		}
		st->pins = pins;
		st->pins[st->n++] = pin;
	}
out:
	cachectl_pin_unref(pin);
	close(lk);
	return r;
}

CACHECTL_EXPORT int cachectl_pinstore_remove(struct cachectl_pinstore *st,
					     const char *path)
{
	char *canonical, *own;
	ssize_t at;
	int lk, r;

	if (!st || !path || !*path)
		return -EINVAL;
	/* @path may be one of our pins', which reloading lets go of */
	own = strdup(path);
	if (!own)
		return -ENOMEM;
	lk = lock_store(st);
	if (lk < 0) {
		free(own);
		return lk;
	}
	r = load(st);
	if (r < 0)
		goto out;
	/* a pin's own path needs no resolving (which could hang on its fs) */
	at = find(st, own);
	if (at < 0) {
		canonical = cachectl__pin_path(own);
		at = canonical ? find(st, canonical) : -1;
		free(canonical);
	}
	if (at < 0) {
		r = -ENOENT;
		goto out;
	}
	{
		struct cachectl_pin *gone = st->pins[at];

		memmove(st->pins + at, st->pins + at + 1,
			(st->n - (size_t)at - 1) * sizeof(*st->pins));
		st->n--;
		r = commit(st, st->pins, st->n);
		if (r < 0) {
			/* not removed on disk: put it back */
			memmove(st->pins + at + 1, st->pins + at,
				(st->n - (size_t)at) * sizeof(*st->pins));
			st->pins[at] = gone;
			st->n++;
			goto out;
		}
		cachectl_pin_unref(gone);
	}
out:
	free(own);
	close(lk);
	return r;
}
