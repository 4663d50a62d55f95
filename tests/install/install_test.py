#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The README as a new user meets it: `meson install --destdir` into a
scratch tree, then the README's quick start and example blocks run line
by line, as written, by a user who is not root (uid 65534 when we are
root), with only the installed tree on PATH and LD_LIBRARY_PATH, and the
README's library example compiled against the installed header and .pc.

Lines are taken from README.md itself, so an example that stops working,
or a new one that never did, fails here. The examples' absolute
directories (/scratch, /data, /nfs), which a user cannot create, are made
under that user's home and the lines pointed there; nothing else changes.
What the lines did is checked against the kernel (kcachestat) where they
promise something about residency.

usage: install_test.py BUILD_DIR SOURCE_DIR      (KCACHESTAT in the env)
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'pylib'))
from cachectl_test import (default_bases, kcs, MiB, NOBODY, run,  # noqa: E402
                           scratch_dir, SETPRIV, Skip, skip_all, Tap)

KiB = 1024


def readme_blocks(text, section):
    """The ```sh blocks of a '## section', as lists of (line, comment)."""
    m = re.search(r'^## %s\n(.*?)(?=^## )' % re.escape(section), text, re.M | re.S)
    blocks = []
    for b in re.findall(r'^```sh\n(.*?)^```', m.group(1) if m else '', re.M | re.S):
        lines = []
        for ln in b.splitlines():
            # a comment starts at " # " (none of the examples quote one)
            cmd, _, comment = ln.partition(' # ')
            if cmd.strip():
                lines.append((cmd.strip(), comment.strip()))
        blocks.append(lines)
    return blocks


def readme_c(text):
    m = re.search(r'^## Library\n.*?^```c\n(.*?)^```', text, re.M | re.S)
    return m.group(1) if m else ''


def mkfile(path, size):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(os.urandom(size))
    return path


def cached(path):
    r = kcs([path])
    return int(r.text.split()[0]) if r.rc == 0 else -1


def cold(path):
    kcs(['-e', path])


def tree_files(root):
    return [os.path.join(dp, f) for dp, _, fs in os.walk(root) for f in fs]


