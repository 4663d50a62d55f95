#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Fail if an option that "cachectl --help" or "cachectl VERB --help" (for
# every verb "cachectl --help" lists) prints is not documented in
# cachectl.1.scd, where every option is written in bold: *-r*, *--recursive*.
#
# usage: check-cli-options.sh CACHECTL_EXE CACHECTL_1_SCD

set -u

if [ $# -ne 2 ]; then
	echo "usage: $0 CACHECTL_EXE CACHECTL_1_SCD" >&2
	exit 2
fi
exe=$1 page=$2

help=$("$exe" --help) || { echo "$exe --help failed" >&2; exit 1; }
# The verbs are the first words of the lines under "Verbs:", up to a blank
# line, so a new verb is checked as soon as "cachectl --help" lists it.
verbs=$(printf '%s\n' "$help" |
	awk '/^Verbs:/ { v = 1; next } /^[[:space:]]*$/ { v = 0 } v { print $1 }')
if [ -z "$verbs" ]; then
	echo "no verbs found in $exe --help" >&2
	exit 1
fi
for verb in $verbs; do
	help="$help
$("$exe" "$verb" --help)" || { echo "$exe $verb --help failed" >&2; exit 1; }
done

# Options are dash words that start the text or follow a blank, a comma,
# '[', '|' or '/': "-r, --recursive", "[--raw]", "--progress/--no-progress".
# Negative numbers in the text ("-1000..1000") are not options; "-0" is.
opts=$(printf '%s\n' "$help" |
	grep -oE '(^|[][[:space:],|/(])--?[A-Za-z0-9][A-Za-z0-9-]*' |
	sed 's/^[^-]*//' | grep -vE '^-[0-9]{2,}$' | sort -u)

fail=0
for o in $opts; do
	if ! grep -qF -- "*$o*" "$page"; then
		echo "option $o (from cachectl --help) is not in $page" >&2
		fail=1
	fi
done
exit $fail
