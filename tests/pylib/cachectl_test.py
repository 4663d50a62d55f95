# SPDX-License-Identifier: LGPL-2.1-or-later
"""What the Python test suites share: TAP output, running programs, the
kernel's view of residency, and our own readers of the pin store and of
cachectld's wire protocol.

The oracles here never ask libcachectl: residency comes from the kernel
(cachestat(2) through tests/tools/kcachestat or directly by ctypes), the
store from a parser of the format written from its specification
(cachectl-pins(5)), the daemon from the wire protocol spoken directly
(common/proto.h).

A test file imports it with tests/pylib on sys.path:

    sys.path.insert(0, os.path.join(os.path.dirname(
        os.path.abspath(__file__)), '..', 'pylib'))
    from cachectl_test import Tap, run, ...
"""

import ctypes
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
PAGE = os.sysconf('SC_PAGESIZE')
NOBODY = 65534
SETPRIV = ['setpriv', '--reuid=%d' % NOBODY, '--regid=%d' % NOBODY,
           '--clear-groups']
KCS = os.environ.get('KCACHESTAT', '')


class Skip(Exception):
    """The machine lacks what the group needs: report it skipped."""


class Fatal(Exception):
    """A precondition failed: the rest of the group cannot mean anything."""


# ---- TAP ------------------------------------------------------------------

class Tap:
    """TAP on stdout, the plan at the end. meson (protocol 'tap') reports
    every line; the exit code only says whether the program itself ran."""

    def __init__(self):
        self.n = 0
        self.failed = []

    def diag(self, *lines):
        for text in lines:
            for ln in str(text).splitlines() or ['']:
                print('#', ln)
        sys.stdout.flush()

    def ok(self, cond, desc, *diag):
        self.n += 1
        print('%sok %d - %s' % ('' if cond else 'not ', self.n,
                                _one_line(desc)))
        if not cond:
            self.failed.append(desc)
            self.diag(*diag)
        sys.stdout.flush()
        return bool(cond)

    def eq(self, got, want, desc, *diag):
        return self.ok(got == want, desc,
                       'expected: %r' % (want,), 'got:      %r' % (got,), *diag)

    def between(self, got, lo, hi, desc):
        return self.ok(lo <= got <= hi, '%s (%.4g in [%.4g, %.4g])' %
                       (desc, got, lo, hi))

    def skip(self, desc, why):
        self.n += 1
        print('ok %d - %s # SKIP %s' % (self.n, _one_line(desc), why))
        sys.stdout.flush()

    def done(self):
        """Print the plan and a summary; returns the exit code."""
        print('1..%d' % self.n)
        if self.failed:
            print('# FAILED %d of %d: %s' % (len(self.failed), self.n,
                                             '; '.join(self.failed[:20])))
            return 1
        return 0


def _one_line(desc):
    # a newline would end the TAP line
    return str(desc).replace('\n', ' ')


def skip_all(why):
    """The whole group is skipped: a TAP plan of 0 with the reason."""
    print('1..0 # SKIP %s' % why)
    sys.stdout.flush()
    return 0


def group_arg(argv, groups):
    """The GROUP argument of a suite's command line, or None (usage
    printed) when there is none or an unknown one."""
    if len(argv) != 2 or argv[1] not in groups:
        print('usage: %s GROUP\ngroups: %s' % (os.path.basename(argv[0]),
                                              ' '.join(groups)),
              file=sys.stderr)
        return None
    return argv[1]


# ---- running things ---------------------------------------------------------

class Res:
    def __init__(self, cmd, rc, out, err, elapsed, timed_out=False, trace=''):
        self.cmd, self.rc, self.out, self.err = cmd, rc, out, err
        self.elapsed, self.timed_out, self.trace = elapsed, timed_out, trace

    @property
    def text(self):
        return self.out.decode('utf-8', 'surrogateescape')

    @property
    def etext(self):
        return self.err.decode('utf-8', 'surrogateescape')

    def show(self):
        c = ' '.join(repr(a) if (not a or set(a) & set(' \n\t\'"\\')) else a
                     for a in self.cmd)
        s = ['$ ' + c, 'rc=%s elapsed=%.3fs%s' % (
            self.rc, self.elapsed, ' TIMED OUT' if self.timed_out else '')]
        if self.out:
            s.append('stdout: ' + repr(self.out[:3000]))
        if self.err:
            s.append('stderr: ' + repr(self.err[:3000]))
        return '\n'.join(s)


