#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Tests of slowfs itself (not of cachectl): passthrough, latency,
bandwidth, EIO, gone states, unmounting and page-cache behaviour.

usage: slowfs_tests.py GROUP      (GROUP: see GROUPS at the bottom)

Environment:
  SLOWFS       the slowfs binary under test (required; set by meson)
  CACHECTL_TEST_TMPDIR   where to make scratch trees (must be a disk
               filesystem, not tmpfs); default /var/tmp

Output is TAP; skipped ("1..0 # SKIP") when not root, without /dev/fuse,
fusermount3, the slowfs binary or a disk filesystem.
"""

import errno
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'pylib'))
import slowfs  # noqa: E402
from slowfs import SlowFS, SlowFSError, evict, slowfs_mounts  # noqa: E402
from cachectl_test import KiB, MiB, Skip, Tap, scratch_dir, skip_all  # noqa: E402

EXE = os.environ.get('SLOWFS', '')
T = Tap()


def check_env():
    if os.geteuid() != 0:
        raise Skip('needs root (mounting FUSE)')
    if not os.path.exists('/dev/fuse'):
        raise Skip('no /dev/fuse')
    if not shutil.which('fusermount3'):
        raise Skip('no fusermount3 (Debian package fuse3)')
    if not EXE or not os.access(EXE, os.X_OK):
        raise Skip('no slowfs binary ($SLOWFS=%r): libfuse3 missing?' % EXE)


def write_file(path, data):
    with open(path, 'wb') as f:
        f.write(data)


def read_file(path, bufsize=MiB):
    out = []
    with open(path, 'rb', buffering=0) as f:
        while True:
            b = f.read(bufsize)
            if not b:
                break
            out.append(b)
    return b''.join(out)


def timed(fn, *args):
    t = time.monotonic()
    res = fn(*args)
    return time.monotonic() - t, res


def errno_of(fn, *args):
    try:
        fn(*args)
    except OSError as e:
        return e.errno
    return 0


class Env:
    """A backing dir and a mount point under the scratch root."""

    def __init__(self, root, name):
        self.backing = os.path.join(root, name + '-backing')
        self.mnt = os.path.join(root, name + '-mnt')
        os.makedirs(self.backing)
        os.makedirs(self.mnt)

    def b(self, *p):
        return os.path.join(self.backing, *p)

    def m(self, *p):
        return os.path.join(self.mnt, *p)

    def mount(self, **kw):
        return SlowFS(self.backing, self.mnt, exe=EXE, **kw)


# -- groups ---------------------------------------------------------------

def t_passthrough(root):
    e = Env(root, 'pt')
    rnd = os.urandom(3 * MiB + 3)
    files = {
        'empty': b'',
        'small': b'hello\n',
        'page-1': rnd[:4095],
        'page': rnd[:4096],
        'big': rnd,
        'with space': b'space\n',
        'new\nline': b'newline\n',
        'tab\there': b'tab\n',
        'd/sub/deep': b'deep\n',
        'd/x.bin': rnd[:100000],
    }
    for name, data in files.items():
        os.makedirs(os.path.dirname(e.b(name)), exist_ok=True)
        write_file(e.b(name), data)
    os.symlink('small', e.b('link'))
    os.makedirs(e.b('many'))
    # long names so the listing needs several READDIR requests (offsets)
    many = ['entry-%05d-%s' % (i, 'x' * 60) for i in range(3000)]
    for n in many:
        open(e.b('many', n), 'w').close()
    os.makedirs(e.b('plus'))
    for i in range(500):
        write_file(e.b('plus', 'p%03d' % i), b'p')

    with e.mount() as fs:
        st = fs.stats()
        T.diag('readdirplus=%s kernel_max_readahead=%s read_ahead_kb=%s' % (
            st['readdirplus'], st['kernel_max_readahead'],
            st['read_ahead_kb']))
        for d in ('', 'd', 'd/sub', 'many'):
            T.eq(sorted(os.listdir(e.m(d))), sorted(os.listdir(e.b(d))),
                 'listdir %r matches the backing dir' % d)
        good = True
        for name, data in files.items():
            got = read_file(e.m(name))
            sb, sm = os.lstat(e.b(name)), os.lstat(e.m(name))
            if got != data or sm.st_size != sb.st_size or \
                    sm.st_mode != sb.st_mode or \
                    sm.st_mtime_ns != sb.st_mtime_ns or \
                    sm.st_ino != sb.st_ino:
                good = False
                T.diag('mismatch: %r (%d vs %d bytes)' % (
                    name, len(got), len(data)))
        T.ok(good, 'contents, size, mode, mtime, inode of %d files match '
             '(spaces, newlines, tabs in names)' % len(files))
        T.eq(os.readlink(e.m('link')), 'small', 'readlink')
        T.eq(read_file(e.m('link')), b'hello\n', 'read through a symlink')
        # with readdirplus the listing brings the attributes along, so
        # `ls -l` costs a few READDIRPLUS, not a LOOKUP per entry
        fs.stats_reset()
        names = os.listdir(e.m('plus'))
        for n in names:
            os.lstat(e.m('plus', n))
        ops = fs.stats()['ops']
        T.diag('listdir + lstat of %d entries: %d ops' % (len(names), ops))
        if st['readdirplus']:
            T.ok(ops < 50, 'readdirplus: listdir + lstat of 500 entries in '
                 '%d requests' % ops)
        # random offsets into a big file
        with open(e.m('big'), 'rb') as f:
            good = True
            for off in (0, 1, 4095, 4096, 131071, 1 << 20, len(rnd) - 1,
                        len(rnd)):
                f.seek(off)
                good &= f.read(5000) == rnd[off:off + 5000]
        T.ok(good, 'reads at odd offsets')
        sv = os.statvfs(e.m())
        T.eq(sv.f_bsize, os.statvfs(e.b()).f_bsize, 'statfs')

        # writes go through to the backing dir
        write_file(e.m('new'), b'written\n')
        T.eq(read_file(e.b('new')), b'written\n', 'create + write')
        with open(e.m('new'), 'r+b') as f:
            f.seek(3)
            f.write(b'TTEN')
        T.eq(read_file(e.b('new')), b'wriTTEN\n', 'overwrite in place')
        os.truncate(e.m('new'), 3)
        T.eq(os.path.getsize(e.b('new')), 3, 'truncate')
        os.chmod(e.m('new'), 0o600)
        T.eq(os.stat(e.b('new')).st_mode & 0o777, 0o600, 'chmod')
        os.utime(e.m('new'), ns=(1000000000, 2000000000))
        T.eq(os.stat(e.b('new')).st_mtime_ns, 2000000000, 'utimens')
        os.rename(e.m('new'), e.m('d', 'moved'))
        T.ok(os.path.exists(e.b('d', 'moved')) and
             not os.path.exists(e.b('new')), 'rename')
        os.mkdir(e.m('newdir'))
        T.ok(os.path.isdir(e.b('newdir')), 'mkdir')
        os.rmdir(e.m('newdir'))
        T.ok(not os.path.exists(e.b('newdir')), 'rmdir')
        # unlinking an open file leaves no .fuse_hidden file behind
        with open(e.m('d', 'moved'), 'rb') as f:
            os.unlink(e.m('d', 'moved'))
            T.eq(f.read(), b'wri', 'an unlinked open file is still readable')
        T.eq(sorted(n for n in os.listdir(e.b('d')) if 'fuse_hidden' in n),
             [], 'unlink removes the file from the backing dir at once')


def t_latency(root):
    e = Env(root, 'lat')
    for i in range(64):
        write_file(e.b('f%02d' % i), os.urandom(64 * KiB))
    with e.mount(latency=20) as fs:
        write_file(e.b('fresh'), b'x')
        dt, _ = timed(os.stat, e.m('fresh'))
        T.between(dt * 1000, 20, 20 + 200,
                  'stat of a fresh file takes the latency (ms)')
        fs.set_latency(50)
        write_file(e.b('fresh2'), b'x')
        dt, _ = timed(os.stat, e.m('fresh2'))
        T.between(dt * 1000, 50, 50 + 200,
                  'latency changed at run time applies (ms)')
        fs.set_latency(20)

        # open them all first: what is timed is 64 READ requests only
        fds = [os.open(e.m('f%02d' % i), os.O_RDONLY) for i in range(64)]
        try:
            for fd in fds:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            fs.stats_reset()
            go = threading.Barrier(65)
            res = {}

            def reader(fd):
                go.wait()
                res[fd] = len(os.pread(fd, 64 * KiB, 0))

            threads = [threading.Thread(target=reader, args=(fd,))
                       for fd in fds]
            for t in threads:
                t.start()
            go.wait()
            t0 = time.monotonic()
            for t in threads:
                t.join()
            dt = time.monotonic() - t0
        finally:
            for fd in fds:
                os.close(fd)
        st = fs.stats()
        T.eq(sorted(res.values()), [64 * KiB] * 64, '64 concurrent reads')
        T.between(dt * 1000, 20, 300, '64 concurrent reads at 20 ms overlap '
                  '(ms; serial would be 1280)')
        T.diag('reads=%d max_inflight=%d' % (st['reads'],
                                             st['max_inflight']))
        T.ok(st['max_inflight'] >= 32, 'at least 32 requests were in '
             'flight together (%d)' % st['max_inflight'])

        # jitter: uniform 0..J on top of the latency
        fs.set_latency(0)
        fs.set_jitter(30)
        times = []
        for i in range(40):
            write_file(e.b('j%d' % i), b'x')
            dt, _ = timed(os.stat, e.m('j%d' % i))
            times.append(dt * 1000)
        T.diag('jitter 30: stat ms min %.1f max %.1f' % (min(times),
                                                        max(times)))
        T.ok(max(times) - min(times) > 10 and max(times) < 30 + 100,
             'jitter spreads the delays over 0..30 ms')


def drain(path, bufsize=MiB):
    """Reads a file to the end, keeping nothing: a reader that costs
    little CPU, so the time measured is slowfs's."""
    buf = bytearray(bufsize)
    n = 0
    with open(path, 'rb', buffering=0) as f:
        while True:
            k = f.readinto(buf)
            if not k:
                return n
            n += k


