#!/bin/sh
# Build confabd and run it in the foreground on port 3001 with the built-in
# defaults: SQLite in ./confab-data, no Redis, a JWT secret generated on
# first run and kept in ./confab-data/jwt-secret, and a development token
# printed on start.  Ctrl-C stops it.
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh
[ -x configure ] || ./autogen.sh
[ -f Makefile ] || ./configure
make -j"$(nproc)"
exec ./src/confabd -f "$@"
