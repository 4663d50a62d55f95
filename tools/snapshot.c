// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Snapshots of what is cached (cachectl-snapshot(5)): written by
 * `cachectl snapshot`, read back by `cachectl prefetch --restore`.
 *
 *   cachectl-snapshot 1
 *   f 10485760 1764770000123456789 0:65536,1048576:8192 /data/set/a.bin
 *   end 1
 *
 * One line per file with cached pages: its size and modification time in
 * nanoseconds when the snapshot was taken, its cached ranges as OFF:LEN in
 * bytes (increasing, not overlapping), and its absolute path, escaped as
 * \xHH (control bytes, DEL, backslash). The reader is strict: a line that
 * does not parse is named (file:line) and nothing is done for it; the
 * other lines are restored.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cachectl-tool.h"

#define SNAP_HEADER "cachectl-snapshot 1"

/* ---- writing ---------------------------------------------------------- */

int snapshot_open(struct snap_out *o, const char *path)
{
	memset(o, 0, sizeof(*o));
	o->path = path;
	if (!getcwd(o->cwd, sizeof(o->cwd)))
		o->cwd[0] = '\0';
	if (!path) {
		o->f = stdout;
	} else {
		/* the old snapshot stays until the new one is complete */
		if (asprintf(&o->tmp, "%s.tmp", path) < 0)
			return -ENOMEM;
		o->f = fopen(o->tmp, "we");
		if (!o->f) {
			int r = -errno;

			warnx_path(o->tmp, "%s", strerror(errno));
			free(o->tmp);
			o->tmp = NULL;
			return r;
		}
	}
	fputs(SNAP_HEADER "\n", o->f);
	return 0;
}

int snapshot_entry(struct snap_out *o, const struct cachectl_entry *e)
{
	const char *path = cachectl_entry_get_path(e);
	uint64_t size, off, len;
	int64_t mtime;
	size_t cur = 0;
	const char *esc;
	bool first = true;
	int r;

	if (cachectl_entry_get_stamp(e, &size, &mtime) < 0)
		return -ENODATA;
	r = cachectl_entry_next_range(e, &cur, &off, &len);
	if (r <= 0)
		return r;	/* nothing cached: nothing to restore */
	/* restored from anywhere: relative to where it was taken */
	while (path[0] == '.' && path[1] == '/' && o->cwd[0])
		for (path += 2; *path == '/'; path++)
			;
	esc = cc_escbuf_hex(&o->esc, path, 0);
	if (!esc)
		return -ENOMEM;
	fprintf(o->f, "f %llu %lld ", (unsigned long long)size,
		(long long)mtime);
	do {
		fprintf(o->f, "%s%llu:%llu", first ? "" : ",",
			(unsigned long long)off, (unsigned long long)len);
		first = false;
	} while ((r = cachectl_entry_next_range(e, &cur, &off, &len)) > 0);
	if (path[0] != '/' && o->cwd[0])
		fprintf(o->f, " %s%s%s\n", cc_escbuf_hex(&o->esc2, o->cwd, 0),
			strcmp(o->cwd, "/") ? "/" : "", esc);
	else
		fprintf(o->f, " %s\n", esc);
	o->files++;
	return r;
}

int snapshot_close(struct snap_out *o, bool keep)
{
	int r = 0;

	fprintf(o->f, "end %llu\n", (unsigned long long)o->files);
	if (fflush(o->f) || ferror(o->f))
		r = -EIO;
	if (o->tmp) {
		if (r == 0 && fsync(fileno(o->f)) < 0)
			r = -errno;
		if (fclose(o->f) && r == 0)
			r = -EIO;
		if (r == 0 && keep && rename(o->tmp, o->path) < 0)
			r = -errno;
		if (r < 0 || !keep)
			unlink(o->tmp);
		if (r < 0)
			warnx_path(o->path, "cannot write: %s", strerror(-r));
		free(o->tmp);
	}
	cc_escbuf_free(&o->esc);
	cc_escbuf_free(&o->esc2);
	return r;
}

/* ---- reading ---------------------------------------------------------- */

