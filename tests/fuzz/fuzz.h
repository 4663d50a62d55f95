/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What a harness defines: libFuzzer calls LLVMFuzzerTestOneInput with
 * each input (and LLVMFuzzerInitialize, if defined, once); without
 * libFuzzer fuzz-main.c does, over the seed corpus. A harness aborts
 * on anything that must not happen, so both report it as a crash.
 */
#ifndef CACHECTL_FUZZ_H
#define CACHECTL_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define fuzz_check(cond)						\
	do {								\
		if (!(cond)) {						\
			fprintf(stderr, "%s:%d: %s does not hold\n",	\
				__FILE__, __LINE__, #cond);		\
			abort();					\
		}							\
	} while (0)

/* the input as a C string: up to its first NUL; NULL without memory */
static inline char *fuzz_strdup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	size_t i;

	if (!s)
		return NULL;
	for (i = 0; i < size && data[i]; i++)
		s[i] = (char)data[i];
	s[i] = '\0';
	return s;
}

#endif
