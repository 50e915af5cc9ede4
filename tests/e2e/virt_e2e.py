#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""End-to-end test of the per-VM drop-in for Vac factories
(etc/collectd.d/vac_factory_virt.conf: collectd's stock virt plugin, sent
with the network plugin to the central collectd).

No hypervisor: libvirt's built-in test driver (in Debian's libvirt0) stands
in for Vac's qemu:///system. Two factory collectds run the SHIPPED drop-in
(only its EDIT lines set): factory vac101.tier2.example.org on
test:///default (its one domain "test": 2 vCPUs, 2 GiB, disk vda, interface
testnet0) and factory vac102.tier2.example.org on a test-driver node file
with one domain named as Vac names its VMs, vac102-05.tier2.example.org
(4 vCPUs, 3 GiB). They send over the network plugin (loopback, free port)
to a central collectd running the SHIPPED vacquery_graphite.conf (EDIT
lines set), which writes into carbon-cache; graphite-web reads it back
(graphite_stack.py). Then:

  * each factory and each machine is one Graphite path node, its dots
    written as "_" (vac.vac102_tier2_example_org.virt.
    vac102-05_tier2_example_org...), nothing else under vac.*;
  * each machine has exactly the literal set of paths: CPU (virt_cpu_total),
    memory.total, the disk (disk_error.vda) and the interface (if_octets,
    if_packets, if_errors, if_dropped .testnet0.rx/tx);
  * memory.total is the domain's memory (2097152 KiB and 3145728 KiB as
    bytes), and the CPU time grows by one second per second (the test driver
    reports the clock as CPU time);
  * the Factory view's table "VMs on this factory" (its targets through
    graphite-web, its transformations through Grafana 10.4's code,
    tests/grafana/tables.js) joins the VM to the machinetype and VO of the
    same machine from the vacquery plugin's machine series (written into
    carbon here with known values: the polls are another test's subject):
    VM CPU about 100 %, memory 3221225472 bytes, network about 150000 B/s
    (the test driver's interface counters grow by 100000 B/s received and
    50000 B/s sent).

The test driver does not implement virDomainBlockStatsFlags, which the virt
plugin of collectd 5.12 uses for disk_octets and disk_ops: the disk I/O
column is not exercised here (tests/grafana/tables_e2e.py covers it with
written values), the disk's name is (disk_error.vda).

Environment as tests/e2e/run-py.sh sets it. One line per check, ends with
`N passed, M failed`. Exit 0 pass, 1 fail, 99 hard error (a package
missing: tools/install-deps.sh).
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
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "grafana"))
import e2e  # noqa: E402
import graphite_e2e  # noqa: E402  (dropin_for_test: the central drop-in's EDIT lines)
import graphite_stack  # noqa: E402
import tables_e2e  # noqa: E402  (table(): a panel through graphite-web and tables.js)

TOP = e2e.TOP_SRCDIR
FACTORY_DROPIN = os.path.join(TOP, "etc", "collectd.d", "vac_factory_virt.conf")
DASH = os.path.join(TOP, "graphs", "grafana", "dashboards", "vacmon-factory.json")
VIRT_SO = os.path.join(e2e.STOCK_PLUGIN_DIR, "virt.so")
CK = graphite_e2e.CK  # one list of checks with graphite_e2e's helpers
log = e2e.log

# vac.* in 5-s points: one point per 5 collectd reads (Interval 1), so that a
# rate over two points is 5 s of counter whatever the readings' jitter.
SCHEMAS = "[vac]\npattern = ^vac\\.\nretentions = 5s:1d\n"

