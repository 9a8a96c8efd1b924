#!/bin/sh
# check-layers.sh -- the include graph of src/ obeys the layer rules of
# HACKING.md ("Layers"): a folder includes only headers of its own rank or
# below, no two folders include each other, directly or around a loop, no
# two files of a folder either, and
# the master includes nothing of the worker's layers (it knows the worker
# through ipc.h only, a library-level header).
# Run by `make check`; prints each offending #include and exits 1.
set -u
src="${CF_TEST_SRCDIR:-${srcdir:-.}}/src"

rank() {	# rank FOLDER: its layer (0 libraries ... 6 main)
	case $1 in
	eio) echo 1 ;;
	fanout) echo 2 ;;
	app) echo 3 ;;
	worker) echo 4 ;;
	master) echo 5 ;;
	main|ctl) echo 6 ;;
	*) echo 0 ;;
	esac
}

folder() {	# folder PATH (relative to src): its node in the graph
	case $1 in
	main.c) echo main ;;
	*/*) echo "${1%%/*}" ;;
	*) echo . ;;
	esac
}

edges=$(mktemp)
trap 'rm -f "$edges"' EXIT
bad=0
for f in $(cd "$src" && find . -name '*.[ch]' | sed 's#^\./##' | sort); do
	from=$(folder "$f")
	for h in $(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$src/$f"); do
		to=$(folder "$h")
		[ "$from" = "$to" ] && continue
		echo "$from $to" >>"$edges"
		if [ "$(rank "$to")" -gt "$(rank "$from")" ]; then
			echo "upward include: src/$f includes $h ($from -> $to)"
			bad=1
		fi
		if [ "$from" = master ] && [ "$(rank "$to")" -gt 0 ]; then
			echo "master includes a worker layer: src/$f includes $h"
			bad=1
		fi
	done
done
# tsort fails on a loop and names its members.
if ! sort -u "$edges" | tsort >/dev/null 2>"$edges.err"; then
	cat "$edges.err"
	bad=1
fi
# Inside each folder, the files' modules (a .c and its .h; x_int.h, a
# module's private header, is part of x) include each other without a
# loop too.
for d in $(cd "$src" && find . -mindepth 1 -type d | sed 's#^\./##' | sort); do
	: >"$edges"
	for f in "$src/$d"/*.[ch]; do
		[ -e "$f" ] || continue
		from=$(basename "$f" | sed 's/\.[ch]$//; s/_int$//')
		for h in $(sed -n "s#^\#include \"$d/\([^\"]*\)\\.h\".*#\\1#p" "$f"); do
			to=$(echo "$h" | sed 's/_int$//')
			[ "$from" = "$to" ] || echo "$from $to" >>"$edges"
		done
	done
	if ! sort -u "$edges" | tsort >/dev/null 2>"$edges.err"; then
		echo "src/$d: a loop between its files:"
		cat "$edges.err"
		bad=1
	fi
done
rm -f "$edges.err"
[ $bad -eq 0 ] && echo "layers: no upward include, no loop between folders or files"
exit $bad
