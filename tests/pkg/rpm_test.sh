#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The EL9 build path, tested on Debian 12 (tools/run-tests.sh; RPM=no skips):
#  1. the upstream collectd 5.12.0 source: Debian's collectd_5.12.0.orig.tar.xz
#     (a git archive of the tag collectd-5.12.0), fetched with
#     `apt-get source --download-only` through a private apt configuration
#     whose deb-src entries are made from the system's apt sources (nothing
#     under /etc/apt changes); its ./build.sh and ./configure run once, only
#     for src/config.h; all of this is cached in $VACMON_RPM_CACHE;
#  2. ./configure --with-collectd-src=that tree builds with -Werror against
#     its headers, not Debian's, and Debian's collectd 5.12 loads the plugins
#     (collectd -T) and stores the values of a simulated fleet sent to
#     vacquery by UDP (csv);
#  3. pkg/rpm/collectd-vacmon.spec: rpmspec -P, rpmlint, then
#     `rpmbuild -ta --nodeps` on the `make dist` tarball with the EL9 macros
#     set explicitly; the RPMs' file lists, flags and requirements, and a
#     collectd -T on their unpacked files read the way EL9's collectd.conf
#     reads /etc/collectd.d (Include without Filter).
# Prints "rpm: N passed, M failed".
set -u
top=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
cache=${VACMON_RPM_CACHE:-${TMPDIR:-/tmp}/collectd-vacmon-rpm-cache}
collectd=${COLLECTD:-/usr/sbin/collectd}
cver=5.12.0
ok=0 bad=0
check() { # check NAME STATUS [DETAIL]: counts and prints one assertion
  if [ "$2" -eq 0 ]; then ok=$((ok + 1)); echo "PASS $1"
  else bad=$((bad + 1)); echo "FAIL $1${3:+: $3}"; fi
}
finish() { # prints the tally and exits with its status
  echo "rpm: $ok passed, $bad failed"
  [ "$bad" -eq 0 ] && [ "$ok" -gt 0 ]
  exit $?
}
tmp=$(mktemp -d)
cpid=
cleanup() { # stops the collectd this script started, removes the temp dir
  [ -n "$cpid" ] && kill "$cpid" 2>/dev/null && wait "$cpid" 2>/dev/null
  if [ -n "${RPM_KEEP:-}" ] && [ -d "$tmp/rpmbuild" ]; then # RPM_KEEP=DIR keeps the RPMs
    mkdir -p "$RPM_KEEP" && cp -r "$tmp/rpmbuild/RPMS" "$tmp/rpmbuild/SRPMS" "$RPM_KEEP/"
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# --- 1. collectd 5.12.0 source, configured for its config.h (cached) ------
fetch_orig() { # fetches collectd_$cver.orig.tar.xz into $cache/src
  local apt="$cache/apt" f opts
  [ -s "$cache/src/collectd_$cver.orig.tar.xz" ] && return 0
  rm -rf "$apt" && mkdir -p "$apt/sources.list.d" "$apt/lists/partial" "$cache/src" || return 1
  : >"$apt/sources.list"
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && sed 's/^Types:.*/Types: deb-src/' "$f" >"$apt/sources.list.d/$(basename "$f")"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] && sed -n 's/^deb[[:space:]]/deb-src /p' "$f" >>"$apt/sources.list"
  done
  opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o "Dir::Etc::SourceParts=$apt/sources.list.d"
    -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o APT::Sandbox::User=root)
  apt-get "${opts[@]}" update >"$cache/apt-update.log" 2>&1 || { tail -5 "$cache/apt-update.log"; return 1; }
  # The Debian diff may be missing from the archive: only the orig is needed.
  (cd "$cache/src" && apt-get "${opts[@]}" source --download-only collectd \
    >"$cache/apt-source.log" 2>&1)
  [ -s "$cache/src/collectd_$cver.orig.tar.xz" ] || { tail -5 "$cache/apt-source.log"; return 1; }
}
fetch_orig
check "collectd_$cver.orig.tar.xz from Debian's source archive (apt-get source)" $? \
  "no network to deb.debian.org?"
