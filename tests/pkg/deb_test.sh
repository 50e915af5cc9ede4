#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The Debian packages as a site installs them (tools/run-tests.sh; as root):
#   1. `dpkg-buildpackage -us -uc -b` in a copy of the source tree (the tree
#      stays clean), lintian on the result, and what each package holds;
#   2. collectd-core's stock collectd.conf (a copy whose data directories,
#      BaseDir, PIDFile and the rrdtool and csv DataDir, point into a temp
#      directory; everything else, its Include of
#      /etc/collectd/collectd.conf.d among it, unchanged) run in the
#      foreground BEFORE the packages are installed: which load/cpu/memory
#      files the stock rrdtool writer stores;
#   3. `apt-get install ./*.deb`, the same configuration again: vacquery
#      (loaded by the packaged drop-in only) listens on UDP 8884, a fleet
#      sent with the packaged vacquery-send is stored by the stock rrdtool
#      writer, and every load/cpu/memory file of step 2 is stored and
#      updated again;
#   4. enabling write_elasticsearch as README "Enabling an output" says
#      (copy its example drop-in; URL: a closed local port): it spools under
#      /var/lib/collectd/write_elasticsearch, which purge must remove;
#   5. `apt-get purge`: no file of the packages remains, /etc/collectd is as
#      it was before, nothing under /var/lib/collectd/write_elasticsearch.
# Refuses to run (fails clearly) when a collectd with the system
# configuration runs, when UDP port 8884 is in use, or when the packages or
# the spool directory are already there: it never touches a live set-up.
# DEBS_FROM=DIR skips step 1's build and takes the .deb files from DIR.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
collectd=/usr/sbin/collectd
pkgs="collectd-vacmon collectd-vacmon-elasticsearch collectd-vacmon-gmond"
spool=/var/lib/collectd/write_elasticsearch
confd=/etc/collectd/collectd.conf.d
es_dropin=$confd/write_elasticsearch.conf
ok=0 bad=0

check() { # check NAME STATUS [DETAIL]: counts and prints one check
  if [ "$2" -eq 0 ]; then ok=$((ok + 1)); echo "PASS $1"
  else bad=$((bad + 1)); echo "FAIL $1${3:+: $3}"; fi
}
summary() { echo "deb: $ok passed, $bad failed"; }
die() { # die MESSAGE: a precondition failed; counts it and stops
  check "$1" 1 "${2:-}"; summary; exit 1
}
apt_get() { # apt_get ARGS...: apt-get as other helpers on this machine expect
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 -y -q "$@"
}
installed() { # installed PKG: status 0 when any state of PKG is on the system
  dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null | grep -q -v -x -E 'not-installed|'
}

[ "$(id -u)" -eq 0 ] || die "runs as root (apt-get install, purge)"
for t in dpkg-buildpackage apt-get rrdtool ss "$collectd"; do
  command -v "$t" >/dev/null || die "needs $t (tools/install-deps.sh)"
done

# ---- preconditions: nothing of a live set-up is touched ----------------
for p in $pkgs; do
  installed "$p" && die "$p is not installed yet" "purge it first: apt-get purge $pkgs"
done
[ -e "$spool" ] && die "$spool does not exist yet" "a site's Elasticsearch spool?"
[ -e "$es_dropin" ] && die "$es_dropin does not exist yet"
sys_pid=$(cat /run/collectd.pid 2>/dev/null)
if [ -n "$sys_pid" ] && kill -0 "$sys_pid" 2>/dev/null; then
  die "no system collectd runs" "PID $sys_pid (/run/collectd.pid): stop it first"
fi
system_collectd() { # prints each collectd reading /etc/collectd/collectd.conf
  # (no -C, or -C that file): it loads the packaged drop-in too. Test
  # collectds with their own -C CONF are no concern.
  local p args
  for p in $(pgrep -x collectd); do
    args=$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)
    case " $args " in
      *" -C /etc/collectd/collectd.conf "*) echo "PID $p: $args" ;;
      *" -C "*) ;;
      *) echo "PID $p: $args" ;;
    esac
  done
}
running=$(system_collectd)
[ -z "$running" ] || die "no collectd with the system configuration runs" "$running"
in_use=$(ss -Hlunp 'sport = :8884')
[ -z "$in_use" ] || die "UDP port 8884 is free" "$in_use"

