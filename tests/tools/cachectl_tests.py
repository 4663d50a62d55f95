#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Black-box tests of the cachectl CLI on real files on the host kernel.

usage: cachectl_tests.py GROUP      (GROUP: see GROUPS at the bottom)

Environment:
  CACHECTL     the cachectl binary under test (required)
  KCACHESTAT   the kcachestat helper (tests/tools/kcachestat.c, required)
  NOCACHESTAT  the nocachestat helper (tests/tools/nocachestat.c, for the
               mincore group)
  CACHECTL_TEST_TMPDIR   where to make scratch trees (must be a disk
               filesystem, not tmpfs); default /var/tmp, then the build dir

Every expectation about residency comes from the kernel through kcachestat
(cachestat(2) called directly), never from libcachectl.

On kernels without cachestat(2) (before 6.5) kcachestat falls back to
mincore(2) as root, which is truthful for root; the few checks that need
dirty/writeback counts then skip. The mincore group hides cachestat from
cachectl with a seccomp filter (nocachestat) to test its fallback here.

Output is TAP; a group is skipped ("1..0 # SKIP") only when the machine
truly lacks something: a disk filesystem, root for the privileged groups,
seccomp for the mincore group).
"""

import json
import os
import random
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'pylib'))
from cachectl_test import (GiB, KCS, KiB, MiB, NOBODY, PAGE,  # noqa: E402
                           SETPRIV, Res, Skip, Tap, default_bases, fstype,
                           group_arg, kcs, kstat, kmissing, roundup, run,
                           scratch_dir, skip_all)

TiB = 1 << 40
TRY_HELP = "Try 'cachectl --help'"
ALL_COLS = ['file', 'size', 'cached', 'pct', 'dirty', 'writeback', 'evicted',
            'recently_evicted', 'pages', 'bytes']

CACHECTL = os.environ.get('CACHECTL', '')
NOCS = os.environ.get('NOCACHESTAT', '')
ENGINE = 'cachestat'    # what kcachestat uses on this kernel: or 'mincore'


# ---- running cachectl ---------------------------------------------------------

class Env:
    """Per-run state: scratch dir, how to run cachectl as root or nobody."""

    def __init__(self, work):
        self.work = work
        self.nobody_exe = None
        self.nobody_env = None
        self.ntrace = 0
        self.wrap = []          # e.g. [nocachestat]

    def path(self, *parts):
        return os.path.join(self.work, *parts)

    def cachectl(self, args, cwd=None, input=None, timeout=30, user=None,
                 strace=False, extra_env=None):
        env = dict(os.environ)
        env.pop('CACHECTL_BACKEND', None)
        env['LC_ALL'] = 'C'
        env.update(extra_env or {})
        exe = CACHECTL
        pre = []
        if user == 'nobody':
            exe = self.nobody_cachectl()
            env.update(self.nobody_env or {})
            pre = SETPRIV
        trace_file = None
        snapshot()
        if strace:
            # LeakSanitizer cannot run under ptrace (ASan builds in CI)
            env['ASAN_OPTIONS'] = ':'.join(
                x for x in (env.get('ASAN_OPTIONS'), 'detect_leaks=0') if x)
            self.ntrace += 1
            trace_file = self.path('strace.%d' % self.ntrace)
            pre = ['strace', '-f', '-qq', '-e',
                   'trace=open,openat,openat2,creat', '-o', trace_file] + pre
        r = run(pre + self.wrap + [exe] + [os.fsdecode(a) for a in args], cwd=cwd,
                  input=input, timeout=timeout, env=env)
        r.cmd = ['cachectl'] + [os.fsdecode(a) for a in args]
        if user:
            r.cmd = ['(as nobody)'] + r.cmd
        if trace_file:
            try:
                with open(trace_file, 'rb') as f:
                    r.trace = f.read().decode('utf-8', 'surrogateescape')
                os.unlink(trace_file)
            except OSError:
                r.trace = ''
        return r

    def nobody_cachectl(self):
        """A cachectl that uid 65534 can execute (copy it if the build dir
        is not reachable for that user)."""
        if self.nobody_exe:
            return self.nobody_exe
        r = run(SETPRIV + [CACHECTL, '--version'], timeout=10)
        if r.rc == 0:
            self.nobody_exe = CACHECTL
            return CACHECTL
        bindir = self.path('bin')
        os.makedirs(bindir, exist_ok=True)
        os.chmod(bindir, 0o755)
        dst = os.path.join(bindir, 'cachectl')
        shutil.copy2(CACHECTL, dst)
        os.chmod(dst, 0o755)
        ldd = run(['ldd', CACHECTL], timeout=10)
        for m in re.finditer(r'=> (\S*libcachectl\S*)', ldd.text):
            lib = os.path.join(bindir, os.path.basename(m.group(1)))
            shutil.copy2(m.group(1), lib)
            os.chmod(lib, 0o755)
        self.nobody_exe = dst
        self.nobody_env = {'LD_LIBRARY_PATH': bindir}
        return dst


# ---- the kernel's view (kcachestat) ---------------------------------------

def kcached(path):
    return kstat(path)['cached']


# Residency is not stable on every host: proactive reclaim (DAMON pageout,
# as on the machines this was written on, or memory pressure) can drop
# clean page-cache pages at any moment, even just after they were read. So
# a number cachectl printed is compared with the kernel's count taken just
# BEFORE that cachectl run and the one taken now: it must lie between them
# (both equal, the usual case, means exactly equal). Files made by mkfile()
# are watched; Env.cachectl() snapshots them before every run.
WATCH = []
BEFORE = {}


def _key(path):
    st = os.stat(path)
    return (st.st_dev, st.st_ino)


def snapshot():
    BEFORE.clear()
    paths = [p for p in WATCH if os.path.isfile(p)]
    if not paths:
        return
    r = kcs(paths + ([paths[0]] if len(paths) == 1 else []))
    for p, v in zip(paths, r.text.split('\n')):
        if v.strip().isdigit():
            try:
                BEFORE[_key(p)] = int(v.split()[0])
            except OSError:
                pass


def krange(path):
    """(low, high) of the kernel's cached bytes over the last cachectl run."""
    after = kcached(path)
    before = BEFORE.get(_key(path), after)
    return min(before, after), max(before, after)


def kmatch(v, path):
    """cachectl's v is the kernel's count in whole pages, as cachestat and
    fincore give it (a cached 37-byte file has 4096 cached bytes; see struct
    cachectl_residency in the public header), allowing for reclaim."""
    lo, hi = krange(path)
    return type(v) is int and lo <= v <= hi, \
        'cachectl %r; kernel %s' % (v, lo if lo == hi else 'from %d to %d' % (hi, lo))


def kcheck(t, v, path, desc):
    ok, why = kmatch(v, path)
    return t.ok(ok, desc, why)


def settle(t, desc, fn, tries=3):
    """fn() runs an operation and checks the kernel afterwards, returning a
    list of problems. A kernel that reclaimed pages behind our back gets
    another go; a cachectl that is wrong fails every time."""
    problems = []
    for i in range(tries):
        problems = fn()
        if not problems:
            if i:
                t.diag('%s: passed on attempt %d (pages reclaimed under us?)'
                       % (desc, i + 1))
            return t.ok(True, desc)
        if i + 1 < tries:
            t.diag('%s: attempt %d failed, retrying: %s' % (desc, i + 1, problems[0]))
    return t.ok(False, desc, *problems)


def kuptodate(paths):
    """Bytes of each file whose pages are uptodate (read completed), by
    mincore as root; cachestat also counts pages still under read I/O."""
    r = kcs(['-m'] + list(paths) + [paths[0]])
    v = r.text.split('\n')
    return {p: int(v[i].split()[0]) if v[i].split() and v[i].split()[0].isdigit() else -1
            for i, p in enumerate(paths)}


def make_cold(path):
    r = kcs(['-e', path])
    if r.rc != 0:
        raise RuntimeError('kcachestat -e %r failed: %s' % (path, r.show()))
    c = int(r.text.split()[0])
    if c != 0:
        raise RuntimeError('could not make %r cold: %d bytes stay' % (path, c))


def warm(path, nbytes):
    r = kcs(['-r', str(nbytes), path])
    if r.rc != 0:
        raise RuntimeError('kcachestat -r failed: %s' % r.show())


def wait_cached(path, pred, secs=3.0):
    """Poll the kernel until pred(cached) holds (prefetch may be async)."""
    end = time.monotonic() + secs
    while True:
        c = kcached(path)
        if pred(c) or time.monotonic() > end:
            return c
        time.sleep(0.05)


def mkfile(path, size, cold=True, owner=None, mode=0o644):
    d = os.path.dirname(path)
    if d:
        os.makedirs(d, exist_ok=True)
    with open(path, 'wb') as f:
        left = size
        while left:
            n = min(left, 4 * MiB)
            f.write(os.urandom(n))
            left -= n
        f.flush()
        os.fsync(f.fileno())
    if owner is not None:
        os.chown(path, owner, owner)
    os.chmod(path, mode)
    if cold:
        make_cold(path)
    WATCH.append(path)
    return path


# ---- output parsing ------------------------------------------------------------

def jrows(t, r, desc):
    """Parse -J output; returns the list of row dicts or None (and fails)."""
    try:
        doc = json.loads(r.out)
        rows = doc['cachectl']
        if not isinstance(rows, list):
            raise ValueError('"cachectl" is not a list')
        return rows
    except Exception as e:  # noqa: BLE001
        t.ok(False, desc + ': JSON output parses with top key "cachectl"',
             'error: %s' % e, r.show())
        return None


def norm(name, cwd):
    return os.path.normpath(os.path.join(cwd, name))


def by_path(rows, cwd):
    """Map normalised path -> row, without the total row."""
    m = {}
    for row in rows:
        f = row.get('file')
        if f == 'total' or not isinstance(f, str):
            continue
        m.setdefault(norm(f, cwd), []).append(row)
    return m


def file_rows(rows):
    return [r for r in rows if r.get('file') != 'total']


def total_row(rows):
    t = [r for r in rows if r.get('file') == 'total']
    return t[0] if len(t) == 1 else None


def unescape_hex(b):
    """libsmartcols-style \\xHH escapes -> bytes."""
    return re.sub(rb'\\x([0-9a-fA-F]{2})',
                  lambda m: bytes([int(m.group(1), 16)]), b)


def parse_amount(text):
    """'1048576 bytes', '1M', '1.5 MiB', '512K' -> bytes (None if none)."""
    m = re.search(r'(\d+(?:\.\d+)?)\s*(bytes|B|[KMGTPE](?:i?B)?)?\s*$', text.strip())
    if not m:
        return None
    mult = {'K': KiB, 'M': MiB, 'G': GiB, 'T': TiB, 'P': TiB << 10, 'E': TiB << 20}
    u = (m.group(2) or '')[:1]
    return int(float(m.group(1)) * mult.get(u, 1))


def err_lines(r):
    return [ln for ln in r.etext.splitlines() if ln.strip()]


def names_path(r, path):
    """stderr has a 'cachectl: PATH: reason' line naming path."""
    p = os.fsdecode(path)
    for ln in err_lines(r):
        if ln.startswith('cachectl: ') and p in ln:
            return True
    return False


def opened(trace, name):
    """strace lines that really open name (O_PATH does not count)."""
    hits = []
    for ln in trace.splitlines():
        if not re.search(r'\b(open|openat|openat2|creat)\(', ln):
            continue
        if name not in ln or 'O_PATH' in ln:
            continue
        hits.append(ln)
    return hits


def have_strace():
    if not shutil.which('strace'):
        return False
    r = run(['strace', '-f', '-qq', '-o', '/dev/null', 'true'], timeout=10)
    return r.rc == 0


def check_rows_vs_kernel(t, rows, cwd, files, desc):
    """rows (file rows) must be exactly files, each cached == kernel."""
    m = by_path(rows, cwd)
    want = sorted(os.path.normpath(f) for f in files)
    t.eq(sorted(m), want, desc + ': reports exactly the expected files')
    for f in want:
        if f not in m:
            continue
        row = m[f][0]
        t.ok(len(m[f]) == 1, desc + ': %s reported once' % os.path.basename(f),
             'rows: %r' % m[f])
        kcheck(t, row.get('cached'), f, desc + ': %s cached == kernel cachestat'
               % os.path.relpath(f, cwd))
        k = row.get('cached') if type(row.get('cached')) is int else kcached(f)
        size = os.stat(f).st_size
        t.eq(row.get('size'), size, desc + ': %s size' % os.path.relpath(f, cwd))
        if 'pct' in row and size:
            # PCT is measured against the file in whole pages
            want = k * 100.0 / roundup(size)
            t.ok(isinstance(row['pct'], (int, float)) and abs(row['pct'] - want) <= 0.051,
                 desc + ': %s pct == cached / size in pages' % os.path.relpath(f, cwd),
                 'pct %r, expected %.1f' % (row['pct'], want))
    return m


# ===========================================================================
# 1. acceptance (issue 2, Acceptance, second bullet)
# ===========================================================================

def t_acceptance(t, E):
    f = mkfile(E.path('eight.bin'), 8 * MiB, cold=True)
    t.eq(kcached(f), 0, 'kernel: 8 MiB file is cold after fsync+DONTNEED')

    dd = run(['dd', 'if=' + f, 'of=/dev/null', 'bs=1M', 'count=1',
                'status=none'], timeout=30)
    t.eq(dd.rc, 0, 'dd read the first 1 MiB')
    k = kcached(f)
    t.ok(k >= MiB, 'kernel: at least 1 MiB cached after reading 1 MiB',
         'kernel cached %d' % k)
    if k == MiB:
        t.diag('note: kernel shows exactly 1 MiB (no readahead beyond)')

    r = E.cachectl(['status', '-J', '-b', f])
    t.eq(r.rc, 0, 'status -J -b FILE exits 0', r.show())
    rows = jrows(t, r, 'status -J -b')
    if rows is not None:
        t.eq(len(rows), 1, 'status -J -b FILE: one row', r.show())
        row = rows[0] if rows else {}
        kcheck(t, row.get('cached'), f, 'status: cached == kernel cachestat (%d)' % k)
        c = row.get('cached')
        k = c if type(c) is int else k
        t.ok(type(c) is int and c >= MiB,
             'status: cached is a JSON number >= 1 MiB', repr(row))
        t.eq(row.get('size'), 8 * MiB, 'status: size == 8 MiB as a number')
        t.eq(os.path.normpath(row.get('file', '')), f, 'status: file is the path given')
        pct = row.get('pct')
        t.ok(isinstance(pct, (int, float)) and abs(pct - k * 100.0 / (8 * MiB)) <= 0.051,
             'status: pct == cached/size*100 (one decimal)',
             'pct %r, expected %.1f' % (pct, k * 100.0 / (8 * MiB)))

    def prefetch_all():
        r = E.cachectl(['prefetch', f])
        if r.rc != 0 or r.out:
            return ['prefetch FILE: exit 0 and nothing on stdout expected\n' + r.show()]
        k = wait_cached(f, lambda c: c >= 8 * MiB)
        if k != 8 * MiB:
            return ['kernel cached %d after prefetch, want %d; %s' % (k, 8 * MiB, kmissing(f))]
        r = E.cachectl(['status', '-J', '-b', f])
        try:
            row = json.loads(r.out)['cachectl'][0]
        except (ValueError, KeyError, IndexError) as e:
            return ['status after prefetch: bad JSON %s\n%s' % (e, r.show())]
        if row.get('cached') != 8 * MiB or row.get('pct') != 100:
            why = kmatch(row.get('cached'), f)[1]
            return ['status after prefetch: %r (%s)' % (row, why)]
        return []
    settle(t, 'prefetch FILE: exit 0, silent; kernel and cachectl status both say '
           '8 MiB, pct 100', prefetch_all)

    r = E.cachectl(['evict', f])
    t.eq(r.rc, 0, 'evict FILE exits 0', r.show())
    t.eq(kcached(f), 0, 'kernel: 0 cached after cachectl evict')
    r = E.cachectl(['status', '-J', '-b', f])
    rows = jrows(t, r, 'status after evict')
    if rows:
        t.eq(rows[0].get('cached'), 0, 'cachectl status: 0 cached after evict')

    make_cold(f)

    # human table: default columns CACHED SIZE PCT FILE, a heading, one row
    warm(f, 2 * MiB)
    r = E.cachectl(['status', '-b', f])
    t.eq(r.rc, 0, 'status -b FILE (table) exits 0', r.show())
    lines = r.text.splitlines()
    t.ok(len(lines) == 2 and all(c in lines[0] for c in ('CACHED', 'SIZE', 'PCT', 'FILE')),
         'table: heading with CACHED SIZE PCT FILE and one row', r.show())
    if len(lines) == 2:
        fields = lines[1].split() + ['', '', '', '']
        ok, why = kmatch(int(fields[0]) if fields[0].isdigit() else fields[0], f)
        t.ok(len(lines[1].split()) == 4 and ok and fields[1] == str(8 * MiB)
             and fields[3] == f,
             'table -b row: CACHED SIZE PCT FILE in that order, bytes',
             'row %r, %s' % (lines[1], why))


