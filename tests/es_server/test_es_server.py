#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Self-test of tests/es_server/es_server.py (a make check test, run before tests/e2e/es_e2e.py).

Starts the server in this process (Elasticsearch and OpenSearch flavours, one
with basic auth) on free ports and checks each behaviour the end-to-end test
relies on against the response shapes of the Elasticsearch 8 / OpenSearch 2
reference: _bulk per-item results and 409 on create, mapping checks,
templates, @custom component templates (ignore_missing_component_templates
by version and flavour), data streams, _count/_search with the aggregations
of VacMon's query, and every fault mode. Standard
library only; prints one line per check and `N passed, M failed`.
"""

import base64
import gzip
import http.client
import json
import os
import shutil
import socket
import ssl
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import es_server  # noqa: E402

PASSED, FAILED = [], []


def check(name, ok, detail=""):
    if ok:
        PASSED.append(name)
        print("PASS %s" % name, flush=True)
    else:
        FAILED.append(name)
        print("FAIL %s: %s" % (name, detail), flush=True)
    return ok


class Client:
    def __init__(self, port, auth=None):
        self.port, self.auth = port, auth

    def req(self, method, path, body=None, ctype="application/json", raw=False, timeout=10,
            headers=None):
        """Returns (status, parsed body or None, headers)."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body)
            if isinstance(body, str):
                body = body.encode()
            h = {"Content-Type": ctype} if body is not None else {}
            if self.auth:
                h["Authorization"] = self.auth
            h.update(headers or {})
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
            obj = json.loads(data) if data and not raw else (data if raw else None)
            return r.status, obj, dict(r.getheaders())
        finally:
            c.close()

    def bulk(self, lines, path="/_bulk", ctype="application/x-ndjson", end="\n"):
        body = "\n".join(json.dumps(x) if not isinstance(x, str) else x for x in lines) + end
        return self.req("POST", path, body, ctype)


def ndjson(index, docs, op="create"):
    out = []
    for i, d in docs:
        meta = {"_index": index}
        if i is not None:
            meta["_id"] = i
        out += [{op: meta}, d]
    return out


METRICS_TPL = {
    "index_patterns": ["t-metrics-*"], "priority": 200,
    "template": {"mappings": {
        "dynamic_templates": [{"strings": {"match_mapping_type": "string",
                                           "mapping": {"type": "keyword"}}}],
        "properties": {"@timestamp": {"type": "date"}, "host": {"type": "keyword"},
                       "interval": {"type": "double"},
                       "time_sent": {"type": "date", "format": "epoch_second"},
                       "values": {"type": "object", "dynamic": True},
                       "ok": {"type": "boolean"}}}}}
DS_TPL = {"index_patterns": ["t-events"], "priority": 200, "data_stream": {},
          "template": {"mappings": {"properties": {"severity": {"type": "keyword"}}}}}


def doc(n, **kw):
    d = {"@timestamp": "2026-11-23T02:15:%02d.000Z" % (n % 60), "host": "h%d" % (n % 3),
         "values": {"x": float(n), "y": None}, "interval": 30, "time_sent": 1795400000 + n}
    d.update(kw)
    return d


def item(resp, i):
    (op, it), = resp["items"][i].items()
    return it


