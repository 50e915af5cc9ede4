#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""End-to-end test of the collectd threshold drop-in of collectd-vacmon.

Real collectd daemons with the built vacquery.so, the stock threshold
plugin and the SHIPPED etc/collectd.d/vacquery_threshold.conf (only its
per-factory override line set to a test factory), and the logfile plugin,
which logs every notification ("Notification: severity = ..."). Crafted
VacQuery datagrams (built here from the protocol, not by the plugin) go to
one factory per rule; a healthy factory on a site of its own keeps sending
healthy values and machines throughout. For each rule the test asserts
that the data that should trigger it produces the threshold notification
(severity, type, data source), and that the healthy data produces no
WARNING or FAILURE at all. The drop rules run on two more collectd
daemons: one with a tiny socket buffer that is stopped (SIGSTOP) while a
burst arrives (kernel drops), one with a queue of length 1 (queue drops);
each first gets quiet, paced traffic. Two more run it beside the shipped
write_graphite drop-in: its PostCacheChain keeps values from the threshold
plugin unless "threshold" is added to its write targets, as documented.

Environment as tests/e2e/run-py.sh sets it. Prints one line per check,
ends with `N passed, M failed`. Exit 0 pass, 1 fail, 99 hard error.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import e2e  # noqa: E402  (helpers: Checks, wait_for, stop_proc, free_udp_port)

TOP = e2e.TOP_SRCDIR
DROPIN = os.path.join(TOP, "etc", "collectd.d", "vacquery_threshold.conf")
READ_INTERVAL = 10   # the vacquery read Interval the drop-in's rates assume
STALE = 15           # StaleTimeout of the main daemon
CK = e2e.Checks()
log = e2e.log

NOTE_RX = re.compile(r"Notification: severity = (\w+), host = ([^,]*), plugin = ([^,]*), "
                     r"(?:plugin_instance = ([^,]*), )?type = ([^,]*), "
                     r"(?:type_instance = ([^,]*), )?message = (.*)$")


def parse_notes(text):
    """Every notification the logfile plugin logged: dicts with severity,
    host, plugin_instance, type, type_instance, ds (the threshold's data
    source, None for the plugin's own notifications) and message."""
    out = []
    for line in text.splitlines():
        m = NOTE_RX.search(line)
        if not m:
            continue
        sev, host, plugin, pinst, typ, tinst, msg = m.groups()
        ds = re.search(r'Data source "([^"]+)"', msg)
        out.append({"severity": sev, "host": host, "plugin": plugin,
                    "plugin_instance": pinst or "", "type": typ, "type_instance": tinst or "",
                    "ds": ds.group(1) if ds else None, "message": msg,
                    "threshold": msg.startswith("Host ")})
    return out


# ---- crafted messages (docs/protocol.md) ---------------------------------------

SITE_FIRE, SITE_QUIET, SITE_SILENT = "UKI-THR-FIRE", "UKI-THR-QUIET", "UKI-THR-SILENT"
SPACE = "vcycle01.cloud.example.ac.uk"
HEALTHY = {  # a healthy 64-processor factory
    "running_processors": 48, "running_machines": 6, "max_processors": 64,
    "max_machines": 8, "running_hs06": 480.0, "max_hs06": 640.0,
    "root_disk_avail_kb": 30214876, "root_disk_avail_inodes": 2562934,
    "daemon_disk_avail_kb": 412997312, "daemon_disk_avail_inodes": 26180012,
    "load_average": 12.5, "swap_used_kb": 0, "swap_free_kb": 4194300,
    "mem_used_kb": 3715280, "mem_total_kb": 7990252, "boot_time": 1542211000}


def factory_status(site, factory, **over):
    now = int(time.time())
    m = {"message_type": "factory_status", "daemon_version": "Vcycle 03.00+pre06 vcycled",
         "vacquery_version": "VacQuery 01.02", "cookie": "0", "space": SPACE, "site": site,
         "factory": factory, "time_sent": now, "factory_heartbeat_time": now,
         "mjf_heartbeat_time": now, "metadata_heartbeat_time": now}
    m.update(HEALTHY)
    m.update(over)
    return m


