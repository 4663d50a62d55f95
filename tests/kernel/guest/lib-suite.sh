#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# lib-suite (guest, busybox sh): the library's unit tests (every program of
# the meson suite "unit", host-built, copied in by run-kernel-tests) run on
# the booted kernel, once per backend: CACHECTL_BACKEND=shim and =kernel.
# CACHECTL_TEST_DIR is a fresh directory on the 9p share (cache=fscache)
# and, in a second round, on NFS (fsc), for the tests that check the
# library against real network files with fscache; the NFS round runs only
# the programs that use CACHECTL_TEST_DIR (the others never touch it). One TAP line per
# (program, backend, filesystem); a failure's output follows as TAP
# comments.

# (A failing "." would end busybox sh at once, so test first.)
[ -r /opt/cachectl/share/cli-lib.sh ] ||
	{ echo "1..0 # SKIP ${CACHECTL_USERSPACE_WHY:-no cli-lib.sh}"; exit 77; }
. /opt/cachectl/share/cli-lib.sh
need_cachectl
list=/opt/cachectl/unit/list
[ -s "$list" ] || skip_all "no unit test programs in the initramfs ($list)"

backends="shim kernel"
if [ "${CACHECTL_SERIES_EMPTY:-0}" = 1 ]; then
	backends=shim
	diag "empty series: the kernel backend is not there, shim only"
fi

# Not worth the guest's time (about 35 s of the kernel suite's budget).
guest_skip="pinstore-big"

# run_on FS DIR: every program and backend with its test dir under DIR.
run_on() {
	fs=$1
	base=$2/lib-suite.$$
	mkdir -p "$base" || { notok "$fs: cannot create $base"; return; }

	while read -r name tmo envs; do
		[ -n "$name" ] || continue
		case " $guest_skip " in
		*" $name "*)
			ok "$fs: unit/$name # SKIP the store's load-time scaling on tmpfs: nothing of the kernel's, and its timing means nothing under TCG"
			continue ;;
		esac
		# After the first filesystem only the programs that put their
		# files in CACHECTL_TEST_DIR: the rest never touch it.
		if [ "$fs" != 9p ] && ! grep -q CACHECTL_TEST_DIR "/opt/cachectl/unit/$name"; then
			continue
		fi
		# Meson's timeout is for the host; TCG runs programs 10-50x slower.
		tmo=$((tmo * 5))
		for be in $backends; do
			dir=$base/$name.$be
			# The cwd is on tmpfs: busybox timeout leaves a watcher process
			# (for up to a second) in it, which would keep the share busy.
			cwd=/tmp/lib-suite/$name.$be
			mkdir -p "$dir" "$cwd"
			t0=$(now)
			# shellcheck disable=SC2086 # envs: NAME=VALUE words from meson
			(cd "$cwd" && exec env $envs CACHECTL_BACKEND=$be \
				CACHECTL_TEST_DIR="$dir" \
				timeout -s KILL "$tmo" "/opt/cachectl/unit/$name") \
				</dev/null >/tmp/lib-suite.out 2>&1
			rc=$?
			secs=$(elapsed "$t0" "$(now)")
			if [ "$rc" = 0 ]; then
				ok "$fs: unit/$name, CACHECTL_BACKEND=$be (${secs}s)"
			elif [ "$rc" = 77 ]; then
				ok "$fs: unit/$name, CACHECTL_BACKEND=$be # SKIP $(tail -n 1 /tmp/lib-suite.out)"
			else
				[ "$rc" = 137 ] && rc="$rc, killed after ${tmo}s"
				notok "$fs: unit/$name, CACHECTL_BACKEND=$be (exit $rc, ${secs}s)"
				tail -n 60 /tmp/lib-suite.out | comment
			fi
		done
	done <"$list"

	# Anything a test left running in its directory keeps the share busy (the
	# rig's teardown could not unmount it): name it, fail, and end it.
	left=
	for p in /proc/[0-9]*; do
		case $(readlink "$p/cwd" 2>/dev/null) in
		"$base"*) left="$left ${p#/proc/}($(cat "$p/comm" 2>/dev/null))" ;;
		esac
	done
	if [ -n "$left" ]; then
		notok "$fs: the unit tests left no process behind in $base (left:$left)"
		for p in $left; do kill -9 "${p%%(*}" 2>/dev/null; done
	fi
	rm -rf "$base"
}

test_filesystems >/tmp/lib-suite.fs
while read -r fs dir; do
	run_on "$fs" "$dir"
done </tmp/lib-suite.fs
done_tap
