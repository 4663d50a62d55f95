/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * measure - run one command and report its wall time, CPU time, peak RSS
 * and, optionally, its time-to-resident.
 *
 *   measure [-q] [-l LIST] [-T TIMEOUT_S] [-I POLL_MS] -- COMMAND [ARG...]
 *
 * -q        child's stdout goes to /dev/null (stderr is kept)
 * -l LIST   NUL-separated list of files that the command should bring into
 *           the page cache.  The list is loaded and stat()ed before the
 *           clock starts.  After the command exits the files are checked
 *           with mincore, which counts only uptodate pages (cachestat also
 *           counts pages whose read is still in flight, so it would call an
 *           asynchronous prefetch done too early): "pct_exit" is the share
 *           of pages whose data is in memory at exit.  Files not yet fully resident are then
 *           polled every POLL_MS (default 1) until they are, or TIMEOUT_S
 *           (default 120) passes: "ttr" is the time from start to the moment
 *           the last file was seen fully loaded (= wall when everything
 *           was already loaded at exit; -1 on timeout).  "Loaded" counts a
 *           page that is cached or that was cached and has been reclaimed
 *           since by background reclaim (cachestat nr_evicted; evict.c
 *           leaves no shadow entries, so every shadow is such a page): on
 *           machines with proactive reclaim (DAMON pageout) a page read at
 *           the start of a long run can be gone before the check.
 *
 * Peak RSS is ru_maxrss from wait4() of the child (for a shell pipeline:
 * the largest of the processes it waited for).  The child is forked before
 * the list is loaded, so none of measure's memory is counted in it.
 *
 * Output, one line on stdout:
 *   wall=S user=S sys=S maxrss_kb=K status=N [files=N pages=N pages_exit=N
 *   pct_exit=P pct_loaded_exit=P ttr=S pct_final=P pct_loaded_final=P
 *   reclaimed_final=N engine=E]
 */
#include "residency.h"
#include <getopt.h>
#include <sys/resource.h>
#include <sys/wait.h>

struct ent { const char *path; uint64_t pages; };
struct sums { uint64_t cached, loaded, evicted; };

/*
 * One pass over the files idx[0..*nidx): adds their cached pages, their
 * "loaded" pages (cached + reclaimed since, see evict.c) and shadow entries
 * to *s, and keeps in idx only the files not yet completely loaded.
 */
static void check(struct ent *e, size_t *idx, size_t *nidx, struct sums *s)
{
	size_t j, k = 0;
	memset(s, 0, sizeof(*s));
	for (j = 0; j < *nidx; j++) {
		struct ent *x = &e[idx[j]];
		int64_t c = 0;
		uint64_t ev = 0, ld;
		int fd = open(x->path, O_RDONLY | O_NOATIME | O_CLOEXEC);
		if (fd >= 0) {
			/* shadow entries from cachestat, valid data from mincore */
			if (bench_cached_pages2(fd, x->pages * bench_pagesize, &ev) < 0)
				ev = 0;
			c = bench_uptodate_pages(fd, x->pages * bench_pagesize);
			close(fd);
		}
		if (c < 0)
			c = 0;
		if ((uint64_t)c > x->pages)
			c = x->pages;
		ld = c + ev > x->pages ? x->pages : c + ev;
		s->cached += c;
		s->loaded += ld;
		s->evicted += ev;
		if (ld < x->pages)
			idx[k++] = idx[j];
	}
	*nidx = k;
}

