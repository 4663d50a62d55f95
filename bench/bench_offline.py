#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The offline cache manager's speed (cachectl attach), same run, medians.

usage: flock /tmp/cachectl-bench.lock python3 bench/bench_offline.py [-n REPS]
       [--files N] [--mib M] [--scratch DIR]

Scenarios, each against its reference in the same run:
  repeat      repeat sequential read of a cached 1 GiB file through the
              attachment vs. a repeat read of a local file (target >= 80%)
  first       first read of a cached file whose pages are in no page cache
              vs. reading the cache's own data file cold (target >= 50%)
  stat        find | xargs stat of a 20k-file cached tree through the
              attachment vs. on the slowfs origin at 1 ms per request
              (target >= 10x faster)
  ls-offline  ls -lR of that tree offline vs. the same tree on the local
              disk (target within 2x)

The stat and ls-offline lines also print the same commands on the local
disk tree and through a plain FUSE passthrough (slowfs at 0 ms, kernel
caches primed), the floor for any FUSE filesystem without passthrough on
this machine.

The origin is tests/slowfs over a directory of the local disk, the
attachment over slowfs's mount point (build/ binaries, or $CACHECTL,
$CACHECTL_OFFLINE, $SLOWFS). The attachment runs with --actimeo 600000 so
the warm tree is not revalidated during the runs (the default is 3 s).
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, 'tests', 'slowfs'))
import slowfs  # noqa: E402

B = os.path.join(REPO, 'build')
CACHECTL = os.environ.get('CACHECTL', os.path.join(B, 'tools', 'cachectl'))
MANAGER = os.environ.get('CACHECTL_OFFLINE', os.path.join(B, 'tools', 'offline', 'cachectl-offline'))
SLOWFS = os.environ.get('SLOWFS', os.path.join(B, 'tests', 'slowfs', 'slowfs'))


def evict(path):
    fd = os.open(path, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)


def read_all(path):
    t0 = time.monotonic()
    fd = os.open(path, os.O_RDONLY)
    n = 0
    while True:
        b = os.read(fd, 1 << 20)
        if not b:
            break
        n += len(b)
    os.close(fd)
    return time.monotonic() - t0, n


