#!/bin/sh
# Regenerate the build system from configure.ac and Makefile.am.  Every
# autoconf/automake warning is an error, so that CI (which runs this from
# a fresh clone) sees a new one.
set -e
cd "$(dirname "$0")"
autoreconf -fi -Wall,error
