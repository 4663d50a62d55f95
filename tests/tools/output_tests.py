#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The options every verb shares, and the one output layer.

usage: output_tests.py GROUP

common-options: -J -b -n -o --raw -v -h -V mean the same for every verb;
a verb refuses an output option it cannot honour (exit 1, "Try ...").
scols-output: pins and cache take -o and --raw; their JSON has the shape
and the keys it had, in the order -o asks.
status-memory: status -r keeps O(1) memory per row (peak RSS on a tree
ten times bigger grows by less than the rows would need held).

Environment: CACHECTL (the binary), CACHECTL_VERSION, CACHECTL_TEST_TMPDIR.
Output is TAP.
"""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'pylib'))
from cachectl_test import main_in_scratch, run, Skip  # noqa: E402

CACHECTL = os.environ.get('CACHECTL')
TIME = '/usr/bin/time'
TRY_HELP = "Try 'cachectl --help' for more information."
VERBS = ['status', 'prefetch', 'evict', 'pin', 'unpin', 'pins', 'monitor',
         'cache']
# what each verb prints: the output options it honours
HONOURS = {
    'status': '-J -b -n -o --raw', 'prefetch': '-J -b -n -o --raw',
    'evict': '-J -b -n -o --raw', 'pins': '-J -b -n -o --raw',
    'cache': '-J -b -n -o --raw', 'monitor': '-J -b', 'pin': '',
    'unpin': '',
}


def cachectl(args, env=None):
    e = dict(os.environ, LC_ALL='C')
    e.pop('CACHECTL_BACKEND', None)
    e.update(env or {})
    return run([CACHECTL] + [os.fsdecode(a) for a in args], env=e)


def t_common_options(t, work):
    f = os.path.join(work, 'f')
    with open(f, 'wb') as fh:
        fh.write(b'x' * 4096)
    want_version = 'cachectl ' + os.environ.get('CACHECTL_VERSION', '')
    for verb in VERBS:
        r = cachectl([verb, '--help'])
        t.ok(r.rc == 0 and r.err == b'', '%s --help: exit 0' % verb, r.show())
        for opt in ('--verbose', '--help', '--version'):
            t.ok(opt in r.text, '%s --help lists %s' % (verb, opt), r.show())
        for opt in ('-J', '-b', '-n', '-o', '--raw'):
            listed = (' %s,' % opt in r.text) or (' %s ' % opt in r.text)
            honoured = opt in HONOURS[verb].split()
            t.ok(listed == honoured, '%s --help %s %s' % (
                 verb, 'lists' if honoured else 'does not list', opt),
                 r.show())
        for v in ('-V', '--version'):
            r = cachectl([verb, v])
            t.ok(r.rc == 0 and r.text.strip() == want_version,
                 '%s %s: "%s"' % (verb, v, want_version), r.show())
        # an output option the verb cannot honour is a usage error
        for opt in ('-J', '-b', '-n', '--raw', '-o'):
            if opt in HONOURS[verb].split():
                continue
            args = [verb, opt] + (['PATH'] if opt == '-o' else []) + [f]
            r = cachectl(args)
            t.ok(r.rc == 1 and TRY_HELP in r.etext and r.out == b'' and
                 'means nothing here' in r.etext,
                 '%s %s: exit 1, says it means nothing here, nothing on '
                 'stdout' % (verb, opt), r.show())
        r = cachectl([verb, '--no-such-option'])
        t.ok(r.rc == 1 and TRY_HELP in r.etext,
             '%s --no-such-option: exit 1 and "Try ..."' % verb, r.show())


def pin_env(work):
    env = {'CACHECTL_STATE_DIR': os.path.join(work, 'state'),
           'CACHECTL_RUNTIME_DIR': os.path.join(work, 'run')}
    os.makedirs(env['CACHECTL_RUNTIME_DIR'], exist_ok=True)
    return env


def t_scols_output(t, work):
    d = os.path.join(work, 'd')
    os.makedirs(d)
    for n in ('a', 'b b'):
        with open(os.path.join(d, n), 'wb') as fh:
            fh.write(b'x' * 8192)
    env = pin_env(work)
    r = cachectl(['pin', '--no-prefetch', '-r', d], env)
    t.ok(r.rc == 0, 'pin -r DIR: exit 0', r.show())
    r = cachectl(['pin', '--no-prefetch', '--priority', '7',
                  os.path.join(d, 'b b')], env)

    r = cachectl(['pins', '-J', '-b'], env)
    try:
        rows = json.loads(r.out)['pins']
    except (ValueError, KeyError):
        rows = []
    t.ok(len(rows) == 2 and list(rows[0]) == [
        'path', 'mode', 'recursive', 'inherit', 'priority', 'budget', 'files',
        'size', 'cached', 'pct', 'locked', 'shortfall', 'fscache', 'kpinned',
        'kfiles', 'status'], 'pins -J: the keys, in order', r.show())
    if len(rows) == 2:
        t.ok(rows[0]['recursive'] is True and rows[1]['recursive'] is False
             and rows[1]['priority'] == 7 and rows[0]['budget'] is None and
             rows[0]['files'] == 2 and rows[0]['size'] == 16384,
             'pins -J: booleans, numbers and null typed as before', r.show())

    r = cachectl(['pins', '-o', 'status,PATH,files'], env)
    lines = r.text.splitlines()
    t.ok(r.rc == 0 and lines and lines[0].split() == ['STATUS', 'PATH', 'FILES'],
         'pins -o status,PATH,files: those columns, in that order', r.show())
    r = cachectl(['pins', '-J', '-o', 'files,path'], env)
    try:
        rows = json.loads(r.out)['pins']
    except (ValueError, KeyError):
        rows = []
    t.ok(rows and list(rows[0]) == ['files', 'path'],
         'pins -J -o files,path: only those keys, in that order', r.show())
    r = cachectl(['pins', '-o', 'nosuch'], env)
    t.ok(r.rc == 1 and 'unknown column' in r.etext and TRY_HELP in r.etext
         and r.out == b'', 'pins -o nosuch: exit 1, "unknown column"', r.show())
    r = cachectl(['pins', '--raw', '-n', '-b', '-o', 'files,size'], env)
    t.ok(r.rc == 0 and sorted(r.text.splitlines()) == ['1 8192', '2 16384'],
         'pins --raw -n -b: single spaces, no header', r.show())

    proc = os.path.join(work, 'proc')
    os.makedirs(proc)
    with open(os.path.join(proc, 'caches'), 'w') as fh:
        fh.write('CACHE    REF   VOLS  OBJS  ACCES S NAME\n'
                 '======== ===== ===== ===== ===== = ===============\n'
                 '00000001     3     1     2     0 A mycache\n')
    cenv = {'CACHECTL_PROC_FSCACHE': proc,
            'CACHECTL_CACHEFILESD_CONF': os.path.join(work, 'none.conf')}
    r = cachectl(['cache', '-o', 'name,cache,vols', '--raw'], cenv)
    t.ok(r.rc == 0 and r.text == 'NAME CACHE VOLS\nmycache 00000001 1\n',
         'cache -o name,cache,vols --raw', r.show())
    r = cachectl(['cache', '-J', '-o', 'cache,dir,full'], cenv)
    try:
        rows = json.loads(r.out)['caches']
    except (ValueError, KeyError):
        rows = []
    t.ok(rows == [{'cache': '00000001', 'dir': None, 'full': None}],
         'cache -J -o cache,dir,full: strings, and null for no value', r.show())


def peak_rss_kib(args):
    """Peak RSS of one cachectl run, in KiB, from GNU time: the high-water
    mark a process reports to its parent includes what it had before exec,
    so it cannot be taken from a child of this Python."""
    r = run([TIME, '-f', 'maxrss %M', CACHECTL] + args)
    for ln in r.etext.splitlines():
        if ln.startswith('maxrss '):
            return r.rc, int(ln.split()[1])
    return r.rc, -1


def tree(root, n):
    os.makedirs(root)
    per = 1000
    for i in range(n):
        if i % per == 0:
            sub = os.path.join(root, 'd%04d' % (i // per))
            os.mkdir(sub)
        open(os.path.join(sub, 'file-with-a-longish-name-%06d' % i), 'wb').close()


def t_status_memory(t, work):
    if not os.access(TIME, os.X_OK):
        raise Skip('needs GNU time (%s)' % TIME)
    if 'address' in os.environ.get('CACHECTL_TEST_SANITIZE', ''):
        # its quarantine keeps freed blocks, so RSS grows with every
        # allocation made, freed or not: the plain build measures this
        raise Skip('ASan build: freed memory stays resident in its '
                   'quarantine (the plain build runs this)')
    small, big = 4000, 40000
    tree(os.path.join(work, 's'), small)
    tree(os.path.join(work, 'b'), big)
    for fmt in ([], ['-J'], ['--raw']):
        rc1, m1 = peak_rss_kib(['status', '-r', '-b'] + fmt +
                               [os.path.join(work, 's')])
        rc2, m2 = peak_rss_kib(['status', '-r', '-b'] + fmt +
                               [os.path.join(work, 'b')])
        # a held row costs its name (~80 bytes) at least: 36000 more rows
        # held would add ~3 MiB; streaming adds next to nothing
        t.ok(rc1 == 0 and rc2 == 0 and m1 > 0 and m2 - m1 < 1024,
             'status -r %s: peak RSS %d KiB for %d files, %d KiB for %d '
             '(grows < 1 MiB)' % (' '.join(fmt) or '(table)', m1, small, m2,
                                 big))


GROUPS = {
    'common-options': t_common_options,
    'scols-output': t_scols_output,
    'status-memory': t_status_memory,
}


def main():
    return main_in_scratch(sys.argv, GROUPS, 'cachectl-output-')


if __name__ == '__main__':
    sys.exit(main())
