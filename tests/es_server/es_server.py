#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""An Elasticsearch-compatible test server (Elasticsearch 8 / OpenSearch 2).

No Elasticsearch can be installed on the test machines, so this stands in
for one: a threaded HTTP server, standard library only, that implements the
part of the REST API a bulk writer uses, as the Elasticsearch 8 and
OpenSearch 2 reference documents it:

  GET /                         version body (flavour elasticsearch 8.x or
                                opensearch 2.x)
  POST /_bulk, /<target>/_bulk  NDJSON: index, create, update, delete, with
                                per-item results in request order; create on
                                an existing _id -> 409
                                version_conflict_engine_exception; data
                                streams take only create; filter_path
  PUT/GET/HEAD/DELETE /_index_template/<name>, /_component_template/<name>
                                composable templates, validated mappings,
                                priority clashes refused as ES does; a
                                missing composed_of component refused unless
                                listed in ignore_missing_component_templates
                                (Elasticsearch 8.7+; unknown field before
                                and on OpenSearch); a component in use
                                cannot be deleted
  PUT/GET/DELETE /_data_stream/<name>; data streams are also created
                                implicitly by the first write to a name
                                whose best template has "data_stream": {}
  GET/POST /<pattern>/_count, /<pattern>/_search (size, from, sort,
                                match_all/term/terms/match/range/exists/bool,
                                q=field:value; hits.total.value; aggs:
                                date_histogram (fixed/calendar_interval,
                                offset, min_doc_count), terms (size, order
                                _count/_key), avg, sum, min, max,
                                value_count)
  PUT /<index>, DELETE /<index>, PUT /<pattern>/_mapping, GET /<i>/_mapping
  PUT/POST /<index>/_doc/<id>, POST /<index>/_doc, PUT /<index>/_create/<id>,
  GET /<index>/_doc/<id>        one document at a time (what vacmond did)
  POST /_refresh, /<i>/_refresh, GET /_cluster/health

Documents are checked against the index mapping (from the template, then
dynamic mapping as ES does): a value that does not fit the mapped type (a
string in a double field, an object in a keyword field, a NaN token, a bad
date) is refused with 400 document_parsing_exception (Elasticsearch 8.8+) or
mapper_parsing_exception (OpenSearch).

Test control (on the main port while it is up, and always on the control
port):

  POST /_fault  {"mode": M, ...}   fault injection, one fault at a time:
      ok                      clear the fault
      down     [duration]     stop listening and drop open connections; with
                              duration, listen again on the same port after
                              that many seconds (else until mode "up"/"ok")
      up                      listen again
      slow     delay [count]  delay each response by delay seconds
      429|500|502|503 [count] whole bulk/doc requests answered with that status
      partial  [every=2] [status=429] [count]
                              every <every>-th item (0, every, 2*every ...) of a
                              bulk request fails with status (429 or 5xx) and
                              is not stored
      413      limit [count]  bodies over limit bytes get 413
      reset    [count]        close the connection without an answer, nothing
                              stored
      lost     [count]        store the documents, then close the connection
                              without an answer (the client must resend and
                              gets 409 for what is already stored)
      count: how many requests the fault affects (default: until cleared).
  GET  /_test/stats              counters (requests, statuses, bodies, items
                                 by status, docs per index, templates)
  GET  /_test/docs?index=PATTERN every stored document with _index and _id
  GET  /_test/requests           the last 2000 requests (method, path, status,
                                 bytes, items, content type, auth kind)
  POST /_test/dump?path=FILE     write the store as JSON
  POST /_test/reset              forget documents, indices, data streams

Usage: es_server.py [--port N] [--control-port N] [--flavour elasticsearch|
opensearch] [--version V] [--port-file F] [--dump F] [--store full|ids]
[--max-content-length BYTES] [--user U --password P] [--api-key ID:KEY]
[--quiet]. --port-file gets "<port> <control port>" once both listen.
"""

import argparse
import base64
import collections
import datetime
import fnmatch
import gzip
import hashlib
import http.server
import ipaddress
import json
import math
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse

RESERVED_TEST = ("/_fault", "/_test/")
KNOWN_TYPES = {
    "keyword", "text", "match_only_text", "wildcard", "constant_keyword",
    "long", "integer", "short", "byte", "unsigned_long", "double", "float",
    "half_float", "scaled_float", "date", "date_nanos", "boolean", "object",
    "nested", "flattened", "ip", "geo_point", "binary", "alias",
}
INT_RANGES = {"long": (-2**63, 2**63 - 1), "integer": (-2**31, 2**31 - 1),
              "short": (-2**15, 2**15 - 1), "byte": (-128, 127),
              "unsigned_long": (0, 2**64 - 1)}
FLOAT_TYPES = {"double", "float", "half_float", "scaled_float"}
STRING_TYPES = {"keyword", "text", "match_only_text", "wildcard", "constant_keyword"}
COMMON_PARAMS = {"type", "fields", "index", "store", "doc_values", "meta",
                 "copy_to", "null_value", "boost", "ignore_malformed", "script",
                 "on_script_error"}
TYPE_PARAMS = {
    "keyword": {"ignore_above", "normalizer", "eager_global_ordinals", "similarity",
                "split_queries_on_whitespace", "time_series_dimension",
                "index_options", "norms"},
    "text": {"analyzer", "search_analyzer", "search_quote_analyzer", "fielddata",
             "fielddata_frequency_filter", "index_prefixes", "index_phrases", "norms",
             "position_increment_gap", "term_vector", "similarity", "index_options",
             "eager_global_ordinals"},
    "match_only_text": set(),
    "wildcard": {"ignore_above"},
    "constant_keyword": {"value"},
    "date": {"format", "locale", "print_format"},
    "date_nanos": {"format", "locale", "print_format"},
    "boolean": set(),
    "ip": set(),
    "flattened": {"depth_limit", "ignore_above", "similarity", "split_queries_on_whitespace",
                  "eager_global_ordinals", "index_options"},
    "geo_point": {"ignore_z_value"},
    "binary": set(),
    "alias": {"path"},
}
for _t in list(INT_RANGES) + list(FLOAT_TYPES):
    TYPE_PARAMS[_t] = {"coerce", "time_series_metric", "time_series_dimension"}
TYPE_PARAMS["scaled_float"] = TYPE_PARAMS["double"] | {"scaling_factor"}
OBJECT_PARAMS = {"type", "properties", "dynamic", "enabled", "subobjects",
                 "include_in_parent", "include_in_root"}
ROOT_PARAMS = {"properties", "dynamic", "dynamic_templates", "_source", "_routing",
               "_meta", "date_detection", "numeric_detection", "dynamic_date_formats",
               "runtime", "_data_stream_timestamp", "subobjects", "enabled"}
TEMPLATE_KEYS = {"index_patterns", "template", "composed_of", "priority", "version",
                 "_meta", "data_stream", "allow_auto_create",
                 "ignore_missing_component_templates", "deprecated"}
BULK_META = {"_index", "_id", "routing", "pipeline", "require_alias", "if_seq_no",
             "if_primary_term", "version", "version_type", "dynamic_templates",
             "retry_on_conflict", "_source", "require_data_stream",
             "list_executed_pipelines", "op_type"}
ISO_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?"
                    r"(Z|[+-]\d{2}(?::?\d{2})?)?$")
BAD_INDEX_CHARS = set('\\/*?"<>| ,#:')


class EsError(Exception):
    """An error answered in Elasticsearch's error body form."""

    def __init__(self, status, type_, reason, **extra):
        super().__init__(reason)
        self.status, self.type, self.reason, self.extra = status, type_, reason, extra

    def body(self):
        cause = dict({"type": self.type, "reason": self.reason}, **self.extra)
        return {"error": {"root_cause": [cause], "type": self.type, "reason": self.reason,
                          **self.extra}, "status": self.status}

    def item_error(self):
        return dict({"type": self.type, "reason": self.reason}, **self.extra)


def _reject_constant(name):
    raise ValueError("non-numeric token %s" % name)


def parse_json(text):
    """json.loads that refuses NaN and Infinity tokens, as Jackson does."""
    return json.loads(text, parse_constant=_reject_constant)


def parse_iso(s):
    """True when s is a strict_date_optional_time value."""
    m = ISO_RE.match(s)
    if not m:
        return False
    try:
        y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
        datetime.date(y, mo, d)
        if m.group(4) is not None:
            h, mi = int(m.group(4)), int(m.group(5))
            sec = int(m.group(6) or 0)
            if h > 23 or mi > 59 or sec > 59:
                return False
    except ValueError:
        return False
    return True


def preview(v):
    s = json.dumps(v) if isinstance(v, (dict, list)) else str(v)
    return s if len(s) <= 20 else s[:20] + "..."


def flatten_settings(s, prefix=""):
    out = {}
    for k, v in (s or {}).items():
        key = prefix + k
        if isinstance(v, dict):
            out.update(flatten_settings(v, key + "."))
        else:
            out[key] = v
    return out


def deep_merge(a, b):
    """A copy of dict a with dict b merged in (b wins)."""
    out = dict(a)
    for k, v in b.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def patterns_overlap(a, b):
    """Approximates whether two index patterns can match a common name."""
    return (fnmatch.fnmatchcase(a.replace("*", "x"), b)
            or fnmatch.fnmatchcase(b.replace("*", "x"), a)
            or a == b)


def validate_index_name(name):
    """Raises invalid_index_name_exception as ES does."""
    why = None
    if not name:
        why = "must not be empty"
    elif name != name.lower():
        why = "must be lowercase"
    elif any(c in BAD_INDEX_CHARS for c in name):
        why = 'must not contain the following characters [ , ", *, \\, <, |, ,, >, /, ?, #, :]'
    elif name[0] in "_-+":
        why = "must not start with '_', '-', or '+'"
    elif name in (".", ".."):
        why = "must not be '.' or '..'"
    elif len(name.encode()) > 255:
        why = "index name is too long"
    if why:
        raise EsError(400, "invalid_index_name_exception",
                      "Invalid index name [%s], %s" % (name, why), index=name)


