// SPDX-License-Identifier: GPL-2.0-or-later
/* cachectl: one binary, one verb per job. */
#include <stdlib.h>
#include <string.h>

#include "cachectl-tool.h"

const char *program_name = "cachectl";

static const struct verb verbs[] = {
	{ "status", verb_status, "show what is in the page cache" },
	{ "prefetch", verb_prefetch, "bring files into the page cache" },
	{ "evict", verb_evict, "drop files from the page cache" },
	{ "snapshot", verb_snapshot, "record which pages are cached, to restore" },
	{ "pin", verb_pin, "keep files cached (with cachectld)" },
	{ "unpin", verb_unpin, "forget pins" },
	{ "pins", verb_pins, "list pins and their state" },
	{ "monitor", verb_monitor, "follow cachectld's events" },
	{ "cache", verb_cache, "show fscache caches; culling on or off" },
	{ "attach", verb_attach, "serve a directory from a local cache, offline too" },
	{ "detach", verb_detach, "give an attached directory back" },
	{ "disconnect", verb_disconnect, "work from the local cache" },
	{ "reconnect", verb_reconnect, "serve from the server again" },
};

static void usage(void)
{
	size_t i;

	printf("Usage:\n %s VERB [options] [PATH...]\n\n"
	       "Query, prefetch, evict and pin file data in the Linux page cache.\n\n"
	       "Verbs:\n", program_name);
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		printf("  %-10s %s\n", verbs[i].name, verbs[i].help);
	printf("\nOptions:\n"
	       " -h, --help     display this help\n"
	       " -V, --version  display version\n\n"
	       "Every verb takes -J, -b, -n, -o, --raw (where it prints a table),\n"
	       "-h, -V and -v, --verbose: it names the backend in use (shim or\n"
	       "kernel) on stderr. CACHECTL_BACKEND=shim|kernel forces one.\n"
	       "Run '%s VERB --help' for the options of a verb.\n"
	       "For more details see cachectl(1).\n", program_name);
	exit(EXIT_SUCCESS);
}

int main(int argc, char **argv)
{
	size_t i;

	close_stdout_atexit();
	if (argc < 2)
		usage_error("no verb given");
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))
		usage();
	if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
		printf("%s %s\n", program_name, PACKAGE_VERSION);
		return EXIT_SUCCESS;
	}
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (!strcmp(argv[1], verbs[i].name))
			return verbs[i].fn(argc - 1, argv + 1);
	if (argv[1][0] == '-')
		usage_error("unrecognized option '%s'", argv[1]);
	usage_error("unknown verb '%s'", argv[1]);
}
