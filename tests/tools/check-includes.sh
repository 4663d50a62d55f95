#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The CLI and cachectld are clients of the library: no file under tools/
# may include a header of lib/ (its internals), only the public header,
# config.h and common/.
#
# usage: check-includes.sh SOURCE_ROOT

set -u
root=${1:?usage: $0 SOURCE_ROOT}
fail=0
for h in "$root"/lib/*.h "$root"/lib/*.h.in; do
	[ -e "$h" ] || continue
	name=$(basename "$h" .in)
	hits=$(grep -rnE "^[[:space:]]*#[[:space:]]*include[[:space:]]*[\"<]([^\">]*/)?$name[\">]" \
		"$root"/tools --include='*.c' --include='*.h' |
		grep -v 'libcachectl/' || true)
	if [ -n "$hits" ]; then
		printf 'a tools/ file includes lib/%s:\n%s\n' "$name" "$hits" >&2
		fail=1
	fi
done
exit $fail