orig="$cache/src/collectd_$cver.orig.tar.xz"
[ -s "$orig" ] || finish

# Source1 of the spec: the same tree under collectd-$cver/ (the release
# tarball's name and top directory; a git archive has no configure, which
# the spec's %build then generates with ./build.sh).
source1="$cache/collectd-$cver.tar.bz2"
if [ ! -s "$source1" ]; then
  rm -rf "$cache/repack" && mkdir -p "$cache/repack" &&
    tar xJf "$orig" -C "$cache/repack" && mv "$cache/repack"/collectd-* "$cache/repack/collectd-$cver" &&
    tar cjf "$source1.t" -C "$cache/repack" "collectd-$cver" && mv "$source1.t" "$source1"
  rm -rf "$cache/repack"
fi
[ -s "$source1" ]
check "Source1 collectd-$cver.tar.bz2 made from the orig tarball" $?

tree="$cache/tree/collectd-$cver"
if [ ! -f "$tree/src/config.h" ]; then
  rm -rf "$cache/tree" && mkdir -p "$cache/tree" && tar xjf "$source1" -C "$cache/tree" &&
    (cd "$tree" && ./build.sh && ./configure --disable-all-plugins \
      $(./configure --help | sed -n 's/^ *--with-\(lib[a-z0-9_]*\).*/--without-\1/p' | sort -u)) \
    >"$cache/tree.log" 2>&1
fi
grep -q '^#define PACKAGE_VERSION "5\.12\.0' "$tree/src/config.h" 2>/dev/null
check "collectd $cver tree configured: src/config.h says 5.12.0" $? "$(tail -5 "$cache/tree.log" 2>/dev/null)"
[ -f "$tree/src/config.h" ] || finish

# --- 2. ./configure --with-collectd-src ------------------------------------
# A tree whose configure has not run is refused with what to do.
mkdir -p "$tmp/bare/src/daemon" "$tmp/bare-build" && cp "$tree/src/daemon/plugin.h" "$tmp/bare/src/daemon/"
(cd "$tmp/bare-build" && "$top/configure" --with-collectd-src="$tmp/bare" >configure.out 2>&1)
rc=$?
[ "$rc" -ne 0 ] && grep -q "run ./configure in $tmp/bare" "$tmp/bare-build/configure.out"
check "configure refuses an unconfigured tree, saying: run ./configure in it" $? \
  "rc=$rc $(tail -2 "$tmp/bare-build/configure.out")"

b="$tmp/build"
mkdir -p "$b" && (cd "$b" && "$top/configure" --enable-werror --with-collectd-src="$tree" \
  >configure.out 2>&1 && make -j2 >make.out 2>&1)
check "configure --with-collectd-src --enable-werror && make" $? \
  "$(tail -8 "$b/make.out" 2>/dev/null || tail -8 "$b/configure.out")"
for p in vacquery write_elasticsearch write_gmond; do
  [ -f "$b/.libs/$p.so" ]
  check "built $p.so" $?
