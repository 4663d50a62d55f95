#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""cachectld started by socket activation, as systemd does it.

usage: socket_activation.py

systemd-socket-activate(1) listens, and on the first connection execs
cachectld with the sockets passed as LISTEN_FDS/LISTEN_FDNAMES, exactly as
cachectld.socket does. The daemon must serve the socket named for it
(cachectld.socket, the unit's name), wherever it is among the descriptors,
close the others, and create no socket of its own. The truth is the wire
protocol spoken directly (common/proto.h) and the file system.

Environment: CACHECTLD, the binary under test. Output is TAP (a plan
of 0 when systemd-socket-activate is missing).
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'pylib'))
from cachectl_test import Conn, ProtoError, Tap, skip_all  # noqa: E402

CACHECTLD = os.environ.get('CACHECTLD', '')


def connect(path, timeout=5.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    return s


def wait_path(path, secs=5.0):
    end = time.monotonic() + secs
    while not os.path.exists(path) and time.monotonic() < end:
        time.sleep(0.02)
    return os.path.exists(path)


def activate(work, socks, names):
    """Start systemd-socket-activate on @socks; returns (proc, log path)."""
    env = dict(os.environ, CACHECTL_STATE_DIR=os.path.join(work, 'state'),
               CACHECTL_RUNTIME_DIR=os.path.join(work, 'run'))
    cmd = ['systemd-socket-activate']
    for s in socks:
        cmd += ['-l', s]
    if names:
        cmd += ['--fdname=' + ':'.join(names)]
    # it passes on no environment unless told
    cmd += ['-E', 'CACHECTL_STATE_DIR', '-E', 'CACHECTL_RUNTIME_DIR',
            CACHECTLD, '--user', '-v']
    log = os.path.join(work, 'cachectld.log')
    with open(log, 'wb') as f:
        p = subprocess.Popen(cmd, env=env, stdout=f, stderr=subprocess.STDOUT,
                             start_new_session=True)
    for s in socks:
        wait_path(s)
    return p, log


def stop(p):
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    p.wait()


def serves(path):
    """HELLO on connect and OK to PING, or the reason not."""
    try:
        c = Conn(path, timeout=5.0)
        pong = c.call('PING')
        c.close()
    except (OSError, ProtoError) as e:
        return '%s: %s' % (type(e).__name__, e)
    return 'yes' if pong[0] == 'OK' else 'answered %r' % (pong,)


def case(t, work, desc, nsocks, names, want):
    """Sockets s0..s(n-1) with @names; only s@want must be served."""
    d = tempfile.mkdtemp(dir=work)
    os.makedirs(os.path.join(d, 'state'))
    os.makedirs(os.path.join(d, 'run'))
    socks = [os.path.join(d, 's%d' % i) for i in range(nsocks)]
    p, log = activate(d, socks, names)
    try:
        # the first connection makes it exec the daemon
        got = serves(socks[want])
        logtext = open(log, errors='replace').read()
        t.ok(got == 'yes', '%s: the daemon answers on socket %d' % (desc, want),
           got, logtext)
        for i, s in enumerate(socks):
            if i == want:
                continue
            try:
                connect(s, timeout=1.0).close()
                refused = False
            except OSError:
                refused = True
            t.ok(refused, '%s: socket %d (%s) was closed, not served'
               % (desc, i, names[i] if names else 'unnamed'), logtext)
        t.ok(not os.path.exists(os.path.join(d, 'run', 'cachectld.sock')),
           '%s: no socket of its own next to the passed one' % desc)
        t.ok(p.poll() is None, '%s: the daemon keeps running' % desc, logtext)
    finally:
        stop(p)


def main():
    t = Tap()
    if not CACHECTLD or not os.access(CACHECTLD, os.X_OK):
        t.ok(False, 'CACHECTLD binary present: %r' % CACHECTLD)
        return t.done()
    if not shutil.which('systemd-socket-activate'):
        return skip_all('no systemd-socket-activate')
    work = tempfile.mkdtemp(prefix='cachectl-sockact-')
    try:
        case(t, work, 'one unnamed socket', 1, None, 0)
        case(t, work, 'one socket named by its unit', 1, ['cachectld.socket'], 0)
        # not "fd 3": the daemon's socket comes second
        case(t, work, 'ours second of two', 2, ['other', 'cachectld.socket'], 1)
        case(t, work, 'ours first of three', 3,
             ['cachectld', 'other', 'another'], 0)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return t.done()


if __name__ == '__main__':
    sys.exit(main())