def run(cmd, env=None, timeout=60, input=None, cwd=None):
    """Run in a new session so a hung child (e.g. blocked on a FIFO) can be
    killed with its whole process group."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, env=env, cwd=cwd,
                         stdin=subprocess.PIPE if input is not None
                         else subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         start_new_session=True)
    timed_out = False
    try:
        out, err = p.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        kill_group(p.pid)
        out, err = p.communicate()
    return Res([os.fsdecode(a) for a in cmd], p.returncode, out, err,
               time.monotonic() - t0, timed_out)


def kill_group(pgid):
    """SIGKILL a process group this script created (start_new_session)."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def copy_for_nobody(exe, bindir):
    """Copy exe and the libcachectl it loads into bindir, all readable and
    executable by uid 65534 (for when the build dir is closed to it).
    Returns the copy's path and the LD_LIBRARY_PATH that finds the library."""
    os.makedirs(bindir, exist_ok=True)
    os.chmod(bindir, 0o755)
    dst = os.path.join(bindir, os.path.basename(exe))
    shutil.copy2(exe, dst)
    os.chmod(dst, 0o755)
    ldd = run(['ldd', exe], timeout=10)
    for m in re.finditer(r'=> (\S*libcachectl\S*)', ldd.text):
        lib = os.path.join(bindir, os.path.basename(m.group(1)))
        shutil.copy2(m.group(1), lib)
        os.chmod(lib, 0o755)
    return dst, bindir


def wait_for(pred, secs, step=0.1):
    """Poll pred() until it returns something true or secs pass; returns
    (value, seconds waited)."""
    t0 = time.monotonic()
    while True:
        v = pred()
        if v or time.monotonic() - t0 > secs:
            return v, time.monotonic() - t0
        time.sleep(step)


def roundup(n, to=PAGE):
    return (n + to - 1) // to * to


# ---- scratch space ------------------------------------------------------------

def fstype(path):
    """The filesystem type statfs(2) reports, as stat -f names it."""
    r = run(['stat', '-f', '-c', '%T', path], timeout=10)
    return r.text.strip() if r.rc == 0 else ''


# whose pages are always resident, or that are no disk of their own
NOT_A_DISK = ('tmpfs', 'ramfs', 'overlayfs', 'squashfs', 'UNKNOWN', '')


def scratch_dir(prefix, bases):
    """A new directory on the first of bases that is a disk filesystem
    (residency on tmpfs means nothing); None entries are ignored."""
    seen = []
    for base in bases:
        if not base or not os.path.isdir(base):
            continue
        fs = fstype(base)
        seen.append('%s (%s)' % (base, fs))
        if fs in NOT_A_DISK:
            continue
        d = tempfile.mkdtemp(prefix=prefix, dir=base)
        os.chmod(d, 0o755)
        return d
    raise Skip('no disk filesystem for scratch files, only: ' + ', '.join(seen))


def default_bases():
    return [os.environ.get('CACHECTL_TEST_TMPDIR'), '/var/tmp',
            os.environ.get('CACHECTL_TEST_BUILD_ROOT'),
            os.environ.get('MESON_BUILD_ROOT')]


def main_in_scratch(argv, groups, prefix):
    """The main() of a suite whose groups are fn(tap, scratch_dir): runs
    the group named on the command line in a new scratch directory (on a
    disk filesystem, see scratch_dir()), removed afterwards."""
    group = group_arg(argv, groups)
    if group is None:
        return 1
    t = Tap()
    try:
        work = scratch_dir(prefix, default_bases())
    except Skip as e:
        return skip_all(str(e))
    try:
        groups[group](t, work)
    except Skip as e:
        return skip_all(str(e))
    except Exception:  # noqa: BLE001
        t.ok(False, 'group %s ran to the end' % group, traceback.format_exc())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return t.done()


# ---- the kernel's view --------------------------------------------------------
#
# kcachestat (tests/tools/kcachestat.c) calls cachestat(2), or mincore(2) as
# root where the kernel has no cachestat; it can also run as nobody, evict
# and list missing pages. cachestat() below asks the kernel from this
# process, for many files at once.

def kcs(args, user=None, timeout=120):
    cmd = ([] if user is None else SETPRIV) + [KCS] + [os.fsdecode(a) for a in args]
    return run(cmd, timeout=timeout)


