// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Capabilities: keep CAP_IPC_LOCK (hard pins) and, for the system scope,
 * CAP_DAC_READ_SEARCH (reading the files it pins); drop everything else
 * from the effective, permitted, inheritable and bounding sets.
 */
#include <errno.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>

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

int cd_caps_setup(struct daemon *d)
{
	cap_value_t want[2];
	cap_value_t keep[2];
	int nwant = 0, nkeep = 0, i, r = 0;
	bool any = false, setpcap;
	cap_t cur, next;
	char *text;

	want[nwant++] = CAP_IPC_LOCK;
	if (d->scope == CACHECTL_SCOPE_SYSTEM)
		want[nwant++] = CAP_DAC_READ_SEARCH;

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
	return 0;
}
