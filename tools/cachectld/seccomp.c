// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The daemon's own system-call allow-list, installed once start-up is
 * done (socket open, identity and capabilities settled, store loaded):
 * from then on it reads, checks residency, prefetches, locks, watches
 * and answers, and nothing else. Anything not listed fails with EPERM
 * rather than killing the daemon: a call some libc path needs and we
 * missed degrades one answer (and says so) instead of every pin at once.
 *
 * No execve, no mount, no chmod/chown/xattr (whatever CAP_FOWNER could
 * have been used for, but the store's own fchmod to its one mode), no
 * ptrace, no setuid: the capabilities kept are usable only through the
 * calls below. NoNewPrivileges comes first; the
 * kernel wants it for an unprivileged filter anyway.
 */
#include <errno.h>
#include <string.h>
#include <sys/prctl.h>

#include "config.h"
#include "cachectld.h"

#if HAVE_SECCOMP
#include <seccomp.h>

/*
 * fcachectl(2), the kernel backend's call, at the numbers of its 6.12
 * and 6.1 series (the library's uapi header has them; a client includes
 * no lib/ header), and its highest op.
 */
#define FCACHECTL_NR		463
#define FCACHECTL_NR_V1		1000
#define FCACHECTL_OP_MAX	5

#ifndef __NR_cachestat
#define __NR_cachestat 451	/* one number on every architecture */
#endif

static const char *const allowed[] = {
	/* descriptors, files, the store (temp + fsync + rename) */
	"read", "write", "readv", "writev", "pread64", "pwrite64", "preadv",
	"preadv2", "pwritev", "pwritev2", "lseek", "close", "close_range",
	"dup", "dup2", "dup3", "fcntl", "ioctl", "open", "openat", "openat2",
	"stat", "fstat", "lstat", "newfstatat", "statx", "statfs", "fstatfs",
	"access", "faccessat", "faccessat2", "readlink", "readlinkat",
	"getdents64", "getcwd", "chdir", "fchdir", "rename", "renameat",
	"renameat2", "unlink", "unlinkat", "mkdir", "mkdirat", "ftruncate",
	"fsync", "fdatasync", "flock", "umask", "name_to_handle_at",
	/* the page cache: residency, prefetch, hard pins */
	"mincore", "fadvise64", "fadvise64_64", "arm_fadvise64_64",
	"readahead", "mmap", "mmap2", "munmap", "mremap", "mprotect",
	"madvise", "brk", "mlock", "mlock2", "munlock",
	"io_uring_setup", "io_uring_enter", "io_uring_register",
	/* the socket and the loop */
	"socket", "bind", "listen", "accept", "accept4", "connect",
	"getsockopt", "setsockopt", "getsockname", "getpeername", "recvmsg",
	"sendmsg", "recvfrom", "sendto", "shutdown", "socketpair",
	"epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait",
	"epoll_pwait2", "poll", "ppoll", "select", "pselect6", "signalfd4",
	"timerfd_create", "timerfd_settime", "timerfd_gettime", "eventfd2",
	"pipe", "pipe2", "inotify_init1", "inotify_add_watch",
	"inotify_rm_watch",
	/* signals, lock workers (fork), the walker's threads */
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack",
	"kill", "tgkill", "tkill", "clone", "clone3", "fork", "wait4",
	"waitid", "exit", "exit_group", "set_robust_list", "get_robust_list",
	"rseq", "set_tid_address", "futex", "futex_waitv", "sched_yield",
	"sched_getaffinity", "nanosleep", "clock_nanosleep", "clock_gettime",
	"clock_getres", "gettimeofday", "restart_syscall", "membarrier",
	"prctl", "capget",
	/* who and what we are */
	"getpid", "getppid", "gettid", "getuid", "geteuid", "getgid",
	"getegid", "getgroups", "getresuid", "getresgid", "getrlimit",
	"setrlimit", "prlimit64", "getrusage", "sysinfo", "uname",
	"getrandom",
#ifdef __SANITIZE_ADDRESS__
	/*
	 * LeakSanitizer stops the world at exit: a tracer thread lists
	 * /proc/self/task with the old getdents and ptrace()s the others
	 */
	"ptrace", "getdents", "process_vm_readv",
#endif
};

int cd_seccomp_install(struct daemon *d)
{
	scmp_filter_ctx ctx;
	size_t i;
	int r;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	if (!ctx)
		return -ENOMEM;
	for (i = 0; i < ARRAY_LEN(allowed); i++) {
		int nr = seccomp_syscall_resolve_name(allowed[i]);

		/* not a call of this architecture (or this libseccomp) */
		if (nr == __NR_SCMP_ERROR)
			continue;
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
		if (r < 0 && r != -EDOM)
			goto out;
	}
	/*
	 * The store's new file gets its mode (0600 user, 0644 system) on
	 * its descriptor; no other mode, so CAP_FOWNER cannot open up or
	 * lock out a file it merely reads.
	 */
	r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fchmod), 1,
			     SCMP_A1(SCMP_CMP_EQ, 0600));
	if (!r)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fchmod), 1,
				     SCMP_A1(SCMP_CMP_EQ, 0644));
	if (r < 0)
		goto out;
	/* by number: libseccomp before 2.5.5 has no name for it */
	r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, __NR_cachestat, 0);
	if (r < 0 && r != -EEXIST)
		goto out;
	/*
	 * The kernel backend's fcachectl(2), at the numbers its two series
	 * use. 463 is setxattrat(2) upstream, whose second argument is a
	 * path pointer: an op (small) never is.
	 */
	r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, FCACHECTL_NR, 1,
			     SCMP_A1(SCMP_CMP_LE, FCACHECTL_OP_MAX));
	if (r < 0)
		goto out;
	r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, FCACHECTL_NR_V1, 0);
	if (r < 0 && r != -EDOM)
		goto out;
	/* no thread runs yet (main.c holds the walks back): no TSYNC, whose
	 * seccomp(2) a unit's own filter may refuse */
	r = seccomp_load(ctx);
out:
	seccomp_release(ctx);
	if (r < 0)
		cd_log(d, LOG_ERR, "cannot install the system-call filter: %s",
		     strerror(-r));
	else
		cd_log(d, LOG_INFO, "system-call filter installed");
	return r < 0 ? r : 0;
}

#else

int cd_seccomp_install(struct daemon *d)
{
	/* built without libseccomp: NoNewPrivileges still holds */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	cd_log(d, LOG_INFO, "built without a system-call filter");
	return 0;
}

#endif
