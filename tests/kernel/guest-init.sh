#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# /init of the cachectl test guest (busybox sh). Installed by
# run-kernel-tests, which also writes /etc/rig.conf (RIG_MODE=tests|enosys,
# RIG_TEST_TIMEOUT, RIG_ONLY, RIG_SERIES_EMPTY).
#
# Everything meant for the host goes to the serial console:
#   CACHECTL-RIG-BOOTED          the init started
#   CACHECTL-TAP: <tap line>     one TAP line (the host renumbers them)
#   CACHECTL-TAP-END             the run completed; missing = crash or hang
#   CACHECTL-DMESG: <line>       the kernel log, for the record
# The guest then reboots (-no-reboot makes QEMU exit).

export PATH=/bin HOME=/root TMPDIR=/tmp
mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs -o mode=755 tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /tmp

RIG_MODE=tests
RIG_TEST_TIMEOUT=600
RIG_ONLY=
RIG_SERIES_EMPTY=1
RIG_USERSPACE=0
RIG_USERSPACE_WHY="no build root given to run-kernel-tests"
RIG_LD_LIBRARY_PATH=
. /etc/rig.conf

# What the tests get (documented in tests/kernel/README.md).
export CACHECTL_9P=/mnt/9p
export CACHECTL_9P_TAG=share
export CACHECTL_9P_OPTS=trans=virtio,version=9p2000.L,cache=fscache
export CACHECTL_CACHE_DIR=/mnt/cache
# The cache filesystem is on the virtio disk, through a loop device when
# the rig asks for one (RIG_CACHE_LOOP, see README.md: block completions
# then run in the loop worker, not in the disk's hard interrupt).
CACHE_DEV=/dev/vda
if [ "${RIG_CACHE_LOOP:-0}" = 1 ] && losetup /dev/loop0 /dev/vda 2>/tmp/losetup.log; then
	CACHE_DEV=/dev/loop0
fi
export CACHECTL_CACHE_DEV=$CACHE_DEV
export CACHECTL_SERIES_EMPTY=$RIG_SERIES_EMPTY
# The crash test's phase: 1 in the boot that stops without unmounting,
# 2 in the boot after it, on the same cache image (unset otherwise).
case $RIG_MODE in
crash1) export CACHECTL_CRASH_PHASE=1 ;;
crash2) export CACHECTL_CRASH_PHASE=2 ;;
esac
# The kselftest (patch 0012) also exercises the 9p mount when told where.
export CACHECTL_FSCACHE_DIR=/mnt/9p
# The project's own programs (host-built, dynamically linked; the rig copies
# their shared libraries to the same paths as on the host).
if [ "$RIG_USERSPACE" = 1 ]; then
	export PATH=/bin:/opt/cachectl/bin
	export LD_LIBRARY_PATH=$RIG_LD_LIBRARY_PATH
fi
export CACHECTL_USERSPACE_WHY="$RIG_USERSPACE_WHY"

# netfs copies what it read to the cache at writeback, which waits for
# dirty_expire (30 s); the tests expect the cache behind reads within a
# second or two.
echo 100 >/proc/sys/vm/dirty_expire_centisecs
echo 50 >/proc/sys/vm/dirty_writeback_centisecs

echo "CACHECTL-RIG-BOOTED $(uname -r) mode=$RIG_MODE uptime=$(cut -d" " -f1 /proc/uptime)"

n=0
tap() { echo "CACHECTL-TAP: $*"; }
ok() { n=$((n + 1)); tap "ok $n - $*"; }
notok() { n=$((n + 1)); tap "not ok $n - $*"; }
skip() { n=$((n + 1)); tap "ok $n - $1 # SKIP $2"; }
# Pass a file (or stdin) through as TAP comments, at most $2 lines (tail).
comment() { tail -n "${2:-400}" "${1:--}" | sed 's/^/CACHECTL-TAP: #   /'; }

trouble_re='BUG:|WARNING:|Oops|Call Trace|general protection fault|Kernel panic|Unable to handle|INFO: task .* blocked'
: >/tmp/dmesg.all
# Collect new kernel messages; print the suspicious ones, return 1 if any.
dmesg_new() {
	dmesg -c >/tmp/dmesg.new 2>/dev/null
	cat /tmp/dmesg.new >>/tmp/dmesg.all
	if grep -E "$trouble_re" /tmp/dmesg.new >/tmp/dmesg.bad; then
		return 1
	fi
	return 0
}

uptime_s() { cut -d' ' -f1 /proc/uptime; }

cache_mounted() { grep -q " /mnt/cache ext4 " /proc/mounts; }
ninep_mounted() { grep -q " /mnt/9p 9p " /proc/mounts; }
binder_alive() { cfctl ping >/dev/null 2>&1; }