tmp=$(mktemp -d /tmp/deb_test.XXXXXX)
chmod 755 "$tmp" # apt's _apt user reads the .deb files from here
cpid=""
# Stops our collectd and undoes what this run did: the preconditions hold
# that none of the packages, the spool or the ES drop-in was there before.
cleanup() {
  if [ -n "$cpid" ]; then kill -KILL "$cpid" 2>/dev/null; wait "$cpid" 2>/dev/null; fi
  rm -f "$es_dropin"
  for p in $pkgs; do
    if installed "$p"; then apt_get purge $pkgs >/dev/null 2>&1; break; fi
  done
  rm -rf "$spool" "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

snapshot() { # snapshot: collectd's /etc, plugin and data directories, a line a path
  find /etc/collectd /usr/lib/collectd /var/lib/collectd -printf '%p %y %m\n' 2>/dev/null | sort
  find /etc/collectd -type f -exec md5sum {} + 2>/dev/null | sort
}
snapshot >"$tmp/before.snapshot"

# ---- 1. build, lintian, contents ---------------------------------------
debs=$tmp/debs
mkdir -p "$debs"
if [ -n "${DEBS_FROM:-}" ]; then
  cp "$DEBS_FROM"/collectd-vacmon*_*.deb "$debs"/ 2>/dev/null
  check "the .deb files from DEBS_FROM=$DEBS_FROM" $?
else
  mkdir "$debs/src"
  if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # Tracked and new files, not the build products .gitignore names.
    (cd "$top" && git ls-files -co --exclude-standard -z | tar --null -T - -c) |
      tar -x -C "$debs/src"
  else
    tar -C "$top" --exclude='./_build*' -c . | tar -x -C "$debs/src"
  fi
  (cd "$debs/src" && dpkg-buildpackage -us -uc -b) >"$tmp/build.log" 2>&1
  check "dpkg-buildpackage -us -uc -b" $? "$(tail -20 "$tmp/build.log")"
fi
for p in $pkgs; do
  [ -f "$(echo "$debs/${p}_"*.deb)" ]
  check "package $p built" $?
done
if command -v lintian >/dev/null && [ -z "${DEBS_FROM:-}" ]; then
  lintian --pedantic "$debs"/collectd-vacmon_*.changes >"$tmp/lintian.log" 2>&1
  cat "$tmp/lintian.log"
  ! grep -q '^E: ' "$tmp/lintian.log"
  check "lintian: no errors" $? "$(grep '^E: ' "$tmp/lintian.log" | head -5)"
fi

# contains PKG PATH...: the package's .deb holds each PATH
contains() {
  local p=$1 f list; shift
  list=$(dpkg-deb -c "$debs/${p}_"*.deb | awk '{ print substr($6, 2) }')
  for f in "$@"; do
    echo "$list" | grep -q -x -F "$f"
    check "$p holds $f" $?
  done
}
contains collectd-vacmon /usr/lib/collectd/vacquery.so \
  /etc/collectd/collectd.conf.d/vacquery.conf /usr/bin/vacquery-send \
  /usr/bin/vacquery-summary /usr/share/collectd-vacmon/vacquery_types.db \
  /usr/share/doc/collectd-vacmon/examples/vacquery_graphite.conf \
  /usr/share/doc/collectd-vacmon/examples/vacquery_write_http.conf \
  /usr/share/doc/collectd-vacmon/examples/vacquery_threshold.conf \
  /usr/share/doc/collectd-vacmon/examples/vacmon-relay.conf \
  /usr/share/doc/collectd-vacmon/examples/vac_factory_virt.conf \
  /usr/share/collectd-vacmon/grafana/dashboards/vacmon-all.json \
  /usr/share/collectd-vacmon/graphite/dashboards/vacmon-all.json \
  /usr/share/doc/collectd-vacmon/copyright
contains collectd-vacmon-elasticsearch /usr/lib/collectd/write_elasticsearch.so \
  /usr/share/doc/collectd-vacmon/examples/write_elasticsearch.conf \
  /usr/share/collectd-vacmon/elasticsearch/vacmon-metrics.json
contains collectd-vacmon-gmond /usr/lib/collectd/write_gmond.so \
  /usr/share/doc/collectd-vacmon/examples/write_gmond.conf \
  /usr/share/collectd-vacmon/ganglia/vacquery_site_report.json
for p in $pkgs; do
  etc=$(dpkg-deb -c "$debs/${p}_"*.deb | awk '$1 !~ /^d/ { print substr($6, 2) }' | grep '^/etc/')
  conffiles=$(dpkg-deb --ctrl-tarfile "$debs/${p}_"*.deb | tar -x -O ./conffiles 2>/dev/null)
  if [ "$p" = collectd-vacmon ]; then want=/etc/collectd/collectd.conf.d/vacquery.conf; else want=""; fi
  [ "$etc" = "$want" ]
  check "$p: files under /etc: ${want:-none}" $? "$etc"
  [ "$conffiles" = "$want" ]
  check "$p: conffiles: ${want:-none}" $? "$conffiles"
  dpkg-deb -f "$debs/${p}_"*.deb Depends | grep -q -F 'collectd-core (>= 5.12)'
  check "$p: Depends: collectd-core (>= 5.12)" $?
done

# ---- the stock configuration, data directories in $tmp -----------------
# collectd-core's pristine example (package collectd copies it to
# /etc/collectd/collectd.conf), else the installed one.
stock=/usr/share/doc/collectd-core/examples/collectd.conf
[ -f "$stock" ] || [ -f "$stock.gz" ] || stock=/etc/collectd/collectd.conf
if [ -f "$stock" ]; then cp "$stock" "$tmp/stock.conf"
elif [ -f "$stock.gz" ]; then zcat "$stock.gz" >"$tmp/stock.conf"
else die "collectd-core's stock collectd.conf is there" "neither $stock nor the example"
fi
echo "stock configuration: $stock"
# stock_conf DIR: the stock configuration with its data under DIR
stock_conf() {
  local d=$1
  mkdir -p "$d/var"
  # BaseDir (commented out: the default, /var/lib/collectd), the rrdtool
  # and csv DataDir (any /var/lib/collectd path); PIDFile (absent: the
  # default, /var/run/collectd.pid) after BaseDir.
  sed -e 's|^#BaseDir "/var/lib/collectd"|BaseDir "/var/lib/collectd"|' \
    -e "s|\"/var/lib/collectd|\"$d/var|g" \
    -e "/^BaseDir /a PIDFile \"$d/collectd.pid\"" "$tmp/stock.conf" >"$d/collectd.conf"
}
stock_conf "$tmp/probe"
changed=$(diff "$tmp/stock.conf" "$tmp/probe/collectd.conf" | grep -c '^>')
grep -q -x "BaseDir \"$tmp/probe/var\"" "$tmp/probe/collectd.conf" &&
  grep -q -x "PIDFile \"$tmp/probe/collectd.pid\"" "$tmp/probe/collectd.conf" &&
  grep -q -x "	DataDir \"$tmp/probe/var/rrd\"" "$tmp/probe/collectd.conf" &&
  grep -q -x "<Include \"$confd\">" "$tmp/probe/collectd.conf"
check "the copy points BaseDir, PIDFile, DataDir into $tmp, keeps the Include ($changed lines changed)" $?
system_dirs() { grep -n -v '^[[:space:]]*#' "$1" | grep -E '"/var/(lib|run)/|"/run/'; }
[ -z "$(system_dirs "$tmp/probe/collectd.conf")" ]
check "the copy's active lines name no system data directory" $? \
  "$(system_dirs "$tmp/probe/collectd.conf" | head -3)"

start_collectd() { # start_collectd DIR: collectd -f with DIR/collectd.conf; sets cpid
  "$collectd" -f -C "$1/collectd.conf" >"$1/collectd.out" 2>&1 &
  cpid=$!
}
stop_collectd() { # stop_collectd: SIGTERM to our collectd, SIGKILL after 15 s
  local _
  [ -n "$cpid" ] || return 0
  kill -TERM "$cpid" 2>/dev/null
  for _ in $(seq 150); do kill -0 "$cpid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$cpid" 2>/dev/null
  wait "$cpid" 2>/dev/null
  cpid=""
}
wait_for() { # wait_for SECONDS COMMAND...: status 0 once COMMAND succeeds
  local end=$((SECONDS + $1)); shift
  until "$@"; do [ "$SECONDS" -ge "$end" ] && return 1; sleep 0.5; done
}
rrd_last() { rrdtool last "$1" 2>/dev/null || echo 0; } # last update, Unix s
stock_rrds() { # stock_rrds RRDDIR: the load, cpu and memory files, relative
  (cd "$1" 2>/dev/null && find . -path './*/load/*.rrd' -o -path './*/cpu-*/*.rrd' \
    -o -path './*/memory/*.rrd') | sort
}
has_stock() { stock_rrds "$1" | grep -q /load/ && stock_rrds "$1" | grep -q /cpu-; }

# ---- 2. before: the stock collectd alone -------------------------------
A=$tmp/before
stock_conf "$A"
"$collectd" -t -C "$A/collectd.conf" >"$A/t.out" 2>&1
check "before install: collectd -t accepts the stock configuration" $? "$(head -5 "$A/t.out")"
start_collectd "$A"
wait_for 40 has_stock "$A/var/rrd"
check "before install: the stock rrdtool writer stores load and cpu" $? "$(ls -R "$A/var" 2>&1 | head; cat "$A/collectd.out")"
sleep 12 # every file of the stock read plugins written at least once
stop_collectd
stock_rrds "$A/var/rrd" >"$A/stock.list"
echo "before install: $(wc -l <"$A/stock.list") load/cpu/memory files"
host=$(ls "$A/var/rrd" 2>/dev/null)
[ "$(echo "$host" | wc -l)" -eq 1 ] && [ -n "$host" ]
check "before install: one host directory (collectd's Hostname: $host)" $? "$host"

# ---- 3. install; the same configuration: vacquery and the stock values -
(cd "$debs" && apt_get install --no-install-recommends ./collectd-vacmon_*.deb \
  ./collectd-vacmon-elasticsearch_*.deb ./collectd-vacmon-gmond_*.deb) >"$tmp/install.log" 2>&1
rc=$?
check "apt-get install ./*.deb" $rc "$(tail -10 "$tmp/install.log")"
for p in $pkgs; do
  installed "$p" && dpkg-query -W -f='${db:Status-Abbrev}' "$p" | grep -q '^ii'
  check "$p installed (ii)" $?
  dpkg -L "$p" >"$tmp/$p.files"
done
cat "$tmp"/*.files | sort -u | while read -r f; do [ -d "$f" ] && [ ! -L "$f" ] || echo "$f"; done >"$tmp/files.list"
echo "installed: $(wc -l <"$tmp/files.list") files and symlinks (not directories)"
[ -f "$confd/vacquery.conf" ] && grep -q -x 'LoadPlugin vacquery' "$confd/vacquery.conf"
check "$confd/vacquery.conf installed, active" $?
active=$(grep -l -E '^[[:space:]]*LoadPlugin' "$confd"/* 2>/dev/null)
[ "$active" = "$confd/vacquery.conf" ]
check "the only active drop-in is vacquery.conf (outputs installed inactive)" $? "$active"
running=$(system_collectd)
[ -z "$running" ]
check "installing started no system collectd" $? "$running"

B=$tmp/after
stock_conf "$B"
"$collectd" -t -C "$B/collectd.conf" >"$B/t.out" 2>&1
check "after install: collectd -t accepts the stock configuration" $? "$(head -5 "$B/t.out")"
started=$(date +%s)
start_collectd "$B"
listening() { ss -Hlunp 'sport = :8884' | grep -q "pid=$cpid,"; }
wait_for 20 listening
check "vacquery (from the packaged drop-in) listens on UDP 8884" $? \
  "$(ss -Hlunp 'sport = :8884'; cat "$B/collectd.out")"
/usr/bin/vacquery-send --fleet --host 127.0.0.1 --port 8884 --sites 2 --spaces 2 \
  --factories 3 --machinetypes 3 --finished 1 --rate 500 >"$B/send.out" 2>&1
check "the packaged vacquery-send sends a fleet to 127.0.0.1:8884" $? "$(cat "$B/send.out")"
grep -E '^sent_(messages|factory_status)' "$B/send.out"

# What the fleet is: 2 sites, UKI-SIM-SITE-1 and sim2.example.ac.uk (one
# path node: dots become _), each 2 spaces x 3 factories, 3 machinetypes
# a factory: 12 factory files, 36 machinetype files.
rrd=$B/var/rrd
count() { find "$rrd" -path "$1" | wc -l; }
fleet_stored() { [ "$(count '*/vacquery-*/vacquery_factory.rrd')" -ge 12 ] &&
  [ "$(count '*/vacquery-*/vacquery_mt-*.rrd')" -ge 36 ]; }
