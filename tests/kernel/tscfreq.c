// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * tscfreq: print the host's TSC frequency in kHz (median of 5 samples of
 * 50 ms against CLOCK_MONOTONIC_RAW).
 *
 * Under TCG, QEMU's guest TSC is the host TSC. The tinyconfig guest has no
 * HPET/ACPI PM timer to calibrate it against, its PIT calibration fails on a
 * loaded host, and the fallback clocksource (jiffies) loses ticks, so guest
 * time ran up to 35x too fast or 25% too slow: timeouts fired early and
 * sleeps in the tests were wrong. run-kernel-tests passes this value as
 * tsc_early_khz= together with tsc=reliable, which keeps guest time equal to
 * wall time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC_RAW, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(void)
{
	struct timespec pause = { 0, 50 * 1000 * 1000 };
	double khz[5], t0, t1;
	unsigned long long c0, c1;
	int i;

	for (i = 0; i < 5; i++) {
		t0 = now();
		c0 = __rdtsc();
		nanosleep(&pause, NULL);
		c1 = __rdtsc();
		t1 = now();
		khz[i] = (double)(c1 - c0) / (t1 - t0) / 1000;
	}
	qsort(khz, 5, sizeof(*khz), cmp);
	if (khz[2] < 100000 || khz[2] > 10000000)
		return 1;
	printf("%.0f\n", khz[2]);
	return 0;
}
#else
int main(void)
{
	return 1;
}
#endif