# NFS over loopback (RIG_NFS=1): the in-kernel server exports an ext4 disk
# of the guest's own (/dev/vdb on /srv/nfs), with the export tables filled
# in by hand, as mountd would, and the client mounts it with fsc.
export_nfs() {
	ifconfig lo 127.0.0.1 up &&
	mkdir -p /srv/nfs /mnt/nfs &&
	mount -t ext4 /dev/vdb /srv/nfs && chmod 1777 /srv/nfs &&
	mount -t nfsd nfsd /proc/fs/nfsd || return 1
	for v in -2 -3 +4 +4.1 +4.2; do
		echo "$v" >/proc/fs/nfsd/versions 2>/dev/null
	done
	echo 10 >/proc/fs/nfsd/nfsv4leasetime 2>/dev/null
	echo 10 >/proc/fs/nfsd/nfsv4gracetime 2>/dev/null
	echo "tcp 2049" >/proc/fs/nfsd/portlist &&
	echo 2 >/proc/fs/nfsd/threads || return 1
	# Never expiring entries: there is no mountd to ask.
	printf 'nfsd 127.0.0.1 2147483647 cachectl\n' \
		>/proc/net/rpc/auth.unix.ip/channel &&
	printf 'cachectl 1 \\x00000000 2147483647 /srv/nfs\n' \
		>/proc/net/rpc/nfsd.fh/channel &&
	# flags: fsid=0 (NFSEXP_FSID), no_subtree_check, insecure; rw,
	# no_root_squash; anon 65534
	printf 'cachectl /srv/nfs 2147483647 9218 65534 65534 0\n' \
		>/proc/net/rpc/nfsd.export/channel
}
mount_nfs() {
	nfsmount 127.0.0.1:/ /mnt/nfs \
		vers=4.2,addr=127.0.0.1,clientaddr=127.0.0.1,fsc,sec=sys,timeo=100
}
nfs_mounted() { grep -q " /mnt/nfs nfs4 " /proc/mounts; }

start_binder() {
	cfbind start -d /mnt/cache -t cachectl >/tmp/cfbind.log 2>&1
}
mount_9p() {
	mount -t 9p -o "$CACHECTL_9P_OPTS" "$CACHECTL_9P_TAG" /mnt/9p 2>/tmp/mount9p.log
}

# Put the fixture back the way tests expect it after a test changed it.
restore() {
	what=
	if ! binder_alive; then
		cfbind stop >/dev/null 2>&1
		start_binder && what="$what rebound-cache" || what="$what REBIND-FAILED"
	fi
	if ! ninep_mounted; then
		mount_9p && what="$what remounted-9p" || what="$what REMOUNT-9P-FAILED"
	fi
	cd /
	sync
	echo 3 >/proc/sys/vm/drop_caches
	[ -z "$what" ] || tap "# fixture restored:$what"
	tap "# uptime $(uptime_s)s after $name"
}

# run_test NAME PATH [DIR]: one TAP line for one program. Exit 0 = pass,
# 4 (KSFT_SKIP) or 77 = skip, anything else = fail, killed after
# RIG_TEST_TIMEOUT seconds. Output goes along as TAP comments.
run_test() {
	name=$1 prog=$2 dir=${3:-}
	if [ -n "$RIG_ONLY" ]; then
		# shellcheck disable=SC2254 # RIG_ONLY is a glob on purpose
		case $name in $RIG_ONLY) ;; *) return 0 ;; esac
	fi
	if [ -z "$dir" ]; then
		dir=/tmp/work/$(echo "$name" | tr / _)
		mkdir -p "$dir"
	fi
	dmesg_new || true
	echo "CACHECTL-RUNNING $name"
	t0=$(uptime_s)
	(cd "$dir" && exec timeout -s KILL "$RIG_TEST_TIMEOUT" "$prog") </dev/null >/tmp/out 2>&1
	rc=$?
	t1=$(uptime_s)
	secs=$(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }")
	comment /tmp/out
	if ! dmesg_new; then
		notok "$name (rc=$rc, ${secs}s): kernel BUG/WARNING/Oops while it ran"
		comment /tmp/dmesg.bad 60
	elif [ "$rc" = 0 ]; then
		ok "$name (${secs}s)"
	elif [ "$rc" = 4 ] || [ "$rc" = 77 ]; then
		skip "$name" "exit $rc ($(tail -n 1 /tmp/out))"
	elif [ "$rc" = 137 ]; then
		notok "$name: killed after ${RIG_TEST_TIMEOUT}s (timeout)"
	else
		notok "$name (exit $rc, ${secs}s)"
	fi
	restore
}

finish() {
	if dmesg_new; then
		ok "kernel log free of BUG/WARNING/Oops"
	else
		notok "kernel log free of BUG/WARNING/Oops"
		comment /tmp/dmesg.bad 60
	fi
	tap "1..$n"
	echo "CACHECTL-TAP-END uptime=$(uptime_s)"
	sed 's/^/CACHECTL-DMESG: /' /tmp/dmesg.all
	sync
	reboot -f
	sleep 10
	exit 1
}