def test_elasticsearch():
    app = es_server.App("elasticsearch")
    port, cport = app.start(0, 0)
    c, ctl = Client(port), Client(cport)
    try:
        st, body, hdr = c.req("GET", "/")
        check("GET / answers an Elasticsearch 8 version body",
              st == 200 and body["version"]["number"].startswith("8.")
              and body["tagline"] == "You Know, for Search"
              and hdr.get("X-elastic-product") == "Elasticsearch", (st, body))

        st, body, _ = c.req("PUT", "/_index_template/t-metrics", METRICS_TPL)
        check("PUT _index_template acknowledged", st == 200 and body == {"acknowledged": True},
              body)
        st, body, _ = c.req("GET", "/_index_template/t-metrics")
        check("GET _index_template returns the stored body",
              st == 200 and body["index_templates"][0]["name"] == "t-metrics"
              and body["index_templates"][0]["index_template"]["index_patterns"]
              == ["t-metrics-*"], body)
        st, _, _ = c.req("HEAD", "/_index_template/nope")
        check("HEAD of a missing template -> 404", st == 404, st)
        bad = [("an unknown field type", {"x": {"type": "strnig"}}, "No handler for type"),
               ("an unknown parameter", {"x": {"type": "long", "format": "epoch_second"}},
                "unknown parameter [format]"),
               ("scaled_float without scaling_factor", {"x": {"type": "scaled_float"}},
                "scaling_factor")]
        for name, props, why in bad:
            st, body, _ = c.req("PUT", "/_index_template/bad", {
                "index_patterns": ["bad-*"], "template": {"mappings": {"properties": props}}})
            check("template with %s -> 400 mapper_parsing_exception" % name,
                  st == 400 and body["error"]["type"] == "mapper_parsing_exception"
                  and why in body["error"]["reason"], body)
        st, body, _ = c.req("PUT", "/_index_template/bad", {
            "index_patterns": ["bad-*"], "template": {"mappings": {"_all": {"enabled": False}}}})
        check("template with ES6 _all -> 400 (Root mapping definition has unsupported "
              "parameters)", st == 400 and "Root mapping" in body["error"]["reason"], body)
        st, body, _ = c.req("PUT", "/_index_template/clash", dict(METRICS_TPL,
                                                                  index_patterns=["t-*"]))
        check("template overlapping another with the same priority -> 400",
              st == 400 and body["error"]["type"] == "illegal_argument_exception"
              and "same priority" in body["error"]["reason"], body)

        idx = "t-metrics-2026.11.23"
        st, r, _ = c.bulk(ndjson(idx, [("a", doc(1)), ("b", doc(2)), ("c", doc(3))]))
        check("_bulk create of 3 new docs -> 200, errors false, 3 x 201 created in order",
              st == 200 and r["errors"] is False
              and [item(r, i)["_id"] for i in range(3)] == ["a", "b", "c"]
              and all(item(r, i)["status"] == 201 and item(r, i)["result"] == "created"
                      for i in range(3)), r)
        st, r, _ = c.bulk(ndjson(idx, [("a", doc(1)), ("d", doc(4))]))
        it = item(r, 0)
        check("create of an existing _id -> item 409 version_conflict_engine_exception, the "
              "other item 201", st == 200 and r["errors"] is True and it["status"] == 409
              and it["error"]["type"] == "version_conflict_engine_exception"
              and "document already exists" in it["error"]["reason"]
              and item(r, 1)["status"] == 201, r)
        st, r, _ = c.bulk(ndjson(idx, [("a", doc(1, host="z"))], op="index"))
        check("index of an existing _id -> 200 updated, _version 2",
              item(r, 0)["status"] == 200 and item(r, 0)["result"] == "updated"
              and item(r, 0)["_version"] == 2, r)
        st, r, _ = c.bulk(ndjson(idx, [("m1", doc(5, values={"x": "abc"})),
                                       ("m2", doc(6, time_sent="yesterday")),
                                       ("m3", doc(7, ok="maybe")),
                                       ("m4", doc(8, host={"name": "x"})),
                                       ("m5", doc(9, values=3)),
                                       ("m6", doc(10))]))
        types = [item(r, i)["error"]["type"] if "error" in item(r, i) else item(r, i)["status"]
                 for i in range(6)]
        check("values that do not fit the mapping (string in double, bad epoch_second date, "
              "bad boolean, object in keyword, number for object) -> 400 "
              "document_parsing_exception; a good doc beside them 201",
              types == ["document_parsing_exception"] * 5 + [201]
              and all(item(r, i)["status"] == 400 for i in range(5)), r)
        check("the mapping error names the field and its type",
              "failed to parse field [values.x] of type [float]" in
              item(r, 0)["error"]["reason"], item(r, 0))
        st, r, _ = c.bulk(['{"create":{"_index":"%s","_id":"nan"}}' % idx,
                           '{"@timestamp":"2026-11-23T00:00:00Z","values":{"x":NaN}}'])
        check("a NaN token in a document -> item 400 (not JSON)",
              item(r, 0)["status"] == 400, r)
        st, r, _ = c.bulk(ndjson(idx, [("e", doc(11))]), end="")
        check("_bulk body without the final newline -> 400 illegal_argument_exception",
              st == 400 and "terminated by a newline" in r["error"]["reason"], r)
        st, r, _ = c.bulk([{"create": {"_index": idx, "_type": "doc", "_id": "f"}}, doc(12)])
        check("_type in an action line -> 400 unknown parameter [_type]",
              st == 400 and "unknown parameter [_type]" in r["error"]["reason"], r)
        st, r, _ = c.bulk(ndjson(idx, [("g", doc(13))]), ctype="text/plain")
        check("Content-Type text/plain -> 406", st == 406, (st, r))
        st, r, _ = c.bulk(ndjson("Bad-Index", [("h", doc(14))]))
        check("an upper-case index name -> item 400 invalid_index_name_exception",
              item(r, 0)["status"] == 400
              and item(r, 0)["error"]["type"] == "invalid_index_name_exception", r)
        st, r, _ = c.bulk(ndjson(idx, [(None, doc(15))]))
        check("create without _id -> 201 with a generated _id",
              item(r, 0)["status"] == 201 and len(item(r, 0)["_id"]) >= 16, r)
        st, r, _ = c.bulk(ndjson(idx, [("i", doc(16))]) + [{"delete": {"_index": idx,
                                                                       "_id": "i"}}]
                          + ndjson(idx, [("i", {"doc": {"host": "u"}})], op="update"))
        check("delete and update items are answered in order (201, 200 deleted, 404)",
              [item(r, k)["status"] for k in range(3)] == [201, 200, 404], r)
        st, r, _ = c.bulk(ndjson(idx, [("fp", doc(17, values={"x": "bad"}))]),
                          path="/_bulk?filter_path=errors,items.*.status,items.*.error.type")
        check("filter_path=errors,items.*.status,items.*.error.type",
              r == {"errors": True, "items": [{"create": {"status": 400, "error": {
                  "type": "document_parsing_exception"}}}]}, r)

        # dynamic mapping: the first value sets the type, as ES does
        st, r, _ = c.bulk(ndjson("t-other", [("1", {"n": 5}), ("2", {"n": "five"}),
                                             ("3", {"n": "6"})]))
        check("dynamic mapping: n=5 maps long; n=\"five\" -> 400; n=\"6\" coerced -> 201",
              [item(r, i)["status"] for i in range(3)] == [201, 400, 201], r)
        st, body, _ = c.req("PUT", "/t-other/_mapping", {"properties": {"probe": {
            "type": "long"}}})
        st2, r, _ = c.bulk(ndjson("t-other", [("4", {"probe": "x"}), ("5", {"probe": 7})]))
        check("PUT _mapping adds a long field; a string there -> 400, a number -> 201",
              st == 200 and [item(r, i)["status"] for i in range(2)] == [400, 201], (body, r))
        st, body, _ = c.req("PUT", "/t-other/_mapping", {"properties": {"probe": {
            "type": "keyword"}}})
        check("PUT _mapping cannot change a field's type -> 400", st == 400, body)

        # data streams
        st, body, _ = c.req("PUT", "/_index_template/t-events", DS_TPL)
        check("PUT a data stream template", st == 200, body)
        st, r, _ = c.bulk(ndjson("t-events", [("e1", {"@timestamp": "2026-11-23T02:00:00Z",
                                                      "severity": "OKAY"})], op="index"))
        check("op index on a data stream -> item 400 \"only write ops with an op_type of "
              "create are allowed in data streams\"",
              item(r, 0)["status"] == 400 and "op_type of create" in
              item(r, 0)["error"]["reason"], r)
        st, r, _ = c.bulk(ndjson("t-events", [("e1", {"@timestamp": "2026-11-23T02:00:00Z",
                                                      "severity": "OKAY"}),
                                              ("e2", {"severity": "OKAY"})]))
        check("create on a data stream -> 201 in backing index .ds-t-events-*; without "
              "@timestamp -> 400", item(r, 0)["status"] == 201
              and item(r, 0)["_index"].startswith(".ds-t-events-")
              and item(r, 1)["status"] == 400, r)
        st, body, _ = c.req("GET", "/_data_stream/t-events")
        check("GET _data_stream lists the implicitly created stream",
              st == 200 and body["data_streams"][0]["name"] == "t-events"
              and body["data_streams"][0]["template"] == "t-events", body)

        # _count and _search
        st, body, _ = c.req("GET", "/t-metrics-*/_count")
        n_all = body["count"]
        st, body, _ = c.req("POST", "/t-metrics-*/_count", {"query": {"term": {"host": "h1"}}})
        st2, body2, _ = c.req("GET", "/t-metrics-*/_count?q=host:h1")
        check("_count with a term query and with q=field:value agree (%d of %d)"
              % (body["count"], n_all), st == 200 and body["count"] >= 1
              and body["count"] < n_all and body2["count"] == body["count"], (body, body2))
        st, body, _ = c.req("GET", "/t-events,t-metrics-2026.11.23/_count")
        check("_count over a data stream and an index", st == 200 and body["count"] == n_all + 1,
              body)
        st, body, _ = c.req("POST", "/t-metrics-*/_search", {
            "size": 2, "sort": [{"values.x": {"order": "desc"}}],
            "query": {"bool": {"filter": [{"range": {"values.x": {"gte": 2}}}]}}})
        xs = [h["_source"]["values"]["x"] for h in body["hits"]["hits"]]
        _, alld, _ = ctl.req("GET", "/_test/docs?index=t-metrics-*")
        want = sorted((d["_source"]["values"]["x"] for d in alld["docs"]
                       if d["_source"]["values"]["x"] >= 2), reverse=True)
        check("_search size 2, sort desc, range filter, hits.total.value (%s of %d)"
              % (xs, len(want)), st == 200 and len(want) >= 3 and xs == want[:2]
              and body["hits"]["total"] == {"value": len(want), "relation": "eq"}, body)
        st, body, _ = c.req("GET", "/nope/_count")
        check("_count on a missing index -> 404 index_not_found_exception",
              st == 404 and body["error"]["type"] == "index_not_found_exception", body)

        # single documents (what vacmond did)
        st, body, _ = c.req("PUT", "/t-single/_doc/1", {"a": 1})
        st2, body2, _ = c.req("PUT", "/t-single/_doc/1", {"a": 2})
        st3, body3, _ = c.req("GET", "/t-single/_doc/1")
        check("PUT /<index>/_doc/<id>: 201 created, then 200 updated; GET returns it",
              (st, body["result"], st2, body2["result"]) == (201, "created", 200, "updated")
              and body3["_source"] == {"a": 2}, (body, body2, body3))

        # faults
        ctl.req("POST", "/_fault", {"mode": "429", "count": 2})
        sts = [c.bulk(ndjson(idx, [("f%d" % i, doc(20 + i))]))[0] for i in range(3)]
        check("fault 429 count 2: two requests 429, the third 200", sts == [429, 429, 200], sts)
        st, r, _ = c.bulk(ndjson(idx, [("f0", doc(20))]))
        check("a document refused by a 429 was not stored", item(r, 0)["status"] == 201, r)
        ctl.req("POST", "/_fault", {"mode": "partial", "every": 2, "count": 1})
        st, r, _ = c.bulk(ndjson(idx, [("p%d" % i, doc(30 + i)) for i in range(5)]))
        stp = [item(r, i)["status"] for i in range(5)]
        st2, r2, _ = c.bulk(ndjson(idx, [("p%d" % i, doc(30 + i)) for i in range(5)]))
        check("fault partial every 2: items 0, 2, 4 -> 429 es_rejected_execution_exception, "
              "not stored; the resend stores them and gets 409 for 1 and 3",
              stp == [429, 201, 429, 201, 429]
              and item(r, 0)["error"]["type"] == "es_rejected_execution_exception"
              and [item(r2, i)["status"] for i in range(5)] == [201, 409, 201, 409, 201],
              (r, r2))
        ctl.req("POST", "/_fault", {"mode": "partial", "every": 3, "status": 503, "count": 1})
        st, r, _ = c.bulk(ndjson(idx, [("q%d" % i, doc(40 + i)) for i in range(3)]))
        check("fault partial status 503", [item(r, i)["status"] for i in range(3)]
              == [503, 201, 201], r)
        ctl.req("POST", "/_fault", {"mode": "413", "limit": 600})
        big = ndjson(idx, [("b%d" % i, doc(50 + i)) for i in range(6)])
        st, _, _ = c.bulk(big)
        st2, r2, _ = c.bulk(big[:2])
        ctl.req("POST", "/_fault", {"mode": "ok"})
        check("fault 413 limit 600: a larger body -> 413, a small one -> 200",
              st == 413 and st2 == 200, (st, st2))
        for mode, did, want, what in (("reset", "r1", 201, "connection closed without an "
                                       "answer, nothing stored"),
                                      ("lost", "l1", 409, "stored but no answer; the resend "
                                       "gets 409")):
            ctl.req("POST", "/_fault", {"mode": mode, "count": 1})
            try:
                c.bulk(ndjson(idx, [(did, doc(60))]))
                got = "an answer"
            except (http.client.HTTPException, ConnectionError) as e:
                got = type(e).__name__
            st, r, _ = c.bulk(ndjson(idx, [(did, doc(60))]))
            check("fault %s: %s" % (mode, what),
                  got != "an answer" and item(r, 0)["status"] == want, (got, r))
        ctl.req("POST", "/_fault", {"mode": "slow", "delay": 0.4, "count": 1})
        t0 = time.time()
        st, _, _ = c.bulk(ndjson(idx, [("s1", doc(62))]))
        dt = time.time() - t0
        check("fault slow delay 0.4: answered after >= 0.4 s", st == 200 and dt >= 0.4, dt)
        ctl.req("POST", "/_fault", {"mode": "down", "duration": 1.0})
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            refused = False
        except ConnectionRefusedError:
            refused = True
        stc, body, _ = ctl.req("GET", "/_test/stats")
        time.sleep(1.3)
        st, _, _ = c.req("GET", "/")
        check("fault down duration 1: connections refused, control port up, listening again "
              "on the same port after 1 s", refused and stc == 200 and not body["listening"]
              and st == 200, (refused, stc, st))
        ctl.req("POST", "/_fault", {"mode": "down"})
        time.sleep(0.2)
        ctl.req("POST", "/_fault", {"mode": "up"})
        st, _, _ = c.req("GET", "/")
        check("fault down, then up: listening again", st == 200, st)
        st, body, _ = ctl.req("GET", "/_test/stats")
        check("stats: faults applied, items by status, docs per index",
              st == 200 and body["faults"].get("429") == 2 and body["faults"].get("partial") == 2
              and body["faults"].get("413") == 1 and body["items"].get("create 409", 0) >= 3
              and body["docs_per_index"].get(idx, 0) >= 15
              and body["content_types"].get("application/x-ndjson", 0) > 0, body)
        st, body, _ = ctl.req("GET", "/_test/docs?index=t-events")
        check("/_test/docs lists the documents of a data stream with _id",
              st == 200 and [d["_id"] for d in body["docs"]] == ["e1"], body)
        st, body, _ = c.req("POST", "/_fault", {"mode": "bogus"})
        check("an unknown fault mode -> 400", st == 400, body)
        # Compress true: a gzip body with Content-Encoding: gzip is decoded.
        lines = ndjson("t-gz-1", [("gz%d" % i, doc(i)) for i in range(3)])
        raw = ("\n".join(json.dumps(x) for x in lines) + "\n").encode()
        st, body, _ = c.req("POST", "/_bulk", gzip.compress(raw), "application/x-ndjson",
                            headers={"Content-Encoding": "gzip"})
        check("a gzip-encoded _bulk body is decoded and its 3 documents stored",
              st == 200 and not body["errors"] and len(body["items"]) == 3
              and [item(body, i)["status"] for i in range(3)] == [201, 201, 201], body)
        st, body, _ = ctl.req("GET", "/_test/docs?index=t-gz-1")
        check("the gzip'd documents are stored with their fields",
              st == 200 and sorted(d["_id"] for d in body["docs"]) == ["gz0", "gz1", "gz2"]
              and all(d["_source"]["values"]["x"] == float(d["_id"][2:])
                      for d in body["docs"]), body)
        st, body, _ = ctl.req("GET", "/_test/requests")
        check("the request log records Content-Encoding gzip",
              st == 200 and any(r.get("encoding") == "gzip" for r in body["requests"]), "")
    finally:
        app.stop()


