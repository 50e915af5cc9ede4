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
import glob, json, os, subprocess, sys
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
vars_of = {"vacmon-all": ["vo", "bucket"], "vacmon-site": ["site", "vo", "bucket"],
           "vacmon-space": ["site", "space", "vo", "bucket"],
           "vacmon-factory": ["site", "space", "factory", "vo", "bucket"]}
for path in sorted(glob.glob(os.path.join(top, "graphs", "grafana", "dashboards", "*.json"))):
    d = json.load(open(path))
    u = d.get("uid")
    check("%s: known uid" % u, u in uids, path)
    check("%s: VacMon presets 1h 2h 4h 1d 1w 4w 1y" % u,
          d["timepicker"]["time_options"] == ["1h", "2h", "4h", "1d", "1w", "4w", "1y"])
    check("%s: variables %s" % (u, vars_of.get(u)),
          [v["name"] for v in d["templating"]["list"]] == vars_of.get(u))
    check("%s: links to the other views" % u,
          {l["url"] for l in d["links"]} == {"/d/" + x for x in uids - {u}})
    empty = [p["title"] for p in d["panels"] if not p.get("targets")
             or any(not t.get("target") for t in p["targets"])]
    check("%s: %d panels, each with targets" % (u, len(d["panels"])), not empty, empty)
    check("%s: every target uses the provisioned datasource" % u,
          all(t["datasource"]["uid"] == "vacmon-graphite" for p in d["panels"]
              for t in p["targets"]))
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