def kstat(path):
    """Kernel's cachestat for the whole file: dict of byte counts (only
    'cached' on kernels without cachestat, where kcachestat uses mincore as
    root, which is truthful; the others are None)."""
    r = kcs([path])
    if r.rc != 0:
        raise RuntimeError('kcachestat %r failed: %s' % (path, r.show()))
    v = [None if x == '-' else int(x) for x in r.text.split()]
    return dict(zip(['cached', 'dirty', 'writeback', 'evicted',
                     'recently_evicted'], v))


def ksnap(paths):
    """Cached bytes of each path by cachestat(2) (kcachestat's several-file
    mode), None where the kernel would not say."""
    out = []
    paths = list(paths)
    for i in range(0, len(paths), 2000):
        chunk = paths[i:i + 2000]
        args = chunk + ([chunk[0]] if len(chunk) == 1 else [])
        r = kcs(args)
        if r.rc != 0:
            raise RuntimeError('kcachestat failed: ' + r.show())
        vals = r.text.split('\n')[:len(chunk)]
        out += [int(v) if v.strip().isdigit() else None for v in vals]
    return out


def kmissing(path):
    return kcs(['-p', path]).text.strip()


class _CacheStat(ctypes.Structure):
    _fields_ = [(n, ctypes.c_uint64) for n in
                ('cache', 'dirty', 'writeback', 'evicted', 'recently_evicted')]


class _Range(ctypes.Structure):
    _fields_ = [('off', ctypes.c_uint64), ('len', ctypes.c_uint64)]


_libc = ctypes.CDLL(None, use_errno=True)
_NR_CACHESTAT = 451


def cachestat(paths):
    """(cached, evicted) bytes of each path by cachestat(2), from this
    process (the same word as kcachestat, without a process per call)."""
    out = []
    for p in paths:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK)
        try:
            cs, rg = _CacheStat(), _Range(0, 0)
            if _libc.syscall(_NR_CACHESTAT, fd, ctypes.byref(rg),
                             ctypes.byref(cs), 0) < 0:
                raise OSError(ctypes.get_errno(), 'cachestat ' + p)
            out.append((cs.cache * PAGE, cs.evicted * PAGE))
        finally:
            os.close(fd)
    return out


_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                       ctypes.c_int, ctypes.c_int, ctypes.c_long]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]


def kpages(path):
    """The kernel's residency of each page of path, by mincore(2) over a
    mapping from this process (truthful for root or the file's owner): a
    bytes object, 1 for a resident page, 0 for one that is not."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        size = os.fstat(fd).st_size
        n = (size + PAGE - 1) // PAGE
        if not n:
            return b''
        m = _libc.mmap(None, size, 0, 1, fd, 0)     # PROT_NONE, MAP_SHARED
        if m in (None, ctypes.c_void_p(-1).value):
            raise OSError(ctypes.get_errno(), 'mmap ' + path)
        try:
            vec = ctypes.create_string_buffer(n)
            if _libc.mincore(m, size, vec) < 0:
                raise OSError(ctypes.get_errno(), 'mincore ' + path)
            return bytes(b & 1 for b in vec.raw[:n])
        finally:
            _libc.munmap(m, size)
    finally:
        os.close(fd)


def kread_exact(path, ranges):
    """Read exactly these (offset, length) ranges of path into the page
    cache: POSIX_FADV_RANDOM first, so read(2) does no readahead."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
        for off, length in ranges:
            while length > 0:
                b = os.pread(fd, min(length, 1 << 20), off)
                if not b:
                    break
                off += len(b)
                length -= len(b)
    finally:
        os.close(fd)


# ---- the pin store, parsed independently --------------------------------------
#
# From cachectl-pins(5):
#   cachectl-pins 1
#   pin soft r- 0 0 /home/me/work
#   pin hard ri 10 1073741824 /data/set
#   end 2 8c1f0a55e3a9d4b2
# The last line counts the pins and carries a 64-bit FNV-1a hash (16 hex
# digits) of every byte before it. Paths escape bytes < 0x20, 0x7f and '\'
# as \xHH.

class StoreError(Exception):
    pass


def fnv1a64(data):
    h = 0xcbf29ce484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001b3) & 0xffffffffffffffff
    return h


