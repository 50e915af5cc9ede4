#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""run-bench.py: the vacquery benchmarks (bench/README.md has the method).

    bench/run-bench.py [--build DIR] [--quick]

1. instructions per message (valgrind --tool=callgrind) of parse +
   normalise + map beside bare json-c parsing of the same messages;
2. throughput through a real collectd: vacquery-send at fixed rates for
   DURATION s each, loss = sent - accepted, with the plugin's kernel_drops
   and queue_drops counters and the socket's drop column in /proc/net/udp;
3. resident memory of collectd with 100,000 distinct factories known, and
   of the registry alone (vq-bench fleet);
4. collectd's own dispatch ceiling: bench/dispatch_ceiling.c, a plugin that
   only dispatches value lists as fast as collectd takes them, so that the
   zero-loss rate reads as a ratio to the limit;
5. (--soak MINUTES) collectd's RSS over a soak at 5,000 msg/s with factory
   churn (vacquery-send --churn) and a short ForgetAfter: bench/soak.py;
6. (--repeat N) throughput at --rates and the ceilings, interleaved, N
   rounds, medians with their spread (--baseline: another tree beside).
Prints a Markdown table per part. Needs a built tree (tools/run-tests.sh or
tools/demo.sh make one in _build).
"""
import argparse
import glob
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, "bench"))
from benchlib import collectd_head, free_port, start_collectd, stop_collectd  # noqa: E402
NICE = 0  # --nice: added to collectd's and the sender's niceness


def renice():
    """preexec_fn for collectd and the sender: applies --nice."""
    if NICE:
        os.nice(NICE)


def callgrind_ir(cmd):
    out = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"] + cmd,
                         capture_output=True, text=True)
    m = re.search(r"Collected : (\d+)", out.stderr)
    if not m:
        raise RuntimeError("callgrind failed: " + out.stderr[-500:])
    return int(m.group(1))


def part_instructions(build):
    files = sorted(glob.glob(os.path.join(TOP, "tests/fixtures/examples/*status*.json")))
    bench = os.path.join(build, "tools/vq-bench")
    n = 200
    rows = []
    per = {}
    for mode in ("jsonc", "parse"):
        base = callgrind_ir([bench, mode, "0"] + files)
        full = callgrind_ir([bench, mode, str(n)] + files)
        per[mode] = (full - base) / (n * len(files))
    print("\n### Instructions per message (callgrind, %d example messages x %d)\n" % (len(files), n))
    print("| path | instructions/message |")
    print("|---|---|")
    print("| bare json-c: json_tokener_parse_ex + json_object_put | %.0f |" % per["jsonc"])
    print("| vacquery: parse + normalise + everything the message becomes (vq_parse, "
          "vq_output_build) | %.0f |" % per["parse"])
    print("| ratio | **%.2fx** (target <= 1.5x) |" % (per["parse"] / per["jsonc"]))
    return per


class Collectd:
    """A collectd with vacquery; a filter chain writes only the receiver's
    own counters (vacquery_stats) to csv, every other value goes through
    collectd's cache and is then discarded, so no writer cost is measured."""

    def __init__(self, build, extra="", write_threads=5, plugins=None):
        self.dir = tempfile.mkdtemp(prefix="vq-bench-")
        self.port = free_port()
        conf = os.path.join(self.dir, "collectd.conf")
        with open(conf, "w") as f:
            f.write(collectd_head(self.dir, write_threads) + """LoadPlugin match_regex
PostCacheChain "bench"
<Chain "bench">
  <Rule "stats">
    <Match "regex">
      Type "^vacquery_stats$"
    </Match>
    Target "write"
  </Rule>
  <Rule "ceiling">
    <Match "regex">
      Plugin "^dispatch_ceiling$"
    </Match>
    <Target "write">
      Plugin "dispatch_ceiling"
    </Target>
  </Rule>
  Target "stop"
</Chain>
PluginDir "{libs}"
""".format(libs=os.path.join(build, ".libs"))
                    + (plugins if plugins is not None else """LoadPlugin vacquery
<Plugin vacquery>
  Listen "127.0.0.1" "{port}"
  RateLimit 0
  ReportInterval 60
  FinishedNotifications false
{extra}
</Plugin>
""".format(port=self.port, extra=extra)))
        self.proc = start_collectd(conf, self.dir, preexec_fn=renice)

    def stats(self):
        """Returns the latest vacquery_stats row as {ds: value}, or {}."""
        paths = sorted(glob.glob(os.path.join(self.dir, "csv/bench/vacquery/vacquery_stats-*")))
        if not paths:
            return {}
        with open(paths[-1]) as f:
            lines = [l.strip() for l in f if l.strip()]
        if len(lines) < 2:
            return {}
        return {k: float(v) for k, v in zip(lines[0].split(",")[1:], lines[-1].split(",")[1:])}

    def rss_kb(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return -1

    def udp_drops(self):
        hexport = "%04X" % self.port
        for path in ("/proc/net/udp",):
            with open(path) as f:
                for line in f.readlines()[1:]:
                    w = line.split()
                    if w[1].endswith(":" + hexport):
                        return int(w[-1])
        return -1

    def stop(self):
        stop_collectd(self.proc, self.dir)


def send(build, port, args):
    out = subprocess.run([os.path.join(build, "tools/vacquery-send"), "-H", "127.0.0.1", "-p", str(port),
                          "--fleet", "--quiet", "--summary-file", "/dev/stdout"] + args,
                         capture_output=True, text=True, check=True, preexec_fn=renice).stdout
    summary = {}
    for line in out.splitlines():
        w = line.split()
        if len(w) == 2:
            try:
                summary[w[0]] = float(w[1])
            except ValueError:
                pass
    return summary


def settle(cd, want, timeout=20):
    """Waits until the counters stop moving (or accepted reaches want)."""
    last, stable = None, 0
    end = time.time() + timeout
    while time.time() < end:
        time.sleep(1)
        st = cd.stats()
        if st.get("accepted", 0) + st.get("rejected", 0) >= want and st == last:
            return st
        stable = stable + 1 if st == last else 0
        if stable >= 3:
            return st
        last = st
    return cd.stats()


def part_throughput(build, rates, duration, write_threads=5):
    print("\n### Throughput through collectd (one receive thread; sender on the same machine; "
          "WriteThreads %d)\n" % write_threads)
    print("Fleet: 10 sites x 5 spaces x 20 factories x 3 machinetypes, 1 finished machine per factory")
    print("per cycle (5,000 messages per cycle, repeated), %d s per rate.\n" % duration)
    print("| offered msg/s | sender achieved msg/s | sent | accepted | kernel drops | queue drops | /proc/net/udp drops | lost |")
    print("|---|---|---|---|---|---|---|---|")
    best = 0
    for rate in rates:
        n, a, kd, qd, ach, _, drops = throughput_once(build, rate, duration, write_threads)
        print("| %s | %.0f | %d | %d | %d | %d | %d | %d |" % (
            rate if rate else "max", ach, n, a, kd, qd, drops, n - a), flush=True)
        if n == a and kd == 0 and qd == 0:
            best = max(best, ach)
    print("\nHighest zero-loss rate measured: **%.0f messages/s**." % best)
    return best


def part_memory(build, factories):
    print("\n### Memory with %d distinct factories\n" % factories)
    out = subprocess.run([os.path.join(build, "tools/vq-bench"), "fleet", str(factories)],
                         capture_output=True, text=True, check=True).stdout
    reg = dict(zip(out.split()[0::2], out.split()[1::2]))
    cd = Collectd(build)
    try:
        before = cd.rss_kb()
        sites = 100
        per_site = factories // sites
        sent = send(build, cd.port, ["--sites", str(sites), "--spaces", "10", "--factories", str(per_site // 10),
                                     "--machinetypes", "1", "--finished", "0", "--cycles", "1",
                                     "--rate", "20000"])
        n = int(sent["sent_messages"])
        st = settle(cd, n, timeout=60)
        time.sleep(3)
        after = cd.rss_kb()
        print("| what | figure |")
        print("|---|---|")
        print("| registry alone (vq-bench fleet): bytes per factory | %s |" % reg.get("bytes_per_factory"))
        print("| registry alone: RSS growth for %s factories | %.1f MB |" % (reg.get("factories"), int(reg.get("rss_growth_bytes", 0)) / 1e6))
        print("| collectd RSS after start | %.1f MB |" % (before / 1024))
        print("| collectd RSS after %d factory_status + %d machinetype_status sent: %d accepted, %d rejected "
              "(fleet_full beyond MaxFactories, default 20,000) | **%.1f MB** |" % (
                  factories, factories, st.get("accepted", 0), st.get("rejected", 0), after / 1024))
        known = min(factories, 20000)
        print("| per factory known (1 machinetype: 8 value-list identifiers), collectd's cache included "
              "| %.1f KB |" % ((after - before) / known))
        return after
    finally:
        cd.stop()


def load1():
    """Returns the 1-minute load average."""
    return float(open("/proc/loadavg").read().split()[0])


def throughput_once(build, rate, duration, write_threads=5, plugin_build=None):
    """One fresh collectd (its vacquery from plugin_build, default build),
    RATE msg/s of the fleet (build's vacquery-send) for DURATION s. Returns
    (sent, accepted, kernel drops, queue drops, sender's achieved rate,
    load average at the end, the socket's drops in /proc/net/udp)."""
    cd = Collectd(plugin_build or build, write_threads=write_threads)
    try:
        sent = send(build, cd.port, ["--sites", "10", "--spaces", "5", "--factories", "20",
                                     "--machinetypes", "3", "--finished", "1",
                                     "--duration", str(duration), "--rate", str(rate)])
        n = int(sent["sent_messages"])
        st = settle(cd, n)
        return (n, int(st.get("accepted", 0)), int(st.get("kernel_drops", 0)),
                int(st.get("queue_drops", 0)), sent.get("rate_achieved", 0), load1(),
                cd.udp_drops())
    finally:
        cd.stop()


def median(xs):
    """Returns the median of a non-empty list."""
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2.0


def part_repeat(build, rates, duration, seconds, repeat, write_threads=5, baseline=None):
    """Throughput at each rate and collectd's ceiling, interleaved, REPEAT
    rounds (each round: every rate once, then the ceiling once), so that
    both see the same machine load. With baseline (another built tree),
    each rate is also measured with that tree's plugin right after this
    one's (same sender). Prints every measurement and the medians with
    their spread."""
    per_msg = (5 + 3 * 3 + 0) / 5.0
    print("\n### Throughput and collectd's own ceiling, interleaved, %d rounds (%d s per rate, "
          "%d s ceiling; WriteThreads %d)\n" % (repeat, duration, seconds, write_threads))
    print("| round | measure | sent | accepted | kernel drops | queue drops | lost | "
          "value lists/s | load (1 min) |")
    print("|---|---|---|---|---|---|---|---|---|", flush=True)
    acc = {r: [] for r in rates}
    ceil, ceil_meta = [], []
    base = {r: [] for r in rates}
    for k in range(1, repeat + 1):
        for rate in rates:
            for which in (("this tree", None),) + ((("baseline", baseline),) if baseline else ()):
                n, a, kd, qd, ach, ld, _ = throughput_once(build, rate, duration, write_threads,
                                                           which[1])
                (base if which[1] else acc)[rate].append((n, a, kd, qd, ld))
                print("| %d | %s: %d msg/s offered (%.0f achieved) | %d | %d | %d | %d | %d | %.0f "
                      "| %.2f |" % (k, which[0], rate, ach, n, a, kd, qd, n - a,
                                    a * per_msg / duration, ld), flush=True)
        c = part_ceiling(build, seconds, quiet=True)
        ceil.append((c or 0, load1()))
        print("| %d | collectd's ceiling | | | | | | %.0f | %.2f |" % (k, c or 0, ceil[-1][1]),
              flush=True)
        c = part_ceiling(build, seconds, quiet=True, meta=6)
        ceil_meta.append(c or 0)
        print("| %d | collectd's ceiling, 6 string meta entries per list | | | | | | %.0f | %.2f |"
              % (k, c or 0, load1()), flush=True)
    print("\n| measure | median | spread (min - max) | rounds with zero loss |")
    print("|---|---|---|---|")
    def summary(label, rs):
        """Prints one row for the runs rs; returns how many lost nothing."""
        share = [100.0 * a / n if n else 0 for n, a, _, _, _ in rs]
        zero = sum(1 for n, a, kd, qd, _ in rs if n == a and kd == 0 and qd == 0)
        print("| %s | %.2f%% | %.2f - %.2f%% | %d of %d |"
              % (label, median(share), min(share), max(share), zero, len(rs)))
        return zero

    best = 0
    for rate in rates:
        if summary("%d msg/s offered: accepted" % rate, acc[rate]) * 2 > len(acc[rate]):
            best = max(best, rate)
        if baseline:
            summary("%d msg/s offered: accepted by the baseline" % rate, base[rate])
    cs = [c for c, _ in ceil]
    print("| collectd's ceiling, value lists/s | %.0f | %.0f - %.0f | |"
          % (median(cs), min(cs), max(cs)))
    print("| collectd's ceiling with 6 meta entries per list (as vacquery's carry), value lists/s "
          "| %.0f | %.0f - %.0f | |" % (median(ceil_meta), min(ceil_meta), max(ceil_meta)))
    print("| load average (1 min) over the run | %.2f | %.2f - %.2f | |"
          % (median([l for _, l in ceil] + [r[4] for v in acc.values() for r in v]),
             min([l for _, l in ceil] + [r[4] for v in acc.values() for r in v]),
             max([l for _, l in ceil] + [r[4] for v in acc.values() for r in v])))
    if best and median(cs):
        print("\nHighest rate with zero loss in most rounds: **%d msg/s** x %.1f value lists/msg = "
              "%.0f value lists/s: **%.0f%%** of collectd's median ceiling, **%.0f%%** of its "
              "median ceiling for lists with 6 meta entries."
              % (best, per_msg, best * per_msg, 100 * best * per_msg / median(cs),
                 100 * best * per_msg / max(median(ceil_meta), 1)))
    return best


def part_ceiling(build, seconds, quiet=False, meta=0):
    """collectd's own dispatch ceiling: value lists per second that one
    thread can push through dispatch, write queue, cache and a trivial
    writer (bench/dispatch_ceiling.c). Returns it, or None."""
    tmp = tempfile.mkdtemp(prefix="vq-ceiling-")
    so = os.path.join(tmp, "dispatch_ceiling.so")
    subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-std=gnu11", "-DHAVE_CONFIG_H", "-D_GNU_SOURCE",
                    "-I" + build, "-I/usr/include", "-I/usr/include/collectd",
                    os.path.join(TOP, "bench", "dispatch_ceiling.c"), "-o", so], check=True)
    cd = Collectd(build, plugins=('PluginDir "%s"\nLoadPlugin dispatch_ceiling\n'
                                  '<Plugin dispatch_ceiling>\n  Seconds %d\n'
                                  '  Identifiers 5000\n  Meta %d\n</Plugin>\n') % (tmp, seconds, meta))
    rate, line = None, ""
    try:
        for _ in range(seconds + 60):
            time.sleep(1)
            with open(os.path.join(cd.dir, "log")) as f:
                m = re.search(r"dispatch_ceiling: (\d+) value lists taken in ([\d.]+) s", f.read())
            if m:
                rate, line = int(m.group(1)) / float(m.group(2)), m.group(0)
                break
    finally:
        cd.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    if quiet:
        return rate
    print("\n### collectd's own dispatch ceiling (one dispatching thread, %d s)\n" % seconds)
    print("| measure | figure |")
    print("|---|---|")
    print("| %s | **%.0f value lists/s** |" % (line or "no result", rate or 0))
    return rate