def t_bandwidth(root):
    e = Env(root, 'bw')
    size = 64 * MiB
    data = os.urandom(size)
    write_file(e.b('big'), data)
    for i in range(4):
        write_file(e.b('part%d' % i), data[i * 16 * MiB:(i + 1) * 16 * MiB])
    # writeback running during the measurement would steal CPU from it
    os.sync()
    with e.mount(bw='100M') as fs:
        evict(e.m('big'))
        fs.stats_reset()
        dt, n = timed(drain, e.m('big'))
        rate = n / dt
        T.eq(n, size, 'read to the end through the cap')
        T.diag('64 MiB in %.3f s: %.1f MB/s, stats %s' % (dt, rate / 1e6,
                                                         fs.stats()))
        T.between(rate / 1e8 * 100, 80, 105,
                  'one reader gets the cap (% of 100 MB/s)')
        T.ok(read_file(e.m('big')) == data, 'what came through is right')

        # four readers share it: the aggregate is the cap, not 4x
        for i in range(4):
            evict(e.m('part%d' % i))
        ths = [threading.Thread(target=drain, args=(e.m('part%d' % i),))
               for i in range(4)]
        t0 = time.monotonic()
        for t in ths:
            t.start()
        for t in ths:
            t.join()
        dt = time.monotonic() - t0
        T.between(size / dt / 1e8 * 100, 80, 105,
                  'four readers together get the cap (%)')

        fs.set_bw('400M')
        evict(e.m('big'))
        dt, _ = timed(drain, e.m('big'))
        T.between(size / dt / 4e8 * 100, 70, 105,
                  'the cap changed at run time applies (% of 400 MB/s)')
        fs.set_bw(0)
        evict(e.m('big'))
        dt, _ = timed(drain, e.m('big'))
        T.diag('uncapped: %.0f MB/s' % (size / dt / 1e6))
        T.ok(size / dt > 4e8, 'bw 0 lifts the cap')


