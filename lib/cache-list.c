// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The fscache caches behind network filesystems. The kernel lists them in
 * /proc/fs/fscache/caches; cachefilesd.conf says where its cache lives and
 * when it culls; which mounts use fscache is in the mount table (read with
 * libmount); and with the kernel backend, a query of a file a cache holds
 * tells whether culling is off and the cache full.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <libmount/libmount.h>

#include "cachectl-private.h"

#define PROC_FSCACHE "/proc/fs/fscache"
#define CACHEFILESD_CONF "/etc/cachefilesd.conf"
#define CACHEFILESD_TAG "CacheFiles"	/* cachefilesd's default tag */

/* cachefilesd's defaults when its configuration leaves them out */
static const int th_default[CACHECTL_CACHE_TH_COUNT] = { 10, 7, 3, 10, 7, 3 };
static const char *const th_names[CACHECTL_CACHE_TH_COUNT] = {
	"brun", "bcull", "bstop", "frun", "fcull", "fstop",
};

struct cachectl_cache {
	struct cachectl_cache_list *list;
	size_t idx;
	uint64_t id;
	int vols, objs;			/* -1: not in the kernel's list */
	int state;			/* CACHECTL_CACHE_STATE_* */
	char *name;
	char *file;			/* a file it holds, found by a walk */
	uint64_t file_state;		/* CACHECTL_CACHE_* of that file */
};

struct cachectl_cache_list {
	int refcount;
	struct cachectl_ctx *ctx;
	unsigned int flags;		/* CACHECTL_CACHE_LIST_* */
	struct cachectl_cache **caches;	/* stable: walks add to the array */
	size_t n;
	size_t unseen;			/* caches the walk has not met yet */
	char *dir, *tag;		/* from cachefilesd.conf */
	int th[CACHECTL_CACHE_TH_COUNT];
};

/* test hooks: a fake list of caches, configuration and mount table */
static const char *path_or(const char *env, const char *def)
{
	const char *v = secure_getenv(env);

	return v && *v ? v : def;
}

/* ---- cachefilesd.conf ------------------------------------------------- */

static int parse_pct(const char *s, int *ret)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || v < 0 || v >= 100 ||
	    (*end && strcmp(end, "%")))
		return -EINVAL;
	*ret = (int)v;
	return 0;
}

static int set_str(char **dst, const char *val)
{
	char *s = strdup(val);

	if (!s)
		return -ENOMEM;
	free(*dst);
	*dst = s;
	return 0;
}

