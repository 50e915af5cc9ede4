#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""End-to-end test of the vacquery collectd plugin (collectd-vacmon).

Runs real collectd 5.12 daemons on loopback with the built vacquery.so,
write_http pointed at an HTTP sink in this process, csv and logfile, and
drives them with tools/vacquery-send and raw datagrams:

  1. the shipped example messages: identifiers, values, meta, notifications
  2. a simulated fleet: sums of the latest values against the sender's summary
  3. a hostile burst: every rejection reason counted exactly, daemon alive
  4. AllowFrom (an IPv6 source) and SiteCookie
  5. stale factories: FAILURE, then OKAY
  6. RateLimit, on a second collectd
  7. configuration errors under `collectd -T`

Environment (set by `make check`, see run-py.sh): top_srcdir, top_builddir,
VQ_PLUGIN_DIR, VQ_SEND; optional COLLECTD (default /usr/sbin/collectd) and
VQ_E2E_KEEP=1 to keep the temporary directory. Standard library only.
Prints one line per check and ends with `N passed, M failed`.
"""

import atexit
import collections
import ctypes
import http.server
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
TOP_SRCDIR = os.environ.get("top_srcdir") or os.path.dirname(os.path.dirname(HERE))
TOP_BUILDDIR = os.environ.get("top_builddir") or TOP_SRCDIR
PLUGIN_DIR = os.environ.get("VQ_PLUGIN_DIR") or os.path.join(TOP_BUILDDIR, ".libs")
VQ_SEND = os.environ.get("VQ_SEND") or os.path.join(TOP_BUILDDIR, "tools", "vacquery-send")
COLLECTD = os.environ.get("COLLECTD") or "/usr/sbin/collectd"
STOCK_PLUGIN_DIR = "/usr/lib/collectd"
STOCK_TYPES_DB = "/usr/share/collectd/types.db"
FIXTURES = os.path.join(TOP_SRCDIR, "tests", "fixtures", "examples")
VQ_TYPES_DB = os.path.join(TOP_SRCDIR, "etc", "collectd.d", "vacquery_types.db")

MAIN_HOST = "e2e-main"  # collectd Hostname of the main instance
RL_HOST = "e2e-rl"      # and of the rate-limit instance
STALE_TIMEOUT = 4
V9_MAX_FACTORIES = 50   # MaxFactories of the issue-9 collectd
V9_FLOOD = 20000        # invented factories sent past it
V9_RSS_BOUND_KB = 8192  # generous: without the cap this was about 340 MB
MAX_DGRAM = 4096
COOKIE_SITE, COOKIE = "UKI-COOKIE-SITE", "s3cret"
FIZZLE_SECONDS = 600  # the plugin's default FizzleSeconds

MSG_TYPES = ["factory_status", "machinetype_status", "machine_status"]
# The value lists one status message becomes; the first carries all meta,
# the others only the names (site, space, factory[, vo, machinetype]).
GROUPS = {
    "vacquery_factory": ["vacquery_factory", "vacquery_capacity", "vacquery_memory",
                         "vacquery_disk", "vacquery_heartbeat"],
    "vacquery_mt": ["vacquery_mt", "vacquery_mt_limits", "vacquery_mt_info"],
}
ALL_STATUS_TYPES = GROUPS["vacquery_factory"] + GROUPS["vacquery_mt"]
REASONS = ["oversize", "acl", "rate_limit", "not_json", "not_object",
           "no_message_type", "query", "unknown_message_type",
           "missing_field", "bad_type", "name_too_long", "cookie", "fleet_full"]

# docs/protocol.md section 9 fill-if-absent fix-ups (plus the safe extra max_cpus).
FACTORY_LEGACY = {
    "running_processors": ["running_cpus"],
    "max_processors": ["total_cpus", "max_cpus"],
    "max_machines": ["total_machines"],
    "max_hs06": ["total_hs06"],
    "daemon_disk_avail_kb": ["vac_disk_avail_kb"],
    "daemon_disk_avail_inodes": ["vac_disk_avail_inodes"],
}
MT_LEGACY = {
    "running_processors": ["running_cpus"],
    "running_machines": ["total_machines"],
    "running_hs06": ["total_hs06"],
}

T0 = time.monotonic()


def log(msg):
    print(msg, flush=True)


# ---- checks -----------------------------------------------------------------

class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.failures = []

    def check(self, name, ok, detail=""):
        ok = bool(ok)
        if ok:
            self.passed += 1
            log("PASS %s" % name)
        else:
            self.failed += 1
            self.failures.append(name)
            log("FAIL %s%s" % (name, (": " + str(detail)) if detail != "" else ""))
        return ok

    def eventually(self, name, fn, timeout, step=0.2):
        """Polls fn() -> (ok, detail) until ok or timeout; records one check."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                ok, detail = fn()
            except Exception as e:  # a half-arrived state must not abort the run
                ok, detail = False, "%s: %s" % (type(e).__name__, e)
            if ok or time.monotonic() >= deadline:
                return self.check(name, ok, detail)
            time.sleep(step)


CK = Checks()


def wait_for(fn, timeout, step=0.2):
    """Returns the first truthy fn() within timeout, else the last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(step)


def close(a, b):
    if a is None or b is None:
        return a is None and b is None
    return abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(b)))


def sanitise(s):
    """The naming contract: every byte outside [A-Za-z0-9_-] becomes '_'."""
    if isinstance(s, str):
        s = s.encode("utf-8")
    return "".join(chr(c) if (chr(c).isascii() and (chr(c).isalnum() or chr(c) in "_-"))
                   else "_" for c in s)


def vo_of(fqan):
    """docs/protocol.md section 7; "none" when there is no VO."""
    if isinstance(fqan, str) and fqan.startswith("/"):
        vo = fqan[1:].split("/", 1)[0]
        if vo:
            return vo
    return "none"


# ---- the HTTP sink (write_http target) ---------------------------------------

class Store:
    """Everything collectd POSTed, parsed, in arrival order."""

    def __init__(self):
        self.lock = threading.Lock()
        self.seq = 0
        self.by_type = collections.defaultdict(list)
        self.notifs = []
        self.bad_bodies = []
        self.unknown = []
        self.posts = 0

    def add(self, path, body, arrival):
        try:
            data = json.loads(body.decode("utf-8", "replace"))
            if isinstance(data, dict):
                data = [data]
            if not isinstance(data, list):
                raise ValueError("not an array")
        except Exception as e:
            with self.lock:
                self.posts += 1
                self.bad_bodies.append((path, repr(e), body[:300]))
            return
        with self.lock:
            self.posts += 1
            for o in data:
                self.seq += 1
                if isinstance(o, dict) and "values" in o and "dsnames" in o:
                    o["_path"], o["_seq"], o["_arrival"] = path, self.seq, arrival
                    self.by_type[o.get("type", "")].append(o)
                elif isinstance(o, dict):
                    n = norm_notification(o)
                    if n is None:
                        self.unknown.append(o)
                    else:
                        n["_path"], n["_seq"], n["_arrival"] = path, self.seq, arrival
                        self.notifs.append(n)
                else:
                    self.unknown.append(o)

    def values(self, type_, path="/main", **flt):
        with self.lock:
            lst = list(self.by_type.get(type_, ()))
        return [o for o in lst if o["_path"] == path
                and all(o.get(k) == v for k, v in flt.items())]

    def latest(self, type_, path="/main", **flt):
        lst = self.values(type_, path, **flt)
        return max(lst, key=lambda o: (o["time"], o["_seq"])) if lst else None

    def notifications(self, path="/main", **flt):
        with self.lock:
            lst = list(self.notifs)
        return [n for n in lst if n["_path"] == path
                and all(n.get(k) == v for k, v in flt.items())]


def norm_notification(o):
    """Normalises a notification as write_http's JSON format sends it.

    collectd 5.12 sends the Prometheus Alertmanager form: labels alertname
    (collectd_<type>, or collectd_<plugin>_<type>), instance (host), a label
    named after the plugin (plugin_instance), type (type_instance), severity,
    service; annotations summary (the message) and the meta data, all as
    strings. A flat form (host, plugin, ..., meta) is accepted as well.
    """
    if isinstance(o.get("labels"), dict):
        lab = dict(o["labels"])
        ann = dict(o.get("annotations") or {})
        n = {"host": lab.pop("instance", ""), "severity": lab.pop("severity", ""),
             "message": ann.pop("summary", "")}
        alert = lab.pop("alertname", "")
        lab.pop("service", None)
        n["type_instance"] = lab.pop("type", "")
        plugin, pi = ("", "")
        if lab:
            plugin, pi = sorted(lab.items())[0]
        n["plugin"], n["plugin_instance"] = plugin, pi
        t = alert[len("collectd_"):] if alert.startswith("collectd_") else alert
        if plugin and not t.startswith(plugin) and t.startswith(plugin + "_"):
            t = t[len(plugin) + 1:]
        n["type"] = t
        n["meta"] = {k: str(v) for k, v in ann.items()}
        n["time"] = o.get("startsAt", "")
        return n
    if "severity" in o and "host" in o:
        n = {k: o.get(k, "") for k in ("host", "plugin", "plugin_instance", "type",
                                       "type_instance", "severity", "message", "time")}
        n["severity"] = str(n["severity"]).upper()
        meta = o.get("meta") or {}
        n["meta"] = {k: (json.dumps(v) if isinstance(v, bool) else str(v))
                     for k, v in meta.items()}
        return n
    return None


class SinkHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n > 0 else b""
        self.server.store.add(self.path, body, time.time())
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


class Sink(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


# ---- processes ---------------------------------------------------------------

PROCS = []
try:  # resolved here, so that the child after fork only makes the call
    _PRCTL = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):
    _PRCTL = None


def _pdeathsig():
    """In the child: receive SIGTERM when this test process dies."""
    if _PRCTL is not None:
        _PRCTL(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG


def stop_proc(p, timeout=10):
    """SIGTERM, then SIGKILL. Returns the exit status."""
    if p.poll() is None:
        try:
            p.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)
    return p.returncode


def stop_all():
    for p in PROCS:
        try:
            stop_proc(p)
        except Exception:
            pass


def free_udp_port():
    """A port free for UDP on 127.0.0.1 and ::1 (and TCP, to be safe)."""
    for _ in range(50):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        others = []
        try:
            for fam, addr in ((socket.AF_INET6, "::1"), (socket.AF_INET, "127.0.0.1")):
                o = socket.socket(fam, socket.SOCK_DGRAM if fam == socket.AF_INET6
                                  else socket.SOCK_STREAM)
                others.append(o)
                o.bind((addr, port))
            return port
        except OSError:
            continue
        finally:
            s.close()
            for o in others:
                o.close()
    raise RuntimeError("no free port")


class Collectd:
    """One collectd daemon with its own directory, config, log and sink path."""

    # One write thread: with several, collectd itself may pass two values of
    # one identifier dispatched microseconds apart on out of order and log
    # "Value too old" whatever their times; the checks of that message are
    # about the times vacquery gives (distinct and increasing per batch).
    def __init__(self, tmp, name, vq_options, http_port, globals_="WriteThreads 1"):
        self.name = name
        self.dir = os.path.join(tmp, name)
        os.makedirs(os.path.join(self.dir, "csv"), exist_ok=True)
        self.logfile = os.path.join(self.dir, "collectd.log")
        self.conf = os.path.join(self.dir, "collectd.conf")
        self.path = "/" + name
        self.hostname = "e2e-" + name
        with open(self.conf, "w") as f:
            f.write(collectd_conf(self.dir, self.hostname, self.logfile, http_port,
                                  self.path, vq_options, globals_))
        self.proc = None

    def start(self):
        self.out = open(os.path.join(self.dir, "stdout.txt"), "wb")
        self.proc = subprocess.Popen([COLLECTD, "-f", "-C", self.conf],
                                     stdout=self.out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, preexec_fn=_pdeathsig)
        PROCS.append(self.proc)

    def log_text(self):
        try:
            with open(self.logfile, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def wait_ready(self, timeout=15):
        ok = wait_for(lambda: "Initialization complete" in self.log_text()
                      or self.proc.poll() is not None, timeout, 0.1)
        return ok and self.proc.poll() is None and "Initialization complete" in self.log_text()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def tail(self, n=25):
        lines = self.log_text().splitlines()
        try:
            with open(os.path.join(self.dir, "stdout.txt"), "rb") as f:
                lines += f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            pass
        return "\n    " + "\n    ".join(lines[-n:])


def base_conf(d, hostname, logfile=None, print_severity=False):
    """The head of a test collectd's config: its Hostname, its own directory
    and PID file, Interval 1, the stock types and plugins, and a logfile
    (logfile, default collectd.log in d; with print_severity, each line
    names its severity)."""
    logfile = logfile or f"{d}/collectd.log"
    severity = "  PrintSeverity true\n" if print_severity else ""
    return f'''Hostname "{hostname}"
FQDNLookup false
BaseDir "{d}"
PIDFile "{d}/collectd.pid"
Interval 1
TypesDB "{STOCK_TYPES_DB}"
PluginDir "{STOCK_PLUGIN_DIR}"
LoadPlugin logfile
<Plugin logfile>
  LogLevel info
  File "{logfile}"
  Timestamp true
{severity}</Plugin>
'''


def collectd_conf(d, hostname, logfile, http_port, path, vq_options, globals_=""):
    opts = "\n".join("  " + o for o in vq_options)
    head = base_conf(d, hostname, logfile, print_severity=True)
    return f'''# written by tests/e2e/e2e.py
{globals_}
{head}<LoadPlugin write_http>
  FlushInterval 1
</LoadPlugin>
LoadPlugin csv
<Plugin csv>
  DataDir "{d}/csv"
  StoreRates false
</Plugin>
<Plugin write_http>
  <Node "e2e">
    URL "http://127.0.0.1:{http_port}{path}"
    Format "JSON"
    StoreRates false
    Metrics true
    Notifications true
    BufferSize 65536
  </Node>
</Plugin>
PluginDir "{PLUGIN_DIR}"
LoadPlugin vacquery
<Plugin vacquery>
{opts}
</Plugin>
'''


# ---- stats snapshots ---------------------------------------------------------

Snapshot = collections.namedtuple("Snapshot", "time stats acc rej queue")


def snapshot(store, path, host):
    """The latest complete set of the receiver's own counters (one read)."""
    groups = collections.defaultdict(dict)
    for t in ("vacquery_stats", "vacquery_accepted", "vacquery_rejected", "vacquery_queue"):
        for o in store.values(t, path, host=host, plugin="vacquery"):
            key = t + ("-" + o["type_instance"] if o["type_instance"] else "")
            groups[o["time"]][key] = o
    need = {"vacquery_stats", "vacquery_queue"} | \
        {"vacquery_accepted-" + m for m in MSG_TYPES} | \
        {"vacquery_rejected-" + r for r in REASONS}
    times = sorted((t for t, g in groups.items() if need <= set(g)), reverse=True)
    if not times:
        return None
    g = groups[times[0]]
    st = dict(zip(g["vacquery_stats"]["dsnames"], g["vacquery_stats"]["values"]))
    acc = {m: g["vacquery_accepted-" + m]["values"][0] for m in MSG_TYPES}
    rej = {r: g["vacquery_rejected-" + r]["values"][0] for r in REASONS}
    return Snapshot(times[0], st, acc, rej, g["vacquery_queue"]["values"][0])


