// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Memory as the policies see it: MemTotal, MemAvailable and the reserve
 * (a tenth of RAM) that pins leave to everything else.
 */
#include <stdio.h>

#include "cachectld.h"

void cd_mem_read(struct daemon *d)
{
	char line[256];
	FILE *f = fopen("/proc/meminfo", "re");
	unsigned long long kb;

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "MemTotal: %llu kB", &kb) == 1)
			d->mem_total = kb << 10;
		else if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
			d->mem_avail = kb << 10;
	}
	fclose(f);
	d->reserve = d->mem_total / 10;
	d->pressure = d->mem_avail < d->reserve;
}