def t_eio(root):
    e = Env(root, 'eio')
    os.makedirs(e.b('d'))
    for n in ('ok.txt', 'x.bad', 'd/y.bad', 'd/fine', 'top', 'later'):
        write_file(e.b(n), n.encode() * 100)
    with e.mount(eio=['*.bad', '/top']) as fs:
        T.eq(errno_of(read_file, e.m('x.bad')), errno.EIO,
             'open of a matching file fails EIO')
        T.eq(errno_of(read_file, e.m('d/y.bad')), errno.EIO,
             '* matches across / (no FNM_PATHNAME)')
        T.eq(errno_of(read_file, e.m('top')), errno.EIO,
             'a glob with a leading / matches')
        T.eq(read_file(e.m('ok.txt')), b'ok.txt' * 100, 'others read fine')
        T.eq(read_file(e.m('d/fine')), b'd/fine' * 100, 'others read fine')
        T.eq(os.stat(e.m('x.bad')).st_size, 500, 'stat of a matching file '
             'works (only opens and reads fail)')
        # a glob added at run time also fails reads of open files
        with open(e.m('later'), 'rb', buffering=0) as f:
            fs.add_eio('lat*')
            T.eq(errno_of(f.read, 100), errno.EIO,
                 'read of an already open file fails once its glob is added')
        T.ok(fs.stats()['eio'] >= 4, 'eio counted in stats')
        fs.clear_eio()
        T.eq(read_file(e.m('x.bad'))[:5], b'x.bad', 'eio-clear')
        try:
            fs.control('eio')
            T.ok(False, 'eio without a glob is an error')
        except SlowFSError as ex:
            T.ok('error:' in str(ex), 'eio without a glob is an error')


