#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Hard pins: locked data stays resident under memory pressure, at 100k
files, within RLIMIT_MEMLOCK, and follows files that change.

usage: hard_tests.py GROUP      (see daemontest.py)
"""

import json
import os
import random
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'pylib'))
from cachectl_test import (ival, KiB, kill_group, kmissing, ksnap, MiB,  # noqa: E402
                           roundup, run, Skip, wait_for)
from daemontest import (CLEANUP, evict, kcached, main, make_small_tree,  # noqa: E402
                        NFILES_100K, scratch_fs, STATUS_ERROR,
                        STATUS_NO_MEMORY, STATUS_SATISFIED, wait_satisfied,
                        write_file)


def proc_status(pid, key):
    """A kB field of /proc/PID/status in bytes (0 if absent)."""
    try:
        with open('/proc/%d/status' % pid) as f:
            for ln in f:
                if ln.startswith(key + ':'):
                    return int(ln.split()[1]) * 1024
    except OSError:
        pass
    return 0


def meminfo(key):
    with open('/proc/meminfo') as f:
        for ln in f:
            if ln.startswith(key + ':'):
                return int(ln.split()[1]) * 1024
    return 0


# ===========================================================================
# 2. hard-pressure: a hard pin survives memory pressure in a memory cgroup
# ===========================================================================
#
# Where the daemon runs: OUTSIDE the cgroup. Page-cache pages are charged to
# the memory cgroup of whoever first faults them in, and a cgroup's limit
# reclaims only pages charged to it. So the pinned file and the control file
# are read first by a process INSIDE the cgroup: both are charged there, and
# the cgroup's reclaim will go for both. Then the daemon (outside, in the
# test's own cgroup) locks the pinned file; mlock does not move the charge,
# so the locked 32 MiB still count against the cgroup's 128 MiB, as they
# would for a user whose workload and pins share a cgroup. Were the daemon
# inside, its own memory and any page it faulted in would also be charged
# there, and a daemon that never locked but re-read quickly would still be
# racing the pressure it is part of. Were the pinned file charged outside,
# the cgroup could not evict it at all and the test could not fail.

CG_LIMIT = 128 * MiB


def my_memcg():
    with open('/proc/self/cgroup') as f:
        for ln in f:
            _, ctrl, path = ln.rstrip('\n').split(':', 2)
            if 'memory' in ctrl.split(','):
                return '/sys/fs/cgroup/memory' + path.rstrip('/')
    return None


def cg_read(cg, name):
    with open(os.path.join(cg, name)) as f:
        return f.read().strip()


def cg_remove(cg, parent):
    for _ in range(50):
        try:
            pids = cg_read(cg, 'cgroup.procs').split()
        except OSError:
            return True
        for pid in pids:
            try:
                with open(os.path.join(parent, 'cgroup.procs'), 'w') as f:
                    f.write(pid)
            except OSError:
                pass
        try:
            os.rmdir(cg)
            return True
        except FileNotFoundError:
            return True
        except OSError:
            time.sleep(0.1)
    return False


def in_cgroup(cg, cmd):
    """Run cmd (a shell string) inside cg."""
    return run(['sh', '-c', 'echo $$ > "$CG/cgroup.procs" && exec ' + cmd],
               env=dict(os.environ, CG=cg), timeout=120)


def new_memcg(name, limit):
    """A v1 memory cgroup below ours with that limit, removed at the end."""
    parent = my_memcg()
    if not parent or not os.path.exists(os.path.join(parent, 'memory.limit_in_bytes')):
        raise Skip('no cgroup v1 memory controller (%r)' % parent)
    cg = os.path.join(parent, '%s-%d' % (name, os.getpid()))
    os.mkdir(cg)
    CLEANUP.append(lambda: cg_remove(cg, parent) or
                   print('# WARNING: could not remove cgroup %s' % cg))
    with open(os.path.join(cg, 'memory.limit_in_bytes'), 'w') as f:
        f.write(str(limit))
    return cg


def t_hard_pressure(t, E):
    cg = new_memcg('cachectl-test', CG_LIMIT)
    t.diag('cgroup %s, limit %d MiB' % (cg, int(cg_read(cg, 'memory.limit_in_bytes')) // MiB))

    block = os.urandom(4 * MiB)
    pinned = write_file(E.path('data', 'pinned.bin'), 32 * MiB, block)
    control = write_file(E.path('data', 'control.bin'), 32 * MiB, block[1:] + block[:1])
    press = [write_file(E.path('press', 'p%d' % i), 64 * MiB, block[i + 2:] + block[:i + 2])
             for i in range(6)]
    for f in [pinned, control] + press:
        evict(f)
    t.eq(ksnap([pinned, control]), [0, 0], 'kernel: pinned and control files start cold')

    d = E.start_daemon(t)

    # charge both files to the cgroup: read them from inside it
    r = in_cgroup(cg, 'cat "%s" "%s" > /dev/null' % (pinned, control))
    t.eq(r.rc, 0, 'read pinned and control file inside the cgroup', r.show())
    usage = int(cg_read(cg, 'memory.usage_in_bytes'))
    t.ok(usage >= 56 * MiB, 'cgroup: the 64 MiB just read are charged to it '
         '(usage %d MiB)' % (usage // MiB))

    r = E.cachectl(['pin', '--hard', pinned])
    t.eq(r.rc, 0, 'cachectl pin --hard FILE exits 0', r.show())
    ok, how = wait_satisfied(t, E, d, pinned, [pinned], 30, hard=True)
    t.ok(ok, 'daemon reports the hard pin satisfied with all 32 MiB locked')
    locked = sum(proc_status(p, 'VmLck') for p in [d.pid] + list(d.track()))
    t.diag('VmLck of cachectld and its children: %d MiB' % (locked // MiB))
    t.eq(kcached(pinned), 32 * MiB, 'kernel: the pinned file is resident before the pressure')

    # the pressure: read 384 MiB through the 128 MiB cgroup, watching the
    # pinned file all the while
    before_fail = int(cg_read(cg, 'memory.failcnt'))
    p = subprocess.Popen(['sh', '-c', 'echo $$ > "$CG/cgroup.procs" && exec cat "$@" > /dev/null',
                          'sh'] + press + press, env=dict(os.environ, CG=cg),
                         start_new_session=True)
    low = 32 * MiB
    samples = 0
    try:
        while p.poll() is None:
            c = kcached(pinned)
            low = min(low, c)
            samples += 1
            time.sleep(0.05)
        p.wait(120)
    finally:
        if p.poll() is None:
            kill_group(p.pid)
            p.wait()
    t.eq(p.returncode, 0, 'pressure generator (cat of 6 x 64 MiB, twice, in the cgroup) ran')
    fails = int(cg_read(cg, 'memory.failcnt')) - before_fail
    maxu = int(cg_read(cg, 'memory.max_usage_in_bytes'))
    t.diag('cgroup: failcnt +%d, max usage %d MiB, %d samples of the pinned file'
           % (fails, maxu // MiB, samples))
    pc, cc = ksnap([pinned, control])
    t.ok(cc < 32 * MiB, 'kernel: the unpinned control file was evicted by the pressure '
         '(%d of 32 MiB left)' % (cc // MiB),
         'the pressure did not reach the control file: the test proves nothing')
    t.eq(pc, 32 * MiB, 'kernel: the hard-pinned file is 100% resident after the pressure',
         kmissing(pinned), d.tail(20))
    t.eq(low, 32 * MiB, 'kernel: the hard-pinned file stayed 100%% resident in every one '
         'of %d samples during the pressure (lowest %d bytes)' % (samples, low))
    t.ok(d.alive(), 'cachectld still runs', d.tail())


def t_hard_100k(t, E):
    root = os.path.join(scratch_fs(t, E, 'fs100k'), 't100k')
    t0 = time.monotonic()
    files = make_small_tree(root, NFILES_100K)
    t.diag('made %d files of 4 KiB in %.1fs' % (len(files), time.monotonic() - t0))
    t0 = time.monotonic()
    total = len(files) * roundup(4 * KiB)

    d = E.start_daemon(t)
    mlocked0 = meminfo('Mlocked')
    t0 = time.monotonic()
    r = E.cachectl(['pin', '-r', '--hard', root], timeout=180)
    t.eq(r.rc, 0, 'cachectl pin -r --hard TREE (100k files) exits 0 (%.1fs)' % r.elapsed,
         r.show())
    last = {}

    def locked_all():
        try:
            verb, f = d.status(root)
        except Exception as e:  # noqa: BLE001
            last['error'] = repr(e)
            return None
        last.clear()
        last.update(f, verb=verb)
        return verb == 'OK' and (ival(f, 'locked') or 0) >= total and \
            (ival(f, 'flags') or 0) & STATUS_SATISFIED
    ok, el = wait_for(locked_all, 120, 0.5)
    t.ok(ok, 'daemon STATUS: satisfied, locked >= %d bytes within 120 s (%.1fs after '
         'the pin command)' % (total, time.monotonic() - t0),
         'last STATUS: %r' % last, d.tail(30))
    t.eq(ival(last, 'files'), NFILES_100K, 'daemon STATUS: files == 100000')
    t.eq(ival(last, 'shortfall'), 0, 'daemon STATUS: shortfall 0')
    fl = ival(last, 'flags') or 0
    t.ok(not fl & (STATUS_NO_MEMORY | STATUS_ERROR), 'daemon STATUS: no NO_MEMORY or '
         'ERROR flag (flags %d)' % fl)

    procs = [d.pid] + [p for p in d.track() if os.path.exists('/proc/%d' % p)]
    vmlck = {p: proc_status(p, 'VmLck') for p in procs}
    maps = {}
    for p in procs:
        try:
            with open('/proc/%d/maps' % p) as f:
                maps[p] = sum(1 for _ in f)
        except OSError:
            pass
    mlocked = meminfo('Mlocked') - mlocked0
    t.diag('VmLck per process (bytes): %r' % vmlck, 'mappings per process: %r' % maps,
           'Mlocked delta in /proc/meminfo: %d MiB' % (mlocked // MiB))
    t.ok(sum(vmlck.values()) >= total or mlocked >= total,
         'locked: VmLck of cachectld + children (%d MiB) or the Mlocked delta (%d MiB) '
         '>= the tree\'s %d MiB' % (sum(vmlck.values()) // MiB, mlocked // MiB,
                                     total // MiB))
    t.ok(all(n < 65530 for n in maps.values()), 'no process near vm.max_map_count '
         '(most mappings: %d)' % max(maps.values() or [0]))
    log = d.logtext()
    bad = [ln for ln in log.splitlines()
           if re.search(r'max_map_count|ENOMEM|Cannot allocate memory|out of memory|'
                        r'RLIMIT_MEMLOCK', ln, re.I)]
    t.ok(not bad, 'daemon log: no max_map_count / ENOMEM failure', *bad[:10])

    got = ksnap(files)
    short = [(f, g) for f, g in zip(files, got) if g is None or g < 4 * KiB]
    t.ok(not short, 'kernel: all 100k files 100%% resident (%d short)' % len(short),
         *['%s: %r' % s for s in short[:10]])
    # locked means DONTNEED cannot drop them
    # (plain fadvise here: kcachestat -e would retry with sync() 50 times
    # on each file it cannot empty)
    sample = random.Random(3).sample(files, 50)
    for f in sample:
        fd = os.open(f, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    left = ksnap(sample)
    t.ok(all(x == 4 * KiB for x in left), 'kernel: DONTNEED on 50 hard-pinned files '
         'leaves them resident (mlocked pages are not dropped)',
         'cached right after DONTNEED: %r' % left[:20])
    t.ok(d.alive(), 'cachectld still runs', d.tail())
    t.diag('%.1fs from the pin to the end of the checks' % (time.monotonic() - t0))


def t_memlock(t, E):
    """A daemon without CAP_IPC_LOCK (nobody) and RLIMIT_MEMLOCK 8 MiB gets
    two 6 MiB hard pins: the higher priority one is locked, the lower one
    gives way, and its shortfall is reported with the reason."""
    if os.geteuid() != 0:
        raise Skip('needs root (setpriv to uid 65534)')
    fdir = E.path('files')
    os.makedirs(fdir)
    hi = write_file(os.path.join(fdir, 'high.bin'), 6 * MiB)
    lo = write_file(os.path.join(fdir, 'low.bin'), 6 * MiB)
    for f in (hi, lo):
        os.chmod(f, 0o644)
    d = E.start_daemon(t, 'cachectld runs as nobody with RLIMIT_MEMLOCK 8 MiB',
                       user='nobody', pre=['prlimit', '--memlock=%d:%d' % (8 * MiB, 8 * MiB)])
    # the low one first: priority, not arrival, must decide
    for f, prio in ((lo, '-10'), (hi, '10')):
        r = E.cachectl(['pin', '--hard', '--priority', prio, f], user='nobody')
        t.eq(r.rc, 0, 'nobody: cachectl pin --hard --priority %s exits 0' % prio, r.show())
    st = {}

    def settled():
        for f in (hi, lo):
            verb, fl = d.status(f)
            st[f] = fl
        return (ival(st[hi], 'locked') or 0) >= 6 * MiB and \
            (ival(st[lo], 'shortfall') or 0) > 0
    ok, el = wait_for(settled, 15, 0.3)
    t.ok(ok, 'the priority 10 pin is locked whole and the priority -10 one reports a '
         'shortfall (%.1fs)' % el, 'high: %r' % st.get(hi), 'low: %r' % st.get(lo),
         d.tail(20))
    t.ok((ival(st.get(lo, {}), 'flags') or 0) & STATUS_NO_MEMORY,
         'the low pin carries the NO_MEMORY flag', repr(st.get(lo)))
    t.ok((ival(st.get(hi, {}), 'flags') or 0) & STATUS_SATISFIED,
         'the high pin is satisfied', repr(st.get(hi)))
    vmlck = sum(proc_status(p, 'VmLck') for p in [d.pid] + list(d.track()))
    t.ok(6 * MiB <= vmlck <= 8 * MiB, 'VmLck of the daemon and its workers: %d MiB, '
         'within the limit and holding the high pin' % (vmlck // MiB))
    t.eq(ksnap([hi])[0], 6 * MiB, 'kernel: the high pin is resident')
    log = d.logtext()
    t.ok('CAP_IPC_LOCK' in log and 'RLIMIT_MEMLOCK' in log, 'the daemon log names '
         'the missing CAP_IPC_LOCK and RLIMIT_MEMLOCK', d.tail(20))
    rows = {}
    r = E.cachectl(['pins', '-J', '-b'], user='nobody')
    try:
        rows = {row.get('path'): row for row in json.loads(r.out)['pins']}
    except Exception as e:  # noqa: BLE001
        t.ok(False, 'nobody: cachectl pins -J parses', str(e), r.show())
    low = rows.get(lo, {})
    t.ok((low.get('shortfall') or 0) > 0 and re.search(r'mem', str(low.get('status'))),
         'cachectl pins shows the low pin\'s shortfall and a no-memory status',
         repr(low))
    t.ok(d.alive(), 'cachectld still runs', d.tail())


# ===========================================================================
# 11. hard-change: a hard-pinned file truncated, grown, replaced, deleted
# ===========================================================================

def t_hard_change(t, E):
    f = write_file(E.path('h', 'file.bin'), 8 * MiB)
    d = E.start_daemon(t)
    r = E.cachectl(['pin', '--hard', f])
    t.eq(r.rc, 0, 'cachectl pin --hard FILE exits 0', r.show())
    ok, _ = wait_satisfied(t, E, d, f, [f], 30, hard=True)
    t.ok(ok, 'the 8 MiB hard pin is satisfied and locked')
    workers = set(d.track())

    def state():
        try:
            verb, fl = d.status(f)
        except Exception as e:  # noqa: BLE001
            return {'error': repr(e)}
        return dict(fl, verb=verb)

    # truncate under the lock: the locked mapping now reaches past EOF
    os.truncate(f, 1 * MiB)
    time.sleep(2)
    why = d.ping(1.0)
    t.ok(why is None, 'truncated to 1 MiB: the daemon still answers', why or '', d.tail(20))
    dead = [p for p in workers if not os.path.exists('/proc/%d' % p) or
            open('/proc/%d/stat' % p).read().split(') ')[1][0] == 'Z']
    t.ok(not dead or 'SIGBUS' not in d.logtext(),
         'no lock worker died of SIGBUS', 'dead: %r' % dead, d.tail(20))
    t.eq(kcached(f), 1 * MiB, 'kernel: the 1 MiB left is resident')

    # grow it: the new part gets locked too
    with open(f, 'ab') as fh:
        fh.write(os.urandom(15 * MiB))
        fh.flush()
        os.fsync(fh.fileno())
    evict(f)
    st = {}
    ok, el = wait_for(lambda: st.update(state()) or
                      ((ival(st, 'locked') or 0) >= 16 * MiB and kcached(f) >= 16 * MiB),
                      10, 0.2)
    t.ok(ok, 'grown to 16 MiB and evicted: resident and locked again within 10 s '
         '(%.1fs)' % el, 'STATUS %r' % st, 'kernel %d' % kcached(f), d.tail(20))
    vmlck = sum(proc_status(p, 'VmLck') for p in [d.pid] + list(d.track()))
    t.ok(vmlck >= 16 * MiB, 'VmLck of the daemon and its workers covers the 16 MiB '
         '(%d MiB)' % (vmlck // MiB))

    # replaced by rename (an editor's save): the pin follows the path
    new = write_file(E.path('h', '.file.bin.tmp'), 4 * MiB)
    evict(new)
    os.rename(new, f)
    ok, el = wait_for(lambda: kcached(f) >= 4 * MiB, 10, 0.2)
    t.ok(ok, 'replaced by rename with a cold 4 MiB file: resident within 10 s (%.1fs)'
         % el, 'STATUS %r' % state(), d.tail(20))
    st = {}
    ok, _ = wait_for(lambda: st.update(state()) or ival(st, 'locked') == 4 * MiB, 10, 0.2)
    t.ok(ok, 'STATUS: locked == the new file\'s 4 MiB (nothing of the old one kept)',
         'STATUS %r' % st)

    # deleted: the daemon goes on, and says so rather than claiming it
    os.unlink(f)
    time.sleep(2)
    why = d.ping(1.0)
    t.ok(why is None, 'pinned file deleted: the daemon still answers', why or '', d.tail(20))
    st = state()
    t.ok(st.get('verb') == 'OK' and not (ival(st, 'locked') or 0) and
         not ((ival(st, 'flags') or 0) & STATUS_SATISFIED and ival(st, 'files')),
         'STATUS of the deleted pin: nothing locked, no claim of a kept file', repr(st))
    # and it comes back when the path does
    write_file(f, 2 * MiB)
    evict(f)
    ok, el = wait_for(lambda: kcached(f) >= 2 * MiB, 10, 0.2)
    t.ok(ok, 'the path created again: resident within 10 s (%.1fs)' % el,
         'STATUS %r' % state(), d.tail(20))
    t.ok(d.alive(), 'cachectld still runs', d.tail())


# ===========================================================================
# memcg: the lock plan honours the memory cgroup the daemon runs in
# ===========================================================================
#
# The daemon runs INSIDE a v1 memory cgroup of 192 MiB (this machine is
# hybrid: the memory controller is v1) and hard-pins 288 MiB of cold files,
# so the pages its lock workers fault in are charged there. MemAvailable
# says there are gigabytes; the cgroup says 192 MiB. A plan that believed
# /proc/meminfo would try to lock it all and the cgroup's OOM killer would
# take a worker (or the daemon) the moment mlocked pages filled it.

MEMCG_LIMIT = 192 * MiB


def oom_kills(cg):
    for ln in cg_read(cg, 'memory.oom_control').splitlines():
        if ln.startswith('oom_kill '):
            return int(ln.split()[1])
    return 0


def t_memcg(t, E):
    if os.geteuid() != 0:
        raise Skip('needs root (cgroups)')
    cg = new_memcg('cachectl-memcg', MEMCG_LIMIT)
    root = E.path('memcg')
    files = [write_file(os.path.join(root, 'f%d' % i), 48 * MiB) for i in range(6)]
    for f in files:
        evict(f)
    t.eq(ksnap(files), [0] * 6, 'kernel: the 288 MiB start cold')

    env = dict(E.env(), CG=cg)
    d = E.start_daemon(t, 'cachectld starts inside a 192 MiB memory cgroup',
                       env=env, pre=['sh', '-c', 'echo $$ > "$CG/cgroup.procs" && '
                                     'exec "$@"', 'sh'])
    with open(os.path.join(cg, 'cgroup.procs')) as f:
        t.ok(str(d.pid) in f.read().split(), 'the daemon runs in the cgroup')
    # no prefetch by cachectl (outside): the workers fault the pages in
    r = E.cachectl(['pin', '--hard', '--no-prefetch', '-r', root])
    t.eq(r.rc, 0, 'cachectl pin --hard --no-prefetch -r DIR (288 MiB) exits 0', r.show())
    last = {}

    def settled():
        verb, f = d.status(root)
        last.clear()
        last.update(f, verb=verb)
        fl = ival(f, 'flags') or 0
        return fl & STATUS_NO_MEMORY and (ival(f, 'locked') or 0) >= 96 * MiB
    ok, el = wait_for(settled, 60, 0.5)
    time.sleep(2)       # a plan that overshoots shows it by now
    verb, f = d.status(root)
    locked = ival(f, 'locked') or 0
    short = ival(f, 'shortfall') or 0
    vmlck = sum(proc_status(p, 'VmLck') for p in [d.pid] + list(d.track()))
    t.diag('STATUS %r; VmLck of the daemon and workers %d MiB; cgroup usage %d MiB, '
           'max %d MiB' % (f, vmlck // MiB, int(cg_read(cg, 'memory.usage_in_bytes')) // MiB,
                           int(cg_read(cg, 'memory.max_usage_in_bytes')) // MiB))
    t.ok(ok, 'the pin reports no-memory with part of it locked (%.1fs)' % el,
         'STATUS %r' % last, d.tail(20))
    t.ok(96 * MiB <= locked <= MEMCG_LIMIT - MEMCG_LIMIT // 10,
         'locked %d MiB: within the cgroup, less its reserve (<= %d MiB), not the '
         'machine\'s MemAvailable' % (locked // MiB, (MEMCG_LIMIT - MEMCG_LIMIT // 10) // MiB),
         d.tail(20))
    t.ok(vmlck <= MEMCG_LIMIT - MEMCG_LIMIT // 10,
         'kernel: VmLck of the daemon and its workers is %d MiB, within the plan'
         % (vmlck // MiB))
    t.ok(short >= 288 * MiB - locked, 'the shortfall (%d MiB) names what the cgroup '
         'could not hold' % (short // MiB), 'STATUS %r' % f)
    t.ok(int(cg_read(cg, 'memory.usage_in_bytes')) >= locked,
         'the locked pages are charged to the cgroup (usage %d MiB)'
         % (int(cg_read(cg, 'memory.usage_in_bytes')) // MiB))
    t.eq(oom_kills(cg), 0, 'the cgroup never OOM-killed anything', d.tail(20))
    t.ok('memory cgroup' in d.logtext(), 'the log names the memory cgroup and its limit',
         d.tail(20))
    t.ok(d.alive(), 'cachectld still runs', d.tail())


GROUPS = {
    'memcg': t_memcg,
    'hard-pressure': t_hard_pressure,
    'hard-100k': t_hard_100k,
    'memlock': t_memlock,
    'hard-change': t_hard_change,
}


if __name__ == '__main__':
    sys.exit(main(GROUPS, needs_mlock=GROUPS))