wait_for 30 fleet_stored
n_f=$(count '*/vacquery-*/vacquery_factory.rrd') n_mt=$(count '*/vacquery-*/vacquery_mt-*.rrd')
[ "$n_f" -eq 12 ]
check "rrdtool stores vacquery_factory for each of the 12 factories" $? "$n_f"
[ "$n_mt" -eq 36 ]
check "rrdtool stores vacquery_mt for each of the 36 machinetypes" $? "$n_mt"
for site in UKI-SIM-SITE-1 sim2_example_ac_uk; do
  n=$(find "$rrd/$site" -path '*/vacquery-*/vacquery_factory.rrd' 2>/dev/null | wc -l)
  [ "$n" -eq 6 ]
  check "host $site: vacquery-<space>.<factory> for 6 factories" $? "$n"
done
f=$(find "$rrd/UKI-SIM-SITE-1" -path '*/vacquery-*/vacquery_factory.rrd' | sort | head -1)
rrdtool lastupdate "$f" >"$B/lastupdate" 2>&1
awk 'NR == 1 { first = $1 } NR == 3 { exit !(first == "running_processors" && $2 > 0) }' \
  "$B/lastupdate"
check "vacquery_factory.rrd holds running_processors > 0 (${f#"$rrd"/})" $? "$(cat "$B/lastupdate")"

