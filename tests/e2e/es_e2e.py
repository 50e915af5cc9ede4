#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""End-to-end test of the write_elasticsearch collectd plugin.

One real collectd 5.12 runs vacquery, write_http (JSON, to a sink in this
process: the record of everything collectd dispatched) and
write_elasticsearch with two nodes:

  "es": IndexMode daily, to tests/es_server/es_server.py as Elasticsearch 8
        (the fault-injection target);
  "os": IndexMode datastream, basic auth, to a second es_server.py as
        OpenSearch 2;
  "tls": IndexMode daily, HTTPS (CACert, VerifyPeer, VerifyHost), a client
        certificate and an API key, to a third es_server.py (Elasticsearch 8,
        certificates made by openssl for this run);
  "vacmon": Format "vacmon" from the shipped etc/collectd.d/
        write_elasticsearch_vacmon.conf (which also sets vacquery's
        MessageNotifications true), with a LifecyclePolicy, to the "es"
        server: the VacMon documents in factories/machinetypes/machines-<day>
        go through the same outage and restart; the VacMon query (date
        histogram on time_received, terms on site, avg running_processors)
        must answer the sent messages' totals per site, and a site's settings
        in the vacmon@custom component template must survive every template
        re-PUT.

tools/vacquery-send feeds it the example messages and simulated fleets while
the "es" server goes through: an outage of 10 s, a burst of whole-request
429s, partial item failures (429 and 503), answers lost after the documents
were stored, 413s, a mapping error, and a collectd restart while documents
are spooled. At the end collectd stops and every value list and
notification the sink got must be stored exactly once in each cluster, with
the same content (by identifier and time, not only by count), except the
one document the mapping error sends to the dead-letter file.

The mapping error is provoked as schema drift provokes it on a real
cluster: a finished machine's message carries an extra field e2e_probe = 5,
which the shipped events template maps dynamically as double; a second one
carries e2e_probe = "not-a-number", which the cluster refuses with 400
document_parsing_exception (mapper_parsing_exception on OpenSearch).

