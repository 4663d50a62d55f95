#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""cachectl's walk options: include/exclude filters, -x (one filesystem),
hard links, --from lists, and the -o/-J/-b/-n output options.

usage: option_tests.py GROUP      (see clitest.py)
"""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'pylib'))
from cachectl_test import (KiB, kstat, MiB, PAGE, roundup, run)  # noqa: E402
import clitest  # noqa: E402
from clitest import (_key, BEFORE, by_path, check_rows_vs_kernel, err_lines,  # noqa: E402
                     have_strace, jrows, kcached, kcheck, kmatch, krange,
                     main, make_cold, mkfile, opened, settle, total_row,
                     wait_cached, warm)


ALL_COLS = ['file', 'size', 'cached', 'pct', 'dirty', 'writeback', 'evicted',
            'recently_evicted', 'pages', 'bytes']


# ===========================================================================
# 3. options
# ===========================================================================

def filter_tree(E):
    root = E.path('ftree')
    rels = ['a.txt', 'b.log', 'sub/c.txt', 'sub/d.log', 'skipme/x.txt',
            'skipme/deep/y.txt']
    for rel in rels:
        mkfile(os.path.join(root, rel), 4 * KiB, cold=False)
    return root, rels


def listed(t, E, args, root, desc, want, strace=False):
    r = E.cachectl(['status', '-J', '-b'] + args, strace=strace)
    t.eq(r.rc, 0, desc + ': exit 0', r.show())
    rows = jrows(t, r, desc)
    if rows is None:
        return r
    got = sorted(os.path.relpath(p, root) for p in by_path(rows, E.work))
    t.eq(got, sorted(want), desc + ': files reported', r.show())
    return r


def t_opt_filter(t, E):
    root, rels = filter_tree(E)
    txt = [x for x in rels if x.endswith('.txt')]
    notskip = [x for x in rels if not x.startswith('skipme/')]

    listed(t, E, ['-r', root], root, 'status -r (all)', rels)
    listed(t, E, ['-r', '--exclude', '*.log', root], root,
           '--exclude *.log', txt)
    r = listed(t, E, ['-r', '--exclude', 'skipme', root], root,
               '--exclude skipme (a directory)', notskip, strace=have_strace())
    if r.trace:
        t.ok(opened(r.trace, 'c.txt'), 'strace sees sub/c.txt opened (control)',
             r.trace[-2000:])
        hits = opened(r.trace, 'skipme')
        t.ok(not hits, '--exclude skipme: the excluded directory is not opened',
             *hits)
    listed(t, E, ['-r', '--exclude', '*.log', '--exclude', 'skipme', root], root,
           '--exclude repeated', [x for x in txt if x in notskip])
    listed(t, E, ['-r', '--exclude', os.path.join(root, 'sub/c.txt'), root], root,
           '--exclude with / matches the whole path',
           [x for x in rels if x != 'sub/c.txt'])
    listed(t, E, ['-r', '--exclude', os.path.join(root, 'sub'), root], root,
           '--exclude whole path of a directory',
           [x for x in rels if not x.startswith('sub/')])
    listed(t, E, ['-r', '--include', '*.txt', root], root,
           '--include *.txt (directories still entered)', txt)
    listed(t, E, ['-r', '--include', 'a.*', '--include', '*.log', root], root,
           '--include repeated', ['a.txt', 'b.log', 'sub/d.log'])
    listed(t, E, ['-r', '--include', '*.txt', '--exclude', 'skipme', root], root,
           '--include with --exclude', ['a.txt', 'sub/c.txt'])
    # globs apply to files found in walks; prefetch honours them too
    def prefetch_excl():
        for rel in rels:
            make_cold(os.path.join(root, rel))
        r = E.cachectl(['prefetch', '-r', '--exclude', '*.log', root])
        if r.rc != 0:
            return [r.show()]
        got = sorted(x for x in rels
                     if wait_cached(os.path.join(root, x), lambda c: c > 0,
                                    0.5 if x.endswith('.log') else 3) > 0)
        return [] if got == sorted(txt) else ['kernel has warm: %r' % got]
    settle(t, 'prefetch -r --exclude *.log: exit 0, kernel: only the .txt files warmed',
           prefetch_excl)


def t_opt_xdev(t, E):
    root = E.path('xtree')
    mkfile(os.path.join(root, 'plain.txt'), 8 * KiB, cold=False)
    sub = os.path.join(root, 'sub')
    mkfile(os.path.join(sub, 'deep.txt'), 8 * KiB, cold=False)
    mnt = os.path.join(sub, 'mnt')
    os.makedirs(mnt)
    m = run(['mount', '-t', 'tmpfs', '-o', 'size=4m', 'cachectl-test', mnt],
              timeout=10)
    if m.rc != 0:
        t.skip('-x across a tmpfs mount', 'cannot mount tmpfs: ' + m.etext.strip())
        return
    try:
        with open(os.path.join(mnt, 'm.txt'), 'wb') as f:
            f.write(b'x' * 8192)
        os.makedirs(os.path.join(mnt, 'md'))
        with open(os.path.join(mnt, 'md', 'n.txt'), 'wb') as f:
            f.write(b'y' * 100)
        alls = ['plain.txt', 'sub/deep.txt', 'sub/mnt/m.txt', 'sub/mnt/md/n.txt']
        listed(t, E, ['-r', root], root, 'without -x the mount is crossed', alls)
        listed(t, E, ['-r', '-x', root], root, '-x stays on the root filesystem',
               alls[:2])
        listed(t, E, ['-r', '--one-file-system', root], root,
               '--one-file-system stays on the root filesystem', alls[:2])
        listed(t, E, ['-r', '-x', mnt], root, '-x with a root on the tmpfs',
               alls[2:])
        r = E.cachectl(['prefetch', '-r', '-x', root])
        t.eq(r.rc, 0, 'prefetch -r -x exits 0', r.show())
    finally:
        run(['umount', mnt], timeout=30)
        if os.path.ismount(mnt):
            run(['umount', '-l', mnt], timeout=30)


def t_opt_links(t, E):
    out = E.path('outside')
    secret = mkfile(os.path.join(out, 'secret.txt'), 8 * KiB, cold=False)
    inner = mkfile(os.path.join(out, 'odir', 'inner.txt'), 12 * KiB, cold=False)
    L = E.path('ltree')
    real = mkfile(os.path.join(L, 'real.txt'), 16 * KiB, cold=False)
    os.symlink('../outside/secret.txt', os.path.join(L, 'flink'))
    os.symlink(os.path.join(out, 'odir'), os.path.join(L, 'dlink'))
    h1 = mkfile(os.path.join(L, 'h1'), 2 * MiB, cold=True)
    warm(h1, MiB)
    os.makedirs(os.path.join(L, 'sub'))
    h2 = os.path.join(L, 'sub', 'h2')
    os.link(h1, h2)

    # without -L: links inside the tree are not followed; hard links once
    r = E.cachectl(['status', '-r', '-c', '-J', '-b', L])
    t.eq(r.rc, 0, 'status -r -c (no -L) exits 0', r.show())
    rows = jrows(t, r, 'status -r -c (no -L)')
    if rows is not None:
        m = by_path(rows, E.work)
        reals = sorted(os.path.realpath(p) for p in m)
        t.ok(secret not in reals and inner not in reals,
             'without -L symlinked files/dirs are not reported', r.show())
        hl = [p for p in m if p in (h1, h2)]
        t.ok(len(hl) == 1 and len(m[hl[0]]) == 1,
             'hard links h1, sub/h2: exactly one row', r.show())
        t.eq(sorted(p for p in m if p not in (h1, h2)), [real],
             'without -L only real.txt besides the hard link')
        tot = total_row(rows)
        t.ok(tot is not None and tot.get('size') == 16 * KiB + 2 * MiB,
             'total size counts the hard-linked data once', r.show())
        lo = krange(real)[0] + krange(h1)[0]
        hi = krange(real)[1] + krange(h1)[1]
        t.ok(tot is not None and type(tot.get('cached')) is int and
             lo <= tot['cached'] <= hi,
             'total cached counts the hard-linked data once (kernel)',
             'kernel %d..%d' % (lo, hi), r.show())

    # with -L: followed
    r = E.cachectl(['status', '-r', '-L', '-J', '-b', L])
    t.eq(r.rc, 0, 'status -r -L exits 0', r.show())
    rows = jrows(t, r, 'status -r -L')
    if rows is not None:
        m = by_path(rows, E.work)
        reals = [os.path.realpath(p) for p in m]
        t.ok(secret in reals, '-L: symlink to a file outside the tree is reported', r.show())
        t.ok(inner in reals, '-L: symlinked directory is descended', r.show())
        for p in m:
            if os.path.realpath(p) == secret:
                kcheck(t, m[p][0].get('cached'), secret, '-L: flink cached == kernel')
    # roots named on the command line are always followed
    r = E.cachectl(['status', '-J', '-b', os.path.join(L, 'flink')])
    t.eq(r.rc, 0, 'a symlink given as root is followed without -L', r.show())
    rows = jrows(t, r, 'status LINK')
    if rows:
        t.eq(rows[0].get('size'), 8 * KiB, 'symlink root: size of the target')

    # loops
    P = E.path('ptree')
    pf = mkfile(os.path.join(P, 'file.txt'), 4 * KiB, cold=False)
    os.symlink('.', os.path.join(P, 'loop'))
    os.makedirs(os.path.join(P, 'sub'))
    os.symlink('..', os.path.join(P, 'sub', 'up'))
    os.symlink('self', os.path.join(P, 'self'))
    for verb in ('status', 'prefetch', 'evict'):
        r = E.cachectl([verb, '-r', '-L', '-J', '-b', P], timeout=10)
        t.ok(not r.timed_out and r.rc in (0, 64),
             '%s -r -L over symlink loops terminates, exit 0 or 64' % verb, r.show())
        t.ok(all(ln.startswith('cachectl: ') and P in ln for ln in err_lines(r)),
             '%s -r -L loops: every stderr line names a path in the tree' % verb,
             r.show())
        if r.rc == 64:
            t.ok(any('loop' in ln or '/up' in ln or 'self' in ln for ln in err_lines(r)),
                 '%s -r -L: exit 64 names the loop' % verb, r.show())
        rows = jrows(t, r, verb + ' -r -L loops')
        if rows is not None:
            n = sum(1 for p in by_path(rows, E.work)
                    if os.path.realpath(p) == pf)
            t.eq(n, 1, '%s -r -L loops: file.txt reported exactly once' % verb,
                 r.show())
    r = E.cachectl(['status', '-r', '-J', '-b', P], timeout=10)
    t.ok(r.rc == 0 and not r.timed_out,
         'status -r (no -L) over symlink loops: exit 0', r.show())


def t_opt_from(t, E):
    root, _ = filter_tree(E)
    pick = [os.path.join(root, x) for x in ('a.txt', 'sub/c.txt')]
    weird = os.path.join(root, 'nl\nname.txt')
    spaced = os.path.join(root, 'with space.txt')
    mkfile(weird, 4 * KiB, cold=False)
    mkfile(spaced, 8 * KiB, cold=False)
    lst = E.path('list.txt')
    with open(lst, 'w') as f:
        f.write('\n'.join(pick + [spaced]) + '\n')

    r = E.cachectl(['status', '-J', '-b', '--from', lst])
    t.eq(r.rc, 0, '--from FILE exits 0', r.show())
    rows = jrows(t, r, '--from FILE')
    if rows is not None:
        check_rows_vs_kernel(t, rows, E.work, pick + [spaced], '--from FILE')

    r = E.cachectl(['status', '-J', '-b', '--from', '-'],
                   input=('\n'.join(pick) + '\n').encode())
    rows = jrows(t, r, '--from -')
    if rows is not None:
        check_rows_vs_kernel(t, rows, E.work, pick, '--from - (stdin)')

    other = os.path.join(root, 'b.log')
    r = E.cachectl(['status', '-J', '-b', '--from', lst, other])
    rows = jrows(t, r, 'PATH plus --from')
    if rows is not None:
        check_rows_vs_kernel(t, rows, E.work, pick + [spaced, other],
                             'PATH plus --from')
    r = E.cachectl(['status', '-J', '-b', other, '--from', lst])
    if r.rc != 0:
        t.diag('note: options after a PATH are not recognised (no GNU argument '
               'permutation): "cachectl status PATH --from LIST" gives rc=%s, '
               'stderr %r' % (r.rc, r.err[:200]))

    nul = os.fsencode('\0'.join(pick + [weird, spaced]) + '\0')
    r = E.cachectl(['status', '-J', '-b', '-0', '--from', '-'], input=nul)
    t.eq(r.rc, 0, '-0 --from - exits 0', r.show())
    rows = jrows(t, r, '-0 --from -')
    if rows is not None:
        check_rows_vs_kernel(t, rows, E.work, pick + [weird, spaced],
                             '-0 --from - (name with a newline)')
    r = E.cachectl(['status', '-J', '-b', '--null', '--from', '-'],
                   input=os.fsencode(weird) + b'\0')
    rows = jrows(t, r, '--null --from - without a trailing separator')
    if rows is not None:
        check_rows_vs_kernel(t, rows, E.work, [weird], '--null --from -')

    # a directory in a list needs -r like any root; with -r it is walked
    r = E.cachectl(['status', '-r', '-J', '-b', '--from', '-'],
                   input=(os.path.join(root, 'sub') + '\n').encode())
    rows = jrows(t, r, '-r --from - with a directory')
    if rows is not None:
        check_rows_vs_kernel(t, rows, E.work,
                             [os.path.join(root, 'sub/c.txt'),
                              os.path.join(root, 'sub/d.log')],
                             '-r --from DIR')

    # a bad line costs that line alone, and says which: a NUL in a
    # newline-separated list (no silent cut), a line no path can be
    bad = (os.fsencode(pick[0]) + b'\n' + os.fsencode(pick[1]) + b'\0junk\n' +
           b'/' + b'x' * (1 << 20) + b'\n' + os.fsencode(spaced) + b'\n')
    r = E.cachectl(['status', '-J', '-b', '--from', '-'], input=bad)
    t.eq(r.rc, 64, '--from with bad lines: partial (64)', r.show()[:2000])
    rows = jrows(t, r, '--from with bad lines')
    if rows is not None:
        check_rows_vs_kernel(t, rows, E.work, [pick[0], spaced],
                             '--from with bad lines: the good ones')
    t.ok(b'line 2: a NUL byte' in r.err and b'line 3: longer than' in r.err
         and len(r.err) < 4096,
         '--from: bad lines named by number, briefly', r.err[:2000])
    def prefetch_bad():
        make_cold(spaced)
        r = E.cachectl(['prefetch', '--from', '-'], input=bad)
        if r.rc != 64:
            return [r.show()[:2000]]
        got = wait_cached(spaced, lambda c: c >= 8 * KiB)
        return [] if got >= 8 * KiB else ['%s: kernel %d' % (spaced, got)]
    settle(t, 'prefetch --from with a 1 MB line: the rest warmed (kernel)',
           prefetch_bad)

    # prefetch/evict take lists too
    for p in pick:
        make_cold(p)
    def prefetch_from():
        for p in pick:
            make_cold(p)
        r = E.cachectl(['prefetch', '--from', lst])
        if r.rc != 0:
            return [r.show()]
        return ['%s: kernel %d' % (p, kcached(p)) for p in pick
                if wait_cached(p, lambda c: c >= 4 * KiB) < 4 * KiB]
    settle(t, 'prefetch --from: exit 0, kernel: the listed files warmed', prefetch_from)
    # let the asynchronous reads finish: pages under read I/O are locked and
    # DONTNEED skips them (cachectl would rightly say "still resident")
    for p in pick + [weird, spaced]:
        warm(p, os.stat(p).st_size)
    r = E.cachectl(['evict', '-0', '--from', '-'], input=nul)
    t.eq(r.rc, 0, 'evict -0 --from - exits 0', r.show())
    t.ok(all(kcached(p) == 0 for p in pick + [weird, spaced]),
         'kernel: evict -0 --from evicted the listed files')


def t_opt_output(t, E):
    f = mkfile(E.path('out', 'data.bin'), 100 * KiB, cold=True)
    warm(f, 40 * KiB)
    k = kstat(f)

    r = E.cachectl(['status', '-J', '-b', '-o', 'FILE,SIZE', f])
    rows = jrows(t, r, '-o FILE,SIZE')
    if rows:
        t.eq(sorted(rows[0]), ['file', 'size'], '-o FILE,SIZE: exactly those keys')
    r = E.cachectl(['status', '-J', '-b', '--output', 'size,file', f])
    rows = jrows(t, r, '--output size,file (lower case)')
    if rows:
        t.eq(sorted(rows[0]), ['file', 'size'], '--output accepts lower-case names')
    r = E.cachectl(['status', '-J', '-b', '-o', '+DIRTY,PAGES', f])
    rows = jrows(t, r, '-o +DIRTY,PAGES')
    if rows:
        t.eq(sorted(rows[0]), sorted(['cached', 'size', 'pct', 'file', 'dirty', 'pages']),
             '-o +COLS appends to the default columns')
        pg = rows[0].get('pages')
        kcheck(t, pg * PAGE if type(pg) is int else pg, f, 'PAGES == kernel cached pages')

    k = kstat(f)
    r = E.cachectl(['status', '-J', '-b', '--output-all', f])
    rows = jrows(t, r, '--output-all')
    if rows:
        row = rows[0]
        t.ok(set(ALL_COLS) - {'bytes'} <= set(row),
             '--output-all: all columns present', repr(row))
        k2 = kstat(f)
        kcheck(t, row.get('cached'), f, '--output-all: cached == kernel')
        for col in ('dirty', 'writeback', 'evicted', 'recently_evicted'):
            t.ok(row.get(col) in (k[col], k2[col]),
                 '--output-all: %s == kernel' % col,
                 'cachectl %r, kernel %r/%r' % (row.get(col), k[col], k2[col]))

    # dirty pages: a freshly written file, not synced
    d = E.path('out', 'dirty.bin')
    with open(d, 'wb') as fh:
        fh.write(os.urandom(256 * KiB))
    k1 = kstat(d)
    r = E.cachectl(['status', '-J', '-b', '-o', 'FILE,CACHED,DIRTY,WRITEBACK', d])
    k2 = kstat(d)
    rows = jrows(t, r, 'DIRTY column')
    if clitest.ENGINE == 'mincore':
        t.skip('DIRTY == kernel dirty bytes', 'kernel without cachestat')
    elif rows:
        t.ok(rows[0].get('dirty') in (k1['dirty'], k2['dirty']) and k1['dirty'] > 0,
             'DIRTY == kernel dirty bytes of an unsynced file',
             'cachectl %r, kernel %r/%r' % (rows[0], k1, k2))
    os.sync()

    # tables: -n, --raw, -b
    r = E.cachectl(['status', '-b', f])
    lines = r.text.splitlines()
    t.ok(r.rc == 0 and len(lines) == 2 and 'FILE' in lines[0],
         'table: heading plus one row', r.show())
    r = E.cachectl(['status', '-b', '-n', f])
    lines = r.text.splitlines()
    t.ok(r.rc == 0 and len(lines) == 1 and 'FILE' not in lines[0],
         '-n: no heading, one row', r.show())
    first = lines[0].split()[0] if len(lines) == 1 else ''
    t.ok(first.isdigit() and kmatch(int(first), f)[0],
         '-n -b: first field is cached bytes (kernel)', kmatch(first, f)[1], r.show())
    r = E.cachectl(['status', '--noheadings', '-b', f])
    t.eq(len(r.text.splitlines()), 1, '--noheadings: one line')

    r = E.cachectl(['status', '--raw', '-n', '-b', '-o', 'CACHED,SIZE,PAGES,FILE', f])
    lines = r.text.splitlines()
    t.ok(r.rc == 0 and len(lines) == 1, '--raw -n: one line', r.show())
    if len(lines) == 1:
        fl = lines[0].split(' ')
        kc = int(fl[0]) if fl[0].isdigit() else -1
        t.ok(kmatch(kc, f)[0] and fl == [str(kc), str(100 * KiB), str(kc // PAGE), f],
             '--raw: single-space separated CACHED SIZE PAGES FILE',
             'got %r' % fl, kmatch(kc, f)[1])
    r = E.cachectl(['status', '--raw', '-b', f])
    lines = r.text.splitlines()
    t.ok(len(lines) == 2 and lines[0].split(' ') == ['CACHED', 'SIZE', 'PCT', 'FILE'],
         '--raw heading: CACHED SIZE PCT FILE', r.show())

    r = E.cachectl(['status', '-n', f])
    t.ok(r.rc == 0 and str(100 * KiB) not in r.text,
         'without -b sizes are human units (no raw byte count)', r.show())
    r = E.cachectl(['status', '-n', '-b', f])
    t.ok(r.rc == 0 and str(100 * KiB) in r.text, '-b: sizes in bytes', r.show())
    r = E.cachectl(['status', '--bytes', '-J', f])
    rows = jrows(t, r, '--bytes -J')
    if rows:
        t.ok(isinstance(rows[0].get('size'), int), '--bytes -J: size is a JSON number',
             repr(rows[0]))
    r = E.cachectl(['status', '-J', f])
    rows = jrows(t, r, '-J without -b')
    if rows:
        t.ok(rows[0].get('size') != 100 * KiB,
             '-J without -b: size in human units, not bytes', repr(rows[0]))

    # prefetch/evict: -o shows values after the operation, BYTES column
    make_cold(f)
    r = E.cachectl(['prefetch', '-J', '-b', f])
    t.eq(r.rc, 0, 'prefetch -J -b exits 0', r.show())
    rows = jrows(t, r, 'prefetch -J -b')
    if rows:
        t.ok('bytes' in rows[0], 'prefetch -J: BYTES column added by default', repr(rows[0]))
        t.ok(rows[0].get('bytes') == roundup(100 * KiB) or rows[0].get('bytes') == 100 * KiB,
             'prefetch -J: bytes requested == file data (was cold)', repr(rows[0]))
        c = rows[0].get('cached')
        t.ok(type(c) is int and 0 <= c <= 100 * KiB,
             'prefetch -J: cached after the operation is a number within the size '
             '(reads may still be in flight)', repr(rows[0]))
    def prefetch_wait():
        make_cold(f)
        r = E.cachectl(['prefetch', '--wait', '-J', '-b', f])
        try:
            row = json.loads(r.out)['cachectl'][0]
        except (ValueError, KeyError, IndexError) as e:
            return ['bad JSON %s\n%s' % (e, r.show())]
        k = kcached(f)
        if r.rc != 0 or row.get('cached') != 100 * KiB or k != 100 * KiB:
            return ['row %r, kernel %d\n%s' % (row, k, r.show())]
        return []
    settle(t, 'prefetch --wait -J: exit 0, cached after the operation == whole file, '
           'kernel agrees', prefetch_wait)
    # prefetch skips what is resident: BYTES counts only what was requested
    # (32 MiB, first half read: chunking by the readahead window, e.g.
    # 8 MiB, must still skip the resident chunks)
    g = mkfile(E.path('out', 'partial.bin'), 32 * MiB, cold=True)
    warm(g, 16 * MiB)
    r = E.cachectl(['prefetch', '-J', '-b', g])
    before = BEFORE.get(_key(g), 0)
    rows = jrows(t, r, 'prefetch -J -b partly resident')
    if rows:
        b = rows[0].get('bytes')
        t.ok(type(b) is int and 32 * MiB - before <= b < 32 * MiB,
             'prefetch -J: BYTES covers what was missing and skips what was resident',
             'bytes %r, kernel had %d of %d cached before' % (b, before, 32 * MiB))
    warm(g, 32 * MiB)
    r = E.cachectl(['prefetch', '-J', '-b', g])
    rows = jrows(t, r, 'prefetch -J -b fully resident')
    if rows and BEFORE.get(_key(g)) == 32 * MiB:
        t.eq(rows[0].get('bytes'), 0, 'prefetch -J: BYTES 0 for a fully resident file')

    r = E.cachectl(['evict', '-o', 'FILE,BYTES', '-n', '--raw', '-b', f])
    t.eq(r.rc, 0, 'evict -o FILE,BYTES exits 0', r.show())
    t.eq(r.text.strip(), '%s 0' % f, 'evict -o FILE,BYTES: 0 bytes left resident')
    t.eq(kcached(f), 0, 'kernel: evicted')


GROUPS = {
    'opt-filter': t_opt_filter,
    'opt-xdev': t_opt_xdev,
    'opt-links': t_opt_links,
    'opt-from': t_opt_from,
    'opt-output': t_opt_output,
}


if __name__ == '__main__':
    sys.exit(main(GROUPS))
