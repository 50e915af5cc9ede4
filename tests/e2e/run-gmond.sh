#!/usr/bin/env bash
# End-to-end test of write_gmond with real gmond, gmetad and collectd
# (make check). automake runs this with top_srcdir, top_builddir,
# VQ_PLUGIN_DIR and VQ_SEND; run by hand from a built tree it falls back to
# the in-tree paths. Exit status: 0 pass, 1 fail, 77 skip (no collectd),
# 99 hard error (python3, gmond, gmetad or rrdtool missing).
set -u

here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$(cd "$here/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${VQ_PLUGIN_DIR:=$top_builddir/.libs}"
: "${VQ_SEND:=$top_builddir/tools/vacquery-send}"
: "${COLLECTD:=/usr/sbin/collectd}"
export top_srcdir top_builddir VQ_PLUGIN_DIR VQ_SEND COLLECTD

if [ ! -x "$COLLECTD" ]; then
  echo "SKIP: $COLLECTD not installed (Debian package collectd-core)"
  exit 77
fi
if ! command -v python3 >/dev/null 2>&1; then
  echo "ERROR: python3 is needed to run the end-to-end test"
  exit 99
fi
exec python3 "$top_srcdir/tests/e2e/gmond_e2e.py"
