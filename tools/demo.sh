#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The main job (README): build, start carbon-cache + graphite-web (Debian
# packages, ordinary processes, loopback, data in OUT/graphite) and a real
# collectd in the foreground with vacquery, the csv writer and the shipped
# write_graphite drop-in; feed it a simulated fleet of Vac and Vcycle
# factories with vacquery-send; load the graphite-web dashboards and print
# their URL; write PNGs of the All sites, one Site, one Space and one Factory
# view rendered by graphite-web into OUT/png/; print what arrived per site
# and VO next to what was sent. Everything stops at the end unless KEEP=1
# (then it waits for Ctrl-C with graphite-web up).
# When the built vacquery plugin can poll (its Poll option), the simulated
# Vac factories also answer machines_query (vacquery-send --respond, each
# on its own 127.0.0.N, one machine per factory finishing half-way) and
# collectd polls them (Poll true): the summary then shows the machines by
# state per site that collectd wrote, next to the responders' slots.
# Options via environment: OUT (default ./out), SITES SPACES FACTORIES
# MACHINETYPES FINISHED RATE, DURATION (seconds of sending, default 90),
# GRAPHITE=no (csv only, as before), BUILD (default _build), KEEP=1,
# POLL=no (no responders, no polling).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "${OUT:-$PWD/out}" && cd "${OUT:-$PWD/out}" && pwd)
"$top/tools/install-deps.sh"

build="${BUILD:-$top/_build}"
# Configure once, then always make: a build left from an older checkout is
# brought up to date.
if [ ! -f "$build/Makefile" ]; then
  echo "demo: configuring in $build"
  (cd "$top" && autoreconf -fi >/dev/null 2>&1)
  mkdir -p "$build" && (cd "$build" && "$top/configure" >/dev/null)
fi
echo "demo: building in $build"
make -C "$build" -j"$(nproc)" >/dev/null
graphite=${GRAPHITE:-yes}
py=/usr/bin/python3 # Debian's graphite, carbon and django modules live there

pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
port=$(free_port)
# Polling needs a plugin that knows Poll (collectd-vacquery(5)).
poll=${POLL:-yes}
if [ "$poll" != no ] && ! grep -aq PollPort "$build/.libs/vacquery.so"; then
  echo "demo: this vacquery plugin cannot poll; the fleet is not polled"
  poll=no
fi
# A finished Vac machine waits this long for the machinetype_status that
# names its outcome (collectd-vacquery(5) OutcomeWait) before it counts.
outcome_wait=10
respond=()
poll_conf=""
if [ "$poll" != no ]; then
  rport=$(free_port)
  poll_interval=10
  [ "$graphite" = no ] && poll_interval=5
  poll_conf="  Poll true
  PollPort $rport
  PollInterval $poll_interval"
  respond=(--respond --respond-port "$rport")
fi
rm -rf "$out/csv" "$out/png" && mkdir -p "$out/csv"

include=""
if [ "$graphite" != no ]; then
  rm -rf "$out/graphite" && mkdir -p "$out/graphite"
  # The shipped carbon snippets, with 10-s points instead of 60-s ones so
  # that a 90-s demo draws curves rather than single points.
  sed 's/^retentions = .*/retentions = 10s:1d/' "$top/etc/carbon/storage-schemas.conf" \
    >"$out/graphite/schemas.conf"
  echo "demo: starting carbon-cache and graphite-web in $out/graphite"
  "$py" "$top/tests/e2e/graphite_stack.py" serve "$out/graphite/stack" \
    --schemas "$out/graphite/schemas.conf" \
    --aggregation "$top/etc/carbon/storage-aggregation.conf" \
    --graphite-web-fix \
    --env-file "$out/graphite/env" >"$out/graphite/stack.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 150); do [ -f "$out/graphite/env" ] && break; sleep 0.2; done
  [ -f "$out/graphite/env" ] || { cat "$out/graphite/stack.log"; exit 1; }
  # shellcheck disable=SC1091
  . "$out/graphite/env"
  # The shipped drop-in; only its EDIT lines change (csv is the other
  # writer), and vacquery values go to csv too, for the summary at the end.
  sed -e '/# EDIT/s/Host "[^"]*"/Host "127.0.0.1"/' \
    -e '/Plugin "write_graphite\/vacmon"/a\      Plugin "csv"' \
    -e "/# EDIT/s/Port \"[^\"]*\"/Port \"$CARBON_PORT\"/" \
    -e '/# EDIT/s/Plugin "rrdtool"/Plugin "csv"/' \
    "$top/etc/collectd.d/vacquery_graphite.conf" >"$out/vacquery_graphite.conf"
  include="PluginDir \"/usr/lib/collectd\"
Include \"$out/vacquery_graphite.conf\""
fi

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
  OutcomeWait $outcome_wait
