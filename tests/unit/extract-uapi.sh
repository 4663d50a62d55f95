#!/bin/sh
# Write the file a kernel patch creates, so tests build against the series'
# own header instead of a copy that could drift from it.
# usage: extract-uapi.sh PATCH PATH-IN-TREE OUTPUT
set -eu
patch=$1 path=$2 out=$3
awk -v want="+++ b/$path" '
	$0 == want		{ on = 1; next }
	on && /^@@ /		{ hunk = 1; next }
	on && hunk && /^\+/	{ print substr($0, 2); next }
	on && hunk		{ exit }
' "$patch" > "$out.tmp"
[ -s "$out.tmp" ] || { echo "$patch does not create $path" >&2; rm -f "$out.tmp"; exit 1; }
mv "$out.tmp" "$out"
