// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * cachectl.so, a SPANK plugin: srun/sbatch/salloc options that stage and
 * pin a job's working set on every node of the allocation.
 *
 *   slurmstepd, as root:     init_post_opt  connect to the system cachectld
 *   as the job's user:       user_init      prefetch (with the user's
 *                                           rights), then hold the pins
 *   tasks fork and run
 *   as root:                 exit           release, evict if asked
 *
 * The pins are held by the stepd's connection to cachectld: if the stepd
 * is killed or the node dies, the daemon drops them by itself. SPANK hands
 * options to callbacks without a handle, so the step's state is the one
 * static object below: one plugin instance per slurmstepd.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <slurm/spank.h>

#include "stage.h"

SPANK_PLUGIN(cachectl, 1);

static struct cs_job job;
static int scope = CACHECTL_SCOPE_SYSTEM;
static char node[256];

enum { OPT_PREFETCH = 1, OPT_PIN, OPT_EVICT, OPT_TIMEOUT };

static int parse_timeout(const char *s, unsigned int *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > 86400 * 365)
		return -EINVAL;
	*ret = (unsigned int)v;
	return 0;
}

static int opt_cb(int val, const char *arg, int remote)
{
	unsigned int t;
	int r = 0;

	switch (val) {
	case OPT_PREFETCH:
	case OPT_PIN:
		if (!arg || !*arg) {
			slurm_error("cachectl: --cachectl-%s needs PATH[,PATH...]",
				    val == OPT_PIN ? "pin" : "prefetch");
			return -1;
		}
		r = cs_job_add_paths(&job, arg, val == OPT_PIN);
		if (r < 0) {
			slurm_error("%s", job.msg[0] ? job.msg : "cachectl: out of memory");
			return -1;
		}
		break;
	case OPT_EVICT:
		job.evict_after = true;
		break;
	case OPT_TIMEOUT:
		if (!arg || parse_timeout(arg, &t) < 0) {
			slurm_error("cachectl: --cachectl-stage-timeout=%s: not a number of seconds",
				    arg ? arg : "");
			return -1;
		}
		job.timeout_s = t;
		break;
	}
	return 0;
}

struct spank_option spank_options[] = {
	{ "cachectl-prefetch", "PATH[,PATH...]",
	  "Bring PATHs (trees) into the page cache on each node before the tasks start",
	  1, OPT_PREFETCH, opt_cb },
	{ "cachectl-pin", "PATH[:hard][,PATH...]",
	  "Stage PATHs and keep them cached for the step's lifetime (soft; :hard locks them, within the job's memory)",
	  1, OPT_PIN, opt_cb },
	{ "cachectl-evict-after", NULL,
	  "Evict the staged PATHs when the step ends (what other pins keep stays)",
	  0, OPT_EVICT, opt_cb },
	{ "cachectl-stage-timeout", "SECONDS",
	  "Fail the step if staging takes longer than SECONDS (0: no limit)",
	  1, OPT_TIMEOUT, opt_cb },
	SPANK_OPTIONS_TABLE_END
};

/* plugstack.conf arguments: stage_timeout=S scope=system|user runtime_dir=D */
static int plugin_args(int ac, char **av)
{
	int i;

	for (i = 0; i < ac; i++) {
		if (!strncmp(av[i], "stage_timeout=", 14)) {
			if (!job.timeout_s &&
			    parse_timeout(av[i] + 14, &job.timeout_s) < 0)
				goto bad;
		} else if (!strcmp(av[i], "scope=system")) {
			scope = CACHECTL_SCOPE_SYSTEM;
		} else if (!strcmp(av[i], "scope=user")) {
			scope = CACHECTL_SCOPE_USER;
		} else if (!strncmp(av[i], "runtime_dir=", 12)) {
			/* where the daemon's socket is (a test, another layout) */
			if (setenv("CACHECTL_RUNTIME_DIR", av[i] + 12, 1) < 0)
				return -1;
		} else {
			goto bad;
		}
	}
	return 0;
bad:
	slurm_error("cachectl: unknown plugstack.conf argument '%s'", av[i]);
	return -1;
}

static void say(const char *line)
{
	slurm_spank_log("%s", line);
}

/* At the end the step's output is closed: the node's log it is. */
static void say_log(const char *line)
{
	slurm_info("%s", line);
}

int slurm_spank_init_post_opt(spank_t sp, int ac, char **av)
{
	uint32_t jobid = 0, stepid = 0;
	uint64_t mem = 0;

	if (!spank_remote(sp) || !job.npaths)
		return 0;
	if (plugin_args(ac, av) < 0)
		return -1;
	spank_get_item(sp, S_JOB_ID, &jobid);
	spank_get_item(sp, S_JOB_STEPID, &stepid);
	if (spank_get_item(sp, S_JOB_ALLOC_MEM, &mem) == ESPANK_SUCCESS)
		job.mem_limit = mem << 20;
	snprintf(job.holder, sizeof(job.holder), "slurm job %u.%u", jobid, stepid);
	if (gethostname(node, sizeof(node) - 1) < 0)
		snprintf(node, sizeof(node), "this node");
	job.node = node;
	/* as root: the system daemon takes holds from root only */
	if (cs_job_wants_pins(&job) && cs_job_connect(&job, scope) < 0) {
		slurm_error("%s", job.msg);
		return -1;
	}
	return 0;
}

int slurm_spank_user_init(spank_t sp, int ac, char **av)
{
	if (!job.npaths || !spank_remote(sp))
		return 0;
	/* the user's own rights: the job reads nothing its user cannot */
	if (cs_job_stage(&job, say) < 0 || cs_job_pin(&job, say) < 0) {
		slurm_error("%s", job.msg);
		job.failed = true;
	}
	return 0;
}

/*
 * A failure in user_init would only say "launch failed" and leave srun's
 * exit status 0; failing each task instead fails the step with status 1.
 */
int slurm_spank_task_init(spank_t sp, int ac, char **av)
{
	return job.failed ? -1 : 0;
}

int slurm_spank_exit(spank_t sp, int ac, char **av)
{
	if (!spank_remote(sp) || !job.npaths)
		return 0;
	cs_job_finish(&job, say_log);
	cs_job_free(&job);
	return 0;
}
