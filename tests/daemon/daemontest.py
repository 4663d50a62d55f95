# SPDX-License-Identifier: LGPL-2.1-or-later
"""What the pin tests share: black-box tests of cachectld and the cachectl
pin verbs, on real files on the host kernel. The tests are in *_tests.py
beside it, one file per area, one meson test per group:

  refill_tests.py    soft pins: refill, inherit, 100k files
  hard_tests.py      hard pins: pressure, 100k files, memlock, changes
  store_tests.py     crash safety of the pin store
  protocol_tests.py  permissions, hostile clients
  pin_tests.py       unpin, budgets and priorities

usage: NAME_tests.py GROUP      (GROUP: see GROUPS at its bottom)

Environment:
  CACHECTL     the cachectl binary under test (required)
  CACHECTLD    the cachectld binary under test (required)
  KCACHESTAT   tests/tools/kcachestat (required): the kernel's own view of
               residency through cachestat(2), independent of libcachectl
  CACHECTL_TEST_TMPDIR   where to make scratch trees (a disk filesystem,
               never tmpfs, whose pages are always resident); default
               /var/tmp, then the build dir

Every test makes its own scratch dir with its own store dir
(CACHECTL_STATE_DIR) and socket dir (CACHECTL_RUNTIME_DIR), starts the
daemon itself in the foreground, and always kills it (and anything it
forked) and removes its files, cgroups and dirs, also on failure.

Expectations about residency come from the kernel (kcachestat), about the
store from our own parser of the format (cachectl-pins(5)), about the
daemon from the wire protocol (common/proto.h) spoken directly: never
from libcachectl.

Output is TAP; a group is skipped ("1..0 # SKIP") only when the machine
truly lacks something: root, a disk filesystem, the cgroup v1 memory
controller.
"""

import os
import shutil
import signal
import subprocess
import sys
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'pylib'))
from cachectl_test import (Conn, copy_for_nobody, default_bases, Fatal,  # noqa: E402
                           fstype, GiB, group_arg, ival, KCS, kcs, KiB,
                           kill_group, ksnap, MiB, NOBODY, parse_store,
                           ProtoError, roundup, run, scratch_dir, SETPRIV,
                           Skip, skip_all, Tap, wait_for)

CACHECTL = os.environ.get('CACHECTL', '')
CACHECTLD = os.environ.get('CACHECTLD', '')
REFILL_SECS = 5.0       # the acceptance bound for soft refill and inherit
# ASan's mlock() returns 0 and locks nothing: in such a build a hard pin
# holds no page, and what it should hold cannot be measured
MLOCK_WORKS = 'address' not in os.environ.get('CACHECTL_TEST_SANITIZE', '')


# ---- processes ------------------------------------------------------------------

def children(pid):
    out = []
    try:
        for tid in os.listdir('/proc/%d/task' % pid):
            with open('/proc/%d/task/%s/children' % (pid, tid)) as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def group_members(pgid):
    """Live (not zombie) processes in process group pgid."""
    out = []
    for p in os.listdir('/proc'):
        if not p.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % p) as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(')') + 2:].split()
        if fields[0] not in ('Z', 'X') and int(fields[2]) == pgid:
            out.append(int(p))
    return out


def descendants(pid):
    seen, todo = [], [pid]
    while todo:
        for c in children(todo.pop()):
            if c not in seen:
                seen.append(c)
                todo.append(c)
    return seen


# ---- the kernel's view (kcachestat) --------------------------------------------

def kcached(path):
    return ksnap([path])[0]


