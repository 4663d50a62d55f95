#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""cachectl status, prefetch and evict over files and trees, checked
against the kernel, and the progress display.

usage: walk_tests.py GROUP      (see clitest.py)
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'pylib'))
from cachectl_test import (cachestat, kcs, kmissing, MiB, PAGE, Res, roundup, run)  # noqa: E402
import clitest  # noqa: E402
from clitest import (build_tree, CACHECTL, check_rows_vs_kernel, file_rows,  # noqa: E402
                     jrows, kcached, kcheck, kmatch, krange, main, make_cold,
                     mass_tree, mkfile, settle, total_row, wait_cached, warm)


def kuptodate(paths):
    """Bytes of each file whose pages are uptodate (read completed), by
    mincore as root; cachestat also counts pages still under read I/O."""
    r = kcs(['-m'] + list(paths) + [paths[0]])
    v = r.text.split('\n')
    return {p: int(v[i].split()[0]) if v[i].split() and v[i].split()[0].isdigit() else -1
            for i, p in enumerate(paths)}


# ===========================================================================
# 1. acceptance: status, prefetch and evict of one tree, against the kernel
# ===========================================================================

def t_acceptance(t, E):
    f = mkfile(E.path('eight.bin'), 8 * MiB, cold=True)
    t.eq(kcached(f), 0, 'kernel: 8 MiB file is cold after fsync+DONTNEED')

    dd = run(['dd', 'if=' + f, 'of=/dev/null', 'bs=1M', 'count=1',
                'status=none'], timeout=30)
    t.eq(dd.rc, 0, 'dd read the first 1 MiB')
    k = kcached(f)
    t.ok(k >= MiB, 'kernel: at least 1 MiB cached after reading 1 MiB',
         'kernel cached %d' % k)
    if k == MiB:
        t.diag('note: kernel shows exactly 1 MiB (no readahead beyond)')

    r = E.cachectl(['status', '-J', '-b', f])
    t.eq(r.rc, 0, 'status -J -b FILE exits 0', r.show())
    rows = jrows(t, r, 'status -J -b')
    if rows is not None:
        t.eq(len(rows), 1, 'status -J -b FILE: one row', r.show())
        row = rows[0] if rows else {}
        kcheck(t, row.get('cached'), f, 'status: cached == kernel cachestat (%d)' % k)
        c = row.get('cached')
        k = c if type(c) is int else k
        t.ok(type(c) is int and c >= MiB,
             'status: cached is a JSON number >= 1 MiB', repr(row))
        t.eq(row.get('size'), 8 * MiB, 'status: size == 8 MiB as a number')
        t.eq(os.path.normpath(row.get('file', '')), f, 'status: file is the path given')
        pct = row.get('pct')
        t.ok(isinstance(pct, (int, float)) and abs(pct - k * 100.0 / (8 * MiB)) <= 0.051,
             'status: pct == cached/size*100 (one decimal)',
             'pct %r, expected %.1f' % (pct, k * 100.0 / (8 * MiB)))

    def prefetch_all():
        r = E.cachectl(['prefetch', f])
        if r.rc != 0 or r.out:
            return ['prefetch FILE: exit 0 and nothing on stdout expected\n' + r.show()]
        k = wait_cached(f, lambda c: c >= 8 * MiB)
        if k != 8 * MiB:
            return ['kernel cached %d after prefetch, want %d; %s' % (k, 8 * MiB, kmissing(f))]
        r = E.cachectl(['status', '-J', '-b', f])
        try:
            row = json.loads(r.out)['cachectl'][0]
        except (ValueError, KeyError, IndexError) as e:
            return ['status after prefetch: bad JSON %s\n%s' % (e, r.show())]
        if row.get('cached') != 8 * MiB or row.get('pct') != 100:
            why = kmatch(row.get('cached'), f)[1]
            return ['status after prefetch: %r (%s)' % (row, why)]
        return []
    settle(t, 'prefetch FILE: exit 0, silent; kernel and cachectl status both say '
           '8 MiB, pct 100', prefetch_all)

    r = E.cachectl(['evict', f])
    t.eq(r.rc, 0, 'evict FILE exits 0', r.show())
    t.eq(kcached(f), 0, 'kernel: 0 cached after cachectl evict')
    r = E.cachectl(['status', '-J', '-b', f])
    rows = jrows(t, r, 'status after evict')
    if rows:
        t.eq(rows[0].get('cached'), 0, 'cachectl status: 0 cached after evict')

    make_cold(f)

    # human table: default columns CACHED SIZE PCT FILE, a heading, one row
    warm(f, 2 * MiB)
    r = E.cachectl(['status', '-b', f])
    t.eq(r.rc, 0, 'status -b FILE (table) exits 0', r.show())
    lines = r.text.splitlines()
    t.ok(len(lines) == 2 and all(c in lines[0] for c in ('CACHED', 'SIZE', 'PCT', 'FILE')),
         'table: heading with CACHED SIZE PCT FILE and one row', r.show())
    if len(lines) == 2:
        fields = lines[1].split() + ['', '', '', '']
        ok, why = kmatch(int(fields[0]) if fields[0].isdigit() else fields[0], f)
        t.ok(len(lines[1].split()) == 4 and ok and fields[1] == str(8 * MiB)
             and fields[3] == f,
             'table -b row: CACHED SIZE PCT FILE in that order, bytes',
             'row %r, %s' % (lines[1], why))


