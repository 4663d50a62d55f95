#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Stacked filesystems: an overlayfs file keeps its pages in the file of
the layer holding the data, not in the overlay inode. status, evict and
pin through the merged directory must give that file's truth, checked
against cachestat(2) on the layer's file (kcachestat), never the library.

The layers are on a loop-mounted ext4 image, so pages can be dropped.

usage: stacked_tests.py GROUP      (see daemontest.py)
"""

import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'pylib'))
from cachectl_test import (ival, kcs, KiB, kstat, MiB, run, Skip,  # noqa: E402
                           wait_for)
from daemontest import (CLEANUP, evict, kcached, main, REFILL_SECS,  # noqa: E402
                        scratch_fs, umount, wait_satisfied, write_file)


def jfiles(t, r, desc):
    try:
        doc = json.loads(r.out)
        return {row['file']: row for row in doc['cachectl']}
    except Exception as e:  # noqa: BLE001
        t.ok(False, desc + ': JSON parses', repr(e), r.show())
        return {}


def overlay(t, E):
    base = scratch_fs(t, E, 'layers', size=256 * MiB, inodes=4096)
    if not os.path.ismount(base):
        raise Skip('no loop-mounted ext4 for the layers')
    lower, upper, work = (os.path.join(base, d) for d in ('lower', 'upper', 'work'))
    merged = E.path('merged')
    for d in (lower, upper, work, merged):
        os.makedirs(d, exist_ok=True)
    return base, lower, upper, work, merged


def mount_overlay(t, lower, upper, work, merged, extra=''):
    r = run(['mount', '-t', 'overlay', 'overlay', '-o',
             'lowerdir=%s,upperdir=%s,workdir=%s%s' % (lower, upper, work, extra),
             merged])
    if r.rc != 0:
        raise Skip('mount -t overlay failed: %s' % r.etext.strip())
    CLEANUP.append(lambda: umount(merged))


def t_overlay(t, E):
    base, lower, upper, work, merged = overlay(t, E)
    # the repro: a 500 kB file in the lower dir, read through merged
    lf = os.path.join(lower, 'data', 'f.bin')
    os.makedirs(os.path.dirname(lf))
    with open(lf, 'wb') as f:
        f.write(os.urandom(500000))
    sub = os.path.join(lower, 'data', 'tree')
    os.makedirs(sub)
    for i in range(4):
        with open(os.path.join(sub, 'g%d' % i), 'wb') as f:
            f.write(os.urandom(256 * KiB))
    os.sync()
    mount_overlay(t, lower, upper, work, merged)
    mf = os.path.join(merged, 'data', 'f.bin')

    evict(lf)
    with open(mf, 'rb') as f:
        f.read()
    k_ov, k_low = kcached(mf), kcached(lf)
    t.diag('kernel: cachestat on the overlay file %d, on the lower file %d' % (k_ov, k_low))
    t.ok(k_low > 0, 'kernel: cat through merged caches the lower file')
    r = E.cachectl(['status', '-J', '-b', '-o', '+DIRTY,WRITEBACK', mf, lf])
    rows = jfiles(t, r, 'status merged and lower')
    t.eq(r.rc, 0, 'status of the merged and the lower path exits 0', r.show())
    k_low2 = kcached(lf)
    a, b = rows.get(mf, {}), rows.get(lf, {})
    t.ok(min(k_low, k_low2) <= (a.get('cached') or -1) <= max(k_low, k_low2),
         'status merged/f: cached == the lower file\'s cachestat (%r, kernel %d)'
         % (a.get('cached'), k_low2), r.show())
    t.eq(a.get('cached'), b.get('cached'), 'merged and lower paths agree', r.show())
    t.eq(a.get('dirty'), 0, 'status merged/f: dirty known (0), not null', r.show())

    # evict through merged drops the lower's pages
    r = E.cachectl(['evict', mf])
    t.eq(r.rc, 0, 'evict merged/f exits 0', r.show())
    t.eq(kcached(lf), 0, 'kernel: the lower file has 0 bytes cached after evict')

    # a copied-up file with dirty pages lives in the upper layer
    uf_m = os.path.join(merged, 'data', 'new.bin')
    with open(uf_m, 'wb') as f:
        f.write(os.urandom(1 * MiB))
    uf = os.path.join(upper, 'data', 'new.bin')
    ks = kstat(uf)
    r = E.cachectl(['status', '-J', '-b', '-o', '+DIRTY,WRITEBACK', uf_m])
    row = jfiles(t, r, 'status of a dirty upper file').get(uf_m, {})
    ks2 = kstat(uf)
    t.ok(row.get('cached') in (ks['cached'], ks2['cached']) and ks2['cached'] > 0,
         'status of a new file through merged: cached == the upper file\'s (%r, kernel %d)'
         % (row.get('cached'), ks2['cached']), r.show())
    t.ok(isinstance(row.get('dirty'), int) and
         min(ks['dirty'], ks2['dirty']) <= row['dirty'] <= max(ks['dirty'], ks2['dirty']) +
         max(ks['writeback'], ks2['writeback']),
         'dirty == the upper file\'s cachestat dirty (%r, kernel %d then %d)'
         % (row.get('dirty'), ks['dirty'], ks2['dirty']), r.show())
    r = E.cachectl(['evict', uf_m])
    t.eq(r.rc, 0, 'evict of the dirty file through merged exits 0', r.show())
    t.eq(kcached(uf), 0, 'kernel: the upper file has 0 bytes cached after evict '
         '(dirty pages written back and dropped)')

    # a whiteout hides the lower file: the merged path is gone
    os.unlink(os.path.join(merged, 'data', 'tree', 'g3'))
    r = E.cachectl(['status', os.path.join(merged, 'data', 'tree', 'g3')])
    t.eq(r.rc, 1, 'status of a whited-out file fails (it is gone)', r.show())

    # where the layers cannot be reached (another namespace's paths), the
    # overlay file's mapping still tells what is resident, and nothing else
    with open('/proc/self/mountinfo') as f:
        mi = f.read()
    fake = E.path('mountinfo')
    decoy = E.path('decoy')
    os.makedirs(os.path.join(decoy, 'data'))
    with open(os.path.join(decoy, 'data', 'f.bin'), 'wb') as f:
        f.write(os.urandom(500000))     # same name and size: not the file
    with open(fake, 'w') as f:
        f.write(mi.replace('lowerdir=' + lower, 'lowerdir=' + decoy)
                  .replace('upperdir=' + upper, 'upperdir=/nonexistent/upper'))
    evict(os.path.join(decoy, 'data', 'f.bin'))
    evict(lf)
    with open(mf, 'rb') as f:
        f.read()
    env = dict(E.env(), CACHECTL_MOUNTINFO=fake)
    r = E.cachectl(['status', '-J', '-b', '-o', '+DIRTY', mf], env=env)
    row = jfiles(t, r, 'status with the layers out of reach').get(mf, {})
    k = kcached(lf)
    t.ok(isinstance(row.get('cached'), int) and row['cached'] == k and k > 0 and
         kcached(os.path.join(decoy, 'data', 'f.bin')) == 0,
         'layers out of reach: cached from the mapping == the lower file (%r, kernel %d), '
         'not the decoy\'s' % (row.get('cached'), k), r.show())
    t.ok(row.get('dirty', 0) is None, 'layers out of reach: dirty unknown (null)', r.show())
    r = E.cachectl(['evict', mf], env=env)
    t.eq((r.rc, kcached(lf)), (0, 0), 'layers out of reach: evict still drops the '
         'lower file\'s pages, checked through the mapping', r.show())

    # pin through merged reaches kept, and the daemon refills the lower file
    tree_m = os.path.join(merged, 'data', 'tree')
    lows = [os.path.join(sub, 'g%d' % i) for i in range(3)]
    for p in lows:
        evict(p)
    d = E.start_daemon(t)
    r = E.cachectl(['pin', '-r', tree_m], timeout=60)
    t.eq(r.rc, 0, 'pin -r through merged exits 0 (not filling forever)', r.show())
    ok, _ = wait_satisfied(t, E, d, tree_m, lows, 30)
    t.ok(ok, 'the pin through merged is satisfied')
    # the daemon's view of a stacked file is its last look off the loop
    # (at most a tick behind the kernel's)
    got = {}

    def kept():
        got['r'] = E.cachectl(['pins', '-J'])
        got['states'] = re.findall(r'"status":\s*"([^"]*)"', got['r'].text)
        return got['states'] == ['kept']
    t.ok(wait_for(kept, 2.0, 0.1)[0], 'pins: the overlay pin is kept (within 2 s of the '
         'kernel\'s 100%%): %r' % got.get('states'), got['r'].show())
    t.ok(all(kcached(p) == 256 * KiB for p in lows), 'kernel: every lower file is cached',
         [kcached(p) for p in lows])
    evict(lows[0])
    full, el = wait_for(lambda: kcached(lows[0]) >= 256 * KiB, REFILL_SECS, 0.05)
    t.ok(full, 'the lower file evicted behind the daemon is refilled within %.0f s'
         % REFILL_SECS, d.tail(10))
    t.ok(d.alive(), 'cachectld still runs', d.tail())


GROUPS = {
    'overlay': t_overlay,
}

if __name__ == '__main__':
    sys.exit(main(GROUPS))
