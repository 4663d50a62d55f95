#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# cachectld is a client of libcachectl's public API: it loads
# libcachectl.so.0 (no static copy of the library linked in) and its
# sources include no header of lib/. TAP.
#
# usage: check-client.sh CACHECTLD_EXE SOURCE_ROOT

set -u
exe=$1 root=$2
n=0 failed=0

check() {
	n=$((n + 1))
	if [ "$1" = 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		failed=1
		[ -n "${3:-}" ] && printf '%s\n' "$3" | sed 's/^/# /'
	fi
}

needed=$(readelf -d "$exe" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
echo "$needed" | grep -qx 'libcachectl\.so\.0'
check $? "cachectld needs libcachectl.so.0" "NEEDED: $needed"

own=$(nm --defined-only "$exe" | awk '$3 ~ /^cachectl_/ { print $3 }')
[ -z "$own" ]
check $? "cachectld defines no cachectl_* symbol of its own" "$own"

hits=
for h in "$root"/lib/*.h "$root"/lib/*.h.in; do
	[ -e "$h" ] || continue
	b=$(basename "$h" .in)
	found=$(grep -ln "^#include [<\"]\(lib/\)\{0,1\}$b[>\"]" \
		"$root"/tools/cachectld/*.c "$root"/tools/cachectld/*.h 2>/dev/null)
	[ -n "$found" ] && hits="$hits$b: $found
"
done
[ -z "$hits" ]
check $? "tools/cachectld includes no header of lib/" "$hits"

echo "1..$n"
exit $failed