def machine_status(site, factory, shutdown_message, wall=36000, n=[0]):
    """A finished lhcb-prod machine (VO lhcb); no shutdown message and a
    wall time under FizzleSeconds (600) is a fizzle."""
    n[0] += 1
    now = int(time.time())
    m = {"message_type": "machine_status", "daemon_version": "Vcycle 03.00+pre06 vcycled",
         "vacquery_version": "VacQuery 01.02", "cookie": "0", "space": SPACE, "site": site,
         "factory": factory, "num_machines": 1, "time_sent": now,
         "machine": "vcycle-lhcb-prod-%06d" % n[0], "state": "Deleting",
         "uuid": "00000000-0000-4000-8000-%012d" % n[0], "created_time": now - wall - 60,
         "started_time": now - wall, "heartbeat_time": now - 5, "num_processors": 8,
         "cpu_seconds": wall * 8, "cpu_percentage": 100.0, "machinetype": "lhcb-prod",
         "fqan": "/lhcb/Role=NULL/Capability=NULL", "hs06": 80.0, "shutdown_time": now}
    if shutdown_message is not None:
        m["shutdown_message"] = shutdown_message
    return m


def pinst(factory):
    """The plugin instance vacquery gives a factory: <space>.<factory>."""
    return e2e.sanitise(SPACE) + "." + e2e.sanitise(factory)


# ---- daemons ----------------------------------------------------------------------

def dropin_for_test(big_factory):
    """The shipped drop-in; the per-factory override set to big_factory."""
    with open(DROPIN) as f:
        text = f.read()
    n = len(re.findall(r"# EDIT", text))
    text, k = re.subn(r'Instance "[^"]*"(\s*# EDIT: <space>\.<factory>)',
                      r'Instance "%s"\1' % pinst(big_factory), text)
    CK.check("drop-in: %d EDIT lines, the override instance set" % n, k == 1 and n >= 5, k)
    return text


class Daemon:
    def __init__(self, tmp, name, vq_options, include):
        self.dir = os.path.join(tmp, name)
        os.makedirs(self.dir)
        self.port = e2e.free_udp_port()
        self.log = os.path.join(self.dir, "collectd.log")
        conf = os.path.join(self.dir, "collectd.conf")
        opts = "\n".join("  " + o for o in ['Listen "127.0.0.1" "%d"' % self.port] + vq_options)
        with open(conf, "w") as f:
            f.write(f'''Hostname "thr-{name}"
FQDNLookup false
BaseDir "{self.dir}"
PIDFile "{self.dir}/collectd.pid"
Interval 1
TypesDB "{e2e.STOCK_TYPES_DB}"
PluginDir "{e2e.STOCK_PLUGIN_DIR}"
LoadPlugin logfile
<Plugin logfile>
  LogLevel info
  File "{self.log}"
  Timestamp true
  PrintSeverity true
</Plugin>
PluginDir "{e2e.PLUGIN_DIR}"
<LoadPlugin vacquery>
  Interval {READ_INTERVAL}
</LoadPlugin>
<Plugin vacquery>
{opts}
</Plugin>
PluginDir "{e2e.STOCK_PLUGIN_DIR}"
Include "{include}"
''')
        self.out = open(os.path.join(self.dir, "stdout.txt"), "wb")
        self.proc = subprocess.Popen([e2e.COLLECTD, "-f", "-C", conf], stdout=self.out,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     preexec_fn=e2e._pdeathsig)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def text(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def ready(self):
        ok = e2e.wait_for(lambda: "Initialization complete" in self.text()
                          or self.proc.poll() is not None, 15, 0.1)
        return ok and self.proc.poll() is None

    def send(self, msg):
        self.sock.sendto(json.dumps(msg).encode(), ("127.0.0.1", self.port))

    def notes(self):
        return parse_notes(self.text())

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGCONT)
            except ProcessLookupError:
                pass
        e2e.stop_proc(self.proc)
        self.out.close()
        self.sock.close()


def bad(notes):
    return [n for n in notes if n["severity"] in ("WARNING", "FAILURE")]


# ---- the main daemon: every factory rule ------------------------------------------------

