#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The offline cache manager (cachectl attach) over slowfs (tests/slowfs)
as the origin, mounted at the very path it serves.

usage: offline_tests.py GROUP        (GROUP: see GROUPS at the bottom)

Environment: CACHECTL, CACHECTL_OFFLINE (the manager), SLOWFS, LIBCACHECTL
(the .so, for the library's query bit through ctypes),
CACHECTL_OFFLINE_KILL_ROUNDS (kill -9 rounds, default 200),
CACHECTL_TEST_TMPDIR (a disk filesystem; default /var/tmp).

The truth is the origin's bytes and attributes (read from slowfs's backing
directory) and the kernel's errno values; the cache's own claims (its
SQLite ranges) are checked against the origin, never believed. Every
mount is made and removed by the test, also when it fails. TAP; skipped
when not root or without /dev/fuse.
"""

import ctypes
import errno
import hashlib
import os
import random
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'slowfs'))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'pylib'))
from cachectl_test import Tap, run, skip_all, wait_for  # noqa: E402
import slowfs  # noqa: E402

CACHECTL = os.environ.get('CACHECTL', '')
MANAGER = os.environ.get('CACHECTL_OFFLINE', '')
CACHECTLD = os.environ.get('CACHECTLD', '')
SLOWFS = os.environ.get('SLOWFS', '')
LIB = os.environ.get('LIBCACHECTL', '')
ATTACH_DISCONNECTED = 1 << 5
ATTACH_PROVISIONAL = 1 << 3
ATTACH_DATA = 1 << 0

T = Tap()


def mounts_under(prefix, fstype):
    n = []
    with open('/proc/self/mountinfo') as f:
        for ln in f:
            fields = ln.split()
            dash = fields.index('-')
            if fields[dash + 1] == fstype and fields[4].startswith(prefix):
                n.append(fields[4])
    return n


def top_fstype(path):
    """the type of the last mount at exactly path"""
    t = None
    with open('/proc/self/mountinfo') as f:
        for ln in f:
            fields = ln.split()
            if fields[4] == path:
                t = fields[fields.index('-') + 1]
    return t


def xattr(path, name):
    try:
        return os.getxattr(path, 'user.cachectl.' + name,
                           follow_symlinks=False).decode()
    except OSError as e:
        return 'errno %s' % errno.errorcode.get(e.errno, e.errno)


def read_errno(path, timeout=10):
    """(errno or 0, seconds, bytes) of reading a file in a child, so a hang
    is measured and killed, never inherited"""
    code = ('import os,sys\ntry:\n sys.stdout.buffer.write(open(sys.argv[1],"rb").read())\n'
            'except OSError as e:\n sys.exit(100+e.errno)\n')
    r = run([sys.executable, '-c', code, path], timeout=timeout)
    e = r.rc - 100 if r.rc is not None and r.rc >= 100 else (0 if r.rc == 0 else -1)
    return e, r.elapsed, r.out


def gone_pid(pid):
    """dead: gone, or a zombie its new parent (init) has not reaped yet"""
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] == 'Z'
    except OSError:
        return True


def read_lines(pipe, n, secs):
    """lines from a pipe, unbuffered: n of them, then whatever follows
    within a second (too many is a failure too), or what came in secs"""
    import select
    buf, end = b'', time.monotonic() + secs
    while time.monotonic() < end:
        r, _, _ = select.select([pipe], [], [], 0.2)
        if r:
            chunk = os.read(pipe.fileno(), 65536)
            if not chunk:
                break
            buf += chunk
            if buf.count(b'\n') >= n and end - time.monotonic() > 1:
                end = time.monotonic() + 1
    return [ln.decode(errors='replace') for ln in buf.split(b'\n') if ln]


def errno_of(fn, *args):
    """the errno fn(*args) fails with, 0 if it does not"""
    try:
        fn(*args)
        return 0
    except OSError as x:
        return x.errno


def sha(data):
    return hashlib.sha256(data).hexdigest()


class Env:
    def __init__(self):
        base = os.environ.get('CACHECTL_TEST_TMPDIR') or '/var/tmp'
        self.dir = tempfile.mkdtemp(prefix='cachectl-off-', dir=base)
        os.chmod(self.dir, 0o755)
        self.back = os.path.join(self.dir, 'back')
        self.path = os.path.join(self.dir, 'origin')
        self.cache = os.path.join(self.dir, 'cache')
        self.run = os.path.join(self.dir, 'run')
        self.state = os.path.join(self.dir, 'state')
        for d in (self.back, self.path, self.run, self.state):
            os.makedirs(d)
        self.env = dict(os.environ, CACHECTL_OFFLINE=MANAGER,
                        CACHECTL_RUNTIME_DIR=self.run,
                        CACHECTL_STATE_DIR=self.state)
        self.fs = None
        self.pids = set()

    def origin(self, **kw):
        self.fs = slowfs.SlowFS(self.back, self.path, exe=SLOWFS, **kw)
        self.fs.start()
        return self.fs

    def cl(self, *args, timeout=60):
        return run([CACHECTL] + list(args), env=self.env, timeout=timeout)

    def attach(self, *extra):
        r = self.cl('attach', '--cache-dir', self.cache, '--timeout', '1000',
                    '--probe', '1000', '--actimeo', '1000', *extra, self.path)
        pid = self.manager_pid()
        if pid:
            self.pids.add(pid)
        return r

    def manager_pid(self):
        st = xattr(self.path, 'state')
        for kv in st.split():
            if kv.startswith('pid='):
                return int(kv[4:])
        return None

    def attached(self):
        return top_fstype(self.path) == 'fuse.cachectl-offline'

    def detach_all(self):
        for _ in range(3):
            if not self.attached():
                break
            r = self.cl('detach', '--force', self.path, timeout=20)
            if r.rc != 0:
                subprocess.run(['fusermount3', '-uz', self.path],
                               stderr=subprocess.DEVNULL)
        for pid in self.pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        self.pids.clear()

    def cleanup(self):
        try:
            self.detach_all()
        finally:
            if self.fs:
                self.fs.stop(check=False)
            left = mounts_under(self.dir, 'fuse.cachectl-offline') + \
                mounts_under(self.dir, 'fuse.slowfs')
            T.ok(not left, 'no mount left behind under %s' % self.dir,
                 'left: %s' % left)
            for m in sorted(left, key=len, reverse=True):
                subprocess.run(['umount', '-l', m], stderr=subprocess.DEVNULL)
            shutil.rmtree(self.dir, ignore_errors=True)

    def claims(self):
        """(relative path, start, end) of every range the cache claims"""
        db = sqlite3.connect('file:%s/meta.db?mode=ro' % self.cache, uri=True,
                             timeout=10)
        rows = db.execute('SELECT id, parent, name FROM node').fetchall()
        ranges = db.execute('SELECT node, start, end FROM range').fetchall()
        db.close()
        names = {i: (p, n.decode() if isinstance(n, bytes) else n)
                 for i, p, n in rows}

        def rel(i):
            parts = []
            while i in names and i != 1:
                p, n = names[i]
                parts.append(n)
                i = p
            return '/'.join(reversed(parts)) if i == 1 else None
        return [(i, rel(i), s, e) for i, s, e in ranges]

    def check_claims(self):
        """every claimed range of the cache holds the origin's bytes"""
        bad = []
        for i, rel, s, e in self.claims():
            if rel is None:
                continue
            with open(os.path.join(self.back, rel), 'rb') as f:
                f.seek(s)
                want = f.read(e - s)
            with open(os.path.join(self.cache, 'data', str(i)), 'rb') as f:
                f.seek(s)
                got = f.read(e - s)
            if got != want:
                bad.append((rel, s, e))
        return bad


def make_tree(root, ndirs, per_dir, size, prefix='d'):
    files = []
    for d in range(ndirs):
        dp = os.path.join(root, '%s%03d' % (prefix, d))
        os.makedirs(dp, exist_ok=True)
        for i in range(per_dir):
            p = os.path.join(dp, 'f%04d' % i)
            with open(p, 'wb') as f:
                f.write(os.urandom(size))
            files.append(os.path.relpath(p, root))
    return files


def snapshot(base, files):
    out = {}
    for f in files:
        p = os.path.join(base, f)
        st = os.lstat(p)
        with open(p, 'rb') as fh:
            data = fh.read()
        out[f] = (st.st_mode, st.st_size, st.st_uid, st.st_gid,
                  st.st_mtime_ns, sha(data))
    return out