def t_gone_enotconn(root):
    e = Env(root, 'gone')
    write_file(e.b('a'), b'a' * 10000)
    with e.mount() as fs:
        os.stat(e.m('a'))
        with open(e.m('a'), 'rb', buffering=0) as f:
            fs.gone('enotconn')
            T.eq(fs.stats()['gone'], 'enotconn', 'stats shows the state')
            write_file(e.b('b'), b'b')
            T.eq(errno_of(os.stat, e.m('b')), errno.ENOTCONN,
                 'stat fails ENOTCONN while gone')
            T.eq(errno_of(os.listdir, e.m()), errno.ENOTCONN,
                 'readdir fails ENOTCONN while gone')
            T.eq(errno_of(f.read, 100), errno.ENOTCONN,
                 'read of an open file fails ENOTCONN while gone')
            fs.back()
            T.eq(os.stat(e.m('b')).st_size, 1, 'back: stat works again')
            T.eq(f.read(100), b'a' * 100, 'back: the open file reads again')
        T.eq(sorted(os.listdir(e.m())), ['a', 'b'], 'back: readdir works')


CHILD_READ = r'''
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
print('opened', flush=True)
sys.stdin.readline()
os.read(fd, 4096)
print('read', flush=True)
'''


def t_gone_block(root):
    e = Env(root, 'block')
    write_file(e.b('a'), b'A' * 100000)
    with e.mount() as fs:
        with open(e.m('a'), 'rb', buffering=0) as f:
            fs.gone('block')
            res = {}

            def reader():
                try:
                    res['data'] = f.read(100)
                except OSError as ex:
                    res['err'] = ex.errno
                res['t'] = time.monotonic()

            th = threading.Thread(target=reader)
            th.start()
            time.sleep(0.5)
            T.ok(th.is_alive(), 'a read blocks while gone block')
            T.ok(fs.stats()['inflight'] >= 1, 'the request is held in slowfs')
            t0 = time.monotonic()
            fs.back()
            th.join(5)
            T.ok(not th.is_alive() and res.get('data') == b'A' * 100,
                 'back releases it with the data', repr(res))
            if 't' in res:
                T.between(res['t'] - t0, 0, 0.5, 'released within 0.5 s of '
                          'back (s)')

        # a reader blocked in a READ is killable
        write_file(e.b('k'), b'k' * 100000)
        child = subprocess.Popen([sys.executable, '-c', CHILD_READ,
                                  e.m('k')], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE)
        T.eq(child.stdout.readline(), b'opened\n', 'child opened the file')
        fs.gone('block')
        child.stdin.write(b'go\n')
        child.stdin.flush()
        time.sleep(0.5)
        T.ok(child.poll() is None, 'the child blocks in read')
        t0 = time.monotonic()
        child.kill()
        try:
            child.wait(5)
        except subprocess.TimeoutExpired:
            pass
        dt = time.monotonic() - t0
        T.ok(child.poll() is not None and dt < 2,
             'SIGKILL ends a reader blocked in READ promptly (%.3f s)' % dt)
        if child.poll() is None:
            fs.back()
            child.wait()
        child.stdin.close()
        child.stdout.close()

        # and one blocked in a LOOKUP (a synchronous request): this needs
        # slowfs to answer the INTERRUPT
        write_file(e.b('fresh'), b'f')
        child = subprocess.Popen(['stat', e.m('fresh')],
                                 stdout=subprocess.DEVNULL)
        time.sleep(0.5)
        T.ok(child.poll() is None, 'stat blocks while gone block')
        t0 = time.monotonic()
        child.kill()
        try:
            child.wait(5)
        except subprocess.TimeoutExpired:
            pass
        dt = time.monotonic() - t0
        T.ok(child.poll() is not None and dt < 2,
             'SIGKILL ends a process blocked in LOOKUP promptly (%.3f s)' % dt)
        if child.poll() is None:
            fs.back()
            child.wait()
        time.sleep(0.1)
        st = fs.stats()
        T.diag('stats: %s' % st)
        T.ok(st['interrupted'] >= 1, 'slowfs saw the interrupt')
        fs.back()
        T.eq(os.stat(e.m('fresh')).st_size, 1, 'back: works again')

    # --gone-timeout: held requests fail ENOTCONN when it expires
    with e.mount(gone_timeout=1) as fs:
        fs.gone('block')
        write_file(e.b('fresh2'), b'f')
        dt, err = timed(errno_of, os.stat, e.m('fresh2'))
        T.eq(err, errno.ENOTCONN, 'a held request fails ENOTCONN after '
             '--gone-timeout')
        T.between(dt, 0.9, 2.0, 'after about 1 s (s)')
        # the control socket answers while many requests are held: READs
        # of files opened before (lookups in one directory would queue in
        # the kernel behind the first one)
        fs.back()
        fds = []
        for i in range(20):
            write_file(e.b('r%d' % i), b'r' * 4096)
            fds.append(os.open(e.m('r%d' % i), os.O_RDONLY))
        fs.gone('block')
        ths = [threading.Thread(target=errno_of, args=(os.pread, fd, 10, 0))
               for fd in fds]
        for t in ths:
            t.start()
        time.sleep(0.3)
        dt, st = timed(fs.stats)
        T.ok(dt < 0.5 and st['inflight'] >= 20, 'control answers while '
             'requests are held (%d held, %.3f s)' % (st['inflight'], dt))
        fs.back()
        for t in ths:
            t.join()
        for fd in fds:
            os.close(fd)
    # exiting while gone: the context manager says back first
    with e.mount() as fs:
        fs.gone('block')
    T.eq(slowfs_mounts(root), [], 'exit while gone unmounts')


