#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""cachectld's socket: who may pin what (SO_PEERCRED, the passed
descriptor), and clients that break the protocol.

usage: protocol_tests.py GROUP      (see daemontest.py)
"""

import os
import re
import shutil
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'pylib'))
from cachectl_test import (Conn, Fatal, frame, KiB, NOBODY, parse_store,  # noqa: E402
                           ProtoError, run, SETPRIV, Skip)
from daemontest import (Daemon, evict, main, pinned_paths, RAW_CLIENT,  # noqa: E402
                        write_file)


# ===========================================================================
# 6. permissions: nobody cannot pin what it cannot read, nor system pins
# ===========================================================================

RAW_PIN = RAW_CLIENT + r'''
sock, path, fdpath = sys.argv[1:4]
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sock)
recv(s)
msg = frame(b"PIN", [(b"path", os.fsencode(path)), (b"flags", b"0"),
                     (b"priority", b"0"), (b"budget", b"0")])
if fdpath != "-":
    fd = os.open(fdpath, os.O_RDONLY)
    socket.send_fds(s, [msg], [fd])
else:
    s.sendall(msg)
sys.stdout.write(recv(s).decode("utf-8", "replace"))
'''


def t_permissions(t, E):
    if os.geteuid() != 0:
        raise Skip('needs root (setpriv to uid 65534)')
    fdir = E.path('files')
    os.makedirs(fdir)
    os.chmod(fdir, 0o755)
    readable = write_file(os.path.join(fdir, 'readable'), 64 * KiB)
    secret = write_file(os.path.join(fdir, 'secret'), 64 * KiB)
    os.chmod(readable, 0o644)
    os.chmod(secret, 0o600)
    closed = os.path.join(fdir, 'closed')
    inner = write_file(os.path.join(closed, 'inner'), 64 * KiB)
    os.chmod(inner, 0o644)
    os.chmod(closed, 0o700)
    nenv = E.env('nobody')
    store = os.path.join(nenv['CACHECTL_STATE_DIR'], 'pins')

    def refused(r, path, desc):
        why = re.search(r'Permission denied|not readable', r.etext)
        t.ok(r.rc != 0 and path in r.etext and why,
             desc + ': fails, naming the path and "Permission denied" or '
             '"not readable"', r.show())

    for phase in ('no daemon', 'nobody\'s daemon'):
        d = None
        if phase != 'no daemon':
            d = E.start_daemon(t, 'a user cachectld runs as nobody', user='nobody')
            t.eq(run(['stat', '-c', '%u', '/proc/%d' % d.pid]).text.strip(), str(NOBODY),
                 'it runs as uid 65534')
        r = E.cachectl(['pin', readable], user='nobody')
        t.eq(r.rc, 0, '%s: nobody pins a file it can read' % phase, r.show())
        before = E.store_bytes(store)
        t.ok(before is not None and readable in pinned_paths(parse_store(before)),
             '%s: it is in nobody\'s store' % phase)
        r = E.cachectl(['pin', secret], user='nobody')
        refused(r, secret, '%s: nobody pins a 0600 root file' % phase)
        r = E.cachectl(['pin', inner], user='nobody')
        refused(r, inner, '%s: nobody pins a file in a 0700 root dir' % phase)
        r = E.cachectl(['pin', '-r', closed], user='nobody')
        refused(r, closed, '%s: nobody pins -r a 0700 root dir' % phase)
        t.ok(E.store_bytes(store) == before, '%s: nobody\'s store unchanged' % phase)
        r = E.cachectl(['pin', '--system', readable], user='nobody')
        t.ok(r.rc != 0 and re.search(r'\broot\b|privilege', r.etext, re.I),
             '%s: nobody\'s cachectl pin --system fails and says system pins need root'
             % phase, r.show())
        t.ok(E.store_bytes(store) == before, '%s: store unchanged after --system' % phase)
        if d:
            # the daemon's own check (peer credentials), past the CLI
            exe = shutil.which('python3') or sys.executable
            for path, fdpath, desc in (
                    (secret, readable, 'PIN of a file nobody cannot read, with the fd '
                     'of one it can'),
                    (secret, '-', 'PIN of a file nobody cannot read, with no fd'),
                    (inner, '-', 'PIN of a file in a closed dir, with no fd')):
                r = run(SETPRIV + [exe, '-c', RAW_PIN, d.sock, path, fdpath], timeout=20)
                t.ok(r.rc == 0 and r.text.startswith('ERR'),
                     'raw protocol as nobody: %s -> ERR' % desc, r.show())
            t.ok(E.store_bytes(store) == before, 'store unchanged after the raw PINs')
            verb, f, listed = d.list()
            got = set(os.fsdecode(m[1].get('path', b'')) for m in listed)
            t.ok(secret not in got and inner not in got,
                 'the daemon keeps no pin nobody could not read', repr(got))
            t.ok(d.alive(), 'cachectld still runs', d.tail())
            d.kill()

    # a system daemon (root) that nobody can reach: its peer-credential
    # check must refuse nobody's pins, even of files nobody can read
    sysdir = E.path('sys')
    senv = E.env(state=os.path.join(sysdir, 'state'), runtime=os.path.join(sysdir, 'run'))
    for k in ('CACHECTL_STATE_DIR', 'CACHECTL_RUNTIME_DIR'):
        os.makedirs(senv[k])
        os.chmod(senv[k], 0o755)
    os.chmod(sysdir, 0o755)
    r = E.cachectl(['pin', '--system', inner], env=senv)
    t.eq(r.rc, 0, 'root pins a file as a system pin (no daemon yet)', r.show())
    sstore = os.path.join(senv['CACHECTL_STATE_DIR'], 'pins')
    sbefore = E.store_bytes(sstore)
    d = Daemon(E, env=senv, scope='--system', name='system')
    if t.ok(d.wait_ready(), 'a system cachectld (root) starts', d.tail()):
        exe = shutil.which('python3') or sys.executable
        for path, fdpath, desc in (
                (readable, readable, 'PIN of a file nobody can read, with its fd'),
                (secret, readable, 'PIN of a file nobody cannot read, with the fd of '
                 'one it can')):
            r = run(SETPRIV + [exe, '-c', RAW_PIN, d.sock, path, fdpath], timeout=20)
            t.ok(r.rc == 0 and r.text.startswith('ERR'),
                 'raw protocol as nobody to the system daemon: %s -> ERR' % desc,
                 r.show())
            t.diag('answer: ' + r.text.replace('\n', ' '))
        r = E.cachectl(['pin', '--system', readable], user='nobody', env=dict(
            E.env('nobody'), CACHECTL_STATE_DIR=senv['CACHECTL_STATE_DIR'],
            CACHECTL_RUNTIME_DIR=senv['CACHECTL_RUNTIME_DIR']))
        t.ok(r.rc != 0 and re.search(r'\broot\b|privilege', r.etext, re.I),
             'nobody\'s cachectl pin --system, with the system daemon running, fails '
             'and says system pins need root', r.show())
        t.ok(E.store_bytes(sstore) == sbefore, 'the system store is unchanged')
        verb, f, listed = d.list()
        got = sorted(os.fsdecode(m[1].get('path', b'')) for m in listed)
        t.eq(got, [inner], 'the system daemon keeps only root\'s pin')
    d.kill()


# ===========================================================================
# 7. hostile-protocol: garbage on the socket gets an error, never a wedge
# ===========================================================================

def t_hostile(t, E):
    fdir = E.path('files')
    a = write_file(os.path.join(fdir, 'a'), 64 * KiB)
    b = write_file(os.path.join(fdir, 'b'), 64 * KiB)
    d = E.start_daemon(t)
    r = E.cachectl(['pin', a])
    t.eq(r.rc, 0, 'cachectl pin FILE exits 0 (a store to guard)', r.show())
    store0 = E.store_bytes()
    nfd0 = len(os.listdir('/proc/%d/fd' % d.pid))

    def after(desc):
        why = d.ping(1.0)
        t.ok(why is None, '%s: daemon still answers HELLO and PING within 1 s' % desc,
             why or '', d.tail(10))
        if not d.alive():
            raise Fatal('the daemon died')

    def case(desc, data, fds=None, expect_err=True, hold=0.0):
        """Send data on a fresh connection; the daemon should answer ERR
        (or close) and go on."""
        c = Conn(d.sock, timeout=2.0)
        got = None
        try:
            c.send_raw(data, fds)
            if hold:
                time.sleep(hold)
            try:
                got = c.recv(2.0)[0]
            except (ProtoError, OSError) as e:
                got = '<%s>' % type(e).__name__
        except OSError as e:
            got = '<send: %s>' % e
        finally:
            c.close()
            for fd in fds or []:
                try:
                    os.close(fd)
                except OSError:
                    pass
        if expect_err:
            t.ok(got in ('ERR', '<ProtoError>', '<ConnectionResetError>') or
                 got.startswith('<send: [Errno 32]'),
                 '%s: answered ERR or closed (got %s)' % (desc, got))
        after(desc)
        return got

    case('raw text without a length', b'PING\n\n')
    case('a 4 GiB length', b'\xff\xff\xff\xff' + b'PING' * 64)
    case('a length just over 64 KiB', struct.pack('<I', 64 * KiB + 1) + b'x' * 1000)
    case('an empty message', struct.pack('<I', 0))
    case('an unknown verb', frame('FROBNICATE', [('path', a)]))
    case('a lower-case verb', frame('ping'))
    case('PIN without path', frame('PIN', [('flags', '0'), ('priority', '0'),
                                           ('budget', '0')]))
    case('STATUS without path', frame('STATUS'))
    case('UNPIN without path', frame('UNPIN'))
    # on PING, which would answer OK if the framing were not checked
    case('a field without "="', frame(b'PING\npath' + os.fsencode(a)))
    case('a field with an empty key', frame(b'PING\n=' + os.fsencode(a)))
    case('17 fields', frame('PING', [('k%d' % i, 'v') for i in range(17)]))
    case('an invalid escape', frame(b'PING\nx=/x\\xZZ'))
    case('a cut escape', frame(b'PING\nx=/x\\x4'))
    case('an escaped NUL', frame(b'PING\nx=/x\\x00y'))
    case('a NUL in a field', frame(b'PING\nx=a\x00b'))
    case('a raw NUL byte', frame(b'PI\x00NG'))
    case('a NUL in a path', frame(b'STATUS\npath=' + os.fsencode(a) + b'\x00/etc/shadow'))
    case('a relative path', frame('STATUS', [('path', 'etc/passwd')]))
    case('flags out of range', frame('PIN', [('path', a), ('flags', '4294967296'),
                                             ('priority', '0'), ('budget', '0')]),
         fds=[os.open(a, os.O_RDONLY)])
    case('flags not a number', frame('PIN', [('path', a), ('flags', 'x'),
                                             ('priority', '0'), ('budget', '0')]),
         fds=[os.open(a, os.O_RDONLY)])
    case('priority out of range', frame('PIN', [('path', a), ('flags', '0'),
                                                ('priority', '99999'), ('budget', '0')]),
         fds=[os.open(a, os.O_RDONLY)])
    case('negative budget', frame('PIN', [('path', a), ('flags', '0'),
                                          ('priority', '0'), ('budget', '-1')]),
         fds=[os.open(a, os.O_RDONLY)])
    case('a max-size garbage message', struct.pack('<I', 64 * KiB) + os.urandom(64 * KiB))
    case('a partial message then close', struct.pack('<I', 100) + b'PING', expect_err=False)
    case('half a length then close', b'\x04\x00', expect_err=False)

    # PIN without fd, PIN with an fd of another file, with a pipe, with 3 fds
    case('PIN without fd', frame('PIN', [('path', b), ('flags', '0'), ('priority', '0'),
                                         ('budget', '0')]))
    case('PIN with the fd of another file', frame('PIN', [
        ('path', b), ('flags', '0'), ('priority', '0'), ('budget', '0')]),
        fds=[os.open(a, os.O_RDONLY)])
    rp, wp = os.pipe()
    case('PIN with a pipe fd', frame('PIN', [
        ('path', b), ('flags', '0'), ('priority', '0'), ('budget', '0')]), fds=[rp])
    os.close(wp)
    case('PIN with an O_PATH fd of the file', frame('PIN', [
        ('path', b), ('flags', '0'), ('priority', '0'), ('budget', '0')]),
        fds=[os.open(b, os.O_PATH)])
    case('PIN with the dir fd for a file path', frame('PIN', [
        ('path', b), ('flags', '0'), ('priority', '0'), ('budget', '0')]),
        fds=[os.open(fdir, os.O_RDONLY | os.O_DIRECTORY)])
    case('an fd on PING, 3 fds at once', frame('PING'),
         fds=[os.open(a, os.O_RDONLY) for _ in range(3)], expect_err=False)
    verb, f, listed = d.list()
    got = set(os.fsdecode(m[1].get('path', b'')) for m in listed)
    t.ok(b not in got, 'none of the bad PINs of b was kept', repr(got))
    t.ok(E.store_bytes() == store0, 'the store is unchanged by all of it')

    # several messages in one write, one message in 1-byte writes
    c = Conn(d.sock)
    try:
        c.send_raw(frame('PING') * 3)
        got = [c.recv(2.0)[0] for _ in range(3)]
        t.eq(got, ['OK'] * 3, 'three PINGs in one write get three OKs')
        for byte in frame('PING'):
            c.send_raw(bytes([byte]))
            time.sleep(0.002)
        t.eq(c.recv(2.0)[0], 'OK', 'a PING sent a byte at a time gets OK')
    except Exception as e:  # noqa: BLE001
        t.ok(False, 'pipelined and trickled PINGs answered', repr(e))
    finally:
        c.close()

    # a partial message then silence: others are served meanwhile
    slow = Conn(d.sock)
    slow.send_raw(struct.pack('<I', 200) + b'STATUS\npath=')
    t0 = time.monotonic()
    worst = 0.0
    fails = []
    for _ in range(5):
        s0 = time.monotonic()
        why = d.ping(1.0)
        worst = max(worst, time.monotonic() - s0)
        if why:
            fails.append(why)
        time.sleep(0.2)
    t.ok(not fails, 'while a client stalls mid-message, 5 new clients get HELLO+PING '
         'within 1 s (slowest %.3f s)' % worst, *fails)
    slow.close()

    # a client that sends and never reads: the daemon must not block on it
    hog = Conn(d.sock)
    hog.s.setblocking(False)
    sent = 0
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < 3:
            try:
                hog.s.send(frame('LIST') * 64)
                sent += 64
            except BlockingIOError:
                time.sleep(0.01)
                if time.monotonic() - t0 > 1:
                    break
    except OSError:
        pass
    worst = 0.0
    fails = []
    for _ in range(5):
        s0 = time.monotonic()
        why = d.ping(1.0)
        worst = max(worst, time.monotonic() - s0)
        if why:
            fails.append(why)
        time.sleep(0.2)
    t.ok(not fails, 'while a client floods requests (%d) and never reads replies, new '
         'clients get HELLO+PING within 1 s (slowest %.3f s)' % (sent, worst), *fails)
    hog.close()
    after('the flooding client gone')

    # a subscriber that never reads while events happen
    sub = Conn(d.sock)
    try:
        verb, _ = sub.call('SUBSCRIBE', timeout=2.0)
        t.eq(verb, 'OK', 'SUBSCRIBE answered OK')
    except Exception as e:  # noqa: BLE001
        t.ok(False, 'SUBSCRIBE answered', repr(e))
    for _ in range(20):
        evict(a)
        time.sleep(0.05)
    after('a subscriber that never reads, while pinned data is evicted and refilled')
    sub.close()

    # 300 simultaneous connections
    conns = []
    errs = []
    for i in range(300):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(2.0)
        t0 = time.monotonic()
        while True:
            try:
                s.connect(d.sock)
                conns.append(s)
                break
            except BlockingIOError:
                # backlog full (a blocking client would wait): retry
                if time.monotonic() - t0 > 2:
                    errs.append('%d: backlog full for 2 s' % i)
                    break
                time.sleep(0.005)
            except OSError as e:
                errs.append('%d: %s' % (i, e))
                break
        if errs:
            s.close()
            break
    t.ok(not errs, '300 simultaneous connections are taken (accepted within 2 s)', *errs)
    greeted = 0
    for s in conns:
        try:
            if len(s.recv(4)) > 0:
                greeted += 1
        except OSError:
            pass
    t.diag('%d of %d got their HELLO' % (greeted, len(conns)))
    why = d.ping(1.0)
    t.ok(why is None, 'with 300 connections open, a new one gets HELLO+PING within 1 s',
         why or '')
    for s in conns:
        s.close()
    time.sleep(0.5)
    after('300 connections closed')

    nfd = len(os.listdir('/proc/%d/fd' % d.pid))
    t.ok(nfd <= nfd0 + 5, 'the daemon leaks no descriptors (%d before, %d after)'
         % (nfd0, nfd))
    verb, f = d.status(a)
    t.eq(verb, 'OK', 'the good pin still answers STATUS', repr(f))
    t.ok(d.alive(), 'cachectld still runs', d.tail())


GROUPS = {
    'permissions': t_permissions,
    'hostile-protocol': t_hostile,
}


if __name__ == '__main__':
    sys.exit(main(GROUPS))