# ---- mappings ----------------------------------------------------------------

def validate_mappings(m, where):
    """Raises mapper_parsing_exception for what ES 8 refuses in a mapping."""
    if not isinstance(m, dict):
        raise EsError(400, "mapper_parsing_exception", "Failed to parse mapping: not an object")
    bad = sorted(k for k in m if k not in ROOT_PARAMS)
    if bad:
        raise EsError(400, "mapper_parsing_exception",
                      "Failed to parse mapping: Root mapping definition has unsupported "
                      "parameters:  [%s]" % " ".join("%s : %s" % (k, m[k]) for k in bad))
    if m.get("dynamic", True) not in (True, False, "true", "false", "strict", "runtime"):
        raise EsError(400, "mapper_parsing_exception",
                      "Failed to parse mapping: dynamic must be true, false, strict or runtime")
    _validate_props(m.get("properties", {}), "")
    for dt in m.get("dynamic_templates", []):
        if not isinstance(dt, dict) or len(dt) != 1:
            raise EsError(400, "mapper_parsing_exception",
                          "Failed to parse mapping: malformed dynamic template")
        (name, body), = dt.items()
        if "mapping" not in body and "runtime" not in body:
            raise EsError(400, "mapper_parsing_exception",
                          "Failed to parse mapping: dynamic template [%s] has no mapping" % name)
        mt = body.get("match_mapping_type", "*")
        for t in (mt if isinstance(mt, list) else [mt]):
            if t not in ("*", "string", "long", "double", "boolean", "object", "date",
                         "binary"):
                raise EsError(400, "mapper_parsing_exception",
                              "Failed to parse mapping: No field type matched on [%s], "
                              "possible values are [object, string, long, double, boolean, "
                              "date, binary]" % t)


def _validate_props(props, prefix):
    if not isinstance(props, dict):
        raise EsError(400, "mapper_parsing_exception", "properties must be an object")
    for name, spec in props.items():
        path = prefix + name
        if not isinstance(spec, dict):
            raise EsError(400, "mapper_parsing_exception",
                          "Expected map for property [fields] on field [%s] but got a %s"
                          % (path, type(spec).__name__))
        t = spec.get("type", "object" if "properties" in spec else None)
        if t is None:
            raise EsError(400, "mapper_parsing_exception",
                          "No type specified for field [%s]" % path)
        if t not in KNOWN_TYPES:
            raise EsError(400, "mapper_parsing_exception",
                          "No handler for type [%s] declared on field [%s]" % (t, path))
        if t in ("object", "nested"):
            allowed = OBJECT_PARAMS
        else:
            allowed = COMMON_PARAMS | TYPE_PARAMS.get(t, set())
        for p in spec:
            if p not in allowed:
                raise EsError(400, "mapper_parsing_exception",
                              "unknown parameter [%s] on mapper [%s] of type [%s]" % (p, path, t))
        if t == "scaled_float" and "scaling_factor" not in spec:
            raise EsError(400, "mapper_parsing_exception",
                          "Field [scaling_factor] is required")
        if t in ("date", "date_nanos") and "format" in spec:
            for f in str(spec["format"]).split("||"):
                if f not in ("epoch_second", "epoch_millis", "strict_date_optional_time",
                             "date_optional_time", "strict_date_time", "date_time",
                             "strict_date_optional_time_nanos", "strict_date",
                             "date", "yyyy-MM-dd", "yyyy-MM-dd'T'HH:mm:ss.SSSZ",
                             "yyyy-MM-dd'T'HH:mm:ssZ", "yyyy-MM-dd HH:mm:ss"):
                    raise EsError(400, "mapper_parsing_exception",
                                  "Invalid format: [%s] (not known to the test server)" % f)
        if t in ("object", "nested"):
            _validate_props(spec.get("properties", {}), path + ".")
        for sub, sspec in (spec.get("fields") or {}).items():
            _validate_props({sub: sspec}, path + ".")


def dyn_kind(v):
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "long"
    if isinstance(v, float):
        return "double"
    if isinstance(v, str):
        return "date" if parse_iso(v) and re.match(r"^\d{4}-\d{2}-\d{2}", v) else "string"
    if isinstance(v, dict):
        return "object"
    return None


def dynamic_mapping(root, path, name, v):
    """The mapping ES would create for an unmapped field, or None."""
    kind = dyn_kind(v)
    if kind is None:
        return None
    for dt in root.get("dynamic_templates", []):
        (_, body), = dt.items()
        mt = body.get("match_mapping_type", "*")
        mts = mt if isinstance(mt, list) else [mt]
        if "*" not in mts and kind not in mts:
            continue
        if not all(_matches_rule(body, key, x)
                   for key, x in (("match", name), ("path_match", path))):
            continue
        if "mapping" not in body:
            return None
        m = json.loads(json.dumps(body["mapping"]).replace(
            "{dynamic_type}", {"string": "text", "long": "long", "double": "float",
                               "boolean": "boolean", "object": "object",
                               "date": "date"}[kind]))
        if "type" not in m:
            m["type"] = {"string": "text", "long": "long", "double": "float",
                         "boolean": "boolean", "object": "object", "date": "date"}[kind]
        if m["type"] == "object":
            m.setdefault("properties", {})
        return m
    return {"string": {"type": "text", "fields": {"keyword": {"type": "keyword",
                                                              "ignore_above": 256}}},
            "long": {"type": "long"}, "double": {"type": "float"},
            "boolean": {"type": "boolean"}, "date": {"type": "date"},
            "object": {"type": "object", "properties": {}}}[kind]


def _as_list(x):
    return x if isinstance(x, list) else [x]


def _matches_rule(body, key, x):
    """A dynamic template's match/unmatch (or path_match/path_unmatch) on x."""
    neg = key.replace("match", "unmatch")
    if key in body and not any(fnmatch.fnmatchcase(x, p) for p in _as_list(body[key])):
        return False
    return not (neg in body and any(fnmatch.fnmatchcase(x, p) for p in _as_list(body[neg])))


def check_scalar(t, spec, v, path, doc_id):
    """Raises EsError when value v does not fit field type t."""
    def fail(extra=""):
        raise EsError(400, "@parse", "failed to parse field [%s] of type [%s] in document with "
                      "id '%s'. Preview of field's value: '%s'%s" % (path, t, doc_id,
                                                                    preview(v), extra))
    if t in STRING_TYPES:
        if not isinstance(v, (str, int, float, bool)):
            fail()
    elif t in INT_RANGES or t in FLOAT_TYPES:
        if isinstance(v, bool):
            fail()
        if isinstance(v, str):
            try:
                x = float(v.strip())
            except ValueError:
                fail()
        elif isinstance(v, (int, float)):
            x = v
        else:
            fail()
        if isinstance(x, float) and not math.isfinite(x):
            fail()
        if t in INT_RANGES:
            lo, hi = INT_RANGES[t]
            if not lo <= int(x) <= hi:
                fail()
    elif t == "boolean":
        if not (isinstance(v, bool) or v in ("true", "false", "")):
            fail()
    elif t in ("date", "date_nanos"):
        fmts = str(spec.get("format", "strict_date_optional_time||epoch_millis")).split("||")
        epoch = any(f.startswith("epoch_") for f in fmts)
        iso = any(not f.startswith("epoch_") for f in fmts)
        ok = False
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            ok = epoch and math.isfinite(v)
        elif isinstance(v, str):
            if iso and parse_iso(v):
                ok = True
            elif epoch and re.match(r"^-?\d+(\.\d+)?$", v):
                ok = True
        if not ok:
            fail()
    elif t == "ip":
        try:
            ipaddress.ip_address(str(v))
        except ValueError:
            fail()


def check_doc(root, doc, doc_id):
    """Checks doc against mapping root; returns the new dynamic fields as
    (properties dict, name, mapping) tuples to add, or raises EsError."""
    adds = []
    _check_obj(root, root.get("properties", {}), doc, "", _dyn(root.get("dynamic", True)),
               doc_id, adds)
    return adds


def _dyn(d):
    return {"true": True, "false": False}.get(d, d) if isinstance(d, str) else d


def _check_obj(root, props, obj, prefix, dynamic, doc_id, adds):
    for k, v in obj.items():
        path = prefix + k
        if k == "":
            raise EsError(400, "@parse", "field name cannot be an empty string")
        spec = props.get(k)
        if spec is None:
            pending = [a for a in adds if a[0] is props and a[1] == k]
            spec = pending[0][2] if pending else None
        if v is None:
            continue
        if isinstance(v, list):  # each element as if it were the value
            for x in v:
                if x is not None:
                    _check_obj(root, props, {k: x}, prefix, dynamic, doc_id, adds)
            continue
        if spec is None:
            if dynamic == "strict":
                raise EsError(400, "strict_dynamic_mapping_exception",
                              "[1:2] mapping set to strict, dynamic introduction of [%s] "
                              "within [%s] is not allowed" % (k, prefix[:-1] or "_doc"))
            if dynamic is False or dynamic == "runtime":
                continue
            spec = dynamic_mapping(root, path, k, v)
            if spec is None:
                continue
            adds.append((props, k, spec))
        t = spec.get("type", "object" if "properties" in spec else None)
        if t in ("object", "nested"):
            if not isinstance(v, dict):
                raise EsError(400, "@parse", "object mapping for [%s] tried to parse field "
                              "[%s] as object, but found a concrete value" % (path, k))
            if spec.get("enabled", True) is False:
                continue
            _check_obj(root, spec.setdefault("properties", {}), v, path + ".",
                       _dyn(spec.get("dynamic", dynamic)), doc_id, adds)
        elif t == "flattened":
            continue
        else:
            if isinstance(v, dict):
                raise EsError(400, "@parse", "failed to parse field [%s] of type [%s] in "
                              "document with id '%s'. Preview of field's value: '%s'"
                              % (path, t, doc_id, preview(v)))
            check_scalar(t, spec, v, path, doc_id)