# Every stock file of step 2 stored again and updated while vacquery runs.
wait_for 40 has_stock "$rrd"
sleep 12
declare -A last1
while read -r f; do last1[$f]=$(rrd_last "$rrd/$f"); done <"$A/stock.list"
sleep 12
missing="" stale=""
while read -r f; do
  if [ ! -f "$rrd/$f" ]; then missing="$missing $f"
  elif [ "$(rrd_last "$rrd/$f")" -le "${last1[$f]}" ] ||
    [ "${last1[$f]}" -lt "$started" ]; then stale="$stale $f"; fi
done <"$A/stock.list"
[ -z "$missing" ]
check "every load/cpu/memory file of the stock collectd is stored again ($(wc -l <"$A/stock.list"))" $? "$missing"
[ -z "$stale" ]
check "and updated while vacquery runs (rrdtool last advances)" $? "$stale"
[ -f "$rrd/$host/load/load.rrd" ]
check "load stored where it was: $host/load/load.rrd" $?
[ -n "$(find "$rrd/$host" -path '*/cpu-*/cpu-idle.rrd' -print -quit)" ]
check "cpu stored where it was: $host/cpu-N/cpu-idle.rrd" $?
kill -0 "$cpid" 2>/dev/null
check "collectd still runs" $? "$(tail -5 "$B/collectd.out")"
stop_collectd
[ -z "$(find /var/lib/collectd -newer "$tmp/before.snapshot" -print -quit 2>/dev/null)" ]
check "nothing written under /var/lib/collectd (data in $tmp)" $? \
  "$(find /var/lib/collectd -newer "$tmp/before.snapshot" | head -3)"

