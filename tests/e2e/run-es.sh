#!/usr/bin/env bash
# End-to-end test of write_elasticsearch (make check): first the self-test of
# the Elasticsearch-compatible test server, then tests/e2e/es_e2e.py with a
# real collectd, vacquery and vacquery-send.
#
# automake runs this with top_srcdir, top_builddir, VQ_PLUGIN_DIR (the
# directory holding the built vacquery.so and write_elasticsearch.so) and
# VQ_SEND (the built tools/vacquery-send). Exit status: 0 pass, 1 fail,
# 99 hard error (collectd or python3 missing: tools/install-deps.sh installs
# them).
set -u

here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$(cd "$here/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${VQ_PLUGIN_DIR:=$top_builddir/.libs}"
: "${VQ_SEND:=$top_builddir/tools/vacquery-send}"
: "${COLLECTD:=/usr/sbin/collectd}"
export top_srcdir top_builddir VQ_PLUGIN_DIR VQ_SEND COLLECTD

if [ ! -x "$COLLECTD" ]; then
  echo "ERROR: $COLLECTD not installed (Debian package collectd-core)"
  exit 99
fi
if ! command -v python3 >/dev/null 2>&1; then
  echo "ERROR: python3 is needed to run the end-to-end test"
  exit 99
fi
echo "=== test server self-test (tests/es_server/test_es_server.py)"
python3 "$top_srcdir/tests/es_server/test_es_server.py" || exit 1
echo "=== write_elasticsearch end to end (tests/e2e/es_e2e.py)"
exec python3 "$top_srcdir/tests/e2e/es_e2e.py"
