// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * fcachectl() argument checking: every invalid-argument case of the ABI,
 * PROBE, and QUERY/PIN on a file without fscache (tmpfs).
 */
#include "cachectl_guest.h"

#define EXPECT_ERR(call, err, what) do {				\
	errno = 0;							\
	long r_ = (call);						\
	t_ok(r_ == -1 && errno == (err), "%s: got %ld/%s, want %s",	\
	     what, r_, strerror(errno), strerror(err));			\
} while (0)

static int run_as_nobody(int fd, unsigned int op)
{
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		struct cachectl_args a = { 0 };

		if (setgid(65534) || setuid(65534))
			_exit(100);
		if (fcachectl(fd, op, &a, sizeof(a)) == 0)
			_exit(0);
		_exit(errno);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

int main(void)
{
	struct cachectl_args a = { 0 };
	char big[sizeof(a) + 64];
	char tmpl[] = "/tmp/cachectl-args-XXXXXX";
	char ninep[PATH_MAX];
	int fd, wfd, dfd, nfd;
	long r;

	errno = 0;
	r = fcachectl(-1, CACHECTL_OP_PROBE, NULL, 0);
	if (r == -1 && errno == ENOSYS)
		t_skip_all("fcachectl() answers ENOSYS");
	t_ok(r == CACHECTL_PROBE_MAGIC, "PROBE with fd -1 returns magic (%lx)", r);

	fd = mkstemp(tmpl);
	if (fd < 0 || write(fd, big, sizeof(big)) != (ssize_t)sizeof(big)) {
		perror("tmpfile");
		return 1;
	}
	close(fd);
	fd = open(tmpl, O_RDONLY);
	wfd = open(tmpl, O_WRONLY);
	dfd = open("/", O_RDONLY | O_DIRECTORY);

	/* size */
	EXPECT_ERR(fcachectl(fd, CACHECTL_OP_QUERY, &a, 0), EINVAL, "size 0");
	EXPECT_ERR(fcachectl(fd, CACHECTL_OP_QUERY, &a,
			     CACHECTL_ARGS_SIZE_VER0 - 8), EINVAL,
		   "size below VER0");
	memset(big, 0, sizeof(big));
	t_ok(fcachectl(fd, CACHECTL_OP_QUERY, (void *)big, sizeof(big)) == 0,
	     "oversized struct with zero tail accepted");
	big[sizeof(a) + 3] = 1;
	EXPECT_ERR(fcachectl(fd, CACHECTL_OP_QUERY, (void *)big, sizeof(big)),
		   E2BIG, "oversized struct with non-zero tail");
	EXPECT_ERR(fcachectl(fd, CACHECTL_OP_QUERY, (void *)big, 1 << 20),
		   E2BIG, "size above PAGE_SIZE");
	EXPECT_ERR(fcachectl(fd, CACHECTL_OP_QUERY, (void *)8, sizeof(a)),
		   EFAULT, "bad args pointer");
	EXPECT_ERR(fcachectl(fd, CACHECTL_OP_QUERY, NULL, sizeof(a)),
		   EFAULT, "NULL args pointer");

	/* op and flags */
	memset(&a, 0, sizeof(a));
	EXPECT_ERR(fcachectl(fd, 6, &a, sizeof(a)), EINVAL, "unknown op 6");
	EXPECT_ERR(fcachectl(fd, 0x80000000u, &a, sizeof(a)), EINVAL,
		   "unknown op 0x80000000");
	a.flags = 1;
	EXPECT_ERR(fcachectl(fd, CACHECTL_OP_QUERY, &a, sizeof(a)), EINVAL,
		   "QUERY with a flag");
	EXPECT_ERR(fcachectl(fd, CACHECTL_OP_PIN, &a, sizeof(a)), EINVAL,
		   "PIN with a flag");
	EXPECT_ERR(fcachectl(fd, CACHECTL_OP_UNPIN, &a, sizeof(a)), EINVAL,
		   "UNPIN with a flag");
	a.flags = CACHECTL_PREFETCH_WAIT << 1;
	EXPECT_ERR(fcachectl(fd, CACHECTL_OP_PREFETCH, &a, sizeof(a)), EINVAL,
		   "PREFETCH with an unknown flag");
	a.flags = 0;
#ifdef CACHECTL_OP_CACHE_POLICY
	EXPECT_ERR(fcachectl(fd, CACHECTL_OP_CACHE_POLICY, &a, sizeof(a)),
		   EINVAL, "CACHE_POLICY without a flag");
	a.flags = CACHECTL_POLICY_NOCULL | CACHECTL_POLICY_CULL;
	EXPECT_ERR(fcachectl(fd, CACHECTL_OP_CACHE_POLICY, &a, sizeof(a)),
		   EINVAL, "CACHE_POLICY with both flags");
	a.flags = CACHECTL_POLICY_CULL | (1ULL << 40);
	EXPECT_ERR(fcachectl(fd, CACHECTL_OP_CACHE_POLICY, &a, sizeof(a)),
		   EINVAL, "CACHE_POLICY with an unknown flag");
#else
	/* Culling policy is the cache daemon's: no such op any more. */
	EXPECT_ERR(fcachectl(fd, 5, &a, sizeof(a)), EINVAL,
		   "op 5 (the old CACHE_POLICY) is unknown");
#endif
	a.flags = 0;

	/* file descriptor */
	EXPECT_ERR(fcachectl(-1, CACHECTL_OP_QUERY, &a, sizeof(a)), EBADF,
		   "QUERY fd -1");
	EXPECT_ERR(fcachectl(wfd, CACHECTL_OP_QUERY, &a, sizeof(a)), EBADF,
		   "QUERY on a write-only fd");
	EXPECT_ERR(fcachectl(dfd, CACHECTL_OP_QUERY, &a, sizeof(a)), EINVAL,
		   "QUERY on a directory");

	/* a file without fscache */
	memset(&a, 0xff, sizeof(a));
	a.offset = 0;
	a.length = 0;
	a.flags = 0;
	r = fcachectl(fd, CACHECTL_OP_QUERY, &a, sizeof(a));
	t_ok(r == 0 && a.file_size == sizeof(big) &&
	     a.pagecache_bytes == (unsigned long long)mincore_bytes(fd) &&
	     a.fscache_bytes == 0 && !(a.state & CACHECTL_STATE_HAS_CACHE)
#ifdef CACHECTL_MASK_SIZE
	     && (a.mask & CACHECTL_MASK_SIZE) && (a.mask & CACHECTL_MASK_PAGECACHE) &&
	     !(a.mask & CACHECTL_MASK_FSCACHE)
#endif
	     ,
	     "QUERY on tmpfs: size %llu pagecache %llu (mincore %lld) fscache %llu state %llx",
	     (unsigned long long)a.file_size,
	     (unsigned long long)a.pagecache_bytes, mincore_bytes(fd),
	     (unsigned long long)a.fscache_bytes,
	     (unsigned long long)a.state);
	memset(&a, 0, sizeof(a));
	r = fcachectl(fd, CACHECTL_OP_QUERY, &a, CACHECTL_ARGS_SIZE_VER0);
	t_ok(r == 0, "QUERY with size VER0");
	EXPECT_ERR(fcachectl(fd, CACHECTL_OP_PIN, &a, sizeof(a)), EOPNOTSUPP,
		   "PIN on tmpfs");
	EXPECT_ERR(fcachectl(fd, CACHECTL_OP_PREFETCH, &a, sizeof(a)),
		   EOPNOTSUPP, "PREFETCH on tmpfs");

	/* permissions on a 9p file with fscache */
	snprintf(ninep, sizeof(ninep), "%s/cachectl-args.%d", NINEP_DIR,
		 (int)getpid());
	if (make_file(ninep, 65536) == 0) {
		nfd = open(ninep, O_RDONLY);
		t_ok(run_as_nobody(nfd, CACHECTL_OP_PIN) == EPERM,
		     "PIN by a non-owner without CAP_FOWNER is EPERM");
		t_ok(run_as_nobody(nfd, CACHECTL_OP_UNPIN) == EPERM,
		     "UNPIN by a non-owner without CAP_FOWNER is EPERM");
#ifdef CACHECTL_OP_CACHE_POLICY
		t_ok(run_as_nobody(nfd, CACHECTL_OP_QUERY) == 0,
		     "QUERY by a non-owner is allowed");
#else
		/* What is cached is only told to whoever cachestat() tells. */
		fchmod(nfd, 0644);
		t_ok(run_as_nobody(nfd, CACHECTL_OP_QUERY) == EPERM,
		     "QUERY by other (not owner, cannot write) on 9p is EPERM");
		t_ok(run_as_nobody(nfd, CACHECTL_OP_PREFETCH) == EPERM,
		     "PREFETCH by other on 9p is EPERM");
		fchmod(nfd, 0666);
		t_ok(run_as_nobody(nfd, CACHECTL_OP_QUERY) == 0,
		     "QUERY by a user who may write the file is allowed");
		fchmod(nfd, 0644);
		if (fchown(nfd, 65534, 65534) == 0) {
			t_ok(run_as_nobody(nfd, CACHECTL_OP_QUERY) == 0,
			     "QUERY by the owner is allowed");
			if (fchown(nfd, 0, 0))
				t_diag("chown back: %s", strerror(errno));
		} else {
			t_diag("chown on 9p: %s; owner case left to the selftest",
			       strerror(errno));
		}
		memset(&a, 0, sizeof(a));
		t_ok(fcachectl(nfd, CACHECTL_OP_QUERY, &a, sizeof(a)) == 0 &&
		     (a.mask & CACHECTL_MASK_FSCACHE),
		     "QUERY by root fills the fscache fields (mask %#llx)",
		     (unsigned long long)a.mask);
#endif
		close(nfd);
		unlink(ninep);
	} else {
		t_diag("cannot create %s; 9p permission tests not run", ninep);
	}
#ifdef CACHECTL_OP_CACHE_POLICY
	memset(&a, 0, sizeof(a));
	a.flags = CACHECTL_POLICY_CULL;
	{
		pid_t pid = fork();
		int status;

		if (pid == 0) {
			if (setgid(65534) || setuid(65534))
				_exit(100);
			if (fcachectl(fd, CACHECTL_OP_CACHE_POLICY, &a,
				      sizeof(a)) == 0)
				_exit(0);
			_exit(errno);
		}
		waitpid(pid, &status, 0);
		t_ok(WIFEXITED(status) && WEXITSTATUS(status) == EPERM,
		     "CACHE_POLICY without CAP_SYS_RESOURCE is EPERM");
	}
#endif

	close(fd);
	close(wfd);
	close(dfd);
	unlink(tmpl);
	return t_done();
}
