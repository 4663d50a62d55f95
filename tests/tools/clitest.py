# SPDX-License-Identifier: LGPL-2.1-or-later
"""What the cachectl CLI tests share: running cachectl (as root or as
nobody, under strace), the kernel's view of the files they make, parsing
cachectl's output, and the group runner. The tests are in *_tests.py
beside it, one file per area, one meson test per group:

  walk_tests.py     status/prefetch/evict over trees, progress
  option_tests.py   filters, -x, hard links, --from, -o/-J output
  bad_tests.py      missing, special, unreadable, vanishing, odd files
  usage_tests.py    usage, unknown options, exit codes
  backend_tests.py  the mincore fallback, backend choice, cache verb,
                    the kernel backend's paths with fcachectl(2) faked

usage: NAME_tests.py GROUP      (GROUP: see GROUPS at its bottom)

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
seccomp for the mincore group.
"""

import json
import os
import re
import shutil
import sys
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'pylib'))
from cachectl_test import (cachestat, copy_for_nobody, default_bases, fstype, group_arg,  # noqa: E402
                           KCS, kcs, KiB, kstat, MiB, NOBODY, roundup, run,
                           scratch_dir, SETPRIV, Skip, skip_all, Tap)

TiB = 1 << 40
TRY_HELP = "Try 'cachectl --help'"
CACHECTL = os.environ.get('CACHECTL', '')
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
        dst, libdir = copy_for_nobody(CACHECTL, self.path('bin'))
        self.nobody_exe = dst
        self.nobody_env = {'LD_LIBRARY_PATH': libdir}
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


def make_cold(path):
    r = kcs(['-e', path])
    if r.rc != 0:
        raise RuntimeError('kcachestat -e %r failed: %s' % (path, r.show()))
    c = int(r.text.split()[0])
    if c != 0:
        raise RuntimeError('could not make %r cold: %d bytes stay' % (path, c))


def make_cold_many(paths):
    """make_cold() for a tree's worth of files, without a process each:
    DONTNEED from here, checked with cachestat(2) from here."""
    os.sync()           # DONTNEED skips dirty pages
    for _ in range(10):
        for p in paths:
            fd = os.open(p, os.O_RDONLY)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            os.close(fd)
        if not any(c for c, _ in cachestat(paths)):
            return
        time.sleep(0.05)
    raise RuntimeError('could not make %d files cold' % len(paths))


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

class Rows(list):
    """The file rows of -J output; .total the "total" member (-c) or None."""
    total = None


def jrows(t, r, desc):
    """Parse -J output; returns the list of row dicts or None (and fails)."""
    try:
        doc = json.loads(r.out)
        rows = doc['cachectl']
        if not isinstance(rows, list):
            raise ValueError('"cachectl" is not a list')
        rows = Rows(rows)
        rows.total = doc.get('total')
        if rows.total is not None and not isinstance(rows.total, dict):
            raise ValueError('"total" is not an object')
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
        if not isinstance(f, str):
            continue
        m.setdefault(norm(f, cwd), []).append(row)
    return m


def file_rows(rows):
    return list(rows)


def total_row(rows):
    return getattr(rows, 'total', None)


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


def mass_tree(root, ndirs=20, nfiles=100, size=4 * KiB):
    os.makedirs(root, exist_ok=True)
    data = os.urandom(size)
    for d in range(ndirs):
        dp = os.path.join(root, 'd%02d' % d)
        os.makedirs(dp, exist_ok=True)
        for i in range(nfiles):
            with open(os.path.join(dp, 'f%03d' % i), 'wb') as f:
                f.write(data)


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


def main(groups):
    """Run the group named on the command line; returns the exit code."""
    group = group_arg(sys.argv, groups)
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
        groups[group](t, Env(work))
    except Skip as e:
        return skip_all(e)
    except Exception:  # noqa: BLE001
        t.ok(False, 'group %s ran to the end' % group, traceback.format_exc())
    finally:
        if work:
            cleanup(work)
    return t.done()
