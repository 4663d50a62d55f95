#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Staging a data-cold tree through the Slurm plugin vs a direct
`cachectl prefetch -r --wait` of it, in the same run.

    flock /tmp/cachectl-bench.lock bench/bench_slurm.py [-n REPS] [--files N]
        [--build DIR] [--scratch DIR]

Starts a single-node Slurm (tests/slurm/slurmtest.py) whose plugstack.conf
loads the built cachectl.so, makes the bench's 50k-file tree (4-64 KiB
files, 500 per directory, as bench/bench.py does) and, REPS times in
alternating order, makes it data-cold with bench/evict (verified by the
kernel) and stages it:

  direct   cachectl prefetch -r --wait TREE     (wall time)
  plugin   srun --cachectl-prefetch=TREE true   (the plugin's own staging
           time from its accounting line, and srun's wall time minus the
           median of a bare `srun true`)

and measures after each how much of the tree is resident (kcachestat,
i.e. cachestat(2); on a busy machine reclaim may take a little back). Prints medians, the ratios plugin/direct (target <= 1.1)
and the load average before and after. Root only (slurmd).
"""

import argparse
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, 'tests', 'pylib'))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'slurm'))


def gen_tree(root, n, per_dir=500, smin=4096, smax=65536, seed=1):
    marker = os.path.join(root, '.bench-slurm-%d-%d' % (n, seed))
    files = []
    if os.path.exists(marker):
        for d, _, names in os.walk(root):
            files += [os.path.join(d, x) for x in names if not x.startswith('.')]
        return sorted(files)
    shutil.rmtree(root, ignore_errors=True)
    rng = random.Random(seed)
    pool = rng.randbytes(1 << 20)
    for i in range(n):
        d = os.path.join(root, 'd%04d' % (i // per_dir))
        if i % per_dir == 0:
            os.makedirs(d)
        size = rng.randint(smin, smax)
        off = rng.randrange(0, len(pool) - size)
        p = os.path.join(d, 'f%06d' % i)
        with open(p, 'wb') as f:
            f.write(pool[off:off + size])
        files.append(p)
    os.sync()
    open(marker, 'w').close()
    return files


def loadavg():
    with open('/proc/loadavg') as f:
        return ' '.join(f.read().split()[:3])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('-n', type=int, default=5)
    ap.add_argument('--files', type=int, default=50000)
    ap.add_argument('--build', default=os.path.join(ROOT, 'build'))
    ap.add_argument('--scratch', default='/var/tmp/cachectl-bench-slurm')
    a = ap.parse_args()

    cachectl = os.path.join(a.build, 'tools', 'cachectl')
    os.environ.setdefault('KCACHESTAT', os.path.join(a.build, 'tests', 'tools', 'kcachestat'))
    from cachectl_test import ksnap, run  # noqa: E402
    from slurmtest import Cluster  # noqa: E402
    evict_exe = os.path.join(a.build, 'bench', 'evict')

    os.makedirs(a.scratch, exist_ok=True)
    tree = os.path.join(a.scratch, 'tree')
    t0 = time.monotonic()
    files = gen_tree(tree, a.files)
    total = sum(os.path.getsize(p) for p in files)
    print('tree: %d files, %.0f MiB (%.0f s to make or find)' %
          (len(files), total / 2**20, time.monotonic() - t0))
    listf = os.path.join(a.scratch, 'list')
    with open(listf, 'wb') as f:
        f.write(b''.join(p.encode() + b'\0' for p in files))

    def cold():
        r = run([evict_exe, '-l', listf], timeout=600)
        if r.rc != 0:
            raise RuntimeError('evict: ' + r.show())

    def pct_in():
        sizes = [os.path.getsize(p) for p in files]
        got = ksnap(files)
        return 100.0 * sum(min(g or 0, s) for g, s in zip(got, sizes)) / sum(sizes)

    work = os.path.join(a.scratch, 'cluster')
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    load0 = loadavg()
    direct, plugin, plugin_wall, bare, resid = [], [], [], [], []
    with Cluster(work, plugin=os.path.join(a.build, 'tools', 'slurm', 'cachectl.so'),
                 cachectld=os.path.join(a.build, 'tools', 'cachectld', 'cachectld'),
                 bindir=os.path.dirname(cachectl)) as c:
        for _ in range(3):
            r = c.srun(['true'])
            bare.append(r.elapsed)
        launch = statistics.median(bare)
        for rep in range(a.n):
            for kind in (('direct', 'plugin') if rep % 2 == 0 else ('plugin', 'direct')):
                cold()
                if kind == 'direct':
                    r = run([cachectl, 'prefetch', '-r', '--wait', tree], timeout=900)
                    if r.rc != 0:
                        raise RuntimeError(r.show())
                    direct.append(r.elapsed)
                    print('  %d direct  %.2f s' % (rep, r.elapsed), flush=True)
                else:
                    r = c.srun(['--cachectl-prefetch=' + tree, 'true'], timeout=900)
                    m = re.search(r'staged (\d+) files, [\d.]+ MiB in ([\d.]+) s', r.etext)
                    if r.rc != 0 or not m:
                        raise RuntimeError(r.show())
                    plugin.append(float(m.group(2)))
                    plugin_wall.append(r.elapsed - launch)
                    print('  %d plugin  %.2f s staging, %.2f s srun - launch' %
                          (rep, plugin[-1], plugin_wall[-1]), flush=True)
                pct = pct_in()
                resid.append(pct)
                print('           %.3f%% resident after it (cachestat)' % pct, flush=True)
    md, mp, mw = (statistics.median(x) for x in (direct, plugin, plugin_wall))
    print()
    print('load average: %s before, %s after (2 cores)' % (load0, loadavg()))
    print('srun true (launch):                 %.2f s' % launch)
    print('direct cachectl prefetch -r --wait: %.2f s (median of %d)' % (md, len(direct)))
    print('plugin staging (its own clock):     %.2f s  ratio %.3f' % (mp, mp / md))
    print('plugin srun wall - launch:          %.2f s  ratio %.3f' % (mw, mw / md))
    print('resident after each run: %.3f%% at least (cachestat)' % min(resid))
    print('target: ratio <= 1.10: %s' % ('met' if max(mp, mw) / md <= 1.10 else 'NOT met'))
    return 0


if __name__ == '__main__':
    sys.exit(main())
