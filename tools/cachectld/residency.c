// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * When the kernel will not tell residency: why, said once. A pin whose
 * files cannot be read is reported unknown, never kept; the log says
 * whether a seccomp filter (a unit's SystemCallFilter=, or ours) blocks
 * cachestat(2) and mincore(2), or the kernel's own rule refuses them
 * (since Linux 6.x only the file's owner, a writer or CAP_FOWNER may
 * see its page cache).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cachectld.h"

#ifndef __NR_cachestat
#define __NR_cachestat 451
#endif

/* The "Seccomp:" line of /proc/self/status: 2 is filter mode. */
static int seccomp_mode(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	int mode = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Seccomp: %d", &mode) == 1)
			break;
	fclose(f);
	return mode;
}

/*
 * Arguments the kernel rejects before any permission check (fd -1: EBADF;
 * an unaligned address: EINVAL): any other answer came from a filter.
 */
static bool filtered(void)
{
	unsigned long long range[2] = { 0, 0 }, cs[5];
	unsigned char vec;
	long r;

	r = syscall(__NR_cachestat, -1, range, cs, 0);
	if (r < 0 && errno != EBADF && errno != ENOSYS)
		return true;
	r = mincore((void *)1, 1, &vec);
	return r < 0 && errno != EINVAL && errno != ENOMEM;
}

enum cd_blind_cause cd_residency_cause(void)
{
	if (seccomp_mode() == 2 && filtered())
		return CD_BLIND_SECCOMP;
	return CD_BLIND_PERMISSION;
}

/* A kept file whose residency the kernel hides: warn once per cause. */
void cd_residency_unknown(struct daemon *d, struct dfile *f)
{
	enum cd_blind_cause c = cd_residency_cause();

	if (d->blind_warned & (1u << c))
		return;
	d->blind_warned |= 1u << c;
	if (c == CD_BLIND_SECCOMP)
		cd_log(d, LOG_WARNING,
		     "pin %s: cannot read the residency of %s: a seccomp filter blocks cachestat(2) and mincore(2) (a unit's SystemCallFilter= must allow both); its pins report unknown and are refilled blindly",
		     cd_pesc(d, f->pin->path), cd_pesc(d, f->path));
	else
		cd_log(d, LOG_WARNING,
		     "pin %s: cannot read the residency of %s: permission (the kernel shows a file's page cache only to its owner, a writer or CAP_FOWNER); such pins report unknown and are refilled blindly",
		     cd_pesc(d, f->pin->path), cd_pesc(d, f->path));
}
