// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The one output layer of every verb. Tables for people come from
 * libsmartcols when a verb has few rows (pins, cache), which sizes the
 * columns to fit, and from table.c's fixed-width rows when a verb streams
 * a row per file (status, prefetch, evict). JSON always comes from the
 * writer here, in the shape libsmartcols gives lsblk and findmnt, with
 * names escaped by common/escape: libsmartcols passes bytes that are not
 * UTF-8 through, and then the output would not be JSON.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cachectl-tool.h"

int out_put(struct outbuf *o, const char *s, size_t n)
{
	if (o->n + n + 1 > o->cap) {
		size_t cap = MAX(o->cap * 2, o->n + n + 256);
		char *b = realloc(o->b, cap);

		if (!b)
			return -ENOMEM;
		o->b = b;
		o->cap = cap;
	}
	memcpy(o->b + o->n, s, n);
	o->n += n;
	return 0;
}

int out_puts(struct outbuf *o, const char *s)
{
	return out_put(o, s, strlen(s));
}

int out_flush(struct outbuf *o, FILE *f)
{
	if (o->n && fwrite(o->b, 1, o->n, f) != o->n)
		return -EIO;
	o->n = 0;
	return 0;
}

void out_free(struct outbuf *o)
{
	free(o->b);
	cc_escbuf_free(&o->esc);
	memset(o, 0, sizeof(*o));
}

/* names round-trip through \udcXX, see common/escape.h */
void out_json_string(struct outbuf *o, const char *s)
{
	const char *e = cc_escbuf_json(&o->esc, s);

	out_put(o, "\"", 1);
	if (e)
		out_puts(o, e);
	out_put(o, "\"", 1);
}

void out_json_begin(struct outbuf *o, const char *name)
{
	out_puts(o, "{\n   ");
	out_json_string(o, name);
	out_puts(o, ": [");
}

void out_json_row(struct outbuf *o, bool first)
{
	out_puts(o, first ? "\n      {" : ",{");
}

/* a column's name, in lower case, as libsmartcols makes it a key */
void out_json_key(struct outbuf *o, const char *name, bool first)
{
	char key[32];
	size_t i;

	for (i = 0; name[i] && i < sizeof(key) - 1; i++)
		key[i] = name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i];
	out_puts(o, first ? "\n         \"" : ",\n         \"");
	out_put(o, key, i);
	out_puts(o, "\": ");
}

void out_json_row_end(struct outbuf *o)
{
	out_puts(o, "\n      }");
}

void out_json_end(struct outbuf *o)
{
	out_puts(o, "\n   ]\n}\n");
}

/* one cell as libsmartcols types it: no data is null (false for a boolean) */
static void json_value(struct outbuf *o, int type, const char *v)
{
	switch (type) {
	case SCOLS_JSON_BOOLEAN:
	case SCOLS_JSON_BOOLEAN_OPTIONAL:
		if (!v || !*v) {
			out_puts(o, type == SCOLS_JSON_BOOLEAN ? "false" : "null");
			return;
		}
		out_puts(o, *v == '0' || *v == 'N' || *v == 'n' ? "false" :
			 "true");
		return;
	case SCOLS_JSON_NUMBER:
		out_puts(o, v && *v ? v : "null");
		return;
	default:
		if (!v || !*v)
			out_puts(o, "null");
		else
			out_json_string(o, v);
	}
}

static int print_json(struct libscols_table *tb, FILE *f)
{
	struct libscols_iter *it = scols_new_iter(SCOLS_ITER_FORWARD);
	struct libscols_line *ln;
	struct outbuf o = { 0 };
	size_t ncols = scols_table_get_ncols(tb), i;
	bool first = true;
	int r;

	if (!it)
		return -ENOMEM;
	out_json_begin(&o, scols_table_get_name(tb));
	while (scols_table_next_line(tb, it, &ln) == 0) {
		bool first_cell = true;

		out_json_row(&o, first);
		first = false;
		for (i = 0; i < ncols; i++) {
			struct libscols_column *cl = scols_table_get_column(tb, i);
			struct libscols_cell *ce = scols_line_get_cell(ln, i);

			if (!cl || (scols_column_get_flags(cl) & SCOLS_FL_HIDDEN))
				continue;
			out_json_key(&o, scols_column_get_name(cl), first_cell);
			first_cell = false;
			json_value(&o, scols_column_get_json_type(cl),
				   ce ? scols_cell_get_data(ce) : NULL);
		}
		out_json_row_end(&o);
	}
	out_json_end(&o);
	r = out_flush(&o, f);
	out_free(&o);
	scols_free_iter(it);
	return r;
}

/* the visible column called @name (in any case), or NULL */
static struct libscols_column *column_by_name(struct libscols_table *tb,
					      const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < scols_table_get_ncols(tb); i++) {
		struct libscols_column *cl = scols_table_get_column(tb, i);
		const char *n = cl ? scols_column_get_name(cl) : NULL;

		if (n && strlen(n) == len && !strncasecmp(n, name, len) &&
		    !(scols_column_get_flags(cl) & SCOLS_FL_HIDDEN))
			return cl;
	}
	return NULL;
}

/* -o COLS: only those, in that order; +COLS: those after the default */
static int select_columns(struct libscols_table *tb, const char *list)
{
	struct libscols_column *pre = NULL, *found[64];
	size_t nfound = 0, i;
	bool add = *list == '+';
	const char *p = list + add;

	while (*p && nfound < 64) {
		size_t n = strcspn(p, ",");

		found[nfound] = column_by_name(tb, p, n);
		if (!found[nfound]) {
			fprintf(stderr, "%s: unknown column: %.*s\n",
				program_name, (int)n, p);
			return -EINVAL;
		}
		nfound++;
		p += n;
		if (*p == ',')
			p++;
	}
	if (!nfound)
		return -EINVAL;
	if (add)
		return 0;	/* every column a verb has is shown by default */
	for (i = 0; i < scols_table_get_ncols(tb); i++) {
		struct libscols_column *cl = scols_table_get_column(tb, i);

		scols_column_set_flags(cl, scols_column_get_flags(cl) |
				       SCOLS_FL_HIDDEN);
	}
	for (i = 0; i < nfound; i++) {
		scols_column_set_flags(found[i], scols_column_get_flags(found[i]) &
				       ~SCOLS_FL_HIDDEN);
		scols_table_move_column(tb, pre, found[i]);
		pre = found[i];
	}
	return 0;
}

int out_table_print(struct libscols_table *tb, const struct common_opts *co)
{
	if (co->output && select_columns(tb, co->output) < 0)
		errtryhelp();
	if (co->json)
		return print_json(tb, stdout);
	scols_table_enable_noheadings(tb, co->noheadings);
	scols_table_enable_raw(tb, co->raw);
	return scols_print_table(tb);
}
