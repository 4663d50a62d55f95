// SPDX-License-Identifier: GPL-2.0-or-later
/* Small helpers shared by the verbs: messages, sizes, escaping. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cachectl-tool.h"

void warnx_path(const char *path, const char *fmt, ...)
{
	struct cc_escbuf esc = { 0 };
	va_list ap;

	fprintf(stderr, "%s: %s: ", program_name, name_esc(&esc, path));
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	cc_escbuf_free(&esc);
}

void errtryhelp(void)
{
	fprintf(stderr, "Try '%s --help' for more information.\n",
		program_name);
	exit(EXIT_FAILURE);
}

void usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", program_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	errtryhelp();
}

/* 1536 -> "1.5K", 8388608 -> "8M": what fincore and lsblk print. */
char *size_human(uint64_t bytes, char *buf, size_t len)
{
	static const char units[] = "BKMGTPE";
	uint64_t whole = bytes, frac = 0;
	char tmp[32], *p = tmp + sizeof(tmp);
	int u = 0;

	while (whole >= 1024 && u < 6) {
		frac = whole & 1023;
		whole >>= 10;
		u++;
	}
	/* one decimal, rounded; no ".0" (snprintf was a profile hot spot) */
	if (u) {
		frac = (frac * 10 + 512) / 1024;
		if (frac == 10) {
			whole++;
			frac = 0;
		}
	}
	*--p = '\0';
	*--p = units[u];
	if (frac) {
		*--p = (char)('0' + frac);
		*--p = '.';
	}
	do {
		*--p = (char)('0' + whole % 10);
		whole /= 10;
	} while (whole);
	if ((size_t)(tmp + sizeof(tmp) - p) > len)
		return NULL;
	memcpy(buf, p, tmp + sizeof(tmp) - p);
	return buf;
}

/* a name for a terminal: no control bytes, no bytes that are not UTF-8 */
const char *name_esc(struct cc_escbuf *b, const char *s)
{
	const char *e = cc_escbuf_hex(b, s, CC_ESC_UTF8);

	return e ? e : s;
}

/* raw output separates columns with spaces, so names cannot hold any */
const char *name_esc_raw(struct cc_escbuf *b, const char *s)
{
	const char *e = cc_escbuf_hex(b, s, CC_ESC_UTF8 | CC_ESC_SPACE);

	return e ? e : s;
}

static void close_stdout(void)
{
	if (fflush(stdout) != 0 || ferror(stdout) || fclose(stdout) != 0) {
		if (errno == EPIPE)
			_exit(EXIT_FAILURE);
		fprintf(stderr, "%s: write error: %s\n", program_name,
			strerror(errno ? errno : EIO));
		_exit(EXIT_FAILURE);
	}
}

void close_stdout_atexit(void)
{
	atexit(close_stdout);
}

int parse_u32(const char *s, unsigned int min, unsigned int max,
	      unsigned int *ret)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v < min || v > max)
		return -EINVAL;
	*ret = (unsigned int)v;
	return 0;
}

/*
 * Sizes as util-linux reads them: "4096", "512K", "1.5G"; K M G T P E
 * (either case) and "KiB"... are powers of 1024, "KB"... of 1000. Only
 * digits and one point: no sign, exponent, hex, "nan" or "inf", and a
 * value past 2^63 - 1 is -ERANGE, never wrapped.
 */
int parse_size(const char *s, uint64_t *ret)
{
	static const char units[] = "KMGTPE";
	uint64_t whole = 0, frac = 0, fdiv = 1, mult = 1, v;
	const char *p = s, *u;
	int i, n;

	if ((*p < '0' || *p > '9') && !(*p == '.' && p[1] >= '0' && p[1] <= '9'))
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (whole > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return -ERANGE;
		whole = whole * 10 + (uint64_t)(*p - '0');
	}
	if (*p == '.') {
		if (p[1] < '0' || p[1] > '9')
			return -EINVAL;
		for (p++; *p >= '0' && *p <= '9'; p++) {
			/* past a billionth of a unit the digits change nothing */
			if (fdiv < 1000000000ull) {
				frac = frac * 10 + (uint64_t)(*p - '0');
				fdiv *= 10;
			}
		}
	}
	if (*p) {
		u = strchr(units, *p >= 'a' && *p <= 'z' ? *p - 32 : *p);
		if (!u || !*u)
			return -EINVAL;
		n = (int)(u - units) + 1;
		if (!strcmp(p + 1, "") || !strcmp(p + 1, "iB"))
			for (i = 0; i < n; i++)
				mult *= 1024;
		else if (!strcmp(p + 1, "B"))
			for (i = 0; i < n; i++)
				mult *= 1000;
		else
			return -EINVAL;
	}
	if (whole > UINT64_MAX / mult)
		return -ERANGE;
	v = whole * mult;
	/* frac / fdiv < 1 and mult <= 2^60: the product fits in 128 bits */
	frac = (uint64_t)(((unsigned __int128)frac * mult) / fdiv);
	/* offsets and budgets end up in off_t and the store's signed fields */
	if (v > (uint64_t)INT64_MAX - frac)
		return -ERANGE;
	*ret = v + frac;
	return 0;
}
