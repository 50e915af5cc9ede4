#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""End-to-end test of vacquery-send's responder mode (--respond), without
collectd: this script is the polling client.

It starts the built vacquery-send with a small fleet (one site, one Vac
space of two factories, one Vcycle space of two) answering on a free port,
pushing to a UDP socket of this script, and queries it the way Vac's client
does (docs/protocol.md, "Query message types"): a salt of 32 random bytes,
cookie = SHA-256(salt || factory) in lowercase hex, and a reply is taken only
when it comes from the queried address, is a machine_status of the queried
space and its cookie is SHA-256(salt || reply.factory). The expected slots
(states, machinetypes, shutdown messages) are literal tables worked out by
hand from the fleet's rules in vacquery-send(1), not by the sender's code.

Checks: num_machines replies with one time_sent and the echoed cookie; the
legacy "method" form; no answer to a wrong space, a missing cookie, another
query type or a Vcycle factory; heartbeat and cpu_seconds advance while
finished slots stay still; --finish-after shuts the first machine down with
"200 Success" and pushes its machine_status as Vac does, from the factory's
own address; --forge adds exactly three replies that the client rule
refuses; the summary's slot and responder counts after SIGTERM.

Environment as tests/e2e/run-py.sh sets it. Prints one line per check,
ends with `N passed, M failed`. Exit 0 pass, 1 fail, 99 hard error.
"""

import base64
import hashlib
import json
import os
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import e2e  # noqa: E402  (helpers: Checks, stop_proc, free_udp_port)

CK = e2e.Checks()
log = e2e.log
SITE = "UKI-SIM-SITE-1"
SPACE = "vac01.site1.example.ac.uk"
F1 = ("127.0.0.2", "vac1.site1.example.ac.uk")
F2 = ("127.0.0.3", "vac2.site1.example.ac.uk")
VCYCLE = "127.0.0.4"      # the first Vcycle factory: pushes, never answers
FORGER = "127.0.0.6"      # the next address after the four factories
RESPONDER = "Vac 03.01.00 vacd-responder"
FLEET = ["--fleet", "--sites", "1", "--spaces", "2", "--factories", "2",
         "--machinetypes", "2", "--vcycle-every", "2", "--finished", "1"]

# (machine, state, machinetype, shutdown_message) per slot, in slot order.
SLOTS_F1 = [
    ("vac1-01.site1.example.ac.uk", "Running", "lhcb-prod", None),
    ("vac1-02.site1.example.ac.uk", "Running", "atlas-prod", None),
    ("vac1-03.site1.example.ac.uk", "Running", "atlas-prod", None),
    ("vac1-04.site1.example.ac.uk", "Starting", "lhcb-prod", None),
    ("vac1-05.site1.example.ac.uk", "Shut down", "atlas-prod", "200 Success"),
    ("vac1-06.site1.example.ac.uk", "Paused", "lhcb-prod", None),
    ("vac1-07.site1.example.ac.uk", "Zombie", "lhcb-prod", None),
    ("vac1-08.site1.example.ac.uk", "Shut down", None, None),
]
SLOTS_F2 = [
    ("vac2-01.site1.example.ac.uk", "Running", "lhcb-prod", None),
    ("vac2-02.site1.example.ac.uk", "Running", "lhcb-prod", None),
    ("vac2-03.site1.example.ac.uk", "Running", "atlas-prod", None),
    ("vac2-04.site1.example.ac.uk", "Running", "atlas-prod", None),
    ("vac2-05.site1.example.ac.uk", "Running", "atlas-prod", None),
    ("vac2-06.site1.example.ac.uk", "Starting", "atlas-prod", None),
    ("vac2-07.site1.example.ac.uk", "Shut down", "lhcb-prod", "300 Nothing to do"),
    ("vac2-08.site1.example.ac.uk", "Unknown", None, None),
    ("vac2-09.site1.example.ac.uk", "Shut down", None, None),
]
# After --finish-after (the first machine of each Vac factory, vac1-01 and
# vac2-01, shut down): the summary's slots of the site.
SUMMARY_SLOTS = {"paused": 1, "running": 6, "shut_down": 6, "starting": 2,
                 "unknown": 1, "zombie": 1}


def new_salt():
    """A salt as Vac's client makes it: base64 of 32 random bytes."""
    return base64.b64encode(os.urandom(32)).decode()


