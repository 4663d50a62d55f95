#!/bin/sh
# The version script, the public header and the built library agree:
# every symbol in the .sym file is declared in the header and exported by
# the .so, and the .so exports nothing else.
set -eu
sym=$1 hdr=$2 so=$3
want=$(sed -n 's/^[[:space:]]*\(cachectl_[a-z0-9_]*\);.*/\1/p' "$sym" | sort)
have=$(nm -D --defined-only "$so" | awk '$2 == "T" { sub(/@.*/, "", $3); print $3 }' | sort)
rc=0
for s in $want; do
	grep -q "\b$s(" "$hdr" || { echo "not in header: $s"; rc=1; }
done
if [ "$want" != "$have" ]; then
	echo "exported symbols differ from $sym:"
	printf '%s\n' "$want" > /tmp/.want.$$; printf '%s\n' "$have" > /tmp/.have.$$
	diff /tmp/.want.$$ /tmp/.have.$$ || true
	rm -f /tmp/.want.$$ /tmp/.have.$$
	rc=1
fi
for s in $(sed -n 's/^[a-z].*[ *]\(cachectl_[a-z0-9_]*\)(.*/\1/p' "$hdr"); do
	echo "$want" | grep -qx "$s" || { echo "in header, not exported: $s"; rc=1; }
done
[ $rc = 0 ] && echo "ok: $(echo "$want" | wc -l) symbols agree"
exit $rc