Environment: top_srcdir, top_builddir, VQ_PLUGIN_DIR, VQ_SEND (see
run-py.sh); optional COLLECTD, VQ_E2E_KEEP=1. Standard library only. Prints
one line per check and ends with `N passed, M failed`.
"""

import base64
import collections
import datetime
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import e2e  # noqa: E402  (helpers only; it runs nothing on import)
from e2e import Checks, Sink, SinkHandler, Store, stop_proc, wait_for, _pdeathsig  # noqa: E402
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "es_server"))
import es_server  # noqa: E402  (make_test_pki)

TOP_SRCDIR = e2e.TOP_SRCDIR
PLUGIN_DIR = e2e.PLUGIN_DIR
VQ_SEND = e2e.VQ_SEND
COLLECTD = e2e.COLLECTD
SERVER = os.path.join(TOP_SRCDIR, "tests", "es_server", "es_server.py")
TEMPLATES = os.path.join(TOP_SRCDIR, "graphs", "elasticsearch")
FIXTURES = e2e.FIXTURES
HOSTNAME = "es-e2e"
OS_USER, OS_PASSWORD = "vacmon", "e2e-secret"
TLS_KEY_ID = "e2e-id:e2e-api-key"  # the node sends base64 of it, as ES returns it in "encoded"
TLS_API_KEY = base64.b64encode(TLS_KEY_ID.encode()).decode()
PROBE = "e2e_probe"
TIME_TOL = 0.0015  # write_http prints %.3f, @timestamp has milliseconds

CK = Checks()
PROCS = []
T0 = time.monotonic()


def log(msg):
    print(msg, flush=True)


def stop_all():
    for p in PROCS:
        try:
            stop_proc(p, 5)
        except Exception:
            pass


# ---- the test servers ------------------------------------------------------------

class EsServer:
    """es_server.py as a child process; control through its control port."""

    def __init__(self, tmp, name, node, flavour, extra=(), auth=None, pki=None):
        self.name, self.node, self.auth = name, node, auth
        self.ctx = None
        if pki is not None:  # HTTPS with a client certificate
            self.ctx = ssl.create_default_context(cafile=pki["ca"])
            self.ctx.load_cert_chain(pki["client_cert"], pki["client_key"])
        pf = os.path.join(tmp, name + ".ports")
        self.out = open(os.path.join(tmp, name + ".log"), "wb")
        self.proc = subprocess.Popen(
            [sys.executable, SERVER, "--port", "0", "--control-port", "0", "--port-file", pf,
             "--flavour", flavour, "--quiet"] + list(extra),
            stdout=self.out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            preexec_fn=_pdeathsig)
        PROCS.append(self.proc)
        if not wait_for(lambda: os.path.exists(pf) or self.proc.poll() is not None, 15):
            raise RuntimeError("%s did not start" % name)
        self.port, self.cport = (int(x) for x in open(pf).read().split())
        self.url = "%s://127.0.0.1:%d" % ("https" if pki else "http", self.port)

    def _req(self, port, method, path, body=None, auth=None, ctx=None):
        data = json.dumps(body).encode() if body is not None else None
        r = urllib.request.Request("%s://127.0.0.1:%d%s" % ("https" if ctx else "http", port,
                                                            path), data=data, method=method)
        if data is not None:
            r.add_header("Content-Type", "application/json")
        if auth:
            r.add_header("Authorization", auth)
        try:
            with urllib.request.urlopen(r, timeout=20, context=ctx) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def ctl(self, method, path, body=None):
        return self._req(self.cport, method, path, body)

    def api(self, method, path, body=None):
        """The cluster API on the main port (with the node's credentials)."""
        return self._req(self.port, method, path, body, self.auth, self.ctx)

    def fault(self, **spec):
        st, body = self.ctl("POST", "/_fault", spec)
        if st != 200:
            raise RuntimeError("fault %s: %s %s" % (spec, st, body))
        return body

    def stats(self):
        return self.ctl("GET", "/_test/stats")[1]

    def docs(self):
        return self.ctl("GET", "/_test/docs?index=vacmon-*")[1]["docs"]


# ---- collectd --------------------------------------------------------------------

def collectd_conf(d, sink_port, vq_port, es, os_, tls, pki):
    return f'''# written by tests/e2e/es_e2e.py
Hostname "{HOSTNAME}"
FQDNLookup false
BaseDir "{d}"
PIDFile "{d}/collectd.pid"
Interval 1
WriteThreads 4
TypesDB "{e2e.STOCK_TYPES_DB}"
PluginDir "{e2e.STOCK_PLUGIN_DIR}"
LoadPlugin logfile
<Plugin logfile>
  LogLevel info
  File "{d}/collectd.log"
  Timestamp true
  PrintSeverity true
</Plugin>
<LoadPlugin write_http>
  FlushInterval 1
</LoadPlugin>
<Plugin write_http>
  <Node "sink">
    URL "http://127.0.0.1:{sink_port}/main"
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
  Listen "127.0.0.1" "{vq_port}"
  RateLimit 0
  ReportInterval 30
  OutcomeWait 0
</Plugin>
LoadPlugin write_elasticsearch
<Plugin write_elasticsearch>
  <Node "es">
    URL "{es.url}"
    IndexMode "daily"
    IndexPrefix "vacmon"
    BatchSize 200
    FlushInterval 1
    Timeout 5
    ConnectTimeout 2
    RetryInitial 0.2
    RetryMax 2
    MaxRetries 0
    SpoolDir "{d}/spool-es"
    SpoolMaxSize 1073741824
    DeadLetterFile "{d}/dead-letter-es.ndjson"
    InstallTemplates true
    Metrics true
    Notifications true
    StoreRates false
  </Node>
  <Node "os">
    URL "{os_.url}"
    IndexMode "datastream"
    IndexPrefix "vacmon"
    User "{OS_USER}"
    Password "{OS_PASSWORD}"
    BatchSize 500
    FlushInterval 1
    RetryInitial 0.2
    RetryMax 2
    SpoolDir "{d}/spool-os"
    DeadLetterFile "{d}/dead-letter-os.ndjson"
  </Node>
  <Node "tls">
    URL "{tls.url}"
    IndexMode "daily"
    IndexPrefix "vacmon"
    CACert "{pki["ca"]}"
    ClientCert "{pki["client_cert"]}"
    ClientKey "{pki["client_key"]}"
    VerifyPeer true
    VerifyHost true
    APIKey "{TLS_API_KEY}"
    FlushInterval 1
    RetryInitial 0.2
    RetryMax 2
    SpoolDir "{d}/spool-tls"
    Compress true
    DeadLetterFile "{d}/dead-letter-tls.ndjson"
  </Node>
</Plugin>
''' + vm_dropin(d, es.url) + f'''
<Plugin write_elasticsearch>
  <Node "vmos">
    URL "{os_.url}"
    Format "vacmon"
    IndexMode "datastream"
    IndexPrefix "vm"
    Flavour "opensearch"
    LifecyclePolicy "{VM_POLICY}"
    User "{OS_USER}"
    Password "{OS_PASSWORD}"
    FlushInterval 1
    RetryInitial 0.2
    RetryMax 2
    SpoolDir "{d}/spool-vmos"
    DeadLetterFile "{d}/dead-letter-vmos.ndjson"
  </Node>
</Plugin>
'''


# ---- Format "vacmon": the VacMon documents ------------------------------------------

VM_DROPIN = os.path.join(TOP_SRCDIR, "etc", "collectd.d", "write_elasticsearch_vacmon.conf")
VM_POLICY = "vacmon-90d"
VM_INDICES = {"factory_status": "factories", "machinetype_status": "machinetypes",
              "machine_status": "machines"}
VM_SITE_SETTINGS = {"template": {"settings": {"index": {"number_of_replicas": 2}}},
                    "_meta": {"description": "the site's own settings (es_e2e.py)"}}
# vacmond's fill-if-absent fix-ups, and the two extras the project documents:
# (legacy, modern, message types).
VM_FIXUPS = [("vac_version", "daemon_version", "fmM"), ("running_cpus", "running_processors", "fmM"),
             ("total_cpus", "max_processors", "f"), ("max_cpus", "max_processors", "f"),
             ("total_machines", "max_machines", "f"), ("total_hs06", "max_hs06", "f"),
             ("vac_disk_avail_kb", "daemon_disk_avail_kb", "f"),
             ("vac_disk_avail_inodes", "daemon_disk_avail_inodes", "f"),
             ("total_machines", "running_machines", "m"), ("total_hs06", "running_hs06", "m"),
             ("num_cpus", "num_processors", "M")]
VM_LETTER = {"factory_status": "f", "machinetype_status": "m", "machine_status": "M"}


def vm_dropin(d, url):
    """The shipped drop-in, pointed at url, with this test's spool and quick retries."""
    with open(VM_DROPIN) as f:
        text = f.read()
    text = text.replace('URL "http://127.0.0.1:9200"', 'URL "%s"' % url)
    return text.replace("  </Node>", f'''    SpoolDir "{d}/spool-vm"
    DeadLetterFile "{d}/dead-letter-vm.ndjson"
    LifecyclePolicy "{VM_POLICY}"
    FlushInterval 1
    Timeout 5
    ConnectTimeout 2
    RetryInitial 0.2
    RetryMax 2
  </Node>''')


def vm_mapping(base):
    with open(os.path.join(TEMPLATES, "vacmon-%s.json" % base)) as f:
        return json.load(f)["template"]["mappings"]["properties"]


def vm_typed(spec, v):
    """v as the mapping spec types it (None: left out of the document)."""
    t = (spec or {}).get("type")
    if t is None:
        return v
    if t == "keyword":
        return v if isinstance(v, str) else json.dumps(v)
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    if t in ("long", "date"):
        return int(x)  # truncated, as Elasticsearch coerces 16.0 into a long
    return x


def vm_expected(msg):
    """(index base, the document VacMon stored for msg, time_received aside)."""
    mt = msg["message_type"]
    base = VM_INDICES[mt]
    props = vm_mapping(base)
    doc = {}
    for k, v in msg.items():
        if k in ("cookie", "time_received") or v is None or isinstance(v, (list, dict)):
            continue
        x = vm_typed(props.get(k), v)
        if x is not None:
            doc[k] = x
    for legacy, modern, where in VM_FIXUPS:
        if VM_LETTER[mt] in where and msg.get(legacy) is not None and \
                msg.get(modern) is None and modern not in doc:
            x = vm_typed(props.get(modern), msg[legacy])
            if x is not None:
                doc[modern] = x
    fqan = msg.get("fqan")
    if mt != "factory_status" and isinstance(fqan, str) and fqan.startswith("/") \
            and fqan.split("/")[1]:
        doc["vo"] = fqan.split("/")[1]
    return base, doc


def vm_type_diff(base, doc, want):
    """Fields whose value or JSON type differs (a long must be an integer, a
    double any number, a keyword a string)."""
    props = vm_mapping(base)
    bad = {}
    for k in set(doc) | set(want):
        g, w = doc.get(k), want.get(k)
        t = (props.get(k) or {}).get("type")
        if g != w or (t in ("long", "date") and type(g) is not int) or \
                (t == "double" and (type(g) not in (int, float))) or \
                (t == "keyword" and type(g) is not str):
            bad[k] = (g, w, t)
    return bad


def vm_key(base, f):
    """The identity of a message: its index and the fields that tell it apart (as
    strings, the form write_http gives notification meta)."""
    return (base,) + tuple(str(f.get(k, "")) for k in ("factory", "space", "time_sent",
                                                        "machinetype", "machine", "uuid"))


def vm_meta_key(n):
    m = n.get("meta") or {}
    mt = m.get("message_type", "machine_status" if n["type"] == "vacquery_finished" else "")
    if mt not in VM_INDICES:
        return None
    return vm_key(VM_INDICES[mt], m)


def vm_doc_base(d):
    name = d.get("data_stream") or d["_index"]
    return re.sub(r"-\d{4}\.\d\d\.\d\d$", "", name)


class Collectd:
    def __init__(self, d, conf_text):
        self.dir = d
        os.makedirs(d, exist_ok=True)
        self.conf = os.path.join(d, "collectd.conf")
        self.logfile = os.path.join(d, "collectd.log")
        with open(self.conf, "w") as f:
            f.write(conf_text)
        self.proc = None
        self.starts = 0
        self.exits = []  # (run, alive when asked to stop, exit status) of every run
        self.stopped = False

    def start(self):
        if self.proc is not None and not self.stopped:  # the last run ended by itself
            self.exits.append((self.starts, self.alive(), self.proc.poll()))
        self.stopped = False
        self.starts += 1
        self.mark = len(self.log_text())
        self.out = open(os.path.join(self.dir, "stdout-%d.txt" % self.starts), "wb")
        self.proc = subprocess.Popen([COLLECTD, "-f", "-C", self.conf], stdout=self.out,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     preexec_fn=_pdeathsig)
        PROCS.append(self.proc)

    def log_text(self):
        try:
            with open(self.logfile, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def this_run(self):
        return self.log_text()[self.mark:]

    def wait_ready(self, timeout=20):
        wait_for(lambda: "Initialization complete" in self.this_run()
                 or self.proc.poll() is not None, timeout, 0.1)
        return self.proc.poll() is None and "Initialization complete" in self.this_run()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout):
        """SIGTERM (then SIGKILL); records whether the run was still alive and how it
        ended. Returns the exit status (negative: killed by that signal)."""
        alive = self.alive()
        rc = stop_proc(self.proc, timeout)
        self.exits.append((self.starts, alive, rc))
        self.stopped = True
        return rc

    def tail(self, n=30):
        lines = self.log_text().splitlines()
        try:
            with open(self.out.name, "rb") as f:
                lines += f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            pass
        return "\n    " + "\n    ".join(lines[-n:])


# ---- what collectd dispatched vs what the clusters hold --------------------------------

def wh_str(s):
    """A string as write_http's JSON shows it: bytes < 0x20 or >= 0x80 as '?'."""
    return "".join("?" if b < 0x20 or b >= 0x80 else chr(b) for b in str(s).encode("utf-8"))


def iso_epoch(s):
    """'2026-11-23T02:15:00.123Z' (any number of fraction digits) -> float seconds."""
    m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z$", s or "")
    if not m:
        return None
    t = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=datetime.timezone.utc).timestamp()
    return t + (float("0." + m.group(2)) if m.group(2) else 0.0)