# factory -> (site, overrides of the healthy values)
FACTORIES = {
    "quiet.example.ac.uk": (SITE_QUIET, {}),
    "tmp.example.ac.uk": (SITE_FIRE, {"root_disk_avail_kb": 2 * 1048576}),
    "daemon.example.ac.uk": (SITE_FIRE, {"daemon_disk_avail_kb": 1048576}),
    "swap.example.ac.uk": (SITE_FIRE, {"swap_used_kb": 2 * 1048576}),
    "load.example.ac.uk": (SITE_FIRE, {"load_average": 80.0}),
    "big.example.ac.uk": (SITE_FIRE, {"load_average": 100.0, "max_processors": 128}),
    "fin.example.ac.uk": (SITE_FIRE, {}),
    "silent.example.ac.uk": (SITE_SILENT, {}),
}
# (factory, type, type instance, ds, severity): what each rule must send,
# written from the drop-in's documented limits, not read from it.
EXPECT = [
    ("tmp.example.ac.uk", "vacquery_disk", "", "root_disk_avail_kb", "WARNING"),
    ("daemon.example.ac.uk", "vacquery_disk", "", "daemon_disk_avail_kb", "FAILURE"),
    ("swap.example.ac.uk", "vacquery_memory", "", "swap_used_kb", "WARNING"),
    ("load.example.ac.uk", "vacquery_factory", "", "load_average", "WARNING"),
    ("fin.example.ac.uk", "vacquery_finished", "lhcb.lhcb-prod.fizzle", "machines", "FAILURE"),
    ("fin.example.ac.uk", "vacquery_finished", "lhcb.lhcb-prod.500", "machines", "WARNING"),
    ("fin.example.ac.uk", "vacquery_finished", "lhcb.lhcb-prod.600", "machines", "WARNING"),
]


class Feeder(threading.Thread):
    """Sends every factory's status every 2 s (the silent one only once),
    and the quiet factory a finished machine every 2 s: "100 Success", a
    fizzle and a 300 among them every 12 s."""

    def __init__(self, d):
        super().__init__(daemon=True)
        self.d = d
        self.stop_ev = threading.Event()
        self.rounds = 0

    def run(self):
        while not self.stop_ev.is_set():
            for fac, (site, over) in FACTORIES.items():
                if fac == "silent.example.ac.uk" and self.rounds:
                    continue
                self.d.send(factory_status(site, fac, **over))
            q = ["100 Success", None, "100 Success", "300 Nothing to do", "100 Success",
                 "100 Success"]  # one fizzle every 12 s: at most one per read interval
            msg = q[self.rounds % len(q)]
            self.d.send(machine_status(SITE_QUIET, "quiet.example.ac.uk", msg,
                                       wall=120 if msg is None else 36000))
            self.rounds += 1
            self.stop_ev.wait(2)


def wait_read(n=1):
    """Sleeps through n vacquery read intervals (and a little)."""
    time.sleep(n * READ_INTERVAL + 1.5)


