#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""End-to-end test of the Graphite cluster of collectd-vacmon.

    vacquery-send -> (recording UDP tee) -> collectd (vacquery + the shipped
    write_graphite drop-in) -> carbon-c-relay (the shipped
    etc/carbon-c-relay/vacmon-relay.conf) -> carbon-cache a | carbon-cache b

graphite-web a and b each read their own cache's storage directory (and its
cache through CARBONLINK_HOSTS); a front graphite-web with no data of its
own reads both through CLUSTER_SERVERS. Every daemon is the real Debian one,
on free loopback ports in a temp dir (graphite_stack.py). Checks:

  * totals by site and by VO through the front (/render sumSeries) equal
    the totals computed here from the datagrams that reached collectd (and
    vacquery-send's own summary);
  * both caches hold a share of the series, no series is on both
    (replication 1), and the front sees the union;
  * carbon-cache a or b (the one holding more series) is stopped by PID for
    30 s while the fleet keeps sending, then started again: every datapoint
    that collectd handed to its writers while the cache was down (the csv
    plugin writes the same values, the independent record) is in graphite
    after the restart, counted per series, second by second; so is every
    datapoint from before the stop, except that carbon-cache itself drops
    what arrived in its last second (it does not write its cache when it
    stops): that loss is measured and bounded to one point per series;
  * for contrast, a second write_graphite node straight to a third
    carbon-cache stopped for the same 30 s loses the values of the outage
    (stock write_graphite does not queue).

Environment as tests/e2e/run-py.sh sets it. Prints one line per check,
ends with `N passed, M failed`. Exit 0 pass, 1 fail, 99 hard error.
"""

import glob
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import e2e  # noqa: E402  (helpers: Checks, wait_for, stop_proc, free_udp_port)
import graphite_stack  # noqa: E402
from graphite_e2e import collectd_conf, read_summary, HOSTNAME  # noqa: E402

TOP = e2e.TOP_SRCDIR
RELAY_CONF = os.path.join(TOP, "etc", "carbon-c-relay", "vacmon-relay.conf")
DROPIN = os.path.join(TOP, "etc", "collectd.d", "vacquery_graphite.conf")
RELAY = "/usr/bin/carbon-c-relay"
RECEIVER = HOSTNAME.replace(".", "_")
FLEET = ["--sites", "2", "--spaces", "2", "--factories", "2", "--machinetypes", "3",
         "--finished", "1"]
OUTAGE = 30          # seconds a carbon-cache is down
QUEUE = 100000       # relay -q: README "A Graphite cluster" sizing
BATCH = 2500         # relay -b (the default)
# One point per second for every path: collectd's Interval is 1 s, and the
# outage check counts the points of each second.
SCHEMAS = "[vacmon_1s]\npattern = ^vac\\.\nretentions = 1s:1d\n"
CK = e2e.Checks()
log = e2e.log


# ---- what was sent ----------------------------------------------------------

class Tee:
    """A UDP forwarder on a free port: records every datagram, then sends it
    on to collectd. Lets the test know exactly what collectd received."""

    def __init__(self, dest_port):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.dest = ("127.0.0.1", dest_port)
        self.datagrams = []
        self.lock = threading.Lock()
        self.done = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.done:
            try:
                d = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.datagrams.append(d)
            self.out.sendto(d, self.dest)

    def take(self):
        """The datagrams recorded since the last take() (a list of bytes)."""
        with self.lock:
            d, self.datagrams = self.datagrams, []
        return d

    def close(self):
        self.done = True
        self.thread.join(2)
        self.sock.close()
        self.out.close()


def site_of(msg):
    """docs/protocol.md section 3: `site`, or the space after its first dot."""
    s = msg.get("site")
    if not s:
        s = msg["space"].split(".", 1)[1]
    return e2e.sanitise(s)


def totals_from_datagrams(datagrams):
    """Running processors by site (factory_status) and by VO
    (machinetype_status, VO from fqan): the last value of each factory or
    factory+machinetype, summed. Written from the protocol, not the plugin."""
    fac, mt = {}, {}
    for d in datagrams:
        m = json.loads(d)
        key = (site_of(m), m["space"], m["factory"])
        rp = m.get("running_processors", m.get("running_cpus"))
        if m["message_type"] == "factory_status":
            fac[key] = rp
        elif m["message_type"] == "machinetype_status":
            mt[key + (m["machinetype"],)] = (e2e.vo_of(m.get("fqan")), rp)
    by_site, by_vo = {}, {}
    for (site, _, _), v in fac.items():
        by_site[site] = by_site.get(site, 0) + v
    for (vo, v) in mt.values():
        by_vo[vo] = by_vo.get(vo, 0) + v
    return by_site, by_vo


# ---- configuration from the shipped files -------------------------------------

def relay_conf(listen_port, cache_a, cache_b):
    """The shipped relay config with its EDIT lines set for this test;
    asserts that nothing else changed."""
    with open(RELAY_CONF) as f:
        lines = f.read().splitlines()
    out, edited, caches = [], 0, iter([("a", cache_a), ("b", cache_b)])
    for l in lines:
        if "# EDIT" in l:
            edited += 1
            if "proto tcp" in l:
                l = re.sub(r"^(\s*)\d+ proto tcp", r"\g<1>127.0.0.1:%d proto tcp" % listen_port, l)
            else:
                inst, port = next(caches)
                l = re.sub(r"\S+:\d+=%s" % inst, "127.0.0.1:%d=%s" % (port, inst), l)
        out.append(l)
    CK.check("relay config: exactly 3 EDIT lines (listen port, two caches)", edited == 3,
             edited)
    return "\n".join(out) + "\n"


def dropin(relay_port, direct_port):
    """The shipped write_graphite drop-in pointed at the relay, plus a second
    node "direct" to a lone carbon-cache (no relay), and csv as the other
    writer of vacquery values (the test's record of what collectd sent)."""
    with open(DROPIN) as f:
        text = f.read()
    text = re.sub(r'Host "[^"]*"(\s*# EDIT)', r'Host "127.0.0.1"\1', text)
    text = re.sub(r'Port "[^"]*"(\s*# EDIT)', r'Port "%d"\1' % relay_port, text)
    text = text.replace('Plugin "rrdtool"', 'Plugin "csv"')
    text = text.replace('      Plugin "write_graphite/vacmon"\n',
                        '      Plugin "write_graphite/vacmon"\n'
                        '      Plugin "write_graphite/direct"\n      Plugin "csv"\n')
    text = text.replace("</Plugin>", '''  <Node "direct">
    Host "127.0.0.1"
    Port "%d"
    Prefix "vac."
    Protocol "tcp"
    SeparateInstances true
    PreserveSeparator true
    StoreRates false
    LogSendErrors true
  </Node>
</Plugin>''' % direct_port, 1)
    CK.check("drop-in: test additions in place",
             text.count('Plugin "write_graphite/direct"') == 1 and '<Node "direct">' in text)
    return text


# ---- the run ------------------------------------------------------------------

class Cluster:
    def __init__(self, tmp):
        self.tmp = tmp
        self.a = self.b = self.front = self.direct = None
        self.relay = self.collectd = self.tee = None
        self._outs = []

    def _spawn(self, name, argv):
        out = open(os.path.join(self.tmp, name + ".out"), "wb")
        self._outs.append(out)
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, preexec_fn=e2e._pdeathsig)

    def text(self, name):
        try:
            with open(os.path.join(self.tmp, name), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def start(self):
        t = time.monotonic()
        mk = graphite_stack.GraphiteStack
        self.a = mk(os.path.join(self.tmp, "cache-a"), SCHEMAS).start()
        self.b = mk(os.path.join(self.tmp, "cache-b"), SCHEMAS).start()
        self.direct = mk(os.path.join(self.tmp, "direct"), SCHEMAS).start()
        cluster = "CLUSTER_SERVERS = ['127.0.0.1:%d', '127.0.0.1:%d']\n" % (
            self.a.web_port, self.b.web_port)
        self.front = mk(os.path.join(self.tmp, "front"), SCHEMAS, extra_settings=cluster,
                        with_carbon=False).start()
        CK.check("two carbon-caches, their graphite-webs and the front graphite-web up "
                 "(%.1f s)" % (time.monotonic() - t),
                 self.a.alive() and self.b.alive() and self.front.alive())
        # the relay
        self.relay_port = graphite_stack.free_tcp_port()
        conf = os.path.join(self.tmp, "relay.conf")
        with open(conf, "w") as f:
            f.write(relay_conf(self.relay_port, self.a.line_port, self.b.line_port))
        chk = subprocess.run([RELAY, "-t", "-t", "-f", conf], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, timeout=20)
        CK.check("carbon-c-relay -t -t accepts the config", chk.returncode == 0,
                 chk.stdout.decode()[-800:])
        self.relay = self._spawn("relay", [RELAY, "-f", conf, "-q", str(QUEUE), "-b", str(BATCH),
                                           "-w", "1", "-H", "vacmon-e2e"])
        ok = e2e.wait_for(lambda: self.relay.poll() is not None or
                          self.a._port_open(self.relay_port), 10, 0.1)
        if not CK.check("carbon-c-relay listens on 127.0.0.1:%d" % self.relay_port,
                        ok and self.relay.poll() is None, self.text("relay.out")[-800:]):
            raise SystemExit(1)
        # collectd
        d = os.path.join(self.tmp, "collectd")
        os.makedirs(os.path.join(d, "csv"))
        inc = os.path.join(d, "vacquery_graphite.conf")
        with open(inc, "w") as f:
            f.write(dropin(self.relay_port, self.direct.line_port))
        self.vq_port = e2e.free_udp_port()
        self.cdir = d
        with open(os.path.join(d, "collectd.conf"), "w") as f:
            f.write(collectd_conf(d, self.vq_port, inc))
        self.collectd = self._spawn("collectd", [e2e.COLLECTD, "-f", "-C",
                                                 os.path.join(d, "collectd.conf")])
        ok = e2e.wait_for(lambda: "Initialization complete" in self.text("collectd/collectd.log")
                          or self.collectd.poll() is not None, 15, 0.1)
        if not CK.check("collectd starts with the shipped drop-in pointed at the relay",
                        ok and self.collectd.poll() is None,
                        self.text("collectd/collectd.log")[-1500:]):
            raise SystemExit(1)
        self.tee = Tee(self.vq_port)

    def stop(self):
        if self.tee is not None:
            self.tee.close()
        for p in (self.collectd, self.relay):
            if p is not None:
                e2e.stop_proc(p)
        for s in (self.front, self.a, self.b, self.direct):
            if s is not None:
                s.stop()
        for o in self._outs:
            o.close()

    def send(self, extra, summary=None):
        argv = [e2e.VQ_SEND, "-H", "127.0.0.1", "-p", str(self.tee.port), "--fleet"] + FLEET \
            + extra + ["--quiet"]
        if summary:
            argv += ["--summary-file", summary]
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL)


def last_value(series):
    vals = [v for v, _ in series["datapoints"] if v is not None]
    return vals[-1] if vals else None


def wsp_paths(stack):
    """Metric paths of the whisper files under a cache's storage (vac. only)."""
    root = os.path.join(stack.dir, "storage", "whisper")
    out = set()
    for dp, _, fs in os.walk(os.path.join(root, "vac")):
        for f in fs:
            if f.endswith(".wsp"):
                out.add(os.path.relpath(os.path.join(dp, f), root)[:-4].replace(os.sep, "."))
    return out


def check_totals(cl, by_site, by_vo, label):
    """Totals by site and VO through the front graphite-web."""
    for site, exp in sorted(by_site.items()):
        tgt = ("sumSeries(keepLastValue(vac.%s.vacquery.*.*.vacquery_factory."
               "running_processors,100000))" % site)

        def got_site(tgt=tgt, exp=exp):
            s = cl.front.render_json(tgt, "-10min")
            v = last_value(s[0]) if s else None
            return e2e.close(v, exp), "got %s expected %s" % (v, exp)
        CK.eventually("%s: front /render sumSeries running processors of %s = %d" % (
            label, site, exp), got_site, 20, 0.5)
    for vo, exp in sorted(by_vo.items()):
        tgt = ("sumSeries(keepLastValue(vac.*.vacquery.*.*.vacquery_mt.%s.*."
               "running_processors,100000))" % vo)

        def got_vo(tgt=tgt, exp=exp):
            s = cl.front.render_json(tgt, "-10min")
            v = last_value(s[0]) if s else None
            return e2e.close(v, exp), "got %s expected %s" % (v, exp)
        CK.eventually("%s: front /render sumSeries running processors of VO %s = %d" % (
            label, vo, exp), got_vo, 20, 0.5)


def csv_record(cdir, t0, t1):
    """What collectd handed to its writers, from the csv plugin: {graphite
    path: set of whole seconds} for vacquery values stamped in [t0, t1].
    The path follows write_graphite (Prefix vac., SeparateInstances,
    PreserveSeparator; a one-DS type has no DS node); the second is the
    value's time rounded as write_graphite rounds it (to the nearest)."""
    out = {}
    for f in glob.glob(os.path.join(cdir, "csv", "*", "vacquery*", "*")):
        host = f.split(os.sep)[-3]
        pdir = os.path.basename(os.path.dirname(f))
        pinst = pdir[len("vacquery-"):] if pdir.startswith("vacquery-") else ""
        tname = re.sub(r"-\d{4}-\d{2}-\d{2}$", "", os.path.basename(f))
        typ, _, tinst = tname.partition("-")
        with open(f) as fh:
            header = fh.readline().strip().split(",")[1:]
            rows = [l.strip().split(",") for l in fh if l.strip()]
        base = ["vac", host, "vacquery"] + ([pinst] if pinst else []) + [typ] + \
            ([tinst] if tinst else [])
        for i, ds in enumerate(header):
            path = ".".join(base + ([ds] if len(header) > 1 else []))
            secs = set()
            for r in rows:
                t = float(r[0])
                if t0 <= t <= t1 and r[i + 1] not in ("", "nan"):
                    secs.add(int(t + 0.5))
            if secs:
                out[path] = secs
    return out


def graphite_seconds(stack, paths, t0, t1):
    """{path: set of seconds with a non-null point} from /render."""
    out = {}
    paths = sorted(paths)
    for i in range(0, len(paths), 40):
        chunk = paths[i:i + 40]
        params = [("target", p) for p in chunk] + [
            ("format", "json"), ("from", str(int(t0) - 1)), ("until", str(int(t1) + 1))]
        body = stack.get("/render?" + urllib.parse.urlencode(params))
        for s in json.loads(body):
            out[s["target"]] = {ts for v, ts in s["datapoints"] if v is not None}
    return out


def check_outage(cl, victim_name):
    """Stops one cache (and the direct one) for OUTAGE s while the fleet
    keeps sending; afterwards compares graphite with the csv record."""
    victim = cl.a if victim_name == "a" else cl.b
    sender = cl.send(["--duration", str(OUTAGE + 25), "--rate", "200", "--seed", "2"])
    time.sleep(8)
    t_stop = time.time()
    rc = victim.stop_carbon()
    cl.direct.stop_carbon()
    log("stopped carbon-cache %s (PID %d, status %s) and the direct one at %.0f" % (
        victim_name, victim.carbon.pid, rc, t_stop))
    time.sleep(OUTAGE)
    t_start = time.time()
    victim.start_carbon()
    cl.direct.start_carbon()
    log("started both again after %.1f s" % (t_start - t_stop))
    CK.check("the relay stays up while carbon-cache %s is down" % victim_name,
             cl.relay.poll() is None, cl.text("relay.out")[-500:])
    sender.wait(OUTAGE + 60)
    CK.check("vacquery-send kept sending through the outage", sender.returncode == 0,
             sender.returncode)
    cl.tee.take()
    time.sleep(3)  # the last collectd reads and csv lines
    # Every second of the outage, 6 s before it and 2 s after.
    w0, w1 = t_stop - 6, t_start + 2
    record = csv_record(cl.cdir, w0, w1)
    on_victim = wsp_paths(victim)
    rec_victim = {p: s for p, s in record.items() if p in on_victim}
    n_points = sum(len(s) for s in rec_victim.values())
    CK.check("collectd sent %d datapoints of %d series of cache %s from 6 s before its "
             "stop to 2 s after its restart (csv record)" % (n_points, len(rec_victim),
                                                            victim_name),
             len(rec_victim) >= 10 and n_points >= 10 * OUTAGE, len(rec_victim))

    # carbon-cache 1.1.7 writes its in-memory cache, then sleeps 1 s; on
    # SIGTERM it exits without writing what arrived during that sleep. So
    # the points of the last second or two before the stop may be lost by
    # carbon-cache itself, before any outage: measured apart, and bounded.
    def split(secs):
        before = {t for t in secs if t < t_stop - 2}
        at_stop = {t for t in secs if t_stop - 2 <= t < t_stop + 1}
        return before, at_stop, secs - before - at_stop

    def lost_by_window():
        got = graphite_seconds(cl.front, rec_victim, w0, w1)
        out = [{}, {}, {}]
        for p, secs in rec_victim.items():
            for i, part in enumerate(split(secs)):
                miss = sorted(part - got.get(p, set()))
                if miss:
                    out[i][p] = miss
        return out

    def outage_ok():
        lost = lost_by_window()
        return not lost[0] and not lost[2], "before the stop: %s; while down: %s" % (
            sorted(lost[0].items())[:3], sorted(lost[2].items())[:3])
    n_down = sum(len(split(s)[2]) for s in rec_victim.values())
    ok = CK.eventually("after the restart every datapoint sent while cache %s was down is "
                       "in graphite (front /render, per series and second: 0 of %d lost)"
                       % (victim_name, n_down), outage_ok, 60, 2)
    at_stop = lost_by_window()[1]
    n_at = sum(len(split(s)[1]) for s in rec_victim.values())
    n_lost_at = sum(len(m) for m in at_stop.values())
    log("cluster: %d datapoints of %d series sent while cache %s was down (%d s): %s lost; "
        "in the 3 s around its SIGTERM %d of %d lost (carbon-cache's unwritten cache)" % (
            n_down, len(rec_victim), victim_name, OUTAGE, "0" if ok else "some",
            n_lost_at, n_at))
    CK.check("at the SIGTERM carbon-cache loses at most its last second: <= 1 point per "
             "series (%d points of %d series)" % (n_lost_at, len(at_stop)),
             all(len(m) <= 1 for m in at_stop.values()), sorted(at_stop.items())[:3])
    # the direct write_graphite node, no relay: its own carbon-cache
    direct_paths = wsp_paths(cl.direct)
    rec_direct = {p: s for p, s in record.items() if p in direct_paths}
    got = graphite_seconds(cl.direct, rec_direct, w0, w1)
    inside = {p: {t for t in s if t_stop + 2 <= t <= t_start - 2} for p, s in rec_direct.items()}
    sent_in = sum(len(s) for s in inside.values())
    lost = sum(len(s - got.get(p, set())) for p, s in inside.items())
    log("direct write_graphite (no relay): %d of %d datapoints sent while its carbon-cache "
        "was down are missing" % (lost, sent_in))
    CK.check("stock write_graphite without the relay loses values while carbon is down "
             "(%d of %d lost)" % (lost, sent_in), sent_in > 0 and lost > sent_in // 2)


def run(cl):
    cl.start()
    summary = os.path.join(cl.tmp, "sent.txt")
    p = cl.send(["--cycles", "1"], summary)
    CK.check("vacquery-send: fleet sent", p.wait(60) == 0, p.returncode)
    time.sleep(0.5)
    dgrams = cl.tee.take()
    by_site, by_vo = totals_from_datagrams(dgrams)
    sm = read_summary(summary)
    CK.check("expected totals from %d datagrams agree with vacquery-send's summary "
             "(%s; %s)" % (len(dgrams), by_site, by_vo),
             by_site == {k[1]: v["running_processors"] for k, v in sm.items() if k[0] == "site"}
             and by_vo == {k[1]: v["running_processors"] for k, v in sm.items()
                           if k[0] == "vo"}, sm)
    check_totals(cl, by_site, by_vo, "cluster")
    time.sleep(2)
    pa, pb = wsp_paths(cl.a), wsp_paths(cl.b)
    log("cluster: cache a holds %d series, cache b %d (vac. paths)" % (len(pa), len(pb)))
    CK.check("consistent hashing: both caches hold a share (a %d, b %d series)" % (
        len(pa), len(pb)), len(pa) >= 0.2 * (len(pa) + len(pb)) and
        len(pb) >= 0.2 * (len(pa) + len(pb)))
    CK.check("replication 1: no series on both caches", not (pa & pb), sorted(pa & pb)[:3])
    front = set(cl.front.expand("vac.*.vacquery.*.*.vacquery_factory.*"))
    local = {p for p in pa | pb if re.match(r"vac\.[^.]+\.vacquery\.[^.]+\.[^.]+\."
                                            r"vacquery_factory\.[^.]+$", p)}
    CK.check("front graphite-web finds the factory series of both caches (%d)" % len(front),
             front == local and front, sorted(front ^ local)[:3])
    CK.check("the direct carbon-cache holds every series too (%d)" % len(wsp_paths(cl.direct)),
             wsp_paths(cl.direct) >= (pa | pb) - {p for p in pa | pb
                                                  if p.startswith("vac.carbon")})
    check_outage(cl, "a" if len(pa) >= len(pb) else "b")
    check_totals(cl, by_site, by_vo, "after the outage")


def main():
    t0 = time.monotonic()
    bad = graphite_stack.missing_packages()
    if not os.access(RELAY, os.X_OK):
        bad.append(RELAY)
    if bad:
        log("ERROR: missing %s (Debian carbon-c-relay graphite-carbon graphite-web "
            "python3-django)" % bad)
        return 99
    if not os.access(e2e.COLLECTD, os.X_OK):
        log("ERROR: %s missing (Debian collectd-core)" % e2e.COLLECTD)
        return 99
    tmp = tempfile.mkdtemp(prefix="vq-cluster-")
    cl = Cluster(tmp)
    try:
        run(cl)
    except SystemExit:
        pass
    except Exception as e:
        import traceback
        traceback.print_exc()
        CK.check("no exception", False, e)
    finally:
        cl.stop()
        if os.environ.get("VQ_E2E_KEEP") == "1" or CK.failed:
            log("kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    log("cluster e2e: %.1f s" % (time.monotonic() - t0))
    log("%d passed, %d failed" % (CK.passed, CK.failed))
    return 0 if CK.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
