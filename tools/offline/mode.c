// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Connected or disconnected, per attachment, grouped by server: the
 * probe, the switch, and the events that announce it. Events go to one
 * append-only file per user (cachectl_attach_get_events_path()), a line
 * per event, written with O_APPEND in one write(2) each so lines of
 * several managers never mix; `cachectl monitor --offline` follows it,
 * and so does every manager, to switch with the others of its server.
 * A line that would take the file past CO_EVENTS_MAX empties it first
 * (under flock, so two writers never both do), which its followers
 * notice as a file shorter than they had read (common/lines.c): a user
 * whose managers run for months keeps a few pages there, not the months.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <libcachectl/libcachectl.h>

#include "common/escape.h"
#include "common/lines.h"
#include "journal.h"
#include "offline.h"

/* followers are woken per line and read within milliseconds: the last
 * few hundred lines is more than any of them is behind */
#define CO_EVENTS_MAX (64u << 10)

struct co_event {
	char *type, *detail;
	struct co_event *next;
};

int co_mode_get(struct co_mgr *m)
{
	return __atomic_load_n(&m->mode, __ATOMIC_ACQUIRE);
}

uint64_t co_mode_epoch(struct co_mgr *m)
{
	return __atomic_load_n(&m->epoch, __ATOMIC_ACQUIRE);
}

void co_event_post(struct co_mgr *m, const char *type, const char *detail)
{
	struct co_event *e = calloc(1, sizeof(*e));

	if (!e)
		return;
	e->type = strdup(type);
	e->detail = strdup(detail ? detail : "");
	pthread_mutex_lock(&m->mlock);
	if (m->events_tail)
		m->events_tail->next = e;
	else
		m->events = e;
	m->events_tail = e;
	pthread_cond_broadcast(&m->mcond);
	pthread_mutex_unlock(&m->mlock);
}

void co_mode_disconnect(struct co_mgr *m, const char *why, bool manual)
{
	pthread_mutex_lock(&m->mlock);
	if (m->mode == CO_DISCONNECTED) {
		m->manual |= manual;
		pthread_mutex_unlock(&m->mlock);
		return;
	}
	__atomic_store_n(&m->mode, CO_DISCONNECTED, __ATOMIC_RELEASE);
	m->manual = manual;
	snprintf(m->reason, sizeof(m->reason), "%s", why);
	pthread_mutex_unlock(&m->mlock);
	co_log("%s: disconnected: %s", m->o.path, why);
	co_event_post(m, manual ? "disconnected-manual" : "disconnected", why);
}

/*
 * Changes made offline wait in the journal for a replay this version does
 * not have: connected, the origin's older versions would be taken for
 * news and replace them. The attachment stays disconnected meanwhile.
 */
static bool held(struct co_mgr *m)
{
	uint64_t n = co_journal_pending(m);

	if (!n)
		return false;
	pthread_mutex_lock(&m->mlock);
	snprintf(m->reason, sizeof(m->reason),
		 "%llu offline changes wait for replay", (unsigned long long)n);
	pthread_mutex_unlock(&m->mlock);
	return true;
}

static bool connected(struct co_mgr *m, const char *why)
{
	if (held(m))
		return false;
	pthread_mutex_lock(&m->mlock);
	if (m->mode == CO_CONNECTED) {
		pthread_mutex_unlock(&m->mlock);
		return true;
	}
	/* everything seen before is to be confirmed again */
	__atomic_add_fetch(&m->epoch, 1, __ATOMIC_ACQ_REL);
	__atomic_store_n(&m->mode, CO_CONNECTED, __ATOMIC_RELEASE);
	m->manual = false;
	m->reason[0] = '\0';
	m->full_reported = false;
	pthread_mutex_unlock(&m->mlock);
	co_log("%s: connected: %s", m->o.path, why);
	co_event_post(m, "connected", why);
	co_hoard_kick(m);
	return true;
}

/* 0 when the origin answered; a stuck earlier probe counts as no answer */
static int probe(struct co_mgr *m)
{
	struct co_job *j;
	bool busy = false;
	int r;

	pthread_mutex_lock(&m->wlock);
	if (m->probe_job) {
		busy = !m->probe_job->done;
		j = busy ? NULL : m->probe_job;
		if (!busy)
			m->probe_job = NULL;
	} else {
		j = NULL;
	}
	pthread_mutex_unlock(&m->wlock);
	co_job_put(m, j);
	if (busy)
		return -ETIMEDOUT;
	j = co_job_new(co_job_probe, NULL);
	if (!j)
		return -ENOMEM;
	r = co_origin_call(m, j, NULL);
	if (r == -ETIMEDOUT) {
		pthread_mutex_lock(&m->wlock);
		m->probe_job = j;
		pthread_mutex_unlock(&m->wlock);
	} else {
		co_job_put(m, j);
	}
	return r;
}