# ---- the store -----------------------------------------------------------------

class Index:
    def __init__(self, name, mappings, settings, data_stream=None):
        self.name = name
        self.mappings = json.loads(json.dumps(mappings or {}))
        self.mappings.setdefault("properties", {})
        self.settings = settings or {}
        self.data_stream = data_stream
        self.docs = collections.OrderedDict()  # _id -> source (or None in ids mode)
        self.versions = {}
        self.uuid = hashlib.sha1(name.encode()).hexdigest()[:22]
        self.created = time.time()


class Store:
    """Indices, data streams, templates; one lock around everything."""

    def __init__(self, flavour, keep_source=True):
        self.flavour = flavour
        self.keep_source = keep_source
        self.lock = threading.RLock()
        self.indices = {}
        self.streams = {}  # name -> list of backing index names
        self.templates = {}
        self.components = {}
        self.version = (8, 15) if flavour == "elasticsearch" else (2, 17)
        self.seq = 0
        if flavour == "elasticsearch":  # the built-ins of ES 8 (priority 100)
            for n in ("logs", "metrics", "synthetics"):
                self.templates[n] = {"index_patterns": ["%s-*-*" % n], "priority": 100,
                                     "data_stream": {}, "composed_of": [],
                                     "_meta": {"managed": True}}

    # -- templates --

    def put_template(self, name, body):
        if not isinstance(body, dict):
            raise EsError(400, "parse_exception", "request body is required")
        bad = [k for k in body if k not in TEMPLATE_KEYS]
        if bad:
            raise EsError(400, "x_content_parse_exception",
                          "[1:2] [index_template] unknown field [%s]" % bad[0])
        pats = body.get("index_patterns")
        if isinstance(pats, str):
            pats = [pats]
        if not pats or not all(isinstance(p, str) for p in pats):
            raise EsError(400, "action_request_validation_exception",
                          "Validation Failed: 1: index patterns are missing;")
        tpl = body.get("template") or {}
        bad = [k for k in tpl if k not in ("settings", "mappings", "aliases", "lifecycle")]
        if bad:
            raise EsError(400, "x_content_parse_exception",
                          "[1:2] [template] unknown field [%s]" % bad[0])
        ign = body.get("ignore_missing_component_templates")
        if ign is not None:
            if self.flavour != "elasticsearch" or self.version < (8, 7):
                raise EsError(400, "x_content_parse_exception",
                              "[1:2] [index_template] unknown field "
                              "[ignore_missing_component_templates]")
            ign = [ign] if isinstance(ign, str) else ign
            if not isinstance(ign, list) or not all(isinstance(x, str) for x in ign):
                raise EsError(400, "x_content_parse_exception",
                              "[ignore_missing_component_templates] must be a list of names")
        for c in body.get("composed_of") or []:
            if c not in self.components and c not in (ign or []):
                raise EsError(400, "invalid_index_template_exception",
                              "index_template [%s] invalid, cause [index template [%s] specifies "
                              "component templates [%s] that do not exist]" % (name, name, c))
        merged = self._compose(body)
        if "mappings" in merged:
            validate_mappings(merged["mappings"], name)
        self._check_settings(merged.get("settings"))
        prio = int(body.get("priority", 0) or 0)
        with self.lock:
            for other, ob in self.templates.items():
                if other == name or int(ob.get("priority", 0) or 0) != prio:
                    continue
                clash = [p for p in pats for q in ob["index_patterns"] if patterns_overlap(p, q)]
                if clash:
                    raise EsError(400, "illegal_argument_exception",
                                  "index template [%s] has index patterns %s matching patterns "
                                  "from existing templates [%s] with patterns (%s => %s) that "
                                  "have the same priority [%d], multiple index templates may "
                                  "not match during index creation, please use a different "
                                  "priority" % (name, json.dumps(pats), other, other,
                                                json.dumps(ob["index_patterns"]), prio))
            self.templates[name] = dict(body, index_patterns=pats)

    def _check_settings(self, settings):
        flat = flatten_settings(settings)
        for k in flat:
            key = k if k.startswith("index.") else "index." + k
            if self.flavour == "opensearch" and key.startswith("index.lifecycle."):
                bad = key
            elif self.flavour == "elasticsearch" and (key.startswith("index.plugins.")
                                                      or key.startswith("index.opendistro.")):
                bad = key
            else:
                continue
            raise EsError(400, "illegal_argument_exception",
                          "unknown setting [%s] please check that any required plugins are "
                          "installed, or check the breaking changes documentation for removed "
                          "settings" % bad)

    def _compose(self, body):
        out = {}
        for c in body.get("composed_of") or []:
            if c in self.components:
                out = deep_merge(out, self.components[c].get("template") or {})
        return deep_merge(out, body.get("template") or {})

    def best_template(self, index):
        with self.lock:
            best = None
            for name, t in self.templates.items():
                if any(fnmatch.fnmatchcase(index, p) for p in t["index_patterns"]):
                    p = int(t.get("priority", 0) or 0)
                    if best is None or p > best[0]:
                        best = (p, name, t)
            return best

    # -- indices --

    def resolve_write(self, target, op):
        """The concrete index a write to target goes to (creating it)."""
        with self.lock:
            if target in self.streams:
                if op not in ("create",):
                    raise EsError(400, "illegal_argument_exception",
                                  "only write ops with an op_type of create are allowed in "
                                  "data streams")
                return self.indices[self.streams[target][-1]]
            if target in self.indices:
                return self.indices[target]
            validate_index_name(target)
            best = self.best_template(target)
            tpl = self._compose(best[2]) if best else {}
            if best and best[2].get("data_stream") is not None:
                if op not in ("create",):
                    raise EsError(400, "illegal_argument_exception",
                                  "only write ops with an op_type of create are allowed in "
                                  "data streams")
                return self._new_stream(target, tpl)
            ix = Index(target, tpl.get("mappings"), tpl.get("settings"))
            self.indices[target] = ix
            return ix

    def _new_stream(self, name, tpl):
        day = time.strftime("%Y.%m.%d", time.gmtime())
        backing = (".ds-%s-%s-000001" % (name, day) if self.flavour == "elasticsearch"
                   else ".ds-%s-000001" % name)
        m = json.loads(json.dumps(tpl.get("mappings") or {}))
        props = m.setdefault("properties", {})
        props.setdefault("@timestamp", {"type": "date"})
        ix = Index(backing, m, tpl.get("settings"), data_stream=name)
        self.indices[backing] = ix
        self.streams[name] = [backing]
        return ix

    def create_stream(self, name):
        with self.lock:
            if name in self.streams:
                raise EsError(400, "resource_already_exists_exception",
                              "data_stream [%s] already exists" % name)
            validate_index_name(name)
            best = self.best_template(name)
            if not best or best[2].get("data_stream") is None:
                raise EsError(400, "illegal_argument_exception",
                              "no matching index template found for data stream [%s]" % name)
            self._new_stream(name, self._compose(best[2]))

    def resolve_read(self, expr, allow_missing=False):
        """Concrete indices for a comma list of names/patterns/data streams."""
        out = []
        with self.lock:
            for part in (expr or "_all").split(","):
                part = part.strip()
                if part in ("_all", "*", ""):
                    part = "*"
                neg = part.startswith("-")
                if neg:
                    part = part[1:]
                hits = []
                if "*" in part or "?" in part:
                    for ds, back in self.streams.items():
                        if fnmatch.fnmatchcase(ds, part):
                            hits += back
                    hits += [n for n, ix in self.indices.items()
                             if ix.data_stream is None and not n.startswith(".")
                             and fnmatch.fnmatchcase(n, part)]
                    hits += [n for n in self.indices if n.startswith(".")
                             and part.startswith(".") and fnmatch.fnmatchcase(n, part)]
                elif part in self.streams:
                    hits = list(self.streams[part])
                elif part in self.indices:
                    hits = [part]
                elif not allow_missing:
                    raise EsError(404, "index_not_found_exception", "no such index [%s]" % part,
                                  index=part, **{"resource.type": "index_or_alias",
                                                 "resource.id": part})
                if neg:
                    out = [x for x in out if x not in hits]
                else:
                    out += [x for x in hits if x not in out]
            return [self.indices[n] for n in out]

    # -- documents --

    def write(self, op, target, doc_id, source, fault_status=None):
        """One bulk/doc operation; returns the item dict (status inside)."""
        with self.lock:
            ix = self.resolve_write(target, op)
            if fault_status:
                name = ("es_rejected_execution_exception" if fault_status == 429
                        else "unavailable_shards_exception")
                raise EsError(fault_status, name,
                              "rejected execution of primary operation [shard_detail=[%s][0]"
                              "[P]] (test server fault)" % ix.name if fault_status == 429 else
                              "[%s][0] primary shard is not active Timeout: [1m] (test server "
                              "fault)" % ix.name, index_uuid=ix.uuid, shard="0", index=ix.name)
            if doc_id is None and op in ("create", "index"):
                doc_id = base64.urlsafe_b64encode(os.urandom(15)).decode().rstrip("=")
            if op == "delete":
                if doc_id in ix.docs:
                    del ix.docs[doc_id]
                    ix.versions[doc_id] += 1
                    return self._ok(ix, doc_id, "deleted", 200)
                return self._ok(ix, doc_id, "not_found", 404)
            if op == "update":
                if ix.data_stream:
                    raise EsError(400, "illegal_argument_exception",
                                  "only write ops with an op_type of create are allowed in "
                                  "data streams")
                if not isinstance(source, dict) or not ("doc" in source or "upsert" in source):
                    raise EsError(400, "action_request_validation_exception",
                                  "Validation Failed: 1: script or doc is missing;")
                if doc_id not in ix.docs:
                    if source.get("doc_as_upsert") or "upsert" in source:
                        source = source.get("upsert", source.get("doc"))
                        op = "create"
                    else:
                        raise EsError(404, "document_missing_exception",
                                      "[%s]: document missing" % doc_id,
                                      index_uuid=ix.uuid, shard="0", index=ix.name)
                else:
                    old = ix.docs[doc_id] or {}
                    source = deep_merge(old, source["doc"])
            if not isinstance(source, dict):
                raise EsError(400, "@parse", "failed to parse, document is empty")
            if op == "create" and doc_id in ix.docs:
                raise EsError(409, "version_conflict_engine_exception",
                              "[%s]: version conflict, document already exists (current "
                              "version [%d])" % (doc_id, ix.versions[doc_id]),
                              index_uuid=ix.uuid, shard="0", index=ix.name)
            if ix.data_stream and source.get("@timestamp") is None:
                raise EsError(400, "@parse", "data stream timestamp field [@timestamp] is "
                              "missing")
            adds = check_doc(ix.mappings, source, doc_id)
            for props, k, spec in adds:
                props.setdefault(k, spec)
            existed = doc_id in ix.docs
            ix.docs[doc_id] = source if self.keep_source else None
            ix.versions[doc_id] = ix.versions.get(doc_id, 0) + 1
            return self._ok(ix, doc_id, "updated" if existed else "created",
                            200 if existed else 201)

    def _ok(self, ix, doc_id, result, status):
        self.seq += 1
        return {"_index": ix.name, "_id": doc_id, "_version": ix.versions.get(doc_id, 1),
                "result": result, "_shards": {"total": 2, "successful": 1, "failed": 0},
                "_seq_no": self.seq, "_primary_term": 1, "status": status}

    def docs_per_index(self):
        with self.lock:
            return {n: len(ix.docs) for n, ix in self.indices.items()}


