#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Check that the man pages cover the library and the tool:
#  - every symbol exported by the version script has man/<symbol>.3.scd;
#  - with --header, every function declared in the public header has one;
#  - every man/*.scd page (but trailer.scd) is built by man/meson.build
#    and its title takes the version from the build (@VERSION@);
#  - with --cachectl, every option "cachectl --help" prints is in
#    cachectl.1.scd (see check-cli-options.sh).
# TAP, one line per check.
#
# usage: check-coverage.sh --sym FILE --man DIR [--header FILE] [--cachectl EXE]

set -u

sym= mandir= header= exe=
while [ $# -gt 0 ]; do
	case $1 in
	--sym) sym=$2; shift 2 ;;
	--man) mandir=$2; shift 2 ;;
	--header) header=$2; shift 2 ;;
	--cachectl) exe=$2; shift 2 ;;
	*) echo "usage: $0 --sym FILE --man DIR [--header FILE] [--cachectl EXE]" >&2
	   exit 2 ;;
	esac
done
if [ -z "$sym" ] || [ -z "$mandir" ]; then
	echo "usage: $0 --sym FILE --man DIR [--header FILE] [--cachectl EXE]" >&2
	exit 2
fi
if [ ! -r "$sym" ]; then
	echo "$0: cannot read $sym" >&2
	exit 1
fi

fail=0 n=0 bad=0

# TAP: each check below is one line; what it found are comments.
miss() {
	printf '%s\n' "$*" | sed 's/^/# /'
	bad=1
}
result() {
	n=$((n + 1))
	if [ $bad = 0 ]; then
		echo "ok $n - $*"
	else
		echo "not ok $n - $*"
		fail=1
	fi
	bad=0
}

# Symbols in the version script: every name outside a "local:" part.
# Braces, semicolons and colons become blanks or line ends, so "local:"
# leaves the word "local"; a node name (LIBCACHECTL_*) ends a local part.
syms=$(tr '\n' ' ' < "$sym" |
	sed -E 's,/\*([^*]|\*+[^*/])*\*+/, ,g' |
	tr '{};:' '   \n' | tr ' \t' '\n\n' |
	awk '
		/^$/ { next }
		$0 == "global" { local = 0; next }
		$0 == "local" { local = 1; next }
		/^LIBCACHECTL_/ { local = 0; next }
		!local && /^[A-Za-z_][A-Za-z0-9_]*$/ { print }
	')
if [ -z "$syms" ]; then
	echo "$0: no symbols found in $sym" >&2
	exit 1
fi

for s in $syms; do
	if [ ! -f "$mandir/$s.3.scd" ]; then
		miss "missing man page: $mandir/$s.3.scd (exported in $sym)"
	fi
done
result "every exported symbol has a page"

if [ -n "$header" ]; then
	# Function declarations start a line: "type name(" or "type *name(".
	funcs=$(sed -n 's/^[A-Za-z][^(]*[ *]\(cachectl_[A-Za-z0-9_]*\)(.*/\1/p' "$header" |
		sort -u)
	for f in $funcs; do
		if [ ! -f "$mandir/$f.3.scd" ]; then
			miss "missing man page: $mandir/$f.3.scd (declared in $header)"
		fi
		case " $(echo $syms) " in
		*" $f "*) ;;
		*) miss "$f is declared in $header but not exported by $sym" ;;
		esac
	done
	result "every function of the header has a page and is exported"
fi

# Every page source must be built.
for p in "$mandir"/*.scd; do
	b=$(basename "$p" .scd)
	[ "$b" = trailer ] && continue
	name=${b%.*}
	sec=${b##*.}
	if ! grep -q "\['$sec', *'$name'\]" "$mandir/meson.build"; then
		miss "$p is not built by $mandir/meson.build"
	fi
	# the build puts the project's version into every title
	if ! head -1 "$p" | grep -q '"libcachectl @VERSION@"'; then
		miss "$p: title must say \"libcachectl @VERSION@\", not a version"
	fi
done
result "every page is built and its title takes the build's version"

if [ -n "$exe" ]; then
	out=$("$(dirname "$0")/check-cli-options.sh" "$exe" "$mandir/cachectl.1.scd" 2>&1) ||
		miss "$out"
	result "every option of cachectl --help is in cachectl.1.scd"
fi

echo "1..$n"
exit $fail