def t_prefetch_modes(t, E):
    """prefetch --read / --wait / -d N, checked with the kernel."""
    f = mkfile(E.path('eight.bin'), 8 * MiB, cold=True)
    wait_flaws = []
    for mode in (['--read'], ['--wait'], ['--wait', '-d', '1'], ['--read', '-d', '256']):
        def one(mode=mode):
            make_cold(f)
            r = E.cachectl(['prefetch'] + mode + [f])
            up = kuptodate([f])[f]
            if r.rc != 0:
                return [r.show()]
            k = kcached(f) if '--wait' in mode else wait_cached(f, lambda c: c >= 8 * MiB)
            if '--wait' in mode and k == 8 * MiB and up < k:
                wait_flaws.append('prefetch %s: on return %d bytes present but only %d '
                                  'read in' % (' '.join(mode), k, up))
            return [] if k == 8 * MiB else ['kernel cached %d; %s' % (k, kmissing(f))]
        settle(t, 'prefetch %s FILE: exit 0, kernel has 8 MiB' % ' '.join(mode), one)
    if ENGINE == 'cachestat':
        t.ok(not wait_flaws, 'prefetch --wait returns only when the reads completed '
             '(every page uptodate per mincore)', *wait_flaws)
        wait_with_islands(t, E)


def wait_with_islands(t, E, rounds=3):
    """prefetch --wait must not take one resident page for proof that the
    pages around it were read: make the last page of every MiB resident
    (whatever the chunk size, if it is whole MiB, its last page is one of
    them), the rest cold, and check that no page is still under read I/O
    when cachectl returns. A correct --wait passes every round; a wrong one
    is caught in most rounds (the reads may happen to finish before we
    look), so a few rounds are run."""
    w = mkfile(E.path('islands.bin'), 128 * MiB, cold=True)
    seen = []
    for i in range(rounds):
        make_cold(w)
        fd = os.open(w, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)   # no readahead
            for off in range(MiB - PAGE, 128 * MiB, MiB):
                os.pread(fd, 1, off)
        finally:
            os.close(fd)
        pre = kcached(w)
        r = E.cachectl(['prefetch', '--wait', w])
        up = kuptodate([w])[w]
        present = kcached(w)
        if r.rc != 0:
            seen.append('round %d: exit %s\n%s' % (i + 1, r.rc, r.show()))
        # reclaim between the two counts can only lower present: up >=
        # present means nothing was still under read I/O on return
        elif not up >= present > 0:
            seen.append('round %d: resident before %d; on return %d present, %d '
                        'uptodate (the rest still under read I/O)' % (i + 1, pre, present, up))
    t.ok(not seen, 'prefetch --wait, one resident page per MiB: exit 0 and every page '
         'read in on return (%d rounds)' % rounds, *seen)
    make_cold(w)
    os.unlink(w)


# ===========================================================================
# 2. tree
# ===========================================================================

def build_tree(E, name):
    root = E.path(name)
    spec = {  # relpath: (size, bytes to warm)
        'a': (100 * KiB, 40 * KiB),
        'f': (37, 37),
        'sub/b': (1 * MiB, 1 * MiB),
        'sub/deeper/c': (3 * MiB, 0),
        'sub/deeper/g': (2 * MiB, 1 * MiB),
        'sub2/e': (0, 0),
    }
    files = []
    for rel, (size, w) in spec.items():
        p = mkfile(os.path.join(root, rel), size, cold=True)
        if w:
            warm(p, w)
        files.append(p)
    os.makedirs(os.path.join(root, 'emptydir'), exist_ok=True)
    return root, files


def t_tree(t, E):
    root, files = build_tree(E, 'tree')

    r = E.cachectl(['status', '-r', '-J', '-b', root])
    t.eq(r.rc, 0, 'status -r -J -b TREE exits 0', r.show())
    rows = jrows(t, r, 'status -r')
    if rows is not None:
        check_rows_vs_kernel(t, file_rows(rows), E.work, files, 'status -r')
        t.eq(total_row(rows), None, 'status -r without -c has no total row')

    r = E.cachectl(['status', '-r', '-c', '-J', '-b', root])
    t.eq(r.rc, 0, 'status -r -c exits 0', r.show())
    rows = jrows(t, r, 'status -r -c')
    if rows is not None:
        tot = total_row(rows)
        t.ok(tot is not None, 'status -r -c: one row with file "total"', r.show())
        t.eq(len(file_rows(rows)), len(files), 'status -r -c: per-file rows still there')
        if tot:
            rng = [krange(f) for f in files]
            lo, hi = sum(x[0] for x in rng), sum(x[1] for x in rng)
            c = tot.get('cached')
            t.ok(type(c) is int and lo <= c <= hi, 'total cached == sum of kernel cachestat',
                 'cachectl %r, kernel sum %d..%d' % (c, lo, hi))
            t.eq(tot.get('size'), sum(os.stat(f).st_size for f in files),
                 'total size == sum of sizes')
            rsum = sum(x.get('cached', 0) or 0 for x in file_rows(rows))
            t.eq(tot.get('cached'), rsum, 'total cached == sum of the rows')

    r = E.cachectl(['status', '-r', '-J', '-b'], cwd=root)
    t.eq(r.rc, 0, 'status -r with no path (cwd = tree) exits 0', r.show())
    rows = jrows(t, r, 'status -r (no path)')
    if rows is not None:
        check_rows_vs_kernel(t, file_rows(rows), root, files, 'status -r no path')

    # cachectl(1): without -r only the files directly in a directory PATH
    # are handled, subdirectories skipped; no PATH means "."
    top = [f for f in files if os.path.dirname(f) == root]
    r = E.cachectl(['status', '-J', '-b'], cwd=root)
    t.eq(r.rc, 0, 'status with no path, no -r (cwd = tree): exit 0', r.show())
    rows = jrows(t, r, 'status (no path, no -r)')
    if rows is not None:
        check_rows_vs_kernel(t, rows, root, top,
                             'status no path no -r: only the top-level files')
    r = E.cachectl(['status', '-J', '-b', root])
    t.eq(r.rc, 0, 'status DIR (no -r): exit 0', r.show())
    rows = jrows(t, r, 'status DIR (no -r)')
    if rows is not None:
        check_rows_vs_kernel(t, rows, E.work, top,
                             'status DIR no -r: only the top-level files')

    r = E.cachectl(['status', '-J', '-b', files[0], files[2]])
    rows = jrows(t, r, 'status F1 F2')
    if rows is not None:
        check_rows_vs_kernel(t, rows, E.work, [files[0], files[2]], 'status F1 F2')

    r = E.cachectl(['status', '-J', '-b', 'tree/a', './tree/sub/b'], cwd=E.work)
    rows = jrows(t, r, 'status relative paths')
    if rows is not None:
        check_rows_vs_kernel(t, rows, E.work, [files[0], files[2]], 'status relative paths')

    # prefetch -r then evict -r over the tree, checked with the kernel
    def prefetch_tree(args, wait=False):
        def go():
            for f in files:
                make_cold(f)
            r = E.cachectl(['prefetch'] + args + [root])
            up = kuptodate(files)
            if r.rc != 0:
                return [r.show()]
            bad = []
            for f in files:
                want = roundup(os.stat(f).st_size)
                c = kcached(f) if wait else wait_cached(f, lambda c, w=want: c >= w)
                if c != want:
                    bad.append('%s: kernel %d, want %d; %s' % (f, c, want, kmissing(f)))
                elif wait and up[f] < c:
                    wait_flaws.append('prefetch %s: %s: on return %d bytes present but '
                                      'only %d read in' % (' '.join(args), f, c, up[f]))
            return bad
        return go
    wait_flaws = []
    settle(t, 'prefetch -r TREE: exit 0, kernel has every file cached',
           prefetch_tree(['-r']))
    for qd in ('1', '256'):
        settle(t, 'prefetch -r --wait -d %s TREE: exit 0, kernel has every file '
               'cached on return' % qd, prefetch_tree(['-r', '--wait', '-d', qd], True))
    if ENGINE == 'cachestat':
        t.ok(not wait_flaws, 'prefetch -r --wait returns only when the reads completed '
             '(every page uptodate per mincore)', *wait_flaws)

    def evict_top():
        for f in files:
            warm(f, os.stat(f).st_size)
        r = E.cachectl(['evict', root])
        if r.rc != 0:
            return [r.show()]
        bad = ['%s: kernel %d' % (f, kcached(f)) for f in top if kcached(f)]
        bad += ['%s: kernel %d, evicted without -r' % (f, kcached(f)) for f in files
                if f not in top and os.stat(f).st_size and not kcached(f)]
        return bad
    settle(t, 'evict DIR (no -r): exit 0, kernel: only the top-level files evicted',
           evict_top)

    r = E.cachectl(['evict', '-r', '-c', '-J', '-b', root])
    t.eq(r.rc, 0, 'evict -r -c -J TREE exits 0', r.show())
    bad = ['%s: kernel %d' % (f, kcached(f)) for f in files if kcached(f)]
    t.ok(not bad, 'kernel: every file 0 cached after evict -r', *bad)
    rows = jrows(t, r, 'evict -r -c -J')
    if rows is not None:
        tot = total_row(rows)
        t.ok(tot is not None and tot.get('cached') == 0,
             'evict -J: total row reports 0 cached after the operation', r.show())
        t.ok(all('bytes' in x for x in rows),
             'evict -J: BYTES column added by default', r.show())


# ===========================================================================
# 3. options
# ===========================================================================

def filter_tree(E):
    root = E.path('ftree')
    rels = ['a.txt', 'b.log', 'sub/c.txt', 'sub/d.log', 'skipme/x.txt',
            'skipme/deep/y.txt']
    for rel in rels:
        mkfile(os.path.join(root, rel), 4 * KiB, cold=False)
    return root, rels


def listed(t, E, args, root, desc, want, strace=False):
    r = E.cachectl(['status', '-J', '-b'] + args, strace=strace)
    t.eq(r.rc, 0, desc + ': exit 0', r.show())
    rows = jrows(t, r, desc)
    if rows is None:
        return r
    got = sorted(os.path.relpath(p, root) for p in by_path(rows, E.work))
    t.eq(got, sorted(want), desc + ': files reported', r.show())
    return r


def t_opt_filter(t, E):
    root, rels = filter_tree(E)
    txt = [x for x in rels if x.endswith('.txt')]
    notskip = [x for x in rels if not x.startswith('skipme/')]

    listed(t, E, ['-r', root], root, 'status -r (all)', rels)
    listed(t, E, ['-r', '--exclude', '*.log', root], root,
           '--exclude *.log', txt)
    r = listed(t, E, ['-r', '--exclude', 'skipme', root], root,
               '--exclude skipme (a directory)', notskip, strace=have_strace())
    if r.trace:
        t.ok(opened(r.trace, 'c.txt'), 'strace sees sub/c.txt opened (control)',
             r.trace[-2000:])
        hits = opened(r.trace, 'skipme')
        t.ok(not hits, '--exclude skipme: the excluded directory is not opened',
             *hits)
    listed(t, E, ['-r', '--exclude', '*.log', '--exclude', 'skipme', root], root,
           '--exclude repeated', [x for x in txt if x in notskip])
    listed(t, E, ['-r', '--exclude', os.path.join(root, 'sub/c.txt'), root], root,
           '--exclude with / matches the whole path',
           [x for x in rels if x != 'sub/c.txt'])
    listed(t, E, ['-r', '--exclude', os.path.join(root, 'sub'), root], root,
           '--exclude whole path of a directory',
           [x for x in rels if not x.startswith('sub/')])
    listed(t, E, ['-r', '--include', '*.txt', root], root,
           '--include *.txt (directories still entered)', txt)
    listed(t, E, ['-r', '--include', 'a.*', '--include', '*.log', root], root,
           '--include repeated', ['a.txt', 'b.log', 'sub/d.log'])
    listed(t, E, ['-r', '--include', '*.txt', '--exclude', 'skipme', root], root,
           '--include with --exclude', ['a.txt', 'sub/c.txt'])
    # globs apply to files found in walks; prefetch honours them too
    def prefetch_excl():
        for rel in rels:
            make_cold(os.path.join(root, rel))
        r = E.cachectl(['prefetch', '-r', '--exclude', '*.log', root])
        if r.rc != 0:
            return [r.show()]
        got = sorted(x for x in rels
                     if wait_cached(os.path.join(root, x), lambda c: c > 0,
                                    0.5 if x.endswith('.log') else 3) > 0)
        return [] if got == sorted(txt) else ['kernel has warm: %r' % got]
    settle(t, 'prefetch -r --exclude *.log: exit 0, kernel: only the .txt files warmed',
           prefetch_excl)


def t_opt_xdev(t, E):
    root = E.path('xtree')
    mkfile(os.path.join(root, 'plain.txt'), 8 * KiB, cold=False)
    sub = os.path.join(root, 'sub')
    mkfile(os.path.join(sub, 'deep.txt'), 8 * KiB, cold=False)
    mnt = os.path.join(sub, 'mnt')
    os.makedirs(mnt)
    m = run(['mount', '-t', 'tmpfs', '-o', 'size=4m', 'cachectl-test', mnt],
              timeout=10)
    if m.rc != 0:
        t.skip('-x across a tmpfs mount', 'cannot mount tmpfs: ' + m.etext.strip())
        return
    try:
        with open(os.path.join(mnt, 'm.txt'), 'wb') as f:
            f.write(b'x' * 8192)
        os.makedirs(os.path.join(mnt, 'md'))
        with open(os.path.join(mnt, 'md', 'n.txt'), 'wb') as f:
            f.write(b'y' * 100)
        alls = ['plain.txt', 'sub/deep.txt', 'sub/mnt/m.txt', 'sub/mnt/md/n.txt']
        listed(t, E, ['-r', root], root, 'without -x the mount is crossed', alls)
        listed(t, E, ['-r', '-x', root], root, '-x stays on the root filesystem',
               alls[:2])
        listed(t, E, ['-r', '--one-file-system', root], root,
               '--one-file-system stays on the root filesystem', alls[:2])
        listed(t, E, ['-r', '-x', mnt], root, '-x with a root on the tmpfs',
               alls[2:])
        r = E.cachectl(['prefetch', '-r', '-x', root])
        t.eq(r.rc, 0, 'prefetch -r -x exits 0', r.show())
    finally:
        run(['umount', mnt], timeout=30)
        if os.path.ismount(mnt):
            run(['umount', '-l', mnt], timeout=30)


