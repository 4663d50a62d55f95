// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Memory as the policies see it: MemTotal and MemAvailable, bounded by
 * the memory cgroup the daemon runs in (cgroup v2 memory.max and
 * memory.high up the tree, or v1's hierarchical limit), and the reserve
 * that pins leave to everything else. cd_plan_memory() weighs them.
 *
 * The cgroup is looked up once, at the first read: systemd places the
 * daemon before it starts, and a move later is rare enough to need a
 * restart.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cachectld.h"

#define CGROOT "/sys/fs/cgroup"

static FILE *cg_open(const char *dir, const char *file)
{
	char path[4096 + 64];

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	return fopen(path, "re");
}

/* The value of @key in a "key value" file (memory.stat), or -1. */
static int read_key(const char *dir, const char *file, const char *key,
		    uint64_t *ret)
{
	FILE *f = cg_open(dir, file);
	size_t n = strlen(key);
	unsigned long long v;
	char line[256];
	int r = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, key, n) && line[n] == ' ' &&
		    sscanf(line + n, "%llu", &v) == 1) {
			*ret = v;
			r = 0;
			break;
		}
	}
	fclose(f);
	return r;
}

/* A one-number file; "max" is no limit. */
static int read_u64(const char *dir, const char *file, uint64_t *ret)
{
	FILE *f = cg_open(dir, file);
	unsigned long long v;
	char buf[64];
	int r = -1;

	if (!f)
		return -1;
	if (fgets(buf, sizeof(buf), f)) {
		if (!strncmp(buf, "max", 3)) {
			*ret = UINT64_MAX;
			r = 0;
		} else if (sscanf(buf, "%llu", &v) == 1) {
			*ret = v;
			r = 0;
		}
	}
	fclose(f);
	return r;
}

static char *cg_path(const char *mnt, const char *rel)
{
	char *p;

	if (asprintf(&p, "%s%s", mnt, strcmp(rel, "/") ? rel : "") < 0)
		return NULL;
	return p;
}

/*
 * From /proc/self/cgroup: the v1 memory hierarchy's line, else the v2
 * line where the unified tree has the memory controller (on a hybrid
 * system it does not).
 */
static void memcg_find(struct daemon *d)
{
	char line[4096 + 64], *v2 = NULL, *v1 = NULL;
	FILE *f = fopen("/proc/self/cgroup", "re");

	d->memcg_looked = true;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *ctrl = strchr(line, ':'), *rel, *c;

		if (!ctrl)
			continue;
		rel = strchr(++ctrl, ':');
		if (!rel)
			continue;
		*rel++ = '\0';
		rel[strcspn(rel, "\n")] = '\0';
		if (!*ctrl && !v2) {
			const char *mnt = access(CGROOT "/cgroup.controllers", F_OK) == 0 ?
					  CGROOT : CGROOT "/unified";
			char *dir = cg_path(mnt, rel);
			uint64_t x;

			if (dir && read_u64(dir, "memory.current", &x) == 0)
				v2 = dir;
			else
				free(dir);
			continue;
		}
		for (c = strtok(ctrl, ","); c; c = strtok(NULL, ","))
			if (!strcmp(c, "memory") && !v1)
				v1 = cg_path(CGROOT "/memory", rel);
	}
	fclose(f);
	if (v1 && access(v1, F_OK) == 0) {
		d->memcg_dir = v1;
		d->memcg_v1 = true;
		free(v2);
	} else {
		free(v1);
		d->memcg_dir = v2;
	}
}

/* v2: the least of memory.max and memory.high from here to the root. */
static uint64_t v2_limit(const char *leaf)
{
	uint64_t lim = UINT64_MAX, v;
	char *dir = strdup(leaf), *slash;

	while (dir && strlen(dir) > strlen(CGROOT) + 1) {
		if (read_u64(dir, "memory.max", &v) == 0 && v < lim)
			lim = v;
		if (read_u64(dir, "memory.high", &v) == 0 && v < lim)
			lim = v;
		slash = strrchr(dir, '/');
		if (!slash)
			break;
		*slash = '\0';
	}
	free(dir);
	return lim;
}

static void memcg_read(struct daemon *d, struct cd_mem_sample *s)
{
	const char *dir = d->memcg_dir;

	if (!dir)
		return;
	if (d->memcg_v1) {
		/* the hierarchical limit is the least up the tree */
		if (read_key(dir, "memory.stat", "hierarchical_memory_limit",
			     &s->cg_limit) < 0 &&
		    read_u64(dir, "memory.limit_in_bytes", &s->cg_limit) < 0)
			return;
		read_u64(dir, "memory.usage_in_bytes", &s->cg_usage);
		read_key(dir, "memory.stat", "total_cache", &s->cg_file);
		read_key(dir, "memory.stat", "total_unevictable",
			 &s->cg_unevictable);
	} else {
		s->cg_limit = v2_limit(dir);
		read_u64(dir, "memory.current", &s->cg_usage);
		read_key(dir, "memory.stat", "file", &s->cg_file);
		read_key(dir, "memory.stat", "unevictable", &s->cg_unevictable);
	}
}

void cd_mem_read(struct daemon *d)
{
	struct cd_mem_sample s = { .cg_limit = UINT64_MAX };
	struct cd_mem_view v;
	char line[256];
	FILE *f = fopen("/proc/meminfo", "re");
	unsigned long long kb;

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "MemTotal: %llu kB", &kb) == 1)
			s.mem_total = kb << 10;
		else if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
			s.mem_avail = kb << 10;
	}
	fclose(f);
	if (!d->memcg_looked)
		memcg_find(d);
	memcg_read(d, &s);
	if (s.cg_limit != d->memcg_limit) {
		d->memcg_limit = s.cg_limit;
		if (s.cg_limit < s.mem_total) {
			char b[32];

			cd_fmt_size(b, sizeof(b), s.cg_limit);
			cd_log(d, LOG_NOTICE, "memory cgroup %s (v%d): limit %s",
			     cd_pesc(d, d->memcg_dir), d->memcg_v1 ? 1 : 2, b);
		}
	}
	cd_plan_memory(&s, &v);
	d->mem_total = v.total;
	d->mem_avail = v.avail;
	d->reserve = v.reserve;
	d->pressure = v.pressure;
	d->mem_cgroup_bound = v.cgroup_bound;
}

void cd_mem_free(struct daemon *d)
{
	free(d->memcg_dir);
	d->memcg_dir = NULL;
}