def test_opensearch():
    app = es_server.App("opensearch", user="vacmon", password="pw")
    port, _ = app.start(0, None)
    good = "Basic " + base64.b64encode(b"vacmon:pw").decode()
    c, anon = Client(port, good), Client(port)
    try:
        st, body, hdr = anon.req("GET", "/")
        check("OpenSearch with basic auth: no credentials -> 401 security_exception "
              "with WWW-Authenticate", st == 401 and body["error"]["type"] == "security_exception"
              and "WWW-Authenticate" in hdr, (st, body))
        st, body, _ = Client(port, "Basic " + base64.b64encode(b"vacmon:no").decode()).req(
            "GET", "/")
        check("wrong password -> 401", st == 401, st)
        st, body, hdr = c.req("GET", "/")
        check("GET / answers an OpenSearch 2 version body (distribution opensearch)",
              st == 200 and body["version"]["distribution"] == "opensearch"
              and body["version"]["number"].startswith("2.")
              and "X-elastic-product" not in hdr, body)
        st, body, _ = c.req("PUT", "/_index_template/ilm", {
            "index_patterns": ["ilm-*"], "template": {"settings": {
                "index": {"lifecycle": {"name": "p"}}}}})
        check("OpenSearch refuses index.lifecycle.* settings (ILM is Elasticsearch's)",
              st == 400 and "unknown setting [index.lifecycle.name]" in body["error"]["reason"],
              body)
        c.req("PUT", "/_index_template/t-events", DS_TPL)
        c.req("PUT", "/_index_template/t-metrics", METRICS_TPL)
        st, r, _ = c.bulk(ndjson("t-events", [("e1", {"@timestamp": "2026-11-23T02:00:00Z"})]))
        check("OpenSearch data stream backing index .ds-t-events-000001",
              item(r, 0)["_index"] == ".ds-t-events-000001", r)
        st, r, _ = c.bulk(ndjson("t-metrics-x", [("m0", doc(0)),
                                                 ("m1", doc(1, values={"x": "abc"}))]))
        check("OpenSearch mapping error type is mapper_parsing_exception",
              item(r, 0)["status"] == 201
              and item(r, 1)["error"]["type"] == "mapper_parsing_exception", r)
    finally:
        app.stop()

    app = es_server.App("elasticsearch", api_key="id1:key1")
    port, _ = app.start(0, None)
    try:
        key = "ApiKey " + base64.b64encode(b"id1:key1").decode()
        st1, _, _ = Client(port, key).req("GET", "/")
        st2, _, _ = Client(port, "ApiKey " + base64.b64encode(b"id1:x").decode()).req("GET", "/")
        check("API key auth: right key 200, wrong key 401", (st1, st2) == (200, 401), (st1, st2))
    finally:
        app.stop()