def lib_query(path):
    """cachectl_attach_query() through ctypes: (rc, flags, why)"""
    lib = ctypes.CDLL(LIB)
    ctx = ctypes.c_void_p()
    lib.cachectl_new(ctypes.byref(ctx))
    flags = ctypes.c_uint()
    why = ctypes.c_int()
    rc = lib.cachectl_attach_query(ctx, os.fsencode(path), ctypes.byref(flags),
                                   ctypes.byref(why))
    lib.cachectl_unref(ctx)
    return rc, flags.value, why.value


# ---- groups ---------------------------------------------------------------

def g_attach(e):
    """attach over the same path, read-through caching, detach"""
    files = make_tree(e.back, 3, 20, 40000)
    os.symlink('d000/f0000', os.path.join(e.back, 'link'))
    os.setxattr(os.path.join(e.back, files[0]), 'user.color', b'blue')
    fs = e.origin(latency=1)
    before = snapshot(e.path, files)
    r = e.attach()
    T.ok(r.rc == 0, 'cachectl attach: exit 0', r.show())
    T.eq(top_fstype(e.path), 'fuse.cachectl-offline',
         'the attachment is mounted at the origin\'s own path')
    got = snapshot(e.path, files)
    T.eq([f for f in files if got[f] != before[f]], [],
         'every file reads the origin\'s bytes and attributes through it')
    T.eq(os.readlink(os.path.join(e.path, 'link')), 'd000/f0000', 'readlink')
    T.eq(os.getxattr(os.path.join(e.path, files[0]), 'user.color'), b'blue',
         'getxattr passes the origin\'s xattrs')
    T.eq(sorted(os.listdir(os.path.join(e.path, 'd001'))),
         sorted(f.split('/')[1] for f in files if f.startswith('d001')),
         'readdir lists the origin')
    T.eq(e.check_claims(), [], 'every range the cache claims holds the origin\'s bytes')
    claimed = {rel for _, rel, _, _ in e.claims()}
    T.ok(set(files) <= claimed, 'read files are kept in the cache (%d claimed)'
         % len(claimed))
    # data kept: dropped from the page cache, read again without the origin
    for f in files:
        slowfs.evict(os.path.join(e.path, f))
    fs.stats_reset()
    again = snapshot(e.path, files)
    st = fs.stats()
    T.eq(again, before, 'read again: the same bytes')
    T.eq(st['reads'], 0, 'read again: no READ reached the origin', st)
    r = e.attach()
    T.ok(r.rc == 1 and 'already attached' in r.etext,
         'attaching twice: exit 1, "already attached"', r.show())
    fd = os.open(os.path.join(e.path, files[1]), os.O_RDONLY)
    r = e.cl('detach', e.path)
    T.ok(r.rc == 1 and 'open' in r.etext and e.attached(),
         'detach with a file open: exit 1, says files are open, stays attached',
         r.show())
    os.close(fd)
    r = e.cl('detach', e.path)
    T.ok(r.rc == 0 and not e.attached(), 'detach: exit 0, unmounted', r.show())
    T.eq(top_fstype(e.path), 'fuse.slowfs', 'the origin is back at the path')
    ok, _ = wait_for(lambda: all(gone_pid(p) for p in e.pids), 5)
    T.ok(ok, 'the manager exited after detach')
    e.pids.clear()
    r = e.cl('detach', e.path)
    T.ok(r.rc == 1 and 'not an attachment' in r.etext,
         'detach of a plain directory: exit 1, "not an attachment"', r.show())
    r = e.attach()
    T.ok(r.rc == 0, 're-attach over the same cache', r.show())
    fs.stats_reset()
    T.eq(snapshot(e.path, files[:20]), {f: before[f] for f in files[:20]},
         're-attached: the same bytes')
    T.eq(fs.stats()['reads'], 0, 're-attached: cached data served without READs')


