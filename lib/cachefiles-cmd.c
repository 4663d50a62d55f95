// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Commands to the cache daemon's /dev/cachefiles. cachefiles lets one
 * process at a time open the device (with CAP_SYS_ADMIN), and a command
 * acts on the cache bound through that open file, so cache-wide policy
 * (culling off with "nocull", on with a bare "cull") is the daemon's to
 * set. cachefilesd has no control channel of its own; the library writes
 * the command on the daemon's own open file instead: found by its link in
 * /proc/PID/fd, borrowed with pidfd_getfd() (which needs ptrace-attach
 * rights over the daemon, in practice root), written once and closed. A
 * process that is the daemon itself writes on its own descriptor.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/pidfd.h>

#include "cachectl-private.h"

#define CACHEFILES_DEV "/dev/cachefiles"

/* The first descriptor of process @pid open on @dev, or -errno. */
static int daemon_fd(int procfd, const char *pid, const char *dev)
{
	char path[64], link[PATH_MAX];
	struct dirent *d;
	DIR *dir;
	int fd, r = -ENOENT;

	snprintf(path, sizeof(path), "%s/fd", pid);
	fd = openat(procfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	dir = fdopendir(fd);
	if (!dir) {
		r = -errno;
		close(fd);
		return r;
	}
	while ((d = readdir(dir))) {
		ssize_t n;

		if (!isdigit((unsigned char)d->d_name[0]))
			continue;
		n = readlinkat(dirfd(dir), d->d_name, link, sizeof(link) - 1);
		if (n < 0)
			continue;
		link[n] = '\0';
		if (!strcmp(link, dev)) {
			r = atoi(d->d_name);
			break;
		}
	}
	closedir(dir);
	return r;
}

/*
 * One command, one write: the device takes each write as one command,
 * with or without the newline, which `echo CMD >/dev/cachefiles` sends.
 */
static int write_cmd(int fd, const char *cmd)
{
	char buf[256];
	int len = snprintf(buf, sizeof(buf), "%s\n", cmd);
	ssize_t n;

	if (len < 0 || (size_t)len >= sizeof(buf))
		return -EINVAL;
	n = write(fd, buf, (size_t)len);
	return n < 0 ? -errno : 0;
}

/*
 * Borrow @pid's descriptor @fd and write @cmd on it. Returns 1 if the
 * daemon went away meanwhile (try the next holder), else 0 or -errno.
 */
static int send_via(pid_t pid, int fd, const char *cmd)
{
	int pidfd, own, r;

	if (pid == getpid())
		return write_cmd(fd, cmd);
	pidfd = pidfd_open(pid, 0);
	if (pidfd < 0)
		return errno == ESRCH ? 1 : -errno;
	own = pidfd_getfd(pidfd, fd, 0);
	r = own < 0 ? -errno : 0;
	close(pidfd);
	if (r == -ESRCH || r == -EBADF)
		return 1;
	if (r < 0)
		return r;
	r = write_cmd(own, cmd);
	close(own);
	return r;
}

/*
 * Returns 0, the device's error for the command, -ESRCH when no process
 * holds the device (no cache daemon), or -EPERM when some process could
 * not be looked at and none that could holds it.
 */
int cachectl__cachefiles_cmd(const char *cmd)
{
	const char *dev = secure_getenv("CACHECTL_CACHEFILES_DEV");
	bool denied = false;
	struct dirent *d;
	DIR *proc;
	int r = -ESRCH;

	if (!dev || !*dev)
		dev = CACHEFILES_DEV;
	proc = opendir("/proc");
	if (!proc)
		return -errno;
	while ((d = readdir(proc))) {
		int fd;

		if (!isdigit((unsigned char)d->d_name[0]))
			continue;
		fd = daemon_fd(dirfd(proc), d->d_name, dev);
		if (fd == -EACCES || fd == -EPERM)
			denied = true;
		if (fd < 0)
			continue;
		r = send_via((pid_t)atoi(d->d_name), fd, cmd);
		if (r <= 0)
			break;
		r = -ESRCH;
	}
	closedir(proc);
	return r == -ESRCH && denied ? -EPERM : r;
}
