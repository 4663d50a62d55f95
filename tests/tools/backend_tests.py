#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""cachectl per backend: the mincore fallback (cachestat hidden by
seccomp), backend choice and display, the cache verb, and the kernel
backend's CLI paths with fcachectl(2) faked by LD_PRELOAD.

usage: backend_tests.py GROUP      (see clitest.py)
"""

import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'pylib'))
from cachectl_test import (KCS, kcs, KiB, kmissing, MiB, NOBODY, roundup,  # noqa: E402
                           run, Skip)
from clitest import (build_tree, by_path, CACHECTL, check_rows_vs_kernel,  # noqa: E402
                     err_lines, jrows, kcached, kcheck, main, make_cold,
                     mkfile, names_path, settle, TRY_HELP, warm)


NOCS = os.environ.get('NOCACHESTAT', '')


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
# 8. backends on this host (tests/kernel runs the real one): on a stock kernel
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
        t.eq(rows.total, {'fscache': 65536 + 8192 + 4096,
                          'pinned': None, 'cache': None},
             'kernel JSON: the total sums FSCACHE; PINNED, CACHE null')
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
    # Culling goes through the cache daemon's device: the state file is
    # it here, held open by a stand-in daemon (fakefcachectl.c).
    open(state, 'w').close()
    dev = os.path.realpath(state)
    r = run(['cache', '--no-cull', K], CACHECTL_CACHEFILES_DEV=dev, **cenv)
    t.ok(r.rc == 1 and 'no cache daemon' in r.etext and r.out == b'',
         'kernel: cache --no-cull without a cache daemon: exit 1, says so',
         r.show())
    daemon = subprocess.Popen(['sleep', '600'], stdin=open(dev, 'a'))
    try:
        denv = dict(cenv, CACHECTL_CACHEFILES_DEV=dev)
        r = run(['cache', '--no-cull', K], **denv)
        t.ok(r.rc == 0 and r.text == 'cache mycache (00000001): culling off\n' and
             open(state).read().split() == ['nocull'],
             'kernel: cache --no-cull PATH: exit 0, one line, "nocull" written '
             'on the daemon\'s device', r.show())
        r, rows = cache_rows([K], **denv)
        t.ok(len(rows) == 1 and rows[0]['cull'] == 'off',
             'kernel: ... and QUERY then says culling is off', r.show())
        r = run(['cache', '--cull', K], **denv)
        t.ok(r.rc == 0 and r.text == 'cache mycache (00000001): culling on\n' and
             open(state).read().split() == ['nocull', 'cull'],
             'kernel: cache --cull PATH: culling on again (a bare "cull")',
             r.show())
        r = run(['cache', '--no-cull', K], FAKE_FCACHECTL_NOPRIV='1', **denv)
        t.ok(r.rc == 1 and 'needs CAP_SYS_ADMIN' in r.etext and r.out == b'' and
             open(state).read().split() == ['nocull', 'cull'],
             'kernel: cache --no-cull without rights over the daemon: exit 1, '
             '"needs CAP_SYS_ADMIN", nothing written', r.show())
    finally:
        daemon.kill()
        daemon.wait()
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


GROUPS = {
    'mincore': t_mincore,
    'backend': t_backend,
    'cache-verb': t_cache_verb,
    'kernel-fake': t_kernel_fake,
}


if __name__ == '__main__':
    sys.exit(main(GROUPS))