NODE_XML = """<node>
  <network>
    <name>default</name>
    <bridge name='virbr0'/>
    <ip address='192.168.122.1' netmask='255.255.255.0'/>
  </network>
  <domain type='test'>
    <name>vac102-05.tier2.example.org</name>
    <memory unit='KiB'>4194304</memory>
    <currentMemory unit='KiB'>3145728</currentMemory>
    <vcpu>4</vcpu>
    <os><type arch='x86_64'>hvm</type></os>
    <devices>
      <disk type='file' device='disk'>
        <source file='/var/lib/vac/machines/vac102-05/root.disk'/>
        <target dev='vda' bus='virtio'/>
      </disk>
      <interface type='network'>
        <mac address='56:4d:00:00:02:05'/>
        <source network='default'/>
      </interface>
    </devices>
  </domain>
</node>
"""


def tails():
    """The paths below vac.<factory>.virt.<machine> (literal)."""
    out = {"virt_cpu_total", "memory.total", "disk_error.vda"}
    out |= {"%s.testnet0.%s" % (t, d) for t in ("if_octets", "if_packets", "if_errors",
                                                 "if_dropped") for d in ("rx", "tx")}
    return out


# factory Hostname -> (connection, domain, its Graphite machine node, vCPUs, memory bytes)
FACTORIES = {
    "vac101.tier2.example.org": ("test:///default", "test", "test", 2, 2097152 * 1024),
    "vac102.tier2.example.org": (None, "vac102-05.tier2.example.org",
                                 "vac102-05_tier2_example_org", 4, 3145728 * 1024),
}


def edit(path, subs):
    """The shipped drop-in with its EDIT lines set by subs [(regex, text)];
    checks that exactly len(subs) lines are marked EDIT."""
    with open(path) as f:
        lines = f.read().splitlines()
    out, edited = [], 0
    for line in lines:
        if "# EDIT" in line:
            edited += 1
            for rx, text in subs:
                line = re.sub(rx, text, line)
        out.append(line)
    return "\n".join(out) + "\n", edited


class Daemon:
    """A collectd with its own directory; stopped by its PID."""

    def __init__(self, d, conf):
        self.dir = d
        path = os.path.join(d, "collectd.conf")
        with open(path, "w") as f:
            f.write(conf)
        self.out = open(os.path.join(d, "stdout.txt"), "wb")
        self.proc = subprocess.Popen([e2e.COLLECTD, "-f", "-C", path], stdout=self.out,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     preexec_fn=e2e._pdeathsig)

    def log_text(self):
        try:
            with open(os.path.join(self.dir, "collectd.log")) as f:
                return f.read()
        except OSError:
            return ""

    def started(self, what):
        ok = e2e.wait_for(lambda: "Initialization complete" in self.log_text()
                          or self.proc.poll() is not None, 15, 0.1)
        return CK.check(what, ok and self.proc.poll() is None, self.log_text()[-1500:])

    def stop(self):
        e2e.stop_proc(self.proc)
        self.out.close()


def central(tmp, stack, port):
    d = os.path.join(tmp, "central")
    os.makedirs(os.path.join(d, "csv"))
    inc = os.path.join(d, "vacquery_graphite.conf")
    with open(inc, "w") as f:  # the shipped file, its EDIT lines set (and counted)
        f.write(graphite_e2e.dropin_for_test(stack.line_port))
    # One write thread: with several, collectd may hand two values of one
    # counter to write_graphite out of order, and carbon keeps the older as
    # its 5-s point (the view's rates then read 60 % or 140 %).
    conf = "WriteThreads 1\n" + e2e.base_conf(d, "central.example.org") + f'''LoadPlugin csv
<Plugin csv>
  DataDir "{d}/csv"
  StoreRates false
</Plugin>
LoadPlugin network
<Plugin network>
  Listen "127.0.0.1" "{port}"
</Plugin>
Include "{inc}"
'''
    return Daemon(d, conf)