if [ "$RIG_MODE" = enosys ]; then
	if sysprobe enosys >/tmp/out 2>&1; then
		ok "fcachectl answers ENOSYS with CONFIG_CACHECTL=n"
	else
		notok "fcachectl answers ENOSYS with CONFIG_CACHECTL=n"
	fi
	comment /tmp/out
	finish
fi

# ----------------------------------------------------------------- fixture
if mount -t ext4 "$CACHE_DEV" /mnt/cache 2>/tmp/out; then
	ok "fixture: ext4 cache image ($CACHE_DEV) mounted on /mnt/cache"
else
	notok "fixture: ext4 cache image mounted on /mnt/cache"
	comment /tmp/out
fi
if start_binder; then
	ok "fixture: cachefiles bound (dir /mnt/cache, tag cachectl, pid $(cat /run/cachefilesd.pid))"
else
	notok "fixture: cachefiles bound"
	comment /tmp/cfbind.log
fi
# What cachectl reads for the cache's directory and thresholds: the same as
# cfbind binds (its defaults).
cat >/etc/cachefilesd.conf <<EOF
dir /mnt/cache
tag cachectl
brun 10%
bcull 7%
bstop 3%
frun 10%
fcull 7%
fstop 3%
EOF
if mount_9p; then
	ok "fixture: 9p share mounted on /mnt/9p with cache=fscache"
else
	notok "fixture: 9p share mounted on /mnt/9p with cache=fscache"
	comment /tmp/mount9p.log
fi
if [ "${RIG_NFS:-0}" = 1 ]; then
	if export_nfs >/tmp/nfs.log 2>&1 && mount_nfs >>/tmp/nfs.log 2>&1; then
		ok "fixture: NFS export of /dev/vdb mounted over loopback on /mnt/nfs with fsc"
		export CACHECTL_NFS=/mnt/nfs CACHECTL_NFS_EXPORT=/srv/nfs
	else
		notok "fixture: NFS export of /dev/vdb mounted over loopback on /mnt/nfs with fsc"
		comment /tmp/nfs.log
		comment /proc/mounts
	fi
fi
if [ "$RIG_SERIES_EMPTY" = 0 ]; then
	if sysprobe wired >/tmp/out 2>&1; then
		ok "fixture: fcachectl syscall is wired"
	else
		notok "fixture: fcachectl syscall is wired"
	fi
	comment /tmp/out
fi
if [ "$RIG_USERSPACE" = 1 ]; then
	if cachectl --version >/tmp/out 2>&1; then
		ok "fixture: the host-built cachectl runs ($(head -n 1 /tmp/out))"
	else
		notok "fixture: the host-built cachectl runs"
		comment /tmp/out
	fi
fi
dmesg_new || { notok "fixture: kernel log clean after setup"; comment /tmp/dmesg.bad 60; }

# ------------------------------------------------------------------- tests
# The crash boots run the crash test alone; the first stops the guest
# right after it, as a crash would: no unmount, no unbind, no sync.
case $RIG_MODE in
crash1|crash2)
	for t in /opt/cachectl/tests/cachectl_crash*; do
		[ -x "$t" ] && run_test "guest/${t##*/}" "$t"
	done
	if [ "$RIG_MODE" = crash1 ]; then
		tap "1..$n"
		echo "CACHECTL-CRASH-NOW uptime=$(uptime_s)"
		reboot -f -n
		sleep 10
		exit 1
	fi
	RIG_ONLY=-
	;;
esac
for t in /opt/cachectl/rig/*; do
	[ -x "$t" ] && run_test "rig/${t##*/}" "$t"
done
# NFS's own tests last: nfsd refuses new state for its grace period (10 s
# from the export), which the others fill instead of a wait.
for pass in other nfs; do
	for t in /opt/cachectl/tests/*; do
		case ${t##*/} in
		cachectl_crash*) continue ;;
		*nfs*) [ $pass = nfs ] || continue ;;
		*) [ $pass = other ] || continue ;;
		esac
		[ -x "$t" ] && run_test "guest/${t##*/}" "$t"
	done
done
if [ -f /opt/cachectl/kselftest/list ]; then
	while read -r t; do
		[ -n "$t" ] && run_test "kselftest/cachectl/$t" "./$t" /opt/cachectl/kselftest
	done </opt/cachectl/kselftest/list
fi

# ---------------------------------------------------------------- teardown
td=
ninep_mounted && { umount /mnt/9p || td="$td umount-9p"; }
if nfs_mounted; then
	umount /mnt/nfs || td="$td umount-nfs"
	echo 0 >/proc/fs/nfsd/threads
	umount /srv/nfs || td="$td umount-export"
fi
binder_alive && { cfbind stop || td="$td unbind"; }
sync
cache_mounted && { umount /mnt/cache || td="$td umount-cache"; }
[ "$CACHE_DEV" = /dev/vda ] || losetup -d "$CACHE_DEV" || td="$td losetup-d"
if [ -z "$td" ]; then
	ok "teardown: 9p unmounted, cache unbound, ext4 unmounted"
else
	notok "teardown failed:$td"
	grep -E '/mnt' /proc/mounts | comment
fi
finish
