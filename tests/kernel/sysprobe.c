// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * sysprobe: check the fcachectl syscall slot in the test guest.
 *
 *   sysprobe enosys   exit 0 if fcachectl answers ENOSYS (CONFIG_CACHECTL=n
 *                     or an unpatched kernel)
 *   sysprobe wired    exit 0 if it answers anything but ENOSYS (called with
 *                     a bad fd and an op nobody defines, so it does nothing)
 *
 * The number comes from the installed uapi headers (__NR_fcachectl) when
 * the series provides it, else the series' own (1000, x86_64; lib/uapi-cachectl.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef __NR_fcachectl
#define __NR_fcachectl 1000
#define NR_ORIGIN "default"
#else
#define NR_ORIGIN "uapi header"
#endif

int main(int argc, char **argv)
{
	long r;
	int e;

	if (argc != 2 || (strcmp(argv[1], "enosys") && strcmp(argv[1], "wired"))) {
		fprintf(stderr, "usage: sysprobe enosys|wired\n");
		return 2;
	}
	errno = 0;
	r = syscall(__NR_fcachectl, -1, 0x7fffffffu, NULL, (size_t)0);
	e = errno;
	printf("syscall(%d /* %s */, -1, 0x7fffffff, NULL, 0) = %ld, errno %d (%s)\n",
	       __NR_fcachectl, NR_ORIGIN, r, e, r < 0 ? strerrorname_np(e) : "-");
	if (!strcmp(argv[1], "enosys"))
		return r == -1 && e == ENOSYS ? 0 : 1;
	return r == -1 && e == ENOSYS ? 1 : 0;
}
