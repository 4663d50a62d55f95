// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The walk's threads on warm local trees, and the window that keeps their
 * output in walk order. Warm metadata costs about one syscall round per
 * file per core, so a walk scales with cores as long as no core waits.
 *
 * The walking thread queues each file it reads from a directory into a
 * ring of a bounded number of slots and goes on reading; helpers open and
 * operate on the files in queue order, and the walking thread works too
 * when the ring is full. Results leave the ring from its oldest end, in
 * queue order, on the walking thread: a file that takes long holds up the
 * output, never the work behind it, until the ring is full. There is no
 * join per directory or per chunk.
 *
 * Slots are claimed with one atomic compare-and-swap and marked done with
 * one store; the mutex is taken only to sleep and to wake sleepers.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "pool.h"

struct item {
	char *path;
	size_t name_off;	/* the name within path, opened in dir */
	struct dirref *dir;
	bool follow;
	int done;		/* atomic: the result below is ready */
	int r;			/* <0 error, 0 opened, 1 skip */
	int op_r;
	struct stat st;
	struct cachectl_entry e;
};

struct pool {
	struct cachectl_walk *w;
	pthread_t *threads;
	unsigned int nthreads;
	pthread_mutex_t mu;
	pthread_cond_t work, done;
	struct item *items;
	size_t window;
	/* queue positions, never wrapped: slot k is items[k % window] */
	size_t head;		/* walking thread: oldest not yet emitted */
	size_t tail;		/* walking thread: next to fill */
	size_t published;	/* atomic: slots before it may be claimed */
	size_t claim;		/* atomic: next to claim */
	unsigned int sleepers;	/* under mu */
	int waiting;		/* atomic: the walking thread sleeps on done */
	int stop;		/* atomic */
};

static struct item *at(struct pool *p, size_t k)
{
	return &p->items[k % p->window];
}

static bool take(struct pool *p, size_t *ret)
{
	size_t c = __atomic_load_n(&p->claim, __ATOMIC_ACQUIRE);

	for (;;) {
		if (__atomic_load_n(&p->stop, __ATOMIC_RELAXED) ||
		    c >= __atomic_load_n(&p->published, __ATOMIC_ACQUIRE))
			return false;
		if (__atomic_compare_exchange_n(&p->claim, &c, c + 1, false,
						__ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE)) {
			*ret = c;
			return true;
		}
	}
}

static void work(struct pool *p, size_t k)
{
	struct item *it = at(p, k);
	int fd = -1;

	it->r = cachectl__engine_open(p->w, it->dir->fd,
				      it->path + it->name_off, false,
				      it->follow, &fd, &it->st);
	if (it->r == 0) {
		it->op_r = cachectl__engine_run(p->w, fd, &it->st, &it->e);
		close(fd);
	}
	/* seq_cst pairs with wait_head(): one of the two sees the other */
	__atomic_store_n(&it->done, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&p->waiting, __ATOMIC_SEQ_CST)) {
		pthread_mutex_lock(&p->mu);
		pthread_cond_signal(&p->done);
		pthread_mutex_unlock(&p->mu);
	}
}

static void *worker(void *data)
{
	struct pool *p = data;
	size_t k;

	for (;;) {
		if (take(p, &k)) {
			work(p, k);
			continue;
		}
		pthread_mutex_lock(&p->mu);
		while (!__atomic_load_n(&p->stop, __ATOMIC_RELAXED) &&
		       __atomic_load_n(&p->claim, __ATOMIC_ACQUIRE) >=
		       __atomic_load_n(&p->published, __ATOMIC_ACQUIRE)) {
			p->sleepers++;
			pthread_cond_wait(&p->work, &p->mu);
			p->sleepers--;
		}
		pthread_mutex_unlock(&p->mu);
		if (__atomic_load_n(&p->stop, __ATOMIC_RELAXED))
			break;
	}
	return NULL;
}

