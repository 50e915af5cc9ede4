#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs the Debian 12 packages that building, testing and the demo need.
# Run as root (apt-get); does nothing when everything is already installed.
set -euo pipefail
pkgs=(
  build-essential autoconf automake libtool pkg-config   # autotools build
  collectd-core collectd-dev libyajl2                    # collectd 5.12, headers, write_http JSON
  libjson-c-dev libcmocka-dev                            # parser, unit tests
  clang clang-format libclang-rt-14-dev valgrind         # fuzzer, sanitizers, valgrind, style
  python3 procps iproute2 openssl                        # e2e harness, ps, ss, test TLS certificates
  libcurl4-openssl-dev                                   # write_elasticsearch
  zlib1g-dev                                             # write_elasticsearch Compress (gzip bodies)
  libganglia1-dev libtirpc-dev ganglia-monitor gmetad rrdtool  # write_gmond, its e2e daemons
  graphite-carbon graphite-web python3-django            # carbon-cache + graphite-web
  carbon-c-relay                                         # Graphite cluster e2e (relay)
  debhelper dpkg-dev fakeroot lintian                    # tests/pkg/deb_test.sh: .debs, lintian
  perl man-db groff-base                                 # pod2man, podchecker, man -l (man pages)
  python3-yaml                                           # Grafana alert rules test
  chromium chromium-driver python3-selenium              # browser test (tests/browser)
  rpm rpm2cpio rpmlint cpio bison flex bzip2 xz-utils    # EL9 spec, collectd source tree (rpm_test.sh)
  libvirt0                                               # collectd's virt plugin; libvirt's test driver (virt_e2e.py)
)
missing=()
# node and npm for the Grafana schema test (any install providing them will do)
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