def t_opt_links(t, E):
    out = E.path('outside')
    secret = mkfile(os.path.join(out, 'secret.txt'), 8 * KiB, cold=False)
    inner = mkfile(os.path.join(out, 'odir', 'inner.txt'), 12 * KiB, cold=False)
    L = E.path('ltree')
    real = mkfile(os.path.join(L, 'real.txt'), 16 * KiB, cold=False)
    os.symlink('../outside/secret.txt', os.path.join(L, 'flink'))
    os.symlink(os.path.join(out, 'odir'), os.path.join(L, 'dlink'))
    h1 = mkfile(os.path.join(L, 'h1'), 2 * MiB, cold=True)
    warm(h1, MiB)
    os.makedirs(os.path.join(L, 'sub'))
    h2 = os.path.join(L, 'sub', 'h2')
    os.link(h1, h2)

    # without -L: links inside the tree are not followed; hard links once
    r = E.cachectl(['status', '-r', '-c', '-J', '-b', L])
    t.eq(r.rc, 0, 'status -r -c (no -L) exits 0', r.show())
    rows = jrows(t, r, 'status -r -c (no -L)')
    if rows is not None:
        m = by_path(rows, E.work)
        reals = sorted(os.path.realpath(p) for p in m)
        t.ok(secret not in reals and inner not in reals,
             'without -L symlinked files/dirs are not reported', r.show())
        hl = [p for p in m if p in (h1, h2)]
        t.ok(len(hl) == 1 and len(m[hl[0]]) == 1,
             'hard links h1, sub/h2: exactly one row', r.show())
        t.eq(sorted(p for p in m if p not in (h1, h2)), [real],
             'without -L only real.txt besides the hard link')
        tot = total_row(rows)
        t.ok(tot is not None and tot.get('size') == 16 * KiB + 2 * MiB,
             'total size counts the hard-linked data once', r.show())
        lo = krange(real)[0] + krange(h1)[0]
        hi = krange(real)[1] + krange(h1)[1]
        t.ok(tot is not None and type(tot.get('cached')) is int and
             lo <= tot['cached'] <= hi,
             'total cached counts the hard-linked data once (kernel)',
             'kernel %d..%d' % (lo, hi), r.show())

    # with -L: followed
    r = E.cachectl(['status', '-r', '-L', '-J', '-b', L])
    t.eq(r.rc, 0, 'status -r -L exits 0', r.show())
    rows = jrows(t, r, 'status -r -L')
    if rows is not None:
        m = by_path(rows, E.work)
        reals = [os.path.realpath(p) for p in m]
        t.ok(secret in reals, '-L: symlink to a file outside the tree is reported', r.show())
        t.ok(inner in reals, '-L: symlinked directory is descended', r.show())
        for p in m:
            if os.path.realpath(p) == secret:
                kcheck(t, m[p][0].get('cached'), secret, '-L: flink cached == kernel')
    # roots named on the command line are always followed
    r = E.cachectl(['status', '-J', '-b', os.path.join(L, 'flink')])
    t.eq(r.rc, 0, 'a symlink given as root is followed without -L', r.show())
    rows = jrows(t, r, 'status LINK')
    if rows:
        t.eq(rows[0].get('size'), 8 * KiB, 'symlink root: size of the target')

    # loops
    P = E.path('ptree')
    pf = mkfile(os.path.join(P, 'file.txt'), 4 * KiB, cold=False)
    os.symlink('.', os.path.join(P, 'loop'))
    os.makedirs(os.path.join(P, 'sub'))
    os.symlink('..', os.path.join(P, 'sub', 'up'))
    os.symlink('self', os.path.join(P, 'self'))
    for verb in ('status', 'prefetch', 'evict'):
        r = E.cachectl([verb, '-r', '-L', '-J', '-b', P], timeout=10)
        t.ok(not r.timed_out and r.rc in (0, 64),
             '%s -r -L over symlink loops terminates, exit 0 or 64' % verb, r.show())
        t.ok(all(ln.startswith('cachectl: ') and P in ln for ln in err_lines(r)),
             '%s -r -L loops: every stderr line names a path in the tree' % verb,
             r.show())
        if r.rc == 64:
            t.ok(any('loop' in ln or '/up' in ln or 'self' in ln for ln in err_lines(r)),
                 '%s -r -L: exit 64 names the loop' % verb, r.show())
        rows = jrows(t, r, verb + ' -r -L loops')
        if rows is not None:
            n = sum(1 for p in by_path(rows, E.work)
                    if os.path.realpath(p) == pf)
            t.eq(n, 1, '%s -r -L loops: file.txt reported exactly once' % verb,
                 r.show())
    r = E.cachectl(['status', '-r', '-J', '-b', P], timeout=10)
    t.ok(r.rc == 0 and not r.timed_out,
         'status -r (no -L) over symlink loops: exit 0', r.show())


def t_opt_from(t, E):
    root, _ = filter_tree(E)
    pick = [os.path.join(root, x) for x in ('a.txt', 'sub/c.txt')]
    weird = os.path.join(root, 'nl\nname.txt')
    spaced = os.path.join(root, 'with space.txt')
    mkfile(weird, 4 * KiB, cold=False)
    mkfile(spaced, 8 * KiB, cold=False)
    lst = E.path('list.txt')
    with open(lst, 'w') as f:
        f.write('\n'.join(pick + [spaced]) + '\n')

    r = E.cachectl(['status', '-J', '-b', '--from', lst])
    t.eq(r.rc, 0, '--from FILE exits 0', r.show())
    rows = jrows(t, r, '--from FILE')
    if rows is not None:
        check_rows_vs_kernel(t, rows, E.work, pick + [spaced], '--from FILE')

    r = E.cachectl(['status', '-J', '-b', '--from', '-'],
                   input=('\n'.join(pick) + '\n').encode())
    rows = jrows(t, r, '--from -')
    if rows is not None:
        check_rows_vs_kernel(t, rows, E.work, pick, '--from - (stdin)')

    other = os.path.join(root, 'b.log')
    r = E.cachectl(['status', '-J', '-b', '--from', lst, other])
    rows = jrows(t, r, 'PATH plus --from')
    if rows is not None:
        check_rows_vs_kernel(t, rows, E.work, pick + [spaced, other],
                             'PATH plus --from')
    r = E.cachectl(['status', '-J', '-b', other, '--from', lst])
    if r.rc != 0:
        t.diag('note: options after a PATH are not recognised (no GNU argument '
               'permutation): "cachectl status PATH --from LIST" gives rc=%s, '
               'stderr %r' % (r.rc, r.err[:200]))

    nul = os.fsencode('\0'.join(pick + [weird, spaced]) + '\0')
    r = E.cachectl(['status', '-J', '-b', '-0', '--from', '-'], input=nul)
    t.eq(r.rc, 0, '-0 --from - exits 0', r.show())
    rows = jrows(t, r, '-0 --from -')
    if rows is not None:
        check_rows_vs_kernel(t, rows, E.work, pick + [weird, spaced],
                             '-0 --from - (name with a newline)')
    r = E.cachectl(['status', '-J', '-b', '--null', '--from', '-'],
                   input=os.fsencode(weird) + b'\0')
    rows = jrows(t, r, '--null --from - without a trailing separator')
    if rows is not None:
        check_rows_vs_kernel(t, rows, E.work, [weird], '--null --from -')

    # a directory in a list needs -r like any root; with -r it is walked
    r = E.cachectl(['status', '-r', '-J', '-b', '--from', '-'],
                   input=(os.path.join(root, 'sub') + '\n').encode())
    rows = jrows(t, r, '-r --from - with a directory')
    if rows is not None:
        check_rows_vs_kernel(t, rows, E.work,
                             [os.path.join(root, 'sub/c.txt'),
                              os.path.join(root, 'sub/d.log')],
                             '-r --from DIR')

    # prefetch/evict take lists too
    for p in pick:
        make_cold(p)
    def prefetch_from():
        for p in pick:
            make_cold(p)
        r = E.cachectl(['prefetch', '--from', lst])
        if r.rc != 0:
            return [r.show()]
        return ['%s: kernel %d' % (p, kcached(p)) for p in pick
                if wait_cached(p, lambda c: c >= 4 * KiB) < 4 * KiB]
    settle(t, 'prefetch --from: exit 0, kernel: the listed files warmed', prefetch_from)
    # let the asynchronous reads finish: pages under read I/O are locked and
    # DONTNEED skips them (cachectl would rightly say "still resident")
    for p in pick + [weird, spaced]:
        warm(p, os.stat(p).st_size)
    r = E.cachectl(['evict', '-0', '--from', '-'], input=nul)
    t.eq(r.rc, 0, 'evict -0 --from - exits 0', r.show())
    t.ok(all(kcached(p) == 0 for p in pick + [weird, spaced]),
         'kernel: evict -0 --from evicted the listed files')


