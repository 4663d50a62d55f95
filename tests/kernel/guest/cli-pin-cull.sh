#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# cli-pin-cull (guest, busybox sh): `cachectl pin -r` keeps files in fscache
# through a full cull pass. Two trees of 20 files (0 bytes to 3 MiB, made by
# guest/share-setup): $NINEP/work gets pinned, $NINEP/other does not. Both
# are read once into the cache; after `cachectl pin -r work` and dropping
# the caches (the cookies are withdrawn, the objects committed), "cull" is
# sent for every object in the cache, as cachefilesd would. Checked on the
# backing files, not through cachectl: every work file's object is still
# there with all its data and the pin xattr, every other file's object is
# gone. Then `cachectl status -r -J -b` must say the same per file: fscache
# bytes = size (whole pages) and pinned true for work, 0 and false for other.
# On 9p and on NFS (the same trees on each).

# (A failing "." would end busybox sh at once, so test first.)
[ -r /opt/cachectl/share/cli-lib.sh ] ||
	{ echo "1..0 # SKIP ${CACHECTL_USERSPACE_WHY:-no cli-lib.sh}"; exit 77; }
. /opt/cachectl/share/cli-lib.sh
need_cachectl
need_kernel_backend

# The pin store must be writable; no cachectld runs (kernel pins need none).
export HOME=/tmp/cli-pin-cull XDG_STATE_HOME=/tmp/cli-pin-cull/state
mkdir -p "$XDG_STATE_HOME"
out=/tmp/cli-pin-cull.out
trap 'for d in $unpin_dirs; do cachectl unpin -r "$d" >/dev/null 2>&1; done' EXIT
unpin_dirs=

# bad_rows LIST AWK-CONDITION: fscobj check lines of LIST for which the
# condition ($1 size, $2 backing data bytes or -1, $3 pin xattr) is false.
bad_rows() { fscobj check <"$1" | awk "!($2)"; }
# The backing file holds whole pages of the file, never less than its size,
# except that cachefiles drops a partial last block it cannot extend to a
# whole one (counted as mis= in /proc/fs/fscache/stats): the whole pages
# before it are all there is then.
full='($2 >= $1 && $2 <= int(($1 + 4095) / 4096) * 4096) || $2 == int($1 / 4096) * 4096'
tail_dropped=1