done
deps=$(cat "$b"/plugins/.deps/*.Plo 2>/dev/null)
echo "$deps" | grep -q "$tree/src/daemon/plugin.h" && echo "$deps" | grep -q "$tree/src/config.h"
check "plugins compiled with the tree's daemon/plugin.h and config.h" $?
! echo "$deps" | grep -q '/usr/include/collectd'
check "no header from Debian's collectd-dev (/usr/include/collectd)" $?

# Debian's collectd 5.12 loads the plugins built against the upstream tree.
udp_port() { # prints a UDP port free on 127.0.0.1
  python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
port=$(udp_port)
mkdir -p "$tmp/run/csv"
cat >"$tmp/run/collectd.conf" <<EOF
Hostname "receiver"
FQDNLookup false
Interval 1
BaseDir "$tmp/run"
PIDFile "$tmp/run/collectd.pid"
TypesDB "/usr/share/collectd/types.db"
PluginDir "/usr/lib/collectd"
LoadPlugin logfile
<Plugin logfile>
  LogLevel info
  File "$tmp/run/collectd.log"
</Plugin>
LoadPlugin csv
<Plugin csv>
  DataDir "$tmp/run/csv"
</Plugin>
PluginDir "$b/.libs"
LoadPlugin vacquery
<Plugin vacquery>
  Listen "127.0.0.1" "$port"
</Plugin>
LoadPlugin write_elasticsearch
<Plugin write_elasticsearch>
  <Node "es">
    URL "http://127.0.0.1:9"
    SpoolDir "$tmp/run/spool"
  </Node>
</Plugin>
EOF
"$collectd" -T -C "$tmp/run/collectd.conf" >"$tmp/run/T.log" 2>&1
rc=$?
[ "$rc" -eq 0 ] && ! grep -q -i 'dlopen\|undefined symbol' "$tmp/run/T.log" "$tmp/run/collectd.log"
check "Debian's collectd -T loads vacquery.so and write_elasticsearch.so" $? \
  "rc=$rc $(cat "$tmp/run/T.log"; grep -i -m3 'error\|dlopen' "$tmp/run/collectd.log")"
# write_gmond needs a gmond.conf; loading it proves its symbols resolve.
printf 'PluginDir "%s"\nLoadPlugin logfile\n<Plugin logfile>\n  File "%s"\n</Plugin>\nPluginDir "%s"\nLoadPlugin write_gmond\n' \
  /usr/lib/collectd "$tmp/run/gm.log" "$b/.libs" >"$tmp/run/gm.conf"
"$collectd" -T -C "$tmp/run/gm.conf" >"$tmp/run/gmT.log" 2>&1
! grep -q -i 'dlopen\|undefined symbol' "$tmp/run/gmT.log" "$tmp/run/gm.log" 2>/dev/null &&
  grep -q 'write_gmond' "$tmp/run/gm.log" 2>/dev/null
check "Debian's collectd loads write_gmond.so (dlopen, module_register)" $? \
  "$(cat "$tmp/run/gmT.log"; head -5 "$tmp/run/gm.log" 2>/dev/null)"

: >"$tmp/run/collectd.log"
"$collectd" -f -C "$tmp/run/collectd.conf" >"$tmp/run/f.log" 2>&1 &
cpid=$!
for _ in $(seq 100); do
  grep -q -E "127\.0\.0\.1.*$port|$port.*127\.0\.0\.1" <(ss -uln 2>/dev/null) && break
  sleep 0.1
done
"$b/tools/vacquery-send" --quiet -p "$port" --fleet --cycles 1 --sites 1 --spaces 1 --factories 1
found=
for _ in $(seq 100); do
  found=$(find "$tmp/run/csv/UKI-SIM-SITE-1" -path '*/vacquery-*/vacquery_factory-*' 2>/dev/null | head -1)
  [ -n "$found" ] && break
  sleep 0.1
done
[ -n "$found" ]
check "a fleet datagram to vacquery.so (upstream headers) stored by csv as UKI-SIM-SITE-1/vacquery-<space>.<factory>/vacquery_factory" $? \
  "$(ls -R "$tmp/run/csv" | head; tail -5 "$tmp/run/collectd.log")"
kill "$cpid" 2>/dev/null && wait "$cpid" 2>/dev/null
cpid=

make -s -C "$b" dist >"$b/dist.out" 2>&1
tarball=$(ls "$b"/collectd-vacmon-*.tar.gz 2>/dev/null | head -1)
[ -n "$tarball" ]
check "make dist" $? "$(tail -5 "$b/dist.out")"
[ -n "$tarball" ] || finish
version=$(sed -n "s/^PACKAGE_VERSION = //p" "$b/Makefile")

# --- 3. The spec -----------------------------------------------------------
spec="$top/pkg/rpm/collectd-vacmon.spec"
tar tzf "$tarball" | grep -q -x "collectd-vacmon-$version/pkg/rpm/collectd-vacmon.spec"
check "the tarball carries pkg/rpm/collectd-vacmon.spec (rpmbuild -ta)" $?
# EL9's paths, set explicitly (Debian's rpm has other defaults, e.g.
# _sharedstatedir /usr/com, and no dist tag).
el9=(--define "dist .el9" --define "_prefix /usr" --define "_exec_prefix /usr"
  --define "_bindir /usr/bin" --define "_lib lib64" --define "_libdir /usr/lib64"
  --define "_sysconfdir /etc" --define "_datadir /usr/share" --define "_localstatedir /var"
  --define "_sharedstatedir /var/lib" --define "_mandir /usr/share/man"
  --define "_docdir /usr/share/doc" --define "_defaultdocdir /usr/share/doc"
  --define "_pkgdocdir %{_docdir}/%{name}" --define "_docdir_fmt %%{NAME}" \
  --define "_defaultlicensedir /usr/share/licenses" --define "_rundir /run")
# EL9's /bin/sh is bash: Debian's dash cannot run rpm's brp-compress and
# brp-strip* (`read -d`), which would leave man pages uncompressed and ELF
# files unstripped.
el9+=(--define "_buildshell /bin/bash"
  --define "__brp_compress /bin/bash %{_rpmconfigdir}/brp-compress %{?_prefix}"
  --define "__brp_strip /bin/bash %{_rpmconfigdir}/brp-strip %{__strip}"
  --define "__brp_strip_static_archive /bin/bash %{_rpmconfigdir}/brp-strip-static-archive %{__strip}"
  --define "__brp_strip_comment_note /bin/bash %{_rpmconfigdir}/brp-strip-comment-note %{__strip} %{__objdump}")
rpmspec -P "${el9[@]}" "$spec" >"$tmp/spec.parsed" 2>&1
check "rpmspec -P parses the spec" $? "$(tail -3 "$tmp/spec.parsed")"
[ "$(sed -n 's/^Version:[[:space:]]*//p' "$tmp/spec.parsed")" = "$version" ]
check "spec Version = configure's version ($version)" $?
grep -q -x 'License:[[:space:]]*MIT' "$tmp/spec.parsed"
check "spec License: MIT" $?
rpmlint "$spec" >"$tmp/rpmlint-spec.log" 2>&1
grep -q ' 0 errors' "$tmp/rpmlint-spec.log"
check "rpmlint on the spec: 0 errors" $? "$(grep -E ' E: ' "$tmp/rpmlint-spec.log")"
grep -E ' (W|E): ' "$tmp/rpmlint-spec.log" | sed 's/^/  rpmlint: /'

rb="$tmp/rpmbuild"
mkdir -p "$tmp/sources" && cp "$tarball" "$source1" "$tmp/sources/"
# EL9 builds debuginfo subpackages with its own tools (find-debuginfo);
# Debian's rpm has none, so none are asked for here.
rpmbuild -ta --nodeps "${el9[@]}" --define "_topdir $rb" --define "debug_package %{nil}" \
  "$tmp/sources/$(basename "$tarball")" >"$tmp/rpmbuild.log" 2>&1
check "rpmbuild -ta --nodeps (EL9 macros): %build, %install, %check (unit tests)" $? \
  "$(grep -E 'error|FAIL' "$tmp/rpmbuild.log" | tail -8; tail -5 "$tmp/rpmbuild.log")"
grep -E '^# (TOTAL|PASS|FAIL):' "$tmp/rpmbuild.log" | sed 's/^/  %check: /'
arch=$(rpm --eval '%{_arch}')
rel="1.el9"
main="$rb/RPMS/$arch/collectd-vacmon-$version-$rel.$arch.rpm"
es="$rb/RPMS/$arch/collectd-vacmon-elasticsearch-$version-$rel.$arch.rpm"
gm="$rb/RPMS/$arch/collectd-vacmon-gmond-$version-$rel.$arch.rpm"
for r in "$main" "$es" "$gm" "$rb/SRPMS/collectd-vacmon-$version-$rel.src.rpm"; do
  [ -f "$r" ]
  check "built ${r##*/}" $?
done
[ -f "$main" ] && [ -f "$es" ] && [ -f "$gm" ] || finish

files() { rpm -qlp "$1" 2>/dev/null; }
has() { # has RPM FILE...: every FILE is in RPM's file list
  local r=$1 f miss=; shift
  for f in "$@"; do files "$r" | grep -q -x -F "$f" || miss="$miss $f"; done
  [ -z "$miss" ] || { echo "  missing:$miss"; return 1; }
}
has "$main" /usr/lib64/collectd/vacquery.so /etc/collectd.d/vacquery.conf /usr/bin/vacquery-send \
  /usr/bin/vacquery-summary /usr/share/collectd-vacmon/vacquery_types.db \
  /usr/share/licenses/collectd-vacmon/LICENSE /usr/share/doc/collectd-vacmon/README.md \
  /usr/share/doc/collectd-vacmon/examples/vacquery_graphite.conf \
  /usr/share/doc/collectd-vacmon/examples/vacquery_write_http.conf \
  /usr/share/doc/collectd-vacmon/examples/vacquery_threshold.conf \
  /usr/share/doc/collectd-vacmon/examples/vac_factory_virt.conf \
  /usr/share/collectd-vacmon/grafana/dashboards/vacmon-all.json \
  /usr/share/collectd-vacmon/graphite/dashboards/vacmon-all.json \
  /usr/share/man/man5/collectd-vacquery.5.gz /usr/share/man/man1/vacquery-send.1.gz
check "main package: vacquery.so, drop-in, vacquery-send, types.db, licence, dashboards, man pages at EL9 paths" $?
has "$es" /usr/lib64/collectd/write_elasticsearch.so \
  /usr/share/doc/collectd-vacmon/examples/write_elasticsearch.conf \
  /usr/share/collectd-vacmon/elasticsearch/vacmon-metrics.json \
  /usr/share/man/man5/collectd-write_elasticsearch.5.gz
check "-elasticsearch: write_elasticsearch.so, example, templates, man page" $?
has "$gm" /usr/lib64/collectd/write_gmond.so /usr/share/doc/collectd-vacmon/examples/write_gmond.conf \
  /usr/share/collectd-vacmon/ganglia/vacquery_site_report.json /usr/share/man/man5/collectd-write_gmond.5.gz
check "-gmond: write_gmond.so, example, ganglia-web reports, man page" $?

all=$(for r in "$main" "$es" "$gm"; do files "$r"; done)
# (/usr/lib/.build-id/: rpm's links to the ELF files, as on EL9.)
bad_paths=$(echo "$all" | grep -v '^/usr/lib/\.build-id' |
  grep -E '^/usr/local|^/usr/lib/|^/etc/collectd/|\.la$|^/usr/com')
[ -z "$bad_paths" ]
check "no Debian or /usr/local path, no .la file" $? "$bad_paths"
etcf=$(echo "$all" | grep '^/etc/')
[ "$etcf" = /etc/collectd.d/vacquery.conf ]
check "under /etc: /etc/collectd.d/vacquery.conf only (only *.conf in /etc/collectd.d)" $? "$etcf"
so=$(echo "$all" | grep '\.so$' | sort | tr '\n' ' ')
[ "$so" = "/usr/lib64/collectd/vacquery.so /usr/lib64/collectd/write_elasticsearch.so /usr/lib64/collectd/write_gmond.so " ]
check "plugins in /usr/lib64/collectd" $? "$so"

flags=$(rpm -qp --qf '[%{FILEFLAGS:fflags} %{FILENAMES}\n]' "$main")
echo "$flags" | grep -q -E '^[a-z]*c[a-z]*n[a-z]* /etc/collectd.d/vacquery.conf$'
check "vacquery.conf is %config(noreplace)" $? "$(echo "$flags" | grep /etc/)"
echo "$flags" | grep -q -E '^[a-z]*l[a-z]* /usr/share/licenses/collectd-vacmon/LICENSE$'
check "LICENSE is %license" $?
lic=$(rpm -qp --qf '%{LICENSE} ' "$main" "$es" "$gm")
[ "$lic" = "MIT MIT MIT " ]
check "License: MIT in every package" $? "$lic"
isa=$(rpm --eval '%{?_isa}')
req() { rpm -qp --requires "$1" 2>/dev/null; }
req "$main" | grep -q -x -F "collectd$isa"
check "main Requires: collectd$isa" $? "$(req "$main" | tr '\n' ' ')"
for r in "$es" "$gm"; do
  req "$r" | grep -q -x -F "collectd$isa" &&
    req "$r" | grep -q -x -F "collectd-vacmon$isa = $version-$rel"
  check "${r##*/}: Requires collectd$isa and collectd-vacmon$isa = $version-$rel" $? \
    "$(req "$r" | tr '\n' ' ')"
done

# The packages' files, unpacked, read as EL9's collectd reads them.
root="$tmp/root"
mkdir -p "$root"
for r in "$main" "$es" "$gm"; do (cd "$root" && rpm2cpio "$r" | cpio -idm --quiet); done
active=$(grep -l -E '^[[:space:]]*LoadPlugin' "$root"/etc/collectd.d/* 2>/dev/null | sed "s|^$root||")
[ "$active" = /etc/collectd.d/vacquery.conf ]
check "only vacquery.conf in /etc/collectd.d has active LoadPlugin lines" $? "$active"
for f in vacquery_graphite vacquery_write_http vacquery_threshold write_elasticsearch write_gmond; do
  grep -q -E '^[[:space:]]*LoadPlugin' "$root/usr/share/doc/collectd-vacmon/examples/$f.conf"
  check "example $f.conf loads its plugin once copied into /etc/collectd.d" $?
done
head -1 "$root/usr/bin/vacquery-summary" | grep -q -x '#!/usr/bin/python3'
check "vacquery-summary: #!/usr/bin/python3 (no env shebang)" $?
port=$(udp_port)
sed -i "s|^#  Listen .*|  Listen \"127.0.0.1\" \"$port\"|" "$root/etc/collectd.d/vacquery.conf"
printf 'BaseDir "%s"\nPIDFile "%s/pid"\nPluginDir "%s"\nInclude "%s"\n' \
  "$tmp/run" "$tmp/run" "$root/usr/lib64/collectd" "$root/etc/collectd.d" >"$tmp/el9.conf"
"$collectd" -T -C "$tmp/el9.conf" >"$tmp/el9.log" 2>&1
check "collectd -T: Include \"/etc/collectd.d\" without Filter, the RPMs' vacquery.so" $? \
  "$(head -5 "$tmp/el9.log")"

# Filtered: the errors that only Debian's rpmlint defaults raise
# (tests/pkg/debian.rpmlintrc says which and why).
rpmlint -r "$top/tests/pkg/debian.rpmlintrc" "$main" "$es" "$gm" >"$tmp/rpmlint-rpms.log" 2>&1
grep -E ' (W|E): ' "$tmp/rpmlint-rpms.log" | sed 's/^/  rpmlint: /'
grep -q ' 0 errors' "$tmp/rpmlint-rpms.log"
check "rpmlint on the RPMs: 0 errors" $? "$(tail -1 "$tmp/rpmlint-rpms.log")"

finish
