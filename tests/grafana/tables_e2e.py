#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""VacMon's tables as Grafana draws them, without a Grafana server.

carbon-cache + graphite-web (graphite_stack.py) get crafted datapoints
(plaintext protocol) for two factories of one space, a factory of another
space, and machinetypes; every target of the Space view's "Most recent
update from factories" table and of the Factory view's machinetypes table
is sent to /render?format=json as Grafana's Graphite datasource sends it;
the series become data frames as that datasource builds them, and the
panel's own transformations run through Grafana 10.4's transformer code
(npm @grafana/data, tests/grafana/tables.js; extractFields, which is app
code, by a stand-in documented there). The table that comes out must equal
a literal table: one row per factory (per machinetype) in name order,
VacMon's columns in order, the latest value of each field, MiB from KiB,
times in ms, an empty cell for a field the factory never sent.

The machine level likewise (the paths of the vacquery plugin's polls and of
collectd's virt plugin on the factories, written with known values): the
Factory view's machines table (one row per slot seen in the panel's last
15 minutes, machinetype and VO from the slot's name, the state's names) and
its VMs table (each VM's CPU %, memory, disk and network bytes per second
joined on the machine to its machinetype and VO), each with the VO filter.

Environment as tests/e2e/run-py.sh sets it. Exit 0 pass, 1 fail, 99 hard
error (no node/npm/registry, no graphite).
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e"))
import e2e  # noqa: E402
import graphite_e2e  # noqa: E402  (subst: the target as Grafana sends it)
import graphite_stack  # noqa: E402

TOP = e2e.TOP_SRCDIR
BUILD = e2e.TOP_BUILDDIR
DASH = os.path.join(TOP, "graphs", "grafana", "dashboards")
CK = e2e.Checks()
log = e2e.log

HB = 1764000000  # a heartbeat time (Unix seconds) sent as a value
FAC = "vac.AT-t.vacquery.%s.%s.vacquery_%s"
# (space, factory) -> {path tail: (earlier value, latest value or None)}
FACTORIES = {
    ("sp1", "vac1"): {
        "factory.load_average": (3.0, 1.25), "factory.running_processors": (5, 6),
        "capacity.max_processors": (8, 8), "factory.running_machines": (2, 3),
        "capacity.max_machines": (4, 4), "factory.running_hs06": (50.0, 60.5),
        "capacity.max_hs06": (80, 80), "memory.mem_total_kb": (16777216, 16777216),
        "memory.mem_used_kb": (4194304, 8388608), "memory.swap_free_kb": (2097152, 2097152),
        "memory.swap_used_kb": (0, 1048576), "disk.root_disk_avail_kb": (10485760, 10485760),
        "disk.root_disk_avail_inodes": (500000, 500000),
        "disk.daemon_disk_avail_kb": (20971520, 20971520),
        "disk.daemon_disk_avail_inodes": (600000, 600000),
        "heartbeat.factory_heartbeat_time": (HB - 60, HB),
        "heartbeat.metadata_heartbeat_time": (HB - 120, HB - 60),
        "heartbeat.mjf_heartbeat_time": (HB - 180, HB - 120),
        "heartbeat.responder_heartbeat_time": (HB - 240, HB - 180),
        "capacity.boot_time": (HB - 86400, HB - 86400)},
    ("sp1", "vac2"): {  # a Vcycle factory: no responder heartbeat; load only earlier
        "factory.load_average": (0.5, None), "factory.running_processors": (16, 12),
        "capacity.max_processors": (32, 32), "factory.running_machines": (4, 3),
        "capacity.max_machines": (8, 8), "factory.running_hs06": (100.0, 90.0),
        "capacity.max_hs06": (200, 200), "memory.mem_total_kb": (8388608, 8388608),
        "memory.mem_used_kb": (1048576, 1048576), "memory.swap_free_kb": (1048576, 1048576),
        "memory.swap_used_kb": (0, 0), "disk.root_disk_avail_kb": (5242880, 5242880),
        "disk.root_disk_avail_inodes": (100000, 100000),
        "disk.daemon_disk_avail_kb": (1048576, 1048576),
        "disk.daemon_disk_avail_inodes": (200000, 200000),
        "heartbeat.factory_heartbeat_time": (HB, HB + 60),
        "heartbeat.metadata_heartbeat_time": (HB, HB + 60),
        "heartbeat.mjf_heartbeat_time": (HB, HB + 60),
        "capacity.boot_time": (HB - 3600, HB - 3600)},
    ("sp2", "vac9"): {"factory.running_processors": (1, 1), "factory.running_machines": (1, 1)},
}
MT = "vac.AT-t.vacquery.sp1.%s.vacquery_mt.%s.%s.%s"
MACHINETYPES = [  # factory, vo, machinetype, processors, machines, hs06 (latest)
    ("vac1", "lhcb", "lhcb-prod", 4, 2, 40.5),
    ("vac1", "atlas", "atlas-sim", 2, 1, 20.0),
    ("vac2", "lhcb", "lhcb-prod", 8, 2, 60.0),
]