def run_main(tmp, include):
    d = Daemon(tmp, "main", ["RateLimit 0", "ReportInterval 60", "StaleTimeout %d" % STALE],
               include)
    try:
        if not CK.check("main collectd starts with the shipped threshold drop-in", d.ready(),
                        d.text()[-1500:]):
            return
        feeder = Feeder(d)
        feeder.start()
        fin = "fin.example.ac.uk"
        # The first value of a counter has no rate: one machine of each bad
        # outcome first, then the bursts one read later.
        for msg, wall in ((None, 120), ("500 VO error", 36000), ("600 Network error", 36000)):
            d.send(machine_status(SITE_FIRE, fin, msg, wall))
        wait_read(2)
        for _ in range(5):
            d.send(machine_status(SITE_FIRE, fin, None, wall=120))  # 5 fizzles
        d.send(machine_status(SITE_FIRE, fin, "503 Payload failed", 36000))
        d.send(machine_status(SITE_FIRE, fin, "601 Network error", 36000))
        wait_read(2)
        time.sleep(max(0, STALE + READ_INTERVAL - 2 * (2 * READ_INTERVAL + 1.5)) + 2)
        feeder.stop_ev.set()
        feeder.join(5)
        notes = d.notes()
        log("main: %d notifications (%d WARNING/FAILURE)" % (len(notes), len(bad(notes))))
        for fac, typ, tinst, ds, sev in EXPECT:
            hit = [n for n in notes if n["threshold"] and n["plugin_instance"] == pinst(fac)
                   and n["type"] == typ and n["type_instance"] == tinst and n["ds"] == ds
                   and n["severity"] == sev]
            CK.check("fires: %s %s %s on %s -> %s" % (typ, tinst or "", ds, fac, sev), hit,
                     [n for n in notes if n["plugin_instance"] == pinst(fac)][:4])
        stale = [n for n in notes if n["threshold"] and n["host"] == SITE_SILENT
                 and n["type"] == "vacquery_site" and n["ds"] == "stale_factories"
                 and n["severity"] == "FAILURE"]
        CK.check("fires: vacquery_site stale_factories of the silent factory's site -> FAILURE",
                 stale, [n for n in notes if n["host"] == SITE_SILENT][:4])
        own = [n for n in notes if not n["threshold"] and n["host"] == SITE_SILENT
               and n["severity"] == "FAILURE" and "has sent nothing" in n["message"]]
        CK.check("vacquery's own FAILURE for the silent factory is logged too", own)
        big = [n for n in bad(notes) if n["plugin_instance"] == pinst("big.example.ac.uk")]
        CK.check("quiet: load 100 on the 128-processor factory (per-factory override) "
                 "sends nothing", not big, big[:2])
        # vacquery itself warns once per fizzled machine (FinishedNotifications);
        # the drop-in's rules must stay quiet on a fizzle every 12 s.
        quiet = [n for n in bad(notes) if n["host"] == SITE_QUIET and n["threshold"]]
        own_q = [n for n in bad(notes) if n["host"] == SITE_QUIET and not n["threshold"]]
        CK.check("quiet: the healthy factory (healthy disks, swap, load; successes, a "
                 "fizzle and a 300 every 12 s) gets no threshold WARNING or FAILURE "
                 "(vacquery's own per-machine fizzle WARNINGs: %d)" % len(own_q),
                 not quiet, quiet[:3])
        fire_quiet = [n for n in bad(notes) if n["host"] == SITE_FIRE
                      and n["type"] == "vacquery_site"]
        CK.check("quiet: the site whose factories all report has no stale factory",
                 not fire_quiet, fire_quiet[:2])
        first = [n for n in bad(notes) if n["threshold"] and n["type"] == "vacquery_finished"
                 and n["severity"] == "FAILURE" and n["type_instance"].endswith(".500")]
        CK.check("quiet: 500/600 rules stay at WARNING (no FAILURE limit)", not first, first)
        drops = [n for n in bad(notes) if n["type"] == "vacquery_stats"]
        CK.check("quiet: no receiver drop notification on the main daemon", not drops,
                 drops[:2])
    finally:
        d.stop()


# ---- drops ----------------------------------------------------------------------------

def run_drops(tmp, include, kind):
    """kind "kernel": a small socket buffer, SIGSTOP while a burst arrives;
    kind "queue": QueueLength 1 and an unpaced burst."""
    opts = ["RateLimit 0", "ReportInterval 60", "StaleTimeout 3600"]
    opts += ["ReceiveBufferSize 4096"] if kind == "kernel" else ["QueueLength 1"]
    d = Daemon(tmp, "drops-" + kind, opts, include)
    try:
        if not CK.check("%s-drops collectd starts" % kind, d.ready(), d.text()[-1500:]):
            return
        # quiet: paced traffic for two read intervals
        t_end = time.time() + 2 * READ_INTERVAL + 2
        while time.time() < t_end:
            d.send(factory_status(SITE_QUIET, "paced.example.ac.uk"))
            time.sleep(0.5)
        quiet = bad(d.notes())
        CK.check("quiet: %s-drops daemon with paced traffic sends no WARNING/FAILURE" % kind,
                 not quiet, quiet[:2])
        burst = [json.dumps(factory_status(SITE_QUIET, "burst%d.example.ac.uk" % i)).encode()
                 for i in range(200)]
        if kind == "kernel":
            d.proc.send_signal(signal.SIGSTOP)
        for _ in range(10):
            for b in burst:
                d.sock.sendto(b, ("127.0.0.1", d.port))
        if kind == "kernel":
            time.sleep(0.5)
            d.proc.send_signal(signal.SIGCONT)
            time.sleep(1)
            for b in burst[:5]:  # the next datagrams carry the drop count
                d.sock.sendto(b, ("127.0.0.1", d.port))
        ds = "kernel_drops" if kind == "kernel" else "queue_drops"

        def fired():
            hit = [n for n in d.notes() if n["threshold"] and n["type"] == "vacquery_stats"
                   and n["ds"] == ds and n["severity"] == "WARNING"]
            return hit, [n for n in d.notes() if n["type"] == "vacquery_stats"][-3:]
        CK.eventually("fires: vacquery_stats %s on a burst -> WARNING" % ds, fired,
                      3 * READ_INTERVAL, 1)
    finally:
        d.stop()