def sh(cmd):
    t0 = time.monotonic()
    subprocess.run(cmd, shell=True, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.monotonic() - t0


def med(f, reps, before=None):
    s = []
    for _ in range(reps):
        if before:
            before()
        s.append(f())
    return statistics.median(s), s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('-n', type=int, default=5)
    ap.add_argument('--files', type=int, default=20000)
    ap.add_argument('--mib', type=int, default=1024)
    ap.add_argument('--scratch', default='/var/tmp/cachectl-bench-offline')
    a = ap.parse_args()
    slowfs.cleanup_stale(a.scratch)
    shutil.rmtree(a.scratch, ignore_errors=True)
    back, origin = os.path.join(a.scratch, 'back'), os.path.join(a.scratch, 'origin')
    cache, rund = os.path.join(a.scratch, 'cache'), os.path.join(a.scratch, 'run')
    for d in (back, origin, rund):
        os.makedirs(d)
    tree = os.path.join(back, 'tree')
    for i in range(a.files):
        d = os.path.join(tree, 'd%03d' % (i // 200))
        if i % 200 == 0:
            os.makedirs(d)
        with open(os.path.join(d, 'f%05d' % i), 'wb') as f:
            f.write(b'x' * 100)
    big = os.path.join(back, 'big')
    with open(big, 'wb') as f:
        for _ in range(a.mib):
            f.write(os.urandom(1 << 20))
    env = dict(os.environ, CACHECTL_OFFLINE=MANAGER, CACHECTL_RUNTIME_DIR=rund,
               CACHECTL_STATE_DIR=rund)
    load0 = open('/proc/loadavg').read().split()[0]
    res = {}
    # what no FUSE filesystem beats: the same commands on the local disk
    # tree, and through a plain FUSE passthrough (slowfs at 0 ms) whose
    # kernel caches were primed just before (its timeouts are 1 s)
    stat_cmd = 'find %s | xargs stat > /dev/null'
    ls_cmd = 'ls -lR %s > /dev/null'
    sh(stat_cmd % tree)
    t_stat_disk, _ = med(lambda: sh(stat_cmd % tree), a.n)
    with slowfs.SlowFS(back, origin, latency=0, exe=SLOWFS) as fs:
        ptree = os.path.join(origin, 'tree')
        t_stat_pt, _ = med(lambda: sh(stat_cmd % ptree), a.n, lambda: sh(stat_cmd % ptree))
        t_ls_pt, _ = med(lambda: sh(ls_cmd % ptree), a.n, lambda: sh(ls_cmd % ptree))
    with slowfs.SlowFS(back, origin, latency=1, exe=SLOWFS) as fs:
        # the origin itself at 1 ms per request
        t_origin, s_origin = med(lambda: sh('find %s/tree | xargs stat > /dev/null' % origin),
                                 a.n, lambda: time.sleep(1.1))
        fs.set_latency(0)
        subprocess.run([CACHECTL, 'attach', '--cache-dir', cache, '--actimeo', '600000',
                        origin], env=env, check=True)
        try:
            fs.set_latency(1)
            sh('find %s/tree | xargs stat > /dev/null' % origin)   # cache the tree
            t_att, s_att = med(lambda: sh('find %s/tree | xargs stat > /dev/null' % origin), a.n)
            res['stat'] = (t_origin / t_att, 'origin %.2f s, attachment %.3f s; local disk %.3f s '
                           '(origin/disk %.1fx), FUSE passthrough warm %.3f s' % (
                               t_origin, t_att, t_stat_disk, t_origin / t_stat_disk, t_stat_pt), 10.0)
            fs.set_latency(0)
            mbig = os.path.join(origin, 'big')
            read_all(mbig)                                     # fills the cache
            data = [os.path.join(cache, 'data', n) for n in os.listdir(os.path.join(cache, 'data'))
                    if os.path.getsize(os.path.join(cache, 'data', n)) == a.mib << 20][0]
            read_all(big)
            read_all(mbig)
            t_loc, _ = med(lambda: read_all(big)[0], a.n)
            t_rep, _ = med(lambda: read_all(mbig)[0], a.n)
            res['repeat'] = (t_loc / t_rep, 'local %.0f MB/s, attachment %.0f MB/s' % (
                a.mib * 1.048576 / t_loc, a.mib * 1.048576 / t_rep), 0.8)

            def cold():
                evict(mbig)
                evict(data)
            t_cache, _ = med(lambda: read_all(data)[0], a.n, cold)
            t_first, _ = med(lambda: read_all(mbig)[0], a.n, cold)
            res['first'] = (t_cache / t_first, 'cache file cold %.0f MB/s, attachment %.0f MB/s' % (
                a.mib * 1.048576 / t_cache, a.mib * 1.048576 / t_first), 0.5)
            subprocess.run([CACHECTL, 'disconnect', origin], env=env, check=True)
            sh('ls -lR %s/tree > /dev/null' % origin)
            t_off, _ = med(lambda: sh('ls -lR %s/tree > /dev/null' % origin), a.n)
            t_disk, _ = med(lambda: sh('ls -lR %s > /dev/null' % tree), a.n)
            res['ls-offline'] = (t_disk / t_off, 'local disk %.3f s, offline %.3f s; FUSE passthrough '
                                 'warm %.3f s (%.1fx of disk)' % (t_disk, t_off, t_ls_pt, t_ls_pt / t_disk), 0.5)
        finally:
            subprocess.run([CACHECTL, 'detach', '--force', origin], env=env)
    load1 = open('/proc/loadavg').read().split()[0]
    print('offline bench, n=%d, %d files, %d MiB, load %s -> %s' % (a.n, a.files, a.mib, load0, load1))
    ok = True
    for k in ('repeat', 'first', 'stat', 'ls-offline'):
        r, what, target = res[k]
        good = r >= target
        ok &= good
        print('  %-11s %6.2fx of reference (target >= %.2fx) %s: %s' % (
            k, r, target, 'ok' if good else 'MISSED', what))
    shutil.rmtree(a.scratch, ignore_errors=True)
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
