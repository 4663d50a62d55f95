#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Rig smoke test (guest, busybox sh): the fixture itself works on the
# booted kernel, patched or not. A 3 MiB file on the 9p share (cache=fscache)
# is read once, which writes it to the cachefiles cache (fscache "IO: wr"
# rises); after dropping the page cache it is read back from the cache ("IO:
# rd" rises, netfs downloads do not) with the right contents; after the 9p
# unmount withdraws the cookies, the backing file exists under
# /mnt/cache/cache. Prints TAP; exit 0 only if all of it holds.

f=${CACHECTL_9P:-/mnt/9p}/rig/smoke-3m.bin
sum=${CACHECTL_9P:-/mnt/9p}/rig/smoke-3m.sha256
size=$((3 * 1024 * 1024))
n=0 bad=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); bad=1; echo "not ok $n - $*"; }
check() { msg=$1; shift; if "$@"; then ok "$msg"; else notok "$msg"; fi; }

# fscache IO counters: "IO     : rd=N wr=N"; netfs "RdHelp : DL=N ...".
io() { sed -n "s/^IO *: .*$1=\([0-9]*\).*/\1/p" /proc/fs/fscache/stats; }
dl() { sed -n 's/^RdHelp *: DL=\([0-9]*\).*/\1/p' /proc/fs/netfs/stats 2>/dev/null; }
drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }
# wait_gt FN OLD: wait up to 20 s for the counter to exceed OLD.
wait_gt() {
	i=0
	while [ "$($1 "$3")" -le "$2" ] && [ $i -lt 200 ]; do
		usleep 100000
		i=$((i + 1))
	done
	[ "$($1 "$3")" -gt "$2" ]
}
want_sum=$(cut -d' ' -f1 "$sum")
got_sum() { sha256sum "$f" | cut -d' ' -f1; }

check "the share has the 3 MiB test file" [ "$(stat -c %s "$f")" = "$size" ]
check "/proc/fs/fscache/stats is readable" [ -n "$(io rd)" ]
grep -q 'cachectl' /proc/fs/fscache/caches 2>/dev/null
check "cache 'cachectl' is listed in /proc/fs/fscache/caches" [ $? = 0 ]
cat /proc/fs/fscache/caches 2>/dev/null | sed 's/^/# /'

drop
wr0=$(io wr) dl0=$(dl)
check "first read: contents match" [ "$(got_sum)" = "$want_sum" ]
wait_gt io "$wr0" wr
check "first read: written to the cache (IO wr $wr0 -> $(io wr))" [ "$(io wr)" -gt "$wr0" ]
dl1=$(dl)
[ -n "$dl0" ] && echo "# netfs downloads during the first read: $dl0 -> $dl1"

drop
rd1=$(io rd) dl1=$(dl)
check "second read: contents match" [ "$(got_sum)" = "$want_sum" ]
check "second read: served by the cache (IO rd $rd1 -> $(io rd))" [ "$(io rd)" -gt "$rd1" ]
if [ -n "$dl1" ]; then
	check "second read: no netfs downloads from the server (DL $dl1 -> $(dl))" [ "$(dl)" = "$dl1" ]
fi

# Withdraw the cookies: new objects are tmpfiles until then.
umount "${CACHECTL_9P:-/mnt/9p}"
check "9p unmounted" [ $? = 0 ]
nfiles=$(find "${CACHECTL_CACHE_DIR:-/mnt/cache}/cache" -type f 2>/dev/null | wc -l)
find "${CACHECTL_CACHE_DIR:-/mnt/cache}/cache" -type f 2>/dev/null | head -5 | sed 's/^/# backing file: /'
check "backing files exist after withdrawal ($nfiles)" [ "$nfiles" -ge 1 ]

sed 's/^/# /' /proc/fs/fscache/stats
echo "1..$n"
exit $bad
