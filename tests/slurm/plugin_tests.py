#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The SPANK plugin (cachectl.so) in a real single-node Slurm (slurmtest.py):
srun options stage and pin a tree, the pins live exactly as long as the
step, and what one job pins another cannot take.

usage: plugin_tests.py GROUP    (see GROUPS at the bottom)

Environment: CACHECTL, CACHECTLD, KCACHESTAT, CACHECTL_SPANK (the built
cachectl.so), SLOWFS. Residency comes from the kernel (kcachestat, which
calls cachestat(2), run inside the job and from here), pins from the
daemon's wire protocol spoken directly: never from libcachectl.
"""

import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'pylib'))
sys.path.insert(0, os.path.join(HERE, '..', 'slowfs'))
sys.path.insert(0, HERE)
from cachectl_test import KCS, ksnap, main_in_scratch, MiB, wait_for  # noqa: E402
from slurmtest import Cluster  # noqa: E402

CACHECTL = os.environ.get('CACHECTL', '')
CACHECTLD = os.environ.get('CACHECTLD', '')
PLUGIN = os.environ.get('CACHECTL_SPANK', '')
SLOWFS = os.environ.get('SLOWFS', '')


def make_tree(top, nfiles, size, sub=('a', 'b')):
    """nfiles files of size bytes spread over top/SUB, written and synced,
    then made data-cold. Returns the paths."""
    paths = []
    data = os.urandom(size)
    for i in range(nfiles):
        d = os.path.join(top, sub[i % len(sub)])
        os.makedirs(d, exist_ok=True)
        p = os.path.join(d, 'f%04d' % i)
        with open(p, 'wb') as f:
            f.write(data)
        paths.append(p)
    os.sync()
    evict(paths)
    return paths


def evict(paths):
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def resident(paths):
    sizes = [os.path.getsize(p) for p in paths]
    got = ksnap(paths)
    return sum(min(g or 0, s) for g, s in zip(got, sizes)), sum(sizes)


def cluster(work, **kw):
    for name, v in (('CACHECTL', CACHECTL), ('CACHECTLD', CACHECTLD),
                    ('CACHECTL_SPANK', PLUGIN)):
        if not v or not os.path.exists(v):
            raise RuntimeError('%s is not set to a built file (%r)' % (name, v))
    return Cluster(work, plugin=PLUGIN, cachectld=CACHECTLD,
                   bindir=os.path.dirname(CACHECTL), **kw)


def holders_of(c, path):
    return sorted(h for p, h in c.holds() if p == path)


def wait_file(path, secs, proc=None):
    ok, _ = wait_for(lambda: os.path.exists(path) or
                     (proc is not None and proc.poll() is not None), secs)
    return os.path.exists(path)


# ---- groups -------------------------------------------------------------------

def g_lifetime(t, work):
    """srun --cachectl-prefetch=DIR --cachectl-pin=DIR: resident and pinned
    inside the job, pin gone after it."""
    top = os.path.join(work, 'data')
    paths = make_tree(top, 40, 256 * 1024)
    got, want = resident(paths)
    t.ok(got < want // 2, 'the tree starts data-cold (%d of %d bytes)' % (got, want))
    with cluster(work) as c:
        ready, go = os.path.join(work, 'ready'), os.path.join(work, 'go')
        kout = os.path.join(work, 'kernel.txt')
        script = ('cachectl status -r -J %s > %s/status.json && '
                  '%s %s > %s && touch %s && '
                  'while [ ! -e %s ]; do sleep 0.1; done' %
                  (top, work, KCS, ' '.join(paths), kout, ready, go))
        p = c.srun_bg(['--cachectl-prefetch=' + top, '--cachectl-pin=' + top,
                       'sh', '-c', script], os.path.join(work, 'srun.out'))
        seen = wait_file(ready, 90, p)
        out = open(os.path.join(work, 'srun.out'), errors='replace').read()
        t.ok(seen, 'the job ran its task', out, c.log('slurmd'))
        if not seen:
            return
        with open(kout) as f:
            cached = [int(x) for x in f.read().split()]
        t.eq(sum(min(a, 256 * 1024) for a in cached), want,
             'inside the job the whole tree is resident (kernel cachestat, from the task)')
        st = json.load(open(os.path.join(work, 'status.json')))
        t.ok(json.dumps(st).count('"pct": 100') >= 1 or '100' in json.dumps(st),
             'cachectl status -J inside the job says so too')
        jobs = c.job_ids()
        h = holders_of(c, top)
        t.eq(h, ['slurm job %d.0' % jobs[0]] if jobs else ['?'],
             'cachectld holds the tree for the job, named by its job id', h)
        s = c.status(top)
        t.ok(s is not None and int(s['files']) == 40,
             'the daemon keeps the 40 files of the pin', s)
        r = c.srun(['cachectl', 'pins', '--system', '-J'])
        t.ok(('slurm job %d.0' % jobs[0]) in r.text if jobs else False,
             'cachectl pins shows the job id as the holder', r.show())
        t.ok('staged 40 files' in out and 'already cached' in out,
             'the accounting line went to the job\'s stderr', out)
        open(go, 'w').close()
        p.wait(60)
        t.eq(p.returncode, 0, 'the step succeeded')
        gone, secs = wait_for(lambda: not holders_of(c, top) and
                              c.status(top) is None, 10)
        t.ok(gone, 'after the job the pin is gone (%.1f s)' % secs, c.holds())


def g_scancel(t, work):
    """scancel of a running job releases its pins within 10 s."""
    top = os.path.join(work, 'data')
    make_tree(top, 10, 64 * 1024)
    with cluster(work) as c:
        p = c.srun_bg(['--cachectl-pin=' + top, 'sleep', '300'],
                      os.path.join(work, 'srun.out'))
        held, _ = wait_for(lambda: holders_of(c, top) or p.poll() is not None, 90)
        t.ok(holders_of(c, top), 'the running job holds its pin',
             open(os.path.join(work, 'srun.out')).read())
        jobs = c.job_ids()
        t.eq(len(jobs), 1, 'one job runs')
        t0 = time.monotonic()
        c.run_cmd(['scancel', str(jobs[0])])
        gone, _ = wait_for(lambda: not holders_of(c, top) and
                           c.status(top) is None, 30)
        dt = time.monotonic() - t0
        t.ok(gone and dt <= 10, 'scancel released the pin in %.1f s (<= 10 s)' % dt,
             c.holds())
        p.wait(30)

        # a stepd killed outright takes its pins with it
        p = c.srun_bg(['--cachectl-pin=' + top, 'sleep', '300'],
                      os.path.join(work, 'srun2.out'))
        wait_for(lambda: holders_of(c, top) or p.poll() is not None, 90)
        t.ok(holders_of(c, top), 'a second job holds the pin')
        killed = c.kill_stepds()
        t.ok(killed > 0, 'its slurmstepd was killed with SIGKILL (%d)' % killed)
        gone, dt = wait_for(lambda: not holders_of(c, top) and
                            c.status(top) is None, 10)
        t.ok(gone, 'the daemon dropped the pins of the killed stepd in %.1f s' % dt,
             c.holds())


def g_stage_timeout(t, work):
    """A job whose staging exceeds its limit fails, naming path and limit."""
    if not SLOWFS or not os.path.exists('/dev/fuse'):
        t.skip('staging timeout', 'no slowfs or /dev/fuse')
        return
    import slowfs
    back, mnt = os.path.join(work, 'back'), os.path.join(work, 'mnt')
    os.makedirs(mnt)
    # about 3 s to stage at 30 ms a request, 128 files in flight
    make_tree(os.path.join(back, 'set'), 3000, 16 * 1024)
    with slowfs.SlowFS(back, mnt, latency=30, exe=SLOWFS):
        with cluster(work) as c:
            tree = os.path.join(mnt, 'set')
            t0 = time.monotonic()
            r = c.srun(['--cachectl-prefetch=' + tree,
                        '--cachectl-stage-timeout=1', 'true'], timeout=120)
            dt = time.monotonic() - t0
            t.ok(r.rc != 0, 'the step failed (exit %s)' % r.rc, r.show())
            t.ok(tree in r.etext and 'staging limit of 1 s' in r.etext,
                 'the message names the path and the limit', r.show())
            t.ok(dt < 15, 'it failed promptly (%.1f s for the whole srun)' % dt)
            t.ok(c.status(tree) is None and not c.holds(), 'nothing is held')
            r = c.srun(['--cachectl-prefetch=' + os.path.join(work, 'nothere'), 'true'])
            t.ok(r.rc != 0 and 'nothere' in r.etext and
                 'No such file' in r.etext,
                 'a missing path fails the step, named with the cause', r.show())


def g_overlap(t, work):
    """Two concurrent jobs pinning overlapping trees: ending one keeps the
    other's pins; system pins and other jobs' holds are out of reach."""
    top = os.path.join(work, 'data')
    paths = make_tree(top, 20, 64 * 1024)
    sub = os.path.join(top, 'a')
    sysfile = os.path.join(work, 'system.bin')
    with open(sysfile, 'wb') as f:
        f.write(os.urandom(64 * 1024))
    with cluster(work) as c:
        r = c.run_cmd([CACHECTL, 'pin', '--system', sysfile])
        t.eq(r.rc, 0, 'root pins a file in the system store', r.show())
        go_a, go_b = os.path.join(work, 'go-a'), os.path.join(work, 'go-b')
        wait = 'while [ ! -e %s ]; do sleep 0.1; done'
        pa = c.srun_bg(['--cachectl-pin=' + top, 'sh', '-c', wait % go_a],
                       os.path.join(work, 'a.out'))
        wait_for(lambda: holders_of(c, top) or pa.poll() is not None, 90)
        pb = c.srun_bg(['--cachectl-pin=%s,%s' % (top, sub), 'sh', '-c',
                        'cachectl unpin --system %s; echo unpin=$?; %s' %
                        (top, wait % go_b)], os.path.join(work, 'b.out'))
        both, _ = wait_for(lambda: len(holders_of(c, top)) == 2 or
                           pb.poll() is not None, 90)
        t.ok(both, 'both jobs hold the tree', c.holds(),
             open(os.path.join(work, 'b.out')).read())
        jobs = sorted(c.job_ids())
        time.sleep(0.5)
        bout = open(os.path.join(work, 'b.out')).read()
        t.ok('unpin=1' in bout and len(holders_of(c, top)) == 2,
             'job B cannot unpin the tree (it is not in the store)', bout)
        open(go_a, 'w').close()
        pa.wait(60)
        time.sleep(1)
        h = c.holds()
        t.eq(sorted(x for x in h if x[0] in (top, sub)),
             sorted([(top, 'slurm job %d.0' % jobs[1]),
                     (sub, 'slurm job %d.0' % jobs[1])]) if len(jobs) == 2 else [],
             'after job A ends, job B still holds both its pins', h)
        s = c.status(top)
        t.ok(s is not None and int(s['files']) == 20,
             'the daemon still keeps the 20 files of the tree', s)
        evict(paths)
        ok, _ = wait_for(lambda: resident(paths)[0] == resident(paths)[1], 15, 0.5)
        t.ok(ok, 'evicted under job B, the tree is refilled (kernel cachestat)')
        open(go_b, 'w').close()
        pb.wait(60)
        gone, _ = wait_for(lambda: not any(p in (top, sub) for p, _ in c.holds()), 10)
        t.ok(gone, 'after both jobs no hold is left', c.holds())
        t.ok(c.status(sysfile) is not None,
             'the system pin is untouched by both jobs')


def g_memory(t, work):
    """Hard pins beyond the job's memory are refused, clearly."""
    top = os.path.join(work, 'data')
    make_tree(top, 4, 1 * MiB)
    with cluster(work) as c:
        r = c.srun(['--mem=2', '--cachectl-pin=%s:hard' % top, 'true'])
        t.ok(r.rc != 0 and top in r.etext and "memory limit" in r.etext,
             'a 4 MiB hard pin in a 2 MiB job fails the step, naming both', r.show())
        t.eq(holders_of(c, top), [], 'and holds nothing')
        r = c.srun(['--mem=100', '--cachectl-pin=%s:hard' % top,
                    'sh', '-c', 'cachectl pins --system'])
        t.ok(r.rc == 0 and 'hard' in r.text, 'within the limit it is held hard',
             r.show())