def cookie(salt, factory):
    """The client's rule: SHA-256(salt || factory), lowercase hex."""
    return hashlib.sha256((salt + factory).encode()).hexdigest()


def query(addr, port, space, factory, form="message_type", salt=None,
          with_cookie=True, wait=1.5):
    """Sends one query to addr:port and collects what comes back within
    wait seconds. Returns (salt, sent cookie, [(source, parsed or None)])."""
    salt = salt or new_salt()
    q = {"vacquery_version": "VacQuery 01.03", "space": space}
    if form == "message_type":
        q["message_type"] = "machines_query"
    elif form == "method":
        q["method"] = "machines"
    else:
        q["message_type"] = form
    c = cookie(salt, factory)
    if with_cookie:
        q["cookie"] = c
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.sendto(json.dumps(q).encode(), (addr, port))
    got = []
    deadline = time.monotonic() + wait
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        s.settimeout(left)
        try:
            data, src = s.recvfrom(65536)
        except socket.timeout:
            break
        except ConnectionRefusedError:  # ICMP port unreachable
            continue
        try:
            got.append((src, json.loads(data)))
        except ValueError:
            got.append((src, None))
    s.close()
    return salt, c, got


def accepted(salt, addr, space, got):
    """The replies the client rule takes, and the number it refuses."""
    ok = [m for src, m in got
          if m is not None and src[0] == addr and m.get("message_type") == "machine_status"
          and m.get("space") == space and isinstance(m.get("factory"), str)
          and m.get("cookie") == cookie(salt, m["factory"])]
    return ok, len(got) - len(ok)


def slot_rows(replies):
    return [(m["machine"], m["state"], m["machinetype"], m["shutdown_message"])
            for m in replies]


def check_answer(name, addr, factory, slots, got, salt, sent_cookie):
    ok, refused = accepted(salt, addr, SPACE, got)
    n = len(slots)
    CK.check("%s: %d replies, all pass the client rule" % (name, n),
             len(ok) == n and refused == 0, "%d taken, %d refused" % (len(ok), refused))
    CK.check("%s: every reply says num_machines %d" % (name, n),
             all(m["num_machines"] == n for m in ok), [m["num_machines"] for m in ok])
    CK.check("%s: one time_sent for all replies" % name,
             len({m["time_sent"] for m in ok}) == 1)
    CK.check("%s: the cookie is echoed" % name, all(m["cookie"] == sent_cookie for m in ok))
    CK.check("%s: factory, space, site and responder versions" % name,
             all(m["factory"] == factory and m["site"] == SITE
                 and m["daemon_version"] == RESPONDER and m["vac_version"] == RESPONDER
                 for m in ok))
    CK.check("%s: slots in the expected states" % name, slot_rows(ok) == slots,
             slot_rows(ok))
    empty = [m for m in ok if m["machinetype"] is None]
    CK.check("%s: empty slots have no uuid, times, processors or fqan" % name,
             empty and all(m["uuid"] is None and m["created_time"] is None
                           and m["num_processors"] == 0 and "fqan" not in m for m in empty))
    return ok


