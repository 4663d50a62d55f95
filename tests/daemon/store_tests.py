#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The pin store: crash safety of every change, by the CLI and by the
daemon, and corrupt stores refused and never replaced.

usage: store_tests.py GROUP      (see daemontest.py)
"""

import json
import os
import random
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'pylib'))
from cachectl_test import (KiB, kill_group, make_store, parse_store,  # noqa: E402
                           StoreError, wait_for)
from daemontest import (CACHECTL, Daemon, evict, main, MLOCK_WORKS,  # noqa: E402
                        pinned_paths, Resid, write_file)


# ===========================================================================
# 5. crash-safety: kill -9 at random points never tears or loses the store
# ===========================================================================

ITER_CLI = 200
ITER_DAEMON = 200


def corrupt_stores(t, E, mk):
    """A corrupt or foreign store is reported and never rewritten."""
    two = [('soft', 'r-', 0, 0, os.fsencode(mk('corrupt-a'))),
           ('hard', '--', 7, 4096, os.fsencode(mk('corrupt-b')))]
    small = make_store(two)
    i_path = small.index(b'\npin ') + 30
    variants = {
        'flipped byte': small[:i_path] + bytes([small[i_path] ^ 1]) + small[i_path + 1:],
        'flipped hash': small[:-3] + (b'0' if small[-3:-2] != b'0' else b'1') + small[-2:],
        'truncated end': small[:-6],
        'truncated half': small[:len(small) // 2],
        'foreign': b'{"pins": ["/etc/passwd"]}\n',
        'binary': os.urandom(300),
        'empty': b'',
        'count off': make_store(two, count=3),
        'version 2': make_store(two, header=b'cachectl-pins 2'),
        'bad escape': make_store([('soft', '--', 0, 0, b'/x\\xZZ')]),
        'bad mode': make_store([('warm', '--', 0, 0, b'/x')]),
    }
    newf = mk('after-corrupt')
    # first, our writer's valid store is one the library takes (so the
    # variants below are refused for what is wrong with them, not for us)
    st = E.path('valid-own')
    os.makedirs(st)
    with open(os.path.join(st, 'pins'), 'wb') as fh:
        fh.write(small)
    r = E.cachectl(['pin', newf], env=E.env(state=st, runtime=E.path('run-valid')))
    try:
        got = parse_store(E.store_bytes(os.path.join(st, 'pins')))
    except StoreError as e:
        got = str(e)
    t.ok(r.rc == 0 and isinstance(got, list) and len(got) == 3 and got[:2] == two,
         'a valid store written by the test is taken by cachectl pin, which adds '
         'a third pin', r.show(), repr(got))
    for name, data in variants.items():
        st = E.path('corrupt-' + name.replace(' ', '-'))
        os.makedirs(st)
        store = os.path.join(st, 'pins')
        with open(store, 'wb') as fh:
            fh.write(data)
        ino = os.stat(store).st_ino
        env = E.env(state=st, runtime=E.path('run-' + name.replace(' ', '-')))
        os.makedirs(env['CACHECTL_RUNTIME_DIR'])
        r = E.cachectl(['pin', newf], env=env)
        t.ok(r.rc != 0 and store in r.etext, '%s store: cachectl pin fails and names '
             'the store' % name, r.show())
        same = E.store_bytes(store) == data and os.stat(store).st_ino == ino
        t.ok(same, '%s store: unchanged after cachectl pin' % name)
        d = Daemon(E, env=env, name='corrupt')
        try:
            said, _ = wait_for(lambda: store in d.logtext() or not d.alive(), 5)
            said = store in d.logtext()
            if d.alive() and d.wait_ready(2):
                r = E.cachectl(['pin', newf], env=env)
                t.ok(r.rc != 0, '%s store: pin through the running daemon fails'
                     % name, r.show())
        finally:
            d.kill()
        t.ok(said, '%s store: cachectld reports it with its path' % name, d.tail(10))
        same = E.store_bytes(store) == data and os.stat(store).st_ino == ino
        t.ok(same, '%s store: unchanged after cachectld ran on it' % name)


def t_crash_safety(t, E):
    rnd = random.Random(int(os.environ.get('CACHECTL_TEST_SEED', '0')) or None)
    seed = rnd.randrange(1 << 30)
    rnd.seed(seed)
    t.diag('random seed %d (CACHECTL_TEST_SEED to repeat)' % seed)
    fdir = E.path('files')
    os.makedirs(fdir)
    block = os.urandom(8 * KiB)

    def mk(name):
        return write_file(os.path.join(fdir, name), 8 * KiB, block)

    # how long an uninterrupted pin takes, to aim the kills inside it
    probe_env = E.env(state=E.path('probe-state'))
    times = []
    for i in range(5):
        r = E.cachectl(['pin', mk('probe%d' % i)], env=probe_env)
        if i == 0:
            t.eq(r.rc, 0, 'cachectl pin with no daemon exits 0', r.show())
            t.ok(re.search(r'daemon|cachectld', r.etext, re.I),
                 'cachectl pin with no daemon says on stderr that nothing keeps the pin',
                 r.show())
        times.append(r.elapsed)
    tpin = sorted(times)[2]
    window = min(0.05, max(0.002, tpin * 1.3))
    t.diag('cachectl pin takes %.1f ms; kills land in 0..%.1f ms'
           % (tpin * 1000, window * 1000))
    try:
        probe = parse_store(E.store_bytes(E.path('probe-state', 'pins')) or b'')
        t.eq(len(probe), 5, 'our parser reads the store the CLI wrote: 5 pins')
    except StoreError as e:
        t.ok(False, 'our parser reads the store the CLI wrote', str(e))

    corrupt_stores(t, E, mk)

    # --- kill -9 of cachectl pin ---
    old = set()
    outcomes = {'old': 0, 'new': 0}
    problems = []
    for i in range(ITER_CLI):
        f = mk('c%03d' % i)
        args = ['pin', f]
        if rnd.random() < 0.3:
            args[1:1] = ['--priority', str(rnd.randrange(-1000, 1001))]
        if rnd.random() < 0.2:
            args[1:1] = ['--hard']
        p = subprocess.Popen([CACHECTL] + args, env=E.env(), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(rnd.uniform(0, window))
        kill_group(p.pid)
        p.wait()
        try:
            now = set(E.store_pins())
        except StoreError as e:
            problems.append('iteration %d: store torn: %s' % (i, e))
            break
        if now == old:
            outcomes['old'] += 1
        elif len(now - old) == 1 and old <= now and \
                os.fsdecode(next(iter(now - old))[4]) == f:
            outcomes['new'] += 1
        else:
            problems.append('iteration %d: neither old nor new set: lost %r, gained %r'
                            % (i, sorted(old - now)[:3], sorted(now - old)[:3]))
            break
        old = now
    t.ok(not problems, 'kill -9 of cachectl pin at random points, %d times: the store '
         'always parses and is the old or the new set' % ITER_CLI, *problems)
    t.diag('outcomes: %r' % outcomes)
    t.ok(outcomes['old'] and outcomes['new'], 'the kills landed both before and after '
         'the commit (old %d, new %d)' % (outcomes['old'], outcomes['new']))
    tmp = [n for n in os.listdir(E.state) if n not in ('pins', 'pins.lock')]
    if tmp:
        t.diag('note: %d leftover files in the store dir (e.g. %r)' % (len(tmp), tmp[:3]))

    # --- kill -9 of cachectl pin while a daemon serves it (the daemon
    # writes the store then) ---
    d = E.start_daemon(t, 'cachectld starts on the store left by the CLI kills')
    outcomes = {'old': 0, 'new': 0}
    pending = set()
    for i in range(ITER_CLI // 2):
        f = mk('s%03d' % i)
        p = subprocess.Popen([CACHECTL, 'pin', f], env=E.env(), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(rnd.uniform(0, window))
        kill_group(p.pid)
        p.wait()
        # the daemon may still be committing what it was sent: a pin of
        # an earlier iteration may land late, but nothing else may
        pending.add(f)
        time.sleep(0.02)
        try:
            now = set(E.store_pins())
        except StoreError as e:
            problems.append('served iteration %d: store torn: %s' % (i, e))
            break
        gained = pinned_paths(now - old)
        if now == old:
            outcomes['old'] += 1
        elif old <= now and gained <= pending and len(gained) == len(now - old):
            outcomes['new'] += 1
            pending -= gained
        else:
            problems.append('served iteration %d: neither old nor new set: lost %r, '
                            'gained %r' % (i, sorted(old - now)[:3], sorted(now - old)[:3]))
            break
        old = now
    t.ok(not problems, 'kill -9 of cachectl pin while the daemon serves it, %d times: '
         'the store is always the old or the new set' % (ITER_CLI // 2), *problems)
    t.diag('outcomes: %r' % outcomes)
    why = d.ping(1.0)
    t.ok(why is None, 'the daemon still answers after its clients were killed',
         why or '', d.tail(10))
    time.sleep(0.3)
    verb, f, listed = d.list()
    got = sorted(os.fsdecode(m[1].get('path', b'')) for m in listed)
    old = set(E.store_pins())
    t.eq(got, sorted(pinned_paths(old)), 'the daemon\'s pins are the store\'s')
    d.kill()

    # --- kill -9 of cachectld, during its start and while it serves a pin ---
    outcomes = {'old': 0, 'new': 0}
    hung = []
    lost = []
    for i in range(ITER_DAEMON):
        f = mk('d%03d' % i)
        d = E.daemon(name='crash')
        cli = None
        if i % 2:
            # while it serves a pin
            if not d.wait_ready(10):
                problems.append('iteration %d: daemon did not start\n%s' % (i, d.tail()))
                d.kill(signal.SIGKILL)
                break
            cli = subprocess.Popen([CACHECTL, 'pin', f], env=E.env(),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True)
            time.sleep(rnd.uniform(0, window))
        else:
            # during its start (it reads the store then)
            time.sleep(rnd.uniform(0, 0.05))
        d.kill(signal.SIGKILL)
        if cli:
            try:
                cli.wait(15)
            except subprocess.TimeoutExpired:
                hung.append(i)
                kill_group(cli.pid)
                cli.wait()
        try:
            now = set(E.store_pins())
        except StoreError as e:
            problems.append('daemon iteration %d: store torn: %s' % (i, e))
            break
        if cli and cli.returncode == 0 and f not in pinned_paths(now):
            lost.append('iteration %d: cachectl pin exited 0 but %s is not in the '
                        'store' % (i, f))
        if now == old:
            outcomes['old'] += 1
        elif len(now - old) == 1 and old <= now and \
                os.fsdecode(next(iter(now - old))[4]) == f:
            outcomes['new'] += 1
        else:
            problems.append('daemon iteration %d: neither old nor new set: lost %r, '
                            'gained %r' % (i, sorted(old - now)[:3], sorted(now - old)[:3]))
            break
        old = now
    t.ok(not problems, 'kill -9 of cachectld at random points (start, serving a pin), '
         '%d times: the store always parses and is the old or the new set'
         % ITER_DAEMON, *problems)
    t.diag('outcomes: %r' % outcomes)
    t.ok(not hung, 'cachectl pin never hangs when the daemon dies under it',
         'iterations: %r' % hung[:20])
    t.ok(not lost, 'a pin that cachectl pin reported done (exit 0) is in the store',
         *lost[:10])

    # --- the restarted daemon restores every pin ---
    pins = E.store_pins()
    paths = sorted(pinned_paths(pins))
    t.ok(len(paths) >= 100, 'the store holds %d pins after the kills' % len(paths))
    for p in paths:
        evict(p)
    d = E.start_daemon(t, 'cachectld starts on the store left by the kills')
    verb, f, listed = d.list()
    got = sorted(os.fsdecode(m[1].get('path', b'')) for m in listed)
    t.ok(verb == 'OK' and got == paths, 'daemon LIST holds exactly the %d pins of the '
         'store' % len(paths), 'LIST: %s %r, %d pins' % (verb, f, len(got)),
         'missing: %r' % sorted(set(paths) - set(got))[:5],
         'extra: %r' % sorted(set(got) - set(paths))[:5])
    r = E.cachectl(['pins', '-J', '-b'])
    try:
        rows = json.loads(r.out)['pins']
        jp = sorted(row.get('path') for row in rows)
    except Exception as e:  # noqa: BLE001
        jp = 'unparsable: %s' % e
    t.eq(jp, paths, 'cachectl pins -J lists every pin of the store', r.show()[:2000])
    # a hard pin refills by mlock(2), which locks nothing under ASan
    soft = [os.fsdecode(p[4]) for p in pins if MLOCK_WORKS or p[0] != 'hard']
    if len(soft) < len(pins):
        t.diag('ASan build: mlock() locks nothing, so only the %d soft pins '
               'are checked' % len(soft))
    R = Resid(soft)
    full, el = wait_for(R.full, 20, 0.2)
    t.ok(full, 'kernel: every pinned file is resident again after the restart '
         '(%.1fs)' % el, R.describe(), d.tail(20))
    d.kill()


GROUPS = {
    'crash-safety': t_crash_safety,
}


if __name__ == '__main__':
    sys.exit(main(GROUPS))
