#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Run slowfs (tests/slowfs/slowfs.c) from tests and benchmarks.

    from slowfs import SlowFS
    with SlowFS(backing, mnt, latency=1, bw='200M', exe=path) as fs:
        ... use mnt ...
        fs.set_latency(5); fs.gone('block'); fs.back(); fs.stats()

The context manager always unmounts on exit, also when the body raises:
`back` first if the mount was left gone, then `fusermount3 -u`, then
`fusermount3 -uz` (lazy) if the mount is busy, then the process is
stopped, and it fails loudly if a slowfs mount is still there.
cleanup_stale(prefix) removes mounts left behind by a crashed run.

The executable is exe=, else $SLOWFS (set by meson for the slowfs suite).

Stdlib only. `python3 slowfs.py --selftest BACKING MOUNTPOINT` mounts,
prints the stats and unmounts.
"""

import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time

__all__ = ['SlowFS', 'SlowFSError', 'cleanup_stale', 'slowfs_mounts',
           'is_mounted', 'evict']

FUSERMOUNT = shutil.which('fusermount3') or 'fusermount3'


class SlowFSError(RuntimeError):
    pass


def _unescape(s):
    """mountinfo escapes space, tab, newline and backslash as \\ooo."""
    out = []
    i = 0
    while i < len(s):
        code = s[i + 1:i + 4]
        if s[i] == '\\' and len(code) == 3 and code.isdigit():
            out.append(chr(int(code, 8)))
            i += 4
        else:
            out.append(s[i])
            i += 1
    return ''.join(out)


def slowfs_mounts(prefix=None):
    """Mount points of fuse.slowfs mounts, optionally only under prefix."""
    res = []
    if prefix is not None:
        prefix = os.path.realpath(prefix).rstrip('/') + '/'
    with open('/proc/self/mountinfo') as f:
        for line in f:
            pre, _, post = line.partition(' - ')
            fstype = post.split(' ', 1)[0]
            if fstype != 'fuse.slowfs':
                continue
            mnt = _unescape(pre.split(' ')[4])
            if prefix is None or (mnt + '/').startswith(prefix):
                res.append(mnt)
    return res


def is_mounted(mountpoint):
    """Whether a slowfs mount is at exactly this path."""
    # realpath() would stat the mount point itself, which hangs on a
    # blocked mount: resolve the parent only
    parent, name = os.path.split(os.path.abspath(mountpoint).rstrip('/'))
    path = os.path.join(os.path.realpath(parent), name)
    return path in slowfs_mounts()


def _fusermount(mountpoint, lazy=False):
    cmd = [FUSERMOUNT, '-uz' if lazy else '-u', mountpoint]
    try:
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=20)
    except subprocess.TimeoutExpired:
        return False, 'timed out'
    return r.returncode == 0, r.stdout.decode(errors='replace').strip()


def cleanup_stale(prefix):
    """Lazily unmount every fuse.slowfs mount under prefix (left by a
    crashed run); returns the mount points it unmounted."""
    done = []
    # deepest first, so nested mounts go before their parents
    for mnt in sorted(slowfs_mounts(prefix), key=len, reverse=True):
        ok, _ = _fusermount(mnt, lazy=True)
        if not ok:
            subprocess.run(['umount', '-l', mnt], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        done.append(mnt)
    return done


def evict(path):
    """Drop a file's clean pages from the page cache (through the path
    given: evict through the mount to make the next read go to slowfs)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _fmt_num(v):
    return repr(float(v)) if isinstance(v, float) else str(v)


def _parse_value(v):
    for conv in (int, float):
        try:
            return conv(v)
        except ValueError:
            pass
    return v


