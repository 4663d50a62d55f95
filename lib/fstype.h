/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CACHECTL_FSTYPE_H
#define CACHECTL_FSTYPE_H

#include <stdbool.h>

/* statfs(2) f_type of a network or FUSE filesystem? */
bool cachectl__magic_is_remote(long magic);

/* statfs(2) f_type of a pseudo filesystem (proc, sysfs, ...): no data */
bool cachectl__magic_is_pseudo(long magic);

/*
 * Errors that say the filesystem, not the file, is gone: a walk stops
 * with one error instead of one per file.
 */
bool cachectl__error_is_gone(int error);

/* statfs(2) f_type of a filesystem whose pages are the only copy? */
bool cachectl__magic_is_memory(long magic);

#endif