# ---- queries -------------------------------------------------------------------

def get_field(src, path):
    if path.endswith(".keyword"):
        path = path[:-len(".keyword")]
    if path in src:
        return src[path]
    cur = src
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def _eq(a, b):
    if isinstance(a, list):
        return any(_eq(x, b) for x in a)
    if a is None:
        return False
    if isinstance(a, (int, float)) and not isinstance(a, bool):
        try:
            return float(a) == float(b)
        except (TypeError, ValueError):
            return False
    if isinstance(a, bool) or isinstance(b, bool):
        return str(a).lower() == str(b).lower()
    return str(a) == str(b)


def _cmp_val(v):
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return (0, float(v), "")
    return (1, 0.0, str(v))


def matches(q, src):
    """Evaluates a (small) query DSL subset against one source."""
    if not q:
        return True
    if not isinstance(q, dict) or len(q) != 1:
        raise EsError(400, "parsing_exception", "[_na] query malformed, must start with start_object")
    (kind, body), = q.items()
    if kind == "match_all":
        return True
    if kind == "match_none":
        return False
    if kind in ("term", "match", "match_phrase"):
        (f, v), = body.items()
        if isinstance(v, dict):
            v = v.get("value", v.get("query"))
        return _eq(get_field(src, f), v)
    if kind == "terms":
        (f, vs), = [(k, v) for k, v in body.items() if k != "boost"]
        return any(_eq(get_field(src, f), v) for v in vs)
    if kind == "exists":
        return get_field(src, body["field"]) is not None
    if kind == "prefix":
        (f, v), = body.items()
        x = get_field(src, f)
        return isinstance(x, str) and x.startswith(v if isinstance(v, str) else v["value"])
    if kind == "range":
        (f, r), = body.items()
        x = get_field(src, f)
        if x is None:
            return False
        for op, lim in r.items():
            if op not in ("gt", "gte", "lt", "lte"):
                continue
            a, b = _cmp_val(x), _cmp_val(lim)
            if op == "gt" and not a > b or op == "gte" and not a >= b \
                    or op == "lt" and not a < b or op == "lte" and not a <= b:
                return False
        return True
    if kind == "bool":
        def lst(k):
            x = body.get(k, [])
            return x if isinstance(x, list) else [x]
        if not all(matches(c, src) for c in lst("must") + lst("filter")):
            return False
        if any(matches(c, src) for c in lst("must_not")):
            return False
        should = lst("should")
        need = body.get("minimum_should_match",
                        0 if (lst("must") or lst("filter")) else (1 if should else 0))
        return sum(1 for c in should if matches(c, src)) >= int(need)
    if kind == "ids":
        return False  # handled by the caller (needs _id)
    raise EsError(400, "parsing_exception", "unknown query [%s]" % kind)



# ---- aggregations (date_histogram, terms, avg/sum/min/max/value_count) ------------
#
# The response shapes of the Elasticsearch 8 / OpenSearch 2 aggregation
# reference: bucket aggregations answer {"buckets": [...]} (terms also
# doc_count_error_upper_bound and sum_other_doc_count), each bucket with key,
# doc_count and its sub-aggregations; date_histogram keys are epoch
# milliseconds with key_as_string in the field's format; metric
# aggregations answer {"value": x} (null for avg/min/max over no values).

UNIT_MS = {"ms": 1, "s": 1000, "m": 60000, "h": 3600000, "d": 86400000}
CALENDAR = {"minute": "1m", "1m": "1m", "hour": "1h", "1h": "1h", "day": "1d", "1d": "1d"}


def _interval_ms(text, what):
    m = re.match(r"^([+-]?\d+)(ms|s|m|h|d)$", str(text).strip())
    if not m:
        raise EsError(400, "illegal_argument_exception",
                      "failed to parse setting [%s] with value [%s] as a time value: unit is "
                      "missing or unrecognized" % (what, text))
    return int(m.group(1)) * UNIT_MS[m.group(2)]


def field_spec(ixs, field):
    """The mapping of field in the first of ixs that maps it (or None)."""
    for ix in ixs:
        cur = ix.mappings.get("properties", {})
        spec = None
        for part in field.split("."):
            spec = cur.get(part) if isinstance(cur, dict) else None
            if spec is None:
                break
            cur = spec.get("properties", {})
        if spec is not None:
            return spec
    return None


def _values(src, field):
    v = get_field(src or {}, field)
    if v is None:
        return []
    return [x for x in (v if isinstance(v, list) else [v]) if x is not None]


def date_ms(v, spec):
    """Epoch milliseconds of a date value as the field's format reads it."""
    fmts = str((spec or {}).get("format", "strict_date_optional_time||epoch_millis")).split("||")
    if isinstance(v, str) and not re.match(r"^-?\d+(\.\d+)?$", v):
        s = v.replace("Z", "+00:00")
        if "T" not in s and len(s) == 10:
            s += "T00:00:00+00:00"
        d = datetime.datetime.fromisoformat(s)
        if d.tzinfo is None:
            d = d.replace(tzinfo=datetime.timezone.utc)
        return int(d.timestamp() * 1000)
    x = float(v)
    first_epoch = next((f for f in fmts if f.startswith("epoch_")), "epoch_millis")
    return int(x * 1000) if first_epoch == "epoch_second" else int(x)


def _date_string(ms, spec):
    fmt = str((spec or {}).get("format", "strict_date_optional_time")).split("||")[0]
    if fmt == "epoch_second":
        return str(ms // 1000)
    if fmt == "epoch_millis":
        return str(ms)
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def _calendar_floor(ms, unit):
    d = datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc)
    if unit == "1m":
        d = d.replace(second=0, microsecond=0)
    elif unit == "1h":
        d = d.replace(minute=0, second=0, microsecond=0)
    else:
        d = d.replace(hour=0, minute=0, second=0, microsecond=0)
    return int(d.timestamp() * 1000)


def run_aggs(aggs, hits, ixs, flavour):
    """The "aggregations" object of a search for the (index, id, source) hits."""
    if not isinstance(aggs, dict):
        raise EsError(400, "parsing_exception", "Expected [START_OBJECT] under [aggs]")
    return {name: _one_agg(name, body, hits, ixs, flavour) for name, body in aggs.items()}


