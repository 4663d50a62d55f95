#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Names that are not UTF-8, through every verb's JSON and tables.

usage: escape_tests.py GROUP

The JSON must parse with Python's strict decoder (the bytes as strict
UTF-8 first, then json.loads), and every name must come back with
os.fsencode() (surrogateescape) as the exact bytes on disk. Tables must
carry no raw control byte and no byte that is not UTF-8.

Environment: CACHECTL (the binary), CACHECTL_TEST_TMPDIR (scratch, a disk
filesystem; default /var/tmp). Output is TAP.
"""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'pylib'))
from cachectl_test import main_in_scratch  # noqa: E402

CACHECTL = os.environ.get('CACHECTL')

# one name per class of bytes that are not UTF-8, plus the ones that are
NAMES = {
    'valid': 'caf\u00e9 \U0001f600.txt'.encode(),
    'latin-1': b'caf\xe9.txt',
    'lone continuation': b'x\x80y',
    'overlong 2-byte': b'slash\xc0\xaf',
    'overlong 3-byte': b'over\xe0\x80\xaf3',
    'overlong 4-byte': b'over\xf0\x80\x80\xaf4',
    'surrogate': b'surr\xed\xa0\x80',
    'above U+10FFFF': b'big\xf4\x90\x80\x80',
    'F5..FF': b'ff\xf5\xff',
    'truncated': b'trunc\xe2\x82a',
    'truncated at the end': b'end\xf0\x9f\x98',
    'controls': b'ctl\n\t\x1b\x7f',
    'quote, backslash': b'q"b\\x41',
}


def run(args, env=None):
    e = dict(os.environ, LC_ALL='C')
    e.pop('CACHECTL_BACKEND', None)
    e.update(env or {})
    p = subprocess.run([CACHECTL] + [os.fsdecode(a) for a in args],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=e, timeout=60)
    return p


def show(p):
    return 'rc %d\nstdout %r\nstderr %r' % (p.returncode, p.stdout[:2000],
                                           p.stderr[:2000])


def strict_json(t, p, desc):
    try:
        return json.loads(p.stdout.decode('utf-8', 'strict'))
    except (UnicodeDecodeError, ValueError) as e:
        t.ok(False, desc + ': strict UTF-8 and JSON', repr(e), show(p))
        return None


def tree(work):
    d = os.path.join(work, 'names')
    os.makedirs(d)
    for name in NAMES.values():
        with open(os.path.join(os.fsencode(d), name), 'wb') as f:
            f.write(b'x' * 4096)
    return d


def t_json_names(t, work):
    d = tree(work)
    p = run(['status', '-r', '-J', '-b', d])
    t.ok(p.returncode == 0, 'status -r -J: exit 0', show(p))
    doc = strict_json(t, p, 'status -J')
    if doc is not None:
        got = {os.path.basename(os.fsencode(r['file']))
               for r in doc['cachectl']}
        for what, name in NAMES.items():
            t.ok(name in got, 'status -J: %s name round-trips through '
                 'surrogateescape' % what, 'want %r' % name,
                 'got %r' % sorted(got))
    # a total row and human units take the same path
    p = run(['status', '-r', '-J', '-c', d])
    t.ok(strict_json(t, p, 'status -J -c') is not None,
         'status -J -c: strict JSON')

    env = {'CACHECTL_STATE_DIR': os.path.join(work, 'state'),
           'CACHECTL_RUNTIME_DIR': os.path.join(work, 'run')}
    os.makedirs(env['CACHECTL_RUNTIME_DIR'])
    for name in NAMES.values():
        p = run(['pin', '--no-prefetch',
                 os.path.join(os.fsencode(d), name)], env)
        t.ok(p.returncode == 0, 'pin %r: exit 0' % name, show(p))
    p = run(['pins', '-J', '-b'], env)
    doc = strict_json(t, p, 'pins -J')
    if doc is not None:
        got = {os.path.basename(os.fsencode(r['path'])) for r in doc['pins']}
        for what, name in NAMES.items():
            t.ok(name in got, 'pins -J: %s name round-trips' % what,
                 'want %r' % name, 'got %r' % sorted(got))


def no_raw(t, p, desc):
    try:
        text = p.stdout.decode('utf-8', 'strict')
    except UnicodeDecodeError as e:
        t.ok(False, desc + ': output is UTF-8', repr(e), show(p))
        return
    t.ok(True, desc + ': output is UTF-8')
    ctl = sorted({c for c in text if (ord(c) < 0x20 and c != '\n') or
                  ord(c) == 0x7f})
    t.ok(not ctl, desc + ': no raw control bytes', repr(ctl), show(p))


def t_table_names(t, work):
    d = tree(work)
    p = run(['status', '-r', '-b', d])
    t.ok(p.returncode == 0, 'status -r: exit 0', show(p))
    no_raw(t, p, 'status table')
    lines = [ln for ln in p.stdout.split(b'\n') if ln]
    t.ok(len(lines) == len(NAMES) + 1, 'status table: one line per file',
         show(p))
    # \xHH takes every name back, byte for byte
    p = run(['status', '-r', '--raw', '-n', '-o', 'FILE', d])
    no_raw(t, p, 'status --raw')
    got = set()
    for ln in p.stdout.split(b'\n'):
        if ln:
            got.add(os.path.basename(unhex(ln)))
    t.ok(got == set(NAMES.values()), 'status --raw: un-escaping \\xHH gives '
         'back every exact name', 'got %r' % sorted(got))

    env = {'CACHECTL_STATE_DIR': os.path.join(work, 'state'),
           'CACHECTL_RUNTIME_DIR': os.path.join(work, 'run')}
    os.makedirs(env['CACHECTL_RUNTIME_DIR'])
    run(['pin', '--no-prefetch', '-r', d], env)
    p = run(['pins', '-b'], env)
    no_raw(t, p, 'pins table')


def unhex(b):
    out, i = bytearray(), 0
    while i < len(b):
        if b[i:i + 2] == b'\\x':
            out.append(int(b[i + 2:i + 4], 16))
            i += 4
        else:
            out.append(b[i])
            i += 1
    return bytes(out)


def wire(v):
    """A value as the wire carries it: controls and backslash as \\xHH,
    every other byte as it is."""
    return b''.join(b'\\x%02x' % c if c < 0x20 or c in (0x5c, 0x7f)
                    else bytes([c]) for c in v)


def fake_daemon(sock_path, names, ready):
    """Answers HELLO and SUBSCRIBE, then sends one event a name and hangs
    up: cachectl monitor then prints them and says the daemon is gone."""
    import socket
    import struct
    ls = socket.socket(socket.AF_UNIX)
    ls.bind(sock_path)
    ls.listen(1)
    ready.set()
    ls.settimeout(20)
    try:
        c, _ = ls.accept()
    except OSError:
        return

    def send(body):
        c.sendall(struct.pack('<I', len(body)) + body)

    send(b'HELLO\nversion=1')
    buf = b''
    c.settimeout(20)
    while True:
        d = c.recv(65536)
        if not d:
            break
        buf += d
        if len(buf) >= 4 and len(buf) >= 4 + struct.unpack('<I', buf[:4])[0]:
            n = struct.unpack('<I', buf[:4])[0]
            msg, buf = buf[4:4 + n], buf[4 + n:]
            send(b'OK')
            if msg.split(b'\n')[0] == b'SUBSCRIBE':
                for i, name in enumerate(names):
                    send(b'EVENT\ntype=2\npath=/p/' + wire(name) +
                         b'\nbytes=%d' % (4096 * (i + 1)))
                break
    c.close()
    ls.close()


def t_monitor_names(t, work):
    import threading
    rt = os.path.join(work, 'run')
    os.makedirs(rt)
    names = list(NAMES.values())
    ready = threading.Event()
    th = threading.Thread(target=fake_daemon,
                          args=(os.path.join(rt, 'cachectld.sock'), names,
                                ready))
    th.start()
    ready.wait(10)
    p = run(['monitor', '-J'], {'CACHECTL_RUNTIME_DIR': rt})
    th.join(30)
    t.ok(p.returncode == 1 and b'gone' in p.stderr,
         'monitor -J: exit 1 when the daemon goes away', show(p))
    lines = [ln for ln in p.stdout.split(b'\n') if ln]
    t.ok(len(lines) == len(names), 'monitor -J: one line an event', show(p))
    got = []
    for ln in lines:
        try:
            ev = json.loads(ln.decode('utf-8', 'strict'))
        except (UnicodeDecodeError, ValueError) as e:
            t.ok(False, 'monitor -J: a line is strict UTF-8 and JSON: %r' % ln,
                 repr(e))
            continue
        got.append(os.fsencode(ev['path'])[len(b'/p/'):])
        if ev['type'] != 'evicted':
            t.ok(False, 'monitor -J: type "evicted"', repr(ev))
    for what, name in NAMES.items():
        t.ok(name in got, 'monitor -J: %s name round-trips' % what,
             'want %r' % name, 'got %r' % got)


GROUPS = {
    'json-names': t_json_names,
    'monitor-names': t_monitor_names,
    'table-names': t_table_names,
}


def main():
    return main_in_scratch(sys.argv, GROUPS, 'cachectl-escape-')


if __name__ == '__main__':
    sys.exit(main())
