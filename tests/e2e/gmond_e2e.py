#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""End-to-end test of the write_gmond plugin (collectd-vacmon).

Real daemons from Debian on loopback, temp configs, free ports:
  * two gmonds (ganglia-monitor), one cluster per simulated site, each with a
    UDP receive channel and a TCP XML channel, mute (no own metrics);
  * gmetad polling both, writing RRDs under a temp rrd_rootdir;
  * collectd with vacquery, csv and write_gmond: the default channel is
    Host/Port of gmond A, site 2 goes to gmond B through a GmondConf file;
  * tools/vacquery-send with a known fleet of 2 sites.

Checks: every factory is a spoofed HOST, under its own name, of its own
site's cluster (at the address its datagrams come from, or a synthetic one
when another host holds that address), with the
sums of its values matching vacquery-send's summary, TYPE/UNITS/GROUP on
every metric, hosts kept up by heartbeats, RRDs written by gmetad; a gmond
restart mid-run leaves every metric with its metadata; send failures are
counted as collectd values; a missing and a broken gmond.conf give a clear
error while collectd keeps writing csv.

Environment: top_srcdir, top_builddir, VQ_PLUGIN_DIR, VQ_SEND (make check);
GMOND_E2E_KEEP=1 keeps the temp directory. Standard library only.
"""

import collections
import glob
import ipaddress
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import e2e  # noqa: E402  (helpers only; it runs nothing on import)
from e2e import Checks, _pdeathsig, free_udp_port, sanitise, stop_proc, wait_for  # noqa: E402

TOP_SRCDIR = e2e.TOP_SRCDIR
PLUGIN_DIR = e2e.PLUGIN_DIR
VQ_SEND = e2e.VQ_SEND
COLLECTD = e2e.COLLECTD
GMOND = os.environ.get("GMOND") or "/usr/sbin/gmond"
GMETAD = os.environ.get("GMETAD") or "/usr/sbin/gmetad"
RRDTOOL = os.environ.get("RRDTOOL") or "/usr/bin/rrdtool"

SITES = ["UKI-SIM-SITE-1", "sim2.example.ac.uk"]  # vacquery-send --sites 2
FLEET = ["--fleet", "--sites", "2", "--spaces", "2", "--factories", "2",
         "--machinetypes", "3"]
FACTORIES_PER_SPACE = 2
COLLECTOR = "gmond-e2e"  # collectd Hostname (the receiver's own counters)
SPOOF_NET = ipaddress.ip_network("198.18.0.0/15")
SENDER = "127.0.0.1"        # vacquery-send's source address
HYPERVISOR_IP = "127.0.0.5"  # the "hypervisor" running its own gmond
HYPERVISOR = "vac101.hv.example.ac.uk"
METADATA_INTERVAL = 4

# The units table of the shipped example drop-in, as a site enables it.
with open(os.path.join(TOP_SRCDIR, "etc", "collectd.d", "write_gmond.conf")) as _f:
    UNITS = "\n".join("  " + l.strip() for l in _f if l.strip().startswith("Units "))

CK = Checks()
PROCS = e2e.PROCS  # e2e.stop_all() stops them
stop_all = e2e.stop_all
log = e2e.log
T0 = time.monotonic()


def popen(argv, out_path, **kw):
    out = open(out_path, "ab")
    p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, preexec_fn=_pdeathsig, **kw)
    PROCS.append(p)
    return p


def read_text(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


# ---- gmond ---------------------------------------------------------------------

GMOND_CONF = """/* written by tests/e2e/gmond_e2e.py */
globals {{
  daemonize = no
  setuid = no
  debug_level = 0
  max_udp_msg_len = 1472
  mute = yes
  deaf = no
  allow_extra_data = yes
  host_dmax = 3600
  host_tmax = 20
  cleanup_threshold = 300
  gexec = no
  send_metadata_interval = 0
}}
cluster {{
  name = "{cluster}"
  owner = "collectd-vacmon e2e"
}}
udp_recv_channel {{
  bind = 127.0.0.1
  port = {udp}
  buffer = 4194304
}}
tcp_accept_channel {{
  bind = 127.0.0.1
  port = {tcp}
}}
"""


HYPERVISOR_CONF = """/* written by tests/e2e/gmond_e2e.py: a hypervisor's own gmond */
globals {{
  daemonize = no
  setuid = no
  mute = no
  deaf = yes
  override_hostname = "{name}"
  override_ip = "{ip}"
  send_metadata_interval = 2
  host_dmax = 3600
}}
cluster {{
  name = "{cluster}"
}}
udp_send_channel {{
  host = 127.0.0.1
  port = {port}
}}
modules {{
  module {{
    name = "cpu_module"
    path = "{modcpu}"
  }}
}}
collection_group {{
  collect_every = 2
  time_threshold = 4
  metric {{
    name = "cpu_num"
  }}
}}
"""


class Gmond:
    def __init__(self, tmp, cluster):
        self.cluster = cluster
        self.udp = free_udp_port()
        self.tcp = free_udp_port()  # free for TCP too
        self.conf = os.path.join(tmp, "gmond-%d.conf" % self.udp)
        self.out = self.conf + ".log"
        with open(self.conf, "w") as f:
            f.write(GMOND_CONF.format(cluster=cluster, udp=self.udp, tcp=self.tcp))
        self.proc = None

    def start(self):
        self.proc = popen([GMOND, "-f", "-c", self.conf], self.out)
        return wait_for(lambda: self.xml_or_none() is not None, 10, 0.1) is not None

    def stop(self):
        stop_proc(self.proc)

    def xml_raw(self):
        with socket.create_connection(("127.0.0.1", self.tcp), timeout=5) as s:
            chunks = []
            while True:
                b = s.recv(65536)
                if not b:
                    break
                chunks.append(b)
        return b"".join(chunks)

    def xml_or_none(self):
        try:
            return ET.fromstring(self.xml_raw())
        except (OSError, ET.ParseError):
            return None

    def hosts(self):
        """{host name: {"ip", "tn", "reported", "metrics": {name: attrs+extra}}}"""
        root = self.xml_or_none()
        out = {}
        if root is None:
            return out
        for cl in root.iter("CLUSTER"):
            if cl.get("NAME") != self.cluster:
                continue
            for h in cl.iter("HOST"):
                metrics = {}
                for m in h.iter("METRIC"):
                    d = dict(m.attrib)
                    d["extra"] = {e.get("NAME"): e.get("VAL") for e in m.iter("EXTRA_ELEMENT")}
                    metrics[m.get("NAME")] = d
                out[h.get("NAME")] = {"ip": h.get("IP"), "tn": int(h.get("TN")),
                                      "metrics": metrics}
        return out


# ---- collectd ------------------------------------------------------------------

def collectd_conf(d, vq_port, write_gmond):
    return f'''# written by tests/e2e/gmond_e2e.py
Hostname "{COLLECTOR}"
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
LoadPlugin csv
<Plugin csv>
  DataDir "{d}/csv"
  StoreRates false
</Plugin>
PluginDir "{PLUGIN_DIR}"
LoadPlugin vacquery
<Plugin vacquery>
  Listen "127.0.0.1" "{vq_port}"
  ReportInterval 10
  OutcomeWait 0
</Plugin>
LoadPlugin write_gmond
<Plugin write_gmond>
{write_gmond}
</Plugin>
'''


class Collectd:
    def __init__(self, tmp, name, write_gmond):
        self.dir = os.path.join(tmp, name)
        os.makedirs(os.path.join(self.dir, "csv"))
        self.port = free_udp_port()
        self.conf = os.path.join(self.dir, "collectd.conf")
        self.logfile = os.path.join(self.dir, "collectd.log")
        with open(self.conf, "w") as f:
            f.write(collectd_conf(self.dir, self.port, write_gmond))
        self.proc = None

    def start(self):
        self.proc = popen([COLLECTD, "-f", "-C", self.conf],
                          os.path.join(self.dir, "stdout.txt"))
        wait_for(lambda: "Initialization complete" in self.log()
                 or self.proc.poll() is not None, 15, 0.1)

    def log(self):
        return read_text(self.logfile) + read_text(os.path.join(self.dir, "stdout.txt"))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def send(self, *extra, summary=None):
        argv = [VQ_SEND] + FLEET + ["-H", "127.0.0.1", "-p", str(self.port), "--quiet"]
        if summary:
            argv += ["--summary-file", summary]
        return subprocess.run(argv + list(extra), stdout=subprocess.DEVNULL,
                              stderr=subprocess.STDOUT, timeout=120).returncode

    def csv_last(self, host, plugin_dir, prefix):
        """The last value of csv/<host>/<plugin_dir>/<prefix>-<date>, or None."""
        files = sorted(glob.glob(os.path.join(self.dir, "csv", host, plugin_dir,
                                              prefix + "-*")))
        if not files:
            return None
        lines = [l for l in read_text(files[-1]).splitlines() if l and l[0].isdigit()]
        return float(lines[-1].split(",")[1]) if lines else None


# ---- the summary ---------------------------------------------------------------

def read_summary(path):
    s = {"site_vo": {}, "space": {}, "site": {}}
    for line in read_text(path).splitlines():
        w = line.split()
        if not w:
            continue
        if w[0] == "site_vo":
            s["site_vo"][(w[1], w[2])] = (int(w[4]), int(w[6]))
        elif w[0] == "space":
            s["space"][(w[1], w[2])] = (int(w[4]), int(w[6]))
        elif w[0] == "site":
            s["site"][w[1]] = (int(w[3]), int(w[5]))
    return s


def mt_sum(hosts, vo, ds, only=None):
    """Sum over factory hosts (those named in only, or all) of every
    vacquery_mt.<vo>.<machinetype>.<ds> metric."""
    total = 0.0
    for name, h in hosts.items():
        if only is not None and name not in only:
            continue
        for m, d in h["metrics"].items():
            p = m.split(".")
            if len(p) == 4 and p[0] == "vacquery_mt" and p[3] == ds and (vo is None or p[1] == vo):
                total += float(d["VAL"])
    return total


# ---- the test ------------------------------------------------------------------

class GmondE2E:
    def __init__(self, tmp):
        self.tmp = tmp
        self.gmond = [Gmond(tmp, SITES[0]), Gmond(tmp, SITES[1])]
        # Site 2 goes through a gmond.conf as a site would have it.
        self.site2_conf = os.path.join(tmp, "site2-gmond.conf")
        with open(self.site2_conf, "w") as f:
            f.write('globals {\n  daemonize = yes\n}\ncluster {\n  name = "%s"\n}\n'
                    'udp_send_channel {\n  host = 127.0.0.1\n  port = %d\n  ttl = 1\n}\n'
                    % (SITES[1], self.gmond[1].udp))
        self.collectd = Collectd(tmp, "main", f'''  Host "127.0.0.1"
  Port {self.gmond[0].udp}
  <Site "{SITES[1]}">
    GmondConf "{self.site2_conf}"
  </Site>
  DMax 3600
  HeartbeatInterval 1
  MetadataInterval {METADATA_INTERVAL}
  HostTimeout 120
{UNITS}''')
        self.summary_path = os.path.join(tmp, "summary.txt")

    def setup(self):
        for g in self.gmond:
            CK.check("gmond for %s serves XML on TCP %d" % (g.cluster, g.tcp), g.start(),
                     read_text(g.out)[-2000:])
        self.collectd.start()
        log_text = self.collectd.log()
        CK.check("collectd started with write_gmond",
                 self.collectd.alive() and "write_gmond plugin: default: sending to Host 127.0.0.1"
                 in log_text and "sending to the udp_send_channels of " + self.site2_conf
                 in log_text, log_text[-3000:])

    def factory_spaces(self, site):
        """{sanitised factory: sanitised space} from the csv plugin's tree
        (csv/<site>/vacquery-<space>.<factory>/): what collectd received."""
        out = {}
        for d in glob.glob(os.path.join(self.collectd.dir, "csv", sanitise(site), "vacquery-*.*")):
            space, factory = os.path.basename(d)[len("vacquery-"):].split(".", 1)
            out[factory] = space
        return out

    def expected_spaces(self, site):
        return sorted(sp for (s, sp) in self.summary["space"] if s == site)

    def fleet(self):
        # No finished machines yet: then no factory gets values every
        # Interval, and only heartbeats keep the hosts up (section heartbeat).
        rc = self.collectd.send("--finished", "0", summary=self.summary_path)
        CK.check("vacquery-send sent the fleet", rc == 0, rc)
        self.summary = read_summary(self.summary_path)
        for i, site in enumerate(SITES):
            g, other = self.gmond[i], self.gmond[1 - i]
            spaces = self.expected_spaces(site)
            want_vo = {vo: v for (s, vo), v in self.summary["site_vo"].items() if s == site}

            def settled(g=g, want_vo=want_vo):
                hosts = g.hosts()
                bad = {vo: (mt_sum(hosts, vo, "running_processors"),
                            mt_sum(hosts, vo, "running_machines"), v)
                       for vo, v in want_vo.items()
                       if (mt_sum(hosts, vo, "running_processors"),
                           mt_sum(hosts, vo, "running_machines")) != (float(v[0]), float(v[1]))}
                return not bad and want_vo, bad
            CK.eventually("%s: running processors and machines per VO in gmond's XML "
                          "equal the summary (%d VOs)" % (site, len(want_vo)), settled, 15)
            # Site-level values and finished-machine counters are dispatched
            # once per collectd Interval, after the messages.
            wait_for(lambda g=g, site=site: {"vacquery_site.factories",
                                             "vacquery_vo.atlas.running_machines"}
                     <= set(g.hosts().get(sanitise(site), {}).get("metrics", {})), 10, 0.2)
            hosts = g.hosts()
            factory_hosts = {h for h in hosts if "." in h}
            space_of = self.factory_spaces(site)
            CK.check("%s: every factory HOST is named by the factory's own name (its "
                     "FQDN, dots kept)" % site,
                     factory_hosts and all(sanitise(h) in space_of for h in factory_hosts)
                     and all(h.count(".") >= 2 for h in factory_hosts),
                     (sorted(factory_hosts), sorted(space_of)))
            for sp in spaces:
                mine = sorted(h for h in factory_hosts if space_of.get(sanitise(h)) == sanitise(sp))
                prefix = tuple(mine)
                CK.check("%s space %s: %d factories are HOSTs of cluster %s"
                         % (site, sp, FACTORIES_PER_SPACE, site),
                         len(mine) == FACTORIES_PER_SPACE, sorted(hosts))
                want = self.summary["space"][(site, sp)]
                got = (mt_sum(hosts, None, "running_processors", prefix),
                       mt_sum(hosts, None, "running_machines", prefix))
                CK.check("%s space %s: per-factory values sum to the summary %s" % (site, sp, want),
                         got == (float(want[0]), float(want[1])), got)
                fact = sum(float(hosts[h]["metrics"].get(
                    "vacquery_factory.running_processors", {}).get("VAL", "nan")) for h in mine)
                CK.check("%s space %s: factory-level running_processors sum to %d"
                         % (site, sp, want[0]), fact == want[0], fact)
            vo_hosts = hosts.get(sanitise(site), {}).get("metrics", {})
            bad_vo = {vo: (vo_hosts.get("vacquery_vo.%s.running_processors" % vo, {}).get("VAL"),
                           vo_hosts.get("vacquery_vo.%s.running_machines" % vo, {}).get("VAL"), v)
                      for vo, v in want_vo.items()
                      if (float(vo_hosts.get("vacquery_vo.%s.running_processors" % vo, {})
                                .get("VAL", "nan")),
                          float(vo_hosts.get("vacquery_vo.%s.running_machines" % vo, {})
                                .get("VAL", "nan"))) != (float(v[0]), float(v[1]))}
            CK.check("%s: the site's host carries per-VO totals vacquery_vo.<vo>.running_"
                     "processors/machines equal to the summary" % site, not bad_vo, bad_vo)
            CK.check("%s: the site itself is a HOST with vacquery_site.factories = %d"
                     % (site, len(spaces) * FACTORIES_PER_SPACE),
                     float(hosts.get(sanitise(site), {}).get("metrics", {}).get(
                         "vacquery_site.factories", {}).get("VAL", "nan"))
                     == len(spaces) * FACTORIES_PER_SPACE, sorted(hosts))
            others = other.hosts()
            leaked = sorted(h for h in factory_hosts if h in others)
            CK.check("%s: none of its factories is in the other gmond's cluster" % site,
                     not leaked and others, leaked or "other gmond empty")
            self.check_metadata(site, hosts, False)
        a = self.gmond[0].hosts()
        CK.check("the receiver's own counters go to the default channel (host %s)" % COLLECTOR,
                 "vacquery_stats.received" in a.get(COLLECTOR, {}).get("metrics", {}),
                 sorted(a))
        self.before = {i: {h: set(d["metrics"]) for h, d in g.hosts().items()}
                       for i, g in enumerate(self.gmond)}

    def check_metadata(self, site, hosts, finished):
        problems = []
        ips = collections.Counter()
        for name, h in hosts.items():
            ips[h["ip"]] += 1
            if ipaddress.ip_address(h["ip"]) not in SPOOF_NET and h["ip"] not in (
                    SENDER, HYPERVISOR_IP):
                problems.append("%s: IP %s neither a sender's nor in %s"
                                % (name, h["ip"], SPOOF_NET))
            for m, d in h["metrics"].items():
                if d["extra"].get("GROUP") != "vacquery":
                    problems.append("%s %s: GROUP %s" % (name, m, d["extra"].get("GROUP")))
                if d["extra"].get("SPOOF_HOST") != "%s:%s" % (h["ip"], name):
                    problems.append("%s %s: SPOOF_HOST %s" % (name, m, d["extra"].get("SPOOF_HOST")))
                if not d.get("TYPE") or "UNITS" not in d:
                    problems.append("%s %s: no TYPE/UNITS" % (name, m))
        CK.check("%s: every metric has TYPE, UNITS, GROUP vacquery and SPOOF_HOST ip:host; "
                 "IPs the sender's or in %s" % (site, SPOOF_NET), not problems and hosts,
                 problems[:5])
        CK.check("%s: every host has its own IP" % site,
                 all(n == 1 for n in ips.values()), ips.most_common(3))
        want = {"vacquery_factory.running_processors": ("uint32", "processors", "both"),
                "vacquery_capacity.max_machines": ("uint32", "machines", "both"),
                "vacquery_factory.load_average": ("float", "load", "both"),
                "vacquery_memory.mem_total_kb": ("double", "KiB", "both"),
                "vacquery_capacity.max_hs06": ("float", "HS06", "both"),
                "vacquery_capacity.boot_time": ("uint32", "s", "both")}
        fhost = next((h for n, h in sorted(hosts.items()) if "." in n and n != HYPERVISOR),
                     None)
        got = {m: (fhost["metrics"][m]["TYPE"], fhost["metrics"][m]["UNITS"],
                   fhost["metrics"][m]["SLOPE"])
               for m in want if fhost and m in fhost["metrics"]}
        CK.check("%s: Ganglia type, units and slope per DS" % site, got == want,
                 (got, sorted(hosts)[:8]))
        fin = [d for h in hosts.values() for m, d in h["metrics"].items()
               if m.startswith("vacquery_finished.") and m.endswith(".machines")]
        if finished:
            CK.check("%s: finished-machine counters are uint32 with slope positive" % site,
                     fin and all((d["TYPE"], d["SLOPE"]) == ("uint32", "positive")
                                 for d in fin), fin[:2])
        tmax = {d["TMAX"] for h in hosts.values() for m, d in h["metrics"].items()
                if m.startswith("vacquery_factory.")}
        dmax = {d["DMAX"] for h in hosts.values() for d in h["metrics"].values()}
        CK.check("%s: TMAX = ReportInterval (10), DMAX = 3600" % site,
                 tmax == {"10"} and dmax == {"3600"}, (tmax, dmax))

    def heartbeat(self):
        # No messages since the fleet: metric TNs grow, heartbeats keep hosts up.
        time.sleep(4)
        for g in self.gmond:
            hosts = {n: h for n, h in g.hosts().items() if "." in n}  # factories
            stale = {n: h["tn"] for n, h in hosts.items() if h["tn"] > 3}
            metric_tn = min([int(d["TN"]) for h in hosts.values()
                             for d in h["metrics"].values()] or [-1])
            CK.check("%s: every factory host reported within 3 s (heartbeats) while its "
                     "newest value is %d s old" % (g.cluster, metric_tn),
                     hosts and not stale and metric_tn >= 3, stale)

    def gmetad_start(self):
        self.rrd = os.path.join(self.tmp, "rrds")
        os.makedirs(self.rrd)
        self.xml_port, self.int_port = free_udp_port(), free_udp_port()
        conf = os.path.join(self.tmp, "gmetad.conf")
        with open(conf, "w") as f:
            for g in self.gmond:
                f.write('data_source "%s" 1 127.0.0.1:%d\n' % (g.cluster, g.tcp))
            f.write('gridname "vacmon-e2e"\nsetuid off\nxml_port %d\ninteractive_port %d\n'
                    'rrd_rootdir "%s"\ncase_sensitive_hostnames 1\nserver_threads 2\n'
                    'trusted_hosts 127.0.0.1\n' % (self.xml_port, self.int_port, self.rrd))
        self.gmetad_log = os.path.join(self.tmp, "gmetad.log")
        self.gmetad = popen([GMETAD, "-d", "1", "-c", conf], self.gmetad_log)

    def gmetad_check(self):
        want = []
        for g in self.gmond:
            for h, d in g.hosts().items():
                if "." in h:
                    for m in d["metrics"]:
                        if m.startswith("vacquery_mt.") and m.endswith(".running_processors"):
                            want.append((g.cluster, h, m, float(d["metrics"][m]["VAL"])))

        def all_rrds():
            missing = [w for w in want if not os.path.exists(
                os.path.join(self.rrd, w[0], w[1], w[2] + ".rrd"))]
            return not missing and want, missing[:3]
        CK.eventually("gmetad wrote an RRD per factory host and machinetype (%d files, "
                      "both clusters)" % len(want), all_rrds, 20)
        wrong = []
        for cl, h, m, v in want:
            out = subprocess.run([RRDTOOL, "lastupdate", os.path.join(self.rrd, cl, h, m + ".rrd")],
                                 capture_output=True, text=True).stdout.split()
            if not out or float(out[-1]) != v:
                wrong.append((h, m, v, out[-1:]))
        CK.check("the RRDs' last values equal gmond's", want and not wrong, wrong[:3])
        for i, site in enumerate(SITES):
            want_total = float(self.summary["site"][site][0])
            path = os.path.join(self.rrd, site, "__SummaryInfo__",
                                "vacquery_factory.running_processors.rrd")

            def site_sum(path=path, want_total=want_total):
                out = subprocess.run([RRDTOOL, "lastupdate", path], capture_output=True,
                                     text=True).stdout.split()
                # "sum num" then "<time>: <sum> <num>"
                return len(out) >= 5 and float(out[-2]) == want_total, out
            CK.eventually("%s: gmetad's cluster summary RRD (what the site report draws) "
                          "holds the site's running processors %d" % (site, want_total),
                          site_sum, 10)
        cl_dirs = sorted(os.listdir(self.rrd)) if os.path.isdir(self.rrd) else []
        CK.check("gmetad keeps one directory per site cluster (+ summary)",
                 set(SITES) <= set(cl_dirs), cl_dirs)

    def ganglia_web_files(self):
        d = os.path.join(TOP_SRCDIR, "graphs", "ganglia")
        hosts = {}
        for g in self.gmond:
            hosts.update(g.hosts())
        factory_metrics = set().union(*(set(h["metrics"]) for n, h in hosts.items() if "." in n))
        for name in ("vacquery_factory_report.json", "vacquery_site_report.json"):
            with open(os.path.join(d, name)) as f:
                rep = json.load(f)
            metrics = [x["metric"] for x in rep["series"]]
            CK.check("%s: report_name matches the file; every series metric is one the "
                     "factories send (%s)" % (name, ", ".join(metrics)),
                     rep["report_name"] + ".json" == name and rep["report_type"] == "standard"
                     and metrics and set(metrics) <= factory_metrics,
                     set(metrics) - factory_metrics)
        with open(os.path.join(d, "view_vacquery_vo.json")) as f:
            view = json.load(f)
        problems = []
        site_hosts = {sanitise(x) for x in SITES}
        for item in view["items"]:
            hrx = re.compile(item["host_regex"][0]["regex"])
            mrx = re.compile(item["metric_regex"][0]["regex"])
            matched_hosts = {h for h in hosts if hrx.search(h)}
            hits = {(h, m) for h in matched_hosts for m in hosts[h]["metrics"] if mrx.search(m)}
            if {h for h, _ in hits} != site_hosts or any(not m.startswith("vacquery_vo.")
                                                          for _, m in hits):
                problems.append((item["title"], sorted(hits)[:4]))
            if any("." in h for h in matched_hosts):
                problems.append(("host_regex matches a factory", item["host_regex"]))
        CK.check("view_vacquery_vo.json: its aggregate graphs match the per-VO totals of "
                 "every site host and nothing else", view["view_name"] == "vacquery_vo"
                 and len(view["items"]) == 2 and not problems, problems)

    def restart(self):
        sender = popen([VQ_SEND] + FLEET + ["-H", "127.0.0.1", "-p", str(self.collectd.port),
                                            "--quiet", "--duration", "25", "--rate", "40"],
                       os.path.join(self.tmp, "sender.log"))
        time.sleep(2)
        g = self.gmond[0]
        g.stop()
        time.sleep(3)  # values and heartbeats now hit a closed port
        CK.check("gmond %s restarted" % g.cluster, g.start(), read_text(g.out)[-1000:])
        t_restart = time.monotonic()
        before = self.before[0]

        def complete():
            hosts = g.hosts()
            missing = {h: sorted(ms - set(hosts.get(h, {}).get("metrics", {})))[:3]
                       for h, ms in before.items() if h != COLLECTOR
                       and ms - set(hosts.get(h, {}).get("metrics", {}))}
            return not missing, missing
        ok = CK.eventually("after the restart every host has all its metrics again "
                           "(metadata resent every %d s)" % METADATA_INTERVAL, complete, 20)
        if ok:
            log("INFO metrics complete %.1f s after the restart" % (time.monotonic() - t_restart))
        time.sleep(1)
        self.check_metadata(SITES[0] + " after restart", g.hosts(), True)
        fails = self.collectd.csv_last(COLLECTOR, "write_gmond-default", "derive-send_failures")
        fails_b = self.collectd.csv_last(COLLECTOR, "write_gmond-" + SITES[1], "derive-send_failures")
        sent_b = self.collectd.csv_last(COLLECTOR, "write_gmond-" + SITES[1], "derive-sent")
        CK.check("send failures while gmond was down are counted (write_gmond-default/"
                 "derive-send_failures = %s); none on the other channel (%s, %s sent)"
                 % (fails, fails_b, sent_b),
                 fails is not None and fails > 0 and fails_b == 0 and sent_b and sent_b > 0)
        stop_proc(sender)

    def hypervisor(self):
        """A factory whose machine runs its own gmond: the factory's values
        land on the host that gmond reports (same name, same address)."""
        conf = os.path.join(self.tmp, "hypervisor-gmond.conf")
        a = self.gmond[0]
        with open(conf, "w") as f:
            modcpu = (glob.glob("/usr/lib/*/ganglia/modcpu.so")
                      + glob.glob("/usr/lib*/ganglia/modcpu.so") + ["modcpu.so"])[0]
            f.write(HYPERVISOR_CONF.format(name=HYPERVISOR, ip=HYPERVISOR_IP, modcpu=modcpu,
                                           cluster=a.cluster, port=a.udp))
        hv = popen([GMOND, "-f", "-c", conf], conf + ".log")
        own = wait_for(lambda: "cpu_num" in a.hosts().get(HYPERVISOR, {}).get("metrics", {}),
                       15, 0.2)
        CK.check("the hypervisor's own gmond reports host %s (%s) with cpu_num"
                 % (HYPERVISOR, HYPERVISOR_IP), own, read_text(conf + ".log")[-800:])
        with open(os.path.join(TOP_SRCDIR, "tests", "fixtures", "examples",
                               "factory_status-vac-man.json")) as f:
            msg = json.load(f)
        msg["factory"] = HYPERVISOR
        msg["time_sent"] = int(time.time())
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sk:
            sk.bind((HYPERVISOR_IP, 0))  # the factory's datagrams come from it
            for _ in range(3):
                sk.sendto(json.dumps(msg).encode(), ("127.0.0.1", self.collectd.port))
                time.sleep(0.3)

        def joined():
            h = a.hosts().get(HYPERVISOR, {})
            ms = set(h.get("metrics", {}))
            return (h.get("ip") == HYPERVISOR_IP and "cpu_num" in ms
                    and "vacquery_factory.running_processors" in ms), (h.get("ip"), sorted(ms)[:6])
        CK.eventually("the factory's metrics join host %s: IP %s, the hypervisor's "
                      "cpu_num beside vacquery_factory.running_processors"
                      % (HYPERVISOR, HYPERVISOR_IP), joined, 15)
        names = [h.get("NAME") for h in (a.xml_or_none() or ET.Element("x")).iter("HOST")]
        CK.check("gmond's XML holds host %s once" % HYPERVISOR,
                 names.count(HYPERVISOR) == 1, names.count(HYPERVISOR))
        spoofs = {d["extra"].get("SPOOF_HOST") for m, d in
                  a.hosts().get(HYPERVISOR, {}).get("metrics", {}).items()
                  if m.startswith("vacquery_")}
        CK.check("its vacquery metrics are spoofed as %s:%s" % (HYPERVISOR_IP, HYPERVISOR),
                 spoofs == {"%s:%s" % (HYPERVISOR_IP, HYPERVISOR)}, spoofs)
        stop_proc(hv)

    def bad_configs(self):
        broken = os.path.join(self.tmp, "broken-gmond.conf")
        with open(broken, "w") as f:
            f.write("globals {\n  mute = \n  this is not a gmond.conf\n")
        cases = [("missing", "/nonexistent/gmond.conf",
                  ['GmondConf "/nonexistent/gmond.conf": No such file or directory']),
                 ("broken", broken,
                  ['GmondConf "%s": rejected by libganglia' % broken, "Parse error"])]
        daemons = []
        for name, path, _ in cases:
            c = Collectd(self.tmp, name, '  GmondConf "%s"' % path)
            c.start()
            daemons.append(c)
        for (name, path, texts), c in zip(cases, daemons):
            text = c.log()
            CK.check("%s gmond.conf: clear start-up error %s" % (name, texts),
                     all(t in text for t in texts) and "write_gmond plugin: disabled" in text,
                     text[-1500:])
            c.send("--cycles", "1")
            site = sanitise(SITES[0])

            def csv_written(c=c, site=site):
                files = glob.glob(os.path.join(c.dir, "csv", site, "vacquery-*",
                                               "vacquery_factory-*"))
                return len(files) > 0, "no csv files yet"
            CK.eventually("%s gmond.conf: collectd keeps running and csv still writes "
                          "vacquery values" % name, csv_written, 10)
            CK.check("%s gmond.conf: collectd still alive" % name, c.alive(), c.log()[-800:])

    def config_errors(self):
        cases = [('SpoofNetwork "10.0.0.1/16"', "SpoofNetwork"),
                 ('DMax -5', "DMax"),
                 ('HeartbeatInterval 0', "HeartbeatInterval"),
                 ('<Site "UKI-X">\n    DMax 1\n  </Site>', "<Site>: unknown option DMax"),
                 ('<Site "UKI-X">\n  </Site>', 'needs GmondConf or Host'),
                 ('<Site "UKI-X" "UKI-X">\n    Host "h"\n  </Site>', "routed twice"),
                 ('GmondConf "/a"\n  Host "h"', "not both"),
                 ('Port 70000', "Port"),
                 ('Nonsense 1', "unknown option Nonsense")]
        for opt, text in cases:
            d = tempfile.mkdtemp(dir=self.tmp, prefix="conf-")
            conf = os.path.join(d, "collectd.conf")
            with open(conf, "w") as f:
                f.write('BaseDir "%s"\nPIDFile "%s/pid"\nTypesDB "%s"\nPluginDir "%s"\n'
                        'LoadPlugin write_gmond\n<Plugin write_gmond>\n  %s\n</Plugin>\n'
                        % (d, d, e2e.STOCK_TYPES_DB, PLUGIN_DIR, opt))
            r = subprocess.run([COLLECTD, "-T", "-C", conf], capture_output=True, text=True,
                               timeout=30, stdin=subprocess.DEVNULL, preexec_fn=_pdeathsig)
            out = r.stdout + r.stderr
            CK.check("config error %r stops collectd -T with a message naming it (%s)"
                     % (opt.replace("\n", " "), text),
                     r.returncode != 0 and "write_gmond plugin" in out and text in out, out[-600:])

    def final(self):
        CK.check("collectd alive at the end", self.collectd.alive(), self.collectd.log()[-1500:])
        errs = [l for l in self.collectd.log().splitlines()
                if "[error]" in l and "write_gmond" in l and "send(s) to gmond failed" not in l]
        CK.check("no write_gmond errors other than the counted send failures", not errs, errs[:3])


def main():
    def start(tmp):
        t = GmondE2E(tmp)
        t.setup()
        t.gmetad_start()
        return [("fleet", t.fleet), ("heartbeat", t.heartbeat),
                ("gmetad", t.gmetad_check), ("ganglia-web", t.ganglia_web_files),
                ("hypervisor", t.hypervisor), ("restart", t.restart),
                ("bad configs", t.bad_configs), ("config errors", t.config_errors),
                ("final", t.final)]
    return e2e.run_sections("gmond_e2e.py", 180, "vq-gmond-e2e-", start, CK,
                            required=(COLLECTD, GMOND, GMETAD, RRDTOOL))


if __name__ == "__main__":
    sys.exit(main())
