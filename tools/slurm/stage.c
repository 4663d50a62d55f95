// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Staging a job's working set: one prefetch walk over every path, waited
 * for, so the tasks start with their data in; a deadline checked per file
 * so a slow filesystem cannot eat the allocation; pins held over one
 * connection to cachectld, which drops them by itself when the step's
 * process goes, however it goes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stage.h"

#define MiB (1024.0 * 1024.0)

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A path named twice (prefetch and pin, or an option SPANK hands over
 * twice) is one path, pinned as strongly as asked. */
static int add_path(struct cs_job *j, const char *path, size_t len, bool pin,
		    bool hard)
{
	struct cs_path *v;
	size_t i;

	for (i = 0; i < j->npaths; i++) {
		if (strlen(j->paths[i].path) == len &&
		    !strncmp(j->paths[i].path, path, len)) {
			j->paths[i].pin |= pin;
			j->paths[i].hard |= hard;
			return 0;
		}
	}
	v = realloc(j->paths, (j->npaths + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	j->paths = v;
	v[j->npaths].path = strndup(path, len);
	if (!v[j->npaths].path)
		return -ENOMEM;
	v[j->npaths].pin = pin;
	v[j->npaths].hard = hard;
	j->npaths++;
	return 0;
}

int cs_job_add_paths(struct cs_job *j, const char *list, bool pin)
{
	const char *p = list, *end;
	int r;

	for (; *p; p = *end ? end + 1 : end) {
		size_t len;
		bool hard = false;

		end = strchrnul(p, ',');
		len = (size_t)(end - p);
		if (pin && len > 5 && !strncmp(end - 5, ":hard", 5)) {
			hard = true;
			len -= 5;
		} else if (pin && len > 5 && !strncmp(end - 5, ":soft", 5)) {
			len -= 5;
		}
		if (!len) {
			snprintf(j->msg, sizeof(j->msg),
				 "cachectl: empty path in '%s'", list);
			return -EINVAL;
		}
		r = add_path(j, p, len, pin, hard);
		if (r < 0)
			return r;
	}
	return 0;
}

bool cs_job_wants_pins(const struct cs_job *j)
{
	size_t i;

	for (i = 0; i < j->npaths; i++)
		if (j->paths[i].pin)
			return true;
	return false;
}

int cs_job_connect(struct cs_job *j, int scope)
{
	char *sock = NULL;
	int r;

	if (!j->ctx && (r = cachectl_new(&j->ctx)) < 0)
		return r;
	r = cachectl_daemon_connect(j->ctx, scope, &j->daemon);
	if (r < 0) {
		cachectl_scope_get_socket_path(scope, &sock);
		snprintf(j->msg, sizeof(j->msg),
			 "cachectl: cannot pin on %s: no cachectld answers on %s: %s",
			 j->node, sock ? sock : "its socket", strerror(-r));
		free(sock);
	}
	return r;
}

/* ---- staging ------------------------------------------------------------- */

struct stage_run {
	struct cs_job *j;
	double deadline;		/* 0 for none */
	char *failed;			/* first path that failed */
	int error;
	uint64_t nfailed;
	char *stopped;			/* where the deadline struck */
};

static int on_entry(struct cachectl_walk *w, const struct cachectl_entry *e,
		    void *data)
{
	struct stage_run *s = data;
	int err = cachectl_entry_get_error(e);

	if (err < 0) {
		s->nfailed++;
		if (!s->failed) {
			s->failed = strdup(cachectl_entry_get_path(e));
			s->error = err;
		}
	}
	if (s->deadline && now_s() > s->deadline) {
		if (!s->stopped)
			s->stopped = strdup(cachectl_entry_get_path(e));
		return -ETIMEDOUT;
	}
	return 0;
}

static bool is_under(const char *path, const char *top)
{
	size_t n = strlen(top);

	return !strncmp(path, top, n) && (path[n] == '/' || path[n] == '\0');
}

/*
 * Past the deadline every file not yet opened is skipped, so the walk
 * winds down with what is in flight: a walk in walk order may hand back
 * its first entries late, but it asks here before each open.
 */
static int past_deadline(struct cachectl_walk *w, const char *path, void *data)
{
	struct stage_run *s = data;

	if (!s->deadline || now_s() <= s->deadline)
		return 0;
	if (!s->stopped)
		s->stopped = strdup(path);
	return 1;
}

/* The job's path a walked file is under, for messages. */
static const char *root_of(const struct cs_job *j, const char *path)
{
	size_t i;

	for (i = 0; path && i < j->npaths; i++)
		if (is_under(path, j->paths[i].path))
			return j->paths[i].path;
	return j->npaths ? j->paths[0].path : "";
}

/* One walk over the job's trees, each file once: nested roots are left
 * to the tree that holds them. */
static int add_roots(const struct cs_job *j, struct cachectl_walk *w)
{
	size_t i, k;
	int r = 0;

	for (i = 0; r >= 0 && i < j->npaths; i++) {
		for (k = 0; k < j->npaths; k++)
			if (k != i && is_under(j->paths[i].path, j->paths[k].path) &&
			    strcmp(j->paths[i].path, j->paths[k].path))
				break;
		if (k == j->npaths)
			r = cachectl_walk_add_path(w, j->paths[i].path);
	}
	return r;
}

int cs_job_stage(struct cs_job *j, void (*say)(const char *line))
{
	struct stage_run s = { .j = j };
	struct cachectl_totals t = { 0 };
	struct cachectl_walk *w = NULL;
	char line[CS_MSG];
	double t0 = now_s(), dt;
	int r;

	if (!j->npaths)
		return 0;
	if (!j->ctx && (r = cachectl_new(&j->ctx)) < 0)
		goto fail;
	r = cachectl_walk_new(j->ctx, CACHECTL_WALK_RECURSIVE, &w);
	if (r >= 0)
		r = add_roots(j, w);
	if (r < 0)
		goto fail;
	if (j->timeout_s) {
		s.deadline = t0 + j->timeout_s;
		/* a filesystem that stops answering is caught there too */
		cachectl_walk_set_timeout(w, j->timeout_s * 1000);
		cachectl_walk_set_filter_fn(w, past_deadline, &s);
	}
	r = cachectl_walk_run(w, CACHECTL_WALK_OP_PREFETCH, CACHECTL_RUN_WAIT,
			      on_entry, &s);
	dt = now_s() - t0;
	cachectl_walk_get_totals(w, &t, sizeof(t));
	if (r == -ETIMEDOUT || (j->timeout_s && dt > j->timeout_s)) {
		snprintf(j->msg, sizeof(j->msg),
			 "cachectl: staging %s on %s exceeded the staging limit of %u s (--cachectl-stage-timeout): %llu files, %.1f MiB in %.1f s, stopped at %s",
			 root_of(j, s.stopped), j->node, j->timeout_s,
			 (unsigned long long)t.files, (double)t.size / MiB, dt,
			 s.stopped ? s.stopped : "a request that did not answer");
		r = -ETIMEDOUT;
		goto out;
	}
	if (r < 0 && !s.failed)
		goto fail;
	if (s.failed) {
		snprintf(j->msg, sizeof(j->msg),
			 "cachectl: cannot stage %s on %s: %s%s (%llu paths failed)",
			 s.failed, j->node, strerror(-s.error),
			 cachectl_error_is_gone(s.error) ?
			 " (its filesystem is gone)" : "",
			 (unsigned long long)s.nfailed);
		r = s.error;
		goto out;
	}
	snprintf(line, sizeof(line),
		 "cachectl: %s: staged %llu files, %.1f MiB in %.2f s (%.0f MiB/s), %.1f%% already cached",
		 j->node, (unsigned long long)t.files, (double)t.size / MiB, dt,
		 dt > 0 ? (double)t.bytes / MiB / dt : 0.0,
		 t.size ? 100.0 * (double)(t.size - (t.bytes < t.size ? t.bytes : t.size)) /
			  (double)t.size : 100.0);
	say(line);
	r = 0;
	goto out;
fail:
	snprintf(j->msg, sizeof(j->msg), "cachectl: cannot stage on %s: %s",
		 j->node, strerror(-r));
out:
	free(s.failed);
	free(s.stopped);
	cachectl_walk_unref(w);
	return r;
}

/* ---- pins ---------------------------------------------------------------- */

static int pin_one(struct cs_job *j, const struct cs_path *cp,
		   uint64_t *hard_bytes)
{
	unsigned int flags = CACHECTL_PIN_RECURSIVE |
			     (cp->hard ? CACHECTL_PIN_HARD : 0);
	struct cachectl_pin *pin = NULL;
	struct cachectl_pin_usage u = { 0 };
	const char *why;
	char **v;
	int r;

	r = cachectl_pin_new(j->ctx, cp->path, flags, &pin);
	if (r < 0) {
		snprintf(j->msg, sizeof(j->msg), "cachectl: cannot pin %s on %s: %s",
			 cp->path, j->node, strerror(-r));
		return r;
	}
	if (cp->hard && j->mem_limit) {
		/* locked memory is the job's: never more than it was given */
		r = cachectl_pin_measure(pin, &u, sizeof(u));
		if (r >= 0 && *hard_bytes + u.size > j->mem_limit) {
			snprintf(j->msg, sizeof(j->msg),
				 "cachectl: cannot hard-pin %s on %s: %.1f MiB of hard pins would exceed the job's memory limit of %.1f MiB",
				 cp->path, j->node,
				 (double)(*hard_bytes + u.size) / MiB,
				 (double)j->mem_limit / MiB);
			r = -ENOMEM;
			goto out;
		}
		*hard_bytes += u.size;
	}
	/* the daemon keeps no more of it than the job's memory */
	if (j->mem_limit)
		cachectl_pin_set_budget(pin, j->mem_limit);
	r = cachectl_daemon_hold(j->daemon, pin, j->holder);
	if (r < 0) {
		why = cachectl_daemon_get_error(j->daemon);
		snprintf(j->msg, sizeof(j->msg), "cachectl: cannot pin %s on %s: %s",
			 cp->path, j->node, why ? why : strerror(-r));
		goto out;
	}
	v = realloc(j->held, (j->nheld + 1) * sizeof(*v));
	if (!v || !(v[j->nheld] = strdup(cachectl_pin_get_path(pin)))) {
		if (v)
			j->held = v;
		r = -ENOMEM;
		goto out;
	}
	j->held = v;
	j->nheld++;
out:
	cachectl_pin_unref(pin);
	return r;
}

int cs_job_pin(struct cs_job *j, void (*say)(const char *line))
{
	uint64_t hard_bytes = 0;
	char line[CS_MSG];
	size_t i, nhard = 0;
	int r;

	if (!j->daemon)
		return 0;
	for (i = 0; i < j->npaths; i++) {
		if (!j->paths[i].pin)
			continue;
		r = pin_one(j, &j->paths[i], &hard_bytes);
		if (r < 0)
			return r;
		nhard += j->paths[i].hard;
	}
	snprintf(line, sizeof(line),
		 "cachectl: %s: %zu pins held for %s (%zu hard, %.1f MiB locked at most)",
		 j->node, j->nheld, j->holder, nhard, (double)hard_bytes / MiB);
	say(line);
	return 0;
}

/* ---- the end ------------------------------------------------------------- */

struct spare {
	struct cachectl_pinstore *store;
	struct cachectl_pin **pins;	/* what other holders keep */
	size_t npins;
	struct cachectl_ctx *ctx;
};

static int spare_hold(const char *path, unsigned int flags, const char *holder,
		      unsigned int uid, void *data)
{
	struct spare *sp = data;
	struct cachectl_pin **v, *pin;

	if (cachectl_pin_new(sp->ctx, path, flags, &pin) < 0)
		return 0;
	v = realloc(sp->pins, (sp->npins + 1) * sizeof(*v));
	if (!v) {
		cachectl_pin_unref(pin);
		return -ENOMEM;
	}
	sp->pins = v;
	v[sp->npins++] = pin;
	return 0;
}

/* Evicting must not take what another job's or the system's pins keep. */
static int spared(struct cachectl_walk *w, const char *path, void *data)
{
	struct spare *sp = data;
	char *canon = realpath(path, NULL);
	int keep = 0;
	size_t i;

	if (!canon)
		return 0;
	if (sp->store && cachectl_pinstore_covers(sp->store, canon) > 0)
		keep = 1;
	for (i = 0; !keep && i < sp->npins; i++)
		keep = cachectl_pin_covers(sp->pins[i], canon) > 0;
	free(canon);
	return keep;
}

static void evict(struct cs_job *j, void (*say)(const char *line))
{
	struct spare sp = { .ctx = j->ctx };
	struct cachectl_totals t = { 0 };
	struct cachectl_walk *w = NULL;
	char line[CS_MSG];
	size_t i;
	int r;

	if (j->daemon)
		cachectl_daemon_list_holds(j->daemon, spare_hold, &sp);
	cachectl_pinstore_open(j->ctx, CACHECTL_SCOPE_SYSTEM, &sp.store);
	r = cachectl_walk_new(j->ctx, CACHECTL_WALK_RECURSIVE, &w);
	if (r >= 0)
		r = add_roots(j, w);
	if (r >= 0)
		r = cachectl_walk_set_filter_fn(w, spared, &sp);
	if (r >= 0)
		r = cachectl_walk_run(w, CACHECTL_WALK_OP_EVICT, 0, NULL, NULL);
	cachectl_walk_get_totals(w, &t, sizeof(t));
	if (r < 0)
		snprintf(line, sizeof(line), "cachectl: %s: cannot evict: %s",
			 j->node, strerror(-r));
	else
		snprintf(line, sizeof(line),
			 "cachectl: %s: evicted %llu files (%llu kept by other pins)",
			 j->node, (unsigned long long)t.files,
			 (unsigned long long)t.skipped);
	say(line);
	cachectl_walk_unref(w);
	for (i = 0; i < sp.npins; i++)
		cachectl_pin_unref(sp.pins[i]);
	free(sp.pins);
	cachectl_pinstore_unref(sp.store);
}

void cs_job_finish(struct cs_job *j, void (*say)(const char *line))
{
	size_t i;

	for (i = 0; j->daemon && i < j->nheld; i++)
		cachectl_daemon_release(j->daemon, j->held[i]);
	if (j->evict_after && j->ctx)
		evict(j, say);
}

void cs_job_free(struct cs_job *j)
{
	size_t i;

	for (i = 0; i < j->npaths; i++)
		free(j->paths[i].path);
	free(j->paths);
	for (i = 0; i < j->nheld; i++)
		free(j->held[i]);
	free(j->held);
	cachectl_daemon_unref(j->daemon);
	cachectl_unref(j->ctx);
	*j = (struct cs_job){ 0 };
}
