#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Warm restarts and parts of files: cachectl snapshot and prefetch
--restore, --range on status/prefetch/evict, prefetch --max-rate. Every
expectation is the kernel's, page by page, from mincore(2) over a mapping
made by this process (kpages), never from libcachectl.

The host may reclaim clean pages at any moment (DAMON pageout): reclaim
only ever removes pages, so "no page that should not be cached is cached"
is checked on every attempt, and "every page that should be is" gets up to
three attempts from a fresh state.

usage: restore_tests.py GROUP      (see clitest.py)
"""

import os
import shlex
import shutil
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'pylib'))
from cachectl_test import GiB, kpages, kread_exact, MiB, PAGE, run  # noqa: E402
from clitest import CACHECTL, jrows, main, make_cold, mkfile  # noqa: E402

TRIES = 3


def pages_of(ranges, npages):
    """The page vector that exactly these byte ranges cover."""
    v = bytearray(npages)
    for off, length in ranges:
        for i in range(off // PAGE, min(npages, (off + length + PAGE - 1) // PAGE)):
            v[i] = 1
    return bytes(v)


def diff(got, want):
    extra = [i for i, (g, w) in enumerate(zip(got, want)) if g and not w]
    missing = [i for i, (g, w) in enumerate(zip(got, want)) if w and not g]
    return extra, missing


def show(idx):
    return '%d pages%s' % (len(idx), (': ' + ' '.join(map(str, idx[:20])) +
                                      (' ...' if len(idx) > 20 else '')) if idx else '')


# A tree with holes in its residency: several files, a partly cached large
# one, one fully cached, one cold, one sparse, a name with a space.
LAYOUT = {
    'big.bin': (64 * MiB, [(0, 64 * 1024), (5 * MiB + 4096, 3 * MiB),
                           (40 * MiB, 4096), (63 * MiB, MiB)]),
    'sub/mid.bin': (3 * MiB, [(0, 3 * MiB)]),
    'sub/cold.bin': (2 * MiB, []),
    'sub/odd one.bin': (1 * MiB + 100, [(12 * 4096, 8192), (MiB, 100)]),
    'sub/deeper/small.bin': (10000, [(4096, 1)]),
}


def build(E):
    files = {}
    for name, (size, _) in LAYOUT.items():
        files[name] = mkfile(E.path('tree', name), size, cold=True)
    return files


def set_state(files):
    for name, p in files.items():
        make_cold(p)
        kread_exact(p, LAYOUT[name][1])


def t_restore(t, E):
    files = build(E)
    snap = E.path('warm.snapshot')
    for attempt in range(1, TRIES + 1):
        set_state(files)
        before = {n: kpages(p) for n, p in files.items()}
        want = {n: pages_of(LAYOUT[n][1], len(before[n])) for n in files}
        if before != want:
            t.diag('attempt %d: reclaim moved pages while setting up' % attempt)
            continue
        r = E.cachectl(['snapshot', '-r', '-w', snap, E.path('tree')])
        t.eq(r.rc, 0, 'snapshot -r -w FILE DIR exits 0', r.show())
        taken = {n: kpages(p) for n, p in files.items()}
        r = E.cachectl(['evict', '-r', E.path('tree')])
        t.eq(r.rc, 0, 'evict -r DIR exits 0', r.show())
        gone = all(not any(kpages(p)) for p in files.values())
        t.ok(gone, 'kernel: nothing of the tree is cached after evict')
        r = E.cachectl(['prefetch', '--restore', snap, '--wait'])
        t.eq(r.rc, 0, 'prefetch --restore SNAPSHOT --wait exits 0', r.show())
        after = {n: kpages(p) for n, p in files.items()}
        bad_extra = False
        missing_any = False
        for n in files:
            extra, missing = diff(after[n], before[n])
            if extra:
                bad_extra = True
                t.diag('%s: cached now, not before: %s' % (n, show(extra)))
            if missing:
                missing_any = True
                t.diag('%s: cached before, not now: %s' % (n, show(missing)))
        t.ok(not bad_extra, 'kernel: no page that was not cached before is '
             'cached after the restore (attempt %d)' % attempt)
        if bad_extra:
            return
        if not missing_any:
            t.ok(True, 'kernel: every page cached before is cached again, '
                 'page by page (%d pages over %d files)'
                 % (sum(sum(v) for v in before.values()), len(files)))
            break
        reclaimed = taken != before
        t.diag('attempt %d: pages missing%s' % (
            attempt, ' (reclaim moved pages during the snapshot)' if reclaimed else ''))
    else:
        t.ok(False, 'kernel: every page cached before is cached again, '
             'page by page, in one of %d attempts' % TRIES)

    # without --wait (as the units run it): the advice alone, settled
    for attempt in range(1, TRIES + 1):
        set_state(files)
        before = {n: kpages(p) for n, p in files.items()}
        r = E.cachectl(['snapshot', '-r', '-w', snap, E.path('tree')])
        E.cachectl(['evict', '-r', E.path('tree')])
        r = E.cachectl(['prefetch', '--restore', snap])
        deadline = time.monotonic() + 5
        while True:
            after = {n: kpages(p) for n, p in files.items()}
            if after == before or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        extra = any(diff(after[n], before[n])[0] for n in files)
        t.ok(not extra, 'kernel: restore without --wait caches no page that '
             'was not cached before (attempt %d)' % attempt)
        if extra or after == before:
            break
    t.ok(after == before, 'kernel: restore without --wait brings every page '
         'back once the reads end')

    # the snapshot names each file once, cold files not at all
    with open(snap, encoding='utf-8', errors='surrogateescape') as f:
        lines = f.read().split('\n')
    t.eq(lines[0], 'cachectl-snapshot 1', 'snapshot: header line')
    named = [ln.split(' ', 4)[4] for ln in lines if ln.startswith('f ')]
    t.ok(files['sub/cold.bin'] not in named, 'snapshot: a cold file is not listed')
    t.ok(files['sub/odd one.bin'] in named, 'snapshot: a name with a space, absolute')

    # a file changed since the snapshot is skipped, with a warning
    set_state(files)
    r = E.cachectl(['snapshot', '-r', '-w', snap, E.path('tree')])
    t.eq(r.rc, 0, 'snapshot again exits 0', r.show())
    r = E.cachectl(['evict', '-r', E.path('tree')])
    with open(files['sub/mid.bin'], 'ab') as f:
        f.write(b'more')
        os.fsync(f.fileno())
    make_cold(files['sub/mid.bin'])
    os.unlink(files['sub/deeper/small.bin'])
    r = E.cachectl(['prefetch', '--restore', snap, '--wait'])
    t.eq(r.rc, 0, 'restore with a changed and a deleted file exits 0', r.show())
    t.ok('mid.bin: changed since the snapshot (size): skipped' in r.etext,
         'restore names the changed file', r.show())
    t.ok('small.bin: gone since the snapshot: skipped' in r.etext,
         'restore names the deleted file', r.show())
    t.eq(sum(kpages(files['sub/mid.bin'])), 0,
         'kernel: nothing of the changed file was brought back')
    big = kpages(files['big.bin'])
    t.ok(not diff(big, pages_of(LAYOUT['big.bin'][1], len(big)))[0],
         'kernel: the unchanged file got back only its own pages')


def t_snapshot_bad(t, E):
    f = mkfile(E.path('one.bin'), MiB, cold=True)
    g = mkfile(E.path('two.bin'), MiB, cold=True)
    st = os.stat(f)
    mt = st.st_mtime_ns
    sg = os.stat(g)
    good = 'f %d %d 0:8192 %s' % (st.st_size, mt, f)
    goodg = 'f %d %d 4096:4096 %s' % (sg.st_size, sg.st_mtime_ns, g)
    bad = [
        'x 1 2 0:4096 /a',                  # not a file line
        'f -1 %d 0:4096 %s' % (mt, f),      # negative size
        'f %d nope 0:4096 %s' % (st.st_size, f),
        'f %d %d 0:0 %s' % (st.st_size, mt, f),           # empty range
        'f %d %d 8192:4096,0:4096 %s' % (st.st_size, mt, f),  # out of order
        'f %d %d 0:4096,4096x %s' % (st.st_size, mt, f),
        'f %d %d 0:99999999999999999999999 %s' % (st.st_size, mt, f),
        'f %d %d 0:4096 relative/path' % (st.st_size, mt),
        'f %d %d 0:4096 /bad\\xZZescape' % (st.st_size, mt),
        'f 1',
        'f',
        '',
    ]
    snap = E.path('bad.snapshot')
    with open(snap, 'w') as fh:
        fh.write('cachectl-snapshot 1\n' + good + '\n' + '\n'.join(bad) +
                 '\n' + goodg + '\nend %d\n' % (len(bad) + 2))
    make_cold(f)
    make_cold(g)
    r = E.cachectl(['prefetch', '--restore', snap, '--wait'])
    t.eq(r.rc, 64, 'restore with malformed lines exits 64 (partial)', r.show())
    for i in range(len(bad)):
        t.ok('%s:%d: ' % (snap, 3 + i) in r.etext,
             'malformed line %d is named as FILE:LINE' % (3 + i), r.show())
    t.ok('Traceback' not in r.etext and r.rc > 0, 'no crash')
    pf, pg = kpages(f), kpages(g)
    t.eq(pf, pages_of([(0, 8192)], len(pf)),
         'kernel: the good line before them was restored exactly')
    t.eq(pg, pages_of([(4096, 4096)], len(pg)),
         'kernel: the good line after them was restored exactly')

    for name, body, why in [
            ('empty', '', 'empty'),
            ('notsnap', 'hello\n', 'not a cachectl snapshot'),
            ('binary', '\x00\x01\x02', 'not a cachectl snapshot')]:
        p = E.path(name)
        with open(p, 'w') as fh:
            fh.write(body)
        r = E.cachectl(['prefetch', '--restore', p])
        t.eq(r.rc, 1, '%s snapshot: exit 1' % name, r.show())
        t.ok(why in r.etext, '%s snapshot: says %r' % (name, why), r.show())
    r = E.cachectl(['prefetch', '--restore', E.path('missing')])
    t.eq(r.rc, 1, 'missing snapshot: exit 1', r.show())
    r = E.cachectl(['prefetch', '--restore', snap, f])
    t.eq(r.rc, 1, '--restore with a PATH is a usage error', r.show())


def check_range(t, E, verb, f, ranges, start, expect, desc, extra_args=()):
    """Run verb with --range over f from state start(); the kernel's pages
    must be exactly expect, allowing reclaim to remove pages only."""
    args = [verb, '-b', '-J'] if verb == 'status' else [verb, '--wait'] if verb == 'prefetch' else [verb]
    args += list(extra_args)
    for off, length in ranges:
        args += ['--range', '%s:%s' % (off, length)]
    for attempt in range(1, TRIES + 1):
        start()
        before = kpages(f)
        r = E.cachectl(args + [f])
        after = kpages(f)
        if r.rc != 0:
            t.ok(False, '%s: exits 0' % desc, r.show())
            return None
        want = expect(before)
        extra, missing = diff(after, want)
        if extra:
            t.ok(False, '%s: no page outside what it should leave cached' % desc,
                 'extra ' + show(extra))
            return r
        if not missing:
            t.ok(True, '%s: the kernel shows exactly the expected pages' % desc)
            return r
        t.diag('attempt %d: missing %s' % (attempt, show(missing)))
    t.ok(False, '%s: exact in one of %d attempts' % (desc, TRIES))
    return None


def t_range(t, E):
    f = mkfile(E.path('r.bin'), 16 * MiB + 1000, cold=True)
    n = (os.path.getsize(f) + PAGE - 1) // PAGE
    pattern = [(0, MiB), (4 * MiB, 2 * MiB), (10 * MiB, 4096)]

    def cold():
        make_cold(f)

    def warm_pattern():
        make_cold(f)
        kread_exact(f, pattern)

    def warm_all():
        make_cold(f)
        kread_exact(f, [(0, os.path.getsize(f))])

    # prefetch: exactly the ranges, nothing around them
    # in any order: the later ones before the earlier ones
    rng = [(16 * MiB, 'end'), (8 * MiB, MiB), (MiB + 100, 3000)]
    cover = pages_of([(MiB + 100, 3000), (8 * MiB, MiB), (16 * MiB, 1000)], n)
    check_range(t, E, 'prefetch', f, rng, cold, lambda b: cover,
                'prefetch --range x3 of a cold file')
    check_range(t, E, 'prefetch', f, [('2M', '1M')], cold,
                lambda b: pages_of([(2 * MiB, MiB)], n),
                'prefetch --range 2M:1M (size units)')

    # read(2) would read ahead past the range: it must not
    check_range(t, E, 'prefetch', f, [(0, 8192), (9 * MiB, 4096)], cold,
                lambda b: pages_of([(0, 8192), (9 * MiB, 4096)], n),
                'prefetch --read --range (no readahead past the ranges)',
                ['--read'])

    # evict: the ranges go, the rest stays
    def minus(b, ranges):
        drop = pages_of(ranges, n)
        return bytes(x and not d for x, d in zip(b, drop))
    check_range(t, E, 'evict', f, [(4 * MiB, MiB), (15 * MiB, '')], warm_all,
                lambda b: minus(b, [(4 * MiB, MiB), (15 * MiB, 2 * MiB)]),
                'evict --range 4M:1M --range 15M: of a cached file')

    # status: the cached bytes of the ranges, as the kernel counts them
    for ranges in ([(0, 2 * MiB)], [(3 * MiB, 2 * MiB), (10 * MiB, 'end')],
                   [(4 * MiB + 4096, 4096)]):
        for attempt in range(TRIES):
            warm_pattern()
            before = kpages(f)
            args = ['status', '-J', '-b']
            want_pages = 0
            want_range = 0
            for off, length in ranges:
                args += ['--range', '%d:%s' % (off, length)]
                end = os.path.getsize(f) if length == 'end' else off + length
                lo, hi = off // PAGE, (end + PAGE - 1) // PAGE
                want_pages += sum(before[lo:hi])
                want_range += end - off
            r = E.cachectl(args + [f])
            if kpages(f) == before:
                break
        rows = jrows(t, r, 'status --range')
        if rows:
            t.eq(rows[0].get('cached'), want_pages * PAGE,
                 'status %s: cached == kernel pages in the ranges (%d)'
                 % (' '.join(args[3:]), want_pages))
    bad = ['x', '1M:0', ':4K', '4K:abc', '-1:4K', '1M:2M:3M']
    for b in bad:
        r = E.cachectl(['status', '--range', b, f])
        t.eq(r.rc, 1, 'status --range %r is a usage error' % b, r.show())


def t_max_rate(t, E):
    size = GiB
    f = E.path('gig.bin')
    with open(f, 'wb') as fh:
        chunk = os.urandom(4 * MiB)
        for _ in range(size // len(chunk)):
            fh.write(chunk)
        fh.flush()
        os.fsync(fh.fileno())
    make_cold(f)
    samples = []
    stop = threading.Event()

    def sample():
        t0 = time.monotonic()
        while not stop.wait(0.5):
            v = kpages(f)
            samples.append((time.monotonic() - t0, sum(v) * PAGE))
    th = threading.Thread(target=sample)
    th.start()
    try:
        r = run([CACHECTL, 'prefetch', '--max-rate', '50M', '--wait', f],
                timeout=120)
    finally:
        stop.set()
        th.join()
    nominal = size / (50 * MiB)
    t.eq(r.rc, 0, 'prefetch --max-rate 50M --wait exits 0', r.show())
    t.ok(0.9 * nominal <= r.elapsed <= 1.1 * nominal,
         'a cold 1 GiB file at --max-rate 50M takes %.2f s (nominal %.2f s, '
         '+-10%%)' % (r.elapsed, nominal))
    v = kpages(f)
    t.ok(sum(v) * PAGE >= 0.95 * size,
         'kernel: the file is in (%d of %d pages; reclaim may take a few)'
         % (sum(v), len(v)))
    # the pages come at the cap, not in a burst at the start or the end
    mid = [c for s, c in samples if 0.45 * nominal <= s <= 0.55 * nominal]
    if mid:
        t.ok(0.35 * size <= mid[0] <= 0.65 * size,
             'kernel: about half the file is in halfway through (%.0f%%)'
             % (100.0 * mid[0] / size))
    else:
        t.ok(False, 'sampled the kernel halfway through', repr(samples))
    os.unlink(f)


SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..')


def unit_commands(text, subst):
    """ExecStart and ExecStop of a unit file, specifiers and paths replaced
    as subst says, as argv lists; and whether ExecStart may fail."""
    cmds = {}
    for line in text.split('\n'):
        k, _, v = line.partition('=')
        if k in ('ExecStart', 'ExecStop'):
            may_fail = v.startswith('-')
            v = v.lstrip('-')
            for a, b in subst:
                v = v.replace(a, b)
            cmds[k] = ([w for w in shlex.split(v) if w], may_fail)
    return cmds


def t_units(t, E):
    files = build(E)
    bindir = os.path.dirname(os.path.abspath(CACHECTL))
    for scope, rel in (('system', 'tools/systemd/cachectl-warm.service.in'),
                       ('user', 'tools/systemd/user/cachectl-warm.service.in')):
        with open(os.path.join(SRC, rel)) as f:
            text = f.read().replace('@BINDIR@', bindir)
        unitdir = E.path(scope + '-units')
        os.makedirs(unitdir)
        unit = os.path.join(unitdir, 'cachectl-warm.service')
        with open(unit, 'w') as f:
            f.write(text)
        if shutil.which('systemd-analyze'):
            rt = E.path(scope + '-run')
            os.makedirs(rt, mode=0o700)
            env = dict(os.environ, XDG_RUNTIME_DIR=rt)
            r = run(['systemd-analyze', 'verify', '--man=no'] +
                    (['--user'] if scope == 'user' else []) + [unit],
                    env=env, timeout=60)
            if scope == 'user' and r.rc != 0 and 'manager' in r.etext:
                t.skip('%s unit: systemd-analyze verify' % scope,
                       'no user manager here: ' + r.etext.strip())
            else:
                t.eq(r.rc, 0, '%s unit: systemd-analyze verify passes' % scope,
                     r.show())
        etc, state = E.path(scope + '-etc'), E.path(scope + '-state')
        os.makedirs(etc)
        os.makedirs(state)
        subst = [('%E/cachectl', etc), ('%S/cachectl', state),
                 ('/etc/cachectl', etc), ('/var/lib/cachectl', state),
                 ('$CACHECTL_WARM_OPTS', '--wait')]
        cmds = unit_commands(text, subst)
        t.ok('ExecStart' in cmds and 'ExecStop' in cmds,
             '%s unit: has ExecStart and ExecStop' % scope)
        start, may_fail = cmds['ExecStart']
        stop, _ = cmds['ExecStop']
        t.ok(may_fail, '%s unit: a missing snapshot (first boot) does not '
             'fail the unit' % scope)
        r = run(start, timeout=60)
        t.eq(r.rc, 1, '%s unit: ExecStart without a snapshot fails (ignored)'
             % scope, r.show())
        with open(os.path.join(etc, 'warm.conf'), 'w') as f:
            f.write(E.path('tree') + '\n')
        for attempt in range(1, TRIES + 1):
            set_state(files)
            before = {n: kpages(p) for n, p in files.items()}
            r = run(stop, timeout=60)
            t.eq(r.rc, 0, '%s unit: ExecStop (snapshot) exits 0' % scope, r.show())
            r = E.cachectl(['evict', '-r', E.path('tree')])
            r = run(start, timeout=60)
            t.eq(r.rc, 0, '%s unit: ExecStart (restore) exits 0' % scope, r.show())
            after = {n: kpages(p) for n, p in files.items()}
            extra = any(diff(after[n], before[n])[0] for n in files)
            t.ok(not extra, '%s unit: no page cached that was not before'
                 % scope)
            if after == before:
                break
        t.ok(after == before, '%s unit: the tree is cached as at the '
             'snapshot, page by page' % scope)


GROUPS = {'units': t_units, 'restore': t_restore, 'snapshot-bad': t_snapshot_bad,
          'range': t_range, 'max-rate': t_max_rate}

if __name__ == '__main__':
    sys.exit(main(GROUPS))
