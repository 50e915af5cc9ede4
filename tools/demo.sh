#!/usr/bin/env bash
# The main job (README): build, start a real collectd in the foreground with
# vacquery and the csv writer, feed it a simulated fleet of Vac and Vcycle
# factories with vacquery-send, and print what arrived per site and VO next
# to what was sent. Output (csv files, collectd log, sent summary) goes to
# OUT (default ./out). Options via environment: SITES SPACES FACTORIES
# MACHINETYPES FINISHED CYCLES RATE.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "${OUT:-$PWD/out}" && cd "${OUT:-$PWD/out}" && pwd)
"$top/tools/install-deps.sh"

build="$top/_build"
if [ ! -x "$build/tools/vacquery-send" ] || [ ! -f "$build/.libs/vacquery.so" ]; then
  echo "demo: building in $build"
  (cd "$top" && autoreconf -fi >/dev/null 2>&1)
  mkdir -p "$build" && cd "$build"
  "$top/configure" >/dev/null && make -j"$(nproc)" >/dev/null
  cd - >/dev/null
fi

port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
rm -rf "$out/csv" && mkdir -p "$out/csv"
cat >"$out/collectd.conf" <<CONF
Hostname "vacmon-demo"
FQDNLookup false
Interval 2
BaseDir "$out"
PIDFile "$out/collectd.pid"
TypesDB "/usr/share/collectd/types.db"
PluginDir "/usr/lib/collectd"
LoadPlugin logfile
<Plugin logfile>
  LogLevel info
  File "$out/collectd.log"
  Timestamp true
</Plugin>
LoadPlugin csv
<Plugin csv>
  DataDir "$out/csv"
  StoreRates false
</Plugin>
PluginDir "$build/.libs"
LoadPlugin vacquery
<Plugin vacquery>
  Listen "127.0.0.1" "$port"
  RateLimit 0
  ReportInterval 60
</Plugin>
CONF

echo "demo: collectd -f -C $out/collectd.conf (vacquery on 127.0.0.1:$port, csv in $out/csv)"
: >"$out/collectd.log"
collectd -f -C "$out/collectd.conf" &
cpid=$!
trap 'kill $cpid 2>/dev/null; wait $cpid 2>/dev/null || true' EXIT
for _ in $(seq 50); do grep -q "Initialization complete" "$out/collectd.log" && break; sleep 0.2; done
grep -q "Initialization complete" "$out/collectd.log" || { cat "$out/collectd.log"; exit 1; }

echo "demo: sending a simulated fleet"
"$build/tools/vacquery-send" -H 127.0.0.1 -p "$port" --fleet \
  --sites "${SITES:-3}" --spaces "${SPACES:-2}" --factories "${FACTORIES:-4}" \
  --machinetypes "${MACHINETYPES:-3}" --finished "${FINISHED:-2}" \
  --cycles "${CYCLES:-3}" --rate "${RATE:-500}" --summary-file "$out/sent.txt" |
  grep -E '^(sent_|send_errors|rate_achieved)'
sleep 5   # two read intervals: counters and totals reach the csv files

echo
"$top/tools/vacquery-summary" "$out/csv" "$out/sent.txt"
