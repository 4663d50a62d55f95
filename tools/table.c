// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Per-file output, streamed: tables, raw and JSON (output.c's writer) in
 * the shapes libsmartcols gives fincore and lsblk. libsmartcols itself is
 * not used here: it keeps every row until the end to size the columns
 * (hundreds of MiB for a big tree) and spends ~27k instructions a row on
 * multibyte width checks (callgrind, 2000 rows), ten times what the
 * syscalls cost. scols_table_print_range() and removing the printed lines
 * would bound the memory, but each range would be sized on its own, so
 * columns would not line up from one range to the next, and the cost a
 * row stays. Columns have fixed widths instead, the FILE column last;
 * a FILE column elsewhere (-o) is sized from the first rows.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cachectl-tool.h"

enum { ALIGN_LEFT = 0, ALIGN_RIGHT = 1 };
enum { JSON_STRING = 0, JSON_NUMBER = 1 };

struct colinfo {
	const char *name;
	int width;		/* in human mode */
	int width_bytes;	/* with --bytes */
	int align;
	int json;
	const char *help;
};

static const struct colinfo cols[COL_COUNT] = {
	[COL_FILE] = { "FILE", 4, 4, ALIGN_LEFT, JSON_STRING,
		       "file name" },
	[COL_SIZE] = { "SIZE", 7, 14, ALIGN_RIGHT, JSON_NUMBER,
		       "file size" },
	[COL_CACHED] = { "CACHED", 7, 14, ALIGN_RIGHT, JSON_NUMBER,
			 "bytes in the page cache" },
	[COL_PCT] = { "PCT", 6, 6, ALIGN_RIGHT, JSON_NUMBER,
		      "percentage of the file cached ('-' for an empty file)" },
	[COL_DIRTY] = { "DIRTY", 7, 14, ALIGN_RIGHT, JSON_NUMBER,
			"dirty bytes" },
	[COL_WRITEBACK] = { "WRITEBACK", 9, 14, ALIGN_RIGHT,
			    JSON_NUMBER, "bytes under writeback" },
	[COL_EVICTED] = { "EVICTED", 7, 14, ALIGN_RIGHT, JSON_NUMBER,
			  "bytes evicted (cachestat: pages ever evicted)" },
	[COL_RECENTLY_EVICTED] = { "RECENTLY_EVICTED", 16, 16, ALIGN_RIGHT,
				   JSON_NUMBER,
				   "bytes evicted recently (whose reuse would be a refault)" },
	[COL_PAGES] = { "PAGES", 8, 12, ALIGN_RIGHT, JSON_NUMBER,
			"pages in the page cache" },
	[COL_BYTES] = { "BYTES", 7, 14, ALIGN_RIGHT, JSON_NUMBER,
			"bytes requested (prefetch) or left (evict)" },
	[COL_FSCACHE] = { "FSCACHE", 7, 14, ALIGN_RIGHT, JSON_NUMBER,
			  "bytes in the fscache cache (kernel backend)" },
	[COL_PINNED] = { "PINNED", 6, 6, ALIGN_RIGHT, JSON_NUMBER,
			 "fscache object pinned (kernel backend)" },
	[COL_CACHE] = { "CACHE", 6, 6, ALIGN_LEFT, JSON_STRING,
			"fscache object state (kernel backend)" },
};

struct table {
	struct table_opts o;
	FILE *out;
	struct outbuf line;
	bool any;		/* a JSON row was printed */
	bool fs_any;		/* a row had fscache figures */
	uint64_t fs_sum;	/* for the total row */
	/* the total row's page states, summed where every file had them */
	uint64_t dirty, writeback, evicted, recently_evicted;
	bool no_state, no_evicted;
	int jkeys;		/* JSON keys of the row so far */
	/*
	 * FILE not last: its width is not known up front. The first rows
	 * are held to size every column, then the widths stay.
	 */
	bool hold;
	char **held;		/* ncols cells a row; NULL: "?" */
	size_t nheld, capheld, cur;
	int width[COL_COUNT];	/* 0: the column's own */
	struct cc_escbuf esc;	/* FILE names for people */
};

static int col_by_name(const char *s, size_t n)
{
	int i;

	for (i = 0; i < COL_COUNT; i++)
		if (strlen(cols[i].name) == n && !strncasecmp(cols[i].name, s, n))
			return i;
	return -1;
}