def t_prefetch_modes(t, E):
    """prefetch --read / --wait / -d N, checked with the kernel."""
    f = mkfile(E.path('eight.bin'), 8 * MiB, cold=True)
    wait_flaws = []
    for mode in (['--read'], ['--wait'], ['--wait', '-d', '1'], ['--read', '-d', '256']):
        def one(mode=mode):
            make_cold(f)
            r = E.cachectl(['prefetch'] + mode + [f])
            up = kuptodate([f])[f]
            if r.rc != 0:
                return [r.show()]
            k = kcached(f) if '--wait' in mode else wait_cached(f, lambda c: c >= 8 * MiB)
            if '--wait' in mode and k == 8 * MiB and up < k:
                wait_flaws.append('prefetch %s: on return %d bytes present but only %d '
                                  'read in' % (' '.join(mode), k, up))
            return [] if k == 8 * MiB else ['kernel cached %d; %s' % (k, kmissing(f))]
        settle(t, 'prefetch %s FILE: exit 0, kernel has 8 MiB' % ' '.join(mode), one)
    if clitest.ENGINE == 'cachestat':
        t.ok(not wait_flaws, 'prefetch --wait returns only when the reads completed '
             '(every page uptodate per mincore)', *wait_flaws)
        wait_with_islands(t, E)
    ring_window(t, E)


def ring_window(t, E):
    """-d on a local tree larger than the ring's window (512 files): the
    oldest files are emitted while newer ones are in flight, every file
    once, every file in."""
    root = E.path('window')
    mass_tree(root, ndirs=3, nfiles=500)
    files = sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs)

    def go():
        clitest.make_cold_many(files)
        r = E.cachectl(['prefetch', '-r', '--wait', '-d', '8', '-J', '-b', root])
        if r.rc != 0:
            return [r.show()]
        rows = json.loads(r.out)['cachectl']
        names = [os.path.normpath(x['file']) for x in rows]
        bad = [] if sorted(names) == files else \
            ['%d rows for %d files, %d distinct' % (len(names), len(files), len(set(names)))]
        bad += ['%s: kernel %d, row %d' % (f, c, x['cached'])
                for f, x, (c, _) in zip(names, rows, cachestat(names))
                if c != 4096 or x['cached'] != 4096][:5]
        return bad
    settle(t, 'prefetch -r --wait -d 8 over 1500 files: each once, kernel has all', go)


def wait_with_islands(t, E, rounds=3):
    """prefetch --wait must not take one resident page for proof that the
    pages around it were read: make the last page of every MiB resident
    (whatever the chunk size, if it is whole MiB, its last page is one of
    them), the rest cold, and check that no page is still under read I/O
    when cachectl returns. A correct --wait passes every round; a wrong one
    is caught in most rounds (the reads may happen to finish before we
    look), so a few rounds are run."""
    w = mkfile(E.path('islands.bin'), 128 * MiB, cold=True)
    seen = []
    for i in range(rounds):
        make_cold(w)
        fd = os.open(w, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)   # no readahead
            for off in range(MiB - PAGE, 128 * MiB, MiB):
                os.pread(fd, 1, off)
        finally:
            os.close(fd)
        pre = kcached(w)
        r = E.cachectl(['prefetch', '--wait', w])
        up = kuptodate([w])[w]
        present = kcached(w)
        if r.rc != 0:
            seen.append('round %d: exit %s\n%s' % (i + 1, r.rc, r.show()))
        # reclaim between the two counts can only lower present: up >=
        # present means nothing was still under read I/O on return
        elif not up >= present > 0:
            seen.append('round %d: resident before %d; on return %d present, %d '
                        'uptodate (the rest still under read I/O)' % (i + 1, pre, present, up))
    t.ok(not seen, 'prefetch --wait, one resident page per MiB: exit 0 and every page '
         'read in on return (%d rounds)' % rounds, *seen)
    make_cold(w)
    os.unlink(w)


