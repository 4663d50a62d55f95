#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# cli-backend (guest, busybox sh): the CLI on the patched kernel.
# - `cachectl status --backend` says kernel, and shim under
#   CACHECTL_BACKEND=shim;
# - `cachectl cache` lists the cachefiles cache the rig bound (tag cachectl,
#   dir /mnt/cache from /etc/cachefilesd.conf);
# - `cachectl cache --no-cull FILE` stops culling (the library writes
#   "nocull" on the cache daemon's /dev/cachefiles, here the rig's cfbind):
#   status -o +CACHE says nocull and, checked without cachectl, a full cull
#   pass culls nothing; `--cull` lets it cull again and the file's object
#   is then culled. On 9p and on NFS (FILE on each). Culling is re-enabled
#   on every exit path.

# (A failing "." would end busybox sh at once, so test first.)
[ -r /opt/cachectl/share/cli-lib.sh ] ||
	{ echo "1..0 # SKIP ${CACHECTL_USERSPACE_WHY:-no cli-lib.sh}"; exit 77; }
. /opt/cachectl/share/cli-lib.sh
need_cachectl
need_kernel_backend

# Whatever happens below, the cache must cull again afterwards: the bare
# daemon command "cull" undoes "nocull" without going through cachectl.
restore() {
	cachectl cache --cull "$NINEP/backend/file-1m" >/dev/null 2>&1
	cfctl cull >/dev/null 2>&1
}
trap restore EXIT

out=/tmp/cli-backend.out

# --backend
got=$(cachectl status --backend 2>"$out")
check "status --backend prints 'kernel' on the patched kernel (got '$got')" [ "$got" = kernel ]
[ -s "$out" ] && comment "$out"
got=$(CACHECTL_BACKEND=shim cachectl status --backend 2>"$out")
check "CACHECTL_BACKEND=shim: status --backend prints 'shim' (got '$got')" [ "$got" = shim ]
[ -s "$out" ] && comment "$out"

# cache: the kernel's list says which caches exist; cachectl must show ours.
grep -q cachectl /proc/fs/fscache/caches
check "precondition: /proc/fs/fscache/caches lists the cache 'cachectl'" [ $? = 0 ]
cachectl cache >"$out" 2>/tmp/cli-backend.err
rc=$?
comment "$out"
comment /tmp/cli-backend.err
check "cache exits 0 (rc $rc)" [ $rc = 0 ]
# stdout only: an error message on stderr says "cachectl:" too.
check "cache shows the cache's tag 'cachectl'" grep -qw cachectl "$out"
check "cache shows its directory /mnt/cache (from /etc/cachefilesd.conf)" grep -qw /mnt/cache "$out"
cachectl cache -J >"$out" 2>&1
rc=$?
check "cache -J exits 0 (rc $rc)" [ $rc = 0 ]
check "cache -J has a string value \"cachectl\" (the tag)" grep -q '": *"cachectl"' "$out"
check "cache -J has a string value \"/mnt/cache\" (the directory)" grep -q '": *"/mnt/cache"' "$out"
[ $rc = 0 ] || comment "$out"

# cull_on FS FILE: --no-cull and --cull with FILE on FS.
cull_on() {
	fs=$1 f=$2
	if [ ! -f "$f" ]; then
		notok "$fs: $f exists (guest/share-setup did not run?)"
		return
	fi
	# Put the file in the cache and find its object (committed on withdrawal).
	cat "$f" >/dev/null
	# Cache writes run behind the read: up to three settles on a loaded host.
	for try in 1 2 3; do
		settle
		fscobj check "$f" >"$out"
		data=$(cut -d' ' -f2 "$out")
		[ "$data" != 1048576 ] || break
	done
	check "$fs: precondition: the file is in the cache ($(cat "$out"))" [ "$data" = 1048576 ]

	# --no-cull
	cachectl cache --no-cull "$f" >"$out" 2>&1
	rc=$?
	check "$fs: cache --no-cull FILE exits 0 (rc $rc)" [ $rc = 0 ]
	[ $rc = 0 ] || comment "$out"
	cachectl status -J -o +CACHE "$f" >"$out" 2>&1
	row=$(json_rows <"$out")
	cstate=$(field "$row" cache)
	check "$fs: status -o +CACHE shows nocull (cache '$cstate')" \
		sh -c "echo '$cstate' | tr , '\n' | grep -qx nocull"
	[ -n "$cstate" ] || comment "$out"
	# Independently: the daemon's cull of the object is refused.
	settle
	pass=$(fscobj cull-all 2>&1)
	culled=$(echo "$pass" | sed -n 's/^culled \([0-9]*\).*/\1/p')
	check "$fs: with culling off a full cull pass culls nothing ($pass)" [ "$culled" = 0 ]
	fscobj check "$f" >"$out"
	data=$(cut -d' ' -f2 "$out")
	check "$fs: ... and the file's object is still there ($(cat "$out"))" [ "$data" = 1048576 ]

	# --cull
	cachectl cache --cull "$f" >"$out" 2>&1
	rc=$?
	check "$fs: cache --cull FILE exits 0 (rc $rc)" [ $rc = 0 ]
	[ $rc = 0 ] || comment "$out"
	cachectl status -J -o +CACHE "$f" >"$out" 2>&1
	row=$(json_rows <"$out")
	cstate=$(field "$row" cache)
	check "$fs: status -o +CACHE no longer shows nocull (cache '$cstate')" \
		sh -c "[ -n '$cstate' ] && ! echo '$cstate' | tr , '\n' | grep -qx nocull"
	settle
	pass=$(fscobj cull-all 2>&1)
	diag "cull pass: $pass"
	fscobj check "$f" >"$out"
	data=$(cut -d' ' -f2 "$out")
	check "$fs: culling on again: a cull pass culls the file's object ($(cat "$out"))" [ "$data" = -1 ]
}

test_filesystems >/tmp/cli-backend.fs
while read -r fs dir; do
	cull_on "$fs" "$dir/backend/file-1m"
done </tmp/cli-backend.fs

done_tap
