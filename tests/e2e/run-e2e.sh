#!/usr/bin/env bash
# End-to-end test of the vacquery plugin with a real collectd (make check).
#
# automake runs this with top_srcdir, top_builddir, VQ_PLUGIN_DIR (the
# directory holding the built vacquery.so) and VQ_SEND (the built
# tools/vacquery-send). Run by hand from a built tree it falls back to the
# in-tree paths. Exit status: 0 pass, 1 fail, 77 skip (no collectd).
set -u

here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$(cd "$here/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${VQ_PLUGIN_DIR:=$top_builddir/.libs}"
: "${VQ_SEND:=$top_builddir/tools/vacquery-send}"
: "${COLLECTD:=/usr/sbin/collectd}"
export top_srcdir top_builddir VQ_PLUGIN_DIR VQ_SEND COLLECTD

if [ ! -x /usr/sbin/collectd ] && [ "$COLLECTD" = /usr/sbin/collectd ]; then
  echo "SKIP: /usr/sbin/collectd not installed (Debian package collectd-core)"
  exit 77
fi
if ! command -v python3 >/dev/null 2>&1; then
  echo "ERROR: python3 is needed to run the end-to-end test"
  exit 99
fi
exec python3 "$top_srcdir/tests/e2e/e2e.py"