def parse_store(data):
    """bytes -> list of (mode, opts, priority, budget, path bytes); raises
    StoreError for anything that is not a whole, valid store."""
    if not data.endswith(b'\n'):
        raise StoreError('does not end with a newline (cut short?)')
    lines = data[:-1].split(b'\n')
    if len(lines) < 2:
        raise StoreError('fewer than two lines')
    if lines[0] != b'cachectl-pins 1':
        raise StoreError('bad header %r' % lines[0][:40])
    m = re.fullmatch(rb'end (\d+) ([0-9a-f]{16})', lines[-1])
    if not m:
        raise StoreError('bad end line %r' % lines[-1][:60])
    body = data[:len(data) - len(lines[-1]) - 1]
    if fnv1a64(body) != int(m.group(2), 16):
        raise StoreError('hash mismatch: %016x in file, %016x computed'
                         % (int(m.group(2), 16), fnv1a64(body)))
    pins = []
    for ln in lines[1:-1]:
        pm = re.fullmatch(rb'pin (soft|hard) ([r-][i-]) (-?\d+) (\d+) (/.*)', ln,
                          re.S)
        if not pm:
            raise StoreError('bad pin line %r' % ln[:80])
        path = pm.group(5)
        if re.search(rb'\\(?!x[0-9a-fA-F]{2})', path):
            raise StoreError('bad escape in %r' % path)
        path = re.sub(rb'\\x([0-9a-fA-F]{2})',
                      lambda x: bytes([int(x.group(1), 16)]), path)
        pins.append((pm.group(1).decode(), pm.group(2).decode(),
                     int(pm.group(3)), int(pm.group(4)), path))
    if len(pins) != int(m.group(1)):
        raise StoreError('end line counts %s pins, file has %d'
                         % (m.group(1).decode(), len(pins)))
    return pins


def make_store(pins, count=None, header=b'cachectl-pins 1'):
    """Our own writer (for corrupt-store variants with valid hashes)."""
    body = header + b'\n'
    for mode, opts, prio, budget, path in pins:
        body += b'pin %s %s %d %d %s\n' % (mode.encode(), opts.encode(), prio,
                                           budget, path)
    n = len(pins) if count is None else count
    return body + b'end %d %016x\n' % (n, fnv1a64(body))


# ---- the daemon protocol, spoken directly --------------------------------------

def esc(v):
    if isinstance(v, str):
        v = os.fsencode(v)
    return b''.join(b'\\x%02x' % c if c < 0x20 or c == 0x7f or c == 0x5c
                    else bytes([c]) for c in v)


def frame(verb, fields=()):
    body = verb.encode() if isinstance(verb, str) else verb
    for k, v in fields:
        body += b'\n' + k.encode() + b'=' + esc(v)
    return struct.pack('<I', len(body)) + body


class ProtoError(Exception):
    pass


class Conn:
    """A raw client connection. recv() returns (verb, {key: value bytes})."""

    def __init__(self, sock_path, hello=True, timeout=1.0):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(sock_path)
        self.buf = b''
        self.hello = None
        if hello:
            self.hello = self.recv(timeout)
            if self.hello[0] != 'HELLO':
                raise ProtoError('first message is %r, not HELLO' % (self.hello,))

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass

    def send_raw(self, data, fds=None):
        if fds:
            socket.send_fds(self.s, [data], fds)
        else:
            self.s.sendall(data)

    def send(self, verb, fields=(), fd=None):
        self.send_raw(frame(verb, fields), [fd] if fd is not None else None)

    def recv(self, timeout=1.0):
        end = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 4:
                n = struct.unpack('<I', self.buf[:4])[0]
                if n > 64 * KiB:
                    raise ProtoError('daemon sent a %d-byte frame' % n)
                if len(self.buf) >= 4 + n:
                    body, self.buf = self.buf[4:4 + n], self.buf[4 + n:]
                    lines = body.split(b'\n')
                    fields = {}
                    for ln in lines[1:]:
                        k, _, v = ln.partition(b'=')
                        fields[k.decode('ascii', 'replace')] = re.sub(
                            rb'\\x([0-9a-fA-F]{2})',
                            lambda x: bytes([int(x.group(1), 16)]), v)
                    return lines[0].decode('ascii', 'replace'), fields
            left = end - time.monotonic()
            if left <= 0:
                raise socket.timeout('no whole message within %.1fs' % timeout)
            self.s.settimeout(left)
            d = self.s.recv(65536)
            if not d:
                raise ProtoError('connection closed by the daemon')
            self.buf += d

    def call(self, verb, fields=(), fd=None, timeout=5.0):
        self.send(verb, fields, fd)
        return self.recv(timeout)


def ival(fields, key):
    try:
        return int(fields[key])
    except (KeyError, ValueError):
        return None
