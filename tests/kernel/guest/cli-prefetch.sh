#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# cli-prefetch (guest, busybox sh): `cachectl prefetch -r` of a cold 9p tree
# of 2,000 files of 16 KiB (guest/share-setup) leaves every file 100% in
# fscache, checked on the backing files (SEEK_DATA), not through cachectl.
# Also a bench: cachectl prefetch -r against `find TREE -type f | xargs cat`
# on the same tree, made cold before every round (a full cull pass empties
# fscache, dropping the caches empties the page cache and the 9p inode and
# dentry caches), one round each (the kernel suite's time budget; with
# CLI_PREFETCH_ROUNDS=3 when run by hand, alternating, medians). The ratio
# is printed ("# bench: ..."), it never fails the test: only missing data
# does.
# On NFS the same check once, on a tree of 200 files (the kernel suite's
# time budget), without the bench.

# (A failing "." would end busybox sh at once, so test first.)
[ -r /opt/cachectl/share/cli-lib.sh ] ||
	{ echo "1..0 # SKIP ${CACHECTL_USERSPACE_WHY:-no cli-lib.sh}"; exit 77; }
. /opt/cachectl/share/cli-lib.sh
need_cachectl

out=/tmp/cli-prefetch.out

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

# prefetch_on FS TREE FILES ROUNDS BENCH: the check (and bench, if BENCH
# is 1) on TREE, which must have FILES files.
prefetch_on() {
	fs=$1 tree=$2 want=$3 rounds=$4 bench=$5
	if [ ! -d "$tree" ]; then
		notok "$fs: $tree exists (guest/share-setup did not run?)"
		return
	fi
	files_of "$tree" >/tmp/tree.list
	nf=$(wc -l </tmp/tree.list)
	check "$fs: the tree has $want files (got $nf)" [ "$nf" = "$want" ]

	# Cold to begin with, and the number of objects then left in the whole
	# cache (not the tree's: in use or pinned elsewhere). Every round checks
	# its cold state against it without walking the tree, which would warm
	# its inodes. That a cull pass really takes the tree out of fscache is
	# checked per file once, in round 1, after cachectl filled it. (There is
	# no warm-up round: the kernel suite must stay under 2.5 minutes with
	# the kernel cached, so its one round carries the first-time costs.)
	cold
	settle
	baseline=$(fscobj count)

	: >/tmp/t.cachectl
	: >/tmp/t.cat
	r=1
	while [ $r -le "$rounds" ]; do
		# cachectl prefetch -r
		[ $r = 1 ] || cold
		left=$(fscobj count)
		check "$fs: round $r: cold before cachectl: $left objects in the cache, as when cold was checked ($baseline)" \
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
		[ $tries = 1 ] || diag "$fs: round $r: $tries settles until the count was final"
		check "$fs: round $r: cachectl prefetch -r exits 0 (rc $rc, ${secs}s)" [ $rc = 0 ]
		[ $rc = 0 ] || comment "$out"
		check "$fs: round $r: all $nf files 100% in fscache after cachectl prefetch -r (SEEK_DATA on the backing files: $full)" \
			[ "$full" = "$nf" ]
		if [ "$full" != "$nf" ]; then
			diag "$fs: not fully cached (SIZE DATA PIN PATH), first 10:"
			head -n 10 "$out.missing" | comment
		fi

		# find | xargs cat, the same tree, cold again
		cold
		if [ $r = 1 ]; then
			cold_full=$(full_count)
			check "$fs: after a cull pass and drop_caches no file of the tree is in fscache ($(cat "$out.cull"); $cold_full full)" \
				[ "$(awk '$2 != -1' "$out.check" | wc -l)" = 0 ]
			settle
		fi
		if [ "$bench" != 1 ]; then
			r=$((r + 1))
			continue
		fi
		left=$(fscobj count)
		[ "$left" -le "$baseline" ] ||
			diag "$fs: round $r: NOT cold before find|xargs cat: $left objects in the cache (cold: $baseline)"
		t0=$(now)
		find "$tree" -type f | xargs cat >/dev/null
		t1=$(now)
		secs=$(elapsed "$t0" "$t1")
		echo "$secs" >>/tmp/t.cat
		diag "$fs: round $r: find|xargs cat ${secs}s"
		r=$((r + 1))
	done

	median() { sort -n "$1" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
	[ "$bench" = 1 ] || return 0
	mc=$(median /tmp/t.cachectl)
	mx=$(median /tmp/t.cat)
	ratio=$(awk "BEGIN { if ($mc > 0) printf \"%.2f\", $mx / $mc; else print \"inf\" }")
	diag "bench: cachectl prefetch -r $mc s, find|xargs cat $mx s, ratio $ratio (cold 9p tree of $nf x 16 KiB, medians of $rounds; cachectl rounds: $(tr '\n' ' ' </tmp/t.cachectl)cat rounds: $(tr '\n' ' ' </tmp/t.cat))"
}

test_filesystems >/tmp/cli-prefetch.fs
while read -r fs dir; do
	case $fs in
	9p) prefetch_on 9p "$dir/tree" 2000 "${CLI_PREFETCH_ROUNDS:-1}" 1 ;;
	*) prefetch_on "$fs" "$dir/tree" 200 1 0 ;;
	esac
done </tmp/cli-prefetch.fs

# No last cull: the 2,000 objects (32 MiB) stay in the cache for the
# tests after this one, which have room enough; the time is the kernel
# suite's (under 2 minutes with the kernel cached).
done_tap