# The tables a user must see (literal). Last message: checked as a range.
FACTORY_COLUMNS = ["Factory", "Load", "Procs", "Max procs", "Machines", "Max machines", "HS06",
                   "Max HS06", "Memory total", "Memory used", "Swap free", "Swap used",
                   "Root disk free", "Root disk free inodes", "Daemon disk free",
                   "Daemon disk free inodes", "Factory heartbeat", "Metadata heartbeat",
                   "MJF heartbeat", "Responder heartbeat", "Boot time", "Last message"]
FACTORY_ROWS = [
    ["vac1", 1.25, 6, 8, 3, 4, 60.5, 80, 16384, 8192, 2048, 1024, 10240, 500000, 20480, 600000,
     HB * 1000, (HB - 60) * 1000, (HB - 120) * 1000, (HB - 180) * 1000, (HB - 86400) * 1000],
    ["vac2", 0.5, 12, 32, 3, 8, 90, 200, 8192, 1024, 1024, 0, 5120, 100000, 1024, 200000,
     (HB + 60) * 1000, (HB + 60) * 1000, (HB + 60) * 1000, None, (HB - 3600) * 1000],
]
MT_COLUMNS = ["Machinetype", "Procs", "Machines", "HS06"]
MT_ROWS = [["atlas-sim", 2, 1, 20], ["lhcb-prod", 4, 2, 40.5]]

# The machine level (POLL_CONTRACT paths of the vacquery plugin's polls):
# factory, vo, machinetype, machine, state code, processors, cpu %, age or
# None (an empty slot has no created_time), minutes ago of its last value.
MSTATE = "vac.AT-t.vacquery.sp1.%s.vacquery_machine_state.%s.%s.%s.%s"
MVALUE = "vac.AT-t.vacquery.sp1.%s.vacquery_machine.%s.%s.%s.%s"
MACHINES = [
    ("vac1", "lhcb", "lhcb-prod", "vac1-01_example_org", 2, 4, 95.5, 3600, 1),
    ("vac1", "atlas", "atlas-sim", "vac1-02_example_org", 1, 2, 0, 60, 1),
    ("vac1", "none", "none", "vac1-03_example_org", 3, 0, 0, None, 1),
    ("vac1", "lhcb", "lhcb-prod", "vac1-04_example_org", 2, 8, 99, 7200, 20),  # gone
    ("vac2", "lhcb", "lhcb-prod", "vac2-01_example_org", 2, 8, 50, 100, 1),    # other factory
]
# collectd's virt plugin on the factory (etc/collectd.d/vac_factory_virt.conf):
# machine -> per-minute increase of each counter path tail (perSecond: /60),
# or a gauge (memory.total). Three consecutive minutes of counters.
VIRT = "vac.vac1.virt.%s.%s"
VMS = {
    "vac1-01_example_org": {"virt_cpu_total": 90e9,               # 1.5 processors
                            "memory.total": 4294967296,
                            "disk_octets.vda.read": 6e6, "disk_octets.vda.write": 12e6,
                            "disk_octets.vdb.read": 60000,       # 301000 B/s in all
                            "if_octets.testnet0.rx": 600000,
                            "if_octets.testnet0.tx": 1200000},   # 30000 B/s
    "vac1-02_example_org": {"virt_cpu_total": 30e9, "memory.total": 2147483648,
                            "disk_octets.vda.read": 0, "disk_octets.vda.write": 0,
                            "if_octets.testnet0.rx": 60, "if_octets.testnet0.tx": 0},
    "vac1-99_example_org": {"virt_cpu_total": 60e9, "memory.total": 1073741824},  # not polled
}
MACHINE_COLUMNS = ["Machine", "Machinetype", "VO", "State", "Procs", "CPU %", "Age"]
MACHINE_ROWS = [["vac1-01_example_org", "lhcb-prod", "lhcb", 2, 4, 95.5, 3600],
                ["vac1-02_example_org", "atlas-sim", "atlas", 1, 2, 0, 60],
                ["vac1-03_example_org", "none", "none", 3, 0, 0, None]]
VM_COLUMNS = ["Machine", "Machinetype", "VO", "VM CPU", "VM memory", "VM disk I/O",
              "VM network"]
VM_ROWS = [["vac1-01_example_org", "lhcb-prod", "lhcb", 150, 4294967296, 301000, 30000],
           ["vac1-02_example_org", "atlas-sim", "atlas", 50, 2147483648, 0, 1]]