def main():
    if not os.access(e2e.VQ_SEND, os.X_OK):
        print("ERROR: %s is not built" % e2e.VQ_SEND)
        return 99
    port = e2e.free_udp_port()
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    finish_after = 14
    args = [e2e.VQ_SEND, "-H", "127.0.0.1", "-p", str(sink.getsockname()[1])] + FLEET + [
        "--respond", "--respond-port", str(port), "--finish-after", str(finish_after),
        "--rate", "50"]
    log("running " + " ".join(args))
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=e2e._pdeathsig)
    t_start = time.monotonic()
    try:
        # Both Vac factories bind their own address on the respond port.
        ready = e2e.wait_for(lambda: query(F1[0], port, SPACE, F1[1], wait=0.3)[2], 10)
        CK.check("the responder answers", ready)
        salt, c, got = query(F1[0], port, SPACE, F1[1])
        first = check_answer("factory 1", F1[0], F1[1], SLOTS_F1, got, salt, c)
        salt, c, got = query(F2[0], port, SPACE, F2[1])
        check_answer("factory 2", F2[0], F2[1], SLOTS_F2, got, salt, c)
        salt, c, got = query(F1[0], port, SPACE, F1[1], form="method")
        check_answer("legacy method machines", F1[0], F1[1], SLOTS_F1, got, salt, c)
        running = [m for m in first if m["state"] == "Running"]
        CK.check("running slots: heartbeat, cpu_seconds > 0, cpu_percentage > 0",
                 running and all(m["heartbeat_time"] and m["cpu_seconds"] > 0
                                 and m["cpu_percentage"] > 0 for m in running))

        # Refusals: nothing at all comes back.
        for name, kw in (("a wrong space", {"space": "vac02.site1.example.ac.uk"}),
                         ("a query without cookie", {"with_cookie": False}),
                         ("a machinetypes_query", {"form": "machinetypes_query"})):
            a = dict(addr=F1[0], port=port, space=SPACE, factory=F1[1])
            a.update(kw)
            got = query(**a)[2]
            CK.check("no answer to %s" % name, got == [], got[:1])
        got = query(VCYCLE, port, "vcycle02.cloud.site1.example.ac.uk",
                    "vcycle3.site1.example.ac.uk")[2]
        CK.check("no answer from a Vcycle factory", got == [], got[:1])

        # Values that change: wait past a heartbeat (10 s) and the finish.
        time.sleep(max(0, finish_after + 1 - (time.monotonic() - t_start)))
        salt, c, got = query(F1[0], port, SPACE, F1[1])
        later, _ = accepted(salt, F1[0], SPACE, got)
        by = {m["machine"]: m for m in later}
        was = {m["machine"]: m for m in first}
        m1 = by.get(SLOTS_F1[0][0], {})
        CK.check("--finish-after: vac1-01 is Shut down with 200 Success",
                 (m1.get("state"), m1.get("shutdown_message")) == ("Shut down", "200 Success")
                 and m1.get("shutdown_time") is not None, m1)
        CK.check("--finish-after: its uuid and created_time are unchanged",
                 m1.get("uuid") == was[SLOTS_F1[0][0]]["uuid"]
                 and m1.get("created_time") == was[SLOTS_F1[0][0]]["created_time"])
        for name in ("vac1-02.site1.example.ac.uk", "vac1-03.site1.example.ac.uk"):
            CK.check("%s: heartbeat refreshed, cpu_seconds grew" % name,
                     by[name]["heartbeat_time"] > was[name]["heartbeat_time"]
                     and by[name]["cpu_seconds"] > was[name]["cpu_seconds"],
                     (was[name]["cpu_seconds"], by[name]["cpu_seconds"]))
        for name in ("vac1-05.site1.example.ac.uk", "vac1-06.site1.example.ac.uk",
                     "vac1-07.site1.example.ac.uk"):
            CK.check("%s (%s): heartbeat and cpu_seconds stay" % (name, by[name]["state"]),
                     (by[name]["heartbeat_time"], by[name]["cpu_seconds"])
                     == (was[name]["heartbeat_time"], was[name]["cpu_seconds"]))

        # What was pushed: each factory from its own address; the finish.
        sink.settimeout(0.5)
        pushed = []
        while True:
            try:
                data, src = sink.recvfrom(65536)
            except socket.timeout:
                break
            pushed.append((src[0], json.loads(data)))
        srcs = {m["factory"]: a for a, m in pushed if m["message_type"] == "factory_status"}
        CK.check("each factory pushes from its own address",
                 srcs == {F1[1]: F1[0], F2[1]: F2[0], "vcycle3.site1.example.ac.uk": VCYCLE,
                          "vcycle4.site1.example.ac.uk": "127.0.0.5"}, srcs)
        fin = [(a, m) for a, m in pushed if m["message_type"] == "machine_status"
               and m["machine"] == SLOTS_F1[0][0]]
        fin2 = [a for a, m in pushed if m["message_type"] == "machine_status"
                and m["machine"] == SLOTS_F2[0][0]]
        CK.check("vac2-01 finishes too, pushed once from 127.0.0.3", fin2 == [F2[0]], fin2)
        CK.check("the finished machine is pushed once, from 127.0.0.2, as Vac does",
                 len(fin) == 1 and fin[0][0] == F1[0] and fin[0][1]["state"] == "Running"
                 and fin[0][1]["shutdown_message"] is None and fin[0][1]["cookie"] == "0"
                 and fin[0][1]["uuid"] == m1.get("uuid")
                 and fin[0][1]["daemon_version"] == "Vac 03.01.00 vacd-factory", fin)
    finally:
        rc = e2e.stop_proc(p)
        out, err = p.communicate()
    CK.check("SIGTERM ends the run with status 0", rc == 0, (rc, err[-300:]))
    lines = dict(l.rsplit(" ", 1) for l in out.splitlines() if l.startswith("responder_"))
    slots = {l.split()[2]: int(l.split()[4]) for l in out.splitlines()
             if l.startswith("slots %s " % SITE)}
    CK.check("summary: slots by state of the site", slots == SUMMARY_SLOTS, slots)
    # Refused: the wrong space and the missing cookie; ignored: the
    # machinetypes_query (the Vcycle query finds no socket on the port).
    CK.check("summary: answered, refused, ignored",
             (int(lines.get("responder_refused", -1)), int(lines.get("responder_ignored", -1)))
             == (2, 1) and int(lines.get("responder_answered", 0)) >= 4, lines)

    # --forge: three more replies per query, each refused by the client rule.
    port2 = e2e.free_udp_port()
    p = subprocess.Popen([e2e.VQ_SEND, "-H", "127.0.0.1", "-p", str(sink.getsockname()[1])]
                         + FLEET + ["--respond", "--respond-port", str(port2), "--forge",
                                    "--cycles", "0"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=e2e._pdeathsig)
    try:
        e2e.wait_for(lambda: query(F1[0], port2, SPACE, F1[1], wait=0.3)[2], 10)
        salt, c, got = query(F1[0], port2, SPACE, F1[1])
        ok, refused = accepted(salt, F1[0], SPACE, got)
        CK.check("--forge: 8 true replies, 3 refused", (len(ok), refused) == (8, 3),
                 (len(ok), refused))
        taken = {id(m) for m in ok}
        bad = [(src[0], m["cookie"] == c, m["space"]) for src, m in got
               if id(m) not in taken]
        CK.check("--forge: a wrong cookie, a wrong space, another address",
                 sorted(bad) == sorted([(F1[0], False, SPACE), (F1[0], True, "forged." + SPACE),
                                        (FORGER, True, SPACE)]), bad)
    finally:
        rc = e2e.stop_proc(p)
        out, _ = p.communicate()
    CK.check("--forge: summary counts 3 forged replies per answered query",
             "forged_replies %d\n" % (3 * int(dict(
                 l.rsplit(" ", 1) for l in out.splitlines()
                 if l.startswith("responder_")).get("responder_answered", "0"))) in out, out[-400:])
    sink.close()
    print("%d passed, %d failed" % (CK.passed, CK.failed))
    return 0 if CK.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