def g_offline(e):
    """manual disconnect: cached files exact, the rest fails as documented"""
    files = make_tree(e.back, 2, 10, 20000)
    make_tree(e.back, 1, 5, 20000, prefix='unlisted')
    e.origin()
    T.ok(e.attach().rc == 0, 'attach')
    cached = files[:10]
    before = snapshot(e.path, cached)
    os.listdir(e.path)
    os.listdir(os.path.join(e.path, 'd001'))     # listed, data not read
    os.stat(os.path.join(e.path, 'unlisted000'))  # known, never listed
    # the events file near its bound: the next line empties it first
    events = os.path.join(e.run, 'offline-events')
    filler = '1.000 1 connected no\\x20such /no/such -\n'
    with open(events, 'a') as f:
        f.write(filler * ((64 << 10) // len(filler) - 1))
    full = os.path.getsize(events)
    mon = subprocess.Popen([CACHECTL, 'monitor', '--offline'], env=e.env,
                           stdout=subprocess.PIPE, start_new_session=True)
    time.sleep(0.3)
    r = e.cl('disconnect', e.path)
    T.ok(r.rc == 0, 'cachectl disconnect: exit 0', r.show())
    lines = read_lines(mon.stdout, 1, 10)
    size = os.path.getsize(events)
    T.ok(size < 4096 and full + 100 > 64 << 10,
         'the events file stays bounded: %d bytes, then %d after one more line'
         % (full, size))
    T.ok(len(lines) == 1 and 'disconnected' in lines[0] and e.path in lines[0],
         'cachectl monitor, behind the truncation, sees the event after it',
         lines)
    T.eq(xattr(e.path, 'mode'), 'disconnected', 'user.cachectl.mode says disconnected')
    r = e.cl('status', e.path)
    T.ok('attached, disconnected' in r.etext, 'cachectl status names the mode',
         r.show())
    T.eq(snapshot(e.path, cached), before,
         'offline: cached files read and stat exactly as connected')
    unc = os.path.join(e.path, files[12])
    err, secs, _ = read_errno(unc)
    T.ok(err == errno.ENODATA and secs < 1.0,
         'offline: an uncached file fails ENODATA within 1 s (%s in %.2f s)'
         % (errno.errorcode.get(err, err), secs))
    T.ok('not cached' in xattr(unc, 'why') and 'ENODATA' in xattr(unc, 'why'),
         'user.cachectl.why says why: %r' % xattr(unc, 'why'))
    g = run(['getfattr', '-n', 'user.cachectl.why', unc])
    T.ok(g.rc == 0 and 'not cached' in g.text, 'getfattr shows it', g.show())
    rc, flags, why = lib_query(unc)
    T.ok(rc == 0 and why == -errno.ENODATA and not flags & ATTACH_DATA and
         flags & ATTACH_DISCONNECTED,
         'cachectl_attach_query(): disconnected, data not cached, why -ENODATA',
         (rc, flags, why))
    rc, flags, why = lib_query(os.path.join(e.path, cached[0]))
    T.ok(rc == 0 and why == 0 and flags & ATTACH_DATA and flags & ATTACH_PROVISIONAL,
         'a cached file: data bit, provisional bit set offline', (rc, flags, why))
    T.eq(xattr(os.path.join(e.path, cached[0]), 'provisional'), '1',
         'user.cachectl.provisional is 1 offline')
    got = errno_of(os.stat, os.path.join(e.path, 'd001', 'nosuch'))
    T.eq(errno.errorcode.get(got), 'ENOENT',
         'a name absent from a completely listed directory: ENOENT')
    got = errno_of(os.stat, os.path.join(e.path, 'unlisted000', 'f0000'))
    T.eq(errno.errorcode.get(got), 'EHOSTDOWN',
         'a name in a directory never listed: EHOSTDOWN (not available offline)')
    got = errno_of(os.listdir, os.path.join(e.path, 'unlisted000'))
    T.eq(errno.errorcode.get(got), 'EHOSTDOWN', 'readdir of it: EHOSTDOWN')
    T.ok('EHOSTDOWN' in xattr(os.path.join(e.path, 'unlisted000'), 'why'),
         'and its why says so: %r' % xattr(os.path.join(e.path, 'unlisted000'), 'why'))
    r = e.cl('reconnect', e.path)
    T.ok(r.rc == 0 and xattr(e.path, 'mode') == 'connected',
         'cachectl reconnect: connected again', r.show())
    lines = read_lines(mon.stdout, 1, 10)
    os.killpg(mon.pid, signal.SIGKILL)
    mon.wait()
    T.ok(len(lines) == 1 and lines[0].split()[1] == 'connected',
         'and the next one', lines)
    err, _, data = read_errno(unc)
    T.ok(err == 0 and data == open(os.path.join(e.back, files[12]), 'rb').read(),
         'connected: the uncached file is read from the origin')
    T.eq(xattr(os.path.join(e.path, cached[0]), 'provisional'), '0',
         'user.cachectl.provisional is 0 once revalidated')


def gone(e, how):
    """pin, take the server away (how), work offline, bring it back"""
    files = make_tree(e.back, 20, 100, 2000, prefix='pinned')   # 2,000 files
    other = make_tree(e.back, 1, 5, 20000, prefix='other')
    fs = e.origin(gone_timeout=60)
    T.ok(e.attach().rc == 0, 'attach over a slowfs tree of %d files' % len(files))
    r = e.cl('pin', '-r', '--no-progress', *[os.path.join(e.path, 'pinned%03d' % d)
                                             for d in range(20)], timeout=300)
    T.ok(r.rc == 0, 'cachectl pin -r under the attachment', r.show())
    t0 = time.monotonic()
    _, waited = wait_for(lambda: 'hoarding=0' in xattr(e.path, 'state'), 120, 0.2)
    os.listdir(os.path.join(e.path, 'other000'))
    bad = [f for f in files[::50]
           if not lib_query(os.path.join(e.path, f))[1] & ATTACH_DATA]
    T.ok(not bad, 'hoarded: every pinned file cached whole (%.1f s)'
         % (time.monotonic() - t0), bad[:5])
    before = snapshot(e.back, files)
    mon = subprocess.Popen([CACHECTL, 'monitor', '--offline'], env=e.env,
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           start_new_session=True)
    try:
        time.sleep(0.3)
        t0 = time.monotonic()
        fs.gone(how)
        line = ''
        import select
        while time.monotonic() - t0 < 10 and 'disconnected' not in line:
            rd, _, _ = select.select([mon.stdout], [], [], 0.05)
            if rd:
                line += os.read(mon.stdout.fileno(), 65536).decode()
        secs = time.monotonic() - t0
        T.ok('disconnected' in line and secs < 5,
             'gone (%s): disconnected within 5 s, seen by cachectl monitor '
             '(%.2f s)' % (how, secs), line)
    finally:
        os.killpg(mon.pid, signal.SIGKILL)
        mon.communicate()
    t0 = time.monotonic()
    r = run(['find', e.path], timeout=60)
    T.ok(r.rc == 0 and len([ln for ln in r.text.splitlines() if '/pinned' in ln])
         == len(files) + 20, 'offline: find lists every pinned file (%.2f s)'
         % r.elapsed, r.show()[:500])
    r = run(['stat', '-c', '%n %s %Y %a'] + [os.path.join(e.path, f) for f in files[:500]])
    T.ok(r.rc == 0, 'offline: stat of pinned files (%.2f s)' % r.elapsed, r.show()[:300])
    got = snapshot(e.path, files)
    T.eq(sum(1 for f in files if got[f] != before[f]), 0,
         'offline: all %d pinned files: same bytes and attributes '
         '(%.2f s)' % (len(files), time.monotonic() - t0))
    unc = os.path.join(e.path, other[0])
    err, secs, _ = read_errno(unc)
    T.ok(err == errno.ENODATA and secs < 1.0,
         'offline: an unpinned, uncached file fails ENODATA within 1 s '
         '(%s, %.2f s)' % (errno.errorcode.get(err, err), secs))
    g = run(['getfattr', '-n', 'user.cachectl.why', unc])
    T.ok(g.rc == 0 and 'not cached' in g.text, 'getfattr says why', g.show())
    # Ctrl-C of a reader: prompt, offline and in the window before it
    p = subprocess.Popen(['cat', unc], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    time.sleep(0.1)
    t0 = time.monotonic()
    p.send_signal(signal.SIGINT)
    try:
        p.wait(5)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    T.ok(time.monotonic() - t0 < 1.0, 'Ctrl-C of a reader is prompt (%.2f s)'
         % (time.monotonic() - t0))
    # changed on the origin while offline
    changed = os.path.join(e.back, files[7])
    with open(changed, 'wb') as f:
        f.write(b'new contents, written while the attachment was offline\n')
    before[files[7]] = snapshot(e.back, [files[7]])[files[7]]
    t0 = time.monotonic()
    fs.back()
    ok, secs = wait_for(lambda: xattr(e.path, 'mode') == 'connected', 10, 0.1)
    T.ok(ok and secs < 1.0 + 1.5,
         'server back: reconnected without a command within the probe '
         'interval (1 s; %.2f s)' % secs)
    _, secs = wait_for(lambda: snapshot(e.path, [files[7]])[files[7]] ==
                       before[files[7]], 5, 0.1)
    T.eq(snapshot(e.path, [files[7]]), {files[7]: before[files[7]]},
         'the file changed on the origin while offline is served new '
         '(%.2f s after reconnect)' % secs)
    T.eq(e.check_claims(), [], 'every range the cache claims holds the origin\'s bytes')


def g_gone_enotconn(e):
    gone(e, 'enotconn')


def g_gone_block(e):
    gone(e, 'block')


def g_hang_reader(e):
    """a hung origin costs a reader at most the deadline, never a hang"""
    make_tree(e.back, 1, 5, 100000)
    fs = e.origin(gone_timeout=60)
    T.ok(e.attach().rc == 0, 'attach')
    os.listdir(os.path.join(e.path, 'd000'))
    fs.gone('block')
    t0 = time.monotonic()
    err, secs, _ = read_errno(os.path.join(e.path, 'd000', 'f0001'), timeout=20)
    T.ok(err == errno.ENODATA and secs < 1.0 + 1.5,
         'a read that meets the hang fails ENODATA after the 1 s deadline '
         '(%s, %.2f s)' % (errno.errorcode.get(err, err), secs))
    T.eq(xattr(e.path, 'mode'), 'disconnected', 'and the attachment is disconnected')
    p = subprocess.Popen(['cat', os.path.join(e.path, 'd000', 'f0002')],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    p.send_signal(signal.SIGINT)
    p.wait(10)
    T.ok(time.monotonic() - t0 < 10, 'no process hangs')
    fs.back()


def g_kill9(e):
    """kill -9 of the manager mid-fill, N rounds: claims stay true, pins kept"""
    rounds = int(os.environ.get('CACHECTL_OFFLINE_KILL_ROUNDS', '200'))
    pinned = make_tree(e.back, 2, 20, 30000, prefix='pin')
    big = []
    for i in range(4):
        p = os.path.join(e.back, 'big%d' % i)
        with open(p, 'wb') as f:
            f.write(os.urandom(24 << 20))
        big.append(p)
    e.origin(latency=0.2)
    T.ok(e.attach().rc == 0, 'attach')
    r = e.cl('pin', '-r', '--no-progress', os.path.join(e.path, 'pin000'),
             os.path.join(e.path, 'pin001'), timeout=120)
    wait_for(lambda: 'hoarding=0' in xattr(e.path, 'state'), 60, 0.2)
    want = snapshot(e.back, pinned)
    fails, enotconn, t_start = [], 0, time.monotonic()
    rng = random.Random(15)
    for rnd in range(rounds):
        pid = e.manager_pid()
        readers = [subprocess.Popen(['cat', os.path.join(e.path, os.path.basename(b))],
                                    stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL) for b in big[:2]]
        time.sleep(rng.uniform(0.01, 0.15))
        os.kill(pid, signal.SIGKILL)
        for p in readers:
            p.wait(20)
        wait_for(lambda: gone_pid(pid), 10, 0.01)
        # getxattr always reaches the daemon; stat may meet cached attributes
        # (ECONNABORTED: the kernel's word for a request caught by the abort)
        said = xattr(e.path, 'mode')
        enotconn += said in ('errno ENOTCONN', 'errno ECONNABORTED')
        if said not in ('errno ENOTCONN', 'errno ECONNABORTED'):
            T.diag('round %d: after kill -9 of %d the attachment said %r'
                   % (rnd, pid, said))
        bad = e.check_claims()
        if bad:
            fails.append((rnd, 'claims', bad[:3]))
        r = e.attach()
        if r.rc != 0:
            fails.append((rnd, 'reattach', r.show()))
            break
        if rnd % 20 == 0 or rnd == rounds - 1:
            e.cl('disconnect', e.path)
            if snapshot(e.path, pinned) != want:
                fails.append((rnd, 'pinned files differ offline'))
            e.cl('reconnect', e.path)
        # start again from nothing for the big files, now and then
        if rnd % 10 == 9:
            for b in big:
                slowfs.evict(os.path.join(e.path, os.path.basename(b)))
    T.ok(not fails, '%d rounds of kill -9 mid-fill (%.0f s): every claimed '
         'range held the origin\'s bytes, every reattach worked, pinned files '
         'intact offline' % (rounds, time.monotonic() - t_start), fails[:5])
    T.eq(enotconn, rounds, 'each crash is reported on the attachment: ENOTCONN '
         '(or ECONNABORTED)')
    for b in big:
        data = open(os.path.join(e.path, os.path.basename(b)), 'rb').read()
        T.ok(data == open(b, 'rb').read(), '%s reads the origin\'s bytes'
             % os.path.basename(b))


def g_crash(e):
    """a crashed manager: ENOTCONN, detach --force, attach --foreground"""
    files = make_tree(e.back, 1, 10, 10000)
    e.origin()
    T.ok(e.attach().rc == 0, 'attach')
    snap = snapshot(e.path, files)
    os.kill(e.manager_pid(), signal.SIGKILL)
    time.sleep(0.2)
    got = errno_of(os.stat, os.path.join(e.path, files[0]))
    T.eq(errno.errorcode.get(got), 'ENOTCONN', 'a crashed manager: ENOTCONN')
    r = e.cl('status', e.path)
    T.ok('crashed' in r.etext, 'cachectl status says it crashed', r.show())
    r = e.cl('detach', e.path)
    r = e.cl('detach', '--force', e.path) if e.attached() else r
    T.ok(r.rc == 0 and top_fstype(e.path) == 'fuse.slowfs',
         'detach --force gives the origin back', r.show())
    # what the user unit runs: over a dead mount too
    T.ok(e.attach().rc == 0, 'attach again')
    os.kill(e.manager_pid(), signal.SIGKILL)
    time.sleep(0.2)
    p = subprocess.Popen([CACHECTL, 'attach', '--foreground', '--cache-dir',
                          e.cache, e.path], env=e.env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, start_new_session=True)
    e.pids.add(p.pid)
    ok, _ = wait_for(lambda: xattr(e.path, 'mode') == 'connected', 10)
    T.ok(ok, 'attach --foreground (the unit\'s ExecStart) reattaches over the dead mount')
    e.cl('disconnect', e.path)
    T.eq(snapshot(e.path, files), snap, 'nothing cached was lost')
    e.detach_all()
    p.wait(10)


def g_dbus(e):
    """one desktop notification per mode change on a private session bus"""
    fake = os.environ.get('FAKE_NOTIFYD', '')
    if not shutil.which('dbus-daemon') or not fake:
        T.skip('desktop notifications', 'no dbus-daemon or fake-notifyd')
        return
    make_tree(e.back, 1, 3, 1000)
    fs = e.origin()
    sock = os.path.join(e.dir, 'bus')
    bus = subprocess.Popen(['dbus-daemon', '--session', '--nofork',
                            '--address=unix:path=' + sock, '--print-address=1'],
                           stdout=subprocess.PIPE, text=True,
                           start_new_session=True)
    notes = None
    try:
        addr = bus.stdout.readline().strip()
        T.ok(addr.startswith('unix:'), 'a private session bus: %s' % addr)
        e.env['DBUS_SESSION_BUS_ADDRESS'] = addr
        notes = subprocess.Popen([fake], env=e.env, stdout=subprocess.PIPE,
                                 start_new_session=True)
        T.eq(read_lines(notes.stdout, 1, 10), ['ready'],
             'a fake notification server owns org.freedesktop.Notifications')
        T.ok(e.attach().rc == 0, 'attach')
        changes = []
        e.cl('disconnect', e.path)
        changes.append('Working offline')
        e.cl('reconnect', e.path)
        changes.append('Back online')
        fs.gone('enotconn')
        wait_for(lambda: xattr(e.path, 'mode') == 'disconnected', 10)
        changes.append('Working offline')
        fs.back()
        wait_for(lambda: xattr(e.path, 'mode') == 'connected', 10)
        changes.append('Back online')
        got = read_lines(notes.stdout, len(changes), 20)
        T.eq([g.split('\t')[0] for g in got], changes,
             'one notification per mode change, in order', got,
             open(os.path.join(e.cache, 'manager.log')).read()[-2000:])
        T.ok(all(e.path in g for g in got), 'each names the attachment')
    finally:
        for p in (notes, bus):
            if p:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
    # no session bus at all: silently skipped
    e.detach_all()
    e.env['DBUS_SESSION_BUS_ADDRESS'] = 'unix:path=' + sock + '-none'
    T.ok(e.attach().rc == 0, 'attach without a session bus')
    e.cl('disconnect', e.path)
    e.cl('reconnect', e.path)
    log = open(os.path.join(e.cache, 'manager.log')).read()
    T.ok(xattr(e.path, 'mode') == 'connected' and 'notification' not in log,
         'without a bus: modes switch, nothing said about notifications', log[-500:])


def g_user(e):
    """attaching needs no root: the whole cycle as an unprivileged user"""
    from cachectl_test import NOBODY, SETPRIV, copy_for_nobody
    if not shutil.which('setpriv'):
        T.skip('as nobody', 'no setpriv')
        return
    bindir = os.path.join(e.dir, 'bin')
    cl, libdir = copy_for_nobody(CACHECTL, bindir)
    mgr, _ = copy_for_nobody(MANAGER, bindir)
    home = os.path.join(e.dir, 'home')
    os.makedirs(os.path.join(home, 'nfs'))
    with open(os.path.join(home, 'nfs', 'a'), 'wb') as f:
        f.write(os.urandom(50000))
    for root, dirs, files in os.walk(e.dir):
        for n in dirs + files + ['.']:
            os.lchown(os.path.join(root, n), NOBODY, NOBODY)
    env = dict(os.environ, CACHECTL_OFFLINE=mgr, LD_LIBRARY_PATH=libdir,
               CACHECTL_RUNTIME_DIR=e.run, CACHECTL_STATE_DIR=e.state,
               HOME=home, XDG_CACHE_HOME=os.path.join(home, '.cache'))
    env.pop('DBUS_SESSION_BUS_ADDRESS', None)
    path = os.path.join(home, 'nfs')

    def as_user(*args, **kw):
        return run(SETPRIV + [cl] + list(args), env=env, **kw)
    # Debian's /dev/fuse is 0666; a container may have made it 0600
    mode = stat.S_IMODE(os.stat('/dev/fuse').st_mode)
    if mode & 0o006 != 0o006:
        T.diag('/dev/fuse is %o here: 0666 for the test, as Debian has it' % mode)
        os.chmod('/dev/fuse', mode | 0o006)
    try:
        user_cycle(e, as_user, path, home, env)
    finally:
        os.chmod('/dev/fuse', mode)
        if top_fstype(path) == 'fuse.cachectl-offline':
            subprocess.run(['fusermount3', '-uz', path], stderr=subprocess.DEVNULL)


def user_cycle(e, as_user, path, home, env):
    from cachectl_test import NOBODY, SETPRIV
    r = as_user('attach', '--timeout', '1000', path)
    T.ok(r.rc == 0, 'attach as uid %d: exit 0' % NOBODY, r.show())
    T.eq(top_fstype(path), 'fuse.cachectl-offline', 'mounted over the same path')
    pid = None
    st = run(SETPRIV + ['getfattr', '--only-values', '-n', 'user.cachectl.state',
                        path], env=env)
    for kv in st.text.split():
        if kv.startswith('pid='):
            pid = int(kv[4:])
    if pid:
        e.pids.add(pid)
        T.eq(os.stat('/proc/%d' % pid).st_uid, NOBODY, 'the manager runs as the user')
    r = run(SETPRIV + ['cat', os.path.join(path, 'a')], env=env)
    T.ok(r.rc == 0 and top_fstype(path) == 'fuse.cachectl-offline' and
         len(r.out) == 50000, 'the user reads through it', r.show()[:300])
    r = run(SETPRIV + ['sh', '-c', 'echo written by the user > "$1"', 'sh',
                       os.path.join(path, 'b')], env=env)
    T.ok(r.rc == 0, 'the user writes through it', r.show()[:300])
    r = as_user('disconnect', path)
    r2 = run(SETPRIV + ['cat', os.path.join(path, 'a')], env=env)
    T.ok(r.rc == 0 and r2.rc == 0 and len(r2.out) == 50000,
         'disconnected by the user, read from the cache', r.show(), r2.show()[:300])
    r = as_user('detach', path)
    T.ok(r.rc == 0 and top_fstype(path) != 'fuse.cachectl-offline',
         'detach as the user', r.show())
    b = os.path.join(path, 'b')
    T.ok(os.path.exists(b) and os.stat(b).st_uid == NOBODY and
         open(b, 'rb').read() == b'written by the user\n',
         'on the origin: the written file, the user\'s')
    T.ok(os.path.isdir(os.path.join(home, '.cache', 'cachectl', 'offline')),
         'the default cache is under $XDG_CACHE_HOME/cachectl/offline')


def free_port():
    import socket
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    p = s.getsockname()[1]
    s.close()
    return p


def descendants(pid):
    out = []
    for p in os.listdir('/proc'):
        if p.isdigit():
            try:
                with open('/proc/%s/stat' % p) as f:
                    ppid = int(f.read().rsplit(')', 1)[1].split()[1])
            except OSError:
                continue
            if ppid == pid:
                out += [int(p)] + descendants(int(p))
    return out


def g_sshfs(e):
    """sshfs over a loopback sshd as the origin; the session stopped"""
    sshd = shutil.which('sshd') or '/usr/sbin/sshd'
    if not os.path.exists(sshd) or not shutil.which('sshfs'):
        T.skip('sshfs', 'no sshd or sshfs')
        return
    d = os.path.join(e.dir, 'ssh')
    os.makedirs(d)
    os.makedirs('/run/sshd', exist_ok=True)
    run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', d + '/host'])
    run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', d + '/id'])
    shutil.copy(d + '/id.pub', d + '/authorized_keys')
    port = free_port()
    with open(d + '/config', 'w') as f:
        f.write('Port %d\nListenAddress 127.0.0.1\nHostKey %s/host\n'
                'PidFile %s/pid\nAuthorizedKeysFile %s/authorized_keys\n'
                'PasswordAuthentication no\nKbdInteractiveAuthentication no\n'
                'PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\n'
                'Subsystem sftp internal-sftp\n' % (port, d, d, d))
    srv = subprocess.Popen([sshd, '-D', '-e', '-f', d + '/config'],
                           stderr=subprocess.DEVNULL, start_new_session=True)
    stopped = []
    files = make_tree(e.back, 2, 20, 8000)
    try:
        time.sleep(0.5)
        r = run(['sshfs', '-o', 'IdentityFile=%s/id,StrictHostKeyChecking=no,'
                 'UserKnownHostsFile=/dev/null,port=%d,ServerAliveInterval=60'
                 % (d, port), 'root@127.0.0.1:' + e.back, e.path], timeout=30)
        T.ok(r.rc == 0 and top_fstype(e.path) == 'fuse.sshfs',
             'sshfs over a loopback sshd on port %d' % port, r.show())
        if r.rc:
            return
        T.ok(e.attach().rc == 0, 'attach over the sshfs mount')
        r = e.cl('pin', '-r', '--no-progress', e.path, timeout=120)
        wait_for(lambda: 'hoarding=0' in xattr(e.path, 'state'), 60, 0.2)
        before = snapshot(e.path, files)
        want = snapshot(e.back, files)
        T.ok(all(before[f][5] == want[f][5] for f in files),
             'connected: the origin\'s bytes')
        # the server goes away: its session stops answering
        stopped = descendants(srv.pid)
        T.diag('stopping the sshd session: %s' % stopped)
        for p in stopped:
            os.kill(p, signal.SIGSTOP)
        t0 = time.monotonic()
        ok, secs = wait_for(lambda: xattr(e.path, 'mode') == 'disconnected', 10, 0.1)
        T.ok(ok and secs < 5, 'sshd session stopped: disconnected within 5 s '
             '(%.2f s)' % secs, xattr(e.path, 'reason'),
             open(os.path.join(e.cache, 'manager.log')).read()[-1500:])
        got = snapshot(e.path, files)
        T.eq([f for f in files if got[f] != before[f]], [],
             'offline: every pinned file, same bytes and attributes (%.2f s)'
             % (time.monotonic() - t0))
        for p in stopped:
            os.kill(p, signal.SIGCONT)
        stopped = []
        ok, secs = wait_for(lambda: xattr(e.path, 'mode') == 'connected', 10, 0.1)
        T.ok(ok, 'session back: reconnected by the probe (%.2f s)' % secs)
    finally:
        for p in stopped:
            os.kill(p, signal.SIGCONT)
        e.detach_all()
        if top_fstype(e.path) == 'fuse.sshfs':
            subprocess.run(['fusermount3', '-u', e.path], stderr=subprocess.DEVNULL)
            if top_fstype(e.path) == 'fuse.sshfs':
                subprocess.run(['fusermount3', '-uz', e.path])
        os.killpg(srv.pid, signal.SIGKILL)
        srv.wait()


def g_cull(e):
    """LRU culling to --size; pinned data never culled; cache-full said"""
    files = make_tree(e.back, 1, 8, 300000)        # 8 x 300 kB
    pins = make_tree(e.back, 1, 4, 300000, prefix='keep')
    e.origin()
    T.ok(e.attach('--size', '2M').rc == 0, 'attach --size 2M')
    r = e.cl('pin', '-r', '--no-progress', os.path.join(e.path, 'keep000'), timeout=60)
    wait_for(lambda: 'hoarding=0' in xattr(e.path, 'state'), 30, 0.2)
    mon = subprocess.Popen([CACHECTL, 'monitor', '--offline'], env=e.env,
                           stdout=subprocess.PIPE, start_new_session=True)
    time.sleep(0.3)
    for f in files:
        with open(os.path.join(e.path, f), 'rb') as fh:
            fh.read()
    claims = e.claims()
    total = sum(end - start for _, _, start, end in claims)
    held = {rel for _, rel, s_, e_ in claims}
    T.ok(total <= 2 << 20, 'cached data stays within --size (%d bytes)' % total)
    T.ok(all(p in held for p in pins), 'pinned files are never culled')
    T.ok(files[-1] in held and files[0] not in held,
         'the least recently used went first', sorted(held))
    T.eq(e.check_claims(), [], 'what is left holds the origin\'s bytes')
    got = {}
    for f in files:
        with open(os.path.join(e.path, f), 'rb') as fh:
            got[f] = sha(fh.read())
    T.ok(all(got[f] == sha(open(os.path.join(e.back, f), 'rb').read()) for f in files),
         'culled files are read from the origin again')
    # more pinned data than the limit: the cache says it is full
    make_tree(e.back, 1, 12, 300000, prefix='keep')
    e.cl('pin', '-r', '--no-progress', os.path.join(e.path, 'keep000'), timeout=60)
    events = os.path.join(e.run, 'offline-events')
    wait_for(lambda: os.path.exists(events) and 'cache-full' in open(events).read(),
             90, 0.3)
    lines = read_lines(mon.stdout, 1, 10)
    os.killpg(mon.pid, signal.SIGKILL)
    mon.wait()
    T.ok(any('cache-full' in ln for ln in lines),
         'pins beyond --size: a cache-full event', lines,
         open(events).read()[-1000:] if os.path.exists(events) else 'no events file',
         xattr(e.path, 'state'))
    # unpinned: no longer kept, culled like any other file
    keep = sorted(f for f in os.listdir(os.path.join(e.back, 'keep000')))
    r = e.cl('unpin', os.path.join(e.path, 'keep000'))
    T.ok(r.rc == 0, 'cachectl unpin of the hoarded tree', r.show())
    first = os.path.join(e.path, 'keep000', keep[0])
    ok, secs = wait_for(lambda: 'pinned=0' in xattr(first, 'state'), 30, 0.2)
    T.ok(ok, 'unpinned: the hoarded files are no longer marked pinned (%.1f s)'
         % secs, xattr(first, 'state'))
    for f in files:
        with open(os.path.join(e.path, f), 'rb') as fh:
            fh.read()
    claims = e.claims()
    held = {rel for _, rel, _, _ in claims}
    total = sum(end - start for _, _, start, end in claims)
    T.ok(total <= 2 << 20 and set(files[-4:]) <= held and
         not all('keep000/' + k in held for k in keep),
         'unpinned files are culled for newer reads (%d bytes held)' % total,
         sorted(held))
    T.eq(e.check_claims(), [], 'and what is held holds the origin\'s bytes')



# ---- changes through the attachment ----------------------------------------

RENAME_NOREPLACE, RENAME_EXCHANGE = 1, 2


def renameat2(a, b, flags):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.renameat2(-100, os.fsencode(a), -100, os.fsencode(b), flags) < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), a)


def attrs(path):
    """what a change must leave the same on both sides"""
    st = os.lstat(path)
    data = None
    if stat.S_ISREG(st.st_mode):
        with open(path, 'rb') as f:
            data = sha(f.read())
    elif stat.S_ISLNK(st.st_mode):
        data = os.readlink(path)
    return (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_size,
            st.st_uid, st.st_gid, st.st_mtime_ns, data)


def tree(base):
    """every name under base with attrs() and xattrs, the root excluded"""
    out = {}
    for root, dirs, files in os.walk(base):
        for n in dirs + files:
            p = os.path.join(root, n)
            x = {}
            if not os.path.islink(p):
                for k in os.listxattr(p, follow_symlinks=False):
                    if not k.startswith('user.cachectl.'):
                        x[k] = os.getxattr(p, k, follow_symlinks=False)
            a = attrs(p)
            if stat.S_ISDIR(a[0]):
                a = a[:2] + a[3:5]      # a directory's size and mtime: the fs's
            out[os.path.relpath(p, base)] = (a, sorted(x.items()))
    return out


def child_errno(code, *args, timeout=20):
    """(errno or 0, seconds) of code (an OSError ends it) run in a child"""
    prog = ('import os,sys,ctypes\ntry:\n' +
            ''.join(' ' + ln + '\n' for ln in code.splitlines()) +
            'except OSError as e:\n sys.exit(100+e.errno)\n')
    r = run([sys.executable, '-c', prog] + list(args), timeout=timeout)
    e = r.rc - 100 if r.rc is not None and r.rc >= 100 else (0 if r.rc == 0 else -1)
    return e, r.elapsed


def changes(e, P):
    """every kind of change, through the attachment at P(...)"""
    data = os.urandom(300000)
    with open(P('new.bin'), 'wb') as f:
        f.write(data)
    with open(P('d000', 'f0000'), 'r+b') as f:     # cached: read before
        f.seek(1000)
        f.write(b'X' * 5000)
        f.seek(0, 2)
        f.write(b'appended')
        f.flush()
        os.fsync(f.fileno())
    with open(P('d000', 'f0001'), 'ab') as f:
        f.write(b'Y' * 70000)
    os.truncate(P('d000', 'f0002'), 1000)
    os.truncate(P('d000', 'f0003'), 90000)
    with open(P('d000', 'f0004'), 'wb') as f:       # O_TRUNC, then write
        f.write(b'rewritten\n')
    os.chmod(P('d000', 'f0005'), 0o600)
    os.chown(P('d000', 'f0006'), 1234, 4321)
    os.utime(P('d000', 'f0007'), ns=(1000000000123, 2000000000456))
    os.mkdir(P('newdir'), 0o750)
    with open(P('newdir', 'inner'), 'wb') as f:
        f.write(b'inner bytes')
    os.mkdir(P('gone'))
    os.rmdir(P('gone'))
    os.unlink(P('d000', 'f0008'))
    os.rename(P('d000', 'f0009'), P('renamed'))
    os.rename(P('d001'), P('moved'))                # a directory, listed
    os.rename(P('new.bin'), P('moved', 'f0000'))    # over an existing name
    renameat2(P('d000', 'f0010'), P('d000', 'f0011'), RENAME_EXCHANGE)
    err = errno_of(renameat2, P('d000', 'f0012'), P('d000', 'f0013'),
                   RENAME_NOREPLACE)
    os.link(P('d000', 'f0014'), P('hardlink'))
    os.symlink('d000/f0015', P('symlink'))
    os.setxattr(P('d000', 'f0015'), 'user.color', b'green')
    os.removexattr(P('d000', 'f0016'), 'user.color')
    fd = os.open(P('moved'), os.O_RDONLY | os.O_DIRECTORY)
    os.fsync(fd)
    os.close(fd)
    return err


def g_write(e):
    """connected: every change reaches the origin and stays in the cache;
    offline, what was written is served, and changes fail EHOSTDOWN"""
    files = make_tree(e.back, 2, 20, 30000)
    for f in files:
        os.setxattr(os.path.join(e.back, f), 'user.color', b'blue')
    fs = e.origin()
    T.ok(e.attach().rc == 0, 'attach')

    def P(*a):
        return os.path.join(e.path, *a)
    for f in files:                     # in the cache before the changes
        with open(P(f), 'rb') as fh:
            fh.read()
    os.listdir(P('d001'))
    err = changes(e, P)
    T.eq(errno.errorcode.get(err), 'EEXIST',
         'rename with RENAME_NOREPLACE over a name: EEXIST from the origin')
    back = tree(e.back)
    T.eq(back.get('moved/f0000', ((None,) * 7,))[0][6],
         sha(open(os.path.join(e.back, 'moved', 'f0000'), 'rb').read()),
         'sanity: the origin tree is read')
    want = {
        'd000/f0002': 1000, 'd000/f0003': 90000, 'd000/f0001': 30000 + 70000,
        'd000/f0000': 30008, 'd000/f0004': 10, 'moved/f0000': 300000,
    }
    T.eq({k: back[k][0][2] for k in want}, want,
         'the origin has the sizes the changes made')
    T.ok(back['d000/f0005'][0][1] == 0o600 and
         back['d000/f0006'][0][3:5] == (1234, 4321) and
         back['d000/f0007'][0][5] == 2000000000456,
         'chmod, chown, utimes reached the origin')
    T.ok('d000/f0008' not in back and 'd000/f0009' not in back and
         'renamed' in back and 'd001' not in back and 'moved/f0019' in back and
         'gone' not in back and back['newdir'][0][1] == 0o750,
         'unlink, rename (a file, a directory), mkdir, rmdir on the origin')
    T.eq(os.readlink(os.path.join(e.back, 'symlink')), 'd000/f0015',
         'symlink on the origin')
    T.eq(os.stat(os.path.join(e.back, 'hardlink')).st_ino,
         os.stat(os.path.join(e.back, 'd000', 'f0014')).st_ino,
         'link: the same inode on the origin')
    T.ok(dict(back['d000/f0015'][1]).get('user.color') == b'green' and
         'user.color' not in dict(back['d000/f0016'][1]),
         'setxattr, removexattr on the origin')
    exch = (open(os.path.join(e.back, 'd000', 'f0010'), 'rb').read(),
            open(os.path.join(e.back, 'd000', 'f0011'), 'rb').read())
    T.eq(tree(e.path), back,
         'through the attachment: the tree, bytes, attributes and xattrs the '
         'origin has')
    T.eq(e.check_claims(), [], 'every range the cache claims holds the origin\'s bytes')
    claimed = {rel for _, rel, _, _ in e.claims()}
    T.ok({'moved/f0000', 'd000/f0000', 'd000/f0004', 'newdir/inner'} <= claimed,
         'written files are kept in the cache', sorted(claimed)[:20])
    # another writer changes a file the kernel has pages of
    with open(P('d000', 'f0017'), 'rb') as fh:
        fh.read()
    other = os.path.join(e.back, 'd000', 'f0017')
    with open(other, 'r+b') as fh:
        fh.write(b'changed by another writer')
    new = open(other, 'rb').read()
    ok, secs = wait_for(lambda: open(P('d000', 'f0017'), 'rb').read() == new, 5, 0.2)
    T.ok(ok, 'a file changed on the origin by another writer is read new '
         '(%.2f s, actimeo 1 s)' % secs)
    os.listxattr(P('d000', 'f0017'))    # a new version's xattrs, asked again

    # offline: what was written is served
    fs.gone('enotconn')
    ok, _ = wait_for(lambda: xattr(e.path, 'mode') == 'disconnected', 10, 0.1)
    T.ok(ok, 'server gone: disconnected')
    back.pop('d000/f0017')
    got = tree(e.path)
    got.pop('d000/f0017', None)
    T.eq(got, back, 'offline: the tree as the changes left it, bytes included')
    T.eq((open(P('d000', 'f0010'), 'rb').read(), open(P('d000', 'f0011'), 'rb').read()),
         exch, 'offline: RENAME_EXCHANGE\'s two files in their new places')

    # changes while disconnected fail with the documented error, at once
    # (those the journal takes offline are group offline-write's)
    tries = [
        ('os.rmdir(sys.argv[1] + "/newdir")', 'rmdir'),
        ('os.rename(sys.argv[1] + "/renamed", sys.argv[1] + "/r2")', 'rename'),
        ('os.link(sys.argv[1] + "/renamed", sys.argv[1] + "/l2")', 'link'),
        ('os.symlink("x", sys.argv[1] + "/s2")', 'symlink'),
        ('os.setxattr(sys.argv[1] + "/renamed", "user.a", b"1")', 'setxattr'),
        ('os.removexattr(sys.argv[1] + "/renamed", "user.color")', 'removexattr'),
    ]
    bad = []
    for code, what in tries:
        err, secs = child_errno(code, e.path)
        if err != errno.EHOSTDOWN or secs > 1.0:
            bad.append((what, errno.errorcode.get(err, err), round(secs, 2)))
    T.eq(bad, [], 'offline: %d kinds of change fail EHOSTDOWN within 1 s' % len(tries))
    T.eq(tree(e.path).get('renamed'), back['renamed'], 'and change nothing')
    fs.back()
    ok, _ = wait_for(lambda: xattr(e.path, 'mode') == 'connected', 10, 0.1)
    T.ok(ok, 'server back: connected')
    with open(P('renamed'), 'ab') as fh:
        fh.write(b'after')
    T.eq(open(os.path.join(e.back, 'renamed'), 'rb').read()[-5:], b'after',
         'reconnected: writes go through again')


def g_write_hang(e):
    """a hung origin costs a change at most the deadline and disconnects"""
    make_tree(e.back, 1, 3, 100000)
    fs = e.origin(gone_timeout=60)
    T.ok(e.attach().rc == 0, 'attach')
    f = os.path.join(e.path, 'd000', 'f0000')
    with open(f, 'rb') as fh:
        fh.read()
    code = ('import os,sys,time\n'
            'fd = os.open(sys.argv[1], os.O_WRONLY)\n'
            'os.pwrite(fd, b"1" * 4096, 0)\n'
            'print("open", flush=True)\n'
            'sys.stdin.readline()\n'
            't0 = time.monotonic()\n'
            'try:\n'
            ' os.pwrite(fd, b"2" * 4096, 8192)\n'
            ' e = 0\n'
            'except OSError as x:\n'
            ' e = x.errno\n'
            'print(e, time.monotonic() - t0, flush=True)\n')
    p = subprocess.Popen([sys.executable, '-c', code, f], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    try:
        T.eq(p.stdout.readline().strip(), 'open', 'a writer wrote through')
        fs.gone('block')
        p.stdin.write('go\n')
        p.stdin.flush()
        import select
        rd, _, _ = select.select([p.stdout], [], [], 10)
        out = p.stdout.readline().split() if rd else ['hung', '10']
    finally:
        p.kill()
        p.wait()
    T.ok(out[0] == str(errno.EIO) and float(out[1]) < 1.0 + 1.5,
         'a write that meets the hang fails EIO after the 1 s deadline (%s)'
         % (out,))
    T.eq(xattr(e.path, 'mode'), 'disconnected', 'and the attachment is disconnected')
    err, secs = child_errno('os.rename(sys.argv[1] + "/d000/f0001", '
                            'sys.argv[1] + "/d000/x")', e.path)
    T.ok(err == errno.EHOSTDOWN and secs < 1.0,
         'then a rename fails EHOSTDOWN at once (%s, %.2f s)'
         % (errno.errorcode.get(err, err), secs))
    fs.back()
    ok, _ = wait_for(lambda: xattr(e.path, 'mode') == 'connected', 10, 0.1)
    T.ok(ok, 'server back: connected')
    # a change cut off by the deadline may still be made: nothing claimed
    # of what it touched may be wrong (the name is known to the kernel, so
    # the UNLINK itself meets the hang, not a LOOKUP before it)
    victim = os.path.join(e.path, 'd000', 'f0002')
    os.stat(victim)
    fs.gone('block')
    err, secs = child_errno('os.unlink(sys.argv[1])', victim)
    T.ok(err == errno.EIO and secs < 2.5, 'an unlink that meets the hang: EIO '
         'within the deadline (%s, %.2f s)' % (errno.errorcode.get(err, err), secs))
    fs.back()
    ok, _ = wait_for(lambda: xattr(e.path, 'mode') == 'connected', 10, 0.1)
    T.ok(ok and not os.path.exists(os.path.join(e.back, 'd000', 'f0002')),
         'back: the origin made the unlink after all')
    T.ok(not os.path.exists(victim), 'and the attachment shows it')
    e.cl('disconnect', e.path)
    err = errno_of(os.stat, os.path.join(e.path, 'd000', 'nosuch'))
    T.eq(errno.errorcode.get(err), 'EHOSTDOWN',
         'offline, the directory it touched is no longer known whole')
    e.cl('reconnect', e.path)
    T.eq(e.check_claims(), [], 'every range the cache claims holds the origin\'s bytes')


def g_kill9_write(e):
    """kill -9 of the manager mid-write, N/4 rounds: claims stay true"""
    rounds = max(1, int(os.environ.get('CACHECTL_OFFLINE_KILL_ROUNDS', '200')) // 4)
    files = make_tree(e.back, 1, 4, 2 << 20)
    e.origin(latency=0.2)
    T.ok(e.attach().rc == 0, 'attach')
    paths = [os.path.join(e.path, f) for f in files]
    code = ('import os,random,sys\n'
            'rng = random.Random(int(sys.argv[1]))\n'
            'fds = [os.open(p, os.O_RDWR) for p in sys.argv[2:]]\n'
            'try:\n'
            ' while True:\n'
            '  fd = rng.choice(fds)\n'
            '  size = os.fstat(fd).st_size\n'
            '  if rng.random() < 0.1:\n'
            '   os.ftruncate(fd, rng.randrange(1, 3 << 20))\n'
            '  else:\n'
            '   os.pwrite(fd, os.urandom(rng.choice((512, 4096, 65536, 200000))),\n'
            '             rng.randrange(0, size + 65536))\n'
            'except OSError:\n'
            ' pass\n')
    fails, t0 = [], time.monotonic()
    rng = random.Random(16)
    for rnd in range(rounds):
        for p in paths:                 # cached, so writes overwrite claims
            with open(p, 'rb') as fh:
                fh.read()
        pid = e.manager_pid()
        w = subprocess.Popen([sys.executable, '-c', code, str(rnd)] + paths,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.05, 0.3))
        os.kill(pid, signal.SIGKILL)
        try:
            w.wait(20)
        except subprocess.TimeoutExpired:
            w.kill()
            w.wait()
            fails.append((rnd, 'the writer hung'))
        wait_for(lambda: gone_pid(pid), 10, 0.01)
        bad = e.check_claims()
        if bad:
            fails.append((rnd, 'claims', bad[:3]))
        r = e.attach()
        if r.rc != 0:
            fails.append((rnd, 'reattach', r.show()))
            break
    T.ok(not fails, '%d rounds of kill -9 mid-write (%.0f s): every claimed '
         'range held the origin\'s bytes, every reattach worked'
         % (rounds, time.monotonic() - t0), fails[:5])
    got = {f: sha(open(os.path.join(e.path, f), 'rb').read()) for f in files}
    want = {f: sha(open(os.path.join(e.back, f), 'rb').read()) for f in files}
    T.eq(got, want, 'afterwards every file reads the origin\'s bytes')
    e.cl('disconnect', e.path)
    got = {}
    for f in files:
        err, _, data = read_errno(os.path.join(e.path, f))
        got[f] = sha(data) if not err else errno.errorcode.get(err, err)
    T.eq(got, want, 'and offline, from the cache, too')

def g_daemon_events(e):
    """the user's cachectld announces the managers' events: cachectl monitor"""
    files = make_tree(e.back, 1, 2, 100000)
    e.origin()
    log = open(os.path.join(e.dir, 'cachectld.log'), 'wb')
    d = subprocess.Popen([CACHECTLD, '--user', '-v'], env=e.env, stdout=log,
                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         start_new_session=True)
    mon = None
    try:
        sock = os.path.join(e.run, 'cachectld.sock')
        ok, _ = wait_for(lambda: os.path.exists(sock), 15)
        T.ok(ok, 'cachectld --user listens')
        mon = subprocess.Popen([CACHECTL, 'monitor', '-J'], env=e.env,
                               stdout=subprocess.PIPE, start_new_session=True)
        # the monitor's status lines of the (no) pins, then quiet
        read_lines(mon.stdout, 0, 1.5)
        # 100 KB files over a 50 KB limit: the first fill cannot be kept
        T.ok(e.attach('--size', '50000').rc == 0, 'attach --size 50000')
        T.ok(e.cl('disconnect', e.path).rc == 0, 'cachectl disconnect')
        lines = read_lines(mon.stdout, 1, 10)
        T.ok(len(lines) == 1 and '"type": "disconnected"' in lines[0] and
             e.path in lines[0],
             'cachectl monitor (the daemon\'s): one "disconnected" event for the '
             'attachment', lines)
        T.ok(e.cl('reconnect', e.path).rc == 0, 'cachectl reconnect')
        lines = read_lines(mon.stdout, 1, 10)
        T.ok(len(lines) == 1 and '"type": "connected"' in lines[0] and
             e.path in lines[0], 'then one "connected" event', lines)
        data = open(os.path.join(e.path, files[0]), 'rb').read()
        T.ok(data == open(os.path.join(e.back, files[0]), 'rb').read(),
             'a file over the limit is still read from the origin')
        lines = read_lines(mon.stdout, 1, 10)
        T.ok(len(lines) == 1 and '"type": "cache-full"' in lines[0] and
             e.path in lines[0], 'and one "cache-full" event', lines)
        T.ok(d.poll() is None, 'cachectld still runs')
    finally:
        if mon:
            os.killpg(mon.pid, signal.SIGKILL)
            mon.wait()
        os.killpg(d.pid, signal.SIGTERM)
        try:
            d.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(d.pid, signal.SIGKILL)
            d.wait()
        log.close()


def journal_rows(e):
    db = sqlite3.connect('file:%s/meta.db?mode=ro' % e.cache, uri=True, timeout=10)
    rows = db.execute('SELECT op, name, path FROM journal ORDER BY seq').fetchall()
    db.close()
    return [(op, (n or b'').decode() if isinstance(n, bytes) else n,
             (p or b'').decode() if isinstance(p, bytes) else p) for op, n, p in rows]


def g_offline_write(e):
    """disconnected: changes made in the cache, journaled, kept over a
    kill -9; the attachment holds off reconnecting while they wait"""
    files = make_tree(e.back, 1, 6, 20000)
    make_tree(e.back, 1, 2, 20000, prefix='unlisted')
    uncached = make_tree(e.back, 1, 2, 20000, prefix='uncached')
    e.origin()
    T.ok(e.attach().rc == 0, 'attach')

    def P(*a):
        return os.path.join(e.path, *a)
    os.listdir(e.path)
    os.listdir(P('uncached000'))
    os.listdir(P('d000'))
    for f in files:
        open(P(f), 'rb').read()
    os.stat(P('unlisted000'))
    origin_before = tree(e.back)
    T.ok(e.cl('disconnect', e.path).rc == 0, 'cachectl disconnect')
    want = {}
    with open(P('new.txt'), 'wb') as f:
        f.write(b'made offline\n')
        f.flush()
        os.fsync(f.fileno())
    want['new.txt'] = b'made offline\n'
    os.mkdir(P('newdir'), 0o750)
    with open(P('newdir', 'inner'), 'wb') as f:
        f.write(b'x' * 100000)
    want['newdir/inner'] = b'x' * 100000
    old = open(os.path.join(e.back, files[0]), 'rb').read()
    with open(P(files[0]), 'r+b') as f:
        f.seek(100)
        f.write(b'EDITED')
        f.seek(0, 2)
        f.write(b'tail')
    want[files[0]] = old[:100] + b'EDITED' + old[106:] + b'tail'
    os.truncate(P(files[1]), 77)
    want[files[1]] = open(os.path.join(e.back, files[1]), 'rb').read()[:77]
    with open(P(files[2]), 'wb') as f:          # O_TRUNC, then write
        f.write(b'rewritten')
    want[files[2]] = b'rewritten'
    os.chmod(P(files[3]), 0o600)
    os.utime(P(files[3]), ns=(5000000000, 6000000000))
    os.unlink(P(files[4]))
    with open(P('scratch'), 'wb') as f:         # made and gone offline
        f.write(b'nothing to replay')
    os.unlink(P('scratch'))
    got = {k: open(P(k), 'rb').read() for k in want}
    T.eq(got, want, 'offline: new and changed files read back what was written')
    st = os.stat(P(files[3]))
    T.ok(stat.S_IMODE(st.st_mode) == 0o600 and st.st_mtime_ns == 6000000000 and
         stat.S_IMODE(os.stat(P('newdir')).st_mode) == 0o750,
         'offline: chmod, utimes, mkdir\'s mode as given')
    T.ok(sorted(os.listdir(P('d000'))) == sorted(
        os.path.basename(f) for f in files if f != files[4]) and
        'scratch' not in os.listdir(e.path) and 'newdir' in os.listdir(e.path),
        'offline: listings show the new names, not the unlinked ones')
    T.eq(xattr(P('new.txt'), 'provisional'), '1', 'a new file is provisional')
    rows = journal_rows(e)
    T.ok(rows and not any(n == 'scratch' or (p or '').endswith('scratch')
                          for _, n, p in rows),
         'journaled (%d entries); a file made and unlinked offline left none'
         % len(rows), rows)
    T.eq(tree(e.back), origin_before, 'the origin is untouched')
    err, secs = child_errno('open(sys.argv[1], "r+b").write(b"1")',
                            P(uncached[0]))
    T.ok(err == errno.ENODATA and secs < 1.0,
         'writing a file not cached whole: ENODATA (%s)' % errno.errorcode.get(err, err))
    err, secs = child_errno('open(sys.argv[1] + "/n", "wb")', P('unlisted000'))
    T.ok(err == errno.EHOSTDOWN and secs < 1.0,
         'creating in a directory never listed: EHOSTDOWN (%s)'
         % errno.errorcode.get(err, err))
    r = e.cl('reconnect', e.path)
    T.ok(r.rc != 0 and xattr(e.path, 'mode') == 'disconnected' and
         'replay' in xattr(e.path, 'reason'),
         'reconnect is held while changes wait for replay: %r'
         % xattr(e.path, 'reason'), r.show())
    # kill -9 and a new manager: the changes are still there, still held
    os.kill(e.manager_pid(), signal.SIGKILL)
    time.sleep(0.3)
    T.ok(e.attach().rc == 0, 'reattach after kill -9')
    T.eq(xattr(e.path, 'mode'), 'disconnected',
         'the new manager starts disconnected: changes wait')
    got = {k: open(P(k), 'rb').read() for k in want}
    T.eq(got, want, 'after kill -9 and restart: the offline changes are served')
    T.ok(not os.path.exists(P(files[4])), 'and the unlinked file stays gone')


GROUPS = {
    'daemon-events': g_daemon_events,
    'attach': g_attach,
    'offline': g_offline,
    'gone-enotconn': g_gone_enotconn,
    'gone-block': g_gone_block,
    'hang-reader': g_hang_reader,
    'crash': g_crash,
    'kill9': g_kill9,
    'dbus': g_dbus,
    'user': g_user,
    'sshfs': g_sshfs,
    'cull': g_cull,
    'write': g_write,
    'write-hang': g_write_hang,
    'kill9-write': g_kill9_write,
    'offline-write': g_offline_write,
}


def _terminated(sig, frame):
    raise SystemExit('terminated by signal %d' % sig)


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in GROUPS:
        print('usage: offline_tests.py GROUP (%s)' % ', '.join(GROUPS),
              file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        return skip_all('needs root (slowfs mounts)')
    if not os.path.exists('/dev/fuse') or not SLOWFS or not MANAGER:
        return skip_all('no /dev/fuse, slowfs or cachectl-offline')
    signal.signal(signal.SIGTERM, _terminated)
    e = Env()
    try:
        if sys.argv[1] == 'user':
            os.chmod(e.dir, 0o755)
        GROUPS[sys.argv[1]](e)
    except Exception:
        T.ok(False, 'group %s ran to the end' % sys.argv[1], traceback.format_exc())
    finally:
        e.cleanup()
    return T.done()


if __name__ == '__main__':
    sys.exit(main())
