#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""End-to-end test of the shipped write_http drop-in (collectd-vacmon).

A real collectd loads vacquery and the stock write_http with the node of
etc/collectd.d/vacquery_write_http.conf (only its EDIT line, the URL,
changed), posting to an HTTP receiver in this process; tools/vacquery-send
sends a fleet. Checks: every POST is a JSON array; the vacquery value lists
arrive with their identifiers and meta data (raw site, space, factory),
running processors per site equal the sender's summary, finished-machine
notifications arrive with their meta as annotations.

Then beside the Graphite drop-in (etc/collectd.d/vacquery_graphite.conf, its
EDIT lines pointed at a plaintext TCP receiver here and its "others" rule at
the csv writer), with the one line the write_http drop-in documents added to
the chain: vacquery values reach both the Graphite receiver and the HTTP
receiver, collectd's own load values reach neither but are written by csv.

Environment: top_srcdir, top_builddir, VQ_PLUGIN_DIR, VQ_SEND (make check).
Standard library only.
"""

import glob
import os
import re
import socket
import socketserver
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import e2e  # noqa: E402  (helpers only; it runs nothing on import)
from e2e import Checks, Sink, Store, free_udp_port, wait_for  # noqa: E402

TOP_SRCDIR = e2e.TOP_SRCDIR
DROPINS = os.path.join(TOP_SRCDIR, "etc", "collectd.d")
CK = Checks()
log = e2e.log
FLEET = ["--fleet", "--sites", "2", "--spaces", "2", "--factories", "2",
         "--machinetypes", "2", "--finished", "1"]


def dropin(name, edits):
    """The shipped drop-in name with each (regex, replacement) applied once;
    every edit must match."""
    with open(os.path.join(DROPINS, name)) as f:
        text = f.read()
    for rx, rep in edits:
        text, n = re.subn(rx, rep, text, count=1, flags=re.M)
        if n != 1:
            raise RuntimeError("%s: no line matches %r" % (name, rx))
    return text


class GraphiteSink(socketserver.ThreadingTCPServer):
    """Plaintext receiver: keeps every 'path value time' line."""
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        self.lines = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), GraphiteHandler)


class GraphiteHandler(socketserver.StreamRequestHandler):
    def handle(self):
        for raw in self.rfile:
            with self.server.lock:
                self.server.lines.append(raw.decode("utf-8", "replace").strip())


def serve(server):
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def base_conf(d, vq_port, extra):
    return f'''# written by tests/e2e/write_http_e2e.py
Hostname "whttp-e2e"
FQDNLookup false
BaseDir "{d}"
PIDFile "{d}/collectd.pid"
Interval 1
TypesDB "{e2e.STOCK_TYPES_DB}"
PluginDir "{e2e.STOCK_PLUGIN_DIR}"
LoadPlugin logfile
<Plugin logfile>
  LogLevel info
  File "{d}/collectd.log"
  Timestamp true
  PrintSeverity true
</Plugin>
LoadPlugin load
LoadPlugin csv
<Plugin csv>
  DataDir "{d}/csv"
  StoreRates false
</Plugin>
{extra}
PluginDir "{e2e.PLUGIN_DIR}"
LoadPlugin vacquery
<Plugin vacquery>
  Listen "127.0.0.1" "{vq_port}"
  ReportInterval 10
  FinishedNotifications true
</Plugin>
'''


def start_collectd(tmp, name, extra):
    d = os.path.join(tmp, name)
    os.makedirs(d)
    port = free_udp_port()
    conf = os.path.join(d, "collectd.conf")
    with open(conf, "w") as f:
        f.write(base_conf(d, port, extra))
    out = open(os.path.join(d, "stdout.txt"), "wb")
    p = subprocess.Popen([e2e.COLLECTD, "-f", "-C", conf], stdout=out, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, preexec_fn=e2e._pdeathsig)
    e2e.PROCS.append(p)
    logf = os.path.join(d, "collectd.log")

    def text():
        try:
            with open(logf, errors="replace") as f:
                return f.read()
        except OSError:
            return ""
    ok = wait_for(lambda: "Initialization complete" in text() or p.poll() is not None, 15, 0.1)
    return p, port, d, text, ok and p.poll() is None


def send_fleet(port, summary):
    return subprocess.run([e2e.VQ_SEND] + FLEET + ["-H", "127.0.0.1", "-p", str(port),
                                                   "--quiet", "--summary-file", summary],
                          stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                          timeout=60).returncode


def site_totals(summary):
    out = {}
    with open(summary) as f:
        for line in f:
            w = line.split()
            if w and w[0] == "site":
                out[w[1]] = int(w[3])
    return out


class WriteHttpE2E:
    def __init__(self, tmp):
        self.tmp = tmp
        self.sink = Sink(("127.0.0.1", 0), e2e.SinkHandler)
        self.sink.store = Store()
        serve(self.sink)
        self.url = "http://127.0.0.1:%d/collectd" % self.sink.server_address[1]

    def node(self):
        return dropin("vacquery_write_http.conf",
                      [(r'^(\s*URL )"[^"]*"', r'\1"%s"' % self.url)])

    def alone(self):
        p, port, d, text, ok = start_collectd(self.tmp, "alone", self.node())
        CK.check("collectd starts with the write_http drop-in", ok, text()[-1500:])
        summary = os.path.join(self.tmp, "summary-alone.txt")
        CK.check("vacquery-send sent the fleet", send_fleet(port, summary) == 0)
        want = site_totals(summary)
        st = self.sink.store

        def totals():
            got = {}
            for site in want:
                vals = [o for o in st.values("vacquery_factory", "/collectd")
                        if o.get("meta", {}).get("site") == site]
                latest = {}
                for o in vals:
                    latest[o["plugin_instance"]] = o["values"][o["dsnames"].index(
                        "running_processors")]
                got[site] = sum(latest.values())
            return got == want, (got, want)
        CK.eventually("running processors per site in the POSTed value lists equal the "
                      "sender's summary %s" % want, totals, 20)
        fac = st.values("vacquery_factory", "/collectd")
        CK.check("every vacquery_factory value list carries meta site, space, factory "
                 "(raw names, dots kept)",
                 fac and all({"site", "space", "factory"} <= set(o.get("meta", {}))
                             and "." in o["meta"]["factory"] for o in fac),
                 fac[:1])
        CK.check("identifiers as the naming contract says: host = site, plugin "
                 "vacquery, plugin_instance <space>.<factory>",
                 fac and all(o["plugin"] == "vacquery" and o["plugin_instance"].count(".") == 1
                             for o in fac), fac[:1])

        def notifs():
            n = [x for x in st.notifications("/collectd")]
            return len(n) > 0, len(n)
        CK.eventually("finished-machine notifications are POSTed", notifs, 15)
        CK.check("every POST was a JSON array", st.posts > 0 and not st.bad_bodies,
                 st.bad_bodies[:2])
        e2e.stop_proc(p)

    def beside_graphite(self):
        self.sink.store = Store()
        graphite = serve(GraphiteSink())
        gport = graphite.server_address[1]
        chain = dropin("vacquery_graphite.conf", [
            (r'^(\s*Host )"graphite\.example\.org"', r'\1"127.0.0.1"'),
            (r'^(\s*Port )"2003"', r'\1"%d"' % gport),
            (r'^(\s*Plugin )"rrdtool"', r'\1"csv"'),
            # the one line vacquery_write_http.conf tells a site to add:
            (r'^(\s*Plugin "write_graphite/vacmon"\n)', r'\1      Plugin "write_http/vacmon"\n'),
        ])
        p, port, d, text, ok = start_collectd(self.tmp, "beside", self.node() + chain)
        CK.check("collectd starts with the write_http and Graphite drop-ins", ok,
                 text()[-1500:])
        summary = os.path.join(self.tmp, "summary-beside.txt")
        CK.check("vacquery-send sent the fleet", send_fleet(port, summary) == 0)
        st = self.sink.store

        def both():
            with graphite.lock:
                g = [l for l in graphite.lines if ".vacquery_factory." in l]
            h = st.values("vacquery_factory", "/collectd")
            return bool(g) and bool(h), (len(g), len(h))
        CK.eventually("vacquery values reach both Graphite and the HTTP collector", both, 20)
        time.sleep(3)  # several Intervals of collectd's own load values
        with graphite.lock:
            g_load = [l for l in graphite.lines if ".load." in l]
        h_load = st.values("load", "/collectd")
        csv_load = glob.glob(os.path.join(d, "csv", "whttp-e2e", "load", "load-*"))
        CK.check("collectd's own load values go to csv (the 'others' rule) and to neither "
                 "Graphite nor the collector", csv_load and not g_load and not h_load,
                 (csv_load, g_load[:2], len(h_load)))
        errs = [l for l in text().splitlines() if "[error]" in l]
        CK.check("no errors in collectd's log", not errs, errs[:3])
        e2e.stop_proc(p)
        graphite.shutdown()


def main():
    def start(tmp):
        t = WriteHttpE2E(tmp)
        return [("alone", t.alone), ("beside graphite", t.beside_graphite)]
    return e2e.run_sections("write_http_e2e.py", 120, "vq-whttp-e2e-", start, CK,
                            required=(e2e.COLLECTD,))


if __name__ == "__main__":
    sys.exit(main())