def t_tree(t, E):
    root, files = build_tree(E, 'tree')

    r = E.cachectl(['status', '-r', '-J', '-b', root])
    t.eq(r.rc, 0, 'status -r -J -b TREE exits 0', r.show())
    rows = jrows(t, r, 'status -r')
    if rows is not None:
        check_rows_vs_kernel(t, file_rows(rows), E.work, files, 'status -r')
        t.eq(total_row(rows), None, 'status -r without -c has no total row')

    r = E.cachectl(['status', '-r', '-c', '-J', '-b', root])
    t.eq(r.rc, 0, 'status -r -c exits 0', r.show())
    rows = jrows(t, r, 'status -r -c')
    if rows is not None:
        tot = total_row(rows)
        t.ok(tot is not None, 'status -r -c: a "total" member', r.show())
        t.eq(len(file_rows(rows)), len(files), 'status -r -c: per-file rows still there')
        if tot:
            rng = [krange(f) for f in files]
            lo, hi = sum(x[0] for x in rng), sum(x[1] for x in rng)
            c = tot.get('cached')
            t.ok(type(c) is int and lo <= c <= hi, 'total cached == sum of kernel cachestat',
                 'cachectl %r, kernel sum %d..%d' % (c, lo, hi))
            t.eq(tot.get('size'), sum(os.stat(f).st_size for f in files),
                 'total size == sum of sizes')
            rsum = sum(x.get('cached', 0) or 0 for x in file_rows(rows))
            t.eq(tot.get('cached'), rsum, 'total cached == sum of the rows')

    r = E.cachectl(['status', '-r', '-J', '-b'], cwd=root)
    t.eq(r.rc, 0, 'status -r with no path (cwd = tree) exits 0', r.show())
    rows = jrows(t, r, 'status -r (no path)')
    if rows is not None:
        check_rows_vs_kernel(t, file_rows(rows), root, files, 'status -r no path')

    # cachectl(1): without -r only the files directly in a directory PATH
    # are handled, subdirectories skipped; no PATH means "."
    top = [f for f in files if os.path.dirname(f) == root]
    r = E.cachectl(['status', '-J', '-b'], cwd=root)
    t.eq(r.rc, 0, 'status with no path, no -r (cwd = tree): exit 0', r.show())
    rows = jrows(t, r, 'status (no path, no -r)')
    if rows is not None:
        check_rows_vs_kernel(t, rows, root, top,
                             'status no path no -r: only the top-level files')
    r = E.cachectl(['status', '-J', '-b', root])
    t.eq(r.rc, 0, 'status DIR (no -r): exit 0', r.show())
    rows = jrows(t, r, 'status DIR (no -r)')
    if rows is not None:
        check_rows_vs_kernel(t, rows, E.work, top,
                             'status DIR no -r: only the top-level files')

    r = E.cachectl(['status', '-J', '-b', files[0], files[2]])
    rows = jrows(t, r, 'status F1 F2')
    if rows is not None:
        check_rows_vs_kernel(t, rows, E.work, [files[0], files[2]], 'status F1 F2')

    r = E.cachectl(['status', '-J', '-b', 'tree/a', './tree/sub/b'], cwd=E.work)
    rows = jrows(t, r, 'status relative paths')
    if rows is not None:
        check_rows_vs_kernel(t, rows, E.work, [files[0], files[2]], 'status relative paths')

    # prefetch -r then evict -r over the tree, checked with the kernel
    def prefetch_tree(args, wait=False):
        def go():
            for f in files:
                make_cold(f)
            r = E.cachectl(['prefetch'] + args + [root])
            up = kuptodate(files)
            if r.rc != 0:
                return [r.show()]
            bad = []
            for f in files:
                want = roundup(os.stat(f).st_size)
                c = kcached(f) if wait else wait_cached(f, lambda c, w=want: c >= w)
                if c != want:
                    bad.append('%s: kernel %d, want %d; %s' % (f, c, want, kmissing(f)))
                elif wait and up[f] < c:
                    wait_flaws.append('prefetch %s: %s: on return %d bytes present but '
                                      'only %d read in' % (' '.join(args), f, c, up[f]))
            return bad
        return go
    wait_flaws = []
    settle(t, 'prefetch -r TREE: exit 0, kernel has every file cached',
           prefetch_tree(['-r']))
    for qd in ('1', '256'):
        settle(t, 'prefetch -r --wait -d %s TREE: exit 0, kernel has every file '
               'cached on return' % qd, prefetch_tree(['-r', '--wait', '-d', qd], True))
    if clitest.ENGINE == 'cachestat':
        t.ok(not wait_flaws, 'prefetch -r --wait returns only when the reads completed '
             '(every page uptodate per mincore)', *wait_flaws)

    def evict_top():
        for f in files:
            warm(f, os.stat(f).st_size)
        r = E.cachectl(['evict', root])
        if r.rc != 0:
            return [r.show()]
        bad = ['%s: kernel %d' % (f, kcached(f)) for f in top if kcached(f)]
        bad += ['%s: kernel %d, evicted without -r' % (f, kcached(f)) for f in files
                if f not in top and os.stat(f).st_size and not kcached(f)]
        return bad
    settle(t, 'evict DIR (no -r): exit 0, kernel: only the top-level files evicted',
           evict_top)

    r = E.cachectl(['evict', '-r', '-c', '-J', '-b', root])
    t.eq(r.rc, 0, 'evict -r -c -J TREE exits 0', r.show())
    bad = ['%s: kernel %d' % (f, kcached(f)) for f in files if kcached(f)]
    t.ok(not bad, 'kernel: every file 0 cached after evict -r', *bad)
    rows = jrows(t, r, 'evict -r -c -J')
    if rows is not None:
        tot = total_row(rows)
        t.ok(tot is not None and tot.get('cached') == 0,
             'evict -J: total row reports 0 cached after the operation', r.show())
        t.ok(all('bytes' in x for x in rows),
             'evict -J: BYTES column added by default', r.show())