class SlowFS:
    """A running slowfs mount: a context manager.

    latency, jitter: ms (float); bw: bytes/s as a number or a string like
    '200M' (None = no cap); eio: globs; gone_timeout: s; threads: max
    workers; options: extra -o options; exe: the slowfs binary.
    """

    def __init__(self, backing, mountpoint, latency=0, jitter=0, bw=None,
                 eio=(), exe=None, gone_timeout=None, threads=None,
                 options=None, ready_timeout=10.0):
        self.backing = os.path.abspath(backing)
        self.mountpoint = os.path.abspath(mountpoint)
        self.exe = exe or os.environ.get('SLOWFS')
        if not self.exe:
            raise SlowFSError('no slowfs executable: pass exe= or set $SLOWFS')
        self.args = []
        if latency:
            self.args += ['--latency', _fmt_num(latency)]
        if jitter:
            self.args += ['--jitter', _fmt_num(jitter)]
        if bw is not None:
            self.args += ['--bw', str(bw)]
        for g in ([eio] if isinstance(eio, str) else eio):
            self.args += ['--eio', g]
        if gone_timeout is not None:
            self.args += ['--gone-timeout', _fmt_num(gone_timeout)]
        if threads is not None:
            self.args += ['--threads', str(threads)]
        if options:
            self.args += ['-o', options]
        self.ready_timeout = ready_timeout
        self.proc = None
        self.control_path = None
        self._ctl_dir = None
        self._err = None
        self._gone = False

    # -- lifecycle -----------------------------------------------------

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        os.makedirs(self.mountpoint, exist_ok=True)
        # sun_path holds 108 bytes: keep the socket in a short private dir
        self._ctl_dir = tempfile.mkdtemp(prefix='slowfs-')
        self.control_path = os.path.join(self._ctl_dir, 'ctl')
        self._err = tempfile.TemporaryFile()
        rfd, wfd = os.pipe()
        cmd = [self.exe] + self.args + [
            '--control', self.control_path, '--ready-fd', str(wfd),
            self.backing, self.mountpoint]
        try:
            self.proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=self._err,
                stderr=self._err, pass_fds=(wfd,), start_new_session=True)
        except BaseException:
            os.close(rfd)
            os.close(wfd)
            self._remove_ctl_dir()
            raise
        os.close(wfd)
        try:
            got = self._wait_ready(rfd)
        finally:
            os.close(rfd)
        if got != b'ready\n':
            why = 'exited with %s' % self.proc.poll() \
                if self.proc.poll() is not None else \
                'not ready after %gs' % self.ready_timeout
            self.stop(check=False)
            raise SlowFSError('slowfs %s %s: %s; stderr:\n%s' % (
                self.backing, self.mountpoint, why, self.stderr()))

    def _wait_ready(self, rfd):
        deadline = time.monotonic() + self.ready_timeout
        got = b''
        while not got.endswith(b'\n'):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            r, _, _ = select.select([rfd], [], [], left)
            if not r:
                break
            chunk = os.read(rfd, 64)
            if not chunk:
                break
            got += chunk
        return got

    def stderr(self):
        """What slowfs wrote to stdout/stderr so far."""
        if not self._err:
            return ''
        self._err.seek(0)
        return self._err.read().decode(errors='replace')

    def stop(self, check=True):
        """Unmount and stop slowfs; idempotent. With check, raise if a
        slowfs mount is left at the mount point."""
        if self.proc is None:
            return
        try:
            if self._gone and self.proc.poll() is None:
                try:
                    self.back()
                except (OSError, SlowFSError):
                    pass
            clean = True
            if is_mounted(self.mountpoint):
                clean, _ = _fusermount(self.mountpoint)
                if not clean:
                    # busy (an open file, a cwd): detach it now; slowfs is
                    # stopped below, which fails what is still in flight
                    _fusermount(self.mountpoint, lazy=True)
            # a clean unmount ends slowfs by itself; after a lazy one it
            # would serve the open files until they are closed
            try:
                self.proc.wait(timeout=5 if clean else 0)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            # killed before it could unmount: the mount is dead, detach it
            if is_mounted(self.mountpoint):
                _fusermount(self.mountpoint, lazy=True)
        finally:
            self._remove_ctl_dir()
            self._gone = False
        if check and is_mounted(self.mountpoint):
            raise AssertionError('slowfs mount still present at %s' %
                                 self.mountpoint)

    def _remove_ctl_dir(self):
        if self._ctl_dir:
            shutil.rmtree(self._ctl_dir, ignore_errors=True)
            self._ctl_dir = None

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    # -- control -------------------------------------------------------

    def control(self, cmd, timeout=10.0):
        """Sends one command line; returns the answer without the final
        "ok" line (empty for most commands). Raises SlowFSError on
        "error: ..."."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(self.control_path)
            s.sendall(cmd.encode() + b'\n')
            buf = b''
            while True:
                if buf.endswith(b'ok\n') and (buf == b'ok\n' or
                                              buf.endswith(b'\nok\n')):
                    return buf[:-3].decode().strip()
                lines = buf.split(b'\n')
                if any(line.startswith(b'error: ') for line in lines[:-1]):
                    raise SlowFSError('slowfs %r: %s' % (
                        cmd, buf.decode(errors='replace').strip()))
                chunk = s.recv(4096)
                if not chunk:
                    raise SlowFSError('slowfs %r: connection closed after %r'
                                      % (cmd, buf))
                buf += chunk

    def gone(self, mode):
        """'enotconn': every request fails; 'block': requests hang until
        back() or --gone-timeout."""
        self.control('gone ' + mode)
        self._gone = True

    def back(self):
        self.control('back')
        self._gone = False

    def set_latency(self, ms):
        self.control('latency ' + _fmt_num(ms))

    def set_jitter(self, ms):
        self.control('jitter ' + _fmt_num(ms))

    def set_bw(self, rate):
        """bytes/s or a string like '200M'; 0 or None = no cap."""
        self.control('bw %s' % (rate or 0))

    def add_eio(self, glob):
        self.control('eio ' + glob)

    def clear_eio(self):
        self.control('eio-clear')

    def stats(self):
        """Counters as a dict: ops, reads, bytes_read, eio, interrupted,
        inflight, max_inflight, max_read_size and the current settings."""
        text = self.control('stats')
        res = {}
        for item in text.split():
            k, _, v = item.partition('=')
            res[k] = _parse_value(v)
        return res

    def stats_reset(self):
        self.control('stats-reset')


def _selftest(argv):
    if len(argv) != 2:
        print('usage: slowfs.py --selftest BACKING MOUNTPOINT', file=sys.stderr)
        return 2
    with SlowFS(argv[0], argv[1], latency=1) as fs:
        names = os.listdir(argv[1])
        print('%d entries, stats: %s' % (len(names), fs.stats()))
    return 0


if __name__ == '__main__':
    if len(sys.argv) > 1 and sys.argv[1] == '--selftest':
        sys.exit(_selftest(sys.argv[2:]))
    print(__doc__)
    sys.exit(2)