def t_unmount(root):
    e = Env(root, 'um')
    write_file(e.b('a'), b'a')
    ctl = None
    pid = None
    try:
        with e.mount() as fs:
            ctl, pid = fs.control_path, fs.pid
            T.eq(slowfs_mounts(root), [os.path.realpath(e.mnt)],
                 'mounted as fuse.slowfs')
            raise KeyError('boom')
    except KeyError:
        pass
    T.eq(slowfs_mounts(root), [], 'unmounted after the body raised')
    T.ok(not os.path.exists(ctl), 'control socket removed')
    T.ok(not os.path.exists('/proc/%d' % pid), 'slowfs exited')

    # busy at exit (a file open through the mount): lazy unmount
    f = None
    with e.mount():
        f = open(e.m('a'), 'rb')
    T.eq(slowfs_mounts(root), [], 'a busy mount is unmounted lazily')
    # slowfs is gone: closing reports it
    T.eq(errno_of(f.close), errno.ENOTCONN, 'the open file is disconnected')

    # SIGTERM: slowfs unmounts and removes its socket itself
    sock = os.path.join(root, 'um.sock')
    r, w = os.pipe()
    p = subprocess.Popen([EXE, '--control', sock, '--ready-fd', str(w),
                          e.backing, e.mnt], pass_fds=(w,))
    os.close(w)
    T.eq(os.read(r, 16), b'ready\n', 'ready on --ready-fd')
    os.close(r)
    T.ok(os.path.exists(sock), 'control socket created')
    p.send_signal(signal.SIGTERM)
    T.eq(p.wait(10), 0, 'SIGTERM: clean exit')
    T.eq(slowfs_mounts(root), [], 'SIGTERM: unmounted')
    T.ok(not os.path.exists(sock), 'SIGTERM: control socket removed')

    # killed outright: the dead mount is left; cleanup_stale removes it
    p = subprocess.Popen([EXE, e.backing, e.mnt])
    deadline = time.monotonic() + 10
    while not slowfs_mounts(root) and time.monotonic() < deadline:
        time.sleep(0.05)
    p.kill()
    p.wait()
    T.eq(len(slowfs_mounts(root)), 1, 'SIGKILL leaves a dead mount')
    T.eq(len(slowfs.cleanup_stale(root)), 1, 'cleanup_stale unmounts it')
    T.eq(slowfs_mounts(root), [], 'none left')

    # a failed start raises with slowfs's stderr
    try:
        with SlowFS(e.b('missing'), e.mnt, exe=EXE):
            pass
        T.ok(False, 'a bad backing dir raises')
    except SlowFSError as ex:
        T.ok('missing' in str(ex), 'a bad backing dir raises with stderr',
             str(ex))
    T.eq(slowfs_mounts(root), [], 'nothing mounted after a failed start')


