#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""End-to-end test of the vacquery plugin's responder polling (issue 12).

A real collectd with the built vacquery.so (Poll true, write_http to an
HTTP sink in this process) and the built vacquery-send as a simulated fleet
of responders (--respond --finish-after --forge): one site, one Vac space of
two factories on 127.0.0.2 and 127.0.0.3 (learnt from their pushed
factory_status), a Vcycle space (no responder: never polled), and a
PollFactory on 127.0.0.9 where nothing answers. The expected slots are the
literal tables of tests/e2e/responder_e2e.py; the values are compared with
what this script reads from the responders itself with Vac's client rule.

Checks: every slot of both factories as vacquery_machine and
vacquery_machine_state with the right identifiers, state codes and values;
vacquery_slots per factory; the Running -> Shut down slot gives exactly one
lifecycle notification per change and one finished machine under its code
(finish_source poll), its pushed machine_status not counted again; forged
replies counted (bad_cookie, bad_space, wrong_source) and ignored; the
silent responder costs its timeout counter and nothing else; the counters
add up; the lifecycle notifications reach write_elasticsearch's events
index (tests/es_server/es_server.py), where a term query on the machine's
name finds them.

Environment as tests/e2e/run-py.sh sets it. Prints one line per check,
ends with `N passed, M failed`. Exit 0 pass, 1 fail, 99 hard error.
"""

import os
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import e2e  # noqa: E402  (harness: Collectd, Sink, Store, Checks, ...)
import es_e2e  # noqa: E402  (EsServer: the project's Elasticsearch test server)
import responder_e2e as rsp  # noqa: E402  (the responders' literal slots)

CK = e2e.Checks()
log = e2e.log
POLL_INTERVAL = 5
FINISH_AFTER = 12
DEAD = "127.0.0.9"
SITE = rsp.SITE
SPACE = rsp.SPACE
# Per slot: the state code of vacquery_machine_state (contract, by hand).
STATE_CODE = {"Starting": 1, "Running": 2, "Shut down": 3, "Paused": 4,
              "Zombie": 5, "Unknown": 6}
STATE_KEY = {"Starting": "starting", "Running": "running", "Shut down": "shut_down",
             "Paused": "paused", "Zombie": "zombie", "Unknown": "unknown"}
VO = {"lhcb-prod": "lhcb", "atlas-prod": "atlas", None: "none"}
COUNTERS = ["queries", "replies", "accepted", "bad_cookie", "bad_space", "not_machine",
            "no_slot", "wrong_source", "not_json", "late", "timeout", "slots_full"]
FINISHED = rsp.SLOTS_F1[0][0]  # vac1-01: Running, then Shut down "200 Success"
# The lifecycle notifications also go to write_elasticsearch's events index.
ES_CONF = '''LoadPlugin write_elasticsearch
<Plugin write_elasticsearch>
  <Node "es">
    URL "{url}"
    IndexMode "daily"
    IndexPrefix "vacmon"
    FlushInterval 1
    SpoolDir "{d}/spool-es"
    Metrics false
    Notifications true
  </Node>
</Plugin>
'''


def pi_of(factory):
    return e2e.sanitise(SPACE) + "." + e2e.sanitise(factory)


def ti_of(machine, mt):
    return "%s.%s.%s" % (VO[mt], mt or "none", e2e.sanitise(machine))


class PollE2E:
    def __init__(self, tmp):
        self.tmp = tmp
        self.store = e2e.Store()
        self.sink = e2e.Sink(("127.0.0.1", 0), e2e.SinkHandler)
        self.sink.store = self.store
        threading.Thread(target=self.sink.serve_forever, daemon=True).start()
        self.port = e2e.free_udp_port()
        self.rport = e2e.free_udp_port()
        self.cd = e2e.Collectd(tmp, "poll", [
            'Listen "127.0.0.1" "%d"' % self.port,
            "Poll true", "PollInterval %d" % POLL_INTERVAL,
            "PollPort %d" % self.rport, "PollTimeout 0.3", "PollRate 50",
            'PollFactory "%s" "%s"' % (DEAD, SPACE),
            "OutcomeWait 20"], self.sink.server_address[1])
        self.es = es_e2e.EsServer(tmp, "es-server", "es", "elasticsearch")
        e2e.PROCS.append(self.es.proc)
        with open(self.cd.conf, "a") as f:
            f.write(ES_CONF.format(url=self.es.url, d=self.cd.dir))
        self.send = None

    def start(self):
        self.cd.start()
        CK.check("collectd starts with the Poll options", self.cd.wait_ready(), self.cd.tail())
        args = [e2e.VQ_SEND, "-H", "127.0.0.1", "-p", str(self.port)] + rsp.FLEET + [
            "--respond", "--respond-port", str(self.rport),
            "--finish-after", str(FINISH_AFTER), "--forge"]
        log("running " + " ".join(args))
        self.t0 = time.monotonic()
        self.send = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, preexec_fn=e2e._pdeathsig)
        e2e.PROCS.append(self.send)

    def counters(self):
        """The latest complete set of vacquery_poll counters (one read)."""
        by_time = {}
        for o in self.store.values("vacquery_poll", self.cd.path, host=self.cd.hostname):
            by_time.setdefault(o["time"], {})[o["type_instance"]] = o["values"][0]
        full = [t for t, g in by_time.items() if set(COUNTERS) <= set(g)]
        return by_time[max(full)] if full else None

    def latest(self, type_, factory, ti):
        return self.store.latest(type_, self.cd.path, host=SITE, plugin="vacquery",
                                 plugin_instance=pi_of(factory), type_instance=ti)

    def slots_section(self):
        """Every slot of both factories, with state and values."""
        for (addr, factory), slots in ((rsp.F1, rsp.SLOTS_F1), (rsp.F2, rsp.SLOTS_F2)):
            for machine, state, mt, _msg in slots:
                ti = ti_of(machine, mt)
                CK.eventually("%s: vacquery_machine_state %s (%s)" % (factory, ti, state),
                              lambda: self._state_ok(factory, ti, state), 20)
        # The responder as Vac's client sees it, read by this script.
        salt, _, got = rsp.query(rsp.F2[0], self.rport, SPACE, rsp.F2[1])
        direct, _ = rsp.accepted(salt, rsp.F2[0], SPACE, got)
        # Values of factory 2 (nothing changes there but running counters).
        by = {m["machine"]: m for m in direct}
        for machine, state, mt, _msg in rsp.SLOTS_F2:
            m = by.get(machine)
            o = self.latest("vacquery_machine", rsp.F2[1], ti_of(machine, mt))
            if m is None or o is None:
                CK.check("%s: vacquery_machine values" % machine, False, (m, o))
                continue
            v = dict(zip(o["dsnames"], o["values"]))
            want = {"processors": m["num_processors"], "hs06": m.get("hs06") or 0}
            if state != "Running":  # still slots: every value as the responder says
                want["cpu_seconds"] = m["cpu_seconds"]
                want["cpu_percentage"] = m["cpu_percentage"]
            CK.check("%s (%s): vacquery_machine values as the responder says"
                     % (machine, state),
                     all(e2e.close(v[k], w) for k, w in want.items()), (v, want))
        for (addr, factory), slots in ((rsp.F1, rsp.SLOTS_F1), (rsp.F2, rsp.SLOTS_F2)):
            want = {}
            for machine, state, mt, _msg in slots:
                if factory == rsp.F1[1] and machine == FINISHED:
                    continue  # checked after it finishes
                key = "%s.%s" % (VO[mt], mt or "none")
                want.setdefault(key, {k: 0 for k in STATE_KEY.values()})
                want[key][STATE_KEY[state]] += 1
            if factory == rsp.F2[1]:
                CK.eventually("%s: vacquery_slots by VO, machinetype and state" % factory,
                              lambda: self._slots_ok(factory, want), 15)
        vc = [o for o in self.store.values("vacquery_machine", self.cd.path)
              if "vcycle" in o["plugin_instance"]]
        CK.check("Vcycle factories (no responder) are not polled", not vc, vc[:1])

    def _state_ok(self, factory, ti, state):
        o = self.latest("vacquery_machine_state", factory, ti)
        if o is None:
            return False, "no value list"
        v = dict(zip(o["dsnames"], o["values"]))
        return v["state"] == STATE_CODE[state], v

    def _slots_ok(self, factory, want):
        got = {}
        for key, states in want.items():
            for st in states:
                o = self.latest("vacquery_slots", factory, key + "." + st)
                got.setdefault(key, {})[st] = o["values"][0] if o else None
        return got == want, got

    def lifecycle_section(self):
        """vac1-01 goes Running -> Shut down: one notification per change,
        one finished machine under its code."""
        ti = ti_of(FINISHED, "lhcb-prod")
        time.sleep(max(0, FINISH_AFTER + 2 * POLL_INTERVAL + 2 - (time.monotonic() - self.t0)))
        CK.eventually("%s is polled Shut down" % FINISHED,
                      lambda: self._state_ok(rsp.F1[1], ti, "Shut down"), 15)
        # Two more rounds: still exactly one notification per change.
        time.sleep(2 * POLL_INTERVAL)
        notes = [n for n in self.store.notifications(self.cd.path, type="vacquery_machine_state",
                                                      type_instance=ti)]
        msgs = [n["message"] for n in notes]
        CK.check("exactly one lifecycle notification per change of %s" % FINISHED,
                 msgs == ["machine %s: none -> Running" % FINISHED,
                          "machine %s: Running -> Shut down" % FINISHED], msgs)
        if len(notes) == 2:
            n = notes[1]
            CK.check("the lifecycle notification's identifiers and meta",
                     n["host"] == SITE and n["plugin_instance"] == pi_of(rsp.F1[1])
                     and n["severity"] == "OKAY"
                     and all(n["meta"].get(k) == v for k, v in {
                         "event": "machine_state", "site": SITE, "space": SPACE,
                         "factory": rsp.F1[1], "machine": FINISHED,
                         "machinetype": "lhcb-prod", "vo": "lhcb", "old_state": "Running",
                         "new_state": "Shut down", "shutdown_message": "200 Success",
                         "source_address": rsp.F1[0]}.items()), n)
        zombie = [n for n in self.store.notifications(self.cd.path, type="vacquery_machine_state")
                  if n["meta"].get("new_state") == "Zombie"]
        CK.check("a Zombie slot's notification is a WARNING",
                 zombie and all(n["severity"] == "WARNING" for n in zombie), zombie[:1])
        # One finished machine under its code, decided by the poll.
        fin = [n for n in self.store.notifications(self.cd.path, type="vacquery_finished")
               if n["meta"].get("machine") == FINISHED]
        CK.check("one finished-machine notification for %s, finish_source poll, code 200"
                 % FINISHED,
                 len(fin) == 1 and fin[0]["meta"].get("finish_source") == "poll"
                 and fin[0]["meta"].get("outcome") == "200", fin)
        o = self.store.latest("vacquery_finished", self.cd.path, host=SITE,
                              plugin_instance=pi_of(rsp.F1[1]),
                              type_instance="lhcb.lhcb-prod.200")
        CK.check("vacquery_finished lhcb.lhcb-prod.200 counts it once",
                 o is not None and o["values"][0] == 1, o and o["values"])

    def es_section(self):
        """A machine's life is searchable by its name in Elasticsearch: the
        lifecycle notifications of vac1-01 are event documents found by a
        term query on machine."""
        q = {"size": 50, "query": {"bool": {"filter": [
            {"term": {"machine": FINISHED}}, {"term": {"type": "vacquery_machine_state"}}]}}}

        def found():
            st, body = self.es.api("POST", "/vacmon-events-*/_search", q)
            hits = [h["_source"] for h in (body or {}).get("hits", {}).get("hits", [])]
            got = [(h.get("old_state"), h.get("new_state"), h.get("factory")) for h in hits]
            return sorted(got) == [("Running", "Shut down", rsp.F1[1]),
                                   ("none", "Running", rsp.F1[1])], (st, got)
        CK.eventually("Elasticsearch: a term query on machine %s finds its two lifecycle "
                      "events (none -> Running, Running -> Shut down) under its factory"
                      % FINISHED, found, 30, 1)

    def dedup_section(self):
        """The pushed machine_status of vac1-01 (no code: it waits
        OutcomeWait 20 s) comes out of the join and is not counted again."""
        time.sleep(max(0, FINISH_AFTER + 20 + 2 - (time.monotonic() - self.t0)))
        CK.eventually("the join let the pushed Vac finishes go (vacquery_join timed_out 4: "
                      "two of the first cycle, vac1-01 and vac2-01)",
                      lambda: self._joined(), 15)
        fin = [n for n in self.store.notifications(self.cd.path, type="vacquery_finished")
               if n["meta"].get("machine") in (FINISHED, rsp.SLOTS_F2[0][0])]
        CK.check("the pushed machine_status of the polled finishes is not counted again",
                 len(fin) == 2 and all(n["meta"].get("finish_source") == "poll" for n in fin),
                 [(n["meta"].get("machine"), n["meta"].get("finish_source")) for n in fin])
        src = {o["type_instance"]: o["values"][0] for o in
               self.store.values("vacquery_finished_source", self.cd.path,
                                 host=self.cd.hostname)}
        # poll: the four "Shut down" slots with a code (vac1-01 and vac2-01
        # after --finish-after, vac1-05 "200 Success", vac2-07 "300 Nothing
        # to do"); push: the first cycle's machine_status, one per factory
        # (two Vac, two Vcycle), not the later pushes of vac1-01 and vac2-01.
        time.sleep(2)
        src = {o["type_instance"]: o["values"][0] for o in
               self.store.values("vacquery_finished_source", self.cd.path,
                                 host=self.cd.hostname)}
        pushed = sorted(n["meta"].get("machine") for n in
                        self.store.notifications(self.cd.path, type="vacquery_finished")
                        if n["meta"].get("finish_source") == "push")
        CK.check("vacquery_finished_source: poll 4, push 4", src == {"poll": 4, "push": 4},
                 (src, pushed))

    def _joined(self):
        o = self.store.latest("vacquery_join", self.cd.path, host=self.cd.hostname)
        if o is None:
            return False, None
        v = dict(zip(o["dsnames"], o["values"]))
        return v["timed_out"] >= 4, v

    def counters_section(self):
        """Forged replies counted and ignored; the silent responder costs
        its timeout counter only; every reply accounted for."""
        c = self.counters()
        CK.check("the poll counters are dispatched", c is not None)
        if c is None:
            return
        log("INFO counters %s" % c)
        CK.check("forged replies are counted: bad_cookie, bad_space, wrong_source",
                 c["bad_cookie"] > 0 and c["bad_space"] > 0 and c["wrong_source"] > 0, c)
        CK.check("every reply is accepted or counted under one reason",
                 c["replies"] == c["accepted"] + sum(c[k] for k in (
                     "bad_cookie", "bad_space", "not_machine", "no_slot", "wrong_source",
                     "not_json", "late")), c)
        ran = time.monotonic() - self.t0
        rounds = ran / POLL_INTERVAL
        CK.check("the silent responder: one timeout per round, no tight loop",
                 1 <= c["timeout"] <= rounds + 1, (c["timeout"], rounds))
        CK.check("queries: at most 6 per silent round and a few per answering round",
                 c["queries"] <= (rounds + 1) * (6 + 2 * 6), (c["queries"], rounds))
        forged_machines = [o for o in self.store.values("vacquery_machine_state", self.cd.path)
                           if o["plugin_instance"] not in (pi_of(rsp.F1[1]), pi_of(rsp.F2[1]))]
        CK.check("nothing is dispatched for forged replies or the silent address",
                 not forged_machines, forged_machines[:1])
        known = {ti_of(m, mt) for m, _s, mt, _x in rsp.SLOTS_F1 + rsp.SLOTS_F2}
        extra = {o["type_instance"] for o in
                 self.store.values("vacquery_machine_state", self.cd.path)} - known
        CK.check("only the responders' own slots have values", not extra, extra)
        CK.check("collectd is still running", self.cd.alive(), self.cd.tail())


# A bad poll option stops collectd with an error naming it (collectd -T).
BAD_OPTIONS = [
    ("PollInterval 1", "PollInterval: 1 is out of range [5, 86400]"),
    ("PollTimeout 0", "PollTimeout: 0 is out of range [0.1, 60]"),
    ("PollRate 0", "PollRate: 0 is out of range [1, 100000]"),
    ("PollPort 70000", "PollPort: 70000 is out of range [1, 65535]"),
    ("MaxSlots 0", "MaxSlots: 0 is out of range [1, 1e+08]"),
    ("Poll maybe", 'invalid option "Poll"'),
    ("PollFactory 42", "PollFactory needs a host and an optional space"),
    ('PollFactory "no-such-host.invalid"', 'PollFactory "no-such-host.invalid"'),
    ('PollSource "192.0.2.77"', 'PollSource "192.0.2.77": bind'),
]


def config_errors(tmp):
    for i, (line, want) in enumerate(BAD_OPTIONS):
        d = os.path.join(tmp, "bad%d" % i)
        os.makedirs(d, exist_ok=True)
        conf = os.path.join(d, "collectd.conf")
        with open(conf, "w") as f:
            f.write(e2e.collectd_conf(d, "bad", os.path.join(d, "log"), 1, "/bad", [
                'Listen "127.0.0.1" "%d"' % e2e.free_udp_port(), "Poll true", line]))
        r = subprocess.run([e2e.COLLECTD, "-T", "-C", conf], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=30)
        try:
            with open(os.path.join(d, "log")) as f:
                out = r.stdout + f.read()
        except OSError:
            out = r.stdout
        CK.check("`%s` stops start-up with an error naming it" % line,
                 r.returncode != 0 and want in out, (r.returncode, out[-300:]))


def main():
    state = {}

    def start(tmp):
        if not os.access(e2e.VQ_SEND, os.X_OK):
            raise RuntimeError("%s is not built" % e2e.VQ_SEND)
        t = state["t"] = PollE2E(tmp)
        t.start()
        return [("config errors", lambda: config_errors(tmp)), ("slots", t.slots_section), ("lifecycle", t.lifecycle_section),
                ("elasticsearch", t.es_section),
                ("dedup", t.dedup_section), ("counters", t.counters_section)]

    def finish():
        if "t" in state:
            state["t"].sink.shutdown()

    return e2e.run_sections("poll_e2e.py", 180, "vq-poll-e2e-", start, CK,
                            required=(e2e.COLLECTD,), finish=finish)


if __name__ == "__main__":
    sys.exit(main())