# ---- beside vacquery_graphite.conf ----------------------------------------------------

GRAPHITE_DROPIN = os.path.join(TOP, "etc", "collectd.d", "vacquery_graphite.conf")


def run_chain(tmp, include, added):
    """The threshold drop-in beside the write_graphite drop-in, whose
    PostCacheChain decides which writer gets what. added: "threshold" put
    into both of its write targets, as the threshold drop-in says."""
    with open(GRAPHITE_DROPIN) as f:
        text = f.read()
    port = e2e.free_udp_port()  # nothing listens there: write_graphite just fails
    text = re.sub(r'Host "[^"]*"(\s*# EDIT)', r'Host "127.0.0.1"\1', text)
    text = re.sub(r'Port "[^"]*"(\s*# EDIT)', r'Port "%d"\1' % port, text)
    text = text.replace('Plugin "rrdtool"', 'Plugin "logfile"')
    if added:
        text, n = re.subn(r'(\n(\s*)Plugin "(write_graphite/vacmon|logfile)"[^\n]*)',
                          r'\1\n\2Plugin "threshold"', text)
        CK.check("graphite drop-in: threshold added to its 2 write targets", n == 2, n)
    name = "chain-" + ("added" if added else "plain")
    gconf = os.path.join(tmp, name + "-graphite.conf")
    with open(gconf, "w") as f:
        f.write(text)
    both = os.path.join(tmp, name + "-both.conf")
    with open(both, "w") as f:
        f.write('Include "%s"\nInclude "%s"\n' % (gconf, include))
    d = Daemon(tmp, name, ["RateLimit 0", "ReportInterval 60", "StaleTimeout 3600"], both)
    try:
        if not CK.check("%s collectd starts with both drop-ins" % name, d.ready(),
                        d.text()[-1500:]):
            return
        for _ in range(3):
            d.send(factory_status(SITE_FIRE, "swap.example.ac.uk", swap_used_kb=2 * 1048576))
            time.sleep(1)
        time.sleep(2)
        hit = [n for n in d.notes() if n["threshold"] and n["ds"] == "swap_used_kb"
               and n["severity"] == "WARNING"]
        if added:
            CK.check("with threshold in the graphite chain's targets: swap rule fires", hit,
                     d.notes()[-3:])
        else:
            CK.check("without it (the pitfall the drop-in documents): the graphite chain "
                     "keeps every value from the threshold plugin", not hit and not any(
                         n["threshold"] for n in d.notes()), d.notes()[-3:])
    finally:
        d.stop()


def main():
    t0 = time.monotonic()
    if not os.access(e2e.COLLECTD, os.X_OK):
        log("ERROR: %s missing (Debian collectd-core)" % e2e.COLLECTD)
        return 99
    if not os.path.exists(os.path.join(e2e.STOCK_PLUGIN_DIR, "threshold.so")):
        log("ERROR: collectd's threshold plugin is missing (Debian collectd-core)")
        return 99
    tmp = tempfile.mkdtemp(prefix="vq-threshold-")
    include = os.path.join(tmp, "vacquery_threshold.conf")
    with open(include, "w") as f:
        f.write(dropin_for_test("big.example.ac.uk"))
    results = {}
    threads = [threading.Thread(target=lambda k=k: results.setdefault(k, run_drops(
        tmp, include, k))) for k in ("kernel", "queue")]
    threads += [threading.Thread(target=lambda a=a: run_chain(tmp, include, a))
                for a in (False, True)]
    try:
        for t in threads:  # the drop daemons run beside the main one
            t.start()
        run_main(tmp, include)
        for t in threads:
            t.join(120)
    except Exception as e:
        import traceback
        traceback.print_exc()
        CK.check("no exception", False, e)
    finally:
        if os.environ.get("VQ_E2E_KEEP") == "1" or CK.failed:
            log("kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    log("threshold e2e: %.1f s" % (time.monotonic() - t0))
    log("%d passed, %d failed" % (CK.passed, CK.failed))
    return 0 if CK.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
