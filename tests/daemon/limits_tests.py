#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""No user can lock others out of the system cachectld, bloat it, or stall
it through a slow filesystem; only what can hold data is pinned.

usage: limits_tests.py GROUP      (see daemontest.py)

Each attack runs as unprivileged uids (setpriv) against a root
`cachectld --system` on a private socket and store. The truth is the
wire protocol spoken directly, the CLI's exit status and words, the
daemon's /proc/PID/status (VmHWM) and the store's bytes.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'pylib'))
sys.path.insert(0, os.path.join(HERE, '..', 'slowfs'))
from cachectl_test import (Conn, KiB, MiB, NOBODY, ProtoError, Skip,  # noqa: E402
                           wait_for)
from daemontest import CLEANUP, Daemon, kcached, main, RAW_CLIENT, write_file  # noqa: E402

SLOWFS = os.environ.get('SLOWFS', '')
ANSWER_SECS = 1.0       # the acceptance bound for root and other clients
ASAN = 'address' in os.environ.get('CACHECTL_TEST_SANITIZE', '')

# Holds N connections as one uid: each gets HELLO, then sends VERB (or
# nothing for "-") and reads one answer; none is read again. Prints the
# answers counted ("OK:8 ERR-16:292"), then holds them until stdin closes.
HOLD = RAW_CLIENT + r'''
sock, n, verb = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def word(m):
    lines = m.split(b"\n")
    w = lines[0].decode("ascii", "replace")
    for ln in lines[1:]:
        if ln.startswith(b"errno="):
            w += "-" + ln[6:].decode()
    return w
held, counts = [], {}
for i in range(n):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    try:
        s.connect(sock)
        m = recv(s)
        if m.startswith(b"HELLO") and verb != "-":
            s.sendall(frame(verb.encode()))
            m = recv(s)
        w = word(m)
    except OSError as e:
        w = "oserror"
    counts[w] = counts.get(w, 0) + 1
    held.append(s)
print(" ".join("%s:%d" % kv for kv in sorted(counts.items())), flush=True)
sys.stdin.read()
'''

# One request as one uid: prints "VERB errno seconds message". With
# "half", it shuts its side down once sent (the answer ends the connection).
ASK = RAW_CLIENT + r'''
sock, verb, path = sys.argv[1:4]
s = socket.socket(socket.AF_UNIX)
s.settimeout(60)
s.connect(sock)
recv(s)
t0 = time.monotonic()
s.sendall(frame(verb.encode(), [(b"path", os.fsencode(path))]))
if sys.argv[4:] == ["half"]:
    s.shutdown(socket.SHUT_WR)
m = recv(s).split(b"\n")
f = dict(ln.split(b"=", 1) for ln in m[1:] if b"=" in ln)
print(m[0].decode(), f.get(b"errno", b"0").decode(), "%.2f" % (time.monotonic() - t0),
      f.get(b"message", b"").decode("utf-8", "replace"), flush=True)
'''


def as_uid(uid):
    return ['setpriv', '--reuid=%d' % uid, '--regid=%d' % uid, '--clear-groups']


