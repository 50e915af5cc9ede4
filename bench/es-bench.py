#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""es-bench.py: write_elasticsearch benchmarks against tests/es_server/es_server.py.

    bench/es-bench.py [--build DIR] [--quick] [--outage-seconds 60] [--outage-rate 5000]

All parts use one test server process (Elasticsearch flavour, --store ids),
measured in the same run:

1. the server alone: a Python client POSTing pre-built _bulk bodies of 1,000
   documents (what the server can take, so part 2 shows who limits);
2. documents per second stored through collectd + vacquery +
   write_elasticsearch (BatchSize 1000, FlushInterval 2) while vacquery-send
   offers a simulated fleet as fast as vacquery takes it;
3. one HTTP PUT /<index>/_doc/<id> per document as vacmond did (synchronous,
   one at a time, keep-alive), with the same VacQuery messages captured from
   vacquery-send;
4. a 60-second outage at 5,000 messages/s: collectd's RSS and the spool
   size every second, then the time to drain the spool when the server
   comes back and whether every document arrived.

Prints Markdown tables (bench/README.md keeps one run's).
Needs a built tree: --build (default _build) holding .libs/vacquery.so,
.libs/write_elasticsearch.so and tools/vacquery-send.
"""
import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVER = os.path.join(TOP, "tests", "es_server", "es_server.py")
sys.path.insert(0, os.path.dirname(SERVER))
from es_server import dir_bytes  # noqa: E402
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import free_port  # noqa: E402
PROCS = []


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class Server:
    def __init__(self, tmp):
        pf = os.path.join(tmp, "server.ports")
        self.proc = subprocess.Popen([sys.executable, SERVER, "--port", "0", "--control-port",
                                      "0", "--port-file", pf, "--store", "ids", "--quiet"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        PROCS.append(self.proc)
        for _ in range(100):
            if os.path.exists(pf):
                break
            time.sleep(0.1)
        self.port, self.cport = (int(x) for x in open(pf).read().split())
        self.url = "http://127.0.0.1:%d" % self.port

    def ctl(self, method, path, body=None):
        c = http.client.HTTPConnection("127.0.0.1", self.cport, timeout=30)
        c.request(method, path, body=json.dumps(body) if body is not None else None,
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        data = json.loads(r.read() or b"null")
        c.close()
        return data

    def stored(self):
        return self.ctl("GET", "/_test/stats")["stored"]

    def count(self, pattern):
        st = self.ctl("GET", "/_test/stats")
        return sum(n for k, n in st["docs_per_index"].items() if k.startswith(pattern))


def collectd_conf(d, build, vq_port, url, prefix, interval=3600):
    return f'''Hostname "es-bench"
FQDNLookup false
BaseDir "{d}"
PIDFile "{d}/collectd.pid"
Interval {interval}
TypesDB "/usr/share/collectd/types.db"
PluginDir "/usr/lib/collectd"
LoadPlugin logfile
<Plugin logfile>
  LogLevel info
  File "{d}/collectd.log"
  Timestamp true
</Plugin>
PluginDir "{build}/.libs"
LoadPlugin vacquery
<Plugin vacquery>
  Listen "127.0.0.1" "{vq_port}"
  RateLimit 0
  QueueLength 262144
</Plugin>
LoadPlugin write_elasticsearch
<Plugin write_elasticsearch>
  <Node "bench">
    URL "{url}"
    IndexPrefix "{prefix}"
    BatchSize 1000
    FlushInterval 2
    RetryInitial 0.5
    RetryMax 5
    SpoolDir "{d}/spool"
  </Node>
</Plugin>
'''


class Collectd:
    def __init__(self, d, conf):
        os.makedirs(d, exist_ok=True)
        self.dir = d
        path = os.path.join(d, "collectd.conf")
        with open(path, "w") as f:
            f.write(conf)
        self.proc = subprocess.Popen(["/usr/sbin/collectd", "-f", "-C", path],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        PROCS.append(self.proc)
        log = os.path.join(d, "collectd.log")
        for _ in range(200):
            if os.path.exists(log) and "Initialization complete" in open(log).read():
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("collectd did not start: see %s" % log)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def capture_messages(send, n, sites=10):
    """n VacQuery datagrams as vacquery-send --fleet sends them."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 20)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    per_cycle = sites * 10 * 10 * 5
    cycles = max(1, (n + per_cycle - 1) // per_cycle)
    p = subprocess.Popen([send, "--fleet", "-p", str(port), "--sites", str(sites), "--spaces",
                          "10", "--factories", "10", "--machinetypes", "3", "--cycles",
                          str(cycles), "--rate", "20000", "--quiet"])
    msgs = []
    s.settimeout(2)
    try:
        while len(msgs) < n:
            msgs.append(s.recv(65536))
    except socket.timeout:
        pass
    p.wait()
    s.close()
    return msgs


def part_server(srv, msgs):
    """Server capacity: bulk bodies of 1,000 create actions, one client."""
    bodies = []
    for b in range(0, len(msgs), 1000):
        lines = []
        for i, m in enumerate(msgs[b:b + 1000]):
            lines.append(json.dumps({"create": {"_index": "srv-%d" % (b // 1000 % 4),
                                                "_id": "%d" % (b + i)}}).encode())
            lines.append(m)
        bodies.append(b"\n".join(lines) + b"\n")
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
    t0 = time.time()
    n = 0
    for body in bodies:
        c.request("POST", "/_bulk", body=body, headers={"Content-Type": "application/x-ndjson"})
        r = json.loads(c.getresponse().read())
        n += sum(1 for it in r["items"] if it["create"]["status"] == 201)
    dt = time.time() - t0
    c.close()
    return n, dt


def part_put(srv, msgs):
    """vacmond's way: one synchronous PUT per message."""
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
    t0 = time.time()
    ok = 0
    for i, m in enumerate(msgs):
        c.request("PUT", "/put-docs/_doc/%d" % i, body=m,
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        ok += r.status == 201
    dt = time.time() - t0
    c.close()
    return ok, dt


def part_plugin(srv, build, tmp, n_msgs):
    """Documents/s through collectd + vacquery + write_elasticsearch."""
    vq_port = free_port()
    cd = Collectd(os.path.join(tmp, "cd-throughput"),
                  collectd_conf(os.path.join(tmp, "cd-throughput"), build, vq_port, srv.url,
                                "thr"))
    send = os.path.join(build, "tools", "vacquery-send")
    per_cycle = 10 * 10 * 10 * 5
    cycles = max(1, n_msgs // per_cycle)
    base = srv.count("thr-")
    t0 = time.time()
    r = subprocess.run([send, "--fleet", "-p", str(vq_port), "--sites", "10", "--spaces", "10",
                        "--factories", "10", "--machinetypes", "3", "--cycles", str(cycles),
                        "--rate", "25000"], capture_output=True, text=True)
    sent = int([x for x in r.stdout.splitlines() if x.startswith("sent_messages ")][0].split()[1])
    t_sent = time.time()
    samples = []  # until the count has not moved for 4 s (Interval 3600: no periodic values)
    while time.time() - t0 < 300:
        n = srv.count("thr-") - base
        samples.append((time.time() - t0, n))
        if len(samples) == 1 or n != samples[-2][1]:
            t_change = samples[-1][0]
        elif samples[-1][0] - t_change >= 4:
            break
        time.sleep(0.1)
    while len(samples) > 1 and samples[-2][1] == samples[-1][1]:
        samples.pop()  # the time of the last change
    t_all = samples[-1][0]
    # the highest rate over any 1-second window
    peak = 0.0
    for i, (t, n) in enumerate(samples):
        j = next((k for k in range(i, len(samples)) if samples[k][0] - t >= 1.0), None)
        if j is not None:
            peak = max(peak, (samples[j][1] - n) / (samples[j][0] - t))
    rss = rss_kb(cd.proc.pid)
    cd.stop()
    return {"sent": sent, "send_s": t_sent - t0, "stored": samples[-1][1], "total_s": t_all,
            "peak": peak, "rss_kb": rss, "samples": samples}


def part_outage(srv, build, tmp, seconds, rate):
    vq_port = free_port()
    d = os.path.join(tmp, "cd-outage")
    cd = Collectd(d, collectd_conf(d, build, vq_port, srv.url, "out"))
    send = os.path.join(build, "tools", "vacquery-send")
    time.sleep(1)
    rss0 = rss_kb(cd.proc.pid)
    base = srv.count("out-")
    srv.ctl("POST", "/_fault", {"mode": "down"})
    t0 = time.time()
    p = subprocess.Popen([send, "--fleet", "-p", str(vq_port), "--sites", "10", "--spaces", "10",
                          "--factories", "10", "--machinetypes", "3", "--duration", str(seconds),
                          "--rate", str(rate)], stdout=subprocess.PIPE, text=True)
    rows = []
    while p.poll() is None:
        rows.append((time.time() - t0, rss_kb(cd.proc.pid), dir_bytes(os.path.join(d, "spool"))))
        time.sleep(1)
    out = p.stdout.read()
    sent = int([x for x in out.splitlines() if x.startswith("sent_messages ")][0].split()[1])
    time.sleep(3)  # the last batches reach the spool
    spool_end = dir_bytes(os.path.join(d, "spool"))
    rss_end = rss_kb(cd.proc.pid)
    srv.ctl("POST", "/_fault", {"mode": "up"})
    t_up = time.time()
    last, last_t = -1, time.time()
    while time.time() - t_up < 600:  # until the spool is empty and nothing more arrives
        n = srv.count("out-") - base
        if n != last:
            last, last_t = n, time.time()
        elif dir_bytes(os.path.join(d, "spool")) == 0 and time.time() - last_t >= 3:
            break
        time.sleep(0.2)
    drain_s = last_t - t_up
    first = min([x["t"] for x in srv.ctl("GET", "/_test/requests")["requests"]
                 if x.get("kind") == "write" and x["t"] >= t_up] or [t_up]) - t_up
    spool_after = dir_bytes(os.path.join(d, "spool"))
    rss_after = rss_kb(cd.proc.pid)
    cd.stop()
    return {"sent": sent, "rows": rows, "rss0": rss0, "rss_end": rss_end,
            "rss_max": max([r[1] or 0 for r in rows] + [rss_end or 0]),
            "spool_end": spool_end, "drain_s": drain_s, "stored": last, "first": first,
            "spool_after": spool_after, "rss_after": rss_after, "seconds": seconds,
            "rate": rate}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(TOP, "_build"))
    ap.add_argument("--quick", action="store_true", help="smaller runs (about 1 minute)")
    ap.add_argument("--outage-seconds", type=int, default=60)
    ap.add_argument("--outage-rate", type=int, default=5000)
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    for f in (".libs/vacquery.so", ".libs/write_elasticsearch.so", "tools/vacquery-send"):
        if not os.path.exists(os.path.join(build, f)):
            sys.exit("es-bench: %s/%s missing: build first" % (build, f))
    n = 50000 if a.quick else 200000
    if a.quick:
        a.outage_seconds = min(a.outage_seconds, 20)
    tmp = tempfile.mkdtemp(prefix="es-bench-")
    try:
        srv = Server(tmp)
        msgs = capture_messages(os.path.join(build, "tools", "vacquery-send"), 20000)
        size = sum(len(m) for m in msgs) / len(msgs)
        print("# write_elasticsearch benchmark (%s, %d cores)\n" % (
            time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), os.cpu_count()))
        n1, dt1 = part_server(srv, msgs)
        n3, dt3 = part_put(srv, msgs)
        r2 = part_plugin(srv, build, tmp, n)
        print("| path | documents | seconds | documents/s |")
        print("|---|---|---|---|")
        print("| test server alone: _bulk of 1,000 pre-built documents, one client | %d | %.1f "
              "| %.0f |" % (n1, dt1, n1 / dt1))
        print("| collectd + vacquery + write_elasticsearch (BatchSize 1000): %d messages "
              "offered in %.1f s, until the last document is stored | %d | %.1f | **%.0f** "
              "(best 1-s window: %.0f) |" % (r2["sent"], r2["send_s"], r2["stored"],
                                            r2["total_s"], r2["stored"] / r2["total_s"],
                                            r2["peak"]))
        print("| one PUT /<index>/_doc/<id> per message, synchronous, keep-alive (vacmond) "
              "| %d | %.1f | **%.0f** |" % (n3, dt3, n3 / dt3))
        print("\nmessages: %.0f bytes on average; collectd RSS after the throughput run: %d kB"
              % (size, r2["rss_kb"] or 0))
        r4 = part_outage(srv, build, tmp, a.outage_seconds, a.outage_rate)
        print("\n### %d-second outage at %d messages/s (%d messages sent)\n"
              % (r4["seconds"], r4["rate"], r4["sent"]))
        print("| measure | value |")
        print("|---|---|")
        print("| collectd RSS before the outage | %d kB |" % (r4["rss0"] or 0))
        print("| collectd RSS at the end of the outage (max during it) | %d kB (%d kB) |"
              % (r4["rss_end"] or 0, r4["rss_max"]))
        print("| spool at the end of the outage | %.1f MB (%.0f bytes/message, %.2f MB/s) |" % (
            r4["spool_end"] / 1e6, r4["spool_end"] / max(1, r4["sent"]),
            r4["spool_end"] / 1e6 / r4["seconds"]))
        print("| documents stored after the server came back | %d (from %d messages) |"
              % (r4["stored"], r4["sent"]))
        print("| time until the last document is stored and the spool is empty | %.1f s: first "
              "request %.1f s after the server came back (backoff), then %.0f documents/s |"
              % (r4["drain_s"], r4["first"],
                 r4["stored"] / max(0.1, r4["drain_s"] - r4["first"])))
        print("| spool after the drain; collectd RSS | %d bytes; %d kB |"
              % (r4["spool_after"], r4["rss_after"] or 0))
        print("\nRSS and spool every 10 s of the outage: " + ", ".join(
            "%.0fs %d kB %.1f MB" % (t, r or 0, b / 1e6) for t, r, b in r4["rows"][::10]))
    finally:
        for p in PROCS:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