def t_pagecache(root):
    e = Env(root, 'pc')
    data = os.urandom(4 * MiB)
    write_file(e.b('f'), data)
    write_file(e.b('g'), data)
    with e.mount() as fs:
        evict(e.m('f'))
        fs.stats_reset()
        T.eq(read_file(e.m('f')), data, 'first read')
        st1 = fs.stats()
        T.ok(st1['reads'] > 0 and st1['bytes_read'] >= len(data),
             'first read goes to slowfs (%d READs)' % st1['reads'])
        T.eq(read_file(e.m('f')), data, 'second read')
        T.eq(fs.stats()['reads'], st1['reads'],
             'second read (reopened) is served from the page cache')
        # past attr_timeout the attributes are revalidated, and the cache
        # must stay. Proactive reclaim (DAMON, on some VMs) or another
        # process's drop_caches also takes pages of idle files and so
        # makes READs: retry, a real invalidation fails every try.
        for attempt in range(3):
            read_file(e.m('f'))
            before = fs.stats()['reads']
            time.sleep(1.3)
            got = read_file(e.m('f'))
            after = fs.stats()['reads']
            if after == before:
                break
            T.diag('try %d: %d READs after revalidation' % (attempt + 1,
                                                             after - before))
        T.eq(got, data, 'third read after attr_timeout')
        T.eq(after, before,
             'the cache survives attribute revalidation (keep_cache)')
        evict(e.m('f'))
        read_file(e.m('f'))
        T.ok(fs.stats()['reads'] > st1['reads'],
             'fadvise DONTNEED through the mount evicts')

        # fadvise WILLNEED on the mount reads ahead up to read_ahead_kb
        fs.stats_reset()
        fd = os.open(e.m('g'), os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            os.posix_fadvise(fd, 0, 1 * MiB, os.POSIX_FADV_WILLNEED)
            deadline = time.monotonic() + 5
            while fs.stats()['bytes_read'] < MiB and \
                    time.monotonic() < deadline:
                time.sleep(0.01)
            st = fs.stats()
            T.diag('WILLNEED of 1 MiB read %d bytes in %d READs' % (
                st['bytes_read'], st['reads']))
            T.ok(st['bytes_read'] >= MiB, 'WILLNEED populates the cache')
            before = st['reads']
            os.pread(fd, MiB, 0)
            T.eq(fs.stats()['reads'], before,
                 'what WILLNEED brought in is read from the cache')
        finally:
            os.close(fd)


GROUPS = {
    'passthrough': t_passthrough,
    'latency': t_latency,
    'bandwidth': t_bandwidth,
    'eio': t_eio,
    'gone-enotconn': t_gone_enotconn,
    'gone-block': t_gone_block,
    'unmount': t_unmount,
    'pagecache': t_pagecache,
}


def _terminated(sig, frame):
    raise SystemExit('terminated by signal %d' % sig)


def main(argv):
    if len(argv) != 2 or argv[1] not in GROUPS:
        print('usage: slowfs_tests.py GROUP (%s)' % ' '.join(GROUPS),
              file=sys.stderr)
        return 2
    try:
        check_env()
        root = scratch_dir('slowfs-tests-', [
            os.environ.get('CACHECTL_TEST_TMPDIR'), '/var/tmp'])
    except Skip as ex:
        return skip_all(ex)
    # meson's timeout sends SIGTERM: unwind, so the mounts come down
    signal.signal(signal.SIGTERM, _terminated)
    try:
        GROUPS[argv[1]](root)
    except Exception:
        T.ok(False, 'group %s ran to the end' % argv[1],
             traceback.format_exc())
    finally:
        left = slowfs.cleanup_stale(root)
        T.ok(not left, 'no slowfs mount left behind', 'left: %r' % left)
        shutil.rmtree(root, ignore_errors=True)
    return T.done()


if __name__ == '__main__':
    sys.exit(main(sys.argv))
