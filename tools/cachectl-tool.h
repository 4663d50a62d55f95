/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CACHECTL_TOOL_H
#define CACHECTL_TOOL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "common/escape.h"
#include <libcachectl/libcachectl.h>

#define EXIT_PARTIAL 64

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

extern const char *program_name;

struct verb {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
};

int verb_status(int argc, char **argv);
int verb_prefetch(int argc, char **argv);
int verb_evict(int argc, char **argv);
int verb_pin(int argc, char **argv);
int verb_unpin(int argc, char **argv);
int verb_pins(int argc, char **argv);
int verb_monitor(int argc, char **argv);
int verb_cache(int argc, char **argv);
int verb_snapshot(int argc, char **argv);
int verb_attach(int argc, char **argv);
int verb_detach(int argc, char **argv);
int verb_disconnect(int argc, char **argv);
int verb_reconnect(int argc, char **argv);

/* offline-verbs.c: the attachments' side of status and monitor */
void offline_status_note(char **paths, int n);
int offline_monitor(bool json);

/* options.c: -J -b -n -o --raw -v -h -V, the same for every verb */
#include <getopt.h>

#define COMMON_JSON		(1u << 0)
#define COMMON_BYTES		(1u << 1)
#define COMMON_NOHEADINGS	(1u << 2)
#define COMMON_OUTPUT		(1u << 3)
#define COMMON_RAW		(1u << 4)
#define COMMON_TABLE		(COMMON_JSON | COMMON_BYTES | COMMON_NOHEADINGS | \
				 COMMON_OUTPUT | COMMON_RAW)

struct common_opts {
	const char *verb;
	unsigned int honours;	/* COMMON_*: the others are usage errors */
	bool json, bytes, noheadings, raw, verbose;
	const char *output;	/* -o COLS */
};

/* getopt_long() over the verb's options and the common ones: returns the
 * verb's options and 'h', handles the others, -1 at the end */
int common_getopt(int argc, char **argv, const char *verb_short,
		  const struct option *verb_long, struct common_opts *co);
/* the common lines of a verb's --help */
void common_usage(const struct common_opts *co);

/* backend.c */
int tool_backend(struct cachectl_ctx *ctx, bool verbose);
struct cachectl_ctx *tool_ctx(bool verbose, int *ret_backend);
unsigned int tool_caps(struct cachectl_ctx *ctx);

