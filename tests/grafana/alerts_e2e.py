#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The Grafana alert rules (graphs/grafana/provisioning/alerting/*.yaml)
against a real graphite-web.

No Grafana server can be installed here (Debian 12 has no grafana package
and only the Debian and npm registries are reachable), so this test is its
own evaluator of Grafana's rule model: for every rule it sends the rule's
Graphite target (query A) to graphite-web's /render?format=json over the
rule's relativeTimeRange, reduces each series with the rule's reducer
(expression B, mode dropNN: nulls dropped, no value left = no alert) and
applies the threshold (expression C, the rule's condition). Grafana's own
expression engine, labels, `for` and notifications are not exercised.

  1. The YAML: unified-alerting provisioning shape, the provisioned
     datasource uid, A -> reduce B -> threshold C on every rule.
  2. Real data: carbon-cache + graphite-web + a real collectd with the
     vacquery plugin and the shipped write_graphite drop-in, a fleet sent
     with vacquery-send (graphite_e2e.Run). Every rule's query returns
     series for the paths collectd writes; a fresh healthy fleet fires
     none of the silent / stale / drops rules.
  3. Crafted data, written into carbon with the plaintext protocol at
     chosen times (sites and receivers named AT-*): for every rule, the set
     of series that fire equals a literal expected set (at least one that
     must fire and one that must stay quiet per rule).

Environment as tests/e2e/run-py.sh sets it. Exit 0 pass, 1 fail, 99 hard
error.
"""

import glob
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e"))
import e2e  # noqa: E402
import graphite_e2e  # noqa: E402
import graphite_stack  # noqa: E402

TOP = e2e.TOP_SRCDIR
RULES_DIR = os.path.join(TOP, "graphs", "grafana", "provisioning", "alerting")
DATASOURCE = os.path.join(TOP, "graphs", "grafana", "provisioning", "datasource.yaml")
CK = e2e.Checks()
log = e2e.log
REDUCERS = {"last": lambda v: v[-1], "mean": lambda v: sum(v) / len(v), "sum": sum,
            "max": max, "min": min, "count": len}
EVALUATORS = {"gt": lambda x, p: x > p[0], "lt": lambda x, p: x < p[0],
              "within_range": lambda x, p: p[0] < x < p[1],
              "outside_range": lambda x, p: x < p[0] or x > p[1]}


def load_rules():
    """Every rule of every alerting YAML file: [(file, rule)]."""
    import yaml  # Debian python3-yaml
    out = []
    for path in sorted(glob.glob(os.path.join(RULES_DIR, "*.yaml"))):
        with open(path) as f:
            doc = yaml.safe_load(f)
        CK.check("%s: apiVersion 1, groups with folder, interval, rules" % os.path.basename(path),
                 doc.get("apiVersion") == 1 and all(
                     g.get("folder") and g.get("interval") and g.get("rules")
                     for g in doc.get("groups", [])), doc.keys())
        for g in doc.get("groups", []):
            out += [(os.path.basename(path), r) for r in g["rules"]]
    return out


def parts(rule):
    """(target, seconds, reducer, evaluator type, params) of a rule shaped
    A (graphite) -> B reduce(A) -> C threshold(B), condition C."""
    d = {q["refId"]: q for q in rule["data"]}
    a, b, c = d["A"], d["B"]["model"], d["C"]["model"]
    ev = c["conditions"][0]["evaluator"]
    return (a["model"]["target"], a["relativeTimeRange"]["from"], b["reducer"], ev["type"],
            ev["params"])


def check_shape(rules):
    import yaml
    with open(DATASOURCE) as f:
        ds_uid = yaml.safe_load(f)["datasources"][0]["uid"]
    uids = [r["uid"] for _, r in rules]
    CK.check("%d rules, unique uids of at most 40 characters" % len(rules),
             len(set(uids)) == len(uids) and all(len(u) <= 40 for u in uids), uids)
    for _, r in rules:
        d = {q["refId"]: q for q in r["data"]}
        ok = (r["condition"] == "C" and set(d) == {"A", "B", "C"}
              and d["A"]["datasourceUid"] == ds_uid
              and d["A"]["model"]["datasource"] == {"type": "graphite", "uid": ds_uid}
              and d["B"]["datasourceUid"] == d["C"]["datasourceUid"] == "__expr__"
              and d["B"]["model"]["type"] == "reduce" and d["B"]["model"]["expression"] == "A"
              and d["B"]["model"]["reducer"] in REDUCERS
              and d["B"]["model"]["settings"]["mode"] == "dropNN"
              and d["C"]["model"]["type"] == "threshold" and d["C"]["model"]["expression"] == "B"
              and d["C"]["model"]["conditions"][0]["evaluator"]["type"] in EVALUATORS
              and r["noDataState"] in ("OK", "NoData", "Alerting")
              and r["execErrState"] in ("OK", "Error", "Alerting")
              and r.get("for") and r["annotations"].get("summary"))
        CK.check("%s: A graphite (uid %s) -> B reduce -> C threshold, condition C" % (
            r["uid"], ds_uid), ok, r)


def evaluate(stack, rule, prefix=None):
    """This test's evaluator: {series name: reduced value} and the names
    that fire. Series whose name does not start with prefix are ignored."""
    target, seconds, reducer, ev, params = parts(rule)
    series = stack.render_json(target, frm="-%ds" % seconds)
    values, firing = {}, set()
    for s in series:
        if prefix and not s["target"].startswith(prefix):
            continue
        nums = [v for v, _ in s["datapoints"] if v is not None]  # dropNN
        if not nums:
            values[s["target"]] = None
            continue
        x = REDUCERS[reducer](nums)
        values[s["target"]] = x
        if EVALUATORS[ev](x, params):
            firing.add(s["target"])
    return values, firing


# ---- crafted data -------------------------------------------------------------

F = "vac.%s.vacquery.sp.%s.vacquery_%s"


def crafted(now):
    """{path: [(minutes ago, value)]}: one minute apart, oldest first. The
    finished-machine and receiver counters are running totals, as collectd's
    write_graphite sends them (StoreRates false)."""
    def run(frm, to, fn):
        return [(m, fn(m)) for m in range(frm, to - 1, -1)]
    const = lambda v: (lambda m: v)  # noqa: E731
    step = lambda before, after, at: (lambda m: before if m > at else after)  # noqa: E731
    d = {}
    # factory silent: fresh, silent for 2 h, silent for 50 min
    d[F % ("AT-s", "f_fresh", "factory.running_machines")] = run(240, 0, const(4))
    d[F % ("AT-s", "f_silent", "factory.running_machines")] = run(240, 120, const(4))
    d[F % ("AT-s", "f_recent", "factory.running_machines")] = run(240, 50, const(4))
    # the plugin's stale count per site
    d["vac.AT-st1.vacquery.vacquery_site.stale_factories"] = run(30, 0, const(2))
    d["vac.AT-st2.vacquery.vacquery_site.stale_factories"] = run(30, 0, const(0))
    fin = "finished.lhcb.mt1.%s.machines"
    # fizzles: 6 of 8 (75 %) in the last hour; 1 of 10 (10 %, with a gap in
    # a running total that must not count); series that start in the window
    # (3 of 4 from nothing)
    d[F % ("AT-fz1", "f", fin % "fizzle")] = run(90, 0, step(10, 16, 50))
    d[F % ("AT-fz1", "f", fin % "200")] = run(90, 0, step(20, 22, 40))
    d[F % ("AT-fz2", "f", fin % "fizzle")] = run(90, 0, step(5, 6, 30))
    d[F % ("AT-fz2", "f", fin % "200")] = [(m, v) for m, v in run(90, 0, step(50, 59, 20))
                                           if not 30 <= m <= 35]
    d[F % ("AT-fz3", "f", fin % "fizzle")] = run(20, 0, const(3))
    d[F % ("AT-fz3", "f", fin % "100")] = run(20, 0, const(1))
    # 500/600 outcomes: 4 of 8 (50 %); 1 of 20 (5 %)
    d[F % ("AT-o1", "f", fin % "500")] = run(90, 0, step(0, 3, 45))
    d[F % ("AT-o1", "f", fin % "600")] = run(90, 0, step(2, 3, 15))
    d[F % ("AT-o1", "f", fin % "200")] = run(90, 0, step(7, 11, 25))
    d[F % ("AT-o2", "f", fin % "500")] = run(90, 0, step(4, 5, 45))
    d[F % ("AT-o2", "f", fin % "200")] = run(90, 0, step(1, 20, 25))
    # disks (KiB): /tmp low on fD, daemon disk low on fF, fine on fE
    disk = "disk.%s_disk_avail_kb"
    for fac, root, daemon in (("fD", 500000, 5000000), ("fE", 50000000, 50000000),
                              ("fF", 50000000, 1000)):
        d[F % ("AT-d", fac, disk % "root")] = run(20, 0, const(root))
        d[F % ("AT-d", fac, disk % "daemon")] = run(20, 0, const(daemon))
    # swap (KiB): 75 % used; 2.4 % used; no swap at all
    for fac, used, free in (("fS1", 3000000, 1000000), ("fS2", 100000, 4000000),
                            ("fS3", 0, 0)):
        d[F % ("AT-m", fac, "memory.swap_used_kb")] = run(20, 0, const(used))
        d[F % ("AT-m", fac, "memory.swap_free_kb")] = run(20, 0, const(free))
    # load per processor: 20/8; 4/8; 5 with no max_processors (Vcycle);
    # 12/8 only in the last 5 of 30 minutes (the 30-minute mean stays < 1)
    for fac, load, mx in (("fL1", 20, 8), ("fL2", 4, 8), ("fL3", 5, None)):
        d[F % ("AT-l", fac, "factory.load_average")] = run(25, 0, const(load))
        if mx:
            d[F % ("AT-l", fac, "capacity.max_processors")] = run(25, 0, const(mx))
    d[F % ("AT-l", "fL4", "factory.load_average")] = run(25, 0, step(4, 12, 5))
    d[F % ("AT-l", "fL4", "capacity.max_processors")] = run(25, 0, const(8))
    # receiver drops (running totals): 5 kernel drops 3 min ago; 7 old
    # queue drops (before the window); none
    st = "vac.%s.vacquery.vacquery_stats.%s"
    d[st % ("AT-rx1", "kernel_drops")] = run(30, 0, step(0, 5, 3))
    d[st % ("AT-rx1", "queue_drops")] = run(30, 0, const(0))
    d[st % ("AT-rx2", "kernel_drops")] = run(30, 0, const(0))
    d[st % ("AT-rx2", "queue_drops")] = run(30, 0, const(7))
    d[st % ("AT-rx3", "kernel_drops")] = run(30, 0, const(0))
    d[st % ("AT-rx3", "queue_drops")] = run(30, 0, const(0))
    return d


# What must fire (literal, from the data above); every other AT-* series of
# the rule's query must stay quiet.
EXPECTED = {
    "vacmon-factory-silent": ({"AT-s.sp.f_silent"}, {"AT-s.sp.f_fresh", "AT-s.sp.f_recent"}),
    "vacmon-stale-factories": ({"AT-st1"}, {"AT-st2"}),
    "vacmon-fizzle-rate": ({"AT-fz1", "AT-fz3"}, {"AT-fz2"}),
    "vacmon-outcome-500-600": ({"AT-o1"}, {"AT-o2"}),
    "vacmon-disk-low": ({"AT-d.sp.fD.root_disk_avail_kb", "AT-d.sp.fF.daemon_disk_avail_kb"},
                        {"AT-d.sp.fD.daemon_disk_avail_kb", "AT-d.sp.fE.root_disk_avail_kb",
                         "AT-d.sp.fE.daemon_disk_avail_kb", "AT-d.sp.fF.root_disk_avail_kb"}),
    "vacmon-swap-used": ({"AT-m.sp.fS1"}, {"AT-m.sp.fS2", "AT-m.sp.fS3"}),
    "vacmon-load-above-processors": ({"AT-l.sp.fL1"}, {"AT-l.sp.fL2", "AT-l.sp.fL3",
                                                        "AT-l.sp.fL4"}),
    "vacmon-receiver-drops": ({"AT-rx1.kernel_drops"}, {"AT-rx1.queue_drops",
                                                         "AT-rx2.kernel_drops",
                                                         "AT-rx2.queue_drops",
                                                         "AT-rx3.kernel_drops",
                                                         "AT-rx3.queue_drops"}),
}
# Rules that a fresh, healthy fleet must not fire (the others depend on
# what vacquery-send's fleet reports: evaluated and shown only).
QUIET_ON_FLEET = {"vacmon-factory-silent", "vacmon-stale-factories", "vacmon-receiver-drops"}
# Rules whose input the fleet does not produce: their query must still
# render without an error.
NOT_IN_FLEET = {"vacmon-outcome-500-600": "vacquery-send's Vac machines end as none or fizzle"}


def write_crafted(stack, now):
    lines = ["%s %s %d" % (path, v, now - 60 * m) for path, pts in sorted(crafted(now).items())
             for m, v in pts]
    for i in range(0, len(lines), 500):
        stack.send_lines(lines[i:i + 500])
    return len(lines)


def check_crafted(stack, rules):
    now = int(time.time()) // 60 * 60
    n = write_crafted(stack, now)
    probe = F % ("AT-s", "f_fresh", "factory.running_machines")
    CK.eventually("carbon: %d crafted datapoints written (AT-* sites, now-4h .. now)" % n,
                  lambda: (graphite_e2e.has_data(stack.render_json(probe, frm="-4h")), probe),
                  20, 0.5)
    time.sleep(2)  # the rest of the batch
    for _, r in rules:
        fire, quiet = EXPECTED.get(r["uid"], (None, None))
        if fire is None:
            CK.check("%s: has a crafted case in this test" % r["uid"], False)
            continue
        values, firing = evaluate(stack, r, prefix="AT-")
        CK.check("%s fires on %s" % (r["uid"], sorted(fire)), fire <= firing,
                 "firing %s values %s" % (sorted(firing), values))
        CK.check("%s stays quiet on %s" % (r["uid"], sorted(quiet)),
                 not (firing & quiet) and quiet <= set(values),
                 "firing %s values %s" % (sorted(firing), values))
        CK.check("%s: nothing else fires (%s)" % (r["uid"], ", ".join(
            "%s=%s" % (k, "%.4g" % v if v is not None else "none")
            for k, v in sorted(values.items()))), firing == fire, sorted(firing))


def check_fleet(run, rules):
    for _, r in rules:
        try:
            values, firing = evaluate(run.stack, r)
        except Exception as e:  # a render error is a broken rule
            CK.check("%s: query renders on collectd's real paths" % r["uid"], False, e)
            continue
        real = {k: v for k, v in values.items()}
        if r["uid"] in NOT_IN_FLEET:
            CK.check("%s: query renders on the fleet (%d series: %s)" % (
                r["uid"], len(real), NOT_IN_FLEET[r["uid"]]), True)
        else:
            CK.check("%s: query returns series on collectd's real paths (%d)" % (
                r["uid"], len(real)), real, parts(r)[0][:120])
        if r["uid"] in QUIET_ON_FLEET:
            CK.check("%s: quiet on a fresh healthy fleet" % r["uid"], not firing, sorted(firing))
        else:
            log("     %s on the fleet: %d series, firing %s" % (r["uid"], len(real),
                                                               sorted(firing)[:4]))


def main():
    t0 = time.monotonic()
    bad = graphite_stack.missing_packages()
    if bad:
        log("ERROR: missing %s (Debian graphite-carbon graphite-web python3-django)" % bad)
        return 99
    try:
        import yaml  # noqa: F401
    except ImportError:
        log("ERROR: python3-yaml missing (tools/install-deps.sh installs it)")
        return 99
    if not os.access(e2e.COLLECTD, os.X_OK):
        log("ERROR: %s missing (Debian collectd-core)" % e2e.COLLECTD)
        return 99
    rules = load_rules()
    check_shape(rules)
    graphite_e2e.CK = CK  # one count for both modules' checks
    tmp = tempfile.mkdtemp(prefix="vq-alerts-")
    run = graphite_e2e.Run(tmp)
    try:
        run.start()
        run.send_fleet()
        check_fleet(run, rules)
        check_crafted(run.stack, rules)
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
    log("alerts e2e: %.1f s" % (time.monotonic() - t0))
    log("%d passed, %d failed" % (CK.passed, CK.failed))
    return 0 if CK.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