def main():
    t = Tap()
    if len(sys.argv) != 3:
        t.ok(False, 'usage: install_test.py BUILD_DIR SOURCE_DIR')
        return t.done()
    build, src = sys.argv[1:]
    meson = shutil.which('meson')
    work = None
    daemon = None
    try:
        if not meson:
            raise Skip('no meson on PATH')
        as_root = os.geteuid() == 0
        if as_root and not shutil.which('setpriv'):
            raise Skip('needs setpriv to run the examples as uid %d' % NOBODY)
        work = scratch_dir('cachectl-install-', default_bases())
        dest = os.path.join(work, 'dest')
        r = run([meson, 'install', '-C', build, '--destdir', dest, '--no-rebuild',
                 '--quiet'], timeout=300)
        if not t.eq(r.rc, 0, 'meson install --destdir exits 0', r.show()):
            return t.done()
        opts = {}
        r = run([meson, 'introspect', build, '--buildoptions'], timeout=60)
        import json
        for o in json.loads(r.out):
            opts[o['name']] = o['value']
        prefix = opts['prefix']
        root = dest + prefix

        def where(name):
            for d in (opts['bindir'], opts['sbindir']):
                if os.access(os.path.join(root, d, name), os.X_OK):
                    return os.path.join(root, d)
            return None
        bindir = os.path.join(root, opts['bindir'])
        libdir = os.path.join(root, opts['libdir'])
        t.ok(os.access(os.path.join(bindir, 'cachectl'), os.X_OK),
             'cachectl installed in bindir (%s)' % opts['bindir'])
        dbin = where('cachectld')
        t.ok(dbin is not None, 'cachectld installed (%s)'
             % (os.path.relpath(dbin, root) if dbin else 'nowhere'))
        for f in ('libcachectl.so.0', 'pkgconfig/libcachectl.pc'):
            t.ok(os.path.exists(os.path.join(libdir, f)), '%s installed' % f)
        t.ok(os.path.exists(os.path.join(root, opts['includedir'], 'libcachectl',
                                         'libcachectl.h')), 'the header installed')
        t.ok(os.path.exists(os.path.join(root, opts['mandir'], 'man1', 'cachectl.1')) or
             opts.get('manpages') == 'disabled', 'cachectl(1) installed')
        comp = os.path.join(root, opts['datadir'], 'bash-completion', 'completions')
        t.ok(os.path.isfile(os.path.join(comp, 'cachectl')),
             'bash completion in %s/bash-completion/completions' % opts['datadir'])

        # the user: a home with what the examples name, the tree readable
        for dp, dns, fns in os.walk(work):
            for n in dns + fns:
                p = os.path.join(dp, n)
                if not os.path.islink(p):
                    os.chmod(p, os.stat(p).st_mode | 0o755 if n in dns else
                             os.stat(p).st_mode | 0o444)
        os.chmod(work, 0o755)
        home = os.path.join(work, 'home')
        files = {
            'work/notes.txt': 20 * KiB, 'work/sub/data.bin': 2 * MiB,
            'big.img': 2 * MiB, 'dataset/a.bin': 1 * MiB, 'dataset/b/c.bin': 3 * MiB,
            'model.bin': 4 * MiB, 'scratch/run1/out.bin': 2 * MiB,
            'data/x/part-0.parquet': 512 * KiB, 'data/y.parquet': 256 * KiB,
            'data/skip.csv': 64 * KiB, 'src/main.c': 8 * KiB, 'src/util.h': 4 * KiB,
            'src/.git/objects/pack.c': 64 * KiB, 'big.idx': 1 * MiB,
            'nfs/set/s.bin': 1 * MiB, 'inbox/first.txt': 4 * KiB,
        }
        for rel, size in files.items():
            mkfile(os.path.join(home, rel), size)
        os.makedirs(os.path.join(home, 'run'), mode=0o700)
        uid = NOBODY if as_root else os.geteuid()
        if as_root:
            for dp, dns, fns in os.walk(home):
                for n in [dp] + [os.path.join(dp, x) for x in fns]:
                    os.chown(n, uid, uid)
        for p in tree_files(home):
            cold(p)
        env = {
            'HOME': home, 'USER': 'nobody', 'LOGNAME': 'nobody', 'LC_ALL': 'C',
            'TERM': 'dumb', 'XDG_RUNTIME_DIR': os.path.join(home, 'run'),
            # a Debian user's PATH, the installed tree in front
            'PATH': ':'.join(x for x in (bindir, dbin if dbin != bindir else None,
                                         '/usr/local/bin', '/usr/bin', '/bin') if x),
            'LD_LIBRARY_PATH': libdir,
        }
        if dbin and dbin != bindir:
            t.diag('cachectld is in %s, not on a user\'s PATH: put there for the '
                   'examples' % os.path.relpath(dbin, root))
        pre = SETPRIV if as_root else []

        def sh(cmd, timeout=60, input=None):
            # absolute example dirs a user cannot make: under $HOME
            cmd = re.sub(r'(?<![\w~/.])/(scratch|data|nfs)\b', r'~/\1', cmd)
            return run(pre + ['bash', '--norc', '--noprofile', '-c', cmd], env=env,
                       cwd=home, timeout=timeout, input=input)

        text = open(os.path.join(src, 'README.md'), encoding='utf-8').read()

        # the quick start's last word, with the installed cachectl
        qs = readme_blocks(text, 'Quick start (Debian 12)')
        first = qs[0][0][0] if qs and qs[0] else ''
        last = first.split('&&')[-1].strip()
        t.eq(last, 'build/tools/cachectl status -r .',
             'the quick start ends by showing the current tree')
        r = sh(last.replace('build/tools/cachectl', 'cachectl'))
        t.ok(r.rc == 0 and 'notes.txt' in r.text and 'model.bin' in r.text,
             'quick start: cachectl status -r . lists the tree', r.show())

        blocks = readme_blocks(text, 'Examples')
        t.ok(len(blocks) >= 2, 'README has its example blocks (%d)' % len(blocks))
        for block in blocks:
            for cmd, comment in block:
                if cmd == 'cachectld &':
                    daemon = subprocess.Popen(pre + ['cachectld'], env=env, cwd=home,
                                              stdout=subprocess.PIPE,
                                              stderr=subprocess.STDOUT,
                                              start_new_session=True)
                    sock = os.path.join(home, 'run', 'cachectl', 'cachectld.sock')
                    deadline = time.monotonic() + 15
                    up = False
                    while time.monotonic() < deadline and daemon.poll() is None:
                        r = sh('cachectl pins')
                        if r.rc == 0 and 'no cachectld' not in r.etext:
                            up = True
                            break
                        time.sleep(0.1)
                    t.ok(up and daemon.poll() is None,
                         '%s: the user\'s daemon starts and answers' % cmd,
                         'exit %r' % daemon.poll(), sock)
                    continue
                if cmd.startswith('systemctl '):
                    # no user manager here: the unit it names is installed
                    unit = cmd.split()[-1]
                    found = [dp for dp, _, fs in os.walk(root) if unit in fs]
                    t.ok(found, '%s: no systemd user manager in a test; %s is '
                         'installed (%s)' % (cmd, unit, found), cmd)
                    continue
                if cmd == 'cachectl monitor':
                    r = sh('timeout 2 ' + cmd)
                    t.ok(r.rc == 124 and not r.err,
                         '%s: follows the daemon (still running after 2 s, no error)'
                         % cmd, r.show())
                    continue
                before = {p: cached(p) for p in tree_files(home)}
                r = sh(cmd)
                t.ok(r.rc == 0, '%s  (%s): exits 0' % (cmd, comment or 'no comment'),
                     r.show())
                check(t, cmd, r, home, before)
        if daemon:
            t.ok(daemon.poll() is None, 'the daemon ran through the examples',
                 daemon.stdout.read().decode(errors='replace')[-2000:]
                 if daemon.poll() is not None else '')
            if daemon.poll() is None:
                os.killpg(daemon.pid, signal.SIGTERM)
            try:
                daemon.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(daemon.pid, signal.SIGKILL)
            t.eq(daemon.returncode, 0, 'the daemon exits 0 on SIGTERM',
                 daemon.stdout.read().decode(errors='replace')[-2000:])
            daemon = None

        # the library example, against the installed header and .pc only
        code = readme_c(text)
        t.ok('cachectl_walk_run' in code, 'README has the library example')
        c = os.path.join(work, 'example.c')
        ds = os.path.join(home, 'dataset')
        body = code.replace('"/data/set"', '"%s"' % ds).replace(
            '#include <libcachectl/libcachectl.h>\n', '')
        with open(c, 'w') as f:
            f.write('#include <libcachectl/libcachectl.h>\n\nint main(void)\n{\n' +
                    body + '\treturn 0;\n}\n')
        pc = run(['pkg-config', '--define-variable=prefix=' + root, '--cflags', '--libs',
                  'libcachectl'],
                 env=dict(os.environ, PKG_CONFIG_PATH=os.path.join(libdir, 'pkgconfig')))
        t.eq(pc.rc, 0, 'pkg-config finds the installed libcachectl.pc', pc.show())
        flags = pc.text.split()
        t.ok(any(dest in x for x in flags), 'its flags point into the installed tree',
             pc.text)
        exe = os.path.join(work, 'example')
        r = run([os.environ.get('CC', 'cc'), '-o', exe, c] + flags, timeout=120)
        t.eq(r.rc, 0, 'the README\'s C example compiles and links', r.show())
        if r.rc == 0:
            for p in tree_files(ds):
                cold(p)
            r = run(pre + [exe], env=env, timeout=60)
            t.eq(r.rc, 0, 'the example runs as the user', r.show())
            left = [p for p in tree_files(ds) if cached(p) < os.path.getsize(p)]
            t.ok(not left, 'kernel: it prefetched the whole tree', left)
    except Skip as e:
        return skip_all(e)
    except Exception:  # noqa: BLE001
        import traceback
        t.ok(False, 'ran to the end', traceback.format_exc())
    finally:
        if daemon and daemon.poll() is None:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait()
        if work:
            shutil.rmtree(work, ignore_errors=True)
    return t.done()


