/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A job's working set on one node: staged (prefetched, as the job's user),
 * held by cachectld for as long as the step runs, released and maybe
 * evicted at its end. Knows nothing of Slurm: spank.c turns options and
 * callbacks into these calls. A client of libcachectl's public API only.
 */
#ifndef CACHECTL_SLURM_STAGE_H
#define CACHECTL_SLURM_STAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libcachectl/libcachectl.h>

#define CS_MSG 1024

struct cs_path {
	char *path;
	bool pin;		/* --cachectl-pin, else --cachectl-prefetch */
	bool hard;		/* PATH:hard */
};

struct cs_job {
	struct cs_path *paths;
	size_t npaths;
	bool evict_after;
	unsigned int timeout_s;		/* staging limit, 0 for none */
	uint64_t mem_limit;		/* the job's memory, bytes; 0 unknown */
	char holder[64];		/* "slurm job J.S" */
	const char *node;
	struct cachectl_ctx *ctx;
	struct cachectl_daemon *daemon;
	char **held;			/* canonical paths this step holds */
	size_t nheld;
	char msg[CS_MSG];		/* what failed, for the job's stderr */
	bool failed;			/* staging or pinning did */
};

/* "PATH[:hard][,PATH...]"; :hard only for pins. -EINVAL with msg set. */
int cs_job_add_paths(struct cs_job *j, const char *list, bool pin);
bool cs_job_wants_pins(const struct cs_job *j);
/* Connect to cachectld of @scope (as root, before privileges drop). */
int cs_job_connect(struct cs_job *j, int scope);
/* Prefetch every path within the limit; one accounting line to @say. */
int cs_job_stage(struct cs_job *j, void (*say)(const char *line));
/* Hold the pins (after staging, as the job's user). */
int cs_job_pin(struct cs_job *j, void (*say)(const char *line));
/* Release the holds; evict if asked, sparing what other pins keep. */
void cs_job_finish(struct cs_job *j, void (*say)(const char *line));
void cs_job_free(struct cs_job *j);

#endif