def run_pty_stderr(E, args, timeout=20):
    """Run cachectl with stderr on a pseudo-terminal, stdout on a pipe."""
    import pty
    mfd, sfd = pty.openpty()
    chunks = []

    def reader():
        while True:
            try:
                b = os.read(mfd, 65536)
            except OSError:
                return
            if not b:
                return
            chunks.append(b)
    th = threading.Thread(target=reader, daemon=True)
    th.start()
    env = dict(os.environ, LC_ALL='C')
    t0 = time.monotonic()
    p = subprocess.Popen([CACHECTL] + args, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=sfd, env=env,
                         start_new_session=True)
    os.close(sfd)
    timed_out = False
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(p.pid, signal.SIGKILL)
        out, _ = p.communicate()
    th.join(2)
    os.close(mfd)
    r = Res(['cachectl'] + args + ['2>pty'], p.returncode, out, b''.join(chunks),
            time.monotonic() - t0, timed_out)
    return r


def t_progress(t, E):
    root = E.path('ptree')
    mass_tree(root, ndirs=4, nfiles=50)
    r = run_pty_stderr(E, ['status', '-r', '-J', '-b', root])
    t.eq(r.rc, 0, 'status -r with stderr on a TTY: exit 0', r.show())
    t.ok(r.err.strip() != b'', 'stderr a TTY: a progress line is shown by default',
         r.show())
    rows = jrows(t, r, 'status -r, stderr a TTY')
    if rows is not None:
        t.eq(len(rows), 200, 'stderr a TTY: stdout JSON holds only the 200 rows')
    r = run_pty_stderr(E, ['status', '-r', '--no-progress', '-J', '-b', root])
    t.eq(r.err, b'', '--no-progress with stderr a TTY: nothing on stderr', r.show())
    r = E.cachectl(['status', '-r', '-J', '-b', root])
    t.eq(r.err, b'', 'stderr a pipe: no progress by default', r.show())
    r = E.cachectl(['prefetch', '-r', '--progress', '-c', '-J', '-b', root])
    t.eq(r.rc, 0, 'prefetch -r --progress, stderr a pipe: exit 0', r.show())
    t.ok(r.err.strip() != b'', '--progress, stderr a pipe: progress on stderr', r.show())
    rows = jrows(t, r, 'prefetch -r --progress -c -J')
    if rows is not None:
        t.eq((len(rows), rows.total is not None), (200, True),
             '--progress: stdout JSON holds only rows and total')


GROUPS = {
    'acceptance': t_acceptance,
    'prefetch-modes': t_prefetch_modes,
    'tree': t_tree,
    'progress': t_progress,
}


if __name__ == '__main__':
    sys.exit(main(GROUPS))
