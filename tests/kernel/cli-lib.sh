# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Shared by the guest's library/CLI tests (guest/cli-*.sh, guest/lib-suite.sh;
# busybox sh). Installed as /opt/cachectl/share/cli-lib.sh by run-kernel-tests
# when it has a build root. Sourced, not run.

n=0 bad=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); bad=1; echo "not ok $n - $*"; }
# check MSG CMD...: one TAP line for the exit status of CMD.
check() { msg=$1; shift; if "$@"; then ok "$msg"; else notok "$msg"; fi; }
diag() { echo "# $*"; }
# Pass a file through as TAP comments.
comment() { sed 's/^/#   /' "$@"; }
skip_all() { echo "1..0 # SKIP $*"; exit 77; }
done_tap() { echo "1..$n"; exit $bad; }

NINEP=${CACHECTL_9P:-/mnt/9p}

# The network filesystems the library and CLI tests run on, one "NAME DIR"
# a line: 9p (the share), and NFS (over loopback, with fsc) when the rig
# mounted it. Both hold guest/share-setup's data.
test_filesystems() {
	echo "9p $NINEP"
	if [ -n "${CACHECTL_NFS:-}" ] && grep -q " $CACHECTL_NFS nfs4 " /proc/mounts; then
		echo "nfs $CACHECTL_NFS"
	fi
}

# Skip unless the rig put cachectl into the initramfs (it needs a build root).
need_cachectl() {
	command -v cachectl >/dev/null 2>&1 ||
		skip_all "${CACHECTL_USERSPACE_WHY:-cachectl is not in the initramfs}"
}
# Skip on the unpatched kernel (empty series): no fcachectl, no kernel pins.
need_kernel_backend() {
	[ "${CACHECTL_SERIES_EMPTY:-0}" != 1 ] ||
		skip_all "empty series: the kernel has no fcachectl()"
}

# Drop page cache, dentries and inodes. Evicting a 9p or NFS inode
# relinquishes its fscache cookie, which commits the object (a tmpfile
# until then) and ends its cache writes; that is asynchronous, hence the
# second round.
settle() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
	usleep 500000
	echo 3 >/proc/sys/vm/drop_caches
	usleep 300000
}

now() { fscobj now; }
# elapsed T0 T1: seconds between two `now` values, 3 decimals.
elapsed() { awk "BEGIN { printf \"%.3f\", $2 - $1 }"; }

# Files of a tree, one a line, sorted.
files_of() { find "$@" -type f | sort; }

# fscobj check on stdin's file list; output "SIZE DATA PIN PATH".
backing() { fscobj check; }

# cachectl's JSON (libsmartcols: one "key": value a line, objects between
# braces) flattened to one line per object: "k=v k=v ... file=PATH", with
# strings unquoted. Good enough for the test's own file names (no spaces,
# quotes or escapes).
json_rows() {
	awk '
	/^[[:space:]]*"[^"]*": / {
		line = $0
		sub(/^[[:space:]]*"/, "", line)
		key = line; sub(/".*/, "", key)
		val = line; sub(/^[^"]*": /, "", val)
		sub(/,[[:space:]]*$/, "", val)
		if (val == "[" || val == "{")
			next
		gsub(/^"|"$/, "", val)
		if (key == "file") file = val
		else row = row " " key "=" val
		next
	}
	/}/ {
		if (file != "" || row != "")
			print substr(row, 2) " file=" file
		file = ""; row = ""
	}'
}

# field ROW KEY: the value of KEY in a json_rows line ("" if absent).
field() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1; }

# Bytes the kernel counts for a file of SIZE bytes: whole pages.
pages_of() { echo $(( ($1 + 4095) / 4096 * 4096 )); }