def test_tls():
    pki = es_server.make_test_pki(tempfile.mkdtemp(prefix="es-pki-"))
    app = es_server.App("elasticsearch", tls=es_server.tls_context(
        pki["server_cert"], pki["server_key"], pki["ca"]))
    port, _ = app.start(0, None)

    def get(client_cert):
        ctx = ssl.create_default_context(cafile=pki["ca"])
        if client_cert:
            ctx.load_cert_chain(pki["client_cert"], pki["client_key"])
        c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
        try:
            c.request("GET", "/")
            r = c.getresponse()
            return r.status, json.loads(r.read())
        except (ssl.SSLError, ConnectionError, OSError) as e:
            return type(e).__name__, None
        finally:
            c.close()
    try:
        st, body = get(True)
        check("TLS: HTTPS with the test CA and a client certificate -> 200",
              st == 200 and body["version"]["number"].startswith("8."), (st, body))
        st, _ = get(False)
        check("TLS: without a client certificate the handshake fails", st != 200, st)
        app.set_fault({"mode": "down", "duration": 0.3})
        time.sleep(0.6)
        st, _ = get(True)
        check("TLS: still HTTPS after down/up", st == 200, st)
    finally:
        app.stop()
        shutil.rmtree(os.path.dirname(pki["ca"]), ignore_errors=True)



