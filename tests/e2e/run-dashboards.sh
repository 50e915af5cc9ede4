#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# make check: the committed Grafana and graphite-web dashboards are exactly
# what tools/gen-dashboards.py generates from its one view definition, and
# each has what the README promises (presets, variables, drill-down links).
set -u
here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$(cd "$here/../.." && pwd)}"
py=python3
command -v "$py" >/dev/null 2>&1 || py=/usr/bin/python3
exec "$py" - "$top_srcdir" <<'PY'
import glob, json, os, re, subprocess, sys
top = sys.argv[1]
ok = bad = 0
def check(name, cond, detail=""):
    global ok, bad
    print(("PASS " if cond else "FAIL ") + name + ("" if cond else ": %s" % detail))
    if cond: ok += 1
    else: bad += 1
r = subprocess.run([sys.executable, os.path.join(top, "tools", "gen-dashboards.py"), "--check"],
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
check("gen-dashboards.py --check: committed files up to date", r.returncode == 0,
      r.stdout.decode())
uids = {"vacmon-all", "vacmon-site", "vacmon-space", "vacmon-factory"}
vars_of = {"vacmon-all": ["datasource", "vo", "bucket"],
           "vacmon-site": ["datasource", "site", "vo", "bucket"],
           "vacmon-space": ["datasource", "site", "space", "vo", "bucket"],
           "vacmon-factory": ["datasource", "site", "space", "factory", "vo", "bucket"]}
DS = {"type": "graphite", "uid": "${datasource}"}
OVERLAYS = {"Max processors", "Known factories", "Running processors"}
# VacMon's "Most recent update" fields that Graphite carries, as columns
FACTORY_COLS = ["Factory", "Load", "Procs", "Max procs", "Machines", "Max machines", "HS06",
                "Max HS06", "Memory total", "Memory used", "Swap free", "Swap used",
                "Root disk free", "Root disk free inodes", "Daemon disk free",
                "Daemon disk free inodes", "Factory heartbeat", "Metadata heartbeat",
                "MJF heartbeat", "Responder heartbeat", "Boot time", "Last message"]
MT_COLS = ["Machinetype", "Procs", "Machines", "HS06"]
BY_VO = ["Running processors by VO", "Running machines by VO", "Running HS06 by VO"]


def table_columns(p):
    """The table's columns in order, from its organize transformation."""
    org = [t for t in p.get("transformations", []) if t["id"] == "organize"]
    if not org:
        return []
    o = org[0]["options"]
    return [o["renameByName"].get(k, k) for k, _ in sorted(o["indexByName"].items(),
                                                             key=lambda kv: kv[1])]


for path in sorted(glob.glob(os.path.join(top, "graphs", "grafana", "dashboards", "*.json"))):
    d = json.load(open(path))
    u = d.get("uid")
    check("%s: known uid" % u, u in uids, path)
    check("%s: VacMon presets 1h 2h 4h 1d 1w 4w 1y as quick ranges" % u,
          [r["from"] for r in d["timepicker"]["quick_ranges"]]
          == ["now-" + k for k in ("1h", "2h", "4h", "1d", "1w", "4w", "1y")])
    check("%s: no timepicker.time_options" % u, "time_options" not in d["timepicker"])
    names = [v["name"] for v in d["templating"]["list"]]
    check("%s: variables %s" % (u, vars_of.get(u)), names == vars_of.get(u), names)
    var = {v["name"]: v for v in d["templating"]["list"]}
    ds = var.get("datasource", {})
    check("%s: datasource variable of type graphite, saved value ${DS_GRAPHITE}" % u,
          ds.get("type") == "datasource" and ds.get("query") == "graphite"
          and ds.get("current", {}).get("value") == "${DS_GRAPHITE}")
    check("%s: __inputs DS_GRAPHITE (graphite)" % u,
          [(i["name"], i["pluginId"]) for i in d.get("__inputs", [])]
          == [("DS_GRAPHITE", "graphite")])
    req = {(r["type"], r["id"]) for r in d.get("__requires", [])}
    kinds = {("panel", p["type"]) for p in d["panels"]}
    check("%s: __requires grafana, graphite and each panel type" % u,
          req == {("grafana", "grafana"), ("datasource", "graphite")} | kinds, req)
    gv = [r["version"] for r in d.get("__requires", []) if r["id"] == "grafana"]
    check("%s: description states the minimum Grafana version %s" % (u, gv),
          gv and ("Grafana %s or later" % gv[0].rsplit(".0", 1)[0]) in d.get("description", ""),
          d.get("description"))
    check("%s: every query variable uses the datasource variable" % u,
          all(v.get("datasource") == DS for v in d["templating"]["list"]
              if v["type"] == "query"))
    check("%s: no allValue null, no current {}" % u,
          all(v.get("allValue", "") is not None and v.get("current", {"x": 1})
              for v in d["templating"]["list"]))
    b = var.get("bucket", {})
    check("%s: bucket is an auto interval (20 buckets, at least 5m), auto by default" % u,
          b.get("type") == "interval" and b.get("auto") is True and b.get("auto_count") == 20
          and b.get("auto_min") == "5m"
          and b.get("current", {}).get("value") == "$__auto_interval_bucket")
    check("%s: bucket offers VacMon's widths" % u,
          b.get("query") == "5m,6m,12m,72m,504m,2016m,26280m", b.get("query"))
    bucketed = [t["target"] for p in d["panels"] for t in p["targets"]
                if "summarize(" in t["target"]]
    fixed = [t for t in bucketed if re.search(r"summarize\([^']*'(?!\$bucket'|1h')", t)]
    check("%s: every summarize() uses '$bucket' (%d targets; 1h for per-hour charts)" % (
        u, len(bucketed)), bucketed and not fixed, fixed[:2])
    check("%s: links to the other views" % u,
          {l["url"] for l in d["links"]} == {"/d/" + x for x in uids - {u}})
    empty = [p["title"] for p in d["panels"] if not p.get("targets")
             or any(not t.get("target") for t in p["targets"])]
    check("%s: %d panels, each with targets" % (u, len(d["panels"])), not empty, empty)
    check("%s: every panel and target uses the datasource variable" % u,
          all(p["datasource"] == DS and all(t["datasource"] == DS for t in p["targets"])
              for p in d["panels"]))
    titles = [p["title"] for p in d["panels"]]
    check("%s: running processors, machines and HS06 by VO" % u,
          all(t in titles for t in BY_VO), titles)
    # drill-down links: never on every series, only on the panel's own ones
    for p in d["panels"]:
        if p["type"] != "timeseries":
            continue
        check("%s: %s: no link on all series (defaults)" % (u, p["title"]),
              not p["fieldConfig"]["defaults"].get("links"))
        for o in p["fieldConfig"]["overrides"]:
            if not any(pr["id"] == "links" for pr in o["properties"]):
                continue
            rx = re.compile("^(?:%s)$" % o["matcher"]["options"])
            overlay_names = {t["target"].rsplit("'", 2)[1] for t in p["targets"][1:]}
            check("%s: %s: link matcher %s skips the overlays %s, matches sites/factories" % (
                u, p["title"], o["matcher"]["id"], sorted(overlay_names)),
                  o["matcher"]["id"] == "byRegexp"
                  and not any(rx.match(n) for n in OVERLAYS)
                  and all(rx.match(n) for n in ("UKI-NORTHGRID-MAN-HEP", "vac01", "space1")))
    # VacMon's tables: one row per factory / machinetype, columns in order
    tables = {p["title"]: p for p in d["panels"] if p["type"] == "table"}
    if u in ("vacmon-space", "vacmon-factory"):
        t = tables.get("Most recent update from factories", {})
        check("%s: factory table: one row per factory, columns %s..." % (u, FACTORY_COLS[:4]),
              table_columns(t) == FACTORY_COLS, table_columns(t))
        tr = [x["id"] for x in t.get("transformations", [])]
        check("%s: factory table transformations %s" % (u, tr), tr == [
            "reduce", "extractFields", "groupingToMatrix", "organize", "sortBy"])
        keys = sorted(re.search(r"metric=(\w+)'\)$", x["target"]).group(1)
                      for x in t.get("targets", []))
        check("%s: factory table: one target per column, named factory=<f> metric=<key>" % u,
              len(keys) == len(FACTORY_COLS) - 1 and all(
                  "'^(.*)$','factory=\\1 metric=" in x["target"] for x in t["targets"]))
        age = [o for o in t["fieldConfig"]["overrides"]
               if o["matcher"]["options"] == "Last message"]
        steps = [pr["value"]["steps"] for o in age for pr in o["properties"]
                 if pr["id"] == "thresholds"]
        check("%s: Last message red (#ffdddd) after 3600 s" % u,
              steps and steps[0][-1] == {"color": "#ffdddd", "value": 3600})
    if u == "vacmon-factory":
        t = tables.get("Machinetypes on this factory (latest)", {})
        check("%s: machinetypes table: one row per machinetype, columns %s" % (u, MT_COLS),
              table_columns(t) == MT_COLS, table_columns(t))
for path in sorted(glob.glob(os.path.join(top, "graphs", "graphite", "dashboards", "*.json"))):
    d = json.load(open(path))
    g = d["state"]["graphs"]
    check("graphite-web %s: %d graphs with targets" % (d["name"], len(g)),
          g and all(x[1]["target"] for x in g))
    check("graphite-web %s: template key present" % d["name"],
          d["key"] is None or all(d["key"] in t for x in g for t in x[1]["target"]
                                  if "vac.*.vacquery.vacquery_" not in t
                                  and ".vacquery_site." not in t) )
print("%d passed, %d failed" % (ok, bad))
sys.exit(1 if bad else 0)
PY
