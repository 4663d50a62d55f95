// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Paths that clients name, resolved off the loop. realpath(), stat() and
 * the pin checks on a client's path can block for as long as its
 * filesystem takes (seconds on a slow FUSE mount, for ever on a hung NFS
 * one), so each runs on a thread of its own; the loop goes on serving
 * everyone else and hears of the result through a pipe. A job that takes
 * too long is answered as timed out and abandoned, but still counted
 * until its thread returns, so hung threads cannot pile up past the caps
 * the caller (server.c) enforces.
 *
 * A pin's tree is walked the same way (CD_JOB_WALK: keep.c's walk runs
 * on the thread, the loop applies what it found).
 *
 * The threads touch nothing but their job: no context, no daemon state.
 * The loop owns the list and every field but the results, which it reads
 * only once the job came back through the pipe.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cachectld.h"

#define JOB_STACK (256u << 10)

static int job_fail(struct cd_job *j, int error, const char *what)
{
	j->err = error;
	snprintf(j->why, sizeof(j->why), "%s", what ? what : strerror(-error));
	return error;
}

/*
 * PIN: the path must be one cachectl_pin_check_path() accepts, and the
 * client's own read-only descriptor of it proves it could open it: same
 * inode, open for reading, not an O_PATH handle.
 */
static void pin_checks(struct cd_job *j)
{
	struct stat st, fst;
	int fd, fl, r;

	r = cachectl_pin_check_path(j->path, &j->canon);
	if (r == -EINVAL) {
		job_fail(j, r, "not a regular file or directory (a FIFO, socket or device): only those can be pinned");
		return;
	}
	if (r == -EOPNOTSUPP) {
		job_fail(j, r, "on a pseudo filesystem (such as /proc or /sys): its files hold no data the page cache keeps");
		return;
	}
	if (r < 0) {
		job_fail(j, r, NULL);
		return;
	}
	fl = j->fd >= 0 ? fcntl(j->fd, F_GETFL) : -1;
	fd = open(j->canon, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (j->fd < 0 || fl < 0 || (fl & O_PATH) ||
	    ((fl & O_ACCMODE) != O_RDONLY && (fl & O_ACCMODE) != O_RDWR) ||
	    fd < 0 || fstat(j->fd, &fst) < 0 || fstat(fd, &st) < 0 ||
	    st.st_dev != fst.st_dev || st.st_ino != fst.st_ino) {
		job_fail(j, -EACCES, NULL);
		j->no_proof = true;
	}
	if (fd >= 0)
		close(fd);
}

static void *job_run(void *arg)
{
	struct cd_job *j = arg;
	ssize_t n;

	if (j->kind == CD_JOB_WALK) {
		j->run(j->data);
	} else if (j->kind == CD_JOB_PIN) {
		pin_checks(j);
	} else {
		j->canon = realpath(j->path, NULL);
		if (!j->canon)
			job_fail(j, -errno, NULL);
	}
	/* a pointer is far below PIPE_BUF: written whole, or not at all */
	do
		n = write(j->done_fd, &j, sizeof(j));
	while (n < 0 && errno == EINTR);
	return NULL;
}

int cd_resolve_init(struct daemon *d)
{
	return cd_loop_add_pipe(&d->loop, &d->resolve, SRC_RESOLVE, &d->resolve_wfd);
}

struct cd_job *cd_job_new(int kind, const char *path, struct cd_user *user)
{
	struct cd_job *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	j->path = strdup(path);
	if (!j->path) {
		free(j);
		return NULL;
	}
	j->kind = kind;
	j->user = user;
	j->fd = -1;
	return j;
}

void cd_job_free(struct cd_job *j)
{
	if (j->fd >= 0)
		close(j->fd);
	free(j->path);
	free(j->canon);
	free(j->holder);
	free(j);
}

/* Put @j on the daemon's list: it counts, and times out, from now. */
void cd_job_link(struct daemon *d, struct cd_job *j)
{
	j->done_fd = d->resolve_wfd;
	j->started = cc_now_ms();
	j->next = d->jobs;
	if (j->next)
		j->next->pprev = &j->next;
	j->pprev = &d->jobs;
	d->jobs = j;
	if (j->kind != CD_JOB_WALK)
		d->njobs++;
}

static void job_unlink(struct daemon *d, struct cd_job *j)
{
	*j->pprev = j->next;
	if (j->next)
		j->next->pprev = j->pprev;
	if (j->kind != CD_JOB_WALK)
		d->njobs--;
}

/* Run a linked @j on a thread of its own. */
int cd_job_spawn(struct cd_job *j)
{
	pthread_attr_t a;
	pthread_t t;
	int r;

	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&a, JOB_STACK);
	r = -pthread_create(&t, &a, job_run, j);
	pthread_attr_destroy(&a);
	return r;
}

/* Start @j on a thread of its own; the daemon owns it from here. */
int cd_job_start(struct daemon *d, struct cd_job *j)
{
	int r;

	cd_job_link(d, j);
	r = cd_job_spawn(j);
	if (r < 0) {
		job_unlink(d, j);
		cd_job_free(j);
	}
	return r;
}

/* The next job that came back, or NULL; the caller frees it. */
struct cd_job *cd_resolve_take(struct daemon *d)
{
	struct cd_job *j;

	if (read(d->resolve.fd, &j, sizeof(j)) != sizeof(j))
		return NULL;
	job_unlink(d, j);
	return j;
}
