// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The options every verb takes, parsed in one place: -J, -b, -n, -o,
 * --raw, -v, -h and -V mean the same in each. A verb says which of the
 * output options it honours; the others are a usage error there, with the
 * same message everywhere, rather than silently doing nothing.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cachectl-tool.h"

enum { OPT_RAW = 0x1000 };

static const struct option common_long[] = {
	{ "json", no_argument, NULL, 'J' },
	{ "bytes", no_argument, NULL, 'b' },
	{ "noheadings", no_argument, NULL, 'n' },
	{ "output", required_argument, NULL, 'o' },
	{ "raw", no_argument, NULL, OPT_RAW },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
};

#define NCOMMON (sizeof(common_long) / sizeof(common_long[0]))
#define MAX_LONG 48

static unsigned int bit_of(int c)
{
	switch (c) {
	case 'J':
		return COMMON_JSON;
	case 'b':
		return COMMON_BYTES;
	case 'n':
		return COMMON_NOHEADINGS;
	case 'o':
		return COMMON_OUTPUT;
	case OPT_RAW:
		return COMMON_RAW;
	}
	return 0;
}

int common_getopt(int argc, char **argv, const char *verb_short,
		  const struct option *verb_long, struct common_opts *co)
{
	struct option lo[MAX_LONG + 1];
	char so[64];
	size_t n = 0, i;
	int c;

	/* getopt names argv[0] in its messages */
	argv[0] = (char *)program_name;
	for (i = 0; verb_long && verb_long[i].name && n < MAX_LONG - NCOMMON; i++)
		lo[n++] = verb_long[i];
	for (i = 0; i < NCOMMON; i++)
		lo[n++] = common_long[i];
	memset(&lo[n], 0, sizeof(lo[n]));
	snprintf(so, sizeof(so), "%sJbno:vhV", verb_short ? verb_short : "");

	for (;;) {
		unsigned int bit;

		c = getopt_long(argc, argv, so, lo, NULL);
		bit = bit_of(c);
		if (bit && !(co->honours & bit))
			usage_error("%s: option '%s' means nothing here: this "
				    "verb prints no %s", co->verb,
				    bit == COMMON_JSON ? "--json" :
				    bit == COMMON_BYTES ? "--bytes" :
				    bit == COMMON_NOHEADINGS ? "--noheadings" :
				    bit == COMMON_OUTPUT ? "--output" : "--raw",
				    bit == COMMON_JSON ? "JSON" :
				    bit == COMMON_BYTES ? "sizes" :
				    bit == COMMON_OUTPUT ? "columns" : "table");
		switch (c) {
		case 'J':
			co->json = true;
			continue;
		case 'b':
			co->bytes = true;
			continue;
		case 'n':
			co->noheadings = true;
			continue;
		case 'o':
			co->output = optarg;
			continue;
		case OPT_RAW:
			co->raw = true;
			continue;
		case 'v':
			co->verbose = true;
			continue;
		case 'V':
			printf("%s %s\n", program_name, PACKAGE_VERSION);
			exit(EXIT_SUCCESS);
		case '?':
			errtryhelp();
		}
		return c;	/* the verb's own, 'h', or -1 at the end */
	}
}

void common_usage(const struct common_opts *co)
{
	unsigned int h = co->honours;

	if (h & COMMON_JSON)
		fputs(" -J, --json               JSON output\n", stdout);
	if (h & COMMON_OUTPUT)
		fputs(" -o, --output COLS        columns to print ('+COLS' adds to the default)\n",
		      stdout);
	if (h & COMMON_BYTES)
		fputs(" -b, --bytes              sizes in bytes, not human units\n",
		      stdout);
	if (h & COMMON_NOHEADINGS)
		fputs(" -n, --noheadings         no header line\n", stdout);
	if (h & COMMON_RAW)
		fputs("     --raw                raw output\n", stdout);
	fputs(" -v, --verbose            say which backend is used (shim or kernel) on stderr\n"
	      " -h, --help               display this help\n"
	      " -V, --version            display version\n", stdout);
}