def part_soak(build, minutes):
    """The churn soak: bench/soak.py (its own doc has the method)."""
    return subprocess.run([sys.executable, os.path.join(TOP, "bench", "soak.py"), "--build", build,
                           "--minutes", str(minutes)]).returncode


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(TOP, "_build"))
    ap.add_argument("--quick", action="store_true", help="fewer rates, shorter runs")
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--soak", type=int, default=0, metavar="MINUTES",
                    help="only the churn soak, this many minutes")
    ap.add_argument("--rates", default="", help="comma-separated offered rates")
    ap.add_argument("--no-memory", action="store_true", help="skip the 100,000-factory memory part")
    ap.add_argument("--write-threads", type=int, default=5,
                    help="collectd's WriteThreads (its default is 5)")
    ap.add_argument("--repeat", type=int, default=0, metavar="N",
                    help="only throughput at --rates and the ceiling, interleaved, N rounds")
    ap.add_argument("--baseline", metavar="DIR",
                    help="with --repeat: also measure the plugin built in DIR (another tree's _build)")
    ap.add_argument("--nice", type=int, default=0,
                    help="niceness added to collectd and the sender (negative needs root)")
    a = ap.parse_args()
    global NICE
    NICE = a.nice
    print("## vacquery benchmark, %s UTC, %d CPUs%s" % (
        time.strftime("%Y-%m-%d %H:%M", time.gmtime()), os.cpu_count(),
        ", nice %+d" % a.nice if a.nice else ""))
    if a.soak:
        return part_soak(a.build, a.soak)
    if a.repeat:
        part_repeat(a.build, [int(x) for x in (a.rates or "15000,20000").split(",")],
                    a.duration, a.duration, a.repeat, a.write_threads, a.baseline)
        return 0
    part_instructions(a.build)
    rates = [20000, 40000] if a.quick else [10000, 20000, 30000, 40000, 60000, 80000]
    if a.rates:
        rates = [int(x) for x in a.rates.split(",")]
    best = part_throughput(a.build, rates, 5 if a.quick else a.duration, a.write_threads)
    ceiling = part_ceiling(a.build, 5 if a.quick else 10)
    if ceiling:
        # The fleet mix: per factory and cycle 1 factory_status (5 value
        # lists), 3 machinetype_status (3 each), 1 machine_status (none).
        per_msg = (5 + 3 * 3 + 0) / 5.0
        print("\nZero-loss rate %.0f msg/s x %.1f value lists/msg = %.0f value lists/s: **%.0f%%** "
              "of collectd's own ceiling (%.0f value lists/s)."
              % (best, per_msg, best * per_msg, 100 * best * per_msg / ceiling, ceiling))
    if not a.no_memory:
        part_memory(a.build, 100000)


if __name__ == "__main__":
    sys.exit(main())