def same_value(sink, es):
    """A sink meta/DS value against the document's typed value."""
    if sink is None or es is None:
        return sink is None and es is None
    if isinstance(es, bool) or isinstance(sink, bool):
        return str(sink).lower() == str(es).lower()
    if isinstance(es, (int, float)):
        try:
            a, b = float(sink), float(es)
        except (TypeError, ValueError):
            return False
        return abs(a - b) <= 1e-6 * max(1.0, abs(b))
    return wh_str(es) == wh_str(sink)


def fixed(kind):
    if kind == "metrics":
        return {"@timestamp", "host", "plugin", "plugin_instance", "type", "type_instance",
                "interval", "values"}
    return {"@timestamp", "severity", "host", "plugin", "plugin_instance", "type",
            "type_instance", "message"}


def meta_diff(kind, meta, src):
    """Differences between collectd meta and the document's meta fields."""
    bad = {}
    fx = fixed(kind)
    for k, v in (meta or {}).items():
        f = "meta_" + k if k in fx else k
        if not same_value(v, src.get(f)):
            bad[f] = (v, src.get(f))
    known = fx | {("meta_" + k if k in fx else k) for k in (meta or {})}
    extra = sorted(k for k in src if k not in known)
    if extra:
        bad["<fields not in collectd's meta>"] = extra
    return bad


def vl_content_diff(o, src):
    bad = {}
    for f in ("host", "plugin", "plugin_instance", "type", "type_instance"):
        if src.get(f) != o[f]:
            bad[f] = (o[f], src.get(f))
    want = dict(zip(o["dsnames"], o["values"]))
    if set(want) != set(src.get("values") or {}) or not all(
            same_value(want[k], src["values"][k]) for k in want):
        bad["values"] = (want, src.get("values"))
    if not same_value(o["interval"], src.get("interval")):
        bad["interval"] = (o["interval"], src.get("interval"))
    bad.update(meta_diff("metrics", o.get("meta"), src))
    return bad


def n_content_diff(n, src):
    bad = {}
    for f in ("host", "plugin", "plugin_instance", "type", "type_instance", "severity"):
        if src.get(f) != n[f]:
            bad[f] = (n[f], src.get(f))
    if wh_str(src.get("message")) != wh_str(n["message"]):
        bad["message"] = (n["message"], src.get("message"))
    bad.update(meta_diff("events", n.get("meta"), src))
    return bad


def doc_kind(d):
    name = d.get("data_stream") or d["_index"]
    return "metrics" if "-metrics" in name else "events"


def vl_key(o):
    return (o["host"], o["plugin"], o["plugin_instance"], o["type"], o["type_instance"])


def n_key(n):
    return vl_key(n) + (n["severity"], wh_str(n["message"]))


class Match:
    """Pairs sink items with documents by identity and time."""

    def __init__(self, sink_vls, sink_ns, docs, dead=()):
        self.missing, self.extra, self.content = [], [], []
        self.matched = 0
        self.per_type = collections.Counter()
        es_vl = collections.defaultdict(list)
        es_n = collections.defaultdict(list)
        for d in docs:
            s = d["_source"]
            t = iso_epoch(s.get("@timestamp"))
            if doc_kind(d) == "metrics":
                es_vl[vl_key(s)].append((t, d))
            else:
                es_n[vl_key(s) + (s.get("severity"), wh_str(s.get("message")))].append((t, d))
        for d in dead:
            s = d.get("doc") or {}
            t = iso_epoch(s.get("@timestamp"))
            tgt = es_vl if "values" in s else es_n
            k = vl_key(s) if "values" in s else vl_key(s) + (s.get("severity"),
                                                              wh_str(s.get("message")))
            tgt[k].append((t, {"_source": s, "_index": "dead-letter", "_id": None,
                               "dead": True}))
        sv = collections.defaultdict(list)
        for o in sink_vls:
            sv[vl_key(o)].append((o["time"], o))
        sn = collections.defaultdict(list)
        for n in sink_ns:
            sn[n_key(n)].append((iso_epoch(n["time"]), n))
        self._pair(sv, es_vl, vl_content_diff)
        self._pair(sn, es_n, n_content_diff)

    def _pair(self, sink, es, diff):
        for k in set(sink) | set(es):
            a = sorted(sink.get(k, []), key=lambda x: x[0])
            b = sorted(es.get(k, []), key=lambda x: x[0] if x[0] is not None else 0)
            i = j = 0
            while i < len(a) and j < len(b):
                ta, tb = a[i][0], b[j][0]
                if tb is not None and abs(ta - tb) <= TIME_TOL:
                    self.matched += 1
                    self.per_type[k[3]] += 1
                    dd = diff(a[i][1], b[j][1]["_source"])
                    if dd:
                        self.content.append((k, dd))
                    i += 1
                    j += 1
                elif tb is None or tb < ta:
                    self.extra.append((k, b[j][1]))
                    j += 1
                else:
                    self.missing.append((k, a[i][1]))
                    i += 1
            self.missing += [(k, x[1]) for x in a[i:]]
            self.extra += [(k, x[1]) for x in b[j:]]

    def summary(self):
        def short(lst):
            return [(k, x.get("time", x.get("_source", {}).get("@timestamp"))
                     if isinstance(x, dict) else x) for k, x in lst[:3]]
        return "matched %d, missing %d %s, extra %d %s, content differs %d %s" % (
            self.matched, len(self.missing), short(self.missing), len(self.extra),
            short(self.extra), len(self.content), self.content[:2])


# ---- the test --------------------------------------------------------------------------