$poll_conf
</Plugin>
$include
CONF

echo "demo: collectd -f -C $out/collectd.conf (vacquery on 127.0.0.1:$port, csv in $out/csv)"
: >"$out/collectd.log"
collectd -f -C "$out/collectd.conf" &
pids=($! "${pids[@]}")
for _ in $(seq 50); do grep -q "Initialization complete" "$out/collectd.log" && break; sleep 0.2; done
grep -q "Initialization complete" "$out/collectd.log" || { cat "$out/collectd.log"; exit 1; }

fleet=(--sites "${SITES:-3}" --spaces "${SPACES:-2}" --factories "${FACTORIES:-4}"
  --machinetypes "${MACHINETYPES:-3}" --finished "${FINISHED:-2}")
if [ "$graphite" != no ]; then
  # About one cycle every 10 s for DURATION seconds: Graphite gets a
  # history; the summary counts every cycle's finished machines.
  duration=${DURATION:-90}
  per_cycle=$(( ${SITES:-3} * ${SPACES:-2} * ${FACTORIES:-4} * (1 + ${MACHINETYPES:-3} + ${FINISHED:-2}) ))
  rate=$(( per_cycle / 10 > 0 ? per_cycle / 10 : 1 ))
  [ "$poll" != no ] && respond+=(--finish-after "$((duration / 2))")
  echo "demo: sending a simulated fleet for $duration s ($per_cycle messages a cycle, $rate/s)${respond:+, answering machines_query on 127.0.0.2... port $rport}"
  "$build/tools/vacquery-send" -H 127.0.0.1 -p "$port" --fleet "${fleet[@]}" \
    --duration "$duration" --rate "$rate" "${respond[@]}" --summary-file "$out/sent.txt" |
    grep -E '^(sent_|send_errors|rate_achieved|responder_)'
else
  # With responders: the cycles go out first, then the factories answer
  # three poll rounds (one machine per factory finishing after the first).
  [ "$poll" != no ] && respond+=(--finish-after 8 --duration 20)
  echo "demo: sending a simulated fleet${respond:+, answering machines_query on 127.0.0.2... port $rport}"
  "$build/tools/vacquery-send" -H 127.0.0.1 -p "$port" --fleet "${fleet[@]}" \
    --cycles "${CYCLES:-3}" --rate "${RATE:-500}" "${respond[@]}" --summary-file "$out/sent.txt" |
    grep -E '^(sent_|send_errors|rate_achieved|responder_)'
fi
# Vac's finished machines wait OutcomeWait for their code, then two read
# intervals: counters and totals reach the writers.
sleep $((outcome_wait + 5))

if [ "$graphite" != no ]; then
  loader="$top/graphs/graphite/vacmon-graphite"
  "$py" "$loader" load "$GRAPHITE_URL" --instantiate | sed 's/^/demo: graphite-web: /'
  first=$("$py" - "$GRAPHITE_URL" <<'PY'
import json, sys, urllib.request, urllib.parse
q = urllib.parse.urlencode({"query": "vac.*.vacquery.*.*.vacquery_factory"})
r = json.load(urllib.request.urlopen(sys.argv[1] + "/metrics/expand?" + q))["results"]
p = sorted(r)[0].split(".")
print(p[1], p[3], p[4])
PY
  ) || first=""
  mkdir -p "$out/png"
  if [ -n "$first" ]; then
    read -r site space factory <<<"$first"
    from="-$((${DURATION:-90} / 60 + 2))min"
    for v in "all" "site $site" "space $site.vacquery.$space" \
      "factory $site.vacquery.$space.$factory"; do
      set -- $v
      "$py" "$loader" render "$GRAPHITE_URL" "$@" "$out/png/vacmon-$1.png" \
        --from="$from" --bucket 30s | sed 's/^/demo: /'
    done
    echo "demo: graphite-web: $GRAPHITE_URL/dashboard/vacmon-all"
    echo "demo:   site:    $GRAPHITE_URL/dashboard/vacmon-site/$site"
    echo "demo:   space:   $GRAPHITE_URL/dashboard/vacmon-space/$site.vacquery.$space"
    echo "demo:   factory: $GRAPHITE_URL/dashboard/vacmon-factory/$site.vacquery.$space.$factory"
  else
    echo "demo: no factory reached Graphite (see $out/collectd.log)"
  fi
fi

echo
"$top/tools/vacquery-summary" "$out/csv" "$out/sent.txt"

if [ "$graphite" != no ] && [ "${KEEP:-0}" = 1 ]; then
  echo
  echo "demo: KEEP=1: graphite-web stays at $GRAPHITE_URL; Ctrl-C stops everything"
  while kill -0 "${pids[-1]}" 2>/dev/null; do sleep 1; done
fi