int cachectl__pool_new(struct cachectl_walk *w, unsigned int nthreads,
		       unsigned int window, struct pool **ret)
{
	struct pool *p = calloc(1, sizeof(*p));
	unsigned int i;
	int r;

	if (!p)
		return -ENOMEM;
	p->w = w;
	p->window = window;
	p->threads = calloc(nthreads, sizeof(*p->threads));
	p->items = calloc(window, sizeof(*p->items));
	if (!p->threads || !p->items) {
		free(p->threads);
		free(p->items);
		free(p);
		return -ENOMEM;
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->done, NULL);
	for (i = 0; i < nthreads; i++) {
		r = pthread_create(&p->threads[i], NULL, worker, p);
		if (r) {
			p->nthreads = i;
			cachectl__pool_free(p);
			return -r;
		}
	}
	p->nthreads = nthreads;
	*ret = p;
	return 0;
}

/* ---- the walking thread ------------------------------------------------ */

static void release(struct item *it)
{
	free(it->path);
	it->path = NULL;
	cachectl__dirref_put(it->dir);
	it->dir = NULL;
}

static int emit(struct pool *p, struct item *it)
{
	struct cachectl_walk *w = p->w;
	int r = 0;

	it->e.path = it->path;
	/* hard links are told apart here, in order: a second one is skipped */
	if (it->r < 0)
		r = cachectl__engine_done(w, &it->e, it->r);
	else if (it->r > 0 || cachectl__engine_link_seen(w, &it->st))
		w->totals.skipped++;
	else
		r = cachectl__engine_done(w, &it->e, it->op_r);
	release(it);
	return r;
}

/* The finished files at the old end of the ring, out in queue order. */
static int emit_done(struct pool *p)
{
	int r;

	while (p->head < p->tail &&
	       __atomic_load_n(&at(p, p->head)->done, __ATOMIC_ACQUIRE)) {
		r = emit(p, at(p, p->head));
		p->head++;
		if (r < 0)
			return r;
	}
	return 0;
}

static void wait_head(struct pool *p)
{
	struct item *it = at(p, p->head);

	pthread_mutex_lock(&p->mu);
	__atomic_store_n(&p->waiting, 1, __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(&it->done, __ATOMIC_SEQ_CST))
		pthread_cond_wait(&p->done, &p->mu);
	__atomic_store_n(&p->waiting, 0, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&p->mu);
}

int cachectl__pool_publish(struct pool *p)
{
	if (__atomic_load_n(&p->published, __ATOMIC_RELAXED) != p->tail) {
		pthread_mutex_lock(&p->mu);
		__atomic_store_n(&p->published, p->tail, __ATOMIC_RELEASE);
		if (p->sleepers)
			pthread_cond_broadcast(&p->work);
		pthread_mutex_unlock(&p->mu);
	}
	return emit_done(p);
}

/* Emit until the ring holds at most @keep files, working on them too. */
static int drain(struct pool *p, size_t keep)
{
	size_t k;
	int r;

	r = cachectl__pool_publish(p);
	while (r >= 0 && p->tail - p->head > keep) {
		if (take(p, &k))
			work(p, k);
		else
			wait_head(p);
		r = emit_done(p);
	}
	return r;
}

int cachectl__pool_add(struct pool *p, struct dirref *dir, const char *path,
		       size_t name_off, bool follow)
{
	struct item *it;
	int r;

	if (p->tail - p->head == p->window) {
		r = drain(p, p->window - 1);
		if (r < 0)
			return r;
	}
	it = at(p, p->tail);
	memset(it, 0, sizeof(*it));
	it->path = strdup(path);
	if (!it->path)
		return -ENOMEM;
	it->name_off = name_off;
	it->follow = follow;
	it->dir = dir;
	dir->refs++;
	p->tail++;
	return 0;
}

int cachectl__pool_flush(struct pool *p)
{
	return p ? drain(p, 0) : 0;
}

void cachectl__pool_free(struct pool *p)
{
	unsigned int i;

	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	__atomic_store_n(&p->stop, 1, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->mu);
	for (i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	/* left over after an error that stopped the walk */
	for (; p->head < p->tail; p->head++)
		release(at(p, p->head));
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->work);
	pthread_cond_destroy(&p->done);
	free(p->threads);
	free(p->items);
	free(p);
}
