#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""How many system calls cachectl makes per file, counted by strace, so
that a change that adds one per file cannot slip in unseen.

The count per file is the slope between two trees (N1 and N2 files, same
shape): what the program does once (loading libraries, the thread pool,
the io_uring set-up) cancels out. Skipped without strace.

usage: syscall_tests.py GROUP      (see clitest.py)
"""

import collections
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'pylib'))
from cachectl_test import run, Skip  # noqa: E402
from clitest import have_strace, main, make_cold_many, mass_tree  # noqa: E402

N1, N2 = 2, 6           # directories of 64 files: the pool's path
PER_DIR = 64

# strace 6.1 has no name for cachestat(2) (451 = 0x1c3)
NAMES = {'syscall_0x1c3': 'cachestat', 'newfstatat': 'stat', 'fstat': 'stat',
         'statx': 'stat', 'fadvise64': 'fadvise', 'readahead': 'fadvise'}
CALL = re.compile(r'^\d+\s+([a-z_0-9]+)\(')


def count(E, args, tree, cold):
    if cold:
        make_cold_many(files_of(tree))
    log = E.path('trace.%d' % os.getpid())
    env = dict(os.environ, LC_ALL='C')
    # LeakSanitizer cannot run under ptrace (ASan builds in CI)
    env['ASAN_OPTIONS'] = ':'.join(
        x for x in (env.get('ASAN_OPTIONS'), 'detect_leaks=0') if x)
    r = run(['strace', '-f', '-qq', '-o', log, os.environ['CACHECTL']] +
            args + [tree], env=env, timeout=60)
    if r.rc != 0:
        raise RuntimeError('%s failed: %s' % (' '.join(args), r.show()))
    c = collections.Counter()
    with open(log, errors='replace') as f:
        for ln in f:
            m = CALL.match(ln)
            if m:
                c[NAMES.get(m.group(1), m.group(1))] += 1
    os.unlink(log)
    return c


def files_of(tree):
    return [os.path.join(d, f) for d, _, fs in os.walk(tree) for f in fs]


def per_file(E, args, cold):
    a = count(E, args, E.path('t%d' % N1), cold)
    b = count(E, args, E.path('t%d' % N2), cold)
    n = (N2 - N1) * PER_DIR
    return {k: (b[k] - a[k]) / n for k in set(a) | set(b) if b[k] != a[k]}


def check(t, E, desc, args, cold, want):
    """want: syscall -> calls per file; the total is their sum."""
    got = per_file(E, args, cold)
    why = 'per file: %s' % ', '.join('%s %.2f' % kv for kv in sorted(got.items()))
    for k, v in want.items():
        t.ok(abs(got.get(k, 0) - v) < 0.05, '%s: %g %s per file' % (desc, v, k), why)
    # and per directory (of 64 files): open, stat, getdents, close, the join
    t.ok(sum(got.values()) < sum(want.values()) + 0.2,
         '%s: %g syscalls per file in all' % (desc, sum(want.values())), why)


def t_syscalls(t, E):
    if not have_strace():
        raise Skip('strace missing or not usable')
    for n in (N1, N2):
        mass_tree(E.path('t%d' % n), ndirs=n, nfiles=PER_DIR)
    # the query: open, stat (size and links), cachestat, close
    check(t, E, 'status -r', ['status', '-r'], False,
          {'openat': 1, 'stat': 1, 'cachestat': 1, 'close': 1})
    # nothing printed needs a residency: none asked
    check(t, E, 'prefetch -r, cold', ['prefetch', '-r'], True,
          {'openat': 1, 'stat': 1, 'fadvise': 1, 'close': 1, 'cachestat': 0})
    check(t, E, 'prefetch -r, warm', ['prefetch', '-r'], False,
          {'openat': 1, 'stat': 1, 'fadvise': 1, 'close': 1, 'cachestat': 0})
    # the rows need one, before the advice; none after it
    check(t, E, 'prefetch -r -J, cold', ['prefetch', '-r', '-J'], True,
          {'openat': 1, 'stat': 1, 'cachestat': 1, 'fadvise': 1, 'close': 1})
    # resident already: nothing to advise
    check(t, E, 'prefetch -r -J, warm', ['prefetch', '-r', '-J'], False,
          {'openat': 1, 'stat': 1, 'cachestat': 1, 'fadvise': 0, 'close': 1})


GROUPS = {
    'syscalls': t_syscalls,
}


if __name__ == '__main__':
    sys.exit(main(GROUPS))
