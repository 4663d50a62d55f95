#!/bin/sh
# The version script, the public header and the built library agree:
# every symbol in the .sym file is declared in the header and exported by
# the .so, and the .so exports nothing else. TAP.
set -eu
sym=$1 hdr=$2 so=$3
want=$(sed -n 's/^[[:space:]]*\(cachectl_[a-z0-9_]*\);.*/\1/p' "$sym" | sort)
have=$(nm -D --defined-only "$so" | awk '$2 == "T" { sub(/@.*/, "", $3); print $3 }' | sort)
n=0

check() {
	n=$((n + 1))
	if [ -z "$2" ]; then
		echo "ok $n - $1"
	else
		echo "not ok $n - $1"
		printf '%s\n' "$2" | sed 's/^/# /'
	fi
}

missing=
for s in $want; do
	grep -q "\b$s(" "$hdr" || missing="$missing $s"
done
check "every symbol of $(basename "$sym") is declared in the header" "$missing"

diffs=
if [ "$want" != "$have" ]; then
	printf '%s\n' "$want" > /tmp/.want.$$; printf '%s\n' "$have" > /tmp/.have.$$
	diffs=$(diff /tmp/.want.$$ /tmp/.have.$$ || true)
	rm -f /tmp/.want.$$ /tmp/.have.$$
fi
check "the library exports exactly the $(echo "$want" | wc -l) symbols of $(basename "$sym")" "$diffs"

extra=
for s in $(sed -n 's/^[a-z].*[ *]\(cachectl_[a-z0-9_]*\)(.*/\1/p' "$hdr"); do
	echo "$want" | grep -qx "$s" || extra="$extra $s"
done
check "every function of the header is exported" "$extra"
echo "1..$n"