int table_parse_columns(struct table_opts *o, const char *list,
			const int *defaults, int ndefaults)
{
	const char *p = list;

	o->ncols = 0;
	if (*p == '+') {
		memcpy(o->cols, defaults, ndefaults * sizeof(int));
		o->ncols = ndefaults;
		p++;
	}
	while (*p) {
		size_t n = strcspn(p, ",");
		int id = col_by_name(p, n);

		if (id < 0 || o->ncols == COL_COUNT) {
			fprintf(stderr, "%s: unknown column: %.*s\n",
				program_name, (int)n, p);
			return -EINVAL;
		}
		o->cols[o->ncols++] = id;
		p += n;
		if (*p == ',')
			p++;
	}
	return o->ncols ? 0 : -EINVAL;
}

void table_all_columns(struct table_opts *o)
{
	int i;

	o->ncols = 0;
	for (i = 0; i < COL_COUNT; i++)
		if (i != COL_FILE)
			o->cols[o->ncols++] = i;
	o->cols[o->ncols++] = COL_FILE;
}

/* --help's list, as fincore and lsblk print theirs */
void table_columns_help(FILE *out)
{
	int i;

	fputs("\nAvailable output columns:\n", out);
	for (i = 0; i < COL_COUNT; i++)
		fprintf(out, " %16s  %s\n", cols[i].name, cols[i].help);
}

static void pad(struct outbuf *l, size_t n)
{
	static const char sp[] = "                ";

	while (n) {
		size_t k = MIN(n, sizeof(sp) - 1);

		out_put(l, sp, k);
		n -= k;
	}
}