int co_mode_reconnect(struct co_mgr *m)
{
	int r = probe(m);

	if (r)
		return -EHOSTDOWN;
	return connected(m, "reconnected by request") ? 0 : -EBUSY;
}

static void *probe_thread(void *arg)
{
	struct co_mgr *m = arg;

	pthread_mutex_lock(&m->mlock);
	while (!m->stopping) {
		struct timespec dl;
		uint64_t ns;
		bool manual;
		int r;

		clock_gettime(CLOCK_REALTIME, &dl);
		ns = (uint64_t)dl.tv_nsec + (uint64_t)m->o.probe_ms * 1000000u;
		dl.tv_sec += ns / 1000000000u;
		dl.tv_nsec = ns % 1000000000u;
		while (!m->probe_now && !m->stopping &&
		       pthread_cond_timedwait(&m->mcond, &m->mlock, &dl) != ETIMEDOUT)
			;
		m->probe_now = false;
		manual = m->manual;
		if (m->stopping)
			break;
		pthread_mutex_unlock(&m->mlock);
		if (!manual) {
			r = probe(m);
			if (r == 0 && co_mode_get(m) == CO_DISCONNECTED) {
				connected(m, "the origin answers again");
			} else if (r && co_mode_get(m) == CO_CONNECTED) {
				char why[300];

				if (r == -ETIMEDOUT)
					snprintf(why, sizeof(why),
						 "probe: no answer within %u ms",
						 m->o.timeout_ms);
				else
					snprintf(why, sizeof(why), "probe: %s",
						 strerror(-r));
				co_mode_disconnect(m, why, false);
			}
		}
		pthread_mutex_lock(&m->mlock);
	}
	pthread_mutex_unlock(&m->mlock);
	return NULL;
}

static char *esc(const char *s)
{
	char *d = malloc(cc_hex_escaped_len(s, CC_ESC_SPACE) + 1);

	if (d)
		cc_hex_escape(d, s, CC_ESC_SPACE);
	return d;
}

static void event_append(struct co_mgr *m, const char *line, size_t n)
{
	struct stat st;
	bool locked = flock(m->events_fd, LOCK_EX) == 0;

	if (locked && fstat(m->events_fd, &st) == 0 &&
	    (uint64_t)st.st_size + n > CO_EVENTS_MAX &&
	    ftruncate(m->events_fd, 0) < 0)
		co_log("%s: cannot empty it: %m", m->events_path);
	/* one write, under PIPE_BUF: appended whole or not at all */
	if (write(m->events_fd, line, n) != (ssize_t)n)
		co_log("%s: %m", m->events_path);
	if (locked)
		flock(m->events_fd, LOCK_UN);
}

static void event_write(struct co_mgr *m, const struct co_event *e)
{
	char *srv = esc(m->o.server), *path = esc(m->o.path),
	     *detail = esc(*e->detail ? e->detail : "-");
	struct timeval tv;
	char line[4096];
	int n;

	gettimeofday(&tv, NULL);
	if (srv && path && detail && m->events_fd >= 0) {
		n = snprintf(line, sizeof(line), "%lld.%03d %d %s %s %s %s\n",
			     (long long)tv.tv_sec, (int)(tv.tv_usec / 1000),
			     (int)getpid(), e->type, srv, path, detail);
		if (n > 0 && n < (int)sizeof(line))
			event_append(m, line, (size_t)n);
	}
	free(srv);
	free(path);
	free(detail);
}

static void event_desktop(struct co_mgr *m, const struct co_event *e)
{
	char body[4400];

	if (!strncmp(e->type, "disconnected", 12)) {
		snprintf(body, sizeof(body), "%s works from the local cache: %s",
			 m->o.path, e->detail);
		co_notify_desktop("Working offline", body);
	} else if (!strcmp(e->type, "connected")) {
		snprintf(body, sizeof(body), "%s is served by its server again",
			 m->o.path);
		co_notify_desktop("Back online", body);
	} else if (!strcmp(e->type, "cache-full")) {
		snprintf(body, sizeof(body), "the offline cache of %s is full",
			 m->o.path);
		co_notify_desktop("Offline cache full", body);
	}
}