# ---- 4. enable write_elasticsearch as the README says: it spools -------
C=$tmp/es
stock_conf "$C"
# A local TCP port nobody listens on: the "cluster" never answers.
closed=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sed "s|URL \"http://127.0.0.1:9200\"|URL \"http://127.0.0.1:$closed\"|" \
  /usr/share/doc/collectd-vacmon/examples/write_elasticsearch.conf >"$es_dropin"
grep -q -x "    URL \"http://127.0.0.1:$closed\"" "$es_dropin"
check "write_elasticsearch enabled: example copied into $confd, URL set" $?
start_collectd "$C"
wait_for 20 listening
/usr/bin/vacquery-send --fleet --sites 1 --spaces 1 --factories 2 --quiet
spooled() { [ -n "$(find "$spool" -type f -size +0 -print -quit 2>/dev/null)" ]; }
wait_for 60 spooled
check "write_elasticsearch spools under $spool while the cluster does not answer" $? \
  "$(ls -lR "$spool" 2>&1 | head -5; tail -5 "$C/collectd.out")"
stop_collectd
rm -f "$es_dropin" # disabled again: the administrator's file, not the package's

# ---- 5. purge ----------------------------------------------------------
apt_get purge $pkgs >"$tmp/purge.log" 2>&1
check "apt-get purge $pkgs" $? "$(tail -10 "$tmp/purge.log")"
for p in $pkgs; do
  ! installed "$p"
  check "$p: nothing left in dpkg (not even config-files)" $? \
    "$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>&1)"
done
left=$(while read -r f; do [ -e "$f" ] || [ -L "$f" ] && echo "$f"; done <"$tmp/files.list")
[ -z "$left" ]
check "none of the $(wc -l <"$tmp/files.list") installed files remains" $? "$(echo "$left" | head -5)"
[ ! -e "$confd/vacquery.conf" ]
check "$confd/vacquery.conf removed" $?
[ ! -e "$spool" ]
check "$spool removed (postrm purge)" $?
[ ! -e /usr/share/collectd-vacmon ] && [ ! -e /usr/share/doc/collectd-vacmon ]
check "/usr/share/collectd-vacmon and /usr/share/doc/collectd-vacmon removed" $?
snapshot >"$tmp/after.snapshot"
diff "$tmp/before.snapshot" "$tmp/after.snapshot" >"$tmp/snapshot.diff"
check "/etc/collectd, /usr/lib/collectd, /var/lib/collectd exactly as before the install" $? "$(head -10 "$tmp/snapshot.diff")"

summary
[ "$bad" -eq 0 ]