def factory(tmp, host, uri, port):
    d = os.path.join(tmp, host)
    os.makedirs(d)
    text, n = edit(FACTORY_DROPIN, [(r'Connection "[^"]*"', 'Connection "%s"' % uri),
                                    (r'Server "[^"]*" "[^"]*"',
                                     'Server "127.0.0.1" "%d"' % port)])
    CK.check("%s: vac_factory_virt.conf has its 2 EDIT lines (Connection, Server)" % host,
             n == 2, n)
    inc = os.path.join(d, "vac_factory_virt.conf")
    with open(inc, "w") as f:
        f.write(text)
    return Daemon(d, e2e.base_conf(d, host) + 'Include "%s"\n' % inc)


def leaves(stack):
    """Every metric path carbon holds (graphite-web /metrics/index.json)."""
    return set(json.loads(stack.get("/metrics/index.json")))


def last(series):
    vals = [v for s in series for v, _ in s["datapoints"] if v is not None]
    return vals[-1] if vals else None


def near(got, want, rel):
    return got is not None and abs(got - want) <= rel * abs(want)


def check_paths(stack):
    want = set()
    for host, (_, _, node, _, _) in FACTORIES.items():
        want |= {"vac.%s.virt.%s.%s" % (e2e.sanitise(host), node, t) for t in tails()}

    def arrived():
        got = leaves(stack)
        return want <= got, sorted(want - got)[:5]
    CK.eventually("carbon: every virt path of both factories arrived", arrived, 40, 1)
    got = leaves(stack)
    CK.check("graphite: under vac.* exactly the literal paths of the two VMs (%d: the "
             "factory and machine one node each, dots as _)" % len(want), got == want,
             "extra %s missing %s" % (sorted(got - want)[:6], sorted(want - got)[:6]))
    CK.check("graphite: vac.* is the two factories", set(stack.expand("vac.*")) == {
        "vac.vac101_tier2_example_org", "vac.vac102_tier2_example_org"},
        stack.expand("vac.*"))


def check_values(stack):
    for host, (_, dom, node, _, mem) in FACTORIES.items():
        base = "vac.%s.virt.%s" % (e2e.sanitise(host), node)
        got = last(stack.render_json(base + ".memory.total", frm="-5min"))
        CK.check("%s: memory.total = %d bytes (the domain's memory)" % (dom, mem),
                 e2e.close(got, mem), got)
        # the rate between the last two complete points, as the view takes it
        got = last(stack.render_json("delay(perSecond(%s.virt_cpu_total),1)" % base,
                                     frm="-5min"))
        CK.check("%s: CPU time grows 1e9 ns per second (+-25%%: %s)" % (dom, got),
                 near(got, 1e9, 0.25), got)
        got = last(stack.render_json("delay(perSecond(%s.if_octets.testnet0.rx),1)" % base,
                                     frm="-5min"))
        CK.check("%s: interface testnet0 receives 100000 B/s (+-25%%: %s)" % (dom, got),
                 near(got, 100000, 0.25), got)


