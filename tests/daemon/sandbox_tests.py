#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""cachectld sandboxed: under the shipped units' own system-call filters
(applied by unit-filter, as systemd would), with residency blocked, under
its own filter, as a dedicated user, and logging to the journal.

usage: sandbox_tests.py GROUP      (see daemontest.py)

UNIT_FILTER is tests/daemon/unit-filter; the units are read from the
source tree (tools/systemd/). Set CACHECTL_TEST_UNIT to test another unit
file's filter instead of the system unit's (e.g. the old one, by hand).
"""

import errno
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'pylib'))
from cachectl_test import Fatal, ival, MiB, NOBODY, run, Skip, wait_for  # noqa: E402
from daemontest import (CACHECTL, evict, kcached, main, MLOCK_WORKS,  # noqa: E402
                        REFILL_SECS, STATUS_SATISFIED, STATUS_UNKNOWN,
                        write_file)

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..')
UNIT_FILTER = os.environ.get('UNIT_FILTER', '')
UNITS = {
    'system': os.path.join(SRC, 'tools', 'systemd', 'cachectld.service.in'),
    'user': os.path.join(SRC, 'tools', 'systemd', 'user', 'cachectld.service.in'),
}
SECCOMP_WARNING = 'a seccomp filter blocks cachestat(2) and mincore(2)'
PERMISSION_WARNING = 'cannot read the residency of'
CAPS_KEPT = (1 << 14) | (1 << 2) | (1 << 3)   # IPC_LOCK, DAC_READ_SEARCH, FOWNER


# ---- the unit's filter, as systemd 252 builds it ---------------------------

_sets = {}


def expand(name):
    """A syscall name, or an @set expanded by systemd-analyze (nested sets
    too)."""
    if not name.startswith('@'):
        return {name}
    if name not in _sets:
        r = run(['systemd-analyze', 'syscall-filter', name], timeout=30)
        if r.rc != 0:
            raise Fatal('systemd-analyze syscall-filter %s: %s' % (name, r.show()))
        out = set()
        for ln in r.text.splitlines()[1:]:
            ln = ln.strip()
            if ln and not ln.startswith('#'):
                out |= expand(ln)
        _sets[name] = out
    return _sets[name]


def unit_filter(path):
    """(mode, action, names) of a unit's SystemCallFilter= lines and
    SystemCallErrorNumber=, as systemd.exec(5) says they combine: the
    first line decides allow or deny; an allow list always has @default."""
    mode, names, action = None, set(), 'kill'
    with open(path) as f:
        for ln in f:
            m = re.match(r'\s*SystemCallFilter=(.*)', ln)
            if m:
                v = m.group(1).strip()
                if not v:
                    mode, names = None, set()
                    continue
                invert = v.startswith('~')
                v = v.lstrip('~')
                if mode is None:
                    mode = 'deny' if invert else 'allow'
                    if mode == 'allow':
                        names |= expand('@default')
                ws = set()
                for w in v.split():
                    ws |= expand(w.split(':')[0])
                if (mode == 'allow') != invert:
                    names |= ws
                else:
                    names -= ws
            m = re.match(r'\s*SystemCallErrorNumber=(\S+)', ln)
            if m:
                v = m.group(1)
                action = v if v.isdigit() else str(getattr(errno, v))
    if mode is None:
        raise Fatal('%s has no SystemCallFilter=' % path)
    return mode, action, names


def wrap(mode, action, names):
    return [UNIT_FILTER, mode, action] + sorted(names) + ['--']


def sanitizer_env(E):
    # LeakSanitizer stops the world with ptrace(2) at exit, which no
    # unit allows; what is measured here is the daemon, not its leaks
    e = E.env()
    e['ASAN_OPTIONS'] = (e.get('ASAN_OPTIONS', '') + ':detect_leaks=0').lstrip(':')
    return e


def proc_status(pid):
    out = {}
    with open('/proc/%d/status' % pid) as f:
        for ln in f:
            k, _, v = ln.partition(':')
            out[k] = v.strip()
    return out


def status(d, path):
    try:
        verb, f = d.status(path)
    except Exception as e:  # noqa: BLE001
        return {'error': repr(e)}
    f = dict(f)
    f['verb'] = verb
    return f


def soft_refill(t, E, d, what, size=8 * MiB):
    """Pin one cold file: the daemon reads its residency (STATUS says
    satisfied, the bytes the kernel shows), and refills it within 5 s of
    an eviction behind its back."""
    path = write_file(E.path('%s.bin' % what), size)
    evict(path)
    r = E.cachectl(['pin', path])
    t.eq(r.rc, 0, '%s: cachectl pin FILE exits 0' % what, r.show())
    last = {}

    def known():
        last.clear()
        last.update(status(d, path))
        fl = ival(last, 'flags') or 0
        return (fl & STATUS_SATISFIED and not fl & STATUS_UNKNOWN and
                (ival(last, 'cached') or 0) >= size)
    ok, el = wait_for(known, 30, 0.1)
    t.ok(ok, '%s: the daemon reads the residency: STATUS satisfied with %d '
         'bytes cached (%.1fs)' % (what, size, el), 'STATUS: %r' % last,
         'kernel: %r' % kcached(path), d.tail(20))
    left = evict(path)
    t0 = time.monotonic()
    full, _ = wait_for(lambda: kcached(path) >= size, REFILL_SECS, 0.05)
    t.ok(full and left == 0, '%s: evicted behind its back (%d bytes left), '
         'resident again within %.0f s (took %.2f s)'
         % (what, left, REFILL_SECS, time.monotonic() - t0),
         'kernel: %r' % kcached(path), d.tail(20))
    t.ok(PERMISSION_WARNING not in d.logtext(),
         '%s: no "cannot read the residency" warning' % what, d.tail(20))
    return path


# ===========================================================================
# unit-filter: the shipped units' filters let it read residency and refill
# ===========================================================================

def t_unit_filter(t, E):
    units = dict(UNITS)
    if os.environ.get('CACHECTL_TEST_UNIT'):
        units = {'given': os.environ['CACHECTL_TEST_UNIT']}
    for scope, unit in units.items():
        mode, action, names = unit_filter(unit)
        t.diag('%s unit: %s-list of %d calls, else %s' % (scope, mode, len(names), action))
        v = run(['systemd-analyze', 'verify', unit], timeout=60)
        bad = [ln for ln in v.text.splitlines() if 'system call' in ln]
        t.ok(not bad, '%s unit: systemd-analyze verify parses every system call '
             'name of SystemCallFilter=' % scope, '\n'.join(bad))
        d = E.start_daemon(t, '%s unit filter: cachectld starts and answers' % scope,
                           pre=wrap(mode, action, names), env=sanitizer_env(E),
                           name='unit-' + scope)
        soft_refill(t, E, d, scope + '-unit')
        t.ok(d.alive(), '%s unit filter: cachectld still runs' % scope, d.tail())
        d.kill()
        E.cachectl(['unpin', E.path('%s-unit.bin' % scope)])


# ===========================================================================
# blind: residency blocked (seccomp, permission): unknown, warned, refilled
# ===========================================================================

def never_kept(t, E, d, path, what, secs=3.0, user=None):
    seen = []

    def poll():
        seen.append(ival(status(d, path), 'flags'))
        return False
    wait_for(poll, secs, 0.2)
    t.ok(seen and all(f is not None and f & STATUS_UNKNOWN and
                      not f & STATUS_SATISFIED for f in seen),
         '%s: STATUS says unknown, never satisfied, for %.0f s (%d polls)'
         % (what, secs, len(seen)), 'flags seen: %r' % seen, d.tail(20))
    r = E.cachectl(['pins'], user=user)
    line = [ln for ln in r.text.splitlines() if path in ln]
    t.ok(line and re.search(r'\bunknown\b', line[0]) and
         not re.search(r'\bkept\b', line[0]) and ' ? ' in line[0],
         '%s: cachectl pins shows it "unknown" with CACHED "?"' % what, r.show())


def t_blind(t, E):
    mode, action, names = unit_filter(UNITS['system'])
    names -= {'mincore', 'cachestat'}
    d = E.start_daemon(t, 'cachectld starts under a filter without mincore and cachestat',
                       pre=wrap(mode, action, names), env=sanitizer_env(E),
                       name='blind')
    path = write_file(E.path('blind.bin'), 4 * MiB)
    path2 = write_file(E.path('blind2.bin'), 4 * MiB)
    for p in (path, path2):
        r = E.cachectl(['pin', p])
        t.eq(r.rc, 0, 'cachectl pin %s exits 0' % os.path.basename(p), r.show())
    never_kept(t, E, d, path, 'seccomp')
    log = d.logtext()
    t.eq(log.count(SECCOMP_WARNING), 1, 'one warning names the seccomp filter '
         'as the cause, for two pins', d.tail(20))
    # still refilled, blindly: WILLNEED now and then
    evict(path)
    full, el = wait_for(lambda: kcached(path) >= 4 * MiB, 20, 0.2)
    t.ok(full, 'seccomp: the blind pin is refilled after an eviction (%.1fs)' % el,
         d.tail(10))
    d.kill()

    # permission: a user daemon cannot see the cache of a file it does
    # not own and cannot write (Linux 6.x); the warning says so
    if os.geteuid() != 0:
        t.skip('permission: unknown and warned', 'needs root (setpriv)')
        return
    dn = E.start_daemon(t, 'a user cachectld runs as nobody', user='nobody',
                        name='blind-nobody')
    base = E.nobody_home()
    path = write_file(os.path.join(base, 'roots.bin'), 4 * MiB)
    os.chmod(path, 0o644)
    r = E.cachectl(['pin', path], user='nobody')
    t.eq(r.rc, 0, 'nobody pins a file root owns', r.show())
    if kcs_unknown_for_nobody(path):
        never_kept(t, E, dn, path, 'permission', user='nobody')
        log = dn.logtext()
        t.ok(log.count(PERMISSION_WARNING) == 1 and 'permission' in log and
             SECCOMP_WARNING not in log,
             'one warning names permission, not seccomp, as the cause', dn.tail(20))
    else:
        t.skip('permission: unknown and warned',
               'this kernel shows any reader the page cache')
    dn.kill()


def kcs_unknown_for_nobody(path):
    """Does the kernel refuse cachestat(2) to nobody on path (EPERM)?"""
    code = ('import ctypes, os, sys\n'
            'fd = os.open(sys.argv[1], os.O_RDONLY)\n'
            'libc = ctypes.CDLL(None, use_errno=True)\n'
            'r = (ctypes.c_uint64 * 2)(0, 0); cs = (ctypes.c_uint64 * 5)()\n'
            'sys.exit(3 if libc.syscall(451, fd, r, cs, 0) < 0 and '
            'ctypes.get_errno() == 1 else 0)\n')
    r = run(['setpriv', '--reuid=%d' % NOBODY, '--regid=%d' % NOBODY,
             '--clear-groups', sys.executable, '-c', code, path], timeout=10)
    return r.rc == 3


# ===========================================================================
# self-filter: its own filter and NoNewPrivileges, and everything still works
# ===========================================================================

def t_self_filter(t, E):
    d = E.start_daemon(t)
    st = proc_status(d.pid)
    t.eq(st.get('Seccomp'), '2', 'cachectld runs under its own seccomp filter '
         '(/proc/PID/status Seccomp: 2)', d.tail())
    t.eq(st.get('NoNewPrivs'), '1', 'cachectld set NoNewPrivileges', d.tail())
    soft_refill(t, E, d, 'self')
    # inotify, the walk, the store written (temp, fchmod, rename)
    root = E.path('inh')
    write_file(os.path.join(root, 'old'), 1 * MiB)
    r = E.cachectl(['pin', '-r', '--inherit', root])
    t.eq(r.rc, 0, 'an inherit pin is recorded', r.show())
    new = write_file(os.path.join(root, 'sub', 'new'), 2 * MiB)
    evict(new)
    full, el = wait_for(lambda: kcached(new) >= 2 * MiB, REFILL_SECS + 5, 0.05)
    t.ok(full, 'a new file under the inherit pin is made resident (%.1fs)' % el,
         d.tail(20))
    pins = E.store_pins()
    t.ok(any(os.fsdecode(p[4]) == root for p in pins),
         'the daemon wrote the store under its filter', repr(pins))
    if MLOCK_WORKS:
        hard = write_file(E.path('hard.bin'), 4 * MiB)
        r = E.cachectl(['pin', '--hard', hard])
        ok, el = wait_for(lambda: (ival(status(d, hard), 'locked') or 0) >= 4 * MiB,
                          30, 0.1)
        t.ok(r.rc == 0 and ok, 'a hard pin is locked under the filter '
             '(fork, mmap, mlock) (%.1fs)' % el, r.show(), d.tail(20))
    else:
        t.skip('a hard pin is locked under the filter',
               'ASan build: mlock() returns 0 without locking')
    os.kill(d.pid, signal.SIGHUP)
    time.sleep(0.5)
    t.ok(d.ping() is None, 'it reloads on SIGHUP and answers', d.tail(10))
    t.ok('cannot install the system-call filter' not in d.logtext(),
         'no filter error logged', d.tail(20))
    rc = d.kill()
    t.eq(rc, 0, 'SIGTERM: it exits 0 under its filter', d.tail(10))


# ===========================================================================
# run-as: the system daemon drops uid 0, keeps three capabilities (under
# the system unit's filter)
# ===========================================================================

def t_run_as(t, E):
    if os.geteuid() != 0:
        raise Skip('needs root')
    # as the system unit starts it: under its filter, which must let the
    # switch (setresuid, capset, chown) through
    d = E.start_daemon(t, 'cachectld --system --run-as nobody starts and answers '
                       'under the system unit\'s filter',
                       scope='--system', args=['--run-as', 'nobody'],
                       pre=wrap(*unit_filter(UNITS['system'])), env=sanitizer_env(E))
    st = proc_status(d.pid)
    t.ok(st['Uid'].split() == [str(NOBODY)] * 4 and
         st['Gid'].split() == [str(NOBODY)] * 4 and st['Groups'] == '',
         'it runs as nobody: every uid and gid, no groups',
         'Uid %s Gid %s Groups %r' % (st['Uid'], st['Gid'], st['Groups']))
    caps = {k: int(st[k], 16) for k in ('CapEff', 'CapPrm', 'CapInh', 'CapBnd', 'CapAmb')}
    t.ok(caps['CapEff'] == caps['CapPrm'] == caps['CapBnd'] == CAPS_KEPT and
         caps['CapInh'] == caps['CapAmb'] == 0,
         'it keeps exactly cap_ipc_lock, cap_dac_read_search, cap_fowner',
         repr({k: hex(v) for k, v in caps.items()}))
    t.ok(st['NoNewPrivs'] == '1' and st['Seccomp'] == '2',
         'NoNewPrivileges and its seccomp filter', repr(st.get('Seccomp')))
    # a file another user owns, readable only by them
    path = write_file(E.path('other.bin'), 8 * MiB)
    os.chown(path, 4242, 4242)
    os.chmod(path, 0o600)
    evict(path)
    r = E.cachectl(['pin', '--system', path])
    t.eq(r.rc, 0, 'root pins a file uid 4242 owns, mode 0600', r.show())
    last = {}

    def known():
        last.clear()
        last.update(status(d, path))
        fl = ival(last, 'flags') or 0
        return fl & STATUS_SATISFIED and (ival(last, 'cached') or 0) >= 8 * MiB
    ok, el = wait_for(known, 30, 0.1)
    t.ok(ok, 'it reads and keeps the residency of that file (%.1fs)' % el,
         'STATUS %r' % last, d.tail(20))
    left = evict(path)
    t0 = time.monotonic()
    full, _ = wait_for(lambda: kcached(path) >= 8 * MiB, REFILL_SECS, 0.05)
    t.ok(full and left == 0, 'and refills it within %.0f s of an eviction (took %.2f s)'
         % (REFILL_SECS, time.monotonic() - t0), d.tail(20))
    sst = os.stat(E.store)
    t.eq(sst.st_uid, NOBODY, 'the store it wrote belongs to nobody')
    t.eq(d.kill(), 0, 'SIGTERM: it exits 0', d.tail(10))
    t.ok(not os.path.exists(d.sock), 'it removed its socket at exit', d.sock)


# ===========================================================================
# journal: <N> priority prefixes when stderr is JOURNAL_STREAM's
# ===========================================================================

def t_journal(t, E):
    for match in (True, False):
        name = 'journal-%s' % ('yes' if match else 'no')
        logpath = E.path('%s.%d.log' % (name, len(E.daemons)))
        open(logpath, 'wb').close()
        s = os.stat(logpath)
        env = E.env()
        env['JOURNAL_STREAM'] = '%d:%d' % (s.st_dev, s.st_ino + (0 if match else 1))
        d = E.start_daemon(t, '%s: cachectld starts' % name, env=env, name=name)
        d.kill()
        lines = [ln for ln in d.logtext().splitlines() if ln]
        if match:
            t.ok(lines and all(re.match(r'<[0-7]>', ln) for ln in lines) and
                 any(ln.startswith('<5>') for ln in lines) and
                 not any('cachectld: notice' in ln for ln in lines),
                 'JOURNAL_STREAM names stderr: every line has a <N> prefix '
                 '(<5> for notices), no plain prefix', '\n'.join(lines[:10]))
        else:
            t.ok(lines and not any(re.match(r'<[0-7]>', ln) for ln in lines) and
                 any(ln.startswith('cachectld: notice: ') for ln in lines),
                 'JOURNAL_STREAM names another file: plain lines', '\n'.join(lines[:10]))


GROUPS = {
    'unit-filter': t_unit_filter,
    'blind': t_blind,
    'self-filter': t_self_filter,
    'run-as': t_run_as,
    'journal': t_journal,
}


if __name__ == '__main__':
    if not UNIT_FILTER and len(sys.argv) == 2 and sys.argv[1] in ('unit-filter', 'blind'):
        print('not ok 1 - UNIT_FILTER (tests/daemon/unit-filter) is set')
        print('1..1')
        sys.exit(1)
    sys.exit(main(GROUPS))
