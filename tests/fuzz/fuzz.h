/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What a harness defines: libFuzzer calls LLVMFuzzerTestOneInput with
 * each input (and LLVMFuzzerInitialize, if defined, once); without
 * libFuzzer fuzz-main.c does, over the seed corpus. A harness aborts
 * on anything that must not happen, so both report it as a crash.
 */
#ifndef CACHECTL_FUZZ_H
#define CACHECTL_FUZZ_H

#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

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

static char fuzz_dir[64];

static inline void fuzz_rmdir(void)
{
	DIR *d = opendir(fuzz_dir);
	struct dirent *e;

	while (d && (e = readdir(d)))
		unlinkat(dirfd(d), e->d_name, 0);
	if (d)
		closedir(d);
	rmdir(fuzz_dir);
}

/*
 * A directory, gone at exit, for the files a harness hands a parser
 * (tmpfs where there is one); returns @name in it.
 */
static inline void fuzz_mkdtemp(const char *harness, const char *name,
				char *path, size_t size)
{
	snprintf(fuzz_dir, sizeof(fuzz_dir), "%s/fuzz-%s.XXXXXX",
		 access("/dev/shm", W_OK) ? "/tmp" : "/dev/shm", harness);
	fuzz_check(mkdtemp(fuzz_dir));
	atexit(fuzz_rmdir);
	snprintf(path, size, "%s/%s", fuzz_dir, name);
}

/* @path holds @data and nothing else */
static inline void fuzz_write_file(const char *path, const uint8_t *data,
				   size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	fuzz_check(fd >= 0);
	fuzz_check(write(fd, data, size) == (ssize_t)size);
	close(fd);
}

/* a cachectl_log_fn: what the library says of bad input is no news */
static inline void fuzz_quiet_log(void *data, int priority, const char *file,
				  int line, const char *fn, const char *format,
				  va_list args)
{
}

#endif