int main(int argc, char **argv)
{
	const char *list = NULL;
	int quiet = 0, opt, st;
	double timeout = 120, poll_ms = 1, t0, t1, ttr = -1;
	struct ent *ents = NULL;
	size_t n = 0, i, nidx = 0, *idx = NULL;
	uint64_t total = 0;
	struct rusage ru;
	int go[2];
	pid_t pid;

	while ((opt = getopt(argc, argv, "+ql:T:I:h")) != -1) {
		switch (opt) {
		case 'q': quiet = 1; break;
		case 'l': list = optarg; break;
		case 'T': timeout = atof(optarg); break;
		case 'I': poll_ms = atof(optarg); break;
		default:
			fprintf(stderr, "usage: measure [-q] [-l LIST] [-T S] [-I MS] -- CMD...\n");
			return opt == 'h' ? 0 : 1;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "measure: no command\n");
		return 1;
	}
	bench_pagesize = sysconf(_SC_PAGESIZE);
	/*
	 * The child is forked before the list is loaded: ru_maxrss counts
	 * what a process held before it exec'd too, so a child forked from
	 * a measure holding a million paths would be charged for them.
	 */
	if (pipe(go) < 0) {
		perror("pipe");
		return 1;
	}
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0) {
		char c;

		close(go[1]);
		if (read(go[0], &c, 1) != 1)
			_exit(127);	/* measure gave up before the start */
		close(go[0]);
		if (quiet) {
			int fd = open("/dev/null", O_WRONLY);
			if (fd >= 0) {
				dup2(fd, 1);
				close(fd);
			}
		}
		execvp(argv[optind], argv + optind);
		fprintf(stderr, "measure: %s: %s\n", argv[optind], strerror(errno));
		_exit(127);
	}
	close(go[0]);
	if (list) {
		char **paths = bench_load_list(list, &n);
		if (!paths)
			return 1;
		ents = calloc(n ? n : 1, sizeof(*ents));
		idx = calloc(n ? n : 1, sizeof(*idx));
		if (!ents || !idx)
			return 1;
		for (i = 0; i < n; i++) {
			struct stat sb;
			if (stat(paths[i], &sb) < 0) {
				fprintf(stderr, "measure: %s: %s\n", paths[i], strerror(errno));
				return 1;
			}
			ents[i].path = paths[i];
			ents[i].pages = bench_file_pages(sb.st_size);
			total += ents[i].pages;
			idx[i] = i;
		}
		nidx = n;
	}
	fflush(stdout);
	t0 = bench_now();
	if (write(go[1], "g", 1) != 1) {
		perror("measure: starting the command");
		return 1;
	}
	close(go[1]);
	if (wait4(pid, &st, 0, &ru) < 0) {
		perror("wait4");
		return 1;
	}
	t1 = bench_now();
	printf("wall=%.6f user=%.6f sys=%.6f maxrss_kb=%ld status=%d",
	       t1 - t0, ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
	       ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6, ru.ru_maxrss,
	       WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	if (list) {
		struct sums ex, fin, tmp;
		size_t all = n;
		/* first pass over every file; idx keeps the incomplete ones */
		check(ents, idx, &nidx, &ex);
		if (nidx == 0) {
			ttr = t1 - t0;
		} else {
			double deadline = t1 + timeout;
			for (;;) {
				double now;
				usleep((useconds_t)(poll_ms * 1000));
				check(ents, idx, &nidx, &tmp);
				now = bench_now();
				if (nidx == 0) {
					ttr = now - t0;
					break;
				}
				if (now > deadline)
					break;
			}
		}
		for (i = 0; i < n; i++)
			idx[i] = i;
		check(ents, idx, &all, &fin);
		printf(" files=%zu pages=%llu pages_exit=%llu pct_exit=%.3f pct_loaded_exit=%.3f"
		       " ttr=%.6f pct_final=%.3f pct_loaded_final=%.3f reclaimed_final=%llu engine=%s",
		       n, (unsigned long long)total, (unsigned long long)ex.cached,
		       total ? 100.0 * ex.cached / total : 100.0,
		       total ? 100.0 * ex.loaded / total : 100.0, ttr,
		       total ? 100.0 * fin.cached / total : 100.0,
		       total ? 100.0 * fin.loaded / total : 100.0,
		       (unsigned long long)fin.evicted,
		       bench_have_cachestat == 1 ? "mincore+cachestat" : "mincore");
	}
	printf("\n");
	return 0;
}
