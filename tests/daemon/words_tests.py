#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""What the pin verbs say: unpin of a path that is gone (relative, with
trailing slashes), monitor -J lines, Ctrl-C during pin -r.

usage: words_tests.py GROUP      (see daemontest.py)
"""

import datetime
import fcntl
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'pylib'))
from cachectl_test import ival, MiB, run, Skip  # noqa: E402
from daemontest import (CACHECTL, evict, kcached, main, pinned_paths,  # noqa: E402
                        wait_satisfied, write_file)

SLOWFS = os.environ.get('SLOWFS', '')


def t_unpin_gone(t, E):
    base = E.path('u')
    cases = [('d1/sub/', 'd1/sub/'), ('d2/sub', './d2//sub/'),
             ('d3/sub', 'd3/x/../sub')]
    for daemon in (False, True):
        d = E.start_daemon(t) if daemon else None
        for made, given in cases:
            tree = os.path.join(base, made)
            write_file(os.path.join(tree, 'f'), 4096)
            r = run([CACHECTL, 'pin', '-r', '--no-prefetch', made], cwd=base,
                    env=E.env())
            t.eq(r.rc, 0, 'pin -r %s' % made, r.show())
            run(['rm', '-rf', tree])
            r = run([CACHECTL, 'unpin', given], cwd=base, env=E.env())
            who = 'with cachectld' if daemon else 'without cachectld'
            t.eq(r.rc, 0, '%s: unpin %r of a gone directory exits 0' % (who, given),
                 r.show())
            t.ok('=' not in r.etext and 'UNPIN' not in r.etext,
                 '%s: no protocol text on stderr' % who, r.show())
            t.ok(os.path.join(base, made.rstrip('/')) not in pinned_paths(E.store_pins()),
                 '%s: the store no longer has %s' % (who, made))
        r = run([CACHECTL, 'unpin', 'never/pinned/'], cwd=base, env=E.env())
        t.ok(r.rc == 1 and 'never/pinned/: not pinned' in r.etext and '=' not in r.etext,
             '%s: unpin of a path never pinned: "not pinned", exit 1'
             % ('with cachectld' if daemon else 'without cachectld'), r.show())
        if d:
            d.kill()


def read_lines(p, secs):
    """Lines of p.stdout within secs (non-blocking)."""
    out, buf = [], b''
    fd = p.stdout.fileno()
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)
    end = time.monotonic() + secs
    while time.monotonic() < end:
        r, _, _ = select.select([fd], [], [], max(0, end - time.monotonic()))
        if not r:
            break
        try:
            b = os.read(fd, 65536)
        except BlockingIOError:
            continue
        if not b:
            break
        buf += b
        while b'\n' in buf:
            ln, buf = buf.split(b'\n', 1)
            out.append(ln)
    return out


def t_monitor_json(t, E):
    f = write_file(E.path('m', 'f.bin'), 4 * MiB)
    d = E.start_daemon(t)
    p = subprocess.Popen([CACHECTL, 'monitor', '-J'], env=E.env(), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, start_new_session=True)
    try:
        time.sleep(0.5)
        # The kernel may reclaim the file on a loaded host at any time, and
        # then "evicted" is the truth; a daemon that calls its own first
        # fill an eviction does it every round.  Three rounds tell them apart.
        rounds = []
        for rnd in range(3):
            if rnd:
                r = run([CACHECTL, 'unpin', f], env=E.env())
                t.eq(r.rc, 0, 'round %d: unpin exits 0' % rnd, r.show())
                read_lines(p, 0.5)
            evict(f)
            r = run([CACHECTL, 'pin', f], env=E.env())
            t.eq(r.rc, 0, 'round %d: pin exits 0' % rnd, r.show())
            ok, _ = wait_satisfied(t, E, d, f, [f], 30)
            t.ok(ok, 'round %d: the pin is satisfied' % rnd)
            evs = []
            for ln in read_lines(p, 2.0):
                try:
                    evs.append(json.loads(ln))
                except ValueError:
                    t.ok(False, 'monitor -J line is JSON', repr(ln))
            kinds = [e.get('type') for e in evs if e.get('path') == f]
            if 'evicted' not in kinds and 'refilled' not in kinds:
                break
            rounds.append(evs)
            t.diag('round %d: evicted/refilled right after the pin' % rnd, repr(evs))
        t.ok(len(rounds) < 3,
             'right after the pin: no evicted/refilled pair for a file nobody evicted',
             repr(rounds))
        evict(f)
        lines = read_lines(p, 6.0)
        t.ok(kcached(f) > 0, 'kernel: the file was refilled')
        evs = [json.loads(ln) for ln in lines]
        t.ok(any(e.get('type') == 'evicted' and e.get('path') == f for e in evs),
             'monitor -J: an "evicted" line for the file', repr(evs))
        now = datetime.datetime.now(datetime.timezone.utc)
        for e in evs[:3]:
            ts = e.get('time', '')
            try:
                when = datetime.datetime.strptime(ts, '%Y-%m-%dT%H:%M:%S.%fZ').replace(
                    tzinfo=datetime.timezone.utc)
                fine = abs((now - when).total_seconds()) < 30
            except ValueError:
                fine = False
            t.ok(fine, 'monitor -J: each line has "time", UTC ISO 8601 with '
                 'milliseconds, of now (%r)' % ts, repr(e))
    finally:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()


def t_pin_interrupt(t, E):
    if not SLOWFS or not os.path.exists('/dev/fuse'):
        raise Skip('no slowfs or /dev/fuse')
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                    '..', 'slowfs'))
    import slowfs
    back, mnt = E.path('back'), E.path('mnt')
    os.makedirs(mnt)
    write_file(os.path.join(back, 'big.bin'), 64 * MiB)
    with slowfs.SlowFS(back, mnt, exe=SLOWFS, bw='16M'):
        for term in ('xterm', 'dumb'):
            evict(os.path.join(mnt, 'big.bin'))
            env = dict(E.env(), TERM=term)
            p = subprocess.Popen([CACHECTL, 'pin', '-r', '--progress', mnt], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            # Ctrl-C once the progress line is up (the bandwidth cap is
            # shared with reads the previous run left queued)
            chunks = []
            reader = threading.Thread(target=lambda: chunks.extend(iter(
                lambda: p.stderr.read1(4096), b'')), daemon=True)
            reader.start()
            deadline = time.monotonic() + 20
            while b'pin: ' not in b''.join(chunks) and time.monotonic() < deadline \
                    and p.poll() is None:
                time.sleep(0.05)
            time.sleep(0.3)
            p.send_signal(signal.SIGINT)
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            reader.join(5)
            err = b''.join(chunks).decode('utf-8', 'replace')
            t.eq(p.returncode, -signal.SIGINT, 'TERM=%s: Ctrl-C ends pin -r (by SIGINT)' % term,
                 repr(err[-300:]))
            t.ok('pin: ' in err, 'TERM=%s: a progress line was shown first' % term,
                 repr(err[-300:]))
            tail = err.rsplit('\r', 1)[-1]
            if tail.startswith('\x1b[K'):
                tail = tail[3:]
            t.ok(tail.startswith('cachectl: interrupted: 1 pin(s) recorded') and
                 tail.endswith('\n') and 'pin: ' not in tail,
                 'TERM=%s: the progress line is wiped and the last words say what was '
                 'recorded' % term, repr(err[-300:]))
            wipe = '\r\x1b[K' if term == 'xterm' else '\r '
            t.ok(wipe in err[-len(tail) - 200:] and
                 (term == 'xterm' or '\x1b' not in err),
                 'TERM=%s: wiped with %r' % (term, wipe), repr(err[-300:]))
            t.ok(mnt in pinned_paths(E.store_pins()), 'TERM=%s: the pin is in the store'
                 % term)
            run([CACHECTL, 'unpin', mnt], env=E.env())


def t_hard_answer(t, E):
    """pin --hard waits for the daemon's first answer: a file the daemon's
    RLIMIT_MEMLOCK cannot hold is refused with that cause, not 'no memory';
    one it can hold is locked before pin returns."""
    if os.geteuid() != 0:
        raise Skip('needs root (setpriv to uid 65534, prlimit)')
    fdir = E.path('hfiles')
    os.makedirs(fdir)
    os.chmod(fdir, 0o755)
    big = write_file(os.path.join(fdir, 'big.bin'), 4 * MiB)
    small = write_file(os.path.join(fdir, 'small.bin'), 256 * 1024)
    for f in (big, small):
        os.chmod(f, 0o644)
    d = E.start_daemon(t, 'cachectld as nobody with RLIMIT_MEMLOCK 1 MiB', user='nobody',
                       pre=['prlimit', '--memlock=%d:%d' % (MiB, MiB)])
    r = E.cachectl(['pin', '--hard', big], user='nobody')
    t.eq(r.rc, 1, 'pin --hard of 4 MiB past a 1 MiB RLIMIT_MEMLOCK exits 1', r.show())
    t.ok(big in r.etext and 'RLIMIT_MEMLOCK' in r.etext and 'CAP_IPC_LOCK' in r.etext and
         'not enough memory' not in r.etext,
         'it names the file and the cause: RLIMIT_MEMLOCK without CAP_IPC_LOCK, '
         'not memory', r.show())
    r = E.cachectl(['pins', '-J'], user='nobody')
    st = {p.get('path'): p.get('status') for p in json.loads(r.out or b'{"pins":[]}')['pins']}
    t.eq(st.get(big), 'memlock-limit', 'pins: its status says memlock-limit', r.show())
    t0 = time.monotonic()
    r = E.cachectl(['pin', '--hard', small], user='nobody')
    t.eq(r.rc, 0, 'pin --hard of 256 KiB within the limit exits 0 (%.1f s)'
         % (time.monotonic() - t0), r.show())
    verb, f = d.status(small)
    t.ok((ival(f, 'locked') or 0) > 0, 'when it returns the daemon has locked it',
         repr(f))
    t.ok(d.alive(), 'cachectld still runs', d.tail())


GROUPS = {
    'hard-answer': t_hard_answer,
    'unpin-gone': t_unpin_gone,
    'monitor-json': t_monitor_json,
    'pin-interrupt': t_pin_interrupt,
}

if __name__ == '__main__':
    sys.exit(main(GROUPS))
