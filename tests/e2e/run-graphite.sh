#!/usr/bin/env bash
# End-to-end test of the Graphite output (make check): carbon-cache,
# graphite-web, collectd with the shipped write_graphite drop-in, and every
# dashboard panel checked through graphite-web's render API.
# Debian's graphite/carbon/django modules need /usr/bin/python3.
set -u
here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$(cd "$here/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${VQ_PLUGIN_DIR:=$top_builddir/.libs}"
: "${VQ_SEND:=$top_builddir/tools/vacquery-send}"
export top_srcdir top_builddir VQ_PLUGIN_DIR VQ_SEND
for f in /usr/bin/python3 /usr/sbin/collectd /usr/bin/carbon-cache \
  /usr/lib/python3/dist-packages/graphite/settings.py; do
  if [ ! -e "$f" ]; then
    echo "ERROR: $f missing (tools/install-deps.sh installs collectd-core graphite-carbon graphite-web)"
    exit 99
  fi
done
exec /usr/bin/python3 "$top_srcdir/tests/e2e/graphite_e2e.py"
