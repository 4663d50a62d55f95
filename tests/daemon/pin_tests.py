#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The pin verbs: unpin, and pins with budgets and priorities as
cachectl pins lists them.

usage: pin_tests.py GROUP      (see daemontest.py)
"""

import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'pylib'))
from cachectl_test import (ival, ksnap, MiB, wait_for)  # noqa: E402
from daemontest import (evict, kcached, main, pinned_paths, REFILL_SECS,  # noqa: E402
                        Resid, STATUS_OVER_BUDGET, wait_satisfied, write_file)


# ===========================================================================
# 8. unpin: after unpin, an eviction is not refilled
# ===========================================================================

def t_unpin(t, E):
    f = write_file(E.path('u', 'file.bin'), 8 * MiB)
    keep = write_file(E.path('u', 'keep.bin'), 8 * MiB)
    d = E.start_daemon(t)
    for p in (f, keep):
        r = E.cachectl(['pin', p])
        t.eq(r.rc, 0, 'cachectl pin %s exits 0' % os.path.basename(p), r.show())
    ok, _ = wait_satisfied(t, E, d, f, [f], 30)
    t.ok(ok, 'the pin is satisfied')
    # while pinned, an eviction is refilled (else the check below is empty)
    left = evict(f)
    t0 = time.monotonic()
    full, _ = wait_for(lambda: kcached(f) >= 8 * MiB, REFILL_SECS, 0.05)
    t.ok(full and left == 0, 'while pinned, DONTNEED is undone within %.0f s (%.2f s)'
         % (REFILL_SECS, time.monotonic() - t0), 'left after DONTNEED %d' % left)

    r = E.cachectl(['unpin', f])
    t.eq(r.rc, 0, 'cachectl unpin FILE exits 0', r.show())
    t.ok(f not in pinned_paths(E.store_pins()) and keep in pinned_paths(E.store_pins()),
         'the store no longer has it, and still has the other pin')
    verb, fl, listed = d.list()
    got = set(os.fsdecode(m[1].get('path', b'')) for m in listed)
    t.ok(f not in got and keep in got, 'daemon LIST no longer has it', repr(got))
    left = evict(f)
    t.eq(left, 0, 'kernel: 0 bytes cached right after DONTNEED')
    high = 0
    t0 = time.monotonic()
    while time.monotonic() - t0 < 3:
        high = max(high, kcached(f))
        time.sleep(0.1)
    t.ok(high <= 8 * MiB // 20, 'kernel: the unpinned file stays cold for 3 s '
         '(most seen: %d bytes)' % high, d.tail(10))
    # the other pin is still kept
    evict(keep)
    full, _ = wait_for(lambda: kcached(keep) >= 8 * MiB, REFILL_SECS, 0.05)
    t.ok(full, 'the remaining pin is still refilled')
    r = E.cachectl(['unpin', f])
    t.ok(r.rc != 0 and f in r.etext, 'unpin of a path that is not pinned fails '
         'and names it', r.show())
    t.ok(d.alive(), 'cachectld still runs', d.tail())


# ===========================================================================
# 9. pins-budget: `cachectl pins -J` tells the truth; budgets and memory
#    shortfalls are reported, lower priority gives way first
# ===========================================================================

TRUE_WORDS = (True, 1, 'yes', 'y', 'true', 'r', 'i')


def pins_rows(t, E, desc, env=None):
    r = E.cachectl(['pins', '-J', '-b'], env=env)
    try:
        rows = json.loads(r.out)['pins']
        assert isinstance(rows, list)
    except Exception as e:  # noqa: BLE001
        t.ok(False, desc + ': cachectl pins -J -b gives {"pins": [...]}', str(e), r.show())
        return {}
    t.eq(r.rc, 0, desc + ': cachectl pins -J -b exits 0', r.show())
    return {row.get('path'): row for row in rows}


def t_pins_budget(t, E):
    A = E.path('a')
    afiles = [write_file(os.path.join(A, 'f%d' % i), MiB) for i in range(8)]
    B = write_file(E.path('b.bin'), 4 * MiB)
    C = E.path('c')
    cfiles = [write_file(os.path.join(C, 'f%d' % i), MiB) for i in range(8)]
    d = E.start_daemon(t)
    for args in (['-r', '--priority', '5', A], ['--hard', B],
                 ['-r', '--inherit', '--budget', '4M', C]):
        r = E.cachectl(['pin'] + args)
        t.eq(r.rc, 0, 'cachectl pin %s exits 0' % ' '.join(args[:-1]), r.show())
    wait_satisfied(t, E, d, A, afiles, 30)
    wait_satisfied(t, E, d, B, [B], 30, hard=True)
    last = {}

    def over():
        verb, f = d.status(C)
        last.clear()
        last.update(f, verb=verb)
        return verb == 'OK' and (ival(f, 'flags') or 0) & STATUS_OVER_BUDGET
    ok, _ = wait_for(over, 10, 0.2)
    t.ok(ok, 'daemon STATUS of the 8 MiB pin with a 4 MiB budget: OVER_BUDGET',
         repr(last))
    t.ok((ival(last, 'shortfall') or 0) >= 4 * MiB, 'daemon STATUS: shortfall >= the '
         '4 MiB beyond the budget (%r)' % ival(last, 'shortfall'))

    # the kernel: what is beyond the budget is not kept, what is within is
    for f in cfiles:
        evict(f)
    RC = Resid(cfiles)
    refilled, _ = wait_for(lambda: RC.now()[0] >= 3 * MiB, REFILL_SECS, 0.1)
    high = 0
    t0 = time.monotonic()
    while time.monotonic() - t0 < 2:
        high = max(high, RC.now()[0])
        time.sleep(0.1)
    t.ok(refilled, 'kernel: after evicting the budgeted tree, the files within the '
         'budget come back', RC.describe())
    t.ok(high <= 4 * MiB, 'kernel: no more than the 4 MiB budget comes back '
         '(most seen: %d bytes)' % high, RC.describe())

    # cachectl pins -J -b, against the contract and the kernel
    before = {p: sum(ksnap(fs)) for p, fs in ((A, afiles), (B, [B]), (C, cfiles))}
    rows = pins_rows(t, E, 'three pins')
    after = {p: sum(ksnap(fs)) for p, fs in ((A, afiles), (B, [B]), (C, cfiles))}
    t.eq(sorted(rows), sorted([A, B, C]), 'pins -J lists the three pins by path')
    keys = ['path', 'mode', 'recursive', 'inherit', 'priority', 'budget', 'files', 'size',
            'cached', 'pct', 'locked', 'shortfall', 'status']
    for p, row in sorted(rows.items()):
        missing = [k for k in keys if k not in row]
        t.ok(not missing, 'pins -J row of %s has every key of the contract'
             % os.path.basename(p), 'missing: %r' % missing, 'row: %r' % row)
        if p in before:
            lo, hi = min(before[p], after[p]), max(before[p], after[p])
            t.ok(type(row.get('cached')) is int and lo <= row['cached'] <= hi,
                 'pins -J: cached of %s == the kernel\'s (%d..%d)'
                 % (os.path.basename(p), lo, hi), 'row: %r' % row)
    a, b, c = rows.get(A, {}), rows.get(B, {}), rows.get(C, {})
    t.ok(a.get('mode') == 'soft' and a.get('recursive') in TRUE_WORDS and
         a.get('inherit') not in TRUE_WORDS and a.get('priority') == 5,
         'pins -J: the first pin is soft, recursive, not inherit, priority 5', repr(a))
    t.ok(a.get('files') == 8 and a.get('size') == 8 * MiB, 'pins -J: 8 files, 8 MiB',
         repr(a))
    t.ok(b.get('mode') == 'hard' and b.get('locked') == 4 * MiB and
         b.get('files') == 1 and b.get('size') == 4 * MiB,
         'pins -J: the hard pin has all 4 MiB locked', repr(b))
    t.ok(c.get('budget') == 4 * MiB and c.get('inherit') in TRUE_WORDS and
         (c.get('shortfall') or 0) >= 4 * MiB and re.search('budget', str(c.get('status'))),
         'pins -J: the budgeted pin shows its budget, its shortfall and an over-budget '
         'status', repr(c))
    t.ok(d.alive(), 'cachectld still runs', d.tail())


GROUPS = {
    'unpin': t_unpin,
    'pins-budget': t_pins_budget,
}


if __name__ == '__main__':
    sys.exit(main(GROUPS))