STATE_TEXT = {"1": "Starting", "2": "Running", "3": "Shut down", "4": "Paused", "5": "Zombie",
              "6": "Unknown"}


def machine_lines(now):
    """Graphite plaintext lines of MACHINES and VMS."""
    lines = []
    for fac, vo, mt, m, state, procs, cpu, age, ago in MACHINES:
        t = now - 60 * ago
        for path, v in ((MSTATE % (fac, vo, mt, m, "state"), state),
                        (MSTATE % (fac, vo, mt, m, "age"), age),
                        (MVALUE % (fac, vo, mt, m, "processors"), procs),
                        (MVALUE % (fac, vo, mt, m, "cpu_percentage"), cpu)):
            if v is not None:
                lines += ["%s %s %d" % (path, v + 7, t - 60), "%s %s %d" % (path, v, t)]
    for m, tails in VMS.items():
        for tail, inc in tails.items():
            for i in range(3):  # now-180, -120, -60
                v = inc if tail == "memory.total" else 1e12 + inc * i
                lines.append("%s %d %d" % (VIRT % (m, tail), v, now - 180 + 60 * i))
    return lines


def write_data(stack, now):
    lines = []
    for (space, fac), fields in FACTORIES.items():
        for tail, (early, late) in fields.items():
            typ, ds = tail.split(".")
            path = FAC % (space, fac, typ + "." + ds)
            lines.append("%s %s %d" % (path, early, now - 300))
            if late is not None:
                lines.append("%s %s %d" % (path, late, now - 60))
    for fac, vo, mt, procs, machines, hs06 in MACHINETYPES:
        for typ, ds, v in (("mt", "running_processors", procs), ("mt", "running_machines",
                                                                    machines),
                           ("mt", "running_hs06", hs06)):
            path = MT % (fac, vo, mt, ds)
            lines.append("%s %s %d" % (path, v + 1, now - 300))
            lines.append("%s %s %d" % (path, v, now - 60))
    lines += machine_lines(now)
    stack.send_lines(lines)
    return len(lines)


def table(stack, tmp, nm, panel, vals):
    """The panel's table from graphite-web through Grafana's transformers."""
    render = []
    # the panel's own relative range (timeFrom, e.g. "15m"), else the last 15 minutes
    frm = "-%smin" % panel.get("timeFrom", "15m").rstrip("m")
    for t in panel["targets"]:
        target = graphite_e2e.subst(t["target"], vals)
        render.append({"refId": t["refId"], "series": stack.render_json(target, frm=frm)})
    pf, rf = os.path.join(tmp, "panel.json"), os.path.join(tmp, "render.json")
    with open(pf, "w") as f:
        json.dump(panel, f)
    with open(rf, "w") as f:
        json.dump(render, f)
    r = subprocess.run(["node", os.path.join(HERE, "tables.js"), pf, rf],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120,
                       env=dict(os.environ, NODE_PATH=nm))
    if r.returncode != 0:
        raise RuntimeError("tables.js: " + r.stderr.decode()[-1500:])
    return json.loads(r.stdout)


def same(got, want):
    if want is None or got is None:
        return got is None and want is None
    if isinstance(want, str):
        return got == want
    return e2e.close(got, want)


def check_table(name, got, columns, rows, age_col=None):
    CK.check("%s: columns %s" % (name, columns), got["columns"] == columns, got["columns"])
    body = got["rows"]
    if age_col is not None:
        ages = [r[age_col] for r in body]
        CK.check("%s: Last message 0..300 s ago on every row (%s)" % (name, ages),
                 ages and all(a is not None and 0 <= a <= 300 for a in ages), ages)
        body = [r[:age_col] + r[age_col + 1:] for r in body]
    ok = len(body) == len(rows) and all(
        len(g) == len(w) and all(same(a, b) for a, b in zip(g, w)) for g, w in zip(body, rows))
    CK.check("%s: one row per %s, latest values: %s" % (name, columns[0].lower(), [
        r[0] for r in rows]), ok, "got %s want %s" % (body, rows))