def g_evict_after(t, work):
    """--cachectl-evict-after drops the staged tree at the end, but not
    what a system pin keeps."""
    top = os.path.join(work, 'data')
    paths = make_tree(top, 20, 64 * 1024)
    kept = paths[0]
    with cluster(work) as c:
        r = c.run_cmd([CACHECTL, 'pin', '--system', kept])
        t.eq(r.rc, 0, 'root pins one file of the tree in the system store', r.show())
        r = c.srun(['--cachectl-pin=' + top, '--cachectl-evict-after',
                    'sh', '-c', '%s %s' % (KCS, ' '.join(paths))])
        t.eq(r.rc, 0, 'the step ran', r.show())
        inside = [int(x) for x in r.text.split()]
        t.eq(sum(inside), 20 * 64 * 1024, 'inside the job the tree was resident')
        with open(os.path.join(c.dir, 'slurmd.log'), errors='replace') as f:
            log = f.read()
        t.ok('evicted 19 files (1 kept by other pins)' in log,
             'the end says in the node\'s log what it evicted and kept', log[-2000:])
        got = ksnap(paths)
        t.eq(got[1:], [0] * 19, 'after the job the tree is evicted (kernel cachestat)')
        t.eq(got[0], 64 * 1024, 'but the file the system pins stays resident')


GROUPS = {
    'evict-after': g_evict_after,
    'lifetime': g_lifetime,
    'scancel': g_scancel,
    'stage-timeout': g_stage_timeout,
    'overlap': g_overlap,
    'memory': g_memory,
}

if __name__ == '__main__':
    sys.exit(main_in_scratch(sys.argv, GROUPS, 'cachectl-slurm-'))
