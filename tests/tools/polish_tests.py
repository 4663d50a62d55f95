#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Answers that read right: -o tables aligned in any column order, the
total's page states, empty files, sizes as util-linux reads them, the
progress line, tmpfs eviction, -V and column help on every verb.

usage: polish_tests.py GROUP      (see clitest.py)
"""

import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'pylib'))
from cachectl_test import (kcs, KiB, kstat, MiB, parse_store, run,  # noqa: E402
                           Skip)
import clitest  # noqa: E402
from clitest import (CACHECTL, jrows, kcached, main, mkfile, TRY_HELP,  # noqa: E402
                     warm)

RIGHT = {'SIZE', 'CACHED', 'PCT', 'DIRTY', 'WRITEBACK', 'EVICTED',
         'RECENTLY_EVICTED', 'PAGES', 'BYTES'}


def spans(line):
    return [(m.start(), m.end()) for m in re.finditer(r'\S+', line)]


def aligned(text, header):
    """Every column starts (left-aligned) or ends (right-aligned) at the
    same place on every line; returns the problems."""
    lines = [ln for ln in text.splitlines() if ln]
    if not lines:
        return ['no output']
    head = lines[0].split()
    if head != header:
        return ['header %r, expected %r' % (head, header)]
    ref = spans(lines[0])
    bad = []
    for ln in lines[1:]:
        sp = spans(ln)
        if len(sp) != len(ref):
            bad.append('%d cells: %r' % (len(sp), ln))
            continue
        for name, (a, b), (ra, rb) in zip(header, sp, ref):
            if (name in RIGHT and b != rb) or (name not in RIGHT and a != ra):
                bad.append('column %s out of line: %r' % (name, ln))
                break
    return bad


def t_columns(t, E):
    d = E.path('cols')
    files = [mkfile(os.path.join(d, n), s) for n, s in
             (('a', 5000), ('a-much-longer-name.bin', 3 * MiB), ('mid.dat', 300 * KiB))]
    warm(files[1], MiB)
    for cols, header in (('FILE,SIZE,PCT', ['FILE', 'SIZE', 'PCT']),
                         ('PCT,FILE,CACHED', ['PCT', 'FILE', 'CACHED']),
                         ('+PAGES', ['CACHED', 'SIZE', 'PCT', 'FILE', 'PAGES']),
                         ('FILE,PAGES,DIRTY', ['FILE', 'PAGES', 'DIRTY'])):
        for extra in ([], ['-b']):
            r = E.cachectl(['status', '-o', cols] + extra + files)
            bad = aligned(r.text, header)
            t.ok(r.rc == 0 and not bad, 'status -o %s %s: every column lines up'
                 % (cols, ' '.join(extra)), *(bad + [r.show()]))
    r = E.cachectl(['status', '-n', '-o', 'FILE,SIZE'] + files)
    cut = [ln.split()[0] for ln in r.text.splitlines()]
    t.eq(cut, files, '-n -o FILE,SIZE: rows in order, no header', r.show())
    r = E.cachectl(['status', '--raw', '-o', 'FILE,SIZE', files[0]])
    t.eq(r.text, 'FILE SIZE\n%s 4.9K\n' % files[0], '--raw: one space, no padding',
         r.show())


def t_totals(t, E):
    d = E.path('tot')
    a = mkfile(os.path.join(d, 'a'), 2 * MiB)
    b = mkfile(os.path.join(d, 'b'), 1 * MiB)
    warm(a, 2 * MiB)
    # b: pages written and not yet synced
    with open(b, 'r+b') as f:
        f.write(os.urandom(512 * KiB))
    ka, kb = kstat(a), kstat(b)
    cols = 'FILE,CACHED,DIRTY,WRITEBACK,EVICTED,RECENTLY_EVICTED'
    r = E.cachectl(['status', '-c', '-J', '-b', '-o', cols, a, b])
    t.eq(r.rc, 0, 'status -c -J exits 0', r.show())
    doc = json.loads(r.out)
    rows, tot = doc.get('cachectl'), doc.get('total')
    t.ok(isinstance(tot, dict) and 'file' not in tot,
         'JSON: the total is its own member, not a row with a file name', r.show())
    t.eq(sorted(x['file'] for x in rows), sorted([a, b]), 'JSON: the rows are the files only')
    if not isinstance(tot, dict):
        return
    ka2, kb2 = kstat(a), kstat(b)
    for k in ('cached', 'dirty', 'writeback', 'evicted', 'recently_evicted'):
        lo = min(ka[k], ka2[k]) + min(kb[k], kb2[k])
        hi = max(ka[k], ka2[k]) + max(kb[k], kb2[k])
        if k in ('dirty', 'writeback'):     # writeback moves pages between them
            lo = min(ka[k], ka2[k]) + min(kb[k], kb2[k]) - max(kb['dirty'], kb2['dirty'])
            hi = hi + max(kb['dirty'], kb2['dirty'])
        t.ok(type(tot.get(k)) is int and lo <= tot[k] <= hi and
             tot[k] == sum(x[k] for x in rows),
             'total %s == the sum of the rows == the kernel\'s (%r, kernel %d..%d)'
             % (k, tot.get(k), lo, hi), r.show())
    t.ok(kb['dirty'] + kb['writeback'] > 0, 'kernel: b had dirty pages (the sum is not 0+0)',
         repr(kb))
    r = E.cachectl(['status', '-c', '-o', cols, a, b])
    last = r.text.splitlines()[-1].split()
    t.ok(last[0] == 'total' and '?' not in last, 'table: the total row has every '
         'figure, no "?"', r.show())


def t_zero_length(t, E):
    z = mkfile(E.path('empty'), 0)
    t.eq(kcs([z]).text.split()[0], '0', 'kernel: an empty file has no page')
    r = E.cachectl(['status', '-o', 'FILE,CACHED,PCT,PAGES', z])
    t.eq(r.text.splitlines()[-1].split(), [z, '0B', '-', '0'],
         'status of an empty file: PCT "-" (not 100.0), 0 pages', r.show())
    rows = jrows(t, r := E.cachectl(['status', '-J', '-b', z]), 'status -J of an empty file')
    if rows:
        t.eq((rows[0]['cached'], rows[0]['pct']), (0, None),
             'JSON: cached 0, pct null', r.show())


def t_sizes(t, E):
    f = mkfile(E.path('s'), 4 * KiB)
    env = {'CACHECTL_STATE_DIR': E.path('state'), 'CACHECTL_RUNTIME_DIR': E.path('run'),
           'XDG_STATE_HOME': E.path('xdg')}
    os.makedirs(E.path('run'), mode=0o700, exist_ok=True)
    for arg, want in (('2GB', 2 * 10**9), ('2GiB', 2 << 30), ('2G', 2 << 30),
                      ('2g', 2 << 30), ('1.5K', 1536), ('512kB', 512000),
                      ('4096', 4096), ('1TB', 10**12), ('0.5MiB', 512 * KiB),
                      ('7EiB', 7 << 60)):
        r = E.cachectl(['pin', '--no-prefetch', '--budget', arg, f], extra_env=env)
        try:
            with open(os.path.join(E.path('state'), 'pins'), 'rb') as fp:
                got = [p[3] for p in parse_store(fp.read())]
        except OSError as e:
            got = repr(e)
        t.eq(got, [want], '--budget %s is %d bytes' % (arg, want), r.show())
    for arg in ('nan', '-2G', '1e3', '2 G', '18446744073709551616', '8EiB',
                '9999999999999999999999K', '2GiBx', '.', '0x10', 'inf', '2Gb'):
        r = E.cachectl(['pin', '--no-prefetch', '--budget', arg, f], extra_env=env)
        t.ok(r.rc == 1 and TRY_HELP in r.etext, '--budget %r refused (usage error)' % arg,
             r.show())


def t_progress_text(t, E):
    d = E.path('small')
    os.makedirs(d)
    for i in range(3000):
        with open(os.path.join(d, 'f%04d' % i), 'wb') as f:
            f.write(b'x' * 37)
    subprocess.run(['cat'] + [os.path.join(d, n) for n in os.listdir(d)],
                   stdout=subprocess.DEVNULL)
    for term in ('dumb', '', 'xterm'):
        env = {'TERM': term}
        r = E.cachectl(['status', '-r', '--progress', '-c', d], extra_env=env)
        err = r.err.decode('utf-8', 'replace')
        pairs = re.findall(r'(\S+) of (\S+) cached', err)
        t.ok(r.rc == 0 and pairs, 'TERM=%s: a progress line is shown' % term, r.show())

        def b(s):
            return float(s[:-1]) * {'B': 1, 'K': KiB, 'M': MiB, 'G': 1 << 30}[s[-1]]
        t.ok(all(b(x) <= b(y) for x, y in pairs),
             'TERM=%s: progress never reads "X of Y" with X > Y (pages of 37-byte '
             'files)' % term, repr(pairs[-3:]))
        if term != 'xterm':
            t.ok('\x1b' not in err, 'TERM=%r: no escape codes on stderr' % term,
                 repr(err[-200:]))
        else:
            t.ok('\x1b[K' in err, 'TERM=xterm: the line is redrawn with an erase', repr(err[-80:]))


def t_shmem_evict(t, E):
    base = '/dev/shm'
    if clitest.fstype(base) != 'tmpfs':
        raise Skip('/dev/shm is not tmpfs')
    p = os.path.join(base, 'cachectl-test-%d' % os.getpid())
    try:
        with open(p, 'wb') as f:
            f.write(os.urandom(256 * KiB))
        r = E.cachectl(['evict', p])
        t.eq(r.rc, 1, 'evict of a tmpfs file fails (exit 1)', r.show())
        t.ok(p in r.etext and 'cannot be dropped' in r.etext,
             'the message names the file and says tmpfs pages cannot be dropped', r.show())
        t.ok(r.elapsed < 1.0, 'and says it at once (%.2f s), without retries' % r.elapsed)
        t.eq(kcached(p), 256 * KiB, 'kernel: the pages are all still there')
    finally:
        os.unlink(p)


def t_every_verb(t, E):
    version = os.environ.get('CACHECTL_VERSION', '')
    for verb in ('status', 'prefetch', 'evict', 'pin', 'unpin', 'pins', 'monitor', 'cache'):
        r = E.cachectl([verb, '-V'])
        t.eq((r.rc, r.text), (0, 'cachectl %s\n' % version), '%s -V prints the version' % verb,
             r.show())
    r = E.cachectl(['status', '--help'])
    for col, word in (('FILE', 'name'), ('PCT', 'percentage'), ('DIRTY', 'dirty'),
                      ('RECENTLY_EVICTED', 'evicted'), ('PAGES', 'pages')):
        t.ok(re.search(r'^ +%s +.*%s' % (col, word), r.text, re.M),
             'status --help describes column %s' % col, r.text[-900:])
    r = E.cachectl(['pins', '--help'])
    for col in ('PATH', 'MODE', 'STATUS', 'SHORTFALL'):
        t.ok(re.search(r'^ +%s +\S' % col, r.text, re.M),
             'pins --help describes column %s' % col, r.text[-900:])
    d = os.environ.get('CACHECTLD') or os.path.join(os.path.dirname(CACHECTL), 'cachectld',
                                                    'cachectld')
    if os.access(d, os.X_OK):
        for args, what in ((['--bogus'], "unrecognized option '--bogus'"),
                           (['extra'], "unexpected argument 'extra'")):
            r = run([d] + args, timeout=10)
            lines = r.etext.splitlines()
            t.ok(r.rc == 2 and lines == ['cachectld: ' + what,
                                         "Try 'cachectld --help' for more information."],
                 'cachectld %s: cachectl\'s style, two lines, exit 2' % args[0], r.show())


GROUPS = {
    'columns': t_columns,
    'totals': t_totals,
    'zero-length': t_zero_length,
    'sizes': t_sizes,
    'progress-text': t_progress_text,
    'shmem-evict': t_shmem_evict,
    'every-verb': t_every_verb,
}

if __name__ == '__main__':
    sys.exit(main(GROUPS))