def _one_agg(name, body, hits, ixs, flavour):
    if not isinstance(body, dict):
        raise EsError(400, "parsing_exception", "Expected [START_OBJECT] under [%s]" % name)
    subs = body.get("aggs", body.get("aggregations")) or {}
    kinds = [k for k in body if k not in ("aggs", "aggregations", "meta")]
    if len(kinds) != 1:
        raise EsError(400, "parsing_exception",
                      "Expected exactly one aggregation type in [%s], found %s" % (name, kinds))
    kind = kinds[0]
    spec = body[kind]
    field = spec.get("field") if isinstance(spec, dict) else None
    if kind in ("avg", "sum", "min", "max", "value_count"):
        xs = []
        for _ix, _id, src in hits:
            for v in _values(src, field):
                try:
                    xs.append(float(v))
                except (TypeError, ValueError):
                    pass
        if kind == "value_count":
            return {"value": len(xs)}
        if kind == "sum":
            return {"value": float(sum(xs))}
        if not xs:
            return {"value": None}
        return {"value": {"avg": sum(xs) / len(xs), "min": min(xs), "max": max(xs)}[kind]}
    if kind == "terms":
        fspec = field_spec(ixs, field) or {}
        groups = collections.OrderedDict()
        for h in hits:
            seen = set()
            for v in _values(h[2], field):
                key = v if fspec.get("type") not in ("keyword", None) else str(v) \
                    if not isinstance(v, bool) else str(v).lower()
                if isinstance(key, float) and key.is_integer() and fspec.get("type") in (
                        "long", "integer", "short", "byte"):
                    key = int(key)
                if key in seen:
                    continue
                seen.add(key)
                groups.setdefault(key, []).append(h)
        order = spec.get("order") or {"_count": "desc"}
        if isinstance(order, list):
            order = order[0]
        (okey, odir), = order.items()
        items = sorted(groups.items(), key=lambda kv: _cmp_val(kv[0]))
        if okey == "_count":
            items.sort(key=lambda kv: len(kv[1]), reverse=(odir == "desc"))
        elif okey == "_key":
            items.sort(key=lambda kv: _cmp_val(kv[0]), reverse=(odir == "desc"))
        else:
            raise EsError(400, "illegal_argument_exception",
                          "the test server orders terms only by _count or _key")
        mdc = int(spec.get("min_doc_count", 1))
        items = [kv for kv in items if len(kv[1]) >= mdc]
        size = int(spec.get("size", 10))
        shown, rest = items[:size], items[size:]
        return {"doc_count_error_upper_bound": 0,
                "sum_other_doc_count": sum(len(v) for _k, v in rest),
                "buckets": [dict({"key": k, "doc_count": len(v)},
                                 **run_aggs(subs, v, ixs, flavour)) for k, v in shown]}
    if kind == "date_histogram":
        fspec = field_spec(ixs, field)
        if "interval" in spec and flavour == "elasticsearch":
            raise EsError(400, "x_content_parse_exception",
                          "[1:1] [date_histogram] unknown field [interval]")
        cal = spec.get("calendar_interval")
        fixed = spec.get("fixed_interval", spec.get("interval"))
        if (cal is None) == (fixed is None):
            raise EsError(400, "illegal_argument_exception",
                          "Invalid interval specified, must be non-null and non-empty")
        offset = _interval_ms(spec.get("offset", "0ms"), "offset")
        if cal is not None:
            unit = CALENDAR.get(str(cal))
            if unit is None:
                raise EsError(400, "illegal_argument_exception",
                              "The supplied interval [%s] could not be parsed as a calendar "
                              "interval." % cal)
            step = UNIT_MS[unit[-1]]

            def floor(ms):
                return _calendar_floor(ms - offset, unit) + offset
        else:
            step = _interval_ms(fixed, "fixed_interval")
            if step <= 0:
                raise EsError(400, "illegal_argument_exception", "Zero or negative time interval "
                              "not supported")

            def floor(ms):
                return (ms - offset) // step * step + offset
        groups = {}
        for h in hits:
            for v in _values(h[2], field)[:1]:
                groups.setdefault(floor(date_ms(v, fspec)), []).append(h)
        mdc = int(spec.get("min_doc_count", 0))
        keys = sorted(groups)
        if mdc == 0 and keys:  # empty buckets between the first and the last
            k, full = keys[0], []
            while k <= keys[-1]:
                full.append(k)
                k = floor(k + step)
            keys = full
        buckets = []
        for k in keys:
            v = groups.get(k, [])
            if len(v) < mdc:
                continue
            b = {"key_as_string": _date_string(k, fspec), "key": k, "doc_count": len(v)}
            b.update(run_aggs(subs, v, ixs, flavour))
            buckets.append(b)
        return {"buckets": buckets}
    raise EsError(400, "unknown_named_object_exception",
                  "[1:1] unknown aggregation type [%s] (the test server has date_histogram, "
                  "terms, avg, sum, min, max, value_count)" % kind)

def query_from_q(q):
    """q=field:value (one term, or *)."""
    if not q or q == "*":
        return {"match_all": {}}
    if ":" in q:
        f, v = q.split(":", 1)
        return {"term": {f: v.strip('"')}}
    raise EsError(400, "query_shard_exception", "test server supports only q=field:value")


def filter_path(obj, spec):
    """ES response filtering (filter_path): comma list of dotted patterns."""
    pats = [p.split(".") for p in spec.split(",") if p and not p.startswith("-")]
    if not pats:
        return obj

    def keep(o, plist):
        if not plist:
            return o
        if any(not p for p in plist):
            return o
        if isinstance(o, list):
            out = [keep(x, plist) for x in o]
            return [x for x in out if x is not None]
        if not isinstance(o, dict):
            return None
        res = {}
        for k, v in o.items():
            sub = [p[1:] for p in plist if p and (p[0] == "**" or fnmatch.fnmatchcase(k, p[0]))]
            sub += [p for p in plist if p and p[0] == "**"]
            if not sub:
                continue
            if any(len(p) == 0 for p in sub):
                res[k] = v
                continue
            r = keep(v, sub)
            if r is not None and r != {} and r != []:
                res[k] = r
        return res if res else None
    r = keep(obj, pats)
    return r if r is not None else {}


# ---- the server ----------------------------------------------------------------