static char *u64_str(uint64_t v, char *end)
{
	*--end = '\0';
	do {
		*--end = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return end;
}

static const char *num(char *buf, size_t len, uint64_t v, bool human)
{
	if (human)
		return size_human(v, buf, len);
	return u64_str(v, buf + len);
}

/*
 * One decimal, rounded, without floating point formatting. The kernel
 * counts whole pages, so measure against the range in whole pages.
 */
static const char *pct(char *buf, size_t len, uint64_t part, uint64_t whole)
{
	uint64_t tenths;
	char *p;

	whole = (whole + 4095) & ~4095ull;
	part = MIN(part, whole);
	tenths = whole ? (part * 1000 + whole / 2) / whole : 1000;
	p = u64_str(tenths / 10, buf + len - 2);

	buf[len - 3] = '.';
	buf[len - 2] = (char)('0' + tenths % 10);
	buf[len - 1] = '\0';
	return p;
}

/* display columns of a name escaped for a terminal (valid UTF-8) */
static size_t text_width(const char *s, size_t n)
{
	size_t w = 0, i;

	for (i = 0; i < n; i++)
		w += ((unsigned char)s[i] & 0xc0) != 0x80;
	return w;
}

static void put_cell(struct table *t, struct outbuf *l, int i,
		     const char *val)
{
	const struct colinfo *ci = &cols[t->o.cols[i]];
	size_t n, tw, w;

	if (i)
		out_put(l, " ", 1);
	if (!val)
		val = "?";
	n = strlen(val);
	tw = text_width(val, n);
	w = t->o.raw ? 0 : t->width[i] ? (size_t)t->width[i] :
	    (size_t)(t->o.bytes ? ci->width_bytes : ci->width);
	if (ci->align == ALIGN_RIGHT && tw < w)
		pad(l, w - tw);
	out_put(l, val, n);
	if (ci->align == ALIGN_LEFT && i != t->o.ncols - 1 && tw < w)
		pad(l, w - tw);
}

static void cell(struct table *t, struct outbuf *l, int i, const char *val,
		 bool is_num)
{
	const struct colinfo *ci = &cols[t->o.cols[i]];
	size_t n = val ? strlen(val) : 0;

	if (t->o.json) {
		out_json_key(l, ci->name, t->jkeys++ == 0);
		if (!val)
			out_put(l, "null", 4);
		else if (t->o.cols[i] == COL_PINNED)
			out_put(l, val, n);		/* true, false */
		else if (is_num && (t->o.bytes || t->o.cols[i] == COL_PCT ||
				    t->o.cols[i] == COL_PAGES))
			out_put(l, val, n);
		else
			out_json_string(l, val);	/* names; "8M" human units */
		return;
	}
	if (t->hold) {
		t->held[t->cur++] = val ? strdup(val) : NULL;
		return;
	}
	put_cell(t, l, i, val);
}

#define HOLD_ROWS 4096

/* the held rows, in columns as wide as their widest cell */
static void release_held(struct table *t)
{
	size_t r, nrows = t->nheld / t->o.ncols;
	int i;

	for (i = 0; i < t->o.ncols; i++) {
		const struct colinfo *ci = &cols[t->o.cols[i]];
		size_t w = t->o.bytes ? ci->width_bytes : ci->width;

		for (r = 0; r < nrows; r++) {
			const char *v = t->held[r * t->o.ncols + i];
			size_t n = v ? text_width(v, strlen(v)) : 1;

			w = MAX(w, n);
		}
		t->width[i] = (int)w;
	}
	for (r = 0; r < nrows; r++) {
		for (i = 0; i < t->o.ncols; i++) {
			char *v = t->held[r * t->o.ncols + i];

			put_cell(t, &t->line, i, v);
			free(v);
		}
		out_put(&t->line, "\n", 1);
	}
	free(t->held);
	t->held = NULL;
	t->nheld = t->capheld = 0;
	t->hold = false;
}

/* room for one more row of held cells */
static int hold_row(struct table *t)
{
	if (t->nheld + t->o.ncols > t->capheld) {
		size_t cap = MAX(t->capheld * 2, (size_t)t->o.ncols * 64);
		char **h = realloc(t->held, cap * sizeof(*h));

		if (!h)
			return -ENOMEM;
		t->held = h;
		t->capheld = cap;
	}
	t->cur = t->nheld;
	return 0;
}

static int flush_line(struct table *t)
{
	return out_flush(&t->line, t->out);
}

struct table *table_new(const struct table_opts *o)
{
	struct table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->o = *o;
	t->out = stdout;
	t->hold = !o->json && !o->raw && o->ncols > 1 &&
		  o->cols[o->ncols - 1] != COL_FILE;
	/* a table's header waits for its first row: no rows, no header */
	if (o->json)
		out_json_begin(&t->line, "cachectl");
	if (flush_line(t) < 0) {
		out_free(&t->line);
		free(t);
		return NULL;
	}
	return t;
}

/* "object,pinned" or "-": the CACHECTL_CACHE_* bits that are set */
static const char *cache_state(char *buf, size_t len, uint64_t state)
{
	static const char *const names[] = { "object", "pinned", "nocull",
					     "full" };
	size_t i, n = 0;

	buf[0] = '\0';
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (state & (1ull << i))
			n += snprintf(buf + n, len - n, "%s%s", n ? "," : "",
				      names[i]);
	return n ? buf : "-";
}

static int row(struct table *t, const char *file,
	       const struct cachectl_residency *res, uint64_t bytes,
	       bool unknown, bool no_state, bool is_total)
{
	struct outbuf *l = &t->line;
	bool human = !t->o.bytes;
	/* no fscache figures (shim): "-" in tables, null in JSON */
	bool fs = res->flags & CACHECTL_RES_FSCACHE;
	const char *absent = t->o.json ? NULL : "-";
	int i;

	t->jkeys = 0;
	if (t->hold && hold_row(t) < 0)
		return -ENOMEM;
	if (t->o.json && is_total) {
		/* not a row: a file called "total" must stay one */
		out_puts(l, t->any ? "\n   ],\n   \"total\": {" :
			 "],\n   \"total\": {");
	} else if (t->o.json) {
		out_json_row(l, !t->any);
	} else if (!t->any && !t->o.noheadings) {
		for (i = 0; i < t->o.ncols; i++)
			cell(t, l, i, cols[t->o.cols[i]].name, false);
		if (t->hold) {
			t->nheld = t->cur;
			if (hold_row(t) < 0)
				return -ENOMEM;
		} else {
			out_put(l, "\n", 1);
		}
	}
	t->any = true;
	for (i = 0; i < t->o.ncols; i++) {
		int id = t->o.cols[i];
		const char *val = NULL;
		char buf[32];
		uint64_t v;

		switch (id) {
		case COL_FILE:
			if (t->o.json && is_total)
				continue;
			val = t->o.json ? file :
			      t->o.raw ? name_esc_raw(&t->esc, file) :
			      name_esc(&t->esc, file);
			cell(t, l, i, val, false);
			continue;
		case COL_PCT:
			/* of nothing, nothing is cached: not 100%, not 0% */
			if (!res->range)
				val = absent;
			else if (!unknown)
				val = pct(buf, sizeof(buf), res->cached, res->range);
			cell(t, l, i, val, true);
			continue;
		case COL_PAGES:
			if (!unknown)
				val = num(buf, sizeof(buf),
					  (res->cached + 4095) / 4096, false);
			cell(t, l, i, val, true);
			continue;
		case COL_SIZE:
			v = res->size;
			break;
		case COL_CACHED:
			if (unknown) {
				cell(t, l, i, NULL, true);
				continue;
			}
			v = res->cached;
			break;
		case COL_FSCACHE:
			if (!fs) {
				cell(t, l, i, absent, true);
				continue;
			}
			v = res->fscache;
			break;
		case COL_PINNED:
			if (!fs || is_total)
				val = absent;
			else if (res->cache_state & CACHECTL_CACHE_PINNED)
				val = t->o.json ? "true" : "yes";
			else
				val = t->o.json ? "false" : "no";
			cell(t, l, i, val, false);
			continue;
		case COL_CACHE:
			if (!fs || is_total)
				val = absent;
			else if (t->o.json && !res->cache_state)
				val = "";
			else
				val = cache_state(buf, sizeof(buf),
						  res->cache_state);
			cell(t, l, i, val, false);
			continue;
		case COL_BYTES:
			if (bytes == UINT64_MAX) {
				cell(t, l, i, NULL, true);
				continue;
			}
			v = bytes;
			break;
		default:
			/* the kernel backend on a kernel without cachestat */
			if (unknown || no_state ||
			    ((res->flags & CACHECTL_RES_NO_EVICTED) &&
			     (id == COL_EVICTED || id == COL_RECENTLY_EVICTED))) {
				cell(t, l, i, NULL, true);
				continue;
			}
			v = id == COL_DIRTY ? res->dirty :
			    id == COL_WRITEBACK ? res->writeback :
			    id == COL_EVICTED ? res->evicted :
			    res->recently_evicted;
			break;
		}
		cell(t, l, i, num(buf, sizeof(buf), v, human), true);
	}
	if (t->o.json && is_total)
		out_puts(l, "\n   }\n}\n");
	else if (t->o.json)
		out_json_row_end(l);
	else if (t->hold)
		t->nheld = t->cur;
	else
		out_put(l, "\n", 1);
	if (t->hold && t->nheld >= (size_t)HOLD_ROWS * t->o.ncols)
		release_held(t);
	/* a pipe reader sees whole rows, written in few big writes */
	if (l->n >= 16384)
		return flush_line(t);
	return 0;
}

int table_add(struct table *t, const char *file,
	      const struct cachectl_residency *res, uint64_t bytes)
{
	if (res->flags & CACHECTL_RES_FSCACHE) {
		t->fs_any = true;
		t->fs_sum += res->fscache;
	}
	if (res->flags & (CACHECTL_RES_UNKNOWN | CACHECTL_RES_NO_STATE))
		t->no_state = true;
	if (res->flags & CACHECTL_RES_NO_EVICTED)
		t->no_evicted = true;
	t->dirty += res->dirty;
	t->writeback += res->writeback;
	t->evicted += res->evicted;
	t->recently_evicted += res->recently_evicted;
	return row(t, file, res, bytes, res->flags & CACHECTL_RES_UNKNOWN,
		   res->flags & CACHECTL_RES_NO_STATE, false);
}

int table_finish(struct table *t, const char *total_name,
		 const struct cachectl_totals *tot, bool total)
{
	int r = 0;

	if (total) {
		struct cachectl_residency res = {
			.size = tot->size,
			.range = tot->size,
			.cached = tot->cached,
			.dirty = t->dirty,
			.writeback = t->writeback,
			.evicted = t->evicted,
			.recently_evicted = t->recently_evicted,
			.flags = (t->fs_any ? CACHECTL_RES_FSCACHE : 0) |
				 (t->no_evicted ? CACHECTL_RES_NO_EVICTED : 0),
			.fscache = t->fs_sum,
		};

		/* a sum that leaves files out would be a quiet lie */
		r = row(t, total_name, &res, tot->bytes, tot->unknown > 0,
			t->no_state, true);
	}
	if (t->hold)
		release_held(t);
	if (t->o.json && !total)
		out_json_end(&t->line);
	if (flush_line(t) < 0 || fflush(t->out) || ferror(t->out))
		r = -EIO;
	return r;
}

void table_free(struct table *t)
{
	if (!t)
		return;
	while (t->nheld)
		free(t->held[--t->nheld]);
	free(t->held);
	out_free(&t->line);
	cc_escbuf_free(&t->esc);
	free(t);
}