class EsE2E:
    def __init__(self, tmp):
        self.tmp = tmp
        self.store = Store()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.seed = 10

    # -- plumbing --

    def sink_items(self, upto=None, plugin=None):
        with self.store.lock:
            vls = [o for lst in self.store.by_type.values() for o in lst]
            ns = list(self.store.notifs)
        if upto is not None:
            vls = [o for o in vls if o["_arrival"] <= upto]
            ns = [n for n in ns if n["_arrival"] <= upto]
        if plugin is not None:
            vls = [o for o in vls if o["plugin"] == plugin]
            ns = [n for n in ns if n["plugin"] == plugin]
        return vls, ns

    def counter(self, node, type_, ti, since=0.0):
        """The latest value of the plugin's own counter for node (sink), or None."""
        vs = [o for o in self.store.values(type_, "/main", host=HOSTNAME,
                                           plugin="write_elasticsearch",
                                           plugin_instance=node, type_instance=ti)
              if o["_arrival"] >= since]
        if not vs:
            return None
        return max(vs, key=lambda o: (o["time"], o["_seq"]))["values"][0]

    def counter_max(self, node, type_, ti, since=0.0):
        vs = [o["values"][0] for o in self.store.values(
            type_, "/main", host=HOSTNAME, plugin="write_elasticsearch", plugin_instance=node,
            type_instance=ti) if o["_arrival"] >= since and o["values"][0] is not None]
        return max(vs) if vs else None

    def send_fleet(self, cycles=1, rate=400, **kw):
        self.seed += 1
        args = [VQ_SEND, "--fleet", "-H", "127.0.0.1", "-p", str(self.vq_port), "--sites", "2",
                "--spaces", "2", "--factories", "2", "--machinetypes", "2", "--finished", "1",
                "--cycles", str(cycles), "--rate", str(rate), "--seed", str(self.seed), "--quiet"]
        for k, v in kw.items():
            args += ["--" + k.replace("_", "-"), str(v)]
        r = subprocess.run(args, capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise RuntimeError("vacquery-send: %s %s" % (r.stdout, r.stderr))

    def send_json(self, obj):
        self.sock.sendto(json.dumps(obj).encode(), ("127.0.0.1", self.vq_port))

    def caught_up(self, server, name, timeout=25):
        """Every vacquery value list and notification the sink had when this
        was called is stored exactly once (by identity and time) in server,
        or is in the node's dead-letter file; no document without its value
        list or notification in the sink."""
        cut = time.time()

        def fn():
            vls, ns = self.sink_items(plugin="vacquery")
            docs = [d for d in server.docs() if d["_source"].get("plugin") == "vacquery"]
            m = Match(vls, ns, docs, self.dead_letters(server.node))
            missing = [x for x in m.missing if x[1]["_arrival"] <= cut]
            late = [x for x in m.extra
                    if (iso_epoch(x[1]["_source"].get("@timestamp")) or 0) <= cut - 2]
            return (not missing and not late and not m.content,
                    "missing %d %s; extra %d %s; content differs %d %s; (%s)" % (
                        len(missing), [(k, x.get("time")) for k, x in missing[:3]], len(late),
                        [(k, x["_source"].get("@timestamp")) for k, x in late[:3]],
                        len(m.content), m.content[:2], m.summary()))
        return CK.eventually(name, fn, timeout, 0.5)

    def dead_letters(self, node):
        p = os.path.join(self.cdir, "dead-letter-%s.ndjson" % node)
        try:
            with open(p) as f:
                return [json.loads(x) for x in f if x.strip()]
        except OSError:
            return []

    def spool_bytes(self, node):
        return es_server.dir_bytes(os.path.join(self.cdir, "spool-" + node))

    # -- setup --

    def setup(self):
        so = os.path.join(PLUGIN_DIR, "write_elasticsearch.so")
        if not CK.check("built plugin exists (%s)" % so, os.path.isfile(so)):
            raise RuntimeError("no write_elasticsearch.so")
        self.sink = Sink(("127.0.0.1", 0), SinkHandler)
        self.sink.store = self.store
        import threading
        threading.Thread(target=self.sink.serve_forever, daemon=True).start()
        self.es = EsServer(self.tmp, "es-server", "es", "elasticsearch")
        auth = "Basic " + base64.b64encode(("%s:%s" % (OS_USER, OS_PASSWORD)).encode()).decode()
        self.os = EsServer(self.tmp, "os-server", "os", "opensearch",
                           ["--user", OS_USER, "--password", OS_PASSWORD], auth=auth)
        pki = es_server.make_test_pki(os.path.join(self.tmp, "pki"))
        self.tls = EsServer(self.tmp, "tls-server", "tls", "elasticsearch",
                            ["--tls-cert", pki["server_cert"], "--tls-key", pki["server_key"],
                             "--tls-client-ca", pki["ca"], "--api-key", TLS_KEY_ID],
                            auth="ApiKey " + TLS_API_KEY, pki=pki)
        self.servers = (self.es, self.os, self.tls)
        self.vq_port = e2e.free_udp_port()
        self.cdir = os.path.join(self.tmp, "collectd")
        self.cd = Collectd(self.cdir, collectd_conf(self.cdir, self.sink.server_address[1],
                                                    self.vq_port, self.es, self.os, self.tls,
                                                    pki))
        self.cd.start()
        if not CK.check("collectd starts with vacquery, write_http and write_elasticsearch "
                        "(4 nodes, one from write_elasticsearch_vacmon.conf)",
                        self.cd.wait_ready(), self.cd.tail()):
            raise RuntimeError("collectd did not start")

    # -- 1. templates --

    def templates(self):
        for srv, mode in ((self.es, "daily"), (self.os, "datastream"), (self.tls, "daily")):
            for kind in ("metrics", "events"):
                name = "vacmon-" + kind
                with open(os.path.join(TEMPLATES, name + ".json")) as f:
                    want = json.load(f)
                want["index_patterns"] = [name + "-*" if mode == "daily" else name]
                want.pop("data_stream", None)
                if mode == "datastream":
                    want["data_stream"] = {}
                want["composed_of"] = [name + "@custom"]

                def fn():
                    st, body = srv.api("GET", "/_index_template/" + name)
                    if st != 200:
                        return False, (st, body, srv.stats()["templates_put"])
                    got = body["index_templates"][0]["index_template"]
                    return got == want, {"got": got, "want": want}
                CK.eventually("%s (%s): template %s installed, equal to graphs/elasticsearch/%s"
                              ".json with index_patterns %s%s" % (
                                  srv.name, mode, name, name, want["index_patterns"],
                                  " and data_stream {}" if mode == "datastream" else ""),
                              fn, 10)
            bad = [t for t in srv.stats()["templates_put"] if t[1] != 200]
            CK.check("%s: no template PUT refused" % srv.name, not bad, bad)
        self.vm_templates()

    # -- Format "vacmon" (node vm, the shipped drop-in, on es-server) --

    def vm_docs(self):
        return self.es.ctl("GET", "/_test/docs?index=factories-*,machinetypes-*,"
                           "machines-*")[1]["docs"]

    def vm_templates(self):
        srv = self.es
        for base in ("factories", "machinetypes", "machines"):
            with open(os.path.join(TEMPLATES, "vacmon-%s.json" % base)) as f:
                want = json.load(f)
            want["index_patterns"] = [base + "-*"]
            want["composed_of"] = ["vacmon@custom"]
            want["template"]["settings"] = {"index.lifecycle.name": VM_POLICY}

            def fn():
                st, body = srv.api("GET", "/_index_template/" + base)
                if st != 200:
                    return False, (st, body)
                got = body["index_templates"][0]["index_template"]
                return got == want, {"got": got, "want": want}
            CK.eventually("vm (Format vacmon): template %s installed: graphs/elasticsearch/"
                          "vacmon-%s.json (dynamic false, explicit long/double/keyword/date) "
                          "with index_patterns [%s-*], composed_of [vacmon@custom] and "
                          "LifecyclePolicy as index.lifecycle.name" % (base, base, base), fn, 10)
        st, body = srv.api("GET", "/_component_template/vacmon@custom")
        got = body["component_templates"][0]["component_template"] if st == 200 else body
        CK.check("vm: component template vacmon@custom created empty (template {})",
                 st == 200 and got.get("template") == {}, (st, got))
        for s2 in self.servers:
            for kind in ("metrics", "events"):
                st, body = s2.api("GET", "/_component_template/vacmon-%s@custom" % kind)
                CK.check("%s: component template vacmon-%s@custom created empty" % (s2.name, kind),
                         st == 200 and body["component_templates"][0]["component_template"][
                             "template"] == {}, (st, body))
        # The site puts its own settings there; the plugin must never overwrite them.
        st, body = srv.api("PUT", "/_component_template/vacmon@custom", VM_SITE_SETTINGS)
        CK.check("vm: the site puts its settings into vacmon@custom", st == 200, (st, body))

    def vm_steady(self):
        """Each example message sent once: one VacMon document, right index, fields, types."""
        sent = [json.load(open(f)) for f in self.fixture_files]
        sent = [m for m in sent if m.get("message_type") in VM_INDICES]
        # A site with three factory_status messages (two from one factory), so that
        # VacMon's query averages over more than one document per site.
        base = json.load(open(os.path.join(FIXTURES, "factory_status-vac-man.json")))
        for i, (fac, rp) in enumerate((("a", 10), ("a", 20), ("b", 3))):
            m = dict(base, site="UKI-E2E-AVG", space="avg.example.ac.uk",
                     factory="vac-%s.avg.example.ac.uk" % fac, time_sent=1700000000 + i,
                     running_processors=rp)
            self.send_json(m)
            sent.append(m)
            time.sleep(0.05)  # one instant per message, as the value lists' _ids need
        self.fix_t1 = max(self.fix_t1, time.time())

        def notified(m):
            base, _ = vm_expected(m)
            k = vm_key(base, m)
            return any(vm_meta_key(n) == k for n in self.sink_items(plugin="vacquery")[1])
        CK.eventually("vm: vacquery notified the example messages",
                      lambda: (sum(notified(m) for m in sent) >= len(sent) - 2,
                               [m.get("factory") for m in sent if not notified(m)]), 15)
        self.vm_notified = [m for m in sent if notified(m)]
        log("INFO vm: %d of %d example status messages notified by vacquery; not: %s" % (
            len(self.vm_notified), len(sent),
            [(m["message_type"], m.get("machine"), m.get("cookie"))
             for m in sent if not notified(m)]))
        lo, hi = int(self.fix_t0) - 1, int(self.fix_t1) + 2

        def fn():
            docs = self.vm_docs()
            bad = []
            for m in sent:
                base, want = vm_expected(m)
                k = vm_key(base, m)
                hits = [d for d in docs if vm_doc_base(d) == base and vm_key(base, d["_source"])
                        == k]
                n_want = 1 if m in self.vm_notified else 0
                if len(hits) != n_want:
                    bad.append((k, "documents", len(hits), n_want))
                    continue
                if not hits:
                    continue
                src = dict(hits[0]["_source"])
                tr = src.pop("time_received", None)
                if type(tr) is not int or not lo <= tr <= hi:
                    bad.append((k, "time_received", tr, (lo, hi)))
                day = time.strftime("%Y.%m.%d", time.gmtime(tr or 0))
                if hits[0]["_index"] != "%s-%s" % (base, day):
                    bad.append((k, "index", hits[0]["_index"]))
                if base == "machines":  # vacquery may take the outcome from a machinetype
                    for mt in sent:
                        if mt.get("shutdown_machine") == m.get("machine") and \
                                src.get("shutdown_message") == mt.get("shutdown_message"):
                            want["shutdown_message"] = mt["shutdown_message"]
                            want["shutdown_time"] = mt["shutdown_time"]
                diff = vm_type_diff(base, src, want)
                if diff:
                    bad.append((k, "fields", diff))
            return not bad, bad[:4]
        CK.eventually("vm: every example status message sent once is exactly one VacMon "
                      "document in factories/machinetypes/machines-<UTC day>, with the "
                      "message's fields at the top level, vacmond's legacy fix-ups, vo from "
                      "fqan, numbers typed as the mapping says (long an integer, 16.0 -> 16) "
                      "and time_received (epoch seconds) the time it was received", fn, 20)
        docs = self.vm_docs()
        leg = [d["_source"] for d in docs if d["_source"].get("time_sent") == 1476000121]
        CK.check("vm: factory_status-vac-legacy-0.4.json: running_processors, max_processors, "
                 "max_machines, daemon_version filled from running_cpus, total_cpus, "
                 "total_machines, vac_version (legacy keys kept)",
                 len(leg) == 1 and all(k in leg[0] for k in (
                     "running_processors", "max_processors", "max_machines", "daemon_version",
                     "running_cpus", "total_cpus")), leg)
        st, body = self.es.api("GET", "/factories-*/_mapping")
        dyn = {ix: b["mappings"].get("dynamic") for ix, b in (body or {}).items()}
        unm = {ix: [k for k in b["mappings"]["properties"] if k in ("running_cpus", "total_cpus",
                                                                     "source_address")]
               for ix, b in (body or {}).items()}
        CK.check("vm: no dynamic guessing: factories-* mapping dynamic false, legacy keys "
                 "not mapped", st == 200 and dyn and all(v is False for v in dyn.values())
                 and not any(unm.values()), (dyn, unm))
        st, body = self.es.api("GET", "/factories-*")
        reps = [b["settings"]["index"].get("index", {}).get("number_of_replicas",
                b["settings"]["index"].get("number_of_replicas")) for b in (body or {}).values()]
        CK.check("vm: a new factories index gets the site's setting from vacmon@custom "
                 "(number_of_replicas 2)", st == 200 and reps and all(r == 2 for r in reps),
                 (st, reps))
        # Lifecycle events (vacquery_machine_state): the machine must be a keyword
        # field of the event documents, as test_es_doc's lifecycle document has it.
        day = time.strftime("%Y.%m.%d", time.gmtime())
        ev = {"@timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
              "severity": "OKAY", "host": "UKI-NORTHGRID-MAN-HEP", "plugin": "vacquery",
              "plugin_instance": "vac01_tier2_hep_manchester_ac_uk.vac101_tier2_hep_"
              "manchester_ac_uk", "type": "vacquery_machine_state",
              "type_instance": "lhcb.lhcb-prod.vac101-05_tier2_hep_manchester_ac_uk",
              "message": "machine vac101-05.tier2.hep.manchester.ac.uk: Starting -> Running",
              "event": "machine_state", "site": "UKI-NORTHGRID-MAN-HEP",
              "factory": "vac101.tier2.hep.manchester.ac.uk",
              "machine": "vac101-05.tier2.hep.manchester.ac.uk",
              "old_state": "Starting", "new_state": "Running", "started_time": 1542768954}
        # On a server of its own (es-server must hold only what collectd sent), with
        # the component and events templates the plugin installed on es-server.
        app = es_server.App("elasticsearch")
        lport, _ = app.start(0, None)
        try:
            def call(method, path, body=None):
                return self.es._req(lport, method, path, body)
            for path, key, inner in (
                    ("/_component_template/vacmon-events@custom", "component_templates",
                     "component_template"),
                    ("/_index_template/vacmon-events", "index_templates", "index_template")):
                st, body = self.es.api("GET", path)
                call("PUT", path, body[key][0][inner] if st == 200 else {})
            lc = call("POST", "/vacmon-events-%s/_doc" % day, ev)
            st, body = call("POST", "/vacmon-events-*/_search", {"query": {"bool": {
                "filter": [{"term": {"machine": "vac101-05.tier2.hep.manchester.ac.uk"}},
                           {"term": {"type": "vacquery_machine_state"}}]}}})
            st2, mp = call("GET", "/vacmon-events-%s/_mapping" % day)
        finally:
            app.stop()
        props = (mp or {}).get("vacmon-events-%s" % day, {}).get("mappings", {}).get(
            "properties", {})
        types = {k: (props.get(k) or {}).get("type") for k in ("machine", "old_state",
                                                                "new_state", "factory")}
        CK.check("lifecycle: a vacquery_machine_state event document in the index the events "
                 "template made is found by a term query on machine, which that template maps "
                 "keyword (old_state/new_state keyword too)",
                 lc[0] in (200, 201) and st == 200 and body["hits"]["total"]["value"] == 1
                 and set(types.values()) == {"keyword"}, (lc, st, body, types))

    def vm_final(self):
        """After outages and a restart: every vacquery message and finished-machine
        notification is exactly one VacMon document; the VacMon query answers the
        sender's totals; the site's component template survived the re-PUTs."""
        vls, ns = self.sink_items(plugin="vacquery")
        want = collections.Counter(k for k in (vm_meta_key(n) for n in ns) if k)
        docs = self.vm_docs()
        got = collections.Counter(vm_key(vm_doc_base(d), d["_source"]) for d in docs)
        CK.check("vm final: every message and finished-machine notification vacquery "
                 "dispatched (%d) is exactly one VacMon document, across the outage and the "
                 "restart, nothing extra (%d documents: %s)"
                 % (sum(want.values()), len(docs), dict(collections.Counter(
                     vm_doc_base(d) for d in docs))),
                 want == got and want, {"missing": list((want - got).items())[:3],
                                        "extra": list((got - want).items())[:3]})
        # VacMon's query on factories: date_histogram on time_received (W = 300 s,
        # offset = start mod W), terms on site, avg of running_processors.
        fac = [m for m in self.vm_notified if m["message_type"] == "factory_status"]
        sites = sorted({m["site"] for m in fac})
        start, end, w = int(self.fix_t0) - 600, int(self.fix_t1) + 600, 300
        q = {"size": 0, "query": {"bool": {"filter": [
            {"range": {"time_received": {"gte": start, "lte": end}}},
            {"terms": {"site": sites}}]}},
             "aggs": {"t": {"date_histogram": {"field": "time_received",
                                               "fixed_interval": "%ds" % w,
                                               "offset": "%ds" % (start % w),
                                               "min_doc_count": 1},
                            "aggs": {"site": {"terms": {"field": "site", "size": 99999},
                                              "aggs": {"rp": {"avg": {
                                                  "field": "running_processors"}}}}}}}}
        st, body = self.es.api("POST", "/factories-*/_search", q)
        exp = {}
        for m in fac:
            rp = m.get("running_processors", m.get("running_cpus"))
            n, s = exp.get(m["site"], (0, 0))
            exp[m["site"]] = (n + 1, s + int(rp))
        res, aligned = {}, True
        for b in ((body or {}).get("aggregations") or {}).get("t", {}).get("buckets", []):
            aligned &= (b["key"] // 1000 - start) % w == 0
            for sb in b["site"]["buckets"]:
                n, s = res.get(sb["key"], (0, 0))
                res[sb["key"]] = (n + sb["doc_count"], s + sb["doc_count"] * sb["rp"]["value"])
        res = {k: (n, round(s, 6)) for k, (n, s) in res.items()}
        log("INFO vm: VacMon query: %d bucket(s); per site (messages, sum of "
            "running_processors): %s" % (len(body.get("aggregations", {}).get("t", {}).get(
                "buckets", [])) if st == 200 else -1, res))
        CK.check("vm: VacMon's query (date_histogram on time_received, terms on site, avg of "
                 "running_processors) returns the sent factory_status messages' count and "
                 "running_processors totals per site (%s), buckets aligned to start" % exp,
                 st == 200 and res == exp and aligned, (st, res, exp, body))
        st, body = self.es.api("GET", "/_component_template/vacmon@custom")
        got = body["component_templates"][0]["component_template"] if st == 200 else body
        puts = collections.Counter(t[0] for t in self.es.stats()["templates_put"] if t[1] == 200)
        CK.check("vm: the site's settings in vacmon@custom survive the plugin's template "
                 "re-PUTs (factories PUT %d times, vacmon@custom by the plugin once)"
                 % puts["factories"], got == VM_SITE_SETTINGS and puts["factories"] >= 2
                 and puts["vacmon@custom"] == 2, (got, dict(puts)))
        dead = self.dead_letters("vm")
        CK.check("vm: nothing dead-lettered", not dead, dead[:2])
        # Node vmos: the same documents as data streams vm-factories ... on OpenSearch.
        odocs = self.os.ctl("GET", "/_test/docs?index=vm-factories,vm-machinetypes,"
                            "vm-machines")[1]["docs"]
        ogot = collections.Counter(vm_key(vm_doc_base(d)[len("vm-"):], d["_source"])
                                   for d in odocs)
        stamps = [d for d in odocs if not re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$",
                                                   str(d["_source"].get("@timestamp")))
                  or not d["_index"].startswith(".ds-vm-")]
        CK.check("vmos (OpenSearch, IndexMode datastream, IndexPrefix vm): every message is "
                 "exactly one document in the data streams vm-factories, vm-machinetypes, "
                 "vm-machines, each with @timestamp (%d documents)" % len(odocs),
                 ogot == want and not stamps, {"missing": list((want - ogot).items())[:3],
                                               "extra": list((ogot - want).items())[:3],
                                               "no @timestamp": stamps[:2]})
        st, body = self.os.api("GET", "/_index_template/vm-machines")
        t = body["index_templates"][0]["index_template"] if st == 200 else body
        CK.check("vmos: template vm-machines: data stream vm-machines, composed_of "
                 "[vm-vacmon@custom], ISM policy (plugins.index_state_management.policy_id)",
                 st == 200 and t.get("index_patterns") == ["vm-machines"]
                 and t.get("data_stream") == {} and t.get("composed_of") == ["vm-vacmon@custom"]
                 and t["template"].get("settings") == {
                     "plugins.index_state_management.policy_id": VM_POLICY}, t)

    # -- 2. examples and a fleet, no faults --

    def steady(self):
        files = sorted(os.path.join(FIXTURES, f) for f in os.listdir(FIXTURES)
                       if f.endswith(".json"))
        self.fixture_files = files
        self.fix_t0 = time.time()
        r = subprocess.run([VQ_SEND, "-H", "127.0.0.1", "-p", str(self.vq_port), "--rate", "200"]
                           + files, capture_output=True, text=True, timeout=30)
        self.fix_t1 = time.time()
        CK.check("vacquery-send sends the %d example files" % len(files), r.returncode == 0,
                 r.stdout + r.stderr)
        self.send_fleet(cycles=2)
        for srv in self.servers:
            self.caught_up(srv, "steady: every vacquery value list and notification so far is "
                           "in %s exactly once, same content" % srv.name)
        docs = self.es.docs()
        fac = [d for d in docs if d["_source"].get("type") == "vacquery_factory"
               and d["_source"].get("host") == "UKI-NORTHGRID-MAN-HEP"
               and d["_source"].get("plugin_instance")
               == "vac01_tier2_hep_manchester_ac_uk.vac101_tier2_hep_manchester_ac_uk"]
        ok = False
        if fac:
            s = fac[0]["_source"]
            day = s["@timestamp"][:10].replace("-", ".")
            cap = [d["_source"] for d in docs if d["_source"].get("type") == "vacquery_capacity"
                   and d["_source"].get("host") == s["host"]
                   and d["_source"].get("plugin_instance") == s["plugin_instance"]]
            ok = (s["values"].get("running_processors") == 28
                  and cap and cap[0]["values"].get("max_processors") == 32
                  and s.get("site") == "UKI-NORTHGRID-MAN-HEP"
                  and s.get("os_issue") == "CentOS Linux release 7.5.1804 (Core)"
                  and re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", s["@timestamp"])
                  and fac[0]["_index"] == "vacmon-metrics-" + day
                  and re.match(r"^[0-9a-f]{32}$", fac[0]["_id"]))
        CK.check("factory_status-vac-man.json stored as the contract says: index "
                 "vacmon-metrics-<UTC day>, @timestamp with ms, values.running_processors 28 "
                 "(vacquery_factory) and values.max_processors 32 (vacquery_capacity), "
                 "site and os_issue fields, 32-hex _id", ok, fac[:1])
        ev = [d for d in docs if d["_source"].get("uuid") == "5f0c7a2e-9b1d-4e63-8a47-2c9d1e6b3f80"
              and d["_source"].get("state") == "Running"]
        ok = False
        if len(ev) == 1:
            s = ev[0]["_source"]
            ok = (ev[0]["_index"].startswith("vacmon-events-") and s.get("severity") == "OKAY"
                  and s.get("type") == "vacquery_finished" and s.get("vo") == "lhcb"
                  and s.get("cpu_seconds") == 1159337 and "finished after" in s.get("message", ""))
        CK.check("machine_status-vac-man-success.json: one event document (severity OKAY, "
                 "meta fields typed: cpu_seconds 1159337, vo lhcb) in vacmon-events-<day>",
                 ok, ev)
        osd = [d for d in self.os.docs() if d["_source"].get("plugin") == "vacquery"]
        CK.check("os: data streams vacmon-metrics and vacmon-events (backing .ds-*-000001)",
                 osd and all(d["data_stream"] in ("vacmon-metrics", "vacmon-events")
                             and d["_index"].startswith(".ds-vacmon-") for d in osd),
                 {d["_index"] for d in osd})
        self.vm_steady()

    # -- 3. outage --

    def outage(self):
        before_spooled = self.counter("es", "derive", "spooled") or 0
        self.es.fault(mode="down")
        t_down = time.time()
        self.send_fleet(cycles=2)
        spooled = wait_for(lambda: self.spool_bytes("es") > 0, 8)
        CK.check("outage: documents spooled to SpoolDir while the cluster is down (%d bytes)"
                 % self.spool_bytes("es"), spooled)
        CK.eventually("outage: derive-spooled rises and gauge-spool_bytes > 0 (node es)",
                      lambda: ((self.counter("es", "derive", "spooled") or 0) > before_spooled
                               and (self.counter_max("es", "gauge", "spool_bytes", t_down)
                                    or 0) > 0,
                               (self.counter("es", "derive", "spooled"),
                                self.counter("es", "gauge", "spool_bytes"))),
                      max(1.0, 9 - (time.time() - t_down)))
        time.sleep(max(0.0, 10 - (time.time() - t_down)))
        self.es.fault(mode="up")
        t_up = time.time()
        self.caught_up(self.es, "outage (10 s): everything sent before, during and after is "
                       "stored exactly once after the cluster is back", 30)
        log("INFO outage: caught up %.1f s after the cluster came back" % (time.time() - t_up))
        CK.eventually("outage: the spool drains (gauge-spool_bytes back to 0)",
                      lambda: (self.counter("es", "gauge", "spool_bytes", t_up + 1) == 0,
                               self.counter("es", "gauge", "spool_bytes")), 15)

    # -- 4..7. 429, partial failures, lost answers, 413 --

    def burst_429(self):
        r0 = self.counter("es", "derive", "retried") or 0
        f0 = self.es.stats()["faults"].get("429", 0)
        self.es.fault(mode="429", count=6)
        self.send_fleet(cycles=1)
        self.caught_up(self.es, "429 burst: everything stored exactly once after 6 whole-request "
                       "429s")
        CK.check("429 burst: the server answered 6 requests with 429",
                 self.es.stats()["faults"].get("429", 0) - f0 == 6, self.es.stats()["faults"])
        CK.eventually("429 burst: derive-retried rises",
                      lambda: ((self.counter("es", "derive", "retried") or 0) > r0,
                               self.counter("es", "derive", "retried")), 5)

    def partial(self):
        st0 = self.es.stats()
        self.es.fault(mode="partial", every=2, status=429, count=3)
        self.send_fleet(cycles=1)
        self.caught_up(self.es, "partial 429: everything stored exactly once after 3 bulk "
                       "requests with every 2nd item refused (429)")
        self.es.fault(mode="partial", every=3, status=503, count=2)
        self.send_fleet(cycles=1)
        self.caught_up(self.es, "partial 503: everything stored exactly once after 2 bulk "
                       "requests with every 3rd item refused (503)")
        st = self.es.stats()
        CK.check("partial: the server refused items with 429 and 503 (%d, %d)"
                 % (st["items"].get("create 429", 0) - st0["items"].get("create 429", 0),
                    st["items"].get("create 503", 0) - st0["items"].get("create 503", 0)),
                 st["items"].get("create 429", 0) > st0["items"].get("create 429", 0)
                 and st["items"].get("create 503", 0) > st0["items"].get("create 503", 0), st)

    def lost(self):
        c0 = self.es.stats()["items"].get("create 409", 0)
        self.es.fault(mode="lost", count=2)
        self.send_fleet(cycles=1)
        self.caught_up(self.es, "lost answers: documents stored but the answer lost twice: "
                       "stored exactly once (the resend is deduplicated by _id)")
        st = self.es.stats()
        CK.check("lost answers: the resend got 409 version_conflict for what was stored "
                 "(%d)" % (st["items"].get("create 409", 0) - c0),
                 st["faults"].get("lost", 0) == 2 and st["items"].get("create 409", 0) > c0,
                 (st["faults"], st["items"]))

    def too_large(self):
        f0 = self.es.stats()["faults"].get("413", 0)
        d0 = len(self.dead_letters("es"))
        self.t413 = time.time()
        self.es.fault(mode="413", limit=8192, count=4)
        self.send_fleet(cycles=2)
        self.caught_up(self.es, "413: everything stored exactly once after 4 bodies over "
                       "8 KiB were refused with 413")
        st = self.es.stats()
        CK.check("413: the server answered 413 (%d times) and nothing went to the dead-letter "
                 "file" % (st["faults"].get("413", 0) - f0),
                 st["faults"].get("413", 0) > f0 and len(self.dead_letters("es")) == d0,
                 (st["faults"], self.dead_letters("es")[d0:][:2]))
        reqs = [r for r in self.es.ctl("GET", "/_test/requests")[1]["requests"]
                if r.get("kind") == "write" and r["t"] >= self.t413]
        refused = [r["bytes"] for r in reqs if r["status"] == 413]
        after = [r["bytes"] for r in reqs if r["status"] == 200 and refused
                 and r["t"] > min(x["t"] for x in reqs if x["status"] == 413)]
        CK.check("413: the plugin splits a refused batch (refused sizes %s, then a request of "
                 "%s bytes stored)" % (refused, min(after) if after else None),
                 # the fault refuses 4 bodies only: a batch that needed more
                 # halvings is stored above 8 KiB, so the check is that the
                 # body after the last refusal is about half of it (whole
                 # documents: up to 1 KiB over)
                 len(refused) >= 2 and min(refused) <= max(refused) / 2
                 and after and min(after) <= min(refused) / 2 + 1024,
                 [(r["status"], r["bytes"]) for r in reqs[:16]])

    # -- 8. mapping error --

    def mapping(self):
        base = json.load(open(os.path.join(FIXTURES, "machine_status-vac-man-success.json")))
        good = dict(base, uuid="e2e-probe-good", machine="probe-good.example", **{PROBE: 5})
        self.send_json(good)

        def stored(srv, uuid):
            return [d for d in srv.docs() if d["_source"].get("uuid") == uuid]
        for srv in self.servers:
            CK.eventually("mapping: %s stores the event with %s = 5 (the events template maps "
                          "the new field as double)" % (srv.name, PROBE),
                          lambda: (len(stored(srv, "e2e-probe-good")) == 1,
                                   stored(srv, "e2e-probe-good")), 10)
        t_bad = time.time()
        bad = dict(base, uuid="e2e-probe-bad", machine="probe-bad.example",
                   **{PROBE: "not-a-number"})
        self.send_json(bad)
        for node, srv, etype in (("es", self.es, "document_parsing_exception"),
                                 ("os", self.os, "mapper_parsing_exception"),
                                 ("tls", self.tls, "document_parsing_exception")):
            def dl():
                lines = [x for x in self.dead_letters(node)
                         if (x.get("doc") or {}).get("uuid") == "e2e-probe-bad"]
                return (len(lines) == 1 and lines[0].get("status") == 400
                        and etype in str(lines[0].get("reason"))
                        and str(lines[0].get("index", "")).startswith("vacmon-events")
                        and lines[0]["doc"].get(PROBE) == "not-a-number", lines)
            CK.eventually("mapping: node %s writes the refused document to its dead-letter file "
                          "(status 400, reason %s, index vacmon-events*, the document)"
                          % (node, etype), dl, 10)
            CK.check("mapping: only that document is dead-lettered on node %s" % node,
                     len(self.dead_letters(node)) == 1, self.dead_letters(node)[:3])
            CK.eventually("mapping: derive-dead_lettered = 1 on node %s" % node,
                          lambda: (self.counter(node, "derive", "dead_lettered", t_bad) == 1,
                                   self.counter(node, "derive", "dead_lettered")), 5)
            CK.check("mapping: %s did not store the refused document" % srv.name,
                     not stored(srv, "e2e-probe-bad"), stored(srv, "e2e-probe-bad"))

    # -- 9. restart while spooled --

    def restart(self):
        self.es.fault(mode="down")
        self.send_fleet(cycles=2)
        CK.check("restart: documents spooled while the cluster is down",
                 wait_for(lambda: self.spool_bytes("es") > 0, 8), self.spool_bytes("es"))
        CK.check("restart: VacMon documents spooled too (node vacmon)",
                 wait_for(lambda: self.spool_bytes("vm") > 0, 8), self.spool_bytes("vm"))
        time.sleep(1.5)
        t = time.time()
        rc = self.cd.stop(25)
        dt = time.time() - t
        CK.check("restart: collectd stops on SIGTERM while the cluster is down (exit 0, "
                 "%.1f s)" % dt, rc == 0 and dt < 20, "rc=%s%s" % (rc, self.cd.tail()))
        kept = self.spool_bytes("es")
        CK.check("restart: the spool is kept on disk across the restart (%d bytes)" % kept,
                 kept > 0, kept)
        CK.check("restart: node vacmon's spool is kept too (%d bytes)" % self.spool_bytes("vm"),
                 self.spool_bytes("vm") > 0)
        self.cd.start()
        CK.check("restart: collectd starts again with the cluster still down",
                 self.cd.wait_ready(), self.cd.tail())
        self.send_fleet(cycles=1)
        time.sleep(2)
        self.es.fault(mode="up")
        self.caught_up(self.es, "restart: everything sent before the stop, during the outage "
                       "and after the start is stored exactly once", 30)

    # -- 10. the end --

    def final(self):
        CK.check("collectd still running before the end", self.cd.alive(), self.cd.tail())
        time.sleep(1.5)
        rc = self.cd.stop(25)
        CK.check("collectd stops cleanly (exit 0, \"Exiting normally\")",
                 rc == 0 and "Exiting normally" in self.cd.this_run(),
                 "rc=%s%s" % (rc, self.cd.tail()))
        time.sleep(0.5)  # the sink's last POST
        self.vm_final()
        for srv, want in ((self.tls, "gzip"), (self.es, "")):
            reqs = [r for r in srv.ctl("GET", "/_test/requests")[1]["requests"]
                    if r.get("kind") == "write"]
            enc = collections.Counter(r.get("encoding") for r in reqs)
            CK.check("%s: _bulk bodies %s (Compress %s; %d requests, decoded by the server)"
                     % (srv.name, "gzip-encoded" if want else "not encoded",
                        "true" if want else "unset", len(reqs)),
                     reqs and set(enc) == {want}, dict(enc))
        vls, ns = self.sink_items()
        for srv in self.servers:
            node = srv.node
            docs = srv.docs()
            m = Match(vls, ns, docs, self.dead_letters(node))
            CK.check("final %s: every value list (%d) and notification (%d) collectd dispatched "
                     "is stored exactly once, or dead-lettered (1), with the same content; "
                     "nothing extra" % (srv.name, len(vls), len(ns)),
                     not m.missing and not m.extra and not m.content, m.summary())
            log("INFO final %s: documents per type: %s" % (srv.name, dict(sorted(
                m.per_type.items()))))
            ids = collections.Counter(d["_id"] for d in docs)
            CK.check("final %s: no _id twice across indices (%d documents)"
                     % (srv.name, len(docs)), all(c == 1 for c in ids.values()),
                     [i for i, c in ids.items() if c > 1][:3])
            content = collections.Counter(json.dumps(d["_source"], sort_keys=True) for d in docs)
            CK.check("final %s: no two documents with the same content" % srv.name,
                     all(c == 1 for c in content.values()),
                     [k[:200] for k, c in content.items() if c > 1][:2])
            st = srv.stats()
            ops = {k.split()[0] for k in st["items"]}
            CK.check("final %s: every bulk request was application/x-ndjson with create "
                     "actions only" % srv.name,
                     set(st["content_types"]) == {"application/x-ndjson"} and ops == {"create"},
                     (st["content_types"], st["items"]))
        for srv, kind in ((self.os, "basic"), (self.tls, "apikey")):
            st = srv.stats()
            CK.check("final %s: every request carried %s auth, no 401%s"
                     % (srv.name, kind, " (over HTTPS with a client certificate)"
                        if srv is self.tls else ""),
                     set(st["auth"]) == {kind} and not any(k.endswith(" 401")
                                                           for k in st["statuses"]),
                     (st["auth"], st["statuses"]))
        names = {o["type"] + "-" + o["type_instance"] for o in vls
                 if o["plugin"] == "write_elasticsearch" and o["plugin_instance"] == "es"}
        want = {"derive-queued", "derive-sent", "derive-stored", "derive-retried",
                "derive-dead_lettered", "derive-spooled", "derive-dropped",
                "gauge-spool_bytes", "response_time-bulk"}
        CK.check("the plugin dispatches its counters (%s)" % ", ".join(sorted(want)),
                 want <= names, sorted(names))
        drops = {s.node: self.counter_max(s.node, "derive", "dropped") for s in self.servers}
        CK.check("derive-dropped stayed 0 on every node (SpoolMaxSize never reached)",
                 drops == {"es": 0, "os": 0, "tls": 0}, drops)
        stored = self.counter_max("es", "derive", "stored", self.restart_t)
        n_docs = len([d for d in self.es.docs()])
        log("INFO derive-stored of the second collectd run (node es): %s; documents in "
            "es-server: %d" % (stored, n_docs))
        text = self.cd.log_text()
        crash = [x for x in text.splitlines() if "assert" in x.lower()]
        CK.check("no assertion in the collectd log", not crash, crash[:3])
        # A crash writes nothing to the log: the exit status says it (a run that died
        # before its SIGTERM, or ended by a signal such as SIGSEGV or SIGABRT).
        bad = [(run, alive, rc) for run, alive, rc in self.cd.exits if not alive or rc != 0]
        CK.check("every collectd run lived until its SIGTERM and exited 0 (%d runs)"
                 % self.cd.starts, len(self.cd.exits) == self.cd.starts and not bad,
                 "(run, alive at stop, exit status): %s" % (bad or self.cd.exits))


def main():
    state = {}

    def start(tmp):
        t = state["t"] = EsE2E(tmp)
        t.setup()
        t.restart_t = 0.0

        def restart():
            t.restart_t = time.time()
            t.restart()
        return [("templates", t.templates), ("steady", t.steady), ("outage", t.outage),
                ("429 burst", t.burst_429), ("partial", t.partial), ("lost", t.lost),
                ("413", t.too_large), ("mapping", t.mapping), ("restart", restart),
                ("final", t.final)]

    def servers_up(name):  # leave the servers up for the sections after
        try:
            state["t"].es.fault(mode="ok")
        except Exception:
            pass

    def finish():
        stop_all()
        if getattr(state.get("t"), "sink", None) is not None:
            state["t"].sink.shutdown()
    return e2e.run_sections("es_e2e.py", 300, "vq-es-e2e-", start, CK, required=(COLLECTD,),
                            kept="collectd log and config, spool, dead-letter files, "
                            "server logs", on_section_error=servers_up, finish=finish)


if __name__ == "__main__":
    sys.exit(main())
