#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# make check: `make install DESTDIR=...` with the Debian and the EL9 flags of
# README "Install" activates vacquery only. In the drop-in directory there
# are only *.conf files and exactly one of them (vacquery.conf) has active
# LoadPlugin lines; the output drop-ins are inactive examples under
# $docdir/examples; vacquery_types.db is under $datadir; no .la files; and a
# real collectd reading the installed drop-in directory the way each
# distribution's stock collectd.conf does (Debian: Filter "*.conf"; EL9: no
# Filter, every file is parsed as config) accepts it. `make uninstall`
# removes every installed file.
set -u
: "${top_builddir:?run through make check}"
collectd=${COLLECTD:-/usr/sbin/collectd}
ok=0 bad=0
check() { # check NAME CONDITION-STATUS [DETAIL]
  if [ "$2" -eq 0 ]; then ok=$((ok + 1)); echo "PASS $1"
  else bad=$((bad + 1)); echo "FAIL $1${3:+: $3}"; fi
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Which plugins this build made (configure may leave the outputs out).
plugins="vacquery" examples="vacquery_graphite.conf"
for p in write_elasticsearch write_gmond; do
  if [ -e "$top_builddir/.libs/$p.so" ]; then
    plugins="$plugins $p" examples="$examples $p.conf"
  fi
done

# layout NAME LIBDIR PLUGINDIR CONFDIR INCLUDE-FILTER
layout() {
  local name=$1 libdir=$2 plugindir=$3 confdir=$4 filter=$5
  local d="$tmp/$name" p f active others
  make -s -C "$top_builddir" install DESTDIR="$d" prefix=/usr sysconfdir=/etc \
    localstatedir=/var libdir="$libdir" plugindir="$plugindir" \
    collectdconfdir="$confdir" >"$tmp/$name.install.log" 2>&1
  check "$name: make install" $? "$(tail -5 "$tmp/$name.install.log")"

  others=$(find "$d$confdir" -mindepth 1 ! -name '*.conf' | sed "s|^$d||")
  [ -z "$others" ]
  check "$name: only *.conf files in $confdir" $? "$others"
  active=$(grep -l -E '^[[:space:]]*LoadPlugin' "$d$confdir"/* 2>/dev/null | sed "s|^$d||")
  [ "$active" = "$confdir/vacquery.conf" ]
  check "$name: exactly one drop-in with active LoadPlugin, vacquery.conf" $? "$active"
  others=$(cd "$d" && find etc -type f | grep -v -x "${confdir#/}/vacquery.conf")
  [ -z "$others" ]
  check "$name: nothing else installed under /etc" $? "$others"
  [ -z "$(find "$d" -path "$d/usr/local*" -print -quit)" ]
  check "$name: nothing under /usr/local" $?

  for p in $plugins; do
    [ -f "$d$plugindir/$p.so" ]
    check "$name: $plugindir/$p.so" $?
  done
  others=$(find "$d" -name '*.la' | sed "s|^$d||")
  [ -z "$others" ]
  check "$name: no .la files" $? "$others"

  [ -f "$d/usr/share/collectd-vacmon/vacquery_types.db" ]
  check "$name: vacquery_types.db in /usr/share/collectd-vacmon" $?
  for f in $examples; do
    grep -q -E '^[[:space:]]*LoadPlugin' "$d/usr/share/doc/collectd-vacmon/examples/$f" 2>/dev/null
    check "$name: example $f (enabled by copying it) in /usr/share/doc/collectd-vacmon/examples" $?
  done

  # The distribution's stock Include of the drop-in directory.
  if [ -n "$filter" ]; then
    printf 'PluginDir "%s"\n<Include "%s">\n  Filter "%s"\n</Include>\n' \
      "$d$plugindir" "$d$confdir" "$filter" >"$tmp/$name.conf"
  else
    printf 'PluginDir "%s"\nInclude "%s"\n' "$d$plugindir" "$d$confdir" >"$tmp/$name.conf"
  fi
  if [ -x "$collectd" ]; then
    "$collectd" -t -C "$tmp/$name.conf" >"$tmp/$name.t.log" 2>&1
    check "$name: collectd -t accepts the installed drop-in directory" $? \
      "$(head -5 "$tmp/$name.t.log")"
  else
    check "$name: collectd -t (no $collectd)" 1
  fi

  make -s -C "$top_builddir" uninstall DESTDIR="$d" prefix=/usr sysconfdir=/etc \
    localstatedir=/var libdir="$libdir" plugindir="$plugindir" \
    collectdconfdir="$confdir" >"$tmp/$name.uninstall.log" 2>&1
  others=$(find "$d" -type f | sed "s|^$d||")
  [ -z "$others" ]
  check "$name: make uninstall leaves no file" $? "$(echo "$others" | head -5)"
}

layout debian /usr/lib /usr/lib/collectd /etc/collectd/collectd.conf.d '*.conf'
layout el9 /usr/lib64 /usr/lib64/collectd /etc/collectd.d ''

echo "install_test: $ok passed, $bad failed"
[ "$bad" -eq 0 ]