def consistent(s):
    st = s.stats
    return (st["received"] == st["accepted"] + st["rejected"] + st["queue_drops"]
            and st["accepted"] == sum(s.acc.values())
            and st["rejected"] == sum(s.rej.values()))


def settled_snapshot(store, path, host, expected_received, timeout):
    """Waits until the counters account for every datagram sent."""
    def fn():
        s = snapshot(store, path, host)
        if s and s.stats["received"] == expected_received and consistent(s):
            return s
        return None
    s = wait_for(fn, timeout, 0.25)
    return s, (s or snapshot(store, path, host))


def delta(after, before):
    d = {"stats": {k: after.stats[k] - before.stats[k] for k in after.stats}}
    d["acc"] = {m: after.acc[m] - before.acc[m] for m in MSG_TYPES}
    d["rej"] = {r: after.rej[r] - before.rej[r] for r in REASONS}
    return d


# ---- helpers for expectations --------------------------------------------------

# The data sets the plugin dispatches, written out here (not read from the
# shipped types.db, which is compared with this table below).
VQ_TYPES = {
    "vacquery_factory": ["running_processors", "running_machines", "running_hs06",
                         "load_average"],
    "vacquery_capacity": ["max_processors", "max_machines", "max_hs06", "boot_time"],
    "vacquery_memory": ["mem_used_kb", "mem_total_kb", "swap_used_kb", "swap_free_kb"],
    "vacquery_disk": ["root_disk_avail_kb", "root_disk_avail_inodes",
                      "daemon_disk_avail_kb", "daemon_disk_avail_inodes"],
    "vacquery_heartbeat": ["factory_heartbeat_time", "responder_heartbeat_time",
                           "mjf_heartbeat_time", "metadata_heartbeat_time"],
    "vacquery_mt": ["running_processors", "running_machines", "running_hs06"],
    "vacquery_mt_limits": ["max_processors", "max_wallclock_seconds",
                           "bytes_per_processor"],
    "vacquery_mt_info": ["num_before_fizzle", "num_machinetypes"],
    "vacquery_finished": ["machines", "cpu_seconds", "wall_seconds", "hs06_seconds"],
    "vacquery_site": ["factories", "stale_factories"],
    "vacquery_stats": ["received", "accepted", "rejected", "kernel_drops",
                       "queue_drops"],
    "vacquery_accepted": ["value"],
    "vacquery_rejected": ["value"],
    "vacquery_queue": ["length"],
    "vacquery_bad_field": ["value"],
    "vacquery_join": ["waiting", "joined", "timed_out"],
    # issue 12: polled machine slots and the poller's counters
    "vacquery_machine": ["processors", "cpu_percentage", "cpu_seconds", "hs06"],
    "vacquery_machine_state": ["state", "age", "heartbeat_age"],
    "vacquery_slots": ["machines"],
    "vacquery_poll": ["value"],
    "vacquery_finished_source": ["value"],
    "vacquery_queue_bytes": ["bytes"],
}


def read_types_db(path):
    types = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, rest = line.split(None, 1)
            types[name] = [ds.strip().split(":")[0] for ds in rest.split(",")]
    return types


def expected_ds(msg, dsnames, legacy):
    exp = {}
    for ds in dsnames:
        keys = [ds] + legacy.get(ds, [])
        v = None
        for k in keys:
            if k in msg:
                v = msg[k]
                break
        exp[ds] = v
    return exp


def vl_dict(o):
    return dict(zip(o["dsnames"], o["values"]))


