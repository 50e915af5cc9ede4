#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""End-to-end test of the Graphite output of collectd-vacmon.

Starts carbon-cache and graphite-web (Debian packages, temp dir, loopback;
graphite_stack.py) with the shipped carbon snippets, a real collectd with the
built vacquery.so and the SHIPPED write_graphite drop-in (only its EDIT lines
substituted), and sends a known fleet with vacquery-send. Then:

  * every panel target of every Grafana dashboard (graphs/grafana/dashboards),
    with its variables resolved through the variables' own expand() queries,
    returns data from graphite-web's /render?format=json;
  * the by-site, by-space, by-VO and by-machinetype processor and machine
    charts equal vacquery-send's summary;
  * the graphite-web dashboards load with the shipped loader, and each of
    their targets returns data;
  * the receiver's dotted Hostname is one path node; values of other plugins
    reach their own writer (csv) and never the vacmon node;
  * the committed dashboards are what tools/gen-dashboards.py generates;
  * the machine level (the plugin's polls) and the VMs' paths (collectd's
    virt plugin on the factories) are written into carbon with known values
    for every factory (write_machines: polling and virt have their own
    tests), so that every new panel's targets are rendered too, and the
    slots (Factory) and machines (Space, Site) by state equal them.

Environment as tests/e2e/run-py.sh sets it. Prints one line per check,
ends with `N passed, M failed`. Exit 0 pass, 1 fail, 99 hard error.
"""

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import e2e  # noqa: E402  (helpers: Checks, wait_for, stop_proc, free_udp_port)
import graphite_stack  # noqa: E402

TOP = e2e.TOP_SRCDIR
DROPIN = os.path.join(TOP, "etc", "collectd.d", "vacquery_graphite.conf")
GRAFANA = os.path.join(TOP, "graphs", "grafana", "dashboards")
LOADER = os.path.join(TOP, "graphs", "graphite", "vacmon-graphite")
GEN = os.path.join(TOP, "tools", "gen-dashboards.py")
HOSTNAME = "e2e.graphite.receiver"  # dots: the drop-in makes it one node
FLEET = ["--sites", "2", "--spaces", "2", "--factories", "2", "--machinetypes", "3",
         "--finished", "2", "--cycles", "3", "--rate", "400"]
WINDOW = "-10min"   # one 10-minute bucket covers the whole run
BUCKET = "10m"      # a value of the Grafana interval variable `bucket`
CK = e2e.Checks()
log = e2e.log


def read_summary(path):
    """vacquery-send's summary: {(kind, key...): {field: value}}."""
    out = {}
    with open(path) as f:
        for line in f:
            w = line.split()
            nkeys = {"site": 1, "vo": 1, "machinetype": 1, "site_vo": 2, "space": 2,
                     "finished": 3}
            if not w or w[0] not in nkeys:
                continue
            nkey = nkeys[w[0]]
            key = (w[0],) + tuple(e2e.sanitise(x) for x in w[1:1 + nkey])
            rest = w[1 + nkey:]
            out[key] = {rest[i]: float(rest[i + 1]) for i in range(0, len(rest), 2)}
    return out


def dropin_for_test(carbon_port):
    """The shipped drop-in with its EDIT lines set for this test; asserts
    that nothing else changed."""
    with open(DROPIN) as f:
        lines = f.read().splitlines()
    out, edited = [], 0
    for l in lines:
        if "# EDIT" in l:
            edited += 1
            l = re.sub(r'Host "[^"]*"', 'Host "127.0.0.1"', l)
            l = re.sub(r'Port "[^"]*"', 'Port "%d"' % carbon_port, l)
            l = re.sub(r'Plugin "rrdtool"', 'Plugin "csv"', l)
        out.append(l)
    CK.check("drop-in: exactly 4 EDIT lines (Host, Port, Prefix, other writers)", edited == 4,
             edited)
    return "\n".join(out) + "\n"


def collectd_conf(d, port, include):
    return e2e.base_conf(d, HOSTNAME) + f'''LoadPlugin load
LoadPlugin csv
<Plugin csv>
  DataDir "{d}/csv"
  StoreRates false
</Plugin>
PluginDir "{e2e.PLUGIN_DIR}"
LoadPlugin vacquery
<Plugin vacquery>
  Listen "127.0.0.1" "{port}"
  RateLimit 0
  ReportInterval 60
  StaleTimeout 600
  OutcomeWait 0
</Plugin>
PluginDir "{e2e.STOCK_PLUGIN_DIR}"
Include "{include}"
'''


def subst(expr, vals):
    """The target as Grafana's Graphite datasource sends it: variables
    replaced, then its interval fix ('10m' -> '10min', '1M' -> '1mon':
    buildGraphiteParams, intervalFormatFixRegex), since graphite-web reads
    'm' as no unit."""
    for k in sorted(vals, key=len, reverse=True):
        expr = expr.replace("${%s}" % k, vals[k]).replace("$" + k, vals[k])
    return re.sub(r"'(\d+)m'", lambda m: m.group(0).replace("m", "min"),
                  re.sub(r"'(\d+)M'", lambda m: m.group(0).replace("M", "mon"), expr))


def has_data(series):
    return any(v is not None for s in series for v, _ in s["datapoints"])


def bucket_values(series):
    """{name: the largest non-null value} (one 10-minute bucket)."""
    out = {}
    for s in series:
        vals = [v for v, _ in s["datapoints"] if v is not None]
        if vals:
            out[s["target"]] = max(vals)
    return out


class Run:
    def __init__(self, tmp):
        self.tmp = tmp
        self.stack = None
        self.collectd = None

    def start(self):
        with open(os.path.join(TOP, "etc", "carbon", "storage-schemas.conf")) as f:
            schemas = f.read()
        with open(os.path.join(TOP, "etc", "carbon", "storage-aggregation.conf")) as f:
            aggregation = f.read()
        t = time.monotonic()
        self.stack = graphite_stack.GraphiteStack(os.path.join(self.tmp, "graphite"),
                                                  schemas, aggregation).start()
        CK.check("carbon-cache and graphite-web up (%.1f s) at %s" % (
            time.monotonic() - t, self.stack.url), self.stack.alive())
        d = os.path.join(self.tmp, "collectd")
        os.makedirs(os.path.join(d, "csv"))
        inc = os.path.join(d, "vacquery_graphite.conf")
        with open(inc, "w") as f:
            f.write(dropin_for_test(self.stack.line_port))
        self.port = e2e.free_udp_port()
        conf = os.path.join(d, "collectd.conf")
        with open(conf, "w") as f:
            f.write(collectd_conf(d, self.port, inc))
        self.cdir = d
        self.out = open(os.path.join(d, "stdout.txt"), "wb")
        self.collectd = subprocess.Popen([e2e.COLLECTD, "-f", "-C", conf], stdout=self.out,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         preexec_fn=e2e._pdeathsig)
        ok = e2e.wait_for(lambda: "Initialization complete" in self.log_text()
                          or self.collectd.poll() is not None, 15, 0.1)
        if not CK.check("collectd starts with the shipped drop-in",
                        ok and self.collectd.poll() is None, self.log_text()[-1500:]):
            raise SystemExit(1)

    def log_text(self):
        try:
            with open(os.path.join(self.cdir, "collectd.log")) as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self.collectd is not None:
            e2e.stop_proc(self.collectd)
            self.out.close()
        if self.stack is not None:
            self.stack.stop()

    def render(self, target):
        return self.stack.render_json(target, WINDOW)

    def send_fleet(self):
        """The fleet twice, 3 s apart: the finished-machine totals rise
        between two collectd reads (values never depend on the cycle)."""
        self.summary_file = os.path.join(self.tmp, "sent.txt")
        rcs = []
        for i in range(2):
            if i:
                time.sleep(3)
            r = subprocess.run([e2e.VQ_SEND, "-H", "127.0.0.1", "-p", str(self.port), "--fleet"]
                               + FLEET + ["--summary-file", self.summary_file, "--quiet"],
                               timeout=60)
            rcs.append(r.returncode)
        CK.check("vacquery-send: fleet sent twice", rcs == [0, 0], rcs)
        self.summary = read_summary(self.summary_file)
        exp = {k[1]: v["running_processors"] for k, v in self.summary.items()
               if k[0] == "site"}
        target = "groupByNode(vac.*.vacquery.*.*.vacquery_factory.running_processors,1,'sum')"

        def arrived():
            got = bucket_values(self.render(target))
            return all(e2e.close(got.get(s), v) for s, v in exp.items()), got
        CK.eventually("carbon: every factory's last cycle arrived", arrived, 15, 0.5)
        # counters (rates) are dispatched every Interval: let a few arrive
        time.sleep(3)


# The machine level of the vacquery plugin's polls (Poll true; not run here:
# its paths are written into carbon with these values for every factory of
# the fleet) and collectd's virt plugin on the factories (vac_factory_virt.conf):
# (vo, machinetype, state, slots) and (vo, machinetype, machine suffix, state
# code) per factory.
SLOTS = [("lhcb", "lhcb-prod", "running", 2), ("atlas", "atlas-sim", "starting", 1),
         ("none", "none", "shut_down", 3)]
MACHINES = [("lhcb", "lhcb-prod", "m1", 2), ("lhcb", "lhcb-prod", "m2", 2),
            ("atlas", "atlas-sim", "m3", 1)]


def machine_lines(factory_path, now):
    """Plaintext lines for one factory (vac.<site>.vacquery.<space>.<factory>)."""
    fac = factory_path.split(".")[4]
    t = now // 60 * 60 - 60
    out = ["%s.vacquery_slots.%s.%s.%s.machines %d %d" % (factory_path, vo, mt, st, n, t)
           for vo, mt, st, n in SLOTS]
    for vo, mt, m, code in MACHINES:
        machine = "%s-%s" % (fac, m)
        for typ, ds, v in (("vacquery_machine_state", "state", code),
                           ("vacquery_machine_state", "age", 600),
                           ("vacquery_machine", "processors", 4),
                           ("vacquery_machine", "cpu_percentage", 90)):
            out.append("%s.%s.%s.%s.%s.%s %s %d" % (factory_path, typ, vo, mt, machine, ds, v, t))
        for i in range(3):  # counters: three complete minutes
            for tail, inc in (("virt_cpu_total", 60e9), ("disk_octets.vda.read", 6e6),
                              ("if_octets.vnet0.rx", 6e5)):
                out.append("vac.%s.virt.%s.%s %d %d" % (fac, machine, tail, 1e12 + inc * i,
                                                        t - 120 + 60 * i))
        out.append("vac.%s.virt.%s.memory.total %d %d" % (fac, machine, 2 ** 31, t))
    return out


def write_machines(run, ck=None):
    """The machine-level and virt paths of every factory of the fleet;
    ck: the Checks to record in (this test's by default)."""
    facs = run.stack.expand("vac.*.vacquery.*.*.vacquery_factory")
    now = int(time.time())
    lines = [l for f in facs for l in machine_lines(f[:-len(".vacquery_factory")], now)]
    run.stack.send_lines(lines)
    probe = "vac.*.vacquery.*.*.vacquery_slots.*.*.*.machines"
    (ck or CK).eventually("carbon: the machine-level paths of %d factories" % len(facs),
                          lambda: (len(bucket_values(run.render(probe)))
                                   == len(facs) * len(SLOTS), probe), 20, 0.5)
    return len(facs)


def resolve_variables(run, dash):
    """Each query variable's values, from its own expand() query and regex,
    in dashboard order (later variables use the first value of earlier)."""
    vals, choices = {"bucket": BUCKET}, {}
    for v in dash["templating"]["list"]:
        if v["type"] != "query":
            continue
        q = v["query"]
        m = re.match(r"expand\((.*)\)$", q)
        pat = subst(m.group(1), {k: x for k, x in vals.items()})
        names = run.stack.expand(pat)
        rx = re.compile(v["regex"].strip("/"))
        found = sorted({mm.group(1) for n in names for mm in [rx.search(n)] if mm})
        CK.check("%s: variable %s lists values (%s)" % (dash["uid"], v["name"],
                                                        ",".join(found[:4])),
                 found and HOSTNAME.replace(".", "_") not in found, (pat, names[:5]))
        choices[v["name"]] = found
        if v.get("includeAll"):
            vals[v["name"]] = v.get("allValue") or "*"
        else:
            vals[v["name"]] = found[0] if found else "none"
    return vals, choices


CHECKS = {  # (dashboard, panel title) -> summary kind, series per site?
    ("vacmon-all", "Running processors by site"): ("site", "running_processors"),
    ("vacmon-all", "Running machines by site"): ("site", "running_machines"),
    ("vacmon-all", "Running processors by VO"): ("vo", "running_processors"),
    ("vacmon-all", "Running machines by VO"): ("vo", "running_machines"),
    ("vacmon-site", "Running processors by space"): ("space", "running_processors"),
    ("vacmon-site", "Running machines by space"): ("space", "running_machines"),
    ("vacmon-site", "Running processors by VO"): ("site_vo", "running_processors"),
    ("vacmon-site", "Running machines by VO"): ("site_vo", "running_machines"),
    ("vacmon-space", "Running processors by machinetype"): ("machinetype", "running_processors"),
    ("vacmon-space", "Running machines by machinetype"): ("machinetype", "running_machines"),
    ("vacmon-all", "Finished machines per hour by VO"): ("finished_vo", "machines"),
}


def expected(summary, kind, field, site=None):
    out = {}
    if kind == "finished_vo":  # the fleet was sent twice
        for k, v in summary.items():
            if k[0] == "finished":
                out[k[2]] = out.get(k[2], 0) + 2 * v[field]
        return out
    for k, v in summary.items():
        if k[0] != kind:
            continue
        if kind in ("site_vo", "space"):
            if k[1] != site:
                continue
            out[k[2]] = v[field]
        else:
            out[k[1]] = v[field]
    return {k: x for k, x in out.items() if x > 0}


# The buckets Grafana 10.4's auto interval picks for the presets (tests/
# grafana/validate.js computes them with Grafana's code) and VacMon's own.
AUTO_BUCKETS = ["5m", "10m", "1h", "6h", "1d", "7d", "6m", "12m", "72m", "504m", "2016m",
                "26280m"]


def check_buckets(run):
    """Every bucket the `bucket` variable can take renders in graphite-web."""
    bad = []
    for b in AUTO_BUCKETS:
        t = subst("sumSeries(summarize(vac.*.vacquery.*.*.vacquery_factory.running_processors,"
                  "'$bucket','avg',true))", {"bucket": b})
        try:
            ok = has_data(run.stack.render_json(t, "-1d"))
        except Exception as e:
            ok, t = False, t + " " + repr(e)[:100]
        if not ok:
            bad.append(t)
    CK.check("grafana: every bucket value renders (%s)" % " ".join(AUTO_BUCKETS), not bad, bad)


def check_grafana(run):
    check_buckets(run)
    dashes = sorted(glob.glob(os.path.join(GRAFANA, "*.json")))
    CK.check("grafana: 4 dashboards", len(dashes) == 4, dashes)
    sites = sorted({k[1] for k in run.summary if k[0] == "site"})
    n_targets = n_empty = 0
    for path in dashes:
        with open(path) as f:
            dash = json.load(f)
        vals, choices = resolve_variables(run, dash)
        empty = []
        for p in dash["panels"]:
            for t in p["targets"]:
                n_targets += 1
                tgt = subst(t["target"], vals)
                try:
                    series = run.render(tgt)
                    ok = has_data(series)
                except Exception as e:  # a render error is a failed panel
                    ok, series = False, repr(e)[:300]
                if not ok:
                    empty.append((p["title"], tgt, str(series)[:200]))
        n_empty += len(empty)
        CK.check("%s: every panel target returns data (%d panels)" % (
            dash["uid"], len(dash["panels"])), not empty, empty[:3])
        # the numbers
        for p in dash["panels"]:
            key = (dash["uid"], p["title"])
            if key not in CHECKS:
                continue
            kind, field = CHECKS[key]
            main = p["targets"][0]["target"]
            runs = [(None, vals)]
            if kind in ("space", "site_vo"):  # once per site
                runs = [(s, dict(vals, site=s)) for s in sites]
            elif kind == "machinetype":     # the whole fleet
                runs = [(None, dict(vals, site="*", space="*"))]
            for site, vv in runs:
                series = run.render(subst(main, vv))
                got = bucket_values(series)
                if kind == "finished_vo":  # clock-hour buckets: 1 or 2 in the window
                    got = {s["target"]: sum(v for v, _ in s["datapoints"] if v is not None)
                           for s in series}
                exp = expected(run.summary, kind, field, site)
                same = set(got) == set(exp) and all(e2e.close(got[k], exp[k]) for k in exp)
                CK.check("%s: %s%s = sent %s" % (dash["uid"], p["title"],
                                                 " (%s)" % site if site else "",
                                                 sorted(exp.items())[:3]),
                         same, "got %s expected %s" % (sorted(got.items()), sorted(exp.items())))
        if dash["uid"] in ("vacmon-space", "vacmon-factory"):
            check_factory_table(run, dash, vals)
        if dash["uid"] in ("vacmon-site", "vacmon-space", "vacmon-factory"):
            check_states(run, dash, vals)
    log("grafana: %d targets rendered, %d without data" % (n_targets, n_empty))


def matrix(run, panel, vals):
    """A table panel's rows as Grafana's transformations build them (this
    test's own reading: last non-null value of each series, the series name
    `<row>=<name> metric=<key>` split into row and column)."""
    rows = {}
    for t in panel["targets"]:
        for sr in run.render(subst(t["target"], vals)):
            m = re.match(r"^(\w+)=(\S+) metric=(\w+)$", sr["target"])
            vs = [v for v, _ in sr["datapoints"] if v is not None]
            if m and vs:
                rows.setdefault(m.group(2), {})[m.group(3)] = vs[-1]
    return rows


def check_factory_table(run, dash, vals):
    """The "Most recent update" table: one row per factory of the space,
    every column filled, the processors summing to what was sent."""
    p = [x for x in dash["panels"] if x["title"] == "Most recent update from factories"][0]
    rows = matrix(run, p, vals)
    facs = {n.split(".")[4] for n in run.stack.expand(subst(
        "vac.$site.vacquery.$space.*.vacquery_factory", vals))}
    want = facs if dash["uid"] == "vacmon-space" else {vals["factory"]}
    CK.check("%s: factory table: one row per factory %s" % (dash["uid"], sorted(want)),
             set(rows) == want, sorted(rows))
    ncols = len(p["targets"])
    full = [f for f, r in rows.items() if len(r) == ncols]
    CK.check("%s: factory table: every row has all %d columns" % (dash["uid"], ncols),
             len(full) == len(rows), {f: sorted(r) for f, r in rows.items()})
    if dash["uid"] == "vacmon-space":
        exp = run.summary.get(("space", vals["site"], vals["space"]), {}).get(
            "running_processors")
        got = sum(r.get("procs", 0) for r in rows.values())
        CK.check("%s: factory table: Procs sum to the space's sent %s" % (dash["uid"], exp),
                 e2e.close(got, exp), got)
        ages = [r.get("age") for r in rows.values()]
        CK.check("%s: factory table: Last message 0..120 s ago" % dash["uid"],
                 ages and all(a is not None and 0 <= a <= 120 for a in ages), ages)


def check_graphite_web(run):
    r = subprocess.run([graphite_stack.PYTHON, LOADER, "load", run.stack.url, "--instantiate"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    out = r.stdout.decode("utf-8", "replace")
    CK.check("graphite-web: loader saves the dashboards and templates", r.returncode == 0, out)
    site = sorted(k[1] for k in run.summary if k[0] == "site")[0]
    facs = run.stack.expand("vac.%s.vacquery.*.*.vacquery_factory" % site)
    parts = facs[0].split(".") if facs else ["", site, "", "none", "none"]
    values = {"vacmon-all": None, "vacmon-site": site,
              "vacmon-space": "%s.vacquery.%s" % (site, parts[3]),
              "vacmon-factory": "%s.vacquery.%s.%s" % (site, parts[3], parts[4])}
    for name, val in values.items():
        url = "/dashboard/load/%s" % name if val is None else \
            "/dashboard/load/%s/%s" % (name, val)
        try:
            state = json.loads(run.stack.get(url))["state"]
        except Exception as e:
            CK.check("graphite-web: %s loads" % url, False, e)
            continue
        empty, n = [], 0
        for g in state["graphs"]:
            for t in g[1]["target"]:
                n += 1
                t = subst(t.replace("'5min'", "'%s'" % BUCKET), {})
                try:
                    ok = has_data(run.render(t))
                except Exception as e:
                    ok = False
                    t += " " + repr(e)[:200]
                if not ok:
                    empty.append(t)
        CK.check("graphite-web: %s: %d targets return data" % (url, n), n and not empty,
                 empty[:3])
    named = json.loads(run.stack.get("/dashboard/find/", {"query": "vacmon-site-"}))
    CK.check("graphite-web: one dashboard per site after --instantiate",
             len(named.get("dashboards", [])) == len({k[1] for k in run.summary
                                                      if k[0] == "site"}), named)
    png = run.stack.get("/render", {"target": "vac.*.vacquery.*.*.vacquery_factory."
                                    "running_processors", "from": WINDOW, "format": "png"})
    CK.check("graphite-web: draws PNGs", png[:8] == b"\x89PNG\r\n\x1a\n", png[:40])


def check_routing(run):
    host = HOSTNAME.replace(".", "_")
    stats = run.stack.expand("vac.%s.vacquery.vacquery_stats.*" % host)
    CK.check("drop-in: receiver Hostname with dots is one node (%s)" % host,
             "vac.%s.vacquery.vacquery_stats.received" % host in stats, stats)
    rej = run.stack.expand("vac.%s.vacquery.vacquery_rejected.*" % host)
    CK.check("drop-in: rejected-by-reason counters arrive", len(rej) >= 10, rej)
    wsp = [os.path.relpath(os.path.join(d, f), run.stack.dir)
           for d, _, fs in os.walk(os.path.join(run.stack.dir, "storage", "whisper", "vac"))
           for f in fs if f.endswith(".wsp")]
    others = [p for p in wsp if p.split(os.sep)[4] != "vacquery"]
    CK.check("drop-in: no value of another plugin reaches the vacmon node (%d files)" % len(wsp),
             wsp and not others, others[:5])
    csv_load = glob.glob(os.path.join(run.cdir, "csv", "*", "load", "load-*"))
    CK.check("drop-in: other plugins keep their writer (csv got load)", csv_load,
             os.listdir(os.path.join(run.cdir, "csv")))
    csv_vq = glob.glob(os.path.join(run.cdir, "csv", "*", "vacquery*"))
    CK.check("drop-in: vacquery values go to Graphite only", not csv_vq, csv_vq[:3])
    fin = run.render("vac.*.vacquery.*.*.vacquery_finished.*.*.*.machines")
    tot = sum(max(v for v, _ in s["datapoints"] if v is not None) for s in fin)
    sent = sum(v["machines"] for k, v in run.summary.items() if k[0] == "finished")
    CK.check("drop-in: StoreRates false: finished machines arrive as running totals "
             "(%d = 2 x %d sent)" % (tot, sent), tot == 2 * sent, tot)


def check_states(run, dash, vals):
    """Slots by state (Factory) and machines by state (Space, Site): the
    SLOTS written for each factory in the scope, the empty slots (none.none)
    only in the Factory view."""
    title = "Slots by state" if dash["uid"] == "vacmon-factory" else "Machines by state"
    p = [x for x in dash["panels"] if x["title"] == title][0]
    scope = {"vacmon-factory": "$site.vacquery.$space.$factory",
             "vacmon-space": "$site.vacquery.$space.*", "vacmon-site": "$site.vacquery.*.*"}
    nfac = len(run.stack.expand(subst("vac.%s.vacquery_factory" % scope[dash["uid"]], vals)))
    exp = {st: n * nfac for vo, _, st, n in SLOTS
           if dash["uid"] == "vacmon-factory" or vo != "none"}
    got = bucket_values(run.render(subst(p["targets"][0]["target"], vals)))
    CK.check("%s: %s = the slots written for its %d factories %s" % (
        dash["uid"], title, nfac, sorted(exp.items())),
        set(got) == set(exp) and all(e2e.close(got[k], exp[k]) for k in exp), got)


def check_generated():
    r = subprocess.run([sys.executable, GEN, "--check"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    CK.check("tools/gen-dashboards.py --check: committed dashboards up to date",
             r.returncode == 0, r.stdout.decode("utf-8", "replace"))


def main():
    t0 = time.monotonic()
    bad = graphite_stack.missing_packages()
    if bad:
        log("ERROR: missing %s (Debian graphite-carbon graphite-web python3-django)" % bad)
        return 99
    if not os.access(e2e.COLLECTD, os.X_OK):
        log("ERROR: %s missing (Debian collectd-core)" % e2e.COLLECTD)
        return 99
    check_generated()
    tmp = tempfile.mkdtemp(prefix="vq-graphite-")
    run = Run(tmp)
    try:
        run.start()
        run.send_fleet()
        check_routing(run)
        write_machines(run)
        check_grafana(run)
        check_graphite_web(run)
    except SystemExit:
        pass
    except Exception as e:
        import traceback
        traceback.print_exc()
        CK.check("no exception", False, e)
    finally:
        run.stop()
        if os.environ.get("VQ_E2E_KEEP") == "1" or CK.failed:
            log("kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    log("graphite e2e: %.1f s" % (time.monotonic() - t0))
    log("%d passed, %d failed" % (CK.passed, CK.failed))
    return 0 if CK.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