def t_opt_output(t, E):
    f = mkfile(E.path('out', 'data.bin'), 100 * KiB, cold=True)
    warm(f, 40 * KiB)
    k = kstat(f)

    r = E.cachectl(['status', '-J', '-b', '-o', 'FILE,SIZE', f])
    rows = jrows(t, r, '-o FILE,SIZE')
    if rows:
        t.eq(sorted(rows[0]), ['file', 'size'], '-o FILE,SIZE: exactly those keys')
    r = E.cachectl(['status', '-J', '-b', '--output', 'size,file', f])
    rows = jrows(t, r, '--output size,file (lower case)')
    if rows:
        t.eq(sorted(rows[0]), ['file', 'size'], '--output accepts lower-case names')
    r = E.cachectl(['status', '-J', '-b', '-o', '+DIRTY,PAGES', f])
    rows = jrows(t, r, '-o +DIRTY,PAGES')
    if rows:
        t.eq(sorted(rows[0]), sorted(['cached', 'size', 'pct', 'file', 'dirty', 'pages']),
             '-o +COLS appends to the default columns')
        pg = rows[0].get('pages')
        kcheck(t, pg * PAGE if type(pg) is int else pg, f, 'PAGES == kernel cached pages')

    k = kstat(f)
    r = E.cachectl(['status', '-J', '-b', '--output-all', f])
    rows = jrows(t, r, '--output-all')
    if rows:
        row = rows[0]
        t.ok(set(ALL_COLS) - {'bytes'} <= set(row),
             '--output-all: all columns present', repr(row))
        k2 = kstat(f)
        kcheck(t, row.get('cached'), f, '--output-all: cached == kernel')
        for col in ('dirty', 'writeback', 'evicted', 'recently_evicted'):
            t.ok(row.get(col) in (k[col], k2[col]),
                 '--output-all: %s == kernel' % col,
                 'cachectl %r, kernel %r/%r' % (row.get(col), k[col], k2[col]))

    # dirty pages: a freshly written file, not synced
    d = E.path('out', 'dirty.bin')
    with open(d, 'wb') as fh:
        fh.write(os.urandom(256 * KiB))
    k1 = kstat(d)
    r = E.cachectl(['status', '-J', '-b', '-o', 'FILE,CACHED,DIRTY,WRITEBACK', d])
    k2 = kstat(d)
    rows = jrows(t, r, 'DIRTY column')
    if ENGINE == 'mincore':
        t.skip('DIRTY == kernel dirty bytes', 'kernel without cachestat')
    elif rows:
        t.ok(rows[0].get('dirty') in (k1['dirty'], k2['dirty']) and k1['dirty'] > 0,
             'DIRTY == kernel dirty bytes of an unsynced file',
             'cachectl %r, kernel %r/%r' % (rows[0], k1, k2))
    os.sync()

    # tables: -n, --raw, -b
    r = E.cachectl(['status', '-b', f])
    lines = r.text.splitlines()
    t.ok(r.rc == 0 and len(lines) == 2 and 'FILE' in lines[0],
         'table: heading plus one row', r.show())
    r = E.cachectl(['status', '-b', '-n', f])
    lines = r.text.splitlines()
    t.ok(r.rc == 0 and len(lines) == 1 and 'FILE' not in lines[0],
         '-n: no heading, one row', r.show())
    first = lines[0].split()[0] if len(lines) == 1 else ''
    t.ok(first.isdigit() and kmatch(int(first), f)[0],
         '-n -b: first field is cached bytes (kernel)', kmatch(first, f)[1], r.show())
    r = E.cachectl(['status', '--noheadings', '-b', f])
    t.eq(len(r.text.splitlines()), 1, '--noheadings: one line')

    r = E.cachectl(['status', '--raw', '-n', '-b', '-o', 'CACHED,SIZE,PAGES,FILE', f])
    lines = r.text.splitlines()
    t.ok(r.rc == 0 and len(lines) == 1, '--raw -n: one line', r.show())
    if len(lines) == 1:
        fl = lines[0].split(' ')
        kc = int(fl[0]) if fl[0].isdigit() else -1
        t.ok(kmatch(kc, f)[0] and fl == [str(kc), str(100 * KiB), str(kc // PAGE), f],
             '--raw: single-space separated CACHED SIZE PAGES FILE',
             'got %r' % fl, kmatch(kc, f)[1])
    r = E.cachectl(['status', '--raw', '-b', f])
    lines = r.text.splitlines()
    t.ok(len(lines) == 2 and lines[0].split(' ') == ['CACHED', 'SIZE', 'PCT', 'FILE'],
         '--raw heading: CACHED SIZE PCT FILE', r.show())

    r = E.cachectl(['status', '-n', f])
    t.ok(r.rc == 0 and str(100 * KiB) not in r.text,
         'without -b sizes are human units (no raw byte count)', r.show())
    r = E.cachectl(['status', '-n', '-b', f])
    t.ok(r.rc == 0 and str(100 * KiB) in r.text, '-b: sizes in bytes', r.show())
    r = E.cachectl(['status', '--bytes', '-J', f])
    rows = jrows(t, r, '--bytes -J')
    if rows:
        t.ok(isinstance(rows[0].get('size'), int), '--bytes -J: size is a JSON number',
             repr(rows[0]))
    r = E.cachectl(['status', '-J', f])
    rows = jrows(t, r, '-J without -b')
    if rows:
        t.ok(rows[0].get('size') != 100 * KiB,
             '-J without -b: size in human units, not bytes', repr(rows[0]))

    # prefetch/evict: -o shows values after the operation, BYTES column
    make_cold(f)
    r = E.cachectl(['prefetch', '-J', '-b', f])
    t.eq(r.rc, 0, 'prefetch -J -b exits 0', r.show())
    rows = jrows(t, r, 'prefetch -J -b')
    if rows:
        t.ok('bytes' in rows[0], 'prefetch -J: BYTES column added by default', repr(rows[0]))
        t.ok(rows[0].get('bytes') == roundup(100 * KiB) or rows[0].get('bytes') == 100 * KiB,
             'prefetch -J: bytes requested == file data (was cold)', repr(rows[0]))
        c = rows[0].get('cached')
        t.ok(type(c) is int and 0 <= c <= 100 * KiB,
             'prefetch -J: cached after the operation is a number within the size '
             '(reads may still be in flight)', repr(rows[0]))
    def prefetch_wait():
        make_cold(f)
        r = E.cachectl(['prefetch', '--wait', '-J', '-b', f])
        try:
            row = json.loads(r.out)['cachectl'][0]
        except (ValueError, KeyError, IndexError) as e:
            return ['bad JSON %s\n%s' % (e, r.show())]
        k = kcached(f)
        if r.rc != 0 or row.get('cached') != 100 * KiB or k != 100 * KiB:
            return ['row %r, kernel %d\n%s' % (row, k, r.show())]
        return []
    settle(t, 'prefetch --wait -J: exit 0, cached after the operation == whole file, '
           'kernel agrees', prefetch_wait)
    # prefetch skips what is resident: BYTES counts only what was requested
    # (32 MiB, first half read: chunking by the readahead window, e.g.
    # 8 MiB, must still skip the resident chunks)
    g = mkfile(E.path('out', 'partial.bin'), 32 * MiB, cold=True)
    warm(g, 16 * MiB)
    r = E.cachectl(['prefetch', '-J', '-b', g])
    before = BEFORE.get(_key(g), 0)
    rows = jrows(t, r, 'prefetch -J -b partly resident')
    if rows:
        b = rows[0].get('bytes')
        t.ok(type(b) is int and 32 * MiB - before <= b < 32 * MiB,
             'prefetch -J: BYTES covers what was missing and skips what was resident',
             'bytes %r, kernel had %d of %d cached before' % (b, before, 32 * MiB))
    warm(g, 32 * MiB)
    r = E.cachectl(['prefetch', '-J', '-b', g])
    rows = jrows(t, r, 'prefetch -J -b fully resident')
    if rows and BEFORE.get(_key(g)) == 32 * MiB:
        t.eq(rows[0].get('bytes'), 0, 'prefetch -J: BYTES 0 for a fully resident file')

    r = E.cachectl(['evict', '-o', 'FILE,BYTES', '-n', '--raw', '-b', f])
    t.eq(r.rc, 0, 'evict -o FILE,BYTES exits 0', r.show())
    t.eq(r.text.strip(), '%s 0' % f, 'evict -o FILE,BYTES: 0 bytes left resident')
    t.eq(kcached(f), 0, 'kernel: evicted')


# ===========================================================================
# 4. bad input
# ===========================================================================

def t_bad_missing(t, E):
    good = mkfile(E.path('good.bin'), 64 * KiB, cold=False)
    nope = E.path('does-not-exist')
    nope2 = E.path('no', 'such', 'dir', 'file')
    for verb in ('status', 'prefetch', 'evict'):
        r = E.cachectl([verb, nope])
        t.eq(r.rc, 1, '%s MISSING: exit 1' % verb, r.show())
        t.ok(names_path(r, nope), '%s MISSING: stderr "cachectl: PATH: ..."' % verb,
             r.show())
        r = E.cachectl([verb, '-J', '-b', good, nope])
        t.eq(r.rc, 64, '%s GOOD MISSING: exit 64' % verb, r.show())
        t.ok(names_path(r, nope) and not names_path(r, good),
             '%s GOOD MISSING: only the missing path named on stderr' % verb, r.show())
        rows = jrows(t, r, verb + ' GOOD MISSING')
        if rows is not None:
            t.eq([os.path.normpath(x.get('file', '')) for x in rows], [good],
                 '%s GOOD MISSING: the good file is still processed' % verb)
        r = E.cachectl([verb, nope, nope2])
        t.eq(r.rc, 1, '%s MISSING1 MISSING2: exit 1' % verb, r.show())
        t.ok(names_path(r, nope) and names_path(r, nope2),
             '%s MISSING1 MISSING2: both named' % verb, r.show())
        t.eq(len(err_lines(r)), 2, '%s MISSING1 MISSING2: one stderr line per failed path'
             % verb, r.show())
    r = E.cachectl(['status', '-r', '-J', '-b', good, E.path('nodir') + '/'])
    t.eq(r.rc, 64, 'status -r GOOD MISSINGDIR/: exit 64', r.show())
    r = E.cachectl(['status', '-J', '-b', '--from', '-'],
                   input=(good + '\n' + nope + '\n').encode())
    t.eq(r.rc, 64, '--from list with a missing path: exit 64', r.show())
    t.ok(names_path(r, nope), '--from list with a missing path: named', r.show())


def special_tree(E, name):
    S = E.path(name)
    os.makedirs(S)
    reg = mkfile(os.path.join(S, 'regular.txt'), 16 * KiB, cold=False)
    fifo = os.path.join(S, 'the_fifo')
    os.mkfifo(fifo)
    sock = os.path.join(S, 'the_sock')
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(sock)
    s.listen(1)
    cdev = os.path.join(S, 'the_cdev')
    try:
        os.mknod(cdev, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except OSError:
        cdev = None
    os.symlink('the_fifo', os.path.join(S, 'fifolink'))
    if cdev:
        os.symlink('the_cdev', os.path.join(S, 'cdevlink'))
    return S, reg, fifo, sock, cdev, s


def unblock_fifo(fifo):
    """If a buggy cachectl is stuck opening the FIFO for reading, a writer
    lets it go (then the run is killed anyway)."""
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
    except OSError:
        pass


class FifoWatch(threading.Thread):
    """Every 50 ms try to open the FIFO for writing without blocking: that
    only succeeds while some process has it open for reading (or is blocked
    opening it), so a success is proof that cachectl opened the FIFO, and it
    also lets a blocked cachectl go on instead of hanging the suite."""

    def __init__(self, fifo):
        super().__init__(daemon=True)
        self.fifo = fifo
        self.hits = 0
        self.done = threading.Event()

    def run(self):
        while not self.done.wait(0.05):
            try:
                fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                continue
            self.hits += 1
            os.close(fd)

    def take(self):
        h, self.hits = self.hits, 0
        return h


def t_bad_special(t, E):
    S, reg, fifo, sock, cdev, s = special_tree(E, 'stree')
    specials = [('FIFO', fifo), ('socket', sock)] + ([('device', cdev)] if cdev else [])
    if not cdev:
        t.skip('device node', 'mknod not permitted here')
    st = have_strace()
    if not st:
        t.diag('strace not usable: only the timeout and FIFO-reader checks run')
    watch = FifoWatch(fifo)
    watch.start()

    def no_reader(desc):
        t.ok(watch.take() == 0, desc + ': nobody had the FIFO open for reading')
    try:
        for verb in ('status', 'prefetch', 'evict'):
            for flags in (['-r'], ['-r', '-L']):
                args = [verb] + flags + ['-J', '-b', S]
                r = E.cachectl(args, timeout=10, strace=st)
                unblock_fifo(fifo)
                desc = '%s %s TREE with FIFO/socket/device' % (verb, ' '.join(flags))
                t.ok(not r.timed_out, desc + ': finishes (does not block on the FIFO)',
                     r.show())
                no_reader(desc)
                t.eq(r.rc, 0, desc + ': exit 0 (specials skipped)', r.show())
                rows = jrows(t, r, desc)
                if rows is not None:
                    t.eq(sorted(by_path(rows, E.work)), [reg],
                         desc + ': only the regular file reported')
                if st:
                    t.ok(opened(r.trace, 'regular.txt'),
                         desc + ': strace sees regular.txt opened (control)',
                         r.trace[-2000:])
                    for what, p in specials:
                        hits = opened(r.trace, os.path.basename(p))
                        t.ok(not hits, desc + ': %s never opened' % what, *hits)
                    hits = opened(r.trace, 'fifolink') + opened(r.trace, 'cdevlink')
                    t.ok(not hits, desc + ': no open through the symlinks to them', *hits)
            # explicit roots
            for what, p in specials:
                r = E.cachectl([verb, p], timeout=10, strace=st)
                unblock_fifo(fifo)
                desc = '%s %s-as-root' % (verb, what)
                t.ok(not r.timed_out, desc + ': finishes', r.show())
                no_reader(desc)
                t.eq(r.rc, 1, desc + ': exit 1', r.show())
                t.ok(names_path(r, p), desc + ': named on stderr', r.show())
                if st:
                    hits = opened(r.trace, os.path.basename(p))
                    t.ok(not hits, desc + ': never opened', *hits)
            r = E.cachectl([verb, '-J', '-b', reg, fifo], timeout=10)
            unblock_fifo(fifo)
            t.ok(r.rc == 64 and not r.timed_out and names_path(r, fifo),
                 '%s REGULAR FIFO: exit 64, FIFO named' % verb, r.show())
            no_reader('%s REGULAR FIFO' % verb)
        # through a symlink root and a list
        r = E.cachectl(['status', os.path.join(S, 'fifolink')], timeout=10, strace=st)
        unblock_fifo(fifo)
        t.ok(r.rc == 1 and not r.timed_out, 'status SYMLINK-TO-FIFO: exit 1', r.show())
        no_reader('status SYMLINK-TO-FIFO')
        if st:
            hits = opened(r.trace, 'the_fifo') + opened(r.trace, 'fifolink')
            t.ok(not hits, 'status SYMLINK-TO-FIFO: FIFO never opened', *hits)
        r = E.cachectl(['status', '--from', '-'], input=(fifo + '\n').encode(),
                       timeout=10, strace=st)
        unblock_fifo(fifo)
        t.ok(r.rc == 1 and not r.timed_out and names_path(r, fifo),
             'status --from list naming a FIFO: exit 1, named', r.show())
        no_reader('status --from FIFO')
        if st:
            hits = opened(r.trace, 'the_fifo')
            t.ok(not hits, 'status --from FIFO: never opened', *hits)
        r = E.cachectl(['status', '-r', '-v', S], timeout=10)
        unblock_fifo(fifo)
        t.eq(r.rc, 0, 'status -r -v TREE with specials: exit 0', r.show())
    finally:
        watch.done.set()
        watch.join()
        s.close()


def t_bad_symlink(t, E):
    Y = E.path('ytree')
    real = mkfile(os.path.join(Y, 'real.txt'), 16 * KiB, cold=False)
    ysec = E.path('ysecret')
    secret = mkfile(os.path.join(ysec, 'secret_s.txt'), 256 * KiB, cold=False)
    os.symlink(secret, os.path.join(Y, 'out_link'))
    os.symlink(ysec, os.path.join(Y, 'out_dlink'))
    os.symlink(E.path('nowhere'), os.path.join(Y, 'dangling'))
    os.symlink('selfloop', os.path.join(Y, 'selfloop'))
    os.symlink('.', os.path.join(Y, 'dotloop'))
    st = have_strace()

    r = E.cachectl(['status', '-r', '-J', '-b', Y], timeout=10, strace=st)
    t.eq(r.rc, 0, 'status -r TREE with symlinks (no -L): exit 0', r.show())
    rows = jrows(t, r, 'status -r symlinks')
    if rows is not None:
        t.eq(sorted(by_path(rows, E.work)), [real],
             'without -L: only the regular file; links to outside not reported')
    if st:
        t.ok(opened(r.trace, 'real.txt'), 'strace sees real.txt opened (control)',
             r.trace[-2000:])
        hits = opened(r.trace, 'ysecret') + opened(r.trace, 'secret_s')
        t.ok(not hits, 'without -L: link targets outside the tree never opened', *hits)

    def evict_nofollow():
        warm(secret, 256 * KiB)
        warm(real, 16 * KiB)
        r = E.cachectl(['evict', '-r', Y], timeout=10)
        if r.rc != 0:
            return [r.show()]
        bad = []
        if kcached(secret) != 256 * KiB:
            bad.append('symlink target: kernel %d, want 256 KiB' % kcached(secret))
        if kcached(real) != 0:
            bad.append('regular file: kernel %d, want 0' % kcached(real))
        return bad
    settle(t, 'evict -r TREE (no -L): exit 0, kernel: the regular file evicted, '
           'the symlink target not', evict_nofollow)

    def prefetch_nofollow():
        make_cold(secret)
        make_cold(real)
        r = E.cachectl(['prefetch', '-r', Y], timeout=10)
        if r.rc != 0:
            return [r.show()]
        bad = []
        if wait_cached(real, lambda c: c > 0) == 0:
            bad.append('regular file not warmed')
        time.sleep(0.2)
        if kcached(secret) != 0:
            bad.append('symlink target warmed: kernel %d' % kcached(secret))
        return bad
    settle(t, 'prefetch -r TREE (no -L): exit 0, kernel: the regular file warmed, '
           'the symlink target not', prefetch_nofollow)

    r = E.cachectl(['status', '-r', '-L', '-J', '-b', Y], timeout=10)
    t.ok(not r.timed_out and r.rc in (0, 64),
         'status -r -L with dangling/self/dot loops: terminates, exit 0 or 64', r.show())
    t.ok(all(ln.startswith('cachectl: ') and Y in ln for ln in err_lines(r)),
         'status -r -L: every stderr line names a path in the tree', r.show())
    rows = jrows(t, r, 'status -r -L symlinks')
    if rows is not None:
        reals = sorted(os.path.realpath(p) for p in by_path(rows, E.work))
        t.ok(secret in reals and real in reals,
             'status -r -L: follows links to the outside file and dir', r.show())
        t.eq(reals.count(real), 1, 'status -r -L: real.txt once despite the . loop')


def t_bad_unreadable(t, E):
    U = E.path('utree')
    os.makedirs(U)
    os.chown(U, NOBODY, NOBODY)
    a = mkfile(os.path.join(U, 'a.txt'), 64 * KiB, owner=NOBODY)
    warm(a, 16 * KiB)
    b = mkfile(os.path.join(U, 'b.txt'), 32 * KiB, owner=NOBODY, cold=False)
    locked = mkfile(os.path.join(U, 'locked.txt'), 32 * KiB, owner=NOBODY, mode=0o000,
                    cold=False)
    closed = os.path.join(U, 'closed')
    mkfile(os.path.join(closed, 'inner.txt'), 4 * KiB, owner=NOBODY, cold=False)
    os.chown(closed, NOBODY, NOBODY)
    os.chmod(closed, 0o000)
    chk = run(SETPRIV + ['cat', locked], timeout=10)
    if chk.rc == 0:
        t.skip('unreadable files', 'uid %d can read a mode-000 file here' % NOBODY)
        return

    r = E.cachectl(['status', '-r', '-J', '-b', U], user='nobody')
    t.eq(r.rc, 64, 'nobody: status -r TREE with unreadable file+dir: exit 64', r.show())
    t.ok(names_path(r, locked), 'unreadable file named on stderr', r.show())
    t.ok(names_path(r, closed), 'unreadable directory named on stderr', r.show())
    rows = jrows(t, r, 'status -r unreadable')
    if rows is not None:
        check_rows_vs_kernel(t, rows, E.work, [a, b],
                             'nobody status -r: readable files processed')

    r = E.cachectl(['status', locked], user='nobody')
    t.eq(r.rc, 1, 'nobody: status UNREADABLE: exit 1', r.show())
    t.ok(names_path(r, locked), 'nobody: status UNREADABLE: named', r.show())

    def prefetch_u():
        make_cold(a)
        make_cold(b)
        r = E.cachectl(['prefetch', '-r', U], user='nobody')
        if r.rc != 64 or not names_path(r, locked):
            return ['want exit 64 naming %s\n%s' % (locked, r.show())]
        ka = wait_cached(a, lambda c: c >= 64 * KiB)
        kb = wait_cached(b, lambda c: c >= 32 * KiB)
        return [] if (ka, kb) == (64 * KiB, 32 * KiB) else \
            ['kernel: a %d (want 64 KiB), b %d (want 32 KiB)' % (ka, kb)]
    settle(t, 'nobody: prefetch -r TREE: exit 64 naming the unreadable file, '
           'kernel: the readable files warmed', prefetch_u)

    def evict_u():
        warm(a, 64 * KiB)
        warm(b, 32 * KiB)
        warm(locked, 32 * KiB)
        r = E.cachectl(['evict', '-r', U], user='nobody')
        if r.rc != 64 or not names_path(r, locked):
            return ['want exit 64 naming %s\n%s' % (locked, r.show())]
        bad = ['%s: kernel %d' % (p, kcached(p)) for p in (a, b) if kcached(p)]
        if kcached(locked) == 0:
            bad.append('the unreadable file was evicted')
        return bad
    settle(t, 'nobody: evict -r TREE: exit 64, kernel: readable files evicted, '
           'the unreadable one left alone', evict_u)
    os.chmod(closed, 0o755)


def mass_tree(root, ndirs=20, nfiles=100, size=4 * KiB):
    os.makedirs(root, exist_ok=True)
    data = os.urandom(size)
    for d in range(ndirs):
        dp = os.path.join(root, 'd%02d' % d)
        os.makedirs(dp, exist_ok=True)
        for i in range(nfiles):
            with open(os.path.join(dp, 'f%03d' % i), 'wb') as f:
                f.write(data)


def link_tree(master, root, ndirs):
    """A tree of hard links to the master files: cheap to make and to
    delete (no data writeback, no discard) and the data stays clean."""
    names = sorted(os.listdir(master))
    per = (len(names) + ndirs - 1) // ndirs
    paths = []
    for i, n in enumerate(names):
        dp = os.path.join(root, 'd%02d' % (i // per))
        if i % per == 0:
            os.makedirs(dp)
        paths.append(os.path.join(dp, n))
        os.link(os.path.join(master, n), paths[-1])
    return paths


def t_bad_vanish(t, E):
    master = E.path('vmaster')
    mass_tree(master, ndirs=1, nfiles=600)
    master = os.path.join(master, 'd00')
    os.sync()
    problems = []
    runs = 0
    saw_err = 0
    overlapped = 0
    noisy = []
    for verb in ('status', 'prefetch', 'evict'):
        for it in range(4):
            V = E.path('vtree%s%d' % (verb, it))
            paths = link_tree(master, V, 12)
            random.shuffle(paths)
            stop = threading.Event()

            def deleter(paths=paths, it=it, V=V):
                time.sleep(0.002 * it)
                for p in paths:
                    if stop.is_set():
                        return
                    try:
                        os.unlink(p)
                    except OSError:
                        pass
                for dp in os.listdir(V):
                    try:
                        os.rmdir(os.path.join(V, dp))
                    except OSError:
                        pass
            th = threading.Thread(target=deleter)
            th.start()
            r = E.cachectl([verb, '-r', '-J', '-b', V], timeout=20)
            stop.set()
            th.join()
            runs += 1
            desc = '%s -r (iteration %d)' % (verb, it)
            if r.timed_out or r.rc is None or r.rc < 0:
                problems.append(desc + ': crashed or hung\n' + r.show())
                continue
            if r.rc not in (0, 64):
                problems.append(desc + ': exit %d, want 0 or 64\n' % r.rc + r.show())
            for ln in err_lines(r):
                if not (ln.startswith('cachectl: ') and V in ln):
                    problems.append(desc + ': stderr line names no path: %r' % ln)
            if r.rc != 0 or r.err:
                saw_err += 1
                noisy.append(desc + ': exit %s\n' % r.rc + r.show())
            try:
                n = len(file_rows(json.loads(r.out)['cachectl']))
                if 0 < n < len(paths):
                    overlapped += 1
            except (ValueError, KeyError, TypeError) as e:
                problems.append(desc + ': JSON broken: %s\n' % e + r.show())
    t.ok(not problems, 'files deleted mid-walk (%d runs): no crash, exit 0/64, '
         'errors name paths, JSON intact' % runs, *problems[:10])
    t.diag('%d of %d runs reported errors; %d runs saw only part of the tree '
           '(walk and deletions overlapped)' % (saw_err, runs, overlapped))
    # contract: inside trees a vanished file (or directory) is skipped
    # silently and counted as skipped; only roots that vanish are errors
    t.ok(not noisy, 'files deleted mid-walk are skipped silently (exit 0, no stderr)',
         *noisy[:5])


def t_bad_resize(t, E):
    R = E.path('rtree')
    stable = mkfile(os.path.join(R, 'stable.bin'), 1 * MiB, cold=False)
    mass_tree(os.path.join(R, 'many'), ndirs=4, nfiles=25)
    grow = os.path.join(R, 'grow.bin')
    shrink = os.path.join(R, 'shrink.bin')
    stop = threading.Event()
    MAXSZ = 16 * MiB

    def churn():
        chunk = os.urandom(256 * KiB)
        with open(grow, 'wb') as g, open(shrink, 'wb') as s:
            s.write(os.urandom(MAXSZ))
            while not stop.is_set():
                for _ in range(MAXSZ // len(chunk)):
                    if stop.is_set():
                        break
                    g.write(chunk)
                    g.flush()
                    cur = os.fstat(s.fileno()).st_size
                    s.truncate(max(0, cur - len(chunk)))
                g.truncate(0)
                g.seek(0)
                s.truncate(0)
                s.seek(0)
                s.write(os.urandom(MAXSZ))
                s.flush()

    th = threading.Thread(target=churn)
    th.start()
    problems = []
    runs = 0
    try:
        time.sleep(0.05)
        end = time.monotonic() + 2.0
        while time.monotonic() < end:
            for verb in ('status', 'prefetch', 'evict'):
                r = E.cachectl([verb, '-r', '-J', '-b', R], timeout=20)
                runs += 1
                desc = '%s -r' % verb
                if r.timed_out or r.rc is None or r.rc < 0:
                    problems.append(desc + ': crashed or hung\n' + r.show())
                    continue
                if r.rc not in (0, 64):
                    problems.append(desc + ': exit %d\n' % r.rc + r.show())
                for ln in err_lines(r):
                    if not (ln.startswith('cachectl: ') and R in ln):
                        problems.append(desc + ': stderr line names no path: %r' % ln)
                try:
                    rows = json.loads(r.out)['cachectl']
                    m = by_path(rows, E.work)
                    if verb == 'status' and stable not in m:
                        problems.append(desc + ': stable.bin missing\n' + r.show())
                    for p in (grow, shrink):
                        for row in m.get(p, []):
                            sz, c = row.get('size'), row.get('cached')
                            if not (isinstance(sz, int) and 0 <= sz <= MAXSZ + 256 * KiB):
                                problems.append(desc + ': odd size %r' % row)
                            if isinstance(c, int) and c > MAXSZ + 512 * KiB:
                                problems.append(desc + ': odd cached %r' % row)
                except (ValueError, KeyError, TypeError) as e:
                    problems.append(desc + ': JSON broken: %s\n' % e + r.show())
    finally:
        stop.set()
        th.join()
    t.ok(not problems, 'files growing/shrinking during walks (%d runs): no crash, '
         'exit 0/64, sane sizes' % runs, *problems[:10])
    WATCH.extend([grow, shrink])
    r = E.cachectl(['status', '-r', '-J', '-b', R])
    rows = jrows(t, r, 'status -r after the churn')
    if rows is not None:
        m = by_path(rows, E.work)
        for p in (grow, shrink, stable):
            if p in m:
                kcheck(t, m[p][0].get('cached'), p,
                       'after the churn: %s cached == kernel' % os.path.basename(p))
            else:
                t.ok(False, 'after the churn: %s reported' % os.path.basename(p), r.show())


NAMES = ['new\nline.txt', 'tab\tname.txt', 'esc\x1bname.txt', 'cr\rname.txt',
         'normal.txt', 'del\x7fname.txt', 'two\n\nnl.txt', 'ünï.txt']


def t_bad_names(t, E):
    N = E.path('ntree')
    os.makedirs(N)
    paths = []
    for i, n in enumerate(NAMES):
        paths.append(mkfile(os.path.join(N, n), (i + 1) * 4 * KiB, cold=True))
        warm(paths[-1], 4 * KiB * (i % 3))
    bs = os.path.join(N, 'back\\x41slash.txt')   # a literal backslash-x
    mkfile(bs, 4 * KiB, cold=False)

    r = E.cachectl(['status', '-r', '-b', N])
    t.eq(r.rc, 0, 'status -r TREE with control chars in names: exit 0', r.show())
    lines = r.out.split(b'\n')
    if lines and lines[-1] == b'':
        lines.pop()
    t.eq(len(lines), 1 + len(NAMES) + 1, 'table: one line per file plus heading '
         '(no raw newline inside a row)', r.show())
    ctl = sorted(set(c for c in r.out if c < 0x20 and c != 0x0a or c == 0x7f))
    t.ok(not ctl, 'table: no raw control characters in the output',
         'found bytes %r' % ctl, r.show())
    t.ok(b'\\x0a' in r.out and b'\\x1b' in r.out and b'\\x09' in r.out,
         'table: control characters escaped as \\xHH', r.show())

    r = E.cachectl(['status', '-r', '--raw', '-n', '-b', '-o', 'FILE,CACHED', N])
    t.eq(r.rc, 0, 'status -r --raw: exit 0', r.show())
    lines = [ln for ln in r.out.split(b'\n') if ln]
    t.eq(len(lines), len(NAMES) + 1, '--raw: one line per file', r.show())
    ctl = sorted(set(c for c in r.out if c < 0x20 and c != 0x0a or c == 0x7f))
    t.ok(not ctl, '--raw: no raw control characters', 'found bytes %r' % ctl)
    got = {}
    for ln in lines:
        parts = ln.split(b' ')
        if len(parts) != 2:
            t.ok(False, '--raw: exactly 2 space-separated fields: %r' % ln)
            continue
        got[unescape_hex(parts[0])] = parts[1]
    want = {os.fsencode(p) for p in paths}
    t.eq(sorted(set(got) - {os.fsencode(bs)}), sorted(want),
         '--raw: un-escaping \\xHH gives back every exact name')
    t.ok(os.fsencode(bs) in got,
         '--raw: a literal "\\x41" in a name is escaped too (unambiguous)',
         'decoded names: %r' % sorted(got))
    for p in paths:
        v = got.get(os.fsencode(p))
        if v is not None and not kmatch(int(v) if v.isdigit() else v, p)[0]:
            t.ok(False, '--raw: cached of %r == kernel' % p, kmatch(v, p)[1])

    r = E.cachectl(['status', '-r', '-J', '-b', N])
    t.eq(r.rc, 0, 'status -r -J: exit 0', r.show())
    try:
        rows = json.loads(r.out.decode('utf-8'))['cachectl']
        names = sorted(os.path.normpath(x['file']) for x in rows)
        t.eq(names, sorted(paths + [bs]), 'JSON: python json gives back the exact names')
        for x in rows:
            p = os.path.normpath(x['file'])
            if p in paths:
                kcheck(t, x.get('cached'), p, 'JSON: cached of %r == kernel' % p)
    except Exception as e:  # noqa: BLE001
        t.ok(False, 'JSON output is valid UTF-8 JSON', str(e), r.show())

    r = E.cachectl(['evict', '-r', N])
    t.eq(r.rc, 0, 'evict -r names tree: exit 0', r.show())
    t.ok(all(kcached(p) == 0 for p in paths), 'kernel: every weird name evicted')
    def prefetch_names():
        for p in paths:
            make_cold(p)
        r = E.cachectl(['prefetch', '-J', '-b'] + paths)
        if r.rc != 0:
            return [r.show()]
        return ['%r: kernel 0' % p for p in paths if wait_cached(p, lambda c: c > 0) == 0]
    settle(t, 'prefetch with weird names as arguments: exit 0, kernel: all warmed',
           prefetch_names)
    r = E.cachectl(['status', '-r', N, E.path('missing\nfile')])
    t.ok(r.rc == 64 and b'missing\nfile' not in r.err and
         any(b'missing' in ln and b'file' in ln for ln in r.err.split(b'\n')),
         'error line for a name with a newline is escaped (one line)', r.show())


def t_bad_sparse(t, E):
    H = E.path('htree')
    os.makedirs(H)
    huge = os.path.join(H, 'huge')
    with open(huge, 'wb') as f:
        f.truncate(TiB)
    # without cachestat, kcachestat's mincore over 1 TiB takes half a minute
    big_ok = ENGINE == 'cachestat'
    if big_ok:
        make_cold(huge)
    E.cachectl(['--version'])   # page in the binary and the library

    def fastest(args, n=3, timeout=30):
        """Best of n runs: wall-clock limits must not fail because a busy
        host (parallel builds) stole the CPU once."""
        best = None
        for _ in range(n):
            r = E.cachectl(args, timeout=timeout)
            best = r if best is None or r.elapsed < best.elapsed else best
            if r.rc != 0 or r.elapsed < 0.5:
                break
        return best
    r = fastest(['status', '-J', '-b', huge])
    t.eq(r.rc, 0, 'status 1 TiB sparse file: exit 0', r.show())
    t.ok(r.elapsed < 1.0, 'status 1 TiB sparse file: < 1 s wall (%.3f s)' % r.elapsed,
         r.show())
    rows = jrows(t, r, 'status 1 TiB')
    if rows:
        t.eq(rows[0].get('size'), TiB, 'status 1 TiB: size')
        if big_ok:
            t.eq(rows[0].get('cached'), kcached(huge), 'status 1 TiB: cached == kernel')
        else:
            t.eq(rows[0].get('cached'), 0, 'status 1 TiB (never read): cached 0')
    r = fastest(['status', '-r', '-c', '-J', '-b', H])
    t.ok(r.rc == 0 and r.elapsed < 1.0,
         'status -r -c over a dir with the 1 TiB file: < 1 s (%.3f s)' % r.elapsed,
         r.show())

    sp = os.path.join(H, 'sparse1g')
    with open(sp, 'wb') as f:
        f.truncate(GiB)
        f.seek(512 * MiB)
        f.write(os.urandom(MiB))
        f.flush()
        os.fsync(f.fileno())
    WATCH.append(sp)

    def prefetch_sparse():
        make_cold(sp)
        r = E.cachectl(['prefetch', sp], timeout=10)
        if r.rc != 0 or r.elapsed >= 3.0:
            return ['want exit 0 within 3 s\n' + r.show()]
        c = wait_cached(sp, lambda c: c >= MiB, 3)
        return [] if MiB <= c < 64 * MiB else ['kernel cached %d' % c]
    settle(t, 'prefetch 1 GiB sparse file with 1 MiB data: exit 0 in < 3 s, kernel '
           'cached the data (>= 1 MiB) but not the holes (< 64 MiB)', prefetch_sparse)
    r = E.cachectl(['status', '-J', '-b', sp])
    rows = jrows(t, r, 'status sparse after prefetch')
    if rows:
        kcheck(t, rows[0].get('cached'), sp, 'status sparse: cached == kernel')
    with open(sp, 'rb') as fh:     # wait for in-flight reads (locked pages)
        os.pread(fh.fileno(), MiB, 512 * MiB)
    r = E.cachectl(['evict', sp], timeout=10)
    t.eq(r.rc, 0, 'evict sparse: exit 0', r.show())
    t.eq(kcached(sp), 0, 'kernel: sparse file evicted')

    # the whole 1 TiB hole: nothing to read
    r = fastest(['prefetch', huge], timeout=5)
    t.ok(r.rc == 0 and not r.timed_out and r.elapsed < 3.0,
         'prefetch 1 TiB hole: exit 0 quickly (%.3f s)' % r.elapsed, r.show())
    if big_ok:
        c = kcached(huge)
        make_cold(huge)
        t.ok(c < 64 * MiB, 'kernel: prefetch of a 1 TiB hole cached < 64 MiB',
             'kernel cached %d' % c)
    else:
        os.unlink(huge)   # drops whatever prefetch put in the cache


# ===========================================================================
# 5. permission honesty
# ===========================================================================

def t_unknown(t, E):
    K = E.path('ktree')
    os.makedirs(K)
    cold = mkfile(os.path.join(K, 'rootcold.bin'), MiB, cold=True)
    hot = mkfile(os.path.join(K, 'rootwarm.bin'), MiB, cold=True)
    warm(hot, MiB)
    mine = mkfile(os.path.join(K, 'mine.bin'), MiB, cold=True, owner=NOBODY)
    warm(mine, 256 * KiB)
    kc = kcs([cold], user='nobody')
    if ENGINE == 'mincore':
        t.diag('kernel without cachestat: mincore tells uid %d "%s" for a cold '
               'root-owned file (the lie cachectl must not repeat)'
               % (NOBODY, kc.text.strip()))
    elif kc.rc != 2:
        t.skip('unknown residency', 'the kernel tells uid %d the residency of a '
               'root-owned 0644 file (%s)' % (NOBODY, kc.text.strip()))
        return
    warm(hot, MiB)
    t.diag('kernel (root) before: rootcold %d, rootwarm %d (so 100%% would be a lie '
           'for one and 0 for the other)' % (kcached(cold), kcached(hot)))

    r = E.cachectl(['status', '-J', '-b', cold, hot, mine], user='nobody')
    t.eq(r.rc, 0, 'nobody: status of unknown-residency files: exit 0 (not an error)',
         r.show())
    rows = jrows(t, r, 'nobody status -J -b')
    if rows is not None:
        m = by_path(rows, E.work)
        for p, what in ((cold, 'cold'), (hot, 'warm')):
            row = (m.get(p) or [{}])[0]
            t.ok('cached' in row and row['cached'] is None,
                 'nobody: root-owned %s file: cached is JSON null (unknown)' % what,
                 'row %r (kernel truth: %d)' % (row, kcached(p)))
            t.ok('pct' in row and row['pct'] is None,
                 'nobody: root-owned %s file: pct is JSON null' % what, repr(row))
            t.eq(row.get('size'), MiB, 'nobody: root-owned %s file: size known' % what)
        row = (m.get(mine) or [{}])[0]
        kcheck(t, row.get('cached'), mine, 'nobody: own file: cached == kernel')

    r = E.cachectl(['status', '-n', '-b', cold], user='nobody')
    t.ok(r.rc == 0 and r.text.split()[:1] == ['?'],
         'nobody: table shows "?" for unknown cached', r.show())
    r = E.cachectl(['status', '-J', '-b', '--output-all', hot], user='nobody')
    rows = jrows(t, r, 'nobody --output-all')
    if rows:
        bad = {k: v for k, v in rows[0].items()
               if k in ('cached', 'pct', 'pages', 'dirty', 'writeback', 'evicted',
                        'recently_evicted') and v is not None}
        t.ok(not bad, 'nobody --output-all: every residency column is null', repr(rows[0]))

    # prefetch must still work when the residency is hidden
    def prefetch_hidden():
        make_cold(cold)
        r = E.cachectl(['prefetch', cold], user='nobody')
        if r.rc != 0:
            return [r.show()]
        k = wait_cached(cold, lambda c: c >= MiB)
        return [] if k == MiB else ['kernel cached %d' % k]
    settle(t, 'nobody: prefetch root-owned 0644 file: exit 0, kernel has the whole file',
           prefetch_hidden)


# ===========================================================================
# 6. usage
# ===========================================================================

def t_usage(t, E):
    f = mkfile(E.path('u.bin'), 4 * KiB, cold=False)

    def usage_err(args, desc):
        r = E.cachectl(args)
        t.eq(r.rc, 1, desc + ': exit 1', r.show())
        t.ok(TRY_HELP in r.etext, desc + ': stderr says "%s"' % TRY_HELP, r.show())
        t.ok(any(ln.startswith('cachectl') for ln in err_lines(r)),
             desc + ': stderr has a "cachectl...: <what>" line', r.show())
        t.eq(r.out, b'', desc + ': nothing on stdout')

    usage_err(['--no-such-option'], 'unknown global option')
    usage_err(['frobnicate', f], 'unknown verb')
    usage_err(['status', '--no-such-option', f], 'status: unknown option')
    usage_err(['status', '-Q', f], 'status: unknown short option')
    usage_err(['evict', '--wait', f], 'evict --wait (prefetch-only option)')
    usage_err(['status', '--read', f], 'status --read (prefetch-only option)')
    usage_err(['status', '--from'], 'status --from without an argument')
    usage_err(['status', '-o', 'NOSUCHCOL', f], 'status -o unknown column')
    for d in ('0', '4097', 'abc', '-1'):
        usage_err(['prefetch', '-d', d, f], 'prefetch -d %s' % d)
    usage_err([], 'no verb')

    for args in (['--help'], ['-h']):
        r = E.cachectl(args)
        t.eq(r.rc, 0, 'cachectl %s: exit 0' % args[0], r.show())
        t.ok(all(v in r.text for v in ('status', 'prefetch', 'evict')),
             'cachectl %s: usage on stdout names the verbs' % args[0], r.show())
    for verb in ('status', 'prefetch', 'evict'):
        r = E.cachectl([verb, '--help'])
        t.ok(r.rc == 0 and '--recursive' in r.text,
             'cachectl %s --help: exit 0, usage on stdout' % verb, r.show())
    r = E.cachectl(['prefetch', '--help'])
    t.ok('--queue-depth' in r.text and '--read' in r.text,
         'prefetch --help lists --queue-depth and --read', r.show())
    for args in (['--version'], ['-V']):
        r = E.cachectl(args)
        want = 'cachectl ' + os.environ.get('CACHECTL_VERSION', '0.2.0')
        t.ok(r.rc == 0 and r.text.strip() == want,
             'cachectl %s: "%s"' % (args[0], want), r.show())
    r = E.cachectl(['prefetch', '-d', '4096', f])
    t.eq(r.rc, 0, 'prefetch -d 4096: accepted', r.show())
    r = E.cachectl(['prefetch', '--queue-depth', '1', '--read', '--wait', f])
    t.eq(r.rc, 0, 'prefetch --queue-depth 1 --read --wait: accepted', r.show())
    r = E.cachectl(['status', '--progress', '-b', f])
    t.eq(r.rc, 0, 'status --progress (not a TTY): accepted', r.show())
    r = E.cachectl(['status', '--no-progress', '-b', f])
    t.eq(r.rc, 0, 'status --no-progress: accepted', r.show())
    r = E.cachectl(['status', '-v', '-b', f])
    t.ok(r.rc == 0 and ('shim' in r.etext or 'cachestat' in r.etext),
         'status -v: says the backend/engine on stderr', r.show())


# ===========================================================================
# 7. exit codes
# ===========================================================================

def t_exitcodes(t, E):
    f = mkfile(E.path('ok.bin'), 256 * KiB, cold=False)
    D = E.path('adir')
    mkfile(os.path.join(D, 'x'), 4 * KiB, cold=False)
    mkfile(os.path.join(D, 'sub', 'y'), 4 * KiB, cold=False)
    nope = E.path('nope')
    for verb in ('status', 'prefetch', 'evict'):
        r = E.cachectl([verb, f])
        t.eq(r.rc, 0, '%s FILE: exit 0' % verb, r.show())
        t.eq(r.err, b'', '%s FILE: nothing on stderr' % verb)
        if verb != 'status':
            t.eq(r.out, b'', '%s FILE: nothing on stdout without -J/-o/-c' % verb)
            r = E.cachectl([verb, '-c', '-b', f])
            t.ok(r.rc == 0 and r.text.splitlines()[-1:] and
                 r.text.splitlines()[-1].split()[-1:] == ['total'],
                 '%s -c: a table ending with the total row' % verb, r.show())
        r = E.cachectl([verb, nope])
        t.eq(r.rc, 1, '%s MISSING: exit 1' % verb, r.show())
        r = E.cachectl([verb, f, nope])
        t.eq(r.rc, 64, '%s FILE MISSING: exit 64' % verb, r.show())
        r = E.cachectl([verb, f, D])
        t.eq(r.rc, 0, '%s FILE DIR (no -r): exit 0, top-level files of DIR'
             % verb, r.show())
        r = E.cachectl([verb, '-r', f, D])
        t.eq(r.rc, 0, '%s -r FILE DIR: exit 0' % verb, r.show())
        r = E.cachectl([verb, '-r', D, nope])
        t.eq(r.rc, 64, '%s -r DIR MISSING: exit 64' % verb, r.show())
        t.ok(names_path(r, nope) and not names_path(r, D),
             '%s -r DIR MISSING: only the missing path named' % verb, r.show())

    # evict of unsynced data: whatever stays, the exit status and message
    # must agree with the kernel (verified eviction)
    dfile = E.path('dirty.bin')
    with open(dfile, 'wb') as fh:
        fh.write(os.urandom(4 * MiB))
    r = E.cachectl(['evict', dfile])
    left = kcached(dfile)
    if r.rc == 0:
        t.eq(left, 0, 'evict DIRTY: exit 0 only if the kernel has nothing left')
    else:
        t.ok(r.rc == 1 and left > 0 and names_path(r, dfile) and 'still resident' in r.etext,
             'evict DIRTY: exit 1 and "still resident" only if pages stayed',
             'kernel left %d' % left, r.show())
    t.diag('evict of 4 MiB unsynced data: rc=%s, kernel left %d' % (r.rc, left))
    os.sync()

    # evict that cannot drop mapped pages: verified, reported, exit 1 / 64
    M = mkfile(E.path('mapped.bin'), 1 * MiB, cold=False)
    holder = subprocess.Popen(
        [sys.executable, '-c',
         'import mmap,sys\n'
         'f=open(sys.argv[1],"rb")\n'
         'm=mmap.mmap(f.fileno(),0,prot=mmap.PROT_READ)\n'
         's=sum(m[i] for i in range(0,len(m),4096))\n'
         'print("ready",flush=True)\n'
         'sys.stdin.read()\n', M],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        holder.stdout.readline()
        r = E.cachectl(['evict', M])
        left = kcached(M)
        t.ok(left > 0, 'kernel: mapped pages stay after DONTNEED (%d bytes)' % left)
        t.eq(r.rc, 1, 'evict MAPPED: exit 1 (eviction verified and failed)', r.show())
        t.ok(names_path(r, M) and 'still resident' in r.etext,
             'evict MAPPED: "PATH: N still resident" on stderr', r.show())
        amount = parse_amount(r.etext.split('still resident')[0].split(': ')[-1])
        lo, hi = krange(M)
        t.ok(amount is not None and lo - max(lo // 20, PAGE) <= amount
             <= hi + max(hi // 20, PAGE),
             'evict MAPPED: the amount said == kernel cached bytes left (%d)' % left,
             'parsed %r, kernel %d..%d' % (amount, lo, hi), r.show())
        if not re.search(r'\d+ bytes still resident', r.etext):
            t.diag('note: message is not "N bytes still resident" (contract); '
                   'got %r' % r.etext.strip())
        r = E.cachectl(['evict', '-J', '-b', f, M])
        t.eq(r.rc, 64, 'evict FILE MAPPED: exit 64', r.show())
        rows = jrows(t, r, 'evict FILE MAPPED -J')
        if rows is not None:
            mm = by_path(rows, E.work)
            t.ok(M in mm and kmatch(mm[M][0].get('bytes'), M)[0],
                 'evict -J: BYTES of the mapped file == kernel bytes left',
                 kmatch(mm.get(M, [{}])[0].get('bytes'), M)[1], r.show())
    finally:
        holder.stdin.close()
        holder.wait()


def t_mincore(t, E):
    """cachectl's mincore fallback, by hiding cachestat(2) with seccomp."""
    if not NOCS or not os.access(NOCS, os.X_OK):
        t.ok(False, 'nocachestat helper present: NOCACHESTAT=%r' % NOCS)
        return
    probe = run([NOCS, KCS, '-i'], timeout=10)
    if probe.rc == 77 or probe.text.strip() != 'mincore':
        raise Skip('cannot hide cachestat with seccomp here: %s' % probe.show())
    E.wrap = [NOCS]
    root, files = build_tree(E, 'mtree')

    r = E.cachectl(['status', '-v', '-b', files[0]])
    t.ok(r.rc == 0 and 'mincore' in r.etext,
         'without cachestat: -v says mincore', r.show())
    r = E.cachectl(['status', '-r', '-J', '-b', root])
    t.eq(r.rc, 0, 'mincore: status -r exits 0', r.show())
    rows = jrows(t, r, 'mincore: status -r')
    if rows is not None:
        check_rows_vs_kernel(t, rows, E.work, files, 'mincore: status -r')
    r = E.cachectl(['status', '-J', '-b', '--output-all', files[2]])
    rows = jrows(t, r, 'mincore: --output-all')
    if rows:
        bad = {k: v for k, v in rows[0].items()
               if k in ('dirty', 'writeback', 'evicted', 'recently_evicted')
               and v is not None}
        t.ok(not bad, 'mincore: dirty/writeback/evicted are null (not known), not 0',
             repr(rows[0]))
        kcheck(t, rows[0].get('cached'), files[2], 'mincore: cached == kernel')

    # honesty: mincore says "all resident" to a caller who cannot write
    K = E.path('mk')
    os.makedirs(K)
    cold = mkfile(os.path.join(K, 'rootcold.bin'), MiB, cold=True)
    hot = mkfile(os.path.join(K, 'rootwarm.bin'), MiB, cold=True)
    warm(hot, MiB)
    mine = mkfile(os.path.join(K, 'mine.bin'), MiB, cold=True, owner=NOBODY)
    warm(mine, 256 * KiB)
    lie = kcs(['-m', cold], user='nobody')
    t.diag('mincore as uid %d on a cold root-owned file says: %s'
           % (NOBODY, lie.text.strip()))
    r = E.cachectl(['status', '-J', '-b', cold, hot, mine], user='nobody')
    t.eq(r.rc, 0, 'mincore, nobody: status exits 0', r.show())
    rows = jrows(t, r, 'mincore, nobody: status')
    if rows is not None:
        m = by_path(rows, E.work)
        for p, what in ((cold, 'cold'), (hot, 'warm')):
            row = (m.get(p) or [{}])[0]
            t.ok('cached' in row and row['cached'] is None,
                 'mincore, nobody: root-owned %s file: cached null, not mincore\'s 100%%'
                 % what, 'row %r (truth %d)' % (row, kcached(p)))
        row = (m.get(mine) or [{}])[0]
        kcheck(t, row.get('cached'), mine, 'mincore, nobody: own file: cached == kernel')

    # prefetch skips resident data and evict verifies, both through mincore
    def prefetch_m():
        for f in files:
            make_cold(f)
        r = E.cachectl(['prefetch', '-r', '--wait', root])
        if r.rc != 0:
            return [r.show()]
        return ['%s: kernel %d; %s' % (f, kcached(f), kmissing(f)) for f in files
                if kcached(f) != roundup(os.stat(f).st_size)]
    settle(t, 'mincore: prefetch -r --wait: exit 0, kernel has every file cached',
           prefetch_m)
    r = E.cachectl(['evict', '-r', root])
    t.eq(r.rc, 0, 'mincore: evict -r exits 0', r.show())
    t.ok(all(kcached(f) == 0 for f in files), 'mincore: kernel has nothing left after evict')
    M = mkfile(E.path('mapped.bin'), MiB, cold=False)
    holder = subprocess.Popen(
        [sys.executable, '-c',
         'import mmap,sys\n'
         'f=open(sys.argv[1],"rb")\n'
         'm=mmap.mmap(f.fileno(),0,prot=mmap.PROT_READ)\n'
         's=sum(m[i] for i in range(0,len(m),4096))\n'
         'print("ready",flush=True)\n'
         'sys.stdin.read()\n', M],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        holder.stdout.readline()
        r = E.cachectl(['evict', M])
        t.ok(r.rc == 1 and 'still resident' in r.etext and names_path(r, M),
             'mincore: evict of mapped pages is verified and fails', r.show())
    finally:
        holder.stdin.close()
        holder.wait()


# ===========================================================================
# 8. backends (host part of the kernel backend issue): on a stock kernel
#    every verb works, says it uses the shim, and shows no fscache figures
# ===========================================================================

ALL_VERBS = ['status', 'prefetch', 'evict', 'pin', 'unpin', 'pins', 'cache',
             'monitor']
SHIM_LINE = re.compile(r'^cachectl: backend shim \(.+\)$')


def pin_env(E):
    """A scratch pin store and daemon socket dir: no daemon, nothing of
    the user's touched."""
    st, rt = E.path('pinstate'), E.path('pinrun')
    os.makedirs(st, exist_ok=True)
    os.makedirs(rt, exist_ok=True)
    return {'CACHECTL_STATE_DIR': st, 'CACHECTL_RUNTIME_DIR': rt}


def verb_args(verb, f):
    return {'status': ['status', f], 'prefetch': ['prefetch', f],
            'evict': ['evict', f], 'pin': ['pin', '--no-progress', f],
            'unpin': ['unpin', f], 'pins': ['pins'], 'cache': ['cache'],
            'monitor': ['monitor']}[verb]


def have_fcachectl():
    """The host kernel has fcachectl(2) (the patched kernel): then the
    shim checks do not apply."""
    r = run([CACHECTL, 'status', '--backend'], timeout=10,
              env=dict(os.environ, LC_ALL='C'))
    return r.out.strip() == b'kernel'


def t_backend(t, E):
    if have_fcachectl():
        raise Skip('this kernel has fcachectl(2): the guest tests '
                   '(tests/kernel) cover the kernel backend')
    f = mkfile(E.path('b', 'data.bin'), 64 * KiB, cold=False)
    env = pin_env(E)

    r = E.cachectl(['status', '--backend'])
    t.ok(r.rc == 0 and r.out == b'shim\n' and r.err == b'',
         'status --backend: exactly "shim\\n" on stdout, exit 0, nothing else',
         r.show())
    r = E.cachectl(['status', '--backend'], extra_env={'CACHECTL_BACKEND': 'shim'})
    t.ok(r.rc == 0 and r.out == b'shim\n',
         'CACHECTL_BACKEND=shim status --backend: "shim"', r.show())
    r = E.cachectl(['status', '-v', '--backend'],
                   extra_env={'CACHECTL_BACKEND': 'shim'})
    t.ok(r.out == b'shim\n' and 'forced by CACHECTL_BACKEND' in r.etext,
         'forced shim: -v says it was forced', r.show())
    for args, desc in ((['status', '--backend', f], 'status --backend PATH'),
                       (['prefetch', '--backend', f], 'prefetch --backend')):
        r = E.cachectl(args)
        t.ok(r.rc == 1 and TRY_HELP in r.etext and r.out == b'',
             desc + ': usage error, exit 1', r.show())

    # -v on every verb names the shim, in one line on stderr
    for verb in ALL_VERBS:
        r = E.cachectl([verb, '-v'] + verb_args(verb, f)[1:], extra_env=env)
        lines = err_lines(r)
        first = lines[0] if lines else ''
        t.ok(SHIM_LINE.match(first) and
             'no fcachectl syscall in this kernel' in first,
             '%s -v: first stderr line "cachectl: backend shim (no fcachectl '
             'syscall in this kernel; ...)"' % verb, r.show())
        want = 1 if verb == 'monitor' else 0
        t.eq(r.rc, want, '%s -v: exit %d as without -v' % (verb, want), r.show())
        r = E.cachectl([verb, '--verbose'] + verb_args(verb, f)[1:], extra_env=env)
        t.ok(any(SHIM_LINE.match(ln) for ln in err_lines(r)),
             '%s --verbose: names the shim' % verb, r.show())
        r = E.cachectl([verb, '--help'])
        t.ok(r.rc == 0 and '--verbose' in r.text and 'backend' in r.text,
             '%s --help: -v, --verbose says it names the backend' % verb, r.show())
    r = E.cachectl(['status', f], extra_env=env)
    t.eq(r.err, b'', 'status without -v: nothing on stderr', r.show())

    # a backend that cannot be had: every verb stops with exit 1 and why
    for verb in ALL_VERBS + ['status --backend']:
        args = ['status', '--backend'] if verb == 'status --backend' \
            else verb_args(verb, f)
        r = E.cachectl(args, extra_env=dict(env, CACHECTL_BACKEND='kernel'))
        t.ok(r.rc == 1 and r.out == b'' and 'CACHECTL_BACKEND=kernel' in r.etext
             and 'fcachectl' in r.etext,
             'CACHECTL_BACKEND=kernel %s: exit 1, nothing on stdout, says the '
             'kernel has no fcachectl' % verb, r.show())
        r = E.cachectl(args, extra_env=dict(env, CACHECTL_BACKEND='bogus'))
        t.ok(r.rc == 1 and r.out == b'' and 'CACHECTL_BACKEND=bogus' in r.etext
             and 'unknown backend' in r.etext,
             'CACHECTL_BACKEND=bogus %s: exit 1, "unknown backend"' % verb,
             r.show())
    r = E.cachectl(['pins', '-J'], extra_env=env)
    try:
        nrows = len(json.loads(r.out)['pins'])
    except (ValueError, KeyError):
        nrows = -1
    t.eq(nrows, 0, 'the refused pin (CACHECTL_BACKEND=kernel) recorded nothing',
         r.show())

    # fscache columns: "-" in tables, null in JSON under the shim
    r = E.cachectl(['status', '-b', f])
    t.ok(r.rc == 0 and r.text.splitlines()[:1] and
         r.text.splitlines()[0].split() == ['CACHED', 'SIZE', 'PCT', 'FILE'],
         'shim: default status columns unchanged', r.show())
    r = E.cachectl(['status', '-b', '-c', '-o', '+FSCACHE,PINNED,CACHE', f])
    lines = r.text.splitlines()
    t.ok(r.rc == 0 and len(lines) == 3 and
         lines[0].split() == ['CACHED', 'SIZE', 'PCT', 'FILE', 'FSCACHE',
                              'PINNED', 'CACHE'],
         '-o +FSCACHE,PINNED,CACHE: three columns appended', r.show())
    if len(lines) == 3:
        t.eq(lines[1].split()[-3:], ['-', '-', '-'],
             'shim: FSCACHE PINNED CACHE are "-" in the table')
        t.eq(lines[2].split()[-4:], ['total', '-', '-', '-'],
             'shim: the total row has "-" for them too')
    r = E.cachectl(['status', '-J', '-b', '-o', '+FSCACHE,PINNED,CACHE', f])
    rows = jrows(t, r, 'status -J -o +FSCACHE,PINNED,CACHE')
    if rows:
        t.ok(all(k in rows[0] and rows[0][k] is None
                 for k in ('fscache', 'pinned', 'cache')),
             'shim: "fscache", "pinned", "cache" are null in JSON', repr(rows[0]))
    r = E.cachectl(['status', '-J', '-b', '--output-all', f])
    rows = jrows(t, r, 'status -J --output-all')
    if rows:
        t.ok({'fscache', 'pinned', 'cache'} <= set(rows[0]) and
             rows[0]['fscache'] is None,
             '--output-all has the fscache columns (null)', repr(rows[0]))
    r = E.cachectl(['status', '--raw', '-n', '-b', '-o', 'fscache,pinned,cache,file', f])
    t.eq(r.text, '- - - %s\n' % f, '-o lower-case fscache,pinned,cache: --raw "- - -"')
    r = E.cachectl(['prefetch', '-J', '-b', '-o', '+FSCACHE', f])
    rows = jrows(t, r, 'prefetch -J -o +FSCACHE')
    if rows:
        t.ok(rows[0].get('fscache', 0) is None and 'bytes' in rows[0],
             'prefetch -o +FSCACHE: null under the shim', repr(rows[0]))
    r = E.cachectl(['status', '--help'])
    t.ok('FSCACHE' in r.text and 'PINNED' in r.text and '--backend' in r.text,
         'status --help names --backend and the FSCACHE, PINNED columns', r.show())

    # pins: the shim cannot see kernel pins
    r = E.cachectl(['pin', '--no-progress', f], extra_env=env)
    t.ok(r.rc == 0 and r.out == b'' and 'nothing keeps' in r.etext and
         'fscache' not in r.etext,
         'shim: pin without a daemon says nothing keeps it, no word of fscache',
         r.show())
    r = E.cachectl(['pins', '-b'], extra_env=env)
    lines = r.text.splitlines()
    head = lines[0].split() if lines else []
    t.ok(r.rc == 0 and 'FSCACHE' in head and 'KPINNED' in head,
         'pins: FSCACHE and KPINNED columns', r.show())
    if len(lines) == 2 and 'FSCACHE' in head and len(lines[1].split()) == len(head):
        row = dict(zip(head, lines[1].split()))
        t.ok(row['FSCACHE'] == '-' and row['KPINNED'] == '-',
             'shim: pins FSCACHE and KPINNED are "-"', r.show())
    r = E.cachectl(['pins', '-J', '-b'], extra_env=env)
    try:
        prow = json.loads(r.out)['pins'][0]
    except (ValueError, KeyError, IndexError):
        prow = {}
    t.ok(all(k in prow and prow[k] is None for k in ('fscache', 'kpinned', 'kfiles'))
         and prow.get('path') == f,
         'shim: pins -J "fscache", "kpinned", "kfiles" are null', r.show())
    r = E.cachectl(['unpin', f], extra_env=env)
    t.ok(r.rc == 0 and r.out == b'', 'shim: unpin exits 0, nothing about fscache',
         r.show())


def cache_env(E, proc=None, conf=None):
    env = {}
    env['CACHECTL_PROC_FSCACHE'] = proc or E.path('no-such-proc-fscache')
    env['CACHECTL_CACHEFILESD_CONF'] = conf or E.path('no-such-cachefilesd.conf')
    return env


def t_cache_verb(t, E):
    if have_fcachectl():
        raise Skip('this kernel has fcachectl(2): the guest tests '
                   '(tests/kernel) cover cachectl cache')
    # the host itself: a note, exit 0
    r = E.cachectl(['cache'])
    if not os.path.exists('/proc/fs/fscache'):
        t.ok(r.rc == 0 and r.out == b'' and len(err_lines(r)) == 1 and
             'no fscache' in r.etext,
             'host without fscache: cache exits 0 with a one-line note', r.show())
    else:
        t.eq(r.rc, 0, 'host: cache exits 0', r.show())
    env = cache_env(E)
    r = E.cachectl(['cache'], extra_env=env)
    t.ok(r.rc == 0 and r.out == b'' and len(err_lines(r)) == 1 and
         'no fscache' in r.etext and env['CACHECTL_PROC_FSCACHE'] in r.etext,
         'no /proc/fs/fscache: one line saying the kernel has no fscache, exit 0',
         r.show())
    r = E.cachectl(['cache', '-J'], extra_env=env)
    try:
        doc = json.loads(r.out)
    except ValueError:
        doc = None
    t.ok(r.rc == 0 and doc == {'caches': []},
         'no fscache: cache -J prints {"caches": []}, exit 0', r.show())
    empty = E.path('proc-empty')
    os.makedirs(empty)
    r = E.cachectl(['cache'], extra_env=cache_env(E, proc=empty))
    t.ok(r.rc == 0 and 'no fscache caches are bound' in r.etext,
         'fscache without caches: note "no fscache caches are bound", exit 0',
         r.show())
    for opt in ('--no-cull', '--cull'):
        r = E.cachectl(['cache', opt])
        t.ok(r.rc == 1 and r.out == b'' and 'kernel backend' in r.etext and
             'fcachectl' in r.etext,
             'shim: cache %s exits 1 saying it needs the kernel backend '
             '(fcachectl)' % opt, r.show())
    r = E.cachectl(['cache', '--cull', '--no-cull'])
    t.ok(r.rc == 1 and TRY_HELP in r.etext, 'cache --cull --no-cull: usage error',
         r.show())
    r = E.cachectl(['cache', '--frobnicate'])
    t.ok(r.rc == 1 and TRY_HELP in r.etext, 'cache: unknown option', r.show())

    # a fake kernel list and cachefilesd.conf (test hooks)
    proc = E.path('proc-fscache')
    os.makedirs(proc)
    with open(os.path.join(proc, 'caches'), 'w') as fh:
        fh.write('CACHE    REF   VOLS  OBJS  ACCES S NAME\n'
                 '======== ===== ===== ===== ===== = ===============\n'
                 '00000001     3     1    42     0 A mycache\n'
                 '0000001f     1     0     0     0 W -\n')
    cdir = E.path('fscache-dir')
    os.makedirs(cdir)
    conf = E.path('cachefilesd.conf')
    with open(conf, 'w') as fh:
        fh.write('# a comment\n\ndir %s\ntag mycache\nbrun 20%%\n  bcull 15%%\n'
                 'bstop 5\nsecctx system_u:system_r:cachefiles_kernel_t:s0\n'
                 'fcull 8%%   \n' % cdir)
    env = cache_env(E, proc=proc, conf=conf)
    r = E.cachectl(['cache', '-J', '-b'], extra_env=env)
    sv = os.statvfs(cdir)
    try:
        rows = json.loads(r.out)['caches']
    except (ValueError, KeyError):
        rows = []
    t.ok(r.rc == 0 and len(rows) == 2, 'fake caches: cache -J lists both caches',
         r.show())
    if len(rows) == 2:
        a, b = rows
        keys = ['cache', 'name', 'state', 'vols', 'objs', 'dir', 'size', 'used',
                'avail', 'brun', 'bcull', 'bstop', 'frun', 'fcull', 'fstop',
                'cull', 'full']
        t.eq(list(a), keys, 'cache -J: the keys of the contract, in order')
        t.eq([a['cache'], a['name'], a['state'], a['vols'], a['objs'], a['dir']],
             ['00000001', 'mycache', 'active', 1, 42, cdir],
             'cache -J: id, name, state, volumes, objects from /proc; dir from '
             'the conf')
        t.eq(a['size'], sv.f_blocks * sv.f_frsize, 'cache -J: size == statfs of dir')
        t.ok(type(a['avail']) is int and type(a['used']) is int and
             a['used'] + a['avail'] <= a['size'],
             'cache -J: used and avail are byte counts within size', repr(a))
        t.eq([a[k] for k in ('brun', 'bcull', 'bstop', 'frun', 'fcull', 'fstop')],
             [20, 15, 5, 10, 8, 3],
             'cache -J: thresholds from the conf, cachefilesd defaults for the rest')
        t.ok(a['cull'] == 'unknown' and a['full'] is None,
             'shim: cull "unknown", full null', repr(a))
        t.eq([b['cache'], b['name'], b['state'], b['dir'], b['size'], b['brun']],
             ['0000001f', '-', 'withdrawn', None, None, None],
             'cache -J: a cache the conf does not name has no dir or thresholds')
    r = E.cachectl(['cache'], extra_env=env)
    lines = r.text.splitlines()
    t.ok(r.rc == 0 and len(lines) == 3 and lines[0].split() ==
         ['CACHE', 'NAME', 'STATE', 'VOLS', 'OBJS', 'DIR', 'SIZE', 'USED',
          'AVAIL', 'BRUN', 'BCULL', 'BSTOP', 'FRUN', 'FCULL', 'FSTOP', 'CULL',
          'FULL'], 'cache: a table with the heading of the contract', r.show())
    if len(lines) == 3:
        f1, f2 = lines[1].split(), lines[2].split()
        t.ok(f1[:6] == ['00000001', 'mycache', 'active', '1', '42', cdir] and
             f1[9:] == ['20%', '15%', '5%', '10%', '8%', '3%', 'unknown', '-'],
             'cache: row from /proc and the conf, thresholds in %, CULL unknown',
             r.show())
        t.ok(str(sv.f_blocks * sv.f_frsize) not in lines[1],
             'cache: sizes in human units without -b', r.show())
        t.eq(f2[5:], ['-'] * 10 + ['unknown', '-'],
             'cache: "-" where nothing is known')
    r = E.cachectl(['cache', '-b', '-n'], extra_env=env)
    t.ok(r.rc == 0 and len(r.text.splitlines()) == 2 and
         str(sv.f_blocks * sv.f_frsize) in r.text,
         'cache -b -n: no heading, SIZE in bytes', r.show())
    r = E.cachectl(['cache', '-v'], extra_env=env)
    t.ok(r.rc == 0 and SHIM_LINE.match((err_lines(r) or [''])[0]),
         'cache -v: names the shim', r.show())

    # --config beats the environment; a config without tag means CacheFiles
    conf2 = E.path('other.conf')
    with open(conf2, 'w') as fh:
        fh.write('dir %s\n' % cdir)
    r = E.cachectl(['cache', '-J', '--config', conf2], extra_env=env)
    try:
        a = json.loads(r.out)['caches'][0]
    except (ValueError, KeyError, IndexError):
        a = {}
    t.ok(r.rc == 0 and a.get('dir') is None,
         '--config without tag: the conf is for "CacheFiles", not "mycache"', r.show())
    r = E.cachectl(['cache', '-J'], extra_env=cache_env(E, proc=proc))
    try:
        a = json.loads(r.out)['caches'][0]
    except (ValueError, KeyError, IndexError):
        a = {}
    t.ok(r.rc == 0 and a.get('name') == 'mycache' and a.get('dir') is None,
         'no cachefilesd.conf: caches still listed, without dir', r.show())

    # bad input
    nope = E.path('nope.conf')
    r = E.cachectl(['cache', '--config', nope], extra_env=env)
    t.ok(r.rc == 1 and names_path(r, nope) and 'No such file' in r.etext,
         'cache --config MISSING: exit 1, names the file and the cause', r.show())
    bad = E.path('bad.conf')
    with open(bad, 'w') as fh:
        fh.write('dir /x\nbcull lots\n')
    r = E.cachectl(['cache', '--config', bad], extra_env=env)
    t.ok(r.rc == 1 and names_path(r, bad) and 'line 2' in r.etext and
         'bcull' in r.etext,
         'cache --config with "bcull lots": exit 1, names file, line, key', r.show())
    r = E.cachectl(['cache', '--config'], extra_env=env)
    t.ok(r.rc == 1 and TRY_HELP in r.etext, 'cache --config without FILE: usage error',
         r.show())
    nodir = E.path('nodir')
    r = E.cachectl(['cache', nodir], extra_env=env)
    t.ok(r.rc == 1 and names_path(r, nodir),
         'cache MISSING-PATH: exit 1, names the path', r.show())
    r = E.cachectl(['cache', cdir, nodir], extra_env=env)
    t.ok(r.rc == 64 and names_path(r, nodir) and 'mycache' in r.text,
         'cache PATH MISSING-PATH: exit 64, table still printed', r.show())


# ===========================================================================
# 9. the kernel backend's CLI paths on this host, with fcachectl(2) faked
#    by fakefcachectl.so (LD_PRELOAD; fscache state in user xattrs). The
#    real syscall is tested in the QEMU guest (tests/kernel).
# ===========================================================================

FAKE = os.environ.get('FAKEFCACHECTL', '')


def t_kernel_fake(t, E):
    if have_fcachectl():
        raise Skip('this kernel has fcachectl(2): nothing to fake')
    if not FAKE or not os.path.exists(FAKE):
        raise Skip('no fakefcachectl.so (FAKEFCACHECTL)')
    K = E.path('k')
    f1 = mkfile(os.path.join(K, 'f1'), 64 * KiB, cold=False)
    f2 = mkfile(os.path.join(K, 'f2'), 10 * KiB, cold=False)
    f3 = mkfile(os.path.join(K, 'sub', 'f3'), 8 * KiB, cold=False)
    loc = mkfile(os.path.join(K, 'local'), 4 * KiB, cold=False)
    deny = mkfile(os.path.join(K, 'deny'), 4 * KiB, cold=False)
    try:
        os.setxattr(f1, 'user.fakefsc', b'65536')
    except OSError as e:
        raise Skip('no user xattrs on %s: %s' % (E.work, e))
    os.setxattr(f2, 'user.fakefsc', b'none')
    os.setxattr(f3, 'user.fakefsc', b'8192')
    os.setxattr(deny, 'user.fakefsc', b'4096')
    os.setxattr(deny, 'user.fakefsc.deny', b'1')
    state = E.path('fcstate')
    open(state, 'w').close()
    env = dict(pin_env(E), LD_PRELOAD=FAKE, FAKE_FCACHECTL_STATE=state,
               ASAN_OPTIONS=':'.join(x for x in (os.environ.get('ASAN_OPTIONS'),
                                                 'verify_asan_link_order=0') if x))

    def run(args, **kw):
        return E.cachectl(args, extra_env=dict(env, **kw))

    def kpinned(p):
        try:
            return os.getxattr(p, 'user.fakefsc.pin') == b'1'
        except OSError:
            return False

    r = run(['status', '--backend'])
    t.ok(r.rc == 0 and r.out == b'kernel\n', 'fake fcachectl: status --backend '
         'prints "kernel"', r.show())
    r = run(['status', '-v', '-b', f1])
    t.ok((err_lines(r) or [''])[0] == 'cachectl: backend kernel (fcachectl)',
         'kernel: -v says "cachectl: backend kernel (fcachectl)"', r.show())
    lines = r.text.splitlines()
    t.ok(r.rc == 0 and len(lines) == 2 and lines[0].split() ==
         ['CACHED', 'SIZE', 'PCT', 'FSCACHE', 'PINNED', 'FILE'],
         'kernel: FSCACHE and PINNED join the default columns', r.show())
    if len(lines) == 2:
        t.eq(lines[1].split()[3:], ['65536', 'no', f1],
             'kernel: FSCACHE in bytes (-b), PINNED no')
    r = run(['prefetch', '-J', '-b', f1])
    rows = jrows(t, r, 'kernel: prefetch -J')
    if rows:
        t.ok({'bytes', 'fscache', 'pinned'} <= set(rows[0]) and 'cache' not in rows[0],
             'kernel: prefetch -J default columns add FSCACHE and PINNED', repr(rows[0]))
    r = run(['status', '-r', '-J', '-b', '-c', '-o', 'FILE,FSCACHE,PINNED,CACHE', K])
    rows = jrows(t, r, 'kernel: status -r -J -o FILE,FSCACHE,PINNED,CACHE')
    if rows:
        m = {os.path.basename(x['file']): x for x in rows}
        t.eq(m.get('f1'), {'file': f1, 'fscache': 65536, 'pinned': False,
                           'cache': 'object'}, 'kernel JSON: f1 held by the cache')
        t.eq(m.get('f2'), {'file': f2, 'fscache': 0, 'pinned': False, 'cache': ''},
             'kernel JSON: f2 on fscache, no object: fscache 0, cache ""')
        t.eq(m.get('local'), {'file': loc, 'fscache': 0, 'pinned': False, 'cache': ''},
             'kernel JSON: a file without fscache: fscache 0')
        t.eq(m.get('total'), {'file': 'total', 'fscache': 65536 + 8192 + 4096,
                              'pinned': None, 'cache': None},
             'kernel JSON: the total row sums FSCACHE; PINNED, CACHE null')
    r = run(['status', '-b', '-o', 'FSCACHE,PINNED,CACHE,FILE', '--raw', '-n', f1],
            CACHECTL_BACKEND='shim')
    t.eq(r.text, '- - - %s\n' % f1, 'forced shim over the fake: "-" again')

    # pin: kernel pins, failures named, files without fscache counted
    r = run(['pin', '--no-prefetch', '-r', K])
    t.eq(r.rc, 64, 'kernel: pin -r with files that cannot be pinned: exit 64',
         r.show())
    t.eq(r.text, 'pinned 2 files in fscache (kernel)\n',
         'kernel: pin prints "pinned 2 files in fscache (kernel)"')
    t.ok(names_path(r, f2) and 'no cache holds it' in r.etext,
         'kernel: pin names a file no cache holds (ENOBUFS)', r.show())
    t.ok(names_path(r, deny) and 'needs ownership or CAP_FOWNER' in r.etext,
         'kernel: pin names a file it may not pin (EPERM)', r.show())
    t.ok('1 files are not on an fscache-backed filesystem; kept by cachectld only'
         in r.etext, 'kernel: pin counts the file without fscache, once', r.show())
    t.ok('the kernel keeps the 2 fscache-pinned file(s)' in r.etext and
         'no cachectld is running' in r.etext,
         'kernel: without a daemon, the note says the kernel keeps what it pinned',
         r.show())
    t.eq([kpinned(p) for p in (f1, f2, f3, loc, deny)],
         [True, False, True, False, False], 'fake kernel: f1 and f3 pinned')
    r = run(['status', '-J', '-b', '-o', 'FILE,PINNED,CACHE', f1])
    rows = jrows(t, r, 'kernel: status after pin')
    if rows:
        t.eq((rows[0].get('pinned'), rows[0].get('cache')), (True, 'object,pinned'),
             'kernel: status shows the kernel pin')

    r = run(['pins', '-J', '-b'])
    try:
        prow = json.loads(r.out)['pins'][0]
    except (ValueError, KeyError, IndexError):
        prow = {}
    t.ok(prow.get('fscache') == 65536 + 8192 + 4096 and prow.get('kpinned') == 2
         and prow.get('kfiles') == 5,
         'kernel: pins -J fscache, kpinned 2, kfiles 5 (measured now)', r.show())
    r = run(['pins', '-b'])
    lines = r.text.splitlines()
    head = lines[0].split() if lines else []
    # (empty BUDGET, LOCKED, SHORTFALL cells: read from the right)
    t.ok(head[-3:] == ['FSCACHE', 'KPINNED', 'STATUS'] and len(lines) == 2 and
         lines[1].split()[-3:] == [str(65536 + 8192 + 4096), '2/5', 'no-daemon'],
         'kernel: pins table FSCACHE in bytes, KPINNED "2/5"', r.show())

    # unpin leaves files another pin covers
    r = run(['pin', '--no-prefetch', os.path.join(K, 'sub')])
    t.ok(r.rc == 0 and r.text == 'pinned 1 files in fscache (kernel)\n',
         'kernel: pin of a second, overlapping pin', r.show())
    r = run(['unpin', K])
    t.ok(r.rc == 64 and names_path(r, deny) and 'CAP_FOWNER' in r.etext and
         not names_path(r, f2),
         'kernel: unpin names the EPERM file, not the one no cache holds', r.show())
    t.eq(r.text, 'unpinned 1 files in fscache (kernel)\n',
         'kernel: unpin prints "unpinned 1 files in fscache (kernel)"')
    t.eq([kpinned(p) for p in (f1, f3)], [False, True],
         'fake kernel: f1 unpinned, f3 kept (k/sub still pins it)')
    r = run(['unpin', '-r', os.path.join(K, 'sub')])
    t.ok(r.rc == 0 and not kpinned(f3), 'kernel: unpin -r of the last pin unpins f3',
         r.show())

    # cache: cull state from the file's QUERY, --no-cull and --cull
    proc = E.path('kproc')
    os.makedirs(proc)
    with open(os.path.join(proc, 'caches'), 'w') as fh:
        fh.write('CACHE    REF   VOLS  OBJS  ACCES S NAME\n'
                 '======== ===== ===== ===== ===== = ===============\n'
                 '00000001     3     1     2     0 A mycache\n')
    cenv = dict(cache_env(E, proc=proc), FAKE_FCACHECTL_STATE=state)

    def cache_rows(args, **kw):
        r = run(['cache', '-J'] + args, **dict(cenv, **kw))
        try:
            return r, json.loads(r.out)['caches']
        except (ValueError, KeyError):
            return r, []

    r, rows = cache_rows([K])
    t.ok(r.rc == 0 and len(rows) == 1 and rows[0]['cull'] == 'on' and
         rows[0]['full'] is False,
         'kernel: cache PATH: culling on, not full (from a file the cache holds)',
         r.show())
    with open(state, 'w') as fh:
        fh.write('nocull full\n')
    r, rows = cache_rows([f1])
    t.ok(len(rows) == 1 and rows[0]['cull'] == 'off' and rows[0]['full'] is True,
         'kernel: cache FILE: culling off, full', r.show())
    r, rows = cache_rows([])
    t.ok(len(rows) == 1 and rows[0]['cull'] == 'unknown',
         'kernel: cache without PATH and no fscache mount: cull unknown', r.show())
    open(state, 'w').close()
    r = run(['cache', '--no-cull', K], **cenv)
    t.ok(r.rc == 0 and r.text == 'cache mycache (00000001): culling off\n' and
         'nocull' in open(state).read(),
         'kernel: cache --no-cull PATH: exit 0, one line, culling off', r.show())
    r = run(['cache', '--cull', K], **cenv)
    t.ok(r.rc == 0 and r.text == 'cache mycache (00000001): culling on\n' and
         'nocull' not in open(state).read(),
         'kernel: cache --cull PATH: culling on again', r.show())
    r = run(['cache', '--no-cull', K], FAKE_FCACHECTL_NOPRIV='1', **cenv)
    t.ok(r.rc == 1 and 'needs CAP_SYS_RESOURCE' in r.etext and r.out == b'',
         'kernel: cache --no-cull without the privilege: exit 1, "needs '
         'CAP_SYS_RESOURCE"', r.show())
    r = run(['cache', '--no-cull', loc], **cenv)
    t.ok(r.rc == 1 and 'no file found' in r.etext,
         'kernel: cache --no-cull on files no cache holds: exit 1, says so', r.show())
    os.setxattr(f3, 'user.fakefsc.cache', b'42')
    r, rows = cache_rows([f3])
    got = sorted((x['cache'], x['cull']) for x in rows)
    t.ok(got == [('00000001', 'unknown'), ('0000002a', 'on')],
         'kernel: a cache the /proc list lacks, met in a file, gets a row', r.show())

    # without PATH: the mounts that use fscache (a fake mount table)
    mp = E.path('m p')
    g = mkfile(os.path.join(mp, 'g'), 4 * KiB, cold=False)
    os.setxattr(g, 'user.fakefsc', b'4096')
    os.setxattr(g, 'user.fakefsc.cache', b'7')
    os.removexattr(f3, 'user.fakefsc.cache')
    mi = E.path('mountinfo')
    with open(mi, 'w') as fh:
        fh.write('22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n'
                 '36 22 0:32 / %s rw,relatime - 9p share rw,trans=virtio,cache=fscache\n'
                 '37 22 0:33 / %s rw,relatime shared:5 - nfs4 srv:/x rw,vers=4.2,fsc\n'
                 '38 22 0:34 / %s rw - nfs4 srv:/y rw,vers=4.2\n'
                 % (mp.replace(' ', '\\040'), K, E.path('nope')))
    r, rows = cache_rows([], CACHECTL_MOUNTINFO=mi)
    got = sorted((x['cache'], x['cull']) for x in rows)
    t.ok(got == [('00000001', 'on'), ('00000007', 'on')],
         'kernel: cache without PATH walks the 9p cache=fscache and nfs4 fsc '
         'mounts of mountinfo (escaped names, with and without optional fields)',
         r.show())


def run_pty_stderr(E, args, timeout=20):
    """Run cachectl with stderr on a pseudo-terminal, stdout on a pipe."""
    import pty
    mfd, sfd = pty.openpty()
    chunks = []

    def reader():
        while True:
            try:
                b = os.read(mfd, 65536)
            except OSError:
                return
            if not b:
                return
            chunks.append(b)
    th = threading.Thread(target=reader, daemon=True)
    th.start()
    env = dict(os.environ, LC_ALL='C')
    t0 = time.monotonic()
    p = subprocess.Popen([CACHECTL] + args, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=sfd, env=env,
                         start_new_session=True)
    os.close(sfd)
    timed_out = False
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(p.pid, signal.SIGKILL)
        out, _ = p.communicate()
    th.join(2)
    os.close(mfd)
    r = Res(['cachectl'] + args + ['2>pty'], p.returncode, out, b''.join(chunks),
            time.monotonic() - t0, timed_out)
    return r


def t_progress(t, E):
    root = E.path('ptree')
    mass_tree(root, ndirs=4, nfiles=50)
    r = run_pty_stderr(E, ['status', '-r', '-J', '-b', root])
    t.eq(r.rc, 0, 'status -r with stderr on a TTY: exit 0', r.show())
    t.ok(r.err.strip() != b'', 'stderr a TTY: a progress line is shown by default',
         r.show())
    rows = jrows(t, r, 'status -r, stderr a TTY')
    if rows is not None:
        t.eq(len(rows), 200, 'stderr a TTY: stdout JSON holds only the 200 rows')
    r = run_pty_stderr(E, ['status', '-r', '--no-progress', '-J', '-b', root])
    t.eq(r.err, b'', '--no-progress with stderr a TTY: nothing on stderr', r.show())
    r = E.cachectl(['status', '-r', '-J', '-b', root])
    t.eq(r.err, b'', 'stderr a pipe: no progress by default', r.show())
    r = E.cachectl(['prefetch', '-r', '--progress', '-c', '-J', '-b', root])
    t.eq(r.rc, 0, 'prefetch -r --progress, stderr a pipe: exit 0', r.show())
    t.ok(r.err.strip() != b'', '--progress, stderr a pipe: progress on stderr', r.show())
    rows = jrows(t, r, 'prefetch -r --progress -c -J')
    if rows is not None:
        t.eq(len(rows), 201, '--progress: stdout JSON holds only rows and total')


GROUPS = {
    'acceptance': t_acceptance,
    'prefetch-modes': t_prefetch_modes,
    'tree': t_tree,
    'opt-filter': t_opt_filter,
    'opt-xdev': t_opt_xdev,
    'opt-links': t_opt_links,
    'opt-from': t_opt_from,
    'opt-output': t_opt_output,
    'bad-missing': t_bad_missing,
    'bad-special': t_bad_special,
    'bad-symlink': t_bad_symlink,
    'bad-unreadable': t_bad_unreadable,
    'bad-vanish': t_bad_vanish,
    'bad-resize': t_bad_resize,
    'bad-names': t_bad_names,
    'bad-sparse': t_bad_sparse,
    'unknown': t_unknown,
    'usage': t_usage,
    'exitcodes': t_exitcodes,
    'progress': t_progress,
    'mincore': t_mincore,
    'backend': t_backend,
    'cache-verb': t_cache_verb,
    'kernel-fake': t_kernel_fake,
}


def cleanup(work):
    # undo chmod 000 dirs and stray mounts before removing
    with open('/proc/self/mounts') as f:
        for ln in f:
            mp = ln.split()[1].replace('\\040', ' ')
            if mp.startswith(work + '/'):
                run(['umount', '-l', mp], timeout=30)
    for dp, dns, _ in os.walk(work):
        for d in dns:
            try:
                os.chmod(os.path.join(dp, d), 0o755)
            except OSError:
                pass
    shutil.rmtree(work, ignore_errors=True)


def main():
    group = group_arg(sys.argv, GROUPS)
    if group is None:
        return 1
    t = Tap()
    if not CACHECTL or not os.access(CACHECTL, os.X_OK):
        t.ok(False, 'cachectl binary present: CACHECTL=%r' % CACHECTL)
        return t.done()
    if not KCS or not os.access(KCS, os.X_OK):
        t.ok(False, 'kcachestat helper present: KCACHESTAT=%r' % KCS)
        return t.done()
    if os.geteuid() != 0 and group in ('bad-unreadable', 'unknown', 'opt-xdev',
                                       'bad-special', 'mincore'):
        return skip_all('needs root (setpriv, mknod, mount)')
    if group in ('bad-unreadable', 'unknown', 'mincore') and not shutil.which('setpriv'):
        return skip_all('needs setpriv (util-linux) to run as uid %d' % NOBODY)
    work = None
    try:
        work = scratch_dir('cachectl-tools-', default_bases() + ['/tmp'])
        probe = os.path.join(work, 'probe')
        with open(probe, 'wb') as f:
            f.write(b'x')
        global ENGINE
        ENGINE = kcs(['-i']).text.strip()
        r = kcs([probe])
        if r.rc != 0:
            raise RuntimeError('kcachestat does not work: ' + r.show())
        os.unlink(probe)
        print('# %s: scratch dir %s (%s), cachectl %s, kernel truth from %s'
              % (group, work, fstype(work), CACHECTL, ENGINE))
        GROUPS[group](t, Env(work))
    except Skip as e:
        return skip_all(e)
    except Exception:  # noqa: BLE001
        t.ok(False, 'group %s ran to the end' % group, traceback.format_exc())
    finally:
        if work:
            cleanup(work)
    return t.done()


if __name__ == '__main__':
    sys.exit(main())
