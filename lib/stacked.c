// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Which file holds the pages of a file on a stacked filesystem.
 *
 * overlayfs keeps no pages in its own inodes: reads, writes, mmap and
 * fadvise go to the file of the layer that holds the data, so cachestat(2)
 * on an overlay fd sees an empty mapping. The real file is found the way
 * overlayfs finds it, from the mount's options: the upper layer first,
 * then each lower layer in order, stopping at a whiteout or at a
 * directory marked opaque. The mount table may name paths of another
 * mount namespace (a container's), and redirects or metacopy uppers may
 * put the data elsewhere, so a candidate is taken only if it is the file
 * overlayfs reports: same size, mtime and blocks (a metacopy upper has
 * none), and for a lower layer the same inode number (overlayfs shows the
 * lower's, in the low bits when xino packs a layer number above them).
 * Otherwise the caller says what a mapping shows, or that it cannot know.
 *
 * The last overlay mount looked up is kept per context: a walk asks for
 * every file of the same mount, and the table is read only on a change.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <libmount.h>

#include "cachectl-private.h"

#define OVERLAYFS_MAGIC 0x794c7630
#define FUSE_MAGIC 0x65735546

/*
 * CACHECTL__STACKED_*, asked only of empty answers. Both kinds live on
 * anonymous devices (major 0), so a disk's files cost nothing; fstatfs on
 * FUSE is a round trip to its server, so each device is asked once in a
 * row (a walk stays on one) and @st, when given, tells it.
 */
int cachectl__stacked_kind(struct cachectl_ctx *ctx, int fd,
			   const struct stat *st)
{
	struct statfs sf;
	int kind = -1;

	if (st && major(st->st_dev) != 0)
		return CACHECTL__STACKED_NO;
	if (st) {
		pthread_mutex_lock(&ctx->stacked_lock);
		if (ctx->stacked_kind && ctx->stacked_dev == st->st_dev)
			kind = ctx->stacked_kind - 1;
		pthread_mutex_unlock(&ctx->stacked_lock);
		if (kind >= 0)
			return kind;
	}
	if (!ctx->ops->fstatfs || ctx->ops->fstatfs(fd, &sf) < 0)
		return CACHECTL__STACKED_NO;
	kind = sf.f_type == OVERLAYFS_MAGIC ? CACHECTL__STACKED_OVERLAY :
	       sf.f_type == FUSE_MAGIC ? CACHECTL__STACKED_FUSE :
	       CACHECTL__STACKED_NO;
	if (st) {
		pthread_mutex_lock(&ctx->stacked_lock);
		ctx->stacked_dev = st->st_dev;
		ctx->stacked_kind = kind + 1;
		pthread_mutex_unlock(&ctx->stacked_lock);
	}
	return kind;
}

/*
 * The same without asking the filesystem, whose server may never answer
 * (a FUSE server's statfs, on a hung mount): the device from statx()
 * without a sync, then what the last answer for that device said. -1
 * when only asking would tell.
 */
int cachectl__stacked_kind_nowait(struct cachectl_ctx *ctx, int fd)
{
	struct statx stx;
	dev_t dev;
	int kind = -1;

	if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, 0, &stx) < 0)
		return -1;
	if (stx.stx_dev_major != 0)
		return CACHECTL__STACKED_NO;
	dev = makedev(stx.stx_dev_major, stx.stx_dev_minor);
	pthread_mutex_lock(&ctx->stacked_lock);
	if (ctx->stacked_kind && ctx->stacked_dev == dev)
		kind = ctx->stacked_kind - 1;
	pthread_mutex_unlock(&ctx->stacked_lock);
	return kind;
}

struct cachectl__stacked {
	int refcount;
	int mnt_id;
	char *target;		/* the mount point */
	char *root;		/* what of the overlay is mounted there */
	char **layers;		/* upper (or NULL), then the lowers */
	size_t nlayers;
	bool has_upper;
	const char *xattr;	/* "trusted.overlay." or "user.overlay." */
};

static void layers_unref(struct cachectl__stacked *s)
{
	size_t i;

	if (!s || __atomic_sub_fetch(&s->refcount, 1, __ATOMIC_ACQ_REL))
		return;
	for (i = 0; i < s->nlayers; i++)
		free(s->layers[i]);
	free(s->layers);
	free(s->target);
	free(s->root);
	free(s);
}

void cachectl__stacked_free(struct cachectl_ctx *ctx)
{
	layers_unref(ctx->stacked);
	ctx->stacked = NULL;
}

/* mountinfo's octal escapes (\040) and the user's escaped colons (\:) */
static char *unescape(const char *s, size_t n)
{
	char *d = malloc(n + 1), *p = d;
	size_t i;

	if (!d)
		return NULL;
	for (i = 0; i < n; i++) {
		if (s[i] == '\\' && i + 3 < n + 1 && s[i + 1] >= '0' &&
		    s[i + 1] <= '3' && s[i + 2] >= '0' && s[i + 2] <= '7' &&
		    s[i + 3] >= '0' && s[i + 3] <= '7') {
			*p++ = (char)((s[i + 1] - '0') << 6 |
				      (s[i + 2] - '0') << 3 | (s[i + 3] - '0'));
			i += 3;
		} else if (s[i] == '\\' && i + 1 < n) {
			*p++ = s[++i];
		} else {
			*p++ = s[i];
		}
	}
	*p = '\0';
	return d;
}