static void *event_thread(void *arg)
{
	struct co_mgr *m = arg;

	pthread_mutex_lock(&m->mlock);
	for (;;) {
		struct co_event *e;
		struct timespec dl;

		while (!m->events && !m->stopping) {
			clock_gettime(CLOCK_REALTIME, &dl);
			dl.tv_nsec += 200000000;
			if (dl.tv_nsec >= 1000000000) {
				dl.tv_sec++;
				dl.tv_nsec -= 1000000000;
			}
			if (pthread_cond_timedwait(&m->mcond, &m->mlock, &dl) == ETIMEDOUT)
				break;
		}
		e = m->events;
		if (e) {
			m->events = e->next;
			if (!m->events)
				m->events_tail = NULL;
		}
		if (!e && m->stopping)
			break;
		pthread_mutex_unlock(&m->mlock);
		co_inval_flush(m);
		if (e) {
			event_write(m, e);
			event_desktop(m, e);
			free(e->type);
			free(e->detail);
			free(e);
		}
		pthread_mutex_lock(&m->mlock);
	}
	pthread_mutex_unlock(&m->mlock);
	return NULL;
}

/* another manager's line about our server: switch with it */
static void sibling_line(struct co_mgr *m, char *line)
{
	char *f[6], *save = NULL;
	int i;

	for (i = 0; i < 6; i++) {
		f[i] = strtok_r(i ? NULL : line, " \n", &save);
		if (!f[i])
			return;
	}
	if (atoi(f[1]) == getpid() || cc_hex_unescape(f[3]) ||
	    strcmp(f[3], m->o.server))
		return;
	if (!strcmp(f[2], "disconnected") && co_mode_get(m) == CO_CONNECTED) {
		char why[600];

		cc_hex_unescape(f[4]);
		snprintf(why, sizeof(why), "server %s gone (seen by %s)",
			 m->o.server, f[4]);
		co_mode_disconnect(m, why, false);
	} else if (!strcmp(f[2], "connected") && co_mode_get(m) == CO_DISCONNECTED) {
		pthread_mutex_lock(&m->mlock);
		m->probe_now = true;
		pthread_cond_broadcast(&m->mcond);
		pthread_mutex_unlock(&m->mlock);
	}
}

static void sibling_cb(char *line, void *data)
{
	sibling_line(data, line);
}

static void *watch_thread(void *arg)
{
	struct co_mgr *m = arg;
	struct cc_lines *l = calloc(1, sizeof(*l));
	char ibuf[4096];
	int in, rfd;

	rfd = open(m->events_path, O_RDONLY | O_CLOEXEC);
	in = inotify_init1(IN_CLOEXEC);
	if (!l || rfd < 0 || in < 0 ||
	    inotify_add_watch(in, m->events_path, IN_MODIFY) < 0) {
		if (rfd >= 0)
			close(rfd);
		if (in >= 0)
			close(in);
		free(l);
		return NULL;
	}
	l->pos = lseek(rfd, 0, SEEK_END);
	while (!m->stopping) {
		if (read(in, ibuf, sizeof(ibuf)) <= 0)
			continue;
		cc_lines_follow(rfd, l, sibling_cb, m);
	}
	close(in);
	close(rfd);
	free(l);
	return NULL;
}

int co_mode_start(struct co_mgr *m)
{
	char *dir, *slash;
	int r;

	pthread_mutex_init(&m->mlock, NULL);
	pthread_cond_init(&m->mcond, NULL);
	m->mode = CO_CONNECTED;
	m->epoch = 1;
	r = cachectl_attach_get_events_path(&m->events_path);
	if (r < 0)
		return r;
	dir = strdup(m->events_path);
	slash = dir ? strrchr(dir, '/') : NULL;
	if (slash) {
		*slash = '\0';
		mkdir(dir, 0700);
	}
	free(dir);
	m->events_fd = open(m->events_path, O_WRONLY | O_APPEND | O_CREAT |
			    O_CLOEXEC, 0600);
	if (m->events_fd < 0)
		co_log("%s: %m (no events)", m->events_path);
	if (pthread_create(&m->probe_thread, NULL, probe_thread, m) ||
	    pthread_create(&m->event_thread, NULL, event_thread, m))
		return -EAGAIN;
	/* the watcher blocks in read(2): detached, it ends with the process */
	if (!pthread_create(&m->watch_thread, NULL, watch_thread, m))
		pthread_detach(m->watch_thread);
	return 0;
}

void co_mode_stop(struct co_mgr *m)
{
	pthread_mutex_lock(&m->mlock);
	m->stopping = true;
	pthread_cond_broadcast(&m->mcond);
	pthread_mutex_unlock(&m->mlock);
	pthread_join(m->probe_thread, NULL);
	pthread_join(m->event_thread, NULL);
	if (m->events_fd >= 0)
		close(m->events_fd);
	free(m->events_path);
}
