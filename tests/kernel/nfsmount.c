// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * nfsmount SOURCE DIR OPTIONS: mount(2) an NFSv4 export with text options,
 * as mount.nfs4 would (busybox's mount speaks only NFSv2/3's binary data).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: nfsmount SOURCE DIR OPTIONS\n");
		return 2;
	}
	if (mount(argv[1], argv[2], "nfs4", 0, argv[3]) < 0) {
		fprintf(stderr, "nfsmount: %s on %s (%s): %s\n", argv[1],
			argv[2], argv[3], strerror(errno));
		return 1;
	}
	return 0;
}