class Fault:
    def __init__(self, spec):
        self.mode = str(spec.get("mode", "ok"))
        self.count = spec.get("count")
        self.delay = float(spec.get("delay", 0) or 0)
        self.every = max(1, int(spec.get("every", 2) or 2))
        self.status = int(spec.get("status", 429 if self.mode == "partial" else 0) or 0)
        self.limit = int(spec.get("limit", 0) or 0)
        self.on = spec.get("on", "write")  # write: bulk and single-doc writes; all
        self.hits = 0

    def applies(self, kind):
        return self.on == "all" or kind == "write"

    def take(self):
        """Consumes one use; False when exhausted."""
        if self.count is not None and self.hits >= int(self.count):
            return False
        self.hits += 1
        return True

    def exhausted(self):
        return self.count is not None and self.hits >= int(self.count)


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = collections.Counter()  # "METHOD kind" -> n
        self.statuses = collections.Counter()  # "kind status" -> n
        self.items = collections.Counter()  # "op status" -> n
        self.bulk_requests = 0
        self.bulk_bytes = 0
        self.bulk_items = 0
        self.max_bulk_bytes = 0
        self.max_bulk_items = 0
        self.content_types = collections.Counter()
        self.auth = collections.Counter()
        self.faults = collections.Counter()  # mode -> times applied
        self.templates_put = []  # [name, status]
        self.log = collections.deque(maxlen=2000)
        self.first_store = None
        self.last_store = None
        self.stored = 0

    def as_dict(self, store):
        with self.lock:
            return {"requests": dict(self.requests), "statuses": dict(self.statuses),
                    "items": dict(self.items), "bulk_requests": self.bulk_requests,
                    "bulk_bytes": self.bulk_bytes, "bulk_items": self.bulk_items,
                    "max_bulk_bytes": self.max_bulk_bytes, "max_bulk_items": self.max_bulk_items,
                    "content_types": dict(self.content_types), "auth": dict(self.auth),
                    "faults": dict(self.faults), "templates_put": list(self.templates_put),
                    "stored": self.stored, "first_store": self.first_store,
                    "last_store": self.last_store,
                    "docs_per_index": store.docs_per_index(),
                    "templates": sorted(store.templates),
                    "data_streams": {k: list(v) for k, v in store.streams.items()}}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "es-test-server"
    sys_version = ""

    def log_message(self, fmt, *args):
        if not self.server.app.quiet:
            sys.stderr.write("es_server: %s\n" % (fmt % args))

    def setup(self):
        super().setup()
        # One segment per answer: no Nagle / delayed-ACK stall of 40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.app.track(self.connection, True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.app.track(self.connection, False)

    def handle_expect_100(self):
        app = self.server.app
        n = int(self.headers.get("Content-Length") or 0)
        if n > app.max_content_length:
            self.send_json(413, None, close=True)
            return False
        return super().handle_expect_100()

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def do_HEAD(self):
        self.dispatch("HEAD")

    def send_json(self, status, obj, close=False, headers=None):
        body = b"" if obj is None else json.dumps(obj, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        if self.server.app.flavour == "elasticsearch":
            self.send_header("X-elastic-product", "Elasticsearch")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self._headers_buffer.append(b"\r\n")
        if self.command != "HEAD":
            self._headers_buffer.append(body)
        self.flush_headers()  # headers and body in one write
        self._status = status

    def dispatch(self, method):
        app = self.server.app
        t0 = time.time()
        self._status = None
        url = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(url.path)
        params = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n > 0 else b""
        rec = {"t": round(t0, 3), "method": method, "path": self.path, "bytes": len(raw),
               "ctype": self.headers.get("Content-Type", ""), "status": None, "items": 0,
               "encoding": self.headers.get("Content-Encoding", "")}
        try:
            if path.startswith(RESERVED_TEST) or path == "/_fault":
                status, obj = app.control(method, path, params, raw)
                self.send_json(status, obj)
                return
            if self.headers.get("Content-Encoding", "").lower() == "gzip":
                raw = gzip.decompress(raw)
            rec["auth"] = app.check_auth(self.headers, path)
            kind = app.kind(method, path)
            rec["kind"] = kind
            fault = app.fault_for(kind, len(raw))
            if fault is not None:
                if fault.mode == "reset":
                    app.count_fault(fault)
                    rec["status"] = "reset"
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if fault.mode in ("429", "500", "502", "503"):
                    app.count_fault(fault)
                    st = int(fault.mode)
                    e = EsError(st, "es_rejected_execution_exception" if st == 429
                                else "unavailable_shards_exception",
                                "rejected execution of coordinating operation (test server "
                                "fault)" if st == 429 else "test server fault %d" % st)
                    self.send_json(st, e.body())
                    return
                if fault.mode == "413":
                    app.count_fault(fault)
                    self.send_json(413, None, close=True)
                    return
            if len(raw) > app.max_content_length:
                self.send_json(413, None, close=True)
                return
            status, obj = app.route(method, path, params, raw, self.headers, rec, fault)
            if fault is not None and fault.mode == "slow":
                app.count_fault(fault)
                time.sleep(fault.delay)
            if fault is not None and fault.mode == "lost":
                app.count_fault(fault)
                rec["status"] = "lost"
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if obj is not None and "filter_path" in params:
                obj = filter_path(obj, params["filter_path"])
            hdr = {}
            if status == 401:
                hdr["WWW-Authenticate"] = 'Basic realm="security" charset="UTF-8"'
            self.send_json(status, obj, headers=hdr)
        except EsError as e:
            self.send_json(e.status, e.body(),
                           headers={"WWW-Authenticate": 'Basic realm="security"'}
                           if e.status == 401 else None)
        except (ConnectionError, OSError):
            self.close_connection = True
        except Exception as e:  # a server bug must show, not hang the client
            import traceback
            traceback.print_exc()
            err = EsError(500, "test_server_exception", "%s: %s" % (type(e).__name__, e))
            self.send_json(500, err.body())
        finally:
            if rec["status"] is None:
                rec["status"] = self._status
            rec["ms"] = round((time.time() - t0) * 1000, 2)
            app.record(rec)


class TrackingServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class App:
    def __init__(self, flavour="elasticsearch", version=None, keep_source=True,
                 max_content_length=100 * 1024 * 1024, user=None, password=None,
                 api_key=None, quiet=True, tls=None):
        self.tls = tls  # an ssl.SSLContext (server side) for the main port, or None
        self.flavour = flavour
        self.version = version or ("8.15.0" if flavour == "elasticsearch" else "2.17.0")
        self.store = Store(flavour, keep_source)
        self.store.version = tuple(int(x) for x in self.version.split(".")[:2])
        self.stats = Stats()
        self.max_content_length = max_content_length
        self.user, self.password, self.api_key = user, password, api_key
        self.quiet = quiet
        self.fault = None
        self.flock = threading.Lock()
        self.conns = set()
        self.clock = threading.Lock()
        self.httpd = None
        self.port = None
        self.up_timer = None
        self.ctl = None
        self.parse_error = ("document_parsing_exception" if flavour == "elasticsearch"
                            and tuple(int(x) for x in self.version.split(".")[:2]) >= (8, 8)
                            else "mapper_parsing_exception")

    # -- listening --

    def start(self, port=0, control_port=None, host="127.0.0.1"):
        self.host = host
        self.port = port
        self._listen()
        if control_port is not None:
            self.ctl = TrackingServer((host, control_port), Handler)
            self.ctl.app = self
            threading.Thread(target=self.ctl.serve_forever, daemon=True).start()
        return self.port, (self.ctl.server_address[1] if self.ctl else None)

    def _listen(self):
        httpd = TrackingServer((self.host, self.port), Handler)
        httpd.app = self
        if self.tls is not None:
            httpd.socket = self.tls.wrap_socket(httpd.socket, server_side=True)
        self.port = httpd.server_address[1]
        self.httpd = httpd
        threading.Thread(target=httpd.serve_forever, daemon=True).start()

    def track(self, conn, add):
        with self.clock:
            (self.conns.add if add else self.conns.discard)(conn)

    def go_down(self, duration=None):
        with self.flock:
            httpd, self.httpd = self.httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        with self.clock:
            conns = list(self.conns)
        for c in conns:
            try:
                if self.ctl is not None and c.getsockname()[1] != self.port:
                    continue
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if duration:
            self.up_timer = threading.Timer(float(duration), self.come_up)
            self.up_timer.daemon = True
            self.up_timer.start()

    def come_up(self):
        with self.flock:
            if self.httpd is not None:
                return
            for _ in range(100):
                try:
                    self._listen()
                    return
                except OSError:
                    time.sleep(0.05)
            raise RuntimeError("cannot listen again on port %d" % self.port)

    def stop(self):
        if self.up_timer:
            self.up_timer.cancel()
        for s in (self.httpd, self.ctl):
            if s is not None:
                s.shutdown()
                s.server_close()

    # -- faults --

    def set_fault(self, spec):
        mode = str(spec.get("mode", "ok"))
        known = ("ok", "down", "up", "slow", "429", "500", "502", "503", "partial", "413",
                 "reset", "lost")
        if mode not in known:
            raise EsError(400, "illegal_argument_exception",
                          "unknown fault mode [%s], one of %s" % (mode, ", ".join(known)))
        if self.up_timer is not None and mode in ("ok", "up", "down"):
            self.up_timer.cancel()
            self.up_timer = None
        if mode == "down":
            with self.stats.lock:
                self.stats.faults["down"] += 1
            self.go_down(spec.get("duration"))
            return
        if mode in ("ok", "up"):
            self.come_up()
            with self.flock:
                self.fault = None
            return
        with self.flock:
            self.fault = Fault(spec)

    def fault_for(self, kind, nbytes):
        with self.flock:
            f = self.fault
            if f is None or not f.applies(kind):
                return None
            if f.exhausted():
                self.fault = None
                return None
            if f.mode == "413" and nbytes <= f.limit:
                return None
            if f.mode in ("reset", "429", "500", "502", "503", "413", "lost", "slow",
                          "partial"):
                if f.mode in ("partial",) and kind != "write":
                    return None
                return f
            return None

    def count_fault(self, f):
        with self.flock:
            ok = f.take()
            if f.exhausted() and self.fault is f:
                self.fault = None
        if ok:
            with self.stats.lock:
                self.stats.faults[f.mode] += 1
        return ok

    # -- requests --

    def check_auth(self, headers, path):
        h = headers.get("Authorization", "")
        kind = h.split(" ", 1)[0].lower() if h else "none"
        if self.user is None and self.api_key is None:
            return kind
        ok = False
        if kind == "basic" and self.user is not None:
            try:
                u, p = base64.b64decode(h.split(" ", 1)[1]).decode().split(":", 1)
                ok = (u, p) == (self.user, self.password)
            except Exception:
                ok = False
        elif kind == "apikey" and self.api_key is not None:
            ok = h.split(" ", 1)[1].strip() == base64.b64encode(self.api_key.encode()).decode()
        if not ok:
            raise EsError(401, "security_exception",
                          "missing authentication credentials for REST request [%s]" % path
                          if kind == "none" else
                          "unable to authenticate user for REST request [%s]" % path)
        return kind

    @staticmethod
    def kind(method, path):
        parts = [p for p in path.split("/") if p]
        if parts and parts[-1] == "_bulk":
            return "write"
        if len(parts) >= 2 and parts[1] in ("_doc", "_create") and method in ("PUT", "POST"):
            return "write"
        return parts[0] if parts and parts[0].startswith("_") else (
            parts[1] if len(parts) > 1 else ("root" if not parts else "index"))

    def record(self, rec):
        with self.stats.lock:
            k = rec.get("kind", "control")
            self.stats.requests["%s %s" % (rec["method"], k)] += 1
            self.stats.statuses["%s %s" % (k, rec["status"])] += 1
            if rec.get("auth"):
                self.stats.auth[rec["auth"]] += 1
            self.stats.log.append(rec)

    def route(self, method, path, params, raw, headers, rec, fault):
        parts = [p for p in path.split("/") if p]
        if method in ("GET", "HEAD") and not parts:
            return 200, self.root_body()
        if parts and parts[-1] == "_bulk" and method in ("POST", "PUT") and len(parts) <= 2:
            return self.bulk(parts[0] if len(parts) == 2 else None, raw, headers, rec, fault)
        if parts[:1] in (["_index_template"], ["_component_template"]) and len(parts) <= 2:
            return self.templates(method, parts, raw)
        if parts[:1] == ["_data_stream"]:
            return self.data_stream(method, parts[1] if len(parts) > 1 else None)
        if parts[:1] == ["_cluster"] and parts[1:2] == ["health"]:
            return 200, {"cluster_name": "vacmon-test", "status": "green", "timed_out": False,
                         "number_of_nodes": 1, "number_of_data_nodes": 1}
        if parts and parts[-1] == "_refresh":
            return 200, {"_shards": {"total": 1, "successful": 1, "failed": 0}}
        if parts and parts[-1] in ("_count", "_search") and len(parts) <= 2 \
                and method in ("GET", "POST"):
            return self.search(parts[0] if len(parts) == 2 else "_all", parts[-1], params, raw)
        if len(parts) == 2 and parts[1] == "_mapping":
            return self.mapping(method, parts[0], raw)
        if len(parts) in (2, 3) and parts[1] in ("_doc", "_create"):
            return self.single_doc(method, parts, params, raw, headers, rec, fault)
        if len(parts) == 1 and not parts[0].startswith("_"):
            return self.index_api(method, parts[0], raw)
        raise EsError(400, "illegal_argument_exception",
                      "no handler found for uri [%s] and method [%s]" % (path, method))

    def root_body(self):
        v = {"number": self.version, "build_type": "tar", "build_hash": "0" * 40,
             "build_date": "2026-01-01T00:00:00.000Z", "build_snapshot": False,
             "lucene_version": "9.11.1", "minimum_wire_compatibility_version": "7.17.0",
             "minimum_index_compatibility_version": "7.0.0"}
        if self.flavour == "opensearch":
            v = dict({"distribution": "opensearch"}, **v)
            v["minimum_wire_compatibility_version"] = "7.10.0"
            return {"name": "es-test", "cluster_name": "vacmon-test",
                    "cluster_uuid": "vacmon-test-cluster-uuid", "version": v,
                    "tagline": "The OpenSearch Project: https://opensearch.org/"}
        v = dict(v, build_flavor="default")
        return {"name": "es-test", "cluster_name": "vacmon-test",
                "cluster_uuid": "vacmon-test-cluster-uuid", "version": v,
                "tagline": "You Know, for Search"}

    def _json_body(self, raw, required=True):
        if not raw.strip():
            if required:
                raise EsError(400, "parse_exception", "request body is required")
            return {}
        try:
            return parse_json(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            raise EsError(400, "x_content_parse_exception", "[1:1] %s" % e)

    def _ctype_ok(self, headers, ndjson):
        ct = headers.get("Content-Type", "").split(";")[0].strip().lower()
        allowed = ["application/json", "application/x-ndjson", "application/vnd.elasticsearch+json",
                   "application/vnd.elasticsearch+x-ndjson"]
        if ct not in allowed:
            raise EsError(406, "content_type_not_supported",
                          "Content-Type header [%s] is not supported" % headers.get(
                              "Content-Type", ""))
        with self.stats.lock:
            self.stats.content_types[ct] += 1

    def parse_error_of(self, e):
        if e.type == "@parse":
            e.type = self.parse_error
        return e

    def bulk(self, path_index, raw, headers, rec, fault):
        t0 = time.time()
        self._ctype_ok(headers, True)
        if not raw:
            raise EsError(400, "action_request_validation_exception",
                          "Validation Failed: 1: no requests added;")
        if not raw.endswith(b"\n"):
            raise EsError(400, "illegal_argument_exception",
                          "The bulk request must be terminated by a newline [\\n]")
        lines = raw.split(b"\n")[:-1]
        ops = []
        i = 0
        while i < len(lines):
            line = lines[i].strip()
            i += 1
            if not line:
                continue
            try:
                action = parse_json(line.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                raise EsError(400, "illegal_argument_exception",
                              "Malformed action/metadata line [%d], expected START_OBJECT or "
                              "END_OBJECT but found [VALUE_STRING]" % i)
            if not isinstance(action, dict) or len(action) != 1:
                raise EsError(400, "illegal_argument_exception",
                              "Malformed action/metadata line [%d], expected a simple value for "
                              "field [_index] but found [START_OBJECT]" % i)
            (op, meta), = action.items()
            if op not in ("index", "create", "update", "delete"):
                raise EsError(400, "illegal_argument_exception",
                              "Malformed action/metadata line [%d], expected field [create], "
                              "[delete], [index] or [update] but found [%s]" % (i, op))
            if not isinstance(meta, dict):
                raise EsError(400, "illegal_argument_exception",
                              "Malformed action/metadata line [%d]" % i)
            for k in meta:
                if k not in BULK_META:
                    raise EsError(400, "illegal_argument_exception",
                                  "Action/metadata line [%d] contains an unknown parameter [%s]"
                                  % (i, k))
            index = meta.get("_index", path_index)
            if index is None:
                raise EsError(400, "action_request_validation_exception",
                              "Validation Failed: 1: index is missing;")
            src_line = None
            if op != "delete":
                if i >= len(lines):
                    raise EsError(400, "illegal_argument_exception",
                                  "The bulk request must be terminated by a newline [\\n]")
                src_line = lines[i]
                i += 1
            doc_id = meta.get("_id")
            if doc_id is not None:
                doc_id = str(doc_id)
                if len(doc_id.encode()) > 512:
                    raise EsError(400, "action_request_validation_exception",
                                  "Validation Failed: 1: id [%s...] is too long, must be no "
                                  "longer than 512 bytes but was: %d;" % (doc_id[:10],
                                                                          len(doc_id.encode())))
            if op in ("update", "delete") and doc_id is None:
                raise EsError(400, "action_request_validation_exception",
                              "Validation Failed: 1: id is missing;")
            ops.append((op, index, doc_id, src_line))
        items = []
        errors = False
        stored = 0
        for pos, (op, index, doc_id, src_line) in enumerate(ops):
            fstatus = None
            if fault is not None and fault.mode == "partial" and op in ("create", "index") \
                    and pos % fault.every == 0:
                fstatus = fault.status
            try:
                source = None
                if src_line is not None:
                    try:
                        source = parse_json(src_line.decode("utf-8"))
                    except (ValueError, UnicodeDecodeError) as e:
                        raise EsError(400, "@parse", "[1:%d] failed to parse: %s"
                                      % (1, str(e)[:200]))
                item = self.store.write(op, index, doc_id, source, fstatus)
                if item["status"] in (200, 201) and op != "delete":
                    stored += item["result"] == "created"
            except EsError as e:
                e = self.parse_error_of(e)
                item = {"_index": e.extra.get("index", index), "_id": doc_id,
                        "status": e.status, "error": e.item_error()}
            if item["status"] >= 300 and not (op == "delete" and item["status"] == 404):
                errors = True
            items.append({op: item})
            with self.stats.lock:
                self.stats.items["%s %d" % (op, item["status"])] += 1
        if fault is not None and fault.mode == "partial":
            self.count_fault(fault)
        now = time.time()
        with self.stats.lock:
            st = self.stats
            st.bulk_requests += 1
            st.bulk_bytes += len(raw)
            st.bulk_items += len(ops)
            st.max_bulk_bytes = max(st.max_bulk_bytes, len(raw))
            st.max_bulk_items = max(st.max_bulk_items, len(ops))
            if stored:
                st.stored += stored
                st.first_store = st.first_store or now
                st.last_store = now
        rec["items"] = len(ops)
        return 200, {"took": int((now - t0) * 1000), "errors": errors, "items": items}

    def single_doc(self, method, parts, params, raw, headers, rec, fault):
        index, api = parts[0], parts[1]
        doc_id = parts[2] if len(parts) == 3 else None
        if method in ("GET", "HEAD"):
            if doc_id is None:
                raise EsError(400, "illegal_argument_exception", "no handler found")
            ixs = self.store.resolve_read(index)
            for ix in ixs:
                if doc_id in ix.docs:
                    return 200, {"_index": ix.name, "_id": doc_id,
                                 "_version": ix.versions[doc_id], "_seq_no": 0,
                                 "_primary_term": 1, "found": True, "_source": ix.docs[doc_id]}
            return 404, {"_index": index, "_id": doc_id, "found": False}
        if method == "DELETE":
            try:
                return 200, self.store.write("delete", index, doc_id, None)
            except EsError as e:
                raise self.parse_error_of(e)
        self._ctype_ok(headers, False)
        op = "create" if api == "_create" or params.get("op_type") == "create" else "index"
        if method == "PUT" and doc_id is None:
            raise EsError(405, "illegal_argument_exception",
                          "Incorrect HTTP method for uri [/%s] and method [PUT], allowed: [POST]"
                          % "/".join(parts))
        try:
            source = parse_json(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            raise self.parse_error_of(EsError(400, "@parse", "failed to parse: %s" % e))
        try:
            item = self.store.write(op, index, doc_id, source)
        except EsError as e:
            raise self.parse_error_of(e)
        rec["items"] = 1
        if item["result"] == "created":
            with self.stats.lock:
                self.stats.stored += 1
                self.stats.first_store = self.stats.first_store or time.time()
                self.stats.last_store = time.time()
        with self.stats.lock:
            self.stats.items["%s %d" % (op, item["status"])] += 1
        st = item.pop("status")
        return st, item

    def templates(self, method, parts, raw):
        comp = parts[0] == "_component_template"
        name = parts[1] if len(parts) > 1 else None
        store = self.store
        what = "component template" if comp else "index template"
        if method in ("PUT", "POST") and name:
            body = self._json_body(raw)
            try:
                if comp:
                    if not isinstance(body, dict) or "template" not in body:
                        raise EsError(400, "action_request_validation_exception",
                                      "Validation Failed: 1: template is missing;")
                    tpl = body["template"]
                    if "mappings" in tpl:
                        validate_mappings(tpl["mappings"], name)
                    store._check_settings(tpl.get("settings"))
                    with store.lock:
                        store.components[name] = body
                else:
                    store.put_template(name, body)
            except EsError as e:
                with self.stats.lock:
                    self.stats.templates_put.append([name, e.status, e.reason])
                raise
            with self.stats.lock:
                self.stats.templates_put.append([name, 200, "acknowledged"])
            return 200, {"acknowledged": True}
        table = store.components if comp else store.templates
        with store.lock:
            names = [n for n in table if name is None or
                     any(fnmatch.fnmatchcase(n, p) for p in name.split(","))]
            if method == "DELETE":
                if not names:
                    raise EsError(404, "resource_not_found_exception",
                                  "%s matching [%s] not found" % (what, name))
                users = sorted(t for t, tb in store.templates.items() for n in names
                               if comp and n in (tb.get("composed_of") or []))
                if users:
                    raise EsError(400, "illegal_argument_exception",
                                  "component templates %s cannot be removed as they are still "
                                  "in use by index templates %s" % (json.dumps(names), users))
                for n in names:
                    del table[n]
                return 200, {"acknowledged": True}
            if method in ("GET", "HEAD"):
                if name and not names:
                    raise EsError(404, "resource_not_found_exception",
                                  "%s matching [%s] not found" % (what, name))
                key = "component_templates" if comp else "index_templates"
                inner = "component_template" if comp else "index_template"
                return 200, {key: [{"name": n, inner: table[n]} for n in sorted(names)]}
        raise EsError(405, "illegal_argument_exception", "method not allowed")

    def data_stream(self, method, name):
        if method == "PUT" and name:
            self.store.create_stream(name)
            return 200, {"acknowledged": True}
        with self.store.lock:
            names = [n for n in self.store.streams if name is None or name in ("*", "_all")
                     or any(fnmatch.fnmatchcase(n, p) for p in name.split(","))]
            if name and not names and "*" not in name:
                raise EsError(404, "index_not_found_exception", "no such index [%s]" % name)
            if method == "DELETE":
                for n in names:
                    for b in self.store.streams.pop(n):
                        self.store.indices.pop(b, None)
                return 200, {"acknowledged": True}
            out = []
            for n in sorted(names):
                best = self.store.best_template(n)
                out.append({"name": n, "timestamp_field": {"name": "@timestamp"},
                            "indices": [{"index_name": b, "index_uuid": self.store.indices[b].uuid}
                                        for b in self.store.streams[n]],
                            "generation": len(self.store.streams[n]), "status": "GREEN",
                            "template": best[1] if best else None})
            return 200, {"data_streams": out}

    def index_api(self, method, name, raw):
        store = self.store
        if method == "PUT":
            body = self._json_body(raw, required=False)
            with store.lock:
                if name in store.indices or name in store.streams:
                    raise EsError(400, "resource_already_exists_exception",
                                  "index [%s/%s] already exists" % (name, "x"), index=name)
                validate_index_name(name)
                best = store.best_template(name)
                tpl = store._compose(best[2]) if best else {}
                if best and best[2].get("data_stream") is not None:
                    raise EsError(400, "illegal_argument_exception",
                                  "cannot create index with name [%s], because it matches with "
                                  "template [%s] that creates data streams only, use create "
                                  "data stream api instead" % (name, best[1]))
                m = deep_merge(tpl.get("mappings") or {}, body.get("mappings") or {})
                if m:
                    validate_mappings(m, name)
                store.indices[name] = Index(name, m, deep_merge(tpl.get("settings") or {},
                                                                body.get("settings") or {}))
            return 200, {"acknowledged": True, "shards_acknowledged": True, "index": name}
        ixs = store.resolve_read(name)
        if method == "DELETE":
            with store.lock:
                for ix in ixs:
                    if ix.data_stream:
                        raise EsError(400, "illegal_argument_exception",
                                      "index [%s] is the write index for data stream [%s] and "
                                      "cannot be deleted" % (ix.name, ix.data_stream))
                    del store.indices[ix.name]
            return 200, {"acknowledged": True}
        if method in ("GET", "HEAD"):
            return 200, {ix.name: {"aliases": {}, "mappings": ix.mappings,
                                   "settings": {"index": ix.settings},
                                   **({"data_stream": ix.data_stream} if ix.data_stream else {})}
                         for ix in ixs}
        raise EsError(405, "illegal_argument_exception", "method not allowed")

    def mapping(self, method, name, raw):
        ixs = self.store.resolve_read(name)
        if method == "GET":
            return 200, {ix.name: {"mappings": ix.mappings} for ix in ixs}
        body = self._json_body(raw)
        validate_mappings(body, name)
        with self.store.lock:
            for ix in ixs:  # only new fields, or the same type again
                for k, spec in (body.get("properties") or {}).items():
                    old = ix.mappings["properties"].get(k)
                    if old is not None and old.get("type") != spec.get("type"):
                        raise EsError(400, "illegal_argument_exception",
                                      "mapper [%s] cannot be changed from type [%s] to [%s]"
                                      % (k, old.get("type"), spec.get("type")))
            for ix in ixs:
                for k, spec in (body.get("properties") or {}).items():
                    ix.mappings["properties"][k] = spec
        return 200, {"acknowledged": True}

    def search(self, expr, api, params, raw):
        body = self._json_body(raw, required=False) if raw.strip() else {}
        if not isinstance(body, dict):
            raise EsError(400, "parsing_exception", "request body must be an object")
        q = body.get("query") if "query" in body else query_from_q(params.get("q"))
        ixs = self.store.resolve_read(expr, allow_missing=params.get("ignore_unavailable")
                                      == "true")
        ids = None
        if isinstance(q, dict) and "ids" in q:
            ids = set(q["ids"]["values"])
        hits = []
        with self.store.lock:
            for ix in ixs:
                for did, src in ix.docs.items():
                    if ids is not None:
                        if did in ids:
                            hits.append((ix, did, src))
                    elif src is None:
                        if q in (None, {}, {"match_all": {}}):
                            hits.append((ix, did, src))
                        else:
                            raise EsError(400, "illegal_argument_exception",
                                          "the test server keeps only _ids (--store ids)")
                    elif matches(q, src):
                        hits.append((ix, did, src))
        shards = {"total": max(1, len(ixs)), "successful": max(1, len(ixs)), "skipped": 0,
                  "failed": 0}
        if api == "_count":
            return 200, {"count": len(hits), "_shards": shards}
        sort = body.get("sort") or ([params["sort"]] if params.get("sort") else [])
        for spec in reversed(sort if isinstance(sort, list) else [sort]):
            if isinstance(spec, str):
                f, _, order = spec.partition(":")
                order = order or ("desc" if f == "_score" else "asc")
            else:
                (f, o), = spec.items()
                order = o.get("order", "asc") if isinstance(o, dict) else o
            if f in ("_doc", "_score"):
                continue
            present = [h for h in hits if get_field(h[2] or {}, f) is not None]
            present.sort(key=lambda h: _cmp_val(get_field(h[2], f)), reverse=(order == "desc"))
            hits = present + [h for h in hits if get_field(h[2] or {}, f) is None]
        size = int(body.get("size", params.get("size", 10)))
        frm = int(body.get("from", params.get("from", 0)))
        tth = body.get("track_total_hits", params.get("track_total_hits", 10000))
        total = {"value": len(hits), "relation": "eq"}
        if tth not in (True, "true") and isinstance(tth, (int, str)) and str(tth).isdigit() \
                and len(hits) > int(tth):
            total = {"value": int(tth), "relation": "gte"}
        out = [{"_index": ix.name, "_id": did, "_score": 1.0, "_source": src}
               for ix, did, src in hits[frm:frm + size]]
        resp = {"took": 1, "timed_out": False, "_shards": shards,
                "hits": {"total": total, "max_score": 1.0 if out else None, "hits": out}}
        aggs = body.get("aggs", body.get("aggregations"))
        if aggs is not None:
            resp["aggregations"] = run_aggs(aggs, hits, ixs, self.store.flavour)
        return 200, resp

    # -- control --

    def control(self, method, path, params, raw):
        if path == "/_fault":
            if method == "GET":
                with self.flock:
                    f = self.fault
                    return 200, {"mode": f.mode if f else ("down" if self.httpd is None
                                                            else "ok"),
                                 "hits": f.hits if f else 0, "listening": self.httpd is not None}
            spec = self._json_body(raw)
            self.set_fault(spec)
            return 200, {"acknowledged": True, "mode": spec.get("mode"),
                         "listening": self.httpd is not None}
        if path == "/_test/stats":
            d = self.stats.as_dict(self.store)
            with self.flock:
                d["fault"] = self.fault.mode if self.fault else None
                d["listening"] = self.httpd is not None
            d["flavour"], d["version"] = self.flavour, self.version
            return 200, d
        if path == "/_test/docs":
            ixs = self.store.resolve_read(params.get("index", "*"), allow_missing=True)
            with self.store.lock:
                docs = [{"_index": ix.name, "_id": did, "_source": src, "data_stream":
                         ix.data_stream} for ix in ixs for did, src in ix.docs.items()]
            return 200, {"docs": docs}
        if path == "/_test/requests":
            with self.stats.lock:
                return 200, {"requests": list(self.stats.log)}
        if path == "/_test/dump" and method == "POST":
            self.dump(params.get("path"))
            return 200, {"acknowledged": True}
        if path == "/_test/reset" and method == "POST":
            with self.store.lock:
                self.store.indices.clear()
                self.store.streams.clear()
            return 200, {"acknowledged": True}
        raise EsError(400, "illegal_argument_exception", "unknown test endpoint [%s]" % path)

    def dump(self, path):
        with self.store.lock:
            data = {"templates": self.store.templates, "components": self.store.components,
                    "data_streams": self.store.streams,
                    "indices": {n: {"mappings": ix.mappings, "data_stream": ix.data_stream,
                                    "docs": ix.docs} for n, ix in self.store.indices.items()}}
            with open(path, "w") as f:
                json.dump(data, f)


def dir_bytes(d):
    """Bytes in the files below directory d (0 when it does not exist); for
    the tests and the benchmark that watch a spool directory."""
    total = 0
    for root, _, files in os.walk(d):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except OSError:
                pass
    return total


def tls_context(cert, key, client_ca=None):
    """A server-side TLS context; with client_ca, a client certificate
    signed by it is required."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    if client_ca:
        ctx.load_verify_locations(client_ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def make_test_pki(d):
    """Writes a throw-away CA, a server certificate for 127.0.0.1/localhost
    and a client certificate into d with the openssl command. Returns the
    paths {"ca", "server_cert", "server_key", "client_cert", "client_key"}."""
    os.makedirs(d, exist_ok=True)
    p = {k: os.path.join(d, k + ".pem") for k in ("ca", "ca_key", "server_cert", "server_key",
                                                  "client_cert", "client_key")}

    def run(*args):
        subprocess.run(["openssl"] + list(args), check=True, capture_output=True,
                       stdin=subprocess.DEVNULL)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("req", "-x509", *ec, "-keyout", p["ca_key"], "-out", p["ca"], "-days", "2",
        "-subj", "/CN=es-test CA")
    for who, ext in (("server", "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                      "extendedKeyUsage=serverAuth"), ("client", "extendedKeyUsage=clientAuth")):
        csr = os.path.join(d, who + ".csr")
        extfile = os.path.join(d, who + ".ext")
        with open(extfile, "w") as f:
            f.write(ext + "\n")
        run("req", "-new", *ec, "-keyout", p[who + "_key"], "-out", csr,
            "-subj", "/CN=es-test %s" % who)
        run("x509", "-req", "-in", csr, "-CA", p["ca"], "-CAkey", p["ca_key"],
            "-CAcreateserial", "-out", p[who + "_cert"], "-days", "2", "-extfile", extfile)
    return p


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9200)
    ap.add_argument("--control-port", type=int, default=None)
    ap.add_argument("--flavour", choices=["elasticsearch", "opensearch"], default="elasticsearch")
    ap.add_argument("--version", default=None)
    ap.add_argument("--port-file", default=None)
    ap.add_argument("--dump", default=None, help="write the store as JSON at exit")
    ap.add_argument("--store", choices=["full", "ids"], default="full")
    ap.add_argument("--max-content-length", type=int, default=100 * 1024 * 1024)
    ap.add_argument("--user", default=None)
    ap.add_argument("--password", default=None)
    ap.add_argument("--api-key", default=None, help="ID:KEY expected as ApiKey base64(ID:KEY)")
    ap.add_argument("--tls-cert", default=None, help="serve HTTPS with this PEM certificate")
    ap.add_argument("--tls-key", default=None)
    ap.add_argument("--tls-client-ca", default=None,
                    help="require a client certificate signed by this CA")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    tls = tls_context(a.tls_cert, a.tls_key, a.tls_client_ca) if a.tls_cert else None
    app = App(a.flavour, a.version, a.store == "full", a.max_content_length, a.user,
              a.password, a.api_key, a.quiet, tls)
    port, cport = app.start(a.port, a.control_port, a.host)
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d %d\n" % (port, cport or 0))
        os.rename(tmp, a.port_file)
    if not a.quiet:
        print("es_server: %s %s on %s:%d (control %s)" % (a.flavour, app.version, a.host, port,
                                                          cport), flush=True)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda s, f: done.set())
    while not done.wait(1):
        pass
    app.stop()
    if a.dump:
        app.dump(a.dump)
    return 0


if __name__ == "__main__":
    sys.exit(main())