class Resid:
    """Residency of a set of files, as the kernel sees it."""

    def __init__(self, paths):
        self.paths = list(paths)
        self.want = [roundup(os.stat(p).st_size) for p in self.paths]
        self.total = sum(self.want)

    def now(self):
        got = ksnap(self.paths)
        cached = sum(g or 0 for g in got)
        full = all(g is not None and g >= w for g, w in zip(got, self.want))
        return cached, full, got

    def pct(self):
        c, _, _ = self.now()
        return 100.0 * c / self.total if self.total else 100.0

    def full(self):
        return self.now()[1]

    def describe(self):
        cached, full, got = self.now()
        short = [(os.path.basename(p), g, w)
                 for p, g, w in zip(self.paths, got, self.want)
                 if g is None or g < w]
        return ('%d of %d bytes resident (%.1f%%), %d of %d files short%s'
                % (cached, self.total, 100.0 * cached / max(self.total, 1),
                   len(short), len(self.paths),
                   (': ' + ', '.join('%s %s/%d' % s for s in short[:8]))
                   if short else ''))


def evict(path):
    """fsync + DONTNEED via kcachestat -e; returns the bytes still cached
    right after (0 when the eviction took)."""
    r = kcs(['-e', path])
    if r.rc != 0:
        raise RuntimeError('kcachestat -e failed: ' + r.show())
    return int(r.text.split()[0])


