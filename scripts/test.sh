#!/bin/sh
# The whole test suite: C unit tests (cmocka) and the man page lint via
# `make check`, the integration tests (node's test runner with the official
# socket.io-client against real daemons, a real SQLite file, a real
# PostgreSQL and a real redis-server), then all of it again built with
# ASan+UBSan, and
# `make distcheck`.  Ends with one line "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
top=$(pwd)
sh scripts/deps.sh test || exit 1
[ -x configure ] || ./autogen.sh || exit 1

passed=0
failed=0
count() {	# count LOG: add the pass/fail totals found in a log
	p=$(sed -n 's/^# PASS: *\([0-9]*\)$/\1/p; s/^# pass \([0-9]*\)$/\1/p; s/^ℹ pass \([0-9]*\)$/\1/p' "$1" | awk '{s+=$1} END {print s+0}')
	f=$(sed -n 's/^# FAIL: *\([0-9]*\)$/\1/p; s/^# ERROR: *\([0-9]*\)$/\1/p; s/^# XPASS: *\([0-9]*\)$/\1/p; s/^# fail \([0-9]*\)$/\1/p; s/^ℹ fail \([0-9]*\)$/\1/p' "$1" | awk '{s+=$1} END {print s+0}')
	passed=$((passed + p))
	failed=$((failed + f))
}
step() {	# step NAME CMD...: run, show output, count, note a failure
	name=$1
	shift
	log="$top/build-test/$name.log"
	echo "=== $name"
	"$@" > "$log" 2>&1
	rc=$?
	cat "$log"
	count "$log"
	if [ $rc -ne 0 ]; then
		echo "=== $name: FAILED (exit $rc)"
		if ! grep -qE '^(# FAIL: *[1-9]|# ERROR: *[1-9]|# fail [1-9]|ℹ fail [1-9])' "$log"; then
			failed=$((failed + 1))
		fi
	fi
}
rm -rf build-test
mkdir -p build-test

# 1. The ordinary build, in tree (the integration tests use src/confabd).
[ -f Makefile ] || ./configure --enable-werror || exit 1
make -j"$(nproc)" >build-test/build.log 2>&1 || { cat build-test/build.log; exit 1; }
step unit make -j"$(nproc)" check
(cd tests/js && npm ci --no-audit --no-fund --silent) || exit 1
step integration sh -c "cd tests/js && CONFABD='$top/src/confabd' node --test --test-concurrency=1 --test-reporter=tap *.test.mjs"

# 2. The release tarball builds and passes its own checks (make distcheck
#    builds it out of tree), and leaves the tarball for step 3.
step distcheck make -j"$(nproc)" distcheck

# 3. ASan + UBSan: build the tarball's tree with sanitizers and run
#    everything again against that binary.
tarball=$(ls -t confabd-*.tar.gz 2>/dev/null | head -1)
if [ -z "$tarball" ]; then
	echo "=== asan: no tarball from distcheck"
	failed=$((failed + 1))
else
	mkdir -p build-test/asan
	tar -C build-test/asan -xzf "$tarball"
	asan=$(ls -d build-test/asan/confabd-*)
	(cd "$asan" && ./configure --enable-sanitizers \
	    >configure.log 2>&1 && make -j"$(nproc)" >build.log 2>&1) ||
	    { cat "$asan"/*.log; exit 1; }
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
	export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
	step asan-unit make -C "$asan" -j"$(nproc)" check
	step asan-integration sh -c "cd tests/js && CONFABD='$top/$asan/src/confabd' CF_TEST_ASAN=1 node --test --test-concurrency=1 --test-reporter=tap *.test.mjs"
	unset ASAN_OPTIONS UBSAN_OPTIONS
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