def check_view(stack, tmp, nm):
    """The Factory view's VM table for factory vac102 (site UKI-T, space
    tier2.example.org), with the vacquery plugin's machine series of that
    factory written here: vac102-05 (lhcb, lhcb-prod, a VM) and vac102-06
    (atlas, atlas-sim, no VM: not in the table)."""
    with open(DASH) as f:
        panel = [p for p in json.load(f)["panels"]
                 if p["title"] == "VMs on this factory: use on the hypervisor"][0]
    now = int(time.time())
    st = "vac.UKI-T.vacquery.tier2_example_org.vac102_tier2_example_org.vacquery_machine_state"
    lines = []
    for vo, mt, m in (("lhcb", "lhcb-prod", "vac102-05_tier2_example_org"),
                      ("atlas", "atlas-sim", "vac102-06_tier2_example_org")):
        lines += ["%s.%s.%s.%s.state 2 %d" % (st, vo, mt, m, now - 10 * i) for i in range(3)]
    stack.send_lines(lines)
    probe = "%s.lhcb.lhcb-prod.vac102-05_tier2_example_org.state" % st
    e2e.wait_for(lambda: any(v is not None for v, _ in
                             (stack.render_json(probe, frm="-5min") or [{"datapoints": []}])[0]
                             ["datapoints"]), 20, 0.5)
    vals = {"site": "UKI-T", "space": "tier2_example_org", "factory": "vac102_tier2_example_org",
            "vo": "*"}
    got = tables_e2e.table(stack, tmp, nm, panel, vals)
    log("     VM table: %s" % got)
    # no disk I/O column: the test driver gives no disk_octets (see above)
    cols = ["Machine", "Machinetype", "VO", "VM CPU", "VM memory", "VM network"]
    CK.check("factory view: VM table columns %s" % cols, got["columns"] == cols,
             got["columns"])
    rows = got["rows"]
    ok = (len(rows) == 1 and rows[0][:3] == ["vac102-05_tier2_example_org", "lhcb-prod", "lhcb"]
          and near(rows[0][3], 100, 0.25) and e2e.close(rows[0][4], 3145728 * 1024)
          and near(rows[0][5], 150000, 0.25))
    CK.check("factory view: one row, the VM vac102-05 joined to its machinetype lhcb-prod and "
             "VO lhcb: CPU ~100 %, 3221225472 bytes, network ~150000 B/s", ok, rows)


def main():
    t0 = time.monotonic()
    bad = graphite_stack.missing_packages()
    if bad or not os.path.exists(VIRT_SO):
        log("ERROR: missing %s (Debian collectd-core libvirt0 graphite-carbon graphite-web "
            "python3-django)" % (bad or VIRT_SO))
        return 99
    r = subprocess.run(["ldd", VIRT_SO], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if b"not found" in r.stdout:
        log("ERROR: %s cannot load (Debian libvirt0): %s" % (VIRT_SO, r.stdout.decode()))
        return 99
    work = os.path.join(e2e.TOP_BUILDDIR, "tests", "grafana")
    r = subprocess.run([os.path.join(TOP, "tests", "grafana", "npm-ci.sh"), work],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    log(r.stdout.decode("utf-8", "replace").strip())
    if r.returncode != 0:
        return 99
    nm = os.path.join(work, "node_modules")
    tmp = tempfile.mkdtemp(prefix="vq-virt-")
    stack, daemons = None, []
    try:
        stack = graphite_stack.GraphiteStack(os.path.join(tmp, "graphite"), SCHEMAS).start()
        port = e2e.free_udp_port()
        daemons.append(central(tmp, stack, port))
        if not daemons[-1].started("central collectd starts (network Listen, shipped "
                                   "vacquery_graphite.conf)"):
            return 1
        node = os.path.join(tmp, "vac102-node.xml")
        with open(node, "w") as f:
            f.write(NODE_XML)
        for host, (uri, dom, _, _, _) in FACTORIES.items():
            daemons.append(factory(tmp, host, uri or "test://" + node, port))
            if not daemons[-1].started("%s: collectd starts with the shipped drop-in" % host):
                return 1
        check_paths(stack)
        time.sleep(12)  # a few 5-s points of every counter
        check_values(stack)
        check_view(stack, tmp, nm)
        errs = [l for d in daemons for l in d.log_text().splitlines()
                if re.search(r"\b(error|failed)\b", l, re.I)
                and "virDomainBlockStatsFlags" not in l
                and "block device" not in l and "lv_domain_block_stats" not in l]
        CK.check("no errors in the logs (but the test driver's missing block stats)",
                 not errs, errs[:5])
    except Exception as e:
        import traceback
        traceback.print_exc()
        CK.check("no exception", False, e)
    finally:
        for d in daemons:
            d.stop()
        if stack is not None:
            stack.stop()
        if os.environ.get("VQ_E2E_KEEP") == "1" or CK.failed:
            log("kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    log("virt e2e: %.1f s" % (time.monotonic() - t0))
    log("%d passed, %d failed" % (CK.passed, CK.failed))
    return 0 if CK.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
