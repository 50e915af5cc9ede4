#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""One definition of the VacMon views; generates the Grafana and graphite-web
dashboards under graphs/ (collectd-vacmon).

    tools/gen-dashboards.py            write graphs/grafana/dashboards/*.json
                                       and graphs/graphite/dashboards/*.json
    tools/gen-dashboards.py --check    exit 1 if a committed file differs
    tools/gen-dashboards.py --list     print view, panel, target (for tests)

The views follow VacMon's views (All sites, Site,
Space, Factory) plus what VacMon never had: a VO filter, finished machines
per hour by outcome and VO, CPU efficiency per VO, stale factories per site,
the receiver's own health, and, from the plugin's polls of the Vac
responders, the machines by state and a table of each factory's machines,
with each VM's use on its hypervisor (collectd's virt plugin) beside it.
Graphite paths are those of the shipped write_graphite drop-in
(etc/collectd.d/vacquery_graphite.conf):

    vac.<site>.vacquery.<space>.<factory>.vacquery_factory.<ds>
    vac.<site>.vacquery.<space>.<factory>.vacquery_mt.<vo>.<machinetype>.<ds>
    vac.<site>.vacquery.<space>.<factory>.vacquery_finished.<vo>.<mt>.<outcome>.<ds>
    vac.<site>.vacquery.vacquery_site.<ds>
    vac.<receiver>.vacquery.vacquery_{stats.<ds>,accepted.<type>,rejected.<reason>,queue}

and, from the plugin's polls of the Vac responders (Poll true), one series
per machine slot and the slots by state:

    vac.<site>.vacquery.<space>.<factory>.vacquery_machine.<vo>.<mt>.<machine>.<ds>
    vac.<site>.vacquery.<space>.<factory>.vacquery_machine_state.<vo>.<mt>.<machine>.<ds>
    vac.<site>.vacquery.<space>.<factory>.vacquery_slots.<vo>.<mt>.<state>.machines

and, from collectd's virt plugin on the factories themselves
(etc/collectd.d/vac_factory_virt.conf), each VM's use on the hypervisor:

    vac.<factory>.virt.<machine>.{virt_cpu_total,memory.total,disk_octets.<disk>.<read|write>,
                                  if_octets.<interface>.<rx|tx>}

VacMon's arithmetic (docs/protocol.md section 11): each sender series is averaged
over a bucket, then the group is the sum of those averages. Here:
summarize(<leaf>, '$bucket', 'avg', true), then groupByNode(..., 'sum'), where
$bucket is an interval variable whose `auto` follows the time range (20
buckets, at least 5 minutes). Grafana dashboards take their datasource from
the `datasource` variable (import input DS_GRAPHITE); the tables are built
from series named `<row>=<name> metric=<column>` by the panels'
transformations. Standard library only; the output is deterministic (sorted
keys, no dates).
"""

import json
import os
import re
import sys

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GRAFANA_DIR = os.path.join(TOP, "graphs", "grafana", "dashboards")
GRAPHITE_DIR = os.path.join(TOP, "graphs", "graphite", "dashboards")
# Every panel, target and query variable uses the `datasource` variable; its
# saved value is the import input ${DS_GRAPHITE} (the UI import replaces it
# with the chosen datasource's uid) and its saved text the name of the
# provisioned datasource (graphs/grafana/provisioning/datasource.yaml), which
# is what Grafana matches when file provisioning leaves ${DS_GRAPHITE} as is.
DS = {"type": "graphite", "uid": "${datasource}"}
DS_INPUT = "DS_GRAPHITE"
DS_PROVISIONED_NAME = "VacMon Graphite"
MIN_GRAFANA = "10.4"  # schemaVersion 39, table cellOptions, quick_ranges ignored before 11

# VacMon's time presets (VacMon's page header) and their bucket widths
# (20 buckets, at least 5 minutes), offered as fixed choices of the Grafana
# `bucket` interval variable beside `auto`, which follows the time range.
PRESETS = [("1h", "Hour", "5min"), ("2h", "2hr", "6min"), ("4h", "4hr", "12min"),
           ("1d", "Day", "72min"), ("1w", "Week", "504min"), ("4w", "4week", "2016min"),
           ("1y", "Year", "26280min")]
GRAPHITE_WEB_BUCKET = "5min"  # graphite-web dashboards have no variables
STALE_SECONDS = 3600          # VacMon's "Last message" highlight
BUCKET_AUTO_COUNT = 20        # VacMon: 20 buckets per range ...
BUCKET_AUTO_MIN = "5m"        # ... never shorter than 5 minutes

# Nodes of the paths above.
N_SITE, N_SPACE, N_FACTORY, N_VO, N_MT, N_OUTCOME = 1, 3, 4, 6, 7, 8
N_MACHINE = N_STATE = 8  # vacquery_machine*, vacquery_slots
N_VM = 3                 # vac.<factory>.virt.<machine>...


# ---- Graphite expressions ------------------------------------------------------

def scope_nodes(level):
    """(site, space, factory) path parts for a view level."""
    return {"all": ("*", "*", "*"), "site": ("$site", "*", "*"),
            "space": ("$site", "$space", "*"),
            "factory": ("$site", "$space", "$factory")}[level]


# The collectd type that carries each field. write_graphite of collectd 5.12
# formats one value list into a 1428-byte buffer (WG_SEND_BUF_SIZE), so a
# type reaches Graphite only with few data sets (at most 4 at factory level,
# 3 at machinetype level for the longest names): the plugin's fields are
# grouped accordingly. One place to change if the grouping changes.
FACTORY_TYPE = dict(
    [(f, "vacquery_factory") for f in ("running_processors", "running_machines",
                                       "running_hs06", "load_average")]
    + [(f, "vacquery_capacity") for f in ("max_processors", "max_machines", "max_hs06",
                                          "boot_time")]
    + [(f, "vacquery_memory") for f in ("mem_used_kb", "mem_total_kb", "swap_used_kb",
                                        "swap_free_kb")]
    + [(f, "vacquery_disk") for f in ("root_disk_avail_kb", "root_disk_avail_inodes",
                                      "daemon_disk_avail_kb", "daemon_disk_avail_inodes")]
    + [(f, "vacquery_heartbeat") for f in ("factory_heartbeat_time", "responder_heartbeat_time",
                                           "mjf_heartbeat_time", "metadata_heartbeat_time")])
MT_TYPE = dict(
    [(f, "vacquery_mt") for f in ("running_processors", "running_machines", "running_hs06")]
    + [(f, "vacquery_mt_limits") for f in ("max_processors", "max_wallclock_seconds",
                                           "bytes_per_processor")]
    + [(f, "vacquery_mt_info") for f in ("num_before_fizzle", "num_machinetypes")])


def fac(level, ds):
    s, sp, f = scope_nodes(level)
    return "vac.%s.vacquery.%s.%s.%s.%s" % (s, sp, f, FACTORY_TYPE[ds], ds)


def mt(level, ds):
    s, sp, f = scope_nodes(level)
    return "vac.%s.vacquery.%s.%s.%s.$vo.*.%s" % (s, sp, f, MT_TYPE[ds], ds)


def fin(level, ds):
    s, sp, f = scope_nodes(level)
    return "vac.%s.vacquery.%s.%s.vacquery_finished.$vo.*.*.%s" % (s, sp, f, ds)


def bucket(path, func="avg"):
    """Each sender series averaged per bucket (VacMon's leaf rule)."""
    return "summarize(%s,'$bucket','%s',true)" % (path, func)


def by(path, node, order="total", positive=False, func="avg"):
    """Sum of per-sender bucket means, one series per value of node."""
    e = "groupByNode(%s,%d,'sum')" % (bucket(path, func), node)
    if positive:  # VacMon: "only if the total over the range is > 0"
        e = "maximumAbove(%s,0)" % e
    return ("sortByName(%s)" if order == "name" else "sortByTotal(%s)") % e


def total(path, name, func="avg"):
    return "alias(sumSeries(%s),'%s')" % (bucket(path, func), name)


def finished(level, ds, node, size="1h"):
    """Finished machines (or CPU / wall seconds) per bucket, one series per
    node: the running totals (StoreRates false) differenced per sender
    series, summed per bucket, then summed per group. transformNull(0)
    first, so that a series' first total counts (it starts from nothing)."""
    align = "false" if size == "1h" else "true"  # per clock hour, or VacMon's buckets
    return ("groupByNode(summarize(nonNegativeDerivative(transformNull(%s,0)),'%s','sum',%s),"
            "%d,'sum')" % (fin(level, ds), size, align, node))


def age(level, name_nodes):
    """Seconds since each factory's last factory_status (receive time): at
    every point, now minus the time of the latest point that had data."""
    s, sp, f = scope_nodes(level)
    tmpl = ("removeAboveValue(diffSeries(timeFunction('now'),keepLastValue(multiplySeries("
            "timeFunction('t'),removeBelowValue(isNonNull(%.vacquery_factory.running_machines),"
            "1)))),100000000)")
    return "aliasByNode(applyByNode(vac.%s.vacquery.%s.%s.vacquery_factory.running_machines,"\
           "%d,\"%s\",'%%'),%s)" % (s, sp, f, N_FACTORY, tmpl,
                                    ",".join(str(n) for n in name_nodes))


def last(level, ds, name_nodes):
    """Each factory's series of one field, named by the given nodes."""
    return "aliasByNode(%s,%s)" % (fac(level, ds), ",".join(str(n) for n in name_nodes))


# ---- panels -----------------------------------------------------------------------

def T(expr, overlay=False, label=None, gw=True, plain=None, ref=None):
    """A target; gw: also on the graphite-web dashboards, where a table
    column is drawn as `plain` (the series named by factory only); ref: its
    refId when a panel's transformations need a fixed one."""
    if overlay and label is None:  # alias(..., '<name>'): the series' name
        label = re.search(r",'([^']*)'\)$", expr).group(1)
    return {"expr": expr, "overlay": overlay, "label": label, "gw": gw, "plain": plain or expr,
            "ref": ref}


def P(title, targets, unit="short", kind="ts", stack=True, link=None, check=None,
      desc="", width=12, thresholds=None, bars=False, matrix=None, join=None):
    """A panel. check = (summary key, field) for the end-to-end test: each
    series name is a value of that key and must equal what was sent."""
    return {"title": title, "targets": targets, "unit": unit, "kind": kind, "stack": stack,
            "link": link, "check": check, "desc": desc, "width": width,
            "thresholds": thresholds, "bars": bars, "matrix": matrix, "join": join}


def chart_pair(level, node, what, link, check_key, order, max_overlay=True):
    """Running processors and running machines by node (VacMon's views)."""
    src = fac if node in (N_SITE, N_SPACE, N_FACTORY) else mt
    out = []
    for field, label in (("running_processors", "processors"), ("running_machines", "machines")):
        targets = [T(by(src(level, field), node, order,
                        positive=(src is mt)))]
        if field == "running_processors" and max_overlay:
            targets.append(T(total(fac(level, "max_processors"), "Max processors"), overlay=True))
        out.append(P("Running %s by %s" % (label, what), targets, link=link,
                     check=(check_key, field) if check_key else None))
    return out


def hs06_pair(level, node, what, link):
    src = fac if node in (N_SITE, N_SPACE, N_FACTORY) else mt
    return [P("Running HS06 by %s" % what,
              [T(by(src(level, "running_hs06"), node, "total", positive=True))],
              link=link, desc="Only %ss publishing HS06." % what)]


def beyond(level):
    """Panels VacMon never had, for the All sites and Site views."""
    out = [
        P("Finished machines per hour by outcome",
          [T("sortByTotal(%s)" % finished(level, "machines", N_OUTCOME))], bars=True,
          unit="short",
          desc="Shutdown-code class 100..700, other, fizzle (short, no code) or none."),
        P("Finished machines per hour by VO",
          [T("sortByTotal(%s)" % finished(level, "machines", N_VO))], bars=True),
        P("CPU efficiency by VO (CPU seconds / wall seconds)",
          [T("aliasSub(divideSeriesLists(%s,%s),'^divideSeries\\(([^,]*),.*$','\\1')"
             % (finished(level, "cpu_seconds", N_VO, "$bucket"),
                finished(level, "wall_seconds", N_VO, "$bucket")))],
          unit="short", stack=False,
          desc="CPU seconds per wall-clock second of the machines that finished in each "
               "bucket: the processors a machine kept busy on average (divide by the "
               "processors per machine for a fraction). Vcycle reports wall-clock seconds "
               "as cpu_seconds, so its machines show 1."),
    ]
    site = "*" if level == "all" else "$site"
    out.append(P("Stale factories by site",
                 [T("aliasByNode(vac.%s.vacquery.vacquery_site.stale_factories,1)" % site),
                  T("alias(sumSeries(vac.%s.vacquery.vacquery_site.factories),'Known factories')"
                    % site, overlay=True)],
                 desc="Factories silent for longer than the plugin's StaleTimeout.",
                 link="site" if level == "all" else None))
    return out


def health():
    """The receiver's own counters (running totals: transformNull(0) so that
    the first total after collectd's start counts)."""
    r = "vac.*.vacquery"
    return [
        P("Receiver: datagrams per second",
          [T("aliasByNode(perSecond(transformNull(%s.vacquery_stats.{received,accepted,rejected,"
             "kernel_drops,queue_drops},0)),1,4)" % r)], unit="pps", stack=False,
          desc="received = accepted + rejected + queue_drops; kernel_drops: socket buffer full."),
        P("Receiver: rejected per second by reason",
          [T("aliasByNode(perSecond(transformNull(%s.vacquery_rejected.*,0)),1,4)" % r)],
          unit="pps"),
        P("Receiver: accepted per second by message type",
          [T("aliasByNode(perSecond(transformNull(%s.vacquery_accepted.*,0)),1,4)" % r)],
          unit="pps"),
        P("Receiver: hand-off queue length",
          [T("aliasByNode(%s.vacquery_queue,1)" % r)], stack=False,
          desc="Datagrams waiting between the receive and the worker thread "
               "(at most QueueLength)."),
        P("Receiver: hand-off queue bytes",
          [T("aliasByNode(%s.vacquery_queue_bytes,1)" % r)], unit="bytes", stack=False,
          desc="Payload bytes of the datagrams waiting (at most QueueBytes); a datagram "
               "that does not fit is dropped and counted in queue_drops."),
    ]


# VacMon's "Most recent update" rows that Graphite carries (all but the
# strings daemon_version, os_issue and kernel_version), as table columns:
# (field or "age", column key, header, unit, scale, on graphite-web).
# Times are Unix seconds in Graphite; scaled to ms for Grafana's date unit.
KIB_MIB = 0.0009765625
FACTORY_COLUMNS = [
    ("load_average", "load", "Load", "short", None, True),
    ("running_processors", "procs", "Procs", "short", None, True),
    ("max_processors", "max_procs", "Max procs", "short", None, True),
    ("running_machines", "machines", "Machines", "short", None, True),
    ("max_machines", "max_machines", "Max machines", "short", None, True),
    ("running_hs06", "hs06", "HS06", "short", None, True),
    ("max_hs06", "max_hs06", "Max HS06", "short", None, False),
    ("mem_total_kb", "mem_total", "Memory total", "mbytes", KIB_MIB, False),
    ("mem_used_kb", "mem_used", "Memory used", "mbytes", KIB_MIB, False),
    ("swap_free_kb", "swap_free", "Swap free", "mbytes", KIB_MIB, False),
    ("swap_used_kb", "swap_used", "Swap used", "mbytes", KIB_MIB, False),
    ("root_disk_avail_kb", "root_disk", "Root disk free", "mbytes", KIB_MIB, False),
    ("root_disk_avail_inodes", "root_inodes", "Root disk free inodes", "short", None, False),
    ("daemon_disk_avail_kb", "daemon_disk", "Daemon disk free", "mbytes", KIB_MIB, False),
    ("daemon_disk_avail_inodes", "daemon_inodes", "Daemon disk free inodes", "short", None,
     False),
    ("factory_heartbeat_time", "factory_hb", "Factory heartbeat", "dateTimeAsIso", 1000, False),
    ("metadata_heartbeat_time", "metadata_hb", "Metadata heartbeat", "dateTimeAsIso", 1000,
     False),
    ("mjf_heartbeat_time", "mjf_hb", "MJF heartbeat", "dateTimeAsIso", 1000, False),
    ("responder_heartbeat_time", "responder_hb", "Responder heartbeat", "dateTimeAsIso", 1000,
     False),
    ("boot_time", "boot", "Boot time", "dateTimeAsIso", 1000, False),
    ("age", "age", "Last message", "s", None, True),
]
MT_COLUMNS = [
    ("running_processors", "procs", "Procs", "short", None, True),
    ("running_machines", "machines", "Machines", "short", None, True),
    ("running_hs06", "hs06", "HS06", "short", None, True),
]


def kv_alias(expr, row, key):
    """Names each series `<row>=<name> metric=<key>` (Grafana's "Key+value
    pairs" field extractor splits it into two columns)."""
    return "aliasSub(%s,'^(.*)$','%s=\\1 metric=%s')" % (expr, row, key)


def factory_table(level):
    """VacMon's "Most recent update" table, one row per factory: the latest
    value of each field in the range (Grafana: reduce to rows, split the
    series names into factory and column, a matrix, then column names and
    units), and the time since the factory's last message, red after one
    hour."""
    targets = []
    for ds, key, head, unit, scale, gw in FACTORY_COLUMNS:
        if ds == "age":
            e = age(level, [N_FACTORY])
        elif scale:  # inside aliasByNode: the series keeps the factory's name
            e = "aliasByNode(scale(%s,%s),%d)" % (fac(level, ds), scale, N_FACTORY)
        else:
            e = last(level, ds, [N_FACTORY])
        targets.append(T(kv_alias(e, "factory", key), label=head, gw=gw, plain=e))
    return [P("Most recent update from factories", targets, kind="matrix", width=24,
              matrix=("factory", "Factory", FACTORY_COLUMNS),
              link="factory" if level == "space" else None,
              desc="One row per factory: the latest value of each field in the range "
                   "(VacMon's table; daemon, OS and kernel versions are strings, which "
                   "Graphite does not hold). Last message: seconds since the factory's last "
                   "factory_status, red after one hour.")]


def machinetype_table():
    """VacMon's machinetypes table of the Factory view, one row per
    machinetype (the last-shutdown columns are strings: not in Graphite)."""
    targets = []
    for ds, key, head, _, _, gw in MT_COLUMNS:
        e = "aliasByNode(%s,%d)" % (mt("factory", ds), N_MT)
        targets.append(T(kv_alias(e, "machinetype", key), label=head, gw=gw, plain=e))
    return [P("Machinetypes on this factory (latest)", targets, kind="matrix", width=24,
              matrix=("machinetype", "Machinetype", MT_COLUMNS),
              desc="One row per machinetype: the latest running processors, machines and "
                   "HS06 in the range.")]


# ---- machines (the plugin's polls) and VMs (virt on the factories) -------------------

# Responder state codes of vacquery_machine_state.state (collectd-vacquery(5)).
STATE_NAMES = [(1, "Starting"), (2, "Running"), (3, "Shut down"), (4, "Paused"),
               (5, "Zombie"), (6, "Unknown")]
# A VM's row is kept in the machines tables only when it has a value in the
# panel's own range: the last quarter-hour (collectd dispatches every
# machine every Interval; a slot that is gone stops).
MACHINES_RANGE = "15m"


def machine_path(level, typ, ds):
    s, sp, f = scope_nodes(level)
    return "vac.%s.vacquery.%s.%s.%s.$vo.*.*.%s" % (s, sp, f, typ, ds)


def recent(path):
    """The series of path with a value in the range: graphite-web also
    returns all-null series for the whisper files of machines that are gone,
    which would be empty rows (and break Grafana's reduce, which does not
    merge an all-null series' value field with the others)."""
    return "removeEmptySeries(%s)" % path


def slots(level, machines_only=False):
    """Slots per state, one series per state; machines_only leaves out the
    empty slots (VO and machinetype none)."""
    path = machine_path(level, "vacquery_slots", "machines")
    if not machines_only:
        return by(path, N_STATE, "name")
    empty = "'\\.vacquery_slots\\.none\\.none\\.'"  # after summarize: names keep the path
    return "sortByName(groupByNode(exclude(%s,%s),%d,'sum'))" % (bucket(path), empty, N_STATE)


def slots_panel(level):
    if level == "factory":
        return P("Slots by state", [T(slots(level))],
                 desc="This factory's machine slots by the state its responder reports "
                      "(starting, running, shut_down, paused, zombie, unknown), from the "
                      "vacquery plugin's polls (Poll true): the mean of each bucket, stacked. "
                      "Empty slots count too (under VO and machinetype none), so the top is "
                      "the number of slots; with a VO chosen, only that VO's machines.")
    return P("Machines by state", [T(slots(level, machines_only=True))],
             desc="Machines of the Vac factories of this %s by the state their responders "
                  "report (starting, running, shut_down, paused, zombie, unknown), from the "
                  "vacquery plugin's polls (Poll true): the mean of each bucket, stacked; "
                  "empty slots are left out. Vcycle factories have no responder and do not "
                  "appear." % level)


def named(expr, node, key):
    """The series of expr named `machine=<node> metric=<key>`."""
    return kv_alias("aliasByNode(%s,%d)" % (expr, node), "machine", key)


def machine_info():
    """One series per machine slot named `machine=<m> machinetype=<mt> vo=<vo>`:
    the machinetype and VO columns of the machines tables."""
    rx = "'^.*\\.vacquery_machine_state\\.([^.]*)\\.([^.]*)\\.([^.]*)\\.state$'"
    return T("aliasSub(%s,%s,'machine=\\3 machinetype=\\2 vo=\\1')" % (
        recent(machine_path("factory", "vacquery_machine_state", "state")), rx),
        gw=False, ref="I")


# Columns of the machines tables: (key, header, unit, decimals); the
# first three come from the names of machine_info()'s series.
MACHINE_COLUMNS = [("machine", "Machine", None, None), ("machinetype", "Machinetype", None, None),
                   ("vo", "VO", None, None), ("state", "State", "short", 0),
                   ("procs", "Procs", "short", 0), ("cpu", "CPU %", "percent", 1),
                   ("age", "Age", "s", 0)]
VM_COLUMNS = MACHINE_COLUMNS[:3] + [("vm_cpu", "VM CPU", "percent", 1),
                                    ("vm_mem", "VM memory", "bytes", 1),
                                    ("vm_disk", "VM disk I/O", "Bps", 1),
                                    ("vm_net", "VM network", "Bps", 1)]


def machines_table():
    """The machines now on the factory (the responder's view of each slot)."""
    st = lambda ds: machine_path("factory", "vacquery_machine_state", ds)  # noqa: E731
    mc = lambda ds: machine_path("factory", "vacquery_machine", ds)  # noqa: E731
    cols = [("state", recent(st("state"))), ("procs", recent(mc("processors"))),
            ("cpu", recent(mc("cpu_percentage"))), ("age", recent(st("age")))]
    heads = dict((c[0], c[1]) for c in MACHINE_COLUMNS)
    targets = [T(named(e, N_MACHINE, k), label=heads[k], ref=chr(ord("A") + i),
                 plain="aliasByNode(%s,%d)" % (e, N_MACHINE)) for i, (k, e) in enumerate(cols)]
    return P("Machines on this factory", targets + [machine_info()], kind="machines",
             width=24, matrix=MACHINE_COLUMNS, join="outerTabular",
             desc="One row per machine slot that this factory's responder reported in the "
                  "last %s (the vacquery plugin's polls, Poll true), with its latest "
                  "values: machinetype and VO (none for an empty slot), state, processors, "
                  "CPU %% (the responder's cpu_percentage) and age (seconds since the "
                  "machine was created)." % MACHINES_RANGE.replace("m", " minutes"))


def vm_table():
    """Each VM's use on the hypervisor (collectd's virt plugin on the
    factory, etc/collectd.d/vac_factory_virt.conf) beside the machinetype
    and VO the responder reports: Grafana joins the two on the machine."""
    vm = "vac.$factory.virt.*."
    # The counters' rates between the last two complete points: the point of
    # the current carbon step holds the reading of only part of the step
    # (delay by one point).
    rate = lambda p: "delay(perSecond(%s),1)" % recent(p)  # noqa: E731
    cols = [("vm_cpu", "scale(%s,0.0000001)" % rate(vm + "virt_cpu_total"), False),
            ("vm_mem", recent(vm + "memory.total"), False),
            ("vm_disk", rate(vm + "disk_octets.*.*"), True),
            ("vm_net", rate(vm + "if_octets.*.*"), True)]
    heads = dict((c[0], c[1]) for c in VM_COLUMNS)
    targets = []
    for i, (k, e, summed) in enumerate(cols):
        e = ("groupByNode(%s,%d,'sum')" % (e, N_VM)) if summed else ("aliasByNode(%s,%d)"
                                                                      % (e, N_VM))
        # not on graphite-web: its template replaces the whole key
        # <site>.vacquery.<space>.<factory>, and these paths hold the factory alone
        targets.append(T(kv_alias(e, "machine", k), label=heads[k], ref=chr(ord("A") + i),
                         plain=e, gw=False))
    return P("VMs on this factory: use on the hypervisor", targets + [machine_info()],
             kind="machines", width=24, matrix=VM_COLUMNS, join="inner",
             desc="One row per VM of this factory seen in the last %s, from collectd's virt "
                  "plugin on the factory itself (collectd-vacmon's example vac_factory_virt.conf; "
                  "libvirt's domain name is the machine name): VM CPU (%% of one processor), "
                  "memory (bytes), disk I/O (read + write) and network (received + sent) in "
                  "bytes per second, "
                  "next to the machinetype and VO that the factory's responder reports for "
                  "the same machine (the vacquery plugin's polls, Poll true). Only machines "
                  "that both report appear: none when the factory does not run the virt "
                  "drop-in or is not polled." % MACHINES_RANGE.replace("m", " minutes"))


def by_vo(level):
    """Running processors, machines and HS06 by VO (VacMon: at every level)."""
    return (chart_pair(level, N_VO, "VO", None, None, "total", max_overlay=False)
            + hs06_pair(level, N_VO, "VO", None))


VIEWS = [
    {"uid": "vacmon-all", "title": "VacMon: All sites", "level": "all",
     "vars": ["vo"],
     "panels": chart_pair("all", N_SITE, "site", "site", "site", "total")
     + chart_pair("all", N_VO, "VO", None, "vo", "total", max_overlay=False)
     + hs06_pair("all", N_SITE, "site", "site") + hs06_pair("all", N_VO, "VO", None)
     + beyond("all") + health()},
    {"uid": "vacmon-site", "title": "VacMon: Site", "level": "site",
     "vars": ["site", "vo"],
     "panels": chart_pair("site", N_SPACE, "space", "space", "space", "name")
     + chart_pair("site", N_VO, "VO", None, "site_vo", "total", max_overlay=False)
     + hs06_pair("site", N_SPACE, "space", "space") + hs06_pair("site", N_VO, "VO", None)
     + [slots_panel("site")]
     + beyond("site")},
    {"uid": "vacmon-space", "title": "VacMon: Space", "level": "space",
     "vars": ["site", "space", "vo"],
     "panels": [P("CPU load by factory",
                  [T(by(fac("space", "load_average"), N_FACTORY, "name"))], link="factory",
                  desc="15-minute load average of each factory, stacked.")]
     + chart_pair("space", N_FACTORY, "factory", "factory", None, "name")
     + chart_pair("space", N_MT, "machinetype", None, "machinetype", "total")
     + hs06_pair("space", N_FACTORY, "factory", "factory")
     + hs06_pair("space", N_MT, "machinetype", None)
     + by_vo("space")
     + [slots_panel("space")]
     + factory_table("space")},
    {"uid": "vacmon-factory", "title": "VacMon: Factory", "level": "factory",
     "vars": ["site", "space", "factory", "vo"],
     "panels": [
         P("CPU load & running processors",
           [T("alias(%s,'Load average')" % bucket(fac("factory", "load_average"))),
            T(total(fac("factory", "running_processors"), "Running processors"), overlay=True),
            T(total(fac("factory", "max_processors"), "Max processors"), overlay=True)]),
         P("Running processors by machinetype",
           [T(by(mt("factory", "running_processors"), N_MT, "total", positive=True)),
            T(total(fac("factory", "max_processors"), "Max processors"), overlay=True)]),
         P("Memory and swap (MiB)",
           [T("alias(scale(%s,0.0009765625),'Mem used')" % bucket(fac("factory", "mem_used_kb"))),
            T("alias(scale(diffSeries(%s,%s),0.0009765625),'Mem free')" % (
                bucket(fac("factory", "mem_total_kb")), bucket(fac("factory", "mem_used_kb")))),
            T("alias(scale(%s,0.0009765625),'Swap used')" % bucket(fac("factory",
                                                                         "swap_used_kb"))),
            T("alias(scale(%s,0.0009765625),'Swap free')" % bucket(fac("factory",
                                                                         "swap_free_kb")))],
           unit="mbytes", desc="Stacked: the top is MemTotal + SwapTotal."),
         P("Available disk (MiB)",
           [T("alias(scale(%s,0.0009765625),'Root disk free')" % bucket(
               fac("factory", "root_disk_avail_kb"))),
            T("alias(scale(%s,0.0009765625),'Daemon disk free')" % bucket(
                fac("factory", "daemon_disk_avail_kb")))],
           unit="mbytes", desc="VacMon divided KiB by 1000 and said MB; this is MiB."),
         P("Running machines by machinetype",
           [T(by(mt("factory", "running_machines"), N_MT, "total", positive=True))]),
         P("Running HS06 by machinetype",
           [T(by(mt("factory", "running_hs06"), N_MT, "total", positive=True))]),
         P("Finished machines per hour by outcome",
           [T("sortByTotal(%s)" % finished("factory", "machines", N_OUTCOME))], bars=True),
         slots_panel("factory"),
     ] + by_vo("factory") + factory_table("factory") + machinetype_table()
     + [machines_table(), vm_table()]},
]

LINKS = {"site": "vacmon-site", "space": "vacmon-space", "factory": "vacmon-factory"}


def variables(view):
    """Template variables: expand() queries so that only real sites, spaces,
    factories and VOs are offered (not the receiver's own host node)."""
    q = {
        "site": ("expand(vac.*.vacquery.*.*.vacquery_factory)", r"/^vac\.([^.]+)\./"),
        "space": ("expand(vac.$site.vacquery.*.*.vacquery_factory)",
                  r"/^vac\.[^.]+\.vacquery\.([^.]+)\./"),
        "factory": ("expand(vac.$site.vacquery.$space.*.vacquery_factory)",
                    r"/^vac\.[^.]+\.vacquery\.[^.]+\.([^.]+)\./"),
        "vo": ("expand(vac.%s.vacquery.%s.%s.vacquery_mt.*)" % tuple(
            "$" + v if v in view["vars"] else "*" for v in ("site", "space", "factory")),
            r"/\.vacquery_mt\.([^.]+)$/"),
    }
    out = [{
        "name": "datasource", "label": "Datasource", "type": "datasource", "query": "graphite",
        "description": "The Graphite datasource of every panel and variable.",
        "current": {"selected": True, "text": DS_PROVISIONED_NAME, "value": "${%s}" % DS_INPUT},
        "options": [], "refresh": 1, "regex": "", "hide": 0, "multi": False,
        "includeAll": False,
    }]
    for name in view["vars"]:
        query, regex = q[name]
        multi = name == "vo"
        var = {
            "name": name, "label": name.upper() if name == "vo" else name.capitalize(),
            "type": "query", "datasource": DS,
            "query": query, "definition": query, "regex": regex, "refresh": 2,
            "multi": multi, "includeAll": multi, "sort": 1, "options": [], "hide": 0,
        }
        if multi:
            var["allValue"] = "*"
            var["current"] = {"selected": True, "text": ["All"], "value": ["$__all"]}
        out.append(var)
    # Bucket from the range: `auto` = range / 20, at least 5 minutes, rounded
    # by Grafana to a nearby round interval; or one of VacMon's own widths.
    # Grafana's Graphite datasource turns '<n>m' into '<n>min' for Graphite.
    widths = [b.replace("min", "m") for _, _, b in PRESETS]
    out.append({
        "name": "bucket", "label": "Bucket", "type": "interval", "hide": 0,
        "description": "auto follows the time range: %d buckets, at least %s (VacMon's rule); "
                       "or VacMon's own bucket of a preset (%s)." % (
                           BUCKET_AUTO_COUNT, BUCKET_AUTO_MIN,
                           ", ".join("%s %s" % (label, w) for (_, label, _), w
                                     in zip(PRESETS, widths))),
        "query": ",".join(widths), "auto": True, "auto_count": BUCKET_AUTO_COUNT,
        "auto_min": BUCKET_AUTO_MIN, "refresh": 2,
        "options": [{"selected": True, "text": "auto", "value": "$__auto_interval_bucket"}]
        + [{"selected": False, "text": w, "value": w} for w in widths],
        "current": {"selected": True, "text": "auto", "value": "$__auto_interval_bucket"},
        "multi": False, "includeAll": False,
    })
    return out


def drill_url(view, var):
    """Data link from a series (named by site, space or factory) to the
    dashboard one level down, keeping the time range and the VO filter."""
    keep = [v for v in ("site", "space", "factory") if v in view["vars"] and v != var]
    q = "".join("&var-%s=${%s}" % (v, v) for v in keep)
    return "/d/%s?var-%s=${__series.name}%s&${vo:queryparam}&${__url_time_range}" % (
        LINKS[var], var, q)


def link_override(view, p):
    """The drill-down link as an override on the series it belongs to: every
    series name but the overlays' ("Max processors", ...; Grafana anchors
    the pattern at both ends)."""
    names = sorted({re.escape(t["label"]) for v in VIEWS for q in v["panels"]
                    for t in q["targets"] if t["overlay"]})
    rx = "(?!(%s)$).+" % "|".join(names)
    return {"matcher": {"id": "byRegexp", "options": rx},
            "properties": [{"id": "links", "value": [
                {"title": "Open %s" % p["link"], "url": drill_url(view, p["link"])}]}]}


def matrix_panel(view, p):
    """A VacMon table from series named `<row>=<name> metric=<key>`:
    reduce every series to its last value (one row per series), split the
    name into the row and the metric, one row per <row> with one column per
    metric (groupingToMatrix), then VacMon's column names, order and units."""
    row, head, cols = p["matrix"]
    corner = "%s\\metric" % row
    overrides = []
    for _, key, title, unit, _, _ in cols:
        props = [{"id": "unit", "value": unit}]
        if unit == "short":
            props.append({"id": "decimals", "value": 2 if key in ("load", "hs06", "max_hs06")
                          else 0})
        if key == "age":
            props += [{"id": "custom.cellOptions", "value": {"type": "color-background"}},
                      {"id": "thresholds", "value": {"mode": "absolute", "steps": [
                          {"color": "transparent", "value": None},
                          {"color": "#ffdddd", "value": STALE_SECONDS}]}}]
        overrides.append({"matcher": {"id": "byName", "options": title}, "properties": props})
    if p["link"]:  # overrides see the columns after organize: their final names
        overrides.append({"matcher": {"id": "byName", "options": head}, "properties": [
            {"id": "links", "value": [{"title": "Open %s" % p["link"], "url": drill_url(
                view, p["link"]).replace("${__series.name}", "${__value.text}")}]}]})
    return {
        "type": "table",
        "transformations": [
            {"id": "reduce", "options": {"mode": "seriesToRows", "reducers": ["lastNotNull"],
                                         "includeTimeField": False}},
            {"id": "extractFields", "options": {"source": "Field", "format": "kvp",
                                                "replace": False}},
            {"id": "groupingToMatrix", "options": {"rowField": row, "columnField": "metric",
                                                   "valueField": "Last *",
                                                   "emptyValue": "null"}},
            {"id": "organize", "options": {
                "excludeByName": {},
                "indexByName": dict([(corner, 0)] + [(c[1], i + 1) for i, c in
                                                     enumerate(cols)]),
                "renameByName": dict([(corner, head)] + [(c[1], c[2]) for c in cols])}},
            {"id": "sortBy", "options": {"sort": [{"field": head}]}},
        ],
        "fieldConfig": {"defaults": {"noValue": "-",  # VacMon's missing value
                                     "custom": {"align": "right", "inspect": False,
                                                "cellOptions": {"type": "auto"}}},
                        "overrides": overrides},
        "options": {"showHeader": True, "cellHeight": "sm", "frameIndex": 0},
    }


def machines_panel(p):
    """A table of machines from two sets of series: the values (refIds A..H,
    named `machine=<m> metric=<key>`, one matrix as matrix_panel builds it)
    and the machine slots (refId I, named `machine=<m> machinetype=<mt>
    vo=<vo>`), joined on the machine (p["join"]: outerTabular, a row for a
    machine in either; inner, in both). Each transformation is applied to
    its own queries (its filter)."""
    cols = p["matrix"]
    values = {"id": "byRefId", "options": "/^[A-H]$/"}
    info = {"id": "byRefId", "options": "I"}
    overrides = []
    for key, title, unit, decimals in cols:
        if unit is None:
            continue
        props = [{"id": "unit", "value": unit}, {"id": "decimals", "value": decimals}]
        if key == "state":
            props = [{"id": "mappings", "value": [{"type": "value", "options": dict(
                (str(code), {"text": name, "index": i})
                for i, (code, name) in enumerate(STATE_NAMES))}]}]
        overrides.append({"matcher": {"id": "byName", "options": title}, "properties": props})
    last = {"mode": "seriesToRows", "reducers": ["lastNotNull"], "includeTimeField": False}
    return {
        "type": "table",
        "timeFrom": MACHINES_RANGE,
        "transformations": [
            {"id": "reduce", "filter": values, "options": last},
            {"id": "reduce", "filter": info, "options": last},
            {"id": "extractFields", "options": {"source": "Field", "format": "kvp",
                                                "replace": False}},
            {"id": "groupingToMatrix", "filter": values,
             "options": {"rowField": "machine", "columnField": "metric",
                         "valueField": "Last *", "emptyValue": "null"}},
            {"id": "organize", "options": {
                "excludeByName": {"Field": True, "Last *": True},
                "indexByName": {}, "renameByName": {"machine\\metric": "machine"}}},
            {"id": "joinByField", "options": {"byField": "machine", "mode": p["join"]}},
            {"id": "organize", "options": {
                "excludeByName": {},
                "indexByName": dict((c[0], i) for i, c in enumerate(cols)),
                "renameByName": dict((c[0], c[1]) for c in cols)}},
            {"id": "sortBy", "options": {"sort": [{"field": cols[0][1]}]}},
        ],
        "fieldConfig": {"defaults": {"noValue": "-",
                                     "custom": {"align": "right", "inspect": False,
                                                "cellOptions": {"type": "auto"}}},
                        "overrides": overrides},
        "options": {"showHeader": True, "cellHeight": "sm", "frameIndex": 0},
    }


def grafana_panel(view, p, pid, x, y):
    targets = [{"refId": t["ref"] or chr(ord("A") + i), "target": t["expr"], "datasource": DS}
               for i, t in enumerate(p["targets"])]
    panel = {"id": pid, "title": p["title"], "description": p["desc"], "datasource": DS,
             "gridPos": {"h": 9 if p["kind"] == "ts" else 10, "w": p["width"], "x": x, "y": y},
             "targets": targets}
    if p["kind"] == "ts":
        overrides = [link_override(view, p)] if p["link"] else []
        overrides += [{
            "matcher": {"id": "byFrameRefID", "options": chr(ord("A") + i)},
            "properties": [{"id": "custom.stacking", "value": {"mode": "none"}},
                           {"id": "custom.fillOpacity", "value": 0},
                           {"id": "custom.lineStyle",
                            "value": {"fill": "dash", "dash": [10, 10]}}]}
            for i, t in enumerate(p["targets"]) if t["overlay"]]
        panel.update({
            "type": "timeseries",
            "fieldConfig": {
                "defaults": {
                    "unit": p["unit"], "min": 0,
                    "custom": {"drawStyle": "bars" if p["bars"] else "line", "lineWidth": 2,
                               "showPoints": "never",
                               "fillOpacity": 50 if p["stack"] else 0,
                               "stacking": {"mode": "normal" if p["stack"] else "none",
                                            "group": "A"},
                               "spanNulls": False},
                },
                "overrides": overrides,
            },
            "options": {"legend": {"displayMode": "table", "placement": "bottom",
                                   "showLegend": True, "calcs": ["lastNotNull", "max"]},
                        "tooltip": {"mode": "multi", "sort": "desc"}},
        })
    elif p["kind"] == "machines":
        panel.update(machines_panel(p))
    else:
        panel.update(matrix_panel(view, p))
    return panel


def dash_link(title, uid, include_vars):
    """A dashboard link (every field of the schema's DashboardLink)."""
    return {"title": title, "type": "link", "url": "/d/" + uid, "keepTime": True,
            "includeVars": include_vars, "icon": "dashboard", "asDropdown": False,
            "tags": [], "targetBlank": False, "tooltip": ""}


def description(view):
    """The dashboard's description: what it is and the Grafana it needs."""
    return ("%s (collectd-vacmon, VacMon's view over Graphite). Needs Grafana %s or later "
            "and a Graphite datasource (chosen in the Datasource variable). Bucket: auto "
            "follows the time range (%d buckets, at least %s)." % (
                view["title"], MIN_GRAFANA, BUCKET_AUTO_COUNT, BUCKET_AUTO_MIN))


def requires(view):
    """__requires: what the UI import checks before it imports."""
    kinds = sorted({"timeseries" if p["kind"] == "ts" else "table" for p in view["panels"]})
    names = {"timeseries": "Time series", "table": "Table"}
    return ([{"type": "grafana", "id": "grafana", "name": "Grafana",
              "version": MIN_GRAFANA + ".0"},
             {"type": "datasource", "id": "graphite", "name": "Graphite", "version": "1.0.0"}]
            + [{"type": "panel", "id": k, "name": names[k], "version": ""} for k in kinds])


def grafana(view):
    panels, x, y, pid = [], 0, 0, 1
    for p in view["panels"]:
        if x + p["width"] > 24:
            x, y = 0, y + 10
        panels.append(grafana_panel(view, p, pid, x, y))
        pid += 1
        x += p["width"]
    links = [] if view["uid"] == "vacmon-all" else [dash_link("All sites", "vacmon-all", False)]
    for v, uid in (("site", "vacmon-site"), ("space", "vacmon-space"),
                   ("factory", "vacmon-factory")):
        if uid != view["uid"]:
            links.append(dash_link(v.capitalize(), uid, True))
    return {
        "__inputs": [{"name": DS_INPUT, "label": "Graphite", "description":
                      "The Graphite datasource that carbon-cache fills from collectd's "
                      "write_graphite (vac.<site>.vacquery...)",
                      "type": "datasource", "pluginId": "graphite", "pluginName": "Graphite"}],
        "__requires": requires(view),
        "uid": view["uid"], "title": view["title"], "id": None,
        "description": description(view),
        "tags": ["vacmon", "collectd-vacmon"], "timezone": "utc", "editable": True,
        "graphTooltip": 1, "schemaVersion": 39, "version": 1, "refresh": "1m",
        "time": {"from": "now-1d", "to": "now"},
        "timepicker": {"refresh_intervals": ["1m", "5m", "15m"],
                       "quick_ranges": [{"display": "Last " + label, "from": "now-" + k,
                                         "to": "now"} for k, label, _ in PRESETS]},
        "templating": {"list": variables(view)},
        "annotations": {"list": []},
        "links": links,
        "panels": panels,
    }


# ---- graphite-web ------------------------------------------------------------------

# graphite-web templates replace one key string with the value in the URL:
# /dashboard/vacmon-site/<site>, /dashboard/vacmon-space/<site>.vacquery.<space>,
# /dashboard/vacmon-factory/<site>.vacquery.<space>.<factory>.
GW_KEY = {"all": None, "site": "VACMONSITE",
          "space": "VACMONSITE.vacquery.VACMONSPACE",
          "factory": "VACMONSITE.vacquery.VACMONSPACE.VACMONFACTORY"}


def graphite_expr(expr, subst):
    for k in sorted(subst, key=len, reverse=True):
        expr = expr.replace("$" + k, subst[k])
    return expr


def graphite_web(view):
    subst = {"site": "VACMONSITE", "space": "VACMONSPACE", "factory": "VACMONFACTORY",
             "vo": "*", "bucket": GRAPHITE_WEB_BUCKET}
    graphs = []
    panels = []
    for p in view["panels"]:  # a table: one graph per column (legends stay short)
        if p["kind"] in ("matrix", "machines"):
            panels += [dict(p, title="%s: %s" % (p["title"], t["label"]), targets=[t])
                       for t in p["targets"] if t["gw"]]
        else:
            panels.append(p)
    for i, p in enumerate(panels):
        params = {"title": p["title"], "target": [], "areaMode": "none", "yMin": 0,
                  "lineWidth": 2, "hideLegend": "false"}
        for t in p["targets"]:
            table = p["kind"] in ("matrix", "machines")
            e = graphite_expr(t["plain"] if table else t["expr"], subst)
            if table:
                e = "legendValue(%s,'last')" % e
            elif t["overlay"]:  # a plain dashed line over the stack, its name kept
                e = "aliasSub(dashed(%s),'^dashed\\((.*), [0-9.]+\\)$','\\1')" % e
            elif p["stack"]:
                e = "aliasSub(stacked(%s),'^stacked\\((.*)\\)$','\\1')" % e
            params["target"].append(e)
        graphs.append(["%s-%02d" % (view["uid"], i + 1), params,
                       "/render?" + "&".join("target=" + t for t in params["target"])])
    return {
        "name": view["uid"],
        "key": GW_KEY[view["level"]],
        "state": {
            "name": view["uid"],
            "timeConfig": {"type": "relative", "relativeStartQuantity": "1",
                           "relativeStartUnits": "days", "relativeUntilQuantity": "",
                           "relativeUntilUnits": "now"},
            "refreshConfig": {"enabled": False, "interval": 60000},
            "graphSize": {"width": 500, "height": 300},
            "defaultGraphParams": {"from": "-1days", "until": "now", "width": 500,
                                   "height": 300, "tz": "UTC", "bgcolor": "#f8f8f8",
                                   "fgcolor": "#333333", "majorGridLineColor": "#cccccc",
                                   "minorGridLineColor": "#eeeeee",
                                   "colorList": "#fe9592,#534f4c,#3ac2c0,#a2a7a1,#fd4b46,"
                                                "#7b7571,#73d5d4,#c9ccc9,#ffdfde,#2e9b99"},
            "graphs": graphs,
        },
    }


# ---- output -----------------------------------------------------------------------

def dump(obj):
    return json.dumps(obj, indent=2, sort_keys=True) + "\n"


def outputs():
    out = {}
    for v in VIEWS:
        out[os.path.join(GRAFANA_DIR, v["uid"] + ".json")] = dump(grafana(v))
        out[os.path.join(GRAPHITE_DIR, v["uid"] + ".json")] = dump(graphite_web(v))
    return out


def main(argv):
    if "--list" in argv:
        for v in VIEWS:
            for p in v["panels"]:
                for t in p["targets"]:
                    print("%s\t%s\t%s" % (v["uid"], p["title"], t["expr"]))
        return 0
    stale = []
    for path, text in sorted(outputs().items()):
        try:
            with open(path) as f:
                same = f.read() == text
        except OSError:
            same = False
        if "--check" in argv:
            if not same:
                stale.append(os.path.relpath(path, TOP))
        elif not same:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
            print("wrote %s" % os.path.relpath(path, TOP))
    if stale:
        print("out of date (run tools/gen-dashboards.py): " + " ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