def full(p):
    return cached(p) >= os.path.getsize(p)


def check(t, cmd, r, home, before):
    """What an example promises, from the kernel."""
    h = home
    if cmd.startswith('cachectl prefetch -r ~/dataset'):
        if '--range' in cmd:
            ok = all(cached(p) >= min(4 * MiB, os.path.getsize(p))
                     for p in tree_files(h + '/dataset'))
        else:
            ok = all(full(p) for p in tree_files(h + '/dataset'))
        t.ok(ok, 'kernel: %s cached what it says' % cmd)
    elif cmd.startswith('cachectl prefetch --wait model.bin'):
        t.ok(full(h + '/model.bin'), 'kernel: model.bin is in when it returns')
    elif cmd.startswith('cachectl evict -r'):
        t.ok(all(cached(p) == 0 for p in tree_files(h + '/scratch/run1')),
             'kernel: evict -r left nothing cached')
    elif cmd.startswith('find'):
        t.ok(all(full(p) for p in (h + '/data/x/part-0.parquet', h + '/data/y.parquet'))
             and cached(h + '/data/skip.csv') == before.get(h + '/data/skip.csv'),
             'kernel: the parquet files are in, the csv untouched')
    elif '--exclude .git' in cmd:
        rows = r.text
        t.ok('main.c' in rows and 'util.h' not in rows and '.git' not in rows,
             'status --exclude/--include: only src/main.c', r.show())
    elif cmd.startswith('cachectl status -r -c -n'):
        t.ok(r.text.split()[-1:] == ['total'], 'the last line is the total', r.show())
    elif cmd.startswith('cachectl status -J -b big.img'):
        import json
        doc = json.loads(r.out)
        t.eq(doc['cachectl'][0]['cached'], cached(h + '/big.img'),
             'status -J -b big.img: cached == the kernel\'s')
    elif cmd.startswith('cachectl pin -r ~/work'):
        t.ok(all(full(p) for p in tree_files(h + '/work')),
             'kernel: pin -r brought the tree in')
    elif cmd.startswith('cachectl prefetch --restore'):
        t.ok(r.rc == 0, 'restore ran')


if __name__ == '__main__':
    sys.exit(main())