# pin_cull_on FS DIR: the whole check with DIR/work and DIR/other.
pin_cull_on() {
	fs=$1 work=$2/work other=$2/other
	if [ ! -d "$work" ] || [ ! -d "$other" ]; then
		notok "$fs: $work and $other exist (guest/share-setup did not run?)"
		return
	fi
	unpin_dirs="$unpin_dirs $work"
	files_of "$work" >/tmp/work.list
	files_of "$other" >/tmp/other.list
	nw=$(wc -l </tmp/work.list) no=$(wc -l </tmp/other.list)
	diag "$fs: $nw files under $work, $no under $other"

	# 1. Everything read once, so both trees are in fscache.
	xargs cat <"/tmp/work.list" >/dev/null
	xargs cat <"/tmp/other.list" >/dev/null
	# Cache writes run behind the reads: up to three settles on a loaded host.
	tries=0
	while [ $tries -lt 3 ]; do
		settle
		bad_rows /tmp/work.list "$full" >"$out"; bad_rows /tmp/other.list "$full" >>"$out"
		[ -s "$out" ] || break
		tries=$((tries + 1))
	done
	check "$fs: precondition: after one read every file is fully in fscache" [ ! -s "$out" ]
	comment "$out"

	# 2. Pin the work tree.
	cachectl pin -r "$work" >"$out" 2>&1
	rc=$?
	check "$fs: cachectl pin -r $work exits 0 (rc $rc)" [ $rc = 0 ]
	comment "$out"

	# 3. Withdraw every cookie, then cull every object of the cache.
	settle
	pass=$(fscobj cull-all 2>&1)
	diag "$fs: full cull pass: $pass"
	busy=$(echo "$pass" | sed -n 's/.* busy \([0-9]*\).*/\1/p')
	check "$fs: the cull pass met EBUSY for at least the $nw pinned objects ($pass)" [ "${busy:-0}" -ge "$nw" ]

	# 4. Independent check on the backing files.
	bad_rows /tmp/work.list "($full) && \$3 == 1" >"$out"
	check "$fs: every pinned file kept its object, all its data and the pin xattr" [ ! -s "$out" ]
	[ -s "$out" ] && { diag "not so (SIZE DATA PIN PATH):"; comment "$out"; }
	bad_rows /tmp/other.list '$2 == -1' >"$out"
	check "$fs: every unpinned file was culled" [ ! -s "$out" ]
	[ -s "$out" ] && { diag "still there (SIZE DATA PIN PATH):"; comment "$out"; }

	# 5. What cachectl says about it.
	cachectl status -r -J -b "$work" "$other" >"$out" 2>&1
	rc=$?
	check "$fs: status -r -J -b exits 0 (rc $rc)" [ $rc = 0 ]
	json_rows <"$out" >/tmp/rows
	nrows=$(grep -c 'file=' /tmp/rows)
	check "$fs: status lists all $((nw + no)) files (got $nrows)" [ "$nrows" = $((nw + no)) ]
	[ "$nrows" = $((nw + no)) ] || comment "$out"
	: >/tmp/wrong
	while read -r row; do
		p=$(field "$row" file)
		size=$(field "$row" size)
		fs=$(field "$row" fscache)
		pinned=$(field "$row" pinned)
		case $p in
		"$work"/*) want_fs=$(pages_of "${size:-0}") want_pin=true ;;
		*) want_fs=0 want_pin=false ;;
		esac
		floor=$want_fs
		[ "$tail_dropped" = 0 ] || [ "$want_fs" = 0 ] || floor=$(( ${size:-0} / 4096 * 4096 ))
		# Exact bytes or whole pages are both right for a partial last page.
		if [ "$fs" != "$want_fs" ] && [ "$fs" != "$size" ] && [ "$fs" != "$floor" ] ||
		   [ "$pinned" != "$want_pin" ]; then
			echo "$p: size $size fscache $fs pinned $pinned (want fscache $want_fs pinned $want_pin)" >>/tmp/wrong
		fi
	done </tmp/rows
	check "$fs: status: work files fscache = size and pinned true, other files fscache 0 and pinned false" [ ! -s /tmp/wrong ]
	comment /tmp/wrong
	[ -s /tmp/wrong ] && { diag "status -r -J -b said:"; head -n 40 "$out" | comment; }

	# 5b. cachectl pins: the kernel's truth, measured now (no daemon runs).
	cachectl pins -J -b >"$out" 2>/dev/null
	rc=$?
	row=$(json_rows <"$out" | grep -E "(^| )path=$work( |\$)" | head -n 1)
	kp=$(field "$row" kpinned) kf=$(field "$row" kfiles) pfs=$(field "$row" fscache)
	want_pages=$(fscobj check </tmp/work.list | awk '{ t += int(($1 + 4095) / 4096) * 4096 } END { print t + 0 }')
	want_bytes=$(fscobj check </tmp/work.list | awk '{ t += $1 } END { print t + 0 }')
	want_floor=$want_pages
	[ "$tail_dropped" = 0 ] ||
		want_floor=$(fscobj check </tmp/work.list | awk '{ t += int($1 / 4096) * 4096 } END { print t + 0 }')
	good=0
	if [ $rc = 0 ] && [ "$kp" = "$nw" ] && [ "$kf" = "$nw" ] &&
		{ [ "$pfs" = "$want_pages" ] || [ "$pfs" = "$want_bytes" ] ||
		  [ "$pfs" = "$want_floor" ]; }; then
		good=1
	fi
	check "$fs: pins -J: $work has $nw of $nw files pinned in the kernel and all in fscache (rc $rc, kpinned $kp, kfiles $kf, fscache $pfs, want $want_pages)" \
		[ $good = 1 ]
	[ $good = 1 ] || comment "$out"

	# 6. Unpin: the kernel pins go (so later tests' cull passes are not refused).
	cachectl unpin -r "$work" >"$out" 2>&1
	rc=$?
	check "$fs: cachectl unpin -r $work exits 0 (rc $rc)" [ $rc = 0 ]
	[ $rc = 0 ] || comment "$out"
	settle
	bad_rows /tmp/work.list '$3 == 0' >"$out"
	check "$fs: after unpin no backing file carries the pin xattr" [ ! -s "$out" ]
	comment "$out"
}

test_filesystems >/tmp/cli-pin-cull.fs
while read -r fs dir; do
	pin_cull_on "$fs" "$dir"
done </tmp/cli-pin-cull.fs
trap - EXIT

done_tap
