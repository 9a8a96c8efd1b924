#!/bin/sh
# Install the Debian 12 packages confabd needs to build (and, with "test",
# to run its test suite).  Only what is missing is installed.
set -eu
build="build-essential autoconf automake libtool pkg-config \
libwebsockets-dev libwebsockets-evlib-uv libuv1-dev libjansson-dev \
libsqlite3-dev libjwt-dev libhiredis-dev libmsgpack-dev libcmocka-dev \
uthash-dev libssl-dev libpq-dev libcurl4-openssl-dev"
test="redis-server postgresql mandoc curl chromium python3"
want="$build"
[ "${1:-}" = test ] && want="$want $test"
command -v node >/dev/null 2>&1 || { [ "${1:-}" = test ] && want="$want nodejs npm"; }

missing=""
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
	    missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