static int add_layer(struct cachectl__stacked *s, const char *v, size_t n)
{
	char **nl = realloc(s->layers, (s->nlayers + 1) * sizeof(*nl));

	if (!nl)
		return -ENOMEM;
	s->layers = nl;
	nl[s->nlayers] = unescape(v, n);
	if (!nl[s->nlayers])
		return -ENOMEM;
	s->nlayers++;
	return 0;
}

/*
 * "a:b::c": lowers a and b; after "::" come data-only layers, which hold
 * data only for metacopy files redirected there and are never looked up
 * by name. Returns 1 when the data-only part began.
 */
static int add_lowers(struct cachectl__stacked *s, const char *v, size_t n)
{
	size_t i = 0, start = 0;
	int r;

	for (i = 0; i <= n; i++) {
		if (i < n && v[i] == '\\') {
			i++;
			continue;
		}
		if (i < n && v[i] != ':')
			continue;
		if (i == start)
			return 1;
		r = add_layer(s, v + start, i - start);
		if (r < 0)
			return r;
		start = i + 1;
	}
	return 0;
}

static int parse_options(struct cachectl__stacked *s, const char *opts)
{
	char *o = (char *)opts, *name, *val;
	size_t nn, vn;
	bool data_only = false;
	char *upper = NULL;
	int r = 0;

	/* the upper is layer 0 whatever the order of the options */
	r = add_layer(s, "", 0);
	while (r >= 0 && mnt_optstr_next_option(&o, &name, &nn, &val, &vn) == 0) {
		if (!val)
			continue;
		if (nn == 8 && !strncmp(name, "upperdir", 8)) {
			free(upper);
			upper = unescape(val, vn);
			if (!upper)
				r = -ENOMEM;
		} else if (!data_only &&
			   ((nn == 8 && !strncmp(name, "lowerdir", 8)) ||
			    (nn == 9 && !strncmp(name, "lowerdir+", 9)))) {
			r = add_lowers(s, val, vn);
			data_only = r == 1;
		} else if (nn == 8 && !strncmp(name, "datadir+", 8)) {
			data_only = true;
		}
	}
	if (r >= 0 && upper) {
		free(s->layers[0]);
		s->layers[0] = upper;
		s->has_upper = true;
		upper = NULL;
	}
	free(upper);
	return r < 0 ? r : 0;
}

static struct cachectl__stacked *layers_load(int mnt_id)
{
	struct libmnt_table *tb = cachectl__mount_table();
	struct libmnt_iter *it = mnt_new_iter(MNT_ITER_BACKWARD);
	struct cachectl__stacked *s = NULL;
	struct libmnt_fs *fs;

	while (tb && it && mnt_table_next_fs(tb, it, &fs) == 0) {
		const char *type = mnt_fs_get_fstype(fs);
		const char *opts = mnt_fs_get_fs_options(fs);

		if (mnt_fs_get_id(fs) != mnt_id)
			continue;
		if (!type || strcmp(type, "overlay") || !opts ||
		    !mnt_fs_get_target(fs))
			break;
		s = calloc(1, sizeof(*s));
		if (!s)
			break;
		s->refcount = 1;
		s->mnt_id = mnt_id;
		s->target = strdup(mnt_fs_get_target(fs));
		s->root = strdup(mnt_fs_get_root(fs) ? mnt_fs_get_root(fs) : "/");
		s->xattr = mnt_optstr_get_option(opts, "userxattr", NULL,
						 NULL) == 0 ?
			   "user.overlay." : "trusted.overlay.";
		if (!s->target || !s->root || parse_options(s, opts) < 0 ||
		    s->nlayers < 2) {
			layers_unref(s);
			s = NULL;
		}
		break;
	}
	mnt_free_iter(it);
	mnt_unref_table(tb);
	return s;
}

static struct cachectl__stacked *layers_get(struct cachectl_ctx *ctx,
					    int mnt_id)
{
	struct cachectl__stacked *s, *old;

	pthread_mutex_lock(&ctx->stacked_lock);
	s = ctx->stacked;
	if (s && s->mnt_id == mnt_id)
		__atomic_add_fetch(&s->refcount, 1, __ATOMIC_RELAXED);
	else
		s = NULL;
	pthread_mutex_unlock(&ctx->stacked_lock);
	if (s)
		return s;

	s = layers_load(mnt_id);
	if (!s)
		return NULL;
	__atomic_add_fetch(&s->refcount, 1, __ATOMIC_RELAXED);
	pthread_mutex_lock(&ctx->stacked_lock);
	old = ctx->stacked;
	ctx->stacked = s;
	pthread_mutex_unlock(&ctx->stacked_lock);
	layers_unref(old);
	return s;
}