/* "dir PATH", "tag NAME", "brun 10%", ...; '#' starts a comment line */
static int conf_load(struct cachectl_cache_list *l, const char *path,
		     bool must)
{
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0, lineno = 0;
	int i, r = 0;

	if (!f) {
		if (!must && errno == ENOENT)
			return 0;
		return -errno;
	}
	l->flags |= CACHECTL_CACHE_LIST_CONFIG;
	while (r >= 0 && getline(&line, &cap, f) > 0) {
		char *key, *val, *end;

		lineno++;
		line[strcspn(line, "\n")] = '\0';
		key = line + strspn(line, " \t");
		if (!*key || *key == '#')
			continue;
		val = key + strcspn(key, " \t");
		if (*val)
			*val++ = '\0';
		val += strspn(val, " \t");
		end = val + strlen(val);
		while (end > val && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		if (!strcmp(key, "dir") && *val) {
			r = set_str(&l->dir, val);
			continue;
		}
		if (!strcmp(key, "tag") && *val) {
			r = set_str(&l->tag, val);
			continue;
		}
		for (i = 0; i < CACHECTL_CACHE_TH_COUNT; i++)
			if (!strcmp(key, th_names[i]))
				break;
		if (i < CACHECTL_CACHE_TH_COUNT && parse_pct(val, &l->th[i]) < 0) {
			err(l->ctx, "%s: line %zu: bad %s value '%s' "
			    "(a percentage, e.g. 7%%)\n", path, lineno, key, val);
			r = -EINVAL;
		}
		/* other commands (secctx, culltable, ...) say nothing here */
	}
	if (!r && ferror(f))
		r = -EIO;
	free(line);
	fclose(f);
	return r;
}

/* ---- /proc/fs/fscache/caches ------------------------------------------ */

static int state_of(char s)
{
	switch (s) {
	case '-':
		return CACHECTL_CACHE_STATE_INACTIVE;
	case 'P':
		return CACHECTL_CACHE_STATE_PREPARING;
	case 'A':
		return CACHECTL_CACHE_STATE_ACTIVE;
	case 'E':
		return CACHECTL_CACHE_STATE_FAILED;
	case 'W':
		return CACHECTL_CACHE_STATE_WITHDRAWN;
	}
	return CACHECTL_CACHE_STATE_UNKNOWN;
}

static struct cachectl_cache *cache_add(struct cachectl_cache_list *l,
					uint64_t id, const char *name)
{
	struct cachectl_cache **v, *c;

	v = realloc(l->caches, (l->n + 1) * sizeof(*v));
	if (!v)
		return NULL;
	l->caches = v;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->name = name ? strdup(name) : NULL;
	if (name && !c->name) {
		free(c);
		return NULL;
	}
	c->list = l;
	c->idx = l->n;
	c->id = id;
	c->vols = c->objs = -1;
	c->state = CACHECTL_CACHE_STATE_UNKNOWN;
	v[l->n++] = c;
	return c;
}

/*
 * Linux 6.1: two header lines, then per cache
 * "%08x %5d %5d %5d %5d %c %s": CACHE REF VOLS OBJS ACCES S NAME.
 */
static int caches_load(struct cachectl_cache_list *l, const char *dir)
{
	char *path, *line = NULL;
	size_t cap = 0;
	FILE *f;
	int r = 0;

	if (asprintf(&path, "%s/caches", dir) < 0)
		return -ENOMEM;
	f = fopen(path, "re");
	free(path);
	if (!f) {
		/* the directory without the list: fscache with no caches */
		if (errno == ENOENT && access(dir, F_OK) < 0)
			l->flags |= CACHECTL_CACHE_LIST_NO_FSCACHE;
		return errno == ENOENT ? 0 : -errno;
	}
	while (getline(&line, &cap, f) > 0) {
		struct cachectl_cache *c;
		unsigned int id;
		int ref, acces, vols, objs;
		char state, name[256];

		if (sscanf(line, "%x %d %d %d %d %c %255s", &id, &ref, &vols,
			   &objs, &acces, &state, name) != 7)
			continue;	/* the header lines */
		c = cache_add(l, id, name);
		if (!c) {
			r = -ENOMEM;
			break;
		}
		c->vols = vols;
		c->objs = objs;
		c->state = state_of(state);
	}
	if (!r && ferror(f))
		r = -EIO;
	free(line);
	fclose(f);
	return r;
}

CACHECTL_EXPORT int cachectl_cache_list_new(struct cachectl_ctx *ctx,
					    struct cachectl_cache_list **ret_list)
{
	struct cachectl_cache_list *l;
	const char *dir = path_or("CACHECTL_PROC_FSCACHE", PROC_FSCACHE);
	int r;

	if (!ctx || !ret_list)
		return -EINVAL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->refcount = 1;
	l->ctx = cachectl_ref(ctx);
	memcpy(l->th, th_default, sizeof(l->th));
	r = caches_load(l, dir);
	if (r < 0) {
		err(ctx, "%s/caches: %s\n", dir, strerror(-r));
		cachectl_cache_list_unref(l);
		return r;
	}
	*ret_list = l;
	return 0;
}

CACHECTL_EXPORT int cachectl_cache_list_read_config(struct cachectl_cache_list *l,
						    const char *path)
{
	if (!l)
		return -EINVAL;
	return conf_load(l, path ? path :
			 path_or("CACHECTL_CACHEFILESD_CONF", CACHEFILESD_CONF),
			 path != NULL);
}

CACHECTL_EXPORT struct cachectl_cache_list *
cachectl_cache_list_ref(struct cachectl_cache_list *l)
{
	if (l)
		l->refcount++;
	return l;
}

CACHECTL_EXPORT struct cachectl_cache_list *
cachectl_cache_list_unref(struct cachectl_cache_list *l)
{
	size_t i;

	if (!l)
		return NULL;
	if (--l->refcount > 0)
		return l;
	for (i = 0; i < l->n; i++) {
		free(l->caches[i]->name);
		free(l->caches[i]->file);
		free(l->caches[i]);
	}
	free(l->caches);
	free(l->dir);
	free(l->tag);
	cachectl_unref(l->ctx);
	free(l);
	return NULL;
}

CACHECTL_EXPORT unsigned int
cachectl_cache_list_get_flags(const struct cachectl_cache_list *l)
{
	return l ? l->flags : 0;
}

CACHECTL_EXPORT int cachectl_cache_list_next(struct cachectl_cache_list *l,
					     struct cachectl_cache **cache)
{
	size_t i;

	if (!l || !cache)
		return -EINVAL;
	if (*cache && (*cache)->list != l)
		return -EINVAL;
	i = *cache ? (*cache)->idx + 1 : 0;
	if (i >= l->n) {
		*cache = NULL;
		return 0;
	}
	*cache = l->caches[i];
	return 1;
}

/* ---- which mounts use fscache ----------------------------------------- */

static bool has_opt(const char *opts, const char *name, bool with_value)
{
	char *val = NULL;
	size_t len = 0;

	if (!opts || mnt_optstr_get_option(opts, name, &val, &len) != 0)
		return false;
	return with_value || !len;
}

static bool uses_fscache(struct libmnt_fs *fs)
{
	const char *type = mnt_fs_get_fstype(fs);
	const char *vfs = mnt_fs_get_vfs_options(fs);
	const char *sb = mnt_fs_get_fs_options(fs);
	char *val = NULL;
	size_t len = 0;

	if (!type)
		return false;
	if (!strcmp(type, "9p"))
		return has_opt(vfs, "fscache", false) ||
		       has_opt(sb, "fscache", false) ||
		       (sb && !mnt_optstr_get_option(sb, "cache", &val, &len) &&
			len == 7 && !strncmp(val, "fscache", 7));
	if (!strcmp(type, "nfs") || !strcmp(type, "nfs4") ||
	    !strcmp(type, "ceph"))
		return has_opt(vfs, "fsc", true) || has_opt(sb, "fsc", true);
	if (!strcmp(type, "cifs") || !strcmp(type, "smb3"))
		return has_opt(vfs, "fsc", false) || has_opt(sb, "fsc", false);
	return !strcmp(type, "afs");
}

/* the mount table every reader in the library parses, or NULL */
struct libmnt_table *cachectl__mount_table(void)
{
	return mnt_new_table_from_file(path_or("CACHECTL_MOUNTINFO",
					       "/proc/self/mountinfo"));
}

/* the mount points of fscache-backed filesystems, NULL-terminated */
char **cachectl__fscache_mounts(void)
{
	struct libmnt_table *tb;
	struct libmnt_iter *it;
	struct libmnt_fs *fs;
	char **v = NULL;
	size_t n = 0;

	tb = cachectl__mount_table();
	it = mnt_new_iter(MNT_ITER_FORWARD);
	while (tb && it && mnt_table_next_fs(tb, it, &fs) == 0) {
		const char *target = mnt_fs_get_target(fs);
		char **nv;

		if (!target || !uses_fscache(fs))
			continue;
		nv = realloc(v, (n + 2) * sizeof(*v));
		if (!nv)
			break;
		v = nv;
		v[n] = strdup(target);
		if (v[n])
			n++;
		v[n] = NULL;
	}
	mnt_free_iter(it);
	mnt_unref_table(tb);
	return v;
}

/* what the server of @path is, as far as the mount table says: mounts of
 * one export share it, and so do their attachments' modes */
int cachectl__mount_source(const char *path, char **ret)
{
	struct libmnt_table *tb;
	struct libmnt_fs *fs;
	int r = -ENOENT;

	tb = mnt_new_table_from_file(path_or("CACHECTL_MOUNTINFO",
					     "/proc/self/mountinfo"));
	fs = tb ? mnt_table_find_mountpoint(tb, path, MNT_ITER_BACKWARD) : NULL;
	if (fs)
		r = asprintf(ret, "%s:%s", mnt_fs_get_fstype(fs) ?: "?",
			     mnt_fs_get_source(fs) ?: "?") < 0 ? -ENOMEM : 0;
	mnt_unref_table(tb);
	return r;
}

/* ---- a file each cache holds (kernel backend) ------------------------- */

static struct cachectl_cache *cache_by_id(struct cachectl_cache_list *l,
					  uint64_t id)
{
	struct cachectl_cache *c;
	size_t i;

	for (i = 0; i < l->n; i++)
		if (l->caches[i]->id == id)
			return l->caches[i];
	/* held by a cache the kernel's list does not show (yet) */
	c = cache_add(l, id, NULL);
	if (c)
		l->unseen++;
	return c;
}

static int found_one(struct cachectl_walk *w, const struct cachectl_entry *e,
		     void *data)
{
	struct cachectl_cache_list *l = data;
	struct cachectl_residency res;
	struct cachectl_cache *c;

	if (cachectl_entry_get_error(e) < 0 ||
	    cachectl_entry_get_residency(e, &res, sizeof(res)) < 0)
		return 0;
	if (!(res.flags & CACHECTL_RES_FSCACHE) ||
	    !(res.cache_state & CACHECTL_CACHE_OBJECT))
		return 0;
	c = cache_by_id(l, res.cache_id);
	if (!c || c->file)
		return 0;
	c->file = strdup(cachectl_entry_get_path(e));
	c->file_state = res.cache_state;
	if (c->file && l->unseen)
		l->unseen--;
	/* every cache has its file: no need to walk a whole mount */
	return l->unseen ? 0 : -ECANCELED;
}

CACHECTL_EXPORT int cachectl_cache_list_find_files(struct cachectl_cache_list *l,
						   const char *const *paths,
						   size_t npaths)
{
	char **mounts = NULL;
	size_t i;
	int r = 0;

	if (!l || (npaths && !paths))
		return -EINVAL;
	if (!npaths) {
		mounts = cachectl__fscache_mounts();
		paths = (const char *const *)mounts;
		for (npaths = 0; mounts && mounts[npaths]; npaths++)
			;
	}
	l->unseen = 0;
	for (i = 0; i < l->n; i++)
		if (!l->caches[i]->file)
			l->unseen++;
	for (i = 0; i < npaths; i++) {
		struct cachectl_walk *w;
		int k;

		/* with no cache listed, one file of any cache will do */
		if (l->n && !l->unseen)
			break;
		k = cachectl_walk_new(l->ctx, CACHECTL_WALK_RECURSIVE |
				      CACHECTL_WALK_ONE_FS, &w);
		if (k < 0) {
			r = k;
			break;
		}
		k = cachectl_walk_add_path(w, paths[i]);
		if (k >= 0)
			k = cachectl_walk_set_timeout(w, 5000);
		if (k >= 0)
			k = cachectl_walk_run(w, CACHECTL_WALK_OP_QUERY, 0,
					      found_one, l);
		if (k < 0 && k != -ECANCELED) {
			err(l->ctx, "%s: %s\n", paths[i], strerror(-k));
			r = r < 0 ? r : k;
		}
		cachectl_walk_unref(w);
	}
	for (i = 0; mounts && mounts[i]; i++)
		free(mounts[i]);
	free(mounts);
	return r;
}

/* ---- one cache -------------------------------------------------------- */

CACHECTL_EXPORT uint64_t cachectl_cache_get_id(const struct cachectl_cache *c)
{
	return c ? c->id : 0;
}

CACHECTL_EXPORT const char *cachectl_cache_get_name(const struct cachectl_cache *c)
{
	return c ? c->name : NULL;
}

CACHECTL_EXPORT int cachectl_cache_get_state(const struct cachectl_cache *c)
{
	return c ? c->state : -EINVAL;
}

CACHECTL_EXPORT int cachectl_cache_get_volumes(const struct cachectl_cache *c)
{
	if (!c)
		return -EINVAL;
	return c->vols < 0 ? -ENODATA : c->vols;
}

CACHECTL_EXPORT int cachectl_cache_get_objects(const struct cachectl_cache *c)
{
	if (!c)
		return -EINVAL;
	return c->objs < 0 ? -ENODATA : c->objs;
}

/* cachefilesd.conf describes the cache with its tag */
static bool configured(const struct cachectl_cache *c)
{
	const struct cachectl_cache_list *l = c->list;

	return (l->flags & CACHECTL_CACHE_LIST_CONFIG) && c->name &&
	       !strcmp(c->name, l->tag ? l->tag : CACHEFILESD_TAG);
}

CACHECTL_EXPORT const char *cachectl_cache_get_dir(const struct cachectl_cache *c)
{
	return c && configured(c) ? c->list->dir : NULL;
}

CACHECTL_EXPORT int cachectl_cache_get_space(const struct cachectl_cache *c,
					     uint64_t *ret_size,
					     uint64_t *ret_used,
					     uint64_t *ret_avail)
{
	const char *dir = cachectl_cache_get_dir(c);
	struct statfs sf;
	uint64_t fr;
	int r;

	if (!c)
		return -EINVAL;
	if (!dir)
		return -ENODATA;
	/* through the seam, so the fake kernel can answer too */
	r = c->list->ctx->ops->statfs(dir, &sf);
	if (r < 0)
		return r;
	fr = sf.f_frsize ? (uint64_t)sf.f_frsize : (uint64_t)sf.f_bsize;
	if (ret_size)
		*ret_size = (uint64_t)sf.f_blocks * fr;
	if (ret_used)
		*ret_used = (uint64_t)(sf.f_blocks - sf.f_bfree) * fr;
	if (ret_avail)
		*ret_avail = (uint64_t)sf.f_bavail * fr;
	return 0;
}

CACHECTL_EXPORT int cachectl_cache_get_threshold(const struct cachectl_cache *c,
						 int which)
{
	if (!c || which < 0 || which >= CACHECTL_CACHE_TH_COUNT)
		return -EINVAL;
	return configured(c) ? c->list->th[which] : -ENODATA;
}

CACHECTL_EXPORT const char *cachectl_cache_get_file(const struct cachectl_cache *c)
{
	return c ? c->file : NULL;
}

CACHECTL_EXPORT int cachectl_cache_get_file_state(const struct cachectl_cache *c,
						  uint64_t *ret_state)
{
	if (!c || !ret_state)
		return -EINVAL;
	if (!c->file)
		return -ENODATA;
	*ret_state = c->file_state;
	return 0;
}
