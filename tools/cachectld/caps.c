// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Capabilities: keep CAP_IPC_LOCK (hard pins) and, for the system scope,
 * CAP_DAC_READ_SEARCH (reading the files it pins) and CAP_FOWNER (the
 * kernel shows a file's page cache only to its owner, a writer or
 * CAP_FOWNER); drop everything else from the effective, permitted,
 * inheritable and bounding sets. With --run-as, the system daemon stops
 * being uid 0 here, keeping just those across the switch.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "cachectld.h"

bool cd_caps_have(int cap)
{
	cap_flag_value_t v = CAP_CLEAR;
	cap_t c = cap_get_proc();

	if (!c)
		return false;
	if (cap_get_flag(c, cap, CAP_EFFECTIVE, &v) < 0)
		v = CAP_CLEAR;
	cap_free(c);
	return v == CAP_SET;
}

static bool permitted(cap_t c, cap_value_t cap)
{
	cap_flag_value_t v = CAP_CLEAR;

	return cap_get_flag(c, cap, CAP_PERMITTED, &v) == 0 && v == CAP_SET;
}

/* Hand @path to the new user if root has it (state dir, store, lock). */
static int give(struct daemon *d, const char *path, const struct passwd *pw)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (st.st_uid == pw->pw_uid || S_ISLNK(st.st_mode))
		return 0;
	if (st.st_uid != 0) {
		cd_log(d, LOG_ERR, "%s belongs to uid %u, neither root nor %s",
		     cd_pesc(d, path), (unsigned int)st.st_uid, pw->pw_name);
		return -EPERM;
	}
	if (lchown(path, pw->pw_uid, pw->pw_gid) < 0) {
		int r = -errno;

		cd_log(d, LOG_ERR, "cannot give %s to %s: %s", cd_pesc(d, path),
		     pw->pw_name, strerror(-r));
		return r;
	}
	return 0;
}

static int give_state(struct daemon *d, const struct passwd *pw)
{
	char *dir = NULL, *file = NULL;
	int r, fd;

	r = cachectl_scope_get_state_dir(d->scope, &dir);
	if (r < 0)
		return r;
	r = give(d, dir, pw);
	if (!r && asprintf(&file, "%s/pins", dir) >= 0) {
		r = give(d, file, pw);
		free(file);
	}
	if (!r && asprintf(&file, "%s/pins.lock", dir) >= 0) {
		/*
		 * made now, so a root cachectl that writes the store first
		 * does not leave a lock file the daemon cannot open
		 */
		fd = open(file, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd >= 0)
			close(fd);
		r = give(d, file, pw);
		free(file);
	}
	if (!r && d->own_socket && d->sock_path) {
		/* to remove the socket at exit */
		char *slash = strrchr(d->sock_path, '/');

		if (slash && slash != d->sock_path) {
			*slash = '\0';
			r = give(d, d->sock_path, pw);
			*slash = '/';
		}
	}
	free(dir);
	return r;
}

/*
 * Become @d->run_as: groups, gid, then uid with the permitted set kept
 * (PR_SET_KEEPCAPS); cd_caps_setup() trims it to what we keep.
 */
static int switch_user(struct daemon *d)
{
	struct passwd *pw;
	int r;

	errno = 0;
	pw = getpwnam(d->run_as);
	if (!pw) {
		r = errno ? -errno : -ENOENT;
		cd_log(d, LOG_ERR, "--run-as %s: %s", d->run_as,
		     r == -ENOENT ? "no such user (systemd-sysusers creates cachectld)" :
		     strerror(-r));
		return r;
	}
	if (pw->pw_uid == 0)
		return 0;
	r = give_state(d, pw);
	if (r < 0)
		return r;
	if (setgroups(0, NULL) < 0 ||
	    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0 ||
	    prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0) {
		r = -errno;
		cd_log(d, LOG_ERR, "--run-as %s: %s", d->run_as, strerror(-r));
		return r;
	}
	prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	cd_log(d, LOG_INFO, "running as %s (uid %u)", pw->pw_name,
	     (unsigned int)pw->pw_uid);
	return 0;
}

int cd_caps_setup(struct daemon *d)
{
	cap_value_t want[3];
	cap_value_t keep[3];
	int nwant = 0, nkeep = 0, i, r = 0;
	bool any = false, setpcap;
	cap_t cur, next;
	char *text;

	want[nwant++] = CAP_IPC_LOCK;
	if (d->scope == CACHECTL_SCOPE_SYSTEM) {
		want[nwant++] = CAP_DAC_READ_SEARCH;
		want[nwant++] = CAP_FOWNER;
	}

	if (d->run_as && geteuid() != 0) {
		cd_log(d, LOG_ERR, "--run-as %s: only root can switch users",
		     d->run_as);
		return -EPERM;
	}
	cur = cap_get_proc();
	if (!cur)
		return -errno;
	for (i = 0; i <= CAP_LAST_CAP; i++)
		if (permitted(cur, i))
			any = true;
	setpcap = permitted(cur, CAP_SETPCAP);
	for (i = 0; i < nwant; i++)
		if (permitted(cur, want[i]))
			keep[nkeep++] = want[i];

	if (any) {
		/* the bounding set needs CAP_SETPCAP, so it goes first */
		if (setpcap) {
			for (i = 0; i <= CAP_LAST_CAP; i++) {
				bool k = false;
				int j;

				for (j = 0; j < nkeep; j++)
					k |= keep[j] == i;
				if (!k && CAP_IS_SUPPORTED(i))
					cap_drop_bound(i);
			}
		}
		if (d->run_as && (r = switch_user(d)) < 0) {
			cap_free(cur);
			return r;
		}
		next = cap_init();
		if (!next) {
			cap_free(cur);
			return -ENOMEM;
		}
		if (nkeep &&
		    (cap_set_flag(next, CAP_EFFECTIVE, nkeep, keep, CAP_SET) < 0 ||
		     cap_set_flag(next, CAP_PERMITTED, nkeep, keep, CAP_SET) < 0))
			r = -errno;
		if (!r && cap_set_proc(next) < 0)
			r = -errno;
		cap_free(next);
		if (r < 0) {
			cd_log(d, LOG_ERR, "cannot drop capabilities: %s",
			     strerror(-r));
			cap_free(cur);
			return r;
		}
	}
	cap_free(cur);

	d->cap_ipc_lock = cd_caps_have(CAP_IPC_LOCK);
	d->cap_dac_read_search = cd_caps_have(CAP_DAC_READ_SEARCH);
	d->cap_fowner = cd_caps_have(CAP_FOWNER);
	cur = cap_get_proc();
	text = cur ? cap_to_text(cur, NULL) : NULL;
	cd_log(d, LOG_INFO, "capabilities: %s",
	     text && *text && strcmp(text, "=") ? text : "none");
	cap_free(text);
	cap_free(cur);
	if (!d->cap_ipc_lock)
		cd_log(d, LOG_NOTICE,
		     "CAP_IPC_LOCK is missing: hard pins are limited by RLIMIT_MEMLOCK");
	if (d->scope == CACHECTL_SCOPE_SYSTEM && !d->cap_dac_read_search)
		cd_log(d, LOG_NOTICE,
		     "CAP_DAC_READ_SEARCH is missing: system pins of files root cannot read will fail");
	if (d->scope == CACHECTL_SCOPE_SYSTEM && !d->cap_fowner && geteuid())
		cd_log(d, LOG_NOTICE,
		     "CAP_FOWNER is missing: the residency of files another user owns cannot be read");
	return 0;
}
