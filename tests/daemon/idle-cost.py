#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""idle-cost: cachectld's CPU with 100k pinned files and nothing changing.

Not a meson test (it takes over a minute and measures, rather than checks,
the machine): run it by hand, see README.md.

usage: idle-cost.py [--files N] [--secs S] [--hard] [--keep] [--tree DIR]

  CACHECTL, CACHECTLD: the binaries (default: ./build/tools/...)
  --files N   files of 4 KiB in the pinned tree (default 100000)
  --secs S    how long to measure (default 60)
  --hard      pin hard (locked) instead of soft (refilled)
  --tree DIR  pin DIR instead of making a tree (it is not removed)
  --settle S  how long to let the daemon settle after the pin is satisfied
              before measuring (default 10)

It makes the tree under /var/tmp (a disk filesystem; never tmpfs), starts
cachectld with its own store and socket dirs, pins the tree with
`cachectl pin -r`, waits until the daemon's STATUS says satisfied, lets it
settle, then reads utime+stime of the daemon (and cutime+cstime, plus
utime+stime of every live descendant, e.g. lock workers) from /proc/PID/stat
at the start and end of the window. Prints the figure in % of one core.

Exit 0 if under 1% of a core, 1 if not (or if something failed).
"""

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'pylib'))
from cachectl_test import Tap, fstype, ival, wait_for  # noqa: E402
import daemontest as dt  # noqa: E402

HZ = os.sysconf('SC_CLK_TCK')


def cpu_ticks(pid, with_children_waited=True):
    with open('/proc/%d/stat' % pid) as f:
        s = f.read()
    fields = s[s.rindex(')') + 2:].split()
    # fields[0] is state (stat field 3): utime is field 14, stime 15,
    # cutime 16, cstime 17
    ut, st, cut, cst = (int(fields[i]) for i in (11, 12, 13, 14))
    return ut + st + ((cut + cst) if with_children_waited else 0)


def tree_ticks(pid):
    """The daemon plus its live descendants: {pid: ticks}."""
    out = {}
    for p in [pid] + dt.descendants(pid):
        try:
            out[p] = cpu_ticks(p)
        except (OSError, ValueError):
            pass
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--files', type=int, default=100000)
    ap.add_argument('--secs', type=float, default=60)
    ap.add_argument('--settle', type=float, default=10)
    ap.add_argument('--hard', action='store_true')
    ap.add_argument('--tree')
    a = ap.parse_args()

    top = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
    dt.CACHECTL = os.environ.get('CACHECTL') or os.path.join(top, 'build/tools/cachectl')
    dt.CACHECTLD = os.environ.get('CACHECTLD') or os.path.join(
        top, 'build/tools/cachectld/cachectld')
    for exe in (dt.CACHECTL, dt.CACHECTLD):
        if not os.access(exe, os.X_OK):
            print('idle-cost: no executable %s (set CACHECTL / CACHECTLD)' % exe,
                  file=sys.stderr)
            return 1

    base = os.environ.get('CACHECTL_TEST_TMPDIR', '/var/tmp')
    if fstype(base) in ('tmpfs', 'ramfs', ''):
        print('idle-cost: %s is %s; use a disk filesystem (CACHECTL_TEST_TMPDIR)'
              % (base, fstype(base)), file=sys.stderr)
        return 1
    work = tempfile.mkdtemp(prefix='cachectl-idle-', dir=base)
    E = dt.Env(work)
    d = None
    def on_term(signo, frame):
        raise SystemExit('idle-cost: killed by signal %d' % signo)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    try:
        if a.tree:
            root = os.path.abspath(a.tree)
        else:
            root = os.path.join(dt.scratch_fs(Tap(), E, 'fs'), 'tree')
            t0 = time.monotonic()
            dt.make_small_tree(root, a.files)
            os.sync()
            print('# made %d files of 4 KiB in %.1fs' % (a.files, time.monotonic() - t0))
        d = E.daemon()
        if not d.wait_ready():
            print('idle-cost: cachectld did not start\n' + d.tail(), file=sys.stderr)
            return 1
        args = ['pin', '-r'] + (['--hard'] if a.hard else []) + [root]
        r = E.cachectl(args, timeout=600)
        if r.rc != 0:
            print('idle-cost: pin failed\n' + r.show(), file=sys.stderr)
            return 1
        t0 = time.monotonic()

        def satisfied():
            try:
                verb, f = d.status(root)
            except Exception:  # noqa: BLE001
                return None
            return verb == 'OK' and (ival(f, 'flags') or 0) & dt.STATUS_SATISFIED \
                and {k: v.decode('utf-8', 'replace') for k, v in f.items()}
        f, _ = wait_for(satisfied, 120, 0.5)
        if f:
            print('# pin satisfied after %.1fs: files=%s size=%s cached=%s locked=%s'
                  % (time.monotonic() - t0, f.get('files'), f.get('size'),
                     f.get('cached'), f.get('locked')))
        else:
            verb, f = d.status(root)
            print('# pin NOT satisfied after 120 s (STATUS %s %r): the kernel keeps '
                  'evicting its pages? measuring anyway' % (verb, f))
        time.sleep(a.settle)
        # what the kernel did meanwhile: the daemon's events
        sub = d.conn()
        sub.call('SUBSCRIBE')
        ev = {2: [0, 0], 3: [0, 0]}
        before = tree_ticks(d.pid)
        t0 = time.monotonic()
        while time.monotonic() - t0 < a.secs:
            try:
                verb, e = sub.recv(max(0.05, a.secs - (time.monotonic() - t0)))
            except Exception:  # noqa: BLE001
                continue
            k = ival(e, 'type')
            if k in ev:
                ev[k][0] += 1
                ev[k][1] += ival(e, 'bytes') or 0
        after = tree_ticks(d.pid)
        wall = time.monotonic() - t0
        sub.close()
        damon = ''
        try:
            with open('/sys/kernel/mm/damon/admin/kdamonds/0/state') as fh:
                damon = fh.read().strip()
        except OSError:
            pass
        print('# during the window the kernel evicted %d bytes of the pin (%d events) '
              'and the daemon refilled %d bytes (%d events)%s'
              % (ev[2][1], ev[2][0], ev[3][1], ev[3][0],
                 '; DAMON kdamond 0 is %s' % damon if damon else ''))
        if not d.alive():
            print('idle-cost: cachectld died\n' + d.tail(), file=sys.stderr)
            return 1
        ticks = sum(after[p] - before.get(p, 0) for p in after)
        pct = 100.0 * ticks / HZ / wall
        print('cachectld idle cost: %.3f%% of a core (%d ticks of 1/%d s over %.1f s, '
              '%d processes, %s pin of %s files)'
              % (pct, ticks, HZ, wall, len(after), 'hard' if a.hard else 'soft',
                 f.get('files')))
        print('verdict: %s (limit: under 1%% of a core)' % ('PASS' if pct < 1.0 else 'FAIL'))
        return 0 if pct < 1.0 else 1
    finally:
        if d:
            d.kill(signal.SIGTERM)
        E.cleanup()
        for fn in reversed(dt.CLEANUP):
            fn()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