class Held:
    """Connections held by one uid (HOLD), until close()."""

    def __init__(self, sock, uid, n, verb):
        self.p = subprocess.Popen(as_uid(uid) + [sys.executable, '-c', HOLD, sock,
                                                 str(n), verb],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        CLEANUP.append(self.close)
        self.counts = {}
        line = self.p.stdout.readline().split()
        for kv in line:
            k, _, v = kv.rpartition(':')
            self.counts[k] = int(v)

    def close(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


def ask(sock, uid, verb, path, half=False):
    """Start one request as uid; returns the process (stdout: ASK's line)."""
    return subprocess.Popen(as_uid(uid) + [sys.executable, '-c', ASK, sock, verb, path] +
                            (['half'] if half else []),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def system_daemon(t, E, name='system'):
    """A root cachectld --system on a private socket and store that any uid
    can reach; returns (daemon, env, store path)."""
    base = E.path(name)
    env = E.env(state=os.path.join(base, 'state'), runtime=os.path.join(base, 'run'))
    for k in ('CACHECTL_STATE_DIR', 'CACHECTL_RUNTIME_DIR'):
        os.makedirs(env[k])
        os.chmod(env[k], 0o755)
    os.chmod(base, 0o755)
    d = Daemon(E, env=env, scope='--system', name=name)
    if not t.ok(d.wait_ready(), 'a root cachectld --system starts', d.tail()):
        raise Skip('no system daemon')
    return d, env, os.path.join(env['CACHECTL_STATE_DIR'], 'pins')


def timed_pins(t, E, env, desc, want_live=True):
    """Root's `cachectl pins --system`: answered within ANSWER_SECS, from the
    daemon (not measured behind it)."""
    t0 = time.monotonic()
    r = E.cachectl(['pins', '--system', '-J'], env=env, timeout=30)
    el = time.monotonic() - t0
    live = r.rc == 0 and '"no-daemon"' not in r.text and '"daemon-busy"' not in r.text
    t.ok(r.rc == 0 and el <= ANSWER_SECS and (live or not want_live),
         '%s: root\'s cachectl pins answers within %.0f s from the daemon (%.2f s)'
         % (desc, ANSWER_SECS, el), r.show())
    return el


def ping_as(sock, uid):
    """HELLO + PING on a new connection as uid; (answer, seconds)."""
    t0 = time.monotonic()
    h = Held(sock, uid, 1, 'PING')
    h.close()
    return h.counts, time.monotonic() - t0


def vm(pid, key):
    with open('/proc/%d/status' % pid) as f:
        for ln in f:
            if ln.startswith(key + ':'):
                return int(ln.split()[1]) * KiB
    return None


# ===========================================================================
# lockout: 300 SUBSCRIBE connections of one uid
# ===========================================================================

def t_lockout(t, E):
    d, env, store = system_daemon(t, E)
    f = write_file(E.path('files', 'a'), 256 * KiB)
    r = E.cachectl(['pin', '--system', '--no-prefetch', f], env=env)
    t.eq(r.rc, 0, 'root pins a file through the system daemon', r.show())

    h = Held(d.sock, NOBODY, 300, 'SUBSCRIBE')
    t.diag('uid %d, 300 SUBSCRIBE connections: %r' % (NOBODY, h.counts))
    t.ok(h.counts.get('OK', 0) >= 1 and h.counts.get('ERR-16', 0) >= 200,
         'one uid gets a few subscriptions, then "busy" (EBUSY), not the table',
         repr(h.counts))
    for _ in range(3):
        timed_pins(t, E, env, 'uid %d holds its most' % NOBODY)
    for uid in (NOBODY - 1, NOBODY - 2):
        got, el = ping_as(d.sock, uid)
        t.ok(got == {'OK': 1} and el < ANSWER_SECS + 2,
             'another uid (%d) still gets a slot and PING answers (%.2f s with '
             'its interpreter starting)' % (uid, el), repr(got))

    # the CLI of the uid at its limit says so, and acts for no daemon
    nenv = dict(E.env('nobody'), CACHECTL_STATE_DIR=env['CACHECTL_STATE_DIR'],
                CACHECTL_RUNTIME_DIR=env['CACHECTL_RUNTIME_DIR'])
    r = E.cachectl(['pins', '--system'], user='nobody', env=nenv)
    t.ok(r.rc == 64 and 'busy' in r.etext and 'no cachectld' not in r.etext and
         'daemon-busy' in r.text,
         'nobody\'s cachectl pins --system at its limit: "busy", exit 64', r.show())
    r = E.cachectl(['monitor', '--system'], user='nobody', env=nenv, timeout=10)
    t.ok(r.rc == 1 and 'busy' in r.etext, 'nobody\'s cachectl monitor: "busy"', r.show())
    h.close()
    got, _ = wait_for(lambda: ping_as(d.sock, NOBODY)[0] == {'OK': 1}, 5, 0.2)
    t.ok(got, 'once it lets go, that uid is served again')
    d.kill()

    # a daemon that answers every connection "busy": the CLI must not
    # write the store in its place, nor call it a protocol error
    busy = E.path('busyd.py')
    with open(busy, 'w') as fp:
        fp.write(BUSY_DAEMON)
    p = subprocess.Popen([sys.executable, busy, os.path.join(env['CACHECTL_RUNTIME_DIR'],
                                                             'cachectld.sock')],
                         stdout=subprocess.PIPE, text=True)
    CLEANUP.append(lambda: (p.kill(), p.wait()))
    p.stdout.readline()
    before = E.store_bytes(store)
    g = write_file(E.path('files', 'b'), 64 * KiB)
    r = E.cachectl(['pin', '--system', '--no-prefetch', g], env=env)
    t.ok(r.rc == 1 and 'busy' in r.etext, 'root\'s pin --system with a busy daemon '
         'fails and says busy', r.show())
    t.ok(E.store_bytes(store) == before, 'the store is not written behind the daemon')
    r = E.cachectl(['unpin', '--system', f], env=env)
    t.ok(r.rc == 1 and 'busy' in r.etext and 'Protocol error' not in r.etext,
         'unpin --system with a busy daemon: "busy", not "Protocol error"', r.show())
    t.ok(E.store_bytes(store) == before, 'the store is not changed by unpin either')
    r = E.cachectl(['pins', '--system'], env=env)
    t.ok(r.rc == 64 and 'daemon-busy' in r.text and 'no cachectld' not in r.etext,
         'pins --system with a busy daemon: daemon-busy, not "no cachectld"', r.show())


BUSY_DAEMON = r'''
import os, socket, struct, sys
path = sys.argv[1]
try:
    os.unlink(path)
except OSError:
    pass
ls = socket.socket(socket.AF_UNIX)
ls.bind(path)
ls.listen(64)
print("ready", flush=True)
b = b"ERR\nerrno=16\nmessage=busy: test"
while True:
    c, _ = ls.accept()
    try:
        c.sendall(struct.pack("<I", len(b)) + b)
    except OSError:
        pass
    c.close()
'''


# ===========================================================================
# event-flood: 200 non-reading subscribers, 20,000 files under an inherit pin
# ===========================================================================

NSUBS_UIDS, NSUBS_EACH = 25, 8
NFLOOD = 20000


def t_flood(t, E):
    d, env, store = system_daemon(t, E)
    tree = E.path('tree')
    os.makedirs(tree)
    write_file(os.path.join(tree, 'seed'), 64 * KiB)
    r = E.cachectl(['pin', '--system', '--no-prefetch', '-r', '--inherit', tree], env=env)
    t.eq(r.rc, 0, 'root pins a tree --inherit', r.show())
    held = [Held(d.sock, 60000 + i, NSUBS_EACH, 'SUBSCRIBE') for i in range(NSUBS_UIDS)]
    subs = sum(h.counts.get('OK', 0) for h in held)
    t.eq(subs, NSUBS_UIDS * NSUBS_EACH, '%d uids hold %d subscribers that never read'
         % (NSUBS_UIDS, NSUBS_UIDS * NSUBS_EACH))
    # root's monitor, stopped: it falls behind too, then must catch up
    # to files: a pipe nobody reads while it floods would stop it
    mon_out, mon_err = open(E.path('monitor.out'), 'w+'), open(E.path('monitor.err'), 'w+')
    mon = subprocess.Popen([os.environ['CACHECTL'], 'monitor', '--system', '-J'], env=env,
                           stdout=mon_out, stderr=mon_err)
    CLEANUP.append(lambda: mon.poll() is None and (mon.kill(), mon.wait()))
    time.sleep(1.0)     # connected and subscribed
    os.kill(mon.pid, signal.SIGSTOP)
    rss0 = vm(d.pid, 'VmRSS')

    times = []
    stop = threading.Event()

    def probe():
        while not stop.is_set():
            times.append(timed_pins(t, E, env, 'during the flood'))
            time.sleep(0.3)
    th = threading.Thread(target=probe)
    th.start()
    t0 = time.monotonic()
    data = b'x' * 100
    resumed = False
    for i in range(NFLOOD):
        fd = os.open(os.path.join(tree, 'n%05d' % i), os.O_WRONLY | os.O_CREAT, 0o644)
        os.write(fd, data)
        os.close(fd)
        if not resumed and i % 500 == 0 and \
                'dropped subscriber pid %d ' % mon.pid in d.logtext():
            os.kill(mon.pid, signal.SIGCONT)
            resumed = True
    made = time.monotonic() - t0

    def joined():
        try:
            verb, f = d.status(tree)
            return verb == 'OK' and int(f.get('files', b'0')) >= NFLOOD
        except (OSError, ProtoError, ValueError):
            return False
    ok, el = wait_for(joined, 30, 0.25)
    stop.set()
    th.join()
    if not resumed:
        os.kill(mon.pid, signal.SIGCONT)
    t.ok(ok, '%d files made in %.1f s all joined the pin (%.1f s later)'
         % (NFLOOD, made, el), d.tail(10))
    hwm, rss = vm(d.pid, 'VmHWM'), vm(d.pid, 'VmRSS')
    what = 'daemon peak RSS (VmHWM) %.1f MiB < 64 MiB (RSS %.1f MiB before, %.1f MiB ' \
        'after)' % (hwm / MiB, rss0 / MiB, rss / MiB)
    if ASAN:
        t.skip(what, 'ASan build: its shadow memory and quarantine are in the RSS '
               '(the plain build holds the figure)')
    else:
        t.ok(hwm < 64 * MiB, what)
    t.ok(times and max(times) <= ANSWER_SECS, 'root\'s pins answered within %.0f s '
         'throughout (%d probes, slowest %.2f s)' % (ANSWER_SECS, len(times),
                                                     max(times or [0])))
    dropped = d.logtext().count('dropped subscriber')
    t.ok(dropped >= 1, 'subscribers that fell behind were dropped (%d log lines)' % dropped)

    # the monitor got its overrun, said so, reconnected and resynced
    time.sleep(2)
    mon.send_signal(signal.SIGTERM)
    mon.wait(timeout=10)
    mon_out.seek(0)
    mon_err.seek(0)
    out, err = mon_out.read(), mon_err.read()
    t.ok('"type": "overrun"' in out, 'monitor printed the overrun event', out[-500:], err)
    t.ok('overrun' in err and 'reconnect' in err, 'monitor said it fell behind and '
         'reconnects', err)
    t.ok(re.search(r'"type": "status", "path": "%s"' % re.escape(tree), out),
         'monitor resynced: a status line for the pin after reconnecting', out[-500:])
    for h in held:
        h.close()
    time.sleep(1)
    t.ok(d.ping(ANSWER_SECS) is None, 'the daemon answers after the subscribers left')
    t.diag('RSS after they left: %.1f MiB' % (vm(d.pid, 'VmRSS') / MiB))
    d.kill()


# ===========================================================================
# slow-status: STATUS of a path on a slow mount, then on a hung one
# ===========================================================================

def t_slow(t, E):
    if not SLOWFS or not os.access(SLOWFS, os.X_OK) or not os.path.exists('/dev/fuse'):
        raise Skip('no /dev/fuse or no slowfs')
    import slowfs
    back, mnt = E.path('back'), E.path('mnt')
    write_file(os.path.join(back, 'a', 'b', 'c', 'f'), 4 * KiB)
    fs = slowfs.SlowFS(back, mnt, exe=SLOWFS, gone_timeout=40)
    fs.start()
    CLEANUP.append(lambda: fs.stop(check=False))
    d, env, store = system_daemon(t, E)
    f = write_file(E.path('files', 'a'), 64 * KiB)
    r = E.cachectl(['pin', '--system', '--no-prefetch', f], env=env)
    t.eq(r.rc, 0, 'root pins a local file', r.show())

    def others_answer(desc, secs):
        """root's pins and other uids' PING, over secs."""
        end = time.monotonic() + secs
        worst = 0.0
        while time.monotonic() < end:
            worst = max(worst, timed_pins(t, E, env, desc))
            t0 = time.monotonic()
            c = Conn(d.sock, timeout=ANSWER_SECS)
            verb, _ = c.call('STATUS', [('path', f)], timeout=ANSWER_SECS)
            c.close()
            el = time.monotonic() - t0
            t.ok(verb == 'OK' and el <= ANSWER_SECS,
                 '%s: another client\'s STATUS answers in %.2f s' % (desc, el))
            time.sleep(0.5)
        return worst

    fs.set_latency(4000)
    time.sleep(1.2)     # past slowfs's 1 s attribute cache
    q = ask(d.sock, NOBODY, 'STATUS', os.path.join(mnt, 'a', 'b', 'c', 'f'))
    time.sleep(0.3)
    others_answer('STATUS on a 4 s/request mount', 4)
    out, err = q.communicate(timeout=30)
    t.diag('the slow STATUS: ' + out.strip())
    t.ok(out.startswith('ERR') and out.split()[1] in ('2', '110'),
         'the slow request itself gets an answer (not pinned, or timed out)', out, err)
    # the answer of a client that said it is done ends it: its uid with it
    fs.set_latency(300)
    time.sleep(1.2)
    q = ask(d.sock, NOBODY - 3, 'STATUS', os.path.join(mnt, 'a', 'b'), half=True)
    out, err = q.communicate(timeout=30)
    t.ok(out.startswith('ERR 2 '), 'a client half-closed while its path resolves gets '
         'its answer (not pinned)', out, err)
    t.ok(d.ping(ANSWER_SECS) is None, 'and the daemon goes on', d.tail())
    fs.set_latency(0)

    fs.gone('block')
    time.sleep(1.2)
    q = ask(d.sock, NOBODY, 'STATUS', os.path.join(mnt, 'a'))
    time.sleep(0.3)
    others_answer('STATUS on a hung mount', 3)
    out, err = q.communicate(timeout=30)
    t.diag('the hung STATUS: ' + out.strip())
    w = out.split()
    t.ok(len(w) > 2 and w[0] == 'ERR' and w[1] == '110' and float(w[2]) < 15,
         'the request on the hung mount times out (ETIMEDOUT) on its own', out, err)
    # its thread still hangs: more of the same uid are capped, not piled up
    qs = [ask(d.sock, NOBODY, 'STATUS', os.path.join(mnt, 'x%d' % i)) for i in range(6)]
    time.sleep(1.0)
    busy = 0
    for p in qs:
        try:
            o, _ = p.communicate(timeout=ANSWER_SECS + 1)
        except subprocess.TimeoutExpired:
            continue
        busy += o.startswith('ERR 16 ')
    t.ok(busy >= 1, 'requests of one uid waiting on a hung mount are capped: %d of 6 '
         'answered "busy" at once' % busy)
    others_answer('with hung requests in flight', 1)
    fs.back()
    for p in qs:
        try:
            p.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
    q = ask(d.sock, NOBODY, 'STATUS', os.path.join(mnt, 'a'))
    out, _ = q.communicate(timeout=20)
    t.ok(out.startswith('ERR 2 '), 'mount back: the uid is served again (not pinned)', out)
    t.ok(d.alive(), 'cachectld still runs', d.tail())
    d.kill()
    fs.stop(check=False)


# ===========================================================================
# pin-refusals: FIFOs, devices, sockets, /proc and /sys are never pinned
# ===========================================================================

def t_refusals(t, E):
    fdir = E.path('odd')
    os.makedirs(fdir)
    fifo = os.path.join(fdir, 'fifo')
    os.mkfifo(fifo)
    sockp = os.path.join(fdir, 'sock')
    s = socket.socket(socket.AF_UNIX)
    s.bind(sockp)
    good = write_file(os.path.join(fdir, 'good'), 64 * KiB)
    sysf = '/sys/kernel/uevent_seqnum'
    cases = [(fifo, 'FIFO'), ('/dev/zero', 'device'), (sockp, 'socket'),
             ('/proc/self/status', 'pseudo filesystem'), ('/proc/1/cmdline', 'pseudo'),
             (sysf, 'pseudo filesystem')]

    d, env, store = system_daemon(t, E)
    for phase in ('with the daemon', 'without a daemon'):
        before = E.store_bytes(store)
        for path, cause in cases:
            r = E.cachectl(['pin', '--system', '--no-prefetch', path], env=env, timeout=20)
            t.ok(r.rc != 0 and path in r.etext and cause in r.etext and not r.timed_out,
                 '%s: pin --no-prefetch %s fails, naming it and "%s"' % (phase, path, cause),
                 r.show())
        t.ok(E.store_bytes(store) == before, '%s: the store holds none of them' % phase)
        r = E.cachectl(['pin', '--system', '--no-prefetch', good], env=env)
        t.eq(r.rc, 0, '%s: a regular file is still pinned' % phase, r.show())
        if phase == 'with the daemon':
            # the daemon's own checks, for a client that skips the CLI's:
            # the FIFO is never opened, /proc/self is not the client's
            for path, errno_, why in ((fifo, b'22', b'FIFO'),
                                      ('/proc/self/status', b'95', b'pseudo')):
                fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
                c = d.conn(timeout=5)
                verb, f = c.call('PIN', [('path', path), ('flags', '0'),
                                         ('priority', '0'), ('budget', '0')], fd=fd,
                                 timeout=15)
                c.close()
                os.close(fd)
                t.ok(verb == 'ERR' and f.get('errno') == errno_ and why in
                     f.get('message', b'') and os.fsencode(path) in f.get('message', b''),
                     'raw PIN of %s: ERR %s naming it and why' % (path, errno_.decode()),
                     repr((verb, f)))
            t.ok(d.ping(ANSWER_SECS) is None, 'the daemon answers after them')
            verb, f, listed = d.list()
            got = sorted(os.fsdecode(m[1].get('path', b'')) for m in listed)
            t.eq(got, [good], 'the daemon keeps only the regular file')
            d.kill()
            E.cachectl(['unpin', '--system', good], env=env)
    s.close()


# ===========================================================================
# hung-pin: a pin's own filesystem hangs under it
# ===========================================================================

DROPPER = r'''
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
print('open', flush=True)
sys.stdin.readline()
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
print('dropped', flush=True)
sys.stdin.read()
'''


def t_hung_pin(t, E):
    """The refill of a pin whose mount hangs (a hard NFS mount, a stopped
    sshd) runs off the loop: root's pins and other clients answer within
    1 s while it hangs, and the pin is refilled again once it is back."""
    if not SLOWFS or not os.access(SLOWFS, os.X_OK) or not os.path.exists('/dev/fuse'):
        raise Skip('no /dev/fuse or no slowfs')
    import slowfs
    back, mnt = E.path('back'), E.path('mnt')
    for i in range(40):
        write_file(os.path.join(back, 'tree', 'd%d' % (i % 4), 'f%02d' % i), 64 * KiB)
    fs = slowfs.SlowFS(back, mnt, exe=SLOWFS, gone_timeout=60)
    fs.start()
    CLEANUP.append(lambda: fs.stop(check=False))
    d, env, store = system_daemon(t, E)
    local = write_file(E.path('files', 'a'), 64 * KiB)
    tree = os.path.join(mnt, 'tree')
    r = E.cachectl(['pin', '--system', '--no-prefetch', local], env=env)
    t.eq(r.rc, 0, 'root pins a local file', r.show())
    r = E.cachectl(['pin', '--system', '-r', tree], env=env, timeout=60)
    t.eq(r.rc, 0, 'root pins a 40-file tree on slowfs', r.show())
    victim = os.path.join(tree, 'd1', 'f01')
    t.ok(wait_for(lambda: kcached(victim) == 64 * KiB, 20)[0],
         'the pinned tree is resident (kernel: %s of %d bytes of %s)'
         % (kcached(victim), 64 * KiB, victim))

    # Every file's attributes expire (slowfs: 1 s), so each check that
    # looks past a bare cachestat() (fstat, a reopen, a refill) is a
    # request the hung server never answers.
    # Dropping pages asks no server, but closing a FUSE file does (FLUSH):
    # a child opens it before the hang, drops its pages during it and
    # closes it after, so this process never holds it across a fork.
    dropper = subprocess.Popen([sys.executable, '-c', DROPPER, victim],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    t.eq(dropper.stdout.readline().strip(), 'open', 'a child holds a pinned file open')
    fs.gone('block')
    dropper.stdin.write('drop\n')
    dropper.stdin.flush()
    t.eq(dropper.stdout.readline().strip(), 'dropped',
         'its pages are dropped while the mount hangs')
    t0 = time.monotonic()
    worst = 0.0
    while time.monotonic() - t0 < 6:
        worst = max(worst, timed_pins(t, E, env, 'pin on a hung mount'))
        t1 = time.monotonic()
        c = Conn(d.sock, timeout=ANSWER_SECS + 1)
        verb, _ = c.call('STATUS', [('path', local)], timeout=ANSWER_SECS + 1)
        c.close()
        el = time.monotonic() - t1
        t.ok(verb == 'OK' and el <= ANSWER_SECS,
             'pin on a hung mount: another client\'s STATUS answers in %.2f s' % el)
        time.sleep(0.5)
    t.diag('worst root pins answer while the pin\'s mount hung: %.2f s' % worst)
    r = E.cachectl(['pins', '--system'], env=env, timeout=30)
    t.diag(r.text)
    fs.back()
    t.ok(wait_for(lambda: d.ping(ANSWER_SECS) is None, 20)[0], 'mount back: the daemon answers',
         d.tail())
    # the server is back: what was evicted while it hung comes back
    dropper.stdin.close()
    dropper.wait(timeout=20)
    slowfs.evict(victim)
    t.ok(wait_for(lambda: kcached(victim) == 64 * KiB, 20)[0],
         'mount back: an evicted pinned file is refilled (kernel: %s bytes)'
         % kcached(victim))
    t.ok(d.alive(), 'cachectld still runs', d.tail())
    d.kill()
    fs.stop(check=False)


GROUPS = {
    'lockout': t_lockout,
    'event-flood': t_flood,
    'slow-status': t_slow,
    'hung-pin': t_hung_pin,
    'pin-refusals': t_refusals,
}


if __name__ == '__main__':
    if os.geteuid() != 0:
        print('1..0 # SKIP needs root (setpriv to other uids, a system daemon)')
        sys.exit(0)
    sys.exit(main(GROUPS))
