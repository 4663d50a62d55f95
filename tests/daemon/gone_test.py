#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""cachectld when the filesystem under a pin goes away, and comes back.

usage: gone_test.py

A soft pin of 40 files on slowfs (tests/slowfs, a FUSE filesystem whose
server can be made to fail every request with ENOTCONN, as a dead NFS
server or FUSE daemon does). While the server is gone the pin reports
ERROR, the daemon keeps answering, and its log says so once for the pin,
not once per file; when the server is back the pin is satisfied again and
the log says that too. The truth is the wire protocol spoken directly
(STATUS, PING) and the daemon's log.

Environment: CACHECTLD, CACHECTL, SLOWFS; CACHECTL_TEST_TMPDIR (a disk
filesystem; default /var/tmp). Output is TAP (a plan of 0 without
/dev/fuse or slowfs).
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'pylib'))
sys.path.insert(0, os.path.join(HERE, '..', 'slowfs'))
from cachectl_test import Conn, ProtoError, Tap, skip_all, wait_for  # noqa: E402

CACHECTLD = os.environ.get('CACHECTLD', '')
CACHECTL = os.environ.get('CACHECTL', '')
SLOWFS = os.environ.get('SLOWFS', '')
SATISFIED, ERROR = 1 << 0, 1 << 3
NFILES = 40


def status(sock, path):
    """The pin's status flags from STATUS, or None."""
    try:
        c = Conn(sock, timeout=5.0)
        verb, f = c.call('STATUS', [('path', path)], timeout=10.0)
        c.close()
    except (OSError, ProtoError):
        return None
    return int(f['flags']) if verb == 'OK' and 'flags' in f else None


def pings(sock):
    try:
        c = Conn(sock, timeout=2.0)
        ok = c.call('PING', timeout=2.0)[0] == 'OK'
        c.close()
        return ok
    except (OSError, ProtoError):
        return False


def main():
    t = Tap()
    for name, exe in (('CACHECTLD', CACHECTLD), ('CACHECTL', CACHECTL)):
        if not exe or not os.access(exe, os.X_OK):
            t.ok(False, '%s binary present: %r' % (name, exe))
            return t.done()
    if not SLOWFS or not os.access(SLOWFS, os.X_OK) or \
            not os.path.exists('/dev/fuse'):
        return skip_all('no /dev/fuse or no slowfs')
    import slowfs

    base = os.environ.get('CACHECTL_TEST_TMPDIR') or '/var/tmp'
    work = tempfile.mkdtemp(prefix='cachectl-gone-', dir=base)
    back, mnt = os.path.join(work, 'back'), os.path.join(work, 'mnt')
    env = dict(os.environ, CACHECTL_STATE_DIR=os.path.join(work, 'state'),
               CACHECTL_RUNTIME_DIR=os.path.join(work, 'run'))
    sock = os.path.join(work, 'run', 'cachectld.sock')
    for d in (back, mnt, env['CACHECTL_STATE_DIR'],
              env['CACHECTL_RUNTIME_DIR']):
        os.makedirs(d)
    for i in range(NFILES):
        with open(os.path.join(back, 'f%02d' % i), 'wb') as f:
            f.write(os.urandom(64 * 1024))
    logpath = os.path.join(work, 'cachectld.log')
    daemon = None
    try:
        with slowfs.SlowFS(back, mnt, exe=SLOWFS) as fs:
            with open(logpath, 'wb') as log:
                daemon = subprocess.Popen([CACHECTLD, '--user', '-v'],
                                          env=env, stderr=log,
                                          start_new_session=True)
            wait_for(lambda: os.path.exists(sock), 10)
            r = subprocess.run([CACHECTL, 'pin', '-r', mnt], env=env,
                               capture_output=True, text=True, timeout=60)
            t.ok(r.returncode == 0, 'pin -r on slowfs', r.stderr)
            t.ok(wait_for(lambda: (status(sock, mnt) or 0) & SATISFIED, 15)[0],
                 'the pin is satisfied while the server answers')

            fs.gone('enotconn')
            gone = wait_for(lambda: (status(sock, mnt) or 0) & ERROR, 15)[0]
            t.ok(gone, 'server gone: the pin reports ERROR')
            t.ok(pings(sock), 'server gone: the daemon still answers PING')
            time.sleep(1.5)	# a few more rounds of checks
            text = open(logpath, errors='replace').read()
            said = [ln for ln in text.splitlines()
                    if 'not connected' in ln]
            t.ok(len(said) == 1 and 'filesystem is gone' in said[0] and
                 mnt in said[0],
                 'server gone: one log line for the pin, naming it '
                 '(%d lines about ENOTCONN)' % len(said), *said[:5])
            t.ok(not any(mnt + '/f' in ln for ln in said),
                 'server gone: no line per file', *said[:5])

            fs.back()
            t.ok(wait_for(lambda: (status(sock, mnt) or 0) & SATISFIED, 15)[0],
                 'server back: the pin is satisfied again')
            text = open(logpath, errors='replace').read()
            t.ok('its filesystem answers again' in text,
                 'server back: the log says so', text[-2000:])
            os.killpg(daemon.pid, signal.SIGTERM)
            daemon.wait(timeout=10)
            daemon = None
    finally:
        if daemon:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait()
        left = slowfs.slowfs_mounts(work)
        t.ok(not left, 'no slowfs mount left behind', left)
        if left:
            slowfs.cleanup_stale(work)
        if t.failed and os.path.exists(logpath):
            t.diag(open(logpath, errors='replace').read()[-3000:])
        shutil.rmtree(work, ignore_errors=True)
    return t.done()


if __name__ == '__main__':
    sys.exit(main())