def main():
    t0 = time.monotonic()
    bad = graphite_stack.missing_packages()
    if bad:
        log("ERROR: missing %s (Debian graphite-carbon graphite-web python3-django)" % bad)
        return 99
    work = os.path.join(BUILD, "tests", "grafana")
    r = subprocess.run([os.path.join(HERE, "npm-ci.sh"), work], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    log(r.stdout.decode("utf-8", "replace").strip())
    if r.returncode != 0:
        return 99
    nm = os.path.join(work, "node_modules")
    with open(os.path.join(nm, "@grafana", "data", "package.json")) as f:
        log("@grafana/data %s (the transformers of Grafana %s)" % (
            json.load(f)["version"], "10.4"))
    dashes = {}
    for uid in ("vacmon-space", "vacmon-factory"):
        with open(os.path.join(DASH, uid + ".json")) as f:
            dashes[uid] = {p["title"]: p for p in json.load(f)["panels"]}
    tmp = tempfile.mkdtemp(prefix="vq-tables-")
    # the shipped carbon snippets: vac.* in 60-s points, as perSecond() of
    # the virt counters needs (consecutive points)
    with open(os.path.join(TOP, "etc", "carbon", "storage-schemas.conf")) as f:
        schemas = f.read()
    with open(os.path.join(TOP, "etc", "carbon", "storage-aggregation.conf")) as f:
        aggregation = f.read()
    stack = graphite_stack.GraphiteStack(os.path.join(tmp, "graphite"), schemas, aggregation)
    try:
        stack.start()
        now = int(time.time()) // 60 * 60
        n = write_data(stack, now)
        probe = FAC % ("sp1", "vac2", "capacity.boot_time")
        CK.eventually("carbon: %d crafted datapoints" % n, lambda: (
            graphite_e2e.has_data(stack.render_json(probe, frm="-15min")), probe), 20, 0.5)
        time.sleep(1)
        vals = {"site": "AT-t", "space": "sp1", "factory": "vac1", "vo": "*"}
        got = table(stack, tmp, nm, dashes["vacmon-space"]["Most recent update from factories"],
                    vals)
        log("     space table: %s" % got)
        check_table("vacmon-space: Most recent update from factories", got, FACTORY_COLUMNS,
                    FACTORY_ROWS, age_col=len(FACTORY_COLUMNS) - 1)
        got = table(stack, tmp, nm,
                    dashes["vacmon-factory"]["Most recent update from factories"], vals)
        check_table("vacmon-factory: Most recent update from factories (vac1)", got,
                    FACTORY_COLUMNS, FACTORY_ROWS[:1], age_col=len(FACTORY_COLUMNS) - 1)
        got = table(stack, tmp, nm,
                    dashes["vacmon-factory"]["Machinetypes on this factory (latest)"], vals)
        log("     machinetypes table: %s" % got)
        check_table("vacmon-factory: Machinetypes on this factory (vac1)", got, MT_COLUMNS,
                    MT_ROWS)
        got = table(stack, tmp, nm,
                    dashes["vacmon-factory"]["Machinetypes on this factory (latest)"],
                    dict(vals, vo="atlas"))
        check_table("vacmon-factory: machinetypes with the VO filter atlas", got, MT_COLUMNS,
                    MT_ROWS[:1])
        machines = dashes["vacmon-factory"]["Machines on this factory"]
        got = table(stack, tmp, nm, machines, vals)
        log("     machines table: %s" % got)
        check_table("vacmon-factory: Machines on this factory (vac1; not the gone vac1-04)",
                    got, MACHINE_COLUMNS, MACHINE_ROWS)
        got = table(stack, tmp, nm, machines, dict(vals, vo="atlas"))
        check_table("vacmon-factory: machines with the VO filter atlas", got, MACHINE_COLUMNS,
                    MACHINE_ROWS[1:2])
        maps = [o for o in machines["fieldConfig"]["overrides"]
                if o["matcher"]["options"] == "State"]
        got_map = {k: v["text"] for o in maps for p in o["properties"] if p["id"] == "mappings"
                   for m in p["value"] for k, v in m["options"].items()}
        CK.check("vacmon-factory: State column shows the responder's state names %s" % (
            sorted(STATE_TEXT.values())), got_map == STATE_TEXT, got_map)
        vms = dashes["vacmon-factory"]["VMs on this factory: use on the hypervisor"]
        got = table(stack, tmp, nm, vms, vals)
        log("     VM table: %s" % got)
        check_table("vacmon-factory: VMs on this factory (virt joined on the machine: "
                    "CPU %, memory, disk and network B/s)", got, VM_COLUMNS, VM_ROWS)
        got = table(stack, tmp, nm, vms, dict(vals, vo="atlas"))
        check_table("vacmon-factory: VMs with the VO filter atlas", got, VM_COLUMNS,
                    VM_ROWS[1:2])
    except Exception as e:
        import traceback
        traceback.print_exc()
        CK.check("no exception", False, e)
    finally:
        stack.stop()
        if os.environ.get("VQ_E2E_KEEP") == "1" or CK.failed:
            log("kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    log("tables e2e: %.1f s" % (time.monotonic() - t0))
    log("%d passed, %d failed" % (CK.passed, CK.failed))
    return 0 if CK.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
