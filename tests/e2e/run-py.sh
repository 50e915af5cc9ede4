#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The log compiler of the Python end-to-end tests (make check: TESTS entries
# ending in .py). automake runs it as `run-py.sh TEST.py` with top_srcdir,
# top_builddir, VQ_PLUGIN_DIR (the directory holding the built plugins) and
# VQ_SEND (the built tools/vacquery-send) in the environment; run by hand
# from a source tree it falls back to the in-tree paths. It runs the test
# with Debian's /usr/bin/python3, where the graphite, carbon and django
# modules live. Exit status: the test's (0 pass, 1 fail), or 99 (hard
# error) when collectd or python3 is missing: tools/install-deps.sh
# installs them.
set -u

here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$(cd "$here/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${VQ_PLUGIN_DIR:=$top_builddir/.libs}"
: "${VQ_SEND:=$top_builddir/tools/vacquery-send}"
: "${COLLECTD:=/usr/sbin/collectd}"
export top_srcdir top_builddir VQ_PLUGIN_DIR VQ_SEND COLLECTD

for f in /usr/bin/python3 "$COLLECTD"; do
  if [ ! -x "$f" ]; then
    echo "ERROR: $f is missing (tools/install-deps.sh installs it)"
    exit 99
  fi
done
exec /usr/bin/python3 "$@"