def outcome_of(msg):
    """The finished-machine outcome, as the naming contract defines it."""
    sm = msg.get("shutdown_message")
    if isinstance(sm, str) and len(sm) >= 3 and sm[:3].isdigit() and sm[:3].isascii() \
            and not (len(sm) > 3 and sm[3].isdigit()):
        code = int(sm[:3])
        return str(code // 100 * 100) if 100 <= code < 800 else "other"
    w = wall_of(msg)
    if w is not None and w < FIZZLE_SECONDS:
        return "fizzle"
    return "none"


def wall_of(msg):
    def span(a, b):
        if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
            return None
        if a <= 0 or b < a:
            return None
        return b - a
    w = span(msg.get("started_time"), msg.get("heartbeat_time"))
    if w is None:
        w = span(msg.get("started_time"), msg.get("shutdown_time"))
    return w


def meta_matches(meta, key, value):
    """A notification meta value (a string) against the message's value."""
    if key not in meta:
        return False
    m = meta[key]
    if isinstance(value, bool):
        return m.lower() == ("true" if value else "false")
    if isinstance(value, (int, float)):
        try:
            return close(float(m), value)
        except ValueError:
            return False
    return m == value


# ---- the test ------------------------------------------------------------------

class E2E:
    def __init__(self, tmp):
        self.tmp = tmp
        self.store = Store()
        self.sent_main = 0
        self.vq_types = VQ_TYPES
        self.s4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        for s in (self.s4, self.s6):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        self.s6.bind(("::1", 0))
        self.s4.bind(("127.0.0.1", 0))

    # -- plumbing --

    def send(self, data, v6=False, port=None):
        if isinstance(data, str):
            data = data.encode()
        port = port or self.port
        if v6:
            self.s6.sendto(data, ("::1", port))
        else:
            self.s4.sendto(data, ("127.0.0.1", port))
        if port == self.port:
            self.sent_main += 1

    def settle(self, timeout=15):
        s, last = settled_snapshot(self.store, "/main", MAIN_HOST, self.sent_main, timeout)
        return s, last

    def run_send(self, args, timeout=60):
        r = subprocess.run([VQ_SEND] + args, capture_output=True, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL)
        return r

    # -- setup --

    def setup(self):
        CK.check("built plugin exists (%s)" % os.path.join(PLUGIN_DIR, "vacquery.so"),
                 os.path.isfile(os.path.join(PLUGIN_DIR, "vacquery.so")))
        CK.check("built vacquery-send exists (%s)" % VQ_SEND, os.access(VQ_SEND, os.X_OK))
        self.sink = Sink(("127.0.0.1", 0), SinkHandler)
        self.sink.store = self.store
        self.http_port = self.sink.server_address[1]
        threading.Thread(target=self.sink.serve_forever, daemon=True).start()

        self.port = free_udp_port()
        self.main = Collectd(self.tmp, "main", [
            'Listen "127.0.0.1" "%d"' % self.port,
            'Listen "::1" "%d"' % self.port,
            "RateLimit 0",
            "ReportInterval 30",
            # Each machine counts on its own here; the outcome join has a
            # collectd of its own (section "issue 9").
            "OutcomeWait 0",
            "StaleTimeout %d" % STALE_TIMEOUT,
            "MaxDatagramSize %d" % MAX_DGRAM,
            'AllowFrom "127.0.0.0/8"',
            'SiteCookie "%s" "%s"' % (COOKIE_SITE, COOKIE),
            "MessageNotifications true",
        ], self.http_port)
        self.rl_port = free_udp_port()
        self.rl = Collectd(self.tmp, "rl", [
            'Listen "127.0.0.1" "%d"' % self.rl_port,
            "RateLimit 5 5",
        ], self.http_port)
        self.main.start()
        self.rl.start()
        ok = CK.check("main collectd starts (Initialization complete)",
                      self.main.wait_ready(), self.main.tail())
        if not ok:
            raise RuntimeError("main collectd did not start")
        text = self.main.log_text()
        CK.check("vacquery listens on 127.0.0.1 and ::1",
                 "listening on [127.0.0.1]:%d" % self.port in text
                 and "listening on [::1]:%d" % self.port in text, self.main.tail())
        CK.check("rate-limit collectd starts", self.rl.wait_ready(), self.rl.tail())

        s, last = self.settle(10)
        CK.check("first read reports every counter, all zero "
                 "(vacquery_stats, _queue, _accepted-<3 types>, _rejected-<13 reasons>)",
                 s is not None and all(v == 0 for v in s.stats.values())
                 and not any(s.acc.values()) and not any(s.rej.values()), last)
        st = self.store.latest("vacquery_stats", host=MAIN_HOST)
        CK.check("the shipped vacquery_types.db lists the data sets as written here",
                 read_types_db(VQ_TYPES_DB) == VQ_TYPES, read_types_db(VQ_TYPES_DB))
        CK.check("vacquery_stats DS names as written here",
                 st is not None and st["dsnames"] == self.vq_types["vacquery_stats"],
                 st and st["dsnames"])
        self.base = s or last

    # -- 1. examples --

    def examples(self):
        files = sorted(f for f in os.listdir(FIXTURES) if f.endswith(".json"))
        msgs = {}
        for f in files:
            with open(os.path.join(FIXTURES, f)) as fh:
                msgs[f] = json.load(fh)
        r = self.run_send(["-H", "127.0.0.1", "-p", str(self.port)]
                          + [os.path.join(FIXTURES, f) for f in files])
        self.sent_main += len(files)
        CK.check("vacquery-send sends the %d example files" % len(files),
                 r.returncode == 0 and ("sent_messages %d" % len(files)) in r.stdout
                 and "send_errors 0" in r.stdout, r.stdout + r.stderr)

        s, last = self.settle()
        CK.check("examples: received == accepted + rejected + queue_drops == %d"
                 % self.sent_main, s is not None, last)
        if s:
            d = delta(s, self.base)
            want = collections.Counter(m["message_type"] for m in msgs.values()
                                       if m["message_type"] in MSG_TYPES)
            CK.check("examples: vacquery_accepted-<type> counts (%s)" % dict(want),
                     d["acc"] == {m: want[m] for m in MSG_TYPES}, d["acc"])
            CK.check("examples: the two *_query files counted under vacquery_rejected-query",
                     d["rej"]["query"] == 2
                     and all(v == 0 for k, v in d["rej"].items() if k != "query"), d["rej"])
            self.base = s

        for f in files:
            m = msgs[f]
            if m["message_type"] == "factory_status":
                self.check_sample(f, m, "vacquery_factory", FACTORY_LEGACY)
            elif m["message_type"] == "machinetype_status":
                self.check_sample(f, m, "vacquery_mt", MT_LEGACY)
            elif m["message_type"] == "machine_status":
                self.check_finished(f, m)

        # Specific values the brief names, as their own checks.
        self.check_value("factory_status-vac-man.json: running_processors 28, max_processors 32",
                         "vacquery_factory", "UKI-NORTHGRID-MAN-HEP",
                         "vac01_tier2_hep_manchester_ac_uk.vac101_tier2_hep_manchester_ac_uk",
                         "", {"running_processors": 28, "max_processors": 32},
                         {"os_issue": "CentOS Linux release 7.5.1804 (Core)"})
        self.check_value("factory_status-vcycle-nolimit.json: max_processors null (NaN)",
                         "vacquery_factory", "cloud_example_ac_uk",
                         "vcycle02_cloud_example_ac_uk.vcycle01_example_ac_uk", "",
                         {"max_processors": None, "max_machines": None,
                          "running_processors": 48}, {"os_issue": "\\S"})
        self.check_value("factory_status-vac-legacy-0.4.json: max_processors 24 from total_cpus, "
                         "daemon_disk_avail_kb from vac_disk_avail_kb",
                         "vacquery_factory", "vac01_tier2_hep_manchester_ac_uk",
                         "vac01_tier2_hep_manchester_ac_uk.vac103_tier2_hep_manchester_ac_uk", "",
                         {"max_processors": 24, "daemon_disk_avail_kb": 1102745600,
                          "running_processors": 16},
                         {"daemon_version": "Vac 01.00.01 vacd-factory"})
        self.check_value("machinetype_status-vac-legacy-0.3.json: running_machines 4 from "
                         "total_machines", "vacquery_mt", "vac02_hep_example_ac_uk",
                         "vac02_hep_example_ac_uk.vacnode12_hep_example_ac_uk", "lhcb.lhcb",
                         {"running_machines": 4, "running_hs06": 40}, {"vo": "lhcb"})
        n = self.store.notifications(type="vacquery_finished",
                                     host="pp_example_ac_uk")
        CK.check("machine_status-vac-nofqan.json: type_instance starts with \"none.\"",
                 any(x["type_instance"].startswith("none.") for x in n)
                 and not any(not x["type_instance"].startswith("none.") for x in n),
                 [x["type_instance"] for x in n])

        # The read callback's cumulative counters for one series.
        pi = "vac01_tier2_hep_manchester_ac_uk.vac101_tier2_hep_manchester_ac_uk"

        def fin():
            o = self.store.latest("vacquery_finished", host="UKI-NORTHGRID-MAN-HEP",
                                  plugin_instance=pi, type_instance="lhcb.lhcb-prod.200")
            if o is None:
                return False, "no vacquery_finished value list"
            v = vl_dict(o)
            want = {"machines": 1, "cpu_seconds": 1159337, "wall_seconds": 158381,
                    "hs06_seconds": 84 * 158381}
            return v == want and o["dsnames"] == self.vq_types["vacquery_finished"], (v, want)
        CK.eventually("vacquery_finished counter for UKI-NORTHGRID-MAN-HEP lhcb.lhcb-prod.200 "
                      "(machines 1, cpu/wall/hs06 seconds)", fin, 6)

        # csv got the same value list.
        def csv_ok():
            d = os.path.join(self.main.dir, "csv", "UKI-NORTHGRID-MAN-HEP", "vacquery-" + pi)
            try:
                names = [x for x in os.listdir(d) if x.startswith("vacquery_factory-")]
            except OSError as e:
                return False, str(e)
            if not names:
                return False, "no vacquery_factory csv file in %s" % d
            with open(os.path.join(d, names[0])) as fh:
                lines = fh.read().splitlines()
            head = lines[0].split(",")
            rows = [dict(zip(head, x.split(","))) for x in lines[1:]]
            return (head == ["epoch"] + self.vq_types["vacquery_factory"]
                    and any(close(float(r["running_processors"]), 28) for r in rows)), lines[:2]
        CK.eventually("csv plugin stored vacquery_factory for the vac-man factory", csv_ok, 5)

    def check_sample(self, f, m, group, legacy):
        """Every value list of GROUPS[group] for message m: names, all DS
        values (legacy names filled in), interval, and meta."""
        host = sanitise(m["site"])
        pi = sanitise(m["space"]) + "." + sanitise(m["factory"])
        ti = ""
        if group == "vacquery_mt":
            ti = sanitise(vo_of(m.get("fqan"))) + "." + sanitise(m["machinetype"])
        names = {k: m[k] for k in ("site", "space", "factory")}
        if group == "vacquery_mt":
            names.update(vo=vo_of(m.get("fqan")), machinetype=m["machinetype"])
        full = dict(names)
        if m.get("vacquery_version") is not None:
            full["vacquery_version"] = m["vacquery_version"]
        dv = m.get("daemon_version", m.get("vac_version"))
        if dv is not None:
            full["daemon_version"] = dv
        if m.get("time_sent") is not None:
            full["time_sent"] = m["time_sent"]
        for k in (("os_issue", "kernel_version") if group == "vacquery_factory"
                  else ("fqan", "shutdown_message", "shutdown_machine")):
            if m.get(k) is not None:
                full[k] = m[k]
        full["source_address"] = "127.0.0.1"  # vacquery-send -H 127.0.0.1
        # every list carries the source address (writers see lists in any order)
        names["source_address"] = "127.0.0.1"
        self.check_message_notification(f, m, host, pi)
        for i, type_ in enumerate(GROUPS[group]):
            dsn = self.vq_types[type_]
            exp = expected_ds(m, dsn, legacy)

            def fn():
                o = self.store.latest(type_, host=host, plugin_instance=pi, type_instance=ti)
                return o is not None, "no %s value list %s/vacquery-%s/%s-%s" % (
                    type_, host, pi, type_, ti)
            if not CK.eventually("%s: value list %s/vacquery-%s/%s%s" %
                                 (f, host, pi, type_, "-" + ti if ti else ""), fn, 6):
                continue
            o = self.store.latest(type_, host=host, plugin_instance=pi, type_instance=ti)
            got = vl_dict(o)
            bad = {k: (got.get(k), exp[k]) for k in dsn if not close(got.get(k), exp[k])}
            CK.check("%s: %s DS names as written here, all %d values (legacy names "
                     "filled in), interval ReportInterval (30 s)" % (f, type_, len(dsn)),
                     o["dsnames"] == dsn and not bad and close(o["interval"], 30)
                     and all(t == "gauge" for t in o["dstypes"]),
                     bad or (o["dsnames"], o["interval"]))
            meta = o.get("meta") or {}
            want = full if i == 0 else names
            badm = {k: (meta.get(k), v) for k, v in want.items() if meta.get(k) != v}
            extra = sorted(set(meta) - set(want))
            CK.check("%s: %s meta is exactly (%s)"
                     % (f, type_, ", ".join(sorted(want))), not badm and not extra,
                     (badm, extra))

    def check_message_notification(self, f, m, host, pi):
        """MessageNotifications: one OKAY notification for the message, type
        vacquery_message, type instance the message type, every field (not
        the cookie) as meta, plus vo (machinetype_status) and source_address."""
        fields = {k: v for k, v in m.items() if v is not None and k != "cookie"
                  and not isinstance(v, (list, dict))}
        fields["source_address"] = "127.0.0.1"
        if m["message_type"] == "machinetype_status":
            fields["vo"] = vo_of(m.get("fqan"))

        def mine():
            return [n for n in self.store.notifications(
                host=host, plugin_instance=pi, type="vacquery_message",
                type_instance=m["message_type"])
                if all(meta_matches(n["meta"], k, v) for k, v in fields.items())]
        CK.eventually("%s: one vacquery_message notification (OKAY, type_instance %s) with "
                      "every field, source_address%s as meta (%d)"
                      % (f, m["message_type"],
                         ", vo" if "vo" in fields and "vo" not in m else "", len(fields)),
                      lambda: (len(mine()) == 1
                               and mine()[0]["severity"] == "OKAY"
                               and mine()[0]["plugin"] == "vacquery"
                               and "cookie" not in mine()[0]["meta"],
                               [(n["type_instance"], n["meta"]) for n in
                                self.store.notifications(host=host, type="vacquery_message")]),
                      6)

    def check_value(self, name, group, host, pi, ti, values, meta):
        """values: DS of any value list of the group; meta: of the first."""
        def fn():
            v, first = {}, None
            for type_ in GROUPS.get(group, [group]):
                o = self.store.latest(type_, host=host, plugin_instance=pi, type_instance=ti)
                if o is None:
                    return False, "no %s value list" % type_
                first = first or o
                v.update(vl_dict(o))
            bad = {k: (v.get(k), x) for k, x in values.items() if not close(v.get(k), x)}
            badm = {k: ((first.get("meta") or {}).get(k), x) for k, x in meta.items()
                    if (first.get("meta") or {}).get(k) != x}
            return not bad and not badm, (bad, badm)
        CK.eventually(name, fn, 5)

    def check_finished(self, f, m):
        host = sanitise(m["site"]) if "site" in m else None
        pi = sanitise(m["space"]) + "." + sanitise(m["factory"])
        out = outcome_of(m)
        vo = vo_of(m.get("fqan"))
        mt = m.get("machinetype") or "none"
        ti = "%s.%s.%s" % (sanitise(vo), sanitise(mt), out)

        def mine():
            return [n for n in self.store.notifications(
                host=host, plugin_instance=pi, type="vacquery_finished", type_instance=ti)
                if n["meta"].get("uuid") == m.get("uuid")]
        CK.eventually("%s: one finished-machine notification, type_instance %s" % (f, ti),
                      lambda: (len(mine()) == 1, [(n["type_instance"], n["meta"].get("uuid"))
                                                  for n in self.store.notifications(host=host)]),
                      6)
        ns = mine()
        if not ns:
            return
        n = ns[0]
        meta = n["meta"]
        wall = wall_of(m) or 0
        extra = {"vo": vo, "outcome": out, "uuid": m["uuid"], "wall_seconds": wall,
                 "hs06_seconds": (m.get("hs06") or 0) * wall,
                 "source_address": "127.0.0.1"}
        bad = {k: (meta.get(k), v) for k, v in extra.items() if not meta_matches(meta, k, v)}
        CK.check("%s: outcome %s, meta uuid, vo %s, wall_seconds, hs06_seconds, "
                 "source_address"
                 % (f, out, vo), not bad and n["plugin"] == "vacquery", bad or n["plugin"])
        # (cookie left out: whether a SiteCookie secret belongs in notifications
        # is a design question, not asserted here either way.)
        fields = {k: v for k, v in m.items() if v is not None and k != "cookie"
                  and not isinstance(v, (list, dict))}
        badf = {k: (meta.get(k), v) for k, v in fields.items() if not meta_matches(meta, k, v)}
        CK.check("%s: every message field is notification meta (%d fields)" % (f, len(fields)),
                 not badf, badf)
        sev = "OKAY" if out in ("100", "200", "300", "none") else "WARNING"
        CK.check("%s: severity %s" % (f, sev), n["severity"] == sev, n["severity"])

    # -- 2. fleet --

    def fleet(self):
        summ_file = os.path.join(self.tmp, "fleet-summary.txt")
        args = ["--fleet", "--sites", "3", "--spaces", "2", "--factories", "3",
                "--machinetypes", "3", "--finished", "2", "--cycles", "2", "--rate", "2000",
                "-H", "127.0.0.1", "-p", str(self.port), "--summary-file", summ_file]
        r = self.run_send(args)
        lines = r.stdout.splitlines()
        summ = {"site": {}, "vo": {}, "site_vo": {}, "machinetype": {}, "space": {},
                "finished": {}, "count": {}}
        for line in lines:
            w = line.split()
            if not w:
                continue
            k = w[0]
            try:
                if k == "site":
                    summ["site"][w[1]] = (int(w[3]), int(w[5]))
                elif k == "vo":
                    summ["vo"][w[1]] = (int(w[3]), int(w[5]))
                elif k == "site_vo":
                    summ["site_vo"][(w[1], w[2])] = (int(w[4]), int(w[6]))
                elif k == "machinetype":
                    summ["machinetype"][w[1]] = (int(w[3]), int(w[5]))
                elif k == "space":
                    summ["space"][(w[1], w[2])] = (int(w[4]), int(w[6]))
                elif k == "finished":
                    summ["finished"][(w[1], w[2], w[3])] = (int(w[5]), int(w[7]))
                elif len(w) == 2 and re.match(r"^-?[0-9]+$", w[1]):
                    summ["count"][k] = int(w[1])
            except (IndexError, ValueError):
                pass
        c = summ["count"]
        sent = c.get("sent_messages", 0)
        self.sent_main += sent
        CK.check("fleet: vacquery-send --fleet exits 0, no send errors, summary parsed",
                 r.returncode == 0 and c.get("send_errors") == 0 and sent > 0
                 and summ["site"] and summ["finished"]
                 and os.path.exists(summ_file), (r.returncode, r.stderr[-500:], c))
        CK.check("fleet: sent_messages = factory + machinetype + machine status",
                 sent == c.get("sent_factory_status", -1) + c.get("sent_machinetype_status", -1)
                 + c.get("sent_machine_status", -1), c)
        if not summ["site"]:
            return
        hosts = {sanitise(site): site for site in summ["site"]}

        s, last = self.settle(15)
        CK.check("fleet: counters account for all %d datagrams" % sent, s is not None, last)
        if s:
            d = delta(s, self.base)
            want = {m: c.get("sent_" + m, -1) for m in MSG_TYPES}
            CK.check("fleet: vacquery_accepted-<type> deltas equal the summary's counts",
                     d["acc"] == want and not any(d["rej"].values())
                     and d["stats"]["kernel_drops"] == 0 and d["stats"]["queue_drops"] == 0,
                     (d, want))
            self.base = s

        def latest_by_ident(type_):
            best = {}
            for o in self.store.values(type_):
                if o["host"] not in hosts:
                    continue
                k = (o["host"], o["plugin_instance"], o["type_instance"])
                if k not in best or (o["time"], o["_seq"]) > (best[k]["time"], best[k]["_seq"]):
                    best[k] = o
            return best

        def sums(type_, keyfn, dsn=("running_processors", "running_machines")):
            out = collections.defaultdict(lambda: [0] * len(dsn))
            for (h, pi, ti), o in latest_by_ident(type_).items():
                v = vl_dict(o)
                key = keyfn(h, pi, ti)
                for i, ds in enumerate(dsn):
                    out[key][i] += v.get(ds) or 0
            return {k: tuple(int(round(x)) for x in v) for k, v in out.items()}

        def cmp(name, got, want):
            return got == want, "got %s want %s" % (sorted(got.items()), sorted(want.items()))

        CK.eventually("fleet: per site, sum of latest vacquery_factory running_processors and "
                      "running_machines == summary `site` lines",
                      lambda: cmp("site", sums("vacquery_factory", lambda h, pi, ti: h),
                                  {sanitise(k): v for k, v in summ["site"].items()}), 8)
        CK.eventually("fleet: per space, sum of latest vacquery_factory == summary `space` lines",
                      lambda: cmp("space", sums("vacquery_factory",
                                                lambda h, pi, ti: (h, pi.split(".")[0])),
                                  {(sanitise(a), sanitise(b)): v
                                   for (a, b), v in summ["space"].items()}), 5)
        CK.eventually("fleet: per VO (from type_instance), sum of latest vacquery_mt == "
                      "summary `vo` lines",
                      lambda: cmp("vo", sums("vacquery_mt",
                                             lambda h, pi, ti: ti.split(".", 1)[0]),
                                  {sanitise(k): v for k, v in summ["vo"].items()}), 5)
        CK.eventually("fleet: per site and VO, sum of latest vacquery_mt == summary `site_vo` "
                      "lines",
                      lambda: cmp("site_vo", sums("vacquery_mt",
                                                  lambda h, pi, ti: (h, ti.split(".", 1)[0])),
                                  {(sanitise(a), sanitise(b)): v
                                   for (a, b), v in summ["site_vo"].items()}), 5)
        CK.eventually("fleet: per machinetype, sum of latest vacquery_mt == summary "
                      "`machinetype` lines",
                      lambda: cmp("mt", sums("vacquery_mt",
                                             lambda h, pi, ti: ti.split(".", 1)[1]),
                                  {sanitise(k): v for k, v in summ["machinetype"].items()}), 5)
        CK.eventually("fleet: latest vacquery_finished machines and wall_seconds per "
                      "site/VO/machinetype == summary `finished` lines",
                      lambda: cmp("finished", sums(
                          "vacquery_finished",
                          lambda h, pi, ti: (h,) + tuple(ti.split(".")[:2]),
                          ("machines", "wall_seconds")),
                          {(sanitise(a), sanitise(b), sanitise(m)): v
                           for (a, b, m), v in summ["finished"].items()}), 8)
        n_fin = sum(v[0] for v in summ["finished"].values())
        CK.eventually("fleet: one finished-machine notification per machine_status sent (%d)"
                      % c.get("sent_machine_status", -1),
                      lambda: (len([n for n in self.store.notifications(type="vacquery_finished")
                                    if n["host"] in hosts]) == c.get("sent_machine_status")
                               == n_fin,
                               len([n for n in self.store.notifications(
                                   type="vacquery_finished") if n["host"] in hosts])), 5)
        per_site = 2 * 3

        def site_factories():
            got = {}
            for h in hosts:
                o = self.store.latest("vacquery_site", host=h)
                got[h] = vl_dict(o).get("factories") if o else None
            return got == {h: per_site for h in hosts}, got
        CK.eventually("fleet: vacquery_site factories == %d for each site" % per_site,
                      site_factories, 5)

    # -- 3. hostile burst --

    def hostile(self):
        with open(os.path.join(FIXTURES, "factory_status-vac-man.json"), "rb") as fh:
            real_f = fh.read().rstrip(b"\n")
        with open(os.path.join(FIXTURES, "machine_status-vac-man-success.json"), "rb") as fh:
            real_m = fh.read().rstrip(b"\n")
        base_f = json.loads(real_f)
        base_m = json.loads(real_m)
        with open(os.path.join(FIXTURES, "machinetype_status-vac-man-lhcb.json"), "rb") as fh:
            real_t = fh.read().rstrip(b"\n")
        base_t = json.loads(real_t)
        DEL = object()

        def mk(base, **over):
            d = dict(base)
            d.update({"site": "UKI-HOSTILE-REJECT"})
            for k, v in over.items():
                if v is DEL:
                    d.pop(k, None)
                else:
                    d[k] = v
            return d

        def js(d, ensure_ascii=True):
            return json.dumps(d, ensure_ascii=ensure_ascii).encode("utf-8")

        def raw_num(d, key, text):
            return js(dict(d, **{key: "__RAW__"})).replace(b'"__RAW__"', text.encode())

        H = []  # (datagram, expected reason or "accepted:<type>")

        def add(data, exp, times=1):
            if isinstance(data, str):
                data = data.encode("utf-8")
            for _ in range(times):
                H.append((data, exp))

        rng = random.Random(20181122)
        add(b"", "not_json", 10)
        for _ in range(300):
            n = rng.randint(0, 1500)
            add(b"\xff" + bytes(rng.getrandbits(8) for _ in range(n)), "not_json")
        for real in (real_f, real_m, real_t):  # real messages cut at every length
            for n in range(1, len(real)):
                add(real[:n], "not_json")
        # (JSON null has a check of its own, below.)
        for t in ("[]", "[1, 2, 3]", '"factory_status"', "123", "-1.5e3", "0",
                  "true", "false", '[{"message_type": "factory_status"}]', '  "x"  ',
                  "[" * 10 + "]" * 10, "123 \n"):
            add(t, "not_object")
        add("[" * 4000, "not_json")               # `[` * 100000, capped at 4000 bytes
        add('{"a": ' * 666, "not_json")          # 3996 bytes
        add("[" * 20 + "]" * 20, "not_json")      # complete but deeper than the limit
        ok_f = mk(base_f)
        add(js(ok_f) + b" x", "not_json")          # trailing garbage
        add(js(ok_f) + js(ok_f), "not_json")       # two objects
        add(js(dict(ok_f, site="UKI-HOSTILE-WS")) + b" \n\t\r ", "accepted:factory_status")
        # Numbers: NaN and Infinity (Python's json writes them) are not
        # RFC 8259 JSON; a number that overflows a double is dropped from the
        # message (vacquery_bad_field-<field>), the rest accepted (issue 9).
        add(js(dict(base_f, site="UKI-HOSTILE-NAN", running_processors=float("nan"))),
            "not_json")
        for t in ("Infinity", "-Infinity"):
            add(raw_num(mk(base_f), "running_processors", t), "not_json")
        def tol(base, **over):
            return dict(mk(base, **over), site="UKI-HOSTILE-TOLERATED")
        for t in ("1e999", "-1e999"):
            add(raw_num(tol(base_f), "running_processors", t), "accepted:factory_status")
        add(raw_num(tol(base_f), "load_average", "1e999"), "accepted:factory_status")
        # Wrong JSON types: only the identity fields reject the message.
        for over in ({"running_processors": "28"}, {"running_processors": True},
                     {"running_processors": [28]}, {"running_processors": {"v": 28}},
                     {"cookie": 0}, {"os_issue": 7}, {"time_sent": "now"},
                     {"running_processors": DEL, "running_cpus": "16"}):
            add(js(tol(base_f, **over)), "accepted:factory_status")
        for over in ({"site": 123}, {"space": ["a"]}, {"factory": {}}, {"factory": True},
                     {"message_type": 5}, {"message_type": ["factory_status"]}):
            add(js(mk(base_f, **over)), "bad_type")
        add(js(mk(base_t, machinetype=3)), "bad_type")
        add(js(tol(base_t, fqan=1)), "accepted:machinetype_status")
        add(js(tol(base_m, shutdown_message=200)), "accepted:machine_status")
        add(js(tol(base_m, hs06="84")), "accepted:machine_status")
        # Missing required fields.
        for over in ({"site": DEL}, {"space": DEL}, {"factory": DEL}, {"site": ""},
                     {"site": None}, {"space": None}, {"factory": ""}):
            add(js(mk(base_f, **over)), "missing_field")
        add(js(mk(base_t, machinetype=DEL)), "missing_field")
        add(js(mk(base_t, machinetype="")), "missing_field")
        add(js(mk(base_m, site=DEL)), "missing_field")
        # message_type missing, unknown, or a query.
        add("{}", "no_message_type")
        add(js(mk(base_f, message_type=DEL)), "no_message_type")
        add(js(mk(base_f, message_type=None)), "no_message_type")
        for t in ("factory_statusX", "", "FACTORY_STATUS", "machine_status ", "status",
                  "factory_status\u0000x"):
            add(js(mk(base_f, message_type=t)), "unknown_message_type")
        for t in ("machines_query", "factory_query", "x_query", "_query"):
            add(js(mk(base_f, message_type=t)), "query")
        # Names longer than collectd's identifier fields (127 bytes).
        add(js(mk(base_f, site="S" * 300)), "name_too_long")
        add(js(mk(base_f, site="S" * 128)), "name_too_long")
        add(js(mk(base_f, factory="f" * 200)), "name_too_long")
        add(js(mk(base_f, space="a" * 64, factory="b" * 64)), "name_too_long")
        add(js(mk(base_t, machinetype="m" * 128)), "name_too_long")
        add(js(mk(base_t, fqan="/" + "v" * 64 + "/Role=NULL", machinetype="m" * 64)),
            "name_too_long")
        long_m = dict(base_m, site="UKI-HOSTILE-LONGMT", fqan="/" + "v" * 60 + "/Role=NULL",
                      machinetype="m" * 62, uuid="e2e-long-200",
                      shutdown_message="200 Success")
        add(js(long_m), "accepted:machine_status")  # type_instance of exactly 127 bytes
        fizz = dict(long_m, uuid="e2e-long-fizzle", shutdown_message=None,
                    started_time=1000000, heartbeat_time=1000100, site="UKI-HOSTILE-REJECT")
        add(js(fizz), "name_too_long")  # the same with ".fizzle": 130 bytes
        add(js(dict(base_f, site="S" * 127)), "accepted:factory_status")
        add(js(dict(base_f, site="UKI-HOSTILE-127", space="a" * 63, factory="b" * 63)),
            "accepted:factory_status")
        # Sizes around MaxDatagramSize.
        def padded(d, size):
            b = js(dict(d, pad=""))
            b = js(dict(d, pad="x" * (size - len(b))))
            assert len(b) == size, len(b)
            return b
        add(padded(mk(base_f), 5000), "oversize", 20)
        add(padded(mk(base_f), MAX_DGRAM + 1), "oversize")
        add(b"[" * 5000, "oversize")
        add(padded(mk(base_f), 65507), "oversize")
        add(padded(dict(base_f, site="UKI-HOSTILE-4096"), MAX_DGRAM), "accepted:factory_status")
        # Names that need sanitising; meta keeps them raw.
        odd = dict(base_f, site="UKI-HOSTILE.a/b;c=d e", space="sp.one/x;y=z w",
                   factory="fac=1;2/3.4 5")
        add(js(odd), "accepted:factory_status")
        odd_t = dict(base_t, site=odd["site"], space=odd["space"], factory=odd["factory"],
                     fqan="/vo.x;y=z/Role=NULL", machinetype="mt/a;b=c.d e")
        add(js(odd_t), "accepted:machinetype_status")
        add(js(dict(base_f, site="Zürich-Ünï"), ensure_ascii=False), "accepted:factory_status")
        add(js(dict(base_f, site="Köln-Site"), ensure_ascii=True), "accepted:factory_status")
        add(js(dict(base_f, site="tab\there\nnl\x01")), "accepted:factory_status")
        add(js(dict(base_f, site='q"uote\\back')), "accepted:factory_status")
        # And finally one valid message.
        add(js(dict(base_f, site="UKI-HOSTILE-FINAL")), "accepted:factory_status")

        want = collections.Counter(e for _, e in H)
        for i, (data, _) in enumerate(H):
            self.send(data)
            if i % 32 == 31:
                time.sleep(0.001)
        log("INFO sent %d hostile datagrams: %s" % (len(H), dict(sorted(want.items()))))

        CK.check("hostile: collectd still running right after the burst", self.main.alive(),
                 self.main.tail())
        s, last = self.settle(20)
        CK.check("hostile: every datagram counted (received == %d == accepted + rejected + "
                 "queue_drops)" % self.sent_main, s is not None, last)
        CK.check("hostile: no kernel or queue drops",
                 last is not None and last.stats["kernel_drops"] == 0
                 and last.stats["queue_drops"] == 0, last and last.stats)
        if s:
            d = delta(s, self.base)
            for r in REASONS:
                if want[r]:
                    CK.check("hostile: vacquery_rejected-%s increased by %d" % (r, want[r]),
                             d["rej"][r] == want[r], "increased by %d" % d["rej"][r])
            others = {r: d["rej"][r] for r in REASONS if not want[r] and d["rej"][r]}
            CK.check("hostile: no other rejection counter moved", not others, others)
            acc_want = {m: want["accepted:" + m] for m in MSG_TYPES}
            CK.check("hostile: vacquery_accepted deltas %s" % acc_want, d["acc"] == acc_want,
                     d["acc"])
            self.base = s
        CK.check("hostile: collectd still running after the burst was processed",
                 self.main.alive(), self.main.tail())

        def has(type_, **flt):
            return lambda: (self.store.latest(type_, **flt) is not None, "missing")
        CK.eventually("hostile: the final valid factory_status arrived",
                      has("vacquery_factory", host="UKI-HOSTILE-FINAL"), 5)
        CK.eventually("hostile: a 4096-byte datagram (= MaxDatagramSize) is accepted",
                      has("vacquery_factory", host="UKI-HOSTILE-4096"), 5)
        CK.eventually("hostile: trailing JSON whitespace is accepted",
                      has("vacquery_factory", host="UKI-HOSTILE-WS"), 5)
        CK.check("hostile: nothing rejected was dispatched (no value list or notification for "
                 "site UKI-HOSTILE-REJECT)",
                 not any(o["host"] == "UKI-HOSTILE-REJECT"
                         for t in ALL_STATUS_TYPES + ["vacquery_finished"]
                         for o in self.store.values(t))
                 and not self.store.notifications(host="UKI-HOSTILE-REJECT"))

        CK.check("hostile: a datagram with NaN (not JSON) dispatches no value",
                 self.store.latest("vacquery_factory", host="UKI-HOSTILE-NAN") is None)

        host = "UKI-HOSTILE_a_b_c_d_e"
        pi = "sp_one_x_y_z_w.fac_1_2_3_4_5"

        def odd_ok():
            o = self.store.latest("vacquery_factory", host=host, plugin_instance=pi)
            if o is None:
                return False, [(x["host"], x["plugin_instance"])
                               for x in self.store.values("vacquery_factory")
                               if "HOSTILE" in x["host"]]
            meta = o.get("meta") or {}
            want = {k: odd[k] for k in ("site", "space", "factory")}
            return {k: meta.get(k) for k in want} == want, meta
        CK.eventually("hostile: names with . / ; = and space arrive sanitised (host %s, "
                      "plugin_instance %s) while meta keeps the raw strings" % (host, pi),
                      odd_ok, 5)

        def odd_t_ok():
            o = self.store.latest("vacquery_mt", host=host, plugin_instance=pi)
            if o is None:
                return False, "missing"
            meta = o.get("meta") or {}
            want = {"vo": "vo.x;y=z", "machinetype": "mt/a;b=c.d e",
                    "fqan": "/vo.x;y=z/Role=NULL"}
            return (o["type_instance"] == "vo_x_y_z.mt_a_b_c_d_e"
                    and {k: meta.get(k) for k in want} == want), (o["type_instance"], meta)
        CK.eventually("hostile: machinetype with odd VO and name: type_instance "
                      "vo_x_y_z.mt_a_b_c_d_e, raw vo/machinetype in meta", odd_t_ok, 5)
        for site in ("Zürich-Ünï", "Köln-Site", "tab\there\nnl\x01", "S" * 127):
            CK.eventually("hostile: site %r arrives as host %s" % (site[:20], sanitise(site)[:40]),
                          has("vacquery_factory", host=sanitise(site)), 5)

        def quote_ok():
            o = self.store.latest("vacquery_factory", host="q_uote_back")
            if o is None:
                return False, "missing"
            return (o.get("meta") or {}).get("site") == 'q"uote\\back', o.get("meta")
        CK.eventually("hostile: a site with a quote and a backslash: host q_uote_back, raw meta",
                      quote_ok, 5)
        CK.eventually("hostile: plugin_instance of exactly 127 bytes is accepted",
                      has("vacquery_factory", host="UKI-HOSTILE-127",
                          plugin_instance="a" * 63 + "." + "b" * 63), 5)
        CK.eventually("hostile: finished-machine type_instance of exactly 127 bytes is accepted",
                      lambda: (len(self.store.notifications(
                          host="UKI-HOSTILE-LONGMT",
                          type_instance="v" * 60 + "." + "m" * 62 + ".200")) == 1, "missing"), 5)
        lines = [x for x in self.main.log_text().splitlines() if "rejected a" in x]
        CK.check("hostile: rejection log lines are rate-limited (%d lines for %d rejections)"
                 % (len(lines), len(H)), 0 < len(lines) <= 40, len(lines))

        # JSON null is valid JSON that is not an object.
        self.send(b"null")
        s, last = self.settle()
        if CK.check("hostile: the datagram `null` is counted", s is not None, last):
            d = delta(s, self.base)
            CK.check("hostile: the datagram `null` (valid JSON, not an object) counts under "
                     "vacquery_rejected-not_object",
                     d["rej"]["not_object"] == 1,
                     "not_object +%d, not_json +%d" % (d["rej"]["not_object"],
                                                       d["rej"]["not_json"]))
            self.base = s

    # -- 4. ACL and cookies --

    def acl_cookie(self):
        base = json.load(open(os.path.join(FIXTURES, "factory_status-vac-man.json")))
        self.send(json.dumps(dict(base, site="UKI-ACL-V6")), v6=True)
        self.send(json.dumps(dict(base, site="UKI-ACL-V4")))
        s, last = self.settle()
        if CK.check("acl: both datagrams counted", s is not None, last):
            d = delta(s, self.base)
            CK.check("acl: a datagram from ::1 is rejected (vacquery_rejected-acl +1): "
                     "AllowFrom covers only 127.0.0.0/8",
                     d["rej"]["acl"] == 1 and d["acc"]["factory_status"] == 1, d)
            self.base = s
        CK.eventually("acl: the datagram from 127.0.0.1 is accepted",
                      lambda: (self.store.latest("vacquery_factory", host="UKI-ACL-V4")
                               is not None, "missing"), 5)
        CK.check("acl: nothing dispatched for the rejected IPv6 source",
                 self.store.latest("vacquery_factory", host="UKI-ACL-V6") is None)

        bad = ["0", "s3cre", "s3cret2", "S3CRET", None]
        for cookie in bad:
            self.send(json.dumps(dict(base, site=COOKIE_SITE, factory="bad.cookie", cookie=cookie)))
        d = dict(base, site=COOKIE_SITE, factory="bad.cookie")
        d.pop("cookie")
        self.send(json.dumps(d))
        m = json.load(open(os.path.join(FIXTURES, "machine_status-vac-man-success.json")))
        self.send(json.dumps(dict(m, site=COOKIE_SITE, cookie="0")))
        n_bad = len(bad) + 2
        s, last = self.settle()
        if CK.check("cookie: wrong cookies counted", s is not None, last):
            d = delta(s, self.base)
            CK.check("cookie: %d messages with a wrong or missing cookie -> "
                     "vacquery_rejected-cookie +%d" % (n_bad, n_bad),
                     d["rej"]["cookie"] == n_bad and not any(d["acc"].values()), d)
            self.base = s
        time.sleep(1.5)  # give a wrongly dispatched value list time to show up
        CK.check("cookie: no value list or notification for the site with wrong cookies",
                 not any(self.store.values(t, host=COOKIE_SITE)
                         for t in ("vacquery_factory", "vacquery_finished", "vacquery_site"))
                 and not self.store.notifications(host=COOKIE_SITE))
        self.send(json.dumps(dict(base, site=COOKIE_SITE, factory="good.cookie",
                                  cookie=COOKIE)))
        s, last = self.settle()
        if CK.check("cookie: right cookie counted", s is not None, last):
            d = delta(s, self.base)
            CK.check("cookie: cookie \"%s\" accepted (vacquery_accepted-factory_status +1)"
                     % COOKIE, d["acc"]["factory_status"] == 1 and d["rej"]["cookie"] == 0, d)
            self.base = s
        CK.eventually("cookie: value list for %s arrives" % COOKIE_SITE,
                      lambda: (self.store.latest(
                          "vacquery_factory", host=COOKIE_SITE,
                          plugin_instance="vac01_tier2_hep_manchester_ac_uk.good_cookie")
                          is not None, "missing"), 5)

        # A finished machine of the protected site: its notification must not
        # carry the site's secret, and a newline in a name must not reach the
        # notification text (a sender forging log lines).
        forged = dict(m, site=COOKIE_SITE, cookie=COOKIE, uuid="forged-uuid",
                      machine="vm1\nFactory x has sent nothing\x1b[0m")

        def forged_n():
            ns = [n for n in self.store.notifications(host=COOKIE_SITE)
                  if n["meta"].get("uuid") == "forged-uuid"]
            return (len(ns) == 1, ns)
        self.send(json.dumps(forged))
        if CK.eventually("cookie: finished machine of the protected site notified",
                         forged_n, 5):
            n = forged_n()[1][0]
            CK.check("cookie: the SiteCookie secret is not in the notification's meta",
                     "cookie" not in n["meta"]
                     and not any(COOKIE in v for v in n["meta"].values()), n["meta"])
            ctrl = [s for s in [n["message"]] + list(n["meta"].values())
                    if re.search(r"[\x00-\x1f\x7f]", s)]
            CK.check("notification: control bytes of a sender's names replaced "
                     "in message and meta", not ctrl and "vm1?Factory" in n["message"],
                     ctrl or n["message"])

    # -- 5. stale factories (in two halves, around the slower sections) --

    STALE = {"site": "UKI-STALE-SITE", "space": "stale.space", "factory": "stale.factory"}

    def stale_start(self):
        base = json.load(open(os.path.join(FIXTURES, "factory_status-vac-man.json")))
        self.stale_msg = json.dumps(dict(base, **self.STALE))
        self.stale_t0 = time.time()
        self.send(self.stale_msg)

    def stale_finish(self):
        host, pi = "UKI-STALE-SITE", "stale_space.stale_factory"

        def failures():
            return self.store.notifications(host=host, plugin_instance=pi,
                                            type="vacquery_factory", severity="FAILURE")
        deadline = self.stale_t0 + STALE_TIMEOUT + 3
        wait_for(failures, max(0.0, deadline - time.time()) + 0.5, 0.1)
        f = failures()
        dt = (f[0]["_arrival"] - self.stale_t0) if f else None
        CK.check("stale: FAILURE notification for %s/%s within StaleTimeout+3 s" % (host, pi),
                 f and dt <= STALE_TIMEOUT + 3, "after %s s: %s" % (dt, f))
        if not f:
            return
        CK.check("stale: not before StaleTimeout (%.1f s > %d s)" % (dt, STALE_TIMEOUT),
                 dt > STALE_TIMEOUT)
        CK.check("stale: exactly one FAILURE, naming the factory, raw names in meta",
                 len(f) == 1 and "stale.factory" in f[0]["message"]
                 and {k: f[0]["meta"].get(k) for k in self.STALE} == self.STALE,
                 f)

        def site(stale):
            o = self.store.latest("vacquery_site", host=host)
            if o is None:
                return False, "no vacquery_site"
            v = vl_dict(o)
            return v == {"factories": 1, "stale_factories": stale}, v
        CK.eventually("stale: vacquery_site for %s has stale_factories 1 of 1" % host,
                      lambda: site(1), 4)
        t1 = time.time()
        self.send(self.stale_msg)

        def okay():
            n = self.store.notifications(host=host, plugin_instance=pi,
                                         type="vacquery_factory", severity="OKAY")
            return len(n) == 1 and n[0]["_arrival"] >= t1, n
        CK.eventually("stale: sending again gives one OKAY notification", okay, 5)
        CK.eventually("stale: vacquery_site stale_factories back to 0", lambda: site(0), 5)

    # -- 6. rate limit (second instance) --

    def rate_limit(self):
        base = json.load(open(os.path.join(FIXTURES, "factory_status-vac-man.json")))
        data = json.dumps(dict(base, site="UKI-RATE-SITE")).encode()
        for _ in range(20):
            self.send(data, port=self.rl_port)
        s, last = settled_snapshot(self.store, "/rl", RL_HOST, 20, 15)
        CK.check("rate limit: 20 datagrams counted by the RateLimit 5 5 instance",
                 s is not None, last)
        if s:
            CK.check("rate limit: vacquery_rejected-rate_limit == 15",
                     s.rej["rate_limit"] == 15, s.rej)
            CK.check("rate limit: accepted == 5 (vacquery_stats and "
                     "vacquery_accepted-factory_status)",
                     s.stats["accepted"] == 5 and s.acc["factory_status"] == 5,
                     (s.stats, s.acc))
        CK.eventually("rate limit: the accepted messages were dispatched",
                      lambda: (self.store.latest("vacquery_factory", path="/rl",
                                                 host="UKI-RATE-SITE") is not None, "missing"), 5)
        CK.check("rate limit: MessageNotifications is off by default (no vacquery_message "
                 "notification from this instance)",
                 not self.store.notifications(path="/rl", type="vacquery_message"),
                 self.store.notifications(path="/rl", type="vacquery_message"))
        CK.check("rate limit: collectd still running", self.rl.alive(), self.rl.tail())

    # -- 7. configuration errors --

    def config_errors(self):
        busy = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        busy.bind(("127.0.0.1", 0))
        busy_port = busy.getsockname()[1]
        d = os.path.join(self.tmp, "config")
        os.makedirs(d, exist_ok=True)
        try:
            table = [
                ("unknown option", ["Bogus 1"], "Bogus"),
                ("AllowFrom not a network", ['AllowFrom "not-a-net"'], "AllowFrom"),
                ("AllowFrom prefix too long", ['AllowFrom "10.0.0.0/33"'], "AllowFrom"),
                ("RateLimit -1", ["RateLimit -1"], "RateLimit"),
                ("RateLimit burst 0", ["RateLimit 5 0"], "RateLimit"),
                ("MaxDatagramSize 10", ["MaxDatagramSize 10"], "MaxDatagramSize"),
                ("Listen on a busy port",
                 ['Listen "127.0.0.1" "%d"' % busy_port], "Listen"),
                ("Listen on a port that is not a number",
                 ['Listen "127.0.0.1" "notaport"'], "Listen"),
                ("SiteCookie with one argument", ['SiteCookie "%s"' % COOKIE_SITE], "SiteCookie"),
                ("SiteCookie with an empty secret", ['SiteCookie "X" ""'], "SiteCookie"),
                ("StaleTimeout 0", ["StaleTimeout 0"], "StaleTimeout"),
                ("ReportInterval 0", ["ReportInterval 0"], "ReportInterval"),
                ("QueueLength 0", ["QueueLength 0"], "QueueLength"),
            ]
            for i, (name, lines, opt) in enumerate(table):
                opts = lines if any(x.startswith("Listen") for x in lines) else \
                    ['Listen "127.0.0.1" "%d"' % free_udp_port()] + lines
                rc, out = self.collectd_T(d, "bad%d" % i, opts)
                hit = [x for x in out.splitlines() if "vacquery" in x and opt in x]
                CK.check("config: %s -> collectd -T exits non-zero, output names %s"
                         % (name, opt), rc != 0 and hit, "rc=%s output:\n    %s"
                         % (rc, out.strip().replace("\n", "\n    ")))
            good = ['Listen "127.0.0.1" "%d"' % free_udp_port(),
                    'Listen "::1" "%d"' % free_udp_port(),
                    "ReceiveBufferSize 1048576", "MaxDatagramSize 65507", "QueueLength 1024",
                    "ReportInterval 60", 'AllowFrom "127.0.0.0/8" "::1/128"',
                    'SiteCookie "A" "b"', "RateLimit 100", "StaleTimeout 600",
                    "FizzleSeconds 300", "FinishedNotifications false",
                    "MessageNotifications true"]
            self.out_of_memory(d)
            rc, out = self.collectd_T(d, "good", good)
            CK.check("config: a good config with every option -> collectd -T exits 0",
                     rc == 0, "rc=%s output:\n    %s" % (rc, out.strip().replace("\n", "\n    ")))
        finally:
            busy.close()

    def out_of_memory(self, d):
        """A failed copy of a Listen host or a SiteCookie stops start-up
        (tests/e2e/fail_strdup.c fails the plugin's strdup of one string)."""
        shim = os.path.join(d, "fail_strdup.so")
        cc = subprocess.run([os.environ.get("CC") or "cc", "-shared", "-fPIC", "-o", shim,
                             os.path.join(HERE, "fail_strdup.c"), "-ldl"],
                            capture_output=True, text=True)
        CK.check("config: the strdup-failing library builds", cc.returncode == 0, cc.stderr)
        port = free_udp_port()
        table = [
            ("Listen host copy fails", ['Listen "127.0.0.1" "%d"' % port],
             "127.0.0.1", 'Listen "127.0.0.1" "%d": out of memory' % port),
            ("SiteCookie secret copy fails",
             ['Listen "127.0.0.1" "%d"' % port, 'SiteCookie "A" "oom-secret"'],
             "oom-secret", 'SiteCookie "A": out of memory'),
        ]
        for i, (name, opts, fail, want) in enumerate(table):
            env = dict(os.environ, LD_PRELOAD=shim, VQ_FAIL_STRDUP=fail)
            rc, out = self.collectd_T(d, "oom%d" % i, opts, env)
            CK.check("config: %s -> collectd -T exits non-zero, output says so" % name,
                     rc != 0 and want in out and "listening on" not in out,
                     "rc=%s output:\n    %s" % (rc, out.strip().replace("\n", "\n    ")))

    def collectd_T(self, d, name, opts, env=None):
        conf = os.path.join(d, name + ".conf")
        with open(conf, "w") as f:
            f.write('BaseDir "%s"\nPIDFile "%s/%s.pid"\nHostname "e2e-config"\n'
                    'FQDNLookup false\nInterval 1\nTypesDB "%s"\nPluginDir "%s"\n'
                    'LoadPlugin vacquery\n<Plugin vacquery>\n%s\n</Plugin>\n'
                    % (d, d, name, STOCK_TYPES_DB, PLUGIN_DIR,
                       "\n".join("  " + o for o in opts)))
        try:
            r = subprocess.run([COLLECTD, "-T", "-C", conf], capture_output=True, text=True,
                               timeout=30, stdin=subprocess.DEVNULL, preexec_fn=_pdeathsig,
                               env=env)
        except subprocess.TimeoutExpired:
            return "timeout", ""
        return r.returncode, r.stdout + r.stderr

    # -- 7b. issue 9: outcome join, tolerated fields, one batch, bounded fleet --

    def issue9(self):
        """A collectd of its own (OutcomeWait 3, MaxFactories 50): a Vac
        machine takes its code from the machinetype_status that names it; a
        message with bad fields delivers its other values; two messages of
        one identifier in one receive batch both arrive; invented factories
        past MaxFactories are fleet_full and collectd's RSS stays flat."""
        port = free_udp_port()
        c = self.v9 = Collectd(self.tmp, "v9", [
            'Listen "127.0.0.1" "%d"' % port, "RateLimit 0", "ReportInterval 30",
            "OutcomeWait 3", "MaxFactories %d" % V9_MAX_FACTORIES], self.http_port)
        c.start()
        if not CK.check("issue 9: collectd with OutcomeWait 3, MaxFactories %d starts"
                        % V9_MAX_FACTORIES, c.wait_ready(), c.tail()):
            return
        path, me = c.path, c.hostname
        sent = [0]

        def send(data):
            if isinstance(data, str):
                data = data.encode()
            self.s4.sendto(data, ("127.0.0.1", port))
            sent[0] += 1

        def fx(name):
            with open(os.path.join(FIXTURES, name)) as fh:
                return json.load(fh)

        man = "UKI-NORTHGRID-MAN-HEP"
        pi = "vac01_tier2_hep_manchester_ac_uk.vac101_tier2_hep_manchester_ac_uk"

        # 1. The outcome join. vac101-14 ran 182 s: alone a fizzle. The gridpp
        # machinetype_status names it with "300 Nothing to do".
        t0 = time.time()
        send(json.dumps(fx("machine_status-vac-man-fizzle.json")))
        send(json.dumps(fx("machine_status-vac-nofqan.json")))  # never named
        time.sleep(0.5)
        send(json.dumps(fx("machinetype_status-vac-man-gridpp.json")))

        def joined():
            ns = self.store.notifications(path, type="vacquery_finished", host=man,
                                          plugin_instance=pi)
            got = [(n["type_instance"], n["meta"].get("shutdown_message"),
                    n["meta"].get("outcome_from"), n["severity"]) for n in ns]
            return got == [("gridpp.gridpp.300", "300 Nothing to do", "machinetype_status",
                            "OKAY")], got
        CK.eventually("issue 9: a Vac machine_status then the machinetype_status naming it: "
                      "one notification under 300 (not fizzle), carrying the joined "
                      "shutdown_message", joined, 6)

        def fin300():
            o = self.store.latest("vacquery_finished", path, host=man, plugin_instance=pi,
                                  type_instance="gridpp.gridpp.300")
            return o is not None and vl_dict(o)["machines"] == 1, o and vl_dict(o)
        CK.eventually("issue 9: vacquery_finished gridpp.gridpp.300 counts the machine",
                      fin300, 6)
        CK.check("issue 9: nothing counted under gridpp.gridpp.fizzle",
                 not self.store.values("vacquery_finished", path, host=man,
                                       type_instance="gridpp.gridpp.fizzle"))

        def unnamed():
            ns = self.store.notifications(path, type="vacquery_finished",
                                          host="pp_example_ac_uk")
            return [(n["type_instance"], round(n["_arrival"] - t0, 1)) for n in ns]
        CK.eventually("issue 9: a Vac machine no machinetype_status names counts as none "
                      "after OutcomeWait (3 s)",
                      lambda: (len(unnamed()) == 1
                               and unnamed()[0][0] == "none.test-docker.none"
                               and unnamed()[0][1] >= 2.5, unnamed()), 10)

        def join_counts():
            o = self.store.latest("vacquery_join", path, host=me)
            return o is not None and vl_dict(o)["joined"] == 1 \
                and vl_dict(o)["timed_out"] == 1 and vl_dict(o)["waiting"] == 0, \
                o and vl_dict(o)
        CK.eventually("issue 9: vacquery_join joined 1, timed_out 1, waiting 0",
                      join_counts, 5)

        # 2. One message with bad fields delivers every other value.
        bad = fx("factory_status-vac-man.json")
        bad.update(site="UKI-V9-BADFIELD", running_machines="seven", load_average=True,
                   running_processors="28", os_issue=["x"])
        text = json.dumps(bad).replace('"mem_total_kb": 65690748', '"mem_total_kb": 1e400')
        send(text)

        def badfield():
            f = self.store.latest("vacquery_factory", path, host="UKI-V9-BADFIELD")
            m = self.store.latest("vacquery_memory", path, host="UKI-V9-BADFIELD")
            if f is None or m is None:
                return False, "no value lists"
            f, m = vl_dict(f), vl_dict(m)
            return (f["running_processors"] == 28 and f["running_machines"] is None
                    and f["load_average"] is None and f["running_hs06"] == 294
                    and m["mem_total_kb"] is None and m["mem_used_kb"] == 62818132), (f, m)
        CK.eventually("issue 9: a factory_status with four bad fields still delivers its other "
                      "values (running_processors \"28\" read as 28)", badfield, 5)

        def counted():
            got = {o["type_instance"]: o["values"][0]
                   for o in self.store.values("vacquery_bad_field", path, host=me)}
            want = {"running_machines": 1, "load_average": 1, "mem_total_kb": 1,
                    "os_issue": 1}
            return got == want, got
        CK.eventually("issue 9: vacquery_bad_field-<field> counts each dropped field once",
                      counted, 5)

        # 3. Two messages of one identifier in one receive batch: collectd is
        # stopped while both are sent, so one recvmmsg() takes both.
        two = fx("factory_status-vac-man.json")
        def stopped():
            with open("/proc/%d/stat" % c.proc.pid) as fh:
                return fh.read().rsplit(")", 1)[1].split()[0] == "T"
        os.kill(c.proc.pid, signal.SIGSTOP)
        try:
            CK.check("issue 9: collectd is stopped (SIGSTOP) before the two are sent",
                     wait_for(stopped, 5, 0.01))
            for n in (1, 2):
                send(json.dumps(dict(two, site="UKI-V9-BATCH", running_machines=n)))
            time.sleep(0.3)
        finally:
            os.kill(c.proc.pid, signal.SIGCONT)

        def both():
            vs = self.store.values("vacquery_factory", path, host="UKI-V9-BATCH")
            # (write_http prints times in milliseconds: the two are one
            # cdtime tick apart, so they may print the same; collectd's
            # write threads may pass them on in either order.)
            got = sorted((vl_dict(o)["running_machines"], o["time"]) for o in vs)
            return [g[0] for g in got] == [1, 2], got
        CK.eventually("issue 9: two factory_status of one factory in one receive batch both "
                      "arrive (running_machines 1 and 2)", both, 5)
        CK.check("issue 9: no \"Value too old\" in the log",
                 "Value too old" not in c.log_text(),
                 [x for x in c.log_text().splitlines() if "Value too old" in x][:3])

        # 4. Invented factories past MaxFactories: fleet_full, RSS flat.
        inv = fx("factory_status-vac-man.json")

        def flood(start, n):
            for i in range(start, start + n):
                send(json.dumps(dict(inv, site="UKI-V9-FLOOD", factory="f%06d.example" % i)))
                if i % 200 == 199:
                    time.sleep(0.01)

        def rss_kb():
            with open("/proc/%d/status" % c.proc.pid) as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
            return -1

        flood(0, 2000)
        s1, last = settled_snapshot(self.store, path, me, sent[0], 20)
        CK.check("issue 9: counters settle after 2000 invented factories", s1 is not None, last)
        rss1 = rss_kb()
        flood(2000, V9_FLOOD)
        s2, last = settled_snapshot(self.store, path, me, sent[0], 40)
        CK.check("issue 9: counters settle after %d more" % V9_FLOOD, s2 is not None, last)
        time.sleep(2)  # a few read intervals with the full fleet
        rss2 = rss_kb()
        log("INFO issue 9: collectd RSS %d kB after 2000 invented factories, %d kB after "
            "%d more (growth %d kB)" % (rss1, rss2, V9_FLOOD, rss2 - rss1))
        if s1 and s2:
            d = delta(s2, s1)
            CK.check("issue 9: all %d later invented factories rejected as fleet_full"
                     % V9_FLOOD, d["rej"]["fleet_full"] == V9_FLOOD
                     and d["stats"]["kernel_drops"] == 0, (d["rej"], d["stats"]))
            sites = {}
            for o in self.store.values("vacquery_site", path):
                if o["time"] == max(x["time"] for x in self.store.values(
                        "vacquery_site", path, host=o["host"])):
                    sites[o["host"]] = vl_dict(o)["factories"]
            CK.check("issue 9: the fleet holds exactly MaxFactories (%d) factories"
                     % V9_MAX_FACTORIES, sum(sites.values()) == V9_MAX_FACTORIES, sites)
        CK.check("issue 9: collectd RSS grows by less than %d kB over %d invented factories "
                 "(was about 17 KB each before the cap)" % (V9_RSS_BOUND_KB, V9_FLOOD),
                 0 < rss1 and rss2 - rss1 < V9_RSS_BOUND_KB, (rss1, rss2))
        full = [x for x in c.log_text().splitlines() if "the fleet is full" in x]
        CK.check("issue 9: fleet_full is logged, rate-limited (1 to 3 lines)",
                 1 <= len(full) <= 3, full[:4])

        # 5. At shutdown the finished totals are written once more.
        t_stop = time.time()
        rc = stop_proc(c.proc, 15)
        text = c.log_text()
        CK.check("issue 9: collectd stops cleanly, no errors, no \"Value too old\"",
                 rc == 0 and "Exiting normally" in text and "Value too old" not in text
                 and not [x for x in text.splitlines() if "[error]" in x.lower()],
                 "rc=%s%s" % (rc, c.tail()))
        late = [o for o in self.store.values("vacquery_finished", path, host=man,
                                             type_instance="gridpp.gridpp.300")
                if o["_arrival"] >= t_stop]
        CK.check("issue 9: vacquery_finished written once more at shutdown", len(late) >= 1,
                 len(late))

    # -- 7c. QueueBytes: the hand-off queue's byte budget --

    def queue_bytes(self):
        """QueueBytes below MaxDatagramSize stops start-up naming the
        option; at its smallest (= MaxDatagramSize) collectd starts, takes a
        datagram of nearly that size and a normal one, and reports the
        queue's bytes (vacquery_queue_bytes)."""
        d = os.path.join(self.tmp, "qbytes")
        os.makedirs(d, exist_ok=True)
        table = [
            ("QueueBytes 65506 with the default MaxDatagramSize 65507",
             ["QueueBytes 65506"], 1),
            ("QueueBytes 1999 below MaxDatagramSize 2000",
             ["MaxDatagramSize 2000", "QueueBytes 1999"], 1),
            ("QueueBytes 1999 before MaxDatagramSize 2000",
             ["QueueBytes 1999", "MaxDatagramSize 2000"], 1),
            ("QueueBytes 100 (below its range)", ["QueueBytes 100"], 1),
            ("QueueBytes 2000 = MaxDatagramSize 2000", ["QueueBytes 2000",
                                                        "MaxDatagramSize 2000"], 0),
        ]
        for i, (name, lines, bad) in enumerate(table):
            opts = ['Listen "127.0.0.1" "%d"' % free_udp_port()] + lines
            rc, out = self.collectd_T(d, "qb%d" % i, opts)
            hit = [x for x in out.splitlines() if "vacquery" in x and "QueueBytes" in x]
            ok = (rc != 0 and hit) if bad else rc == 0
            CK.check("QueueBytes: %s -> collectd -T %s" % (
                name, "exits non-zero, output names QueueBytes" if bad else "exits 0"),
                ok, "rc=%s output:\n    %s" % (rc, out.strip().replace("\n", "\n    ")))

        port = free_udp_port()
        c = Collectd(self.tmp, "qbytes", ['Listen "127.0.0.1" "%d"' % port, "RateLimit 0",
                                          "QueueBytes 65507"], self.http_port)
        c.start()
        if not CK.check("QueueBytes: collectd with QueueBytes 65507 starts", c.wait_ready(),
                        c.tail()):
            return
        try:
            with open(os.path.join(FIXTURES, "factory_status-vac-man.json")) as fh:
                big = json.dumps(json.load(fh))
            big = (big + " " * (65000 - len(big))).encode()
            self.s4.sendto(big, ("127.0.0.1", port))
            s, last = settled_snapshot(self.store, c.path, c.hostname, 1, 10)
            CK.check("QueueBytes: a 65,000-byte datagram is accepted",
                     s is not None and s.acc["factory_status"] == 1
                     and s.stats["queue_drops"] == 0, last)
            with open(os.path.join(FIXTURES, "machinetype_status-vac-man-gridpp.json")) as fh:
                self.s4.sendto(json.dumps(json.load(fh)).encode(), ("127.0.0.1", port))
            s, last = settled_snapshot(self.store, c.path, c.hostname, 2, 10)
            CK.check("QueueBytes: then a normal message is accepted, no queue drops",
                     s is not None and s.acc["machinetype_status"] == 1
                     and s.stats["queue_drops"] == 0, last)
            t_done = s.time if s is not None else float("inf")

            def drained():
                o = self.store.latest("vacquery_queue_bytes", c.path, host=c.hostname,
                                      plugin="vacquery")
                return (o is not None and o["time"] >= t_done and o["dsnames"] == ["bytes"]
                        and o["values"] == [0]), o
            CK.eventually("QueueBytes: vacquery_queue_bytes (DS bytes) is dispatched, 0 once "
                          "the worker has taken every datagram", drained, 5)
        finally:
            rc = stop_proc(c.proc, 15)
            errors = [x for x in c.log_text().splitlines() if "[error]" in x.lower()]
            CK.check("QueueBytes: collectd stops cleanly and logged no errors",
                     rc == 0 and not errors, "rc=%s %s" % (rc, errors[:5]))

    # -- 8. the end --

    def final(self):
        CK.check("main collectd still running at the end", self.main.alive(), self.main.tail())
        s, last = self.settle(10)
        CK.check("final: vacquery_stats received (%d) == accepted + rejected + queue_drops, "
                 "no kernel drops" % self.sent_main,
                 s is not None and s.stats["kernel_drops"] == 0, last)
        with self.store.lock:
            bad, unknown, posts = list(self.store.bad_bodies), list(self.store.unknown), \
                self.store.posts
        CK.check("every write_http POST (%d) is valid JSON of value lists and notifications"
                 % posts, posts > 0 and not bad and not unknown, (bad[:3], unknown[:3]))
        # The hostile burst sent a site "tab\there\nnl\x01"; once that factory
        # is stale its raw name has been through a FAILURE notification.
        wait_for(lambda: self.store.notifications(host="tab_here_nl_", severity="FAILURE"),
                 STALE_TIMEOUT + 4)
        ctl = re.compile(r"[\x00-\x1f\x7f]")
        msgs = [n["message"] for n in self.store.notifications() if ctl.search(n["message"])]
        forged = [x for x in self.main.log_text().splitlines() if not x.startswith("[")]
        CK.check("sender control characters reach no notification message and no log line "
                 "(no log-line forging)", not msgs and not forged,
                 "messages: %r; log lines not starting with '[': %r" % (msgs[:3], forged[:3]))
        text = self.main.log_text()
        CK.check("no \"Value too old\" in the log (distinct times per identifier)",
                 "Value too old" not in text,
                 [x for x in text.splitlines() if "Value too old" in x][:3])
        for c in (self.main, self.rl):
            rc = stop_proc(c.proc, 15)
            text = c.log_text()
            CK.check("%s collectd stops cleanly on SIGTERM (exit 0, \"Exiting normally\")"
                     % c.name, rc == 0 and "Exiting normally" in text, "rc=%s%s" % (rc, c.tail()))
            errors = [x for x in text.splitlines() if "[error]" in x.lower()]
            CK.check("%s collectd logged no errors" % c.name, not errors, errors[:5])


class Overtime(BaseException):
    """Raised by SIGALRM; not an Exception, so no section swallows it."""


def run_sections(title, limit, tmp_prefix, start, checks, required=(),
                 kept="logs and configs", on_section_error=None, finish=None):
    """The main() of an end-to-end test. Stops on SIGTERM/SIGINT/SIGHUP and
    after `limit` seconds; returns 99 when an executable in `required` is
    missing. Makes a temporary directory, calls start(tmp), which sets up and
    returns [(name, fn)], then runs each section, a failure of one being a
    failed check in `checks` (then on_section_error(name) runs). Always stops
    every started process (stop_all, then finish()), keeps the directory
    when a check failed or VQ_E2E_KEEP=1, prints the summary and returns the
    exit status (0 or 1)."""
    def overtime(signum, frame):
        raise Overtime("%s ran for more than %d s" % (title, limit))
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda s, f: sys.exit(128 + s))
    signal.signal(signal.SIGALRM, overtime)
    signal.alarm(limit)
    for exe in required:
        if not os.access(exe, os.X_OK):
            log("ERROR: %s not found (tools/install-deps.sh installs it)" % exe)
            return 99
    atexit.register(stop_all)
    tmp = tempfile.mkdtemp(prefix=tmp_prefix)
    log("INFO temporary directory %s; collectd %s; plugin dir %s; vacquery-send %s"
        % (tmp, COLLECTD, PLUGIN_DIR, VQ_SEND))
    try:
        for name, fn in start(tmp):
            t1 = time.monotonic()
            try:
                fn()
            except Exception:
                checks.check("section %s ran to the end" % name, False, traceback.format_exc())
                if on_section_error is not None:
                    on_section_error(name)
            log("INFO section %s: %.1f s" % (name, time.monotonic() - t1))
    except BaseException as e:
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            log("INFO interrupted")
        checks.check("test setup / run", False, traceback.format_exc())
    finally:
        stop_all()
        if finish is not None:
            try:
                finish()
            except Exception:
                pass
        signal.alarm(0)
    if os.environ.get("VQ_E2E_KEEP") == "1" or checks.failed > 0:
        log("INFO kept %s (%s)" % (tmp, kept))
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    log("INFO run time %.1f s" % (time.monotonic() - T0))
    if checks.failures:
        log("INFO failed: " + "; ".join(checks.failures))
    log("%d passed, %d failed" % (checks.passed, checks.failed))
    return 1 if checks.failed else 0


def main():
    state = {}

    def start(tmp):
        t = state["t"] = E2E(tmp)
        t.setup()
        return [("examples", t.examples), ("fleet", t.fleet), ("hostile", t.hostile),
                ("acl/cookie", t.acl_cookie), ("stale (start)", t.stale_start),
                ("rate limit", t.rate_limit), ("config errors", t.config_errors),
                ("issue 9", t.issue9), ("queue bytes", t.queue_bytes),
                ("stale (finish)", t.stale_finish), ("final", t.final)]
    return run_sections("e2e.py", 240, "vq-e2e-", start, CK, required=(COLLECTD,),
                        kept="logs, configs, csv",
                        finish=lambda: state["t"].sink.shutdown() if "t" in state else None)


if __name__ == "__main__":
    sys.exit(main())
