// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Which filesystems are remote, and which errors say one is gone. One
 * table for the library's walks, the CLI's watchdog and the daemon: by
 * statfs(2) magic where the file can be asked, by mountinfo type name
 * where touching a dead mount would hang the caller.
 *
 * Remote means every request is a round trip (or a FUSE daemon's turn):
 * there, keeping many requests in flight is the whole win.
 */
#include <errno.h>
#include <linux/magic.h>
#include <string.h>
#include <sys/statfs.h>

#include "cachectl-private.h"
#include "fstype.h"

static const struct {
	const char *name;
	long magic;		/* 0: shares another row's */
} remote[] = {
	{ "nfs", 0x6969 },
	{ "nfs4", 0 },
	{ "9p", 0x01021997 },
	{ "fuse", 0x65735546 },	/* also fuseblk, fuse.*, glusterfs */
	{ "fuseblk", 0 },
	{ "glusterfs", 0 },
	{ "cifs", (long)0xff534d42 },
	{ "smb3", (long)0xfe534d42 },	/* SMB2 */
	{ "smbfs", 0x517b },
	{ "ceph", 0x00c36400 },
	{ "afs", 0x5346414f },
	{ NULL, 0x6b414653 },	/* kAFS, "afs" in mountinfo too */
	{ "gpfs", 0x47504653 },
	{ "lustre", 0x0bd00bd0 },
};

bool cachectl__magic_is_remote(long magic)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(remote); i++)
		if (remote[i].magic && remote[i].magic == magic)
			return true;
	return false;
}

/*
 * Filesystems whose files are made up by the kernel on each read, or
 * are no files at all: nothing there for the page cache to keep, and
 * reading some has side effects.
 */
static const long pseudo[] = {
	PROC_SUPER_MAGIC, SYSFS_MAGIC, DEVPTS_SUPER_MAGIC, DEBUGFS_MAGIC,
	TRACEFS_MAGIC, CGROUP_SUPER_MAGIC, CGROUP2_SUPER_MAGIC,
	SECURITYFS_MAGIC, SELINUX_MAGIC, SMACK_MAGIC, BPF_FS_MAGIC,
	PSTOREFS_MAGIC, EFIVARFS_MAGIC, BINFMTFS_MAGIC, NSFS_MAGIC,
	PIPEFS_MAGIC, SOCKFS_MAGIC, ANON_INODE_FS_MAGIC, 0x62656570 /* configfs */,
	0x19800202 /* mqueue */, 0x65735543 /* fusectl */,
	RDTGROUP_SUPER_MAGIC,
};

bool cachectl__magic_is_pseudo(long magic)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(pseudo); i++)
		if (pseudo[i] == magic)
			return true;
	return false;
}

/*
 * tmpfs (shmem, also /dev/shm and memfd) and ramfs: the page cache is
 * the file, so no advice drops it; only swap could take shmem out.
 */
bool cachectl__magic_is_memory(long magic)
{
	return magic == TMPFS_MAGIC || magic == (long)RAMFS_MAGIC;
}

bool cachectl__error_is_gone(int error)
{
	switch (-error) {
	case ENOTCONN: case ESHUTDOWN: case ECONNABORTED: case ECONNRESET:
	case ECONNREFUSED: case EHOSTDOWN: case EHOSTUNREACH: case ENETDOWN:
	case ENETUNREACH: case ETIMEDOUT:
		return true;
	}
	return false;
}

CACHECTL_EXPORT int cachectl_path_is_remote(const char *path)
{
	struct statfs sf;

	if (!path)
		return -EINVAL;
	if (statfs(path, &sf) < 0)
		return -errno;
	return cachectl__magic_is_remote((long)sf.f_type);
}

CACHECTL_EXPORT int cachectl_fstype_is_remote(const char *fstype)
{
	size_t i;

	if (!fstype)
		return 0;
	if (!strncmp(fstype, "fuse.", 5))
		return 1;
	for (i = 0; i < ARRAY_SIZE(remote); i++)
		if (remote[i].name && !strcmp(fstype, remote[i].name))
			return 1;
	return 0;
}

CACHECTL_EXPORT int cachectl_error_is_gone(int error)
{
	return cachectl__error_is_gone(error);
}
