#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The bash completion (tools/completion/cachectl.bash), sourced in bash
and driven as bash drives it: COMP_WORDS/COMP_CWORD set, the function
called, COMPREPLY read. The expected words come from the cachectl under
test's --help, so a verb or option added without completion fails here.

usage: completion_tests.py       (environment: CACHECTL, CACHECTLD,
                                  CACHECTL_COMPLETION)
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'pylib'))
from cachectl_test import skip_all, Tap  # noqa: E402

CACHECTL = os.environ.get('CACHECTL', '')
CACHECTLD = os.environ.get('CACHECTLD', '')
SCRIPT = os.environ.get('CACHECTL_COMPLETION', '')


def complete(fn, words, cwd=None):
    """COMPREPLY of fn for the command line words (the last is the word
    being completed)."""
    arr = ' '.join("'%s'" % w.replace("'", "'\\''") for w in words)
    prog = ('source "$1"; COMP_WORDS=(%s); COMP_CWORD=%d; %s; '
            'printf "%%s\\n" "${COMPREPLY[@]}"' % (arr, len(words) - 1, fn))
    r = subprocess.run(['bash', '--norc', '--noprofile', '-c', prog, 'bash', SCRIPT],
                       capture_output=True, text=True, cwd=cwd, timeout=30,
                       env=dict(os.environ, LC_ALL='C'))
    return sorted(x for x in r.stdout.split('\n') if x), r.stderr


def help_of(args):
    return subprocess.run([CACHECTL] + args + ['--help'], capture_output=True,
                          text=True).stdout


def main():
    t = Tap()
    if not shutil.which('bash'):
        return skip_all('no bash')
    if not all(os.access(x, os.R_OK) for x in (CACHECTL, SCRIPT)):
        t.ok(False, 'cachectl and the completion script exist', CACHECTL, SCRIPT)
        return t.done()
    C = CACHECTL
    verbs = re.findall(r'^  ([a-z]+) ', help_of([]).split('Verbs:')[1].split('\n\n')[0], re.M)
    got, err = complete('_cachectl', [C, ''])
    t.eq(got, sorted(verbs), 'cachectl <TAB>: every verb of cachectl --help', err)
    t.eq(complete('_cachectl', [C, 'st'])[0], ['status'], 'cachectl st<TAB>: status')
    t.eq(complete('_cachectl', [C, 'p'])[0], ['pin', 'pins', 'prefetch'], 'cachectl p<TAB>')

    for verb in verbs:
        h = help_of([verb])
        want = set(re.findall(r'(?:^ +|, )(--[a-z0-9-]+)', h, re.M))
        got = set(complete('_cachectl', [C, verb, '--'])[0])
        t.ok(want and want <= got, '%s --<TAB>: every long option of %s --help (%d)'
             % (verb, verb, len(want)), 'missing: %s' % sorted(want - got))
    t.eq(complete('_cachectl', [C, 'status', '--rec'])[0], ['--recursive'],
         'status --rec<TAB>: --recursive')
    t.eq(complete('_cachectl', [C, 'prefetch', '--wa'])[0], ['--wait'],
         'prefetch --wa<TAB>: --wait')
    t.eq(complete('_cachectl', [C, 'evict', '--wa'])[0], [],
         'evict --wa<TAB>: nothing (--wait is prefetch\'s)')
    t.eq(complete('_cachectl', [C, '-r', 'status', '-r', '--no-p'])[0],
         ['--no-progress'], 'the verb found past options')

    cols = ['BYTES', 'CACHE', 'CACHED', 'DIRTY', 'EVICTED', 'FILE', 'FSCACHE', 'PAGES',
            'PCT', 'PINNED', 'RECENTLY_EVICTED', 'SIZE', 'WRITEBACK']
    t.eq(complete('_cachectl', [C, 'status', '-o', ''])[0], cols,
         'status -o <TAB>: every column')
    t.eq(complete('_cachectl', [C, 'status', '-o', 'CA'])[0], ['CACHE', 'CACHED'],
         'status -o CA<TAB>')
    t.eq(complete('_cachectl', [C, 'status', '-o', '+DIRTY,WRI'])[0],
         ['+DIRTY,WRITEBACK'], 'status -o +DIRTY,WRI<TAB>: the last name of a list')
    t.eq(complete('_cachectl', [C, 'evict', '--output', 'FILE,P'])[0],
         ['FILE,PAGES', 'FILE,PCT', 'FILE,PINNED'], 'evict --output FILE,P<TAB>')
    t.eq(complete('_cachectl', [C, 'status', '--output', '=', 'REC'])[0],
         ['RECENTLY_EVICTED'], 'status --output=REC<TAB>')
    t.eq(complete('_cachectl', [C, 'pins', '-o', 'ST'])[0], ['STATUS'],
         'pins -o ST<TAB>: the pins columns')
    t.eq(complete('_cachectl', [C, 'cache', '-o', 'F'])[0], ['FCULL', 'FRUN', 'FSTOP', 'FULL'],
         'cache -o F<TAB>: the cache columns')
    t.eq(complete('_cachectl', [C, 'pin', '--budget', ''])[0], [],
         'pin --budget <TAB>: nothing (a size)')

    d = tempfile.mkdtemp(prefix='cachectl-completion-')
    try:
        for n in ('list.txt', 'lister', 'other'):
            open(os.path.join(d, n), 'w').close()
        t.eq(complete('_cachectl', [C, 'status', '--from', 'lis'], cwd=d)[0],
             ['list.txt', 'lister'], 'status --from lis<TAB>: files')
        t.eq(complete('_cachectl', [C, 'status', '-r', 'ot'], cwd=d)[0], ['other'],
             'status -r ot<TAB>: paths')
        t.eq(complete('_cachectl', [C, 'pins', 'ot'], cwd=d)[0], [],
             'pins ot<TAB>: no paths (pins takes none)')
    finally:
        shutil.rmtree(d)

    if CACHECTLD and os.access(CACHECTLD, os.X_OK):
        t.eq(complete('_cachectld', [CACHECTLD, '--st'])[0], ['--state-dir'],
             'cachectld --st<TAB>: --state-dir')
    # loaded lazily by command name, as bash-completion does
    r = subprocess.run(['bash', '--norc', '--noprofile', '-c',
                        'source "$1"; complete -p cachectl cachectld', 'bash', SCRIPT],
                       capture_output=True, text=True)
    t.eq(r.stdout.split('\n')[:2], ['complete -F _cachectl cachectl',
                                    'complete -F _cachectld cachectld'],
         'the script registers both commands', r.stderr)
    return t.done()


if __name__ == '__main__':
    sys.exit(main())