static bool xattr_is(struct cachectl_ctx *ctx, const struct cachectl__stacked *s,
		     const char *path, const char *name)
{
	char key[64], v[2];

	snprintf(key, sizeof(key), "%s%s", s->xattr, name);
	return ctx->ops->getxattr(path, key, v, sizeof(v)) == 1 && v[0] == 'y';
}

/*
 * Is a directory on the way to @rel in the layer @path opaque, hiding
 * the layers below? @path is the layer's copy of @rel, cut back in place.
 * Without CAP_SYS_ADMIN the trusted xattrs read as absent; the match
 * test then rejects a lower file that is not the one shown.
 */
static bool opaque_above(struct cachectl_ctx *ctx,
			 const struct cachectl__stacked *s, char *path,
			 size_t base)
{
	size_t n = strlen(path);
	bool opaque = false;
	char *slash;

	/* from the top down: a directory missing here has no children */
	for (slash = strchr(path + base + 1, '/'); slash && !opaque;
	     slash = strchr(slash + 1, '/')) {
		struct stat ds;

		*slash = '\0';
		if (ctx->ops->fstatat(AT_FDCWD, path, &ds, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISDIR(ds.st_mode)) {
			*slash = '/';
			break;
		}
		opaque = xattr_is(ctx, s, path, "opaque");
		*slash = '/';
	}
	path[n] = '\0';
	return opaque;
}

static bool same_file(const struct stat *ov, const struct stat *rs, bool lower)
{
	if (!S_ISREG(rs->st_mode) || rs->st_size != ov->st_size ||
	    rs->st_blocks != ov->st_blocks ||
	    rs->st_mtim.tv_sec != ov->st_mtim.tv_sec ||
	    rs->st_mtim.tv_nsec != ov->st_mtim.tv_nsec)
		return false;
	/* an upper copy shows its origin's number, which we cannot read */
	return !lower || (uint32_t)rs->st_ino == (uint32_t)ov->st_ino;
}

static int open_in_layers(struct cachectl_ctx *ctx,
			  const struct cachectl__stacked *s, const char *rel,
			  const struct stat *st)
{
	const struct cachectl_sysops *o = ctx->ops;
	char path[4096];
	size_t i;

	for (i = s->has_upper ? 0 : 1; i < s->nlayers; i++) {
		size_t base = strlen(s->layers[i]);
		struct stat rs, fs;
		int fd, r;

		if ((size_t)snprintf(path, sizeof(path), "%s%s", s->layers[i],
				     rel) >= sizeof(path))
			return -ENAMETOOLONG;
		r = o->fstatat(AT_FDCWD, path, &rs, AT_SYMLINK_NOFOLLOW);
		if (r == -ENOENT || r == -ENOTDIR) {
			if (i + 1 < s->nlayers && opaque_above(ctx, s, path, base))
				return -ENOENT;
			continue;
		}
		if (r < 0)
			return r;
		/* a whiteout, or something overlayfs would not show as this */
		if (S_ISCHR(rs.st_mode) && rs.st_rdev == 0)
			return -ENOENT;
		/* metadata here, data in a layer below */
		if (S_ISREG(rs.st_mode) && xattr_is(ctx, s, path, "metacopy") &&
		    i + 1 < s->nlayers)
			continue;
		if (!same_file(st, &rs, i > 0))
			return -ESTALE;
		fd = o->openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW |
			       O_NONBLOCK | O_NOCTTY);
		if (fd < 0)
			return fd;
		/* swapped since the stat */
		if (o->fstat(fd, &fs) < 0 || fs.st_dev != rs.st_dev ||
		    fs.st_ino != rs.st_ino) {
			o->close(fd);
			return -ESTALE;
		}
		return fd;
	}
	return -ENOENT;
}

/*
 * An fd of the file holding the pages of overlayfs file @fd (stat @st),
 * for the caller to close, or -errno: -ENOENT, -ESTALE when it cannot be
 * found or is not the one overlayfs shows, -EACCES when the layers are not
 * ours to open.
 */
int cachectl__stacked_open(struct cachectl_ctx *ctx, int fd,
			   const struct stat *st)
{
	struct cachectl__stacked *s;
	char path[4096], rel[4096];
	size_t tn;
	int id, r;

	if (!ctx->ops->fd_path)
		return -EOPNOTSUPP;
	id = ctx->ops->fd_path(fd, path, sizeof(path));
	if (id < 0)
		return id;
	s = layers_get(ctx, id);
	if (!s)
		return -ENOENT;
	tn = strlen(s->target);
	if (!strcmp(s->target, "/"))
		tn = 0;
	if (strncmp(path, s->target, tn) || path[tn] != '/') {
		r = -ENOENT;	/* unlinked, or outside our namespace's view */
		goto out;
	}
	if ((size_t)snprintf(rel, sizeof(rel), "%s%s",
			     strcmp(s->root, "/") ? s->root : "",
			     path + tn) >= sizeof(rel)) {
		r = -ENAMETOOLONG;
		goto out;
	}
	r = open_in_layers(ctx, s, rel, st);
	dbg(ctx, "%s: the pages' file: %s\n", path, r >= 0 ? "found" :
	    strerror(-r));
out:
	layers_unref(s);
	return r;
}
