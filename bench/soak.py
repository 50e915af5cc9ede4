#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""soak.py: collectd's memory over a soak with factory churn (bench/README.md).

    bench/soak.py [--build DIR] [--minutes 30] [--rate 5000] [--churn 30]
                  [--forget 20] [--report 10] [--sample 10]
                  [--env MALLOC_ARENA_MAX=2] [--trim-at-end] [--csv FILE]

A fresh collectd (from the PATH) with vacquery from DIR (default _build)
and unixsock; vacquery-send --fleet --churn L offers RATE msg/s of a fleet
of 1,000 factories (10 sites x 5 spaces x 20 factories x 3 machinetypes,
1 finished machine per factory and cycle) whose names each live L cycles,
so that about 1000/L factories appear and as many fall silent every cycle.
Every SAMPLE s it records: collectd's VmRSS; the identifiers in collectd's
value cache (unixsock LISTVAL) and how many are factory and finished-series
values; the factories the plugin knows (sum of its vacquery_site values);
what glibc's malloc holds (bench/malloc_probe.c, preloaded: bytes in use,
free bytes kept in the heaps, arenas, the highest in-use of its once-a-
second readings); the longest write queue collectd reported
(CollectInternalStats, once a second); the load average. Prints a table per
minute; --csv writes every sample (and the probe's lines to CSV.probe). Not a test: nothing is asserted, and the
run stops by itself after MINUTES.
"""
import argparse
import os
import signal
import shutil
import socket
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, "bench"))
from benchlib import collectd_head, free_port, start_collectd, stop_collectd  # noqa: E402


def unixsock(path, command):
    """Sends one unixsock command; returns its status line and data lines."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(path)
    f = s.makefile("rw")
    f.write(command + "\n")
    f.flush()
    head = f.readline().strip()
    n = int(head.split()[0]) if head and head.split()[0].lstrip("-").isdigit() else 0
    lines = [f.readline().rstrip("\n") for _ in range(max(n, 0))]
    s.close()
    return head, lines


class Soak:
    """One collectd under soak: its temp dir, process and probes."""

    def __init__(self, a):
        self.a = a
        self.dir = tempfile.mkdtemp(prefix="vq-soak-")
        self.port = free_port()
        self.sock = os.path.join(self.dir, "sock")
        self.probe = os.path.join(self.dir, "probe.txt")
        so = os.path.join(self.dir, "malloc_probe.so")
        subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", so,
                        os.path.join(TOP, "bench", "malloc_probe.c"), "-lpthread"], check=True)
        conf = os.path.join(self.dir, "collectd.conf")
        with open(conf, "w") as f:
            f.write(collectd_head(self.dir, a.write_threads) + """LoadPlugin unixsock
<Plugin unixsock>
  SocketFile "{sock}"
</Plugin>
CollectInternalStats true
LoadPlugin match_regex
PostCacheChain "soak"
<Chain "soak">
  <Rule "internal">
    <Match "regex">
      Plugin "^collectd$"
    </Match>
    Target "write"
  </Rule>
  <Rule "handoff">
    <Match "regex">
      Type "^vacquery_queue$"
    </Match>
    Target "write"
  </Rule>
  Target "stop"
</Chain>
PluginDir "{libs}"
LoadPlugin vacquery
<Plugin vacquery>
  Listen "127.0.0.1" "{port}"
  RateLimit 0
  ReportInterval {report}
  ForgetAfter {forget}
  StaleTimeout {stale}
  FinishedNotifications false
{extra}</Plugin>
{glob}""".format(extra="".join("  %s\n" % x for x in a.plugin_option),
           glob="".join("%s\n" % x for x in a.global_option),wt=a.write_threads, d=self.dir, sock=self.sock, port=self.port,
           libs=os.path.join(a.build, ".libs"), report=a.report, forget=a.forget,
           stale=a.stale))
        env = dict(os.environ)
        for kv in a.env:
            k, _, v = kv.partition("=")
            env[k] = v
        env["LD_PRELOAD"] = so
        env["VQ_PROBE_FILE"] = self.probe
        env["VQ_PROBE_INTERVAL"] = str(a.sample)
        self.proc = start_collectd(conf, self.dir, env,
                                   lambda: os.nice(a.nice) if a.nice else None)

    def rss_mb(self):
        """Returns collectd's VmRSS in MB."""
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
        return -1.0

    def cache(self):
        """Returns (identifiers in the cache, factory values, finished
        values, factories the plugin knows, its counters)."""
        _, ids = unixsock(self.sock, "LISTVAL")
        names = [l.split(" ", 1)[1] for l in ids if " " in l]
        fac = sum(1 for n in names if n.endswith("/vacquery_factory"))
        fin = sum(1 for n in names if "/vacquery_finished" in n)
        known = 0
        stats = {}
        for n in names:
            if n.endswith("/vacquery_site") or n.endswith("/vacquery_stats"):
                _, vals = unixsock(self.sock, 'GETVAL "%s"' % n)
                kv = dict(v.split("=", 1) for v in vals if "=" in v)
                if n.endswith("/vacquery_site"):
                    known += int(float(kv.get("factories", "0")))
                else:
                    stats = {k: float(v) for k, v in kv.items()}
        return len(names), fac, fin, known, stats

    def queue_max(self, since, pattern="collectd-write_queue/queue_length-*"):
        """Returns the longest queue seen since the epoch time since, or -1:
        collectd's write queue (its own queue_length, once a second), or with
        pattern "vacquery/vacquery_queue-*" the plugin's hand-off queue."""
        import glob
        best = -1
        for p in glob.glob(os.path.join(self.dir, "csv/bench", pattern)):
            for line in open(p):
                w = line.strip().split(",")
                try:
                    if float(w[0]) >= since:
                        best = max(best, int(float(w[1])))
                except (ValueError, IndexError):
                    pass
        return best

    def malloc(self):
        """Returns the latest probe line as (in_use, free, arenas, highest
        in_use since the line before) in MB."""
        try:
            lines = [l.split() for l in open(self.probe) if l.startswith("probe ")]
        except OSError:
            return None
        if not lines:
            return None
        w = lines[-1]
        return int(w[2]) / 1e6, int(w[3]) / 1e6, int(w[6]), int(w[7]) / 1e6

    def trim(self):
        """Asks the probe to call malloc_trim(0); returns RSS after it."""
        open(self.probe + ".trim", "w").close()
        for _ in range(30):
            time.sleep(1)
            if not os.path.exists(self.probe + ".trim"):
                time.sleep(1)
                return self.rss_mb()
        return -1.0

    def stop(self):
        stop_collectd(self.proc, self.dir)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(TOP, "_build"))
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--rate", type=int, default=5000)
    ap.add_argument("--churn", type=int, default=30, help="cycles a factory name lives")
    ap.add_argument("--forget", type=int, default=20, help="ForgetAfter, s")
    ap.add_argument("--report", type=int, default=10, help="ReportInterval, s")
    ap.add_argument("--stale", type=int, default=5, help="StaleTimeout, s")
    ap.add_argument("--sample", type=int, default=10, help="seconds between samples")
    ap.add_argument("--write-threads", type=int, default=5)
    ap.add_argument("--nice", type=int, default=0,
                    help="niceness added to collectd and the sender (negative needs root): "
                         "keeps other jobs on a shared machine from starving them")
    ap.add_argument("--env", action="append", default=[], help="KEY=VALUE for collectd")
    ap.add_argument("--plugin-option", action="append", default=[],
                    help='a line for <Plugin vacquery>, e.g. "QueueLength 8192"')
    ap.add_argument("--global-option", action="append", default=[],
                    help='a global collectd.conf line, e.g. "WriteQueueLimitHigh 100000"')
    ap.add_argument("--trim-at-end", action="store_true",
                    help="call malloc_trim(0) in collectd at the end, report RSS after")
    ap.add_argument("--csv", help="write every sample to this file")
    a = ap.parse_args()
    # SIGTERM (or SIGINT, even when started in the background) ends the run
    # through the clean-up below.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    seconds = int(a.minutes * 60)
    print("## vacquery soak, %s UTC, %d CPUs: %g min at %d msg/s, churn %d cycles, "
          "ForgetAfter %d s, ReportInterval %d s, StaleTimeout %d s%s\n"
          % (time.strftime("%Y-%m-%d %H:%M", time.gmtime()), os.cpu_count(), a.minutes, a.rate,
             a.churn, a.forget, a.report, a.stale,
             "".join(", " + x for x in a.env + a.plugin_option + a.global_option)
             + (", nice %+d" % a.nice if a.nice else "")), flush=True)
    sk = Soak(a)
    csv = open(a.csv, "w") if a.csv else None
    if csv:
        csv.write("t,rss_mb,cache_ids,cache_factory,cache_finished,known_factories,"
                  "malloc_in_use_mb,malloc_free_mb,arenas,accepted,rejected,kernel_drops,"
                  "queue_drops,load1,malloc_max_in_use_mb,write_queue_max,handoff_max\n")
    print("| minute | RSS MB | cache identifiers | of them factory / finished | factories known "
          "| malloc in use / free MB | highest in use MB | longest write queue | longest hand-off "
          "queue | arenas | accepted/s | drops | load |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|", flush=True)
    sender = subprocess.Popen([os.path.join(a.build, "tools/vacquery-send"), "-H", "127.0.0.1",
                               "-p", str(sk.port), "--fleet", "--quiet", "--sites", "10",
                               "--spaces", "5", "--factories", "20", "--machinetypes", "3",
                               "--finished", "1", "--churn", str(a.churn),
                               "--duration", str(seconds), "--rate", str(a.rate)],
                              stdout=subprocess.DEVNULL,
                              preexec_fn=lambda: os.nice(a.nice) if a.nice else None)
    t0 = time.time()
    rows = []
    qmax_min, imax_min, hmax_min = -1, 0.0, -1
    try:
        k = 0
        while True:
            k += 1
            target = t0 + k * a.sample
            while time.time() < target and sender.poll() is None:
                time.sleep(0.5)
            if sender.poll() is not None and time.time() < target - 1:
                break
            rss = sk.rss_mb()
            n, fac, fin, known, st = sk.cache()
            mi = sk.malloc() or (0, 0, 0, 0)
            qmax = sk.queue_max(time.time() - a.sample)
            hmax = sk.queue_max(time.time() - a.sample, "vacquery/vacquery_queue-*")
            qmax_min, imax_min = max(qmax_min, qmax), max(imax_min, mi[3])
            hmax_min = max(hmax_min, hmax)
            load = open("/proc/loadavg").read().split()[0]
            t = k * a.sample
            drops = st.get("kernel_drops", 0) + st.get("queue_drops", 0)
            row = (t, rss, n, fac, fin, known, mi[0], mi[1], mi[2], st.get("accepted", 0),
                   st.get("rejected", 0), st.get("kernel_drops", 0), st.get("queue_drops", 0), load,
                   mi[3], qmax, hmax)
            rows.append(row)
            if csv:
                csv.write("%d,%.1f,%d,%d,%d,%d,%.1f,%.1f,%d,%d,%d,%d,%d,%s,%.1f,%d,%d\n" % row)
                csv.flush()
            if t % 60 == 0:
                print("| %d | %.1f | %d | %d / %d | %d | %.1f / %.1f | %.1f | %d | %d | %d | %d | %d "
                      "| %s |" % (t // 60, rss, n, fac, fin, known, mi[0], mi[1], imax_min,
                                  qmax_min, hmax_min, mi[2], st.get("accepted", 0), drops, load),
                      flush=True)
                qmax_min, imax_min, hmax_min = -1, 0.0, -1
            if t >= seconds:
                break
        sender.wait()
        if a.trim_at_end:
            before = sk.rss_mb()
            after = sk.trim()
            mi = sk.malloc() or (0, 0, 0, 0)
            print("\nmalloc_trim(0) at the end: RSS %.1f -> %.1f MB (malloc in use %.1f MB, "
                  "free %.1f MB)" % (before, after, mi[0], mi[1]))
    finally:
        sender.kill() if sender.poll() is None else None
        if a.csv and os.path.exists(sk.probe):
            shutil.copy(sk.probe, a.csv + ".probe")
        sk.stop()
        if csv:
            csv.close()
    per_min = [r for r in rows if r[0] % 60 == 0]
    if len(per_min) >= 3:
        rss = [r[1] for r in per_min]
        print("\nRSS from minute 2 to the end: %.1f -> %.1f MB (min %.1f, max %.1f)."
              % (rss[1], rss[-1], min(rss[1:]), max(rss[1:])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
