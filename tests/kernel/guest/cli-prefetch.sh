#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# cli-prefetch (guest, busybox sh): `cachectl prefetch -r` of a cold 9p tree
# of 2,000 files of 16 KiB (guest/share-setup) leaves every file 100% in
# fscache, checked on the backing files (SEEK_DATA), not through cachectl.
# Also a bench: cachectl prefetch -r against `find TREE -type f | xargs cat`
# on the same tree, made cold before every round (a full cull pass empties
# fscache, dropping the caches empties the page cache and the 9p inode and
# dentry caches), 3 rounds each, alternating; medians. The ratio is printed
# ("# bench: ..."), it never fails the test: only missing data does.

# (A failing "." would end busybox sh at once, so test first.)
[ -r /opt/cachectl/share/cli-lib.sh ] ||
	{ echo "1..0 # SKIP ${CACHECTL_USERSPACE_WHY:-no cli-lib.sh}"; exit 77; }
. /opt/cachectl/share/cli-lib.sh
need_cachectl

tree=$NINEP/tree
rounds=${CLI_PREFETCH_ROUNDS:-3}
[ -d "$tree" ] || skip_all "$tree missing (guest/share-setup did not run?)"
out=/tmp/cli-prefetch.out

files_of "$tree" >/tmp/tree.list
nf=$(wc -l </tmp/tree.list)
check "the tree has 2000 files (got $nf)" [ "$nf" = 2000 ]

# cold: nothing of the tree in fscache, page cache or the inode cache.
cold() {
	settle
	fscobj cull-all >"$out.cull" 2>&1
	# The pass reads nothing through 9p; this drops the cache fs's dentries
	# of the culled objects, so every round starts alike.
	sync
	echo 3 >/proc/sys/vm/drop_caches
}
# full_count: how many files of the tree are 100% in fscache, per SEEK_DATA
# on their backing files (lists the others in $out.missing).
full_count() {
	fscobj check </tmp/tree.list >"$out.check"
	awk '$2 >= $1 && $1 > 0' "$out.check" | wc -l
	awk '!($2 >= $1 && $1 > 0)' "$out.check" >"$out.missing"
}

# An untimed warm-up read, so that one-off costs of the first pass (the
# cache's ext4 allocating inodes and blocks for the first time, the host's
# 9p server opening the files for the first time) do not land on whichever
# method is timed first. It also puts the whole tree in fscache, so the
# check below shows that cold() really takes it out again.
find "$tree" -type f | xargs cat >/dev/null
cold
cold_full=$(full_count)
check "after a cull pass and drop_caches no file of the tree is in fscache ($(cat "$out.cull"); $cold_full full)" \
	[ "$(awk '$2 != -1' "$out.check" | wc -l)" = 0 ]
# Objects left in the whole cache then (not the tree's: in use or pinned
# elsewhere). Later rounds check their cold state against it without
# walking the tree, which would warm its inodes.
settle
baseline=$(fscobj count)

: >/tmp/t.cachectl
: >/tmp/t.cat
r=1
while [ $r -le "$rounds" ]; do
	# cachectl prefetch -r
	cold
	left=$(fscobj count)
	check "round $r: cold before cachectl: $left objects in the cache, as when cold was checked ($baseline)" \
		[ "$left" -le "$baseline" ]
	t0=$(now)
	cachectl prefetch -r "$tree" >"$out" 2>&1
	rc=$?
	t1=$(now)
	secs=$(elapsed "$t0" "$t1")
	echo "$secs" >>/tmp/t.cachectl
	settle
	full=$(full_count)
	# Cache writes run behind the reads; on a loaded host give them two
	# more settles before calling the data missing.
	tries=1
	while [ "$full" != "$nf" ] && [ $tries -lt 3 ]; do
		settle
		full=$(full_count)
		tries=$((tries + 1))
	done
	[ $tries = 1 ] || diag "round $r: $tries settles until the count was final"
	check "round $r: cachectl prefetch -r exits 0 (rc $rc, ${secs}s)" [ $rc = 0 ]
	[ $rc = 0 ] || comment "$out"
	check "round $r: all $nf files 100% in fscache after cachectl prefetch -r (SEEK_DATA on the backing files: $full)" \
		[ "$full" = "$nf" ]
	if [ "$full" != "$nf" ]; then
		diag "not fully cached (SIZE DATA PIN PATH), first 10:"
		head -n 10 "$out.missing" | comment
	fi

	# find | xargs cat, the same tree, cold again
	cold
	left=$(fscobj count)
	[ "$left" -le "$baseline" ] ||
		diag "round $r: NOT cold before find|xargs cat: $left objects in the cache (cold: $baseline)"
	t0=$(now)
	find "$tree" -type f | xargs cat >/dev/null
	t1=$(now)
	secs=$(elapsed "$t0" "$t1")
	echo "$secs" >>/tmp/t.cat
	diag "round $r: find|xargs cat ${secs}s"
	r=$((r + 1))
done

# For comparison only (not in the ratio, never fails): one round with the
# shim backend, which prefetches with fadvise instead of fcachectl PREFETCH.
if [ "${CACHECTL_SERIES_EMPTY:-0}" != 1 ]; then
	cold
	t0=$(now)
	CACHECTL_BACKEND=shim cachectl prefetch -r "$tree" >"$out" 2>&1
	rc=$?
	t1=$(now)
	settle
	diag "for comparison: CACHECTL_BACKEND=shim cachectl prefetch -r $(elapsed "$t0" "$t1")s (rc $rc), $(full_count) files full in fscache afterwards"
fi

median() { sort -n "$1" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
mc=$(median /tmp/t.cachectl)
mx=$(median /tmp/t.cat)
ratio=$(awk "BEGIN { if ($mc > 0) printf \"%.2f\", $mx / $mc; else print \"inf\" }")
diag "bench: cachectl prefetch -r $mc s, find|xargs cat $mx s, ratio $ratio (cold 9p tree of $nf x 16 KiB, medians of $rounds; cachectl rounds: $(tr '\n' ' ' </tmp/t.cachectl)cat rounds: $(tr '\n' ' ' </tmp/t.cat))"

cold
done_tap