/* util.c */
void warnx_path(const char *path, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void errtryhelp(void) __attribute__((noreturn));
void usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
char *size_human(uint64_t bytes, char *buf, size_t len);
const char *name_esc(struct cc_escbuf *b, const char *s);
const char *name_esc_raw(struct cc_escbuf *b, const char *s);
void close_stdout_atexit(void);
int parse_u32(const char *s, unsigned int min, unsigned int max,
	      unsigned int *ret);
int parse_size(const char *s, uint64_t *ret);

/* snapshot.c: cachectl-snapshot(5), written and read back */
struct snap_out {
	FILE *f;
	const char *path;	/* NULL: stdout */
	char *tmp;		/* written here, renamed to path when done */
	char cwd[4096];
	uint64_t files;
	struct cc_escbuf esc, esc2;
};

/* @path NULL: stdout */
int snapshot_open(struct snap_out *o, const char *path);
/* a line for a file with cached pages: 0 (also when none), -ENODATA when
 * the entry has no ranges (the kernel would not say) */
int snapshot_entry(struct snap_out *o, const struct cachectl_entry *e);
/* @keep false: drop a snapshot file that is incomplete */
int snapshot_close(struct snap_out *o, bool keep);

struct snap_range {
	uint64_t off, len;
};

struct snap_rec {
	char *path;
	uint64_t size;
	int64_t mtime_ns;
	struct snap_range *r;
	size_t nr;
};

struct snap_in {
	const char *name;
	struct snap_rec *recs;
	size_t n, cursor;
	struct snap_rec *cur;	/* the file the walk is in */
	size_t next;		/* its next range */
	size_t bad;		/* lines that did not parse, skipped */
	uint64_t changed;	/* files changed since, skipped */
};

/* warns about each bad line (file:line) and skips it; <0 if unusable */
int snapshot_load(struct snap_in *s, const char *file);
/* the same from an open stream, named @file in messages */
int snapshot_read(struct snap_in *s, FILE *f, const char *file);
/* a cachectl_range_fn: the snapshot's ranges of each file it names */
int snapshot_range_fn(struct cachectl_walk *w, const struct cachectl_entry *e,
		      uint64_t pos, uint64_t *ret_offset, uint64_t *ret_length,
		      void *data);
void snapshot_free(struct snap_in *s);

/* path-list.c: the --from reader; start with { .f = ..., .nul = ... } */
struct path_list {
	FILE *f;
	bool nul;		/* NUL-separated, not newline-separated */
	unsigned long lineno;	/* of the path last returned */
	char *line;
	size_t cap;
};

/*
 * The next path, in *@ret until the next call: 1, or 0 at the end.
 * -EINVAL (a NUL in a newline-separated line) and -ENAMETOOLONG are
 * the line @lineno alone: the next call goes on after it. -EIO ends it.
 */
int path_list_next(struct path_list *l, const char **ret);
const char *path_list_error(int error);
void path_list_free(struct path_list *l);

/* guard.c: signals and a stuck network filesystem, from a thread */
#include <pthread.h>
#include <signal.h>
#include <sys/types.h>

#define GUARD_MAX_MOUNTS 8

struct guard_shared {		/* shared with a supervised child */
	uint64_t last_tick;
	int done, code;
	int progress_len;	/* of the progress line shown, 0: none */
	bool progress_plain;
};

struct guard_mount {
	char *target, *fstype;
};

struct guard {
	sigset_t sigs;
	struct guard_mount *table;	/* /proc/self/mountinfo */
	size_t ntable;
	bool loaded;
	char cwd[4096];
	unsigned int timeout_ms;	/* 0: never give up */
	struct guard_shared *sh;
	pid_t child;
	const char *mounts[GUARD_MAX_MOUNTS];	/* network ones walked */
	const char *fstypes[GUARD_MAX_MOUNTS];
	size_t nmounts;
	pthread_t thread;
	bool running;		/* the thread, in this process */
	int stop;		/* guard_free() asks the thread to end */
};

/* 1 if @path is on a network or FUSE mount (remembered), else 0 */
int guard_add_root(struct guard *g, const char *path);
int guard_start(struct guard *g);
int guard_supervise(struct guard *g);
void guard_done(struct guard *g, int code);
void guard_free(struct guard *g);
void guard_tick(struct guard *g);
void guard_progress_shown(struct guard *g, int len, bool plain);

/* progress.c: the one progress line on stderr */
struct progress {
	bool plain;		/* TERM=dumb: no escape codes */
	bool shown;
	int len;
	struct guard *guard;	/* told, to wipe it on a signal; or NULL */
};

void progress_init(struct progress *p, struct guard *g);
void progress_show(struct progress *p, const char *verb,
		   const struct cachectl_totals *t);
void progress_clear(struct progress *p);
size_t progress_wipe_text(char *buf, size_t size, int len, bool plain);
void guard_print_mounts(const struct guard *g, FILE *f);

/* output.c: the one output layer (see there) */
#include <libsmartcols/libsmartcols.h>

struct outbuf {
	char *b;
	size_t n, cap;
	struct cc_escbuf esc;
};

int out_put(struct outbuf *o, const char *s, size_t n);
int out_puts(struct outbuf *o, const char *s);
int out_flush(struct outbuf *o, FILE *f);
void out_free(struct outbuf *o);
void out_json_string(struct outbuf *o, const char *s);
void out_json_begin(struct outbuf *o, const char *name);
void out_json_row(struct outbuf *o, bool first);
void out_json_key(struct outbuf *o, const char *name, bool first);
void out_json_row_end(struct outbuf *o);
void out_json_end(struct outbuf *o);
/* a verb's libsmartcols table: sized for people, or as strict JSON */
struct common_opts;
int out_table_print(struct libscols_table *tb, const struct common_opts *co);

/* table.c: a row per file, streamed */
enum col_id {
	COL_FILE,
	COL_SIZE,
	COL_CACHED,
	COL_PCT,
	COL_DIRTY,
	COL_WRITEBACK,
	COL_EVICTED,
	COL_RECENTLY_EVICTED,
	COL_PAGES,
	COL_BYTES,
	COL_FSCACHE,
	COL_PINNED,
	COL_CACHE,
	COL_COUNT,
};

struct table;

struct table_opts {
	bool json, bytes, noheadings, raw;
	int cols[COL_COUNT];
	int ncols;
};

int table_parse_columns(struct table_opts *o, const char *list,
			const int *defaults, int ndefaults);
void table_all_columns(struct table_opts *o);
void table_columns_help(FILE *out);
struct table *table_new(const struct table_opts *o);
int table_add(struct table *t, const char *file,
	      const struct cachectl_residency *res, uint64_t bytes);
int table_finish(struct table *t, const char *total_name,
		 const struct cachectl_totals *totals, bool total);
void table_free(struct table *t);

#endif
