#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""cachectl's command line: residency the kernel will not tell, usage
messages and bad options, exit codes.

usage: usage_tests.py GROUP      (see clitest.py)
"""

import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'pylib'))
from cachectl_test import (GiB, kcs, KiB, MiB, NOBODY, PAGE)  # noqa: E402
import clitest  # noqa: E402
from clitest import (by_path, err_lines, jrows, kcached, kcheck, kmatch,  # noqa: E402
                     krange, main, make_cold, mkfile, names_path, settle,
                     TiB, TRY_HELP, wait_cached, warm)


def parse_amount(text):
    """'1048576 bytes', '1M', '1.5 MiB', '512K' -> bytes (None if none)."""
    m = re.search(r'(\d+(?:\.\d+)?)\s*(bytes|B|[KMGTPE](?:i?B)?)?\s*$', text.strip())
    if not m:
        return None
    mult = {'K': KiB, 'M': MiB, 'G': GiB, 'T': TiB, 'P': TiB << 10, 'E': TiB << 20}
    u = (m.group(2) or '')[:1]
    return int(float(m.group(1)) * mult.get(u, 1))


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
    if clitest.ENGINE == 'mincore':
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
    # a size is decimal, finite and fits: strtod alone takes all of these
    for b in ('nan', '-nan', 'inf', '-1', '0x10', '1e400', ' 1G', '8E'):
        usage_err(['pin', '--no-prefetch', '--budget', b, f],
                  'pin --budget %r' % b)
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


GROUPS = {
    'unknown': t_unknown,
    'usage': t_usage,
    'exitcodes': t_exitcodes,
}


if __name__ == '__main__':
    sys.exit(main(GROUPS))
