// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * unit-filter: run a command under a system-call filter, as systemd would
 * for a unit's SystemCallFilter= (systemd-run and nspawn are not there
 * in CI). The caller (seccomp_tests.py) reads the unit and expands the
 * @sets with systemd-analyze; this applies the names.
 *
 * usage: unit-filter allow|deny ERRNO|kill NAME... -- COMMAND [ARG]...
 *
 * allow: only the names pass, anything else gets ERRNO (or kills);
 * deny: the names get ERRNO (or kill), anything else passes. Names
 * libseccomp does not know are skipped, as systemd skips them.
 */
#include <errno.h>
#include <seccomp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	uint32_t def, hit;
	scmp_filter_ctx ctx;
	bool allow;
	int i, r;

	if (argc < 5 || (strcmp(argv[1], "allow") && strcmp(argv[1], "deny"))) {
		fprintf(stderr, "usage: unit-filter allow|deny ERRNO|kill NAME... -- COMMAND [ARG]...\n");
		return 2;
	}
	allow = !strcmp(argv[1], "allow");
	hit = !strcmp(argv[2], "kill") ? SCMP_ACT_KILL_PROCESS :
	      SCMP_ACT_ERRNO((uint32_t)atoi(argv[2]));
	def = allow ? hit : SCMP_ACT_ALLOW;
	ctx = seccomp_init(def);
	if (!ctx) {
		fprintf(stderr, "unit-filter: seccomp_init failed\n");
		return 1;
	}
	for (i = 3; i < argc && strcmp(argv[i], "--"); i++) {
		int nr = seccomp_syscall_resolve_name(argv[i]);

		if (nr == __NR_SCMP_ERROR)
			continue;
		r = seccomp_rule_add(ctx, allow ? SCMP_ACT_ALLOW : hit, nr, 0);
		if (r < 0 && r != -EDOM && r != -EEXIST) {
			fprintf(stderr, "unit-filter: %s: %s\n", argv[i], strerror(-r));
			return 1;
		}
	}
	if (i + 1 >= argc) {
		fprintf(stderr, "unit-filter: no command after --\n");
		return 2;
	}
	/* what NoNewPrivileges=yes does, and what lets us filter at all */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    (r = seccomp_load(ctx)) < 0) {
		fprintf(stderr, "unit-filter: cannot load the filter\n");
		return 1;
	}
	seccomp_release(ctx);
	execvp(argv[i + 1], argv + i + 1);
	fprintf(stderr, "unit-filter: %s: %s\n", argv[i + 1], strerror(errno));
	return 127;
}
