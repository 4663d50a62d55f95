#!/bin/sh
# Write out a file that a patch of kernel-patches/ creates, so the build
# uses the series' own text (its uapi header, its man page) instead of a
# copy that could drift from it.
# usage: extract-from-patch.sh PATCH PATH-IN-KERNEL-TREE OUTPUT [SED-SCRIPT]
set -eu
patch=$1 path=$2 out=$3 edit=${4:-}
awk -v want="+++ b/$path" '
	$0 == want		{ on = 1; next }
	on && /^@@ /		{ hunk = 1; next }
	on && hunk && /^\+/	{ print substr($0, 2); next }
	on && hunk		{ exit }
' "$patch" > "$out.tmp"
[ -s "$out.tmp" ] || { echo "$patch does not create $path" >&2; rm -f "$out.tmp"; exit 1; }
if [ -n "$edit" ]; then
	sed -e "$edit" "$out.tmp" > "$out.tmp2" && mv "$out.tmp2" "$out.tmp"
fi
mv "$out.tmp" "$out"