def test_components_and_aggs():
    """@custom component templates as Elasticsearch 8.7+, 8.6 and OpenSearch treat
    them, and the aggregations of a VacMon query, with literal expected answers."""
    app = es_server.App("elasticsearch")
    port, _ = app.start(0, None)
    old = es_server.App("elasticsearch", version="8.6.2")
    oport, _ = old.start(0, None)
    osa = es_server.App("opensearch")
    osport, _ = osa.start(0, None)
    c, co, cs = Client(port), Client(oport), Client(osport)
    tpl = {"index_patterns": ["f-*"], "priority": 200, "composed_of": ["f@custom"],
           "template": {"mappings": {"dynamic": False, "properties": {
               "site": {"type": "keyword"}, "running_processors": {"type": "long"},
               "time_received": {"type": "date", "format": "epoch_second"}}}}}
    try:
        for cl, what in ((c, "Elasticsearch 8.15"), (co, "Elasticsearch 8.6"),
                         (cs, "OpenSearch 2")):
            st, body, _ = cl.req("GET", "/_component_template/f@custom")
            check("%s: GET of a missing component template -> 404 "
                  "resource_not_found_exception" % what,
                  st == 404 and body["error"]["type"] == "resource_not_found_exception",
                  (st, body))
            st, body, _ = cl.req("PUT", "/_index_template/f", tpl)
            check("%s: an index template composing a missing component -> 400 "
                  "invalid_index_template_exception" % what,
                  st == 400 and body["error"]["type"] == "invalid_index_template_exception"
                  and "f@custom" in body["error"]["reason"], (st, body))
            st, body, _ = cl.req("PUT", "/_index_template/f",
                                 dict(tpl, ignore_missing_component_templates=["f@custom"]))
            if cl is c:
                check("%s: ignore_missing_component_templates [f@custom] lets it in" % what,
                      st == 200, (st, body))
                cl.req("DELETE", "/_index_template/f")
                st, body, _ = cl.req("PUT", "/_index_template/f", dict(
                    tpl, ignore_missing_component_templates=["other@custom"]))
                check("%s: ignore_missing_component_templates naming another component does "
                      "not" % what, st == 400, (st, body))
            else:
                check("%s: ignore_missing_component_templates is an unknown field (400 "
                      "x_content_parse_exception)" % what,
                      st == 400 and body["error"]["type"] == "x_content_parse_exception"
                      and "ignore_missing_component_templates" in body["error"]["reason"],
                      (st, body))
            st, body, _ = cl.req("PUT", "/_component_template/f@custom", {
                "template": {}, "_meta": {"description": "site settings"}})
            check("%s: an empty component template is accepted" % what, st == 200, (st, body))
            st, body, _ = cl.req("PUT", "/_index_template/f", tpl)
            check("%s: then the index template composing it is accepted" % what, st == 200,
                  (st, body))
            st, body, _ = cl.req("GET", "/_component_template/f@custom")
            check("%s: GET of the component template -> 200 with its body" % what,
                  st == 200 and body["component_templates"][0]["name"] == "f@custom"
                  and body["component_templates"][0]["component_template"]["template"] == {},
                  body)
            st, body, _ = cl.req("DELETE", "/_component_template/f@custom")
            check("%s: a component template in use cannot be deleted (400)" % what,
                  st == 400 and "in use by index templates" in body["error"]["reason"],
                  (st, body))
        # The site's setting in the component reaches new indices.
        c.req("PUT", "/_component_template/f@custom",
              {"template": {"settings": {"index": {"number_of_replicas": 2}}}})
        c.bulk(ndjson("f-1", [("a", {"site": "S1", "running_processors": 4,
                                     "time_received": 1795400100})]))
        st, body, _ = c.req("GET", "/f-1")
        check("a site setting in the @custom component reaches the new index",
              st == 200 and body["f-1"]["settings"]["index"].get("index", {}).get(
                  "number_of_replicas", body["f-1"]["settings"]["index"].get(
                      "number_of_replicas")) == 2, body)
        # Aggregations: time_received 1795400100 = 2026-11-23T02:15:00Z.
        c.bulk(ndjson("f-1", [
            ("b", {"site": "S1", "running_processors": 8, "time_received": 1795400160}),
            ("c", {"site": "S2", "running_processors": 10, "time_received": 1795400170}),
            ("d", {"site": "S2", "time_received": 1795400500}),
            ("e", {"site": "S1", "running_processors": 1, "time_received": 1795401000})]))
        q = {"size": 0, "query": {"range": {"time_received": {"gte": 1795400000,
                                                              "lte": 1795401000}}},
             "aggs": {"t": {"date_histogram": {"field": "time_received",
                                               "fixed_interval": "300s", "offset": "100s",
                                               "min_doc_count": 1},
                            "aggs": {"s": {"terms": {"field": "site", "size": 99999},
                                           "aggs": {"rp": {"avg": {
                                               "field": "running_processors"}}}}}}}}
        st, body, _ = c.req("POST", "/f-*/_search", q)
        want = {"t": {"buckets": [
            {"key_as_string": "1795399900", "key": 1795399900000, "doc_count": 3,
             "s": {"doc_count_error_upper_bound": 0, "sum_other_doc_count": 0, "buckets": [
                 {"key": "S1", "doc_count": 2, "rp": {"value": 6.0}},
                 {"key": "S2", "doc_count": 1, "rp": {"value": 10.0}}]}},
            {"key_as_string": "1795400500", "key": 1795400500000, "doc_count": 1,
             "s": {"doc_count_error_upper_bound": 0, "sum_other_doc_count": 0, "buckets": [
                 {"key": "S2", "doc_count": 1, "rp": {"value": None}}]}},
            {"key_as_string": "1795400800", "key": 1795400800000, "doc_count": 1,
             "s": {"doc_count_error_upper_bound": 0, "sum_other_doc_count": 0, "buckets": [
                 {"key": "S1", "doc_count": 1, "rp": {"value": 1.0}}]}}]}}
        check("VacMon's query: date_histogram (300 s, offset, min_doc_count 1) > terms site > "
              "avg running_processors, as documented (avg of no values is null)",
              st == 200 and body.get("aggregations") == want
              and body["hits"]["total"]["value"] == 5, body.get("aggregations"))
        st, body, _ = c.req("POST", "/f-*/_search", {"size": 0, "aggs": {"t": {
            "date_histogram": {"field": "time_received", "fixed_interval": "300s"}}}})
        got = [(b["key"], b["doc_count"]) for b in body["aggregations"]["t"]["buckets"]]
        check("date_histogram with min_doc_count 0 (the default) fills empty buckets",
              got == [(1795400100000, 3), (1795400400000, 1), (1795400700000, 0),
                      (1795401000000, 1)], got)
        st, body, _ = c.req("POST", "/f-*/_search", {"size": 0, "aggs": {
            "n": {"terms": {"field": "site", "size": 1}},
            "s": {"sum": {"field": "running_processors"}},
            "x": {"max": {"field": "running_processors"}}}})
        a = body.get("aggregations", {})
        check("terms size 1 (doc_count desc), sum, max",
              a == {"n": {"doc_count_error_upper_bound": 0, "sum_other_doc_count": 2,
                          "buckets": [{"key": "S1", "doc_count": 3}]},
                    "s": {"value": 23.0}, "x": {"value": 10.0}}, a)
        st, body, _ = c.req("POST", "/f-*/_search", {"size": 0, "aggs": {"t": {
            "date_histogram": {"field": "time_received", "interval": "300s"}}}})
        check("Elasticsearch 8 refuses date_histogram's removed \"interval\"",
              st == 400 and "interval" in body["error"]["reason"], body)
        st, body, _ = c.req("POST", "/f-*/_search", {"size": 0, "aggs": {"t": {
            "date_histogram": {"field": "time_received", "calendar_interval": "1d"}}}})
        got = [(b["key_as_string"], b["doc_count"]) for b in body["aggregations"]["t"]["buckets"]]
        check("calendar_interval 1d: one bucket at the UTC midnight", got == [
            ("1795392000", 5)], got)
    finally:
        app.stop()
        old.stop()
        osa.stop()


def main():
    t0 = time.time()
    for fn in (test_elasticsearch, test_opensearch, test_tls, test_components_and_aggs):
        try:
            fn()
        except Exception:
            import traceback
            check("%s ran to the end" % fn.__name__, False, traceback.format_exc())
    print("INFO run time %.1f s" % (time.time() - t0))
    print("%d passed, %d failed" % (len(PASSED), len(FAILED)))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
