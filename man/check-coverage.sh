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

fail=0

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
		echo "missing man page: $mandir/$s.3.scd (exported in $sym)" >&2
		fail=1
	fi
done

if [ -n "$header" ]; then
	# Function declarations start a line: "type name(" or "type *name(".
	funcs=$(sed -n 's/^[A-Za-z][^(]*[ *]\(cachectl_[A-Za-z0-9_]*\)(.*/\1/p' "$header" |
		sort -u)
	for f in $funcs; do
		if [ ! -f "$mandir/$f.3.scd" ]; then
			echo "missing man page: $mandir/$f.3.scd (declared in $header)" >&2
			fail=1
		fi
		case " $(echo $syms) " in
		*" $f "*) ;;
		*) echo "$f is declared in $header but not exported by $sym" >&2
		   fail=1 ;;
		esac
	done
fi

# Every page source must be built.
for p in "$mandir"/*.scd; do
	b=$(basename "$p" .scd)
	[ "$b" = trailer ] && continue
	name=${b%.*}
	sec=${b##*.}
	if ! grep -q "\['$sec', *'$name'\]" "$mandir/meson.build"; then
		echo "$p is not built by $mandir/meson.build" >&2
		fail=1
	fi
	# the build puts the project's version into every title
	if ! head -1 "$p" | grep -q '"libcachectl @VERSION@"'; then
		echo "$p: title must say \"libcachectl @VERSION@\", not a version" >&2
		fail=1
	fi
done

if [ -n "$exe" ]; then
	"$(dirname "$0")/check-cli-options.sh" "$exe" "$mandir/cachectl.1.scd" || fail=1
fi

exit $fail