def write_file(path, size, block=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        left = size
        while left:
            n = min(left, 4 * MiB)
            f.write(block[:n] if block else os.urandom(n))
            left -= n
        f.flush()
        os.fsync(f.fileno())
    return path


# ---- the daemon -------------------------------------------------------------

# The head of a raw client run as another uid (python3 -c, under setpriv):
# frame() and recv() of one message; recv() says b"<closed>" at EOF.
RAW_CLIENT = r'''
import os, socket, struct, sys, time
def frame(verb, kv=()):
    b = verb
    for k, v in kv:
        b += b"\n" + k + b"=" + v
    return struct.pack("<I", len(b)) + b
def recv(s):
    buf = b""
    while True:
        if len(buf) >= 4:
            n = struct.unpack("<I", buf[:4])[0]
            if len(buf) >= 4 + n:
                return buf[4:4 + n]
        d = s.recv(65536)
        if not d:
            return b"<closed>"
        buf += d
'''

STATUS_SATISFIED = 1
STATUS_OVER_BUDGET = 2
STATUS_NO_MEMORY = 4
STATUS_ERROR = 8
STATUS_UNKNOWN = 16     # the kernel hides residency (seccomp, permission)
FLAG_RECURSIVE, FLAG_INHERIT, FLAG_HARD = 1, 2, 4
CLEANUP = []            # callables run at the end, last first


class Daemon:
    def __init__(self, E, args=(), user=None, env=None, name='cachectld', pre=(),
                 scope='--user'):
        self.E = E
        self.logpath = E.path('%s.%d.log' % (name, len(E.daemons)))
        self.log = open(self.logpath, 'wb')
        exe = E.nobody_exe(CACHECTLD) if user == 'nobody' else CACHECTLD
        cmd = list(pre) + ([] if user is None else SETPRIV) + [exe, scope, '-v'] + \
            list(args)
        self.cmd = cmd
        self.p = subprocess.Popen(cmd, env=env or E.env(user), stdin=subprocess.DEVNULL,
                                  stdout=self.log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
        self.pid = self.p.pid
        self.known = set()
        E.daemons.append(self)
        self.sock = os.path.join((env or E.env(user))['CACHECTL_RUNTIME_DIR'],
                                 'cachectld.sock')

    def alive(self):
        return self.p.poll() is None

    def track(self):
        """Remember the daemon's descendants (lock workers), to kill them
        even if the daemon dies first."""
        if self.alive():
            self.known.update(descendants(self.pid))
        return self.known

    def wait_ready(self, secs=15.0):
        """Until a connection gets HELLO; False if it exits or never does."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < secs:
            if not self.alive():
                return False
            try:
                c = Conn(self.sock, timeout=1.0)
                c.close()
                self.track()
                return True
            except (OSError, ProtoError):
                time.sleep(0.02)
        return False

    def conn(self, timeout=2.0):
        return Conn(self.sock, timeout=timeout)

    def status(self, path):
        c = self.conn()
        try:
            verb, f = c.call('STATUS', [('path', path)])
        finally:
            c.close()
        return verb, f

    def list(self):
        c = self.conn()
        try:
            verb, f = c.call('LIST', timeout=10.0)
            if verb != 'OK':
                return verb, f, []
            pins = []
            for _ in range(ival(f, 'count') or 0):
                pins.append(c.recv(10.0))
            return verb, f, pins
        finally:
            c.close()

    def ping(self, timeout=1.0):
        """New connection: HELLO then PING -> OK, each within timeout.
        Returns None if fine, else what went wrong."""
        t0 = time.monotonic()
        if not self.alive():
            return 'daemon exited with %r' % self.p.returncode
        try:
            c = Conn(self.sock, timeout=timeout)
            try:
                verb, f = c.call('PING', timeout=timeout)
            finally:
                c.close()
        except Exception as e:  # noqa: BLE001
            return 'no HELLO/PING within %.1fs: %s: %s' % (timeout, type(e).__name__, e)
        if verb != 'OK':
            return 'PING answered %r %r' % (verb, f)
        el = time.monotonic() - t0
        if el > timeout:
            return 'HELLO+PING took %.2fs' % el
        return None

    def logtext(self):
        try:
            with open(self.logpath, 'rb') as f:
                return f.read().decode('utf-8', 'replace')
        except OSError:
            return ''

    def tail(self, n=40):
        return 'daemon log (%s), last lines:\n' % self.logpath + \
            '\n'.join(self.logtext().splitlines()[-n:])

    def kill(self, sig=signal.SIGTERM):
        """Stop it and everything it forked; SIGKILL after 5 s."""
        self.track()
        if self.alive():
            try:
                self.p.send_signal(sig)
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                pass
            except ProcessLookupError:
                pass
        if self.alive():
            self.p.kill()
            self.p.wait()
        kill_group(self.pid)
        for pid in self.known:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        # SIGKILL is not death: a worker forked an instant before still
        # holds the daemon's descriptors (its listening socket) until it
        # is scheduled and exits. Wait for the whole group to be gone.
        left, _ = wait_for(lambda: not group_members(self.pid), 5, 0.01)
        self.log.close() if not self.log.closed else None
        return self.p.returncode


class Env:
    """Per-run state: scratch dir, store and socket dirs, daemons."""

    def __init__(self, work):
        self.work = work
        self.daemons = []
        self.state = self.path('state')
        self.runtime = self.path('run')
        os.makedirs(self.state, mode=0o700)
        os.makedirs(self.runtime, mode=0o700)
        self._nobody = {}
        self.nobody_base = None

    def path(self, *parts):
        return os.path.join(self.work, *parts)

    @property
    def store(self):
        return os.path.join(self.state, 'pins')

    def env(self, user=None, state=None, runtime=None):
        e = dict(os.environ)
        e.pop('CACHECTL_BACKEND', None)
        e['LC_ALL'] = 'C'
        if user == 'nobody':
            base = self.nobody_home()
            e['CACHECTL_STATE_DIR'] = state or os.path.join(base, 'state')
            e['CACHECTL_RUNTIME_DIR'] = runtime or os.path.join(base, 'run')
            e['HOME'] = base
            e.update(self._nobody.get('env', {}))
        else:
            e['CACHECTL_STATE_DIR'] = state or self.state
            e['CACHECTL_RUNTIME_DIR'] = runtime or self.runtime
            e['HOME'] = self.path('home')
        # never the real user's dirs, whatever honours what
        e['XDG_STATE_HOME'] = os.path.join(e['HOME'], 'xdg-state')
        e['XDG_RUNTIME_DIR'] = os.path.join(e['HOME'], 'xdg-run')
        return e

    def nobody_home(self):
        if not self.nobody_base:
            b = self.path('nobody')
            os.makedirs(os.path.join(b, 'state'))
            os.makedirs(os.path.join(b, 'run'))
            for d in (b, os.path.join(b, 'state'), os.path.join(b, 'run')):
                os.chown(d, NOBODY, NOBODY)
                os.chmod(d, 0o700)
            self.nobody_base = b
        return self.nobody_base

    def nobody_exe(self, exe):
        """A copy of exe uid 65534 can run if the build dir is closed to it."""
        if exe in self._nobody:
            return self._nobody[exe]
        r = run(SETPRIV + [exe, '--help'], timeout=10)
        if r.rc != 126 and b'ermission denied' not in r.err:
            self._nobody[exe] = exe
            return exe
        dst, libdir = copy_for_nobody(exe, self.path('bin'))
        self._nobody.setdefault('env', {})['LD_LIBRARY_PATH'] = libdir
        self._nobody[exe] = dst
        return dst

    def cachectl(self, args, user=None, timeout=60, env=None):
        exe = self.nobody_exe(CACHECTL) if user == 'nobody' else CACHECTL
        pre = SETPRIV if user == 'nobody' else []
        r = run(pre + [exe] + [os.fsdecode(a) for a in args],
                env=env or self.env(user), timeout=timeout)
        r.cmd = (['(as nobody)'] if user else []) + ['cachectl'] + r.cmd[len(pre) + 1:]
        return r

    def daemon(self, **kw):
        d = Daemon(self, **kw)
        return d

    def start_daemon(self, t, desc='cachectld starts and answers HELLO', **kw):
        d = self.daemon(**kw)
        if not t.ok(d.wait_ready(), desc, ' '.join(d.cmd), d.tail()):
            raise Fatal('cachectld did not start')
        return d

    def store_bytes(self, path=None):
        try:
            with open(path or self.store, 'rb') as f:
                return f.read()
        except FileNotFoundError:
            return None

    def store_pins(self, path=None):
        b = self.store_bytes(path)
        return [] if b is None else parse_store(b)

    def cleanup(self):
        for d in self.daemons:
            try:
                d.kill(signal.SIGKILL)
            except Exception:  # noqa: BLE001
                pass


def pinned_paths(pins):
    return set(os.fsdecode(p[4]) for p in pins)


def wait_satisfied(t, E, d, path, files, secs=30.0, hard=False):
    """Until the daemon says the pin is satisfied (hard: and locked all) or
    the kernel has every file 100%; returns (True/False, how)."""
    R = Resid(files)
    last = {}

    def check():
        try:
            verb, f = d.status(path)
            last.clear()
            last.update(f, verb=verb)
            fl = ival(f, 'flags') or 0
            if verb == 'OK' and fl & STATUS_SATISFIED:
                if not hard or (ival(f, 'locked') or 0) >= R.total:
                    return 'daemon says satisfied'
        except Exception as e:  # noqa: BLE001
            last['error'] = repr(e)
        if not hard and R.full():
            return 'kernel shows 100%'
        return None

    how, el = wait_for(check, secs, 0.2)
    if how:
        t.diag('%s after %.1fs (%s)' % (os.path.basename(path), el, how))
    else:
        t.diag('STATUS %s: %r' % (path, last), R.describe(), d.tail(20))
    return bool(how), how


# ===========================================================================
# 3. hard-100k: 100k small files hard-pinned, all locked, no map-count wall
# ===========================================================================

NFILES_100K = 100000


def make_small_tree(root, n, size=4 * KiB, per_dir=100):
    data = os.urandom(size)
    paths = []
    for i in range(n):
        d = os.path.join(root, 'd%04d' % (i // per_dir))
        if i % per_dir == 0:
            os.makedirs(d, exist_ok=True)
        p = os.path.join(d, 'f%03d' % (i % per_dir))
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, data)
        os.close(fd)
        paths.append(p)
    return paths


def umount(mnt):
    for _ in range(20):
        if not os.path.ismount(mnt):
            return True
        if run(['umount', mnt], timeout=60).rc == 0:
            return True
        time.sleep(0.25)
    return run(['umount', '-l', mnt], timeout=60).rc == 0


def scratch_fs(t, E, name, size=GiB, inodes=120000):
    """A directory for a big tree of small files: an ext4 image on a loop
    device in the scratch dir when we can mount one (removing 100k files
    one by one takes minutes on a busy disk; unmounting and deleting one
    image file takes a moment), else a plain directory."""
    mnt = E.path(name)
    os.makedirs(mnt)
    if os.geteuid() != 0 or not shutil.which('mkfs.ext4'):
        return mnt
    img = E.path(name + '.img')
    with open(img, 'wb') as f:
        f.truncate(size)
    r = run(['mkfs.ext4', '-q', '-F', '-N', str(inodes), '-O', '^has_journal', img])
    if r.rc == 0:
        r = run(['mount', '-o', 'loop', img, mnt])
    if r.rc != 0:
        t.diag('no loop-mounted ext4 (%s); a plain directory instead' % r.etext.strip())
        os.unlink(img)
        return mnt
    CLEANUP.append(lambda: umount(mnt) or
                   print('# WARNING: could not unmount %s' % mnt))
    t.diag('tree on a loop-mounted ext4 image at %s' % mnt)
    return mnt


def pinset(pins):
    return set(pins)


def main(groups, needs_mlock=()):
    """Run the group named on the command line; returns the exit code.
    Groups in needs_mlock measure what mlock(2) holds."""
    group = group_arg(sys.argv, groups)
    if group is None:
        return 1
    t = Tap()
    for name, exe in (('CACHECTL', CACHECTL), ('CACHECTLD', CACHECTLD),
                      ('KCACHESTAT', KCS)):
        if not exe or not os.access(exe, os.X_OK):
            t.ok(False, '%s binary present: %r' % (name, exe))
            return t.done()
    work = None
    E = None

    def on_term(signo, frame):
        # meson's timeout (SIGTERM): still kill daemons, remove cgroups,
        # mounts and files
        raise Fatal('killed by signal %d (timeout?)' % signo)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    try:
        if os.geteuid() != 0 and group in ('permissions', 'hard-pressure', 'memlock'):
            raise Skip('needs root (setpriv, cgroups)')
        if not MLOCK_WORKS and group in needs_mlock:
            raise Skip('ASan build: mlock() returns 0 without locking '
                       '(the plain build runs this)')
        work = scratch_dir('cachectl-daemon-', default_bases())
        E = Env(work)
        print('# %s: scratch dir %s (%s), cachectl %s, cachectld %s, kernel truth from %s'
              % (group, work, fstype(work), CACHECTL, CACHECTLD,
                 kcs(['-i']).text.strip()))
        groups[group](t, E)
    except Skip as e:
        return skip_all(e)
    except Fatal as e:
        t.ok(False, 'group %s ran to the end' % group, str(e))
    except Exception:  # noqa: BLE001
        t.ok(False, 'group %s ran to the end' % group, traceback.format_exc())
    finally:
        c0 = time.monotonic()
        if E:
            E.cleanup()
        c1 = time.monotonic()
        for fn in reversed(CLEANUP):
            try:
                fn()
            except Exception:  # noqa: BLE001
                t.diag(traceback.format_exc())
        c2 = time.monotonic()
        if work:
            for dp, dns, _ in os.walk(work):
                for dn in dns:
                    try:
                        os.chmod(os.path.join(dp, dn), 0o755)
                    except OSError:
                        pass
            shutil.rmtree(work, ignore_errors=True)
        print('# cleanup: daemons %.1fs, cgroups and mounts %.1fs, files %.1fs'
              % (c1 - c0, c2 - c1, time.monotonic() - c2))
    return t.done()
