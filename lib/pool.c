// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A tiny fork-join pool. Warm metadata costs about one syscall round per
 * file per core, so a walk of a warm tree scales with
 * cores; the walker hands each directory chunk's files to the pool and
 * joins before it emits anything, which keeps output in walk order and
 * every callback on the caller's thread.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "pool.h"

struct pool {
	pthread_t *threads;
	unsigned int nthreads;
	pthread_mutex_t mu;
	pthread_cond_t go, done;
	unsigned long gen;
	unsigned int busy;
	bool stop;
	pool_fn fn;
	void *arg;
	size_t count;
	size_t next;		/* atomic */
};

static void drain(struct pool *p)
{
	size_t i;

	while ((i = __atomic_fetch_add(&p->next, 1, __ATOMIC_RELAXED)) < p->count)
		p->fn(p->arg, i);
}

static void *worker(void *data)
{
	struct pool *p = data;
	unsigned long seen = 0;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (p->gen == seen && !p->stop)
			pthread_cond_wait(&p->go, &p->mu);
		if (p->stop)
			break;
		seen = p->gen;
		pthread_mutex_unlock(&p->mu);
		drain(p);
		pthread_mutex_lock(&p->mu);
		if (--p->busy == 0)
			pthread_cond_signal(&p->done);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

int cachectl__pool_new(unsigned int nthreads, struct pool **ret)
{
	struct pool *p = calloc(1, sizeof(*p));
	unsigned int i;
	int r;

	if (!p)
		return -ENOMEM;
	p->threads = calloc(nthreads, sizeof(*p->threads));
	if (!p->threads) {
		free(p);
		return -ENOMEM;
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->go, NULL);
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

void cachectl__pool_run(struct pool *p, pool_fn fn, void *arg, size_t count)
{
	pthread_mutex_lock(&p->mu);
	p->fn = fn;
	p->arg = arg;
	p->count = count;
	__atomic_store_n(&p->next, 0, __ATOMIC_RELAXED);
	p->busy = p->nthreads;
	p->gen++;
	pthread_cond_broadcast(&p->go);
	pthread_mutex_unlock(&p->mu);

	drain(p);

	pthread_mutex_lock(&p->mu);
	while (p->busy)
		pthread_cond_wait(&p->done, &p->mu);
	pthread_mutex_unlock(&p->mu);
}

void cachectl__pool_free(struct pool *p)
{
	unsigned int i;

	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_broadcast(&p->go);
	pthread_mutex_unlock(&p->mu);
	for (i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->go);
	pthread_cond_destroy(&p->done);
	free(p->threads);
	free(p);
}