/* "cachectl: FILE:LINE: ..." (LINE 0: none) */
static void line_warn(const char *file, size_t lineno, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void line_warn(const char *file, size_t lineno, const char *fmt, ...)
{
	struct cc_escbuf esc = { 0 };
	va_list ap;

	fprintf(stderr, "%s: %s", program_name, name_esc(&esc, file));
	if (lineno)
		fprintf(stderr, ":%zu", lineno);
	fputs(": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	cc_escbuf_free(&esc);
}

static int parse_u64(const char **p, char stop, uint64_t *ret)
{
	const char *s = *p;
	unsigned long long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end != stop)
		return -EINVAL;
	*ret = v;
	*p = stop ? end + 1 : end;
	return 0;
}

static int parse_ranges(const char **p, struct snap_rec *rec)
{
	uint64_t off, len, prev_end = 0;
	const char *s = *p;
	size_t cap = 0;

	for (;;) {
		const char *c = strpbrk(s, ", ");
		char stop;

		if (!c)
			return -EINVAL;
		stop = *c;
		if (parse_u64(&s, ':', &off) < 0 || parse_u64(&s, stop, &len) < 0)
			return -EINVAL;
		if (!len || off + len < off || (rec->nr && off < prev_end))
			return -EDOM;
		if (rec->nr == cap) {
			struct snap_range *v;

			cap = cap ? cap * 2 : 4;
			v = realloc(rec->r, cap * sizeof(*v));
			if (!v)
				return -ENOMEM;
			rec->r = v;
		}
		rec->r[rec->nr++] = (struct snap_range){ off, len };
		prev_end = off + len;
		if (stop == ' ')
			break;
	}
	*p = s;
	return 0;
}

/* One "f ..." line; *why says what is wrong with a bad one. */
static int parse_line(char *line, struct snap_rec *rec, const char **why)
{
	const char *p = line + 2;
	uint64_t mtime;
	bool neg;
	int r;

	memset(rec, 0, sizeof(*rec));
	*why = "not a file line ('f SIZE MTIME RANGES PATH')";
	if (strncmp(line, "f ", 2))
		return -EINVAL;
	*why = "bad size";
	if (parse_u64(&p, ' ', &rec->size) < 0)
		return -EINVAL;
	*why = "bad modification time";
	neg = *p == '-';
	p += neg;
	if (parse_u64(&p, ' ', &mtime) < 0 || mtime > INT64_MAX)
		return -EINVAL;
	rec->mtime_ns = neg ? -(int64_t)mtime : (int64_t)mtime;
	*why = "bad ranges (OFF:LEN,... in bytes)";
	r = parse_ranges(&p, rec);
	if (r == -EDOM)
		*why = "ranges empty, overlapping or out of order";
	if (r < 0)
		goto bad;
	*why = "bad path (absolute, \\xHH escapes)";
	rec->path = strdup(p);
	if (!rec->path) {
		r = -ENOMEM;
		goto bad;
	}
	r = cc_hex_unescape(rec->path);
	if (r < 0 || rec->path[0] != '/')
		goto bad;
	return 0;
bad:
	free(rec->r);
	free(rec->path);
	memset(rec, 0, sizeof(*rec));
	return r == -ENOMEM ? r : -EINVAL;
}

int snapshot_read(struct snap_in *s, FILE *f, const char *file)
{
	char *line = NULL;
	size_t cap = 0, lineno = 0, rcap = 0;
	bool ended = false;
	ssize_t n;
	int r = 0;

	memset(s, 0, sizeof(*s));
	s->name = file;
	while ((n = getline(&line, &cap, f)) >= 0) {
		const char *why;
		struct snap_rec rec;

		lineno++;
		if (n && line[n - 1] == '\n')
			line[--n] = '\0';
		if (lineno == 1) {
			if ((size_t)n != strlen(line) || strcmp(line, SNAP_HEADER)) {
				line_warn(file, 1, "not a cachectl snapshot (the first "
				      "line is not '" SNAP_HEADER "')");
				r = -EINVAL;
				break;
			}
			continue;
		}
		if ((size_t)n != strlen(line)) {
			line_warn(file, lineno, "a NUL byte in the line: skipped");
			s->bad++;
			continue;
		}
		if (ended) {
			line_warn(file, lineno, "text after the end line: skipped");
			s->bad++;
			continue;
		}
		if (!strncmp(line, "end ", 4)) {
			const char *p = line + 4;
			uint64_t count;

			ended = true;
			if (parse_u64(&p, '\0', &count) < 0)
				line_warn(file, lineno, "bad end line");
			else if (count != s->n + s->bad)
				line_warn(file, lineno, "the end line counts "
					  "%llu files, %zu were read",
					  (unsigned long long)count,
					  s->n + s->bad);
			continue;
		}
		r = parse_line(line, &rec, &why);
		if (r == -ENOMEM)
			break;
		if (r < 0) {
			line_warn(file, lineno, "%s: skipped", why);
			s->bad++;
			r = 0;
			continue;
		}
		if (s->n == rcap) {
			struct snap_rec *v;

			rcap = rcap ? rcap * 2 : 64;
			v = realloc(s->recs, rcap * sizeof(*v));
			if (!v) {
				free(rec.path);
				free(rec.r);
				r = -ENOMEM;
				break;
			}
			s->recs = v;
		}
		s->recs[s->n++] = rec;
	}
	if (r == 0 && ferror(f)) {
		warnx_path(file, "read error");
		r = -EIO;
	}
	if (r == 0 && lineno == 0) {
		warnx_path(file, "empty: not a cachectl snapshot");
		r = -EINVAL;
	}
	if (r == 0 && !ended)
		line_warn(file, 0, "no end line: the snapshot may be cut short");
	if (r == -ENOMEM)
		warnx_path(file, "out of memory");
	free(line);
	return r;
}

int snapshot_load(struct snap_in *s, const char *file)
{
	FILE *f = strcmp(file, "-") ? fopen(file, "re") : stdin;
	int r;

	if (!f) {
		r = -errno;
		memset(s, 0, sizeof(*s));
		warnx_path(file, "%s", strerror(errno));
		return r;
	}
	r = snapshot_read(s, f, file);
	if (f != stdin)
		fclose(f);
	return r;
}

static struct snap_rec *find_rec(struct snap_in *s, const char *path)
{
	size_t i;

	/* the walk visits the files in the order they were added */
	for (i = s->cursor; i < s->n; i++)
		if (!strcmp(s->recs[i].path, path))
			goto found;
	for (i = 0; i < s->cursor && i < s->n; i++)
		if (!strcmp(s->recs[i].path, path))
			goto found;
	return NULL;
found:
	s->cursor = i + 1;
	return &s->recs[i];
}

int snapshot_range_fn(struct cachectl_walk *w, const struct cachectl_entry *e,
		      uint64_t pos, uint64_t *ret_offset, uint64_t *ret_length,
		      void *data)
{
	struct snap_in *s = data;
	struct snap_rec *rec;
	uint64_t size;
	int64_t mtime;
	size_t i;

	if (pos == 0) {
		rec = s->cur = find_rec(s, cachectl_entry_get_path(e));
		if (!rec || cachectl_entry_get_stamp(e, &size, &mtime) < 0)
			return 0;
		/*
		 * Its pages may hold other data now: bringing back "the same
		 * ranges" would not bring back the same state. Skip it.
		 */
		if (size != rec->size || mtime != rec->mtime_ns) {
			warnx_path(rec->path, "changed since the snapshot (%s): "
				   "skipped", size != rec->size ? "size" :
				   "modification time");
			s->changed++;
			s->cur = NULL;
			return 0;
		}
	}
	rec = s->cur;
	if (!rec)
		return 0;
	if (pos == 0)
		s->next = 0;
	/* in order, not overlapping (checked when read) */
	for (i = s->next; i < rec->nr; i++) {
		if (rec->r[i].off >= pos) {
			*ret_offset = rec->r[i].off;
			*ret_length = rec->r[i].len;
			s->next = i + 1;
			return 1;
		}
	}
	return 0;
}

void snapshot_free(struct snap_in *s)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		free(s->recs[i].path);
		free(s->recs[i].r);
	}
	free(s->recs);
	s->recs = NULL;
	s->n = 0;
}
