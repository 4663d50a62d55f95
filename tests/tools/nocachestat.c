/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * nocachestat - run a command as if the kernel had no cachestat(2).
 *
 * usage: nocachestat COMMAND [ARG...]
 *
 * Installs a seccomp filter that makes cachestat(2) fail with ENOSYS, then
 * executes COMMAND. The filter is inherited by children and kept across
 * execve, so the CLI tests can check cachectl's mincore(2) fallback (and its
 * honesty rule) on a kernel that does have cachestat.
 *
 * Exit: COMMAND's status; 77 if the filter cannot be installed here
 * (unsupported architecture, no seccomp); 127 if COMMAND cannot be run.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#ifndef __NR_cachestat
#define __NR_cachestat 451	/* the same on every architecture */
#endif

#if defined(__x86_64__) && !defined(__ILP32__)
#define KC_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define KC_AUDIT_ARCH AUDIT_ARCH_AARCH64
#elif defined(__i386__)
#define KC_AUDIT_ARCH AUDIT_ARCH_I386
#endif

int main(int argc, char **argv)
{
#ifdef KC_AUDIT_ARCH
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, KC_AUDIT_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_cachestat, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {
		.len = (unsigned short)(sizeof(filter) / sizeof(filter[0])),
		.filter = filter,
	};
#endif

	if (argc < 2) {
		fprintf(stderr, "usage: nocachestat COMMAND [ARG...]\n");
		return 127;
	}
#ifdef KC_AUDIT_ARCH
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0) {
		fprintf(stderr, "nocachestat: seccomp: %s\n", strerror(errno));
		return 77;
	}
#else
	fprintf(stderr, "nocachestat: architecture not supported\n");
	return 77;
#endif
	execvp(argv[1], argv + 1);
	fprintf(stderr, "nocachestat: %s: %s\n", argv[1], strerror(errno));
	return 127;
}
